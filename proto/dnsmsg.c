/* dnsmsg.c: RFC 2136 UPDATE messages, TSIG HMAC-SHA256 (RFC 8945), a bounded DNS message
 * parser, BIND key files and RFC 2782 SRV ordering (see dnsmsg.h). DNS is big-endian; the
 * helpers below read and write network order through the bounds-checked cursors. */
#include "proto/dnsmsg.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "proto/crypto.h"
#include "proto/cursor.h"
#include "proto/errors.h"

/* hmac-sha256. in wire form */
static const uint8_t alg_hmac_sha256[] = {11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0};

static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

const char *dnsmsg_rcode_name(int rcode)
{
    switch (rcode) {
    case DNSMSG_NOERROR: return "NOERROR";
    case DNSMSG_FORMERR: return "FORMERR";
    case DNSMSG_SERVFAIL: return "SERVFAIL";
    case DNSMSG_NXDOMAIN: return "NXDOMAIN";
    case DNSMSG_NOTIMP: return "NOTIMP";
    case DNSMSG_REFUSED: return "REFUSED";
    case DNSMSG_YXDOMAIN: return "YXDOMAIN";
    case DNSMSG_YXRRSET: return "YXRRSET";
    case DNSMSG_NXRRSET: return "NXRRSET";
    case DNSMSG_NOTAUTH: return "NOTAUTH";
    case DNSMSG_NOTZONE: return "NOTZONE";
    case DNSMSG_BADSIG: return "BADSIG";
    case DNSMSG_BADKEY: return "BADKEY";
    case DNSMSG_BADTIME: return "BADTIME";
    case DNSMSG_BADTRUNC: return "BADTRUNC";
    default: return "UNKNOWN";
    }
}

/* ---- names --------------------------------------------------------------------------- */

static bool plain_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '*';
}

static uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c; }

int dnsmsg_name_to_wire(const char *text, uint8_t wire[DNSMSG_WIRE_NAME_MAX])
{
    if (!text || !wire) return KMS_EINVAL;
    size_t n = strlen(text), out = 0;
    if (n == 0) return KMS_EINVAL;
    if (n == 1 && text[0] == '.') { wire[0] = 0; return 1; }
    size_t i = 0;
    while (i < n) {
        size_t lab = out++;
        uint8_t ll = 0;
        if (out > DNSMSG_WIRE_NAME_MAX - 1) return KMS_EINVAL;
        while (i < n && text[i] != '.') {
            uint8_t c = (uint8_t)text[i++];
            if (c == '\\') {
                if (i >= n) return KMS_EINVAL;
                if (text[i] >= '0' && text[i] <= '9') {
                    unsigned v = 0;
                    for (int k = 0; k < 3; k++) {
                        if (i >= n || text[i] < '0' || text[i] > '9') return KMS_EINVAL;
                        v = v * 10 + (unsigned)(text[i++] - '0');
                    }
                    if (v > 255) return KMS_EINVAL;
                    c = (uint8_t)v;
                } else {
                    c = (uint8_t)text[i++];
                }
            }
            if (ll == 63 || out >= DNSMSG_WIRE_NAME_MAX - 1) return KMS_EINVAL;
            wire[out++] = c;
            ll++;
        }
        if (ll == 0) return KMS_EINVAL; /* empty label: ".." or a leading dot */
        wire[lab] = ll;
        if (i < n) i++; /* the dot */
    }
    wire[out++] = 0;
    return (int)out;
}

int dnsmsg_name_to_text(const uint8_t *wire, size_t wire_len, char *out, size_t cap)
{
    if (!wire || !out || cap == 0) return KMS_EINVAL;
    size_t i = 0, o = 0;
    if (wire_len == 0 || wire_len > DNSMSG_WIRE_NAME_MAX) return KMS_EINVAL;
    if (wire[0] == 0) {
        if (cap < 2) return KMS_ESPACE;
        out[0] = '.';
        out[1] = 0;
        return 0;
    }
    while (i < wire_len && wire[i] != 0) {
        uint8_t ll = wire[i++];
        if (ll > 63 || i + ll > wire_len) return KMS_EINVAL;
        for (uint8_t k = 0; k < ll; k++) {
            uint8_t c = wire[i++];
            if (plain_char(c)) {
                if (o + 1 >= cap) return KMS_ESPACE;
                out[o++] = (char)c;
            } else {
                if (o + 4 >= cap) return KMS_ESPACE;
                out[o++] = '\\';
                out[o++] = (char)('0' + c / 100);
                out[o++] = (char)('0' + (c / 10) % 10);
                out[o++] = (char)('0' + c % 10);
            }
        }
        if (o + 1 >= cap) return KMS_ESPACE;
        out[o++] = '.';
    }
    if (i >= wire_len) return KMS_EINVAL; /* no root label */
    out[o] = 0;
    return 0;
}

