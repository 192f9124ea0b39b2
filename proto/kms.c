/* kms.c: KMS request/response messages of protocol versions 4, 5 and 6 (spec sections 3
 * and 4), server and client side. All wire access goes through proto/cursor.h; buffers
 * live on the stack or are the caller's; randomness only through kms_random_fn. */
#include "proto/kms.h"

#include <string.h>
#include "proto/cursor.h"
#include "proto/errors.h"

#define RESP_FIXED_LEN 44   /* response body without the ePID (spec 3.2) */
#define V56_IV_OFF 4        /* outer version (4) || IV (16) || ciphertext */
#define V56_CT_OFF 20
#define V5_TAIL_LEN 48      /* R ^ Sq (16) || SHA-256(R) (32) */
#define V6_TAIL_LEN 72      /* V5 tail || HWID (8) || Sq (16) */
#define V6_SS_RETRIES 16    /* IVs == IVq has probability 2^-128 per draw; cap the loop anyway */
/* Largest v5/v6 ciphertext: pad16(RESP(44 + 128) + V6 tail + MAC6) = 272 bytes. */
#define CT_MAX 272
#define FILETIME_UNIX_EPOCH_S INT64_C(11644473600)
#define FILETIME_PER_S INT64_C(10000000)

static bool version_ok(uint16_t major, uint16_t minor)
{
    return minor == 0 && major >= 4 && major <= 6;
}

/* PKCS#7 padded length: always adds 1..16 bytes (spec 4.2). */
static size_t pad16(size_t n) { return (n / KMS_BLOCK + 1) * KMS_BLOCK; }

/* --- bodies --- */

static void put_request_body(wcursor *w, const kms_request *r)
{
    wc_u16(w, r->version_minor);
    wc_u16(w, r->version_major);
    wc_u32(w, r->vm_info);
    wc_u32(w, r->license_status);
    wc_u32(w, r->binding_expiration);
    wc_bytes(w, r->app_id.b, 16);
    wc_bytes(w, r->sku_id.b, 16);
    wc_bytes(w, r->kms_id.b, 16);
    wc_bytes(w, r->cmid.b, 16);
    wc_u32(w, r->required_count);
    wc_u64(w, r->client_time);
    wc_bytes(w, r->previous_cmid.b, 16);
    for (int i = 0; i < KMS_WORKSTATION_WCHARS; i++) wc_u16(w, r->workstation[i]);
}

static void get_request_body(rcursor *c, kms_request *r)
{
    r->version_minor = rc_u16(c);
    r->version_major = rc_u16(c);
    r->vm_info = rc_u32(c);
    r->license_status = rc_u32(c);
    r->binding_expiration = rc_u32(c);
    rc_bytes(c, r->app_id.b, 16);
    rc_bytes(c, r->sku_id.b, 16);
    rc_bytes(c, r->kms_id.b, 16);
    rc_bytes(c, r->cmid.b, 16);
    r->required_count = rc_u32(c);
    r->client_time = rc_u64(c);
    rc_bytes(c, r->previous_cmid.b, 16);
    for (int i = 0; i < KMS_WORKSTATION_WCHARS; i++) r->workstation[i] = rc_u16(c);
}

/* An ePID as we accept it on either side: 1..63 printable ASCII characters as UTF-16LE,
 * then one NUL, nothing else (spec 3.2, 7). Printable-only also makes a garbled v5
 * response block inside the ePID detectable, since v5 has no MAC over RESP. */
static int epid_check(const uint8_t *epid, uint32_t size)
{
    if (size < 4 || size > KMS_EPID_MAX_BYTES || size % 2) return KMS_EEPID;
    uint32_t n = size / 2 - 1;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t ch = (uint16_t)(epid[2 * i] | epid[2 * i + 1] << 8);
        if (ch < 0x20 || ch > 0x7e) return KMS_EEPID;
    }
    if (epid[2 * n] || epid[2 * n + 1]) return KMS_EEPID;
    return 0;
}

