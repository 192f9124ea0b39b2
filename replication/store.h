/* store.h: the node's durable client records in LMDB. Writes are queued from the event
 * loop and committed by a writer thread in group commits (as soon as the writer is free it
 * takes everything queued into one transaction; what arrives meanwhile goes in the next;
 * commit_delay_ms, default 0, adds an optional wait); each write's callback then runs on
 * the event loop, so a response is sent only after its record is on disk. Reads use their
 * own read transactions and may run on any thread. */
#ifndef KMSHA_STORE_H
#define KMSHA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define STORE_WORKSTATION_MAX 192 /* UTF-8 bytes incl. NUL (63 UTF-16 units, sanitised) */
#define STORE_ADDR_MAX 48
#define STORE_NODE_MAX 64
#define STORE_NAMES_MAX 4 /* workstation names kept per record (cloned-image detection) */

/* One workstation name a CMID was seen with: the newest sighting's address and time. */
typedef struct store_name {
    char name[STORE_WORKSTATION_MAX];
    char address[STORE_ADDR_MAX];
    int64_t last_seen_ms;
} store_name;

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
    /* Record version 2 (all zero in a version-1 record: "not known"): */
    uint32_t binding_expiration;  /* minutes left in the client's licence state, as it sent them */
    uint16_t count;               /* count in the last answer (0 = not known); below the
                                     record's n_policy means the client stays unactivated */
    uint8_t n_names;              /* names[0..n_names): distinct, newest first (ties: name order) */
    store_name names[STORE_NAMES_MAX]; /* workstation names seen with this CMID: merged by
                                     union, the STORE_NAMES_MAX newest kept */
} store_record;

/* Whether the last answer to this client was below its N (it stays unactivated). */
static inline int store_record_below_threshold(const store_record *r)
{
    return r->count > 0 && r->count < r->n_policy;
}

typedef struct store store;

typedef struct store_options {
    uint32_t commit_delay_ms; /* optional extra wait for more writes before a commit (0: none) */
    uint64_t map_size;        /* bytes */
    bool no_sync;             /* tests/bench only: skip fsync (never in production) */
} store_options;

/* Called on the event loop thread once the write is durable (status 0) or failed (< 0). */
typedef void (*store_done_fn)(void *arg, int status);

/* Failures carry their cause: a failed commit or read returns (or passes to its callback)
 * LMDB's error or the errno of the system call (proto/errors.h's KMS_ECAUSE_* codes);
 * KMS_ESTORE means the store is closing or closed. store_strerror names any status:
 * "map full (MDB_MAP_FULL: ...)", "EIO: Input/output error", LMDB's mdb_strerror text,
 * else kms_strerror's. */
const char *store_strerror(int status);

/* Opens (creating) the store in directory dir and starts the writer thread, which
 * signals completions into base through an eventfd (no evthread set-up needed). base may
 * be NULL for tools: callbacks are then held until store_free. Returns NULL with a
 * message in err on failure, and *status (status may be NULL) KMS_EDAMAGED when the
 * files are damaged (data.mdb truncated, refused by LMDB, or faulting when read: a
 * restart cannot help, the store needs repair), else KMS_ESTORE. map_size is a starting
 * size: a full map is doubled up to four times before a commit fails. */
store *store_open(struct event_base *base, const char *dir, const store_options *opt,
                  int *status, char *err, size_t errlen);
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

/* Checks the whole store: every entry of the clients, log and vv databases must decode
 * (a client record also as the count index takes it), and LMDB must walk every page
 * without error; a fault inside LMDB on a damaged page is caught and reported, not a
 * crash. Blocking (for start-up and tools). Returns 0 (*records = records checked) or
 * KMS_ESTORE with what is damaged in err. */
int store_verify(store *self, uint64_t *records, char *err, size_t errlen);

/* Looks one record up. Returns 0, KMS_ENOTFOUND or KMS_ESTORE. */
int store_get(store *self, uint8_t app, const uint8_t cmid[16], store_record *out);

/* Deletes records whose last_seen_ms < before_ms, in the writer thread. Returns 0. */
int store_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg);

/* Statistics for /status and /metrics. */
#define STORE_COMMIT_BUCKETS 12
extern const double store_commit_bounds_ms[STORE_COMMIT_BUCKETS]; /* last = +Inf */

