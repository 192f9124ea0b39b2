/* test_kms.c: the KMS message codec against every exchange of vectors/flat-kms.json,
 * server side (decode request, re-create the captured response with the recorded random
 * values) and client side (re-encode the request, verify the response, reject every
 * single-byte corruption), plus negative cases and the ePID / workstation helpers. */
#include <stdlib.h>
#include <string.h>
#include "proto/errors.h"
#include "proto/kms.h"
#include "tests/testutil.h"

static void check_guid(const kms_guid *g, json_t *obj, const char *key)
{
    char text[KMS_GUID_STRLEN];
    kms_guid_format(g, text);
    CHECKF(strcmp(text, tu_str(obj, key)) == 0, "%s: got %s, expected %s", key, text,
           tu_str(obj, key));
}

static size_t unhex_into(const char *hex, uint8_t *out, size_t cap)
{
    long n = tu_unhex(hex, out, cap);
    CHECKF(n >= 0, "bad hex (%zu chars)", strlen(hex));
    return n < 0 ? 0 : (size_t)n;
}

/* (a) the server's decode of request_hex yields request_fields. */
static void check_request_fields(const char *name, const kms_request *r, json_t *rf)
{
    CHECKF((long long)r->version_major == tu_int(rf, "version_major"), "%s major", name);
    CHECKF((long long)r->version_minor == tu_int(rf, "version_minor"), "%s minor", name);
    CHECKF((long long)r->vm_info == tu_int(rf, "vm_info"), "%s vm", name);
    CHECKF((long long)r->license_status == tu_int(rf, "license_status"), "%s status", name);
    CHECKF((long long)r->binding_expiration == tu_int(rf, "binding_expiration_min"), "%s exp", name);
    check_guid(&r->app_id, rf, "application_id");
    check_guid(&r->sku_id, rf, "sku_id");
    check_guid(&r->kms_id, rf, "kms_counted_id");
    check_guid(&r->cmid, rf, "cmid");
    check_guid(&r->previous_cmid, rf, "previous_cmid");
    CHECKF((long long)r->required_count == tu_int(rf, "required_client_count"), "%s N", name);
    CHECKF((long long)r->client_time == tu_int(rf, "client_time_filetime"), "%s time", name);
    char ws[256];
    kms_request_workstation(r, ws, sizeof ws);
    CHECKF(strcmp(ws, tu_str(rf, "workstation_name")) == 0, "%s workstation '%s' vs '%s'", name,
           ws, tu_str(rf, "workstation_name"));
}

static void check_response_fields(const char *name, const kms_response *r, json_t *f)
{
    CHECKF((long long)r->version_major == tu_int(f, "version_major"), "%s major", name);
    CHECKF((long long)r->version_minor == tu_int(f, "version_minor"), "%s minor", name);
    CHECKF((long long)r->epid_size == tu_int(f, "epid_size_bytes"), "%s P", name);
    char epid[80];
    CHECK_EQ_INT(kms_response_get_epid(r, epid, sizeof epid), 0);
    CHECKF(strcmp(epid, tu_str(f, "epid")) == 0, "%s epid %s", name, epid);
    check_guid(&r->cmid, f, "cmid");
    CHECKF((long long)r->client_time == tu_int(f, "client_time_filetime"), "%s time", name);
    CHECKF((long long)r->count == tu_int(f, "current_count"), "%s count", name);
    CHECKF((long long)r->activation_interval == tu_int(f, "vl_activation_interval_min"), "%s ai", name);
    CHECKF((long long)r->renewal_interval == tu_int(f, "vl_renewal_interval_min"), "%s ri", name);
}

/* Builds the server's response inputs from server_inputs and the decoded request. */
static void response_from_inputs(const kms_request *req, json_t *si, kms_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->version_major = req->version_major;
    resp->version_minor = req->version_minor;
    CHECK_EQ_INT(kms_response_set_epid(resp, tu_str(si, "epid")), 0);
    resp->cmid = req->cmid;
    resp->client_time = req->client_time;
    resp->count = (uint32_t)tu_int(si, "current_count");
    resp->activation_interval = (uint32_t)tu_int(si, "vl_activation_interval_min");
    resp->renewal_interval = (uint32_t)tu_int(si, "vl_renewal_interval_min");
    json_t *hw = json_object_get(si, "hwid_hex");
    if (json_is_string(hw)) CHECK(tu_unhex(json_string_value(hw), resp->hwid, 8) == 8);
}

static void push_server_random(tu_random *rng, json_t *si)
{
    uint8_t b[16];
    json_t *r = json_object_get(si, "random_r_hex");
    json_t *s = json_object_get(si, "response_salt_hex");
    if (json_is_string(r) && tu_unhex(json_string_value(r), b, 16) == 16) tu_random_push(rng, b, 16);
    if (json_is_string(s) && tu_unhex(json_string_value(s), b, 16) == 16) tu_random_push(rng, b, 16);
}

