/* train_step.c: one training step of a batch split between ranks (model.h
 * model_train_step_f32, docs/DESIGN.md §8.2); the float32 model's alone, built once. */
#include "model.h"

#include <stdlib.h>

ca_status model_train_step_f32(model_kind kind, const model_config *cfg, const model_exec *ex,
                               const model_adamw *opt, int64_t step, float *params, float *m,
                               float *v, float *grads, int B, int N, const int *tokens,
                               const int *targets, const model_ranks *ranks, double *loss,
                               long long *comm_bytes, model_stats *stats)
{
    const int K = ranks && ranks->sum ? ranks->ranks : 1, r = K > 1 ? ranks->rank : 0;
    if (K < 1 || r < 0 || r >= K)
        return model_fail(CA_ERR_INTERNAL, "rank %d of %d: must be in 0..ranks-1", r, K);
    if (B < 1) return model_fail(CA_ERR_N, "B = %d: must be >= 1", B);
    if (!params || !m || !v || !grads || !opt || !loss)
        return model_fail(CA_ERR_NULL, "a buffer (params, m, v, grads), opt or loss is NULL");
    model_part *parts = malloc((size_t)B * sizeof *parts);
    if (!parts) return CA_ERR_NOMEM;
    const int np = model_partition(kind, cfg, B, N, K, r, parts);
    ca_status st = model_forward_backward_parts_f32(kind, cfg, ex, params, B, N, tokens, targets,
                                                    parts, np, grads, loss, stats);
    free(parts);
    if (st != CA_OK) return st;
    const size_t P = model_param_count(cfg);
    long long bytes = 0;
    if (K > 1 && (bytes = ranks->sum(grads, P, loss, 1)) < 0)
        return model_fail(CA_ERR_INTERNAL, "the sum of the ranks' gradients failed");
    if (comm_bytes) *comm_bytes = bytes;
    model_adamw_update_f32(opt, step, P, params, grads, m, v);
    return CA_OK;
}
