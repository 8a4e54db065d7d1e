/* scaling.c: bench --model --scaling, prefix-parallel training timed across MPI ranks
 * (docs/DESIGN.md §8.2).
 *
 * Run as `mpirun -np K build/bench --model --scaling` (without mpirun: K = 1). For each
 * depth L of --layers and each N of --n, the cubic model of --d-model, --heads, --vocab
 * trains one step of --batch sequences (model_train_step_f32) in these configurations:
 *   k ranks x --threads threads, for k = 1, 2, 4, ..., K (and K): the strong-scaling
 *     series; ranks k..K-1 wait, leaving their cores to the ranks timed;
 *   1 rank x K --threads threads: the same cores as one process, for comparison.
 * A configuration's step is timed from a barrier to the end of the slowest rank's update
 * (the update follows the sum, so every rank ends together), the median over repetitions
 * after one untimed step; the ranks' shares before the sum (compute) and the sum itself
 * (waiting for the slowest share included) are timed apart. FLOPs are the ranks' shares'
 * (model_stats), bytes those the sum sent. Then, for the projection to the published scale
 * (the report), the partition of a batch of PROJECT_BATCH sequences over 1..1024 ranks:
 * its largest part's predicted cost over the mean part's, from model_partition itself. */
#include "bench.h"
#include "clock.h"
#include "comm.h"
#include "cubattn_harness.h"
#include "model.h"
#include "results.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The batch of the projection: sequences a step at the published scale (an assumption
 * the report states). */
#define PROJECT_BATCH 64
#define PROJECT_MAX_RANKS 1024

/* The seconds this rank spent in the sum of the last step (the step's sum callback). */
static double g_sum_seconds;

static long long timed_sum(float *x, size_t n, double *y, size_t ny)
{
    const double t0 = now_seconds();
    const long long bytes = comm_sum_in_rank_order(x, n, y, ny);
    g_sum_seconds += now_seconds() - t0;
    return bytes;
}

/* One model's buffers; every rank draws the same parameters and tokens from the seed. */
typedef struct sctx {
    model_config mc;
    float *params, *m, *v, *grads;
    int *tokens, *targets;
} sctx;

static void sctx_free(sctx *c)
{
    free(c->params); free(c->m); free(c->v); free(c->grads);
    free(c->tokens); free(c->targets);
}

static int sctx_init(sctx *c, const bench_config *cfg, int L, int n)
{
    memset(c, 0, sizeof *c);
    c->mc = (model_config){.vocab = cfg->vocab, .max_n = n, .d_model = cfg->d_model,
                           .heads = cfg->heads, .layers = L};
    const char *why = model_config_error(&c->mc);
    if (why) {
        fprintf(stderr, "bench: model L=%d d_model=%d heads=%d: %s\n", L, cfg->d_model,
                cfg->heads, why);
        return -1;
    }
    const size_t P = model_param_count(&c->mc), rows = (size_t)cfg->batch * n;
    c->params = malloc(P * sizeof *c->params);
    c->m = malloc(P * sizeof *c->m);
    c->v = malloc(P * sizeof *c->v);
    c->grads = malloc(P * sizeof *c->grads);
    c->tokens = malloc(rows * sizeof *c->tokens);
    c->targets = malloc(rows * sizeof *c->targets);
    if (!c->params || !c->m || !c->v || !c->grads || !c->tokens || !c->targets) {
        fprintf(stderr, "bench: out of memory for the model buffers\n");
        sctx_free(c);
        return -1;
    }
    for (size_t i = 0; i < rows; i++) {
        c->tokens[i] = (int)(ca_rand64(cfg->seed, (uint64_t)i) % (uint64_t)cfg->vocab);
        c->targets[i] = (int)(ca_rand64(cfg->seed + 1, (uint64_t)i) % (uint64_t)cfg->vocab);
    }
    return 0;
}

/* Fresh parameters and optimizer state, so that every configuration trains the same. */
static void sctx_reset(sctx *c, const bench_config *cfg)
{
    const size_t P = model_param_count(&c->mc);
    model_init_params(&c->mc, MODEL_INIT_TRAIN, cfg->seed, c->params);
    memset(c->m, 0, P * sizeof *c->m);
    memset(c->v, 0, P * sizeof *c->v);
}

