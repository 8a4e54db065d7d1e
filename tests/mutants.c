/* mutants.c: the broken implementations of mutants.h. Each wraps naive (reached through
 * its descriptor) and injects its one bug; scratch is malloc'd, which test code may do. */
#include "mutants.h"

#include "flash.h"
#include "regtile.h"
#include "shared_sweep.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

extern const ca_impl ca_impl_naive;
static const ca_exec one_thread = {1, NULL, 0};

/* Naive's full pass over len rows of head h of [heads][total][d] tensors: queries from
 * row q0, keys and values from row k0. o_rows: [len][d], l_rows: [len]. */
static ca_status full_on_rows(const float *q, const float *k, const float *v, int h,
                              size_t total, size_t q0, size_t k0, int len, int d,
                              float *o_rows, float *l_rows)
{
    size_t bytes = (size_t)len * d * sizeof(float), head = (size_t)h * total;
    float *buf = malloc(3 * bytes);
    if (!buf) return CA_ERR_NOMEM;
    float *qs = buf, *ks = qs + (size_t)len * d, *vs = ks + (size_t)len * d;
    memcpy(qs, q + (head + q0) * d, bytes);
    memcpy(ks, k + (head + k0) * d, bytes);
    memcpy(vs, v + (head + k0) * d, bytes);
    ca_shape one = {len, d, 1, 0};
    ca_status st = ca_impl_naive.fwd[CA_OP_FULL](one, &one_thread, qs, ks, vs, o_rows, l_rows);
    free(buf);
    return st;
}

/* Causal row i computed by naive's decode step at position i+1, i.e. over cache rows
 * 0..i+1: one key too many (the last row, with no key after it, stays right). O(N^2 d),
 * as causal is: the race-sized cases of the grid make an O(N^3) mutant slow. */
static ca_status mask_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    const size_t hs = (size_t)n * d;
    float *kc = malloc(hs * sizeof *kc), *vc = malloc(hs * sizeof *vc);
    ca_status st = kc && vc ? CA_OK : CA_ERR_NOMEM;
    const ca_shape one = {n, d, 1, 0};
    for (int h = 0; st == CA_OK && h < sh.heads; h++) {
        memcpy(kc, k + h * hs, hs * sizeof *kc);
        memcpy(vc, v + h * hs, hs * sizeof *vc);
        for (int i = 0; st == CA_OK && i < n; i++) {
            int t = i + 1 < n ? i + 1 : i; /* the bug: should be i */
            st = ca_impl_naive.step(one, &one_thread, t, q + h * hs + (size_t)i * d,
                                           k + h * hs + (size_t)t * d, v + h * hs + (size_t)t * d,
                                           kc, vc, o + h * hs + (size_t)i * d,
                                           lse + (size_t)h * n + i);
        }
    }
    free(kc);
    free(vc);
    return st;
}

/* naive's workspace (its cubic_shared backward has one), for the mutants that run its
 * entry points. */
static size_t naive_workspace(ca_entry e, ca_shape sh, int threads)
{
    return ca_impl_naive.workspace(e, sh, threads);
}

const ca_impl mutant_mask_off_by_one = {
    .name = "mask_off_by_one", .description = "causal row i sees key i+1",
    .fwd[CA_OP_CAUSAL] = mask_fwd,
};

/* Queries pre-multiplied by sqrt(d) cancel the 1/sqrt(d) scale: fwd's scores unscaled
 * (causal and full: q has N rows). */
static ca_status unscaled(ca_fwd_fn fwd, ca_shape sh, const ca_exec *ex, const float *q,
                          const float *k, const float *v, float *o, float *lse)
{
    size_t n = (size_t)sh.heads * sh.n * sh.d;
    float *qs = malloc(n * sizeof *qs);
    if (!qs) return CA_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) qs[i] = q[i] * sqrtf((float)sh.d);
    ca_status st = fwd(sh, ex, qs, k, v, o, lse);
    free(qs);
    return st;
}

static ca_status noscale_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                             const float *v, float *o, float *lse)
{
    return unscaled(ca_impl_naive.fwd[CA_OP_CAUSAL], sh, ex, q, k, v, o, lse);
}

static ca_status noscale_full_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                                  const float *k, const float *v, float *o, float *lse)
{
    return unscaled(ca_impl_naive.fwd[CA_OP_FULL], sh, ex, q, k, v, o, lse);
}

const ca_impl mutant_scale_missing = {
    .name = "scale_missing", .description = "scores not scaled by 1/sqrt(d)",
    .fwd[CA_OP_CAUSAL] = noscale_fwd,
};

/* D_i = dO_i . o_i is computed from o; a zero o is exactly the backward without it.
 * The same bug in the three backward entries, each handed naive's own forward. */
