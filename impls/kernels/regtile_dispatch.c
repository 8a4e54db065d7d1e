/* regtile_dispatch.c: regtile.h's functions on the kernel path isa.c chose, and the
 * packing, which is plain copying and has no per-path copy. Built for the baseline.
 *
 * Each call forwards through the chosen copy's table: one indirect call per tile product
 * or per model product (each thousands of multiply-adds at least), so the choice costs
 * nothing measurable and is made once, not per call site. */
#include "regtile.h"

#include <string.h>

#include "isa.h"

/* One extern table per path of the Makefile's ISAS (isa_list.h is generated from it). */
#define ISA(name) extern const regt_isa regt_isa_##name;
#include "isa_list.h"
#undef ISA

static const regt_isa *const paths[] = {
#define ISA(name) &regt_isa_##name,
#include "isa_list.h"
#undef ISA
};

const regt_isa *regt_isa_at(int i)
{
    return i >= 0 && i < (int)(sizeof paths / sizeof paths[0]) ? paths[i] : NULL;
}

const regt_isa *regt_isa_chosen(void) { return paths[isa_chosen()]; }

static void score(const flash_ops *ops, int m, int n, int d, const float *a,
                  const float *x, const float *xp, int j0, float *s, int lds)
{
    (void)ops;
    const flash_ops *k = regt_isa_chosen()->ops;
    k->score(k, m, n, d, a, x, xp, j0, s, lds);
}

static void prod(const flash_ops *ops, int add, int trans_a, int m, int n, int k,
                 const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    (void)ops;
    const flash_ops *p = regt_isa_chosen()->ops;
    p->prod(p, add, trans_a, m, n, k, a, lda, b, ldb, c, ldc);
}

static void rowdot(int n, int d, const float *dout, const float *o, float *D)
{
    regt_isa_chosen()->ops->rowdot(n, d, dout, o, D);
}

/* Tile sizes and rowdot's presence are the same on every path (regtile.c's regt_ops). */
const flash_ops regt_ops = {
    .bq = REGT_B, .bk = REGT_BK_FWD, .bq_bwd = REGT_B, .bk_bwd = REGT_B, .threads = 1,
    .score = score, .prod = prod,
    .rowdot = rowdot,
};

void regt_scores(int m, int n, int d, const float *a, const float *xt, int j0, float *s,
                 ptrdiff_t lds)
{
    regt_isa_chosen()->scores(m, n, d, a, xt, j0, s, lds);
}

void regt_gemm(int acc, int m, int n, int k, const float *a, ptrdiff_t ars, ptrdiff_t acs,
               const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc)
{
    regt_isa_chosen()->gemm(acc, m, n, k, a, ars, acs, b, ldb, c, ldc);
}

void exp_rows(int m, int nk, float *s, int ld, int causal, int first, float scale,
              const float *sub, float *sum)
{
    regt_isa_chosen()->exp_rows(m, nk, s, ld, causal, first, scale, sub, sum);
}

void max_rows(int m, int nk, const float *s, int ld, int causal, int first, float *mx)
{
    regt_isa_chosen()->max_rows(m, nk, s, ld, causal, first, mx);
}

void ds_rows(int m, int nk, const float *p, float *ds, int ld, int causal, int first,
             float scale, const float *D)
{
    regt_isa_chosen()->ds_rows(m, nk, p, ds, ld, causal, first, scale, D);
}

size_t regt_packed_floats(size_t n, size_t d) { return regt_tiles(n) * REGT_B * d; }

void regt_pack(int n, int d, const float *x, float *xt)
{
    for (int t0 = 0; t0 < n; t0 += REGT_B) {
        float *dst = xt + (size_t)(t0 / REGT_B) * d * REGT_B;
        int rows = n - t0 < REGT_B ? n - t0 : REGT_B;
        if (rows < REGT_B) memset(dst, 0, (size_t)d * REGT_B * sizeof *dst);
        for (int j = 0; j < rows; j++) {
            const float *src = x + (size_t)(t0 + j) * d;
            for (int c = 0; c < d; c++) dst[(size_t)c * REGT_B + j] = src[c];
        }
    }
}
