/* fit.c: the scaling exponent p of t = c N^p, by least squares on log t vs log N over
 * the upper half of the measured N (the last three points when the upper half has fewer
 * and three exist), where the asymptotic term dominates; R^2 of that fit. */
#include "report.h"

#include <math.h>
#include <string.h>

fit fit_upper_half(const int *n, const double *t, int count)
{
    fit f;
    memset(&f, 0, sizeof f);
    int start = count / 2;
    if (count - start < 3) start = count >= 3 ? count - 3 : 0;
    int k = count - start;
    if (k < 2) return f;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
    for (int i = start; i < count; i++) {
        double x = log((double)n[i]), y = log(t[i]);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        syy += y * y;
    }
    double vx = sxx - sx * sx / k, vy = syy - sy * sy / k, cxy = sxy - sx * sy / k;
    if (!(vx > 0)) return f;
    f.ok = 1;
    f.p = cxy / vx;
    f.c = (sy - f.p * sx) / k;
    f.r2 = vy > 0 ? (cxy * cxy) / (vx * vy) : 1.0;
    f.n_lo = n[start];
    f.n_hi = n[count - 1];
    f.points = k;
    return f;
}

int series(const dataset *ds, const char *impl, const char *op, const char *pass,
           int threads, int *n, double *t, int cap)
{
    int ns[256];
    int k = ds_ns(ds, op, pass, threads, ns, 256), count = 0;
    for (int i = 0; i < k && count < cap; i++) {
        const bench_record *b = ds_find(ds, impl, op, pass, ns[i], threads);
        if (b && b->ok) {
            n[count] = b->n;
            t[count++] = b->t_med;
        }
    }
    return count;
}

fit fit_series(const dataset *ds, const char *impl, const char *op, const char *pass,
               int threads)
{
    int n[256];
    double t[256];
    int k = series(ds, impl, op, pass, threads, n, t, 256);
    return fit_upper_half(n, t, k);
}
