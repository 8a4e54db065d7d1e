/* cell.c: one benchmark cell, i.e. (implementation, operator, pass, N, threads):
 * allocate the working buffers (inputs, outputs and the workspace the implementation
 * asks for), warm up, repeat until the time budget, then check the output against the
 * float64 reference when that is affordable. */
#include "bench.h"
#include "clock.h"
#include "cubattn_harness.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Element counts of a cell's tensors. */
typedef struct sizes {
    ca_shape sh;
    ca_entry fe, be;    /* forward (or decode) entry, backward entry or CA_NO_ENTRY */
    int need_bwd;
    double q, kv, out, lse; /* float elements: q (and dq); each of k, v (and dk, dv);
                               o (and dout); lse */
    double cache;        /* decode: each of the two caches */
} sizes;

/* Rows of kind r at N, in double: ca_rows_of returns 0 when the count overflows size_t,
 * and the memory check must see the true size. */
static double rows_d(ca_rows r, double N)
{
    return r == CA_ROWS_PACKED ? N * (N + 1) / 2 : r == CA_ROWS_ONE ? 1.0 : N;
}

static sizes cell_sizes(ca_op op, bpass p, ca_shape sh)
{
    const ca_op_info *info = ca_op_get(op);
    sizes z;
    memset(&z, 0, sizeof z);
    z.sh = sh;
    z.fe = info->fwd;
    z.be = bpass_runs_bwd(p) ? info->bwd : CA_NO_ENTRY;
    z.need_bwd = z.be != CA_NO_ENTRY;
    const double d = sh.d, h = sh.heads, N = sh.n;
    z.q = rows_d(info->q_rows, N) * d * h;
    z.kv = rows_d(info->kv_rows, N) * d * h;
    z.out = rows_d(info->out_rows, N) * d * h;
    z.lse = rows_d(info->out_rows, N) * h;
    if (ca_op_is_step(op)) z.cache = N * d * h;
    return z;
}

/* Workspace bytes of the cell's entries (the larger of forward and backward). */
static ca_status cell_ws(const ca_impl *impl, const sizes *z, int threads, size_t *ws)
{
    size_t a = 0, b = 0;
    ca_status st = ca_workspace_bytes(impl, z->fe, z->sh, threads, &a);
    if (st != CA_OK) return st;
    if (z->need_bwd) {
        st = ca_workspace_bytes(impl, z->be, z->sh, threads, &b);
        if (st != CA_OK) return st;
    }
    *ws = a > b ? a : b;
    return CA_OK;
}

static double tensor_bytes(const sizes *z)
{
    double f = z->q + 2 * z->kv + z->out + z->lse + 2 * z->cache;
    if (z->need_bwd) f += z->out + z->q + 2 * z->kv; /* dout; dq, dk, dv */
    return f * sizeof(float);
}

double cell_bytes(const ca_impl *impl, ca_op op, bpass p, ca_shape sh, int threads)
{
    sizes z = cell_sizes(op, p, sh);
    double t = tensor_bytes(&z);
    if (t > (double)SIZE_MAX / 2) return -1;
    size_t ws = 0;
    ca_status st = cell_ws(impl, &z, threads, &ws);
    if (st == CA_ERR_OVERFLOW) return -1;
    return t + (double)ws;
}

/* ---- buffers ----------------------------------------------------------------------- */

typedef struct buffers {
    float *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv, *kc, *vc;
    void *ws;
    size_t ws_bytes;
} buffers;

static void *alloc_floats(double count)
{
    size_t bytes = (size_t)count * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    return aligned_alloc(64, bytes);
}

