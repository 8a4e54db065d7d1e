/* vexp.h: the suite's one 8-lane expf, and the few vector helpers it is built from,
 * for the compute code of impls/kernels/ (where AVX intrinsics are mixed in, __m256 and
 * v8f are both 32-byte float vectors and convert by a plain cast).
 *
 * Written in GCC vector types, not intrinsics, so that one source serves every build:
 * with the build's -march=x86-64-v3 it compiles to AVX2 + FMA (to the same 256-bit
 * operations under a kernel path's wider -march); without -mavx / -mfma the same code
 * compiles to SSE, and no scalar fallback has to be kept in step with it.
 */
#ifndef VEXP_H
#define VEXP_H

#if defined(__AVX__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* Without -mavx gcc warns that 32-byte vector arguments change the ABI. This applies to
 * the including file too, on purpose: every function there or here that takes a v8f is
 * static and always inlined, so no such argument ever crosses a call boundary. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
/* Unaligned, aliasing view for loads and stores of user buffers. */
typedef float v8f_u __attribute__((vector_size(32), aligned(4), may_alias));

#define V8_INLINE static inline __attribute__((always_inline))

V8_INLINE v8f ld8(const float *p) { return *(const v8f_u *)p; }
V8_INLINE void st8(float *p, v8f x) { *(v8f_u *)p = x; }
V8_INLINE v8f bc8(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

/* a b + c. ISO C mode turns -ffp-contract off, so the fused form only comes from the
 * intrinsic; without FMA hardware it is two roundings. */
V8_INLINE v8f fma8(v8f a, v8f b, v8f c)
{
#ifdef __FMA__
    return _mm256_fmadd_ps(a, b, c);
#else
    return a * b + c;
#endif
}

/* Halving order (lanes i and i+4, then i and i+2, then the last pair): the order the
 * extract / movehl / movehdup reduction gives, so it costs three adds on AVX. */
V8_INLINE float hsum8(v8f x)
{
    return ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7]));
}

/* exp(x), 8 lanes, as libm's expf gives it down into the subnormal range: a whole row
 * of softmax weights can be that small when every gradient is, at logits x1e4, and
 * flushing them to 0 would drop terms the float64 reference keeps.
 *
 * x = n ln2 + r, n = round(x log2 e), |r| <= ln2/2 (+ rounding of n's product):
 * - n by adding and subtracting 1.5 * 2^23: the sum lies in [2^23, 2^24), whose float
 *   spacing is 1, so the add rounds x log2 e to the nearest integer (ties to even, as
 *   _mm256_round_ps does) and its low mantissa bits are n itself (the int bits minus
 *   0x4B400000, the bits of the shifter), with no float-to-int conversion.
 * - r = x - n ln2 with ln2 split in two (Cody-Waite): 0.693359375 has 9 significant
 *   bits, so n C1 (|n| <= 150, 8 bits) is exact and x - n C1 loses nothing; the
 *   remainder C2 = ln2 - C1 = -2.12194440e-4 carries the rest.
 * - e^r by its Taylor series to degree 7 in Horner form: the truncation r^8/8! <=
 *   (ln2/2)^8/8! = 5e-9 relative is below half an ulp (6e-8).
 * - 2^n as two exponent-built factors 2^(n>>1) 2^(n-(n>>1)), each a normal float for
 *   every n in [-150, 127]: p 2^(n>>1) is exact, and the second product rounds once,
 *   into the subnormal range when that is where e^x lies. One factor 2^n would need an
 *   exponent field below 1 for n < -126.
 * Clamp: below -104, e^x < 2^-150 rounds to 0 (so does -inf, a masked score); above
 * 88, 2^n would reach 2^128 (e^88 = 1.65e38 is the largest the clamp lets through;
 * softmax arguments are <= 0, so this only keeps garbage in from becoming inf/NaN).
 * NaN propagates.
 * Measured against glibc expf over every float in [-104, 88] (exhaustive): at most
 * 1 ulp with FMA (the x86-64-v3 build) and without (an SSE-only build), also
 * against the correctly rounded e^x; glibc expf itself is 1 ulp off it in 170589 cases. */
V8_INLINE v8f vexp(v8f x)
{
    const v8f lo = bc8(-104.0f), hi = bc8(88.0f), shifter = bc8(12582912.0f);
    const v8i under = x < lo;
#ifdef __AVX__
    /* One instruction each where the generic selects take four; operands in this order
     * return x when it is NaN, as the selects do. */
    x = (v8f)_mm256_min_ps((__m256)hi, _mm256_max_ps((__m256)lo, (__m256)x));
#else
    const v8i over = x > hi;
    x = (v8f)((under & (v8i)lo) | (over & (v8i)hi) | (~(under | over) & (v8i)x));
#endif
    const v8f t = x * bc8(1.44269504088896341f) + shifter;
    const v8f n = t - shifter;
    v8f r = fma8(n, bc8(-0.693359375f), x);
    r = fma8(n, bc8(2.12194440e-4f), r);
    v8f p = bc8(1.0f / 5040.0f);
    p = fma8(p, r, bc8(1.0f / 720.0f));
    p = fma8(p, r, bc8(1.0f / 120.0f));
    p = fma8(p, r, bc8(1.0f / 24.0f));
    p = fma8(p, r, bc8(1.0f / 6.0f));
    p = fma8(p, r, bc8(0.5f));
    p = fma8(p, r, bc8(1.0f));
    p = fma8(p, r, bc8(1.0f));
    const v8i ni = (v8i)t - 0x4B400000;
    const v8i n1 = ni >> 1, n2 = ni - n1;
    const v8f e1 = (v8f)((n1 + 127) << 23), e2 = (v8f)((n2 + 127) << 23);
    return (v8f)((v8i)((p * e1) * e2) & ~under);
}

#endif
