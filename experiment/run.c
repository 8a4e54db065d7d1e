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
    exp_row w;
    memset(&w, 0, sizeof w);
    snprintf(w.task, sizeof w.task, "%s", exp_task_name(s->task));
    plan_setting_name(p, r->setting, w.setting, sizeof w.setting);
    snprintf(w.model, sizeof w.model, "%s", model_kind_name(r->kind));
    snprintf(w.budget, sizeof w.budget, "%s",
             r->kind != MODEL_CAUSAL ? "reference" : step <= s->steps ? "equal_steps" : "equal_flops");
    snprintf(w.impl, sizeof w.impl, "%s", p->c.impl);
    snprintf(w.cpu, sizeof w.cpu, "%s", p->cpu);
    snprintf(w.commit, sizeof w.commit, "%s", p->commit);
    w.layers = s->layers;
    w.n = s->n;
    w.m = s->m;
    w.vocab = cfg->vocab;
    w.d_model = cfg->d_model;
    w.heads = cfg->heads;
    w.batch = p->c.batch;
    w.params = (int64_t)model_param_count(cfg);
    w.seed = r->seed;
    w.step = step;
    w.steps_cubic = s->steps;
    w.steps_flops = r->steps_flops;
    w.steps_run = r->steps;
    w.threads = p->c.threads;
    w.flops_per_step = r->flops_per_step;
    w.train_flops = r->flops_per_step * (double)step;
    w.floor_acc = t->floor_acc;
    w.floor_bits = t->floor_bits;
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

