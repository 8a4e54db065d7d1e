/* model.c: the model level of the report, from the rows of `bench --model`
 * (bench/model_sweep.c, docs/DESIGN.md §8.1):
 *   headline_L*.png   training and inference time vs N, causal vs cubic, log-log, N^2 and
 *                     N^3 guides, each line's fitted exponent in its legend
 *   model_time_L*.png every model cell of one depth against N
 * and the text: the headline at the top of REPORT.md, the "Model level" section. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 64

/* The lines of the headline: training and the two inference costs, both models. */
static const struct line {
    const char *model, *task, *label;
} headline_lines[] = {
    {"causal", "train", "causal train step"},       {"cubic", "train", "cubic train step"},
    {"causal", "prefill", "causal prefill"},        {"cubic", "prefill", "cubic prefill"},
    {"causal", "generate", "causal generate N tokens"},
    {"cubic", "generate", "cubic generate N tokens"},
};
enum { NHEAD = sizeof headline_lines / sizeof headline_lines[0] };

/* Every (model, task) the model bench times. */
static const struct line all_lines[] = {
    {"causal", "train", "causal train step"},      {"cubic", "train", "cubic train step"},
    {"cubic_loop", "train", "cubic_loop train step"},
    {"causal", "prefill", "causal prefill"},       {"cubic", "prefill", "cubic prefill"},
    {"causal", "step", "causal step at context N"}, {"cubic", "step", "cubic step at context N"},
    {"causal", "generate", "causal generate N tokens"},
    {"cubic", "generate", "cubic generate N tokens"},
};
enum { NALL = sizeof all_lines / sizeof all_lines[0] };

/* The ok series of (model, task) at depth L, sorted by N. */
static int mseries(const dataset *ds, const char *model, const char *task, int L, int *n,
                   double *t)
{
    int ns[MAXN], k = ds_model_ns(ds, task, L, ns, MAXN), c = 0;
    for (int i = 0; i < k; i++) {
        const model_record *x = ds_model(ds, model, task, L, ns[i]);
        if (x) {
            n[c] = ns[i];
            t[c++] = x->t_med;
        }
    }
    return c;
}

static fit mfit(const dataset *ds, const char *model, const char *task, int L)
{
    int n[MAXN];
    double t[MAXN];
    return fit_upper_half(n, t, mseries(ds, model, task, L, n, t));
}

/* Both models' task fitted over the same N (those both timed), or the exponents would not
 * be comparable; returns the largest of those N (0: none). */
static int mfit_pair(const dataset *ds, const char *task, int L, fit *causal, fit *cubic)
{
    int n[MAXN], k = 0;
    double tc[MAXN], tq[MAXN];
    int ns[MAXN], kn = ds_model_ns(ds, task, L, ns, MAXN);
    for (int i = 0; i < kn; i++) {
        const model_record *c = ds_model(ds, "causal", task, L, ns[i]),
                           *q = ds_model(ds, "cubic", task, L, ns[i]);
        if (c && q) {
            n[k] = ns[i];
            tc[k] = c->t_med;
            tq[k++] = q->t_med;
        }
    }
    *causal = fit_upper_half(n, tc, k);
    *cubic = fit_upper_half(n, tq, k);
    return k ? n[k - 1] : 0;
}

/* The standard depth: the deepest one with a timed cell of the headline chart (0: none). */
static int main_depth(const dataset *ds)
{
    int L = 0;
    for (int i = 0; i < ds->nm; i++) {
        const model_record *x = &ds->m[i];
        if (!x->ok || x->layers <= L) continue;
        for (int j = 0; j < NHEAD; j++)
            if (strcmp(x->model, headline_lines[j].model) == 0 &&
                strcmp(x->task, headline_lines[j].task) == 0)
                L = x->layers;
    }
    return L;
}

static const model_record *any_row(const dataset *ds, int L)
{
    for (int i = 0; i < ds->nm; i++)
        if (ds->m[i].layers == L) return &ds->m[i];
    return NULL;
}

