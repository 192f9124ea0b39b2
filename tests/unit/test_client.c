/* test_client.c: the blocking KMS client (ops/kmsctl/client.c) without a real server: option
 * defaults and product selection, then whole activations against an in-process test host
 * (a forked child serving one TCP connection on 127.0.0.1 with the server side of proto/),
 * including hosts that corrupt, refuse, fault, stay silent or close, and a closed port. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops/kmsctl/client.h"
#include "proto/errors.h"
#include "proto/products.h"
#include "tests/testutil.h"

/* ------------------------------------------------------------------ the test host */

enum mode {
    M_OK,       /* answer correctly */
    M_SPLIT,    /* answer correctly, but dribble each answer out in small pieces */
    M_CORRUPT,  /* flip one byte of the KMS response message */
    M_BADCMID,  /* echo a different CMID */
    M_REFUSE,   /* HRESULT 0xC004F042 in the stub */
    M_FAULT,    /* fault nca_unk_if instead of a response */
    M_SILENT,   /* accept, read, never answer */
    M_CLOSE,    /* accept and close at once */
    M_ZERO,     /* count 0 in an otherwise valid response */
    M_LOW,      /* count 3: valid, but below N (the client stays in grace) */
    M_BADCALLID,/* a response PDU with another call_id */
};

typedef struct host_spec {
    enum mode mode;
    bool ndr64, btfn;       /* server behaviour */
    int protocol;           /* expected request version */
    int requests;           /* expected requests */
    bool client_ndr64;      /* whether the client offered NDR64 (for syntax checks) */
    bool random_cmid;       /* check the v4 UUID bits */
    int64_t time_offset_s;  /* expected client clock offset */
    int family;             /* AF_INET or AF_INET6 */
    const uint8_t *want_bind, *want_alter; /* expected client PDUs (vectors), or NULL */
    size_t want_bind_len, want_alter_len;
} host_spec;

typedef struct host {
    pid_t pid;
    uint16_t port;
} host;

/* Child exit codes: which check of the request failed. */
enum {
    HX_OK = 0, HX_ACCEPT = 10, HX_FRAME, HX_BIND, HX_PARSE, HX_DECODE, HX_VERSION, HX_CMIDBITS,
    HX_TIME, HX_WORKSTATION, HX_CALLID, HX_SYNTAX, HX_ENCODE, HX_SEND, HX_COUNT, HX_STATUS,
    HX_WIRE_BIND, HX_WIRE_ALTER,
};

