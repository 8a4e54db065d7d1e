/* partition.c: which part of a batch each rank trains (model.h model_partition,
 * docs/DESIGN.md §8.4); precision-free, built once. */
#include "model.h"

int model_splits_prefixes(model_kind kind, const model_config *cfg)
{
    return kind == MODEL_CUBIC_LOOP || (kind == MODEL_CUBIC && cfg->layers >= 2);
}

/* Predicted cost of prefix t of a model of width D (model.h model_partition). */
static double prefix_cost(double t, double D) { return t * (t + 6.0 * D); }

int model_partition(model_kind kind, const model_config *cfg, int B, int N, int ranks,
                    int rank, model_part *parts)
{
    if (!cfg || B < 1 || N < 1 || ranks < 1 || rank < 0 || rank >= ranks || !parts) return 0;
    const int split = model_splits_prefixes(kind, cfg);
    const int per_seq = split ? N : 1;   /* items of one sequence */
    const double D = cfg->d_model;
    double seq_cost = 0.0;
    for (int t = 1; t <= N; t++) seq_cost += split ? prefix_cost(t, D) : 0.0;
    if (!split) seq_cost = 1.0;
    const double total = seq_cost * B;
    int count = 0;
    double before = 0.0; /* cost of the items before this one */
    for (int b = 0; b < B; b++)
        for (int i = 1; i <= per_seq; i++) {
            const double c = split ? prefix_cost(i, D) : 1.0;
            int owner = (int)((before + 0.5 * c) / total * ranks);
            if (owner > ranks - 1) owner = ranks - 1;
            before += c;
            if (owner != rank) continue;
            const int first = split ? i : 1, last = split ? i : N;
            if (count > 0 && parts[count - 1].seq == b && parts[count - 1].last == first - 1)
                parts[count - 1].last = last;
            else
                parts[count++] = (model_part){b, first, last};
        }
    return count;
}