static void buffers_free(buffers *b)
{
    float **all[] = {&b->q, &b->k, &b->v, &b->o, &b->lse, &b->dout,
                     &b->dq, &b->dk, &b->dv, &b->kc, &b->vc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
    free(b->ws);
    b->ws = NULL;
}

/* Input tensors of a cell: one stream of the harness generator each. Uniform: the
 * cheapest unit-variance draw for the hundreds of millions of elements of a cubic cell. */
static void fill(float *x, double count, uint64_t seed, int which)
{
    ca_fill(x, (size_t)count, CA_DIST_UNIFORM, 1.0, seed * 8 + (uint64_t)which, 0);
}

static int buffers_alloc(const sizes *z, size_t ws_bytes, uint64_t seed, buffers *b)
{
    memset(b, 0, sizeof *b);
    b->q = alloc_floats(z->q);
    b->k = alloc_floats(z->kv);
    b->v = alloc_floats(z->kv);
    b->o = alloc_floats(z->out);
    b->lse = alloc_floats(z->lse);
    int ok = b->q && b->k && b->v && b->o && b->lse;
    if (z->need_bwd) {
        b->dout = alloc_floats(z->out);
        b->dq = alloc_floats(z->q);
        b->dk = alloc_floats(z->kv);
        b->dv = alloc_floats(z->kv);
        ok = ok && b->dout && b->dq && b->dk && b->dv;
    }
    if (z->cache > 0) {
        b->kc = alloc_floats(z->cache);
        b->vc = alloc_floats(z->cache);
        ok = ok && b->kc && b->vc;
    }
    if (ws_bytes > 0) {
        b->ws = aligned_alloc(64, (ws_bytes + 63) / 64 * 64);
        b->ws_bytes = ws_bytes;
        ok = ok && b->ws;
    }
    if (!ok) {
        buffers_free(b);
        return -1;
    }
    fill(b->q, z->q, seed, 0);
    fill(b->k, z->kv, seed, 1);
    fill(b->v, z->kv, seed, 2);
    memset(b->o, 0, (size_t)z->out * sizeof(float));
    memset(b->lse, 0, (size_t)z->lse * sizeof(float));
    if (z->need_bwd) {
        fill(b->dout, z->out, seed, 3);
        memset(b->dq, 0, (size_t)z->q * sizeof(float));
        memset(b->dk, 0, (size_t)z->kv * sizeof(float));
        memset(b->dv, 0, (size_t)z->kv * sizeof(float));
    }
    if (z->cache > 0) { /* the cache as t-1 earlier decode steps would have left it */
        fill(b->kc, z->cache, seed, 4);
        fill(b->vc, z->cache, seed, 5);
    }
    if (b->ws) memset(b->ws, 0, ws_bytes);
    return 0;
}

/* ---- one call ---------------------------------------------------------------------- */

typedef struct call {
    const ca_impl *impl;
    const sizes *z;
    bpass pass;
    ca_exec ex;
    buffers *b;
} call;

static ca_status call_fwd(const call *c)
{
    const buffers *b = c->b;
    if (c->z->cache > 0)
        return ca_decode_step(c->impl, c->z->sh, &c->ex, c->z->sh.n - 1, b->q, b->k, b->v,
                              b->kc, b->vc, b->o, b->lse);
    return ca_run_fwd(c->impl, c->z->fe, c->z->sh, &c->ex, b->q, b->k, b->v, b->o, b->lse);
}

static ca_status call_bwd(const call *c)
{
    const buffers *b = c->b;
    return ca_run_bwd(c->impl, c->z->be, c->z->sh, &c->ex, b->q, b->k, b->v, b->o, b->lse,
                      b->dout, b->dq, b->dk, b->dv);
}

/* The timed unit of the pass. */
static ca_status call_once(const call *c)
{
    ca_status st;
    if (c->pass == BP_BWD) return call_bwd(c);
    st = call_fwd(c);
    return st != CA_OK || !bpass_runs_bwd(c->pass) ? st : call_bwd(c);
}

/* ---- error against the float64 reference ------------------------------------------ */

/* Decode: the step at position t = n-1 against cache rows 0..t, in double. */
static double decode_err(const sizes *z, const buffers *b)
{
    const size_t cache = (size_t)z->cache, row = (size_t)z->out;
    double *q = ca_to_double(b->q, row), *kc = ca_to_double(b->kc, cache);
    double *vc = ca_to_double(b->vc, cache), *o = malloc(row * sizeof *o);
    double *lse = malloc((size_t)z->lse * sizeof *lse);
    double err = -1;
    if (q && kc && vc && o && lse &&
        ca_ref_decode_step(z->sh, z->sh.n - 1, q, kc, vc, o, lse) == CA_OK)
        err = ca_rel_err(b->o, o, row);
    free(q); free(kc); free(vc); free(o); free(lse);
    return err;
}

static double max2(double a, double b) { return a > b ? a : b; }

/* Returns the relative error of the cell's outputs, or -1 if it could not be computed. */
static double reference_err(const sizes *z, bpass pass, const buffers *b)
{
    if (z->cache > 0) return decode_err(z, b);
    double *q = ca_to_double(b->q, (size_t)z->q), *k = ca_to_double(b->k, (size_t)z->kv);
    double *v = ca_to_double(b->v, (size_t)z->kv);
    double *o = malloc((size_t)z->out * sizeof *o), *lse = malloc((size_t)z->lse * sizeof *lse);
    double *dout = NULL, *dq = NULL, *dk = NULL, *dv = NULL;
    double err = -1;
    if (!q || !k || !v || !o || !lse) goto done;
    if (ca_ref_fwd(z->fe, z->sh, q, k, v, o, lse) != CA_OK) goto done;
    err = 0;
    if (pass != BP_BWD) err = ca_rel_err(b->o, o, (size_t)z->out);
    if (z->need_bwd) {
        dout = ca_to_double(b->dout, (size_t)z->out);
        dq = malloc((size_t)z->q * sizeof *dq);
        dk = malloc((size_t)z->kv * sizeof *dk);
        dv = malloc((size_t)z->kv * sizeof *dv);
        if (!dout || !dq || !dk || !dv ||
            ca_ref_bwd(z->be, z->sh, q, k, v, o, lse, dout, dq, dk, dv) != CA_OK) {
            err = -1;
            goto done;
        }
        err = max2(err, ca_rel_err(b->dq, dq, (size_t)z->q));
        err = max2(err, ca_rel_err(b->dk, dk, (size_t)z->kv));
        err = max2(err, ca_rel_err(b->dv, dv, (size_t)z->kv));
    }
done:
    free(q);
    free(k);
    free(v);
    free(o);
    free(lse);
    free(dout);
    free(dq);
    free(dk);
    free(dv);
    return err;
}

/* ---- the cell ---------------------------------------------------------------------- */

static void set_error(bench_row *row, ca_status st, const char *where)
{
    snprintf(row->status, sizeof row->status, "error: %s%s%s", where, *where ? ": " : "",
             ca_status_str(st));
}

struct cell_ctx {
    ca_op op;
    sizes z;
    buffers b;
    call c;
};

/* The cell's buffers, allocated and filled, and its call; NULL with row->status set. */
static cell_ctx *cell_alloc(const bench_config *cfg, const ca_impl *impl, ca_op op, bpass p,
                            int n, int threads, bench_row *row)
{
    cell_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        set_error(row, CA_ERR_NOMEM, "");
        return NULL;
    }
    ca_shape sh = {n, cfg->d, cfg->heads, 0};
    x->op = op;
    x->z = cell_sizes(op, p, sh);
    size_t ws = 0;
    ca_status st = cell_ws(impl, &x->z, threads, &ws);
    if (st != CA_OK) {
        set_error(row, st, "workspace query");
        free(x);
        return NULL;
    }
    omp_set_num_threads(threads);
    if (buffers_alloc(&x->z, ws, cfg->seed + (uint64_t)n * 7919u, &x->b) != 0) {
        set_error(row, CA_ERR_NOMEM, "allocating buffers");
        free(x);
        return NULL;
    }
    x->c = (call){impl, &x->z, p, {threads, x->b.ws, x->b.ws_bytes}, &x->b};
    return x;
}

