/* bench_format.c: the columns of bench.csv (results.h), in the order bench writes them,
 * a line of the table for each group. The columns a reader cannot do without are the
 * cell (impl, op, pass, n, d, heads, threads), its median time, status and grid; the
 * file of an older bench may lack any other, and a cell that was not timed leaves its
 * numbers empty. */
#include "results.h"

#define R bench_record
#define KEY_TEXT(f, name) CSV_COL_TEXT(R, f, name, 0)
#define KEY_INT(f, name) CSV_COL_INT(R, f, name, 0)
#define TEXT(f, name) CSV_COL_TEXT(R, f, name, CSV_OPTIONAL)
#define INT(f, name) CSV_COL_INT(R, f, name, CSV_OPTIONAL | CSV_BLANK)
#define REAL(f, name, fmt) CSV_COL_REAL(R, f, name, fmt, CSV_OPTIONAL)

static const csv_column cols[] = {
    /* the cell */
    KEY_TEXT(impl, "impl"), KEY_TEXT(op, "op"), KEY_TEXT(pass, "pass"), KEY_INT(n, "n"),
    KEY_INT(d, "d"), KEY_INT(heads, "heads"), KEY_INT(threads, "threads"),
    /* its times, rate and error */
    INT(reps, "reps"), REAL(t_min, "t_min_s", "%.6e"),
    CSV_COL_REAL(R, t_med, "t_median_s", "%.6e", 0), REAL(t_max, "t_max_s", "%.6e"),
    REAL(gflops, "gflops", "%.4f"), REAL(frac, "frac_of_sgemm", "%.4f"),
    REAL(flops, "flops", "%.6e"), REAL(bytes, "bytes", "%.0f"),
    REAL(max_err, "max_err", "%.3e"), TEXT(err_ref, "err_ref"),
    REAL(predicted, "predicted_s", "%.3e"), KEY_TEXT(status, "status"),
    /* the ceilings and the cell against them */
    REAL(sgemm, "sgemm_gflops", "%.3f"), INT(sgemm_n, "sgemm_n"), TEXT(impl_note, "impl_note"),
    REAL(peak, "peak_gflops", "%.3f"), REAL(frac_peak, "frac_of_peak", "%.4g"),
    REAL(ukr, "ukr_gflops", "%.3f"), REAL(bw, "bw_gbs", "%.3f"),
    REAL(bytes_moved, "bytes_moved", "%.0f"), REAL(gbs, "gbs", "%.4g"),
    REAL(frac_bw, "frac_of_bw", "%.4g"), TEXT(cache_state, "cache_state"),
    TEXT(peak_note, "peak_note"),
    /* the code and the machine */
    TEXT(commit, "commit"), TEXT(date, "date"), TEXT(compiler, "compiler"),
    TEXT(cflags, "cflags"), TEXT(cpu, "cpu"), INT(cores, "cores"),
    TEXT(blis_config, "blis_config"), TEXT(kernel_isa, "kernel_isa"),
    REAL(other_cores, "other_cores", "%.2f"), KEY_TEXT(grid, "grid"),
};

const csv_format bench_format = CSV_FORMAT(cols);
