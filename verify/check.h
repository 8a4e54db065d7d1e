/* check.h: what the checks of docs/DESIGN.md §4 share, one check per file
 * (check_<name>.c, the names of check_name) and verify_run (checks.c) running them in
 * order: comparing one case against the float64 reference (compare.c) and the tests a
 * cell's error is put to. */
#ifndef CHECK_H
#define CHECK_H

#include "checks.h"
#include "problem.h"

#include <math.h>
#include <string.h>

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* err / tol, the measure of how badly a case failed (a NaN error is the worst). */
static inline double ratio(double err, double tol)
{
    if (isnan(err)) return INFINITY;
    return tol > 0.0 ? err / tol : (err > 0.0 ? INFINITY : 0.0);
}

/* err within tol, both finite: what cell_record passes. */
static inline int within(double err, double tol)
{
    return isfinite(err) && isfinite(tol) && err <= tol;
}

/* Elements of a and b (n each) whose bits differ. */
static inline size_t bits_differ(const float *a, const float *b, size_t n)
{
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(a + i, b + i, sizeof *a) != 0;
    return diff;
}

/* ---- the checks, each filling its column of every implementation's cells -------------- */

/* Each returns 0, or -1 (message said) when a case could not be set up or the baseline
 * failed; the others record such a case in the cells and go on. */
int check_vs_ref(const ca_impl *naive, const ca_impl *const *impls, int count,
                 const verify_opts *o, impl_result *res);
int check_extreme(const ca_impl *naive, const ca_impl *const *impls, int count,
                  const verify_opts *o, impl_result *res);
void check_own_fd(const ca_impl *naive, const ca_impl *const *impls, int count,
                  const verify_opts *o, impl_result *res);
void check_equiv(const ca_impl *naive, const ca_impl *const *impls, int count,
                 const verify_opts *o, impl_result *res);
void check_determ(const ca_impl *const *impls, int count, const verify_opts *o,
                  impl_result *res);
void check_bad_args(const ca_impl *const *impls, int count, const verify_opts *o,
                    impl_result *res);
int check_window(const ca_impl *naive, const ca_impl *const *impls, int count,
                 const verify_opts *o, impl_result *res);

/* ---- one case against the float64 reference (compare.c) ------------------------------- */

/* The output tensors a case compares, in the order of their names. */
enum { T_O, T_LSE, T_DQ, T_DK, T_DV, T_COUNT };
extern const char *const tensor_names[T_COUNT];

/* One case of the grid or the extreme inputs: build, reference, compare. The baseline
 * and every implementation run on the same inputs; each forward and backward is recorded
 * in its cell of check chk. 0, or -1 when the case could not be set up or the baseline
 * failed on it. */
int run_case(const ca_impl *naive, const ca_impl *const *impls, int count,
             check_kind chk, const verify_opts *o, impl_result *res, ca_op op,
             ca_shape sh, input_kind kind, const nonfinite *nf, uint64_t seed,
             const char *label);

/* One forward run with the tolerance it is held to: a side of an identity (§4.4), or the
 * forward behind a backward whose own finite difference failed (§4.3). */
typedef struct side {
    tensors t;
    const problem *p;      /* the problem this side ran, whose reference is its exact value */
    double tol_o, tol_lse; /* the vs-reference tolerance of this side on this problem */
} side;

/* Runs impl on p, with the tolerance impl is held to against the reference there: the
 * baseline's for every implementation but naive, and naive's absolute bound for naive
 * itself (its own error would let it vouch for itself). */
ca_status run_side(const problem *p, const ca_impl *impl, const ca_impl *naive,
                   int threads, side *s);
/* A side's own error against its problem's reference, as vs_ref measures it (o relative,
 * lse absolute): the worse of the two against its tolerance, *k telling which. */
void side_error(const side *s, double *err, double *tol, int *k);

#endif