static ca_status dropD(ca_bwd_fn bwd, ca_entry e, ca_shape sh, const ca_exec *ex,
                       const float *q, const float *k, const float *v, const float *lse,
                       const float *dout, float *dq, float *dk, float *dv)
{
    float *zero = calloc(ca_out_rows(e, sh.n) * sh.d * sh.heads, sizeof *zero);
    if (!zero) return CA_ERR_NOMEM;
    ca_status st = bwd(sh, ex, q, k, v, zero, lse, dout, dq, dk, dv);
    free(zero);
    return st;
}

#define DROP_D(fname, field, fcode, code)                                                      \
    static ca_status field##_dropD(ca_shape sh, const ca_exec *ex, const float *q,        \
                                   const float *k, const float *v, const float *o,        \
                                   const float *lse, const float *dout, float *dq,        \
                                   float *dk, float *dv)                                  \
    {                                                                                     \
        (void)o;                                                                          \
        return dropD(ca_impl_naive.bwd[ca_entry_op(code)], code, sh, ex, q, k, v, lse, dout, dq, \
                     dk, dv);                                                             \
    }                                                                                     \
    static ca_status fname##_naive(ca_shape sh, const ca_exec *ex, const float *q,        \
                                   const float *k, const float *v, float *o, float *lse)  \
    {                                                                                     \
        return ca_impl_naive.fwd[ca_entry_op(fcode)](sh, ex, q, k, v, o, lse);                  \
    }
DROP_D(causal_fwd, causal_bwd, CA_CAUSAL_FWD, CA_CAUSAL_BWD)
DROP_D(cubic_fwd, cubic_bwd, CA_CUBIC_FWD, CA_CUBIC_BWD)
DROP_D(shared_fwd, shared_bwd, CA_SHARED_FWD, CA_SHARED_BWD)
DROP_D(full_fwd, full_bwd, CA_FULL_FWD, CA_FULL_BWD)
DROP_D(last_fwd, last_bwd, CA_LAST_FWD, CA_LAST_BWD)

const ca_impl mutant_bwd_drops_D = {
    .name = "bwd_drops_D", .description = "backward without the D_i term",
    .workspace = naive_workspace,
    .fwd[CA_OP_CAUSAL] = causal_fwd_naive, .bwd[CA_OP_CAUSAL] = causal_bwd_dropD,
    .fwd[CA_OP_CUBIC] = cubic_fwd_naive, .bwd[CA_OP_CUBIC] = cubic_bwd_dropD,
    .fwd[CA_OP_CUBIC_SHARED] = shared_fwd_naive, .bwd[CA_OP_CUBIC_SHARED] = shared_bwd_dropD,
    .fwd[CA_OP_FULL] = full_fwd_naive, .bwd[CA_OP_FULL] = full_bwd_dropD,
    .fwd[CA_OP_CUBIC_LAST] = last_fwd_naive, .bwd[CA_OP_CUBIC_LAST] = last_bwd_dropD,
};

/* Prefix t's keys and values taken from prefix t-1's block (prefix 1 from its own). */
static ca_status offset_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                            const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    const size_t T = ca_packed_rows((size_t)n);
    ca_status st = CA_OK;
    for (int h = 0; st == CA_OK && h < sh.heads; h++)
        for (int t = 1; st == CA_OK && t <= n; t++) {
            size_t off = ca_prefix_offset((size_t)t);
            size_t koff = ca_prefix_offset((size_t)(t > 1 ? t - 1 : 1)); /* the bug */
            st = full_on_rows(q, k, v, h, T, off, koff, t, d, o + ((size_t)h * T + off) * d,
                              lse + (size_t)h * T + off);
        }
    return st;
}

const ca_impl mutant_wrong_prefix_offset = {
    .name = "wrong_prefix_offset", .description = "cubic prefix t reads prefix t-1's keys",
    .fwd[CA_OP_CUBIC] = offset_fwd,
};

/* cubic_last prefix t over its first t-1 packed keys (prefix 1 over its one): the last
 * key, the position's own, left out. Each prefix is naive's decode step over a cache
 * holding those keys, the step's "new" row taken from the input (not the cache, so the
 * copy into the cache does not overlap itself). */
