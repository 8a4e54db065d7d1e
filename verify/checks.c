/* checks.c: every check of docs/DESIGN.md §4 for a set of implementations. Each case computes
 * the float64 reference and the naive baseline once, then runs every implementation on
 * the same inputs (ggml's test-backend-ops habit). */
#include "checks.h"

#include "problem.h"
#include "cubattn_harness.h"
#include "tolerance.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *check_name(check_kind c)
{
    static const char *const names[CHK_COUNT] = {"vs_ref", "extreme", "own_fd",
                                                 "equiv", "determ", "bad_args"};
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

static double ratio(double err, double tol)
{
    if (isnan(err)) return INFINITY;
    return tol > 0.0 ? err / tol : (err > 0.0 ? INFINITY : 0.0);
}

/* err within tol, both finite: what cell_record passes. */
static int within(double err, double tol) { return isfinite(err) && isfinite(tol) && err <= tol; }

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

/* ---- comparing one case against the reference --------------------------------------- */

enum { T_O, T_LSE, T_DQ, T_DK, T_DV, T_COUNT };
static const char *const tensor_names[T_COUNT] = {"o", "lse", "dq", "dk", "dv"};

static const float *out_tensor(const tensors *t, int k)
{
    const float *x[T_COUNT] = {t->o, t->lse, t->dq, t->dk, t->dv};
    return x[k];
}

static const double *ref_tensor(const problem *p, int k)
{
    const double *x[T_COUNT] = {p->ro, p->rlse, p->rdq, p->rdk, p->rdv};
    return x[k];
}

static size_t tensor_elems(const problem *p, int k)
{
    return k == T_O ? p->out_elems : k == T_LSE ? p->lse_elems : k == T_DQ ? p->q_elems
                                                                          : p->kv_elems;
}

static void tensor_errors(const problem *p, const tensors *t, int with_bwd, double err[T_COUNT])
{
    err[T_O] = ca_rel_err(t->o, p->ro, p->out_elems);
    /* lse is a logarithm: its error is absolute (divided by max|lse| it would shrink
     * with the logits' scale exactly where it matters). */
    err[T_LSE] = ca_abs_err(t->lse, p->rlse, p->lse_elems);
    for (int i = T_DQ; i < T_COUNT; i++) err[i] = NAN;
    if (!with_bwd) return;
    err[T_DQ] = ca_rel_err(t->dq, p->rdq, p->q_elems);
    err[T_DK] = ca_rel_err(t->dk, p->rdk, p->kv_elems);
    err[T_DV] = ca_rel_err(t->dv, p->rdv, p->kv_elems);
}

/* Where tensor k is non-finite and the reference is not, or the other way round: the
 * counts and the first such element as (head, row, column), for the failure note. */
static void describe_mismatch(char *buf, size_t len, const problem *p, const tensors *t, int k)
{
    const float *x = out_tensor(t, k);
    const double *ref = ref_tensor(p, k);
    const size_t n = tensor_elems(p, k), w = k == T_LSE ? 1 : (size_t)p->sh.d;
    const size_t per_head = n / (size_t)p->sh.heads;
    size_t bad_nf = 0, bad_f = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        int xf = isfinite(x[i]) != 0, rf = isfinite(ref[i]) != 0;
        if (xf == rf) continue;
        if (first == n) first = i;
        if (rf) bad_nf++;
        else bad_f++;
    }
    if (first == n) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, " (%zu non-finite where the reference is finite, %zu finite where it is "
             "not; first: head %zu row %zu col %zu)", bad_nf, bad_f, first / per_head,
             first % per_head / w, first % w);
}

/* max|x| over the finite elements (the denominator of ca_rel_err). */
static double max_finite(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) m = fmax(m, fabs(x[i]));
    return m;
}

/* The magnitude of tensor k in the units of its metric (tolerance.h): max M / max|ref|
 * for the relative errors (with max|ref| = 0, ca_rel_err is max|x| itself, held to the
 * magnitude); max|lse| for lse, whose error is absolute. */
static double magnitude_ratio(const problem *p, int k)
{
    const double mag[T_COUNT] = {p->mag_o, 0.0, p->mag_dq, p->mag_dk, p->mag_dv};
    double m = max_finite(ref_tensor(p, k), tensor_elems(p, k));
    if (k == T_LSE) return m;
    return m > 0.0 ? mag[k] / m : mag[k];
}

/* The derived bound of tensor k (logit-scaled inputs; tolerance.h) in its metric's units. */
static double derived_tol(const problem *p, int k)
{
    const double bound[T_COUNT] = {p->bound_o, p->bound_lse, p->bound_dq, p->bound_dk,
                                   p->bound_dv};
    if (k == T_LSE) return bound[k];
    double m = max_finite(ref_tensor(p, k), tensor_elems(p, k));
    return m > 0.0 ? bound[k] / m : bound[k];
}

/* The baseline's own bound on tensor k of p. */
static double naive_tol(const problem *p, int k)
{
    if (k >= T_DQ && problem_bwd(p) == CA_NO_ENTRY) return NAN;
    if (input_logit_scaled(p->kind)) return derived_tol(p, k);
    /* lse's bound is absolute already */
    return tol_naive_bound(problem_longest_sum(p, k >= T_DQ), p->max_abs_logit,
                           k == T_LSE ? 1.0 : magnitude_ratio(p, k));
}

/* What an implementation is held to on tensor k of p, given the baseline's error. */
static double baseline_tol(const problem *p, int k, double base)
{
    if (k >= T_DQ && problem_bwd(p) == CA_NO_ENTRY) return NAN;
    if (input_logit_scaled(p->kind)) return derived_tol(p, k);
    return tol_vs_baseline(base, magnitude_ratio(p, k));
}

static void record_tensors(cell *c, const problem *p, const tensors *t,
                           const double err[T_COUNT], const double tol[T_COUNT], int from,
                           int to, const char *label)
{
    int worst = from;
    for (int i = from; i < to; i++)
        if (ratio(err[i], tol[i]) > ratio(err[worst], tol[worst])) worst = i;
    char why[160] = "";
    if (isinf(err[worst])) describe_mismatch(why, sizeof why, p, t, worst);
    cell_record(c, err[worst], tol[worst], "%s: %s err %.3g > tol %.3g%s", label,
                tensor_names[worst], err[worst], tol[worst], why);
}

/* The baseline's error per tensor: the worst of naive over BASELINE_ORDERINGS orderings
 * of the head dimension (tolerance.h says why one ordering is not enough). */
static ca_status baseline_errors(const problem *p, const ca_impl *naive, int threads,
                                 int with_bwd, tensors *t, double base[T_COUNT])
{
    /* At d = 1 every ordering is the identity. */
    const int orderings = p->sh.d > 1 ? BASELINE_ORDERINGS : 1;
    for (int ord = 0; ord < orderings; ord++) {
        double err[T_COUNT];
        ca_status st = problem_run_reordered(p, naive, threads, with_bwd, ord, t);
        if (st != CA_OK) return st;
        tensor_errors(p, t, with_bwd, err);
        for (int k = 0; k < T_COUNT; k++) base[k] = ord == 0 || err[k] > base[k] ? err[k] : base[k];
    }
    return CA_OK;
}

