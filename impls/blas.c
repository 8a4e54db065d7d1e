/* blas.c: the tile engine (impls/kernels/flash.c) with every tile product through BLIS,
 * on the sub-configuration lib/blis/blis_ctx.c picks from the CPU's features.
 *
 * cubic_shared runs the O(N^2 d) sweep of shared_sweep.c and cubic_last the one-row
 * prefixes of one_row.c, both on this file's BLIS products.
 * Threads (ex->threads): OpenMP over independent tasks (head x query block, head x
 * key block, head x prefix, head x sweep block) with single-threaded BLIS calls inside. The alternative,
 * tiles in sequence with multi-threaded BLIS, is kept behind CA_BLAS_THREADING=blis so
 * the two can be compared; see threading_blis(). */
#include "cubattn.h"
#include "blis_ctx.h"
#include "flash.h"
#include "instance.h"
#include "one_row.h"
#include "tile_traits.h"
#include "regtile.h"
#include "shared_sweep.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the BLIS backend ------------------------------------------------------------- */

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
enum { BQ = BLAS_BQ, BK = BLAS_BK, BQ_BWD = BLAS_BQ_BWD, BK_BWD = BLAS_BK_BWD }; /* tile_traits.h */

/* Row-major C = alpha op(A) op(B) + beta C through the chosen context with bt threads,
 * as ca_sgemm, but choosing BLIS's path: the score products (Q K^T, dO V^T: k = d = 64,
 * B transposed) ran at ~35 GFLOP/s per core on BLIS's small/unpacked ("sup") kernels
 * and ~60-70 on the packed path (tile microbenchmark, 144 x 256 x 64); the products
 * with a long k (P V, P^T dO, dS K, dS^T Q) are as fast or faster on sup. */
