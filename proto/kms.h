/* kms.h: KMS request/response messages of protocol versions 4, 5 and 6 (spec sections 3
 * and 4), server and client side. Buffers in, structs or error codes out; randomness
 * comes only through the caller's kms_random_fn. */
#ifndef KMSHA_KMS_H
#define KMSHA_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/crypto.h"
#include "proto/guid.h"

#define KMS_REQUEST_BODY_LEN 236   /* spec 3.1 */
#define KMS_V4_REQUEST_LEN 252
#define KMS_V56_REQUEST_LEN 260
#define KMS_EPID_MAX_BYTES 128     /* P, UTF-16LE incl. NUL */
#define KMS_RESPONSE_MAX_LEN 320   /* enough for every version with P = 128 */
#define KMS_WORKSTATION_WCHARS 64

/* HRESULTs a host returns in the RPC stub (spec 8). */
#define KMS_HR_OK 0x00000000u
#define KMS_HR_INVALID_DATA 0x8007000Du
#define KMS_HR_KMS_ID_MISMATCH 0xC004F042u
#define KMS_HR_INVALID_TIMESTAMP 0xC004F06Cu
#define KMS_HR_NOT_ENOUGH_COUNT 0xC004F038u /* client-side only */

/* The 236-byte request body, decoded (spec 3.1). */
typedef struct kms_request {
    uint16_t version_minor;
    uint16_t version_major;
    uint32_t vm_info;            /* 0 physical, 1 virtual machine */
    uint32_t license_status;     /* 0..6 */
    uint32_t binding_expiration; /* minutes */
    kms_guid app_id;
    kms_guid sku_id;
    kms_guid kms_id;
    kms_guid cmid;
    uint32_t required_count;     /* N policy */
    uint64_t client_time;        /* FILETIME */
    kms_guid previous_cmid;
    uint16_t workstation[KMS_WORKSTATION_WCHARS]; /* raw UTF-16 code units as sent */
} kms_request;

/* The response body (spec 3.2) plus the v6 HWID. */
typedef struct kms_response {
    uint16_t version_minor;
    uint16_t version_major;
    uint32_t epid_size;                  /* bytes incl. the UTF-16 NUL, <= 128 */
    uint8_t epid[KMS_EPID_MAX_BYTES];    /* UTF-16LE */
    kms_guid cmid;
    uint64_t client_time;
    uint32_t count;
    uint32_t activation_interval;        /* minutes */
    uint32_t renewal_interval;           /* minutes */
    uint8_t hwid[8];                     /* v6 only */
} kms_response;

/* What the server keeps between decoding a request and encoding its response. */
typedef struct kms_server_state {
    uint16_t version_major, version_minor;
    uint8_t ivq[16]; /* v5/v6 request IV */
    uint8_t sq[16];  /* v5/v6 request salt D_K(IVq) */
    uint64_t client_time;
} kms_server_state;

/* What the client keeps between encoding a request and verifying its response. */
typedef struct kms_client_state {
    uint16_t version_major, version_minor;
    uint8_t ivq[16];
    uint8_t sq[16];
    kms_guid cmid;
    uint64_t client_time;
} kms_client_state;

/* --- server side --- */

/* Decodes a KMS request message (the stub's byte array). Trailing bytes beyond the
 * version's length are tolerated. Returns 0; KMS_EVERSION for a version other than
 * 4.0/5.0/6.0, KMS_ETRUNC when shorter than the version needs, KMS_EMAC for a bad v4
 * MAC, KMS_EPAD for bad v5/v6 padding (all answered with 0x8007000D by a host). */
int kms_server_decode_request(const uint8_t *msg, size_t len, kms_request *req,
                              kms_server_state *st);

/* Encodes the response for st's version. resp->cmid/client_time/version should echo the
 * request (the function takes them from resp). Random bytes: v5 draws R (16); v6 draws R
 * (16) then Ss (16), and Ss again while IVs == IVq. Returns the message length (> 0), or
 * KMS_ESPACE / KMS_EEPID / KMS_ERANDOM / KMS_ECRYPTO. */
int kms_server_encode_response(const kms_server_state *st, const kms_response *resp,
                               kms_random_fn rnd, void *rnd_ctx, uint8_t *out, size_t cap);

/* --- client side --- */

/* Encodes a request message for req->version_major (4, 5 or 6). v5/v6 draw IVq (16) from
 * rnd. Fills st for kms_client_decode_response. Returns the length (> 0) or < 0. */
int kms_client_encode_request(const kms_request *req, kms_random_fn rnd, void *rnd_ctx,
                              kms_client_state *st, uint8_t *out, size_t cap);

/* Decodes and fully verifies a response (spec 4.9: MAC4 / padding / hash / IV rule /
 * XoredIVs / HMAC, version, CMID and time echo, ePID length, exact size). Returns 0 or
 * KMS_EMAC, KMS_EPAD, KMS_EHASH, KMS_EECHO, KMS_EEPID, KMS_ETRUNC, KMS_EVERSION. */
int kms_client_decode_response(const kms_client_state *st, const uint8_t *msg, size_t len,
                               kms_response *resp);

/* --- helpers --- */

/* Unix seconds <-> FILETIME. */
uint64_t kms_filetime_from_unix(int64_t unix_seconds);
int64_t kms_filetime_to_unix(uint64_t filetime);
/* ASCII ePID -> UTF-16LE with NUL into resp->epid/epid_size. Returns 0 or KMS_EEPID. */
int kms_response_set_epid(kms_response *resp, const char *epid);
/* UTF-16LE ePID -> ASCII (out >= 65 bytes). Returns 0 or KMS_EEPID. */
int kms_response_get_epid(const kms_response *resp, char *out, size_t cap);
/* Workstation name as UTF-8, bounded to 64 UTF-16 units and sanitised for logs (control
 * characters and quotes replaced by '?'). Returns the string length. */
size_t kms_request_workstation(const kms_request *req, char *out, size_t cap);
/* Sets the workstation from UTF-8 (ASCII is enough for tests and tools). */
void kms_request_set_workstation(kms_request *req, const char *name);

#endif
