/* main.c: the experiment program (make experiment; docs/DESIGN.md §9).
 *
 * Work dir layout (default build/experiment-work; build/experiment is the program):
 *   plan.txt              the plan the files below belong to; a different plan wipes them
 *   ckpt/<id>.ckpt        the interrupted run's checkpoint, ckpt/<id>.rows.csv its rows
 *   runs/<id>.csv         a completed run's rows, runs/<id>.infer.csv its inference check
 * A run whose two runs/ files exist is not redone; the others are trained by pool.c in
 * concurrent processes. When every run is complete their rows
 * are merged into OUT/experiment.csv and OUT/experiment_infer.csv (each a temp file
 * renamed over the target) and the work dir is emptied. Exit 1 when a trained model's
 * inference path disagrees with its training forward anywhere, 2 on bad flags, 3 when
 * --max-runs, --stop-after-checkpoints or --only left runs undone, 128 + the signal when
 * interrupted (SIGINT, SIGTERM: every run resumes from its last checkpoint).
 * Under mpirun the ranks share the runs (ranks.c); alone, the program is one rank. */
#include "clock.h"
#include "experiment.h"
#include "host.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
"usage: experiment [--quick] [--scale default|large|quick] [--work DIR] [--out DIR]\n"
"                  [--jobs J] [--threads T] [--max-runs K] [--stop-after-checkpoints K]\n"
"                  [--only TEXT] [--plan] [--estimate] [--hold-after-checkpoints K]\n"
"Trains causal and cubic models on count3, count3_fixed, induction and text\n"
"(docs/DESIGN.md section 9).\n"
"  --quick        the same as --scale quick: one seed of tiny models (make test)\n"
"  --scale S      the plan: default (this machine, about an hour), large (count3 at\n"
"                 NB = 32 and 64 for a bigger machine: see --plan and --estimate first)\n"
"  --jobs J       runs trained at once, one process each (default: as many as the\n"
"                 CPUs this process may use hold at T threads each, at most 2; 1..64;\n"
"                 J x T at most those CPUs)\n"
"  --work DIR     checkpoints and completed runs, for resuming (default build/experiment-work)\n"
"  --out DIR      where experiment.csv and experiment_infer.csv go (default results)\n"
"  --threads T    threads of each run's model (default 1; 1..64; T x J at most the\n"
"                 online CPUs: threads sharing cores spin-wait for each other)\n"
"  --max-runs K   stop after K runs trained by this process (exit 3; resume later)\n"
"  --stop-after-checkpoints K  stop right after the K-th checkpoint this process\n"
"                 writes, as an interrupt there would (exit 3; resume later)\n"
"  --only TEXT    train only the runs whose id contains TEXT (exit 3: the others are\n"
"                 left to a later run without --only; nothing is merged)\n"
"  --plan         print the runs and their training FLOPs, train nothing\n"
"  --estimate     time a short run of each setting (both kinds, every evaluation and\n"
"                 the inference check) and print the predicted time of the plan\n"
"  --hold-after-checkpoints K  as --stop-after-checkpoints, but the run waits there\n"
"                 until it is killed (a fixed point to kill a rank at, for the tests)\n"
"Under mpirun (mpirun -np K build/experiment FLAGS) the ranks share the runs: the same\n"
"flags on every rank, a work dir they all reach; --jobs, --max-runs and the checkpoint\n"
"flags count per rank. Rank 0 writes the results.\n");
}

static int mkdir_p(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
            *s = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* --estimate: each setting's pair trained for 2 x evals cubic steps (and the causal
 * steps those FLOPs buy) with every evaluation point and the inference check, timed;
 * a full run is predicted as that time plus its remaining steps at the measured
 * training time per step, times the seeds. Uses work/estimate/ and removes it. */
