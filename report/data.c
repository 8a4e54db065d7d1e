/* data.c: every the results CSVs read back, typed and merged. A file with the bench's
 * columns contributes timing rows, one with the verify program's columns
 * (impl, entry, check, status, ...) verification rows, one of bench --split's
 * (t_products_s) split rows (split.c); anything else is refused. A cell measured in several files keeps the row of the latest run. */
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

/* A numeric field: NaN when empty; -1 return on text that is not a finite number (no
 * measurement of this suite is infinite or NaN: an "inf" or "nan" in a CSV is damage). */
static int num(const char *s, double *x)
{
    if (s[0] == '\0') {
        *x = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(*x)) return -1;
    return 0;
}

/* A value outside its column's domain: said with file, record and column; -1. */
static int out_of_domain(const table *t, int r, const char *col, const char *why)
{
    fprintf(stderr, "report: %s: record %d: column '%s' %s\n", t->path, r + 2, col, why);
    return -1;
}

/* A timed row's times and rate: positive, ordered, finite (num() refused the rest). */
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

typedef struct colmap {
    int impl, op, pass, n, d, heads, threads, reps, t_min, t_med, t_max, gflops, frac, flops,
        bytes, max_err, err_ref, predicted, status, sgemm, sgemm_n, impl_note, commit, date,
        compiler, cflags, cpu, cores, blis, kernel_isa, other_cores, peak, frac_peak, ukr, bw,
        bytes_moved, gbs, frac_bw, cache_state, peak_note, grid;
} colmap;

static const char *field(const table *t, int r, int c) { return c >= 0 ? t->rows[r][c] : ""; }

static int bad_number(const table *t, int r, int c)
{
    fprintf(stderr, "report: %s: record %d: column '%s' is not a number: '%s'\n", t->path,
            r + 2, t->header[c], t->rows[r][c]);
    return -1;
}

/* Numeric column c of row r into *x (NaN when empty or column absent). */
static int get(const table *t, int r, int c, double *x)
{
    if (c < 0) {
        *x = NAN;
        return 0;
    }
    return num(t->rows[r][c], x) == 0 ? 0 : bad_number(t, r, c);
}

static int get_int(const table *t, int r, int c, int *x, int required)
{
    double v;
    if (get(t, r, c, &v) != 0) return -1;
    if (isnan(v)) {
        if (required) {
            fprintf(stderr, "report: %s: record %d: column '%s' is empty\n", t->path, r + 2,
                    t->header[c]);
            return -1;
        }
        *x = 0;
        return 0;
    }
    if (v != floor(v) || fabs(v) > 2e9) return bad_number(t, r, c);
    *x = (int)v;
    return 0;
}

/* Results written before the grid was recorded cannot say what they come from. */
#define GRID_MISSING " (results of an older bench or verify: run it again)"

static int grid_known(const char *g) { return !strcmp(g, "full") || !strcmp(g, "quick"); }

