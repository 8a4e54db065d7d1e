/* experiment.c: REPORT.md's section "Is a cubic model more powerful?" from
 * results/experiment.csv and results/experiment_infer.csv (make experiment,
 * docs/DESIGN.md §9), with one learning-curve plot per setting in the plots dir
 * (experiment_<task>_<setting>.png). The section is appended to the report the rest of
 * the program wrote (a temp file, then a rename). Every sentence that compares the
 * models is chosen by the numbers: two models differ in a setting only when their
 * ranges over seeds do not overlap. */
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXSET 64
#define MAXSEED 16
#define MAXPT 64

/* One evaluation point. */
typedef struct xrow {
    const char *task, *setting, *model, *budget;
    int seed, layers, n, m, d_model, heads, batch, params;
    long step, steps_cubic, steps_run;
    double flops, flops_per_step, wall, metric, chance_acc, chance_bits;
} xrow;

/* Mean and range over seeds of one model's metric at one budget. */
typedef struct stat3 {
    int k;
    double mean, lo, hi;
} stat3;

/* One (task, setting): its runs' final metrics and learning curves. */
typedef struct xset {
    const char *task, *setting;
    int layers, n, m, params, d_model, heads, batch;
    long steps_cubic;
    double chance;                      /* chance level in the task's metric */
    double fps_causal, fps_cubic;       /* training FLOPs per step */
    double wall_causal, wall_cubic;     /* training seconds per step, mean over seeds */
    stat3 causal_steps, causal_flops, cubic;
    long causal_steps_run;
} xset;

static int is_text(const char *task) { return strcmp(task, "text") == 0; }
static int higher_better(const char *task) { return !is_text(task); }
static const char *metric_name(const char *task)
{
    return is_text(task) ? "held-out bits/char" : "held-out exact-match accuracy";
}

static void stat_add(stat3 *s, double x)
{
    if (!isfinite(x)) return;
    if (s->k == 0) s->lo = s->hi = x;
    s->lo = fmin(s->lo, x);
    s->hi = fmax(s->hi, x);
    s->mean = (s->mean * s->k + x) / (s->k + 1);
    s->k++;
}

static const char *fmt_stat(const stat3 *s, char *buf, size_t cap)
{
    if (s->k == 0) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, "%.3f (%.3f..%.3f)", s->mean, s->lo, s->hi);
    return buf;
}

/* +1: cubic better than causal beyond the seed spread (ranges disjoint), -1 causal
 * better, 0 no difference beyond it, 2 undecided (fewer than two seeds: no spread). */
static int verdict(const char *task, const stat3 *cubic, const stat3 *causal)
{
    if (cubic->k < 2 || causal->k < 2) return 2;
    const int hb = higher_better(task);
    if (hb ? cubic->lo > causal->hi : cubic->hi < causal->lo) return 1;
    if (hb ? causal->lo > cubic->hi : causal->hi < cubic->lo) return -1;
    return 0;
}

/* Above chance in every seed. */
static int beats_chance(const char *task, const stat3 *s, double chance)
{
    return s->k > 0 && (higher_better(task) ? s->lo > chance : s->hi < chance);
}

typedef struct xdata {
    table t, ti;
    int have_infer;
    xrow *r;
    int nr;
    xset s[MAXSET];
    int ns;
} xdata;

static int num_col(const table *t, int r, const char *name, double *x)
{
    int c = table_col(t, name);
    if (c < 0) {
        fprintf(stderr, "report: %s: no column '%s'\n", t->path, name);
        return -1;
    }
    const char *s = t->rows[r][c];
    char *end;
    *x = s[0] ? strtod(s, &end) : NAN;
    if (s[0] && *end) {
        fprintf(stderr, "report: %s: record %d: column '%s' is not a number: '%s'\n", t->path,
                r + 2, name, s);
        return -1;
    }
    return 0;
}

static const char *str_col(const table *t, int r, const char *name)
{
    int c = table_col(t, name);
    return c < 0 ? "" : t->rows[r][c];
}