/* Runs the baseline and every implementation on p (reference already computed). A case
 * no implementation under test can run is recorded as not provided, baseline unrun. */
static int compare_case(const problem *p, const ca_impl *naive, const ca_impl *const *impls,
                        int count, check_kind chk, int threads, impl_result *res,
                        const char *label)
{
    const ca_entry fe = problem_fwd(p), be = problem_bwd(p);
    const int has_bwd = be != CA_NO_ENTRY;
    int anyone = 0;
    for (int i = 0; i < count; i++) anyone |= ca_impl_provides(impls[i], fe);
    if (!anyone) {
        for (int i = 0; i < count; i++) {
            cell_error(&res[i].cells[fe][chk], CA_ERR_NOT_PROVIDED, label);
            if (has_bwd) cell_error(&res[i].cells[be][chk], CA_ERR_NOT_PROVIDED, label);
        }
        return 0;
    }
    tensors t;
    if (tensors_alloc(p, &t) != CA_OK) return -1;
    /* At logit-scaled inputs every tolerance is the derived bound: no baseline to run. */
    double base[T_COUNT] = {0};
    ca_status st = input_logit_scaled(p->kind) ? CA_OK
                                                : baseline_errors(p, naive, threads, has_bwd, &t, base);
    if (st != CA_OK) {
        fprintf(stderr, "verify: the baseline '%s' failed on %s: %s\n", naive->name, label,
                ca_status_str(st));
        tensors_free(&t);
        return -1;
    }

    for (int i = 0; i < count; i++) {
        const ca_impl *impl = impls[i];
        double err[T_COUNT], tol[T_COUNT];
        int with_bwd = has_bwd && ca_impl_provides(impl, be);
        st = problem_run(p, impl, threads, with_bwd, &t);
        if (st != CA_OK) {
            /* A forward failure also leaves the backward untested: say so on both. */
            cell_error(&res[i].cells[fe][chk], st, label);
            if (has_bwd) cell_error(&res[i].cells[be][chk], st, label);
            continue;
        }
        if (has_bwd && !with_bwd) cell_error(&res[i].cells[be][chk], CA_ERR_NOT_PROVIDED, label);
        tensor_errors(p, &t, with_bwd, err);
        for (int k = 0; k < T_COUNT; k++)
            tol[k] = impl == naive ? naive_tol(p, k) : baseline_tol(p, k, base[k]);
        record_tensors(&res[i].cells[fe][chk], p, &t, err, tol, T_O, T_DQ, label);
        if (!with_bwd) continue;
        /* The backward takes its forward's o and lse. When those are off the reference,
         * it is judged again on the baseline's (whose own backward set its tolerance), so that a wrong
         * forward fails itself, not a correct backward with it. */
        char given[160];
        const char *bwd_label = label;
        if (!within(err[T_O], tol[T_O]) || !within(err[T_LSE], tol[T_LSE])) {
            st = problem_run(p, naive, threads, 0, &t);
            if (st == CA_OK) st = problem_run_bwd(p, impl, threads, &t);
            if (st != CA_OK) {
                cell_error(&res[i].cells[be][chk], st, label);
                continue;
            }
            tensor_errors(p, &t, 1, err);
            snprintf(given, sizeof given, "%s, given %s's o and lse (its forward's are off)",
                     label, naive->name);
            bwd_label = given;
        }
        record_tensors(&res[i].cells[be][chk], p, &t, err, tol, T_DQ, T_COUNT, bwd_label);
    }
    tensors_free(&t);
    return 0;
}

