/* test_model_mutants.c: verify's model rows must reject the packed cubic model and its
 * inference with one row wrong (model/mutant.h, linked beside the model as the table
 * model_f32mut), each on the check its bug should trip, and must accept the same build
 * with no bug planted and the model itself (a harness rejecting everything would also
 * "reject the mutants"). */
#include "model_checks.h"
#include "mutant.h"

#include <criterion/criterion.h>
#include <string.h>


/* Three layers: cubic_shared, cubic and cubic_last all in the packed model; two
 * sequences, so that a row mixed up between sequences would show too. */
static const model_case small = {{11, 8, 8, 2, 3}, 2, 6};

/* Every row of `small` with naive's attention at one thread; res[1] is the float64
 * model's own. */
static void run_rows(const model_fns *fn, model_result res[2])
{
    const ca_impl *naive = ca_impl_find("naive");
    cr_assert_not_null(naive);
    memset(res, 0, 2 * sizeof *res);
    res[0].name = "model";
    res[1].name = "model64";
    const verify_opts o = {.threads = 1, .quick = 1};
    cr_assert_eq(verify_model_case(fn, &naive, 1, &o, &small, 5000, res), 0,
                 "the model checks could not run");
}

static void expect_cell(const model_result *r, model_kind k, model_check c, cell_status want)
{
    const cell *x = &r->cells[k][c];
    cr_log_info("%s %s: %s err %.3g tol %.3g (%s)", model_kind_name(k), model_check_name(c),
                cell_status_name(x->st), x->err, x->tol, x->note);
    cr_expect_eq(x->st, want, "%s %s was %s, want %s (%s)", model_kind_name(k),
                 model_check_name(c), cell_status_name(x->st), cell_status_name(want),
                 x->note);
}

/* No cell of any kind fails, and every check this case runs recorded something. */
static void expect_all_pass(const model_result *r)
{
    for (int k = 0; k < MODEL_KIND_COUNT; k++)
        for (int c = 0; c < MCHK_COUNT; c++) {
            const cell *x = &r->cells[k][c];
            const int runs = c != MCHK_BAD_CONFIG && c != MCHK_L1_CAUSAL &&
                             (c != MCHK_PACKED_LOOP || k == MODEL_CUBIC);
            cr_expect_eq(x->st, runs ? CELL_PASS : CELL_NA, "%s %s was %s (%s)",
                         model_kind_name(k), model_check_name(c), cell_status_name(x->st),
                         x->note);
        }
}

/* One cell's expected status. */
typedef struct want {
    model_kind kind;
    model_check check;
    cell_status st;
} want;

/* The mutant build with `bug` planted, through every row: the cells of w as they say. */
static void expect_mutant(model_mutant bug, const want *w, size_t n)
{
    model_result res[2];
    model_mutant_planted = bug;
    run_rows(&model_f32mut, res);
    model_mutant_planted = MUT_NONE;
    for (size_t i = 0; i < n; i++) expect_cell(&res[0], w[i].kind, w[i].check, w[i].st);
}
#define EXPECT_MUTANT(bug, ...)                                                          \
    do {                                                                                 \
        static const want w_[] = {__VA_ARGS__};                                          \
        expect_mutant(bug, w_, sizeof w_ / sizeof w_[0]);                                \
    } while (0)

Test(model_mutants, model_control_passes, .timeout = 120)
{
    model_result res[2];
    run_rows(&model_f32, res);
    expect_all_pass(&res[0]);
}

/* The mutant build, nothing planted, is the model: the bugs below are all it adds. */
Test(model_mutants, unplanted_mutant_passes, .timeout = 120)
{
    model_result res[2];
    run_rows(&model_f32mut, res);
    expect_all_pass(&res[0]);
}

/* The training path alone is wrong: packed != loop and != the float64 model, and greedy
 * generation (by inference) disagrees with the training forward's argmax; inference
 * against the float64 model and the other kinds are untouched. */
Test(model_mutants, last_row_rejected, .timeout = 120)
{
    EXPECT_MUTANT(MUT_LAST_ROW, {MODEL_CUBIC, MCHK_PACKED_LOOP, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_VS_F64, CELL_FAIL}, {MODEL_CUBIC, MCHK_GENERATE, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_INFER, CELL_PASS}, {MODEL_CUBIC_LOOP, MCHK_VS_F64, CELL_PASS},
                  {MODEL_CAUSAL, MCHK_VS_F64, CELL_PASS});
}

/* The inference path alone is wrong, for both cubic kinds (they share it). */
Test(model_mutants, infer_last_keys_rejected, .timeout = 120)
{
    EXPECT_MUTANT(MUT_INFER_LAST_KEYS, {MODEL_CUBIC, MCHK_INFER, CELL_FAIL},
                  {MODEL_CUBIC_LOOP, MCHK_INFER, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_GENERATE, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_PACKED_LOOP, CELL_PASS},
                  {MODEL_CAUSAL, MCHK_INFER, CELL_PASS});
}

/* A wrong forward with the right backward: its gradient is no longer its loss's. */
Test(model_mutants, shared_residual_rejected, .timeout = 120)
{
    EXPECT_MUTANT(MUT_SHARED_RESIDUAL, {MODEL_CUBIC, MCHK_PACKED_LOOP, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_VS_F64, CELL_FAIL}, {MODEL_CUBIC, MCHK_GRAD_FD, CELL_FAIL},
                  {MODEL_CUBIC_LOOP, MCHK_VS_F64, CELL_PASS});
}

/* The forward is right, so only the gradients can show it. */
Test(model_mutants, shared_residual_gradient_rejected, .timeout = 120)
{
    EXPECT_MUTANT(MUT_SHARED_RES_GRAD, {MODEL_CUBIC, MCHK_PACKED_LOOP, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_VS_F64, CELL_FAIL}, {MODEL_CUBIC, MCHK_GRAD_FD, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_INFER, CELL_PASS}, {MODEL_CUBIC, MCHK_GENERATE, CELL_PASS});
}

/* Wrong only on a window of prefixes (a rank's part of a batch split between ranks): the
 * whole-batch checks pass, and only the split batch shows it. */
Test(model_mutants, window_diagonal_rejected, .timeout = 120)
{
    EXPECT_MUTANT(MUT_WINDOW_DIAGONAL, {MODEL_CUBIC, MCHK_PARTS, CELL_FAIL},
                  {MODEL_CUBIC, MCHK_VS_F64, CELL_PASS}, {MODEL_CUBIC, MCHK_PACKED_LOOP, CELL_PASS},
                  {MODEL_CUBIC, MCHK_GRAD_FD, CELL_PASS}, {MODEL_CUBIC_LOOP, MCHK_PARTS, CELL_PASS},
                  {MODEL_CAUSAL, MCHK_PARTS, CELL_PASS});
}
