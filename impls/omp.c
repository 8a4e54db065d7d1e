/* omp.c: the tile engine (flash.c) on the register-kernel backend (regtile.c) and the
 * cubic_shared sweep (shared_sweep.c), run by exactly ex->threads OpenMP threads.
 *
 * Work items and balance:
 *   causal fwd / bwd: (head, pair of 64-row tiles i and nT-1-i); a pair's rows see
 *     (nT+1) 64 keys whatever i is, so a static split of pairs balances the triangle.
 *   full fwd: (head, query tile), equal costs.
 *   cubic fwd / bwd: (head, prefix), largest prefix first, handed out dynamically: its
 *     cost grows as t^2, and each prefix writes only its own rows, so the assignment
 *     cannot change a single bit of the result.
 *   cubic_shared: (head, block of 16 rows); each row sweeps all N keys.
 *   cubic_last: one run of consecutive (head, prefix) items in memory order per thread,
 *     cut at equal shares of the cost (one_row.c): a prefix reads its keys once, and a run
 *     is one stream of them; each writes only its own rows (o, lse, dq row t-1; dk, dv of
 *     its packed keys).
 * Determinism of the backward: dK, dV of a key tile are owned by the one item that
 * walks that key tile; dQ (causal) and dK, dV (cubic_shared), to which many items add,
 * go to per-thread partial buffers under a static item-to-thread map, summed afterwards
 * in thread order. So a given thread count gives bit-identical results, and no atomics.
 * All scratch is in the workspace the harness allocates (sized by workspace()). */
#include "cubattn.h"
#include "flash.h"
#include "kprof.h"
#include "instance.h"
#include "one_row.h"
#include "regtile.h"
#include "shared_sweep.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

/* Packing K^T / V^T, timed when the profile is on (kprof.h). */
#define PACK(n, d, x, xt) KPROF_TIME(KPROF_PACKING, regt_pack(n, d, x, xt))
/* A call into the tile engine, timed as a whole (its products inside it as well): the
 * profile tells the engine's softmax and bookkeeping from the time spent outside it. */
#define ENGINE(call) KPROF_TIME(KPROF_ENGINE, call)

/* Per-thread floats: packed K^T and V^T of one sequence, D, and kernel scratch. */
static size_t thread_floats(int n, int d)
{
    size_t a = flash_scratch_floats(&regt_ops), b = sweep_scratch_floats(n, d);
    return 2 * regt_packed_floats((size_t)n, (size_t)d) + regt_tiles((size_t)n) * REGT_B +
           (a > b ? a : b);
}

/* Floats of per-head packed operands: K^T, V^T and D for each head. */
static size_t head_floats(int n, int d)
{
    return 2 * regt_packed_floats((size_t)n, (size_t)d) + regt_tiles((size_t)n) * REGT_B;
}

/* Partial gradient buffers per thread: dq for causal / full bwd, dk + dv for shared_bwd. */
static size_t partial_floats(ca_entry e, ca_shape sh)
{
    size_t hs = (size_t)sh.n * sh.d * sh.heads;
    return e == CA_CAUSAL_BWD || e == CA_FULL_BWD ? hs : e == CA_SHARED_BWD ? 2 * hs : 0;
}

static size_t workspace(ca_entry e, ca_shape sh, int threads)
{
    /* A decode step, cubic_last: one query row, keys read unpacked (one_row.h); only the
     * kernel scratch of each thread. */
    if (e == CA_DECODE_STEP || e == CA_LAST_FWD || e == CA_LAST_BWD)
        return (size_t)threads * one_row_scratch_floats(&regt_ops) * sizeof(float);
    const double th = threads;
    const double floats = th * (double)thread_floats(sh.n, sh.d) +
                          (double)sh.heads * head_floats(sh.n, sh.d) +
                          th * (double)partial_floats(e, sh);
    if (floats * sizeof(float) > (double)(SIZE_MAX / 2)) return SIZE_MAX;
    return ((size_t)threads * thread_floats(sh.n, sh.d) +
            (size_t)sh.heads * head_floats(sh.n, sh.d) +
            (size_t)threads * partial_floats(e, sh)) * sizeof(float);
}

typedef struct ws_layout {
    float *thread_base, *head_base, *partial;
    size_t tstride, hstride, pstride;
} ws_layout;

static ws_layout layout(ca_entry e, ca_shape sh, const ca_exec *ex)
{
    ws_layout w;
    w.tstride = thread_floats(sh.n, sh.d);
    w.hstride = head_floats(sh.n, sh.d);
    w.pstride = partial_floats(e, sh);
    w.thread_base = ex->ws;
    w.head_base = w.thread_base + (size_t)ex->threads * w.tstride;
    w.partial = w.head_base + (size_t)sh.heads * w.hstride;
    return w;
}