static ca_status lastshort_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                               const float *k, const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    const size_t T = ca_packed_rows((size_t)n);
    float *kc = malloc((size_t)n * d * sizeof *kc), *vc = malloc((size_t)n * d * sizeof *vc);
    ca_status st = kc && vc ? CA_OK : CA_ERR_NOMEM;
    for (int h = 0; st == CA_OK && h < sh.heads; h++)
        for (int t = 1; st == CA_OK && t <= n; t++) {
            const int len = t > 1 ? t - 1 : 1; /* the bug: should be t */
            const size_t kb = ((size_t)h * T + ca_prefix_offset((size_t)t)) * d;
            const size_t r = (size_t)h * n + (size_t)t - 1;
            memcpy(kc, k + kb, (size_t)len * d * sizeof *kc);
            memcpy(vc, v + kb, (size_t)len * d * sizeof *vc);
            st = ca_impl_naive.step((ca_shape){len, d, 1, 0}, &one_thread, len - 1,
                                           q + r * d, k + kb + (size_t)(len - 1) * d,
                                           v + kb + (size_t)(len - 1) * d, kc, vc, o + r * d,
                                           lse + r);
        }
    free(kc);
    free(vc);
    return st;
}

const ca_impl mutant_last_one_key_short = {
    .name = "last_one_key_short",
    .description = "cubic_last prefix t leaves out its own (last) key",
    .fwd[CA_OP_CUBIC] = cubic_fwd_naive, /* the other side of the equivalence, correct */
    .fwd[CA_OP_CUBIC_LAST] = lastshort_fwd,
};

/* Every prefix gets the full pass over all N shared keys: the prefix mask forgotten. */
static ca_status noprefix_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                              const float *v, float *o, float *lse)
{
    const int n = sh.n, d = sh.d;
    const size_t T = ca_packed_rows((size_t)n);
    float *of = malloc((size_t)sh.heads * n * d * sizeof *of);
    float *lf = malloc((size_t)sh.heads * n * sizeof *lf);
    ca_status st = of && lf ? ca_impl_naive.fwd[CA_OP_FULL](sh, ex, q, k, v, of, lf) : CA_ERR_NOMEM;
    for (int h = 0; st == CA_OK && h < sh.heads; h++)
        for (int t = 1; t <= n; t++) {
            size_t off = (size_t)h * T + ca_prefix_offset((size_t)t);
            memcpy(o + off * d, of + (size_t)h * n * d, (size_t)t * d * sizeof *o);
            memcpy(lse + off, lf + (size_t)h * n, (size_t)t * sizeof *lse);
        }
    free(of);
    free(lf);
    return st;
}

const ca_impl mutant_shared_no_prefix = {
    .name = "shared_no_prefix", .description = "cubic_shared prefix t attends all N keys",
    .fwd[CA_OP_CUBIC_SHARED] = noprefix_fwd,
};

/* Zero k_t, v_t handed to naive: the cache row of the new token is never filled. */
static ca_status noappend_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                               const float *k_t, const float *v_t, float *k_cache,
                               float *v_cache, float *o_t, float *lse_t)
{
    (void)k_t; (void)v_t;
    float *zero = calloc((size_t)sh.heads * sh.d, sizeof *zero);
    if (!zero) return CA_ERR_NOMEM;
    ca_status st = ca_impl_naive.step(sh, ex, t, q_t, zero, zero, k_cache, v_cache,
                                             o_t, lse_t);
    free(zero);
    return st;
}

const ca_impl mutant_decode_no_append = {
    .name = "decode_no_append", .description = "decode never writes k_t, v_t to the cache",
    .fwd[CA_OP_CAUSAL] = causal_fwd_naive, /* the training side of the equivalence, correct */
    .step = noappend_step,
};

/* Every head but the last computed: the last head's outputs are never written. */
static ca_status lasthead_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                              const float *v, float *o, float *lse)
{
    if (sh.heads == 1) return CA_OK;
    ca_shape fewer = {sh.n, sh.d, sh.heads - 1, 0};
    return ca_impl_naive.fwd[CA_OP_CAUSAL](fewer, ex, q, k, v, o, lse);
}

const ca_impl mutant_skips_last_head = {
    .name = "skips_last_head", .description = "the last head's outputs are never written",
    .fwd[CA_OP_CAUSAL] = lasthead_fwd,
};

/* Softmax without the max shift: exp(S) overflows once logits pass ~88. */
static ca_status noshift_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                             const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    const float s = 1.0f / sqrtf((float)d);
    for (int h = 0; h < sh.heads; h++)
        for (int i = 0; i < n; i++) {
            const size_t hb = (size_t)h * n * d;
            float *oi = o + hb + (size_t)i * d, l = 0.0f;
            memset(oi, 0, (size_t)d * sizeof *oi);
            for (int j = 0; j <= i; j++) {
                float dot = 0.0f;
                for (int c = 0; c < d; c++) dot += q[hb + (size_t)i * d + c] * k[hb + (size_t)j * d + c];
                float w = expf(s * dot); /* the bug: no - max_j S_ij */
                l += w;
                for (int c = 0; c < d; c++) oi[c] += w * v[hb + (size_t)j * d + c];
            }
            for (int c = 0; c < d; c++) oi[c] /= l;
            lse[(size_t)h * n + i] = logf(l);
        }
    return CA_OK;
}

