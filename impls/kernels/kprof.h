/* kprof.h: where a fused kernel's time goes, products against packing against the rest
 * (docs/DESIGN.md §5.6). Off by default; the bench's --split mode switches it on around
 * the calls it profiles.
 *
 * The tile engine (flash.c) wraps each backend product call (ops->score, ops->prod) in
 * KPROF_TIME(KPROF_PRODUCTS, ...), the implementations wrap their packing of K^T / V^T
 * (regt_pack) in KPROF_TIME(KPROF_PACKING, ...) and each of their calls into the engine
 * in KPROF_TIME(KPROF_ENGINE, ...). Everything else a call spends (softmax, rescales,
 * masks, bookkeeping, and waits at barriers) is its wall time minus products and
 * packing; the engine's share of it is ENGINE minus PRODUCTS.
 *
 * Cost when off: one load of kprof_enabled and one branch per wrapped call, predicted
 * not-taken (a tile product is microseconds; the branch a fraction of a nanosecond).
 * When on: two timestamp reads and one add into the calling thread's own cache line per
 * wrapped call. Timestamps are the TSC on x86 (a few ns to read, against ~20 ns for
 * clock_gettime, which a 64 x 64 tile product would notice); its rate is measured against
 * CLOCK_MONOTONIC between kprof_start and kprof_stop, so the ticks convert to the same
 * seconds the bench's wall clock counts. Elsewhere CLOCK_MONOTONIC in nanoseconds.
 *
 * Slots are per OpenMP thread number (omp_get_thread_num), KPROF_MAX_THREADS of them; a
 * thread numbered past the last adds into the last, so the sums stay complete though
 * the per-thread view does not. Nested parallel regions would share numbers: the
 * profiled implementations do not nest. */
#ifndef KPROF_H
#define KPROF_H

#include <stdint.h>

#define KPROF_MAX_THREADS 64

/* PRODUCTS and PACKING are disjoint; ENGINE (a whole call into the tile engine, wrapped by
 * the implementations) contains the products, so ENGINE - PRODUCTS is the engine's
 * softmax and bookkeeping and the wall time outside ENGINE and PACKING is the rest of
 * the implementation: zeroing, reductions of partial gradients, barriers, waits. */
typedef enum kprof_part { KPROF_PRODUCTS, KPROF_PACKING, KPROF_ENGINE, KPROF_PARTS } kprof_part;

/* Read by every wrapped call; written only between calls (kprof_start / kprof_stop),
 * never while a profiled kernel runs. */
extern int kprof_enabled;

uint64_t kprof_ticks(void);
void kprof_add(kprof_part part, uint64_t ticks);

/* Runs stmt; when profiling is on, adds its ticks to part. One branch when off: the
 * statement is written twice rather than bracketed by a begin and an end test. */
#define KPROF_TIME(part, stmt)                                   \
    do {                                                         \
        if (__builtin_expect(kprof_enabled, 0)) {                \
            const uint64_t kprof_t0_ = kprof_ticks();            \
            stmt;                                                \
            kprof_add((part), kprof_ticks() - kprof_t0_);        \
        } else {                                                 \
            stmt;                                                \
        }                                                        \
    } while (0)

/* The accumulated profile since kprof_reset. */
typedef struct kprof_totals {
    double seconds[KPROF_PARTS]; /* summed over threads */
    uint64_t calls[KPROF_PARTS]; /* wrapped calls, summed over threads */
    int threads_seen;            /* slots with any call */
    double wall;                 /* CLOCK_MONOTONIC seconds between starts and stops */
    double tick_hz;              /* the measured tick rate */
} kprof_totals;

/* Zeroes every slot and the wall clock. Call outside any profiled kernel. */
void kprof_reset(void);
/* Switches profiling on / off; the time between a start and its stop is added to the
 * wall clock that calibrates the ticks. */
void kprof_start(void);
void kprof_stop(void);
/* The sums so far, ticks converted to seconds. */
kprof_totals kprof_read(void);
/* "TSC" or "CLOCK_MONOTONIC". */
const char *kprof_clock(void);

#endif