static int send_all(int fd, const uint8_t *p, size_t n, bool split)
{
    while (n > 0) {
        size_t chunk = split ? (n < 7 ? n : 7) : n;
        ssize_t w = send(fd, p, chunk, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
        if (split) {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

static int serve(int lfd, const host_spec *hs)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) return HX_ACCEPT;
    if (hs->mode == M_CLOSE) {
        close(fd);
        return HX_OK;
    }
    rpc_server_options so = {.ndr64 = hs->ndr64, .btfn = hs->btfn, .port = 1688,
                             .assoc_group_id = 0x1234};
    rpc_server_conn conn;
    memset(&conn, 0, sizeof conn);
    uint8_t buf[8192];
    size_t len = 0;
    int nreq = 0;
    bool split = hs->mode == M_SPLIT;
    for (;;) {
        rpc_header hdr;
        int n = rpc_frame(buf, len, RPC_DEFAULT_MAX_FRAG, &hdr);
        if (n < 0) return HX_FRAME;
        if (n == 0) {
            ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break; /* the client closed */
            len += (size_t)r;
            continue;
        }
        uint8_t out[1024];
        if (hs->mode == M_SILENT) {
            /* swallow */
        } else if (hdr.ptype == RPC_PT_BIND || hdr.ptype == RPC_PT_ALTER_CONTEXT) {
            if (hdr.call_id != 2) return HX_CALLID;
            /* byte-for-byte what vlmcs sends (call_id 2, assoc 0, 5840/5840, flags 0x13) */
            if (hdr.ptype == RPC_PT_BIND && hs->want_bind &&
                ((size_t)n != hs->want_bind_len || memcmp(buf, hs->want_bind, (size_t)n)))
                return HX_WIRE_BIND;
            if (hdr.ptype == RPC_PT_ALTER_CONTEXT && hs->want_alter &&
                ((size_t)n != hs->want_alter_len || memcmp(buf, hs->want_alter, (size_t)n)))
                return HX_WIRE_ALTER;
            int m = rpc_server_bind(&conn, &so, buf, (size_t)n, out, sizeof out);
            if (m <= 0) return HX_BIND;
            if (send_all(fd, out, (size_t)m, split)) return HX_SEND;
        } else if (hdr.ptype == RPC_PT_REQUEST) {
            rpc_request rq;
            if (rpc_server_parse_request(&conn, buf, (size_t)n, &rq) != 0) return HX_PARSE;
            if (rq.call_id != (uint32_t)(2 + nreq)) return HX_CALLID;
            rpc_syntax want = nreq > 0 && hs->ndr64 && hs->client_ndr64 ? RPC_SYNTAX_NDR64
                                                                          : RPC_SYNTAX_NDR32;
            if (rq.syntax != want) return HX_SYNTAX;
            nreq++;
            int m;
            if (hs->mode == M_FAULT) {
                m = rpc_encode_fault(rq.call_id, rq.ctx_id, RPC_NCA_UNK_IF, out, sizeof out);
            } else if (hs->mode == M_REFUSE) {
                m = rpc_server_encode_response(&rq, NULL, 0, KMS_HR_KMS_ID_MISMATCH, out,
                                               sizeof out);
            } else {
                kms_request req;
                kms_server_state st;
                if (kms_server_decode_request(rq.msg, rq.msg_len, &req, &st) != 0)
                    return HX_DECODE;
                if (req.version_major != hs->protocol || req.version_minor != 0)
                    return HX_VERSION;
                if (hs->random_cmid &&
                    ((req.cmid.b[7] >> 4) != 4 || (req.cmid.b[8] & 0xC0) != 0x80))
                    return HX_CMIDBITS;
                if (req.license_status != 2 || req.vm_info != 0) return HX_STATUS;
                int64_t skew = kms_filetime_to_unix(req.client_time) -
                               (int64_t)time(NULL) - hs->time_offset_s;
                if (skew < -30 || skew > 30) return HX_TIME;
                char ws[80];
                kms_request_workstation(&req, ws, sizeof ws);
                if (strcmp(ws, "kmsctl") != 0) return HX_WORKSTATION;
                kms_response resp;
                memset(&resp, 0, sizeof resp);
                resp.version_major = req.version_major;
                resp.version_minor = req.version_minor;
                resp.cmid = req.cmid;
                if (hs->mode == M_BADCMID) resp.cmid.b[0] ^= 0x01;
                resp.client_time = req.client_time;
                resp.count = hs->mode == M_ZERO  ? 0
                             : hs->mode == M_LOW ? 3
                                                 : (uint32_t)(req.required_count * 2);
                resp.activation_interval = 120;
                resp.renewal_interval = 10080;
                static const uint8_t hwid[8] = {0x3A, 0x1C, 0x04, 0x96, 0x00, 0xB6, 0x00, 0x76};
                memcpy(resp.hwid, hwid, 8);
                if (kms_response_set_epid(&resp,
                        "03612-00206-556-123727-03-1033-17763.0000-2972018") != 0)
                    return HX_ENCODE;
                uint8_t msg[KMS_RESPONSE_MAX_LEN];
                int ml = kms_server_encode_response(&st, &resp, kms_random_openssl, NULL, msg,
                                                    sizeof msg);
                if (ml <= 0) return HX_ENCODE;
                m = rpc_server_encode_response(&rq, msg, (size_t)ml, 0, out, sizeof out);
                if (m > 0 && hs->mode == M_BADCALLID) out[12] ^= 0x40;
                if (m > 0 && hs->mode == M_CORRUPT) {
                    size_t at = rq.syntax == RPC_SYNTAX_NDR64 ? 48 : 36;
                    /* v4: a byte of the ePID (the MAC catches it); v5/v6: the last
                     * ciphertext byte (padding, hash or HMAC catch it) */
                    at += hs->protocol == 4 ? 10 : (size_t)ml - 1;
                    out[at] ^= 0x5A;
                }
            }
            if (m <= 0) return HX_ENCODE;
            if (send_all(fd, out, (size_t)m, split)) return HX_SEND;
        } else {
            return HX_FRAME;
        }
        memmove(buf, buf + n, len - (size_t)n);
        len -= (size_t)n;
    }
    close(fd);
    if (hs->mode == M_OK || hs->mode == M_SPLIT || hs->mode == M_LOW)
        if (nreq != hs->requests) return HX_COUNT;
    return HX_OK;
}

/* Starts a test host in a child process; returns its port (0 on failure). */
static host start_host(const host_spec *hs)
{
    host h = {-1, 0};
    int fam = hs->family ? hs->family : AF_INET;
    int lfd = socket(fam, SOCK_STREAM, 0);
    if (lfd < 0) return h;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (fam == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        sl = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a4;
    }
    if (bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 4) < 0 ||
        getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0) {
        close(lfd);
        return h;
    }
    uint16_t port = ntohs(fam == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(8); /* never outlive a broken test */
        _exit(serve(lfd, hs));
    }
    close(lfd);
    if (pid > 0) {
        h.pid = pid;
        h.port = port;
    }
    return h;
}

/* Waits for the child; returns its exit code (or 100 + signal). */
static int finish_host(host *h)
{
    if (h->pid <= 0) return -1;
    int st = 0;
    while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR) {}
    h->pid = -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 100 + WTERMSIG(st);
    return -1;
}

