/* server.c: the KMS request path of a node (see server.h). One event loop; per connection
 * a non-blocking socket with its own small input buffer, the table of bound presentation
 * contexts, and at most one request in flight: while its record is being committed the
 * connection does not read, so PDUs are answered in order and a flooding client is held
 * back by TCP itself.
 *
 * A connection is never freed inside its own callbacks or its callers: conn_close marks it
 * closed, stops its events and puts it on the server's close queue, which is drained once
 * per turn of the event loop (as Redis's freeClientAsync), so whoever still holds the
 * pointer in this turn may keep using it. The store holds a committing connection as its
 * callback argument: such a connection waits for the commit before it is queued.
 *
 * Plain events rather than bufferevents: on this path every system call counts (a whole
 * activation is a handful of small PDUs), so answers are sent with one send() each and a
 * write event exists only while a client is slow to read; the idle timeout is a common
 * timeout re-armed without a system call. */
#include "node/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node/kmshost.h"
#include "node/listen.h"
#include "node/log.h"
#include "proto/clock.h"
#include "proto/errors.h"
#include "proto/kms.h"
#include "proto/products.h"
#include "proto/rpc.h"

#define ADDR_BUCKETS 4096
#define OUTPUT_LIMIT (64 * 1024)
#define INPUT_INITIAL 1024
#define LOGCLASS_CONN 0
#define LOGCLASS_ACCEPT 1

typedef struct addr_key {
    uint8_t family;
    uint8_t addr[16];
} addr_key;

typedef struct addr_count {
    addr_key key;
    uint32_t count;
    struct addr_count *next;
} addr_count;

typedef struct conn conn;

/* The life of a connection. */
typedef enum conn_state {
    CONN_OPEN,       /* reading and answering PDUs */
    CONN_COMMITTING, /* a request awaits its commit (the store holds the connection) */
    CONN_FLUSHING,   /* the last bytes are being written; closed once they are out */
    CONN_ABANDONED,  /* closed while committing: queued when the commit returns */
    CONN_CLOSED,     /* on the close queue: freed at the end of this loop turn */
} conn_state;

typedef struct listener_ctx {
    struct server *srv;
    uint16_t port; /* the bind_ack secondary address of connections accepted here */
} listener_ctx;

struct server {
    server_env env;           /* what the listener uses of its node (server.h) */
    struct evconnlistener *listeners[CONFIG_MAX_LISTEN]; /* NULL while not accepting */
    evutil_socket_t fds[CONFIG_MAX_LISTEN];  /* bound sockets; -1 when closed */
    listener_ctx lctx[CONFIG_MAX_LISTEN];
    bool accepting;
    bool stopped;  /* server_stop_accepting ran: never accept again */
    const struct timeval *idle_tv; /* common timeout of idle_timeout seconds */
    uint32_t idle_tv_seconds;
    int n_listeners;
    conn *conns; /* doubly linked list of open connections */
    conn *closed; /* the close queue (linked by next_closed) */
    /* Connections that have not completed a PDU yet, oldest first: at max_connections
     * the oldest of them makes room for a new client (a flood of silent or trickling
     * connections cannot lock clients out). */
    conn *fresh_head, *fresh_tail;
    struct event *accept_resume; /* re-enables accepting after descriptors ran out */
    struct event *close_ev; /* activated when the queue gets its first entry */
    bool stopping; /* server_stop_accepting: close each connection after its answer */
    unsigned n_conns;
    unsigned n_pending;
    uint32_t assoc_group_next;
    struct event *audit_flush_ev;  /* activated per line: runs after the callbacks already queued this turn */
    /* Random bytes for responses, drawn from OpenSSL in blocks rather than per response. */
    uint8_t rnd_pool[4096];
    size_t rnd_left;
    addr_count *by_addr[ADDR_BUCKETS];
};

struct conn {
    server *srv;
    evutil_socket_t fd;
    struct event *rev;      /* readable (persistent; removed while a commit is pending) */
    struct event *wev;      /* writable: added only while out holds unsent bytes */
    struct event *idle;     /* idle timeout, re-armed at every complete PDU */
    struct event *pdu_timer; /* pdu_timeout: armed while a PDU is incomplete */
    struct event pdu_ev;
    bool fresh;             /* in the fresh list: no complete PDU yet */
    bool pdu_pending;       /* pdu_timer is armed */
    conn *fresh_prev, *fresh_next;
    struct event *life_timer;
    /* The four events and the first input buffer live in the connection itself: one
     * allocation per connection instead of six. */
    struct event rev_ev, wev_ev, idle_ev, life_ev;
    uint8_t *in;            /* in_inline until a PDU needs more */
    size_t in_len, in_cap;
    uint8_t in_inline[INPUT_INITIAL];
    uint8_t *out;
    size_t out_len, out_cap;
    conn_state state;
    conn *prev, *next;
    conn *next_closed;
    char peer[64];        /* "ip:port" for logs */
    char peer_ip[48];     /* "ip" for records */
    addr_key key;
    rpc_server_conn rpc;
    rpc_server_options rpcopt;
    uint32_t requests;
    /* the request in flight */
    rpc_request req;      /* msg pointer is not valid after the PDU is drained */
    kms_request kreq;
    kms_server_state kst;
    kmshost_decision decision;
    int decode_status;    /* of the KMS message: < 0 when kreq is not valid */
    double started_ms;
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_process(conn *c);

/* A larger input buffer with the same contents (the first one is inline). */
static uint8_t *conn_grow_input(conn *c, size_t cap)
{
    if (c->in != c->in_inline) return realloc(c->in, cap);
    uint8_t *nb = malloc(cap);
    if (nb) memcpy(nb, c->in, c->in_len);
    return nb;
}

/* ---------- per-address connection counts ---------- */

static unsigned addr_hash(const addr_key *k)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 17; i++) h = (h ^ ((const uint8_t *)k)[i]) * 16777619u;
    return h % ADDR_BUCKETS;
}

