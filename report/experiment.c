/* experiment.c: REPORT.md's section "Is a cubic model more powerful?" from
 * results/experiment.csv and results/experiment_infer.csv (make experiment,
 * docs/DESIGN.md §9), with a learning-curve plot (experiment_<task>_<setting>.png) and an
 * accuracy-by-position plot (experiment_pos_<task>_<setting>.png) per setting in the
 * plots dir. The section is appended to the report the rest of the program wrote (a temp
 * file, then a rename); when this section fails the old report and plots stay.
 *
 * The verdicts are §9.5's, applied to the rows and nothing else:
 *   - the cubic side of every budget is the cubic run's final row (step S); the causal
 *     side is the causal run's row at step S (equal steps), at S_f (equal FLOPs), or, per
 *     seed, the row whose training seconds are nearest the cubic run's final ones (equal
 *     wall time);
 *   - equal wall time needs both runs, up to the points compared, to have trained under
 *     one and the same number of concurrent runs (jobs_min == jobs_max, equal in both);
 *     it is "not reached" for a seed when the nearest causal point is the causal run's
 *     last and its seconds fall more than 10% short of the cubic run's;
 *   - learned: the mean over the compared seeds beats the position-only floor by 0.05;
 *   - d = cubic - causal (text: causal - cubic, so d > 0 means the cubic model is better),
 *     95% Student-t interval of its mean over seed pairs;
 *   - verdict: uninformative, not converged, cubic better, causal better, equal,
 *     undecided, the first that holds (δ = 0.02). */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXSET 32
#define MAXSEED 16
#define MAXPT 64
#define MAXN 4096

#define DELTA 0.02        /* §9.5: the smallest difference that is not evaluation noise */
#define LEARN_MARGIN 0.05 /* §9.5: "learned" = beats the floor by this much */
#define CONV_DROP 0.02    /* §9.5: a loss still falling by more than this is not converged */
#define WALL_SHORT 0.10   /* the causal run "did not reach" the cubic run's seconds */
#define WALL_MIN_PAIRS 3  /* §9.5: equal wall time needs this many comparable pairs */


enum { CAUSAL = 0, CUBIC = 1 };
static const char *const model_names[2] = {"causal", "cubic"};

enum { B_STEPS, B_FLOPS, B_WALL, NBUDGET };
static const char *const budget_names[NBUDGET] = {"equal steps", "equal FLOPs", "equal wall time"};

static const char *const tasks[4] = {"count3", "count3_fixed", "induction", "text"};

/* One evaluation point (one record of experiment.csv). */
typedef struct xrow {
    const char *task, *setting, *budget, *cpu, *commit;
    int model, rec; /* rec: the CSV record number (the header is record 1) */
    int layers, n, m, vocab, d_model, heads, batch, threads;
    long params, seed, step, steps_cubic, steps_flops, steps_run;
    long jobs_min, jobs_max; /* -1: empty (allowed at step 0, no step sampled) */
    double flops_per_step, train_flops, wall, train_loss, test_loss, test_bits, test_acc,
        seq_acc, floor_acc, floor_bits;
    double metric, floor; /* in the task's metric: accuracy, or bits/char for text */
    double *pos;          /* n values; NaN where the position has no target */
} xrow;

/* One budget of one setting: the seed pairs compared and what follows from them. */
typedef struct cmp {
    int k, pairs_total, not_reached, other_load, missing;
    const xrow *q[MAXSEED], *c[MAXSEED];   /* the compared points, cubic and causal */
    const xrow *q34[MAXSEED], *c34[MAXSEED]; /* their runs' points nearest 3/4 of the step */
    double mq, lq, hq, mc, lc, hc;           /* metric mean, min, max over the pairs */
    double seq_q, seq_c;                     /* sequence accuracy, mean over the pairs */
    double slope_q, slope_c;                 /* loss change over the last quarter */
    double dmean, dlo, dhi;                  /* d = cubic - causal (better-direction) */
    double wall_ratio_lo, wall_ratio_hi;     /* causal seconds / cubic seconds (wall) */
    long step_lo, step_hi;                   /* the causal points' steps */
    int learned_q, learned_c, verdict;
} cmp;

enum { V_NONE, V_UNINF, V_NOTCONV, V_CUBIC, V_CAUSAL, V_EQUAL, V_UNDECIDED };
static const char *const verdict_names[] = {"no verdict", "uninformative", "not converged",
                                            "cubic better", "causal better", "equal",
                                            "undecided"};

/* One (task, setting). */
typedef struct xset {
    const char *task, *setting;
    const xrow *cfg; /* its first row: the configuration every row of it shares */
    int hb;          /* higher is better */
    long seeds[MAXSEED];
    int nseeds;
    const xrow *run[2][MAXSEED][MAXPT]; /* [model][seed][point], ascending steps */
    int npt[2][MAXSEED];
    double fps[2];       /* training FLOPs per step */
    double sec[2];       /* training seconds per step at the run's end, mean over seeds */
    long steps_run[2];   /* the longest run of each model */
    cmp b[NBUDGET];
    cmp end;             /* the causal run's end (S_c) against the cubic final: slope only */
} xset;

typedef struct xdata {
    table t, ti;
    int have_infer;
    exp_row *rec;      /* experiment.csv's records, which r points into */
    exp_infer_row *inf;
    int ninf;
    xrow *r;
    int nr;
    xset *s;
    int ns;
} xdata;

static int is_text(const char *task) { return strcmp(task, "text") == 0; }
static const char *metric_name(const char *task)
{
    return is_text(task) ? "held-out bits/char" : "held-out accuracy";
}

/* ---- reading and checking the rows --------------------------------------------------- */

static int fail(const table *t, int r, const char *col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "report: %s: record %d: column '%s': ", t->path, r + 2, col);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return -1;
}

/* An integer of row r in [lo, hi]. */
static int int_in(const table *t, int r, const char *name, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return fail(t, r, name, "%lld is not an integer in [%lld, %lld]", (long long)v,
                    (long long)lo, (long long)hi);
    return 0;
}

/* A finite number of row r in [lo, hi]; NaN (an empty field) only when allow_empty. */
static int real_in(const table *t, int r, const char *name, double x, double lo, double hi,
                   int allow_empty)
{
    if (isnan(x)) return allow_empty ? 0 : fail(t, r, name, "empty");
    if (!isfinite(x)) return fail(t, r, name, "not a finite number: '%g'", x);
    if (x < lo || x > hi)
        return fail(t, r, name, "%s is outside [%g, %g]", t->rows[r][table_col(t, name)], lo, hi);
    return 0;
}

static int one_of(const char *s, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* pos_acc s: n fields separated by ';', each empty or an accuracy in [0, 1]. */
static int parse_pos(const table *t, int r, const char *s, int n, double *out)
{
    int i = 0;
    for (const char *p = s;; i++) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (i >= n) return fail(t, r, "pos_acc", "more than n = %d fields", n);
        if (len == 0) out[i] = NAN;
        else {
            char buf[64], *end;
            if (len >= sizeof buf) return fail(t, r, "pos_acc", "field %d too long", i);
            memcpy(buf, p, len);
            buf[len] = '\0';
            out[i] = strtod(buf, &end);
            if (*end || !(out[i] >= 0 && out[i] <= 1))
                return fail(t, r, "pos_acc", "field %d ('%s') is not an accuracy in [0, 1]", i,
                            buf);
        }
        if (!e) break;
        p = e + 1;
    }
    if (i + 1 != n) return fail(t, r, "pos_acc", "%d fields, n = %d", i + 1, n);
    return 0;
}

