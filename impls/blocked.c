/* blocked.c: single-threaded FlashAttention-style tiling (the tile engine of
 * impls/kernels/flash.c on the register-kernel backend, regtile.c) for every entry
 * point. Forward keeps an online softmax per 64-row query tile and saves lse; backward
 * walks key tiles, recomputing P from lse tile by tile; causal never touches a tile
 * above the diagonal. cubic_shared is the O(N^2 d) row sweep (shared_sweep.c) and its
 * suffix-sum backward; cubic_last one query row per prefix (one_row.c). Scratch comes from the workspace query, so the harness counts every byte:
 * O(N d) for the packed K^T / V^T of one head (or prefix) plus a few tiles. */
#include "cubattn.h"
#include "flash.h"
#include "kprof.h"
#include "instance.h"
#include "one_row.h"
#include "regtile.h"
#include "shared_sweep.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Packing K^T / V^T, timed when the profile is on (kprof.h). */
#define PACK(n, d, x, xt) KPROF_TIME(KPROF_PACKING, regt_pack(n, d, x, xt))
/* A call into the tile engine, timed as a whole (its products inside it as well): the
 * profile tells the engine's softmax and bookkeeping from the time spent outside it. */
#define ENGINE(call) KPROF_TIME(KPROF_ENGINE, call)

/* Workspace layout (floats): kt [packed N] | vt [packed N] | D [N padded] | scratch. */
typedef struct ws_layout {
    float *kt, *vt, *D, *scratch;
} ws_layout;

static size_t scratch_floats(int n, int d)
{
    size_t a = flash_scratch_floats(&regt_ops), b = sweep_scratch_floats(n, d);
    return a > b ? a : b;
}

static size_t workspace(ca_entry e, ca_shape sh, int threads)
{
    (void)threads;
    const size_t np = regt_tiles((size_t)sh.n) * REGT_B;
    /* Guard the products: validation bounds N d heads, not this sum of terms. */
    const double floats = 2.0 * (double)np * sh.d + (double)np +
                          (double)scratch_floats(sh.n, sh.d);
    if (floats * sizeof(float) > (double)(SIZE_MAX / 2)) return SIZE_MAX;
    if (e == CA_DECODE_STEP || e == CA_LAST_FWD || e == CA_LAST_BWD)
        return one_row_scratch_floats(&regt_ops) * sizeof(float);
    return (2 * regt_packed_floats((size_t)sh.n, (size_t)sh.d) + np +
            scratch_floats(sh.n, sh.d)) * sizeof(float);
}

static ws_layout layout(ca_shape sh, const ca_exec *ex)
{
    ws_layout w;
    const size_t pk = regt_packed_floats((size_t)sh.n, (size_t)sh.d);
    w.kt = ex->ws;
    w.vt = w.kt + pk;
    w.D = w.vt + pk;
    w.scratch = w.D + regt_tiles((size_t)sh.n) * REGT_B;
    return w;
}

/* One sequence of n rows (a head, or one cubic prefix) with its packed operands.
 * q, k, v: [n][d] */
static flash_seq seq_of(int n, int d, int causal, const float *q, const float *k,
                        const float *v, const ws_layout *w)
{
    flash_seq s = {.nq = n, .nk = n, .d = d, .causal = causal, .q = q, .k = k, .v = v,
                   .kp = w->kt, .vp = w->vt, .D = w->D};
    return s;
}

/* o, lse: [n][d], [n] */
static void seq_fwd(int n, int d, int causal, const float *q, const float *k,
                    const float *v, float *o, float *lse, const ws_layout *w)
{
    flash_seq s = seq_of(n, d, causal, q, k, v, w);
    s.o = o;
    s.lse = lse;
    PACK(n, d, k, w->kt);
    ENGINE(flash_fwd(&regt_ops, &s, w->scratch));
}

/* Backward of one sequence; dq, dk, dv accumulate (caller zeroes).
 * o, dout, dq, dk, dv: [n][d]  lse: [n] */
static void seq_bwd(int n, int d, int causal, const float *q, const float *k,
                    const float *v, const float *o, const float *lse, const float *dout,
                    float *dq, float *dk, float *dv, const ws_layout *w)
{
    flash_seq s = seq_of(n, d, causal, q, k, v, w);
    s.fo = o;
    s.flse = lse;
    s.dout = dout;
    PACK(n, d, k, w->kt);
    PACK(n, d, v, w->vt);
    ENGINE(flash_bwd(&regt_ops, &s, dq, dk, dv, w->scratch));
}

static ca_status heads_fwd(ca_shape sh, const ca_exec *ex, int causal, const float *q,
                           const float *k, const float *v, float *o, float *lse)
{
    const ws_layout w = layout(sh, ex);
    const size_t d = (size_t)sh.d;
    for (int h = 0; h < sh.heads; h++) {
        const inst_rows r = inst_heads(causal, sh, h);
        seq_fwd(r.nq, sh.d, causal, q + r.q * d, k + r.kv * d, v + r.kv * d, o + r.out * d,
                lse + r.out, &w);
    }
    return CA_OK;
}

static ca_status causal_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    return heads_fwd(sh, ex, 1, q, k, v, o, lse);
}

static ca_status full_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, float *o, float *lse)
{
    return heads_fwd(sh, ex, 0, q, k, v, o, lse);
}

