/* flash.h: the suite's one FlashAttention-style tile engine, generic over the code that
 * multiplies the tiles.
 *
 * Every operator reduces to "a block of query rows of one sequence against a run of its
 * key rows", with or without the causal mask:
 *   causal  = each query block against key blocks 0..its own (the diagonal one masked);
 *   full    = each query block against every key block;
 *   cubic   = prefix t is a full attention over its own t packed rows;
 *   decode  = one query row against the cache.
 * The engine owns the tiling, the mask, the online softmax of the forward and the
 * lse-recomputing backward; it never holds an N x N matrix. A backend (flash_ops) owns
 * the tile products and the tile sizes they run best at: impls/kernels/regtile.h is the
 * register-kernel backend of blocked.c and omp.c, impls/blas.c has a BLIS one.
 *
 * Non-finite inputs give the float64 reference's pattern (README.md, "The operators"),
 * by three rules:
 * a key whose score is -inf has weight 0 but still multiplies its v row, dO row, ... as
 * the reference's loops do (0 * inf = NaN); a masked key multiplies nothing (a masked
 * tile whose partner rows are not all finite takes a row-by-row path); a row whose
 * scores so far are all -inf keeps an empty softmax state rather than exp(-inf + inf).
 */
#ifndef FLASH_H
#define FLASH_H

#include <stddef.h>

typedef struct flash_ops flash_ops;

/* A tile-product backend. Matrices are row-major with the given leading dimensions. */
struct flash_ops {
    int bq, bk;         /* forward tile: query rows x key columns */
    int bq_bwd, bk_bwd; /* backward tile (bk_bwd a multiple of bq_bwd) */
    int threads;        /* threads one product may use */
    /* S[m][lds] = A x^T over key rows j0 .. j0+n-1 (j0 on the backend's key-tile grid):
     * A: [m][d]; x: the sequence's [nk][d] key-side rows (k or v); xp: x in a form the
     * backend prepared (flash_seq.kp / vp), or NULL. lds is at least n rounded up to a
     * multiple of 8 (the engine's tiles: exactly that; the cubic_shared sweep: its
     * whole score row), and columns up to n rounded up to 8 may be written. */
    void (*score)(const flash_ops *ops, int m, int n, int d, const float *a,
                  const float *x, const float *xp, int j0, float *s, int lds);
    /* C[m][n] = op(A) B (add = 0: C is not read) or C += op(A) B (add = 1);
     * op(A) = A ([m][k], lda) or, with trans_a, A^T (A: [k][m]). */
    void (*prod)(const flash_ops *ops, int add, int trans_a, int m, int n, int k,
                 const float *a, int lda, const float *b, int ldb, float *c, int ldc);
    /* The backward's D_i = sum_j P_ij dP_ij. When this backend's dP = dO v_j is formed
     * so that D_i = dO_i . o_i can be summed in the same order (then a one-hot row,
     * o_i bit-equal to v_j, gives dP_ij - D_i exactly 0), it writes
     * D[i] = dout_i . o_i for n rows here. NULL: the engine sums P dP over the very
     * tiles the gradient pass uses, dividing by sum_j P_ij (which also cancels the row's
     * common error from the rounded lse), at the price of two of the five products a
     * second time. */
    void (*rowdot)(int n, int d, const float *dout, const float *o, float *D);
};

/* One attention instance: a head of causal / full, a prefix of cubic or cubic_shared,
 * one decode row. nq query rows against nk keys (causal: query row i sees keys 0..i,
 * and nq == nk); all rows contiguous with stride d. */
typedef struct flash_seq {
    int nq, nk, d, causal;
    const float *q, *k, *v;         /* q: [nq][d]  k, v: [nk][d] */
    const float *kp, *vp;           /* k, v as the backend prepares them, or NULL */
    float *o, *lse;                 /* forward outputs: [nq][d], [nq] */
    const float *fo, *flse, *dout;  /* backward inputs: the forward's o, lse; dO */
    float *D;                       /* backward scratch: one float per query row */
} flash_seq;

/* Per-thread scratch floats of every call below. */
size_t flash_scratch_floats(const flash_ops *ops);

/* Forward of query rows q0 .. q0+nq-1 (nq <= ops->bq): writes their o rows and lse
 * entries. */
void flash_fwd_block(const flash_ops *ops, const flash_seq *s, int q0, int nq,
                     float *scratch);
/* Forward of every query row. */
void flash_fwd(const flash_ops *ops, const flash_seq *s, float *scratch);

/* s->D of query rows q0 .. q0+nq-1 (q0 a multiple of ops->bq_bwd, nq <= ops->bq_bwd
 * unless ops->rowdot is set). */
void flash_delta_block(const flash_ops *ops, const flash_seq *s, int q0, int nq,
                       float *scratch);
/* s->D of every query row. */
void flash_delta(const flash_ops *ops, const flash_seq *s, float *scratch);

/* Backward of key rows k0 .. k0+nk-1 (k0 a multiple of ops->bk_bwd, nk <= ops->bk_bwd)
 * from every query row that sees them, s->D already computed. dk, dv of those key rows
 * and dq of the query rows accumulate (+=): dq, dk, dv are [nq][d], [nk][d], [nk][d]
 * buffers of the whole sequence (dq may be a per-thread partial). */
void flash_bwd_block(const flash_ops *ops, const flash_seq *s, int k0, int nk, float *dq,
                     float *dk, float *dv, float *scratch);
/* D, then every key block; dq, dk, dv accumulate. */
void flash_bwd(const flash_ops *ops, const flash_seq *s, float *dq, float *dk, float *dv,
               float *scratch);

#endif