/* The configuration of a row: counts and steps in their ranges. */
static int load_config(const table *t, int i, const exp_row *e, xrow *x)
{
    const struct { const char *name; int64_t v, lo, hi; } ints[] = {
        {"layers", e->layers, 1, INT_MAX},     {"n", e->n, 1, MAXN},
        {"m", e->m, 0, INT_MAX},               {"vocab", e->vocab, 1, INT_MAX},
        {"d_model", e->d_model, 1, INT_MAX},   {"heads", e->heads, 1, INT_MAX},
        {"batch", e->batch, 1, INT_MAX},       {"threads", e->threads, 1, INT_MAX},
        {"params", e->params, 1, LONG_MAX},    {"seed", e->seed, 0, LONG_MAX},
        {"step", e->step, 0, LONG_MAX},        {"steps_cubic", e->steps_cubic, 1, LONG_MAX},
        {"steps_flops", e->steps_flops, 1, LONG_MAX}, {"steps_run", e->steps_run, 1, LONG_MAX},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
        if (int_in(t, i, ints[k].name, ints[k].v, ints[k].lo, ints[k].hi) != 0) return -1;
    x->layers = (int)e->layers; x->n = (int)e->n; x->m = (int)e->m; x->vocab = (int)e->vocab;
    x->d_model = (int)e->d_model; x->heads = (int)e->heads; x->batch = (int)e->batch;
    x->threads = (int)e->threads;
    x->params = (long)e->params; x->seed = (long)e->seed; x->step = (long)e->step;
    x->steps_cubic = (long)e->steps_cubic; x->steps_flops = (long)e->steps_flops;
    x->steps_run = (long)e->steps_run;
    if (x->step > x->steps_run)
        return fail(t, i, "step", "%ld is past steps_run %ld", x->step, x->steps_run);
    return 0;
}

/* The number of runs training at once: unknown (0, 0 or empty) only at step 0, before a
 * step was sampled. */
static int load_jobs(const table *t, int i, const exp_row *e, xrow *x)
{
    if (x->step == 0 && e->jobs_min == 0 && e->jobs_max == 0) {
        x->jobs_min = x->jobs_max = -1;
        return 0;
    }
    if (e->jobs_min < 1) return fail(t, i, "jobs_min", "%lld is not a count >= 1", (long long)e->jobs_min);
    if (e->jobs_max < e->jobs_min)
        return fail(t, i, "jobs_max", "%lld is not a count >= jobs_min", (long long)e->jobs_max);
    x->jobs_min = (long)e->jobs_min;
    x->jobs_max = (long)e->jobs_max;
    return 0;
}

/* Record i of experiment.csv, read by its column table into e, checked into x. */
static int load_row(const table *t, int i, const exp_row *e, xrow *x)
{
    static const char *const budgets[3] = {"reference", "equal_steps", "equal_flops"};
    x->rec = i + 2;
    x->task = e->task;
    x->setting = e->setting;
    x->budget = e->budget;
    x->cpu = e->cpu;
    x->commit = e->commit;
    if (one_of(x->task, tasks, 4) < 0) return fail(t, i, "task", "unknown task '%s'", x->task);
    if (!x->setting[0]) return fail(t, i, "setting", "empty");
    x->model = one_of(e->model, model_names, 2);
    if (x->model < 0) return fail(t, i, "model", "unknown model '%s'", e->model);
    int b = one_of(x->budget, budgets, 3);
    if (b < 0) return fail(t, i, "budget", "unknown budget '%s'", x->budget);
    if ((b == 0) != (x->model == CUBIC))
        return fail(t, i, "budget", "'%s' for a %s run (reference is the cubic run's)",
                    x->budget, model_names[x->model]);
    if (load_config(t, i, e, x) != 0 || load_jobs(t, i, e, x) != 0) return -1;
    x->flops_per_step = e->flops_per_step; x->train_flops = e->train_flops; x->wall = e->wall_s;
    x->train_loss = e->train_loss; x->test_loss = e->test_loss; x->test_bits = e->test_bits;
    x->test_acc = e->test_acc; x->seq_acc = e->seq_acc; x->floor_acc = e->floor_acc;
    x->floor_bits = e->floor_bits;
    if (real_in(t, i, "flops_per_step", x->flops_per_step, 1e-300, INFINITY, 0) ||
        real_in(t, i, "train_flops", x->train_flops, 0, INFINITY, 0) ||
        real_in(t, i, "wall_s", x->wall, 0, INFINITY, 0) ||
        real_in(t, i, "train_loss", x->train_loss, 0, INFINITY, x->step == 0) ||
        real_in(t, i, "test_loss", x->test_loss, 0, INFINITY, 0) ||
        real_in(t, i, "test_bits", x->test_bits, 0, INFINITY, 0) ||
        real_in(t, i, "test_acc", x->test_acc, 0, 1, 0) ||
        real_in(t, i, "seq_acc", x->seq_acc, 0, 1, 0) ||
        real_in(t, i, "floor_acc", x->floor_acc, 0, 1, 0) ||
        real_in(t, i, "floor_bits", x->floor_bits, 0, INFINITY, 0))
        return -1;
    const int text = is_text(x->task);
    x->metric = text ? x->test_bits : x->test_acc;
    x->floor = text ? x->floor_bits : x->floor_acc;
    x->pos = malloc((size_t)x->n * sizeof *x->pos);
    if (!x->pos) return fail(t, i, "pos_acc", "out of memory");
    return parse_pos(t, i, e->pos_acc, x->n, x->pos);
}

/* Every row of a setting shares its configuration, and each model its FLOPs per step. */
static int same_config(const table *t, const xrow *a, const xrow *x)
{
#define SAME(field, col) \
    if (a->field != x->field) \
        return fail(t, x->rec - 2, col, "differs from record %d of the same setting", a->rec)
    SAME(layers, "layers"); SAME(n, "n"); SAME(m, "m"); SAME(vocab, "vocab");
    SAME(d_model, "d_model"); SAME(heads, "heads"); SAME(batch, "batch");
    SAME(params, "params"); SAME(steps_cubic, "steps_cubic"); SAME(steps_flops, "steps_flops");
    SAME(floor_acc, "floor_acc"); SAME(floor_bits, "floor_bits");
#undef SAME
    return 0;
}

static int build_sets(xdata *d)
{
    d->s = calloc(MAXSET, sizeof *d->s);
    if (!d->s) return -1;
    for (int i = 0; i < d->nr; i++) {
        const xrow *x = &d->r[i];
        int j = 0;
        while (j < d->ns && (strcmp(d->s[j].task, x->task) || strcmp(d->s[j].setting, x->setting)))
            j++;
        if (j == d->ns) {
            if (d->ns == MAXSET) return fail(&d->t, x->rec - 2, "setting", "more than %d settings", MAXSET);
            xset *s = &d->s[d->ns++];
            s->task = x->task;
            s->setting = x->setting;
            s->cfg = x;
            s->hb = !is_text(x->task);
            s->fps[0] = s->fps[1] = NAN;
        }
        xset *s = &d->s[j];
        if (same_config(&d->t, s->cfg, x) != 0) return -1;
        if (isnan(s->fps[x->model])) s->fps[x->model] = x->flops_per_step;
        else if (s->fps[x->model] != x->flops_per_step)
            return fail(&d->t, x->rec - 2, "flops_per_step", "differs between rows of the %s model",
                        model_names[x->model]);
        int k = 0;
        while (k < s->nseeds && s->seeds[k] != x->seed) k++;
        if (k == s->nseeds) {
            if (k == MAXSEED) return fail(&d->t, x->rec - 2, "seed", "more than %d seeds", MAXSEED);
            s->seeds[s->nseeds++] = x->seed;
        }
        int *np = &s->npt[x->model][k];
        const xrow **pts = s->run[x->model][k];
        if (*np == MAXPT) return fail(&d->t, x->rec - 2, "step", "more than %d points in a run", MAXPT);
        int p = *np;
        while (p > 0 && pts[p - 1]->step > x->step) {
            pts[p] = pts[p - 1];
            p--;
        }
        if (p > 0 && pts[p - 1]->step == x->step)
            return fail(&d->t, x->rec - 2, "step", "step %ld twice in one run (also record %d)",
                        x->step, pts[p - 1]->rec);
        pts[p] = x;
        (*np)++;
        if (x->model == CUBIC && x->step > x->steps_cubic)
            return fail(&d->t, x->rec - 2, "step", "a cubic point past steps_cubic");
        if (x->steps_run > s->steps_run[x->model]) s->steps_run[x->model] = x->steps_run;
    }
    return 0;
}

/* ---- the comparisons ---------------------------------------------------------------- */

static const xrow *at_step(const xset *s, int model, int k, long step)
{
    for (int p = 0; p < s->npt[model][k]; p++)
        if (s->run[model][k][p]->step == step) return s->run[model][k][p];
    return NULL;
}

/* The point of the run nearest 3/4 of step (the earlier on a tie). */
static const xrow *at_34(const xset *s, int model, int k, long step)
{
    const xrow *best = NULL;
    double target = 0.75 * (double)step, dist = INFINITY;
    for (int p = 0; p < s->npt[model][k]; p++) {
        const xrow *x = s->run[model][k][p];
        if (fabs((double)x->step - target) < dist) {
            dist = fabs((double)x->step - target);
            best = x;
        }
    }
    return best;
}

/* Both runs of seed k trained under one and the same number of concurrent runs: every
 * point of the cubic run and the causal points up to step. */
static int same_load(const xset *s, int k, long step)
{
    long jobs = -1;
    for (int m = 0; m < 2; m++)
        for (int p = 0; p < s->npt[m][k]; p++) {
            const xrow *x = s->run[m][k][p];
            if (m == CAUSAL && x->step > step) break;
            if (x->jobs_min < 0) continue;
            if (x->jobs_min != x->jobs_max || (jobs >= 0 && x->jobs_min != jobs)) return 0;
            jobs = x->jobs_min;
        }
    return 1;
}

/* The causal point of seed k for budget b, NULL when it has none (counted in c). */
static const xrow *causal_point(const xset *s, int b, int k, const xrow *q, cmp *c)
{
    if (b == B_STEPS) return at_step(s, CAUSAL, k, s->cfg->steps_cubic);
    if (b == B_FLOPS) return at_step(s, CAUSAL, k, s->cfg->steps_flops);
    const xrow *best = NULL, *last = NULL;
    for (int p = 0; p < s->npt[CAUSAL][k]; p++) {
        const xrow *x = s->run[CAUSAL][k][p];
        if (!best || fabs(x->wall - q->wall) < fabs(best->wall - q->wall)) best = x;
        last = x;
    }
    if (!best) return NULL;
    if (best == last && last->wall < (1 - WALL_SHORT) * q->wall) {
        c->not_reached++;
        return NULL;
    }
    if (!same_load(s, k, best->step)) {
        c->other_load++;
        return NULL;
    }
    return best;
}

static double relchange(const xrow *const *a, const xrow *const *b, int k)
{
    double la = 0, lb = 0;
    for (int i = 0; i < k; i++) {
        la += a[i]->test_loss;
        lb += b[i]->test_loss;
    }
    return lb > 0 ? la / lb - 1 : NAN;
}

static void compare(xset *s, int b, cmp *c)
{
    memset(c, 0, sizeof *c);
    const double fl = s->cfg->floor;
    double d[MAXSEED];
    c->step_lo = LONG_MAX;
    c->wall_ratio_lo = INFINITY;
    c->wall_ratio_hi = -INFINITY;
    for (int k = 0; k < s->nseeds; k++) {
        const xrow *q = at_step(s, CUBIC, k, s->cfg->steps_cubic);
        if (!q || s->npt[CAUSAL][k] == 0) {
            c->missing++;
            continue;
        }
        c->pairs_total++;
        const xrow *x = b < NBUDGET ? causal_point(s, b, k, q, c)
                                    : s->run[CAUSAL][k][s->npt[CAUSAL][k] - 1];
        if (!x) {
            if (b != B_WALL) c->missing++;
            continue;
        }
        c->q[c->k] = q;
        c->c[c->k] = x;
        c->q34[c->k] = at_34(s, CUBIC, k, q->step);
        c->c34[c->k] = at_34(s, CAUSAL, k, x->step);
        d[c->k] = s->hb ? q->metric - x->metric : x->metric - q->metric;
        if (q->wall > 0) {
            c->wall_ratio_lo = fmin(c->wall_ratio_lo, x->wall / q->wall);
            c->wall_ratio_hi = fmax(c->wall_ratio_hi, x->wall / q->wall);
        }
        if (x->step < c->step_lo) c->step_lo = x->step;
        if (x->step > c->step_hi) c->step_hi = x->step;
        c->k++;
    }
    const int k = c->k;
    if (k == 0) {
        c->verdict = V_NONE;
        return;
    }
    c->lq = c->hq = c->q[0]->metric;
    c->lc = c->hc = c->c[0]->metric;
    for (int i = 0; i < k; i++) {
        c->mq += c->q[i]->metric / k;
        c->mc += c->c[i]->metric / k;
        c->seq_q += c->q[i]->seq_acc / k;
        c->seq_c += c->c[i]->seq_acc / k;
        c->lq = fmin(c->lq, c->q[i]->metric); c->hq = fmax(c->hq, c->q[i]->metric);
        c->lc = fmin(c->lc, c->c[i]->metric); c->hc = fmax(c->hc, c->c[i]->metric);
    }
    c->slope_q = relchange(c->q, c->q34, k);
    c->slope_c = relchange(c->c, c->c34, k);
    mean_ci95(d, k, &c->dmean, &c->dlo, &c->dhi);
    c->learned_q = s->hb ? c->mq >= fl + LEARN_MARGIN : c->mq <= fl - LEARN_MARGIN;
    c->learned_c = s->hb ? c->mc >= fl + LEARN_MARGIN : c->mc <= fl - LEARN_MARGIN;
    /* §9.5, the first that holds */
    if (b == B_WALL && k < WALL_MIN_PAIRS) c->verdict = V_NONE;
    else if (!c->learned_q && !c->learned_c) c->verdict = V_UNINF;
    else if (c->slope_q < -CONV_DROP || c->slope_c < -CONV_DROP) c->verdict = V_NOTCONV;
    else if (k < 2) c->verdict = V_NONE;
    else if (c->dlo >= DELTA) c->verdict = V_CUBIC;
    else if (c->dhi <= -DELTA) c->verdict = V_CAUSAL;
    else if (c->learned_q && c->learned_c && c->dlo > -DELTA && c->dhi < DELTA) c->verdict = V_EQUAL;
    else c->verdict = V_UNDECIDED;
}

static void analyse(xdata *d)
{
    for (int j = 0; j < d->ns; j++) {
        xset *s = &d->s[j];
        for (int b = 0; b < NBUDGET; b++) compare(s, b, &s->b[b]);
        compare(s, NBUDGET, &s->end);
        for (int m = 0; m < 2; m++) {
            double sum = 0;
            int k = 0;
            for (int i = 0; i < s->nseeds; i++) {
                if (s->npt[m][i] == 0) continue;
                const xrow *x = s->run[m][i][s->npt[m][i] - 1];
                if (x->step > 0) {
                    sum += x->wall / (double)x->step;
                    k++;
                }
            }
            s->sec[m] = k ? sum / k : NAN;
        }
    }
}

/* ---- wording ------------------------------------------------------------------------ */

static const char *fmt_d(const cmp *c, char *buf, size_t cap)
{
    if (c->k == 0) snprintf(buf, cap, "n/a");
    else if (c->k < 2) snprintf(buf, cap, "%+.3f (one pair, no interval)", c->dmean);
    else snprintf(buf, cap, "%+.3f [%+.3f, %+.3f]", c->dmean, c->dlo, c->dhi);
    return buf;
}

static const char *fmt_m(double mean, double lo, double hi, int k, char *buf, size_t cap)
{
    if (k == 0) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, "%.3f (%.3f..%.3f)", mean, lo, hi);
    return buf;
}

