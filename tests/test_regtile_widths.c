/* test_regtile_widths.c: the register kernel gives the same bits at every vector width.
 * The library holds one copy of regtile.c per kernel path (isa.h): 8 lanes on avx2, 16
 * on avx512. Every wider path this CPU runs is held against the narrowest: every score
 * product and every accumulating product (each entry one fused chain) must agree bit for
 * bit, on shapes that exercise each remainder path: m not a multiple of 6, key counts that
 * leave 8 columns or fewer, widths d that are not multiples of 16 or 8. And on every path
 * the unpacked score form (decode) equals the packed one (the tile engine's). */
#include "regtile.h"
#include "isa.h"
#include "vexp.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fill(float *x, size_t count, unsigned seed)
{
    for (size_t i = 0; i < count; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) / 16777216.0 * 2 - 1);
    }
}

static int runnable(const regt_isa *p) { return !(p->needs & ~isa_cpu_features()); }

/* The paths after the narrowest that this CPU runs; skips the test when there is none. */
static int wide_paths(const regt_isa **out, int cap)
{
    int n = 0;
    for (int i = 1; regt_isa_at(i) && n < cap; i++)
        if (runnable(regt_isa_at(i))) out[n++] = regt_isa_at(i);
    if (n == 0)
        cr_skip_test("this CPU runs only the %s kernel path: no wider copy to compare",
                     regt_isa_at(0)->name);
    return n;
}

Test(regtile_widths, scores_are_bit_identical)
{
    const regt_isa *wide[8], *narrow = regt_isa_at(0);
    const int nwide = wide_paths(wide, 8);
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
            memcpy(xt8, xt, regt_packed_floats((size_t)nk, (size_t)d) * sizeof *xt);
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
                const int m = ms[mi], lds = REGT_BK_FWD; /* a forward tile: two panels */
                float *a = malloc((size_t)m * d * sizeof *a);
                float *s = calloc((size_t)m * lds, sizeof *s), *s8 = calloc((size_t)m * lds, sizeof *s8);
                cr_assert(a && s && s8);
                fill(a, (size_t)m * d, (unsigned)(m + 7 * d));
                for (int w = 0; w < nwide; w++)
                    for (int j0 = 0; j0 < nk; j0 += REGT_BK_FWD) {
                        const int n = nk - j0 < REGT_BK_FWD ? nk - j0 : REGT_BK_FWD;
                        wide[w]->scores(m, n, d, a, xt, j0, s, lds);
                        narrow->scores(m, n, d, a, xt8, j0, s8, lds);
                        cr_assert_arr_eq(s, s8, (size_t)m * lds * sizeof *s,
                                         "scores m=%d keys %d..%d d=%d differ: %s, %s", m, j0,
                                         j0 + n - 1, d, wide[w]->name, narrow->name);
                    }
                free(a); free(s); free(s8);
            }
            free(x); free(xt); free(xt8);
        }
}

Test(regtile_widths, products_are_bit_identical)
{
    const regt_isa *wide[8], *narrow = regt_isa_at(0);
    const int nwide = wide_paths(wide, 8);
    static const int sizes[] = {1, 6, 8, 13, 16, 24, 40, 64, 128};
    const int count = sizeof sizes / sizeof *sizes;
    for (int w = 0; w < nwide; w++) {
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
                            const flash_ops *wo = wide[w]->ops, *no = narrow->ops;
                            wo->prod(wo, add, trans, m, n, k, a, lda, b, n, c, n);
                            no->prod(no, add, trans, m, n, k, a, lda, b, n, c8, n);
                            cr_assert_arr_eq(c, c8, (size_t)m * n * sizeof *c,
                                             "product add=%d trans=%d m=%d n=%d k=%d differs: %s, %s",
                                             add, trans, m, n, k, wide[w]->name, narrow->name);
                            free(a); free(b); free(c); free(c8);
                        }
    }
}