static void gemm(int ta, int tb, int m, int n, int k, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc, int bt, int sup)
{
    float one = 1.0f;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(bt, &rntm);
    if (!sup) bli_rntm_disable_l3_sup(&rntm);
    bli_sgemm_ex(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 m, n, k, &one, (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1,
                 ca_blis_cntx(), &rntm);
}
enum { SUP = 1, PACKED = 0 };

/* Path for a score product of m x n: small tiles cost little either way, and there the
 * sup dot-product kernels (8 partial sums per dot) round S more accurately than the
 * packed kernels' one running sum (max |S| error 0.013 vs 0.043 at d = 64, logits
 * x1e4), which matters for verify's large-logit shapes, all small. */
static int score_path(int m, int n) { return m < 64 || n < 64 ? SUP : PACKED; }

static void score(const flash_ops *ops, int m, int n, int d, const float *a,
                  const float *x, const float *xp, int j0, float *s, int lds)
{
    (void)xp;
    gemm(0, 1, m, n, d, a, d, x + (size_t)j0 * d, d, 0.0f, s, lds, ops->threads,
         score_path(m, n));
}

/* beta = 0 when not adding: BLIS then never reads C (which may hold garbage). */
static void prod(const flash_ops *ops, int add, int trans_a, int m, int n, int k,
                 const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    gemm(trans_a, 0, m, n, k, a, lda, b, ldb, add ? 1.0f : 0.0f, c, ldc, ops->threads, SUP);
}

/* BLIS's dP rounds differently from any dO . o this file could sum, so D comes from the
 * tiles (no rowdot). bt: BLIS threads per product. */
static flash_ops blis_ops(int bt)
{
    flash_ops ops = {.bq = BQ, .bk = BK, .bq_bwd = BQ_BWD, .bk_bwd = BK_BWD, .threads = bt,
                     .score = score, .prod = prod};
    return ops;
}

/* cubic_last's backend: one query row per prefix, so a tile is 1 x BK_LAST and every
 * product a matrix-vector one (o = P V, dq = dS K) or a rank-1 update (dK += dS^T q,
 * dV += P^T dO): those go through BLIS. The scores (S = K q, dP = V dO) are the register
 * backend's dot products, with D = dO . o summed by its rowdot in the same order as dP,
 * so that a one-hot row (o bit-equal to v_j) gives dP_j - D exactly 0, as in blocked and
 * omp; BLIS's m = 1 products would sum dP in an order no row dot can repeat. BLIS cannot
 * reuse an operand in a matrix-vector product, so what is left to save is its per-call
 * cost (a few microseconds, the time of ~50 K multiply-adds): 1024 keys a call, against
 * the 256 and 144 of the attention tiles, makes 1..8 calls per product of a prefix up to
 * N = 8192. */
enum { BK_LAST = BLAS_BK_LAST };
static flash_ops last_ops(int bt)
{
    flash_ops ops = blis_ops(bt);
    ops.bq = ops.bq_bwd = 1;
    ops.bk = ops.bk_bwd = BK_LAST;
    ops.score = regt_ops.score;
    ops.rowdot = regt_ops.rowdot;
    return ops;
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

/* Head h of the causal / full backward; D: [heads][N], the rows of lse. */
static flash_seq bwd_head_seq(ca_shape sh, int h, int causal, const float *q, const float *k,
                              const float *v, const float *lse, const float *dout, float *D)
{
    const inst_rows r = inst_heads(causal, sh, h);
    flash_seq s = inst_seq(r, sh.d, causal, q, k, v);
    s.flse = lse + r.out;
    s.dout = dout + r.out * sh.d;
    s.D = D + r.out;
    return s;
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
 * [per-thread partial sums (causal, full: dq; shared: dk, dv) for threads 1..nt-1,
 * reduced into the outputs in thread order at the end]. */
static size_t delta_floats(ca_entry e, ca_shape sh)
{
    if (e != CA_CAUSAL_BWD && e != CA_FULL_BWD && e != CA_CUBIC_BWD) return 0;
    return mul_or_max(ca_out_rows(e, sh.n), (size_t)sh.heads);
}

static int partial_copies(ca_entry e)
{
    return e == CA_CAUSAL_BWD || e == CA_FULL_BWD ? 1 : e == CA_SHARED_BWD ? 2 : 0;
}

static size_t partial_floats(ca_entry e, ca_shape sh, int nt)
{
    size_t one = mul_or_max(mul_or_max((size_t)sh.n, (size_t)sh.d), (size_t)sh.heads);
    return mul_or_max(mul_or_max(one, (size_t)partial_copies(e)), (size_t)(nt - 1));
}

/* Per-thread scratch: the sweep's for cubic_shared, else the engine's (the tile sizes do
 * not depend on the BLIS threads). Both are multiples of 16 floats (64 bytes). */
static size_t slab_floats(ca_entry e, ca_shape sh)
{
    if (e == CA_SHARED_FWD || e == CA_SHARED_BWD) return sweep_scratch_floats(sh.n, sh.d);
    const flash_ops ops = blis_ops(1);
    return e == CA_DECODE_STEP ? one_row_scratch_floats(&ops) : flash_scratch_floats(&ops);
}

static float *slab_of(const ca_exec *ex, ca_entry e, ca_shape sh, int tid)
{
    return (float *)ex->ws + slab_floats(e, sh) * tid;
}

static size_t workspace(ca_entry e, ca_shape sh, int threads)
{
    int nt = omp_threads(threads);
    if (e == CA_LAST_FWD || e == CA_LAST_BWD) {
        const flash_ops ops = last_ops(1);
        return mul_or_max(mul_or_max(one_row_scratch_floats(&ops), (size_t)nt), sizeof(float));
    }
    size_t f = add_or_max(mul_or_max(slab_floats(e, sh), (size_t)nt), delta_floats(e, sh));
    f = add_or_max(f, partial_floats(e, sh, nt));
    return mul_or_max(f, sizeof(float));
}

static float *delta_of(const ca_exec *ex, ca_entry e, ca_shape sh, int nt)
{
    return slab_of(ex, e, sh, nt);
}

/* Partial buffer of thread tid (>= 1) for copy c (causal, full: 0 dq; shared: 0 dk,
 * 1 dv). */
static float *partial_of(const ca_exec *ex, ca_entry e, ca_shape sh, int nt, int tid, int c)
{
    size_t one = (size_t)sh.n * sh.d * sh.heads;
    return delta_of(ex, e, sh, nt) + delta_floats(e, sh) +
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
    const int nt = omp_threads(ex->threads);
    const flash_ops ops = blis_ops(blis_threads(ex->threads));
    const int nb = (sh.n + BQ - 1) / BQ;
    const long ntask = (long)nb * sh.heads;
#pragma omp parallel num_threads(nt)
    {
        float *w = slab_of(ex, CA_CAUSAL_FWD, sh, nt > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int b = nb - 1 - (int)(task / sh.heads), h = (int)(task % sh.heads);
            const inst_rows r = inst_heads(causal, sh, h);
            flash_seq s = inst_seq(r, sh.d, causal, q, k, v);
            s.o = o + r.out * sh.d;
            s.lse = lse + r.out;
            int i0 = b * BQ;
            flash_fwd_block(&ops, &s, i0, sh.n - i0 < BQ ? sh.n - i0 : BQ, w);
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

/* causal / full backward (e: CA_CAUSAL_BWD or CA_FULL_BWD, whose partials are laid out
 * alike). q, k, v, o, dout, dq, dk, dv: [heads][N][d]; lse: [heads][N].
 * Tasks are (head, key block): each owns its dk, dv rows; dq rows are shared between
 * key blocks, so thread t > 0 accumulates dq into its own partial copy. Task order by
 * decreasing cost (causal: earlier key blocks are seen by more queries; full: equal
 * costs), fixed owners. */
static ca_status rows_bwd(ca_shape sh, const ca_exec *ex, int causal, ca_entry e,
                          const float *q, const float *k, const float *v, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    const int nt = omp_threads(ex->threads);
    const flash_ops ops = blis_ops(blis_threads(ex->threads));
    const int nb = (sh.n + BK_BWD - 1) / BK_BWD;
    const long ntask = (long)nb * sh.heads;
    const size_t all = (size_t)sh.n * sh.d * sh.heads;
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    memset(dq, 0, all * sizeof *dq);
    for (int t = 1; t < nt; t++)
        memset(partial_of(ex, e, sh, nt, t, 0), 0, all * sizeof *dq);
    float *D = delta_of(ex, e, sh, nt);
    const int nqb = (sh.n + BQ_BWD - 1) / BQ_BWD;
#pragma omp parallel num_threads(nt)
    {
        int tid = nt > 1 ? omp_get_thread_num() : 0;
        float *w = slab_of(ex, e, sh, tid);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < (long)nqb * sh.heads; task++) {
            int b = nqb - 1 - (int)(task / sh.heads), h = (int)(task % sh.heads);
            flash_seq s = bwd_head_seq(sh, h, causal, q, k, v, lse, dout, D);
            int i0 = b * BQ_BWD;
            flash_delta_block(&ops, &s, i0, sh.n - i0 < BQ_BWD ? sh.n - i0 : BQ_BWD, w);
        }
        float *dqt = tid == 0 ? dq : partial_of(ex, e, sh, nt, tid, 0);
        /* Owners among the team OpenMP actually gave: num_threads is a request, and
         * nested in another parallel region the team is smaller (the partials of
         * threads that never ran stay zero, so the reduction is unchanged). */
        const int team = omp_get_num_threads();
        for (long task = 0; task < ntask; task++) {
            if (snake_owner(task, team) != tid) continue;
            int b = (int)(task / sh.heads), h = (int)(task % sh.heads);
            flash_seq s = bwd_head_seq(sh, h, causal, q, k, v, lse, dout, D);
            const inst_rows r = inst_heads(causal, sh, h);
            int j0 = b * BK_BWD;
            flash_bwd_block(&ops, &s, j0, sh.n - j0 < BK_BWD ? sh.n - j0 : BK_BWD,
                            dqt + r.q * sh.d, dk + r.kv * sh.d, dv + r.kv * sh.d, w);
        }
    }
    if (nt > 1) reduce_partials(ex, e, sh, nt, 0, dq);
    return CA_OK;
}

static ca_status causal_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    (void)o;
    return rows_bwd(sh, ex, 1, CA_CAUSAL_BWD, q, k, v, lse, dout, dq, dk, dv);
}

/* full: every query block sees every key block; the tasks and owners are causal's. */
static ca_status full_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, const float *o,
                          const float *lse, const float *dout, float *dq, float *dk,
                          float *dv)
{
    (void)o;
    return rows_bwd(sh, ex, 0, CA_FULL_BWD, q, k, v, lse, dout, dq, dk, dv);
}

/* Decode: k_t, v_t into row t of the caches, then q_t over rows 0..t as a one-row
 * forward (one_row.h). Heads in parallel only when a step is long enough to repay the
 * fork. */
static ca_status decode_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                             const float *k_t, const float *v_t, float *k_cache,
                             float *v_cache, float *o_t, float *lse_t)
{
    const int nt = omp_threads(ex->threads);
    const flash_ops ops = blis_ops(blis_threads(ex->threads));
    const int par = nt > 1 && sh.heads > 1 && (long)(t + 1) * sh.d * sh.heads >= (1L << 16);
#pragma omp parallel num_threads(par ? nt : 1)
    {
        float *w = slab_of(ex, CA_DECODE_STEP, sh, par ? omp_get_thread_num() : 0);
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++)
            one_row_decode(&ops, sh, h, t, q_t, k_t, v_t, k_cache, v_cache, o_t, lse_t, w);
    }
    return CA_OK;
}

/* cubic forward. q, k, v, o: [heads][T][d]; lse: [heads][T]. Tasks (head, prefix),
 * longest prefix first; each writes only its own packed rows. */
static ca_status cubic_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, float *o, float *lse)
{
    const int nt = omp_threads(ex->threads);
    const flash_ops ops = blis_ops(blis_threads(ex->threads));
    const long ntask = inst_items(sh);
#pragma omp parallel num_threads(nt)
    {
        float *w = slab_of(ex, CA_CUBIC_FWD, sh, nt > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int h, t;
            inst_item(task, sh, &h, &t);
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            flash_seq s = inst_seq(r, sh.d, 0, q, k, v);
            s.o = o + r.out * sh.d;
            s.lse = lse + r.out;
            flash_fwd(&ops, &s, w);
        }
    }
    return CA_OK;
}

