/* block.c: one transformer block on the rows its attention operator defines, forward and
 * backward, and the embedding before the stack; a body of the model (real.h).
 *
 * A block's attention is one operator of the table, and the operator's row counts are
 * the block's: LN1 and the k, v projections run on its kv rows (the block's input
 * rows), the q projection on its q rows, everything after attention on its output rows.
 * Where two counts differ the rows are related by the packed layout (cubattn.h):
 *   N -> T (cubic_shared): output row (t, i) continues input row i (the residual is
 *                          broadcast to every prefix, its gradient summed over them);
 *   T -> N (cubic_last):   query row t and output row t are input row (t, t).
 * A block of a packed cubic model may run on a window of its prefixes, first..n
 * (cubattn.h ca_shape.first; prefix-parallel training, docs/DESIGN.md §8.2): its packed
 * and per-prefix rows are then the window's, counted from prefix first's.
 * Shapes below are per sequence; B sequences are stacked in rows, and in heads for the
 * attention ([B][H][rows][d] = [B H][rows][d]). */
#include "real.h"
#include "scratch.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef enum layer_kind {
    LAYER_CAUSAL, /* causal model; a cubic model of one layer */
    LAYER_FULL,   /* a bidirectional pass (cubic_loop, cubic inference) */
    LAYER_SHARED, /* first layer of a packed cubic model: cubic_shared */
    LAYER_CUBIC,  /* middle layers: cubic */
    LAYER_LAST    /* last layer: cubic_last */
} layer_kind;

static ca_op layer_op(layer_kind k)
{
    static const ca_op ops[] = {[LAYER_CAUSAL] = CA_OP_CAUSAL, [LAYER_FULL] = CA_OP_FULL,
                                [LAYER_SHARED] = CA_OP_CUBIC_SHARED,
                                [LAYER_CUBIC] = CA_OP_CUBIC, [LAYER_LAST] = CA_OP_CUBIC_LAST};
    return ops[k];
}

static real *take(real **cursor, size_t *count, size_t n)
{
    *count += n;
    if (!*cursor) return NULL;
    real *p = *cursor;
    *cursor += n;
    return p;
}

/* Everything one block keeps for its backward. LN1's and LN2's outputs, the merged
 * attention output and GELU's output are not kept: the backward recomputes them from
 * what is (elementwise, the same values), and h too when keep_h is 0 (one product more,
 * for the memory of long packed sequences; docs/DESIGN.md §8). */
typedef struct block_acts {
    layer_kind kind;
    int first;              /* the window's first prefix (0: the operator has none) */
    size_t rin, rq, rout;   /* rows per sequence: input (= k, v), queries, output */
    int *q_src, *res_src;   /* input row of each query / output row; NULL = the same row */
    int keep_h;             /* h is kept (else recomputed in the backward) */
    const real *x_in;       /* [B rin][D], the previous block's x_out (not owned) */
    real *mean1, *rstd1;    /* [B rin]: LN1's statistics */
    real *qh, *kh, *vh;     /* [B H][rq][d], [B H][rin][d] x 2 */
    real *oh, *lse;         /* [B H][rout][d], [B H][rout] */
    real *x_mid;            /* [B rout][D]: x_in + merge(oh) Wo */
    real *mean2, *rstd2;    /* [B rout]: LN2's statistics */
    real *h;                /* [B rout][4D]: LN2(x_mid) W1, or NULL when not kept */
    real *x_out;            /* [B rout][D] */
} block_acts;

/* Lays out a block's activations from *cursor (advanced; with *cursor NULL only the
 * element count is added to *count) for B sequences of length n, and of a per-prefix
 * operator the window of prefixes first..n (first <= 1: all). Row maps are allocated
 * separately: block_maps / block_free_maps. */
