/* test_split.c: the kernel profile (impls/kernels/kprof.h) and the report's reading of
 * bench --split rows (report/split.c, docs/DESIGN.md §5.6).
 *   - the profile sees every product of the tile engine and every packing (call counts
 *     fixed by the tiling), nothing while it is off, and its parts never exceed the wall
 *     time they lie in (no timing is a pass condition beyond that consistency);
 *   - a hand-made split row gives the line with the shares and the bounds worked out
 *     below; a row whose parts do not add up, or go negative, is refused.
 */
#include "cubattn_harness.h"
#include "kprof.h"
#include "regtile.h"
#include "report.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct bufs {
    float *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv;
    void *ws;
    ca_exec ex;
} bufs;

static void bufs_init(bufs *b, const ca_impl *impl, ca_shape sh, int threads)
{
    const size_t e = (size_t)sh.n * sh.d * sh.heads, r = (size_t)sh.n * sh.heads;
    float **all[] = {&b->q, &b->k, &b->v, &b->o, &b->dout, &b->dq, &b->dk, &b->dv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        *all[i] = malloc(e * sizeof(float));
        cr_assert_not_null(*all[i]);
        ca_fill(*all[i], e, CA_DIST_NORMAL, 1.0, 7 + i, 0);
    }
    b->lse = malloc(r * sizeof(float));
    size_t wf = 0, wb = 0;
    cr_assert_eq(ca_workspace_bytes(impl, CA_CAUSAL_FWD, sh, threads, &wf), CA_OK);
    cr_assert_eq(ca_workspace_bytes(impl, CA_CAUSAL_BWD, sh, threads, &wb), CA_OK);
    const size_t ws = wf > wb ? wf : wb;
    b->ws = ws ? malloc(ws) : NULL;
    b->ex = (ca_exec){threads, b->ws, ws};
}

static void bufs_free(bufs *b)
{
    float *all[] = {b->q, b->k, b->v, b->o, b->lse, b->dout, b->dq, b->dk, b->dv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    free(b->ws);
}

/* Products and packings omp makes for causal fwd and bwd at n = 2 query tiles, d = 64,
 * per head: fwd: query tile i sees keys 0 .. 64 (i + 1) - 1, in forward key tiles of
 * REGT_BK_FWD, a score and a P V product each (4 with 128-key tiles: one key tile each),
 * K^T packed once; bwd: the key tiles' query tiles (0: 0 and 1, 1: 1), two scores and
 * three products each (15); D by rowdot, no products; K^T and V^T packed. */
static unsigned fwd_products_2_tiles(void)
{
    unsigned calls = 0;
    for (int i = 0; i < 2; i++) calls += 2 * ((REGT_B * (i + 1) + REGT_BK_FWD - 1) / REGT_BK_FWD);
    return calls;
}

Test(kprof, counts_every_product_and_packing)
{
    const ca_impl *omp = ca_impl_find("omp");
    cr_assert_not_null(omp);
    const ca_shape sh = {2 * REGT_B, 64, 3, 0};
    const int threads = 2;
    bufs b;
    bufs_init(&b, omp, sh, threads);

    kprof_reset();
    cr_assert_eq(ca_run_fwd(omp, CA_CAUSAL_FWD, sh, &b.ex, b.q, b.k, b.v, b.o, b.lse), CA_OK);
    kprof_totals off = kprof_read();
    cr_expect_eq(off.calls[KPROF_PRODUCTS] + off.calls[KPROF_PACKING] + off.calls[KPROF_ENGINE],
                 0, "the profile counted calls while off");

    kprof_start();
    cr_assert_eq(ca_run_fwd(omp, CA_CAUSAL_FWD, sh, &b.ex, b.q, b.k, b.v, b.o, b.lse), CA_OK);
    kprof_stop();
    kprof_totals f = kprof_read();
    cr_expect_eq(f.calls[KPROF_PRODUCTS], fwd_products_2_tiles() * sh.heads);
    cr_expect_eq(f.calls[KPROF_PACKING], 1u * sh.heads);

    kprof_reset();
    kprof_start();
    cr_assert_eq(ca_run_bwd(omp, CA_CAUSAL_BWD, sh, &b.ex, b.q, b.k, b.v, b.o, b.lse, b.dout,
                            b.dq, b.dk, b.dv), CA_OK);
    kprof_stop();
    kprof_totals g = kprof_read();
    cr_expect_eq(g.calls[KPROF_PRODUCTS], 15u * sh.heads);
    cr_expect_eq(g.calls[KPROF_PACKING], 2u * sh.heads);
    bufs_free(&b);
}

/* The parts, summed over threads and divided by the thread count, lie within the
 * profiled wall time (up to the TSC tolerance of split.c), the engine's calls contain
 * its products, and nothing is negative. */
Test(kprof, parts_within_the_wall_time)
{
    const ca_impl *omp = ca_impl_find("omp");
    const ca_shape sh = {4 * REGT_B, 64, 4, 0};
    const int threads = 2;
    bufs b;
    bufs_init(&b, omp, sh, threads);
    kprof_reset();
    for (int rep = 0; rep < 5; rep++) {
        kprof_start();
        cr_assert_eq(ca_run_fwd(omp, CA_FULL_FWD, sh, &b.ex, b.q, b.k, b.v, b.o, b.lse), CA_OK);
        cr_assert_eq(ca_run_bwd(omp, CA_FULL_BWD, sh, &b.ex, b.q, b.k, b.v, b.o, b.lse, b.dout,
                                b.dq, b.dk, b.dv), CA_OK);
        kprof_stop();
    }
    const kprof_totals k = kprof_read();
    cr_assert_gt(k.wall, 0);
    cr_assert_gt(k.tick_hz, 0);
    const double prod = k.seconds[KPROF_PRODUCTS] / threads,
                 pack = k.seconds[KPROF_PACKING] / threads,
                 eng = k.seconds[KPROF_ENGINE] / threads;
    const double tol = NEG_TOL_REL * k.wall + 5 * NEG_TOL_ABS;
    cr_expect_gt(prod, 0);
    cr_expect_gt(pack, 0);
    cr_expect_leq(prod, eng + tol, "products %.3g s outside the engine's %.3g s", prod, eng);
    cr_expect_leq(pack + eng, k.wall + tol, "packing %.3g + engine %.3g s > wall %.3g s", pack,
                  eng, k.wall);
    bufs_free(&b);
}

/* ---- the report's reading ------------------------------------------------------- */

static const char *HEADER =
    "\"impl\",\"op\",\"pass\",\"n\",\"d\",\"heads\",\"threads\",\"t_total_s\",\"t_products_s\","
    "\"t_packing_s\",\"t_other_s\",\"t_outside_s\",\"flops\",\"peak_gflops\",\"status\","
    "\"date\",\"cpu\"\n";

/* A results file of the given data records; returns its path (static). */
static const char *write_csv(const char *records)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_split_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(HEADER, f);
    fputs(records, f);
    fclose(f);
    return path;
}

