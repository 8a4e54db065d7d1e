/* host.h: the machine and the code a run is on (host.c). */
#ifndef HOST_H
#define HOST_H

#include <stddef.h>

/* The CPU's model name (/proc/cpuinfo), or "unknown". */
void host_cpu(char *out, size_t cap);
/* The commit (git describe), "-dirty" when the code differs from it; "unknown" outside
 * a git checkout. */
void host_commit(char *out, size_t cap);

/* The CPUs online (sysconf), at least 1: what bench's --threads and experiment's
 * --threads x --jobs may use. Threads beyond it share cores: OpenMP's waiting threads
 * spin for the cores the others need, so a run crawls (an experiment at 4 threads on 2
 * cores took minutes for seconds of work) and a timing measures the scheduler, not the
 * code. */
int host_cores(void);

#endif
