/* passes.h: the passes of each operator of the table (cubattn.h) that the bench times and
 * the report reads back: their names, FLOPs (docs/DESIGN.md §3), compulsory traffic and
 * scaling exponents. */
#ifndef PASSES_H
#define PASSES_H

#include "cubattn.h"

/* Operators are the rows of the operator table (ca_op, cubattn.h). Their passes: fwd,
 * bwd and fwdbwd for an operator with a backward, fwd for one without, and step for a
 * decode step (one step at position t-1 against a KV cache of t rows: the per-token cost
 * of causal inference; cubic inference per token is a full pass over the prefix, the
 * full fwd cell at N = t). */
typedef enum bpass { BP_FWD, BP_BWD, BP_FWDBWD, BP_STEP, BP_COUNT } bpass;

const char *bpass_name(bpass p);
int bpass_parse(const char *s);  /* -1 if unknown */
/* "fwd, bwd, fwdbwd, step" and "causal, full, ...": the lists --help and errors show. */
const char *bpass_names(void);
const char *op_names(void);

/* Does operator op have pass p; does the pass call the backward. */
int op_has_pass(ca_op op, bpass p);
int bpass_runs_bwd(bpass p);
/* FLOPs of one call by docs/DESIGN.md §3, heads included. n = context t for a step. */
double cell_flops(ca_op op, bpass p, int n, int d, int heads);
/* Bytes a call must move at least (docs/DESIGN.md §3): every input read once and every
 * output written once, 4 bytes an element, heads included; a step reads the whole K and
 * V cache up to t = n. */
double cell_traffic(ca_op op, bpass p, int n, int d, int heads);
/* Is the pass timed cold (caches evicted before each timed call: a decode step, which a
 * model runs once per token per layer on a cache that has left the LLC)? */
int bpass_cold(ca_op op, bpass p);
/* Scaling exponent in N of the operator's work (2 for N^2, 3 for N^3, 1 for a step):
 * the prediction of a cell's time from its chain's previous one. */
double op_exponent(ca_op op);

#endif
