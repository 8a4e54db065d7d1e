/* experiment.h: the capability experiment (docs/DESIGN.md §9): is a cubic model more
 * powerful than a causal one of the same size, and at what price? Files:
 *   tasks.c  the three tasks: seeded generators, held-out sets, chance baselines
 *   plan.c   the settings (default and quick), the runs, their FLOPs and evaluation steps
 *   rows.c   the CSV rows (libcsv): written, read back on resume, merged
 *   run.c    one training run: AdamW, evaluation, checkpoints, the inference check
 *   main.c   flags, the loop over the runs with progress and ETA, the final move */
#ifndef EXPERIMENT_H
#define EXPERIMENT_H

#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* ---- tasks.c ------------------------------------------------------------------------ */
typedef enum exp_task_kind { TASK_COUNT3, TASK_INDUCTION, TASK_TEXT, TASK_KIND_COUNT } exp_task_kind;
const char *exp_task_name(exp_task_kind k);

/* The text of the Text task: a file every Debian 12 machine has. */
#define EXP_TEXT_PATH "/usr/share/common-licenses/GPL-3"

/* Targets of one sequence x[n] (0-based positions; y[t] < 0: no target).
 * Count3, modulus M: y[t] = #{(i, j): i < j < t, (x_i + x_j + x_t) mod M = 0} mod M for
 *   t >= 2 (1-based t >= 3), in O(n M) with residue histograms of the pair sums.
 * Induction, alphabet K: y[t] = x[j + 1] for the largest j < t with x[j] = x[t], else the
 *   reserved token K. */
void count3_targets(const int *x, int n, int M, int *y);
void induction_targets(const int *x, int n, int K, int *y);

typedef struct exp_task {
    exp_task_kind kind;
    int n;       /* N: tokens per sequence */
    int m;       /* Count3: modulus M; Induction: alphabet K; Text: 0 */
    int vocab;   /* model vocabulary: M, K + 1 (the reserved token), or the bytes present */
    /* Text: tokens of the whole file (bytes mapped to 0..vocab-1); the first train_len
     * form the training part, the rest the held-out part. */
    int *text;
    size_t text_len, train_len;
    /* The held-out set: tests sequences, tokens and targets [tests][n]. */
    int tests;
    int *test_tokens, *test_targets;
    /* Chance level on the held-out targets: the accuracy of always answering the most
     * frequent held-out target, and the cross-entropy in bits of the best input-blind
     * predictor (Count3, Induction: the held-out targets' own distribution; Text: the
     * training part's unigram frequencies, add-one smoothed: the unigram bits/char). */
    double chance_acc, chance_bits;
} exp_task;

/* Builds the task and its held-out set (at most max_tests sequences; Text: every
 * non-overlapping window of the last tenth of the file). NULL on success, else why not. */
const char *task_init(exp_task *t, exp_task_kind kind, int n, int m, int max_tests);
void task_free(exp_task *t);
/* Training batch `step` of the data stream `seed`: tokens, targets [B][n]. A function
 * of (seed, step) alone, so that a resumed run sees the batches it would have seen.
 * Count3 and Induction sequences are never held-out ones: a sequence belongs to the
 * held-out set or to the training stream by a hash of its tokens (task_is_heldout),
 * so the two are disjoint by construction. Text windows lie in the training part. */
void task_batch(const exp_task *t, uint64_t seed, int64_t step, int B, int *tokens,
                int *targets);
int task_is_heldout(const int *x, int n);

/* ---- plan.c ------------------------------------------------------------------------- */
/* A setting: one task at one size and depth, trained as a causal and a cubic model. */
typedef struct exp_setting {
    exp_task_kind task;
    int n, m, layers;
    int steps;          /* S: the cubic model's steps (the equal-steps budget) */
} exp_setting;

/* Everything shared by all settings. */
typedef struct exp_common {
    int d_model, heads, batch, seeds, evals, max_tests, threads;
    double lr, warmup_frac, weight_decay;
    const char *impl;
} exp_common;

