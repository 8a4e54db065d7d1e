/* stats.c: the statistics of the experiment's verdicts (docs/DESIGN.md §9.5): the
 * Student-t quantile t_{0.975, df} and the 95% interval of a mean of paired
 * differences. */
#include "report.h"

#include <math.h>

/* t_{0.975, df} for df = 1..30 (standard tables, 4 decimals; df = 1 and 2 have closed
 * forms: tan(0.475 pi) = 12.7062, 4.3027). */
static const double t975_table[30] = {
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};

double student_t975(int df)
{
    if (df < 1) return NAN;
    if (df <= 30) return t975_table[df - 1];
    /* Beyond the table: the Cornish-Fisher expansion of t around the normal quantile
     * z = 1.959964 (Abramowitz & Stegun 26.7.5), within 1e-4 of the exact value for
     * df > 30. */
    const double z = 1.959963985, z2 = z * z, n = df;
    const double g1 = (z2 + 1) * z / 4;
    const double g2 = ((5 * z2 + 16) * z2 + 3) * z / 96;
    const double g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384;
    return z + g1 / n + g2 / (n * n) + g3 / (n * n * n);
}

int mean_ci95(const double *x, int k, double *mean, double *lo, double *hi)
{
    double m = 0;
    for (int i = 0; i < k; i++) m += x[i];
    m = k > 0 ? m / k : NAN;
    *mean = m;
    *lo = *hi = NAN;
    if (k < 2) return -1;
    double ss = 0;
    for (int i = 0; i < k; i++) ss += (x[i] - m) * (x[i] - m);
    const double half = student_t975(k - 1) * sqrt(ss / (k - 1)) / sqrt((double)k);
    *lo = m - half;
    *hi = m + half;
    return 0;
}
