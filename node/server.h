/* server.h: the KMS listener of a node: accepts TCP connections (allowlist and limits at
 * accept), reassembles DCE/RPC PDUs, answers binds, decodes KMS requests, asks kmshost for
 * the decision, commits the record through the store and only then answers. A malformed
 * or hostile client gets a fault or a closed connection and one log line. */
#ifndef KMSHA_SERVER_H
#define KMSHA_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include "node/clients.h"
#include "node/config.h"
#include "node/metrics.h"
#include "node/unknownids.h"
#include "replication/store.h"

struct event_base;
typedef struct server server;

/* One answered request, as the listener reports it to its node (for /status's recent
 * activations and /activity). */
typedef struct server_answer {
    int64_t ts_ms;
    char workstation[64];
    char address[48];
    char product[32];
    int app;                  /* kms_app, or -1 when unknown */
    uint32_t count;
    uint32_t hresult;
    int result;               /* enum metrics_result */
} server_answer;

/* What the listener uses of its node: the loop, the configuration (read at use, so a
 * reload shows), the product tables, the count index (decisions; records once stored),
 * the store (a record is committed before the answer), the counters it adds to and the
 * unknown-ID list; and, through callbacks given ctx, the node's clock, each answer (for
 * /status's recent activations and /activity) and each committed update (to replicate). */
typedef struct server_env {
    struct event_base *base;
    const kmsd_config *cfg;
    const products_index *products;
    clients_index *clients;
    store *store;
    metrics *metrics;
    unknownids *unknown_ids;
    void *ctx;
    int64_t (*now_ms)(void *ctx);                        /* the node's wall clock, unix ms */
    void (*answered)(void *ctx, const server_answer *r); /* a request was answered */
    void (*committed)(void *ctx, const store_update *u); /* a logged update is on disk */
} server_env;

/* Binds every cfg->listen address, without listening yet: until server_set_accepting(true)
 * a client's connection is refused (reset). env is copied; what it points to must outlive
 * the server. Returns NULL with a message in err on failure. */
server *server_new(const server_env *env, char *err, size_t errlen);
/* Listens (true) or closes the listening sockets (false: connections are refused at once,
 * so clients fail over to another node; open connections are not touched). The catch-up
 * gate (node/ready.h) decides. Returns 0, or an error (logged) when a socket cannot be
 * bound again; the caller retries. */
int server_set_accepting(server *s, bool on);
bool server_accepting(const server *s);
/* Stops accepting and closes idle connections; in-flight requests still complete. */
void server_stop_accepting(server *s);
/* Connections whose request awaits its commit. */
unsigned server_pending(const server *s);
unsigned server_connections(const server *s);
/* Closes everything (after server_stop_accepting and pending == 0). Accepts NULL. */
void server_free(server **self_p);

#endif
