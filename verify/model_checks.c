/* model_checks.c: the model rows of verify (model_checks.h). Every case draws its
 * weights (MODEL_INIT_CHECK) and tokens from its seed, runs the float64 model of each
 * kind once, then every implementation's float32 model against it. */
#include "model_checks.h"
#include "cubattn_harness.h"
#include "tolerance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *model_check_name(model_check c)
{
    static const char *const names[MCHK_COUNT] = {
        [MCHK_VS_F64] = "vs_f64",           [MCHK_GRAD_FD] = "grad_fd",
        [MCHK_INFER] = "infer",             [MCHK_GENERATE] = "generate",
        [MCHK_PACKED_LOOP] = "packed_loop", [MCHK_L1_CAUSAL] = "l1_causal",
        [MCHK_DETERMINISM] = "determinism", [MCHK_BAD_CONFIG] = "bad_config",
        [MCHK_PARTS] = "parts"};
    return (unsigned)c < MCHK_COUNT ? names[c] : "?";
}

/* Shapes: N = 1, 2, 3, 17, 65; head dims 3, 4, 5, 16 (none a multiple of the vector
 * width but 16); one, two, three and four layers; one and two sequences. */
const model_fns model_f32 = {model_forward_backward_f32, model_infer_f32, model_generate_f32,
                             model_forward_backward_parts_f32};

/* cfg: vocab, max_n, d_model, heads, layers. */
static const model_case cases_quick[] = {
    {{11, 20, 8, 2, 2}, 2, 1},  {{11, 20, 8, 2, 2}, 2, 2}, {{11, 20, 8, 2, 2}, 2, 3},
    {{11, 20, 8, 2, 2}, 2, 17}, {{13, 9, 6, 2, 3}, 1, 9},  {{7, 7, 8, 1, 1}, 2, 7},
};
static const model_case cases_full[] = {
    {{29, 65, 32, 2, 2}, 1, 65}, {{17, 17, 20, 4, 4}, 2, 17},
};

enum { KINDS = MODEL_KIND_COUNT };

/* The ranks the check `parts` splits a case's batch between: 3, which cuts inside a
 * sequence in every case that has one to cut (N > 1, a kind that splits prefixes: 2
 * ranks give a batch of two equal sequences one each, no window); the float64 model's own
 * check runs 2 as well. tests/train_ranks.sh runs 2 and 3 ranks under mpirun. */
enum { PARTS_RANKS = 3 };

/* One case: its inputs and the float64 model's answers for each kind. */
typedef struct mcase_data {
    const model_case *c;
    const model_fns *fn;     /* the float32 model under test */
    size_t P, nlog;          /* parameters; logits B N V */
    int tensors;
    float *pf;
    double *p64;
    int *tok, *tgt;          /* [B][N] */
    ca_status st64[KINDS];
    double *l64[KINDS], *g64[KINDS], loss64[KINDS];
} mcase_data;

/* A float32 run's errors against the float64 model. */
typedef struct merr {
    double logits, loss;
    double *grad;            /* per tensor */
} merr;

static void data_free(mcase_data *m)
{
    free(m->pf); free(m->p64); free(m->tok); free(m->tgt);
    for (int k = 0; k < KINDS; k++) { free(m->l64[k]); free(m->g64[k]); }
}

static ca_status data_make(mcase_data *m, const model_fns *fn, const model_case *c,
                           uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->c = c;
    m->fn = fn;
    m->P = model_param_count(&c->cfg);
    m->tensors = model_tensor_count(&c->cfg);
    const size_t rows = (size_t)c->B * c->N;
    m->nlog = rows * c->cfg.vocab;
    m->pf = malloc(m->P * sizeof *m->pf);
    m->p64 = malloc(m->P * sizeof *m->p64);
    m->tok = malloc(rows * sizeof *m->tok);
    m->tgt = malloc(rows * sizeof *m->tgt);
    if (!m->pf || !m->p64 || !m->tok || !m->tgt) return CA_ERR_NOMEM;
    model_init_params(&c->cfg, MODEL_INIT_CHECK, seed, m->pf);
    for (size_t i = 0; i < m->P; i++) m->p64[i] = m->pf[i];
    for (size_t i = 0; i < rows; i++) {
        m->tok[i] = (int)(ca_rand64(seed + 1, i) % (uint64_t)c->cfg.vocab);
        m->tgt[i] = (int)(ca_rand64(seed + 2, i) % (uint64_t)c->cfg.vocab);
    }
    /* The first position of every sequence carries no loss: the skip is exercised. */
    for (int b = 0; b < c->B && c->N > 1; b++) m->tgt[(size_t)b * c->N] = -1;
    const model_exec ex64 = {NULL, 1};
    for (int k = 0; k < KINDS; k++) {
        m->l64[k] = malloc(m->nlog * sizeof *m->l64[k]);
        m->g64[k] = malloc(m->P * sizeof *m->g64[k]);
        if (!m->l64[k] || !m->g64[k]) return CA_ERR_NOMEM;
        m->st64[k] = model_forward_backward_f64(k, &c->cfg, &ex64, m->p64, c->B, c->N, m->tok,
                                                m->tgt, m->l64[k], m->g64[k], &m->loss64[k],
                                                NULL);
    }
    return CA_OK;
}