/* One activation against a fresh host with the given behaviour. */
/* Client PDUs captured from vlmcs (tests/vectors), which ours must equal. */
static struct wire {
    uint8_t *bind3, *alter, *bind2; /* NDR32+NDR64+BTFN, alter NDR32, NDR32+BTFN */
    size_t bind3_len, alter_len, bind2_len;
} wire;

static uint8_t *vector_pdu(const char *file, size_t index, size_t *len)
{
    json_t *v = tu_load_vector(file);
    json_t *pdus = json_object_get(json_array_get(json_object_get(v, "connections"), 0), "pdus");
    uint8_t *b = tu_unhex_alloc(tu_str(json_array_get(pdus, index), "hex"), len);
    json_decref(v);
    return b;
}

static int run(enum mode m, bool srv_ndr64, client_options *opt, client_result *res,
               int *child)
{
    host_spec hs = {.mode = m, .ndr64 = srv_ndr64, .btfn = true, .protocol = opt->protocol,
                    .requests = opt->requests, .client_ndr64 = opt->ndr64,
                    .random_cmid = kms_guid_is_zero(&opt->cmid),
                    .time_offset_s = opt->time_offset_s};
    if (opt->btfn && opt->ndr64) {
        hs.want_bind = wire.bind3;
        hs.want_bind_len = wire.bind3_len;
    } else if (opt->btfn) {
        hs.want_bind = wire.bind2;
        hs.want_bind_len = wire.bind2_len;
    }
    hs.want_alter = wire.alter;
    hs.want_alter_len = wire.alter_len;
    host h = start_host(&hs);
    CHECK(h.port != 0);
    if (!h.port) return -1;
    int r = client_activate("127.0.0.1", h.port, opt, res);
    *child = finish_host(&h);
    return r;
}

/* ------------------------------------------------------------------ tests */

static void test_defaults(void)
{
    client_options o;
    memset(&o, 0xAB, sizeof o);
    client_options_default(&o);
    CHECK_EQ_INT(o.protocol, 6);
    CHECK(o.ndr64);
    CHECK(o.btfn);
    CHECK_EQ_INT(o.requests, 1);
    CHECK_EQ_INT(o.timeout_ms, 5000);
    CHECK_EQ_INT(o.license_status, 2);
    CHECK_EQ_INT(o.vm, 0);
    CHECK_EQ_INT(o.time_offset_s, 0);
    CHECK(kms_guid_is_zero(&o.cmid));
    CHECK(kms_guid_is_zero(&o.previous_cmid));
    CHECK_EQ_INT(o.workstation[0], 0);
    CHECK_EQ_INT(o.n_policy, 25);
    kms_guid g;
    kms_guid_parse("55c92734-d682-4d71-983e-d6ec3f16059f", &g);
    CHECK(kms_guid_equal(&o.app_id, &g));
    kms_guid_parse("2de67392-b7a7-462a-b1ca-108dd189f588", &g);
    CHECK(kms_guid_equal(&o.sku_id, &g));
    kms_guid_parse("58e2134f-8e11-4d17-9cb2-91069c151148", &g);
    CHECK(kms_guid_equal(&o.kms_id, &g));
}

static void expect_product(const char *name, const char *app, const char *kms, int n,
                           int protocol)
{
    client_options o;
    client_options_default(&o);
    int r = client_options_set_product(&o, name);
    CHECKF(r == 0, "set_product(%s) = %d", name, r);
    kms_guid g;
    kms_guid_parse(app, &g);
    CHECKF(kms_guid_equal(&o.app_id, &g), "%s: app id", name);
    kms_guid_parse(kms, &g);
    CHECKF(kms_guid_equal(&o.kms_id, &g), "%s: kms id", name);
    CHECKF(o.n_policy == n, "%s: N = %u, expected %d", name, o.n_policy, n);
    CHECKF(o.protocol == protocol, "%s: protocol = %d, expected %d", name, o.protocol,
           protocol);
}