static void put_response_body(wcursor *w, const kms_response *r)
{
    wc_u16(w, r->version_minor);
    wc_u16(w, r->version_major);
    wc_u32(w, r->epid_size);
    wc_bytes(w, r->epid, r->epid_size);
    wc_bytes(w, r->cmid.b, 16);
    wc_u64(w, r->client_time);
    wc_u32(w, r->count);
    wc_u32(w, r->activation_interval);
    wc_u32(w, r->renewal_interval);
}

/* Parses RESP (exactly body_len bytes) and checks it against the client state. */
static int get_response_body(const kms_client_state *st, const uint8_t *b, size_t body_len,
                             kms_response *r)
{
    rcursor c = rc_init(b, body_len);
    r->version_minor = rc_u16(&c);
    r->version_major = rc_u16(&c);
    r->epid_size = rc_u32(&c);
    if (c.err) return KMS_ETRUNC;
    if (r->version_minor != st->version_minor || r->version_major != st->version_major)
        return KMS_EVERSION;
    if (r->epid_size > KMS_EPID_MAX_BYTES) return KMS_EEPID;
    if (body_len != RESP_FIXED_LEN + r->epid_size)
        return body_len < RESP_FIXED_LEN + r->epid_size ? KMS_ETRUNC : KMS_EINVAL;
    rc_bytes(&c, r->epid, r->epid_size);
    rc_bytes(&c, r->cmid.b, 16);
    r->client_time = rc_u64(&c);
    r->count = rc_u32(&c);
    r->activation_interval = rc_u32(&c);
    r->renewal_interval = rc_u32(&c);
    if (c.err) return KMS_ETRUNC;
    int rc = epid_check(r->epid, r->epid_size);
    if (rc) return rc;
    if (!kms_guid_equal(&r->cmid, &st->cmid) || r->client_time != st->client_time)
        return KMS_EECHO;
    return 0;
}

/* --- server side --- */

int kms_server_decode_request(const uint8_t *msg, size_t len, kms_request *req,
                              kms_server_state *st)
{
    if (!req || !st || (!msg && len)) return KMS_EINVAL;
    memset(req, 0, sizeof *req);
    memset(st, 0, sizeof *st);
    rcursor c = rc_init(msg, len);
    uint16_t minor = rc_u16(&c), major = rc_u16(&c);
    if (c.err) return KMS_ETRUNC;
    if (!version_ok(major, minor)) return KMS_EVERSION;

    uint8_t plain[KMS_REQUEST_BODY_LEN + 4];
    const uint8_t *body;
    if (major == 4) {
        if (len < KMS_V4_REQUEST_LEN) return KMS_ETRUNC;
        uint8_t mac[16];
        kms_mac4(msg, KMS_REQUEST_BODY_LEN, mac);
        if (kms_memcmp_ct(mac, msg + KMS_REQUEST_BODY_LEN, 16)) return KMS_EMAC;
        body = msg;
    } else {
        if (len < KMS_V56_REQUEST_LEN) return KMS_ETRUNC;
        kms_cipher k;
        kms_cipher_init(&k, (kms_cipher_kind)major);
        memcpy(st->ivq, msg + V56_IV_OFF, 16);
        kms_cbc_decrypt(&k, st->ivq, msg + V56_CT_OFF, plain, sizeof plain);
        /* REQ is 236 bytes, so PKCS#7 padding is exactly 04 04 04 04. */
        for (size_t i = KMS_REQUEST_BODY_LEN; i < sizeof plain; i++)
            if (plain[i] != 4) return KMS_EPAD;
        kms_cipher_decrypt_block(&k, st->ivq, st->sq);
        body = plain;
    }
    c = rc_init(body, KMS_REQUEST_BODY_LEN);
    get_request_body(&c, req);
    if (c.err) return KMS_ETRUNC;
    /* v5/v6 carry the version twice; a genuine client never makes them differ. */
    if (req->version_major != major || req->version_minor != minor) return KMS_EVERSION;
    st->version_major = major;
    st->version_minor = minor;
    st->client_time = req->client_time;
    return 0;
}

