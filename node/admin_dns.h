/* admin_dns.h: the admin endpoints of DNS publishing: GET /dns (the check: what the DNS
 * server holds per zone against what should be published, dns.h), POST /drain and POST
 * /undrain (withdraw / republish this node's records; the state survives a restart). */
#ifndef KMSHA_ADMIN_DNS_H
#define KMSHA_ADMIN_DNS_H

#include <stdbool.h>
#include "node/admin_gate.h"
#include "node/node.h"

struct evhttp;
struct evhttp_request;
typedef struct admin_dns admin_dns;

/* Registers /dns, /drain and /undrain on http (POST must be among its allowed methods).
 * Returns NULL when out of memory. */
admin_dns *admin_dns_new(node *n, admin_gate *gate);
/* Drops the checks in progress without answering them; call before evhttp_free. Accepts
 * NULL; NULLs *self_p. */
void admin_dns_free(admin_dns **self_p);

/* For the other handlers of the admin address: answers 405 to anything but GET and HEAD
 * and returns false, so POST reaches only /drain and /undrain. */
bool admin_get_only(struct evhttp_request *req);

#endif
