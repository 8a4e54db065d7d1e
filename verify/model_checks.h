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
    MCHK_COUNT
} model_check;

const char *model_check_name(model_check c);

/* The float32 model the checks drive: model_f32, or in a test a build of it with a
 * planted bug (model/mutant.h), which the checks must reject. */
typedef struct model_fns {
    ca_status (*forward_backward)(model_kind kind, const model_config *cfg,
                                  const model_exec *ex, const float *params, int B, int N,
                                  const int *tokens, const int *targets, float *logits,
                                  float *grads, double *loss, model_stats *stats);
    ca_status (*infer)(model_kind kind, const model_config *cfg, const model_exec *ex,
                       const float *params, int n, int prompt, const int *tokens,
                       float *logits);
    ca_status (*generate)(model_kind kind, const model_config *cfg, const model_exec *ex,
                          const float *params, int n, int prompt, int *tokens);
} model_fns;
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
