/* session.c: the deployed float32 model, one token at a time (model.h
 * model_session_*_f32): what generation costs (bench, examples). A body of the model
 * (real.h), of float32's alone: it runs the paths of infer.c, and holds what a session
 * keeps between steps. */
#include "real.h"

#include <stdlib.h>
#include <string.h>

struct model_session_f32 {
    model_kind kind;
    model_config cfg;   /* a copy: the caller's may go before the session does */
    model_exec ex;
    const float *params;
    int capacity, len;
    int *tokens;        /* [capacity]: the cubic model re-reads its prefix every step */
    kv_session kv;      /* causal: the caches, allocated by the prefill */
    int kv_open;
    model_stats stats;
};

/* Forward FLOPs of the model on a prefix of t tokens, logits of its last row only
 * (cubic_position): layers 1..L-1 full over t rows; the last layer's k, v (and q, which
 * it computes for every row) on t rows, a decode step, the rest on one row. */
static void prefix_flops(const model_config *cfg, int t, model_stats *st)
{
    const int D = cfg->d_model, H = cfg->heads, d = D / H, L = cfg->layers;
    for (int l = 0; l < L - 1; l++) {
        st->attn_flops += ca_op_flops(CA_OP_FULL, 0, t, d, H);
        st->matmul_flops += block_matmul_flops(D, t, t, t);
    }
    st->attn_flops += ca_op_flops(CA_OP_DECODE, 0, t, d, H);
    st->matmul_flops += block_matmul_flops(D, t, t, 1) + 2.0 * D * cfg->vocab;
}

/* A causal decode step at context t + 1 (position t against t cached rows). */
static void step_flops(const model_config *cfg, int t, model_stats *st)
{
    const int D = cfg->d_model, H = cfg->heads;
    st->attn_flops += cfg->layers * ca_op_flops(CA_OP_DECODE, 0, t + 1, D / H, H);
    st->matmul_flops += cfg->layers * block_matmul_flops(D, 1, 1, 1) + 2.0 * D * cfg->vocab;
}

model_session_f32 *model_session_open_f32(model_kind kind, const model_config *cfg,
                                          const model_exec *ex, const float *params,
                                          int capacity, ca_status *st)
{
    int probe = 0;
    *st = check(kind, cfg, ex, params, capacity, 1, &probe, 1, "capacity");
    if (*st != CA_OK) return NULL;
    model_session_f32 *s = calloc(1, sizeof *s);
    if (!s || !(s->tokens = malloc((size_t)capacity * sizeof *s->tokens))) {
        free(s);
        *st = CA_ERR_NOMEM;
        return NULL;
    }
    s->kind = kind;
    s->cfg = *cfg;
    s->ex = *ex;
    s->params = params;
    s->capacity = capacity;
    return s;
}

static ca_status session_token(const model_session_f32 *s, int token)
{
    ca_status st = check_token(&s->cfg, token, s->len);
    if (st != CA_OK) return st;
    if (s->len >= s->capacity)
        return model_fail(CA_ERR_N, "the session is full: it holds its capacity, %d tokens "
                          "(rewind to take a step again)", s->capacity);
    return CA_OK;
}

ca_status model_session_prefill_f32(model_session_f32 *s, int p, const int *tokens,
                                    float *logits)
{
    model_error_clear();
    if (!s || !tokens || !logits)
        return model_fail(CA_ERR_NULL, "%s is NULL",
                          !s ? "the session" : !tokens ? "tokens" : "logits");
    if (s->len != 0)
        return model_fail(CA_ERR_N, "prefill into a session holding %d tokens: it must be "
                          "empty (rewind to 0 first)", s->len);
    if (p < 1 || p > s->capacity)
        return model_fail(CA_ERR_N, "p = %d: must be in 1..capacity (%d)", p, s->capacity);
    for (int i = 0; i < p; i++) {
        ca_status st = check_token(&s->cfg, tokens[i], i);
        if (st != CA_OK) return st;
    }
    const int V = s->cfg.vocab;
    ca_status st;
    if (s->kind == MODEL_CAUSAL) {
        float *all = malloc((size_t)p * V * sizeof *all);
        if (!all) return CA_ERR_NOMEM;
        st = session_prefill(&s->ex, &s->cfg, s->params, &s->kv, s->capacity, p, tokens, all,
                             &s->stats);
        s->kv_open = st == CA_OK;
        if (st != CA_OK) session_free(&s->kv);
        if (st == CA_OK) memcpy(logits, all + (size_t)(p - 1) * V, (size_t)V * sizeof *logits);
        free(all);
    } else {
        st = cubic_position(&s->ex, &s->cfg, s->params, p, tokens, logits);
        if (st == CA_OK) prefix_flops(&s->cfg, p, &s->stats);
    }
    if (st != CA_OK) return st;
    memcpy(s->tokens, tokens, (size_t)p * sizeof *tokens);
    s->len = p;
    return CA_OK;
}

ca_status model_session_append_f32(model_session_f32 *s, int token, float *logits)
{
    model_error_clear();
    if (!s || !logits) return model_fail(CA_ERR_NULL, "%s is NULL", !s ? "the session" : "logits");
    ca_status st = session_token(s, token);
    if (st != CA_OK) return st;
    if (s->len == 0) return model_session_prefill_f32(s, 1, &token, logits);
    const int t = s->len;
    s->tokens[t] = token;
    if (s->kind == MODEL_CAUSAL) {
        st = session_step(&s->ex, &s->cfg, s->params, &s->kv, t, token, logits);
        if (st == CA_OK) step_flops(&s->cfg, t, &s->stats);
    } else {
        st = cubic_position(&s->ex, &s->cfg, s->params, t + 1, s->tokens, logits);
        if (st == CA_OK) prefix_flops(&s->cfg, t + 1, &s->stats);
    }
    if (st == CA_OK) s->len = t + 1;
    return st;
}

/* Rows from len on are written again by the next step before anything reads them. */
ca_status model_session_rewind_f32(model_session_f32 *s, int len)
{
    model_error_clear();
    if (!s) return model_fail(CA_ERR_NULL, "the session is NULL");
    if (len < 0 || len > s->len)
        return model_fail(CA_ERR_N, "len = %d: must be in 0..the session's length (%d)", len,
                          s->len);
    /* An emptied causal session prefills again: its caches go with it. */
    if (len == 0 && s->kv_open) {
        session_free(&s->kv);
        s->kv_open = 0;
    }
    s->len = len;
    return CA_OK;
}

model_stats model_session_stats_f32(const model_session_f32 *s)
{
    return s ? s->stats : (model_stats){0};
}

void model_session_close_f32(model_session_f32 *s)
{
    if (!s) return;
    if (s->kv_open) session_free(&s->kv);
    free(s->tokens);
    free(s);
}
