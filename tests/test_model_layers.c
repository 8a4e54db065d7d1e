/* test_model_layers.c: the model's per-row layers (model.h) — LayerNorm, GELU,
 * softmax cross-entropy — and AdamW, each against an independent statement of its
 * definition and its backward against float64 central differences of the float64
 * forward (docs/DESIGN.md §8).
 *
 * Gradient checks. Every layer is reduced to a scalar: L = sum_i w_i out_i with fixed
 * random weights w (so dout = w), or the cross-entropy itself. Each input element is
 * moved by +-GRADCHECK_EPS and (L+ - L-) / 2 eps is compared with the analytic gradient
 * by torch.autograd.gradcheck's rule |analytic - numeric| <= ATOL + RTOL |numeric|
 * (verify/tolerance.h). The float64 backward is held to that; the float32 backward, run
 * on the same (float-representable) inputs, is held against the float64 analytic
 * gradient to a float32 rounding bound derived below (f32_bound). */
#include "model.h"
#include "cubattn_harness.h"
#include "tolerance.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U32 0x1p-24 /* float32 unit roundoff */
#define LN_EPS 1e-5 /* model.h: rstd = 1/sqrt(var + 1e-5) */

/* n float-representable inputs, scale * N(0, 1), as float and as double. */
static void draw(float *f, double *d, size_t n, double scale, uint64_t seed)
{
    ca_fill(f, n, CA_DIST_NORMAL, scale, seed, 0);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
}

static double max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* ---- the float64 gradient check ------------------------------------------------------ */

typedef double (*scalar_fn)(void *ctx);

/* Moves each x[i] by +-eps, compares (f+ - f-) / 2 eps with analytic[i]. */
static void gradcheck(const char *what, double *x, size_t n, scalar_fn f, void *ctx,
                      const double *analytic)
{
    for (size_t i = 0; i < n; i++) {
        const double xi = x[i];
        x[i] = xi + GRADCHECK_EPS;
        const double fp = f(ctx);
        x[i] = xi - GRADCHECK_EPS;
        const double fm = f(ctx);
        x[i] = xi;
        const double num = (fp - fm) / (2.0 * GRADCHECK_EPS);
        cr_expect_leq(fabs(analytic[i] - num), GRADCHECK_ATOL + GRADCHECK_RTOL * fabs(num),
                      "%s[%zu]: analytic %.10g, finite difference %.10g", what, i,
                      analytic[i], num);
    }
}

/* ---- the float32 bound ---------------------------------------------------------------
 * First-order rounding analysis of a float32 computation built of sums and products: a
 * result that passes through at most n roundings is off by at most n u times the same
 * expression evaluated with the absolute value of every term (u = 2^-24); NAIVE_BOUND_C
 * and the + 8 are as in verify/tolerance.h (stacked sums that first order does not
 * separate; the fixed roundings per element: divisions, square root, casts). The
 * absolute-value evaluation, `magnitude`, is computed in float64 from the inputs for
 * each layer (its conditioning), and the error is measured relative to max|gradient|,
 * so the bound is multiplied by max magnitude / max|gradient|:
 *   bound = NAIVE_BOUND_C (n + 8) u * max magnitude / max|gradient|.
 * A wrong or missing term errs by O(1) of max|gradient|; every bound here is < 1e-3. */
static double f32_bound(size_t longest_chain, double magnitude, double max_grad)
{
    return NAIVE_BOUND_C * ((double)longest_chain + 8.0) * U32 * magnitude /
           (max_grad > 0.0 ? max_grad : 1.0);
}

/* max|got - ref| / max|ref| (max|got - ref| when ref is all zero). */
static double f32_err(const float *got, const double *ref, size_t n)
{
    double e = 0.0, r = max_abs(ref, n);
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)got[i] - ref[i]));
    return r > 0.0 ? e / r : e;
}

static double worst_f32_ratio[3]; /* LN, GELU, CE: worst err / bound seen, for the log */

static void check_f32(const char *what, int layer, const float *got, const double *ref,
                      size_t n, double bound)
{
    const double err = f32_err(got, ref, n);
    if (bound > 0.0) worst_f32_ratio[layer] = fmax(worst_f32_ratio[layer], err / bound);
    cr_expect(isfinite(err) && err <= bound, "float32 %s: error %.3g > bound %.3g", what,
              err, bound);
}

