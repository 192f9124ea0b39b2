/* admin_gate.c: see admin_gate.h. libevent's evhttp has no connection limit and only
 * inactivity timeouts, so the gate accepts the connections itself (node/listen.c) and
 * hands each to evhttp_get_request; it learns the evhttp connection through the
 * bufferevent it makes for it (evhttp_set_bevcb), and is told of its end by its close
 * callback. evhttp says nothing when a request's head is complete, so the gate watches
 * the bytes arriving in that bufferevent's input buffer (before evhttp reads them) for
 * the blank line that ends the head: that is where the body deadline takes over. The listening socket is the gate's (node/listen.c: it backs off when the
 * descriptors run out), served by evhttp (evhttp_bind_listener). */
#include "node/admin_gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/listen.h"
#include "node/log.h"
#include "proto/crypto.h"

#define TOKEN_BYTES 32
#define MAX_ROUTES 32

typedef struct route {
    admin_gate *g;
    admin_handler cb;
    void *arg;
    admin_access access;
} route;

/* Where a connection is in its request, as the gate follows the bytes that arrive (evhttp
 * says nothing between the request's start and its end). */
typedef enum conn_phase {
    PHASE_HEAD,     /* waiting for the request line and headers: admin_header_timeout */
    PHASE_BODY,     /* headers complete, the body is coming: admin_body_timeout */
    PHASE_ANSWERED, /* the request is complete and being answered: no deadline */
} conn_phase;

typedef struct aconn {
    admin_gate *g;
    struct bufferevent *bev;
    struct evhttp_connection *evcon;
    struct event *deadline, *adopt;
    struct evbuffer_cb_entry *watch; /* on the input buffer: finds the end of the headers */
    conn_phase phase;
    bool head_started;  /* a byte other than CR or LF has come (blank lines before a request) */
    bool at_line_start; /* the last byte (CRs aside) ended a line */
    struct aconn *prev, *next;
} aconn;

struct admin_gate {
    node *n;
    struct evhttp *http;
    listener *lst[1 + CONFIG_MAX_PEER_ADDRS]; /* cfg.admin, then cfg.admin_also (dual-stack) */
    int n_lst;
    char token[2 * TOKEN_BYTES + 1];      /* the admin token */
    char read_token[2 * TOKEN_BYTES + 1]; /* the read token */
    route routes[MAX_ROUTES];
    int n_routes;
    route fallback;
    aconn *conns;
    admin_gate_stats stats;
};

/* ---------- the token ---------- */

int admin_token_load(const char *path, const char *what, char *token, size_t cap, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        /* Made beside the file and linked into place: nodes sharing one token file and
         * starting at once all read the same complete token. */
        uint8_t raw[TOKEN_BYTES];
        char hex[2 * TOKEN_BYTES + 2], tmp[CONFIG_PATH_MAX + 32];
        if (kms_random_openssl(NULL, raw, sizeof raw) != 0) {
            snprintf(err, errlen, "%s: no random bytes for a new token", path);
            return -1;
        }
        for (int i = 0; i < TOKEN_BYTES; i++) snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        explicit_bzero(raw, sizeof raw);
        hex[2 * TOKEN_BYTES] = '\n';
        hex[2 * TOKEN_BYTES + 1] = 0;
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
        int t = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        bool ok = t >= 0 && write(t, hex, strlen(hex)) == (ssize_t)strlen(hex) && fsync(t) == 0;
        int e = errno;
        if (t >= 0) close(t);
        explicit_bzero(hex, sizeof hex);
        if (ok && link(tmp, path) != 0 && errno != EEXIST) { ok = false; e = errno; }
        if (t >= 0) unlink(tmp);
        if (!ok) {
            snprintf(err, errlen, "%s: cannot make the %s: %s", path, what, strerror(e));
            return -1;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        snprintf(err, errlen, "%s: the %s must not be readable by others (chmod 600 %s)", path, what, path);
        close(fd);
        return -1;
    }
    char buf[256];
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r < 0) r = 0;
    buf[r] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    size_t len = strlen(buf);
    if (len < 16 || len >= cap || strspn(buf, "0123456789abcdefABCDEF-_.~+/=") != len) {
        snprintf(err, errlen, "%s: not an %s (16 or more characters on the first line; "
                 "remove the file and a new one is made)", path, what);
        explicit_bzero(buf, sizeof buf);
        return -1;
    }
    memcpy(token, buf, len + 1);
    explicit_bzero(buf, sizeof buf);
    return 0;
}

