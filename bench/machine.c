/* machine.c: what the numbers were measured on (CPU, cores, compiler and flags, BLIS
 * sub-configuration, kernel path, commit, date) and the machine's ceiling, BLIS sgemm GFLOP/s. */
#include "bench.h"
#include "blis_ctx.h"
#include "clock.h"
#include "host.h"

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

void machine_describe(machine_info *m)
{
    memset(m, 0, sizeof *m);
        host_commit(m->commit, sizeof m->commit);
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
    copy(m->cflags, sizeof m->cflags, "-std=c11 -ffp-contract=off -fopenmp " CA_BUILD_OPT);
    host_cpu(m->cpu, sizeof m->cpu);
    m->cores = omp_get_num_procs();
    copy(m->blis_config, sizeof m->blis_config, ca_blis_config());
    copy(m->kernel_isa, sizeof m->kernel_isa, ca_isa());
    m->other_cores = -1;
}

/* Busy and total jiffies of the whole machine (/proc/stat); -1 on failure. */
static int machine_jiffies(double *busy, double *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    double v[10] = {0};
    int got = fscanf(f, "cpu %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (got < 8) return -1;
    /* user nice system idle iowait irq softirq steal (guest time is inside user) */
    *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    *total = *busy + v[3] + v[4];
    return 0;
}

/* utime + stime of this process in jiffies (/proc/self/stat fields 14 and 15). */
static double self_jiffies(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    double ut, st;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lf %lf", &ut, &st) != 2)
        return -1;
    return ut + st;
}

void machine_cpu_begin(machine_info *m)
{
    m->other_cores = -1;
    m->self0 = self_jiffies();
    if (machine_jiffies(&m->busy0, &m->total0) != 0 || m->self0 < 0) m->total0 = -1;
}

void machine_cpu_end(machine_info *m)
{
    double busy, total, self = self_jiffies();
    m->other_cores = -1;
    if (m->total0 < 0 || self < 0 || machine_jiffies(&busy, &total) != 0) return;
    double dt = total - m->total0;
    if (dt <= 0) return;
    double other = (busy - m->busy0) - (self - m->self0);
    if (other < 0) other = 0;
    m->other_cores = other / dt * m->cores;
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
    const double med = bench_median(t, r);
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / med / 1e9;
}