static int load_bench(const table *t, dataset *ds)
{
    colmap m = {
        table_col(t, "impl"), table_col(t, "op"), table_col(t, "pass"), table_col(t, "n"),
        table_col(t, "d"), table_col(t, "heads"), table_col(t, "threads"),
        table_col(t, "reps"), table_col(t, "t_min_s"), table_col(t, "t_median_s"),
        table_col(t, "t_max_s"), table_col(t, "gflops"), table_col(t, "frac_of_sgemm"),
        table_col(t, "flops"), table_col(t, "bytes"), table_col(t, "max_err"),
        table_col(t, "err_ref"), table_col(t, "predicted_s"), table_col(t, "status"),
        table_col(t, "sgemm_gflops"), table_col(t, "sgemm_n"), table_col(t, "impl_note"),
        table_col(t, "commit"), table_col(t, "date"), table_col(t, "compiler"),
        table_col(t, "cflags"), table_col(t, "cpu"), table_col(t, "cores"),
        table_col(t, "blis_config"), table_col(t, "kernel_isa"), table_col(t, "other_cores"),
        table_col(t, "peak_gflops"), table_col(t, "frac_of_peak"), table_col(t, "ukr_gflops"),
        table_col(t, "bw_gbs"), table_col(t, "bytes_moved"), table_col(t, "gbs"),
        table_col(t, "frac_of_bw"), table_col(t, "cache_state"), table_col(t, "peak_note"),
        table_col(t, "grid")};
    const char *required[] = {"impl", "op", "pass", "d", "heads", "threads", "t_median_s",
                              "status", "grid"};
    const int req_col[] = {m.impl, m.op, m.pass, m.d, m.heads, m.threads, m.t_med, m.status,
                           m.grid};
    for (int i = 0; i < 9; i++)
        if (req_col[i] < 0) {
            fprintf(stderr, "report: %s: bench results lack the column '%s'%s\n", t->path,
                    required[i], req_col[i] == m.grid ? GRID_MISSING : "");
            return -1;
        }
    brow *b = realloc(ds->b, (size_t)(ds->nb + t->nrows + 1) * sizeof *b);
    if (!b) return -1;
    ds->b = b;
    for (int r = 0; r < t->nrows; r++) {
        brow *x = &ds->b[ds->nb];
        memset(x, 0, sizeof *x);
        x->impl = field(t, r, m.impl);
        x->op = field(t, r, m.op);
        x->pass = field(t, r, m.pass);
        x->status = field(t, r, m.status);
        x->impl_note = field(t, r, m.impl_note);
        x->err_ref = field(t, r, m.err_ref);
        x->commit = field(t, r, m.commit);
        x->date = field(t, r, m.date);
        x->compiler = field(t, r, m.compiler);
        x->cflags = field(t, r, m.cflags);
        x->cpu = field(t, r, m.cpu);
        x->blis_config = field(t, r, m.blis);
        x->kernel_isa = field(t, r, m.kernel_isa);
        x->cache_state = field(t, r, m.cache_state);
        x->peak_note = field(t, r, m.peak_note);
        x->grid = field(t, r, m.grid);
        x->file = t->path;
        if (!grid_known(x->grid)) return out_of_domain(t, r, "grid", "is not full or quick");
        if (get_int(t, r, m.n, &x->n, 1) || get_int(t, r, m.d, &x->d, 1) ||
            get_int(t, r, m.heads, &x->heads, 1) || get_int(t, r, m.threads, &x->threads, 1) ||
            get_int(t, r, m.reps, &x->reps, 0) || get_int(t, r, m.cores, &x->cores, 0) ||
            get_int(t, r, m.sgemm_n, &x->sgemm_n, 0) || get(t, r, m.t_min, &x->t_min) ||
            get(t, r, m.t_med, &x->t_med) || get(t, r, m.t_max, &x->t_max) ||
            get(t, r, m.gflops, &x->gflops) || get(t, r, m.frac, &x->frac) ||
            get(t, r, m.flops, &x->flops) || get(t, r, m.bytes, &x->bytes) ||
            get(t, r, m.max_err, &x->max_err) || get(t, r, m.predicted, &x->predicted) ||
            get(t, r, m.sgemm, &x->sgemm) || get(t, r, m.other_cores, &x->other_cores) ||
            get(t, r, m.peak, &x->peak) || get(t, r, m.frac_peak, &x->frac_peak) ||
            get(t, r, m.ukr, &x->ukr) || get(t, r, m.bw, &x->bw) ||
            get(t, r, m.bytes_moved, &x->bytes_moved) || get(t, r, m.gbs, &x->gbs) ||
            get(t, r, m.frac_bw, &x->frac_bw))
            return -1;
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
        ds->nb++;
    }
    return 0;
}

