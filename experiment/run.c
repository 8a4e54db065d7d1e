/* run.c: one run of the experiment: a model of one kind trained on one setting's task
 * from one seed, evaluated on the held-out set at the plan's evaluation steps, then
 * checked: the inference path must predict what the training forward predicts.
 *
 * Resuming: at every evaluation point the rows so far go to ckpt/<id>.rows.csv and the
 * parameters with AdamW's moments and the step to ckpt/<id>.ckpt (model_save: temp file
 * and rename), rows first. A restarted run loads the checkpoint, keeps the rows up to
 * its step (a crash between the two writes leaves one row too many) and continues; the
 * batches are a function of (seed, step) and the learning rate of the step, so it
 * computes what the uninterrupted run would have (at the same thread count). */
#include "clock.h"
#include "experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Two logits closer than this, relative to the row's largest |logit|, are a tie that
 * float32 roundings of the two paths may break either way (a few hundred ulps; the paths
 * differ by ~1e-6 relative at these sizes, verify's model rows measure it). */
#define INFER_TIE_TOL 1e-4

/* Index of the largest of x[0..V) (lowest on ties), and the largest |x|. */
static int argmax(const float *x, int V, float *scale)
{
    int best = 0;
    float s = 0.0f;
    for (int j = 0; j < V; j++) {
        if (x[j] > x[best]) best = j;
        s = fmaxf(s, fabsf(x[j]));
    }
    if (scale) *scale = s;
    return best;
}

/* The held-out metrics of one evaluation point (docs/DESIGN.md §9.2). */
typedef struct held_out {
    double loss, acc, seq_acc;
    double pos_hits[EXP_MAX_N], pos_count[EXP_MAX_N];
} held_out;

/* Held-out loss (mean over positions with a target), exact-match accuracy, sequence
 * accuracy and accuracy by position of the training forward, in chunks of B sequences.
 * logits: [B][n][V] scratch. */
static int evaluate(const exp_plan *p, const exp_task *t, model_kind kind,
                    const model_config *cfg, const model_exec *ex, const float *params,
                    float *logits, held_out *h)
{
    const int B = p->c.batch, n = t->n, V = cfg->vocab;
    double sum = 0, hits = 0, count = 0, seqs_right = 0;
    memset(h, 0, sizeof *h);
    for (int s0 = 0; s0 < t->tests; s0 += B) {
        const int b = t->tests - s0 < B ? t->tests - s0 : B;
        const int *tok = t->test_tokens + (size_t)s0 * n, *tgt = t->test_targets + (size_t)s0 * n;
        double l;
        ca_status st = model_forward_backward_f32(kind, cfg, ex, params, b, n, tok, tgt, logits,
                                                  NULL, &l, NULL);
        if (st != CA_OK) {
            fprintf(stderr, "experiment: evaluation: %s\n", model_error(st));
            return -1;
        }
        int c = 0;
        for (int q = 0; q < b; q++) {
            int all_right = 1;
            for (int i = 0; i < n; i++) {
                const int y = tgt[q * n + i];
                if (y < 0) continue;
                const int right = argmax(logits + ((size_t)q * n + i) * V, V, NULL) == y;
                c++;
                hits += right;
                all_right &= right;
                h->pos_hits[i] += right;
                h->pos_count[i]++;
            }
            seqs_right += all_right;
        }
        sum += l * c;
        count += c;
    }
    h->loss = count > 0 ? sum / count : NAN;
    h->acc = count > 0 ? hits / count : NAN;
    h->seq_acc = t->tests > 0 ? seqs_right / t->tests : NAN;
    return 0;
}

/* pos_acc's text: one value per position, empty where the position has no target. */
static void format_positions(const held_out *h, int n, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k < cap; i++) {
        if (i > 0) k += (size_t)snprintf(buf + k, cap - k, ";");
        if (k < cap && h->pos_count[i] > 0)
            k += (size_t)snprintf(buf + k, cap - k, "%.5f", h->pos_hits[i] / h->pos_count[i]);
    }
}

/* Every held-out sequence through model_infer (prompt of one token: the causal model
 * prefills it and decodes the rest with its KV cache; the cubic model runs each prefix
 * alone) against the training forward's logits: argmax at every position. Timed on the
 * way: that generation, and a prefill of the whole sequence (its next-token logits). */
