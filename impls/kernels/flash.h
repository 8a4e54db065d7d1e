/* flash.h: FlashAttention-style tile kernels shared by impls/blocked.c and impls/omp.c.
 *
 * Every operator of the suite reduces to "a block of query rows of one head against a
 * run of key rows of the same head", with or without the causal mask:
 *   causal  = each query tile against key tiles 0..its own (diagonal tile masked);
 *   full    = each query tile against every key tile;
 *   cubic   = prefix t is a full attention over its own t packed rows;
 *   decode  = one query row against the cache (no packing: dot-product form).
 * cubic_shared has its own row-sweep kernels (flash_shared_*), O(N^2 d).
 *
 * The kernels never hold an N x N matrix: forward keeps the online-softmax state of one
 * query tile; backward recomputes P = exp(S - lse) tile by tile.
 *
 * Tile sizes: FLASH_B = 64 query rows x 64 key rows. At d = 64 one tile of S/P, dS,
 * K^T, V, Q, O, dK, dV is 16 KB each: the S = Q K^T product touches Q + K^T = 32 KB
 * (Zen3's L1d), and all eight tiles of a backward step (128 KB at d = 64, 256 KB at
 * d = 128) stay in the 512 KB L2, so every product runs from L1/L2. 128-row tiles would
 * push the d = 128 backward past L2; 32-row tiles double the per-tile softmax
 * bookkeeping, rescales and C-tile loads/stores relative to the multiply-adds.
 * The register kernel is 6 rows x 16 columns (12 ymm accumulators: Zen3 needs 8
 * independent FMAs in flight, 2 pipes x 4 cycles, and has 16 ymm registers).
 */
#ifndef FLASH_H
#define FLASH_H

#include <stddef.h>

#define FLASH_B 64

/* Floats of per-thread scratch every flash_* call below may use (tiles of S/P and dS,
 * plus per-row softmax state). */
#define FLASH_SCRATCH_FLOATS (2 * FLASH_B * FLASH_B + 4 * FLASH_B)

/* Key tiles covering n rows. */
static inline size_t flash_tiles(size_t n) { return (n + FLASH_B - 1) / FLASH_B; }

/* Floats of a packed transposed operand of n rows: [tiles(n)][d][FLASH_B]. */
static inline size_t flash_packed_floats(size_t n, size_t d)
{
    return flash_tiles(n) * FLASH_B * d;
}

/* Transpose x tile by tile, times scale, zero-padding the last tile's columns.
 * x: [n][d]  xt: [tiles(n)][d][FLASH_B] */
void flash_pack_t(int n, int d, float scale, const float *x, float *xt);

/* D_i = dout_i . o_i for every row: the row-wise term of the softmax backward.
 * dout, o: [n][d]  D: [n] */
void flash_rowdot(int n, int d, const float *dout, const float *o, float *D);

/* Forward of query rows q0 .. q0+nq-1 (nq <= FLASH_B) against keys 0 .. nkeys-1;
 * causal: row i sees keys j <= i (needs nkeys >= q0 + nq; tiles above the diagonal are
 * never touched). kt: k packed by flash_pack_t with scale 1 (1/sqrt(d) is applied after
 * the dot product, as the naive code does), or NULL for the
 * dot-product form (decode: packing would double the memory traffic of a 1-row query).
 * q, o: [nq][d] (row q0 of the sequence)  k, v: [nkeys][d]  lse: [nq]
 * scratch: FLASH_SCRATCH_FLOATS */
void flash_fwd_qblock(int d, int nq, int q0, int nkeys, int causal, const float *q,
                      const float *k, const float *kt, const float *v, float *o,
                      float *lse, float *scratch);

/* Backward of key rows k0 .. k0+nk-1 (nk <= FLASH_B, k0 a multiple of FLASH_B) against
 * every query row of the sequence that sees them (causal: rows >= k0). dk, dv of those
 * key rows and dq of the query rows accumulate (+=), so the caller zeroes them; dq may
 * be a per-thread partial buffer.
 * q, dout, dq: [n][d]  lse, D: [n]  k, v, dk, dv: [n][d] (whole sequence, row 0)
 * kt, vt: k, v packed with scale 1. scratch: FLASH_SCRATCH_FLOATS */
void flash_bwd_kblock(int d, int n, int k0, int nk, int causal, const float *q,
                      const float *k, const float *kt, const float *v, const float *vt,
                      const float *dout, const float *lse, const float *D, float *dq,
                      float *dk, float *dv, float *scratch);

/* ---- cubic_shared in O(N^2 d) --------------------------------------------------- */

/* Rows per block of the shared kernels: S for a block is [FLASH_SHARED_RB][tiles*B]. */
#define FLASH_SHARED_RB 16

/* Scratch floats of flash_shared_fwd_rows / flash_shared_bwd_rows for length n. */
size_t flash_shared_scratch_floats(int n, int d);

/* Rows i0 .. i0+nb-1 (nb <= FLASH_SHARED_RB) of one head: one online-softmax sweep per
 * row over keys 0..n-1, writing row (t, i) after key t is absorbed, for every t >= i.
 * q, k, v: [n][d]  kt: packed k (scale 1)  o: [T][d]  lse: [T] (head base) */
void flash_shared_fwd_rows(int d, int n, int i0, int nb, const float *q, const float *k,
                           const float *kt, const float *v, float *o, float *lse,
                           float *scratch);

/* Backward of rows i0 .. i0+nb-1 by the suffix recurrences of docs/DESIGN.md section 2.
 * dq rows i0.. are written (=); dk, dv: [n][d] accumulate (+=) (may be per-thread
 * partial buffers). o, lse, dout: packed [T][d], [T]. */
void flash_shared_bwd_rows(int d, int n, int i0, int nb, const float *q, const float *k,
                           const float *kt, const float *v, const float *o,
                           const float *lse, const float *dout, float *dq, float *dk,
                           float *dv, float *scratch);

#endif
