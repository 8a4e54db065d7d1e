/* problem.c: building verification cases and running implementations on them. */
#include "problem.h"

#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *op_name(op_kind op)
{
    static const char *const names[OP_COUNT] = {"causal", "full", "cubic", "cubic_shared",
                                                "decode"};
    return (unsigned)op < OP_COUNT ? names[op] : "unknown";
}

ca_entry op_fwd_entry(op_kind op)
{
    static const ca_entry fwd[OP_COUNT] = {CA_CAUSAL_FWD, CA_FULL_FWD, CA_CUBIC_FWD,
                                           CA_SHARED_FWD, CA_DECODE_STEP};
    return fwd[op];
}

ca_entry op_bwd_entry(op_kind op)
{
    static const ca_entry bwd[OP_COUNT] = {CA_CAUSAL_BWD, CA_ENTRY_COUNT, CA_CUBIC_BWD,
                                           CA_SHARED_BWD, CA_ENTRY_COUNT};
    return bwd[op];
}

const char *input_name(input_kind kind)
{
    static const char *const names[IN_COUNT] = {"normal", "logits_x1e2", "logits_x1e4",
                                                "all_equal", "dominant_key", "zeros"};
    return (unsigned)kind < IN_COUNT ? names[kind] : "unknown";
}

uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *state)
{
    return ((rng_next(state) >> 11) + 0.5) * 0x1.0p-53; /* in (0, 1) */
}

double rng_normal(uint64_t *state)
{
    double u1 = rng_uniform(state), u2 = rng_uniform(state);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Decode's tensors are the causal ones: it is checked row for row against them. */
static ca_entry layout_entry(op_kind op)
{
    return op == OP_DECODE ? CA_CAUSAL_FWD : op_fwd_entry(op);
}

static void fill_normal(float *x, size_t n, double scale, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng));
}

/* Rows of one head are [rows][d]; the pattern is applied per row. */
static void shape_inputs(problem *p, uint64_t *rng)
{
    const size_t d = (size_t)p->sh.d, rows = p->in_elems / d;
    fill_normal(p->q, p->in_elems, 1.0, rng);
    fill_normal(p->k, p->in_elems, 1.0, rng);
    fill_normal(p->v, p->in_elems, 1.0, rng);
    switch (p->kind) {
    case IN_NORMAL:
        break;
    case IN_LOGITS_1E2:
    case IN_LOGITS_1E4: {
        float f = p->kind == IN_LOGITS_1E2 ? 1e2f : 1e4f;
        for (size_t i = 0; i < p->in_elems; i++) p->q[i] *= f;
        break;
    }
    case IN_EQUAL: /* zero queries: every score 0. (Equal keys would do too, but make the
                      exact dq zero by cancellation, which no relative error can judge.) */
        memset(p->q, 0, p->in_elems * sizeof *p->q);
        break;
    case IN_DOMINANT: /* every query along e_0; key rows with index % 5 == 2 far along it */
        for (size_t r = 0; r < rows; r++) {
            p->q[r * d] = 30.0f;
            if (r % 5 == 2) p->k[r * d] = 30.0f;
        }
        break;
    case IN_ZEROS:
        memset(p->q, 0, p->in_elems * sizeof *p->q);
        memset(p->k, 0, p->in_elems * sizeof *p->k);
        memset(p->v, 0, p->in_elems * sizeof *p->v);
        break;
    case IN_COUNT:
        break;
    }
}

ca_status problem_init(problem *p, op_kind op, ca_shape sh, input_kind kind, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->op = op;
    p->sh = sh;
    p->kind = kind;
    ca_entry e = layout_entry(op);
    ca_status st = ca_check_shape(e, sh);
    if (st != CA_OK) return st;
    p->in_elems = ca_in_rows(e, sh.n) * sh.d * sh.heads;
    p->lse_elems = ca_out_rows(e, sh.n) * sh.heads;
    p->out_elems = p->lse_elems * sh.d;
    p->q = malloc(p->in_elems * sizeof(float));
    p->k = malloc(p->in_elems * sizeof(float));
    p->v = malloc(p->in_elems * sizeof(float));
    p->dout = malloc(p->out_elems * sizeof(float));
    if (!p->q || !p->k || !p->v || !p->dout) {
        problem_free(p);
        return CA_ERR_NOMEM;
    }
    uint64_t rng = seed;
    shape_inputs(p, &rng);
    fill_normal(p->dout, p->out_elems, 1.0, &rng);
    return CA_OK;
}

void problem_free(problem *p)
{
    free(p->q); free(p->k); free(p->v); free(p->dout);
    free(p->ro); free(p->rlse); free(p->rdq); free(p->rdk); free(p->rdv);
    memset(p, 0, sizeof *p);
}

