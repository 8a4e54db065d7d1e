/* problem.c: building verification cases and running implementations on them. */
#include "problem.h"


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *op_name(ca_op op)
{
    const ca_op_info *info = ca_op_get(op);
    return info ? info->name : "unknown";
}

int op_per_prefix(ca_op op) { return ca_op_get(op)->out_rows == CA_ROWS_PACKED; }

int op_shared_inputs(ca_op op)
{
    return op_per_prefix(op) && ca_op_get(op)->kv_rows == CA_ROWS_N;
}

ca_entry problem_fwd(const problem *p) { return ca_op_get(p->op)->fwd; }
ca_entry problem_bwd(const problem *p) { return ca_op_get(p->op)->bwd; }

int input_logit_scaled(input_kind kind)
{
    return kind == IN_LOGITS_1E2 || kind == IN_LOGITS_1E4;
}

/* cubic_last: N (its last prefix's keys; each packed dK/dV row has one query). A window
 * of cubic_shared: the (t, i) rows of its prefixes. */
size_t problem_longest_sum(const problem *p, int bwd)
{
    size_t n = (size_t)p->sh.n, d = (size_t)p->sh.d;
    size_t rows = bwd && op_shared_inputs(p->op)
                      ? ca_window_rows(CA_ROWS_PACKED, p->sh.n, p->sh.first)
                      : n;
    return rows > d ? rows : d;
}

const char *input_name(input_kind kind)
{
    static const char *const names[IN_COUNT] = {"normal", "logits_x1e2", "logits_x1e4",
                                                "all_equal", "dominant_key", "zeros"};
    return (unsigned)kind < IN_COUNT ? names[kind] : "unknown";
}

/* Rows of one head are [rows][d]; the pattern is applied per row. */
static void shape_inputs(problem *p, uint64_t seed)
{
    const size_t d = (size_t)p->sh.d, qrows = p->q_elems / d, kvrows = p->kv_elems / d;
    /* q, k, v, then dout: consecutive ranges of the problem's one stream. */
    ca_fill(p->q, p->q_elems, CA_DIST_NORMAL, 1.0, seed, 0);
    ca_fill(p->k, p->kv_elems, CA_DIST_NORMAL, 1.0, seed, p->q_elems);
    ca_fill(p->v, p->kv_elems, CA_DIST_NORMAL, 1.0, seed, p->q_elems + p->kv_elems);
    switch (p->kind) {
    case IN_NORMAL:
        break;
    case IN_LOGITS_1E2:
    case IN_LOGITS_1E4: {
        float f = p->kind == IN_LOGITS_1E2 ? 1e2f : 1e4f;
        for (size_t i = 0; i < p->q_elems; i++) p->q[i] *= f;
        break;
    }
    case IN_EQUAL: /* zero queries: every score 0. (Equal keys would do too, but make the
                      exact dq zero by cancellation, which no relative error can judge.) */
        memset(p->q, 0, p->q_elems * sizeof *p->q);
        break;
    case IN_DOMINANT: /* every query along e_0; key rows with index % 5 == 2 far along it */
        for (size_t r = 0; r < qrows; r++) p->q[r * d] = 30.0f;
        for (size_t r = 0; r < kvrows; r++)
            if (r % 5 == 2) p->k[r * d] = 30.0f;
        break;
    case IN_ZEROS:
        memset(p->q, 0, p->q_elems * sizeof *p->q);
        memset(p->k, 0, p->kv_elems * sizeof *p->k);
        memset(p->v, 0, p->kv_elems * sizeof *p->v);
        break;
    case IN_COUNT:
        break;
    }
}

nonfinite nonfinite_at(int i)
{
    nonfinite nf = {(nf_tensor)(i / (NF_VALUES * NF_PLACES)), (nf_value)(i / NF_PLACES % NF_VALUES),
                    (nf_place)(i % NF_PLACES)};
    return nf;
}

const char *nonfinite_name(nonfinite nf, char *buf, size_t len)
{
    static const char *const t[NF_TENSORS] = {"q", "k", "v", "dO"};
    static const char *const v[NF_VALUES] = {"nan", "+inf", "-inf"};
    snprintf(buf, len, "%s in %s %s", v[nf.value], t[nf.tensor],
             nf.place == NF_ROW ? "row" : "element");
    return buf;
}

