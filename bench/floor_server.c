/* floor_server.c: kmsbench-floor, the floor of the request path. A single-threaded
 * libevent server that accepts, answers bind, alter_context and request with canned bytes
 * (only the call_id and context id are patched in), and closes when the client closes: no
 * crypto, no store, no count. The canned bytes are built once at start-up with proto/'s
 * server side, as kmsd would answer kmsbench's default client (bind refusing NDR32 because
 * NDR64 is offered, so the same alter_context round trip happens), so an exchange has the
 * same number of round trips and bytes as against kmsd; a bind offering NDR32 + BTFN only
 * (kmsbench --no-ndr64, the minimal loadgen's kmsload) gets the bind_ack kmsd gives it, so
 * no alter_context follows. Its responses do not echo the client's request: measure it with
 * kmsbench --no-verify. */
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/cursor.h"
#include "proto/errors.h"
#include "proto/kms.h"
#include "proto/products.h"
#include "proto/rpc.h"

#define FLOOR_BUF 1024
#define CANNED_MAX 512

typedef struct canned {
    uint8_t b[CANNED_MAX];
    size_t len;
} canned;

typedef struct floor_server {
    struct event_base *base;
    struct evconnlistener *listener;
    canned bind_ack, alter_resp;
    canned bind_ack32;  /* to a bind offering NDR32 + BTFN only (kmsbench --no-ndr64, kmsload) */
    canned resp[3][2]; /* [version 4..6][NDR32, NDR64] */
    uint64_t conns, pdus, closed_bad;
    unsigned open;
    struct fconn *head; /* open connections, freed at exit */
} floor_server;

typedef struct fconn {
    floor_server *srv;
    struct fconn *prev, *next;
    int fd;
    struct event ev;
    size_t len;
    uint8_t buf[FLOOR_BUF];
} fconn;

/* ------------------------------------------------------------------ canned bytes */

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int build_canned(floor_server *s, uint16_t port, char *err, size_t errlen)
{
    rpc_server_conn conn;
    memset(&conn, 0, sizeof conn);
    rpc_server_options opt = {.ndr64 = true, .btfn = true, .port = port, .assoc_group_id = 1};
    rpc_bind_offer offer = {.ndr32 = true, .ndr64 = true, .btfn = true, .conc_mpx = true};
    rpc_bind_offer alt = {.ndr32 = true, .conc_mpx = true};
    uint8_t pdu[512];
    int n = rpc_client_encode_bind(RPC_PT_BIND, 2, &offer, pdu, sizeof pdu);
    if (n > 0) n = rpc_server_bind(&conn, &opt, pdu, (size_t)n, s->bind_ack.b, CANNED_MAX);
    if (n <= 0) goto fail;
    s->bind_ack.len = (size_t)n;
    rpc_server_conn conn32;
    memset(&conn32, 0, sizeof conn32);
    rpc_bind_offer offer32 = {.ndr32 = true, .btfn = true, .conc_mpx = true};
    n = rpc_client_encode_bind(RPC_PT_BIND, 2, &offer32, pdu, sizeof pdu);
    if (n > 0) n = rpc_server_bind(&conn32, &opt, pdu, (size_t)n, s->bind_ack32.b, CANNED_MAX);
    if (n <= 0) goto fail;
    s->bind_ack32.len = (size_t)n;
    n = rpc_client_encode_bind(RPC_PT_ALTER_CONTEXT, 2, &alt, pdu, sizeof pdu);
    if (n > 0) n = rpc_server_bind(&conn, &opt, pdu, (size_t)n, s->alter_resp.b, CANNED_MAX);
    if (n <= 0) goto fail;
    s->alter_resp.len = (size_t)n;

    /* One real exchange per version and syntax, computed once. */
    const kms_sku *sku = products_sku_find_slug("win10-pro");
    kms_request req;
    memset(&req, 0, sizeof req);
    if (!sku || kms_guid_parse(sku->app_id, &req.app_id) || kms_guid_parse(sku->id, &req.sku_id) ||
        kms_guid_parse(sku->kms_id, &req.kms_id)) {
        snprintf(err, errlen, "win10-pro is missing from the product table");
        return -1;
    }
    req.required_count = 25;
    req.license_status = 2;
    req.binding_expiration = 43200;
    req.client_time = kms_filetime_from_unix((int64_t)time(NULL));
    (void)kms_random_openssl(NULL, req.cmid.b, sizeof req.cmid.b);
    kms_request_set_workstation(&req, "kmsbench-floor");
    for (int v = 4; v <= 6; v++) {
        for (int syn = 0; syn < 2; syn++) {
            req.version_major = (uint16_t)v;
            uint8_t msg[KMS_V56_REQUEST_LEN + 16], rpdu[KMS_V56_REQUEST_LEN + 64];
            kms_client_state cst;
            n = kms_client_encode_request(&req, kms_random_openssl, NULL, &cst, msg, sizeof msg);
            if (n <= 0) goto fail;
            rpc_syntax sx = syn ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
            /* after the alter_context, context 0 is NDR32 and context 1 NDR64 */
            n = rpc_client_encode_request(2, (uint16_t)syn, sx, msg, (size_t)n, rpdu, sizeof rpdu);
            if (n <= 0) goto fail;
            rpc_request rr;
            n = rpc_server_parse_request(&conn, rpdu, (size_t)n, &rr);
            if (n < 0) goto fail;
            kms_request sreq;
            kms_server_state sst;
            n = kms_server_decode_request(rr.msg, rr.msg_len, &sreq, &sst);
            if (n < 0) goto fail;
            kms_response resp;
            memset(&resp, 0, sizeof resp);
            resp.version_major = sreq.version_major;
            resp.version_minor = sreq.version_minor;
            resp.cmid = sreq.cmid;
            resp.client_time = sreq.client_time;
            resp.count = 50;
            resp.activation_interval = 120;
            resp.renewal_interval = 10080;
            products_group_default_hwid(KMS_GROUP_WINDOWS, resp.hwid);
            n = kms_response_set_epid(&resp, products_group_default_epid(KMS_GROUP_WINDOWS));
            if (n < 0) goto fail;
            uint8_t kmsg[KMS_RESPONSE_MAX_LEN];
            n = kms_server_encode_response(&sst, &resp, kms_random_openssl, NULL, kmsg,
                                           sizeof kmsg);
            if (n <= 0) goto fail;
            canned *c = &s->resp[v - 4][syn];
            n = rpc_server_encode_response(&rr, kmsg, (size_t)n, 0, c->b, CANNED_MAX);
            if (n <= 0) goto fail;
            c->len = (size_t)n;
        }
    }
    return 0;
fail:
    snprintf(err, errlen, "cannot build the canned answers: %s", kms_strerror(n));
    return -1;
}

