/* bench.h: the benchmark harness (docs/DESIGN.md §5). Types shared by its files:
 *   main.c     flags and the run as a whole
 *   plan.c     the cells of a sweep, time/memory prediction and skipping, ETA
 *   passes.c   the passes of each operator of the table, their FLOPs and exponents
 *   cell.c     one cell: buffers, warm-up, repetitions, error check
 *   machine.c  machine description and the sgemm ceiling
 *   csv_out.c  the results CSV (libcsv), written to a temp file and renamed */
#ifndef BENCH_H
#define BENCH_H

#include "cubattn.h"

#include <stddef.h>
#include <stdio.h>

/* Operators are the rows of the operator table (ca_op, cubattn.h). Their passes: fwd,
 * bwd and fwdbwd for an operator with a backward, fwd for one without, and step for a
 * decode step (one step at position t-1 against a KV cache of t rows: the per-token cost
 * of causal inference; cubic inference per token is a full pass over the prefix, the
 * full fwd cell at N = t). */
typedef enum bpass { BP_FWD, BP_BWD, BP_FWDBWD, BP_STEP, BP_COUNT } bpass;

const char *bpass_name(bpass p);
int bpass_parse(const char *s);  /* -1 if unknown */
/* "fwd, bwd, fwdbwd, step" and "causal, full, ...": the lists --help and errors show. */
const char *bpass_names(void);
const char *op_names(void);

/* Does operator op have pass p; does the pass call the backward. */
int op_has_pass(ca_op op, bpass p);
int bpass_runs_bwd(bpass p);
/* FLOPs of one call by docs/DESIGN.md §3, heads included. n = context t for a step. */
double cell_flops(ca_op op, bpass p, int n, int d, int heads);
/* Scaling exponent in N of the operator's work (2 for N^2, 3 for N^3, 1 for a step):
 * the prediction of a cell's time from its chain's previous one. */
double op_exponent(ca_op op);

#define BENCH_MAX_IMPLS 32
#define BENCH_MAX_NS 64
#define BENCH_MAX_THREADS 8

typedef struct bench_config {
    const ca_impl *impls[BENCH_MAX_IMPLS];
    int n_impls;
    int op_on[CA_OP_COUNT];
    int pass_on[BP_COUNT];
    int ns[BENCH_MAX_NS];
    int n_ns;
    int d, heads;
    int threads[BENCH_MAX_THREADS];
    int n_threads;
    double budget;        /* s: a cell whose predicted warm-up + 1 rep exceeds it is skipped */
    double rep_time;      /* s: repetitions continue until this much has been timed */
    int max_reps;
    double total_budget;  /* s: cells not started by then are written as skipped (0 = none) */
    double mem_budget;    /* bytes: a cell whose buffers exceed it is skipped */
    double err_flops;     /* max FLOPs of the float64 reference for the error check */
    int sgemm_n;          /* size of the square sgemm ceiling */
    const char *out;
    unsigned long long seed;
} bench_config;

/* The machine and build, recorded in every row. */
typedef struct machine_info {
    char commit[64];
    char date[40];       /* ISO 8601 UTC, start of the run */
    char compiler[128];
    char cflags[512];
    char cpu[160];
    int cores;
    char blis_config[160];
    /* other work on the machine during the sweep: the CPU time all processes but this one
     * used, in cores (0 = the machine was ours; -1 unknown). From /proc/stat and
     * /proc/self/stat, between machine_cpu_begin and machine_cpu_end. */
    double other_cores;
    double busy0, total0, self0; /* the snapshot taken by machine_cpu_begin */
} machine_info;

void machine_describe(machine_info *m);
void machine_cpu_begin(machine_info *m);
void machine_cpu_end(machine_info *m);
/* Median GFLOP/s of ca_sgemm at n x n x n with `threads` threads over reps that fill
 * about `seconds` (at least 3 after a warm-up). Negative on allocation failure. */
double machine_sgemm_gflops(int n, int threads, double seconds);

/* Repetitions a timed cell makes at least, budget permitting (its median is reported). */
enum { MIN_REPS = 5 };

/* One row of the results. */
typedef struct bench_row {
    const char *impl;
    ca_op op;
    bpass pass;
    int n, d, heads, threads, reps;
    double t_min, t_median, t_max;  /* s; < 0 when not measured */
    double gflops, frac_of_sgemm, flops;
    double bytes;                   /* working bytes: inputs + outputs + workspace */
    double max_err;                 /* < 0 when not checked */
    const char *err_ref;            /* what max_err compares against, "" if none */
    double predicted_s;             /* predicted seconds of one call, < 0 if no prediction */
    char status[200];               /* ok | skipped: ... | not provided | error: ... */
    double sgemm_gflops;
    int sgemm_n;
    const char *impl_note;          /* runtime_note() or absent_reason, "" if none */
} bench_row;

/* ---- cell.c -------------------------------------------------------------------- */
/* Bytes a cell allocates (inputs, outputs, workspace of its entries); < 0 on overflow. */
double cell_bytes(const ca_impl *impl, ca_op op, bpass p, ca_shape sh, int threads);
/* Runs one cell: fills row->reps, times, max_err and status. Returns 0 when it ran. */
int cell_run(const bench_config *cfg, const ca_impl *impl, ca_op op, bpass p, int n,
             int threads, bench_row *row);
double now_seconds(void);

/* ---- csv_out.c ----------------------------------------------------------------- */
typedef struct csv_out csv_out;
/* Creates a temp file beside `path`; NULL with a message on stderr if it cannot. */
csv_out *csv_out_open(const char *path);
int csv_out_row(csv_out *c, const bench_row *r, const machine_info *m);
/* Flushes, closes and renames over `path`; returns 0 on success. */
int csv_out_commit(csv_out *c);
/* Removes the temp file (error paths). */
void csv_out_abort(csv_out *c);

/* ---- plan.c -------------------------------------------------------------------- */
/* Cells the configuration plans (skipped ones included); 0 = nothing to run. */
int sweep_count(const bench_config *cfg);
/* Runs the whole sweep and writes its rows once the sgemm ceiling has been measured
 * again at the end of each thread count (the better median counts); 0 on success, -1
 * when nothing could be written or no cell was timed. */
int sweep_run(const bench_config *cfg, machine_info *m, csv_out *out);

#endif