/* One case of the grid or the extreme inputs: build, reference, compare. */
static int run_case(const ca_impl *naive, const ca_impl *const *impls, int count,
                    check_kind chk, const verify_opts *o, impl_result *res, ca_op op,
                    ca_shape sh, input_kind kind, const nonfinite *nf, uint64_t seed,
                    const char *label)
{
    problem p;
    int rc = -1;
    if (problem_init(&p, op, sh, kind, o->seed + seed) == CA_OK) {
        if (nf) problem_set_nonfinite(&p, *nf);
        if (problem_reference(&p) == CA_OK)
            rc = compare_case(&p, naive, impls, count, chk, o->threads, res, label);
    }
    problem_free(&p);
    return rc;
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

/* ---- §4.3 + §4.5: the awkward-shape grid -------------------------------------------- */

static const int grid_n_full[] = {1, 2, 3, 7, 17, 64, 65, 100, 257};
static const int grid_d_full[] = {1, 3, 16, 64, 80, 128};
static const int grid_n_quick[] = {1, 2, 3, 7, 17, 65};
static const int grid_d_quick[] = {1, 3, 16, 80};
#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The per-prefix operators cost Theta(N^3 d) in the reference: at N = 257 only two head
 * dims are run (stated in the cell's note, not skipped silently). */
static int grid_case_wanted(ca_op op, int n, int d)
{
    if (op_per_prefix(op) && n > 100) return d == 3 || d == 64;
    return 1;
}

/* Race-sized cases: one head and many 64-row key tiles, so that every thread of a
 * threaded backward adds into query rows other threads add into too (a race there loses
 * or reorders updates; see also check_determinism). The reference costs Theta(N^2 d) for
 * causal; the per-prefix operators cost Theta(N^3 d) (about 10 s per case at N = 512,
 * d = 3 here, 8x that at N = 1024), so they run N = 512 at d = 3 in the full grid only. */
typedef struct big_case { int n, d; } big_case;
static const big_case big_full[] = {{512, 64}, {1024, 64}};
static const big_case big_quick[] = {{512, 16}, {1024, 16}};
static const big_case big_prefix_full[] = {{512, 3}};

/* Shapes past 2048 rows, full grid only, one head: an index or tile offset kept in a type
 * too narrow for it goes wrong only there. Row operators at 2049 and 4097 (d = 128 at the
 * largest); cubic_last's packed keys hold 2.1 million rows at N = 2049; cubic_shared's
 * reference and naive cost Theta(N^3 d), so N = 2049 runs at d = 1 (where the baseline's
 * three orderings of d are one). cubic has none here: its packed offsets already pass
 * 4096 rows in the grid (N = 257: 33,153 rows). */
static int long_cases(ca_op op, const big_case **out)
{
    static const big_case rows[] = {{2049, 64}, {4097, 128}}, step[] = {{4097, 128}},
                          last[] = {{2049, 3}}, shared[] = {{2049, 1}};
    switch (op) {
    case CA_OP_CAUSAL:
    case CA_OP_FULL: *out = rows; return COUNT_OF(rows);
    case CA_OP_DECODE: *out = step; return COUNT_OF(step);
    case CA_OP_CUBIC_LAST: *out = last; return COUNT_OF(last);
    case CA_OP_CUBIC_SHARED: *out = shared; return COUNT_OF(shared);
    default: *out = NULL; return 0;
    }
}

static int check_grid(const ca_impl *naive, const ca_impl *const *impls, int count,
                      const verify_opts *o, impl_result *res)
{
    const int *ns = o->quick ? grid_n_quick : grid_n_full;
    const int *ds = o->quick ? grid_d_quick : grid_d_full;
    int nn = o->quick ? COUNT_OF(grid_n_quick) : COUNT_OF(grid_n_full);
    int nd = o->quick ? COUNT_OF(grid_d_quick) : COUNT_OF(grid_d_full);
    for (int op = 0; op < CA_OP_COUNT; op++) {
        verify_progress(o->progress, "verify: vs_ref %-12s N up to %d, d up to %d\n",
                        op_name(op), ns[nn - 1], ds[nd - 1]);
        int idx = 0;
        for (int a = 0; a < nn; a++)
            for (int b = 0; b < nd; b++) {
                if (!grid_case_wanted(op, ns[a], ds[b])) continue;
                ca_shape sh = {ns[a], ds[b], 1 + idx % 3}; /* 1, 2, 3 heads in turn */
                char label[96];
                snprintf(label, sizeof label, "%s N=%d d=%d heads=%d", op_name(op), sh.n,
                         sh.d, sh.heads);
                if (run_case(naive, impls, count, CHK_REF, o, res, op, sh, IN_NORMAL, NULL,
                             1000 + idx, label))
                    return -1;
                idx++;
            }
        /* The race-sized cases, for every operator with a backward. */
        const int per_prefix = op_per_prefix(op), has_bwd = ca_op_get(op)->bwd != CA_NO_ENTRY;
        const big_case *big = per_prefix ? (o->quick ? NULL : big_prefix_full)
                                         : (o->quick ? big_quick : big_full);
        int nbig = !has_bwd || !big ? 0
                   : per_prefix     ? COUNT_OF(big_prefix_full)
                   : o->quick       ? COUNT_OF(big_quick)
                                    : COUNT_OF(big_full);
        char big_note[160] = "";
        for (int b = 0; b < nbig; b++) {
            ca_shape sh = {big[b].n, big[b].d, 1};
            char label[96];
            snprintf(label, sizeof label, "%s N=%d d=%d heads=1", op_name(op), sh.n, sh.d);
            verify_progress(o->progress, "verify: vs_ref %s\n", label);
            if (run_case(naive, impls, count, CHK_REF, o, res, op, sh, IN_NORMAL, NULL,
                         1500 + b, label))
                return -1;
            size_t used = strlen(big_note);
            snprintf(big_note + used, sizeof big_note - used, "%sN=%d d=%d", b ? ", " : "; heads=1 at ",
                     sh.n, sh.d);
        }
        if (has_bwd && per_prefix)
            snprintf(big_note + strlen(big_note), sizeof big_note - strlen(big_note), "%s",
                     o->quick ? "; N>65 in the full grid only" : " (N=1024: reference too slow)");
        const big_case *lng = NULL;
        const int nlong = o->quick ? 0 : long_cases(op, &lng);
        for (int b = 0; b < nlong; b++) {
            ca_shape sh = {lng[b].n, lng[b].d, 1};
            char label[96];
            snprintf(label, sizeof label, "%s N=%d d=%d heads=1", op_name(op), sh.n, sh.d);
            verify_progress(o->progress, "verify: vs_ref %s (past 2048 rows)\n", label);
            if (run_case(naive, impls, count, CHK_REF, o, res, op, sh, IN_NORMAL, NULL,
                         1600 + b, label))
                return -1;
            size_t used = strlen(big_note);
            snprintf(big_note + used, sizeof big_note - used, "%sN=%d d=%d",
                     b ? ", " : "; past 2048 rows: ", sh.n, sh.d);
        }
        nbig += nlong;
        for (int i = 0; i < count; i++) {
            set_note(&res[i].cells[ca_op_get(op)->fwd][CHK_REF], "%d shapes, N<=%d d<=%d%s%s",
                     idx + nbig, ns[nn - 1], ds[nd - 1],
                     per_prefix && !o->quick ? " (N=257 at d=3,64)" : "", big_note);
            if (has_bwd)
                set_note(&res[i].cells[ca_op_get(op)->bwd][CHK_REF], "%d shapes%s", idx + nbig,
                         big_note);
        }
    }
    return 0;
}

/* ---- §4.5: softmax-breaking inputs -------------------------------------------------- */

/* Head dims of the extreme inputs: odd (a vector kernel's tail), the common 16, and the
 * wide 64 and 128 (long dot products at logits x1e4). Non-finite inputs at an odd d and
 * 16: their outcome is where NaN/Inf lands, which the tail and the body decide. */
static const int extreme_d[] = {3, 16, 64, 128};
static const int nonfinite_d[] = {3, 16};

static int input_wanted(const verify_opts *o, int bit)
{
    return o->inputs == 0 || (o->inputs >> bit & 1u);
}

/* Seed of the extreme case `base` at seed index si: index 0 is the standard case's. */
static uint64_t extreme_seed(int base, int si) { return (uint64_t)base + 100000u * (uint64_t)si; }

static int check_extreme(const ca_impl *naive, const ca_impl *const *impls, int count,
                         const verify_opts *o, impl_result *res)
{
    const int seeds = o->extreme_seeds > 1 ? o->extreme_seeds : 1;
    for (int op = 0; op < CA_OP_COUNT; op++) {
        verify_progress(o->progress, "verify: extreme %-12s (%d seed%s)\n", op_name(op), seeds,
                        seeds > 1 ? "s" : "");
        /* N = 65 crosses every power-of-two tile; the per-prefix ops use fewer rows. */
        const int n = op_per_prefix(op) ? 33 : 65;
        const int has_bwd = ca_op_get(op)->bwd != CA_NO_ENTRY;
        int cases = 0;
        for (int si = 0; si < seeds; si++) {
            for (int kind = IN_LOGITS_1E2; kind < IN_COUNT; kind++) {
                if (!input_wanted(o, kind)) continue;
                for (int di = 0; di < COUNT_OF(extreme_d); di++) {
                    ca_shape sh = {n, extreme_d[di], 2};
                    char label[96];
                    snprintf(label, sizeof label, "%s %s N=%d d=%d seed+%d", op_name(op),
                             input_name(kind), n, sh.d, si);
                    if (run_case(naive, impls, count, CHK_EXTREME, o, res, op, sh, kind, NULL,
                                 extreme_seed(2000 + kind, si), label))
                        return -1;
                    cases++;
                }
            }
            if (input_wanted(o, EXTREME_NONFINITE))
                for (int i = 0; i < NONFINITE_COUNT; i++) {
                    nonfinite nf = nonfinite_at(i);
                    if (nf.tensor == NF_DOUT && !has_bwd) continue; /* dO feeds only a backward */
                    for (int di = 0; di < COUNT_OF(nonfinite_d); di++) {
                        ca_shape sh = {n, nonfinite_d[di], 2};
                        char label[96], name[32];
                        snprintf(label, sizeof label, "%s %s N=%d d=%d seed+%d", op_name(op),
                                 nonfinite_name(nf, name, sizeof name), n, sh.d, si);
                        if (run_case(naive, impls, count, CHK_EXTREME, o, res, op, sh, IN_NORMAL,
                                     &nf, extreme_seed(2100 + i, si), label))
                            return -1;
                        cases++;
                    }
                }
        }
        char note[160];
        if (o->inputs)
            snprintf(note, sizeof note, "%d cases (a subset of the input patterns, %d seed%s)",
                     cases, seeds, seeds > 1 ? "s" : "");
        else
            snprintf(note, sizeof note, "%d cases: 5 patterns x d=3,16,64,128; NaN/+-Inf in "
                     "q,k,v%s x element/row x d=3,16; %d seed%s", cases, has_bwd ? ",dO" : "",
                     seeds, seeds > 1 ? "s" : "");
        for (int i = 0; i < count; i++) {
            set_note(&res[i].cells[ca_op_get(op)->fwd][CHK_EXTREME], "%s", note);
            if (has_bwd) set_note(&res[i].cells[ca_op_get(op)->bwd][CHK_EXTREME], "%s", note);
        }
    }
    return 0;
}

/* ---- one implementation's forward on one problem, against the reference ------------ */

/* One forward run with the tolerance it is held to: a side of an identity (§4.4), or the
 * forward behind a backward whose own finite difference failed (§4.3). */
typedef struct side {
    tensors t;
    const problem *p;      /* the problem this side ran, whose reference is its exact value */
    double tol_o, tol_lse; /* the vs-reference tolerance of this side on this problem */
} side;

/* Runs impl on p, with the tolerance impl is held to against the reference there: the
 * baseline's for every implementation but naive, and naive's absolute bound for naive
 * itself (its own error would let it vouch for itself). */
static ca_status run_side(const problem *p, const ca_impl *impl, const ca_impl *naive,
                          int threads, side *s)
{
    s->p = p;
    ca_status st = tensors_alloc(p, &s->t);
    if (st != CA_OK) return st;
    if (impl == naive) {
        s->tol_o = naive_tol(p, T_O);
        s->tol_lse = naive_tol(p, T_LSE);
    } else {
        double base[T_COUNT];
        if ((st = baseline_errors(p, naive, threads, 0, &s->t, base)) != CA_OK) return st;
        s->tol_o = baseline_tol(p, T_O, base[T_O]);
        s->tol_lse = baseline_tol(p, T_LSE, base[T_LSE]);
    }
    return problem_run(p, impl, threads, 0, &s->t);
}

/* A side's own error against its problem's reference, as vs_ref measures it (o relative,
 * lse absolute): the worse of the two against its tolerance, *k telling which. */
static void side_error(const side *s, double *err, double *tol, int *k)
{
    const double eo = ca_rel_err(s->t.o, s->p->ro, s->p->out_elems);
    const double el = ca_abs_err(s->t.lse, s->p->rlse, s->p->lse_elems);
    const int lse = ratio(el, s->tol_lse) > ratio(eo, s->tol_o);
    *k = lse ? T_LSE : T_O;
    *err = lse ? el : eo;
    *tol = lse ? s->tol_lse : s->tol_o;
}

/* ---- §4.3: each implementation's own directional finite difference --------------- */

static double loss(const problem *p, const float *o)
{
    double l = 0.0;
    for (size_t i = 0; i < p->out_elems; i++) l += (double)o[i] * p->dout[i];
    return l;
}

/* Worst |fd - <grad, u>| / max(|<grad, u>|, ||grad||_2) over several random directions u
 * (tolerance.h, FD_REL_TOL, says why the norm): impl's backward, given fwd's o and lse,
 * against the finite difference of fwd (impl's own forward, or the baseline's). */
static ca_status own_fd(const problem *p, const ca_impl *fwd, const ca_impl *impl, int threads,
                        uint64_t seed, double *worst)
{
    tensors t, tp;
    ca_status st = CA_ERR_NOMEM;
    /* q, k, v one after another in x and u (q has its own row count: cubic_last) */
    const size_t len[3] = {p->q_elems, p->kv_elems, p->kv_elems};
    const size_t at[3] = {0, len[0], len[0] + len[1]}, all = at[2] + len[2];
    float *x = malloc(all * sizeof *x), *u = malloc(all * sizeof *u);
    if (!x || !u || tensors_alloc(p, &t) != CA_OK) goto out_early;
    if (tensors_alloc(p, &tp) != CA_OK) { tensors_free(&t); goto out_early; }
    if ((st = problem_run(p, fwd, threads, 0, &t)) != CA_OK ||
        (st = problem_run_bwd(p, impl, threads, &t)) != CA_OK)
        goto out;
    const float *grad[3] = {t.dq, t.dk, t.dv}, *in[3] = {p->q, p->k, p->v};
    double rms = 0.0;
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < len[a]; i++) rms += (double)in[a][i] * in[a][i];
    const double h = fd_step(sqrt(rms / (double)all));
    *worst = 0.0;
    /* One direction per input tensor (u zero on the other two): in a direction over all
     * three, dv's share of <grad, u> would hide an error of a few percent in dq or dk.
     * Direction dir draws elements dir * len[0] + i of its stream, as when every tensor
     * had q's length. */
    for (int dir = 0; dir < 3; dir++) {
        double an = 0.0, gnorm = 0.0;
        for (int a = 0; a < 3; a++)
            for (size_t i = 0; i < len[a]; i++) {
                float *ua = u + at[a];
                ua[i] = a == dir ? (float)ca_draw(CA_DIST_NORMAL, seed + 77, dir * len[0] + i) : 0.0f;
                an += (double)grad[a][i] * ua[i];
                if (a == dir) gnorm += (double)grad[a][i] * grad[a][i];
            }
        double lp = 0.0, lm = 0.0;
        for (int sign = 1; sign >= -1; sign -= 2) {
            for (int a = 0; a < 3; a++)
                for (size_t i = 0; i < len[a]; i++)
                    x[at[a] + i] = (float)(in[a][i] + sign * h * u[at[a] + i]);
            st = problem_run_fwd_on(p, fwd, threads, x + at[0], x + at[1], x + at[2], &tp);
            if (st != CA_OK) goto out;
            *(sign > 0 ? &lp : &lm) = loss(p, tp.o);
        }
        double fd = (lp - lm) / (2.0 * h);
        double rel = fabs(fd - an) / fmax(fmax(fabs(an), sqrt(gnorm)), 1e-30);
        if (!(rel <= *worst)) *worst = rel; /* NaN propagates as a failure */
    }
out:
    tensors_free(&t);
    tensors_free(&tp);
out_early:
    free(x);
    free(u);
    return st;
}

/* Is impl's forward on p off the float64 reference beyond its tolerance? Computes p's
 * reference when it has none yet. */
static ca_status forward_off(problem *p, const ca_impl *impl, const ca_impl *naive,
                             int threads, int *off)
{
    side s = {0};
    ca_status st = p->ro ? CA_OK : problem_reference(p);
    if (st == CA_OK) st = run_side(p, impl, naive, threads, &s);
    if (st == CA_OK) {
        double err, tol;
        int k;
        side_error(&s, &err, &tol, &k);
        *off = !within(err, tol);
    }
    tensors_free(&s.t);
    return st;
}

/* A backward fails its own finite difference when it is not the gradient of the forward
 * it comes with, which is also what a wrong forward beside a correct backward looks like.
 * When the forward is off the reference, the backward is judged again beside the
 * baseline's forward (its own forward fails vs_ref), so that it is charged only for an
 * error of its own. */
static void check_fd(const ca_impl *naive, const ca_impl *const *impls, int count,
                     const verify_opts *o, impl_result *res)
{
    /* N = 80 spans two 64-row tiles with a ragged edge, in every prefix longer than 64
     * too; d = 1 and 3 leave only a vector kernel's tail; d = 64 and 128 are the widths
     * the benchmark runs, with N past one tile. */
    static const ca_shape shapes[] = {{17, 8, 2}, {5, 3, 1}, {80, 16, 1},
                                      {9, 1, 2}, {70, 64, 1}, {66, 128, 1}};
    for (int op = 0; op < CA_OP_COUNT; op++) {
        ca_entry be = ca_op_get(op)->bwd;
        if (be == CA_NO_ENTRY) continue;
        verify_progress(o->progress, "verify: own_fd %-12s\n", op_name(op));
        for (int s = 0; s < COUNT_OF(shapes); s++) {
            ca_shape sh = shapes[s];
            problem p;
            ca_status init = problem_init(&p, op, sh, IN_NORMAL, o->seed + 3000 + s);
            for (int i = 0; i < count && init != CA_OK; i++)
                cell_error(&res[i].cells[be][CHK_FD], init, "own_fd setup");
            if (init != CA_OK) continue;
            for (int i = 0; i < count; i++) {
                cell *c = &res[i].cells[be][CHK_FD];
                double worst = 0.0;
                char label[96];
                snprintf(label, sizeof label, "%s N=%d d=%d", op_name(op), sh.n, sh.d);
                ca_status st = ca_impl_provides(impls[i], be)
                                   ? own_fd(&p, impls[i], impls[i], o->threads, o->seed, &worst)
                                   : CA_ERR_NOT_PROVIDED;
                int off = 0;
                if (st == CA_OK && !within(worst, FD_REL_TOL) && impls[i] != naive)
                    st = forward_off(&p, impls[i], naive, o->threads, &off);
                if (st == CA_OK && off) {
                    st = own_fd(&p, naive, impls[i], o->threads, o->seed, &worst);
                    snprintf(label + strlen(label), sizeof label - strlen(label),
                             " beside %s's forward (its own is off the reference)", naive->name);
                }
                if (st != CA_OK) cell_error(c, st, label);
                else cell_record(c, worst, FD_REL_TOL, "%s: directional fd rel err %.3g", label, worst);
                set_note(c, "%d shapes, d=1..128, a direction per input tensor", COUNT_OF(shapes));
            }
            problem_free(&p);
        }
    }
}

/* ---- §4.4: inference-equivalence ----------------------------------------------------- */

/* Copies rows [row0, row0 + rows) of every head of a [heads][total][d] tensor into a
 * [heads][rows][d] one (d = 1 for lse). */
static void gather_rows(float *dst, const float *src, int heads, size_t total, size_t row0,
                        size_t rows, size_t d)
{
    for (int h = 0; h < heads; h++)
        memcpy(dst + h * rows * d, src + (h * total + row0) * d, rows * d * sizeof *dst);
}

/* The difference of two float32 results a, b of one exact quantity ref: +inf when either
 * side is non-finite where ref is finite or finite where it is not (both sides are under
 * test: a NaN in the same place on both is two failures, not an agreement); otherwise
 * max|a - b| over ref's finite elements, divided by max|ref| there when rel (the
 * tolerances are relative to max|ref|, so the triangle inequality of tolerance.h holds
 * in these units). */
static double equiv_diff(const float *a, const float *b, const double *ref, size_t n, int rel)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const int rf = isfinite(ref[i]) != 0;
        if ((isfinite(a[i]) != 0) != rf || (isfinite(b[i]) != 0) != rf) return INFINITY;
        if (!rf) continue;
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs(ref[i]));
    }
    return rel && den > 0.0 ? num / den : num;
}