/* ------------------------------------------------------------------ connections */

static void fconn_free(fconn *c)
{
    if (c->prev) c->prev->next = c->next;
    else c->srv->head = c->next;
    if (c->next) c->next->prev = c->prev;
    event_del(&c->ev);
    close(c->fd);
    c->srv->open--;
    free(c);
}

static bool send_canned(fconn *c, const canned *k, uint32_t call_id, int ctx_id)
{
    uint8_t out[CANNED_MAX];
    memcpy(out, k->b, k->len);
    put_u32le(out + 12, call_id);
    if (ctx_id >= 0) {
        out[20] = (uint8_t)ctx_id;
        out[21] = (uint8_t)(ctx_id >> 8);
    }
    ssize_t w = send(c->fd, out, k->len, MSG_NOSIGNAL);
    return w == (ssize_t)k->len;
}

/* Answers one PDU. Returns false when the connection should close. */
static bool answer(fconn *c, const uint8_t *pdu, size_t len, const rpc_header *h)
{
    floor_server *s = c->srv;
    s->pdus++;
    switch (h->ptype) {
    case RPC_PT_BIND: {
        /* n_context_elem: 3 (NDR32, NDR64, BTFN) or 2 (NDR32, BTFN) */
        rcursor rc = rc_init(pdu, len);
        rc_skip(&rc, 24);
        uint8_t items = rc_u8(&rc);
        return send_canned(c, !rc.err && items == 2 ? &s->bind_ack32 : &s->bind_ack, h->call_id, -1);
    }
    case RPC_PT_ALTER_CONTEXT:
        return send_canned(c, &s->alter_resp, h->call_id, -1);
    case RPC_PT_REQUEST: {
        rcursor rc = rc_init(pdu, len);
        rc_skip(&rc, 20);
        uint16_t ctx = rc_u16(&rc);
        int syn = ctx == 1 ? 1 : 0;
        /* the KMS message's major version: after the 8-byte NDR32 / 16-byte NDR64 header */
        rc_skip(&rc, 2 + (syn ? 16 : 8) + 2);
        uint16_t major = rc_u16(&rc);
        if (rc.err || major < 4 || major > 6) major = 6;
        return send_canned(c, &s->resp[major - 4][syn], h->call_id, ctx);
    }
    default:
        return false;
    }
}

