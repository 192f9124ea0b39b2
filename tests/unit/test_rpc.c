/* test_rpc.c: unit tests of proto/rpc.c against the golden vectors (flat-rpc.json,
 * flat-kms.json and the per-run files for the server options), plus framing of split and
 * merged streams and the malformed-PDU cases of the server and the client side. */
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/rpc.h"
#include "tests/testutil.h"

#define BUF 8192

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static const uint8_t IFACE[16] = {0x75, 0x21, 0xc8, 0x51, 0x4e, 0x84, 0x50, 0x47,
                                  0xb0, 0xd8, 0xec, 0x25, 0x55, 0x55, 0xbc, 0x06};
static const uint8_t NDR32[16] = {0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11,
                                  0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60};
static const uint8_t NDR64[16] = {0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49,
                                  0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36};
static const uint8_t BTFN[16] = {0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45,
                                 0x03, 0, 0, 0, 0, 0, 0, 0};

/* Offset of n_results in a bind_ack / alter_context_resp (spec 2.4). */
static size_t ack_results_off(const uint8_t *ack)
{
    size_t a = 26 + get16(ack + 24);
    return (a + 3) & ~(size_t)3;
}

/* The offer a recorded bind makes, read by the test from the bytes (context i -> kind). */
static rpc_bind_offer offer_of(const uint8_t *bind)
{
    rpc_bind_offer o = {0};
    unsigned n = bind[24];
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *ts = bind + 28 + 44 * i + 24;
        if (!memcmp(ts, NDR32, 16)) o.ndr32 = true;
        else if (!memcmp(ts, NDR64, 16)) o.ndr64 = true;
        else if (!memcmp(ts, BTFN, 8)) o.btfn = true;
    }
    o.conc_mpx = (bind[3] & 0x10) != 0;
    return o;
}

static json_t *kms_exchange(json_t *flat_kms, const char *vector, int idx)
{
    size_t i;
    json_t *x;
    json_array_foreach(flat_kms, i, x) {
        if (!strcmp(tu_str(x, "vector"), vector) && tu_int(x, "exchange") == idx) return x;
    }
    return NULL;
}

/* ---------------- the golden conversations ---------------- */

static void check_bind_exchange(const char *vec, rpc_server_conn *conn,
                                const rpc_server_options *opt, const uint8_t *cpdu,
                                size_t clen, const uint8_t *spdu, size_t slen)
{
    /* Client side: our encoder reproduces the recorded bind / alter_context. */
    rpc_bind_offer offer = offer_of(cpdu);
    uint8_t enc[BUF];
    int n = rpc_client_encode_bind(cpdu[2], get32(cpdu + 12), &offer, enc, sizeof enc);
    CHECKF(n == (int)clen, "%s: client bind length %d, recorded %zu", vec, n, clen);
    if (n == (int)clen) CHECK_MEM(enc, cpdu, clen);

    /* Server side: our answer means the same as vlmcsd's. */
    uint8_t ack[BUF];
    int alen = rpc_server_bind(conn, opt, cpdu, clen, ack, sizeof ack);
    CHECKF(alen == (int)slen, "%s: bind_ack length %d, recorded %zu", vec, alen, slen);
    if (alen != (int)slen) return;
    CHECK_EQ_INT(ack[2], spdu[2]);                 /* PDU type */
    CHECK_EQ_INT(ack[3], spdu[3]);                 /* flags */
    CHECK_EQ_INT(get32(ack + 12), get32(spdu + 12)); /* call id */
    CHECK_EQ_INT(get16(ack + 16), get16(spdu + 16)); /* max_xmit_frag */
    CHECK_EQ_INT(get16(ack + 18), get16(spdu + 18)); /* max_recv_frag */
    CHECK_EQ_INT(get32(ack + 20), opt->assoc_group_id);
    size_t sec = get16(spdu + 24);
    CHECK_EQ_INT(get16(ack + 24), sec);
    CHECK_MEM(ack + 26, spdu + 26, sec);
    size_t a = ack_results_off(ack);
    for (size_t i = 26 + sec; i < a; i++) CHECKF(ack[i] == 0, "%s: pad byte %zu = %02x", vec, i, ack[i]);
    CHECK_EQ_INT(ack[a], spdu[a]); /* n_results */
    CHECK(ack[a + 1] == 0 && ack[a + 2] == 0 && ack[a + 3] == 0);
    CHECK_MEM(ack + a + 4, spdu + a + 4, 24 * (size_t)spdu[a]); /* result, reason, syntax */
    /* Everything but vlmcsd's assoc group and garbage padding is identical. */
    uint8_t masked[BUF];
    memcpy(masked, spdu, slen);
    memcpy(masked + 20, ack + 20, 4);
    memset(masked + 26 + sec, 0, a - 26 - sec);
    CHECK_MEM(ack, masked, slen);

    /* Client side: the recorded answer and ours are understood the same way. */
    rpc_bind_result r1, r2;
    CHECK_EQ_INT(rpc_client_parse_bind_ack(spdu, slen, get32(cpdu + 12), &offer, &r1), 0);
    CHECK_EQ_INT(rpc_client_parse_bind_ack(ack, (size_t)alen, get32(cpdu + 12), &offer, &r2), 0);
    CHECK_EQ_INT(r1.n_results, spdu[a]);
    CHECK_EQ_INT(r1.max_xmit_frag, 5840);
    CHECK_EQ_INT(r1.max_recv_frag, 5840);
    CHECK_EQ_INT(r1.assoc_group_id, get32(spdu + 20));
    CHECK(!strcmp(r1.sec_addr, r2.sec_addr));
    CHECK_EQ_INT(r1.ndr32_ctx, r2.ndr32_ctx);
    CHECK_EQ_INT(r1.ndr64_ctx, r2.ndr64_ctx);
    CHECK_EQ_INT(r1.btfn_acked, r2.btfn_acked);
    CHECK_EQ_INT(r1.btfn_features, r2.btfn_features);
    if (spdu[2] == RPC_PT_BIND_ACK) {
        char port[16];
        snprintf(port, sizeof port, "%u", (unsigned)opt->port);
        CHECKF(!strcmp(r1.sec_addr, port), "%s: secondary address %s, port %s", vec, r1.sec_addr, port);
    } else {
        CHECK(r1.sec_addr[0] == 0);
    }
    /* Each recorded result, as the client maps it. */
    for (unsigned i = 0; i < spdu[a]; i++) {
        const uint8_t *res = spdu + a + 4 + 24 * i;
        const uint8_t *ts = cpdu + 28 + 44 * i + 24;
        if (!memcmp(ts, NDR32, 16)) CHECK_EQ_INT(r1.ndr32_ctx, get16(res) == 0 ? (int)i : -1);
        if (!memcmp(ts, NDR64, 16)) CHECK_EQ_INT(r1.ndr64_ctx, get16(res) == 0 ? (int)i : -1);
        if (!memcmp(ts, BTFN, 8)) {
            CHECK_EQ_INT(r1.btfn_acked, get16(res) == 3);
            if (r1.btfn_acked) CHECK_EQ_INT(r1.btfn_features, 3);
        }
    }
}

