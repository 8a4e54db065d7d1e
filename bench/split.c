/* split.c: bench --split (docs/DESIGN.md §5.6): where the time of a fused attention
 * kernel goes. For each cell the implementation (default omp, the fastest fused one) runs
 * with the kernel profile on (impls/kernels/kprof.h), and the row splits one call's wall
 * time into the backend's tile products, the packing of K^T / V^T and the rest (softmax,
 * rescales, masks, bookkeeping, waits at barriers): the evidence behind a missed
 * roofline target. Of the rest, t_outside_s is what lies outside the engine's calls and
 * the packing (zeroing, partial-gradient sums, barriers, a descheduled team mate).
 *
 * Repetitions alternate profile off and on, so that both see the same machine load; the
 * split is taken from the profiled ones alone (t_total_s their mean per call), the
 * unprofiled mean is written beside it as the cost of profiling. A part's time is summed
 * over the threads and divided by the cell's thread count: each thread's share of the
 * wall time, so products + packing + other = t_total_s. */
#include "bench.h"
#include "clock.h"
#include "kprof.h"
#include "results.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The roofline targets' cells (report/markdown.c) plus full bwd at N = 4096. */
static const split_cell target_cells[] = {
    {CA_OP_CAUSAL, BP_FWD, 4096, 64, 4, 2}, {CA_OP_FULL, BP_FWD, 1024, 64, 4, 2},
    {CA_OP_FULL, BP_FWD, 4096, 64, 4, 2},   {CA_OP_CUBIC, BP_FWD, 1024, 64, 4, 2},
    {CA_OP_CAUSAL, BP_BWD, 4096, 64, 4, 2}, {CA_OP_FULL, BP_BWD, 4096, 64, 4, 2},
    {CA_OP_CUBIC, BP_BWD, 512, 64, 4, 2},   {CA_OP_CAUSAL, BP_FWD, 4096, 64, 4, 1},
    {CA_OP_CAUSAL, BP_FWD, 4096, 128, 4, 2},
};

/* --quick: the same cells at N <= QUICK_N, seconds in all. */
enum { QUICK_N = 256 };

/* cubic_shared's row sweep calls the register kernel directly, not through the tile
 * engine, so its products would be counted as "other". */
static int profiled_op(ca_op op) { return op != CA_OP_CUBIC_SHARED; }

int split_cells(const bench_config *cfg, int explicit_cells, split_cell *out, int cap)
{
    int k = 0;
    if (!explicit_cells) {
        for (size_t i = 0; i < sizeof target_cells / sizeof *target_cells && k < cap; i++) {
            out[k] = target_cells[i];
            if (cfg->quick && out[k].n > QUICK_N) out[k].n = QUICK_N;
            k++;
        }
        return k;
    }
    for (int op = 0; op < CA_OP_COUNT; op++)
        for (int p = 0; p < BP_COUNT; p++) {
            if (!cfg->op_on[op] || !cfg->pass_on[p] || !op_has_pass(op, p) || !profiled_op(op))
                continue;
            for (int t = 0; t < cfg->n_threads; t++)
                for (int i = 0; i < cfg->n_ns && k < cap; i++)
                    out[k++] = (split_cell){op, p, cfg->ns[i], cfg->d, cfg->heads, cfg->threads[t]};
        }
    return k;
}

/* One cell's measurement. */
typedef struct split_row {
    const char *impl;
    split_cell c;
    int reps;
    long calls;
    double t_total, t_products, t_packing, t_other, t_unprofiled, flops, peak;
    double t_outside; /* of t_other: outside the engine and packing; < 0 when unknown */
    unsigned long long product_calls, packing_calls;
    char status[200];
} split_row;

/* Times the cell: a warm-up sets the calls per repetition (>= 1 ms), then repetitions
 * alternate profile off and on until each mode has rep_time and MIN_REPS, within the
 * cell's budget (at least one of each). */
