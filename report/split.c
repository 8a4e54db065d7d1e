/* split.c: the rows of bench --split (results/split.csv, docs/DESIGN.md §5.6) read back,
 * and the one line the roofline targets give for a cell: how its time splits into tile
 * products, the rest (softmax, rescales, masks, bookkeeping, waits) and packing, and the
 * bound on the fraction of the FMA peak that split implies. */
#include "report.h"

#include <errno.h>
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

/* A numeric field: NaN when empty; -1 on text that is not a finite number. */
static int num(const table *t, int r, int c, double *x)
{
    const char *s = c >= 0 ? t->rows[r][c] : "";
    if (s[0] == '\0') {
        *x = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(*x)) {
        fprintf(stderr, "report: %s: record %d: column '%s' is not a number: '%s'\n", t->path,
                r + 2, t->header[c], s);
        return -1;
    }
    return 0;
}

static int whole(const table *t, int r, int c, int *x)
{
    double v;
    if (num(t, r, c, &v) != 0) return -1;
    if (!(v >= 1) || v != floor(v) || v > 2e9) return refuse(t, r, t->header[c], "must be an integer >= 1");
    *x = (int)v;
    return 0;
}

int split_is_table(const table *t) { return table_col(t, "t_products_s") >= 0; }

int load_split(const table *t, dataset *ds)
{
    enum { IMPL, OP, PASS, N, D, HEADS, THREADS, TOTAL, PROD, PACK, OTHER, STATUS, NREQ };
    static const char *const names[NREQ] = {
        "impl", "op", "pass", "n", "d", "heads", "threads", "t_total_s", "t_products_s",
        "t_packing_s", "t_other_s", "status"};
    int c[NREQ];
    for (int i = 0; i < NREQ; i++)
        if ((c[i] = table_col(t, names[i])) < 0) {
            fprintf(stderr, "report: %s: split results lack the column '%s'\n", t->path,
                    names[i]);
            return -1;
        }
    const int c_out = table_col(t, "t_outside_s"), c_flops = table_col(t, "flops"),
              c_peak = table_col(t, "peak_gflops"), c_date = table_col(t, "date"),
              c_cpu = table_col(t, "cpu");
    srow *s = realloc(ds->sp, (size_t)(ds->nsp + t->nrows + 1) * sizeof *s);
    if (!s) return -1;
    ds->sp = s;
    for (int r = 0; r < t->nrows; r++) {
        srow *x = &ds->sp[ds->nsp];
        memset(x, 0, sizeof *x);
        x->impl = t->rows[r][c[IMPL]];
        x->op = t->rows[r][c[OP]];
        x->pass = t->rows[r][c[PASS]];
        x->status = t->rows[r][c[STATUS]];
        x->date = c_date >= 0 ? t->rows[r][c_date] : "";
        x->cpu = c_cpu >= 0 ? t->rows[r][c_cpu] : "";
        x->file = t->path;
        if (whole(t, r, c[N], &x->n) || whole(t, r, c[D], &x->d) ||
            whole(t, r, c[HEADS], &x->heads) || whole(t, r, c[THREADS], &x->threads) ||
            num(t, r, c[TOTAL], &x->t_total) || num(t, r, c[PROD], &x->t_products) ||
            num(t, r, c[PACK], &x->t_packing) || num(t, r, c[OTHER], &x->t_other) ||
            num(t, r, c_out, &x->t_outside) || num(t, r, c_flops, &x->flops) ||
            num(t, r, c_peak, &x->peak))
            return -1;
        if (x->impl[0] == '\0') return refuse(t, r, "impl", "is empty");
        if (x->status[0] == '\0') return refuse(t, r, "status", "is empty");
        const int op = ca_op_parse(x->op), pass = bpass_parse(x->pass);
        if (op < 0 || pass < 0 || !op_has_pass(op, pass)) {
            fprintf(stderr, "report: %s: record %d: operator '%s' pass '%s' is not one this "
                            "suite's bench times\n", t->path, r + 2, x->op, x->pass);
            return -1;
        }
        x->ok = strcmp(x->status, "ok") == 0;
        if (x->ok) {
            /* The bench writes other = total - products - packing, each part a time
             * inside the call: a negative part or a sum off the total is damage. */
            if (!(x->t_total > 0)) return refuse(t, r, "t_total_s", "must be > 0 in a row with status ok");
            if (!(x->t_products >= 0)) return refuse(t, r, "t_products_s", "must be >= 0");
            if (!(x->t_packing >= 0)) return refuse(t, r, "t_packing_s", "must be >= 0");
            if (!(x->t_other >= -(NEG_TOL_REL * x->t_total + NEG_TOL_ABS)))
                return refuse(t, r, "t_other_s", "must be >= 0 (t_products_s + t_packing_s exceed t_total_s)");
            const double neg = NEG_TOL_REL * x->t_total + NEG_TOL_ABS;
            if (!isnan(x->t_outside) &&
                !(x->t_outside >= -neg && x->t_outside <= x->t_other + neg))
                return refuse(t, r, "t_outside_s", "must be >= 0 and <= t_other_s");
            if (fabs(x->t_products + x->t_packing + x->t_other - x->t_total) > SUM_TOL * x->t_total)
                return refuse(t, r, "t_other_s", "t_products_s + t_packing_s + t_other_s differs from t_total_s");
            if (!isnan(x->peak) && !(x->peak > 0)) return refuse(t, r, "peak_gflops", "must be > 0");
            if (!isnan(x->flops) && !(x->flops > 0)) return refuse(t, r, "flops", "must be > 0");
        }
        ds->nsp++;
    }
    return 0;
}

/* The cell's ok row of the latest run (the faster on a tie, e.g. two implementations). */
static const srow *find(const dataset *ds, const char *op, const char *pass, int n, int d,
                        int heads, int threads)
{
    const srow *best = NULL;
    for (int i = 0; i < ds->nsp; i++) {
        const srow *x = &ds->sp[i];
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
    const srow *x = find(ds, op, pass, n, d, heads, threads);
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
