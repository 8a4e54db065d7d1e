/* main.c: `verify`, the command behind `make verify`. Runs every check of docs/DESIGN.md §4
 * on the chosen implementations, prints the implementation x entry x check table, writes
 * it as CSV for the report, and exits non-zero on any FAIL. */
#include "blis_ctx.h"
#include "checks.h"
#include "isa.h"
#include "model_checks.h"
#include "regtile.h"
#include "results.h"

#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: verify [--impl a,b,...] [--threads T] [--quick] [--seed S] [--seeds K]\n"
            "              [--verbose] [--summary FILE.csv] | --kernel-paths\n"
            "  --impl     implementations to check (default: all registered: %s)\n"
            "  --threads  threads handed to each implementation (default 1)\n"
            "  --quick    the small shape grid used by `make test`\n"
            "  --seed     added to the seed of every case (default 0: the standard inputs)\n"
            "  --seeds    the extreme and non-finite inputs drawn from K seeds: the case's\n"
            "             own plus 100000 i, i = 0..K-1 (default 3, 1..1024)\n"
            "  --verbose  print every failing case (the table keeps the first per cell)\n"
            "  --summary  also write the table as CSV (read by the report)\n"
            "  --kernel-paths  print the kernel paths this CPU runs, the one chosen first\n"
            "             (CA_ISA=name forces one; `make verify` checks each)\n",
            ca_impl_names());
}

static int parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 1024) return -1;
    *out = (int)v;
    return 0;
}

/* Decimal digits only: strtoull alone would accept a sign and wrap "-1" around. */
static int parse_seed(const char *s, uint64_t *out)
{
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s)) return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Splits a comma list of names into registered implementations. */
static int parse_impls(char *list, const ca_impl **out, int max)
{
    int n = 0;
    if (strspn(list, ", ") == strlen(list)) {
        fprintf(stderr, "verify: --impl needs at least one implementation name (known: %s)\n",
                ca_impl_names());
        return -1;
    }
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        const ca_impl *impl = ca_impl_find(tok);
        if (!impl) {
            fprintf(stderr, "verify: unknown implementation '%s' (known: %s)\n", tok,
                    ca_impl_names());
            return -1;
        }
        if (n == max) {
            fprintf(stderr, "verify: at most %d implementations per run\n", max);
            return -1;
        }
        out[n++] = impl;
    }
    return n;
}

static void fmt_cell(char *buf, size_t len, const cell *c)
{
    if (c->st == CELL_PASS || c->st == CELL_FAIL)
        snprintf(buf, len, "%s %.1e/%.1e", cell_status_name(c->st), c->err, c->tol);
    else
        snprintf(buf, len, "%s", cell_status_name(c->st));
}

/* A FAIL cell as a line of the list under the table, the list's title before its first
 * (*listed counts the lines so far). */
static void list_failure(int *listed, const char *title, const char *name, const char *entry,
                         const char *check, const cell *x)
{
    if (x->st != CELL_FAIL) return;
    if (!(*listed)++) printf("\n%s:\n", title);
    printf("  %s %s %s: %s\n", name, entry, check, x->note);
}

static void print_table(const impl_result *res, int count, const cell *refcells)
{
    printf("\n%-8s %-16s", "impl", "entry");
    for (int c = 0; c < CHK_COUNT; c++) printf(" %-19s", check_name(c));
    printf("\n(each cell: status worst-err/its-tolerance; determ: differing elements/0;"
           " bad_args: mismatches/0;\n window: differing elements/0, cubic_shared_bwd"
           " worst-err/its-tolerance)\n");
    for (int e = 0; e < CA_ENTRY_COUNT; e++) {
        const cell *c = &refcells[e];
        if (c->st == CELL_NA) continue;
        char buf[48];
        fmt_cell(buf, sizeof buf, c);
        printf("%-8s %-16s gradcheck %s  (%s)\n", "ref64", ca_entry_name(e), buf, c->note);
    }
    for (int i = 0; i < count; i++) {
        for (int e = 0; e < CA_ENTRY_COUNT; e++) {
            printf("%-8s %-16s", res[i].impl->name, ca_entry_name(e));
            for (int c = 0; c < CHK_COUNT; c++) {
                char buf[48];
                fmt_cell(buf, sizeof buf, &res[i].cells[e][c]);
                printf(" %-19s", buf);
            }
            printf("\n");
        }
        if (res[i].impl->absent_reason)
            printf("%-8s not provided because: %s\n", res[i].impl->name,
                   res[i].impl->absent_reason);
        if (res[i].impl->runtime_note)
            printf("%-8s runs with: %s\n", res[i].impl->name, res[i].impl->runtime_note());
    }
    int listed = 0;
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++)
            for (int c = 0; c < CHK_COUNT; c++)
                list_failure(&listed, "Failures", res[i].impl->name, ca_entry_name(e),
                             check_name(c), &res[i].cells[e][c]);
}

