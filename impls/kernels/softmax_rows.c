/* softmax_rows.c: softmax_rows.h's row operations, one kernel path's copy (built per path of
 * the Makefile's ISAS, as regtile.c is; its table holds this copy).
 *
 * On avx512 the weights are 16 lanes wide and 2^n is applied by vscalefps: one rounding
 * of p 2^n, into the subnormal range when e^x lies there, which is what vexp.h's two
 * exponent-built factors give (the first product is exact, the second rounds once); every
 * other step is vexp's, operation for operation. So each weight has vexp's bits, and the
 * sums have softmax_rows.h's order on both paths (tests/test_regtile_widths.c checks both).
 */
#include "isa.h"
#ifndef ISA_BUILD
#error "softmax_rows.c is built once per kernel path, with -DISA_BUILD=<path> (Makefile ISAS)"
#endif
#define exp_rows ISA_NAME(exp_rows)
#define max_rows ISA_NAME(max_rows)
#define ds_rows ISA_NAME(ds_rows)
#include "softmax_rows.h"

#include <math.h>

#include "vexp.h"
#include "vscore.h"

#define INLINE static inline __attribute__((always_inline))

/* Rows whose sums are reduced together: each row's sum waits on its last exp, so the
 * reductions go after a group of rows rather than between them. */
enum { RB = 8 };

/* Keys row r sees (softmax_rows.h). */
INLINE int row_cnt(int r, int nk, int causal, int first)
{
    if (!causal) return nk;
    const int c = first + r;
    return c < 0 ? 0 : c > nk ? nk : c;
}

#ifdef __AVX512F__
enum { G = 4 }; /* blocks of 16 whose exps run interleaved (see vexp16) */

/* vexp (vexp.h) on G vectors of 16 lanes: the same operations in the same order but the
 * last, 2^n by vscalefps (the single correctly rounded product the two factors give).
 * Step by step across the G vectors, so that each step's G operations are independent:
 * one exp is a chain of some twenty dependent operations, and written one vector after
 * another the chains filled the scheduler with operations waiting on their
 * predecessors. */
INLINE void vexp16(__m512 x[G])
{
    const __m512 lo = _mm512_set1_ps(-104.0f), hi = _mm512_set1_ps(88.0f);
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    static const float poly[] = {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                 1.0f / 6.0f,   0.5f,          1.0f,
                                 1.0f};
    __mmask16 under[G];
    __m512 n[G], r[G], p[G];
    for (int g = 0; g < G; g++) {
        under[g] = _mm512_cmp_ps_mask(x[g], lo, _CMP_LT_OQ);
        x[g] = _mm512_min_ps(hi, _mm512_max_ps(lo, x[g]));
    }
    for (int g = 0; g < G; g++)
        n[g] = _mm512_sub_ps(
            _mm512_add_ps(_mm512_mul_ps(x[g], _mm512_set1_ps(1.44269504088896341f)), shifter),
            shifter);
    for (int g = 0; g < G; g++) r[g] = _mm512_fmadd_ps(n[g], _mm512_set1_ps(-0.693359375f), x[g]);
    for (int g = 0; g < G; g++) r[g] = _mm512_fmadd_ps(n[g], _mm512_set1_ps(2.12194440e-4f), r[g]);
    for (int g = 0; g < G; g++) p[g] = _mm512_set1_ps(1.0f / 5040.0f);
    for (int i = 0; i < 7; i++)
        for (int g = 0; g < G; g++) p[g] = _mm512_fmadd_ps(p[g], r[g], _mm512_set1_ps(poly[i]));
    for (int g = 0; g < G; g++)
        x[g] = _mm512_maskz_mov_ps((__mmask16)~under[g], _mm512_scalef_ps(p[g], n[g]));
}

/* Lanes i < k of 16 (k clamped to 0 .. 16). */
INLINE __mmask16 first_lanes(int k)
{
    return k >= 16 ? (__mmask16)0xFFFF : k <= 0 ? (__mmask16)0 : (__mmask16)((1u << k) - 1);
}

void max_rows(int m, int nk, const float *s, int ld, int causal, int first, float *mx)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int r = 0; r < m; r++) {
        const float *row = s + (size_t)r * ld;
        const int cnt = row_cnt(r, nk, causal, first);
        __m512 a = ninf;
        for (int c = 0; c < cnt; c += 16) /* max(x, acc) returns acc for a NaN x */
            a = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, first_lanes(cnt - c), row + c), a);
        mx[r] = _mm512_reduce_max_ps(a);
    }
}

/* The weights of the G blocks from c0 into x (lanes in[g] only, the rest 0) and s. */
INLINE void group(float *s, int c0, const __mmask16 in[G], const __mmask16 width[G],
                  __m512 vs, __m512 vsub, __m512 x[G])
{
    for (int g = 0; g < G; g++)
        x[g] = _mm512_sub_ps(_mm512_mul_ps(vs, _mm512_maskz_loadu_ps(in[g], s + c0 + 16 * g)),
                             vsub);
    vexp16(x);
    for (int g = 0; g < G; g++) {
        x[g] = _mm512_maskz_mov_ps(in[g], x[g]);
        _mm512_mask_storeu_ps(s + c0 + 16 * g, width[g], x[g]);
    }
}

/* Row s's weights (softmax_rows.h); returns its two partial sums added, even + odd. Whole
 * groups first, with every lane in; then the row's ragged end under masks. Lanes past
 * cnt add +0: a sum of weights (>= 0 or NaN) is unchanged by it. */