static double *to_double(const float *x, size_t n)
{
    double *y = malloc(n * sizeof *y);
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

/* max |S_ij| over the rows the operator computes, for the naive bound's conditioning. */
static double max_logit(const problem *p, const double *q, const double *k)
{
    ca_entry e = layout_entry(p->op);
    size_t rows = ref_row_map(e, p->sh.n, NULL);
    ref_row *map = malloc(rows * sizeof *map);
    if (!map) return INFINITY;
    ref_row_map(e, p->sh.n, map);
    const int d = p->sh.d;
    const size_t hs = p->in_elems / p->sh.heads;
    const double s = 1.0 / sqrt((double)d);
    double m = 0.0;
    for (int h = 0; h < p->sh.heads; h++)
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < map[r].len; j++) {
                const double *qi = q + h * hs + map[r].q_row * d;
                const double *kj = k + h * hs + (map[r].key_row + j) * d;
                double acc = 0.0;
                for (int c = 0; c < d; c++) acc += qi[c] * kj[c];
                m = fmax(m, fabs(s * acc));
            }
    free(map);
    return m;
}

ca_status problem_reference(problem *p)
{
    ca_entry fwd = layout_entry(p->op), bwd = op_bwd_entry(p->op);
    double *q = to_double(p->q, p->in_elems), *k = to_double(p->k, p->in_elems);
    double *v = to_double(p->v, p->in_elems), *w = to_double(p->dout, p->out_elems);
    p->ro = malloc(p->out_elems * sizeof(double));
    p->rlse = malloc(p->lse_elems * sizeof(double));
    ca_status st = CA_ERR_NOMEM;
    if (!q || !k || !v || !w || !p->ro || !p->rlse) goto done;
    if ((st = ref_fwd(fwd, p->sh, q, k, v, p->ro, p->rlse)) != CA_OK) goto done;
    p->max_abs_logit = max_logit(p, q, k);
    if (bwd != CA_ENTRY_COUNT) {
        p->rdq = malloc(p->in_elems * sizeof(double));
        p->rdk = malloc(p->in_elems * sizeof(double));
        p->rdv = malloc(p->in_elems * sizeof(double));
        st = CA_ERR_NOMEM;
        if (!p->rdq || !p->rdk || !p->rdv) goto done;
        st = ref_bwd(bwd, p->sh, q, k, v, p->ro, p->rlse, w, p->rdq, p->rdk, p->rdv);
    }
done:
    free(q); free(k); free(v); free(w);
    return st;
}

ca_status tensors_alloc(const problem *p, tensors *t)
{
    t->o = malloc(p->out_elems * sizeof(float));
    t->lse = malloc(p->lse_elems * sizeof(float));
    t->dq = malloc(p->in_elems * sizeof(float));
    t->dk = malloc(p->in_elems * sizeof(float));
    t->dv = malloc(p->in_elems * sizeof(float));
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
    float *kc = calloc(p->in_elems, sizeof *kc), *vc = calloc(p->in_elems, sizeof *vc);
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
    if (p->op == OP_DECODE) return run_decode(p, impl, threads, q, k, v, out);
    ca_entry e = op_fwd_entry(p->op);
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
    ca_entry e = op_bwd_entry(p->op);
    if (st != CA_OK || !with_bwd || e == CA_ENTRY_COUNT) return st;
    ca_exec ex;
    poison(out->dq, p->in_elems);
    poison(out->dk, p->in_elems);
    poison(out->dv, p->in_elems);
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
    pr.q = permuted(p->q, p->in_elems, d, ordering);
    pr.k = permuted(p->k, p->in_elems, d, ordering);
    pr.v = permuted(p->v, p->in_elems, d, ordering);
    pr.dout = permuted(p->dout, p->out_elems, d, ordering);
    float *tmp = malloc((size_t)d * sizeof *tmp);
    ca_status st = pr.q && pr.k && pr.v && pr.dout && tmp ? CA_OK : CA_ERR_NOMEM;
    if (st == CA_OK) st = problem_run(&pr, impl, threads, with_bwd, out);
    if (st == CA_OK) {
        unpermute(out->o, p->out_elems, d, ordering, tmp);
        if (with_bwd && op_bwd_entry(p->op) != CA_ENTRY_COUNT) {
            unpermute(out->dq, p->in_elems, d, ordering, tmp);
            unpermute(out->dk, p->in_elems, d, ordering, tmp);
            unpermute(out->dv, p->in_elems, d, ordering, tmp);
        }
    }
    free(pr.q); free(pr.k); free(pr.v); free(pr.dout); free(tmp);
    return st;
}

double rel_err(const float *x, const double *ref, size_t n)
{
    double num = 0.0, den = 0.0, xmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) return INFINITY;
        num = fmax(num, fabs(x[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
        xmax = fmax(xmax, fabs(x[i]));
    }
    return den > 0.0 ? num / den : xmax;
}

double rel_diff(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0, amax = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
        amax = fmax(amax, fabs((double)a[i]));
    }
    return den > 0.0 ? num / den : amax;
}