/* The verdict cell: the verdict and, where needed, why. */
static const char *fmt_verdict(const xset *s, int b, char *buf, size_t cap)
{
    const cmp *c = &s->b[b];
    switch (c->verdict) {
    case V_NONE:
        if (b == B_WALL)
            snprintf(buf, cap, "no verdict: %d of %d seed pairs comparable, %d needed (%d not "
                     "reached, %d under different load)", c->k, c->pairs_total, WALL_MIN_PAIRS,
                     c->not_reached, c->other_load);
        else
            snprintf(buf, cap, "no verdict: %d seed pair(s), an interval needs 2", c->k);
        break;
    case V_UNINF:
        snprintf(buf, cap, "uninformative: neither model learned");
        break;
    case V_NOTCONV: {
        char who[96];
        if (c->k < 2) snprintf(who, sizeof who, "one pair, no side stated");
        else if (c->dlo > 0) snprintf(who, sizeof who, "the cubic model ahead");
        else if (c->dhi < 0) snprintf(who, sizeof who, "the causal model ahead");
        else snprintf(who, sizeof who, "neither ahead (the interval holds 0)");
        snprintf(buf, cap, "not converged (held-out loss over the last quarter: cubic %+.1f%%, "
                 "causal %+.1f%%): a learning-speed result, %s", 100 * c->slope_q,
                 100 * c->slope_c, who);
        break;
    }
    default:
        snprintf(buf, cap, "%s", verdict_names[c->verdict]);
    }
    return buf;
}

