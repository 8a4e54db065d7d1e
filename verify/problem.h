/* problem.h: one verification case, i.e. an operator, a shape and an input pattern, with
 * its float32 inputs, its float64 reference outputs, and the calls that run an
 * implementation on it. */
#ifndef PROBLEM_H
#define PROBLEM_H

#include "cubattn.h"

#include <stdint.h>

/* The operators under test; decode is the causal operator computed token by token. */
typedef enum op_kind { OP_CAUSAL, OP_FULL, OP_CUBIC, OP_SHARED, OP_DECODE, OP_COUNT } op_kind;

const char *op_name(op_kind op);
ca_entry op_fwd_entry(op_kind op);    /* the entry whose rows/layout the op uses */
ca_entry op_bwd_entry(op_kind op);    /* CA_ENTRY_COUNT when the op has no backward */

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

/* Float32 tensors of one problem; the four gradients of a backward are one set. */
typedef struct tensors {
    float *o, *lse, *dq, *dk, *dv;
} tensors;

typedef struct problem {
    op_kind op;
    ca_shape sh;
    input_kind kind;
    size_t in_elems;   /* heads * input rows * d */
    size_t out_elems;  /* heads * output rows * d */
    size_t lse_elems;  /* heads * output rows */
    float *q, *k, *v, *dout;          /* dout = W of the loss L = sum(o * W) */
    double *ro, *rlse, *rdq, *rdk, *rdv; /* float64 reference (NULL until computed) */
    double max_abs_logit;              /* max |S_ij| over the reference's rows */
} problem;

/* Allocates and fills inputs from a seed; returns CA_OK or CA_ERR_NOMEM. */
ca_status problem_init(problem *p, op_kind op, ca_shape sh, input_kind kind, uint64_t seed);
void problem_free(problem *p);

/* Computes the float64 reference forward (and backward when the op has one). */
ca_status problem_reference(problem *p);

ca_status tensors_alloc(const problem *p, tensors *t);
void tensors_free(tensors *t);

/* Runs impl's forward (and backward, if with_bwd) on p's inputs into out, whose
 * tensors are first filled with NaN so that unwritten elements cannot pass. For
 * OP_DECODE this is N decode steps into a fresh cache. Returns the first failing
 * status (CA_ERR_NOT_PROVIDED if impl lacks an entry). */
ca_status problem_run(const problem *p, const ca_impl *impl, int threads, int with_bwd,
                      tensors *out);

/* Head-dimension orderings of the baseline: ordering v feeds q, k, v, dout with their
 * columns permuted (v = 0 is the identity) and un-permutes o, dq, dk, dv. Every exact
 * result is unchanged; only the float32 roundings of the dot products differ. */
#define BASELINE_ORDERINGS 3
ca_status problem_run_reordered(const problem *p, const ca_impl *impl, int threads,
                                int with_bwd, int ordering, tensors *out);

/* Same, but forward only on explicit inputs of p's shape (used by finite differences). */
ca_status problem_run_fwd_on(const problem *p, const ca_impl *impl, int threads,
                             const float *q, const float *k, const float *v, tensors *out);

/* max|x - ref| / max|ref| (max|x| when ref is all zero); +inf if x has a non-finite. */
double rel_err(const float *x, const double *ref, size_t n);
/* max|a - b| / max|b| between two float32 results (+inf on non-finite). */
double rel_diff(const float *a, const float *b, size_t n);

/* Deterministic random numbers (splitmix64): the same seed gives the same inputs. */
uint64_t rng_next(uint64_t *state);
double rng_normal(uint64_t *state);

#endif
