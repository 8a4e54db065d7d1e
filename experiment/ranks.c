/* ranks.c: the experiment over MPI ranks (mpirun -np K build/experiment ...; docs/DESIGN.md
 * §9.2). The only file that speaks MPI: the rest of the program is the same with one rank.
 *
 * The job, in order:
 *   1. every rank builds the plan; ranks_agree compares a hash of the plan and of the
 *      options that shape the job, so that ranks given other flags (or another build, or
 *      another CPU) are refused before anything is trained or written;
 *   2. rank 0 alone prepares the output and the work dir (a shared filesystem: every rank
 *      reads and writes the same work dir) and finds the runs left; it sends them to
 *      every rank, and each computes the same assignment (assign_runs);
 *   3. each rank trains its runs in a pool of its own (pool.c: --jobs processes per rank);
 *      the ranks but 0 send rank 0 their progress, rank 0 prints the job's progress line
 *      and waits for every rank's last word;
 *   4. rank 0 merges the rows of every run from the work dir (main.c), as one process
 *      would: the rows are the same whatever rank trained them, but for their seconds;
 *   5. every rank leaves with the job's status.
 * A rank that dies (killed, or a machine lost) makes mpirun stop the job: the other ranks
 * get SIGTERM, stop their runs (each resumes from its last checkpoint) and rank 0 names the
 * runs left part-trained; a rerun resumes them.
 *
 * Waits poll with a short sleep instead of blocking in MPI: Open MPI's blocking calls spin
 * on a core, which a rank waiting for the others would take from the runs training. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "clock.h"
#include "comm.h"
#include "experiment.h"

#include <mpi.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Open MPI's set-up calls run with leak detection off under AddressSanitizer, and the
 * leak check runs before MPI_Finalize (lib/comm/comm.c says why). */
#define MPI_LEAKS_IGNORED(call) \
    do { comm_leaks_ignored_begin(); call; comm_leaks_ignored_end(); } while (0)

enum { TAG_STATUS = 2 };

static int g_rank, g_size = 1;
static int g_node_leader;           /* the world rank of rank 0 on this rank's machine */
static int *g_machine_jobs;         /* the machine's runs training now (size > 1) */
static MPI_Win g_win = MPI_WIN_NULL;
static MPI_Comm g_node = MPI_COMM_NULL;

int ranks_rank(void) { return g_rank; }
int ranks_size(void) { return g_size; }

/* Completes a request, polling every 10 ms. */
static void wait_req(MPI_Request *req)
{
    int done = 0;
    while (MPI_Test(req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) comm_nap_ms(10);
}

int ranks_init(int *argc, char ***argv)
{
    if (comm_start(argc, argv, "experiment") != 0) return -1;
    g_rank = comm_rank();
    g_size = comm_ranks();
    if (g_size == 1) return 0;
    /* The count of runs training on this machine, in memory its ranks share (and their
     * pools' children, which inherit the mapping): each row records it, and the
     * equal-time budget compares runs that trained under one load. */
    MPI_LEAKS_IGNORED(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                                          MPI_INFO_NULL, &g_node));
    int node_rank;
    MPI_Comm_rank(g_node, &node_rank);
    g_node_leader = g_rank;
    MPI_Bcast(&g_node_leader, 1, MPI_INT, 0, g_node);
    int *base;
    MPI_LEAKS_IGNORED(MPI_Win_allocate_shared(node_rank == 0 ? (MPI_Aint)sizeof(int) : 0,
                                              sizeof(int), MPI_INFO_NULL, g_node, &base,
                                              &g_win));
    MPI_Aint bytes;
    int unit;
    MPI_Win_shared_query(g_win, 0, &bytes, &unit, &g_machine_jobs);
    if (node_rank == 0) *g_machine_jobs = 0;
    MPI_Barrier(g_node);
    return 0;
}

/* ---- agreement ------------------------------------------------------------------- */
int ranks_agree(const exp_plan *p, const char *opts)
{
    /* plan_describe's first line holds the shared settings, one "key=value" a word */
    size_t cap = 1024 + strlen(opts) + (size_t)p->nruns * 128;
    char *plan = malloc(cap), *text = malloc(cap + 512);
    if (!plan || !text) MPI_Abort(MPI_COMM_WORLD, 1);
    plan_describe(p, plan, cap);
    for (char *c = plan; *c && *c != '\n'; c++)
        if (*c == ' ') *c = '\n';
    snprintf(text, cap + 512, "%scpu=%s\ncommit=%s\n%s", opts, p->cpu, p->commit, plan);
    const int rc = comm_agree(text, "give every rank the same flags (mpirun -np K "
                                    "build/experiment FLAGS), the same build and machines "
                                    "of one CPU model");
    free(plan);
    free(text);
    return rc;
}

