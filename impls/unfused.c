/* unfused.c: attention the textbook way, the math path of the common frameworks, as a
 * peer the fused kernels are compared against: S = Q K^T by one BLIS sgemm, a row
 * softmax over the materialised scores, O = P V by a second sgemm; the backward
 * recomputes P from the forward's lse and runs the five products of docs/DESIGN.md §2.3
 * as sgemms (S, dP = dO V^T, dQ = dS K, dK = dS^T Q, dV = P^T dO).
 *
 * What is materialised: the scores of a block of BR query rows against every key that
 * block sees (causal: keys 0 .. the block's last row, so nothing above the diagonal
 * block is computed; full: all N; a prefix of cubic / cubic_shared: its t keys). A
 * whole head's N x N (64 MB per head at N = 4096) would only move the same products
 * through memory instead of cache; the row block keeps each softmax row whole, which is
 * what makes this path unfused, and lets causal skip the masked upper triangle.
 *
 * Threads (ex->threads): OpenMP over independent tasks (head x row block, head x prefix)
 * with single-threaded BLIS inside, as blas.c. The alternative, tasks in sequence with
 * ex->threads BLIS threads per product, leaves the softmax between the products on one
 * thread and pays BLIS's fork and barriers on every call, and the per-prefix operators
 * are thousands of small (t x t x d) calls. Measured on the 2-core EPYC while other
 * jobs shared it: full fwd N = 2048, 4 heads, 2 threads, 0.23-0.34 s a call with tasks,
 * over 4 s with 2 BLIS threads (whose barriers spin against the other jobs): a
 * disturbed measurement, not repeated on a quiet machine.
 *
 * Determinism: a task writes only its own output rows (forward; cubic, cubic_last
 * backward), or, where tasks add into the same rows (dK, dV of causal / full, every
 * gradient of cubic_shared), adds into its thread's own copy under a fixed task-to-thread
 * map, and the copies are summed in thread order at the end.
 *
 * Non-finite inputs (README.md, "The operators"): a key a row does not see must multiply
 * nothing. Only causal masks keys inside a product; its diagonal block's P (or dS)
 * holds exact zeros for masked keys, and 0 * inf = NaN would carry a non-finite v (k, q,
 * dO) row into rows that never see it. So when the diagonal block's partner rows are
 * not all finite, that block's products go row by row over the visible keys (as the
 * tile engine does, impls/kernels/flash.h). Everything else is plain IEEE arithmetic
 * over the keys a row sees, as the float64 reference does.
 */
#include "cubattn.h"
#include "instance.h"
#include "tile_traits.h"
#include "blis_ctx.h"
#include "vexp.h"
#include "vrow.h"
#include "vscore.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* Query rows per score block (tile_traits.h). */
enum { BR = UNFUSED_BR };

static inline int imin(int a, int b) { return a < b ? a : b; }

/* Row stride of a score block over nk keys: whole 16-float (64-byte) lines, so each row
 * starts aligned for the vector loops and BLIS's loads. */
static size_t ld_of(size_t nk) { return round_up_to(nk, LINE_FLOATS); }

/* ---- BLIS -------------------------------------------------------------------------- */

/* Row-major C = op(A) op(B) + beta C on one BLIS thread (the OpenMP tasks are the
 * parallelism), through the sub-configuration blis_ctx.c chose. beta = 0: C is not read.
 * sup: allow BLIS's small/unpacked kernels (it still picks the packed path for shapes
 * past its thresholds). */