static int load_verify(const table *t, dataset *ds)
{
    int ci = table_col(t, "impl"), ce = table_col(t, "entry"), cc = table_col(t, "check"),
        cs = table_col(t, "status"), cr = table_col(t, "err"), ct = table_col(t, "tol"),
        cn = table_col(t, "note"), cg = table_col(t, "grid");
    if (cs < 0 || cg < 0) {
        fprintf(stderr, "report: %s: verify results lack the column '%s'%s\n", t->path,
                cs < 0 ? "status" : "grid", cs < 0 ? "" : GRID_MISSING);
        return -1;
    }
    vrow *v = realloc(ds->v, (size_t)(ds->nv + t->nrows + 1) * sizeof *v);
    if (!v) return -1;
    ds->v = v;
    /* The statuses verify writes (verify/main.c): anything else would be read as a pass. */
    static const char *const statuses[] = {"PASS", "FAIL", "-", "not provided"};
    for (int r = 0; r < t->nrows; r++) {
        const char *st = field(t, r, cs);
        int known = 0;
        for (size_t k = 0; k < sizeof statuses / sizeof *statuses; k++) known |= !strcmp(st, statuses[k]);
        if (!known) return out_of_domain(t, r, "status", "is not PASS, FAIL, - or not provided");
        if (field(t, r, ci)[0] == '\0') return out_of_domain(t, r, "impl", "is empty");
        if (!grid_known(field(t, r, cg))) return out_of_domain(t, r, "grid", "is not full or quick");
        ds->v[ds->nv++] = (vrow){field(t, r, ci), field(t, r, ce), field(t, r, cc), st,
                                 field(t, r, cr), field(t, r, ct), field(t, r, cn),
                                 field(t, r, cg), t->path};
    }
    ds->verify_files++;
    return 0;
}

static int load_model(const table *t, dataset *ds)
{
    enum { MODEL, TASK, PART, IMPL, STATUS, LAYERS, DM, HEADS, VOCAB, N, THREADS, REPS, TMED,
           ATTN, MM, GF, FP, ACT, NC };
    static const char *const names[NC] = {
        "model", "task", "part", "impl", "status", "layers", "d_model", "heads", "vocab", "n",
        "threads", "reps", "t_median_s", "attn_flops", "matmul_flops", "gflops",
        "frac_of_peak", "act_bytes"};
    int c[NC];
    for (int i = 0; i < NC; i++)
        if ((c[i] = table_col(t, names[i])) < 0) {
            fprintf(stderr, "report: %s: model results lack the column '%s'\n", t->path,
                    names[i]);
            return -1;
        }
    mrow *m = realloc(ds->m, (size_t)(ds->nm + t->nrows + 1) * sizeof *m);
    if (!m) return -1;
    ds->m = m;
    for (int r = 0; r < t->nrows; r++) {
        mrow *x = &ds->m[ds->nm];
        memset(x, 0, sizeof *x);
        x->model = field(t, r, c[MODEL]);
        x->task = field(t, r, c[TASK]);
        x->part = field(t, r, c[PART]);
        x->impl = field(t, r, c[IMPL]);
        x->status = field(t, r, c[STATUS]);
        if (get_int(t, r, c[LAYERS], &x->layers, 1) || get_int(t, r, c[DM], &x->d_model, 1) ||
            get_int(t, r, c[HEADS], &x->heads, 1) || get_int(t, r, c[VOCAB], &x->vocab, 1) ||
            get_int(t, r, c[N], &x->n, 1) || get_int(t, r, c[THREADS], &x->threads, 1) ||
            get_int(t, r, c[REPS], &x->reps, 0) || get(t, r, c[TMED], &x->t_med) ||
            get(t, r, c[ATTN], &x->attn_flops) || get(t, r, c[MM], &x->matmul_flops) ||
            get(t, r, c[GF], &x->gflops) || get(t, r, c[FP], &x->frac_peak) ||
            get(t, r, c[ACT], &x->act_bytes))
            return -1;
        if (strcmp(x->status, "ok") == 0 && check_timed(t, r, NAN, x->t_med, NAN, x->gflops) != 0)
            return -1;
        x->ok = strcmp(x->status, "ok") == 0;
        ds->nm++;
    }
    return 0;
}