/* The unpacked score form (decode: keys read as the cache holds them, 8 x 8 blocks
 * transposed in registers) against the packed form of the tile engine on the same path,
 * bit for bit: each score is q . x_j as one chain of fused multiply-adds from c = 0, so a
 * decode step scores its keys exactly as a causal forward does. */
static void unpacked_scores_on(const regt_isa *path)
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
            path->ops->score(path->ops, 1, nk, d, q, x, NULL, 0, s, lds);
            path->scores(1, nk, d, q, xt, 0, sp, lds);
            for (int j = 0; j < nk; j++)
                cr_assert(memcmp(&sp[j], &s[j], sizeof *s) == 0,
                          "%s d=%d key %d of %d: %a, the packed score %a", path->name, d, j,
                          nk, s[j], sp[j]);
            free(q); free(x); free(xt); free(s); free(sp);
        }
}

Test(regtile_widths, unpacked_scores_are_the_packed_scores)
{
    for (int i = 0; regt_isa_at(i); i++)
        if (runnable(regt_isa_at(i))) unpacked_scores_on(regt_isa_at(i));
}

/* ---- the softmax weights of a tile (softmax_rows.h) ---------------------------------------- */

/* Scores with the values that take each branch of the exp: ordinary, underflowing to
 * subnormal weights, to 0, clamped from above, NaN and both infinities. */
static void fill_scores(float *s, size_t count, unsigned seed)
{
    static const float special[] = {NAN, INFINITY, -INFINITY, -700.0f, -810.0f, -830.0f,
                                    -1e30f, 800.0f, 0.0f, -0.0f};
    fill(s, count, seed);
    for (size_t i = 0; i < count; i++) {
        s[i] *= 60.0f;
        if (i % 7 == 3) s[i] = special[(i / 7) % (sizeof special / sizeof *special)];
    }
}

/* The tests' softmax scale is not a power of two: multiplying by one is exact, and a
 * reordered product around it would go unseen. */
enum { GUARD = 16 };
static const float guard_value = 12345.0f;

typedef struct tile_case {
    int m, nk, causal, first;
} tile_case;

/* Keys row r of the case sees: all nk, or under the causal cut first + r, clamped to
 * the tile. */
static int visible_keys(tile_case tc, int r)
{
    const int cnt = tc.causal ? tc.first + r : tc.nk;
    return cnt < 0 ? 0 : cnt > tc.nk ? tc.nk : cnt;
}

/* Every tile shape and causal cut the tests run: m rows not a multiple of 8, key counts
 * that leave a partial 8- or 16-float block, and cuts before, inside and past the tile. */
static int tile_cases(tile_case *out)
{
    static const int ms[] = {1, 5, 8, 9, 64}, nks[] = {1, 7, 8, 9, 16, 17, 33, 57, 64};
    static const int firsts[] = {-3, 0, 1, 5, 40, 70};
    int n = 0;
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ni = 0; ni < sizeof nks / sizeof *nks; ni++) {
            out[n++] = (tile_case){ms[mi], nks[ni], 0, 0};
            for (size_t fi = 0; fi < sizeof firsts / sizeof *firsts; fi++)
                out[n++] = (tile_case){ms[mi], nks[ni], 1, firsts[fi]};
        }
    return n;
}
enum { MAX_TILE_CASES = 5 * 9 * 7 };

/* One path's weights, sums and maxes of a copy of the tile. t: [m][ld] + GUARD */
static void run_path(const regt_isa *p, tile_case tc, const float *tile, const float *sub,
                     float *out, float *sum, float *mx)
{
    const int ld = (tc.nk + 7) & ~7;
    const size_t n = (size_t)tc.m * ld;
    memcpy(out, tile, n * sizeof *out);
    for (int g = 0; g < GUARD; g++) out[n + g] = guard_value;
    p->max_rows(tc.m, tc.nk, out, ld, tc.causal, tc.first, mx);
    p->exp_rows(tc.m, tc.nk, out, ld, tc.causal, tc.first, 0.3f, sub, sum);
}

