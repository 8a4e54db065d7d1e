/* reference.c: float64 attention for every operator, through one row map. */
#include "cubattn_harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t ca_ref_row_map(ca_entry e, ca_shape sh, ca_ref_row *rows)
{
    /* The window of a per-prefix operator, prefixes a..n: its rows alone, counted from
     * prefix a's. The packed key rows are counted here as they are laid out (prefix t's
     * t rows after those of the window's earlier prefixes), not taken from the kernels'
     * map (impls/kernels/instance.h), so that a wrong map cannot hide from this one. */
    const int n = sh.n, a = sh.first > 1 ? sh.first : 1;
    size_t r = 0, packed = 0; /* packed: prefix t's first row in the window */
    switch (e) {
    case CA_CAUSAL_FWD:
    case CA_CAUSAL_BWD:
    case CA_DECODE_STEP: /* N steps over one sequence: step i sees keys 0..i */
    case CA_FULL_FWD:
    case CA_FULL_BWD:
        for (int i = 0; i < n; i++, r++)
            if (rows) rows[r] = (ca_ref_row){(size_t)i, 0, e == CA_FULL_FWD || e == CA_FULL_BWD ? n : i + 1};
        return r;
    case CA_CUBIC_FWD:
    case CA_CUBIC_BWD: /* prefix t attends over its own packed rows */
        for (int t = a; t <= n; packed += (size_t)t, t++)
            for (int i = 0; i < t; i++, r++)
                if (rows) rows[r] = (ca_ref_row){packed + (size_t)i, packed, t};
        return r;
    case CA_LAST_FWD:
    case CA_LAST_BWD: /* query row t-a is prefix t's last position, over its packed rows */
        for (int t = a; t <= n; packed += (size_t)t, t++, r++)
            if (rows) rows[r] = (ca_ref_row){(size_t)(t - a), packed, t};
        return r;
    case CA_SHARED_FWD:
    case CA_SHARED_BWD: /* prefix t reuses the shared rows 0..t-1 */
        for (int t = a; t <= n; t++)
            for (int i = 0; i < t; i++, r++)
                if (rows) rows[r] = (ca_ref_row){(size_t)i, 0, t};
        return r;
    default:
        return 0;
    }
}

static double dotd(const double *a, const double *b, int d)
{
    double acc = 0.0;
    for (int c = 0; c < d; c++) acc += a[c] * b[c];
    return acc;
}

/* Probabilities of one row: p[j] = softmax_j(s q . k_j), j < len; returns lse.
 *
 * Non-finite inputs: every term of the keys a row attends to is evaluated in IEEE
 * arithmetic, nothing is special-cased; keys it does not attend to (causal, prefix)
 * never enter. So a NaN anywhere in a row's terms makes its outputs NaN; a -Inf logit
 * has weight exp(-Inf) = 0, a masked key (lse and o stay finite, as in every attention
 * that masks with -Inf), but 0 times an infinite or NaN v_j or k_j is NaN, so its
 * value and its share of dq (dS_ij = 0 times k_j) still poison the row: that is what
 * float arithmetic gives, and an implementation may not claim a finite result the
 * formula does not have. Two rows need a rule of their own, where the shifted form
 * m + log(sum exp(S - m)) would read -Inf - -Inf or +Inf - +Inf (NaN):
 *   every logit -Inf: lse = log(0) = -Inf, and P = 0/0 = NaN (no distribution);
 *   a logit +Inf:     lse = +Inf, and P = NaN on the whole row: the distribution is
 *                     Inf/Inf, undefined, and so is everything computed from it. Weights
 *                     of 0 for the other keys (what exp(S_j - lse) gives with the exact
 *                     lse) would make their dv finite, a gradient through an undefined
 *                     softmax; the standard shifted form (naive) gives NaN there too.
 * lse takes the value the mathematics has; it is non-finite as the shifted form's NaN
 * was, which is all the checks compare where the reference is non-finite. */
static double row_probs(int d, int len, const double *q, const double *k, double *p)
{
    const double s = 1.0 / sqrt((double)d);
    double m = -INFINITY;
    int any_nan = 0;
    for (int j = 0; j < len; j++) {
        p[j] = s * dotd(q, k + (size_t)j * d, d);
        any_nan |= isnan(p[j]);
        if (p[j] > m) m = p[j];
    }
    if (any_nan || isinf(m)) {
        for (int j = 0; j < len; j++) p[j] = NAN;
        return any_nan ? NAN : m;
    }
    double l = 0.0;
    for (int j = 0; j < len; j++) l += exp(p[j] - m);
    double lse = m + log(l);
    for (int j = 0; j < len; j++) p[j] = exp(p[j] - lse);
    return lse;
}

static ca_status map_rows(ca_entry e, ca_shape sh, ca_ref_row **rows, size_t *count,
                          double **p)
{
    *count = ca_ref_row_map(e, sh, NULL);
    *rows = malloc(*count * sizeof **rows);
    *p = malloc((size_t)sh.n * sizeof **p);
    if (!*rows || !*p) {
        free(*rows);
        free(*p);
        return CA_ERR_NOMEM;
    }
    ca_ref_row_map(e, sh, *rows);
    return CA_OK;
}

/* Rows of one head of q (and dq) and of k, v (and dk, dv): what the map reads, one past
 * its last query row and its last key row (its own count, as the map's rows are). */
