/* real.h: the one switch between the float32 and the float64 model (model.h). Every
 * computing file of model/ is compiled twice, once with MODEL_F64 defined; it writes
 * `real` and names its functions MF(name). The products and the attention go through
 * the two functions below, whose float64 versions are BLIS's dgemm and the harness's
 * float64 reference of each operator. A third build, MODEL_MUTANT, is the float32 model
 * with the planted bugs of mutant.h, for the tests that show verify rejects them. */
#ifndef MODEL_REAL_H
#define MODEL_REAL_H

#include "model.h"

#if defined(MODEL_F64) && defined(MODEL_MUTANT)
#error "the mutant build is float32 only"
#elif defined(MODEL_F64)
typedef double real;
#define MF(name) name##_f64
#elif defined(MODEL_MUTANT)
/* Its own names, so that the tests link it beside the model. */
typedef float real;
#define MF(name) name##_f32mut
#include "mutant.h"
#else
typedef float real;
#define MF(name) name##_f32
#endif

/* C[m][n] = alpha op(A) op(B) + beta C, row-major. */
void MF(gemm)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
              int lda, const real *b, int ldb, real beta, real *c, int ldc, int threads);

/* Attention entry point e of the operator table on tensors of its shapes
 * (cubattn.h): a forward (dout == NULL: o, lse written) or a backward (dq, dk, dv
 * overwritten). */
ca_status MF(attention)(const model_exec *ex, ca_entry e, ca_shape sh, const real *q,
                        const real *k, const real *v, real *o, real *lse,
                        const real *dout, real *dq, real *dk, real *dv);
/* One decode step at position t: k_t, v_t written into row t of the caches, q_t
 * attends over rows 0..t (cubattn.h ca_decode_fn). */
ca_status MF(attention_step)(const model_exec *ex, ca_shape sh, int t, const real *q_t,
                             const real *k_t, const real *v_t, real *k_cache,
                             real *v_cache, real *o_t, real *lse_t);

#endif
