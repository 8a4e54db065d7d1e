/* check_extreme.c: extreme (docs/DESIGN.md §4.5): softmax-breaking and non-finite inputs
 * against the float64 reference, drawn from several seeds. */
#include "check.h"

#include <stdio.h>

/* Head dims of the extreme inputs: odd (a vector kernel's tail), the common 16, and the
 * wide 64 and 128 (long dot products at logits x1e4). Non-finite inputs at an odd d and
 * 16: their outcome is where NaN/Inf lands, which the tail and the body decide. */
static const int extreme_d[] = {3, 16, 64, 128};
static const int nonfinite_d[] = {3, 16};

static int input_wanted(const verify_opts *o, int bit)
{
    return o->inputs == 0 || (o->inputs >> bit & 1u);
}

/* Seed of the extreme case `base` at seed index si: index 0 is the standard case's. */
static uint64_t extreme_seed(int base, int si) { return (uint64_t)base + 100000u * (uint64_t)si; }

int check_extreme(const ca_impl *naive, const ca_impl *const *impls, int count,
                  const verify_opts *o, impl_result *res)
{
    const int seeds = o->extreme_seeds > 1 ? o->extreme_seeds : 1;
    for (int op = 0; op < CA_OP_COUNT; op++) {
        verify_progress(o->progress, "verify: extreme %-12s (%d seed%s)\n", op_name(op), seeds,
                        seeds > 1 ? "s" : "");
        /* N = 129 crosses every power-of-two tile up to 128 (the register backend's
         * forward key tile), so the softmax state is carried from one key tile to the
         * next; the quick grid's 65 crosses those up to 64 in a quarter of the time; the
         * per-prefix ops use fewer rows. */
        const int n = op_per_prefix(op) ? 33 : o->quick ? 65 : 129;
        const int has_bwd = ca_op_get(op)->bwd != CA_NO_ENTRY;
        int cases = 0;
        for (int si = 0; si < seeds; si++) {
            for (int kind = IN_LOGITS_1E2; kind < IN_COUNT; kind++) {
                if (!input_wanted(o, kind)) continue;
                for (int di = 0; di < COUNT_OF(extreme_d); di++) {
                    ca_shape sh = {n, extreme_d[di], 2, 0};
                    char label[96];
                    snprintf(label, sizeof label, "%s %s N=%d d=%d seed+%d", op_name(op),
                             input_name(kind), n, sh.d, si);
                    if (run_case(naive, impls, count, CHK_EXTREME, o, res, op, sh, kind, NULL,
                                 extreme_seed(2000 + kind, si), label))
                        return -1;
                    cases++;
                }
            }
            if (input_wanted(o, EXTREME_NONFINITE))
                for (int i = 0; i < NONFINITE_COUNT; i++) {
                    nonfinite nf = nonfinite_at(i);
                    if (nf.tensor == NF_DOUT && !has_bwd) continue; /* dO feeds only a backward */
                    for (int di = 0; di < COUNT_OF(nonfinite_d); di++) {
                        ca_shape sh = {n, nonfinite_d[di], 2, 0};
                        char label[96], name[32];
                        snprintf(label, sizeof label, "%s %s N=%d d=%d seed+%d", op_name(op),
                                 nonfinite_name(nf, name, sizeof name), n, sh.d, si);
                        if (run_case(naive, impls, count, CHK_EXTREME, o, res, op, sh, IN_NORMAL,
                                     &nf, extreme_seed(2100 + i, si), label))
                            return -1;
                        cases++;
                    }
                }
        }
        char note[160];
        if (o->inputs)
            snprintf(note, sizeof note, "%d cases (a subset of the input patterns, %d seed%s)",
                     cases, seeds, seeds > 1 ? "s" : "");
        else
            snprintf(note, sizeof note, "%d cases: 5 patterns x d=3,16,64,128; NaN/+-Inf in "
                     "q,k,v%s x element/row x d=3,16; %d seed%s", cases, has_bwd ? ",dO" : "",
                     seeds, seeds > 1 ? "s" : "");
        for (int i = 0; i < count; i++) {
            set_note(&res[i].cells[ca_op_get(op)->fwd][CHK_EXTREME], "%s", note);
            if (has_bwd) set_note(&res[i].cells[ca_op_get(op)->bwd][CHK_EXTREME], "%s", note);
        }
    }
    return 0;
}
