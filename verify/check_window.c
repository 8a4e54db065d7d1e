/* check_window.c: window (docs/DESIGN.md §4.10): a per-prefix operator run on a window of
 * its prefixes (ca_shape.first = a: prefixes a..N, their rows alone) against the same
 * implementation's whole call.
 *   - forward: o and lse bit-equal to the slice of the whole call's: each prefix's
 *     arithmetic does not depend on which other prefixes run (the cubic_shared sweep
 *     sweeps the same keys and skips the writes), so anything else is a wrong offset;
 *   - backward of cubic and cubic_last: dq, dk, dv bit-equal to the slice of the whole
 *     backward given dO's slice (each gradient row belongs to one prefix);
 *   - backward of cubic_shared: its shared gradients sum the window's prefixes alone, a
 *     sum the whole call never forms, so it is judged against the float64 reference's
 *     window backward with the tolerance vs_ref holds that entry to (compare.c).
 * Buffers have exactly the window's size (problem.c), NaN-filled before each call, so
 * an overrun shows under AddressSanitizer and an unwritten row fails. The slices are
 * cut here by the layout of cubattn.h, counted on their own (not instance.h's map). */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shapes: N across the 64-row tile (80) and past two (150), two heads. */
typedef struct window_shape { int n, d; } window_shape;
static const window_shape window_shapes[] = {{80, 64}, {150, 16}};

/* The windows of a shape: first = 2 (all but one prefix), N/2 and N (the last alone). */
#define WINDOWS 3
static ca_shape window_of(ca_shape sh, int f)
{
    sh.first = f == 0 ? 2 : f == 1 ? sh.n / 2 : sh.n;
    return sh;
}

/* Where window a of a tensor of row kind r starts in one head of the whole tensor, and
 * how many rows it keeps; the shared N rows (and a step's) do not shrink. */
static size_t window_start(ca_rows r, int a)
{
    return r == CA_ROWS_PACKED ? (size_t)a * (size_t)(a - 1) / 2
           : r == CA_ROWS_LAST ? (size_t)a - 1
                               : 0;
}

static size_t window_count(ca_rows r, int n, int a)
{
    const size_t whole = r == CA_ROWS_PACKED ? (size_t)n * (size_t)(n + 1) / 2 : (size_t)n;
    return whole - window_start(r, a);
}

/* The window's rows of every head of whole ([heads][rows of r at n][width]) into out. */
static void cut_window(const float *whole, ca_rows r, ca_shape sh, int width, float *out)
{
    const size_t all = window_count(r, sh.n, 1), win = window_count(r, sh.n, sh.first);
    const size_t w = (size_t)width;
    for (int h = 0; h < sh.heads; h++)
        memcpy(out + (size_t)h * win * w, whole + ((size_t)h * all + window_start(r, sh.first)) * w,
               win * w * sizeof *out);
}

/* Elements of got (window's tensor) whose bits differ from the slice of whole. */
static size_t differ_from_slice(const float *got, const float *whole, ca_rows r, ca_shape sh,
                                int width, float *slice)
{
    cut_window(whole, r, sh, width, slice);
    return bits_differ(got, slice, window_count(r, sh.n, sh.first) * (size_t)width *
                                       (size_t)sh.heads);
}

/* Window problem pw gets the slices of the whole problem p's inputs. */
static void window_inputs(const problem *p, problem *pw)
{
    const ca_op_info *info = ca_op_get(p->op);
    const int d = p->sh.d;
    cut_window(p->q, info->q_rows, pw->sh, d, pw->q);
    cut_window(p->k, info->kv_rows, pw->sh, d, pw->k);
    cut_window(p->v, info->kv_rows, pw->sh, d, pw->v);
    cut_window(p->dout, info->out_rows, pw->sh, d, pw->dout);
}

/* One window of impl: its forward (and, bitwise, backward) against the slice of whole,
 * the impl's own whole call. slice: scratch of the whole problem's largest tensor. */
static void window_vs_whole(const problem *pw, const ca_impl *impl, const tensors *whole,
                            int threads, int bitwise_bwd, impl_result *res, float *slice,
                            const char *label)
{
    const ca_op_info *info = ca_op_get(pw->op);
    cell *cf = &res->cells[info->fwd][CHK_WINDOW], *cb = &res->cells[info->bwd][CHK_WINDOW];
    const int with_bwd = bitwise_bwd && ca_impl_provides(impl, info->bwd);
    tensors t;
    if (tensors_alloc(pw, &t) != CA_OK) {
        cell_error(cf, CA_ERR_NOMEM, label);
        return;
    }
    ca_status st = problem_run(pw, impl, threads, with_bwd, &t);
    if (st != CA_OK) {
        cell_error(cf, st, label);
        if (with_bwd) cell_error(cb, st, label);
        tensors_free(&t);
        return;
    }
    const int d = pw->sh.d;
    size_t diff = differ_from_slice(t.o, whole->o, info->out_rows, pw->sh, d, slice) +
                  differ_from_slice(t.lse, whole->lse, info->out_rows, pw->sh, 1, slice);
    cell_record(cf, (double)diff, 0.0, "%s: %zu elements of o, lse differ from the whole "
                "call's", label, diff);
    if (with_bwd) {
        diff = differ_from_slice(t.dq, whole->dq, info->q_rows, pw->sh, d, slice) +
               differ_from_slice(t.dk, whole->dk, info->kv_rows, pw->sh, d, slice) +
               differ_from_slice(t.dv, whole->dv, info->kv_rows, pw->sh, d, slice);
        cell_record(cb, (double)diff, 0.0, "%s: %zu elements of dq, dk, dv differ from the "
                    "whole call's", label, diff);
    }
    tensors_free(&t);
}

