/* admin.h: the node's HTTP admin interface (loopback by default): /healthz, /status (JSON:
 * node, counts per application, /dlv-style counters, recent activations) and /metrics
 * (Prometheus text format). */
#ifndef KMSHA_ADMIN_H
#define KMSHA_ADMIN_H

#include <stddef.h>
#include "node/node.h"

typedef struct admin admin;

/* Binds cfg.admin. Returns NULL with a message in err (port 0: returns NULL, err ""). */
admin *admin_new(node *n, char *err, size_t errlen);
void admin_free(admin **self_p);

#endif
