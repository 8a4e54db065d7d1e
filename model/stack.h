/* stack.h: the blocks between the embedding and the head, run over B sequences of n
 * tokens (internal to model/: model.c trains through it, infer.c prefills with it). */
#ifndef MODEL_STACK_H
#define MODEL_STACK_H

#include "block.h"

#define stack_new MF(stack_new)
#define stack_free MF(stack_free)
#define stack_forward MF(stack_forward)
#define stack_backward MF(stack_backward)
#define stack_flops MF(stack_flops)
#define block_matmul_flops MF(block_matmul_flops)

/* One run of the stack over B sequences of n tokens. */
typedef struct stack {
    int B, n, L;
    int last_only;       /* the head reads only the last row of each sequence */
    real *arena;
    size_t elems;
    real *x0;            /* [B n][D] */
    block_acts *blocks;  /* [L] */
    size_t rows_f;       /* rows per sequence out of the last block */
    size_t rows_h;       /* rows per sequence into the head: rows_f, or 1 */
    real *xf;            /* [B rows_h][D]: the head's input */
    real *lnf, *meanf, *rstdf;
    real *logits;        /* [B rows_h][V] */
    double *layer_seconds; /* [L] or NULL: each block's wall time is added to it */
} stack;

/* A stack of the layers of `kind` (one arena for every activation). last_only: the
 * head reads the last row of each sequence only (one prefix of the loop). */
ca_status stack_new(stack *s, const model_config *cfg, model_kind kind, int B, int n,
                    int last_only);
void stack_free(stack *s);
/* Embedding, blocks, head: s->logits. */
ca_status stack_forward(const model_exec *ex, const model_config *cfg, const real *params,
                        stack *s, const int *tokens);
/* dlogits [B rows_h][V] -> every parameter gradient, accumulated into grads. */
ca_status stack_backward(const model_exec *ex, const model_config *cfg, const real *params,
                         const stack *s, const int *tokens, const real *dlogits,
                         real *grads);

/* FLOPs of the stack's pass (model_stats, docs/DESIGN.md §8): forward, or forward and
 * backward; act_bytes raised to this stack's activations. */
void stack_flops(const model_config *cfg, const stack *s, int backward, model_stats *stats);
/* Products of one block per sequence, forward: q on rq rows, k and v on rin, the output
 * projection and the MLP on rout (docs/DESIGN.md §8: 24 D^2 a row when all are equal). */
double block_matmul_flops(int D, double rq, double rin, double rout);

#endif