static addr_count **addr_find(server *s, const addr_key *k)
{
    addr_count **p = &s->by_addr[addr_hash(k)];
    while (*p && memcmp(&(*p)->key, k, sizeof *k) != 0) p = &(*p)->next;
    return p;
}

static uint32_t addr_get(server *s, const addr_key *k)
{
    addr_count **p = addr_find(s, k);
    return *p ? (*p)->count : 0;
}

static bool addr_inc(server *s, const addr_key *k)
{
    addr_count **p = addr_find(s, k);
    if (!*p) {
        *p = calloc(1, sizeof **p);
        if (!*p) return false;
        (*p)->key = *k;
    }
    (*p)->count++;
    return true;
}

static void addr_dec(server *s, const addr_key *k)
{
    addr_count **p = addr_find(s, k);
    if (!*p) return;
    if (--(*p)->count == 0) {
        addr_count *dead = *p;
        *p = dead->next;
        free(dead);
    }
}

/* Bounded copy of a string (cut to fit, always terminated): snprintf("%s") without the
 * format parsing, on the per-request path. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* ---------- connection lifetime ---------- */

static void fresh_remove(conn *c)
{
    if (!c->fresh) return;
    server *s = c->srv;
    if (c->fresh_prev) c->fresh_prev->fresh_next = c->fresh_next; else s->fresh_head = c->fresh_next;
    if (c->fresh_next) c->fresh_next->fresh_prev = c->fresh_prev; else s->fresh_tail = c->fresh_prev;
    c->fresh = false;
    c->fresh_prev = c->fresh_next = NULL;
}

static void fresh_append(conn *c)
{
    server *s = c->srv;
    c->fresh = true;
    c->fresh_prev = s->fresh_tail;
    c->fresh_next = NULL;
    if (s->fresh_tail) s->fresh_tail->fresh_next = c; else s->fresh_head = c;
    s->fresh_tail = c;
}

/* Frees a connection: only from the close queue (or server_free). */
static void conn_free(conn *c)
{
    server *s = c->srv;
    if (c->prev) c->prev->next = c->next; else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_conns--;
    s->env.metrics->connections_open--;
    addr_dec(s, &c->key);
    fresh_remove(c);
    event_del(c->pdu_timer);
    event_del(c->life_timer);
    event_del(c->idle);
    event_del(c->rev);
    event_del(c->wev);
    if (c->fd >= 0) evutil_closesocket(c->fd);
    if (c->in != c->in_inline) free(c->in);
    free(c->out);
    free(c);
}

static void conn_stop_reading(conn *c)
{
    if (event_pending(c->rev, EV_READ, NULL)) event_del(c->rev);
}

static void conn_start_reading(conn *c)
{
    if (c->state == CONN_OPEN && !event_pending(c->rev, EV_READ, NULL)) event_add(c->rev, NULL);
}

static bool conn_is_closed(const conn *c) { return c->state == CONN_CLOSED || c->state == CONN_ABANDONED; }

/* Closes the connection at the next safe point: its events stop now; it is freed when the
 * close queue is drained at the end of this loop turn, or, while the store holds it for a
 * commit, when the commit returns. Never frees: the caller may keep using c. */
static void conn_close(conn *c)
{
    if (conn_is_closed(c)) return;
    fresh_remove(c);
    event_del(c->rev);
    event_del(c->wev);
    event_del(c->idle);
    event_del(c->pdu_timer);
    c->pdu_pending = false;
    event_del(c->life_timer);
    if (c->state == CONN_COMMITTING) {
        c->state = CONN_ABANDONED;
        return;
    }
    c->state = CONN_CLOSED;
    server *s = c->srv;
    if (!s->closed) event_active(s->close_ev, EV_TIMEOUT, 0);
    c->next_closed = s->closed;
    s->closed = c;
}

/* Frees the connections on the close queue. */
static void close_queue_drain(server *s)
{
    while (s->closed) {
        conn *c = s->closed;
        s->closed = c->next_closed;
        conn_free(c);
    }
}

/* Runs from the event loop after the callbacks already active this turn: no caller of a
 * connection function is on the stack. */
static void close_queue_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    close_queue_drain(arg);
}

