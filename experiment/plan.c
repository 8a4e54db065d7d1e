/* plan.c: what `make experiment` trains (docs/DESIGN.md §9.2 gives the sizes and why).
 *
 * Every setting is trained as a pair per seed: the cubic model (MODEL_CUBIC, packed) for
 * S steps, and the causal model of the same config (same parameter count, same init
 * seed, same batches, same AdamW and learning-rate function) for S_c >= S_f steps, S_f
 * as many as the cubic run's training FLOPs buy. The causal run's point at step S is the
 * equal-steps comparison, its point at S_f the equal-FLOPs one, its point nearest the
 * cubic run's seconds the equal-time one (plan_lr). */
#include "experiment.h"
#include "host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default plan (docs/DESIGN.md §9.2): width 64, 4 heads (head dim 16), batch 64,
 * one thread per run. S per setting from `--estimate` and from pilot runs that showed
 * when a model leaves the floor (§9.2 gives the figures); causal_x from where the
 * estimate saw the causal run pass the cubic run's seconds, with a margin. */
static const exp_common default_common = {
    .d_model = 64, .heads = 4, .batch = 64, .evals = 8, .max_tests = 512,
    .threads = 1, .lr = 3e-3, .warmup_frac = 0.05, .weight_decay = 0.01, .impl = "blocked",
};
static const exp_setting default_settings[] = {
    {TASK_COUNT3, 12, 4, 3, 2400, 5, 1.2, "main"},
    {TASK_COUNT3, 16, 6, 3, 2400, 5, 1.3, "main"},
    {TASK_COUNT3_FIXED, 16, 16, 2, 1000, 5, 1.2, "main"},
    {TASK_COUNT3_FIXED, 12, 5, 2, 1000, 3, 1.15, "control"},
    {TASK_INDUCTION, 24, 8, 2, 300, 3, 1.4, "control"},
    {TASK_TEXT, 32, 0, 2, 200, 3, 1.15, "control"},
};

/* The large plan (make experiment SCALE=large): count3 nearer the published scale, for
 * a machine or cluster that can afford it; --plan and --estimate state its cost. */
static const exp_common large_common = {
    .d_model = 128, .heads = 4, .batch = 64, .evals = 8, .max_tests = 512,
    .threads = 1, .lr = 1e-3, .warmup_frac = 0.05, .weight_decay = 0.01, .impl = "blocked",
};
static const exp_setting large_settings[] = {
    {TASK_COUNT3, 32, 8, 4, 20000, 5, 1.5, "main"},
    {TASK_COUNT3, 64, 16, 6, 20000, 5, 1.5, "main"},
};

/* The quick plan (make test, under the sanitizers too): every task and both kinds, one
 * seed, a few steps of a tiny model. It checks that the pipeline runs, not a result. */
static const exp_common quick_common = {
    .d_model = 16, .heads = 2, .batch = 4, .evals = 2, .max_tests = 6,
    .threads = 1, .lr = 3e-3, .warmup_frac = 0.05, .weight_decay = 0.01, .impl = "blocked",
};
static const exp_setting quick_settings[] = {
    {TASK_COUNT3, 6, 3, 2, 4, 1, 1.0, "main"},
    {TASK_COUNT3_FIXED, 6, 3, 2, 4, 1, 1.5, "main"},
    {TASK_INDUCTION, 6, 4, 2, 4, 1, 1.0, "control"},
    {TASK_TEXT, 8, 0, 2, 4, 1, 1.0, "control"},
};

static const struct scale {
    const char *name;
    const exp_common *common;
    const exp_setting *settings;
    int count;
} scales[] = {
    {"default", &default_common, default_settings, sizeof default_settings / sizeof *default_settings},
    {"large", &large_common, large_settings, sizeof large_settings / sizeof *large_settings},
    {"quick", &quick_common, quick_settings, sizeof quick_settings / sizeof *quick_settings},
};

model_config plan_config(const exp_plan *p, int setting)
{
    const exp_setting *s = &p->settings[setting];
    return (model_config){.vocab = p->tasks[setting].vocab, .max_n = s->n,
                          .d_model = p->c.d_model, .heads = p->c.heads, .layers = s->layers};
}

void plan_setting_name(const exp_plan *p, int setting, char *buf, size_t cap)
{
    const exp_setting *s = &p->settings[setting];
    if (s->task == TASK_COUNT3) snprintf(buf, cap, "NB%d_S%d_L%d", s->n, s->m, s->layers);
    else if (s->task == TASK_COUNT3_FIXED) snprintf(buf, cap, "M%d_N%d_L%d", s->m, s->n, s->layers);
    else if (s->task == TASK_INDUCTION) snprintf(buf, cap, "K%d_N%d_L%d", s->m, s->n, s->layers);
    else snprintf(buf, cap, "N%d_L%d", s->n, s->layers);
}

