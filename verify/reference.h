/* reference.h: the float64 reference of every operator and its backward (DESIGN.md §2).
 * Same layouts as cubattn.h, in double. Written for clarity, not speed: each output row
 * stores its probabilities and the backward follows the formulas line by line. */
#ifndef REFERENCE_H
#define REFERENCE_H

#include "cubattn.h"

/* Forward of causal / full / cubic / shared (e = CA_*_FWD).
 * q, k, v: [heads][ca_in_rows(e, n)][d]; o: [heads][ca_out_rows(e, n)][d]; lse likewise. */
ca_status ref_fwd(ca_entry e, ca_shape sh, const double *q, const double *k,
                  const double *v, double *o, double *lse);

/* Backward (e = CA_*_BWD): dq, dk, dv overwritten, shapes of q, k, v. */
ca_status ref_bwd(ca_entry e, ca_shape sh, const double *q, const double *k,
                  const double *v, const double *o, const double *lse, const double *dout,
                  double *dq, double *dk, double *dv);

/* The row map shared by every operator: output row r of one head reads query row
 * q_row and keys key_row .. key_row + len - 1 of the same head. */
typedef struct ref_row {
    size_t q_row;
    size_t key_row;
    int len;
} ref_row;

/* Rows of entry e (fwd or bwd of the same operator) in output order; returns the count
 * (ca_out_rows) and fills rows[] when rows != NULL. */
size_t ref_row_map(ca_entry e, int n, ref_row *rows);

#endif