static int estimate(const exp_plan *p, const char *work, int jobs)
{
    char dir[1100], ck[1400];
    snprintf(dir, sizeof dir, "%s/estimate", work);
    snprintf(ck, sizeof ck, "%s/ckpt", dir);
    if (mkdir_p(ck) != 0) return -1;
    exp_setting *st = malloc((size_t)p->nsettings * sizeof *st);
    if (!st) return -1;
    memcpy(st, p->settings, (size_t)p->nsettings * sizeof *st);
    exp_plan q = *p;
    q.settings = st;
    double total = 0;
    int rc = 0;
    for (int i = 0; i < p->nsettings && rc == 0; i++) {
        char name[32];
        plan_setting_name(p, i, name, sizeof name);
        const int64_t probe = 2 * p->c.evals;
        st[i].steps = (int)probe;
        double setting_s = 0, per_step[2] = {0, 0}; /* training seconds per step: cubic, causal */
        int64_t sf = 0;
        for (int k = 0; k < p->nruns && rc == 0; k++) {
            const exp_run *full = &p->runs[k];
            if (full->setting != i || full->seed != 1) continue;
            exp_run r = *full;
            r.steps = (int64_t)llround((double)probe * full->steps / p->settings[i].steps);
            r.steps_flops = (int64_t)llround((double)probe * full->steps_flops / p->settings[i].steps);
            exp_run_result res;
            const double t0 = now_seconds();
            if (run_train(&q, &r, dir, NULL, &res) != 0) { rc = -1; break; }
            const double t = now_seconds() - t0, train = res.rows[res.nrows - 1].wall_s;
            const double pred = t + train * ((double)full->steps / (double)r.steps - 1.0);
            fprintf(stderr, "estimate: %-14s %-7s %5lld of %6lld steps: %6.2f s (%.1f ms/step, "
                            "%.2f GFLOP/s); full run %6.1f s\n", name, model_kind_name(r.kind),
                    (long long)r.steps, (long long)full->steps, t, 1e3 * train / (double)r.steps,
                    r.flops_per_step * (double)r.steps / train * 1e-9, pred);
            setting_s += pred;
            per_step[r.kind == MODEL_CAUSAL] = train / (double)r.steps;
            sf = full->steps_flops;
            free(res.rows);
            snprintf(ck, sizeof ck, "%s/ckpt/%s.ckpt", dir, r.id);
            unlink(ck);
            snprintf(ck, sizeof ck, "%s/ckpt/%s.rows.csv", dir, r.id);
            unlink(ck);
        }
        st[i].steps = p->settings[i].steps;
        if (rc == 0 && per_step[1] > 0)
            fprintf(stderr, "estimate: %s: the causal run passes the cubic run's seconds at "
                            "%.2f S_f (it runs to %.2f S_f)\n", name,
                    per_step[0] * p->settings[i].steps / per_step[1] / (double)sf,
                    p->settings[i].causal_x);
        total += setting_s * p->settings[i].seeds;
        fprintf(stderr, "estimate: %s x %d seeds: %.0f s of one core\n", name,
                p->settings[i].seeds, setting_s * p->settings[i].seeds);
    }
    if (rc == 0)
        printf("predicted time of the plan: %.0f s of one core; %.1f min over %d concurrent "
               "runs (timed alone: runs side by side may be slower)\n", total,
               total / 60 / jobs, jobs);
    snprintf(ck, sizeof ck, "%s/ckpt", dir);
    rmdir(ck);
    rmdir(dir);
    free(st);
    return rc;
}

/* Removes every regular file of dir (not recursive). */
static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1400];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) unlink(path);
    }
    closedir(d);
}

/* The work dir for this plan: kept when plan.txt matches, else emptied and restamped. */
static int work_prepare(const exp_plan *p, const char *work)
{
    char path[1200], ck[1100], runs[1100];
    snprintf(ck, sizeof ck, "%s/ckpt", work);
    snprintf(runs, sizeof runs, "%s/runs", work);
    if (mkdir_p(ck) != 0 || mkdir_p(runs) != 0) {
        fprintf(stderr, "experiment: cannot create '%s': %s\n", work, strerror(errno));
        return -1;
    }
    size_t cap = 256 + (size_t)p->nruns * 128;
    char *want = malloc(cap), *have = calloc(1, cap + 1);
    if (!want || !have) { free(want); free(have); return -1; }
    plan_describe(p, want, cap);
    snprintf(path, sizeof path, "%s/plan.txt", work);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t got = fread(have, 1, cap, f);
        have[got] = '\0';
        fclose(f);
    }
    int rc = 0;
    if (strcmp(want, have) != 0) {
        if (f) fprintf(stderr, "experiment: the plan changed; discarding %s\n", work);
        empty_dir(ck);
        empty_dir(runs);
        f = fopen(path, "w");
        if (!f || fputs(want, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "experiment: cannot write '%s'\n", path);
            rc = -1;
        }
    }
    free(want);
    free(have);
    return rc;
}

