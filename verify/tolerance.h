/* tolerance.h: every tolerance of the verification, each written once, next to its
 * derivation (docs/DESIGN.md §4). None of these may be widened to make a run pass. */
#ifndef TOLERANCE_H
#define TOLERANCE_H

#include <stddef.h>

/* Reference gradient check (float64 central differences): the defaults of the most
 * widely used autograd checker, torch.autograd.gradcheck. */
#define GRADCHECK_EPS  1e-6
#define GRADCHECK_ATOL 1e-5
#define GRADCHECK_RTOL 1e-3

/* An implementation passes against the float64 reference when its error is at most
 * twice the error of the same-precision naive baseline on the same inputs, plus a floor
 * at float32 rounding (2^-20 = 8 ulp at 1.0): FlashAttention's test rule.
 * The baseline error is the worst of naive over BASELINE_ORDERINGS (problem.h) orderings
 * of the head dimension. One summation order is one sample of float32's rounding: at
 * logits x1e4 the error is that of S itself (u |S| ~ 1e-3 relative in P), a correct
 * implementation summing in another order draws a fresh sample, and two samples of a
 * max over a few near-tied rows differ by more than 2x often enough to fail correct code
 * by luck (seen here: 1.02x and 1.25x on two cells). Reorderings leave every exact result
 * unchanged, so the worst of three is still float32's own error, not a wider bound. */
double tol_vs_baseline(double baseline_err);

/* The baseline's own absolute bound, so its check can fail: the classical bound for a
 * float32 sum of n terms is n * u (u = 2^-24) to first order; the 8 covers the fixed
 * number of other roundings per element (scale, exp, log, the final division); the
 * softmax turns an absolute error e in a logit into a relative error e in its weight,
 * and logits carry a relative rounding error, hence the (1 + max|S|) conditioning.
 * NAIVE_BOUND_C = 2 allows for the two stacked sums of the backward (dP = dO . v, then
 * the sum over keys) that first-order n*u does not separate. */
#define NAIVE_BOUND_C 2.0
double tol_naive_bound(size_t longest_sum, double max_abs_logit);

/* An implementation's own directional finite difference: h = cbrt(float32 eps) times
 * the inputs' scale balances truncation (h^2) against rounding (eps/h); at that h both
 * are ~1e-5 relative, so 1e-2 passes any correct gradient while a missing or wrong
 * term gives errors of order 1. */
#define FD_REL_TOL 1e-2
double fd_step(double input_scale);

/* Inference-equivalence compares two float32 results that each lie within their
 * vs-reference tolerance of the same exact value: by the triangle inequality their
 * difference is within the sum of the two tolerances. */
double tol_equivalence(double tol_a, double tol_b);

#endif
