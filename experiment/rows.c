/* rows.c: the experiment's CSV files, written and read back by the column tables of
 * lib/results (experiment_format.c), which the report reads them by too: written through
 * lib/csv's csv_out (a temp file renamed over the target), read with its libcsv reader.
 * A row read back must lie in its columns' domains: a work file a crash or a hand
 * damaged must not flow into results/. */
#include "csv_out.h"
#include "experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_rows(const char *path, const csv_format *fmt, const void *rows,
                      size_t row_size, int count)
{
    csv_out *out = csv_out_open("experiment", path, fmt);
    if (!out) return -1;
    for (int r = 0; r < count; r++)
        if (csv_out_record(out, (const char *)rows + (size_t)r * row_size) != 0) {
            csv_out_abort(out);
            return -1;
        }
    return csv_out_commit(out);
}

int rows_write(const char *path, const exp_row *rows, int count)
{
    return write_rows(path, &exp_row_format, rows, sizeof *rows, count);
}

int infer_rows_write(const char *path, const exp_infer_row *rows, int count)
{
    return write_rows(path, &exp_infer_format, rows, sizeof *rows, count);
}

/* The column of r whose value lies outside its domain, or NULL: a fraction outside
 * [0, 1], a negative time, an unknown model or budget. */
static const char *row_domain(const exp_row *r)
{
    if (strcmp(r->model, "causal") && strcmp(r->model, "cubic")) return "model";
    if (strcmp(r->budget, "reference") && strcmp(r->budget, "equal_steps") &&
        strcmp(r->budget, "equal_flops"))
        return "budget";
    if (r->step < 0 || r->step > r->steps_run) return "step";
    if (!(r->wall_s >= 0) || !isfinite(r->wall_s)) return "wall_s";
    /* empty (read as 0, 0) only at step 0, before a step was sampled, as the format says */
    const int jobs_unknown = r->step == 0 && r->jobs_min == 0 && r->jobs_max == 0;
    if (!jobs_unknown && (r->jobs_min < 1 || r->jobs_max < r->jobs_min)) return "jobs_min";
    if (!(r->test_loss >= 0) || !isfinite(r->test_loss)) return "test_loss";
    if (!(r->test_acc >= 0 && r->test_acc <= 1)) return "test_acc";
    if (!(r->seq_acc >= 0 && r->seq_acc <= 1)) return "seq_acc";
    if (!(r->floor_acc > 0 && r->floor_acc <= 1)) return "floor_acc";
    if (!(r->floor_bits >= 0) || !isfinite(r->floor_bits)) return "floor_bits";
    return NULL;
}

static const char *infer_domain(const exp_infer_row *r)
{
    if (strcmp(r->model, "causal") && strcmp(r->model, "cubic")) return "model";
    if (r->sequences < 1 || r->positions < r->sequences) return "positions";
    if (r->mismatches < 0 || r->mismatches > r->positions) return "mismatches";
    if (r->near_ties < 0 || r->near_ties > r->positions) return "near_ties";
    if (!(r->max_rel_diff >= 0)) return "max_rel_diff";
    return NULL;
}

static int outside(const table *t, int r, const char *col)
{
    if (!col) return 0;
    fprintf(stderr, "experiment: %s: record %d: column '%s' is outside its domain\n", t->path,
            r + 2, col);
    return -1;
}

static int check_row(const table *t, int r, void *rec) { return outside(t, r, row_domain(rec)); }
static int check_infer(const table *t, int r, void *rec)
{
    return outside(t, r, infer_domain(rec));
}

/* Every row of path by fmt into *rows (malloc'ed, *count of them), each through check. */
static void *read_rows(const char *path, const csv_format *fmt, size_t row_size, int *count,
                       int (*check)(const table *t, int r, void *rec))
{
    table t;
    if (table_read("experiment", path, &t) != 0) return NULL;
    void *rows = calloc((size_t)t.nrows + 1, row_size);
    *count = rows ? csv_read_table(&t, fmt, "experiment", rows, row_size, check) : -1;
    table_free(&t);
    if (*count < 0) {
        free(rows);
        return NULL;
    }
    return rows;
}

int rows_read(const char *path, exp_row **rows, int *count)
{
    *rows = read_rows(path, &exp_row_format, sizeof **rows, count, check_row);
    return *rows ? 0 : -1;
}

int infer_rows_read(const char *path, exp_infer_row **rows, int *count)
{
    *rows = read_rows(path, &exp_infer_format, sizeof **rows, count, check_infer);
    return *rows ? 0 : -1;
}
