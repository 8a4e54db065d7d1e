/* check_own_fd.c: own_fd (docs/DESIGN.md §4.3): each implementation's backward against a
 * directional finite difference of its own forward. */
#include "check.h"

#include "tolerance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
void check_own_fd(const ca_impl *naive, const ca_impl *const *impls, int count,
                  const verify_opts *o, impl_result *res)
{
    /* N = 80 spans two 64-row tiles with a ragged edge (one 128-key forward tile of the
     * register backend, two backward ones), in every prefix longer than 64
     * too; d = 1 and 3 leave only a vector kernel's tail; d = 64 and 128 are the widths
     * the benchmark runs, with N past one tile. */
    static const ca_shape shapes[] = {{17, 8, 2, 0}, {5, 3, 1, 0}, {80, 16, 1, 0},
                                      {9, 1, 2, 0}, {70, 64, 1, 0}, {66, 128, 1, 0}};
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
