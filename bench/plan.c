/* plan.c: the sweep. Lays out every cell (threads x operator x pass x implementation x
 * N, N ascending within a chain), predicts each cell's time from the chain's previous
 * measurement and the operator's exponent, skips (and records) cells over the time or
 * memory budget, runs the rest, and reports progress with an ETA on stderr. */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cell {
    int ti, ii; /* index into cfg->threads, cfg->impls */
    bop op;
    bpass pass;
    int n;
    int chain;
} cell;

/* What a chain (same threads, op, pass, impl; growing N) has measured so far. */
typedef struct chain {
    int measured;
    int n_last, n_prev;
    double t_last, t_prev;
} chain;

static int chain_index(const bench_config *cfg, int ti, bop op, bpass p, int ii)
{
    return ((ti * BOP_COUNT + (int)op) * BP_COUNT + (int)p) * cfg->n_impls + ii;
}

/* Predicted seconds of one call, or -1 when the chain has nothing to go on. */
static double predict(const chain *ch, bop op, bpass p, int n)
{
    if (ch->measured == 0) return -1;
    double e = cell_exponent(op, p);
    double lo = op == BOP_SHARED ? 2.0 : e, hi = e + 1.0;
    /* the measured local slope, when the times are long enough to trust */
    if (ch->measured >= 2 && ch->t_prev > 1e-4 && ch->n_last > ch->n_prev) {
        double emp = log(ch->t_last / ch->t_prev) / log((double)ch->n_last / ch->n_prev);
        e = emp < lo ? lo : emp > hi ? hi : emp;
    }
    return ch->t_last * pow((double)n / ch->n_last, e);
}

/* Seconds a cell will take if run: (forward for a backward,) warm-up, repetitions. */
static double cell_cost(const bench_config *cfg, bpass p, double t_call)
{
    double reps = t_call > cfg->rep_time ? t_call : cfg->rep_time;
    return (p == BP_BWD ? 0.4 * t_call : 0) + t_call + reps;
}

static int provided(const ca_impl *impl, bop op, bpass p)
{
    ca_entry fe = p == BP_FULL_STEP ? CA_FULL_FWD : bop_fwd_entry(op);
    if (!ca_impl_provides(impl, fe)) return 0;
    if (p == BP_BWD || p == BP_FWDBWD) return ca_impl_provides(impl, bop_bwd_entry(op));
    return 1;
}

static const char *impl_note(const ca_impl *impl, int is_provided)
{
    if (!is_provided && impl->absent_reason) return impl->absent_reason;
    if (impl->runtime_note) {
        const char *s = impl->runtime_note();
        if (s) return s;
    }
    return "";
}

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

/* Remaining time: each cell predicted from its chain, or at the mean cost so far. */
static double eta(const bench_config *cfg, const cell *cells, int from, int count,
                  const chain *chains, double mean_cost)
{
    double total = 0;
    for (int i = from; i < count; i++) {
        const cell *c = &cells[i];
        const ca_impl *impl = cfg->impls[c->ii];
        if (!provided(impl, c->op, c->pass)) continue;
        double t = predict(&chains[c->chain], c->op, c->pass, c->n);
        if (t < 0) total += mean_cost;
        else if (cell_cost(cfg, c->pass, t) <= cfg->budget) total += cell_cost(cfg, c->pass, t);
    }
    return total;
}

