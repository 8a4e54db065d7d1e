/* assign.c: which MPI rank trains which run (docs/DESIGN.md §9.2).
 *
 * Longest processing time first: the seed pairs sorted by their training FLOPs, largest
 * first, each given to the rank with the least FLOPs so far. Every rank's total then lies
 * within the largest pair's FLOPs of every other's, and the ranks finish close together.
 * A pair is never split: the causal run's equal-time point is the one nearest the cubic
 * run's seconds, which are comparable only when both trained on one machine under one
 * load, side by side as pool.c starts them. The rule reads nothing but the plan and the
 * runs left, so each rank computes the same assignment without asking the others. */
#include "experiment.h"

#include <stdlib.h>

typedef struct pair {
    int setting, seed;
    int first;   /* the position in todo of its first run: the tie-break */
    double flops;
} pair;

static int by_flops(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->flops != y->flops) return x->flops < y->flops ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

int assign_runs(const exp_plan *p, const int *todo, int ntodo, int ranks, int *owner,
                double *load)
{
    pair *pairs = malloc((size_t)(ntodo ? ntodo : 1) * sizeof *pairs);
    double *sum = calloc((size_t)ranks, sizeof *sum);
    int *rank_of = malloc((size_t)(ntodo ? ntodo : 1) * sizeof *rank_of);
    if (!pairs || !sum || !rank_of) {
        free(pairs); free(sum); free(rank_of);
        return -1;
    }
    int npairs = 0;
    for (int k = 0; k < ntodo; k++) {
        const exp_run *r = &p->runs[todo[k]];
        int j = 0;
        while (j < npairs && !(pairs[j].setting == r->setting && pairs[j].seed == r->seed)) j++;
        if (j == npairs) pairs[npairs++] = (pair){r->setting, r->seed, k, 0};
        pairs[j].flops += r->flops_per_step * (double)r->steps;
    }
    qsort(pairs, (size_t)npairs, sizeof *pairs, by_flops);
    for (int j = 0; j < npairs; j++) {
        int best = 0;
        for (int q = 1; q < ranks; q++)
            if (sum[q] < sum[best]) best = q;
        sum[best] += pairs[j].flops;
        rank_of[j] = best;
    }
    /* each run to its pair's rank */
    for (int k = 0; k < ntodo; k++) {
        const exp_run *r = &p->runs[todo[k]];
        int j = 0;
        while (!(pairs[j].setting == r->setting && pairs[j].seed == r->seed)) j++;
        owner[k] = rank_of[j];
    }
    if (load)
        for (int q = 0; q < ranks; q++) load[q] = sum[q];
    free(pairs);
    free(sum);
    free(rank_of);
    return 0;
}
