/* admin_gate.h: who may reach the admin HTTP interface, and for how long. The gate owns
 * the admin listening socket and puts every request through the same checks before its
 * handler runs:
 *  - at most [limits] admin_max_connections connections; a connection has
 *    admin_header_timeout seconds to deliver a request's line and headers (from its start
 *    or from the previous answer), then admin_body_timeout seconds for the body, or it is
 *    closed;
 *  - the Host header must name the admin address (its address as configured, localhost
 *    for a loopback address, a name of [node] admin_hosts): DNS rebinding reads nothing;
 *  - an ADMIN_TOKEN route, and every request that is not GET or HEAD, needs the admin
 *    token (Authorization: Bearer TOKEN; the file [node] admin_token_file, mode 0600,
 *    made at first start), an Origin (if any) that is the admin address itself, and no
 *    HTML form content type;
 *  - an ADMIN_READ route (client records) needs the same with the read token ([node]
 *    read_token_file, made alike) or the admin token;
 *  - an open route that also carries personal data (/status) asks admin_gate_may_read and
 *    leaves that data out for a request that may not read it.
 * Every endpoint is registered with admin_gate_route: there is no other way in. */
#ifndef KMSHA_ADMIN_GATE_H
#define KMSHA_ADMIN_GATE_H

#include <stddef.h>
#include <stdint.h>
#include "node/node.h"

struct evhttp;
struct evhttp_request;
typedef struct admin_gate admin_gate;

typedef enum admin_access {
    ADMIN_OPEN,  /* monitoring: /metrics, /healthz, /status, the status page */
    ADMIN_READ,  /* personal data (client records): the read token or the admin token */
    ADMIN_TOKEN, /* state changes and the DNS check: the admin token */
} admin_access;

typedef void (*admin_handler)(struct evhttp_request *req, void *arg);

/* Loads (or makes) the admin and read tokens and binds cfg.admin for http. NULL with err
 * on failure. */
admin_gate *admin_gate_new(node *n, struct evhttp *http, char *err, size_t errlen);
/* Frees the listener; call after evhttp_free (which closes the connections). */
void admin_gate_free(admin_gate **self_p);
void admin_gate_route(admin_gate *g, const char *path, admin_handler cb, void *arg, admin_access access);
/* The handler of every other path (ADMIN_OPEN). */
void admin_gate_fallback(admin_gate *g, admin_handler cb, void *arg);
/* May req read personal data (workstation names, client addresses)? True when it carries
 * the read token or the admin token, with an Origin (if any) that is the admin address:
 * the check of an ADMIN_READ route, for an open route that shows such data only to those
 * (/status's recent activations). A wrong token is not refused here, only not trusted. */
bool admin_gate_may_read(const admin_gate *g, struct evhttp_request *req);

typedef struct admin_gate_stats {
    uint64_t open;       /* connections open now */
    uint64_t refused;    /* connections refused at admin_max_connections */
    uint64_t header_timed_out; /* connections closed at admin_header_timeout */
    uint64_t body_timed_out;   /* connections closed at admin_body_timeout */
    uint64_t denied;     /* requests answered 403 / 421 */
} admin_gate_stats;
void admin_gate_get_stats(const admin_gate *g, admin_gate_stats *out);

/* Reads the token in path, making it (32 random bytes as hex, mode 0600) when the file
 * does not exist; a file that others may read is refused. what ("admin token", "read
 * token") names it in err. Returns 0 or -1 with err. */
int admin_token_load(const char *path, const char *what, char *token, size_t cap, char *err, size_t errlen);

#endif