/* grid: "full" or "quick", the shape grid of the run, in every row, so that the report
 * can say what each row comes from and refuse to mix two grids. */
static void csv_row(FILE *f, const char *impl, const char *entry, const char *check,
                    const cell *c, const char *grid)
{
    char err[32], tol[32];
    snprintf(err, sizeof err, "%.6g", c->err);
    snprintf(tol, sizeof tol, "%.6g", c->tol);
    int measured = c->st == CELL_PASS || c->st == CELL_FAIL;
    const verify_record rec = {impl, entry, check, cell_status_name(c->st), measured ? err : "",
                               measured ? tol : "", c->note, grid, NULL};
    csv_write_record(f, &verify_format, &rec);
}

/* The summary goes to FILE.tmp, renamed over FILE at the end, so a half-written summary
 * never looks complete. The temp file is created before any check runs: a path that
 * cannot be written fails in a moment, not after the whole run. A FILE that exists and is
 * neither a regular file nor a directory (a device, a pipe) is written in place: nothing
 * can be renamed over it. */
typedef struct summary_file {
    const char *path;
    char tmp[4096];
    FILE *f;
    int in_place;
} summary_file;

static int summary_open(summary_file *s, const char *path)
{
    s->path = path;
    s->f = NULL;
    if (snprintf(s->tmp, sizeof s->tmp, "%s.tmp", path) >= (int)sizeof s->tmp) {
        fprintf(stderr, "verify: --summary path too long\n");
        return -1;
    }
    struct stat st;
    const int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "verify: --summary '%s' is a directory\n", path);
        return -1;
    }
    s->in_place = exists && !S_ISREG(st.st_mode);
    const char *open_path = s->in_place ? path : s->tmp;
    if (!(s->f = fopen(open_path, "w"))) {
        fprintf(stderr, "verify: cannot write the summary '%s': %s\n", open_path, strerror(errno));
        return -1;
    }
    return 0;
}

static void summary_discard(summary_file *s)
{
    if (!s->f) return;
    fclose(s->f);
    if (!s->in_place) remove(s->tmp);
    s->f = NULL;
}

static void print_model_table(const model_result *mres, int rows)
{
    char buf[64];
    printf("\n%-8s %-11s", "model", "kind");
    for (int c = 0; c < MCHK_COUNT; c++) printf(" %-19s", model_check_name(c));
    printf("\n");
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < MODEL_KIND_COUNT; k++) {
            printf("%-8s %-11s", mres[i].name, model_kind_name(k));
            for (int c = 0; c < MCHK_COUNT; c++) {
                fmt_cell(buf, sizeof buf, &mres[i].cells[k][c]);
                printf(" %-19s", buf);
            }
            printf("\n");
        }
    int listed = 0;
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < MODEL_KIND_COUNT; k++)
            for (int c = 0; c < MCHK_COUNT; c++)
                list_failure(&listed, "Model failures", mres[i].name, model_kind_name(k),
                             model_check_name(c), &mres[i].cells[k][c]);
}

/* Writes and closes the summary: 0, or the errno of the first failure (the temp file
 * removed). */