static bool wire_equal_ci(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen) return false;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool dnsmsg_name_equal(const char *a, const char *b)
{
    uint8_t wa[DNSMSG_WIRE_NAME_MAX], wb[DNSMSG_WIRE_NAME_MAX];
    int la = dnsmsg_name_to_wire(a, wa), lb = dnsmsg_name_to_wire(b, wb);
    if (la < 0 || lb < 0) return false;
    /* Label lengths are below 'A', so lower-casing every byte leaves them alone. */
    return wire_equal_ci(wa, (size_t)la, wb, (size_t)lb);
}

/* Reads a possibly compressed name at the cursor into wire (uncompressed). Pointers must
 * point backwards (before the pointer itself), which bounds the walk without a counter. */
static void read_name(const uint8_t *msg, size_t len, rcursor *c, uint8_t *wire, size_t *wire_len)
{
    size_t out = 0;
    size_t pos = c->pos;     /* where we read now */
    bool jumped = false;
    size_t limit = c->pos;   /* a pointer must point before this */
    *wire_len = 0;
    if (c->err) return;
    for (;;) {
        if (pos >= len) { c->err = KMS_ETRUNC; return; }
        uint8_t ll = msg[pos];
        if ((ll & 0xC0) == 0xC0) {
            if (pos + 1 >= len) { c->err = KMS_ETRUNC; return; }
            size_t target = (size_t)(((ll & 0x3F) << 8) | msg[pos + 1]);
            if (!jumped) { c->pos = pos + 2; jumped = true; }
            if (target >= limit || target >= pos) { c->err = KMS_EINVAL; return; }
            limit = target;
            pos = target;
            continue;
        }
        if (ll & 0xC0) { c->err = KMS_EINVAL; return; } /* 0x40/0x80: extended label types */
        if (out + 1 + ll > DNSMSG_WIRE_NAME_MAX) { c->err = KMS_EINVAL; return; }
        if (pos + 1 + ll > len) { c->err = KMS_ETRUNC; return; }
        memcpy(wire + out, msg + pos, (size_t)ll + 1);
        out += (size_t)ll + 1;
        pos += (size_t)ll + 1;
        if (ll == 0) break;
    }
    if (!jumped) c->pos = pos;
    *wire_len = out;
}

/* ---- records ------------------------------------------------------------------------- */

static int set_name(char *dst, const char *src)
{
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    int n = dnsmsg_name_to_wire(src, w);
    if (n < 0) return n;
    return dnsmsg_name_to_text(w, (size_t)n, dst, DNSMSG_NAME_TEXT_MAX);
}

int dnsmsg_rr_srv(dnsmsg_rr *rr, const char *name, uint32_t ttl, uint16_t priority,
                  uint16_t weight, uint16_t port, const char *target)
{
    if (!rr || !name || !target) return KMS_EINVAL;
    memset(rr, 0, sizeof *rr);
    if (set_name(rr->name, name) != 0 || set_name(rr->target, target) != 0) return KMS_EINVAL;
    rr->type = DNSMSG_T_SRV;
    rr->rclass = DNSMSG_C_IN;
    rr->ttl = ttl;
    rr->priority = priority;
    rr->weight = weight;
    rr->port = port;
    return 0;
}

int dnsmsg_rr_addr(dnsmsg_rr *rr, const char *name, uint32_t ttl, uint16_t type,
                   const uint8_t *addr)
{
    if (!rr || !name || !addr || (type != DNSMSG_T_A && type != DNSMSG_T_AAAA)) return KMS_EINVAL;
    memset(rr, 0, sizeof *rr);
    if (set_name(rr->name, name) != 0) return KMS_EINVAL;
    rr->type = type;
    rr->rclass = DNSMSG_C_IN;
    rr->ttl = ttl;
    memcpy(rr->addr, addr, type == DNSMSG_T_A ? 4 : 16);
    return 0;
}

/* Writes the rdata of rr (SRV, A, AAAA) with its length in front. */
static int write_rdata(wcursor *c, const dnsmsg_rr *rr)
{
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    switch (rr->type) {
    case DNSMSG_T_SRV: {
        int n = dnsmsg_name_to_wire(rr->target, w);
        if (n < 0) return n;
        wc_be16(c, (uint16_t)(6 + n));
        wc_be16(c, rr->priority);
        wc_be16(c, rr->weight);
        wc_be16(c, rr->port);
        wc_bytes(c, w, (size_t)n); /* RFC 2782: the target is never compressed */
        return 0;
    }
    case DNSMSG_T_A:
        wc_be16(c, 4);
        wc_bytes(c, rr->addr, 4);
        return 0;
    case DNSMSG_T_AAAA:
        wc_be16(c, 16);
        wc_bytes(c, rr->addr, 16);
        return 0;
    default:
        return KMS_EINVAL;
    }
}

