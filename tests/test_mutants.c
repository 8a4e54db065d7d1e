/* test_mutants.c: verification must reject every deliberately broken implementation,
 * on the check that its bug should trip, and must accept naive (the control: a harness
 * that rejected everything would also "reject the mutants"). */
#include "checks.h"
#include "mutants.h"

#include <criterion/criterion.h>

static impl_result run_one(const ca_impl *impl)
{
    impl_result res;
    verify_opts o = {1, 1, NULL};
    const ca_impl *list[1] = {impl};
    cr_assert_geq(verify_run(list, 1, &o, &res), 0, "verify could not run");
    return res;
}

static void expect_fail(const ca_impl *impl, ca_entry e, check_kind c)
{
    impl_result res = run_one(impl);
    cr_expect_eq(res.cells[e][c].st, CELL_FAIL, "%s: %s %s was %s, want FAIL", impl->name,
                 ca_entry_name(e), check_name(c), cell_status_name(res.cells[e][c].st));
}

Test(mutants, naive_control_passes_everything, .timeout = 120)
{
    impl_result res = run_one(ca_impl_find("naive"));
    for (int e = 0; e < CA_ENTRY_COUNT; e++)
        for (int c = 0; c < CHK_COUNT; c++)
            cr_expect_neq(res.cells[e][c].st, CELL_FAIL, "naive %s %s: %s", ca_entry_name(e),
                          check_name(c), res.cells[e][c].note);
}

Test(mutants, mask_off_by_one_rejected, .timeout = 120)
{
    expect_fail(&mutant_mask_off_by_one, CA_CAUSAL_FWD, CHK_REF);
    expect_fail(&mutant_mask_off_by_one, CA_CAUSAL_FWD, CHK_EXTREME);
}

Test(mutants, scale_missing_rejected, .timeout = 120)
{
    expect_fail(&mutant_scale_missing, CA_CAUSAL_FWD, CHK_REF);
}

Test(mutants, bwd_drops_D_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_bwd_drops_D);
    const ca_entry bwd[] = {CA_CAUSAL_BWD, CA_CUBIC_BWD, CA_SHARED_BWD};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(res.cells[bwd[i]][CHK_REF].st, CELL_FAIL, "%s vs_ref", ca_entry_name(bwd[i]));
        cr_expect_eq(res.cells[bwd[i]][CHK_FD].st, CELL_FAIL, "%s own_fd", ca_entry_name(bwd[i]));
    }
}

Test(mutants, wrong_prefix_offset_rejected, .timeout = 120)
{
    expect_fail(&mutant_wrong_prefix_offset, CA_CUBIC_FWD, CHK_REF);
}

Test(mutants, shared_no_prefix_rejected, .timeout = 120)
{
    expect_fail(&mutant_shared_no_prefix, CA_SHARED_FWD, CHK_REF);
}

Test(mutants, decode_no_append_rejected, .timeout = 120)
{
    expect_fail(&mutant_decode_no_append, CA_DECODE_STEP, CHK_REF);
    expect_fail(&mutant_decode_no_append, CA_DECODE_STEP, CHK_EQUIV);
}

/* Unwritten outputs must fail even when an earlier run left correct values around. */
Test(mutants, skips_last_head_rejected, .timeout = 120)
{
    expect_fail(&mutant_skips_last_head, CA_CAUSAL_FWD, CHK_REF);
}

/* Only the softmax-breaking inputs expose a missing max shift. */
Test(mutants, exp_no_max_shift_rejected_by_extreme_inputs, .timeout = 120)
{
    impl_result res = run_one(&mutant_exp_no_max_shift);
    cr_expect_eq(res.cells[CA_CAUSAL_FWD][CHK_EXTREME].st, CELL_FAIL);
    cr_expect_eq(res.cells[CA_CAUSAL_FWD][CHK_REF].st, CELL_PASS, "%s",
                 res.cells[CA_CAUSAL_FWD][CHK_REF].note);
}

Test(mutants, nondeterministic_rejected, .timeout = 120)
{
    expect_fail(&mutant_nondeterministic, CA_FULL_FWD, CHK_DETERMINISM);
}

/* A mutant lacking entry points is reported "not provided", never PASS. */
Test(mutants, absent_entries_not_provided, .timeout = 120)
{
    impl_result res = run_one(&mutant_scale_missing);
    for (int c = 0; c < CHK_COUNT; c++) {
        cr_expect_neq(res.cells[CA_CUBIC_FWD][c].st, CELL_PASS);
        cr_expect_neq(res.cells[CA_CAUSAL_BWD][c].st, CELL_PASS);
    }
    cr_expect_eq(res.cells[CA_CUBIC_FWD][CHK_REF].st, CELL_NOT_PROVIDED);
}
