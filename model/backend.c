/* backend.c: where the model's products and attention run (real.h): BLIS and a
 * registered implementation for float32, BLIS and the float64 reference for float64. */
#include "real.h"
#include "scratch.h"
#include "blis_ctx.h"
#include "cubattn_harness.h"

#include <stdlib.h>
#include <string.h>

#ifdef MODEL_MUTANT
model_mutant model_mutant_planted = MUT_NONE;
#endif

void MF(gemm)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
              int lda, const real *b, int ldb, real beta, real *c, int ldc, int threads)
{
    if (m == 0 || n == 0) return;
#ifdef MODEL_F64
    ca_dgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
#else
    ca_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
#endif
}

#ifdef MODEL_F64

ca_status MF(attention)(const model_exec *ex, ca_entry e, ca_shape sh, const real *q,
                        const real *k, const real *v, real *o, real *lse,
                        const real *dout, real *dq, real *dk, real *dv)
{
    (void)ex;
    return dout ? ca_ref_bwd(e, sh, q, k, v, o, lse, dout, dq, dk, dv)
                : ca_ref_fwd(e, sh, q, k, v, o, lse);
}

ca_status MF(attention_step)(const model_exec *ex, ca_shape sh, int t, const real *q_t,
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

#else

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

ca_status MF(attention)(const model_exec *ex, ca_entry e, ca_shape sh, const real *q,
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

ca_status MF(attention_step)(const model_exec *ex, ca_shape sh, int t, const real *q_t,
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

#endif
