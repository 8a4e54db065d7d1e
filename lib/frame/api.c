/* api.c: argument validation and dispatch for every entry point of the contract.
 * Implementations trust what reaches them; this file is the one place that does not. */
#include "cubattn.h"

#include <stdint.h>

const char *ca_status_str(ca_status st)
{
    switch (st) {
    case CA_OK: return "ok";
    case CA_ERR_N: return "N must be >= 1";
    case CA_ERR_D: return "d must be >= 1";
    case CA_ERR_HEADS: return "heads must be >= 1";
    case CA_ERR_THREADS: return "threads must be >= 1";
    case CA_ERR_NULL: return "a required tensor pointer is NULL";
    case CA_ERR_OVERFLOW: return "tensor size overflows size_t";
    case CA_ERR_WORKSPACE: return "workspace missing or smaller than queried";
    case CA_ERR_STEP: return "decode position outside [0, N)";
    case CA_ERR_NOT_PROVIDED: return "entry point not provided by this implementation";
    case CA_ERR_NOMEM: return "out of memory";
    case CA_ERR_INTERNAL: return "implementation reported an internal failure";
    case CA_ERR_WINDOW: return "first prefix outside [0, N], or a window of an operator "
                               "without prefixes";
    }
    return "unknown status";
}

int ca_impl_provides(const ca_impl *impl, ca_entry e)
{
    const ca_op op = ca_entry_op(e);
    if (impl == NULL || op == CA_OP_COUNT) return 0;
    switch (ca_entry_pass(e)) {
    case CA_PASS_FWD: return impl->fwd[op] != NULL;
    case CA_PASS_BWD: return impl->bwd[op] != NULL;
    case CA_PASS_STEP: return impl->step != NULL;
    }
    return 0;
}

/* rows * d * heads * sizeof(float) must fit in size_t, for q, k/v and the outputs. */
static int bytes_fit(size_t rows, ca_shape sh)
{
    size_t d = (size_t)sh.d, h = (size_t)sh.heads;
    if (rows == 0) return 0;
    if (d > SIZE_MAX / rows) return 0;
    size_t x = rows * d;
    if (h > SIZE_MAX / x) return 0;
    x *= h;
    return x <= SIZE_MAX / sizeof(float);
}

ca_status ca_check_shape(ca_entry e, ca_shape sh)
{
    if (ca_entry_op(e) == CA_OP_COUNT) return CA_ERR_NOT_PROVIDED;
    if (sh.n <= 0) return CA_ERR_N;
    if (sh.d <= 0) return CA_ERR_D;
    if (sh.heads <= 0) return CA_ERR_HEADS;
    if (sh.first < 0 || sh.first > sh.n ||
        (sh.first > 1 && !ca_op_has_prefixes(ca_entry_op(e))))
        return CA_ERR_WINDOW;
    if (!bytes_fit(ca_shape_q_rows(e, sh), sh) || !bytes_fit(ca_shape_kv_rows(e, sh), sh) ||
        !bytes_fit(ca_shape_out_rows(e, sh), sh))
        return CA_ERR_OVERFLOW;
    /* A step's caches hold N rows. */
    if (ca_op_is_step(ca_entry_op(e)) && !bytes_fit((size_t)sh.n, sh)) return CA_ERR_OVERFLOW;
    return CA_OK;
}

ca_status ca_workspace_bytes(const ca_impl *impl, ca_entry e, ca_shape sh, int threads,
                             size_t *bytes)
{
    if (impl == NULL || bytes == NULL) return CA_ERR_NULL;
    *bytes = 0;
    ca_status st = ca_check_shape(e, sh);
    if (st != CA_OK) return st;
    if (threads <= 0) return CA_ERR_THREADS;
    if (!ca_impl_provides(impl, e)) return CA_ERR_NOT_PROVIDED;
    if (impl->workspace == NULL) return CA_OK;
    size_t w = impl->workspace(e, sh, threads);
    if (w == SIZE_MAX) return CA_ERR_OVERFLOW;
    *bytes = w;
    return CA_OK;
}

/* Everything common to one call: impl and entry present, shape, exec and workspace. */
static ca_status check_call(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex)
{
    if (impl == NULL || ex == NULL) return CA_ERR_NULL;
    if (!ca_impl_provides(impl, e)) return CA_ERR_NOT_PROVIDED;
    size_t need;
    ca_status st = ca_workspace_bytes(impl, e, sh, ex->threads, &need);
    if (st != CA_OK) return st;
    if (need > 0 && (ex->ws == NULL || ex->ws_bytes < need)) return CA_ERR_WORKSPACE;
    return CA_OK;
}

static ca_status check_fwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                           const float *q, const float *k, const float *v,
                           const float *o, const float *lse)
{
    ca_status st = check_call(impl, e, sh, ex);
    if (st != CA_OK) return st;
    if (!q || !k || !v || !o || !lse) return CA_ERR_NULL;
    return CA_OK;
}

static ca_status check_bwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                           const float *q, const float *k, const float *v,
                           const float *o, const float *lse, const float *dout,
                           const float *dq, const float *dk, const float *dv)
{
    ca_status st = check_fwd(impl, e, sh, ex, q, k, v, o, lse);
    if (st != CA_OK) return st;
    if (!dout || !dq || !dk || !dv) return CA_ERR_NULL;
    return CA_OK;
}

ca_status ca_run_fwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                     const float *q, const float *k, const float *v,
                     float *o, float *lse)
{
    if (ca_entry_op(e) == CA_OP_COUNT || ca_entry_pass(e) != CA_PASS_FWD)
        return CA_ERR_NOT_PROVIDED;
    ca_status st = check_fwd(impl, e, sh, ex, q, k, v, o, lse);
    if (st != CA_OK) return st;
    return impl->fwd[ca_entry_op(e)](sh, ex, q, k, v, o, lse);
}

ca_status ca_run_bwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                     const float *q, const float *k, const float *v,
                     const float *o, const float *lse, const float *dout,
                     float *dq, float *dk, float *dv)
{
    if (ca_entry_op(e) == CA_OP_COUNT || ca_entry_pass(e) != CA_PASS_BWD)
        return CA_ERR_NOT_PROVIDED;
    ca_status st = check_bwd(impl, e, sh, ex, q, k, v, o, lse, dout, dq, dk, dv);
    if (st != CA_OK) return st;
    return impl->bwd[ca_entry_op(e)](sh, ex, q, k, v, o, lse, dout, dq, dk, dv);
}

ca_status ca_decode_step(const ca_impl *impl, ca_shape sh, const ca_exec *ex, int t,
                         const float *q_t, const float *k_t, const float *v_t,
                         float *k_cache, float *v_cache, float *o_t, float *lse_t)
{
    ca_status st = check_call(impl, CA_DECODE_STEP, sh, ex);
    if (st != CA_OK) return st;
    if (t < 0 || t >= sh.n) return CA_ERR_STEP;
    if (!q_t || !k_t || !v_t || !k_cache || !v_cache || !o_t || !lse_t) return CA_ERR_NULL;
    return impl->step(sh, ex, t, q_t, k_t, v_t, k_cache, v_cache, o_t, lse_t);
}
