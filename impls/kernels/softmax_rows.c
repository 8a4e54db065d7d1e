/* softmax_rows.c: softmax_rows.h's row operations, one kernel path's copy (built per path of
 * the Makefile's ISAS, as regtile.c is; its table holds this copy).
 *
 * On avx512 the weights are 16 lanes wide and 2^n is applied by vscalefps: one rounding
 * of p 2^n, into the subnormal range when e^x lies there, which is what vexp.h's two
 * exponent-built factors give (the first product is exact, the second rounds once); n
 * comes from vrndscaleps, the integer vexp's shifter gives, and the clamp's underflow
 * needs no mask (vexp16 below); the polynomial is vexp's, operation for operation. So
 * each weight has vexp's bits, and the sums have softmax_rows.h's order on both paths
 * (tests/test_regtile_widths.c checks both).
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

/* vexp (vexp.h) on G vectors of 16 lanes, vexp's value in every lane, by fewer
 * operations (the vector pipes, not latency, bound a tile's weights):
 * - n = round(x log2 e) by vrndscaleps (to nearest, ties to even), the integer vexp's
 *   shifter gives;
 * - 2^n by vscalefps: the single correctly rounded product the two factors give;
 * - no mask for x below the clamp: clamped to -104, n = -150, r = -0.0279 and p 2^n =
 *   0.9725 2^-150, below half the least subnormal, so the product rounds to the +0
 *   vexp's mask gives (and a NaN x is not below it).
 * Step by step across the G vectors, so that each step's G operations are independent:
 * one exp is a chain of some twenty dependent operations, and written one vector after
 * another the chains filled the scheduler with operations waiting on their
 * predecessors. */
INLINE void vexp16(__m512 x[G])
{
    const __m512 lo = _mm512_set1_ps(-104.0f), hi = _mm512_set1_ps(88.0f);
    static const float poly[] = {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                 1.0f / 6.0f,   0.5f,          1.0f,
                                 1.0f};
    __m512 n[G], r[G], p[G];
    for (int g = 0; g < G; g++) x[g] = _mm512_min_ps(hi, _mm512_max_ps(lo, x[g]));
    for (int g = 0; g < G; g++)
        n[g] = _mm512_roundscale_ps(_mm512_mul_ps(x[g], _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    for (int g = 0; g < G; g++) r[g] = _mm512_fmadd_ps(n[g], _mm512_set1_ps(-0.693359375f), x[g]);
    for (int g = 0; g < G; g++) r[g] = _mm512_fmadd_ps(n[g], _mm512_set1_ps(2.12194440e-4f), r[g]);
    for (int g = 0; g < G; g++)
        p[g] = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 5040.0f), r[g], _mm512_set1_ps(poly[0]));
    for (int i = 1; i < 7; i++)
        for (int g = 0; g < G; g++) p[g] = _mm512_fmadd_ps(p[g], r[g], _mm512_set1_ps(poly[i]));
    for (int g = 0; g < G; g++) x[g] = _mm512_scalef_ps(p[g], n[g]);
}

/* Lanes i < k of 16 (k clamped to 0 .. 16). */
INLINE __mmask16 first_lanes(int k)
{
    return k >= 16 ? (__mmask16)0xFFFF : k <= 0 ? (__mmask16)0 : (__mmask16)((1u << k) - 1);
}

/* Lane r of the result: the max of v[r]'s 16 lanes, for the 16 vectors v (NaN-free).
 * Transposed: each of four steps pairs the vectors, halving the lanes each row keeps and
 * doubling the rows a vector holds, 30 two-source permutes and 15 maxes for 16 rows where
 * a reduction per row takes 8 dependent operations. max(hi, lo) keeps lo, the lower
 * lanes, on a tie of +0 and -0. */
INLINE __m512 max_lanes16(__m512 v[16])
{
    /* Step k: a pair's output row j (j < 2^k from the first vector, then the second's)
     * takes lanes i of the 16 >> (k + 1) each row keeps from index (lo) and index +
     * 16 >> (k + 1) (hi) of its row's block; 16 and up index the second vector. */
    static const int idx[4][2][16] = {
        {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
         {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
        {{0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27},
         {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31}},
        {{0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29},
         {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31}},
        {{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30},
         {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}},
    };
    for (int k = 0, pairs = 8; k < 4; k++, pairs /= 2) {
        const __m512i lo = _mm512_loadu_si512(idx[k][0]), hi = _mm512_loadu_si512(idx[k][1]);
        for (int i = 0; i < pairs; i++)
            v[i] = _mm512_max_ps(_mm512_permutex2var_ps(v[2 * i], hi, v[2 * i + 1]),
                                 _mm512_permutex2var_ps(v[2 * i], lo, v[2 * i + 1]));
    }
    return v[0];
}

void max_rows(int m, int nk, const float *s, int ld, int causal, int first, float *mx)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int r0 = 0; r0 < m; r0 += 16) {
        __m512 v[16];
        for (int i = 0; i < 16; i++) {
            const int r = r0 + i;
            const float *row = s + (size_t)(r < m ? r : 0) * ld; /* rows past m: none read */
            const int cnt = r < m ? row_cnt(r, nk, causal, first) : 0;
            /* max(x, acc) returns acc for a NaN x; two chains, then joined (NaN-free) */
            __m512 a = ninf, b = ninf;
            int c = 0;
            for (; c + 32 <= cnt; c += 32) {
                a = _mm512_max_ps(_mm512_loadu_ps(row + c), a);
                b = _mm512_max_ps(_mm512_loadu_ps(row + c + 16), b);
            }
            for (; c < cnt; c += 16)
                a = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, first_lanes(cnt - c), row + c), a);
            v[i] = _mm512_max_ps(b, a);
        }
        /* + 0 makes a max of -0 the +0 every path gives (vscore.h's row_max) */
        _mm512_mask_storeu_ps(mx + r0, first_lanes(m - r0),
                              _mm512_add_ps(max_lanes16(v), _mm512_setzero_ps()));
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

/* The same on G blocks every lane of which the row sees: no masks. */
INLINE void group_full(float *s, int c0, __m512 vs, __m512 vsub, __m512 x[G])
{
    for (int g = 0; g < G; g++)
        x[g] = _mm512_sub_ps(_mm512_mul_ps(vs, _mm512_loadu_ps(s + c0 + 16 * g)), vsub);
    vexp16(x);
    for (int g = 0; g < G; g++) _mm512_storeu_ps(s + c0 + 16 * g, x[g]);
}

/* Row s's weights (softmax_rows.h); returns its two partial sums added, even + odd. Whole
 * groups first, with every lane in; then the row's ragged end under masks. Lanes past
 * cnt add +0: a sum of weights (>= 0 or NaN) is unchanged by it. */
INLINE v8f one_row(float *s, int cnt, int ld, __m512 vs, __m512 vsub)
{
    __m512 acc = _mm512_setzero_ps(), x[G];
    __mmask16 in[G], width[G];
    int c0 = 0;
    for (; c0 + 16 * G <= cnt; c0 += 16 * G) {
        group_full(s, c0, vs, vsub, x);
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