static void gemm(int ta, int tb, int m, int n, int k, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc, int sup)
{
    float one = 1.0f;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(1, &rntm);
    if (!sup) bli_rntm_disable_l3_sup(&rntm);
    bli_sgemm_ex(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 m, n, k, &one, (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1,
                 ca_blis_cntx(), &rntm);
}

/* A score product (k = d, B transposed) of m x n: the packed path once both sides reach
 * 64, else sup, the choice blas.c measured (sup's dot-product kernels rounded small score
 * tiles more accurately there; on the skx kernels both paths gave these scores the same
 * bits at verify's extreme shapes). */
static void scores(int m, int n, int d, const float *a, const float *x, float *s, size_t ld)
{
    gemm(0, 1, m, n, d, a, d, x, d, 0.0f, s, (int)ld, m < 64 || n < 64);
}

/* ---- row kernels ------------------------------------------------------------------- */

/* Forward softmax of one score row in place: s[c] = exp(scale s[c] - m) for c < cnt,
 * m = the row's max of scale s; 0 for c in [cnt, nk rounded up to 8) (masked keys, which
 * the P V product then spans). Writes lse = m + log(l) and returns l = sum of the
 * weights (o is divided by it after P V). The scale is rounded on its own, as the naive
 * code's scale * dot is. A row whose max is -inf or +inf comes out NaN (exp(inf - inf)),
 * non-finite where the reference's is. */
static float row_softmax(float *s, int cnt, int nk, float scale, float *lse)
{
    const float m = scale * row_max(s, cnt); /* rounding is monotonic */
    const float l = row_exp(s, cnt, nk, scale, m);
    *lse = m + logf(l);
    return l;
}

/* Backward of one row, in place: p[c] = exp(scale s[c] - lse) (P recomputed from the
 * forward's lse) and ds[c] = scale p[c] (dp[c] - D) for c < cnt, both 0 up to nk
 * rounded to 8. D = sum_c p dp / sum_c p: the same as dO . o, taken from the very dP
 * the gradient uses (so a one-hot row, whose dP_ij equals D exactly, gets dS = 0, where
 * dO . o summed in another order than BLIS's dP would leave a rounding), and the
 * division cancels the row's common error from the rounded lse. */
static void row_dsoftmax(float *s, float *dp, int cnt, int nk, float scale, float lse)
{
    const v8f vs = bc8(scale), vl = bc8(lse);
    v8f pdp = bc8(0.0f), psum = bc8(0.0f);
    int c = 0;
    for (; c + 8 <= cnt; c += 8) {
        v8f p = vexp(vs * ld8(s + c) - vl);
        st8(s + c, p);
        pdp = fma8(p, ld8(dp + c), pdp);
        psum += p;
    }
    if (c < cnt) {
        v8i in = lanes_below(cnt, c);
        v8f p = keep(in, vexp(vs * ld8(s + c) - vl));
        st8(s + c, p);
        pdp = fma8(p, keep(in, ld8(dp + c)), pdp);
        psum += p;
        c += 8;
    }
    for (; c < nk; c += 8) st8(s + c, bc8(0.0f));
    const v8f vD = bc8(hsum8(pdp) / hsum8(psum));
    c = 0;
    for (; c + 8 <= cnt; c += 8) st8(dp + c, vs * (ld8(s + c) * (ld8(dp + c) - vD)));
    if (c < cnt) {
        st8(dp + c, keep(lanes_below(cnt, c), vs * (ld8(s + c) * (ld8(dp + c) - vD))));
        c += 8;
    }
    for (; c < nk; c += 8) st8(dp + c, bc8(0.0f));
}

/* ---- one attention instance -------------------------------------------------------- */

/* A head of causal / full, a prefix of cubic / cubic_shared, a cubic_last prefix or a
 * decode step: nq query rows against nk keys; causal: nq == nk and row i sees keys
 * 0..i, else every row sees all nk. Rows are contiguous with stride d. */
typedef struct inst {
    int nq, nk, d, causal;
    const float *q, *k, *v;     /* q: [nq][d]  k, v: [nk][d] */
    float *o, *lse;             /* forward: [nq][d], [nq] */
    const float *flse, *dout;   /* backward: the forward's lse [nq], dO [nq][d] */
    float *dq, *dk, *dv;        /* backward: [nq][d], [nk][d], [nk][d]; dk, dv add (+=) */
    int dq_add;                 /* dq adds (cubic_shared) or is overwritten */
} inst;

/* Keys row i sees. */
static int visible(const inst *s, int i) { return s->causal ? i + 1 : s->nk; }
/* Keys the block of rows i0 .. i0+nr-1 spans. */
static int keys_of(const inst *s, int i0, int nr) { return s->causal ? i0 + nr : s->nk; }

/* Forward of query rows i0 .. i0+nr-1 (nr <= BR).
 * S: [nr][ld_of(kend)] scratch; l: [nr] scratch. */
static void fwd_block(const inst *s, int i0, int nr, float *S, float *l)
{
    const int d = s->d, kend = keys_of(s, i0, nr);
    const size_t ld = ld_of((size_t)kend);
    const float scale = 1.0f / sqrtf((float)d);
    float *o = s->o + (size_t)i0 * d;
    /* S = Q K^T: [nr][kend] */
    scores(nr, kend, d, s->q + (size_t)i0 * d, s->k, S, ld);
    for (int r = 0; r < nr; r++)
        l[r] = row_softmax(S + r * ld, visible(s, i0 + r), kend, scale, s->lse + i0 + r);
    /* O = P V: [nr][d]. Causal: the diagonal block's masked zeros meet v rows i0.. */
    const float *vd = s->v + (size_t)i0 * d;
    if (!s->causal || all_finite(vd, (size_t)(kend - i0) * d)) {
        gemm(0, 0, nr, d, kend, S, (int)ld, s->v, d, 0.0f, o, d, 1);
    } else {
        if (i0 > 0) gemm(0, 0, nr, d, i0, S, (int)ld, s->v, d, 0.0f, o, d, 1);
        for (int r = 0; r < nr; r++)
            gemm(0, 0, 1, d, r + 1, S + r * ld + i0, (int)ld, vd, d, i0 > 0 ? 1.0f : 0.0f,
                 o + (size_t)r * d, d, 1);
    }
    for (int r = 0; r < nr; r++) {
        float *orow = o + (size_t)r * d;
        const v8f vl = bc8(l[r]);
        int c = 0;
        for (; c + 8 <= d; c += 8) st8(orow + c, ld8(orow + c) / vl);
        for (; c < d; c++) orow[c] /= l[r];
    }
}

static void fwd_inst(const inst *s, float *S, float *l)
{
    for (int i0 = 0; i0 < s->nq; i0 += BR) fwd_block(s, i0, imin(BR, s->nq - i0), S, l);
}

/* Backward of query rows i0 .. i0+nr-1 (nr <= BR): dq of those rows (= or +=), dk, dv
 * of the keys they see (+=). S, dP: [nr][ld_of(kend)] scratch each. */
static void bwd_block(const inst *s, int i0, int nr, float *S, float *dP)
{
    const int d = s->d, kend = keys_of(s, i0, nr);
    const size_t ld = ld_of((size_t)kend);
    const float scale = 1.0f / sqrtf((float)d);
    const float *qb = s->q + (size_t)i0 * d, *dob = s->dout + (size_t)i0 * d;
    float *dqb = s->dq + (size_t)i0 * d;
    const float dqbeta = s->dq_add ? 1.0f : 0.0f;
    /* S = Q K^T, dP = dO V^T: [nr][kend] */
    scores(nr, kend, d, qb, s->k, S, ld);
    scores(nr, kend, d, dob, s->v, dP, ld);
    /* S -> P, dP -> dS (scale folded in) */
    for (int r = 0; r < nr; r++)
        row_dsoftmax(S + r * ld, dP + r * ld, visible(s, i0 + r), kend, scale,
                     s->flse[i0 + r]);
    /* dQ = dS K: [nr][d];  dK += dS^T Q, dV += P^T dO: [kend][d]. Causal: the diagonal
     * block's masked zeros meet q, dO rows i0.. and k rows i0.. */
    if (!s->causal ||
        (all_finite(qb, (size_t)nr * d) && all_finite(dob, (size_t)nr * d) &&
         all_finite(s->k + (size_t)i0 * d, (size_t)(kend - i0) * d))) {
        gemm(0, 0, nr, d, kend, dP, (int)ld, s->k, d, dqbeta, dqb, d, 1);
        gemm(1, 0, kend, d, nr, dP, (int)ld, qb, d, 1.0f, s->dk, d, 1);
        gemm(1, 0, kend, d, nr, S, (int)ld, dob, d, 1.0f, s->dv, d, 1);
        return;
    }
    /* Keys 0 .. i0-1, which every row of the block sees. */
    if (i0 > 0) {
        gemm(0, 0, nr, d, i0, dP, (int)ld, s->k, d, dqbeta, dqb, d, 1);
        gemm(1, 0, i0, d, nr, dP, (int)ld, qb, d, 1.0f, s->dk, d, 1);
        gemm(1, 0, i0, d, nr, S, (int)ld, dob, d, 1.0f, s->dv, d, 1);
    }
    /* The diagonal block: key i0+j from rows j.. of the block; row r over keys i0..i0+r. */
    const float *kd = s->k + (size_t)i0 * d;
    float *dkd = s->dk + (size_t)i0 * d, *dvd = s->dv + (size_t)i0 * d;
    for (int j = 0; j < nr; j++) {
        const size_t at = (size_t)j * ld + i0 + j;
        gemm(1, 0, 1, d, nr - j, dP + at, (int)ld, qb + (size_t)j * d, d, 1.0f,
             dkd + (size_t)j * d, d, 1);
        gemm(1, 0, 1, d, nr - j, S + at, (int)ld, dob + (size_t)j * d, d, 1.0f,
             dvd + (size_t)j * d, d, 1);
    }
    for (int r = 0; r < nr; r++)
        gemm(0, 0, 1, d, r + 1, dP + r * ld + i0, (int)ld, kd, d,
             i0 > 0 || s->dq_add ? 1.0f : 0.0f, dqb + (size_t)r * d, d, 1);
}

static void bwd_inst(const inst *s, float *S, float *dP)
{
    for (int i0 = 0; i0 < s->nq; i0 += BR) bwd_block(s, i0, imin(BR, s->nq - i0), S, dP);
}

/* ---- workspace --------------------------------------------------------------------- */

static size_t mul_or_max(size_t a, size_t b)
{
    return a != 0 && b > SIZE_MAX / a ? SIZE_MAX : a * b;
}
static size_t add_or_max(size_t a, size_t b)
{
    return a == SIZE_MAX || b == SIZE_MAX || b > SIZE_MAX - a ? SIZE_MAX : a + b;
}

static int is_bwd(ca_entry e)
{
    return e == CA_CAUSAL_BWD || e == CA_FULL_BWD || e == CA_CUBIC_BWD ||
           e == CA_SHARED_BWD || e == CA_LAST_BWD;
}

/* Query rows of one block: one for the one-row operators. */
static int block_rows(ca_entry e)
{
    return e == CA_DECODE_STEP || e == CA_LAST_FWD || e == CA_LAST_BWD ? 1 : BR;
}

/* Gradient copies tasks add into (the rest are written by their one owner). */
static int partial_copies(ca_entry e)
{
    return e == CA_CAUSAL_BWD || e == CA_FULL_BWD ? 2 : e == CA_SHARED_BWD ? 3 : 0;
}

/* Per-thread slab: the score block (and the dP block for a backward), then the row
 * sums l (forward), [BR] rounded to a line. n: the longest key run, N. */
static size_t slab_floats(ca_entry e, int n)
{
    size_t blk = mul_or_max((size_t)block_rows(e), ld_of((size_t)n));
    return add_or_max(mul_or_max(blk, is_bwd(e) ? 2 : 1), ld_of(BR));
}

/* Workspace: [threads slabs][copies x (threads - 1) gradient partials of all heads]. */
static size_t workspace(ca_entry e, ca_shape sh, int threads)
{
    size_t f = mul_or_max(slab_floats(e, sh.n), (size_t)threads);
    size_t one = mul_or_max(mul_or_max((size_t)sh.n, (size_t)sh.d), (size_t)sh.heads);
    f = add_or_max(f, mul_or_max(mul_or_max(one, (size_t)partial_copies(e)),
                                 (size_t)(threads - 1)));
    return mul_or_max(f, sizeof(float));
}

typedef struct slab {
    float *S, *dP, *l;
} slab;

static slab slab_of(ca_entry e, ca_shape sh, const ca_exec *ex, int tid)
{
    float *base = (float *)ex->ws + slab_floats(e, sh.n) * tid;
    size_t blk = (size_t)block_rows(e) * ld_of((size_t)sh.n);
    slab w = {.S = base, .dP = is_bwd(e) ? base + blk : NULL,
              .l = base + blk * (is_bwd(e) ? 2 : 1)};
    return w;
}

/* Partial copy c of thread tid >= 1: [heads][N][d]. */
static float *partial_of(ca_entry e, ca_shape sh, const ca_exec *ex, int tid, int c)
{
    size_t one = (size_t)sh.n * sh.d * sh.heads;
    return (float *)ex->ws + slab_floats(e, sh.n) * ex->threads +
           ((size_t)(tid - 1) * partial_copies(e) + c) * one;
}

/* Zero the outputs and every thread's copies. */
static void zero_partials(ca_entry e, ca_shape sh, const ca_exec *ex, float *const *out)
{
    const size_t all = (size_t)sh.n * sh.d * sh.heads * sizeof(float);
    for (int c = 0; c < partial_copies(e); c++) {
        memset(out[c], 0, all);
        for (int t = 1; t < ex->threads; t++) memset(partial_of(e, sh, ex, t, c), 0, all);
    }
}

/* out[c] += the copies of threads 1 .. threads-1, in thread order (those of threads
 * OpenMP did not grant stay zero). */
static void reduce_partials(ca_entry e, ca_shape sh, const ca_exec *ex, float *const *out)
{
    const long total = (long)sh.n * sh.d * sh.heads, chunk = 4096;
    for (int c = 0; c < partial_copies(e); c++) {
#pragma omp parallel for num_threads(ex->threads) schedule(static)
        for (long x0 = 0; x0 < total; x0 += chunk) {
            long x1 = x0 + chunk < total ? x0 + chunk : total;
            for (int t = 1; t < ex->threads; t++) {
                const float *p = partial_of(e, sh, ex, t, c);
                for (long x = x0; x < x1; x++) out[c][x] += p[x];
            }
        }
    }
}

/* Task k of a list sorted by decreasing cost -> thread, in a snake order (0,1,..,n-1,
 * n-1,..,0, ...) that balances decreasing costs; fixed, so the partials a thread adds
 * are the same from run to run at a given thread count. */
static int snake_owner(long k, int nt)
{
    long round = k / nt, pos = k % nt;
    return (int)(round % 2 == 0 ? pos : nt - 1 - pos);
}

/* ---- causal and full ---------------------------------------------------------------- */

/* Instance r (instance.h: where its rows are) of the tensors q, k, v. */
static inst inst_at(inst_rows r, int d, int causal, const float *q, const float *k,
                    const float *v)
{
    inst s = {.nq = r.nq, .nk = r.nk, .d = d, .causal = causal, .q = q + r.q * d,
              .k = k + r.kv * d, .v = v + r.kv * d};
    return s;
}

/* The backward of instance r of a per-prefix operator whose gradient rows are its own
 * (cubic, cubic_last: no key row belongs to two prefixes): dq written, dk and dv zeroed
 * here for the engine to add into. */
static inst own_bwd_inst(inst_rows r, int d, const float *q, const float *k,
                         const float *v, const float *lse, const float *dout, float *dq,
                         float *dk, float *dv)
{
    inst s = inst_at(r, d, 0, q, k, v);
    s.flse = lse + r.out;
    s.dout = dout + r.out * d;
    s.dq = dq + r.q * d;
    s.dk = dk + r.kv * d;
    s.dv = dv + r.kv * d;
    memset(s.dk, 0, (size_t)r.nk * d * sizeof(float));
    memset(s.dv, 0, (size_t)r.nk * d * sizeof(float));
    return s;
}

/* Tasks (head, row block), the costliest first (causal: the last blocks see the most
 * keys); each writes only its own rows, so dynamic scheduling cannot change a bit. */
static ca_status heads_fwd(ca_shape sh, const ca_exec *ex, ca_entry e, int causal,
                           const float *q, const float *k, const float *v, float *o,
                           float *lse)
{
    const int nb = (sh.n + BR - 1) / BR;
    const long ntask = (long)nb * sh.heads;
#pragma omp parallel num_threads(ex->threads)
    {
        slab w = slab_of(e, sh, ex, omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            const int b = nb - 1 - (int)(task / sh.heads), h = (int)(task % sh.heads);
            const inst_rows r = inst_heads(causal, sh, h);
            inst s = inst_at(r, sh.d, causal, q, k, v);
            s.o = o + r.out * sh.d;
            s.lse = lse + r.out;
            fwd_block(&s, b * BR, imin(BR, sh.n - b * BR), w.S, w.l);
        }
    }
    return CA_OK;
}

static ca_status causal_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    return heads_fwd(sh, ex, CA_CAUSAL_FWD, 1, q, k, v, o, lse);
}

