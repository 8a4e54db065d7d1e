/* check_equiv.c: equiv (docs/DESIGN.md §4.4): inference-equivalence, both sides of each
 * identity run by the implementation under test. */
#include "check.h"

#include "tolerance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Problems a (operator op_a) and b (op_b) of one shape, their inputs drawn from one seed. */
static ca_status problem_pair(problem *a, ca_op op_a, problem *b, ca_op op_b, ca_shape sh,
                             uint64_t seed)
{
    ca_status st = problem_init(a, op_a, sh, IN_NORMAL, seed);
    return st == CA_OK ? problem_init(b, op_b, sh, IN_NORMAL, seed) : st;
}

/* The references of pa and pb, then impl's forward on each: sides a and b. */
static ca_status run_sides(problem *pa, problem *pb, const ca_impl *impl, const ca_impl *naive,
                           int threads, side *a, side *b)
{
    ca_status st = problem_reference(pa);
    if (st == CA_OK) st = problem_reference(pb);
    if (st == CA_OK) st = run_side(pa, impl, naive, threads, a);
    if (st == CA_OK) st = run_side(pb, impl, naive, threads, b);
    return st;
}

/* causal training pass == token-by-token KV-cache decode */
static ca_status equiv_decode(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                              int threads, uint64_t seed, impl_result *r)
{
    problem pc, pd;
    side a = {0}, b = {0};
    ca_status st = problem_pair(&pc, CA_OP_CAUSAL, &pd, CA_OP_DECODE, sh, seed + 4000);
    if (st == CA_OK) st = run_sides(&pc, &pd, impl, naive, threads, &a, &b);
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
        ca_shape st_sh = {t, sh.d, sh.heads, 0};
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
    if (st == CA_OK) st = run_sides(pp, pr, impl, naive, threads, &a, &b);
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
    ca_status st = problem_pair(&ps, CA_OP_CUBIC_SHARED, &pc, CA_OP_CAUSAL, sh, seed + 6000);
    st = equiv_diagonal(&ps, &pc, st, 1, impl, naive, threads, "shared o(t,t) vs causal", r);
    problem_free(&ps); problem_free(&pc);
    return st;
}

/* cubic_last o_t == cubic o(t, t) when q_t == q(t, t), k and v the same packed tensors */
static ca_status equiv_last(const ca_impl *impl, const ca_impl *naive, ca_shape sh,
                            int threads, uint64_t seed, impl_result *r)
{
    problem pc = {0}, pl = {0};
    ca_status st = problem_pair(&pc, CA_OP_CUBIC, &pl, CA_OP_CUBIC_LAST, sh, seed + 9000);
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

void check_equiv(const ca_impl *naive, const ca_impl *const *impls, int count,
                 const verify_opts *o, impl_result *res)
{
    static const ca_shape shapes[] = {{17, 16, 2, 0}, {65, 80, 1, 0}};
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
