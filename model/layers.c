/* layers.c: the per-row layers of the model, each a forward/backward pair, and AdamW.
 * Rows are independent, so the row loops run in parallel (OpenMP's team, as the caller
 * set it up); sums across rows (the LayerNorm parameter gradients, the loss) are split
 * by column or summed in row order, so every result is the same at any thread count. */
#include "real.h"

#include <math.h>
#include <omp.h>

#define LN_EPS 1e-5
#define LN_COLS 128
/* Worth a parallel region only above this many elements. */
#define PAR_MIN (1 << 14)

/* One row of LayerNorm's output from its statistics: forward and recompute alike. */
static inline void ln_row(real *o, const real *xr, real m, real s, const real *g,
                          const real *b, int D)
{
    for (int i = 0; i < D; i++) o[i] = (xr[i] - m) * s * g[i] + b[i];
}

void MF(layernorm_forward)(real *out, real *mean, real *rstd, const real *x, const real *g,
                           const real *b, int R, int D)
{
#pragma omp parallel for schedule(static) if ((size_t)R * D >= PAR_MIN)
    for (int r = 0; r < R; r++) {
        const real *xr = x + (size_t)r * D;
        real m = 0, var = 0;
        for (int i = 0; i < D; i++) m += xr[i];
        m /= D;
        for (int i = 0; i < D; i++) var += (xr[i] - m) * (xr[i] - m);
        var /= D;
        real s = (real)(1.0 / sqrt((double)var + LN_EPS));
        ln_row(out + (size_t)r * D, xr, m, s, g, b, D);
        mean[r] = m;
        rstd[r] = s;
    }
}

void MF(layernorm_apply)(real *out, const real *x, const real *mean, const real *rstd,
                         const real *g, const real *b, int R, int D)
{
#pragma omp parallel for schedule(static) if ((size_t)R * D >= PAR_MIN)
    for (int r = 0; r < R; r++)
        ln_row(out + (size_t)r * D, x + (size_t)r * D, mean[r], rstd[r], g, b, D);
}

void MF(layernorm_backward)(real *dx, real *dg, real *db, const real *dout, const real *x,
                            const real *mean, const real *rstd, const real *g, int R, int D)
{
#pragma omp parallel for schedule(static) if ((size_t)R * D >= PAR_MIN)
    for (int r = 0; r < R; r++) {
        const real *xr = x + (size_t)r * D, *dr = dout + (size_t)r * D;
        const real m = mean[r], s = rstd[r];
        /* With n = (x - m) s and dn = dout g: dx = s (dn - mean(dn) - n mean(dn n)). */
        real dn_mean = 0, dnn_mean = 0;
        for (int i = 0; i < D; i++) {
            real dn = dr[i] * g[i];
            dn_mean += dn;
            dnn_mean += dn * (xr[i] - m) * s;
        }
        dn_mean /= D;
        dnn_mean /= D;
        real *dxr = dx + (size_t)r * D;
        for (int i = 0; i < D; i++) {
            real n = (xr[i] - m) * s;
            dxr[i] += s * (dr[i] * g[i] - dn_mean - n * dnn_mean);
        }
    }
    /* dg, db: each column's sum over the rows in row order (the same at any thread count).
     * A thread owns a range of columns and walks the rows in storage order, LN_COLS
     * columns at a time (a column at a time would touch a cache line per row). */
#pragma omp parallel if ((size_t)R * D >= PAR_MIN)
    {
        const int nt = omp_get_num_threads(), me = omp_get_thread_num();
        const int i1 = D * (me + 1) / nt;
        for (int i0 = D * me / nt; i0 < i1; i0 += LN_COLS) {
            const int w = i1 - i0 < LN_COLS ? i1 - i0 : LN_COLS;
            real sg[LN_COLS] = {0}, sb[LN_COLS] = {0};
            for (int r = 0; r < R; r++) {
                const real *dr = dout + (size_t)r * D + i0, *xr = x + (size_t)r * D + i0;
                const real m = mean[r], s = rstd[r];
                for (int i = 0; i < w; i++) {
                    sg[i] += dr[i] * (xr[i] - m) * s;
                    sb[i] += dr[i];
                }
            }
            for (int i = 0; i < w; i++) {
                dg[i0 + i] += sg[i];
                db[i0 + i] += sb[i];
            }
        }
    }
}

/* GELU, tanh form, written through the logistic function, which needs one exponential
 * and no cancellation anywhere: 0.5 (1 + tanh z) = 1 / (1 + e), e = exp(-2z), so
 *   gelu(u)  = u / (1 + e),            z = c (u + a u^3),
 *   gelu'(u) = s + 2 u s (1 - s) c (1 + 3 a u^2),   s = 1 / (1 + e),  1 - s = e s.
 * The float model evaluates it 8 lanes at a time with the suite's vexp (a libm tanh per
 * element cost more than every product of a training step); the float64 model, the
 * reference, with libm's exp. A tail shorter than the lanes goes through the same lanes,
 * padded, so that an element's value never depends on where it sits in its array:
 * training, inference and the loop compute each row in arrays of different lengths and
 * must agree bit for bit (docs/DESIGN.md §8). */