static int plot_lines(const dataset *ds, const char *dir, const char *name, const char *title,
                      const struct line *lines, int nl, int L, plot_list *out)
{
    int n[NALL][MAXN], cnt[NALL], have = 0;
    double t[NALL][MAXN], nlo = INFINITY, nhi = 0, tlo = INFINITY, thi = 0;
    for (int i = 0; i < nl; i++) {
        cnt[i] = mseries(ds, lines[i].model, lines[i].task, L, n[i], t[i]);
        have += cnt[i] > 0;
        for (int j = 0; j < cnt[i]; j++) {
            range_update(n[i][j], &nlo, &nhi);
            range_update(t[i][j], &tlo, &thi);
        }
    }
    if (!have) return 0;
    /* Each guide through the middle (in log N and log t) of the line it is a guide for,
     * N^2 the causal training step, N^3 the cubic one (else any line), and drawn over
     * that line's N only: it runs along its data instead of leaving the frame from a
     * corner; the y range takes in both guides. */
    double gn[2], gt[2], ga[2], gb[2];
    for (int g = 0; g < 2; g++) {
        int pick = -1;
        for (int i = 0; i < nl; i++)
            if (cnt[i] && strcmp(lines[i].task, "train") == 0 &&
                strcmp(lines[i].model, g ? "cubic" : "causal") == 0)
                pick = i;
        for (int i = 0; pick < 0 && i < nl; i++)
            if (cnt[i]) pick = i;
        double ln = 0, lt = 0;
        for (int j = 0; j < cnt[pick]; j++) {
            ln += log((double)n[pick][j]);
            lt += log(t[pick][j]);
        }
        gn[g] = exp(ln / cnt[pick]);
        gt[g] = exp(lt / cnt[pick]);
        ga[g] = n[pick][0];
        gb[g] = n[pick][cnt[pick] - 1];
        const int p = g ? 3 : 2;
        range_update(gt[g] * pow(ga[g] / gn[g], p), &tlo, &thi);
        range_update(gt[g] * pow(gb[g] / gn[g], p), &tlo, &thi);
    }
    script s;
    if (script_open(&s, dir, name, title) != 0) return -1;
    FILE *f = s.f;
    fprintf(f, "set logscale xy\nset logscale x 2\nset format x '%%g'\nset xlabel 'N'\n"
               "set ylabel 'seconds (median)'\nset format y '%%.0e'\nset key below\n");
    fprintf(f, "set xrange [%g:%g]\nset yrange [%g:%g]\n", nlo / 1.15, nhi * 1.15, tlo / 3,
            thi * 3);
    for (int i = 0; i < nl; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        if (cnt[i]) datablock(f, id, n[i], t[i], cnt[i]);
    }
    fprintf(f, "plot ");
    for (int i = 0; i < nl; i++) {
        if (!cnt[i]) continue;
        fit ft = fit_upper_half(n[i], t[i], cnt[i]);
        char label[160];
        if (ft.ok)
            snprintf(label, sizeof label, "%s: N^%.2f (%d N, %d..%d)", lines[i].label, ft.p,
                     ft.points, ft.n_lo, ft.n_hi);
        else
            snprintf(label, sizeof label, "%s (too few points to fit)", lines[i].label);
        /* causal solid, cubic dashed; one colour per task */
        const int cubic = strcmp(lines[i].model, "causal") != 0;
        const int task = strcmp(lines[i].task, "train") == 0     ? 1
                         : strcmp(lines[i].task, "prefill") == 0 ? 2
                         : strcmp(lines[i].task, "step") == 0    ? 3
                                                                 : 4;
        fprintf(f, "$m%d using 1:2 with linespoints lw 2 pt %d dt %d lc %d title '%s', \\\n    ",
                i, cubic ? 5 : 7, strcmp(lines[i].model, "cubic_loop") == 0 ? 3 : cubic ? 2 : 1,
                task, label);
    }
    fprintf(f, "(x >= %g && x <= %g ? %.6e*(x/%g)**2 : 1/0) with lines dt 4 lc 'gray50' "
               "title 'N^2 guide', \\\n    ", ga[0] / 1.001, gb[0] * 1.001, gt[0], gn[0]);
    fprintf(f, "(x >= %g && x <= %g ? %.6e*(x/%g)**3 : 1/0) with lines dt 5 lc 'gray20' "
               "title 'N^3 guide'\n", ga[1] / 1.001, gb[1] * 1.001, gt[1], gn[1]);
    return script_run(&s, dir, title, out);
}

int model_plots(const dataset *ds, const char *dir, plot_list *out)
{
    int ls[16], k = ds_model_layers(ds, ls, 16);
    for (int i = k - 1; i >= 0; i--) {
        const model_record *r = any_row(ds, ls[i]);
        char name[64], title[160];
        snprintf(name, sizeof name, "headline_L%d", ls[i]);
        snprintf(title, sizeof title,
                 "causal vs cubic model, L=%d d_model=%d H=%d V=%d, %s, %d thread%s: time vs N",
                 ls[i], r->d_model, r->heads, r->vocab, r->impl, r->threads,
                 r->threads > 1 ? "s" : "");
        if (plot_lines(ds, dir, name, title, headline_lines, NHEAD, ls[i], out) != 0) return -1;
        snprintf(name, sizeof name, "model_time_L%d", ls[i]);
        snprintf(title, sizeof title, "every model cell, L=%d d_model=%d: time vs N", ls[i],
                 r->d_model);
        if (plot_lines(ds, dir, name, title, all_lines, NALL, ls[i], out) != 0) return -1;
    }
    return 0;
}