/* True when a completed run's two files read back whole, in their domains, with the
 * run's last step as their last row. */
static int run_files_ok(const char *rows_path, const char *infer_path, const exp_run *r)
{
    exp_row *rows = NULL;
    exp_infer_row *ir = NULL;
    int n = 0, ni = 0;
    const int ok = rows_read(rows_path, &rows, &n) == 0 && n > 0 &&
                   rows[n - 1].step == r->steps && infer_rows_read(infer_path, &ir, &ni) == 0 &&
                   ni == 1;
    free(rows);
    free(ir);
    return ok;
}

/* The output directory exists (made if need be) and takes a file: checked before any
 * training, so that an hour's runs do not end on a write that cannot happen. */
static int out_writable(const char *out)
{
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/.experiment-write-test", out);
    FILE *f = mkdir_p(out) == 0 ? fopen(probe, "w") : NULL;
    int ok = f != NULL;
    if (f) {
        ok = fputs("ok\n", f) >= 0;
        ok &= fclose(f) == 0;
    }
    if (!ok) {
        fprintf(stderr, "experiment: cannot write into the output directory '%s': %s\n", out,
                strerror(errno));
        return -1;
    }
    unlink(probe);
    return 0;
}

/* The order runs start in: settings with the most training FLOPs per seed pair first, so
 * that the last to finish are short; within a setting, each seed's cubic run and then its
 * causal partner (plan order), so that the two train side by side: the causal run's
 * point at the cubic run's seconds then shares its load (docs/DESIGN.md §9.2). */
static const exp_plan *sort_plan;
static double pair_flops(int setting)
{
    double f = 0;
    for (int i = 0; i < sort_plan->nruns; i++)
        if (sort_plan->runs[i].setting == setting && sort_plan->runs[i].seed == 1)
            f += sort_plan->runs[i].flops_per_step * (double)sort_plan->runs[i].steps;
    return f;
}
static int by_pair_cost(const void *a, const void *b)
{
    const int i = *(const int *)a, j = *(const int *)b;
    const double fi = pair_flops(sort_plan->runs[i].setting),
                 fj = pair_flops(sort_plan->runs[j].setting);
    if (fi != fj) return fi < fj ? 1 : -1;
    return (i > j) - (i < j);
}

/* A flag's integer value within [lo, hi], or -1. */
static int int_flag(const char *val, int lo, int hi)
{
    char *end;
    errno = 0;
    const long v = strtol(val, &end, 10);
    return *end || errno || v < lo || v > hi ? -1 : (int)v;
}

/* The completed runs' rows merged in plan order into out/experiment.csv and
 * out/experiment_infer.csv; then the work dir emptied. 0, or 1 (message) also when a
 * trained model's inference path disagreed with its training forward. */
static int merge(const exp_plan *p, const char *work, const char *out)
{
    char a[1400], b[1400], dst[1200];
    exp_row *all = NULL;
    exp_infer_row *inf = malloc((size_t)p->nruns * sizeof *inf);
    int nall = 0, rc = inf ? 0 : 1;
    long long mismatches = 0;
    for (int i = 0; i < p->nruns && rc == 0; i++) {
        exp_row *rows;
        exp_infer_row *ir;
        int n, ni;
        snprintf(a, sizeof a, "%s/runs/%s.csv", work, p->runs[i].id);
        snprintf(b, sizeof b, "%s/runs/%s.infer.csv", work, p->runs[i].id);
        if (rows_read(a, &rows, &n) != 0) { rc = 1; break; }
        if (infer_rows_read(b, &ir, &ni) != 0 || ni != 1) { free(rows); rc = 1; break; }
        inf[i] = ir[0];
        mismatches += ir[0].mismatches;
        free(ir);
        exp_row *grown = realloc(all, (size_t)(nall + n) * sizeof *all);
        if (!grown) { free(rows); rc = 1; break; }
        all = grown;
        memcpy(all + nall, rows, (size_t)n * sizeof *rows);
        nall += n;
        free(rows);
    }
    if (rc == 0 && mkdir_p(out) != 0) {
        fprintf(stderr, "experiment: cannot create '%s': %s\n", out, strerror(errno));
        rc = 1;
    }
    snprintf(dst, sizeof dst, "%s/experiment.csv", out);
    if (rc == 0 && rows_write(dst, all, nall) != 0) rc = 1;
    snprintf(dst, sizeof dst, "%s/experiment_infer.csv", out);
    if (rc == 0 && infer_rows_write(dst, inf, p->nruns) != 0) rc = 1;
    if (rc == 0) {
        fprintf(stderr, "experiment: wrote %s/experiment.csv (%d rows) and %s\n", out, nall, dst);
        snprintf(a, sizeof a, "%s/ckpt", work);
        empty_dir(a);
        snprintf(a, sizeof a, "%s/runs", work);
        empty_dir(a);
        snprintf(a, sizeof a, "%s/plan.txt", work);
        unlink(a);
        if (mismatches > 0) {
            fprintf(stderr, "experiment: FAIL: %lld held-out prediction(s) of the inference "
                            "path differ from the training forward (%s)\n", mismatches, dst);
            rc = 1;
        }
    }
    free(all);
    free(inf);
    return rc;
}