/* ---- LayerNorm -------------------------------------------------------------------------- */

typedef struct ln_ctx {
    int R, D;
    double *x, *g, *b, *w, *out, *mean, *rstd;
} ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    layernorm_forward_f64(c->out, c->mean, c->rstd, c->x, c->g, c->b, c->R, c->D);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)c->R * c->D; i++) s += c->w[i] * c->out[i];
    return s;
}

static void check_layernorm(int R, int D, uint64_t seed)
{
    const size_t n = (size_t)R * D;
    float *xf = malloc(n * sizeof *xf), *gf = malloc(D * sizeof *gf), *bf = malloc(D * sizeof *bf);
    float *wf = malloc(n * sizeof *wf), *of = malloc(n * sizeof *of);
    float *mf = malloc(R * sizeof *mf), *sf = malloc(R * sizeof *sf);
    float *dxf = calloc(n, sizeof *dxf), *dgf = calloc(D, sizeof *dgf), *dbf = calloc(D, sizeof *dbf);
    double *x = malloc(n * sizeof *x), *g = malloc(D * sizeof *g), *b = malloc(D * sizeof *b);
    double *w = malloc(n * sizeof *w), *out = malloc(n * sizeof *out);
    double *mean = malloc(R * sizeof *mean), *rstd = malloc(R * sizeof *rstd);
    double *dx = malloc(n * sizeof *dx), *dg = malloc(D * sizeof *dg), *db = malloc(D * sizeof *db);
    cr_assert(xf && gf && bf && wf && of && mf && sf && dxf && dgf && dbf && x && g && b && w &&
              out && mean && rstd && dx && dg && db);
    /* x off zero mean (a common offset makes the centring cancel), gains off 1 */
    draw(xf, x, n, 1.0, seed);
    for (size_t i = 0; i < n; i++) x[i] = xf[i] = xf[i] + 0.5f;
    draw(gf, g, D, 0.3, seed + 1);
    for (int i = 0; i < D; i++) g[i] = gf[i] = gf[i] + 1.0f;
    draw(bf, b, D, 0.3, seed + 2);
    draw(wf, w, n, 1.0, seed + 3);

    /* float64: the backward accumulates (dx += ...), so start from 0.5 and subtract it */
    ln_ctx c = {R, D, x, g, b, w, out, mean, rstd};
    ln_loss(&c);
    for (size_t i = 0; i < n; i++) dx[i] = 0.5;
    for (int i = 0; i < D; i++) dg[i] = db[i] = 0.5;
    layernorm_backward_f64(dx, dg, db, w, x, mean, rstd, g, R, D);
    for (size_t i = 0; i < n; i++) dx[i] -= 0.5;
    for (int i = 0; i < D; i++) { dg[i] -= 0.5; db[i] -= 0.5; }
    char what[64];
    snprintf(what, sizeof what, "layernorm R=%d D=%d dx", R, D);
    gradcheck(what, x, n, ln_loss, &c, dx);
    snprintf(what, sizeof what, "layernorm R=%d D=%d dg", R, D);
    gradcheck(what, g, D, ln_loss, &c, dg);
    snprintf(what, sizeof what, "layernorm R=%d D=%d db", R, D);
    gradcheck(what, b, D, ln_loss, &c, db);
    ln_loss(&c); /* mean, rstd of the unperturbed inputs */

    /* float32: its own forward's mean and rstd, as the model runs it */
    layernorm_forward_f32(of, mf, sf, xf, gf, bf, R, D);
    layernorm_backward_f32(dxf, dgf, dbf, wf, xf, mf, sf, gf, R, D);
    /* Magnitudes. With a_i = |x_i| + |mean| (x_i - mean with its terms' absolute values)
     * and A = rstd max_i a_i: the float32 mean is off by ~D u max a, i.e. by D u A in
     * units of the row's spread 1/rstd, which moves every n_i = (x_i - mean) rstd and,
     * through the variance, rstd itself by that much relative: hence the factor 1 + A on
     * every term. dx = rstd (dn - mean(dn) - n mean(dn n)), dn = dout g, evaluated with
     * absolute values; dg = sum_r dout n, db = sum_r dout likewise.
     * Longest chains: dx: the mean, the variance and the mean of dn n, three sums of D
     * (3D); dg: mean and variance (2D), then the sum over R rows; db: R. */
    double mdx = 0.0, mdg = 0.0, mdb = 0.0;
    for (int i = 0; i < D; i++) {
        double sg = 0.0, sb = 0.0;
        for (int r = 0; r < R; r++) {
            const double *xr = x + (size_t)r * D, s = rstd[r], m = mean[r];
            double A = 0.0;
            for (int j = 0; j < D; j++) A = fmax(A, s * (fabs(xr[j]) + fabs(m)));
            sg += fabs(w[(size_t)r * D + i]) * s * (fabs(xr[i]) + fabs(m)) * (1.0 + A);
            sb += fabs(w[(size_t)r * D + i]);
        }
        mdg = fmax(mdg, sg);
        mdb = fmax(mdb, sb);
    }
    for (int r = 0; r < R; r++) {
        const double *xr = x + (size_t)r * D, *wr = w + (size_t)r * D, s = rstd[r], m = mean[r];
        double A = 0.0, dn_mean = 0.0, dnn_mean = 0.0;
        for (int j = 0; j < D; j++) {
            const double a = s * (fabs(xr[j]) + fabs(m));
            A = fmax(A, a);
            dn_mean += fabs(wr[j] * g[j]) / D;
            dnn_mean += fabs(wr[j] * g[j]) * a / D;
        }
        for (int j = 0; j < D; j++) {
            const double a = s * (fabs(xr[j]) + fabs(m));
            mdx = fmax(mdx, s * (fabs(wr[j] * g[j]) + dn_mean + a * dnn_mean) * (1.0 + A));
        }
    }
    snprintf(what, sizeof what, "layernorm R=%d D=%d dx", R, D);
    check_f32(what, 0, dxf, dx, n, f32_bound(3 * (size_t)D, mdx, max_abs(dx, n)));
    snprintf(what, sizeof what, "layernorm R=%d D=%d dg", R, D);
    check_f32(what, 0, dgf, dg, D, f32_bound(2 * (size_t)D + R, mdg, max_abs(dg, D)));
    snprintf(what, sizeof what, "layernorm R=%d D=%d db", R, D);
    check_f32(what, 0, dbf, db, D, f32_bound((size_t)R, mdb, max_abs(db, D)));

    free(xf); free(gf); free(bf); free(wf); free(of); free(mf); free(sf);
    free(dxf); free(dgf); free(dbf);
    free(x); free(g); free(b); free(w); free(out); free(mean); free(rstd);
    free(dx); free(dg); free(db);
}

