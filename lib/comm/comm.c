/* comm.c: comm.h on Open MPI. */
#include "comm.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Open MPI keeps for the life of the process much of what MPI_Init and the calls that
 * set up a job allocate, some of it in components MPI_Finalize unloads, whose stacks
 * LeakSanitizer could then not walk to a name to suppress. Under AddressSanitizer those
 * calls run with leak detection off on this thread, and the leak check runs before
 * MPI_Finalize (comm_finish), while the components are loaded: the program's own
 * allocations are all checked, and what Open MPI's threads keep is suppressed by library
 * (tests/lsan.supp). */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
void comm_leaks_ignored_begin(void) { __lsan_disable(); }
void comm_leaks_ignored_end(void) { __lsan_enable(); }
void comm_leak_check_now(void) { __lsan_do_leak_check(); }
#else
void comm_leaks_ignored_begin(void) {}
void comm_leaks_ignored_end(void) {}
void comm_leak_check_now(void) {}
#endif

enum { TAG_TEXT = 101, TAG_SUM = 102 };

static int g_rank, g_size = 1, g_started, g_agreed;
static int g_active = 1;                      /* comm_set_active's k */
static MPI_Comm g_sub = MPI_COMM_NULL;        /* ranks 0..k-1 when k < the job's size */
static const char *g_prog = "program";

int comm_rank(void) { return g_rank; }
int comm_ranks(void) { return g_size; }
int comm_agreed(void) { return g_agreed; }
int comm_active_ranks(void) { return g_active; }

/* The communicator of the active ranks. */
static MPI_Comm active(void) { return g_sub != MPI_COMM_NULL ? g_sub : MPI_COMM_WORLD; }

void comm_nap_ms(long ms)
{
    struct timespec t = {0, ms * 1000 * 1000};
    nanosleep(&t, NULL);
}

/* Completes a request, polling every 10 ms: Open MPI's blocking waits spin on a core,
 * which a rank waiting for the others would take from work still running. */
static void wait_req(MPI_Request *req)
{
    int done = 0;
    while (MPI_Test(req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) comm_nap_ms(10);
}

int comm_start(int *argc, char ***argv, const char *prog)
{
    g_prog = prog;
    /* Started without mpirun, the program is a singleton: one rank, and no daemon of Open
     * MPI's beside it, as it never spawns processes (the user's setting wins). */
    if (!getenv("OMPI_COMM_WORLD_SIZE")) setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
    comm_leaks_ignored_begin();
    const int ok = MPI_Init(argc, argv) == MPI_SUCCESS;
    comm_leaks_ignored_end();
    if (!ok) {
        fprintf(stderr, "%s: MPI_Init failed\n", prog);
        return -1;
    }
    g_started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_active = g_size;
    return 0;
}

int comm_set_active(int k)
{
    if (k < 1 || k > g_size) return -1;
    if (g_sub != MPI_COMM_NULL) MPI_Comm_free(&g_sub);
    if (k < g_size) {
        comm_leaks_ignored_begin();
        MPI_Comm_split(MPI_COMM_WORLD, g_rank < k ? 0 : MPI_UNDEFINED, g_rank, &g_sub);
        comm_leaks_ignored_end();
    }
    g_active = k;
    return 0;
}

void comm_wait_all(void)
{
    if (g_size == 1) return;
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    wait_req(&req);
}

/* ---- agreement ------------------------------------------------------------------- */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The next line of *s (into buf, without its newline); 0 at the end. */
static int next_line(const char **s, char *buf, size_t cap)
{
    if (!**s) return 0;
    const char *e = strchr(*s, '\n');
    const size_t n = e ? (size_t)(e - *s) : strlen(*s);
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), *s);
    *s += n + (e != NULL);
    return 1;
}

/* Rank 0's account of how rank k's text differs from its own: the first lines that do,
 * a "key=value" line by its key. */
static void say_difference(const char *mine, const char *theirs, int k)
{
    int exit0 = 0, exitk = 0;
    if (sscanf(mine, "exit=%d", &exit0) == 1 || sscanf(theirs, "exit=%d", &exitk) == 1) {
        const int who = strncmp(mine, "exit=", 5) == 0 ? 0 : k;
        fprintf(stderr, "%s: rank %d stopped before the ranks agreed on their settings "
                        "(exit %d; its message is above)\n", g_prog, who,
                who == 0 ? exit0 : exitk);
        return;
    }
    const char *a = mine, *b = theirs;
    char la[512], lb[512];
    int shown = 0, more = 0;
    for (;;) {
        const int ha = next_line(&a, la, sizeof la), hb = next_line(&b, lb, sizeof lb);
        if (!ha && !hb) break;
        if (ha && hb && !strcmp(la, lb)) continue;
        if (shown == 4) { more++; continue; }
        shown++;
        const char *ea = ha ? strchr(la, '=') : NULL, *eb = hb ? strchr(lb, '=') : NULL;
        if (ea && eb && ea - la == eb - lb && !strncmp(la, lb, (size_t)(ea - la)))
            fprintf(stderr, "  %.*s: %s on rank 0, %s on rank %d\n", (int)(ea - la), la, ea + 1,
                    eb + 1, k);
        else
            fprintf(stderr, "  rank 0: '%s'; rank %d: '%s'\n", ha ? la : "(nothing)", k,
                    hb ? lb : "(nothing)");
    }
    if (more) fprintf(stderr, "  and %d more line(s)\n", more);
}

