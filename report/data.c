/* data.c: every results CSV read back, typed by its column table (lib/results) and
 * merged. A file with the bench's columns contributes timing rows, one with the verify
 * program's columns (impl, entry, check, status, ...) verification rows, one of bench
 * --model's model rows, one of bench --split's (t_products_s) split rows (split.c);
 * anything else is refused. A cell measured in several files keeps the row of the latest
 * run. */
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A value outside its column's domain: said with file, record and column; -1. */
static int out_of_domain(const table *t, int r, const char *col, const char *why)
{
    fprintf(stderr, "report: %s: record %d: column '%s' %s\n", t->path, r + 2, col, why);
    return -1;
}

/* A timed row's times and rate: positive, ordered, finite (the reader refused the rest). */
static int check_timed(const table *t, int r, double t_min, double t_med, double t_max,
                       double gflops)
{
    if (!(t_med > 0)) return out_of_domain(t, r, "t_median_s", "must be > 0 in a row with status ok");
    if (!isnan(t_min) && !(t_min > 0 && t_min <= t_med))
        return out_of_domain(t, r, "t_min_s", "must be > 0 and <= t_median_s");
    if (!isnan(t_max) && !(t_max >= t_med)) return out_of_domain(t, r, "t_max_s", "must be >= t_median_s");
    if (!isnan(gflops) && !(gflops >= 0)) return out_of_domain(t, r, "gflops", "must be >= 0");
    return 0;
}

/* Results written before the grid was recorded cannot say what they come from. */
#define GRID_MISSING " (results of an older bench or verify: run it again)"

static int grid_known(const char *g) { return !strcmp(g, "full") || !strcmp(g, "quick"); }

/* A file of a kind whose rows carry the grid, written before they did: said apart. */
static int grid_missing(const table *t, const char *kind)
{
    if (table_col(t, "grid") >= 0) return 0;
    fprintf(stderr, "report: %s: %s results lack the column 'grid'%s\n", t->path, kind,
            GRID_MISSING);
    return -1;
}

/* A bench row read back: its domain, and the traffic of a file that did not record it. */
static int check_bench(const table *t, int r, void *rec)
{
    bench_record *x = rec;
    x->file = t->path;
    if (!grid_known(x->grid)) return out_of_domain(t, r, "grid", "is not full or quick");
    if (x->n <= 0 || x->d <= 0 || x->heads <= 0 || x->threads <= 0) {
        fprintf(stderr, "report: %s: record %d: n, d, heads and threads must be >= 1\n",
                t->path, r + 2);
        return -1;
    }
    if (x->impl[0] == '\0') return out_of_domain(t, r, "impl", "is empty");
    if (x->status[0] == '\0') return out_of_domain(t, r, "status", "is empty");
    if (strcmp(x->status, "ok") == 0 &&
        check_timed(t, r, x->t_min, x->t_med, x->t_max, x->gflops) != 0)
        return -1;
    x->ok = strcmp(x->status, "ok") == 0;
    const int op = ca_op_parse(x->op), pass = bpass_parse(x->pass);
    /* results of a bench that did not record the traffic: the same formula (§3) */
    if (isnan(x->bytes_moved) && op >= 0 && pass >= 0 && op_has_pass(op, pass))
        x->bytes_moved = cell_traffic(op, pass, x->n, x->d, x->heads);
    if (isnan(x->gbs) && x->ok && x->bytes_moved > 0)
        x->gbs = x->bytes_moved / x->t_med / 1e9;
    if (op < 0 || pass < 0 || !op_has_pass(op, pass)) {
        fprintf(stderr, "report: %s: record %d: operator '%s' pass '%s' is not one this "
                        "suite's bench times (results of an older build?)\n", t->path,
                r + 2, x->op, x->pass);
        return -1;
    }
    return 0;
}

/* The array of n records of `size` bytes at rows, grown to take t's rows too; NULL when
 * out of memory (the array freed). */
static void *room(void *rows, int n, const table *t, size_t size)
{
    void *grown = realloc(rows, (size_t)(n + t->nrows + 1) * size);
    if (!grown) free(rows);
    return grown;
}

/* The records a read gave added to *count; -1 when it failed (read < 0). */
static int add(int *count, int read)
{
    if (read < 0) return -1;
    *count += read;
    return 0;
}

