/* clock.h: the clock of the kernels' profile, the bench's operator cells and the
 * experiment: CLOCK_MONOTONIC, which setting the date or NTP's adjustments do not move. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

/* Seconds since an arbitrary fixed point. */
double now_seconds(void);
/* The same in nanoseconds, for sums of many short intervals. */
uint64_t now_ns(void);

#endif
