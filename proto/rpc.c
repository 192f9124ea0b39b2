/* rpc.c: the DCE/RPC connection-oriented codec of KMS (spec section 2): stream framing,
 * bind / alter_context negotiation as vlmcsd does it, request / response stubs in NDR32
 * and NDR64, faults; the server side and the client side. Pure: no I/O, no allocation.
 *
 * Choices where the spec leaves room (the header states the contract):
 * - Framing checks rpc_vers 5.0, drep[0] = 0x10 (little-endian integers, ASCII; the float
 *   format byte is not checked: no float crosses this interface), frag_length >= 16,
 *   auth_length 0, and FIRST|LAST on requests and responses (no multi-fragment calls).
 * - A bind / alter_context must hold n_context_elem >= 1 elements and at least
 *   28 + 44 * n bytes, and every element's transfer syntaxes must fit in the PDU;
 *   otherwise KMS_EPROTO (close the connection, as vlmcsd does).
 * - The interface matches when UUID and version 1.0 match; a transfer syntax counts as
 *   NDR32 / NDR64 / BTFN only with its version (2 / 1 / 1). An element may carry several
 *   transfer syntaxes: the first one that the rule of spec 2.4 accepts wins.
 * - Every element gets a result; only the first RPC_MAX_CONTEXTS distinct context ids are
 *   remembered per connection (a re-offered id updates its entry). Requests on ids beyond
 *   that get KMS_EUNKCTX.
 * - A request with PFC_OBJECT_UUID set has its 16-byte object UUID skipped.
 * - A request stub must have max_count == requestSize (else KMS_EPROTO, as NDR would
 *   reject it); requestSize larger than the bytes present is KMS_ETRUNC; trailing bytes
 *   after the message are ignored (py-kms sends 4); alloc_hint is not trusted.
 * - The client accepts a fault whatever its call_id (vlmcsd always sends 2). */
#include "proto/rpc.h"

#include <stdio.h>
#include <string.h>
#include "proto/cursor.h"
#include "proto/errors.h"

static const uint8_t KMS_IFACE_UUID[16] = {0x75, 0x21, 0xc8, 0x51, 0x4e, 0x84, 0x50, 0x47,
                                           0xb0, 0xd8, 0xec, 0x25, 0x55, 0x55, 0xbc, 0x06};
static const uint8_t NDR32_UUID[16] = {0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11,
                                       0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60};
static const uint8_t NDR64_UUID[16] = {0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49,
                                       0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36};
/* BTFN is recognised by the first 8 bytes; the last 8 are the requested feature bits. */
static const uint8_t BTFN_PREFIX[8] = {0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45};

#define KMS_IFACE_VERSION 1u /* major 1, minor 0 */
#define NDR32_VERSION 2u
#define NDR64_VERSION 1u
#define BTFN_VERSION 1u
#define BTFN_FEATURES 0x0003u /* what a host grants (spec 2.2) */
#define NDR_REFERENT_ID 0x00020000u

#define CTX_ELEM_MIN 44u  /* context element with one transfer syntax */
#define CTX_ELEM_HEAD 24u /* p_cont_id, n_transfer_syn, reserved, abstract syntax */
#define XFER_SYN_LEN 20u
#define BIND_BODY_OFF 28u
#define REQ_STUB_OFF 24u
#define FAULT_LEN 32u

#define FLAGS_FIRST_LAST (RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG)

enum xfer_kind { XFER_OTHER, XFER_NDR32, XFER_NDR64, XFER_BTFN };

/* ---------------- common ---------------- */

static void read_header(rcursor *c, rpc_header *h)
{
    h->rpc_vers = rc_u8(c);
    h->rpc_vers_minor = rc_u8(c);
    h->ptype = rc_u8(c);
    h->flags = rc_u8(c);
    rc_bytes(c, h->drep, 4);
    h->frag_length = rc_u16(c);
    h->auth_length = rc_u16(c);
    h->call_id = rc_u32(c);
}

/* What is wrong with a header, one check per cause (rpc_frame_cause names them). */
enum header_fault { HF_OK, HF_VERSION, HF_DREP, HF_SHORT, HF_AUTH, HF_FRAGMENTED };

