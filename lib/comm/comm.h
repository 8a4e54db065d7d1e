/* comm.h: the programs' MPI (Open MPI, docs/DESIGN.md §7): one job of K ranks under
 * `mpirun -np K`, or a single rank without it, which behaves as the program always has.
 * The only folder besides the experiment's ranks.c that includes mpi.h; the programs that
 * link it (the bench, the experiment, the tests' training driver) call these.
 *
 * Every call here is collective unless it says otherwise: every rank makes it, in the
 * same order. */
#ifndef COMM_H
#define COMM_H

#include <stddef.h>

/* Starts MPI (a singleton without mpirun: no Open MPI daemon beside it). prog names the
 * program in messages. 0, or -1 with a message on stderr. Not collective. */
int comm_start(int *argc, char ***argv, const char *prog);
int comm_rank(void);   /* 0-based; 0 before comm_start */
int comm_ranks(void);  /* the job's ranks; 1 before comm_start */

/* Agreement before any work: every rank's text (its settings, one "key=value" a line)
 * compared with rank 0's through a hash. On a difference rank 0 names it ("threads: 1 on
 * rank 0, 2 on rank 1") and adds `hint`; every rank returns 2, else 0. A rank that stops
 * before agreeing passes "exit=RC" (comm_finish does), which rank 0 reports as such. */
int comm_agree(const char *text, const char *hint);

/* Narrows the job's sums, maxima and barriers to ranks 0..k-1 (1 <= k <= comm_ranks();
 * collective over every rank): a measurement of fewer ranks than the job has, while the
 * others wait in comm_wait_all. comm_active_ranks() is k; a rank >= k calls none of
 * them until the next comm_set_active. */
int comm_set_active(int k);
int comm_active_ranks(void);
/* Every rank of the job, active or not, waits here for all the others, polling without
 * spinning (a waiting rank leaves its core to the ranks measured). */
void comm_wait_all(void);

/* Every rank's x[0..n) and y[0..ny) summed, left to right in rank order ((x_0 + x_1) +
 * x_2 ...), into x and y on every rank: the same bits on every rank and every run at a
 * given K, whatever algorithm the MPI library would choose for a reduction. The sum runs
 * down a chain of ranks in pieces (rank r adds its own and passes on while the next piece
 * arrives) and the last rank broadcasts it. Returns the bytes all ranks together sent,
 * or -1 after a failure (said on stderr). */
long long comm_sum_in_rank_order(float *x, size_t n, double *y, size_t ny);

/* Ends the whole job now with status rc (MPI_Abort): for a rank that fails between the
 * collective calls of a step, where the others would wait for it forever. Not
 * collective; without mpirun, exit(rc). */
void comm_abort(int rc) __attribute__((noreturn));

/* The largest of every (active) rank's v, on every (active) rank. */
double comm_max(double v);
void comm_barrier(void);

/* Ends MPI: first comm_say_exit; under AddressSanitizer, the leak check runs here,
 * before MPI_Finalize (comm.c says why). Returns rc (2 when the ranks disagreed). */
int comm_finish(int rc);
/* Before comm_agree has run: tells the other ranks this one stops with rc (comm_agree's
 * "exit=RC"); returns rc, or 2 when rc is 0 and the ranks disagreed. No-op after. */
int comm_say_exit(int rc);

/* For the experiment's ranks.c, which runs leak-prone MPI calls of its own (window and
 * communicator set-up): runs call with leak detection off under AddressSanitizer; and
 * the check comm_finish runs, for a rank leaving by _exit. */
void comm_leaks_ignored_begin(void);
void comm_leaks_ignored_end(void);
void comm_leak_check_now(void);
/* Sleeps ms milliseconds: the pause of a rank that polls MPI instead of blocking in it
 * (Open MPI's blocking waits spin on a core). Not collective. */
void comm_nap_ms(long ms);
/* comm_agree has run (the ranks go on to comm_finish together). */
int comm_agreed(void);

#endif