double plan_lr(const exp_plan *p, int setting, int64_t step)
{
    const double warm = fmax(1.0, ceil(p->c.warmup_frac * p->settings[setting].steps));
    return p->c.lr * fmin(1.0, (double)step / warm);
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int plan_eval_steps(const exp_plan *p, const exp_run *r, int64_t *out, int cap)
{
    const int64_t S = p->settings[r->setting].steps, E = p->c.evals, X = 12;
    int64_t all[EXP_MAX_EVALS];
    int k = 0;
    for (int64_t i = 0; i <= E && k < EXP_MAX_EVALS; i++) all[k++] = S * i / E;
    if (r->steps > S) {
        if (k < EXP_MAX_EVALS) all[k++] = r->steps_flops;
        for (int64_t i = 1; i <= X && k < EXP_MAX_EVALS; i++) all[k++] = S + (r->steps - S) * i / X;
    }
    qsort(all, (size_t)k, sizeof *all, cmp_i64);
    int u = 0;
    for (int i = 0; i < k && u < cap; i++)
        if (u == 0 || all[i] > out[u - 1]) out[u++] = all[i];
    return u;
}

/* Training FLOPs of one step of kind on batch 0 (model_stats: attention + products).
 * One thread, whatever the runs use: the count does not depend on it, and the process
 * that builds the plan forks the runs (pool.c), which an OpenMP team started before the
 * fork would leave hanging in the children. */
static const char *step_flops(const exp_plan *p, int setting, model_kind kind, double *flops)
{
    const model_config cfg = plan_config(p, setting);
    const exp_task *t = &p->tasks[setting];
    const model_exec ex = {ca_impl_find(p->c.impl), 1};
    if (!ex.impl) return "unknown attention implementation";
    const size_t P = model_param_count(&cfg), BN = (size_t)p->c.batch * t->n;
    float *params = malloc(P * sizeof *params), *grads = malloc(P * sizeof *grads);
    int *tok = malloc(BN * sizeof *tok), *tgt = malloc(BN * sizeof *tgt);
    const char *why = NULL;
    if (!params || !grads || !tok || !tgt) why = "out of memory";
    if (!why) {
        model_init_params(&cfg, MODEL_INIT_TRAIN, 1, params);
        task_batch(t, 1, 1, p->c.batch, tok, tgt);
        model_stats st = {0};
        double loss;
        ca_status s = model_forward_backward_f32(kind, &cfg, &ex, params, p->c.batch, t->n,
                                                 tok, tgt, NULL, grads, &loss, &st);
        if (s != CA_OK) why = model_error(s);
        *flops = st.attn_flops + st.matmul_flops;
    }
    free(params); free(grads); free(tok); free(tgt);
    return why;
}

const char *plan_build(exp_plan *p, const char *scale, int threads)
{
    memset(p, 0, sizeof *p);
    const struct scale *sc = NULL;
    for (size_t i = 0; i < sizeof scales / sizeof *scales; i++)
        if (!strcmp(scale, scales[i].name)) sc = &scales[i];
    if (!sc) return "unknown scale (default, large or quick)";
    p->scale = sc->name;
    host_cpu(p->cpu, sizeof p->cpu);
    host_commit(p->commit, sizeof p->commit);
    p->c = *sc->common;
    if (threads > 0) p->c.threads = threads;
    p->nsettings = sc->count;
    int maxruns = 0;
    for (int i = 0; i < sc->count; i++) maxruns += 2 * sc->settings[i].seeds;
    p->settings = malloc((size_t)p->nsettings * sizeof *p->settings);
    p->tasks = calloc((size_t)p->nsettings, sizeof *p->tasks);
    p->runs = malloc((size_t)maxruns * sizeof *p->runs);
    if (!p->settings || !p->tasks || !p->runs) return "out of memory";
    memcpy(p->settings, sc->settings, (size_t)p->nsettings * sizeof *p->settings);
    for (int i = 0; i < p->nsettings; i++) {
        const exp_setting *s = &p->settings[i];
        const char *why = task_init(&p->tasks[i], s->task, s->n, s->m, p->c.max_tests);
        if (why) return why;
        double fc, fq;
        if ((why = step_flops(p, i, MODEL_CUBIC, &fq)) || (why = step_flops(p, i, MODEL_CAUSAL, &fc)))
            return why;
        char name[32];
        plan_setting_name(p, i, name, sizeof name);
        /* S_f: as many causal steps as the cubic run's FLOPs buy (at least S) */
        int64_t sf = (int64_t)llround(s->steps * fq / fc);
        if (sf < s->steps) sf = s->steps;
        for (int seed = 1; seed <= s->seeds; seed++)
            for (int k = 0; k < 2; k++) {
                exp_run *r = &p->runs[p->nruns++];
                r->setting = i;
                r->kind = k == 0 ? MODEL_CUBIC : MODEL_CAUSAL;
                r->seed = seed;
                r->flops_per_step = k == 0 ? fq : fc;
                r->steps_flops = sf;
                r->steps = k == 0 ? s->steps : (int64_t)ceil(s->causal_x * (double)sf);
                snprintf(r->id, sizeof r->id, "%s_%s_%s_s%d", exp_task_name(s->task), name,
                         model_kind_name(r->kind), seed);
            }
    }
    return NULL;
}

void plan_describe(const exp_plan *p, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "scale=%s D=%d H=%d B=%d evals=%d tests=%d "
                                "threads=%d lr=%g warmup=%g wd=%g impl=%s\n", p->scale,
                                p->c.d_model, p->c.heads, p->c.batch, p->c.evals,
                                p->c.max_tests, p->c.threads, p->c.lr, p->c.warmup_frac,
                                p->c.weight_decay, p->c.impl);
    for (int i = 0; i < p->nruns && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s %lld\n", p->runs[i].id,
                              (long long)p->runs[i].steps);
}

void plan_free(exp_plan *p)
{
    for (int i = 0; i < p->nsettings && p->tasks; i++) task_free(&p->tasks[i]);
    free(p->tasks);
    free(p->settings);
    free(p->runs);
    memset(p, 0, sizeof *p);
}
