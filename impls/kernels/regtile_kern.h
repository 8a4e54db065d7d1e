/* regtile_kern.h: the register kernel of regtile.c on one vector type. regtile.c
 * includes it once per width it builds, after defining
 *   RK(name)   the name of each function at this width (e.g. name##16),
 *   RK_V       the vector type, RK_LANES its lanes,
 *   RK_LD, RK_ST, RK_BC, RK_FMA   unaligned load, store, broadcast, fused a b + c;
 *   RK_NV      the most vectors a block row holds;
 * every one of them is undefined again at the end, ready for the next width.
 * The same source at every width is what keeps the widths bit-identical: each C entry
 * is one lane, and a lane's chain of operations does not depend on the vector's size.
 */

/* C (+)= A B for an mr x (RK_LANES nv) block, mr <= 6, nv <= RK_NV (4 on 16 lanes, whose
 * 32 registers hold 24 accumulators, 4 of B and a broadcast; 2 on 8 lanes, whose 16 hold
 * 12 and 3): the more accumulators, the fewer loads a multiply-add and the more of them
 * in flight for 2 pipes of 4-cycle latency. A is read by broadcasts with arbitrary
 * strides (so A^T costs nothing), B rows contiguous (ldb), C in place; each entry one
 * chain of fused multiply-adds from p = 0, whatever the block's shape.
 * A: element (i, p) at a[i*ars + p*acs]  B: [k][ldb]  C: [mr][ldc] */
INLINE void RK(kern)(int mr, int nv, int k, const float *a, ptrdiff_t ars,
                     ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                     int acc)
{
    RK_V s[6][RK_NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            s[r][v] = acc ? RK_LD(c + r * ldc + RK_LANES * v) : RK_BC(0.0f);
    for (int p = 0; p < k; p++) {
        RK_V bv[RK_NV];
        for (int v = 0; v < nv; v++) bv[v] = RK_LD(b + p * ldb + RK_LANES * v);
        const float *ap = a + p * acs;
        for (int r = 0; r < mr; r++) {
            RK_V ar = RK_BC(ap[r * ars]);
            for (int v = 0; v < nv; v++) s[r][v] = RK_FMA(ar, bv[v], s[r][v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) RK_ST(c + r * ldc + RK_LANES * v, s[r][v]);
}

/* One column strip (RK_LANES nv wide) of C, all m rows, 6 at a time. */
INLINE void RK(strip)(int nv, int m, int k, const float *a, ptrdiff_t ars,
                      ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                      int acc)
{
    int i = 0;
    for (; i + 6 <= m; i += 6)
        RK(kern)(6, nv, k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, acc);
    const float *ai = a + i * ars;
    float *ci = c + i * ldc;
    switch (m - i) {
    case 5: RK(kern)(5, nv, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 4: RK(kern)(4, nv, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 3: RK(kern)(3, nv, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 2: RK(kern)(2, nv, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    case 1: RK(kern)(1, nv, k, ai, ars, acs, b, ldb, ci, ldc, acc); break;
    default: break;
    }
}

#undef RK
#undef RK_V
#undef RK_LANES
#undef RK_LD
#undef RK_ST
#undef RK_BC
#undef RK_FMA
#undef RK_NV