/* Row two thirds of the way down the last head (row 86 when N = 129: past the first
 * 64-row tile, and in a 128-key tile that another follows; row 43 of the quick grid's
 * N = 65, whose keys cross 64-key tiles), so a kernel has to carry the value across
 * tiles; column d/2 for one element. Rows of
 * dO are output rows (packed for the per-prefix operators). */
void problem_set_nonfinite(problem *p, nonfinite nf)
{
    const float val = nf.value == NF_NAN ? NAN : nf.value == NF_POS_INF ? INFINITY : -INFINITY;
    float *x = nf.tensor == NF_Q ? p->q : nf.tensor == NF_K ? p->k : nf.tensor == NF_V ? p->v : p->dout;
    const size_t d = (size_t)p->sh.d;
    const size_t elems = nf.tensor == NF_DOUT ? p->out_elems : nf.tensor == NF_Q ? p->q_elems
                                                                                  : p->kv_elems;
    const size_t rows = elems / d / (size_t)p->sh.heads;
    const size_t row = ((size_t)p->sh.heads - 1) * rows + 2 * rows / 3;
    if (nf.place == NF_ROW)
        for (size_t c = 0; c < d; c++) x[row * d + c] = val;
    else
        x[row * d + d / 2] = val;
}

ca_status problem_init(problem *p, ca_op op, ca_shape sh, input_kind kind, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->op = op;
    p->sh = sh;
    p->kind = kind;
    const ca_op_info *info = ca_op_get(op);
    if (info == NULL) return CA_ERR_NOT_PROVIDED;
    ca_status st = ca_check_shape(info->fwd, sh);
    if (st != CA_OK) return st;
    /* A step operator runs N steps: one sequence of N rows in, one out. */
    const int step = ca_op_is_step(op);
    /* A window of prefixes (sh.first > 1) has its rows alone. */
    const int a = sh.first;
    p->q_elems = (step ? (size_t)sh.n : ca_window_rows(info->q_rows, sh.n, a)) * sh.d * sh.heads;
    p->kv_elems = (step ? (size_t)sh.n : ca_window_rows(info->kv_rows, sh.n, a)) * sh.d * sh.heads;
    p->lse_elems = (step ? (size_t)sh.n : ca_window_rows(info->out_rows, sh.n, a)) * sh.heads;
    p->out_elems = p->lse_elems * sh.d;
    p->q = malloc(p->q_elems * sizeof(float));
    p->k = malloc(p->kv_elems * sizeof(float));
    p->v = malloc(p->kv_elems * sizeof(float));
    p->dout = malloc(p->out_elems * sizeof(float));
    if (!p->q || !p->k || !p->v || !p->dout) {
        problem_free(p);
        return CA_ERR_NOMEM;
    }
    shape_inputs(p, seed);
    ca_fill(p->dout, p->out_elems, CA_DIST_NORMAL, 1.0, seed, p->q_elems + 2 * p->kv_elems);
    return CA_OK;
}

void problem_free(problem *p)
{
    free(p->q); free(p->k); free(p->v); free(p->dout);
    free(p->ro); free(p->rlse); free(p->rdq); free(p->rdk); free(p->rdv);
    memset(p, 0, sizeof *p);
}

/* max |S_ij| over the rows the operator computes, for the naive bound's conditioning.
 * Only finite logits count: a non-finite one has no rounding error to condition, and the
 * outputs it reaches are judged by where they are non-finite, not by their size. */
static double max_logit(const problem *p, const double *q, const double *k)
{
    ca_entry e = problem_fwd(p);
    size_t rows = ca_ref_row_map(e, p->sh, NULL);
    ca_ref_row *map = malloc(rows * sizeof *map);
    if (!map) return INFINITY;
    ca_ref_row_map(e, p->sh, map);
    const int d = p->sh.d;
    const size_t qs = p->q_elems / p->sh.heads, kvs = p->kv_elems / p->sh.heads;
    const double s = 1.0 / sqrt((double)d);
    double m = 0.0;
    for (int h = 0; h < p->sh.heads; h++)
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < map[r].len; j++) {
                const double *qi = q + h * qs + map[r].q_row * d;
                const double *kj = k + h * kvs + (map[r].key_row + j) * d;
                double acc = 0.0;
                for (int c = 0; c < d; c++) acc += qi[c] * kj[c];
                if (isfinite(acc)) m = fmax(m, fabs(s * acc));
            }
    free(map);
    return m;
}