int comm_agree(const char *text, const char *hint)
{
    g_agreed = 1; /* from here on every rank goes on to comm_finish together */
    if (g_size == 1) return 0;
    const uint64_t h = fnv1a(text);
    uint64_t *all = malloc((size_t)g_size * sizeof *all);
    if (!all) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Request req;
    MPI_Iallgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    wait_req(&req);
    int differ = 0;
    for (int k = 1; k < g_size; k++) differ += all[k] != all[0];
    if (differ && g_rank > 0 && all[g_rank] != all[0]) {
        const int len = (int)strlen(text) + 1;
        MPI_Send(&len, 1, MPI_INT, 0, TAG_TEXT, MPI_COMM_WORLD);
        MPI_Send(text, len, MPI_CHAR, 0, TAG_TEXT, MPI_COMM_WORLD);
    }
    if (differ && g_rank == 0) {
        fprintf(stderr, "%s: refused before any work: the %d ranks were not given the same "
                        "settings (%d differ from rank 0):\n", g_prog, g_size, differ);
        for (int k = 1; k < g_size; k++) {
            if (all[k] == all[0]) continue;
            int len;
            MPI_Recv(&len, 1, MPI_INT, k, TAG_TEXT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            char *theirs = malloc((size_t)len);
            if (!theirs) MPI_Abort(MPI_COMM_WORLD, 1);
            MPI_Recv(theirs, len, MPI_CHAR, k, TAG_TEXT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            say_difference(text, theirs, k);
            free(theirs);
        }
        if (hint) fprintf(stderr, "%s: %s\n", g_prog, hint);
    } else if (differ) {
        fprintf(stderr, "%s (rank %d of %d): refused, exit 2 (rank 0 says why)\n", g_prog,
                g_rank, g_size);
    }
    free(all);
    return differ ? 2 : 0;
}

/* ---- sums ------------------------------------------------------------------------- */

/* Floats per piece of the chain: large enough that a message's latency is small beside
 * its transfer, small enough that the chain's ranks overlap (a quarter megabyte). */
enum { PIECE = 1 << 16 };

long long comm_sum_in_rank_order(float *x, size_t n, double *y, size_t ny)
{
    const int K = g_active;
    if (K == 1) return 0;
    const MPI_Comm c = active();
    const int prev = g_rank - 1, next = g_rank + 1 < K ? g_rank + 1 : -1;
    float *in = malloc((n < PIECE ? n : PIECE) * sizeof *in + 1);
    double *iny = malloc(ny * sizeof *iny + 1);
    if (!in || !iny) {
        fprintf(stderr, "%s: out of memory for the sum across ranks\n", g_prog);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* Down the chain: rank r receives the sum of ranks 0..r-1, adds its own after it
     * and passes the piece on. */
    for (size_t at = 0; at < n; at += PIECE) {
        const int len = (int)(n - at < PIECE ? n - at : PIECE);
        if (prev >= 0) {
            MPI_Recv(in, len, MPI_FLOAT, prev, TAG_SUM, c, MPI_STATUS_IGNORE);
            for (int i = 0; i < len; i++) x[at + i] = in[i] + x[at + i];
        }
        if (next >= 0) MPI_Send(x + at, len, MPI_FLOAT, next, TAG_SUM, c);
    }
    if (ny > 0) {
        if (prev >= 0) {
            MPI_Recv(iny, (int)ny, MPI_DOUBLE, prev, TAG_SUM, c, MPI_STATUS_IGNORE);
            for (size_t i = 0; i < ny; i++) y[i] = iny[i] + y[i];
        }
        if (next >= 0) MPI_Send(y, (int)ny, MPI_DOUBLE, next, TAG_SUM, c);
    }
    free(in);
    free(iny);
    /* The last rank holds the sum: to every rank (a broadcast copies, it adds nothing). */
    for (size_t at = 0; at < n; at += PIECE) {
        const int len = (int)(n - at < PIECE ? n - at : PIECE);
        MPI_Bcast(x + at, len, MPI_FLOAT, K - 1, c);
    }
    if (ny > 0) MPI_Bcast(y, (int)ny, MPI_DOUBLE, K - 1, c);
    const long long bytes = (long long)(n * sizeof *x + ny * sizeof *y);
    return 2 * (long long)(K - 1) * bytes; /* the chain's K-1 hops, the broadcast's */
}

void comm_abort(int rc)
{
    fflush(NULL);
    if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    exit(rc);
}

double comm_max(double v)
{
    double m = v;
    if (g_active > 1) MPI_Allreduce(&v, &m, 1, MPI_DOUBLE, MPI_MAX, active());
    return m;
}

void comm_barrier(void)
{
    if (g_active > 1) MPI_Barrier(active());
}

int comm_say_exit(int rc)
{
    if (g_started && g_size > 1 && !g_agreed) {
        /* stopped before the settings were compared: the others learn it there */
        char text[32];
        snprintf(text, sizeof text, "exit=%d\n", rc);
        if (comm_agree(text, NULL) != 0 && rc == 0) rc = 2;
    }
    return rc;
}

int comm_finish(int rc)
{
    if (!g_started) return rc;
    rc = comm_say_exit(rc);
    if (g_sub != MPI_COMM_NULL) MPI_Comm_free(&g_sub);
    comm_leak_check_now(); /* exits 1 on a leak */
    MPI_Finalize();
    g_started = 0;
    return rc;
}
