/* client.c: the blocking KMS client (client.h): drives proto/kmsclient.h's activation state
 * machine (bind, alter_context when NDR32 was refused, one or more requests, every response
 * verified, as Windows and vlmcs do it: spec 1 and 4.9) over a blocking socket with one
 * deadline. Each failure leaves one specific line in res->message. */
#include "ops/kmsctl/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "proto/clock.h"
#include "proto/errors.h"
#include "proto/kmsclient.h"
#include "proto/products.h"

#define CLIENT_BINDING_EXPIRATION 43200 /* minutes left in grace, as vlmcs sends */

/* ------------------------------------------------------------------ options */

void client_options_default(client_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->license_status = 2;
    opt->binding_expiration = CLIENT_BINDING_EXPIRATION;
    opt->ndr64 = true;
    opt->btfn = true;
    opt->requests = 1;
    opt->timeout_ms = 5000;
    (void)client_options_set_product(opt, "win10-pro");
    if (opt->protocol == 0) opt->protocol = 6;
}

static int set_from_sku(client_options *opt, const kms_sku *sku)
{
    kms_guid app, id, kms;
    if (kms_guid_parse(sku->app_id, &app) || kms_guid_parse(sku->id, &id) ||
        kms_guid_parse(sku->kms_id, &kms))
        return KMS_ENOTFOUND;
    opt->app_id = app;
    opt->sku_id = id;
    opt->kms_id = kms;
    opt->n_policy = sku->n_policy;
    const kms_product *p = products_find(&kms);
    opt->protocol = p && p->protocol >= 4 && p->protocol <= 6 ? p->protocol : 6;
    if (p && opt->n_policy == 0) opt->n_policy = p->n_policy;
    return 0;
}

/* Falls back to a KMS counted ID (slug or GUID): the first SKU of that group names the
 * edition, so "win10" behaves like "win10-pro" would. */
static int set_from_product(client_options *opt, const kms_product *p)
{
    kms_guid kms;
    if (kms_guid_parse(p->id, &kms)) return KMS_ENOTFOUND;
    for (size_t i = 0; i < products_sku_count(); i++) {
        const kms_sku *s = products_sku_at(i);
        kms_guid k;
        if (s && kms_guid_parse(s->kms_id, &k) == 0 && kms_guid_equal(&k, &kms))
            return set_from_sku(opt, s);
    }
    kms_guid app;
    if (kms_guid_parse(products_app_id(p->app), &app)) return KMS_ENOTFOUND;
    opt->app_id = app;
    memset(&opt->sku_id, 0, sizeof opt->sku_id);
    opt->kms_id = kms;
    opt->n_policy = p->n_policy;
    opt->protocol = p->protocol >= 4 && p->protocol <= 6 ? p->protocol : 6;
    return 0;
}

int client_options_set_product(client_options *opt, const char *name)
{
    if (!opt || !name || !*name) return KMS_ENOTFOUND;
    const kms_sku *sku = products_sku_find_slug(name);
    kms_guid g;
    bool is_guid = kms_guid_parse(name, &g) == 0;
    if (!sku && is_guid) sku = products_sku_find(&g);
    if (sku) return set_from_sku(opt, sku);
    const kms_product *p = products_find_slug(name);
    if (!p && is_guid) p = products_find(&g);
    if (p) return set_from_product(opt, p);
    return KMS_ENOTFOUND;
}

/* ------------------------------------------------------------------ plumbing */

typedef struct conn {
    int fd;
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    int timeout_ms;
    char peer[80];       /* "127.0.0.1:1688", "[::1]:1688", "name (addr:port)" */
    client_result *res;
} conn;