Test(regtile_widths, softmax_weights_are_bit_identical)
{
    const regt_isa *wide[8], *narrow = regt_isa_at(0);
    const int nwide = wide_paths(wide, 8);
    tile_case cases[MAX_TILE_CASES];
    const int ncases = tile_cases(cases);
    for (int i = 0; i < ncases; i++) {
        const tile_case tc = cases[i];
        const int ld = (tc.nk + 7) & ~7;
        const size_t n = (size_t)tc.m * ld;
        float *tile = malloc(n * sizeof *tile), *sub = malloc((size_t)tc.m * sizeof *sub);
        float *a = malloc((n + GUARD) * sizeof *a), *b = malloc((n + GUARD) * sizeof *b);
        float *sa = malloc((size_t)tc.m * sizeof *sa), *sb = malloc((size_t)tc.m * sizeof *sb);
        float *ma = malloc((size_t)tc.m * sizeof *ma), *mb = malloc((size_t)tc.m * sizeof *mb);
        cr_assert(tile && sub && a && b && sa && sb && ma && mb);
        fill_scores(tile, n, (unsigned)(tc.m * 977 + tc.nk * 31 + tc.first));
        fill(sub, (size_t)tc.m, (unsigned)tc.nk);
        for (int r = 0; r < tc.m; r++) sub[r] = r % 5 == 4 ? 0.0f : 8.0f * sub[r];
        for (int w = 0; w < nwide; w++) {
            run_path(wide[w], tc, tile, sub, a, sa, ma);
            run_path(narrow, tc, tile, sub, b, sb, mb);
            cr_assert_arr_eq(a, b, (n + GUARD) * sizeof *a,
                             "weights m=%d nk=%d causal=%d first=%d differ: %s, %s", tc.m,
                             tc.nk, tc.causal, tc.first, wide[w]->name, narrow->name);
            cr_assert_arr_eq(sa, sb, (size_t)tc.m * sizeof *sa,
                             "weight sums m=%d nk=%d causal=%d first=%d differ: %s, %s",
                             tc.m, tc.nk, tc.causal, tc.first, wide[w]->name, narrow->name);
            cr_assert_arr_eq(ma, mb, (size_t)tc.m * sizeof *ma,
                             "row maxes m=%d nk=%d causal=%d first=%d differ: %s, %s", tc.m,
                             tc.nk, tc.causal, tc.first, wide[w]->name, narrow->name);
        }
        free(tile); free(sub); free(a); free(b); free(sa); free(sb); free(ma); free(mb);
    }
}

static int same_bits(float x, float y) { return memcmp(&x, &y, sizeof x) == 0; }

/* Every path against softmax_rows.h's definition, written out here element by element: each
 * weight vexp's value (vexp.h) in the lanes the row sees and 0 up to ld, nothing written
 * past the tile, each sum in the stated order (8-float blocks alternately into two
 * partial sums, added, then hsum8), each max the largest non-NaN score. */
