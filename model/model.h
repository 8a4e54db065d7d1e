/* model.h: a small GPT-style transformer built on the suite's attention operators, as a
 * causal model and as a cubic model (docs/DESIGN.md §8).
 *
 *   x0 = wte[token] + wpe[position]                      [rows][D]
 *   L blocks:  x += Attn(LN1(x)) Wo;  x += GELU(LN2(x) W1) W2
 *   logits = LN_f(x) head                                [rows][V]
 *   loss = mean cross-entropy over the positions that have a target
 *
 * D = d_model, H heads of size d = D / H, MLP width 4 D, no biases in the products.
 * The causal model attends causally. The cubic model runs, for every prefix t, the whole
 * model bidirectionally over tokens 1..t and predicts target t from row t; it is computed
 * two ways that must agree: `cubic_loop` (one bidirectional pass per prefix, the
 * reference) and `cubic` (packed: every layer on exactly the rows it needs, §8).
 *
 * Everything that computes is written once over a real type and built twice (real.h):
 * the float32 model (suffix _f32), whose attention is any registered implementation
 * chosen by name, and the float64 model (suffix _f64), whose attention is the float64
 * reference of cubattn_harness.h; verify measures the first against the second. The
 * parameter layout, initialisation and checkpoints below are precision-free.
 */
#ifndef MODEL_H
#define MODEL_H

#include "cubattn.h"

#include <stddef.h>
#include <stdint.h>

typedef struct model_config {
    int vocab;    /* V: tokens are 0..V-1 */
    int max_n;    /* rows of the position table: the longest sequence */
    int d_model;  /* D */
    int heads;    /* H; D % H == 0 */
    int layers;   /* L >= 1 */
} model_config;

typedef enum model_kind {
    MODEL_CAUSAL,     /* causal attention in every layer */
    MODEL_CUBIC,      /* cubic, packed: cubic_shared, cubic (middle), cubic_last */
    MODEL_CUBIC_LOOP, /* cubic, one bidirectional (full) pass per prefix */
    MODEL_KIND_COUNT
} model_kind;

const char *model_kind_name(model_kind k);
int model_kind_parse(const char *name); /* -1 if unknown */

/* The parameter tensors, in storage order: X(name, rows, cols) with rows and cols
 * expressions of V, NMAX, D. The global tensors, then MODEL_LAYER_TENSORS once per
 * layer. Every product is x[rows][in] W[in][out]. */
#define MODEL_GLOBAL_TENSORS(X)                                                         \
    X(wte, V, D) X(wpe, NMAX, D) X(lnf_g, 1, D) X(lnf_b, 1, D) X(head, D, V)
#define MODEL_LAYER_TENSORS(X)                                                          \
    X(ln1_g, 1, D) X(ln1_b, 1, D) X(wqkv, D, 3 * D) X(wo, D, D)                         \
    X(ln2_g, 1, D) X(ln2_b, 1, D) X(w1, D, 4 * D) X(w2, 4 * D, D)

/* Offsets (in elements) of every tensor of one layer / of the globals. */
typedef struct model_layer_offsets {
#define MODEL_FIELD(name, r, c) size_t name;
    MODEL_LAYER_TENSORS(MODEL_FIELD)
} model_layer_offsets;
typedef struct model_offsets {
    MODEL_GLOBAL_TENSORS(MODEL_FIELD)
#undef MODEL_FIELD
} model_offsets;

/* NULL when cfg is valid, else why not, naming the field, its value and its valid range
 * ("vocab = 0: must be in 1..16777216"); the text lasts until this thread's next call. */
const char *model_config_error(const model_config *cfg);

/* Parameters in all; 0 when cfg is invalid or the count overflows. */
size_t model_param_count(const model_config *cfg);
model_offsets model_global_offsets(const model_config *cfg);
model_layer_offsets model_layer_at(const model_config *cfg, int layer);
/* Tensors in all (globals + 8 per layer), and tensor i's name ("wte", "2.wqkv"), offset
 * and shape [rows][cols]; for per-tensor gradient checks. */
int model_tensor_count(const model_config *cfg);
void model_tensor_at(const model_config *cfg, int i, char *name, size_t cap,
                     size_t *offset, size_t *rows, size_t *cols);