static void check_request_exchange(const char *vec, const rpc_server_conn *conn,
                                   json_t *kx, const uint8_t *cpdu, size_t clen,
                                   const char *stype, const uint8_t *spdu, size_t slen)
{
    rpc_request req;
    int rc = rpc_server_parse_request(conn, cpdu, clen, &req);
    CHECK_EQ_INT(req.call_id, get32(cpdu + 12));
    CHECK_EQ_INT(req.ctx_id, get16(cpdu + 20));

    if (!strcmp(stype, "fault")) {
        /* Vector 24: a request on a context never bound. */
        CHECK_EQ_INT(rc, KMS_EUNKCTX);
        uint8_t f[64];
        CHECK_EQ_INT(rpc_encode_fault(req.call_id, req.ctx_id, RPC_NCA_UNK_IF, f, sizeof f), 32);
        CHECK_EQ_INT(slen, 32);
        CHECK_MEM(f, spdu, 12); /* version, type, flags 0x23, drep, length 32, auth 0 */
        CHECK_EQ_INT(get32(f + 12), get32(cpdu + 12)); /* our call id is the request's */
        CHECK_EQ_INT(get32(f + 16), get32(spdu + 16)); /* alloc_hint 32 */
        CHECK_EQ_INT(f[22], 0);                        /* cancel count */
        CHECK_EQ_INT(f[23], 0);
        CHECK_EQ_INT(get32(f + 24), get32(spdu + 24)); /* status */
        CHECK_EQ_INT(get32(f + 24), RPC_NCA_UNK_IF);
        CHECK_EQ_INT(get32(f + 28), 0);
        /* The client reads the recorded fault (call id 2, not 3: vlmcsd's quirk). */
        uint32_t st = 0, hr = 1;
        const uint8_t *m;
        size_t ml;
        CHECK_EQ_INT(rpc_client_parse_response(spdu, slen, get32(cpdu + 12), req.ctx_id,
                                               RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), KMS_EFAULT);
        CHECK_EQ_INT(st, RPC_NCA_UNK_IF);
        CHECK_EQ_INT(rpc_client_parse_response(f, 32, get32(cpdu + 12), req.ctx_id,
                                               RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), KMS_EFAULT);
        CHECK_EQ_INT(st, RPC_NCA_UNK_IF);
        return;
    }

    CHECKF(rc == 0, "%s: parse_request = %d", vec, rc);
    if (rc != 0 || !kx) { CHECKF(kx != NULL, "%s: no flat-kms entry", vec); return; }
    const char *ts = tu_str(kx, "transfer_syntax");
    rpc_syntax want = !strcmp(ts, "NDR64") ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
    CHECK_EQ_INT(req.syntax, want);
    CHECK_EQ_INT(req.opnum, 0);
    size_t qlen, rlen = 0;
    uint8_t *kreq = tu_unhex_alloc(tu_str(kx, "request_hex"), &qlen);
    CHECK_EQ_INT(req.msg_len, qlen);
    if (req.msg_len == qlen) CHECK_MEM(req.msg, kreq, qlen);

    /* The recorded response PDU is reproduced byte for byte. */
    uint32_t hr = (uint32_t)strtoul(tu_str(kx, "rpc_return_code"), NULL, 16);
    json_t *rh = json_object_get(kx, "response_hex");
    uint8_t *kresp = json_is_string(rh) ? tu_unhex_alloc(json_string_value(rh), &rlen) : NULL;
    uint8_t out[BUF];
    int olen = rpc_server_encode_response(&req, kresp, rlen, hr, out, sizeof out);
    CHECKF(olen == (int)slen, "%s: response length %d, recorded %zu", vec, olen, slen);
    if (olen == (int)slen) CHECK_MEM(out, spdu, slen);
    CHECK(!strcmp(stype, "response"));

    /* Client side: the same request PDU, and the recorded response understood. */
    uint8_t q[BUF];
    int n = rpc_client_encode_request(get32(cpdu + 12), get16(cpdu + 20), want, kreq, qlen, q, sizeof q);
    size_t stub_hdr = want == RPC_SYNTAX_NDR64 ? 16 : 8;
    size_t extra = clen - (24 + stub_hdr + qlen);
    if (extra == 0) {
        CHECKF(n == (int)clen, "%s: request length %d, recorded %zu", vec, n, clen);
        if (n == (int)clen) CHECK_MEM(q, cpdu, clen);
    } else {
        /* py-kms pads its stub with 4 zero bytes (vector 20): we do not; otherwise same. */
        CHECK_EQ_INT(extra, 4);
        uint8_t exp[BUF];
        memcpy(exp, cpdu, clen - extra);
        put16(exp + 8, (uint16_t)(clen - extra));
        put32(exp + 16, get32(cpdu + 16) - (uint32_t)extra);
        CHECK_EQ_INT(n, clen - extra);
        if (n == (int)(clen - extra)) CHECK_MEM(q, exp, clen - extra);
    }
    const uint8_t *m = NULL;
    size_t ml = 0;
    uint32_t h2 = 1, st = 7;
    CHECK_EQ_INT(rpc_client_parse_response(spdu, slen, get32(cpdu + 12), get16(cpdu + 20), want,
                                           &m, &ml, &h2, &st), 0);
    CHECK_EQ_INT(h2, hr);
    if (hr == 0) {
        CHECK_EQ_INT(ml, rlen);
        if (m && ml == rlen) CHECK_MEM(m, kresp, rlen);
    } else {
        CHECK(m == NULL && ml == 0);
    }
    free(kreq);
    free(kresp);
}

