/* scaling.c: REPORT.md's section on prefix-parallel training across MPI ranks, from the
 * rows of bench --model --scaling (results/bench_scaling.csv, docs/DESIGN.md §8.2): the
 * strong-scaling table of the configurations measured, then the projection of the
 * measured rate and communication to the published scale. */
#include "report.h"

#include <math.h>
#include <string.h>

/* The projection's network, an assumption stated with it: links of 100 Gb/s and 5 us a
 * message; the sum's pieces (lib/comm: 2^16 floats) as the bench's. */
#define NET_BYTES_PER_S 12.5e9
#define NET_LATENCY_S 5e-6
#define SUM_PIECE_BYTES (4.0 * 65536)

/* The ok measured row of (ranks, threads) at the first measured shape, or NULL. */
static const scaling_record *measured(const dataset *ds, const scaling_record *shape,
                                      int ranks, int threads)
{
    const scaling_record *best = NULL;
    for (int i = 0; i < ds->nsc; i++) {
        const scaling_record *x = &ds->sc[i];
        if (!x->ok || x->ranks != ranks || x->threads != threads || x->n != shape->n ||
            x->layers != shape->layers || x->d_model != shape->d_model ||
            x->batch != shape->batch)
            continue;
        if (!best || strcmp(x->date, best->date) > 0) best = x;
    }
    return best;
}

/* The partition row of K ranks at the shape's N, layers and width, or NULL. */
static const scaling_record *partition(const dataset *ds, const scaling_record *shape, int K)
{
    for (int i = 0; i < ds->nsc; i++) {
        const scaling_record *x = &ds->sc[i];
        if (!strcmp(x->kind, "partition") && x->ranks == K && x->n == shape->n &&
            x->layers == shape->layers && x->d_model == shape->d_model)
            return x;
    }
    return NULL;
}

/* The sum's time on the projection's network: a chain of K ranks adds the shares piece
 * by piece (each rank passing a piece on while the next arrives), then the sum goes back
 * as a broadcast, pipelined alike: 2 (pieces + K - 2) piece transfers. */
static double net_sum_seconds(double bytes, int K)
{
    if (K < 2) return 0.0;
    const double piece = bytes < SUM_PIECE_BYTES ? bytes : SUM_PIECE_BYTES;
    const double pieces = ceil(bytes / piece);
    return 2.0 * (pieces + K - 2) * (NET_LATENCY_S + piece / NET_BYTES_PER_S);
}

static void measured_table(FILE *f, const dataset *ds, const scaling_record *shape,
                           const scaling_record *base)
{
    fprintf(f, "| configuration | step (median, min–max) | speed-up | efficiency | "
               "ranks' shares (fastest–slowest) | sum, waiting included | bytes sent a step "
               "| GFLOP/s a core | of the FMA peak |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < ds->nsc; i++) {
        const scaling_record *x = &ds->sc[i];
        if (strcmp(x->kind, "measured") || x->n != shape->n || x->layers != shape->layers ||
            x->d_model != shape->d_model || x->batch != shape->batch)
            continue;
        if (!x->ok) {
            fprintf(f, "| %d rank(s) × %d thread(s) | %s | | | | | | | |\n", x->ranks,
                    x->threads, x->status);
            continue;
        }
        const int cores = x->ranks * x->threads;
        const double speed = base->t_med / x->t_med;
        const double eff = speed / ((double)cores / (base->ranks * base->threads));
        const double rate = x->flops / x->t_med / cores * 1e-9;
        fprintf(f, "| %d rank(s) × %d thread(s) | %s (%s–%s) | %.2f× | %.0f%% | %s–%s | %s | "
                   "%.3g MB | %.1f | %.2f |\n", x->ranks, x->threads, fmt_s(x->t_med),
                fmt_s(x->t_min), fmt_s(x->t_max), speed, 100.0 * eff, fmt_s(x->compute_min),
                fmt_s(x->compute_max), x->ranks > 1 ? fmt_s(x->sum_s) : "none",
                x->comm_bytes * 1e-6, rate, x->peak > 0 ? rate / x->peak : NAN);
    }
    fprintf(f, "\nSpeed-up and efficiency against 1 rank × %d thread(s) (efficiency = "
               "speed-up / cores used). A step runs from a barrier to the slowest rank's "
               "update; the shares are the ranks' model work before the sum, the sum is the "
               "ordered sum of the gradients (lib/comm), waiting for the slowest share "
               "included; its bytes are the payload of the chain's messages and of the broadcast to "
               "each rank (the library's broadcast may send more on the wire). GFLOP/s a core: the step's model FLOPs (attention and products, "
               "§3, §8) over its time and the cores used; the FMA peak is one thread's, "
               "measured in the same run.\n\n", base->threads);
}