static int flip_rejections, flip_positions;

static void check_exchange(json_t *e)
{
    char name[128];
    snprintf(name, sizeof name, "%s#%lld", tu_str(e, "vector"), tu_int(e, "exchange"));
    uint8_t reqb[512], respb[512];
    size_t req_len = unhex_into(tu_str(e, "request_hex"), reqb, sizeof reqb);
    json_t *rf = json_object_get(e, "request_fields");
    json_t *jresp = json_object_get(e, "response_hex");
    json_t *si = json_object_get(e, "server_inputs");
    const char *ver = tu_str(e, "kms_version");

    kms_request req;
    kms_server_state sst;
    int rc = kms_server_decode_request(reqb, req_len, &req, &sst);
    if (strcmp(ver, "4.0") && strcmp(ver, "5.0") && strcmp(ver, "6.0")) {
        /* Unsupported version (run 25, 7.0): a host answers 0x8007000D. */
        CHECKF(rc == KMS_EVERSION, "%s: rc %d", name, rc);
        CHECK(!json_is_object(rf));
        CHECK_EQ_INT(json_is_string(jresp), 0);
        return;
    }
    CHECKF(rc == 0, "%s: decode request rc %d (%s)", name, rc, kms_strerror(rc));
    if (rc) return;
    CHECK(json_is_object(rf));
    if (!json_is_object(rf)) return;
    check_request_fields(name, &req, rf);
    CHECK_EQ_INT(sst.version_major, req.version_major);
    CHECK_EQ_INT(sst.client_time, req.client_time);
    size_t m = req.version_major == 4 ? KMS_V4_REQUEST_LEN : KMS_V56_REQUEST_LEN;
    uint8_t ivq[16] = {0};
    if (req.version_major != 4) {
        uint8_t sq[16];
        unhex_into(tu_str(e, "request_iv_hex"), ivq, 16);
        unhex_into(tu_str(e, "request_salt_Sq_hex"), sq, 16);
        CHECK_MEM(sst.ivq, ivq, 16);
        CHECK_MEM(sst.sq, sq, 16);
    }

    /* (c, first half) the client re-encodes the same request bytes from the fields. */
    tu_random crng = {0};
    tu_random_push(&crng, ivq, 16);
    kms_client_state cst;
    uint8_t again[KMS_V56_REQUEST_LEN];
    int n = kms_client_encode_request(&req, tu_random_fn, &crng, &cst, again, sizeof again);
    CHECKF(n == (int)m, "%s: client encode %d", name, n);
    CHECK(req_len >= m);
    if (n == (int)m && req_len >= m) CHECK_MEM(again, reqb, m);
    CHECK_EQ_INT(crng.pos, req.version_major == 4 ? 0 : 16);
    CHECK_MEM(cst.sq, sst.sq, 16);

    if (!json_is_string(jresp)) {
        /* Refusals (runs 21, 26) carry an HRESULT and no KMS response. */
        CHECKF(strcmp(tu_str(e, "rpc_return_code"), "0x00000000") != 0, "%s: no response", name);
        CHECK(!json_is_object(si));
        return;
    }
    size_t resp_len = unhex_into(json_string_value(jresp), respb, sizeof respb);
    CHECK(json_is_object(si));
    if (!json_is_object(si)) return;

    /* (b) the server reproduces response_hex from server_inputs and its random draws. */
    kms_response resp;
    response_from_inputs(&req, si, &resp);
    tu_random srng = {0};
    push_server_random(&srng, si);
    uint8_t out[KMS_RESPONSE_MAX_LEN];
    n = kms_server_encode_response(&sst, &resp, tu_random_fn, &srng, out, sizeof out);
    CHECKF(n == (int)resp_len, "%s: server encode %d, expected %zu", name, n, resp_len);
    if (n == (int)resp_len) CHECK_MEM(out, respb, resp_len);
    CHECKF(srng.pos == srng.len, "%s: used %zu of %zu random bytes", name, srng.pos, srng.len);

    /* (c, second half) the client accepts response_hex and reads response_fields. */
    kms_response got;
    rc = kms_client_decode_response(&cst, respb, resp_len, &got);
    CHECKF(rc == 0, "%s: client decode rc %d (%s)", name, rc, kms_strerror(rc));
    check_response_fields(name, &got, json_object_get(e, "response_fields"));
    if (req.version_major == 6) {
        uint8_t hw[8];
        unhex_into(tu_str(e, "response_hwid_hex"), hw, 8);
        CHECK_MEM(got.hwid, hw, 8);
    }

    /* (d) every single-byte corruption, at every position, with two patterns. */
    static const uint8_t masks[2] = {0x01, 0x80};
    for (size_t pos = 0; pos < resp_len; pos++) {
        for (int k = 0; k < 2; k++) {
            respb[pos] ^= masks[k];
            rc = kms_client_decode_response(&cst, respb, resp_len, &got);
            respb[pos] ^= masks[k];
            flip_positions++;
            if (rc < 0) flip_rejections++;
            else CHECKF(0, "%s: flip of byte %zu with %02x accepted", name, pos, masks[k]);
        }
    }
    /* Truncations and trailing bytes are rejected too. */
    for (size_t cut = 1; cut <= resp_len; cut++) {
        rc = kms_client_decode_response(&cst, respb, resp_len - cut, &got);
        CHECKF(rc < 0, "%s: truncated by %zu accepted", name, cut);
        if (req.version_major == 4 || cut % 16) CHECKF(rc == KMS_ETRUNC, "%s: cut %zu rc %d", name, cut, rc);
    }
    uint8_t longer[KMS_RESPONSE_MAX_LEN + 32] = {0};
    memcpy(longer, respb, resp_len);
    for (size_t extra = 1; extra <= 32; extra++)
        CHECKF(kms_client_decode_response(&cst, longer, resp_len + extra, &got) < 0,
               "%s: %zu trailing bytes accepted", name, extra);
}

