/* model_sweep.c: the model-level cells of `bench --model` (docs/DESIGN.md §8.1).
 *
 * For each depth L of --layers and each N, the float32 model (model.h) of d_model D,
 * H heads, vocabulary V, seeded MODEL_INIT_TRAIN weights and tokens; training on
 * --batch sequences (default 1), inference on one:
 *   train     forward + backward + AdamW update of one batch      causal, cubic, cubic_loop
 *   prefill   the next-token logits after a prompt of N tokens    causal, cubic
 *   step      one more token at context N (rewound and repeated)  causal, cubic
 *   generate  N tokens, greedy, from a one-token prompt          causal, cubic
 * cubic_loop's inference is cubic's (model_infer), so only its training is timed. Each
 * train cell adds one row per layer ("layer1".."layerL"): that block's forward + backward
 * wall time, the median over the repetitions, to show which layers carry the N^3 term.
 * Prediction and skipping as for the operator cells (plan.c): a cell whose predicted
 * call exceeds the budget, whose predicted activations exceed --mem, or that is not
 * started within --total-budget is written as `skipped: <reason>`, never dropped. */
#include "bench.h"
#include "cubattn_harness.h"
#include "model.h"
#include "results.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef enum mtask { MT_TRAIN, MT_PREFILL, MT_STEP, MT_GENERATE, MT_COUNT } mtask;
static const char *const task_names[MT_COUNT] = {"train", "prefill", "step", "generate"};

/* Growth of a cell's time in N, for the prediction from the chain's previous N: the
 * order of its largest term (docs/DESIGN.md §8). */
static double task_exponent(mtask t, model_kind k)
{
    const int cubic = k != MODEL_CAUSAL;
    switch (t) {
    case MT_TRAIN: return cubic ? 3.0 : 2.0;
    case MT_PREFILL: return 2.0;
    case MT_STEP: return cubic ? 2.0 : 1.0;
    default: return cubic ? 3.0 : 2.0;
    }
}

static int task_runs(mtask t, model_kind k) { return t == MT_TRAIN || k != MODEL_CUBIC_LOOP; }

/* One timed cell's outcome. */
typedef struct mrow {
    model_kind kind;
    mtask task;
    char part[24];   /* "all" or "layer<L>" for any int L */
    int L, n, reps;
    double t_min, t_median, t_max; /* < 0: not timed */
    model_stats fl;                /* FLOPs and activations of one call */
    double predicted;              /* s, < 0 if none */
    char status[160];
} mrow;

typedef struct mctx {
    const bench_config *cfg;
    model_config mc;
    model_exec ex;
    float *params, *grads, *m, *v;
    int *tokens, *targets;
    float *logits;
    double *layer_s;               /* [reps][L] */
} mctx;

static int argmax(const float *x, int V)
{
    int best = 0;
    for (int j = 1; j < V; j++)
        if (x[j] > x[best]) best = j;
    return best;
}

/* One call of the cell; its FLOPs into *fl; layer times into layer_s (train). The step's
 * session is prepared once by the caller (it is rewound, not rebuilt, between calls). */
static ca_status call(mctx *c, model_kind kind, mtask task, int n, model_session_f32 *step,
                      int64_t iter, model_stats *fl, double *layer_s)
{
    const model_config *mc = &c->mc;
    ca_status st;
    memset(fl, 0, sizeof *fl);
    if (task == MT_TRAIN) {
        static const model_adamw opt = {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                                        .weight_decay = 0.0};
        double loss;
        fl->layer_seconds = layer_s;
        st = model_forward_backward_f32(kind, mc, &c->ex, c->params, c->cfg->batch, n, c->tokens,
                                        c->targets, NULL, c->grads, &loss, fl);
        if (st == CA_OK)
            model_adamw_update_f32(&opt, iter, model_param_count(mc), c->params, c->grads,
                                   c->m, c->v);
        fl->layer_seconds = NULL;
        return st;
    }
    if (task == MT_STEP) {
        model_stats before = model_session_stats_f32(step);
        if ((st = model_session_rewind_f32(step, n - 1)) == CA_OK &&
            (st = model_session_append_f32(step, c->tokens[n - 1], c->logits)) == CA_OK) {
            model_stats after = model_session_stats_f32(step);
            fl->attn_flops = after.attn_flops - before.attn_flops;
            fl->matmul_flops = after.matmul_flops - before.matmul_flops;
        }
        return st;
    }
    model_session_f32 *s = model_session_open_f32(kind, mc, &c->ex, c->params, n, &st);
    if (!s) return st;
    if (task == MT_PREFILL) {
        st = model_session_prefill_f32(s, n, c->tokens, c->logits);
    } else {
        st = model_session_prefill_f32(s, 1, c->tokens, c->logits);
        for (int t = 1; t < n && st == CA_OK; t++)
            st = model_session_append_f32(s, argmax(c->logits, mc->vocab), c->logits);
    }
    if (st == CA_OK) *fl = model_session_stats_f32(s);
    model_session_close_f32(s);
    return st;
}