static ca_status full_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, float *o, float *lse)
{
    return heads_fwd(sh, ex, CA_FULL_FWD, 0, q, k, v, o, lse);
}

/* Tasks (head, row block), costliest first, fixed owners: a block writes its own dq
 * rows and adds into dk, dv of the keys it sees, thread 0 into the outputs, thread
 * t > 0 into its copies. */
static ca_status heads_bwd(ca_shape sh, const ca_exec *ex, ca_entry e, int causal,
                           const float *q, const float *k, const float *v,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    const int nb = (sh.n + BR - 1) / BR;
    const long ntask = (long)nb * sh.heads;
    float *const out[2] = {dk, dv};
    zero_partials(e, sh, ex, out);
#pragma omp parallel num_threads(ex->threads)
    {
        const int tid = omp_get_thread_num();
        /* Owners among the team OpenMP gave: num_threads is a request, and nested in
         * another parallel region the team is smaller. */
        const int team = omp_get_num_threads();
        slab w = slab_of(e, sh, ex, tid);
        float *gk = tid == 0 ? dk : partial_of(e, sh, ex, tid, 0);
        float *gv = tid == 0 ? dv : partial_of(e, sh, ex, tid, 1);
        for (long task = 0; task < ntask; task++) {
            if (snake_owner(task, team) != tid) continue;
            const int b = nb - 1 - (int)(task / sh.heads), h = (int)(task % sh.heads);
            const inst_rows r = inst_heads(causal, sh, h);
            inst s = inst_at(r, sh.d, causal, q, k, v);
            s.flse = lse + r.out;
            s.dout = dout + r.out * sh.d;
            s.dq = dq + r.q * sh.d;
            s.dk = gk + r.kv * sh.d; /* the partials have the layout of dk, dv */
            s.dv = gv + r.kv * sh.d;
            bwd_block(&s, b * BR, imin(BR, sh.n - b * BR), w.S, w.dP);
        }
    }
    if (ex->threads > 1) reduce_partials(e, sh, ex, out);
    return CA_OK;
}