/* Closes once the output buffer is empty (now if it is). */
static void conn_close_after_write(conn *c)
{
    conn_stop_reading(c);
    if (c->out_len == 0) conn_close(c);
    else c->state = CONN_FLUSHING;
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    conn *c = arg;
    while (c->out_len) {
        ssize_t w = send(fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            log_debug("client %s: send failed: %s", c->peer, strerror(errno));
            conn_close(c);
            return;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
    event_del(c->wev);
    if (c->state == CONN_FLUSHING) conn_close(c);
}

static void conn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    c->srv->env.metrics->refusals[MREF_IDLE_TIMEOUT]++;
    log_debug("client %s: idle for %u s, closing", c->peer, c->srv->env.cfg->idle_timeout);
    conn_close(c);
}

static void conn_pdu_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    c->pdu_pending = false;
    c->srv->env.metrics->refusals[MREF_PDU_TIMEOUT]++;
    if (log_allow(LOGCLASS_CONN))
        log_info("client %s: no complete PDU within pdu_timeout (%u s), closing", c->peer, c->srv->env.cfg->pdu_timeout);
    conn_close(c);
}

static void arm_pdu_timer(conn *c)
{
    struct timeval tv = {(time_t)c->srv->env.cfg->pdu_timeout, 0};
    evtimer_add(c->pdu_timer, &tv);
    c->pdu_pending = true;
}

static void conn_life_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    c->srv->env.metrics->refusals[MREF_LIFETIME]++;
    if (log_allow(LOGCLASS_CONN))
        log_info("client %s: connection open longer than connection_timeout (%u s), closing",
                 c->peer, c->srv->env.cfg->connection_timeout);
    conn_close(c);
}

/* Sends bytes at once when the socket takes them (the usual case: one system call), else
 * keeps the rest and waits for writability. Closes the connection on an error (conn_close:
 * c stays valid for the caller). */
static void conn_send(conn *c, const uint8_t *buf, size_t len)
{
    if (conn_is_closed(c)) return;
    size_t off = 0;
    if (c->out_len == 0) {
        ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            log_debug("client %s: send failed: %s", c->peer, strerror(errno));
            conn_close(c);
            return;
        }
        if (w > 0) off = (size_t)w;
        if (off == len) return;
    }
    size_t rest = len - off;
    if (c->out_len + rest > OUTPUT_LIMIT) {
        if (log_allow(LOGCLASS_CONN)) log_info("client %s: does not read its answers, closing", c->peer);
        conn_close(c);
        return;
    }
    if (c->out_len + rest > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + rest) cap *= 2;
        uint8_t *nb = realloc(c->out, cap);
        if (!nb) { conn_close(c); return; }
        c->out = nb;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, buf + off, rest);
    c->out_len += rest;
    event_add(c->wev, NULL);
}

static void conn_fault(conn *c, uint32_t call_id, uint16_t ctx_id, uint32_t status,
                       const char *why)
{
    uint8_t out[64];
    int n = rpc_encode_fault(call_id, ctx_id, status, out, sizeof out);
    c->srv->env.metrics->refusals[MREF_FAULT]++;
    if (log_allow(LOGCLASS_CONN))
        log_info("client %s: RPC fault 0x%08X: %s", c->peer, status, why);
    if (n > 0) conn_send(c, out, (size_t)n);
}

/* ---------- the KMS request ---------- */

/* A KMS counted ID the product table does not know, under a known application: listed
 * (unknownids.h), and logged the first time this node sees it. */
static void note_unknown_id(conn *c, const kmshost_decision *d)
{
    const server_env *n = &c->srv->env;
    bool activated = metrics_result_answered(d->result); /* "answered with a count" (unknownids.h) */
    int r = unknownids_note(n->unknown_ids, &c->kreq.kms_id, d->app, activated, n->now_ms(n->ctx));
    char id[KMS_GUID_STRLEN];
    kms_guid_format(&c->kreq.kms_id, id);
    const char *app = products_app_name((kms_app)d->app);
    if (r == UNKNOWNIDS_NEW) {
        if (activated)
            log_warnx("client %s: KMS counted ID %s is not in the product table; served under "
                      "application %s and counted with it (a product newer than the table?) - "
                      "logged once per ID, see kmsctl products --unknown", c->peer, id, app);
        else if (d->hresult != KMS_HR_OK)
            log_warnx("client %s: KMS counted ID %s is not in the product table (application %s); "
                      "answered 0x%08X (%s) - logged once per ID, see kmsctl products --unknown",
                      c->peer, id, app, d->hresult, d->reason ? d->reason : "");
        else
            log_warnx("client %s: KMS counted ID %s is not in the product table (application %s); "
                      "its record was not committed - logged once per ID, see kmsctl products --unknown",
                      c->peer, id, app);
    } else if (r == UNKNOWNIDS_OTHER_FIRST) {
        log_warnx("client %s: KMS counted ID %s is not in the product table either; this node "
                  "already lists %d such IDs, further ones are added up as 'other' in /status "
                  "and /metrics and not logged", c->peer, id, UNKNOWNIDS_MAX);
    }
}

