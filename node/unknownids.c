/* unknownids.c: the list of KMS counted IDs not in the product table (see unknownids.h).
 * A linear scan of at most UNKNOWNIDS_MAX entries, only for requests whose ID the table
 * does not know. */
#include "node/unknownids.h"

#include "proto/errors.h"
#include "proto/products.h"

int unknownids_note(unknownids *u, const kms_guid *kms_id, int app, bool activated, int64_t now_ms)
{
    if (!u || !kms_id || app < 0 || app >= KMS_APP_COUNT) return KMS_EINVAL;
    for (size_t i = 0; i < u->n; i++) {
        unknownids_entry *e = &u->e[i];
        if (e->app != app || !kms_guid_equal(&e->kms_id, kms_id)) continue;
        e->requests++;
        if (activated) e->activated++;
        if (now_ms > e->last_seen_ms) e->last_seen_ms = now_ms;
        if (now_ms < e->first_seen_ms) e->first_seen_ms = now_ms;
        return UNKNOWNIDS_SEEN;
    }
    if (u->n == UNKNOWNIDS_MAX) {
        u->other_requests++;
        if (activated) u->other_activated++;
        if (u->other_seen) return UNKNOWNIDS_OTHER;
        u->other_seen = true;
        return UNKNOWNIDS_OTHER_FIRST;
    }
    unknownids_entry *e = &u->e[u->n++];
    e->kms_id = *kms_id;
    e->app = app;
    e->first_seen_ms = e->last_seen_ms = now_ms;
    e->requests = 1;
    e->activated = activated ? 1 : 0;
    return UNKNOWNIDS_NEW;
}