/* cubic backward. q, k, v, o, dout, dq, dk, dv: [heads][T][d]; lse: [heads][T].
 * Prefixes share no rows, so a task (head, prefix) owns all its gradients. */
static ca_status cubic_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    const int nt = omp_threads(ex->threads);
    const flash_ops ops = blis_ops(blis_threads(ex->threads));
    const size_t all = inst_all(CA_OP_CUBIC, sh).q * sh.d;
    const long ntask = inst_items(sh);
    memset(dq, 0, all * sizeof *dq);
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    (void)o;
    float *D = delta_of(ex, CA_CUBIC_BWD, sh, nt);
#pragma omp parallel num_threads(nt)
    {
        float *w = slab_of(ex, CA_CUBIC_BWD, sh, nt > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < ntask; task++) {
            int h, t;
            inst_item(task, sh, &h, &t);
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            flash_seq s = inst_seq(r, sh.d, 0, q, k, v);
            s.flse = lse + r.out;
            s.D = D + r.out;
            s.dout = dout + r.out * sh.d;
            flash_bwd(&ops, &s, dq + r.q * sh.d, dk + r.kv * sh.d, dv + r.kv * sh.d, w);
        }
    }
    return CA_OK;
}

/* cubic_shared by the O(N^2 d) sweep of shared_sweep.c, its products (a block's scores
 * against every key, P V, dS K, dS^T Q) by BLIS. Tasks are (head, block of SWEEP_RB
 * query rows), block-major: a block sweeps all N keys, its backward also the N - i0
 * prefixes' suffix sums, so earlier blocks cost a little more. */
