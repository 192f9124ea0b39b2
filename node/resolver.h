/* resolver.h: the one c-ares driver. A channel that asks one DNS server only (never the
 * system's resolv.conf servers, no search list, no hosts file), driven by libevent: the
 * daemon's DNS publisher runs it on the node's loop; the tools' blocking look-ups run it
 * on a loop of their own until a deadline (resolver_wait). */
#ifndef KMSHA_RESOLVER_H
#define KMSHA_RESOLVER_H

#include <ares.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct resolver resolver;

/* A channel to the server at ip (an IPv4 or IPv6 address literal) and port on base.
 * timeout_ms is per exchange (two tries share it); ares_flags are added to NOSEARCH |
 * NOALIASES (the publisher adds NOCHECKRESP | NORECURSE). Returns NULL with the reason
 * in err ("not an IP address", c-ares' message). */
resolver *resolver_new(struct event_base *base, const char *ip, uint16_t port, int timeout_ms,
                       int ares_flags, char *err, size_t errlen);
/* Destroys the channel (every pending callback runs with ARES_EDESTRUCTION) and its
 * events; NULLs the pointer. */
void resolver_free(resolver **self_p);

/* ares_query / ares_send on the channel (the callback runs later, from the loop, or with
 * ARES_EDESTRUCTION from resolver_free); also arms the timeout. */
void resolver_query(resolver *r, const char *name, int dnsclass, int type, ares_callback cb, void *arg);
void resolver_send(resolver *r, const unsigned char *msg, int len, ares_callback cb, void *arg);

/* Runs the loop until no query is pending or timeout_ms passes (then the pending queries
 * are cancelled: their callbacks run with ARES_ECANCELLED). For the blocking tools, on a
 * loop that runs nothing else. Returns 0 or KMS_ETIMEOUT. */
int resolver_wait(resolver *r, int timeout_ms);

#endif
