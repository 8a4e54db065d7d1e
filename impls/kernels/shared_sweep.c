/* shared_sweep.c: the O(N^2 d) row sweeps of shared_sweep.h. Non-finite inputs give the
 * reference's pattern by the rules of flash.h: an all -inf state stays empty, a -inf
 * score has weight 0 that still multiplies its rows, and a +inf score gives exp(inf -
 * inf) = NaN as the reference's does. */
#include "shared_sweep.h"

#include <math.h>
#include <string.h>

#include "cubattn.h"
#include "instance.h"
#include "vexp.h"
#include "vrow.h"

/* Packed row of (prefix t + 1, row i), both 0-based, in the head's outputs: instance.h's
 * cubic_shared instance t + 1 of sh's window, row i. */
static inline size_t shared_row(ca_shape sh, int t, int i)
{
    return inst_packed_offset(sh, t + 1) + (size_t)i;
}

/* What exp(x - m) subtracts: m, or 0 while every score is -inf (then exp(-inf) = 0
 * rather than exp(-inf + inf)). */
static inline float shift_of(float m) { return m == -INFINITY ? 0.0f : m; }

/* Row stride of the score block: whole vectors. */
static size_t stride_of(int n) { return round_up_to((size_t)n, ROW_VEC); }

size_t sweep_scratch_floats(int n, int d)
{
    size_t np = stride_of(n);
    /* S block; the forward's acc rows [SWEEP_RB][d] or the backward's R rows [n][d];
     * H, L, w. */
    size_t f = SWEEP_RB * np + (size_t)(n > SWEEP_RB ? n : SWEEP_RB) * d + 3 * np;
    return round_up_to(f, LINE_FLOATS);
}

/* S for rows i0..i0+nb-1 against every key, scaled, key tile by key tile of the
 * backend's grid. S: [nb][np] */
static void shared_scores(const flash_ops *ops, int d, int n, int i0, int nb,
                          const float *q, const float *k, const float *kp, float *S,
                          size_t np)
{
    for (int k0 = 0; k0 < n; k0 += ops->bk) {
        const int nk = n - k0 < ops->bk ? n - k0 : ops->bk;
        ops->score(ops, nb, nk, d, q + (size_t)i0 * d, k, kp, k0, S + k0, (int)np);
    }
    const v8f vs = bc8(1.0f / sqrtf((float)d));
    for (int b = 0; b < nb; b++)
        for (size_t j = 0; j < np; j += 8) st8(S + b * np + j, vs * ld8(S + b * np + j));
}