static int infer_check(const exp_task *t, model_kind kind, const model_config *cfg,
                       const model_exec *ex, const float *params, exp_infer_row *out)
{
    const int n = t->n, V = cfg->vocab;
    float *train = malloc((size_t)n * V * sizeof *train), *inf = malloc((size_t)n * V * sizeof *inf);
    float *next = malloc((size_t)V * sizeof *next);
    if (!train || !inf || !next) {
        free(train); free(inf); free(next);
        fprintf(stderr, "experiment: out of memory\n");
        return -1;
    }
    int rc = 0;
    for (int s = 0; s < t->tests && rc == 0; s++) {
        const int *tok = t->test_tokens + (size_t)s * n, *tgt = t->test_targets + (size_t)s * n;
        double l;
        ca_status st = model_forward_backward_f32(kind, cfg, ex, params, 1, n, tok, tgt, train,
                                                  NULL, &l, NULL);
        double t0 = now_seconds();
        if (st == CA_OK) st = model_infer_f32(kind, cfg, ex, params, n, 1, tok, inf);
        out->generate_s += now_seconds() - t0;
        if (st == CA_OK) {
            t0 = now_seconds();
            model_session_f32 *ses = model_session_open_f32(kind, cfg, ex, params, n, &st);
            if (ses) st = model_session_prefill_f32(ses, n, tok, next);
            model_session_close_f32(ses);
            out->prefill_s += now_seconds() - t0;
        }
        if (st != CA_OK) {
            fprintf(stderr, "experiment: inference check: %s\n", model_error(st));
            rc = -1;
            break;
        }
        double dmax = 0, scale_max = 0;
        for (int i = 0; i < n; i++) {
            const float *a = train + (size_t)i * V, *b = inf + (size_t)i * V;
            float scale;
            const int ta = argmax(a, V, &scale), ib = argmax(b, V, NULL);
            for (int j = 0; j < V; j++) dmax = fmax(dmax, fabs((double)a[j] - b[j]));
            scale_max = fmax(scale_max, scale);
            out->positions++;
            if (ta == ib) continue;
            if (a[ta] - a[ib] <= INFER_TIE_TOL * scale) out->near_ties++;
            else out->mismatches++;
        }
        out->sequences++;
        if (scale_max > 0) out->max_rel_diff = fmax(out->max_rel_diff, dmax / scale_max);
        else if (dmax > 0) out->max_rel_diff = INFINITY;
    }
    if (out->sequences > 0) {
        out->prefill_s /= (double)out->sequences;
        out->generate_s /= (double)out->sequences;
    }
    free(train);
    free(inf);
    free(next);
    return rc;
}

static int same_config(const model_config *a, const model_config *b)
{
    return a->vocab == b->vocab && a->max_n == b->max_n && a->d_model == b->d_model &&
           a->heads == b->heads && a->layers == b->layers;
}

/* The row of an evaluation point, without the metrics. */
static exp_row row_base(const exp_plan *p, const exp_run *r, const model_config *cfg,
                        int64_t step)
{
    const exp_setting *s = &p->settings[r->setting];
    const exp_task *t = &p->tasks[r->setting];
    exp_row w = {
        .layers = s->layers, .n = s->n, .m = s->m, .vocab = cfg->vocab,
        .d_model = cfg->d_model, .heads = cfg->heads, .batch = p->c.batch,
        .params = (int64_t)model_param_count(cfg), .seed = r->seed, .step = step,
        .steps_cubic = s->steps, .steps_flops = r->steps_flops, .steps_run = r->steps,
        .threads = p->c.threads, .flops_per_step = r->flops_per_step,
        .train_flops = r->flops_per_step * (double)step, .floor_acc = t->floor_acc,
        .floor_bits = t->floor_bits,
    };
    snprintf(w.task, sizeof w.task, "%s", exp_task_name(s->task));
    plan_setting_name(p, r->setting, w.setting, sizeof w.setting);
    snprintf(w.model, sizeof w.model, "%s", model_kind_name(r->kind));
    snprintf(w.budget, sizeof w.budget, "%s",
             r->kind != MODEL_CAUSAL ? "reference" : step <= s->steps ? "equal_steps" : "equal_flops");
    snprintf(w.impl, sizeof w.impl, "%s", p->c.impl);
    snprintf(w.cpu, sizeof w.cpu, "%s", p->cpu);
    snprintf(w.commit, sizeof w.commit, "%s", p->commit);
    return w;
}