static void account(conn *c, const kmshost_decision *d, double latency_ms)
{
    const server_env *n = &c->srv->env;
    metrics *m = n->metrics;
    m->requests_total++;
    if (!metrics_result_answered(d->result)) m->requests_failed++;
    m->by_result[d->result]++;
    /* A request that was never decoded (bad version, bad MAC, truncated) has no licence
     * status or protocol to count: it counts only as failed. */
    if (c->decode_status >= 0) {
        uint32_t ls = c->kreq.license_status;
        m->by_license_status[ls < 7 ? ls : 7]++;
        if (c->kreq.version_major >= 4 && c->kreq.version_major <= 6)
            m->by_protocol[c->kreq.version_major - 4]++;
    }
    if (d->result == MR_ACTIVATED && d->app >= 0 && d->app < 3) m->by_app[d->app]++;
    if (d->result == MR_BELOW_THRESHOLD && d->app >= 0 && d->app < 3) m->below_by_app[d->app]++;
    /* The product's index in the table (its pointer's offset), not a scan per request. */
    size_t slot = METRICS_PRODUCT_SLOTS - 1;
    if (d->product) {
        size_t idx = (size_t)(d->product - products_at(0));
        if (idx < products_count() && idx < METRICS_PRODUCT_SLOTS - 1) slot = idx;
    }
    m->by_product[slot][d->result]++;
    metrics_hist_observe(&m->latency, latency_ms);
    if (c->decode_status >= 0 && !d->product && d->app >= 0) note_unknown_id(c, d);

    /* The audit's workstation name: an activation's record already holds it decoded. */
    char ws_buf[STORE_WORKSTATION_MAX];
    const char *ws = "";
    int decode_status = c->decode_status;
    if (decode_status >= 0 && metrics_result_answered(d->result)) {
        ws = d->record.workstation;
    } else if (decode_status >= 0) {
        kms_request_workstation(&c->kreq, ws_buf, sizeof ws_buf);
        ws = ws_buf;
    }
    char line[2048];
    kmshost_audit_json(n->cfg, n->products, &c->kreq, decode_status, ws, d, n->now_ms(n->ctx), c->peer, line,
                       sizeof line);
    audit_write(line);
    /* Flushed once at the end of this loop turn, with every other line of the turn. */
    event_active(c->srv->audit_flush_ev, EV_TIMEOUT, 0);

    server_answer r;
    memset(&r, 0, sizeof r);
    r.ts_ms = n->now_ms(n->ctx);
    /* its own decode: cut at whole characters to the shorter field */
    if (decode_status >= 0) kms_request_workstation(&c->kreq, r.workstation, sizeof r.workstation);
    copy_text(r.address, sizeof r.address, c->peer_ip);
    copy_text(r.product, sizeof r.product, d->product ? d->product->slug : "unknown");
    r.app = d->app;
    r.count = d->count;
    r.hresult = d->hresult;
    r.result = d->result;
    n->answered(n->ctx, &r);
}

/* kms_random_fn over the server's pool: one RAND_bytes per 4 KiB instead of per response
 * (the bytes are the same CSPRNG output, used once each). */
static int pool_random(void *ctx, uint8_t *buf, size_t len)
{
    server *s = ctx;
    if (len > sizeof s->rnd_pool) return kms_random_openssl(NULL, buf, len);
    if (s->rnd_left < len) {
        if (kms_random_openssl(NULL, s->rnd_pool, sizeof s->rnd_pool) != 0) return KMS_ERANDOM;
        s->rnd_left = sizeof s->rnd_pool;
    }
    memcpy(buf, s->rnd_pool + sizeof s->rnd_pool - s->rnd_left, len);
    memset(s->rnd_pool + sizeof s->rnd_pool - s->rnd_left, 0, len);
    s->rnd_left -= len;
    return 0;
}

static void audit_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    audit_flush();
}

/* Encodes and sends the response stub for the request in flight. */
static void conn_answer(conn *c)
{
    uint8_t msg[KMS_RESPONSE_MAX_LEN];
    uint8_t pdu[KMS_RESPONSE_MAX_LEN + 64];
    kmshost_decision *d = &c->decision;
    int mlen = 0;
    if (d->hresult == KMS_HR_OK) {
        mlen = kms_server_encode_response(&c->kst, &d->response, pool_random, c->srv, msg, sizeof msg);
        if (mlen < 0) {
            log_error("client %s: cannot encode the KMS response: %s", c->peer, kms_strerror(mlen));
            d->hresult = KMS_HR_INVALID_DATA;
            d->result = MR_INVALID_DATA;
            mlen = 0;
        }
    }
    int plen = rpc_server_encode_response(&c->req, msg, (size_t)mlen, d->hresult, pdu, sizeof pdu);
    if (plen < 0) {
        log_error("client %s: cannot encode the RPC response: %s", c->peer, kms_strerror(plen));
        conn_close(c);
        return;
    }
    account(c, d, clock_mono_ms() - c->started_ms);
    if (d->hresult != KMS_HR_OK && log_allow(LOGCLASS_CONN))
        log_info("client %s: refused with 0x%08X (%s): %s", c->peer, d->hresult,
                 kmshost_hresult_name(d->hresult), d->reason);
    conn_send(c, pdu, (size_t)plen);
}