/* The projection of the measured rate and communication to the published scale. */
static void projection(FILE *f, const dataset *ds, const scaling_record *shape,
                       const scaling_record *base)
{
    if (shape->n != PUB_N || shape->d_model != PUB_D || shape->layers != PUB_L ||
        base->ranks != 1 || base->threads != 1) {
        fprintf(f, "No projection to the published scale: it reads a one-rank, one-thread "
                   "step measured at the published shape (N = %d, d_model %d, %d layers), and "
                   "these rows are of N = %d, d_model %d, %d layers.\n\n", PUB_N, PUB_D, PUB_L,
                shape->n, shape->d_model, shape->layers);
        return;
    }
    const scaling_record *p1 = partition(ds, shape, 1);
    if (!p1) {
        fprintf(f, "No projection: the rows hold no partition of the published batch.\n\n");
        return;
    }
    const double B = p1->batch, P = shape->params;
    const double f_seq = base->flops / base->batch, rate = base->flops / base->t_med;
    const double bytes1 = 4.0 * P + 8.0; /* one rank's share: the gradients and the loss */
    const double t1 = f_seq * B / rate;
    fprintf(f, "**Projection to the published scale (an extrapolation, not a measurement).** "
               "Measured above: a cubic training step of one sequence at the published shape "
               "costs %.3g FLOPs (the model's count), at %.3g GFLOP/s on one core (1 rank × 1 "
               "thread). Assumed: a batch of %.0f sequences a step and %.0e steps "
               "(%.3g FLOPs in all); every rank as fast as that core; the ranks' parts as "
               "model_partition cuts the batch (its largest part's predicted cost over the "
               "mean part's, computed by the bench); the ordered sum of %.3g MB of gradients "
               "a rank down a chain of ranks and back, on links of %.0f Gb/s and %.0f µs a "
               "message (%.0f KiB pieces).", f_seq, rate * 1e-9, B, PUB_STEPS,
            f_seq * B * PUB_STEPS, bytes1 * 1e-6, NET_BYTES_PER_S * 8e-9, NET_LATENCY_S * 1e6,
            SUM_PIECE_BYTES / 1024);
    const scaling_record *two = measured(ds, shape, 2, 1);
    if (two)
        fprintf(f, " On this machine the sum of 2 ranks (shared memory) took %s a step, "
                   "waiting for the slower share included, for %.3g MB sent.",
                fmt_s(two->sum_s), two->comm_bytes * 1e-6);
    fprintf(f, "\n\n| ranks K | largest part / mean | compute a step | sum a step | step | "
               "%.0e steps | efficiency |\n|---|---|---|---|---|---|---|\n", PUB_STEPS);
    for (int K = 8; K <= 1024; K *= 2) {
        const scaling_record *pk = partition(ds, shape, K);
        if (!pk) continue;
        const double comp = t1 * pk->imbalance / K, comm = net_sum_seconds(bytes1, K);
        const double step = comp + comm;
        fprintf(f, "| %d | %.3f | %s | %s | %s | %.3g days | %.0f%% |\n", K, pk->imbalance,
                fmt_s(comp), fmt_s(comm), fmt_s(step), step * PUB_STEPS / 86400,
                100.0 * t1 / (K * step));
    }
    fprintf(f, "\nOne core would take %.3g days. The batch has %.0f × %d = %.0f (sequence, "
               "prefix) items; past a few hundred ranks each rank holds a few, and the "
               "largest prefixes' cost sets the step (the imbalance column). What this does "
               "not model: ranks slower when their machine's other cores are busy (measured "
               "above as the efficiency of 2 ranks on this machine), and a network shared "
               "with other jobs.\n\n", t1 * PUB_STEPS / 86400, B, shape->n, B * shape->n);
}

void scaling_section(FILE *f, const dataset *ds)
{
    const scaling_record *shape = NULL;
    for (int i = 0; i < ds->nsc && !shape; i++)
        if (!strcmp(ds->sc[i].kind, "measured")) shape = &ds->sc[i];
    if (!shape) return;
    int K = 1;
    for (int i = 0; i < ds->nsc; i++)
        if (!strcmp(ds->sc[i].kind, "measured") && ds->sc[i].ranks > K) K = ds->sc[i].ranks;
    fprintf(f, "## Prefix-parallel training across ranks (MPI)\n\n");
    fprintf(f, "`mpirun -np K build/bench --model --scaling` (make bench: K = %d): the cubic "
               "model's training step (%d layers, d_model %d, %d heads, vocabulary %d, N = %d, "
               "%d sequence(s) a step, implementation %s) with each sequence's prefixes "
               "split between ranks by predicted cost and the gradients summed in rank order "
               "(docs/DESIGN.md §8.2), on %s.\n\n", K, shape->layers,
            shape->d_model, shape->heads, shape->vocab, shape->n, shape->batch, shape->impl,
            shape->cpu);
    const scaling_record *base = measured(ds, shape, 1, shape->threads);
    if (!base) {
        fprintf(f, "No ok one-rank row to compare against.\n\n");
        return;
    }
    measured_table(f, ds, shape, base);
    projection(f, ds, shape, base);
}
