/* model.c: the stack of blocks between the embedding and the loss, and the three ways
 * of training it (model.h model_forward_backward): causal, cubic packed, cubic as a loop
 * over prefixes; a body of the model (real.h). infer.c prefills with the stack too. */
#include "real.h"
#include "scratch.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The layers of a model kind: causal everywhere; packed cubic = cubic_shared, cubic in
 * the middle, cubic_last (one layer: first and last at once, which is causal attention:
 * the diagonal query of each prefix over the shared keys); a prefix pass of the loop =
 * full everywhere. */
static void kind_layers(model_kind kind, int L, layer_kind *out)
{
    for (int l = 0; l < L; l++)
        out[l] = kind == MODEL_CAUSAL      ? LAYER_CAUSAL
                 : kind == MODEL_CUBIC_LOOP ? LAYER_FULL
                 : L == 1                   ? LAYER_CAUSAL
                 : l == 0                   ? LAYER_SHARED
                 : l == L - 1               ? LAYER_LAST
                                            : LAYER_CUBIC;
}

/* Activations above this many bytes: h (LN2(x_mid) W1, 4 d_model of a middle block's
 * ~10 d_model floats a row) is recomputed in each block's backward instead of kept, one
 * product more (8 d_model^2 FLOPs a row, not counted in model_stats) for the memory of
 * long packed sequences (docs/DESIGN.md §8). Below it, nothing is recomputed that
 * costs a product. */
#define KEEP_H_BYTES ((size_t)1 << 30)

/* One run of the stack over B sequences of n tokens. */
typedef struct stack {
    int B, n, L;
    int first;           /* a packed cubic stack's window: prefixes first..n (<= 1: all) */
    int last_only;       /* the head reads only the last row of each sequence */
    real *arena;
    size_t elems;
    real *x0;            /* [B n][D] */
    block_acts *blocks;  /* [L] */
    size_t rows_f;       /* rows per sequence out of the last block */
    size_t rows_h;       /* rows per sequence into the head: rows_f, or 1 */
    real *xf;            /* [B rows_h][D]: the head's input */
    real *lnf, *meanf, *rstdf;
    real *logits;        /* [B rows_h][V] */
    double *layer_seconds; /* [L] or NULL: each block's wall time is added to it */
} stack;

static void stack_layout(stack *s, const model_config *cfg, const layer_kind *kinds,
                         int keep_h, real *base)
{
    const int D = cfg->d_model, V = cfg->vocab;
    real *cur = base;
    size_t count = 0;
    s->x0 = cur ? cur : NULL;
    count += (size_t)s->B * s->n * D;
    if (cur) cur += (size_t)s->B * s->n * D;
    for (int l = 0; l < s->L; l++)
        block_layout(&s->blocks[l], kinds[l], s->B, s->n, s->first, D, cfg->heads, keep_h,
                     &cur, &count);
    s->rows_f = s->blocks[s->L - 1].rout;
    s->rows_h = s->last_only ? 1 : s->rows_f;
    const size_t rh = (size_t)s->B * s->rows_h;
    size_t need = (s->last_only ? rh * D : 0) + rh * D + 2 * rh + rh * V;
    count += need;
    if (cur) {
        s->xf = s->last_only ? cur : s->blocks[s->L - 1].x_out;
        if (s->last_only) cur += rh * D;
        s->lnf = cur; cur += rh * D;
        s->meanf = cur; cur += rh;
        s->rstdf = cur; cur += rh;
        s->logits = cur;
    }
    s->elems = count;
}

static void stack_free(stack *s)
{
    if (s->blocks)
        for (int l = 0; l < s->L; l++) block_free_maps(&s->blocks[l]);
    free(s->blocks);
    model_scratch_free(s->arena);
    memset(s, 0, sizeof *s);
}

/* A stack of the layers of `kind` (one arena for every activation), of a packed cubic
 * model on the window of prefixes first..n (first <= 1: all). last_only: the head reads
 * the last row of each sequence only (one prefix of the loop). */
