/* report.h: the report program (docs/DESIGN.md §6). Reads the results CSVs back through
 * libcsv, fits scaling exponents, draws gnuplot plots and writes REPORT.md.
 *   main.c      flags, the run as a whole
 *   data.c      bench and verify rows typed from the tables; series and queries
 *   fit.c       least squares exponent on log t vs log N
 *   plots.c     gnuplot scripts and running gnuplot
 *   markdown.c  REPORT.md
 *   experiment.c REPORT.md's section on the capability experiment (make experiment)
 *   stats.c     the Student-t quantile and interval of the experiment's verdicts
 *   split.c     bench --split rows (results/split.csv) and the line each target gets
 *   scaling.c   bench --model --scaling rows (results/bench_scaling.csv): the strong-
 *               scaling table of prefix-parallel training and the projection */
#ifndef REPORT_H
#define REPORT_H

#include "cubattn.h"
#include "passes.h"
#include "results.h"

#include <stddef.h>
#include <stdio.h>

/* Operator and pass names come from the operator table (cubattn.h) and the bench's
 * passes (lib/passes): every lookup, list and label is built from them (prose may
 * still speak of "cubic attention"). */
#define OPN(op) (ca_op_get(op)->name)
#define PASSN(p) bpass_name(p)

/* ENTP's published setting (Ewer et al., arXiv 2410.01600): N = 64, width 384, 6 layers;
 * and an assumed training length, for the extrapolations of the experiment's section and
 * of the section on training across ranks. */
#define PUB_N 64
#define PUB_D 384
#define PUB_L 6
#define PUB_STEPS 1e5

/* ---- data.c ---------------------------------------------------------------------- */
typedef struct dataset {
    table *tables;
    int ntables;
    bench_record *b;
    int nb;
    verify_record *v;
    int nv;
    model_record *m;
    int nm;
    split_record *sp;
    int nsp;
    scaling_record *sc;  /* bench --model --scaling (results/bench_scaling.csv) */
    int nsc;
    int verify_files;
    int bench_files;
    /* The grid every bench row, and every verify row, comes from ("full" or "quick"; NULL
     * without such rows): the report refuses results that mix two (dataset_load). */
    const char *bench_grid, *verify_grid;
    int d, heads;        /* the most common shape: what the plots and tables show */
    int main_threads;    /* the largest thread count measured */
} dataset;

/* Loads every *.csv in dir; -1 on a malformed file (message printed). */
int dataset_load(const char *dir, dataset *ds);
void dataset_free(dataset *ds);

/* The row of (impl, op, pass, n, threads) at the main shape, NULL if none. */
const bench_record *ds_find(const dataset *ds, const char *impl, const char *op,
                            const char *pass, int n, int threads);
/* Fastest ok row of (op, pass, n, threads) over implementations; NULL if none. */
const bench_record *ds_fastest(const dataset *ds, const char *op, const char *pass, int n, int threads);
/* The implementations that are not fused kernels: the float32 baseline, and the peer
 * that materialises the scores and runs the products on BLIS sgemm (impls/unfused.c),
 * which every fused kernel is compared against. */
#define REPORT_BASELINE_IMPL "naive"
#define REPORT_PEER_IMPL "unfused"
/* Fastest ok row of (op, pass, n, threads) at the main shape over the fused
 * implementations (every one but the baseline and the peer); NULL if none. */
const bench_record *ds_fastest_fused(const dataset *ds, const char *op, const char *pass,
                                     int n, int threads);
/* The same at an explicit shape (d, heads) instead of the main one. */
const bench_record *ds_fastest_shape(const dataset *ds, const char *op, const char *pass,
                                     int n, int threads, int d, int heads);
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
/* The row (latest run) that carries the FMA peak, micro-kernel and bandwidth ceilings
 * of a thread count, or NULL when no row has them. */
const bench_record *ds_roof(const dataset *ds, int threads);

/* The ok whole-cell model row of (model, task, layers, n), NULL if none. */
const model_record *ds_model(const dataset *ds, const char *model, const char *task, int layers, int n);
/* Sorted distinct N / depths among the model rows (task NULL = any); count, at most cap. */
int ds_model_ns(const dataset *ds, const char *task, int layers, int *out, int cap);
int ds_model_layers(const dataset *ds, int *out, int cap);

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

