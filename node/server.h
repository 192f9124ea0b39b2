/* server.h: the KMS listener of a node: accepts TCP connections (allowlist and limits at
 * accept), reassembles DCE/RPC PDUs, answers binds, decodes KMS requests, asks kmshost for
 * the decision, commits the record through the store and only then answers. A malformed
 * or hostile client gets a fault or a closed connection and one log line. */
#ifndef KMSHA_SERVER_H
#define KMSHA_SERVER_H

#include "node/node.h"

typedef struct server server;

/* Binds every cfg.listen address. Returns NULL with a message in err on failure. */
server *server_new(node *n, char *err, size_t errlen);
/* Stops accepting and closes idle connections; in-flight requests still complete. */
void server_stop_accepting(server *s);
/* Connections whose request awaits its commit. */
unsigned server_pending(const server *s);
unsigned server_connections(const server *s);
/* Closes everything (after server_stop_accepting and pending == 0). Accepts NULL. */
void server_free(server **self_p);

#endif
