/* regtile.h: the register-kernel backend of the tile engine (flash.h), used by
 * impls/blocked.c and impls/omp.c: a 6-row register kernel of explicit vectors on
 * REGT_B-row tiles, the key-side operand of the score products packed transposed per
 * sequence in panels of REGT_B keys.
 *
 * Tile sizes: REGT_B = 64 query rows, against REGT_BK_FWD = 128 keys in the forward and
 * REGT_B = 64 in the backward. At d = 64 a 64 x 64 tile of S/P, dS, K^T, V, Q, O, dK, dV
 * is 16 KB: all eight tiles of a backward step (128 KB at d = 64, 256 KB at d = 128) stay
 * in a 512 KB L2, so every product runs from L1/L2; 128 x 128 tiles would push the
 * d = 128 backward past it, and measured slower in the forward at d = 128 too. The
 * forward's 64 x 128 tile (S 32 KB) halves, against 64 x 64, the per-tile softmax
 * bookkeeping and O rescales and the P V kernel's C loads and stores per multiply-add:
 * 3-11% faster on Zen 5 at d = 64, the same at d = 128 and in the backward. 32-row tiles
 * would double that bookkeeping instead.
 * The register kernel is 6 rows x 4 vectors on the avx512 kernel path (24 accumulators
 * of its 32 zmm registers) and 6 x 2 on avx2 (12 of 16 ymm): 2 FMA pipes x 4 cycles need
 * 8 independent FMAs in flight, and more accumulators mean fewer loads a multiply-add. A
 * vector is 16 lanes on avx512, 8 on avx2 (regtile.c, regtile_kern.h).
 *
 * Kernel paths: regtile.c is compiled once per path of the Makefile's ISAS (isa.h), each
 * copy exporting a regt_isa table; the functions below forward to the path isa.c chose
 * (regtile_dispatch.c), so callers never see which one runs.
 */
#ifndef REGTILE_H
#define REGTILE_H

#include <stddef.h>

#include "softmax_rows.h"
#include "flash.h"
#include "tile_traits.h" /* REGT_B, REGT_BK_FWD */

extern const flash_ops regt_ops;

/* Key tiles covering n rows. */
static inline size_t regt_tiles(size_t n) { return (n + REGT_B - 1) / REGT_B; }

/* Floats of a packed transposed operand of n rows: [tiles(n)][d][REGT_B]. */
size_t regt_packed_floats(size_t n, size_t d);

/* Transpose x tile by tile, zero-padding the last tile's columns.
 * x: [n][d]  xt: [tiles(n)][d][REGT_B] */
void regt_pack(int n, int d, const float *x, float *xt);

/* S[m][lds] = A x^T for key rows j0 .. j0+n-1 of the packed tiles from j0 / REGT_B (j0 a
 * multiple of REGT_B, n <= REGT_BK_FWD;
 * columns up to n rounded up to 8 are written, those past the sequence's end as 0),
 * each entry the naive code's dot product (see regtile.c).
 * A: [m][d]  xt: packed by regt_pack */
void regt_scores(int m, int n, int d, const float *a, const float *xt, int j0, float *s,
                 ptrdiff_t lds);

/* C (+)= A B (acc = 1 adds to C, 0 overwrites it) by the register kernel, fused: every
 * entry of C is one chain of fused multiply-adds over p = 0 .. k-1, from C or from 0, in
 * that order, whatever m, n, the entry's place in C or the vector width. Hence a product
 * split into blocks of rows, of columns, or of k (each later block of k adding to C)
 * gives the bits of the whole product. For the model's products (model/float32.c).
 * A: m x k, element (i, p) at a[i*ars + p*acs]  B: [k][ldb]  C: [m][ldc] */
void regt_gemm(int acc, int m, int n, int k, const float *a, ptrdiff_t ars, ptrdiff_t acs,
               const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc);

/* One kernel path's copy of the functions above (regtile.c, built per path). */
typedef struct regt_isa {
    const char *name; /* the path's name in ISAS, e.g. "avx512" */
    unsigned needs;   /* ISA_F_* features its flags let the compiler use (isa.h) */
    int lanes;        /* floats in the register kernel's vector */
    const flash_ops *ops;
    void (*scores)(int m, int n, int d, const float *a, const float *xt, int j0, float *s,
                   ptrdiff_t lds);
    void (*gemm)(int acc, int m, int n, int k, const float *a, ptrdiff_t ars, ptrdiff_t acs,
                 const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc);
    exp_rows_fn *exp_rows; /* softmax_rows.c's copies on the path */
    max_rows_fn *max_rows;
    ds_rows_fn *ds_rows;
} regt_isa;

/* Path i of ISAS (0 = the narrowest), NULL past the last. */
const regt_isa *regt_isa_at(int i);
/* The path the calls above run on (isa.c's choice). */
const regt_isa *regt_isa_chosen(void);

#endif
