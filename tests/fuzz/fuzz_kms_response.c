/* fuzz_kms_response.c: libFuzzer target for the client's KMS response decoder. Arbitrary
 * bytes are checked against a fixed client state per protocol version (the requests of
 * vectors 01 (v4), 04 (v5) and 06 (v6), whose captured responses seed the corpus). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proto/kms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    uint16_t major;
    uint8_t ivq[16];
    const char *cmid;
    uint64_t time;
} fixed[3] = {
    {4, {0}, "a1a1a1a1-0001-4000-8000-000000000001", UINT64_C(134398490050000000)},
    {5, {0x13, 0xc7, 0xa3, 0x37, 0x72, 0x7d, 0x1d, 0xaa, 0x68, 0xf1, 0x5c, 0x9b, 0x5f, 0x12, 0xf1, 0x64},
     "a1a1a1a1-0004-4000-8000-000000000004", UINT64_C(134398490060000000)},
    {6, {0x46, 0xfa, 0x0b, 0xb5, 0x48, 0x70, 0x3d, 0x2e, 0x82, 0xa4, 0x75, 0xba, 0xf8, 0xfa, 0x89, 0xc9},
     "a1a1a1a1-0006-4000-8000-000000000006", UINT64_C(134398490070000000)},
};

static void make_state(int i, kms_client_state *st)
{
    memset(st, 0, sizeof *st);
    st->version_major = fixed[i].major;
    st->version_minor = 0;
    memcpy(st->ivq, fixed[i].ivq, 16);
    if (fixed[i].major != 4) {
        kms_cipher k;
        kms_cipher_init(&k, (kms_cipher_kind)fixed[i].major);
        kms_cipher_decrypt_block(&k, st->ivq, st->sq);
    }
    if (kms_guid_parse(fixed[i].cmid, &st->cmid)) abort();
    st->client_time = fixed[i].time;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Pick the state by the message's major version so every version gets deep inputs;
     * anything else goes to the v6 state (and fails the version check). */
    int which = 2;
    if (size >= 4 && data[2] >= 4 && data[2] <= 6 && data[3] == 0) which = data[2] - 4;
    kms_client_state st;
    make_state(which, &st);
    kms_response resp;
    int rc = kms_client_decode_response(&st, data, size, &resp);
    if (rc > 0) abort();
    if (rc == 0) {
        char epid[KMS_EPID_MAX_BYTES / 2 + 1];
        if (kms_response_get_epid(&resp, epid, sizeof epid) != 0) abort();
        if (resp.version_major != st.version_major || resp.client_time != st.client_time ||
            !kms_guid_equal(&resp.cmid, &st.cmid))
            abort();
    }
    return 0;
}