/* One comparison of an identity: rows a_o, a_l of side a against b_o, b_l of side b, whose
 * exact value is ref_o, ref_l. Agreement within the equivalence tolerance passes the cell
 * of the identity's own entry point (`own`, side a or b). Disagreement is charged to the
 * entry point whose side is off the float64 reference beyond its own tolerance, to each
 * such side, in its own equiv cell: an identity never fails a correct entry point for
 * its partner's error (a wrong causal forward must not fail the decode step). When both
 * sides are within their tolerances yet differ by more than their sum, the comparison
 * itself is charged, to the identity's cell, and says so. */
static void record_equiv(impl_result *r, const side *a, const side *b, const side *own,
                         const float *a_o, const float *b_o, const double *ref_o, size_t no,
                         const float *a_l, const float *b_l, const double *ref_l, size_t nl,
                         const char *label)
{
    cell *own_cell = &r->cells[problem_fwd(own->p)][CHK_EQUIV];
    const double tol_o = tol_equivalence(a->tol_o, b->tol_o);
    const double tol_l = tol_equivalence(a->tol_lse, b->tol_lse);
    const double eo = equiv_diff(a_o, b_o, ref_o, no, 1), el = equiv_diff(a_l, b_l, ref_l, nl, 0);
    const int on_lse = ratio(el, tol_l) > ratio(eo, tol_o);
    const double diff = on_lse ? el : eo, tol = on_lse ? tol_l : tol_o;
    const char *what = on_lse ? "lse" : "o";
    if (within(diff, tol)) {
        cell_record(own_cell, diff, tol, "%s: %s differs by %.3g > %.3g", label, what, diff, tol);
        return;
    }
    const side *sides[2] = {a, b};
    int charged = 0;
    for (int i = 0; i < 2; i++) {
        double err, stol;
        int k;
        side_error(sides[i], &err, &stol, &k);
        const ca_entry e = problem_fwd(sides[i]->p);
        if (within(err, stol)) {
            /* within its tolerance: the identity's own side passes on its own error */
            if (sides[i] == own)
                cell_record(own_cell, err, stol, "%s: %s side %s err %.3g > tol %.3g", label,
                            ca_entry_name(e), tensor_names[k], err, stol);
            continue;
        }
        charged++;
        cell_record(&r->cells[e][CHK_EQUIV], err, stol,
                    "%s: the %s side is off the reference (%s err %.3g > tol %.3g); the sides' "
                    "%s differs by %.3g > %.3g", label, ca_entry_name(e), tensor_names[k], err,
                    stol, what, diff, tol);
    }
    if (!charged)
        cell_record(own_cell, diff, tol,
                    "%s: both sides within their reference tolerances, yet %s differs by "
                    "%.3g > %.3g", label, what, diff, tol);
}