/* Views of one thread's (or one head's) block: kt | vt | D | scratch. */
typedef struct seq_bufs {
    float *kt, *vt, *D, *scratch;
} seq_bufs;

static seq_bufs bufs_at(float *base, int n, int d)
{
    seq_bufs b;
    const size_t pk = regt_packed_floats((size_t)n, (size_t)d);
    b.kt = base;
    b.vt = b.kt + pk;
    b.D = b.vt + pk;
    b.scratch = b.D + regt_tiles((size_t)n) * REGT_B;
    return b;
}

static int tiles_of(int n) { return (int)regt_tiles((size_t)n); }
static int tile_rows(int n, int i) { return n - i * REGT_B < REGT_B ? n - i * REGT_B : REGT_B; }

/* Head h (rows r) of a causal / full problem with its packed operands. */
static flash_seq head_seq(const ws_layout *w, ca_shape sh, int h, inst_rows r, int causal,
                          const float *q, const float *k, const float *v)
{
    seq_bufs b = bufs_at(w->head_base + h * w->hstride, sh.n, sh.d);
    flash_seq s = inst_seq(r, sh.d, causal, q, k, v);
    s.kp = b.kt;
    s.vp = b.vt;
    s.D = b.D;
    return s;
}


/* ---- causal and full ------------------------------------------------------------ */

static ca_status heads_fwd(ca_shape sh, const ca_exec *ex, int causal, ca_entry e,
                           const float *q, const float *k, const float *v, float *o,
                           float *lse)
{
    const ws_layout w = layout(e, sh, ex);
    const int n = sh.n, d = sh.d, nT = tiles_of(n);
    /* causal: pair i with nT-1-i; full: one tile per item. */
    const int per_head = causal ? (nT + 1) / 2 : nT;
    const int items = per_head * sh.heads;
#pragma omp parallel num_threads(ex->threads)
    {
        float *scratch = bufs_at(w.thread_base + (size_t)omp_get_thread_num() * w.tstride, n, d).scratch;
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++)
            PACK(n, d, k + inst_heads(causal, sh, h).kv * d,
                 bufs_at(w.head_base + h * w.hstride, n, d).kt);
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            const int h = it / per_head, p = it % per_head;
            const inst_rows r = inst_heads(causal, sh, h);
            flash_seq s = head_seq(&w, sh, h, r, causal, q, k, v);
            s.o = o + r.out * d;
            s.lse = lse + r.out;
            int tl[2] = {p, causal ? nT - 1 - p : -1};
            for (int x = 0; x < 2; x++) {
                if (tl[x] < 0 || (x == 1 && tl[1] == tl[0])) continue;
                ENGINE(flash_fwd_block(&regt_ops, &s, tl[x] * REGT_B, tile_rows(n, tl[x]),
                                       scratch));
            }
        }
    }
    return CA_OK;
}

static ca_status causal_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    return heads_fwd(sh, ex, 1, CA_CAUSAL_FWD, q, k, v, o, lse);
}

static ca_status full_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, float *o, float *lse)
{
    return heads_fwd(sh, ex, 0, CA_FULL_FWD, q, k, v, o, lse);
}

/* Key tiles paired (j, nT-1-j) statically; dq into this thread's partial buffer, then
 * the partials summed in thread order. */