/* The longest sums behind the logits, the loss and the gradients (tolerance.h). */
static size_t longest_logits(const model_case *c)
{
    size_t k = 4 * (size_t)c->cfg.d_model;
    return (size_t)c->N > k ? (size_t)c->N : k;
}
static size_t longest_grads(const model_case *c, model_kind kind)
{
    size_t rows = (size_t)c->B * (kind == MODEL_CAUSAL ? (size_t)c->N : ca_packed_rows(c->N));
    size_t k = longest_logits(c);
    if (rows > k) k = rows;
    return (size_t)c->cfg.vocab > k ? (size_t)c->cfg.vocab : k;
}

static double rel_diff(const float *a, const float *b, const double *ref, size_t n)
{
    double m = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = e;
        if (fabs(ref[i]) > s) s = fabs(ref[i]);
    }
    return s > 0.0 ? m / s : m;
}

/* ---- one float32 run ------------------------------------------------------------------ */

typedef struct run32 {
    ca_status st;
    float *logits, *grads;
    double loss;
} run32;

static void run_free(run32 *r) { free(r->logits); free(r->grads); }

static ca_status run_model(const mcase_data *m, model_kind k, const model_exec *ex,
                           const float *params, run32 *r)
{
    r->logits = malloc(m->nlog * sizeof *r->logits);
    r->grads = malloc(m->P * sizeof *r->grads);
    if (!r->logits || !r->grads) return r->st = CA_ERR_NOMEM;
    return r->st = m->fn->forward_backward(k, &m->c->cfg, ex, params, m->c->B, m->c->N,
                                              m->tok, m->tgt, r->logits, r->grads, &r->loss,
                                              NULL);
}

static void errors_of(const mcase_data *m, model_kind k, const run32 *r, merr *e)
{
    e->logits = ca_rel_err(r->logits, m->l64[k], m->nlog);
    e->loss = fabs(r->loss - m->loss64[k]) / fmax(fabs(m->loss64[k]), 1e-300);
    for (int t = 0; t < m->tensors; t++) {
        char name[32];
        size_t off, rows, cols;
        model_tensor_at(&m->c->cfg, t, name, sizeof name, &off, &rows, &cols);
        e->grad[t] = ca_rel_err(r->grads + off, m->g64[k] + off, rows * cols);
    }
}

/* The tolerances of every implementation: the bound of tolerance.h. */
typedef struct mtol {
    double logits, loss, *grad;
} mtol;

static void tolerances(const mcase_data *m, model_kind k, mtol *t)
{
    const int L = m->c->cfg.layers;
    const double u = ldexp(1.0, -24);
    const size_t lg = longest_logits(m->c), gr = longest_grads(m->c, k);
    const size_t ls = lg > (size_t)m->c->B * m->c->N ? lg : (size_t)m->c->B * m->c->N;
    /* Not twice naive's error as for the operators: per tensor, one sample of naive's
     * rounding is no stable baseline (seen: blocked's wpe gradient 1.1x over twice
     * naive's error plus the floor), and each attention operator is already held to the
     * tight rule at operator level. */
    t->logits = tol_model_bound(L, lg, u);
    t->loss = tol_model_bound(L, ls, u);
    for (int i = 0; i < m->tensors; i++) t->grad[i] = tol_model_bound(L, gr, u);
}