static void test_vectors(void)
{
    json_t *flat = tu_load_vector("flat-rpc.json");
    json_t *fkms = tu_load_vector("flat-kms.json");
    size_t ci;
    json_t *conn_j;
    int connections = 0, requests = 0, binds = 0;
    json_array_foreach(flat, ci, conn_j) {
        const char *vec = tu_str(conn_j, "vector");
        char file[256];
        snprintf(file, sizeof file, "%s.json", vec);
        json_t *run = tu_load_vector(file);
        const char *cmd = tu_str(run, "server_cmdline");
        rpc_server_options opt = {
            .ndr64 = strstr(cmd, "-N0") == NULL,
            .btfn = strstr(cmd, "-B0") == NULL,
            .port = (uint16_t)tu_int(run, "server_port"),
            .assoc_group_id = 0x1000u + (uint32_t)ci,
        };
        if (!strcmp(vec, "18-v5-legacy-host-no-ndr64-btfn")) CHECK(!opt.ndr64 && !opt.btfn);
        else CHECK(opt.ndr64 && opt.btfn);

        rpc_server_conn conn;
        memset(&conn, 0, sizeof conn);
        int kms_idx = 0;
        size_t ei;
        json_t *ex;
        json_array_foreach(json_object_get(conn_j, "exchanges"), ei, ex) {
            size_t clen, slen;
            uint8_t *c = tu_unhex_alloc(tu_str(ex, "client_hex"), &clen);
            uint8_t *s = tu_unhex_alloc(tu_str(ex, "server_hex"), &slen);
            rpc_header h;
            CHECK_EQ_INT(rpc_frame(c, clen, RPC_DEFAULT_MAX_FRAG, &h), clen);
            CHECK_EQ_INT(rpc_frame(s, slen, RPC_DEFAULT_MAX_FRAG, &h), slen);
            const char *ct = tu_str(ex, "client_pdu_type");
            if (!strcmp(ct, "bind") || !strcmp(ct, "alter_context")) {
                check_bind_exchange(vec, &conn, &opt, c, clen, s, slen);
                binds++;
            } else {
                json_t *kx = NULL;
                if (strcmp(tu_str(ex, "server_pdu_type"), "fault"))
                    kx = kms_exchange(fkms, vec, kms_idx++);
                check_request_exchange(vec, &conn, kx, c, clen, tu_str(ex, "server_pdu_type"), s, slen);
                requests++;
            }
            free(c);
            free(s);
        }
        json_decref(run);
        connections++;
    }
    CHECK_EQ_INT(connections, 27);
    CHECK_EQ_INT(binds, 46);
    CHECK_EQ_INT(requests, 33);
    json_decref(flat);
    json_decref(fkms);
}

/* ---------------- client encoders: the named shapes ---------------- */

static json_t *g_flat;

static uint8_t *recorded(const char *vector, int exchange, const char *side, size_t *len)
{
    size_t i;
    json_t *c;
    json_array_foreach(g_flat, i, c) {
        if (strcmp(tu_str(c, "vector"), vector)) continue;
        json_t *ex = json_array_get(json_object_get(c, "exchanges"), (size_t)exchange);
        return tu_unhex_alloc(tu_str(ex, side), len);
    }
    return NULL;
}

static void test_client_bind_shapes(void)
{
    struct {
        const char *vec;
        int ex;
        uint8_t ptype;
        rpc_bind_offer offer;
        int len;
        uint8_t flags;
    } cases[] = {
        {"01-v4-win7-pro", 0, RPC_PT_BIND, {true, true, true, true}, 160, 0x13},
        {"16-v6-bind-ndr32-btfn", 0, RPC_PT_BIND, {true, false, true, true}, 116, 0x13},
        {"17-v6-bind-ndr32-only-no-mpx", 0, RPC_PT_BIND, {true, false, false, false}, 72, 0x03},
        {"01-v4-win7-pro", 1, RPC_PT_ALTER_CONTEXT, {true, false, false, true}, 72, 0x13},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *rec = recorded(cases[i].vec, cases[i].ex, "client_hex", &len);
        uint8_t out[BUF];
        int n = rpc_client_encode_bind(cases[i].ptype, 2, &cases[i].offer, out, sizeof out);
        CHECK_EQ_INT(n, cases[i].len);
        CHECK_EQ_INT(len, cases[i].len);
        CHECK_EQ_INT(out[3], cases[i].flags);
        if (n == (int)len) CHECK_MEM(out, rec, len);
        for (int cap = 0; cap < n; cap++)
            CHECK_EQ_INT(rpc_client_encode_bind(cases[i].ptype, 2, &cases[i].offer, out, (size_t)cap), KMS_ESPACE);
        free(rec);
    }
    uint8_t out[BUF];
    rpc_bind_offer none = {0};
    CHECK_EQ_INT(rpc_client_encode_bind(RPC_PT_BIND, 2, &none, out, sizeof out), KMS_EINVAL);
    rpc_bind_offer one = {.ndr32 = true};
    CHECK_EQ_INT(rpc_client_encode_bind(RPC_PT_REQUEST, 2, &one, out, sizeof out), KMS_EINVAL);
}

/* ---------------- framing ---------------- */

static uint8_t *conversation(const char *vector, size_t *len, size_t *lens, size_t *npdu)
{
    size_t i;
    json_t *c;
    uint8_t *buf = malloc(BUF * 4);
    *len = 0;
    *npdu = 0;
    json_array_foreach(g_flat, i, c) {
        if (strcmp(tu_str(c, "vector"), vector)) continue;
        size_t j;
        json_t *ex;
        json_array_foreach(json_object_get(c, "exchanges"), j, ex) {
            const char *sides[2] = {"client_hex", "server_hex"};
            for (int s = 0; s < 2; s++) {
                long n = tu_unhex(tu_str(ex, sides[s]), buf + *len, BUF * 4 - *len);
                lens[(*npdu)++] = (size_t)n;
                *len += (size_t)n;
            }
        }
    }
    return buf;
}

/* Feeds the stream in the given chunk sizes (cycled) to a reassembly buffer and checks the
 * PDUs come out whole and in order. */
static int feed_stream(const uint8_t *stream, size_t len, const size_t *lens, size_t npdu,
                       const size_t *chunks, size_t nchunks)
{
    uint8_t acc[BUF * 4];
    size_t have = 0, fed = 0, got = 0, k = 0, off = 0;
    int ok = 1;
    while (fed < len || have) {
        if (fed < len) {
            size_t n = chunks[k++ % nchunks];
            if (n > len - fed) n = len - fed;
            memcpy(acc + have, stream + fed, n);
            have += n;
            fed += n;
        }
        for (;;) {
            rpc_header h;
            int r = rpc_frame(acc, have, RPC_DEFAULT_MAX_FRAG, &h);
            if (r < 0) return 0;
            if (r == 0) break;
            if (got >= npdu || (size_t)r != lens[got] || memcmp(acc, stream + off, (size_t)r)) ok = 0;
            if (h.frag_length != (uint16_t)r) ok = 0;
            off += (size_t)r;
            got++;
            memmove(acc, acc + r, have - (size_t)r);
            have -= (size_t)r;
        }
        if (fed == len && have) break; /* leftover partial PDU: cannot happen here */
    }
    return ok && got == npdu && have == 0;
}

