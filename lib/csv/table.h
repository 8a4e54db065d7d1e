/* table.h: a CSV file read through libcsv (strict mode) into a header and rows of
 * strings: what every program that reads the results CSVs back starts from. */
#ifndef TABLE_H
#define TABLE_H

typedef struct table {
    char *path;
    const char *who; /* the program reading it, for its messages */
    int ncols;
    char **header;
    int nrows;
    char ***rows;  /* rows[r][c], NUL-terminated strings */
} table;

/* Reads and checks a CSV (every record has the header's field count). Returns 0, or -1
 * with a message "WHO: ..." naming the file and record on stderr. */
int table_read(const char *who, const char *path, table *t);
int table_col(const table *t, const char *name); /* -1 if absent */
void table_free(table *t);

#endif
