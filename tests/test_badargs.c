/* test_badargs.c: every bad argument gets its own error code from the public API. */
#include "cubattn.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>

static float buf[4096];
#define B (buf)

Test(badargs, shapes)
{
    const ca_impl *n = ca_impl_find("naive");
    ca_exec ex = {1, NULL, 0};
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_FWD, (ca_shape){0, 4, 1, 0}, &ex, B, B, B, B, B), CA_ERR_N);
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_FWD, (ca_shape){-1, 4, 1, 0}, &ex, B, B, B, B, B), CA_ERR_N);
    cr_assert_eq(ca_run_fwd(n, CA_FULL_FWD, (ca_shape){4, 0, 1, 0}, &ex, B, B, B, B, B), CA_ERR_D);
    cr_assert_eq(ca_run_fwd(n, CA_CUBIC_FWD, (ca_shape){4, 4, 0, 0}, &ex, B, B, B, B, B), CA_ERR_HEADS);
    cr_assert_eq(ca_run_fwd(n, CA_SHARED_FWD, (ca_shape){INT_MAX, INT_MAX, INT_MAX, 0}, &ex, B, B, B, B, B),
                 CA_ERR_OVERFLOW);
    cr_assert_eq(ca_run_fwd(n, CA_LAST_FWD, (ca_shape){0, 4, 1, 0}, &ex, B, B, B, B, B), CA_ERR_N);
    cr_assert_eq(ca_run_bwd(n, CA_LAST_BWD, (ca_shape){4, 4, 0, 0}, &ex, B, B, B, B, B, B, B, B, B),
                 CA_ERR_HEADS);
    /* q, o fit in size_t; the packed k, v (N(N+1)/2 rows) do not */
    cr_assert_eq(ca_run_fwd(n, CA_LAST_FWD, (ca_shape){1 << 20, 1 << 12, 1 << 12, 0}, &ex, B, B, B, B, B),
                 CA_ERR_OVERFLOW);
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_FWD, (ca_shape){4, 4, 1, 0}, &ex, B, B, B, B, B), CA_OK);
    cr_assert_eq(ca_run_fwd(n, CA_LAST_FWD, (ca_shape){4, 4, 1, 0}, &ex, B, B, B, B, B), CA_OK);
    cr_assert_eq(ca_run_bwd(n, CA_LAST_BWD, (ca_shape){4, 4, 1, 0}, &ex, B, B, B, B, B, B, B, B, B), CA_OK);
}

Test(badargs, null_pointers)
{
    const ca_impl *n = ca_impl_find("naive");
    ca_exec ex = {1, NULL, 0};
    ca_shape sh = {4, 4, 1, 0};
    cr_assert_eq(ca_run_fwd(NULL, CA_CAUSAL_FWD, sh, &ex, B, B, B, B, B), CA_ERR_NULL);
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_FWD, sh, NULL, B, B, B, B, B), CA_ERR_NULL);
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_FWD, sh, &ex, B, NULL, B, B, B), CA_ERR_NULL);
    cr_assert_eq(ca_run_bwd(n, CA_CAUSAL_BWD, sh, &ex, B, B, B, B, B, B, B, B, NULL), CA_ERR_NULL);
    cr_assert_eq(ca_decode_step(n, sh, &ex, 0, B, B, B, B, B, NULL, B), CA_ERR_NULL);
    cr_assert_eq(ca_run_fwd(n, CA_LAST_FWD, sh, &ex, B, B, NULL, B, B), CA_ERR_NULL);
    cr_assert_eq(ca_run_bwd(n, CA_LAST_BWD, sh, &ex, B, B, B, B, B, B, NULL, B, B), CA_ERR_NULL);
    size_t bytes;
    cr_assert_eq(ca_workspace_bytes(n, CA_CAUSAL_FWD, sh, 1, NULL), CA_ERR_NULL);
    cr_assert_eq(ca_workspace_bytes(NULL, CA_CAUSAL_FWD, sh, 1, &bytes), CA_ERR_NULL);
}

