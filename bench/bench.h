/* bench.h: the benchmark harness (docs/DESIGN.md §5). Types shared by its files:
 *   main.c         flags and the run as a whole
 *   plan.c         the cells of a sweep, time/memory prediction and skipping, ETA
 *   cell.c         one cell: buffers, warm-up, repetitions, error check
 *   bench_row.c    a cell's row as a record of bench.csv (lib/results)
 *   machine.c      machine description and the sgemm ceiling
 *   roof.c         the machine's own limits: FMA peak, micro-kernel, memory bandwidth;
 *                  eviction
 *   model_sweep.c  bench --model: the model cells
 *   split.c        bench --split: where a fused kernel's time goes (products, packing,
 *                  rest)
 *   scaling.c      bench --model --scaling: prefix-parallel training over MPI ranks
 *   median.c       the median every timing reports */
#ifndef BENCH_H
#define BENCH_H

#include "csv_out.h"
#include "cubattn.h"
#include "passes.h"

#include <stddef.h>
#include <stdio.h>

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
    double roof_time;     /* s: each of the peak, micro-kernel and bandwidth ceilings */
    const char *out;
    unsigned long long seed;
    int quick;            /* --quick was given */
    /* bench --model (model_sweep.c): depths, d_model, vocabulary, sequences per training
     * step; heads is shared */
    int model;
    int layers[BENCH_MAX_THREADS];
    int n_layers;
    int d_model, vocab, batch;
    int split;            /* bench --split (split.c) */
    int scaling;          /* bench --model --scaling (scaling.c) */
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
    char kernel_isa[32]; /* the library's kernel path, ca_isa(): "avx512", "avx2" */
    /* other work on the machine during the sweep: the CPU time all processes but this one
     * used, in cores (0 = the machine was ours; -1 unknown). From /proc/stat and
     * /proc/self/stat, between machine_cpu_begin and machine_cpu_end. */
    double other_cores;
    double busy0, total0, self0; /* the snapshot taken by machine_cpu_begin */
    /* The sweep's preset, in every row: "quick" (--quick: cells of seconds, N <= 256, noisy
     * timings) or "full"; the report says which a table comes from and never mixes them. */
    const char *grid;
} machine_info;

void machine_describe(machine_info *m);
void machine_cpu_begin(machine_info *m);
void machine_cpu_end(machine_info *m);
/* Median GFLOP/s of ca_sgemm at n x n x n with `threads` threads over reps that fill
 * about `seconds` (at least 3 after a warm-up). Negative on allocation failure. */
double machine_sgemm_gflops(int n, int threads, double seconds);

/* ---- roof.c: the machine's own limits (docs/DESIGN.md §5.4) ------------------------ */
/* Median GFLOP/s of a register-only FMA loop (12 independent chains) on the widest vector
 * unit the build targets, one OpenMP thread per bench thread, over about `seconds`. */
double roof_peak_gflops(int threads, double seconds);
/* Median GFLOP/s of a register-blocked FMA micro-kernel on L1-resident packed panels. */
double roof_ukr_gflops(int threads, double seconds);
const char *roof_ukr_shape(void); /* "12 x 32, KC 128" */
/* Median GB/s of a STREAM triad over buffers together >= 4 x LLC (3 x 4 bytes an element,
 * write-allocate not counted); the buffers stay allocated until roof_release. */
double roof_bw_gbs(int threads, double seconds);
double roof_bw_buffer_bytes(void);
/* Last-level cache bytes (sysconf, else sysfs), -1 if unknown (*known = 0). */
double roof_llc_bytes(int *known);
/* Evicts the buffers from every cache level (clflush; elsewhere a stream over 2.5 x LLC). */
void roof_evict(void *const *ptrs, const size_t *bytes, int count);
const char *roof_evict_method(void);
const char *roof_isa(void);
int roof_vector_floats(void);
/* The measured peak against cores x FMA units x vector width x 2 x clock, in words. */
void roof_peak_note(double peak, int threads, char *out, size_t cap);
void roof_release(void);

/* The ceilings of one thread count, each the better of its measurements at the start and
 * the end of that thread count's block. */
typedef struct ceilings {
    double sgemm, peak, ukr, bw; /* GFLOP/s, GFLOP/s, GFLOP/s, GB/s; <= 0 unknown */
    char peak_note[320];
} ceilings;

/* The median of x[0..n) (n >= 1; the mean of the two middle values when n is even),
 * sorting x in place: every timing of the bench reports it. */