/* One configuration on the active ranks (comm_set_active), each of `threads` threads:
 * the row's times, FLOPs and bytes (every active rank gets the same values). */
static void time_config(const bench_config *cfg, sctx *c, int n, int threads,
                        scaling_record *r)
{
    const int k = comm_active_ranks(), me = comm_rank();
    const model_exec ex = {cfg->impls[0], threads};
    const model_ranks ranks = {me, k, timed_sum};
    static const model_adamw opt = {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                                    .weight_decay = 0.0};
    omp_set_num_threads(threads); /* the model's own loops too, not the process default */
    sctx_reset(c, cfg);
    const int cap = cfg->max_reps > MIN_REPS ? cfg->max_reps : MIN_REPS;
    double *t = malloc(4 * (size_t)cap * sizeof *t);
    if (!t) comm_abort(1);
    double *tc_max = t + cap, *tc_min = t + 2 * cap, *ts = t + 3 * cap;
    int reps = 0;
    double timed = 0.0;
    for (int step = 1; step <= cap + 1; step++) {
        double loss;
        long long bytes = 0;
        model_stats st = {0};
        comm_barrier();
        g_sum_seconds = 0.0;
        const double t0 = now_seconds();
        ca_status s = model_train_step_f32(MODEL_CUBIC, &c->mc, &ex, &opt, step, c->params, c->m,
                                           c->v, c->grads, cfg->batch, n, c->tokens,
                                           c->targets, &ranks, &loss, &bytes, &st);
        const double el = now_seconds() - t0;
        if (s != CA_OK) {
            fprintf(stderr, "bench (rank %d): scaling step: %s\n", me, model_error(s));
            comm_abort(1); /* the others would wait for this rank's share */
        }
        const double comp = el - g_sum_seconds;
        const double el_max = comm_max(el), comp_max = comm_max(comp),
                     comp_min = -comm_max(-comp), sum_max = comm_max(g_sum_seconds);
        if (step == 1) { /* untimed: the step's FLOPs (all ranks' shares) and bytes */
            double f = st.attn_flops + st.matmul_flops;
            comm_sum_in_rank_order(NULL, 0, &f, 1);
            r->flops = f;
            r->comm_bytes = (double)bytes;
            continue;
        }
        t[reps] = el_max;
        tc_max[reps] = comp_max;
        tc_min[reps] = comp_min;
        ts[reps] = sum_max;
        timed += el_max;
        reps++;
        /* the same decision on every rank: it reads only the ranks' maxima */
        if (reps >= cap || (reps >= MIN_REPS && timed >= cfg->rep_time)) break;
    }
    double lo = t[0], hi = t[0];
    for (int i = 1; i < reps; i++) {
        lo = t[i] < lo ? t[i] : lo;
        hi = t[i] > hi ? t[i] : hi;
    }
    r->reps = reps;
    r->t_min = lo;
    r->t_max = hi;
    r->t_med = bench_median(t, reps);
    r->compute_max = bench_median(tc_max, reps);
    r->compute_min = bench_median(tc_min, reps);
    r->sum_s = bench_median(ts, reps);
    r->status = "ok";
    free(t);
}

/* A row's configuration and machine columns. */
static scaling_record row_of(const char *kind, const bench_config *cfg, const sctx *c, int n,
                             int ranks, int threads, const machine_info *m, double peak)
{
    scaling_record r = {
        .kind = kind, .model = model_kind_name(MODEL_CUBIC), .impl = cfg->impls[0]->name,
        .ranks = ranks, .threads = threads, .layers = c->mc.layers, .d_model = c->mc.d_model,
        .heads = c->mc.heads, .vocab = c->mc.vocab, .batch = cfg->batch, .n = n,
        .params = (double)model_param_count(&c->mc), .t_min = NAN, .t_med = NAN, .t_max = NAN,
        .compute_max = NAN, .compute_min = NAN, .sum_s = NAN, .flops = NAN,
        .comm_bytes = NAN, .imbalance = NAN, .peak = csv_real_if(peak > 0, peak),
        .status = "ok", .commit = m->commit, .date = m->date, .cpu = m->cpu,
        .cores = m->cores, .kernel_isa = m->kernel_isa,
        .other_cores = csv_real_if(m->other_cores >= 0, m->other_cores)};
    return r;
}

/* The partition of PROJECT_BATCH sequences of n over K ranks: the largest part's
 * predicted cost (model_partition's rule, docs/DESIGN.md §8.2) over the mean's. */
