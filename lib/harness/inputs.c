/* inputs.c: the one seeded generator of cubattn_harness.h. */
#include "cubattn_harness.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t ca_rand64(uint64_t seed, uint64_t i)
{
    return mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ull);
}

/* In (0, 1): never 0, so log() below stays finite. */
static double unit_open(uint64_t r) { return ((double)(r >> 11) + 0.5) * 0x1.0p-53; }

double ca_draw(ca_dist dist, uint64_t seed, uint64_t i)
{
    if (dist == CA_DIST_UNIFORM)
        return (2.0 * unit_open(ca_rand64(seed, i)) - 1.0) * 1.7320508075688772;
    /* Box-Muller on counters 2i and 2i+1: one normal per pair, no state between them. */
    double u1 = unit_open(ca_rand64(seed, 2 * i)), u2 = unit_open(ca_rand64(seed, 2 * i + 1));
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ca_fill(float *x, size_t n, ca_dist dist, double scale, uint64_t seed, uint64_t first)
{
    /* Worth threads only for the big tensors of a benchmark cell. */
#pragma omp parallel for schedule(static) if (n >= ((size_t)1 << 20))
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * ca_draw(dist, seed, first + i));
}
