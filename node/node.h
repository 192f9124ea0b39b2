/* node.h: one kmsd node's shared state: configuration, event loop, store, count index,
 * counters and clock. Owned by the event loop thread; every module takes a node *. */
#ifndef KMSHA_NODE_H
#define KMSHA_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "node/clients.h"
#include "node/config.h"
#include "node/metrics.h"
#include "node/server.h"
#include "node/timecheck.h"
#include "node/unknownids.h"
#include "replication/store.h"

struct event_base;
struct server;
struct admin;
struct repl;
struct dns;
struct ready;

#define NODE_RECENT_MAX 32 /* recent activations kept for /status */
#define NODE_ACTIVITY_MINUTES 1440 /* answers per minute kept for /activity (24 h) */

typedef server_answer node_recent; /* what /status shows of an answered request */

typedef struct node {
    struct event_base *base;
    kmsd_config cfg;
    char config_path[CONFIG_PATH_MAX]; /* "" when running on embedded defaults */
    store *store;
    clients_index *clients;
    products_index products;  /* the product tables by GUID, for the request path */
    metrics metrics;
    int64_t clock_offset_ms;  /* tests: shifts the node's idea of now */
    timecheck clock;          /* is the wall clock trusted? (no pruning while it is not) */
    bool prune_deferred;      /* a prune was skipped for an untrusted clock */
    int64_t started_ms;
    bool stopping;
    struct server *server;
    struct admin *admin;
    struct repl *repl;        /* NULL for a node without peers */
    struct dns *dns;          /* DNS publishing and the drain state (node/dns.h) */
    struct ready *ready;      /* the catch-up gate: serving or not (node/ready.h) */
    char origin[64];          /* this node's update origin (see repl_origin_for) */
    node_recent recent[NODE_RECENT_MAX];
    unsigned recent_next;
    /* Answers per minute of the node's clock, ring indexed by minute % NODE_ACTIVITY_MINUTES;
     * activity_minute: the newest minute held (older slots are cleared as time moves on). */
    uint32_t activity_activated[NODE_ACTIVITY_MINUTES], activity_below[NODE_ACTIVITY_MINUTES];
    int64_t activity_minute;
    unknownids unknown_ids;   /* KMS counted IDs not in the product table (this node's requests) */
} node;

/* Wall-clock time of the node in unix milliseconds (clock_offset_ms included). */
int64_t node_now_ms(const node *n);
/* Monotonic milliseconds for latencies and timers. */
double node_mono_ms(void);
/* Remembers an answered request for /status. */
void node_note_recent(node *n, const node_recent *r);
/* Counts an answer (result: enum metrics_result) in its minute for /activity. */
void node_note_activity(node *n, int result, int64_t now_ms);
/* Moves the per-minute ring to now_ms's minute (clearing the minutes that passed). */
void node_activity_advance(node *n, int64_t now_ms);
/* Starts replication (n->repl) for the peers of n->cfg, counting what it applies in
 * n->clients; n->repl stays NULL for a node without peers. Returns 0, or -1 with the reason
 * in err. n->store must be open with its origin (n->origin) set. */
int node_start_replication(node *n, char *err, size_t errlen);
/* Starts DNS publishing (n->dns, node/dns.h) with what it uses of the node. Returns 0, or
 * -1 with the reason in err. Call after node_start_replication. */
int node_start_dns(node *n, char *err, size_t errlen);
/* Binds the KMS listener (n->server, node/server.h) with what it uses of the node.
 * Returns 0, or -1 with the reason in err. */
int node_start_server(node *n, char *err, size_t errlen);
/* Chooses this node's update origin when it started without one (a new, wiped, restored or
 * rebuilt store: n->origin ""), before it serves: one of its earlier origins when every
 * peer is heard and holds no more of it than this node (repl_resumable_origin), else a
 * fresh one. may_wait: while some peer is not heard yet, wait (return 0) rather than take
 * a fresh origin. Returns 1 once n->origin is set, 0 to wait, -1 on an error (logged). */
int node_take_origin(node *n, bool may_wait);

#endif
