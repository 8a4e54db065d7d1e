/* blas.c: FlashAttention-style tiling whose matrix products all run through BLIS (on
 * the sub-configuration impls/kernels/blis_ctx.c picks from the CPU's features), with
 * the online softmax between them in vectorised C.
 *
 * Per query block the forward walks key blocks: S = s Q K^T (BLIS), a running max /
 * sum per row and the rescale of the partial output (C), O += P V (BLIS). The backward
 * owns one key block per task and walks the query blocks that see it, recomputing P
 * from the saved lse: S = s Q K^T, dV += P^T dO, dP = dO V^T, dS = P (dP - D),
 * dK += s dS^T Q, dQ += s dS K; five BLIS calls per tile, never an N x N matrix.
 *
 * Threads (ex->threads): OpenMP over independent tasks (head x query block, head x
 * key block, head x prefix) with single-threaded BLIS calls inside. The alternative,
 * tiles in sequence with multi-threaded BLIS, is kept behind CA_BLAS_THREADING=blis so
 * the two can be compared; see threading_mode(). */
#include "cubattn.h"
#include "blis_ctx.h"
#include "vexp.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HAVE_AVX2 1
#else
#define HAVE_AVX2 0
#endif

/* Block sizes at d = 64 (Zen3: 32K L1d, 512K L2 per core; BLIS zen3 sgemm micro-tile
 * 6 x 16, MC = 144, KC = 256).
 * BQ = 144 query rows: a whole number of 6-row micro-panels (no ragged edge inside BLIS)
 * and exactly BLIS's MC, so one packed A block covers the query tile.
 * BK = 256 keys: K and V tiles (2 x 64 KB) plus the S tile (144 KB) plus the output /
 * query rows (2 x 36 KB) plus BLIS's packed copies (~100 KB) stay within the 512 KB L2,
 * while the P V product gets k = 256 = KC, one full BLIS k-pass per call. Larger key
 * blocks spill S out of L2; smaller ones pay BLIS's per-call overhead (packing and the
 * call itself, a few microseconds) against less arithmetic.
 * The backward keeps two tiles (P and dP/dS) and touches six row blocks, so it uses a
 * square 144 x 144 tile (2 x 81 KB + 6 x 36 KB) for the same L2 budget. */
enum { BQ = 144, BK = 256, BQ_BWD = 144, BK_BWD = 144 };
/* The causal backward starts a key block's query blocks at the key block's first row;
 * they stay on the D pass's query grid only if key blocks are whole query blocks. */
_Static_assert(BK_BWD % BQ_BWD == 0, "key blocks must align with the query grid");

/* ---- vectorised exp and row kernels -------------------------------------------- */
/* The exp is vexp.h's, in GCC vector types: it is its own fallback on builds without
 * AVX2 (the SANITIZE=1 build), where the intrinsic loops below fall back to scalar. */

/* max of s[0..n), n >= 1. */
static float row_max(const float *s, int n)
{
    float m = -INFINITY;
    int c = 0;
#if HAVE_AVX2
    if (n >= 8) {
        __m256 vm = _mm256_loadu_ps(s);
        for (c = 8; c + 8 <= n; c += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(s + c));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        m = _mm_cvtss_f32(h);
    }
#endif
    for (; c < n; c++) m = s[c] > m ? s[c] : m;
    return m;
}

/* s[c] = exp(scale s[c] - sub) in place for c < n; returns their sum. The scale is
 * applied here, rounded on its own as naive's scale * dot is, rather than folded into
 * BLIS's alpha (which BLIS may apply to a packed operand, one rounding per term). */
static float row_exp(float *s, int n, float scale, float sub)
{
    int c = 0;
    v8f vs = bc8(0.0f), vsub = bc8(sub), vsc = bc8(scale);
    for (; c + 8 <= n; c += 8) {
        v8f p = vexp(ld8(s + c) * vsc - vsub);
        st8(s + c, p);
        vs += p;
    }
    float sum = hsum8(vs);
    for (; c < n; c++) {
        s[c] = expf(scale * s[c] - sub);
        sum += s[c];
    }
    return sum;
}

/* ds[c] = p[c] (ds[c] - D): dS from dP in place. */
static void row_dsoftmax(const float *restrict p, float *restrict ds, int n, float D)
{
    for (int c = 0; c < n; c++) ds[c] = p[c] * (ds[c] - D);
}

