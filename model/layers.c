/* layers.c: the per-row layers of the model (a body, real.h), each a forward/backward
 * pair. Rows are independent, so the row loops run in parallel (OpenMP's team, as the
 * caller set it up); sums across rows (the LayerNorm parameter gradients, the loss) are
 * split by column or summed in row order, so every result is the same at any thread
 * count. */
#include "real.h"

#include <math.h>
#include <omp.h>

#define LN_EPS 1e-5
#define LN_COLS 128

/* One row of LayerNorm's output from its statistics: forward and recompute alike. */
static inline void ln_row(real *o, const real *xr, real m, real s, const real *g,
                          const real *b, int D)
{
    for (int i = 0; i < D; i++) o[i] = (xr[i] - m) * s * g[i] + b[i];
}

static void layernorm_forward(real *out, real *mean, real *rstd, const real *x, const real *g,
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

/* out from x and the mean, rstd layernorm_forward saved: the very values it wrote (a
 * backward recomputes LN's output rather than keep it, docs/DESIGN.md §8). */
static void layernorm_apply(real *out, const real *x, const real *mean, const real *rstd,
                            const real *g, const real *b, int R, int D)
{
#pragma omp parallel for schedule(static) if ((size_t)R * D >= PAR_MIN)
    for (int r = 0; r < R; r++)
        ln_row(out + (size_t)r * D, x + (size_t)r * D, mean[r], rstd[r], g, b, D);
}

static void layernorm_backward(real *dx, real *dg, real *db, const real *dout, const real *x,
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

static inline gvec gelu_lanes(gvec u)
{
    const gvec uc = gmax(u, (real)GELU_LOW);
    const gvec z = (real)GELU_C * (uc + (real)GELU_A * uc * uc * uc);
    return u / (1 + gexp(-2 * z));
}

static inline gvec gelu_grad_lanes(gvec u, gvec dout)
{
    const gvec uc = gmax(u, (real)GELU_LOW);
    const gvec z = (real)GELU_C * (uc + (real)GELU_A * uc * uc * uc);
    const gvec e = gexp(-2 * z), s = 1 / (1 + e);
    const gvec slope = 2 * uc * (real)GELU_C * (1 + 3 * (real)GELU_A * uc * uc);
    return (s + slope * (e * s) * s) * dout;
}

static void gelu_forward(real *out, const real *x, size_t n)
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

static void gelu_backward(real *dx, const real *dout, const real *x, size_t n)
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

static double crossentropy_forward_backward(const real *logits, const int *targets, int R,
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