static int load(const char *records, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    const char *path = write_csv(records);
    table *t = calloc(1, sizeof *t);
    int rc = table_read("report", path, t);
    if (rc == 0) rc = load_split(t, ds);
    unlink(path);
    ds->tables = t; /* freed with the rows by done() */
    ds->ntables = 1;
    return rc;
}

static void done(dataset *ds)
{
    table_free(ds->tables);
    free(ds->tables);
    free(ds->sp);
}

/* products 0.62 s at 0.81 of a 100 GFLOP/s peak: flops = 0.81 x 100e9 x 0.62 = 5.022e10;
 * at the peak they would take 0.5022 s, so with packing 0.05 and the rest 0.33 as
 * measured the call reaches 0.5022 / (0.5022 + 0.38) = 0.569 of the peak. */
Test(report_split, line_with_shares_and_bounds)
{
    dataset ds;
    cr_assert_eq(load("\"omp\",\"causal\",\"fwd\",\"4096\",\"64\",\"4\",\"2\",\"1.0\",\"0.62\","
                      "\"0.05\",\"0.33\",\"0.02\",\"5.022e10\",\"100\",\"ok\",\"2026-01-01\",\"x\"\n"
                      "\"omp\",\"causal\",\"fwd\",\"4096\",\"64\",\"4\",\"1\",\"1.0\",\"0.5\","
                      "\"0.1\",\"0.4\",\"\",\"1e10\",\"\",\"ok\",\"2026-01-01\",\"x\"\n",
                      &ds),
                 0);
    const char *s = split_line(&ds, "causal", "fwd", 4096, 64, 4, 2);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "split (omp): products 62% (0.81 of peak), softmax etc. 33% (2% outside "
                        "the engine), packing 5%; products alone bound it at 0.81, products at "
                        "peak with the rest as measured at 0.57");
    /* no peak recorded: the products' rate instead, and no bound */
    s = split_line(&ds, "causal", "fwd", 4096, 64, 4, 1);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "split (omp): products 50% (20.0 GFLOP/s), softmax etc. 40%, packing 10%");
    cr_expect_null(split_line(&ds, "causal", "fwd", 2048, 64, 4, 2));
    cr_expect_null(split_line(&ds, "causal", "bwd", 4096, 64, 4, 2));
    done(&ds);
}

Test(report_split, damaged_rows_refused)
{
    static const char *bad[] = {
        /* parts that add up to more than the total */
        "\"omp\",\"full\",\"fwd\",\"1024\",\"64\",\"4\",\"2\",\"1.0\",\"0.8\",\"0.1\",\"0.2\","
        "\"\",\"1e9\",\"100\",\"ok\",\"\",\"\"\n",
        /* a negative rest */
        "\"omp\",\"full\",\"fwd\",\"1024\",\"64\",\"4\",\"2\",\"1.0\",\"0.9\",\"0.2\",\"-0.1\","
        "\"\",\"1e9\",\"100\",\"ok\",\"\",\"\"\n",
        /* more outside the engine than in the whole rest */
        "\"omp\",\"full\",\"fwd\",\"1024\",\"64\",\"4\",\"2\",\"1.0\",\"0.5\",\"0.1\",\"0.4\","
        "\"0.5\",\"1e9\",\"100\",\"ok\",\"\",\"\"\n",
        /* not a number */
        "\"omp\",\"full\",\"fwd\",\"1024\",\"64\",\"4\",\"2\",\"1.0\",\"nan\",\"0.1\",\"0.4\","
        "\"\",\"1e9\",\"100\",\"ok\",\"\",\"\"\n",
        /* an operator the bench does not time */
        "\"omp\",\"quadratic\",\"fwd\",\"1024\",\"64\",\"4\",\"2\",\"1.0\",\"0.5\",\"0.1\","
        "\"0.4\",\"\",\"1e9\",\"100\",\"ok\",\"\",\"\"\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dataset ds;
        cr_expect_neq(load(bad[i], &ds), 0, "damaged row %zu accepted", i);
        done(&ds);
    }
    /* a row that is not ok carries no times and is not checked */
    dataset ds;
    cr_expect_eq(load("\"naive\",\"full\",\"fwd\",\"1024\",\"64\",\"4\",\"2\",\"\",\"\",\"\",\"\","
                      "\"\",\"1e9\",\"\",\"error: no product call was profiled\",\"\",\"\"\n",
                      &ds),
                 0);
    cr_expect_null(split_line(&ds, "full", "fwd", 1024, 64, 4, 2));
    done(&ds);
}
