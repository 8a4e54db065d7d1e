/* main.c: the report program. Reads the results CSVs (bench and verify) through libcsv,
 * draws the plots with gnuplot and writes REPORT.md, without running any benchmark.
 *
 * Plots and report are drawn into a staging dir beside the plots dir (PLOTS.stage) and a
 * staged report (OUT.staged); only when every plot and the whole report succeeded does
 * the staging dir take the plots dir's place (the old one renamed aside, then removed)
 * and the staged report the report's. A failure anywhere leaves plots/ and REPORT.md as
 * they were. Only what the report draws (*.png, *.gp) is ever removed; a symbolic link as
 * the plots dir is refused. */
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
"  --out FILE     the report (default REPORT.md); drawn as FILE.staged beside it, the\n"
"                 plots in PLOTS.stage, both moved in only when all succeeded\n"
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

/* Removes what the report draws in dir (its *.png and *.gp), then dir if that left it
 * empty: any other file stays where it is. */
static void remove_drawn(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[2048];
    while ((e = readdir(d)) != NULL) {
        const size_t len = strlen(e->d_name);
        if (len < 4 || (strcmp(e->d_name + len - 4, ".png") && strcmp(e->d_name + len - 3, ".gp")))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A plots dir and its gnuplot/ scripts, as far as the report drew them. */
static void remove_plots(const char *dir)
{
    char gp[2048];
    snprintf(gp, sizeof gp, "%s/gnuplot", dir);
    remove_drawn(gp);
    remove_drawn(dir);
}

/* The staged plots take the plots dir's place and the staged report the report's: 0, or
 * -1 with both put back as they were. */
static int swap_in(const char *stage, const char *plots, const char *staged, const char *out)
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
    if (rename(staged, out) != 0) {
        rename(plots, stage);
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
    /* "plots/" is "plots": the stage and the old dir are its siblings, never inside it */
    char pdir[1024], stage[1100], staged[1100], link[1024], old[1100];
    snprintf(pdir, sizeof pdir, "%s", plots);
    for (size_t n = strlen(pdir); n > 1 && pdir[n - 1] == '/'; n--) pdir[n - 1] = '\0';
    plots = pdir;
    struct stat lsb;
    if (lstat(plots, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
        fprintf(stderr, "report: '%s' is a symbolic link; give the directory it points to\n", plots);
        dataset_free(&ds);
        return 1;
    }
    snprintf(stage, sizeof stage, "%s.stage", plots);
    snprintf(staged, sizeof staged, "%s.staged", out);
    snprintf(old, sizeof old, "%s.old", plots);
    /* a run stopped between its two renames left the plots in PLOTS.old: put them back */
    if (stat(plots, &lsb) != 0 && stat(old, &lsb) == 0) rename(old, plots);
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
    if (rc == 0 && swap_in(stage, plots, staged, out) != 0) {
        fprintf(stderr, "report: cannot move the new plots and report into '%s' and '%s': %s\n",
                plots, out, strerror(errno));
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
