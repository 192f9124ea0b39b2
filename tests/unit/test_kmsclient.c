/* test_kmsclient.c: the client activation state machine (proto/kmsclient.h) against
 * proto/'s server side in memory, no socket: every protocol with and without NDR64 on the
 * host, several requests, answers fed whole and one byte at a time, unverified mode, and
 * what a host can do wrong (bytes after an answer, a PDU too large, a refusal, a fault, a
 * broken MAC), each with its failure kind and line. */
#include <stdio.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/kmsclient.h"
#include "tests/testutil.h"

static int counter_random(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *x = ctx;
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(++*x * 0x9E3779B97F4A7C15ull >> 56);
    return 0;
}

enum host_mode { H_OK, H_REFUSE, H_FAULT, H_CORRUPT };

typedef struct host {
    rpc_server_conn conn;
    rpc_server_options so;
    enum host_mode mode;
    uint64_t rng;
} host;

/* The host's answer to one client PDU; returns its length. */
static size_t answer(host *h, const uint8_t *pdu, size_t len, uint8_t *out, size_t cap)
{
    if (pdu[2] == RPC_PT_BIND || pdu[2] == RPC_PT_ALTER_CONTEXT) {
        int m = rpc_server_bind(&h->conn, &h->so, pdu, len, out, cap);
        return m > 0 ? (size_t)m : 0;
    }
    rpc_request rq;
    if (rpc_server_parse_request(&h->conn, pdu, len, &rq) < 0) return 0;
    if (h->mode == H_FAULT) {
        int m = rpc_encode_fault(rq.call_id, rq.ctx_id, RPC_NCA_OP_RNG_ERROR, out, cap);
        return m > 0 ? (size_t)m : 0;
    }
    kms_request req;
    kms_server_state sst;
    if (kms_server_decode_request(rq.msg, rq.msg_len, &req, &sst) < 0) return 0;
    kms_response resp;
    memset(&resp, 0, sizeof resp);
    resp.version_major = req.version_major;
    resp.cmid = req.cmid;
    resp.client_time = req.client_time;
    resp.count = 40;
    resp.activation_interval = 120;
    resp.renewal_interval = 10080;
    kms_response_set_epid(&resp, "06401-00206-551-123456-03-1033-14393.0000-2602021");
    uint8_t km[KMS_RESPONSE_MAX_LEN];
    int kn = kms_server_encode_response(&sst, &resp, counter_random, &h->rng, km, sizeof km);
    if (kn < 0) return 0;
    if (h->mode == H_CORRUPT) km[kn - 1] ^= 0x40;
    int m = rpc_server_encode_response(&rq, km, (size_t)kn, h->mode == H_REFUSE ? 0xC004F042u : 0,
                                       out, cap);
    return m > 0 ? (size_t)m : 0;
}

static void params(kmsc_params *p, int protocol, int requests, uint64_t *rng)
{
    memset(p, 0, sizeof *p);
    p->protocol = protocol;
    p->requests = requests;
    for (int i = 0; i < 16; i++) p->cmid.b[i] = (uint8_t)(0x10 + i);
    p->cmid.b[7] = 0x4f;
    p->n_policy = 25;
    p->license_status = 2;
    p->binding_expiration = 43200;
    p->workstation = "lab-01";
    p->client_time = kms_filetime_from_unix(1765000000);
    p->ndr64 = p->btfn = true;
    p->verify = true;
    p->random = counter_random;
    p->random_ctx = rng;
}

/* Runs one activation; bytewise feeds each answer one byte at a time. Returns the final
 * state and the number of PDUs the client sent. */
static int run(host *h, const kmsc_params *p, kmsc *c, bool bytewise, const uint8_t *extra,
               size_t extra_len, int *sent)
{
    int st = kmsc_start(c, p);
    *sent = 0;
    while (st == KMSC_SEND) {
        size_t len;
        const uint8_t *out = kmsc_output(c, &len);
        (*sent)++;
        uint8_t ans[1024 + 16];
        size_t n = answer(h, out, len, ans, 1024);
        if (n == 0) return -1;
        if (extra && n + extra_len <= sizeof ans) {
            memcpy(ans + n, extra, extra_len);
            n += extra_len;
        }
        if (!bytewise) {
            st = kmsc_feed(c, ans, n);
            continue;
        }
        st = KMSC_RECV;
        for (size_t i = 0; i < n && st == KMSC_RECV; i++) st = kmsc_feed(c, ans + i, 1);
    }
    return st;
}

