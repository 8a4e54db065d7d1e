/* format.c: records written and read by their column table (format.h). */
#include "format.h"

#include <csv.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void put(FILE *f, int first, const char *s)
{
    if (!first) fputc(',', f);
    csv_fwrite(f, s, strlen(s));
}

void csv_write_header(FILE *f, const csv_format *fmt)
{
    for (int i = 0; i < fmt->count; i++) put(f, i == 0, fmt->col[i].name);
    fputc('\n', f);
}

void csv_write_record(FILE *f, const csv_format *fmt, const void *rec)
{
    for (int i = 0; i < fmt->count; i++) {
        const csv_column *c = &fmt->col[i];
        const char *p = (const char *)rec + c->off;
        char buf[64] = "";
        const char *s = buf;
        switch (c->type) {
        case CSV_TEXT: s = *(const char *const *)(const void *)p; break;
        case CSV_CHARS: s = p; break;
        case CSV_INT: snprintf(buf, sizeof buf, "%d", *(const int *)(const void *)p); break;
        case CSV_I64:
            snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)(const void *)p);
            break;
        case CSV_REAL: {
            const double x = *(const double *)(const void *)p;
            if (!isnan(x)) snprintf(buf, sizeof buf, c->fmt, x);
            break;
        }
        }
        put(f, i == 0, s ? s : "");
    }
    fputc('\n', f);
}

int csv_find_columns(const table *t, const csv_format *fmt, const char *kind, int *idx)
{
    for (int i = 0; i < fmt->count; i++) {
        idx[i] = table_col(t, fmt->col[i].name);
        if (idx[i] < 0 && !(fmt->col[i].flags & CSV_OPTIONAL)) {
            fprintf(stderr, "%s: %s: %s results lack the column '%s'\n", t->who, t->path, kind,
                    fmt->col[i].name);
            return -1;
        }
    }
    return 0;
}

static int refuse(const table *t, int r, const csv_column *c, const char *s)
{
    if (s[0] == '\0')
        fprintf(stderr, "%s: %s: record %d: column '%s' is empty\n", t->who, t->path, r + 2,
                c->name);
    else {
        char *end;
        const double x = strtod(s, &end);
        const char *what = c->type != CSV_REAL            ? "an integer"
                           : end != s && *end == '\0' && !isfinite(x) ? "a finite number"
                                                                      : "a number";
        fprintf(stderr, "%s: %s: record %d: column '%s' is not %s: '%s'\n", t->who, t->path,
                r + 2, c->name, what, s);
    }
    return -1;
}

/* An integer field into *v, in [lo, hi]; an empty one is 0 where the column allows it. */
static int integer(const char *s, const csv_column *c, long long lo, long long hi, long long *v)
{
    if (s[0] == '\0') {
        *v = 0;
        return c->flags & CSV_BLANK ? 0 : -1;
    }
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return end == s || *end != '\0' || errno != 0 || *v < lo || *v > hi ? -1 : 0;
}

static int real(const char *s, const csv_column *c, double *x)
{
    if (s[0] == '\0') {
        *x = NAN;
        return 0;
    }
    char *end;
    *x = strtod(s, &end);
    return end == s || *end != '\0' || (!isfinite(*x) && !(c->flags & CSV_NONFINITE)) ? -1 : 0;
}

int csv_read_table(const table *t, const csv_format *fmt, const char *kind, void *rec,
                   size_t size, int (*check)(const table *t, int r, void *rec))
{
    int idx[CSV_MAX_COLUMNS];
    if (fmt->count > CSV_MAX_COLUMNS || csv_find_columns(t, fmt, kind, idx) != 0) return -1;
    for (int r = 0; r < t->nrows; r++) {
        void *x = (char *)rec + (size_t)r * size;
        memset(x, 0, size);
        if (csv_read_record(t, r, fmt, idx, x) != 0 || (check && check(t, r, x) != 0)) return -1;
    }
    return t->nrows;
}

int csv_read_record(const table *t, int r, const csv_format *fmt, const int *idx, void *rec)
{
    for (int i = 0; i < fmt->count; i++) {
        const csv_column *c = &fmt->col[i];
        const char *s = idx[i] < 0 ? "" : t->rows[r][idx[i]];
        void *p = (char *)rec + c->off;
        long long v;
        switch (c->type) {
        case CSV_TEXT: *(const char **)p = s; break;
        case CSV_CHARS:
            /* a longer field would be cut, and two that differ only past the cut merged */
            if (strlen(s) >= c->size) {
                fprintf(stderr, "%s: %s: record %d: column '%s' is longer than %zu "
                        "characters: '%s'\n", t->who, t->path, r + 2, c->name, c->size - 1, s);
                return -1;
            }
            memcpy(p, s, strlen(s) + 1);
            break;
        case CSV_INT:
            if (integer(s, c, INT_MIN, INT_MAX, &v) != 0) return refuse(t, r, c, s);
            *(int *)p = (int)v;
            break;
        case CSV_I64:
            if (integer(s, c, INT64_MIN, INT64_MAX, &v) != 0) return refuse(t, r, c, s);
            *(int64_t *)p = v;
            break;
        case CSV_REAL:
            if (real(s, c, (double *)p) != 0) return refuse(t, r, c, s);
            break;
        }
    }
    return 0;
}