static void block_layout(block_acts *a, layer_kind kind, int B, int n, int first, int D,
                         int H, int keep_h, real **cursor, size_t *count)
{
    const ca_op op = layer_op(kind);
    const ca_entry e = ca_op_get(op)->fwd;
    const ca_shape win = {.n = n, .first = ca_op_has_prefixes(op) ? first : 0};
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->first = win.first;
    a->rin = ca_shape_kv_rows(e, win);
    a->rq = ca_shape_q_rows(e, win);
    a->rout = ca_shape_out_rows(e, win);
    const size_t in = (size_t)B * a->rin, q = (size_t)B * a->rq, out = (size_t)B * a->rout;
    const size_t Dz = (size_t)D;
    a->mean1 = take(cursor, count, in);
    a->rstd1 = take(cursor, count, in);
    a->qh = take(cursor, count, q * Dz);
    a->kh = take(cursor, count, in * Dz);
    a->vh = take(cursor, count, in * Dz);
    a->oh = take(cursor, count, out * Dz);
    a->lse = take(cursor, count, out * (size_t)H);
    a->x_mid = take(cursor, count, out * Dz);
    a->mean2 = take(cursor, count, out);
    a->rstd2 = take(cursor, count, out);
    a->keep_h = keep_h;
    a->h = keep_h ? take(cursor, count, out * 4 * Dz) : NULL;
    a->x_out = take(cursor, count, out * Dz);
}

/* The input row of each of `to` rows of a block of the given kind, when `to` != `from`
 * (above), for the window of prefixes a..n: N -> T (cubic_shared) is the position i of
 * packed row (t, i); T -> N (cubic_last) is the diagonal row (t, t). */
static int *row_map(layer_kind kind, size_t from, size_t to, int n, int a)
{
    if (from == to) return NULL;
    int *m = model_scratch_alloc(to * sizeof *m);
    if (!m) return NULL;
    const size_t base = ca_prefix_offset((size_t)a);
    if (kind == LAYER_SHARED) {
        for (int t = a; t <= n; t++)
            for (int i = 0; i < t; i++) m[ca_prefix_offset(t) - base + i] = i;
    } else {
        for (int t = a; t <= n; t++) m[t - a] = (int)(ca_prefix_offset(t) - base + t - 1);
#ifdef MODEL_MUTANT
        if (model_mutant_planted == MUT_LAST_ROW)
            for (int t = a + 1; t <= n; t++)
                m[t - a] = (int)(ca_prefix_offset(t - 1) - base + t - 2);
        if (model_mutant_planted == MUT_WINDOW_DIAGONAL)
            for (int t = a; t <= n; t++) m[t - a] = (int)(ca_prefix_offset(t) - base + t - a);
#endif
    }
    return m;
}

static void block_free_maps(block_acts *a)
{
    model_scratch_free(a->q_src);
    model_scratch_free(a->res_src);
    a->q_src = a->res_src = NULL;
}

static ca_status block_maps(block_acts *a, int n)
{
    const int first = a->first > 1 ? a->first : 1;
    a->q_src = row_map(a->kind, a->rin, a->rq, n, first);
    a->res_src = row_map(a->kind, a->rin, a->rout, n, first);
    if ((a->rq != a->rin && !a->q_src) || (a->rout != a->rin && !a->res_src)) {
        block_free_maps(a);
        return CA_ERR_NOMEM;
    }
    return CA_OK;
}

/* [B H][rows][d] <-> [B rows][ld] columns col0.. col0 + H d (a single-row inference step
 * reuses these and block_tail). */
static void split_heads(real *dst, const real *src, int ld, int col0, int B, size_t rows,
                        int H, int d)
{
#pragma omp parallel for collapse(2) schedule(static) if (B * rows * H * d >= PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (size_t r = 0; r < rows; r++)
                memcpy(dst + (((size_t)b * H + h) * rows + r) * d,
                       src + ((size_t)b * rows + r) * ld + col0 + (size_t)h * d,
                       (size_t)d * sizeof *dst);
}