/* The number of runs training now (1 without a pool). */
static int jobs_now(const exp_shared_run *sh)
{
    return sh && sh->jobs ? __atomic_load_n(sh->jobs, __ATOMIC_RELAXED) : 1;
}

/* True when the run is to stop after the checkpoint it just wrote. */
static int checkpoint_stops(const exp_shared_run *sh)
{
    if (!sh || !sh->checkpoints_left) return 0;
    return __atomic_sub_fetch(sh->checkpoints_left, 1, __ATOMIC_SEQ_CST) <= 0;
}

/* One run in training: what it trains, its parameters and AdamW's moments, the rows of
 * its evaluation points so far, and the training since the last of them. */
typedef struct training {
    const exp_plan *p;
    const exp_run *r;
    const exp_task *t;
    const exp_shared_run *sh;
    model_config cfg;
    model_exec ex;
    size_t P;                       /* parameters */
    int64_t evals[EXP_MAX_EVALS];   /* the evaluation steps */
    int ne;
    char ckpt[1024], rows_path[1100];
    float *params, *grads, *m, *v, *logits;
    int *tok, *tgt;                 /* one batch */
    exp_row *rows;                  /* [ne] */
    int nrows;
    int64_t step;                   /* the last step trained */
    double wall;                    /* seconds spent in training steps (evaluation excluded) */
    double loss_sum;                /* since the last evaluation point: */
    int loss_steps, jobs_min, jobs_max;
} training;

/* The run's model, paths and buffers: 0, or -1 (said) without memory. */
static int training_open(training *tr, const exp_plan *p, const exp_run *r,
                         const char *work_dir, const exp_shared_run *sh)
{
    memset(tr, 0, sizeof *tr);
    tr->p = p;
    tr->r = r;
    tr->sh = sh;
    tr->t = &p->tasks[r->setting];
    tr->cfg = plan_config(p, r->setting);
    tr->ex = (model_exec){ca_impl_find(p->c.impl), p->c.threads};
    tr->P = model_param_count(&tr->cfg);
    tr->ne = plan_eval_steps(p, r, tr->evals, EXP_MAX_EVALS);
    snprintf(tr->ckpt, sizeof tr->ckpt, "%s/ckpt/%s.ckpt", work_dir, r->id);
    snprintf(tr->rows_path, sizeof tr->rows_path, "%s/ckpt/%s.rows.csv", work_dir, r->id);
    const size_t P = tr->P, BN = (size_t)p->c.batch * tr->t->n;
    tr->params = malloc(P * sizeof *tr->params);
    tr->grads = malloc(P * sizeof *tr->grads);
    tr->m = calloc(P, sizeof *tr->m);
    tr->v = calloc(P, sizeof *tr->v);
    tr->logits = malloc(BN * tr->cfg.vocab * sizeof *tr->logits);
    tr->tok = malloc(BN * sizeof *tr->tok);
    tr->tgt = malloc(BN * sizeof *tr->tgt);
    tr->rows = calloc((size_t)tr->ne, sizeof *tr->rows);
    if (!tr->params || !tr->grads || !tr->m || !tr->v || !tr->logits || !tr->tok || !tr->tgt ||
        !tr->rows) {
        fprintf(stderr, "experiment: out of memory\n");
        return -1;
    }
    return 0;
}

/* The run's rows to *out when it completed (rc 0), else dropped; its buffers freed. */
static void training_close(training *tr, int rc, exp_run_result *out)
{
    if (rc == 0) {
        out->rows = tr->rows;
        out->nrows = tr->nrows;
    } else {
        free(tr->rows);
    }
    free(tr->params); free(tr->grads); free(tr->m); free(tr->v); free(tr->logits);
    free(tr->tok); free(tr->tgt);
}

/* The state of the run's checkpoint, with its rows up to the checkpoint's step, when they
 * agree; otherwise the run starts over (said). */
