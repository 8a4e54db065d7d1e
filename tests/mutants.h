/* mutants.h: deliberately broken implementations (docs/DESIGN.md §4.7), each named for its
 * bug, each built on naive's correct entry points with exactly one thing wrong. */
#ifndef MUTANTS_H
#define MUTANTS_H

#include "cubattn.h"

extern const ca_impl mutant_mask_off_by_one;    /* causal row i also sees key i+1 */
extern const ca_impl mutant_scale_missing;      /* scores not scaled by 1/sqrt(d) */
extern const ca_impl mutant_bwd_drops_D;        /* backwards without the D_i = dO_i.o_i term */
extern const ca_impl mutant_wrong_prefix_offset;/* cubic prefix t reads prefix t-1's keys */
extern const ca_impl mutant_shared_no_prefix;   /* cubic_shared prefix t attends all N keys */
extern const ca_impl mutant_last_one_key_short; /* cubic_last prefix t leaves out its own key */
extern const ca_impl mutant_decode_no_append;   /* decode never writes k_t, v_t to the cache */
extern const ca_impl mutant_nondeterministic;   /* output varies by one ulp between calls */
extern const ca_impl mutant_skips_last_head;    /* the last head's outputs never written */
extern const ca_impl mutant_exp_no_max_shift;   /* softmax without the max shift: overflows */
extern const ca_impl mutant_dq_race;            /* causal bwd threads race on the shared dq */
/* Naive-like (naive's entry points but one), so they can stand in for the baseline. */
extern const ca_impl mutant_decode_one_key_short; /* decode step t attends keys 0..t-1 */
extern const ca_impl mutant_causal_fwd_only_wrong; /* causal fwd's scores unscaled */
extern const ca_impl mutant_full_fwd_only_wrong;   /* full fwd's scores unscaled */
extern const ca_impl mutant_nan_output;          /* NaN in the last element of every o */
extern const ca_impl mutant_lse_off_1e3;         /* causal lse + 1e-3 */
extern const ca_impl mutant_lse_off_1e1;         /* causal lse + 1e-1 */
extern const ca_impl mutant_mask_leaks_nonfinite; /* causal row i adds 0 * v_j for j > i */
extern const ca_impl mutant_nonfinite_zeroed;    /* NaN/Inf outputs replaced by 0 */
/* Windows of prefixes (ca_shape.first): right on the whole call, wrong on a window. */
extern const ca_impl mutant_window_renumbered;  /* cubic_last prefix t at t-a+1's keys */
extern const ca_impl mutant_window_unclamped;   /* cubic_shared bwd sweep, tau unclamped */

#endif