/* causal training pass == token-by-token KV-cache decode */
static ca_status equiv_decode(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                              int threads, uint64_t seed, impl_result *r)
{
    problem pc, pd;
    side a = {0}, b = {0};
    ca_status st = problem_init(&pc, CA_OP_CAUSAL, sh, IN_NORMAL, seed + 4000);
    if (st == CA_OK) st = problem_init(&pd, CA_OP_DECODE, sh, IN_NORMAL, seed + 4000);
    if (st == CA_OK) st = problem_reference(&pc);
    if (st == CA_OK) st = problem_reference(&pd);
    if (st == CA_OK) st = run_side(&pc, impl, naive, threads, &a);
    if (st == CA_OK) st = run_side(&pd, impl, naive, threads, &b);
    if (st == CA_OK) {
        char label[64];
        snprintf(label, sizeof label, "decode vs causal N=%d d=%d", sh.n, sh.d);
        record_equiv(r, &b, &a, &b, b.t.o, a.t.o, pc.ro, pc.out_elems, b.t.lse, a.t.lse,
                     pc.rlse, pc.lse_elems, label);
    }
    tensors_free(&a.t); tensors_free(&b.t);
    problem_free(&pc); problem_free(&pd);
    return st;
}

/* cubic rows of prefix t == the full pass over prefix t alone, for every t */
static ca_status equiv_cubic(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                             int threads, uint64_t seed, impl_result *r)
{
    problem pc;
    side a = {0};
    ca_status st = problem_init(&pc, CA_OP_CUBIC, sh, IN_NORMAL, seed + 5000);
    if (st == CA_OK) st = problem_reference(&pc);
    if (st == CA_OK) st = run_side(&pc, impl, naive, threads, &a);
    const size_t T = ca_packed_rows((size_t)sh.n), d = (size_t)sh.d;
    for (int t = 1; st == CA_OK && t <= sh.n; t++) {
        problem pf;
        side b = {0};
        ca_shape st_sh = {t, sh.d, sh.heads};
        size_t off = ca_prefix_offset((size_t)t);
        float *ao = malloc((size_t)sh.heads * t * d * sizeof *ao);
        float *al = malloc((size_t)sh.heads * t * sizeof *al);
        st = ao && al ? problem_init(&pf, CA_OP_FULL, st_sh, IN_NORMAL, seed) : CA_ERR_NOMEM;
        if (st == CA_OK) {
            gather_rows(pf.q, pc.q, sh.heads, T, off, (size_t)t, d);
            gather_rows(pf.k, pc.k, sh.heads, T, off, (size_t)t, d);
            gather_rows(pf.v, pc.v, sh.heads, T, off, (size_t)t, d);
            st = problem_reference(&pf);
        }
        if (st == CA_OK) st = run_side(&pf, impl, naive, threads, &b);
        if (st == CA_OK) {
            char label[64];
            snprintf(label, sizeof label, "cubic prefix t=%d vs full N=%d d=%d", t, sh.n, sh.d);
            gather_rows(ao, a.t.o, sh.heads, T, off, (size_t)t, d);
            gather_rows(al, a.t.lse, sh.heads, T, off, (size_t)t, 1);
            record_equiv(r, &a, &b, &a, ao, b.t.o, pf.ro, pf.out_elems, al, b.t.lse, pf.rlse,
                         pf.lse_elems, label);
        }
        free(ao); free(al);
        tensors_free(&b.t);
        problem_free(&pf);
    }
    tensors_free(&a.t);
    problem_free(&pc);
    return st;
}