typedef enum model_init {
    MODEL_INIT_TRAIN, /* GPT-2's: N(0, 0.02), residual outputs / sqrt(2L), LN g=1 b=0 */
    MODEL_INIT_CHECK  /* every tensor of order one, LN gains and biases off 1 and 0, so
                         that every gradient term is visible to the checks */
} model_init;
/* params[model_param_count(cfg)], from the seed alone (the harness's generator). */
void model_init_params(const model_config *cfg, model_init how, uint64_t seed,
                       float *params);

/* AdamW (decoupled weight decay). */
typedef struct model_adamw {
    double lr, beta1, beta2, eps, weight_decay;
} model_adamw;

/* A checkpoint: the config, the training step, the parameters and AdamW's moments
 * (m, v: model_param_count each, may be NULL on save = zeros), with a checksum.
 * model_load reads into fresh buffers and hands them over only when the whole file
 * checked out: on any error nothing the caller owns changes and *why says what failed. */
typedef struct model_checkpoint {
    model_config cfg;
    int64_t step;
    float *params, *m, *v; /* malloc'ed by model_load; the caller frees */
} model_checkpoint;
int model_save(const char *path, const model_config *cfg, int64_t step,
               const float *params, const float *m, const float *v, const char **why);
int model_load(const char *path, model_checkpoint *ck, const char **why);

/* How the float32 model runs: the attention implementation and the threads. */
typedef struct model_exec {
    const ca_impl *impl;
    int threads;
} model_exec;

/* Why this thread's last failing model call (model_forward_backward, model_infer,
 * model_generate, model_session_*) failed: the argument or field, its value and its valid
 * range ("N = 20: must be in 1..max_n (9)", "token 11 at index 3: must be in
 * 0..vocab-1 (0..10)"); ca_status_str(st) when the call recorded nothing more (out of
 * memory, an attention call's error). Each of those calls clears it on entry. */