int kms_server_encode_response(const kms_server_state *st, const kms_response *resp,
                               kms_random_fn rnd, void *rnd_ctx, uint8_t *out, size_t cap)
{
    if (!st || !resp || !out) return KMS_EINVAL;
    uint16_t major = st->version_major, minor = st->version_minor;
    if (!version_ok(major, minor)) return KMS_EVERSION;
    if (major != 4 && !rnd) return KMS_EINVAL;
    int rc = epid_check(resp->epid, resp->epid_size);
    if (rc) return rc;

    size_t body_len = RESP_FIXED_LEN + resp->epid_size;
    if (major == 4) {
        size_t total = body_len + 16;
        if (cap < total) return KMS_ESPACE;
        wcursor w = wc_init(out, cap);
        put_response_body(&w, resp);
        if (w.err) return w.err;
        kms_mac4(out, body_len, out + body_len);
        return (int)total;
    }

    kms_cipher k;
    kms_cipher_init(&k, (kms_cipher_kind)major);
    size_t pt_len = body_len + (major == 5 ? V5_TAIL_LEN : V6_TAIL_LEN + 16);
    size_t padded = pad16(pt_len);
    size_t total = V56_CT_OFF + padded;
    if (cap < total) return KMS_ESPACE;

    uint8_t r[16], hash[32], xr[16];
    if (rnd(rnd_ctx, r, sizeof r)) return KMS_ERANDOM;
    rc = kms_sha256(r, sizeof r, hash);
    if (rc) return rc;
    for (int i = 0; i < 16; i++) xr[i] = (uint8_t)(r[i] ^ st->sq[i]);

    wcursor w = wc_init(out, cap);
    wc_u16(&w, minor);
    wc_u16(&w, major);
    if (major == 5) {
        /* v5: IVs = IVq; ver || IVq || CBC(IVq, RESP || R^Sq || SHA256(R) || pad). */
        wc_bytes(&w, st->ivq, 16);
        put_response_body(&w, resp);
        wc_bytes(&w, xr, 16);
        wc_bytes(&w, hash, 32);
    } else {
        /* v6: plaintext Ss || P6 || MAC6 || pad, CBC-encrypted with a zero IV, so the
         * first ciphertext block is IVs = E(Ss) and the MAC covers Ss, not IVs. */
        uint8_t ss[16], ivs[16];
        int tries = 0;
        do {
            if (tries++ == V6_SS_RETRIES || rnd(rnd_ctx, ss, sizeof ss)) return KMS_ERANDOM;
            kms_cipher_encrypt_block(&k, ss, ivs);
        } while (memcmp(ivs, st->ivq, 16) == 0);
        wc_bytes(&w, ss, 16);
        put_response_body(&w, resp);
        wc_bytes(&w, xr, 16);
        wc_bytes(&w, hash, 32);
        wc_bytes(&w, resp->hwid, 8);
        wc_bytes(&w, st->sq, 16);
        if (w.err) return w.err;
        uint8_t kt[16], mac[16];
        rc = kms_v6_hmac_key(resp->client_time, kt);
        if (!rc) rc = kms_v6_mac(kt, out + V56_IV_OFF, w.pos - V56_IV_OFF, mac);
        if (rc) return rc;
        wc_bytes(&w, mac, 16);
    }
    uint8_t pad = (uint8_t)(padded - pt_len);
    for (uint8_t i = 0; i < pad; i++) wc_u8(&w, pad);
    if (w.err) return w.err;
    if (w.pos != total) return KMS_EINVAL; /* cannot happen: lengths computed above */
    if (major == 5) {
        kms_cbc_encrypt(&k, st->ivq, out + V56_CT_OFF, out + V56_CT_OFF, padded);
    } else {
        static const uint8_t zero_iv[16];
        kms_cbc_encrypt(&k, zero_iv, out + V56_IV_OFF, out + V56_IV_OFF, 16 + padded);
    }
    return (int)total;
}