static ca_status causal_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    (void)o;
    return heads_bwd(sh, ex, CA_CAUSAL_BWD, 1, q, k, v, lse, dout, dq, dk, dv);
}

static ca_status full_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, const float *o,
                          const float *lse, const float *dout, float *dq, float *dk,
                          float *dv)
{
    (void)o;
    return heads_bwd(sh, ex, CA_FULL_BWD, 0, q, k, v, lse, dout, dq, dk, dv);
}

/* Decode: k_t, v_t into row t of the caches, then q_t over rows 0..t: a one-row S = q K^T
 * and o = p V. q_t, k_t, v_t, o_t: [heads][d]; caches: [heads][N][d]; lse_t: [heads].
 * Heads in parallel only when a step is long enough to repay the fork. */
static ca_status decode_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                             const float *k_t, const float *v_t, float *k_cache,
                             float *v_cache, float *o_t, float *lse_t)
{
    const size_t d = (size_t)sh.d;
    const int par = ex->threads > 1 && sh.heads > 1 && (long)(t + 1) * sh.d * sh.heads >= (1L << 16);
#pragma omp parallel num_threads(par ? ex->threads : 1)
    {
        slab w = slab_of(CA_DECODE_STEP, sh, ex, omp_get_thread_num());
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++) {
            const inst_rows r = inst_decode_append(sh, h, t, k_t, v_t, k_cache, v_cache);
            inst s = inst_at(r, sh.d, 0, q_t, k_cache, v_cache);
            s.o = o_t + r.out * d;
            s.lse = lse_t + r.out;
            fwd_block(&s, 0, 1, w.S, w.l);
        }
    }
    return CA_OK;
}

