/* shared_sweep.c: the O(N^2 d) row sweeps of shared_sweep.h. Non-finite inputs give the
 * reference's pattern by the rules of flash.h: an all -inf state stays empty, a -inf
 * score has weight 0 that still multiplies its rows, and a +inf score gives exp(inf -
 * inf) = NaN as the reference's does. */
#include "shared_sweep.h"

#include <math.h>
#include <string.h>

#include "regtile.h"
#include "vexp.h"
#include "vrow.h"

/* Packed row of (prefix t + 1, row i), both 0-based: ca_prefix_offset(t + 1) + i. */
static inline size_t shared_row(int t, int i) { return (size_t)(t + 1) * t / 2 + (size_t)i; }

/* What exp(x - m) subtracts: m, or 0 while every score is -inf (then exp(-inf) = 0
 * rather than exp(-inf + inf)). */
static inline float shift_of(float m) { return m == -INFINITY ? 0.0f : m; }

size_t sweep_scratch_floats(int n, int d)
{
    size_t np = regt_tiles((size_t)n) * REGT_B;
    /* S block, R rows, H, L, w, and one d-vector. */
    return SWEEP_RB * np + (size_t)n * d + 3 * np + (size_t)d + 64;
}

/* S for rows i0..i0+nb-1 against every key, scaled. S: [nb][tiles*B] (row stride np) */
static void shared_scores(int d, int n, int i0, int nb, const float *q, const float *kt,
                          float *S, size_t np)
{
    for (int k0 = 0; k0 < n; k0 += REGT_B)
        regt_scores(nb, REGT_B, d, q + (size_t)i0 * d, kt, k0, S + k0, (ptrdiff_t)np);
    const v8f vs = bc8(1.0f / sqrtf((float)d));
    for (int b = 0; b < nb; b++)
        for (size_t j = 0; j < np; j += 8) st8(S + b * np + j, vs * ld8(S + b * np + j));
}

void sweep_fwd_rows(int d, int n, int i0, int nb, const float *q, const float *kt,
                    const float *v, float *o, float *lse, float *scratch)
{
    const size_t np = regt_tiles((size_t)n) * REGT_B;
    float *S = scratch, *acc = scratch + SWEEP_RB * np;
    shared_scores(d, n, i0, nb, q, kt, S, np);
    for (int b = 0; b < nb; b++) {
        const int i = i0 + b;
        const float *sr = S + (size_t)b * np;
        /* Keys before i produce no output: one two-pass softmax over them. */
        float m = -INFINITY, l = 0.0f;
        for (int j = 0; j < i; j++) m = sr[j] > m ? sr[j] : m;
        memset(acc, 0, (size_t)d * sizeof *acc);
        for (int j = 0; j < i; j++) {
            float p = expf(sr[j] - shift_of(m));
            l += p;
            vrow_axpy(d, p, v + (size_t)j * d, acc);
        }
        /* From key i on, each absorbed key t closes row (t, i): the running max keeps
         * every state normalised to its own prefix, so no intermediate l underflows. */
        for (int t = i; t < n; t++) {
            const float x = sr[t];
            if (x > m) {
                float alpha = expf(m - x);
                vrow_scal(d, alpha, acc);
                l *= alpha;
                m = x;
            }
            const float p = expf(x - shift_of(m));
            l += p;
            vrow_axpy(d, p, v + (size_t)t * d, acc);
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

void sweep_bwd_rows(int d, int n, int i0, int nb, const float *q, const float *k,
                    const float *kt, const float *v, const float *o, const float *lse,
                    const float *dout, float *dq, float *dk, float *dv, float *scratch)
{
    const size_t np = regt_tiles((size_t)n) * REGT_B;
    const float scale = 1.0f / sqrtf((float)d);
    float *S = scratch, *R = S + SWEEP_RB * np, *H = R + (size_t)n * d, *L = H + np,
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
                H[t] = f * (H[t + 1] + vrow_dot_diff(d, Rn, on, ot));
                v8f vf = bc8(f);
                int c = 0;
                for (; c + 8 <= d; c += 8) st8(Rt + c, fma8(vf, ld8(Rn + c), ld8(go + c)));
                for (; c < d; c++) Rt[c] = go[c] + f * Rn[c];
            }
        }
        /* H[t] held C(t) until here. */
        for (int t = n - 1; t >= i; t--) {
            const size_t row = shared_row(t, i);
            H[t] += vrow_dot(d, R + (size_t)t * d, o + row * d);
        }
        /* w_j = exp(S_ij - L(tau)), tau = max(i, j). */
        for (int j = 0; j < n; j++) w[j] = sr[j] - L[j > i ? j : i];
        for (int j = n; j < (int)np; j++) w[j] = -INFINITY;
        for (int j = 0; j < (int)np; j += 8) st8(w + j, vexp(ld8(w + j)));
        memset(dqi, 0, (size_t)d * sizeof *dqi);
        /* A weight of 0 still multiplies its rows: 0 * inf must come out NaN here as in
         * the reference. */
        for (int j = 0; j < n; j++) {
            const int tau = j > i ? j : i;
            const float *Rt = R + (size_t)tau * d, *vj = v + (size_t)j * d;
            const float wj = w[j];
            const float ds = scale * wj * (vrow_dot(d, Rt, vj) - H[tau]);
            vrow_axpy(d, wj, Rt, dv + (size_t)j * d);
            vrow_axpy(d, ds, qi, dk + (size_t)j * d);
            vrow_axpy(d, ds, k + (size_t)j * d, dqi);
        }
        memcpy(dq + (size_t)i * d, dqi, (size_t)d * sizeof *dqi);
    }
}