static enum header_fault header_fault(const rpc_header *h)
{
    if (h->rpc_vers != 5 || h->rpc_vers_minor != 0) return HF_VERSION;
    if (h->drep[0] != 0x10) return HF_DREP;
    if (h->frag_length < RPC_HEADER_LEN) return HF_SHORT;
    if (h->auth_length != 0) return HF_AUTH;
    if ((h->ptype == RPC_PT_REQUEST || h->ptype == RPC_PT_RESPONSE) &&
        (h->flags & FLAGS_FIRST_LAST) != FLAGS_FIRST_LAST)
        return HF_FRAGMENTED;
    return HF_OK;
}

static int header_valid(const rpc_header *h)
{
    return header_fault(h) == HF_OK ? 0 : KMS_EPROTO;
}

/* Reads and checks the header of one PDU and leaves c spanning exactly frag_length bytes,
 * positioned after the header. KMS_ETRUNC when fewer than frag_length bytes are given. */
static int open_pdu(const uint8_t *pdu, size_t len, rpc_header *h, rcursor *c)
{
    if (!pdu || len < RPC_HEADER_LEN) return KMS_ETRUNC;
    *c = rc_init(pdu, len);
    read_header(c, h);
    int rc = header_valid(h);
    if (rc) return rc;
    if (h->frag_length > len) return KMS_ETRUNC;
    c->len = h->frag_length;
    return 0;
}

static void write_header(wcursor *w, uint8_t ptype, uint8_t flags, uint32_t call_id)
{
    static const uint8_t drep[4] = {0x10, 0, 0, 0};
    wc_u8(w, 5);
    wc_u8(w, 0);
    wc_u8(w, ptype);
    wc_u8(w, flags);
    wc_bytes(w, drep, 4);
    wc_u16(w, 0); /* frag_length, patched by finish_pdu */
    wc_u16(w, 0);
    wc_u32(w, call_id);
}

/* Patches frag_length; returns the PDU length or the cursor's error. */
static int finish_pdu(wcursor *w)
{
    if (w->err) return w->err;
    if (w->pos > UINT16_MAX) return KMS_ETOOBIG;
    wc_put_u16_at(w, 8, (uint16_t)w->pos);
    return (int)w->pos;
}

static void write_pad4(wcursor *w, size_t base)
{
    while (!w->err && (w->pos - base) % 4) wc_u8(w, 0);
}

static enum xfer_kind classify_xfer(const uint8_t *uuid, uint32_t version)
{
    if (!uuid) return XFER_OTHER;
    if (memcmp(uuid, NDR32_UUID, 16) == 0 && version == NDR32_VERSION) return XFER_NDR32;
    if (memcmp(uuid, NDR64_UUID, 16) == 0 && version == NDR64_VERSION) return XFER_NDR64;
    if (memcmp(uuid, BTFN_PREFIX, 8) == 0 && version == BTFN_VERSION) return XFER_BTFN;
    return XFER_OTHER;
}

/* The requested BTFN feature bits: the low 16 bits of the little-endian last 8 bytes. */
static uint16_t btfn_features(const uint8_t *uuid)
{
    return (uint16_t)(uuid[8] | (uuid[9] << 8));
}

int rpc_frame(const uint8_t *buf, size_t len, size_t max_pdu, rpc_header *hdr)
{
    if (!buf || len < RPC_HEADER_LEN) return 0;
    rpc_header h;
    rcursor c = rc_init(buf, len);
    read_header(&c, &h);
    int rc = header_valid(&h);
    if (rc) return rc;
    if (h.frag_length > max_pdu) return KMS_ETOOBIG;
    if (len < h.frag_length) return 0;
    if (hdr) *hdr = h;
    return h.frag_length;
}