static void set_status(mrow *r, ca_status st, const char *what)
{
    snprintf(r->status, sizeof r->status, "error: %s%s%s", model_error(st),
             what[0] ? ": " : "", what);
}

/* Times one cell into r (and the per-layer medians into layer_med[L] for train). */
static void run_cell(mctx *c, model_kind kind, mtask task, int n, mrow *r, double *layer_med)
{
    const bench_config *cfg = c->cfg;
    const int L = c->mc.layers;
    model_session_f32 *step = NULL;
    ca_status st = CA_OK;
    if (task == MT_STEP) {
        step = model_session_open_f32(kind, &c->mc, &c->ex, c->params, n, &st);
        if (step) st = model_session_prefill_f32(step, n - 1 > 0 ? n - 1 : 1, c->tokens,
                                                c->logits);
        if (st == CA_OK && n == 1) st = model_session_rewind_f32(step, 0);
        if (st != CA_OK) {
            set_status(r, st, step ? "prefill (and rewind) before the step"
                                   : "opening the session");
            model_session_close_f32(step);
            return;
        }
    }
    double *times = malloc((size_t)cfg->max_reps * sizeof *times);
    if (!times) {
        model_error_clear(); /* this failure is the bench's own, not a model call's */
        set_status(r, CA_ERR_NOMEM, "");
        model_session_close_f32(step);
        return;
    }
    /* warm-up (untimed): also the cell's FLOPs and activation bytes */
    st = call(c, kind, task, n, step, 1, &r->fl, c->layer_s);
    int reps = 0;
    double timed = 0;
    while (st == CA_OK && reps < cfg->max_reps &&
           (reps < MIN_REPS || timed < cfg->rep_time)) {
        model_stats fl;
        double t0 = omp_get_wtime();
        st = call(c, kind, task, n, step, reps + 2, &fl, c->layer_s + (size_t)reps * L);
        times[reps] = omp_get_wtime() - t0;
        timed += times[reps++];
        /* a cell that could not afford MIN_REPS stops at the budget */
        if (timed > cfg->budget * MIN_REPS) break;
    }
    if (st != CA_OK) {
        set_status(r, st, "");
    } else {
        r->reps = reps;
        double lo = times[0], hi = times[0];
        for (int i = 1; i < reps; i++) {
            if (times[i] < lo) lo = times[i];
            if (times[i] > hi) hi = times[i];
        }
        r->t_min = lo;
        r->t_max = hi;
        r->t_median = bench_median(times, reps);
        snprintf(r->status, sizeof r->status, "ok");
        if (task == MT_TRAIN)
            for (int l = 0; l < L; l++) {
                for (int i = 0; i < reps; i++) times[i] = c->layer_s[(size_t)i * L + l];
                layer_med[l] = bench_median(times, reps);
            }
    }
    free(times);
    model_session_close_f32(step);
}

/* The previous timed N of a chain (one per depth, kind and task). */
typedef struct mchain {
    int n;
    double t, act;
} mchain;

