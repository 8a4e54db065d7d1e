/* gradcheck.c: the float64 reference's backward against central finite differences of
 * its own forward (docs/DESIGN.md §4.2): every input element perturbed, small shapes. */
#include "checks.h"
#include "problem.h"
#include "cubattn_harness.h"
#include "tolerance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* L = sum(o * W) of the reference forward at (q, k, v). */
static double ref_loss(ca_entry fe, ca_shape sh, const double *q, const double *k,
                       const double *v, const double *w, double *o, double *lse,
                       size_t out_elems)
{
    ca_ref_fwd(fe, sh, q, k, v, o, lse);
    double l = 0.0;
    for (size_t i = 0; i < out_elems; i++) l += o[i] * w[i];
    return l;
}

/* Worst (|fd - an| - atol - rtol |an|) over every element; <= 0 passes. Also returns the
 * worst |fd - an| for the table. */
static ca_status gradcheck_case(ca_op op, ca_shape sh, uint64_t seed0, double *excess,
                                double *worst_abs)
{
    const ca_entry fe = ca_op_get(op)->fwd, be = ca_op_get(op)->bwd;
    /* q, k, v (and dq, dk, dv) one after another: nq + 2 nkv elements */
    const size_t nq = ca_q_rows(fe, sh.n) * sh.d * sh.heads;
    const size_t nkv = ca_kv_rows(fe, sh.n) * sh.d * sh.heads, n = nq + 2 * nkv;
    const size_t rows = ca_out_rows(fe, sh.n) * sh.heads, no = rows * sh.d;
    double *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
    double *w = malloc(no * sizeof *w), *o = malloc(no * sizeof *o);
    double *lse = malloc(rows * sizeof *lse);
    ca_status st = CA_ERR_NOMEM;
    if (!x || !g || !w || !o || !lse) goto out;
    const uint64_t seed = seed0 + 8000 + (uint64_t)op;
    for (size_t i = 0; i < n; i++) x[i] = ca_draw(CA_DIST_NORMAL, seed, i);
    for (size_t i = 0; i < no; i++) w[i] = ca_draw(CA_DIST_NORMAL, seed, n + i);
    double *q = x, *k = x + nq, *v = x + nq + nkv;
    if ((st = ca_ref_fwd(fe, sh, q, k, v, o, lse)) != CA_OK) goto out;
    if ((st = ca_ref_bwd(be, sh, q, k, v, o, lse, w, g, g + nq, g + nq + nkv)) != CA_OK) goto out;
    *excess = -INFINITY;
    *worst_abs = 0.0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + GRADCHECK_EPS;
        double lp = ref_loss(fe, sh, q, k, v, w, o, lse, no);
        x[i] = keep - GRADCHECK_EPS;
        double lm = ref_loss(fe, sh, q, k, v, w, o, lse, no);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * GRADCHECK_EPS), diff = fabs(fd - g[i]);
        double ex = diff - (GRADCHECK_ATOL + GRADCHECK_RTOL * fabs(g[i]));
        if (!(ex <= *excess)) *excess = ex;
        if (!(diff <= *worst_abs)) *worst_abs = diff;
    }
out:
    free(x); free(g); free(w); free(o); free(lse);
    return st;
}

int verify_reference_gradients(cell cells[CA_ENTRY_COUNT], uint64_t seed, FILE *progress)
{
    static const ca_shape shapes[] = {{1, 1, 1, 0}, {5, 3, 2, 0}, {8, 4, 1, 0}};
    int fails = 0;
    memset(cells, 0, CA_ENTRY_COUNT * sizeof *cells);
    if (progress) fprintf(progress, "verify: float64 reference gradient check\n");
    for (int op = 0; op < CA_OP_COUNT; op++) {
        ca_entry be = ca_op_get(op)->bwd;
        if (be == CA_NO_ENTRY) continue;
        cell *c = &cells[be];
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            double excess = 0, worst = 0;
            ca_status st = gradcheck_case(op, shapes[s], seed, &excess, &worst);
            if (st != CA_OK || !(excess <= 0.0)) {
                if (c->st != CELL_FAIL)
                    snprintf(c->note, sizeof c->note, "%s N=%d d=%d: %s", op_name(op),
                             shapes[s].n, shapes[s].d,
                             st != CA_OK ? ca_status_str(st) : "fd and backward disagree");
                c->st = CELL_FAIL;
            } else if (c->st != CELL_FAIL) {
                c->st = CELL_PASS;
                snprintf(c->note, sizeof c->note, "every element, N<=8 d<=4, eps=%g",
                         GRADCHECK_EPS);
            }
            if (worst > c->err || c->cases == 0) c->err = worst;
            c->tol = GRADCHECK_ATOL; /* plus rtol * |grad|, per element */
            c->cases++;
        }
        fails += c->st == CELL_FAIL;
    }
    return fails;
}
