/* test_reference.c: the float64 reference: its gradient check, hand-worked values, and the
 * identities between operators, exact up to float64 rounding. */
#include "checks.h"
#include "problem.h"
#include "cubattn_harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

Test(reference, gradient_check_passes, .timeout = 60)
{
    cell cells[CA_ENTRY_COUNT];
    cr_assert_eq(verify_reference_gradients(cells, 0, NULL), 0);
    cr_assert_eq(cells[CA_CAUSAL_BWD].st, CELL_PASS, "%s", cells[CA_CAUSAL_BWD].note);
    cr_assert_eq(cells[CA_CUBIC_BWD].st, CELL_PASS, "%s", cells[CA_CUBIC_BWD].note);
    cr_assert_eq(cells[CA_SHARED_BWD].st, CELL_PASS, "%s", cells[CA_SHARED_BWD].note);
    cr_assert_eq(cells[CA_LAST_BWD].st, CELL_PASS, "%s", cells[CA_LAST_BWD].note);
}

/* N = 2, d = 1: causal row 0 copies v_0; row 1 is a two-way softmax done by hand. */
Test(reference, hand_worked_causal)
{
    double q[2] = {0.5, 2.0}, k[2] = {1.0, -1.0}, v[2] = {3.0, 5.0}, o[2], lse[2];
    cr_assert_eq(ca_ref_fwd(CA_CAUSAL_FWD, (ca_shape){2, 1, 1, 0}, q, k, v, o, lse), CA_OK);
    cr_assert_float_eq(o[0], 3.0, 1e-15);
    cr_assert_float_eq(lse[0], 0.5, 1e-15);
    double s0 = 2.0, s1 = -2.0; /* scale 1/sqrt(1) */
    double p0 = exp(s0) / (exp(s0) + exp(s1));
    cr_assert_float_eq(o[1], p0 * 3.0 + (1 - p0) * 5.0, 1e-14);
    cr_assert_float_eq(lse[1], log(exp(s0) + exp(s1)), 1e-14);
}

/* A single key: the output is that value whatever the query, and every dS is zero. */
Test(reference, single_key_gradients)
{
    double q[3] = {1, 2, 3}, k[3] = {-1, 0.5, 2}, v[3] = {4, 5, 6}, o[3], lse[1];
    double w[3] = {1, -1, 2}, dq[3], dk[3], dv[3];
    ca_shape sh = {1, 3, 1, 0};
    ca_ref_fwd(CA_CAUSAL_FWD, sh, q, k, v, o, lse);
    ca_ref_bwd(CA_CAUSAL_BWD, sh, q, k, v, o, lse, w, dq, dk, dv);
    for (int c = 0; c < 3; c++) {
        cr_assert_float_eq(o[c], v[c], 1e-15);
        cr_assert_float_eq(dv[c], w[c], 1e-15);
        cr_assert_float_eq(dq[c], 0.0, 1e-15);
        cr_assert_float_eq(dk[c], 0.0, 1e-15);
    }
}

static double *randn(size_t n, uint64_t seed)
{
    double *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = ca_draw(CA_DIST_NORMAL, seed, i);
    return x;
}

/* cubic_shared o(t, t) equals causal o_t; every row (t, i) equals row i of a full pass
 * over the first t shared tokens, i.e. a cubic prefix fed the shared rows. */
Test(reference, shared_identities)
{
    const int n = 9, d = 5, H = 2;
    const size_t T = ca_packed_rows(n);
    double *q = randn((size_t)H * n * d, 1), *k = randn((size_t)H * n * d, 2);
    double *v = randn((size_t)H * n * d, 3);
    double *os = malloc(H * T * d * sizeof *os), *ls = malloc(H * T * sizeof *ls);
    double *oc = malloc((size_t)H * n * d * sizeof *oc), *lc = malloc((size_t)H * n * sizeof *lc);
    ca_shape sh = {n, d, H, 0};
    cr_assert_eq(ca_ref_fwd(CA_SHARED_FWD, sh, q, k, v, os, ls), CA_OK);
    cr_assert_eq(ca_ref_fwd(CA_CAUSAL_FWD, sh, q, k, v, oc, lc), CA_OK);
    for (int h = 0; h < H; h++)
        for (int t = 1; t <= n; t++) {
            size_t r = h * T + ca_prefix_offset(t) + t - 1;
            cr_assert_float_eq(ls[r], lc[h * n + t - 1], 1e-12);
            for (int c = 0; c < d; c++)
                cr_assert_float_eq(os[r * d + c], oc[(h * n + t - 1) * d + c], 1e-12);
        }
    free(q); free(k); free(v); free(os); free(ls); free(oc); free(lc);
}

/* A cubic prefix is a full attention of its own: run full on prefix t's rows alone. */
Test(reference, cubic_prefix_is_full_pass)
{
    const int n = 7, d = 3;
    const size_t T = ca_packed_rows(n);
    double *q = randn(T * d, 4), *k = randn(T * d, 5), *v = randn(T * d, 6);
    double *o = malloc(T * d * sizeof *o), *l = malloc(T * sizeof *l);
    double of[7 * 3], lf[7];
    cr_assert_eq(ca_ref_fwd(CA_CUBIC_FWD, (ca_shape){n, d, 1, 0}, q, k, v, o, l), CA_OK);
    for (int t = 1; t <= n; t++) {
        size_t off = ca_prefix_offset(t);
        ca_ref_fwd(CA_FULL_FWD, (ca_shape){t, d, 1, 0}, q + off * d, k + off * d, v + off * d, of, lf);
        for (int i = 0; i < t; i++) {
            cr_assert_float_eq(l[off + i], lf[i], 1e-12);
            for (int c = 0; c < d; c++) cr_assert_float_eq(o[(off + i) * d + c], of[i * d + c], 1e-12);
        }
    }
    free(q); free(k); free(v); free(o); free(l);
}

