/* one_row.c: decode steps and cubic_last's prefixes as one-row flash_seq instances
 * (one_row.h). */
#include "one_row.h"

#include <omp.h>
#include <string.h>

#include "instance.h"
#include "tile_traits.h"

/* D of the one query row first, padded to a line so the engine's scratch keeps the
 * workspace's 64-byte alignment. */
#define D_FLOATS LINE_FLOATS

size_t one_row_scratch_floats(const flash_ops *ops)
{
    return D_FLOATS + flash_scratch_floats(ops);
}

void one_row_decode(const flash_ops *ops, ca_shape sh, int h, int t, const float *q_t,
                    const float *k_t, const float *v_t, float *k_cache, float *v_cache,
                    float *o_t, float *lse_t, float *scratch)
{
    const inst_rows r = inst_decode_append(sh, h, t, k_t, v_t, k_cache, v_cache);
    flash_seq s = inst_seq(r, sh.d, 0, q_t, k_cache, v_cache);
    s.o = o_t + r.out * sh.d;
    s.lse = lse_t + r.out;
    flash_fwd_block(ops, &s, 0, 1, scratch + D_FLOATS);
}

void one_row_last_fwd(const flash_ops *ops, ca_shape sh, int h, int t, const float *q,
                      const float *k, const float *v, float *o, float *lse, float *scratch)
{
    const inst_rows r = inst_prefix(CA_OP_CUBIC_LAST, sh, h, t);
    flash_seq s = inst_seq(r, sh.d, 0, q, k, v);
    s.o = o + r.out * sh.d;
    s.lse = lse + r.out;
    flash_fwd_block(ops, &s, 0, 1, scratch + D_FLOATS);
}

void one_row_last_bwd(const flash_ops *ops, ca_shape sh, int h, int t, const float *q,
                      const float *k, const float *v, const float *o, const float *lse,
                      const float *dout, float *dq, float *dk, float *dv, float *scratch)
{
    const size_t d = (size_t)sh.d;
    const inst_rows r = inst_prefix(CA_OP_CUBIC_LAST, sh, h, t);
    flash_seq s = inst_seq(r, sh.d, 0, q, k, v);
    s.fo = o + r.out * d;
    s.flse = lse + r.out;
    s.dout = dout + r.out * d;
    s.D = scratch;
    /* the engine accumulates; these rows are this prefix's alone */
    memset(dq + r.q * d, 0, d * sizeof *dq);
    memset(dk + r.kv * d, 0, (size_t)t * d * sizeof *dk);
    memset(dv + r.kv * d, 0, (size_t)t * d * sizeof *dv);
    flash_bwd(ops, &s, dq + r.q * d, dk + r.kv * d, dv + r.kv * d, scratch + D_FLOATS);
}

/* A prefix's cost in keys, plus the fixed work of a call. */
static double prefix_cost(int t) { return t + 64.0; }

/* One loop for both passes: bwd selects the backward (o, dout, dq, dk, dv used).
 * Each thread takes one run of consecutive items in memory order, the runs cut at equal
 * shares of the summed cost: a one-row prefix reads its keys once, at the memory's pace,
 * and one long ascending run is one stream of K and V rows for the hardware prefetcher,
 * where items handed out one at a time (largest first) made every thread start a new
 * stream, cold, at each prefix and ran at about 0.6 of the triad bandwidth. Each prefix
 * writes only its own rows, so the split cannot change a bit of the result. */
static void last_all(const flash_ops *ops, ca_shape sh, int threads, int bwd,
                     const float *q, const float *k, const float *v, float *o,
                     const float *fo, float *lse, const float *flse, const float *dout,
                     float *dq, float *dk, float *dv, float *scratch)
{
    const long items = inst_items(sh);
    double total = 0.0;
    for (long i = 0; i < items; i++) {
        int h, t;
        inst_item_in_memory_order(i, sh, &h, &t);
        total += prefix_cost(t);
    }
#pragma omp parallel num_threads(threads)
    {
        /* the team OpenMP gave, which is fewer than asked inside another region */
        const int me = omp_get_thread_num(), team = omp_get_num_threads();
        float *w = scratch + (size_t)me * one_row_scratch_floats(ops);
        double before = 0.0;
        for (long i = 0; i < items; i++) {
            int h, t;
            inst_item_in_memory_order(i, sh, &h, &t);
            const double c = prefix_cost(t);
            /* the item goes to the thread whose share holds its cost's midpoint */
            const int owner = (int)((before + 0.5 * c) / total * team);
            before += c;
            if ((owner < team ? owner : team - 1) != me) continue;
            if (bwd)
                one_row_last_bwd(ops, sh, h, t, q, k, v, fo, flse, dout, dq, dk, dv, w);
            else
                one_row_last_fwd(ops, sh, h, t, q, k, v, o, lse, w);
        }
    }
}

void one_row_last_all_fwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                          const float *k, const float *v, float *o, float *lse,
                          float *scratch)
{
    last_all(ops, sh, threads, 0, q, k, v, o, NULL, lse, NULL, NULL, NULL, NULL, NULL,
             scratch);
}

void one_row_last_all_bwd(const flash_ops *ops, ca_shape sh, int threads, const float *q,
                          const float *k, const float *v, const float *o, const float *lse,
                          const float *dout, float *dq, float *dk, float *dv, float *scratch)
{
    last_all(ops, sh, threads, 1, q, k, v, NULL, o, NULL, lse, dout, dq, dk, dv, scratch);
}
