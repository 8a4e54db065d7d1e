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
 * The floor is never below one rounding of the result's largest term, u * magnitude
 * (u = 2^-24; magnitude as for tol_naive_bound: max M, in the units of the metric, i.e.
 * divided by max|ref| for relative errors, and max|lse| for lse): summing the same
 * terms in another order moves a result by at least that much, and where the terms
 * cancel far below their size the baseline's own order can cancel exactly (naive forms
 * D_i and dP_ij with the same dot product, so at a one-hot softmax dS is exactly 0)
 * and its error is no sample of float32's rounding at all. Seen: causal x1e4 N=65 d=3,
 * max|dk| 46 against a magnitude of 4.2e5, naive's dk error 0.004 u of the magnitude,
 * blas's (dP from a GEMM, D from its own row sums) 0.85 u, i.e. 11x naive's. Where
 * nothing cancels the magnitude is about max|ref| and the floor stays 2^-20.
 * The baseline error is the worst of naive over BASELINE_ORDERINGS (problem.h) orderings
 * of the head dimension. One summation order is one sample of float32's rounding: at
 * logits x1e4 the error is that of S itself (u |S| ~ 1e-3 relative in P), a correct
 * implementation summing in another order draws a fresh sample, and two samples of a
 * max over a few near-tied rows differ by more than 2x often enough to fail correct code
 * by luck (seen here: 1.02x and 1.25x on two cells). Reorderings leave every exact result
 * unchanged, so the worst of three is still float32's own error, not a wider bound. */
double tol_vs_baseline(double baseline_err, double magnitude_ratio);

/* The baseline's own absolute bound, so its check can fail: the classical bound for a
 * float32 sum of n terms is n * u (u = 2^-24) times the sum of the terms' absolute values,
 * to first order; the 8 covers the fixed number of other roundings per element (scale,
 * exp, log, the final division); the softmax turns an absolute error e in a logit into a
 * relative error e in its weight, and logits carry a relative rounding error, hence the
 * (1 + max|S|) conditioning. NAIVE_BOUND_C = 2 allows for the two stacked sums of the
 * backward (dP = dO . v, then the sum over keys) that first-order n*u does not separate.
 * The scale is the sum of |terms|, not |result|: the errors are measured relative to
 * max|ref|, so the bound is multiplied by magnitude_ratio = max M / max|ref|, M the
 * float64 magnitude of each element (problem.c: the reference's sums over |terms|).
 * Where nothing cancels the ratio is ~1; where the terms of dq or dk cancel
 * (sum_j dS_ij = 0) the result is far smaller than its rounding error, e.g. a near
 * one-hot softmax at logits x1e4 makes the exact dS ~1e-9 of its terms (seen: causal
 * x1e4 N=65 d=64, max|dk| 1.5e-9 against a magnitude of 8.9e5; naive's error there is
 * 1e-15 of the magnitude but 0.62 of max|dk|). lse, judged by absolute error, takes the
 * bound as it is. */
#define NAIVE_BOUND_C 2.0
double tol_naive_bound(size_t longest_sum, double max_abs_logit, double magnitude_ratio);