static void test_products(void)
{
    const char *win = "55c92734-d682-4d71-983e-d6ec3f16059f";
    const char *o10 = "59a52881-a989-479d-af46-f275c6370663";
    const char *o13 = "0ff1ce15-a989-479d-af46-f275c6370663";
    expect_product("win10-pro", win, "58e2134f-8e11-4d17-9cb2-91069c151148", 25, 6);
    /* by SKU GUID, any case, braces */
    expect_product("6F327760-8C5C-417C-9B61-836A98287E0C", o10,
                   "e85af946-2e25-47b7-83e1-bebcebeac611", 5, 4); /* Office 2010 ProPlus */
    expect_product("{b322da9c-a2e2-4058-9e4e-f59a6970bd69}", o13,
                   "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", 5, 5); /* Office 2013 ProPlus */
    expect_product("85dd8b5f-eaa4-4af3-a628-cce9e77c9a03", o13,
                   "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", 5, 6); /* Office 2019 ProPlus */
    expect_product("34e1ae55-27f8-4950-8877-7a03be5fb181", win,
                   "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", 5, 6); /* Server 2019 DC */
    expect_product("b92e9980-b9d5-4821-9c94-140f632f6312", win,
                   "7fde5219-fbfa-484a-82c9-34d1ad53e856", 25, 4); /* Windows 7 Pro */
    expect_product("d3643d60-0c42-412d-a7d6-52e6635327f6", win,
                   "8665cb71-468c-4aa3-a337-cb9bc9d5eaac", 5, 5); /* Server 2012 DC */

    /* every slug of the table selects its own SKU, and by its GUID too */
    size_t n = products_sku_count();
    CHECK(n > 20);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const kms_sku *s = products_sku_at(i);
        client_options o;
        client_options_default(&o);
        kms_guid id;
        if (client_options_set_product(&o, s->slug) != 0 || kms_guid_parse(s->id, &id) != 0 ||
            !kms_guid_equal(&o.sku_id, &id) || o.n_policy != s->n_policy ||
            o.protocol < 4 || o.protocol > 6) {
            CHECKF(0, "sku %s", s->slug);
            bad++;
        }
        client_options o2;
        client_options_default(&o2);
        if (client_options_set_product(&o2, s->id) != 0 || !kms_guid_equal(&o2.sku_id, &id)) {
            CHECKF(0, "sku %s by id", s->id);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);

    client_options o;
    client_options_default(&o);
    CHECK_EQ_INT(client_options_set_product(&o, "no-such-product"), KMS_ENOTFOUND);
    CHECK_EQ_INT(client_options_set_product(&o, ""), KMS_ENOTFOUND);
    CHECK_EQ_INT(client_options_set_product(&o, "00000000-0000-0000-0000-000000000001"),
                 KMS_ENOTFOUND);
    CHECK_EQ_INT(o.protocol, 6); /* unchanged by the failures */
    CHECK_EQ_INT(o.n_policy, 25);
}

static void test_activate_matrix(void)
{
    for (int proto = 4; proto <= 6; proto++) {
        for (int cndr64 = 0; cndr64 <= 1; cndr64++) {
            for (int sndr64 = 0; sndr64 <= 1; sndr64++) {
                client_options o;
                client_options_default(&o);
                o.protocol = proto;
                o.ndr64 = cndr64;
                client_result res;
                int child = -1;
                int r = run(M_OK, sndr64, &o, &res, &child);
                CHECKF(r == 0, "v%d client ndr64 %d server ndr64 %d: %d %s", proto, cndr64,
                       sndr64, r, res.message);
                CHECKF(child == 0, "v%d/%d/%d: host exit %d", proto, cndr64, sndr64, child);
                CHECK_EQ_INT(res.error, 0);
                CHECK_EQ_INT(res.requests_done, 1);
                CHECK_EQ_INT(res.syntax, RPC_SYNTAX_NDR32);
                CHECK_EQ_INT(res.response.version_major, proto);
                CHECK_EQ_INT(res.response.count, 50);
                CHECK_EQ_INT(res.response.activation_interval, 120);
                CHECK_EQ_INT(res.response.renewal_interval, 10080);
                CHECK(strcmp(res.epid, "03612-00206-556-123727-03-1033-17763.0000-2972018") == 0);
                CHECK(res.elapsed_ms >= 0 && res.elapsed_ms < 5000);
                if (proto == 6) {
                    static const uint8_t hw[8] = {0x3A, 0x1C, 0x04, 0x96, 0x00, 0xB6, 0x00, 0x76};
                    CHECK_MEM(res.response.hwid, hw, 8);
                }
                CHECK(!kms_guid_is_zero(&res.response.cmid));
            }
        }
    }
}

