/* flash.c: the tile kernels of flash.h (FlashAttention-style forward and backward,
 * and the O(N^2 d) row sweeps of cubic_shared).
 *
 * Vectorisation: explicit 8-lane GCC vector types rather than hoping the auto-vectoriser
 * finds the reductions (it cannot reassociate float sums under -std=c11 without
 * -ffast-math). Built with -march=native on this machine they compile to AVX2 + FMA
 * (FMA through the intrinsic, since ISO C mode turns -ffp-contract off); on a machine
 * without them the same source compiles to SSE or scalar code, so there is no separate
 * fallback to keep in step. The vector types, the load / store / fma helpers and the
 * exp live in vexp.h, shared with blas.c.
 */
#include "flash.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "vexp.h"

#define INLINE static inline __attribute__((always_inline))

INLINE v8f max8(v8f a, v8f b)
{
    v8i gt = a > b;
    return (v8f)((gt & (v8i)a) | (~gt & (v8i)b));
}
INLINE float hmax8(v8f x)
{
    float m = x[0];
    for (int i = 1; i < 8; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* a . b over d floats. a, b: [d] */
static float dotf(int d, const float *a, const float *b)
{
    v8f s0 = bc8(0.0f), s1 = bc8(0.0f);
    int c = 0;
    for (; c + 16 <= d; c += 16) {
        s0 = fma8(ld8(a + c), ld8(b + c), s0);
        s1 = fma8(ld8(a + c + 8), ld8(b + c + 8), s1);
    }
    if (c + 8 <= d) {
        s0 = fma8(ld8(a + c), ld8(b + c), s0);
        c += 8;
    }
    float s = hsum8(s0 + s1);
    for (; c < d; c++) s += a[c] * b[c];
    return s;
}

/* r . (a - b) over d floats. r, a, b: [d] */
static float dot_diff(int d, const float *r, const float *a, const float *b)
{
    v8f s0 = bc8(0.0f);
    int c = 0;
    for (; c + 8 <= d; c += 8) s0 = fma8(ld8(r + c), ld8(a + c) - ld8(b + c), s0);
    float s = hsum8(s0);
    for (; c < d; c++) s += r[c] * (a[c] - b[c]);
    return s;
}

/* y += a x. x, y: [d] */
static inline void axpy(int d, float a, const float *x, float *y)
{
    v8f va = bc8(a);
    int c = 0;
    for (; c + 8 <= d; c += 8) st8(y + c, fma8(va, ld8(x + c), ld8(y + c)));
    for (; c < d; c++) y[c] += a * x[c];
}

/* y *= a. y: [d] */
static inline void scal(int d, float a, float *y)
{
    v8f va = bc8(a);
    int c = 0;
    for (; c + 8 <= d; c += 8) st8(y + c, va * ld8(y + c));
    for (; c < d; c++) y[c] *= a;
}

/* ---- the matrix-product kernel -------------------------------------------------- */

/* C (+)= A B for an mr x (8 nv) block, mr <= 6, nv in {1, 2}; A read by broadcasts with
 * arbitrary strides (so A^T costs nothing), B rows contiguous (ldb), C in place.
 * A: element (i, p) at a[i*ars + p*acs]  B: [k][ldb]  C: [mr][ldc] */
INLINE void kern(int mr, int nv, int fused, int k, const float *a, ptrdiff_t ars,
                 ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                 int acc)
{
    v8f s[6][2];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            s[r][v] = acc ? ld8(c + r * ldc + 8 * v) : bc8(0.0f);
    for (int p = 0; p < k; p++) {
        v8f b0 = ld8(b + p * ldb), b1 = nv > 1 ? ld8(b + p * ldb + 8) : b0;
        const float *ap = a + p * acs;
        for (int r = 0; r < mr; r++) {
            v8f ar = bc8(ap[r * ars]);
            s[r][0] = fused ? fma8(ar, b0, s[r][0]) : s[r][0] + ar * b0;
            if (nv > 1) s[r][1] = fused ? fma8(ar, b1, s[r][1]) : s[r][1] + ar * b1;
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) st8(c + r * ldc + 8 * v, s[r][v]);
}

/* One column strip (8 nv wide) of C, all m rows, 6 at a time. */
INLINE void strip(int nv, int fused, int m, int k, const float *a, ptrdiff_t ars,
                  ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                  int acc)
{
    int i = 0;
    for (; i + 6 <= m; i += 6)
        kern(6, nv, fused, k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, acc);
    const float *ai = a + i * ars;
    float *ci = c + i * ldc;
    switch (m - i) {
    case 5: kern(5, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 4: kern(4, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 3: kern(3, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 2: kern(2, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 1: kern(1, nv, fused, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    default: break;
    }
}

/* C (+)= A B (acc = 1 adds, 0 overwrites). Column strips of 16 keep one k x 16 panel of
 * B in L1 while all rows of A stream past it; columns beyond the last multiple of 8
 * (only when n = d is not a multiple of 8) go scalar.
 * fused = 0 rounds each product before adding it, in the naive code's order (a sum from
 * p = 0 up): the scores S = q.k and dP = dO.v are then bit-equal to the baseline's, so
 * with logits x 1e4, where rounding of S alone decides the error, this code's error
 * tracks the baseline's instead of drawing its own. On Zen3 this costs no throughput:
 * multiplies and adds issue on separate pipe pairs (2 + 2 per cycle), matching 2 FMAs,
 * and the add's 3-cycle latency is shorter than the FMA's 4.
 * A: m x k via (ars, acs)  B: [k][ldb]  C: [m][ldc] */
static void gemm_x(int fused, int m, int n, int k, const float *a, ptrdiff_t ars,
                   ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                   int acc)
{
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        if (fused) strip(2, 1, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        else strip(2, 0, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
    }
    if (j + 8 <= n) {
        if (fused) strip(1, 1, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        else strip(1, 0, m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc);
        j += 8;
    }
    for (; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = acc ? c[i * ldc + j] : 0.0f;
            for (int p = 0; p < k; p++)
                s = fused ? fmaf(a[i * ars + p * acs], b[p * ldb + j], s)
                          : s + a[i * ars + p * acs] * b[p * ldb + j];
            c[i * ldc + j] = s;
        }
}

/* Products whose result is a dot product the naive code also forms (S, dP). */
static void gemm_dot(int m, int n, int k, const float *a, ptrdiff_t ars, ptrdiff_t acs,
                     const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc)
{
    gemm_x(0, m, n, k, a, ars, acs, b, ldb, c, ldc, 0);
}

/* The accumulating products (P V, P^T dO, dS^T Q, dS K): fused, fewer roundings. */
static void gemm(int m, int n, int k, const float *a, ptrdiff_t ars, ptrdiff_t acs,
                 const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, int acc)
{
    gemm_x(1, m, n, k, a, ars, acs, b, ldb, c, ldc, acc);
}

/* ---- packing and row terms ------------------------------------------------------ */

void flash_pack_t(int n, int d, float scale, const float *x, float *xt)
{
    for (int t0 = 0; t0 < n; t0 += FLASH_B) {
        float *dst = xt + (size_t)(t0 / FLASH_B) * d * FLASH_B;
        int rows = n - t0 < FLASH_B ? n - t0 : FLASH_B;
        if (rows < FLASH_B) memset(dst, 0, (size_t)d * FLASH_B * sizeof *dst);
        for (int j = 0; j < rows; j++) {
            const float *src = x + (size_t)(t0 + j) * d;
            for (int c = 0; c < d; c++) dst[(size_t)c * FLASH_B + j] = scale * src[c];
        }
    }
}

/* D_i in the exact order of the kernel's dP = dO V^T (products rounded, summed from
 * c = 0): when a softmax row is one-hot (logits x 1e4), o_i is bit-equal to v_j and
 * dP_ij - D_i must then be exactly 0, as it is in the naive code and the reference,
 * or dq/dk pick up rounding noise against an exact gradient of ~0. */
void flash_rowdot(int n, int d, const float *dout, const float *o, float *D)
{
    for (int i = 0; i < n; i++) {
        const float *a = dout + (size_t)i * d, *b = o + (size_t)i * d;
        float s = 0.0f;
        for (int c = 0; c < d; c++) s += a[c] * b[c];
        D[i] = s;
    }
}

/* out_j = q . k_j for nk keys, each a sum from c = 0 of rounded products (the naive
 * code's order), 8 keys to the lanes so the chains run side by side.
 * q: [d]  k: [nk][d]  out: [nk] */
static void dots_by_key(int d, int nk, const float *q, const float *k, float *out)
{
    int j = 0;
    for (; j + 8 <= nk; j += 8) {
        const float *kj = k + (size_t)j * d;
        v8f acc = bc8(0.0f);
        for (int c = 0; c < d; c++) {
            v8f kv = {kj[c], kj[d + c], kj[2 * d + c], kj[3 * d + c],
                      kj[4 * d + c], kj[5 * d + c], kj[6 * d + c], kj[7 * d + c]};
            acc = acc + bc8(q[c]) * kv;
        }
        st8(out + j, acc);
    }
    for (; j < nk; j++) {
        float acc = 0.0f;
        for (int c = 0; c < d; c++) acc += q[c] * k[(size_t)j * d + c];
        out[j] = acc;
    }
}

/* Keys of a tile that query row (global) qi sees: causal cuts at the diagonal. */
static inline int visible(int causal, int qi, int k0, int nk)
{
    if (!causal) return nk;
    int c = qi - k0 + 1;
    return c < 0 ? 0 : c > nk ? nk : c;
}

/* ---- forward -------------------------------------------------------------------- */

void flash_fwd_qblock(int d, int nq, int q0, int nkeys, int causal, const float *q,
                      const float *k, const float *kt, const float *v, float *o,
                      float *lse, float *scratch)
{
    const int B = FLASH_B;
    const float scale = 1.0f / sqrtf((float)d);
    float *S = scratch, *m = scratch + 2 * B * B, *l = m + B;
    const int kend = causal ? q0 + nq : nkeys;

    memset(o, 0, (size_t)nq * d * sizeof *o);
    for (int r = 0; r < nq; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
    for (int k0 = 0; k0 < kend; k0 += B) {
        const int nk = kend - k0 < B ? kend - k0 : B;
        if (kt)
            gemm_dot(nq, B, d, q, d, 1, kt + (size_t)(k0 / B) * d * B, B, S, B);
        else
            for (int r = 0; r < nq; r++)
                dots_by_key(d, nk, q + (size_t)r * d, k + (size_t)k0 * d, S + r * B);
        for (int r = 0; r < nq; r++) {
            float *sr = S + r * B;
            const int cnt = visible(causal, q0 + r, k0, nk);
            /* The scale after the dot, as the naive code applies it. */
            for (int j = 0; j < B; j += 8) st8(sr + j, bc8(scale) * ld8(sr + j));
            for (int j = cnt; j < B; j++) sr[j] = -INFINITY;
            v8f mx = ld8(sr);
            for (int j = 8; j < B; j += 8) mx = max8(mx, ld8(sr + j));
            const float tmax = hmax8(mx);
            if (cnt == 0 || tmax == -INFINITY) {
                memset(sr, 0, B * sizeof *sr);
                continue;
            }
            const float mnew = tmax > m[r] ? tmax : m[r];
            const float alpha = expf(m[r] - mnew);
            v8f sum = bc8(0.0f), vm = bc8(mnew);
            for (int j = 0; j < B; j += 8) {
                v8f p = vexp(ld8(sr + j) - vm);
                st8(sr + j, p);
                sum += p;
            }
            l[r] = l[r] * alpha + hsum8(sum);
            if (alpha != 1.0f) scal(d, alpha, o + (size_t)r * d);
            m[r] = mnew;
        }
        gemm(nq, d, nk, S, B, 1, v + (size_t)k0 * d, d, o, d, 1);
    }
    for (int r = 0; r < nq; r++) {
        float *orow = o + (size_t)r * d;
        const v8f vl = bc8(l[r]);
        int c = 0;
        for (; c + 8 <= d; c += 8) st8(orow + c, ld8(orow + c) / vl);
        for (; c < d; c++) orow[c] /= l[r];
        lse[r] = m[r] + logf(l[r]);
    }
}

/* ---- backward ------------------------------------------------------------------- */

void flash_bwd_kblock(int d, int n, int k0, int nk, int causal, const float *q,
                      const float *k, const float *kt, const float *v, const float *vt,
                      const float *dout, const float *lse, const float *D, float *dq,
                      float *dk, float *dv, float *scratch)
{
    (void)v;
    const int B = FLASH_B;
    const float scale = 1.0f / sqrtf((float)d);
    float *P = scratch, *dS = scratch + B * B;
    const float *ktt = kt + (size_t)(k0 / B) * d * B, *vtt = vt + (size_t)(k0 / B) * d * B;
    /* Causal: query tiles before the key tile see none of it. */
    const int qstart = causal ? k0 : 0;

    for (int q0 = qstart; q0 < n; q0 += B) {
        const int nq = n - q0 < B ? n - q0 : B;
        const float *qb = q + (size_t)q0 * d, *dob = dout + (size_t)q0 * d;
        gemm_dot(nq, B, d, qb, d, 1, ktt, B, P, B);
        gemm_dot(nq, B, d, dob, d, 1, vtt, B, dS, B);
        for (int r = 0; r < nq; r++) {
            float *pr = P + r * B, *dr = dS + r * B;
            const int cnt = visible(causal, q0 + r, k0, nk);
            const v8f L = bc8(lse[q0 + r]), Dr = bc8(D[q0 + r]), vs = bc8(scale);
            for (int j = 0; j < B; j += 8) {
                v8f p = vexp(vs * ld8(pr + j) - L);
                st8(pr + j, p);
                st8(dr + j, vs * (p * (ld8(dr + j) - Dr)));
            }
            for (int j = cnt; j < B; j++) pr[j] = dr[j] = 0.0f;
        }
        /* dV += P^T dO, dK += dS^T Q (dS already carries the scale), dQ += dS K. */
        gemm(nk, d, nq, P, 1, B, dob, d, dv + (size_t)k0 * d, d, 1);
        gemm(nk, d, nq, dS, 1, B, qb, d, dk + (size_t)k0 * d, d, 1);
        gemm(nq, d, nk, dS, B, 1, k + (size_t)k0 * d, d, dq + (size_t)q0 * d, d, 1);
    }
}

/* ---- cubic_shared --------------------------------------------------------------- */

/* Packed row of (prefix t + 1, row i), both 0-based: ca_prefix_offset(t + 1) + i. */
static inline size_t shared_row(int t, int i) { return (size_t)(t + 1) * t / 2 + (size_t)i; }

size_t flash_shared_scratch_floats(int n, int d)
{
    size_t np = flash_tiles((size_t)n) * FLASH_B;
    /* S block, R rows, H, L, w, and one d-vector. */
    return FLASH_SHARED_RB * np + (size_t)n * d + 3 * np + (size_t)d + 64;
}

/* S for rows i0..i0+nb-1 against every key. S: [nb][tiles*B] (row stride np) */
static void shared_scores(int d, int n, int i0, int nb, const float *q, const float *kt,
                          float *S, size_t np)
{
    for (int k0 = 0; k0 < n; k0 += FLASH_B)
        gemm_dot(nb, FLASH_B, d, q + (size_t)i0 * d, d, 1,
                 kt + (size_t)(k0 / FLASH_B) * d * FLASH_B, FLASH_B, S + k0, (ptrdiff_t)np);
    const v8f vs = bc8(1.0f / sqrtf((float)d));
    for (int b = 0; b < nb; b++)
        for (size_t j = 0; j < np; j += 8) st8(S + b * np + j, vs * ld8(S + b * np + j));
}

void flash_shared_fwd_rows(int d, int n, int i0, int nb, const float *q, const float *k,
                           const float *kt, const float *v, float *o, float *lse,
                           float *scratch)
{
    (void)k;
    const size_t np = flash_tiles((size_t)n) * FLASH_B;
    float *S = scratch, *acc = scratch + FLASH_SHARED_RB * np;
    shared_scores(d, n, i0, nb, q, kt, S, np);
    for (int b = 0; b < nb; b++) {
        const int i = i0 + b;
        const float *sr = S + (size_t)b * np;
        /* Keys before i produce no output: one two-pass softmax over them. */
        float m = -INFINITY, l = 0.0f;
        for (int j = 0; j < i; j++) m = sr[j] > m ? sr[j] : m;
        memset(acc, 0, (size_t)d * sizeof *acc);
        for (int j = 0; j < i; j++) {
            float p = expf(sr[j] - m);
            l += p;
            axpy(d, p, v + (size_t)j * d, acc);
        }
        /* From key i on, each absorbed key t closes row (t, i): the running max keeps
         * every state normalised to its own prefix, so no intermediate l underflows. */
        for (int t = i; t < n; t++) {
            float x = sr[t], p;
            if (x > m) {
                float alpha = expf(m - x);
                scal(d, alpha, acc);
                l *= alpha;
                m = x;
                p = 1.0f;
            } else {
                p = expf(x - m);
            }
            l += p;
            axpy(d, p, v + (size_t)t * d, acc);
            const size_t row = shared_row(t, i);
            float *out = o + row * d;
            const float inv = 1.0f / l;
            v8f vi = bc8(inv);
            int c = 0;
            for (; c + 8 <= d; c += 8) st8(out + c, vi * ld8(acc + c));
            for (; c < d; c++) out[c] = inv * acc[c];
            lse[row] = m + logf(l);
        }
    }
}

void flash_shared_bwd_rows(int d, int n, int i0, int nb, const float *q, const float *k,
                           const float *kt, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv, float *scratch)
{
    const size_t np = flash_tiles((size_t)n) * FLASH_B;
    const float scale = 1.0f / sqrtf((float)d);
    float *S = scratch, *R = S + FLASH_SHARED_RB * np, *H = R + (size_t)n * d, *L = H + np,
          *w = L + np, *dqi = w + np;
    shared_scores(d, n, i0, nb, q, kt, S, np);
    for (int b = 0; b < nb; b++) {
        const int i = i0 + b;
        const float *sr = S + (size_t)b * np, *qi = q + (size_t)i * d;
        /* Suffix sums over prefixes t >= i, each scaled to lse L(t) so that every factor
         * f = exp(L(t) - L(t+1)) <= 1 and nothing overflows. R: [n][d] rows i..n-1.
         * H(t) = sum_u c_u dO(u).o(u) is kept as R(t).o(t) + C(t), with
         * C(t) = f (C(t+1) + R(t+1).(o(t+1) - o(t))): equal in exact arithmetic, but when
         * the softmax is one-hot (o(t) bit-equal to v_j) C is exactly 0 and R.v_j - H is
         * then exactly 0, as in the per-prefix naive code, instead of rounding noise
         * against an exact gradient of ~0. */
        for (int t = n - 1; t >= i; t--) {
            const size_t row = shared_row(t, i);
            const float *go = dout + row * d, *ot = o + row * d;
            float *Rt = R + (size_t)t * d;
            L[t] = lse[row];
            if (t == n - 1) {
                memcpy(Rt, go, (size_t)d * sizeof *Rt);
                H[t] = 0.0f;
            } else {
                const float f = expf(L[t] - L[t + 1]);
                const float *Rn = Rt + d, *on = o + shared_row(t + 1, i) * d;
                H[t] = f * (H[t + 1] + dot_diff(d, Rn, on, ot));
                v8f vf = bc8(f);
                int c = 0;
                for (; c + 8 <= d; c += 8) st8(Rt + c, fma8(vf, ld8(Rn + c), ld8(go + c)));
                for (; c < d; c++) Rt[c] = go[c] + f * Rn[c];
            }
        }
        /* H[t] held C(t) until here. */
        for (int t = n - 1; t >= i; t--) {
            const size_t row = shared_row(t, i);
            H[t] += dotf(d, R + (size_t)t * d, o + row * d);
        }
        /* w_j = exp(S_ij - L(tau)), tau = max(i, j). */
        for (int j = 0; j < n; j++) w[j] = sr[j] - L[j > i ? j : i];
        for (int j = n; j < (int)np; j++) w[j] = -INFINITY;
        for (int j = 0; j < (int)np; j += 8) st8(w + j, vexp(ld8(w + j)));
        memset(dqi, 0, (size_t)d * sizeof *dqi);
        for (int j = 0; j < n; j++) {
            const int tau = j > i ? j : i;
            const float *Rt = R + (size_t)tau * d, *vj = v + (size_t)j * d;
            const float wj = w[j];
            if (wj == 0.0f) continue;
            const float ds = scale * wj * (dotf(d, Rt, vj) - H[tau]);
            axpy(d, wj, Rt, dv + (size_t)j * d);
            axpy(d, ds, qi, dk + (size_t)j * d);
            axpy(d, ds, k + (size_t)j * d, dqi);
        }
        memcpy(dq + (size_t)i * d, dqi, (size_t)d * sizeof *dqi);
    }
}