static void record_vs_f64(cell *c, const mcase_data *m, const merr *e, const mtol *t)
{
    const model_case *mc = m->c;
    cell_record(c, e->logits, t->logits, "N=%d L=%d D=%d: logits err %.3g > tol %.3g", mc->N,
                mc->cfg.layers, mc->cfg.d_model, e->logits, t->logits);
    cell_record(c, e->loss, t->loss, "N=%d L=%d: loss err %.3g > tol %.3g", mc->N,
                mc->cfg.layers, e->loss, t->loss);
    for (int i = 0; i < m->tensors; i++) {
        char name[32];
        size_t off, rows, cols;
        model_tensor_at(&mc->cfg, i, name, sizeof name, &off, &rows, &cols);
        cell_record(c, e->grad[i], t->grad[i], "N=%d L=%d: gradient of %s err %.3g > tol %.3g",
                    mc->N, mc->cfg.layers, name, e->grad[i], t->grad[i]);
    }
}

/* ---- the checks of one implementation on one case ------------------------------------- */

/* The model's own directional finite difference, one direction per tensor, extrapolated
 * (tolerance.h fd_step_extrapolated; FD_REL_TOL against ||g||_2 of the tensor as for the
 * operators). */
static void check_grad_fd(cell *c, const mcase_data *m, model_kind k, const model_exec *ex,
                          const run32 *r, uint64_t seed)
{
    float *x = malloc(m->P * sizeof *x);
    if (!x) { cell_error(c, CA_ERR_NOMEM, "grad_fd"); return; }
    for (int t = 0; t < m->tensors; t++) {
        char name[32];
        size_t off, rows, cols;
        model_tensor_at(&m->c->cfg, t, name, sizeof name, &off, &rows, &cols);
        const size_t n = rows * cols;
        double rms = 0.0, an = 0.0, gnorm = 0.0;
        for (size_t i = 0; i < n; i++) rms += (double)m->pf[off + i] * m->pf[off + i];
        const double h = fd_step_extrapolated(sqrt(rms / (double)n));
        /* Losses at +h, -h, +h/2, -h/2 along u. */
        double lpm[4];
        for (int s = 0; s < 4; s++) {
            const double step = (s & 1 ? -h : h) / (s < 2 ? 1.0 : 2.0);
            memcpy(x, m->pf, m->P * sizeof *x);
            for (size_t i = 0; i < n; i++) {
                double u = ca_draw(CA_DIST_NORMAL, seed + 31 * (uint64_t)t, i);
                x[off + i] = (float)(m->pf[off + i] + step * u);
                if (s == 0) {
                    an += (double)r->grads[off + i] * u;
                    gnorm += (double)r->grads[off + i] * r->grads[off + i];
                }
            }
            ca_status st = m->fn->forward_backward(k, &m->c->cfg, ex, x, m->c->B, m->c->N,
                                                   m->tok, m->tgt, NULL, NULL, &lpm[s], NULL);
            if (st != CA_OK) { cell_error(c, st, "grad_fd forward"); free(x); return; }
        }
        const double d_h = (lpm[0] - lpm[1]) / (2.0 * h), d_h2 = (lpm[2] - lpm[3]) / h;
        const double fd = (4.0 * d_h2 - d_h) / 3.0;
        const double err = fabs(fd - an) / fmax(fmax(fabs(an), sqrt(gnorm)), 1e-30);
        cell_record(c, err, FD_REL_TOL, "N=%d L=%d: %s: fd %.6g vs backward %.6g", m->c->N,
                    m->c->cfg.layers, name, fd, an);
    }
    free(x);
}

/* Inference of every sequence against the float64 model's training logits. */
static void check_infer(cell *c, const mcase_data *m, model_kind k, const model_exec *ex,
                        double tol)
{
    const int N = m->c->N, V = m->c->cfg.vocab;
    float *lg = malloc((size_t)N * V * sizeof *lg);
    if (!lg) { cell_error(c, CA_ERR_NOMEM, "infer"); return; }
    for (int b = 0; b < m->c->B; b++) {
        /* A prompt of half the sequence: prefill, then decode steps (causal). */
        const int prompt = (N + 1) / 2;
        ca_status st = m->fn->infer(k, &m->c->cfg, ex, m->pf, N, prompt,
                                    m->tok + (size_t)b * N, lg);
        if (st != CA_OK) { cell_error(c, st, "model_infer"); break; }
        const double e = ca_rel_err(lg, m->l64[k] + (size_t)b * N * V, (size_t)N * V);
        cell_record(c, e, tol, "N=%d L=%d seq %d: inference logits err %.3g > tol %.3g", N,
                    m->c->cfg.layers, b, e, tol);
    }
    free(lg);
}

/* Greedy generation from a one-token prompt, then the training forward on the generated
 * sequence: its argmax at every position must be the token generated next, except where
 * the top two logits are within twice the logits' tolerance (a tie float32 may break
 * either way; counted in the note). */