static void test_multi_requests(void)
{
    for (int sndr64 = 0; sndr64 <= 1; sndr64++) {
        for (int proto = 4; proto <= 6; proto += 2) {
            client_options o;
            client_options_default(&o);
            o.protocol = proto;
            o.requests = 3;
            kms_guid_parse("a1a1a1a1-0015-4000-8000-000000000015", &o.cmid);
            client_result res;
            int child = -1;
            int r = run(M_OK, sndr64, &o, &res, &child);
            CHECKF(r == 0, "3 requests v%d server ndr64 %d: %s", proto, sndr64, res.message);
            CHECK_EQ_INT(child, 0);
            CHECK_EQ_INT(res.requests_done, 3);
            CHECK_EQ_INT(res.syntax, sndr64 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32);
            CHECK(kms_guid_equal(&res.response.cmid, &o.cmid));
        }
    }
    /* split reads, BTFN off, time offset, a Server SKU (N 5 -> count 10) */
    client_options o;
    client_options_default(&o);
    CHECK_EQ_INT(client_options_set_product(&o, "34e1ae55-27f8-4950-8877-7a03be5fb181"), 0);
    o.btfn = false;
    o.requests = 2;
    o.time_offset_s = -7200;
    client_result res;
    int child = -1;
    int r = run(M_SPLIT, true, &o, &res, &child);
    CHECKF(r == 0, "split: %s", res.message);
    CHECK_EQ_INT(child, 0);
    CHECK_EQ_INT(res.requests_done, 2);
    CHECK_EQ_INT(res.response.count, 10);
    CHECK_EQ_INT(res.syntax, RPC_SYNTAX_NDR64);
}

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_failures(void)
{
    client_options o;
    client_result res;
    int child, r;

    /* v4 corrupted ePID byte: MAC4 */
    client_options_default(&o);
    o.protocol = 4;
    r = run(M_CORRUPT, true, &o, &res, &child);
    CHECK_EQ_INT(r, KMS_EMAC);
    CHECK_EQ_INT(res.error, KMS_EMAC);
    CHECKF(contains(res.message, "response failed verification: MAC verification failed"),
           "%s", res.message);
    CHECK_EQ_INT(res.requests_done, 0);

    /* v5 / v6 corrupted last block */
    for (int proto = 5; proto <= 6; proto++) {
        client_options_default(&o);
        o.protocol = proto;
        r = run(M_CORRUPT, true, &o, &res, &child);
        CHECKF(r == KMS_EPAD || r == KMS_EMAC || r == KMS_EHASH || r == KMS_EECHO ||
               r == KMS_EEPID, "v%d corrupt: %d %s", proto, r, res.message);
        CHECKF(contains(res.message, "response failed verification: "), "%s", res.message);
    }

    /* CMID not echoed */
    client_options_default(&o);
    r = run(M_BADCMID, true, &o, &res, &child);
    CHECK_EQ_INT(r, KMS_EECHO);

    /* count 0 */
    client_options_default(&o);
    r = run(M_ZERO, true, &o, &res, &child);
    CHECKF(r < 0 && contains(res.message, "response failed verification"), "%d %s", r,
           res.message);

    /* a count below N is still a verified answer */
    client_options_default(&o);
    r = run(M_LOW, true, &o, &res, &child);
    CHECKF(r == 0, "low count: %s", res.message);
    CHECK_EQ_INT(res.response.count, 3);
    CHECK_EQ_INT(child, 0);

    /* a response PDU that does not parse: the message names it (was "bad the response
     * to request 1") */
    client_options_default(&o);
    r = run(M_BADCALLID, true, &o, &res, &child);
    CHECK_EQ_INT(r, KMS_EPROTO);
    CHECKF(strncmp(res.message, "bad response to request 1 from 127.0.0.1:", 41) == 0 &&
           contains(res.message, ": DCE/RPC protocol violation"), "%s", res.message);

    /* refusal in the stub */
    client_options_default(&o);
    r = run(M_REFUSE, true, &o, &res, &child);
    CHECK_EQ_INT(r, KMS_EREFUSED);
    CHECK_EQ_INT(res.hresult, 0xC004F042u);
    CHECKF(strcmp(res.message, "KMS host refused the request: 0xC004F042 (the host does not "
                               "serve this product (SL_E_VL_KEY_MANAGEMENT_SERVICE_ID_MISMATCH))") == 0,
           "%s", res.message);

    /* fault */
    client_options_default(&o);
    r = run(M_FAULT, true, &o, &res, &child);
    CHECK_EQ_INT(r, KMS_EFAULT);
    CHECK_EQ_INT(res.fault_status, RPC_NCA_UNK_IF);
    CHECKF(strcmp(res.message, "RPC fault 0x1C010003 (nca_unk_if)") == 0, "%s", res.message);

    /* silent host: the deadline holds */
    client_options_default(&o);
    o.timeout_ms = 300;
    r = run(M_SILENT, true, &o, &res, &child);
    CHECK_EQ_INT(r, KMS_ETIMEOUT);
    CHECKF(res.elapsed_ms >= 250 && res.elapsed_ms < 2000, "elapsed %.1f", res.elapsed_ms);
    CHECKF(strcmp(res.message, "timed out after 300 ms waiting for bind_ack") == 0, "%s",
           res.message);
    CHECK_EQ_INT(child, 0);

    /* host closes at once */
    client_options_default(&o);
    r = run(M_CLOSE, true, &o, &res, &child);
    CHECKF(r == KMS_EIO && (contains(res.message, "closed by peer") ||
                            contains(res.message, "reset by")), "%d %s", r, res.message);

    /* nothing listening */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sl) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &sl) == 0);
    uint16_t port = ntohs(a.sin_port);
    close(fd); /* bound, never listened, now closed: connecting is refused */
    client_options_default(&o);
    r = client_activate("127.0.0.1", port, &o, &res);
    CHECK_EQ_INT(r, KMS_EIO);
    char want[64];
    snprintf(want, sizeof want, "connection refused by 127.0.0.1:%u", (unsigned)port);
    CHECKF(strcmp(res.message, want) == 0, "%s", res.message);

    /* bad arguments */
    client_options_default(&o);
    o.protocol = 7;
    CHECK_EQ_INT(client_activate("127.0.0.1", 1688, &o, &res), KMS_EINVAL);
    client_options_default(&o);
    CHECK_EQ_INT(client_activate("no-such-host.invalid", 1688, &o, &res), KMS_ENOTFOUND);
    CHECKF(contains(res.message, "no-such-host.invalid"), "%s", res.message);
}

