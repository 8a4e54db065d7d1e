/* blis_ctx.c: CPU feature detection -> BLIS sub-configuration, and a row-major sgemm
 * that runs on it. */
#include "blis_ctx.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cntx_t chosen_cntx;
static cntx_t *chosen;
static char chosen_desc[128];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static unsigned amd_family(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    if (b != 0x68747541u) return 0; /* "Auth"enticAMD */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned fam = (a >> 8) & 0xf;
    return fam == 0xf ? fam + ((a >> 20) & 0xff) : fam;
}

typedef struct { const char *name; void (*init)(cntx_t *); } config;

static const config configs[] = {
    {"skx", bli_cntx_init_skx},   {"zen3", bli_cntx_init_zen3},
    {"zen2", bli_cntx_init_zen2}, {"zen", bli_cntx_init_zen},
    {"haswell", bli_cntx_init_haswell}, {"generic", bli_cntx_init_generic},
};

static const config *config_named(const char *name)
{
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        if (strcmp(configs[i].name, name) == 0) return &configs[i];
    return NULL;
}

/* Features first, vendor second: AVX-512 runs skx kernels on any vendor; AVX2+FMA runs
 * the zen kernels on AMD (their blocking suits AMD caches) and haswell elsewhere. */
static const char *detect(char *why, size_t len)
{
    __builtin_cpu_init();
    unsigned fam = amd_family();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    snprintf(why, len, "%s%s, %s family 0x%x", avx512 ? "avx512 " : "",
             avx2 ? "avx2+fma" : "no avx2", fam ? "amd" : "non-amd", fam);
    if (avx512) return "skx";
    if (avx2 && fam >= 0x19) return "zen3";
    if (avx2 && fam == 0x17) return "zen2";
    if (avx2) return "haswell";
    return NULL;
}

static void choose(void)
{
    bli_init();
    char why[96];
    const char *name = detect(why, sizeof why);
    const char *env = getenv("CA_BLIS_CONFIG");
    const char *how = "detected";
    if (env && *env && strcmp(env, "auto") != 0) {
        if (config_named(env)) {
            name = env;
            how = "CA_BLIS_CONFIG";
        } else {
            fprintf(stderr, "CA_BLIS_CONFIG=%s is not one of skx, zen3, zen2, zen, "
                            "haswell, generic, auto; using the detected choice\n", env);
        }
    }
    const config *c = name ? config_named(name) : NULL;
    if (c) {
        c->init(&chosen_cntx);
        chosen = &chosen_cntx;
        snprintf(chosen_desc, sizeof chosen_desc, "%s (%s: %s)", c->name, how, why);
    } else {
        /* No feature match: BLIS's own runtime choice. */
        chosen = (cntx_t *)bli_gks_query_cntx();
        snprintf(chosen_desc, sizeof chosen_desc, "%s (blis default: %s)",
                 bli_arch_string(bli_arch_query_id()), why);
    }
}

cntx_t *ca_blis_cntx(void)
{
    pthread_once(&once, choose);
    return chosen;
}

const char *ca_blis_config(void)
{
    pthread_once(&once, choose);
    return chosen_desc;
}

void ca_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc, int threads)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(threads, &rntm);
    /* Row-major: element (r, c) of a matrix with leading dimension ld is at r*ld + c. */
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &alpha,
                 (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1,
                 ca_blis_cntx(), &rntm);
}

void ca_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha,
              const double *a, int lda, const double *b, int ldb, double beta,
              double *c, int ldc, int threads)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(threads, &rntm);
    bli_dgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &alpha,
                 (double *)a, lda, 1, (double *)b, ldb, 1, &beta, c, ldc, 1,
                 ca_blis_cntx(), &rntm);
}
