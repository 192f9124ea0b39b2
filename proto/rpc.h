/* rpc.h: DCE/RPC connection-oriented PDUs as KMS uses them (spec section 2): framing of a
 * TCP byte stream, bind / alter_context negotiation (NDR32, NDR64, BTFN), request and
 * response stubs in NDR32 and NDR64, faults. Server and client side. Pure. */
#ifndef KMSHA_RPC_H
#define KMSHA_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_HEADER_LEN 16
#define RPC_DEFAULT_MAX_FRAG 5840
#define RPC_MAX_CONTEXTS 16 /* presentation contexts remembered per connection */

enum rpc_ptype {
    RPC_PT_REQUEST = 0,
    RPC_PT_RESPONSE = 2,
    RPC_PT_FAULT = 3,
    RPC_PT_BIND = 11,
    RPC_PT_BIND_ACK = 12,
    RPC_PT_BIND_NAK = 13,
    RPC_PT_ALTER_CONTEXT = 14,
    RPC_PT_ALTER_CONTEXT_RESP = 15,
};

enum rpc_flags {
    RPC_PFC_FIRST_FRAG = 0x01,
    RPC_PFC_LAST_FRAG = 0x02,
    RPC_PFC_CONC_MPX = 0x10,
    RPC_PFC_DID_NOT_EXECUTE = 0x20,
    RPC_PFC_OBJECT_UUID = 0x80,
};

/* Fault statuses (spec 2.7). */
#define RPC_NCA_UNK_IF 0x1C010003u
#define RPC_NCA_OP_RNG_ERROR 0x1C010002u
#define RPC_NCA_PROTO_ERROR 0x1C01000Bu

typedef enum rpc_syntax {
    RPC_SYNTAX_NONE = 0,
    RPC_SYNTAX_NDR32 = 1,
    RPC_SYNTAX_NDR64 = 2,
} rpc_syntax;

typedef struct rpc_header {
    uint8_t rpc_vers, rpc_vers_minor, ptype, flags;
    uint8_t drep[4];
    uint16_t frag_length;
    uint16_t auth_length;
    uint32_t call_id;
} rpc_header;

/* Framing: looks at the start of a stream buffer. Returns the length of the complete PDU
 * at buf (> 0, filling hdr), 0 when more bytes are needed, or < 0: KMS_EPROTO for a bad
 * header (version, drep, frag_length < 16, auth, fragmented), KMS_ETOOBIG when
 * frag_length exceeds max_pdu. */
int rpc_frame(const uint8_t *buf, size_t len, size_t max_pdu, rpc_header *hdr);
/* Why rpc_frame refused the header at buf (len >= RPC_HEADER_LEN), as one phrase for a
 * log line naming the fields: "RPC version 5.1 (only 5.0 is spoken)", "request PDU
 * without both the FIRST and LAST fragment flags (flags 0x01: ...)", "PDU larger than
 * max_pdu_size (frag_length 60000, limit 5840)", ... Writes "" for a header rpc_frame
 * accepts. Returns out. */
const char *rpc_frame_cause(const uint8_t *buf, size_t len, size_t max_pdu, char *out, size_t cap);

/* ---------------- server side ---------------- */

typedef struct rpc_server_options {
    bool ndr64;              /* offer NDR64 (Windows 8/2012+ host behaviour) */
    bool btfn;               /* answer bind-time feature negotiation */
    uint16_t port;           /* local port for the bind_ack secondary address */
    uint32_t assoc_group_id; /* non-zero, chosen by the server per connection */
} rpc_server_options;

/* The presentation contexts bound on one connection (spec 2.4 step 3). */
typedef struct rpc_server_conn {
    uint8_t n;
    uint16_t ctx_id[RPC_MAX_CONTEXTS];
    uint8_t syntax[RPC_MAX_CONTEXTS]; /* rpc_syntax */
} rpc_server_conn;

/* Answers a bind or alter_context PDU (one complete PDU from rpc_frame) following
 * vlmcsd's rule (spec 2.4), records the contexts in conn, and writes the bind_ack /
 * alter_context_resp into out. Padding is zero. Returns the answer length (> 0) or
 * KMS_EPROTO (malformed: the connection should be closed) / KMS_ESPACE. */
int rpc_server_bind(rpc_server_conn *conn, const rpc_server_options *opt,
                    const uint8_t *pdu, size_t len, uint8_t *out, size_t cap);

