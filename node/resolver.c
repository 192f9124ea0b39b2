/* resolver.c: c-ares on libevent (see resolver.h). c-ares tells us which sockets to watch
 * (sock_state_cb); one event per socket calls ares_process_fd, and one timer follows
 * ares_timeout() for retransmissions and timeouts. */
#include "node/resolver.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/log.h"
#include "proto/errors.h"

#define RESOLVER_MAX_FDS 16 /* sockets c-ares may have open */

typedef struct fdslot {
    ares_socket_t fd; /* ARES_SOCKET_BAD = free */
    struct event *ev;
} fdslot;

struct resolver {
    struct event_base *base;
    ares_channel ch;
    bool have_channel;
    bool destroying;
    fdslot fds[RESOLVER_MAX_FDS];
    struct event *timer;
};

static void rearm_timer(resolver *r)
{
    if (!r->have_channel || r->destroying) return;
    struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
    if (tvp) evtimer_add(r->timer, tvp);
    else evtimer_del(r->timer);
}

static void fd_cb(evutil_socket_t fd, short what, void *arg)
{
    resolver *r = arg;
    ares_process_fd(r->ch, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
    rearm_timer(r);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    resolver *r = arg;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm_timer(r);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    resolver *r = data;
    fdslot *slot = NULL, *free_slot = NULL;
    for (int i = 0; i < RESOLVER_MAX_FDS; i++) {
        if (r->fds[i].fd == fd) slot = &r->fds[i];
        else if (!free_slot && r->fds[i].fd == ARES_SOCKET_BAD) free_slot = &r->fds[i];
    }
    if (!readable && !writable) {
        if (slot) {
            event_del(slot->ev);
            slot->fd = ARES_SOCKET_BAD;
        }
        return;
    }
    if (!slot) {
        if (!free_slot) {
            log_error("dns: more than %d sockets open; a DNS exchange will time out", RESOLVER_MAX_FDS);
            return;
        }
        slot = free_slot;
        slot->fd = fd;
    }
    short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) | EV_PERSIST);
    event_del(slot->ev);
    event_assign(slot->ev, r->base, (evutil_socket_t)fd, what, fd_cb, r);
    event_add(slot->ev, NULL);
}

resolver *resolver_new(struct event_base *base, const char *ip, uint16_t port, int timeout_ms,
                       int ares_flags, char *err, size_t errlen)
{
    static bool ares_ready;
    if (!ares_ready) {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
            snprintf(err, errlen, "c-ares: cannot initialise");
            return NULL;
        }
        ares_ready = true;
    }
    struct ares_addr_port_node srv;
    memset(&srv, 0, sizeof srv);
    if (inet_pton(AF_INET, ip, &srv.addr.addr4) == 1) srv.family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &srv.addr.addr6) == 1) srv.family = AF_INET6;
    else {
        snprintf(err, errlen, "not an IP address");
        return NULL;
    }
    srv.udp_port = srv.tcp_port = port;
    resolver *r = calloc(1, sizeof *r);
    if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
    r->base = base;
    for (int i = 0; i < RESOLVER_MAX_FDS; i++) {
        r->fds[i].fd = ARES_SOCKET_BAD;
        r->fds[i].ev = event_new(base, -1, 0, fd_cb, r);
        if (!r->fds[i].ev) { snprintf(err, errlen, "out of memory"); resolver_free(&r); return NULL; }
    }
    r->timer = evtimer_new(base, timer_cb, r);
    if (!r->timer) { snprintf(err, errlen, "out of memory"); resolver_free(&r); return NULL; }
    /* Two tries share timeout_ms; no resolv.conf, no search domains, no hosts file. */
    struct ares_options o;
    memset(&o, 0, sizeof o);
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ares_flags;
    o.timeout = timeout_ms / 2 > 50 ? timeout_ms / 2 : 50;
    o.tries = 2;
    o.ndomains = 0;
    o.domains = NULL;
    char lookups[] = "b";
    o.lookups = lookups;
    char resolvconf[] = "/dev/null";
    o.resolvconf_path = resolvconf;
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = r;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS |
               ARES_OPT_SOCK_STATE_CB | ARES_OPT_RESOLVCONF;
    int rc = ares_init_options(&r->ch, &o, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        resolver_free(&r);
        return NULL;
    }
    r->have_channel = true;
    if ((rc = ares_set_servers_ports(r->ch, &srv)) != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        resolver_free(&r);
        return NULL;
    }
    return r;
}

void resolver_free(resolver **self_p)
{
    if (!self_p || !*self_p) return;
    resolver *r = *self_p;
    r->destroying = true;
    if (r->have_channel) ares_destroy(r->ch); /* runs every callback with ARES_EDESTRUCTION */
    for (int i = 0; i < RESOLVER_MAX_FDS; i++)
        if (r->fds[i].ev) event_free(r->fds[i].ev);
    if (r->timer) event_free(r->timer);
    free(r);
    *self_p = NULL;
}

void resolver_query(resolver *r, const char *name, int dnsclass, int type, ares_callback cb, void *arg)
{
    ares_query(r->ch, name, dnsclass, type, cb, arg);
    rearm_timer(r);
}

void resolver_send(resolver *r, const unsigned char *msg, int len, ares_callback cb, void *arg)
{
    ares_send(r->ch, msg, len, cb, arg);
    rearm_timer(r);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg; /* only wakes the loop */
}

int resolver_wait(resolver *r, int timeout_ms)
{
    struct event *deadline = evtimer_new(r->base, deadline_cb, NULL);
    if (!deadline) return KMS_ENOMEM;
    struct timeval dt = {timeout_ms / 1000, (timeout_ms % 1000) * 1000}, tv;
    evtimer_add(deadline, &dt);
    int rc = 0;
    rearm_timer(r);
    while (ares_timeout(r->ch, NULL, &tv)) { /* NULL: nothing pending */
        if (!evtimer_pending(deadline, NULL)) {
            ares_cancel(r->ch); /* the callbacks run with ARES_ECANCELLED */
            rc = KMS_ETIMEOUT;
            break;
        }
        event_base_loop(r->base, EVLOOP_ONCE);
    }
    event_free(deadline);
    return rc;
}