/* --- hand-made negative cases --- */

static json_t *find_exchange(json_t *all, const char *vector, int exchange)
{
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        if (strcmp(tu_str(e, "vector"), vector) == 0 && tu_int(e, "exchange") == exchange) return e;
    }
    fprintf(stderr, "no exchange %s#%d\n", vector, exchange);
    exit(2);
}

static size_t load_hex(json_t *e, const char *key, uint8_t *out, size_t cap)
{
    return unhex_into(tu_str(e, key), out, cap);
}

static void test_request_negatives(json_t *all)
{
    uint8_t v4[512], v5[512], v6[512], buf[600];
    size_t n4 = load_hex(find_exchange(all, "01-v4-win7-pro", 0), "request_hex", v4, sizeof v4);
    size_t n5 = load_hex(find_exchange(all, "04-v5-office2013-proplus", 0), "request_hex", v5, sizeof v5);
    size_t n6 = load_hex(find_exchange(all, "06-v6-win10-pro", 0), "request_hex", v6, sizeof v6);
    kms_request req;
    kms_server_state st;

    /* Versions other than 4.0 / 5.0 / 6.0. */
    static const uint16_t bad[][2] = {{7, 0}, {4, 1}, {6, 1}, {3, 0}, {0, 0}, {0xffff, 0xffff}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(buf, v6, n6);
        buf[0] = (uint8_t)bad[i][1];
        buf[1] = (uint8_t)(bad[i][1] >> 8);
        buf[2] = (uint8_t)bad[i][0];
        buf[3] = (uint8_t)(bad[i][0] >> 8);
        CHECK_EQ_INT(kms_server_decode_request(buf, n6, &req, &st), KMS_EVERSION);
        memcpy(buf, v4, n4);
        buf[0] = (uint8_t)bad[i][1];
        buf[2] = (uint8_t)bad[i][0];
        CHECK_EQ_INT(kms_server_decode_request(buf, n4, &req, &st), KMS_EVERSION);
    }

    /* Truncation. */
    CHECK_EQ_INT(kms_server_decode_request(NULL, 0, &req, &st), KMS_ETRUNC);
    for (size_t len = 0; len < n4; len++)
        CHECK_EQ_INT(kms_server_decode_request(v4, len, &req, &st), KMS_ETRUNC);
    for (size_t len = 0; len < n6; len++)
        CHECK_EQ_INT(kms_server_decode_request(v6, len, &req, &st), KMS_ETRUNC);
    CHECK_EQ_INT(kms_server_decode_request(v5, n5 - 1, &req, &st), KMS_ETRUNC);

    /* Trailing bytes (py-kms sends 4) are tolerated. */
    memset(buf, 0, sizeof buf);
    memcpy(buf, v4, n4);
    CHECK_EQ_INT(kms_server_decode_request(buf, n4 + 4, &req, &st), 0);
    memcpy(buf, v6, n6);
    CHECK_EQ_INT(kms_server_decode_request(buf, n6 + 4, &req, &st), 0);

    /* v4 MAC: any flipped byte of body or MAC. */
    for (size_t pos = 4; pos < n4; pos++) {
        memcpy(buf, v4, n4);
        buf[pos] ^= 0x40;
        CHECKF(kms_server_decode_request(buf, n4, &req, &st) == KMS_EMAC, "v4 flip at %zu", pos);
    }

    /* v5/v6 padding: a flipped byte in the last ciphertext block garbles 04 04 04 04;
     * in the block before it, it flips one padding byte. */
    for (size_t pos = n6 - 32; pos < n6; pos++) {
        memcpy(buf, v6, n6);
        buf[pos] ^= 0x01;
        int rc = kms_server_decode_request(buf, n6, &req, &st);
        if (pos >= n6 - 20) /* last block, or the byte flip lands in the padding */
            CHECKF(rc == KMS_EPAD, "v6 flip at %zu: %d", pos, rc);
        else
            CHECKF(rc == 0, "v6 flip at %zu (inside REQ): %d", pos, rc);
    }
    memcpy(buf, v5, n5);
    buf[n5 - 1] ^= 0xff;
    CHECK_EQ_INT(kms_server_decode_request(buf, n5, &req, &st), KMS_EPAD);

    /* v5 message with a v6 outer version decrypts to garbage: bad padding. */
    memcpy(buf, v5, n5);
    buf[2] = 6;
    CHECK_EQ_INT(kms_server_decode_request(buf, n5, &req, &st), KMS_EPAD);

    /* Well-formed v6 encryption of a body claiming 5.0: inner/outer version mismatch. */
    CHECK_EQ_INT(kms_server_decode_request(v6, n6, &req, &st), 0);
    req.version_major = 5;
    {
        kms_cipher k;
        kms_cipher_init(&k, KMS_CIPHER_V6);
        kms_client_state cst;
        tu_random rng = {0};
        uint8_t iv[16] = {1, 2, 3};
        tu_random_push(&rng, iv, 16);
        uint8_t msg[KMS_V56_REQUEST_LEN];
        CHECK_EQ_INT(kms_client_encode_request(&req, tu_random_fn, &rng, &cst, msg, sizeof msg), 260);
        /* Re-encrypt the v5 plaintext with the v6 key under a 6.0 outer version. */
        kms_cipher k5;
        kms_cipher_init(&k5, KMS_CIPHER_V5);
        kms_cbc_decrypt(&k5, msg + 4, msg + 20, msg + 20, 240);
        kms_cbc_encrypt(&k, msg + 4, msg + 20, msg + 20, 240);
        msg[2] = 6;
        CHECK_EQ_INT(kms_server_decode_request(msg, sizeof msg, &req, &st), KMS_EVERSION);
        /* And explicit PKCS#7 that is valid but not 4 bytes long (03 03 03 ..). */
        kms_cbc_decrypt(&k, msg + 4, msg + 20, msg + 20, 240);
        msg[22] = 6; /* inner version back to 6.0 */
        msg[20 + 239] = 3;
        kms_cbc_encrypt(&k, msg + 4, msg + 20, msg + 20, 240);
        CHECK_EQ_INT(kms_server_decode_request(msg, sizeof msg, &req, &st), KMS_EPAD);
    }

    CHECK_EQ_INT(kms_server_decode_request(v6, n6, NULL, &st), KMS_EINVAL);
    CHECK_EQ_INT(kms_server_decode_request(v6, n6, &req, NULL), KMS_EINVAL);
}

