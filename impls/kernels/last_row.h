/* last_row.h: cubic_last on the tile engine (flash.h), over any tile-product backend
 * (impls/blocked.c and impls/omp.c: the register kernel, regtile.h; impls/blas.c:
 * BLIS). Prefix t contributes one query row (its last position) against its own t
 * packed key rows: a one-row attention, the shape of a decode step, so the keys are read
 * unpacked as decode reads its cache (packing them would cost as much as the attention:
 * each key row is used once). The backward is the engine's, one query row. No key row
 * belongs to two prefixes, so a prefix writes only its own rows: callers may run
 * prefixes in any order, on any thread, and get the same bits. */
#ifndef LAST_ROW_H
#define LAST_ROW_H

#include <stddef.h>

#include "cubattn.h"
#include "flash.h"

/* Scratch floats of one call below on backend ops (one thread). */
size_t last_scratch_floats(const flash_ops *ops);

/* Prefix t (1-based) of one head. q, o: the head's [N][d] (row t-1 used); k, v: the
 * head's packed [T][d] (rows off(t) .. off(t)+t-1 used); lse: the head's [N]. */
void last_prefix_fwd(const flash_ops *ops, int t, int d, const float *q, const float *k,
                     const float *v, float *o, float *lse, float *scratch);

/* Backward of prefix t: dq row t-1 and dk, dv rows off(t) .. off(t)+t-1 of the head are
 * overwritten (and nothing else). Shapes as in last_prefix_fwd; dout, dq as q. */
void last_prefix_bwd(const flash_ops *ops, int t, int d, const float *q, const float *k,
                     const float *v, const float *o, const float *lse, const float *dout,
                     float *dq, float *dk, float *dv, float *scratch);

/* Every prefix of every head (the entry points' shapes, cubattn.h) on `threads` OpenMP
 * threads: (head, prefix) items, largest prefix first, handed out dynamically (a prefix
 * costs t and writes only its own rows, so the assignment changes no bit).
 * scratch: threads * last_scratch_floats(ops) floats. */
void last_all_fwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                  const float *k, const float *v, float *o, float *lse, float *scratch);
void last_all_bwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                  const float *k, const float *v, const float *o, const float *lse,
                  const float *dout, float *dq, float *dk, float *dv, float *scratch);

#endif
