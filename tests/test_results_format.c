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

Test(results_format, wrong_type_refused)
{
    char path[] = "/tmp/test_results_format_XXXXXX";
    const int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("\"impl\",\"op\",\"pass\",\"n\",\"d\",\"heads\",\"threads\",\"t_median_s\",\"status\","
          "\"grid\"\n\"naive\",\"causal\",\"fwd\",\"64\",\"64.5\",\"1\",\"1\",\"1e-3\",\"ok\","
          "\"full\"\n", f);
    fclose(f);
    table t;
    cr_assert_eq(table_read("test", path, &t), 0);
    bench_record rec;
    char errpath[] = "/tmp/test_results_format_err_XXXXXX";
    const int efd = mkstemp(errpath);
    cr_assert_geq(efd, 0);
    fflush(stderr);
    const int saved = dup(2);
    dup2(efd, 2);
    const int n = csv_read_table(&t, &bench_format, "bench", &rec, sizeof rec, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    cr_expect_eq(n, -1, "d = 64.5 read as an integer");
    FILE *ef = fdopen(efd, "r");
    long len;
    char *msg = slurp(ef, &len);
    char want[200];
    snprintf(want, sizeof want, "test: %s: record 2: column 'd' is not a number: '64.5'", path);
    cr_expect(strstr(msg, want), "message: %s", msg);
    free(msg);
    fclose(ef);
    unlink(errpath);
    table_free(&t);
    unlink(path);
}