/* ---------- the checks ---------- */

static bool is_loopback_host(const char *h)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, h, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return !strcasecmp(h, "localhost");
}

static bool is_ip_literal(const char *h)
{
    struct in6_addr a;
    return inet_pton(AF_INET, h, &a) == 1 || inet_pton(AF_INET6, h, &a) == 1;
}

/* Splits "host", "host:port", "[v6]" or "[v6]:port"; port 0 when absent. false when
 * malformed. */
static bool split_host(const char *text, char *host, size_t cap, unsigned *port)
{
    *port = 0;
    const char *end;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (size_t)(close - text - 1) >= cap) return false;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = 0;
        end = close + 1;
    } else {
        size_t n = strcspn(text, ":");
        if (n >= cap) return false;
        memcpy(host, text, n);
        host[n] = 0;
        end = text + n;
    }
    if (*end == ':') {
        char *e;
        unsigned long v = strtoul(end + 1, &e, 10);
        if (e == end + 1 || *e || v == 0 || v > 65535) return false;
        *port = (unsigned)v;
    } else if (*end) {
        return false;
    }
    return host[0] != 0;
}

/* Does "host[:port]" name the admin address a (its address, localhost for loopback, any
 * IP literal for a wildcard address)? */
static bool names_addr(const char *host, unsigned port, const config_addr *a)
{
    if (port && port != a->port) return false;
    const char *mine = a->host;
    bool wildcard = !mine[0] || !strcmp(mine, "0.0.0.0") || !strcmp(mine, "::");
    if (!strcasecmp(host, mine)) return true;
    if (wildcard && is_ip_literal(host)) return true; /* a rebinding attack needs a name */
    return !strcasecmp(host, "localhost") && (wildcard || is_loopback_host(mine));
}

/* Does "host[:port]" name one of this node's admin addresses, or a name of [node]
 * admin_hosts (with one of their ports)? */
static bool host_allowed(const admin_gate *g, const char *text)
{
    const kmsd_config *cfg = &g->n->cfg;
    char host[300];
    unsigned port;
    if (!split_host(text, host, sizeof host, &port)) return false;
    bool port_ok = !port || port == cfg->admin.port;
    if (names_addr(host, port, &cfg->admin)) return true;
    for (int i = 0; i < cfg->n_admin_also; i++) {
        if (names_addr(host, port, &cfg->admin_also[i])) return true;
        port_ok |= port == cfg->admin_also[i].port;
    }
    if (!port_ok) return false;
    /* [node] admin_hosts: names of this admin address, comma-separated */
    const char *p = cfg->admin_hosts;
    size_t hl = strlen(host);
    while (*p) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n && n == hl && !strncasecmp(p, host, n)) return true;
        p += n;
    }
    return false;
}

static bool origin_allowed(const admin_gate *g, const char *origin)
{
    if (strncasecmp(origin, "http://", 7) != 0) return false;
    char host[300];
    unsigned port;
    if (!split_host(origin + 7, host, sizeof host, &port)) return false;
    if (!port) { /* "http://host" is port 80: say so, for the address check */
        char with_port[320];
        snprintf(with_port, sizeof with_port, "%s:80", origin + 7);
        return host_allowed(g, with_port);
    }
    return host_allowed(g, origin + 7);
}

/* Is the Bearer token of auth this token? In constant time for a token of its length. */
static bool token_is(const char *auth, const char *token)
{
    const char *t = auth + 7;
    size_t n = strlen(token);
    if (strlen(t) != n) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(t[i] ^ token[i]);
    return diff == 0;
}

/* NULL when the Authorization header auth carries a token that route access accepts, else
 * why not (no token, or the wrong one). */