static const char *learned_word(int l) { return l ? "yes" : "no"; }

/* ---- plots -------------------------------------------------------------------------- */

static FILE *gp_open(const char *dir, const char *rel, const char *png, int w, int h)
{
    char gp[1400];
    snprintf(gp, sizeof gp, "%s/%s", dir, rel);
    FILE *f = fopen(gp, "w");
    if (!f) {
        fprintf(stderr, "report: cannot write '%s': %s\n", gp, strerror(errno));
        return NULL;
    }
    fprintf(f, "# generated by build/report from results/experiment.csv; run from the plots dir\n");
    fprintf(f, "set terminal %s size %d,%d noenhanced\nset output '%s'\n", plots_terminal(), w,
            h, png);
    fprintf(f, "set grid\nset key below\n");
    return f;
}

static int gp_close(FILE *f, const char *dir, const char *rel)
{
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || run_gnuplot(dir, rel) != 0) {
        fprintf(stderr, "report: gnuplot failed on '%s/%s'\n", dir, rel);
        return -1;
    }
    return 0;
}

/* Learning curves: metric against steps and against training FLOPs, mean over seeds with
 * min..max bars, the floor as a line. */
static int plot_curves(const xset *s, const char *dir, char *png, size_t cap)
{
    snprintf(png, cap, "experiment_%s_%s.png", s->task, s->setting);
    char rel[300];
    snprintf(rel, sizeof rel, "gnuplot/experiment_%s_%s.gp", s->task, s->setting);
    FILE *f = gp_open(dir, rel, png, 1100, 460);
    if (!f) return -1;
    fprintf(f, "set ylabel '%s'\n", metric_name(s->task));
    fprintf(f, "set multiplot layout 1,2 title '%s %s: mean over %d seeds, bars min..max'\n",
            s->task, s->setting, s->nseeds);
    for (int m = 0; m < 2; m++) {
        fprintf(f, "$%s << EOD\n", model_names[m]);
        long steps[MAXPT];
        int ns = 0;
        for (int k = 0; k < s->nseeds; k++)
            for (int p = 0; p < s->npt[m][k]; p++) {
                long st = s->run[m][k][p]->step;
                int i = 0;
                while (i < ns && steps[i] != st) i++;
                if (i == ns && ns < MAXPT) steps[ns++] = st;
            }
        for (int a = 1; a < ns; a++)
            for (int b = a; b > 0 && steps[b] < steps[b - 1]; b--) {
                long t = steps[b]; steps[b] = steps[b - 1]; steps[b - 1] = t;
            }
        for (int i = 0; i < ns; i++) {
            double sum = 0, fl = 0, lo = INFINITY, hi = -INFINITY;
            int c = 0;
            for (int k = 0; k < s->nseeds; k++) {
                const xrow *x = at_step(s, m, k, steps[i]);
                if (!x) continue;
                sum += x->metric;
                fl += x->train_flops;
                lo = fmin(lo, x->metric);
                hi = fmax(hi, x->metric);
                c++;
            }
            fprintf(f, "%ld %.6e %.6e %.6e %.6e\n", steps[i], fl / c, sum / c, lo, hi);
        }
        fprintf(f, "EOD\n");
    }
    for (int panel = 0; panel < 2; panel++) {
        /* FLOPs in units of 1e12 (TFLOP): whole-number ticks that do not run together */
        fprintf(f, "set xlabel '%s'\n", panel == 0 ? "training steps" : "training FLOPs (x 1e12)");
        fprintf(f, "plot ");
        for (int m = 0; m < 2; m++)
            fprintf(f, "$%s using %s:3:4:5 with yerrorlines lw 2 lc %d title '%s', \\\n    ",
                    model_names[m], panel == 0 ? "1" : "($2/1e12)", m + 1, model_names[m]);
        fprintf(f, "%.6e with lines dt 2 lc 'gray40' title 'floor (%s)'\n", s->cfg->floor,
                is_text(s->task) ? "unigram" : "position only");
    }
    fprintf(f, "unset multiplot\n");
    return gp_close(f, dir, rel);
}

