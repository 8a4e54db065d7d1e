/* table.h: a CSV file read through libcsv (strict mode) into a header and rows of
 * strings: what every program that reads the results CSVs back starts from. */
#ifndef TABLE_H
#define TABLE_H

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

#endif
