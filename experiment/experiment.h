/* experiment.h: the capability experiment (docs/DESIGN.md §9): is a cubic model more
 * powerful than a causal one of the same size, and at what price? Files:
 *   tasks.c  the four tasks: seeded generators, held-out sets, position-only floors
 *   plan.c   the plans (default, large, quick), the runs, their FLOPs and evaluation steps
 *   rows.c   the CSV rows (lib/results' formats): written, read back on resume
 *   run.c    one training run: AdamW, evaluation, checkpoints, the inference check
 *   pool.c   the runs spread over concurrent processes, with progress and ETA
 *   assign.c the runs spread over MPI ranks (longest pair first onto the least-loaded rank)
 *   ranks.c  the MPI side: ranks agreeing on one plan, sharing the runs, progress, exit
 *   main.c   flags, the work dir, the final merge */
#ifndef EXPERIMENT_H
#define EXPERIMENT_H

#include "model.h"
#include "results.h"

#include <stddef.h>
#include <stdint.h>

/* ---- tasks.c ------------------------------------------------------------------------ */
typedef enum exp_task_kind {
    TASK_COUNT3, TASK_COUNT3_FIXED, TASK_INDUCTION, TASK_TEXT, TASK_KIND_COUNT
} exp_task_kind;
const char *exp_task_name(exp_task_kind k);

/* The longest sequence a task generates (count3 holds NB + 1 tokens on the stack). */
#define EXP_MAX_N 256
#define EXP_STR_(x) #x
#define EXP_STR(x) EXP_STR_(x)

/* The text of the Text task: a file every Debian 12 machine has. */
#define EXP_TEXT_PATH "/usr/share/common-licenses/GPL-3"

/* count3 as published: z[0..S) = seeds (in [0, NB)), then for n = S..NB
 * z[n] = #{(i, j) in [0, n)^2: z_i + z_j + z_{n-1} = 0 mod n} mod n: NB + 1 tokens.
 * seeds and z may be the same array. */
void count3_sequence(const int *seeds, int S, int NB, int *z);
/* Targets of one sequence x[n] (0-based positions; y[t] < 0: no target).
 * count3_fixed, modulus M: y[t] = #{(i, j): i < j < t, (x_i + x_j + x_t) mod M = 0} mod M
 *   for t >= 2 (1-based t >= 3), in O(n M) with residue histograms of the pair sums.
 * Induction, alphabet K: y[t] = x[j + 1] for the largest j < t with x[j] = x[t], else the
 *   reserved token K. */
void count3_fixed_targets(const int *x, int n, int M, int *y);
void induction_targets(const int *x, int n, int K, int *y);

typedef struct exp_task {
    exp_task_kind kind;
    int n;       /* N: tokens per sequence (count3: NB) */
    int m;       /* count3: seed length S; count3_fixed: modulus M; induction: alphabet K;
                  * text: 0 */
    int seed_len;/* the tokens that determine a sequence: count3 S, the others N (text's
                  * split is by position, not by seed) */
    int vocab;   /* model vocabulary: NB, M, K + 1 (the reserved token), or the bytes
                  * present */
    /* Text: tokens of the whole file (bytes mapped to 0..vocab-1); the first train_len
     * form the training part, the rest the held-out part. */
    int *text;
    size_t text_len, train_len;
    /* The held-out set: tests sequences, tokens and targets [tests][n]. */
    int tests;
    int *test_tokens, *test_targets;
    /* The position-only floor (docs/DESIGN.md §9.1): accuracy and bits of the best
     * predictor that sees only the position (text: the unigram). */
    double floor_acc, floor_bits;
} exp_task;

/* Builds the task, its held-out set (max_tests sequences, none twice; Text: at most
 * that many non-overlapping windows of the last tenth of the file) and its floor. m as
 * in exp_task. NULL on success, else why not. */
const char *task_init(exp_task *t, exp_task_kind kind, int n, int m, int max_tests);
void task_free(exp_task *t);
/* Training batch `step` of the data stream `seed`: tokens, targets [B][n]. A function
 * of (seed, step) alone, so that a resumed run sees the batches it would have seen.
 * Generated sequences are never held-out ones: a sequence belongs to the held-out set or
 * to the training stream by a hash of its seed (task_is_heldout: count3's S seed tokens,
 * the whole sequence for count3_fixed and induction), so the two are disjoint by
 * construction. Text windows lie in the training part. */
void task_batch(const exp_task *t, uint64_t seed, int64_t step, int B, int *tokens,
                int *targets);
/* True when the seed x[0..seed_len) is a held-out one. */
int task_is_heldout(const int *x, int seed_len);

/* ---- plan.c ------------------------------------------------------------------------- */
/* A setting: one task at one size and depth, trained as a causal and a cubic model from
 * each of `seeds` seeds. */