/* ---- the job's runs --------------------------------------------------------------- */
/* A rank's word to rank 0: its pool's state (-1 at M_RC) or, last, its status. Rank 0
 * knows each rank's runs and FLOPs from the assignment. */
enum { M_RC, M_STARTED, M_FINISHED, M_FLOPS_DONE, M_LEN };

typedef struct tick_ctx {
    double t0, last;
    exp_pool_state *peer;   /* rank 0: each rank's last state */
    int *peer_rc;           /* rank 0: each rank's status, -1 while it trains */
    int waiting;            /* rank 0: ranks whose status has not come */
    double msg[M_LEN];      /* the others: the state being sent */
    MPI_Request req;
    int sent_started, sent_finished;
} tick_ctx;

static void state_to_msg(const exp_pool_state *st, int rc, double *m)
{
    m[M_RC] = rc;
    m[M_STARTED] = st->started;
    m[M_FINISHED] = st->finished;
    m[M_FLOPS_DONE] = st->flops_done;
}

/* Rank 0: every word that has come; the job's progress line every 15 s. */
static int tick_rank0(void *ctx, const exp_pool_state *st)
{
    tick_ctx *c = ctx;
    c->peer[0] = *st;
    int flag = 1;
    while (flag) {
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_STATUS, MPI_COMM_WORLD, &flag, &status);
        if (!flag) break;
        double m[M_LEN];
        MPI_Recv(m, M_LEN, MPI_DOUBLE, status.MPI_SOURCE, TAG_STATUS, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        const int k = status.MPI_SOURCE;
        exp_pool_state *q = &c->peer[k];
        if (m[M_RC] < 0) {
            q->started = (int)m[M_STARTED];
            q->finished = (int)m[M_FINISHED];
            q->flops_done = m[M_FLOPS_DONE];
        } else if (c->peer_rc[k] < 0) { /* its last word: done, or not (its state as last said) */
            if (m[M_RC] == 0) {
                q->started = q->finished = q->ntodo;
                q->flops_done = q->flops_total;
            }
            c->peer_rc[k] = (int)m[M_RC];
            c->waiting--;
        }
    }
    if (now_seconds() - c->last >= 15.0) {
        c->last = now_seconds();
        exp_pool_state all = {0};
        for (int k = 0; k < g_size; k++) {
            all.ntodo += c->peer[k].ntodo;
            all.started += c->peer[k].started;
            all.finished += c->peer[k].finished;
            all.flops_done += c->peer[k].flops_done;
            all.flops_total += c->peer[k].flops_total;
        }
        pool_progress_line(&all, now_seconds() - c->t0);
    }
    return c->waiting > 0;
}

/* The others: their state to rank 0 when runs start or finish, and every 5 s. One word
 * in flight at a time. */
static int tick_other(void *ctx, const exp_pool_state *st)
{
    tick_ctx *c = ctx;
    if (c->req != MPI_REQUEST_NULL) {
        int done = 0;
        MPI_Test(&c->req, &done, MPI_STATUS_IGNORE);
        if (!done) return 0;
    }
    if (st->started == c->sent_started && st->finished == c->sent_finished &&
        now_seconds() - c->last < 5.0)
        return 0;
    c->last = now_seconds();
    c->sent_started = st->started;
    c->sent_finished = st->finished;
    state_to_msg(st, -1, c->msg);
    MPI_Isend(c->msg, M_LEN, MPI_DOUBLE, 0, TAG_STATUS, MPI_COMM_WORLD, &c->req);
    return 0;
}

/* Rank 0: the ranks' machines against their cores, said before training. Each rank may
 * train jobs x threads cores' worth; more than a machine has, and the runs slow each
 * other; more than a rank is bound to (mpirun binds each of two or fewer ranks to one
 * core), and its runs share those cores. */