/* ---- the per-prefix operators -------------------------------------------------------- */

/* Prefix t (1-based) of head h is a t x t full attention: cubic reads its own packed
 * rows, cubic_shared rows 0..t-1 of the shared inputs; outputs (o, lse, dO) are packed
 * for both (instance.h). */
static ca_op prefix_op(int shared) { return shared ? CA_OP_CUBIC_SHARED : CA_OP_CUBIC; }

/* cubic q, k, v: [heads][T][d]; shared q, k, v: [heads][N][d]; o: [heads][T][d]; lse:
 * [heads][T]. Tasks (head, prefix), longest first, dynamic; each writes only its rows. */
static ca_status prefixes_fwd(ca_shape sh, const ca_exec *ex, ca_entry e, int shared,
                              const float *q, const float *k, const float *v, float *o,
                              float *lse)
{
    const long ntask = inst_items(sh);
#pragma omp parallel num_threads(ex->threads)
    {
        slab w = slab_of(e, sh, ex, omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int h, t;
            inst_item(task, sh, &h, &t);
            const inst_rows r = inst_prefix(prefix_op(shared), sh, h, t);
            inst s = inst_at(r, sh.d, 0, q, k, v);
            s.o = o + r.out * sh.d;
            s.lse = lse + r.out;
            fwd_inst(&s, w.S, w.l);
        }
    }
    return CA_OK;
}