/* ---- UPDATE ---------------------------------------------------------------------------- */

enum { SEC_ZONE = 0, SEC_PREREQ = 1, SEC_UPDATE = 2 };

static int fail(dnsmsg_update *u, int err)
{
    if (!u->err) u->err = err;
    return u->err;
}

int dnsmsg_update_init(dnsmsg_update *u, uint8_t *buf, size_t cap, uint16_t id, const char *zone)
{
    if (!u) return KMS_EINVAL;
    memset(u, 0, sizeof *u);
    u->buf = buf;
    u->cap = cap;
    if (!buf) return fail(u, KMS_EINVAL);
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    int n = dnsmsg_name_to_wire(zone, w);
    if (n < 0) return fail(u, KMS_EINVAL);
    wcursor c = wc_init(buf, cap);
    wc_be16(&c, id);
    wc_be16(&c, (uint16_t)(DNSMSG_OP_UPDATE << 11));
    wc_be16(&c, 1); /* ZOCOUNT */
    wc_be16(&c, 0); /* PRCOUNT */
    wc_be16(&c, 0); /* UPCOUNT */
    wc_be16(&c, 0); /* ADCOUNT */
    wc_bytes(&c, w, (size_t)n);
    wc_be16(&c, DNSMSG_T_SOA);
    wc_be16(&c, DNSMSG_C_IN);
    if (c.err) return fail(u, c.err);
    u->len = c.pos;
    u->section = SEC_PREREQ;
    return 0;
}

/* Appends one RR (name, type, class, ttl, rdata or empty rdata) to section sec. */
static int append(dnsmsg_update *u, int sec, const char *name, uint16_t type, uint16_t rclass,
                  uint32_t ttl, const dnsmsg_rr *rdata)
{
    if (!u || !u->buf) return KMS_EINVAL;
    if (u->err) return u->err;
    if (sec < u->section) return fail(u, KMS_EINVAL); /* a prerequisite after an update */
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    int n = dnsmsg_name_to_wire(name, w);
    if (n < 0) return fail(u, KMS_EINVAL);
    wcursor c = wc_init(u->buf, u->cap);
    c.pos = u->len;
    wc_bytes(&c, w, (size_t)n);
    wc_be16(&c, type);
    wc_be16(&c, rclass);
    wc_be32(&c, ttl);
    if (rdata) {
        int rc = write_rdata(&c, rdata);
        if (rc < 0) return fail(u, rc);
    } else {
        wc_be16(&c, 0);
    }
    if (c.err) return fail(u, c.err);
    size_t count_off = sec == SEC_PREREQ ? 6 : 8;
    uint16_t cnt = get16(u->buf + count_off);
    if (cnt == 0xFFFF) return fail(u, KMS_ETOOBIG);
    put16(u->buf + count_off, (uint16_t)(cnt + 1));
    u->len = c.pos;
    u->section = sec;
    return 0;
}

static bool rdata_type_ok(uint16_t t) { return t == DNSMSG_T_SRV || t == DNSMSG_T_A || t == DNSMSG_T_AAAA; }

int dnsmsg_update_prereq(dnsmsg_update *u, dnsmsg_prereq kind, const dnsmsg_rr *rr)
{
    if (!u || !rr) return KMS_EINVAL;
    switch (kind) {
    case DNSMSG_PRE_RRSET_EXISTS:
        return append(u, SEC_PREREQ, rr->name, rr->type, DNSMSG_C_ANY, 0, NULL);
    case DNSMSG_PRE_RRSET_EXISTS_VALUE:
        if (!rdata_type_ok(rr->type)) return fail(u, KMS_EINVAL);
        return append(u, SEC_PREREQ, rr->name, rr->type, DNSMSG_C_IN, 0, rr);
    case DNSMSG_PRE_RRSET_ABSENT:
        return append(u, SEC_PREREQ, rr->name, rr->type, DNSMSG_C_NONE, 0, NULL);
    case DNSMSG_PRE_NAME_IN_USE:
        return append(u, SEC_PREREQ, rr->name, DNSMSG_T_ANY, DNSMSG_C_ANY, 0, NULL);
    case DNSMSG_PRE_NAME_NOT_IN_USE:
        return append(u, SEC_PREREQ, rr->name, DNSMSG_T_ANY, DNSMSG_C_NONE, 0, NULL);
    }
    return fail(u, KMS_EINVAL);
}