static void say_cores(int jobs, int threads)
{
    cpu_set_t set;
    const int bound = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    int mine[4] = {g_node_leader, jobs * threads, bound, (int)sysconf(_SC_NPROCESSORS_ONLN)};
    int *all = g_rank == 0 ? malloc((size_t)g_size * sizeof mine) : NULL;
    if (g_rank == 0 && !all) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Request req;
    MPI_Igather(mine, 4, MPI_INT, all, 4, MPI_INT, 0, MPI_COMM_WORLD, &req);
    wait_req(&req);
    if (g_rank != 0) return;
    for (int k = 0; k < g_size; k++) {
        const int *r = all + 4 * k;
        if (r[2] > 0 && r[1] > r[2])
            fprintf(stderr, "experiment: warning: rank %d trains %d run(s) x %d thread(s) at "
                            "once but is bound to %d core(s): its runs share them (mpirun "
                            "--bind-to none, or --jobs %d)\n", k, r[1] / threads, threads, r[2],
                    r[2] / threads > 0 ? r[2] / threads : 1);
        if (r[0] != k) continue; /* each machine once, by its first rank */
        int want = 0, ranks = 0;
        for (int q = 0; q < g_size; q++)
            if (all[4 * q] == r[0]) { want += all[4 * q + 1]; ranks++; }
        if (want > r[3])
            fprintf(stderr, "experiment: warning: the machine of rank %d runs %d rank(s) of "
                            "this job training %d cores' worth at once (ranks x jobs x "
                            "threads) but has %d cores: the runs slow each other (fewer ranks "
                            "per machine or fewer --jobs)\n", k, ranks, want, r[3]);
    }
    free(all);
}

/* The runs of list[0..n) (all of the plan's when list is NULL) left part-trained in the
 * shared work dir: a checkpoint, no completed rows. After `what`, if there are any. */
static void say_checkpointed(const exp_plan *p, const char *work, const int *list, int n,
                             const char *what)
{
    char a[1400], b[1400];
    int said = 0;
    for (int k = 0; k < n; k++) {
        const exp_run *r = &p->runs[list ? list[k] : k];
        snprintf(a, sizeof a, "%s/ckpt/%s.ckpt", work, r->id);
        snprintf(b, sizeof b, "%s/runs/%s.csv", work, r->id);
        if (access(a, F_OK) == 0 && access(b, F_OK) != 0)
            fprintf(stderr, "%s%s", said++ ? ", " : what, r->id);
    }
    if (said) fprintf(stderr, "\n");
}

/* Rank 0, before training: the runs that resume (their ranks say nothing). */
static void say_resuming(const exp_plan *p, const char *work, const int *todo, int ntodo)
{
    say_checkpointed(p, work, todo, ntodo, "experiment: resuming from their checkpoints: ");
}

/* Rank 0, when the job was stopped: what a rerun resumes. */
static void say_part_trained(const exp_plan *p, const char *work)
{
    fprintf(stderr, "experiment: the job stopped; run it again to resume the runs left "
                    "part-trained from their last checkpoints\n");
    say_checkpointed(p, work, NULL, p->nruns, "experiment: part-trained: ");
}

/* The job's status from every rank's: an interruption first, then a failure, then runs
 * left for later. */
static int job_status(const int *rc, int n)
{
    int worst = 0;
    for (int k = 0; k < n; k++) {
        const int r = rc[k], rank_r = r >= 128 ? 3 : r == 1 || r == 2 ? 2 : r == 3 ? 1 : 0;
        const int rank_w = worst >= 128 ? 3 : worst == 1 || worst == 2 ? 2 : worst == 3 ? 1 : 0;
        if (rank_r > rank_w) worst = r;
    }
    return worst;
}

