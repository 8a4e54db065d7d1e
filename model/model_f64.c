/* model_f64.c: the float64 model (model.h): the reference verify measures the float32
 * model against; a precision built as real.h describes. */
#include "float64.c"

#include "layers.c"
#include "adamw.c"
#include "block.c"
#include "model.c"
#include "infer.c"

/* The entry points of model.h, under the float64 names. */

ca_status model_forward_backward_f64(model_kind kind, const model_config *cfg,
                                     const model_exec *ex, const double *params, int B, int N,
                                     const int *tokens, const int *targets, double *logits,
                                     double *grads, double *loss, model_stats *stats)
{
    return model_forward_backward(kind, cfg, ex, params, B, N, tokens, targets, logits, grads,
                                  loss, stats);
}

ca_status model_forward_backward_parts_f64(model_kind kind, const model_config *cfg,
                                           const model_exec *ex, const double *params, int B,
                                           int N, const int *tokens, const int *targets,
                                           const model_part *parts, int nparts, double *grads,
                                           double *loss, model_stats *stats)
{
    return model_forward_backward_parts(kind, cfg, ex, params, B, N, tokens, targets, parts,
                                        nparts, grads, loss, stats);
}

ca_status model_infer_f64(model_kind kind, const model_config *cfg, const model_exec *ex,
                          const double *params, int n, int prompt, const int *tokens,
                          double *logits)
{
    return model_infer(kind, cfg, ex, params, n, prompt, tokens, logits);
}

ca_status model_generate_f64(model_kind kind, const model_config *cfg, const model_exec *ex,
                             const double *params, int n, int prompt, int *tokens)
{
    return model_generate(kind, cfg, ex, params, n, prompt, tokens);
}

void model_adamw_update_f64(const model_adamw *opt, int64_t step, size_t count, double *params,
                            const double *grads, double *m, double *v)
{
    model_adamw_update(opt, step, count, params, grads, m, v);
}

void layernorm_forward_f64(double *out, double *mean, double *rstd, const double *x,
                           const double *g, const double *b, int R, int D)
{
    layernorm_forward(out, mean, rstd, x, g, b, R, D);
}

void layernorm_backward_f64(double *dx, double *dg, double *db, const double *dout,
                            const double *x, const double *mean, const double *rstd,
                            const double *g, int R, int D)
{
    layernorm_backward(dx, dg, db, dout, x, mean, rstd, g, R, D);
}

void gelu_forward_f64(double *out, const double *x, size_t n)
{
    gelu_forward(out, x, n);
}

void gelu_backward_f64(double *dx, const double *dout, const double *x, size_t n)
{
    gelu_backward(dx, dout, x, n);
}

double crossentropy_forward_backward_f64(const double *logits, const int *targets, int R, int V,
                                         double weight, double *dlogits)
{
    return crossentropy_forward_backward(logits, targets, R, V, weight, dlogits);
}