static ca_status stack_new(stack *s, const model_config *cfg, model_kind kind, int B, int n,
                           int first, int last_only)
{
    memset(s, 0, sizeof *s);
    s->B = B; s->n = n; s->first = first; s->L = cfg->layers; s->last_only = last_only;
    layer_kind *kinds = malloc((size_t)s->L * sizeof *kinds);
    s->blocks = calloc((size_t)s->L, sizeof *s->blocks);
    if (!kinds || !s->blocks) { free(kinds); stack_free(s); return CA_ERR_NOMEM; }
    kind_layers(kind, s->L, kinds);
    stack_layout(s, cfg, kinds, 1, NULL);
    const int keep_h = s->elems * sizeof *s->arena <= KEEP_H_BYTES;
    if (!keep_h) stack_layout(s, cfg, kinds, 0, NULL);
    s->arena = model_scratch_alloc(s->elems * sizeof *s->arena);
    if (!s->arena) { free(kinds); stack_free(s); return CA_ERR_NOMEM; }
    stack_layout(s, cfg, kinds, keep_h, s->arena);
    free(kinds);
    for (int l = 0; l < s->L; l++)
        if (block_maps(&s->blocks[l], n) != CA_OK) { stack_free(s); return CA_ERR_NOMEM; }
    return CA_OK;
}

/* Embedding, blocks, head: s->logits. */
static ca_status stack_forward(const model_exec *ex, const model_config *cfg,
                               const real *params, stack *s, const int *tokens)
{
    const int D = cfg->d_model, V = cfg->vocab;
    const model_offsets go = model_global_offsets(cfg);
    embed_forward(cfg, params, s->B, s->n, 0, tokens, s->x0);
    const real *x = s->x0;
    for (int l = 0; l < s->L; l++) {
        const model_layer_offsets lo = model_layer_at(cfg, l);
        s->blocks[l].x_in = x;
        const double t0 = s->layer_seconds ? omp_get_wtime() : 0.0;
        ca_status st = block_forward(ex, cfg, &lo, params, s->B, s->n, &s->blocks[l]);
        if (s->layer_seconds) s->layer_seconds[l] += omp_get_wtime() - t0;
        if (st != CA_OK) return st;
        x = s->blocks[l].x_out;
    }
    const size_t rh = (size_t)s->B * s->rows_h;
    if (s->last_only)
        for (int b = 0; b < s->B; b++)
            memcpy(s->xf + (size_t)b * D, x + ((size_t)b * s->rows_f + s->rows_f - 1) * D,
                   (size_t)D * sizeof *x);
    layernorm_forward(s->lnf, s->meanf, s->rstdf, s->xf, params + go.lnf_g,
                      params + go.lnf_b, (int)rh, D);
    gemm(0, 0, (int)rh, V, D, 1, s->lnf, D, params + go.head, V, 0, s->logits, V,
         ex->threads);
    return CA_OK;
}