/* *pdp += sum_c p[c] dp[c], *psum += sum_c p[c]: one tile row's share of D. */
static void row_dot(const float *restrict p, const float *restrict dp, int n,
                    float *pdp, float *psum)
{
    float a = 0.0f, b = 0.0f;
    int c = 0;
#if HAVE_AVX2
    __m256 va = _mm256_setzero_ps(), vb = _mm256_setzero_ps();
    for (; c + 8 <= n; c += 8) {
        __m256 x = _mm256_loadu_ps(p + c);
        va = _mm256_fmadd_ps(x, _mm256_loadu_ps(dp + c), va);
        vb = _mm256_add_ps(vb, x);
    }
    a = hsum8((v8f)va);
    b = hsum8((v8f)vb);
#endif
    for (; c < n; c++) {
        a += p[c] * dp[c];
        b += p[c];
    }
    *pdp += a;
    *psum += b;
}

/* ---- BLIS calls -------------------------------------------------------------------- */

/* Row-major C = alpha op(A) op(B) + beta C through the chosen context with bt threads,
 * as ca_sgemm, but choosing BLIS's path: the score products (Q K^T, dO V^T: k = d = 64,
 * B transposed) ran at ~35 GFLOP/s per core on BLIS's small/unpacked ("sup") kernels
 * and ~60-70 on the packed path (tile microbenchmark, 144 x 256 x 64); the products
 * with a long k (P V, P^T dO, dS K, dS^T Q) are as fast or faster on sup. */
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc, int bt, int sup)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(bt, &rntm);
    if (!sup) bli_rntm_disable_l3_sup(&rntm);
    bli_sgemm_ex(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 m, n, k, &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1,
                 ca_blis_cntx(), &rntm);
}
enum { SUP = 1, PACKED = 0 };

/* Path for a score product of m x n: small tiles cost little either way, and there the
 * sup dot-product kernels (8 partial sums per dot) round S more accurately than the
 * packed kernels' one running sum (max |S| error 0.013 vs 0.043 at d = 64, logits
 * x1e4), which matters for verify's large-logit shapes, all small. */
static int score_path(int m, int n) { return m < 64 || n < 64 ? SUP : PACKED; }

/* ---- one attention instance ------------------------------------------------------ */

/* One head of causal / full, one prefix of cubic or cubic_shared, or one decode row:
 * nq query rows against nk keys, all rows contiguous with stride d. Causal query row i
 * sees keys 0..i (nq == nk); otherwise every row sees all nk keys. */
typedef struct att {
    int nq, nk, d, causal;
    float scale;
    const float *q, *k, *v;   /* q: [nq][d]  k, v: [nk][d] */
    float *o, *lse;           /* fwd out: o [nq][d], lse [nq] */
    const float *lsec, *dout;      /* bwd in: lse of the forward, dO */
    float *delta;                  /* bwd: D = sum_j P_ij dP_ij per query row, [nq] */
} att;

/* Keys of block [j0, j0 + nk) visible to query row i. */
static inline int visible(const att *a, int i, int j0, int nk)
{
    if (!a->causal) return nk;
    int c = i + 1 - j0;
    return c < 0 ? 0 : c > nk ? nk : c;
}

/* Per-thread scratch: two score-sized tiles and three row vectors. */
typedef struct scratch {
    float *s, *t;        /* [BQ][BK] each (the larger of the fwd and bwd tiles) */
    float *m, *l, *x;    /* [BQ] each */
} scratch;

static size_t tile_floats(void)
{
    size_t f = (size_t)BQ * BK, b = (size_t)BQ_BWD * BK_BWD;
    return f > b ? f : b;
}
static size_t rowvec_floats(void) { return ((size_t)(BQ > BQ_BWD ? BQ : BQ_BWD) + 15) & ~(size_t)15; }
static size_t slab_floats(void) { return 2 * tile_floats() + 3 * rowvec_floats(); }

static scratch scratch_of(float *base, int tid)
{
    scratch w;
    float *p = base + (size_t)tid * slab_floats();
    w.s = p;
    w.t = p + tile_floats();
    w.m = p + 2 * tile_floats();
    w.l = w.m + rowvec_floats();
    w.x = w.l + rowvec_floats();
    return w;
}

