/* naive.c: plain float32 loops, one query row at a time, for every entry point.
 * The same-precision baseline that verify/ measures every other implementation
 * against: written to be obviously right, not fast. Each row makes two passes over its
 * keys (max, then exp-sum) instead of storing its scores; the one workspace is the
 * per-prefix gradient of the cubic_shared backward (shared_bwd). */
#include "cubattn.h"
#include "instance.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static float dot(const float *a, const float *b, int d)
{
    float acc = 0.0f;
    for (int c = 0; c < d; c++) acc += a[c] * b[c];
    return acc;
}

/* One query row against keys/values 0..len-1.
 * q: [d]  k, v: [len][d]  o: [d]  *lse: scalar */
static void row_fwd(int d, float scale, int len, const float *q, const float *k,
                    const float *v, float *o, float *lse)
{
    float m = -INFINITY;
    for (int j = 0; j < len; j++) {
        float s = scale * dot(q, k + (size_t)j * d, d);
        if (s > m) m = s;
    }
    float l = 0.0f;
    memset(o, 0, (size_t)d * sizeof *o);
    for (int j = 0; j < len; j++) {
        float w = expf(scale * dot(q, k + (size_t)j * d, d) - m);
        l += w;
        for (int c = 0; c < d; c++) o[c] += w * v[(size_t)j * d + c];
    }
    for (int c = 0; c < d; c++) o[c] /= l;
    *lse = m + logf(l);
}

/* Backward of one row, P recomputed from lse. Row-wise D = dO . o keeps it O(len d).
 * q, o, dout, dq: [d]  k, v, dk, dv: [len][d]; dq, dk, dv accumulate. */
static void row_bwd(int d, float scale, int len, const float *q, const float *k,
                    const float *v, const float *o, float lse, const float *dout,
                    float *dq, float *dk, float *dv)
{
    float D = dot(dout, o, d);
    for (int j = 0; j < len; j++) {
        const float *kj = k + (size_t)j * d, *vj = v + (size_t)j * d;
        float p = expf(scale * dot(q, kj, d) - lse);
        float ds = p * (dot(dout, vj, d) - D);
        for (int c = 0; c < d; c++) {
            dv[(size_t)j * d + c] += p * dout[c];
            dq[c] += scale * ds * kj[c];
            dk[(size_t)j * d + c] += scale * ds * q[c];
        }
    }
}

static float scale_of(int d) { return 1.0f / sqrtf((float)d); }

/* Which keys a row sees: causal row i sees 0..i, full sees all n. */
static ca_status rows_fwd(ca_shape sh, int causal, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    const int n = sh.n, d = sh.d;
    for (int h = 0; h < sh.heads; h++) {
        const inst_rows r = inst_heads(causal, sh, h);
        const float *kh = k + r.kv * d, *vh = v + r.kv * d;
        for (int i = 0; i < n; i++)
            row_fwd(d, scale_of(d), causal ? i + 1 : n, q + (r.q + i) * d, kh, vh,
                    o + (r.out + i) * d, lse + r.out + i);
    }
    return CA_OK;
}

static ca_status causal_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    (void)ex;
    return rows_fwd(sh, 1, q, k, v, o, lse);
}

static ca_status full_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, float *o, float *lse)
{
    (void)ex;
    return rows_fwd(sh, 0, q, k, v, o, lse);
}

/* Which keys a row sees, as in rows_fwd. */
static ca_status rows_bwd(ca_shape sh, int causal, const float *q, const float *k,
                          const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    const int n = sh.n, d = sh.d;
    const size_t all = (size_t)n * d * sh.heads;
    memset(dq, 0, all * sizeof *dq);
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    for (int h = 0; h < sh.heads; h++) {
        const inst_rows r = inst_heads(causal, sh, h);
        const size_t kv = r.kv * d;
        for (int i = 0; i < n; i++) {
            const size_t qi = (r.q + i) * d, oi = (r.out + i) * d;
            row_bwd(d, scale_of(d), causal ? i + 1 : n, q + qi, k + kv, v + kv, o + oi,
                    lse[r.out + i], dout + oi, dq + qi, dk + kv, dv + kv);
        }
    }
    return CA_OK;
}

static ca_status causal_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    (void)ex;
    return rows_bwd(sh, 1, q, k, v, o, lse, dout, dq, dk, dv);
}

static ca_status full_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, const float *o,
                          const float *lse, const float *dout, float *dq, float *dk,
                          float *dv)
{
    (void)ex;
    return rows_bwd(sh, 0, q, k, v, o, lse, dout, dq, dk, dv);
}

static ca_status decode_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                             const float *k_t, const float *v_t, float *k_cache,
                             float *v_cache, float *o_t, float *lse_t)
{
    (void)ex;
    const size_t d = (size_t)sh.d;
    for (int h = 0; h < sh.heads; h++) {
        const inst_rows r = inst_decode_append(sh, h, t, k_t, v_t, k_cache, v_cache);
        row_fwd(sh.d, scale_of(sh.d), r.nk, q_t + r.q * d, k_cache + r.kv * d,
                v_cache + r.kv * d, o_t + r.out * d, lse_t + r.out);
    }
    return CA_OK;
}

