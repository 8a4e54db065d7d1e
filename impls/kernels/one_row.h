/* one_row.h: the instances of one query row, on the tile engine (flash.h) over any
 * tile-product backend (impls/blocked.c and impls/omp.c: the register kernel, regtile.h;
 * impls/blas.c: BLIS):
 *   - a decode step of one head: the query against the cache rows 0..t;
 *   - a cubic_last prefix t: its one query row (its last position) against its own t
 *     packed key rows.
 * Both read their keys unpacked (packing them would cost as much as the attention: each
 * key row is used once). The backward is the engine's, one query row. No key row of
 * cubic_last belongs to two prefixes, so a prefix writes only its own rows: callers may
 * run prefixes in any order, on any thread, and get the same bits. Where each instance's
 * rows are is instance.h's. */
#ifndef ONE_ROW_H
#define ONE_ROW_H

#include <stddef.h>

#include "cubattn.h"
#include "flash.h"

/* Scratch floats of one call below on backend ops (one thread). */
size_t one_row_scratch_floats(const flash_ops *ops);

/* The decode step of head h at position t (cubattn.h ca_decode_fn's tensors): k_t and
 * v_t of the head into row t of its caches, then its query over rows 0..t. */
void one_row_decode(const flash_ops *ops, ca_shape sh, int h, int t, const float *q_t,
                    const float *k_t, const float *v_t, float *k_cache, float *v_cache,
                    float *o_t, float *lse_t, float *scratch);

/* Prefix t (1-based) of head h of cubic_last (the entry points' tensors, cubattn.h). */
void one_row_last_fwd(const flash_ops *ops, ca_shape sh, int h, int t, const float *q,
                      const float *k, const float *v, float *o, float *lse, float *scratch);

/* Backward of prefix t of head h: its dq row and the dk, dv rows of its packed keys are
 * overwritten (and nothing else). */
void one_row_last_bwd(const flash_ops *ops, ca_shape sh, int h, int t, const float *q,
                      const float *k, const float *v, const float *o, const float *lse,
                      const float *dout, float *dq, float *dk, float *dv, float *scratch);

/* Every prefix of the window (sh.first..N) of every head of cubic_last on `threads`
 * OpenMP threads: each thread one run of consecutive (head, prefix) items in memory
 * order (instance.h's inst_item_in_memory_order), the runs cut at equal shares of the
 * cost t + 64 (a prefix writes only its own rows, so the assignment changes no bit).
 * scratch: threads * one_row_scratch_floats(ops) floats. */
void one_row_last_all_fwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                          const float *k, const float *v, float *o, float *lse,
                          float *scratch);
void one_row_last_all_bwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                          const float *k, const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv, float *scratch);

#endif