/* dlogits [B rows_h][V] -> every parameter gradient (accumulated into grads). */
static ca_status stack_backward(const model_exec *ex, const model_config *cfg,
                                const real *params, const stack *s, const int *tokens,
                                const real *dlogits, real *grads)
{
    const int D = cfg->d_model, V = cfg->vocab;
    const model_offsets go = model_global_offsets(cfg);
    const size_t rh = (size_t)s->B * s->rows_h;
    size_t widest = (size_t)s->B * s->n;
    for (int l = 0; l < s->L; l++) {
        if ((size_t)s->B * s->blocks[l].rin > widest) widest = (size_t)s->B * s->blocks[l].rin;
        if ((size_t)s->B * s->blocks[l].rout > widest) widest = (size_t)s->B * s->blocks[l].rout;
    }
    real *dln = model_scratch_alloc(rh * D * sizeof *dln);
    real *da = model_scratch_calloc(widest * D * sizeof *da);
    real *db = model_scratch_alloc(widest * D * sizeof *db);
    ca_status st = CA_ERR_NOMEM;
    if (!dln || !da || !db) goto out;
    gemm(0, 1, (int)rh, D, V, 1, dlogits, V, params + go.head, V, 0, dln, D, ex->threads);
    gemm(1, 0, D, V, (int)rh, 1, s->lnf, D, dlogits, V, 1, grads + go.head, V,
         ex->threads);
    /* da = gradient of the last block's output: the head's rows, zero elsewhere. */
    if (s->last_only) {
        real *dxf = db;
        memset(dxf, 0, rh * D * sizeof *dxf);
        layernorm_backward(dxf, grads + go.lnf_g, grads + go.lnf_b, dln, s->xf, s->meanf,
                           s->rstdf, params + go.lnf_g, (int)rh, D);
        for (int b = 0; b < s->B; b++)
            memcpy(da + ((size_t)b * s->rows_f + s->rows_f - 1) * D, dxf + (size_t)b * D,
                   (size_t)D * sizeof *da);
    } else {
        layernorm_backward(da, grads + go.lnf_g, grads + go.lnf_b, dln, s->xf, s->meanf,
                           s->rstdf, params + go.lnf_g, (int)rh, D);
    }
    for (int l = s->L - 1; l >= 0; l--) {
        const model_layer_offsets lo = model_layer_at(cfg, l);
        const double t0 = s->layer_seconds ? omp_get_wtime() : 0.0;
        st = block_backward(ex, cfg, &lo, params, s->B, s->n, &s->blocks[l], da, db, grads);
        if (s->layer_seconds) s->layer_seconds[l] += omp_get_wtime() - t0;
        if (st != CA_OK) goto out;
        real *t = da; da = db; db = t;
    }
    embed_backward(cfg, s->B, s->n, tokens, da, grads);
    st = CA_OK;
out:
    model_scratch_free(dln); model_scratch_free(da); model_scratch_free(db);
    return st;
}

/* Products of one block per sequence, forward: q on rq rows, k and v on rin, the output
 * projection and the MLP on rout (docs/DESIGN.md §8: 24 D^2 a row when all are equal). */
static double block_matmul_flops(int D, double rq, double rin, double rout)
{
    return 2.0 * D * D * (rq + 2.0 * rin + 9.0 * rout);
}

/* FLOPs of the stack's pass (model_stats, docs/DESIGN.md §8): forward, or forward and
 * backward; act_bytes raised to this stack's activations. Attention by docs/DESIGN.md
 * §3, the products by §8 on the rows each really runs on; backward = 2.5x / 2x forward. */
static void stack_flops(const model_config *cfg, const stack *s, int backward,
                        model_stats *stats)
{
    const double B = s->B;
    const int d = cfg->d_model / cfg->heads;
    for (int l = 0; l < s->L; l++) {
        const block_acts *a = &s->blocks[l];
        const ca_shape sh = {s->n, d, s->B * cfg->heads, a->first};
        double att = ca_shape_flops(layer_op(a->kind), 0, sh);
        double mm = B * block_matmul_flops(cfg->d_model, (double)a->rq, (double)a->rin,
                                           (double)a->rout);
        stats->attn_flops += backward ? 3.5 * att : att;
        stats->matmul_flops += backward ? 3.0 * mm : mm;
    }
    double head = 2.0 * B * s->rows_h * cfg->d_model * cfg->vocab;
    stats->matmul_flops += backward ? 3.0 * head : head;
    size_t bytes = s->elems * sizeof(real);
    if (bytes > stats->act_bytes) stats->act_bytes = bytes;
}