Test(badargs, threads_step_and_absent_entries)
{
    const ca_impl *n = ca_impl_find("naive");
    ca_shape sh = {4, 4, 1, 0};
    ca_exec bad = {0, NULL, 0}, ok = {1, NULL, 0};
    cr_assert_eq(ca_run_fwd(n, CA_FULL_FWD, sh, &bad, B, B, B, B, B), CA_ERR_THREADS);
    cr_assert_eq(ca_decode_step(n, sh, &ok, 4, B, B, B, B, B, B, B), CA_ERR_STEP);
    cr_assert_eq(ca_decode_step(n, sh, &ok, -1, B, B, B, B, B, B, B), CA_ERR_STEP);
    ca_impl empty = {.name = "empty"};
    cr_assert_eq(ca_run_fwd(&empty, CA_CAUSAL_FWD, sh, &ok, B, B, B, B, B), CA_ERR_NOT_PROVIDED);
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_BWD, sh, &ok, B, B, B, B, B), CA_ERR_NOT_PROVIDED);
    cr_assert_str_neq(ca_status_str(CA_ERR_NOT_PROVIDED), "unknown status");
}

/* An implementation that asks for workspace gets CA_ERR_WORKSPACE when given less. */
static size_t wants_64(ca_entry e, ca_shape sh, int threads)
{
    (void)e; (void)sh; (void)threads;
    return 64;
}

static ca_status never_called(ca_shape sh, const ca_exec *ex, const float *q, const float *k,
                              const float *v, float *o, float *lse)
{
    (void)sh; (void)ex; (void)q; (void)k; (void)v; (void)o; (void)lse;
    cr_assert_fail("validation should have stopped this call");
    return CA_ERR_INTERNAL;
}

Test(badargs, workspace_too_small)
{
    ca_impl greedy = {.name = "greedy", .workspace = wants_64, .fwd[CA_OP_FULL] = never_called};
    ca_shape sh = {4, 4, 1, 0};
    char ws[64];
    ca_exec none = {1, NULL, 0}, small = {1, ws, 63};
    cr_assert_eq(ca_run_fwd(&greedy, CA_FULL_FWD, sh, &none, B, B, B, B, B), CA_ERR_WORKSPACE);
    cr_assert_eq(ca_run_fwd(&greedy, CA_FULL_FWD, sh, &small, B, B, B, B, B), CA_ERR_WORKSPACE);
}

/* A window of prefixes (ca_shape.first): in [0, N], and > 1 only for an operator with
 * prefixes; first = N (one prefix) is a window like any other. */
Test(badargs, window)
{
    const ca_impl *n = ca_impl_find("naive");
    ca_exec ex = {1, NULL, 0};
    cr_assert_eq(ca_run_fwd(n, CA_CUBIC_FWD, (ca_shape){4, 4, 1, -1}, &ex, B, B, B, B, B),
                 CA_ERR_WINDOW);
    cr_assert_eq(ca_run_fwd(n, CA_SHARED_FWD, (ca_shape){4, 4, 1, 5}, &ex, B, B, B, B, B),
                 CA_ERR_WINDOW);
    cr_assert_eq(ca_run_bwd(n, CA_LAST_BWD, (ca_shape){4, 4, 1, 5}, &ex, B, B, B, B, B, B, B,
                            B, B),
                 CA_ERR_WINDOW);
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_FWD, (ca_shape){4, 4, 1, 2}, &ex, B, B, B, B, B),
                 CA_ERR_WINDOW);
    cr_assert_eq(ca_run_bwd(n, CA_FULL_BWD, (ca_shape){4, 4, 1, 2}, &ex, B, B, B, B, B, B, B,
                            B, B),
                 CA_ERR_WINDOW);
    cr_assert_eq(ca_decode_step(n, (ca_shape){4, 4, 1, 2}, &ex, 0, B, B, B, B, B, B, B),
                 CA_ERR_WINDOW);
    /* first = 1 is every prefix, for every operator */
    cr_assert_eq(ca_run_fwd(n, CA_CAUSAL_FWD, (ca_shape){4, 4, 1, 1}, &ex, B, B, B, B, B), CA_OK);
    cr_assert_eq(ca_run_fwd(n, CA_CUBIC_FWD, (ca_shape){4, 4, 1, 4}, &ex, B, B, B, B, B), CA_OK);
    cr_assert_eq(ca_run_bwd(n, CA_CUBIC_BWD, (ca_shape){4, 4, 1, 4}, &ex, B, B, B, B, B, B, B,
                            B, B),
                 CA_OK);
    cr_assert_eq(ca_run_fwd(n, CA_LAST_FWD, (ca_shape){4, 4, 1, 4}, &ex, B, B, B, B, B), CA_OK);
    cr_assert_str_neq(ca_status_str(CA_ERR_WINDOW), "unknown status");
}