static int load_bench(const table *t, dataset *ds)
{
    if (grid_missing(t, "bench") || !(ds->b = room(ds->b, ds->nb, t, sizeof *ds->b))) return -1;
    return add(&ds->nb, csv_read_table(t, &bench_format, "bench", ds->b + ds->nb, sizeof *ds->b,
                                       check_bench));
}

/* The statuses verify writes (verify/main.c): anything else would be read as a pass. */
static int check_verify(const table *t, int r, void *rec)
{
    verify_record *x = rec;
    x->file = t->path;
    static const char *const statuses[] = {"PASS", "FAIL", "-", "not provided"};
    int known = 0;
    for (size_t k = 0; k < sizeof statuses / sizeof *statuses; k++) known |= !strcmp(x->status, statuses[k]);
    if (!known) return out_of_domain(t, r, "status", "is not PASS, FAIL, - or not provided");
    if (x->impl[0] == '\0') return out_of_domain(t, r, "impl", "is empty");
    if (!grid_known(x->grid)) return out_of_domain(t, r, "grid", "is not full or quick");
    return 0;
}

static int load_verify(const table *t, dataset *ds)
{
    if (grid_missing(t, "verify") || !(ds->v = room(ds->v, ds->nv, t, sizeof *ds->v))) return -1;
    ds->verify_files++;
    return add(&ds->nv, csv_read_table(t, &verify_format, "verify", ds->v + ds->nv,
                                       sizeof *ds->v, check_verify));
}

static int check_model(const table *t, int r, void *rec)
{
    model_record *x = rec;
    x->ok = strcmp(x->status, "ok") == 0;
    return x->ok ? check_timed(t, r, NAN, x->t_med, NAN, x->gflops) : 0;
}

static int load_model(const table *t, dataset *ds)
{
    if (!(ds->m = room(ds->m, ds->nm, t, sizeof *ds->m))) return -1;
    return add(&ds->nm, csv_read_table(t, &model_format, "model", ds->m + ds->nm, sizeof *ds->m,
                                       check_model));
}

/* A scaling row: a measurement (times, FLOPs, bytes when ok) or a partition (its
 * imbalance); nothing else. */
static int check_scaling(const table *t, int r, void *rec)
{
    scaling_record *x = rec;
    x->file = t->path;
    const int measured = !strcmp(x->kind, "measured"), partition = !strcmp(x->kind, "partition");
    if (!measured && !partition) return out_of_domain(t, r, "kind", "is not measured or partition");
    if (x->ranks < 1 || x->layers < 1 || x->d_model < 1 || x->n < 1 || x->batch < 1)
        return out_of_domain(t, r, "ranks", "or layers, d_model, n, batch is below 1");
    x->ok = measured && !strcmp(x->status, "ok");
    if (x->ok && (x->threads < 1 || !(x->flops > 0) || !(x->comm_bytes >= 0) || x->reps < 1 ||
                  check_timed(t, r, x->t_min, x->t_med, x->t_max, NAN) != 0))
        return out_of_domain(t, r, "t_median_s", "or threads, reps, flops, comm_bytes: an ok "
                             "measurement needs them all");
    if (partition && !(x->imbalance >= 1.0))
        return out_of_domain(t, r, "imbalance", "must be >= 1 in a partition row");
    return 0;
}

static int load_scaling(const table *t, dataset *ds)
{
    if (!(ds->sc = room(ds->sc, ds->nsc, t, sizeof *ds->sc))) return -1;
    return add(&ds->nsc, csv_read_table(t, &scaling_format, "scaling", ds->sc + ds->nsc,
                                        sizeof *ds->sc, check_scaling));
}

int load_split(const table *t, dataset *ds)
{
    if (!(ds->sp = room(ds->sp, ds->nsp, t, sizeof *ds->sp))) return -1;
    return add(&ds->nsp, csv_read_table(t, &split_format, "split", ds->sp + ds->nsp,
                                        sizeof *ds->sp, split_check));
}

static int same_cell(const bench_record *a, const bench_record *b)
{
    return a->n == b->n && a->d == b->d && a->heads == b->heads && a->threads == b->threads &&
           strcmp(a->impl, b->impl) == 0 && strcmp(a->op, b->op) == 0 &&
           strcmp(a->pass, b->pass) == 0;
}

/* A cell measured more than once keeps its latest run (later file on a tie). */
static void dedup(dataset *ds)
{
    int w = 0;
    for (int i = 0; i < ds->nb; i++) {
        int keep = 1;
        for (int j = 0; j < ds->nb && keep; j++) {
            if (j == i || !same_cell(&ds->b[i], &ds->b[j])) continue;
            int c = strcmp(ds->b[j].date, ds->b[i].date);
            if (c > 0 || (c == 0 && j > i)) keep = 0;
        }
        if (keep) ds->b[w++] = ds->b[i];
    }
    ds->nb = w;
}

