/* host.c: the machine and the code a run is on, as every program's evidence records it
 * (bench rows, experiment rows): the CPU's model name and the commit. */
#include "host.h"

#include <stdio.h>
#include <string.h>
#include <omp.h>
#include <unistd.h>

/* First line of a command's output, trailing newline removed; "" on failure. */
static void first_line(const char *cmd, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (!f) return;
    if (!fgets(out, (int)cap, f)) out[0] = '\0';
    pclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

void host_cpu(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        colon[strcspn(colon, "\r\n")] = '\0';
        snprintf(out, cap, "%s", colon);
        break;
    }
    fclose(f);
}

void host_commit(char *out, size_t cap)
{
    /* "-dirty" only for changes to the code: make verify and make bench rewrite the
     * committed evidence (results/, plots/, REPORT.md) on their way. */
    first_line("c=$(git describe --always --abbrev=12 2>/dev/null) && "
               "{ git diff --quiet HEAD -- . ':(exclude)results' ':(exclude)plots' "
               "':(exclude)REPORT.md' 2>/dev/null || c=\"$c-dirty\"; } && echo \"$c\"",
               out, cap);
    if (!out[0]) snprintf(out, cap, "unknown");
}

int host_cores(void)
{
    /* The CPUs this process may run on (a container's cpuset, taskset), not the host's:
     * the threads bound is about the cores the run gets. */
    const int n = omp_get_num_procs();
    if (n >= 1) return n;
    const long m = sysconf(_SC_NPROCESSORS_ONLN);
    return m >= 1 ? (int)m : 1;
}