INLINE v8f one_row(float *s, int cnt, int ld, __m512 vs, __m512 vsub)
{
    __m512 acc = _mm512_setzero_ps(), x[G];
    __mmask16 in[G], width[G];
    int c0 = 0;
    for (int g = 0; g < G; g++) in[g] = width[g] = (__mmask16)0xFFFF;
    for (; c0 + 16 * G <= cnt; c0 += 16 * G) {
        group(s, c0, in, width, vs, vsub, x);
        for (int g = 0; g < G; g++) acc = _mm512_add_ps(acc, x[g]);
    }
    for (; c0 < ld; c0 += 16 * G) {
        for (int g = 0; g < G; g++) {
            in[g] = first_lanes(cnt - c0 - 16 * g);
            width[g] = first_lanes(ld - c0 - 16 * g);
        }
        group(s, c0, in, width, vs, vsub, x);
        for (int g = 0; g < G; g++) acc = _mm512_add_ps(acc, x[g]);
    }
    return (v8f)_mm512_castps512_ps256(acc) + (v8f)_mm512_extractf32x8_ps(acc, 1);
}

void exp_rows(int m, int nk, float *s, int ld, int causal, int first, float scale,
              const float *sub, float *sum)
{
    const __m512 vs = _mm512_set1_ps(scale);
    for (int r0 = 0; r0 < m; r0 += RB) {
        const int nr = m - r0 < RB ? m - r0 : RB;
        v8f part[RB];
        for (int r = r0; r < r0 + nr; r++)
            part[r - r0] = one_row(s + (size_t)r * ld, row_cnt(r, nk, causal, first), ld, vs,
                                   _mm512_set1_ps(sub[r]));
        if (sum)
            for (int i = 0; i < nr; i++) sum[r0 + i] = hsum8(part[i]);
    }
}

void ds_rows(int m, int nk, const float *p, float *ds, int ld, int causal, int first,
             float scale, const float *D)
{
    const __m512 vs = _mm512_set1_ps(scale);
    for (int r = 0; r < m; r++) {
        const float *pr = p + (size_t)r * ld;
        float *dr = ds + (size_t)r * ld;
        const int cnt = row_cnt(r, nk, causal, first);
        const __m512 vD = _mm512_set1_ps(D[r]);
        for (int c = 0; c < ld; c += 16) {
            const __mmask16 in = first_lanes(cnt - c), width = first_lanes(ld - c);
            const __m512 x = _mm512_mul_ps(
                vs, _mm512_mul_ps(_mm512_maskz_loadu_ps(in, pr + c),
                                  _mm512_sub_ps(_mm512_maskz_loadu_ps(in, dr + c), vD)));
            _mm512_mask_storeu_ps(dr + c, width, _mm512_maskz_mov_ps(in, x));
        }
    }
}

#else
void max_rows(int m, int nk, const float *s, int ld, int causal, int first, float *mx)
{
    for (int r = 0; r < m; r++)
        mx[r] = row_max(s + (size_t)r * ld, row_cnt(r, nk, causal, first));
}

void ds_rows(int m, int nk, const float *p, float *ds, int ld, int causal, int first,
             float scale, const float *D)
{
    const v8f vs = bc8(scale);
    for (int r = 0; r < m; r++) {
        const float *pr = p + (size_t)r * ld;
        float *dr = ds + (size_t)r * ld;
        const int cnt = row_cnt(r, nk, causal, first);
        const v8f vD = bc8(D[r]);
        int c = 0;
        for (; c + 8 <= cnt; c += 8) st8(dr + c, vs * (ld8(pr + c) * (ld8(dr + c) - vD)));
        if (c < cnt) {
            st8(dr + c, keep(lanes_below(cnt, c), vs * (ld8(pr + c) * (ld8(dr + c) - vD))));
            c += 8;
        }
        for (; c < ld; c += 8) st8(dr + c, bc8(0.0f));
    }
}

/* The weights of one 8-float block starting at c, 0 in lanes at or past cnt. */
INLINE v8f block(const float *s, int c, int cnt, v8f vs, v8f vsub)
{
    const v8f p = vexp(vs * ld8(s + c) - vsub);
    return c + 8 <= cnt ? p : keep(lanes_below(cnt, c), p);
}

static void one_row(float *s, int cnt, int ld, v8f vs, v8f vsub, float *sum)
{
    v8f even = bc8(0.0f), odd = bc8(0.0f);
    int c = 0;
    for (; c < cnt; c += 16) {
        const v8f p = block(s, c, cnt, vs, vsub);
        st8(s + c, p);
        even += p;
        if (c + 8 < cnt) {
            const v8f q = block(s, c + 8, cnt, vs, vsub);
            st8(s + c + 8, q);
            odd += q;
        } else if (c + 8 < ld) {
            st8(s + c + 8, bc8(0.0f));
        }
    }
    for (; c < ld; c += 8) st8(s + c, bc8(0.0f));
    if (sum) *sum = hsum8(even + odd);
}

void exp_rows(int m, int nk, float *s, int ld, int causal, int first, float scale,
              const float *sub, float *sum)
{
    const v8f vs = bc8(scale);
    for (int r = 0; r < m; r++)
        one_row(s + (size_t)r * ld, row_cnt(r, nk, causal, first), ld, vs, bc8(sub[r]),
                sum ? sum + r : NULL);
}
#endif