static void main_shape(dataset *ds)
{
    int best = 0;
    ds->d = ds->heads = 0;
    ds->main_threads = 0;
    for (int i = 0; i < ds->nb; i++) {
        int c = 0;
        for (int j = 0; j < ds->nb; j++)
            c += ds->b[j].d == ds->b[i].d && ds->b[j].heads == ds->b[i].heads;
        if (c > best) {
            best = c;
            ds->d = ds->b[i].d;
            ds->heads = ds->b[i].heads;
        }
        if (ds->b[i].threads > ds->main_threads) ds->main_threads = ds->b[i].threads;
    }
}

/* Every bench and split row from one CPU: the Machine table, the ceilings and every
 * fraction of a peak assume one machine, so rows of two are refused, not mixed (a row
 * without a cpu, from an older bench, matches any). */
static int one_machine(const dataset *ds)
{
    const char *cpu = NULL, *file = NULL;
    for (int i = 0; i < ds->nb + ds->nsp; i++) {
        const char *c = i < ds->nb ? ds->b[i].cpu : ds->sp[i - ds->nb].cpu;
        const char *f = i < ds->nb ? ds->b[i].file : ds->sp[i - ds->nb].file;
        if (c[0] == '\0') continue;
        if (!cpu) {
            cpu = c;
            file = f;
        } else if (strcmp(cpu, c) != 0) {
            fprintf(stderr, "report: results from two machines: '%s' (%s) and '%s' (%s); "
                            "keep one run's CSVs in the results dir\n", cpu, file, c, f);
            return -1;
        }
    }
    return 0;
}

/* One grid per kind: the bench rows all from the full grid or all from the quick one, and
 * likewise the verify rows; a quick sweep's cells beside a full sweep's would be read as
 * one run's. Sets ds->bench_grid, ds->verify_grid. */
static int one_grid(dataset *ds)
{
    for (int kind = 0; kind < 2; kind++) {
        const int n = kind ? ds->nv : ds->nb;
        const char *grid = NULL, *file = NULL;
        for (int i = 0; i < n; i++) {
            const char *g = kind ? ds->v[i].grid : ds->b[i].grid;
            const char *f = kind ? ds->v[i].file : ds->b[i].file;
            if (!grid) {
                grid = g;
                file = f;
            } else if (strcmp(grid, g) != 0) {
                fprintf(stderr, "report: %s results mix two grids: %s holds rows of the %s grid, "
                                "%s of the %s grid; keep one run's CSVs in the results dir\n",
                        kind ? "verify" : "bench", file, grid, f, g);
                return -1;
            }
        }
        *(kind ? &ds->verify_grid : &ds->bench_grid) = grid;
    }
    return 0;
}

