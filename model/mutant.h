/* mutant.h: the bugs planted in the mutant build of the model (model_f32mut.c),
 * each one a wrong row of the packed cubic model or of its inference, for the tests that
 * show verify's model rows reject them (tests/test_model_mutants.c, docs/DESIGN.md §4.7).
 * The build exists only in the test binary; the model itself has none of this. */
#ifndef MODEL_MUTANT_H
#define MODEL_MUTANT_H

#include "model.h"

typedef enum model_mutant {
    MUT_NONE,            /* the mutant build as the model: its control */
    MUT_LAST_ROW,        /* packed, last layer: prefix t's query and residual are prefix
                            t-1's diagonal row (the T -> N row map one prefix early) */
    MUT_INFER_LAST_KEYS, /* inference, last layer: the new row's key and value overwrite
                            row t-1's, so prefix t attends over t-1 rows */
    MUT_SHARED_RESIDUAL, /* packed, layer 1: x_i's residual reaches only the diagonal row
                            (i, i), every other prefix row starts from zero */
    MUT_SHARED_RES_GRAD, /* packed, layer 1: the residual's gradient into x_i comes from
                            row (i, i) alone, not summed over the prefixes t >= i */
    MUT_WINDOW_DIAGONAL, /* packed on a window of prefixes a..n (a rank's part), last
                            layer: prefix t's query and residual come from its row t - a
                            instead of its diagonal row t - 1 (right when a = 1 alone) */
    MUT_COUNT
} model_mutant;

/* Which bug the mutant build runs; MUT_NONE until a test sets it. */
extern model_mutant model_mutant_planted;

/* The mutant build's float32 model: its training, inference and generation. */
extern const model_fns model_f32mut;

#endif