/* Forward of query rows [i0, i0 + mq) (mq <= BQ) over their visible keys, online
 * softmax over key blocks of BK. Writes a->o rows and a->lse entries.
 * q rows: [mq][d]; S tile: [mq][nk]; o rows: [mq][d]. bt = BLIS threads. */
static void fwd_qblock(const att *a, int i0, int mq, const scratch *w, int bt)
{
    const int d = a->d;
    const int kend = a->causal ? (i0 + mq < a->nk ? i0 + mq : a->nk) : a->nk;
    const float *q = a->q + (size_t)i0 * d;
    float *o = a->o + (size_t)i0 * d;
    float *m = w->m, *l = w->l, *alpha = w->x;
    for (int j0 = 0; j0 < kend; j0 += BK) {
        const int nk = kend - j0 < BK ? kend - j0 : BK;
        float *S = w->s;
        gemm(0, 1, mq, nk, d, 1.0f, q, d, a->k + (size_t)j0 * d, d, 0.0f, S, nk, bt,
             score_path(mq, nk));
        for (int r = 0; r < mq; r++) {
            float *sr = S + (size_t)r * nk;
            int cnt = visible(a, i0 + r, j0, nk);
            if (cnt == 0) { /* only in a later block: the row's keys all came earlier */
                memset(sr, 0, (size_t)nk * sizeof *sr);
                alpha[r] = 1.0f;
                continue;
            }
            float mx = a->scale * row_max(sr, cnt); /* rounding is monotonic */
            float mnew = j0 == 0 || mx > m[r] ? mx : m[r];
            float sum = row_exp(sr, cnt, a->scale, mnew);
            if (cnt < nk) memset(sr + cnt, 0, (size_t)(nk - cnt) * sizeof *sr);
            /* Every row sees key 0, so block 0 initialises m and l for all rows. */
            if (j0 == 0) {
                l[r] = sum;
                alpha[r] = 1.0f;
            } else {
                alpha[r] = expf(m[r] - mnew);
                l[r] = l[r] * alpha[r] + sum;
            }
            m[r] = mnew;
        }
        if (j0 > 0)
            for (int r = 0; r < mq; r++)
                if (alpha[r] != 1.0f) {
                    float *orow = o + (size_t)r * d;
                    for (int c = 0; c < d; c++) orow[c] *= alpha[r];
                }
        /* beta = 0 on the first block: BLIS then never reads o (it may hold garbage). */
        gemm(0, 0, mq, d, nk, 1.0f, S, nk, a->v + (size_t)j0 * d, d,
                 j0 == 0 ? 0.0f : 1.0f, o, d, bt, SUP);
    }
    for (int r = 0; r < mq; r++) {
        float *orow = o + (size_t)r * d;
        for (int c = 0; c < d; c++) orow[c] /= l[r];
        a->lse[i0 + r] = m[r] + logf(l[r]);
    }
}

/* Whole forward of one instance, query block by query block (one thread). */
static void fwd_all(const att *a, const scratch *w, int bt)
{
    for (int i0 = 0; i0 < a->nq; i0 += BQ)
        fwd_qblock(a, i0, a->nq - i0 < BQ ? a->nq - i0 : BQ, w, bt);
}

/* The tile P = exp(s Q K^T - lse) (masked entries 0) and dP = dO V^T of query rows
 * [i0, i0 + mq) and key rows [j0, j0 + nk). Both the D pass and the gradient pass make
 * exactly these calls on the same block grid, so they see bit-identical tiles.
 * P, dP: [mq][nk]. */
static void p_dp_tile(const att *a, int i0, int mq, int j0, int nk, float *P, float *dP,
                      int bt)
{
    const int d = a->d;
    gemm(0, 1, mq, nk, d, 1.0f, a->q + (size_t)i0 * d, d, a->k + (size_t)j0 * d, d,
             0.0f, P, nk, bt, score_path(mq, nk));
    for (int r = 0; r < mq; r++) {
        float *pr = P + (size_t)r * nk;
        int cnt = visible(a, i0 + r, j0, nk);
        row_exp(pr, cnt, a->scale, a->lsec[i0 + r]);
        if (cnt < nk) memset(pr + cnt, 0, (size_t)(nk - cnt) * sizeof *pr);
    }
    gemm(0, 1, mq, nk, d, 1.0f, a->dout + (size_t)i0 * d, d, a->v + (size_t)j0 * d, d,
             0.0f, dP, nk, bt, score_path(mq, nk));
}

