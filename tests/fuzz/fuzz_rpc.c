/* fuzz_rpc.c: libFuzzer target for proto/rpc.c. The input is a TCP byte stream from a
 * client: it is split into PDUs with rpc_frame and drives a server conversation (binds
 * and alter_contexts, requests answered with a response, an error stub or a fault), once
 * with NDR64+BTFN and once as a legacy host. Other PDU types go to the client parsers.
 * Invariants (abort on violation): outputs bounded by their buffers, every answer frames
 * as one PDU, a parsed message lies inside its PDU and survives a client round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/rpc.h"

#define OUT_CAP 8192

static void require(int cond)
{
    if (!cond) abort();
}

static void answer_request(const rpc_server_conn *conn, const uint8_t *pdu, size_t n)
{
    uint8_t out[OUT_CAP];
    rpc_request req;
    int rc = rpc_server_parse_request(conn, pdu, n, &req);
    if (rc == 0) {
        require(req.syntax == RPC_SYNTAX_NDR32 || req.syntax == RPC_SYNTAX_NDR64);
        require(req.opnum == 0);
        require(req.msg >= pdu && req.msg_len <= n && (size_t)(req.msg - pdu) <= n - req.msg_len);
        int r = rpc_server_encode_response(&req, req.msg, req.msg_len, 0, out, sizeof out);
        if (r == KMS_ESPACE) {
            require(req.msg_len + 24 + 24 + 4 + 3 > sizeof out);
        } else {
            require(r > 0 && (size_t)r <= sizeof out && (size_t)r <= req.msg_len + 24 + 24 + 4 + 3);
            require(rpc_frame(out, (size_t)r, UINT16_MAX, NULL) == r);
            const uint8_t *m;
            size_t ml;
            uint32_t hr, st;
            require(rpc_client_parse_response(out, (size_t)r, req.call_id, req.ctx_id, req.syntax,
                                              &m, &ml, &hr, &st) == 0);
            require(hr == 0 && ml == req.msg_len && (ml == 0 || memcmp(m, req.msg, ml) == 0));
            /* The client encoding of the same message parses back to it. */
            r = rpc_client_encode_request(req.call_id, req.ctx_id, req.syntax, req.msg,
                                          req.msg_len, out, sizeof out);
            if (r > 0) {
                rpc_request again;
                require(rpc_server_parse_request(conn, out, (size_t)r, &again) == 0);
                require(again.msg_len == req.msg_len && again.syntax == req.syntax);
            }
        }
    } else if (rc == KMS_ETRUNC) {
        require(req.syntax != RPC_SYNTAX_NONE);
        int r = rpc_server_encode_response(&req, NULL, 0, 0x8007000Du, out, sizeof out);
        require(r == (req.syntax == RPC_SYNTAX_NDR64 ? 44 : 36));
    } else {
        require(rc == KMS_EUNKCTX || rc == KMS_EOPNUM || rc == KMS_EPROTO);
        require(rpc_encode_fault(req.call_id, req.ctx_id, RPC_NCA_PROTO_ERROR, out, sizeof out) == 32);
    }
}

static void client_side(const uint8_t *pdu, size_t n, const rpc_header *h)
{
    static const rpc_bind_offer offers[3] = {
        {true, true, true, true}, {true, false, true, true}, {true, false, false, false}};
    rpc_bind_result res;
    for (int i = 0; i < 3; i++) {
        int rc = rpc_client_parse_bind_ack(pdu, n, h->call_id, &offers[i], &res);
        require(rc <= 0);
        require(res.sec_addr[sizeof res.sec_addr - 1] == 0);
    }
    for (int s = RPC_SYNTAX_NDR32; s <= RPC_SYNTAX_NDR64; s++) {
        const uint8_t *m;
        size_t ml;
        uint32_t hr, st;
        int rc = rpc_client_parse_response(pdu, n, h->call_id, (uint16_t)(pdu[20] | (pdu[21] << 8)),
                                           (rpc_syntax)s, &m, &ml, &hr, &st);
        require(rc <= 0);
        if (rc == 0 && hr == 0) require(m >= pdu && ml <= n && (size_t)(m - pdu) <= n - ml);
    }
}

static void conversation(const uint8_t *data, size_t size, bool modern)
{
    rpc_server_conn conn;
    memset(&conn, 0, sizeof conn);
    const rpc_server_options opt = {modern, modern, 1688, 0x2a};
    uint8_t out[OUT_CAP];
    size_t off = 0;
    while (off < size) {
        rpc_header h;
        int n = rpc_frame(data + off, size - off, RPC_DEFAULT_MAX_FRAG, &h);
        if (n < 0) {
            /* A refused header always has a named cause, and the text stays in its buffer. */
            char why[160];
            require(rpc_frame_cause(data + off, size - off, RPC_DEFAULT_MAX_FRAG, why, sizeof why)[0] != 0);
            require(strlen(why) < sizeof why);
        }
        if (n <= 0) break;
        require((size_t)n <= size - off && n <= RPC_DEFAULT_MAX_FRAG && n == h.frag_length);
        const uint8_t *pdu = data + off;
        switch (h.ptype) {
        case RPC_PT_BIND:
        case RPC_PT_ALTER_CONTEXT: {
            int r = rpc_server_bind(&conn, &opt, pdu, (size_t)n, out, sizeof out);
            require(conn.n <= RPC_MAX_CONTEXTS);
            if (r < 0) {
                require(r == KMS_EPROTO);
                break;
            }
            require((size_t)r <= sizeof out && r <= 36 + 24 * 255);
            require(rpc_frame(out, (size_t)r, UINT16_MAX, NULL) == r);
            break;
        }
        case RPC_PT_REQUEST:
            answer_request(&conn, pdu, (size_t)n);
            break;
        default:
            if (n >= 22) client_side(pdu, (size_t)n, &h);
            break;
        }
        off += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    conversation(data, size, true);
    conversation(data, size, false);
    return 0;
}
