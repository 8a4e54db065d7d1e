/* cubattn.h: the public contract of the cubic-attention suite.
 *
 * Operators (one head; heads are a leading batch dimension), all row-major float32,
 * head dim d, scale s = 1/sqrt(d); docs/DESIGN.md §2 gives the mathematics. Every
 * operator is one row of CA_OPERATORS below: its name, entry points, row counts and
 * FLOP formula are written there once, and verify, bench and report derive their lists,
 * loops and labels from it.
 *
 * An implementation is one file in impls/ defining `const ca_impl ca_impl_<file name>`
 * whose .name is the file name (the build checks both). Its entry points do the
 * arithmetic only: the ca_* functions below validate every argument before calling one,
 * so an entry point may assume a valid shape, non-NULL buffers and a workspace of the
 * size it asked for.
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
    CA_ERR_INTERNAL,     /* an implementation reported a failure of its own */
    CA_ERR_WINDOW        /* first outside [0, N], or > 1 for an operator without prefixes */
} ca_status;

/* The entry points an implementation may provide (the functions of ca_impl). */
typedef enum ca_entry {
    CA_CAUSAL_FWD,
    CA_CAUSAL_BWD,
    CA_FULL_FWD,
    CA_DECODE_STEP,
    CA_CUBIC_FWD,
    CA_CUBIC_BWD,
    CA_SHARED_FWD,
    CA_SHARED_BWD,
    CA_FULL_BWD,
    CA_LAST_FWD,
    CA_LAST_BWD,
    CA_ENTRY_COUNT
} ca_entry;
#define CA_NO_ENTRY CA_ENTRY_COUNT /* an operator without a backward */

/* Rows of a tensor of one head as a function of the sequence length N. */
typedef enum ca_rows {
    CA_ROWS_N,      /* N rows */
    CA_ROWS_PACKED, /* T = N(N+1)/2 rows: prefix t (1..N) holds its rows i = 1..t at row
                       ca_prefix_offset(t) + i - 1 */
    CA_ROWS_ONE,    /* one row: a decode step, whose cache holds N rows */
    CA_ROWS_LAST    /* N rows, one per prefix: row t-1 is prefix t's last position */
} ca_rows;

/* Forward FLOPs of one head (docs/DESIGN.md §3): 4 d times the number of (query, key)
 * pairs the operator's softmax really sees, masked pairs never counted. */
typedef enum ca_pairs {
    CA_PAIRS_TRIANGLE, /* N(N+1)/2: causal */
    CA_PAIRS_SQUARE,   /* N^2: full */
    CA_PAIRS_PREFIXES, /* sum_{t<=N} t^2 = N(N+1)(2N+1)/6: every prefix a full attention */
    CA_PAIRS_ROW       /* N: one query row against N cached keys */
} ca_pairs;

/* The operator table. One row per operator:
 *   X(id, name, forward entry, backward entry, q rows, k/v rows, o/lse rows, pairs)
 * Adding an operator = one row here, its entry points in ca_entry (and in
 * CA_ENTRIES_BY_NAME below), and its
 * float64 reference (cubattn_harness.h); verify, bench and report pick it up. q and k/v
 * have columns of their own because cubic_last reads one query per prefix (N rows)
 * against the packed keys of every prefix (T rows); dq has q's rows, dk and dv k/v's.
 *   causal        q, k, v, o: [heads][N][d]   lse: [heads][N]
 *   full          the same, bidirectional (every query sees every key)
 *   cubic         q, k, v, o: [heads][T][d]   lse: [heads][T]   each prefix its own rows
 *   cubic_shared  q, k, v: [heads][N][d]      o: [heads][T][d]  lse: [heads][T]
 *   cubic_last    q, o: [heads][N][d]  k, v: [heads][T][d] packed as for cubic
 *                 lse: [heads][N]; row t of q, o, lse is prefix t's last position
 *   decode        one causal token against a KV cache [heads][N][d] (N = capacity) */
#define CA_OPERATORS(X)                                                                     \
    X(CA_OP_CAUSAL, "causal", CA_CAUSAL_FWD, CA_CAUSAL_BWD, CA_ROWS_N, CA_ROWS_N,            \
      CA_ROWS_N, CA_PAIRS_TRIANGLE)                                                         \
    X(CA_OP_FULL, "full", CA_FULL_FWD, CA_FULL_BWD, CA_ROWS_N, CA_ROWS_N, CA_ROWS_N,         \
      CA_PAIRS_SQUARE)                                                                      \
    X(CA_OP_CUBIC, "cubic", CA_CUBIC_FWD, CA_CUBIC_BWD, CA_ROWS_PACKED, CA_ROWS_PACKED,      \
      CA_ROWS_PACKED, CA_PAIRS_PREFIXES)                                                    \
    X(CA_OP_CUBIC_SHARED, "cubic_shared", CA_SHARED_FWD, CA_SHARED_BWD, CA_ROWS_N,          \
      CA_ROWS_N, CA_ROWS_PACKED, CA_PAIRS_PREFIXES)                                         \
    X(CA_OP_DECODE, "decode", CA_DECODE_STEP, CA_NO_ENTRY, CA_ROWS_ONE, CA_ROWS_ONE,         \
      CA_ROWS_ONE, CA_PAIRS_ROW)                                                            \
    X(CA_OP_CUBIC_LAST, "cubic_last", CA_LAST_FWD, CA_LAST_BWD, CA_ROWS_LAST,               \
      CA_ROWS_PACKED, CA_ROWS_LAST, CA_PAIRS_TRIANGLE)