const char *rpc_frame_cause(const uint8_t *buf, size_t len, size_t max_pdu, char *out, size_t cap)
{
    if (!out || cap == 0) return "";
    out[0] = 0;
    if (!buf || len < RPC_HEADER_LEN) return out;
    rpc_header h;
    rcursor c = rc_init(buf, len);
    read_header(&c, &h);
    switch (header_fault(&h)) {
    case HF_VERSION:
        snprintf(out, cap, "RPC version %u.%u (only 5.0 is spoken)", h.rpc_vers, h.rpc_vers_minor);
        break;
    case HF_DREP:
        snprintf(out, cap, "data representation %02x %02x %02x %02x (only little-endian ASCII, "
                 "10 00 00 00, is spoken)", h.drep[0], h.drep[1], h.drep[2], h.drep[3]);
        break;
    case HF_SHORT:
        snprintf(out, cap, "frag_length %u shorter than the %u-byte header", h.frag_length,
                 (unsigned)RPC_HEADER_LEN);
        break;
    case HF_AUTH:
        snprintf(out, cap, "auth_length %u (authenticated RPC is not used by KMS)", h.auth_length);
        break;
    case HF_FRAGMENTED:
        snprintf(out, cap, "%s PDU without both the FIRST and LAST fragment flags (flags 0x%02x: "
                 "multi-fragment calls are not supported)",
                 h.ptype == RPC_PT_REQUEST ? "request" : "response", h.flags);
        break;
    case HF_OK:
        if (h.frag_length > max_pdu)
            snprintf(out, cap, "PDU larger than max_pdu_size (frag_length %u, limit %zu)",
                     h.frag_length, max_pdu);
        break;
    }
    return out;
}

/* ---------------- server side ---------------- */

static void conn_remember(rpc_server_conn *conn, uint16_t ctx_id, rpc_syntax syntax)
{
    for (unsigned i = 0; i < conn->n && i < RPC_MAX_CONTEXTS; i++) {
        if (conn->ctx_id[i] == ctx_id) {
            conn->syntax[i] = (uint8_t)syntax;
            return;
        }
    }
    if (conn->n < RPC_MAX_CONTEXTS) {
        conn->ctx_id[conn->n] = ctx_id;
        conn->syntax[conn->n] = (uint8_t)syntax;
        conn->n++;
    }
}

static rpc_syntax conn_lookup(const rpc_server_conn *conn, uint16_t ctx_id)
{
    for (unsigned i = 0; i < conn->n && i < RPC_MAX_CONTEXTS; i++)
        if (conn->ctx_id[i] == ctx_id) return (rpc_syntax)conn->syntax[i];
    return RPC_SYNTAX_NONE;
}

static void write_result(wcursor *w, uint16_t result, uint16_t reason, const uint8_t *uuid,
                         uint32_t version)
{
    static const uint8_t zero[16];
    wc_u16(w, result);
    wc_u16(w, reason);
    wc_bytes(w, uuid ? uuid : zero, 16);
    wc_u32(w, version);
}