int dnsmsg_update_add(dnsmsg_update *u, const dnsmsg_rr *rr)
{
    if (!u || !rr) return KMS_EINVAL;
    if (!rdata_type_ok(rr->type)) return fail(u, KMS_EINVAL);
    return append(u, SEC_UPDATE, rr->name, rr->type, DNSMSG_C_IN, rr->ttl, rr);
}

int dnsmsg_update_delete_rr(dnsmsg_update *u, const dnsmsg_rr *rr)
{
    if (!u || !rr) return KMS_EINVAL;
    if (!rdata_type_ok(rr->type)) return fail(u, KMS_EINVAL);
    return append(u, SEC_UPDATE, rr->name, rr->type, DNSMSG_C_NONE, 0, rr);
}

int dnsmsg_update_delete_rrset(dnsmsg_update *u, const char *name, uint16_t type)
{
    if (!u || !name) return KMS_EINVAL;
    return append(u, SEC_UPDATE, name, type, DNSMSG_C_ANY, 0, NULL);
}

int dnsmsg_update_finish(dnsmsg_update *u)
{
    if (!u) return KMS_EINVAL;
    if (u->err) return u->err;
    if (!u->buf || u->len < DNSMSG_HEADER_LEN) return KMS_EINVAL;
    if (u->len > 65535) return KMS_ETOOBIG;
    return (int)u->len;
}

/* ---- TSIG ------------------------------------------------------------------------------ */

int dnsmsg_key_set(dnsmsg_key *key, const char *name, const uint8_t *secret, size_t len)
{
    if (!key || !name || (!secret && len) || len > DNSMSG_SECRET_MAX) return KMS_EINVAL;
    memset(key, 0, sizeof *key);
    int n = dnsmsg_name_to_wire(name, key->wire);
    if (n < 0) return KMS_EINVAL;
    for (int i = 0; i < n; i++) key->wire[i] = lower(key->wire[i]);
    key->wire_len = (size_t)n;
    if (dnsmsg_name_to_text(key->wire, key->wire_len, key->name, sizeof key->name) != 0) return KMS_EINVAL;
    if (len) memcpy(key->secret, secret, len);
    key->secret_len = len;
    return 0;
}

/* HMAC-SHA256 over a list of pieces (empty pieces are skipped). */
typedef struct piece { const uint8_t *p; size_t n; } piece;

static int hmac_pieces(const dnsmsg_key *key, const piece *pieces, int count, uint8_t mac[DNSMSG_MAC_LEN])
{
    int rc = KMS_ECRYPTO;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    /* A zero-length key is legal for TSIG; OpenSSL wants a non-NULL pointer. */
    static const uint8_t nokey[1] = {0};
    if (!ctx || EVP_MAC_init(ctx, key->secret_len ? key->secret : nokey, key->secret_len, params) != 1)
        goto out;
    for (int i = 0; i < count; i++)
        if (pieces[i].n && EVP_MAC_update(ctx, pieces[i].p, pieces[i].n) != 1) goto out;
    size_t outl = 0;
    if (EVP_MAC_final(ctx, mac, &outl, DNSMSG_MAC_LEN) != 1 || outl != DNSMSG_MAC_LEN) goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return rc;
}

/* The TSIG variables (RFC 8945 4.3.3) in canonical form, without the other data that
 * follows them. Returns their length (0 when out is too small). */
#define TSIG_VARS_MAX (DNSMSG_WIRE_NAME_MAX + sizeof alg_hmac_sha256 + 18)
static size_t tsig_variables(uint8_t *out, size_t cap, const dnsmsg_key *key, uint64_t time_signed,
                             uint16_t fudge, uint16_t error, uint16_t other_len)
{
    wcursor c = wc_init(out, cap);
    wc_bytes(&c, key->wire, key->wire_len);
    wc_be16(&c, DNSMSG_C_ANY);
    wc_be32(&c, 0);
    wc_bytes(&c, alg_hmac_sha256, sizeof alg_hmac_sha256);
    wc_be48(&c, time_signed);
    wc_be16(&c, fudge);
    wc_be16(&c, error);
    wc_be16(&c, other_len);
    return c.err ? 0 : c.pos;
}

