/* repl.h: replication between the nodes of a cluster over ZeroMQ (the clone pattern made
 * multi-master). Each node publishes its own updates and heartbeats (carrying its version
 * vector) on a PUB socket, subscribes to every peer, and serves catch-up (from its update
 * log, or a snapshot when the log no longer reaches back) on a ROUTER socket. CURVE
 * encrypts and authenticates every socket when keys are configured; a ZAP handler admits
 * only the peers' public keys. Runs on the node's event loop and never blocks it. */
#ifndef KMSHA_REPL_H
#define KMSHA_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "node/node.h"
#include "replication/store.h"

struct evbuffer;
typedef struct repl repl;

/* Starts replication for the peers of n->cfg (returns NULL with err "" when the
 * configuration has no peers: a single node). The store's origin must be set. */
repl *repl_new(node *n, const char *origin, char *err, size_t errlen);
void repl_free(repl **self_p);

/* Publishes a local update that has just been committed. */
void repl_publish(repl *r, const store_update *u);

typedef struct repl_peer_info {
    char id[64];
    char site[64];
    bool self;
    bool alive;
    int64_t last_heard_ms;   /* unix ms of the last heartbeat (0 = never) */
    uint64_t lag_updates;    /* updates this peer has that this node has not applied */
    int64_t lag_ms;          /* how long this node has been behind this peer (0 = not) */
    uint64_t updates_received, syncs_served, snapshots_served, malformed;
} repl_peer_info;

int repl_peer_count(const repl *r);
void repl_peer_get(const repl *r, int i, repl_peer_info *out);
/* Is peer id alive (self: true)? Unknown ids: false. */
bool repl_peer_alive(const repl *r, const char *id);
/* Counters for /metrics. */
typedef struct repl_stats {
    uint64_t published, applied, duplicates, gaps, sync_requests, sync_replies,
        snapshot_records, malformed, refused_keys,
        sync_dropped; /* catch-up replies dropped: the requester's queue was full */
} repl_stats;
void repl_get_stats(const repl *r, repl_stats *out);

/* Delay from an update's creation on its origin (the record's last_seen) to the moment
 * this node counts it, for live updates: a histogram over metrics_latency_bounds_ms
 * (cumulative counts are built by the caller). Same-clock assumption: on one machine or
 * NTP-synchronised hosts. */
typedef struct repl_delay_hist {
    uint64_t bucket[16];
    double sum_ms;
    uint64_t count;
} repl_delay_hist;
void repl_get_delay(const repl *r, repl_delay_hist *out);

/* Creates (or reads back) this node's update origin: "<node id>.<8 hex digits>", kept in
 * DATA_DIR/origin while the store holds updates of that origin; a wiped store gets a new
 * one, so its new sequence numbers never collide with those peers already have. */
int repl_origin_for(const char *data_dir, const char *node_id, const store_vv *vv,
                    char *origin, size_t cap);

#endif