int rpc_server_bind(rpc_server_conn *conn, const rpc_server_options *opt,
                    const uint8_t *pdu, size_t len, uint8_t *out, size_t cap)
{
    if (!conn || !opt || !out) return KMS_EINVAL;
    rpc_header h;
    rcursor c;
    if (open_pdu(pdu, len, &h, &c) != 0) return KMS_EPROTO;
    if (h.ptype != RPC_PT_BIND && h.ptype != RPC_PT_ALTER_CONTEXT) return KMS_EPROTO;

    uint16_t max_xmit = rc_u16(&c);
    uint16_t max_recv = rc_u16(&c);
    (void)rc_u32(&c); /* the client's assoc_group_id: we always answer with ours */
    unsigned n = rc_u8(&c);
    rc_skip(&c, 3);
    if (c.err || n == 0 || (size_t)h.frag_length < BIND_BODY_OFF + CTX_ELEM_MIN * n)
        return KMS_EPROTO;

    /* Pass 1: check that every element and its transfer syntaxes fit, and whether any
     * element offers NDR64 (spec 2.4 step 1). */
    const size_t elems = c.pos;
    bool offers_ndr64 = false;
    for (unsigned i = 0; i < n; i++) {
        rc_skip(&c, 2);
        unsigned nts = rc_u8(&c);
        rc_skip(&c, 1 + 20);
        for (unsigned j = 0; j < nts; j++) {
            const uint8_t *uuid = rc_take(&c, 16);
            uint32_t ver = rc_u32(&c);
            if (classify_xfer(uuid, ver) == XFER_NDR64) offers_ndr64 = true;
        }
    }
    if (c.err) return KMS_EPROTO;
    const bool ndr64_possible = opt->ndr64 && offers_ndr64;

    /* Pass 2: answer each element (step 2) and note the contexts (step 3) in a copy of
     * the table, committed only when the whole answer was written. */
    const bool is_bind = h.ptype == RPC_PT_BIND;
    rpc_server_conn next = *conn;
    if (next.n > RPC_MAX_CONTEXTS) next.n = RPC_MAX_CONTEXTS;
    wcursor w = wc_init(out, cap);
    write_header(&w, is_bind ? RPC_PT_BIND_ACK : RPC_PT_ALTER_CONTEXT_RESP,
                 is_bind ? (uint8_t)(FLAGS_FIRST_LAST | (h.flags & RPC_PFC_CONC_MPX))
                         : (uint8_t)FLAGS_FIRST_LAST,
                 h.call_id);
    wc_u16(&w, max_xmit);
    wc_u16(&w, max_recv);
    wc_u32(&w, opt->assoc_group_id);
    if (is_bind) {
        /* Secondary address: the local port in ASCII decimal with its NUL. */
        char digits[6];
        size_t nd = 0;
        unsigned port = opt->port;
        do {
            digits[nd++] = (char)('0' + port % 10);
            port /= 10;
        } while (port);
        wc_u16(&w, (uint16_t)(nd + 1));
        while (nd) wc_u8(&w, (uint8_t)digits[--nd]);
        wc_u8(&w, 0);
    } else {
        wc_u16(&w, 0); /* vlmcsd's alter_context_resp carries no secondary address */
    }
    write_pad4(&w, 0);
    wc_u8(&w, (uint8_t)n);
    wc_zero(&w, 3);

    c.pos = elems;
    for (unsigned i = 0; i < n; i++) {
        uint16_t ctx_id = rc_u16(&c);
        unsigned nts = rc_u8(&c);
        rc_skip(&c, 1);
        const uint8_t *iface = rc_take(&c, 16);
        uint32_t iface_ver = rc_u32(&c);
        const bool iface_ok = iface && memcmp(iface, KMS_IFACE_UUID, 16) == 0 &&
                              iface_ver == KMS_IFACE_VERSION;
        bool answered = false, offered_ndr32 = false;
        for (unsigned j = 0; j < nts; j++) {
            const uint8_t *uuid = rc_take(&c, 16);
            enum xfer_kind kind = classify_xfer(uuid, rc_u32(&c));
            if (answered) continue; /* still consume the remaining entries */
            if (kind == XFER_NDR32) offered_ndr32 = true;
            if (iface_ok && kind == XFER_NDR32 && !ndr64_possible) {
                write_result(&w, 0, 0, NDR32_UUID, NDR32_VERSION);
                conn_remember(&next, ctx_id, RPC_SYNTAX_NDR32);
                answered = true;
            } else if (iface_ok && kind == XFER_NDR64 && ndr64_possible) {
                write_result(&w, 0, 0, NDR64_UUID, NDR64_VERSION);
                conn_remember(&next, ctx_id, RPC_SYNTAX_NDR64);
                answered = true;
            } else if (kind == XFER_BTFN && opt->btfn) {
                write_result(&w, 3, (uint16_t)(btfn_features(uuid) & BTFN_FEATURES), NULL, 0);
                answered = true;
            }
        }
        if (!answered) {
            write_result(&w, 2, iface_ok ? 2 : 1, NULL, 0);
            /* vlmcsd remembers an NDR32 offer it refused only because NDR64 was possible
             * (spec 2.4 step 3): an NDR32 request on that id is then served. */
            if (iface_ok && offered_ndr32) conn_remember(&next, ctx_id, RPC_SYNTAX_NDR32);
        }
    }
    if (c.err) return KMS_EPROTO; /* cannot happen: pass 1 read the same bytes */
    int total = finish_pdu(&w);
    if (total < 0) return total;
    *conn = next;
    return total;
}

int rpc_server_parse_request(const rpc_server_conn *conn, const uint8_t *pdu, size_t len,
                             rpc_request *req)
{
    if (!conn || !req) return KMS_EINVAL;
    memset(req, 0, sizeof *req);
    rpc_header h;
    rcursor c;
    if (open_pdu(pdu, len, &h, &c) != 0 || h.ptype != RPC_PT_REQUEST) return KMS_EPROTO;
    (void)rc_u32(&c); /* alloc_hint: a hint, not trusted */
    req->call_id = h.call_id;
    req->ctx_id = rc_u16(&c);
    req->opnum = rc_u16(&c);
    if (h.flags & RPC_PFC_OBJECT_UUID) rc_skip(&c, 16);
    if (c.err) return KMS_EPROTO;

    req->syntax = conn_lookup(conn, req->ctx_id);
    if (req->syntax == RPC_SYNTAX_NONE) return KMS_EUNKCTX;
    if (req->opnum != 0) return KMS_EOPNUM;

    uint32_t size = rc_u32(&c);
    uint64_t max_count;
    if (req->syntax == RPC_SYNTAX_NDR64) {
        rc_skip(&c, 4); /* alignment of the u64 that follows */
        max_count = rc_u64(&c);
    } else {
        max_count = rc_u32(&c);
    }
    if (c.err) return KMS_ETRUNC;
    if (max_count != size) return KMS_EPROTO;
    const uint8_t *msg = rc_take(&c, size);
    if (!msg) return KMS_ETRUNC;
    req->msg = msg;
    req->msg_len = size;
    return 0;
}