/* Accuracy by position at equal steps, mean over the compared seed pairs, and the floor
 * (a scalar: the mean over the scored positions). */
static int plot_positions(const xset *s, const char *dir, char *png, size_t cap)
{
    const cmp *c = &s->b[B_STEPS];
    snprintf(png, cap, "experiment_pos_%s_%s.png", s->task, s->setting);
    char rel[300];
    snprintf(rel, sizeof rel, "gnuplot/experiment_pos_%s_%s.gp", s->task, s->setting);
    FILE *f = gp_open(dir, rel, png, 800, 460);
    if (!f) return -1;
    fprintf(f, "set title '%s %s: accuracy by position at equal steps (%ld), mean over %d seed "
               "pairs'\n", s->task, s->setting, s->cfg->steps_cubic, c->k);
    fprintf(f, "set xlabel 'position t (0-based; positions without a target omitted)'\n"
               "set ylabel 'held-out accuracy at t'\nset yrange [0:1.05]\n");
    fprintf(f, "$pos << EOD\n");
    for (int t = 0; t < s->cfg->n; t++) {
        double sq = 0, sc = 0;
        int nq = 0, nc = 0;
        for (int i = 0; i < c->k; i++) {
            if (!isnan(c->q[i]->pos[t])) { sq += c->q[i]->pos[t]; nq++; }
            if (!isnan(c->c[i]->pos[t])) { sc += c->c[i]->pos[t]; nc++; }
        }
        if (nq && nc) fprintf(f, "%d %.6e %.6e\n", t, sc / nc, sq / nq);
    }
    fprintf(f, "EOD\n");
    fprintf(f, "plot $pos using 1:2 with linespoints lw 2 lc 1 title 'causal', \\\n"
               "     $pos using 1:3 with linespoints lw 2 lc 2 title 'cubic', \\\n"
               "     %.6e with lines dt 2 lc 'gray40' title 'floor (position only, mean over "
               "positions)'\n", s->cfg->floor_acc);
    return gp_close(f, dir, rel);
}

/* ---- the section ---------------------------------------------------------------------- */

static void answer_table(FILE *f, const xdata *d)
{
    fprintf(f, "| task | setting | budget | seed pairs | cubic | causal | floor | learned "
               "(cubic, causal) | d = cubic − causal, 95%% interval | verdict |\n"
               "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int t = 0; t < 4; t++)
        for (int j = 0; j < d->ns; j++) {
            const xset *s = &d->s[j];
            if (strcmp(s->task, tasks[t])) continue;
            for (int b = 0; b < NBUDGET; b++) {
                const cmp *c = &s->b[b];
                char a[64], q[64], cc[64], v[400];
                fprintf(f, "| %s | %s | %s | %d | %s | %s | %.3f | %s, %s | %s | %s |\n", s->task,
                        s->setting, budget_names[b], c->k,
                        c->k ? (snprintf(q, sizeof q, "%.3f", c->mq), q) : "n/a",
                        c->k ? (snprintf(cc, sizeof cc, "%.3f", c->mc), cc) : "n/a",
                        s->cfg->floor, c->k ? learned_word(c->learned_q) : "n/a",
                        c->k ? learned_word(c->learned_c) : "n/a", fmt_d(c, a, sizeof a),
                        fmt_verdict(s, b, v, sizeof v));
            }
        }
    fprintf(f, "\nCubic and causal: the metric's mean over the compared seed pairs (accuracy; "
               "text: bits/char, lower is better). d > 0 means the cubic model is better (for "
               "text d = causal − cubic bits). Verdicts by docs/DESIGN.md §9.5 with δ = %.2f: "
               "\"learned\" = the mean beats the position-only floor by %.2f; \"not converged\" "
               "= a model's mean held-out loss at the budget point is more than %.0f%% below "
               "its value at the evaluation point nearest 3/4 of that step, so the difference "
               "measures learning speed, not capability. Equal wall time pairs each cubic run's "
               "final seconds with the causal point nearest them, only when both runs trained "
               "beside the same number of concurrent runs throughout; a causal run whose last "
               "point is more than %.0f%% short of the cubic run's seconds has \"not reached\" "
               "it.\n\n", DELTA, LEARN_MARGIN, 100 * CONV_DROP, 100 * WALL_SHORT);
}

/* The count of informative settings, the verdict counts, and the scale. */
static void answer_summary(FILE *f, const xdata *d)
{
    int informative = 0, capability = 0, count[NBUDGET][7] = {{0}};
    int dmin = INT_MAX, dmax = 0, lmin = INT_MAX, lmax = 0, nmin = INT_MAX, nmax = 0;
    long sq_lo = LONG_MAX, sq_hi = 0, sc_hi = 0, seen_q = 0, seen_c = 0;
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        int inf = 0, cap = 0;
        for (int b = 0; b < NBUDGET; b++) {
            const int v = s->b[b].verdict;
            count[b][v]++;
            inf |= v != V_NONE && v != V_UNINF;
            cap |= v == V_CUBIC || v == V_CAUSAL || v == V_EQUAL;
        }
        informative += inf;
        capability += cap;
        const xrow *c = s->cfg;
        if (c->d_model < dmin) dmin = c->d_model;
        if (c->d_model > dmax) dmax = c->d_model;
        if (c->layers < lmin) lmin = c->layers;
        if (c->layers > lmax) lmax = c->layers;
        if (c->n < nmin) nmin = c->n;
        if (c->n > nmax) nmax = c->n;
        if (c->steps_cubic < sq_lo) sq_lo = c->steps_cubic;
        if (c->steps_cubic > sq_hi) sq_hi = c->steps_cubic;
        if (s->steps_run[CAUSAL] > sc_hi) sc_hi = s->steps_run[CAUSAL];
        if (c->steps_cubic * c->batch > seen_q) seen_q = c->steps_cubic * c->batch;
        if (s->steps_run[CAUSAL] * c->batch > seen_c) seen_c = s->steps_run[CAUSAL] * c->batch;
    }
    fprintf(f, "**Informative settings: %d of %d** (at some budget a verdict other than "
               "\"uninformative\" or \"no verdict\"); %d of them with a capability verdict "
               "(cubic better, causal better or equal) at some budget, the rest only "
               "learning-speed results. ", informative, d->ns, capability);
    for (int b = 0; b < NBUDGET; b++)
        fprintf(f, "%s%s: cubic better %d, causal better %d, equal %d, not converged %d, "
                   "undecided %d, uninformative %d, no verdict %d", b ? "; " : "At ",
                budget_names[b], count[b][V_CUBIC], count[b][V_CAUSAL], count[b][V_EQUAL],
                count[b][V_NOTCONV], count[b][V_UNDECIDED], count[b][V_UNINF], count[b][V_NONE]);
    fprintf(f, ".\n\n");
    char w[64], l[64], n[64];
    if (dmin == dmax) snprintf(w, sizeof w, "%d", dmin); else snprintf(w, sizeof w, "%d..%d", dmin, dmax);
    if (lmin == lmax) snprintf(l, sizeof l, "%d", lmin); else snprintf(l, sizeof l, "%d..%d", lmin, lmax);
    if (nmin == nmax) snprintf(n, sizeof n, "%d", nmin); else snprintf(n, sizeof n, "%d..%d", nmin, nmax);
    fprintf(f, "**The scale these verdicts hold for:** width d_model %s, depth %s layers, "
               "sequence length N = %s, %ld..%ld cubic training steps (the causal runs up to "
               "%ld), at most %ld training sequences seen by a cubic model and %ld by a causal "
               "one (steps × batch). Nothing here speaks for larger width, depth, length or "
               "longer training. Trained on %s (code at commit `%s`), one thread a run.\n\n",
            w, l, n, sq_lo, sq_hi, sc_hi, seen_q, seen_c, d->nr ? d->r[0].cpu : "?",
            d->nr ? d->r[0].commit : "?");
}

