/* clients.h: the in-memory index behind the count: per application, the distinct client
 * machine IDs seen within the lifetime window, with the largest N seen. Rebuilt from the
 * store at start; O(1) per request; expiry is amortised (records kept in last_seen order).
 * Not thread-safe: owned by the event loop. */
#ifndef KMSHA_CLIENTS_H
#define KMSHA_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct clients_index clients_index;

clients_index *clients_new(void);
void clients_free(clients_index **self_p);

/* Records that cmid of application app was seen at last_seen_ms (unix ms) with N policy
 * n_policy. A record never moves back in time (merge: max last_seen). Returns 1 when the
 * CMID was not in the index, 0 when it was, KMS_ENOMEM / KMS_EINVAL on failure. */
int clients_touch(clients_index *self, int app, const uint8_t cmid[16], int64_t last_seen_ms,
                  uint16_t n_policy);

/* Drops records with last_seen_ms < now_ms - lifetime_ms. Returns how many were dropped. */
size_t clients_expire(clients_index *self, int64_t now_ms, int64_t lifetime_ms);

/* Distinct live CMIDs of app (call clients_expire first for an exact window). */
uint32_t clients_live(const clients_index *self, int app);
/* Largest N policy seen for app among live records (0 if none). */
uint16_t clients_max_n(const clients_index *self, int app);
/* The count a host reports: min(live, cap) with cap = fixed_cap if non-zero, else
 * 2 x largest N seen (for app). */
uint32_t clients_reported_count(const clients_index *self, int app, uint32_t fixed_cap);
/* The count reported to a client that asks now: as clients_reported_count, with the
 * requesting client (cmid, n_policy) included as if it were in the index. Reads only: a
 * client enters the index (clients_touch) once its record is stored, so a client whose
 * record could not be committed is never counted. */
uint32_t clients_count_including(const clients_index *self, int app, const uint8_t cmid[16],
                                 uint16_t n_policy, uint32_t fixed_cap);
/* last_seen of a CMID, or -1 when absent. */
int64_t clients_last_seen(const clients_index *self, int app, const uint8_t cmid[16]);
/* Total records held, and bytes of memory used by the index. */
size_t clients_size(const clients_index *self);
size_t clients_memory(const clients_index *self);

#endif
