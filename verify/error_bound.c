/* error_bound.c: the first-order forward error bound of any float32 implementation on a
 * problem, steps F1-F4 and B1-B5 of tolerance.h evaluated in float64 on the reference's
 * own quantities, row by row of the reference's row map. */
#include "problem.h"
#include "tolerance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per-row scratch of n keys: scores, weights, F2's Th, B1's Pi, dP and B. */
enum { ROW_S, ROW_P, ROW_TH, ROW_PI, ROW_DP, ROW_B, ROW_ARRAYS };

typedef struct bound_bufs {
    double *o, *lse, *dq, *dk, *dv; /* element bounds, the layouts of the results */
} bound_bufs;

/* One row r of head h: adds its bounds into b. rq, rk, rv, rdo: the row's query, its
 * first key / value row and its dO row; ro: the reference's o row. */
typedef struct row_ctx {
    int d, len, bwd;
    double gd3, gl;      /* F1's gamma_{d+3}; B5's gamma_{L+1} */
    double gp;           /* B2's factor: gamma_d, plus the sweep's chain (shared inputs) */
    const double *q, *k, *v, *dout, *o;
    double *bo, *blse, *bdq, *bdk, *bdv;
    double *w;           /* ROW_ARRAYS x len scratch */
} row_ctx;

static void row_bound(const row_ctx *c)
{
    const int d = c->d, n = c->len;
    const double u = ldexp(1.0, -24), sc = 1.0 / sqrt((double)d);
    double *S = c->w + ROW_S * n, *P = c->w + ROW_P * n, *Th = c->w + ROW_TH * n;
    double *Pi = c->w + ROW_PI * n, *dP = c->w + ROW_DP * n, *B = c->w + ROW_B * n;
    double m = -INFINITY, l = 0.0;
    for (int j = 0; j < n; j++) {
        double acc = 0.0, abs_acc = 0.0;
        for (int x = 0; x < d; x++) {
            acc += c->q[x] * c->k[(size_t)j * d + x];
            abs_acc += fabs(c->q[x] * c->k[(size_t)j * d + x]);
        }
        S[j] = sc * acc;
        Th[j] = c->gd3 * sc * abs_acc; /* F1's E_ij; F2 and B1 build on it below */
        m = fmax(m, S[j]);
    }
    for (int j = 0; j < n; j++) l += exp(S[j] - m);
    const double lse = m + log(l);
    double thbar = 0.0;
    for (int j = 0; j < n; j++) {
        P[j] = exp(S[j] - m) / l;
        Pi[j] = Th[j]; /* E_ij, completed in B1 */
        Th[j] = expm1(Th[j]) + u * (fabs(S[j] - m) + 1.0 + BOUND_C_EXP);
        thbar += P[j] * Th[j];
    }
    /* F4 */
    const double dlse = thbar + tol_gamma(2.0 * n) + (BOUND_C_EXP + 2.0) * n * u +
                        u * (BOUND_C_LOG * fabs(log(l)) + fabs(lse));
    *c->blse = dlse;
    /* F3 */
    const double g4 = tol_gamma(4.0 * n + 1.0);
    for (int x = 0; x < d; x++) {
        double mo = 0.0, t = 0.0;
        for (int j = 0; j < n; j++) {
            const double pv = P[j] * fabs(c->v[(size_t)j * d + x]);
            mo += pv;
            t += pv * Th[j];
        }
        c->bo[x] = t + mo * (thbar + g4);
    }
    if (!c->bwd) return;
    /* B1, B2 */
    double D = 0.0, dD = 0.0, dD_tiles = 0.0, pdp = 0.0;
    for (int x = 0; x < d; x++) {
        D += c->dout[x] * c->o[x];
        dD += c->gp * fabs(c->dout[x] * c->o[x]) + fabs(c->dout[x]) * c->bo[x];
    }
    for (int j = 0; j < n; j++) {
        Pi[j] = expm1(Pi[j] + dlse) + u * (fabs(S[j] - lse) + BOUND_C_EXP);
        double acc = 0.0, abs_acc = 0.0;
        for (int x = 0; x < d; x++) {
            acc += c->dout[x] * c->v[(size_t)j * d + x];
            abs_acc += fabs(c->dout[x] * c->v[(size_t)j * d + x]);
        }
        dP[j] = acc;
        B[j] = abs_acc;
        dD_tiles += P[j] * (Pi[j] * fabs(acc) + c->gp * abs_acc);
        pdp += P[j] * fabs(acc);
    }
    /* B3: both forms of D */
    dD += dD_tiles + tol_gamma(n) * pdp;
    /* B4, B5 */
    for (int j = 0; j < n; j++) {
        const double g = sc * P[j] * fabs(dP[j] - D);
        const double dg = sc * P[j] * ((Pi[j] + 5.0 * u) * fabs(dP[j] - D) + c->gp * B[j] + dD);
        const double e = dg + c->gl * g;
        for (int x = 0; x < d; x++) {
            c->bdq[x] += e * fabs(c->k[(size_t)j * d + x]);
            c->bdk[(size_t)j * d + x] += e * fabs(c->q[x]);
            c->bdv[(size_t)j * d + x] += P[j] * (Pi[j] + c->gl) * fabs(c->dout[x]);
        }
    }
}