static void merge_heads(real *dst, const real *src, int ld, int col0, int B, size_t rows,
                        int H, int d)
{
#pragma omp parallel for collapse(2) schedule(static) if (B * rows * H * d >= PAR_MIN)
    for (int b = 0; b < B; b++)
        for (size_t r = 0; r < rows; r++)
            for (int h = 0; h < H; h++)
                memcpy(dst + ((size_t)b * rows + r) * ld + col0 + (size_t)h * d,
                       src + (((size_t)b * H + h) * rows + r) * d, (size_t)d * sizeof *dst);
}

/* rows[b][r] = from[b][map[r]] (map NULL: the same row), D wide, B sequences. */
static void gather_rows(real *to, const real *from, const int *map, int B, size_t to_rows,
                        size_t from_rows, int D)
{
    for (int b = 0; b < B; b++)
        for (size_t r = 0; r < to_rows; r++)
            memcpy(to + ((size_t)b * to_rows + r) * D,
                   from + ((size_t)b * from_rows + (map ? (size_t)map[r] : r)) * D,
                   (size_t)D * sizeof *to);
}

#ifdef MODEL_MUTANT
/* Zeroes every packed row (t, i) but the diagonal one (t, t) of the window of prefixes
 * first..n: layer 1's residual bugs. */
static void mutant_keep_diagonal(real *rows, int B, int n, int first, int D)
{
    const int a = first > 1 ? first : 1;
    const size_t T = ca_window_rows(CA_ROWS_PACKED, n, a), base = ca_prefix_offset((size_t)a);
    for (int b = 0; b < B; b++)
        for (int t = a; t <= n; t++)
            for (int i = 0; i < t - 1; i++)
                memset(rows + ((size_t)b * T + ca_prefix_offset(t) - base + i) * D, 0,
                       (size_t)D * sizeof *rows);
}
#endif

/* The transpose: to[b][map[r]] += from[b][r]. Each entry's sum over the prefixes of its
 * row comes in order of r at any thread count: a thread owns a range of columns and
 * walks the rows in storage order. */
static void scatter_add_rows(real *to, const real *from, const int *map, int B,
                             size_t from_rows, size_t to_rows, int D)
{
#pragma omp parallel if ((size_t)B * from_rows * D >= PAR_MIN)
    {
        const int nt = omp_get_num_threads(), me = omp_get_thread_num();
        const int j0 = D * me / nt, j1 = D * (me + 1) / nt;
        for (int b = 0; b < B; b++)
            for (size_t r = 0; r < from_rows; r++) {
                real *t = to + ((size_t)b * to_rows + (map ? (size_t)map[r] : r)) * D;
                const real *f = from + ((size_t)b * from_rows + r) * D;
                for (int j = j0; j < j1; j++) t[j] += f[j];
            }
    }
}

/* Rows per step of the MLP, forward and backward: each thread's share of its [rows][4D]
 * buffers (GELU's input and output, their gradient) stays in its L2 between the
 * products that read them, and a long packed sequence never holds them for all T rows.
 * Per thread, so that the threads' products fork once per block of rows with a quarter
 * megabyte each to do (the bits do not depend on it: the rows are independent and the
 * weight gradients continue their chains across blocks). */
static size_t mlp_rows(int D, int threads)
{
    const size_t r = ((size_t)1 << 16) / (4 * (size_t)D) * (size_t)threads;
    return r > 6 ? r : 6;
}

/* x_mid = x_res + att Wo; mean2, rstd2, x_out as in block_acts, for R rows; h [R][4D]
 * written when not NULL. CA_ERR_NOMEM when its row-block scratch cannot be had. */