/* gnuplot script helpers, shared with model.c */
typedef struct script {
    FILE *f;
    char gp[1024];
    char name[96];
} script;
int script_open(script *s, const char *dir, const char *name, const char *title);
int script_run(script *s, const char *dir, const char *title, plot_list *out);
void datablock(FILE *f, const char *id, const int *n, const double *y, int k);
void range_update(double v, double *lo, double *hi);

/* ---- model.c: the model level (bench --model rows) -------------------------------- */
/* headline_L*.png (training and inference time vs N, causal vs cubic, fitted exponents)
 * and model_time_L*.png, one of each per depth L; nothing when there are no model rows. */
int model_plots(const dataset *ds, const char *dir, plot_list *out);
/* The headline chart at the top of the report, and the "Model level" section. */
void model_headline(FILE *f, const dataset *ds, const char *plots_link);
void model_section(FILE *f, const dataset *ds, const char *plots_link);

/* ---- markdown.c ------------------------------------------------------------------ */
/* A duration with a readable unit ("1.2 ms"; "n/a" when not > 0), into one of a few
 * rotating buffers. */
const char *fmt_s(double s);
int markdown_write(const dataset *ds, const plot_list *plots, const char *plots_dir,
                   const char *plots_link, const char *results_dir, const char *out_path);

/* ---- experiment.c ---------------------------------------------------------------- */
/* The section "Is a cubic model more powerful?" (from results_dir/experiment*.csv,
 * docs/DESIGN.md §9.5-9.6), its learning-curve and by-position plots drawn into
 * plots_dir; 0, or -1 on a malformed file or a value outside its column's domain (the
 * message names file, record and column). */
int experiment_section(FILE *f, const char *results_dir, const char *plots_dir,
                       const char *plots_link);

/* ---- stats.c --------------------------------------------------------------------- */
/* Student's t quantile t_{0.975, df} (df >= 1; NaN otherwise). */
double student_t975(int df);
/* Mean of x[0..k) and its 95% Student-t interval mean -/+ t_{0.975,k-1} sd / sqrt(k);
 * 0, or -1 (lo, hi NaN) when k < 2. */
int mean_ci95(const double *x, int k, double *mean, double *lo, double *hi);

/* ---- split.c --------------------------------------------------------------------- */
/* How far below 0 t_other_s may measure: the bench computes it as total - products -
 * packing, and every timed interval lies inside the total's window, except that a TSC
 * read is not serializing (an interval's ends may each be some tens of cycles off) and a
 * thread moved between cores reads another core's counter. Per call: a relative part
 * and 0.1 us. */
#define NEG_TOL_REL 1e-5
#define NEG_TOL_ABS 1e-7
/* Has the table the columns of bench --split (t_products_s)? */
int split_is_table(const table *t);
/* Its rows into ds->sp (data.c); -1 with a message naming file, record and column on a
 * malformed row (a part < 0, parts that do not add up to t_total_s, a non-number). */
int load_split(const table *t, dataset *ds);
/* One split row read back (rec: a split_record) checked: a cell the bench times, and in
 * an ok row parts that add up; -1 with a message naming file, record and column. */
int split_check(const table *t, int r, void *rec);
/* Where the time of the cell (op, pass, n, d, heads, threads) went, as one line:
 * "split (omp): products 62% (0.81 of peak), softmax etc. 33% (2% outside the engine),
 * packing 5%; products alone bound it at 0.81, products at peak with the rest as measured
 * at 0.64"; from the latest run's ok row, NULL when there is none. Points into one of a
 * few rotating buffers (as fmt_s). */
const char *split_line(const dataset *ds, const char *op, const char *pass, int n, int d,
                       int heads, int threads);

/* ---- scaling.c ------------------------------------------------------------------- */
/* The section "Prefix-parallel training across ranks": the measured configurations and the
 * projection to the published scale; nothing when there are no scaling rows. */
void scaling_section(FILE *f, const dataset *ds);

#endif
