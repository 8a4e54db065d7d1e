/* csv_out.h: a results CSV as the suite writes it (libcsv: every field quoted): rows go to
 * a temp file beside the destination, renamed over it only when the writer commits, so
 * that an interrupted run never leaves a file that looks complete. */
#ifndef CSV_OUT_H
#define CSV_OUT_H

#include "format.h"

typedef struct csv_out csv_out;

/* Creates the temp file beside path and writes the header of fmt; NULL with a message
 * "WHO: ..." on stderr when it cannot. While it is open, SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT remove the temp file before they end the process, unless the program ignores
 * or handles the signal itself (one writer at a time catches them). */
csv_out *csv_out_open(const char *who, const char *path, const csv_format *fmt);
/* One record, written and flushed; 0, or -1 with a message on a write error. */
int csv_out_record(csv_out *c, const void *rec);
/* Flushes, syncs, closes and renames over the destination; 0 on success, else -1 with
 * a message and the temp file removed. */
int csv_out_commit(csv_out *c);
/* Removes the temp file (error paths). */
void csv_out_abort(csv_out *c);

#endif
