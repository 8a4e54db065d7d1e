/* vrow.h: 8-lane helpers on one d-vector (a row of q, k, v, o or a gradient), for the
 * tile engine's rescales and the cubic_shared sweep's per-key updates. Static inline,
 * as vexp.h's are, so that no vector argument crosses a call boundary. */
#ifndef VROW_H
#define VROW_H

#include "vexp.h"

/* a . b over d floats. a, b: [d] */
static inline float vrow_dot(int d, const float *a, const float *b)
{
    v8f s0 = bc8(0.0f), s1 = bc8(0.0f);
    int c = 0;
    for (; c + 16 <= d; c += 16) {
        s0 = fma8(ld8(a + c), ld8(b + c), s0);
        s1 = fma8(ld8(a + c + 8), ld8(b + c + 8), s1);
    }
    if (c + 8 <= d) {
        s0 = fma8(ld8(a + c), ld8(b + c), s0);
        c += 8;
    }
    float s = hsum8(s0 + s1);
    for (; c < d; c++) s += a[c] * b[c];
    return s;
}

/* r . (a - b) over d floats. r, a, b: [d] */
static inline float vrow_dot_diff(int d, const float *r, const float *a, const float *b)
{
    v8f s0 = bc8(0.0f);
    int c = 0;
    for (; c + 8 <= d; c += 8) s0 = fma8(ld8(r + c), ld8(a + c) - ld8(b + c), s0);
    float s = hsum8(s0);
    for (; c < d; c++) s += r[c] * (a[c] - b[c]);
    return s;
}

/* y += a x. x, y: [d] */
static inline void vrow_axpy(int d, float a, const float *x, float *y)
{
    v8f va = bc8(a);
    int c = 0;
    for (; c + 8 <= d; c += 8) st8(y + c, fma8(va, ld8(x + c), ld8(y + c)));
    for (; c < d; c++) y[c] += a * x[c];
}

/* y *= a. y: [d] */
static inline void vrow_scal(int d, float a, float *y)
{
    v8f va = bc8(a);
    int c = 0;
    for (; c + 8 <= d; c += 8) st8(y + c, va * ld8(y + c));
    for (; c < d; c++) y[c] *= a;
}

#endif
