/* regtile.c: the register-kernel backend of regtile.h, one kernel path's copy.
 *
 * Vectorisation: explicit GCC vector types (vexp.h) rather than hoping the
 * auto-vectoriser finds the reductions (it cannot reassociate float sums under -std=c11
 * without -ffast-math). The products run on the widest vector the path's flags target:
 * 16 lanes on the avx512 path (two 512-bit FMA pipes on Skylake-SP: 8-lane code there
 * can reach only half the FMA peak), 8 lanes on avx2. Every C entry is the same chain of
 * operations at either width, so the result is bit-identical across them.
 *
 * The Makefile compiles this file once per path of ISAS (isa.h) with that path's flags
 * and -DISA_BUILD=<path>: the names regtile.h declares get the path's suffix here
 * (regt_ops_avx512, ...), the copy's table regt_isa_<path> is at the end, and
 * regtile_dispatch.c forwards regtile.h's functions to the chosen copy.
 */
#include "isa.h"
#ifndef ISA_BUILD
#error "regtile.c is built once per kernel path, with -DISA_BUILD=<path> (Makefile ISAS)"
#endif
#define regt_ops ISA_NAME(regt_ops)
#define regt_scores ISA_NAME(regt_scores)
#define regt_gemm ISA_NAME(regt_gemm)
#include "regtile.h"

#include <math.h>

#include "vexp.h"

#define INLINE static inline __attribute__((always_inline))

/* The register kernel on 8 lanes (v8f of vexp.h): kern8, strip8. */
#define RK(name) name##8
#define RK_V v8f
#define RK_LANES 8
#define RK_LD ld8
#define RK_ST st8
#define RK_BC bc8
#define RK_FMA fma8
#define RK_NV 2
#include "regtile_kern.h"

#ifdef __AVX512F__
/* ... and on 16 lanes: kern16, strip16. */
typedef float v16f __attribute__((vector_size(64)));
typedef float v16f_u __attribute__((vector_size(64), aligned(4), may_alias));
INLINE v16f ld16(const float *p) { return *(const v16f_u *)p; }
INLINE void st16(float *p, v16f x) { *(v16f_u *)p = x; }
INLINE v16f bc16(float x) { return (v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
INLINE v16f fma16(v16f a, v16f b, v16f c) { return _mm512_fmadd_ps(a, b, c); }
#define RK(name) name##16
#define RK_V v16f
#define RK_LANES 16
#define RK_LD ld16
#define RK_ST st16
#define RK_BC bc16
#define RK_FMA fma16
#define RK_NV 4
#include "regtile_kern.h"
enum { LANES = 16 };
#define strip_wide strip16
#else
enum { LANES = 8 };
#define strip_wide strip8
#endif

/* C (+)= A B (acc = 1 adds, 0 overwrites). Column strips of RK_NV LANES (4 on avx512, 2 on
 * avx2; then narrower ones for what is left) keep one k x strip panel of B in L1 while all
 * rows of A stream past it; 8 columns left over by 16-lane strips take an 8-lane one;
 * columns beyond the last multiple of 8 (only when n = d is not one) go scalar.
 * Every entry is one chain of fused multiply-adds from p = 0, the scores too: rounding
 * each product before adding it would cost one issue slot more per term where multiply,
 * add and FMA share the same two pipes (Skylake-SP), and verify holds the scores to a
 * bound that holds for any order, with or without FMA (verify/tolerance.h).
 * A: m x k via (ars, acs)  B: [k][ldb]  C: [m][ldc] */
static void gemm_x(int m, int n, int k, const float *a, ptrdiff_t ars,
                   ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                   int acc)
{
    int j = 0;
#ifdef __AVX512F__
    for (; j + 4 * LANES <= n; j += 4 * LANES)
        strip_wide(4, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
#endif
    for (; j + 2 * LANES <= n; j += 2 * LANES) {
        strip_wide(2, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
    }
    if (j + LANES <= n) {
        strip_wide(1, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        j += LANES;
    }
    if (LANES > 8 && j + 8 <= n) {
        strip8(1, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        j += 8;
    }
    for (; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = acc ? c[i * ldc + j] : 0.0f;
            for (int p = 0; p < k; p++)
                s = fmaf(a[i * ars + p * acs], b[p * ldb + j], s);
            c[i * ldc + j] = s;
        }
}

void regt_gemm(int acc, int m, int n, int k, const float *a, ptrdiff_t ars, ptrdiff_t acs,
               const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc)
{
    gemm_x(m, n, k, a, ars, acs, b, ldb, c, ldc, acc);
}

/* The scores: fused like the other products. */
void regt_scores(int m, int n, int d, const float *a, const float *xt, int j0, float *s,
                 ptrdiff_t lds)
{
    for (int j = 0; j < n; j += REGT_B) {
        const int w = n - j < REGT_B ? n - j : REGT_B;
        gemm_x(m, (int)round_up_to((size_t)w, ROW_VEC), d, a, d, 1,
               xt + (size_t)((j0 + j) / REGT_B) * d * REGT_B, REGT_B, s + j, lds, 0);
    }
}

#ifdef __AVX__
/* In place: r[i] holds 8 columns of key i on entry, r[c] column c of the 8 keys on exit. */
INLINE void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* columns 0 1 | 4 5, keys i, i+1 */
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /* columns 2 3 | 6 7 */
    }
    for (int i = 0; i < 8; i += 4) { /* keys i .. i+3 of columns c | c + 4 */
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));     /* c = 0 */
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2)); /* c = 1 */
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x31);
    }
}
#endif