/* The reference of N decode steps: step t reads cache rows 0..t, which hold k, v rows
 * 0..t of the sequence (rows after t are never read). */
static ca_status reference_steps(problem *p, const double *q, const double *k,
                                 const double *v)
{
    const int n = p->sh.n, d = p->sh.d, H = p->sh.heads;
    double *qt = malloc((size_t)H * d * sizeof *qt), *ot = malloc((size_t)H * d * sizeof *ot);
    double *lt = malloc((size_t)H * sizeof *lt);
    ca_status st = qt && ot && lt ? CA_OK : CA_ERR_NOMEM;
    for (int t = 0; st == CA_OK && t < n; t++) {
        for (int h = 0; h < H; h++)
            memcpy(qt + (size_t)h * d, q + ((size_t)h * n + t) * d, (size_t)d * sizeof *qt);
        st = ca_ref_decode_step(p->sh, t, qt, k, v, ot, lt);
        for (int h = 0; st == CA_OK && h < H; h++) {
            memcpy(p->ro + ((size_t)h * n + t) * d, ot + (size_t)h * d, (size_t)d * sizeof *ot);
            p->rlse[(size_t)h * n + t] = lt[h];
        }
    }
    free(qt); free(ot); free(lt);
    return st;
}

/* max m[i] over the elements where the reference ref is finite (and m with it). */
static double max_where_finite(const double *m, const double *ref, size_t n)
{
    double x = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && isfinite(m[i])) x = fmax(x, m[i]);
    return x;
}

/* The magnitudes behind the reference's results: the same formulas with every term
 * replaced by its absolute value and every difference by a sum,
 *   mo_ic = sum_j P_ij |v_jc|,  dS~_ij = P_ij (sum_c |dO_ic v_jc| + sum_c |dO_ic| mo_ic),
 *   mdq_ic = s sum_j dS~_ij |k_jc|,  mdk_jc = s sum_i dS~_ij |q_ic|,
 *   mdv_jc = sum_i P_ij |dO_ic|.
 * Rounding errors of a float32 evaluation are bounded in proportion to these, not to
 * |result|: where terms cancel (sum_j dS_ij = 0, so dk of a short or near one-hot
 * softmax is far smaller than its terms) the result is small and its rounding error is
 * not (tolerance.h). mdq, mdk, mdv NULL: forward only. A decode problem is its N steps,
 * the rows of causal. */
static ca_status ref_magnitude(const problem *p, const double *q, const double *k,
                               const double *v, const double *dout, double *mo, double *mdq,
                               double *mdk, double *mdv)
{
    const int bwd = mdq != NULL, d = p->sh.d;
    const ca_entry e = problem_fwd(p); /* a decode step's map is its N steps' */
    const size_t count = ca_ref_row_map(e, p->sh, NULL);
    ca_ref_row *rows = malloc(count * sizeof *rows);
    double *pr = malloc((size_t)p->sh.n * sizeof *pr);
    if (!rows || !pr) {
        free(rows);
        free(pr);
        return CA_ERR_NOMEM;
    }
    ca_ref_row_map(e, p->sh, rows);
    const double s = 1.0 / sqrt((double)d);
    const size_t qs = p->q_elems / p->sh.heads, kvs = p->kv_elems / p->sh.heads;
    const size_t out = count * d;
    if (bwd) {
        memset(mdq, 0, p->q_elems * sizeof *mdq);
        memset(mdk, 0, p->kv_elems * sizeof *mdk);
        memset(mdv, 0, p->kv_elems * sizeof *mdv);
    }
    for (int h = 0; h < p->sh.heads; h++)
        for (size_t r = 0; r < count; r++) {
            const size_t qo = h * qs + rows[r].q_row * d, ko = h * kvs + rows[r].key_row * d;
            const int len = rows[r].len;
            double *orow = mo + h * out + r * d;
            /* P of the row, as the reference forms it (finite inputs: the magnitudes
             * matter only where the reference is finite) */
            double m = -INFINITY, l = 0.0;
            for (int j = 0; j < len; j++) {
                double acc = 0.0;
                for (int c = 0; c < d; c++) acc += q[qo + c] * k[ko + (size_t)j * d + c];
                pr[j] = s * acc;
                m = fmax(m, pr[j]);
            }
            for (int j = 0; j < len; j++) l += exp(pr[j] - m);
            for (int j = 0; j < len; j++) pr[j] = exp(pr[j] - m) / l;
            memset(orow, 0, (size_t)d * sizeof *orow);
            for (int j = 0; j < len; j++)
                for (int c = 0; c < d; c++) orow[c] += pr[j] * fabs(v[ko + (size_t)j * d + c]);
            if (!bwd) continue;
            const double *dO = dout + h * out + r * d;
            double D = 0.0;
            for (int c = 0; c < d; c++) D += fabs(dO[c]) * orow[c];
            for (int j = 0; j < len; j++) {
                const size_t kj = ko + (size_t)j * d;
                double dP = 0.0;
                for (int c = 0; c < d; c++) dP += fabs(dO[c] * v[kj + c]);
                const double dS = pr[j] * (dP + D);
                for (int c = 0; c < d; c++) {
                    mdv[kj + c] += pr[j] * fabs(dO[c]);
                    mdq[qo + c] += s * dS * fabs(k[kj + c]);
                    mdk[kj + c] += s * dS * fabs(q[qo + c]);
                }
            }
        }
    free(rows);
    free(pr);
    return CA_OK;
}