const ca_impl mutant_exp_no_max_shift = {
    .name = "exp_no_max_shift", .description = "softmax without subtracting the row max",
    .fwd[CA_OP_CAUSAL] = noshift_fwd,
};

/* One ulp added to o[0] on every other call: results depend on call history. */
static ca_status flaky_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                           const float *v, float *o, float *lse)
{
    static int calls;
    ca_status st = ca_impl_naive.fwd[CA_OP_FULL](sh, ex, q, k, v, o, lse);
    if (st == CA_OK && (calls++ & 1)) o[0] = nextafterf(o[0], INFINITY);
    return st;
}

const ca_impl mutant_nondeterministic = {
    .name = "nondeterministic", .description = "output varies by one ulp between calls",
    .fwd[CA_OP_FULL] = flaky_fwd,
};

/* ---- a data race: omp's causal backward without its per-thread dq partials ---------- */

/* Per thread: kernel scratch; per head: packed K^T, V^T and D (omp.c's layout). */
static size_t race_head_floats(ca_shape sh)
{
    return 2 * regt_packed_floats((size_t)sh.n, (size_t)sh.d) +
           regt_tiles((size_t)sh.n) * REGT_B;
}

static size_t race_workspace(ca_entry e, ca_shape sh, int threads)
{
    if (e != CA_CAUSAL_BWD) return 0;
    return ((size_t)threads * flash_scratch_floats(&regt_ops) +
            (size_t)sh.heads * race_head_floats(sh)) * sizeof(float);
}

static ca_status race_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    return ca_impl_naive.fwd[CA_OP_CAUSAL](sh, ex, q, k, v, o, lse);
}

/* omp.c's causal backward (key tiles paired j, nT-1-j, split statically), except that
 * every thread adds its dS K products straight into the shared dq: two threads whose
 * key tiles are seen by the same query rows read-modify-write the same dq elements. */
static ca_status race_bwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv)
{
    const int n = sh.n, d = sh.d, nT = (int)regt_tiles((size_t)n);
    const size_t hs = (size_t)n * d, pk = regt_packed_floats((size_t)n, (size_t)d);
    const size_t scratch_floats = flash_scratch_floats(&regt_ops);
    const int per_head = (nT + 1) / 2, items = per_head * sh.heads;
    float *heads = (float *)ex->ws + (size_t)ex->threads * scratch_floats;
    const size_t hstride = race_head_floats(sh);
#pragma omp parallel num_threads(ex->threads)
    {
        float *scratch = (float *)ex->ws + (size_t)omp_get_thread_num() * scratch_floats;
#pragma omp for schedule(static)
        for (int h = 0; h < sh.heads; h++) {
            float *kt = heads + h * hstride, *vt = kt + pk, *D = vt + pk;
            regt_pack(n, d, k + h * hs, kt);
            regt_pack(n, d, v + h * hs, vt);
            flash_seq s = {.nq = n, .nk = n, .d = d, .causal = 1, .q = q + h * hs,
                           .k = k + h * hs, .v = v + h * hs, .kp = kt, .vp = vt,
                           .fo = o + h * hs, .dout = dout + h * hs, .D = D};
            flash_delta(&regt_ops, &s, scratch);
            memset(dq + h * hs, 0, hs * sizeof *dq);
            memset(dk + h * hs, 0, hs * sizeof *dk);
            memset(dv + h * hs, 0, hs * sizeof *dv);
        }
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            const int h = it / per_head, p = it % per_head;
            float *kt = heads + h * hstride, *vt = kt + pk, *D = vt + pk;
            flash_seq s = {.nq = n, .nk = n, .d = d, .causal = 1, .q = q + h * hs,
                           .k = k + h * hs, .v = v + h * hs, .kp = kt, .vp = vt,
                           .flse = lse + (size_t)h * n, .dout = dout + h * hs, .D = D};
            const int tl[2] = {p, nT - 1 - p};
            for (int x = 0; x < 2; x++) {
                if (x == 1 && tl[1] == tl[0]) continue;
                const int k0 = tl[x] * REGT_B, nk = n - k0 < REGT_B ? n - k0 : REGT_B;
                flash_bwd_block(&regt_ops, &s, k0, nk, dq + h * hs, /* the bug */
                                dk + h * hs, dv + h * hs, scratch);
            }
        }
    }
    return CA_OK;
}

const ca_impl mutant_dq_race = {
    .name = "dq_race", .description = "threads add into the shared dq without partials",
    .workspace = race_workspace,
    .fwd[CA_OP_CAUSAL] = race_fwd, .bwd[CA_OP_CAUSAL] = race_bwd,
};