double bench_median(double *x, int n);

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
    double bytes_moved;             /* compulsory traffic of one call (cell_traffic) */
    double gbs;                     /* bytes_moved / t_median, GB/s */
    const char *cache_state;        /* "cold" (caches evicted before each call) | "warm" */
    double max_err;                 /* < 0 when not checked */
    const char *err_ref;            /* what max_err compares against, "" if none */
    double predicted_s;             /* predicted seconds of one call, < 0 if no prediction */
    char status[200];               /* ok | skipped: ... | not provided | error: ... */
    double sgemm_gflops;
    int sgemm_n;
    double peak_gflops, ukr_gflops, bw_gbs; /* the thread count's ceilings (roof.c) */
    const char *peak_note;
    const char *impl_note;          /* runtime_note() or absent_reason, "" if none */
} bench_row;

/* ---- cell.c -------------------------------------------------------------------- */
/* Bytes a cell allocates (inputs, outputs, workspace of its entries); < 0 on overflow. */
double cell_bytes(const ca_impl *impl, ca_op op, bpass p, ca_shape sh, int threads);
/* Runs one cell: fills row->reps, times, max_err and status. Returns 0 when it ran. */
int cell_run(const bench_config *cfg, const ca_impl *impl, ca_op op, bpass p, int n,
             int threads, bench_row *row);
/* A cell held open for calls timed by the caller (bench --split): its buffers allocated
 * and filled as cell_run fills them, a backward's forward already run. NULL with
 * row->status set on failure. cell_call makes one timed unit of the pass. */
typedef struct cell_ctx cell_ctx;
cell_ctx *cell_open(const bench_config *cfg, const ca_impl *impl, ca_op op, bpass p, int n,
                    int threads, bench_row *row);
ca_status cell_call(cell_ctx *c);
void cell_close(cell_ctx *c);

/* ---- bench_row.c ------------------------------------------------------------- */
/* The row and the machine as a record of bench.csv (lib/results), written; 0 on success. */
int bench_row_write(csv_out *out, const bench_row *r, const machine_info *m);

/* ---- plan.c -------------------------------------------------------------------- */
/* Cells the configuration plans (skipped ones included); 0 = nothing to run. */
int sweep_count(const bench_config *cfg);
/* Runs the whole sweep and writes its rows once the sgemm ceiling has been measured
 * again at the end of each thread count (the better median counts); 0 on success, -1
 * when nothing could be written or no cell was timed. */
int sweep_run(const bench_config *cfg, machine_info *m, csv_out *out);

/* ---- scaling.c: bench --model --scaling (docs/DESIGN.md §8.2) --------------------- */
/* Under mpirun -np K (or one rank without it): the cubic model's training step split
 * between k = 1, 2, 4, .., K ranks of --threads threads each, and on one rank of K x
 * --threads threads; then the partition of the published batch over 1..1024 ranks. Every
 * rank calls it; rank 0 alone writes (out is NULL on the others). 0, or -1. */
int scaling_run(const bench_config *cfg, machine_info *m, csv_out *out);

/* ---- model_sweep.c: bench --model (docs/DESIGN.md §8.1) ---------------------------- */
int model_sweep_count(const bench_config *cfg);
/* Times the model cells of cfg (its first implementation and thread count), writing
 * each row as it completes; 0 on success, -1 when nothing could be written or no cell was
 * timed. */
int model_sweep_run(const bench_config *cfg, machine_info *m, csv_out *out);

/* ---- split.c: bench --split (docs/DESIGN.md §5.6) ------------------------------------ */
typedef struct split_cell {
    ca_op op;
    bpass pass;
    int n, d, heads, threads;
} split_cell;
/* The cells of a split run: the roofline targets' (N capped at 256 under --quick), or,
 * when explicit_cells (--op, --pass or --n given), every op x pass x threads x N of cfg
 * at its d and heads (cubic_shared left out: its sweep bypasses the profiled engine).
 * Returns the count, at most cap. */
enum { SPLIT_MAX_CELLS = 256 };
int split_cells(const bench_config *cfg, int explicit_cells, split_cell *out, int cap);
/* Profiles each cell on cfg->impls[0] and writes its row; 0 on success, -1 when nothing
 * could be written or no cell was profiled. */
int split_run(const bench_config *cfg, const split_cell *cells, int ncells, machine_info *m,
              csv_out *out);

#endif