/* The magnitudes of p's results (problem.h), from the double inputs. */
static ca_status magnitudes(problem *p, const double *q, const double *k, const double *v,
                            const double *w)
{
    const int bwd = problem_bwd(p) != CA_NO_ENTRY;
    double *mo = malloc(p->out_elems * sizeof *mo), *mq = NULL, *mk = NULL, *mv = NULL;
    if (bwd) {
        mq = malloc(p->q_elems * sizeof *mq);
        mk = malloc(p->kv_elems * sizeof *mk);
        mv = malloc(p->kv_elems * sizeof *mv);
    }
    ca_status st = mo && (!bwd || (mq && mk && mv)) ? CA_OK : CA_ERR_NOMEM;
    if (st == CA_OK) st = ref_magnitude(p, q, k, v, w, mo, mq, mk, mv);
    if (st == CA_OK) {
        p->mag_o = max_where_finite(mo, p->ro, p->out_elems);
        if (bwd) {
            p->mag_dq = max_where_finite(mq, p->rdq, p->q_elems);
            p->mag_dk = max_where_finite(mk, p->rdk, p->kv_elems);
            p->mag_dv = max_where_finite(mv, p->rdv, p->kv_elems);
        }
    }
    free(mo); free(mq); free(mk); free(mv);
    return st;
}

ca_status problem_reference(problem *p)
{
    ca_entry fwd = problem_fwd(p), bwd = problem_bwd(p);
    double *q = ca_to_double(p->q, p->q_elems), *k = ca_to_double(p->k, p->kv_elems);
    double *v = ca_to_double(p->v, p->kv_elems), *w = ca_to_double(p->dout, p->out_elems);
    p->ro = malloc(p->out_elems * sizeof(double));
    p->rlse = malloc(p->lse_elems * sizeof(double));
    ca_status st = CA_ERR_NOMEM;
    if (!q || !k || !v || !w || !p->ro || !p->rlse) goto done;
    st = ca_op_is_step(p->op) ? reference_steps(p, q, k, v)
                              : ca_ref_fwd(fwd, p->sh, q, k, v, p->ro, p->rlse);
    if (st != CA_OK) goto done;
    p->max_abs_logit = max_logit(p, q, k);
    if (bwd != CA_NO_ENTRY) {
        p->rdq = malloc(p->q_elems * sizeof(double));
        p->rdk = malloc(p->kv_elems * sizeof(double));
        p->rdv = malloc(p->kv_elems * sizeof(double));
        st = CA_ERR_NOMEM;
        if (!p->rdq || !p->rdk || !p->rdv) goto done;
        st = ca_ref_bwd(bwd, p->sh, q, k, v, p->ro, p->rlse, w, p->rdq, p->rdk, p->rdv);
    }
    if (st == CA_OK) st = magnitudes(p, q, k, v, w);
    if (st == CA_OK && input_logit_scaled(p->kind)) st = problem_error_bounds(p, q, k, v, w);
done:
    free(q); free(k); free(v); free(w);
    if (st != CA_OK) { /* p->ro marks a computed reference (forward_off): none then */
        free(p->ro); free(p->rlse); free(p->rdq); free(p->rdk); free(p->rdv);
        p->ro = p->rlse = p->rdq = p->rdk = p->rdv = NULL;
    }
    return st;
}

