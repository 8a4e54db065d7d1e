/* compare.c: one case against the float64 reference, as the checks share it (check.h):
 * each output tensor's error, the tolerance an implementation is held to there (the
 * baseline's error, or naive's own bound), the cells it is recorded in, and one forward
 * run as a side of an identity. A case computes the float64 reference and the naive
 * baseline once, then runs every implementation on the same inputs (ggml's
 * test-backend-ops habit). */
#include "check.h"

#include "cubattn_harness.h"
#include "tolerance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const char *const tensor_names[T_COUNT] = {"o", "lse", "dq", "dk", "dv"};

static const float *out_tensor(const tensors *t, int k)
{
    const float *x[T_COUNT] = {t->o, t->lse, t->dq, t->dk, t->dv};
    return x[k];
}

static const double *ref_tensor(const problem *p, int k)
{
    const double *x[T_COUNT] = {p->ro, p->rlse, p->rdq, p->rdk, p->rdv};
    return x[k];
}

static size_t tensor_elems(const problem *p, int k)
{
    return k == T_O ? p->out_elems : k == T_LSE ? p->lse_elems : k == T_DQ ? p->q_elems
                                                                          : p->kv_elems;
}

static void tensor_errors(const problem *p, const tensors *t, int with_bwd, double err[T_COUNT])
{
    err[T_O] = ca_rel_err(t->o, p->ro, p->out_elems);
    /* lse is a logarithm: its error is absolute (divided by max|lse| it would shrink
     * with the logits' scale exactly where it matters). */
    err[T_LSE] = ca_abs_err(t->lse, p->rlse, p->lse_elems);
    for (int i = T_DQ; i < T_COUNT; i++) err[i] = NAN;
    if (!with_bwd) return;
    err[T_DQ] = ca_rel_err(t->dq, p->rdq, p->q_elems);
    err[T_DK] = ca_rel_err(t->dk, p->rdk, p->kv_elems);
    err[T_DV] = ca_rel_err(t->dv, p->rdv, p->kv_elems);
}

/* Where tensor k is non-finite and the reference is not, or the other way round: the
 * counts and the first such element as (head, row, column), for the failure note. */
static void describe_mismatch(char *buf, size_t len, const problem *p, const tensors *t, int k)
{
    const float *x = out_tensor(t, k);
    const double *ref = ref_tensor(p, k);
    const size_t n = tensor_elems(p, k), w = k == T_LSE ? 1 : (size_t)p->sh.d;
    const size_t per_head = n / (size_t)p->sh.heads;
    size_t bad_nf = 0, bad_f = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        int xf = isfinite(x[i]) != 0, rf = isfinite(ref[i]) != 0;
        if (xf == rf) continue;
        if (first == n) first = i;
        if (rf) bad_nf++;
        else bad_f++;
    }
    if (first == n) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, " (%zu non-finite where the reference is finite, %zu finite where it is "
             "not; first: head %zu row %zu col %zu)", bad_nf, bad_f, first / per_head,
             first % per_head / w, first % w);
}

/* max|x| over the finite elements (the denominator of ca_rel_err). */
static double max_finite(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) m = fmax(m, fabs(x[i]));
    return m;
}

/* The magnitude of tensor k in the units of its metric (tolerance.h): max M / max|ref|
 * for the relative errors (with max|ref| = 0, ca_rel_err is max|x| itself, held to the
 * magnitude); max|lse| for lse, whose error is absolute. */
static double magnitude_ratio(const problem *p, int k)
{
    const double mag[T_COUNT] = {p->mag_o, 0.0, p->mag_dq, p->mag_dk, p->mag_dv};
    double m = max_finite(ref_tensor(p, k), tensor_elems(p, k));
    if (k == T_LSE) return m;
    return m > 0.0 ? mag[k] / m : mag[k];
}

