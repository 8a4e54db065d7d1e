/* ops.c: the bench's operators and passes, their contract entries, FLOPs (DESIGN.md §3)
 * and the scaling exponents used to predict a cell's time. */
#include "bench.h"

#include <string.h>

static const char *const op_names[BOP_COUNT] = {"causal", "full", "cubic", "cubic_shared",
                                                "decode"};
static const char *const pass_names[BP_COUNT] = {"fwd", "bwd", "fwdbwd", "kv_step",
                                                 "full_step"};

const char *bop_name(bop op) { return (unsigned)op < BOP_COUNT ? op_names[op] : "?"; }
const char *bpass_name(bpass p) { return (unsigned)p < BP_COUNT ? pass_names[p] : "?"; }

int bop_parse(const char *s)
{
    for (int i = 0; i < BOP_COUNT; i++)
        if (strcmp(s, op_names[i]) == 0) return i;
    return -1;
}

int bpass_parse(const char *s)
{
    for (int i = 0; i <= BP_FWDBWD; i++)
        if (strcmp(s, pass_names[i]) == 0) return i;
    return -1;
}

int cell_kind_exists(bop op, bpass p)
{
    if (op == BOP_DECODE) return p == BP_KV_STEP || p == BP_FULL_STEP;
    if (p == BP_KV_STEP || p == BP_FULL_STEP) return 0;
    if (op == BOP_FULL) return p == BP_FWD; /* the contract has no full backward */
    return 1;
}

ca_entry bop_fwd_entry(bop op)
{
    switch (op) {
    case BOP_CAUSAL: return CA_CAUSAL_FWD;
    case BOP_FULL: return CA_FULL_FWD;
    case BOP_CUBIC: return CA_CUBIC_FWD;
    case BOP_SHARED: return CA_SHARED_FWD;
    case BOP_DECODE: return CA_DECODE_STEP;
    case BOP_COUNT: break;
    }
    return CA_ENTRY_COUNT;
}

ca_entry bop_bwd_entry(bop op)
{
    switch (op) {
    case BOP_CAUSAL: return CA_CAUSAL_BWD;
    case BOP_CUBIC: return CA_CUBIC_BWD;
    case BOP_SHARED: return CA_SHARED_BWD;
    default: return CA_ENTRY_COUNT;
    }
}

double cell_flops(bop op, bpass p, int n, int d, int heads)
{
    const double N = n, D = d, H = heads;
    double fwd;
    switch (op) {
    case BOP_CAUSAL: fwd = 4.0 * D * N * (N + 1) / 2; break;
    case BOP_FULL: fwd = 4.0 * D * N * N; break;
    case BOP_CUBIC:
    case BOP_SHARED: fwd = 4.0 * D * N * (N + 1) * (2 * N + 1) / 6; break;
    case BOP_DECODE:
        /* kv_step: one query row against t keys; full_step: full pass over t tokens */
        return H * (p == BP_KV_STEP ? 4.0 * D * N : 4.0 * D * N * N);
    default: return 0;
    }
    double mult = p == BP_FWD ? 1.0 : p == BP_BWD ? 2.5 : 3.5;
    return H * fwd * mult;
}

double cell_exponent(bop op, bpass p)
{
    switch (op) {
    case BOP_CAUSAL:
    case BOP_FULL: return 2.0;
    case BOP_CUBIC:
    case BOP_SHARED: return 3.0; /* the straightforward algorithm; conservative */
    case BOP_DECODE: return p == BP_KV_STEP ? 1.0 : 2.0;
    default: return 3.0;
    }
}