/* The published result, and what reaching its scale would cost by extrapolation. */
static void published(FILE *f, const xdata *d)
{
    fprintf(f, "**The published result (cited, not re-measured here).** Ewer et al., "
               "\"ENTP: Encoder-only Next Token Prediction\" (arXiv 2410.01600, TMLR 2025), "
               "report that an encoder-only model — the cubic model here — learns Count3 and "
               "a decoder-only (causal) model of the same size does not, in their setting of "
               "N = %d and width %d (their %d-layer \"medium\" size). This suite's count3 is "
               "their task (docs/DESIGN.md §9.1) at a smaller scale.\n\n", PUB_N, PUB_D, PUB_L);
    const xset *big = NULL;
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        if (strcmp(s->task, "count3") || isnan(s->fps[CUBIC])) continue;
        if (!big || s->cfg->n > big->cfg->n ||
            (s->cfg->n == big->cfg->n && s->fps[CUBIC] > big->fps[CUBIC]))
            big = s;
    }
    if (!big) {
        fprintf(f, "No count3 setting has cubic rows, so the cost of the published scale is "
                   "not extrapolated.\n\n");
        return;
    }
    const xrow *c = big->cfg;
    const double scale = pow((double)PUB_N / c->n, 3) * pow((double)PUB_D / c->d_model, 2) *
                         ((double)PUB_L / c->layers);
    const double step = big->fps[CUBIC] * scale, total = step * PUB_STEPS;
    const double rate = big->sec[CUBIC] > 0 ? big->fps[CUBIC] / big->sec[CUBIC] : NAN;
    fprintf(f, "**What the published scale would cost (an extrapolation, not a measurement).** "
               "The largest count3 setting here, %s (N = %d, d_model %d, %d layers, batch %d), "
               "costs %.3g FLOPs per cubic training step (measured by the model's FLOP count). "
               "Scaled by (%d/N)^3 × (%d/d_model)^2 × (%d/L) = %.3g, a cubic step at the "
               "published scale costs about %.3g FLOPs, and an assumed %.0e steps about "
               "%.2g FLOPs", big->setting, c->n, c->d_model, c->layers, c->batch,
            big->fps[CUBIC], PUB_N, PUB_D, PUB_L, scale, step, PUB_STEPS, total);
    if (isfinite(rate))
        fprintf(f, ", %.2g days at the %.3g FLOP/s the cubic runs here reached", total / rate / 86400,
                rate);
    fprintf(f, ". Assumptions: the same batch (%d); the step's cost grows as N^3 (the "
               "attention of the middle layers; the products grow as N^2, so this overstates "
               "them), as d_model^2 (the products; attention grows as d_model, overstated) "
               "and in proportion to the depth", c->batch);
    if (c->layers > 2)
        fprintf(f, " (only the L − 2 middle layers carry the N^3 term, so for it the factor "
                   "is (%d − 2)/(%d − 2) = %.2g rather than %.2g: understated there)", PUB_L,
                c->layers, (double)(PUB_L - 2) / (c->layers - 2), (double)PUB_L / c->layers);
    fprintf(f, "; %.0e steps is an assumption, not the authors' figure.\n\n", PUB_STEPS);
}

/* The gap at count3 NB = 12 against NB = 16, per budget. */
static void trend(FILE *f, const xdata *d)
{
    const xset *a = NULL, *b = NULL;
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        if (strcmp(s->task, "count3")) continue;
        if (s->cfg->n == 12 && !a) a = s;
        if (s->cfg->n == 16 && !b) b = s;
    }
    fprintf(f, "**The gap from count3 NB = 12 to NB = 16.** ");
    if (!a || !b) {
        fprintf(f, "Not measured: the results lack %s.\n\n",
                !a && !b ? "both settings" : !a ? "the NB = 12 setting" : "the NB = 16 setting");
        return;
    }
    for (int k = 0; k < NBUDGET; k++) {
        const cmp *x = &a->b[k], *y = &b->b[k];
        char s1[64], s2[64];
        fprintf(f, "%s %s d = %s at NB = 12 (%s), %s at NB = 16 (%s)", k ? "; at" : "At",
                budget_names[k], fmt_d(x, s1, sizeof s1), verdict_names[x->verdict],
                fmt_d(y, s2, sizeof s2), verdict_names[y->verdict]);
        if (x->k >= 2 && y->k >= 2) {
            /* said by direction, never "larger" / "smaller": d < 0 growing in size is the
             * causal model pulling ahead */
            if (y->dlo > x->dhi)
                fprintf(f, ": the intervals do not overlap, d is higher at NB = 16 (it moves "
                           "toward the cubic model)");
            else if (y->dhi < x->dlo)
                fprintf(f, ": the intervals do not overlap, d is lower at NB = 16 (it moves "
                           "toward the causal model)");
            else fprintf(f, ": the intervals overlap, no trend established");
        }
    }
    fprintf(f, ". Two lengths are not a scaling law; a verdict of uninformative or not "
               "converged at either makes the comparison one of numbers, not of capability.\n\n");
}

/* The setting's configuration and floor. */
static void setting_config(FILE *f, const xset *s)
{
    const xrow *c = s->cfg;
    fprintf(f, "%d layers, N = %d, m = %d, vocabulary %d, %ld parameters, batch %d; %d "
               "seed(s); S = %ld cubic steps, S_f = %ld causal steps of equal FLOPs, causal "
               "runs of up to %ld steps. Floor (%s): %.3f %s.\n\n", c->layers, c->n, c->m,
            c->vocab, c->params, c->batch, s->nseeds, c->steps_cubic, c->steps_flops,
            s->steps_run[CAUSAL], is_text(s->task) ? "unigram" : "position only", c->floor,
            is_text(s->task) ? "bits/char" : "accuracy");
}

/* A setting neither model learned at any point of its runs says why it says nothing. */
static void unlearned_note(FILE *f, const xset *s)
{
    int any_learned = 0;
    for (int i = 0; i < NBUDGET; i++)
        any_learned |= s->b[i].learned_q || s->b[i].learned_c;
    any_learned |= s->end.learned_c;
    if (!any_learned)
        fprintf(f, "Neither model learned this setting: no budget point and not the end of "
                   "the causal run (%ld steps, %ld sequences) beats the floor by the margin, so "
                   "it is uninformative and says nothing about which model is more powerful "
                   "(docs/DESIGN.md §9.2 says how its training length was chosen).\n\n",
                s->steps_run[CAUSAL], s->steps_run[CAUSAL] * (long)s->cfg->batch);
}

/* The table of the cubic run's final point and the causal run's point at each budget and
 * at its end. */
