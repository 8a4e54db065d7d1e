/* markdown.c: REPORT.md, every figure in it computed from the results CSVs. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXPTS 256
#define MAXIMPLS 32


const char *fmt_s(double s)
{
    static char bufs[8][32];
    static int k;
    char *b = bufs[k++ % 8];
    if (!(s > 0)) snprintf(b, 32, "n/a");
    else if (s >= 1) snprintf(b, 32, "%.3g s", s);
    else if (s >= 1e-3) snprintf(b, 32, "%.3g ms", s * 1e3);
    else snprintf(b, 32, "%.3g us", s * 1e6);
    return b;
}


/* ---- where a section's rows come from ------------------------------------------------ */

/* Appends s to the comma-separated list out (len bytes) unless it is there already. */
static void list_add(char *out, size_t len, const char *s)
{
    const size_t n = strlen(s);
    for (const char *p = out; (p = strstr(p, s)) != NULL; p += n)
        if ((p == out || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0')) return;
    const size_t used = strlen(out);
    snprintf(out + used, len - used, "%s%s", used ? ", " : "", s);
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The line under a section's heading that says which files, which grid and which
 * implementations its rows come from (bench or verify rows; nothing when there are none),
 * so that a quick or partial run is never read as the full evidence. */
static void provenance(FILE *f, const dataset *ds, int verify)
{
    const int n = verify ? ds->nv : ds->nb;
    if (n == 0) return;
    char files[512] = "", impls[512] = "";
    for (int i = 0; i < n; i++) {
        const char *impl = verify ? ds->v[i].impl : ds->b[i].impl;
        list_add(files, sizeof files, base_name(verify ? ds->v[i].file : ds->b[i].file));
        /* verify's rows of the run, of the float64 reference and of the models name no
         * implementation of their own */
        if (verify && (!strcmp(impl, "run") || !strcmp(impl, "ref64") ||
                       !strncmp(ds->v[i].entry, "model_", 6)))
            continue;
        list_add(impls, sizeof impls, impl);
    }
    const char *grid = verify ? ds->verify_grid : ds->bench_grid;
    const int quick = !strcmp(grid, "quick");
    fprintf(f, "_Rows from %s, the %s grid%s; implementations: %s._\n\n", files, grid,
            !quick ? ""
            : verify ? " (N in {1, 2, 3, 7, 17, 65} x d in {1, 3, 16, 80}: not the full "
                       "verification)"
                     : " (cells of seconds, N <= 256: not the evidence of a full `make bench`)",
            impls);
}

/* ---- sections ---------------------------------------------------------------------- */

/* The rest of a table's header after its first column: one column per N, then the
 * separator row. */
static void n_columns_header(FILE *f, const int *ns, int k)
{
    for (int j = 0; j < k; j++) fprintf(f, " N=%d |", ns[j]);
    fprintf(f, "\n|---|");
    for (int j = 0; j < k; j++) fprintf(f, "---|");
    fprintf(f, "\n");
}

/* Signs that the machine was shared while it was measured: another process's load, a
 * multi-thread sgemm below the single-thread one, cells above the FMA peak of their own
 * run (no code can pass it; a fused kernel may well pass BLIS's sgemm). With f,
 * the caution that opens the report (before any number it casts doubt on). True when
 * there are such signs. */
static int disturbed_caution(FILE *f, const dataset *ds)
{
    double load = -1;
    int over = 0, th[16];
    const int nt = ds_threads(ds, th, 16);
    for (int i = 0; i < ds->nb; i++) {
        if (ds->b[i].other_cores > load) load = ds->b[i].other_cores;
        over += ds->b[i].ok && ds->b[i].frac_peak > 1.05 &&
                strcmp(ds->b[i].op, OPN(CA_OP_CUBIC_SHARED)) != 0;
    }
    const double s1 = nt > 0 ? ds_sgemm(ds, th[0], NULL) : -1;
    const double sN = nt > 1 ? ds_sgemm(ds, th[nt - 1], NULL) : -1;
    const int slow_sgemm = s1 > 0 && sN > 0 && sN < s1;
    if (!(load > 0.2 || over > 0 || slow_sgemm)) return 0;
    if (!f) return 1;
    fprintf(f, "**Caution: these timings look disturbed.**");
    if (load > 0.2) fprintf(f, " Other processes used %.2f cores on average during a run.", load);
    if (slow_sgemm)
        fprintf(f, " The %d-thread sgemm ceiling (%.1f GFLOP/s) is below the %d-thread one "
                   "(%.1f).", th[nt - 1], sN, th[0], s1);
    if (over > 0) fprintf(f, " %d timed cell(s) outside cubic_shared exceed the FMA peak.", over);
    fprintf(f, " Fractions of the ceiling and every figure below are unreliable; rerun `make "
               "bench` on an idle machine.\n\n");
    return 1;
}

static void machine_section(FILE *f, const dataset *ds)
{
    const bench_record *last = NULL;
    for (int i = 0; i < ds->nb; i++)
        if (!last || strcmp(ds->b[i].date, last->date) > 0) last = &ds->b[i];
    fprintf(f, "## Machine\n\n");
    provenance(f, ds, 0);
    if (!last) {
        fprintf(f, "No benchmark rows recorded.\n\n");
        return;
    }
    fprintf(f, "| | |\n|---|---|\n");
    fprintf(f, "| CPU | %s |\n| cores | %d |\n| compiler | %s |\n| flags | `%s` |\n",
            last->cpu, last->cores, last->compiler, last->cflags);
    fprintf(f, "| BLIS sub-configuration | %s |\n", last->blis_config);
    /* Older results lack the column: their kernels were fixed by the build's -march. */
    if (last->kernel_isa[0])
        fprintf(f, "| kernel path | %s (the register kernel's and FMA peak's vector unit, "
                   "chosen at run time) |\n", last->kernel_isa);
    else
        fprintf(f, "| kernel path | not recorded (a bench built before the run-time choice: "
                   "see the flags) |\n");
    /* every distinct commit and date among the rows */
    fprintf(f, "| commit(s) |");
    for (int i = 0, k = 0; i < ds->nb; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(ds->b[j].commit, ds->b[i].commit) == 0;
        if (!seen) fprintf(f, "%s `%s`", k++ ? "," : "", ds->b[i].commit);
    }
    fprintf(f, " |\n| run date(s) (UTC) |");
    for (int i = 0, k = 0; i < ds->nb; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(ds->b[j].date, ds->b[i].date) == 0;
        if (!seen) fprintf(f, "%s %s", k++ ? "," : "", ds->b[i].date);
    }
    fprintf(f, " |\n");
    int th[16];
    int nt = ds_threads(ds, th, 16);
    for (int i = 0; i < nt; i++) {
        int sn;
        double sg = ds_sgemm(ds, th[i], &sn);
        if (sg > 0)
            fprintf(f, "| sgemm ceiling, %d thread%s | %.1f GFLOP/s (BLIS, %d x %d x %d, median) |\n",
                    th[i], th[i] > 1 ? "s" : "", sg, sn, sn, sn);
        const bench_record *r = ds_roof(ds, th[i]);
        if (!r) continue;
        const char *pl = th[i] > 1 ? "s" : "";
        fprintf(f, "| FMA peak, %d thread%s | %.1f GFLOP/s: %s |\n", th[i], pl, r->peak,
                r->peak_note[0] ? r->peak_note : "register-only FMA loop");
        if (r->ukr > 0)
            fprintf(f, "| micro-kernel ceiling, %d thread%s | %.1f GFLOP/s (%.2f of the FMA peak; "
                       "register-blocked FMA kernel on L1-resident packed panels) |\n",
                    th[i], pl, r->ukr, r->ukr / r->peak);
        if (r->bw > 0)
            fprintf(f, "| memory bandwidth, %d thread%s | %.1f GB/s (STREAM triad over 4 x LLC, "
                       "3 x 4 bytes an element) |\n", th[i], pl, r->bw);
    }
    fprintf(f, "| shape in tables and plots | d = %d, heads = %d |\n", ds->d, ds->heads);
    double load = -1;
    for (int i = 0; i < ds->nb; i++)
        if (ds->b[i].other_cores > load) load = ds->b[i].other_cores;
    if (load >= 0)
        fprintf(f, "| CPU used by other processes during a run (worst run) | %.2f cores |\n",
                load);
    fprintf(f, "\n");
    if (disturbed_caution(NULL, ds))
        fprintf(f, "These timings look disturbed: see the caution at the top of this report.\n\n");
    const char *impls[MAXIMPLS];
    int ni = ds_impls(ds, NULL, NULL, -1, impls, MAXIMPLS);
    fprintf(f, "Implementations measured:");
    for (int i = 0; i < ni; i++) fprintf(f, "%s `%s`", i ? "," : "", impls[i]);
    fprintf(f, ".\n\n");
    for (int i = 0; i < ni; i++) {
        const char *note = "";
        for (int j = 0; j < ds->nb && !note[0]; j++)
            if (strcmp(ds->b[j].impl, impls[i]) == 0 && strcmp(ds->b[j].status, "ok") == 0)
                note = ds->b[j].impl_note;
        if (note[0]) fprintf(f, "- `%s` runtime note: %s\n", impls[i], note);
    }
    fprintf(f, "\n");
}

/* The fit of op/pass for the implementation fastest at the largest N measured. */
static const bench_record *fastest_at_top(const dataset *ds, const char *op, const char *pass,
                                          int th)
{
    int ns[MAXPTS];
    int k = ds_ns(ds, op, pass, th, ns, MAXPTS);
    for (int j = k - 1; j >= 0; j--) {
        const bench_record *b = ds_fastest(ds, op, pass, ns[j], th);
        if (b) return b;
    }
    return NULL;
}

/* Largest N at which both (op1, pass1) and (op2, pass2) were timed. */
static int common_top(const dataset *ds, const char *o1, const char *p1, const char *o2,
                      const char *p2, int th)
{
    int ns[MAXPTS];
    int k = ds_ns(ds, o1, p1, th, ns, MAXPTS);
    for (int j = k - 1; j >= 0; j--)
        if (best_t(ds, o1, p1, ns[j], th) > 0 && best_t(ds, o2, p2, ns[j], th) > 0) return ns[j];
    return 0;
}

static void exponent_phrase(FILE *f, const dataset *ds, const char *op, const char *pass,
                            int th)
{
    fit naive = fit_series(ds, "naive", op, pass, th);
    const bench_record *top = fastest_at_top(ds, op, pass, th);
    fprintf(f, "%s %s", op, pass);
    if (naive.ok) fprintf(f, " N^%.2f (naive)", naive.p);
    if (top && strcmp(top->impl, "naive") != 0) {
        fit ft = fit_series(ds, top->impl, op, pass, th);
        if (ft.ok) fprintf(f, "%s N^%.2f (%s)", naive.ok ? "," : "", ft.p, top->impl);
    }
    if (!naive.ok && !(top && fit_series(ds, top->impl, op, pass, th).ok))
        fprintf(f, " not measured at enough N");
}

/* Power law of the ratio of the fastest times (o1, p1) / (o2, p2) over the N where both
 * were timed. */
static fit ratio_fit(const dataset *ds, const char *o1, const char *p1, const char *o2,
                     const char *p2, int th)
{
    int ns[MAXPTS], rn[MAXPTS], k = ds_ns(ds, o1, p1, th, ns, MAXPTS), c = 0;
    double r[MAXPTS];
    for (int j = 0; j < k; j++) {
        double x = best_t(ds, o1, p1, ns[j], th), y = best_t(ds, o2, p2, ns[j], th);
        if (x > 0 && y > 0) {
            rn[c] = ns[j];
            r[c++] = x / y;
        }
    }
    return fit_upper_half(rn, r, c);
}

static void answer_section(FILE *f, const dataset *ds)
{
    const int th = ds->main_threads;
    fprintf(f, "## The answer in numbers\n\n");
    provenance(f, ds, 0);
    fprintf(f, "Measured scaling (time ~ N^p, least squares over the upper half of N, %d "
               "thread%s): ", th, th > 1 ? "s" : "");
    exponent_phrase(f, ds, OPN(CA_OP_CAUSAL), PASSN(BP_FWD), th);
    fprintf(f, "; ");
    exponent_phrase(f, ds, OPN(CA_OP_FULL), PASSN(BP_FWD), th);
    fprintf(f, "; ");
    exponent_phrase(f, ds, OPN(CA_OP_CUBIC), PASSN(BP_FWD), th);
    fprintf(f, "; ");
    exponent_phrase(f, ds, OPN(CA_OP_CUBIC_SHARED), PASSN(BP_FWD), th);
    fprintf(f, ".");
    int n = common_top(ds, OPN(CA_OP_CUBIC), PASSN(BP_FWDBWD), OPN(CA_OP_CAUSAL), PASSN(BP_FWDBWD), th);
    double ratio_p = NAN, prompt_ratio = NAN, token_ratio_p = NAN;
    if (n) {
        double a = best_t(ds, OPN(CA_OP_CUBIC), PASSN(BP_FWDBWD), n, th), b = best_t(ds, OPN(CA_OP_CAUSAL), PASSN(BP_FWDBWD), n, th);
        fprintf(f, " **Training**: one sequence of N = %d through one attention layer (forward + "
                   "backward, fastest implementation each) takes %s with cubic attention against "
                   "%s causal, %.3g times as long", n, fmt_s(a), fmt_s(b), a / b);
        fit fr = ratio_fit(ds, OPN(CA_OP_CUBIC), PASSN(BP_FWDBWD), OPN(CA_OP_CAUSAL), PASSN(BP_FWDBWD), th);
        if (fr.ok) {
            ratio_p = fr.p;
            fprintf(f, "; the ratio grows as N^%.2f over N = %d..%d", fr.p, fr.n_lo, fr.n_hi);
        }
        fprintf(f, ".");
    } else {
        fprintf(f, " Training cost (cubic vs causal fwd+bwd at a common N) was not measured.");
    }
    n = common_top(ds, OPN(CA_OP_FULL), PASSN(BP_FWD), OPN(CA_OP_CAUSAL), PASSN(BP_FWD), th);
    if (n) {
        double a = best_t(ds, OPN(CA_OP_FULL), PASSN(BP_FWD), n, th), b = best_t(ds, OPN(CA_OP_CAUSAL), PASSN(BP_FWD), n, th);
        double c = best_t(ds, OPN(CA_OP_CUBIC), PASSN(BP_FWD), n, th);
        prompt_ratio = a / b;
        fprintf(f, " **Inference on a prompt**: a prompt of N = %d tokens is one bidirectional "
                   "pass for a cubic model, %s, against %s for causal prefill (%.3g times)",
                n, fmt_s(a), fmt_s(b), a / b);
        if (c > 0) fprintf(f, "; the cubic training operator at that N takes %s", fmt_s(c));
        fprintf(f, ".");
    }
    /* A cubic model's per-token cost at context t is a full pass over the prefix: the
     * full fwd cell at N = t. */
    n = common_top(ds, OPN(CA_OP_DECODE), PASSN(BP_STEP), OPN(CA_OP_FULL), PASSN(BP_FWD), th);
    if (n) {
        double a = best_t(ds, OPN(CA_OP_DECODE), PASSN(BP_STEP), n, th),
               b = best_t(ds, OPN(CA_OP_FULL), PASSN(BP_FWD), n, th);
        fprintf(f, " **Generation**: each new token at context t = %d costs %s for causal "
                   "attention with a KV cache but %s for a multi-layer cubic model, which must "
                   "re-run a full pass over the prefix (%.3g times as much)",
                n, fmt_s(a), fmt_s(b), b / a);
        fit fr = ratio_fit(ds, OPN(CA_OP_FULL), PASSN(BP_FWD), OPN(CA_OP_DECODE), PASSN(BP_STEP), th);
        if (fr.ok) {
            token_ratio_p = fr.p;
            fprintf(f, "; that ratio grows as t^%.2f", fr.p);
        }
        fprintf(f, ".");
    }
    /* conclusions, each stated only when the numbers above support it */
    if (prompt_ratio > 0 && prompt_ratio < 4)
        fprintf(f, " Reading a prompt costs a cubic model about what it costs a causal one (same "
                   "O(N^2) pass, within a factor %.2g).", prompt_ratio);
    if (token_ratio_p > 0.5)
        fprintf(f, " Generating does not: per token the gap widens with context, so generating N "
                   "tokens is O(N^3) for cubic against O(N^2) causal.");
    if (ratio_p > 0.5)
        fprintf(f, " Training pays a factor over causal that grows with N (fitted N^%.2f).",
                ratio_p);
    fprintf(f, "\n\n");
}

static void exponents_section(FILE *f, const dataset *ds)
{
    fprintf(f, "## Scaling exponents\n\n");
    provenance(f, ds, 0);
    fprintf(f, "Fitted p of time ~ N^p (least squares of log t on log N over the upper half of "
               "the measured N, at least three points when there are three), R^2 in brackets; "
               "— = fewer than two timed points.\n\n");
    int th[16];
    int nt = ds_threads(ds, th, 16);
    for (int ti = nt - 1; ti >= 0; ti--) {
        const char *impls[MAXIMPLS];
        int ni = ds_impls(ds, NULL, NULL, th[ti], impls, MAXIMPLS);
        fprintf(f, "**%d thread%s**\n\n| impl |", th[ti], th[ti] > 1 ? "s" : "");
        for (int o = 0; o < CA_OP_COUNT; o++)
            for (int p = 0; p < BP_COUNT; p++)
                if (op_has_pass(o, p)) fprintf(f, " %s %s |", OPN(o), PASSN(p));
        fprintf(f, "\n|---|");
        for (int o = 0; o < CA_OP_COUNT; o++)
            for (int p = 0; p < BP_COUNT; p++)
                if (op_has_pass(o, p)) fprintf(f, "---|");
        fprintf(f, "\n");
        for (int i = 0; i < ni; i++) {
            fprintf(f, "| %s |", impls[i]);
            for (int o = 0; o < CA_OP_COUNT; o++)
                for (int p = 0; p < BP_COUNT; p++) {
                    if (!op_has_pass(o, p)) continue;
                    fit ft = fit_series(ds, impls[i], OPN(o), PASSN(p), th[ti]);
                    if (ft.ok) fprintf(f, " %.2f (%.3f) |", ft.p, ft.r2);
                    else fprintf(f, " — |");
                }
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
    }
}

static void fastest_section(FILE *f, const dataset *ds)
{
    const int th = ds->main_threads;
    int ns[MAXPTS];
    int k = ds_ns(ds, NULL, NULL, th, ns, MAXPTS);
    fprintf(f, "## Fastest implementation per operator and N (%d thread%s)\n\n", th,
            th > 1 ? "s" : "");
    provenance(f, ds, 0);
    fprintf(f, "Each cell: fastest implementation, its median time, and its GFLOP/s as a "
               "fraction of the sgemm ceiling / of the FMA peak of the same run (FLOPs by "
               "docs/DESIGN.md §3); a decode step, bound by memory, shows its GB/s (compulsory "
               "traffic, §3) as a fraction of the triad bandwidth instead.\n\n| op pass |");
    n_columns_header(f, ns, k);
    for (int o = 0; o < CA_OP_COUNT; o++)
        for (int p = 0; p < BP_COUNT; p++) {
            if (!op_has_pass(o, p)) continue;
            const char *op = OPN(o), *pass = PASSN(p);
            int any = 0;
            for (int j = 0; j < k; j++) any |= ds_fastest(ds, op, pass, ns[j], th) != NULL;
            if (!any) continue;
            fprintf(f, "| %s %s |", op, pass);
            for (int j = 0; j < k; j++) {
                const bench_record *b = ds_fastest(ds, op, pass, ns[j], th);
                if (!b) fprintf(f, " — |");
                else if (ca_op_is_step(o) && b->frac_bw > 0)
                    fprintf(f, " %s %s, %.1f GB/s = %.2f of bw (%s) |", b->impl,
                            fmt_s(b->t_med), b->gbs, b->frac_bw,
                            b->cache_state[0] ? b->cache_state : "warm");
                else if (b->frac_peak > 0)
                    fprintf(f, " %s %s, %.2f / %.2f |", b->impl, fmt_s(b->t_med), b->frac,
                            b->frac_peak);
                else fprintf(f, " %s %s, %.2f / — |", b->impl, fmt_s(b->t_med), b->frac);
            }
            fprintf(f, "\n");
        }
    fprintf(f, "\n(%s %s rows: N is the context t, one causal decode step with a KV cache; "
               "a cubic model's per-token cost is a full pass over the prefix, the %s %s row at "
               "N = t. "
               "cubic_shared is credited with the cubic operator's useful FLOPs (docs/DESIGN.md §3), so "
               "an implementation using the Theta(N^2 d) online-softmax sweep can exceed 1.)\n\n",
            OPN(CA_OP_DECODE), PASSN(BP_STEP), OPN(CA_OP_FULL), PASSN(BP_FWD));
}

/* The fastest fused implementation against the unfused peer on every cell both timed;
 * at N >= FUSED_MUST_WIN_N the fused one must be faster (docs/DESIGN.md §6). */
#define FUSED_MUST_WIN_N 512
static void fused_vs_unfused_section(FILE *f, const dataset *ds)
{
    const int th = ds->main_threads;
    int ns[MAXPTS];
    int k = ds_ns(ds, NULL, NULL, th, ns, MAXPTS);
    int cells = 0, lost = 0, lost_big = 0;
    fprintf(f, "## Fused kernels against the unfused peer (%d thread%s)\n\n", th,
            th > 1 ? "s" : "");
    provenance(f, ds, 0);
    fprintf(f, "The peer `%s` materialises the scores per head (per prefix for the cubic "
               "operators) and runs Q K^T and P V on BLIS sgemm, as the common frameworks' "
               "math path does. Each cell: the fastest fused implementation and its time, "
               "the peer's time, and peer / fused (above 1: the fused kernel is faster). "
               "From N = %d on the fused kernel must win.\n\n| op pass |",
            REPORT_PEER_IMPL, FUSED_MUST_WIN_N);
    n_columns_header(f, ns, k);
    for (int o = 0; o < CA_OP_COUNT; o++)
        for (int p = 0; p < BP_COUNT; p++) {
            if (!op_has_pass(o, p)) continue;
            const char *op = OPN(o), *pass = PASSN(p);
            int any = 0;
            for (int j = 0; j < k; j++)
                any |= ds_find(ds, REPORT_PEER_IMPL, op, pass, ns[j], th) != NULL;
            if (!any) continue;
            fprintf(f, "| %s %s |", op, pass);
            for (int j = 0; j < k; j++) {
                const bench_record *u = ds_find(ds, REPORT_PEER_IMPL, op, pass, ns[j], th);
                const bench_record *b = ds_fastest_fused(ds, op, pass, ns[j], th);
                if (!u || !u->ok || !b) {
                    fprintf(f, " — |");
                    continue;
                }
                const double r = u->t_med / b->t_med;
                cells++;
                lost += r <= 1.0;
                lost_big += r <= 1.0 && ns[j] >= FUSED_MUST_WIN_N;
                fprintf(f, " %s %s vs %s: %s%.2fx%s |", b->impl, fmt_s(b->t_med),
                        fmt_s(u->t_med), r <= 1.0 ? "**" : "", r, r <= 1.0 ? "**" : "");
            }
            fprintf(f, "\n");
        }
    if (cells && !lost)
        fprintf(f, "\nThe fastest fused kernel is faster than the peer on all %d cells both "
                   "timed.\n\n", cells);
    else if (cells)
        fprintf(f, "\nThe fastest fused kernel is faster than the peer on %d of %d cells; the "
                   "peer is as fast or faster (in bold) on %d, %d of them at N >= %d%s.\n\n",
                cells - lost, cells, lost, lost_big, FUSED_MUST_WIN_N,
                lost_big ? ": there the fused kernels miss their goal" : "");
    else
        fprintf(f, "\nNo cell has both a fused implementation and the peer timed.\n\n");
}

/* Time of impl at (op, pass, n, th): measured, or extrapolated from its fit. */
static double time_or_fit(const dataset *ds, const char *impl, const char *op,
                          const char *pass, int n, int th, int *extrapolated, fit *used)
{
    *extrapolated = 0;
    const bench_record *b = ds_find(ds, impl, op, pass, n, th);
    if (b && b->ok) return b->t_med;
    fit ft = fit_series(ds, impl, op, pass, th);
    if (!ft.ok || ft.n_hi >= n) return NAN;
    *extrapolated = 1;
    *used = ft;
    return exp(ft.c) * pow((double)n, ft.p);
}

static void target_frac(FILE *f, const dataset *ds, const char *label, const char *op,
                        const char *pass, int n, double need)
{
    const int th = ds->main_threads;
    const bench_record *b = ds_fastest(ds, op, pass, n, th);
    fprintf(f, "| %s | >= %.2f of sgemm | ", label, need);
    if (!b || !(b->frac > 0)) {
        fprintf(f, "— | not measured |\n");
        return;
    }
    char pk[48] = "";
    if (b->frac_peak > 0) snprintf(pk, sizeof pk, "; %.3f of the FMA peak", b->frac_peak);
    fprintf(f, "%.3f (%s, %s, %.1f GFLOP/s%s) | %s |\n", b->frac, b->impl, fmt_s(b->t_med),
            b->gflops, pk, b->frac >= need ? "reached" : "not reached");
}

static void target_speedup(FILE *f, const dataset *ds, const char *label, const char *fast_impl,
                           const char *op, const char *pass, int n, int th, double need)
{
    const bench_record *b = fast_impl ? ds_find(ds, fast_impl, op, pass, n, th)
                                      : ds_fastest(ds, op, pass, n, th);
    fprintf(f, "| %s | >= %.0fx | ", label, need);
    if (!b || !b->ok) {
        fprintf(f, "— | not measured |\n");
        return;
    }
    int ext;
    fit used = {0, 0, 0, 0, 0, 0, 0};
    double tn = time_or_fit(ds, "naive", op, pass, n, th, &ext, &used);
    if (!(tn > 0)) {
        fprintf(f, "%s %s; naive not measured | not measured |\n", b->impl, fmt_s(b->t_med));
        return;
    }
    double s = tn / b->t_med;
    fprintf(f, "%.1fx (%s %s vs naive %s", s, b->impl, fmt_s(b->t_med), fmt_s(tn));
    if (ext)
        fprintf(f, ", naive extrapolated from its fit N^%.2f over N %d..%d", used.p, used.n_lo,
                used.n_hi);
    fprintf(f, ") | %s%s |\n", s >= need ? "reached" : "not reached", ext ? " (extrapolated)" : "");
}

static void targets_section(FILE *f, const dataset *ds)
{
    const int th = ds->main_threads;
    fprintf(f, "## Performance targets\n\n");
    provenance(f, ds, 0);
    fprintf(f, "Computed from the CSV at d = %d, heads = %d; fractions at %d thread%s against the "
               "sgemm ceiling of the same thread count.\n\n", ds->d, ds->heads, th,
            th > 1 ? "s" : "");
    fprintf(f, "| target | threshold | measured | status |\n|---|---|---|---|\n");
    target_frac(f, ds, "fastest causal fwd, N=4096", OPN(CA_OP_CAUSAL), PASSN(BP_FWD), 4096, 0.60);
    target_frac(f, ds, "fastest full fwd, N=4096", OPN(CA_OP_FULL), PASSN(BP_FWD), 4096, 0.70);
    target_frac(f, ds, "fastest causal bwd, N=4096", OPN(CA_OP_CAUSAL), PASSN(BP_BWD), 4096, 0.40);
    target_frac(f, ds, "fastest cubic fwd, N=1024", OPN(CA_OP_CUBIC), PASSN(BP_FWD), 1024, 0.50);
    target_speedup(f, ds, "fastest cubic_shared fwd vs naive, N=1024", NULL, OPN(CA_OP_CUBIC_SHARED),
                   PASSN(BP_FWD), 1024, th, 100);
    target_speedup(f, ds, "blocked causal fwd vs naive, 1 thread, N=4096", "blocked", OPN(CA_OP_CAUSAL),
                   PASSN(BP_FWD), 4096, 1, 10);
    fprintf(f, "\n");
}

/* The roofline targets, each a row: a fraction of the same run's FMA peak that the
 * fastest implementation of the cell must reach, higher on a CPU with AVX-512 (two
 * 16-lane FMA pipes to fill) than on an AVX2-only one; or, for a memory-bound cell, a
 * fraction of the run's triad bandwidth (a decode step timed cold; cubic_last, whose
 * packed keys, 0.27 GB a head at N = 1024, never fit in a cache). */
typedef enum roof_metric { OF_PEAK, OF_BW } roof_metric;
static const struct roof_target {
    ca_op op;
    bpass pass;
    int n, threads, d, heads;
    roof_metric metric;
    double need_avx512, need_avx2;
    int cold; /* the cell must have been timed cold */
} roof_targets[] = {
    {CA_OP_CAUSAL, BP_FWD, 4096, 2, 64, 4, OF_PEAK, 0.70, 0.55, 0},
    {CA_OP_FULL, BP_FWD, 1024, 2, 64, 4, OF_PEAK, 0.70, 0.55, 0},
    {CA_OP_FULL, BP_FWD, 4096, 2, 64, 4, OF_PEAK, 0.70, 0.55, 0},
    {CA_OP_CUBIC, BP_FWD, 1024, 2, 64, 4, OF_PEAK, 0.70, 0.55, 0},
    {CA_OP_CAUSAL, BP_BWD, 4096, 2, 64, 4, OF_PEAK, 0.65, 0.50, 0},
    {CA_OP_FULL, BP_BWD, 4096, 2, 64, 4, OF_PEAK, 0.65, 0.50, 0},
    {CA_OP_CUBIC, BP_BWD, 512, 2, 64, 4, OF_PEAK, 0.65, 0.50, 0},
    {CA_OP_CAUSAL, BP_FWD, 4096, 1, 64, 4, OF_PEAK, 0.70, 0.55, 0},
    {CA_OP_CAUSAL, BP_FWD, 4096, 2, 128, 4, OF_PEAK, 0.70, 0.55, 0},
    {CA_OP_DECODE, BP_STEP, 4096, 2, 64, 4, OF_BW, 0.80, 0.80, 1},
    {CA_OP_CUBIC_LAST, BP_FWD, 1024, 2, 64, 4, OF_BW, 0.70, 0.70, 0},
};

/* Does the row's run have AVX-512? Its FMA peak was measured on the widest vector the
 * CPU has, and its note names it. */
static int run_has_avx512(const bench_record *b)
{
    return b->peak_note && strstr(b->peak_note, "AVX-512") != NULL;
}

/* A missed memory-bound target's bound from the same cell on one thread (bench_t1.csv):
 * T cores at the one-thread rate give at most T times its GB/s, which as a fraction of
 * the T-thread triad says whether one core's own stream, or the shared memory, holds the
 * cell. The same implementation's row on one thread when there is one, else the fastest. */
static const char *per_core_line(const dataset *ds, const struct roof_target *t,
                                 const bench_record *b)
{
    static char line[320];
    /* the targets are at the main shape, where ds_find looks */
    const bench_record *b1 = ds_find(ds, b->impl, OPN(t->op), PASSN(t->pass), t->n, 1);
    if (!b1 || !b1->ok) /* the same implementation untimed on one thread: the fastest */
        b1 = ds_fastest_shape(ds, OPN(t->op), PASSN(t->pass), t->n, 1, t->d, t->heads);
    if (!b1 || !(b1->gbs > 0) || !(b1->bw > 0) || !(b->bw > 0) ||
        strcmp(b1->cache_state, b->cache_state) != 0)
        return "1 thread: not measured (no timed row of the cell in bench_t1.csv)";
    const double bound = t->threads * b1->gbs / b->bw;
    snprintf(line, sizeof line,
             "1 thread (%s): %.1f GB/s, %.2f of its triad (%.1f GB/s); %d threads at that rate "
             "each would reach %.2f of the %d-thread triad, and they run at %.2fx it",
             b1->impl, b1->gbs, b1->gbs / b1->bw, b1->bw, t->threads, bound, t->threads,
             b->gbs / b1->gbs);
    return line;
}

static void roofline_targets_section(FILE *f, const dataset *ds)
{
    fprintf(f, "## Roofline targets\n\n");
    provenance(f, ds, 0);
    fprintf(f, "Fastest implementation of each cell against the machine's own limits measured "
               "in the same run at the same thread count (docs/DESIGN.md §5.4): the FMA peak "
               "(thresholds for a CPU with AVX-512 / an AVX2-only one; this run's is chosen by "
               "the vector its FMA peak was measured on), or for a memory-bound cell the triad "
               "bandwidth (its GB/s counts the compulsory traffic of §3).\n\n");
    fprintf(f, "| target | threshold | measured | status |\n|---|---|---|---|\n");
    int missed = 0;
    for (size_t i = 0; i < sizeof roof_targets / sizeof roof_targets[0]; i++) {
        const struct roof_target *t = &roof_targets[i];
        const char *op = OPN(t->op), *pass = PASSN(t->pass);
        const bench_record *b = ds_fastest_shape(ds, op, pass, t->n, t->threads, t->d, t->heads);
        const int wide = b && run_has_avx512(b);
        const double need = wide || t->metric == OF_BW ? t->need_avx512 : t->need_avx2;
        fprintf(f, "| %s %s %s=%d%s, d=%d, heads=%d, %d thread%s | ", op, pass,
                ca_op_is_step(t->op) ? "t" : "N", t->n, t->cold ? ", cold" : "", t->d, t->heads,
                t->threads, t->threads > 1 ? "s" : "");
        if (t->metric == OF_PEAK)
            fprintf(f, ">= %.2f of the FMA peak (%.2f / %.2f; %s) | ", need, t->need_avx512,
                    t->need_avx2, !b ? "no run" : wide ? "AVX-512" : "AVX2");
        else
            fprintf(f, ">= %.2f of the triad bandwidth | ", need);
        if (!b) {
            fprintf(f, "— | not measured |\n");
            continue;
        }
        double got;
        if (t->metric == OF_PEAK) {
            if (!(b->frac_peak > 0)) {
                fprintf(f, "%s %s, no FMA peak recorded in its run | not measured |\n", b->impl,
                        fmt_s(b->t_med));
                continue;
            }
            got = b->frac_peak;
            /* No program outruns the FMA-only loop: a peak below sgemm was mismeasured,
             * and the fraction overstates. */
            const int suspect = b->sgemm > b->peak;
            fprintf(f, "%.3f (%s, %s, %.1f of %.1f GFLOP/s; %.2f of sgemm)", got, b->impl,
                    fmt_s(b->t_med), b->gflops, b->peak, b->frac);
            if (suspect)
                fprintf(f, " (suspect: this run's FMA peak measured below its sgemm, so the "
                           "fraction is not to be trusted: the clock changed under the "
                           "measurement, or the peak loop used a narrower ISA than BLIS)");
        } else {
            const int cold = strcmp(b->cache_state, "cold") == 0;
            if ((t->cold && !cold) || !(b->frac_bw > 0)) {
                fprintf(f, "%s %s, timed %s | not measured cold |\n", b->impl, fmt_s(b->t_med),
                        b->cache_state[0] ? b->cache_state : "warm (older bench)");
                continue;
            }
            got = b->frac_bw;
            fprintf(f, "%.3f (%s, %s, %.1f of %.1f GB/s, %s)", got, b->impl, fmt_s(b->t_med),
                    b->gbs, b->bw, b->cache_state[0] ? b->cache_state : "warm");
        }
        const int reached = got >= need;
        missed += !reached;
        const char *split = reached                ? NULL
                            : t->metric == OF_PEAK ? split_line(ds, op, pass, t->n, t->d,
                                                                t->heads, t->threads)
                                                   : per_core_line(ds, t, b);
        fprintf(f, " | %s%s%s |\n", reached ? "reached" : "not reached", split ? "; " : "",
                split ? split : "");
    }
    if (missed)
        fprintf(f, "\n%d target%s not reached. A compute-bound one is given its split from "
                   "`make split` (docs/DESIGN.md §5.6), run by `make bench` after its sweeps: "
                   "the fused kernel's time in its tile products, in the softmax and "
                   "bookkeeping, and in packing, and the bounds they put on the cell. A "
                   "memory-bound one is given the same cell on one thread (bench_t1.csv) and "
                   "the bound that rate puts on the cores together.\n",
                missed, missed > 1 ? "s" : "");
    fprintf(f, "\n");
}

static void cost_section(FILE *f, const dataset *ds)
{
    const int th = ds->main_threads;
    int ns[MAXPTS];
    int k = ds_ns(ds, NULL, NULL, th, ns, MAXPTS);
    fprintf(f, "## Training and inference cost (fastest implementation each, %d thread%s)\n\n",
            th, th > 1 ? "s" : "");
    provenance(f, ds, 0);
    fprintf(f, "| N | causal prefill (causal fwd) | cubic prefill (full fwd) | causal training "
               "(fwd+bwd) | cubic training (fwd+bwd) | cubic_shared training (fwd+bwd) | cubic "
               "/ causal training | cubic training / cubic prefill |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|\n");
    for (int j = 0; j < k; j++) {
        double cp = best_t(ds, OPN(CA_OP_CAUSAL), PASSN(BP_FWD), ns[j], th), fp = best_t(ds, OPN(CA_OP_FULL), PASSN(BP_FWD), ns[j], th);
        double ct = best_t(ds, OPN(CA_OP_CAUSAL), PASSN(BP_FWDBWD), ns[j], th);
        double qt = best_t(ds, OPN(CA_OP_CUBIC), PASSN(BP_FWDBWD), ns[j], th);
        double st = best_t(ds, OPN(CA_OP_CUBIC_SHARED), PASSN(BP_FWDBWD), ns[j], th);
        if (!(cp > 0) && !(fp > 0) && !(ct > 0) && !(qt > 0) && !(st > 0)) continue;
        char r1[32] = "—", r2[32] = "—";
        if (qt > 0 && ct > 0) snprintf(r1, sizeof r1, "%.3g", qt / ct);
        if (qt > 0 && fp > 0) snprintf(r2, sizeof r2, "%.3g", qt / fp);
        fprintf(f, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", ns[j], fmt_s(cp), fmt_s(fp),
                fmt_s(ct), fmt_s(qt), fmt_s(st), r1, r2);
    }
    const bench_record *roof = ds_roof(ds, th);
    fprintf(f, "\n### Per generated token\n\nA decode step does 4 d t FLOPs on the 8 d t bytes "
               "of its K and V cache (about half a FLOP per byte, docs/DESIGN.md §3): it is bound by "
               "memory, so it is judged by its GB/s against the triad bandwidth");
    if (roof && roof->bw > 0) fprintf(f, " of the same run (%.1f GB/s)", roof->bw);
    fprintf(f, ", timed cold as a model runs it (its cache evicted before each timed step).\n\n"
               "| context t | causal decode step (KV cache) | its GB/s, fraction of bandwidth | "
               "cubic per token (full pass over the prefix) | ratio |\n|---|---|---|---|---|\n");
    k = ds_ns(ds, OPN(CA_OP_DECODE), NULL, th, ns, MAXPTS);
    for (int j = 0; j < k; j++) {
        const bench_record *d = ds_fastest(ds, OPN(CA_OP_DECODE), PASSN(BP_STEP), ns[j], th);
        double a = d ? d->t_med : NAN, b = best_t(ds, OPN(CA_OP_FULL), PASSN(BP_FWD), ns[j], th);
        char r[32] = "—", g[96] = "—", fr[16] = "—";
        if (a > 0 && b > 0) snprintf(r, sizeof r, "%.3g", b / a);
        if (d && d->frac_bw > 0) snprintf(fr, sizeof fr, "%.2f", d->frac_bw);
        if (d && d->gbs > 0)
            snprintf(g, sizeof g, "%.1f GB/s, %s (%s)", d->gbs, fr,
                     d->cache_state[0] ? d->cache_state : "warm, older bench");
        fprintf(f, "| %d | %s | %s | %s | %s |\n", ns[j], fmt_s(a), g, fmt_s(b), r);
    }
    fprintf(f, "\n");
}

static void coverage_section(FILE *f, const dataset *ds)
{
    fprintf(f, "## Cells not timed, and accuracy of the timed ones\n\n");
    provenance(f, ds, 0);
    fprintf(f, "| impl | timed | skipped (time) | skipped (memory) | skipped (other) | not "
               "provided | error | worst max_err vs float64 |\n|---|---|---|---|---|---|---|---|\n");
    const char *impls[MAXIMPLS];
    int ni = ds_impls(ds, NULL, NULL, -1, impls, MAXIMPLS);
    int errors = 0;
    for (int i = 0; i < ni; i++) {
        int c[6] = {0};
        double worst = -1;
        for (int j = 0; j < ds->nb; j++) {
            const bench_record *b = &ds->b[j];
            if (strcmp(b->impl, impls[i]) != 0) continue;
            if (b->ok) c[0]++;
            else if (strncmp(b->status, "skipped: predicted time", 23) == 0) c[1]++;
            else if (strncmp(b->status, "skipped: memory", 15) == 0) c[2]++;
            else if (strncmp(b->status, "skipped", 7) == 0) c[3]++;
            else if (strcmp(b->status, "not provided") == 0) c[4]++;
            else c[5]++;
            if (b->max_err >= 0 && b->max_err > worst) worst = b->max_err;
            if (isinf(b->max_err)) worst = INFINITY;
        }
        errors += c[5];
        char w[32] = "not checked";
        if (worst >= 0) snprintf(w, sizeof w, "%.2e", worst);
        fprintf(f, "| %s | %d | %d | %d | %d | %d | %d | %s |\n", impls[i], c[0], c[1], c[2],
                c[3], c[4], c[5], w);
    }
    fprintf(f, "\nA cell is skipped when its predicted time (from the previous N and the "
               "operator's exponent) or its buffers exceed the bench's budget; every skipped "
               "cell is a row in the CSV with its reason. max_err = max|x - ref| / max|ref| "
               "against the float64 reference, on cells small enough to check.\n\n");
    if (errors) {
        fprintf(f, "Errors:\n\n");
        for (int j = 0; j < ds->nb; j++) {
            const bench_record *b = &ds->b[j];
            if (!b->ok && strncmp(b->status, "skipped", 7) != 0 &&
                strcmp(b->status, "not provided") != 0)
                fprintf(f, "- %s %s %s N=%d, %d thread(s): %s\n", b->impl, b->op, b->pass, b->n,
                        b->threads, b->status);
        }
        fprintf(f, "\n");
    }
}

static void verify_section(FILE *f, const dataset *ds)
{
    fprintf(f, "## Verification\n\n");
    if (ds->verify_files == 0) {
        fprintf(f, "No verification run recorded (no results/*.csv with the verify program's "
                   "columns; run `make verify`).\n\n");
        return;
    }
    provenance(f, ds, 1);
    const char *seen[MAXIMPLS];
    int ns = 0;
    for (int i = 0; i < ds->nv; i++) {
        const verify_record *v = &ds->v[i];
        if (strcmp(v->impl, "run") == 0) {
            if (v->note[0]) fprintf(f, "Run: %s.\n\n", v->note);
            continue;
        }
        int s = 0;
        for (int j = 0; j < ns && !s; j++) s = strcmp(seen[j], v->impl) == 0;
        if (!s && ns < MAXIMPLS) seen[ns++] = v->impl;
    }
    fprintf(f, "| impl | PASS | FAIL | not provided | other |\n|---|---|---|---|---|\n");
    int fails = 0;
    for (int j = 0; j < ns; j++) {
        int c[4] = {0};
        for (int i = 0; i < ds->nv; i++) {
            const verify_record *v = &ds->v[i];
            if (strcmp(v->impl, seen[j]) != 0 || strcmp(v->status, "-") == 0) continue;
            if (strcmp(v->status, "PASS") == 0) c[0]++;
            else if (strcmp(v->status, "FAIL") == 0) c[1]++;
            else if (strcmp(v->status, "not provided") == 0) c[2]++;
            else c[3]++;
        }
        fails += c[1];
        fprintf(f, "| %s | %d | %d | %d | %d |\n", seen[j], c[0], c[1], c[2], c[3]);
    }
    fprintf(f, "\n%s\n\n", fails ? "Failed checks:" : "Every recorded check passed.");
    for (int i = 0; i < ds->nv && fails; i++) {
        const verify_record *v = &ds->v[i];
        if (strcmp(v->status, "FAIL") == 0)
            fprintf(f, "- %s %s %s: err %s, tol %s %s\n", v->impl, v->entry, v->check, v->err,
                    v->tol, v->note);
    }
    if (fails) fprintf(f, "\n");
}

static void plots_section(FILE *f, const plot_list *plots, const char *link)
{
    fprintf(f, "## Plots\n\n");
    if (plots->count == 0) fprintf(f, "No plots (no timed cells).\n\n");
    for (int i = 0; i < plots->count; i++)
        fprintf(f, "### %s\n\n![%s](%s/%s)\n\n", plots->titles[i], plots->titles[i], link,
                plots->names[i]);
}

int markdown_write(const dataset *ds, const plot_list *plots, const char *plots_dir,
                   const char *plots_link, const char *results_dir, const char *out_path)
{
    size_t len = strlen(out_path) + 16;
    char *tmp = malloc(len);
    if (!tmp) return -1;
    snprintf(tmp, len, "%s.tmp", out_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "report: cannot write '%s': %s\n", out_path, strerror(errno));
        free(tmp);
        return -1;
    }
    fprintf(f, "# Causal vs cubic attention: benchmark report\n\n");
    fprintf(f, "_Generated by `make report` (build/report) from %s/*.csv: %d operator bench "
               "row(s) from %d file(s), %d model bench row(s), %d verification row(s). Every "
               "figure below is computed from those files; regenerate rather than edit._\n\n",
            results_dir, ds->nb, ds->bench_files, ds->nm, ds->nv);
    disturbed_caution(f, ds);
    model_headline(f, ds, plots_link);
    answer_section(f, ds);
    model_section(f, ds, plots_link);
    scaling_section(f, ds);
    /* Its callees name the cause of a failure; the report is then not replaced. */
    int experiment_bad = experiment_section(f, results_dir, plots_dir, plots_link) != 0;
    machine_section(f, ds);
    targets_section(f, ds);
    roofline_targets_section(f, ds);
    fused_vs_unfused_section(f, ds);
    exponents_section(f, ds);
    fastest_section(f, ds);
    cost_section(f, ds);
    coverage_section(f, ds);
    verify_section(f, ds);
    plots_section(f, plots, plots_link);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (experiment_bad || bad || rename(tmp, out_path) != 0) {
        if (experiment_bad) fprintf(stderr, "report: '%s' left as it was\n", out_path);
        else fprintf(stderr, "report: cannot write '%s': %s\n", out_path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
