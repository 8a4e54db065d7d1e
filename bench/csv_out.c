/* csv_out.c: the results CSV, written through libcsv (every field quoted by csv_fwrite).
 * Rows go to a temp file beside the destination, renamed over it only when the sweep
 * finishes, so an interrupted run never leaves a file that looks complete; the signals
 * that can be caught (SIGINT, SIGTERM, SIGHUP, SIGQUIT, unless the caller ignores them) remove
 * the temp file. SIGKILL
 * cannot be: .gitignore covers what it leaves. */
#include "bench.h"

#include <csv.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The stable column names of a bench row, in order. The report reads columns by name. */
static const char *const bench_columns[] = {
    "impl", "op", "pass", "n", "d", "heads", "threads", "reps",
    "t_min_s", "t_median_s", "t_max_s", "gflops", "frac_of_sgemm", "flops", "bytes",
    "max_err", "err_ref", "predicted_s", "status", "sgemm_gflops", "sgemm_n", "impl_note",
    "peak_gflops", "frac_of_peak", "ukr_gflops", "bw_gbs", "bytes_moved", "gbs", "frac_of_bw",
    "cache_state", "peak_note", "commit", "date", "compiler", "cflags", "cpu", "cores", "blis_config",
    "kernel_isa", "other_cores", "grid",
};
enum { BENCH_NCOL = sizeof bench_columns / sizeof bench_columns[0] };

struct csv_out {
    FILE *f;
    char *path;
    char *tmp;
    int ncol; /* columns of the header */
    int col;  /* columns written in the current row */
};

/* The temp file the signal handler removes (one sweep per process). */
static char *volatile pending_tmp;

