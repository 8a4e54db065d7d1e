/* test_results_format.c: the column tables of lib/results against the evidence they
 * describe. Every committed results CSV read by its table and written back by the same
 * table gives the file byte for byte: the writer's types and number formats and the
 * reader's are one, and both are the files'. A file the evidence lacks is passed over
 * (a clone without results/); one of its rows with a field of the wrong type is refused,
 * naming file, record and column. */
#include "format.h"
#include "results.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(FILE *f, long *len)
{
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)*len + 1);
    cr_assert_not_null(s);
    cr_assert_eq(fread(s, 1, (size_t)*len, f), (size_t)*len);
    s[*len] = '\0';
    return s;
}

/* path read by fmt and written back; 1 when it was there to read. */
static int round_trip(const char *path, const csv_format *fmt, size_t size)
{
    if (access(path, R_OK) != 0) return 0;
    table t;
    cr_assert_eq(table_read("test", path, &t), 0, "%s", path);
    char *rows = calloc((size_t)t.nrows + 1, size);
    cr_assert_not_null(rows);
    cr_assert_eq(csv_read_table(&t, fmt, "test", rows, size, NULL), t.nrows, "%s", path);
    FILE *out = tmpfile();
    cr_assert_not_null(out);
    csv_write_header(out, fmt);
    for (int r = 0; r < t.nrows; r++) csv_write_record(out, fmt, rows + (size_t)r * size);
    FILE *in = fopen(path, "rb");
    cr_assert_not_null(in);
    long a, b;
    char *want = slurp(in, &a), *got = slurp(out, &b);
    size_t at = 0;
    while (at < (size_t)a && at < (size_t)b && want[at] == got[at]) at++;
    cr_expect(a == b && at == (size_t)a, "%s: written back differs at byte %zu of %ld: '%.60s' "
              "instead of '%.60s'", path, at, a, got + at, want + at);
    free(want);
    free(got);
    fclose(in);
    fclose(out);
    free(rows);
    table_free(&t);
    return 1;
}

Test(results_format, committed_evidence_round_trips)
{
    static const struct { const char *path; const csv_format *fmt; size_t size; } files[] = {
        {"results/bench.csv", &bench_format, sizeof(bench_record)},
        {"results/bench_t1.csv", &bench_format, sizeof(bench_record)},
        {"results/bench_d128.csv", &bench_format, sizeof(bench_record)},
        {"results/bench_model.csv", &model_format, sizeof(model_record)},
        {"results/split.csv", &split_format, sizeof(split_record)},
        {"results/verify.csv", &verify_format, sizeof(verify_record)},
        {"results/experiment.csv", &exp_row_format, sizeof(exp_row)},
        {"results/experiment_infer.csv", &exp_infer_format, sizeof(exp_infer_row)},
    };
    int seen = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        seen += round_trip(files[i].path, files[i].fmt, files[i].size);
    if (seen == 0) cr_log_warn("no results/*.csv here: nothing to round-trip");
}

/* The CSV text is refused by fmt's reader, with a message holding `want` (after the
 * file's path and record 2). */
static void refused(const char *text, const csv_format *fmt, const char *kind, void *rec,
                    size_t size, const char *want)
{
    char path[] = "/tmp/test_results_format_XXXXXX";
    const int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    table t;
    cr_assert_eq(table_read("test", path, &t), 0);
    char errpath[] = "/tmp/test_results_format_err_XXXXXX";
    const int efd = mkstemp(errpath);
    cr_assert_geq(efd, 0);
    fflush(stderr);
    const int saved = dup(2);
    dup2(efd, 2);
    const int n = csv_read_table(&t, fmt, kind, rec, size, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    cr_expect_eq(n, -1, "read: %s", want);
    FILE *ef = fdopen(efd, "r");
    long len;
    char *msg = slurp(ef, &len);
    char full[400];
    snprintf(full, sizeof full, "test: %s: record 2: %s", path, want);
    cr_expect(strstr(msg, full), "message: %s (want %s)", msg, full);
    free(msg);
    fclose(ef);
    unlink(errpath);
    table_free(&t);
    unlink(path);
}

#define BENCH_HEADER                                                                       \
    "\"impl\",\"op\",\"pass\",\"n\",\"d\",\"heads\",\"threads\",\"t_median_s\",\"status\",\"grid\"\n"

Test(results_format, wrong_type_refused)
{
    bench_record rec;
    refused(BENCH_HEADER "\"naive\",\"causal\",\"fwd\",\"64\",\"64.5\",\"1\",\"1\",\"1e-3\",\"ok\","
            "\"full\"\n", &bench_format, "bench", &rec, sizeof rec,
            "column 'd' is not an integer: '64.5'");
    refused(BENCH_HEADER "\"naive\",\"causal\",\"fwd\",\"64\",\"64\",\"1\",\"1\",\"inf\",\"ok\","
            "\"full\"\n", &bench_format, "bench", &rec, sizeof rec,
            "column 't_median_s' is not a finite number: 'inf'");
}

/* A text field longer than its record's array is refused, never cut: two settings that
 * differ only past the cut would be read as one. */
Test(results_format, long_text_refused)
{
    exp_infer_row rec;
    char text[600], name[sizeof rec.setting + 8];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(text, sizeof text,
             "\"task\",\"setting\",\"model\",\"seed\",\"steps_run\",\"sequences\","
             "\"positions\",\"mismatches\",\"near_ties\",\"max_rel_diff\"\n"
             "\"count3\",\"%s\",\"causal\",\"1\",\"10\",\"2\",\"20\",\"0\",\"0\",\"0\"\n",
             name);
    char want[200];
    snprintf(want, sizeof want, "column 'setting' is longer than %zu characters",
             sizeof rec.setting - 1);
    refused(text, &exp_infer_format, "experiment_infer", &rec, sizeof rec, want);
}