/* What the flags ask for (usage). */
typedef struct exp_args {
    const char *work, *out, *only, *scale;
    int threads, max_runs, plan_only, ckpts, est, hold;
    int jobs; /* 0: as many runs at once as the cores hold at --threads each, at most 2 */
} exp_args;

/* The flags into *a: -1 to go on, else the exit status of --help (0) or of a bad flag
 * (2, said). */
static int parse_flags(int argc, char **argv, exp_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) { usage(stdout); return 0; }
        if (!strcmp(f, "--quick")) { a->scale = "quick"; continue; }
        if (!strcmp(f, "--plan")) { a->plan_only = 1; continue; }
        if (!strcmp(f, "--estimate")) { a->est = 1; continue; }
        if (i + 1 >= argc || !argv[i + 1][0]) {
            fprintf(stderr, "experiment: unknown flag or missing value: '%s' (see --help)\n",
                    f);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(f, "--work")) a->work = val;
        else if (!strcmp(f, "--out")) a->out = val;
        else if (!strcmp(f, "--only")) a->only = val;
        else if (!strcmp(f, "--scale")) a->scale = val;
        else if (!strcmp(f, "--jobs") && (a->jobs = int_flag(val, 1, 64)) >= 1) continue;
        else if (!strcmp(f, "--threads") && (a->threads = int_flag(val, 1, 64)) >= 1) continue;
        else if (!strcmp(f, "--max-runs") && (a->max_runs = int_flag(val, 0, 1 << 20)) >= 0)
            continue;
        else if (!strcmp(f, "--stop-after-checkpoints") &&
                 (a->ckpts = int_flag(val, 1, 1 << 20)) >= 1)
            continue;
        else if (!strcmp(f, "--hold-after-checkpoints") &&
                 (a->ckpts = int_flag(val, 1, 1 << 20)) >= 1)
            a->hold = 1;
        else {
            fprintf(stderr, "experiment: bad flag '%s %s' (see --help)\n", f, val);
            return 2;
        }
    }
    return -1;
}

/* The plan of --scale at --threads: 0, or the exit status (said; nothing to free): 2 for
 * an unknown scale, 1 otherwise. */
static int build_plan(exp_plan *p, const exp_args *a)
{
    const char *why = plan_build(p, a->scale, a->threads);
    if (!why) return 0;
    fprintf(stderr, "experiment: %s\n", why);
    plan_free(p);
    return strcmp(why, "unknown scale (default, large or quick)") ? 1 : 2;
}

/* --jobs, by default as many runs as the cores hold at the plan's threads (at most 2);
 * refused (2, said) when training would put more threads than cores to work. */
static int fit_jobs(const exp_plan *p, exp_args *a)
{
    const int cores = host_cores();
    if (a->jobs == 0) a->jobs = cores / p->c.threads >= 2 ? 2 : 1;
    if (a->plan_only || (long)p->c.threads * a->jobs <= cores) return 0;
    fprintf(stderr, "experiment: --threads %d x --jobs %d = %ld threads, but this machine has "
                    "%d online cores: at most %d (threads that share cores spin-wait for "
                    "each other and a run crawls); lower --threads or --jobs\n",
            p->c.threads, a->jobs, (long)p->c.threads * a->jobs, cores, cores);
    return 2;
}

/* Under mpirun: the ranks agree on the plan and on what shapes the job, or stop here. */
static int ranks_agree_on(const exp_plan *p, const exp_args *a)
{
    char opts[3400];
    snprintf(opts, sizeof opts, "work=%s\nout=%s\nonly=%s\nplan=%d\nestimate=%d\n", a->work,
             a->out, a->only ? a->only : "", a->plan_only, a->est);
    return ranks_agree(p, opts);
}

