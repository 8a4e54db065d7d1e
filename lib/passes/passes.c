/* passes.c: the passes of each operator of the table (cubattn.h), their FLOPs
 * (docs/DESIGN.md §3) and the scaling exponents used to predict a cell's time. */
#include "passes.h"

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

/* Compulsory traffic of one call of entry e (docs/DESIGN.md §3), in float elements of one
 * head, from the operator table's rows: a forward reads q, k, v and writes o and lse; a
 * backward reads q, k, v, o, dO and lse and writes dq, dk, dv; a step reads q and the
 * K and V cache rows 0..t (t + 1 = n rows, the one it appends included) and writes o and
 * lse. */
static double entry_traffic(ca_op op, ca_entry e, int n, int d)
{
    const double q = (double)ca_q_rows(e, n), kv = (double)ca_kv_rows(e, n),
                 out = (double)ca_out_rows(e, n);
    if (ca_op_is_step(op)) return q * d + 2.0 * n * d + out * (d + 1);
    if (e == ca_op_get(op)->bwd) return 2.0 * (q + 2.0 * kv) * d + out * (2.0 * d + 1);
    return (q + 2.0 * kv) * d + out * (d + 1);
}

double cell_traffic(ca_op op, bpass p, int n, int d, int heads)
{
    const ca_op_info *info = ca_op_get(op);
    if (!info) return 0.0;
    double f = 0.0;
    if (p != BP_BWD) f += entry_traffic(op, info->fwd, n, d);
    if (bpass_runs_bwd(p) && info->bwd != CA_NO_ENTRY) f += entry_traffic(op, info->bwd, n, d);
    return f * heads * sizeof(float);
}

int bpass_cold(ca_op op, bpass p) { return ca_op_is_step(op) && p == BP_STEP; }
