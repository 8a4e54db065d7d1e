/* test_regtile_widths.c: the register kernel gives the same bits at every vector width.
 * The library's regtile.c runs 16 lanes where the build targets AVX-512; the Makefile
 * compiles it once more without AVX-512 (8 lanes) under the names *_narrow. Every score
 * product and every accumulating product (each entry one fused chain) must agree bit for bit, on shapes that exercise each remainder path: m not a multiple of 6,
 * key counts that leave 8 columns or fewer, widths d that are not multiples of 16 or 8.
 * And the unpacked score form (decode) equals the packed one (the tile engine's). */
#include "regtile.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

extern const flash_ops regt_ops_narrow;
void regt_pack_narrow(int n, int d, const float *x, float *xt);
void regt_scores_narrow(int m, int n, int d, const float *a, const float *xt, int j0,
                        float *s, ptrdiff_t lds);

static void fill(float *x, size_t count, unsigned seed)
{
    for (size_t i = 0; i < count; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) / 16777216.0 * 2 - 1);
    }
}

static void skip_without_wide_build(void)
{
#ifndef __AVX512F__
    cr_skip_test("this build targets no AVX-512: both copies of the kernel are 8 lanes");
#endif
}

Test(regtile_widths, scores_are_bit_identical)
{
    skip_without_wide_build();
    static const int ms[] = {1, 5, 6, 7, 64}, ns[] = {1, 7, 8, 9, 24, 40, 57, 64, 100, 130},
                     ds[] = {3, 8, 19, 40, 64, 128};
    for (size_t di = 0; di < sizeof ds / sizeof *ds; di++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            const int d = ds[di], nk = ns[ni];
            float *x = malloc((size_t)nk * d * sizeof *x);
            float *xt = malloc(regt_packed_floats((size_t)nk, (size_t)d) * sizeof *xt);
            float *xt8 = malloc(regt_packed_floats((size_t)nk, (size_t)d) * sizeof *xt8);
            cr_assert(x && xt && xt8);
            fill(x, (size_t)nk * d, (unsigned)(d * 1000 + nk));
            regt_pack(nk, d, x, xt);
            regt_pack_narrow(nk, d, x, xt8);
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
                const int m = ms[mi], lds = REGT_B;
                float *a = malloc((size_t)m * d * sizeof *a);
                float *s = calloc((size_t)m * lds, sizeof *s), *s8 = calloc((size_t)m * lds, sizeof *s8);
                cr_assert(a && s && s8);
                fill(a, (size_t)m * d, (unsigned)(m + 7 * d));
                for (int j0 = 0; j0 < nk; j0 += REGT_B) {
                    const int n = nk - j0 < REGT_B ? nk - j0 : REGT_B;
                    regt_scores(m, n, d, a, xt, j0, s, lds);
                    regt_scores_narrow(m, n, d, a, xt8, j0, s8, lds);
                    cr_assert_arr_eq(s, s8, (size_t)m * lds * sizeof *s,
                                     "scores m=%d keys %d..%d d=%d differ", m, j0, j0 + n - 1, d);
                }
                free(a); free(s); free(s8);
            }
            free(x); free(xt); free(xt8);
        }
}

Test(regtile_widths, products_are_bit_identical)
{
    skip_without_wide_build();
    static const int sizes[] = {1, 6, 8, 13, 16, 24, 40, 64, 128};
    const int count = sizeof sizes / sizeof *sizes;
    for (int add = 0; add <= 1; add++)
        for (int trans = 0; trans <= 1; trans++)
            for (int mi = 0; mi < count; mi += 2)
                for (int ni = 0; ni < count; ni++)
                    for (int ki = 0; ki < count; ki += 3) {
                        const int m = sizes[mi], n = sizes[ni], k = sizes[ki];
                        const int lda = trans ? m : k;
                        float *a = malloc((size_t)m * k * sizeof *a);
                        float *b = malloc((size_t)k * n * sizeof *b);
                        float *c = malloc((size_t)m * n * sizeof *c);
                        float *c8 = malloc((size_t)m * n * sizeof *c8);
                        cr_assert(a && b && c && c8);
                        fill(a, (size_t)m * k, (unsigned)(m * 31 + k));
                        fill(b, (size_t)k * n, (unsigned)(n * 17 + k));
                        fill(c, (size_t)m * n, 5u);
                        memcpy(c8, c, (size_t)m * n * sizeof *c);
                        regt_ops.prod(&regt_ops, add, trans, m, n, k, a, lda, b, n, c, n);
                        regt_ops_narrow.prod(&regt_ops_narrow, add, trans, m, n, k, a, lda, b,
                                             n, c8, n);
                        cr_assert_arr_eq(c, c8, (size_t)m * n * sizeof *c,
                                         "product add=%d trans=%d m=%d n=%d k=%d differs", add,
                                         trans, m, n, k);
                        free(a); free(b); free(c); free(c8);
                    }
}

/* The unpacked score form (decode: keys read as the cache holds them, 8 x 8 blocks
 * transposed in registers) against the packed form of the tile engine, bit for bit: each
 * score is q . x_j as one chain of fused multiply-adds from c = 0, so a decode step
 * scores its keys exactly as a causal forward does. */
Test(regtile_widths, unpacked_scores_are_the_packed_scores)
{
    static const int ds[] = {3, 8, 19, 40, 64}, nks[] = {1, 7, 8, 9, 17, 64};
    for (size_t di = 0; di < sizeof ds / sizeof *ds; di++)
        for (size_t ki = 0; ki < sizeof nks / sizeof *nks; ki++) {
            const int d = ds[di], nk = nks[ki], lds = (nk + 7) & ~7;
            float *q = malloc((size_t)d * sizeof *q), *x = malloc((size_t)nk * d * sizeof *x);
            float *xt = malloc(regt_packed_floats((size_t)nk, (size_t)d) * sizeof *xt);
            float *s = malloc((size_t)lds * sizeof *s), *sp = malloc((size_t)lds * sizeof *sp);
            cr_assert(q && x && xt && s && sp);
            fill(q, (size_t)d, (unsigned)(d + 3));
            fill(x, (size_t)nk * d, (unsigned)(nk * 13 + d));
            regt_pack(nk, d, x, xt);
            regt_ops.score(&regt_ops, 1, nk, d, q, x, NULL, 0, s, lds);
            regt_scores(1, nk, d, q, xt, 0, sp, lds);
            for (int j = 0; j < nk; j++)
                cr_assert(memcmp(&sp[j], &s[j], sizeof *s) == 0,
                          "d=%d key %d of %d: %a, the packed score %a", d, j, nk, s[j], sp[j]);
            free(q); free(x); free(xt); free(s); free(sp);
        }
}