static const int shapes[][2] = {{1, 1}, {3, 1}, {1, 3}, {4, 3}, {2, 17}, {5, 17}, {5, 3}};
#define SHAPES (sizeof shapes / sizeof shapes[0])

Test(model_layers, layernorm_gradients)
{
    for (size_t s = 0; s < SHAPES; s++) check_layernorm(shapes[s][0], shapes[s][1], 100 + s);
    cr_log_info("layernorm: worst float32 error / bound = %.3g", worst_f32_ratio[0]);
}

/* With g = 1, b = 0: every row has mean 0 and equals (x - mean) / sqrt(var + 1e-5), the
 * mean and (population) variance taken here in long double. float64 sums of D terms are
 * within (D + 8) 2^-53 of their terms' magnitude; the row's terms are |x| + |mean| in
 * units of its spread, so the comparison is scaled by rstd max(|x| + |mean|). */
Test(model_layers, layernorm_forward_definition)
{
    for (size_t s = 0; s < SHAPES; s++) {
        const int R = shapes[s][0], D = shapes[s][1];
        const size_t n = (size_t)R * D;
        float *xf = malloc(n * sizeof *xf);
        double *x = malloc(n * sizeof *x), *out = malloc(n * sizeof *out);
        double *g = malloc(D * sizeof *g), *b = malloc(D * sizeof *b);
        double *mean = malloc(R * sizeof *mean), *rstd = malloc(R * sizeof *rstd);
        cr_assert(xf && x && out && g && b && mean && rstd);
        draw(xf, x, n, 2.0, 200 + s);
        for (size_t i = 0; i < n; i++) x[i] += 3.0;
        for (int i = 0; i < D; i++) { g[i] = 1.0; b[i] = 0.0; }
        layernorm_forward_f64(out, mean, rstd, x, g, b, R, D);
        for (int r = 0; r < R; r++) {
            const double *xr = x + (size_t)r * D, *o = out + (size_t)r * D;
            long double m = 0, var = 0, omean = 0, big = 0;
            for (int i = 0; i < D; i++) m += xr[i];
            m /= D;
            for (int i = 0; i < D; i++) var += (xr[i] - m) * (xr[i] - m);
            var /= D;
            const long double rs = 1.0L / sqrtl(var + LN_EPS);
            for (int i = 0; i < D; i++) big = fmaxl(big, rs * (fabsl(xr[i]) + fabsl(m)));
            const double tol = 4.0 * (D + 8) * DBL_EPSILON * (double)(1.0L + big);
            for (int i = 0; i < D; i++) {
                omean += o[i];
                const long double want = (xr[i] - m) * rs;
                cr_expect_leq(fabsl(o[i] - want), tol, "R=%d D=%d row %d col %d: %.17g vs %.17Lg",
                              R, D, r, i, o[i], want);
            }
            cr_expect_leq(fabsl(omean / D), tol, "R=%d D=%d row %d: mean %.3Lg", R, D, r,
                          omean / D);
            cr_expect_leq(fabsl(mean[r] - m), tol, "saved mean");
            cr_expect_leq(fabsl(rstd[r] - rs) / rs, tol, "saved rstd");
        }
        free(xf); free(x); free(out); free(g); free(b); free(mean); free(rstd);
    }
}

