/* float64.c: the float64 precision of the model (real.h), the reference the float32
 * model is measured against: real is double; its products are BLIS's dgemm, its attention
 * the harness's float64 reference of each operator, GELU one element at a time with
 * libm's exp. Included by model_f64.c. */
#include "blis_ctx.h"
#include "cubattn_harness.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef double real;
typedef double gvec;
enum { GLANES = 1, ATTENTION_NEEDS_IMPL = 0 };

#include "real.h"

static void gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                 int lda, const real *b, int ldb, real beta, real *c, int ldc, int threads)
{
    if (m == 0 || n == 0) return;
    ca_dgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

static ca_status attention(const model_exec *ex, ca_entry e, ca_shape sh, const real *q,
                           const real *k, const real *v, real *o, real *lse,
                           const real *dout, real *dq, real *dk, real *dv)
{
    (void)ex;
    return dout ? ca_ref_bwd(e, sh, q, k, v, o, lse, dout, dq, dk, dv)
                : ca_ref_fwd(e, sh, q, k, v, o, lse);
}

static ca_status attention_step(const model_exec *ex, ca_shape sh, int t, const real *q_t,
                                const real *k_t, const real *v_t, real *k_cache,
                                real *v_cache, real *o_t, real *lse_t)
{
    (void)ex;
    for (int h = 0; h < sh.heads; h++) {
        size_t row = ((size_t)h * sh.n + t) * sh.d;
        memcpy(k_cache + row, k_t + (size_t)h * sh.d, sh.d * sizeof *k_t);
        memcpy(v_cache + row, v_t + (size_t)h * sh.d, sh.d * sizeof *v_t);
    }
    return ca_ref_decode_step(sh, t, q_t, k_cache, v_cache, o_t, lse_t);
}

/* GELU's lanes (layers.c): one element each. */
static inline gvec gload(const real *p) { return *p; }
static inline void gstore(real *p, gvec x) { *p = x; }
static inline gvec gexp(gvec x) { return exp(x); }
static inline gvec gmax(gvec x, real low) { return x < low ? low : x; }
