/* experiment_format.c: the columns of experiment.csv and experiment_infer.csv
 * (results.h), in the order the experiment writes them. An empty number is NaN (a metric
 * a task does not have, e.g. bits/char of count3); jobs_min and jobs_max may be empty at
 * step 0 (no step sampled yet); the file of an older experiment may lack cpu and commit,
 * and the inference costs. */
#include "results.h"

#define R exp_row
#define TEXT(f) CSV_COL_CHARS(R, f, #f, 0)
#define INT(f) CSV_COL_I64(R, f, #f, 0)
/* a diverged run's loss may be inf or NaN: the experiment's own checks (rows.c) say which
 * columns must be finite */
#define REAL(f) CSV_COL_REAL(R, f, #f, "%.9g", CSV_NONFINITE)

static const csv_column row_cols[] = {
    TEXT(task), TEXT(setting), INT(layers), INT(n), INT(m), INT(vocab), INT(d_model),
    INT(heads), INT(batch), INT(params), TEXT(model), INT(seed), TEXT(budget), INT(step),
    INT(steps_cubic), INT(steps_flops), INT(steps_run), REAL(flops_per_step),
    REAL(train_flops), REAL(wall_s), CSV_COL_I64(R, jobs_min, "jobs_min", CSV_BLANK),
    CSV_COL_I64(R, jobs_max, "jobs_max", CSV_BLANK), REAL(train_loss), REAL(test_loss),
    REAL(test_bits), REAL(test_acc), REAL(seq_acc), TEXT(pos_acc), REAL(floor_acc),
    REAL(floor_bits), TEXT(impl), INT(threads), CSV_COL_CHARS(R, cpu, "cpu", CSV_OPTIONAL),
    CSV_COL_CHARS(R, commit, "commit", CSV_OPTIONAL),
};
const csv_format exp_row_format = CSV_FORMAT(row_cols);

#undef R
#define R exp_infer_row

static const csv_column infer_cols[] = {
    TEXT(task), TEXT(setting), TEXT(model), INT(seed), INT(steps_run), INT(sequences),
    INT(positions), INT(mismatches), INT(near_ties),
    CSV_COL_REAL(R, max_rel_diff, "max_rel_diff", "%.9g", CSV_NONFINITE),
    CSV_COL_REAL(R, prefill_s, "prefill_s", "%.9g", CSV_OPTIONAL),
    CSV_COL_REAL(R, generate_s, "generate_s", "%.9g", CSV_OPTIONAL),
};
const csv_format exp_infer_format = CSV_FORMAT(infer_cols);
