/* main.c: the report program. Reads the results CSVs (bench and verify) through libcsv,
 * draws the plots with gnuplot and writes REPORT.md, without running any benchmark. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
"usage: report [--results DIR] [--plots DIR] [--out FILE]\n"
"Regenerates plots and the report from the CSVs of earlier runs (docs/DESIGN.md section 6).\n"
"  --results DIR  where the bench and verify CSVs are (default results)\n"
"  --plots DIR    where the PNGs and their gnuplot scripts go (default plots)\n"
"  --out FILE     the report (default REPORT.md); written to FILE.tmp, then renamed\n"
"  --help         this text\n");
}

/* The plots dir as REPORT.md should link it: relative to the report's folder when the
 * plots dir lies inside it. */
static void plots_link(const char *plots, const char *out, char *buf, size_t cap)
{
    const char *slash = strrchr(out, '/');
    if (!slash) {
        snprintf(buf, cap, "%s", plots);
        return;
    }
    size_t dlen = (size_t)(slash - out);
    if (strncmp(plots, out, dlen) == 0 && plots[dlen] == '/')
        snprintf(buf, cap, "%s", plots + dlen + 1);
    else
        snprintf(buf, cap, "%s", plots);
}

int main(int argc, char **argv)
{
    const char *results = "results", *plots = "plots", *out = "REPORT.md";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        const char **dst = strcmp(a, "--results") == 0 ? &results
                           : strcmp(a, "--plots") == 0 ? &plots
                           : strcmp(a, "--out") == 0   ? &out
                                                       : NULL;
        if (!dst) {
            fprintf(stderr, "report: unknown flag '%s' (see report --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "report: flag %s needs a value\n", a);
            return 2;
        }
        *dst = argv[++i];
    }
    dataset ds;
    if (dataset_load(results, &ds) != 0) return 1;
    if (ds.nb == 0) {
        fprintf(stderr, "report: no benchmark results in %s/*.csv (run `make bench`)\n", results);
        dataset_free(&ds);
        return 1;
    }
    plot_list pl;
    if (plots_make(&ds, plots, &pl) != 0) {
        dataset_free(&ds);
        return 1;
    }
    char link[1024];
    plots_link(plots, out, link, sizeof link);
    int rc = markdown_write(&ds, &pl, plots, link, results, out);
    if (rc == 0)
        fprintf(stderr, "report: %d plot(s) in %s/, wrote %s\n", pl.count, plots, out);
    dataset_free(&ds);
    return rc == 0 ? 0 : 1;
}
