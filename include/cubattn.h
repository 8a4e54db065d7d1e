/* cubattn.h: the public contract of the cubic-attention suite.
 *
 * Operators (one head; heads are a leading batch dimension), all row-major float32,
 * head dim d, scale s = 1/sqrt(d). See DESIGN.md section 2.
 *
 *   causal        q, k, v, o: [heads][N][d]   lse: [heads][N]
 *   full          q, k, v, o: [heads][N][d]   lse: [heads][N]     (bidirectional)
 *   cubic         q, k, v, o: [heads][T][d]   lse: [heads][T]     T = N(N+1)/2
 *                 prefix t (1..N) holds rows i = 1..t at row ca_prefix_offset(t) + i - 1
 *   cubic_shared  q, k, v: [heads][N][d]      o: [heads][T][d]    lse: [heads][T]
 *   decode step   one causal token against a KV cache [heads][N][d] (N = capacity)
 *
 * An implementation is one file in impls/ defining `const ca_impl ca_impl_<file name>`.
 * Its entry points do the arithmetic only: the ca_* functions below validate every
 * argument before calling one, so an entry point may assume a valid shape, non-NULL
 * buffers and a workspace of the size it asked for.
 */
#ifndef CUBATTN_H
#define CUBATTN_H

#include <stddef.h>

typedef enum ca_status {
    CA_OK = 0,
    CA_ERR_N,            /* N <= 0 */
    CA_ERR_D,            /* d <= 0 */
    CA_ERR_HEADS,        /* heads <= 0 */
    CA_ERR_THREADS,      /* threads <= 0 */
    CA_ERR_NULL,         /* a required tensor pointer is NULL */
    CA_ERR_OVERFLOW,     /* a tensor's byte count does not fit in size_t */
    CA_ERR_WORKSPACE,    /* workspace missing or smaller than the query asked for */
    CA_ERR_STEP,         /* decode position t outside [0, N) */
    CA_ERR_NOT_PROVIDED, /* the implementation lacks this entry point */
    CA_ERR_NOMEM,        /* an allocation failed (harness side) */
    CA_ERR_INTERNAL      /* an implementation reported a failure of its own */
} ca_status;

/* The entry points an implementation may provide. */
typedef enum ca_entry {
    CA_CAUSAL_FWD,
    CA_CAUSAL_BWD,
    CA_FULL_FWD,
    CA_DECODE_STEP,
    CA_CUBIC_FWD,
    CA_CUBIC_BWD,
    CA_SHARED_FWD,
    CA_SHARED_BWD,
    CA_ENTRY_COUNT
} ca_entry;

typedef struct ca_shape {
    int n;      /* sequence length N (decode: cache capacity) */
    int d;      /* head dimension */
    int heads;  /* independent heads, the outermost dimension of every tensor */
} ca_shape;

/* How to run: the threads an implementation may use and the caller-owned scratch. */
typedef struct ca_exec {
    int threads;       /* >= 1; single-threaded implementations ignore it */
    void *ws;          /* workspace of at least the queried size, or NULL if that is 0 */
    size_t ws_bytes;
} ca_exec;

typedef ca_status (*ca_fwd_fn)(ca_shape sh, const ca_exec *ex,
                               const float *q, const float *k, const float *v,
                               float *o, float *lse);
typedef ca_status (*ca_bwd_fn)(ca_shape sh, const ca_exec *ex,
                               const float *q, const float *k, const float *v,
                               const float *o, const float *lse, const float *dout,
                               float *dq, float *dk, float *dv);
/* Decode: write k_t, v_t into row t of the caches, then attend q_t over rows 0..t.
 * q_t, k_t, v_t, o_t: [heads][d]; caches: [heads][N][d]; lse_t: [heads]. */
typedef ca_status (*ca_decode_fn)(ca_shape sh, const ca_exec *ex, int t,
                                  const float *q_t, const float *k_t, const float *v_t,
                                  float *k_cache, float *v_cache,
                                  float *o_t, float *lse_t);
/* Scratch bytes needed by one entry point; SIZE_MAX when the size overflows. */
typedef size_t (*ca_workspace_fn)(ca_entry e, ca_shape sh, int threads);