static ca_status heads_bwd(ca_shape sh, const ca_exec *ex, int causal, const float *q,
                           const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    const ws_layout w = layout(sh, ex);
    const size_t d = (size_t)sh.d, all = (size_t)sh.n * d * sh.heads;
    memset(dq, 0, all * sizeof *dq);
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    for (int h = 0; h < sh.heads; h++) {
        const inst_rows r = inst_heads(causal, sh, h);
        const size_t qo = r.q * d, kv = r.kv * d, out = r.out * d;
        seq_bwd(r.nq, sh.d, causal, q + qo, k + kv, v + kv, o + out, lse + r.out, dout + out,
                dq + qo, dk + kv, dv + kv, &w);
    }
    return CA_OK;
}

static ca_status causal_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    return heads_bwd(sh, ex, 1, q, k, v, o, lse, dout, dq, dk, dv);
}

static ca_status full_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, const float *o,
                          const float *lse, const float *dout, float *dq, float *dk,
                          float *dv)
{
    return heads_bwd(sh, ex, 0, q, k, v, o, lse, dout, dq, dk, dv);
}

/* One query row against cache rows 0..t, the cache unpacked (one_row.h). */
static ca_status decode_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                             const float *k_t, const float *v_t, float *k_cache,
                             float *v_cache, float *o_t, float *lse_t)
{
    for (int h = 0; h < sh.heads; h++)
        ENGINE(one_row_decode(&regt_ops, sh, h, t, q_t, k_t, v_t, k_cache, v_cache, o_t,
                              lse_t, ex->ws));
    return CA_OK;
}

/* cubic: prefix t is an independent full attention over its t packed rows. */
static ca_status cubic_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, float *o, float *lse)
{
    const ws_layout w = layout(sh, ex);
    const size_t d = (size_t)sh.d;
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= sh.n; t++) {
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            seq_fwd(t, sh.d, 0, q + r.q * d, k + r.kv * d, v + r.kv * d, o + r.out * d,
                    lse + r.out, &w);
        }
    return CA_OK;
}

static ca_status cubic_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    const ws_layout w = layout(sh, ex);
    const size_t d = (size_t)sh.d, all = inst_all(CA_OP_CUBIC, sh).q * d;
    memset(dq, 0, all * sizeof *dq);
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= sh.n; t++) {
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            const size_t qo = r.q * d, kv = r.kv * d, out = r.out * d;
            seq_bwd(t, sh.d, 0, q + qo, k + kv, v + kv, o + out, lse + r.out, dout + out,
                    dq + qo, dk + kv, dv + kv, &w);
        }
    return CA_OK;
}

/* cubic_shared in O(N^2 d): one online-softmax sweep per query row (shared_sweep.c). */
static ca_status shared_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    const ws_layout w = layout(sh, ex);
    const int n = sh.n, d = sh.d;
    for (int h = 0; h < sh.heads; h++) {
        const inst_rows r = inst_head(CA_OP_CUBIC_SHARED, sh, h);
        const float *qh = q + r.q * d, *kh = k + r.kv * d, *vh = v + r.kv * d;
        PACK(n, d, kh, w.kt);
        for (int i0 = 0; i0 < n; i0 += SWEEP_RB) {
            int nb = n - i0 < SWEEP_RB ? n - i0 : SWEEP_RB;
            sweep_fwd_rows(&regt_ops, sh, i0, nb, qh, kh, w.kt, vh, o + r.out * d,
                           lse + r.out, w.scratch);
        }
    }
    return CA_OK;
}

static ca_status shared_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    const ws_layout w = layout(sh, ex);
    const int n = sh.n, d = sh.d;
    const size_t all = (size_t)n * d * sh.heads;
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    for (int h = 0; h < sh.heads; h++) {
        const inst_rows r = inst_head(CA_OP_CUBIC_SHARED, sh, h);
        const size_t qo = r.q * d, kv = r.kv * d, out = r.out * d;
        PACK(n, d, k + kv, w.kt);
        for (int i0 = 0; i0 < n; i0 += SWEEP_RB) {
            int nb = n - i0 < SWEEP_RB ? n - i0 : SWEEP_RB;
            sweep_bwd_rows(&regt_ops, sh, i0, nb, q + qo, k + kv, w.kt, v + kv, o + out,
                           lse + r.out, dout + out, dq + qo, dk + kv, dv + kv, w.scratch);
        }
    }
    return CA_OK;
}

/* cubic_last: each prefix a one-row attention over its packed keys (one_row.h). */
static ca_status last_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    one_row_last_all_fwd(&regt_ops, sh, 1, q, k, v, o, lse, ex->ws);
    return CA_OK;
}

static ca_status last_bwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    one_row_last_all_bwd(&regt_ops, sh, 1, q, k, v, o, lse, dout, dq, dk, dv, ex->ws);
    return CA_OK;
}

const ca_impl ca_impl_blocked = {
    .name = "blocked",
    .description = "single-threaded FlashAttention tiles, 64 x 128 forward, 64 x 64 backward "
                   "(online softmax, lse "
                   "recompute), 6-row FMA kernel (4 vectors on avx512, 2 on avx2); "
                   "cubic_shared O(N^2 d)",
    .workspace = workspace,
    CA_ENTRIES_BY_NAME,
};
