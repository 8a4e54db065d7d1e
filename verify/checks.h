/* checks.h: the verification of docs/DESIGN.md §4 as a table of cells, one per
 * implementation x entry point x check, each PASS / FAIL / not provided / n/a with the
 * worst error seen and the tolerance it was held to. */
#ifndef CHECKS_H
#define CHECKS_H

#include "cubattn.h"

#include <stdint.h>
#include <stdio.h>

typedef enum check_kind {
    CHK_REF,         /* vs the float64 reference over the awkward-shape grid (§4.3, §4.5) */
    CHK_EXTREME,     /* softmax-breaking inputs vs the reference (§4.5) */
    CHK_FD,          /* own directional finite difference of its own forward (§4.3) */
    CHK_EQUIV,       /* inference-equivalence (§4.4) */
    CHK_DETERMINISM, /* bit-identical repeated runs (§4.6) */
    CHK_BADARGS,     /* error codes for bad arguments, never a crash (§4.8) */
    CHK_WINDOW,      /* a window of prefixes == the slice of the whole call (§4.10) */
    CHK_COUNT
} check_kind;

typedef enum cell_status { CELL_NA, CELL_NOT_PROVIDED, CELL_PASS, CELL_FAIL } cell_status;

typedef struct cell {
    cell_status st;
    double err, tol;  /* the case with the largest err / tol */
    int cases;        /* cases recorded */
    char note[200];   /* first failure, or what was covered */
} cell;

typedef struct impl_result {
    const ca_impl *impl;
    cell cells[CA_ENTRY_COUNT][CHK_COUNT];
} impl_result;

typedef struct verify_opts {
    int threads;    /* threads handed to every implementation */
    int quick;      /* the small grid of `make test` */
    FILE *progress; /* one line per stage, or NULL */
    int verbose;    /* also every failing case to progress (a cell keeps only its first) */
    uint64_t seed;  /* added to every case's seed; 0 gives the standard inputs */
    unsigned checks; /* bit (1u << check_kind) runs that check; 0 runs every check */
    /* Input patterns of the extreme check: bit (1 << input_kind) for IN_LOGITS_1E2 ..
     * IN_ZEROS, bit EXTREME_NONFINITE for every non-finite placement; 0 runs them all. */
    uint64_t inputs;
    /* The extreme and non-finite inputs are drawn from this many seeds (seed index i
     * adds 100000 i to the case's own), so that a seed-dependent failure cannot hide;
     * 0 counts as 1. */
    int extreme_seeds;
    /* The same-precision baseline every tolerance rests on; NULL is the registry's
     * "naive". The baseline under test is held to its absolute bound. */
    const ca_impl *baseline;
} verify_opts;
#define EXTREME_NONFINITE 63

const char *check_name(check_kind c);

/* Records one case: passes when err <= tol, both finite (an infinite tolerance would
 * accept anything, a non-finite error is a broken output); the cell keeps the case with
 * the largest err / tol and the note of its first failure. */
void cell_record(cell *c, double err, double tol, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A call that returned st instead of running: not provided, or a FAIL saying `what`. */
void cell_error(cell *c, ca_status st, const char *what);
/* The note of a cell that has not failed. */
void set_note(cell *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cell_status_name(cell_status st);
/* One line of progress to f (NULL: nowhere), flushed so that it shows before a long step. */
void verify_progress(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs every check on impls[0..count-1], results[i] for impls[i]. The baseline (opts;
 * by default the registry's naive) need not be among impls. Returns
 * the number of FAIL cells, or -1 when the baseline or memory is missing. */
int verify_run(const ca_impl *const *impls, int count, const verify_opts *opts,
               impl_result *results);

/* The float64 reference's own central-difference gradient check (§4.2) on every
 * operator with a backward; fills one cell per operator (CA_*_BWD index). */
int verify_reference_gradients(cell cells[CA_ENTRY_COUNT], uint64_t seed, FILE *progress);

#endif
