/* format.h: the columns of a CSV file as one table over the C struct of its rows: each
 * column's name, type and field, and for a number the format it is written with. The
 * program that writes a file and every program that reads it back use the same table,
 * so that a column is named and typed once (lib/results holds the suite's). */
#ifndef FORMAT_H
#define FORMAT_H

#include "table.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>

typedef enum csv_type {
    CSV_TEXT,  /* const char *: written as it is (NULL as empty); read as a pointer into
                * the table, which must outlive the record */
    CSV_CHARS, /* char[size]: written as it is; read as a copy, cut to size - 1 */
    CSV_INT,   /* int: an integer, written %d */
    CSV_I64,   /* int64_t: an integer, written %lld */
    CSV_REAL,  /* double: written with the column's format, empty when NaN; read from a
                * finite number (non-finite with CSV_NONFINITE), empty as NaN */
} csv_type;

/* What a reader lets pass. */
enum {
    CSV_OPTIONAL = 1,  /* a file may lack the column: read as an empty field */
    CSV_BLANK = 2,     /* an integer may be empty: read as 0 */
    CSV_NONFINITE = 4, /* a number may be inf or nan */
};

typedef struct csv_column {
    const char *name;
    csv_type type;
    size_t off, size; /* the field in the record; size of a CSV_CHARS array */
    const char *fmt;  /* CSV_REAL: printf format of one double */
    int flags;
} csv_column;

/* A file's columns in order. */
typedef struct csv_format {
    const csv_column *col;
    int count;
} csv_format;

/* One row of a column table: record type T, field f, column name. */
#define CSV_COL_TEXT(T, f, name, flags) {name, CSV_TEXT, offsetof(T, f), 0, NULL, flags}
#define CSV_COL_CHARS(T, f, name, flags) \
    {name, CSV_CHARS, offsetof(T, f), sizeof(((T *)0)->f), NULL, flags}
#define CSV_COL_INT(T, f, name, flags) {name, CSV_INT, offsetof(T, f), 0, NULL, flags}
#define CSV_COL_I64(T, f, name, flags) {name, CSV_I64, offsetof(T, f), 0, NULL, flags}
#define CSV_COL_REAL(T, f, name, fmt, flags) {name, CSV_REAL, offsetof(T, f), 0, fmt, flags}
#define CSV_FORMAT(cols) {cols, (int)(sizeof(cols) / sizeof((cols)[0]))}

/* x where the row has a value, else NaN: a CSV_REAL field left empty. */
static inline double csv_real_if(int has, double x) { return has ? x : NAN; }

/* The most columns a format has. */
enum { CSV_MAX_COLUMNS = 64 };

/* The header line, and one record as a line: every field quoted by libcsv's csv_fwrite. */
void csv_write_header(FILE *f, const csv_format *fmt);
void csv_write_record(FILE *f, const csv_format *fmt, const void *rec);

/* Where each column of fmt stands in t (-1: an optional column the file lacks); 0, or
 * -1 with "WHO: PATH: KIND results lack the column 'NAME'" when a column that is not
 * optional is missing. */
int csv_find_columns(const table *t, const csv_format *fmt, const char *kind, int *idx);
/* Row r of t into the record rec, by the positions csv_find_columns found; 0, or -1 with
 * a message naming file, record and column when a field is not of its column's type. */
int csv_read_record(const table *t, int r, const csv_format *fmt, const int *idx, void *rec);
/* Every row of t into the records rec[0..t->nrows) of `size` bytes each, zeroed first,
 * each then passed to check (NULL: none), which refuses a record with a message and -1.
 * The count of rows, or -1 (a column missing, a field not of its type, a record refused). */
int csv_read_table(const table *t, const csv_format *fmt, const char *kind, void *rec,
                   size_t size, int (*check)(const table *t, int r, void *rec));

#endif