/* ---- naive-like mutants: every entry point is naive's but one ------------------------ */

/* Forwarders to naive, so that a mutant can stand in for the whole baseline. */
#define NAIVE_FWD(name, code)                                                                 \
    static ca_status name##_as_naive(ca_shape sh, const ca_exec *ex, const float *q,      \
                                     const float *k, const float *v, float *o, float *lse) \
    {                                                                                     \
        return ca_impl_naive.fwd[ca_entry_op(code)](sh, ex, q, k, v, o, lse);                   \
    }
#define NAIVE_BWD(name, code)                                                                 \
    static ca_status name##_as_naive(ca_shape sh, const ca_exec *ex, const float *q,      \
                                     const float *k, const float *v, const float *o,      \
                                     const float *lse, const float *dout, float *dq,      \
                                     float *dk, float *dv)                                \
    {                                                                                     \
        return ca_impl_naive.bwd[ca_entry_op(code)](sh, ex, q, k, v, o, lse, dout, dq, dk, dv); \
    }
NAIVE_FWD(causal_fwd, CA_CAUSAL_FWD)
NAIVE_FWD(full_fwd, CA_FULL_FWD)
NAIVE_FWD(cubic_fwd, CA_CUBIC_FWD)
NAIVE_FWD(shared_fwd, CA_SHARED_FWD)
NAIVE_FWD(last_fwd, CA_LAST_FWD)
NAIVE_BWD(causal_bwd, CA_CAUSAL_BWD)
NAIVE_BWD(full_bwd, CA_FULL_BWD)
NAIVE_BWD(cubic_bwd, CA_CUBIC_BWD)
NAIVE_BWD(shared_bwd, CA_SHARED_BWD)
NAIVE_BWD(last_bwd, CA_LAST_BWD)

static ca_status decode_as_naive(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                                 const float *k_t, const float *v_t, float *k_cache,
                                 float *v_cache, float *o_t, float *lse_t)
{
    return ca_impl_naive.step(sh, ex, t, q_t, k_t, v_t, k_cache, v_cache,
                                                    o_t, lse_t);
}

/* Step t appends k_t, v_t but attends over cache rows 0..t-1 only (step 0 over row 0):
 * the token's own key is left out. */
static ca_status short_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                            const float *k_t, const float *v_t, float *k_cache,
                            float *v_cache, float *o_t, float *lse_t)
{
    if (t == 0) return decode_as_naive(sh, ex, t, q_t, k_t, v_t, k_cache, v_cache, o_t, lse_t);
    const size_t d = (size_t)sh.d, n = (size_t)sh.n;
    for (int h = 0; h < sh.heads; h++) {
        memcpy(k_cache + (h * n + (size_t)t) * d, k_t + h * d, d * sizeof *k_cache);
        memcpy(v_cache + (h * n + (size_t)t) * d, v_t + h * d, d * sizeof *v_cache);
    }
    /* Naive at step t-1 rewrites row t-1 with the values it already holds, then attends
     * over rows 0..t-1: the bug. */
    float *prev = malloc(2 * (size_t)sh.heads * d * sizeof *prev);
    if (!prev) return CA_ERR_NOMEM;
    for (int h = 0; h < sh.heads; h++) {
        memcpy(prev + h * d, k_cache + (h * n + (size_t)t - 1) * d, d * sizeof *prev);
        memcpy(prev + (sh.heads + h) * d, v_cache + (h * n + (size_t)t - 1) * d, d * sizeof *prev);
    }
    ca_status st = ca_impl_naive.step(sh, ex, t - 1, q_t, prev, prev + (size_t)sh.heads * d,
                                             k_cache, v_cache, o_t, lse_t);
    free(prev);
    return st;
}

const ca_impl mutant_decode_one_key_short = {
    .name = "decode_one_key_short",
    .description = "naive, but a decode step leaves its own key out",
    .workspace = naive_workspace,
    .fwd[CA_OP_CAUSAL] = causal_fwd_as_naive, .bwd[CA_OP_CAUSAL] = causal_bwd_as_naive,
    .fwd[CA_OP_FULL] = full_fwd_as_naive, .step = short_step,
    .fwd[CA_OP_CUBIC] = cubic_fwd_as_naive, .bwd[CA_OP_CUBIC] = cubic_bwd_as_naive,
    .fwd[CA_OP_CUBIC_SHARED] = shared_fwd_as_naive, .bwd[CA_OP_CUBIC_SHARED] = shared_bwd_as_naive,
};

/* Every entry point naive's but one forward whose scores are unscaled: an identity that
 * forward is one side of must charge it, never the correct entry point on the other side. */