static void measure(const bench_config *cfg, const ca_impl *impl, split_row *r)
{
    bench_config cc = *cfg;
    cc.d = r->c.d;
    cc.heads = r->c.heads;
    bench_row br;
    memset(&br, 0, sizeof br);
    /* As the sweep does (plan.c): a cell whose buffers pass --mem is not run, rather than
     * left to the kernel's out-of-memory killer, which would take the whole run with it. */
    const ca_shape sh = {r->c.n, r->c.d, r->c.heads, 0};
    const double bytes = cell_bytes(impl, r->c.op, r->c.pass, sh, r->c.threads);
    if (bytes < 0 || bytes > cfg->mem_budget) {
        snprintf(r->status, sizeof r->status, bytes < 0 ? "skipped: buffer sizes overflow"
                                                        : "skipped: memory %.2f GB over budget %.2f GB",
                 bytes / 1e9, cfg->mem_budget / 1e9);
        return;
    }
    const double t_cell = now_seconds();
    cell_ctx *x = cell_open(&cc, impl, r->c.op, r->c.pass, r->c.n, r->c.threads, &br);
    if (!x) {
        snprintf(r->status, sizeof r->status, "%s", br.status);
        return;
    }
    ca_status st;
    double t0 = now_seconds();
    if ((st = cell_call(x)) != CA_OK) {
        snprintf(r->status, sizeof r->status, "error: %s", ca_status_str(st));
        cell_close(x);
        return;
    }
    const double tw = now_seconds() - t0;
    long inner = tw < 1e-3 ? (tw > 0 ? (long)ceil(1e-3 / tw) : 1000) : 1;
    if (inner > 100000) inner = 100000;

    kprof_reset();
    double on = 0, off = 0;
    int reps_on = 0, reps_off = 0;
    while (st == CA_OK && reps_on < cfg->max_reps) {
        t0 = now_seconds();
        for (long i = 0; i < inner && st == CA_OK; i++) st = cell_call(x);
        const double t_off = now_seconds() - t0;
        off += t_off;
        reps_off++;
        kprof_start();
        t0 = now_seconds();
        for (long i = 0; i < inner && st == CA_OK; i++) st = cell_call(x);
        const double t_on = now_seconds() - t0;
        kprof_stop();
        on += t_on;
        reps_on++;
        if (off >= cfg->rep_time && on >= cfg->rep_time && reps_on >= MIN_REPS) break;
        if (now_seconds() - t_cell + t_off + t_on > cfg->budget) break;
    }
    cell_close(x);
    if (st != CA_OK) {
        snprintf(r->status, sizeof r->status, "error: during repetitions: %s",
                 ca_status_str(st));
        return;
    }
    const kprof_totals k = kprof_read();
    const double calls = (double)inner * reps_on, per = calls * r->c.threads;
    r->reps = reps_on;
    r->calls = (long)calls;
    /* the profile's own window (the timed calls and two clock reads a repetition): every
     * timed interval lies inside it, so products + packing cannot exceed it */
    r->t_total = k.wall / calls;
    r->t_unprofiled = off / ((double)inner * reps_off);
    r->t_products = k.seconds[KPROF_PRODUCTS] / per;
    r->t_packing = k.seconds[KPROF_PACKING] / per;
    r->t_other = r->t_total - r->t_products - r->t_packing;
    /* an implementation that does not wrap its engine calls leaves this unknown */
    r->t_outside = k.calls[KPROF_ENGINE]
                       ? r->t_total - r->t_packing - k.seconds[KPROF_ENGINE] / per
                       : -1;
    r->product_calls = k.calls[KPROF_PRODUCTS];
    r->packing_calls = k.calls[KPROF_PACKING];
    if (r->product_calls == 0)
        snprintf(r->status, sizeof r->status,
                 "error: no product call was profiled (%s does not run the tile engine)",
                 impl->name);
    else
        snprintf(r->status, sizeof r->status, "ok");
}