static void test_framing_stream(void)
{
    size_t lens[32], npdu, len;
    uint8_t *s = conversation("15-v6-win10-pro-3req-ndr64", &len, lens, &npdu);
    CHECK_EQ_INT(npdu, 10);
    size_t one = 1;
    CHECK(feed_stream(s, len, lens, npdu, &one, 1));
    size_t all = len;
    CHECK(feed_stream(s, len, lens, npdu, &all, 1));
    int bad = 0;
    for (size_t split = 1; split < len; split++) {
        size_t ch[2] = {split, len};
        if (!feed_stream(s, len, lens, npdu, ch, 2)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    size_t odd[5] = {3, 17, 1, 250, 7};
    CHECK(feed_stream(s, len, lens, npdu, odd, 5));
    /* Every prefix shorter than the first PDU asks for more bytes. */
    for (size_t n = 0; n < lens[0]; n++) CHECK_EQ_INT(rpc_frame(s, n, RPC_DEFAULT_MAX_FRAG, NULL), 0);
    free(s);
}

static void test_framing_errors(void)
{
    size_t len;
    uint8_t *b = recorded("06-v6-win10-pro", 2, "client_hex", &len); /* a request */
    uint8_t p[BUF];
    rpc_header h;
#define MUT(stmt, expect) do { memcpy(p, b, len); stmt; \
        CHECK_EQ_INT(rpc_frame(p, len, RPC_DEFAULT_MAX_FRAG, &h), expect); \
        CHECK_EQ_INT(rpc_frame(p, 16, RPC_DEFAULT_MAX_FRAG, &h), (expect) < 0 ? (expect) : 0); } while (0)
    MUT((void)0, (int)len);
    MUT(p[0] = 4, KMS_EPROTO);
    MUT(p[1] = 1, KMS_EPROTO);
    MUT(p[4] = 0x00, KMS_EPROTO);
    MUT(p[4] = 0x11, KMS_EPROTO);
    MUT(put16(p + 8, 15), KMS_EPROTO);
    MUT(put16(p + 8, 0), KMS_EPROTO);
    MUT(put16(p + 10, 16), KMS_EPROTO);
    MUT(p[3] = 0x01, KMS_EPROTO); /* first fragment of several */
    MUT(p[3] = 0x02, KMS_EPROTO);
    MUT(p[3] = 0x00, KMS_EPROTO);
    MUT(put16(p + 8, RPC_DEFAULT_MAX_FRAG + 1), KMS_ETOOBIG);
    MUT(put16(p + 8, 0xffff), KMS_ETOOBIG);
#undef MUT
    /* rpc_frame_cause names what was wrong (the log once said "malformed PDU header
     * (frag_length N, limit 5840)" for all of these). */
    char why[160];
#define CAUSE(stmt, text) do { memcpy(p, b, len); stmt; \
        CHECKF(strcmp(rpc_frame_cause(p, len, RPC_DEFAULT_MAX_FRAG, why, sizeof why), text) == 0, \
               "cause '%s', want '%s'", why, text); } while (0)
    CAUSE((void)0, "");
    CAUSE(p[0] = 4, "RPC version 4.0 (only 5.0 is spoken)");
    CAUSE(p[1] = 1, "RPC version 5.1 (only 5.0 is spoken)");
    CAUSE(p[4] = 0x00, "data representation 00 00 00 00 (only little-endian ASCII, 10 00 00 00, is spoken)");
    CAUSE(put16(p + 8, 15), "frag_length 15 shorter than the 16-byte header");
    CAUSE(put16(p + 10, 16), "auth_length 16 (authenticated RPC is not used by KMS)");
    CAUSE(p[3] = 0x01, "request PDU without both the FIRST and LAST fragment flags (flags 0x01: "
                       "multi-fragment calls are not supported)");
    CAUSE(put16(p + 8, 0xffff), "PDU larger than max_pdu_size (frag_length 65535, limit 5840)");
#undef CAUSE
    CHECK(strcmp(rpc_frame_cause(b, 15, RPC_DEFAULT_MAX_FRAG, why, sizeof why), "") == 0);
    CHECK(strcmp(rpc_frame_cause(NULL, 0, RPC_DEFAULT_MAX_FRAG, why, sizeof why), "") == 0);
    CHECK(strcmp(rpc_frame_cause(b, len, RPC_DEFAULT_MAX_FRAG, why, 8), "") == 0); /* cut: terminated */
    CHECK(strcmp(rpc_frame_cause(b, len, RPC_DEFAULT_MAX_FRAG, NULL, 0), "") == 0);
    CHECK_EQ_INT(rpc_frame(b, len, len - 1, &h), KMS_ETOOBIG);
    CHECK_EQ_INT(rpc_frame(b, len, len, &h), (int)len);
    CHECK_EQ_INT(h.ptype, RPC_PT_REQUEST);
    CHECK_EQ_INT(h.call_id, 2);
    CHECK_EQ_INT(h.frag_length, len);
    /* A bind without FIRST|LAST is not a fragmented call: framing lets it through. */
    size_t bl;
    uint8_t *bind = recorded("17-v6-bind-ndr32-only-no-mpx", 0, "client_hex", &bl);
    CHECK_EQ_INT(rpc_frame(bind, bl, RPC_DEFAULT_MAX_FRAG, &h), (int)bl);
    free(bind);
    free(b);
}

/* ---------------- server bind: malformed and unusual ---------------- */

static const rpc_server_options OPT = {true, true, 1688, 0x12345678};
static const rpc_server_options LEGACY = {false, false, 1688, 0x12345678};

/* Builds a bind with the given elements: each element = ctx id, abstract UUID, abstract
 * version, and up to 3 (transfer UUID, version) pairs. */
typedef struct elem {
    uint16_t id;
    const uint8_t *iface;
    uint32_t iface_ver;
    int nts;
    const uint8_t *ts[3];
    uint32_t ts_ver[3];
} elem;

static size_t build_bind(uint8_t *out, uint8_t ptype, const elem *e, unsigned n)
{
    static const uint8_t hdr[16] = {5, 0, 11, 0x13, 0x10, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0};
    memcpy(out, hdr, 16);
    out[2] = ptype;
    put16(out + 16, 5840);
    put16(out + 18, 5840);
    put32(out + 20, 0);
    out[24] = (uint8_t)n;
    out[25] = out[26] = out[27] = 0;
    size_t pos = 28;
    for (unsigned i = 0; i < n; i++) {
        put16(out + pos, e[i].id);
        out[pos + 2] = (uint8_t)e[i].nts;
        out[pos + 3] = 0;
        memcpy(out + pos + 4, e[i].iface, 16);
        put32(out + pos + 20, e[i].iface_ver);
        pos += 24;
        for (int j = 0; j < e[i].nts; j++) {
            memcpy(out + pos, e[i].ts[j], 16);
            put32(out + pos + 16, e[i].ts_ver[j]);
            pos += 20;
        }
    }
    put16(out + 8, (uint16_t)pos);
    return pos;
}

static void result_is(const uint8_t *ack, unsigned i, uint16_t result, uint16_t reason,
                      const uint8_t *uuid, uint32_t ver, int line)
{
    static const uint8_t zero[16];
    const uint8_t *r = ack + ack_results_off(ack) + 4 + 24 * i;
    CHECKF(get16(r) == result && get16(r + 2) == reason && !memcmp(r + 4, uuid ? uuid : zero, 16) &&
           get32(r + 20) == ver, "line %d: result %u = (%u,%u,%s,%u)", line, i, get16(r),
           get16(r + 2), tu_hex(r + 4, 16), get32(r + 20));
}
#define RESULT_IS(ack, i, res, rea, uuid, ver) result_is(ack, i, res, rea, uuid, ver, __LINE__)

