/* split_format.c: the columns of split.csv (results.h), in the order bench --split writes
 * them. A reader needs the cell, its status and the parts of its time; the rest may be
 * absent from a file. */
#include "results.h"

#define R split_record
#define KEY_TEXT(f, name) CSV_COL_TEXT(R, f, name, 0)
#define KEY_INT(f, name) CSV_COL_INT(R, f, name, 0)
#define KEY_TIME(f, name) CSV_COL_REAL(R, f, name, "%.6e", 0)
#define TEXT(f, name) CSV_COL_TEXT(R, f, name, CSV_OPTIONAL)
#define INT(f, name) CSV_COL_INT(R, f, name, CSV_OPTIONAL | CSV_BLANK)
#define REAL(f, name, fmt) CSV_COL_REAL(R, f, name, fmt, CSV_OPTIONAL)

static const csv_column cols[] = {
    /* the cell */
    KEY_TEXT(impl, "impl"), KEY_TEXT(op, "op"), KEY_TEXT(pass, "pass"), KEY_INT(n, "n"),
    KEY_INT(d, "d"), KEY_INT(heads, "heads"), KEY_INT(threads, "threads"), INT(reps, "reps"),
    INT(calls, "calls"),
    /* one call's time and its parts */
    KEY_TIME(t_total, "t_total_s"), KEY_TIME(t_products, "t_products_s"),
    KEY_TIME(t_packing, "t_packing_s"), KEY_TIME(t_other, "t_other_s"),
    REAL(t_outside, "t_outside_s", "%.6e"), REAL(t_unprofiled, "t_unprofiled_s", "%.6e"),
    /* the products' rate against the peak, and what the profile counted */
    REAL(flops, "flops", "%.6e"), REAL(products_gflops, "products_gflops", "%.4f"),
    REAL(peak, "peak_gflops", "%.3f"), REAL(products_frac_peak, "products_frac_of_peak", "%.4g"),
    REAL(frac_peak, "frac_of_peak", "%.4g"), REAL(product_calls, "product_calls", "%.0f"),
    REAL(packing_calls, "packing_calls", "%.0f"), TEXT(clock, "clock"),
    KEY_TEXT(status, "status"),
    /* the code and the machine */
    TEXT(commit, "commit"), TEXT(date, "date"), TEXT(cpu, "cpu"), INT(cores, "cores"),
    REAL(other_cores, "other_cores", "%.2f"),
};

const csv_format split_format = CSV_FORMAT(cols);