typedef struct store_stats {
    uint64_t commits;      /* transactions committed */
    uint64_t records_written;
    uint64_t failures;
    uint64_t entries;      /* records in the store */
    uint64_t map_size, map_used; /* bytes */
    double last_commit_ms; /* duration of the last commit */
    /* Durations of the commits of queued writes (fsync included): counts per bucket of
     * store_commit_bounds_ms (the last is +Inf, not cumulative), their sum and maximum. */
    uint64_t commit_bucket[STORE_COMMIT_BUCKETS];
    double commit_sum_ms, commit_max_ms;
    uint64_t window_waits; /* commits that first waited commit_delay_ms for more writes */
    uint64_t queued;       /* writes queued that the writer has not taken yet (now) */
} store_stats;
void store_get_stats(store *self, store_stats *out);

/* The one bound on a record's date: a record last seen more than tolerance_ms after now_ms
 * (a node whose clock ran ahead made it) is not accepted from a peer and not counted: it
 * would win every merge and stay counted long after it expired everywhere else. */
static inline bool store_record_in_future(const store_record *rec, int64_t now_ms, int64_t tolerance_ms)
{
    return rec->last_seen_ms > now_ms + tolerance_ms;
}

/* Merge rule, exposed for replication and tests: merges src into dst in place (the later
 * record wins, first_seen keeps the minimum, the name sets are united). Returns true when
 * dst changed. */
bool store_record_merge(store_record *dst, const store_record *src);

/* Bounded, versioned serialisation used in LMDB (and by replication). Version 1 is the
 * original layout; version 2 appends binding_expiration, count and the name set, and is
 * written only when one of them is set, so every record has exactly one encoding (a
 * version-1 record decodes with them zero). Returns bytes written / consumed, or
 * KMS_ESPACE / KMS_ETRUNC / KMS_EVERSION / KMS_EINVAL (a name set out of order). */
#define STORE_RECORD_WIRE_MAX 1400

/* Adds (name, address, seen_ms) to rec's name set (an empty name is ignored). */
void store_record_add_name(store_record *rec, const char *name, const char *address, int64_t seen_ms);
int store_record_encode(const store_record *rec, uint8_t *out, size_t cap);
int store_record_decode(const uint8_t *buf, size_t len, store_record *rec);
/* One entry of the clients database: the value decodes exactly and the key (STORE_KEY_LEN
 * bytes: application, CMID) is the record's own. False for anything else. */
bool store_entry_decode(const void *key, size_t key_len, const void *val, size_t val_len,
                        store_record *rec);

/* ---------------- replication: update log and version vector ----------------
 * Every record change that came from a KMS request on some node is an update numbered
 * (origin node id, sequence). The store keeps, in the SAME LMDB transaction as the
 * records, (1) a log of applied updates keyed by (origin, seq) with the time they were
 * logged, and (2) the version vector: per origin the highest sequence applied, such that
 * every update of that origin up to it has been merged (contiguous).
 *
 * Details the declarations below leave open (store_schema.c has the on-disk layout):
 * - An origin is 1 to STORE_ORIGIN_MAX - 1 bytes, NUL-terminated within the array;
 *   anything else is KMS_EINVAL. Sequences start at 1 (seq 0 is KMS_EINVAL).
 * - All queued writes (store_put_async, store_put_logged_async, store_apply_async,
 *   store_apply_snapshot_async: one snapshot call counts as one) share the bound of
 *   65536 queued writes (KMS_ENOMEM); they return KMS_ESTORE once the store is closing.
 *   They run in queue order within one group commit, each seeing the version vector as
 *   left by the writes queued before it. Callbacks run as for store_put_async (on the
 *   loop, in queue order, the owed ones inside store_free).
 * - A write whose origin is not yet in the vector when it already holds STORE_VV_MAX
 *   (active, not retired) origins completes with status KMS_ETOOBIG, nothing written (others in the batch
 *   are unaffected). Any commit failure gives every write of the batch KMS_ESTORE.
 *   A local write that failed reports u->seq == 0 (no sequence was used).
 * - What is logged: for a local write the record as merged into the store (it carries
 *   everything this node knows about the key, e.g. first_seen), also when the merge
 *   changed nothing (a renewal must still reach peers); for a remote update the record
 *   as received, so (origin, seq) has the same content on every node. The callback's u
 *   is that logged update.
 * - An update of this node's own origin may arrive through store_apply_async (a node
 *   rebuilt from nothing gets its old updates back from peers) and advances vv like any
 *   other; local writes then continue after it. A rebuilt node should catch up (or take
 *   a snapshot) before logging local writes, or its new sequences collide with old ones
 *   peers already hold (they would ignore them as duplicates).
 * - The logged time is this node's wall clock (CLOCK_REALTIME, ms) at the commit that
 *   logged the update; store_log_prune_async deletes, per origin, the oldest entries up
 *   to the first one logged at or after before_ms (exactly "logged before" while the
 *   wall clock does not step back), so what remains of an origin's log has no holes.
 *   A snapshot's adopted vv may leave a hole between the old log and new entries;
 *   store_log_read stops there (or returns KMS_ENOTFOUND inside it).
 * - The vector stored with store_snapshot_read's first page is the one to adopt after
 *   the last page: later pages come from later transactions, and every record only
 *   grows under merge, so the pages together hold at least that state. */

