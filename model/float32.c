/* float32.c: the float32 precision of the model (real.h): real is float; its products
 * run on the suite's register kernel, its attention on the registered implementation a
 * call names (model_exec), GELU 8 lanes at a time with the suite's vexp. Included by
 * model_f32.c and model_f32mut.c. */
#include "regtile.h"
#include "scratch.h"
#include "vexp.h"

#include <math.h>
#include <stddef.h>

typedef float real;
typedef v8f gvec;
enum { GLANES = 8, ATTENTION_NEEDS_IMPL = 1 };

#include "real.h"

/* The float model's products: the suite's register kernel (regt_gemm), not BLIS. Every
 * entry of C is one chain of fused multiply-adds over k, so its bits depend neither on
 * how many rows a product has nor on the blocking below nor on the thread count:
 * training, inference and the per-prefix loop, which run a row in products of different
 * sizes, agree bit for bit. And at the model's shapes (k and n of d_model .. 4 d_model,
 * many rows) BLIS spent as long packing its operands as multiplying them; here A is read
 * in place by broadcasts and B, a weight matrix or a block of rows, is read in place
 * too (transposed first when trans_b: it is a weight, small).
 * Blocks: KC of k, so that a 2-vector column panel of B (KC x 32 floats, 32 KB) stays in
 * L1 while a block of MC rows of A (MC x KC, 96 KB) stays in L2. Threads take blocks of
 * rows (trans_a = 0) or of columns (trans_a = 1: a weight gradient, whose k is the
 * rows and whose C is small), so that no two threads add to one entry.
 * Only alpha = 1 and beta in {0, 1} occur in the model. */
enum { KC = 256, MC = 96, NC_ALIGN = 32 };

static void gemm_block(int trans_a, int beta, int m, int n, int k, const real *a, int lda,
                       const real *b, int ldb, real *c, int ldc)
{
    const ptrdiff_t ars = trans_a ? 1 : lda, acs = trans_a ? lda : 1;
    for (int p0 = 0; p0 < k || p0 == 0; p0 += KC) {
        const int kc = k - p0 < KC ? k - p0 : KC;
        regt_gemm(p0 > 0 || beta, m, n, kc, a + p0 * acs, ars, acs, b + (size_t)p0 * ldb, ldb,
                  c, ldc);
        if (k == 0) break;
    }
}

static void gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                 int lda, const real *b, int ldb, real beta, real *c, int ldc, int threads)
{
    if (m == 0 || n == 0) return;
    (void)alpha;
    const int acc = beta != 0;
    real *bt = NULL;
    if (trans_b) {
        /* op(B)(p, j) = b[j ldb + p], into [k][n]; without the memory for it, the same
         * chains one entry at a time (fmaf: the kernel's lanes round as it does). */
        if (!(bt = model_scratch_alloc((size_t)k * n * sizeof *bt))) {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    real s = acc ? c[(size_t)i * ldc + j] : 0;
                    for (int p = 0; p < k; p++)
                        s = fmaf(trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p],
                                 b[(size_t)j * ldb + p], s);
                    c[(size_t)i * ldc + j] = s;
                }
            return;
        }
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++) bt[(size_t)p * n + j] = b[(size_t)j * ldb + p];
        b = bt;
        ldb = n;
    }
    const double work = 2.0 * m * n * k;
    /* a fork is worth it from ~50 us of work: it may have to wake a sleeping thread */
    const int par = threads > 1 && work >= 1 << 23;
    if (!trans_a) {
        const int blocks = (m + MC - 1) / MC;
#pragma omp parallel for schedule(static) num_threads(threads) if (par)
        for (int i = 0; i < blocks; i++) {
            const int i0 = i * MC, mc = m - i0 < MC ? m - i0 : MC;
            gemm_block(0, acc, mc, n, k, a + (size_t)i0 * lda, lda, b, ldb,
                       c + (size_t)i0 * ldc, ldc);
        }
    } else {
        const int strips = (n + NC_ALIGN - 1) / NC_ALIGN;
        const int parts = par ? (threads < strips ? threads : strips) : 1;
#pragma omp parallel for schedule(static) num_threads(parts) if (parts > 1)
        for (int t = 0; t < parts; t++) {
            const int j0 = strips * t / parts * NC_ALIGN;
            const int j1 = t + 1 == parts ? n : strips * (t + 1) / parts * NC_ALIGN;
            gemm_block(1, acc, m, j1 - j0, k, a, lda, b + j0, ldb, c + j0, ldc);
        }
    }
    model_scratch_free(bt);
}

/* The workspace the implementation asks for, for the duration of one call. */
static ca_status with_workspace(const model_exec *ex, ca_entry e, ca_shape sh,
                                ca_exec *run)
{
    size_t bytes = 0;
    run->ws = NULL;
    ca_status st = ca_workspace_bytes(ex->impl, e, sh, ex->threads, &bytes);
    if (st != CA_OK) return st;
    run->threads = ex->threads;
    run->ws_bytes = bytes;
    run->ws = bytes ? model_scratch_alloc(bytes) : NULL;
    return bytes && !run->ws ? CA_ERR_NOMEM : CA_OK;
}

static ca_status attention(const model_exec *ex, ca_entry e, ca_shape sh, const real *q,
                           const real *k, const real *v, real *o, real *lse,
                           const real *dout, real *dq, real *dk, real *dv)
{
    ca_exec run;
    ca_status st = with_workspace(ex, e, sh, &run);
    if (st == CA_OK)
        st = dout ? ca_run_bwd(ex->impl, e, sh, &run, q, k, v, o, lse, dout, dq, dk, dv)
                  : ca_run_fwd(ex->impl, e, sh, &run, q, k, v, o, lse);
    model_scratch_free(run.ws);
    return st;
}

static ca_status attention_step(const model_exec *ex, ca_shape sh, int t, const real *q_t,
                                const real *k_t, const real *v_t, real *k_cache,
                                real *v_cache, real *o_t, real *lse_t)
{
    ca_exec run;
    ca_status st = with_workspace(ex, CA_DECODE_STEP, sh, &run);
    if (st == CA_OK)
        st = ca_decode_step(ex->impl, sh, &run, t, q_t, k_t, v_t, k_cache, v_cache, o_t,
                            lse_t);
    model_scratch_free(run.ws);
    return st;
}

/* GELU's lanes (layers.c). */
static inline gvec gload(const real *p) { return ld8(p); }
static inline void gstore(real *p, gvec x) { st8(p, x); }
static inline gvec gexp(gvec x) { return vexp(x); }
static inline gvec gmax(gvec x, real low)
{
    const gvec lo = bc8(low);
    const v8i below = x < lo; /* false for NaN, which stays */
    return (v8f)((below & (v8i)lo) | (~below & (v8i)x));
}
