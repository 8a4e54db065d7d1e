/* checks.c: every check of docs/DESIGN.md §4 for a set of implementations. Each case computes
 * the float64 reference and the naive baseline once, then runs every implementation on
 * the same inputs (ggml's test-backend-ops habit). */
#include "checks.h"

#include "problem.h"
#include "cubattn_harness.h"
#include "tolerance.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
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

/* Records one case: passes when err <= tol, both finite (an infinite tolerance would
 * accept anything, a non-finite error is a broken output). */
static void cell_record(cell *c, double err, double tol, const char *fmt, ...)
{
    int ok = isfinite(err) && isfinite(tol) && err <= tol;
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

static void cell_error(cell *c, ca_status st, const char *what)
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

static void set_note(cell *c, const char *fmt, ...)
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

static void tensor_errors(const problem *p, const tensors *t, int with_bwd, double err[T_COUNT])
{
    err[T_O] = ca_rel_err(t->o, p->ro, p->out_elems);
    /* lse is a logarithm: its error is absolute (divided by max|lse| it would shrink
     * with the logits' scale exactly where it matters). */
    err[T_LSE] = ca_abs_err(t->lse, p->rlse, p->lse_elems);
    for (int i = T_DQ; i < T_COUNT; i++) err[i] = NAN;
    if (!with_bwd) return;
    err[T_DQ] = ca_rel_err(t->dq, p->rdq, p->in_elems);
    err[T_DK] = ca_rel_err(t->dk, p->rdk, p->in_elems);
    err[T_DV] = ca_rel_err(t->dv, p->rdv, p->in_elems);
}

/* Longest float32 sum behind the tensors of an operator: keys per row, d per dot
 * product, and rows per dK/dV column (for cubic_shared, every (t, i) row with t >= j). */
static size_t longest_sum(const problem *p, int bwd)
{
    size_t n = (size_t)p->sh.n, d = (size_t)p->sh.d;
    size_t rows = bwd && op_shared_inputs(p->op) ? ca_packed_rows(n) : n;
    return rows > d ? rows : d;
}

static void record_tensors(cell *c, const double err[T_COUNT], const double tol[T_COUNT],
                           int from, int to, const char *label)
{
    int worst = from;
    for (int i = from; i < to; i++)
        if (ratio(err[i], tol[i]) > ratio(err[worst], tol[worst])) worst = i;
    cell_record(c, err[worst], tol[worst], "%s: %s err %.3g > tol %.3g", label,
                tensor_names[worst], err[worst], tol[worst]);
}

/* The baseline's error per tensor: the worst of naive over BASELINE_ORDERINGS orderings
 * of the head dimension (tolerance.h says why one ordering is not enough). */
static ca_status baseline_errors(const problem *p, const ca_impl *naive, int threads,
                                 int with_bwd, tensors *t, double base[T_COUNT])
{
    for (int ord = 0; ord < BASELINE_ORDERINGS; ord++) {
        double err[T_COUNT];
        ca_status st = problem_run_reordered(p, naive, threads, with_bwd, ord, t);
        if (st != CA_OK) return st;
        tensor_errors(p, t, with_bwd, err);
        for (int k = 0; k < T_COUNT; k++) base[k] = ord == 0 || err[k] > base[k] ? err[k] : base[k];
    }
    return CA_OK;
}

/* Runs the baseline and every implementation on p (reference already computed). */
static int compare_case(const problem *p, const ca_impl *naive, const ca_impl *const *impls,
                        int count, check_kind chk, int threads, impl_result *res,
                        const char *label)
{
    const ca_entry fe = problem_fwd(p), be = problem_bwd(p);
    const int has_bwd = be != CA_NO_ENTRY;
    tensors t;
    if (tensors_alloc(p, &t) != CA_OK) return -1;
    double base[T_COUNT];
    ca_status st = baseline_errors(p, naive, threads, has_bwd, &t, base);
    if (st != CA_OK) {
        fprintf(stderr, "verify: the naive baseline failed on %s: %s\n", label,
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
            tol[k] = impl == naive
                         ? tol_naive_bound(longest_sum(p, k >= T_DQ), p->max_abs_logit)
                         : tol_vs_baseline(base[k]);
        record_tensors(&res[i].cells[fe][chk], err, tol, T_O, T_DQ, label);
        if (with_bwd) record_tensors(&res[i].cells[be][chk], err, tol, T_DQ, T_COUNT, label);
    }
    tensors_free(&t);
    return 0;
}

static void progress(FILE *f, const char *fmt, ...)
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

static int check_grid(const ca_impl *naive, const ca_impl *const *impls, int count,
                      const verify_opts *o, impl_result *res)
{
    const int *ns = o->quick ? grid_n_quick : grid_n_full;
    const int *ds = o->quick ? grid_d_quick : grid_d_full;
    int nn = o->quick ? COUNT_OF(grid_n_quick) : COUNT_OF(grid_n_full);
    int nd = o->quick ? COUNT_OF(grid_d_quick) : COUNT_OF(grid_d_full);
    for (int op = 0; op < CA_OP_COUNT; op++) {
        progress(o->progress, "verify: vs_ref %-12s N up to %d, d up to %d\n", op_name(op),
                 ns[nn - 1], ds[nd - 1]);
        int idx = 0;
        for (int a = 0; a < nn; a++)
            for (int b = 0; b < nd; b++) {
                if (!grid_case_wanted(op, ns[a], ds[b])) continue;
                ca_shape sh = {ns[a], ds[b], 1 + idx % 3}; /* 1, 2, 3 heads in turn */
                problem p;
                char label[96];
                snprintf(label, sizeof label, "%s N=%d d=%d heads=%d", op_name(op), sh.n,
                         sh.d, sh.heads);
                if (problem_init(&p, op, sh, IN_NORMAL, 1000 + idx) != CA_OK ||
                    problem_reference(&p) != CA_OK ||
                    compare_case(&p, naive, impls, count, CHK_REF, o->threads, res, label)) {
                    problem_free(&p);
                    return -1;
                }
                problem_free(&p);
                idx++;
            }
        for (int i = 0; i < count; i++) {
            set_note(&res[i].cells[ca_op_get(op)->fwd][CHK_REF], "%d shapes, N<=%d d<=%d%s",
                     idx, ns[nn - 1], ds[nd - 1],
                     op_per_prefix(op) && !o->quick
                         ? " (N=257 at d=3,64)" : "");
            if (ca_op_get(op)->bwd != CA_NO_ENTRY)
                set_note(&res[i].cells[ca_op_get(op)->bwd][CHK_REF], "%d shapes", idx);
        }
    }
    return 0;
}

/* ---- §4.5: softmax-breaking inputs -------------------------------------------------- */

static int check_extreme(const ca_impl *naive, const ca_impl *const *impls, int count,
                         const verify_opts *o, impl_result *res)
{
    for (int op = 0; op < CA_OP_COUNT; op++) {
        progress(o->progress, "verify: extreme %-12s\n", op_name(op));
        /* N = 65 crosses every power-of-two tile; the per-prefix ops use fewer rows. */
        int n = op_per_prefix(op) ? 33 : 65;
        for (int kind = IN_LOGITS_1E2; kind < IN_COUNT; kind++) {
            ca_shape sh = {n, 16, 2};
            problem p;
            char label[96];
            snprintf(label, sizeof label, "%s %s N=%d d=16", op_name(op), input_name(kind), n);
            if (problem_init(&p, op, sh, kind, 2000 + kind) != CA_OK ||
                problem_reference(&p) != CA_OK ||
                compare_case(&p, naive, impls, count, CHK_EXTREME, o->threads, res, label)) {
                problem_free(&p);
                return -1;
            }
            problem_free(&p);
        }
    }
    return 0;
}

/* ---- §4.3: each implementation's own directional finite difference --------------- */

static double loss(const problem *p, const float *o)
{
    double l = 0.0;
    for (size_t i = 0; i < p->out_elems; i++) l += (double)o[i] * p->dout[i];
    return l;
}

/* Worst |fd - <grad, u>| / |<grad, u>| over several random directions u. */
static ca_status own_fd(const problem *p, const ca_impl *impl, int threads, double *worst)
{
    tensors t, tp;
    ca_status st = CA_ERR_NOMEM;
    size_t n = p->in_elems;
    float *x = malloc(3 * n * sizeof *x), *u = malloc(3 * n * sizeof *u);
    if (!x || !u || tensors_alloc(p, &t) != CA_OK) goto out_early;
    if (tensors_alloc(p, &tp) != CA_OK) { tensors_free(&t); goto out_early; }
    if ((st = problem_run(p, impl, threads, 1, &t)) != CA_OK) goto out;
    const float *grad[3] = {t.dq, t.dk, t.dv}, *in[3] = {p->q, p->k, p->v};
    double rms = 0.0;
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < n; i++) rms += (double)in[a][i] * in[a][i];
    const double h = fd_step(sqrt(rms / (3.0 * n)));
    *worst = 0.0;
    /* One direction per input tensor (u zero on the other two): in a direction over all
     * three, dv's share of <grad, u> would hide an error of a few percent in dq or dk. */
    for (int dir = 0; dir < 3; dir++) {
        double an = 0.0;
        for (int a = 0; a < 3; a++)
            for (size_t i = 0; i < n; i++) {
                u[a * n + i] = a == dir ? (float)ca_draw(CA_DIST_NORMAL, 77, dir * n + i) : 0.0f;
                an += (double)grad[a][i] * u[a * n + i];
            }
        double lp = 0.0, lm = 0.0;
        for (int sign = 1; sign >= -1; sign -= 2) {
            for (int a = 0; a < 3; a++)
                for (size_t i = 0; i < n; i++)
                    x[a * n + i] = (float)(in[a][i] + sign * h * u[a * n + i]);
            st = problem_run_fwd_on(p, impl, threads, x, x + n, x + 2 * n, &tp);
            if (st != CA_OK) goto out;
            *(sign > 0 ? &lp : &lm) = loss(p, tp.o);
        }
        double fd = (lp - lm) / (2.0 * h);
        double rel = fabs(fd - an) / fmax(fabs(an), 1e-30);
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

static void check_fd(const ca_impl *const *impls, int count, const verify_opts *o,
                     impl_result *res)
{
    /* N = 80 spans two 64-row tiles with a ragged edge, in every prefix longer than 64 too */
    static const ca_shape shapes[] = {{17, 8, 2}, {5, 3, 1}, {80, 16, 1}};
    for (int op = 0; op < CA_OP_COUNT; op++) {
        ca_entry be = ca_op_get(op)->bwd;
        if (be == CA_NO_ENTRY) continue;
        progress(o->progress, "verify: own_fd %-12s\n", op_name(op));
        for (int s = 0; s < COUNT_OF(shapes); s++) {
            ca_shape sh = shapes[s];
            problem p;
            ca_status init = problem_init(&p, op, sh, IN_NORMAL, 3000 + s);
            for (int i = 0; i < count && init != CA_OK; i++)
                cell_error(&res[i].cells[be][CHK_FD], init, "own_fd setup");
            if (init != CA_OK) continue;
            for (int i = 0; i < count; i++) {
                cell *c = &res[i].cells[be][CHK_FD];
                double worst = 0.0;
                char label[96];
                snprintf(label, sizeof label, "%s N=%d d=%d", op_name(op), sh.n, sh.d);
                ca_status st = ca_impl_provides(impls[i], be) ? own_fd(&p, impls[i], o->threads, &worst)
                                                              : CA_ERR_NOT_PROVIDED;
                if (st != CA_OK) cell_error(c, st, label);
                else cell_record(c, worst, FD_REL_TOL, "%s: directional fd rel err %.3g", label, worst);
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

/* The two sides of one identity, run on the same problem by the same implementation. */
typedef struct side {
    tensors t;
    double tol_o, tol_lse; /* the vs-reference tolerance of this side on this problem */
} side;

/* Runs impl on p, with the tolerance impl is held to against the reference there: the
 * baseline's for every implementation but naive, and naive's absolute bound for naive
 * itself (its own error would let it vouch for itself). */
static ca_status run_side(const problem *p, const ca_impl *impl, const ca_impl *naive,
                          int threads, side *s)
{
    ca_status st = tensors_alloc(p, &s->t);
    if (st != CA_OK) return st;
    if (impl == naive) {
        s->tol_o = s->tol_lse = tol_naive_bound(longest_sum(p, 0), p->max_abs_logit);
    } else {
        double base[T_COUNT];
        if ((st = baseline_errors(p, naive, threads, 0, &s->t, base)) != CA_OK) return st;
        s->tol_o = tol_vs_baseline(base[T_O]);
        s->tol_lse = tol_vs_baseline(base[T_LSE]);
    }
    return problem_run(p, impl, threads, 0, &s->t);
}

static void record_equiv(cell *c, const float *a_o, const float *b_o, size_t no,
                         const float *a_l, const float *b_l, size_t nl, double tol_o,
                         double tol_lse, const char *label)
{
    double eo = ca_rel_diff(a_o, b_o, no), el = ca_abs_diff(a_l, b_l, nl);
    if (ratio(eo, tol_o) >= ratio(el, tol_lse))
        cell_record(c, eo, tol_o, "%s: o differs by %.3g > %.3g", label, eo, tol_o);
    else
        cell_record(c, el, tol_lse, "%s: lse differs by %.3g > %.3g", label, el, tol_lse);
}

/* causal training pass == token-by-token KV-cache decode */
static ca_status equiv_decode(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                              int threads, cell *c)
{
    problem pc, pd;
    side a = {0}, b = {0};
    ca_status st = problem_init(&pc, CA_OP_CAUSAL, sh, IN_NORMAL, 4000);
    if (st == CA_OK) st = problem_init(&pd, CA_OP_DECODE, sh, IN_NORMAL, 4000);
    if (st == CA_OK) st = problem_reference(&pc);
    if (st == CA_OK) st = problem_reference(&pd);
    if (st == CA_OK) st = run_side(&pc, impl, naive, threads, &a);
    if (st == CA_OK) st = run_side(&pd, impl, naive, threads, &b);
    if (st == CA_OK) {
        char label[64];
        snprintf(label, sizeof label, "decode vs causal N=%d d=%d", sh.n, sh.d);
        record_equiv(c, b.t.o, a.t.o, pc.out_elems, b.t.lse, a.t.lse, pc.lse_elems,
                     tol_equivalence(a.tol_o, b.tol_o), tol_equivalence(a.tol_lse, b.tol_lse),
                     label);
    }
    tensors_free(&a.t); tensors_free(&b.t);
    problem_free(&pc); problem_free(&pd);
    return st;
}

/* cubic rows of prefix t == the full pass over prefix t alone, for every t */
static ca_status equiv_cubic(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                             int threads, cell *c)
{
    problem pc;
    side a = {0};
    ca_status st = problem_init(&pc, CA_OP_CUBIC, sh, IN_NORMAL, 5000);
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
        st = ao && al ? problem_init(&pf, CA_OP_FULL, st_sh, IN_NORMAL, 0) : CA_ERR_NOMEM;
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
            record_equiv(c, ao, b.t.o, pf.out_elems, al, b.t.lse, pf.lse_elems,
                         tol_equivalence(a.tol_o, b.tol_o),
                         tol_equivalence(a.tol_lse, b.tol_lse), label);
        }
        free(ao); free(al);
        tensors_free(&b.t);
        problem_free(&pf);
    }
    tensors_free(&a.t);
    problem_free(&pc);
    return st;
}

/* cubic_shared o(t, t) == causal o_t on the same shared inputs */
static ca_status equiv_shared(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                              int threads, cell *c)
{
    problem ps, pc;
    side a = {0}, b = {0};
    ca_status st = problem_init(&ps, CA_OP_CUBIC_SHARED, sh, IN_NORMAL, 6000);
    if (st == CA_OK) st = problem_init(&pc, CA_OP_CAUSAL, sh, IN_NORMAL, 6000);
    if (st == CA_OK) st = problem_reference(&ps);
    if (st == CA_OK) st = problem_reference(&pc);
    if (st == CA_OK) st = run_side(&ps, impl, naive, threads, &a);
    if (st == CA_OK) st = run_side(&pc, impl, naive, threads, &b);
    float *diag = NULL, *diag_l = NULL;
    const size_t n = (size_t)sh.n, d = (size_t)sh.d, T = ca_packed_rows(n);
    if (st == CA_OK) {
        diag = malloc(pc.out_elems * sizeof *diag);
        diag_l = malloc(pc.lse_elems * sizeof *diag_l);
        if (!diag || !diag_l) st = CA_ERR_NOMEM;
    }
    if (st == CA_OK) {
        for (int h = 0; h < sh.heads; h++)
            for (size_t t = 1; t <= n; t++) {
                size_t r = h * T + ca_prefix_offset(t) + t - 1; /* row (t, i = t) */
                memcpy(diag + (h * n + t - 1) * d, a.t.o + r * d, d * sizeof *diag);
                diag_l[h * n + t - 1] = a.t.lse[r];
            }
        char label[64];
        snprintf(label, sizeof label, "shared o(t,t) vs causal N=%d d=%d", sh.n, sh.d);
        record_equiv(c, diag, b.t.o, pc.out_elems, diag_l, b.t.lse, pc.lse_elems,
                     tol_equivalence(a.tol_o, b.tol_o), tol_equivalence(a.tol_lse, b.tol_lse),
                     label);
    }
    free(diag); free(diag_l);
    tensors_free(&a.t); tensors_free(&b.t);
    problem_free(&ps); problem_free(&pc);
    return st;
}

static void check_equiv(const ca_impl *naive, const ca_impl *const *impls, int count,
                        const verify_opts *o, impl_result *res)
{
    static const ca_shape shapes[] = {{17, 16, 2}, {65, 80, 1}};
    progress(o->progress, "verify: equiv (decode, cubic prefixes, shared diagonal)\n");
    for (int i = 0; i < count; i++) {
        const ca_impl *impl = impls[i];
        for (int s = 0; s < COUNT_OF(shapes); s++) {
            struct { ca_entry e, partner; ca_status (*fn)(const ca_impl *, const ca_impl *,
                                                          ca_shape, int, cell *); } ids[] = {
                {CA_DECODE_STEP, CA_CAUSAL_FWD, equiv_decode},
                {CA_CUBIC_FWD, CA_FULL_FWD, equiv_cubic},
                {CA_SHARED_FWD, CA_CAUSAL_FWD, equiv_shared},
            };
            for (int k = 0; k < COUNT_OF(ids); k++) {
                cell *c = &res[i].cells[ids[k].e][CHK_EQUIV];
                if (!ca_impl_provides(impl, ids[k].e) || !ca_impl_provides(impl, ids[k].partner)) {
                    cell_error(c, CA_ERR_NOT_PROVIDED, "");
                    set_note(c, "needs %s and %s", ca_entry_name(ids[k].e),
                             ca_entry_name(ids[k].partner));
                    continue;
                }
                ca_status st = ids[k].fn(impl, naive, shapes[s], o->threads, c);
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

static void check_determinism(const ca_impl *const *impls, int count, const verify_opts *o,
                              impl_result *res)
{
    progress(o->progress, "verify: determinism (%d threads)\n", o->threads);
    for (int op = 0; op < CA_OP_COUNT; op++) {
        /* One head and several key tiles per head (300 rows > 2 x the largest block, 144),
         * so that more than one thread adds into the same dq rows; the per-prefix ops
         * at 150 have prefixes longer than any tile as well. */
        int per_prefix = op_per_prefix(op);
        ca_shape sh = {per_prefix ? 150 : 300, 64, 1};
        problem p;
        ca_entry fe = ca_op_get(op)->fwd, be = ca_op_get(op)->bwd;
        ca_status init = problem_init(&p, op, sh, IN_NORMAL, 7000 + op);
        for (int i = 0; i < count && init != CA_OK; i++)
            cell_error(&res[i].cells[fe][CHK_DETERMINISM], init, "determinism setup");
        if (init != CA_OK) continue;
        for (int i = 0; i < count; i++) {
            tensors r1, r2;
            int with_bwd = be != CA_NO_ENTRY && ca_impl_provides(impls[i], be);
            if (tensors_alloc(&p, &r1) != CA_OK) {
                cell_error(&res[i].cells[fe][CHK_DETERMINISM], CA_ERR_NOMEM, "determinism");
                continue;
            }
            if (tensors_alloc(&p, &r2) != CA_OK) {
                tensors_free(&r1);
                cell_error(&res[i].cells[fe][CHK_DETERMINISM], CA_ERR_NOMEM, "determinism");
                continue;
            }
            ca_status st = problem_run(&p, impls[i], o->threads, with_bwd, &r1);
            if (st == CA_OK) st = problem_run(&p, impls[i], o->threads, with_bwd, &r2);
            char label[64];
            snprintf(label, sizeof label, "%s N=%d d=%d", op_name(op), sh.n, sh.d);
            if (st != CA_OK) {
                cell_error(&res[i].cells[fe][CHK_DETERMINISM], st, label);
            } else {
                size_t df = bits_differ(r1.o, r2.o, p.out_elems) +
                            bits_differ(r1.lse, r2.lse, p.lse_elems);
                cell_record(&res[i].cells[fe][CHK_DETERMINISM], (double)df, 0.0,
                            "%s: %zu output elements differ between runs", label, df);
                if (with_bwd) {
                    size_t db = bits_differ(r1.dq, r2.dq, p.in_elems) +
                                bits_differ(r1.dk, r2.dk, p.in_elems) +
                                bits_differ(r1.dv, r2.dv, p.in_elems);
                    cell_record(&res[i].cells[be][CHK_DETERMINISM], (double)db, 0.0,
                                "%s: %zu gradient elements differ between runs", label, db);
                }
            }
            if (be != CA_NO_ENTRY && !with_bwd)
                cell_error(&res[i].cells[be][CHK_DETERMINISM], CA_ERR_NOT_PROVIDED, label);
            tensors_free(&r1);
            tensors_free(&r2);
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
    switch (e) {
    case CA_CAUSAL_FWD: case CA_FULL_FWD: case CA_CUBIC_FWD: case CA_SHARED_FWD:
        return ca_run_fwd(impl, e, sh, ex, q, k, v, o, lse);
    case CA_CAUSAL_BWD: case CA_CUBIC_BWD: case CA_SHARED_BWD:
        return ca_run_bwd(impl, e, sh, ex, q, k, v, o, lse, dout, dq, dk, dv);
    case CA_DECODE_STEP:
        return ca_decode_step(impl, sh, ex, t, q, k, v, kc, vc, o, lse);
    case CA_ENTRY_COUNT: break;
    }
    return CA_ERR_NOT_PROVIDED;
}

static void check_bad_args(const ca_impl *const *impls, int count, const verify_opts *o,
                           impl_result *res)
{
    progress(o->progress, "verify: bad arguments\n");
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

int verify_run(const ca_impl *const *impls, int count, const verify_opts *o,
               impl_result *res)
{
    const ca_impl *naive = ca_impl_find("naive");
    if (naive == NULL) {
        fprintf(stderr, "verify: the baseline implementation 'naive' is not registered\n");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].impl = impls[i];
    }
    if (check_grid(naive, impls, count, o, res) || check_extreme(naive, impls, count, o, res))
        return -1;
    check_fd(impls, count, o, res);
    check_equiv(naive, impls, count, o, res);
    check_determinism(impls, count, o, res);
    check_bad_args(impls, count, o, res);
    int fails = 0;
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++)
            for (int c = 0; c < CHK_COUNT; c++) fails += res[i].cells[e][c].st == CELL_FAIL;
    return fails;
}