/* ---- GELU ----------------------------------------------------------------------------- */

typedef struct gelu_ctx {
    size_t n;
    double *x, *w, *out;
} gelu_ctx;

static double gelu_loss(void *p)
{
    gelu_ctx *c = p;
    gelu_forward_f64(c->out, c->x, c->n);
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++) s += c->w[i] * c->out[i];
    return s;
}

Test(model_layers, gelu_gradients)
{
    const size_t sizes[] = {1, 3, 17, 5 * 17};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        float *xf = malloc(n * sizeof *xf), *wf = malloc(n * sizeof *wf), *dxf = malloc(n * sizeof *dxf);
        double *x = malloc(n * sizeof *x), *w = malloc(n * sizeof *w), *out = malloc(n * sizeof *out);
        double *dx = malloc(n * sizeof *dx);
        cr_assert(xf && wf && dxf && x && w && out && dx);
        draw(xf, x, n, 2.5, 300 + k); /* into both tails, where gelu' leaves [0, 1] */
        draw(wf, w, n, 1.0, 310 + k);
        gelu_ctx c = {n, x, w, out};
        gelu_backward_f64(dx, w, x, n);
        char what[48];
        snprintf(what, sizeof what, "gelu n=%zu dx", n);
        gradcheck(what, x, n, gelu_loss, &c, dx);
        /* float32: computed in double from float inputs, then one rounding of each
         * result: no sum (chain 0), magnitude = |dx| itself. */
        gelu_backward_f32(dxf, wf, xf, n);
        check_f32(what, 1, dxf, dx, n, f32_bound(0, max_abs(dx, n), max_abs(dx, n)));
        free(xf); free(wf); free(dxf); free(x); free(w); free(out); free(dx);
    }
    cr_log_info("gelu: worst float32 error / bound = %.3g", worst_f32_ratio[1]);
}

/* The tanh form (GPT-2's), not the erf form: at x = 1 they differ by 1.5e-4. Where
 * 1 + tanh cancels (x << 0) its absolute error is ~eps, times 0.5 |x|: the comparison
 * is absolute, scaled by 1 + |x|. */