/* Median GFLOP/s of BLIS sgemm at the configured size, reported on stderr. */
static double ceiling(const bench_config *cfg, int threads, const char *when)
{
    fprintf(stderr, "bench: sgemm ceiling (%s), %d x %d x %d, %d thread(s) ... ", when,
            cfg->sgemm_n, cfg->sgemm_n, cfg->sgemm_n, threads);
    double g = machine_sgemm_gflops(cfg->sgemm_n, threads, 1.0);
    fprintf(stderr, "%.1f GFLOP/s\n", g);
    return g;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int sweep_run(const bench_config *cfg, machine_info *m, csv_out *out)
{
    /* N ascending within each chain */
    int ns[BENCH_MAX_NS];
    memcpy(ns, cfg->ns, sizeof ns);
    qsort(ns, (size_t)cfg->n_ns, sizeof ns[0], cmp_int);

    int max_cells = cfg->n_threads * BOP_COUNT * BP_COUNT * cfg->n_impls * cfg->n_ns;
    cell *cells = calloc((size_t)max_cells + 1, sizeof *cells);
    int n_chains = cfg->n_threads * BOP_COUNT * BP_COUNT * cfg->n_impls;
    chain *chains = calloc((size_t)n_chains + 1, sizeof *chains);
    double *sgemm = calloc((size_t)cfg->n_threads, sizeof *sgemm);
    double *impl_rate = calloc((size_t)cfg->n_impls, sizeof *impl_rate); /* best FLOP/s */
    bench_row *rows = calloc((size_t)max_cells + 1, sizeof *rows);
    if (!cells || !chains || !sgemm || !impl_rate || !rows) {
        free(rows);
        fprintf(stderr, "bench: out of memory planning the sweep\n");
        free(cells);
        free(chains);
        free(sgemm);
        free(impl_rate);
        return -1;
    }
    int count = 0;
    /* the N^3 operators last: if the sweep's time cap is ever reached, it cuts them */
    static const bop order[BOP_COUNT] = {BOP_CAUSAL, BOP_FULL, BOP_DECODE, BOP_SHARED,
                                         BOP_CUBIC};
    for (int ti = 0; ti < cfg->n_threads; ti++)
        for (int oi = 0; oi < BOP_COUNT; oi++) {
            const int op = (int)order[oi];
            if (!cfg->op_on[op]) continue;
            for (int p = 0; p < BP_COUNT; p++) {
                if (!cell_kind_exists((bop)op, (bpass)p)) continue;
                if (op != BOP_DECODE && !cfg->pass_on[p]) continue;
                for (int ii = 0; ii < cfg->n_impls; ii++)
                    for (int k = 0; k < cfg->n_ns; k++) {
                        if (k > 0 && ns[k] == ns[k - 1]) continue;
                        cells[count++] = (cell){ti, ii, (bop)op, (bpass)p, ns[k],
                                                chain_index(cfg, ti, (bop)op, (bpass)p, ii)};
                    }
            }
        }

    const double start = now_seconds();
    double spent_cells = 0;
    int ran = 0, rc = 0, last_ti = -1;
    for (int i = 0; i < count && rc == 0; i++) {
        const cell *c = &cells[i];
        const ca_impl *impl = cfg->impls[c->ii];
        const int threads = cfg->threads[c->ti];
        if (c->ti != last_ti) {
            last_ti = c->ti;
            sgemm[c->ti] = ceiling(cfg, threads, "start");
        }
        chain *ch = &chains[c->chain];
        bench_row row;
        memset(&row, 0, sizeof row);
        row.impl = impl->name;
        row.op = c->op;
        row.pass = c->pass;
        row.n = c->n;
        row.d = cfg->d;
        row.heads = cfg->heads;
        row.threads = threads;
        row.t_min = row.t_median = row.t_max = -1;
        row.max_err = -1;
        row.err_ref = "";
        row.flops = cell_flops(c->op, c->pass, c->n, cfg->d, cfg->heads);
        row.sgemm_gflops = sgemm[c->ti];
        row.sgemm_n = cfg->sgemm_n;
        row.predicted_s = predict(ch, c->op, c->pass, c->n);
        if (row.predicted_s < 0 && impl_rate[c->ii] > 0)
            row.predicted_s = row.flops / impl_rate[c->ii];
        ca_shape sh = {c->n, cfg->d, cfg->heads};
        const int is_provided = provided(impl, c->op, c->pass);
        row.bytes = is_provided ? cell_bytes(impl, c->op, c->pass, sh, threads) : -1;

        const double elapsed = now_seconds() - start;
        if (!is_provided) {
            snprintf(row.status, sizeof row.status, "not provided");
        } else if (cfg->total_budget > 0 && elapsed > cfg->total_budget) {
            snprintf(row.status, sizeof row.status,
                     "skipped: sweep time budget %.0f s used up", cfg->total_budget);
        } else if (row.bytes < 0) {
            snprintf(row.status, sizeof row.status, "skipped: buffer sizes overflow");
        } else if (row.bytes > cfg->mem_budget) {
            snprintf(row.status, sizeof row.status,
                     "skipped: memory %.2f GB over budget %.2f GB", row.bytes / 1e9,
                     cfg->mem_budget / 1e9);
        } else if (row.predicted_s >= 0 &&
                   cell_cost(cfg, c->pass, row.predicted_s) > cfg->budget) {
            snprintf(row.status, sizeof row.status,
                     "skipped: predicted time %.3g s for the cell (%.3g s per call) over budget "
                     "%.3g s", cell_cost(cfg, c->pass, row.predicted_s), row.predicted_s,
                     cfg->budget);
        } else {
            double t0 = now_seconds();
            if (cell_run(cfg, impl, c->op, c->pass, c->n, threads, &row) == 0) {
                row.gflops = row.flops / row.t_median / 1e9;
                row.frac_of_sgemm = row.sgemm_gflops > 0 ? row.gflops / row.sgemm_gflops : 0;
                ch->n_prev = ch->n_last;
                ch->t_prev = ch->t_last;
                ch->n_last = c->n;
                ch->t_last = row.t_median;
                ch->measured++;
                if (row.gflops * 1e9 > impl_rate[c->ii]) impl_rate[c->ii] = row.gflops * 1e9;
            }
            spent_cells += now_seconds() - t0;
            ran++;
        }
        row.impl_note = impl_note(impl, is_provided);
        rows[i] = row;

        char took[160] = "", left[32];
        if (strcmp(row.status, "ok") == 0)
            snprintf(took, sizeof took, "%.3e s median, %d reps, %.2f GFLOP/s (%.2f of sgemm)",
                     row.t_median, row.reps, row.gflops, row.frac_of_sgemm);
        double rem = eta(cfg, cells, i + 1, count, chains, ran ? spent_cells / ran : 1.0) + 2.0;
        fmt_duration(rem, left, sizeof left);
        fprintf(stderr, "[%4d/%4d] %-8s %-12s %-9s n=%-5d t=%d: %s  (%d left, ETA %s)\n",
                i + 1, count, impl->name, bop_name(c->op), bpass_name(c->pass), c->n,
                threads, took[0] ? took : row.status, count - i - 1, left);

        /* the ceiling again at the end of each thread count's block: a run shares the
         * machine with whatever else runs, and the better of the two medians is the
         * ceiling every row of that thread count is quoted against */
        if (i + 1 == count || cells[i + 1].ti != c->ti) {
            double again = ceiling(cfg, threads, "end");
            if (again > sgemm[c->ti]) sgemm[c->ti] = again;
        }
    }
    machine_cpu_end(m);
    if (m->other_cores > 0.2)
        fprintf(stderr, "bench: warning: other processes used %.2f cores during the sweep; "
                        "timings are disturbed\n", m->other_cores);
    for (int i = 0; i < count && rc == 0; i++) {
        bench_row *row = &rows[i];
        row->sgemm_gflops = sgemm[cells[i].ti];
        if (row->t_median > 0 && row->sgemm_gflops > 0)
            row->frac_of_sgemm = row->gflops / row->sgemm_gflops;
        if (csv_out_row(out, row, m) != 0) rc = -1;
    }
    char total[32];
    fmt_duration(now_seconds() - start, total, sizeof total);
    fprintf(stderr, "bench: %d cells (%d timed) in %s\n", count, ran, total);
    free(cells);
    free(chains);
    free(sgemm);
    free(impl_rate);
    free(rows);
    return rc;
}
