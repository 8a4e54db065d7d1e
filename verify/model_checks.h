/* model_checks.h: the model-level rows of verify (docs/DESIGN.md §8): the float32 model
 * of model/ with each implementation's attention against the float64 model, its own
 * finite differences, its inference paths and its two cubic computations; and the
 * float64 model's own equivalences. */
#ifndef MODEL_CHECKS_H
#define MODEL_CHECKS_H

#include "checks.h"
#include "model.h"

typedef enum model_check {
    MCHK_VS_F64,      /* logits, loss and every parameter gradient vs the float64 model */
    MCHK_GRAD_FD,     /* backward vs directional finite differences of its own loss,
                         one direction per parameter tensor */
    MCHK_INFER,       /* inference logits (KV cache / per prefix) == training logits */
    MCHK_GENERATE,    /* greedy generation == argmax of the training forward */
    MCHK_PACKED_LOOP, /* cubic: packed == loop (logits, loss, gradients) */
    MCHK_L1_CAUSAL,   /* cubic with one layer == causal, same weights */
    MCHK_DETERMINISM, /* repeated runs bit-identical */
    MCHK_BAD_CONFIG,  /* bad configurations and inputs: an error, outputs untouched */
    MCHK_PARTS,       /* the batch split between 3 ranks (model_partition): the
                         ranks' shares summed in rank order == the whole batch's loss and
                         gradients (prefix-parallel training, docs/DESIGN.md §8.2) */
    MCHK_COUNT
} model_check;

const char *model_check_name(model_check c);

/* The float32 model the checks drive (model.h model_fns): the model itself; a test hands
 * them a build of it with a planted bug instead (model/mutant.h), which they must reject. */
extern const model_fns model_f32;

/* One case: B sequences of N tokens, weights and tokens drawn from a seed. */
typedef struct model_case {
    model_config cfg;
    int B, N;
} model_case;

/* One row group: an implementation (or the float64 model itself, impl NULL). */
typedef struct model_result {
    const char *name;
    cell cells[MODEL_KIND_COUNT][MCHK_COUNT];
} model_result;

/* Runs the model checks with impls[0..count-1] into res[0..count-1], and the float64
 * model's own into res[count]. Returns the number of FAIL cells, or -1 without memory. */
int verify_models(const ca_impl *const *impls, int count, const verify_opts *o,
                  model_result *res);

/* The checks of one case on the model fn (bad_config aside), recorded into the cells of
 * res[0..count-1] (for impls) and res[count] (the float64 model's own), which the caller
 * has zeroed or filled by earlier cases. Returns 0, or -1 without memory. */
int verify_model_case(const model_fns *fn, const ca_impl *const *impls, int count,
                      const verify_opts *o, const model_case *mc, uint64_t seed,
                      model_result *res);

#endif