/* --- client side --- */

int kms_client_encode_request(const kms_request *req, kms_random_fn rnd, void *rnd_ctx,
                              kms_client_state *st, uint8_t *out, size_t cap)
{
    if (!req || !st || !out) return KMS_EINVAL;
    uint16_t major = req->version_major, minor = req->version_minor;
    if (!version_ok(major, minor)) return KMS_EVERSION;
    if (major != 4 && !rnd) return KMS_EINVAL;
    memset(st, 0, sizeof *st);
    st->version_major = major;
    st->version_minor = minor;
    st->cmid = req->cmid;
    st->client_time = req->client_time;

    if (major == 4) {
        if (cap < KMS_V4_REQUEST_LEN) return KMS_ESPACE;
        wcursor w = wc_init(out, cap);
        put_request_body(&w, req);
        if (w.err) return w.err;
        kms_mac4(out, KMS_REQUEST_BODY_LEN, out + KMS_REQUEST_BODY_LEN);
        return KMS_V4_REQUEST_LEN;
    }
    if (cap < KMS_V56_REQUEST_LEN) return KMS_ESPACE;
    if (rnd(rnd_ctx, st->ivq, 16)) return KMS_ERANDOM;
    kms_cipher k;
    kms_cipher_init(&k, (kms_cipher_kind)major);
    wcursor w = wc_init(out, cap);
    wc_u16(&w, minor);
    wc_u16(&w, major);
    wc_bytes(&w, st->ivq, 16);
    put_request_body(&w, req);
    for (int i = 0; i < 4; i++) wc_u8(&w, 4);
    if (w.err) return w.err;
    kms_cbc_encrypt(&k, st->ivq, out + V56_CT_OFF, out + V56_CT_OFF, KMS_V56_REQUEST_LEN - V56_CT_OFF);
    kms_cipher_decrypt_block(&k, st->ivq, st->sq);
    return KMS_V56_REQUEST_LEN;
}

static int client_decode_v4(const kms_client_state *st, const uint8_t *msg, size_t len,
                            kms_response *resp)
{
    rcursor c = rc_init(msg, len);
    rc_skip(&c, 4);
    uint32_t p = rc_u32(&c);
    if (c.err) return KMS_ETRUNC;
    if (p > KMS_EPID_MAX_BYTES) return KMS_EEPID;
    size_t body_len = RESP_FIXED_LEN + p;
    if (len != body_len + 16) return len < body_len + 16 ? KMS_ETRUNC : KMS_EINVAL;
    uint8_t mac[16];
    kms_mac4(msg, body_len, mac);
    if (kms_memcmp_ct(mac, msg + body_len, 16)) return KMS_EMAC;
    return get_response_body(st, msg, body_len, resp);
}

