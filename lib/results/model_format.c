/* model_format.c: the columns of bench_model.csv (results.h), in the order bench --model
 * writes them. A reader needs the cell, its status, its time and FLOPs; the rest may be
 * absent from a file. */
#include "results.h"

#define R model_record
#define KEY_TEXT(f, name) CSV_COL_TEXT(R, f, name, 0)
#define KEY_INT(f, name) CSV_COL_INT(R, f, name, 0)
#define KEY_REAL(f, name, fmt) CSV_COL_REAL(R, f, name, fmt, 0)
#define TEXT(f, name) CSV_COL_TEXT(R, f, name, CSV_OPTIONAL)
#define INT(f, name) CSV_COL_INT(R, f, name, CSV_OPTIONAL | CSV_BLANK)
#define REAL(f, name, fmt) CSV_COL_REAL(R, f, name, fmt, CSV_OPTIONAL)

static const csv_column cols[] = {
    /* the cell */
    KEY_TEXT(model, "model"), KEY_TEXT(task, "task"), KEY_TEXT(part, "part"),
    KEY_TEXT(impl, "impl"), KEY_INT(layers, "layers"), KEY_INT(d_model, "d_model"),
    KEY_INT(heads, "heads"), KEY_INT(vocab, "vocab"), INT(batch, "batch"), KEY_INT(n, "n"),
    KEY_INT(threads, "threads"),
    /* its times, work and rate */
    CSV_COL_INT(R, reps, "reps", CSV_BLANK), REAL(t_min, "t_min_s", "%.6e"),
    KEY_REAL(t_med, "t_median_s", "%.6e"), REAL(t_max, "t_max_s", "%.6e"),
    KEY_REAL(attn_flops, "attn_flops", "%.6e"), KEY_REAL(matmul_flops, "matmul_flops", "%.6e"),
    KEY_REAL(gflops, "gflops", "%.4f"), KEY_REAL(frac_peak, "frac_of_peak", "%.4g"),
    REAL(frac_sgemm, "frac_of_sgemm", "%.4g"), KEY_REAL(act_bytes, "act_bytes", "%.0f"),
    REAL(predicted, "predicted_s", "%.3e"), KEY_TEXT(status, "status"),
    /* the ceilings, the code and the machine */
    REAL(peak, "peak_gflops", "%.3f"), REAL(sgemm, "sgemm_gflops", "%.3f"),
    TEXT(commit, "commit"), TEXT(date, "date"), TEXT(cpu, "cpu"), INT(cores, "cores"),
    TEXT(kernel_isa, "kernel_isa"), REAL(other_cores, "other_cores", "%.2f"),
};

const csv_format model_format = CSV_FORMAT(cols);