/* The derived bound of tensor k (logit-scaled inputs; tolerance.h) in its metric's units. */
static double derived_tol(const problem *p, int k)
{
    const double bound[T_COUNT] = {p->bound_o, p->bound_lse, p->bound_dq, p->bound_dk,
                                   p->bound_dv};
    if (k == T_LSE) return bound[k];
    double m = max_finite(ref_tensor(p, k), tensor_elems(p, k));
    return m > 0.0 ? bound[k] / m : bound[k];
}

/* The baseline's own bound on tensor k of p. */
static double naive_tol(const problem *p, int k)
{
    if (k >= T_DQ && problem_bwd(p) == CA_NO_ENTRY) return NAN;
    if (input_logit_scaled(p->kind)) return derived_tol(p, k);
    /* lse's bound is absolute already */
    return tol_naive_bound(problem_longest_sum(p, k >= T_DQ), p->max_abs_logit,
                           k == T_LSE ? 1.0 : magnitude_ratio(p, k));
}

/* What an implementation is held to on tensor k of p, given the baseline's error. */
static double baseline_tol(const problem *p, int k, double base)
{
    if (k >= T_DQ && problem_bwd(p) == CA_NO_ENTRY) return NAN;
    if (input_logit_scaled(p->kind)) return derived_tol(p, k);
    return tol_vs_baseline(base, magnitude_ratio(p, k));
}

static void record_tensors(cell *c, const problem *p, const tensors *t,
                           const double err[T_COUNT], const double tol[T_COUNT], int from,
                           int to, const char *label)
{
    int worst = from;
    for (int i = from; i < to; i++)
        if (ratio(err[i], tol[i]) > ratio(err[worst], tol[worst])) worst = i;
    char why[160] = "";
    if (isinf(err[worst])) describe_mismatch(why, sizeof why, p, t, worst);
    cell_record(c, err[worst], tol[worst], "%s: %s err %.3g > tol %.3g%s", label,
                tensor_names[worst], err[worst], tol[worst], why);
}

/* The baseline's error per tensor: the worst of naive over BASELINE_ORDERINGS orderings
 * of the head dimension (tolerance.h says why one ordering is not enough). */
static ca_status baseline_errors(const problem *p, const ca_impl *naive, int threads,
                                 int with_bwd, tensors *t, double base[T_COUNT])
{
    /* At d = 1 every ordering is the identity. */
    const int orderings = p->sh.d > 1 ? BASELINE_ORDERINGS : 1;
    for (int ord = 0; ord < orderings; ord++) {
        double err[T_COUNT];
        ca_status st = problem_run_reordered(p, naive, threads, with_bwd, ord, t);
        if (st != CA_OK) return st;
        tensor_errors(p, t, with_bwd, err);
        for (int k = 0; k < T_COUNT; k++) base[k] = ord == 0 || err[k] > base[k] ? err[k] : base[k];
    }
    return CA_OK;
}

/* Runs the baseline and every implementation on p (reference already computed). A case
 * no implementation under test can run is recorded as not provided, baseline unrun. */