ca_status tensors_alloc(const problem *p, tensors *t)
{
    t->o = malloc(p->out_elems * sizeof(float));
    t->lse = malloc(p->lse_elems * sizeof(float));
    t->dq = malloc(p->q_elems * sizeof(float));
    t->dk = malloc(p->kv_elems * sizeof(float));
    t->dv = malloc(p->kv_elems * sizeof(float));
    if (!t->o || !t->lse || !t->dq || !t->dk || !t->dv) {
        tensors_free(t);
        return CA_ERR_NOMEM;
    }
    return CA_OK;
}

void tensors_free(tensors *t)
{
    free(t->o); free(t->lse); free(t->dq); free(t->dk); free(t->dv);
    memset(t, 0, sizeof *t);
}

/* The harness owns every byte of scratch: query, allocate, pass in. */
static ca_status with_workspace(const ca_impl *impl, ca_entry e, ca_shape sh, int threads,
                                ca_exec *ex)
{
    ex->threads = threads;
    ex->ws = NULL;
    ex->ws_bytes = 0;
    ca_status st = ca_workspace_bytes(impl, e, sh, threads, &ex->ws_bytes);
    if (st != CA_OK) return st;
    if (ex->ws_bytes > 0 && !(ex->ws = malloc(ex->ws_bytes))) return CA_ERR_NOMEM;
    /* NaN-filled, like the outputs: scratch read before it is written shows up. */
    if (ex->ws_bytes > 0) memset(ex->ws, 0xFF, ex->ws_bytes);
    return CA_OK;
}

/* N decode steps: token t's q/k/v rows gathered from [heads][N][d] into [heads][d]. */
static ca_status run_decode(const problem *p, const ca_impl *impl, int threads,
                            const float *q, const float *k, const float *v, tensors *out)
{
    const int n = p->sh.n, d = p->sh.d, H = p->sh.heads;
    ca_exec ex;
    ca_status st = with_workspace(impl, CA_DECODE_STEP, p->sh, threads, &ex);
    float *kc = calloc(p->kv_elems, sizeof *kc), *vc = calloc(p->kv_elems, sizeof *vc);
    float *tok = malloc((size_t)3 * H * d * sizeof *tok), *ot = malloc((size_t)H * d * sizeof *ot);
    float *lt = malloc((size_t)H * sizeof *lt);
    if (st == CA_OK && (!kc || !vc || !tok || !ot || !lt)) st = CA_ERR_NOMEM;
    for (int t = 0; st == CA_OK && t < n; t++) {
        float *qt = tok, *kt = tok + (size_t)H * d, *vt = tok + (size_t)2 * H * d;
        for (int h = 0; h < H; h++) {
            size_t src = ((size_t)h * n + t) * d;
            memcpy(qt + (size_t)h * d, q + src, (size_t)d * sizeof *qt);
            memcpy(kt + (size_t)h * d, k + src, (size_t)d * sizeof *kt);
            memcpy(vt + (size_t)h * d, v + src, (size_t)d * sizeof *vt);
        }
        st = ca_decode_step(impl, p->sh, &ex, t, qt, kt, vt, kc, vc, ot, lt);
        for (int h = 0; st == CA_OK && h < H; h++) {
            memcpy(out->o + ((size_t)h * n + t) * d, ot + (size_t)h * d, (size_t)d * sizeof *ot);
            out->lse[(size_t)h * n + t] = lt[h];
        }
    }
    free(kc); free(vc); free(tok); free(ot); free(lt); free(ex.ws);
    return st;
}

/* All-ones bytes are a NaN in every float: an output element the implementation never
 * writes then fails every comparison instead of keeping an earlier run's value. */