static void test_bind_malformed(void)
{
    size_t len;
    uint8_t *b = recorded("01-v4-win7-pro", 0, "client_hex", &len); /* 160 bytes, 3 contexts */
    uint8_t p[BUF], out[BUF];
    rpc_server_conn conn, before;
    memset(&conn, 0, sizeof conn);

    /* Truncated bodies: frag_length shortened with the bytes. */
    for (size_t n = 16; n < len; n++) {
        memcpy(p, b, n);
        put16(p + 8, (uint16_t)n);
        CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, n, out, sizeof out), KMS_EPROTO);
        /* frag_length claims more than given */
        CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, b, n, out, sizeof out), KMS_EPROTO);
    }
    CHECK_EQ_INT(conn.n, 0);
    /* n_context_elem lying: more elements than bytes, or none. */
    memcpy(p, b, len);
    p[24] = 4;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    p[24] = 255;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    p[24] = 0;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    /* n_transfer_syn lying: the last element claims two syntaxes, the first 255. */
    memcpy(p, b, len);
    p[28 + 88 + 2] = 2;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    memcpy(p, b, len);
    p[28 + 2] = 255;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    /* Not a bind, bad header. */
    memcpy(p, b, len);
    p[2] = RPC_PT_REQUEST;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    memcpy(p, b, len);
    p[0] = 4;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    memcpy(p, b, len);
    put16(p + 10, 8);
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len, out, sizeof out), KMS_EPROTO);
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, NULL, 0, out, sizeof out), KMS_EPROTO);
    CHECK_EQ_INT(conn.n, 0);

    /* Output too small: KMS_ESPACE and the table is left alone. */
    for (size_t cap = 0; cap < 108; cap++)
        CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, b, len, out, cap), KMS_ESPACE);
    CHECK_EQ_INT(conn.n, 0);
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, b, len, out, 108), 108);
    /* vlmcsd's quirk: the refused NDR32 offer of context 0 is remembered. */
    CHECK_EQ_INT(conn.n, 2);
    CHECK(conn.ctx_id[0] == 0 && conn.syntax[0] == RPC_SYNTAX_NDR32);
    CHECK(conn.ctx_id[1] == 1 && conn.syntax[1] == RPC_SYNTAX_NDR64);
    /* Trailing bytes after the elements are tolerated. */
    memcpy(p, b, len);
    memset(p + len, 0xee, 8);
    put16(p + 8, (uint16_t)(len + 8));
    before = conn;
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, len + 8, out, sizeof out), 108);
    CHECK(!memcmp(&before, &conn, sizeof conn));
    free(b);
}

static void test_bind_rules(void)
{
    uint8_t p[BUF], out[BUF];
    rpc_server_conn conn;
    static const uint8_t OTHER[16] = {1, 2, 3};

    /* One element offering NDR32 and NDR64: NDR64 when the host has it, else NDR32. */
    elem both = {0, IFACE, 1, 2, {NDR32, NDR64}, {2, 1}};
    size_t n = build_bind(p, RPC_PT_BIND, &both, 1);
    memset(&conn, 0, sizeof conn);
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, n, out, sizeof out), 60);
    RESULT_IS(out, 0, 0, 0, NDR64, 1);
    CHECK(conn.n == 1 && conn.syntax[0] == RPC_SYNTAX_NDR64);
    memset(&conn, 0, sizeof conn);
    CHECK_EQ_INT(rpc_server_bind(&conn, &LEGACY, p, n, out, sizeof out), 60);
    RESULT_IS(out, 0, 0, 0, NDR32, 2);
    CHECK(conn.n == 1 && conn.syntax[0] == RPC_SYNTAX_NDR32);

    /* Unknown interface -> (2,1); wrong interface version -> (2,1); unknown syntax (2,2);
     * NDR32 with the wrong version -> (2,2); no transfer syntax -> (2,2);
     * BTFN on a host without it -> (2,2); BTFN features masked to 0x3. */
    static const uint8_t BTFN_ALL[16] = {0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45, 0xff, 0xff};
    elem mix[] = {
        {0, OTHER, 1, 1, {NDR32}, {2}},
        {1, IFACE, 2, 1, {NDR32}, {2}},
        {2, IFACE, 1, 1, {OTHER}, {2}},
        {3, IFACE, 1, 1, {NDR32}, {1}},
        {4, IFACE, 1, 0, {NULL}, {0}},
        {5, IFACE, 1, 1, {BTFN_ALL}, {1}},
        {6, IFACE, 1, 1, {NDR32}, {2}},
    };
    n = build_bind(p, RPC_PT_BIND, mix, 7);
    /* 28 + 44*7 = 336 is required, the element without syntaxes leaves 20 bytes short. */
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, n, out, sizeof out), KMS_EPROTO);
    memset(p + n, 0, 20);
    put16(p + 8, (uint16_t)(n + 20));
    memset(&conn, 0, sizeof conn);
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, n + 20, out, sizeof out), 36 + 24 * 7);
    RESULT_IS(out, 0, 2, 1, NULL, 0);
    RESULT_IS(out, 1, 2, 1, NULL, 0);
    RESULT_IS(out, 2, 2, 2, NULL, 0);
    RESULT_IS(out, 3, 2, 2, NULL, 0);
    RESULT_IS(out, 4, 2, 2, NULL, 0);
    RESULT_IS(out, 5, 3, 3, NULL, 0);
    RESULT_IS(out, 6, 0, 0, NDR32, 2);
    CHECK(conn.n == 1 && conn.ctx_id[0] == 6);
    memset(&conn, 0, sizeof conn);
    CHECK_EQ_INT(rpc_server_bind(&conn, &LEGACY, p, n + 20, out, sizeof out), 36 + 24 * 7);
    RESULT_IS(out, 5, 2, 2, NULL, 0);

    /* More than RPC_MAX_CONTEXTS contexts: all answered, the first 16 remembered. */
    elem many[40];
    for (unsigned i = 0; i < 40; i++) {
        elem e = {(uint16_t)(100 + i), IFACE, 1, 1, {NDR32}, {2}};
        many[i] = e;
    }
    n = build_bind(p, RPC_PT_BIND, many, 40);
    memset(&conn, 0, sizeof conn);
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, n, out, sizeof out), 36 + 24 * 40);
    for (unsigned i = 0; i < 40; i++) RESULT_IS(out, i, 0, 0, NDR32, 2);
    CHECK_EQ_INT(conn.n, RPC_MAX_CONTEXTS);
    CHECK_EQ_INT(conn.ctx_id[RPC_MAX_CONTEXTS - 1], 100 + RPC_MAX_CONTEXTS - 1);
    /* Re-binding a known id updates it; a new one is ignored when full. */
    elem re[2] = {{100, IFACE, 1, 1, {NDR64}, {1}}, {500, IFACE, 1, 1, {NDR32}, {2}}};
    n = build_bind(p, RPC_PT_ALTER_CONTEXT, re, 2);
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, p, n, out, sizeof out), 28 + 4 + 24 * 2);
    CHECK_EQ_INT(out[2], RPC_PT_ALTER_CONTEXT_RESP);
    CHECK_EQ_INT(out[3], 0x03);
    RESULT_IS(out, 0, 0, 0, NDR64, 1);
    RESULT_IS(out, 1, 2, 2, NULL, 0); /* NDR64 offered in the same PDU: NDR32 refused */
    CHECK_EQ_INT(conn.n, RPC_MAX_CONTEXTS);
    CHECK_EQ_INT(conn.syntax[0], RPC_SYNTAX_NDR64);

    /* Secondary address for a 5-digit port (no pad) and port 0; the flags rule. */
    rpc_server_options o5 = {true, true, 41688, 7};
    elem one = {0, IFACE, 1, 1, {NDR32}, {2}};
    n = build_bind(p, RPC_PT_BIND, &one, 1);
    p[3] = 0x03 | 0x04 | 0x80; /* header sign, object uuid: not echoed */
    CHECK_EQ_INT(rpc_server_bind(&conn, &o5, p, n, out, sizeof out), 60);
    CHECK_EQ_INT(out[3], 0x03);
    CHECK(get16(out + 24) == 6 && !memcmp(out + 26, "41688", 6));
    o5.port = 0;
    p[3] = 0x13;
    CHECK_EQ_INT(rpc_server_bind(&conn, &o5, p, n, out, sizeof out), 56); /* N = 2, no pad */
    CHECK_EQ_INT(out[3], 0x13);
    CHECK(get16(out + 24) == 2 && !memcmp(out + 26, "0", 2) && out[28] == 1);
    CHECK_EQ_INT(get32(out + 20), 7);
}

