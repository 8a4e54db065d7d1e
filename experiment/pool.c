/* pool.c: the experiment's runs spread over concurrent processes (docs/DESIGN.md §9.2).
 *
 * Each run is trained in a child process of its own (fork), up to `jobs` at once: the
 * models are small, so a run gains little from a second thread and two runs side by side
 * use both cores. A child trains one run (run.c), writes its rows to work/runs/ and exits;
 * runs share nothing but a small shared-memory block: the number of runs training now
 * (every row records the range it saw, so that the equal-time budget compares runs that
 * trained under the same load), each run's FLOPs so far (for the progress line and its
 * ETA), and the checkpoint countdown of --stop-after-checkpoints. A child's results are
 * the same whatever runs beside it, but for its seconds: training is deterministic.
 *
 * Under mpirun every rank runs a pool of its own (ranks.c): the count of runs training is
 * then the machine's, shared by its ranks, rank 0's pool waits for the others through its
 * tick, and a child dies with its rank, so that a rank killed outright leaves no run
 * training into the work dir that a rerun resumes from. */
/* MAP_ANONYMOUS is not POSIX 2008 */
#define _DEFAULT_SOURCE
#include "clock.h"
#include "experiment.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct shared {
    int jobs;              /* runs training now */
    int checkpoints_left;  /* --stop-after-checkpoints countdown, or 0 */
    double flops_done[];   /* [nruns]: training FLOPs each run has done in this process */
} shared;

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

/* The child: trains run i, writes its files, exits 0 (done), 3 (stopped after a
 * checkpoint) or 1. It gets SIGTERM when its parent dies (also of SIGKILL, which the
 * parent cannot pass on): a run left training would write checkpoints under the feet of
 * the rerun that resumes it. */
static void child(const exp_plan *p, int i, const char *work, shared *sh, int *jobs,
                  int stop_counting, int hold, int quiet, pid_t parent, const sigset_t *unblock)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_SETMASK, unblock, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(1);
    const exp_run *r = &p->runs[i];
    const exp_shared_run link = {jobs, &sh->flops_done[i],
                                 stop_counting ? &sh->checkpoints_left : NULL, hold, quiet};
    exp_run_result res;
    const int st = run_train(p, r, work, &link, &res);
    if (st == 1) {
        fprintf(stderr, "experiment: %s: stopped after a checkpoint (--stop-after-checkpoints)\n",
                r->id);
        _exit(3);
    }
    if (st != 0) _exit(1);
    char a[1400], b[1400];
    snprintf(a, sizeof a, "%s/runs/%s.csv", work, r->id);
    snprintf(b, sizeof b, "%s/runs/%s.infer.csv", work, r->id);
    const exp_row *last = &res.rows[res.nrows - 1];
    if (!quiet)
        fprintf(stderr, "experiment: done %s: held-out loss %.4f, accuracy %.4f, %.1f s; "
                        "inference check: %lld mismatch(es) in %lld positions\n",
                r->id, last->test_loss, last->test_acc, last->wall_s,
                (long long)res.infer.mismatches, (long long)res.infer.positions);
    /* the inference row first: a run counts as complete when both files exist */
    const int bad = infer_rows_write(b, &res.infer, 1) != 0 || rows_write(a, res.rows, res.nrows) != 0;
    free(res.rows);
    char ck[1400];
    snprintf(ck, sizeof ck, "%s/ckpt/%s.ckpt", work, r->id);
    unlink(ck);
    snprintf(ck, sizeof ck, "%s/ckpt/%s.rows.csv", work, r->id);
    unlink(ck);
    fflush(NULL);
    _exit(bad ? 1 : 0);
}

void pool_progress_line(const exp_pool_state *st, double elapsed)
{
    const double done = st->flops_done, total = st->flops_total;
    const double eta = done > 0 ? elapsed * (total - done) / done : 0;
    fprintf(stderr, "experiment: %d of %d runs done, %d training; %.0f%% of the training "
                    "FLOPs, %.0f s, ETA %.0f s\n", st->finished, st->ntodo,
            st->started - st->finished, total > 0 ? 100.0 * done / total : 100.0, elapsed, eta);
}

/* The runs training now (pid[k] > 0), by id, after `what`. */
static void say_in_flight(const char *label, const char *what, const exp_plan *p,
                          const int *todo, const pid_t *pid, int started)
{
    fprintf(stderr, "%s: %s", label, what);
    const char *sep = ": ";
    for (int k = 0; k < started; k++)
        if (pid[k] > 0) {
            fprintf(stderr, "%s%s", sep, p->runs[todo[k]].id);
            sep = ", ";
        }
    fprintf(stderr, "\n");
}