int run_train(const exp_plan *p, const exp_run *r, const char *work_dir,
              const exp_shared_run *sh, exp_run_result *out)
{
    memset(out, 0, sizeof *out);
    const exp_task *t = &p->tasks[r->setting];
    const model_config cfg = plan_config(p, r->setting);
    const model_exec ex = {ca_impl_find(p->c.impl), p->c.threads};
    const size_t P = model_param_count(&cfg), BN = (size_t)p->c.batch * t->n;
    int64_t evals[EXP_MAX_EVALS];
    const int ne = plan_eval_steps(p, r, evals, EXP_MAX_EVALS);
    char ckpt[1024], rows_path[1100];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt/%s.ckpt", work_dir, r->id);
    snprintf(rows_path, sizeof rows_path, "%s/ckpt/%s.rows.csv", work_dir, r->id);

    float *params = malloc(P * sizeof *params), *grads = malloc(P * sizeof *grads);
    float *m = calloc(P, sizeof *m), *v = calloc(P, sizeof *v);
    float *logits = malloc(BN * cfg.vocab * sizeof *logits);
    int *tok = malloc(BN * sizeof *tok), *tgt = malloc(BN * sizeof *tgt);
    exp_row *rows = calloc((size_t)ne, sizeof *rows);
    int nrows = 0, rc = -1;
    if (!params || !grads || !m || !v || !logits || !tok || !tgt || !rows) {
        fprintf(stderr, "experiment: out of memory\n");
        goto done;
    }

    int64_t step = 0;
    double wall = 0; /* seconds spent in training steps (evaluation excluded) */
    model_checkpoint ck;
    const char *why = NULL;
    if (access(ckpt, F_OK) == 0) {
        exp_row *old = NULL;
        int nold = 0;
        if (model_load(ckpt, &ck, &why) != 0) {
            fprintf(stderr, "experiment: %s: %s; starting the run over\n", ckpt, why);
        } else {
            const int ok = same_config(&ck.cfg, &cfg) && ck.step <= r->steps &&
                           rows_read(rows_path, &old, &nold) == 0;
            for (int i = 0; ok && i < nold && old[i].step <= ck.step && nrows < ne; i++)
                rows[nrows++] = old[i];
            if (ok && nrows > 0 && rows[nrows - 1].step == ck.step) {
                memcpy(params, ck.params, P * sizeof *params);
                memcpy(m, ck.m, P * sizeof *m);
                memcpy(v, ck.v, P * sizeof *v);
                step = ck.step;
                wall = rows[nrows - 1].wall_s;
                /* the progress line counts the resumed steps as done */
                if (sh && sh->flops_done) *sh->flops_done += r->flops_per_step * (double)step;
                if (!(sh && sh->quiet))
                    fprintf(stderr, "experiment: %s: resuming at step %lld\n", r->id,
                            (long long)step);
            } else {
                fprintf(stderr, "experiment: %s: checkpoint and rows disagree; starting the "
                                "run over\n", r->id);
                nrows = 0;
            }
            free(ck.params); free(ck.m); free(ck.v);
        }
        free(old);
    }
    if (step == 0 && nrows == 0) {
        model_init_params(&cfg, MODEL_INIT_TRAIN, (uint64_t)r->seed, params);
        memset(m, 0, P * sizeof *m);
        memset(v, 0, P * sizeof *v);
    }

    int e = 0;
    while (e < ne && evals[e] <= step) e++;
    if (nrows == 0) e = 0; /* a fresh run evaluates step 0 too */
    double loss_sum = 0;
    int loss_steps = 0, jobs_min = jobs_now(sh), jobs_max = jobs_min;
    for (;;) {
        if (e < ne && evals[e] == step) {
            exp_row w = row_base(p, r, &cfg, step);
            held_out h;
            w.wall_s = wall;
            w.train_loss = loss_steps ? loss_sum / loss_steps : NAN;
            w.jobs_min = jobs_min;
            w.jobs_max = jobs_max;
            if (evaluate(p, t, r->kind, &cfg, &ex, params, logits, &h)) goto done;
            w.test_loss = h.loss;
            w.test_acc = h.acc;
            w.seq_acc = h.seq_acc;
            w.test_bits = w.test_loss / log(2.0);
            format_positions(&h, t->n, w.pos_acc, sizeof w.pos_acc);
            rows[nrows++] = w;
            loss_sum = 0;
            loss_steps = 0;
            jobs_min = jobs_max = jobs_now(sh);
            e++;
            if (rows_write(rows_path, rows, nrows) != 0) goto done;
            if (model_save(ckpt, &cfg, step, params, m, v, &why) != 0) {
                fprintf(stderr, "experiment: %s: %s\n", ckpt, why);
                goto done;
            }
            if (checkpoint_stops(sh)) {
                if (sh->hold) {
                    /* a run that hangs here, its checkpoint written: killed from outside */
                    fprintf(stderr, "experiment: %s: holding after its step-%lld checkpoint "
                                    "(--hold-after-checkpoints), pid %d, parent %d\n", r->id,
                            (long long)step, (int)getpid(), (int)getppid());
                    for (;;) pause();
                }
                rc = 1;
                goto done;
            }
        }
        if (step >= r->steps) break;
        step++;
        const double t0 = now_seconds();
        task_batch(t, (uint64_t)r->seed, step, p->c.batch, tok, tgt);
        double loss;
        ca_status st = model_forward_backward_f32(r->kind, &cfg, &ex, params, p->c.batch, t->n,
                                                  tok, tgt, NULL, grads, &loss, NULL);
        if (st != CA_OK || !isfinite(loss)) {
            fprintf(stderr, "experiment: %s step %lld: %s (loss %g)\n", r->id, (long long)step,
                    model_error(st), loss);
            goto done;
        }
        const model_adamw opt = {.lr = plan_lr(p, r->setting, step), .beta1 = 0.9,
                                 .beta2 = 0.99, .eps = 1e-8,
                                 .weight_decay = p->c.weight_decay};
        model_adamw_update_f32(&opt, step, P, params, grads, m, v);
        wall += now_seconds() - t0;
        loss_sum += loss;
        loss_steps++;
        const int j = jobs_now(sh);
        jobs_min = j < jobs_min ? j : jobs_min;
        jobs_max = j > jobs_max ? j : jobs_max;
        out->train_flops_done += r->flops_per_step;
        if (sh && sh->flops_done) *sh->flops_done += r->flops_per_step;
    }

    exp_infer_row *ir = &out->infer;
    snprintf(ir->task, sizeof ir->task, "%s", rows[0].task);
    snprintf(ir->setting, sizeof ir->setting, "%s", rows[0].setting);
    snprintf(ir->model, sizeof ir->model, "%s", rows[0].model);
    ir->seed = r->seed;
    ir->steps_run = r->steps;
    if (infer_check(t, r->kind, &cfg, &ex, params, ir) != 0) goto done;
    rc = 0;
done:
    if (rc == 0) {
        out->rows = rows;
        out->nrows = nrows;
    } else {
        free(rows);
    }
    free(params); free(grads); free(m); free(v); free(logits); free(tok); free(tgt);
    return rc;
}