static int load_rows(xdata *d)
{
    d->r = calloc((size_t)(d->t.nrows ? d->t.nrows : 1), sizeof *d->r);
    if (!d->r) {
        fprintf(stderr, "report: %s: out of memory\n", d->t.path);
        return -1;
    }
    for (int i = 0; i < d->t.nrows; i++) {
        xrow *x = &d->r[d->nr];
        double v[16];
        static const char *const nums[16] = {"seed", "layers", "n", "m", "d_model", "heads",
                                             "batch", "params", "step", "steps_cubic",
                                             "steps_run", "train_flops", "flops_per_step",
                                             "wall_s", "chance_acc", "chance_bits"};
        for (int k = 0; k < 16; k++)
            if (num_col(&d->t, i, nums[k], &v[k]) != 0) return -1;
        x->task = str_col(&d->t, i, "task");
        x->setting = str_col(&d->t, i, "setting");
        x->model = str_col(&d->t, i, "model");
        x->budget = str_col(&d->t, i, "budget");
        x->seed = (int)v[0]; x->layers = (int)v[1]; x->n = (int)v[2]; x->m = (int)v[3];
        x->d_model = (int)v[4]; x->heads = (int)v[5]; x->batch = (int)v[6];
        x->params = (int)v[7]; x->step = (long)v[8]; x->steps_cubic = (long)v[9];
        x->steps_run = (long)v[10]; x->flops = v[11]; x->flops_per_step = v[12];
        x->wall = v[13]; x->chance_acc = v[14]; x->chance_bits = v[15];
        if (num_col(&d->t, i, is_text(x->task) ? "test_bits" : "test_acc", &x->metric) != 0)
            return -1;
        d->nr++;
    }
    return 0;
}

/* The final row of (task, setting, model, seed) within a budget (NULL: any). */
static const xrow *final_row(const xdata *d, const xset *s, const char *model, int seed,
                             const char *budget)
{
    const xrow *best = NULL;
    for (int i = 0; i < d->nr; i++) {
        const xrow *x = &d->r[i];
        if (strcmp(x->task, s->task) || strcmp(x->setting, s->setting) ||
            strcmp(x->model, model) || x->seed != seed)
            continue;
        if (budget && strcmp(x->budget, budget)) continue;
        if (!best || x->step > best->step) best = x;
    }
    return best;
}

static void build_sets(xdata *d)
{
    for (int i = 0; i < d->nr; i++) {
        const xrow *x = &d->r[i];
        int j = 0;
        while (j < d->ns && (strcmp(d->s[j].task, x->task) || strcmp(d->s[j].setting, x->setting)))
            j++;
        if (j == d->ns) {
            if (d->ns == MAXSET) continue;
            xset *s = &d->s[d->ns++];
            memset(s, 0, sizeof *s);
            s->task = x->task;
            s->setting = x->setting;
            s->layers = x->layers; s->n = x->n; s->m = x->m; s->params = x->params;
            s->d_model = x->d_model; s->heads = x->heads; s->batch = x->batch;
            s->steps_cubic = x->steps_cubic;
            s->chance = is_text(x->task) ? x->chance_bits : x->chance_acc;
        }
        xset *s = &d->s[j];
        if (strcmp(x->model, "cubic") == 0) s->fps_cubic = x->flops_per_step;
        else { s->fps_causal = x->flops_per_step; s->causal_steps_run = x->steps_run; }
    }
    for (int j = 0; j < d->ns; j++) {
        xset *s = &d->s[j];
        stat3 wc = {0}, wq = {0};
        for (int seed = 0; seed <= MAXSEED; seed++) {
            const xrow *a = final_row(d, s, "causal", seed, "equal_steps");
            const xrow *b = final_row(d, s, "causal", seed, NULL);
            const xrow *c = final_row(d, s, "cubic", seed, NULL);
            if (a) stat_add(&s->causal_steps, a->metric);
            if (b && b->step > s->steps_cubic) stat_add(&s->causal_flops, b->metric);
            if (c) stat_add(&s->cubic, c->metric);
            if (b && b->step > 0) stat_add(&wc, b->wall / (double)b->step);
            if (c && c->step > 0) stat_add(&wq, c->wall / (double)c->step);
        }
        s->wall_causal = wc.k ? wc.mean : NAN;
        s->wall_cubic = wq.k ? wq.mean : NAN;
    }
}