/* D_i = sum_j P_ij dP_ij / sum_j P_ij for query rows [i0, i0 + mq) (i0 on the BQ_BWD
 * grid), from the very tiles the gradient pass uses, rather than dO . o. Equal in
 * exact arithmetic (sum_j P_ij = 1); but when a row's softmax is one-hot in float
 * (large logits) the winning key's dP - D must come out exactly 0, the true gradient
 * being vanishingly small, and only a D built from the same dP values guarantees that
 * (dO . o rounds differently from BLIS's dP: noise of order 1e-7 that dwarfs it).
 * Dividing by sum_j P_ij cancels the row's common error from the rounded lse
 * (|lse| u relative, large at large logits), which dO . o never sees.
 * Costs two of the tile's five products a second time. D: [mq]; x, l: scratch [mq]. */
static void delta_qblock(const att *a, int i0, int mq, const scratch *w, int bt)
{
    const int kend = a->causal ? (i0 + mq < a->nk ? i0 + mq : a->nk) : a->nk;
    float *pdp = w->m, *psum = w->l;
    for (int r = 0; r < mq; r++) pdp[r] = psum[r] = 0.0f;
    for (int j0 = 0; j0 < kend; j0 += BK_BWD) {
        const int nk = a->nk - j0 < BK_BWD ? a->nk - j0 : BK_BWD;
        p_dp_tile(a, i0, mq, j0, nk, w->s, w->t, bt);
        for (int r = 0; r < mq; r++)
            row_dot(w->s + (size_t)r * nk, w->t + (size_t)r * nk, nk, pdp + r, psum + r);
    }
    for (int r = 0; r < mq; r++) a->delta[i0 + r] = pdp[r] / psum[r];
}

/* Backward contribution of key rows [j0, j0 + nk) (nk <= BK_BWD) from every query
 * block that sees them. dk, dv rows [j0, j0 + nk) and dq rows of those queries
 * accumulate (targets: [nk rows][d] slices of the caller's buffers).
 * P tile, dS tile: [mq][nk]. */
static void bwd_kblock(const att *a, int j0, int nk, float *dq, float *dk, float *dv,
                       const scratch *w, int bt)
{
    const int d = a->d;
    const float *kj = a->k + (size_t)j0 * d;
    float *dkj = dk + (size_t)j0 * d, *dvj = dv + (size_t)j0 * d;
    float *P = w->s, *dS = w->t;
    /* Causal rows before j0 see none of these keys. */
    for (int i0 = a->causal ? j0 : 0; i0 < a->nq; i0 += BQ_BWD) {
        const int mq = a->nq - i0 < BQ_BWD ? a->nq - i0 : BQ_BWD;
        const float *qi = a->q + (size_t)i0 * d, *doi = a->dout + (size_t)i0 * d;
        p_dp_tile(a, i0, mq, j0, nk, P, dS, bt);
        gemm(1, 0, nk, d, mq, 1.0f, P, nk, doi, d, 1.0f, dvj, d, bt, SUP);
        for (int r = 0; r < mq; r++)
            row_dsoftmax(P + (size_t)r * nk, dS + (size_t)r * nk, nk, a->delta[i0 + r]);
        gemm(1, 0, nk, d, mq, a->scale, dS, nk, qi, d, 1.0f, dkj, d, bt, SUP);
        gemm(0, 0, mq, d, nk, a->scale, dS, nk, kj, d, 1.0f, dq + (size_t)i0 * d, d, bt, SUP);
    }
}

/* Whole backward of one instance (one thread); dq, dk, dv accumulate. */
static void bwd_all(const att *a, float *dq, float *dk, float *dv, const scratch *w, int bt)
{
    for (int i0 = 0; i0 < a->nq; i0 += BQ_BWD)
        delta_qblock(a, i0, a->nq - i0 < BQ_BWD ? a->nq - i0 : BQ_BWD, w, bt);
    for (int j0 = 0; j0 < a->nk; j0 += BK_BWD)
        bwd_kblock(a, j0, a->nk - j0 < BK_BWD ? a->nk - j0 : BK_BWD, dq, dk, dv, w, bt);
}