/* Task -> head *h, first row (returned) and rows *nb of its block. */
static int sweep_block(ca_shape sh, long task, int *h, int *nb)
{
    const int i0 = (int)(task / sh.heads) * SWEEP_RB;
    *h = (int)(task % sh.heads);
    *nb = sh.n - i0 < SWEEP_RB ? sh.n - i0 : SWEEP_RB;
    return i0;
}

static long sweep_tasks(ca_shape sh)
{
    return (long)((sh.n + SWEEP_RB - 1) / SWEEP_RB) * sh.heads;
}

/* q, k, v: [heads][N][d]; o: [heads][T][d]; lse: [heads][T]. Each task writes only the
 * rows (t, i) of its own i, so dynamic scheduling stays deterministic. */
static ca_status shared_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    const int nt = omp_threads(ex->threads), d = sh.d;
    const flash_ops ops = blis_ops(blis_threads(ex->threads));
#pragma omp parallel num_threads(nt)
    {
        float *w = slab_of(ex, CA_SHARED_FWD, sh, nt > 1 ? omp_get_thread_num() : 0);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < sweep_tasks(sh); task++) {
            int h, nb, i0 = sweep_block(sh, task, &h, &nb);
            const inst_rows r = inst_head(CA_OP_CUBIC_SHARED, sh, h);
            sweep_fwd_rows(&ops, sh, i0, nb, q + r.q * d, k + r.kv * d, NULL, v + r.kv * d,
                           o + r.out * d, lse + r.out, w);
        }
    }
    return CA_OK;
}