typedef struct exp_setting {
    exp_task_kind task;
    int n, m, layers;   /* m as in exp_task */
    int steps;          /* S: the cubic model's steps (the equal-steps budget) */
    int seeds;          /* seed pairs: 5 for a main setting, 3 for a control */
    double causal_x;    /* the causal run goes on to S_c = ceil(causal_x S_f) >= S_f steps */
    const char *role;   /* "main" or "control" */
} exp_setting;

/* Everything shared by all settings. */
typedef struct exp_common {
    int d_model, heads, batch, evals, max_tests, threads;
    double lr, warmup_frac, weight_decay;
    const char *impl;
} exp_common;

/* One run: a setting, a model kind and a seed. */
typedef struct exp_run {
    int setting;
    model_kind kind;
    int seed;
    int64_t steps;          /* cubic: S; causal: S_c */
    int64_t steps_flops;    /* S_f: the causal steps the cubic run's FLOPs buy */
    double flops_per_step;  /* training FLOPs of one step (model_stats, attention + products) */
    char id[96];            /* file name of its checkpoint and staging rows */
} exp_run;

typedef struct exp_plan {
    const char *scale;      /* "default", "large" or "quick" */
    char cpu[160], commit[64]; /* the machine and the code the runs train on */
    exp_common c;
    exp_setting *settings;
    int nsettings;
    exp_task *tasks;        /* one per setting */
    exp_run *runs;
    int nruns;
} exp_plan;

/* The plan of a scale ("default", "large", "quick" for make test); builds every task and
 * counts FLOPs. NULL on success, else why not. */
const char *plan_build(exp_plan *p, const char *scale, int threads);
void plan_free(exp_plan *p);
model_config plan_config(const exp_plan *p, int setting);
/* The evaluation steps of a run, ascending from 0 to its last step; returns the count.
 * Every (S/evals)-th step up to S; for a causal run also S_f and 12 more points evenly
 * from S to S_c (docs/DESIGN.md §9.2). */
#define EXP_MAX_EVALS 40
int plan_eval_steps(const exp_plan *p, const exp_run *r, int64_t *out, int cap);
/* "NB12_S4_L3": a setting's name in the CSV. */
void plan_setting_name(const exp_plan *p, int setting, char *buf, size_t cap);
/* A text that changes whenever the plan does (the work dir is discarded when it does). */
void plan_describe(const exp_plan *p, char *buf, size_t cap);
/* The learning rate at step (1-based): linear warmup, then constant, the same function
 * of the step for both models. Constant after warmup, the causal run's first S steps are
 * exactly an equal-steps run, so one causal run serves every budget. */
double plan_lr(const exp_plan *p, int setting, int64_t step);

/* ---- rows.c ------------------------------------------------------------------------- */
/* The rows (exp_row, exp_infer_row) are lib/results' records: the report reads them
 * back by the same column tables. pos_acc holds up to 7 characters and a ';' a position. */
_Static_assert(EXP_MAX_N * 8 <= EXP_POS_ACC_CHARS, "pos_acc cannot hold EXP_MAX_N positions");

/* Written through libcsv to a temp file, then renamed over path. 0 or -1 (message). */
int rows_write(const char *path, const exp_row *rows, int count);
int infer_rows_write(const char *path, const exp_infer_row *rows, int count);
/* Reads a file rows_write wrote; *rows malloc'ed. 0 or -1 (message, naming the record
 * and column: also for a value outside its column's domain). */
int rows_read(const char *path, exp_row **rows, int *count);
int infer_rows_read(const char *path, exp_infer_row **rows, int *count);

/* ---- run.c -------------------------------------------------------------------------- */
typedef struct exp_run_result {
    exp_row *rows;          /* malloc'ed, one per evaluation point */
    int nrows;
    exp_infer_row infer;
    double train_flops_done; /* FLOPs trained in this process (not before a resume) */
} exp_run_result;

/* What a run shares with the process that started it (pool.c; may be NULL):
 *   jobs          the number of runs training on the machine now, sampled every step
 *                 into the rows' jobs_min / jobs_max (1 when NULL);
 *   flops_done    the run's training FLOPs so far, for the progress line;
 *   checkpoints_left  when > 0 at the start, counts down at every checkpoint any run
 *                 writes; a run stops right after a checkpoint that finds it at or
 *                 below 0, as an interrupt there would (the resume test in
 *                 experiment/smoke.sh). Shared between processes: atomic.
 *   hold          with checkpoints_left: a run that would stop there waits instead
 *                 until it is killed (--hold-after-checkpoints: the fixed point at which
 *                 experiment/mpi_smoke.sh kills a rank mid-run).
 *   quiet         no "resuming" line (the ranks but rank 0 under mpirun). */
typedef struct exp_shared_run {
    const int *jobs;
    double *flops_done;
    int *checkpoints_left;
    int hold, quiet;
} exp_shared_run;

/* Trains run r to its last step, resuming from work_dir/ckpt/<id>.ckpt (and its rows)
 * when one is there, checkpointing at every evaluation point; then the inference check.
 * 0 done, 1 stopped, -1 error (message). */
