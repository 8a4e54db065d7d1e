/* regtile.c: the register-kernel backend of regtile.h.
 *
 * Vectorisation: explicit GCC vector types (vexp.h) rather than hoping the
 * auto-vectoriser finds the reductions (it cannot reassociate float sums under -std=c11
 * without -ffast-math). The products run on the widest vector the build targets: 16
 * lanes where -march gives AVX-512 (two 512-bit FMA pipes on Skylake-SP: 8-lane code
 * there can reach only half the FMA peak), 8 lanes otherwise (AVX2 + FMA, or SSE when
 * built without -mavx). Every C entry is the same chain of operations at either width,
 * so the result is bit-identical across them.
 */
#include "regtile.h"

#include <math.h>
#include <string.h>

#include "vexp.h"

#define INLINE static inline __attribute__((always_inline))

#ifdef __AVX512F__
enum { LANES = 16 };
typedef float vf __attribute__((vector_size(64)));
typedef float vf_u __attribute__((vector_size(64), aligned(4), may_alias));
INLINE vf bcv(float x) { return (vf){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
INLINE vf fmav(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
#else
enum { LANES = 8 };
typedef v8f vf;
typedef v8f_u vf_u;
INLINE vf bcv(float x) { return bc8(x); }
INLINE vf fmav(vf a, vf b, vf c) { return fma8(a, b, c); }
#endif
INLINE vf ldv(const float *p) { return *(const vf_u *)p; }
INLINE void stv(float *p, vf x) { *(vf_u *)p = x; }

/* C (+)= A B for an mr x (LANES nv) block, mr <= 6, nv in {1, 2}; A read by broadcasts
 * with arbitrary strides (so A^T costs nothing), B rows contiguous (ldb), C in place.
 * A: element (i, p) at a[i*ars + p*acs]  B: [k][ldb]  C: [mr][ldc] */
INLINE void kern(int mr, int nv, int fused, int k, const float *a, ptrdiff_t ars,
                 ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                 int acc)
{
    vf s[6][2];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            s[r][v] = acc ? ldv(c + r * ldc + LANES * v) : bcv(0.0f);
    for (int p = 0; p < k; p++) {
        vf b0 = ldv(b + p * ldb), b1 = nv > 1 ? ldv(b + p * ldb + LANES) : b0;
        const float *ap = a + p * acs;
        for (int r = 0; r < mr; r++) {
            vf ar = bcv(ap[r * ars]);
            s[r][0] = fused ? fmav(ar, b0, s[r][0]) : s[r][0] + ar * b0;
            if (nv > 1) s[r][1] = fused ? fmav(ar, b1, s[r][1]) : s[r][1] + ar * b1;
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) stv(c + r * ldc + LANES * v, s[r][v]);
}

/* One column strip (LANES nv wide) of C, all m rows, 6 at a time. */
INLINE void strip(int nv, int fused, int m, int k, const float *a, ptrdiff_t ars,
                  ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                  int acc)
{
    int i = 0;
    for (; i + 6 <= m; i += 6)
        kern(6, nv, fused, k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, acc);
    const float *ai = a + i * ars;
    float *ci = c + i * ldc;
    switch (m - i) {
    case 5: kern(5, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 4: kern(4, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 3: kern(3, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 2: kern(2, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 1: kern(1, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    default: break;
    }
}

/* C (+)= A B (acc = 1 adds, 0 overwrites). Column strips of 2 LANES keep one k x 2 LANES
 * panel of B in L1 while all rows of A stream past it; columns beyond the last multiple
 * of LANES (only when n = d is not one, or in a sequence's last key tile) go scalar.
 * fused = 0 rounds each product before adding it, in the naive code's order (a sum from
 * p = 0 up): the scores S = q.k and dP = dO.v are then bit-equal to the baseline's, so
 * with logits x 1e4, where rounding of S alone decides the error, this code's error
 * tracks the baseline's instead of drawing its own. Its price depends on the core: on
 * Zen3 nothing (multiplies and adds issue on their own pipes, 2 + 2 a cycle, matching 2
 * FMAs), on Skylake-SP one issue slot more per multiply-add (multiply, add and FMA share
 * the same two pipes).
 * A: m x k via (ars, acs)  B: [k][ldb]  C: [m][ldc] */
static void gemm_x(int fused, int m, int n, int k, const float *a, ptrdiff_t ars,
                   ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                   int acc)
{
    int j = 0;
    for (; j + 2 * LANES <= n; j += 2 * LANES) {
        if (fused) strip(2, 1, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        else strip(2, 0, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
    }
    if (j + LANES <= n) {
        if (fused) strip(1, 1, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        else strip(1, 0, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        j += LANES;
    }
    for (; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = acc ? c[i * ldc + j] : 0.0f;
            for (int p = 0; p < k; p++)
                s = fused ? fmaf(a[i * ars + p * acs], b[p * ldb + j], s)
                          : s + a[i * ars + p * acs] * b[p * ldb + j];
            c[i * ldc + j] = s;
        }
}

size_t regt_packed_floats(size_t n, size_t d) { return regt_tiles(n) * REGT_B * d; }

void regt_pack(int n, int d, const float *x, float *xt)
{
    for (int t0 = 0; t0 < n; t0 += REGT_B) {
        float *dst = xt + (size_t)(t0 / REGT_B) * d * REGT_B;
        int rows = n - t0 < REGT_B ? n - t0 : REGT_B;
        if (rows < REGT_B) memset(dst, 0, (size_t)d * REGT_B * sizeof *dst);
        for (int j = 0; j < rows; j++) {
            const float *src = x + (size_t)(t0 + j) * d;
            for (int c = 0; c < d; c++) dst[(size_t)c * REGT_B + j] = src[c];
        }
    }
}

/* The scores are products whose result is a dot product the naive code also forms. */
void regt_scores(int m, int n, int d, const float *a, const float *xt, int j0, float *s,
                 ptrdiff_t lds)
{
    gemm_x(0, m, (n + 7) & ~7, d, a, d, 1, xt + (size_t)(j0 / REGT_B) * d * REGT_B, REGT_B,
           s, lds, 0);
}

/* out_j = q . x_j for nk keys, each a sum from c = 0 of rounded products (the naive
 * code's order), 8 keys to the lanes so the chains run side by side: the score form for
 * an unprepared operand (decode, where packing would double the memory traffic of a
 * one-row query). q: [d]  x: [nk][d]  out: [nk] */
static void dots_by_key(int d, int nk, const float *q, const float *x, float *out)
{
    int j = 0;
    for (; j + 8 <= nk; j += 8) {
        const float *xj = x + (size_t)j * d;
        v8f acc = bc8(0.0f);
        for (int c = 0; c < d; c++) {
            v8f kv = {xj[c], xj[d + c], xj[2 * d + c], xj[3 * d + c],
                      xj[4 * d + c], xj[5 * d + c], xj[6 * d + c], xj[7 * d + c]};
            acc = acc + bc8(q[c]) * kv;
        }
        st8(out + j, acc);
    }
    for (; j < nk; j++) {
        float acc = 0.0f;
        for (int c = 0; c < d; c++) acc += q[c] * x[(size_t)j * d + c];
        out[j] = acc;
    }
}

static void score(const flash_ops *ops, int m, int n, int d, const float *a,
                  const float *x, const float *xp, int j0, float *s, int lds)
{
    (void)ops;
    if (xp) {
        regt_scores(m, n, d, a, xp, j0, s, lds);
        return;
    }
    for (int r = 0; r < m; r++)
        dots_by_key(d, n, a + (size_t)r * d, x + (size_t)j0 * d, s + (size_t)r * lds);
}

/* The accumulating products (P V, P^T dO, dS^T Q, dS K): fused, fewer roundings. */
static void prod(const flash_ops *ops, int add, int trans_a, int m, int n, int k,
                 const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    (void)ops;
    gemm_x(1, m, n, k, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, ldb, c, ldc, add);
}

/* D_i in the exact order of this backend's dP = dO V^T (products rounded, summed from
 * c = 0). */
static void rowdot(int n, int d, const float *dout, const float *o, float *D)
{
    for (int i = 0; i < n; i++) {
        const float *a = dout + (size_t)i * d, *b = o + (size_t)i * d;
        float s = 0.0f;
        for (int c = 0; c < d; c++) s += a[c] * b[c];
        D[i] = s;
    }
}

const flash_ops regt_ops = {
    .bq = REGT_B, .bk = REGT_B, .bq_bwd = REGT_B, .bk_bwd = REGT_B, .threads = 1,
    .score = score, .prod = prod,
    .rowdot = rowdot,
};
