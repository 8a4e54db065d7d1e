/* instance.h: the one place that maps an attention instance to its rows.
 *
 * An operator call (cubattn.h) is a set of independent instances, each "nq query rows
 * against nk key rows": head h of causal or full; prefix t of head h of cubic,
 * cubic_shared or cubic_last; head h of a decode step at position t. Where an instance's
 * rows sit in the call's tensors is the layout of cubattn.h's operator table, and it is
 * written here once: every implementation takes its offsets from these functions, so a
 * change of layout is one change. The orders in which the per-prefix operators hand out
 * their (head, prefix) items are here too, for the same reason: largest first (inst_item)
 * and the layout's own (inst_item_in_memory_order).
 *
 * Offsets count rows: multiply by d for a float offset into q, k, v, o, dO and the
 * gradients; lse and dO have the rows of o.
 *
 * A window of prefixes (ca_shape.first > 1) is here too and nowhere else: a head's block
 * holds the window's rows, prefix t's offsets count from prefix first's, and the items
 * are the window's prefixes. An implementation that loops over inst_first(sh)..sh.n and
 * inst_items(sh) with these offsets runs on a window unchanged.
 */
#ifndef INSTANCE_H
#define INSTANCE_H

#include <stddef.h>
#include <string.h>

#include "cubattn.h"
#include "flash.h"

typedef struct inst_rows {
    int nq, nk;   /* query rows, key rows */
    size_t q;     /* first row of q (and dq) */
    size_t kv;    /* first row of k and v (and dk, dv) */
    size_t out;   /* first row of o and lse (and dO) */
} inst_rows;

/* Head h of operator op: the first rows of its block in every tensor, and its sequence
 * (nq = nk = N; one query row against N cache rows for a decode step). For the
 * per-prefix operators this is the head's base, from which inst_prefix counts. */
static inline inst_rows inst_head(ca_op op, ca_shape sh, int h)
{
    const ca_op_info *info = ca_op_get(op);
    const size_t hh = (size_t)h;
    const int a = sh.first;
    inst_rows r = {.nq = op == CA_OP_DECODE ? 1 : sh.n, .nk = sh.n,
                   .q = hh * ca_window_rows(info->q_rows, sh.n, a),
                   .kv = hh * (op == CA_OP_DECODE ? (size_t)sh.n
                                                  : ca_window_rows(info->kv_rows, sh.n, a)),
                   .out = hh * ca_window_rows(info->out_rows, sh.n, a)};
    return r;
}

/* Every head of operator op together: one past the last head's block, i.e. the rows of
 * each whole tensor (what a backward zeroes before it adds). */
static inline inst_rows inst_all(ca_op op, ca_shape sh) { return inst_head(op, sh, sh.heads); }

/* The first prefix of the call's window (1 when it has none). */
static inline int inst_first(ca_shape sh) { return ca_shape_first(sh); }

/* Head h of causal (causal set) or full: the two operators of one instance a head, whose
 * rows are alike. */
static inline inst_rows inst_heads(int causal, ca_shape sh, int h)
{
    return inst_head(causal ? CA_OP_CAUSAL : CA_OP_FULL, sh, h);
}

/* The first packed row of prefix t (first <= t <= N) in a head's block: counted from
 * the window's first prefix. Inline and cheap, for a loop that steps through prefixes. */
static inline size_t inst_packed_offset(ca_shape sh, int t)
{
    return ca_prefix_offset((size_t)t) - ca_prefix_offset((size_t)inst_first(sh));
}

/* Prefix t (1-based, first <= t <= N) of head h of a per-prefix operator, or the decode
 * step of head h at position t (0-based: the query sees cache rows 0..t); rows count
 * from the window's first prefix (a = inst_first):
 *   cubic         t query rows against its own t packed rows; outputs packed
 *   cubic_shared  rows 0..t-1 of the shared q, k, v; outputs packed
 *   cubic_last    query row t-a against prefix t's t packed keys; output row t-a
 *   decode        the head's query row against cache rows 0..t */
static inline inst_rows inst_prefix(ca_op op, ca_shape sh, int h, int t)
{
    inst_rows r = inst_head(op, sh, h);
    const int a = inst_first(sh);
    const size_t off = inst_packed_offset(sh, t);
    switch (op) {
    case CA_OP_CUBIC:
        r.nq = r.nk = t;
        r.q += off;
        r.kv += off;
        r.out += off;
        break;
    case CA_OP_CUBIC_SHARED:
        r.nq = r.nk = t;
        r.out += off;
        break;
    case CA_OP_CUBIC_LAST:
        r.nq = 1;
        r.nk = t;
        r.q += (size_t)(t - a);
        r.kv += off;
        r.out += (size_t)(t - a);
        break;
    case CA_OP_DECODE:
        r.nk = t + 1;
        break;
    default: /* causal, full: one instance a head, inst_head's */
        break;
    }
    return r;
}

/* The decode step of head h at position t: its key and value rows (k_t, v_t: [heads][d])
 * written into row t of the head's caches ([heads][N][d]); returns the instance, whose
 * query then attends over cache rows 0..t. */
static inline inst_rows inst_decode_append(ca_shape sh, int h, int t, const float *k_t,
                                           const float *v_t, float *k_cache, float *v_cache)
{
    const inst_rows r = inst_prefix(CA_OP_DECODE, sh, h, t);
    const size_t d = (size_t)sh.d, row = (r.kv + (size_t)t) * d;
    memcpy(k_cache + row, k_t + r.q * d, d * sizeof *k_cache);
    memcpy(v_cache + row, v_t + r.q * d, d * sizeof *v_cache);
    return r;
}

/* The (head, prefix) items of a per-prefix operator: the window's prefixes x heads. */
static inline long inst_items(ca_shape sh)
{
    return (long)(sh.n - inst_first(sh) + 1) * sh.heads;
}

/* Item it (< inst_items) of a per-prefix operator, the largest prefixes first (their
 * cost grows with t), so that a dynamic queue ends on small ones. */
static inline void inst_item(long it, ca_shape sh, int *h, int *t)
{
    *h = (int)(it % sh.heads);
    *t = sh.n - (int)(it / sh.heads);
}

/* Item i (< inst_items) in the order of the rows: head by head, the window's prefixes
 * ascending, so that prefix t's packed rows follow those of t - 1. */
static inline void inst_item_in_memory_order(long i, ca_shape sh, int *h, int *t)
{
    const long per_head = sh.n - inst_first(sh) + 1;
    *h = (int)(i / per_head);
    *t = inst_first(sh) + (int)(i % per_head);
}

/* The tile engine's view (flash.h) of instance r of tensors q, k, v: rows and pointers;
 * outputs, backward inputs and packed operands are the caller's to add. */
static inline flash_seq inst_seq(inst_rows r, int d, int causal, const float *q,
                                 const float *k, const float *v)
{
    flash_seq s = {.nq = r.nq, .nk = r.nk, .d = d, .causal = causal,
                   .q = q + r.q * d, .k = k + r.kv * d, .v = v + r.kv * d};
    return s;
}

#endif