/* ---- the learning-curve plot of one setting ------------------------------------------ */

/* Mean, min, max over seeds of model's metric at each evaluation step; returns points. */
static int curve(const xdata *d, const xset *s, const char *model, long *step, double *flops,
                 double *mean, double *lo, double *hi)
{
    int k = 0;
    for (int i = 0; i < d->nr; i++) {
        const xrow *x = &d->r[i];
        if (strcmp(x->task, s->task) || strcmp(x->setting, s->setting) ||
            strcmp(x->model, model) || !isfinite(x->metric))
            continue;
        int j = 0;
        while (j < k && step[j] != x->step) j++;
        if (j == k) {
            if (k == MAXPT) continue;
            step[k] = x->step;
            flops[k] = x->flops;
            mean[k] = 0; /* a sum here, divided by the seed count below */
            lo[k] = hi[k] = x->metric;
            k++;
        }
        lo[j] = fmin(lo[j], x->metric);
        hi[j] = fmax(hi[j], x->metric);
        mean[j] += x->metric;
    }
    for (int j = 0; j < k; j++) {
        int c = 0;
        for (int i = 0; i < d->nr; i++) {
            const xrow *x = &d->r[i];
            c += !strcmp(x->task, s->task) && !strcmp(x->setting, s->setting) &&
                 !strcmp(x->model, model) && x->step == step[j] && isfinite(x->metric);
        }
        mean[j] /= c;
    }
    /* ascending steps */
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && step[b] < step[b - 1]; b--) {
            long ts = step[b]; step[b] = step[b - 1]; step[b - 1] = ts;
            double t;
            t = flops[b]; flops[b] = flops[b - 1]; flops[b - 1] = t;
            t = mean[b]; mean[b] = mean[b - 1]; mean[b - 1] = t;
            t = lo[b]; lo[b] = lo[b - 1]; lo[b - 1] = t;
            t = hi[b]; hi[b] = hi[b - 1]; hi[b - 1] = t;
        }
    return k;
}

static int plot_setting(const xdata *d, const xset *s, const char *dir, char *png, size_t cap)
{
    snprintf(png, cap, "experiment_%s_%s.png", s->task, s->setting);
    char gp[1400], rel[300];
    snprintf(rel, sizeof rel, "gnuplot/experiment_%s_%s.gp", s->task, s->setting);
    snprintf(gp, sizeof gp, "%s/%s", dir, rel);
    FILE *f = fopen(gp, "w");
    if (!f) {
        fprintf(stderr, "report: cannot write '%s': %s\n", gp, strerror(errno));
        return -1;
    }
    fprintf(f, "# generated by build/report from results/experiment.csv; run from the plots dir\n");
    fprintf(f, "set terminal %s size 1100,460 noenhanced\nset output '%s'\n", plots_terminal(), png);
    fprintf(f, "set grid\nset key below\nset ylabel '%s'\n", metric_name(s->task));
    fprintf(f, "set multiplot layout 1,2 title '%s %s: mean over seeds, bars min..max'\n",
            s->task, s->setting);
    static const char *const models[2] = {"causal", "cubic"};
    long st[MAXPT];
    double fl[MAXPT], mn[MAXPT], lo[MAXPT], hi[MAXPT];
    int have[2];
    for (int m = 0; m < 2; m++) {
        have[m] = curve(d, s, models[m], st, fl, mn, lo, hi);
        fprintf(f, "$%s << EOD\n", models[m]);
        for (int j = 0; j < have[m]; j++)
            fprintf(f, "%ld %.6e %.6e %.6e %.6e\n", st[j], fl[j], mn[j], lo[j], hi[j]);
        fprintf(f, "EOD\n");
    }
    for (int panel = 0; panel < 2; panel++) {
        fprintf(f, "set xlabel '%s'\n", panel == 0 ? "training steps" : "training FLOPs");
        fprintf(f, "plot ");
        for (int m = 0; m < 2; m++)
            if (have[m])
                fprintf(f, "$%s using %d:3:4:5 with yerrorlines lw 2 lc %d title '%s', \\\n    ",
                        models[m], panel == 0 ? 1 : 2, m + 1, models[m]);
        fprintf(f, "%.6e with lines dt 2 lc 'gray40' title 'chance (%s)'\n", s->chance,
                is_text(s->task) ? "unigram" : "most frequent target");
    }
    fprintf(f, "unset multiplot\n");
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || run_gnuplot(dir, rel) != 0) {
        fprintf(stderr, "report: gnuplot failed on '%s'\n", gp);
        return -1;
    }
    return 0;
}