int dnsmsg_tsig_sign(uint8_t *buf, size_t len, size_t cap, const dnsmsg_key *key,
                     const uint8_t *req_mac, size_t req_mac_len, uint64_t time_signed,
                     uint16_t fudge, uint8_t mac[DNSMSG_MAC_LEN])
{
    if (!buf || !key || !mac || len < DNSMSG_HEADER_LEN || len > cap || key->wire_len == 0 ||
        (req_mac_len && !req_mac) || req_mac_len > 0xFFFF || time_signed >> 48)
        return KMS_EINVAL;
    uint16_t arcount = get16(buf + 10);
    if (arcount == 0xFFFF) return KMS_ETOOBIG;
    uint8_t vars[TSIG_VARS_MAX];
    size_t vlen = tsig_variables(vars, sizeof vars, key, time_signed, fudge, 0, 0);
    if (!vlen) return KMS_EINVAL;
    uint8_t rml[2];
    put16(rml, (uint16_t)req_mac_len);
    piece pieces[4] = {{rml, req_mac ? 2 : 0}, {req_mac, req_mac_len}, {buf, len}, {vars, vlen}};
    int rc = hmac_pieces(key, pieces, 4, mac);
    if (rc < 0) return rc;

    wcursor c = wc_init(buf, cap);
    c.pos = len;
    wc_bytes(&c, key->wire, key->wire_len);
    wc_be16(&c, DNSMSG_T_TSIG);
    wc_be16(&c, DNSMSG_C_ANY);
    wc_be32(&c, 0);
    wc_be16(&c, (uint16_t)(sizeof alg_hmac_sha256 + 6 + 2 + 2 + DNSMSG_MAC_LEN + 2 + 2 + 2));
    wc_bytes(&c, alg_hmac_sha256, sizeof alg_hmac_sha256);
    wc_be48(&c, time_signed);
    wc_be16(&c, fudge);
    wc_be16(&c, DNSMSG_MAC_LEN);
    wc_bytes(&c, mac, DNSMSG_MAC_LEN);
    wc_be16(&c, get16(buf)); /* original ID */
    wc_be16(&c, 0);          /* error */
    wc_be16(&c, 0);          /* other len */
    if (c.err) return c.err;
    if (c.pos > 65535) return KMS_ETOOBIG;
    put16(buf + 10, (uint16_t)(arcount + 1));
    return (int)c.pos;
}

/* Reads the TSIG rdata at the cursor (rdlength bytes) into info. */
static void read_tsig_rdata(const uint8_t *msg, size_t len, rcursor *c, size_t rdlen, dnsmsg_info *info)
{
    size_t end = c->pos + rdlen;
    uint8_t alg[DNSMSG_WIRE_NAME_MAX];
    size_t alg_len;
    read_name(msg, len, c, alg, &alg_len);
    info->tsig_alg_ok = !c->err && wire_equal_ci(alg, alg_len, alg_hmac_sha256, sizeof alg_hmac_sha256);
    info->tsig_time = rc_be48(c);
    info->tsig_fudge = rc_be16(c);
    info->tsig_mac_len = rc_be16(c);
    info->tsig_mac_off = c->pos;
    rc_skip(c, info->tsig_mac_len);
    info->tsig_orig_id = rc_be16(c);
    info->tsig_error = rc_be16(c);
    info->tsig_other_len = rc_be16(c);
    info->tsig_other_off = c->pos;
    rc_skip(c, info->tsig_other_len);
    if (!c->err && c->pos != end) c->err = KMS_EINVAL; /* rdata length disagrees */
}

int dnsmsg_parse(const uint8_t *msg, size_t len, dnsmsg_info *info)
{
    if (!msg || !info) return KMS_EINVAL;
    memset(info, 0, sizeof *info);
    rcursor c = rc_init(msg, len);
    info->id = rc_be16(&c);
    info->flags = rc_be16(&c);
    info->qr = (info->flags & 0x8000) != 0;
    info->opcode = (info->flags >> 11) & 0xF;
    info->rcode = info->flags & 0xF;
    info->qdcount = rc_be16(&c);
    info->ancount = rc_be16(&c);
    info->nscount = rc_be16(&c);
    info->arcount = rc_be16(&c);
    if (c.err) return c.err;
    uint8_t wire[DNSMSG_WIRE_NAME_MAX];
    size_t wl;
    for (unsigned i = 0; i < info->qdcount && !c.err; i++) {
        read_name(msg, len, &c, wire, &wl);
        rc_skip(&c, 4); /* type, class */
    }
    if (c.err) return c.err;
    info->answer_off = c.pos;
    unsigned total = (unsigned)info->ancount + info->nscount + info->arcount;
    for (unsigned i = 0; i < total && !c.err; i++) {
        size_t start = c.pos;
        read_name(msg, len, &c, wire, &wl);
        uint16_t type = rc_be16(&c);
        uint16_t rclass = rc_be16(&c);
        uint32_t ttl = rc_be32(&c);
        uint16_t rdlen = rc_be16(&c);
        if (c.err) break;
        if (rc_left(&c) < rdlen) { c.err = KMS_ETRUNC; break; }
        if (type == DNSMSG_T_TSIG) {
            /* the last RR, class ANY, TTL 0 (RFC 8945 4.2) */
            if (i != total - 1 || info->arcount == 0 || rclass != DNSMSG_C_ANY || ttl != 0) {
                c.err = KMS_EINVAL;
                break;
            }
            info->has_tsig = true;
            info->tsig_off = start;
            memcpy(info->tsig_key, wire, wl);
            info->tsig_key_len = wl;
            read_tsig_rdata(msg, len, &c, rdlen, info);
        } else {
            rc_skip(&c, rdlen);
        }
    }
    if (!c.err && c.pos != len) c.err = KMS_EINVAL; /* trailing bytes */
    if (c.err) {
        info->has_tsig = false;
        return c.err;
    }
    return 0;
}

