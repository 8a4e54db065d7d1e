/* machine.c: what the numbers were measured on (CPU, cores, compiler and flags, BLIS
 * sub-configuration, commit, date) and the machine's ceiling, BLIS sgemm GFLOP/s. */
#include "bench.h"
#include "blis_ctx.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CA_BUILD_OPT
#define CA_BUILD_OPT "unknown"
#endif

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

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

static void cpu_model(char *out, size_t cap)
{
    copy(out, cap, "unknown");
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
        copy(out, cap, colon);
        break;
    }
    fclose(f);
}

void machine_describe(machine_info *m)
{
    memset(m, 0, sizeof *m);
    first_line("git describe --always --dirty --abbrev=12 2>/dev/null", m->commit,
               sizeof m->commit);
    if (!m->commit[0]) copy(m->commit, sizeof m->commit, "unknown");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
#if defined(__clang__)
    snprintf(m->compiler, sizeof m->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(m->compiler, sizeof m->compiler, "gcc %s", __VERSION__);
#else
    copy(m->compiler, sizeof m->compiler, "unknown C compiler");
#endif
    copy(m->cflags, sizeof m->cflags, "-std=c11 -fopenmp " CA_BUILD_OPT);
    cpu_model(m->cpu, sizeof m->cpu);
    m->cores = omp_get_num_procs();
    copy(m->blis_config, sizeof m->blis_config, ca_blis_config());
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double machine_sgemm_gflops(int n, int threads, double seconds)
{
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return -1;
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
        b[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
        c[i] = 0;
    }
    omp_set_num_threads(threads);
    ca_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n, threads); /* warm-up */
    enum { MAXR = 64 };
    double t[MAXR], spent = 0;
    int r = 0;
    while (r < MAXR && (r < 3 || spent < seconds)) {
        double t0 = now_seconds();
        ca_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n, threads);
        t[r] = now_seconds() - t0;
        spent += t[r++];
    }
    qsort(t, (size_t)r, sizeof t[0], cmp_double);
    double med = r % 2 ? t[r / 2] : 0.5 * (t[r / 2 - 1] + t[r / 2]);
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / med / 1e9;
}