/* Logit-scaled inputs (logits x1e2, x1e4): there the rounding of the scores decides the
 * error, and a correct implementation's error depends on how it sums q.k (order, FMA),
 * so naive's error is no yardstick. Every implementation, naive included, is held
 * instead to a forward error bound that holds for any summation order and with or
 * without fused multiply-adds, evaluated in float64 from the reference's own quantities
 * (verify/error_bound.c) and reduced to one number per tensor: the largest element
 * bound, divided by max|ref| for the relative metrics, as it is for lse.
 * Notation: u = 2^-24, gamma_n = n u / (1 - n u); one row i (a query of one attention
 * instance) over its keys j = 1..n, scale s = 1/sqrt(d); P, lse, dP, D, dS the exact
 * values; inputs are exact float32. The exp and log of the implementations are within
 * BOUND_C_EXP / BOUND_C_LOG units u of relative error (vexp.h: 1 ulp = 2u; glibc: 1 ulp).
 *  F1 score: a dot product of d terms in any order, fused or not, is within gamma_d of
 *     its terms' absolute sum (Higham, Accuracy and Stability, 3.1); the scale
 *     1/sqrtf(d) rounds twice (root, division) and its product once more:
 *       |dS_ij| <= E_ij = gamma_{d+3} s sum_c |q_ic k_jc|.
 *  F2 weight: w_ij = exp(S_ij - m) for whatever shift m the code uses. An argument off
 *     by e moves exp by a factor within [e^-e, e^e], i.e. by at most expm1(e) relative:
 *     the bound uses expm1, not its first-order e, because at logits x1e4 and d >= 64 e
 *     reaches 0.2-0.6. The subtraction rounds (u |S_ij - m_i|, m_i the row's max; a
 *     running max below m_i costs at most u more: P_ij (m_i - m_run) <= x e^-x <= 1),
 *     exp adds C_EXP u:
 *       relative error Th_ij = expm1(E_ij) + u (|S_ij - m_i| + 1 + C_EXP).
 *  F3 o = sum_j w_ij v_j / sum_j w_ij: each sum of n terms in any order gamma_n, the
 *     online rescales multiply numerator and denominator by the same rounded factor
 *     (only the n multiplications' roundings remain), one division; the normaliser's
 *     relative error is the weighted mean Thbar_i = sum_j P_ij Th_ij:
 *       |do_ic| <= sum_j P_ij |v_jc| Th_ij + mo_ic (Thbar_i + gamma_{4n+1}),
 *     mo_ic = sum_j P_ij |v_jc| >= |o_ic|.
 *  F4 lse = m + log l: the shift cancels (d lse / d S_ij = P_ij), l's relative error
 *     becomes an absolute one through the log; a rescaled l keeps its rescale factors'
 *     roundings, exp(m_old - m_new) at most n times, (C_EXP + 2) u each:
 *       |dlse_i| <= Thbar_i + gamma_{2n} + (C_EXP + 2) n u + u (C_LOG |log l_i| + |lse_i|).
 *  B1 P recomputed from S and the forward's own lse: relative error
 *       Pi_ij = expm1(E_ij + |dlse_i|) + u (|S_ij - lse_i| + C_EXP)
 *     (a code normalising w / l instead has Th_ij + Thbar_i + gamma_{2n}, below it).
 *  B2 dP_ij = dO_i . v_j as F1: gamma_d B_ij, B_ij = sum_c |dO_ic v_jc|. A code that
 *     carries dO along the prefixes instead (the O(N^2 d) cubic_shared sweep: R(t) =
 *     dO(t) + f R(t+1)) compounds up to N rounded factors f into it: gamma_d + (C_EXP
 *     + 2) N u for the operators whose inputs every prefix shares.
 *  B3 D_i, either dO_i . o_i on the forward's o (gamma_d sum_c |dO_ic| |o_ic| +
 *     sum_c |dO_ic| |do_ic|) or sum_j P_ij dP_ij (sum_j P_ij (Pi_ij |dP_ij| +
 *     B2's factor B_ij) + gamma_n sum_j P_ij |dP_ij|): the bound is the sum of both
 *     forms, so it holds for either (and for sum_j P dP / sum_j P, whose extra error
 *     is below the first form's).
 *  B4 dS_ij = s P_ij (dP_ij - D_i): the subtraction, the product with P, and s (two
 *     roundings of its own, one product), five roundings:
 *       |ddS_ij| <= s P_ij ((Pi_ij + 5u) |dP_ij - D_i| + B2's factor B_ij + |dD_i|).
 *  B5 dq_i = sum_j dS_ij k_j, dk_j = sum_i dS_ij q_i, dv_j = sum_i P_ij dO_i: the
 *     propagated errors plus gamma_{L+1} of the terms' absolute sums (each term a
 *     rounded product, then a sum in any order), L the longest sum of the operator
 *     (problem_longest_sum: a cubic_shared key sums over every (prefix, row) that sees
 *     it):
 *       |ddq_ic| <= sum_j (|ddS_ij| + gamma_{L+1} |dS_ij|) |k_jc|, dk alike with q_ic,
 *       |ddv_jc| <= sum_i P_ij (Pi_ij + gamma_{L+1}) |dO_ic|.
 * The propagation past F2 / B1 is first order: the products of two error terms it
 * drops are below Th (and Pi) times the largest relative error they multiply, i.e.
 * under 1% of the bound wherever the bound is below 1% of the result. No slack factor
 * is applied; naive passes it (it must: a failing baseline fails its own cell).
 * What it can catch: at logits x1e2 and at d = 3, 16 the bound is far below the
 * results (lse: 1.9e-4 at d = 3, 6.5e-4 at d = 16, so a planted lse + 1e-3, of the size
 * the rule "2 x naive's error" caught, is still caught); it grows as d where a random
 * walk of roundings grows as sqrt d, and at logits x1e4 with d >= 64, where every score
 * is uncertain by 0.2-0.6 in any float32 order, it reaches the size of o and the
 * gradients themselves: those cases test finiteness and order of magnitude only, which
 * is all a float32 computation of them can promise. */
