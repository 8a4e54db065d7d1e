/* model_api.h: the computing half of model.h, declared once per precision: model.h
 * includes it with MODEL_REAL / MODEL_FN set to (float, _f32) and to (double, _f64).
 * No include guard, on purpose. Shapes: B sequences of N tokens, rows [B][N]. */

/* Forward (and with grads != NULL, backward) of one batch.
 *   tokens, targets: [B][N] ints (target < 0: no loss at that position)
 *   logits: [B][N][V] or NULL;  grads: [model_param_count] or NULL, overwritten
 *   *loss: mean cross-entropy over the positions with a target (0 if none).
 * CA_ERR_N for N outside [1, max_n] or B < 1, CA_ERR_INTERNAL for a token outside
 * [0, V) or a target >= V; CA_ERR_NOT_PROVIDED when the implementation lacks an
 * operator the kind needs. */
ca_status MODEL_FN(model_forward_backward)(model_kind kind, const model_config *cfg,
                                           const model_exec *ex, const MODEL_REAL *params,
                                           int B, int N, const int *tokens,
                                           const int *targets, MODEL_REAL *logits,
                                           MODEL_REAL *grads, double *loss,
                                           model_stats *stats);

/* Inference of one sequence: logits [n][V] at every position as the deployed model
 * computes them.
 *   causal: a prefill pass over tokens[0..prompt), then one KV-cache decode step per
 *           layer for each later token;
 *   cubic (either kind): position t from the model on prefix t alone: layers 1..L-1
 *           bidirectional (full) over the prefix, the last layer on the new row only. */
ca_status MODEL_FN(model_infer)(model_kind kind, const model_config *cfg,
                                const model_exec *ex, const MODEL_REAL *params, int n,
                                int prompt, const int *tokens, MODEL_REAL *logits);

/* Greedy generation: tokens[0..prompt) given, tokens[prompt..n) written (argmax, lowest
 * index on ties), by the inference path of model_infer. */
ca_status MODEL_FN(model_generate)(model_kind kind, const model_config *cfg,
                                   const model_exec *ex, const MODEL_REAL *params, int n,
                                   int prompt, int *tokens);

/* A deployed model, one token at a time: what generation costs (bench, examples).
 *   open:    a session for sequences of at most `capacity` tokens (<= max_n);
 *   prefill: tokens[0..p) at once into an empty session; logits [V] of position p-1,
 *            the distribution of the next token. causal: one pass over the p rows,
 *            keeping every layer's k and v; cubic: the model on the prefix alone;
 *   append:  the next token; logits [V] of its position. causal: one decode step per
 *            layer against the KV caches; cubic: the model on the grown prefix;
 *   rewind:  forget the positions from `len` on (len <= the current length), so that
 *            the same step can be taken again;
 *   stats:   FLOPs (forward only) of everything the session computed since open.
 * open returns NULL with *st set (CA_ERR_NOMEM, or as model_infer's errors). */
typedef struct MODEL_FN(model_session) MODEL_FN(model_session);
MODEL_FN(model_session) *MODEL_FN(model_session_open)(model_kind kind, const model_config *cfg,
                                                      const model_exec *ex,
                                                      const MODEL_REAL *params, int capacity,
                                                      ca_status *st);
ca_status MODEL_FN(model_session_prefill)(MODEL_FN(model_session) *s, int p,
                                          const int *tokens, MODEL_REAL *logits);
ca_status MODEL_FN(model_session_append)(MODEL_FN(model_session) *s, int token,
                                         MODEL_REAL *logits);
ca_status MODEL_FN(model_session_rewind)(MODEL_FN(model_session) *s, int len);
model_stats MODEL_FN(model_session_stats)(const MODEL_FN(model_session) *s);
void MODEL_FN(model_session_close)(MODEL_FN(model_session) *s);

/* One AdamW update at step (1-based, for the bias correction); m, v start at zero. */
void MODEL_FN(model_adamw_update)(const model_adamw *opt, int64_t step, size_t count,
                                  MODEL_REAL *params, const MODEL_REAL *grads,
                                  MODEL_REAL *m, MODEL_REAL *v);

/* ---- layers, each a forward/backward pair (exposed for their own tests) ------------- */

/* LayerNorm over D: out = (x - mean) * rstd * g + b; rstd = 1/sqrt(var + 1e-5).
 * x, out: [R][D]; mean, rstd: [R] (saved for the backward). */
void MODEL_FN(layernorm_forward)(MODEL_REAL *out, MODEL_REAL *mean, MODEL_REAL *rstd,
                                 const MODEL_REAL *x, const MODEL_REAL *g,
                                 const MODEL_REAL *b, int R, int D);
/* out from x and the mean, rstd layernorm_forward saved: the very values it wrote (a
 * backward recomputes LN's output rather than keep it, docs/DESIGN.md §8). */
void MODEL_FN(layernorm_apply)(MODEL_REAL *out, const MODEL_REAL *x, const MODEL_REAL *mean,
                               const MODEL_REAL *rstd, const MODEL_REAL *g,
                               const MODEL_REAL *b, int R, int D);
/* dx += d/dx; dg, db += their gradients. */
void MODEL_FN(layernorm_backward)(MODEL_REAL *dx, MODEL_REAL *dg, MODEL_REAL *db,
                                  const MODEL_REAL *dout, const MODEL_REAL *x,
                                  const MODEL_REAL *mean, const MODEL_REAL *rstd,
                                  const MODEL_REAL *g, int R, int D);
/* GELU, tanh form (GPT-2's): out[i] = gelu(x[i]), i < n; dx[i] = dout[i] gelu'(x[i]). */
void MODEL_FN(gelu_forward)(MODEL_REAL *out, const MODEL_REAL *x, size_t n);
void MODEL_FN(gelu_backward)(MODEL_REAL *dx, const MODEL_REAL *dout, const MODEL_REAL *x,
                             size_t n);
/* Softmax cross-entropy of R rows of logits [R][V] against targets [R] (< 0: skipped),
 * each row weighted by `weight` (1 / positions, for a mean). Returns the weighted sum;
 * with dlogits != NULL writes its gradient [R][V] (0 on skipped rows). */
double MODEL_FN(crossentropy_forward_backward)(const MODEL_REAL *logits,
                                               const int *targets, int R, int V,
                                               double weight, MODEL_REAL *dlogits);
