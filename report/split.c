/* split.c: the rows of bench --split (results/split.csv, docs/DESIGN.md §5.6) read back,
 * and the one line the roofline targets give for a cell: how its time splits into tile
 * products, the rest (softmax, rescales, masks, bookkeeping, waits) and packing, and the
 * bound on the fraction of the FMA peak that split implies. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The written parts are rounded to 7 significant digits each (%.6e): their sum may miss
 * the total by that much, never more. */
#define SUM_TOL 1e-5

static int refuse(const table *t, int r, const char *col, const char *why)
{
    fprintf(stderr, "report: %s: record %d: column '%s' %s\n", t->path, r + 2, col, why);
    return -1;
}

int split_is_table(const table *t) { return table_col(t, "t_products_s") >= 0; }

/* An ok row's parts: each a time inside the call, adding up to its total. The bench
 * writes other = total - products - packing: a negative part or a sum off the total is
 * damage. */
static int check_parts(const table *t, int r, const split_record *x)
{
    if (!(x->t_total > 0)) return refuse(t, r, "t_total_s", "must be > 0 in a row with status ok");
    if (!(x->t_products >= 0)) return refuse(t, r, "t_products_s", "must be >= 0");
    if (!(x->t_packing >= 0)) return refuse(t, r, "t_packing_s", "must be >= 0");
    const double neg = NEG_TOL_REL * x->t_total + NEG_TOL_ABS;
    if (!(x->t_other >= -neg))
        return refuse(t, r, "t_other_s", "must be >= 0 (t_products_s + t_packing_s exceed t_total_s)");
    if (!isnan(x->t_outside) && !(x->t_outside >= -neg && x->t_outside <= x->t_other + neg))
        return refuse(t, r, "t_outside_s", "must be >= 0 and <= t_other_s");
    if (fabs(x->t_products + x->t_packing + x->t_other - x->t_total) > SUM_TOL * x->t_total)
        return refuse(t, r, "t_other_s", "t_products_s + t_packing_s + t_other_s differs from t_total_s");
    if (!isnan(x->peak) && !(x->peak > 0)) return refuse(t, r, "peak_gflops", "must be > 0");
    if (!isnan(x->flops) && !(x->flops > 0)) return refuse(t, r, "flops", "must be > 0");
    return 0;
}

int split_check(const table *t, int r, void *rec)
{
    split_record *x = rec;
    x->file = t->path;
    const struct { const char *name; int v; } whole[] = {
        {"n", x->n}, {"d", x->d}, {"heads", x->heads}, {"threads", x->threads}};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
        if (whole[i].v < 1) return refuse(t, r, whole[i].name, "must be an integer >= 1");
    if (x->impl[0] == '\0') return refuse(t, r, "impl", "is empty");
    if (x->status[0] == '\0') return refuse(t, r, "status", "is empty");
    const int op = ca_op_parse(x->op), pass = bpass_parse(x->pass);
    if (op < 0 || pass < 0 || !op_has_pass(op, pass)) {
        fprintf(stderr, "report: %s: record %d: operator '%s' pass '%s' is not one this "
                        "suite's bench times\n", t->path, r + 2, x->op, x->pass);
        return -1;
    }
    x->ok = strcmp(x->status, "ok") == 0;
    return x->ok ? check_parts(t, r, x) : 0;
}

/* The cell's ok row of the latest run (the faster on a tie, e.g. two implementations). */
static const split_record *find(const dataset *ds, const char *op, const char *pass, int n,
                                int d, int heads, int threads)
{
    const split_record *best = NULL;
    for (int i = 0; i < ds->nsp; i++) {
        const split_record *x = &ds->sp[i];
        if (!x->ok || x->n != n || x->d != d || x->heads != heads || x->threads != threads ||
            strcmp(x->op, op) != 0 || strcmp(x->pass, pass) != 0)
            continue;
        const int c = best ? strcmp(x->date, best->date) : 1;
        if (c > 0 || (c == 0 && x->t_total < best->t_total)) best = x;
    }
    return best;
}

const char *split_line(const dataset *ds, const char *op, const char *pass, int n, int d,
                       int heads, int threads)
{
    static char buf[4][400];
    static int next;
    const split_record *x = find(ds, op, pass, n, d, heads, threads);
    if (!x) return NULL;
    char *out = buf[next++ % 4];
    const size_t cap = sizeof buf[0];
    const double T = x->t_total;
    const double other = x->t_other > 0 ? x->t_other : 0; /* within the tolerance of 0 */
    int k = snprintf(out, cap, "split (%s): products %.0f%%", x->impl, 100 * x->t_products / T);
    const int rated = x->flops > 0 && x->t_products > 0;
    const int peaked = rated && x->peak > 0;
    const double fp = peaked ? x->flops / x->t_products / 1e9 / x->peak : NAN;
    if (peaked) k += snprintf(out + k, cap - (size_t)k, " (%.2f of peak)", fp);
    else if (rated) k += snprintf(out + k, cap - (size_t)k, " (%.1f GFLOP/s)", x->flops / x->t_products / 1e9);
    k += snprintf(out + k, cap - (size_t)k, ", softmax etc. %.0f%%", 100 * other / T);
    if (!isnan(x->t_outside))
        k += snprintf(out + k, cap - (size_t)k, " (%.0f%% outside the engine)",
                      100 * (x->t_outside > 0 ? x->t_outside : 0) / T);
    k += snprintf(out + k, cap - (size_t)k, ", packing %.0f%%", 100 * x->t_packing / T);
    if (peaked) {
        /* Products at their measured rate cap the cell at fp even with free softmax and
         * packing; products at the peak with the rest as measured cap it at best. */
        const double tp = x->flops / (x->peak * 1e9);
        const double best = tp / (tp + other + x->t_packing);
        snprintf(out + k, cap - (size_t)k,
                 "; products alone bound it at %.2f, products at peak with the rest as "
                 "measured at %.2f", fp, best);
    }
    return out;
}
