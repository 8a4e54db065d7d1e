/* verify_format.c: the columns of verify.csv (results.h), in the order verify writes
 * them; every one text. A reader needs the check and its status and grid. */
#include "results.h"

#define R verify_record

static const csv_column cols[] = {
    CSV_COL_TEXT(R, impl, "impl", 0),
    CSV_COL_TEXT(R, entry, "entry", 0),
    CSV_COL_TEXT(R, check, "check", 0),
    CSV_COL_TEXT(R, status, "status", 0),
    CSV_COL_TEXT(R, err, "err", CSV_OPTIONAL),
    CSV_COL_TEXT(R, tol, "tol", CSV_OPTIONAL),
    CSV_COL_TEXT(R, note, "note", CSV_OPTIONAL),
    CSV_COL_TEXT(R, grid, "grid", 0),
};

const csv_format verify_format = CSV_FORMAT(cols);
