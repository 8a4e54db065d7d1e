/* causal_error.c: one implementation's causal forward against the float64 reference.
 *   cc $(pkg-config --cflags cubattn) causal_error.c $(pkg-config --libs cubattn) -lm
 *   ./a.out [implementation]      (default blocked; -lm: this program calls sqrt)
 * Exit 0: error within the bound; 1: above it or a call failed; 2: unknown name.
 * The bound is the verification's rule (docs/DESIGN.md §4): naive within the float32
 * bound 2 (n + 8) 2^-24 (1 + max|S|), n the longest sum; any other implementation within
 * 2 x naive's error on the same inputs + 2^-20. */
#include "cubattn_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Causal forward of impl, workspace queried and allocated here. */
static ca_status run(const ca_impl *impl, ca_shape sh, const float *q, const float *k,
                     const float *v, float *o, float *lse)
{
    size_t bytes;
    ca_status st = ca_workspace_bytes(impl, CA_CAUSAL_FWD, sh, 2, &bytes);
    if (st != CA_OK) return st;
    ca_exec ex = {.threads = 2, .ws = bytes ? malloc(bytes) : NULL, .ws_bytes = bytes};
    if (bytes && !ex.ws) return CA_ERR_NOMEM;
    st = ca_run_fwd(impl, CA_CAUSAL_FWD, sh, &ex, q, k, v, o, lse);
    free(ex.ws);
    return st;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "blocked";
    const ca_impl *impl = ca_impl_find(name), *naive = ca_impl_find("naive");
    if (!impl) {
        fprintf(stderr, "unknown implementation '%s'; known: %s\n", name, ca_impl_names());
        return 2;
    }
    ca_shape sh = {.n = 257, .d = 80, .heads = 2};
    size_t nx = (size_t)sh.heads * sh.n * sh.d, nl = (size_t)sh.heads * sh.n;
    float *x = malloc((5 * nx + 2 * nl) * sizeof *x);
    double *ro = malloc((nx + nl) * sizeof *ro), *rl = ro + nx;
    if (!x || !ro) return 1;
    float *q = x, *k = q + nx, *v = k + nx, *o = v + nx, *no = o + nx;
    float *lse = no + nx, *nlse = lse + nl;
    ca_fill(x, 3 * nx, CA_DIST_NORMAL, 1.0, 42, 0); /* q, k, v: one stream, three ranges */

    double *qd = ca_to_double(q, nx), *kd = ca_to_double(k, nx), *vd = ca_to_double(v, nx);
    ca_status st = qd && kd && vd ? ca_ref_fwd(CA_CAUSAL_FWD, sh, qd, kd, vd, ro, rl)
                                  : CA_ERR_NOMEM;
    if (st == CA_OK) st = run(impl, sh, q, k, v, o, lse);
    if (st == CA_OK) st = run(naive, sh, q, k, v, no, nlse);
    if (st != CA_OK) {
        fprintf(stderr, "%s: %s\n", name, ca_status_str(st));
        return 1;
    }
    double max_s = 0.0; /* max |S| = max |q_i . k_j| / sqrt(d) over the causal pairs */
    for (size_t h = 0; h < (size_t)sh.heads; h++)
        for (size_t i = 0; i < (size_t)sh.n; i++)
            for (size_t j = 0; j <= i; j++) {
                double s = 0.0;
                for (size_t c = 0; c < (size_t)sh.d; c++)
                    s += qd[(h * sh.n + i) * sh.d + c] * kd[(h * sh.n + j) * sh.d + c];
                max_s = fmax(max_s, fabs(s) / sqrt(sh.d));
            }
    double naive_bound = 2.0 * ((sh.n > sh.d ? sh.n : sh.d) + 8) * 0x1p-24 * (1.0 + max_s);
    double e_o = ca_rel_err(o, ro, nx), e_l = ca_abs_err(lse, rl, nl);
    double n_o = ca_rel_err(no, ro, nx), n_l = ca_abs_err(nlse, rl, nl);
    double b_o = 2.0 * n_o + 0x1p-20, b_l = 2.0 * n_l + 0x1p-20;
    int ok = n_o <= naive_bound && n_l <= naive_bound && e_o <= b_o && e_l <= b_l;
    printf("%s causal_fwd N=%d d=%d heads=%d, %s kernels: rel err o %.3g (bound %.3g), abs "
           "err lse %.3g (bound %.3g); naive %.3g, %.3g (bound %.3g): %s\n", name, sh.n, sh.d,
           sh.heads, ca_isa(), e_o, b_o, e_l, b_l, n_o, n_l, naive_bound,
           ok ? "ok" : "TOO LARGE");
    free(qd); free(kd); free(vd); free(ro); free(x);
    return ok ? 0 : 1;
}