/* ---------------- server requests ---------------- */

static size_t make_request(uint8_t *out, uint32_t call_id, uint16_t ctx, rpc_syntax syn,
                           const uint8_t *msg, size_t mlen)
{
    int n = rpc_client_encode_request(call_id, ctx, syn, msg, mlen, out, BUF);
    CHECK(n > 0);
    return n > 0 ? (size_t)n : 0;
}

static void test_request_errors(void)
{
    uint8_t msg[260], p[BUF];
    for (int i = 0; i < 260; i++) msg[i] = (uint8_t)(i * 7 + 1);
    rpc_server_conn conn;
    rpc_request req;

    /* Request before any bind. */
    memset(&conn, 0, sizeof conn);
    size_t n = make_request(p, 42, 0, RPC_SYNTAX_NDR32, msg, 260);
    CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), KMS_EUNKCTX);
    CHECK_EQ_INT(req.call_id, 42);
    CHECK_EQ_INT(req.ctx_id, 0);

    /* Bind ctx 0 NDR32 and ctx 1 NDR64 (default vlmcs bind against our host). */
    size_t bl;
    uint8_t *b = recorded("01-v4-win7-pro", 0, "client_hex", &bl);
    uint8_t out[BUF];
    CHECK_EQ_INT(rpc_server_bind(&conn, &OPT, b, bl, out, sizeof out), 108);
    free(b);
    CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), 0); /* the quirk: no alter needed */
    CHECK_EQ_INT(req.syntax, RPC_SYNTAX_NDR32);
    CHECK(req.msg_len == 260 && !memcmp(req.msg, msg, 260));

    /* Unknown context 2 (BTFN is not a context for requests), opnum 1. */
    n = make_request(p, 43, 2, RPC_SYNTAX_NDR32, msg, 260);
    CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), KMS_EUNKCTX);
    CHECK(req.call_id == 43 && req.ctx_id == 2);
    n = make_request(p, 44, 1, RPC_SYNTAX_NDR64, msg, 260);
    put16(p + 22, 1);
    CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), KMS_EOPNUM);
    CHECK(req.call_id == 44 && req.ctx_id == 1 && req.opnum == 1);

    for (int s = 0; s < 2; s++) {
        rpc_syntax syn = s ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
        uint16_t ctx = (uint16_t)s;
        size_t sh = s ? 16 : 8;
        n = make_request(p, 45, ctx, syn, msg, 260);
        CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), 0);
        CHECK(req.syntax == syn && req.msg_len == 260 && !memcmp(req.msg, msg, 260));
        /* alloc_hint lying is ignored */
        uint32_t hints[3] = {0, 1, 0xffffffffu};
        for (int i = 0; i < 3; i++) {
            put32(p + 16, hints[i]);
            CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), 0);
            CHECK(req.msg_len == 260 && !memcmp(req.msg, msg, 260));
        }
        /* requestSize (and max_count) larger than the bytes present */
        uint32_t sizes[4] = {261, 264, 0x7fffffffu, 0xffffffffu};
        for (int i = 0; i < 4; i++) {
            n = make_request(p, 46, ctx, syn, msg, 260);
            put32(p + 24, sizes[i]);
            if (s) { put32(p + 32, sizes[i]); put32(p + 36, 0); } else put32(p + 28, sizes[i]);
            CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), KMS_ETRUNC);
            CHECK(req.call_id == 46 && req.ctx_id == ctx);
        }
        /* every truncation of the stub (frag_length shortened with it) */
        n = make_request(p, 47, ctx, syn, msg, 260);
        for (size_t t = 24; t < n; t++) {
            put16(p + 8, (uint16_t)t);
            CHECK_EQ_INT(rpc_server_parse_request(&conn, p, t, &req), KMS_ETRUNC);
            CHECK_EQ_INT(req.call_id, 47);
        }
        for (size_t t = 16; t < 24; t++) {
            put16(p + 8, (uint16_t)t);
            CHECK_EQ_INT(rpc_server_parse_request(&conn, p, t, &req), KMS_EPROTO);
        }
        /* frag_length larger than the buffer */
        n = make_request(p, 47, ctx, syn, msg, 260);
        CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n - 1, &req), KMS_EPROTO);
        /* max_count disagreeing with requestSize */
        put32(p + 24, 252);
        CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), KMS_EPROTO);
        /* a smaller requestSize: the rest is trailing, tolerated */
        put32(p + 24 + sh - (s ? 8 : 4), 252);
        CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), 0);
        CHECK(req.msg_len == 252 && !memcmp(req.msg, msg, 252));
        /* trailing bytes after the message (py-kms) */
        n = make_request(p, 48, ctx, syn, msg, 260);
        memset(p + n, 0, 4);
        put16(p + 8, (uint16_t)(n + 4));
        CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n + 4, &req), 0);
        CHECK(req.msg_len == 260 && !memcmp(req.msg, msg, 260));
        /* multi-fragment */
        n = make_request(p, 49, ctx, syn, msg, 260);
        p[3] = 0x01;
        CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), KMS_EPROTO);
        /* object UUID: skipped */
        n = make_request(p, 50, ctx, syn, msg, 260);
        uint8_t q[BUF];
        memcpy(q, p, 24);
        memset(q + 24, 0xab, 16);
        memcpy(q + 40, p + 24, n - 24);
        q[3] |= 0x80;
        put16(q + 8, (uint16_t)(n + 16));
        CHECK_EQ_INT(rpc_server_parse_request(&conn, q, n + 16, &req), 0);
        CHECK(req.msg_len == 260 && !memcmp(req.msg, msg, 260));
        CHECK_EQ_INT(rpc_server_parse_request(&conn, q, 40, &req), KMS_EPROTO);
        /* an empty message parses (the KMS layer refuses it) */
        n = make_request(p, 51, ctx, syn, msg, 0);
        CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), 0);
        CHECK_EQ_INT(req.msg_len, 0);
    }
    /* not a request */
    n = make_request(p, 52, 0, RPC_SYNTAX_NDR32, msg, 260);
    p[2] = RPC_PT_RESPONSE;
    CHECK_EQ_INT(rpc_server_parse_request(&conn, p, n, &req), KMS_EPROTO);
}