typedef struct ca_impl {
    const char *name;          /* = the file name in impls/ without .c */
    const char *description;   /* one line */
    const char *absent_reason; /* why some entry points are NULL, or NULL if none is */
    ca_workspace_fn workspace; /* NULL = needs no workspace */
    ca_fwd_fn causal_fwd;
    ca_bwd_fn causal_bwd;
    ca_fwd_fn full_fwd;
    ca_decode_fn decode_step;
    ca_fwd_fn cubic_fwd;
    ca_bwd_fn cubic_bwd;
    ca_fwd_fn shared_fwd;
    ca_bwd_fn shared_bwd;
    /* Optional: a one-line note the harness records (e.g. the BLIS sub-configuration). */
    const char *(*runtime_note)(void);
} ca_impl;

/* Packed layout of the cubic operator: prefix t (1-based) starts at row t(t-1)/2. */
static inline size_t ca_prefix_offset(size_t t) { return t * (t - 1) / 2; }
static inline size_t ca_packed_rows(size_t n) { return n * (n + 1) / 2; }

/* ---- registry ------------------------------------------------------------------ */
int ca_impl_count(void);
const ca_impl *ca_impl_at(int i);
const ca_impl *ca_impl_find(const char *name);   /* NULL if unknown */
const char *ca_impl_names(void);                 /* "naive, blocked, ..." */

/* ---- validated calls ------------------------------------------------------------ */
const char *ca_status_str(ca_status st);
const char *ca_entry_name(ca_entry e);
int ca_impl_provides(const ca_impl *impl, ca_entry e);

/* Rows of the q/k/v inputs, of o/lse outputs, for an entry at sequence length n
 * (0 when n is out of range or the count overflows). */
size_t ca_in_rows(ca_entry e, int n);
size_t ca_out_rows(ca_entry e, int n);

/* Checks N, d, heads and that every tensor of the entry point has a byte count that
 * fits in size_t. */
ca_status ca_check_shape(ca_entry e, ca_shape sh);

/* Workspace bytes for (impl, entry, shape, threads) into *bytes. */
ca_status ca_workspace_bytes(const ca_impl *impl, ca_entry e, ca_shape sh, int threads,
                             size_t *bytes);

ca_status ca_causal_fwd(const ca_impl *impl, ca_shape sh, const ca_exec *ex,
                        const float *q, const float *k, const float *v,
                        float *o, float *lse);
ca_status ca_causal_bwd(const ca_impl *impl, ca_shape sh, const ca_exec *ex,
                        const float *q, const float *k, const float *v,
                        const float *o, const float *lse, const float *dout,
                        float *dq, float *dk, float *dv);
ca_status ca_full_fwd(const ca_impl *impl, ca_shape sh, const ca_exec *ex,
                      const float *q, const float *k, const float *v,
                      float *o, float *lse);
ca_status ca_decode_step(const ca_impl *impl, ca_shape sh, const ca_exec *ex, int t,
                         const float *q_t, const float *k_t, const float *v_t,
                         float *k_cache, float *v_cache, float *o_t, float *lse_t);
ca_status ca_cubic_fwd(const ca_impl *impl, ca_shape sh, const ca_exec *ex,
                       const float *q, const float *k, const float *v,
                       float *o, float *lse);
ca_status ca_cubic_bwd(const ca_impl *impl, ca_shape sh, const ca_exec *ex,
                       const float *q, const float *k, const float *v,
                       const float *o, const float *lse, const float *dout,
                       float *dq, float *dk, float *dv);
ca_status ca_shared_fwd(const ca_impl *impl, ca_shape sh, const ca_exec *ex,
                        const float *q, const float *k, const float *v,
                        float *o, float *lse);
ca_status ca_shared_bwd(const ca_impl *impl, ca_shape sh, const ca_exec *ex,
                        const float *q, const float *k, const float *v,
                        const float *o, const float *lse, const float *dout,
                        float *dq, float *dk, float *dv);

/* Generic dispatch for harnesses: forward entries (causal/full/cubic/shared fwd). */
ca_status ca_run_fwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                     const float *q, const float *k, const float *v,
                     float *o, float *lse);
ca_status ca_run_bwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                     const float *q, const float *k, const float *v,
                     const float *o, const float *lse, const float *dout,
                     float *dq, float *dk, float *dv);

#endif