int dataset_load(const char *dir, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "report: cannot open results directory '%s': %s\n", dir,
                strerror(errno));
        return -1;
    }
    char **names = NULL;
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (!has_suffix(e->d_name, ".csv") || e->d_name[0] == '.') continue;
        char **x = realloc(names, (size_t)(nn + 1) * sizeof *x);
        if (!x) break;
        names = x;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[nn] = malloc(len);
        if (!names[nn]) break;
        snprintf(names[nn++], len, "%s/%s", dir, e->d_name);
    }
    closedir(dp);
    if (nn > 0) qsort(names, (size_t)nn, sizeof *names, cmp_str);
    ds->tables = calloc((size_t)nn + 1, sizeof *ds->tables);
    int rc = ds->tables ? 0 : -1;
    for (int i = 0; i < nn && rc == 0; i++) {
        table *t = &ds->tables[ds->ntables];
        if (table_read("report", names[i], t) != 0) {
            table_free(t);
            rc = -1;
            break;
        }
        ds->ntables++;
        /* Kinds by their key columns; a file of a kind that lacks one of its other
         * columns is refused by its loader, not skipped. */
        int is_bench = table_col(t, "impl") >= 0 && table_col(t, "op") >= 0 &&
                       table_col(t, "pass") >= 0 && table_col(t, "n") >= 0;
        int is_verify = table_col(t, "impl") >= 0 && table_col(t, "entry") >= 0 &&
                        table_col(t, "check") >= 0;
        int is_model = table_col(t, "model") >= 0 && table_col(t, "task") >= 0 &&
                       table_col(t, "part") >= 0 && table_col(t, "layers") >= 0;
        const int is_scaling = table_col(t, "kind") >= 0 && table_col(t, "ranks") >= 0 &&
                               table_col(t, "imbalance") >= 0;
        if (is_scaling) {
            rc = load_scaling(t, ds);
        } else if (is_model) {
            rc = load_model(t, ds);
        } else if (split_is_table(t)) { /* has impl, op, pass, n too: before the bench */
            rc = load_split(t, ds);
        } else if (is_bench) {
            rc = load_bench(t, ds);
            ds->bench_files++;
        } else if (is_verify) {
            rc = load_verify(t, ds);
        } else if (!has_suffix(names[i], "/experiment.csv") &&
                   !has_suffix(names[i], "/experiment_infer.csv")) {
            /* the experiment's files are read by experiment.c; anything else in the
             * evidence dir is not ours to skip */
            fprintf(stderr, "report: %s: neither bench, model, scaling nor verify results (no "
                            "impl, op, pass, n; no impl, entry, check; no model, task, part, "
                            "layers; no kind, ranks, imbalance)\n",
                    names[i]);
            rc = -1;
        }
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (rc != 0) {
        dataset_free(ds);
        return -1;
    }
    if (one_machine(ds) != 0 || one_grid(ds) != 0) {
        dataset_free(ds);
        return -1;
    }
    dedup(ds);
    main_shape(ds);
    return 0;
}

void dataset_free(dataset *ds)
{
    for (int i = 0; i < ds->ntables; i++) table_free(&ds->tables[i]);
    free(ds->tables);
    free(ds->b);
    free(ds->v);
    free(ds->m);
    free(ds->sp);
    free(ds->sc);
    memset(ds, 0, sizeof *ds);
}

static int at_main_shape(const dataset *ds, const bench_record *b)
{
    return b->d == ds->d && b->heads == ds->heads;
}

const bench_record *ds_find(const dataset *ds, const char *impl, const char *op,
                            const char *pass, int n, int threads)
{
    for (int i = 0; i < ds->nb; i++) {
        const bench_record *b = &ds->b[i];
        if (at_main_shape(ds, b) && b->n == n && b->threads == threads &&
            strcmp(b->impl, impl) == 0 && strcmp(b->op, op) == 0 && strcmp(b->pass, pass) == 0)
            return b;
    }
    return NULL;
}

const bench_record *ds_fastest(const dataset *ds, const char *op, const char *pass, int n, int threads)
{
    const bench_record *best = NULL;
    for (int i = 0; i < ds->nb; i++) {
        const bench_record *b = &ds->b[i];
        if (!b->ok || !at_main_shape(ds, b) || b->n != n || b->threads != threads ||
            strcmp(b->op, op) != 0 || strcmp(b->pass, pass) != 0)
            continue;
        if (!best || b->t_med < best->t_med) best = b;
    }
    return best;
}

const bench_record *ds_fastest_fused(const dataset *ds, const char *op, const char *pass,
                                     int n, int threads)
{
    const bench_record *best = NULL;
    for (int i = 0; i < ds->nb; i++) {
        const bench_record *b = &ds->b[i];
        if (!b->ok || !at_main_shape(ds, b) || b->n != n || b->threads != threads ||
            strcmp(b->op, op) != 0 || strcmp(b->pass, pass) != 0 ||
            strcmp(b->impl, REPORT_BASELINE_IMPL) == 0 || strcmp(b->impl, REPORT_PEER_IMPL) == 0)
            continue;
        if (!best || b->t_med < best->t_med) best = b;
    }
    return best;
}

const bench_record *ds_fastest_shape(const dataset *ds, const char *op, const char *pass,
                                     int n, int threads, int d, int heads)
{
    const bench_record *best = NULL;
    for (int i = 0; i < ds->nb; i++) {
        const bench_record *b = &ds->b[i];
        if (!b->ok || b->d != d || b->heads != heads || b->n != n || b->threads != threads ||
            strcmp(b->op, op) != 0 || strcmp(b->pass, pass) != 0)
            continue;
        if (!best || b->t_med < best->t_med) best = b;
    }
    return best;
}

static int matches(const dataset *ds, const bench_record *b, const char *op, const char *pass,
                   int threads)
{
    return at_main_shape(ds, b) && (!op || strcmp(b->op, op) == 0) &&
           (!pass || strcmp(b->pass, pass) == 0) && (threads < 0 || b->threads == threads);
}