/* dst[h][t-1] = src[h][(t, t)], t = 1..n: the diagonal row of each prefix of a packed
 * [heads][T][w] tensor (w = d, or 1 for lse), into [heads][n][w]. */
static void gather_diagonal(float *dst, const float *src, int heads, size_t n, size_t w)
{
    const size_t T = ca_packed_rows(n);
    for (int h = 0; h < heads; h++)
        for (size_t t = 1; t <= n; t++)
            memcpy(dst + (h * n + t - 1) * w, src + (h * T + ca_prefix_offset(t) + t - 1) * w,
                   w * sizeof *dst);
}

/* The diagonal rows (t, t) of packed problem pp's output == the rows of problem pr's
 * (whose reference is the exact value of both), both sides by impl; the identity is
 * pp's entry point's when own_packed, pr's otherwise. st: how the two problems' set-up
 * went; the caller frees them. */
static ca_status equiv_diagonal(problem *pp, problem *pr, ca_status st, int own_packed,
                                const ca_impl *impl, const ca_impl *naive, int threads,
                                const char *what, impl_result *r)
{
    const ca_shape sh = pr->sh;
    side a = {0}, b = {0};
    if (st == CA_OK) st = problem_reference(pp);
    if (st == CA_OK) st = problem_reference(pr);
    if (st == CA_OK) st = run_side(pp, impl, naive, threads, &a);
    if (st == CA_OK) st = run_side(pr, impl, naive, threads, &b);
    float *diag = NULL, *diag_l = NULL;
    if (st == CA_OK) {
        diag = malloc(pr->out_elems * sizeof *diag);
        diag_l = malloc(pr->lse_elems * sizeof *diag_l);
        if (!diag || !diag_l) st = CA_ERR_NOMEM;
    }
    if (st == CA_OK) {
        gather_diagonal(diag, a.t.o, sh.heads, (size_t)sh.n, (size_t)sh.d);
        gather_diagonal(diag_l, a.t.lse, sh.heads, (size_t)sh.n, 1);
        char label[64];
        snprintf(label, sizeof label, "%s N=%d d=%d", what, sh.n, sh.d);
        record_equiv(r, &a, &b, own_packed ? &a : &b, diag, b.t.o, pr->ro, pr->out_elems,
                     diag_l, b.t.lse, pr->rlse, pr->lse_elems, label);
    }
    free(diag); free(diag_l);
    tensors_free(&a.t); tensors_free(&b.t);
    return st;
}