static void resume_from_checkpoint(training *tr)
{
    const exp_run *r = tr->r;
    const exp_shared_run *sh = tr->sh;
    model_checkpoint ck;
    const char *why = NULL;
    exp_row *old = NULL;
    int nold = 0;
    if (model_load(tr->ckpt, &ck, &why) != 0) {
        fprintf(stderr, "experiment: %s: %s; starting the run over\n", tr->ckpt, why);
        return;
    }
    const int ok = same_config(&ck.cfg, &tr->cfg) && ck.step <= r->steps &&
                   rows_read(tr->rows_path, &old, &nold) == 0;
    for (int i = 0; ok && i < nold && old[i].step <= ck.step && tr->nrows < tr->ne; i++)
        tr->rows[tr->nrows++] = old[i];
    if (ok && tr->nrows > 0 && tr->rows[tr->nrows - 1].step == ck.step) {
        memcpy(tr->params, ck.params, tr->P * sizeof *tr->params);
        memcpy(tr->m, ck.m, tr->P * sizeof *tr->m);
        memcpy(tr->v, ck.v, tr->P * sizeof *tr->v);
        tr->step = ck.step;
        tr->wall = tr->rows[tr->nrows - 1].wall_s;
        /* the progress line counts the resumed steps as done */
        if (sh && sh->flops_done) *sh->flops_done += r->flops_per_step * (double)tr->step;
        if (!(sh && sh->quiet))
            fprintf(stderr, "experiment: %s: resuming at step %lld\n", r->id,
                    (long long)tr->step);
    } else {
        fprintf(stderr, "experiment: %s: checkpoint and rows disagree; starting the "
                        "run over\n", r->id);
        tr->nrows = 0;
    }
    free(ck.params); free(ck.m); free(ck.v);
    free(old);
}

/* From the run's checkpoint when it has one that holds, else from fresh parameters. */
static void resume_or_start(training *tr)
{
    if (access(tr->ckpt, F_OK) == 0) resume_from_checkpoint(tr);
    if (tr->step == 0 && tr->nrows == 0) {
        model_init_params(&tr->cfg, MODEL_INIT_TRAIN, (uint64_t)tr->r->seed, tr->params);
        memset(tr->m, 0, tr->P * sizeof *tr->m);
        memset(tr->v, 0, tr->P * sizeof *tr->v);
    }
    tr->jobs_min = tr->jobs_max = jobs_now(tr->sh);
}

/* The row of the evaluation point at the current step, appended to the rows; the
 * training counters start again. 0, or -1 (said). */
static int evaluation_point(training *tr)
{
    exp_row w = row_base(tr->p, tr->r, &tr->cfg, tr->step);
    held_out h;
    w.wall_s = tr->wall;
    w.train_loss = tr->loss_steps ? tr->loss_sum / tr->loss_steps : NAN;
    w.jobs_min = tr->jobs_min;
    w.jobs_max = tr->jobs_max;
    if (evaluate(tr->p, tr->t, tr->r->kind, &tr->cfg, &tr->ex, tr->params, tr->logits, &h))
        return -1;
    w.test_loss = h.loss;
    w.test_acc = h.acc;
    w.seq_acc = h.seq_acc;
    w.test_bits = w.test_loss / log(2.0);
    format_positions(&h, tr->t->n, w.pos_acc, sizeof w.pos_acc);
    tr->rows[tr->nrows++] = w;
    tr->loss_sum = 0;
    tr->loss_steps = 0;
    tr->jobs_min = tr->jobs_max = jobs_now(tr->sh);
    return 0;
}

/* The rows so far, then the parameters, moments and step (module comment): 0, or -1. */
static int checkpoint(const training *tr)
{
    const char *why = NULL;
    if (rows_write(tr->rows_path, tr->rows, tr->nrows) != 0) return -1;
    if (model_save(tr->ckpt, &tr->cfg, tr->step, tr->params, tr->m, tr->v, &why) != 0) {
        fprintf(stderr, "experiment: %s: %s\n", tr->ckpt, why);
        return -1;
    }
    return 0;
}

/* The run stops after this checkpoint (--stop-after-checkpoints): 1, the run's status;
 * or hangs there until it is killed from outside (--hold-after-checkpoints). */
