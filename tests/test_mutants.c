/* test_mutants.c: verification must reject every deliberately broken implementation,
 * on the check that its bug should trip, and must accept naive (the control: a harness
 * that rejected everything would also "reject the mutants"). Each test runs the checks
 * it asserts on (the control runs them all). */
#include "checks.h"
#include "mutants.h"
#include "problem.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#define ONLY(c) (1u << (c))

/* impl alone through the quick grid, with the checks in mask (0: all). */
static impl_result run_with(const ca_impl *impl, verify_opts o)
{
    impl_result res;
    o.quick = 1;
    if (o.threads == 0) o.threads = 1;
    const ca_impl *list[1] = {impl};
    cr_assert_geq(verify_run(list, 1, &o, &res), 0, "verify could not run");
    return res;
}

static impl_result run_one(const ca_impl *impl, unsigned checks)
{
    return run_with(impl, (verify_opts){.checks = checks});
}

static void expect_cell(const impl_result *res, ca_entry e, check_kind c, cell_status want)
{
    const cell *x = &res->cells[e][c];
    cr_expect_eq(x->st, want, "%s: %s %s was %s, want %s (%s)", res->impl->name,
                 ca_entry_name(e), check_name(c), cell_status_name(x->st),
                 cell_status_name(want), x->note);
}

static void expect_fail(const ca_impl *impl, ca_entry e, check_kind c)
{
    impl_result res = run_one(impl, ONLY(c));
    expect_cell(&res, e, c, CELL_FAIL);
}

Test(mutants, naive_control_passes_everything, .timeout = 240)
{
    impl_result res = run_one(ca_impl_find("naive"), 0);
    for (int e = 0; e < CA_ENTRY_COUNT; e++)
        for (int c = 0; c < CHK_COUNT; c++)
            cr_expect_neq(res.cells[e][c].st, CELL_FAIL, "naive %s %s: %s", ca_entry_name(e),
                          check_name(c), res.cells[e][c].note);
}

Test(mutants, mask_off_by_one_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_mask_off_by_one, ONLY(CHK_REF) | ONLY(CHK_EXTREME));
    expect_cell(&res, CA_CAUSAL_FWD, CHK_REF, CELL_FAIL);
    expect_cell(&res, CA_CAUSAL_FWD, CHK_EXTREME, CELL_FAIL);
}

Test(mutants, scale_missing_rejected, .timeout = 120)
{
    expect_fail(&mutant_scale_missing, CA_CAUSAL_FWD, CHK_REF);
}

Test(mutants, bwd_drops_D_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_bwd_drops_D, ONLY(CHK_REF) | ONLY(CHK_FD));
    const ca_entry bwd[] = {CA_CAUSAL_BWD, CA_CUBIC_BWD, CA_SHARED_BWD, CA_FULL_BWD,
                            CA_LAST_BWD};
    for (int i = 0; i < 5; i++) {
        expect_cell(&res, bwd[i], CHK_REF, CELL_FAIL);
        expect_cell(&res, bwd[i], CHK_FD, CELL_FAIL);
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

/* Rejected against the reference and by the identity with cubic's o(t, t). */
Test(mutants, last_one_key_short_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_last_one_key_short, ONLY(CHK_REF) | ONLY(CHK_EQUIV));
    expect_cell(&res, CA_LAST_FWD, CHK_REF, CELL_FAIL);
    expect_cell(&res, CA_LAST_FWD, CHK_EQUIV, CELL_FAIL);
    expect_cell(&res, CA_CUBIC_FWD, CHK_REF, CELL_PASS); /* naive's */
}

Test(mutants, decode_no_append_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_decode_no_append, ONLY(CHK_REF) | ONLY(CHK_EQUIV));
    expect_cell(&res, CA_DECODE_STEP, CHK_REF, CELL_FAIL);
    expect_cell(&res, CA_DECODE_STEP, CHK_EQUIV, CELL_FAIL);
}

/* Unwritten outputs must fail even when an earlier run left correct values around. */
Test(mutants, skips_last_head_rejected, .timeout = 120)
{
    expect_fail(&mutant_skips_last_head, CA_CAUSAL_FWD, CHK_REF);
}

/* Only the softmax-breaking inputs expose a missing max shift. */
Test(mutants, exp_no_max_shift_rejected_by_extreme_inputs, .timeout = 120)
{
    impl_result res = run_one(&mutant_exp_no_max_shift, ONLY(CHK_REF) | ONLY(CHK_EXTREME));
    expect_cell(&res, CA_CAUSAL_FWD, CHK_EXTREME, CELL_FAIL);
    expect_cell(&res, CA_CAUSAL_FWD, CHK_REF, CELL_PASS);
}

Test(mutants, nondeterministic_rejected, .timeout = 120)
{
    expect_fail(&mutant_nondeterministic, CA_FULL_FWD, CHK_DETERMINISM);
}

/* Windows of prefixes: each bug is right on the whole call (vs_ref passes) and wrong on
 * a window, which the window check alone sees. */