static ca_status cubic_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, float *o, float *lse)
{
    return prefixes_fwd(sh, ex, CA_CUBIC_FWD, 0, q, k, v, o, lse);
}

static ca_status shared_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    return prefixes_fwd(sh, ex, CA_SHARED_FWD, 1, q, k, v, o, lse);
}

/* cubic backward: q, k, v, dout, dq, dk, dv: [heads][T][d]; lse: [heads][T]. Prefixes
 * share no rows, so a task (head, prefix) owns all its gradients: dynamic scheduling. */
static ca_status cubic_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    (void)o;
    const long ntask = inst_items(sh);
#pragma omp parallel num_threads(ex->threads)
    {
        slab w = slab_of(CA_CUBIC_BWD, sh, ex, omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int h, t;
            inst_item(task, sh, &h, &t);
            inst s = own_bwd_inst(inst_prefix(CA_OP_CUBIC, sh, h, t), sh.d, q, k, v, lse, dout,
                                  dq, dk, dv);
            bwd_inst(&s, w.S, w.dP);
        }
    }
    return CA_OK;
}

/* cubic_shared backward, prefix by prefix (Theta(N^3 d), as the forward). q, k, v, dq,
 * dk, dv: [heads][N][d]; dout: [heads][T][d]; lse: [heads][T]. Every prefix adds into
 * the same dq, dk, dv: thread t > 0 into its copies, fixed owners. */