static const char *token_refusal(const admin_gate *g, const char *auth, admin_access access)
{
    bool sent = auth && strncasecmp(auth, "Bearer ", 7) == 0;
    if (sent && token_is(auth, g->token)) return NULL;
    if (sent && access == ADMIN_READ && token_is(auth, g->read_token)) return NULL;
    if (access == ADMIN_READ)
        return sent ? "the token sent is not this node's read token or admin token ([node] read_token_file, "
                      "admin_token_file)"
                    : "client records need the read token or the admin token (Authorization: Bearer TOKEN, "
                      "from [node] read_token_file or admin_token_file; kmsctl: --read-token-file or "
                      "KMSHA_READ_TOKEN_FILE; the status page asks for it)";
    return sent ? "the token sent is not this node's admin token ([node] admin_token_file)"
                : "the admin token is needed (Authorization: Bearer TOKEN, from [node] admin_token_file; "
                  "kmsctl: --token-file or KMSHA_ADMIN_TOKEN_FILE)";
}

/* NULL when the request has no Origin or the admin address's own, else why it is refused. */
static const char *origin_refusal(const admin_gate *g, struct evkeyvalq *in)
{
    const char *origin = evhttp_find_header(in, "Origin");
    return origin && !origin_allowed(g, origin) ? "cross-origin request" : NULL;
}

bool admin_gate_may_read(const admin_gate *g, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    return !origin_refusal(g, in) && !token_refusal(g, evhttp_find_header(in, "Authorization"), ADMIN_READ);
}

static void deny(admin_gate *g, struct evhttp_request *req, int code, const char *reason, const char *why)
{
    g->stats.denied++;
    char *peer = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon) evhttp_connection_get_peer(evcon, &peer, &port);
    if (log_allow(LOG_CLASS_ADMIN))
        log_warnx("admin %s:%u: %s %s refused (%d): %s", peer ? peer : "?", port,
                  evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET",
                  evhttp_request_get_uri(req), code, why);
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add_printf(b, "{\"error\":\"%s\"}\n", why);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply(req, code, reason, b);
    if (b) evbuffer_free(b);
}

/* ---------- connections ---------- */

static aconn *find_conn(admin_gate *g, struct evhttp_connection *evcon)
{
    for (aconn *c = g->conns; c; c = c->next)
        if (c->evcon == evcon) return c;
    return NULL;
}

static void arm_deadline(aconn *c, unsigned seconds)
{
    struct timeval tv = {(time_t)seconds, 0};
    evtimer_add(c->deadline, &tv);
}

/* Follows bytes of the request head; true when they hold the blank line that ends it. */
static bool head_ends_in(aconn *c, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') continue;
        if (p[i] != '\n') {
            c->head_started = true;
            c->at_line_start = false;
        } else if (!c->head_started) {
            continue; /* blank lines before the request line */
        } else if (c->at_line_start) {
            return true;
        } else {
            c->at_line_start = true;
        }
    }
    return false;
}

/* Looks for the end of the head in the input buffer from byte from on: when it is there,
 * the body deadline replaces the header deadline. */
static void scan_head(aconn *c, struct evbuffer *in, size_t from)
{
    struct evbuffer_ptr pos;
    if (c->phase != PHASE_HEAD || evbuffer_ptr_set(in, &pos, from, EVBUFFER_PTR_SET) != 0) return;
    struct evbuffer_iovec v[8];
    for (;;) {
        int k = evbuffer_peek(in, -1, &pos, v, 8);
        if (k <= 0) return;
        size_t seen = 0;
        for (int i = 0; i < k && i < 8; i++) {
            if (head_ends_in(c, v[i].iov_base, v[i].iov_len)) {
                c->phase = PHASE_BODY;
                arm_deadline(c, c->g->n->cfg.admin_body_timeout);
                return;
            }
            seen += v[i].iov_len;
        }
        if (k <= 8) return;
        if (evbuffer_ptr_set(in, &pos, seen, EVBUFFER_PTR_ADD) != 0) return;
    }
}

/* The input buffer's callback: bytes have come (evhttp reads them after this). */
static void input_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    aconn *c = arg;
    if (info->n_added && c->phase == PHASE_HEAD)
        scan_head(c, in, evbuffer_get_length(in) - info->n_added);
}

/* A new request may come: the header deadline runs, and the head is looked for in what has
 * come already (a pipelined request). */