static int write_row(csv_out *out, const mctx *c, const mrow *r, const machine_info *m,
                     double peak, double sgemm)
{
    const int timed = r->t_median > 0;
    const double flops = r->fl.attn_flops + r->fl.matmul_flops;
    const int whole = strcmp(r->part, "all") == 0;
    const double gf = timed && whole && flops > 0 ? flops / r->t_median * 1e-9 : 0;
    const model_record rec = {
        /* the cell */
        .model = model_kind_name(r->kind), .task = task_names[r->task], .part = r->part,
        .impl = c->ex.impl->name, .layers = r->L, .d_model = c->mc.d_model,
        .heads = c->mc.heads, .vocab = c->mc.vocab,
        .batch = r->task == MT_TRAIN ? c->cfg->batch : 1, .n = r->n, .threads = c->ex.threads,
        /* its times, work and rate */
        .reps = timed ? r->reps : 0, .t_min = csv_real_if(r->t_min > 0, r->t_min),
        .t_med = csv_real_if(timed, r->t_median), .t_max = csv_real_if(r->t_max > 0, r->t_max),
        .attn_flops = csv_real_if(whole && flops > 0, r->fl.attn_flops),
        .matmul_flops = csv_real_if(whole && flops > 0, r->fl.matmul_flops),
        .gflops = csv_real_if(gf > 0, gf), .frac_peak = csv_real_if(gf > 0 && peak > 0, gf / peak),
        .frac_sgemm = csv_real_if(gf > 0 && sgemm > 0, gf / sgemm),
        .act_bytes = csv_real_if(whole && r->fl.act_bytes > 0, (double)r->fl.act_bytes),
        .predicted = csv_real_if(r->predicted >= 0, r->predicted), .status = r->status,
        /* the ceilings, the code and the machine */
        .peak = csv_real_if(peak > 0, peak), .sgemm = csv_real_if(sgemm > 0, sgemm),
        .commit = m->commit, .date = m->date, .cpu = m->cpu, .cores = m->cores,
        .kernel_isa = m->kernel_isa, .other_cores = csv_real_if(m->other_cores >= 0, m->other_cores),
    };
    return csv_out_record(out, &rec);
}

static void ctx_free(mctx *c)
{
    free(c->params); free(c->grads); free(c->m); free(c->v);
    free(c->tokens); free(c->targets); free(c->logits); free(c->layer_s);
}

/* Buffers of a model of depth L at the largest N. */
static int ctx_init(mctx *c, const bench_config *cfg, int L, int threads, int nmax)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->mc = (model_config){.vocab = cfg->vocab, .max_n = nmax, .d_model = cfg->d_model,
                           .heads = cfg->heads, .layers = L};
    c->ex = (model_exec){.impl = cfg->impls[0], .threads = threads};
    const char *why = model_config_error(&c->mc);
    if (why) {
        fprintf(stderr, "bench: model L=%d d_model=%d heads=%d: %s\n", L, cfg->d_model,
                cfg->heads, why);
        return -1;
    }
    const size_t P = model_param_count(&c->mc);
    c->params = malloc(P * sizeof *c->params);
    c->grads = malloc(P * sizeof *c->grads);
    c->m = calloc(P, sizeof *c->m);
    c->v = calloc(P, sizeof *c->v);
    const size_t seq = (size_t)cfg->batch * nmax; /* training reads batch x n of them */
    c->tokens = malloc(seq * sizeof *c->tokens);
    c->targets = malloc(seq * sizeof *c->targets);
    c->logits = malloc((size_t)cfg->vocab * sizeof *c->logits);
    c->layer_s = malloc((size_t)(cfg->max_reps + 1) * L * sizeof *c->layer_s);
    if (!c->params || !c->grads || !c->m || !c->v || !c->tokens || !c->targets ||
        !c->logits || !c->layer_s) {
        fprintf(stderr, "bench: out of memory for the model buffers\n");
        ctx_free(c);
        return -1;
    }
    model_init_params(&c->mc, MODEL_INIT_TRAIN, cfg->seed, c->params);
    for (size_t i = 0; i < seq; i++) {
        c->tokens[i] = (int)(ca_rand64(cfg->seed, (uint64_t)i) % (uint64_t)cfg->vocab);
        c->targets[i] = (int)(ca_rand64(cfg->seed + 1, (uint64_t)i) % (uint64_t)cfg->vocab);
    }
    return 0;
}

int model_sweep_count(const bench_config *cfg)
{
    int per_n = 0;
    for (int t = 0; t < MT_COUNT; t++)
        for (int k = 0; k < MODEL_KIND_COUNT; k++) per_n += task_runs(t, k);
    return cfg->n_layers * cfg->n_ns * per_n;
}

