/* flash.c: the tile engine of flash.h: masks, online softmax and backward between the
 * backend's tile products.
 *
 * Row loops run over whole 8-lane vectors of a tile row, up to the key count rounded up
 * to 8 (the row stride); lanes past the visible keys are masked by selects, never by
 * arithmetic, so that whatever a backend left there (or a non-finite masked score)
 * cannot leak in.
 * Each backend product call is timed into the profile's products when the profile is on
 * (kprof.h, the bench's --split mode); off, that costs one branch a call.
 */
#include "flash.h"

#include <math.h>
#include <string.h>

#include "softmax_rows.h"
#include "tile_traits.h"
#include "kprof.h"
#include "vexp.h"
#include "vscore.h"
#include "vrow.h"

/* Every backend product goes through these two, so that the profile (kprof.h) sees all
 * of them and nothing else. */
#define SCORE(...) KPROF_TIME(KPROF_PRODUCTS, ops->score(ops, __VA_ARGS__))
#define PROD(...) KPROF_TIME(KPROF_PRODUCTS, ops->prod(ops, __VA_ARGS__))

#define INLINE static inline __attribute__((always_inline))

static inline int imin(int a, int b) { return a < b ? a : b; }

/* Lane by lane, yes ? a : b (yes from a vector comparison: all ones or all zeros). */
INLINE v8f pick(v8i yes, v8f a, v8f b) { return (v8f)((yes & (v8i)a) | (~yes & (v8i)b)); }

/* ---- scratch ------------------------------------------------------------------------ */

static size_t tile_floats(const flash_ops *ops)
{
    size_t f = (size_t)ops->bq * ops->bk, b = (size_t)ops->bq_bwd * ops->bk_bwd;
    return f > b ? f : b;
}

static size_t rowvec_floats(const flash_ops *ops)
{
    return round_up_to((size_t)(ops->bq > ops->bq_bwd ? ops->bq : ops->bq_bwd), LINE_FLOATS);
}

/* Two tiles (S/P and dP/dS) and five row vectors (the forward's m, l, and per tile the
 * rescale factor, the subtrahend and the sum of each row's weights; the backward's sums
 * of D use two). */
size_t flash_scratch_floats(const flash_ops *ops)
{
    return 2 * tile_floats(ops) + 5 * rowvec_floats(ops);
}

/* ---- masks and row kernels ----------------------------------------------------------- */

/* Keys of the tile [k0, k0 + nk) that query row qi sees: causal cuts at the diagonal. */
static inline int visible(int causal, int qi, int k0, int nk)
{
    if (!causal) return nk;
    int c = qi - k0 + 1;
    return c < 0 ? 0 : c > nk ? nk : c;
}

/* Row stride of a score tile of nk keys: whole vectors, and no wider, so that a short
 * tile (every prefix of cubic below the tile width) stays compact in cache. */
static inline int tile_ld(int nk) { return (int)round_up_to((size_t)nk, ROW_VEC); }

/* Some row of the tile sees fewer than all nk keys (the first row sees the fewest). */
static inline int tile_masked(const flash_seq *s, int q0, int k0, int nk)
{
    return visible(s->causal, q0, k0, nk) < nk;
}

/* *pdp += sum_{c < cnt} p[c] dp[c], *psum += sum_{c < cnt} p[c]: one tile row's share
 * of D. */
static void row_pdp(const float *p, const float *dp, int cnt, float *pdp, float *psum)
{
    v8f a = bc8(0.0f), b = bc8(0.0f);
    int c = 0;
    for (; c + 8 <= cnt; c += 8) {
        v8f x = ld8(p + c);
        a = fma8(x, ld8(dp + c), a);
        b += x;
    }
    if (c < cnt) {
        v8i in = lanes_below(cnt, c);
        v8f x = keep(in, ld8(p + c));
        a = fma8(x, keep(in, ld8(dp + c)), a);
        b += x;
    }
    *pdp += hsum8(a);
    *psum += hsum8(b);
}

/* ---- forward -------------------------------------------------------------------------- */

/* O += P V over a tile whose masked P entries are 0 (O = P V on the first tile, which
 * every row sees, so o needs no zeroing). When the tile is masked and V has a
 * non-finite row, 0 * inf would reach rows that never see that key: then row by row,
 * each over its visible keys only. P: [nq][ld]  v: the tile's [nk][d]  o: [nq][d] */
