/* table.c: one CSV file read through libcsv (strict mode) into a header and rows of
 * strings. A record whose field count differs from the header's, a parse error or an
 * empty file is reported with the file and record number. */
#include "table.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    table *t;
    char **cur;      /* fields of the record being read */
    int ncur, capcur;
    int record;      /* 1-based number of the record being read */
    int bad;         /* first problem seen */
    char msg[256];
} reader;

static char *dup_field(const void *s, size_t len)
{
    char *x = malloc(len + 1);
    if (x) {
        memcpy(x, s, len);
        x[len] = '\0';
    }
    return x;
}

static void on_field(void *s, size_t len, void *data)
{
    reader *r = data;
    if (r->bad) return;
    if (r->ncur == r->capcur) {
        int cap = r->capcur ? 2 * r->capcur : 32;
        char **x = realloc(r->cur, (size_t)cap * sizeof *x);
        if (!x) {
            r->bad = 1;
            snprintf(r->msg, sizeof r->msg, "out of memory");
            return;
        }
        r->cur = x;
        r->capcur = cap;
    }
    char *f = dup_field(s ? s : "", s ? len : 0);
    if (!f) {
        r->bad = 1;
        snprintf(r->msg, sizeof r->msg, "out of memory");
        return;
    }
    r->cur[r->ncur++] = f;
}

static void free_fields(char **f, int n)
{
    for (int i = 0; i < n; i++) free(f[i]);
    free(f);
}

static void on_record(int c, void *data)
{
    (void)c;
    reader *r = data;
    if (r->bad) return;
    table *t = r->t;
    char **fields = realloc(r->cur, (size_t)(r->ncur ? r->ncur : 1) * sizeof *fields);
    if (!fields) fields = r->cur;
    int n = r->ncur;
    r->cur = NULL;
    r->ncur = r->capcur = 0;
    if (r->record == 1) {
        t->header = fields;
        t->ncols = n;
    } else if (n != t->ncols) {
        r->bad = 1;
        snprintf(r->msg, sizeof r->msg, "record %d has %d fields, the header has %d",
                 r->record, n, t->ncols);
        free_fields(fields, n);
        return;
    } else {
        char ***rows = realloc(t->rows, (size_t)(t->nrows + 1) * sizeof *rows);
        if (!rows) {
            r->bad = 1;
            snprintf(r->msg, sizeof r->msg, "out of memory");
            free_fields(fields, n);
            return;
        }
        t->rows = rows;
        t->rows[t->nrows++] = fields;
    }
    r->record++;
}

int table_read(const char *who, const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    t->path = dup_field(path, strlen(path));
    t->who = who;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot read '%s': %s\n", who, path, strerror(errno));
        return -1;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        fclose(f);
        fprintf(stderr, "%s: cannot initialise the CSV parser\n", who);
        return -1;
    }
    reader r;
    memset(&r, 0, sizeof r);
    r.t = t;
    r.record = 1;
    char buf[65536];
    size_t got, offset = 0;
    int parse_err = 0;
    while (!r.bad && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        size_t used = csv_parse(&p, buf, got, on_field, on_record, &r);
        if (used != got) {
            parse_err = 1;
            offset += used;
            break;
        }
        offset += got;
    }
    int read_err = ferror(f);
    fclose(f);
    if (!parse_err && !r.bad && !read_err && csv_fini(&p, on_field, on_record, &r) != 0)
        parse_err = 1;
    if (parse_err && !r.bad) {
        r.bad = 1;
        snprintf(r.msg, sizeof r.msg, "malformed CSV in record %d near byte %zu (%s)",
                 r.record, offset, csv_strerror(csv_error(&p)));
    }
    csv_free(&p);
    free_fields(r.cur, r.ncur);
    if (read_err && !r.bad) {
        r.bad = 1;
        snprintf(r.msg, sizeof r.msg, "read error");
    }
    if (!r.bad && t->ncols == 0) {
        r.bad = 1;
        snprintf(r.msg, sizeof r.msg, "empty file, no header row");
    }
    if (r.bad) {
        fprintf(stderr, "%s: %s: %s\n", who, path, r.msg);
        return -1;
    }
    return 0;
}

int table_col(const table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->header[c], name) == 0) return c;
    return -1;
}

void table_free(table *t)
{
    for (int r = 0; r < t->nrows; r++) free_fields(t->rows[r], t->ncols);
    free(t->rows);
    free_fields(t->header, t->ncols);
    free(t->path);
    memset(t, 0, sizeof *t);
}