static void check_generate(cell *c, const mcase_data *m, model_kind k, const model_exec *ex,
                           double tol)
{
    const int N = m->c->N, V = m->c->cfg.vocab;
    int *tok = malloc((size_t)N * sizeof *tok), *tgt = malloc((size_t)N * sizeof *tgt);
    float *lg = malloc((size_t)N * V * sizeof *lg);
    ca_status st = CA_ERR_NOMEM;
    if (!tok || !tgt || !lg) goto out;
    tok[0] = m->tok[0];
    if ((st = m->fn->generate(k, &m->c->cfg, ex, m->pf, N, 1, tok)) != CA_OK) goto out;
    for (int i = 0; i < N; i++) tgt[i] = -1;
    double loss;
    st = m->fn->forward_backward(k, &m->c->cfg, ex, m->pf, 1, N, tok, tgt, lg, NULL, &loss,
                                 NULL);
    if (st != CA_OK) goto out;
    int mismatches = 0, ties = 0;
    for (int t = 1; t < N; t++) {
        const float *row = lg + (size_t)(t - 1) * V;
        float top = -INFINITY, scale = 0.0f;
        int best = 0;
        for (int j = 0; j < V; j++) {
            if (row[j] > top) { top = row[j]; best = j; }
            scale = fmaxf(scale, fabsf(row[j]));
        }
        if (best == tok[t]) continue;
        if (top - row[tok[t]] <= 2.0 * tol * scale) ties++;
        else mismatches++;
    }
    cell_record(c, mismatches, 0, "N=%d L=%d: %d generated tokens differ from the training "
                "forward's argmax", N, m->c->cfg.layers, mismatches);
    if (ties) set_note(c, "%d near-tie(s) within tolerance", ties);
out:
    if (st != CA_OK) cell_error(c, st, "generate");
    free(tok); free(tgt); free(lg);
}

static void check_determinism(cell *c, const mcase_data *m, model_kind k,
                              const model_exec *ex, const run32 *first)
{
    for (int rep = 0; rep < 2; rep++) {
        run32 again = {0};
        ca_status st = run_model(m, k, ex, m->pf, &again);
        if (st != CA_OK) { cell_error(c, st, "determinism"); run_free(&again); return; }
        size_t diff = 0;
        for (size_t i = 0; i < m->nlog; i++) diff += memcmp(&again.logits[i], &first->logits[i], sizeof(float)) != 0;
        for (size_t i = 0; i < m->P; i++) diff += memcmp(&again.grads[i], &first->grads[i], sizeof(float)) != 0;
        diff += again.loss != first->loss;
        cell_record(c, (double)diff, 0, "N=%d L=%d: %zu elements differ between runs", m->c->N,
                    m->c->cfg.layers, diff);
        run_free(&again);
    }
}

/* Rank r's share of the batch split between K ranks (model_partition), by the float32
 * model under test or, with fn NULL, the float64 model: grads and *loss summed over the
 * ranks in rank order, as prefix-parallel training sums them (docs/DESIGN.md §8.2). */
static ca_status parts_sum(const mcase_data *m, model_kind k, const model_exec *ex, int K,
                           float *share, float *sum, double *share64, double *sum64,
                           double *loss)
{
    const model_case *mc = m->c;
    model_part *parts = malloc((size_t)mc->B * sizeof *parts);
    if (!parts) return CA_ERR_NOMEM;
    ca_status st = CA_OK;
    *loss = 0.0;
    for (int r = 0; r < K && st == CA_OK; r++) {
        const int np = model_partition(k, &mc->cfg, mc->B, mc->N, K, r, parts);
        double l = 0.0;
        if (share)
            st = m->fn->forward_backward_parts(k, &mc->cfg, ex, m->pf, mc->B, mc->N, m->tok,
                                               m->tgt, parts, np, share, &l, NULL);
        else
            st = model_forward_backward_parts_f64(k, &mc->cfg, ex, m->p64, mc->B, mc->N,
                                                  m->tok, m->tgt, parts, np, share64, &l,
                                                  NULL);
        for (size_t i = 0; st == CA_OK && i < m->P; i++) {
            if (share) sum[i] = r == 0 ? share[i] : sum[i] + share[i];
            else sum64[i] = r == 0 ? share64[i] : sum64[i] + share64[i];
        }
        *loss += l;
    }
    free(parts);
    return st;
}

/* The batch split between PARTS_RANKS ranks against the whole batch's run: the same
 * terms summed in another order, so each side is held to its own tolerance of the float64
 * gradient (tol_equivalence, as packed == loop). */
