/* tile_traits.h: the tile sizes of the suite's kernels and the vector widths they are
 * built around, in one place, the constraints between them checked when the code
 * compiles: a size that breaks one fails the build, not a verify run.
 *
 * Why each size is what it is stays with the code it tunes (regtile.h, impls/blas.c,
 * shared_sweep.h, impls/unfused.c); what must hold between them is here.
 */
#ifndef TILE_TRAITS_H
#define TILE_TRAITS_H

#include <stddef.h>

/* ---- vectors and lines ---------------------------------------------------------------- */

/* Floats in the tile engine's row vectors (v8f, vexp.h): every score row is padded to a
 * whole number of them, so that no row loop needs a scalar tail. The register kernel's
 * own vectors are 16 lanes on the avx512 path and 8 on avx2 (regtile.c); its tiles are
 * whole numbers of both. */
#define ROW_VEC 8
/* Floats in a 64-byte cache line: the workspace is 64-byte aligned, and every per-thread
 * scratch and every block inside one is a whole number of lines, so all stay aligned. */
#define LINE_FLOATS 16

/* ---- tiles ------------------------------------------------------------------------------ */

/* regtile.h: query rows x key rows of the register kernel's tiles (and the width of its
 * packed key panels), and the keys of its forward tile (whole panels). */
#define REGT_B 64
#define REGT_BK_FWD 128
/* impls/blas.c: the BLIS backend's forward tile (query rows x keys), its backward tile,
 * and the key run of a one-row cubic_last tile. */
#define BLAS_BQ 144
#define BLAS_BK 256
#define BLAS_BQ_BWD 144
#define BLAS_BK_BWD 144
#define BLAS_BK_LAST 1024
/* shared_sweep.h: query rows per block of the cubic_shared sweep. */
#define SWEEP_RB 16
/* impls/unfused.c: query rows per materialised score block. */
#define UNFUSED_BR 256

/* ---- what must hold --------------------------------------------------------------------- */

_Static_assert((ROW_VEC & (ROW_VEC - 1)) == 0 && (LINE_FLOATS & (LINE_FLOATS - 1)) == 0,
               "round_up_to rounds to powers of two");
_Static_assert(LINE_FLOATS % ROW_VEC == 0, "a line holds whole row vectors");
_Static_assert(REGT_B * REGT_B % LINE_FLOATS == 0 && REGT_B * REGT_BK_FWD % LINE_FLOATS == 0 && BLAS_BQ * BLAS_BK % LINE_FLOATS == 0 &&
                   BLAS_BQ_BWD * BLAS_BK_BWD % LINE_FLOATS == 0 && BLAS_BK_LAST % LINE_FLOATS == 0,
               "every score tile is whole lines, so the next block of a scratch stays aligned");
_Static_assert(REGT_B % (4 * 16) == 0,
               "a regtile key tile is whole 4-vector blocks of the avx512 kernel (and so 2-vector ones of avx2)");
_Static_assert(REGT_B % ROW_VEC == 0, "a full regtile score row needs no padding");
_Static_assert(REGT_BK_FWD % REGT_B == 0, "a regtile forward key tile is whole packed panels");
/* flash.h: the engine's backward walks key tiles made of whole query tiles */
_Static_assert(BLAS_BK_BWD % BLAS_BQ_BWD == 0, "blas backward: bk_bwd a multiple of bq_bwd");
_Static_assert(BLAS_BQ % 6 == 0, "blas: a query tile of whole 6-row BLIS micro-panels");
_Static_assert(BLAS_BK % ROW_VEC == 0 && BLAS_BK_BWD % ROW_VEC == 0 &&
                   BLAS_BK_LAST % ROW_VEC == 0,
               "blas: full score rows need no padding");
_Static_assert(SWEEP_RB >= 1 && SWEEP_RB <= REGT_B,
               "a sweep block is one score product of at most a tile's rows");

/* x rounded up to a whole number of m (a power of two). */
static inline size_t round_up_to(size_t x, size_t m) { return (x + m - 1) & ~(m - 1); }

#endif
