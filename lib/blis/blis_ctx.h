/* blis_ctx.h: which BLIS sub-configuration (kernel set) the suite runs on this CPU.
 * Debian's BLIS 0.9 falls back to 'generic' on CPUs it does not know; we pick the
 * context from the CPU's own features instead (docs/DESIGN.md §7). */
#ifndef BLIS_CTX_H
#define BLIS_CTX_H

#include <blis.h>

/* The context for this CPU, initialised once (thread-safe). Environment variable
 * CA_BLIS_CONFIG=skx|zen3|zen2|zen|haswell|generic|auto overrides the choice, so the
 * kernel sets can be compared on one machine. */
cntx_t *ca_blis_cntx(void);

/* "zen3 (avx2+fma, amd family 0x19)" and similar: what was chosen and why. */
const char *ca_blis_config(void);

/* C[m][n] = alpha * op(A) op(B) + beta * C, row-major with leading dimensions, through
 * the chosen context, with `threads` BLIS threads. */
void ca_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc, int threads);
/* The same in double (the float64 model of model/). */
void ca_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha,
              const double *a, int lda, const double *b, int ldb, double beta,
              double *c, int ldc, int threads);

#endif
