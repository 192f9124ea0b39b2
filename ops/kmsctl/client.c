/* client.c: the blocking KMS client (client.h). One activation as Windows and vlmcs do it
 * (spec 1 and 4.9): connect, bind, alter_context when NDR32 was refused, then one or more
 * requests, every response verified. Each failure leaves one specific line in res->message. */
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

#include "proto/cursor.h"
#include "proto/errors.h"
#include "proto/products.h"

#define CLIENT_CALL_ID 2               /* vlmcs: bind, alter_context and request 1 use 2 */
#define CLIENT_BINDING_EXPIRATION 43200 /* minutes left in grace, as vlmcs sends */
#define CLIENT_BUF (RPC_DEFAULT_MAX_FRAG + 64)

/* ------------------------------------------------------------------ options */

void client_options_default(client_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->license_status = 2;
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

/* ------------------------------------------------------------------ names */

static const char *hresult_name(uint32_t hr)
{
    switch (hr) {
    case KMS_HR_INVALID_DATA:
        return "the host rejected the request as invalid or of an unsupported protocol "
               "version (ERROR_INVALID_DATA)";
    case KMS_HR_KMS_ID_MISMATCH:
        return "the host does not serve this product (SL_E_VL_KEY_MANAGEMENT_SERVICE_ID_MISMATCH)";
    case KMS_HR_INVALID_TIMESTAMP:
        return "the client clock differs from the host's by more than 4 hours "
               "(SL_E_VL_INVALID_TIMESTAMP)";
    case 0xC004D104u:
        return "the host reported invalid data, e.g. its client list is full "
               "(SL_REMAPPING_SP_STATUS_INVALIDARG)";
    case KMS_HR_NOT_ENOUGH_COUNT:
        return "the host's count is below the product's required count "
               "(SL_E_VL_NOT_ENOUGH_COUNT)";
    case 0xC004F041u:
        return "the KMS host itself is not activated "
               "(SL_E_VL_KEY_MANAGEMENT_SERVICE_NOT_ACTIVATED)";
    default:
        return "unknown HRESULT";
    }
}

static const char *fault_name(uint32_t status)
{
    switch (status) {
    case RPC_NCA_UNK_IF: return "nca_unk_if";
    case RPC_NCA_OP_RNG_ERROR: return "nca_op_rng_error";
    case RPC_NCA_PROTO_ERROR: return "nca_proto_error";
    default: return "unknown fault status";
    }
}

/* ------------------------------------------------------------------ plumbing */

typedef struct conn {
    int fd;
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    int timeout_ms;
    char peer[80];       /* "127.0.0.1:1688", "[::1]:1688", "name (addr:port)" */
    client_result *res;
    uint8_t buf[CLIENT_BUF];
    size_t len;          /* bytes buffered */
    size_t used;         /* length of the PDU handed out by read_pdu, dropped next call */
} conn;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

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
    int64_t left = c->deadline_ms - now_ms();
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

/* Reads one complete PDU (split or merged TCP reads are fine). *pdu stays valid until the
 * next call. what names the awaited PDU for messages ("bind_ack"). */
static int read_pdu(conn *c, const uint8_t **pdu, size_t *len, rpc_header *hdr,
                    const char *what)
{
    if (c->used) {
        memmove(c->buf, c->buf + c->used, c->len - c->used);
        c->len -= c->used;
        c->used = 0;
    }
    for (;;) {
        int n = rpc_frame(c->buf, c->len, RPC_DEFAULT_MAX_FRAG, hdr);
        if (n > 0) {
            *pdu = c->buf;
            *len = (size_t)n;
            c->used = (size_t)n;
            return 0;
        }
        if (n < 0)
            return fail(c->res, n, "malformed PDU from %s while waiting for %s: %s", c->peer,
                        what, kms_strerror(n));
        if (c->len == sizeof c->buf)
            return fail(c->res, KMS_ETOOBIG, "PDU from %s too large while waiting for %s",
                        c->peer, what);
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        if (r == 0) {
            if (c->len)
                return fail(c->res, KMS_EIO,
                            "connection closed by peer %s in the middle of the %s", c->peer,
                            what);
            return fail(c->res, KMS_EIO, "connection closed by peer %s while waiting for %s",
                        c->peer, what);
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(c, POLLIN);
            if (w == 0)
                return fail(c->res, KMS_ETIMEOUT, "timed out after %d ms waiting for %s",
                            c->timeout_ms, what);
            if (w < 0) return fail_errno(c, errno, "while waiting");
            continue;
        }
        char ctx[96];
        snprintf(ctx, sizeof ctx, "while waiting for %s", what);
        return fail_errno(c, errno, ctx);
    }
}

/* Status of a fault PDU (spec 2.7), read through a cursor. */
static uint32_t fault_status_of(const uint8_t *pdu, size_t len)
{
    rcursor rc = rc_init(pdu, len);
    rc_skip(&rc, 24);
    uint32_t st = rc_u32(&rc);
    return rc.err ? 0 : st;
}

/* Sends a bind or alter_context and reads its answer. */
static int negotiate(conn *c, uint8_t ptype, const rpc_bind_offer *offer, rpc_bind_result *br)
{
    const char *sent = ptype == RPC_PT_BIND ? "bind" : "alter_context";
    const char *want = ptype == RPC_PT_BIND ? "bind_ack" : "alter_context_resp";
    uint8_t out[512];
    int n = rpc_client_encode_bind(ptype, CLIENT_CALL_ID, offer, out, sizeof out);
    if (n < 0) return fail(c->res, n, "cannot encode the %s: %s", sent, kms_strerror(n));
    int r = send_all(c, out, (size_t)n, sent);
    if (r) return r;
    const uint8_t *pdu;
    size_t len;
    rpc_header hdr;
    r = read_pdu(c, &pdu, &len, &hdr, want);
    if (r) return r;
    if (hdr.ptype == RPC_PT_BIND_NAK)
        return fail(c->res, KMS_EPROTO, "KMS host %s rejected the %s (bind_nak)", c->peer, sent);
    if (hdr.ptype == RPC_PT_FAULT) {
        c->res->fault_status = fault_status_of(pdu, len);
        return fail(c->res, KMS_EFAULT, "RPC fault 0x%08X (%s) in answer to the %s",
                    c->res->fault_status, fault_name(c->res->fault_status), sent);
    }
    r = rpc_client_parse_bind_ack(pdu, len, CLIENT_CALL_ID, offer, br);
    if (r)
        return fail(c->res, r, "bad %s from %s (ptype %u): %s", want, c->peer, hdr.ptype,
                    kms_strerror(r));
    return 0;
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

static uint64_t client_filetime(int64_t offset_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return kms_filetime_from_unix((int64_t)ts.tv_sec + offset_s) + (uint64_t)ts.tv_nsec / 100;
}

static const char *syntax_name(rpc_syntax s)
{
    return s == RPC_SYNTAX_NDR64 ? "NDR64" : s == RPC_SYNTAX_NDR32 ? "NDR32" : "none";
}

/* One request/response on the bound connection. */
static int one_request(conn *c, const client_options *opt, const kms_guid *cmid, int index,
                       uint32_t call_id, uint16_t ctx, rpc_syntax syntax)
{
    client_result *res = c->res;
    kms_request req;
    memset(&req, 0, sizeof req);
    req.version_major = (uint16_t)opt->protocol;
    req.version_minor = 0;
    req.vm_info = opt->vm;
    req.license_status = opt->license_status;
    req.binding_expiration = CLIENT_BINDING_EXPIRATION;
    req.app_id = opt->app_id;
    req.sku_id = opt->sku_id;
    req.kms_id = opt->kms_id;
    req.cmid = *cmid;
    req.required_count = opt->n_policy;
    req.client_time = client_filetime(opt->time_offset_s);
    req.previous_cmid = opt->previous_cmid;
    kms_request_set_workstation(&req, opt->workstation[0] ? opt->workstation : "kmsctl");

    char what[64];
    snprintf(what, sizeof what, "the response to request %d", index + 1);

    uint8_t msg[KMS_V56_REQUEST_LEN + 64];
    kms_client_state st;
    int n = kms_client_encode_request(&req, kms_random_openssl, NULL, &st, msg, sizeof msg);
    if (n < 0) return fail(res, n, "cannot encode the KMS request: %s", kms_strerror(n));
    uint8_t pdu_out[KMS_V56_REQUEST_LEN + 256];
    int pn = rpc_client_encode_request(call_id, ctx, syntax, msg, (size_t)n, pdu_out,
                                       sizeof pdu_out);
    if (pn < 0) return fail(res, pn, "cannot encode the request PDU: %s", kms_strerror(pn));
    char sent[32];
    snprintf(sent, sizeof sent, "request %d", index + 1);
    int r = send_all(c, pdu_out, (size_t)pn, sent);
    if (r) return r;

    const uint8_t *pdu;
    size_t len;
    rpc_header hdr;
    r = read_pdu(c, &pdu, &len, &hdr, what);
    if (r) return r;
    const uint8_t *kmsg = NULL;
    size_t klen = 0;
    uint32_t hresult = 0, fstatus = 0;
    r = rpc_client_parse_response(pdu, len, call_id, ctx, syntax, &kmsg, &klen, &hresult,
                                  &fstatus);
    if (r == KMS_EFAULT) {
        res->fault_status = fstatus;
        return fail(res, KMS_EFAULT, "RPC fault 0x%08X (%s)", fstatus, fault_name(fstatus));
    }
    if (r) return fail(res, r, "bad response to request %d from %s: %s", index + 1, c->peer, kms_strerror(r));
    if (hresult != 0) {
        res->hresult = hresult;
        return fail(res, KMS_EREFUSED, "KMS host refused the request: 0x%08X (%s)", hresult,
                    hresult_name(hresult));
    }
    kms_response resp;
    memset(&resp, 0, sizeof resp);
    r = kms_client_decode_response(&st, kmsg, klen, &resp);
    if (r) return fail(res, r, "response failed verification: %s", kms_strerror(r));
    /* Belt and braces over the decoder: the host must echo our CMID and count us. */
    if (!kms_guid_equal(&resp.cmid, cmid))
        return fail(res, KMS_EECHO, "response failed verification: CMID not echoed");
    if (resp.count == 0)
        return fail(res, KMS_EINVAL,
                    "response failed verification: current count is 0 (a host counts the "
                    "requesting client)");
    char epid[sizeof res->epid];
    r = kms_response_get_epid(&resp, epid, sizeof epid);
    if (r) return fail(res, r, "response failed verification: %s", kms_strerror(r));
    res->response = resp;
    memcpy(res->epid, epid, sizeof res->epid);
    res->syntax = syntax;
    res->requests_done++;
    return 0;
}

int client_activate(const char *host, uint16_t port, const client_options *opt,
                    client_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = now_ms_f();
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
    c.deadline_ms = now_ms() + c.timeout_ms;
    int requests = opt->requests > 0 ? opt->requests : 1;

    kms_guid cmid = opt->cmid;
    if (kms_guid_is_zero(&cmid)) random_cmid(&cmid);

    int r = do_connect(&c, host, port);
    if (r) goto out;

    rpc_bind_offer offer = {.ndr32 = true, .ndr64 = opt->ndr64, .btfn = opt->btfn,
                            .conc_mpx = true};
    rpc_bind_result br;
    memset(&br, 0, sizeof br);
    r = negotiate(&c, RPC_PT_BIND, &offer, &br);
    if (r) goto out;
    int ndr32_ctx = br.ndr32_ctx, ndr64_ctx = opt->ndr64 ? br.ndr64_ctx : -1;
    if (ndr32_ctx < 0) {
        /* A Windows 8+ host refuses NDR32 when NDR64 is offered (spec 2.4): ask again. */
        rpc_bind_offer alt = {.ndr32 = true, .conc_mpx = true}; /* vlmcs: flags 0x13 */
        rpc_bind_result ar;
        memset(&ar, 0, sizeof ar);
        r = negotiate(&c, RPC_PT_ALTER_CONTEXT, &alt, &ar);
        if (r) goto out;
        ndr32_ctx = ar.ndr32_ctx;
    }
    if (ndr32_ctx < 0 && ndr64_ctx < 0) {
        r = fail(res, KMS_EPROTO, "KMS host %s accepted neither NDR32 nor NDR64", c.peer);
        goto out;
    }

    for (int i = 0; i < requests; i++) {
        bool use64 = ndr32_ctx < 0 || (i > 0 && ndr64_ctx >= 0);
        uint16_t ctx = (uint16_t)(use64 ? ndr64_ctx : ndr32_ctx);
        rpc_syntax syn = use64 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
        r = one_request(&c, opt, &cmid, i, CLIENT_CALL_ID + (uint32_t)i, ctx, syn);
        if (r) goto out;
    }
    res->error = 0;
    snprintf(res->message, sizeof res->message, "%d response%s from %s verified over %s",
             res->requests_done, res->requests_done == 1 ? "" : "s", c.peer,
             syntax_name(res->syntax));
    r = 0;
out:
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    res->elapsed_ms = now_ms_f() - t0;
    return r;
}