static void check_parts(cell *c, const mcase_data *m, model_kind k, const model_exec *ex,
                        const run32 *whole, const mtol *t)
{
    float *share = malloc(m->P * sizeof *share), *sum = malloc(m->P * sizeof *sum);
    for (int K = PARTS_RANKS; share && sum && K <= PARTS_RANKS; K++) {
        double loss;
        ca_status st = parts_sum(m, k, ex, K, share, sum, NULL, NULL, &loss);
        if (st != CA_OK) { cell_error(c, st, "model_forward_backward_parts"); break; }
        for (int i = 0; i < m->tensors; i++) {
            char name[32];
            size_t off, rows, cols;
            model_tensor_at(&m->c->cfg, i, name, sizeof name, &off, &rows, &cols);
            const double tg = tol_equivalence(t->grad[i], t->grad[i]);
            const double eg = rel_diff(sum + off, whole->grads + off, m->g64[k] + off,
                                       rows * cols);
            cell_record(c, eg, tg, "N=%d B=%d L=%d K=%d: gradient of %s differs from the "
                        "whole batch's by %.3g > %.3g", m->c->N, m->c->B, m->c->cfg.layers, K,
                        name, eg, tg);
        }
        const double el = fabs(loss - whole->loss) / fmax(fabs(m->loss64[k]), 1e-300);
        const double tl = tol_equivalence(t->loss, t->loss);
        cell_record(c, el, tl, "N=%d B=%d K=%d: loss differs from the whole batch's by %.3g",
                    m->c->N, m->c->B, K, el);
    }
    if (!share || !sum) cell_error(c, CA_ERR_NOMEM, "parts");
    free(share);
    free(sum);
}

/* Each bad input must give an error and leave the outputs as they were. */
static void check_bad_config(cell *c, model_kind k, const ca_impl *impl, int threads)
{
    const model_config good = {11, 8, 8, 2, 2};
    float *p = malloc(model_param_count(&good) * sizeof *p);
    if (!p) { cell_error(c, CA_ERR_NOMEM, "bad_config"); return; }
    model_init_params(&good, MODEL_INIT_CHECK, 1, p);
    int tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tgt[8] = {2, 3, 4, 5, 6, 7, 8, 9};
    /* infer: whether the inference path takes the same input (it has no B, no targets). */
    struct {
        const char *what;
        model_config cfg;
        int B, N, bad_tok, bad_tgt, null_impl, infer;
    } bad[] = {
        {"layers = 0", {11, 8, 8, 2, 0}, 1, 4, 0, 0, 0, 1},
        {"d_model not divisible by heads", {11, 8, 9, 2, 2}, 1, 4, 0, 0, 0, 1},
        {"heads = 0", {11, 8, 8, 0, 2}, 1, 4, 0, 0, 0, 1},
        {"N = 0", good, 1, 0, 0, 0, 0, 1},
        {"N > max_n", good, 1, 9, 0, 0, 0, 1},
        {"B = 0", good, 0, 4, 0, 0, 0, 0},
        {"token >= vocab", good, 1, 4, 11, 0, 0, 1},
        {"token < 0", good, 1, 4, -1, 0, 0, 1},
        {"target >= vocab", good, 1, 4, 0, 11, 0, 0},
        {"no implementation", good, 1, 4, 0, 0, 1, 1},
    };
    const int nb = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < nb; i++) {
        float logits[8 * 11];
        for (int j = 0; j < 8 * 11; j++) logits[j] = 12345.0f;
        int t2[8], g2[8];
        memcpy(t2, tok, sizeof t2);
        memcpy(g2, tgt, sizeof g2);
        for (int j = 0; j < 8; j++) g2[j] %= 11;
        if (bad[i].bad_tok) t2[2] = bad[i].bad_tok;
        if (bad[i].bad_tgt) g2[1] = bad[i].bad_tgt;
        model_exec ex = {bad[i].null_impl ? NULL : impl, threads};
        double loss = 12345.0;
        ca_status st = model_forward_backward_f32(k, &bad[i].cfg, &ex, p, bad[i].B, bad[i].N,
                                                  t2, g2, logits, NULL, &loss, NULL);
        int untouched = loss == 12345.0;
        for (int j = 0; j < 8 * 11; j++) untouched &= logits[j] == 12345.0f;
        cell_record(c, st == CA_OK || !untouched, 0, "%s: %s", bad[i].what,
                    st == CA_OK ? "accepted" : "outputs changed");
        if (!bad[i].infer) continue;
        st = model_infer_f32(k, &bad[i].cfg, &ex, p, bad[i].N, bad[i].N > 0 ? 1 : 0, t2, logits);
        untouched = 1;
        for (int j = 0; j < 8 * 11; j++) untouched &= logits[j] == 12345.0f;
        cell_record(c, st == CA_OK || !untouched, 0, "infer, %s: %s", bad[i].what,
                    st == CA_OK ? "accepted" : "outputs changed");
    }
    /* A prompt outside [1, n]. */
    float logits[8 * 11];
    model_exec ex = {impl, threads};
    for (int prompt = 0; prompt <= 5; prompt += 5) {
        ca_status st = model_infer_f32(k, &good, &ex, p, 4, prompt, tok, logits);
        cell_record(c, st == CA_OK, 0, "infer with prompt %d of 4 accepted", prompt);
    }
    set_note(c, "%d bad configurations/inputs, each refused with outputs untouched", nb);
    free(p);
}

