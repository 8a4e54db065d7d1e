/* host.h: the machine and the code a run is on (bench/host.c). */
#ifndef HOST_H
#define HOST_H

#include <stddef.h>

/* The CPU's model name (/proc/cpuinfo), or "unknown". */
void host_cpu(char *out, size_t cap);
/* The commit (git describe), "-dirty" when the code differs from it; "unknown" outside
 * a git checkout. */
void host_commit(char *out, size_t cap);

#endif
