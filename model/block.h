/* block.h: one transformer block on the rows its attention operator defines, and the
 * embedding and head around the stack (internal to model/).
 *
 * A block's attention is one operator of the table, and the operator's row counts are
 * the block's: LN1 and the k, v projections run on its kv rows (the block's input
 * rows), the q projection on its q rows, everything after attention on its output rows.
 * Where two counts differ the rows are related by the packed layout (cubattn.h):
 *   N -> T (cubic_shared): output row (t, i) continues input row i (the residual is
 *                          broadcast to every prefix, its gradient summed over them);
 *   T -> N (cubic_last):   query row t and output row t are input row (t, t).
 * Shapes below are per sequence; B sequences are stacked in rows, and in heads for the
 * attention ([B][H][rows][d] = [B H][rows][d]). */
#ifndef MODEL_BLOCK_H
#define MODEL_BLOCK_H

#include "real.h"

/* Compiled once per precision: each function takes its precision's suffix. */
#define layer_op MF(layer_op)
#define block_layout MF(block_layout)
#define block_maps MF(block_maps)
#define block_free_maps MF(block_free_maps)
#define block_forward MF(block_forward)
#define block_backward MF(block_backward)
#define split_heads MF(split_heads)
#define merge_heads MF(merge_heads)
#define block_tail MF(block_tail)
#define embed_forward MF(embed_forward)
#define embed_backward MF(embed_backward)

typedef enum layer_kind {
    LAYER_CAUSAL, /* causal model; a cubic model of one layer */
    LAYER_FULL,   /* a bidirectional pass (cubic_loop, cubic inference) */
    LAYER_SHARED, /* first layer of a packed cubic model: cubic_shared */
    LAYER_CUBIC,  /* middle layers: cubic */
    LAYER_LAST    /* last layer: cubic_last */
} layer_kind;

ca_op layer_op(layer_kind k);

/* Everything one block keeps for its backward. LN1's and LN2's outputs, the merged
 * attention output and GELU's output are not kept: the backward recomputes them from
 * what is (elementwise, the same values), and h too when keep_h is 0 (one product more,
 * for the memory of long packed sequences; docs/DESIGN.md §8). */
typedef struct block_acts {
    layer_kind kind;
    size_t rin, rq, rout;   /* rows per sequence: input (= k, v), queries, output */
    int *q_src, *res_src;   /* input row of each query / output row; NULL = the same row */
    int keep_h;             /* h is kept (else recomputed in the backward) */
    const real *x_in;       /* [B rin][D], the previous block's x_out (not owned) */
    real *mean1, *rstd1;    /* [B rin]: LN1's statistics */
    real *qh, *kh, *vh;     /* [B H][rq][d], [B H][rin][d] x 2 */
    real *oh, *lse;         /* [B H][rout][d], [B H][rout] */
    real *x_mid;            /* [B rout][D]: x_in + merge(oh) Wo */
    real *mean2, *rstd2;    /* [B rout]: LN2's statistics */
    real *h;                /* [B rout][4D]: LN2(x_mid) W1, or NULL when not kept */
    real *x_out;            /* [B rout][D] */
} block_acts;

/* Lays out a block's activations from *cursor (advanced; with *cursor NULL only the
 * element count is added to *count) for B sequences of length n. Row maps are
 * allocated separately: block_maps / block_free_maps. */
void block_layout(block_acts *a, layer_kind kind, int B, int n, int D, int H, int keep_h,
                  real **cursor, size_t *count);
ca_status block_maps(block_acts *a, int n);
void block_free_maps(block_acts *a);

/* Forward: a->x_in set by the caller. */
ca_status block_forward(const model_exec *ex, const model_config *cfg,
                        const model_layer_offsets *lo, const real *params, int B, int n,
                        block_acts *a);
/* Backward: dx_out [B rout][D] in; dx_in [B rin][D] overwritten; parameter gradients
 * accumulated into grads. */
ca_status block_backward(const model_exec *ex, const model_config *cfg,
                         const model_layer_offsets *lo, const real *params, int B, int n,
                         const block_acts *a, const real *dx_out, real *dx_in, real *grads);

/* The parts of a block a single-row inference step reuses. */
/* [B H][rows][d] <-> [B rows][ld] columns col0.. col0 + H d */
void split_heads(real *dst, const real *src, int ld, int col0, int B, size_t rows, int H,
                 int d);
void merge_heads(real *dst, const real *src, int ld, int col0, int B, size_t rows, int H,
                 int d);
/* x_mid = x_res + att Wo; mean2, rstd2, x_out as in block_acts, for R rows; h [R][4D]
 * written when not NULL. CA_ERR_NOMEM when its row-block scratch cannot be had. */
ca_status block_tail(const model_config *cfg, const model_layer_offsets *lo,
                     const real *params, int threads, size_t R, const real *att,
                     const real *x_res, real *x_mid, real *mean2, real *rstd2, real *h,
                     real *x_out);

/* x0[b][i] = wte[tokens[b][i]] + wpe[pos0 + i], i < n: [B n][D]. pos0 > 0: a
 * decode step's row, continuing a sequence already cached. */
void embed_forward(const model_config *cfg, const real *params, int B, int n, int pos0,
                   const int *tokens, real *x0);
void embed_backward(const model_config *cfg, int B, int n, const int *tokens,
                    const real *dx0, real *grads);

#endif
