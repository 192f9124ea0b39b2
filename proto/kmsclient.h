/* kmsclient.h: one KMS activation as a Windows client performs it, as a pure state machine
 * (no I/O, no clock): bind offering NDR32 (+ NDR64, + BTFN), alter_context asking for NDR32
 * alone when the host refused it (a Windows 8+ host does), then one or more requests, the
 * first over NDR32 and later ones over NDR64 when granted, each response checked (RPC,
 * HRESULT) and, unless told otherwise, fully verified (proto/kms.h's client side, CMID echo,
 * count >= 1, ePID). The driver owns the socket: it sends kmsc_output() whenever a step
 * returns KMSC_SEND and hands every byte it receives to the machine. kmsctl drives it over
 * a blocking socket (ops/kmsctl/client.c), kmsbench over thousands of non-blocking ones.
 *
 *     kmsc c;  int st = kmsc_start(&c, &params);
 *     while (st == KMSC_SEND || st == KMSC_RECV) {
 *         if (st == KMSC_SEND) send kmsc_output(&c, &len), st = KMSC_RECV;
 *         else { recv into kmsc_input(&c, &cap); st = kmsc_received(&c, n); }
 *     }
 *     st == KMSC_DONE: c.response / c.epid hold the last verified answer;
 *     st == KMSC_FAILED: c.failure, c.error (+ c.hresult / c.fault_status), kmsc_describe().
 *
 * The exchange is lock-step: the host sends exactly one PDU per PDU of the client, so a
 * byte beyond it is a protocol error. */
#ifndef KMSHA_KMSCLIENT_H
#define KMSHA_KMSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/kms.h"
#include "proto/rpc.h"

#define KMSC_CALL_ID 2       /* Windows and vlmcs: bind, alter_context and request 1 use 2 */
#define KMSC_IN_MAX 1024     /* largest PDU accepted from a host (a KMS answer is < 400) */
#define KMSC_OUT_MAX 512     /* largest PDU the client sends */

/* What the activation is: the request's fields, what the bind offers, how many requests. */
typedef struct kmsc_params {
    int protocol;                    /* 4, 5 or 6 */
    kms_guid app_id, sku_id, kms_id; /* the product */
    kms_guid cmid, previous_cmid;
    uint16_t n_policy;               /* required count (N) sent in the request */
    uint32_t license_status, vm, binding_expiration;
    const char *workstation;         /* copied into the request at kmsc_start (NULL = "") */
    uint64_t client_time;            /* FILETIME of the client's clock */
    bool ndr64, btfn;                /* offered in the bind besides NDR32 */
    int requests;                    /* requests on the connection (<= 0: 1) */
    bool verify;                     /* decode and verify responses (false: RPC + HRESULT) */
    kms_random_fn random;            /* IVs of v5/v6 requests */
    void *random_ctx;
} kmsc_params;

/* Step results. */
enum { KMSC_SEND = 1, KMSC_RECV, KMSC_DONE, KMSC_FAILED };

/* Why an activation failed, in the terms a load generator counts them. */
typedef enum kmsc_failure {
    KMSC_F_NONE = 0,
    KMSC_F_FAULT,     /* the host answered with an RPC fault (fault_status) */
    KMSC_F_HRESULT,   /* the host refused the activation (hresult) */
    KMSC_F_PROTOCOL,  /* malformed or unexpected PDU, bind_nak, no usable context */
    KMSC_F_VERIFY,    /* the response failed verification (MAC, HMAC, echo, count 0, ePID) */
    KMSC_F_LOCAL,     /* the client could not encode its own PDU */
} kmsc_failure;

typedef struct kmsc {
    /* ---- result (read them) ---- */
    kmsc_failure failure;
    int error;                 /* KMS_E* with failure (KMS_EFAULT, KMS_EREFUSED, ...) */
    uint32_t hresult;          /* KMSC_F_HRESULT */
    uint32_t fault_status;     /* KMSC_F_FAULT */
    uint8_t bad_ptype;         /* ptype of the PDU that failed parsing (0: none) */
    int requests_done;         /* responses accepted */
    rpc_syntax syntax;         /* transfer syntax of the last request */
    kms_response response;     /* the last verified response (verify only) */
    char epid[KMS_EPID_MAX_BYTES / 2 + 1]; /* its ePID, ASCII (verify only) */
    /* ---- internal ---- */
    int state;
    bool verify;
    int requests;
    uint32_t call_id;
    int ndr32_ctx, ndr64_ctx;
    rpc_bind_offer offer;
    kms_request req;
    kms_client_state kst;
    kms_random_fn random;
    void *random_ctx;
    size_t out_len, in_len;
    uint8_t out[KMSC_OUT_MAX];
    uint8_t in[KMSC_IN_MAX];
} kmsc;

/* Prepares the bind. Returns KMSC_SEND, or KMSC_FAILED (bad protocol, encoding failure). */
int kmsc_start(kmsc *c, const kmsc_params *p);
/* The PDU to send now (after a step returned KMSC_SEND); *len is set. */
const uint8_t *kmsc_output(const kmsc *c, size_t *len);
/* Where to receive the next bytes: *cap bytes are free (0 only after a final state). */
uint8_t *kmsc_input(kmsc *c, size_t *cap);
/* n bytes were written at kmsc_input(). Returns KMSC_RECV (a whole PDU is not there yet),
 * KMSC_SEND (the answer was taken, the next PDU is ready), KMSC_DONE or KMSC_FAILED. */
int kmsc_received(kmsc *c, size_t n);
/* Copies len received bytes in (any split) and steps: kmsc_received for callers holding
 * their own buffer (tests, fuzzing). */
int kmsc_feed(kmsc *c, const uint8_t *data, size_t len);
/* The PDU the machine waits for ("bind_ack", "alter_context_resp", "the response to
 * request 2") and the one it last produced ("bind", "alter_context", "request 2"). */
const char *kmsc_awaited(const kmsc *c, char *buf, size_t cap);
const char *kmsc_sent(const kmsc *c, char *buf, size_t cap);
/* One line for people saying why it failed; peer names the host in it. Returns out. */
const char *kmsc_describe(const kmsc *c, const char *peer, char *out, size_t cap);
/* The name of an HRESULT a KMS host answers with, or of an RPC fault status. */
const char *kmsc_hresult_name(uint32_t hresult);
const char *kmsc_fault_name(uint32_t status);

#endif
