/* isa.c: which kernel path runs (isa.h): the widest of the Makefile's ISAS whose
 * features this CPU has, or the one CA_ISA names; chosen once, as BLIS picks its
 * sub-configuration (blis_ctx.c). Built for the baseline, like everything but the
 * per-path copies. */
#include "isa.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cubattn.h"
#include "regtile.h"

static const char *const feature_names[ISA_F_COUNT] = {
    "avx", "avx2", "fma", "bmi", "bmi2", "popcnt",
    "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
};

void isa_feature_names(unsigned mask, char *out, unsigned long cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < ISA_F_COUNT; i++)
        if (mask & (1u << i) && used < cap) {
            int w = snprintf(out + used, cap - used, "%s%s", used ? " " : "", feature_names[i]);
            if (w > 0) used += (size_t)w;
        }
}

/* libgcc's (and compiler-rt's) detection also asks the OS (XGETBV) whether it saves the
 * ymm / zmm state, so a feature reported here is one a program may use. */
unsigned isa_cpu_features(void)
{
    __builtin_cpu_init();
    unsigned f = 0;
    f |= __builtin_cpu_supports("avx") ? ISA_F_AVX : 0;
    f |= __builtin_cpu_supports("avx2") ? ISA_F_AVX2 : 0;
    f |= __builtin_cpu_supports("fma") ? ISA_F_FMA : 0;
    f |= __builtin_cpu_supports("bmi") ? ISA_F_BMI : 0;
    f |= __builtin_cpu_supports("bmi2") ? ISA_F_BMI2 : 0;
    f |= __builtin_cpu_supports("popcnt") ? ISA_F_POPCNT : 0;
    f |= __builtin_cpu_supports("avx512f") ? ISA_F_AVX512F : 0;
    f |= __builtin_cpu_supports("avx512dq") ? ISA_F_AVX512DQ : 0;
    f |= __builtin_cpu_supports("avx512cd") ? ISA_F_AVX512CD : 0;
    f |= __builtin_cpu_supports("avx512bw") ? ISA_F_AVX512BW : 0;
    f |= __builtin_cpu_supports("avx512vl") ? ISA_F_AVX512VL : 0;
    return f;
}

static int chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* "avx2 avx512": the paths of this build. */
static void path_names(char *out, size_t cap, unsigned cpu, int runnable_only)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; regt_isa_at(i); i++) {
        const regt_isa *p = regt_isa_at(i);
        if (runnable_only && (p->needs & ~cpu)) continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? " " : "", p->name);
        if (w > 0 && (size_t)w < cap - used) used += (size_t)w;
    }
}

static void choose(void)
{
    const unsigned cpu = isa_cpu_features();
    char names[128], missing[160];
    const char *env = getenv("CA_ISA");
    if (env && *env && strcmp(env, "auto") != 0) {
        for (int i = 0; regt_isa_at(i); i++) {
            const regt_isa *p = regt_isa_at(i);
            if (strcmp(p->name, env) != 0) continue;
            if (p->needs & ~cpu) {
                isa_feature_names(p->needs & ~cpu, missing, sizeof missing);
                path_names(names, sizeof names, cpu, 1);
                fprintf(stderr, "cubattn: CA_ISA=%s: this CPU lacks %s, which that kernel "
                                "path is compiled for; paths it runs: %s (or CA_ISA=auto)\n",
                        env, missing, names[0] ? names : "none");
                exit(2);
            }
            chosen = i;
            return;
        }
        path_names(names, sizeof names, cpu, 0);
        fprintf(stderr, "cubattn: CA_ISA=%s is not a kernel path of this build: %s, or auto\n",
                env, names);
        exit(2);
    }
    chosen = -1;
    for (int i = 0; regt_isa_at(i); i++)
        if (!(regt_isa_at(i)->needs & ~cpu)) chosen = i;
    if (chosen < 0) {
        /* Only reached if the baseline code before this point happened not to fault. */
        isa_feature_names(regt_isa_at(0)->needs & ~cpu, missing, sizeof missing);
        fprintf(stderr, "cubattn: this CPU lacks %s: this build needs at least its %s path "
                        "(x86-64-v3: AVX2 + FMA)\n", missing, regt_isa_at(0)->name);
        exit(2);
    }
}

int isa_chosen(void)
{
    pthread_once(&once, choose);
    return chosen;
}

const char *ca_isa(void) { return regt_isa_at(isa_chosen())->name; }