static void test_exchanges(void)
{
    for (int proto = 4; proto <= 6; proto++)
        for (int ndr64 = 0; ndr64 <= 1; ndr64++)
            for (int requests = 1; requests <= 3; requests++)
                for (int bytewise = 0; bytewise <= 1; bytewise++) {
                    host h = {.so = {.ndr64 = ndr64, .btfn = true, .port = 1688}, .mode = H_OK};
                    uint64_t rng = 1;
                    kmsc_params p;
                    params(&p, proto, requests, &rng);
                    kmsc c;
                    int sent;
                    int st = run(&h, &p, &c, bytewise, NULL, 0, &sent);
                    char line[256];
                    CHECKF(st == KMSC_DONE, "v%d ndr64 %d x%d: %d %s", proto, ndr64, requests, st,
                           kmsc_describe(&c, "h", line, sizeof line));
                    /* a host with NDR64 refuses NDR32 in the bind: one alter_context more */
                    CHECK_EQ_INT(sent, 1 + ndr64 + requests);
                    CHECK_EQ_INT(c.requests_done, requests);
                    CHECK_EQ_INT(c.response.count, 40);
                    CHECK(strcmp(c.epid, "06401-00206-551-123456-03-1033-14393.0000-2602021") == 0);
                    /* the first request over NDR32, later ones over NDR64 when granted */
                    CHECK_EQ_INT(c.syntax, ndr64 && requests > 1 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32);
                }
    /* NDR32 + BTFN offered only: no alter_context, whatever the host supports */
    host h = {.so = {.ndr64 = true, .btfn = true, .port = 1688}};
    uint64_t rng = 1;
    kmsc_params p;
    params(&p, 6, 1, &rng);
    p.ndr64 = false;
    kmsc c;
    int sent;
    CHECK_EQ_INT(run(&h, &p, &c, false, NULL, 0, &sent), KMSC_DONE);
    CHECK_EQ_INT(sent, 2);
}

static void test_failures(void)
{
    char line[256];
    kmsc_params p;
    kmsc c;
    int sent;
    uint64_t rng = 1;
    params(&p, 6, 1, &rng);

    host h = {.so = {.ndr64 = true, .btfn = true, .port = 1688}, .mode = H_REFUSE};
    CHECK_EQ_INT(run(&h, &p, &c, false, NULL, 0, &sent), KMSC_FAILED);
    CHECK_EQ_INT(c.failure, KMSC_F_HRESULT);
    CHECK_EQ_INT(c.error, KMS_EREFUSED);
    CHECK_EQ_INT(c.hresult, 0xC004F042u);

    h = (host){.so = {.ndr64 = true, .btfn = true, .port = 1688}, .mode = H_FAULT};
    CHECK_EQ_INT(run(&h, &p, &c, false, NULL, 0, &sent), KMSC_FAILED);
    CHECK_EQ_INT(c.failure, KMSC_F_FAULT);
    CHECK_EQ_INT(c.fault_status, RPC_NCA_OP_RNG_ERROR);
    CHECK(strcmp(kmsc_describe(&c, "h", line, sizeof line), "RPC fault 0x1C010002 (nca_op_rng_error)") == 0);

    h = (host){.so = {.ndr64 = true, .btfn = true, .port = 1688}, .mode = H_CORRUPT};
    CHECK_EQ_INT(run(&h, &p, &c, true, NULL, 0, &sent), KMSC_FAILED);
    CHECK_EQ_INT(c.failure, KMSC_F_VERIFY);
    CHECKF(strstr(kmsc_describe(&c, "h", line, sizeof line), "response failed verification: ") != NULL, "%s", line);
    /* unverified (the floor measurement): RPC and HRESULT checked, the message not */
    p.verify = false;
    h = (host){.so = {.ndr64 = true, .btfn = true, .port = 1688}, .mode = H_CORRUPT};
    CHECK_EQ_INT(run(&h, &p, &c, true, NULL, 0, &sent), KMSC_DONE);
    p.verify = true;

    /* one byte after the bind_ack: the exchange is lock-step */
    h = (host){.so = {.ndr64 = true, .btfn = true, .port = 1688}};
    const uint8_t extra = 0;
    CHECK_EQ_INT(run(&h, &p, &c, false, &extra, 1, &sent), KMSC_FAILED);
    CHECK_EQ_INT(c.failure, KMSC_F_PROTOCOL);
    CHECK_EQ_INT(sent, 1);
    CHECK(strcmp(kmsc_describe(&c, "h", line, sizeof line), "unexpected bytes from h after bind_ack") == 0);

    /* a header announcing more than any KMS answer */
    CHECK_EQ_INT(kmsc_start(&c, &p), KMSC_SEND);
    uint8_t big[16] = {5, 0, RPC_PT_BIND_ACK, 3, 0x10, 0, 0, 0, 0xd0, 0x07, 0, 0, 2, 0, 0, 0};
    CHECK_EQ_INT(kmsc_feed(&c, big, sizeof big), KMSC_FAILED);
    CHECK_EQ_INT(c.error, KMS_ETOOBIG);
    CHECK(strcmp(kmsc_describe(&c, "h", line, sizeof line), "PDU from h too large while waiting for bind_ack") == 0);

    /* a protocol the machine does not speak */
    p.protocol = 7;
    CHECK_EQ_INT(kmsc_start(&c, &p), KMSC_FAILED);
    CHECK_EQ_INT(c.failure, KMSC_F_LOCAL);
}

int main(void)
{
    test_exchanges();
    test_failures();
    return tu_finish();
}
