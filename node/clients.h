/* clients.h: the count index, the one home of the count rule (lifetime, expiry, cap): per
 * application, the distinct client machine IDs seen within the lifetime, with the largest N
 * among them. Rebuilt from the store at start; O(1) per request; expiry is amortised
 * (records kept in last_seen order). Not thread-safe: owned by the event loop. */
#ifndef KMSHA_CLIENTS_H
#define KMSHA_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct clients_index clients_index;

/* The largest N policy a request may carry (a larger one is invalid data). A client's N
 * only decides whether that client is answered as activated: the count rule takes N from
 * the product table (clients_touch). */
#define CLIENTS_N_MAX 1000

/* A new index with the default rule (30 days, cap 2 x N). */
clients_index *clients_new(void);
void clients_free(clients_index **self_p);

/* The count rule's settings ([kms] client_lifetime_days and count_cap, reloadable): a client
 * counts for lifetime_days after it was last seen; the count reported is capped at
 * count_cap, or when that is 0 at twice the largest N among the counted clients, each
 * client's N being the product table's for its KMS counted ID (clients_touch), so never
 * above 2 x 25 (Windows) or 2 x 5 (Office). */
void clients_set_rule(clients_index *self, uint32_t lifetime_days, uint32_t count_cap);
/* The oldest last_seen (unix ms) still counted at now_ms: older records are expired (the
 * store prunes them). */
int64_t clients_cutoff(const clients_index *self, int64_t now_ms);

/* Records that cmid of application app was seen at last_seen_ms (unix ms), asking for
 * KMS counted ID kms_id (NULL: none) with the N policy n_policy the client sent. The
 * record counts with the product table's N for kms_id, or for an ID the table does not
 * know with n_policy kept within 1 .. the application's largest table N (the count rule:
 * clients.c). A record never moves back in time (merge: max last_seen). Returns 1 when
 * the CMID was not in the index, 0 when it was, KMS_ENOMEM / KMS_EINVAL on failure. */
int clients_touch(clients_index *self, int app, const uint8_t cmid[16], const uint8_t kms_id[16],
                  int64_t last_seen_ms, uint16_t n_policy);

/* The count a host reports to a client of app at now_ms (the request path): drops app's
 * expired records, then min(live, cap). 0 for an unknown app. */
uint32_t clients_count(clients_index *self, int app, int64_t now_ms);

/* The figures of app at now_ms, computed without changing the index (reading /status and
 * /metrics never mutates): clients counted, the largest N among them, the count reported
 * (what clients_count would return). Zeros for an unknown app. */
typedef struct clients_stat {
    uint32_t live;
    uint16_t max_n;
    uint32_t count;
} clients_stat;
clients_stat clients_stat_at(const clients_index *self, int app, int64_t now_ms);

/* Drops every expired record (memory only: counts already leave them out). Returns how
 * many were dropped. */
size_t clients_expire(clients_index *self, int64_t now_ms);

/* The count reported for `live` clients whose largest N is max_n, under the index's rule
 * (the activation report's forecast applies it to future days). */
uint32_t clients_rule_count(const clients_index *self, uint32_t live, uint16_t max_n);
/* last_seen of a CMID, or -1 when absent. */
int64_t clients_last_seen(const clients_index *self, int app, const uint8_t cmid[16]);
/* Total records held, and bytes of memory used by the index. */
size_t clients_size(const clients_index *self);
size_t clients_memory(const clients_index *self);

#endif
