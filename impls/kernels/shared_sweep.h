/* shared_sweep.h: cubic_shared in O(N^2 d), for impls/blocked.c, impls/omp.c (the
 * register-kernel backend, regtile.h) and impls/blas.c (BLIS): row i's outputs for
 * prefixes t = i..N are the successive states of one online-softmax sweep over the keys,
 * and the backward runs the suffix recurrences of docs/DESIGN.md §2.
 * The sweep logic is one; a tile-product backend (flash.h's flash_ops) does its
 * products: a block's scores S = Q_block K^T, the forward's P V over the keys every row
 * of the block sees before its own, and the backward's dQ_block = dS K and
 * dK += dS^T Q_block. */
#ifndef SHARED_SWEEP_H
#define SHARED_SWEEP_H

#include <stddef.h>

#include "cubattn.h"
#include "flash.h"
#include "tile_traits.h" /* SWEEP_RB: rows per block; a block's scores are
                            [SWEEP_RB][n rounded up to ROW_VEC] */

/* Scratch floats of sweep_fwd_rows / sweep_bwd_rows for length n (whole LINE_FLOATS,
 * so that consecutive scratches keep the workspace's 64-byte alignment). */
size_t sweep_scratch_floats(int n, int d);

/* Rows i0 .. i0+nb-1 (nb <= SWEEP_RB) of one head of shape sh (n = sh.n, d = sh.d, its
 * window of prefixes a = sh.first..n): one online-softmax sweep per row over keys
 * 0..n-1, writing row (t, i) after key t is absorbed, for every t >= i in the window.
 * q, k, v: [n][d]  kp: k as ops prepares it (flash_seq.kp), or NULL
 * o: [window's packed rows][d]  lse: [window's packed rows] (head base) */
void sweep_fwd_rows(const flash_ops *ops, ca_shape sh, int i0, int nb, const float *q,
                    const float *k, const float *kp, const float *v, float *o, float *lse,
                    float *scratch);

/* Backward of rows i0 .. i0+nb-1, from the window's prefixes alone. dq rows i0.. are
 * written (=); dk, dv: [n][d] accumulate (+=) (may be per-thread partial buffers). o,
 * lse, dout: the window's packed rows; the rest as in sweep_fwd_rows. */
void sweep_bwd_rows(const flash_ops *ops, ca_shape sh, int i0, int nb, const float *q,
                    const float *k, const float *kp, const float *v, const float *o,
                    const float *lse, const float *dout, float *dq, float *dk, float *dv,
                    float *scratch);

#endif