static void softmax_weights_on(const regt_isa *p)
{
    tile_case cases[MAX_TILE_CASES];
    const int ncases = tile_cases(cases);
    for (int i = 0; i < ncases; i++) {
        const tile_case tc = cases[i];
        const int ld = (tc.nk + 7) & ~7;
        const size_t n = (size_t)tc.m * ld;
        float *tile = malloc(n * sizeof *tile), *sub = malloc((size_t)tc.m * sizeof *sub);
        float *out = malloc((n + GUARD) * sizeof *out), *sum = malloc((size_t)tc.m * sizeof *sum);
        float *mx = malloc((size_t)tc.m * sizeof *mx);
        cr_assert(tile && sub && out && sum && mx);
        fill_scores(tile, n, (unsigned)(tc.m * 13 + tc.nk * 7 + tc.first));
        fill(sub, (size_t)tc.m, (unsigned)(tc.m + 5));
        run_path(p, tc, tile, sub, out, sum, mx);
        for (int r = 0; r < tc.m; r++) {
            const int cnt = visible_keys(tc, r);
            float vmax = -INFINITY, part[2][8] = {{0}};
            for (int c = 0; c < ld; c++) {
                const float s = tile[(size_t)r * ld + c];
                float want = 0.0f;
                if (c < cnt) {
                    want = vexp(bc8(0.3f) * bc8(s) - bc8(sub[r]))[0];
                    part[(c / 8) % 2][c % 8] += want;
                    if (s > vmax) vmax = s;
                }
                cr_assert(same_bits(out[(size_t)r * ld + c], want),
                          "%s m=%d nk=%d causal=%d first=%d: weight (%d, %d) of score %a is "
                          "%a, want %a", p->name, tc.m, tc.nk, tc.causal, tc.first, r, c, s,
                          out[(size_t)r * ld + c], want);
            }
            v8f even, odd;
            memcpy(&even, part[0], sizeof even);
            memcpy(&odd, part[1], sizeof odd);
            const float want_sum = hsum8(even + odd);
            cr_assert(same_bits(sum[r], want_sum) || (isnan(sum[r]) && isnan(want_sum)),
                      "%s m=%d nk=%d causal=%d first=%d: row %d sums to %a, want %a",
                      p->name, tc.m, tc.nk, tc.causal, tc.first, r, sum[r], want_sum);
            vmax += 0.0f; /* a zero max is +0 whichever zero came first */
            cr_assert(same_bits(mx[r], vmax), "%s: row %d max %a, want %a", p->name, r, mx[r],
                      vmax);
        }
        for (int g = 0; g < GUARD; g++)
            cr_assert(out[n + g] == guard_value, "%s m=%d nk=%d: wrote past the tile",
                      p->name, tc.m, tc.nk);
        free(tile); free(sub); free(out); free(sum); free(mx);
    }
}

/* A row whose max is a zero gets +0 on every path, whichever zeros it holds in whichever
 * lanes: a reduction's order decides which of two equal zeros it keeps. */
Test(regtile_widths, a_zero_max_is_positive_zero)
{
    enum { M = 20, NK = 40, LD = 40 };
    static float tile[M * LD];
    for (int r = 0; r < M; r++)
        for (int c = 0; c < NK; c++) {
            float x = -1.0f - (float)c;
            if (c == r % NK) x = (r & 1) ? -0.0f : 0.0f;
            if (c == (r * 7 + 3) % NK) x = (r & 2) ? 0.0f : -0.0f;
            tile[r * LD + c] = x;
        }
    const float plus_zero = 0.0f;
    for (int i = 0; regt_isa_at(i); i++) {
        const regt_isa *p = regt_isa_at(i);
        if (!runnable(p)) continue;
        float mx[M];
        p->max_rows(M, NK, tile, LD, 0, 0, mx);
        for (int r = 0; r < M; r++)
            cr_assert(same_bits(mx[r], plus_zero), "%s: row %d max %a, want +0", p->name, r,
                      mx[r]);
    }
}

Test(regtile_widths, softmax_weights_follow_their_definition)
{
    for (int i = 0; regt_isa_at(i); i++)
        if (runnable(regt_isa_at(i))) softmax_weights_on(regt_isa_at(i));
}

/* Weights of a sweep of arguments against vexp, bit for bit, on every path (scale 1 and
 * subtrahend 0 pass the argument through exactly): every 4099th float of [-110, 95], and
 * the 64 floats around each (n + 1/2) ln 2, where n, the rounding of x log2 e, falls
 * either way and a changed rounding in the range reduction shows. */