Test(mutants, window_renumbered_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_window_renumbered, ONLY(CHK_REF) | ONLY(CHK_WINDOW));
    expect_cell(&res, CA_LAST_FWD, CHK_WINDOW, CELL_FAIL);
    expect_cell(&res, CA_LAST_BWD, CHK_WINDOW, CELL_FAIL);
    expect_cell(&res, CA_LAST_FWD, CHK_REF, CELL_PASS);
    expect_cell(&res, CA_LAST_BWD, CHK_REF, CELL_PASS);
}

Test(mutants, window_unclamped_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_window_unclamped, ONLY(CHK_REF) | ONLY(CHK_WINDOW));
    expect_cell(&res, CA_SHARED_BWD, CHK_WINDOW, CELL_FAIL);
    expect_cell(&res, CA_SHARED_FWD, CHK_WINDOW, CELL_PASS); /* naive's */
    expect_cell(&res, CA_SHARED_BWD, CHK_REF, CELL_PASS);
}

/* A mutant lacking entry points is reported "not provided", never PASS. */
Test(mutants, absent_entries_not_provided, .timeout = 120)
{
    impl_result res = run_one(&mutant_scale_missing, 0);
    for (int c = 0; c < CHK_COUNT; c++) {
        cr_expect_neq(res.cells[CA_CUBIC_FWD][c].st, CELL_PASS);
        cr_expect_neq(res.cells[CA_CAUSAL_BWD][c].st, CELL_PASS);
    }
    expect_cell(&res, CA_CUBIC_FWD, CHK_REF, CELL_NOT_PROVIDED);
}

/* A data race (threads adding into the shared dq without their partials) must be found
 * by the check, not by luck: repeated runs at more threads than cores, run at one thread
 * as `make test` does, so the oversubscribed counts alone have to catch it. */
Test(mutants, dq_race_rejected_by_determinism, .timeout = 120)
{
    impl_result res = run_one(&mutant_dq_race, ONLY(CHK_DETERMINISM));
    expect_cell(&res, CA_CAUSAL_BWD, CHK_DETERMINISM, CELL_FAIL);
    expect_cell(&res, CA_CAUSAL_FWD, CHK_DETERMINISM, CELL_PASS); /* naive's forward */
}

/* The baseline's equivalence tolerance must not come from its own error: a naive whose
 * decode step leaves out its own key, standing in for the baseline, fails equiv. */
Test(mutants, decode_one_key_short_as_baseline_rejected_by_equiv, .timeout = 120)
{
    impl_result res = run_with(&mutant_decode_one_key_short,
                               (verify_opts){.checks = ONLY(CHK_EQUIV),
                                             .baseline = &mutant_decode_one_key_short});
    expect_cell(&res, CA_DECODE_STEP, CHK_EQUIV, CELL_FAIL);
    expect_cell(&res, CA_CUBIC_FWD, CHK_EQUIV, CELL_PASS); /* the rest is naive's */
    expect_cell(&res, CA_SHARED_FWD, CHK_EQUIV, CELL_PASS);
}

/* NaN outputs fail equiv (both sides NaN in the same place is no agreement), vs_ref too,
 * whether the implementation is judged against naive or stands in for the baseline
 * (where its own infinite error once made an infinite tolerance: "PASS inf/inf"). */
Test(mutants, nan_output_rejected_by_equiv, .timeout = 120)
{
    const ca_impl *baselines[2] = {NULL, &mutant_nan_output};
    for (int b = 0; b < 2; b++) {
        /* vs_ref once: as the baseline, the mutant would only be compared with itself */
        impl_result res = run_with(&mutant_nan_output,
                                   (verify_opts){.checks = ONLY(CHK_EQUIV) | (b ? 0 : ONLY(CHK_REF)),
                                                 .baseline = baselines[b]});
        const ca_entry equiv[] = {CA_DECODE_STEP, CA_CUBIC_FWD, CA_SHARED_FWD};
        for (int i = 0; i < 3; i++) {
            expect_cell(&res, equiv[i], CHK_EQUIV, CELL_FAIL);
            cr_expect(!(res.cells[equiv[i]][CHK_EQUIV].err <= res.cells[equiv[i]][CHK_EQUIV].tol),
                      "%s equiv recorded err %g <= tol %g", ca_entry_name(equiv[i]),
                      res.cells[equiv[i]][CHK_EQUIV].err, res.cells[equiv[i]][CHK_EQUIV].tol);
        }
        if (!b) expect_cell(&res, CA_CAUSAL_FWD, CHK_REF, CELL_FAIL);
    }
}

/* lse off by 1e-3 (absolute): rejected on normal inputs and on each softmax-breaking
 * pattern but logits x1e4. At logits x1e2 the tolerance is the derived bound of
 * tolerance.h, not 2 x naive's error: the bound on lse is 1.9e-4 at d = 3 and 6.5e-4 at
 * d = 16 (above 1e-3 from d = 64 on, where the worst case over summation orders grows as
 * d), so this planted error, of the size the old rule caught, is still caught. At x1e4
 * |lse| reaches 5e4, where one float32 ulp is 3.9e-3 and the logits' own rounding (terms
 * of 1e4 summed over d) puts naive's lse error at 5e-3 to 1e-2: an offset of 1e-3 is
 * below what any float32 lse can resolve there. An offset of 1e-1 (25 ulp) is rejected
 * at x1e4 (bound 1.9e-2 at d = 3): the absolute metric does judge lse at that scale. */
