/* infer.c: the models as they are deployed (model.h model_infer, model_generate).
 *
 * causal: prefill the prompt with the training stack, keep every layer's k and v as its
 *   KV cache [H][n][d], then each new token runs each layer on its one row with a decode
 *   step: O(t d) attention per layer per token.
 * cubic: a new token changes every earlier row of every layer but the last, so position
 *   t runs layers 1..L-1 bidirectionally (full) over the prefix and the last layer on the
 *   new row only (a decode step over the prefix's k and v): O(t^2 d) per token.
 * A body of the model (real.h); session.c deploys the same paths one token at a time. */
#include "real.h"

#include <stdlib.h>
#include <string.h>

/* logits [V] of one final row x [D]. */
static void head_row(const model_config *cfg, const real *params, int threads, const real *x,
                     real *logits)
{
    const int D = cfg->d_model, V = cfg->vocab;
    const model_offsets go = model_global_offsets(cfg);
    real ln[D], mean, rstd;
    layernorm_forward(ln, &mean, &rstd, x, params + go.lnf_g, params + go.lnf_b, 1, D);
    gemm(0, 0, 1, V, D, 1, ln, D, params + go.head, V, 0, logits, V, threads);
}

/* The last rows of a block on one row: x [1][D] holds the residual and, on return, the
 * block's output; att [D] is the attention output with heads merged. */
static ca_status tail_row(const model_config *cfg, const model_layer_offsets *lo,
                          const real *params, int threads, const real *att, real *x)
{
    const int D = cfg->d_model;
    real *buf = malloc((size_t)D * 2 * sizeof *buf);
    if (!buf) return CA_ERR_NOMEM;
    real *x_mid = buf, *out = buf + D;
    real mean2, rstd2;
    ca_status st = block_tail(cfg, lo, params, threads, 1, att, x, x_mid, &mean2, &rstd2, NULL,
                              out);
    memcpy(x, out, (size_t)D * sizeof *x);
    free(buf);
    return st;
}

/* ---- causal: prefill + KV cache ------------------------------------------------------ */

typedef struct kv_session {
    int n;          /* cache capacity */
    real *k, *v;    /* [L][H][n][d] */
    real *x, *qkv, *att;
} kv_session;

static void session_free(kv_session *s)
{
    free(s->k); free(s->v); free(s->x); free(s->qkv); free(s->att);
}

/* Prefill tokens[0..p): logits [p][V] of every prompt row, caches rows 0..p-1; its
 * FLOPs added to *stats (may be NULL). */
static ca_status session_prefill(const model_exec *ex, const model_config *cfg,
                                 const real *params, kv_session *ks, int n, int p,
                                 const int *tokens, real *logits, model_stats *stats)
{
    const int D = cfg->d_model, H = cfg->heads, d = D / H, L = cfg->layers;
    memset(ks, 0, sizeof *ks);
    ks->n = n;
    const size_t cache = (size_t)L * H * n * d;
    ks->k = malloc(cache * sizeof *ks->k);
    ks->v = malloc(cache * sizeof *ks->v);
    ks->x = malloc((size_t)D * sizeof *ks->x);
    ks->qkv = malloc((size_t)3 * D * sizeof *ks->qkv);
    ks->att = malloc((size_t)D * sizeof *ks->att);
    if (!ks->k || !ks->v || !ks->x || !ks->qkv || !ks->att) return CA_ERR_NOMEM;
    stack s;
    ca_status st = stack_new(&s, cfg, MODEL_CAUSAL, 1, p, 0, 0);
    if (st != CA_OK) return st;
    if ((st = stack_forward(ex, cfg, params, &s, tokens)) == CA_OK) {
        if (stats) stack_flops(cfg, &s, 0, stats);
        memcpy(logits, s.logits, (size_t)p * cfg->vocab * sizeof *logits);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) {
                size_t at = ((size_t)l * H + h) * n * d, from = (size_t)h * p * d;
                memcpy(ks->k + at, s.blocks[l].kh + from, (size_t)p * d * sizeof *ks->k);
                memcpy(ks->v + at, s.blocks[l].vh + from, (size_t)p * d * sizeof *ks->v);
            }
    }
    stack_free(&s);
    return st;
}

