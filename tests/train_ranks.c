/* train_ranks.c: the tests' driver of prefix-parallel training (docs/DESIGN.md §8.2),
 * run by tests/train_ranks.sh as `mpirun -np K build/train_ranks ...` and without mpirun.
 *
 * Trains the float32 model for --steps steps of model_train_step_f32 on batches of tokens
 * drawn from the seed (next-token targets), each rank its part of every batch, the shares
 * summed in rank order by lib/comm. Rank 0 prints each step's loss and writes:
 *   --grads FILE    the first step's batch gradient, as raw float32 (model_param_count);
 *   --params FILE   the trained parameters, as raw float32;
 *   --against FILE  compares the first step's gradient with FILE (a 1-rank run's --grads)
 *                   tensor by tensor, against verify's model tolerance (below); exit 1 on
 *                   a tensor beyond it;
 *   --params-against FILE  compares the trained parameters with FILE (a 1-rank run's
 *                   --params): every element within 1% of the farthest any element moved
 *                   from its initial value in FILE's training. Rounding differences move
 *                   the two runs apart by orders of magnitude less (2e-7 against 3e-3 after
 *                   three steps at lr 1e-3, 2 and 3 ranks); a share of the batch lost or
 *                   counted twice moves them by as much as training itself.
 * Every run ends by comparing a hash of every rank's parameters: ranks that hold other
 * bits than rank 0 fail the run (exit 1), as a drift between ranks would.
 * --plant BUG plants a bug these checks must catch (train_ranks.sh shows they do):
 *   drop-share  the last rank's share of the gradients is lost before the sum;
 *   drift       the last rank's parameters differ from the others' in one bit. */
#include "comm.h"
#include "cubattn_harness.h"
#include "model.h"
#include "tolerance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct args {
    model_kind kind;
    model_config cfg;
    const char *impl, *grads, *params, *against, *params_against;
    int threads, n, batch, steps, init_check;
    const char *plant;
    uint64_t seed;
} args;