static double partition_imbalance(const model_config *mc, int n, int K)
{
    model_part *parts = malloc(PROJECT_BATCH * sizeof *parts);
    if (!parts) return NAN;
    double total = 0.0, worst = 0.0;
    for (int r = 0; r < K; r++) {
        const int np = model_partition(MODEL_CUBIC, mc, PROJECT_BATCH, n, K, r, parts);
        double cost = 0.0;
        for (int i = 0; i < np; i++)
            for (int t = parts[i].first; t <= parts[i].last; t++)
                cost += model_prefix_cost(MODEL_CUBIC, mc, t);
        total += cost;
        worst = cost > worst ? cost : worst;
    }
    free(parts);
    return total > 0 ? worst / (total / K) : NAN;
}

int scaling_run(const bench_config *cfg, machine_info *m, csv_out *out)
{
    const int K = comm_ranks(), me = comm_rank(), T = cfg->threads[0];
    /* the configurations: k ranks x T, then 1 rank x K T when K > 1 */
    int ks[40], ts[40], nc = 0;
    for (int k = 1; k < K && nc < 38; k *= 2) { ks[nc] = k; ts[nc++] = T; }
    ks[nc] = K; ts[nc++] = T;
    if (K > 1) { ks[nc] = 1; ts[nc++] = K * T; }
    /* The FMA peak of one thread, on rank 0 alone while the others wait. */
    double peak = 0.0;
    if (me == 0) {
        fprintf(stderr, "bench: scaling over %d rank(s) x %d thread(s); FMA peak of one "
                        "thread ... ", K, T);
        peak = roof_peak_gflops(1, cfg->roof_time);
        fprintf(stderr, "%.1f GFLOP/s\n", peak);
    }
    comm_wait_all();
    machine_cpu_begin(m);
    int rc = 0;
    for (int li = 0; li < cfg->n_layers && rc == 0; li++)
        for (int ni = 0; ni < cfg->n_ns && rc == 0; ni++) {
            const int L = cfg->layers[li], n = cfg->ns[ni];
            sctx c;
            if (sctx_init(&c, cfg, L, n) != 0) comm_abort(1);
            for (int i = 0; i < nc && rc == 0; i++) {
                scaling_record r = row_of("measured", cfg, &c, n, ks[i], ts[i], m, peak);
                /* every rank's verdict, so that all make the same calls */
                const int runs = comm_max(ks[i] * ts[i] <= m->cores ? 0.0 : 1.0) == 0.0;
                comm_set_active(ks[i]);
                if (runs && me < ks[i]) time_config(cfg, &c, n, ts[i], &r);
                comm_wait_all();
                comm_set_active(K);
                int wrc = 0;
                if (me == 0) {
                    if (!runs) r.status = "skipped: more threads than the machine's cores";
                    machine_cpu_end(m);
                    r.other_cores = csv_real_if(m->other_cores >= 0, m->other_cores);
                    fprintf(stderr, "bench: scaling L=%d N=%d B=%d: %d rank(s) x %d thread(s): "
                                    "%s", L, n, cfg->batch, ks[i], ts[i], r.status);
                    if (r.reps > 0)
                        fprintf(stderr, " %.4g s a step (shares %.4g..%.4g s, sum %.3g s, %.3g "
                                        "MB sent)", r.t_med, r.compute_min, r.compute_max,
                                r.sum_s, r.comm_bytes * 1e-6);
                    fputc('\n', stderr);
                    wrc = csv_out_record(out, &r) != 0;
                }
                /* rank 0's write failed: every rank stops here, at the same call */
                rc = comm_max(wrc) != 0.0 ? -1 : 0;
            }
            int wrc = 0;
            for (int k = 1; me == 0 && rc == 0 && !wrc && k <= PROJECT_MAX_RANKS; k *= 2) {
                scaling_record r = row_of("partition", cfg, &c, n, k, 0, m, peak);
                r.batch = PROJECT_BATCH;
                r.imbalance = partition_imbalance(&c.mc, n, k);
                r.status = "computed: model_partition of the batch, no time";
                wrc = csv_out_record(out, &r) != 0;
            }
            if (comm_max(wrc) != 0.0) rc = -1;
            sctx_free(&c);
        }
    roof_release();
    return rc;
}