int rpc_server_encode_response(const rpc_request *req, const uint8_t *msg, size_t msg_len,
                               uint32_t hresult, uint8_t *out, size_t cap)
{
    if (!req || !out) return KMS_EINVAL;
    if (req->syntax != RPC_SYNTAX_NDR32 && req->syntax != RPC_SYNTAX_NDR64) return KMS_EINVAL;
    if (hresult == 0 && msg_len && !msg) return KMS_EINVAL;
    if (hresult == 0 && msg_len > UINT16_MAX) return KMS_ETOOBIG;
    const bool ndr64 = req->syntax == RPC_SYNTAX_NDR64;

    wcursor w = wc_init(out, cap);
    write_header(&w, RPC_PT_RESPONSE, FLAGS_FIRST_LAST, req->call_id);
    wc_u32(&w, 0); /* alloc_hint, patched below */
    wc_u16(&w, req->ctx_id);
    wc_u8(&w, 0); /* cancel_count */
    wc_u8(&w, 0);
    const size_t stub = w.pos;
    if (hresult != 0) {
        /* No data: responseSize 0 and a NULL pointer, then the return value. */
        wc_zero(&w, ndr64 ? 16 : 8);
    } else if (ndr64) {
        wc_u32(&w, (uint32_t)msg_len);
        wc_u32(&w, 0);
        wc_u64(&w, NDR_REFERENT_ID);
        wc_u64(&w, msg_len);
        wc_bytes(&w, msg, msg_len);
        write_pad4(&w, stub);
    } else {
        wc_u32(&w, (uint32_t)msg_len);
        wc_u32(&w, NDR_REFERENT_ID);
        wc_u32(&w, (uint32_t)msg_len);
        wc_bytes(&w, msg, msg_len);
        write_pad4(&w, stub);
    }
    wc_u32(&w, hresult);
    wc_put_u32_at(&w, 16, (uint32_t)(w.pos - stub));
    return finish_pdu(&w);
}

int rpc_encode_fault(uint32_t call_id, uint16_t ctx_id, uint32_t status, uint8_t *out,
                     size_t cap)
{
    if (!out) return KMS_EINVAL;
    wcursor w = wc_init(out, cap);
    write_header(&w, RPC_PT_FAULT, FLAGS_FIRST_LAST | RPC_PFC_DID_NOT_EXECUTE, call_id);
    wc_u32(&w, FAULT_LEN); /* alloc_hint as Windows and vlmcsd send it */
    wc_u16(&w, ctx_id);
    wc_u8(&w, 0); /* cancel_count */
    wc_u8(&w, 0);
    wc_u32(&w, status);
    wc_u32(&w, 0);
    return finish_pdu(&w);
}

/* ---------------- client side ---------------- */

/* The contexts an offer makes, in wire order (ids 0, 1, 2). */
static unsigned offer_list(const rpc_bind_offer *o, enum xfer_kind kinds[3])
{
    unsigned n = 0;
    if (o->ndr32) kinds[n++] = XFER_NDR32;
    if (o->ndr64) kinds[n++] = XFER_NDR64;
    if (o->btfn) kinds[n++] = XFER_BTFN;
    return n;
}

