/* store.h: the node's durable client records in LMDB. Writes are queued from the event
 * loop and committed by a writer thread in group commits (one transaction for everything
 * that arrived within commit_delay_ms); each write's callback then runs on the event loop,
 * so a response is sent only after its record is on disk. Reads use their own read
 * transactions and may run on any thread. */
#ifndef KMSHA_STORE_H
#define KMSHA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define STORE_WORKSTATION_MAX 192 /* UTF-8 bytes incl. NUL (63 UTF-16 units, sanitised) */
#define STORE_ADDR_MAX 48
#define STORE_NODE_MAX 64

/* One client record, keyed by (app, cmid). Times are unix milliseconds. */
typedef struct store_record {
    uint8_t app;              /* kms_app */
    uint8_t cmid[16];         /* wire bytes */
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    uint8_t sku_id[16];
    uint8_t kms_id[16];
    uint8_t license_status;
    uint8_t vm;
    uint16_t n_policy;
    uint8_t protocol;         /* major version of the last request */
    char workstation[STORE_WORKSTATION_MAX];
    char address[STORE_ADDR_MAX]; /* last client address, text */
    char node[STORE_NODE_MAX];    /* node that saw it last */
} store_record;

typedef struct store store;

typedef struct store_options {
    uint32_t commit_delay_ms; /* wait this long for more writes before committing */
    uint64_t map_size;        /* bytes */
    bool no_sync;             /* tests/bench only: skip fsync (never in production) */
} store_options;

/* Called on the event loop thread once the write is durable (status 0) or failed (< 0). */
typedef void (*store_done_fn)(void *arg, int status);

/* Opens (creating) the store in directory dir and starts the writer thread, which
 * signals completions into base through an eventfd (no evthread set-up needed). base may
 * be NULL for tools: callbacks are then held until store_free. Returns NULL with a
 * message in err on failure. map_size is a starting size: a full map is doubled up to
 * four times before a commit fails. */
store *store_open(struct event_base *base, const char *dir, const store_options *opt,
                  char *err, size_t errlen);
/* Commits what is queued, runs every callback still owed (with its real status), stops
 * the writer thread and closes LMDB. Never call it from inside a done callback. Accepts
 * NULL; NULLs *p. */
void store_free(store **self_p);

/* Merges rec into the store (CRDT merge: later last_seen wins, first_seen keeps the
 * minimum) in the next group commit; done(arg, status) runs on the loop afterwards.
 * rec is copied. Returns 0, KMS_EINVAL (app >= KMS_APP_COUNT), KMS_ENOMEM (queue of
 * 65536 writes full) or KMS_ESTORE (store closed or failed). */
int store_put_async(store *self, const store_record *rec, store_done_fn done, void *arg);

/* Calls fn for every record (read transaction; blocking: for start-up and tools).
 * fn returns 0 to continue, non-zero to stop. Returns 0 or KMS_ESTORE. */
typedef int (*store_each_fn)(void *ctx, const store_record *rec);
int store_each(store *self, store_each_fn fn, void *ctx);

/* Looks one record up. Returns 0, KMS_ENOTFOUND or KMS_ESTORE. */
int store_get(store *self, uint8_t app, const uint8_t cmid[16], store_record *out);

/* Deletes records whose last_seen_ms < before_ms, in the writer thread. Returns 0. */
int store_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg);

/* Statistics for /status and /metrics. */
typedef struct store_stats {
    uint64_t commits;      /* transactions committed */
    uint64_t records_written;
    uint64_t failures;
    uint64_t entries;      /* records in the store */
    uint64_t map_size, map_used; /* bytes */
    double last_commit_ms; /* duration of the last commit */
} store_stats;
void store_get_stats(store *self, store_stats *out);

/* Merge rule, exposed for replication and tests: merges src into dst in place. Returns
 * true when dst changed. */
bool store_record_merge(store_record *dst, const store_record *src);

/* Bounded, versioned serialisation used in LMDB (and by replication). Returns bytes written /
 * consumed, or KMS_ESPACE / KMS_ETRUNC / KMS_EVERSION. */
#define STORE_RECORD_WIRE_MAX 400
int store_record_encode(const store_record *rec, uint8_t *out, size_t cap);
int store_record_decode(const uint8_t *buf, size_t len, store_record *rec);

#endif