static void fwd_pv(const flash_ops *ops, const flash_seq *s, int q0, int nq, int k0,
                   int nk, const float *P, int ld, float *o)
{
    const int d = s->d, add = k0 > 0;
    const float *v = s->v + (size_t)k0 * d;
    if (!tile_masked(s, q0, k0, nk) || all_finite(v, (size_t)nk * d)) {
        PROD(add, 0, nq, d, nk, P, ld, v, d, o, d);
        return;
    }
    for (int r = 0; r < nq; r++) {
        const int cnt = visible(s->causal, q0 + r, k0, nk);
        if (cnt > 0)
            PROD(add, 0, 1, d, cnt, P + (size_t)r * ld, ld, v, d,
                      o + (size_t)r * d, d);
    }
}

/* A block of one query row (a decode step, a cubic_last prefix) does d multiply-adds per
 * 8 bytes of key and value it reads once: it runs at the memory's pace. So its keys go
 * in runs of tiles (as many as the scratch's two tiles hold): the scores of the whole run
 * first, reading K as one sequential stream, then each tile's softmax and P V, reading V
 * as another. Read tile by tile (64-key tiles: 16 KB of K, then 16 KB of V), cubic_last
 * fwd at N = 1024 took about 30 ms on two Zen 5 cores with or without software prefetch
 * (0.6 of the triad bandwidth); as two long streams the hardware prefetcher alone serves
 * it in 24 ms, and software prefetch on top made it slower again. Each tile's arithmetic
 * is the same either way (the same score call on the same rows, then the same steps), so
 * the bits are too. A block of more rows reuses each tile from cache: one tile a run. */

/* The scores of the tile from k0 in a run from r0: each tile of a run has its own
 * tile_step floats of S. */
static inline float *run_tile(float *S, const flash_ops *ops, int r0, int k0, int tile_step)
{
    return S + (size_t)((k0 - r0) / ops->bk) * tile_step;
}

void flash_fwd_block(const flash_ops *ops, const flash_seq *s, int q0, int nq,
                     float *scratch)
{
    const int d = s->d;
    const float scale = 1.0f / sqrtf((float)d);
    const size_t rv = rowvec_floats(ops);
    float *S = scratch, *m = scratch + 2 * tile_floats(ops), *l = m + rv;
    float *alpha = l + rv, *sub = alpha + rv, *wsum = sub + rv;
    const int kend = s->causal ? imin(q0 + nq, s->nk) : s->nk;
    const float *q = s->q + (size_t)q0 * d;
    float *o = s->o + (size_t)q0 * d;
    /* keys a run: one tile, or for one row every tile the scratch's 2 tiles hold */
    const int one = nq == 1, tile_step = tile_ld(ops->bk);
    const int run = one ? 2 * (int)tile_floats(ops) / tile_step * ops->bk : ops->bk;

    /* The row state runs 8 rows to a vector (the row vectors hold whole lines); rows
     * from nq up to the next 8 are padding whose values are never used. */
    for (int r = 0; r < (int)round_up_to((size_t)nq, ROW_VEC); r++) {
        m[r] = -INFINITY;
        l[r] = wsum[r] = 0.0f;
    }
    for (int r0 = 0; r0 < kend; r0 += run) {
        const int rend = imin(r0 + run, kend);
        if (one) /* the run's scores, tile by tile, each at its offset in S */
            for (int k0 = r0; k0 < rend; k0 += ops->bk) {
                const int nk = imin(ops->bk, rend - k0);
                SCORE(1, nk, d, q, s->k, s->kp, k0, run_tile(S, ops, r0, k0, tile_step),
                      tile_ld(nk));
            }
        for (int k0 = r0; k0 < rend; k0 += ops->bk) {
            const int nk = imin(ops->bk, rend - k0), ld = tile_ld(nk);
            float *St = run_tile(S, ops, r0, k0, tile_step);
            if (!one) SCORE(nq, nk, d, q, s->k, s->kp, k0, St, ld);
            /* Every row's new max first, then the whole tile's weights in one call (see
             * softmax_rows.h: row by row, each exp waited on its row's max), then the sums. */
            max_rows(nq, nk, St, ld, s->causal, q0 - k0 + 1, wsum);
            for (int r = 0; r < nq; r += ROW_VEC) {
                const v8f tmax = bc8(scale) * ld8(wsum + r); /* rounding is monotonic */
                const v8f mold = ld8(m + r);
                const v8f mnew = pick(tmax > mold, tmax, mold);
                /* While every score so far is -inf the state stays empty (l = 0): exp of
                 * -inf - (-inf) would make a NaN of a row the reference keeps finite. */
                const v8f a = pick(mnew == mold, bc8(1.0f),
                                   pick(mold == bc8(-INFINITY), bc8(0.0f), vexp(mold - mnew)));
                st8(alpha + r, a);
                st8(sub + r, pick(mnew == bc8(-INFINITY), bc8(0.0f), mnew));
                st8(m + r, mnew);
            }
            exp_rows(nq, nk, St, ld, s->causal, q0 - k0 + 1, scale, sub, wsum);
            for (int r = 0; r < nq; r += ROW_VEC)
                st8(l + r, ld8(l + r) * ld8(alpha + r) + ld8(wsum + r));
            if (k0 > 0)
                for (int r = 0; r < nq; r++)
                    if (alpha[r] != 1.0f) vrow_scal(d, alpha[r], o + (size_t)r * d);
            fwd_pv(ops, s, q0, nq, k0, nk, St, ld, o);
        }
    }
    for (int r = 0; r < nq; r++) {
        float *orow = o + (size_t)r * d;
        const v8f vl = bc8(l[r]);
        int c = 0;
        for (; c + 8 <= d; c += 8) st8(orow + c, ld8(orow + c) / vl);
        for (; c < d; c++) orow[c] /= l[r];
        s->lse[q0 + r] = m[r] + logf(l[r]);
    }
}

