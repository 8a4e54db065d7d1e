/* test_naive_accuracy.c: naive is the yardstick every fast implementation's tolerance is
 * twice of, so its errors must be those of a plain float32 computation, not worse. The
 * plain computation of cubic_shared's backward is what an autograd of the per-prefix
 * formulation does: each prefix t a full attention over q, k, v rows 0..t-1, its
 * gradients formed on their own, then added into the shared dq, dk, dv. */
#include "cubattn.h"
#include "cubattn_harness.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* One buffer set of a cubic_shared problem of one head: q, k, v [n][d]; o, dout [T][d];
 * lse [T]; dq, dk, dv [n][d]. */
typedef struct shared_bufs {
    float *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv;
} shared_bufs;

static ca_status run_naive(const ca_impl *naive, ca_shape sh, shared_bufs *b)
{
    size_t bytes = 0;
    ca_status st = ca_workspace_bytes(naive, CA_SHARED_BWD, sh, 1, &bytes);
    void *ws = bytes ? malloc(bytes) : NULL;
    if (st == CA_OK && bytes && !ws) st = CA_ERR_NOMEM;
    ca_exec ex = {1, ws, bytes};
    if (st == CA_OK) st = ca_run_fwd(naive, CA_SHARED_FWD, sh, &ex, b->q, b->k, b->v, b->o, b->lse);
    if (st == CA_OK)
        st = ca_run_bwd(naive, CA_SHARED_BWD, sh, &ex, b->q, b->k, b->v, b->o, b->lse, b->dout, b->dq,
                           b->dk, b->dv);
    free(ws);
    return st;
}

/* The plain float32 computation: naive's full attention per prefix, summed. */
static ca_status run_plain(const ca_impl *naive, ca_shape sh, const shared_bufs *b,
                           float *dq, float *dk, float *dv)
{
    const int n = sh.n, d = sh.d;
    const size_t nd = (size_t)n * d;
    float *o = malloc(nd * sizeof *o), *lse = malloc((size_t)n * sizeof *lse);
    float *pq = malloc(nd * sizeof *pq), *pk = malloc(nd * sizeof *pk), *pv = malloc(nd * sizeof *pv);
    ca_status st = o && lse && pq && pk && pv ? CA_OK : CA_ERR_NOMEM;
    const ca_exec ex = {1, NULL, 0};
    memset(dq, 0, nd * sizeof *dq);
    memset(dk, 0, nd * sizeof *dk);
    memset(dv, 0, nd * sizeof *dv);
    for (int t = 1; st == CA_OK && t <= n; t++) {
        const ca_shape pre = {t, d, 1, 0};
        const float *dout = b->dout + ca_prefix_offset((size_t)t) * d;
        st = ca_run_fwd(naive, CA_FULL_FWD, pre, &ex, b->q, b->k, b->v, o, lse);
        if (st == CA_OK) st = ca_run_bwd(naive, CA_FULL_BWD, pre, &ex, b->q, b->k, b->v, o, lse, dout, pq, pk, pv);
        for (size_t i = 0; st == CA_OK && i < (size_t)t * d; i++) {
            dq[i] += pq[i];
            dk[i] += pk[i];
            dv[i] += pv[i];
        }
    }
    free(o); free(lse); free(pq); free(pk); free(pv);
    return st;
}

Test(naive_accuracy, cubic_shared_bwd_within_4x_of_plain_float32, .timeout = 120)
{
    const ca_impl *naive = ca_impl_find("naive");
    cr_assert_not_null(naive);
    static const int ns[] = {130, 300};
    for (int a = 0; a < 2; a++) {
        const ca_shape sh = {ns[a], 8, 1, 0};
        const size_t nd = (size_t)sh.n * sh.d, T = ca_packed_rows((size_t)sh.n);
        shared_bufs b;
        float **all[] = {&b.q, &b.k, &b.v, &b.o, &b.lse, &b.dout, &b.dq, &b.dk, &b.dv};
        const size_t len[] = {nd, nd, nd, T * sh.d, T, T * sh.d, nd, nd, nd};
        for (int i = 0; i < 9; i++) cr_assert_not_null(*all[i] = malloc(len[i] * sizeof(float)));
        ca_fill(b.q, nd, CA_DIST_NORMAL, 1.0, 11 + a, 0);
        ca_fill(b.k, nd, CA_DIST_NORMAL, 1.0, 11 + a, nd);
        ca_fill(b.v, nd, CA_DIST_NORMAL, 1.0, 11 + a, 2 * nd);
        ca_fill(b.dout, T * sh.d, CA_DIST_NORMAL, 1.0, 11 + a, 3 * nd);
        cr_assert_eq(run_naive(naive, sh, &b), CA_OK);

        float *pq = malloc(nd * sizeof *pq), *pk = malloc(nd * sizeof *pk), *pv = malloc(nd * sizeof *pv);
        cr_assert(pq && pk && pv);
        cr_assert_eq(run_plain(naive, sh, &b, pq, pk, pv), CA_OK);

        double *q = ca_to_double(b.q, nd), *k = ca_to_double(b.k, nd), *v = ca_to_double(b.v, nd);
        double *w = ca_to_double(b.dout, T * sh.d);
        double *ro = malloc(T * sh.d * sizeof *ro), *rl = malloc(T * sizeof *rl);
        double *rq = malloc(nd * sizeof *rq), *rk = malloc(nd * sizeof *rk), *rv = malloc(nd * sizeof *rv);
        cr_assert(q && k && v && w && ro && rl && rq && rk && rv);
        cr_assert_eq(ca_ref_fwd(CA_SHARED_FWD, sh, q, k, v, ro, rl), CA_OK);
        cr_assert_eq(ca_ref_bwd(CA_SHARED_BWD, sh, q, k, v, ro, rl, w, rq, rk, rv), CA_OK);

        const char *names[] = {"dq", "dk", "dv"};
        const float *nv[] = {b.dq, b.dk, b.dv}, *pl[] = {pq, pk, pv};
        const double *ref[] = {rq, rk, rv};
        for (int g = 0; g < 3; g++) {
            double en = ca_rel_err(nv[g], ref[g], nd), ep = ca_rel_err(pl[g], ref[g], nd);
            cr_expect_leq(en, 4.0 * ep, "N=%d %s: naive err %.3g > 4 x plain float32's %.3g",
                          sh.n, names[g], en, ep);
        }
        for (int i = 0; i < 9; i++) free(*all[i]);
        free(pq); free(pk); free(pv);
        free(q); free(k); free(v); free(w); free(ro); free(rl); free(rq); free(rk); free(rv);
    }
}