int rpc_client_encode_bind(uint8_t ptype, uint32_t call_id, const rpc_bind_offer *offer,
                           uint8_t *out, size_t cap)
{
    if (!offer || !out) return KMS_EINVAL;
    if (ptype != RPC_PT_BIND && ptype != RPC_PT_ALTER_CONTEXT) return KMS_EINVAL;
    enum xfer_kind kinds[3];
    unsigned n = offer_list(offer, kinds);
    if (n == 0) return KMS_EINVAL;

    wcursor w = wc_init(out, cap);
    write_header(&w, ptype,
                 (uint8_t)(FLAGS_FIRST_LAST | (offer->conc_mpx ? RPC_PFC_CONC_MPX : 0)), call_id);
    wc_u16(&w, RPC_DEFAULT_MAX_FRAG);
    wc_u16(&w, RPC_DEFAULT_MAX_FRAG);
    wc_u32(&w, 0); /* new association */
    wc_u8(&w, (uint8_t)n);
    wc_zero(&w, 3);
    for (unsigned i = 0; i < n; i++) {
        wc_u16(&w, (uint16_t)i);
        wc_u8(&w, 1); /* one transfer syntax */
        wc_u8(&w, 0);
        wc_bytes(&w, KMS_IFACE_UUID, 16);
        wc_u32(&w, KMS_IFACE_VERSION);
        switch (kinds[i]) {
        case XFER_NDR32:
            wc_bytes(&w, NDR32_UUID, 16);
            wc_u32(&w, NDR32_VERSION);
            break;
        case XFER_NDR64:
            wc_bytes(&w, NDR64_UUID, 16);
            wc_u32(&w, NDR64_VERSION);
            break;
        default:
            wc_bytes(&w, BTFN_PREFIX, 8);
            wc_u64(&w, BTFN_FEATURES);
            wc_u32(&w, BTFN_VERSION);
            break;
        }
    }
    return finish_pdu(&w);
}

int rpc_client_parse_bind_ack(const uint8_t *pdu, size_t len, uint32_t call_id,
                              const rpc_bind_offer *offer, rpc_bind_result *res)
{
    if (!offer || !res) return KMS_EINVAL;
    memset(res, 0, sizeof *res);
    res->ndr32_ctx = res->ndr64_ctx = -1;
    rpc_header h;
    rcursor c;
    int rc = open_pdu(pdu, len, &h, &c);
    if (rc) return rc;
    if (h.ptype != RPC_PT_BIND_ACK && h.ptype != RPC_PT_ALTER_CONTEXT_RESP) return KMS_EPDU;
    if ((h.flags & FLAGS_FIRST_LAST) != FLAGS_FIRST_LAST || h.call_id != call_id)
        return KMS_EPROTO;

    res->max_xmit_frag = rc_u16(&c);
    res->max_recv_frag = rc_u16(&c);
    res->assoc_group_id = rc_u32(&c);
    size_t sec_len = rc_u16(&c);
    const uint8_t *sec = rc_take(&c, sec_len);
    for (size_t i = 0; sec && i < sec_len && i + 1 < sizeof res->sec_addr && sec[i]; i++)
        res->sec_addr[i] = (char)sec[i];
    /* Padding to 4 from the PDU start; vlmcsd leaves garbage in it, so it is not checked. */
    rc_skip(&c, (4 - c.pos % 4) % 4);
    res->n_results = rc_u8(&c);
    rc_skip(&c, 3);
    if (c.err) return KMS_ETRUNC;

    enum xfer_kind kinds[3];
    unsigned n = offer_list(offer, kinds);
    if (res->n_results != n) return KMS_EPROTO;
    for (unsigned i = 0; i < n; i++) {
        uint16_t result = rc_u16(&c);
        uint16_t reason = rc_u16(&c);
        const uint8_t *uuid = rc_take(&c, 16);
        uint32_t ver = rc_u32(&c);
        if (c.err) return KMS_ETRUNC;
        if (kinds[i] == XFER_BTFN) {
            if (result == 3) {
                res->btfn_acked = true;
                res->btfn_features = reason;
            }
            continue;
        }
        if (result != 0) continue; /* rejected: the client lives without this syntax */
        /* An acceptance must name the syntax offered, with reason 0 (vlmcs: fatal). */
        if (reason != 0 || classify_xfer(uuid, ver) != kinds[i]) return KMS_EPROTO;
        if (kinds[i] == XFER_NDR32) res->ndr32_ctx = (int)i;
        else res->ndr64_ctx = (int)i;
    }
    if (res->ndr32_ctx < 0 && res->ndr64_ctx < 0) return KMS_EPROTO;
    return 0;
}

