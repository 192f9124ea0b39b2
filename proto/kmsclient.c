/* kmsclient.c: the one KMS client activation state machine (kmsclient.h): what a Windows
 * client sends and checks, step by step, buffer in and buffer out. The drivers (kmsctl's
 * blocking client, kmsbench's event loop) only move bytes and keep time. */
#include "proto/kmsclient.h"

#include <stdio.h>
#include <string.h>

#include "proto/cursor.h"
#include "proto/errors.h"

enum { ST_BIND = 1, ST_ALTER, ST_REQUEST, ST_DONE, ST_FAILED };

/* The detail of a failure, for kmsc_describe (kept in c->state's place once failed). */
enum {
    D_NONE, D_ENCODE, D_MALFORMED, D_TOOBIG, D_EXTRA, D_BIND_NAK, D_BIND_FAULT, D_BAD_ACK,
    D_NO_CONTEXT, D_FAULT, D_BAD_RESPONSE, D_HRESULT, D_VERIFY, D_ECHO, D_COUNT_ZERO,
};

/* The failure's detail and the step it happened in live in the otherwise unused upper
 * bits of state once failed: state = ST_FAILED | detail << 8 | step << 16. */
static int fail(kmsc *c, kmsc_failure f, int error, int detail)
{
    int step = c->state & 0xff;
    c->failure = f;
    c->error = error;
    c->state = ST_FAILED | detail << 8 | step << 16;
    c->in_len = 0;
    return KMSC_FAILED;
}

static int state_of(const kmsc *c) { return c->state & 0xff; }

static int make_bind(kmsc *c, uint8_t ptype, const rpc_bind_offer *offer)
{
    int n = rpc_client_encode_bind(ptype, KMSC_CALL_ID, offer, c->out, sizeof c->out);
    if (n < 0) return fail(c, KMSC_F_LOCAL, n, D_ENCODE);
    c->out_len = (size_t)n;
    return KMSC_SEND;
}

static bool request_uses_ndr64(const kmsc *c)
{
    return c->ndr32_ctx < 0 || (c->requests_done > 0 && c->ndr64_ctx >= 0);
}

static int make_request(kmsc *c)
{
    c->state = ST_REQUEST;
    bool use64 = request_uses_ndr64(c);
    c->syntax = use64 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
    c->call_id = KMSC_CALL_ID + (uint32_t)c->requests_done;
    uint8_t msg[KMS_V56_REQUEST_LEN + 16];
    int n = kms_client_encode_request(&c->req, c->random, c->random_ctx, &c->kst, msg,
                                      sizeof msg);
    if (n < 0) return fail(c, KMSC_F_LOCAL, n, D_ENCODE);
    int ctx = use64 ? c->ndr64_ctx : c->ndr32_ctx;
    int pn = rpc_client_encode_request(c->call_id, (uint16_t)ctx, c->syntax, msg, (size_t)n,
                                       c->out, sizeof c->out);
    if (pn < 0) return fail(c, KMSC_F_LOCAL, pn, D_ENCODE);
    c->out_len = (size_t)pn;
    return KMSC_SEND;
}

int kmsc_start(kmsc *c, const kmsc_params *p)
{
    memset(c, 0, sizeof *c);
    c->state = ST_BIND;
    c->ndr32_ctx = c->ndr64_ctx = -1;
    c->syntax = RPC_SYNTAX_NONE;
    c->verify = p->verify;
    c->requests = p->requests > 0 ? p->requests : 1;
    c->random = p->random;
    c->random_ctx = p->random_ctx;
    if (p->protocol < 4 || p->protocol > 6) return fail(c, KMSC_F_LOCAL, KMS_EVERSION, D_ENCODE);
    kms_request *r = &c->req;
    r->version_major = (uint16_t)p->protocol;
    r->vm_info = p->vm;
    r->license_status = p->license_status;
    r->binding_expiration = p->binding_expiration;
    r->app_id = p->app_id;
    r->sku_id = p->sku_id;
    r->kms_id = p->kms_id;
    r->cmid = p->cmid;
    r->previous_cmid = p->previous_cmid;
    r->required_count = p->n_policy;
    r->client_time = p->client_time;
    kms_request_set_workstation(r, p->workstation ? p->workstation : "");
    c->offer = (rpc_bind_offer){.ndr32 = true, .ndr64 = p->ndr64, .btfn = p->btfn,
                                .conc_mpx = true};
    return make_bind(c, RPC_PT_BIND, &c->offer);
}

const uint8_t *kmsc_output(const kmsc *c, size_t *len)
{
    *len = c->out_len;
    return c->out;
}

uint8_t *kmsc_input(kmsc *c, size_t *cap)
{
    int st = state_of(c);
    *cap = st == ST_DONE || st == ST_FAILED ? 0 : sizeof c->in - c->in_len;
    return c->in + c->in_len;
}

static uint32_t fault_status_of(const uint8_t *pdu, size_t len)
{
    rcursor rc = rc_init(pdu, len);
    rc_skip(&rc, 24);
    uint32_t st = rc_u32(&rc);
    return rc.err ? 0 : st;
}

