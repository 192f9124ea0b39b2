/* test_unknownids.c: the list of KMS counted IDs not in the product table: one entry per
 * (ID, application) with first/last seen and counts, bounded at UNKNOWNIDS_MAX with the rest
 * added up as "other", and the results that tell the daemon when to log. */
#include "node/unknownids.h"

#include <string.h>

#include "proto/errors.h"
#include "proto/products.h"
#include "tests/testutil.h"

static kms_guid id_n(unsigned n)
{
    kms_guid g;
    memset(&g, 0, sizeof g);
    memcpy(g.b, &n, sizeof n);
    g.b[15] = 0x5a;
    return g;
}

int main(void)
{
    static unknownids u;
    kms_guid a = id_n(1), b = id_n(2);
    CHECK_EQ_INT(unknownids_note(&u, &a, KMS_APP_WINDOWS, true, 1000), UNKNOWNIDS_NEW);
    CHECK_EQ_INT(unknownids_note(&u, &a, KMS_APP_WINDOWS, false, 3000), UNKNOWNIDS_SEEN);
    CHECK_EQ_INT(unknownids_note(&u, &a, KMS_APP_WINDOWS, true, 2000), UNKNOWNIDS_SEEN); /* out of order */
    CHECK_EQ_INT(u.n, 1);
    CHECK(kms_guid_equal(&u.e[0].kms_id, &a));
    CHECK_EQ_INT(u.e[0].app, KMS_APP_WINDOWS);
    CHECK_EQ_INT(u.e[0].first_seen_ms, 1000);
    CHECK_EQ_INT(u.e[0].last_seen_ms, 3000);
    CHECK_EQ_INT(u.e[0].requests, 3);
    CHECK_EQ_INT(u.e[0].activated, 2);
    /* The same ID under another application is another entry. */
    CHECK_EQ_INT(unknownids_note(&u, &a, KMS_APP_OFFICE2013, true, 500), UNKNOWNIDS_NEW);
    CHECK_EQ_INT(unknownids_note(&u, &b, KMS_APP_WINDOWS, true, 500), UNKNOWNIDS_NEW);
    CHECK_EQ_INT(u.n, 3);
    /* Bad arguments change nothing. */
    CHECK_EQ_INT(unknownids_note(&u, &b, -1, true, 1), KMS_EINVAL);
    CHECK_EQ_INT(unknownids_note(&u, &b, KMS_APP_COUNT, true, 1), KMS_EINVAL);
    CHECK_EQ_INT(unknownids_note(&u, NULL, KMS_APP_WINDOWS, true, 1), KMS_EINVAL);
    CHECK_EQ_INT(unknownids_note(NULL, &b, KMS_APP_WINDOWS, true, 1), KMS_EINVAL);
    CHECK_EQ_INT(u.n, 3);
    /* Full: further IDs are added up as "other", the first of them said once. */
    for (unsigned i = 3; u.n < UNKNOWNIDS_MAX; i++) {
        kms_guid g = id_n(i);
        CHECK_EQ_INT(unknownids_note(&u, &g, KMS_APP_WINDOWS, true, 10), UNKNOWNIDS_NEW);
    }
    kms_guid x = id_n(1000), y = id_n(1001);
    CHECK_EQ_INT(unknownids_note(&u, &x, KMS_APP_WINDOWS, true, 20), UNKNOWNIDS_OTHER_FIRST);
    CHECK_EQ_INT(unknownids_note(&u, &y, KMS_APP_WINDOWS, false, 20), UNKNOWNIDS_OTHER);
    CHECK_EQ_INT(unknownids_note(&u, &x, KMS_APP_WINDOWS, true, 20), UNKNOWNIDS_OTHER);
    CHECK_EQ_INT(u.n, UNKNOWNIDS_MAX);
    CHECK_EQ_INT(u.other_requests, 3);
    CHECK_EQ_INT(u.other_activated, 2);
    /* IDs already listed keep counting. */
    CHECK_EQ_INT(unknownids_note(&u, &a, KMS_APP_WINDOWS, true, 4000), UNKNOWNIDS_SEEN);
    CHECK_EQ_INT(u.e[0].requests, 4);
    CHECK_EQ_INT(u.e[0].last_seen_ms, 4000);
    return tu_finish();
}