static void test_server_encode_edges(json_t *all)
{
    json_t *e = find_exchange(all, "06-v6-win10-pro", 0);
    uint8_t reqb[512], out[KMS_RESPONSE_MAX_LEN];
    size_t n = load_hex(e, "request_hex", reqb, sizeof reqb);
    kms_request req;
    kms_server_state st;
    CHECK_EQ_INT(kms_server_decode_request(reqb, n, &req, &st), 0);
    kms_response resp;
    response_from_inputs(&req, json_object_get(e, "server_inputs"), &resp);

    /* IVs == IVq forces a fresh salt: the first Ss is D(IVq), so E(Ss) == IVq. */
    kms_cipher k;
    kms_cipher_init(&k, KMS_CIPHER_V6);
    uint8_t r[16] = {9}, bad_ss[16], good_ss[16] = {7, 7, 7};
    kms_cipher_decrypt_block(&k, st.ivq, bad_ss);
    tu_random rng = {0};
    tu_random_push(&rng, r, 16);
    tu_random_push(&rng, bad_ss, 16);
    tu_random_push(&rng, good_ss, 16);
    int len = kms_server_encode_response(&st, &resp, tu_random_fn, &rng, out, sizeof out);
    CHECK_EQ_INT(len, 260);
    CHECK_EQ_INT(rng.pos, 48);
    uint8_t ivs[16];
    kms_cipher_encrypt_block(&k, good_ss, ivs);
    CHECK_MEM(out + 4, ivs, 16);

    /* A failing random source. */
    tu_random empty = {0};
    CHECK_EQ_INT(kms_server_encode_response(&st, &resp, tu_random_fn, &empty, out, sizeof out), KMS_ERANDOM);
    CHECK_EQ_INT(kms_server_encode_response(&st, &resp, NULL, NULL, out, sizeof out), KMS_EINVAL);

    /* Output too small. */
    tu_random rng2 = {0};
    tu_random_push(&rng2, r, 16);
    tu_random_push(&rng2, good_ss, 16);
    CHECK_EQ_INT(kms_server_encode_response(&st, &resp, tu_random_fn, &rng2, out, 259), KMS_ESPACE);

    /* Malformed ePIDs are refused before anything is written. */
    kms_response bad = resp;
    bad.epid_size = 130;
    CHECK_EQ_INT(kms_server_encode_response(&st, &bad, tu_random_fn, &rng2, out, sizeof out), KMS_EEPID);
    bad = resp;
    bad.epid_size = 99;
    CHECK_EQ_INT(kms_server_encode_response(&st, &bad, tu_random_fn, &rng2, out, sizeof out), KMS_EEPID);
    bad = resp;
    bad.epid[98] = 'x'; /* no terminator */
    CHECK_EQ_INT(kms_server_encode_response(&st, &bad, tu_random_fn, &rng2, out, sizeof out), KMS_EEPID);
    bad = resp;
    bad.epid[10] = 0;
    bad.epid[11] = 0; /* early terminator */
    CHECK_EQ_INT(kms_server_encode_response(&st, &bad, tu_random_fn, &rng2, out, sizeof out), KMS_EEPID);

    /* Largest ePID (63 characters, P = 128) in every version round-trips. */
    char epid63[64];
    memset(epid63, '7', 63);
    epid63[63] = 0;
    static const char *vecs[3] = {"01-v4-win7-pro", "04-v5-office2013-proplus", "06-v6-win10-pro"};
    static const int sizes[3] = {60 + 128, 20 + 224, 20 + 272};
    for (int v = 0; v < 3; v++) {
        json_t *x = find_exchange(all, vecs[v], 0);
        n = load_hex(x, "request_hex", reqb, sizeof reqb);
        CHECK_EQ_INT(kms_server_decode_request(reqb, n, &req, &st), 0);
        response_from_inputs(&req, json_object_get(x, "server_inputs"), &resp);
        CHECK_EQ_INT(kms_response_set_epid(&resp, epid63), 0);
        CHECK_EQ_INT(resp.epid_size, 128);
        tu_random rr = {0};
        tu_random_push(&rr, r, 16);
        tu_random_push(&rr, good_ss, 16);
        len = kms_server_encode_response(&st, &resp, tu_random_fn, &rr, out, sizeof out);
        CHECK_EQ_INT(len, sizes[v]);
        CHECK(len <= KMS_RESPONSE_MAX_LEN);
        /* Client side of the same exchange. */
        kms_client_state cst;
        uint8_t again[KMS_V56_REQUEST_LEN];
        tu_random ir = {0};
        tu_random_push(&ir, st.ivq, 16);
        CHECK(kms_client_encode_request(&req, tu_random_fn, &ir, &cst, again, sizeof again) > 0);
        kms_response got;
        CHECK_EQ_INT(kms_client_decode_response(&cst, out, (size_t)len, &got), 0);
        char text[80];
        CHECK_EQ_INT(kms_response_get_epid(&got, text, sizeof text), 0);
        CHECK(strcmp(text, epid63) == 0);
        /* Echo failures: the server answers with another CMID / time. */
        kms_response wrong = resp;
        wrong.cmid.b[5] ^= 1;
        tu_random rr2 = {0};
        tu_random_push(&rr2, r, 16);
        tu_random_push(&rr2, good_ss, 16);
        len = kms_server_encode_response(&st, &wrong, tu_random_fn, &rr2, out, sizeof out);
        CHECK(len > 0);
        CHECK_EQ_INT(kms_client_decode_response(&cst, out, (size_t)len, &got), KMS_EECHO);
        wrong = resp;
        wrong.client_time += 1; /* same v6 time slot, so the HMAC still verifies */
        tu_random rr3 = {0};
        tu_random_push(&rr3, r, 16);
        tu_random_push(&rr3, good_ss, 16);
        len = kms_server_encode_response(&st, &wrong, tu_random_fn, &rr3, out, sizeof out);
        CHECK(len > 0);
        CHECK_EQ_INT(kms_client_decode_response(&cst, out, (size_t)len, &got), KMS_EECHO);
        /* The client state of one version does not accept another version's response. */
        kms_client_state other = cst;
        other.version_major = (uint16_t)(cst.version_major == 6 ? 5 : 6);
        CHECK_EQ_INT(kms_client_decode_response(&other, out, (size_t)len, &got), KMS_EVERSION);
    }
}