static ca_status block_tail(const model_config *cfg, const model_layer_offsets *lo,
                            const real *params, int threads, size_t R, const real *att,
                            const real *x_res, real *x_mid, real *mean2, real *rstd2,
                            real *h, real *x_out)
{
    const int D = cfg->d_model;
    const size_t nD = R * (size_t)D, RC = mlp_rows(D, threads);
    memcpy(x_mid, x_res, nD * sizeof *x_mid);
    gemm(0, 0, (int)R, D, D, 1, att, D, params + lo->wo, D, 1, x_mid, D, threads);
    layernorm_forward(x_out, mean2, rstd2, x_mid, params + lo->ln2_g, params + lo->ln2_b,
                      (int)R, D);
    /* The MLP a few rows at a time (as its backward), LN2's output held in x_out until
     * the rows' output replaces it: [RC][4D] GELU output, and [RC][4D] h when not kept. */
    real *chunk = model_scratch_alloc(RC * (h ? 4 : 8) * D * sizeof *chunk);
    if (!chunk) return CA_ERR_NOMEM;
    for (size_t r0 = 0; r0 < R; r0 += RC) {
        const int rc = (int)(R - r0 < RC ? R - r0 : RC);
        real *gh = chunk, *hr = h ? h + r0 * 4 * D : chunk + RC * 4 * D;
        gemm(0, 0, rc, 4 * D, D, 1, x_out + r0 * D, D, params + lo->w1, 4 * D, 0, hr,
             4 * D, threads);
        gelu_forward(gh, hr, (size_t)rc * 4 * D);
        memcpy(x_out + r0 * D, x_mid + r0 * D, (size_t)rc * D * sizeof *x_out);
        gemm(0, 0, rc, D, 4 * D, 1, gh, 4 * D, params + lo->w2, D, 1, x_out + r0 * D, D,
             threads);
    }
    model_scratch_free(chunk);
    return CA_OK;
}

/* LN1 of the input rows, and at the query rows when those differ (ln1, lnq: [B rin][D],
 * [B rq][D]); lnq == ln1 when the query rows are the input rows. Forward and the
 * backward's recompute alike: the same values. */
static void block_ln1(const model_config *cfg, const model_layer_offsets *lo,
                      const real *params, int B, const block_acts *a, real *ln1, real *lnq)
{
    layernorm_apply(ln1, a->x_in, a->mean1, a->rstd1, params + lo->ln1_g,
                    params + lo->ln1_b, (int)((size_t)B * a->rin), cfg->d_model);
    if (a->q_src) gather_rows(lnq, ln1, a->q_src, B, a->rq, a->rin, cfg->d_model);
}

