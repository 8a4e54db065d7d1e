/* plan.c: the sweep. Lays out every cell (threads x operator x pass x implementation x
 * N, N ascending within a chain), predicts each cell's time from the chain's previous
 * measurement and the operator's exponent, skips (and records) cells over the time or
 * memory budget, runs the rest, and reports progress with an ETA on stderr. */
#include "bench.h"
#include "clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cell {
    int ti, ii; /* index into cfg->threads, cfg->impls */
    ca_op op;
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

static int chain_index(const bench_config *cfg, int ti, ca_op op, bpass p, int ii)
{
    return ((ti * CA_OP_COUNT + (int)op) * BP_COUNT + (int)p) * cfg->n_impls + ii;
}

/* Predicted seconds of one call, or -1 when the chain has nothing to go on. */
static double predict(const chain *ch, ca_op op, int n)
{
    if (ch->measured == 0) return -1;
    const ca_op_info *info = ca_op_get(op);
    double e = op_exponent(op);
    /* N input rows feeding T = N(N+1)/2 output rows can be computed in Theta(T d), as
     * cubic_shared's row sweep does: the slope may fall to the output's 2. */
    double lo = info->kv_rows == CA_ROWS_N && info->out_rows == CA_ROWS_PACKED ? 2.0 : e;
    double hi = e + 1.0;
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

static int provided(const ca_impl *impl, ca_op op, bpass p)
{
    const ca_op_info *info = ca_op_get(op);
    if (!ca_impl_provides(impl, info->fwd)) return 0;
    return !bpass_runs_bwd(p) || ca_impl_provides(impl, info->bwd);
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
        double t = predict(&chains[c->chain], c->op, c->n);
        if (t < 0) total += mean_cost;
        else if (cell_cost(cfg, c->pass, t) <= cfg->budget) total += cell_cost(cfg, c->pass, t);
    }
    return total;
}

/* The thread count's ceilings, measured now (`when`: start or end of its block) and
 * merged into c: each the better of the measurements so far. Reported on stderr. */
