/* vscore.h: 8-lane helpers on one row of scores, shared by the tile engine (flash.c)
 * and the unfused implementation (impls/unfused.c): lane masks for a row's ragged end,
 * the row max that skips NaN, a row's weights exp(scale s - sub), and a finiteness test. Static inline, as vexp.h's are, so that no vector
 * argument crosses a call boundary. */
#ifndef VSCORE_H
#define VSCORE_H

#include <math.h>
#include <stddef.h>

#include "vexp.h"

/* All-ones in the lanes c0 + i < cnt. */
V8_INLINE v8i lanes_below(int cnt, int c0)
{
    const v8i idx = {0, 1, 2, 3, 4, 5, 6, 7};
    const int b = cnt - c0;
    return idx < (v8i){b, b, b, b, b, b, b, b};
}

V8_INLINE v8f keep(v8i mask, v8f x) { return (v8f)(mask & (v8i)x); }

/* max(acc, x) that never takes a NaN x: a NaN score must not become the row's max (the
 * reference's max skips it too; its exp then makes the row NaN). */
V8_INLINE v8f max_num(v8f acc, v8f x)
{
#ifdef __AVX__
    return (v8f)_mm256_max_ps((__m256)x, (__m256)acc); /* a NaN operand returns acc */
#else
    v8i gt = x > acc;
    return (v8f)((gt & (v8i)x) | (~gt & (v8i)acc));
#endif
}

/* max over s[0 .. cnt) skipping NaN; -inf when cnt = 0 or all are -inf or NaN; +0 when it
 * is a zero of either sign (which zero a reduction keeps depends on its order). */
static inline float row_max(const float *s, int cnt)
{
    v8f mx = bc8(-INFINITY);
    int c = 0;
    for (; c + 8 <= cnt; c += 8) mx = max_num(mx, ld8(s + c));
    if (c < cnt) {
        v8i in = lanes_below(cnt, c);
        mx = max_num(mx, (v8f)((in & (v8i)ld8(s + c)) | (~in & (v8i)bc8(-INFINITY))));
    }
#ifdef __AVX__
    const __m256 x = (__m256)mx;
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h))) + 0.0f;
#else
    float m = mx[0];
    for (int i = 1; i < 8; i++) m = mx[i] > m ? mx[i] : m;
    return m + 0.0f;
#endif
}

/* s[c] = exp(scale s[c] - sub) for c < cnt and 0 up to nk rounded up to 8; returns the
 * sum. The scale is applied here, rounded on its own as the naive code's scale * dot is,
 * rather than folded into a product (one rounding per term there). */
static inline float row_exp(float *s, int cnt, int nk, float scale, float sub)
{
    const v8f vs = bc8(scale), vsub = bc8(sub);
    v8f sum = bc8(0.0f);
    int c = 0;
    for (; c + 8 <= cnt; c += 8) {
        v8f p = vexp(vs * ld8(s + c) - vsub);
        st8(s + c, p);
        sum += p;
    }
    if (c < cnt) {
        v8f p = keep(lanes_below(cnt, c), vexp(vs * ld8(s + c) - vsub));
        st8(s + c, p);
        sum += p;
        c += 8;
    }
    for (; c < nk; c += 8) st8(s + c, bc8(0.0f));
    return hsum8(sum);
}

/* Is every one of n floats finite? (x * 0 is 0 for finite x, NaN otherwise.) */
static inline int all_finite(const float *x, size_t n)
{
    v8f z = bc8(0.0f);
    size_t c = 0;
    for (; c + 8 <= n; c += 8) z += ld8(x + c) * bc8(0.0f);
    float t = hsum8(z);
    for (; c < n; c++) t += x[c] * 0.0f;
    return t == 0.0f;
}

#endif