/* Forward: a->x_in set by the caller. */
static ca_status block_forward(const model_exec *ex, const model_config *cfg,
                               const model_layer_offsets *lo, const real *params, int B,
                               int n, block_acts *a)
{
    const int D = cfg->d_model, H = cfg->heads, d = D / H, th = ex->threads;
    const size_t in = (size_t)B * a->rin, q = (size_t)B * a->rq, out = (size_t)B * a->rout;
    const real *wqkv = params + lo->wqkv;
    ca_status st = CA_ERR_NOMEM;
    /* Kept for the backward: the statistics of both LayerNorms, q, k, v, o, lse, x_mid,
     * h (unless recomputed) and x_out. LN outputs, the merged attention output and
     * GELU's output are recomputed there (elementwise, from what is kept), so they live
     * in scratch for the duration of the call. */
    real *ln1 = model_scratch_alloc(in * D * sizeof *ln1);
    real *lnq = a->q_src ? model_scratch_alloc(q * D * sizeof *lnq) : ln1;
    real *lin = model_scratch_alloc((in > q ? in : q) * 3 * D * sizeof *lin);
    real *att = NULL, *x_res = NULL;
    if (!ln1 || !lnq || !lin) goto out;
    layernorm_forward(ln1, a->mean1, a->rstd1, a->x_in, params + lo->ln1_g,
                      params + lo->ln1_b, (int)in, D);
    if (a->q_src) gather_rows(lnq, ln1, a->q_src, B, a->rq, a->rin, D);
    /* Projections: q on the query rows, k and v on the input rows. */
    if (a->q_src) {
        gemm(0, 0, (int)q, D, D, 1, lnq, D, wqkv, 3 * D, 0, lin, 3 * D, th);
        split_heads(a->qh, lin, 3 * D, 0, B, a->rq, H, d);
        gemm(0, 0, (int)in, 2 * D, D, 1, ln1, D, wqkv + D, 3 * D, 0, lin + D, 3 * D, th);
    } else {
        gemm(0, 0, (int)in, 3 * D, D, 1, ln1, D, wqkv, 3 * D, 0, lin, 3 * D, th);
        split_heads(a->qh, lin, 3 * D, 0, B, a->rq, H, d);
    }
    split_heads(a->kh, lin, 3 * D, D, B, a->rin, H, d);
    split_heads(a->vh, lin, 3 * D, 2 * D, B, a->rin, H, d);
    model_scratch_free(lin);
    if (lnq != ln1) model_scratch_free(lnq);
    model_scratch_free(ln1);
    lin = lnq = ln1 = NULL;
    const ca_shape sh = {n, d, B * H, a->first};
    st = attention(ex, ca_op_get(layer_op(a->kind))->fwd, sh, a->qh, a->kh, a->vh, a->oh,
                   a->lse, NULL, NULL, NULL, NULL);
    if (st != CA_OK) goto out;
    st = CA_ERR_NOMEM;
    if (!(att = model_scratch_alloc(out * D * sizeof *att))) goto out;
    merge_heads(att, a->oh, D, 0, B, a->rout, H, d);
    /* The residual: each output row continues its input row. */
    const real *res = a->x_in;
    if (a->res_src) {
        if (!(x_res = model_scratch_alloc(out * D * sizeof *x_res))) goto out;
        gather_rows(x_res, a->x_in, a->res_src, B, a->rout, a->rin, D);
#ifdef MODEL_MUTANT
        if (model_mutant_planted == MUT_SHARED_RESIDUAL && a->kind == LAYER_SHARED)
            mutant_keep_diagonal(x_res, B, n, a->first, D);
#endif
        res = x_res;
    }
    st = block_tail(cfg, lo, params, th, out, att, res, a->x_mid, a->mean2, a->rstd2, a->h,
                    a->x_out);
out:
    if (lnq != ln1) model_scratch_free(lnq);
    model_scratch_free(ln1); model_scratch_free(lin); model_scratch_free(att);
    model_scratch_free(x_res);
    return st;
}