typedef enum ca_op {
#define CA_OP_ID(id, name, fwd, bwd, q, kv, out, pairs) id,
    CA_OPERATORS(CA_OP_ID)
#undef CA_OP_ID
    CA_OP_COUNT
} ca_op;

typedef struct ca_op_info {
    const char *name;
    ca_entry fwd, bwd;   /* bwd == CA_NO_ENTRY: no backward */
    ca_rows q_rows, kv_rows, out_rows;
    ca_pairs pairs;
} ca_op_info;

/* The row of op (NULL if out of range); by name (-1 if unknown); the operator an entry
 * point belongs to. */
const ca_op_info *ca_op_get(ca_op op);
int ca_op_parse(const char *name);
ca_op ca_entry_op(ca_entry e);
/* Is op a decode step (one row against a cache)? */
int ca_op_is_step(ca_op op);
/* Is op a per-prefix operator (cubic, cubic_shared, cubic_last: a tensor with a row or
 * rows per prefix), which may be run on a window of its prefixes (ca_shape.first)? */
int ca_op_has_prefixes(ca_op op);
/* Rows of kind r at sequence length n; 0 when n <= 0 or the count overflows size_t. */
size_t ca_rows_of(ca_rows r, int n);
/* Rows of kind r of the window of prefixes first..n (first <= 1: all n, = ca_rows_of):
 * packed, the rows of those prefixes, T(n) - T(first - 1); one per prefix, n - first + 1;
 * the shared N rows and a step's one row do not shrink. 0 when n <= 0, first > n or the
 * count overflows. */
size_t ca_window_rows(ca_rows r, int n, int first);

/* A call's shape. first selects a window of a per-prefix operator's prefixes: the call
 * computes prefixes first..N only (1-based), and its packed and per-prefix tensors hold
 * the rows of those prefixes alone, in the same layout relative to prefix first's row
 * (prefix t starts at packed row ca_prefix_offset(t) - ca_prefix_offset(first); its
 * per-prefix row is t - first); cubic_shared's shared q, k, v (and dq, dk, dv) keep
 * their N rows, the gradients then from the window's prefixes alone. 0 or 1: every
 * prefix (a zero-initialised shape is the whole operator). Prefix-parallel training
 * gives each rank a window (docs/DESIGN.md §2.8). Operators without prefixes refuse
 * first > 1 (CA_ERR_WINDOW). */
typedef struct ca_shape {
    int n;      /* sequence length N (decode: cache capacity) */
    int d;      /* head dimension */
    int heads;  /* independent heads, the outermost dimension of every tensor */
    int first;  /* first prefix computed (per-prefix operators); 0 or 1 = all */
} ca_shape;

/* The first prefix a shape computes: first, or 1 when first is 0. */
static inline int ca_shape_first(ca_shape sh) { return sh.first > 1 ? sh.first : 1; }

/* FLOPs of one call (docs/DESIGN.md §3), heads included: the forward, or with bwd set
 * the backward (2.5 x forward: five products against two). n is the context length of
 * a decode step. ca_shape_flops counts a window's prefixes only. */
double ca_op_flops(ca_op op, int bwd, int n, int d, int heads);
double ca_shape_flops(ca_op op, int bwd, ca_shape sh);

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

/* What an entry point is: an operator's forward, its backward, or a decode step
 * (defined for the entries of CA_OPERATORS, not for CA_NO_ENTRY). */
typedef enum ca_pass { CA_PASS_FWD, CA_PASS_BWD, CA_PASS_STEP } ca_pass;
ca_pass ca_entry_pass(ca_entry e);

/* An implementation: one function per (operator, pass), in tables indexed by ca_op, each
 * of its pass's type, so that the compiler refuses a forward set as a backward:
 *   .fwd[CA_OP_CAUSAL] = causal_fwd, .bwd[CA_OP_CAUSAL] = causal_bwd, ...,
 *   .step = decode_step   (the decode operator's one entry; fwd[CA_OP_DECODE] is unused)
 * An entry left NULL is not provided (.absent_reason says why). An implementation that
 * provides every entry point, each a static function named after it, writes
 * CA_ENTRIES_BY_NAME in its initializer instead. */
typedef struct ca_impl {
    const char *name;          /* = the file name in impls/ without .c */
    const char *description;   /* one line */
    const char *absent_reason; /* why some entry points are NULL, or NULL if none is */
    ca_workspace_fn workspace; /* NULL = needs no workspace */
    ca_fwd_fn fwd[CA_OP_COUNT];
    ca_bwd_fn bwd[CA_OP_COUNT];
    ca_decode_fn step;
    /* Optional: a one-line note the harness records (e.g. the BLIS sub-configuration). */
    const char *(*runtime_note)(void);
} ca_impl;