/* The largest N at which both rows are timed; 0 if none. */
static int common_n(const dataset *ds, const char *m1, const char *t1, const char *m2,
                    const char *t2, int L)
{
    int ns[MAXN], k = ds_model_ns(ds, NULL, L, ns, MAXN);
    for (int i = k - 1; i >= 0; i--)
        if (ds_model(ds, m1, t1, L, ns[i]) && ds_model(ds, m2, t2, L, ns[i])) return ns[i];
    return 0;
}

static double ratio_at(const dataset *ds, const char *m1, const char *m2, const char *task,
                       int L, int n)
{
    const model_record *a = ds_model(ds, m1, task, L, n), *b = ds_model(ds, m2, task, L, n);
    return a && b ? a->t_med / b->t_med : NAN;
}

static void exponent_text(FILE *f, const dataset *ds, const char *model, const char *task,
                          int L)
{
    fit ft = mfit(ds, model, task, L);
    if (ft.ok) fprintf(f, "N^%.2f", ft.p);
    else fprintf(f, "n/a");
}

void model_headline(FILE *f, const dataset *ds, const char *plots_link)
{
    const int L = main_depth(ds);
    if (!L) {
        fprintf(f, "_No model-level results (results/bench_model.csv): `make bench` writes "
                   "them._\n\n");
        return;
    }
    fprintf(f, "![causal vs cubic model: training and inference time against N](%s/headline_L%d.png)"
               "\n\n", plots_link, L);
    fprintf(f, "**The claim at a glance** (L = %d, fitted exponents over the upper half of "
               "each line's N): ", L);
    static const char *const tasks[] = {"train", "prefill", "generate"};
    static const char *const named[] = {"training step", "prefill", "generating N tokens"};
    static const char *const what[] = {"trains", "prefills", "generates"};
    for (int i = 0; i < 3; i++) {
        fprintf(f, "%s%s causal ", i ? "; " : "", named[i]);
        exponent_text(f, ds, "causal", tasks[i], L);
        fprintf(f, ", cubic ");
        exponent_text(f, ds, "cubic", tasks[i], L);
    }
    fprintf(f, ".");
    for (int i = 0; i < 3; i++) {
        int n = common_n(ds, "cubic", tasks[i], "causal", tasks[i], L);
        if (n)
            fprintf(f, " At N = %d the cubic model %s in %.3gx the causal model's time.", n,
                    what[i], ratio_at(ds, "cubic", "causal", tasks[i], L, n));
    }
    fprintf(f, " Details: [Model level](#model-level).\n\n");
}

static void cell_or_status(FILE *f, const dataset *ds, const char *model, const char *task,
                           int L, int n)
{
    const model_record *x = ds_model(ds, model, task, L, n);
    if (x) {
        fprintf(f, " %s |", fmt_s(x->t_med));
        return;
    }
    for (int i = ds->nm - 1; i >= 0; i--) {
        const model_record *y = &ds->m[i];
        if (y->layers == L && y->n == n && strcmp(y->part, "all") == 0 &&
            strcmp(y->model, model) == 0 && strcmp(y->task, task) == 0) {
            fprintf(f, " %s |", strncmp(y->status, "skipped", 7) == 0 ? "skipped" : "error");
            return;
        }
    }
    fprintf(f, " - |");
}

static void ratio_cell(FILE *f, double r)
{
    if (isfinite(r)) fprintf(f, " %.3g |", r);
    else fprintf(f, " - |");
}