#define BOUND_C_EXP 2.0
#define BOUND_C_LOG 2.0
double tol_gamma(double n);

/* An implementation's own directional finite difference: h = cbrt(float32 eps) times
 * the inputs' scale balances truncation (h^2) against rounding (eps/h); at that h both
 * are ~1e-5 of the directional derivative's typical size, so 1e-2 passes any correct
 * gradient while a missing or wrong term gives errors of order 1.
 * The typical size is ||g||_2 (g the gradient of the perturbed tensor): u is standard
 * normal, so <g, u> ~ N(0, ||g||^2). Neither error term scales with |<g, u>| itself, so
 * dividing by it alone fails correct code whenever a direction's terms happen to cancel
 * (seen: cubic_shared N=9 d=1, |<g, u>| = 3e-4 sum|g_i u_i|, float32 rounding of the loss
 * then 2% of it with naive, blocked, omp and blas alike). Against ||g||_2 a gradient
 * error e shows as ||e|| / ||g||: a wrong term still fails. */
#define FD_REL_TOL 1e-2
double fd_step(double input_scale);

/* The model's directional difference (model_checks.c). A whole model is far more curved
 * than one operator: plain central differences at fd_step's h were truncation-bound
 * (seen: 0.wqkv at L=3, error 4.6e-3 at h, 1.9e-2 at 2h, 8.0e-2 at 4h: the h^2 law)
 * while the small tensors (LayerNorm biases) were already rounding-bound. Richardson's
 * extrapolation (4 D(h/2) - D(h)) / 3 cancels the h^2 term, leaving h^4 truncation
 * against about 3 eps / h of rounding, balanced at h ~ eps^(1/5) times the scale; the
 * model's h^4 coefficient is large enough to move the balance by a constant, measured
 * here over every tensor of the quick cases (worst relative error at eps^(1/5) scale
 * times 1, 1/2, 1/4, 1/8: 1.7e-2 truncation-bound, 2.1e-3, 2.0e-3, 6.0e-3
 * rounding-bound), hence the 1/4. The tolerance is FD_REL_TOL unchanged. */
double fd_step_extrapolated(double input_scale);

/* Inference-equivalence compares two float32 results that each lie within their
 * vs-reference tolerance of the same exact value: by the triangle inequality their
 * difference is within the sum of the two tolerances. */
double tol_equivalence(double tol_a, double tol_b);

/* The float32 model against the float64 model on the same weights and tokens (model/).
 * Every quantity of the model is a chain of the sums tol_naive_bound bounds: products
 * of inner length D or 4 D, attention sums over at most N keys, and in the weights'
 * gradients sums over every row a layer runs on (B N, or B T in a packed cubic layer).
 * One sum of k terms rounds by at most (k + 8) u relative to its terms' magnitudes,
 * NAIVE_BOUND_C as there; the residual stream carries each block's error to the output
 * unchanged, so the bounds of the L blocks and of the head add: (L + 1) stages of the
 * longest sum. Relative to each tensor's largest element, as for the operators: with
 * MODEL_INIT_CHECK every activation is of order one and nothing is built to cancel, so
 * the terms' magnitudes are those of the results. The float32 model with the naive
 * implementation is held to this bound, the others to tol_vs_baseline of naive's error
 * on the same quantity (seen: naive L=3 D=32 N=33, logits 5e-7 against 6.5e-5).
 * `unit` is the precision's u: 2^-24 for float32, 2^-53 for the float64 model's own
 * equivalences (packed == loop, inference == training). */
double tol_model_bound(int layers, size_t longest_sum, double unit);

#endif