Test(model_layers, gelu_is_the_tanh_form)
{
    static const double pts[] = {-30, -10, -5, -3, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 2, 3, 5, 10, 30};
    const size_t n = sizeof pts / sizeof pts[0];
    double out[sizeof pts / sizeof pts[0]];
    float xf[sizeof pts / sizeof pts[0]], outf[sizeof pts / sizeof pts[0]];
    for (size_t i = 0; i < n; i++) xf[i] = (float)pts[i];
    gelu_forward_f64(out, pts, n);
    gelu_forward_f32(outf, xf, n);
    for (size_t i = 0; i < n; i++) {
        const long double x = pts[i];
        const long double want =
            0.5L * x * (1.0L + tanhl(sqrtl(2.0L / 3.141592653589793238462643383279503L) *
                                    (x + 0.044715L * x * x * x)));
        cr_expect_leq(fabsl(out[i] - want), 8 * DBL_EPSILON * (1.0L + fabsl(x)),
                      "gelu_f64(%g) = %.17g, want %.17Lg", pts[i], out[i], want);
        cr_expect_leq(fabsl(outf[i] - want), 2 * FLT_EPSILON * (1.0L + fabsl(x)),
                      "gelu_f32(%g) = %.9g, want %.17Lg", pts[i], outf[i], want);
    }
    const double erf_form = 0.5 * (1.0 + erf(1.0 / sqrt(2.0)));
    cr_expect_gt(fabs(out[10] - erf_form), 1e-4, "gelu(1) is the erf form");
}

/* ---- softmax cross-entropy --------------------------------------------------------------- */

typedef struct ce_ctx {
    int R, V;
    double *logits, weight;
    const int *targets;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    return crossentropy_forward_backward_f64(c->logits, c->targets, c->R, c->V, c->weight, NULL);
}

/* Targets: row r -> (3 r + 1) mod V, except row 1 skipped (-1). */
static void ce_targets(int *t, int R, int V)
{
    for (int r = 0; r < R; r++) t[r] = r == 1 ? -1 : (3 * r + 1) % V;
}

static const int ce_shapes[][2] = {{1, 1}, {3, 1}, {1, 2}, {3, 2}, {2, 13}, {5, 13}};
#define CE_SHAPES (sizeof ce_shapes / sizeof ce_shapes[0])

Test(model_layers, crossentropy_gradients)
{
    for (size_t s = 0; s < CE_SHAPES; s++) {
        const int R = ce_shapes[s][0], V = ce_shapes[s][1];
        const size_t n = (size_t)R * V;
        float *lf = malloc(n * sizeof *lf), *dlf = malloc(n * sizeof *dlf);
        double *l = malloc(n * sizeof *l), *dl = malloc(n * sizeof *dl);
        int *t = malloc(R * sizeof *t);
        cr_assert(lf && dlf && l && dl && t);
        draw(lf, l, n, 2.0, 400 + s);
        ce_targets(t, R, V);
        const double weight = 1.0 / 3.0;
        ce_ctx c = {R, V, l, weight, t};
        crossentropy_forward_backward_f64(l, t, R, V, weight, dl);
        char what[48];
        snprintf(what, sizeof what, "crossentropy R=%d V=%d dlogits", R, V);
        gradcheck(what, l, n, ce_loss, &c, dl);
        /* float32: the row's sum and every exp are taken in double from float logits,
         * then each result is rounded once: chain V (the double sum, V 2^-53 < V u),
         * magnitude weight (|p_j - [j == target]| <= 1). */
        crossentropy_forward_backward_f32(lf, t, R, V, weight, dlf);
        check_f32(what, 2, dlf, dl, n, f32_bound((size_t)V, weight, max_abs(dl, n)));
        free(lf); free(dlf); free(l); free(dl); free(t);
    }
    cr_log_info("crossentropy: worst float32 error / bound = %.3g", worst_f32_ratio[2]);
}

/* Each row's loss is logsumexp - logit[target] (long double, here), times weight; a
 * skipped row adds 0 and gets a zero gradient row; a kept row's gradient sums to 0.
 * One row has logits near 1000, where exp without the max shift overflows. */
