/* admin_clients.h: GET /clients on the admin address: the node's client records that match
 * a query (query.h: cmid, workstation, address, application, since, until; limit, after),
 * as JSON. The store is scanned in bounded pages, one page per event loop turn, so a query
 * over a million records never stalls the KMS requests the loop serves. */
#ifndef KMSHA_ADMIN_CLIENTS_H
#define KMSHA_ADMIN_CLIENTS_H

#include "node/admin_gate.h"
#include "node/node.h"

struct evhttp;
typedef struct admin_clients admin_clients;

/* Registers /clients on http. Returns NULL when out of memory. */
admin_clients *admin_clients_new(node *n, admin_gate *gate);
/* Drops the queries in progress without answering them; call before evhttp_free (which
 * frees their requests). Accepts NULL; NULLs *self_p. */
void admin_clients_free(admin_clients **self_p);

#endif
