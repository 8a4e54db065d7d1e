/* scaling_format.c: the columns of bench_scaling.csv (results.h), in the order bench
 * --model --scaling writes them. */
#include "results.h"

#define R scaling_record
#define TEXT(f, name) CSV_COL_TEXT(R, f, name, 0)
#define INT(f, name) CSV_COL_INT(R, f, name, CSV_BLANK)
#define REAL(f, name, fmt) CSV_COL_REAL(R, f, name, fmt, 0)

static const csv_column cols[] = {
    /* the configuration */
    TEXT(kind, "kind"), TEXT(model, "model"), TEXT(impl, "impl"), INT(ranks, "ranks"),
    INT(threads, "threads"), INT(layers, "layers"), INT(d_model, "d_model"),
    INT(heads, "heads"), INT(vocab, "vocab"), INT(batch, "batch"), INT(n, "n"),
    REAL(params, "params", "%.0f"),
    /* one step: times, work, communication */
    INT(reps, "reps"), REAL(t_min, "t_min_s", "%.6e"), REAL(t_med, "t_median_s", "%.6e"),
    REAL(t_max, "t_max_s", "%.6e"), REAL(compute_max, "compute_max_s", "%.6e"),
    REAL(compute_min, "compute_min_s", "%.6e"), REAL(sum_s, "sum_s", "%.6e"),
    REAL(flops, "flops", "%.6e"), REAL(comm_bytes, "comm_bytes", "%.0f"),
    REAL(imbalance, "imbalance", "%.6f"), REAL(peak, "peak_gflops", "%.3f"),
    TEXT(status, "status"),
    /* the code and the machine */
    TEXT(commit, "commit"), TEXT(date, "date"), TEXT(cpu, "cpu"), INT(cores, "cores"),
    TEXT(kernel_isa, "kernel_isa"), REAL(other_cores, "other_cores", "%.2f"),
};

const csv_format scaling_format = CSV_FORMAT(cols);