static int compare_case(const problem *p, const ca_impl *naive, const ca_impl *const *impls,
                        int count, check_kind chk, int threads, impl_result *res,
                        const char *label)
{
    const ca_entry fe = problem_fwd(p), be = problem_bwd(p);
    const int has_bwd = be != CA_NO_ENTRY;
    int anyone = 0;
    for (int i = 0; i < count; i++) anyone |= ca_impl_provides(impls[i], fe);
    if (!anyone) {
        for (int i = 0; i < count; i++) {
            cell_error(&res[i].cells[fe][chk], CA_ERR_NOT_PROVIDED, label);
            if (has_bwd) cell_error(&res[i].cells[be][chk], CA_ERR_NOT_PROVIDED, label);
        }
        return 0;
    }
    tensors t;
    if (tensors_alloc(p, &t) != CA_OK) return -1;
    /* At logit-scaled inputs every tolerance is the derived bound: no baseline to run. */
    double base[T_COUNT] = {0};
    ca_status st = input_logit_scaled(p->kind) ? CA_OK
                                                : baseline_errors(p, naive, threads, has_bwd, &t, base);
    if (st != CA_OK) {
        fprintf(stderr, "verify: the baseline '%s' failed on %s: %s\n", naive->name, label,
                ca_status_str(st));
        tensors_free(&t);
        return -1;
    }

    for (int i = 0; i < count; i++) {
        const ca_impl *impl = impls[i];
        double err[T_COUNT], tol[T_COUNT];
        int with_bwd = has_bwd && ca_impl_provides(impl, be);
        st = problem_run(p, impl, threads, with_bwd, &t);
        if (st != CA_OK) {
            /* A forward failure also leaves the backward untested: say so on both. */
            cell_error(&res[i].cells[fe][chk], st, label);
            if (has_bwd) cell_error(&res[i].cells[be][chk], st, label);
            continue;
        }
        if (has_bwd && !with_bwd) cell_error(&res[i].cells[be][chk], CA_ERR_NOT_PROVIDED, label);
        tensor_errors(p, &t, with_bwd, err);
        for (int k = 0; k < T_COUNT; k++)
            tol[k] = impl == naive ? naive_tol(p, k) : baseline_tol(p, k, base[k]);
        record_tensors(&res[i].cells[fe][chk], p, &t, err, tol, T_O, T_DQ, label);
        if (!with_bwd) continue;
        /* The backward takes its forward's o and lse. When those are off the reference,
         * it is judged again on the baseline's (whose own backward set its tolerance), so that a wrong
         * forward fails itself, not a correct backward with it. */
        char given[160];
        const char *bwd_label = label;
        if (!within(err[T_O], tol[T_O]) || !within(err[T_LSE], tol[T_LSE])) {
            st = problem_run(p, naive, threads, 0, &t);
            if (st == CA_OK) st = problem_run_bwd(p, impl, threads, &t);
            if (st != CA_OK) {
                cell_error(&res[i].cells[be][chk], st, label);
                continue;
            }
            tensor_errors(p, &t, 1, err);
            snprintf(given, sizeof given, "%s, given %s's o and lse (its forward's are off)",
                     label, naive->name);
            bwd_label = given;
        }
        record_tensors(&res[i].cells[be][chk], p, &t, err, tol, T_DQ, T_COUNT, bwd_label);
    }
    tensors_free(&t);
    return 0;
}

int run_case(const ca_impl *naive, const ca_impl *const *impls, int count,
             check_kind chk, const verify_opts *o, impl_result *res, ca_op op,
             ca_shape sh, input_kind kind, const nonfinite *nf, uint64_t seed,
             const char *label)
{
    problem p;
    int rc = -1;
    if (problem_init(&p, op, sh, kind, o->seed + seed) == CA_OK) {
        if (nf) problem_set_nonfinite(&p, *nf);
        if (problem_reference(&p) == CA_OK)
            rc = compare_case(&p, naive, impls, count, chk, o->threads, res, label);
    }
    problem_free(&p);
    return rc;
}

ca_status run_side(const problem *p, const ca_impl *impl, const ca_impl *naive,
                   int threads, side *s)
{
    s->p = p;
    ca_status st = tensors_alloc(p, &s->t);
    if (st != CA_OK) return st;
    if (impl == naive) {
        s->tol_o = naive_tol(p, T_O);
        s->tol_lse = naive_tol(p, T_LSE);
    } else {
        double base[T_COUNT];
        if ((st = baseline_errors(p, naive, threads, 0, &s->t, base)) != CA_OK) return st;
        s->tol_o = baseline_tol(p, T_O, base[T_O]);
        s->tol_lse = baseline_tol(p, T_LSE, base[T_LSE]);
    }
    return problem_run(p, impl, threads, 0, &s->t);
}

void side_error(const side *s, double *err, double *tol, int *k)
{
    const double eo = ca_rel_err(s->t.o, s->p->ro, s->p->out_elems);
    const double el = ca_abs_err(s->t.lse, s->p->rlse, s->p->lse_elems);
    const int lse = ratio(el, s->tol_lse) > ratio(eo, s->tol_o);
    *k = lse ? T_LSE : T_O;
    *err = lse ? el : eo;
    *tol = lse ? s->tol_lse : s->tol_o;
}