int dnsmsg_read_rr(const uint8_t *msg, size_t len, size_t *pos, dnsmsg_rr *rr)
{
    if (!msg || !pos || !rr || *pos > len) return KMS_EINVAL;
    memset(rr, 0, sizeof *rr);
    rcursor c = rc_init(msg, len);
    c.pos = *pos;
    uint8_t wire[DNSMSG_WIRE_NAME_MAX];
    size_t wl;
    read_name(msg, len, &c, wire, &wl);
    rr->type = rc_be16(&c);
    rr->rclass = rc_be16(&c);
    rr->ttl = rc_be32(&c);
    rr->rdlength = rc_be16(&c);
    if (c.err) return c.err;
    if (rc_left(&c) < rr->rdlength) return KMS_ETRUNC;
    if (dnsmsg_name_to_text(wire, wl, rr->name, sizeof rr->name) != 0) return KMS_EINVAL;
    size_t end = c.pos + rr->rdlength;
    if (rr->rdlength == 0) {
        /* deletions and prerequisites carry no rdata */
    } else if (rr->type == DNSMSG_T_SRV) {
        rr->priority = rc_be16(&c);
        rr->weight = rc_be16(&c);
        rr->port = rc_be16(&c);
        read_name(msg, len, &c, wire, &wl);
        if (c.err) return c.err;
        if (c.pos != end) return KMS_EINVAL;
        if (dnsmsg_name_to_text(wire, wl, rr->target, sizeof rr->target) != 0) return KMS_EINVAL;
    } else if (rr->type == DNSMSG_T_A || rr->type == DNSMSG_T_AAAA) {
        size_t n = rr->type == DNSMSG_T_A ? 4 : 16;
        if (rr->rdlength != n) return KMS_EINVAL;
        { const uint8_t *a = rc_take(&c, n); if (a) memcpy(rr->addr, a, n); }
    } else {
        rc_skip(&c, rr->rdlength);
    }
    if (c.err) return c.err;
    *pos = end;
    return 0;
}

int dnsmsg_tsig_verify(const uint8_t *msg, size_t len, const dnsmsg_info *info,
                       const dnsmsg_key *key, const uint8_t *req_mac, size_t req_mac_len,
                       uint64_t now)
{
    if (!msg || !info || !key || (req_mac_len && !req_mac) || req_mac_len > 0xFFFF) return KMS_EINVAL;
    if (!info->has_tsig || info->tsig_off < DNSMSG_HEADER_LEN || info->tsig_off > len ||
        info->arcount == 0)
        return KMS_EMAC;
    if (!wire_equal_ci(info->tsig_key, info->tsig_key_len, key->wire, key->wire_len) || !info->tsig_alg_ok)
        return KMS_EMAC;
    if (info->tsig_mac_len != DNSMSG_MAC_LEN || info->tsig_mac_off + DNSMSG_MAC_LEN > len ||
        info->tsig_other_off + info->tsig_other_len > len)
        return KMS_EMAC;
    /* The message as it was signed: original ID, ARCOUNT without the TSIG. */
    uint8_t hdr[DNSMSG_HEADER_LEN];
    memcpy(hdr, msg, sizeof hdr);
    put16(hdr, info->tsig_orig_id);
    put16(hdr + 10, (uint16_t)(info->arcount - 1));
    uint8_t vars[TSIG_VARS_MAX];
    size_t vlen = tsig_variables(vars, sizeof vars, key, info->tsig_time, info->tsig_fudge,
                                 info->tsig_error, info->tsig_other_len);
    if (!vlen) return KMS_EMAC;
    uint8_t rml[2];
    put16(rml, (uint16_t)req_mac_len);
    piece pieces[6] = {{rml, req_mac ? 2 : 0}, {req_mac, req_mac_len}, {hdr, sizeof hdr},
                       {msg + DNSMSG_HEADER_LEN, info->tsig_off - DNSMSG_HEADER_LEN}, {vars, vlen},
                       {msg + info->tsig_other_off, info->tsig_other_len}};
    uint8_t mac[DNSMSG_MAC_LEN];
    int rc = hmac_pieces(key, pieces, 6, mac);
    if (rc < 0) return rc;
    if (kms_memcmp_ct(mac, msg + info->tsig_mac_off, DNSMSG_MAC_LEN) != 0) return KMS_EMAC;
    uint64_t t = info->tsig_time;
    if ((now > t ? now - t : t - now) > info->tsig_fudge) return KMS_ETIMEOUT;
    return 0;
}