#define STORE_ORIGIN_MAX 64 /* node id length incl. NUL */
#define STORE_VV_MAX 255    /* origins tracked (the wire counts them in one byte) */

typedef struct store_update {
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
    store_record rec;
} store_update;

typedef struct store_vv_entry {
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
} store_vv_entry;

typedef struct store_vv {
    int n;
    store_vv_entry e[STORE_VV_MAX];
} store_vv;

/* Highest contiguous sequence of origin in vv (0 when absent). */
uint64_t store_vv_get(const store_vv *vv, const char *origin);
/* Sets origin's entry (adds it when absent). Returns 0, KMS_ETOOBIG (vv full) or
 * KMS_EINVAL (origin empty or not terminated within STORE_ORIGIN_MAX). */
int store_vv_set(store_vv *vv, const char *origin, uint64_t seq);
/* Removes origin's entry (the others keep their order). Returns 0 or KMS_ENOTFOUND. */
int store_vv_remove(store_vv *vv, const char *origin);

/* Called on the loop once the update is durable (status 0), was already applied (status 1:
 * seq <= vv[origin], nothing written), could not be applied because earlier updates of its
 * origin are missing (status 2: seq > vv[origin] + 1, nothing written), or failed (< 0). u
 * is the logged update (for local writes: with the sequence the store assigned); valid
 * only during the call. */
typedef void (*store_update_fn)(void *arg, int status, const store_update *u);

/* Names the origin local writes are logged under (this node's id). Call once after
 * store_open, before store_put_logged_async. Returns 0 or KMS_EINVAL. (Calling it again
 * changes the origin of writes queued afterwards.) */
int store_set_origin(store *self, const char *origin);

/* A local write: in the next group commit, merges rec, assigns seq = vv[origin] + 1, logs
 * the update and advances vv[origin], all in one transaction; then done(arg, 0, update).
 * (store_put_async stays available for writes that are not replicated, e.g. tools.)
 * Returns 0, KMS_EINVAL (bad app, or no origin set), KMS_ENOMEM or KMS_ESTORE. */
int store_put_logged_async(store *self, const store_record *rec, store_update_fn done, void *arg);

/* A remote update: applied only when u->seq == vv[u->origin] + 1 at commit time (merge
 * record, log it, advance vv); see store_update_fn for the statuses. Updates of one origin
 * queued in order are applied in order. u is copied. Returns 0, KMS_EINVAL (bad origin,
 * seq 0, bad app), KMS_ENOMEM or KMS_ESTORE. */
int store_apply_async(store *self, const store_update *u, store_update_fn done, void *arg);

/* A remote update whose record this node refuses (dated beyond what it accepts): as
 * store_apply_async (same statuses, same order rule), but the record is not merged into
 * the clients database; the update is still logged (peers that catch up from this node
 * get it and judge it themselves) and advances vv, so the origin's later updates apply. */
int store_apply_refused_async(store *self, const store_update *u, store_update_fn done, void *arg);