static void head_rows(const ca_ref_row *rows, size_t count, size_t *q_rows, size_t *kv_rows)
{
    *q_rows = *kv_rows = 0;
    for (size_t r = 0; r < count; r++) {
        if (rows[r].q_row + 1 > *q_rows) *q_rows = rows[r].q_row + 1;
        if (rows[r].key_row + (size_t)rows[r].len > *kv_rows)
            *kv_rows = rows[r].key_row + (size_t)rows[r].len;
    }
}

ca_status ca_ref_fwd(ca_entry e, ca_shape sh, const double *q, const double *k,
                  const double *v, double *o, double *lse)
{
    ca_op op = ca_entry_op(e);
    if (op == CA_OP_COUNT || ca_op_get(op)->fwd != e || ca_op_is_step(op))
        return CA_ERR_NOT_PROVIDED;
    ca_status st = ca_check_shape(e, sh);
    if (st != CA_OK) return st;
    if (!q || !k || !v || !o || !lse) return CA_ERR_NULL;
    ca_ref_row *rows;
    size_t count;
    double *p;
    if ((st = map_rows(e, sh, &rows, &count, &p)) != CA_OK) return st;
    const int d = sh.d;
    size_t qs, kvs;
    head_rows(rows, count, &qs, &kvs);
    qs *= d;
    kvs *= d;
    const size_t out = count * d;
    for (int h = 0; h < sh.heads; h++)
        for (size_t r = 0; r < count; r++) {
            const double *qi = q + h * qs + rows[r].q_row * d;
            const double *kb = k + h * kvs + rows[r].key_row * d;
            const double *vb = v + h * kvs + rows[r].key_row * d;
            double *orow = o + h * out + r * d;
            lse[h * count + r] = row_probs(d, rows[r].len, qi, kb, p);
            memset(orow, 0, (size_t)d * sizeof *orow);
            for (int j = 0; j < rows[r].len; j++)
                for (int c = 0; c < d; c++) orow[c] += p[j] * vb[(size_t)j * d + c];
        }
    free(rows);
    free(p);
    return CA_OK;
}

ca_status ca_ref_bwd(ca_entry e, ca_shape sh, const double *q, const double *k,
                  const double *v, const double *o, const double *lse, const double *dout,
                  double *dq, double *dk, double *dv)
{
    ca_op op = ca_entry_op(e);
    if (op == CA_OP_COUNT || ca_op_get(op)->bwd != e) return CA_ERR_NOT_PROVIDED;
    ca_status st = ca_check_shape(e, sh);
    if (st != CA_OK) return st;
    if (!q || !k || !v || !o || !lse || !dout || !dq || !dk || !dv) return CA_ERR_NULL;
    ca_ref_row *rows;
    size_t count;
    double *p;
    if ((st = map_rows(e, sh, &rows, &count, &p)) != CA_OK) return st;
    const int d = sh.d;
    const double s = 1.0 / sqrt((double)d);
    size_t qs, kvs;
    head_rows(rows, count, &qs, &kvs);
    qs *= d;
    kvs *= d;
    const size_t out = count * d;
    memset(dq, 0, qs * sh.heads * sizeof *dq);
    memset(dk, 0, kvs * sh.heads * sizeof *dk);
    memset(dv, 0, kvs * sh.heads * sizeof *dv);
    (void)lse; /* recomputed in float64 rather than trusted from the caller */
    for (int h = 0; h < sh.heads; h++)
        for (size_t r = 0; r < count; r++) {
            const size_t qo = h * qs + rows[r].q_row * d, ko = h * kvs + rows[r].key_row * d;
            const double *dO = dout + h * out + r * d, *orow = o + h * out + r * d;
            row_probs(d, rows[r].len, q + qo, k + ko, p);
            /* D_i = dO_i . o_i; dS_ij = P_ij (dO_i . v_j - D_i) */
            double D = dotd(dO, orow, d);
            for (int j = 0; j < rows[r].len; j++) {
                const size_t kj = ko + (size_t)j * d;
                double dS = p[j] * (dotd(dO, v + kj, d) - D);
                for (int c = 0; c < d; c++) {
                    dv[kj + c] += p[j] * dO[c];
                    dq[qo + c] += s * dS * k[kj + c];
                    dk[kj + c] += s * dS * q[qo + c];
                }
            }
        }
    free(rows);
    free(p);
    return CA_OK;
}

ca_status ca_ref_decode_step(ca_shape sh, int t, const double *q_t, const double *k_cache,
                             const double *v_cache, double *o_t, double *lse_t)
{
    ca_status st = ca_check_shape(CA_DECODE_STEP, sh);
    if (st != CA_OK) return st;
    if (t < 0 || t >= sh.n) return CA_ERR_STEP;
    if (!q_t || !k_cache || !v_cache || !o_t || !lse_t) return CA_ERR_NULL;
    const int d = sh.d;
    double *p = malloc((size_t)(t + 1) * sizeof *p);
    if (!p) return CA_ERR_NOMEM;
    for (int h = 0; h < sh.heads; h++) {
        const double *kc = k_cache + (size_t)h * sh.n * d, *vc = v_cache + (size_t)h * sh.n * d;
        double *orow = o_t + (size_t)h * d;
        lse_t[h] = row_probs(d, t + 1, q_t + (size_t)h * d, kc, p);
        memset(orow, 0, (size_t)d * sizeof *orow);
        for (int j = 0; j <= t; j++)
            for (int c = 0; c < d; c++) orow[c] += p[j] * vc[(size_t)j * d + c];
    }
    free(p);
    return CA_OK;
}