int pool_run(const exp_plan *p, const int *todo, int ntodo, int jobs, const char *work,
             int max_runs, int checkpoints, int hold, const exp_pool_hooks *hooks)
{
    const exp_pool_hooks none = {NULL, 0, "experiment", NULL, NULL};
    if (!hooks) hooks = &none;
    const size_t bytes = sizeof(shared) + (size_t)p->nruns * sizeof(double);
    shared *sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        fprintf(stderr, "experiment: cannot map shared memory: %s\n", strerror(errno));
        return 1;
    }
    memset(sh, 0, bytes);
    sh->checkpoints_left = checkpoints;
    int *jobs_now = hooks->machine_jobs ? hooks->machine_jobs : &sh->jobs;
    const pid_t self = getpid();
    pid_t *pid = calloc((size_t)(ntodo ? ntodo : 1), sizeof *pid);
    if (!pid) { munmap(sh, bytes); return 1; }
    double total = 0;
    for (int k = 0; k < ntodo; k++) total += p->runs[todo[k]].flops_per_step * (double)p->runs[todo[k]].steps;

    /* Children must be waited for (a SIGCHLD ignored by whoever started us would reap them
     * behind our back), and a signal between fork and the child's own handlers must not
     * be lost: blocked around fork, unblocked in the child once it has SIG_DFL. */
    struct sigaction sa, old_int, old_term, old_chld;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, &old_chld);
    sigset_t block, unblocked;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);

    const double t0 = now_seconds();
    double last_print = t0;
    int started = 0, finished = 0, rc = 0, stop = 0, killed = 0, waiting = hooks->tick != NULL;
    exp_pool_state st = {.ntodo = ntodo, .flops_total = total};
    fflush(NULL); /* nothing buffered is written twice by a child */
    while (finished < started || (!stop && started < ntodo) || (waiting && !killed)) {
        /* start runs while there is room */
        while (!stop && !interrupted && started < ntodo && started - finished < jobs) {
            if (max_runs >= 0 && started >= max_runs) { stop = 1; rc = 3; break; }
            const int i = todo[started];
            if (checkpoints > 0 && __atomic_load_n(&sh->checkpoints_left, __ATOMIC_SEQ_CST) <= 0) {
                stop = 1; rc = 3; break;
            }
            if (!hooks->quiet)
                fprintf(stderr, "experiment: start %s, %lld steps\n", p->runs[i].id,
                        (long long)p->runs[i].steps);
            fflush(NULL);
            __atomic_add_fetch(jobs_now, 1, __ATOMIC_SEQ_CST);
            sigprocmask(SIG_BLOCK, &block, &unblocked);
            pid[started] = fork();
            if (pid[started] == 0)
                child(p, i, work, sh, jobs_now, checkpoints > 0, hold, hooks->quiet, self,
                      &unblocked);
            sigprocmask(SIG_SETMASK, &unblocked, NULL);
            if (pid[started] < 0) {
                fprintf(stderr, "%s: fork: %s\n", hooks->label, strerror(errno));
                __atomic_sub_fetch(jobs_now, 1, __ATOMIC_SEQ_CST);
                stop = 1; rc = 1; break;
            }
            started++;
        }
        if (interrupted && !killed) {
            say_in_flight(hooks->label, "interrupted; stopping the runs training (each resumes "
                          "from its last checkpoint)", p, todo, pid, started);
            for (int k = 0; k < started; k++)
                if (pid[k] > 0) kill(pid[k], SIGTERM);
            killed = stop = 1;
            rc = 128 + (int)interrupted;
        }
        /* Our own children only: an MPI library may have started processes of its own. */
        int status, reaped = 0;
        for (int k = 0; k < started && !reaped; k++) {
            if (pid[k] <= 0) continue;
            const pid_t w = waitpid(pid[k], &status, WNOHANG);
            if (w == 0 || (w < 0 && errno == EINTR)) continue;
            const int i = todo[k];
            pid[k] = -1;
            reaped = 1;
            __atomic_sub_fetch(jobs_now, 1, __ATOMIC_SEQ_CST);
            finished++;
            const int code = w > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            if (code == 3 && rc == 0) { rc = 3; stop = 1; }
            else if (code != 0 && code != 3 && !interrupted) {
                if (w > 0 && WIFSIGNALED(status))
                    fprintf(stderr, "%s: run %s died of signal %d\n", hooks->label,
                            p->runs[i].id, WTERMSIG(status));
                else if (w < 0)
                    fprintf(stderr, "%s: run %s: waitpid: %s\n", hooks->label, p->runs[i].id,
                            strerror(errno));
                rc = 1;
                stop = 1; /* the runs training go on to their end; none starts */
            }
        }
        if (reaped) continue;
        st.started = started;
        st.finished = finished;
        st.own_done = finished == started && (stop || started == ntodo);
        st.flops_done = 0;
        for (int k = 0; k < ntodo; k++) st.flops_done += sh->flops_done[todo[k]];
        if (hooks->tick) {
            waiting = hooks->tick(hooks->ctx, &st);
        } else if (now_seconds() - last_print >= 15.0) {
            last_print = now_seconds();
            pool_progress_line(&st, now_seconds() - t0);
        }
        if (st.own_done && !waiting) continue;
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    if (rc == 0 && started < ntodo) rc = 3;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    free(pid);
    munmap(sh, bytes);
    return rc;
}