int ranks_run(const exp_plan *p, int prep, int *todo, int ntodo, int skipped, int jobs,
              const char *work, int max_runs, int checkpoints, int hold)
{
    if (g_size == 1) {
        if (prep != 0) return prep;
        fprintf(stderr, "experiment: %d of %d runs to train (scale %s), %d at once\n", ntodo,
                p->nruns, p->scale, jobs);
        const int rc = pool_run(p, todo, ntodo, jobs, work, max_runs, checkpoints, hold, NULL);
        return rc == 0 && skipped ? 3 : rc;
    }
    /* rank 0's word: its status, whether runs were skipped, the runs left */
    int *word = malloc((size_t)(p->nruns + 3) * sizeof *word);
    int *owner = malloc((size_t)(p->nruns ? p->nruns : 1) * sizeof *owner);
    double *load = calloc((size_t)g_size, sizeof *load);
    if (!word || !owner || !load) MPI_Abort(MPI_COMM_WORLD, 1);
    if (g_rank == 0) {
        word[0] = prep;
        word[1] = skipped;
        word[2] = ntodo;
        memcpy(word + 3, todo, (size_t)ntodo * sizeof *todo);
    }
    MPI_Request req;
    MPI_Ibcast(word, p->nruns + 3, MPI_INT, 0, MPI_COMM_WORLD, &req);
    wait_req(&req);
    int rc = word[0];
    skipped = word[1];
    ntodo = word[2];
    if (rc == 0 && assign_runs(p, word + 3, ntodo, g_size, owner, load) != 0) rc = 1;
    int mine = 0;
    const int *todo_all = word + 3;
    for (int k = 0; rc == 0 && k < ntodo; k++)
        if (owner[k] == g_rank) todo[mine++] = todo_all[k];
    if (rc != 0) {
        free(word);
        free(owner);
        free(load);
        return rc;
    }
    if (g_rank == 0) {
        double lo = load[0], hi = load[0];
        for (int k = 1; k < g_size; k++) {
            lo = load[k] < lo ? load[k] : lo;
            hi = load[k] > hi ? load[k] : hi;
        }
        fprintf(stderr, "experiment: %d of %d runs to train (scale %s) over %d ranks, %d at "
                        "once on rank 0; %.3g to %.3g training FLOPs a rank\n", ntodo, p->nruns,
                p->scale, g_size, jobs, lo, hi);
        say_resuming(p, work, todo_all, ntodo);
    }
    free(word);
    say_cores(jobs < mine ? jobs : mine, p->c.threads);

    char label[64];
    snprintf(label, sizeof label, "experiment (rank %d of %d)", g_rank, g_size);
    tick_ctx c = {.t0 = now_seconds(), .req = MPI_REQUEST_NULL, .sent_started = -1};
    c.last = c.t0;
    if (g_rank == 0) {
        c.peer = calloc((size_t)g_size, sizeof *c.peer);
        c.peer_rc = malloc((size_t)g_size * sizeof *c.peer_rc);
        if (!c.peer || !c.peer_rc) MPI_Abort(MPI_COMM_WORLD, 1);
        for (int k = 0; k < g_size; k++) {
            c.peer_rc[k] = -1;
            c.peer[k].flops_total = load[k];
        }
        for (int k = 0; k < ntodo; k++) c.peer[owner[k]].ntodo++;
        c.waiting = g_size - 1;
    }
    const exp_pool_hooks hooks = {g_machine_jobs, g_rank != 0, label,
                                  g_rank == 0 ? tick_rank0 : tick_other, &c};
    rc = pool_run(p, todo, mine, jobs, work, max_runs, checkpoints, hold, &hooks);
    free(owner);
    free(load);
    if (g_rank != 0) {
        if (rc < 128) { /* not when stopped by a signal: the job is ending, rank 0 may be gone */
            if (c.req != MPI_REQUEST_NULL) wait_req(&c.req);
            const exp_pool_state none = {0};
            state_to_msg(&none, rc, c.msg);
            MPI_Isend(c.msg, M_LEN, MPI_DOUBLE, 0, TAG_STATUS, MPI_COMM_WORLD, &c.req);
            wait_req(&c.req);
        }
        return rc;
    }
    if (rc >= 128) {
        say_part_trained(p, work);
    } else {
        c.peer_rc[0] = rc;
        for (int k = 1; k < g_size; k++)
            if (c.peer_rc[k] != 0 && c.peer_rc[k] != 3)
                fprintf(stderr, "experiment: rank %d failed (exit %d; its message is above); "
                                "the runs it left resume on a rerun\n", k, c.peer_rc[k]);
        rc = job_status(c.peer_rc, g_size);
    }
    free(c.peer);
    free(c.peer_rc);
    return rc == 0 && skipped ? 3 : rc;
}

int ranks_end(int rc)
{
    rc = comm_say_exit(rc);
    if (g_size > 1 && rc >= 128) {
        /* Stopped by a signal: the job is ending, or ends as this rank leaves without
         * MPI_Finalize (mpirun then stops the others). Not MPI_Abort, after which mpirun
         * may drop what this rank last wrote, such as the runs a rerun resumes. */
        comm_leak_check_now();
        fflush(NULL);
        /* Once one rank has left, mpirun stops the others and what they still had to say
         * is lost: the others give rank 0, which names the runs a rerun resumes, half a
         * second first (mpirun waits a second before SIGKILL). */
        if (g_rank != 0) comm_nap_ms(500);
        _exit(rc);
    }
    if (g_size > 1) {
        int *all = malloc((size_t)g_size * sizeof *all);
        if (!all) MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Request req;
        MPI_Iallgather(&rc, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD, &req);
        wait_req(&req);
        rc = all[0] != 0 ? all[0] : job_status(all, g_size);
        free(all);
    }
    if (g_win != MPI_WIN_NULL) MPI_Win_free(&g_win);
    if (g_node != MPI_COMM_NULL) MPI_Comm_free(&g_node);
    return comm_finish(rc);
}