const char *model_error(ca_status st);
/* For model/ itself: model_fail records why (printf format) and returns st. */
ca_status model_fail(ca_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void model_error_clear(void);
/* For model/ itself: the first checks of every call (clears the message; configuration,
 * kind, and with need_impl an attention implementation), each refusal said. */
ca_status model_check_call(model_kind kind, const model_config *cfg, const model_exec *ex,
                           int need_impl);

/* What one call measured (any pointer argument may be NULL). */
typedef struct model_stats {
    double attn_flops;     /* attention operators, docs/DESIGN.md §3 */
    double matmul_flops;   /* products, §8 (forward; backward counted as 2x) */
    size_t act_bytes;      /* the activations held for the backward, at their peak */
    /* [layers] or NULL, set by the caller: wall seconds each block took, forward and
     * backward summed, over the whole call (overwritten). Where the time goes by layer:
     * which layers carry a cubic model's N^3 term. */
    double *layer_seconds;
} model_stats;

/* ---- the computing half: one body of code, built once per precision (real.h) ---------
 * The float32 model's functions end in _f32, the float64 model's in _f64; each pair is
 * declared side by side. Shapes: B sequences of N tokens, rows [B][N]. */

/* Forward (and with grads != NULL, backward) of one batch.
 *   tokens, targets: [B][N] ints (target < 0: no loss at that position)
 *   logits: [B][N][V] or NULL;  grads: [model_param_count] or NULL, overwritten
 *   *loss: mean cross-entropy over the positions with a target (0 if none).
 * CA_ERR_N for N outside [1, max_n] or B < 1, CA_ERR_INTERNAL for a token outside
 * [0, V) or a target >= V; CA_ERR_NOT_PROVIDED when the implementation lacks an
 * operator the kind needs. */
ca_status model_forward_backward_f32(model_kind kind, const model_config *cfg,
                                     const model_exec *ex, const float *params, int B, int N,
                                     const int *tokens, const int *targets, float *logits,
                                     float *grads, double *loss, model_stats *stats);
ca_status model_forward_backward_f64(model_kind kind, const model_config *cfg,
                                     const model_exec *ex, const double *params, int B, int N,
                                     const int *tokens, const int *targets, double *logits,
                                     double *grads, double *loss, model_stats *stats);

/* ---- prefix-parallel training (docs/DESIGN.md §8.2) ----------------------------------
 * A batch's training split between ranks: each computes the loss and gradients of its
 * part of the batch, and the parts' sums add up to model_forward_backward's (the
 * backward is linear in the loss's terms, and every term is one position's). */

/* The positions first..last (1-based) of sequence seq of a batch: of a cubic model, the
 * prefixes first..last, each the model on its own tokens. */
typedef struct model_part {
    int seq, first, last;
} model_part;

/* May a sequence's positions be split between parts? The packed cubic model of two or
 * more layers and cubic_loop: yes, every prefix is its own computation. The causal model
 * and a one-layer cubic model (causal attention): no, a position's work is shared with
 * its sequence's; those split a batch by whole sequences. */
int model_splits_prefixes(model_kind kind, const model_config *cfg);

/* The parts of rank `rank` (0-based) of `ranks` for a batch of B sequences of N tokens,
 * into parts[] (room for B); returns their count (0: this rank has no work). The rule
 * (docs/DESIGN.md §8.2): the batch's (sequence, prefix) items in order, each of predicted
 * cost t (t + 6 D) for prefix t (its attention pairs, 4 D t^2 FLOPs a layer, and its t
 * rows of products, 24 D^2 t), or one per whole sequence when the kind does not split
 * prefixes, cut into `ranks` contiguous runs of about equal cost: an item goes to the
 * rank its cost's midpoint falls in. Every rank computes the same cut from the same
 * arguments, so no rank needs to be told its share. */
int model_partition(model_kind kind, const model_config *cfg, int B, int N, int ranks,
                    int rank, model_part *parts);
/* The predicted cost of one item of model_partition: prefix t's t (t + 6 D), or 1 for a
 * whole sequence of a kind that does not split prefixes. */
double model_prefix_cost(model_kind kind, const model_config *cfg, int t);

/* The share of model_forward_backward that parts compute: *loss and grads (overwritten)
 * are the sums over the parts' positions of the batch's mean cross-entropy terms (each
 * weighted by 1 / the positions with a target in the whole batch). No logits. Refuses
 * (CA_ERR_WINDOW) a part outside the batch or one that splits a sequence of a kind that
 * does not split prefixes. */
ca_status model_forward_backward_parts_f32(model_kind kind, const model_config *cfg,
                                           const model_exec *ex, const float *params, int B,
                                           int N, const int *tokens, const int *targets,
                                           const model_part *parts, int nparts, float *grads,
                                           double *loss, model_stats *stats);
ca_status model_forward_backward_parts_f64(model_kind kind, const model_config *cfg,
                                           const model_exec *ex, const double *params,
                                           int B, int N, const int *tokens,
                                           const int *targets, const model_part *parts,
                                           int nparts, double *grads, double *loss,
                                           model_stats *stats);

/* How a training step's ranks sum their shares: `sum` adds every rank's grads[0..n) and
 * loss[0..one) into each rank's, in rank order (lib/comm's comm_sum_in_rank_order), and
 * returns the bytes the ranks sent (< 0: failed). sum NULL: one rank. */
typedef struct model_ranks {
    int rank, ranks;
    long long (*sum)(float *grads, size_t n, double *loss, size_t one);
} model_ranks;

/* One training step of a batch split between ranks (docs/DESIGN.md §8.2): this rank's
 * part (model_partition), its share of the loss and gradients
 * (model_forward_backward_parts_f32), the shares summed in rank order (ranks->sum), and
 * the same AdamW update on every rank (step 1-based). grads: scratch of
 * model_param_count floats, the batch's gradient on return; *loss the batch's mean;
 * *comm_bytes (may be NULL) the bytes the sum sent; stats this rank's share's. Every rank
 * calls it with the same arguments but its rank, and ends with the same parameters. */
ca_status model_train_step_f32(model_kind kind, const model_config *cfg, const model_exec *ex,
                               const model_adamw *opt, int64_t step, float *params, float *m,
                               float *v, float *grads, int B, int N, const int *tokens,
                               const int *targets, const model_ranks *ranks, double *loss,
                               long long *comm_bytes, model_stats *stats);

/* Inference of one sequence: logits [n][V] at every position as the deployed model
 * computes them.
 *   causal: a prefill pass over tokens[0..prompt), then one KV-cache decode step per
 *           layer for each later token;
 *   cubic (either kind): position t from the model on prefix t alone: layers 1..L-1
 *           bidirectional (full) over the prefix, the last layer on the new row only. */
ca_status model_infer_f32(model_kind kind, const model_config *cfg, const model_exec *ex,
                          const float *params, int n, int prompt, const int *tokens,
                          float *logits);
ca_status model_infer_f64(model_kind kind, const model_config *cfg, const model_exec *ex,
                          const double *params, int n, int prompt, const int *tokens,
                          double *logits);

/* Greedy generation: tokens[0..prompt) given, tokens[prompt..n) written (argmax, lowest
 * index on ties), by the inference path of model_infer. */
ca_status model_generate_f32(model_kind kind, const model_config *cfg, const model_exec *ex,
                             const float *params, int n, int prompt, int *tokens);
ca_status model_generate_f64(model_kind kind, const model_config *cfg, const model_exec *ex,
                             const double *params, int n, int prompt, int *tokens);

/* The float32 model's training and inference as a table, for code that runs any build of
 * it: verify's model checks, on the model itself (model_f32, verify/model_checks.h) and
 * on the tests' build with planted bugs (model_f32mut, mutant.h). */
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
    ca_status (*forward_backward_parts)(model_kind kind, const model_config *cfg,
                                        const model_exec *ex, const float *params, int B,
                                        int N, const int *tokens, const int *targets,
                                        const model_part *parts, int nparts, float *grads,
                                        double *loss, model_stats *stats);
} model_fns;

