/* test_registry.c: the contract the build cannot check (include/cubattn.h): an
 * implementation with a NULL entry point must say why in .absent_reason, or verify and
 * bench refuse to run, naming it and the entry points. */
#include "cubattn.h"

#include <criterion/criterion.h>
#include <string.h>

extern const ca_impl ca_impl_naive;

/* naive's entry points with the cubic ones left out, reason as given */
static ca_impl without_cubic(const char *reason)
{
    ca_impl x = ca_impl_naive;
    x.name = "planted";
    x.fwd[CA_OP_CUBIC] = NULL;
    x.bwd[CA_OP_CUBIC] = NULL;
    x.absent_reason = reason;
    return x;
}

Test(registry, null_entry_without_reason_refused)
{
    const char *reasons[] = {NULL, ""};
    for (int i = 0; i < 2; i++) {
        ca_impl x = without_cubic(reasons[i]);
        char msg[512] = "";
        cr_expect_eq(ca_impl_check(&x, msg, sizeof msg), 0, "accepted with reason '%s'",
                     reasons[i] ? reasons[i] : "(null)");
        cr_expect(strstr(msg, "'planted'") && strstr(msg, "cubic_fwd, cubic_bwd") &&
                      strstr(msg, ".absent_reason"),
                  "message does not name the implementation, entry points and field: %s", msg);
    }
}

Test(registry, explained_or_complete_accepted)
{
    ca_impl x = without_cubic("the per-prefix operators are left to naive");
    char msg[512] = "";
    cr_expect_eq(ca_impl_check(&x, msg, sizeof msg), 1, "%s", msg);
    cr_expect_eq(ca_impl_check(&ca_impl_naive, msg, sizeof msg), 1, "%s", msg);
    const char *bad = ca_registry_check();
    cr_expect_null(bad, "a registered implementation breaks the contract: %s", bad);
}