/* ---- the section ------------------------------------------------------------------- */

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
    static const char *const tasks[3] = {"count3", "induction", "text"};
    static const char *const models[2] = {"causal", "cubic"};
    long total = 0;
    for (int t = 0; t < 3; t++)
        for (int m = 0; m < 2; m++) {
            long runs = 0, pos = 0, mis = 0, ties = 0;
            double diff = 0;
            for (int r = 0; r < d->ti.nrows; r++) {
                if (strcmp(str_col(&d->ti, r, "task"), tasks[t]) ||
                    strcmp(str_col(&d->ti, r, "model"), models[m]))
                    continue;
                double p, x, y, z;
                if (num_col(&d->ti, r, "positions", &p) || num_col(&d->ti, r, "mismatches", &x) ||
                    num_col(&d->ti, r, "near_ties", &y) || num_col(&d->ti, r, "max_rel_diff", &z))
                    continue;
                runs++;
                pos += (long)p;
                mis += (long)x;
                ties += (long)y;
                diff = fmax(diff, z);
            }
            if (runs == 0) continue;
            total += mis;
            fprintf(f, "| %s | %s | %ld | %ld | %ld | %ld | %.2e |\n", tasks[t], models[m], runs,
                    pos, mis, ties, diff);
        }
    fprintf(f, "\n%s\n\n", total == 0 ? "No held-out prediction of the inference path differs "
                                        "from the training forward's."
                                      : "**Some predictions of the inference path differ from "
                                        "the training forward's** (see the table).");
}