/* ---- threading ------------------------------------------------------------------ */

/* OpenMP tasks with 1-thread BLIS (default), or one task at a time with ex->threads
 * BLIS threads (CA_BLAS_THREADING=blis, kept for the measurement). Read once. */
static int blis_inside = -1;
static int threading_blis(void)
{
    int v = __atomic_load_n(&blis_inside, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("CA_BLAS_THREADING");
        v = e && strcmp(e, "blis") == 0;
        __atomic_store_n(&blis_inside, v, __ATOMIC_RELAXED);
    }
    return v;
}
static int omp_threads(int threads) { return threading_blis() ? 1 : threads; }
static int blis_threads(int threads) { return threading_blis() ? threads : 1; }

/* Task k of a list sorted by decreasing cost -> thread, in a snake order (0,1,..,n-1,
 * n-1,..,0, ...) that balances decreasing costs; fixed, so results are bit-identical
 * from run to run for a given thread count. */
static int snake_owner(long k, int nt)
{
    long round = k / nt, pos = k % nt;
    return (int)(round % 2 == 0 ? pos : nt - 1 - pos);
}

static float scale_of(int d) { return 1.0f / sqrtf((float)d); }

static att head_att(ca_shape sh, int h, int causal, const float *q, const float *k,
                    const float *v)
{
    const size_t hs = (size_t)sh.n * sh.d;
    att a = {.nq = sh.n, .nk = sh.n, .d = sh.d, .causal = causal, .scale = scale_of(sh.d),
             .q = q + h * hs, .k = k + h * hs, .v = v + h * hs};
    return a;
}

/* ---- workspace ------------------------------------------------------------------- */

static size_t mul_or_max(size_t a, size_t b)
{
    return a != 0 && b > SIZE_MAX / a ? SIZE_MAX : a * b;
}
static size_t add_or_max(size_t a, size_t b)
{
    return a == SIZE_MAX || b == SIZE_MAX || b > SIZE_MAX - a ? SIZE_MAX : a + b;
}

/* Workspace: [nt per-thread slabs][D: one float per output row (backward)]
 * [per-thread partial sums (causal: dq; shared: dq, dk, dv) for threads 1..nt-1,
 * reduced into the outputs in thread order at the end]. */
static size_t delta_floats(ca_entry e, ca_shape sh)
{
    if (e != CA_CAUSAL_BWD && e != CA_CUBIC_BWD && e != CA_SHARED_BWD) return 0;
    return mul_or_max(ca_out_rows(e, sh.n), (size_t)sh.heads);
}

static int partial_copies(ca_entry e)
{
    return e == CA_CAUSAL_BWD ? 1 : e == CA_SHARED_BWD ? 3 : 0;
}

static size_t partial_floats(ca_entry e, ca_shape sh, int nt)
{
    size_t one = mul_or_max(mul_or_max((size_t)sh.n, (size_t)sh.d), (size_t)sh.heads);
    return mul_or_max(mul_or_max(one, (size_t)partial_copies(e)), (size_t)(nt - 1));
}

static size_t workspace(ca_entry e, ca_shape sh, int threads)
{
    int nt = omp_threads(threads);
    size_t f = add_or_max(mul_or_max(slab_floats(), (size_t)nt), delta_floats(e, sh));
    f = add_or_max(f, partial_floats(e, sh, nt));
    return mul_or_max(f, sizeof(float));
}

static float *delta_of(const ca_exec *ex, int nt)
{
    return (float *)ex->ws + slab_floats() * nt;
}

/* Partial buffer of thread tid (>= 1) for copy c (0 dq, 1 dk, 2 dv). */
static float *partial_of(const ca_exec *ex, ca_entry e, ca_shape sh, int nt, int tid, int c)
{
    size_t one = (size_t)sh.n * sh.d * sh.heads;
    return delta_of(ex, nt) + delta_floats(e, sh) +
           ((size_t)(tid - 1) * partial_copies(e) + c) * one;
}

