/* problem.h: one verification case, i.e. an operator, a shape and an input pattern, with
 * its float32 inputs, its float64 reference outputs, and the calls that run an
 * implementation on it. */
#ifndef PROBLEM_H
#define PROBLEM_H

#include "cubattn.h"
#include "cubattn_harness.h"

#include <stdint.h>

/* The operators under test are the rows of the operator table (ca_op). A decode step
 * is checked over a whole sequence: N steps, q/k/v/o of [heads][N][d], lse [heads][N]. */
const char *op_name(ca_op op);
/* Outputs per prefix (packed rows): a reference cost of Theta(N^3 d). cubic_last is not
 * one (N outputs over Theta(N^2) keys), though its k, v are packed. */
int op_per_prefix(ca_op op);
/* Inputs shared by every prefix: each input row feeds Theta(N^2) output rows. */
int op_shared_inputs(ca_op op);

/* Input patterns, the last five chosen to break softmax implementations. */
typedef enum input_kind {
    IN_NORMAL,      /* standard normal q, k, v */
    IN_LOGITS_1E2,  /* q scaled by 1e2: near-argmax softmax */
    IN_LOGITS_1E4,  /* q scaled by 1e4: exp overflows without the max shift */
    IN_EQUAL,       /* zero queries: all scores equal, uniform softmax */
    IN_DOMINANT,    /* one key aligned with every query, far above the rest */
    IN_ZEROS,       /* q, k, v all zero */
    IN_COUNT
} input_kind;

const char *input_name(input_kind kind);

/* Non-finite inputs (docs/DESIGN.md §4.5 asks for finite outputs from finite inputs; these
 * ask the converse): one NaN or +-Inf placed in q, k, v or dO, as one element or a whole
 * row (of q: a query row; of k or v: a key row; of dO: an output row). Every output
 * element must then be non-finite exactly where the float64 reference's is. */
typedef enum nf_tensor { NF_Q, NF_K, NF_V, NF_DOUT, NF_TENSORS } nf_tensor;
typedef enum nf_value { NF_NAN, NF_POS_INF, NF_NEG_INF, NF_VALUES } nf_value;
typedef enum nf_place { NF_ELEMENT, NF_ROW, NF_PLACES } nf_place;
typedef struct nonfinite {
    nf_tensor tensor;
    nf_value value;
    nf_place place;
} nonfinite;

/* The i-th of the NF_TENSORS * NF_VALUES * NF_PLACES placements, and its name
 * ("nan in q element", "-inf in k row", ...). */
#define NONFINITE_COUNT (NF_TENSORS * NF_VALUES * NF_PLACES)
nonfinite nonfinite_at(int i);
const char *nonfinite_name(nonfinite nf, char *buf, size_t len);

/* Float32 tensors of one problem; the four gradients of a backward are one set. */
typedef struct tensors {
    float *o, *lse, *dq, *dk, *dv;
} tensors;

typedef struct problem {
    ca_op op;
    ca_shape sh;
    input_kind kind;
    size_t q_elems;    /* heads * q rows * d (and dq) */
    size_t kv_elems;   /* heads * k/v rows * d (and dk, dv): cubic_last's are packed */
    size_t out_elems;  /* heads * output rows * d */
    size_t lse_elems;  /* heads * output rows */
    float *q, *k, *v, *dout;          /* dout = W of the loss L = sum(o * W) */
    double *ro, *rlse, *rdq, *rdk, *rdv; /* float64 reference (NULL until computed) */
    double max_abs_logit;              /* max |S_ij| over the reference's finite logits */
    /* max over the reference's finite elements of its magnitude (problem.c): the
     * scale of a float32 result's rounding error, >= max|ref|, far above it where the
     * terms of the result cancel. 0 until computed; dq, dk, dv only with a backward. */
    double mag_o, mag_dq, mag_dk, mag_dv;
    /* Logit-scaled inputs only (input_logit_scaled): the largest element of the first-order
     * error bound of any float32 implementation (tolerance.h, F1-B5), absolute, over the
     * reference's finite elements; 0 otherwise. */
    double bound_o, bound_lse, bound_dq, bound_dk, bound_dv;
} problem;

/* Are kind's logits scaled up (x1e2, x1e4), so that the scores' rounding decides the
 * error and verify holds every implementation to the derived bound (tolerance.h)? */
int input_logit_scaled(input_kind kind);

/* Longest float32 sum behind the tensors of p's operator: keys per row, d per dot
 * product, and rows per dK/dV column (for cubic_shared, every (t, i) row with t >= j);
 * bwd = 0: the forward's. */
size_t problem_longest_sum(const problem *p, int bwd);

/* The bound_* fields of p from its double inputs (error_bound.c); p->ro, p->rlse and,
 * with a backward, p->rdq, p->rdk, p->rdv computed. */
ca_status problem_error_bounds(problem *p, const double *q, const double *k, const double *v,
                               const double *dout);

/* Allocates and fills inputs from a seed; returns CA_OK or CA_ERR_NOMEM. */
ca_status problem_init(problem *p, ca_op op, ca_shape sh, input_kind kind, uint64_t seed);
/* Places nf in p's inputs (before problem_reference). */
void problem_set_nonfinite(problem *p, nonfinite nf);
void problem_free(problem *p);

/* Computes the float64 reference forward (and backward when the op has one). */
ca_status problem_reference(problem *p);

ca_status tensors_alloc(const problem *p, tensors *t);
void tensors_free(tensors *t);

/* Runs impl's forward (and backward, if with_bwd) on p's inputs into out, whose
 * tensors are first filled with NaN so that unwritten elements cannot pass. For
 * a decode step this is N decode steps into a fresh cache. Returns the first failing
 * status (CA_ERR_NOT_PROVIDED if impl lacks an entry). */
ca_status problem_run(const problem *p, const ca_impl *impl, int threads, int with_bwd,
                      tensors *out);

/* impl's backward alone on p's inputs, given the o and lse already in out (a forward's,
 * or the reference's rounded to float32), into out's gradients, NaN-filled first. */
ca_status problem_run_bwd(const problem *p, const ca_impl *impl, int threads, tensors *out);

/* Head-dimension orderings of the baseline: ordering v feeds q, k, v, dout with their
 * columns permuted (v = 0 is the identity) and un-permutes o, dq, dk, dv. Every exact
 * result is unchanged; only the float32 roundings of the dot products differ. */
#define BASELINE_ORDERINGS 3
ca_status problem_run_reordered(const problem *p, const ca_impl *impl, int threads,
                                int with_bwd, int ordering, tensors *out);

/* Same, but forward only on explicit inputs of p's shape (used by finite differences). */
ca_status problem_run_fwd_on(const problem *p, const ca_impl *impl, int threads,
                             const float *q, const float *k, const float *v, tensors *out);

/* The forward and backward entries of p's operator (bwd: CA_NO_ENTRY if none). */
ca_entry problem_fwd(const problem *p);
ca_entry problem_bwd(const problem *p);

#endif