static void points_table(FILE *f, const xset *s)
{
    fprintf(f, "| run, budget | step | %s, mean (min..max) | learned | sequence accuracy | "
               "held-out loss change over the last quarter |\n|---|---|---|---|---|---|\n",
            metric_name(s->task));
    const cmp *e = &s->b[B_STEPS];
    char m[80], st[64];
    if (e->k)
        fprintf(f, "| cubic, final | %ld | %s | %s | %.3f | %+.1f%% |\n", s->cfg->steps_cubic,
                fmt_m(e->mq, e->lq, e->hq, e->k, m, sizeof m), learned_word(e->learned_q),
                e->seq_q, 100 * e->slope_q);
    const cmp *rows[4] = {&s->b[B_STEPS], &s->b[B_FLOPS], &s->b[B_WALL], &s->end};
    static const char *const label[4] = {"causal, equal steps", "causal, equal FLOPs",
                                         "causal, equal wall time", "causal, end of run"};
    for (int i = 0; i < 4; i++) {
        const cmp *x = rows[i];
        if (!x->k) {
            fprintf(f, "| %s | — | no point (%d of %d seeds) | | | |\n", label[i], x->k,
                    s->nseeds);
            continue;
        }
        if (x->step_lo == x->step_hi) snprintf(st, sizeof st, "%ld", x->step_lo);
        else snprintf(st, sizeof st, "%ld..%ld", x->step_lo, x->step_hi);
        fprintf(f, "| %s | %s | %s | %s | %.3f | %+.1f%% |\n", label[i], st,
                fmt_m(x->mc, x->lc, x->hc, x->k, m, sizeof m), learned_word(x->learned_c),
                x->seq_c, 100 * x->slope_c);
    }
}

/* Training cost per step of each model, and what limited the equal-time comparison. */
static void cost_note(FILE *f, const xset *s)
{
    fprintf(f, "\nTraining cost per step: cubic %.3g FLOPs and %s, causal %.3g FLOPs and %s "
               "(cubic / causal: %.2fx FLOPs, %.2fx seconds; seconds are the mean over seeds "
               "of each run's training seconds / steps).", s->fps[CUBIC], fmt_s(s->sec[CUBIC]),
            s->fps[CAUSAL], fmt_s(s->sec[CAUSAL]), s->fps[CUBIC] / s->fps[CAUSAL],
            s->sec[CUBIC] / s->sec[CAUSAL]);
    const cmp *w = &s->b[B_WALL];
    if (w->k)
        fprintf(f, " At equal wall time the causal points' seconds are %.2f..%.2f of the cubic "
                   "run's.", w->wall_ratio_lo, w->wall_ratio_hi);
    if (w->not_reached)
        fprintf(f, " %d causal run(s) ended more than %.0f%% short of the cubic run's seconds "
                   "(not reached).", w->not_reached, 100 * WALL_SHORT);
    if (w->other_load)
        fprintf(f, " %d seed pair(s) trained under different numbers of concurrent runs (no "
                   "equal-time comparison).", w->other_load);
    fprintf(f, "\n\n");
}

/* The learning curves, and accuracy by position where the task has it. */
static void setting_plots(FILE *f, const xset *s, const char *plots_dir, const char *link)
{
    char png[300];
    if (plot_curves(s, plots_dir, png, sizeof png) == 0)
        fprintf(f, "![%s %s learning curves](%s/%s)\n\n", s->task, s->setting, link, png);
    if (!is_text(s->task) && s->b[B_STEPS].k && plot_positions(s, plots_dir, png, sizeof png) == 0)
        fprintf(f, "![%s %s accuracy by position](%s/%s)\n\n", s->task, s->setting, link, png);
}

static void setting_section(FILE *f, const xset *s, const char *plots_dir, const char *link)
{
    fprintf(f, "#### %s %s\n\n", s->task, s->setting);
    setting_config(f, s);
    unlearned_note(f, s);
    points_table(f, s);
    cost_note(f, s);
    setting_plots(f, s, plots_dir, link);
}

static void infer_summary(FILE *f, const xdata *d)
{
    fprintf(f, "**Inference check.** Every trained model predicted every held-out position "
               "again through the deployed path (`model_infer`: the causal model prefills one "
               "token and decodes the rest with its KV cache; the cubic model runs each prefix "
               "alone) and its argmax was compared with the training forward's. Near ties "
               "(top two logits within 1e-4 of the row's largest |logit|) are counted apart.\n\n");
    if (!d->have_infer) {
        fprintf(f, "No results/experiment_infer.csv: the check's counts are missing.\n\n");
        return;
    }
    fprintf(f, "| task | model | trained models | positions | mismatches | near ties | "
               "max relative logit difference |\n|---|---|---|---|---|---|---|\n");
    long total = 0;
    for (int t = 0; t < 4; t++)
        for (int m = 0; m < 2; m++) {
            long runs = 0, pos = 0, mis = 0, ties = 0;
            double diff = 0;
            for (int r = 0; r < d->ninf; r++) {
                const exp_infer_row *x = &d->inf[r];
                if (strcmp(x->task, tasks[t]) || strcmp(x->model, model_names[m])) continue;
                runs++;
                pos += (long)x->positions;
                mis += (long)x->mismatches;
                ties += (long)x->near_ties;
                diff = fmax(diff, x->max_rel_diff);
            }
            if (runs == 0) continue;
            total += mis;
            fprintf(f, "| %s | %s | %ld | %ld | %ld | %ld | %.2e |\n", tasks[t], model_names[m],
                    runs, pos, mis, ties, diff);
        }
    fprintf(f, "\n%s\n\n", total == 0 ? "No held-out prediction of the inference path differs "
                                        "from the training forward's."
                                      : "**Some predictions of the inference path differ from "
                                        "the training forward's** (see the table).");
}

/* A row of experiment_infer.csv checked: known task and model, counts >= 0, times >= 0
 * (the times may be missing in a file written before they were recorded). */
static int check_infer(const table *t, int r, void *rec)
{
    const exp_infer_row *x = rec;
    if (one_of(x->task, tasks, 4) < 0) return fail(t, r, "task", "unknown task '%s'", x->task);
    if (one_of(x->model, model_names, 2) < 0)
        return fail(t, r, "model", "unknown model '%s'", x->model);
    const struct { const char *name; int64_t v; } counts[] = {
        {"steps_run", x->steps_run}, {"sequences", x->sequences}, {"positions", x->positions},
        {"mismatches", x->mismatches}, {"near_ties", x->near_ties}};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
        if (int_in(t, r, counts[k].name, counts[k].v, 0, LONG_MAX)) return -1;
    return real_in(t, r, "max_rel_diff", x->max_rel_diff, 0, INFINITY, 0) ||
                   real_in(t, r, "prefill_s", x->prefill_s, 0, INFINITY, 1) ||
                   real_in(t, r, "generate_s", x->generate_s, 0, INFINITY, 1)
               ? -1
               : 0;
}

/* Mean over the trained models of (task, setting, model) of an inference cost (generate:
 * generate_s, else prefill_s); NaN when none has it. */
static double infer_cost_mean(const xdata *d, const char *task, const char *setting,
                              const char *model, int generate)
{
    double sum = 0;
    int k = 0;
    for (int r = 0; r < d->ninf; r++) {
        const exp_infer_row *x = &d->inf[r];
        const double s = generate ? x->generate_s : x->prefill_s;
        if (strcmp(x->task, task) || strcmp(x->setting, setting) || strcmp(x->model, model) ||
            !isfinite(s))
            continue;
        sum += s;
        k++;
    }
    return k ? sum / k : NAN;
}

