/* results.h: the results CSVs one program writes and another reads back, each as a
 * record and the column table (format.h) that both the writer and the readers use:
 *   bench_format.c   bench.csv, bench_t1.csv, bench_d128.csv: one timed cell a row
 *                    (bench; read by report)
 *   model_format.c   bench_model.csv: one model cell of bench --model (bench; report)
 *   split_format.c   split.csv: one cell of bench --split (bench; report)
 *   scaling_format.c bench_scaling.csv: one configuration of prefix-parallel training
 *                    timed by bench --model --scaling under mpirun, or the partition of
 *                    a batch over K ranks (bench; report)
 *   verify_format.c  verify.csv: one check of one entry point (verify; report)
 *   experiment_format.c  experiment.csv: one evaluation point of a training run;
 *                    experiment_infer.csv: the inference check of one trained model
 *                    (experiment, which reads its own back on resume; report)
 * Numbers a row does not have are NaN (written empty); a reader lets a file lack the
 * columns added after the first version of its format. The fields after the columns
 * (file, ok) are the reader's: the file a row came from and the row's verdict. */
#ifndef RESULTS_H
#define RESULTS_H

#include "format.h"

#include <stdint.h>

typedef struct bench_record {
    const char *impl, *op, *pass;
    int n, d, heads, threads, reps;
    double t_min, t_med, t_max;     /* s, of one call */
    double gflops, frac, flops;     /* frac: of the sgemm ceiling */
    double bytes;                   /* working bytes: inputs + outputs + workspace */
    double max_err;                 /* against err_ref */
    const char *err_ref;
    double predicted;               /* s, the prediction of one call */
    const char *status;             /* ok | skipped: ... | not provided | error: ... */
    double sgemm;                   /* the sgemm ceiling (GFLOP/s) at sgemm_n */
    int sgemm_n;
    const char *impl_note;
    /* the machine's own limits of the row's run and thread count, and the row against
     * them (docs/DESIGN.md §5.4; NaN in results of a bench before them) */
    double peak, frac_peak, ukr, bw, bytes_moved, gbs, frac_bw;
    const char *cache_state;        /* "cold" | "warm" */
    const char *peak_note;
    const char *commit, *date, *compiler, *cflags, *cpu;
    int cores;
    const char *blis_config;
    const char *kernel_isa;         /* the library's kernel path: "avx512", "avx2"; "" from
                                     * a bench before the per-path build */
    double other_cores;             /* cores other processes used during the run; NaN if
                                     * unknown */
    const char *grid;               /* "full" or "quick" (bench --quick): the sweep's preset */
    const char *file;
    int ok;                         /* status "ok" and a median time present */
} bench_record;

/* A model cell of bench --model (bench/model_sweep.c). part: "all", or "layerK" for the
 * K-th block's share of a train cell. */
typedef struct model_record {
    const char *model, *task, *part, *impl;
    int layers, d_model, heads, vocab, batch, n, threads, reps;
    double t_min, t_med, t_max, attn_flops, matmul_flops, gflops, frac_peak, frac_sgemm;
    double act_bytes, predicted;
    const char *status;
    double peak, sgemm;
    const char *commit, *date, *cpu;
    int cores;
    const char *kernel_isa;
    double other_cores;
    int ok;
} model_record;

/* A cell of bench --split (bench/split.c): one call's wall time split into the tile
 * products, the packing and the rest, each a per-thread share (summed over threads,
 * divided by the thread count). */
typedef struct split_record {
    const char *impl, *op, *pass;
    int n, d, heads, threads, reps, calls;
    double t_total, t_products, t_packing, t_other, t_outside, t_unprofiled, flops;
    double products_gflops, peak, products_frac_peak, frac_peak;
    double product_calls, packing_calls;
    const char *clock, *status, *commit, *date, *cpu;
    int cores;
    double other_cores;
    const char *file;
    int ok;
} split_record;

/* A row of bench --model --scaling (bench/scaling.c, docs/DESIGN.md §8.2). kind
 * "measured": the cubic model's training step timed on `ranks` ranks of `threads` threads
 * each (the times are the slowest rank's, the median over reps); kind "partition": no
 * time, the partition of a batch of `batch` sequences over `ranks` ranks
 * (model_partition), its largest part's predicted cost over the mean part's. */
typedef struct scaling_record {
    const char *kind, *model, *impl;
    int ranks, threads, layers, d_model, heads, vocab, batch, n, reps;
    double params;
    double t_min, t_med, t_max;       /* s, one step (the slowest rank) */
    double compute_max, compute_min;  /* s, a rank's share of the step before the sum */
    double sum_s;                     /* s, the sum of the shares (waiting included) */
    double flops, comm_bytes;         /* one step, all ranks */
    double imbalance;                 /* the partition's largest part / mean part */
    double peak;                      /* GFLOP/s, the FMA peak of one thread */
    const char *status, *commit, *date, *cpu;
    int cores;
    const char *kernel_isa;
    double other_cores;
    const char *file;
    int ok;
} scaling_record;

/* A check of verify (verify/main.c): err and tol as written, empty where not measured. */
typedef struct verify_record {
    const char *impl, *entry, *check, *status, *err, *tol, *note;
    const char *grid; /* "full" or "quick" (verify --quick): the shape grid of the run */
    const char *file;
} verify_record;

/* One evaluation point of a run of the experiment (experiment/run.c). budget: "reference"
 * (the cubic run, which sets both budgets), "equal_steps" (a causal point at step <= S),
 * "equal_flops" (beyond S). */
enum { EXP_POS_ACC_CHARS = 2048 };
typedef struct exp_row {
    char task[16], setting[32], model[16], budget[16], impl[16], cpu[160], commit[64];
    int64_t layers, n, m, vocab, d_model, heads, batch, params, seed, step, steps_cubic,
        steps_flops, steps_run, jobs_min, jobs_max, threads;
    double flops_per_step, train_flops, wall_s, train_loss, test_loss, test_bits, test_acc,
        seq_acc, floor_acc, floor_bits;
    /* accuracy by position: one value per position 0..n-1, ';'-separated, empty where
     * the position has no target */
    char pos_acc[EXP_POS_ACC_CHARS];
} exp_row;

/* The inference check of one trained model. */
typedef struct exp_infer_row {
    char task[16], setting[32], model[16];
    int64_t seed, steps_run, sequences, positions, mismatches, near_ties;
    double max_rel_diff; /* inf where the logits differ and the largest of them is 0 */
    /* Inference cost of the trained model, seconds per held-out sequence of n tokens
     * (mean): prefill = the next-token distribution after all n (model_session_prefill),
     * generate = every position through the deployed path from a one-token prompt
     * (model_infer: the causal model's KV-cache steps, the cubic model's prefix passes). */
    double prefill_s, generate_s;
} exp_infer_row;

extern const csv_format bench_format, model_format, split_format, verify_format;
extern const csv_format scaling_format;
extern const csv_format exp_row_format, exp_infer_format;

#endif