int model_sweep_run(const bench_config *cfg, machine_info *m, csv_out *out)
{
    const int threads = cfg->threads[0];
    fprintf(stderr, "bench: ceilings, %d thread(s): sgemm %d^3 ... ", threads, cfg->sgemm_n);
    const double sgemm = machine_sgemm_gflops(cfg->sgemm_n, threads, 1.0);
    const double peak = roof_peak_gflops(threads, cfg->roof_time);
    fprintf(stderr, "%.1f GFLOP/s; FMA peak %.1f GFLOP/s\n", sgemm, peak);
    int nmax = 1;
    for (int i = 0; i < cfg->n_ns; i++)
        if (cfg->ns[i] > nmax) nmax = cfg->ns[i];
    const int total = model_sweep_count(cfg);
    int done = 0, timed_cells = 0, rc = 0;
    const double start = omp_get_wtime();
    machine_cpu_begin(m);
    for (int li = 0; li < cfg->n_layers && rc == 0; li++) {
        const int L = cfg->layers[li];
        mctx c;
        if (ctx_init(&c, cfg, L, threads, nmax) != 0) return -1;
        mchain chain[MT_COUNT][MODEL_KIND_COUNT];
        memset(chain, 0, sizeof chain);
        double *layer_med = malloc((size_t)L * sizeof *layer_med);
        if (!layer_med) {
            ctx_free(&c);
            return -1;
        }
        for (int ni = 0; ni < cfg->n_ns && rc == 0; ni++) {
            const int n = cfg->ns[ni];
            for (int t = 0; t < MT_COUNT && rc == 0; t++)
                for (int k = 0; k < MODEL_KIND_COUNT && rc == 0; k++) {
                    if (!task_runs(t, k)) continue;
                    mchain *ch = &chain[t][k];
                    mrow r = {.kind = k, .task = t, .L = L, .n = n, .t_min = -1,
                              .t_median = -1, .t_max = -1, .predicted = -1};
                    snprintf(r.part, sizeof r.part, "all");
                    double act = -1;
                    if (ch->n > 0) {
                        const double g = (double)n / ch->n;
                        r.predicted = ch->t * pow(g, task_exponent(t, k));
                        /* packed cubic training holds T = N(N+1)/2 rows (at L = 1 it is
                         * the causal model); causal and the loop (one prefix at a time)
                         * hold N */
                        act = ch->act * (k == MODEL_CUBIC && t == MT_TRAIN && L > 1 ? g * g : g);
                    }
                    const double elapsed = omp_get_wtime() - start;
                    if (ch->n < 0)
                        snprintf(r.status, sizeof r.status, "skipped: a smaller N was");
                    else if (cfg->total_budget > 0 && elapsed > cfg->total_budget)
                        snprintf(r.status, sizeof r.status,
                                 "skipped: not started within the total budget (%.0f s)",
                                 cfg->total_budget);
                    else if (r.predicted > 0 && 2 * r.predicted > cfg->budget)
                        snprintf(r.status, sizeof r.status,
                                 "skipped: predicted %.3g s a call, over the budget (%.3g s "
                                 "for warm-up + one)", r.predicted, cfg->budget);
                    else if (act > cfg->mem_budget)
                        snprintf(r.status, sizeof r.status,
                                 "skipped: predicted activations %.3g GB over --mem", act * 1e-9);
                    else
                        run_cell(&c, k, t, n, &r, layer_med);
                    if (strncmp(r.status, "skipped", 7) == 0) ch->n = -1;
                    else if (r.t_median > 0) {
                        *ch = (mchain){n, r.t_median, (double)r.fl.act_bytes};
                        timed_cells++;
                    }
                    fprintf(stderr, "bench: model [%d/%d] L=%d %s %s N=%d: %s", ++done, total,
                            L, model_kind_name(k), task_names[t], n, r.status);
                    if (r.t_median > 0) fprintf(stderr, " %.4g s", r.t_median);
                    fprintf(stderr, " (%.0f s elapsed)\n", omp_get_wtime() - start);
                    machine_cpu_end(m);
                    if (write_row(out, &c, &r, m, peak, sgemm) != 0) rc = -1;
                    if (t == MT_TRAIN && r.t_median > 0)
                        for (int l = 0; l < L && rc == 0; l++) {
                            mrow lr = r;
                            snprintf(lr.part, sizeof lr.part, "layer%d", l + 1);
                            lr.t_median = layer_med[l];
                            lr.t_min = lr.t_max = -1;
                            lr.predicted = -1;
                            if (write_row(out, &c, &lr, m, peak, sgemm) != 0) rc = -1;
                        }
                }
        }
        free(layer_med);
        ctx_free(&c);
    }
    roof_release();
    if (rc == 0 && timed_cells == 0) {
        fprintf(stderr, "bench: no cell was timed\n");
        return -1;
    }
    return rc;
}