static int on_bind_answer(kmsc *c, const uint8_t *pdu, size_t len, const rpc_header *h)
{
    bool alter = state_of(c) == ST_ALTER;
    if (h->ptype == RPC_PT_BIND_NAK) return fail(c, KMSC_F_PROTOCOL, KMS_EPROTO, D_BIND_NAK);
    if (h->ptype == RPC_PT_FAULT) {
        c->fault_status = fault_status_of(pdu, len);
        return fail(c, KMSC_F_FAULT, KMS_EFAULT, D_BIND_FAULT);
    }
    static const rpc_bind_offer alter_offer = {.ndr32 = true, .conc_mpx = true};
    rpc_bind_result br;
    memset(&br, 0, sizeof br);
    int r = rpc_client_parse_bind_ack(pdu, len, KMSC_CALL_ID, alter ? &alter_offer : &c->offer,
                                      &br);
    if (r < 0) {
        c->bad_ptype = h->ptype;
        return fail(c, KMSC_F_PROTOCOL, r, D_BAD_ACK);
    }
    if (!alter) {
        c->ndr32_ctx = br.ndr32_ctx;
        c->ndr64_ctx = c->offer.ndr64 ? br.ndr64_ctx : -1;
        if (c->ndr32_ctx < 0) {
            /* A Windows 8+ host refuses NDR32 when NDR64 is offered (spec 2.4): a Windows
             * client asks again for NDR32 alone and sends its first request over it. */
            c->state = ST_ALTER;
            return make_bind(c, RPC_PT_ALTER_CONTEXT, &alter_offer);
        }
    } else if (br.ndr32_ctx >= 0) {
        c->ndr32_ctx = br.ndr32_ctx;
    }
    if (c->ndr32_ctx < 0 && c->ndr64_ctx < 0)
        return fail(c, KMSC_F_PROTOCOL, KMS_EPROTO, D_NO_CONTEXT);
    return make_request(c);
}

static int on_response(kmsc *c, const uint8_t *pdu, size_t len)
{
    bool use64 = c->syntax == RPC_SYNTAX_NDR64;
    int ctx = use64 ? c->ndr64_ctx : c->ndr32_ctx;
    const uint8_t *msg = NULL;
    size_t msg_len = 0;
    uint32_t hresult = 0, fstatus = 0;
    int r = rpc_client_parse_response(pdu, len, c->call_id, (uint16_t)ctx, c->syntax, &msg,
                                      &msg_len, &hresult, &fstatus);
    if (r == KMS_EFAULT) {
        c->fault_status = fstatus;
        return fail(c, KMSC_F_FAULT, KMS_EFAULT, D_FAULT);
    }
    if (r < 0) return fail(c, KMSC_F_PROTOCOL, r, D_BAD_RESPONSE);
    if (hresult != 0) {
        c->hresult = hresult;
        return fail(c, KMSC_F_HRESULT, KMS_EREFUSED, D_HRESULT);
    }
    if (c->verify) {
        kms_response resp;
        memset(&resp, 0, sizeof resp);
        r = kms_client_decode_response(&c->kst, msg, msg_len, &resp);
        if (r < 0) return fail(c, KMSC_F_VERIFY, r, D_VERIFY);
        /* Belt and braces over the decoder: the host must echo our CMID and count us. */
        if (!kms_guid_equal(&resp.cmid, &c->req.cmid))
            return fail(c, KMSC_F_VERIFY, KMS_EECHO, D_ECHO);
        if (resp.count == 0) return fail(c, KMSC_F_VERIFY, KMS_EINVAL, D_COUNT_ZERO);
        char epid[sizeof c->epid];
        r = kms_response_get_epid(&resp, epid, sizeof epid);
        if (r < 0) return fail(c, KMSC_F_VERIFY, r, D_VERIFY);
        c->response = resp;
        memcpy(c->epid, epid, sizeof c->epid);
    }
    c->requests_done++;
    if (c->requests_done >= c->requests) {
        c->state = ST_DONE;
        return KMSC_DONE;
    }
    return make_request(c);
}

int kmsc_received(kmsc *c, size_t n)
{
    int st = state_of(c);
    if (st == ST_DONE) return KMSC_DONE;
    if (st == ST_FAILED) return KMSC_FAILED;
    if (n > sizeof c->in - c->in_len) n = sizeof c->in - c->in_len;
    c->in_len += n;
    rpc_header h;
    int len = rpc_frame(c->in, c->in_len, sizeof c->in, &h);
    if (len == KMS_ETOOBIG) return fail(c, KMSC_F_PROTOCOL, KMS_ETOOBIG, D_TOOBIG);
    if (len < 0) return fail(c, KMSC_F_PROTOCOL, len, D_MALFORMED);
    if (len == 0) return KMSC_RECV;
    /* Lock-step: nothing may follow the PDU answering ours. */
    if (c->in_len > (size_t)len) return fail(c, KMSC_F_PROTOCOL, KMS_EPROTO, D_EXTRA);
    c->in_len = 0;
    if (st == ST_REQUEST) return on_response(c, c->in, (size_t)len);
    return on_bind_answer(c, c->in, (size_t)len, &h);
}