/* ---- BIND key files ---------------------------------------------------------------------- */

typedef struct lexer {
    const char *p, *end;
} lexer;

/* Next token: a quoted string (quotes removed), one of { } ;, or a bare word. Returns its
 * length (>= 0) with *tok pointing at it, or -1 at the end / on an unterminated string. */
static int next_token(lexer *lx, const char **tok, bool *quoted)
{
    *quoted = false;
    for (;;) {
        while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' || *lx->p == '\n'))
            lx->p++;
        if (lx->p >= lx->end) return -1;
        if (*lx->p == '#' || (*lx->p == '/' && lx->p + 1 < lx->end && lx->p[1] == '/')) {
            while (lx->p < lx->end && *lx->p != '\n') lx->p++;
            continue;
        }
        if (*lx->p == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
            lx->p += 2;
            while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/')) lx->p++;
            if (lx->p + 1 >= lx->end) return -1;
            lx->p += 2;
            continue;
        }
        break;
    }
    const char *s = lx->p;
    if (*s == '"') {
        const char *q = s + 1;
        while (q < lx->end && *q != '"') q++;
        if (q >= lx->end) return -1;
        *tok = s + 1;
        *quoted = true;
        lx->p = q + 1;
        return (int)(q - s - 1);
    }
    if (*s == '{' || *s == '}' || *s == ';') {
        *tok = s;
        lx->p = s + 1;
        return 1;
    }
    const char *q = s;
    while (q < lx->end && *q && !strchr(" \t\r\n{};\"#", *q)) q++;
    if (q == s) return -1; /* a NUL byte: not a key file */
    *tok = s;
    lx->p = q;
    return (int)(q - s);
}

static bool tok_is(const char *tok, int n, bool quoted, const char *word)
{
    return !quoted && (size_t)n == strlen(word) && strncmp(tok, word, (size_t)n) == 0;
}

static bool tok_is_ci(const char *tok, int n, const char *word)
{
    if ((size_t)n != strlen(word)) return false;
    for (int i = 0; i < n; i++)
        if (lower((uint8_t)tok[i]) != (uint8_t)word[i]) return false;
    return true;
}

