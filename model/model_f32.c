/* model_f32.c: the float32 model (model.h): the one the suite trains, times and deploys;
 * a precision built as real.h describes. */
#include "float32.c"

#include "layers.c"
#include "adamw.c"
#include "block.c"
#include "model.c"
#include "infer.c"
#include "session.c"

/* The entry points of model.h, under the float32 names. */

ca_status model_forward_backward_f32(model_kind kind, const model_config *cfg,
                                     const model_exec *ex, const float *params, int B, int N,
                                     const int *tokens, const int *targets, float *logits,
                                     float *grads, double *loss, model_stats *stats)
{
    return model_forward_backward(kind, cfg, ex, params, B, N, tokens, targets, logits, grads,
                                  loss, stats);
}

ca_status model_forward_backward_parts_f32(model_kind kind, const model_config *cfg,
                                           const model_exec *ex, const float *params, int B,
                                           int N, const int *tokens, const int *targets,
                                           const model_part *parts, int nparts, float *grads,
                                           double *loss, model_stats *stats)
{
    return model_forward_backward_parts(kind, cfg, ex, params, B, N, tokens, targets, parts,
                                        nparts, grads, loss, stats);
}

ca_status model_infer_f32(model_kind kind, const model_config *cfg, const model_exec *ex,
                          const float *params, int n, int prompt, const int *tokens,
                          float *logits)
{
    return model_infer(kind, cfg, ex, params, n, prompt, tokens, logits);
}

ca_status model_generate_f32(model_kind kind, const model_config *cfg, const model_exec *ex,
                             const float *params, int n, int prompt, int *tokens)
{
    return model_generate(kind, cfg, ex, params, n, prompt, tokens);
}

void model_adamw_update_f32(const model_adamw *opt, int64_t step, size_t count, float *params,
                            const float *grads, float *m, float *v)
{
    model_adamw_update(opt, step, count, params, grads, m, v);
}

void layernorm_forward_f32(float *out, float *mean, float *rstd, const float *x, const float *g,
                           const float *b, int R, int D)
{
    layernorm_forward(out, mean, rstd, x, g, b, R, D);
}

void layernorm_backward_f32(float *dx, float *dg, float *db, const float *dout, const float *x,
                            const float *mean, const float *rstd, const float *g, int R, int D)
{
    layernorm_backward(dx, dg, db, dout, x, mean, rstd, g, R, D);
}

void gelu_forward_f32(float *out, const float *x, size_t n)
{
    gelu_forward(out, x, n);
}

void gelu_backward_f32(float *dx, const float *dout, const float *x, size_t n)
{
    gelu_backward(dx, dout, x, n);
}

double crossentropy_forward_backward_f32(const float *logits, const int *targets, int R, int V,
                                         double weight, float *dlogits)
{
    return crossentropy_forward_backward(logits, targets, R, V, weight, dlogits);
}