int kmsc_feed(kmsc *c, const uint8_t *data, size_t len)
{
    int st = state_of(c);
    if (st == ST_DONE) return len ? fail(c, KMSC_F_PROTOCOL, KMS_EPROTO, D_EXTRA) : KMSC_DONE;
    if (st == ST_FAILED) return KMSC_FAILED;
    int r = KMSC_RECV;
    while (len > 0) {
        if (r != KMSC_RECV) return fail(c, KMSC_F_PROTOCOL, KMS_EPROTO, D_EXTRA);
        size_t cap;
        uint8_t *in = kmsc_input(c, &cap);
        if (cap == 0) return fail(c, KMSC_F_PROTOCOL, KMS_ETOOBIG, D_TOOBIG);
        size_t n = len < cap ? len : cap;
        memcpy(in, data, n);
        data += n;
        len -= n;
        r = kmsc_received(c, n);
    }
    return r;
}

/* ------------------------------------------------------------------ names */

static const char *step_name(int step, int index, bool awaited, char *buf, size_t cap)
{
    switch (step) {
    case ST_BIND: return awaited ? "bind_ack" : "bind";
    case ST_ALTER: return awaited ? "alter_context_resp" : "alter_context";
    case ST_REQUEST:
        snprintf(buf, cap, awaited ? "the response to request %d" : "request %d", index + 1);
        return buf;
    default: return "nothing";
    }
}

const char *kmsc_awaited(const kmsc *c, char *buf, size_t cap)
{
    int st = state_of(c) == ST_FAILED ? (c->state >> 16) & 0xff : state_of(c);
    return step_name(st, c->requests_done, true, buf, cap);
}

const char *kmsc_sent(const kmsc *c, char *buf, size_t cap)
{
    int st = state_of(c) == ST_FAILED ? (c->state >> 16) & 0xff : state_of(c);
    return step_name(st, c->requests_done, false, buf, cap);
}

const char *kmsc_hresult_name(uint32_t hr)
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

const char *kmsc_fault_name(uint32_t status)
{
    switch (status) {
    case RPC_NCA_UNK_IF: return "nca_unk_if";
    case RPC_NCA_OP_RNG_ERROR: return "nca_op_rng_error";
    case RPC_NCA_PROTO_ERROR: return "nca_proto_error";
    default: return "unknown fault status";
    }
}

const char *kmsc_describe(const kmsc *c, const char *peer, char *out, size_t cap)
{
    if (!peer) peer = "the host";
    char a[48], s[32];
    const char *awaited = kmsc_awaited(c, a, sizeof a), *sent = kmsc_sent(c, s, sizeof s);
    int detail = state_of(c) == ST_FAILED ? (c->state >> 8) & 0xff : D_NONE;
    switch (detail) {
    case D_ENCODE:
        snprintf(out, cap, "cannot encode the %s: %s", sent, kms_strerror(c->error));
        break;
    case D_MALFORMED:
        snprintf(out, cap, "malformed PDU from %s while waiting for %s: %s", peer, awaited,
                 kms_strerror(c->error));
        break;
    case D_TOOBIG:
        snprintf(out, cap, "PDU from %s too large while waiting for %s", peer, awaited);
        break;
    case D_EXTRA:
        snprintf(out, cap, "unexpected bytes from %s after %s", peer, awaited);
        break;
    case D_BIND_NAK:
        snprintf(out, cap, "KMS host %s rejected the %s (bind_nak)", peer, sent);
        break;
    case D_BIND_FAULT:
        snprintf(out, cap, "RPC fault 0x%08X (%s) in answer to the %s", c->fault_status,
                 kmsc_fault_name(c->fault_status), sent);
        break;
    case D_BAD_ACK:
        snprintf(out, cap, "bad %s from %s (ptype %u): %s", awaited, peer, c->bad_ptype,
                 kms_strerror(c->error));
        break;
    case D_NO_CONTEXT:
        snprintf(out, cap, "KMS host %s accepted neither NDR32 nor NDR64", peer);
        break;
    case D_FAULT:
        snprintf(out, cap, "RPC fault 0x%08X (%s)", c->fault_status,
                 kmsc_fault_name(c->fault_status));
        break;
    case D_BAD_RESPONSE:
        snprintf(out, cap, "bad response to request %d from %s: %s", c->requests_done + 1, peer,
                 kms_strerror(c->error));
        break;
    case D_HRESULT:
        snprintf(out, cap, "KMS host refused the request: 0x%08X (%s)", c->hresult,
                 kmsc_hresult_name(c->hresult));
        break;
    case D_VERIFY:
        snprintf(out, cap, "response failed verification: %s", kms_strerror(c->error));
        break;
    case D_ECHO:
        snprintf(out, cap, "response failed verification: CMID not echoed");
        break;
    case D_COUNT_ZERO:
        snprintf(out, cap, "response failed verification: current count is 0 (a host counts "
                           "the requesting client)");
        break;
    default:
        snprintf(out, cap, "%s", state_of(c) == ST_DONE ? "done" : "in progress");
        break;
    }
    return out;
}
