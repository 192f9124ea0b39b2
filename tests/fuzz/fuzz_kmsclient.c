/* fuzz_kmsclient.c: libFuzzer target for the client activation state machine
 * (proto/kmsclient.h), which parses whatever a host sends. The first input byte chooses the
 * protocol (4 + b % 3) and one or two requests (bit 2); the rest is the host's byte stream,
 * fed one byte at a time so every split of every answer is taken. The client's parameters
 * and random bytes are fixed, so the seed corpus holds real, verifying exchanges (made by a
 * real server side) next to broken ones. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kmsclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fixed_random(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *x = ctx;
    for (size_t i = 0; i < len; i++) {
        *x = *x * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(*x >> 56);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint64_t rng = 0x6b6d73636c69656eull;
    kmsc_params p;
    memset(&p, 0, sizeof p);
    p.protocol = 4 + data[0] % 3;
    p.requests = 1 + ((data[0] >> 2) & 1);
    for (int i = 0; i < 16; i++) {
        p.app_id.b[i] = (uint8_t)(0x55 + i);
        p.kms_id.b[i] = (uint8_t)(0x2d + i);
        p.sku_id.b[i] = (uint8_t)(0x58 + i);
        p.cmid.b[i] = (uint8_t)(0xa1 + i);
    }
    p.n_policy = 25;
    p.license_status = 2;
    p.binding_expiration = 43200;
    p.workstation = "fuzz";
    p.client_time = UINT64_C(134398490070000000);
    p.ndr64 = p.btfn = true;
    p.verify = true;
    p.random = fixed_random;
    p.random_ctx = &rng;
    kmsc c;
    int st = kmsc_start(&c, &p);
    size_t off = 1;
    int sends = 0;
    while (st == KMSC_SEND || st == KMSC_RECV) {
        if (st == KMSC_SEND) {
            size_t len;
            const uint8_t *out = kmsc_output(&c, &len);
            if (len == 0 || len > KMSC_OUT_MAX || out[0] != 5) abort();
            if (++sends > 2 + p.requests) abort(); /* bind, alter, requests: no more */
            st = KMSC_RECV;
            continue;
        }
        if (off >= size) break;
        st = kmsc_feed(&c, data + off, 1);
        off++;
    }
    char line[256];
    kmsc_describe(&c, "fuzz", line, sizeof line);
    if (st == KMSC_DONE) {
        if (c.requests_done != p.requests || c.failure != KMSC_F_NONE) abort();
        if (!kms_guid_equal(&c.response.cmid, &p.cmid) || c.response.count == 0) abort();
        /* bytes after the last answer are a protocol error */
        if (off < size && kmsc_feed(&c, data + off, size - off) != KMSC_FAILED) abort();
    } else if (st == KMSC_FAILED) {
        if (c.failure == KMSC_F_NONE || c.error >= 0) abort();
    }
    return 0;
}
