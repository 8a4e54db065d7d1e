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

size_t ca_rows_of(ca_rows r, int n)
{
    if (n <= 0) return 0;
    switch (r) {
    case CA_ROWS_N: return (size_t)n;
    case CA_ROWS_PACKED: return packed_rows_checked((size_t)n);
    case CA_ROWS_ONE: return 1;
    }
    return 0;
}

size_t ca_q_rows(ca_entry e, int n)
{
    ca_op op = ca_entry_op(e);
    return op == CA_OP_COUNT ? 0 : ca_rows_of(table[op].q_rows, n);
}

size_t ca_kv_rows(ca_entry e, int n)
{
    ca_op op = ca_entry_op(e);
    return op == CA_OP_COUNT ? 0 : ca_rows_of(table[op].kv_rows, n);
}

size_t ca_out_rows(ca_entry e, int n)
{
    ca_op op = ca_entry_op(e);
    return op == CA_OP_COUNT ? 0 : ca_rows_of(table[op].out_rows, n);
}

double ca_op_flops(ca_op op, int bwd, int n, int d, int heads)
{
    if ((unsigned)op >= CA_OP_COUNT) return 0.0;
    const double N = n;
    double pairs = 0.0;
    switch (table[op].pairs) {
    case CA_PAIRS_TRIANGLE: pairs = N * (N + 1) / 2; break;
    case CA_PAIRS_SQUARE: pairs = N * N; break;
    case CA_PAIRS_PREFIXES: pairs = N * (N + 1) * (2 * N + 1) / 6; break;
    case CA_PAIRS_ROW: pairs = N; break;
    }
    /* Forward: two products (S = Q K^T, O = P V) of 2 d FLOPs per pair; the backward
     * recomputes S and forms dP, dV, dK, dQ: five. */
    return (bwd ? 2.5 : 1.0) * 4.0 * (double)d * pairs * (double)heads;
}
