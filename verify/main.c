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

static void print_table(const impl_result *res, int count, const cell *refcells)
{
    printf("\n%-8s %-16s", "impl", "entry");
    for (int c = 0; c < CHK_COUNT; c++) printf(" %-19s", check_name(c));
    printf("\n(each cell: status worst-err/its-tolerance; determ: differing elements/0;"
           " bad_args: mismatches/0)\n");
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
    int header = 0;
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++)
            for (int c = 0; c < CHK_COUNT; c++) {
                const cell *x = &res[i].cells[e][c];
                if (x->st != CELL_FAIL) continue;
                if (!header++) printf("\nFailures:\n");
                printf("  %s %s %s: %s\n", res[i].impl->name, ca_entry_name(e),
                       check_name(c), x->note);
            }
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
    int header = 0;
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < MODEL_KIND_COUNT; k++)
            for (int c = 0; c < MCHK_COUNT; c++) {
                const cell *x = &mres[i].cells[k][c];
                if (x->st != CELL_FAIL) continue;
                if (!header++) printf("\nModel failures:\n");
                printf("  %s %s %s: %s\n", mres[i].name, model_kind_name(k), model_check_name(c),
                       x->note);
            }
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

int main(int argc, char **argv)
{
    const ca_impl *impls[64];
    int count = 0, threads = 1, quick = 0, verbose = 0, seeds = 3;
    uint64_t seed = 0;
    const char *summary = NULL;
    char *impl_list = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--kernel-paths")) {
            const unsigned cpu = isa_cpu_features();
            printf("%s", ca_isa());
            for (int p = 0; regt_isa_at(p); p++)
                if (!(regt_isa_at(p)->needs & ~cpu) && strcmp(regt_isa_at(p)->name, ca_isa()))
                    printf(" %s", regt_isa_at(p)->name);
            printf("\n");
            return 0;
        } else if (!strcmp(a, "--quick")) {
            quick = 1;
        } else if (!strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--impl") && has_val) {
            impl_list = argv[++i];
        } else if (!strcmp(a, "--threads") && has_val) {
            if (parse_int(argv[++i], &threads)) {
                fprintf(stderr, "verify: --threads wants an integer in 1..1024, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--seed") && has_val) {
            if (parse_seed(argv[++i], &seed)) {
                fprintf(stderr, "verify: --seed wants a non-negative integer below 2^64, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--seeds") && has_val) {
            if (parse_int(argv[++i], &seeds)) {
                fprintf(stderr, "verify: --seeds wants an integer in 1..1024, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--summary") && has_val) {
            summary = argv[++i];
            if (*summary == '\0') {
                fprintf(stderr, "verify: --summary needs a file name\n");
                return 2;
            }
        } else {
            fprintf(stderr, "verify: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    const char *contract = ca_registry_check();
    if (contract) {
        fprintf(stderr, "verify: %s\n", contract);
        return 2;
    }
    if (impl_list) {
        if ((count = parse_impls(impl_list, impls, 63)) <= 0) return 2;
        /* Every tolerance rests on naive's error, so naive's own absolute bound is checked
         * in every run, named or not. */
        const ca_impl *naive = ca_impl_find("naive");
        int named = 0;
        for (int i = 0; i < count; i++) named |= impls[i] == naive;
        if (naive && !named) {
            memmove(impls + 1, impls, (size_t)count * sizeof *impls);
            impls[0] = naive;
            count++;
        }
    } else {
        for (int i = 0; i < ca_impl_count() && i < 64; i++) impls[count++] = ca_impl_at(i);
    }
    /* First, so that a CA_ISA this CPU cannot run is refused before anything is written. */
    const char *isa = ca_isa();
    summary_file sf = {0};
    if (summary && summary_open(&sf, summary)) return 2;
    omp_set_num_threads(threads);
    printf("verify: %d implementation(s), %d thread(s), %s grid, seed %llu (extreme inputs: %d "
           "seed%s); kernel path %s; BLIS %s\n", count, threads, quick ? "quick" : "full",
           (unsigned long long)seed, seeds, seeds > 1 ? "s" : "", isa, ca_blis_config());

    cell refcells[CA_ENTRY_COUNT];
    int fails = verify_reference_gradients(refcells, seed, stderr);
    impl_result *res = calloc((size_t)count, sizeof *res);
    verify_opts o = {.threads = threads, .quick = quick, .progress = stderr, .seed = seed,
                     .extreme_seeds = seeds, .verbose = verbose};
    int f2 = res ? verify_run(impls, count, &o, res) : -1;
    if (f2 < 0) {
        fprintf(stderr, "verify: could not run (see above)\n");
        summary_discard(&sf);
        free(res);
        return 2;
    }
    fails += f2;
    model_result *mres = calloc((size_t)count + 1, sizeof *mres);
    int f3 = mres ? verify_models(impls, count, &o, mres) : -1;
    if (f3 < 0) {
        fprintf(stderr, "verify: the model checks could not run (out of memory)\n");
        summary_discard(&sf);
        free(res);
        free(mres);
        return 2;
    }
    fails += f3;
    print_table(res, count, refcells);
    print_model_table(mres, count + 1);
    /* A summary that could not be written is no verdict on the checks: the table above
     * stands, and the failed write is said apart, with its own exit status. */
    const int write_err =
        summary ? write_summary(&sf, res, count, refcells, mres, count + 1, threads, seed, seeds,
                                quick)
                : 0;
    free(mres);
    printf("\nverify: %s (%d failing cell%s) on the %s kernel path\n",
           fails ? "FAILED" : "all checks passed", fails, fails == 1 ? "" : "s", isa);
    free(res);
    if (write_err) {
        fflush(stdout);
        fprintf(stderr, "verify: cannot write %s: %s (the summary was not written)\n", summary,
                strerror(write_err));
        return 2;
    }
    return fails ? 1 : 0;
}