/* One run: a setting, a model kind and a seed. */
typedef struct exp_run {
    int setting;
    model_kind kind;
    int seed;
    int64_t steps;          /* cubic: S; causal: S_f, as many as the cubic run's FLOPs buy */
    double flops_per_step;  /* training FLOPs of one step (model_stats, attention + products) */
    char id[96];            /* file name of its checkpoint and staging rows */
} exp_run;

typedef struct exp_plan {
    exp_common c;
    exp_setting *settings;
    int nsettings;
    exp_task *tasks;        /* one per setting */
    exp_run *runs;
    int nruns;
} exp_plan;

/* The default plan or the quick one (make test); builds every task and counts FLOPs.
 * NULL on success, else why not. */
const char *plan_build(exp_plan *p, int quick, int threads);
void plan_free(exp_plan *p);
model_config plan_config(const exp_plan *p, int setting);
/* The evaluation steps of a run, ascending from 0 to its last step; returns the count.
 * Every (S/evals)-th step up to S, then evals more points evenly up to S_f (causal). */
int plan_eval_steps(const exp_plan *p, const exp_run *r, int64_t *out, int cap);
/* "M4_N12_L2": a setting's name in the CSV. */
void plan_setting_name(const exp_plan *p, int setting, char *buf, size_t cap);
/* A text that changes whenever the plan does (the work dir is discarded when it does). */
void plan_describe(const exp_plan *p, char *buf, size_t cap);
/* The learning rate at step (1-based): linear warmup, then constant, the same function
 * of the step for both models. Constant after warmup, the causal run's first S steps are
 * exactly an equal-steps run, so one causal run serves both budgets. */
double plan_lr(const exp_plan *p, int setting, int64_t step);

/* ---- rows.c ------------------------------------------------------------------------- */
/* One evaluation point of a run. budget: "reference" (the cubic run, which sets both
 * budgets), "equal_steps" (a causal point at step <= S), "equal_flops" (beyond S). */
typedef struct exp_row {
    char task[16], setting[32], model[16], budget[16], impl[16];
    int64_t layers, n, m, vocab, d_model, heads, batch, params, seed, step, steps_cubic,
        steps_run, threads;
    double flops_per_step, train_flops, wall_s, train_loss, test_loss, test_bits, test_acc,
        chance_acc, chance_bits;
} exp_row;

/* The inference check of one trained model. */
typedef struct exp_infer_row {
    char task[16], setting[32], model[16];
    int64_t seed, steps_run, sequences, positions, mismatches, near_ties;
    double max_rel_diff;
    /* Inference cost of the trained model, seconds per held-out sequence of n tokens
     * (mean): prefill = the next-token distribution after all n (model_session_prefill),
     * generate = every position through the deployed path from a one-token prompt
     * (model_infer: the causal model's KV-cache steps, the cubic model's prefix passes). */
    double prefill_s, generate_s;
} exp_infer_row;

/* Written through libcsv to path.tmp, then renamed over path. 0 or -1 (message). */
int rows_write(const char *path, const exp_row *rows, int count);
int infer_rows_write(const char *path, const exp_infer_row *rows, int count);
/* Reads a file rows_write wrote; *rows malloc'ed. 0 or -1 (message). */
int rows_read(const char *path, exp_row **rows, int *count);
int infer_rows_read(const char *path, exp_infer_row **rows, int *count);

/* ---- run.c -------------------------------------------------------------------------- */
typedef struct exp_run_result {
    exp_row *rows;          /* malloc'ed, one per evaluation point */
    int nrows;
    exp_infer_row infer;
    double train_flops_done; /* FLOPs trained in this process (not before a resume) */
} exp_run_result;

/* Trains run r to its last step, resuming from work_dir/ckpt/<id>.ckpt (and its rows)
 * when one is there, checkpointing at every evaluation point; then the inference check.
 * progress(flops) is called after every step with the step's FLOPs. *checkpoints_left,
 * when > 0, counts down at every checkpoint written: the run stops right after the one
 * that takes it to 0, as an interrupt there would (the resume test in
 * experiment/smoke.sh). 0 done, 1 stopped, -1 error (message). */
int run_train(const exp_plan *p, const exp_run *r, const char *work_dir,
              void (*progress)(double flops, void *ctx), void *ctx, int *checkpoints_left,
              exp_run_result *out);

#endif
