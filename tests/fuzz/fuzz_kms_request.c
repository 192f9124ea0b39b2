/* fuzz_kms_request.c: libFuzzer target for the server's KMS request decoder. Arbitrary
 * bytes in; whatever decodes must re-encode to the same leading bytes with the client
 * encoder (given the decoded IVq), and the server's answer to it must satisfy the client. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proto/kms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Hands out the IVq the server decoded, so the client re-encoding is deterministic. */
static int ivq_random(void *ctx, uint8_t *buf, size_t len)
{
    const kms_server_state *st = ctx;
    if (len != sizeof st->ivq) return -1;
    memcpy(buf, st->ivq, len);
    return 0;
}

/* Deterministic R and Ss for the server's response. */
static int counter_random(void *ctx, uint8_t *buf, size_t len)
{
    uint8_t *ctr = ctx;
    for (size_t i = 0; i < len; i++) buf[i] = (*ctr)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kms_request req;
    kms_server_state st;
    if (kms_server_decode_request(data, size, &req, &st) != 0) return 0;

    char ws[4 * KMS_WORKSTATION_WCHARS + 1];
    size_t n = kms_request_workstation(&req, ws, sizeof ws);
    if (n != strlen(ws)) abort();

    kms_client_state cst;
    uint8_t again[KMS_V56_REQUEST_LEN];
    int m = kms_client_encode_request(&req, ivq_random, &st, &cst, again, sizeof again);
    if (m <= 0 || (size_t)m > size || memcmp(again, data, (size_t)m) != 0) abort();

    kms_response resp;
    memset(&resp, 0, sizeof resp);
    resp.version_major = req.version_major;
    resp.version_minor = req.version_minor;
    if (kms_response_set_epid(&resp, "03612-00206-556-123727-03-1033-17763.0000-2972018")) abort();
    resp.cmid = req.cmid;
    resp.client_time = req.client_time;
    resp.count = 50;
    resp.activation_interval = 120;
    resp.renewal_interval = 10080;
    uint8_t ctr = data[size - 1];
    uint8_t out[KMS_RESPONSE_MAX_LEN];
    int len = kms_server_encode_response(&st, &resp, counter_random, &ctr, out, sizeof out);
    if (len <= 0) abort();
    kms_response got;
    if (kms_client_decode_response(&cst, out, (size_t)len, &got) != 0) abort();
    if (got.count != 50 || !kms_guid_equal(&got.cmid, &req.cmid)) abort();
    return 0;
}