static void test_client_negatives(json_t *all)
{
    /* A v6 response whose IVs equals IVq is the v5 rule misapplied: rejected. */
    json_t *e = find_exchange(all, "06-v6-win10-pro", 0);
    uint8_t reqb[512], respb[512];
    size_t n = load_hex(e, "request_hex", reqb, sizeof reqb);
    size_t rn = load_hex(e, "response_hex", respb, sizeof respb);
    kms_request req;
    kms_server_state st;
    CHECK_EQ_INT(kms_server_decode_request(reqb, n, &req, &st), 0);
    kms_client_state cst;
    uint8_t again[KMS_V56_REQUEST_LEN];
    tu_random ir = {0};
    tu_random_push(&ir, st.ivq, 16);
    CHECK_EQ_INT(kms_client_encode_request(&req, tu_random_fn, &ir, &cst, again, sizeof again), 260);
    kms_response got;
    memcpy(respb + 4, st.ivq, 16);
    CHECK_EQ_INT(kms_client_decode_response(&cst, respb, rn, &got), KMS_EECHO);

    /* v5: IVs must equal IVq. */
    e = find_exchange(all, "04-v5-office2013-proplus", 0);
    n = load_hex(e, "request_hex", reqb, sizeof reqb);
    rn = load_hex(e, "response_hex", respb, sizeof respb);
    CHECK_EQ_INT(kms_server_decode_request(reqb, n, &req, &st), 0);
    tu_random ir5 = {0};
    tu_random_push(&ir5, st.ivq, 16);
    CHECK_EQ_INT(kms_client_encode_request(&req, tu_random_fn, &ir5, &cst, again, sizeof again), 260);
    CHECK_EQ_INT(kms_client_decode_response(&cst, respb, rn, &got), 0);
    respb[10] ^= 0x20;
    CHECK_EQ_INT(kms_client_decode_response(&cst, respb, rn, &got), KMS_EECHO);
    respb[10] ^= 0x20;
    /* Last block garbled: padding. */
    respb[rn - 1] ^= 0x55;
    CHECK_EQ_INT(kms_client_decode_response(&cst, respb, rn, &got), KMS_EPAD);
    respb[rn - 1] ^= 0x55;
    /* The hash covers R: corrupt the R ^ Sq field through the previous ciphertext block. */
    respb[20 + 144 - 16] ^= 0x01; /* flips plaintext byte 144 (R ^ Sq), garbles block 8 */
    int rc = kms_client_decode_response(&cst, respb, rn, &got);
    CHECK(rc == KMS_EECHO || rc == KMS_EHASH);
    respb[20 + 144 - 16] ^= 0x01;
    /* A different request (new IVq): hash check fails for v5 since Sq differs. */
    kms_client_state cst2 = cst;
    cst2.sq[0] ^= 1;
    CHECK_EQ_INT(kms_client_decode_response(&cst2, respb, rn, &got), KMS_EHASH);

    /* v4: a correct MAC over an altered ePID length is still caught by the size check. */
    e = find_exchange(all, "01-v4-win7-pro", 0);
    n = load_hex(e, "request_hex", reqb, sizeof reqb);
    rn = load_hex(e, "response_hex", respb, sizeof respb);
    CHECK_EQ_INT(kms_server_decode_request(reqb, n, &req, &st), 0);
    CHECK_EQ_INT(kms_client_encode_request(&req, NULL, NULL, &cst, again, sizeof again), 252);
    CHECK_EQ_INT(kms_client_decode_response(&cst, respb, rn, &got), 0);
    respb[4] = 200;
    CHECK_EQ_INT(kms_client_decode_response(&cst, respb, rn, &got), KMS_EEPID);
    respb[4] = 98;
    kms_mac4(respb, rn - 16, respb + rn - 16);
    CHECK(kms_client_decode_response(&cst, respb, rn, &got) < 0);
    CHECK_EQ_INT(kms_client_decode_response(&cst, respb, 3, &got), KMS_ETRUNC);
    CHECK_EQ_INT(kms_client_decode_response(&cst, NULL, 0, &got), KMS_ETRUNC);

    /* The client refuses to encode unsupported versions. */
    kms_request r7 = req;
    r7.version_major = 7;
    CHECK_EQ_INT(kms_client_encode_request(&r7, NULL, NULL, &cst, again, sizeof again), KMS_EVERSION);
    r7.version_major = 4;
    r7.version_minor = 1;
    CHECK_EQ_INT(kms_client_encode_request(&r7, NULL, NULL, &cst, again, sizeof again), KMS_EVERSION);
    CHECK_EQ_INT(kms_client_encode_request(&req, NULL, NULL, &cst, again, 251), KMS_ESPACE);
    r7 = req;
    r7.version_major = 6;
    CHECK_EQ_INT(kms_client_encode_request(&r7, NULL, NULL, &cst, again, sizeof again), KMS_EINVAL);
    tu_random none = {0};
    CHECK_EQ_INT(kms_client_encode_request(&r7, tu_random_fn, &none, &cst, again, sizeof again), KMS_ERANDOM);
}

