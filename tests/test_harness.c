/* The operator table's derived facts and the harness library's rules, each against a value
 * worked out by hand (docs/DESIGN.md §3, §4.3). */
#include "cubattn.h"
#include "cubattn_harness.h"

#include <criterion/criterion.h>
#include <math.h>

Test(table, entry_names_come_from_operator_names)
{
    cr_assert_str_eq(ca_entry_name(CA_CAUSAL_FWD), "causal_fwd");
    cr_assert_str_eq(ca_entry_name(CA_SHARED_BWD), "cubic_shared_bwd");
    cr_assert_str_eq(ca_entry_name(CA_DECODE_STEP), "decode_step");
    cr_assert_str_eq(ca_entry_name(CA_ENTRY_COUNT), "unknown");
    for (int op = 0; op < CA_OP_COUNT; op++) {
        cr_assert_eq(ca_op_parse(ca_op_get(op)->name), op);
        cr_assert_eq(ca_entry_op(ca_op_get(op)->fwd), op);
    }
    cr_assert_eq(ca_op_parse("quadratic"), -1);
    cr_assert_null(ca_op_get(CA_OP_COUNT));
}

/* 4 d x (query, key) pairs seen, times heads; backward 2.5 x. N = 10, d = 8, heads = 3. */
Test(table, flops_by_the_convention)
{
    cr_assert_float_eq(ca_op_flops(CA_OP_CAUSAL, 0, 10, 8, 3), 4.0 * 8 * 55 * 3, 1e-9);
    cr_assert_float_eq(ca_op_flops(CA_OP_FULL, 0, 10, 8, 3), 4.0 * 8 * 100 * 3, 1e-9);
    cr_assert_float_eq(ca_op_flops(CA_OP_CUBIC, 0, 10, 8, 3), 4.0 * 8 * 385 * 3, 1e-9);
    cr_assert_float_eq(ca_op_flops(CA_OP_CUBIC_SHARED, 1, 10, 8, 3), 2.5 * 4 * 8 * 385 * 3,
                       1e-9);
    cr_assert_float_eq(ca_op_flops(CA_OP_DECODE, 0, 10, 8, 3), 4.0 * 8 * 10 * 3, 1e-9);
}

Test(table, unknown_entry_is_not_provided)
{
    cr_assert_eq(ca_check_shape(CA_ENTRY_COUNT, (ca_shape){4, 4, 1, 0}), CA_ERR_NOT_PROVIDED);
}

/* Element i of a stream depends on (seed, i) alone: a range drawn later is the same. */
Test(harness, generator_is_counter_based)
{
    float all[64], tail[16];
    ca_fill(all, 64, CA_DIST_NORMAL, 1.0, 42, 0);
    ca_fill(tail, 16, CA_DIST_NORMAL, 1.0, 42, 48);
    for (int i = 0; i < 16; i++) cr_assert_eq(all[48 + i], tail[i]);
    ca_fill(tail, 16, CA_DIST_NORMAL, 1.0, 43, 48);
    int same = 0;
    for (int i = 0; i < 16; i++) same += all[48 + i] == tail[i];
    cr_assert_lt(same, 16, "another seed gives another stream");
}

Test(harness, metric_non_finite_rules)
{
    const double ref[3] = {1.0, NAN, INFINITY};
    const float ok[3] = {1.5f, NAN, INFINITY};
    cr_assert_float_eq(ca_rel_err(ok, ref, 3), 0.5, 1e-12, "finite part compared");
    const float nan_for_inf[3] = {1.0f, NAN, NAN};
    const float finite_for_inf[3] = {1.0f, NAN, 3.0f};
    const float finite_for_nan[3] = {1.0f, 0.0f, INFINITY};
    const float nan_for_finite[3] = {NAN, NAN, INFINITY};
    cr_assert_float_eq(ca_rel_err(nan_for_inf, ref, 3), 0.0, 0.0, "non-finite kinds alike");
    cr_assert(isinf(ca_rel_err(finite_for_inf, ref, 3)));
    cr_assert(isinf(ca_abs_err(finite_for_nan, ref, 3)));
    cr_assert(isinf(ca_abs_err(nan_for_finite, ref, 3)));
}

/* N decode steps of the reference reproduce the causal reference row for row. */
Test(harness, decode_step_reference_is_causal)
{
    enum { N = 6, D = 3, H = 2 };
    double q[H * N * D], k[H * N * D], v[H * N * D], o[H * N * D], lse[H * N];
    for (int i = 0; i < H * N * D; i++) {
        q[i] = ca_draw(CA_DIST_NORMAL, 7, i);
        k[i] = ca_draw(CA_DIST_NORMAL, 7, 100 + i);
        v[i] = ca_draw(CA_DIST_NORMAL, 7, 200 + i);
    }
    ca_shape sh = {N, D, H, 0};
    cr_assert_eq(ca_ref_fwd(CA_CAUSAL_FWD, sh, q, k, v, o, lse), CA_OK);
    for (int t = 0; t < N; t++) {
        double qt[H * D], ot[H * D], lt[H];
        for (int h = 0; h < H; h++)
            for (int c = 0; c < D; c++) qt[h * D + c] = q[(h * N + t) * D + c];
        cr_assert_eq(ca_ref_decode_step(sh, t, qt, k, v, ot, lt), CA_OK);
        for (int h = 0; h < H; h++) {
            cr_assert_float_eq(lt[h], lse[h * N + t], 1e-12);
            for (int c = 0; c < D; c++)
                cr_assert_float_eq(ot[h * D + c], o[(h * N + t) * D + c], 1e-12);
        }
    }
    cr_assert_eq(ca_ref_decode_step(sh, N, q, k, v, o, lse), CA_ERR_STEP);
    cr_assert_eq(ca_ref_fwd(CA_DECODE_STEP, sh, q, k, v, o, lse), CA_ERR_NOT_PROVIDED);
    cr_assert_eq(ca_ref_bwd(CA_DECODE_STEP, sh, q, k, v, o, lse, o, q, k, v),
                 CA_ERR_NOT_PROVIDED);
}