/* cubic: prefix t is an independent full attention over its own rows off(t)..off(t)+t-1. */
static ca_status cubic_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= n; t++) {
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            const float *kt = k + r.kv * d, *vt = v + r.kv * d;
            for (int i = 0; i < t; i++)
                row_fwd(d, scale_of(d), t, q + (r.q + i) * d, kt, vt, o + (r.out + i) * d,
                        lse + r.out + i);
        }
    return CA_OK;
}

static ca_status cubic_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                           const float *k, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    const size_t all = inst_all(CA_OP_CUBIC, sh).q * d;
    memset(dq, 0, all * sizeof *dq);
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= n; t++) {
            const inst_rows r = inst_prefix(CA_OP_CUBIC, sh, h, t);
            const size_t kb = r.kv * d;
            for (int i = 0; i < t; i++) {
                const size_t qi = (r.q + i) * d, oi = (r.out + i) * d;
                row_bwd(d, scale_of(d), t, q + qi, k + kb, v + kb, o + oi, lse[r.out + i],
                        dout + oi, dq + qi, dk + kb, dv + kb);
            }
        }
    return CA_OK;
}

/* cubic_shared, the straightforward Theta(N^3 d) way: every (t, i) row recomputed. */
static ca_status shared_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= n; t++) {
            const inst_rows r = inst_prefix(CA_OP_CUBIC_SHARED, sh, h, t);
            for (int i = 0; i < t; i++)
                row_fwd(d, scale_of(d), t, q + (r.q + i) * d, k + r.kv * d, v + r.kv * d,
                        o + (r.out + i) * d, lse + r.out + i);
        }
    return CA_OK;
}

/* cubic_shared's backward in two levels, as an autograd of the per-prefix formulation
 * sums it: each prefix's dq, dk, dv rows are summed on their own (at most t terms), then
 * added into the shared gradients (N prefixes). One running sum over every (prefix, row)
 * that sees a key would be N(N+1)/2 sequential float32 adds (45,150 at N = 300): 4-13x
 * less accurate than this at N = 130 and 300, d = 8 (tests/test_naive_accuracy.c), and
 * on normal inputs every other implementation's tolerance is twice naive's error.
 * Workspace: the prefix's dk, dv ([n][d] each) and one dq row. */
static size_t workspace(ca_entry e, ca_shape sh, int threads)
{
    (void)threads;
    if (e != CA_SHARED_BWD) return 0;
    const size_t floats = (2 * (size_t)sh.n + 1) * (size_t)sh.d;
    return floats > SIZE_MAX / sizeof(float) ? SIZE_MAX : floats * sizeof(float);
}

static void add_to(float *acc, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++) acc[i] += x[i];
}

static ca_status shared_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                            const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk,
                            float *dv)
{
    const int n = sh.n, d = sh.d;
    const size_t hs = (size_t)n * d, all = hs * sh.heads;
    float *pk = ex->ws, *pv = pk + hs, *pq = pv + hs; /* the prefix's dk, dv; a dq row */
    memset(dq, 0, all * sizeof *dq);
    memset(dk, 0, all * sizeof *dk);
    memset(dv, 0, all * sizeof *dv);
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= n; t++) {
            const size_t rows = (size_t)t * d;
            memset(pk, 0, rows * sizeof *pk);
            memset(pv, 0, rows * sizeof *pv);
            const inst_rows r = inst_prefix(CA_OP_CUBIC_SHARED, sh, h, t);
            const size_t kv = r.kv * d;
            for (int i = 0; i < t; i++) {
                const size_t qi = (r.q + i) * d, oi = (r.out + i) * d;
                memset(pq, 0, (size_t)d * sizeof *pq);
                row_bwd(d, scale_of(d), t, q + qi, k + kv, v + kv, o + oi, lse[r.out + i],
                        dout + oi, pq, pk, pv);
                add_to(dq + qi, pq, (size_t)d);
            }
            add_to(dk + kv, pk, rows);
            add_to(dv + kv, pv, rows);
        }
    return CA_OK;
}

/* cubic_last: prefix t contributes one row, its last position: q row t-1 against the
 * prefix's own packed keys off(t)..off(t)+t-1. No two prefixes share a key row. */
static ca_status last_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= n; t++) {
            const inst_rows r = inst_prefix(CA_OP_CUBIC_LAST, sh, h, t);
            row_fwd(d, scale_of(d), t, q + r.q * d, k + r.kv * d, v + r.kv * d, o + r.out * d,
                    lse + r.out);
        }
    return CA_OK;
}

static ca_status last_bwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    const inst_rows all = inst_all(CA_OP_CUBIC_LAST, sh);
    memset(dq, 0, all.q * d * sizeof *dq);
    memset(dk, 0, all.kv * d * sizeof *dk);
    memset(dv, 0, all.kv * d * sizeof *dv);
    for (int h = 0; h < sh.heads; h++)
        for (int t = inst_first(sh); t <= n; t++) {
            const inst_rows r = inst_prefix(CA_OP_CUBIC_LAST, sh, h, t);
            const size_t qi = r.q * d, kb = r.kv * d, oi = r.out * d;
            row_bwd(d, scale_of(d), t, q + qi, k + kb, v + kb, o + oi, lse[r.out], dout + oi,
                    dq + qi, dk + kb, dv + kb);
        }
    return CA_OK;
}

const ca_impl ca_impl_naive = {
    .name = "naive",
    .description = "plain float32 loops, one query row at a time (the baseline)",
    .workspace = workspace,
    CA_ENTRIES_BY_NAME,
};