static void measure_ceilings(const bench_config *cfg, int threads, const char *when,
                             ceilings *c)
{
    fprintf(stderr, "bench: ceilings (%s), %d thread(s): sgemm %d^3 ... ", when, threads,
            cfg->sgemm_n);
    double g = machine_sgemm_gflops(cfg->sgemm_n, threads, 1.0);
    fprintf(stderr, "%.1f GFLOP/s; FMA peak (%s) ... ", g, roof_isa());
    double pk = roof_peak_gflops(threads, cfg->roof_time);
    fprintf(stderr, "%.1f; micro-kernel %s ... ", pk, roof_ukr_shape());
    double uk = roof_ukr_gflops(threads, cfg->roof_time);
    fprintf(stderr, "%.1f; triad bandwidth ... ", uk);
    double bw = roof_bw_gbs(threads, cfg->roof_time);
    int known = 0;
    double llc = roof_llc_bytes(&known);
    fprintf(stderr, "%.1f GB/s (%.0f MiB of buffers, LLC %s%.0f MiB)\n", bw,
            roof_bw_buffer_bytes() / 1048576.0, known ? "" : "unknown, taken as ",
            known ? llc / 1048576.0 : 16.0);
    if (g > c->sgemm) c->sgemm = g;
    if (uk > c->ukr) c->ukr = uk;
    if (bw > c->bw) c->bw = bw;
    if (pk > c->peak) {
        c->peak = pk;
        roof_peak_note(pk, threads, c->peak_note, sizeof c->peak_note);
    }
    fprintf(stderr, "bench: FMA peak %s\n", c->peak_note);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Sweep order: the operators whose work grows as N^3 last, so that they are the ones a
 * time cap cuts, and among them those whose inputs are shared (computable in Theta(N^2 d))
 * before the truly cubic ones; otherwise table order. Every operator appears once. */
static int sweep_rank(ca_op op)
{
    const ca_op_info *info = ca_op_get(op);
    if (op_exponent(op) < 3.0) return 0;
    return info->kv_rows == CA_ROWS_N ? 1 : 2;
}

static int sweep_order(ca_op order[CA_OP_COUNT])
{
    int k = 0;
    for (int rank = 0; rank <= 2; rank++)
        for (int op = 0; op < CA_OP_COUNT; op++)
            if (sweep_rank((ca_op)op) == rank) order[k++] = (ca_op)op;
    return k;
}

/* Every cell of the sweep, N ascending within each chain; returns the count. ns sorted. */
static int plan_cells(const bench_config *cfg, const int *ns, cell *cells)
{
    ca_op order[CA_OP_COUNT];
    const int nops = sweep_order(order);
    int count = 0;
    for (int ti = 0; ti < cfg->n_threads; ti++)
        for (int oi = 0; oi < nops; oi++) {
            const ca_op op = order[oi];
            if (!cfg->op_on[op]) continue;
            for (int p = 0; p < BP_COUNT; p++) {
                if (!op_has_pass(op, (bpass)p) || !cfg->pass_on[p]) continue;
                for (int ii = 0; ii < cfg->n_impls; ii++)
                    for (int k = 0; k < cfg->n_ns; k++) {
                        if (k > 0 && ns[k] == ns[k - 1]) continue;
                        if (cells)
                            cells[count] = (cell){ti, ii, op, (bpass)p, ns[k],
                                                  chain_index(cfg, ti, op, (bpass)p, ii)};
                        count++;
                    }
            }
        }
    return count;
}

static void sorted_ns(const bench_config *cfg, int ns[BENCH_MAX_NS])
{
    memcpy(ns, cfg->ns, BENCH_MAX_NS * sizeof ns[0]);
    qsort(ns, (size_t)cfg->n_ns, sizeof ns[0], cmp_int);
}

int sweep_count(const bench_config *cfg)
{
    int ns[BENCH_MAX_NS];
    sorted_ns(cfg, ns);
    return plan_cells(cfg, ns, NULL);
}

/* The row of a cell before it runs: identity, FLOPs, prediction and bytes. */
static bench_row row_of(const bench_config *cfg, const cell *c, const chain *ch,
                        double impl_rate, const ceilings *ceil)
{
    const ca_impl *impl = cfg->impls[c->ii];
    bench_row row;
    memset(&row, 0, sizeof row);
    row.impl = impl->name;
    row.op = c->op;
    row.pass = c->pass;
    row.n = c->n;
    row.d = cfg->d;
    row.heads = cfg->heads;
    row.threads = cfg->threads[c->ti];
    row.t_min = row.t_median = row.t_max = -1;
    row.max_err = -1;
    row.err_ref = "";
    row.flops = cell_flops(c->op, c->pass, c->n, cfg->d, cfg->heads);
    row.sgemm_gflops = ceil->sgemm;
    row.peak_gflops = ceil->peak; /* so far; write_rows sets the final ceilings */
    row.sgemm_n = cfg->sgemm_n;
    row.bytes_moved = cell_traffic(c->op, c->pass, c->n, cfg->d, cfg->heads);
    row.cache_state = bpass_cold(c->op, c->pass) ? "cold" : "warm";
    row.predicted_s = predict(ch, c->op, c->n);
    if (row.predicted_s < 0 && impl_rate > 0) row.predicted_s = row.flops / impl_rate;
    ca_shape sh = {c->n, cfg->d, cfg->heads, 0};
    const int is_provided = provided(impl, c->op, c->pass);
    row.bytes = is_provided ? cell_bytes(impl, c->op, c->pass, sh, row.threads) : -1;
    row.impl_note = impl_note(impl, is_provided);
    if (!is_provided) snprintf(row.status, sizeof row.status, "not provided");
    return row;
}

/* Why a provided cell is not run (into row->status), or 0 to run it. */
static int skipped(const bench_config *cfg, bench_row *row, double elapsed)
{
    if (cfg->total_budget > 0 && elapsed > cfg->total_budget) {
        snprintf(row->status, sizeof row->status,
                 "skipped: sweep time budget %.0f s used up", cfg->total_budget);
    } else if (row->bytes < 0) {
        snprintf(row->status, sizeof row->status, "skipped: buffer sizes overflow");
    } else if (row->bytes > cfg->mem_budget) {
        snprintf(row->status, sizeof row->status, "skipped: memory %.2f GB over budget %.2f GB",
                 row->bytes / 1e9, cfg->mem_budget / 1e9);
    } else if (row->predicted_s >= 0 &&
               cell_cost(cfg, row->pass, row->predicted_s) > cfg->budget) {
        snprintf(row->status, sizeof row->status,
                 "skipped: predicted time %.3g s for the cell (%.3g s per call) over budget "
                 "%.3g s", cell_cost(cfg, row->pass, row->predicted_s), row->predicted_s,
                 cfg->budget);
    } else {
        return 0;
    }
    return 1;
}

static void chain_add(chain *ch, int n, double t)
{
    ch->n_prev = ch->n_last;
    ch->t_prev = ch->t_last;
    ch->n_last = n;
    ch->t_last = t;
    ch->measured++;
}

static void progress_line(int i, int count, const bench_row *row, double eta_s)
{
    char took[160] = "", left[32];
    if (strcmp(row->status, "ok") == 0)
        snprintf(took, sizeof took, "%.3e s median, %d reps, %.2f GFLOP/s (%.2f of sgemm, "
                 "%.2f of peak), %.2f GB/s%s", row->t_median, row->reps, row->gflops,
                 row->frac_of_sgemm, row->peak_gflops > 0 ? row->gflops / row->peak_gflops : 0,
                 row->gbs, bpass_cold(row->op, row->pass) ? " cold" : "");
    fmt_duration(eta_s, left, sizeof left);
    fprintf(stderr, "[%4d/%4d] %-8s %-12s %-6s n=%-5d t=%d: %s  (%d left, ETA %s)\n", i + 1,
            count, row->impl, ca_op_get(row->op)->name, bpass_name(row->pass), row->n,
            row->threads, took[0] ? took : row->status, count - i - 1, left);
}

/* Every row quoted against its thread count's final ceilings, then written. */
static int write_rows(const cell *cells, bench_row *rows, int count, const ceilings *ceil,
                      const machine_info *m, csv_out *out)
{
    for (int i = 0; i < count; i++) {
        bench_row *row = &rows[i];
        const ceilings *c = &ceil[cells[i].ti];
        row->sgemm_gflops = c->sgemm;
        row->peak_gflops = c->peak;
        row->ukr_gflops = c->ukr;
        row->bw_gbs = c->bw;
        row->peak_note = c->peak_note;
        if (row->t_median > 0 && row->sgemm_gflops > 0)
            row->frac_of_sgemm = row->gflops / row->sgemm_gflops;
        if (bench_row_write(out, row, m) != 0) return -1;
    }
    return 0;
}

/* The scratch of a sweep, allocated together. */
typedef struct sweep {
    cell *cells;
    chain *chains;
    ceilings *ceil;            /* per thread count */
    double *impl_rate;         /* per implementation best FLOP/s */
    bench_row *rows;
    int count;
} sweep;

static void sweep_free(sweep *w)
{
    free(w->cells);
    free(w->chains);
    free(w->ceil);
    free(w->impl_rate);
    free(w->rows);
}

static int sweep_alloc(const bench_config *cfg, sweep *w)
{
    int ns[BENCH_MAX_NS];
    sorted_ns(cfg, ns);
    const int max_cells = plan_cells(cfg, ns, NULL);
    const int n_chains = cfg->n_threads * CA_OP_COUNT * BP_COUNT * cfg->n_impls;
    w->cells = calloc((size_t)max_cells + 1, sizeof *w->cells);
    w->chains = calloc((size_t)n_chains + 1, sizeof *w->chains);
    w->ceil = calloc((size_t)cfg->n_threads, sizeof *w->ceil);
    w->impl_rate = calloc((size_t)cfg->n_impls, sizeof *w->impl_rate);
    w->rows = calloc((size_t)max_cells + 1, sizeof *w->rows);
    if (!w->cells || !w->chains || !w->ceil || !w->impl_rate || !w->rows) {
        fprintf(stderr, "bench: out of memory planning the sweep\n");
        sweep_free(w);
        return -1;
    }
    w->count = plan_cells(cfg, ns, w->cells);
    return 0;
}

int sweep_run(const bench_config *cfg, machine_info *m, csv_out *out)
{
    sweep w;
    if (sweep_alloc(cfg, &w) != 0) return -1;
    const double start = now_seconds();
    double spent_cells = 0;
    int ran = 0, timed = 0, last_ti = -1;
    for (int i = 0; i < w.count; i++) {
        const cell *c = &w.cells[i];
        const int threads = cfg->threads[c->ti];
        if (c->ti != last_ti) {
            last_ti = c->ti;
            measure_ceilings(cfg, threads, "start", &w.ceil[c->ti]);
        }
        chain *ch = &w.chains[c->chain];
        bench_row row = row_of(cfg, c, ch, w.impl_rate[c->ii], &w.ceil[c->ti]);
        if (row.status[0] == '\0' && !skipped(cfg, &row, now_seconds() - start)) {
            double t0 = now_seconds();
            if (cell_run(cfg, cfg->impls[c->ii], c->op, c->pass, c->n, threads, &row) == 0) {
                row.gflops = row.flops / row.t_median / 1e9;
                row.frac_of_sgemm = row.sgemm_gflops > 0 ? row.gflops / row.sgemm_gflops : 0;
                row.gbs = row.bytes_moved / row.t_median / 1e9;
                chain_add(ch, c->n, row.t_median);
                if (row.gflops * 1e9 > w.impl_rate[c->ii]) w.impl_rate[c->ii] = row.gflops * 1e9;
                timed++;
            }
            spent_cells += now_seconds() - t0;
            ran++;
        }
        w.rows[i] = row;
        progress_line(i, w.count,
                      &row, eta(cfg, w.cells, i + 1, w.count, w.chains,
                                ran ? spent_cells / ran : 1.0) + 2.0);
        /* the ceilings again at the end of each thread count's block: a run shares the
         * machine with whatever else runs, and the better of the two medians is the
         * ceiling every row of that thread count is quoted against */
        if (i + 1 == w.count || w.cells[i + 1].ti != c->ti)
            measure_ceilings(cfg, threads, "end", &w.ceil[c->ti]);
    }
    machine_cpu_end(m);
    if (m->other_cores > 0.2)
        fprintf(stderr, "bench: warning: other processes used %.2f cores during the sweep; "
                        "timings are disturbed\n", m->other_cores);
    char total[32];
    fmt_duration(now_seconds() - start, total, sizeof total);
    fprintf(stderr, "bench: %d cells (%d timed) in %s\n", w.count, timed, total);
    int rc = 0;
    if (timed == 0) {
        /* Evidence of nothing must not replace evidence of something. */
        fprintf(stderr, "bench: no cell was timed (each row above says why); the results "
                        "file is left as it was\n");
        rc = -1;
    } else {
        rc = write_rows(w.cells, w.rows, w.count, w.ceil, m, out);
    }
    sweep_free(&w);
    roof_release();
    return rc;
}