/* ---- the float64 model's own equivalences --------------------------------------------- */

static void check_f64(model_result *r, const mcase_data *m)
{
    const model_case *mc = m->c;
    const int L = mc->cfg.layers, N = mc->N, V = mc->cfg.vocab;
    const double u = ldexp(1.0, -53);
    const double tl = tol_model_bound(L, longest_logits(mc), u);
    const model_exec ex64 = {NULL, 1};
    for (int k = 0; k < KINDS; k++) {
        if (m->st64[k] != CA_OK) { cell_error(&r->cells[k][MCHK_VS_F64], m->st64[k], "float64 model"); continue; }
        /* Inference == training. */
        double *lg = malloc((size_t)N * V * sizeof *lg);
        for (int b = 0; lg && b < mc->B; b++) {
            ca_status st = model_infer_f64(k, &mc->cfg, &ex64, m->p64, N, (N + 1) / 2,
                                           m->tok + (size_t)b * N, lg);
            if (st != CA_OK) { cell_error(&r->cells[k][MCHK_INFER], st, "model_infer_f64"); break; }
            double e = 0.0, s = 0.0;
            for (size_t i = 0; i < (size_t)N * V; i++) {
                e = fmax(e, fabs(lg[i] - m->l64[k][(size_t)b * N * V + i]));
                s = fmax(s, fabs(m->l64[k][(size_t)b * N * V + i]));
            }
            cell_record(&r->cells[k][MCHK_INFER], e / s, tl, "N=%d L=%d: float64 inference "
                        "vs training %.3g", N, L, e / s);
        }
        free(lg);
    }
    /* Packed == loop, and with one layer cubic == causal. */
    struct { model_kind a, b; model_check chk; int when; } pairs[] = {
        {MODEL_CUBIC, MODEL_CUBIC_LOOP, MCHK_PACKED_LOOP, 1},
        {MODEL_CUBIC, MODEL_CAUSAL, MCHK_L1_CAUSAL, L == 1},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (!pairs[i].when || m->st64[pairs[i].a] || m->st64[pairs[i].b]) continue;
        cell *c = &r->cells[MODEL_CUBIC][pairs[i].chk];
        const double tg = tol_model_bound(L, longest_grads(mc, MODEL_CUBIC), u);
        double el = 0, sl = 0, eg = 0, sg = 0;
        for (size_t j = 0; j < m->nlog; j++) {
            el = fmax(el, fabs(m->l64[pairs[i].a][j] - m->l64[pairs[i].b][j]));
            sl = fmax(sl, fabs(m->l64[pairs[i].b][j]));
        }
        for (size_t j = 0; j < m->P; j++) {
            eg = fmax(eg, fabs(m->g64[pairs[i].a][j] - m->g64[pairs[i].b][j]));
            sg = fmax(sg, fabs(m->g64[pairs[i].b][j]));
        }
        cell_record(c, el / sl, tl, "N=%d L=%d: float64 logits differ by %.3g", N, L, el / sl);
        cell_record(c, eg / sg, tg, "N=%d L=%d: float64 gradients differ by %.3g", N, L, eg / sg);
    }
    /* The batch split between 2 and PARTS_RANKS ranks == the whole batch, in float64. */
    double *share = malloc(m->P * sizeof *share), *sum = malloc(m->P * sizeof *sum);
    for (int k = 0; share && sum && k < KINDS; k++) {
        if (m->st64[k] != CA_OK) continue;
        const double tg = tol_model_bound(L, longest_grads(mc, k), u);
        for (int K = 2; K <= PARTS_RANKS; K++) {
            double loss;
            ca_status st = parts_sum(m, k, &ex64, K, NULL, NULL, share, sum, &loss);
            if (st != CA_OK) { cell_error(&r->cells[k][MCHK_PARTS], st, "parts, float64"); break; }
            double eg = 0, sg = 0;
            for (size_t j = 0; j < m->P; j++) {
                eg = fmax(eg, fabs(sum[j] - m->g64[k][j]));
                sg = fmax(sg, fabs(m->g64[k][j]));
            }
            cell_record(&r->cells[k][MCHK_PARTS], eg / sg, tg, "N=%d L=%d K=%d: float64 "
                        "gradients of the shares differ by %.3g", N, L, K, eg / sg);
            const double el = fabs(loss - m->loss64[k]) / fmax(fabs(m->loss64[k]), 1e-300);
            cell_record(&r->cells[k][MCHK_PARTS], el, tl, "N=%d L=%d K=%d: float64 loss of "
                        "the shares differs by %.3g", N, L, K, el);
        }
    }
    if (!share || !sum) cell_error(&r->cells[MODEL_CUBIC][MCHK_PARTS], CA_ERR_NOMEM, "parts");
    free(share);
    free(sum);
    /* The float64 backward against central differences of the float64 loss, one
     * direction per tensor (the reference gradient check's tolerances). */
    double *x = malloc(m->P * sizeof *x);
    for (int k = 0; x && k < KINDS; k++) {
        if (m->st64[k] != CA_OK) continue;
        for (int t = 0; t < m->tensors; t++) {
            char name[32];
            size_t off, rows, cols;
            model_tensor_at(&mc->cfg, t, name, sizeof name, &off, &rows, &cols);
            double an = 0.0, lpm[2];
            for (int s = 0; s < 2; s++) {
                memcpy(x, m->p64, m->P * sizeof *x);
                for (size_t i = 0; i < rows * cols; i++) {
                    double dir = ca_draw(CA_DIST_NORMAL, 4242 + (uint64_t)t, i);
                    x[off + i] += (s ? -GRADCHECK_EPS : GRADCHECK_EPS) * dir;
                    if (s == 0) an += m->g64[k][off + i] * dir;
                }
                model_forward_backward_f64(k, &mc->cfg, &ex64, x, mc->B, N, m->tok, m->tgt,
                                           NULL, NULL, &lpm[s], NULL);
            }
            const double fd = (lpm[0] - lpm[1]) / (2.0 * GRADCHECK_EPS);
            const double excess = fabs(fd - an) - GRADCHECK_RTOL * fabs(an);
            cell_record(&r->cells[k][MCHK_GRAD_FD], excess, GRADCHECK_ATOL,
                        "N=%d L=%d: %s: fd %.9g vs backward %.9g", N, L, name, fd, an);
        }
    }
    free(x);
}