/* dst [cols][rows] = src [rows][cols]^T */
static void transpose(real *dst, const real *src, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* Backward: dx_out [B rout][D] in; dx_in [B rin][D] overwritten; parameter gradients
 * accumulated into grads. */
static ca_status block_backward(const model_exec *ex, const model_config *cfg,
                                const model_layer_offsets *lo, const real *params, int B,
                                int n, const block_acts *a, const real *dx_out, real *dx_in,
                                real *grads)
{
    const int D = cfg->d_model, H = cfg->heads, d = D / H, th = ex->threads;
    const size_t in = (size_t)B * a->rin, q = (size_t)B * a->rq, out = (size_t)B * a->rout;
    const size_t nD = out * (size_t)D, RC = mlp_rows(D, th);
    size_t big = in > out ? in : out;
    if (q > big) big = q;
    const real *wqkv = params + lo->wqkv;
    ca_status st = CA_ERR_NOMEM;
    real *dx_mid = model_scratch_alloc(nD * sizeof *dx_mid);
    real *dtmp = model_scratch_alloc(big * D * sizeof *dtmp);
    /* [RC][D] LN2, [RC][4D] GELU's output then its gradient, [RC][4D] h when not kept */
    real *chunk = model_scratch_alloc(RC * (a->keep_h ? 5 : 9) * D * sizeof *chunk);
    /* W2^T [D][4D] and W1^T [4D][D], once for every row block's dy W2^T and dh W1^T */
    real *w2t = model_scratch_alloc(8 * (size_t)D * D * sizeof *w2t), *w1t = w2t + 4 * D * D;
    real *x = NULL, *ln1 = NULL, *lnq = NULL, *dq3 = NULL, *dqh = NULL, *dkh = NULL, *dvh = NULL;
    if (!dx_mid || !dtmp || !chunk || !w2t) goto out;
    transpose(w2t, params + lo->w2, 4 * D, D);
    transpose(w1t, params + lo->w1, D, 4 * D);

    /* MLP: x_out = x_mid + GELU(LN2(x_mid) W1) W2, RC rows at a time, LN2 and (unless
     * kept) h recomputed. The weight gradients add the row blocks in row order, each
     * entry's chain of fused multiply-adds continuing (regt_gemm): the bits of one
     * product over all rows. */
    for (size_t r0 = 0; r0 < out; r0 += RC) {
        const int rc = (int)(out - r0 < RC ? out - r0 : RC);
        const real *dy = dx_out + r0 * D;
        real *ln2 = chunk, *s4 = chunk + RC * D;
        real *h = a->keep_h ? a->h + r0 * 4 * D : chunk + RC * 5 * D;
        layernorm_apply(ln2, a->x_mid + r0 * D, a->mean2 + r0, a->rstd2 + r0,
                        params + lo->ln2_g, params + lo->ln2_b, rc, D);
        if (!a->keep_h)
            gemm(0, 0, rc, 4 * D, D, 1, ln2, D, params + lo->w1, 4 * D, 0, h, 4 * D, th);
        gelu_forward(s4, h, (size_t)rc * 4 * D);
        gemm(1, 0, 4 * D, D, rc, 1, s4, 4 * D, dy, D, 1, grads + lo->w2, D, th);
        gemm(0, 0, rc, 4 * D, D, 1, dy, D, w2t, 4 * D, 0, s4, 4 * D, th);
        gelu_backward(s4, s4, h, (size_t)rc * 4 * D);
        gemm(0, 0, rc, D, 4 * D, 1, s4, 4 * D, w1t, D, 0, dtmp + r0 * D, D, th);
        gemm(1, 0, D, 4 * D, rc, 1, ln2, D, s4, 4 * D, 1, grads + lo->w1, 4 * D, th);
    }
    model_scratch_free(chunk);
    model_scratch_free(w2t);
    chunk = w2t = NULL;
    memcpy(dx_mid, dx_out, nD * sizeof *dx_mid);
    layernorm_backward(dx_mid, grads + lo->ln2_g, grads + lo->ln2_b, dtmp, a->x_mid,
                       a->mean2, a->rstd2, params + lo->ln2_g, (int)out, D);

    /* Attention: x_mid = x_res + merge(attention(q, k, v)) Wo, merge recomputed. x holds
     * the merged output, then dO by heads. */
    x = model_scratch_alloc(nD * sizeof *x);
    dqh = model_scratch_alloc(q * D * sizeof *dqh);
    dkh = model_scratch_alloc(in * D * sizeof *dkh);
    dvh = model_scratch_alloc(in * D * sizeof *dvh);
    if (!x || !dqh || !dkh || !dvh) goto out;
    merge_heads(x, a->oh, D, 0, B, a->rout, H, d);
    gemm(0, 1, (int)out, D, D, 1, dx_mid, D, params + lo->wo, D, 0, dtmp, D, th);
    gemm(1, 0, D, D, (int)out, 1, x, D, dx_mid, D, 1, grads + lo->wo, D, th);
    split_heads(x, dtmp, D, 0, B, a->rout, H, d);
    const ca_shape sh = {n, d, B * H, a->first};
    st = attention(ex, ca_op_get(layer_op(a->kind))->bwd, sh, a->qh, a->kh, a->vh, a->oh,
                   a->lse, x, dqh, dkh, dvh);
    if (st != CA_OK) goto out;
    st = CA_ERR_NOMEM;
    model_scratch_free(x);
    x = NULL;
    /* Projections: the gradients of q, k, v back through wqkv to LN1's output. */
    if (!(dq3 = model_scratch_alloc(big * 3 * D * sizeof *dq3))) goto out;
    merge_heads(dq3, dkh, 3 * D, D, B, a->rin, H, d);
    merge_heads(dq3, dvh, 3 * D, 2 * D, B, a->rin, H, d);
    model_scratch_free(dkh);
    model_scratch_free(dvh);
    dkh = dvh = NULL;
    ln1 = model_scratch_alloc(in * D * sizeof *ln1);
    if (a->q_src) lnq = model_scratch_alloc(q * D * sizeof *lnq);
    if (!ln1 || (a->q_src && !lnq)) goto out;
    block_ln1(cfg, lo, params, B, a, ln1, lnq);
    if (a->q_src) {
        gemm(1, 0, D, 2 * D, (int)in, 1, ln1, D, dq3 + D, 3 * D, 1, grads + lo->wqkv + D,
             3 * D, th);
        gemm(0, 1, (int)in, D, 2 * D, 1, dq3 + D, 3 * D, wqkv + D, 3 * D, 0, dtmp, D, th);
        /* The queries: their own rows, added into the input rows they came from. */
        merge_heads(dq3, dqh, D, 0, B, a->rq, H, d);
        gemm(1, 0, D, D, (int)q, 1, lnq, D, dq3, D, 1, grads + lo->wqkv, 3 * D, th);
        gemm(0, 1, (int)q, D, D, 1, dq3, D, wqkv, 3 * D, 0, dq3 + q * D, D, th);
        scatter_add_rows(dtmp, dq3 + q * D, a->q_src, B, a->rq, a->rin, D);
    } else {
        merge_heads(dq3, dqh, 3 * D, 0, B, a->rin, H, d);
        gemm(1, 0, D, 3 * D, (int)in, 1, ln1, D, dq3, 3 * D, 1, grads + lo->wqkv, 3 * D,
             th);
        gemm(0, 1, (int)in, D, 3 * D, 1, dq3, 3 * D, wqkv, 3 * D, 0, dtmp, D, th);
    }
    memset(dx_in, 0, in * D * sizeof *dx_in);
    layernorm_backward(dx_in, grads + lo->ln1_g, grads + lo->ln1_b, dtmp, a->x_in,
                       a->mean1, a->rstd1, params + lo->ln1_g, (int)in, D);
#ifdef MODEL_MUTANT
    if (model_mutant_planted == MUT_SHARED_RES_GRAD && a->kind == LAYER_SHARED)
        mutant_keep_diagonal(dx_mid, B, n, a->first, D);
#endif
    scatter_add_rows(dx_in, dx_mid, a->res_src, B, a->rout, a->rin, D);
    st = CA_OK;
out:
    model_scratch_free(dx_mid); model_scratch_free(dtmp); model_scratch_free(chunk);
    model_scratch_free(w2t); model_scratch_free(x); model_scratch_free(ln1); model_scratch_free(lnq);
    model_scratch_free(dq3); model_scratch_free(dqh); model_scratch_free(dkh);
    model_scratch_free(dvh);
    return st;
}

/* x0[b][i] = wte[tokens[b][i]] + wpe[pos0 + i], i < n: [B n][D]. pos0 > 0: a
 * decode step's row, continuing a sequence already cached. */
static void embed_forward(const model_config *cfg, const real *params, int B, int n, int pos0,
                          const int *tokens, real *x0)
{
    const model_offsets go = model_global_offsets(cfg);
    const int D = cfg->d_model;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            const real *te = params + go.wte + (size_t)tokens[(size_t)b * n + i] * D;
            const real *pe = params + go.wpe + (size_t)(pos0 + i) * D;
            real *x = x0 + ((size_t)b * n + i) * D;
            for (int j = 0; j < D; j++) x[j] = te[j] + pe[j];
        }
}

static void embed_backward(const model_config *cfg, int B, int n, const int *tokens,
                           const real *dx0, real *grads)
{
    const model_offsets go = model_global_offsets(cfg);
    const int D = cfg->d_model;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            const real *g = dx0 + ((size_t)b * n + i) * D;
            real *te = grads + go.wte + (size_t)tokens[(size_t)b * n + i] * D;
            real *pe = grads + go.wpe + (size_t)i * D;
            for (int j = 0; j < D; j++) { te[j] += g[j]; pe[j] += g[j]; }
        }
}
