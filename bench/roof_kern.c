/* roof_kern.c: the register-only kernels of roof.c's FMA peak and micro-kernel ceilings,
 * built once per kernel path of the Makefile's ISAS (impls/kernels/isa.h), so that a run
 * measures the ceilings of the vector unit its kernels use: roof.c times the copy of the
 * path the library chose (an AVX2 peak next to 16-lane kernels would overstate their
 * fraction of it twofold). */
#include "roof_kern.h"

#include <stdlib.h>

#include "isa.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* ---- the vector unit of this path --------------------------------------------------- */
#if defined(__AVX512F__)
typedef __m512 vf;
#define VW 16
#define VISA "AVX-512"
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vset1(x) _mm512_set1_ps(x)
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, x) _mm512_storeu_ps(p, x)
#define vadd(a, b) _mm512_add_ps(a, b)
#define FLOPS_PER_FMA 2
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vf;
#define VW 8
#define VISA "AVX2+FMA"
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vset1(x) _mm256_set1_ps(x)
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, x) _mm256_storeu_ps(p, x)
#define vadd(a, b) _mm256_add_ps(a, b)
#define FLOPS_PER_FMA 2
#else
/* No FMA targeted: a multiply and an add per "FMA" (ISO C mode keeps them unfused). */
typedef float vf;
#define VW 1
#define VISA "scalar (no FMA targeted)"
#define vfma(a, b, c) ((a) * (b) + (c))
#define vset1(x) (x)
#define vload(p) (*(p))
#define vstore(p, x) (*(p) = (x))
#define vadd(a, b) ((a) + (b))
#define FLOPS_PER_FMA 2
#endif

/* ---- FMA peak ----------------------------------------------------------------------- */
/* CHAINS independent accumulators: FMA latency (4 cycles) x 2 FMA ports needs 8 in flight;
 * 12 leaves slack and still fits in registers for AVX2 (16) and AVX-512 (32). */
enum { CHAINS = 12 };

static float peak_kernel(long iters, float seed)
{
    vf acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = vset1(seed + 0.001f * (float)c);
    const vf m = vset1(0.999999f), a = vset1(1e-7f);
    for (long i = 0; i < iters; i++) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 12
#endif
        for (int c = 0; c < CHAINS; c++) acc[c] = vfma(acc[c], m, a);
    }
    for (int c = 1; c < CHAINS; c++) acc[0] = vadd(acc[0], acc[c]);
    float out[VW];
    vstore(out, acc[0]);
    float s = 0;
    for (int j = 0; j < VW; j++) s += out[j];
    return s;
}

/* ---- micro-kernel ------------------------------------------------------------------- */
/* MR x (NV vectors) tile of C in registers; A packed MR-wide, B packed NV*VW-wide, KC deep:
 * A + B = 4 KC (MR + NV VW) bytes, L1-resident (22 KB for AVX-512 at KC = 128). */
#if VW == 16
enum { MR = 12, NV = 2 };
#elif VW == 8
enum { MR = 6, NV = 2 };
#else
enum { MR = 4, NV = 4 };
#endif
enum { NR = NV * VW, KC = 128 };

/* One call: C[MR][NR] += A[MR x KC] B[KC x NR], C kept in registers over the k loop. */
static void ukr(const float *restrict a, const float *restrict b, float *restrict c)
{
    vf acc[MR][NV];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) acc[i][j] = vload(c + i * NR + j * VW);
    for (int k = 0; k < KC; k++) {
        vf bv[NV];
        for (int j = 0; j < NV; j++) bv[j] = vload(b + k * NR + j * VW);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
        for (int i = 0; i < MR; i++) {
            const vf av = vset1(a[k * MR + i]);
            for (int j = 0; j < NV; j++) acc[i][j] = vfma(av, bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) vstore(c + i * NR + j * VW, acc[i][j]);
}

static float ukr_iter(long iters, float seed)
{
    /* per thread: its own panels, 64-byte aligned */
    float *a = aligned_alloc(64, sizeof(float) * MR * KC);
    float *b = aligned_alloc(64, sizeof(float) * KC * NR);
    float *c = aligned_alloc(64, sizeof(float) * ((MR * NR + 15) / 16 * 16));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return 0;
    }
    for (int i = 0; i < MR * KC; i++) a[i] = 1e-4f * (float)(i % 97) * seed;
    for (int i = 0; i < KC * NR; i++) b[i] = 1e-4f * (float)(i % 89);
    for (int i = 0; i < MR * NR; i++) c[i] = 0;
    for (long r = 0; r < iters; r++) ukr(a, b, c);
    float s = 0;
    for (int i = 0; i < MR * NR; i++) s += c[i];
    free(a);
    free(b);
    free(c);
    return s;
}

const roof_kern ISA_NAME(roof_kern) = {
    .isa = VISA, .vw = VW, .flops_per_fma = FLOPS_PER_FMA, .chains = CHAINS,
    .mr = MR, .nr = NR, .kc = KC, .peak = peak_kernel, .ukr = ukr_iter,
};
