/* store_fixtures.h: what the store's unit tests share: a seeded random source, a
 * numbered client record with every field set, record equality by encoding, and opening
 * a store with a given commit window. */
#ifndef KMSHA_STORE_FIXTURES_H
#define KMSHA_STORE_FIXTURES_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include "replication/store.h"

/* xorshift64: the next number of *state (never 0 for a non-zero seed). */
uint64_t tu_xorshift(uint64_t *state);
/* Record number i, first and last seen at t: application i % 3, CMID from i, every
 * string and field filled. */
void tu_make_record(store_record *r, uint32_t i, int64_t t);
/* Same encoded bytes. */
bool tu_same_record(const store_record *a, const store_record *b);
/* store_open with commit_delay_ms = delay and the default map; prints why on failure. */
store *tu_open_store(struct event_base *base, const char *dir, uint32_t delay, bool no_sync);

#endif