static void test_names(void)
{
    /* a name that resolves to 127.0.0.1 (and maybe ::1 first, refused: next address) */
    host_spec hs = {.mode = M_OK, .ndr64 = true, .btfn = true, .protocol = 6, .requests = 1,
                    .client_ndr64 = true, .random_cmid = true};
    host h = start_host(&hs);
    client_options o;
    client_options_default(&o);
    client_result res;
    int r = client_activate("localhost", h.port, &o, &res);
    CHECKF(r == 0, "localhost: %s", res.message);
    int child = finish_host(&h);
    CHECK_EQ_INT(child, 0);

    /* IPv6 loopback, when the machine has it */
    hs.family = AF_INET6;
    h = start_host(&hs);
    if (h.port) {
        r = client_activate("::1", h.port, &o, &res);
        CHECKF(r == 0, "::1: %s", res.message);
        child = finish_host(&h);
        CHECK_EQ_INT(child, 0);
    } else {
        fprintf(stderr, "note: no IPv6 loopback, skipping the ::1 case\n");
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    wire.bind3 = vector_pdu("01-v4-win7-pro.json", 0, &wire.bind3_len);
    wire.alter = vector_pdu("01-v4-win7-pro.json", 2, &wire.alter_len);
    wire.bind2 = vector_pdu("16-v6-bind-ndr32-btfn.json", 0, &wire.bind2_len);
    CHECK(wire.bind3 && wire.bind3_len == 160);
    CHECK(wire.alter && wire.alter_len == 72);
    CHECK(wire.bind2 && wire.bind2_len == 116);
    test_defaults();
    test_products();
    test_activate_matrix();
    test_multi_requests();
    test_failures();
    test_names();
    free(wire.bind3);
    free(wire.alter);
    free(wire.bind2);
    return tu_finish();
}
