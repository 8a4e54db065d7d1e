/* last_row.c: cubic_last's prefixes as one-row flash_seq instances (last_row.h). */
#include "last_row.h"

#include "cubattn.h"
#include "flash.h"
#include "regtile.h"

#include <string.h>

/* D of the one query row first, padded to 16 floats so the engine's scratch keeps the
 * workspace's 64-byte alignment. */
#define D_FLOATS 16

size_t last_scratch_floats(void) { return D_FLOATS + flash_scratch_floats(&regt_ops); }

/* The one-row sequence of prefix t: query row t-1, keys off(t) .. off(t)+t-1. */
static flash_seq prefix_seq(int t, int d, const float *q, const float *k, const float *v)
{
    const size_t kb = ca_prefix_offset((size_t)t) * d, qr = (size_t)(t - 1) * d;
    flash_seq s = {.nq = 1, .nk = t, .d = d, .q = q + qr, .k = k + kb, .v = v + kb};
    return s;
}

void last_prefix_fwd(int t, int d, const float *q, const float *k, const float *v,
                     float *o, float *lse, float *scratch)
{
    flash_seq s = prefix_seq(t, d, q, k, v);
    s.o = o + (size_t)(t - 1) * d;
    s.lse = lse + t - 1;
    flash_fwd_block(&regt_ops, &s, 0, 1, scratch + D_FLOATS);
}

void last_prefix_bwd(int t, int d, const float *q, const float *k, const float *v,
                     const float *o, const float *lse, const float *dout, float *dq,
                     float *dk, float *dv, float *scratch)
{
    flash_seq s = prefix_seq(t, d, q, k, v);
    const size_t kb = ca_prefix_offset((size_t)t) * d, qr = (size_t)(t - 1) * d;
    s.fo = o + qr;
    s.flse = lse + t - 1;
    s.dout = dout + qr;
    s.D = scratch;
    /* the engine accumulates; these rows are this prefix's alone */
    memset(dq + qr, 0, (size_t)d * sizeof *dq);
    memset(dk + kb, 0, (size_t)t * d * sizeof *dk);
    memset(dv + kb, 0, (size_t)t * d * sizeof *dv);
    flash_bwd(&regt_ops, &s, dq + qr, dk + kb, dv + kb, scratch + D_FLOATS);
}
