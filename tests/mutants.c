/* mutants.c: the broken implementations of mutants.h. Each wraps naive (reached through
 * its descriptor) and injects its one bug; scratch is malloc'd, which test code may do. */
#include "mutants.h"

#include <math.h>
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
    ca_shape one = {len, d, 1};
    ca_status st = ca_impl_naive.full_fwd(one, &one_thread, qs, ks, vs, o_rows, l_rows);
    free(buf);
    return st;
}

/* Causal row i computed as row i of a full pass over keys 0..i+1: one key too many. */
static ca_status mask_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                          const float *v, float *o, float *lse)
{
    (void)ex;
    const int n = sh.n, d = sh.d;
    float *os = malloc((size_t)n * d * sizeof *os), *l = malloc((size_t)n * sizeof *l);
    ca_status st = os && l ? CA_OK : CA_ERR_NOMEM;
    for (int h = 0; st == CA_OK && h < sh.heads; h++)
        for (int i = 0; st == CA_OK && i < n; i++) {
            int len = i + 2 < n ? i + 2 : n; /* the bug: should be i + 1 */
            st = full_on_rows(q, k, v, h, (size_t)n, 0, 0, len, d, os, l);
            memcpy(o + ((size_t)h * n + i) * d, os + (size_t)i * d, (size_t)d * sizeof *o);
            lse[(size_t)h * n + i] = l[i];
        }
    free(os);
    free(l);
    return st;
}

const ca_impl mutant_mask_off_by_one = {
    .name = "mask_off_by_one", .description = "causal row i sees key i+1",
    .causal_fwd = mask_fwd,
};

/* Queries pre-multiplied by sqrt(d) cancel the 1/sqrt(d) scale: scores unscaled. */
static ca_status noscale_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                             const float *v, float *o, float *lse)
{
    size_t n = (size_t)sh.heads * sh.n * sh.d;
    float *qs = malloc(n * sizeof *qs);
    if (!qs) return CA_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) qs[i] = q[i] * sqrtf((float)sh.d);
    ca_status st = ca_impl_naive.causal_fwd(sh, ex, qs, k, v, o, lse);
    free(qs);
    return st;
}

const ca_impl mutant_scale_missing = {
    .name = "scale_missing", .description = "scores not scaled by 1/sqrt(d)",
    .causal_fwd = noscale_fwd,
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

#define DROP_D(entry, field, code)                                                        \
    static ca_status field##_dropD(ca_shape sh, const ca_exec *ex, const float *q,        \
                                   const float *k, const float *v, const float *o,        \
                                   const float *lse, const float *dout, float *dq,        \
                                   float *dk, float *dv)                                  \
    {                                                                                     \
        (void)o;                                                                          \
        return dropD(ca_impl_naive.field, code, sh, ex, q, k, v, lse, dout, dq, dk, dv);  \
    }                                                                                     \
    static ca_status entry##_naive(ca_shape sh, const ca_exec *ex, const float *q,        \
                                   const float *k, const float *v, float *o, float *lse)  \
    {                                                                                     \
        return ca_impl_naive.entry(sh, ex, q, k, v, o, lse);                              \
    }
DROP_D(causal_fwd, causal_bwd, CA_CAUSAL_BWD)
DROP_D(cubic_fwd, cubic_bwd, CA_CUBIC_BWD)
DROP_D(shared_fwd, shared_bwd, CA_SHARED_BWD)

const ca_impl mutant_bwd_drops_D = {
    .name = "bwd_drops_D", .description = "backward without the D_i term",
    .causal_fwd = causal_fwd_naive, .causal_bwd = causal_bwd_dropD,
    .cubic_fwd = cubic_fwd_naive, .cubic_bwd = cubic_bwd_dropD,
    .shared_fwd = shared_fwd_naive, .shared_bwd = shared_bwd_dropD,
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
    .cubic_fwd = offset_fwd,
};

/* Every prefix gets the full pass over all N shared keys: the prefix mask forgotten. */
static ca_status noprefix_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                              const float *v, float *o, float *lse)
{
    const int n = sh.n, d = sh.d;
    const size_t T = ca_packed_rows((size_t)n);
    float *of = malloc((size_t)sh.heads * n * d * sizeof *of);
    float *lf = malloc((size_t)sh.heads * n * sizeof *lf);
    ca_status st = of && lf ? ca_impl_naive.full_fwd(sh, ex, q, k, v, of, lf) : CA_ERR_NOMEM;
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
    .shared_fwd = noprefix_fwd,
};

/* Zero k_t, v_t handed to naive: the cache row of the new token is never filled. */
static ca_status noappend_step(ca_shape sh, const ca_exec *ex, int t, const float *q_t,
                               const float *k_t, const float *v_t, float *k_cache,
                               float *v_cache, float *o_t, float *lse_t)
{
    (void)k_t; (void)v_t;
    float *zero = calloc((size_t)sh.heads * sh.d, sizeof *zero);
    if (!zero) return CA_ERR_NOMEM;
    ca_status st = ca_impl_naive.decode_step(sh, ex, t, q_t, zero, zero, k_cache, v_cache,
                                             o_t, lse_t);
    free(zero);
    return st;
}

const ca_impl mutant_decode_no_append = {
    .name = "decode_no_append", .description = "decode never writes k_t, v_t to the cache",
    .causal_fwd = causal_fwd_naive, /* the training side of the equivalence, correct */
    .decode_step = noappend_step,
};

/* Every head but the last computed: the last head's outputs are never written. */
static ca_status lasthead_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                              const float *v, float *o, float *lse)
{
    if (sh.heads == 1) return CA_OK;
    ca_shape fewer = {sh.n, sh.d, sh.heads - 1};
    return ca_impl_naive.causal_fwd(fewer, ex, q, k, v, o, lse);
}

const ca_impl mutant_skips_last_head = {
    .name = "skips_last_head", .description = "the last head's outputs are never written",
    .causal_fwd = lasthead_fwd,
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
    .causal_fwd = noshift_fwd,
};

/* One ulp added to o[0] on every other call: results depend on call history. */
static ca_status flaky_fwd(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                           const float *v, float *o, float *lse)
{
    static int calls;
    ca_status st = ca_impl_naive.full_fwd(sh, ex, q, k, v, o, lse);
    if (st == CA_OK && (calls++ & 1)) o[0] = nextafterf(o[0], INFINITY);
    return st;
}

const ca_impl mutant_nondeterministic = {
    .name = "nondeterministic", .description = "output varies by one ulp between calls",
    .full_fwd = flaky_fwd,
};