/* ---- driver ---------------------------------------------------------------------------- */

int verify_model_case(const model_fns *fn, const ca_impl *const *impls, int count,
                      const verify_opts *o, const model_case *mc, uint64_t seed,
                      model_result *res)
{
    mcase_data m;
    int tensors = model_tensor_count(&mc->cfg);
    /* Per kind: the gradient errors [tensors], then the gradient tolerances. */
    double *buf = calloc((size_t)tensors * 2 * KINDS, sizeof *buf);
    ca_status st = data_make(&m, fn, mc, seed);
    if (st != CA_OK || !buf) { data_free(&m); free(buf); return -1; }
    check_f64(&res[count], &m);
    for (int i = 0; i < count; i++) {
        const model_exec ex = {impls[i], o->threads};
        run32 runs[KINDS];
        memset(runs, 0, sizeof runs);
        double tol_logits[KINDS];
        for (int k = 0; k < KINDS; k++) {
            cell *cells = res[i].cells[k];
            tol_logits[k] = 0;
            if (m.st64[k] != CA_OK) continue;
            if (run_model(&m, k, &ex, m.pf, &runs[k]) != CA_OK) {
                for (int c = 0; c < MCHK_COUNT; c++)
                    if (c != MCHK_BAD_CONFIG) cell_error(&cells[c], runs[k].st, "model run");
                continue;
            }
            merr e = {0, 0, buf + (size_t)k * tensors};
            mtol t = {0, 0, buf + (size_t)(KINDS + k) * tensors};
            errors_of(&m, k, &runs[k], &e);
            tolerances(&m, k, &t);
            tol_logits[k] = t.logits;
            record_vs_f64(&cells[MCHK_VS_F64], &m, &e, &t);
            check_grad_fd(&cells[MCHK_GRAD_FD], &m, k, &ex, &runs[k], seed + 99);
            check_infer(&cells[MCHK_INFER], &m, k, &ex, t.logits);
            check_generate(&cells[MCHK_GENERATE], &m, k, &ex, t.logits);
            check_determinism(&cells[MCHK_DETERMINISM], &m, k, &ex, &runs[k]);
            check_parts(&cells[MCHK_PARTS], &m, k, &ex, &runs[k], &t);
        }
        /* The cubic model's two computations, and one layer == causal. */
        struct { model_kind b; model_check chk; int when; } pairs[] = {
            {MODEL_CUBIC_LOOP, MCHK_PACKED_LOOP, 1}, {MODEL_CAUSAL, MCHK_L1_CAUSAL, mc->cfg.layers == 1}};
        for (size_t j = 0; j < sizeof pairs / sizeof pairs[0]; j++) {
            cell *c = &res[i].cells[MODEL_CUBIC][pairs[j].chk];
            const model_kind b = pairs[j].b;
            if (!pairs[j].when) continue;
            if (runs[MODEL_CUBIC].st != CA_OK || runs[b].st != CA_OK) {
                cell_error(c, runs[MODEL_CUBIC].st != CA_OK ? runs[MODEL_CUBIC].st : runs[b].st,
                           "model run");
                continue;
            }
            const double tl = tol_equivalence(tol_logits[MODEL_CUBIC], tol_logits[b]);
            const double el = rel_diff(runs[MODEL_CUBIC].logits, runs[b].logits,
                                       m.l64[MODEL_CUBIC], m.nlog);
            cell_record(c, el, tl, "N=%d L=%d: logits differ by %.3g > %.3g", mc->N,
                        mc->cfg.layers, el, tl);
            for (int t = 0; t < tensors; t++) {
                char name[32];
                size_t off, rows, cols;
                model_tensor_at(&mc->cfg, t, name, sizeof name, &off, &rows, &cols);
                /* Each side within its own tolerance of the float64 gradient. */
                const double tg = tol_equivalence(buf[(size_t)(KINDS + MODEL_CUBIC) * tensors + t],
                                                  buf[(size_t)(KINDS + b) * tensors + t]);
                const double eg = rel_diff(runs[MODEL_CUBIC].grads + off, runs[b].grads + off,
                                           m.g64[MODEL_CUBIC] + off, rows * cols);
                cell_record(c, eg, tg, "N=%d L=%d: gradient of %s differs by %.3g > %.3g",
                            mc->N, mc->cfg.layers, name, eg, tg);
            }
            const double eloss = fabs(runs[MODEL_CUBIC].loss - runs[b].loss) / m.loss64[MODEL_CUBIC];
            cell_record(c, eloss, tl, "loss differs by %.3g", eloss);
        }
        for (int k = 0; k < KINDS; k++) run_free(&runs[k]);
    }
    data_free(&m);
    free(buf);
    return 0;
}