/* A backward pass needs the forward's o and lse: computed once, untimed. */
static int prime_backward(cell_ctx *x, bench_row *row)
{
    ca_status st;
    if (x->c.pass == BP_BWD && (st = call_fwd(&x->c)) != CA_OK) {
        set_error(row, st, "forward before backward");
        return -1;
    }
    return 0;
}

/* One untimed call, which also tells how many calls one repetition needs to last >= 1 ms
 * (one for a cold cell: each call is timed after its own eviction). 0 when it failed. */
static long warm_up(cell_ctx *x, int cold, bench_row *row)
{
    const double t0 = now_seconds();
    const ca_status st = call_once(&x->c);
    if (st != CA_OK) {
        set_error(row, st, "");
        return 0;
    }
    const double tw = now_seconds() - t0;
    long inner = 1;
    if (tw < 1e-3) inner = tw > 0 ? (long)ceil(1e-3 / tw) : 1000;
    if (inner > 100000) inner = 100000;
    return cold ? 1 : inner;
}

/* Every buffer of the cell out of every cache level (a decode step: a model reaches the
 * step's cache again only after every other layer's, so it comes from memory). */
static void evict(const cell_ctx *x)
{
    const buffers *b = &x->b;
    const sizes *z = &x->z;
    void *ptr[] = {b->q, b->k, b->v, b->o, b->lse, b->kc, b->vc, b->ws};
    const size_t bytes[] = {
        (size_t)z->q * sizeof(float), (size_t)z->kv * sizeof(float),
        (size_t)z->kv * sizeof(float), (size_t)z->out * sizeof(float),
        (size_t)z->lse * sizeof(float), (size_t)z->cache * sizeof(float),
        (size_t)z->cache * sizeof(float), b->ws_bytes};
    roof_evict(ptr, bytes, (int)(sizeof ptr / sizeof ptr[0]));
}