int ds_impls(const dataset *ds, const char *op, const char *pass, int threads,
             const char **out, int cap)
{
    int k = 0;
    for (int i = 0; i < ds->nb; i++) {
        const bench_record *b = &ds->b[i];
        if (!matches(ds, b, op, pass, threads)) continue;
        int seen = 0;
        for (int j = 0; j < k && !seen; j++) seen = strcmp(out[j], b->impl) == 0;
        if (!seen && k < cap) out[k++] = b->impl;
    }
    qsort(out, (size_t)k, sizeof *out, cmp_str);
    return k;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int ds_ns(const dataset *ds, const char *op, const char *pass, int threads, int *out, int cap)
{
    int k = 0;
    for (int i = 0; i < ds->nb; i++) {
        const bench_record *b = &ds->b[i];
        if (!matches(ds, b, op, pass, threads)) continue;
        int seen = 0;
        for (int j = 0; j < k && !seen; j++) seen = out[j] == b->n;
        if (!seen && k < cap) out[k++] = b->n;
    }
    qsort(out, (size_t)k, sizeof *out, cmp_int);
    return k;
}

int ds_threads(const dataset *ds, int *out, int cap)
{
    int k = 0;
    for (int i = 0; i < ds->nb; i++) {
        int seen = 0;
        for (int j = 0; j < k && !seen; j++) seen = out[j] == ds->b[i].threads;
        if (!seen && k < cap) out[k++] = ds->b[i].threads;
    }
    qsort(out, (size_t)k, sizeof *out, cmp_int);
    return k;
}

/* Of the rows with a thread count that carry a ceiling (has()), the latest run's at the
 * main shape (the run the tables and plots show), else the latest run's at any shape. */
static const bench_record *ceiling_row(const dataset *ds, int threads, int (*has)(const bench_record *))
{
    const bench_record *best = NULL;
    int best_main = 0;
    for (int i = 0; i < ds->nb; i++) {
        const bench_record *b = &ds->b[i];
        if (b->threads != threads || !has(b)) continue;
        int m = at_main_shape(ds, b);
        if (!best || m > best_main || (m == best_main && strcmp(b->date, best->date) > 0)) {
            best = b;
            best_main = m;
        }
    }
    return best;
}

static int has_sgemm(const bench_record *b) { return b->sgemm > 0; }
static int has_peak(const bench_record *b) { return b->peak > 0; }

double ds_sgemm(const dataset *ds, int threads, int *sgemm_n)
{
    const bench_record *best = ceiling_row(ds, threads, has_sgemm);
    if (sgemm_n) *sgemm_n = best ? best->sgemm_n : 0;
    return best ? best->sgemm : -1;
}

double best_t(const dataset *ds, const char *op, const char *pass, int n, int threads)
{
    const bench_record *b = ds_fastest(ds, op, pass, n, threads);
    return b ? b->t_med : NAN;
}

const bench_record *ds_roof(const dataset *ds, int threads)
{
    return ceiling_row(ds, threads, has_peak);
}

const model_record *ds_model(const dataset *ds, const char *model, const char *task, int layers, int n)
{
    for (int i = ds->nm - 1; i >= 0; i--) { /* the latest run's row */
        const model_record *x = &ds->m[i];
        if (x->ok && x->layers == layers && x->n == n && strcmp(x->part, "all") == 0 &&
            strcmp(x->model, model) == 0 && strcmp(x->task, task) == 0)
            return x;
    }
    return NULL;
}

static int add_distinct(int *out, int k, int cap, int v)
{
    for (int j = 0; j < k; j++)
        if (out[j] == v) return k;
    if (k < cap) out[k++] = v;
    return k;
}

int ds_model_ns(const dataset *ds, const char *task, int layers, int *out, int cap)
{
    int k = 0;
    for (int i = 0; i < ds->nm; i++)
        if (ds->m[i].layers == layers && (!task || strcmp(ds->m[i].task, task) == 0))
            k = add_distinct(out, k, cap, ds->m[i].n);
    qsort(out, (size_t)k, sizeof *out, cmp_int);
    return k;
}

int ds_model_layers(const dataset *ds, int *out, int cap)
{
    int k = 0;
    for (int i = 0; i < ds->nm; i++) k = add_distinct(out, k, cap, ds->m[i].layers);
    qsort(out, (size_t)k, sizeof *out, cmp_int);
    return k;
}
