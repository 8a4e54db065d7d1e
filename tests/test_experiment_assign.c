/* test_experiment_assign.c: the runs of the experiment spread over MPI ranks
 * (experiment/assign.c, docs/DESIGN.md §9.2):
 *   - a worked example of the rule, written out by hand: seed pairs by FLOPs, largest
 *     first, each onto the rank with the least FLOPs so far, ties to the lowest rank;
 *   - on a plan shaped like the default one, for 1 to 7 ranks: every run has one rank,
 *     both runs of a seed pair the same one, the ranks' FLOPs add up to the runs' and lie
 *     within the largest pair's of each other, and the assignment is the same twice;
 *   - the runs left after a resume (one run of a pair complete) are assigned by what is
 *     left of each pair. */
#include "experiment.h"

#include <criterion/criterion.h>
#include <string.h>

/* A plan of runs alone (assign_runs reads nothing else): pairs[k] = {setting, seed,
 * FLOPs of the cubic run, FLOPs of the causal run}. */
static exp_plan plan_of(exp_run *runs, const double (*pairs)[4], int npairs)
{
    exp_plan p;
    memset(&p, 0, sizeof p);
    for (int k = 0; k < npairs; k++)
        for (int kind = 0; kind < 2; kind++) {
            exp_run *r = &runs[2 * k + kind];
            memset(r, 0, sizeof *r);
            r->setting = (int)pairs[k][0];
            r->seed = (int)pairs[k][1];
            r->kind = kind == 0 ? MODEL_CUBIC : MODEL_CAUSAL;
            r->steps = 100;
            r->flops_per_step = pairs[k][2 + kind] / 100.0;
        }
    p.runs = runs;
    p.nruns = 2 * npairs;
    return p;
}

Test(experiment_assign, worked_example)
{
    /* Pair FLOPs 5, 8, 4, 7, 6 (cubic + causal) in todo order, over two ranks:
     * 8 -> rank 0 (8), 7 -> rank 1 (7), 6 -> rank 1 (13), 5 -> rank 0 (13),
     * 4 -> rank 0 (17: a tie at 13, to the lower rank). */
    const double pairs[5][4] = {{0, 1, 2, 3}, {1, 1, 4, 4}, {2, 1, 1, 3}, {3, 1, 3, 4},
                                {4, 1, 2, 4}};
    exp_run runs[10];
    exp_plan p = plan_of(runs, pairs, 5);
    int todo[10], owner[10];
    double load[2];
    for (int i = 0; i < 10; i++) todo[i] = i;
    cr_assert_eq(assign_runs(&p, todo, 10, 2, owner, load), 0);
    const int want[5] = {0, 0, 0, 1, 1};
    for (int i = 0; i < 10; i++)
        cr_expect_eq(owner[i], want[i / 2], "run %d (pair FLOPs %g): rank %d, want %d", i,
                     pairs[i / 2][2] + pairs[i / 2][3], owner[i], want[i / 2]);
    cr_expect_float_eq(load[0], 17.0, 1e-9);
    cr_expect_float_eq(load[1], 13.0, 1e-9);
}

/* Shaped like the default plan: six settings of 5, 5, 5, 3, 3, 3 seeds, the cubic run
 * dearer than the causal one, FLOPs spread over two orders of magnitude. */
static int default_like(exp_run *runs, exp_plan *p)
{
    static double pairs[24][4];
    const int seeds[6] = {5, 5, 5, 3, 3, 3};
    const double cubic[6] = {9.1e13, 2.2e14, 2.0e13, 6.1e12, 1.4e12, 4.0e11};
    int n = 0;
    for (int s = 0; s < 6; s++)
        for (int seed = 1; seed <= seeds[s]; seed++, n++) {
            pairs[n][0] = s;
            pairs[n][1] = seed;
            pairs[n][2] = cubic[s];
            pairs[n][3] = cubic[s] * (0.6 + 0.05 * seed); /* seeds alike but not equal */
        }
    *p = plan_of(runs, (const double (*)[4])pairs, n);
    return n;
}

Test(experiment_assign, pairs_kept_and_balanced)
{
    exp_run runs[48];
    exp_plan p;
    const int npairs = default_like(runs, &p);
    int todo[48], owner[48], again[48];
    double load[7], total = 0, biggest = 0;
    /* start order as main.c's: any order does; reversed plan order here */
    for (int i = 0; i < p.nruns; i++) todo[i] = p.nruns - 1 - i;
    for (int k = 0; k < npairs; k++) {
        const double f = (runs[2 * k].flops_per_step + runs[2 * k + 1].flops_per_step) * 100;
        total += f;
        biggest = f > biggest ? f : biggest;
    }
    for (int K = 1; K <= 7; K++) {
        cr_assert_eq(assign_runs(&p, todo, p.nruns, K, owner, load), 0);
        int rank_of_pair[24];
        for (int k = 0; k < npairs; k++) rank_of_pair[k] = -1;
        for (int i = 0; i < p.nruns; i++) {
            cr_assert(owner[i] >= 0 && owner[i] < K, "K = %d: run %d on rank %d", K, todo[i],
                      owner[i]);
            const int pair = todo[i] / 2;
            if (rank_of_pair[pair] < 0) rank_of_pair[pair] = owner[i];
            cr_expect_eq(owner[i], rank_of_pair[pair], "K = %d: the runs of pair %d on ranks "
                         "%d and %d", K, pair, rank_of_pair[pair], owner[i]);
        }
        double sum = 0, lo = load[0], hi = load[0];
        for (int q = 0; q < K; q++) {
            sum += load[q];
            lo = load[q] < lo ? load[q] : lo;
            hi = load[q] > hi ? load[q] : hi;
        }
        cr_expect(sum > total * (1 - 1e-12) && sum < total * (1 + 1e-12), "K = %d: FLOPs %g "
                  "of %g", K, sum, total);
        cr_expect(hi - lo <= biggest, "K = %d: ranks' FLOPs %g to %g, the largest pair %g", K,
                  lo, hi, biggest);
        if (K == 1) for (int i = 0; i < p.nruns; i++) cr_expect_eq(owner[i], 0);
        if (K > 1) cr_expect(lo > 0, "K = %d: a rank with nothing to train", K);
        cr_assert_eq(assign_runs(&p, todo, p.nruns, K, again, NULL), 0);
        cr_expect(memcmp(owner, again, sizeof owner) == 0, "K = %d: not the same twice", K);
    }
}

Test(experiment_assign, resumed_pairs_by_what_is_left)
{
    /* Pair 0 is the dearest, but its cubic run is complete: 1 of it left, against pair
     * 1's 5 and pair 2's 4. Over two ranks: 5 -> rank 0, 4 -> rank 1, 1 -> rank 1. */
    const double pairs[3][4] = {{0, 1, 9, 1}, {1, 1, 2, 3}, {2, 1, 2, 2}};
    exp_run runs[6];
    exp_plan p = plan_of(runs, pairs, 3);
    int todo[5] = {1, 2, 3, 4, 5}, owner[5];
    double load[2];
    cr_assert_eq(assign_runs(&p, todo, 5, 2, owner, load), 0);
    const int want[5] = {1, 0, 0, 1, 1};
    for (int i = 0; i < 5; i++) cr_expect_eq(owner[i], want[i], "run %d: rank %d, want %d",
                                             todo[i], owner[i], want[i]);
    cr_expect_float_eq(load[0], 5.0, 1e-9);
    cr_expect_float_eq(load[1], 5.0, 1e-9);
}
