/* rows.c: the experiment's CSV files, written through libcsv in the style of the
 * bench's (bench/csv_out.c: every field quoted by csv_fwrite, a temp file renamed over
 * the target) and read back with the libcsv reader of lib/csv (table.c).
 * Each file's columns are one table below: name, type, field of the row struct. An
 * empty numeric field is NaN (a metric a task does not have, e.g. bits/char of Count3),
 * and so is an optional column (marked below) that an older file lacks. */
#include "experiment.h"
#include "table.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum coltype { COL_STR, COL_INT, COL_DBL } coltype;
typedef struct column {
    const char *name;
    coltype type;
    size_t off, size; /* the field in the row struct; size for strings */
    int optional;     /* may be absent from a file (added later): read as NaN */
} column;

#define STR(T, f) {#f, COL_STR, offsetof(T, f), sizeof(((T *)0)->f), 0}
#define INT(T, f) {#f, COL_INT, offsetof(T, f), 0, 0}
#define DBL(T, f) {#f, COL_DBL, offsetof(T, f), 0, 0}
#define DBL_OPT(T, f) {#f, COL_DBL, offsetof(T, f), 0, 1}

/* results/experiment.csv: one row per evaluation point (exp_row). */
static const column row_cols[] = {
    STR(exp_row, task), STR(exp_row, setting), INT(exp_row, layers), INT(exp_row, n),
    INT(exp_row, m), INT(exp_row, vocab), INT(exp_row, d_model), INT(exp_row, heads),
    INT(exp_row, batch), INT(exp_row, params), STR(exp_row, model), INT(exp_row, seed),
    STR(exp_row, budget), INT(exp_row, step), INT(exp_row, steps_cubic),
    INT(exp_row, steps_flops), INT(exp_row, steps_run), DBL(exp_row, flops_per_step),
    DBL(exp_row, train_flops), DBL(exp_row, wall_s), INT(exp_row, jobs_min),
    INT(exp_row, jobs_max), DBL(exp_row, train_loss), DBL(exp_row, test_loss),
    DBL(exp_row, test_bits), DBL(exp_row, test_acc), DBL(exp_row, seq_acc),
    STR(exp_row, pos_acc), DBL(exp_row, floor_acc), DBL(exp_row, floor_bits),
    STR(exp_row, impl), INT(exp_row, threads), STR(exp_row, cpu), STR(exp_row, commit),
};
/* results/experiment_infer.csv: one row per trained model (exp_infer_row). */
static const column infer_cols[] = {
    STR(exp_infer_row, task), STR(exp_infer_row, setting), STR(exp_infer_row, model),
    INT(exp_infer_row, seed), INT(exp_infer_row, steps_run), INT(exp_infer_row, sequences),
    INT(exp_infer_row, positions), INT(exp_infer_row, mismatches),
    INT(exp_infer_row, near_ties), DBL(exp_infer_row, max_rel_diff),
    DBL_OPT(exp_infer_row, prefill_s), DBL_OPT(exp_infer_row, generate_s),
};
#define NCOLS(a) (int)(sizeof(a) / sizeof((a)[0]))

static void put(FILE *f, int first, const char *s)
{
    if (!first) fputc(',', f);
    csv_fwrite(f, s, strlen(s));
}

static int write_table(const char *path, const column *cols, int ncols, const void *rows,
                       size_t row_size, int count)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "experiment: cannot write '%s': %s\n", tmp, strerror(errno));
        return -1;
    }
    for (int c = 0; c < ncols; c++) put(f, c == 0, cols[c].name);
    fputc('\n', f);
    for (int r = 0; r < count; r++) {
        const char *row = (const char *)rows + (size_t)r * row_size;
        for (int c = 0; c < ncols; c++) {
            char buf[64] = "";
            const char *p = row + cols[c].off;
            if (cols[c].type == COL_STR) {
                put(f, c == 0, p);
                continue;
            }
            if (cols[c].type == COL_INT) {
                snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)p);
            } else {
                const double x = *(const double *)p;
                if (!isnan(x)) snprintf(buf, sizeof buf, "%.9g", x);
            }
            put(f, c == 0, buf);
        }
        fputc('\n', f);
    }
    int bad = fflush(f) != 0 || ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        fprintf(stderr, "experiment: cannot write '%s': %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static int read_table(const char *path, const column *cols, int ncols, void **rows,
                      size_t row_size, int *count)
{
    table t;
    if (table_read(path, &t) != 0) return -1;
    int idx[64], rc = 0;
    /* An optional column the file lacks (written before the column existed) reads as
     * NaN, like an empty field; any other missing column is an error. */
    for (int c = 0; c < ncols && rc == 0; c++)
        if ((idx[c] = table_col(&t, cols[c].name)) < 0 && !cols[c].optional) {
            fprintf(stderr, "experiment: %s: no column '%s'\n", path, cols[c].name);
            rc = -1;
        }
    char *out = rc == 0 ? calloc((size_t)(t.nrows ? t.nrows : 1), row_size) : NULL;
    if (rc == 0 && !out) rc = -1;
    for (int r = 0; r < t.nrows && rc == 0; r++) {
        char *row = out + (size_t)r * row_size;
        for (int c = 0; c < ncols && rc == 0; c++) {
            const char *s = idx[c] < 0 ? "" : t.rows[r][idx[c]];
            char *p = row + cols[c].off, *end;
            if (cols[c].type == COL_STR) {
                snprintf(p, cols[c].size, "%s", s);
                continue;
            }
            errno = 0;
            if (cols[c].type == COL_INT) {
                *(int64_t *)p = strtoll(s, &end, 10);
            } else if (s[0] == '\0') {
                *(double *)p = NAN;
                end = (char *)s;
            } else {
                *(double *)p = strtod(s, &end);
            }
            if (*end != '\0' || errno || (cols[c].type == COL_INT && end == s)) {
                fprintf(stderr, "experiment: %s: record %d: column '%s' is not a number: '%s'\n",
                        path, r + 2, cols[c].name, s);
                rc = -1;
            }
        }
    }
    if (rc == 0) {
        *rows = out;
        *count = t.nrows;
    } else {
        free(out);
    }
    table_free(&t);
    return rc;
}