static ca_status shared_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    (void)o;
    const long ntask = inst_items(sh);
    float *const out[3] = {dq, dk, dv};
    zero_partials(CA_SHARED_BWD, sh, ex, out);
#pragma omp parallel num_threads(ex->threads)
    {
        const int tid = omp_get_thread_num(), team = omp_get_num_threads(); /* see heads_bwd */
        slab w = slab_of(CA_SHARED_BWD, sh, ex, tid);
        float *g[3];
        for (int c = 0; c < 3; c++)
            g[c] = tid == 0 ? out[c] : partial_of(CA_SHARED_BWD, sh, ex, tid, c);
        for (long task = 0; task < ntask; task++) {
            if (snake_owner(task, team) != tid) continue;
            int h, t;
            inst_item(task, sh, &h, &t);
            const inst_rows r = inst_prefix(CA_OP_CUBIC_SHARED, sh, h, t);
            inst s = inst_at(r, sh.d, 0, q, k, v);
            s.flse = lse + r.out;
            s.dout = dout + r.out * sh.d;
            s.dq = g[0] + r.q * sh.d; /* the partials have the layout of dq, dk, dv */
            s.dk = g[1] + r.kv * sh.d;
            s.dv = g[2] + r.kv * sh.d;
            s.dq_add = 1;
            bwd_inst(&s, w.S, w.dP);
        }
    }
    if (ex->threads > 1) reduce_partials(CA_SHARED_BWD, sh, ex, out);
    return CA_OK;
}