#define NAIVE_BUT_FORWARDS(causal, full)                                                  \
    .workspace = naive_workspace, .fwd[CA_OP_CAUSAL] = causal, .bwd[CA_OP_CAUSAL] = causal_bwd_as_naive,  \
    .fwd[CA_OP_FULL] = full, .bwd[CA_OP_FULL] = full_bwd_as_naive, .step = decode_as_naive,        \
    .fwd[CA_OP_CUBIC] = cubic_fwd_as_naive, .bwd[CA_OP_CUBIC] = cubic_bwd_as_naive,                      \
    .fwd[CA_OP_CUBIC_SHARED] = shared_fwd_as_naive, .bwd[CA_OP_CUBIC_SHARED] = shared_bwd_as_naive,                  \
    .fwd[CA_OP_CUBIC_LAST] = last_fwd_as_naive, .bwd[CA_OP_CUBIC_LAST] = last_bwd_as_naive
const ca_impl mutant_causal_fwd_only_wrong = {
    .name = "causal_fwd_only_wrong",
    .description = "naive, but the causal forward's scores are unscaled",
    NAIVE_BUT_FORWARDS(noscale_fwd, full_fwd_as_naive),
};

const ca_impl mutant_full_fwd_only_wrong = {
    .name = "full_fwd_only_wrong",
    .description = "naive, but the full forward's scores are unscaled",
    NAIVE_BUT_FORWARDS(causal_fwd_as_naive, noscale_full_fwd),
};

/* NaN in the last element of o (last head, last row, last column) of every forward, and
 * of the last decode step: the same element of each side of every equivalence. */
static void nan_last(float *o, size_t elems) { o[elems - 1] = NAN; }

#define NAN_FWD(name, code, rows)                                                             \
    static ca_status name##_nan(ca_shape sh, const ca_exec *ex, const float *q,           \
                                const float *k, const float *v, float *o, float *lse)     \
    {                                                                                     \
        ca_status st = ca_impl_naive.fwd[ca_entry_op(code)](sh, ex, q, k, v, o, lse);           \
        if (st == CA_OK) nan_last(o, (rows) * sh.d * sh.heads);                            \
        return st;                                                                        \
    }
NAN_FWD(causal_fwd, CA_CAUSAL_FWD, (size_t)sh.n)
NAN_FWD(full_fwd, CA_FULL_FWD, (size_t)sh.n)
NAN_FWD(cubic_fwd, CA_CUBIC_FWD, ca_packed_rows((size_t)sh.n))
NAN_FWD(shared_fwd, CA_SHARED_FWD, ca_packed_rows((size_t)sh.n))

static ca_status nan_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                          const float *k_t, const float *v_t, float *k_cache, float *v_cache,
                          float *o_t, float *lse_t)
{
    ca_status st = decode_as_naive(sh, ex, t, q_t, k_t, v_t, k_cache, v_cache, o_t, lse_t);
    if (st == CA_OK && t == sh.n - 1) nan_last(o_t, (size_t)sh.d * sh.heads);
    return st;
}

const ca_impl mutant_nan_output = {
    .name = "nan_output", .description = "naive, with NaN in the last element of o",
    .workspace = naive_workspace,
    .fwd[CA_OP_CAUSAL] = causal_fwd_nan, .bwd[CA_OP_CAUSAL] = causal_bwd_as_naive,
    .fwd[CA_OP_FULL] = full_fwd_nan, .step = nan_step,
    .fwd[CA_OP_CUBIC] = cubic_fwd_nan, .bwd[CA_OP_CUBIC] = cubic_bwd_as_naive,
    .fwd[CA_OP_CUBIC_SHARED] = shared_fwd_nan, .bwd[CA_OP_CUBIC_SHARED] = shared_bwd_as_naive,
};

/* lse off by a constant: an absolute error that a relative one would shrink away at
 * large logits. */
static ca_status lse_shifted(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                             const float *v, float *o, float *lse, float shift)
{
    ca_status st = ca_impl_naive.fwd[CA_OP_CAUSAL](sh, ex, q, k, v, o, lse);
    for (size_t i = 0; st == CA_OK && i < (size_t)sh.n * sh.heads; i++) lse[i] += shift;
    return st;
}

static ca_status lse_1em3_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                              const float *v, float *o, float *lse)
{
    return lse_shifted(sh, ex, q, k, v, o, lse, 1e-3f);
}

static ca_status lse_1em1_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                              const float *v, float *o, float *lse)
{
    return lse_shifted(sh, ex, q, k, v, o, lse, 1e-1f);
}

const ca_impl mutant_lse_off_1e3 = {
    .name = "lse_off_1e-3", .description = "causal lse + 1e-3", .fwd[CA_OP_CAUSAL] = lse_1em3_fwd,
};

