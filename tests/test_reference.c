/* test_reference.c: the float64 reference: its gradient check, hand-worked values, and the
 * identities between operators, exact up to float64 rounding. */
#include "checks.h"
#include "problem.h"
#include "cubattn_harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- a window of prefixes (ca_shape.first) ------------------------------------------ */

/* Where a window a..n of a tensor of row kind r starts in a head of the whole tensor, and
 * how many rows it has: counted here from cubattn.h's layout, on the test's own. */
static size_t window_start(ca_rows r, int a)
{
    return r == CA_ROWS_PACKED ? (size_t)a * (a - 1) / 2 : r == CA_ROWS_LAST ? (size_t)a - 1 : 0;
}

static size_t window_count(ca_rows r, int n, int a)
{
    size_t whole = r == CA_ROWS_PACKED ? (size_t)n * (n + 1) / 2 : (size_t)n;
    return whole - window_start(r, a);
}

/* The window's rows of every head of x (whole: [H][rows of kind r at n][width]). */
static double *window_slice(const double *x, ca_rows r, int n, int a, int H, int width)
{
    const size_t whole = window_count(r, n, 1), win = window_count(r, n, a);
    double *s = malloc((size_t)H * win * width * sizeof *s);
    for (int h = 0; h < H; h++)
        memcpy(s + h * win * width, x + (h * whole + window_start(r, a)) * width,
               win * width * sizeof *s);
    return s;
}

/* x == y to 1e-12 of y's largest element, count elements. */
static void assert_close(const double *x, const double *y, size_t count, const char *what,
                         int n, int a)
{
    double big = 0.0;
    for (size_t i = 0; i < count; i++) big = fmax(big, fabs(y[i]));
    for (size_t i = 0; i < count; i++)
        cr_assert(fabs(x[i] - y[i]) <= 1e-12 * big, "%s, N = %d, first = %d: element %zu is "
                  "%.17g, the whole call's %.17g", what, n, a, i, x[i], y[i]);
}

/* The reference on window a..n against its whole-operator call: the forward's o, lse are
 * the slice of the whole call's; the backward's gradients too, the whole call given dO
 * on the window's rows and, for cubic_shared, whose shared gradients sum every prefix,
 * zero elsewhere (for cubic and cubic_last each gradient row is one prefix's, so dO
 * elsewhere cannot reach the window's slice, and stays random to show it). */
static void check_window(ca_op op, int n, int a)
{
    const ca_op_info *info = ca_op_get(op);
    const int d = 3, H = 2, shared = op == CA_OP_CUBIC_SHARED;
    const ca_shape whole = {n, d, H, 0}, win = {n, d, H, a};
    const size_t qn = H * window_count(info->q_rows, n, 1) * d;
    const size_t kn = H * window_count(info->kv_rows, n, 1) * d;
    const size_t on = H * window_count(info->out_rows, n, 1);
    double *q = randn(qn, 11), *k = randn(kn, 12), *v = randn(kn, 13), *dO = randn(on * d, 14);
    if (shared) /* dO zero outside the window */
        for (int h = 0; h < H; h++)
            memset(dO + h * (on / H) * d, 0, window_start(info->out_rows, a) * d * sizeof *dO);
    double *o = malloc(on * d * sizeof *o), *lse = malloc(on * sizeof *lse);
    double *dq = malloc(qn * sizeof *dq), *dk = malloc(kn * sizeof *dk), *dv = malloc(kn * sizeof *dv);
    cr_assert_eq(ca_ref_fwd(info->fwd, whole, q, k, v, o, lse), CA_OK);
    cr_assert_eq(ca_ref_bwd(info->bwd, whole, q, k, v, o, lse, dO, dq, dk, dv), CA_OK);

    double *wq = window_slice(q, info->q_rows, n, a, H, d);
    double *wk = window_slice(k, info->kv_rows, n, a, H, d);
    double *wv = window_slice(v, info->kv_rows, n, a, H, d);
    double *wdO = window_slice(dO, info->out_rows, n, a, H, d);
    const size_t wq_n = H * window_count(info->q_rows, n, a) * d;
    const size_t wk_n = H * window_count(info->kv_rows, n, a) * d;
    const size_t wo_n = H * window_count(info->out_rows, n, a);
    double *wo = malloc(wo_n * d * sizeof *wo), *wl = malloc(wo_n * sizeof *wl);
    double *wdq = malloc(wq_n * sizeof *wdq), *wdk = malloc(wk_n * sizeof *wdk);
    double *wdv = malloc(wk_n * sizeof *wdv);
    cr_assert_eq(ca_ref_fwd(info->fwd, win, wq, wk, wv, wo, wl), CA_OK);
    cr_assert_eq(ca_ref_bwd(info->bwd, win, wq, wk, wv, wo, wl, wdO, wdq, wdk, wdv), CA_OK);

    double *want[5] = {window_slice(o, info->out_rows, n, a, H, d),
                       window_slice(lse, info->out_rows, n, a, H, 1),
                       window_slice(dq, info->q_rows, n, a, H, d),
                       window_slice(dk, info->kv_rows, n, a, H, d),
                       window_slice(dv, info->kv_rows, n, a, H, d)};
    const double *got[5] = {wo, wl, wdq, wdk, wdv};
    const size_t count[5] = {wo_n * d, wo_n, wq_n, wk_n, wk_n};
    const char *what[5] = {"o", "lse", "dq", "dk", "dv"};
    for (int x = 0; x < 5; x++) {
        char name[64];
        snprintf(name, sizeof name, "%s %s", info->name, what[x]);
        assert_close(got[x], want[x], count[x], name, n, a);
        free(want[x]);
    }
    free(q); free(k); free(v); free(dO); free(o); free(lse); free(dq); free(dk); free(dv);
    free(wq); free(wk); free(wv); free(wdO); free(wo); free(wl); free(wdq); free(wdk);
    free(wdv);
}

static void check_windows(ca_op op)
{
    const int ns[] = {2, 7, 12};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        const int n = ns[i], firsts[] = {2, n / 2, n};
        for (int f = 0; f < 3; f++)
            if (firsts[f] >= 2) check_window(op, n, firsts[f]);
    }
}

Test(reference, cubic_window_is_slice) { check_windows(CA_OP_CUBIC); }
Test(reference, shared_window_is_slice) { check_windows(CA_OP_CUBIC_SHARED); }
Test(reference, last_window_is_slice) { check_windows(CA_OP_CUBIC_LAST); }