static void expect_request(aconn *c)
{
    c->phase = PHASE_HEAD;
    c->head_started = c->at_line_start = false;
    arm_deadline(c, c->g->n->cfg.admin_header_timeout);
    scan_head(c, bufferevent_get_input(c->bev), 0);
}

static void conn_gone(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    aconn *c = arg;
    admin_gate *g = c->g;
    if (c->prev) c->prev->next = c->next; else g->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    g->stats.open--;
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    event_free(c->deadline);
    event_free(c->adopt);
    free(c);
    if (g->stats.open < g->n->cfg.admin_max_connections)
        for (int i = 0; i < g->n_lst; i++) listener_hold(g->lst[i], false);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    aconn *c = arg;
    bool body = c->phase == PHASE_BODY;
    if (body) c->g->stats.body_timed_out++;
    else c->g->stats.header_timed_out++;
    if (log_allow(LOG_CLASS_ADMIN)) {
        char *peer = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(c->evcon, &peer, &port);
        log_info("admin %s:%u: %s within %s (%u s), closing", peer ? peer : "?", port,
                 body ? "no complete body" : "no complete request head",
                 body ? "admin_body_timeout" : "admin_header_timeout",
                 body ? c->g->n->cfg.admin_body_timeout : c->g->n->cfg.admin_header_timeout);
    }
    evhttp_connection_free(c->evcon); /* calls conn_gone */
}

static void adopt_cb(evutil_socket_t fd, short what, void *arg);

/* evhttp asks for a bufferevent for each connection it accepts: that is where the gate
 * counts it, and the connection is adopted (its evhttp_connection found, its close
 * callback set) at once after the accept callback, before anything is read from it. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    admin_gate *g = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    aconn *c = bev ? calloc(1, sizeof *c) : NULL;
    if (c) {
        c->g = g;
        c->bev = bev;
        c->deadline = evtimer_new(base, deadline_cb, c);
        c->adopt = event_new(base, -1, 0, adopt_cb, c);
        c->watch = evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c);
    }
    if (c && c->deadline && c->adopt && c->watch) {
        c->next = g->conns;
        if (g->conns) g->conns->prev = c;
        g->conns = c;
        g->stats.open++;
        event_active(c->adopt, EV_TIMEOUT, 0);
        /* At the limit the listener stops accepting: the next connections wait in the
         * kernel's queue and take no descriptor until one of these closes. */
        if (g->stats.open >= g->n->cfg.admin_max_connections) {
            g->stats.refused++;
            for (int i = 0; i < g->n_lst; i++) listener_hold(g->lst[i], true);
            if (log_allow(LOG_CLASS_ADMIN))
                log_info("admin: admin_max_connections (%u) open, not accepting more for now",
                         g->n->cfg.admin_max_connections);
        }
    } else if (c) {
        if (c->watch) evbuffer_remove_cb_entry(bufferevent_get_input(bev), c->watch);
        if (c->deadline) event_free(c->deadline);
        if (c->adopt) event_free(c->adopt);
        free(c);
    }
    return bev;
}

static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    aconn *c = arg;
    void *evcon = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
    c->evcon = evcon;
    evhttp_connection_set_closecb(c->evcon, conn_gone, c);
    expect_request(c);
}

/* ---------- requests ---------- */

/* The answer is out: the connection's next request has admin_header_timeout to come. */
static void request_done(struct evhttp_request *req, void *arg)
{
    admin_gate *g = arg;
    aconn *c = find_conn(g, evhttp_request_get_connection(req));
    if (c) expect_request(c);
}