static int fail(client_result *res, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(client_result *res, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    res->error = err;
    return err;
}

/* Milliseconds left before the deadline (0 when passed). */
static int remaining(const conn *c)
{
    int64_t left = c->deadline_ms - (int64_t)clock_mono_ms();
    if (left <= 0) return 0;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Waits for events on c->fd until the deadline. Returns 1 ready, 0 timeout, -1 error. */
static int wait_fd(const conn *c, short events)
{
    for (;;) {
        int left = remaining(c);
        if (left == 0) return 0;
        struct pollfd p = {.fd = c->fd, .events = events};
        int r = poll(&p, 1, left);
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

static const char *errno_phrase(int e)
{
    switch (e) {
    case ECONNREFUSED: return "connection refused by";
    case ECONNRESET: return "connection reset by peer";
    case EHOSTUNREACH: return "host unreachable:";
    case ENETUNREACH: return "network unreachable for";
    case EPIPE: return "connection closed by peer";
    default: return NULL;
    }
}

static int fail_errno(conn *c, int e, const char *what)
{
    const char *ph = errno_phrase(e);
    if (e == ECONNRESET || e == EPIPE)
        return fail(c->res, KMS_EIO, "%s %s %s", ph, c->peer, what ? what : "while connecting");
    if (ph) return fail(c->res, KMS_EIO, "%s %s", ph, c->peer);
    if (!what) return fail(c->res, KMS_EIO, "cannot connect to %s: %s", c->peer, strerror(e));
    return fail(c->res, KMS_EIO, "I/O error with %s %s: %s", c->peer, what, strerror(e));
}

static void format_peer(char *out, size_t cap, const char *host, const struct sockaddr *sa,
                        socklen_t salen)
{
    char addr[INET6_ADDRSTRLEN + 1], serv[8];
    if (getnameinfo(sa, salen, addr, sizeof addr, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "%s", host);
        return;
    }
    char hp[INET6_ADDRSTRLEN + 16];
    if (sa->sa_family == AF_INET6) snprintf(hp, sizeof hp, "[%s]:%s", addr, serv);
    else snprintf(hp, sizeof hp, "%s:%s", addr, serv);
    if (strcmp(host, addr) == 0) snprintf(out, cap, "%s", hp);
    else snprintf(out, cap, "%s (%s)", host, hp);
}

/* Connects to the first address of host that answers before the deadline. */
static int do_connect(conn *c, const char *host, uint16_t port)
{
    char serv[8];
    snprintf(serv, sizeof serv, "%u", (unsigned)port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    int gr = getaddrinfo(host, serv, &hints, &ai);
    if (gr != 0) {
        if (gr == EAI_SYSTEM)
            return fail(c->res, KMS_ENOTFOUND, "cannot resolve host '%s': %s", host,
                        strerror(errno));
        return fail(c->res, KMS_ENOTFOUND, "cannot resolve host '%s': %s", host,
                    gai_strerror(gr));
    }
    int last_errno = 0;
    bool timed_out = false;
    snprintf(c->peer, sizeof c->peer, "%s:%u", host, (unsigned)port);
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        format_peer(c->peer, sizeof c->peer, host, a->ai_addr, a->ai_addrlen);
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) { last_errno = errno; continue; }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            last_errno = errno;
            close(fd);
            continue;
        }
        c->fd = fd;
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno != EINPROGRESS && errno != EINTR) {
            last_errno = errno;
            close(fd);
            c->fd = -1;
            continue;
        }
        if (r < 0) {
            int w = wait_fd(c, POLLOUT);
            if (w == 0) {
                timed_out = true;
                close(fd);
                c->fd = -1;
                break; /* the deadline covers all addresses */
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w < 0) soerr = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
            if (soerr != 0) {
                last_errno = soerr;
                close(fd);
                c->fd = -1;
                continue;
            }
        }
        freeaddrinfo(ai);
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return 0;
    }
    freeaddrinfo(ai);
    if (timed_out)
        return fail(c->res, KMS_ETIMEOUT, "timed out after %d ms connecting to %s",
                    c->timeout_ms, c->peer);
    if (last_errno) return fail_errno(c, last_errno, NULL);
    return fail(c->res, KMS_EIO, "cannot connect to %s", c->peer);
}

static int send_all(conn *c, const uint8_t *p, size_t n, const char *what)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(c, POLLOUT);
            if (r == 0)
                return fail(c->res, KMS_ETIMEOUT, "timed out after %d ms sending %s",
                            c->timeout_ms, what);
            if (r < 0) return fail_errno(c, errno, "while sending");
            continue;
        }
        char ctx[96];
        snprintf(ctx, sizeof ctx, "while sending %s", what);
        return fail_errno(c, w < 0 ? errno : EPIPE, ctx);
    }
    return 0;
}

/* Receives what the host sends until the machine has a whole PDU and takes its step
 * (split or merged TCP reads are fine). Returns the machine's next state, or a failure of
 * the transport (timeout, closed, reset) as a KMS_E* code (< 0) with res->message set. */
static int receive_step(conn *c, kmsc *m)
{
    for (;;) {
        char what[48];
        size_t cap;
        uint8_t *in = kmsc_input(m, &cap);
        ssize_t r = recv(c->fd, in, cap, 0);
        if (r > 0) {
            int st = kmsc_received(m, (size_t)r);
            if (st != KMSC_RECV) return st;
            continue;
        }
        if (r == 0) {
            if (m->in_len)
                return fail(c->res, KMS_EIO,
                            "connection closed by peer %s in the middle of the %s", c->peer,
                            kmsc_awaited(m, what, sizeof what));
            return fail(c->res, KMS_EIO, "connection closed by peer %s while waiting for %s",
                        c->peer, kmsc_awaited(m, what, sizeof what));
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(c, POLLIN);
            if (w == 0)
                return fail(c->res, KMS_ETIMEOUT, "timed out after %d ms waiting for %s",
                            c->timeout_ms, kmsc_awaited(m, what, sizeof what));
            if (w < 0) return fail_errno(c, errno, "while waiting");
            continue;
        }
        char ctx[96];
        snprintf(ctx, sizeof ctx, "while waiting for %s", kmsc_awaited(m, what, sizeof what));
        return fail_errno(c, errno, ctx);
    }
}