/* Every entry point, each taken from the function of its name (see ca_impl). An
 * operator added to CA_OPERATORS is added here too. */
#define CA_ENTRIES_BY_NAME                                                                 \
    .fwd = {[CA_OP_CAUSAL] = causal_fwd, [CA_OP_FULL] = full_fwd, [CA_OP_CUBIC] = cubic_fwd, \
            [CA_OP_CUBIC_SHARED] = shared_fwd, [CA_OP_CUBIC_LAST] = last_fwd},              \
    .bwd = {[CA_OP_CAUSAL] = causal_bwd, [CA_OP_FULL] = full_bwd, [CA_OP_CUBIC] = cubic_bwd, \
            [CA_OP_CUBIC_SHARED] = shared_bwd, [CA_OP_CUBIC_LAST] = last_bwd},              \
    .step = decode_step

/* Packed layout (CA_ROWS_PACKED): prefix t (1-based) starts at row t(t-1)/2 (of a
 * window from prefix a: at row t(t-1)/2 - a(a-1)/2). */
static inline size_t ca_prefix_offset(size_t t) { return t * (t - 1) / 2; }
static inline size_t ca_packed_rows(size_t n) { return n * (n + 1) / 2; }

/* ---- registry ------------------------------------------------------------------ */
int ca_impl_count(void);
const ca_impl *ca_impl_at(int i);
const ca_impl *ca_impl_find(const char *name);   /* NULL if unknown */
const char *ca_impl_names(void);                 /* "naive, blocked, ..." */
/* The part of the contract the build cannot see: an implementation with a NULL entry
 * point says why in a non-empty .absent_reason, so that every "not provided" in verify's
 * table and the bench's CSV is explained. ca_impl_check returns 1 when impl keeps it;
 * otherwise 0, with a message naming the implementation and its unexplained NULL entry
 * points in buf (len bytes). ca_registry_check: NULL when every registered implementation
 * keeps it, else the first offender's message (verify and bench refuse to run on it). */
int ca_impl_check(const ca_impl *impl, char *buf, size_t len);
const char *ca_registry_check(void);

/* ---- kernel path ------------------------------------------------------------------ */
/* The instruction set the vector kernels run on: "avx512" or "avx2", the widest this CPU
 * supports, chosen once at first use. The environment variable CA_ISA=avx2 (or any path
 * name returned here; "auto" = unset) forces one; a CA_ISA this build does not have, or
 * this CPU cannot run, ends the process with a message on stderr and exit status 2. */
const char *ca_isa(void);

/* ---- validated calls ------------------------------------------------------------ */
const char *ca_status_str(ca_status st);
/* "<operator>_fwd", "<operator>_bwd", or "<operator>_step" for a decode step. */
const char *ca_entry_name(ca_entry e);
int ca_impl_provides(const ca_impl *impl, ca_entry e);

/* Rows of q (and dq), of k and v (and dk, dv), of o/lse (and dO) of one head for an
 * entry at sequence length n: its operator's rows (0 when n is out of range or the
 * count overflows). */
size_t ca_q_rows(ca_entry e, int n);
size_t ca_kv_rows(ca_entry e, int n);
size_t ca_out_rows(ca_entry e, int n);
/* The same at shape sh, its window of prefixes (sh.first) included. */
size_t ca_shape_q_rows(ca_entry e, ca_shape sh);
size_t ca_shape_kv_rows(ca_entry e, ca_shape sh);
size_t ca_shape_out_rows(ca_entry e, ca_shape sh);

/* Checks N, d, heads, the window (first in [0, N], > 1 only for a per-prefix operator)
 * and that every tensor of the entry point (q, k/v, o) has a byte count that fits in
 * size_t. */
ca_status ca_check_shape(ca_entry e, ca_shape sh);

/* Workspace bytes for (impl, entry, shape, threads) into *bytes. */
ca_status ca_workspace_bytes(const ca_impl *impl, ca_entry e, ca_shape sh, int threads,
                             size_t *bytes);

/* A decode step (ca_decode_fn), validated: t in [0, N). */
ca_status ca_decode_step(const ca_impl *impl, ca_shape sh, const ca_exec *ex, int t,
                         const float *q_t, const float *k_t, const float *v_t,
                         float *k_cache, float *v_cache, float *o_t, float *lse_t);
/* The validated calls: entry e of impl, a forward (CA_PASS_FWD) or a backward
 * (CA_PASS_BWD), on tensors of its operator's shapes (CA_OPERATORS above; cubic_last's
 * q, o, dout, dq: [heads][N][d], its k, v, dk, dv: [heads][T][d], lse: [heads][N]).
 * Every argument is checked before the entry point runs. */
ca_status ca_run_fwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                     const float *q, const float *k, const float *v,
                     float *o, float *lse);
ca_status ca_run_bwd(const ca_impl *impl, ca_entry e, ca_shape sh, const ca_exec *ex,
                     const float *q, const float *k, const float *v,
                     const float *o, const float *lse, const float *dout,
                     float *dq, float *dk, float *dv);

#endif