static void test_response_encoding(void)
{
    uint8_t msg[300], out[BUF];
    for (int i = 0; i < 300; i++) msg[i] = (uint8_t)(0xa0 ^ i);
    rpc_request req = {.call_id = 9, .ctx_id = 3, .syntax = RPC_SYNTAX_NDR32};

    /* v4 padding rule: M = 60 + P, 2 zero bytes when P = 2 mod 4. */
    for (size_t m = 0; m < 300; m++) {
        for (int s = 0; s < 2; s++) {
            req.syntax = s ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
            size_t head = s ? 24 : 12;
            size_t pad = (4 - m % 4) % 4;
            int n = rpc_server_encode_response(&req, msg, m, 0, out, sizeof out);
            CHECK_EQ_INT(n, 24 + head + m + pad + 4);
            if (n <= 0) continue;
            CHECK_EQ_INT(get16(out + 8), n);
            CHECK_EQ_INT(get32(out + 16), n - 24);
            CHECK_EQ_INT(get32(out + 24), m);
            CHECK_EQ_INT(get32(out + 24 + (s ? 8 : 4)), 0x20000);
            CHECK_EQ_INT(get32(out + 24 + head - 4 - (s ? 4 : 0)), m);
            for (size_t i = 0; i < pad + 4; i++) CHECK(out[24 + head + m + i] == 0);
            const uint8_t *got;
            size_t glen;
            uint32_t hr = 1, st;
            CHECK_EQ_INT(rpc_client_parse_response(out, (size_t)n, 9, 3, req.syntax, &got, &glen, &hr, &st), 0);
            CHECK(hr == 0 && glen == m && (m == 0 || !memcmp(got, msg, m)));
            if (m == 160 || m == 158) {
                for (int cap = 0; cap < n; cap++)
                    CHECK_EQ_INT(rpc_server_encode_response(&req, msg, m, 0, out, (size_t)cap), KMS_ESPACE);
            }
        }
    }
    /* Error stubs: 12 bytes NDR32 (frag 36), 20 bytes NDR64 (frag 44). */
    static const uint8_t e32[36] = {5, 0, 2, 3, 0x10, 0, 0, 0, 36, 0, 0, 0, 9, 0, 0, 0, 12, 0, 0, 0,
                                    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0xf0, 0x04, 0xc0};
    req.syntax = RPC_SYNTAX_NDR32;
    CHECK_EQ_INT(rpc_server_encode_response(&req, msg, 100, 0xC004F042u, out, sizeof out), 36);
    CHECK_MEM(out, e32, 36);
    req.syntax = RPC_SYNTAX_NDR64;
    CHECK_EQ_INT(rpc_server_encode_response(&req, NULL, 0, 0xC004F042u, out, sizeof out), 44);
    CHECK_EQ_INT(get32(out + 16), 20);
    for (int i = 24; i < 40; i++) CHECK(out[i] == 0);
    CHECK_EQ_INT(get32(out + 40), 0xC004F042u);
    uint32_t hr = 0, st;
    const uint8_t *got;
    size_t glen;
    CHECK_EQ_INT(rpc_client_parse_response(out, 44, 9, 3, RPC_SYNTAX_NDR64, &got, &glen, &hr, &st), 0);
    CHECK(hr == 0xC004F042u && got == NULL && glen == 0);
    for (int cap = 0; cap < 44; cap++)
        CHECK_EQ_INT(rpc_server_encode_response(&req, NULL, 0, 1, out, (size_t)cap), KMS_ESPACE);
    req.syntax = RPC_SYNTAX_NONE;
    CHECK_EQ_INT(rpc_server_encode_response(&req, msg, 10, 0, out, sizeof out), KMS_EINVAL);

    /* Fault. */
    static const uint8_t f[32] = {5, 0, 3, 0x23, 0x10, 0, 0, 0, 32, 0, 0, 0, 0x78, 0x56, 0x34, 0x12,
                                  32, 0, 0, 0, 1, 0, 0, 0, 0x0b, 0, 0x01, 0x1c, 0, 0, 0, 0};
    CHECK_EQ_INT(rpc_encode_fault(0x12345678u, 1, RPC_NCA_PROTO_ERROR, out, sizeof out), 32);
    CHECK_MEM(out, f, 32);
    CHECK_EQ_INT(rpc_encode_fault(1, 1, 1, out, 31), KMS_ESPACE);
    CHECK_EQ_INT(rpc_frame(f, 32, 5840, NULL), 32);
}

/* ---------------- client parsers: malformed answers ---------------- */

static void test_client_parse_errors(void)
{
    uint8_t p[BUF];
    size_t len;
    const uint8_t *m;
    size_t ml;
    uint32_t hr, st;
    uint8_t *r = recorded("06-v6-win10-pro", 2, "server_hex", &len); /* NDR32 response */
#define RESP(stmt, expect) do { memcpy(p, r, len); stmt; CHECK_EQ_INT(rpc_client_parse_response( \
        p, len, 2, 0, RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), expect); } while (0)
    RESP((void)0, 0);
    RESP(put32(p + 12, 3), KMS_EPROTO);          /* call id */
    RESP(put16(p + 20, 1), KMS_EPROTO);          /* context id */
    RESP(p[22] = 1, KMS_EPROTO);                 /* cancel count */
    RESP(p[3] = 0x13, KMS_EPROTO);               /* CONC_MPX */
    RESP(p[3] = 0x01, KMS_EPROTO);               /* fragment */
    RESP(p[2] = RPC_PT_BIND_ACK, KMS_EPDU);
    RESP(put32(p + 32, 259), KMS_EPROTO);        /* max_count != responseSize */
    RESP(put32(p + 24, 0x200), KMS_EPROTO);
    RESP(put32(p + 16, 1), 0);                   /* alloc_hint: warning only */
    RESP((put32(p + 24, 0x1000), put32(p + 32, 0x1000)), KMS_ETRUNC);
    RESP((put32(p + 24, 0xfffffffe), put32(p + 32, 0xfffffffe)), KMS_ETRUNC);
    RESP(p[0] = 4, KMS_EPROTO);
    for (size_t t = 0; t < len; t++) {
        memcpy(p, r, len);
        put16(p + 8, (uint16_t)t);
        int rc = rpc_client_parse_response(p, t, 2, 0, RPC_SYNTAX_NDR32, &m, &ml, &hr, &st);
        CHECKF(rc == KMS_ETRUNC || rc == KMS_EPROTO, "truncated at %zu: %d", t, rc);
        CHECK_EQ_INT(rpc_client_parse_response(r, t, 2, 0, RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), KMS_ETRUNC);
    }