/* dst[x] += sum over threads 1..nt-1 of their partials, in thread order. */
static void reduce_partials(const ca_exec *ex, ca_entry e, ca_shape sh, int nt, int c,
                            float *dst)
{
    const long total = (long)sh.n * sh.d * sh.heads;
    const long chunk = 4096;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long x0 = 0; x0 < total; x0 += chunk) {
        long x1 = x0 + chunk < total ? x0 + chunk : total;
        for (int t = 1; t < nt; t++) {
            const float *p = partial_of(ex, e, sh, nt, t, c);
            for (long x = x0; x < x1; x++) dst[x] += p[x];
        }
    }
}

/* ---- entry points ----------------------------------------------------------------- */

/* causal / full forward. q, k, v, o: [heads][N][d]; lse: [heads][N].
 * Tasks are (head, query block), largest first (causal: the last blocks see most keys);
 * each writes its own rows, so dynamic scheduling stays deterministic. */
static ca_status rows_fwd(ca_shape sh, const ca_exec *ex, int causal, const float *q,
                          const float *k, const float *v, float *o, float *lse)
{
    const int nt = omp_threads(ex->threads), bt = blis_threads(ex->threads);
    const int nb = (sh.n + BQ - 1) / BQ;
    const long ntask = (long)nb * sh.heads;
    const size_t hs = (size_t)sh.n * sh.d;
#pragma omp parallel num_threads(nt)
    {
        scratch w = scratch_of(ex->ws, nt > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int b = nb - 1 - (int)(task / sh.heads), h = (int)(task % sh.heads);
            att a = head_att(sh, h, causal, q, k, v);
            a.o = o + h * hs;
            a.lse = lse + (size_t)h * sh.n;
            int i0 = b * BQ;
            fwd_qblock(&a, i0, sh.n - i0 < BQ ? sh.n - i0 : BQ, &w, bt);
        }
    }
    return CA_OK;
}

static ca_status causal_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    return rows_fwd(sh, ex, 1, q, k, v, o, lse);
}

static ca_status full_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, float *o, float *lse)
{
    return rows_fwd(sh, ex, 0, q, k, v, o, lse);
}

/* causal backward. q, k, v, o, dout, dq, dk, dv: [heads][N][d]; lse: [heads][N].
 * Tasks are (head, key block): each owns its dk, dv rows; dq rows are shared between
 * key blocks, so thread t > 0 accumulates dq into its own partial copy. Task order by
 * decreasing cost (earlier key blocks are seen by more queries), fixed owners. */
static ca_status causal_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    const int nt = omp_threads(ex->threads), bt = blis_threads(ex->threads);
    const int nb = (sh.n + BK_BWD - 1) / BK_BWD;
    const long ntask = (long)nb * sh.heads;
    const size_t hs = (size_t)sh.n * sh.d, all = hs * sh.heads;
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    memset(dq, 0, all * sizeof *dq);
    for (int t = 1; t < nt; t++)
        memset(partial_of(ex, CA_CAUSAL_BWD, sh, nt, t, 0), 0, all * sizeof *dq);
    (void)o;
    float *D = delta_of(ex, nt);
    const int nqb = (sh.n + BQ_BWD - 1) / BQ_BWD;
#pragma omp parallel num_threads(nt)
    {
        int tid = nt > 1 ? omp_get_thread_num() : 0;
        scratch w = scratch_of(ex->ws, tid);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < (long)nqb * sh.heads; task++) {
            int b = nqb - 1 - (int)(task / sh.heads), h = (int)(task % sh.heads);
            att a = head_att(sh, h, 1, q, k, v);
            a.lsec = lse + (size_t)h * sh.n;
            a.dout = dout + h * hs;
            a.delta = D + (size_t)h * sh.n;
            int i0 = b * BQ_BWD;
            delta_qblock(&a, i0, sh.n - i0 < BQ_BWD ? sh.n - i0 : BQ_BWD, &w, bt);
        }
        float *dqt = tid == 0 ? dq : partial_of(ex, CA_CAUSAL_BWD, sh, nt, tid, 0);
        /* Owners among the team OpenMP actually gave: num_threads is a request, and
         * nested in another parallel region the team is smaller (the partials of
         * threads that never ran stay zero, so the reduction is unchanged). */
        const int team = omp_get_num_threads();
        for (long task = 0; task < ntask; task++) {
            if (snake_owner(task, team) != tid) continue;
            int b = (int)(task / sh.heads), h = (int)(task % sh.heads);
            att a = head_att(sh, h, 1, q, k, v);
            a.lsec = lse + (size_t)h * sh.n;
            a.delta = D + (size_t)h * sh.n;
            a.dout = dout + h * hs;
            int j0 = b * BK_BWD;
            bwd_kblock(&a, j0, sh.n - j0 < BK_BWD ? sh.n - j0 : BK_BWD, dqt + h * hs,
                       dk + h * hs, dv + h * hs, &w, bt);
        }
    }
    if (nt > 1) reduce_partials(ex, CA_CAUSAL_BWD, sh, nt, 0, dq);
    return CA_OK;
}