#define GELU_C 0.7978845608028654 /* sqrt(2 / pi) */
#define GELU_A 0.044715
/* Below this gelu and gelu' are 0 in either precision (e^-600); clamping there keeps
 * u^3 and the exponential finite for any finite input. */
#define GELU_LOW (-20.0)

#ifdef MODEL_F64
typedef double gvec;
#define GLANES 1
static inline gvec gload(const real *p) { return *p; }
static inline void gstore(real *p, gvec x) { *p = x; }
static inline gvec gexp(gvec x) { return exp(x); }
static inline gvec gmax_low(gvec x) { return x < GELU_LOW ? GELU_LOW : x; }
#else
#include "vexp.h"
typedef v8f gvec;
#define GLANES 8
static inline gvec gload(const real *p) { return ld8(p); }
static inline void gstore(real *p, gvec x) { st8(p, x); }
static inline gvec gexp(gvec x) { return vexp(x); }
static inline gvec gmax_low(gvec x)
{
    const gvec low = bc8((float)GELU_LOW);
    const v8i below = x < low; /* false for NaN, which stays */
    return (v8f)((below & (v8i)low) | (~below & (v8i)x));
}
#endif

static inline gvec gelu_lanes(gvec u)
{
    const gvec uc = gmax_low(u);
    const gvec z = (real)GELU_C * (uc + (real)GELU_A * uc * uc * uc);
    return u / (1 + gexp(-2 * z));
}

static inline gvec gelu_grad_lanes(gvec u, gvec dout)
{
    const gvec uc = gmax_low(u);
    const gvec z = (real)GELU_C * (uc + (real)GELU_A * uc * uc * uc);
    const gvec e = gexp(-2 * z), s = 1 / (1 + e);
    const gvec slope = 2 * uc * (real)GELU_C * (1 + 3 * (real)GELU_A * uc * uc);
    return (s + slope * (e * s) * s) * dout;
}

void MF(gelu_forward)(real *out, const real *x, size_t n)
{
    const size_t full = n / GLANES * GLANES;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < full; i += GLANES) gstore(out + i, gelu_lanes(gload(x + i)));
    if (full < n) {
        real xt[GLANES] = {0}, ot[GLANES];
        for (size_t i = full; i < n; i++) xt[i - full] = x[i];
        gstore(ot, gelu_lanes(gload(xt)));
        for (size_t i = full; i < n; i++) out[i] = ot[i - full];
    }
}

void MF(gelu_backward)(real *dx, const real *dout, const real *x, size_t n)
{
    const size_t full = n / GLANES * GLANES;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < full; i += GLANES)
        gstore(dx + i, gelu_grad_lanes(gload(x + i), gload(dout + i)));
    if (full < n) {
        real xt[GLANES] = {0}, dt[GLANES] = {0}, ot[GLANES];
        for (size_t i = full; i < n; i++) {
            xt[i - full] = x[i];
            dt[i - full] = dout[i];
        }
        gstore(ot, gelu_grad_lanes(gload(xt), gload(dt)));
        for (size_t i = full; i < n; i++) dx[i] = ot[i - full];
    }
}

double MF(crossentropy_forward_backward)(const real *logits, const int *targets, int R,
                                         int V, double weight, real *dlogits)
{
    double total = 0.0;
    for (int r = 0; r < R; r++) {
        const real *l = logits + (size_t)r * V;
        real *dl = dlogits ? dlogits + (size_t)r * V : NULL;
        if (targets[r] < 0) {
            for (int j = 0; dl && j < V; j++) dl[j] = 0;
            continue;
        }
        double m = l[0], s = 0.0;
        for (int j = 1; j < V; j++) m = l[j] > m ? l[j] : m;
        for (int j = 0; j < V; j++) s += exp(l[j] - m);
        total += weight * (log(s) + m - l[targets[r]]);
        for (int j = 0; dl && j < V; j++)
            dl[j] = (real)(weight * (exp(l[j] - m) / s - (j == targets[r])));
    }
    return total;
}

void MF(model_adamw_update)(const model_adamw *opt, int64_t step, size_t count,
                            real *params, const real *grads, real *m, real *v)
{
    const double c1 = 1.0 - pow(opt->beta1, (double)step);
    const double c2 = 1.0 - pow(opt->beta2, (double)step);
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
    for (size_t i = 0; i < count; i++) {
        double g = grads[i];
        double mi = opt->beta1 * m[i] + (1.0 - opt->beta1) * g;
        double vi = opt->beta2 * v[i] + (1.0 - opt->beta2) * g * g;
        m[i] = (real)mi;
        v[i] = (real)vi;
        double update = (mi / c1) / (sqrt(vi / c2) + opt->eps) + opt->weight_decay * params[i];
        params[i] = (real)(params[i] - opt->lr * update);
    }
}