void sweep_fwd_rows(const flash_ops *ops, ca_shape sh, int i0, int nb, const float *q,
                    const float *k, const float *kp, const float *v, float *o, float *lse,
                    float *scratch)
{
    const int d = sh.d, n = sh.n, first_t = inst_first(sh) - 1; /* 0-based first prefix */
    const size_t np = stride_of(n);
    float *S = scratch, *accs = scratch + SWEEP_RB * np;
    float mb[SWEEP_RB], lb[SWEEP_RB];
    shared_scores(ops, d, n, i0, nb, q, k, kp, S, np);
    /* Keys before i produce no output: one two-pass softmax over them. Those before i0,
     * which every row of the block sees, are one product P V (P in place of S). */
    for (int b = 0; b < nb; b++) {
        const int i = i0 + b;
        float *sr = S + (size_t)b * np;
        float m = -INFINITY, l = 0.0f;
        for (int j = 0; j < i; j++) m = sr[j] > m ? sr[j] : m;
        for (int j = 0; j < i0; j++) {
            sr[j] = expf(sr[j] - shift_of(m));
            l += sr[j];
        }
        mb[b] = m;
        lb[b] = l;
    }
    if (i0 > 0) ops->prod(ops, 0, 0, nb, d, i0, S, (int)np, v, d, accs, d);
    else memset(accs, 0, (size_t)nb * d * sizeof *accs);
    for (int b = 0; b < nb; b++) {
        const int i = i0 + b;
        const float *sr = S + (size_t)b * np;
        float *acc = accs + (size_t)b * d;
        float m = mb[b], l = lb[b];
        for (int j = i0; j < i; j++) {
            float p = expf(sr[j] - shift_of(m));
            l += p;
            vrow_axpy(d, p, v + (size_t)j * d, acc);
        }
        /* From key i on, each absorbed key t closes row (t, i): the running max keeps
         * every state normalised to its own prefix, so no intermediate l underflows.
         * Prefixes before the window are swept as well but not written: the state after
         * key t is the same whichever prefixes are written, so a window's rows are
         * bit-identical to the whole call's. */
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
            if (t < first_t) continue;
            const size_t row = shared_row(sh, t, i);
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

/* The backward of a window a..N (0-based first prefix a-1). Row i's prefixes in the
 * window are u >= lo = max(i, a-1); key j is seen by those with u >= tau = max(lo, j).
 * Its weight in prefix u is exp(S_ij - L(u)), so the window's part of dS_ij, dv_j is
 *   sum_{u>=tau} exp(S_ij - L(u)) (dO(u).v_j - D(u))
 *   = exp(S_ij - L(tau)) (R(tau).v_j - H(tau)),
 * with R(tau) = sum_{u>=tau} exp(L(tau) - L(u)) dO(u) and H(tau) likewise of D(u): the
 * suffix sums from t = N-1 down to lo alone, rescaled to the lse of a prefix inside the
 * window, so no lse outside it is needed. a = 1 is the whole operator (lo = i). */
void sweep_bwd_rows(const flash_ops *ops, ca_shape sh, int i0, int nb, const float *q,
                    const float *k, const float *kp, const float *v, const float *o,
                    const float *lse, const float *dout, float *dq, float *dk, float *dv,
                    float *scratch)
{
    const int d = sh.d, n = sh.n, first_t = inst_first(sh) - 1;
    const size_t np = stride_of(n);
    const float scale = 1.0f / sqrtf((float)d);
    const int rows = n > SWEEP_RB ? n : SWEEP_RB;
    float *S = scratch, *R = S + SWEEP_RB * np, *H = R + (size_t)rows * d, *L = H + np,
          *w = L + np;
    shared_scores(ops, d, n, i0, nb, q, k, kp, S, np);
    for (int b = 0; b < nb; b++) {
        const int i = i0 + b;
        float *sr = S + (size_t)b * np;
        const int lo = i > first_t ? i : first_t;
        /* Suffix sums over prefixes t >= lo, each scaled to lse L(t) so that every factor
         * f = exp(L(t) - L(t+1)) <= 1 and nothing overflows. R: [n][d] rows lo..n-1.
         * H(t) = sum_u c_u dO(u).o(u) is kept as R(t).o(t) + C(t), with
         * C(t) = f (C(t+1) + R(t+1).(o(t+1) - o(t))): equal in exact arithmetic, but when
         * the softmax is one-hot (o(t) bit-equal to v_j) C is exactly 0 and R.v_j - H is
         * then exactly 0, as in the per-prefix naive code, instead of rounding noise
         * against an exact gradient of ~0. */
        for (int t = n - 1; t >= lo; t--) {
            const size_t row = shared_row(sh, t, i);
            const float *go = dout + row * d, *ot = o + row * d;
            float *Rt = R + (size_t)t * d;
            L[t] = lse[row];
            if (t == n - 1) {
                memcpy(Rt, go, (size_t)d * sizeof *Rt);
                H[t] = 0.0f;
            } else {
                const float f = expf(L[t] - L[t + 1]);
                const float *Rn = Rt + d, *on = o + shared_row(sh, t + 1, i) * d;
                H[t] = f * (H[t + 1] + vrow_dot_diff(d, Rn, on, ot));
                v8f vf = bc8(f);
                int c = 0;
                for (; c + 8 <= d; c += 8) st8(Rt + c, fma8(vf, ld8(Rn + c), ld8(go + c)));
                for (; c < d; c++) Rt[c] = go[c] + f * Rn[c];
            }
        }
        /* H[t] held C(t) until here. */
        for (int t = n - 1; t >= lo; t--) {
            const size_t row = shared_row(sh, t, i);
            H[t] += vrow_dot(d, R + (size_t)t * d, o + row * d);
        }
        /* w_j = exp(S_ij - L(tau)), tau = max(lo, j) = max(i, j, a-1). */
        for (int j = 0; j < n; j++) w[j] = sr[j] - L[j > lo ? j : lo];
        for (int j = n; j < (int)np; j++) w[j] = -INFINITY;
        for (int j = 0; j < (int)np; j += 8) st8(w + j, vexp(ld8(w + j)));
        /* dS_ij replaces S_ij, read for the last time above. A weight of 0 still
         * multiplies its rows: 0 * inf must come out NaN here (and in the products
         * below, which take every key) as in the reference. */
        for (int j = 0; j < n; j++) {
            const int tau = j > lo ? j : lo;
            const float *Rt = R + (size_t)tau * d, *vj = v + (size_t)j * d;
            const float wj = w[j];
            sr[j] = scale * wj * (vrow_dot(d, Rt, vj) - H[tau]);
            vrow_axpy(d, wj, Rt, dv + (size_t)j * d);
        }
    }
    /* dQ_block = dS K: [nb][d], k = n; dK += dS^T Q_block: [n][d], k = nb. Each entry
     * sums over keys (dq), or over the block's rows in order (dk), as the per-key
     * updates did. */
    ops->prod(ops, 0, 0, nb, d, n, S, (int)np, k, d, dq + (size_t)i0 * d, d);
    ops->prod(ops, 1, 1, n, d, nb, S, (int)np, q + (size_t)i0 * d, d, dk, d);
}
