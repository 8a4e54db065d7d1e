/* last_row.c: cubic_last's prefixes as one-row flash_seq instances (last_row.h). */
#include "last_row.h"

#include <omp.h>
#include <string.h>

/* D of the one query row first, padded to 16 floats so the engine's scratch keeps the
 * workspace's 64-byte alignment. */
#define D_FLOATS 16

size_t last_scratch_floats(const flash_ops *ops) { return D_FLOATS + flash_scratch_floats(ops); }

/* The one-row sequence of prefix t: query row t-1, keys off(t) .. off(t)+t-1. */
static flash_seq prefix_seq(int t, int d, const float *q, const float *k, const float *v)
{
    const size_t kb = ca_prefix_offset((size_t)t) * d, qr = (size_t)(t - 1) * d;
    flash_seq s = {.nq = 1, .nk = t, .d = d, .q = q + qr, .k = k + kb, .v = v + kb};
    return s;
}

void last_prefix_fwd(const flash_ops *ops, int t, int d, const float *q, const float *k,
                     const float *v, float *o, float *lse, float *scratch)
{
    flash_seq s = prefix_seq(t, d, q, k, v);
    s.o = o + (size_t)(t - 1) * d;
    s.lse = lse + t - 1;
    flash_fwd_block(ops, &s, 0, 1, scratch + D_FLOATS);
}

void last_prefix_bwd(const flash_ops *ops, int t, int d, const float *q, const float *k,
                     const float *v, const float *o, const float *lse, const float *dout,
                     float *dq, float *dk, float *dv, float *scratch)
{
    flash_seq s = prefix_seq(t, d, q, k, v);
    const size_t kb = ca_prefix_offset((size_t)t) * d, qr = (size_t)(t - 1) * d;
    s.fo = o + qr;
    s.flse = lse + t - 1;
    s.dout = dout + qr;
    s.D = scratch;
    /* the engine accumulates; these rows are this prefix's alone */
    memset(dq + qr, 0, (size_t)d * sizeof *dq);
    memset(dk + kb, 0, (size_t)t * d * sizeof *dk);
    memset(dv + kb, 0, (size_t)t * d * sizeof *dv);
    flash_bwd(ops, &s, dq + qr, dk + kb, dv + kb, scratch + D_FLOATS);
}

/* One loop for both passes: bwd selects the backward (o, dout, dq, dk, dv used). */
static void last_all(const flash_ops *ops, ca_shape sh, int threads, int bwd,
                     const float *q, const float *k, const float *v, float *o,
                     const float *fo, float *lse, const float *flse, const float *dout,
                     float *dq, float *dk, float *dv, float *scratch)
{
    const int n = sh.n, d = sh.d, items = n * sh.heads;
    const size_t qs = (size_t)n * d, kvs = ca_packed_rows((size_t)n) * d;
#pragma omp parallel num_threads(threads)
    {
        float *w = scratch + (size_t)omp_get_thread_num() * last_scratch_floats(ops);
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            const int h = it % sh.heads, t = n - it / sh.heads;
            const size_t qh = h * qs, kh = h * kvs;
            if (bwd)
                last_prefix_bwd(ops, t, d, q + qh, k + kh, v + kh, fo + qh,
                                flse + (size_t)h * n, dout + qh, dq + qh, dk + kh, dv + kh, w);
            else
                last_prefix_fwd(ops, t, d, q + qh, k + kh, v + kh, o + qh,
                                lse + (size_t)h * n, w);
        }
    }
}

void last_all_fwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                  const float *k, const float *v, float *o, float *lse, float *scratch)
{
    last_all(ops, sh, threads, 0, q, k, v, o, NULL, lse, NULL, NULL, NULL, NULL, NULL,
             scratch);
}

void last_all_bwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                  const float *k, const float *v, const float *o, const float *lse,
                  const float *dout, float *dq, float *dk, float *dv, float *scratch)
{
    last_all(ops, sh, threads, 1, q, k, v, NULL, o, NULL, lse, dout, dq, dk, dv, scratch);
}