/* A batch of a snapshot from a peer: merges every record (no log entries); when adopt is
 * non-NULL (last batch), raises each vv entry to max(own, adopt) in the same transaction.
 * recs and adopt are copied. done(arg, status, NULL) once, after the commit. Returns 0,
 * KMS_EINVAL (bad app or origin, adopt->n out of range), KMS_ETOOBIG (n > 65536),
 * KMS_ENOMEM or KMS_ESTORE. */
int store_apply_snapshot_async(store *self, const store_record *recs, size_t n,
                               const store_vv *adopt, store_update_fn done, void *arg);

/* The committed version vector (kept in memory, loaded at open, replaced after each
 * commit before that commit's callbacks run; any thread). */
void store_get_vv(store *self, store_vv *out);

/* Retired origins. An origin whose updates every node holds, and whose node now numbers
 * its updates under another one, can leave the version vector, so that the vector does
 * not fill up over a cluster's life (repl.c decides when). The store keeps how far it
 * went in its "retired" database: for store_apply_async and store_put_logged_async a
 * retired origin counts as held up to that sequence (older updates are duplicates), and
 * its next update, or a snapshot's vector that holds more of it, brings it back into the
 * vector. Its log entries stay until the log's retention prunes them.
 * store_retire_async retires origin in the next group commit when the vector holds
 * exactly seq of it; done(arg, status): 0 retired, 1 not (the vector holds another
 * sequence, or not this origin), < 0 failed. Returns 0, KMS_EINVAL, KMS_ENOMEM or
 * KMS_ESTORE. Never retire the origin local writes are logged under. */
int store_retire_async(store *self, const char *origin, uint64_t seq, store_done_fn done, void *arg);
/* The sequence origin was retired at, 0 when it is not retired (or on a store error).
 * A read transaction: may run on the loop thread. */
uint64_t store_retired_get(store *self, const char *origin);
/* Durable flags "this node retired origins without peer, which must take a snapshot from
 * it" (repl.c). store_set_owed_async sets or clears the flag in the next group commit
 * (done(arg, 0) or < 0); peer is a node id (1 .. STORE_ORIGIN_MAX - 1 bytes). Returns 0,
 * KMS_EINVAL, KMS_ENOMEM or KMS_ESTORE. store_owed_get reads it (false on a store error). */
int store_set_owed_async(store *self, const char *peer, bool owed, store_done_fn done, void *arg);
bool store_owed_get(store *self, const char *peer);

/* Reads up to max logged updates of origin with seq from_seq, from_seq+1, ... (contiguous;
 * stops at the first hole). Returns the number read (>= 0), KMS_ENOTFOUND when from_seq
 * itself is not in the log (pruned or never logged: serve a snapshot), KMS_EINVAL (bad
 * origin) or KMS_ESTORE. Read transaction: may run on the loop thread. */
int store_log_read(store *self, const char *origin, uint64_t from_seq, store_update *out,
                   size_t max);

/* Reads up to max records in key order, starting after the key in cursor (cursor_len 0 =
 * from the start); writes the key of the last record read into cursor / *cursor_len
 * (STORE_KEY_LEN bytes). Returns the number read (0 = end), KMS_EINVAL (*cursor_len
 * neither 0 nor STORE_KEY_LEN) or KMS_ESTORE. The first call also fills vv_at_start (when
 * non-NULL) with the version vector of the same read transaction (from LMDB, not the
 * in-memory copy). Records that do not decode are skipped, as store_each does. */
#define STORE_KEY_LEN 17
int store_snapshot_read(store *self, uint8_t cursor[STORE_KEY_LEN], size_t *cursor_len,
                        store_record *out, size_t max, store_vv *vv_at_start);

/* Deletes log entries logged before before_ms (retention; see the notes above for the
 * exact rule), in the writer thread, at most 10000 per transaction, keeping the version
 * vector. done(arg, status). Returns 0 or KMS_ESTORE (closing). */
int store_log_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg);

/* Log statistics for /status: entries held and the oldest entry's time (0 when empty).
 * A read transaction with one look-up per origin (the first entry of each origin is its
 * oldest); either pointer may be NULL; on a store error both are 0. */
void store_log_stats(store *self, uint64_t *entries, int64_t *oldest_ms);

/* Bytes of the pages the update log takes in the store (0 on a store error). */
uint64_t store_log_bytes(store *self);

#endif