int rpc_client_encode_request(uint32_t call_id, uint16_t ctx_id, rpc_syntax syntax,
                              const uint8_t *msg, size_t msg_len, uint8_t *out, size_t cap)
{
    if (!out || (msg_len && !msg)) return KMS_EINVAL;
    if (syntax != RPC_SYNTAX_NDR32 && syntax != RPC_SYNTAX_NDR64) return KMS_EINVAL;
    if (msg_len > UINT16_MAX) return KMS_ETOOBIG;
    wcursor w = wc_init(out, cap);
    write_header(&w, RPC_PT_REQUEST, FLAGS_FIRST_LAST, call_id);
    wc_u32(&w, 0); /* alloc_hint, patched below */
    wc_u16(&w, ctx_id);
    wc_u16(&w, 0); /* opnum: RequestActivation */
    const size_t stub = w.pos;
    wc_u32(&w, (uint32_t)msg_len);
    if (syntax == RPC_SYNTAX_NDR64) {
        wc_u32(&w, 0);
        wc_u64(&w, msg_len);
    } else {
        wc_u32(&w, (uint32_t)msg_len);
    }
    wc_bytes(&w, msg, msg_len);
    wc_put_u32_at(&w, 16, (uint32_t)(w.pos - stub));
    return finish_pdu(&w);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

int rpc_client_parse_response(const uint8_t *pdu, size_t len, uint32_t call_id,
                              uint16_t ctx_id, rpc_syntax syntax, const uint8_t **msg,
                              size_t *msg_len, uint32_t *hresult, uint32_t *fault_status)
{
    if (msg) *msg = NULL;
    if (msg_len) *msg_len = 0;
    if (hresult) *hresult = 0;
    if (fault_status) *fault_status = 0;
    if (syntax != RPC_SYNTAX_NDR32 && syntax != RPC_SYNTAX_NDR64) return KMS_EINVAL;
    rpc_header h;
    rcursor c;
    int rc = open_pdu(pdu, len, &h, &c);
    if (rc) return rc;
    if ((h.flags & FLAGS_FIRST_LAST) != FLAGS_FIRST_LAST) return KMS_EPROTO;

    if (h.ptype == RPC_PT_FAULT) {
        /* No call_id check: vlmcsd's faults always carry call_id 2 (spec 2.7). */
        rc_skip(&c, 4 + 2 + 1 + 1); /* alloc_hint, p_cont_id, cancel_count, reserved */
        uint32_t status = rc_u32(&c);
        if (c.err) return KMS_ETRUNC;
        if (fault_status) *fault_status = status;
        return KMS_EFAULT;
    }
    if (h.ptype != RPC_PT_RESPONSE) return KMS_EPDU;
    if (h.call_id != call_id || (h.flags & RPC_PFC_CONC_MPX)) return KMS_EPROTO;
    (void)rc_u32(&c); /* alloc_hint: vlmcs only warns */
    uint16_t ctx = rc_u16(&c);
    uint8_t cancel = rc_u8(&c);
    rc_skip(&c, 1);
    if (c.err) return KMS_ETRUNC;
    if (ctx != ctx_id || cancel != 0) return KMS_EPROTO;

    const size_t stub = c.pos;
    const bool ndr64 = syntax == RPC_SYNTAX_NDR64;
    uint32_t size = rc_u32(&c);
    uint64_t referent;
    if (ndr64) {
        rc_skip(&c, 4);
        referent = rc_u64(&c);
    } else {
        referent = rc_u32(&c);
    }
    if (c.err) return KMS_ETRUNC;

    const uint8_t *data = NULL;
    if (referent != 0) {
        uint64_t max_count = ndr64 ? rc_u64(&c) : rc_u32(&c);
        if (c.err) return KMS_ETRUNC;
        if (max_count != size) return KMS_EPROTO;
        data = rc_take(&c, size);
        const size_t padn = (4 - (c.pos - stub) % 4) % 4; /* to 4 from the stub start */
        const uint8_t *pad = rc_take(&c, padn);
        if (c.err) return KMS_ETRUNC;
        if (!all_zero(pad, padn)) return KMS_EPROTO;
    }
    uint32_t ret = rc_u32(&c);
    if (c.err) return KMS_ETRUNC;
    if (ret == 0 && !data) return KMS_EPROTO; /* success without a message */
    if (hresult) *hresult = ret;
    if (ret == 0) {
        if (msg) *msg = data;
        if (msg_len) *msg_len = size;
    }
    return 0;
}