static void exp_sweep_on(const regt_isa *p)
{
    enum { CAP = 1 << 20, W = 64 };
    float *x = malloc(CAP * sizeof *x), *w = malloc((CAP + GUARD) * sizeof *w);
    cr_assert(x && w);
    size_t n = 0;
    for (float v = -110.0f; v < 95.0f && n < CAP; n++) {
        x[n] = v;
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        bits = v < 0 ? bits - 4099 : bits + 4099;
        if (v < 0 && bits < 0x80000000u) bits = 0;
        memcpy(&v, &bits, sizeof v);
    }
    for (int k = -151; k <= 128 && n + 64 <= CAP; k++) {
        float v = (float)((k + 0.5) * 0.6931471805599453);
        for (int i = 0; i < 32; i++) v = nextafterf(v, -INFINITY);
        for (int i = 0; i < 64; i++, v = nextafterf(v, INFINITY)) x[n++] = v;
    }
    n -= n % W;
    const float zero[64] = {0};
    for (size_t r0 = 0; r0 < n; r0 += (size_t)W * 64) {
        const int m = (int)((n - r0) / W < 64 ? (n - r0) / W : 64);
        memcpy(w, x + r0, (size_t)m * W * sizeof *w);
        p->exp_rows(m, W, w, W, 0, 0, 1.0f, zero, NULL);
        for (size_t i = 0; i < (size_t)m * W; i++) {
            const float want = vexp(bc8(x[r0 + i]))[0];
            cr_assert(same_bits(w[i], want), "%s: weight of %a is %a, vexp gives %a", p->name,
                      x[r0 + i], w[i], want);
        }
    }
    free(x);
    free(w);
}

Test(regtile_widths, softmax_weights_are_vexp_over_a_sweep)
{
    for (int i = 0; regt_isa_at(i); i++)
        if (runnable(regt_isa_at(i))) exp_sweep_on(regt_isa_at(i));
}

/* The backward's dS = scale (P (dP - D)) on every path against its definition written out
 * here (the same three roundings, lanes past a row's visible keys 0, nothing written past
 * the tile), and so on every path the same bits. */
static void ds_on(const regt_isa *p)
{
    tile_case cases[MAX_TILE_CASES];
    const int ncases = tile_cases(cases);
    for (int i = 0; i < ncases; i++) {
        const tile_case tc = cases[i];
        const int ld = (tc.nk + 7) & ~7;
        const size_t n = (size_t)tc.m * ld;
        float *pt = malloc(n * sizeof *pt), *dp = malloc(n * sizeof *dp);
        float *ds = malloc((n + GUARD) * sizeof *ds), *D = malloc((size_t)tc.m * sizeof *D);
        cr_assert(pt && dp && ds && D);
        fill(pt, n, (unsigned)(tc.m * 3 + tc.nk));
        fill_scores(dp, n, (unsigned)(tc.m * 5 + tc.nk * 11 + tc.first));
        fill(D, (size_t)tc.m, (unsigned)(tc.nk + 1));
        memcpy(ds, dp, n * sizeof *ds);
        for (int g = 0; g < GUARD; g++) ds[n + g] = guard_value;
        p->ds_rows(tc.m, tc.nk, pt, ds, ld, tc.causal, tc.first, 0.3f, D);
        for (int r = 0; r < tc.m; r++) {
            const int cnt = visible_keys(tc, r);
            for (int c = 0; c < ld; c++) {
                const size_t at = (size_t)r * ld + c;
                const float want = c < cnt ? 0.3f * (pt[at] * (dp[at] - D[r])) : 0.0f;
                cr_assert(same_bits(ds[at], want),
                          "%s m=%d nk=%d causal=%d first=%d: dS (%d, %d) is %a, want %a",
                          p->name, tc.m, tc.nk, tc.causal, tc.first, r, c, ds[at], want);
            }
        }
        for (int g = 0; g < GUARD; g++)
            cr_assert(ds[n + g] == guard_value, "%s m=%d nk=%d: dS written past the tile",
                      p->name, tc.m, tc.nk);
        free(pt); free(dp); free(ds); free(D);
    }
}

Test(regtile_widths, ds_follows_its_definition)
{
    for (int i = 0; regt_isa_at(i); i++)
        if (runnable(regt_isa_at(i))) ds_on(regt_isa_at(i));
}
