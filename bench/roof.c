/* roof.c: the machine's own limits, measured in every bench run at every thread count it
 * uses (docs/DESIGN.md §5.4), next to the BLIS sgemm ceiling of machine.c:
 *   roof_peak_gflops  FMA peak: independent FMA chains on registers only, on the vector
 *                     unit of the kernel path the library chose (AVX-512 or AVX2 + FMA;
 *                     roof_kern.c, built per path)
 *   roof_ukr_gflops   a register-blocked FMA micro-kernel (broadcast A, load B) on
 *                     packed, L1-resident panels: the practical ceiling of a tiled kernel
 *   roof_bw_gbs       STREAM triad a[i] = b[i] + s c[i] over buffers together >= 4 x LLC,
 *                     3 x 4 bytes an element (write-allocate not counted)
 * and the cache eviction a cold decode step is timed after (roof_evict). Each runs one
 * OpenMP thread per bench thread and reports the median of its repetitions. */
#include "bench.h"
#include "clock.h"
#include "isa.h"
#include "roof_kern.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ROOF_HAVE_CLFLUSH 1
#endif

/* ---- the vector unit of the chosen kernel path -------------------------------------- */
/* One copy of the register-only kernels per path (roof_kern.c), in ISAS order. */
#define ISA(name) extern const roof_kern roof_kern_##name;
#include "isa_list.h"
#undef ISA
static const roof_kern *const kerns[] = {
#define ISA(name) &roof_kern_##name,
#include "isa_list.h"
#undef ISA
};

static const roof_kern *kern(void) { return kerns[isa_chosen()]; }

const char *roof_isa(void) { return kern()->isa; }
int roof_vector_floats(void) { return kern()->vw; }

enum { MAX_REPS = 64 };

/* Repetitions that fill about `seconds` when one takes t1 (3..MAX_REPS). */
static int reps_for(double seconds, double t1)
{
    double r = t1 > 0 ? seconds / t1 : MAX_REPS;
    return r < 3 ? 3 : r > MAX_REPS ? MAX_REPS : (int)r;
}

static volatile float roof_sink;

/* Times `reps` calls of fn(iters) on `threads` threads between barriers; median GFLOP/s. */
typedef float (*kernel_fn)(long iters, float seed);

static double run_kernel(kernel_fn fn, double flops_per_iter, int threads, double seconds)
{
    /* calibrate: one thread, iterations that take ~10 ms */
    long iters = 1000;
    for (;;) {
        double t0 = now_seconds();
        roof_sink = fn(iters, 1.0f);
        double t = now_seconds() - t0;
        if (t > 2e-3 || iters > (1L << 40)) {
            iters = (long)(iters * (1e-2 / (t > 0 ? t : 1e-9)));
            if (iters < 1) iters = 1;
            break;
        }
        iters *= 8;
    }
    const int reps = reps_for(seconds, 1e-2);
    double t[MAX_REPS];
#pragma omp parallel num_threads(threads)
    {
        float s = 0;
        /* warm-up, about 30 ms: the vector unit's clock and power license settle */
        for (int w = 0; w < 3; w++) s += fn(iters, 0.5f);
        for (int r = 0; r < reps; r++) {
            double t0 = 0;
#pragma omp barrier
#pragma omp master
            t0 = now_seconds();
            s += fn(iters, 1.0f + 0.01f * (float)r);
#pragma omp barrier
#pragma omp master
            t[r] = now_seconds() - t0;
        }
        roof_sink = s;
    }
    double med = bench_median(t, reps);
    return med > 0 ? flops_per_iter * (double)iters * threads / med / 1e9 : -1;
}

double roof_peak_gflops(int threads, double seconds)
{
    const roof_kern *k = kern();
    return run_kernel(k->peak, (double)k->chains * k->vw * k->flops_per_fma, threads, seconds);
}

/* ---- micro-kernel ------------------------------------------------------------------- */

double roof_ukr_gflops(int threads, double seconds)
{
    const roof_kern *k = kern();
    return run_kernel(k->ukr, 2.0 * k->mr * k->nr * k->kc, threads, seconds);
}

const char *roof_ukr_shape(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "%d x %d, KC %d", kern()->mr, kern()->nr, kern()->kc);
    return buf;
}

/* ---- last-level cache and bandwidth ------------------------------------------------- */

double roof_llc_bytes(int *known)
{
    long s = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    s = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    if (s <= 0) {
        FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
        if (f) {
            char unit = 0;
            long v = 0;
            if (fscanf(f, "%ld%c", &v, &unit) >= 1)
                s = v * (unit == 'K' ? 1024L : unit == 'M' ? 1048576L : 1L);
            fclose(f);
        }
    }
    if (known) *known = s > 0;
    return s > 0 ? (double)s : -1;
}

/* The triad's buffers, allocated on first use and kept for the run (first touch costs
 * more than a pass); roof_release frees them. */
static float *bw_a, *bw_b, *bw_c;
static size_t bw_n;
static int bw_touched_threads;

