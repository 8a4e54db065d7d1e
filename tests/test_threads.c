/* test_threads.c: an implementation asked for T threads must stay correct when OpenMP
 * gives it fewer, as it does when called from inside another parallel region (nested
 * parallelism is off by default) — the most natural way to call a library from an
 * OpenMP program. Checked on every registered implementation and backward. */
#include "problem.h"
#include "tolerance.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>

static void check_nested(const ca_impl *impl, ca_op op, ca_shape sh)
{
    const ca_impl *naive = ca_impl_find("naive");
    problem p;
    tensors base, t;
    cr_assert_eq(problem_init(&p, op, sh, IN_NORMAL, 42), CA_OK);
    cr_assert_eq(problem_reference(&p), CA_OK);
    cr_assert_eq(tensors_alloc(&p, &base), CA_OK);
    cr_assert_eq(tensors_alloc(&p, &t), CA_OK);
    cr_assert_eq(problem_run(&p, naive, 1, 1, &base), CA_OK);
    ca_status st = CA_ERR_INTERNAL;
#pragma omp parallel num_threads(2)
#pragma omp single
    st = problem_run(&p, impl, 2, 1, &t);
    cr_assert_eq(st, CA_OK, "%s %s: %s", impl->name, op_name(op), ca_status_str(st));
    const float *got[3] = {t.dq, t.dk, t.dv}, *ref_naive[3] = {base.dq, base.dk, base.dv};
    const double *ref[3] = {p.rdq, p.rdk, p.rdv};
    const size_t elems[3] = {p.q_elems, p.kv_elems, p.kv_elems};
    for (int a = 0; a < 3; a++) {
        double err = ca_rel_err(got[a], ref[a], elems[a]);
        const double mag[3] = {p.mag_dq, p.mag_dk, p.mag_dv};
        double mref = 0.0;
        for (size_t i = 0; i < elems[a]; i++) mref = fmax(mref, fabs(ref[a][i]));
        double tol = tol_vs_baseline(ca_rel_err(ref_naive[a], ref[a], elems[a]), mag[a] / mref);
        cr_expect_leq(err, tol, "%s %s inside a parallel region: d%s err %.3g > tol %.3g",
                      impl->name, op_name(op), a == 0 ? "q" : a == 1 ? "k" : "v", err, tol);
    }
    tensors_free(&base);
    tensors_free(&t);
    problem_free(&p);
}

Test(threads, backward_correct_with_a_smaller_team, .timeout = 300)
{
    for (int i = 0; i < ca_impl_count(); i++) {
        const ca_impl *impl = ca_impl_at(i);
        /* several key tiles per head, so more than one task writes each dq row */
        if (ca_impl_provides(impl, CA_CAUSAL_BWD)) check_nested(impl, CA_OP_CAUSAL, (ca_shape){300, 16, 2, 0});
        if (ca_impl_provides(impl, CA_CUBIC_BWD)) check_nested(impl, CA_OP_CUBIC, (ca_shape){40, 16, 2, 0});
        if (ca_impl_provides(impl, CA_SHARED_BWD)) check_nested(impl, CA_OP_CUBIC_SHARED, (ca_shape){150, 16, 2, 0});
        if (ca_impl_provides(impl, CA_LAST_BWD)) check_nested(impl, CA_OP_CUBIC_LAST, (ca_shape){150, 16, 2, 0});
    }
}