Test(model_layers, crossentropy_definition)
{
    for (size_t s = 0; s < CE_SHAPES; s++) {
        const int R = ce_shapes[s][0], V = ce_shapes[s][1];
        const size_t n = (size_t)R * V;
        float *lf = malloc(n * sizeof *lf);
        double *l = malloc(n * sizeof *l), *dl = malloc(n * sizeof *dl);
        int *t = malloc(R * sizeof *t);
        cr_assert(lf && l && dl && t);
        draw(lf, l, n, 3.0, 500 + s);
        for (int j = 0; j < V && R > 2; j++) l[2 * (size_t)V + j] += 1000.0;
        ce_targets(t, R, V);
        for (size_t i = 0; i < n; i++) dl[i] = NAN;
        const double weight = 0.25;
        const double got = crossentropy_forward_backward_f64(l, t, R, V, weight, dl);
        long double want = 0;
        for (int r = 0; r < R; r++) {
            const double *lr = l + (size_t)r * V, *dr = dl + (size_t)r * V;
            long double rowsum = 0;
            for (int j = 0; j < V; j++) rowsum += dr[j];
            if (t[r] < 0) {
                for (int j = 0; j < V; j++)
                    cr_expect_eq(dr[j], 0.0, "R=%d V=%d skipped row %d: dlogits[%d] = %g", R, V, r, j, dr[j]);
                continue;
            }
            long double m = lr[0], se = 0;
            for (int j = 1; j < V; j++) m = fmaxl(m, lr[j]);
            for (int j = 0; j < V; j++) se += expl(lr[j] - m);
            want += weight * (logl(se) + m - lr[t[r]]);
            cr_expect_leq(fabsl(rowsum), 4 * V * DBL_EPSILON * weight,
                          "R=%d V=%d row %d: dlogits sum to %.3Lg", R, V, r, rowsum);
            for (int j = 0; j < V; j++) {
                const long double p = expl(lr[j] - m) / se;
                cr_expect_leq(fabsl(dr[j] - weight * (p - (j == t[r]))), 8 * DBL_EPSILON * weight,
                              "R=%d V=%d row %d: dlogits[%d]", R, V, r, j);
            }
        }
        /* terms up to ~1000 (the shifted row): relative to the sum of |terms| */
        cr_expect_leq(fabsl(got - want), 8 * (V + R) * DBL_EPSILON * (1.0L + fabsl(want)) * 1100,
                      "R=%d V=%d: loss %.17g, want %.17Lg", R, V, got, want);
        cr_expect_eq(crossentropy_forward_backward_f64(l, t, R, V, weight, NULL), got,
                     "loss without the gradient differs");
        free(lf); free(l); free(dl); free(t);
    }
    /* by hand: V = 2, logits (0, 0), target 1: loss ln 2, gradient (1/2, -1/2) */
    const double l2[2] = {0.0, 0.0};
    double d2[2];
    const int t1 = 1;
    cr_expect_float_eq(crossentropy_forward_backward_f64(l2, &t1, 1, 2, 1.0, d2), log(2.0), 1e-15);
    cr_expect_float_eq(d2[0], 0.5, 1e-15);
    cr_expect_float_eq(d2[1], -0.5, 1e-15);
}

/* ---- AdamW ---------------------------------------------------------------------------- */

/* Hand-written AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW): with t the
 * 1-based step, m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
 * p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + lr wd p (decoupled: the decay
 * is not part of g, so Adam's normalisation never sees it). */
static void adamw_by_hand(const model_adamw *o, int t, size_t n, double *p, const double *g,
                          double *m, double *v)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = o->beta1 * m[i] + (1 - o->beta1) * g[i];
        v[i] = o->beta2 * v[i] + (1 - o->beta2) * g[i] * g[i];
        const double mh = m[i] / (1 - pow(o->beta1, t)), vh = v[i] / (1 - pow(o->beta2, t));
        const double decay = o->lr * o->weight_decay * p[i];
        p[i] = p[i] - o->lr * mh / (sqrt(vh) + o->eps) - decay;
    }
}