static void test_epid(void)
{
    static const char *epid = "03612-00206-556-123727-03-1033-17763.0000-2972018";
    kms_response r;
    memset(&r, 0xee, sizeof r);
    CHECK_EQ_INT(kms_response_set_epid(&r, epid), 0);
    CHECK_EQ_INT(r.epid_size, 100);
    CHECK(r.epid[0] == '0' && r.epid[1] == 0 && r.epid[2] == '3' && r.epid[98] == 0 && r.epid[99] == 0);
    CHECK(r.epid[100] == 0 && r.epid[127] == 0);
    char out[65];
    CHECK_EQ_INT(kms_response_get_epid(&r, out, sizeof out), 0);
    CHECK(strcmp(out, epid) == 0);
    CHECK_EQ_INT(kms_response_get_epid(&r, out, 49), KMS_ESPACE);

    char max[70];
    memset(max, '1', sizeof max);
    max[63] = 0;
    CHECK_EQ_INT(kms_response_set_epid(&r, max), 0);
    CHECK_EQ_INT(r.epid_size, 128);
    CHECK_EQ_INT(kms_response_get_epid(&r, out, sizeof out), 0);
    CHECK(strcmp(out, max) == 0);
    max[63] = '1';
    max[64] = 0;
    CHECK_EQ_INT(kms_response_set_epid(&r, max), KMS_EEPID);
    CHECK_EQ_INT(r.epid_size, 128); /* unchanged on error */
    CHECK_EQ_INT(kms_response_set_epid(&r, ""), KMS_EEPID);
    CHECK_EQ_INT(kms_response_set_epid(&r, NULL), KMS_EEPID);
    CHECK_EQ_INT(kms_response_set_epid(&r, "0361\xc3\xa9"), KMS_EEPID);
    CHECK_EQ_INT(kms_response_set_epid(&r, "03612\n"), KMS_EEPID);

    /* Getter rejects what a client would reject. */
    CHECK_EQ_INT(kms_response_set_epid(&r, "12345"), 0);
    kms_response b = r;
    b.epid[3] = 0x01; /* non-ASCII code unit */
    CHECK_EQ_INT(kms_response_get_epid(&b, out, sizeof out), KMS_EEPID);
    b = r;
    b.epid_size = 11;
    CHECK_EQ_INT(kms_response_get_epid(&b, out, sizeof out), KMS_EEPID);
    b = r;
    b.epid_size = 0;
    CHECK_EQ_INT(kms_response_get_epid(&b, out, sizeof out), KMS_EEPID);
    b = r;
    b.epid_size = 1000;
    CHECK_EQ_INT(kms_response_get_epid(&b, out, sizeof out), KMS_EEPID);
}