/* q, k, v, dq, dk, dv: [heads][N][d]; o, dout: [heads][T][d]; lse: [heads][T]. A task
 * writes its own dq rows; every task adds into all of dk, dv, so thread t > 0
 * accumulates them into its own copies, summed in thread order; fixed owners. */
static ca_status shared_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    const int nt = omp_threads(ex->threads), n = sh.n, d = sh.d;
    const flash_ops ops = blis_ops(blis_threads(ex->threads));
    const size_t all = (size_t)n * d * sh.heads;
    float *out[2] = {dk, dv};
    for (int c = 0; c < 2; c++) {
        memset(out[c], 0, all * sizeof(float));
        for (int t = 1; t < nt; t++)
            memset(partial_of(ex, CA_SHARED_BWD, sh, nt, t, c), 0, all * sizeof(float));
    }
#pragma omp parallel num_threads(nt)
    {
        int tid = nt > 1 ? omp_get_thread_num() : 0;
        float *w = slab_of(ex, CA_SHARED_BWD, sh, tid);
        float *g[2];
        for (int c = 0; c < 2; c++)
            g[c] = tid == 0 ? out[c] : partial_of(ex, CA_SHARED_BWD, sh, nt, tid, c);
        const int team = omp_get_num_threads(); /* see rows_bwd */
        for (long task = 0; task < sweep_tasks(sh); task++) {
            if (snake_owner(task, team) != tid) continue;
            int h, nb, i0 = sweep_block(sh, task, &h, &nb);
            const inst_rows r = inst_head(CA_OP_CUBIC_SHARED, sh, h);
            const size_t qo = r.q * d, kv = r.kv * d, ro = r.out * d;
            /* the partials g have the layout of dk, dv */
            sweep_bwd_rows(&ops, sh, i0, nb, q + qo, k + kv, NULL, v + kv, o + ro,
                           lse + r.out, dout + ro, dq + qo, g[0] + kv, g[1] + kv, w);
        }
    }
    if (nt > 1)
        for (int c = 0; c < 2; c++) reduce_partials(ex, CA_SHARED_BWD, sh, nt, c, out[c]);
    return CA_OK;
}

/* cubic_last (cubattn.h shapes): prefixes on the OpenMP threads, BLIS inside
 * (one_row.c). */
static ca_status last_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    const flash_ops ops = last_ops(blis_threads(ex->threads));
    one_row_last_all_fwd(&ops, sh, omp_threads(ex->threads), q, k, v, o, lse, ex->ws);
    return CA_OK;
}

static ca_status last_bwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    const flash_ops ops = last_ops(blis_threads(ex->threads));
    one_row_last_all_bwd(&ops, sh, omp_threads(ex->threads), q, k, v, o, lse, dout, dq, dk, dv,
                 ex->ws);
    return CA_OK;
}

static const char *runtime_note(void) { return ca_blis_config(); }

const ca_impl ca_impl_blas = {
    .name = "blas",
    .description = "the tile engine with BLIS tile products (fwd 144x256, bwd 144x144), "
                   "OpenMP over heads/blocks/prefixes",
    .workspace = workspace,
    CA_ENTRIES_BY_NAME,
    .runtime_note = runtime_note,
};
