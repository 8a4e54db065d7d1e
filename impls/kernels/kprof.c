/* kprof.c: the per-thread accumulators of kprof.h. */
#include "clock.h"
#include "kprof.h"

#include <omp.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define KPROF_TSC 1
#endif

int kprof_enabled;

/* One cache line per thread: the adds of two threads never share a line. */
typedef struct {
    _Alignas(64) uint64_t ticks[KPROF_PARTS];
    uint64_t calls[KPROF_PARTS];
} slot;

static slot slots[KPROF_MAX_THREADS];

/* Calibration: ticks and monotonic nanoseconds summed over the start/stop windows. */
static uint64_t win_ticks, win_ns, start_ticks, start_ns;

uint64_t kprof_ticks(void)
{
#ifdef KPROF_TSC
    return __rdtsc();
#else
    return now_ns();
#endif
}

const char *kprof_clock(void)
{
#ifdef KPROF_TSC
    return "TSC";
#else
    return "CLOCK_MONOTONIC";
#endif
}

void kprof_add(kprof_part part, uint64_t ticks)
{
    const int t = omp_get_thread_num();
    if (t < KPROF_MAX_THREADS - 1) {
        slots[t].ticks[part] += ticks;
        slots[t].calls[part]++;
    } else { /* the last slot is shared by every thread past it */
        __atomic_fetch_add(&slots[KPROF_MAX_THREADS - 1].ticks[part], ticks, __ATOMIC_RELAXED);
        __atomic_fetch_add(&slots[KPROF_MAX_THREADS - 1].calls[part], 1, __ATOMIC_RELAXED);
    }
}

void kprof_reset(void)
{
    memset(slots, 0, sizeof slots);
    win_ticks = win_ns = 0;
}

void kprof_start(void)
{
    start_ns = now_ns();
    start_ticks = kprof_ticks();
    kprof_enabled = 1;
}

void kprof_stop(void)
{
    kprof_enabled = 0;
    const uint64_t t = kprof_ticks(), ns = now_ns();
    win_ticks += t - start_ticks;
    win_ns += ns - start_ns;
}

kprof_totals kprof_read(void)
{
    kprof_totals r;
    memset(&r, 0, sizeof r);
    r.wall = (double)win_ns * 1e-9;
#ifdef KPROF_TSC
    /* ticks per second over the profiled windows themselves: the rate the sums ran at
     * (a constant-rate TSC, as every x86 of the last decade has; a VM's as well) */
    r.tick_hz = win_ns > 0 ? (double)win_ticks / r.wall : 0.0;
#else
    r.tick_hz = 1e9;
#endif
    for (int t = 0; t < KPROF_MAX_THREADS; t++) {
        int any = 0;
        for (int p = 0; p < KPROF_PARTS; p++) {
            if (r.tick_hz > 0) r.seconds[p] += (double)slots[t].ticks[p] / r.tick_hz;
            r.calls[p] += slots[t].calls[p];
            any |= slots[t].calls[p] != 0;
        }
        r.threads_seen += any;
    }
    return r;
}