static void fconn_cb(evutil_socket_t fd, short what, void *arg)
{
    fconn *c = arg;
    (void)what;
    ssize_t r = recv(fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        fconn_free(c);
        return;
    }
    if (r < 0) return;
    c->len += (size_t)r;
    size_t off = 0;
    for (;;) {
        rpc_header h;
        int n = rpc_frame(c->buf + off, c->len - off, sizeof c->buf, &h);
        if (n == 0) break;
        if (n < 0 || !answer(c, c->buf + off, (size_t)n, &h)) {
            c->srv->closed_bad++;
            fconn_free(c);
            return;
        }
        off += (size_t)n;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    if (c->len == sizeof c->buf) {
        c->srv->closed_bad++;
        fconn_free(c);
    }
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    floor_server *s = arg;
    (void)l;
    (void)sa;
    (void)salen;
    fconn *c = malloc(sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->len = 0;
    c->prev = NULL;
    c->next = s->head;
    if (s->head) s->head->prev = c;
    s->head = c;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    event_assign(&c->ev, s->base, fd, EV_READ | EV_PERSIST, fconn_cb, c);
    event_add(&c->ev, NULL);
    s->conns++;
    s->open++;
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    /* EMFILE and the like: keep listening; the client sees a timeout. */
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    floor_server *s = arg;
    (void)sig;
    (void)what;
    event_base_loopbreak(s->base);
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: kmsbench-floor --listen HOST:PORT [--quiet]\n"
            "Answers KMS clients with canned bytes (accept + canned bind_ack, alter_context_resp\n"
            "and response + close when the client closes): the floor of the request path, no\n"
            "crypto, no store. Its responses do not echo the request, so measure it with\n"
            "kmsbench --no-verify. Stops on SIGINT/SIGTERM.\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("kmsbench-floor " KMSHA_VERSION "\n");
        return 0;
    }
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen_at = NULL;
    bool quiet = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "l:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l': listen_at = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!listen_at || optind != argc) {
        usage(stderr);
        return 2;
    }
    char host[256];
    const char *colon = strrchr(listen_at, ':');
    if (!colon || colon == listen_at || (size_t)(colon - listen_at) >= sizeof host) {
        fprintf(stderr, "kmsbench-floor: --listen wants HOST:PORT\n");
        return 2;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = 0;
    if (host[0] == '[') { /* [v6]:port */
        size_t hl = strlen(host);
        if (hl < 2 || host[hl - 1] != ']') {
            fprintf(stderr, "kmsbench-floor: bad address '%s'\n", listen_at);
            return 2;
        }
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535) {
        fprintf(stderr, "kmsbench-floor: bad port in '%s'\n", listen_at);
        return 2;
    }

    static floor_server s;
    char err[256];
    if (build_canned(&s, (uint16_t)port, err, sizeof err) < 0) {
        fprintf(stderr, "kmsbench-floor: %s\n", err);
        return 1;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gr != 0 || !ai) {
        fprintf(stderr, "kmsbench-floor: cannot resolve '%s': %s\n", host, gai_strerror(gr));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    if (!s.base) {
        freeaddrinfo(ai);
        fprintf(stderr, "kmsbench-floor: cannot create the event loop\n");
        return 1;
    }
    /* the same backlog as kmsd */
    s.listener = evconnlistener_new_bind(s.base, accept_cb, &s,
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                             LEV_OPT_CLOSE_ON_EXEC,
                                         1024, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (!s.listener) {
        fprintf(stderr, "kmsbench-floor: cannot listen on %s: %s\n", listen_at,
                strerror(errno));
        event_base_free(s.base);
        return 1;
    }
    evconnlistener_set_error_cb(s.listener, accept_error_cb);
    struct event *sig_int = evsignal_new(s.base, SIGINT, stop_cb, &s);
    struct event *sig_term = evsignal_new(s.base, SIGTERM, stop_cb, &s);
    if (sig_int) event_add(sig_int, NULL);
    if (sig_term) event_add(sig_term, NULL);
    if (!quiet) {
        fprintf(stderr, "kmsbench-floor: listening on %s\n", listen_at);
        fflush(stderr);
    }
    event_base_dispatch(s.base);
    if (!quiet)
        fprintf(stderr, "kmsbench-floor: %" PRIu64 " connections, %" PRIu64 " PDUs answered, %"
                        PRIu64 " closed on bad input\n",
                s.conns, s.pdus, s.closed_bad);
    while (s.head) fconn_free(s.head);
    if (sig_int) event_free(sig_int);
    if (sig_term) event_free(sig_term);
    evconnlistener_free(s.listener);
    event_base_free(s.base);
    return 0;
}