/* Decode: k_t, v_t into row t of the caches, then q_t over rows 0..t as a one-row
 * forward. q_t, k_t, v_t, o_t: [heads][d]; caches: [heads][N][d]; lse_t: [heads].
 * Heads in parallel only when a step is long enough to repay the fork. */
static ca_status decode_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                             const float *k_t, const float *v_t, float *k_cache,
                             float *v_cache, float *o_t, float *lse_t)
{
    const int d = sh.d, nt = omp_threads(ex->threads), bt = blis_threads(ex->threads);
    const size_t hs = (size_t)sh.n * d;
    const int par = nt > 1 && sh.heads > 1 && (long)(t + 1) * d * sh.heads >= (1L << 16);
#pragma omp parallel num_threads(par ? nt : 1)
    {
        scratch w = scratch_of(ex->ws, par ? omp_get_thread_num() : 0);
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++) {
            float *kc = k_cache + h * hs, *vc = v_cache + h * hs;
            memcpy(kc + (size_t)t * d, k_t + (size_t)h * d, (size_t)d * sizeof *kc);
            memcpy(vc + (size_t)t * d, v_t + (size_t)h * d, (size_t)d * sizeof *vc);
            att a = {.nq = 1, .nk = t + 1, .d = d, .causal = 0, .scale = scale_of(d),
                     .q = q_t + (size_t)h * d, .k = kc, .v = vc,
                     .o = o_t + (size_t)h * d, .lse = lse_t + h};
            fwd_qblock(&a, 0, 1, &w, bt);
        }
    }
    return CA_OK;
}

/* The instance of prefix t (1-based) of head h: cubic reads its own packed rows,
 * cubic_shared the first t rows of the shared inputs; outputs are packed for both. */
static att prefix_att(ca_shape sh, int shared, int h, int t, const float *q,
                      const float *k, const float *v)
{
    const size_t T = ca_packed_rows((size_t)sh.n), d = (size_t)sh.d;
    const size_t in = shared ? (size_t)h * sh.n * d : (h * T + ca_prefix_offset((size_t)t)) * d;
    att a = {.nq = t, .nk = t, .d = sh.d, .causal = 0, .scale = scale_of(sh.d),
             .q = q + in, .k = k + in, .v = v + in};
    return a;
}

/* cubic / cubic_shared forward. cubic q, k, v: [heads][T][d]; shared q, k, v:
 * [heads][N][d]; o: [heads][T][d]; lse: [heads][T]. Tasks (head, prefix), longest
 * prefix first; each writes only its own packed rows. */
static ca_status prefixes_fwd(ca_shape sh, const ca_exec *ex, int shared, const float *q,
                              const float *k, const float *v, float *o, float *lse)
{
    const int nt = omp_threads(ex->threads), bt = blis_threads(ex->threads);
    const size_t T = ca_packed_rows((size_t)sh.n);
    const long ntask = (long)sh.n * sh.heads;
#pragma omp parallel num_threads(nt)
    {
        scratch w = scratch_of(ex->ws, nt > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int t = sh.n - (int)(task / sh.heads), h = (int)(task % sh.heads);
            att a = prefix_att(sh, shared, h, t, q, k, v);
            size_t out = h * T + ca_prefix_offset((size_t)t);
            a.o = o + out * sh.d;
            a.lse = lse + out;
            fwd_all(&a, &w, bt);
        }
    }
    return CA_OK;
}

static ca_status cubic_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, float *o, float *lse)
{
    return prefixes_fwd(sh, ex, 0, q, k, v, o, lse);
}