/* --plan: each run's steps and training FLOPs, and the plan's in all. */
static void print_plan(const exp_plan *p)
{
    double total = 0;
    for (int i = 0; i < p->nruns; i++) {
        total += p->runs[i].flops_per_step * (double)p->runs[i].steps;
        printf("%-40s %6lld steps  %.3e FLOPs/step  %.3e FLOPs\n", p->runs[i].id,
               (long long)p->runs[i].steps, p->runs[i].flops_per_step,
               p->runs[i].flops_per_step * (double)p->runs[i].steps);
    }
    printf("total training FLOPs %.3e (scale %s)\n", total, p->scale);
}

/* The runs left into todo (their count returned), in the order they start: not complete
 * (both runs/ files, readable and in their domains), and within --only (*skipped set when
 * a run is left out by it). A damaged completed run is trained again, as a damaged
 * checkpoint is: said, not fatal. */
static int runs_left(const exp_plan *p, const exp_args *a, int *todo, int *skipped)
{
    char rows[1400], infer[1400];
    int ntodo = 0;
    for (int i = 0; i < p->nruns; i++) {
        snprintf(rows, sizeof rows, "%s/runs/%s.csv", a->work, p->runs[i].id);
        snprintf(infer, sizeof infer, "%s/runs/%s.infer.csv", a->work, p->runs[i].id);
        if (access(rows, F_OK) == 0 && access(infer, F_OK) == 0) {
            if (run_files_ok(rows, infer, &p->runs[i])) continue;
            fprintf(stderr, "experiment: %s: its completed files are damaged (above); training "
                            "it again\n", p->runs[i].id);
            unlink(rows);
            unlink(infer);
        }
        if (a->only && !strstr(p->runs[i].id, a->only)) { *skipped = 1; continue; }
        todo[ntodo++] = i;
    }
    sort_plan = p;
    qsort(todo, (size_t)ntodo, sizeof *todo, by_pair_cost);
    return ntodo;
}

/* Trains the runs left over the ranks (rank 0 alone prepares the output and the work
 * dir, which every rank shares, and lists the runs), then merges them into the results:
 * the program's exit status. */
static int train_and_merge(const exp_plan *p, const exp_args *a, int rank0)
{
    const int prep = rank0 && (out_writable(a->out) != 0 || work_prepare(p, a->work) != 0);
    int *todo = malloc((size_t)p->nruns * sizeof *todo), ntodo = 0, skipped = 0;
    if (!todo) return 1;
    if (rank0 && !prep) ntodo = runs_left(p, a, todo, &skipped);
    int rc = ranks_run(p, prep, todo, ntodo, skipped, a->jobs, a->work, a->max_runs, a->ckpts,
                       a->hold);
    free(todo);
    if (rc == 3 && rank0) fprintf(stderr, "experiment: stopped with runs left; run again to go on\n");
    if (rc == 0 && rank0) rc = merge(p, a->work, a->out);
    return rc;
}

/* What the flags ask of plan p: its list, its estimate, or its training. */
static int run_plan(const exp_plan *p, exp_args *a)
{
    const int fit = fit_jobs(p, a);
    if (fit != 0) return fit;
    omp_set_num_threads(p->c.threads);
    if (ranks_agree_on(p, a) != 0) return 2;
    const int rank0 = ranks_rank() == 0;
    if (a->plan_only) {
        if (rank0) print_plan(p);
        return 0;
    }
    if (a->est) return rank0 && estimate(p, a->work, a->jobs * ranks_size()) != 0 ? 1 : 0;
    return train_and_merge(p, a, rank0);
}

static int experiment_main(int argc, char **argv)
{
    exp_args a = {.work = "build/experiment-work", .out = "results", .scale = "default",
                  .max_runs = -1};
    const int done = parse_flags(argc, argv, &a);
    if (done >= 0) return done;
    exp_plan p;
    const int refused = build_plan(&p, &a);
    if (refused) return refused;
    const int rc = run_plan(&p, &a);
    plan_free(&p);
    return rc;
}

int main(int argc, char **argv)
{
    if (ranks_init(&argc, &argv) != 0) return 1;
    return ranks_end(experiment_main(argc, argv));
}
