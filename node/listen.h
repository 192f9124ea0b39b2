/* listen.h: the daemon's TCP listeners (KMS and admin ports). Bound through getaddrinfo,
 * close-on-exec, SO_REUSEADDR. When accept() fails for want of resources (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM: the descriptors are used up) the listener stops accepting for
 * LISTEN_BACKOFF_MS and then tries again, instead of spinning on the pending connection;
 * the failure is logged at most once a second (log class LOG_CLASS_ACCEPT). */
#ifndef KMSHA_LISTEN_H
#define KMSHA_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/listener.h>
#include "node/config.h"

#define LISTEN_BACKOFF_MS 100

typedef struct listener listener;

/* Listens on a; cb gets every accepted connection. what names the port in messages
 * ("KMS", "admin"). Returns NULL with err on failure. */
/* The passive socket address of a (numeric host and port; an empty host is any):
 * 0 with *res to freeaddrinfo, or -1 with "WHAT address HOST:PORT: cause" in err. */
int listen_resolve(const config_addr *a, const char *what, struct addrinfo **res, char *err, size_t errlen);
listener *listener_new(struct event_base *base, const config_addr *a, evconnlistener_cb cb, void *arg,
                       const char *what, char *err, size_t errlen);
/* The same for an evhttp server, which takes the connections (and frees the listening
 * socket in evhttp_free: call listener_free after that). */
struct evhttp;
listener *listener_new_http(struct event_base *base, const config_addr *a, struct evhttp *http, const char *what,
                            char *err, size_t errlen);
void listener_free(listener **self_p);
/* Stops (hold) or resumes accepting: new connections wait in the kernel's queue. */
void listener_hold(listener *l, bool hold);
/* Logs a failed accept() (rate-limited) and says whether it was for want of resources,
 * when the caller's listeners should pause LISTEN_BACKOFF_MS (for listeners of its own). */
bool listen_failure_pauses(const char *what, int err);
/* accept() failures since the start (each one paused the listener). */
uint64_t listener_failures(const listener *l);

#endif
