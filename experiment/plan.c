/* plan.c: what `make experiment` trains (docs/DESIGN.md §9 gives the sizes and why).
 *
 * Every setting is trained as a pair per seed: the cubic model (MODEL_CUBIC, packed) for
 * S steps, and the causal model of the same config (same parameter count, same init
 * seed, same batches, same AdamW and learning-rate function) for S_f steps, as many as
 * the cubic run's training FLOPs buy. The causal run's point at step S is the
 * equal-steps comparison, its last point the equal-FLOPs one (plan_lr). */
#include "experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default plan. Model: D = 32, H = 2 (head dim 16), B = 16 sequences per step.
 * Count3: M = 4, 32, 64 (below, equal to and above D) x N = 12, 24; Induction: K = 8,
 * N = 24; Text: N = 32; each at L = 2 and 3. S per setting from the timing in §9. */
static const exp_common default_common = {
    .d_model = 32, .heads = 2, .batch = 16, .seeds = 3, .evals = 8, .max_tests = 256,
    .threads = 1, .lr = 3e-3, .warmup_frac = 0.05, .weight_decay = 0.01, .impl = "blocked",
};
static const exp_setting default_settings[] = {
    {TASK_COUNT3, 12, 4, 2, 900},  {TASK_COUNT3, 12, 32, 2, 900},
    {TASK_COUNT3, 12, 64, 2, 900}, {TASK_COUNT3, 24, 4, 2, 600},
    {TASK_COUNT3, 24, 32, 2, 600}, {TASK_COUNT3, 24, 64, 2, 600},
    {TASK_COUNT3, 12, 4, 3, 600},  {TASK_COUNT3, 12, 32, 3, 600},
    {TASK_COUNT3, 12, 64, 3, 600}, {TASK_COUNT3, 24, 4, 3, 300},
    {TASK_COUNT3, 24, 32, 3, 300}, {TASK_COUNT3, 24, 64, 3, 300},
    {TASK_INDUCTION, 24, 8, 2, 600}, {TASK_INDUCTION, 24, 8, 3, 300},
    {TASK_TEXT, 32, 0, 2, 450},    {TASK_TEXT, 32, 0, 3, 240},
};

/* The quick plan (make test, under the sanitizers too): every task and both kinds, one
 * seed, a few steps of a tiny model. It checks that the pipeline runs, not a result. */
static const exp_common quick_common = {
    .d_model = 16, .heads = 2, .batch = 4, .seeds = 1, .evals = 2, .max_tests = 6,
    .threads = 1, .lr = 3e-3, .warmup_frac = 0.05, .weight_decay = 0.01, .impl = "blocked",
};
static const exp_setting quick_settings[] = {
    {TASK_COUNT3, 6, 3, 2, 4},
    {TASK_INDUCTION, 6, 4, 2, 4},
    {TASK_TEXT, 8, 0, 2, 4},
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
    if (s->task == TASK_COUNT3) snprintf(buf, cap, "M%d_N%d_L%d", s->m, s->n, s->layers);
    else if (s->task == TASK_INDUCTION) snprintf(buf, cap, "K%d_N%d_L%d", s->m, s->n, s->layers);
    else snprintf(buf, cap, "N%d_L%d", s->n, s->layers);
}

double plan_lr(const exp_plan *p, int setting, int64_t step)
{
    const double warm = fmax(1.0, ceil(p->c.warmup_frac * p->settings[setting].steps));
    return p->c.lr * fmin(1.0, (double)step / warm);
}

int plan_eval_steps(const exp_plan *p, const exp_run *r, int64_t *out, int cap)
{
    const int64_t S = p->settings[r->setting].steps, E = p->c.evals;
    int k = 0;
    for (int64_t i = 0; i <= E && k < cap; i++) {
        const int64_t s = S * i / E;
        if (k == 0 || s > out[k - 1]) out[k++] = s;
    }
    for (int64_t i = 1; r->steps > S && i <= E && k < cap; i++) {
        const int64_t s = S + (r->steps - S) * i / E;
        if (s > out[k - 1]) out[k++] = s;
    }
    return k;
}

/* Training FLOPs of one step of kind on batch 0 (model_stats: attention + products). */
static const char *step_flops(const exp_plan *p, int setting, model_kind kind, double *flops)
{
    const model_config cfg = plan_config(p, setting);
    const exp_task *t = &p->tasks[setting];
    const model_exec ex = {ca_impl_find(p->c.impl), p->c.threads};
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
        if (s != CA_OK) why = ca_status_str(s);
        *flops = st.attn_flops + st.matmul_flops;
    }
    free(params); free(grads); free(tok); free(tgt);
    return why;
}

const char *plan_build(exp_plan *p, int quick, int threads)
{
    memset(p, 0, sizeof *p);
    p->c = quick ? quick_common : default_common;
    if (threads > 0) p->c.threads = threads;
    const exp_setting *src = quick ? quick_settings : default_settings;
    p->nsettings = quick ? (int)(sizeof quick_settings / sizeof *src)
                         : (int)(sizeof default_settings / sizeof *src);
    p->settings = malloc((size_t)p->nsettings * sizeof *p->settings);
    p->tasks = calloc((size_t)p->nsettings, sizeof *p->tasks);
    p->runs = malloc((size_t)p->nsettings * p->c.seeds * 2 * sizeof *p->runs);
    if (!p->settings || !p->tasks || !p->runs) return "out of memory";
    memcpy(p->settings, src, (size_t)p->nsettings * sizeof *src);
    for (int i = 0; i < p->nsettings; i++) {
        const exp_setting *s = &p->settings[i];
        const char *why = task_init(&p->tasks[i], s->task, s->n, s->m, p->c.max_tests);
        if (why) return why;
        double fc, fq;
        if ((why = step_flops(p, i, MODEL_CUBIC, &fq)) || (why = step_flops(p, i, MODEL_CAUSAL, &fc)))
            return why;
        char name[32];
        plan_setting_name(p, i, name, sizeof name);
        for (int seed = 1; seed <= p->c.seeds; seed++)
            for (int k = 0; k < 2; k++) {
                exp_run *r = &p->runs[p->nruns++];
                r->setting = i;
                r->kind = k == 0 ? MODEL_CUBIC : MODEL_CAUSAL;
                r->seed = seed;
                r->flops_per_step = k == 0 ? fq : fc;
                r->steps = k == 0 ? s->steps : (int64_t)llround(s->steps * fq / fc);
                if (r->steps < s->steps) r->steps = s->steps;
                snprintf(r->id, sizeof r->id, "%s_%s_%s_s%d", exp_task_name(s->task), name,
                         model_kind_name(r->kind), seed);
            }
    }
    return NULL;
}

void plan_describe(const exp_plan *p, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "D=%d H=%d B=%d seeds=%d evals=%d tests=%d "
                                "threads=%d lr=%g warmup=%g wd=%g impl=%s\n",
                                p->c.d_model, p->c.heads, p->c.batch, p->c.seeds, p->c.evals,
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
