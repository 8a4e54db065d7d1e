/* check_vs_ref.c: vs_ref (docs/DESIGN.md §4.3, §4.5): every forward and backward against
 * the float64 reference over the awkward-shape grid, the race-sized shapes of the threaded
 * backwards and, in the full grid, the shapes past 2048 rows. */
#include "check.h"

#include <string.h>

static const int grid_n_full[] = {1, 2, 3, 7, 17, 64, 65, 100, 257};
static const int grid_d_full[] = {1, 3, 16, 64, 80, 128};
static const int grid_n_quick[] = {1, 2, 3, 7, 17, 65};
static const int grid_d_quick[] = {1, 3, 16, 80};

/* The per-prefix operators cost Theta(N^3 d) in the reference: at N = 257 only two head
 * dims are run (stated in the cell's note, not skipped silently). */
static int grid_case_wanted(ca_op op, int n, int d)
{
    if (op_per_prefix(op) && n > 100) return d == 3 || d == 64;
    return 1;
}

/* Race-sized cases: one head and many 64-row key tiles, so that every thread of a
 * threaded backward adds into query rows other threads add into too (a race there loses
 * or reorders updates; see also check_determ.c). The reference costs Theta(N^2 d) for
 * causal; the per-prefix operators cost Theta(N^3 d) (about 10 s per case at N = 512,
 * d = 3 here, 8x that at N = 1024), so they run N = 512 at d = 3 in the full grid only. */
typedef struct big_case { int n, d; } big_case;
static const big_case big_full[] = {{512, 64}, {1024, 64}};
static const big_case big_quick[] = {{512, 16}, {1024, 16}};
static const big_case big_prefix_full[] = {{512, 3}};

/* Shapes past 2048 rows, full grid only, one head: an index or tile offset kept in a type
 * too narrow for it goes wrong only there. Row operators at 2049 and 4097 (d = 128 at the
 * largest); cubic_last's packed keys hold 2.1 million rows at N = 2049; cubic_shared's
 * reference and naive cost Theta(N^3 d), so N = 2049 runs at d = 1 (where the baseline's
 * three orderings of d are one). cubic has none here: its packed offsets already pass
 * 4096 rows in the grid (N = 257: 33,153 rows). */
static int long_cases(ca_op op, const big_case **out)
{
    static const big_case rows[] = {{2049, 64}, {4097, 128}}, step[] = {{4097, 128}},
                          last[] = {{2049, 3}}, shared[] = {{2049, 1}};
    switch (op) {
    case CA_OP_CAUSAL:
    case CA_OP_FULL: *out = rows; return COUNT_OF(rows);
    case CA_OP_DECODE: *out = step; return COUNT_OF(step);
    case CA_OP_CUBIC_LAST: *out = last; return COUNT_OF(last);
    case CA_OP_CUBIC_SHARED: *out = shared; return COUNT_OF(shared);
    default: *out = NULL; return 0;
    }
}

/* The one-head cases shapes[0..n) of op, case b from seed seed0 + b, each announced
 * (with `why` after its label); each appends its shape to note, the first after `lead`. */
static int one_head_cases(const ca_impl *naive, const ca_impl *const *impls, int count,
                          const verify_opts *o, impl_result *res, ca_op op,
                          const big_case *shapes, int n, uint64_t seed0, const char *why,
                          const char *lead, char *note, size_t cap)
{
    for (int b = 0; b < n; b++) {
        ca_shape sh = {shapes[b].n, shapes[b].d, 1, 0};
        char label[96];
        snprintf(label, sizeof label, "%s N=%d d=%d heads=1", op_name(op), sh.n, sh.d);
        verify_progress(o->progress, "verify: vs_ref %s%s\n", label, why);
        if (run_case(naive, impls, count, CHK_REF, o, res, op, sh, IN_NORMAL, NULL, seed0 + b,
                     label))
            return -1;
        size_t used = strlen(note);
        snprintf(note + used, cap - used, "%sN=%d d=%d", b ? ", " : lead, sh.n, sh.d);
    }
    return 0;
}

int check_vs_ref(const ca_impl *naive, const ca_impl *const *impls, int count,
                 const verify_opts *o, impl_result *res)
{
    const int *ns = o->quick ? grid_n_quick : grid_n_full;
    const int *ds = o->quick ? grid_d_quick : grid_d_full;
    int nn = o->quick ? COUNT_OF(grid_n_quick) : COUNT_OF(grid_n_full);
    int nd = o->quick ? COUNT_OF(grid_d_quick) : COUNT_OF(grid_d_full);
    for (int op = 0; op < CA_OP_COUNT; op++) {
        verify_progress(o->progress, "verify: vs_ref %-12s N up to %d, d up to %d\n",
                        op_name(op), ns[nn - 1], ds[nd - 1]);
        int idx = 0;
        for (int a = 0; a < nn; a++)
            for (int b = 0; b < nd; b++) {
                if (!grid_case_wanted(op, ns[a], ds[b])) continue;
                ca_shape sh = {ns[a], ds[b], 1 + idx % 3, 0}; /* 1, 2, 3 heads in turn */
                char label[96];
                snprintf(label, sizeof label, "%s N=%d d=%d heads=%d", op_name(op), sh.n,
                         sh.d, sh.heads);
                if (run_case(naive, impls, count, CHK_REF, o, res, op, sh, IN_NORMAL, NULL,
                             1000 + idx, label))
                    return -1;
                idx++;
            }
        /* The race-sized cases, for every operator with a backward. */
        const int per_prefix = op_per_prefix(op), has_bwd = ca_op_get(op)->bwd != CA_NO_ENTRY;
        const big_case *big = per_prefix ? (o->quick ? NULL : big_prefix_full)
                                         : (o->quick ? big_quick : big_full);
        int nbig = !has_bwd || !big ? 0
                   : per_prefix     ? COUNT_OF(big_prefix_full)
                   : o->quick       ? COUNT_OF(big_quick)
                                    : COUNT_OF(big_full);
        char big_note[160] = "";
        if (one_head_cases(naive, impls, count, o, res, op, big, nbig, 1500, "",
                           "; heads=1 at ", big_note, sizeof big_note))
            return -1;
        if (has_bwd && per_prefix)
            snprintf(big_note + strlen(big_note), sizeof big_note - strlen(big_note), "%s",
                     o->quick ? "; N>65 in the full grid only" : " (N=1024: reference too slow)");
        const big_case *lng = NULL;
        const int nlong = o->quick ? 0 : long_cases(op, &lng);
        if (one_head_cases(naive, impls, count, o, res, op, lng, nlong, 1600,
                           " (past 2048 rows)", "; past 2048 rows: ", big_note, sizeof big_note))
            return -1;
        nbig += nlong;
        for (int i = 0; i < count; i++) {
            set_note(&res[i].cells[ca_op_get(op)->fwd][CHK_REF], "%d shapes, N<=%d d<=%d%s%s",
                     idx + nbig, ns[nn - 1], ds[nd - 1],
                     per_prefix && !o->quick ? " (N=257 at d=3,64)" : "", big_note);
            if (has_bwd)
                set_note(&res[i].cells[ca_op_get(op)->bwd][CHK_REF], "%d shapes%s", idx + nbig,
                         big_note);
        }
    }
    return 0;
}