static int bw_alloc(int threads)
{
    if (!bw_a) {
        double llc = roof_llc_bytes(NULL);
        /* together >= 4 x LLC; 64 MiB in all when the LLC size is unknown */
        double total = llc > 0 ? 4.0 * llc : 64.0 * 1048576.0;
        if (total < 48.0 * 1048576.0) total = 48.0 * 1048576.0;
        bw_n = (size_t)(total / 3.0 / sizeof(float));
        bw_n = (bw_n + 15) / 16 * 16;
        bw_a = aligned_alloc(64, bw_n * sizeof(float));
        bw_b = aligned_alloc(64, bw_n * sizeof(float));
        bw_c = aligned_alloc(64, bw_n * sizeof(float));
        if (!bw_a || !bw_b || !bw_c) {
            roof_release();
            return -1;
        }
        bw_touched_threads = 0;
    }
    if (bw_touched_threads != threads) { /* pages placed by the threads that stream them */
        const long n = (long)bw_n;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long i = 0; i < n; i++) {
            bw_a[i] = 0.0f;
            bw_b[i] = 1.0f;
            bw_c[i] = 2.0f;
        }
        bw_touched_threads = threads;
    }
    return 0;
}

double roof_bw_gbs(int threads, double seconds)
{
    if (bw_alloc(threads) != 0) return -1;
    const long n = (long)bw_n;
    float *restrict a = bw_a;
    const float *restrict b = bw_b, *restrict c = bw_c;
    const float s = 0.5f;
    double t[MAX_REPS], spent = 0;
    int r = 0;
    while (r < MAX_REPS && (r < 3 || spent < seconds)) {
        double t0 = now_seconds();
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        t[r] = now_seconds() - t0;
        spent += t[r++];
    }
    roof_sink = a[n / 2];
    double med = bench_median(t, r);
    return med > 0 ? 3.0 * sizeof(float) * (double)n / med / 1e9 : -1;
}

double roof_bw_buffer_bytes(void) { return 3.0 * sizeof(float) * (double)bw_n; }

/* ---- eviction ---------------------------------------------------------------------- */

static unsigned char *evict_buf;
static size_t evict_n;

void roof_evict(void *const *ptrs, const size_t *bytes, int count)
{
#ifdef ROOF_HAVE_CLFLUSH
    /* clflush drops each line of the buffers from every cache level of the coherence
     * domain, whatever the LLC's size or replacement policy. */
    for (int i = 0; i < count; i++) {
        const unsigned char *p = ptrs[i];
        if (!p) continue;
        for (size_t off = 0; off < bytes[i]; off += 64) _mm_clflush(p + off);
        if (bytes[i]) _mm_clflush(p + bytes[i] - 1);
    }
    _mm_mfence();
#else
    /* elsewhere: stream over a buffer of 2.5 x LLC (64 MiB when unknown) */
    (void)ptrs;
    (void)bytes;
    (void)count;
    if (!evict_buf) {
        double llc = roof_llc_bytes(NULL);
        evict_n = (size_t)(llc > 0 ? 2.5 * llc : 64.0 * 1048576.0);
        evict_buf = malloc(evict_n);
        if (!evict_buf) return;
        memset(evict_buf, 1, evict_n);
    }
    unsigned s = 0;
    for (size_t i = 0; i < evict_n; i += 64) s += evict_buf[i]++;
    roof_sink = (float)s;
#endif
}

const char *roof_evict_method(void)
{
#ifdef ROOF_HAVE_CLFLUSH
    return "clflush of the cell's buffers before each timed call";
#else
    return "a 2.5 x LLC buffer streamed before each timed call";
#endif
}

void roof_release(void)
{
    free(bw_a);
    free(bw_b);
    free(bw_c);
    bw_a = bw_b = bw_c = NULL;
    bw_n = 0;
    bw_touched_threads = 0;
    free(evict_buf);
    evict_buf = NULL;
    evict_n = 0;
}

/* ---- the nominal peak, to sanity-check the measured one ----------------------------- */

/* Clock in GHz: cpufreq's maximum, else /proc/cpuinfo's "cpu MHz"; -1 if neither. */
static double clock_ghz(const char **source)
{
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
    double khz = 0;
    if (f) {
        if (fscanf(f, "%lf", &khz) != 1) khz = 0;
        fclose(f);
        if (khz > 0) {
            *source = "cpufreq max";
            return khz / 1e6;
        }
    }
    f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    char line[256];
    double mhz = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) mhz = atof(colon + 1);
            break;
        }
    fclose(f);
    *source = "/proc/cpuinfo cpu MHz";
    return mhz > 0 ? mhz / 1e3 : -1;
}

void roof_peak_note(double peak, int threads, char *out, size_t cap)
{
    const char *src = "";
    const double ghz = clock_ghz(&src);
    /* FMA units per core: 2 on the server cores this suite targets (Xeon Scalable with
     * AVX-512, every AVX2 core since Haswell, Zen); an assumption, not a measurement */
    const roof_kern *k = kern();
    const int units = k->vw > 1 ? 2 : 1;
    if (!(ghz > 0) || !(peak > 0)) {
        snprintf(out, cap, "measured %.1f GFLOP/s on %d thread(s), %s; clock unknown", peak,
                 threads, k->isa);
        return;
    }
    const double nominal = threads * units * k->vw * k->flops_per_fma * ghz;
    /* above 1: the cores run above the clock the OS reports (turbo); well below: fewer
     * FMA units than assumed, a lower vector clock, or a busy machine */
    snprintf(out, cap,
             "measured %.1f GFLOP/s = %.2f x nominal %.1f (%d core(s) x %d FMA unit(s) "
             "[assumed] x %d floats (%s) x 2 flops x %.2f GHz [%s]); the clock that "
             "explains it: %.2f GHz",
             peak, peak / nominal, nominal, threads, units, k->vw, k->isa, ghz, src,
             peak / (threads * units * k->vw * k->flops_per_fma));
}