const ca_impl mutant_lse_off_1e1 = {
    .name = "lse_off_1e-1", .description = "causal lse + 1e-1", .fwd[CA_OP_CAUSAL] = lse_1em1_fwd,
};

/* ---- non-finite inputs ------------------------------------------------------------- */

/* Causal row i as a sum over all N keys with the weights of keys j > i set to 0: exact
 * for finite inputs (adding 0 * v_j changes nothing), but 0 * Inf or 0 * NaN in a later
 * key's value leaks into rows that never attend to it. */
static ca_status leak_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    const float s = 1.0f / sqrtf((float)d);
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) return CA_ERR_NOMEM;
    for (int h = 0; h < sh.heads; h++)
        for (int i = 0; i < n; i++) {
            const size_t hb = (size_t)h * n * d;
            float m = -INFINITY, l = 0.0f, *oi = o + hb + (size_t)i * d;
            for (int j = 0; j <= i; j++) {
                float dot = 0.0f;
                for (int c = 0; c < d; c++) dot += q[hb + (size_t)i * d + c] * k[hb + (size_t)j * d + c];
                w[j] = s * dot;
                if (w[j] > m) m = w[j];
            }
            for (int j = 0; j < n; j++) {
                w[j] = j <= i ? expf(w[j] - m) : 0.0f;
                l += w[j];
            }
            memset(oi, 0, (size_t)d * sizeof *oi);
            for (int j = 0; j < n; j++) /* the bug: j up to N, not i */
                for (int c = 0; c < d; c++) oi[c] += w[j] * v[hb + (size_t)j * d + c];
            for (int c = 0; c < d; c++) oi[c] /= l;
            lse[(size_t)h * n + i] = m + logf(l);
        }
    free(w);
    return CA_OK;
}

const ca_impl mutant_mask_leaks_nonfinite = {
    .name = "mask_leaks_nonfinite", .description = "masked keys' values enter as 0 * v_j",
    .fwd[CA_OP_CAUSAL] = leak_fwd,
};

/* Non-finite outputs replaced by 0: finite where the reference is not. */
static ca_status zeroed_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                            const float *v, float *o, float *lse)
{
    ca_status st = ca_impl_naive.fwd[CA_OP_CAUSAL](sh, ex, q, k, v, o, lse);
    const size_t rows = (size_t)sh.n * sh.heads;
    for (size_t i = 0; st == CA_OK && i < rows * sh.d; i++)
        if (!isfinite(o[i])) o[i] = 0.0f;
    for (size_t i = 0; st == CA_OK && i < rows; i++)
        if (!isfinite(lse[i])) lse[i] = 0.0f;
    return st;
}

const ca_impl mutant_nonfinite_zeroed = {
    .name = "nonfinite_zeroed", .description = "non-finite outputs replaced by 0",
    .fwd[CA_OP_CAUSAL] = zeroed_fwd,
};

/* ---- windows of prefixes (ca_shape.first) ------------------------------------------- */

/* cubic_last on a window a..N with prefix t's packed keys at ca_prefix_offset(t - a + 1),
 * as if the window's prefixes were numbered from 1: the right place is
 * ca_prefix_offset(t) - ca_prefix_offset(a). The whole call (a = 1) is right, and the
 * wrong rows stay inside the window's buffers, so only the window check can see it.
 * Each prefix is naive's cubic_last on the one-prefix window {n = t, first = t}. */
static size_t renumbered_key_row(ca_shape sh, int t)
{
    return ca_prefix_offset((size_t)(t - ca_shape_first(sh) + 1)); /* the bug */
}

static ca_status renumbered_last(ca_shape sh, const ca_exec *ex, const float *q,
                                 const float *k, const float *v, const float *o,
                                 const float *lse, const float *dout, float *fo, float *flse,
                                 float *dq, float *dk, float *dv)
{
    const int a = ca_shape_first(sh), d = sh.d;
    const size_t qs = (size_t)(sh.n - a + 1) * d;
    const size_t kvs = ca_window_rows(CA_ROWS_PACKED, sh.n, a) * d;
    ca_status st = CA_OK;
    for (int h = 0; st == CA_OK && h < sh.heads; h++)
        for (int t = a; st == CA_OK && t <= sh.n; t++) {
            const ca_shape one = {t, d, 1, t};
            const size_t qi = h * qs + (size_t)(t - a) * d, kb = h * kvs + renumbered_key_row(sh, t) * d;
            const size_t li = (size_t)h * (sh.n - a + 1) + (size_t)(t - a);
            st = dq ? ca_impl_naive.bwd[CA_OP_CUBIC_LAST](one, ex, q + qi, k + kb, v + kb,
                                                          o + qi, lse + li, dout + qi,
                                                          dq + qi, dk + kb, dv + kb)
                    : ca_impl_naive.fwd[CA_OP_CUBIC_LAST](one, ex, q + qi, k + kb, v + kb,
                                                          fo + qi, flse + li);
        }
    return st;
}

