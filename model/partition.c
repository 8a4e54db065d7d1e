/* partition.c: which part of a batch each rank trains (model.h model_partition,
 * docs/DESIGN.md §8.2); precision-free, built once. */
#include "model.h"

int model_splits_prefixes(model_kind kind, const model_config *cfg)
{
    return kind == MODEL_CUBIC_LOOP || (kind == MODEL_CUBIC && cfg->layers >= 2);
}

double model_prefix_cost(model_kind kind, const model_config *cfg, int t)
{
    return model_splits_prefixes(kind, cfg) ? (double)t * (t + 6.0 * cfg->d_model) : 1.0;
}

int model_partition(model_kind kind, const model_config *cfg, int B, int N, int ranks,
                    int rank, model_part *parts)
{
    if (!cfg || B < 1 || N < 1 || ranks < 1 || rank < 0 || rank >= ranks || !parts) return 0;
    const int split = model_splits_prefixes(kind, cfg);
    const int per_seq = split ? N : 1;   /* items of one sequence */
    double seq_cost = 0.0;
    for (int t = 1; t <= per_seq; t++) seq_cost += model_prefix_cost(kind, cfg, t);
    const double total = seq_cost * B;
    int count = 0;
    double before = 0.0; /* cost of the items before this one */
    for (int b = 0; b < B; b++)
        for (int i = 1; i <= per_seq; i++) {
            const double c = model_prefix_cost(kind, cfg, i);
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