static ca_status heads_bwd(ca_shape sh, const ca_exec *ex, int causal, ca_entry e,
                           const float *q, const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    const ws_layout w = layout(e, sh, ex);
    const int n = sh.n, d = sh.d, nT = tiles_of(n), T = ex->threads;
    const size_t all = (size_t)n * d * sh.heads;
    const int per_head = (nT + 1) / 2, items = per_head * sh.heads;
#pragma omp parallel num_threads(T)
    {
        const int tid = omp_get_thread_num();
        float *scratch = bufs_at(w.thread_base + (size_t)tid * w.tstride, n, d).scratch;
        float *pdq = w.partial + (size_t)tid * w.pstride;
        memset(pdq, 0, all * sizeof *pdq);
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++) {
            const inst_rows r = inst_heads(causal, sh, h);
            const size_t kv = r.kv * d;
            seq_bufs b = bufs_at(w.head_base + h * w.hstride, n, d);
            PACK(n, d, k + kv, b.kt);
            PACK(n, d, v + kv, b.vt);
            flash_seq s = head_seq(&w, sh, h, r, causal, q, k, v);
            s.fo = o + r.out * d;
            s.dout = dout + r.out * d;
            ENGINE(flash_delta(&regt_ops, &s, scratch));
            memset(dk + kv, 0, (size_t)r.nk * d * sizeof *dk);
            memset(dv + kv, 0, (size_t)r.nk * d * sizeof *dv);
        }
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            const int h = it / per_head, p = it % per_head;
            const inst_rows r = inst_heads(causal, sh, h);
            flash_seq s = head_seq(&w, sh, h, r, causal, q, k, v);
            s.flse = lse + r.out;
            s.dout = dout + r.out * d;
            int tl[2] = {p, nT - 1 - p};
            for (int x = 0; x < 2; x++) {
                if (x == 1 && tl[1] == tl[0]) continue;
                ENGINE(flash_bwd_block(&regt_ops, &s, tl[x] * REGT_B, tile_rows(n, tl[x]),
                                       pdq + r.q * d, dk + r.kv * d, dv + r.kv * d,
                                       scratch));
            }
        }
        /* The implicit barrier above: every partial is complete. Sum the partials of
         * the team OpenMP actually gave (num_threads is a request: nested in another
         * parallel region or under OMP_THREAD_LIMIT it is smaller, and the partials of
         * threads that never ran hold stale workspace). */
        const int team = omp_get_num_threads();
#pragma omp for schedule(static)
        for (size_t x = 0; x < all; x++) {
            float s = 0.0f;
            for (int t = 0; t < team; t++) s += w.partial[(size_t)t * w.pstride + x];
            dq[x] = s;
        }
    }
    return CA_OK;
}

static ca_status causal_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    return heads_bwd(sh, ex, 1, CA_CAUSAL_BWD, q, k, v, o, lse, dout, dq, dk, dv);
}

/* full: every key tile sees every query tile; the pairing (i, nT-1-i) still covers each
 * key tile once, at equal cost per pair. */
static ca_status full_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, const float *o,
                          const float *lse, const float *dout, float *dq, float *dk,
                          float *dv)
{
    return heads_bwd(sh, ex, 0, CA_FULL_BWD, q, k, v, o, lse, dout, dq, dk, dv);
}

/* Heads in parallel when there is enough work to pay for waking the threads. */
static ca_status decode_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                             const float *k_t, const float *v_t, float *k_cache,
                             float *v_cache, float *o_t, float *lse_t)
{
    const int par = (double)(t + 1) * sh.d * sh.heads > 65536.0;
#pragma omp parallel for schedule(static) num_threads(ex->threads) if (par)
    for (int h = 0; h < sh.heads; h++) {
        float *scratch =
            (float *)ex->ws + (size_t)omp_get_thread_num() * one_row_scratch_floats(&regt_ops);
        ENGINE(one_row_decode(&regt_ops, sh, h, t, q_t, k_t, v_t, k_cache, v_cache, o_t,
                              lse_t, scratch));
    }
    return CA_OK;
}

/* ---- cubic ---------------------------------------------------------------------- */

static ca_status cubic_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, float *o, float *lse)
{
    const ws_layout w = layout(CA_CUBIC_FWD, sh, ex);
    const int n = sh.n, d = sh.d;
    const long items = inst_items(sh);
#pragma omp parallel num_threads(ex->threads)
    {
        seq_bufs b = bufs_at(w.thread_base + (size_t)omp_get_thread_num() * w.tstride, n, d);
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < items; it++) {
            int h, t;
            inst_item(it, sh, &h, &t);
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            flash_seq s = inst_seq(r, d, 0, q, k, v);
            s.kp = b.kt;
            s.o = o + r.out * d;
            s.lse = lse + r.out;
            PACK(t, d, s.k, b.kt);
            ENGINE(flash_fwd(&regt_ops, &s, b.scratch));
        }
    }
    return CA_OK;
}

static ca_status cubic_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    const ws_layout w = layout(CA_CUBIC_BWD, sh, ex);
    const int n = sh.n, d = sh.d;
    const long items = inst_items(sh);
#pragma omp parallel num_threads(ex->threads)
    {
        seq_bufs b = bufs_at(w.thread_base + (size_t)omp_get_thread_num() * w.tstride, n, d);
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < items; it++) {
            int h, t;
            inst_item(it, sh, &h, &t);
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            const size_t qo = r.q * d, kv = r.kv * d, out = r.out * d, rows = (size_t)t * d;
            memset(dq + qo, 0, rows * sizeof *dq);
            memset(dk + kv, 0, rows * sizeof *dk);
            memset(dv + kv, 0, rows * sizeof *dv);
            flash_seq s = inst_seq(r, d, 0, q, k, v);
            s.kp = b.kt;
            s.vp = b.vt;
            s.fo = o + out;
            s.flse = lse + r.out;
            s.dout = dout + out;
            s.D = b.D;
            PACK(t, d, s.k, b.kt);
            PACK(t, d, s.v, b.vt);
            ENGINE(flash_bwd(&regt_ops, &s, dq + qo, dk + kv, dv + kv, b.scratch));
        }
    }
    return CA_OK;
}