static int client_decode_v56(const kms_client_state *st, const uint8_t *msg, size_t len,
                             kms_response *resp)
{
    uint16_t major = st->version_major;
    if (len < V56_CT_OFF + KMS_BLOCK || (len - V56_CT_OFF) % KMS_BLOCK) return KMS_ETRUNC;
    size_t ct_len = len - V56_CT_OFF;
    if (ct_len > CT_MAX) return KMS_EINVAL;
    /* v5 must echo IVq; a v6 IVs equal to IVq is the mark of a server following v5 rules. */
    bool same_iv = memcmp(msg + V56_IV_OFF, st->ivq, 16) == 0;
    if (major == 5 ? !same_iv : same_iv) return KMS_EECHO;

    /* Decrypt IV block and ciphertext with a zero IV: buf[0..15] = D(IVs) (Sq in v5,
     * Ss in v6), then the plaintext proper. */
    uint8_t buf[16 + CT_MAX];
    static const uint8_t zero_iv[16];
    kms_cipher k;
    kms_cipher_init(&k, (kms_cipher_kind)major);
    kms_cbc_decrypt(&k, zero_iv, msg + V56_IV_OFF, buf, 16 + ct_len);
    const uint8_t *pt = buf + 16;
    uint8_t pad = pt[ct_len - 1];
    if (pad < 1 || pad > KMS_BLOCK) return KMS_EPAD;
    for (size_t i = ct_len - pad; i < ct_len; i++)
        if (pt[i] != pad) return KMS_EPAD;
    size_t pt_len = ct_len - pad;
    size_t tail = major == 5 ? V5_TAIL_LEN : V6_TAIL_LEN + 16;
    if (pt_len < RESP_FIXED_LEN + tail) return KMS_ETRUNC;
    size_t body_len = pt_len - tail;

    if (major == 6) {
        uint8_t kt[16], mac[16];
        int rc = kms_v6_hmac_key(st->client_time, kt);
        if (!rc) rc = kms_v6_mac(kt, buf, 16 + pt_len - 16, mac);
        if (rc) return rc;
        if (kms_memcmp_ct(mac, pt + pt_len - 16, 16)) return KMS_EMAC;
    }
    int rc = get_response_body(st, pt, body_len, resp);
    if (rc) return rc;

    rcursor c = rc_init(pt + body_len, tail);
    uint8_t r[16], hash[32], want[32];
    rc_bytes(&c, r, 16);
    rc_bytes(&c, hash, 32);
    for (int i = 0; i < 16; i++) r[i] ^= st->sq[i];
    rc = kms_sha256(r, sizeof r, want);
    if (rc) return rc;
    if (kms_memcmp_ct(hash, want, 32)) return KMS_EHASH;
    if (major == 6) {
        uint8_t xored_ivs[16];
        rc_bytes(&c, resp->hwid, 8);
        rc_bytes(&c, xored_ivs, 16);
        if (kms_memcmp_ct(xored_ivs, st->sq, 16)) return KMS_EECHO;
    }
    return c.err ? KMS_ETRUNC : 0;
}

int kms_client_decode_response(const kms_client_state *st, const uint8_t *msg, size_t len,
                               kms_response *resp)
{
    if (!st || !resp || (!msg && len)) return KMS_EINVAL;
    memset(resp, 0, sizeof *resp);
    if (!version_ok(st->version_major, st->version_minor)) return KMS_EINVAL;
    rcursor c = rc_init(msg, len);
    uint16_t minor = rc_u16(&c), major = rc_u16(&c);
    if (c.err) return KMS_ETRUNC;
    if (major != st->version_major || minor != st->version_minor) return KMS_EVERSION;
    int rc = major == 4 ? client_decode_v4(st, msg, len, resp)
                        : client_decode_v56(st, msg, len, resp);
    if (rc) memset(resp, 0, sizeof *resp);
    return rc;
}

/* --- helpers --- */

uint64_t kms_filetime_from_unix(int64_t unix_seconds)
{
    return (uint64_t)(unix_seconds + FILETIME_UNIX_EPOCH_S) * (uint64_t)FILETIME_PER_S;
}

int64_t kms_filetime_to_unix(uint64_t filetime)
{
    return (int64_t)(filetime / (uint64_t)FILETIME_PER_S) - FILETIME_UNIX_EPOCH_S;
}

int kms_response_set_epid(kms_response *resp, const char *epid)
{
    if (!resp || !epid) return KMS_EEPID;
    size_t n = strlen(epid);
    if (n == 0 || 2 * (n + 1) > KMS_EPID_MAX_BYTES) return KMS_EEPID;
    uint8_t tmp[KMS_EPID_MAX_BYTES];
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)epid[i];
        if (ch < 0x20 || ch > 0x7e) return KMS_EEPID;
        tmp[2 * i] = ch;
        tmp[2 * i + 1] = 0;
    }
    tmp[2 * n] = tmp[2 * n + 1] = 0;
    memset(resp->epid, 0, sizeof resp->epid);
    memcpy(resp->epid, tmp, 2 * (n + 1));
    resp->epid_size = (uint32_t)(2 * (n + 1));
    return 0;
}

