/* shared_sweep.h: cubic_shared in O(N^2 d) on the register-kernel backend (regtile.h),
 * for impls/blocked.c and impls/omp.c: row i's outputs for prefixes t = i..N are the
 * successive states of one online-softmax sweep over the keys, and the backward runs the
 * suffix recurrences of docs/DESIGN.md §2. */
#ifndef SHARED_SWEEP_H
#define SHARED_SWEEP_H

#include <stddef.h>

/* Rows per block: the block's scores are [SWEEP_RB][tiles * REGT_B]. */
#define SWEEP_RB 16

/* Scratch floats of sweep_fwd_rows / sweep_bwd_rows for length n. */
size_t sweep_scratch_floats(int n, int d);

/* Rows i0 .. i0+nb-1 (nb <= SWEEP_RB) of one head: one online-softmax sweep per row
 * over keys 0..n-1, writing row (t, i) after key t is absorbed, for every t >= i.
 * q, k, v: [n][d]  kt: k packed by regt_pack  o: [T][d]  lse: [T] (head base) */
void sweep_fwd_rows(int d, int n, int i0, int nb, const float *q, const float *kt,
                    const float *v, float *o, float *lse, float *scratch);

/* Backward of rows i0 .. i0+nb-1. dq rows i0.. are written (=); dk, dv: [n][d]
 * accumulate (+=) (may be per-thread partial buffers). o, lse, dout: packed [T][d],
 * [T]. */
void sweep_bwd_rows(int d, int n, int i0, int nb, const float *q, const float *k,
                    const float *kt, const float *v, const float *o, const float *lse,
                    const float *dout, float *dq, float *dk, float *dv, float *scratch);

#endif