static int write_summary(summary_file *s, const impl_result *res, int count,
                         const cell *refcells, const model_result *mres, int mrows,
                         int threads, uint64_t seed, int seeds, int quick)
{
    FILE *f = s->f;
    const char *grid = quick ? "quick" : "full";
    csv_write_header(f, &verify_format);
    cell info = {CELL_NA, 0, 0, 0, ""};
    snprintf(info.note, sizeof info.note,
             "threads=%d; seed=%llu; extreme seeds=%d; kernel path=%s; blis=%s", threads,
             (unsigned long long)seed, seeds, ca_isa(), ca_blis_config());
    csv_row(f, "run", "-", "config", &info, grid);
    for (int e = 0; e < CA_ENTRY_COUNT; e++)
        if (refcells[e].st != CELL_NA)
            csv_row(f, "ref64", ca_entry_name(e), "gradcheck", &refcells[e], grid);
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++)
            for (int c = 0; c < CHK_COUNT; c++)
                csv_row(f, res[i].impl->name, ca_entry_name(e), check_name(c),
                        &res[i].cells[e][c], grid);
    /* Model rows: entry "model_<kind>". */
    for (int i = 0; i < mrows; i++)
        for (int k = 0; k < MODEL_KIND_COUNT; k++)
            for (int c = 0; c < MCHK_COUNT; c++) {
                char entry[40];
                snprintf(entry, sizeof entry, "model_%s", model_kind_name(k));
                csv_row(f, mres[i].name, entry, model_check_name(c), &mres[i].cells[k][c],
                        grid);
            }
    s->f = NULL;
    /* The first error is the one to report: a full disk shows at the flush or the close. */
    int err = fflush(f) != 0 || ferror(f) ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 && !err) err = errno;
    if (!err && !s->in_place && rename(s->tmp, s->path) != 0) err = errno;
    if (err) {
        if (!s->in_place) remove(s->tmp);
        return err;
    }
    return 0;
}

/* What the command line asks for. */
typedef struct verify_args {
    const ca_impl *impls[64];
    int count, threads, quick, verbose, seeds;
    uint64_t seed;
    const char *summary; /* --summary FILE, or NULL */
    char *impl_list;     /* --impl's comma list, or NULL: every registered implementation */
} verify_args;

/* --kernel-paths: the path the library chose, then every other one this CPU runs. */
static void print_kernel_paths(void)
{
    const unsigned cpu = isa_cpu_features();
    printf("%s", ca_isa());
    for (int p = 0; regt_isa_at(p); p++)
        if (!(regt_isa_at(p)->needs & ~cpu) && strcmp(regt_isa_at(p)->name, ca_isa()))
            printf(" %s", regt_isa_at(p)->name);
    printf("\n");
}

/* The command line into *a: -1 to go on, else the exit status of a command that is done
 * (--help, --kernel-paths: 0) or refused (2, said). */