static void training_table(FILE *f, const dataset *ds, int L)
{
    int ns[MAXN], k = ds_model_ns(ds, "train", L, ns, MAXN);
    fprintf(f, "Training step (forward + backward + AdamW), median; activations held for the "
               "backward at their peak:\n\n");
    fprintf(f, "| N | causal | cubic (packed) | cubic_loop | cubic / causal | loop / packed | "
               "act. causal | act. cubic | act. ratio |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < k; i++) {
        const int n = ns[i];
        fprintf(f, "| %d |", n);
        cell_or_status(f, ds, "causal", "train", L, n);
        cell_or_status(f, ds, "cubic", "train", L, n);
        cell_or_status(f, ds, "cubic_loop", "train", L, n);
        ratio_cell(f, ratio_at(ds, "cubic", "causal", "train", L, n));
        ratio_cell(f, ratio_at(ds, "cubic_loop", "cubic", "train", L, n));
        const model_record *a = ds_model(ds, "causal", "train", L, n),
                           *b = ds_model(ds, "cubic", "train", L, n);
        if (a) fprintf(f, " %.3g MB |", a->act_bytes / 1e6);
        else fprintf(f, " - |");
        if (b) fprintf(f, " %.3g MB |", b->act_bytes / 1e6);
        else fprintf(f, " - |");
        ratio_cell(f, a && b ? b->act_bytes / a->act_bytes : NAN);
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void inference_table(FILE *f, const dataset *ds, int L)
{
    int ns[MAXN], k = ds_model_ns(ds, "prefill", L, ns, MAXN);
    fprintf(f, "Inference, median: prefill = the next-token distribution after a prompt of N "
               "tokens; step = one more token at context N; generate = N tokens from a "
               "one-token prompt (greedy):\n\n");
    fprintf(f, "| N | prefill causal | prefill cubic | ratio | step causal | step cubic | ratio "
               "| generate causal | generate cubic | ratio |\n"
               "|---|---|---|---|---|---|---|---|---|---|\n");
    static const char *const tasks[] = {"prefill", "step", "generate"};
    for (int i = 0; i < k; i++) {
        fprintf(f, "| %d |", ns[i]);
        for (int j = 0; j < 3; j++) {
            cell_or_status(f, ds, "causal", tasks[j], L, ns[i]);
            cell_or_status(f, ds, "cubic", tasks[j], L, ns[i]);
            ratio_cell(f, ratio_at(ds, "cubic", "causal", tasks[j], L, ns[i]));
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void exponents_table(FILE *f, const dataset *ds, int L)
{
    fprintf(f, "Fitted exponents (t = c N^p over the upper half of each series' N):\n\n");
    fprintf(f, "| cell | p | N range | R^2 |\n|---|---|---|---|\n");
    for (int i = 0; i < NALL; i++) {
        fit ft = mfit(ds, all_lines[i].model, all_lines[i].task, L);
        if (ft.ok)
            fprintf(f, "| %s | %.2f | %d..%d | %.3f |\n", all_lines[i].label, ft.p, ft.n_lo,
                    ft.n_hi, ft.r2);
        else
            fprintf(f, "| %s | n/a | | |\n", all_lines[i].label);
    }
    fprintf(f, "\n");
}

/* The per-layer rows of (model, train, L, n) into t[L]; 0 if absent. */
static int layer_times(const dataset *ds, const char *model, int L, int n, double *t)
{
    int found = 0;
    for (int l = 0; l < L; l++) t[l] = NAN;
    for (int i = 0; i < ds->nm; i++) {
        const model_record *x = &ds->m[i];
        int k;
        if (x->layers == L && x->n == n && x->t_med > 0 && strcmp(x->model, model) == 0 &&
            strcmp(x->task, "train") == 0 && sscanf(x->part, "layer%d", &k) == 1 && k >= 1 &&
            k <= L) {
            t[k - 1] = x->t_med;
            found = 1;
        }
    }
    return found;
}

static void layers_table(FILE *f, const dataset *ds, int L)
{
    const int n = common_n(ds, "cubic", "train", "causal", "train", L);
    double tc[64], tq[64];
    if (!n || L > 64 || !layer_times(ds, "causal", L, n, tc) ||
        !layer_times(ds, "cubic", L, n, tq))
        return;
    double sc = 0, sq = 0;
    for (int l = 0; l < L; l++) {
        sc += tc[l];
        sq += tq[l];
    }
    fprintf(f, "Where the training time goes, by block (forward + backward, median), at N = %d; "
               "%s (docs/DESIGN.md §8):\n\n", n,
            L == 1  ? "a one-layer cubic model is the causal model"
            : L == 2 ? "cubic layer 1 runs cubic_shared, layer 2 cubic_last"
                     : "cubic layer 1 runs cubic_shared, the middle layers cubic, the last "
                       "cubic_last");
    fprintf(f, "| layer | causal | share | cubic | share | cubic / causal |\n"
               "|---|---|---|---|---|---|\n");
    for (int l = 0; l < L; l++)
        fprintf(f, "| %d | %s | %.0f%% | %s | %.0f%% | %.3g |\n", l + 1, fmt_s(tc[l]),
                100 * tc[l] / sc, fmt_s(tq[l]), 100 * tq[l] / sq, tq[l] / tc[l]);
    const model_record *c = ds_model(ds, "cubic", "train", L, n);
    if (c && c->attn_flops + c->matmul_flops > 0) {
        fprintf(f, "\nBy formula at this N, attention is %.0f%% of the cubic training step's "
                   "FLOPs (%.3g GFLOP of %.3g); the cubic step runs at %.3g GFLOP/s",
                100 * c->attn_flops / (c->attn_flops + c->matmul_flops), c->attn_flops * 1e-9,
                (c->attn_flops + c->matmul_flops) * 1e-9, c->gflops);
        if (c->frac_peak > 0) fprintf(f, ", %.2f of the FMA peak", c->frac_peak);
        fprintf(f, ".\n");
    }
    fprintf(f, "\n");
}

/* Do two fitted exponents differ by more than fitting noise on a few points? */
static int steeper(fit a, fit b) { return a.p - b.p > 0.5; }

/* The conclusion about "same inference cost", worded from the numbers. */
static void inference_claim(FILE *f, const dataset *ds, int L)
{
    static const struct {
        const char *task, *what, *same, *differs;
    } parts[] = {
        {"prefill", "Reading a prompt of N tokens",
         "grows at the causal model's rate: the same order of cost",
         "grows faster than the causal model's: not the same order of cost"},
        {"step", "Each further token at context N",
         "costs the same order as a causal KV-cache step",
         "costs more with context than a causal KV-cache step (a new token changes every "
         "earlier row of layers 1..L-1, which the cubic model must re-run over the prefix)"},
        {"generate", "Generating N tokens",
         "grows at the causal model's rate",
         "grows faster than the causal model's"},
    };
    fprintf(f, "**\"Same inference cost\"?** ");
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        fit c, q;
        const int n = mfit_pair(ds, parts[i].task, L, &c, &q);
        if (!n || !c.ok || !q.ok) continue;
        fprintf(f, "%s: cubic N^%.2f against causal N^%.2f (both fitted over N = %d..%d), "
                   "%.3gx the causal time at N = %d; it %s. ", parts[i].what, q.p, c.p,
                c.n_lo, c.n_hi,
                ratio_at(ds, "cubic", "causal", parts[i].task, L, n), n,
                steeper(q, c) ? parts[i].differs : parts[i].same);
    }
    fprintf(f, "(Exponents more than 0.5 apart count as different orders.)\n\n");
}

void model_section(FILE *f, const dataset *ds, const char *plots_link)
{
    fprintf(f, "## Model level\n\n");
    const int L0 = main_depth(ds);
    if (!L0) {
        fprintf(f, "No model rows: `make bench` times them into results/bench_model.csv.\n\n");
        return;
    }
    const model_record *r = any_row(ds, L0);
    fprintf(f, "The float32 models of model/ (docs/DESIGN.md §8) at d_model = %d, %d heads, "
               "vocabulary %d, one sequence, attention by `%s` at %d thread%s, products by "
               "the tile engine's register kernel (`regt_gemm`). The cubic model is timed packed (every layer on the rows it needs) and, "
               "for training, as the loop over prefixes it must equal; its inference is the "
               "same either way. Skipped cells (predicted over the per-cell budget or the "
               "memory limit, or past the run's time cap) are marked so, never dropped; "
               "results/bench_model.csv gives each one's reason.\n\n",
            r->d_model, r->heads, r->vocab, r->impl, r->threads, r->threads > 1 ? "s" : "");
    int ls[16], k = ds_model_layers(ds, ls, 16);
    for (int i = k - 1; i >= 0; i--) {
        const int L = ls[i];
        fprintf(f, "### L = %d\n\n", L);
        fprintf(f, "![every model cell, L = %d](%s/model_time_L%d.png)\n\n", L, plots_link, L);
        training_table(f, ds, L);
        int n = common_n(ds, "cubic", "train", "cubic_loop", "train", L);
        if (n) {
            const double r = ratio_at(ds, "cubic_loop", "cubic", "train", L, n);
            fprintf(f, "Packed vs loop: at N = %d, the largest N both were timed, the packed "
                       "cubic model trains %.3gx %s than the per-prefix loop.\n\n", n,
                    r >= 1 ? r : 1 / r, r >= 1 ? "faster" : "slower");
        }
        inference_table(f, ds, L);
        exponents_table(f, ds, L);
        layers_table(f, ds, L);
        inference_claim(f, ds, L);
    }
}