/* ---- cubic_shared, O(N^2 d) ----------------------------------------------------- */

static ca_status shared_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    const ws_layout w = layout(CA_SHARED_FWD, sh, ex);
    const int n = sh.n, d = sh.d, RB = SWEEP_RB;
    const int per_head = (n + RB - 1) / RB, items = per_head * sh.heads;
#pragma omp parallel num_threads(ex->threads)
    {
        float *scratch = bufs_at(w.thread_base + (size_t)omp_get_thread_num() * w.tstride, n, d).scratch;
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++)
            PACK(n, d, k + inst_head(CA_OP_CUBIC_SHARED, sh, h).kv * d,
                 bufs_at(w.head_base + h * w.hstride, n, d).kt);
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            const int h = it / per_head, i0 = (it % per_head) * RB;
            const inst_rows r = inst_head(CA_OP_CUBIC_SHARED, sh, h);
            sweep_fwd_rows(&regt_ops, sh, i0, n - i0 < RB ? n - i0 : RB, q + r.q * d,
                           k + r.kv * d, bufs_at(w.head_base + h * w.hstride, n, d).kt,
                           v + r.kv * d, o + r.out * d, lse + r.out, scratch);
        }
    }
    return CA_OK;
}

/* Row blocks dealt round-robin (static, chunk 1); dk, dv into per-thread partials. */
static ca_status shared_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    const ws_layout w = layout(CA_SHARED_BWD, sh, ex);
    const int n = sh.n, d = sh.d, RB = SWEEP_RB, TH = ex->threads;
    const size_t all = (size_t)n * d * sh.heads;
    const int per_head = (n + RB - 1) / RB, items = per_head * sh.heads;
#pragma omp parallel num_threads(TH)
    {
        const int tid = omp_get_thread_num();
        float *scratch = bufs_at(w.thread_base + (size_t)tid * w.tstride, n, d).scratch;
        float *pdk = w.partial + (size_t)tid * w.pstride, *pdv = pdk + all;
        memset(pdk, 0, 2 * all * sizeof *pdk);
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++)
            PACK(n, d, k + inst_head(CA_OP_CUBIC_SHARED, sh, h).kv * d,
                 bufs_at(w.head_base + h * w.hstride, n, d).kt);
#pragma omp for schedule(static, 1)
        for (int it = 0; it < items; it++) {
            const int h = it / per_head, i0 = (it % per_head) * RB;
            const inst_rows r = inst_head(CA_OP_CUBIC_SHARED, sh, h);
            const size_t qo = r.q * d, kv = r.kv * d, out = r.out * d;
            /* the partials have the layout of dk, dv */
            sweep_bwd_rows(&regt_ops, sh, i0, n - i0 < RB ? n - i0 : RB, q + qo, k + kv,
                           bufs_at(w.head_base + h * w.hstride, n, d).kt, v + kv, o + out,
                           lse + r.out, dout + out, dq + qo, pdk + kv, pdv + kv, scratch);
        }
        const int team = omp_get_num_threads(); /* see causal_bwd: may be < TH */
#pragma omp for schedule(static)
        for (size_t x = 0; x < all; x++) {
            float a = 0.0f, b = 0.0f;
            for (int t = 0; t < team; t++) {
                a += w.partial[(size_t)t * w.pstride + x];
                b += w.partial[(size_t)t * w.pstride + all + x];
            }
            dk[x] = a;
            dv[x] = b;
        }
    }
    return CA_OK;
}

/* ---- cubic_last, O(N^2 d) ------------------------------------------------------- */

static ca_status last_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    one_row_last_all_fwd(&regt_ops, sh, ex->threads, q, k, v, o, lse, ex->ws);
    return CA_OK;
}

static ca_status last_bwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    one_row_last_all_bwd(&regt_ops, sh, ex->threads, q, k, v, o, lse, dout, dq, dk, dv, ex->ws);
    return CA_OK;
}

const ca_impl ca_impl_omp = {
    .name = "omp",
    .description = "OpenMP over heads and 64-row tiles (causal triangle paired, cubic "
                   "prefixes largest first) on the register-kernel tile engine; "
                   "deterministic bwd",
    .workspace = workspace,
    CA_ENTRIES_BY_NAME,
};
