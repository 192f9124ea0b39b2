/* ready.h: the catch-up gate of a node. A node answers KMS requests and publishes its SRV
 * records only once it holds what the cluster holds: at start (also after a wipe or a
 * restore) and when it hears a peer again after being alone, it refuses connections until
 * its version vector covers what every live peer's heartbeat advertises. With no peer heard
 * at all for [cluster] alone_after_ms it serves alone and says so (/status, the log, the
 * metric kmsha_serving_alone); once a peer has been heard, only catching up ends the wait
 * (a node half way through a snapshot never serves its partial store). A node without
 * peers serves at once. */
#ifndef KMSHA_READY_H
#define KMSHA_READY_H

#include <stdbool.h>
#include <stdint.h>
#include "node/node.h"

struct evbuffer;
typedef struct ready ready;

typedef enum ready_state {
    READY_SYNCING, /* catching up: connections refused, SRV records withdrawn */
    READY_SERVING, /* caught up with the live peers */
    READY_ALONE,   /* no live peer: serving with what this node holds */
} ready_state;

/* Starts the gate (call after server_new, dns_new and repl_new): a node without peers
 * serves at once, the others once caught up. Returns NULL with a message in err. */
ready *ready_new(node *n, char *err, size_t errlen);
void ready_free(ready **self_p);

ready_state ready_get(const ready *r);
/* Serving (caught up or alone)? A NULL gate serves. */
bool ready_serving(const ready *r);
/* One line for /healthz and the log: "catching up: 1234 updates behind kms2", ... */
const char *ready_reason(const ready *r);
/* "syncing", "serving", "alone" (for /status). */
const char *ready_state_name(ready_state st);
/* Unix ms when the current state began. */
int64_t ready_since_ms(const ready *r);
/* Appends kmsha_serving and kmsha_serving_alone. */
void ready_metrics(const ready *r, struct evbuffer *b);

#endif
