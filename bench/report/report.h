/* report.h: the report program (docs/DESIGN.md §6). Reads the results CSVs back through
 * libcsv, fits scaling exponents, draws gnuplot plots and writes REPORT.md.
 *   main.c      flags, the run as a whole
 *   table.c     a CSV file read through libcsv into a header + rows of strings
 *   data.c      bench and verify rows typed from the tables; series and queries
 *   fit.c       least squares exponent on log t vs log N
 *   plots.c     gnuplot scripts and running gnuplot
 *   markdown.c  REPORT.md
 *   experiment.c REPORT.md's section on the capability experiment (make experiment) */
#ifndef REPORT_H
#define REPORT_H

#include "cubattn.h"
#include "../bench.h"

#include <stddef.h>
#include <stdio.h>

/* Operator and pass names come from the operator table (cubattn.h) and the bench's
 * passes (bench/passes.c): every lookup, list and label is built from them (prose may
 * still speak of "cubic attention"). */
#define OPN(op) (ca_op_get(op)->name)
#define PASSN(p) bpass_name(p)

/* ---- table.c --------------------------------------------------------------------- */
typedef struct table {
    char *path;
    int ncols;
    char **header;
    int nrows;
    char ***rows;  /* rows[r][c], NUL-terminated strings */
} table;

/* Reads and checks a CSV (every record has the header's field count). Returns 0, or -1
 * with a message naming the file and record on stderr. */
int table_read(const char *path, table *t);
int table_col(const table *t, const char *name); /* -1 if absent */
void table_free(table *t);

/* ---- data.c ---------------------------------------------------------------------- */
typedef struct brow {
    const char *impl, *op, *pass, *status, *impl_note, *err_ref;
    const char *commit, *date, *compiler, *cflags, *cpu, *blis_config, *file;
    int n, d, heads, threads, reps, cores, sgemm_n;
    double t_min, t_med, t_max, gflops, frac, flops, bytes, max_err, predicted, sgemm;
    double other_cores; /* cores used by other processes during the run; NaN if unknown */
    int ok; /* status == "ok" and a median time present */
} brow;

typedef struct vrow {
    const char *impl, *entry, *check, *status, *err, *tol, *note;
} vrow;

typedef struct dataset {
    table *tables;
    int ntables;
    brow *b;
    int nb;
    vrow *v;
    int nv;
    int verify_files;
    int bench_files;
    int d, heads;        /* the most common shape: what the plots and tables show */
    int main_threads;    /* the largest thread count measured */
} dataset;

/* Loads every *.csv in dir; -1 on a malformed file (message printed). */
int dataset_load(const char *dir, dataset *ds);
void dataset_free(dataset *ds);

/* The row of (impl, op, pass, n, threads) at the main shape, NULL if none. */
const brow *ds_find(const dataset *ds, const char *impl, const char *op, const char *pass,
                    int n, int threads);
/* Fastest ok row of (op, pass, n, threads) over implementations; NULL if none. */
const brow *ds_fastest(const dataset *ds, const char *op, const char *pass, int n, int threads);
/* Its median time, or NaN. */
double best_t(const dataset *ds, const char *op, const char *pass, int n, int threads);

/* Distinct values (sorted) of the main shape's rows matching op/pass/threads (NULL or
 * -1 = any). Return the count; fill at most cap. */
int ds_impls(const dataset *ds, const char *op, const char *pass, int threads,
             const char **out, int cap);
int ds_ns(const dataset *ds, const char *op, const char *pass, int threads, int *out, int cap);
int ds_threads(const dataset *ds, int *out, int cap);
/* sgemm ceiling recorded for a thread count (the latest row's), or -1. */
double ds_sgemm(const dataset *ds, int threads, int *sgemm_n);

/* ---- fit.c ----------------------------------------------------------------------- */
typedef struct fit {
    int ok;          /* at least two points */
    double p, c, r2; /* t = exp(c) * N^p */
    int n_lo, n_hi, points;
} fit;

/* Fit over the upper half of the series' N (at least 3 points when there are). */
fit fit_upper_half(const int *n, const double *t, int count);
/* The ok series of (impl, op, pass, threads) at the main shape, sorted by N; returns
 * the count. */
int series(const dataset *ds, const char *impl, const char *op, const char *pass,
           int threads, int *n, double *t, int cap);
fit fit_series(const dataset *ds, const char *impl, const char *op, const char *pass,
               int threads);

/* ---- plots.c --------------------------------------------------------------------- */
typedef struct plot_list {
    char names[64][96];  /* file names inside the plots dir */
    char titles[64][160];
    int count;
} plot_list;

/* Writes the gnuplot scripts into plots_dir/gnuplot/ and runs gnuplot; -1 on failure. */
int plots_make(const dataset *ds, const char *plots_dir, plot_list *out);
/* gnuplot on script (a path relative to dir) run in dir: 0, -127 if gnuplot is missing,
 * else -1; the terminal plots_make chose (pngcairo, or png without cairo). */
int run_gnuplot(const char *dir, const char *script);
const char *plots_terminal(void);

/* ---- markdown.c ------------------------------------------------------------------ */
int markdown_write(const dataset *ds, const plot_list *plots, const char *plots_link,
                   const char *results_dir, const char *out_path);

/* ---- experiment.c ---------------------------------------------------------------- */
/* Appends the section "Is a cubic model more powerful?" (from results/experiment*.csv,
 * with its learning-curve plots in plots_dir) to the report at out; 0 or -1. */
int experiment_append(const char *results_dir, const char *plots_dir,
                      const char *plots_link, const char *out_path);

#endif
