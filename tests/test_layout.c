/* test_layout.c: the packed cubic layout and the row counts of every entry point. */
#include "cubattn.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(layout, prefix_offsets_are_triangular)
{
    /* prefix t (1-based) starts right after prefixes 1..t-1, which hold 1 + ... + t-1 rows */
    size_t expect = 0;
    for (size_t t = 1; t <= 1000; t++) {
        cr_assert_eq(ca_prefix_offset(t), expect, "t=%zu", t);
        expect += t;
        cr_assert_eq(ca_packed_rows(t), expect);
    }
    cr_assert_eq(ca_prefix_offset(1), 0);
    cr_assert_eq(ca_prefix_offset(4), 6);
    cr_assert_eq(ca_packed_rows(4), 10);
}

Test(layout, rows_per_entry)
{
    cr_assert_eq(ca_q_rows(CA_CAUSAL_FWD, 7), 7);
    cr_assert_eq(ca_kv_rows(CA_CAUSAL_FWD, 7), 7);
    cr_assert_eq(ca_out_rows(CA_FULL_FWD, 7), 7);
    cr_assert_eq(ca_q_rows(CA_CUBIC_FWD, 7), 28);
    cr_assert_eq(ca_kv_rows(CA_CUBIC_FWD, 7), 28);
    cr_assert_eq(ca_out_rows(CA_CUBIC_BWD, 7), 28);
    cr_assert_eq(ca_q_rows(CA_SHARED_FWD, 7), 7);    /* inputs shared by all prefixes */
    cr_assert_eq(ca_kv_rows(CA_SHARED_FWD, 7), 7);
    cr_assert_eq(ca_out_rows(CA_SHARED_FWD, 7), 28); /* one output row per (t, i) */
    cr_assert_eq(ca_q_rows(CA_LAST_FWD, 7), 7);      /* one query per prefix */
    cr_assert_eq(ca_kv_rows(CA_LAST_BWD, 7), 28);    /* the packed keys of every prefix */
    cr_assert_eq(ca_out_rows(CA_LAST_FWD, 7), 7);
    cr_assert_eq(ca_out_rows(CA_DECODE_STEP, 7), 1);
    cr_assert_eq(ca_q_rows(CA_CAUSAL_FWD, 0), 0);
    cr_assert_eq(ca_kv_rows(CA_CAUSAL_FWD, 0), 0);
}

Test(layout, packed_rows_overflow_is_detected)
{
    ca_shape huge = {INT32_MAX, INT32_MAX, INT32_MAX, 0};
    cr_assert_eq(ca_check_shape(CA_CUBIC_FWD, huge), CA_ERR_OVERFLOW);
    cr_assert_eq(ca_check_shape(CA_CAUSAL_FWD, huge), CA_ERR_OVERFLOW);
    /* cubic_last: q and o fit, the packed k/v do not */
    ca_shape kv_only = {1 << 20, 1 << 12, 1 << 12, 0};
    cr_assert_eq(ca_check_shape(CA_CAUSAL_FWD, kv_only), CA_OK);
    cr_assert_eq(ca_check_shape(CA_LAST_FWD, kv_only), CA_ERR_OVERFLOW);
    cr_assert_eq(ca_check_shape(CA_LAST_BWD, kv_only), CA_ERR_OVERFLOW);
    ca_shape fine = {1000, 64, 8, 0};
    cr_assert_eq(ca_check_shape(CA_CUBIC_FWD, fine), CA_OK);
    cr_assert_eq(ca_check_shape(CA_LAST_FWD, fine), CA_OK);
}

Test(registry, lookup_by_name)
{
    cr_assert_geq(ca_impl_count(), 1);
    const ca_impl *n = ca_impl_find("naive");
    cr_assert_not_null(n);
    cr_assert_str_eq(n->name, "naive");
    cr_assert_null(ca_impl_find("no_such_impl"));
    cr_assert_null(ca_impl_find(NULL));
    cr_assert_null(ca_impl_at(-1));
    cr_assert_null(ca_impl_at(ca_impl_count()));
    cr_assert_neq(strstr(ca_impl_names(), "naive"), NULL);
    for (int i = 0; i < ca_impl_count(); i++)
        cr_assert_eq(ca_impl_find(ca_impl_at(i)->name), ca_impl_at(i), "names are unique");
}