/* cubic_shared o(t, t) == causal o_t on the same shared inputs */
static ca_status equiv_shared(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                              int threads, uint64_t seed, impl_result *r)
{
    problem ps = {0}, pc = {0};
    ca_status st = problem_init(&ps, CA_OP_CUBIC_SHARED, sh, IN_NORMAL, seed + 6000);
    if (st == CA_OK) st = problem_init(&pc, CA_OP_CAUSAL, sh, IN_NORMAL, seed + 6000);
    st = equiv_diagonal(&ps, &pc, st, 1, impl, naive, threads, "shared o(t,t) vs causal", r);
    problem_free(&ps); problem_free(&pc);
    return st;
}

/* cubic_last o_t == cubic o(t, t) when q_t == q(t, t), k and v the same packed tensors */
static ca_status equiv_last(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                            int threads, uint64_t seed, impl_result *r)
{
    problem pc = {0}, pl = {0};
    ca_status st = problem_init(&pc, CA_OP_CUBIC, sh, IN_NORMAL, seed + 9000);
    if (st == CA_OK) st = problem_init(&pl, CA_OP_CUBIC_LAST, sh, IN_NORMAL, seed + 9000);
    if (st == CA_OK) {
        /* cubic_last's inputs taken from cubic's: q row t-1 = q(t, t), k and v as they are */
        memcpy(pl.k, pc.k, pc.kv_elems * sizeof *pl.k);
        memcpy(pl.v, pc.v, pc.kv_elems * sizeof *pl.v);
        gather_diagonal(pl.q, pc.q, sh.heads, (size_t)sh.n, (size_t)sh.d);
    }
    st = equiv_diagonal(&pc, &pl, st, 0, impl, naive, threads, "cubic o(t,t) vs last", r);
    problem_free(&pc); problem_free(&pl);
    return st;
}

static void check_equiv(const ca_impl *naive, const ca_impl *const *impls, int count,
                        const verify_opts *o, impl_result *res)
{
    static const ca_shape shapes[] = {{17, 16, 2}, {65, 80, 1}};
    verify_progress(o->progress,
                    "verify: equiv (decode, cubic prefixes, shared diagonal, last rows)\n");
    for (int i = 0; i < count; i++) {
        const ca_impl *impl = impls[i];
        for (int s = 0; s < COUNT_OF(shapes); s++) {
            struct { ca_entry e, partner; ca_status (*fn)(const ca_impl *, const ca_impl *,
                                                          ca_shape, int, uint64_t,
                                                          impl_result *); } ids[] = {
                {CA_DECODE_STEP, CA_CAUSAL_FWD, equiv_decode},
                {CA_CUBIC_FWD, CA_FULL_FWD, equiv_cubic},
                {CA_SHARED_FWD, CA_CAUSAL_FWD, equiv_shared},
                {CA_LAST_FWD, CA_CUBIC_FWD, equiv_last},
            };
            for (int k = 0; k < COUNT_OF(ids); k++) {
                cell *c = &res[i].cells[ids[k].e][CHK_EQUIV];
                if (!ca_impl_provides(impl, ids[k].e) || !ca_impl_provides(impl, ids[k].partner)) {
                    cell_error(c, CA_ERR_NOT_PROVIDED, "");
                    set_note(c, "needs %s and %s", ca_entry_name(ids[k].e),
                             ca_entry_name(ids[k].partner));
                    continue;
                }
                ca_status st = ids[k].fn(impl, naive, shapes[s], o->threads, o->seed, &res[i]);
                if (st != CA_OK) cell_error(c, st, "equivalence");
            }
        }
    }
}

/* ---- §4.6: determinism ---------------------------------------------------------------- */

static size_t bits_differ(const float *a, const float *b, size_t n)
{
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(a + i, b + i, sizeof *a) != 0;
    return diff;
}

/* A race in a threaded backward (threads adding into shared rows without their own
 * partials) changes the order, or loses some, of the additions: results differ between
 * runs in some runs only, and more often with more threads than cores, where the
 * scheduler interleaves threads mid-update. So every implementation runs DETERM_RUNS
 * times at each thread count (the one asked for, then 2x and 4x the cores: threads is a
 * request the implementation honours), every run compared bitwise with the first. The
 * shapes have one head and many key tiles (N >= 512) so that the threads share dq rows;
 * the per-prefix operators, whose baseline costs Theta(N^3 d) per run, use N = 150 (80
 * in the quick grid), more rows than two tiles in their longest prefixes. */
#define DETERM_RUNS 20

static int determ_thread_counts(const verify_opts *o, int out[3])
{
    const int cores = omp_get_num_procs();
    const int want[3] = {o->threads, 2 * cores, 4 * cores};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= out[j] == want[i];
        if (!dup) out[n++] = want[i];
    }
    return n;
}

static size_t bits_differ_all(const problem *p, const tensors *a, const tensors *b, int bwd)
{
    if (!bwd)
        return bits_differ(a->o, b->o, p->out_elems) + bits_differ(a->lse, b->lse, p->lse_elems);
    return bits_differ(a->dq, b->dq, p->q_elems) + bits_differ(a->dk, b->dk, p->kv_elems) +
           bits_differ(a->dv, b->dv, p->kv_elems);
}

static void determ_impl(const problem *p, const ca_impl *impl, const int *threads, int nthreads,
                        impl_result *res, const char *label)
{
    const ca_entry fe = problem_fwd(p), be = problem_bwd(p);
    const int with_bwd = be != CA_NO_ENTRY && ca_impl_provides(impl, be);
    cell *cf = &res->cells[fe][CHK_DETERMINISM], *cb = be != CA_NO_ENTRY ? &res->cells[be][CHK_DETERMINISM] : NULL;
    if (!ca_impl_provides(impl, fe)) {
        cell_error(cf, CA_ERR_NOT_PROVIDED, label);
        if (cb) cell_error(cb, CA_ERR_NOT_PROVIDED, label);
        return;
    }
    if (cb && !with_bwd) cell_error(cb, CA_ERR_NOT_PROVIDED, label);
    tensors first, again;
    if (tensors_alloc(p, &first) != CA_OK) {
        cell_error(cf, CA_ERR_NOMEM, label);
        return;
    }
    if (tensors_alloc(p, &again) != CA_OK) {
        tensors_free(&first);
        cell_error(cf, CA_ERR_NOMEM, label);
        return;
    }
    for (int ti = 0; ti < nthreads; ti++) {
        const int T = threads[ti];
        size_t worst_f = 0, worst_b = 0;
        int run_f = 0, run_b = 0;
        ca_status st = problem_run(p, impl, T, with_bwd, &first);
        for (int r = 1; st == CA_OK && r < DETERM_RUNS; r++) {
            if ((st = problem_run(p, impl, T, with_bwd, &again)) != CA_OK) break;
            size_t df = bits_differ_all(p, &first, &again, 0);
            size_t db = with_bwd ? bits_differ_all(p, &first, &again, 1) : 0;
            if (df > worst_f) worst_f = df, run_f = r + 1;
            if (db > worst_b) worst_b = db, run_b = r + 1;
        }
        if (st != CA_OK) {
            cell_error(cf, st, label);
            if (with_bwd) cell_error(cb, st, label);
            continue;
        }
        cell_record(cf, (double)worst_f, 0.0, "%s at %d threads: %zu output elements of run %d "
                    "differ from run 1", label, T, worst_f, run_f);
        if (with_bwd)
            cell_record(cb, (double)worst_b, 0.0, "%s at %d threads: %zu gradient elements of "
                        "run %d differ from run 1", label, T, worst_b, run_b);
    }
    tensors_free(&first);
    tensors_free(&again);
}