void flash_fwd(const flash_ops *ops, const flash_seq *s, float *scratch)
{
    for (int q0 = 0; q0 < s->nq; q0 += ops->bq)
        flash_fwd_block(ops, s, q0, imin(ops->bq, s->nq - q0), scratch);
}

/* ---- backward ------------------------------------------------------------------------- */

/* The tile P = exp(scale Q K^T - lse) (masked entries 0) and dP = dO V^T of query rows
 * q0 .. q0+nq-1 and key rows k0 .. k0+nk-1. Both the D pass and the gradient pass make
 * exactly these calls on the same block grid, so they see bit-identical tiles.
 * P, dP: [nq][tile_ld(nk)] */
static void p_dp_tile(const flash_ops *ops, const flash_seq *s, int q0, int nq, int k0,
                      int nk, float *P, float *dP)
{
    const int d = s->d, ld = tile_ld(nk);
    const float scale = 1.0f / sqrtf((float)d);
    SCORE(nq, nk, d, s->q + (size_t)q0 * d, s->k, s->kp, k0, P, ld);
    SCORE(nq, nk, d, s->dout + (size_t)q0 * d, s->v, s->vp, k0, dP, ld);
    exp_rows(nq, nk, P, ld, s->causal, q0 - k0 + 1, scale, s->flse + q0, NULL);
}

void flash_delta_block(const flash_ops *ops, const flash_seq *s, int q0, int nq,
                       float *scratch)
{
    const int d = s->d;
    if (ops->rowdot) {
        ops->rowdot(nq, d, s->dout + (size_t)q0 * d, s->fo + (size_t)q0 * d, s->D + q0);
        return;
    }
    float *P = scratch, *dP = scratch + tile_floats(ops);
    float *pdp = dP + tile_floats(ops), *psum = pdp + rowvec_floats(ops);
    const int kend = s->causal ? imin(q0 + nq, s->nk) : s->nk;
    for (int r = 0; r < nq; r++) pdp[r] = psum[r] = 0.0f;
    for (int k0 = 0; k0 < kend; k0 += ops->bk_bwd) {
        const int nk = imin(ops->bk_bwd, s->nk - k0);
        p_dp_tile(ops, s, q0, nq, k0, nk, P, dP);
        const int ld = tile_ld(nk);
        for (int r = 0; r < nq; r++)
            row_pdp(P + (size_t)r * ld, dP + (size_t)r * ld,
                    visible(s->causal, q0 + r, k0, nk), pdp + r, psum + r);
    }
    for (int r = 0; r < nq; r++) s->D[q0 + r] = pdp[r] / psum[r];
}