#undef RESP
    free(r);
    /* Non-zero padding after a v4 message whose length needs padding. */
    uint8_t msg[158] = {1};
    rpc_request req = {.call_id = 2, .ctx_id = 0, .syntax = RPC_SYNTAX_NDR32};
    int n = rpc_server_encode_response(&req, msg, 158, 0, p, sizeof p);
    CHECK_EQ_INT(rpc_client_parse_response(p, (size_t)n, 2, 0, RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), 0);
    p[24 + 12 + 158] = 0x34;
    CHECK_EQ_INT(rpc_client_parse_response(p, (size_t)n, 2, 0, RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), KMS_EPROTO);
    /* Success HRESULT without data. */
    n = rpc_server_encode_response(&req, NULL, 0, 5, p, sizeof p);
    put32(p + n - 4, 0);
    CHECK_EQ_INT(rpc_client_parse_response(p, (size_t)n, 2, 0, RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), KMS_EPROTO);
    /* Truncated fault. */
    n = rpc_encode_fault(2, 0, RPC_NCA_UNK_IF, p, sizeof p);
    put16(p + 8, 26);
    CHECK_EQ_INT(rpc_client_parse_response(p, 26, 2, 0, RPC_SYNTAX_NDR32, &m, &ml, &hr, &st), KMS_ETRUNC);

    /* bind_ack */
    r = recorded("01-v4-win7-pro", 0, "server_hex", &len);
    rpc_bind_offer full = {true, true, true, true}, two = {true, false, true, true};
    rpc_bind_result res;
    CHECK_EQ_INT(rpc_client_parse_bind_ack(r, len, 2, &full, &res), 0);
    CHECK(res.ndr32_ctx == -1 && res.ndr64_ctx == 1 && res.btfn_acked && res.btfn_features == 3);
    CHECK(!strcmp(res.sec_addr, "41688"));
    CHECK_EQ_INT(rpc_client_parse_bind_ack(r, len, 3, &full, &res), KMS_EPROTO);
    CHECK_EQ_INT(rpc_client_parse_bind_ack(r, len, 2, &two, &res), KMS_EPROTO); /* n_results */
    memcpy(p, r, len);
    p[2] = RPC_PT_BIND_NAK;
    CHECK_EQ_INT(rpc_client_parse_bind_ack(p, len, 2, &full, &res), KMS_EPDU);
    memcpy(p, r, len);
    p[36 + 24 + 4] ^= 1; /* accepted NDR64 with another UUID */
    CHECK_EQ_INT(rpc_client_parse_bind_ack(p, len, 2, &full, &res), KMS_EPROTO);
    memcpy(p, r, len);
    put16(p + 36 + 24 + 2, 1); /* accepted with a reason */
    CHECK_EQ_INT(rpc_client_parse_bind_ack(p, len, 2, &full, &res), KMS_EPROTO);
    memcpy(p, r, len);
    put16(p + 36 + 24, 2); /* nothing accepted */
    CHECK_EQ_INT(rpc_client_parse_bind_ack(p, len, 2, &full, &res), KMS_EPROTO);
    memcpy(p, r, len);
    put16(p + 24, 0xffff); /* secondary address running off the end */
    CHECK_EQ_INT(rpc_client_parse_bind_ack(p, len, 2, &full, &res), KMS_ETRUNC);
    memcpy(p, r, len);
    memset(p + 26, 'x', 6); /* unterminated secondary address: bounded */
    CHECK_EQ_INT(rpc_client_parse_bind_ack(p, len, 2, &full, &res), 0);
    CHECK(!strcmp(res.sec_addr, "xxxxxx"));
    for (size_t t = 0; t < len; t++)
        CHECK_EQ_INT(rpc_client_parse_bind_ack(r, t, 2, &full, &res), KMS_ETRUNC);
    free(r);
}

/* Client and server agree on every message size in both syntaxes. */
static void test_roundtrip(void)
{
    rpc_server_conn conn;
    memset(&conn, 0, sizeof conn);
    uint8_t b[BUF], ack[BUF], q[BUF], resp[BUF], msg[400];
    rpc_bind_offer offer = {true, true, true, true};
    int n = rpc_client_encode_bind(RPC_PT_BIND, 2, &offer, b, sizeof b);
    int a = rpc_server_bind(&conn, &OPT, b, (size_t)n, ack, sizeof ack);
    rpc_bind_result res;
    CHECK_EQ_INT(rpc_client_parse_bind_ack(ack, (size_t)a, 2, &offer, &res), 0);
    CHECK(res.ndr32_ctx == -1 && res.ndr64_ctx == 1 && !strcmp(res.sec_addr, "1688"));
    CHECK_EQ_INT(res.assoc_group_id, OPT.assoc_group_id);
    rpc_bind_offer alter = {true, false, false, true};
    n = rpc_client_encode_bind(RPC_PT_ALTER_CONTEXT, 2, &alter, b, sizeof b);
    a = rpc_server_bind(&conn, &OPT, b, (size_t)n, ack, sizeof ack);
    CHECK_EQ_INT(a, 56);
    CHECK_EQ_INT(rpc_client_parse_bind_ack(ack, (size_t)a, 2, &alter, &res), 0);
    CHECK(res.ndr32_ctx == 0 && res.sec_addr[0] == 0);
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i ^ 0x5a);
    int bad = 0;
    for (size_t m = 0; m <= 400; m++) {
        for (int s = 0; s < 2; s++) {
            rpc_syntax syn = s ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
            int qn = rpc_client_encode_request((uint32_t)m, (uint16_t)s, syn, msg, m, q, sizeof q);
            rpc_request req;
            if (rpc_frame(q, (size_t)qn, RPC_DEFAULT_MAX_FRAG, NULL) != qn) bad++;
            if (rpc_server_parse_request(&conn, q, (size_t)qn, &req) != 0 || req.msg_len != m ||
                req.syntax != syn || (m && memcmp(req.msg, msg, m)))
                bad++;
            int rn = rpc_server_encode_response(&req, req.msg, req.msg_len, 0, resp, sizeof resp);
            const uint8_t *got;
            size_t glen;
            uint32_t hr, st;
            if (rpc_client_parse_response(resp, (size_t)rn, (uint32_t)m, (uint16_t)s, syn, &got,
                                          &glen, &hr, &st) != 0 ||
                hr != 0 || glen != m || (m && memcmp(got, msg, m)))
                bad++;
            /* wrong syntax for the context is caught by the size fields or padding */
        }
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    g_flat = tu_load_vector("flat-rpc.json");
    test_vectors();
    test_client_bind_shapes();
    test_framing_stream();
    test_framing_errors();
    test_bind_malformed();
    test_bind_rules();
    test_request_errors();
    test_response_encoding();
    test_client_parse_errors();
    test_roundtrip();
    json_decref(g_flat);
    return tu_finish();
}
