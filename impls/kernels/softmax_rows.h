/* softmax_rows.h: the tile engine's row operations on a whole score tile, on the kernel
 * path isa.c chose: 16 lanes on avx512, 8 on avx2, the same bits on both. The row maxes
 * and the weights P = exp(scale S - sub) of the forward, and the backward's dS.
 *
 * Why a whole tile in one call: done row by row between each row's max and its
 * bookkeeping, the exp of one row (a chain of some twenty dependent vector operations)
 * waited on the row's max and the next row's max waited on it, so the tile engine ran
 * its weights at about one instruction a cycle. Given every row's subtrahend first,
 * the rows of a tile are independent and the weights run at the vector pipes' rate.
 */
#ifndef SOFTMAX_ROWS_H
#define SOFTMAX_ROWS_H

/* Row r < m of the score tile s ([m][ld], ld = nk rounded up to 8) sees cnt_r keys:
 * nk, or when causal the keys up to its diagonal, clamp(first + r, 0, nk). In place:
 * s[r][c] = exp(scale s[r][c] - sub[r]) for c < cnt_r (the product scale s rounded on
 * its own, then the difference), 0 for cnt_r <= c < ld.
 * sum[r] (when sum is not NULL) = the row's weights summed in one fixed order: 8-float
 * blocks c = 8b.. alternately into two 8-lane partial sums (b even, b odd), those two
 * added, then their lanes by hsum8's halving order (vexp.h). A 16-lane vector holds
 * one block of each, so both paths sum in this order. */
typedef void exp_rows_fn(int m, int nk, float *s, int ld, int causal, int first,
                         float scale, const float *sub, float *sum);

exp_rows_fn exp_rows;

/* mx[r] = the max of row r's cnt_r scores (as above), skipping NaN; -inf when there are
 * none, or all are -inf or NaN; +0 for a zero of either sign (vscore.h's row_max, whose
 * value it is). */
typedef void max_rows_fn(int m, int nk, const float *s, int ld, int causal, int first,
                         float *mx);

max_rows_fn max_rows;

/* In place, dS from dP: ds[r][c] = scale (p[r][c] (ds[r][c] - D[r])) for c < cnt_r (the
 * rows' visible keys as above; the naive code's order of the three roundings), 0 for
 * cnt_r <= c < ld. p, ds: [m][ld] */
typedef void ds_rows_fn(int m, int nk, const float *p, float *ds, int ld, int causal,
                        int first, float scale, const float *D);

ds_rows_fn ds_rows;

#endif
