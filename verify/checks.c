/* checks.c: the table of docs/DESIGN.md §4 (checks.h): its cells and how a case is
 * recorded in one, the progress lines, and verify_run, which runs the checks (one per
 * file, check_<name>.c) in the order of check_kind. */
#include "check.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *check_name(check_kind c)
{
    static const char *const names[CHK_COUNT] = {"vs_ref", "extreme", "own_fd",
                                                 "equiv", "determ", "bad_args",
                                                 "window"};
    return (unsigned)c < CHK_COUNT ? names[c] : "unknown";
}

const char *cell_status_name(cell_status st)
{
    switch (st) {
    case CELL_NA: return "-";
    case CELL_NOT_PROVIDED: return "not provided";
    case CELL_PASS: return "PASS";
    case CELL_FAIL: return "FAIL";
    }
    return "?";
}

/* ---- cells ------------------------------------------------------------------------ */

/* Where every failing case is reported as it happens (verify_opts.verbose), or NULL:
 * a cell keeps only its first failure. The results of the run, to name a cell's owner. */
static FILE *fail_log;
static const impl_result *log_res;
static int log_count;

static void log_failure(const cell *c, const char *fmt, va_list ap)
{
    const char *impl = "?", *entry = "?", *check = "?";
    for (int i = 0; i < log_count; i++) {
        const cell *first = &log_res[i].cells[0][0];
        if (c < first || c >= first + CA_ENTRY_COUNT * CHK_COUNT) continue;
        const ptrdiff_t at = c - first;
        impl = log_res[i].impl->name;
        entry = ca_entry_name((ca_entry)(at / CHK_COUNT));
        check = check_name((check_kind)(at % CHK_COUNT));
    }
    fprintf(fail_log, "verify: FAIL %s %s %s: ", impl, entry, check);
    vfprintf(fail_log, fmt, ap);
    fputc('\n', fail_log);
}

void cell_record(cell *c, double err, double tol, const char *fmt, ...)
{
    int ok = within(err, tol);
    if (!ok && fail_log) {
        va_list ap;
        va_start(ap, fmt);
        log_failure(c, fmt, ap);
        va_end(ap);
    }
    if (c->cases == 0 || ratio(err, tol) > ratio(c->err, c->tol)) {
        c->err = err;
        c->tol = tol;
    }
    c->cases++;
    if (!ok && c->st != CELL_FAIL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->note, sizeof c->note, fmt, ap);
        va_end(ap);
        c->err = err;
        c->tol = tol;
    }
    if (!ok) c->st = CELL_FAIL;
    else if (c->st != CELL_FAIL) c->st = CELL_PASS;
}

void cell_error(cell *c, ca_status st, const char *what)
{
    if (st == CA_ERR_NOT_PROVIDED) {
        if (c->st == CELL_NA) c->st = CELL_NOT_PROVIDED;
        return;
    }
    if (c->st != CELL_FAIL)
        snprintf(c->note, sizeof c->note, "%s: %s", what, ca_status_str(st));
    c->st = CELL_FAIL;
    c->err = INFINITY;
    c->cases++;
}

void set_note(cell *c, const char *fmt, ...)
{
    if (c->st == CELL_FAIL) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->note, sizeof c->note, fmt, ap);
    va_end(ap);
}

void verify_progress(FILE *f, const char *fmt, ...)
{
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fflush(f);
}

/* ---- the whole run: the checks in the order of check_kind -------------------------------- */

static int check_wanted(const verify_opts *o, check_kind c)
{
    return o->checks == 0 || (o->checks >> c & 1u);
}

int verify_run(const ca_impl *const *impls, int count, const verify_opts *o,
               impl_result *res)
{
    const ca_impl *naive = o->baseline ? o->baseline : ca_impl_find("naive");
    if (naive == NULL) {
        fprintf(stderr, "verify: the baseline implementation 'naive' is not registered\n");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].impl = impls[i];
    }
    fail_log = o->verbose ? o->progress : NULL;
    log_res = res;
    log_count = count;
    if ((check_wanted(o, CHK_REF) && check_vs_ref(naive, impls, count, o, res)) ||
        (check_wanted(o, CHK_EXTREME) && check_extreme(naive, impls, count, o, res)))
        return -1;
    if (check_wanted(o, CHK_FD)) check_own_fd(naive, impls, count, o, res);
    if (check_wanted(o, CHK_EQUIV)) check_equiv(naive, impls, count, o, res);
    if (check_wanted(o, CHK_DETERMINISM)) check_determ(impls, count, o, res);
    if (check_wanted(o, CHK_BADARGS)) check_bad_args(impls, count, o, res);
    if (check_wanted(o, CHK_WINDOW) && check_window(naive, impls, count, o, res)) return -1;
    int fails = 0;
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++)
            for (int c = 0; c < CHK_COUNT; c++) fails += res[i].cells[e][c].st == CELL_FAIL;
    return fails;
}