/* A parsed request PDU; msg points into the caller's PDU buffer. */
typedef struct rpc_request {
    uint32_t call_id;
    uint16_t ctx_id;
    uint16_t opnum;
    rpc_syntax syntax;
    const uint8_t *msg; /* the KMS message (the conformant byte array) */
    size_t msg_len;     /* requestSize, bounded by the bytes present */
} rpc_request;

/* Parses a request PDU against the contexts bound on conn. Returns 0; or KMS_EUNKCTX
 * (answer with fault nca_unk_if), KMS_EOPNUM (fault nca_op_rng_error), KMS_EPROTO (fault
 * nca_proto_error), KMS_ETRUNC when the stub is shorter than its own size fields (a host
 * answers 0x8007000D). On every error but KMS_EPROTO, req->call_id/ctx_id are filled. */
int rpc_server_parse_request(const rpc_server_conn *conn, const uint8_t *pdu, size_t len,
                             rpc_request *req);

/* Encodes the response PDU for req: with hresult 0 the KMS message as success stub
 * (NDR32 or NDR64 per req->syntax); otherwise the error stub carrying hresult (msg is
 * ignored). Returns the PDU length (> 0) or KMS_ESPACE. */
int rpc_server_encode_response(const rpc_request *req, const uint8_t *msg, size_t msg_len,
                               uint32_t hresult, uint8_t *out, size_t cap);

/* Encodes a 32-byte fault PDU (flags FIRST|LAST|DID_NOT_EXECUTE, call_id echoed, zero
 * cancel count). Returns 32 or KMS_ESPACE. */
int rpc_encode_fault(uint32_t call_id, uint16_t ctx_id, uint32_t status, uint8_t *out,
                     size_t cap);

/* ---------------- client side ---------------- */

typedef struct rpc_bind_offer {
    bool ndr32;   /* context 0: NDR32 */
    bool ndr64;   /* next context: NDR64 */
    bool btfn;    /* next context: BTFN with features 0x3 */
    bool conc_mpx;/* set PFC_CONC_MPX in the bind (Windows and vlmcs do) */
} rpc_bind_offer;

/* What a bind_ack / alter_context_resp granted. */
typedef struct rpc_bind_result {
    uint8_t n_results;
    int ndr32_ctx;  /* context id accepted for NDR32, or -1 */
    int ndr64_ctx;  /* context id accepted for NDR64, or -1 */
    bool btfn_acked;
    uint16_t btfn_features;
    uint16_t max_xmit_frag, max_recv_frag;
    uint32_t assoc_group_id;
    char sec_addr[16];
} rpc_bind_result;

/* Encodes a bind (ptype RPC_PT_BIND) or alter_context (RPC_PT_ALTER_CONTEXT) offering the
 * contexts in offer, numbered 0, 1, 2 in that order. Returns the length or KMS_ESPACE. */
int rpc_client_encode_bind(uint8_t ptype, uint32_t call_id, const rpc_bind_offer *offer,
                           uint8_t *out, size_t cap);

/* Parses a bind_ack / alter_context_resp answering the offer: checks ptype, call_id,
 * n_results == number of contexts offered; maps each result to the offered context.
 * Returns 0 or KMS_EPROTO / KMS_EPDU / KMS_ETRUNC. */
int rpc_client_parse_bind_ack(const uint8_t *pdu, size_t len, uint32_t call_id,
                              const rpc_bind_offer *offer, rpc_bind_result *res);

/* Encodes a request PDU (opnum 0) carrying a KMS message on ctx_id with the given syntax.
 * Returns the length or KMS_ESPACE. */
int rpc_client_encode_request(uint32_t call_id, uint16_t ctx_id, rpc_syntax syntax,
                              const uint8_t *msg, size_t msg_len, uint8_t *out, size_t cap);

/* Parses the answer to a request. On a response: *hresult = the stub's return value, and
 * for hresult 0 *msg / *msg_len point at the KMS message inside pdu; returns 0. On a fault:
 * *fault_status is set and KMS_EFAULT returned. Also KMS_EPROTO / KMS_EPDU / KMS_ETRUNC
 * (checks of spec 7: call_id, context id, responseSize == max_count, zero padding). */
int rpc_client_parse_response(const uint8_t *pdu, size_t len, uint32_t call_id,
                              uint16_t ctx_id, rpc_syntax syntax, const uint8_t **msg,
                              size_t *msg_len, uint32_t *hresult, uint32_t *fault_status);

#endif