/* Timed repetitions of `inner` calls each, the time of one call of each into times:
 * until rep_time is timed over at least MIN_REPS (on this shared VM two back-to-back
 * runs of one cell differ by 10-30%, and a median of 2 or 3 follows that noise), and
 * never one that would take the cell past its budget, counted from t_cell. The count,
 * or -1 when a call failed. */
static int repeat(const bench_config *cfg, cell_ctx *x, long inner, int cold, double t_cell,
                  double *times, bench_row *row)
{
    ca_status st = CA_OK;
    int reps = 0;
    double timed = 0;
    while (reps < cfg->max_reps) {
        if (cold) evict(x);
        const double t0 = now_seconds();
        for (long i = 0; i < inner && st == CA_OK; i++) st = call_once(&x->c);
        const double t = now_seconds() - t0;
        if (st != CA_OK) {
            set_error(row, st, "during repetitions");
            return -1;
        }
        times[reps++] = t / (double)inner;
        timed += t;
        if (timed >= cfg->rep_time && reps >= MIN_REPS) break;
        if (now_seconds() - t_cell + t > cfg->budget) break;
    }
    return reps;
}

/* The fastest, median and slowest of the repetitions. */
static void record_times(bench_row *row, double *times, int reps)
{
    row->t_median = bench_median(times, reps); /* sorts them */
    row->reps = reps;
    row->t_min = times[0];
    row->t_max = times[reps - 1];
}

/* The outputs against the float64 reference, where that is affordable. */
static void record_error(const bench_config *cfg, const cell_ctx *x, bench_row *row)
{
    row->max_err = -1;
    row->err_ref = "";
    const ca_shape sh = x->z.sh;
    if (cell_flops(x->op, x->c.pass, sh.n, sh.d, sh.heads) > cfg->err_flops) return;
    const double e = reference_err(&x->z, x->c.pass, &x->b);
    if (e >= 0) {
        row->max_err = e;
        row->err_ref = "float64 reference";
    }
}

int cell_run(const bench_config *cfg, const ca_impl *impl, ca_op op, bpass p, int n,
             int threads, bench_row *row)
{
    cell_ctx *x = cell_alloc(cfg, impl, op, p, n, threads, row);
    if (!x) return -1;
    const double t_cell = now_seconds();
    const int cold = bpass_cold(op, p);
    double *times = NULL;
    long inner = 0;
    int reps = -1;
    if (prime_backward(x, row) == 0 && (inner = warm_up(x, cold, row)) > 0) {
        row->cache_state = cold ? "cold" : "warm";
        times = malloc((size_t)cfg->max_reps * sizeof *times);
        if (times) reps = repeat(cfg, x, inner, cold, t_cell, times, row);
        else set_error(row, CA_ERR_NOMEM, "");
    }
    if (reps > 0) {
        record_times(row, times, reps);
        record_error(cfg, x, row);
        snprintf(row->status, sizeof row->status, "ok");
    }
    free(times);
    cell_close(x);
    return reps > 0 ? 0 : -1;
}

/* ---- a cell held open (bench --split, split.c) ------------------------------------ */

cell_ctx *cell_open(const bench_config *cfg, const ca_impl *impl, ca_op op, bpass p, int n,
                    int threads, bench_row *row)
{
    cell_ctx *x = cell_alloc(cfg, impl, op, p, n, threads, row);
    if (x && prime_backward(x, row) != 0) {
        cell_close(x);
        return NULL;
    }
    return x;
}

ca_status cell_call(cell_ctx *x) { return call_once(&x->c); }

void cell_close(cell_ctx *x)
{
    if (!x) return;
    buffers_free(&x->b);
    free(x);
}