static void on_signal(int sig)
{
    if (pending_tmp) unlink(pending_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

csv_out *csv_out_open(const char *path)
{
    return csv_out_open_columns(path, bench_columns, BENCH_NCOL);
}

csv_out *csv_out_open_columns(const char *path, const char *const *columns, int ncol)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "bench: cannot write results to '%s': it is a directory\n", path);
        return NULL;
    }
    csv_out *c = calloc(1, sizeof *c);
    size_t len = strlen(path);
    if (!c || !(c->path = malloc(len + 1)) || !(c->tmp = malloc(len + 16))) {
        fprintf(stderr, "bench: out of memory\n");
        if (c) free(c->path);
        free(c);
        return NULL;
    }
    memcpy(c->path, path, len + 1);
    snprintf(c->tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(c->tmp);
    if (fd < 0) {
        fprintf(stderr, "bench: cannot write results to '%s': %s%s\n", path, strerror(errno),
                errno == ENOENT ? " (its directory does not exist)" : "");
        free(c->tmp);
        free(c->path);
        free(c);
        return NULL;
    }
    fchmod(fd, 0644);
    c->f = fdopen(fd, "w");
    if (!c->f) {
        fprintf(stderr, "bench: cannot write results to '%s': %s\n", path, strerror(errno));
        close(fd);
        unlink(c->tmp);
        free(c->tmp);
        free(c->path);
        free(c);
        return NULL;
    }
    pending_tmp = c->tmp;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* A signal the caller ignores stays ignored: `nohup make bench` must survive logout. */
    static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) {
        struct sigaction old;
        if (sigaction(caught[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(caught[i], &sa, NULL);
    }
    c->ncol = ncol;
    for (int i = 0; i < ncol; i++) {
        if (i) fputc(',', c->f);
        csv_fwrite(c->f, columns[i], strlen(columns[i]));
    }
    fputc('\n', c->f);
    return c;
}

void csv_out_field(csv_out *c, const char *s)
{
    if (c->col++) fputc(',', c->f);
    csv_fwrite(c->f, s, strlen(s));
}

void csv_out_num(csv_out *c, const char *fmt, double x, int present)
{
    char buf[64] = "";
    if (present) snprintf(buf, sizeof buf, fmt, x);
    csv_out_field(c, buf);
}

void csv_out_int(csv_out *c, long x)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", x);
    csv_out_field(c, buf);
}

int csv_out_end_row(csv_out *c)
{
    const int cols = c->col;
    c->col = 0;
    if (cols != c->ncol) {
        fprintf(stderr, "bench: internal error: a row of %d fields under %d columns\n", cols,
                c->ncol);
        return -1;
    }
    fputc('\n', c->f);
    fflush(c->f);
    if (ferror(c->f)) {
        fprintf(stderr, "bench: write error on '%s'\n", c->tmp);
        return -1;
    }
    return 0;
}

int csv_out_row(csv_out *c, const bench_row *r, const machine_info *m)
{
    const int timed = r->t_median > 0;
    csv_out_field(c, r->impl);
    csv_out_field(c, ca_op_get(r->op)->name);
    csv_out_field(c, bpass_name(r->pass));
    csv_out_int(c, r->n);
    csv_out_int(c, r->d);
    csv_out_int(c, r->heads);
    csv_out_int(c, r->threads);
    csv_out_int(c, timed ? r->reps : 0);
    csv_out_num(c, "%.6e", r->t_min, timed);
    csv_out_num(c, "%.6e", r->t_median, timed);
    csv_out_num(c, "%.6e", r->t_max, timed);
    csv_out_num(c, "%.4f", r->gflops, timed);
    csv_out_num(c, "%.4f", r->frac_of_sgemm, timed && r->sgemm_gflops > 0);
    csv_out_num(c, "%.6e", r->flops, 1);
    csv_out_num(c, "%.0f", r->bytes, r->bytes >= 0);
    csv_out_num(c, "%.3e", r->max_err, r->max_err >= 0);
    csv_out_field(c, r->err_ref ? r->err_ref : "");
    csv_out_num(c, "%.3e", r->predicted_s, r->predicted_s >= 0);
    csv_out_field(c, r->status);
    csv_out_num(c, "%.3f", r->sgemm_gflops, r->sgemm_gflops > 0);
    csv_out_int(c, r->sgemm_n);
    csv_out_field(c, r->impl_note ? r->impl_note : "");
    csv_out_num(c, "%.3f", r->peak_gflops, r->peak_gflops > 0);
    csv_out_num(c, "%.4g", r->gflops / r->peak_gflops, timed && r->peak_gflops > 0);
    csv_out_num(c, "%.3f", r->ukr_gflops, r->ukr_gflops > 0);
    csv_out_num(c, "%.3f", r->bw_gbs, r->bw_gbs > 0);
    csv_out_num(c, "%.0f", r->bytes_moved, r->bytes_moved > 0);
    csv_out_num(c, "%.4g", r->gbs, timed && r->gbs > 0);
    csv_out_num(c, "%.4g", r->gbs / r->bw_gbs, timed && r->gbs > 0 && r->bw_gbs > 0);
    csv_out_field(c, r->cache_state ? r->cache_state : "");
    csv_out_field(c, r->peak_note ? r->peak_note : "");
    csv_out_field(c, m->commit);
    csv_out_field(c, m->date);
    csv_out_field(c, m->compiler);
    csv_out_field(c, m->cflags);
    csv_out_field(c, m->cpu);
    csv_out_int(c, m->cores);
    csv_out_field(c, m->blis_config);
    csv_out_field(c, m->kernel_isa);
    csv_out_num(c, "%.2f", m->other_cores, m->other_cores >= 0);
    csv_out_field(c, m->grid);
    return csv_out_end_row(c);
}

static void release(csv_out *c)
{
    pending_tmp = NULL;
    free(c->tmp);
    free(c->path);
    free(c);
}

int csv_out_commit(csv_out *c)
{
    int bad = fflush(c->f) != 0 || ferror(c->f);
    bad |= fsync(fileno(c->f)) != 0;
    bad |= fclose(c->f) != 0;
    if (bad || rename(c->tmp, c->path) != 0) {
        fprintf(stderr, "bench: cannot write results to '%s': %s\n", c->path, strerror(errno));
        unlink(c->tmp);
        release(c);
        return -1;
    }
    release(c);
    return 0;
}

void csv_out_abort(csv_out *c)
{
    if (!c) return;
    fclose(c->f);
    unlink(c->tmp);
    release(c);
}