/* What each trained model costs to run on its held-out sequences. */
static void infer_cost(FILE *f, const xdata *d)
{
    char threads[24] = "";
    if (d->nr) snprintf(threads, sizeof threads, "%lld", (long long)d->rec[0].threads);
    fprintf(f, "**Inference cost of the trained models** (mean over seeds, per held-out "
               "sequence of N tokens, %s, %s thread(s)): prefill = the next-token distribution after "
               "all N tokens; generate = every position from a one-token prompt through the "
               "deployed path (causal: KV-cache steps; cubic: a pass over each prefix).\n\n",
            d->nr ? d->rec[0].impl : "", threads);
    int shown = 0;
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        const double pc = infer_cost_mean(d, s->task, s->setting, "causal", 0),
                     pq = infer_cost_mean(d, s->task, s->setting, "cubic", 0),
                     gc = infer_cost_mean(d, s->task, s->setting, "causal", 1),
                     gq = infer_cost_mean(d, s->task, s->setting, "cubic", 1);
        if (!(pc > 0 && pq > 0 && gc > 0 && gq > 0)) continue;
        if (!shown++)
            fprintf(f, "| task | setting | N | prefill causal | prefill cubic | cubic / causal "
                       "| generate causal | generate cubic | cubic / causal |\n"
                       "|---|---|---|---|---|---|---|---|---|\n");
        fprintf(f, "| %s | %s | %d | %s | %s | %.2f | %s | %s | %.2f |\n", s->task, s->setting,
                s->cfg->n, fmt_s(pc), fmt_s(pq), pq / pc, fmt_s(gc), fmt_s(gq), gq / gc);
    }
    if (!shown)
        fprintf(f, "Not recorded: no setting has prefill_s and generate_s for both models in "
                   "experiment_infer.csv.\n");
    fprintf(f, "\n");
}

static void section(FILE *f, const xdata *d, const char *results, const char *plots_dir,
                    const char *link)
{
    fprintf(f, "## Is a cubic model more powerful?\n\n");
    if (!d->t.nrows) {
        fprintf(f, "No experiment results (%s/experiment.csv is absent or empty). Run `make "
                   "experiment` (docs/DESIGN.md §9: causal and cubic models of the same size "
                   "trained on count3, count3_fixed, induction and text at equal steps, equal "
                   "training FLOPs and equal wall time), then `make report`.\n\n", results);
        return;
    }
    int seeds = 0;
    for (int j = 0; j < d->ns; j++) seeds = d->s[j].nseeds > seeds ? d->s[j].nseeds : seeds;
    const xrow *c0 = d->s[0].cfg;
    fprintf(f, "_From %s/experiment.csv (%d evaluation points, %d settings, up to %d seeds "
               "per setting)._ Each setting trains, per seed, a causal and a cubic model "
               "(packed) of the same configuration (d_model %d, %d heads, batch %d) from the "
               "same initialisation and data, with the same AdamW and learning-rate schedule; "
               "one causal run serves the three budgets. Tasks, floors and the verdict rules "
               "are docs/DESIGN.md §9, fixed before the run.\n\n", results, d->nr, d->ns, seeds,
            c0->d_model, c0->heads, c0->batch);
    fprintf(f, "### The answer\n\n");
    answer_table(f, d);
    answer_summary(f, d);
    published(f, d);
    trend(f, d);
    fprintf(f, "### Per setting\n\n");
    for (int t = 0; t < 4; t++)
        for (int j = 0; j < d->ns; j++)
            if (!strcmp(d->s[j].task, tasks[t])) setting_section(f, &d->s[j], plots_dir, link);
    fprintf(f, "### Inference\n\n");
    infer_summary(f, d);
    if (d->have_infer) infer_cost(f, d);
}

/* A file of an earlier version of the experiment (chance_acc instead of the position-only
 * floor): its columns cannot give §9.5's verdicts. */
static int old_format(const table *t)
{
    return table_col(t, "floor_acc") < 0 && table_col(t, "chance_acc") >= 0;
}

static int load(xdata *d)
{
    d->rec = calloc((size_t)d->t.nrows + 1, sizeof *d->rec);
    d->r = calloc((size_t)d->t.nrows + 1, sizeof *d->r);
    if (!d->rec || !d->r) {
        fprintf(stderr, "report: %s: out of memory\n", d->t.path);
        return -1;
    }
    if (csv_read_table(&d->t, &exp_row_format, "experiment", d->rec, sizeof *d->rec, NULL) < 0)
        return -1;
    for (int i = 0; i < d->t.nrows; i++) {
        d->nr++;
        if (load_row(&d->t, i, &d->rec[i], &d->r[i]) != 0) return -1;
    }
    /* One machine: the equal-time budget and every second per step compare runs that
     * must have trained on the same CPU. */
    for (int i = 1; i < d->nr; i++)
        if (strcmp(d->r[i].cpu, d->r[0].cpu) != 0)
            return fail(&d->t, i, "cpu", "'%s', while record %d says '%s': rows from two machines",
                        d->r[i].cpu, d->r[0].rec, d->r[0].cpu);
    if (d->have_infer) {
        if (!(d->inf = calloc((size_t)d->ti.nrows + 1, sizeof *d->inf))) return -1;
        d->ninf = csv_read_table(&d->ti, &exp_infer_format, "experiment", d->inf, sizeof *d->inf,
                                 check_infer);
        if (d->ninf < 0) return -1;
    }
    if (build_sets(d) != 0) return -1;
    analyse(d);
    return 0;
}

int experiment_section(FILE *f, const char *results, const char *plots_dir, const char *link)
{
    xdata d;
    memset(&d, 0, sizeof d);
    char path[1200];
    snprintf(path, sizeof path, "%s/experiment.csv", results);
    int rc = 0, old = 0;
    if (access(path, F_OK) == 0) {
        if (table_read("report", path, &d.t) != 0) return -1;
        snprintf(path, sizeof path, "%s/experiment_infer.csv", results);
        if (access(path, F_OK) == 0) {
            if (table_read("report", path, &d.ti) != 0) { table_free(&d.t); return -1; }
            d.have_infer = 1;
        }
        old = old_format(&d.t);
        if (!old && load(&d) != 0) rc = -1;
    }
    /* plots_dir is the report's fresh staging dir (main.c): a stale experiment plot
     * goes with the old plots dir, and a failure here leaves that dir as it was */
    if (rc == 0) {
        if (old)
            fprintf(f, "## Is a cubic model more powerful?\n\n%s/experiment.csv was written by "
                       "an earlier version of the experiment (a majority-class \"chance\" "
                       "instead of the position-only floor, no equal-time columns), so "
                       "docs/DESIGN.md §9.5's verdicts cannot be computed from it and none is "
                       "stated. Run `make experiment`, then `make report`.\n\n", results);
        else section(f, &d, results, plots_dir, link);
    }
    for (int i = 0; i < d.nr; i++) free(d.r[i].pos);
    free(d.r);
    free(d.rec);
    free(d.inf);
    free(d.s);
    if (d.t.nrows || d.t.header) table_free(&d.t);
    if (d.have_infer) table_free(&d.ti);
    return rc;
}
