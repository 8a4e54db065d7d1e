/* tolerance.c: the numbers behind tolerance.h. */
#include "tolerance.h"

#include <float.h>
#include <math.h>

double tol_vs_baseline(double baseline_err, double magnitude_ratio)
{
    return 2.0 * baseline_err + fmax(ldexp(1.0, -20), ldexp(magnitude_ratio, -24));
}

double tol_naive_bound(size_t longest_sum, double max_abs_logit, double magnitude_ratio)
{
    return NAIVE_BOUND_C * ((double)longest_sum + 8.0) * ldexp(1.0, -24) *
           (1.0 + max_abs_logit) * magnitude_ratio;
}

double tol_gamma(double n)
{
    const double nu = n * ldexp(1.0, -24);
    return nu / (1.0 - nu);
}

double fd_step(double input_scale) { return cbrt((double)FLT_EPSILON) * input_scale; }

double fd_step_extrapolated(double input_scale)
{
    return 0.25 * pow((double)FLT_EPSILON, 0.2) * input_scale;
}

double tol_equivalence(double tol_a, double tol_b) { return tol_a + tol_b; }

double tol_model_bound(int layers, size_t longest_sum, double unit)
{
    return NAIVE_BOUND_C * (layers + 1.0) * ((double)longest_sum + 8.0) * unit;
}
