/* listen.c: see listen.h. */
#include "node/listen.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "node/log.h"

struct listener {
    struct evconnlistener *lev;
    bool http_owned;        /* bound to an evhttp, which frees lev */
    bool paused, held;      /* by the back-off timer; by listener_hold */
    evconnlistener_cb cb;
    void *arg;
    struct event *resume;
    char what[16];
    uint64_t failures;
};

/* evhttp takes over a listener's user argument: its listeners are found here by lev. */
#define HTTP_LISTENERS 16
static listener *http_listeners[HTTP_LISTENERS];

static void apply(listener *l)
{
    if (l->paused || l->held) evconnlistener_disable(l->lev);
    else evconnlistener_enable(l->lev);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    listener *l = arg;
    l->paused = false;
    apply(l);
}

void listener_hold(listener *l, bool hold)
{
    if (!l || l->held == hold) return;
    l->held = hold;
    apply(l);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    listener *l = arg;
    l->cb(lev, fd, sa, salen, l->arg);
}

bool listen_failure_pauses(const char *what, int e)
{
    bool resources = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
    if (log_allow(LOG_CLASS_ACCEPT))
        log_warnx("%s port: accept failed: %s%s", what, strerror(e),
                  resources ? " (raise the open file limit or lower the connection limits); "
                              "pausing accept for a moment" : "");
    return resources;
}

static void error_cb(struct evconnlistener *lev, void *arg)
{
    listener *l = arg;
    for (int i = 0; i < HTTP_LISTENERS; i++)
        if (http_listeners[i] && http_listeners[i]->lev == lev) l = http_listeners[i];
    l->failures++;
    if (!listen_failure_pauses(l->what, EVUTIL_SOCKET_ERROR())) return;
    /* The pending connection stays in the kernel's queue: without a pause the loop would
     * be called again at once for it, and fail again. */
    l->paused = true;
    apply(l);
    struct timeval tv = {0, LISTEN_BACKOFF_MS * 1000};
    evtimer_add(l->resume, &tv);
}

int listen_resolve(const config_addr *a, const char *what, struct addrinfo **res, char *err, size_t errlen)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%u", a->port);
    *res = NULL;
    int gai = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, res);
    if (gai != 0) {
        snprintf(err, errlen, "%s address %s:%u: %s", what, a->host, a->port, gai_strerror(gai));
        return -1;
    }
    return 0;
}

listener *listener_new(struct event_base *base, const config_addr *a, evconnlistener_cb cb, void *arg,
                       const char *what, char *err, size_t errlen)
{
    struct addrinfo *res;
    if (listen_resolve(a, what, &res, err, errlen) != 0) return NULL;
    listener *l = calloc(1, sizeof *l);
    if (!l) {
        freeaddrinfo(res);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(l->what, sizeof l->what, "%s", what);
    l->cb = cb;
    l->arg = arg;
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    if (res->ai_family == AF_INET6) flags |= LEV_OPT_BIND_IPV6ONLY;
    l->resume = evtimer_new(base, resume_cb, l);
    l->lev = l->resume ? evconnlistener_new_bind(base, accept_cb, l, flags, 1024, res->ai_addr, (int)res->ai_addrlen)
                       : NULL;
    int e = errno;
    freeaddrinfo(res);
    if (!l->lev) {
        snprintf(err, errlen, "cannot listen for %s on %s:%u: %s", what, a->host, a->port, strerror(e));
        listener_free(&l);
        return NULL;
    }
    evconnlistener_set_error_cb(l->lev, error_cb);
    return l;
}

static void ignore_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)lev, (void)sa, (void)salen, (void)arg;
    evutil_closesocket(fd);
}

listener *listener_new_http(struct event_base *base, const config_addr *a, struct evhttp *http, const char *what,
                            char *err, size_t errlen)
{
    int slot = 0;
    while (slot < HTTP_LISTENERS && http_listeners[slot]) slot++;
    if (slot == HTTP_LISTENERS) {
        snprintf(err, errlen, "too many HTTP listeners");
        return NULL;
    }
    listener *l = listener_new(base, a, ignore_cb, NULL, what, err, errlen);
    if (!l) return NULL;
    if (!evhttp_bind_listener(http, l->lev)) {
        snprintf(err, errlen, "cannot serve HTTP on %s:%u", a->host, a->port);
        listener_free(&l);
        return NULL;
    }
    l->http_owned = true;
    http_listeners[slot] = l;
    return l;
}

void listener_free(listener **self_p)
{
    if (!self_p || !*self_p) return;
    listener *l = *self_p;
    for (int i = 0; i < HTTP_LISTENERS; i++)
        if (http_listeners[i] == l) http_listeners[i] = NULL;
    if (l->lev && !l->http_owned) evconnlistener_free(l->lev);
    if (l->resume) event_free(l->resume);
    free(l);
    *self_p = NULL;
}

uint64_t listener_failures(const listener *l) { return l ? l->failures : 0; }
