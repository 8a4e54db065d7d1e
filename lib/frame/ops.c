/* ops.c: the operator table of cubattn.h as data, and what is derived from it (entry
 * names, row counts, FLOPs). Nothing here names an operator: CA_OPERATORS does. */
#include "cubattn.h"

#include <stdint.h>
#include <string.h>

static const ca_op_info table[CA_OP_COUNT] = {
#define CA_OP_ROW(id, name, fwd, bwd, q, kv, out, pairs) \
    [id] = {name, fwd, bwd, q, kv, out, pairs},
    CA_OPERATORS(CA_OP_ROW)
#undef CA_OP_ROW
};

/* Entry names are the operator's name and the pass, joined at compile time. */
static const char *const fwd_names[CA_OP_COUNT] = {
#define CA_OP_FWD(id, name, fwd, bwd, q, kv, out, pairs) \
    [id] = q == CA_ROWS_ONE ? name "_step" : name "_fwd",
    CA_OPERATORS(CA_OP_FWD)
#undef CA_OP_FWD
};
static const char *const bwd_names[CA_OP_COUNT] = {
#define CA_OP_BWD(id, name, fwd, bwd, q, kv, out, pairs) [id] = name "_bwd",
    CA_OPERATORS(CA_OP_BWD)
#undef CA_OP_BWD
};

const ca_op_info *ca_op_get(ca_op op)
{
    return (unsigned)op < CA_OP_COUNT ? &table[op] : NULL;
}

int ca_op_parse(const char *name)
{
    for (int i = 0; name != NULL && i < CA_OP_COUNT; i++)
        if (strcmp(name, table[i].name) == 0) return i;
    return -1;
}

ca_op ca_entry_op(ca_entry e)
{
    for (int i = 0; i < CA_OP_COUNT; i++)
        if (e != CA_NO_ENTRY && (table[i].fwd == e || table[i].bwd == e)) return (ca_op)i;
    return CA_OP_COUNT;
}

ca_pass ca_entry_pass(ca_entry e)
{
    const ca_op op = ca_entry_op(e);
    if (op != CA_OP_COUNT && table[op].bwd == e) return CA_PASS_BWD;
    return op != CA_OP_COUNT && ca_op_is_step(op) ? CA_PASS_STEP : CA_PASS_FWD;
}

int ca_op_is_step(ca_op op)
{
    return (unsigned)op < CA_OP_COUNT && table[op].q_rows == CA_ROWS_ONE;
}

int ca_op_has_prefixes(ca_op op)
{
    if ((unsigned)op >= CA_OP_COUNT) return 0;
    const ca_rows r[3] = {table[op].q_rows, table[op].kv_rows, table[op].out_rows};
    for (int i = 0; i < 3; i++)
        if (r[i] == CA_ROWS_PACKED || r[i] == CA_ROWS_LAST) return 1;
    return 0;
}

const char *ca_entry_name(ca_entry e)
{
    ca_op op = ca_entry_op(e);
    if (op == CA_OP_COUNT) return "unknown";
    return table[op].fwd == e ? fwd_names[op] : bwd_names[op];
}

/* n(n+1)/2 without overflow, or 0 if it would. */
static size_t packed_rows_checked(size_t n)
{
    size_t a = n, b = n + 1;
    if (a % 2 == 0) a /= 2; else b /= 2;
    if (a != 0 && b > SIZE_MAX / a) return 0;
    return a * b;
}

size_t ca_rows_of(ca_rows r, int n) { return ca_window_rows(r, n, 1); }

size_t ca_window_rows(ca_rows r, int n, int first)
{
    if (first < 1) first = 1;
    if (n <= 0 || first > n) return 0;
    switch (r) {
    case CA_ROWS_N: return (size_t)n;
    case CA_ROWS_PACKED: /* T(n) - T(first - 1); T(first - 1) <= T(n) fits when T(n) does */
        return packed_rows_checked((size_t)n) == 0
                   ? 0
                   : packed_rows_checked((size_t)n) - ca_prefix_offset((size_t)first);
    case CA_ROWS_ONE: return 1;
    case CA_ROWS_LAST: return (size_t)(n - first + 1);
    }
    return 0;
}

/* Rows of tensor kind `which` (0 q, 1 k/v, 2 o/lse) of entry e at shape sh. */
static size_t entry_rows(ca_entry e, ca_shape sh, int which)
{
    const ca_op op = ca_entry_op(e);
    if (op == CA_OP_COUNT) return 0;
    const ca_rows r = which == 0 ? table[op].q_rows : which == 1 ? table[op].kv_rows
                                                                 : table[op].out_rows;
    return ca_window_rows(r, sh.n, sh.first);
}

size_t ca_shape_q_rows(ca_entry e, ca_shape sh) { return entry_rows(e, sh, 0); }
size_t ca_shape_kv_rows(ca_entry e, ca_shape sh) { return entry_rows(e, sh, 1); }
size_t ca_shape_out_rows(ca_entry e, ca_shape sh) { return entry_rows(e, sh, 2); }
size_t ca_q_rows(ca_entry e, int n) { return entry_rows(e, (ca_shape){.n = n}, 0); }
size_t ca_kv_rows(ca_entry e, int n) { return entry_rows(e, (ca_shape){.n = n}, 1); }
size_t ca_out_rows(ca_entry e, int n) { return entry_rows(e, (ca_shape){.n = n}, 2); }

/* sum of t^p for t = 1..n, p = 1 or 2. */
static double power_sum(double n, int p)
{
    return p == 1 ? n * (n + 1) / 2 : n * (n + 1) * (2 * n + 1) / 6;
}

double ca_shape_flops(ca_op op, int bwd, ca_shape sh)
{
    if ((unsigned)op >= CA_OP_COUNT) return 0.0;
    const double N = sh.n, before = ca_shape_first(sh) - 1;
    double pairs = 0.0;
    /* A window drops the pairs of prefixes 1..first-1: cubic's t^2 each, cubic_last's t
     * (its one row sees t keys); the others have no prefixes. */
    switch (table[op].pairs) {
    case CA_PAIRS_TRIANGLE:
        pairs = power_sum(N, 1) - (ca_op_has_prefixes(op) ? power_sum(before, 1) : 0.0);
        break;
    case CA_PAIRS_SQUARE: pairs = N * N; break;
    case CA_PAIRS_PREFIXES: pairs = power_sum(N, 2) - power_sum(before, 2); break;
    case CA_PAIRS_ROW: pairs = N; break;
    }
    /* Forward: two products (S = Q K^T, O = P V) of 2 d FLOPs per pair; the backward
     * recomputes S and forms dP, dV, dK, dQ: five. */
    return (bwd ? 2.5 : 1.0) * 4.0 * (double)sh.d * pairs * (double)sh.heads;
}

double ca_op_flops(ca_op op, int bwd, int n, int d, int heads)
{
    return ca_shape_flops(op, bwd, (ca_shape){.n = n, .d = d, .heads = heads});
}
