/* passes.c: the passes of each operator of the table (cubattn.h), their FLOPs
 * (docs/DESIGN.md §3) and the scaling exponents used to predict a cell's time. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

static const char *const pass_names[BP_COUNT] = {"fwd", "bwd", "fwdbwd", "step"};

const char *bpass_name(bpass p) { return (unsigned)p < BP_COUNT ? pass_names[p] : "?"; }

int bpass_parse(const char *s)
{
    for (int i = 0; i < BP_COUNT; i++)
        if (strcmp(s, pass_names[i]) == 0) return i;
    return -1;
}

/* A comma list of names, built once into buf. */
static const char *join(char *buf, size_t cap, int count, const char *(*name)(int))
{
    if (buf[0]) return buf;
    size_t used = 0;
    for (int i = 0; i < count && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", name(i));
    return buf;
}
static const char *pass_at(int i) { return pass_names[i]; }
static const char *op_at(int i) { return ca_op_get((ca_op)i)->name; }

const char *bpass_names(void)
{
    static char buf[128];
    return join(buf, sizeof buf, BP_COUNT, pass_at);
}

const char *op_names(void)
{
    static char buf[256];
    return join(buf, sizeof buf, CA_OP_COUNT, op_at);
}

int op_has_pass(ca_op op, bpass p)
{
    const ca_op_info *info = ca_op_get(op);
    if (info == NULL) return 0;
    if (ca_op_is_step(op)) return p == BP_STEP;
    if (p == BP_FWD) return 1;
    return (p == BP_BWD || p == BP_FWDBWD) && info->bwd != CA_NO_ENTRY;
}

int bpass_runs_bwd(bpass p) { return p == BP_BWD || p == BP_FWDBWD; }

double cell_flops(ca_op op, bpass p, int n, int d, int heads)
{
    double f = 0.0;
    if (p != BP_BWD) f += ca_op_flops(op, 0, n, d, heads);
    if (bpass_runs_bwd(p)) f += ca_op_flops(op, 1, n, d, heads);
    return f;
}

double op_exponent(ca_op op)
{
    const ca_op_info *info = ca_op_get(op);
    switch (info ? info->pairs : CA_PAIRS_PREFIXES) {
    case CA_PAIRS_ROW: return 1.0;
    case CA_PAIRS_TRIANGLE:
    case CA_PAIRS_SQUARE: return 2.0;
    case CA_PAIRS_PREFIXES: return 3.0;
    }
    return 3.0;
}
