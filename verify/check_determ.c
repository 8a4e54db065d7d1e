/* check_determ.c: determ (docs/DESIGN.md §4.6): repeated runs bit-identical to the first,
 * at the chosen thread count and past the cores. */
#include "check.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

/* A race in a threaded backward (threads adding into shared rows without their own
 * partials) changes the order, or loses some, of the additions: results differ between
 * runs in some runs only, and more often with more threads than cores, where the
 * scheduler interleaves threads mid-update. So every implementation runs DETERM_RUNS
 * times at each thread count (the one asked for, then 2x and 4x the cores: threads is a
 * request the implementation honours), every run compared bitwise with the first. The
 * shapes have one head and many key tiles (N >= 512) so that the threads share dq rows;
 * the per-prefix operators, whose baseline costs Theta(N^3 d) per run, use N = 150 (80
 * in the quick grid), more rows than two tiles in their longest prefixes. */
#define DETERM_RUNS 20

static int determ_thread_counts(const verify_opts *o, int out[3])
{
    const int cores = omp_get_num_procs();
    const int want[3] = {o->threads, 2 * cores, 4 * cores};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= out[j] == want[i];
        if (!dup) out[n++] = want[i];
    }
    return n;
}

static size_t bits_differ_all(const problem *p, const tensors *a, const tensors *b, int bwd)
{
    if (!bwd)
        return bits_differ(a->o, b->o, p->out_elems) + bits_differ(a->lse, b->lse, p->lse_elems);
    return bits_differ(a->dq, b->dq, p->q_elems) + bits_differ(a->dk, b->dk, p->kv_elems) +
           bits_differ(a->dv, b->dv, p->kv_elems);
}

static void determ_impl(const problem *p, const ca_impl *impl, const int *threads, int nthreads,
                        impl_result *res, const char *label)
{
    const ca_entry fe = problem_fwd(p), be = problem_bwd(p);
    const int with_bwd = be != CA_NO_ENTRY && ca_impl_provides(impl, be);
    cell *cf = &res->cells[fe][CHK_DETERMINISM], *cb = be != CA_NO_ENTRY ? &res->cells[be][CHK_DETERMINISM] : NULL;
    if (!ca_impl_provides(impl, fe)) {
        cell_error(cf, CA_ERR_NOT_PROVIDED, label);
        if (cb) cell_error(cb, CA_ERR_NOT_PROVIDED, label);
        return;
    }
    if (cb && !with_bwd) cell_error(cb, CA_ERR_NOT_PROVIDED, label);
    tensors first, again;
    if (tensors_alloc(p, &first) != CA_OK) {
        cell_error(cf, CA_ERR_NOMEM, label);
        return;
    }
    if (tensors_alloc(p, &again) != CA_OK) {
        tensors_free(&first);
        cell_error(cf, CA_ERR_NOMEM, label);
        return;
    }
    for (int ti = 0; ti < nthreads; ti++) {
        const int T = threads[ti];
        size_t worst_f = 0, worst_b = 0;
        int run_f = 0, run_b = 0;
        ca_status st = problem_run(p, impl, T, with_bwd, &first);
        for (int r = 1; st == CA_OK && r < DETERM_RUNS; r++) {
            if ((st = problem_run(p, impl, T, with_bwd, &again)) != CA_OK) break;
            size_t df = bits_differ_all(p, &first, &again, 0);
            size_t db = with_bwd ? bits_differ_all(p, &first, &again, 1) : 0;
            if (df > worst_f) worst_f = df, run_f = r + 1;
            if (db > worst_b) worst_b = db, run_b = r + 1;
        }
        if (st != CA_OK) {
            cell_error(cf, st, label);
            if (with_bwd) cell_error(cb, st, label);
            continue;
        }
        cell_record(cf, (double)worst_f, 0.0, "%s at %d threads: %zu output elements of run %d "
                    "differ from run 1", label, T, worst_f, run_f);
        if (with_bwd)
            cell_record(cb, (double)worst_b, 0.0, "%s at %d threads: %zu gradient elements of "
                        "run %d differ from run 1", label, T, worst_b, run_b);
    }
    tensors_free(&first);
    tensors_free(&again);
}

void check_determ(const ca_impl *const *impls, int count, const verify_opts *o,
                  impl_result *res)
{
    int threads[3];
    const int nthreads = determ_thread_counts(o, threads);
    char tl[48] = "";
    for (int i = 0; i < nthreads; i++)
        snprintf(tl + strlen(tl), sizeof tl - strlen(tl), "%s%d", i ? "," : "", threads[i]);
    verify_progress(o->progress, "verify: determinism (%d runs at %s threads)\n", DETERM_RUNS,
                    tl);
    for (int op = 0; op < CA_OP_COUNT; op++) {
        const int per_prefix = op_per_prefix(op);
        ca_shape sh = per_prefix ? (ca_shape){o->quick ? 80 : 150, 16, 1, 0}
                                 : (ca_shape){o->quick ? 512 : 1024, o->quick ? 16 : 64, 1, 0};
        ca_entry fe = ca_op_get(op)->fwd, be = ca_op_get(op)->bwd;
        char label[64];
        snprintf(label, sizeof label, "%s N=%d d=%d heads=1", op_name(op), sh.n, sh.d);
        problem p;
        ca_status init = problem_init(&p, op, sh, IN_NORMAL, o->seed + 7000 + op);
        for (int i = 0; i < count; i++) {
            if (init != CA_OK) cell_error(&res[i].cells[fe][CHK_DETERMINISM], init, label);
            else determ_impl(&p, impls[i], threads, nthreads, &res[i], label);
            set_note(&res[i].cells[fe][CHK_DETERMINISM], "%s, %d runs at %s threads", label,
                     DETERM_RUNS, tl);
            if (be != CA_NO_ENTRY)
                set_note(&res[i].cells[be][CHK_DETERMINISM], "%s, %d runs at %s threads",
                         label, DETERM_RUNS, tl);
        }
        problem_free(&p);
    }
}