static void task_section(FILE *f, const xdata *d, const char *task, const char *plots_dir,
                         const char *link)
{
    int any = 0;
    for (int j = 0; j < d->ns; j++) any |= !strcmp(d->s[j].task, task);
    if (!any) return;
    const int hb = higher_better(task);
    fprintf(f, "### %s\n\n", task);
    fprintf(f, "Metric: %s (%s is better); mean over seeds (min..max). \"causal, equal steps\" "
               "is the causal model after the cubic model's S steps, \"causal, equal FLOPs\" "
               "after the steps the cubic model's training FLOPs buy. Verdict: which model's "
               "range over seeds lies wholly beyond the other's.\n\n",
            metric_name(task), hb ? "higher" : "lower");
    fprintf(f, "| setting | params | chance | cubic (S steps) | causal, equal steps | "
               "causal, equal FLOPs (steps) | FLOPs/step cubic / causal | time/step cubic / "
               "causal | verdict, equal steps | verdict, equal FLOPs |\n"
               "|---|---|---|---|---|---|---|---|---|---|\n");
    int win[2][4] = {{0}}; /* [budget][cubic, none, causal, undecided] */
    int sets = 0, cubic_chance = 0, causal_chance = 0, causal_chance_f = 0;
    double gap[2][MAXSET]; /* |mean difference| / largest seed range, per budget */
    static const char *const vname[4] = {"cubic better", "no difference beyond seed spread",
                                         "causal better", "undecided (one seed)"};
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        if (strcmp(s->task, task)) continue;
        char a[64], b[64], c[64];
        const int v0 = verdict(task, &s->cubic, &s->causal_steps);
        const int v1 = verdict(task, &s->cubic, &s->causal_flops);
        const int i0 = v0 == 2 ? 3 : 1 - v0, i1 = v1 == 2 ? 3 : 1 - v1;
        win[0][i0]++;
        win[1][i1]++;
        const stat3 *cmp[2] = {&s->causal_steps, &s->causal_flops};
        for (int k = 0; k < 2; k++) {
            const double spread = fmax(s->cubic.hi - s->cubic.lo, cmp[k]->hi - cmp[k]->lo);
            gap[k][sets] = spread > 0 ? fabs(s->cubic.mean - cmp[k]->mean) / spread : NAN;
        }
        sets++;
        cubic_chance += beats_chance(task, &s->cubic, s->chance);
        causal_chance += beats_chance(task, &s->causal_steps, s->chance);
        causal_chance_f += beats_chance(task, &s->causal_flops, s->chance);
        fprintf(f, "| %s | %d | %.3f | %s | %s | %s (%ld) | %.1fx | %.1fx | %s | %s |\n",
                s->setting, s->params, s->chance, fmt_stat(&s->cubic, a, sizeof a),
                fmt_stat(&s->causal_steps, b, sizeof b), fmt_stat(&s->causal_flops, c, sizeof c),
                s->causal_steps_run, s->fps_causal > 0 ? s->fps_cubic / s->fps_causal : NAN,
                s->wall_causal > 0 ? s->wall_cubic / s->wall_causal : NAN, vname[i0], vname[i1]);
    }
    fprintf(f, "\n");
    /* The conclusion, from the counts above. */
    fprintf(f, "**Conclusion (%s, %d setting%s).** ", task, sets, sets == 1 ? "" : "s");
    /* Lists below give the setting and the cubic mean minus the causal mean. */
    static const char *const budget[2] = {"equal steps", "equal training FLOPs"};
    for (int k = 0; k < 2; k++) {
        double gmax = NAN;
        for (int i = 0; i < sets; i++)
            if (isfinite(gap[k][i])) gmax = isnan(gmax) ? gap[k][i] : fmax(gmax, gap[k][i]);
        if (win[k][3] == sets) {
            fprintf(f, "At %s no verdict: fewer than two seeds, so no seed spread to compare "
                       "the gap with. ", budget[k]);
            continue;
        }
        fprintf(f, "At %s the cubic model is better beyond the seed spread in %d, the causal "
                   "model in %d, and neither in %d", budget[k], win[k][0], win[k][2], win[k][1]);
        if (win[k][3]) fprintf(f, " (%d undecided: one seed)", win[k][3]);
        if (win[k][1] + win[k][3] == sets)
            fprintf(f, ": no difference beyond seed spread");
        if (isfinite(gmax))
            fprintf(f, "; the largest gap between the means is %.1fx the larger seed range of "
                       "the two models", gmax);
        fprintf(f, ". ");
        for (int side = 1; side >= -1; side -= 2) {
            int listed = 0;
            for (int j = 0; j < d->ns; j++) {
                const xset *s = &d->s[j];
                if (strcmp(s->task, task)) continue;
                const stat3 *other = k == 0 ? &s->causal_steps : &s->causal_flops;
                if (verdict(task, &s->cubic, other) != side) continue;
                fprintf(f, "%s%s (cubic minus causal %+.3f)", listed++ ? ", " : side > 0 ? "Cubic better: " : "Causal better: ",
                        s->setting, s->cubic.mean - other->mean);
            }
            if (listed) fprintf(f, ". ");
        }
    }
    fprintf(f, "Above chance in every seed: the cubic model in %d of %d settings, the causal "
               "model in %d at equal steps and %d at equal FLOPs.", cubic_chance, sets,
            causal_chance, causal_chance_f);
    if (cubic_chance == 0 && causal_chance_f == 0)
        fprintf(f, " Neither model learned the task beyond chance at these budgets, so the "
                   "runs say nothing about which is more powerful on it.");
    fprintf(f, "\n\n");
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        if (strcmp(s->task, task)) continue;
        char png[300];
        if (plot_setting(d, s, plots_dir, png, sizeof png) != 0) continue;
        fprintf(f, "![%s %s learning curves](%s/%s)\n\n", s->task, s->setting, link, png);
    }
}

static void remove_old_plots(const char *dir, const char *prefix)
{
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    closedir(dp);
}

/* Mean over the trained models of (task, setting, model) of an inference-cost column;
 * NaN when none has it. */
static double infer_cost_mean(const xdata *d, const char *task, const char *setting,
                              const char *model, const char *col)
{
    double sum = 0;
    int k = 0;
    for (int r = 0; r < d->ti.nrows; r++) {
        double x;
        if (strcmp(str_col(&d->ti, r, "task"), task) ||
            strcmp(str_col(&d->ti, r, "setting"), setting) ||
            strcmp(str_col(&d->ti, r, "model"), model) || table_col(&d->ti, col) < 0 ||
            num_col(&d->ti, r, col, &x) || !isfinite(x))
            continue;
        sum += x;
        k++;
    }
    return k ? sum / k : NAN;
}

