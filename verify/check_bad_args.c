/* check_bad_args.c: bad_args (docs/DESIGN.md §4.8): every entry point answers each bad
 * argument with its own error code, never a crash. */
#include "check.h"

#include <limits.h>
#include <stdlib.h>

/* Calls entry e with the given shape and buffers; buffers are large enough for a 4x4x1
 * problem, which the bad shapes never reach because validation stops them first. */
static ca_status call_entry(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                            float *buf, int null_q, int t)
{
    float *q = null_q ? NULL : buf, *k = buf + 64, *v = buf + 128, *o = buf + 192;
    float *lse = buf + 256, *dout = buf + 320, *dq = buf + 384, *dk = buf + 448, *dv = buf + 512;
    float *kc = buf + 576, *vc = buf + 640;
    const ca_op op = ca_entry_op(e);
    if (op == CA_OP_COUNT) return CA_ERR_NOT_PROVIDED;
    if (ca_op_is_step(op)) return ca_decode_step(impl, sh, ex, t, q, k, v, kc, vc, o, lse);
    if (ca_op_get(op)->fwd == e) return ca_run_fwd(impl, e, sh, ex, q, k, v, o, lse);
    return ca_run_bwd(impl, e, sh, ex, q, k, v, o, lse, dout, dq, dk, dv);
}

void check_bad_args(const ca_impl *const *impls, int count, const verify_opts *o,
                    impl_result *res)
{
    verify_progress(o->progress, "verify: bad arguments\n");
    static float buf[1024];
    const ca_shape ok = {2, 4, 1, 0};
    struct { const char *what; ca_shape sh; int null_q, threads, t, small_ws; ca_status want; } cases[] = {
        {"N=0", {0, 4, 1, 0}, 0, 1, 0, 0, CA_ERR_N},
        {"N=-5", {-5, 4, 1, 0}, 0, 1, 0, 0, CA_ERR_N},
        {"d=0", {2, 0, 1, 0}, 0, 1, 0, 0, CA_ERR_D},
        {"heads=0", {2, 4, 0, 0}, 0, 1, 0, 0, CA_ERR_HEADS},
        {"q=NULL", ok, 1, 1, 0, 0, CA_ERR_NULL},
        {"threads=0", ok, 0, 0, 0, 0, CA_ERR_THREADS},
        {"size overflow", {INT_MAX, INT_MAX, INT_MAX, 0}, 0, 1, 0, 0, CA_ERR_OVERFLOW},
        {"workspace too small", ok, 0, 1, 0, 1, CA_ERR_WORKSPACE},
        {"decode t=-1", ok, 0, 1, -1, 0, CA_ERR_STEP},
        {"decode t=N", ok, 0, 1, 2, 0, CA_ERR_STEP},
    };
    for (int i = 0; i < count; i++)
        for (int e = 0; e < CA_ENTRY_COUNT; e++) {
            cell *c = &res[i].cells[e][CHK_BADARGS];
            if (!ca_impl_provides(impls[i], e)) {
                cell_error(c, CA_ERR_NOT_PROVIDED, "");
                continue;
            }
            size_t need = 0;
            ca_workspace_bytes(impls[i], e, ok, 1, &need);
            void *ws = malloc(need + 1);
            if (!ws) {
                cell_error(c, CA_ERR_NOMEM, "bad_args workspace");
                continue;
            }
            for (int k = 0; k < COUNT_OF(cases); k++) {
                if (cases[k].t != 0 && e != CA_DECODE_STEP) continue;
                if (cases[k].small_ws && need == 0) continue; /* nothing to undersize */
                ca_exec ex = {cases[k].threads, ws, cases[k].small_ws ? need - 1 : need};
                ca_status got = call_entry(impls[i], e, cases[k].sh, &ex, buf, cases[k].null_q,
                                           cases[k].t);
                cell_record(c, got == cases[k].want ? 0.0 : 1.0, 0.0,
                            "%s: got '%s', want '%s'", cases[k].what, ca_status_str(got),
                            ca_status_str(cases[k].want));
            }
            free(ws);
        }
}