int kms_response_get_epid(const kms_response *resp, char *out, size_t cap)
{
    if (!resp || !out) return KMS_EEPID;
    int rc = epid_check(resp->epid, resp->epid_size);
    if (rc) return rc;
    size_t n = resp->epid_size / 2 - 1;
    if (cap < n + 1) return KMS_ESPACE;
    for (size_t i = 0; i < n; i++) out[i] = (char)resp->epid[2 * i];
    out[n] = 0;
    return 0;
}

/* Code points replaced by '?': C0/C1 controls, DEL, line/paragraph separators, bidi
 * overrides and isolates (which can make a line display differently than it reads).
 * Quotes and backslash are kept: a workstation may be named so, and every writer of the
 * name escapes them (JSON strings, CSV fields). */
static bool unsafe_for_logs(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

size_t kms_request_workstation(const kms_request *req, char *out, size_t cap)
{
    if (!out || cap == 0) return 0;
    size_t n = 0;
    out[0] = 0;
    if (!req) return 0;
    for (int i = 0; i < KMS_WORKSTATION_WCHARS && req->workstation[i]; i++) {
        uint32_t cp = req->workstation[i];
        if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < KMS_WORKSTATION_WCHARS &&
            req->workstation[i + 1] >= 0xdc00 && req->workstation[i + 1] <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (req->workstation[i + 1] - 0xdc00u);
            i++;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
            cp = '?'; /* unpaired surrogate */
        }
        if (unsafe_for_logs(cp)) cp = '?';
        char u[4];
        size_t ul;
        if (cp < 0x80) {
            u[0] = (char)cp;
            ul = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xc0 | cp >> 6);
            u[1] = (char)(0x80 | (cp & 0x3f));
            ul = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xe0 | cp >> 12);
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            u[2] = (char)(0x80 | (cp & 0x3f));
            ul = 3;
        } else {
            u[0] = (char)(0xf0 | cp >> 18);
            u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
            u[3] = (char)(0x80 | (cp & 0x3f));
            ul = 4;
        }
        if (cap - 1 - n < ul) break; /* never split a UTF-8 sequence */
        memcpy(out + n, u, ul);
        n += ul;
    }
    out[n] = 0;
    return n;
}

/* Decodes one UTF-8 sequence at s; returns its length (>= 1) and the code point, or
 * U+003F '?' for a malformed, overlong or surrogate sequence (consuming one byte). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned char b = s[0];
    size_t len;
    uint32_t v, min;
    if (b < 0x80) { *cp = b; return 1; }
    if (b >= 0xc2 && b <= 0xdf) { len = 2; v = b & 0x1fu; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { len = 3; v = b & 0x0fu; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { len = 4; v = b & 0x07u; min = 0x10000; }
    else { *cp = '?'; return 1; }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) { *cp = '?'; return 1; } /* also stops at the NUL */
        v = v << 6 | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) { *cp = '?'; return 1; }
    *cp = v;
    return len;
}

void kms_request_set_workstation(kms_request *req, const char *name)
{
    if (!req) return;
    memset(req->workstation, 0, sizeof req->workstation);
    if (!name) return;
    const unsigned char *s = (const unsigned char *)name;
    int n = 0; /* at most 63 units, the 64th stays NUL */
    while (*s) {
        uint32_t cp;
        s += utf8_next(s, &cp);
        if (cp < 0x10000) {
            if (n + 1 > KMS_WORKSTATION_WCHARS - 1) break;
            req->workstation[n++] = (uint16_t)cp;
        } else {
            if (n + 2 > KMS_WORKSTATION_WCHARS - 1) break;
            cp -= 0x10000;
            req->workstation[n++] = (uint16_t)(0xd800 + (cp >> 10));
            req->workstation[n++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
        }
    }
}
