/* metric.c: the error metric of cubattn_harness.h (docs/DESIGN.md §4.3). */
#include "cubattn_harness.h"

#include <math.h>
#include <stdlib.h>

/* Non-finite values must sit exactly where the reference has them: non-finite inputs
 * give non-finite outputs there. NaN and +-Inf are not told apart: which of them a
 * non-finite input yields depends on the order of operations (inf - inf, 0 * inf), and
 * the reference's order is one of many correct ones. Elsewhere the finite elements are
 * compared. */
static int finite_mismatch(float x, double ref) { return !isfinite(x) != !isfinite(ref); }

double ca_rel_err(const float *x, const double *ref, size_t n)
{
    double num = 0.0, den = 0.0, xmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (finite_mismatch(x[i], ref[i])) return INFINITY;
        if (!isfinite(ref[i])) continue;
        num = fmax(num, fabs((double)x[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
        xmax = fmax(xmax, fabs((double)x[i]));
    }
    return den > 0.0 ? num / den : xmax;
}

double ca_abs_err(const float *x, const double *ref, size_t n)
{
    double num = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (finite_mismatch(x[i], ref[i])) return INFINITY;
        if (!isfinite(ref[i])) continue;
        num = fmax(num, fabs((double)x[i] - ref[i]));
    }
    return num;
}

double *ca_to_double(const float *x, size_t n)
{
    double *y = malloc((n ? n : 1) * sizeof *y);
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}