Test(mutants, lse_offset_rejected, .timeout = 120)
{
    impl_result res = run_one(&mutant_lse_off_1e3, ONLY(CHK_REF));
    expect_cell(&res, CA_CAUSAL_FWD, CHK_REF, CELL_FAIL);
    const input_kind kinds[] = {IN_LOGITS_1E2, IN_EQUAL, IN_DOMINANT, IN_ZEROS};
    for (int i = 0; i < 4; i++) {
        res = run_with(&mutant_lse_off_1e3, (verify_opts){.checks = ONLY(CHK_EXTREME),
                                                          .inputs = 1ull << kinds[i]});
        expect_cell(&res, CA_CAUSAL_FWD, CHK_EXTREME, CELL_FAIL);
    }
    res = run_with(&mutant_lse_off_1e1, (verify_opts){.checks = ONLY(CHK_EXTREME),
                                                      .inputs = 1ull << IN_LOGITS_1E4});
    expect_cell(&res, CA_CAUSAL_FWD, CHK_EXTREME, CELL_FAIL);
}

/* Non-finite inputs: every output must be non-finite exactly where the reference is.
 * Both mutants are exact on finite inputs (vs_ref passes); only NaN/Inf expose them. */
Test(mutants, mask_leaks_nonfinite_rejected_by_nonfinite_inputs, .timeout = 120)
{
    impl_result res = run_with(&mutant_mask_leaks_nonfinite,
                               (verify_opts){.checks = ONLY(CHK_REF) | ONLY(CHK_EXTREME),
                                             .inputs = 1ull << EXTREME_NONFINITE});
    expect_cell(&res, CA_CAUSAL_FWD, CHK_EXTREME, CELL_FAIL);
    expect_cell(&res, CA_CAUSAL_FWD, CHK_REF, CELL_PASS);
}

Test(mutants, nonfinite_zeroed_rejected_by_nonfinite_inputs, .timeout = 120)
{
    impl_result res = run_with(&mutant_nonfinite_zeroed,
                               (verify_opts){.checks = ONLY(CHK_REF) | ONLY(CHK_EXTREME),
                                             .inputs = 1ull << EXTREME_NONFINITE});
    expect_cell(&res, CA_CAUSAL_FWD, CHK_EXTREME, CELL_FAIL);
    expect_cell(&res, CA_CAUSAL_FWD, CHK_REF, CELL_PASS);
}

/* An identity's disagreement is charged to the side that is off the reference: with only
 * the causal forward wrong, the decode step and cubic_shared (whose identities compare
 * them with the causal forward) pass equiv, and the causal forward fails it, its note
 * naming the side; likewise a wrong full forward fails itself, not cubic. The correct
 * backward beside a wrong forward passes vs_ref and own_fd: it is judged on the
 * baseline's forward when its own is off. */
/* mutant's forward fwd alone is wrong: it fails vs_ref and equiv (its note naming its
 * side), its backward bwd passes vs_ref and own_fd, and the identities in `fine` pass. */
static void expect_forward_charged(const ca_impl *mutant, ca_entry fwd, ca_entry bwd,
                                   const char *side, const ca_entry *fine, int nfine)
{
    impl_result res = run_one(mutant, ONLY(CHK_REF) | ONLY(CHK_EQUIV) | ONLY(CHK_FD));
    expect_cell(&res, fwd, CHK_REF, CELL_FAIL);
    expect_cell(&res, fwd, CHK_EQUIV, CELL_FAIL);
    const cell *x = &res.cells[fwd][CHK_EQUIV];
    cr_expect(strstr(x->note, side) != NULL, "%s: %s equiv note '%s' does not name '%s'",
              mutant->name, ca_entry_name(fwd), x->note, side);
    for (int i = 0; i < nfine; i++) expect_cell(&res, fine[i], CHK_EQUIV, CELL_PASS);
    expect_cell(&res, bwd, CHK_REF, CELL_PASS);
    expect_cell(&res, bwd, CHK_FD, CELL_PASS);
}

Test(mutants, equiv_charges_the_side_off_the_reference, .timeout = 120)
{
    const ca_entry causal_fine[] = {CA_DECODE_STEP, CA_SHARED_FWD, CA_CUBIC_FWD, CA_LAST_FWD};
    expect_forward_charged(&mutant_causal_fwd_only_wrong, CA_CAUSAL_FWD, CA_CAUSAL_BWD,
                           "causal_fwd side", causal_fine, 4);
    const ca_entry full_fine[] = {CA_CUBIC_FWD, CA_DECODE_STEP};
    expect_forward_charged(&mutant_full_fwd_only_wrong, CA_FULL_FWD, CA_FULL_BWD,
                           "full_fwd side", full_fine, 2);
}