/* cubic_last: prefix t's one query (row t-1 of q) against its own t packed keys, a
 * one-row S = q K^T and o = p V. q, o, dout, dq: [heads][N][d]; k, v, dk, dv:
 * [heads][T][d]; lse: [heads][N]. No key row belongs to two prefixes, so a task (head,
 * prefix) writes only its own rows: dynamic, longest first. */
static ca_status last_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    const long ntask = inst_items(sh);
#pragma omp parallel num_threads(ex->threads)
    {
        slab w = slab_of(CA_LAST_FWD, sh, ex, omp_get_thread_num());
#pragma omp for schedule(dynamic, 16)
        for (long task = 0; task < ntask; task++) {
            int h, t;
            inst_item(task, sh, &h, &t);
            const inst_rows r = inst_prefix(CA_OP_CUBIC_LAST, sh, h, t);
            inst s = inst_at(r, sh.d, 0, q, k, v);
            s.o = o + r.out * sh.d;
            s.lse = lse + r.out;
            fwd_block(&s, 0, 1, w.S, w.l);
        }
    }
    return CA_OK;
}

static ca_status last_bwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    (void)o;
    const long ntask = inst_items(sh);
#pragma omp parallel num_threads(ex->threads)
    {
        slab w = slab_of(CA_LAST_BWD, sh, ex, omp_get_thread_num());
#pragma omp for schedule(dynamic, 16)
        for (long task = 0; task < ntask; task++) {
            int h, t;
            inst_item(task, sh, &h, &t);
            inst s = own_bwd_inst(inst_prefix(CA_OP_CUBIC_LAST, sh, h, t), sh.d, q, k, v, lse,
                                  dout, dq, dk, dv);
            bwd_block(&s, 0, 1, w.S, w.dP);
        }
    }
    return CA_OK;
}

static const char *runtime_note(void) { return ca_blis_config(); }

const ca_impl ca_impl_unfused = {
    .name = "unfused",
    .description = "textbook unfused attention: S = QK^T and O = PV by BLIS sgemm over "
                   "materialised 256-row score blocks, row softmax between; OpenMP over "
                   "heads/blocks/prefixes",
    .workspace = workspace,
    CA_ENTRIES_BY_NAME,
    .runtime_note = runtime_note,
};
