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
 * Everything that computes is written once over a real type and built twice: the
 * float32 model (suffix _f32), whose attention is any registered implementation chosen
 * by name, and the float64 model (suffix _f64), whose attention is the float64 reference
 * of cubattn_harness.h; verify measures the first against the second. The parameter
 * layout, initialisation and checkpoints below are precision-free.
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

#define MODEL_REAL float
#define MODEL_FN(name) name##_f32
#include "model_api.h"
#undef MODEL_REAL
#undef MODEL_FN
#define MODEL_REAL double
#define MODEL_FN(name) name##_f64
#include "model_api.h"
#undef MODEL_REAL
#undef MODEL_FN

#endif