static void commit_done(void *arg, int status, const store_update *u)
{
    conn *c = arg;
    /* Peers learn of the record now that it is durable here; replication never delays
     * the answer (the publish is a non-blocking send). */
    if (status == 0 && u) c->srv->env.committed(c->srv->env.ctx, u);
    server *s = c->srv;
    /* Only a stored client counts: the index learns it now, not when it was decided. */
    if (status == 0 && kmshost_record_stored(s->env.clients, u ? &u->rec : &c->decision.record) < 0)
        log_error("client %s: out of memory for the count index", c->peer);
    bool abandoned = c->state == CONN_ABANDONED;
    c->state = CONN_OPEN;
    s->n_pending--;
    if (status < 0) {
        log_error("client %s: record not committed (%s): closing without an answer so the "
                  "client retries", c->peer, store_strerror(status));
        c->decision.result = MR_STORE_ERROR;
        account(c, &c->decision, clock_mono_ms() - c->started_ms);
        conn_close(c);
        return;
    }
    if (abandoned) { /* the client went away meanwhile: the record is kept, no answer */
        conn_close(c);
        return;
    }
    conn_answer(c);
    if (conn_is_closed(c)) return;
    if (s->stopping) {
        conn_close_after_write(c);
        return;
    }
    conn_start_reading(c);
    conn_process(c); /* PDUs that arrived while we were committing */
}

static void handle_request(conn *c, const uint8_t *pdu, size_t len)
{
    const server_env *n = &c->srv->env;
    c->started_ms = clock_mono_ms();
    int rc = rpc_server_parse_request(&c->rpc, pdu, len, &c->req);
    if (rc == KMS_EUNKCTX) { conn_fault(c, c->req.call_id, c->req.ctx_id, RPC_NCA_UNK_IF, "request on a context that was never bound"); return; }
    if (rc == KMS_EOPNUM) { conn_fault(c, c->req.call_id, c->req.ctx_id, RPC_NCA_OP_RNG_ERROR, "operation number out of range"); return; }
    if (rc == KMS_EPROTO) { conn_fault(c, c->req.call_id, c->req.ctx_id, RPC_NCA_PROTO_ERROR, "malformed request PDU"); return; }

    int dst = rc < 0 ? rc : kms_server_decode_request(c->req.msg, c->req.msg_len, &c->kreq, &c->kst);
    if (dst < 0) memset(&c->kreq, 0, sizeof c->kreq);
    c->decode_status = dst;
    if (dst < 0 && log_allow(LOGCLASS_CONN))
        log_info("client %s: bad KMS request (%s), answering 0x8007000D", c->peer, kms_strerror(dst));
    kmshost_decide(n->cfg, n->products, n->clients, &c->kreq, dst, n->now_ms(n->ctx), c->peer_ip, &c->decision);
    if (c->decision.hresult != KMS_HR_OK) {
        conn_answer(c);
        return;
    }
    int prc = store_put_logged_async(n->store, &c->decision.record, commit_done, c);
    if (prc < 0) {
        log_error("client %s: cannot queue the record (%s), closing", c->peer, store_strerror(prc));
        c->decision.result = MR_STORE_ERROR;
        account(c, &c->decision, clock_mono_ms() - c->started_ms);
        conn_close(c);
        return;
    }
    c->state = CONN_COMMITTING;
    c->srv->n_pending++;
    /* conn_process stops reading if the client pipelines more while we commit. */
}

/* Handles complete PDUs in the input buffer until it runs dry, a request goes in flight or
 * the connection is closed. */
