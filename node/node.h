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
#include "node/unknownids.h"
#include "replication/store.h"

struct event_base;
struct server;
struct admin;
struct repl;
struct dns;
struct ready;

#define NODE_RECENT_MAX 32 /* recent activations kept for /status */

typedef struct node_recent {
    int64_t ts_ms;
    char workstation[64];
    char address[48];
    char product[32];
    int app;
    uint32_t count;
    uint32_t hresult;
} node_recent;

typedef struct node {
    struct event_base *base;
    kmsd_config cfg;
    char config_path[CONFIG_PATH_MAX]; /* "" when running on embedded defaults */
    store *store;
    clients_index *clients;
    products_index products;  /* the product tables by GUID, for the request path */
    metrics metrics;
    int64_t clock_offset_ms;  /* tests: shifts the node's idea of now */
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
    unknownids unknown_ids;   /* KMS counted IDs not in the product table (this node's requests) */
} node;

/* Wall-clock time of the node in unix milliseconds (clock_offset_ms included). */
int64_t node_now_ms(const node *n);
/* Monotonic milliseconds for latencies and timers. */
double node_mono_ms(void);
/* Remembers an answered request for /status. */
void node_note_recent(node *n, const node_recent *r);
/* Starts replication (n->repl) for the peers of n->cfg, counting what it applies in
 * n->clients; n->repl stays NULL for a node without peers. Returns 0, or -1 with the reason
 * in err. n->store must be open with its origin (n->origin) set. */
int node_start_replication(node *n, char *err, size_t errlen);

#endif