int rows_write(const char *path, const exp_row *rows, int count)
{
    return write_table(path, row_cols, NCOLS(row_cols), rows, sizeof *rows, count);
}

int infer_rows_write(const char *path, const exp_infer_row *rows, int count)
{
    return write_table(path, infer_cols, NCOLS(infer_cols), rows, sizeof *rows, count);
}

/* The column of r whose value lies outside its domain, or NULL: a work file a crash or a
 * hand damaged must not flow into results/ (a fraction outside [0, 1], a negative time,
 * an unknown model or budget). */
static const char *row_domain(const void *row)
{
    const exp_row *r = row;
    if (strcmp(r->model, "causal") && strcmp(r->model, "cubic")) return "model";
    if (strcmp(r->budget, "reference") && strcmp(r->budget, "equal_steps") &&
        strcmp(r->budget, "equal_flops"))
        return "budget";
    if (r->step < 0 || r->step > r->steps_run) return "step";
    if (!(r->wall_s >= 0) || !isfinite(r->wall_s)) return "wall_s";
    if (r->jobs_min < 1 || r->jobs_max < r->jobs_min) return "jobs_min";
    if (!(r->test_loss >= 0) || !isfinite(r->test_loss)) return "test_loss";
    if (!(r->test_acc >= 0 && r->test_acc <= 1)) return "test_acc";
    if (!(r->seq_acc >= 0 && r->seq_acc <= 1)) return "seq_acc";
    if (!(r->floor_acc > 0 && r->floor_acc <= 1)) return "floor_acc";
    if (!(r->floor_bits >= 0) || !isfinite(r->floor_bits)) return "floor_bits";
    return NULL;
}

static const char *infer_domain(const void *row)
{
    const exp_infer_row *r = row;
    if (strcmp(r->model, "causal") && strcmp(r->model, "cubic")) return "model";
    if (r->sequences < 1 || r->positions < r->sequences) return "positions";
    if (r->mismatches < 0 || r->mismatches > r->positions) return "mismatches";
    if (r->near_ties < 0 || r->near_ties > r->positions) return "near_ties";
    if (!(r->max_rel_diff >= 0)) return "max_rel_diff";
    return NULL;
}

/* read_table, then every row through its domain check (a column name, or NULL). */
static int read_checked(const char *path, const column *cols, int ncols, void **rows,
                        size_t row_size, int *count, const char *(*domain)(const void *row))
{
    if (read_table(path, cols, ncols, rows, row_size, count) != 0) return -1;
    for (int r = 0; r < *count; r++) {
        const char *col = domain((const char *)*rows + (size_t)r * row_size);
        if (col) {
            fprintf(stderr, "experiment: %s: record %d: column '%s' is outside its domain\n",
                    path, r + 2, col);
            free(*rows);
            *rows = NULL;
            return -1;
        }
    }
    return 0;
}

int rows_read(const char *path, exp_row **rows, int *count)
{
    return read_checked(path, row_cols, NCOLS(row_cols), (void **)rows, sizeof **rows, count,
                        row_domain);
}

int infer_rows_read(const char *path, exp_infer_row **rows, int *count)
{
    return read_checked(path, infer_cols, NCOLS(infer_cols), (void **)rows, sizeof **rows,
                        count, infer_domain);
}