/* Token `token` at position t (the caches hold rows 0..t-1): its logits [V]. */
static ca_status session_step(const model_exec *ex, const model_config *cfg,
                              const real *params, kv_session *ks, int t, int token,
                              real *logits)
{
    const int D = cfg->d_model, H = cfg->heads, d = D / H;
    embed_forward(cfg, params, 1, 1, t, &token, ks->x);
    for (int l = 0; l < cfg->layers; l++) {
        const model_layer_offsets lo = model_layer_at(cfg, l);
        real ln[D], mean, rstd, lse[H];
        layernorm_forward(ln, &mean, &rstd, ks->x, params + lo.ln1_g, params + lo.ln1_b, 1, D);
        gemm(0, 0, 1, 3 * D, D, 1, ln, D, params + lo.wqkv, 3 * D, 0, ks->qkv, 3 * D,
             ex->threads);
        /* One row: [H][1][d] is the row's own column order, so q, k, v need no split. */
        const size_t layer = (size_t)l * H * ks->n * d;
        ca_status st = attention_step(ex, (ca_shape){ks->n, d, H, 0}, t, ks->qkv,
                                      ks->qkv + D, ks->qkv + 2 * D, ks->k + layer,
                                      ks->v + layer, ks->att, lse);
        if (st != CA_OK || (st = tail_row(cfg, &lo, params, ex->threads, ks->att, ks->x)) != CA_OK)
            return st;
    }
    head_row(cfg, params, ex->threads, ks->x, logits);
    return CA_OK;
}

/* ---- cubic: the model on one prefix ---------------------------------------------------- */

/* logits [V] at position t (1-based) from tokens[0..t) alone. */
static ca_status cubic_position(const model_exec *ex, const model_config *cfg,
                                const real *params, int t, const int *tokens, real *logits)
{
    const int D = cfg->d_model, H = cfg->heads, d = D / H, L = cfg->layers;
    ca_status st = CA_ERR_NOMEM;
    real *x = malloc((size_t)t * D * sizeof *x);
    real *ln = malloc((size_t)t * D * sizeof *ln), *stat = malloc(2 * (size_t)t * sizeof *stat);
    real *qkv = malloc((size_t)t * 3 * D * sizeof *qkv);
    real *kc = malloc((size_t)t * D * sizeof *kc), *vc = malloc((size_t)t * D * sizeof *vc);
    real *att = malloc((size_t)D * sizeof *att), *row = malloc((size_t)D * sizeof *row);
    real *lse = malloc((size_t)H * sizeof *lse);
    real *arena = NULL;
    if (!x || !ln || !stat || !qkv || !kc || !vc || !att || !row || !lse) goto out;
    embed_forward(cfg, params, 1, t, 0, tokens, x);
    for (int l = 0; l < L - 1; l++) {
        const model_layer_offsets lo = model_layer_at(cfg, l);
        block_acts a;
        size_t count = 0;
        real *cur = NULL;
        block_layout(&a, LAYER_FULL, 1, t, 0, D, H, 1, &cur, &count);
        if (!(arena = malloc(count * sizeof *arena))) goto out;
        cur = arena;
        count = 0;
        block_layout(&a, LAYER_FULL, 1, t, 0, D, H, 1, &cur, &count);
        a.x_in = x;
        st = block_forward(ex, cfg, &lo, params, 1, t, &a);
        if (st == CA_OK) memcpy(x, a.x_out, (size_t)t * D * sizeof *x);
        free(arena);
        arena = NULL;
        if (st != CA_OK) goto out;
        st = CA_ERR_NOMEM;
    }
    /* The last layer: the new row's query attends over k and v of every row of the prefix. */
    const model_layer_offsets lo = model_layer_at(cfg, L - 1);
    layernorm_forward(ln, stat, stat + t, x, params + lo.ln1_g, params + lo.ln1_b, t, D);
    gemm(0, 0, t, 3 * D, D, 1, ln, D, params + lo.wqkv, 3 * D, 0, qkv, 3 * D, ex->threads);
    split_heads(kc, qkv, 3 * D, D, 1, (size_t)t, H, d);
    split_heads(vc, qkv, 3 * D, 2 * D, 1, (size_t)t, H, d);
    const real *last = qkv + (size_t)(t - 1) * 3 * D;
    int at = t - 1;
#ifdef MODEL_MUTANT
    if (model_mutant_planted == MUT_INFER_LAST_KEYS && t > 1) at = t - 2;
#endif
    st = attention_step(ex, (ca_shape){t, d, H, 0}, at, last, last + D, last + 2 * D, kc, vc,
                        att, lse);
    if (st != CA_OK) goto out;
    memcpy(row, x + (size_t)(t - 1) * D, (size_t)D * sizeof *row);
    if ((st = tail_row(cfg, &lo, params, ex->threads, att, row)) == CA_OK)
        head_row(cfg, params, ex->threads, row, logits);
out:
    free(x); free(ln); free(stat); free(qkv); free(kc); free(vc); free(att); free(row);
    free(lse); free(arena);
    return st;
}

/* A token of a call: within the vocabulary, or the call fails saying which. */
static ca_status check_token(const model_config *cfg, int token, int index)
{
    if (token >= 0 && token < cfg->vocab) return CA_OK;
    return model_fail(CA_ERR_INTERNAL, "token %d at index %d: must be in 0..vocab-1 (0..%d)",
                      token, index, cfg->vocab - 1);
}