/* max b[i] over the elements where the reference ref is finite (and b with it). */
static double max_where_finite(const double *b, const double *ref, size_t n)
{
    double x = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && isfinite(b[i])) x = fmax(x, b[i]);
    return x;
}

ca_status problem_error_bounds(problem *p, const double *q, const double *k, const double *v,
                               const double *dout)
{
    const int bwd = problem_bwd(p) != CA_NO_ENTRY, d = p->sh.d;
    const ca_entry e = problem_fwd(p); /* a decode step's map is its N steps' */
    const size_t count = ca_ref_row_map(e, p->sh, NULL);
    ca_ref_row *rows = malloc(count * sizeof *rows);
    double *w = malloc((size_t)ROW_ARRAYS * p->sh.n * sizeof *w);
    bound_bufs b = {calloc(p->out_elems, sizeof(double)), calloc(p->lse_elems, sizeof(double)),
                    bwd ? calloc(p->q_elems, sizeof(double)) : NULL,
                    bwd ? calloc(p->kv_elems, sizeof(double)) : NULL,
                    bwd ? calloc(p->kv_elems, sizeof(double)) : NULL};
    ca_status st = rows && w && b.o && b.lse && (!bwd || (b.dq && b.dk && b.dv)) ? CA_OK
                                                                              : CA_ERR_NOMEM;
    if (st == CA_OK) {
        ca_ref_row_map(e, p->sh, rows);
        const size_t qs = p->q_elems / p->sh.heads, kvs = p->kv_elems / p->sh.heads;
        const size_t out = count * d;
        const double chain = op_shared_inputs(p->op) ? (BOUND_C_EXP + 2.0) * p->sh.n : 0.0;
        row_ctx c = {.d = d, .bwd = bwd, .gd3 = tol_gamma(d + 3.0),
                     .gp = tol_gamma(d) + chain * ldexp(1.0, -24),
                     .gl = tol_gamma((double)problem_longest_sum(p, 1) + 1.0), .w = w};
        for (int h = 0; h < p->sh.heads; h++)
            for (size_t r = 0; r < count; r++) {
                const size_t qo = h * qs + rows[r].q_row * d, ko = h * kvs + rows[r].key_row * d;
                c.len = rows[r].len;
                c.q = q + qo;
                c.k = k + ko;
                c.v = v + ko;
                c.o = p->ro + h * out + r * d;
                c.dout = dout + h * out + r * d;
                c.bo = b.o + h * out + r * d;
                c.blse = b.lse + h * count + r;
                if (bwd) {
                    c.bdq = b.dq + qo;
                    c.bdk = b.dk + ko;
                    c.bdv = b.dv + ko;
                }
                row_bound(&c);
            }
        p->bound_o = max_where_finite(b.o, p->ro, p->out_elems);
        p->bound_lse = max_where_finite(b.lse, p->rlse, p->lse_elems);
        if (bwd) {
            p->bound_dq = max_where_finite(b.dq, p->rdq, p->q_elems);
            p->bound_dk = max_where_finite(b.dk, p->rdk, p->kv_elems);
            p->bound_dv = max_where_finite(b.dv, p->rdv, p->kv_elems);
        }
    }
    free(rows);
    free(w);
    free(b.o); free(b.lse); free(b.dq); free(b.dk); free(b.dv);
    return st;
}