int run_train(const exp_plan *p, const exp_run *r, const char *work_dir,
              const exp_shared_run *sh, exp_run_result *out);

/* ---- pool.c ------------------------------------------------------------------------- */
/* What a pool is doing, for its tick (below). */
typedef struct exp_pool_state {
    int ntodo, started, finished;
    double flops_done, flops_total; /* training FLOPs of its runs: done (resumed steps
                                     * included), and in all */
    int own_done;                   /* its runs are all finished, or none will start */
} exp_pool_state;

/* How a pool fits into a job of several MPI ranks (ranks.c); NULL for one process alone.
 *   machine_jobs  the runs training on this machine now, shared by every rank on it
 *                 (NULL: the pool's own count), recorded in the rows' jobs_min, jobs_max
 *   quiet         no start, done, resuming or progress lines (the ranks but rank 0);
 *                 failures and interruptions are still said
 *   label         what its messages start with ("experiment (rank 1 of 2)")
 *   tick          called about every 0.1 s with the pool's state; returns nonzero while
 *                 the pool is to keep waiting once its own runs are done (rank 0 waits
 *                 for the other ranks there, interruptible, printing their progress).
 *                 Without a tick the pool prints its own progress line. */
typedef struct exp_pool_hooks {
    int *machine_jobs;
    int quiet;
    const char *label;
    int (*tick)(void *ctx, const exp_pool_state *st);
    void *ctx;
} exp_pool_hooks;

/* Trains the runs todo[0..ntodo) (indices into p->runs, longest first) in up to `jobs`
 * concurrent processes; each completed run's rows go to work_dir/runs/<id>.csv and
 * <id>.infer.csv. max_runs >= 0 starts at most that many; checkpoints > 0 stops every
 * run after that many checkpoints in all (see exp_shared_run), or holds it there when
 * hold is set. Prints progress with an ETA. 0 all done, 3 stopped early (resume later), 1
 * a run failed, 128 + signal when interrupted. hooks may be NULL. */
int pool_run(const exp_plan *p, const int *todo, int ntodo, int jobs, const char *work_dir,
             int max_runs, int checkpoints, int hold, const exp_pool_hooks *hooks);
/* The progress line: runs done and training, FLOPs done, seconds, ETA. */
void pool_progress_line(const exp_pool_state *st, double elapsed);

/* ---- assign.c ----------------------------------------------------------------------- */
/* The runs todo[0..ntodo) (in their start order) spread over `ranks` ranks: owner[k] is
 * the rank of todo[k]. A seed pair's runs (one setting, one seed, both kinds) go to one
 * rank, so that they train side by side on one machine (the equal-time budget compares
 * their seconds); pairs by their training FLOPs left (flops_per_step x steps of their runs
 * in todo), largest first, ties in todo order, each onto the rank with the least FLOPs so
 * far, ties to the lowest rank. A function of the plan and todo alone: every rank computes
 * the same. load[ranks], if not NULL, receives each rank's FLOPs. 0, or -1 out of memory. */
int assign_runs(const exp_plan *p, const int *todo, int ntodo, int ranks, int *owner,
                double *load);

/* ---- ranks.c ------------------------------------------------------------------------ */
/* The program under mpirun (docs/DESIGN.md §9.2): every rank builds the plan, the ranks
 * check that they agree on it, rank 0 prepares the work dir and says which runs are left,
 * each rank trains its share (assign_runs) in a pool of its own, and rank 0 merges. Alone
 * (no mpirun: Open MPI's singleton) the program is one rank and none of this shows. */
/* MPI_Init; 0, or -1 (message). */
int ranks_init(int *argc, char ***argv);
int ranks_rank(void);
int ranks_size(void);
/* Every rank's plan and the options that shape the job (opts: "key=value" lines) hashed
 * and compared before anything is trained or written: 0 when all agree, else 2 on every
 * rank, rank 0 having named what differs. */
int ranks_agree(const exp_plan *p, const char *opts);
/* The runs left, todo[0..ntodo) in start order, known on rank 0 (prep: rank 0's status
 * after preparing the output and the work dir; skipped: --only left runs out), trained
 * over the ranks: returns the job's status on rank 0 (as pool_run's, 3 also when runs
 * were skipped), the rank's own elsewhere. todo has room for every run of the plan. */
int ranks_run(const exp_plan *p, int prep, int *todo, int ntodo, int skipped, int jobs,
              const char *work, int max_runs, int checkpoints, int hold);
/* The end of main: every rank leaves with one status (rank 0's if it failed, else the
 * gravest of the others': an interruption, a failure, runs left), after MPI_Finalize. A rank that stops before the ranks agreed
 * makes the others refuse (ranks_agree); an interrupted one (128 + signal) leaves at
 * once, without MPI_Finalize, which makes mpirun stop the job. */
int ranks_end(int rc);

#endif