static ca_status renumbered_last_fwd(ca_shape sh, const ca_exec *ex, const float *q,
                                     const float *k, const float *v, float *o, float *lse)
{
    return renumbered_last(sh, ex, q, k, v, NULL, NULL, NULL, o, lse, NULL, NULL, NULL);
}

static ca_status renumbered_last_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                                     const float *k, const float *v, const float *o,
                                     const float *lse, const float *dout, float *dq,
                                     float *dk, float *dv)
{
    /* dk, dv rows no prefix reaches (the buggy rows overlap) are zero, as naive's */
    const size_t kv = ca_window_rows(CA_ROWS_PACKED, sh.n, ca_shape_first(sh)) * sh.d * sh.heads;
    memset(dk, 0, kv * sizeof *dk);
    memset(dv, 0, kv * sizeof *dv);
    return renumbered_last(sh, ex, q, k, v, o, lse, dout, NULL, NULL, dq, dk, dv);
}

const ca_impl mutant_window_renumbered = {
    .name = "window_renumbered",
    .description = "cubic_last window's prefix t reads prefix t-a+1's packed place",
    .fwd[CA_OP_CUBIC_LAST] = renumbered_last_fwd, .bwd[CA_OP_CUBIC_LAST] = renumbered_last_bwd,
};

/* cubic_shared's backward by the row sweep (shared_sweep.c) without the window's clamp
 * of tau: the suffix sums run down to row i (lo = i) as in the whole call, so a row
 * i < a-1 reads the lse, o and dO of prefixes before the window, rows the call does not
 * have. The sweep is run here on the whole operator's packed rows, those of prefixes
 * before the window NaN: what unwritten memory is to verify (the real bug reads
 * whatever lies before the window's rows). The forward is naive's. */
static float *nan_floats(size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (x) memset(x, 0xFF, n * sizeof *x);
    return x;
}

static float *aligned_floats(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

static ca_status unclamped_shared_bwd(ca_shape sh, const ca_exec *ex, const float *q,
                                      const float *k, const float *v, const float *o,
                                      const float *lse, const float *dout, float *dq,
                                      float *dk, float *dv)
{
    (void)ex;
    const int n = sh.n, d = sh.d, a = ca_shape_first(sh);
    const ca_shape whole = {n, d, sh.heads, 0}; /* the bug: the sweep not told the window */
    const size_t T = ca_packed_rows((size_t)n), skip = ca_prefix_offset((size_t)a);
    const size_t win = T - skip, hs = (size_t)n * d;
    float *wo = nan_floats(sh.heads * T * d), *wl = nan_floats(sh.heads * T);
    float *wd = nan_floats(sh.heads * T * d);
    float *kt = aligned_floats(regt_packed_floats((size_t)n, (size_t)d));
    float *scratch = aligned_floats(sweep_scratch_floats(n, d));
    ca_status st = wo && wl && wd && kt && scratch ? CA_OK : CA_ERR_NOMEM;
    for (int h = 0; st == CA_OK && h < sh.heads; h++) {
        memcpy(wo + (h * T + skip) * d, o + h * win * d, win * d * sizeof *wo);
        memcpy(wd + (h * T + skip) * d, dout + h * win * d, win * d * sizeof *wd);
        memcpy(wl + h * T + skip, lse + h * win, win * sizeof *wl);
        memset(dk + h * hs, 0, hs * sizeof *dk);
        memset(dv + h * hs, 0, hs * sizeof *dv);
        regt_pack(n, d, k + h * hs, kt);
        for (int i0 = 0; i0 < n; i0 += SWEEP_RB)
            sweep_bwd_rows(&regt_ops, whole, i0, n - i0 < SWEEP_RB ? n - i0 : SWEEP_RB,
                           q + h * hs, k + h * hs, kt, v + h * hs, wo + h * T * d, wl + h * T,
                           wd + h * T * d, dq + h * hs, dk + h * hs, dv + h * hs, scratch);
    }
    free(wo); free(wl); free(wd); free(kt); free(scratch);
    return st;
}

const ca_impl mutant_window_unclamped = {
    .name = "window_unclamped",
    .description = "cubic_shared window's backward sweep without the tau clamp (lo = i)",
    .fwd[CA_OP_CUBIC_SHARED] = shared_fwd_as_naive, .bwd[CA_OP_CUBIC_SHARED] = unclamped_shared_bwd,
    .workspace = naive_workspace,
};
