/* main.c: the report program. Reads the results CSVs (bench and verify) through libcsv,
 * draws the plots with gnuplot and writes REPORT.md, without running any benchmark.
 *
 * Plots and report are drawn into a staging dir beside the plots dir (PLOTS.stage) and a
 * staged report (OUT.staged); only when every plot and the whole report succeeded does
 * the staging dir take the plots dir's place (the old one renamed aside, then removed)
 * and the staged report the report's. A failure anywhere leaves plots/ and REPORT.md as
 * they were: the plots dir is the report's own, nothing else lives in it. */
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Removes dir's regular files, then dir itself (not recursive). */
static void remove_flat(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[2048];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A plots dir and its gnuplot/ scripts, gone. */
static void remove_plots(const char *dir)
{
    char gp[2048];
    snprintf(gp, sizeof gp, "%s/gnuplot", dir);
    remove_flat(gp);
    remove_flat(dir);
}

/* The staged plots take the plots dir's place: 0, or -1 with the old dir put back. */
static int swap_in(const char *stage, const char *plots)
{
    char old[2048];
    snprintf(old, sizeof old, "%s.old", plots);
    remove_plots(old);
    struct stat sb;
    const int had = stat(plots, &sb) == 0;
    if (had && rename(plots, old) != 0) return -1;
    if (rename(stage, plots) != 0) {
        if (had) rename(old, plots);
        return -1;
    }
    if (had) remove_plots(old);
    return 0;
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
    char stage[1100], staged[1100], link[1024];
    snprintf(stage, sizeof stage, "%s.stage", plots);
    snprintf(staged, sizeof staged, "%s.staged", out);
    remove_plots(stage);
    /* The report's folder must take a file before any plot is drawn. */
    FILE *probe = fopen(staged, "w");
    if (!probe || fclose(probe) != 0) {
        fprintf(stderr, "report: cannot write '%s': %s\n", out, strerror(errno));
        dataset_free(&ds);
        return 1;
    }
    unlink(staged);
    plot_list pl;
    if (plots_make(&ds, stage, &pl) != 0) {
        remove_plots(stage);
        dataset_free(&ds);
        return 1;
    }
    plots_link(plots, out, link, sizeof link);
    int rc = markdown_write(&ds, &pl, stage, link, results, staged);
    if (rc == 0 && swap_in(stage, plots) != 0) {
        fprintf(stderr, "report: cannot move the new plots into '%s': %s\n", plots, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(staged, out) != 0) {
        fprintf(stderr, "report: cannot write '%s': %s\n", out, strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "report: '%s' and '%s' left as they were\n", out, plots);
        remove_plots(stage);
        unlink(staged);
    } else {
        fprintf(stderr, "report: %d plot(s) in %s/, wrote %s\n", pl.count, plots, out);
    }
    dataset_free(&ds);
    return rc == 0 ? 0 : 1;
}