static void poison(float *x, size_t n) { memset(x, 0xFF, n * sizeof *x); }

ca_status problem_run_fwd_on(const problem *p, const ca_impl *impl, int threads,
                             const float *q, const float *k, const float *v, tensors *out)
{
    poison(out->o, p->out_elems);
    poison(out->lse, p->lse_elems);
    if (ca_op_is_step(p->op)) return run_decode(p, impl, threads, q, k, v, out);
    ca_entry e = problem_fwd(p);
    ca_exec ex;
    ca_status st = with_workspace(impl, e, p->sh, threads, &ex);
    if (st == CA_OK) st = ca_run_fwd(impl, e, p->sh, &ex, q, k, v, out->o, out->lse);
    free(ex.ws);
    return st;
}

ca_status problem_run(const problem *p, const ca_impl *impl, int threads, int with_bwd,
                      tensors *out)
{
    ca_status st = problem_run_fwd_on(p, impl, threads, p->q, p->k, p->v, out);
    if (st != CA_OK || !with_bwd || problem_bwd(p) == CA_NO_ENTRY) return st;
    return problem_run_bwd(p, impl, threads, out);
}

ca_status problem_run_bwd(const problem *p, const ca_impl *impl, int threads, tensors *out)
{
    ca_entry e = problem_bwd(p);
    ca_status st;
    ca_exec ex;
    poison(out->dq, p->q_elems);
    poison(out->dk, p->kv_elems);
    poison(out->dv, p->kv_elems);
    st = with_workspace(impl, e, p->sh, threads, &ex);
    if (st == CA_OK)
        st = ca_run_bwd(impl, e, p->sh, &ex, p->q, p->k, p->v, out->o, out->lse, p->dout,
                        out->dq, out->dk, out->dv);
    free(ex.ws);
    return st;
}

/* Column c of a reordered tensor holds column perm(c) of the original. */
static int perm(int ordering, int c, int d)
{
    switch (ordering) {
    case 1: return d - 1 - c;        /* reversed */
    case 2: return (c + d / 2) % d;  /* rotated by half */
    default: return c;
    }
}

static float *permuted(const float *x, size_t elems, int d, int ordering)
{
    float *y = malloc(elems * sizeof *y);
    if (y)
        for (size_t r = 0; r < elems / d; r++)
            for (int c = 0; c < d; c++) y[r * d + c] = x[r * d + perm(ordering, c, d)];
    return y;
}

static void unpermute(float *x, size_t elems, int d, int ordering, float *tmp)
{
    for (size_t r = 0; r < elems / d; r++) {
        for (int c = 0; c < d; c++) tmp[perm(ordering, c, d)] = x[r * d + c];
        memcpy(x + r * d, tmp, (size_t)d * sizeof *x);
    }
}

ca_status problem_run_reordered(const problem *p, const ca_impl *impl, int threads,
                                int with_bwd, int ordering, tensors *out)
{
    if (ordering == 0) return problem_run(p, impl, threads, with_bwd, out);
    const int d = p->sh.d;
    problem pr = *p; /* same shape and reference; only the four inputs are swapped */
    pr.q = permuted(p->q, p->q_elems, d, ordering);
    pr.k = permuted(p->k, p->kv_elems, d, ordering);
    pr.v = permuted(p->v, p->kv_elems, d, ordering);
    pr.dout = permuted(p->dout, p->out_elems, d, ordering);
    float *tmp = malloc((size_t)d * sizeof *tmp);
    ca_status st = pr.q && pr.k && pr.v && pr.dout && tmp ? CA_OK : CA_ERR_NOMEM;
    if (st == CA_OK) st = problem_run(&pr, impl, threads, with_bwd, out);
    if (st == CA_OK) {
        unpermute(out->o, p->out_elems, d, ordering, tmp);
        if (with_bwd && problem_bwd(p) != CA_NO_ENTRY) {
            unpermute(out->dq, p->q_elems, d, ordering, tmp);
            unpermute(out->dk, p->kv_elems, d, ordering, tmp);
            unpermute(out->dv, p->kv_elems, d, ordering, tmp);
        }
    }
    free(pr.q); free(pr.k); free(pr.v); free(pr.dout); free(tmp);
    return st;
}