/* What each trained model costs to run on its held-out sequences. */
static void infer_cost(FILE *f, const xdata *d)
{
    fprintf(f, "**Inference cost of the trained models** (mean over seeds, per held-out "
               "sequence of N tokens, %s, %s thread(s)): prefill = the next-token distribution after "
               "all N tokens; generate = every position from a one-token prompt through the "
               "deployed path (causal: KV-cache steps; cubic: a pass over each prefix).\n\n",
            d->t.nrows ? str_col(&d->t, 0, "impl") : "",
            d->t.nrows ? str_col(&d->t, 0, "threads") : "");
    int shown = 0;
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        const double pc = infer_cost_mean(d, s->task, s->setting, "causal", "prefill_s"),
                     pq = infer_cost_mean(d, s->task, s->setting, "cubic", "prefill_s"),
                     gc = infer_cost_mean(d, s->task, s->setting, "causal", "generate_s"),
                     gq = infer_cost_mean(d, s->task, s->setting, "cubic", "generate_s");
        if (!(pc > 0 && pq > 0 && gc > 0 && gq > 0)) continue;
        if (!shown++)
            fprintf(f, "| task | setting | N | prefill causal | prefill cubic | cubic / causal "
                       "| generate causal | generate cubic | cubic / causal |\n"
                       "|---|---|---|---|---|---|---|---|---|\n");
        fprintf(f, "| %s | %s | %d | %s | %s | %.2f | %s | %s | %.2f |\n", s->task, s->setting,
                s->n, fmt_s(pc), fmt_s(pq), pq / pc, fmt_s(gc), fmt_s(gq), gq / gc);
    }
    if (!shown)
        fprintf(f, "Not recorded: no setting has prefill_s and generate_s for both models in "
                   "experiment_infer.csv (a file written before the experiment timed its "
                   "inference lacks them). `make experiment` on an empty work dir records "
                   "them.\n");
    fprintf(f, "\n");
}

/* The answer over every setting, worded from the verdicts of the task sections. */
static void overall(FILE *f, const xdata *d)
{
    int better[2][3] = {{0}}; /* [budget][cubic, neither, causal] */
    int decided = 0, cubic_only = 0, layers = 0, n = 0;
    long cubic_lo = LONG_MAX, cubic_hi = 0, causal_hi = 0;
    double cost_lo = INFINITY, cost_hi = 0;
    for (int j = 0; j < d->ns; j++) {
        const xset *s = &d->s[j];
        /* the scale: every setting, decided or not */
        layers = s->layers > layers ? s->layers : layers;
        n = s->n > n ? s->n : n;
        cubic_lo = s->steps_cubic < cubic_lo ? s->steps_cubic : cubic_lo;
        cubic_hi = s->steps_cubic > cubic_hi ? s->steps_cubic : cubic_hi;
        causal_hi = s->causal_steps_run > causal_hi ? s->causal_steps_run : causal_hi;
        const int v[2] = {verdict(s->task, &s->cubic, &s->causal_steps),
                          verdict(s->task, &s->cubic, &s->causal_flops)};
        if (v[0] == 2 || v[1] == 2) continue;
        decided++;
        for (int k = 0; k < 2; k++) better[k][1 - v[k]]++;
        cubic_only += v[0] == 1 && v[1] == 1;
        if (s->fps_causal > 0) {
            cost_lo = fmin(cost_lo, s->fps_cubic / s->fps_causal);
            cost_hi = fmax(cost_hi, s->fps_cubic / s->fps_causal);
        }
    }
    fprintf(f, "**What the evidence supports at this scale.** ");
    if (!decided) {
        fprintf(f, "Nothing yet: no setting has two seeds of both models.\n\n");
        return;
    }
    fprintf(f, "Over the %d settings with at least two seeds of each model, the cubic model is "
               "better on the held-out metric beyond the seed spread in %d at equal steps and %d at equal "
               "training FLOPs; the causal model in %d and %d; neither in %d and %d. ",
            decided, better[0][0], better[1][0], better[0][2], better[1][2], better[0][1],
            better[1][1]);
    if (isfinite(cost_lo))
        fprintf(f, "A cubic training step costs %.1f to %.1f times the causal step's FLOPs "
                   "here. ", cost_lo, cost_hi);
    if (better[0][0] == 0 && better[1][0] == 0)
        fprintf(f, "So no setting shows the cubic model more powerful: at equal steps it "
                   "matches or trails the causal model, and given the same training FLOPs %s. ",
                better[1][2] ? "the causal model is ahead wherever the two differ"
                             : "neither is ahead");
    else
        fprintf(f, "The cubic model is ahead in %d setting(s) at equal steps and %d at equal "
                   "FLOPs (%d at both), named in the task sections below. ", better[0][0],
                better[1][0], cubic_only);
    fprintf(f, "This holds for models of d_model %d and at most %d layers, sequences of at "
               "most %d tokens, %ld to %ld cubic training steps (the causal model up to %ld); "
               "it does not rule out an advantage at larger width, depth or length, with "
               "longer training, or on other tasks. A setting where neither model beats "
               "chance (see each task) says nothing either way.\n\n",
            d->s[0].d_model, layers, n, cubic_lo, cubic_hi, causal_hi);
}

