/* real.h: how the model is built in two precisions from one body of code; the one place
 * that says how the precision is switched.
 *
 * The model computes over the type `real`. Each precision is one translation unit, a
 * unity build:
 *   model_f32.c     the float32 model: the one the suite trains, times and deploys;
 *   model_f64.c     the float64 model: the reference verify measures the first against;
 *   model_f32mut.c  the float32 model with the planted bugs of mutant.h, for the tests
 *                   alone (never in verify or the library).
 * Each one includes its precision, float32.c or float64.c, which typedefs `real` and
 * defines what differs between the two (declared below: the products, the attention,
 * GELU's lanes), then the body files, written once over `real`, in which every function
 * is static and keeps its plain name:
 *   layers.c   LayerNorm, GELU, cross-entropy;  adamw.c  the optimizer;
 *   block.c    one transformer block and the embedding;
 *   model.c    the stack of blocks and training (model_forward_backward);
 *   infer.c    inference and generation;  session.c  deployment, float32's alone.
 * Last it defines the entry points of model.h under its suffix (_f32, _f64), each
 * written out by name and calling the body of the same name; the mutant build's are the
 * table model_f32mut. So every function is found by its name (grep, ctags), the two
 * precisions' functions never meet in a link, and nothing is renamed by the
 * preprocessor. The mutant build defines MODEL_MUTANT first, under which the
 * bodies plant its bugs. The layout, initialisation and checkpoints (params.c,
 * checkpoint.c) and the scratch buffers (scratch.c) are precision-free, built once.
 *
 * A body file is not compiled on its own: it includes this header for what it uses from
 * its precision, and is included in dependency order. */
#ifndef MODEL_REAL_H
#define MODEL_REAL_H

#include "model.h"

#include <stddef.h>

/* A loop over fewer elements than this runs on one thread: a parallel region costs more. */
enum { PAR_MIN = 1 << 14 };

/* ---- what a precision defines (float32.c, float64.c) ----------------------------------
 * Before it includes this header: the type `real`; the type gvec of GLANES reals, GELU's
 * lanes (layers.c); ATTENTION_NEEDS_IMPL, 1 when the attention runs on model_exec's
 * implementation (which a call must name, with every entry point the call needs), 0 when
 * it is the float64 reference. After it, the functions below. */

/* C[m][n] = alpha op(A) op(B) + beta C, row-major. */
static void gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                 int lda, const real *b, int ldb, real beta, real *c, int ldc, int threads);

/* Attention entry point e of the operator table on tensors of its shapes
 * (cubattn.h): a forward (dout == NULL: o, lse written) or a backward (dq, dk, dv
 * overwritten). */
static ca_status attention(const model_exec *ex, ca_entry e, ca_shape sh, const real *q,
                           const real *k, const real *v, real *o, real *lse,
                           const real *dout, real *dq, real *dk, real *dv);
/* One decode step at position t: k_t, v_t written into row t of the caches, q_t
 * attends over rows 0..t (cubattn.h ca_decode_fn). */
static ca_status attention_step(const model_exec *ex, ca_shape sh, int t, const real *q_t,
                                const real *k_t, const real *v_t, real *k_cache,
                                real *v_cache, real *o_t, real *lse_t);

/* GELU's lanes: GLANES reals from p, to p, e^x lane by lane, and x where it is not below
 * low, else low (a NaN stays). */
static inline gvec gload(const real *p);
static inline void gstore(real *p, gvec x);
static inline gvec gexp(gvec x);
static inline gvec gmax(gvec x, real low);

#endif