void flash_delta(const flash_ops *ops, const flash_seq *s, float *scratch)
{
    if (ops->rowdot) {
        flash_delta_block(ops, s, 0, s->nq, scratch);
        return;
    }
    for (int q0 = 0; q0 < s->nq; q0 += ops->bq_bwd)
        flash_delta_block(ops, s, q0, imin(ops->bq_bwd, s->nq - q0), scratch);
}

/* dV += P^T dO, dK += dS^T Q, dQ += dS K over one tile (dS carries the scale). As in
 * fwd_pv, a masked tile with a non-finite partner row goes row by row (dV, dK: key row
 * j from the first query row that sees it; dQ: query row r over its visible keys). */
static void bwd_products(const flash_ops *ops, const flash_seq *s, int q0, int nq, int k0,
                         int nk, const float *P, const float *dS, int ld, float *dq,
                         float *dk, float *dv)
{
    const int d = s->d;
    const float *qb = s->q + (size_t)q0 * d, *dob = s->dout + (size_t)q0 * d;
    const float *kb = s->k + (size_t)k0 * d;
    float *dqb = dq + (size_t)q0 * d, *dkb = dk + (size_t)k0 * d, *dvb = dv + (size_t)k0 * d;
    if (!tile_masked(s, q0, k0, nk) ||
        (all_finite(qb, (size_t)nq * d) && all_finite(dob, (size_t)nq * d) &&
         all_finite(kb, (size_t)nk * d))) {
        PROD(1, 1, nk, d, nq, P, ld, dob, d, dvb, d);
        PROD(1, 1, nk, d, nq, dS, ld, qb, d, dkb, d);
        PROD(1, 0, nq, d, nk, dS, ld, kb, d, dqb, d);
        return;
    }
    for (int j = 0; j < nk; j++) {
        const int r0 = k0 + j - q0 > 0 ? k0 + j - q0 : 0;
        if (r0 >= nq) continue;
        const size_t at = (size_t)r0 * ld + j;
        PROD(1, 1, 1, d, nq - r0, P + at, ld, dob + (size_t)r0 * d, d,
                 dvb + (size_t)j * d, d);
        PROD(1, 1, 1, d, nq - r0, dS + at, ld, qb + (size_t)r0 * d, d,
                 dkb + (size_t)j * d, d);
    }
    for (int r = 0; r < nq; r++) {
        const int cnt = visible(s->causal, q0 + r, k0, nk);
        if (cnt > 0)
            PROD(1, 0, 1, d, cnt, dS + (size_t)r * ld, ld, kb, d,
                      dqb + (size_t)r * d, d);
    }
}

void flash_bwd_block(const flash_ops *ops, const flash_seq *s, int k0, int nk, float *dq,
                     float *dk, float *dv, float *scratch)
{
    const int ld = tile_ld(nk);
    const float scale = 1.0f / sqrtf((float)s->d);
    float *P = scratch, *dS = scratch + tile_floats(ops);
    /* Causal: query blocks before the key block see none of it; the first one that may
     * is the block holding row k0, on the D pass's grid. */
    const int qstart = s->causal ? k0 / ops->bq_bwd * ops->bq_bwd : 0;
    for (int q0 = qstart; q0 < s->nq; q0 += ops->bq_bwd) {
        const int nq = imin(ops->bq_bwd, s->nq - q0);
        p_dp_tile(ops, s, q0, nq, k0, nk, P, dS);
        ds_rows(nq, nk, P, dS, ld, s->causal, q0 - k0 + 1, scale, s->D + q0);
        bwd_products(ops, s, q0, nq, k0, nk, P, dS, ld, dq, dk, dv);
    }
}

void flash_bwd(const flash_ops *ops, const flash_seq *s, float *dq, float *dk, float *dv,
               float *scratch)
{
    flash_delta(ops, s, scratch);
    for (int k0 = 0; k0 < s->nk; k0 += ops->bk_bwd)
        flash_bwd_block(ops, s, k0, imin(ops->bk_bwd, s->nk - k0), dq, dk, dv, scratch);
}