static int stop_after_checkpoint(const training *tr)
{
    if (tr->sh->hold) {
        fprintf(stderr, "experiment: %s: holding after its step-%lld checkpoint "
                        "(--hold-after-checkpoints), pid %d, parent %d\n", tr->r->id,
                (long long)tr->step, (int)getpid(), (int)getppid());
        for (;;) pause();
    }
    return 1;
}

/* One training step on its batch, then AdamW: 0, or -1 (said) on an error or a loss
 * that is not finite. */
static int train_step(training *tr, exp_run_result *out)
{
    const exp_plan *p = tr->p;
    const exp_run *r = tr->r;
    tr->step++;
    const double t0 = now_seconds();
    task_batch(tr->t, (uint64_t)r->seed, tr->step, p->c.batch, tr->tok, tr->tgt);
    double loss;
    ca_status st = model_forward_backward_f32(r->kind, &tr->cfg, &tr->ex, tr->params,
                                              p->c.batch, tr->t->n, tr->tok, tr->tgt, NULL,
                                              tr->grads, &loss, NULL);
    if (st != CA_OK || !isfinite(loss)) {
        fprintf(stderr, "experiment: %s step %lld: %s (loss %g)\n", r->id, (long long)tr->step,
                model_error(st), loss);
        return -1;
    }
    const model_adamw opt = {.lr = plan_lr(p, r->setting, tr->step), .beta1 = 0.9,
                             .beta2 = 0.99, .eps = 1e-8, .weight_decay = p->c.weight_decay};
    model_adamw_update_f32(&opt, tr->step, tr->P, tr->params, tr->grads, tr->m, tr->v);
    tr->wall += now_seconds() - t0;
    tr->loss_sum += loss;
    tr->loss_steps++;
    const int j = jobs_now(tr->sh);
    tr->jobs_min = j < tr->jobs_min ? j : tr->jobs_min;
    tr->jobs_max = j > tr->jobs_max ? j : tr->jobs_max;
    out->train_flops_done += r->flops_per_step;
    if (tr->sh && tr->sh->flops_done) *tr->sh->flops_done += r->flops_per_step;
    return 0;
}

/* Training from the current step to the run's last, a row and a checkpoint at every
 * evaluation point (step 0 too in a fresh run): 0 at the last step, 1 stopped after a
 * checkpoint, -1 on an error (said). */
static int train_to_last_step(training *tr, exp_run_result *out)
{
    int e = 0;
    while (e < tr->ne && tr->evals[e] <= tr->step) e++;
    if (tr->nrows == 0) e = 0; /* a fresh run evaluates step 0 too */
    for (;;) {
        if (e < tr->ne && tr->evals[e] == tr->step) {
            if (evaluation_point(tr) != 0) return -1;
            e++;
            if (checkpoint(tr) != 0) return -1;
            if (checkpoint_stops(tr->sh)) return stop_after_checkpoint(tr);
        }
        if (tr->step >= tr->r->steps) return 0;
        if (train_step(tr, out) != 0) return -1;
    }
}

/* The trained model's inference check (infer_check) into its row. */
static int check_inference(const training *tr, exp_infer_row *ir)
{
    snprintf(ir->task, sizeof ir->task, "%s", tr->rows[0].task);
    snprintf(ir->setting, sizeof ir->setting, "%s", tr->rows[0].setting);
    snprintf(ir->model, sizeof ir->model, "%s", tr->rows[0].model);
    ir->seed = tr->r->seed;
    ir->steps_run = tr->r->steps;
    return infer_check(tr->t, tr->r->kind, &tr->cfg, &tr->ex, tr->params, ir);
}

int run_train(const exp_plan *p, const exp_run *r, const char *work_dir,
              const exp_shared_run *sh, exp_run_result *out)
{
    memset(out, 0, sizeof *out);
    training tr;
    int rc = training_open(&tr, p, r, work_dir, sh);
    if (rc == 0) {
        resume_or_start(&tr);
        rc = train_to_last_step(&tr, out);
    }
    if (rc == 0) rc = check_inference(&tr, &out->infer);
    training_close(&tr, rc, out);
    return rc;
}