/* cubic_last o_t and lse_t equal cubic's row (t, t) when q_t = q(t, t), on the same
 * packed k, v; and its backward is cubic's restricted to those rows: dO zero on every
 * other row of cubic gives the same dk, dv, and dq(t, t) = dq_t. */
Test(reference, last_is_cubic_last_row)
{
    const int n = 7, d = 3, H = 2;
    const size_t T = ca_packed_rows(n);
    double *qc = randn(H * T * d, 7), *k = randn(H * T * d, 8), *v = randn(H * T * d, 9);
    double *wl = randn((size_t)H * n * d, 10);
    double *ql = malloc((size_t)H * n * d * sizeof *ql), *wc = calloc(H * T * d, sizeof *wc);
    double *oc = malloc(H * T * d * sizeof *oc), *lc = malloc(H * T * sizeof *lc);
    double *ol = malloc((size_t)H * n * d * sizeof *ol), *ll = malloc((size_t)H * n * sizeof *ll);
    double *gc = malloc(3 * H * T * d * sizeof *gc);
    double *gl = malloc(((size_t)H * n * d + 2 * H * T * d) * sizeof *gl);
    for (int h = 0; h < H; h++)
        for (int t = 1; t <= n; t++) {
            size_t r = h * T + ca_prefix_offset(t) + t - 1, rl = (size_t)h * n + t - 1;
            for (int c = 0; c < d; c++) {
                ql[rl * d + c] = qc[r * d + c];
                wc[r * d + c] = wl[rl * d + c];
            }
        }
    ca_shape sh = {n, d, H, 0};
    cr_assert_eq(ca_ref_fwd(CA_CUBIC_FWD, sh, qc, k, v, oc, lc), CA_OK);
    cr_assert_eq(ca_ref_fwd(CA_LAST_FWD, sh, ql, k, v, ol, ll), CA_OK);
    cr_assert_eq(ca_ref_bwd(CA_CUBIC_BWD, sh, qc, k, v, oc, lc, wc, gc, gc + H * T * d,
                            gc + 2 * H * T * d), CA_OK);
    double *dql = gl, *dkl = gl + (size_t)H * n * d, *dvl = dkl + H * T * d;
    cr_assert_eq(ca_ref_bwd(CA_LAST_BWD, sh, ql, k, v, ol, ll, wl, dql, dkl, dvl), CA_OK);
    for (int h = 0; h < H; h++)
        for (int t = 1; t <= n; t++) {
            size_t r = h * T + ca_prefix_offset(t) + t - 1, rl = (size_t)h * n + t - 1;
            cr_assert_float_eq(ll[rl], lc[r], 1e-12);
            for (int c = 0; c < d; c++) {
                cr_assert_float_eq(ol[rl * d + c], oc[r * d + c], 1e-12);
                cr_assert_float_eq(dql[rl * d + c], gc[r * d + c], 1e-12);
            }
        }
    for (size_t i = 0; i < H * T * d; i++) {
        cr_assert_float_eq(dkl[i], gc[H * T * d + i], 1e-12);
        cr_assert_float_eq(dvl[i], gc[2 * H * T * d + i], 1e-12);
    }
    free(qc); free(k); free(v); free(wl); free(ql); free(wc); free(oc); free(lc);
    free(ol); free(ll); free(gc); free(gl);
}

/* Non-finite logits (reference.c, row_probs): a -Inf logit masks its key; every logit
 * -Inf gives lse = -Inf and no distribution; a +Inf logit gives lse = +Inf. d = 1, so
 * S_0j = q k_j. */
Test(reference, nonfinite_logits)
{
    ca_shape sh = {3, 1, 1, 0};
    double q[3] = {1.0, 1.0, 1.0}, v[3] = {3.0, 5.0, 7.0}, o[3], lse[3];
    double k_masked[3] = {0.5, -INFINITY, 1.5};
    cr_assert_eq(ca_ref_fwd(CA_FULL_FWD, sh, q, k_masked, v, o, lse), CA_OK);
    double p0 = exp(0.5) / (exp(0.5) + exp(1.5));
    cr_assert_float_eq(o[0], p0 * 3.0 + (1 - p0) * 7.0, 1e-14); /* key 1 left out */
    cr_assert_float_eq(lse[0], log(exp(0.5) + exp(1.5)), 1e-14);

    double k_none[3] = {-INFINITY, -INFINITY, -INFINITY};
    cr_assert_eq(ca_ref_fwd(CA_FULL_FWD, sh, q, k_none, v, o, lse), CA_OK);
    cr_assert(isinf(lse[0]) && lse[0] < 0, "lse of no keys is log 0, got %g", lse[0]);
    cr_assert(isnan(o[0]));

    double k_top[3] = {0.5, INFINITY, 1.5};
    cr_assert_eq(ca_ref_fwd(CA_FULL_FWD, sh, q, k_top, v, o, lse), CA_OK);
    cr_assert(isinf(lse[0]) && lse[0] > 0, "got %g", lse[0]);
    cr_assert(isnan(o[0]));
}