int dnsmsg_key_parse(const char *text, size_t len, dnsmsg_key *key, const char **why)
{
    static const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    if (!text || !key) { *why = "no key file text"; return KMS_EINVAL; }
    lexer lx = {text, text + len};
    const char *tok;
    bool quoted;
    int n;
    /* Find "key NAME {". */
    for (;;) {
        n = next_token(&lx, &tok, &quoted);
        if (n < 0) { *why = "no 'key \"NAME\" { ... };' statement"; return KMS_EINVAL; }
        if (tok_is(tok, n, quoted, "key")) break;
    }
    char name[DNSMSG_NAME_TEXT_MAX];
    n = next_token(&lx, &tok, &quoted);
    if (n <= 0 || (size_t)n >= sizeof name || (!quoted && (*tok == '{' || *tok == ';'))) {
        *why = "the key statement has no name";
        return KMS_EINVAL;
    }
    memcpy(name, tok, (size_t)n);
    name[n] = 0;
    n = next_token(&lx, &tok, &quoted);
    if (n != 1 || quoted || *tok != '{') { *why = "expected '{' after the key name"; return KMS_EINVAL; }
    char secret_b64[700];
    bool have_alg = false, have_secret = false;
    for (;;) {
        n = next_token(&lx, &tok, &quoted);
        if (n < 0) { *why = "unterminated key statement"; return KMS_EINVAL; }
        if (!quoted && n == 1 && *tok == '}') break;
        if (tok_is(tok, n, quoted, "algorithm")) {
            n = next_token(&lx, &tok, &quoted);
            if (n <= 0) { *why = "algorithm without a value"; return KMS_EINVAL; }
            if (!tok_is_ci(tok, n, "hmac-sha256") && !tok_is_ci(tok, n, "hmac-sha256.")) {
                *why = "only algorithm hmac-sha256 is supported (tsig-keygen -a hmac-sha256)";
                return KMS_EINVAL;
            }
            have_alg = true;
        } else if (tok_is(tok, n, quoted, "secret")) {
            n = next_token(&lx, &tok, &quoted);
            if (n <= 0 || (size_t)n >= sizeof secret_b64) { *why = "secret missing or too long"; return KMS_EINVAL; }
            memcpy(secret_b64, tok, (size_t)n);
            secret_b64[n] = 0;
            have_secret = true;
        } else {
            *why = "unknown clause in the key statement (expected algorithm and secret)";
            return KMS_EINVAL;
        }
        n = next_token(&lx, &tok, &quoted);
        if (n != 1 || quoted || *tok != ';') { *why = "expected ';' after a clause of the key statement"; return KMS_EINVAL; }
    }
    if (!have_alg) { *why = "the key statement has no algorithm"; return KMS_EINVAL; }
    if (!have_secret) { *why = "the key statement has no secret"; return KMS_EINVAL; }
    /* base64 without whitespace; EVP_DecodeBlock counts the padding as zero bytes. */
    size_t blen = strlen(secret_b64);
    if (blen == 0 || blen % 4 != 0) { *why = "the secret is not base64"; return KMS_EINVAL; }
    size_t pad = (secret_b64[blen - 1] == '=') + (blen > 1 && secret_b64[blen - 2] == '=');
    uint8_t raw[sizeof secret_b64];
    int dn = EVP_DecodeBlock(raw, (const unsigned char *)secret_b64, (int)blen);
    if (dn < 0 || (size_t)dn < pad) { *why = "the secret is not base64"; return KMS_EINVAL; }
    size_t slen = (size_t)dn - pad;
    if (slen == 0 || slen > DNSMSG_SECRET_MAX) { *why = "the secret is empty or longer than 128 bytes"; return KMS_EINVAL; }
    int rc = dnsmsg_key_set(key, name, raw, slen);
    memset(raw, 0, sizeof raw);
    memset(secret_b64, 0, sizeof secret_b64);
    if (rc != 0) { *why = "the key name is not a valid DNS name"; return KMS_EINVAL; }
    return 0;
}

/* ---- SRV order ----------------------------------------------------------------------------- */

int dnsmsg_srv_order(dnsmsg_srv *srv, size_t n, dnsmsg_rand_fn rnd, void *ctx)
{
    if ((!srv && n) || !rnd || n > 65535) return KMS_EINVAL; /* so a weight sum fits 32 bits */
    /* Insertion sort by priority, "." targets last; stable, n is small. */
    for (size_t i = 1; i < n; i++) {
        dnsmsg_srv t = srv[i];
        bool tdot = strcmp(t.target, ".") == 0;
        size_t j = i;
        while (j > 0) {
            bool pdot = strcmp(srv[j - 1].target, ".") == 0;
            bool before = pdot != tdot ? tdot < pdot : t.priority < srv[j - 1].priority;
            if (!before) break;
            srv[j] = srv[j - 1];
            j--;
        }
        srv[j] = t;
    }
    /* Within each priority: weight-0 records first, then repeated weighted draws. */
    for (size_t b = 0; b < n;) {
        size_t e = b + 1;
        while (e < n && srv[e].priority == srv[b].priority &&
               (strcmp(srv[e].target, ".") == 0) == (strcmp(srv[b].target, ".") == 0))
            e++;
        /* zero weights to the front of the group (stable) */
        size_t z = b;
        for (size_t i = b; i < e; i++) {
            if (srv[i].weight == 0) {
                dnsmsg_srv t = srv[i];
                memmove(&srv[z + 1], &srv[z], (i - z) * sizeof *srv);
                srv[z++] = t;
            }
        }
        for (size_t k = b; k + 1 < e; k++) {
            uint32_t sum = 0;
            for (size_t i = k; i < e; i++) sum += srv[i].weight;
            uint32_t r = rnd(ctx, sum);
            if (r > sum) r = sum;
            uint32_t run = 0;
            size_t pick = e - 1;
            for (size_t i = k; i < e; i++) {
                run += srv[i].weight;
                if (run >= r) { pick = i; break; }
            }
            /* Move the pick to position k, keeping the rest in their order. */
            dnsmsg_srv t = srv[pick];
            memmove(&srv[k + 1], &srv[k], (pick - k) * sizeof *srv);
            srv[k] = t;
        }
        b = e;
    }
    return 0;
}