static int parse(int argc, char **argv, args *a)
{
    *a = (args){.kind = MODEL_CUBIC, .cfg = {13, 24, 16, 2, 3}, .impl = "omp", .threads = 1,
                .n = 24, .batch = 2, .steps = 3, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--init-check")) { a->init_check = 1; continue; }
        if (!v) { fprintf(stderr, "train_ranks: %s needs a value\n", f); return 2; }
        i++;
        if (!strcmp(f, "--kind")) {
            const int k = model_kind_parse(v);
            if (k < 0) { fprintf(stderr, "train_ranks: unknown kind '%s'\n", v); return 2; }
            a->kind = (model_kind)k;
        }
        else if (!strcmp(f, "--impl")) a->impl = v;
        else if (!strcmp(f, "--threads")) a->threads = atoi(v);
        else if (!strcmp(f, "--vocab")) a->cfg.vocab = atoi(v);
        else if (!strcmp(f, "--n")) a->cfg.max_n = a->n = atoi(v);
        else if (!strcmp(f, "--d-model")) a->cfg.d_model = atoi(v);
        else if (!strcmp(f, "--heads")) a->cfg.heads = atoi(v);
        else if (!strcmp(f, "--layers")) a->cfg.layers = atoi(v);
        else if (!strcmp(f, "--batch")) a->batch = atoi(v);
        else if (!strcmp(f, "--steps")) a->steps = atoi(v);
        else if (!strcmp(f, "--seed")) a->seed = strtoull(v, NULL, 10);
        else if (!strcmp(f, "--grads")) a->grads = v;
        else if (!strcmp(f, "--params")) a->params = v;
        else if (!strcmp(f, "--against")) a->against = v;
        else if (!strcmp(f, "--plant")) a->plant = v;
        else if (!strcmp(f, "--params-against")) a->params_against = v;
        else { fprintf(stderr, "train_ranks: unknown flag %s\n", f); return 2; }
    }
    const char *why = model_config_error(&a->cfg);
    if (why) { fprintf(stderr, "train_ranks: %s\n", why); return 2; }
    if (a->batch < 1 || a->steps < 1 || a->threads < 1) {
        fprintf(stderr, "train_ranks: --batch, --steps and --threads must be >= 1\n");
        return 2;
    }
    if (!ca_impl_find(a->impl)) { fprintf(stderr, "train_ranks: unknown impl '%s'\n", a->impl); return 2; }
    return 0;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static int write_floats(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    const int ok = f && fwrite(x, sizeof *x, n, f) == n;
    if (f && fclose(f) != 0) return -1;
    return ok ? 0 : -1;
}

static float *read_floats(const char *path, size_t n)
{
    float *x = malloc(n * sizeof *x);
    FILE *f = fopen(path, "rb");
    if (!x || !f || fread(x, sizeof *x, n, f) != n) {
        fprintf(stderr, "train_ranks: cannot read %zu floats from %s\n", n, path);
        free(x);
        x = NULL;
    }
    if (f) fclose(f);
    return x;
}

/* The first step's gradient against a 1-rank run's, tensor by tensor: the same terms
 * summed in another order, each side within verify's model tolerance of the exact
 * gradient (tol_model_bound over the longest sum, relative to the tensor's largest
 * element; verify/tolerance.h), so they differ by at most the sum of the two. */
static int compare_grads(const args *a, const float *g, const char *path)
{
    const size_t P = model_param_count(&a->cfg);
    float *ref = read_floats(path, P);
    if (!ref) return 1;
    const size_t rows = (size_t)a->batch * (a->kind == MODEL_CAUSAL ? (size_t)a->n
                                                                    : ca_packed_rows(a->n));
    size_t longest = 4 * (size_t)a->cfg.d_model;
    if (rows > longest) longest = rows;
    if ((size_t)a->cfg.vocab > longest) longest = (size_t)a->cfg.vocab;
    const double one = tol_model_bound(a->cfg.layers, longest, ldexp(1.0, -24));
    const double tol = tol_equivalence(one, one);
    int bad = 0;
    double worst = 0.0;
    for (int t = 0; t < model_tensor_count(&a->cfg); t++) {
        char name[32];
        size_t off, r, c;
        model_tensor_at(&a->cfg, t, name, sizeof name, &off, &r, &c);
        double e = 0.0, s = 0.0;
        for (size_t i = off; i < off + r * c; i++) {
            e = fmax(e, fabs((double)g[i] - ref[i]));
            s = fmax(s, fabs((double)ref[i]));
        }
        const double rel = s > 0.0 ? e / s : e;
        worst = fmax(worst, rel);
        if (!(rel <= tol)) {
            fprintf(stderr, "train_ranks: gradient of %s differs from %s by %.3g > %.3g\n",
                    name, path, rel, tol);
            bad = 1;
        }
    }
    printf("gradient vs %s: largest relative difference %.3g (tolerance %.3g)\n", path, worst,
           tol);
    free(ref);
    return bad;
}

/* The trained parameters against a 1-rank run's (--params-against above). */
static int compare_params(const args *a, const float *p, const char *path)
{
    const size_t P = model_param_count(&a->cfg);
    float *ref = read_floats(path, P), *p0 = malloc(P * sizeof *p0);
    int bad = 1;
    if (ref && p0) {
        model_init_params(&a->cfg, a->init_check ? MODEL_INIT_CHECK : MODEL_INIT_TRAIN,
                          a->seed, p0);
        double moved = 0.0, diff = 0.0;
        for (size_t i = 0; i < P; i++) {
            moved = fmax(moved, fabs((double)ref[i] - p0[i]));
            diff = fmax(diff, fabs((double)p[i] - ref[i]));
        }
        bad = !(diff <= 0.01 * moved);
        printf("parameters vs %s: largest difference %.3g, training moved them up to %.3g "
               "(bound 1%%: %.3g)%s\n", path, diff, moved, 0.01 * moved, bad ? ": BEYOND" : "");
    }
    free(ref);
    free(p0);
    return bad;
}

/* --plant drop-share: the last rank's share zeroed, then the sum as always. */
static long long sum_dropping_last(float *x, size_t n, double *y, size_t ny)
{
    if (comm_rank() == comm_ranks() - 1)
        for (size_t i = 0; i < n; i++) x[i] = 0.0f;
    return comm_sum_in_rank_order(x, n, y, ny);
}

static int planted(const args *a, const char *bug) { return a->plant && !strcmp(a->plant, bug); }

static int run(const args *a)
{
    const int K = comm_ranks(), me = comm_rank();
    const size_t P = model_param_count(&a->cfg), rows = (size_t)a->batch * a->n;
    float *params = malloc(P * sizeof *params), *m = calloc(P, sizeof *m);
    float *v = calloc(P, sizeof *v), *grads = malloc(P * sizeof *grads);
    int *tok = malloc(rows * sizeof *tok), *tgt = malloc(rows * sizeof *tgt);
    int bad = 0;
    if (!params || !m || !v || !grads || !tok || !tgt) {
        fprintf(stderr, "train_ranks (rank %d): out of memory\n", me);
        comm_abort(1); /* the other ranks would wait for this one's share */
    }
    model_init_params(&a->cfg, a->init_check ? MODEL_INIT_CHECK : MODEL_INIT_TRAIN, a->seed,
                      params);
    const model_exec ex = {ca_impl_find(a->impl), a->threads};
    const model_adamw opt = {1e-3, 0.9, 0.95, 1e-8, 0.1};
    const model_ranks ranks = {me, K, planted(a, "drop-share") ? sum_dropping_last
                                                               : comm_sum_in_rank_order};
    for (int s = 1; s <= a->steps; s++) {
        for (size_t i = 0; i < rows; i++)
            tok[i] = (int)(ca_rand64(a->seed + 7919 * (uint64_t)s, i) % (uint64_t)a->cfg.vocab);
        for (size_t i = 0; i < rows; i++)
            tgt[i] = (i + 1) % (size_t)a->n ? tok[i + 1] : -1;
        double loss;
        long long bytes = 0;
        ca_status st = model_train_step_f32(a->kind, &a->cfg, &ex, &opt, s, params, m, v, grads,
                                            a->batch, a->n, tok, tgt, &ranks, &loss, &bytes,
                                            NULL);
        if (st != CA_OK) {
            fprintf(stderr, "train_ranks (rank %d): step %d: %s\n", me, s, model_error(st));
            comm_abort(1); /* the other ranks would wait for this one's share forever */
        }
        if (me == 0) printf("step %d loss %.9g bytes %lld\n", s, loss, bytes);
        if (s == 1 && me == 0 && a->grads && write_floats(a->grads, grads, P) != 0) {
            fprintf(stderr, "train_ranks: cannot write %s\n", a->grads);
            bad = 1;
        }
        /* Rank 0's verdicts are kept until the end, which every rank reaches: a rank
         * leaving early would leave the others waiting in the next collective call. */
        if (s == 1 && me == 0 && a->against) bad |= compare_grads(a, grads, a->against);
    }
    if (me == 0 && a->params && write_floats(a->params, params, P) != 0) {
        fprintf(stderr, "train_ranks: cannot write %s\n", a->params);
        bad = 1;
    }
    if (me == 0 && a->params_against) bad |= compare_params(a, params, a->params_against);
    if (planted(a, "drift") && K > 1 && me == K - 1) {
        uint32_t bits;
        memcpy(&bits, &params[0], sizeof bits);
        bits ^= 1;
        memcpy(&params[0], &bits, sizeof bits);
    }
    /* Every rank's parameters against rank 0's: 52 bits of a hash, exact in a double. */
    const double h = (double)(hash_bytes(params, P * sizeof *params) >> 12);
    const double hi = comm_max(h), lo = -comm_max(-h); /* both on every rank: collective */
    const int same = hi == h && lo == h;
    const int all_same = comm_max(same ? 0.0 : 1.0) == 0.0;
    if (me == 0)
        printf("parameters: %s on the %d rank(s), hash %013llx\n",
               all_same ? "the same bits" : "DIFFERENT bits", K, (unsigned long long)h);
    const int rc = comm_max(all_same && !bad ? 0.0 : 1.0) == 0.0 ? 0 : 1;
    free(params); free(m); free(v); free(grads); free(tok); free(tgt);
    return rc;
}

int main(int argc, char **argv)
{
    if (comm_start(&argc, &argv, "train_ranks") != 0) return 1;
    args a;
    int rc = parse(argc, argv, &a);
    if (rc == 0) {
        char text[512];
        snprintf(text, sizeof text,
                 "kind=%s\nimpl=%s\nthreads=%d\nvocab=%d\nn=%d\nd_model=%d\nheads=%d\n"
                 "layers=%d\nbatch=%d\nsteps=%d\nseed=%llu\ninit_check=%d\nplant=%s\n",
                 model_kind_name(a.kind), a.impl, a.threads, a.cfg.vocab, a.n, a.cfg.d_model,
                 a.cfg.heads, a.cfg.layers, a.batch, a.steps, (unsigned long long)a.seed,
                 a.init_check, a.plant ? a.plant : "none");
        rc = comm_agree(text, "give every rank the same flags");
    }
    if (rc == 0) rc = run(&a);
    return comm_finish(rc);
}
