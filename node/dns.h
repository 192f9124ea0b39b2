/* dns.h: the node's DNS publisher. Keeps this node's _vlmcs._tcp SRV record (and the A/AAAA
 * record of a derived target name) in every [dns] zone by TSIG-signed RFC 2136 updates,
 * withdraws the records of peers dead for withdraw_after (only the lowest live node does),
 * and withdraws this node's own while it is drained. Runs on the node's event loop with
 * c-ares as the transport (updates built by proto/dnsmsg, sent with ares_send; look-ups
 * with ares_query) and never blocks it. DNS failures are shown, counted, logged once and
 * retried with backoff; they never stop the node serving KMS. */
#ifndef KMSHA_DNS_H
#define KMSHA_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include "node/config.h"

struct evbuffer;
struct event_base;
typedef struct dns dns;

/* What the publisher uses of its node: the loop, the configuration (read at use, so a
 * reload shows) and, through callbacks given ctx, the catch-up gate, whether the node is
 * stopping, and replication's view of a peer (NULL without replication: then no peer is
 * ever known alive or dead, and none is withdrawn). */
typedef struct dns_env {
    struct event_base *base;
    const kmsd_config *cfg;
    void *ctx;
    bool (*serving)(void *ctx);   /* this node serves (node/ready.h): publish its records */
    bool (*stopping)(void *ctx);  /* the node is shutting down: start no cycle */
    bool (*peer_alive)(void *ctx, const char *id);
    double (*peer_silent_ms)(void *ctx, const char *id); /* -1 when not known */
} dns_env;

/* Sets up publishing per env->cfg's [dns] section and reads DATA_DIR/drained. With [dns]
 * server empty publishing is off, but the drain state is still kept. Reads the TSIG key
 * file (once, at start). env is copied; what it points to must outlive the publisher.
 * Returns NULL with a message in err. */
dns *dns_new(const dns_env *env, char *err, size_t errlen);
/* Cancels what is in flight (no callback runs afterwards) and frees. Accepts NULL. */
void dns_free(dns **self_p);

/* Is this node drained (its records withdrawn while it keeps serving)? */
bool dns_drained(const dns *d);
/* Drains (true) or undrains this node: persists the state in DATA_DIR/drained (it survives
 * a restart) and withdraws or republishes at once. Returns 0 or KMS_EIO (errno set). */
int dns_set_drained(dns *d, bool drained);

/* SIGTERM: deletes this node's records from every zone (one signed UPDATE per zone, sent
 * after the answer to a publishing round in flight) and runs done once the server has
 * answered them all, or timeout_ms after sending; no cycle runs afterwards. Without
 * publishing, done runs at once. */
void dns_leave(dns *d, void (*done)(void *arg), void *arg);
/* The catch-up gate changed (node/ready.h): publish or withdraw this node's records now. */
void dns_serving_changed(dns *d);

/* Appends the "dns" member of /status (starting with ',': ,"dns":{...}). */
void dns_status_json(const dns *d, struct evbuffer *b);
/* Appends the Prometheus lines of DNS publishing (kmsha_dns_*). */
void dns_metrics(const dns *d, struct evbuffer *b);

/* The check behind GET /dns and `kmsctl dns check`: looks up every zone's SRV RRset (and
 * the address records of derived target names) on the server and compares it with what
 * should be published. done gets the JSON text (valid only during the call); ok is false
 * when something differs as far as this node can tell (other nodes' drain state is not
 * known here: "drained": null). */
typedef void (*dns_check_fn)(void *arg, bool ok, const char *json, size_t len);
typedef struct dns_check dns_check;
/* Starts a check. Returns 0 with *out set (done runs later, from the loop), 1 when done has
 * already run (publishing is off: nothing to look up), or KMS_ENOMEM. */
int dns_check_start(dns *d, dns_check_fn done, void *arg, dns_check **out);
/* Cancels a check that has not completed: done will not run. *check_p is set to NULL. */
void dns_check_cancel(dns_check **check_p);

#endif