static void test_workstation(void)
{
    kms_request r;
    char out[300];
    memset(&r, 0, sizeof r);
    kms_request_set_workstation(&r, "pc-01.example.edu");
    CHECK_EQ_INT(r.workstation[0], 'p');
    CHECK_EQ_INT(r.workstation[17], 0);
    CHECK_EQ_INT(kms_request_workstation(&r, out, sizeof out), 17);
    CHECK(strcmp(out, "pc-01.example.edu") == 0);

    /* Control characters, DEL, C1 controls and bidi overrides -> '?'; quotes and
     * backslash stay (the JSON and CSV writers escape them; they were '?' before). */
    static const uint16_t evil[] = {'a', 0x01, 'b', '\n', '"', 0x7f, '\'', 0x85, '\\', 0x202e, 'c', 0};
    memset(r.workstation, 0, sizeof r.workstation);
    memcpy(r.workstation, evil, sizeof evil);
    CHECK_EQ_INT(kms_request_workstation(&r, out, sizeof out), 11);
    CHECKF(strcmp(out, "a?b?\"?'?\\?c") == 0, "%s", out);

    /* Unterminated: 64 units, no NUL, bytes after the field never read. */
    for (int i = 0; i < KMS_WORKSTATION_WCHARS; i++) r.workstation[i] = (uint16_t)('A' + i % 26);
    size_t n = kms_request_workstation(&r, out, sizeof out);
    CHECK_EQ_INT(n, 64);
    CHECK_EQ_INT(strlen(out), 64);
    CHECK_EQ_INT(out[63], 'A' + 63 % 26);

    /* 64 three-byte characters: 192 bytes, bounded by the 64 units. */
    for (int i = 0; i < KMS_WORKSTATION_WCHARS; i++) r.workstation[i] = 0x20ac; /* euro sign */
    CHECK_EQ_INT(kms_request_workstation(&r, out, sizeof out), 192);
    /* Truncation never splits a UTF-8 sequence. */
    CHECK_EQ_INT(kms_request_workstation(&r, out, 8), 6);
    CHECK_EQ_INT(strlen(out), 6);
    CHECK_EQ_INT(kms_request_workstation(&r, out, 3), 0);
    CHECK_EQ_INT(out[0], 0);
    CHECK_EQ_INT(kms_request_workstation(&r, out, 0), 0);
    CHECK_EQ_INT(kms_request_workstation(&r, NULL, 10), 0);

    /* Surrogates: a valid pair is one 4-byte character, a lone one is '?', and a high
     * surrogate in the last unit is not paired with memory beyond the field. */
    memset(r.workstation, 0, sizeof r.workstation);
    r.workstation[0] = 0xd83d;
    r.workstation[1] = 0xde00; /* U+1F600 */
    r.workstation[2] = 0xdc00; /* lone low */
    r.workstation[3] = 0xd800; /* lone high */
    r.workstation[4] = 'x';
    CHECK_EQ_INT(kms_request_workstation(&r, out, sizeof out), 7);
    CHECK(strcmp(out, "\xf0\x9f\x98\x80??x") == 0);
    for (int i = 0; i < KMS_WORKSTATION_WCHARS; i++) r.workstation[i] = 'y';
    r.workstation[63] = 0xd800;
    CHECK_EQ_INT(kms_request_workstation(&r, out, sizeof out), 64);
    CHECK_EQ_INT(out[63], '?');

    /* Setter: bounded to 63 units + NUL, UTF-8 decoded, invalid bytes -> '?'. */
    char longname[200];
    memset(longname, 'z', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    memset(r.workstation, 0xff, sizeof r.workstation);
    kms_request_set_workstation(&r, longname);
    CHECK_EQ_INT(r.workstation[62], 'z');
    CHECK_EQ_INT(r.workstation[63], 0);
    CHECK_EQ_INT(kms_request_workstation(&r, out, sizeof out), 63);
    kms_request_set_workstation(&r, "\xc3\xa9t\xe9\xf0\x9f\x98\x80");
    CHECK_EQ_INT(r.workstation[0], 0xe9);
    CHECK_EQ_INT(r.workstation[1], 't');
    CHECK_EQ_INT(r.workstation[2], '?');
    CHECK_EQ_INT(r.workstation[3], 0xd83d);
    CHECK_EQ_INT(r.workstation[4], 0xde00);
    CHECK_EQ_INT(r.workstation[5], 0);
    CHECK_EQ_INT(r.workstation[63], 0);
    kms_request_set_workstation(&r, NULL);
    CHECK_EQ_INT(r.workstation[0], 0);
    /* A pair that would not fit in unit 62..63 is dropped, not split. */
    char edge[80];
    memset(edge, 'q', 62);
    memcpy(edge + 62, "\xf0\x9f\x98\x80", 5);
    kms_request_set_workstation(&r, edge);
    CHECK_EQ_INT(r.workstation[61], 'q');
    CHECK_EQ_INT(r.workstation[62], 0);
}

static void test_filetime(json_t *all)
{
    CHECK_EQ_INT(kms_filetime_from_unix(0), 116444736000000000LL);
    CHECK_EQ_INT(kms_filetime_to_unix(116444736000000000ULL), 0);
    json_t *rf = json_object_get(find_exchange(all, "06-v6-win10-pro", 0), "request_fields");
    uint64_t ft = (uint64_t)tu_int(rf, "client_time_filetime"); /* 2026-11-22T19:23:27Z */
    CHECK_EQ_INT(kms_filetime_to_unix(ft), 1795375407LL);
    CHECK_EQ_INT(kms_filetime_from_unix(1795375407LL), ft);
    CHECK_EQ_INT(kms_filetime_to_unix(kms_filetime_from_unix(-1)), -1);
}

int main(void)
{
    json_t *all = tu_load_vector("flat-kms.json");
    CHECK_EQ_INT(json_array_size(all), 32);
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) check_exchange(e);
    printf("byte flips: %d of %d rejected\n", flip_rejections, flip_positions);
    CHECK_EQ_INT(flip_rejections, flip_positions);
    CHECK(flip_positions > 29 * 2 * 160);
    test_request_negatives(all);
    test_server_encode_edges(all);
    test_client_negatives(all);
    test_epid();
    test_workstation();
    test_filetime(all);
    json_decref(all);
    return tu_finish();
}