/* Every given token is checked before anything is written: n of them for inference, the
 * prompt for generation. n_name: what the caller calls n ("n", or a session's
 * "capacity"). */
static ca_status check(model_kind kind, const model_config *cfg, const model_exec *ex,
                       const real *params, int n, int prompt, const int *tokens, int given,
                       const char *n_name)
{
    ca_status st = model_check_call(kind, cfg, ex, ATTENTION_NEEDS_IMPL);
    if (st != CA_OK) return st;
    if (!params || !tokens)
        return model_fail(CA_ERR_NULL, "%s is NULL", !params ? "params" : "tokens");
    /* causal: prefill and decode steps; cubic: full passes (L > 1) and one decode step
     * (the float64 reference has them all). */
    if (ATTENTION_NEEDS_IMPL) {
        const ca_entry first = kind == MODEL_CAUSAL ? CA_CAUSAL_FWD : CA_FULL_FWD;
        const ca_entry need = !ca_impl_provides(ex->impl, CA_DECODE_STEP) ? CA_DECODE_STEP
                              : (kind == MODEL_CAUSAL || cfg->layers > 1) &&
                                        !ca_impl_provides(ex->impl, first) ? first
                                                                           : CA_NO_ENTRY;
        if (need != CA_NO_ENTRY)
            return model_fail(CA_ERR_NOT_PROVIDED, "implementation '%s' has no %s, which the "
                              "%s model's inference needs", ex->impl->name, ca_entry_name(need),
                              model_kind_name(kind));
    }
    if (!ex || ex->threads < 1)
        return model_fail(CA_ERR_THREADS, "threads = %d: must be >= 1", ex ? ex->threads : 0);
    if (n < 1 || n > cfg->max_n)
        return model_fail(CA_ERR_N, "%s = %d: must be in 1..max_n (%d)", n_name, n, cfg->max_n);
    if (prompt < 1 || prompt > n)
        return model_fail(CA_ERR_N, "prompt = %d: must be in 1..n (%d)", prompt, n);
    for (int i = 0; i < given && st == CA_OK; i++) st = check_token(cfg, tokens[i], i);
    return st;
}

static int argmax(const real *x, int V)
{
    int best = 0;
    for (int j = 1; j < V; j++)
        if (x[j] > x[best]) best = j;
    return best;
}

/* The common walk of model_infer and model_generate: positions 1..n, each position's
 * logits into logits[(t-1) V] (or a row buffer), and with `generate` the argmax of
 * position t becomes token t+1 from the prompt on. */
static ca_status walk(model_kind kind, const model_config *cfg, const model_exec *ex,
                      const real *params, int n, int prompt, int *tokens, real *logits,
                      int generate)
{
    ca_status st = check(kind, cfg, ex, params, n, prompt, tokens, generate ? prompt : n, "n");
    if (st != CA_OK) return st;
    const int V = cfg->vocab;
    real *buf = logits ? NULL : malloc((size_t)n * V * sizeof *buf);
    real *lg = logits ? logits : buf;
    if (!lg) return CA_ERR_NOMEM;
    if (kind == MODEL_CAUSAL) {
        kv_session ks;
        st = session_prefill(ex, cfg, params, &ks, n, prompt, tokens, lg, NULL);
        for (int t = prompt; st == CA_OK && t < n; t++) {
            if (generate) tokens[t] = argmax(lg + (size_t)(t - 1) * V, V);
            st = session_step(ex, cfg, params, &ks, t, tokens[t], lg + (size_t)t * V);
        }
        session_free(&ks);
    } else {
        for (int t = 1; st == CA_OK && t <= n; t++) {
            if (t > prompt && generate) tokens[t - 1] = argmax(lg + (size_t)(t - 2) * V, V);
            st = cubic_position(ex, cfg, params, t, tokens, lg + (size_t)(t - 1) * V);
        }
    }
    free(buf);
    return st;
}

/* model.h model_infer_f32, _f64. */
static ca_status model_infer(model_kind kind, const model_config *cfg, const model_exec *ex,
                             const real *params, int n, int prompt, const int *tokens,
                             real *logits)
{
    if (!logits) {
        model_error_clear();
        return model_fail(CA_ERR_NULL, "logits is NULL");
    }
    return walk(kind, cfg, ex, params, n, prompt, (int *)tokens, logits, 0);
}

/* model.h model_generate_f32, _f64. */
static ca_status model_generate(model_kind kind, const model_config *cfg,
                                const model_exec *ex, const real *params, int n, int prompt,
                                int *tokens)
{
    return walk(kind, cfg, ex, params, n, prompt, tokens, NULL, 1);
}