int verify_models(const ca_impl *const *impls, int count, const verify_opts *o,
                  model_result *res)
{
    memset(res, 0, (size_t)(count + 1) * sizeof *res);
    for (int i = 0; i < count; i++) res[i].name = impls[i]->name;
    res[count].name = "model64";
    const size_t nq = sizeof cases_quick / sizeof cases_quick[0];
    const size_t nf = o->quick ? 0 : sizeof cases_full / sizeof cases_full[0];
    for (size_t ci = 0; ci < nq + nf; ci++) {
        const model_case *mc = ci < nq ? &cases_quick[ci] : &cases_full[ci - nq];
        verify_progress(o->progress, "verify: model N=%d B=%d L=%d D=%d H=%d V=%d\n", mc->N,
                        mc->B, mc->cfg.layers, mc->cfg.d_model, mc->cfg.heads, mc->cfg.vocab);
        if (verify_model_case(&model_f32, impls, count, o, mc, o->seed + 5000 + ci, res) != 0)
            return -1;
    }
    for (int i = 0; i < count; i++)
        for (int k = 0; k < KINDS; k++)
            check_bad_config(&res[i].cells[k][MCHK_BAD_CONFIG], k, impls[i], o->threads);
    int fails = 0;
    for (int i = 0; i <= count; i++)
        for (int k = 0; k < KINDS; k++)
            for (int c = 0; c < MCHK_COUNT; c++) fails += res[i].cells[k][c].st == CELL_FAIL;
    return fails;
}