static void random_cmid(kms_guid *g)
{
    if (kms_random_openssl(NULL, g->b, sizeof g->b) != 0) {
        /* RAND_bytes never fails on a seeded Linux system; a clock-based id beats none. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                     (uint64_t)getpid() << 32;
        for (int i = 0; i < 16; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            g->b[i] = (uint8_t)x;
        }
    }
    /* v4 UUID: the version is the top nibble of Data3 (u16 LE at 6..7, so byte 7) and the
     * variant the top bits of Data4[0] (byte 8). */
    g->b[7] = (uint8_t)((g->b[7] & 0x0F) | 0x40);
    g->b[8] = (uint8_t)((g->b[8] & 0x3F) | 0x80);
}

static const char *syntax_name(rpc_syntax s)
{
    return s == RPC_SYNTAX_NDR64 ? "NDR64" : s == RPC_SYNTAX_NDR32 ? "NDR32" : "none";
}

/* The exchange on the connected socket: the machine's PDUs out, the host's bytes in. */
/* bind_only: stop once the bind is answered (client_probe: nothing is activated). */
static int exchange(conn *c, const client_options *opt, const kms_guid *cmid, int requests, bool bind_only)
{
    client_result *res = c->res;
    kmsc_params p = {
        .protocol = opt->protocol, .app_id = opt->app_id, .sku_id = opt->sku_id,
        .kms_id = opt->kms_id, .cmid = *cmid, .previous_cmid = opt->previous_cmid,
        .n_policy = opt->n_policy, .license_status = opt->license_status, .vm = opt->vm,
        .binding_expiration = opt->binding_expiration,
        .workstation = opt->workstation[0] ? opt->workstation : "kmsctl",
        .client_time = clock_filetime(opt->time_offset_s), .ndr64 = opt->ndr64,
        .btfn = opt->btfn, .requests = requests, .verify = true,
        .random = kms_random_openssl, .random_ctx = NULL,
    };
    kmsc m;
    int st = kmsc_start(&m, &p);
    int sent_pdus = 0;
    while (st == KMSC_SEND || st == KMSC_RECV) {
        if (st == KMSC_SEND && bind_only && sent_pdus == 1) return 0; /* the bind was answered */
        if (st == KMSC_SEND) {
            sent_pdus++;
            char sent[32];
            size_t len;
            const uint8_t *out = kmsc_output(&m, &len);
            int r = send_all(c, out, len, kmsc_sent(&m, sent, sizeof sent));
            if (r) return r;
            st = KMSC_RECV;
        } else {
            st = receive_step(c, &m);
            if (st < 0) return st;
        }
    }
    res->requests_done = m.requests_done;
    res->syntax = m.syntax;
    if (st == KMSC_FAILED) {
        res->hresult = m.hresult;
        res->fault_status = m.fault_status;
        char line[sizeof res->message];
        return fail(res, m.error, "%s", kmsc_describe(&m, c->peer, line, sizeof line));
    }
    res->response = m.response;
    memcpy(res->epid, m.epid, sizeof res->epid < sizeof m.epid ? sizeof res->epid : sizeof m.epid);
    return 0;
}

int client_probe(const char *host, uint16_t port, int timeout_ms, client_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = clock_mono_ms();
    if (!host || !*host || port == 0) return fail(res, KMS_EINVAL, "no KMS host and port given");
    conn c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.res = res;
    c.timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    c.deadline_ms = (int64_t)clock_mono_ms() + c.timeout_ms;
    client_options opt;
    client_options_default(&opt);
    kms_guid cmid;
    random_cmid(&cmid);
    int r = do_connect(&c, host, port);
    if (!r) r = exchange(&c, &opt, &cmid, 1, true);
    if (!r) snprintf(res->message, sizeof res->message, "bind to %s acknowledged", c.peer);
    if (c.fd >= 0) close(c.fd);
    res->elapsed_ms = clock_mono_ms() - t0;
    return r;
}

int client_activate(const char *host, uint16_t port, const client_options *opt,
                    client_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = clock_mono_ms();
    if (!host || !*host || !opt)
        return fail(res, KMS_EINVAL, "no KMS host given");
    if (opt->protocol < 4 || opt->protocol > 6)
        return fail(res, KMS_EINVAL, "protocol %d is not 4, 5 or 6", opt->protocol);
    if (port == 0) return fail(res, KMS_EINVAL, "port 0 is not a KMS port");

    conn c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.res = res;
    c.timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 5000;
    c.deadline_ms = (int64_t)clock_mono_ms() + c.timeout_ms;
    int requests = opt->requests > 0 ? opt->requests : 1;

    kms_guid cmid = opt->cmid;
    if (kms_guid_is_zero(&cmid)) random_cmid(&cmid);

    int r = do_connect(&c, host, port);
    if (r == 0) r = exchange(&c, opt, &cmid, requests, false);
    if (r == 0) {
        res->error = 0;
        snprintf(res->message, sizeof res->message, "%d response%s from %s verified over %s",
                 res->requests_done, res->requests_done == 1 ? "" : "s", c.peer,
                 syntax_name(res->syntax));
    }
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    res->elapsed_ms = clock_mono_ms() - t0;
    return r;
}