static void section(FILE *f, xdata *d, const char *results, const char *plots_dir,
                    const char *link)
{
    fprintf(f, "## Is a cubic model more powerful?\n\n");
    if (!d->t.nrows) {
        fprintf(f, "No experiment results (%s/experiment.csv is absent or empty). Run `make "
                   "experiment` (docs/DESIGN.md §9: causal and cubic models of the same size "
                   "trained on Count3, Induction and Text at equal steps and equal training "
                   "FLOPs, about 45 minutes on one core), then `make report`.\n\n", results);
        return;
    }
    const xset *s0 = &d->s[0];
    int seeds = 0;
    for (int i = 0; i < d->nr; i++) seeds = d->r[i].seed > seeds ? d->r[i].seed : seeds;
    fprintf(f, "_From %s/experiment.csv (%d evaluation points, %d settings, up to %d seeds "
               "per setting)._ Each setting trains a causal and a cubic model (packed) of the "
               "same configuration (d_model %d, %d heads, batch %d; parameter counts in the "
               "tables) from the same initialisation and data per seed, with the same AdamW "
               "and learning-rate schedule. The tasks and their chance levels are defined in "
               "docs/DESIGN.md §9.\n\n", results, d->nr, d->ns, seeds, s0->d_model, s0->heads,
            s0->batch);
    overall(f, d);
    static const char *const tasks[3] = {"count3", "induction", "text"};
    for (int t = 0; t < 3; t++) task_section(f, d, tasks[t], plots_dir, link);
    infer_summary(f, d);
    if (d->have_infer) infer_cost(f, d);
}

int experiment_section(FILE *f, const char *results, const char *plots_dir, const char *link)
{
    xdata d;
    memset(&d, 0, sizeof d);
    char path[1200];
    snprintf(path, sizeof path, "%s/experiment.csv", results);
    int rc = 0;
    if (access(path, F_OK) == 0) {
        if (table_read(path, &d.t) != 0) return -1;
        snprintf(path, sizeof path, "%s/experiment_infer.csv", results);
        if (access(path, F_OK) == 0) {
            if (table_read(path, &d.ti) != 0) { table_free(&d.t); return -1; }
            d.have_infer = 1;
        }
        if (load_rows(&d) != 0) rc = -1;
        else build_sets(&d);
    }
    if (rc == 0) { /* the old plots stay with the old report when this one fails */
        char gpdir[1100];
        snprintf(gpdir, sizeof gpdir, "%s/gnuplot", plots_dir);
        remove_old_plots(plots_dir, "experiment_");
        remove_old_plots(gpdir, "experiment_");
        section(f, &d, results, plots_dir, link);
    }
    free(d.r);
    if (d.t.nrows || d.t.header) table_free(&d.t);
    if (d.have_infer) table_free(&d.ti);
    return rc;
}