Test(model_layers, adamw_matches_hand_written)
{
    enum { N = 37, STEPS = 3 };
    const model_adamw opt = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                             .weight_decay = 0.1};
    float pf[N], mf[N] = {0}, vf[N] = {0}, gf[N];
    double p[N], m[N] = {0}, v[N] = {0}, g[N], p64[N], m64[N] = {0}, v64[N] = {0};
    draw(pf, p, N, 1.0, 600);
    memcpy(p64, p, sizeof p);
    double max_p = max_abs(p, N), step_sum = 0.0, max_g = 0.0;
    for (int t = 1; t <= STEPS; t++) {
        draw(gf, g, N, 1.0, 610 + t);
        double before[N];
        memcpy(before, p, sizeof p);
        adamw_by_hand(&opt, t, N, p, g, m, v);
        model_adamw_update_f64(&opt, t, N, p64, g, m64, v64);
        model_adamw_update_f32(&opt, t, N, pf, gf, mf, vf);
        double ds = 0.0;
        for (int i = 0; i < N; i++) ds = fmax(ds, fabs(p[i] - before[i]));
        step_sum += ds;
        max_p = fmax(max_p, max_abs(p, N));
        max_g = fmax(max_g, max_abs(g, N));
        /* float64: the same operations up to order: a few roundings of each result */
        for (int i = 0; i < N; i++) {
            cr_expect_leq(fabs(p64[i] - p[i]), 16 * DBL_EPSILON * (fabs(p[i]) + opt.lr),
                          "step %d: p[%d] %.17g vs %.17g", t, i, p64[i], p[i]);
            cr_expect_leq(fabs(m64[i] - m[i]), 4 * DBL_EPSILON * max_g, "step %d: m[%d]", t, i);
            cr_expect_leq(fabs(v64[i] - v[i]), 4 * DBL_EPSILON * max_g * max_g, "step %d: v[%d]", t, i);
        }
        /* float32: each step rounds p, m, v once when storing them; m and v are convex
         * combinations of the g's and g^2's (sum of |terms| <= max|g|, max g^2), and an
         * error in them moves the step by the same relative amount: after t steps
         * |dp| <= t 8 u (max|p| + sum of max|step|), |dm| <= t 8 u max|g|, etc. */
        for (int i = 0; i < N; i++) {
            cr_expect_leq(fabs(pf[i] - p[i]), t * 8 * U32 * (max_p + step_sum),
                          "float32 step %d: p[%d] %.9g vs %.17g", t, i, pf[i], p[i]);
            cr_expect_leq(fabs(mf[i] - m[i]), t * 8 * U32 * max_g, "float32 step %d: m[%d]", t, i);
            cr_expect_leq(fabs(vf[i] - v[i]), t * 8 * U32 * max_g * max_g, "float32 step %d: v[%d]", t, i);
        }
    }
}

/* Step 1 with wd = 0: m^ = g and v^ = g^2 exactly, so the step is
 * -lr g / (|g| + eps) = -lr sign(g) (1 - eps / (|g| + eps)): Adam's first step is
 * sign descent. |g| in [0.5, 2.5] >> eps = 1e-8. With g = 0 and wd > 0 the step is the
 * decoupled decay alone, p (1 - lr wd), which an L2 term inside g (Adam, not AdamW)
 * would have turned into -lr sign(p). */
Test(model_layers, adamw_first_step_is_sign_descent)
{
    enum { N = 23 };
    const model_adamw opt = {.lr = 3e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                             .weight_decay = 0.0};
    float pf[N], gf[N], mf[N] = {0}, vf[N] = {0}, p0f[N];
    double p[N], g[N], m[N] = {0}, v[N] = {0}, p0[N];
    draw(pf, p, N, 1.0, 700);
    draw(gf, g, N, 1.0, 701);
    for (int i = 0; i < N; i++) {
        gf[i] = (float)(copysign(0.5 + fabs(g[i]), g[i]));
        g[i] = gf[i];
    }
    memcpy(p0, p, sizeof p);
    memcpy(p0f, pf, sizeof pf);
    model_adamw_update_f64(&opt, 1, N, p, g, m, v);
    model_adamw_update_f32(&opt, 1, N, pf, gf, mf, vf);
    for (int i = 0; i < N; i++) {
        const double want = -opt.lr * (g[i] > 0 ? 1.0 : -1.0);
        const double eps_effect = opt.lr * opt.eps / fabs(g[i]);
        cr_expect_leq(fabs((p[i] - p0[i]) - want), eps_effect + 4 * DBL_EPSILON * (fabs(p0[i]) + opt.lr),
                      "f64 p[%d] moved by %.17g, want %.17g", i, p[i] - p0[i], want);
        cr_expect_leq(fabs(((double)pf[i] - p0f[i]) - want), eps_effect + 2 * FLT_EPSILON * (fabs(p0f[i]) + opt.lr),
                      "f32 p[%d] moved by %.9g, want %.9g", i, (double)pf[i] - p0f[i], want);
    }
    const model_adamw decay = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                               .weight_decay = 0.5};
    double zero[N] = {0};
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    memcpy(p, p0, sizeof p);
    model_adamw_update_f64(&decay, 1, N, p, zero, m, v);
    for (int i = 0; i < N; i++)
        cr_expect_leq(fabs(p[i] - p0[i] * (1 - decay.lr * decay.weight_decay)),
                      4 * DBL_EPSILON * fabs(p0[i]), "decoupled decay, p[%d]", i);
}