static void conn_process(conn *c)
{
    const server_env *n = &c->srv->env;
    size_t pos = 0;
    while (c->state == CONN_OPEN) {
        size_t avail = c->in_len - pos;
        if (avail < RPC_HEADER_LEN) break;
        const uint8_t *p = c->in + pos;
        size_t frag = (size_t)p[8] | ((size_t)p[9] << 8);
        rpc_header hdr;
        size_t want = frag >= RPC_HEADER_LEN && frag <= avail ? frag : RPC_HEADER_LEN;
        int fr = rpc_frame(p, want, n->cfg->max_pdu_size, &hdr);
        if (fr == 0) { /* wait for the rest; make room for it */
            if (frag > c->in_cap) {
                uint8_t *nb = conn_grow_input(c, frag);
                if (!nb) { conn_close(c); return; }
                c->in = nb;
                c->in_cap = frag;
                p = c->in + pos;
            }
            break;
        }
        if (fr < 0) {
            n->metrics->refusals[MREF_BAD_PDU]++;
            if (log_allow(LOGCLASS_CONN)) {
                char why[160];
                rpc_frame_cause(p, avail, n->cfg->max_pdu_size, why, sizeof why);
                log_info("client %s: %s%s, closing", c->peer,
                         fr == KMS_ETOOBIG ? "" : "malformed PDU header: ", why);
            }
            conn_close(c);
            return;
        }
        size_t plen = (size_t)fr;
        switch (hdr.ptype) {
        case RPC_PT_BIND:
        case RPC_PT_ALTER_CONTEXT: {
            uint8_t out[512];
            int alen = rpc_server_bind(&c->rpc, &c->rpcopt, p, plen, out, sizeof out);
            if (alen < 0) {
                n->metrics->refusals[MREF_BAD_PDU]++;
                if (log_allow(LOGCLASS_CONN))
                    log_info("client %s: malformed %s (%s), closing", c->peer,
                             hdr.ptype == RPC_PT_BIND ? "bind" : "alter_context", kms_strerror(alen));
                conn_close(c);
                return;
            }
            conn_send(c, out, (size_t)alen);
            break;
        }
        case RPC_PT_REQUEST:
            if (++c->requests > n->cfg->max_requests_per_connection) {
                n->metrics->refusals[MREF_LIFETIME]++;
                if (log_allow(LOGCLASS_CONN))
                    log_info("client %s: more than max_requests_per_connection (%u), closing",
                             c->peer, n->cfg->max_requests_per_connection);
                conn_close(c);
                return;
            }
            handle_request(c, p, plen);
            break;
        default:
            n->metrics->refusals[MREF_BAD_PDU]++;
            if (log_allow(LOGCLASS_CONN))
                log_info("client %s: unexpected PDU type %u, closing", c->peer, hdr.ptype);
            conn_close(c);
            return;
        }
        pos += plen;
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
        /* A complete PDU: the client is active. idle_timeout counts from here, not from
         * its last byte (a byte every few seconds does not keep a connection). */
        fresh_remove(c);
        if (c->state == CONN_OPEN || c->state == CONN_COMMITTING) event_add(c->idle, c->srv->idle_tv);
        if (c->pdu_pending) { event_del(c->pdu_timer); c->pdu_pending = false; }
    }
    /* Part of a PDU waits for the rest: it has pdu_timeout from its first byte. */
    if (c->in_len > 0 && !c->pdu_pending && c->state == CONN_OPEN) arm_pdu_timer(c);
    /* While busy the read event stays armed (two epoll_ctl calls per request saved): only
     * a client that sends more before its answer wakes conn_read_cb, which stops reading
     * then, so a pipelining client waits until we answer. */
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    conn *c = arg;
    if (c->state != CONN_OPEN) { conn_stop_reading(c); return; }
    if (c->in_len == c->in_cap) { /* a full buffer is a PDU larger than the buffer: grow */
        size_t cap = c->in_cap * 2;
        size_t max = (size_t)c->srv->env.cfg->max_pdu_size + RPC_HEADER_LEN;
        if (cap > max) cap = max;
        if (cap <= c->in_cap) { conn_process(c); return; }
        uint8_t *nb = conn_grow_input(c, cap);
        if (!nb) { conn_close(c); return; }
        c->in = nb;
        c->in_cap = cap;
    }
    ssize_t r = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (r == 0) { /* the client closed */
        conn_close(c);
        return;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        log_debug("client %s: connection error: %s", c->peer, strerror(errno));
        conn_close(c);
        return;
    }
    c->in_len += (size_t)r;
    conn_process(c);
}

/* ---------- accepting ---------- */

static void sockaddr_text(const struct sockaddr *sa, char *ip, size_t iplen, char *peer,
                          size_t peerlen, addr_key *key)
{
    memset(key, 0, sizeof *key);
    uint16_t port = 0;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0) {
            key->family = AF_INET;
            memcpy(key->addr, s6->sin6_addr.s6_addr + 12, 4);
            inet_ntop(AF_INET, key->addr, ip, (socklen_t)iplen);
        } else {
            key->family = AF_INET6;
            memcpy(key->addr, s6->sin6_addr.s6_addr, 16);
            inet_ntop(AF_INET6, key->addr, ip, (socklen_t)iplen);
        }
        port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        key->family = AF_INET;
        memcpy(key->addr, &s4->sin_addr, 4);
        inet_ntop(AF_INET, key->addr, ip, (socklen_t)iplen);
        port = ntohs(s4->sin_port);
    }
    if (key->family == AF_INET6) snprintf(peer, peerlen, "[%s]:%u", ip, port);
    else snprintf(peer, peerlen, "%s:%u", ip, port);
}

static bool client_allowed(const kmsd_config *cfg, const addr_key *key)
{
    if (cfg->n_allow_clients == 0) return true;
    for (int i = 0; i < cfg->n_allow_clients; i++)
        if (config_cidr_match(&cfg->allow_clients[i], key->family, key->addr)) return true;
    return false;
}

/* The per-address limit counts an IPv6 client by its network of prefix bits (a /64 is
 * what one host or one customer gets: counting each address apart would let one host
 * take every connection). */