static int same_cell(const brow *a, const brow *b)
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
        if (table_read(names[i], t) != 0) {
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
        if (is_model) {
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
            fprintf(stderr, "report: %s: neither bench, model nor verify results (no impl, op, "
                            "pass, n; no impl, entry, check; no model, task, part, layers)\n",
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
    memset(ds, 0, sizeof *ds);
}

static int at_main_shape(const dataset *ds, const brow *b)
{
    return b->d == ds->d && b->heads == ds->heads;
}

const brow *ds_find(const dataset *ds, const char *impl, const char *op, const char *pass,
                    int n, int threads)
{
    for (int i = 0; i < ds->nb; i++) {
        const brow *b = &ds->b[i];
        if (at_main_shape(ds, b) && b->n == n && b->threads == threads &&
            strcmp(b->impl, impl) == 0 && strcmp(b->op, op) == 0 && strcmp(b->pass, pass) == 0)
            return b;
    }
    return NULL;
}

const brow *ds_fastest(const dataset *ds, const char *op, const char *pass, int n, int threads)
{
    const brow *best = NULL;
    for (int i = 0; i < ds->nb; i++) {
        const brow *b = &ds->b[i];
        if (!b->ok || !at_main_shape(ds, b) || b->n != n || b->threads != threads ||
            strcmp(b->op, op) != 0 || strcmp(b->pass, pass) != 0)
            continue;
        if (!best || b->t_med < best->t_med) best = b;
    }
    return best;
}

const brow *ds_fastest_fused(const dataset *ds, const char *op, const char *pass, int n,
                             int threads)
{
    const brow *best = NULL;
    for (int i = 0; i < ds->nb; i++) {
        const brow *b = &ds->b[i];
        if (!b->ok || !at_main_shape(ds, b) || b->n != n || b->threads != threads ||
            strcmp(b->op, op) != 0 || strcmp(b->pass, pass) != 0 ||
            strcmp(b->impl, REPORT_BASELINE_IMPL) == 0 || strcmp(b->impl, REPORT_PEER_IMPL) == 0)
            continue;
        if (!best || b->t_med < best->t_med) best = b;
    }
    return best;
}

const brow *ds_fastest_shape(const dataset *ds, const char *op, const char *pass, int n,
                             int threads, int d, int heads)
{
    const brow *best = NULL;
    for (int i = 0; i < ds->nb; i++) {
        const brow *b = &ds->b[i];
        if (!b->ok || b->d != d || b->heads != heads || b->n != n || b->threads != threads ||
            strcmp(b->op, op) != 0 || strcmp(b->pass, pass) != 0)
            continue;
        if (!best || b->t_med < best->t_med) best = b;
    }
    return best;
}

static int matches(const dataset *ds, const brow *b, const char *op, const char *pass,
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
        const brow *b = &ds->b[i];
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
        const brow *b = &ds->b[i];
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
static const brow *ceiling_row(const dataset *ds, int threads, int (*has)(const brow *))
{
    const brow *best = NULL;
    int best_main = 0;
    for (int i = 0; i < ds->nb; i++) {
        const brow *b = &ds->b[i];
        if (b->threads != threads || !has(b)) continue;
        int m = at_main_shape(ds, b);
        if (!best || m > best_main || (m == best_main && strcmp(b->date, best->date) > 0)) {
            best = b;
            best_main = m;
        }
    }
    return best;
}

static int has_sgemm(const brow *b) { return b->sgemm > 0; }
static int has_peak(const brow *b) { return b->peak > 0; }

double ds_sgemm(const dataset *ds, int threads, int *sgemm_n)
{
    const brow *best = ceiling_row(ds, threads, has_sgemm);
    if (sgemm_n) *sgemm_n = best ? best->sgemm_n : 0;
    return best ? best->sgemm : -1;
}

double best_t(const dataset *ds, const char *op, const char *pass, int n, int threads)
{
    const brow *b = ds_fastest(ds, op, pass, n, threads);
    return b ? b->t_med : NAN;
}

const brow *ds_roof(const dataset *ds, int threads)
{
    return ceiling_row(ds, threads, has_peak);
}

const mrow *ds_model(const dataset *ds, const char *model, const char *task, int layers, int n)
{
    for (int i = ds->nm - 1; i >= 0; i--) { /* the latest run's row */
        const mrow *x = &ds->m[i];
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