static ca_status check_inputs(model_kind kind, const model_config *cfg, const model_exec *ex,
                              int B, int N, const int *tokens, const int *targets, int backward)
{
    ca_status st = model_check_call(kind, cfg, ex, ATTENTION_NEEDS_IMPL);
    if (st != CA_OK) return st;
    /* Every operator the kind needs from the implementation, before anything is computed
     * or written (the float64 reference has them all). */
    if (ATTENTION_NEEDS_IMPL) {
        layer_kind kinds[1024];
        kind_layers(kind, cfg->layers, kinds);
        for (int l = 0; l < cfg->layers; l++) {
            const ca_op_info *op = ca_op_get(layer_op(kinds[l]));
            const ca_entry need =
                !ca_impl_provides(ex->impl, op->fwd)                ? op->fwd
                : backward && !ca_impl_provides(ex->impl, op->bwd) ? op->bwd
                                                                    : CA_NO_ENTRY;
            if (need != CA_NO_ENTRY)
                return model_fail(CA_ERR_NOT_PROVIDED, "implementation '%s' has no %s, which "
                                  "the %s model's layer %d needs", ex->impl->name,
                                  ca_entry_name(need), model_kind_name(kind), l + 1);
        }
    }
    if (!ex || ex->threads < 1)
        return model_fail(CA_ERR_THREADS, "threads = %d: must be >= 1", ex ? ex->threads : 0);
    if (B < 1) return model_fail(CA_ERR_N, "B = %d: must be >= 1", B);
    if (N < 1 || N > cfg->max_n)
        return model_fail(CA_ERR_N, "N = %d: must be in 1..max_n (%d)", N, cfg->max_n);
    if (!tokens) return model_fail(CA_ERR_NULL, "tokens is NULL");
    for (size_t i = 0; i < (size_t)B * N; i++) {
        if (tokens[i] < 0 || tokens[i] >= cfg->vocab)
            return model_fail(CA_ERR_INTERNAL, "token %d at index %zu: must be in 0..vocab-1 "
                              "(0..%d)", tokens[i], i, cfg->vocab - 1);
        if (targets && targets[i] >= cfg->vocab)
            return model_fail(CA_ERR_INTERNAL, "target %d at index %zu: must be below vocab "
                              "(%d), or negative for no loss", targets[i], i, cfg->vocab);
    }
    return CA_OK;
}

/* Refuses parts that are not a share of a batch of B sequences of N tokens, or that split
 * a sequence of a kind that does not split prefixes. */
static ca_status check_parts(model_kind kind, const model_config *cfg, int B, int N,
                             const model_part *parts, int nparts)
{
    if (nparts < 0 || (nparts > 0 && !parts))
        return model_fail(CA_ERR_NULL, "parts: %d of them at %p", nparts, (const void *)parts);
    for (int i = 0; i < nparts; i++) {
        const model_part *p = &parts[i];
        if (p->seq < 0 || p->seq >= B || p->first < 1 || p->first > p->last || p->last > N)
            return model_fail(CA_ERR_WINDOW, "part %d: sequence %d, positions %d..%d: must "
                              "be a sequence in 0..%d and positions within 1..%d", i,
                              p->seq, p->first, p->last, B - 1, N);
        if ((p->first != 1 || p->last != N) && !model_splits_prefixes(kind, cfg))
            return model_fail(CA_ERR_WINDOW, "part %d: positions %d..%d of %d: the %s model "
                              "of %d layer(s) is split by whole sequences only", i, p->first,
                              p->last, N, model_kind_name(kind), cfg->layers);
    }
    return CA_OK;
}

/* One stack's forward (and backward): B sequences from seq on, positions first..last of
 * each (first > 1 only for one sequence of a packed cubic model: its window; cubic_loop
 * runs one stack per prefix instead, last_only). Loss and gradients are added to. */
static ca_status run_stack(model_kind kind, const model_config *cfg, const model_exec *ex,
                           const real *params, int N, const int *tokens, const int *targets,
                           int seq, int B, int first, int last, int last_only, double weight,
                           real *logits, real *grads, double *loss, model_stats *local)
{
    const int V = cfg->vocab;
    stack s;
    ca_status st = stack_new(&s, cfg, kind, B, last, last_only ? 0 : first, last_only);
    if (st != CA_OK) return st;
    s.layer_seconds = local->layer_seconds;
    const int *tok = tokens + (size_t)seq * N;
    /* The head's rows: the window's positions, or each sequence's last (one prefix). */
    const size_t row0 = (size_t)seq * N + (size_t)(last_only ? last : first) - 1;
    st = stack_forward(ex, cfg, params, &s, tok);
    const size_t rh = (size_t)B * s.rows_h;
    real *dlogits = NULL;
    if (st == CA_OK && grads && !(dlogits = model_scratch_alloc(rh * V * sizeof *dlogits)))
        st = CA_ERR_NOMEM;
    if (st == CA_OK) {
        *loss += crossentropy_forward_backward(s.logits, targets + row0, (int)rh, V, weight,
                                               dlogits);
        if (logits) memcpy(logits + row0 * V, s.logits, rh * V * sizeof *logits);
        if (grads) st = stack_backward(ex, cfg, params, &s, tok, dlogits, grads);
        stack_flops(cfg, &s, grads != NULL, local);
    }
    model_scratch_free(dlogits);
    stack_free(&s);
    return st;
}