/* out_j = q . x_j for nk keys, each a chain of fused multiply-adds from c = 0 (the
 * order of regt_scores, so a decode row equals the tile engine's), 8 keys to the lanes so the chains run side by side: the score form for
 * an unprepared operand (decode, where packing would double the memory traffic of a
 * one-row query). With AVX, 8 x 8 blocks of the keys are transposed in registers (24
 * shuffles a block) rather than gathered a float at a time (56 inserts): a cold decode
 * step must read its cache as fast as memory delivers it.
 * q: [d]  x: [nk][d]  out: [nk] */
static void dots_by_key(int d, int nk, const float *q, const float *x, float *out)
{
    int j = 0;
    for (; j + 8 <= nk; j += 8) {
        const float *xj = x + (size_t)j * d;
        v8f acc = bc8(0.0f);
        int c = 0;
#ifdef __AVX__
        for (; c + 8 <= d; c += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(xj + (size_t)i * d + c);
            transpose8(r);
            for (int i = 0; i < 8; i++) acc = fma8(bc8(q[c + i]), (v8f)r[i], acc);
        }
#endif
        for (; c < d; c++) {
            v8f kv = {xj[c], xj[d + c], xj[2 * d + c], xj[3 * d + c],
                      xj[4 * d + c], xj[5 * d + c], xj[6 * d + c], xj[7 * d + c]};
            acc = fma8(bc8(q[c]), kv, acc);
        }
        st8(out + j, acc);
    }
    for (; j < nk; j++) {
        float acc = 0.0f;
        for (int c = 0; c < d; c++) acc = fmaf(q[c], x[(size_t)j * d + c], acc);
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
    gemm_x(m, n, k, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, ldb, c, ldc, add);
}

/* D_i in the exact order of this backend's dP = dO V^T (one fused chain from c = 0). */
static void rowdot(int n, int d, const float *dout, const float *o, float *D)
{
    for (int i = 0; i < n; i++) {
        const float *a = dout + (size_t)i * d, *b = o + (size_t)i * d;
        float s = 0.0f;
        for (int c = 0; c < d; c++) s = fmaf(a[c], b[c], s);
        D[i] = s;
    }
}

const flash_ops regt_ops = {
    .bq = REGT_B, .bk = REGT_BK_FWD, .bq_bwd = REGT_B, .bk_bwd = REGT_B, .threads = 1,
    .score = score, .prod = prod,
    .rowdot = rowdot,
};

exp_rows_fn ISA_NAME(exp_rows);
max_rows_fn ISA_NAME(max_rows);
ds_rows_fn ISA_NAME(ds_rows);

const regt_isa ISA_NAME(regt_isa) = {
    .name = ISA_STR(ISA_BUILD), .needs = ISA_BUILD_FEATURES, .lanes = LANES,
    .ops = &regt_ops, .scores = regt_scores, .gemm = regt_gemm,
    .exp_rows = ISA_NAME(exp_rows), .max_rows = ISA_NAME(max_rows),
    .ds_rows = ISA_NAME(ds_rows),
};