/* Every window a in {2, N/2, N} of impl on the whole problem p. */
static void impl_windows(const problem *p, const ca_impl *impl, int threads, impl_result *res,
                         const char *label)
{
    const ca_op_info *info = ca_op_get(p->op);
    const int bitwise_bwd = p->op != CA_OP_CUBIC_SHARED;
    const int with_bwd = bitwise_bwd && ca_impl_provides(impl, info->bwd);
    cell *cf = &res->cells[info->fwd][CHK_WINDOW];
    if (!ca_impl_provides(impl, info->fwd)) {
        cell_error(cf, CA_ERR_NOT_PROVIDED, label);
        cell_error(&res->cells[info->bwd][CHK_WINDOW], CA_ERR_NOT_PROVIDED, label);
        return;
    }
    if (bitwise_bwd && !with_bwd)
        cell_error(&res->cells[info->bwd][CHK_WINDOW], CA_ERR_NOT_PROVIDED, label);
    tensors whole;
    size_t largest = p->q_elems > p->kv_elems ? p->q_elems : p->kv_elems;
    largest = largest > p->out_elems ? largest : p->out_elems;
    float *slice = malloc(largest * sizeof *slice);
    ca_status st = slice ? tensors_alloc(p, &whole) : CA_ERR_NOMEM;
    if (st == CA_OK) st = problem_run(p, impl, threads, with_bwd, &whole);
    if (st != CA_OK) {
        cell_error(cf, st, label);
        if (slice) tensors_free(&whole);
        free(slice);
        return;
    }
    for (int f = 0; f < WINDOWS; f++) {
        const ca_shape sh = window_of(p->sh, f);
        char wl[192];
        snprintf(wl, sizeof wl, "%s first=%d", label, sh.first);
        problem pw;
        st = problem_init(&pw, p->op, sh, p->kind, 0);
        if (st != CA_OK) {
            cell_error(cf, st, wl);
            continue;
        }
        window_inputs(p, &pw);
        window_vs_whole(&pw, impl, &whole, threads, bitwise_bwd, res, slice, wl);
        problem_free(&pw);
    }
    tensors_free(&whole);
    free(slice);
}

int check_window(const ca_impl *naive, const ca_impl *const *impls, int count,
                 const verify_opts *o, impl_result *res)
{
    for (int op = 0; op < CA_OP_COUNT; op++) {
        if (!ca_op_has_prefixes(op)) continue;
        const ca_op_info *info = ca_op_get(op);
        for (int s = 0; s < COUNT_OF(window_shapes); s++) {
            const ca_shape sh = {window_shapes[s].n, window_shapes[s].d, 2, 0};
            char label[96];
            snprintf(label, sizeof label, "%s N=%d d=%d heads=2", op_name(op), sh.n, sh.d);
            verify_progress(o->progress, "verify: window %s, first in {2, N/2, N}\n", label);
            const uint64_t seed = 9000 + 10 * (uint64_t)op + (uint64_t)s;
            problem p;
            ca_status st = problem_init(&p, op, sh, IN_NORMAL, o->seed + seed);
            for (int i = 0; i < count; i++) {
                if (st != CA_OK) cell_error(&res[i].cells[info->fwd][CHK_WINDOW], st, label);
                else impl_windows(&p, impls[i], o->threads, &res[i], label);
            }
            problem_free(&p);
            /* cubic_shared's backward: the window against the float64 reference's. */
            if (op == CA_OP_CUBIC_SHARED)
                for (int f = 0; f < WINDOWS; f++) {
                    const ca_shape w = window_of(sh, f);
                    char wl[192];
                    snprintf(wl, sizeof wl, "%s first=%d (vs the reference)", label, w.first);
                    if (run_case(naive, impls, count, CHK_WINDOW, o, res, op, w, IN_NORMAL,
                                 NULL, seed, wl))
                        return -1;
                }
        }
        for (int i = 0; i < count; i++) {
            set_note(&res[i].cells[info->fwd][CHK_WINDOW], "N=80 d=64, N=150 d=16, heads=2, "
                     "first in {2, N/2, N}: bit-equal to the whole call's slice");
            set_note(&res[i].cells[info->bwd][CHK_WINDOW], "N=80 d=64, N=150 d=16, heads=2, "
                     "first in {2, N/2, N}: %s", op == CA_OP_CUBIC_SHARED
                     ? "vs the reference's window, vs_ref's tolerance"
                     : "bit-equal to the whole call's slice");
        }
    }
    return 0;
}