/* The deployed float32 model, one token at a time: what generation costs (bench,
 * examples).
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
typedef struct model_session_f32 model_session_f32;
model_session_f32 *model_session_open_f32(model_kind kind, const model_config *cfg,
                                          const model_exec *ex, const float *params,
                                          int capacity, ca_status *st);
ca_status model_session_prefill_f32(model_session_f32 *s, int p, const int *tokens,
                                    float *logits);
ca_status model_session_append_f32(model_session_f32 *s, int token, float *logits);
ca_status model_session_rewind_f32(model_session_f32 *s, int len);
model_stats model_session_stats_f32(const model_session_f32 *s);
void model_session_close_f32(model_session_f32 *s);

/* One AdamW update at step (1-based, for the bias correction); m, v start at zero. */
void model_adamw_update_f32(const model_adamw *opt, int64_t step, size_t count, float *params,
                            const float *grads, float *m, float *v);
void model_adamw_update_f64(const model_adamw *opt, int64_t step, size_t count,
                            double *params, const double *grads, double *m, double *v);

/* ---- layers, each a forward/backward pair (exposed for their own tests) ------------- */

/* LayerNorm over D: out = (x - mean) * rstd * g + b; rstd = 1/sqrt(var + 1e-5).
 * x, out: [R][D]; mean, rstd: [R] (saved for the backward). */
void layernorm_forward_f32(float *out, float *mean, float *rstd, const float *x, const float *g,
                           const float *b, int R, int D);
void layernorm_forward_f64(double *out, double *mean, double *rstd, const double *x,
                           const double *g, const double *b, int R, int D);
/* dx += d/dx; dg, db += their gradients. */
void layernorm_backward_f32(float *dx, float *dg, float *db, const float *dout, const float *x,
                            const float *mean, const float *rstd, const float *g, int R, int D);
void layernorm_backward_f64(double *dx, double *dg, double *db, const double *dout,
                            const double *x, const double *mean, const double *rstd,
                            const double *g, int R, int D);
/* GELU, tanh form (GPT-2's): out[i] = gelu(x[i]), i < n; dx[i] = dout[i] gelu'(x[i]). */
void gelu_forward_f32(float *out, const float *x, size_t n);
void gelu_forward_f64(double *out, const double *x, size_t n);
void gelu_backward_f32(float *dx, const float *dout, const float *x, size_t n);
void gelu_backward_f64(double *dx, const double *dout, const double *x, size_t n);
/* Softmax cross-entropy of R rows of logits [R][V] against targets [R] (< 0: skipped),
 * each row weighted by `weight` (1 / positions, for a mean). Returns the weighted sum;
 * with dlogits != NULL writes its gradient [R][V] (0 on skipped rows). */
double crossentropy_forward_backward_f32(const float *logits, const int *targets, int R, int V,
                                         double weight, float *dlogits);
double crossentropy_forward_backward_f64(const double *logits, const int *targets, int R,
                                         int V, double weight, double *dlogits);

#endif
