/* server.h: the KMS listener of a node: accepts TCP connections (allowlist and limits at
 * accept), reassembles DCE/RPC PDUs, answers binds, decodes KMS requests, asks kmshost for
 * the decision, commits the record through the store and only then answers. A malformed
 * or hostile client gets a fault or a closed connection and one log line. */
#ifndef KMSHA_SERVER_H
#define KMSHA_SERVER_H

#include <stdbool.h>
#include "node/node.h"

typedef struct server server;

/* Binds every cfg.listen address, without listening yet: until server_set_accepting(true)
 * a client's connection is refused (reset). Returns NULL with a message in err on failure. */
server *server_new(node *n, char *err, size_t errlen);
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