static int parse_args(int argc, char **argv, verify_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(arg, "--kernel-paths")) {
            print_kernel_paths();
            return 0;
        } else if (!strcmp(arg, "--quick")) {
            a->quick = 1;
        } else if (!strcmp(arg, "--verbose")) {
            a->verbose = 1;
        } else if (!strcmp(arg, "--impl") && has_val) {
            a->impl_list = argv[++i];
        } else if (!strcmp(arg, "--threads") && has_val) {
            if (parse_int(argv[++i], &a->threads)) {
                fprintf(stderr, "verify: --threads wants an integer in 1..1024, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(arg, "--seed") && has_val) {
            if (parse_seed(argv[++i], &a->seed)) {
                fprintf(stderr, "verify: --seed wants a non-negative integer below 2^64, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(arg, "--seeds") && has_val) {
            if (parse_int(argv[++i], &a->seeds)) {
                fprintf(stderr, "verify: --seeds wants an integer in 1..1024, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(arg, "--summary") && has_val) {
            a->summary = argv[++i];
            if (*a->summary == '\0') {
                fprintf(stderr, "verify: --summary needs a file name\n");
                return 2;
            }
        } else {
            fprintf(stderr, "verify: unknown or incomplete argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

/* Every registered implementation honours the contract of docs/DESIGN.md §2.5, or
 * verify refuses to run (said). */
static int registry_ok(void)
{
    const char *contract = ca_registry_check();
    if (contract) fprintf(stderr, "verify: %s\n", contract);
    return contract == NULL;
}

/* a->impls: the --impl list, with naive added first when not named (every tolerance
 * rests on naive's error, so its own absolute bound is checked in every run), or every
 * registered implementation. 0, or -1 on a bad list (said). */
static int choose_impls(verify_args *a)
{
    if (!a->impl_list) {
        for (int i = 0; i < ca_impl_count() && i < 64; i++)
            a->impls[a->count++] = ca_impl_at(i);
        return 0;
    }
    if ((a->count = parse_impls(a->impl_list, a->impls, 63)) <= 0) return -1;
    const ca_impl *naive = ca_impl_find("naive");
    int named = 0;
    for (int i = 0; i < a->count; i++) named |= a->impls[i] == naive;
    if (naive && !named) {
        memmove(a->impls + 1, a->impls, (size_t)a->count * sizeof *a->impls);
        a->impls[0] = naive;
        a->count++;
    }
    return 0;
}

static void print_banner(const verify_args *a, const char *isa)
{
    printf("verify: %d implementation(s), %d thread(s), %s grid, seed %llu (extreme inputs: %d "
           "seed%s); kernel path %s; BLIS %s\n", a->count, a->threads,
           a->quick ? "quick" : "full", (unsigned long long)a->seed, a->seeds,
           a->seeds > 1 ? "s" : "", isa, ca_blis_config());
}

/* Every cell of one run: the reference's gradient check, the implementations' table
 * (res[count]) and the model rows (mres[count + 1], the float64 model's last). */
typedef struct verify_cells {
    cell refcells[CA_ENTRY_COUNT];
    impl_result *res;
    model_result *mres;
    int fails; /* FAIL cells in all */
} verify_cells;

static void cells_free(verify_cells *v)
{
    free(v->res);
    free(v->mres);
}

/* Runs every check into *v: 0, or -1 when the checks could not run (said). */
static int run_checks(const verify_args *a, verify_cells *v)
{
    v->fails = verify_reference_gradients(v->refcells, a->seed, stderr);
    v->res = calloc((size_t)a->count, sizeof *v->res);
    const verify_opts o = {.threads = a->threads, .quick = a->quick, .progress = stderr,
                           .seed = a->seed, .extreme_seeds = a->seeds, .verbose = a->verbose};
    const int f2 = v->res ? verify_run(a->impls, a->count, &o, v->res) : -1;
    if (f2 < 0) {
        fprintf(stderr, "verify: could not run (see above)\n");
        return -1;
    }
    v->fails += f2;
    v->mres = calloc((size_t)a->count + 1, sizeof *v->mres);
    const int f3 = v->mres ? verify_models(a->impls, a->count, &o, v->mres) : -1;
    if (f3 < 0) {
        fprintf(stderr, "verify: the model checks could not run (out of memory)\n");
        return -1;
    }
    v->fails += f3;
    return 0;
}

/* The exit status: 1 on any FAIL, 2 when the summary could not be written. A summary
 * that could not be written is no verdict on the checks: the table stands, and the
 * failed write is said apart. */
static int report_verdict(const verify_args *a, const verify_cells *v, const char *isa,
                          int write_err)
{
    printf("\nverify: %s (%d failing cell%s) on the %s kernel path\n",
           v->fails ? "FAILED" : "all checks passed", v->fails, v->fails == 1 ? "" : "s", isa);
    if (write_err) {
        fflush(stdout);
        fprintf(stderr, "verify: cannot write %s: %s (the summary was not written)\n",
                a->summary, strerror(write_err));
        return 2;
    }
    return v->fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    verify_args a = {.threads = 1, .seeds = 3};
    const int done = parse_args(argc, argv, &a);
    if (done >= 0) return done;
    if (!registry_ok() || choose_impls(&a) != 0) return 2;
    /* First, so that a CA_ISA this CPU cannot run is refused before anything is written. */
    const char *isa = ca_isa();
    summary_file sf = {0};
    if (a.summary && summary_open(&sf, a.summary)) return 2;
    omp_set_num_threads(a.threads);
    print_banner(&a, isa);
    verify_cells v = {0};
    if (run_checks(&a, &v) != 0) {
        summary_discard(&sf);
        cells_free(&v);
        return 2;
    }
    print_table(v.res, a.count, v.refcells);
    print_model_table(v.mres, a.count + 1);
    const int write_err = a.summary ? write_summary(&sf, v.res, a.count, v.refcells, v.mres,
                                                    a.count + 1, a.threads, a.seed, a.seeds,
                                                    a.quick)
                                    : 0;
    const int status = report_verdict(&a, &v, isa, write_err);
    cells_free(&v);
    return status;
}