static void limit_key(addr_key *k, uint32_t prefix)
{
    if (k->family != AF_INET6 || prefix >= 128) return;
    for (uint32_t bit = prefix; bit < 128; bit++) k->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

/* At max_connections: closes the oldest connection that has not completed a PDU yet, so
 * that a new client gets in. false when every connection is an active client. */
static bool evict_fresh(server *s)
{
    conn *old = s->fresh_head;
    if (!old || old->state != CONN_OPEN) return false;
    s->env.metrics->refusals[MREF_MAX_CONNECTIONS]++;
    if (log_allow(LOGCLASS_CONN))
        log_info("client %s: closed to make room (max_connections reached, no complete PDU yet)", old->peer);
    conn_close(old);
    return true;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)salen;
    listener_ctx *lc = arg;
    server *s = lc->srv;
    const server_env *n = &s->env;
    char ip[48], peer[64];
    addr_key key;
    sockaddr_text(sa, ip, sizeof ip, peer, sizeof peer, &key);

    int why = -1;
    bool allowed = client_allowed(n->cfg, &key);
    limit_key(&key, n->cfg->ipv6_prefix_len); /* from here on: the key of the per-address limit */
    /* closed connections still count until the close queue drains at the end of this turn */
    unsigned closing = 0;
    for (conn *q = s->closed; q && closing < 64; q = q->next_closed) closing++;
    if (!allowed) why = MREF_ALLOWLIST;
    else if (addr_get(s, &key) >= n->cfg->max_connections_per_address) why = MREF_PER_ADDRESS;
    else if (s->n_conns - closing >= n->cfg->max_connections && !evict_fresh(s)) why = MREF_MAX_CONNECTIONS;
    if (why >= 0) {
        n->metrics->refusals[why]++;
        if (log_allow(LOGCLASS_ACCEPT))
            log_info("client %s: connection refused: %s", peer,
                     why == MREF_ALLOWLIST ? "address not in allow_clients"
                     : why == MREF_MAX_CONNECTIONS ? "max_connections reached"
                                                   : "max_connections_per_address reached");
        evutil_closesocket(fd);
        return;
    }

    conn *c = calloc(1, sizeof *c);
    if (!c || !addr_inc(s, &key)) {
        log_error("client %s: out of memory, closing", peer);
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->fd = fd;
    c->in = c->in_inline;
    c->in_cap = sizeof c->in_inline;
    event_assign(&c->rev_ev, n->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    event_assign(&c->wev_ev, n->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    evtimer_assign(&c->idle_ev, n->base, conn_idle_cb, c);
    evtimer_assign(&c->life_ev, n->base, conn_life_cb, c);
    evtimer_assign(&c->pdu_ev, n->base, conn_pdu_cb, c);
    c->pdu_timer = &c->pdu_ev;
    c->rev = &c->rev_ev;
    c->wev = &c->wev_ev;
    c->idle = &c->idle_ev;
    c->life_timer = &c->life_ev;
    c->srv = s;
    c->key = key;
    copy_text(c->peer, sizeof c->peer, peer);
    copy_text(c->peer_ip, sizeof c->peer_ip, ip);
    c->rpcopt.ndr64 = n->cfg->ndr64;
    c->rpcopt.btfn = n->cfg->btfn;
    c->rpcopt.assoc_group_id = ++s->assoc_group_next ? s->assoc_group_next : ++s->assoc_group_next;
    c->rpcopt.port = lc->port; /* the bind_ack's secondary address: the port connected to */
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    fresh_append(c);
    n->metrics->connections_total++;
    n->metrics->connections_open++;

    if (s->idle_tv_seconds != n->cfg->idle_timeout) { /* first use, or changed by SIGHUP */
        struct timeval idle = {(time_t)n->cfg->idle_timeout, 0};
        s->idle_tv = event_base_init_common_timeout(n->base, &idle);
        s->idle_tv_seconds = n->cfg->idle_timeout;
    }
    /* The first PDU has pdu_timeout to come; idle_timeout applies between PDUs. */
    arm_pdu_timer(c);
    struct timeval life = {(time_t)n->cfg->connection_timeout, 0};
    evtimer_add(c->life_timer, &life);
    c->state = CONN_OPEN;
    event_add(c->rev, NULL);
    (void)l;
    /* A client sends its bind right after connecting: under load it is usually here
     * already, so read it now instead of after another turn of the loop. */
    conn_read_cb(fd, EV_READ, c);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server *s = arg;
    for (int i = 0; i < s->n_listeners; i++)
        if (s->listeners[i]) evconnlistener_enable(s->listeners[i]);
}

/* accept() failed: when for want of descriptors, stop accepting for LISTEN_BACKOFF_MS
 * rather than spin on the pending connection (node/listen.h). */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    server *s = ((listener_ctx *)arg)->srv;
    if (!listen_failure_pauses("KMS", EVUTIL_SOCKET_ERROR())) return;
    for (int i = 0; i < s->n_listeners; i++)
        if (s->listeners[i]) evconnlistener_disable(s->listeners[i]);
    struct timeval tv = {0, LISTEN_BACKOFF_MS * 1000};
    evtimer_add(s->accept_resume, &tv);
}

/* Creates and binds (without listening) the socket of listen address i: a port that is taken
 * fails here, at start, while nobody can connect before the node serves. */
static int bind_listen_socket(server *s, int i, char *err, size_t errlen)
{
    const config_addr *a = &s->env.cfg->listen[i];
    struct addrinfo *res;
    if (listen_resolve(a, "listen", &res, err, errlen) != 0) return KMS_EIO;
    int one = 1;
    evutil_socket_t fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = errno;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
            e = errno;
            evutil_closesocket(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", a->host, a->port, strerror(e));
        return KMS_EIO;
    }
    s->fds[i] = fd;
    return 0;
}

server *server_new(const server_env *env, char *err, size_t errlen)
{
    server *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
    s->env = *env;
    const server_env *n = &s->env;
    s->audit_flush_ev = event_new(n->base, -1, 0, audit_flush_cb, s);
    s->close_ev = event_new(n->base, -1, 0, close_queue_cb, s);
    s->accept_resume = evtimer_new(n->base, accept_resume_cb, s);
    if (!s->audit_flush_ev || !s->close_ev || !s->accept_resume) { snprintf(err, errlen, "out of memory"); server_free(&s); return NULL; }
    uint32_t seed;
    kms_random_openssl(NULL, (uint8_t *)&seed, sizeof seed);
    s->assoc_group_next = seed & 0x7fffffff;
    for (int i = 0; i < CONFIG_MAX_LISTEN; i++) s->fds[i] = -1;
    s->n_listeners = n->cfg->n_listen;
    for (int i = 0; i < n->cfg->n_listen; i++) {
        s->lctx[i].srv = s;
        s->lctx[i].port = n->cfg->listen[i].port;
        if (bind_listen_socket(s, i, err, errlen) != 0) {
            server_free(&s);
            return NULL;
        }
    }
    return s;
}

int server_set_accepting(server *s, bool on)
{
    if (!s || s->stopped || s->accepting == on) return 0;
    if (!on) {
        /* Listening sockets are closed, not just disabled: a connection to a port nobody
         * listens on is reset at once, so the client tries its next SRV target now
         * rather than after its own timeout. */
        for (int i = 0; i < s->n_listeners; i++) {
            if (s->listeners[i]) evconnlistener_free(s->listeners[i]); /* closes fds[i] */
            else if (s->fds[i] >= 0) evutil_closesocket(s->fds[i]);
            s->listeners[i] = NULL;
            s->fds[i] = -1;
        }
        s->accepting = false;
        return 0;
    }
    char err[300];
    for (int i = 0; i < s->n_listeners; i++) {
        if (s->listeners[i]) continue;
        if (s->fds[i] < 0 && bind_listen_socket(s, i, err, sizeof err) != 0) {
            log_error("%s", err);
            return KMS_EIO;
        }
        if (listen(s->fds[i], 1024) != 0) {
            log_error("cannot listen on %s:%u: %s", s->env.cfg->listen[i].host, s->env.cfg->listen[i].port, strerror(errno));
            return KMS_EIO;
        }
        s->listeners[i] = evconnlistener_new(s->env.base, accept_cb, &s->lctx[i],
                                             LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, s->fds[i]);
        if (!s->listeners[i]) {
            log_error("cannot accept on %s:%u: out of memory", s->env.cfg->listen[i].host, s->env.cfg->listen[i].port);
            return KMS_ENOMEM;
        }
        evconnlistener_set_error_cb(s->listeners[i], accept_error_cb);
    }
    s->accepting = true;
    return 0;
}

bool server_accepting(const server *s) { return s && s->accepting; }

void server_stop_accepting(server *s)
{
    server_set_accepting(s, false);
    s->stopped = true;
    /* Idle connections go now; those with a request in flight close after answering. */
    s->stopping = true;
    for (conn *c = s->conns; c; c = c->next)
        if (c->state == CONN_OPEN || c->state == CONN_FLUSHING) conn_close(c);
}

unsigned server_pending(const server *s) { return s ? s->n_pending : 0; }
unsigned server_connections(const server *s) { return s ? s->n_conns : 0; }

void server_free(server **self_p)
{
    if (!self_p || !*self_p) return;
    server *s = *self_p;
    for (int i = 0; i < s->n_listeners; i++) {
        if (s->listeners[i]) evconnlistener_free(s->listeners[i]);
        else if (s->fds[i] >= 0) evutil_closesocket(s->fds[i]);
    }
    /* The store is gone by now (kmsd frees it first): no commit callback is owed. */
    close_queue_drain(s);
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    for (int i = 0; i < ADDR_BUCKETS; i++)
        while (s->by_addr[i]) { addr_count *d = s->by_addr[i]; s->by_addr[i] = d->next; free(d); }
    if (s->audit_flush_ev) event_free(s->audit_flush_ev);
    if (s->close_ev) event_free(s->close_ev);
    if (s->accept_resume) event_free(s->accept_resume);
    audit_flush();
    explicit_bzero(s->rnd_pool, sizeof s->rnd_pool);
    free(s);
    *self_p = NULL;
}
