/* cubattn_harness.h: what a harness needs to judge an implementation, shared by verify,
 * bench, the tests and the examples: the float64 reference of every operator of the
 * table, one seeded generator of inputs, and the error metric (docs/DESIGN.md §4).
 * Tensors have the layouts of cubattn.h, in double for the reference. */
#ifndef CUBATTN_HARNESS_H
#define CUBATTN_HARNESS_H

#include "cubattn.h"

#include <stdint.h>

/* ---- float64 reference: written for clarity, not speed ---------------------------- */

/* Forward of a sequence operator (e = its forward entry).
 * q: [heads][ca_q_rows(e, n)][d]; k, v: [heads][ca_kv_rows(e, n)][d];
 * o: [heads][ca_out_rows(e, n)][d]; lse likewise; of a window (sh.first > 1) the
 * window's rows (ca_shape_q_rows, ...), counted here on the reference's own.
 * A decode step has its own reference below (CA_ERR_NOT_PROVIDED here). */
ca_status ca_ref_fwd(ca_entry e, ca_shape sh, const double *q, const double *k,
                     const double *v, double *o, double *lse);

/* Backward (e = a backward entry): dq, dk, dv overwritten, shapes of q, k, v. lse is
 * recomputed in float64 rather than trusted from the caller. Of a window, the gradients
 * of its prefixes alone (cubic_shared: as if dO were zero outside it). */
ca_status ca_ref_bwd(ca_entry e, ca_shape sh, const double *q, const double *k,
                     const double *v, const double *o, const double *lse,
                     const double *dout, double *dq, double *dk, double *dv);

/* One decode step at position t: q_t over cache rows 0..t (the caches already hold
 * row t). q_t, o_t: [heads][d]; k_cache, v_cache: [heads][N][d]; lse_t: [heads]. */
ca_status ca_ref_decode_step(ca_shape sh, int t, const double *q_t, const double *k_cache,
                             const double *v_cache, double *o_t, double *lse_t);

/* The row map behind every operator: output row r of one head reads query row q_row and
 * keys key_row .. key_row + len - 1 of the same head. For a decode step, the rows of N
 * successive steps over one sequence (step t: query t, keys 0..t). */
typedef struct ca_ref_row {
    size_t q_row;
    size_t key_row;
    int len;
} ca_ref_row;

/* Rows of entry e (fwd or bwd of the same operator) at shape sh (sh.n, and the window of
 * prefixes sh.first of a per-prefix operator: its rows alone, the layout of cubattn.h's
 * ca_shape) in output order; returns the count and fills rows[] when rows != NULL. */
size_t ca_ref_row_map(ca_entry e, ca_shape sh, ca_ref_row *rows);

/* ---- inputs: one seeded generator -------------------------------------------------- */

/* Element i of stream `seed` is a function of (seed, i) alone: splitmix64, whose state
 * after i + 1 steps is seed + (i + 1) gamma, so element i needs no predecessor; a tensor
 * is the same whatever the thread count that fills it, and the fill runs in parallel.
 * Several tensors drawn from one stream take consecutive ranges of it. */
typedef enum ca_dist {
    CA_DIST_NORMAL,  /* standard normal (Box-Muller) */
    CA_DIST_UNIFORM  /* uniform on [-sqrt 3, sqrt 3]: unit variance, cheap for big tensors */
} ca_dist;

uint64_t ca_rand64(uint64_t seed, uint64_t i);
/* Element i of stream seed under dist, in double (float64 harness code draws these). */
double ca_draw(ca_dist dist, uint64_t seed, uint64_t i);
/* x[i] = scale * (element first + i of stream seed under dist), i < n. */
void ca_fill(float *x, size_t n, ca_dist dist, double scale, uint64_t seed, uint64_t first);

/* ---- the error metric -------------------------------------------------------------- */

/* max|x - ref| / max|ref| over the elements where ref is finite (max|x| when those are
 * all zero); +inf when x is non-finite anywhere ref is finite, or finite anywhere ref is
 * not: non-finite inputs must give non-finite outputs exactly where the reference does
 * (NaN and +-Inf not told apart). */
double ca_rel_err(const float *x, const double *ref, size_t n);
/* max|x - ref|, with the same rule for non-finite elements: for quantities judged by
 * absolute error (lse, a logarithm). */
double ca_abs_err(const float *x, const double *ref, size_t n);
/* A malloc'ed double copy of x (NULL on allocation failure). */
double *ca_to_double(const float *x, size_t n);

#endif
