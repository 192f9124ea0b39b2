/* repl.h: replication between the nodes of a cluster over ZeroMQ (the clone pattern made
 * multi-master). Each node publishes its own updates and heartbeats (carrying its version
 * vector) on a PUB socket, subscribes to every peer, and serves catch-up (from its update
 * log, or a snapshot when the log no longer reaches back) on a ROUTER socket. CURVE
 * encrypts and authenticates every socket, always; a ZAP handler admits only the peers'
 * public keys. Runs on the node's event loop and never blocks it. */
#ifndef KMSHA_REPL_H
#define KMSHA_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "replication/store.h"

struct event_base;
typedef struct repl repl;

#define REPL_MAX_PEERS 32
#define REPL_KEY_Z85_LEN 40

/* One member of the cluster as replication sees it. */
typedef struct repl_peer_config {
    char id[64];
    char site[64];
    char host[256];           /* replication address: PUB on port, catch-up on port + 1 */
    uint16_t port;
    char public_key[REPL_KEY_Z85_LEN + 1]; /* CURVE public key (Z85), required */
} repl_peer_config;

/* Lines the engine wants logged; REPL_LOG_LIMITED is or-ed in for lines a peer (or an
 * attacker) can provoke at will: the caller rate-limits those. */
enum repl_log_level { REPL_LOG_INFO = 0, REPL_LOG_WARN = 1, REPL_LOG_ERROR = 2, REPL_LOG_LIMITED = 0x100 };

typedef struct repl_config {
    char node_id[64];
    char key_dir[512];           /* this node's CURVE secret key: KEY_DIR/<node_id>.key */
    uint32_t heartbeat_interval_ms;
    uint32_t dead_after_ms;
    uint64_t retire_unheard_after_ms; /* origins are retired without a peer unheard this long
                                         (0: never); it is then owed a snapshot */
    uint32_t sync_batch;         /* updates or records per catch-up reply, <= REPL_BATCH_MAX */
    int64_t future_tolerance_ms; /* records from peers last seen later than this node's clock
                                    plus this are refused (0 = no bound) */
    int64_t clock_offset_ms;     /* tests: shifts the engine's idea of the wall clock */
    repl_peer_config peers[REPL_MAX_PEERS]; /* this node included */
    int n_peers;
    /* A remote record has been stored in this node's store (its commit returned; never
     * for a record the store refused): the user counts it. live: it came as a live update
     * (not from catch-up or a snapshot). Runs on the event loop; rec is valid during the
     * call only. */
    void (*applied)(void *arg, const store_record *rec, bool live);
    /* One line to log (no newline); may be called from the engine's ZAP thread. */
    void (*log)(void *arg, int level, const char *line);
    void *arg;
} repl_config;

/* Starts replication on base for the peers of cfg (copied), committing remote updates
 * into records (borrowed: must outlive the engine). Returns NULL with err "" when cfg has no
 * peers (a single node), NULL with the reason in err on failure. The store's origin must
 * be set. */
repl *repl_new(struct event_base *base, store *records, const repl_config *cfg, const char *origin,
               char *err, size_t errlen);
void repl_free(repl **self_p);

/* Publishes a local update that has just been committed. */
void repl_publish(repl *r, const store_update *u);

typedef struct repl_peer_info {
    char id[64];
    char site[64];
    bool self;
    bool alive;
    int64_t last_heard_ms;   /* unix ms of the last heartbeat (0 = never) */
    bool lag_known;          /* false while the peer is not heard (dead): lag unknown */
    bool clock_known;        /* a live peer: clock_offset_ms is from its last heartbeat */
    int64_t clock_offset_ms; /* its wall clock minus this node's */
    uint64_t lag_updates;    /* updates this peer has that this node has not applied */
    int64_t lag_ms;          /* how long this node has been behind this peer (0 = not) */
    uint64_t updates_received, syncs_served, snapshots_served, malformed;
} repl_peer_info;

/* This node's store lost what it held (new, wiped, restored: it holds no update of this
 * node's own origin): its first catch-up is a snapshot, since updates of retired origins
 * are sent by no log (see repl.c, origin retirement). Call after repl_new. */
void repl_require_snapshot(repl *r);
/* Whether that snapshot is still to be taken (the node must not serve before). */
bool repl_snapshot_required(const repl *r);

/* This node's clock is known to be wrong (it disagrees with its peers or stepped): records
 * from peers are then not judged by it (no future bound) until it is trusted again. */
void repl_set_clock_suspect(repl *r, bool suspect);

/* How many of this node's own committed updates (its current origin) the live peers'
 * last heartbeats do not show yet, summed over those peers (0 with no live peer). A
 * stopping node waits for 0, so what it answered last reaches a peer before it exits. */
uint64_t repl_own_updates_unconfirmed(const repl *r);

int repl_peer_count(const repl *r);
void repl_peer_get(const repl *r, int i, repl_peer_info *out);
/* Is peer id alive (self: true)? Unknown ids: false. */
bool repl_peer_alive(const repl *r, const char *id);
/* Monotonic milliseconds since this node last heard peer id (since the engine started when
 * it has not been heard yet; self: 0); -1 for an unknown id or no engine. */
double repl_peer_silent_ms(const repl *r, const char *id);
/* Counters for /metrics. */
typedef struct repl_stats {
    uint64_t published, applied, duplicates, gaps, sync_requests, sync_replies,
        snapshot_records, malformed, refused_keys,
        future_refused,   /* records refused: last seen beyond future_tolerance_ms */
        origins_refused,  /* new origins refused: malformed, no such peer, or the peer's
                             share of the version vector full */
        origins_retired,  /* origins retired from this node's version vector */
        sync_dropped;     /* catch-up replies dropped: the requester's queue was full */
} repl_stats;
void repl_get_stats(const repl *r, repl_stats *out);

/* Update origins: "<node id>.<8 hex digits>", kept in DATA_DIR/origin. A node numbers its
 * own updates under its origin; a store that lost them (wiped, restored, rebuilt) must not
 * number new ones from where it stands, since peers may hold later ones: it resumes one
 * of its earlier origins once every peer shows it holds no more of it than this node
 * (repl_resumable_origin), else it takes a fresh one. So rebuilds add no origin to the
 * version vector, which holds at most STORE_VV_MAX. */

/* Reads this node's origin back from DATA_DIR/origin when the store still holds updates
 * of it. Returns 1 (origin filled) or 0 (none to keep). */
int repl_origin_read(const char *data_dir, const char *node_id, const store_vv *vv, char *origin, size_t cap);
/* A fresh random origin for node_id. Returns 0, KMS_ERANDOM or KMS_EINVAL. */
int repl_origin_new(const char *node_id, char *origin, size_t cap);
/* Writes origin to DATA_DIR/origin (atomically, synced). Returns 0 or KMS_EIO. */
int repl_origin_save(const char *data_dir, const char *origin);
/* repl_origin_read, else repl_origin_new and repl_origin_save (tools, single nodes). */
int repl_origin_for(const char *data_dir, const char *node_id, const store_vv *vv,
                    char *origin, size_t cap);
/* One of this node's earlier origins it may number updates under again: every other peer
 * is alive and none advertises more of that origin than this node has committed (so no
 * update of it exists beyond, except on a lost disk), the highest such. Returns 1 (origin
 * filled) or 0; *all_heard says whether every peer was alive (when not, 0 may change). */
int repl_resumable_origin(const repl *r, char *origin, size_t cap, bool *all_heard);
/* The origin this node numbers its updates under, once chosen (for the log). */
void repl_set_origin(repl *r, const char *origin);

#endif