static void gate_cb(struct evhttp_request *req, void *arg)
{
    route *r = arg;
    admin_gate *g = r->g;
    /* A complete request: no deadline while it is answered (a /clients answer may take a
     * while); the next request on this connection gets a new one. */
    aconn *c = find_conn(g, evhttp_request_get_connection(req));
    if (c) {
        evtimer_del(c->deadline);
        c->phase = PHASE_ANSWERED;
        evhttp_request_set_on_complete_cb(req, request_done, g);
    }
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *host = evhttp_find_header(in, "Host");
    if (host && !host_allowed(g, host)) {
        deny(g, req, 421, "Misdirected Request", "this Host is not a name of the admin address (see [node] admin_hosts)");
        return;
    }
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    bool reads = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    if (r->access != ADMIN_OPEN || !reads) {
        const char *type = evhttp_find_header(in, "Content-Type");
        bool form = type && (!strncasecmp(type, "application/x-www-form-urlencoded", 33) ||
                             !strncasecmp(type, "multipart/form-data", 19) || !strncasecmp(type, "text/plain", 10));
        const char *why = origin_refusal(g, in);
        if (!why && form) why = "an HTML form cannot change this node";
        if (!why)
            why = token_refusal(g, evhttp_find_header(in, "Authorization"), reads ? r->access : ADMIN_TOKEN);
        if (why) {
            deny(g, req, 403, "Forbidden", why);
            return;
        }
    }
    r->cb(req, r->arg);
}

void admin_gate_route(admin_gate *g, const char *path, admin_handler cb, void *arg, admin_access access)
{
    if (g->n_routes >= MAX_ROUTES) {
        fatalx("admin: more than %d routes", MAX_ROUTES);
    }
    route *r = &g->routes[g->n_routes++];
    *r = (route){g, cb, arg, access};
    evhttp_set_cb(g->http, path, gate_cb, r);
}

void admin_gate_fallback(admin_gate *g, admin_handler cb, void *arg)
{
    g->fallback = (route){g, cb, arg, ADMIN_OPEN};
    evhttp_set_gencb(g->http, gate_cb, &g->fallback);
}

admin_gate *admin_gate_new(node *n, struct evhttp *http, char *err, size_t errlen)
{
    admin_gate *g = calloc(1, sizeof *g);
    if (!g) { snprintf(err, errlen, "out of memory"); return NULL; }
    g->n = n;
    g->http = http;
    char path[CONFIG_PATH_MAX + 32], read_path[CONFIG_PATH_MAX + 32];
    if (n->cfg.admin_token_file[0]) snprintf(path, sizeof path, "%s", n->cfg.admin_token_file);
    else snprintf(path, sizeof path, "%s/admin.token", n->cfg.data_dir);
    if (n->cfg.read_token_file[0]) snprintf(read_path, sizeof read_path, "%s", n->cfg.read_token_file);
    else snprintf(read_path, sizeof read_path, "%s/read.token", n->cfg.data_dir);
    if (admin_token_load(path, "admin token", g->token, sizeof g->token, err, errlen) != 0 ||
        admin_token_load(read_path, "read token", g->read_token, sizeof g->read_token, err, errlen) != 0) {
        admin_gate_free(&g);
        return NULL;
    }
    /* The read token must not be the admin token: whoever reads client records could drain. */
    if (strcmp(g->token, g->read_token) == 0) {
        snprintf(err, errlen, "%s: the read token is the admin token (%s): give read_token_file its own file",
                 read_path, path);
        admin_gate_free(&g);
        return NULL;
    }
    evhttp_set_bevcb(http, make_bev, g);
    for (int i = 0; i <= n->cfg.n_admin_also; i++) {
        const config_addr *ad = i ? &n->cfg.admin_also[i - 1] : &n->cfg.admin;
        g->lst[g->n_lst] = listener_new_http(n->base, ad, http, "admin", err, errlen);
        if (!g->lst[g->n_lst]) {
            admin_gate_free(&g);
            return NULL;
        }
        g->n_lst++;
    }
    return g;
}

void admin_gate_free(admin_gate **self_p)
{
    if (!self_p || !*self_p) return;
    admin_gate *g = *self_p;
    for (int i = 0; i < g->n_lst; i++) listener_free(&g->lst[i]);
    while (g->conns) { /* normally gone with evhttp_free */
        aconn *c = g->conns;
        g->conns = c->next; /* its bufferevent, and the callback on it, went with evhttp */
        event_free(c->deadline);
        event_free(c->adopt);
        free(c);
    }
    explicit_bzero(g->token, sizeof g->token);
    explicit_bzero(g->read_token, sizeof g->read_token);
    free(g);
    *self_p = NULL;
}

void admin_gate_get_stats(const admin_gate *g, admin_gate_stats *out)
{
    if (!g) { memset(out, 0, sizeof *out); return; }
    *out = g->stats;
}