/* The parts' share of a batch (model.h model_forward_backward_parts): positions are
 * counted over the whole batch, so that the shares of a partition add up to the batch's
 * mean. Consecutive whole sequences run as one stack (one pass of B rows). */
static ca_status forward_backward_parts(model_kind kind, const model_config *cfg,
                                        const model_exec *ex, const real *params, int B,
                                        int N, const int *tokens, const int *targets,
                                        const model_part *parts, int nparts, real *logits,
                                        real *grads, double *loss, model_stats *stats)
{
    model_stats local = {.layer_seconds = stats ? stats->layer_seconds : NULL};
    if (local.layer_seconds)
        memset(local.layer_seconds, 0, (size_t)cfg->layers * sizeof *local.layer_seconds);
    size_t positions = 0;
    for (size_t i = 0; i < (size_t)B * N; i++) positions += targets[i] >= 0;
    const double weight = positions ? 1.0 / (double)positions : 0.0;
    if (grads) memset(grads, 0, model_param_count(cfg) * sizeof *grads);
    *loss = 0.0;
    ca_status st = CA_OK;
    for (int i = 0; i < nparts && st == CA_OK; i++) {
        const model_part *p = &parts[i];
        if (kind == MODEL_CUBIC_LOOP) {
            for (int t = p->first; t <= p->last && st == CA_OK; t++)
                st = run_stack(kind, cfg, ex, params, N, tokens, targets, p->seq, 1, t, t, 1,
                               weight, logits, grads, loss, &local);
            continue;
        }
        int run = 1;
        if (p->first == 1 && p->last == N)
            while (i + run < nparts && parts[i + run].seq == p->seq + run &&
                   parts[i + run].first == 1 && parts[i + run].last == N)
                run++;
        st = run_stack(kind, cfg, ex, params, N, tokens, targets, p->seq, run, p->first,
                       p->last, 0, weight, logits, grads, loss, &local);
        i += run - 1;
    }
    if (st == CA_OK && stats) *stats = local;
    return st;
}

/* model.h model_forward_backward_parts_f32, _f64. */
static ca_status model_forward_backward_parts(model_kind kind, const model_config *cfg,
                                              const model_exec *ex, const real *params, int B,
                                              int N, const int *tokens, const int *targets,
                                              const model_part *parts, int nparts,
                                              real *grads, double *loss, model_stats *stats)
{
    ca_status st = check_inputs(kind, cfg, ex, B, N, tokens, targets, grads != NULL);
    if (st != CA_OK) return st;
    if (!params || !targets || !loss)
        return model_fail(CA_ERR_NULL, "%s is NULL",
                          !params ? "params" : !targets ? "targets" : "loss");
    if ((st = check_parts(kind, cfg, B, N, parts, nparts)) != CA_OK) return st;
    return forward_backward_parts(kind, cfg, ex, params, B, N, tokens, targets, parts, nparts,
                                  NULL, grads, loss, stats);
}

/* model.h model_forward_backward_f32, _f64: the batch as one part per sequence. */
static ca_status model_forward_backward(model_kind kind, const model_config *cfg,
                                        const model_exec *ex, const real *params, int B,
                                        int N, const int *tokens, const int *targets,
                                        real *logits, real *grads, double *loss,
                                        model_stats *stats)
{
    ca_status st = check_inputs(kind, cfg, ex, B, N, tokens, targets, grads != NULL);
    if (st != CA_OK) return st;
    if (!params || !targets || !loss)
        return model_fail(CA_ERR_NULL, "%s is NULL",
                          !params ? "params" : !targets ? "targets" : "loss");
    model_part *whole = malloc((size_t)B * sizeof *whole);
    if (!whole) return CA_ERR_NOMEM;
    for (int b = 0; b < B; b++) whole[b] = (model_part){b, 1, N};
    st = forward_backward_parts(kind, cfg, ex, params, B, N, tokens, targets, whole, B, logits,
                                grads, loss, stats);
    free(whole);
    return st;
}