static ca_status shared_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    return prefixes_fwd(sh, ex, 1, q, k, v, o, lse);
}

/* cubic backward. q, k, v, o, dout, dq, dk, dv: [heads][T][d]; lse: [heads][T].
 * Prefixes share no rows, so a task (head, prefix) owns all its gradients. */
static ca_status cubic_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    const int nt = omp_threads(ex->threads), bt = blis_threads(ex->threads);
    const size_t T = ca_packed_rows((size_t)sh.n), all = T * sh.d * sh.heads;
    const long ntask = (long)sh.n * sh.heads;
    memset(dq, 0, all * sizeof *dq);
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    (void)o;
    float *D = delta_of(ex, nt);
#pragma omp parallel num_threads(nt)
    {
        scratch w = scratch_of(ex->ws, nt > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int t = sh.n - (int)(task / sh.heads), h = (int)(task % sh.heads);
            att a = prefix_att(sh, 0, h, t, q, k, v);
            size_t off = (h * T + ca_prefix_offset((size_t)t)) * sh.d;
            a.lsec = lse + h * T + ca_prefix_offset((size_t)t);
            a.delta = D + h * T + ca_prefix_offset((size_t)t);
            a.dout = dout + off;
            bwd_all(&a, dq + off, dk + off, dv + off, &w, bt);
        }
    }
    return CA_OK;
}

/* cubic_shared backward, prefix by prefix (Theta(N^3 d)). q, k, v, dq, dk, dv:
 * [heads][N][d]; o, dout: [heads][T][d]; lse: [heads][T]. Every prefix adds into the
 * same dq, dk, dv, so thread t > 0 accumulates into its own copies; fixed owners. */
static ca_status shared_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    const int nt = omp_threads(ex->threads), bt = blis_threads(ex->threads);
    const size_t T = ca_packed_rows((size_t)sh.n), hs = (size_t)sh.n * sh.d,
                 all = hs * sh.heads;
    const long ntask = (long)sh.n * sh.heads;
    float *out[3] = {dq, dk, dv};
    for (int c = 0; c < 3; c++) {
        memset(out[c], 0, all * sizeof(float));
        for (int t = 1; t < nt; t++)
            memset(partial_of(ex, CA_SHARED_BWD, sh, nt, t, c), 0, all * sizeof(float));
    }
    (void)o;
    float *D = delta_of(ex, nt);
#pragma omp parallel num_threads(nt)
    {
        int tid = nt > 1 ? omp_get_thread_num() : 0;
        scratch w = scratch_of(ex->ws, tid);
        float *g[3];
        for (int c = 0; c < 3; c++)
            g[c] = tid == 0 ? out[c] : partial_of(ex, CA_SHARED_BWD, sh, nt, tid, c);
        const int team = omp_get_num_threads(); /* see causal_bwd */
        for (long task = 0; task < ntask; task++) {
            if (snake_owner(task, team) != tid) continue;
            int t = sh.n - (int)(task / sh.heads), h = (int)(task % sh.heads);
            att a = prefix_att(sh, 1, h, t, q, k, v);
            size_t out_row = h * T + ca_prefix_offset((size_t)t);
            a.lsec = lse + out_row;
            a.delta = D + out_row;
            a.dout = dout + out_row * sh.d;
            bwd_all(&a, g[0] + h * hs, g[1] + h * hs, g[2] + h * hs, &w, bt);
        }
    }
    if (nt > 1)
        for (int c = 0; c < 3; c++) reduce_partials(ex, CA_SHARED_BWD, sh, nt, c, out[c]);
    return CA_OK;
}

static const char *runtime_note(void) { return ca_blis_config(); }

const ca_impl ca_impl_blas = {
    .name = "blas",
    .description = "flash-style tiles (fwd 144x256, bwd 144x144), products through BLIS, "
                   "OpenMP over heads/blocks/prefixes",
    .workspace = workspace,
    .causal_fwd = causal_fwd,
    .causal_bwd = causal_bwd,
    .full_fwd = full_fwd,
    .decode_step = decode_step,
    .cubic_fwd = cubic_fwd,
    .cubic_bwd = cubic_bwd,
    .shared_fwd = shared_fwd,
    .shared_bwd = shared_bwd,
    .runtime_note = runtime_note,
};