static int write_row(csv_out *o, const split_row *r, const machine_info *m)
{
    const int ok = strcmp(r->status, "ok") == 0, pk = ok && r->peak > 0;
    const double pg = ok && r->t_products > 0 ? r->flops / r->t_products / 1e9 : 0;
    const split_record rec = {
        /* the cell */
        .impl = r->impl, .op = ca_op_get(r->c.op)->name, .pass = bpass_name(r->c.pass),
        .n = r->c.n, .d = r->c.d, .heads = r->c.heads, .threads = r->c.threads,
        .reps = ok ? r->reps : 0, .calls = ok ? r->calls : 0,
        /* one call's time and its parts */
        .t_total = csv_real_if(ok, r->t_total), .t_products = csv_real_if(ok, r->t_products),
        .t_packing = csv_real_if(ok, r->t_packing), .t_other = csv_real_if(ok, r->t_other),
        .t_outside = csv_real_if(ok && r->t_outside > -1, r->t_outside),
        .t_unprofiled = csv_real_if(ok, r->t_unprofiled),
        /* the products' rate against the peak, and what the profile counted */
        .flops = r->flops, .products_gflops = csv_real_if(pg > 0, pg),
        .peak = csv_real_if(r->peak > 0, r->peak),
        .products_frac_peak = csv_real_if(pk && pg > 0, pg / r->peak),
        .frac_peak = csv_real_if(pk, r->flops / r->t_total / 1e9 / r->peak),
        .product_calls = csv_real_if(ok, (double)r->product_calls),
        .packing_calls = csv_real_if(ok, (double)r->packing_calls), .clock = kprof_clock(),
        .status = r->status,
        /* the code and the machine */
        .commit = m->commit, .date = m->date, .cpu = m->cpu, .cores = m->cores,
        .other_cores = csv_real_if(m->other_cores >= 0, m->other_cores),
    };
    return csv_out_record(o, &rec);
}

/* FMA peak of each thread count among the cells, before and after them (the better of
 * the two medians, as the sweep takes it). */
static void peaks(const bench_config *cfg, const split_cell *cells, int ncells, double *pk)
{
    for (int i = 0; i < ncells; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = cells[j].threads == cells[i].threads;
        if (seen) {
            continue;
        }
        omp_set_num_threads(cells[i].threads);
        const double p = roof_peak_gflops(cells[i].threads, cfg->roof_time);
        for (int j = i; j < ncells; j++)
            if (cells[j].threads == cells[i].threads && p > pk[j]) pk[j] = p;
    }
}

int split_run(const bench_config *cfg, const split_cell *cells, int ncells, machine_info *m,
              csv_out *out)
{
    const ca_impl *impl = cfg->impls[0];
    double *pk = calloc((size_t)ncells, sizeof *pk);
    split_row *rows = calloc((size_t)ncells, sizeof *rows);
    if (!pk || !rows) {
        fprintf(stderr, "bench: out of memory\n");
        free(pk);
        free(rows);
        return -1;
    }
    machine_cpu_begin(m);
    peaks(cfg, cells, ncells, pk);
    int timed = 0;
    for (int i = 0; i < ncells; i++) {
        split_row *r = &rows[i];
        r->impl = impl->name;
        r->c = cells[i];
        r->flops = cell_flops(r->c.op, r->c.pass, r->c.n, r->c.d, r->c.heads);
        measure(cfg, impl, r);
        const int ok = strcmp(r->status, "ok") == 0;
        timed += ok;
        if (ok)
            fprintf(stderr, "[%3d/%3d] %s %s %s n=%d d=%d heads=%d t=%d: %.3e s a call: "
                            "products %.0f%%, packing %.0f%%, other %.0f%% (unprofiled %.3e s)\n",
                    i + 1, ncells, impl->name, ca_op_get(r->c.op)->name, bpass_name(r->c.pass),
                    r->c.n, r->c.d, r->c.heads, r->c.threads, r->t_total,
                    100 * r->t_products / r->t_total, 100 * r->t_packing / r->t_total,
                    100 * r->t_other / r->t_total, r->t_unprofiled);
        else
            fprintf(stderr, "[%3d/%3d] %s %s %s n=%d: %s\n", i + 1, ncells, impl->name,
                    ca_op_get(r->c.op)->name, bpass_name(r->c.pass), r->c.n, r->status);
    }
    peaks(cfg, cells, ncells, pk);
    machine_cpu_end(m);
    if (m->other_cores > 0.2)
        fprintf(stderr, "bench: other processes used %.2f cores during the run: the times "
                        "are disturbed (the shares less so: both modes saw the same load)\n",
                m->other_cores);
    int rc = 0;
    for (int i = 0; i < ncells && rc == 0; i++) {
        rows[i].peak = pk[i];
        rc = write_row(out, &rows[i], m);
    }
    free(pk);
    free(rows);
    return rc != 0 || timed == 0 ? -1 : 0;
}