static void check_determinism(const ca_impl *const *impls, int count, const verify_opts *o,
                              impl_result *res)
{
    int threads[3];
    const int nthreads = determ_thread_counts(o, threads);
    char tl[48] = "";
    for (int i = 0; i < nthreads; i++)
        snprintf(tl + strlen(tl), sizeof tl - strlen(tl), "%s%d", i ? "," : "", threads[i]);
    verify_progress(o->progress, "verify: determinism (%d runs at %s threads)\n", DETERM_RUNS,
                    tl);
    for (int op = 0; op < CA_OP_COUNT; op++) {
        const int per_prefix = op_per_prefix(op);
        ca_shape sh = per_prefix ? (ca_shape){o->quick ? 80 : 150, 16, 1}
                                 : (ca_shape){o->quick ? 512 : 1024, o->quick ? 16 : 64, 1};
        ca_entry fe = ca_op_get(op)->fwd, be = ca_op_get(op)->bwd;
        char label[64];
        snprintf(label, sizeof label, "%s N=%d d=%d heads=1", op_name(op), sh.n, sh.d);
        problem p;
        ca_status init = problem_init(&p, op, sh, IN_NORMAL, o->seed + 7000 + op);
        for (int i = 0; i < count; i++) {
            if (init != CA_OK) cell_error(&res[i].cells[fe][CHK_DETERMINISM], init, label);
            else determ_impl(&p, impls[i], threads, nthreads, &res[i], label);
            set_note(&res[i].cells[fe][CHK_DETERMINISM], "%s, %d runs at %s threads", label,
                     DETERM_RUNS, tl);
            if (be != CA_NO_ENTRY)
                set_note(&res[i].cells[be][CHK_DETERMINISM], "%s, %d runs at %s threads",
                         label, DETERM_RUNS, tl);
        }
        problem_free(&p);
    }
}

/* ---- §4.8: bad arguments --------------------------------------------------------------- */

/* Calls entry e with the given shape and buffers; buffers are large enough for a 4x4x1
 * problem, which the bad shapes never reach because validation stops them first. */
static ca_status call_entry(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                            float *buf, int null_q, int t)
{
    float *q = null_q ? NULL : buf, *k = buf + 64, *v = buf + 128, *o = buf + 192;
    float *lse = buf + 256, *dout = buf + 320, *dq = buf + 384, *dk = buf + 448, *dv = buf + 512;
    float *kc = buf + 576, *vc = buf + 640;
    const ca_op op = ca_entry_op(e);
    if (op == CA_OP_COUNT) return CA_ERR_NOT_PROVIDED;
    if (ca_op_is_step(op)) return ca_decode_step(impl, sh, ex, t, q, k, v, kc, vc, o, lse);
    if (ca_op_get(op)->fwd == e) return ca_run_fwd(impl, e, sh, ex, q, k, v, o, lse);
    return ca_run_bwd(impl, e, sh, ex, q, k, v, o, lse, dout, dq, dk, dv);
}

static void check_bad_args(const ca_impl *const *impls, int count, const verify_opts *o,
                           impl_result *res)
{
    verify_progress(o->progress, "verify: bad arguments\n");
    static float buf[1024];
    const ca_shape ok = {2, 4, 1};
    struct { const char *what; ca_shape sh; int null_q, threads, t, small_ws; ca_status want; } cases[] = {
        {"N=0", {0, 4, 1}, 0, 1, 0, 0, CA_ERR_N},
        {"N=-5", {-5, 4, 1}, 0, 1, 0, 0, CA_ERR_N},
        {"d=0", {2, 0, 1}, 0, 1, 0, 0, CA_ERR_D},
        {"heads=0", {2, 4, 0}, 0, 1, 0, 0, CA_ERR_HEADS},
        {"q=NULL", ok, 1, 1, 0, 0, CA_ERR_NULL},
        {"threads=0", ok, 0, 0, 0, 0, CA_ERR_THREADS},
        {"size overflow", {INT_MAX, INT_MAX, INT_MAX}, 0, 1, 0, 0, CA_ERR_OVERFLOW},
        {"workspace too small", ok, 0, 1, 0, 1, CA_ERR_WORKSPACE},
        {"decode t=-1", ok, 0, 1, -1, 0, CA_ERR_STEP},
        {"decode t=N", ok, 0, 1, 2, 0, CA_ERR_STEP},
    };
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++) {
            cell *c = &res[i].cells[e][CHK_BADARGS];
            if (!ca_impl_provides(impls[i], e)) {
                cell_error(c, CA_ERR_NOT_PROVIDED, "");
                continue;
            }
            size_t need = 0;
            ca_workspace_bytes(impls[i], e, ok, 1, &need);
            void *ws = malloc(need + 1);
            if (!ws) {
                cell_error(c, CA_ERR_NOMEM, "bad_args workspace");
                continue;
            }
            for (int k = 0; k < COUNT_OF(cases); k++) {
                if (cases[k].t != 0 && e != CA_DECODE_STEP) continue;
                if (cases[k].small_ws && need == 0) continue; /* nothing to undersize */
                ca_exec ex = {cases[k].threads, ws, cases[k].small_ws ? need - 1 : need};
                ca_status got = call_entry(impls[i], e, cases[k].sh, &ex, buf, cases[k].null_q,
                                           cases[k].t);
                cell_record(c, got == cases[k].want ? 0.0 : 1.0, 0.0,
                            "%s: got '%s', want '%s'", cases[k].what, ca_status_str(got),
                            ca_status_str(cases[k].want));
            }
            free(ws);
        }
}

/* ---- the whole run ---------------------------------------------------------------------- */

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
    if ((check_wanted(o, CHK_REF) && check_grid(naive, impls, count, o, res)) ||
        (check_wanted(o, CHK_EXTREME) && check_extreme(naive, impls, count, o, res)))
        return -1;
    if (check_wanted(o, CHK_FD)) check_fd(naive, impls, count, o, res);
    if (check_wanted(o, CHK_EQUIV)) check_equiv(naive, impls, count, o, res);
    if (check_wanted(o, CHK_DETERMINISM)) check_determinism(impls, count, o, res);
    if (check_wanted(o, CHK_BADARGS)) check_bad_args(impls, count, o, res);
    int fails = 0;
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++)
            for (int c = 0; c < CHK_COUNT; c++) fails += res[i].cells[e][c].st == CELL_FAIL;
    return fails;
}
