/* test_dnsmsg.c: proto/dnsmsg against messages captured from BIND 9.18 (nsupdate through a
 * recording proxy to named: a TSIG-signed UPDATE with name compression, named's signed
 * answer, and its NOTAUTH/BADSIG answer to a wrong key), plus round trips of our own UPDATE
 * builder and signer, tampering, names, BIND key files and the RFC 2782 SRV order. */
#include <stdlib.h>
#include <string.h>
#include "proto/dnsmsg.h"
#include "proto/errors.h"
#include "tests/testutil.h"

/* tsig-keygen -a hmac-sha256 kmsha-key */
static const char key_file[] =
    "key \"kmsha-key\" {\n"
    "\talgorithm hmac-sha256;\n"
    "\tsecret \"UMhgVhKhMyirMjicsiG+PpcVcEDJu23lbMWUQxZPUhk=\";\n"
    "};\n";

/* nsupdate -y hmac-sha256:kmsha-key:UMhg...: zone kms.test; update add
 * _vlmcs._tcp.kms.test. 60 IN SRV 0 100 1688 kms1.kms.test.; update add kms1.kms.test. 60
 * IN A 127.0.0.1 (BIND compresses the A owner into the SRV target: c040). */
static const char bind_request[] =
    "294628000001000000020001036b6d7304746573740000060001065f766c6d6373045f746370036b6d7304"
    "7465737400002100010000003c0015000000640698046b6d7331036b6d73047465737400c0400001000100"
    "00003c00047f000001096b6d7368612d6b65790000fa00ff00000000003d0b686d61632d73686132353600"
    "00006b034e5f012c0020768919640732edca517e2c853cd690a155511f088d2fd7a4795548b07d90cc4629"
    "4600000000";
/* named's NOERROR answer, signed over the request's MAC. */
static const char bind_response[] =
    "2946a8000001000000000001036b6d7304746573740000060001096b6d7368612d6b65790000fa00ff0000"
    "0000003d0b686d61632d7368613235360000006b034e5f012c00207ed05ba00236678261a35a3046a5355e"
    "81d1f562afbbfac8321dad1efe6d5672294600000000";
/* A delete signed with a wrong secret, and named's answer: NOTAUTH, TSIG error BADSIG,
 * no MAC. */
static const char bind_badsig_request[] =
    "ebfe28000001000000010001036b6d7304746573740000060001046b6d7331c00c000100ff000000000000"
    "096b6d7368612d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b034e5f012c00"
    "20851677bd22c9c187ce16c5de1c87254f49b0e83ee0c1855ba318d50ded46c930ebfe00000000";
static const char bind_badsig_response[] =
    "ebfea8090001000000000001036b6d7304746573740000060001096b6d7368612d6b65790000fa00ff0000"
    "0000001d0b686d61632d7368613235360000006b034e5f012c0000ebfe00100000";

static const uint64_t bind_time = 0x6b034e5fULL;

static dnsmsg_key the_key(void)
{
    dnsmsg_key k;
    const char *why = NULL;
    int rc = dnsmsg_key_parse(key_file, strlen(key_file), &k, &why);
    CHECKF(rc == 0, "key file: %s", why ? why : "?");
    return k;
}

static void test_names(void)
{
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    char t[DNSMSG_NAME_TEXT_MAX];
    int n = dnsmsg_name_to_wire("_vlmcs._tcp.KMS.test", w);
    CHECK_EQ_INT(n, 22);
    CHECK_MEM(w, "\x06_vlmcs\x04_tcp\x03KMS\x04test\x00", 22);
    CHECK_EQ_INT(dnsmsg_name_to_wire("_vlmcs._tcp.KMS.test.", w), 22);
    CHECK_EQ_INT(dnsmsg_name_to_wire(".", w), 1);
    CHECK_EQ_INT(dnsmsg_name_to_wire("", w), KMS_EINVAL);
    CHECK_EQ_INT(dnsmsg_name_to_wire("a..b", w), KMS_EINVAL);
    CHECK_EQ_INT(dnsmsg_name_to_wire(".a", w), KMS_EINVAL);
    CHECK_EQ_INT(dnsmsg_name_to_wire("a\\", w), KMS_EINVAL);
    CHECK_EQ_INT(dnsmsg_name_to_wire("a\\25", w), KMS_EINVAL);
    CHECK_EQ_INT(dnsmsg_name_to_wire("a\\256", w), KMS_EINVAL);
    /* escapes */
    n = dnsmsg_name_to_wire("a\\.b\\046c.d", w);
    CHECK_EQ_INT(n, 1 + 5 + 1 + 1 + 1);
    CHECK_MEM(w, "\x05" "a.b.c" "\x01" "d" "\x00", 9);
    CHECK_EQ_INT(dnsmsg_name_to_text(w, (size_t)n, t, sizeof t), 0);
    CHECK(strcmp(t, "a\\046b\\046c.d.") == 0);
    /* label and name limits */
    char lab[80];
    memset(lab, 'x', 63);
    lab[63] = 0;
    CHECK_EQ_INT(dnsmsg_name_to_wire(lab, w), 65);
    lab[63] = 'x';
    lab[64] = 0;
    CHECK_EQ_INT(dnsmsg_name_to_wire(lab, w), KMS_EINVAL);
    char longname[300];
    longname[0] = 0;
    for (int i = 0; i < 4; i++) { /* 4 * 64 = 256 octets + root: too long */
        memset(lab, 'y', 63);
        lab[63] = 0;
        strcat(longname, lab);
        strcat(longname, ".");
    }
    CHECK_EQ_INT(dnsmsg_name_to_wire(longname, w), KMS_EINVAL);
    longname[strlen(longname) - 3] = 0; /* 4 labels, last 61 long: 253 + root = 254 */
    CHECK(dnsmsg_name_to_wire(longname, w) > 0);
    CHECK(dnsmsg_name_equal("KMS1.Kms.Test", "kms1.kms.test."));
    CHECK(!dnsmsg_name_equal("kms1.kms.test", "kms2.kms.test"));
    CHECK(!dnsmsg_name_equal("kms1..test", "kms1..test"));
    CHECK(strcmp(dnsmsg_rcode_name(DNSMSG_NOTAUTH), "NOTAUTH") == 0);
    CHECK(strcmp(dnsmsg_rcode_name(DNSMSG_BADSIG), "BADSIG") == 0);
    CHECK(strcmp(dnsmsg_rcode_name(4000), "UNKNOWN") == 0);
}

static void test_key_files(void)
{
    dnsmsg_key k = the_key();
    CHECK(strcmp(k.name, "kmsha-key.") == 0);
    CHECK_EQ_INT(k.secret_len, 32);
    CHECK_EQ_INT(k.secret[0], 0x50);
    CHECK_EQ_INT(k.secret[31], 0x19);
    const char *why = NULL;
    static const char commented[] =
        "# made by tsig-keygen\n// another comment\n/* and\n one */ key Other.Key. {\n"
        " secret \"AAECAw==\"; algorithm HMAC-SHA256; };\n";
    CHECK_EQ_INT(dnsmsg_key_parse(commented, strlen(commented), &k, &why), 0);
    CHECK(strcmp(k.name, "other.key.") == 0);
    CHECK_EQ_INT(k.secret_len, 4);
    CHECK_MEM(k.secret, "\x00\x01\x02\x03", 4);
    static const char md5[] = "key \"k\" { algorithm hmac-md5; secret \"AAECAw==\"; };";
    CHECK_EQ_INT(dnsmsg_key_parse(md5, strlen(md5), &k, &why), KMS_EINVAL);
    CHECK(why && strstr(why, "hmac-sha256"));
    static const char badb64[] = "key \"k\" { algorithm hmac-sha256; secret \"AAE*Aw==\"; };";
    CHECK_EQ_INT(dnsmsg_key_parse(badb64, strlen(badb64), &k, &why), KMS_EINVAL);
    static const char nosecret[] = "key \"k\" { algorithm hmac-sha256; };";
    CHECK_EQ_INT(dnsmsg_key_parse(nosecret, strlen(nosecret), &k, &why), KMS_EINVAL);
    CHECK(why && strstr(why, "secret"));
    static const char nothing[] = "options { };";
    CHECK_EQ_INT(dnsmsg_key_parse(nothing, strlen(nothing), &k, &why), KMS_EINVAL);
    static const char unterminated[] = "key \"k\" { algorithm hmac-sha256; secret \"AAECAw==";
    CHECK_EQ_INT(dnsmsg_key_parse(unterminated, strlen(unterminated), &k, &why), KMS_EINVAL);
    /* every prefix of a valid file fails cleanly */
    for (size_t i = 0; i + 3 < strlen(key_file); i++)
        CHECK(dnsmsg_key_parse(key_file, i, &k, NULL) != 0);
}

static void test_bind_vectors(void)
{
    dnsmsg_key k = the_key();
    size_t qlen, rlen;
    uint8_t *q = tu_unhex_alloc(bind_request, &qlen);
    uint8_t *r = tu_unhex_alloc(bind_response, &rlen);
    dnsmsg_info qi, ri;
    CHECK_EQ_INT(dnsmsg_parse(q, qlen, &qi), 0);
    CHECK_EQ_INT(qi.id, 0x2946);
    CHECK(!qi.qr);
    CHECK_EQ_INT(qi.opcode, DNSMSG_OP_UPDATE);
    CHECK_EQ_INT(qi.qdcount, 1);
    CHECK_EQ_INT(qi.nscount, 2);
    CHECK(qi.has_tsig);
    CHECK(qi.tsig_alg_ok);
    CHECK_EQ_INT(qi.tsig_time, bind_time);
    CHECK_EQ_INT(qi.tsig_fudge, 300);
    CHECK_EQ_INT(qi.tsig_mac_len, 32);
    /* the update section, compression included */
    size_t pos = qi.answer_off;
    dnsmsg_rr rr;
    CHECK_EQ_INT(dnsmsg_read_rr(q, qlen, &pos, &rr), 0);
    CHECK(strcmp(rr.name, "_vlmcs._tcp.kms.test.") == 0);
    CHECK_EQ_INT(rr.type, DNSMSG_T_SRV);
    CHECK_EQ_INT(rr.rclass, DNSMSG_C_IN);
    CHECK_EQ_INT(rr.ttl, 60);
    CHECK_EQ_INT(rr.priority, 0);
    CHECK_EQ_INT(rr.weight, 100);
    CHECK_EQ_INT(rr.port, 1688);
    CHECK(strcmp(rr.target, "kms1.kms.test.") == 0);
    CHECK_EQ_INT(dnsmsg_read_rr(q, qlen, &pos, &rr), 0);
    CHECK(strcmp(rr.name, "kms1.kms.test.") == 0);
    CHECK_EQ_INT(rr.type, DNSMSG_T_A);
    CHECK_MEM(rr.addr, "\x7f\x00\x00\x01", 4);
    CHECK_EQ_INT(pos, qi.tsig_off);
    /* BIND's request MAC is what we compute; the answer verifies over it */
    CHECK_EQ_INT(dnsmsg_tsig_verify(q, qlen, &qi, &k, NULL, 0, bind_time), 0);
    CHECK_EQ_INT(dnsmsg_parse(r, rlen, &ri), 0);
    CHECK(ri.qr);
    CHECK_EQ_INT(ri.rcode, DNSMSG_NOERROR);
    CHECK_EQ_INT(ri.id, 0x2946);
    const uint8_t *req_mac = q + qi.tsig_mac_off;
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, req_mac, 32, bind_time + 1), 0);
    /* not over another request's MAC, not as a request, not with another key, not late */
    uint8_t other_mac[32];
    memcpy(other_mac, req_mac, 32);
    other_mac[5] ^= 1;
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, other_mac, 32, bind_time), KMS_EMAC);
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, NULL, 0, bind_time), KMS_EMAC);
    dnsmsg_key k2 = k;
    k2.secret[0] ^= 0x80;
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k2, req_mac, 32, bind_time), KMS_EMAC);
    dnsmsg_key k3;
    CHECK_EQ_INT(dnsmsg_key_set(&k3, "other-key", k.secret, k.secret_len), 0);
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k3, req_mac, 32, bind_time), KMS_EMAC);
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, req_mac, 32, bind_time + 301), KMS_ETIMEOUT);
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, req_mac, 32, bind_time - 301), KMS_ETIMEOUT);
    /* a changed id is fine (the original ID is signed), a changed flag is not */
    r[0] ^= 0x55;
    CHECK_EQ_INT(dnsmsg_parse(r, rlen, &ri), 0);
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, req_mac, 32, bind_time), 0);
    r[3] ^= 0x05;
    CHECK_EQ_INT(dnsmsg_parse(r, rlen, &ri), 0);
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, req_mac, 32, bind_time), KMS_EMAC);
    free(q);
    free(r);

    /* the wrong key: named answers NOTAUTH with TSIG error BADSIG and no MAC */
    q = tu_unhex_alloc(bind_badsig_request, &qlen);
    r = tu_unhex_alloc(bind_badsig_response, &rlen);
    CHECK_EQ_INT(dnsmsg_parse(q, qlen, &qi), 0);
    CHECK_EQ_INT(dnsmsg_tsig_verify(q, qlen, &qi, &k, NULL, 0, bind_time), KMS_EMAC);
    pos = qi.answer_off;
    CHECK_EQ_INT(dnsmsg_read_rr(q, qlen, &pos, &rr), 0);
    CHECK(strcmp(rr.name, "kms1.kms.test.") == 0);
    CHECK_EQ_INT(rr.rclass, DNSMSG_C_ANY);
    CHECK_EQ_INT(rr.rdlength, 0);
    CHECK_EQ_INT(dnsmsg_parse(r, rlen, &ri), 0);
    CHECK_EQ_INT(ri.rcode, DNSMSG_NOTAUTH);
    CHECK(ri.has_tsig);
    CHECK_EQ_INT(ri.tsig_error, DNSMSG_BADSIG);
    CHECK_EQ_INT(ri.tsig_mac_len, 0);
    CHECK_EQ_INT(dnsmsg_tsig_verify(r, rlen, &ri, &k, q + qi.tsig_mac_off, 32, bind_time), KMS_EMAC);
    free(q);
    free(r);
}

/* Builds the UPDATE the publisher sends: delete a stale SRV, add the right one, replace an
 * address; signs it; checks it parses back, verifies, and that any change breaks it. */
static void test_update_round_trip(void)
{
    dnsmsg_key k = the_key();
    uint8_t buf[1024];
    dnsmsg_update u;
    dnsmsg_rr stale, good, a, aaaa, pre;
    uint8_t v4[4] = {127, 0, 0, 2}, v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    CHECK_EQ_INT(dnsmsg_rr_srv(&stale, "_vlmcs._tcp.kms.test", 60, 0, 50, 1688, "kms2.kms.test"), 0);
    CHECK_EQ_INT(dnsmsg_rr_srv(&good, "_vlmcs._tcp.kms.test", 60, 10, 50, 1688, "kms2.kms.test"), 0);
    CHECK_EQ_INT(dnsmsg_rr_addr(&a, "kms2.kms.test", 60, DNSMSG_T_A, v4), 0);
    CHECK_EQ_INT(dnsmsg_rr_addr(&aaaa, "kms2.kms.test", 60, DNSMSG_T_AAAA, v6), 0);
    CHECK_EQ_INT(dnsmsg_rr_addr(&pre, "kms2.kms.test", 0, DNSMSG_T_A, v4), 0);
    CHECK_EQ_INT(dnsmsg_update_init(&u, buf, sizeof buf, 0xBEEF, "kms.test."), 0);
    CHECK_EQ_INT(dnsmsg_update_prereq(&u, DNSMSG_PRE_NAME_IN_USE, &pre), 0);
    CHECK_EQ_INT(dnsmsg_update_delete_rr(&u, &stale), 0);
    CHECK_EQ_INT(dnsmsg_update_add(&u, &good), 0);
    CHECK_EQ_INT(dnsmsg_update_delete_rrset(&u, "kms2.kms.test", DNSMSG_T_A), 0);
    CHECK_EQ_INT(dnsmsg_update_add(&u, &a), 0);
    CHECK_EQ_INT(dnsmsg_update_add(&u, &aaaa), 0);
    /* a prerequisite after an update is refused, and the error sticks */
    CHECK_EQ_INT(dnsmsg_update_prereq(&u, DNSMSG_PRE_RRSET_EXISTS, &pre), KMS_EINVAL);
    CHECK_EQ_INT(dnsmsg_update_finish(&u), KMS_EINVAL);
    CHECK_EQ_INT(dnsmsg_update_init(&u, buf, sizeof buf, 0xBEEF, "kms.test."), 0);
    dnsmsg_update_prereq(&u, DNSMSG_PRE_NAME_IN_USE, &pre);
    dnsmsg_update_delete_rr(&u, &stale);
    dnsmsg_update_add(&u, &good);
    dnsmsg_update_delete_rrset(&u, "kms2.kms.test", DNSMSG_T_A);
    dnsmsg_update_add(&u, &a);
    dnsmsg_update_add(&u, &aaaa);
    int len = dnsmsg_update_finish(&u);
    CHECK(len > DNSMSG_HEADER_LEN);
    uint8_t mac[32];
    int slen = dnsmsg_tsig_sign(buf, (size_t)len, sizeof buf, &k, NULL, 0, 1700000000, DNSMSG_FUDGE, mac);
    CHECK(slen > len);
    dnsmsg_info info;
    CHECK_EQ_INT(dnsmsg_parse(buf, (size_t)slen, &info), 0);
    CHECK_EQ_INT(info.id, 0xBEEF);
    CHECK_EQ_INT(info.opcode, DNSMSG_OP_UPDATE);
    CHECK_EQ_INT(info.qdcount, 1);
    CHECK_EQ_INT(info.ancount, 1); /* prerequisites */
    CHECK_EQ_INT(info.nscount, 5); /* updates */
    CHECK_EQ_INT(info.arcount, 1);
    CHECK_EQ_INT(info.tsig_off, (size_t)len);
    CHECK_MEM(buf + info.tsig_mac_off, mac, 32);
    CHECK_EQ_INT(dnsmsg_tsig_verify(buf, (size_t)slen, &info, &k, NULL, 0, 1700000100), 0);
    size_t pos = info.answer_off;
    dnsmsg_rr rr;
    static const struct { uint16_t type, rclass; uint32_t ttl; uint16_t rdlen; } want[6] = {
        {DNSMSG_T_ANY, DNSMSG_C_ANY, 0, 0},   {DNSMSG_T_SRV, DNSMSG_C_NONE, 0, 21},
        {DNSMSG_T_SRV, DNSMSG_C_IN, 60, 21},  {DNSMSG_T_A, DNSMSG_C_ANY, 0, 0},
        {DNSMSG_T_A, DNSMSG_C_IN, 60, 4},     {DNSMSG_T_AAAA, DNSMSG_C_IN, 60, 16},
    };
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(dnsmsg_read_rr(buf, (size_t)slen, &pos, &rr), 0);
        CHECK_EQ_INT(rr.type, want[i].type);
        CHECK_EQ_INT(rr.rclass, want[i].rclass);
        CHECK_EQ_INT(rr.ttl, want[i].ttl);
        CHECK_EQ_INT(rr.rdlength, want[i].rdlen);
    }
    CHECK_EQ_INT(pos, info.tsig_off);
    /* the SRV read back */
    pos = info.answer_off;
    dnsmsg_read_rr(buf, (size_t)slen, &pos, &rr);
    dnsmsg_read_rr(buf, (size_t)slen, &pos, &rr);
    dnsmsg_read_rr(buf, (size_t)slen, &pos, &rr);
    CHECK_EQ_INT(rr.priority, 10);
    CHECK_EQ_INT(rr.weight, 50);
    CHECK_EQ_INT(rr.port, 1688);
    CHECK(dnsmsg_name_equal(rr.target, "kms2.kms.test"));
    /* every single-bit change outside the header id either breaks parsing or the MAC */
    int undetected = 0;
    for (int i = 0; i < slen; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t t[1024];
            memcpy(t, buf, (size_t)slen);
            t[i] ^= (uint8_t)(1 << bit);
            dnsmsg_info ti;
            if (dnsmsg_parse(t, (size_t)slen, &ti) != 0) continue;
            int rc = dnsmsg_tsig_verify(t, (size_t)slen, &ti, &k, NULL, 0, 1700000000);
            bool id_byte = i < 2; /* the original ID in the TSIG is what is signed */
            if (rc == 0 && !id_byte) undetected++;
            if (id_byte) CHECK_EQ_INT(rc, 0);
        }
    }
    CHECK_EQ_INT(undetected, 0);
    /* truncated copies fail cleanly */
    for (int i = 0; i < slen; i++) {
        dnsmsg_info ti;
        CHECK(dnsmsg_parse(buf, (size_t)i, &ti) != 0);
    }
    /* a response signed over the request's MAC verifies with it */
    uint8_t resp[512];
    memcpy(resp, buf, (size_t)len); /* header + zone */
    size_t rl = 12;
    {
        size_t zpos = 12;
        while (resp[zpos]) zpos += resp[zpos] + 1u;
        rl = zpos + 1 + 4;
    }
    resp[2] |= 0x80;
    resp[6] = resp[7] = resp[8] = resp[9] = resp[10] = resp[11] = 0;
    uint8_t rmac[32];
    int rsl = dnsmsg_tsig_sign(resp, rl, sizeof resp, &k, mac, 32, 1700000001, DNSMSG_FUDGE, rmac);
    CHECK(rsl > 0);
    CHECK_EQ_INT(dnsmsg_parse(resp, (size_t)rsl, &info), 0);
    CHECK(info.qr);
    CHECK_EQ_INT(dnsmsg_tsig_verify(resp, (size_t)rsl, &info, &k, mac, 32, 1700000000), 0);
    CHECK_EQ_INT(dnsmsg_tsig_verify(resp, (size_t)rsl, &info, &k, rmac, 32, 1700000000), KMS_EMAC);
    /* too small a buffer */
    uint8_t tiny[40];
    CHECK_EQ_INT(dnsmsg_update_init(&u, tiny, sizeof tiny, 1, "kms.test"), 0);
    dnsmsg_update_add(&u, &good);
    CHECK_EQ_INT(dnsmsg_update_finish(&u), KMS_ESPACE);
    CHECK_EQ_INT(dnsmsg_update_init(&u, buf, sizeof buf, 1, "bad..zone"), KMS_EINVAL);
}

static void test_malformed(void)
{
    dnsmsg_info info;
    dnsmsg_rr rr;
    /* a compression pointer to itself, and one pointing forward */
    static const uint8_t loop[] = {0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
    CHECK_EQ_INT(dnsmsg_parse(loop, sizeof loop, &info), KMS_EINVAL);
    static const uint8_t fwd[] = {0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 18, 0, 1, 0, 1, 1, 'a', 0};
    CHECK_EQ_INT(dnsmsg_parse(fwd, sizeof fwd, &info), KMS_EINVAL);
    /* extended label type */
    static const uint8_t ext[] = {0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0, 0, 1, 0, 1};
    CHECK_EQ_INT(dnsmsg_parse(ext, sizeof ext, &info), KMS_EINVAL);
    /* counts larger than the message */
    static const uint8_t shortmsg[] = {0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1};
    CHECK_EQ_INT(dnsmsg_parse(shortmsg, sizeof shortmsg, &info), KMS_ETRUNC);
    CHECK_EQ_INT(dnsmsg_parse(shortmsg, 5, &info), KMS_ETRUNC);
    /* trailing garbage */
    static const uint8_t trailing[] = {0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    CHECK_EQ_INT(dnsmsg_parse(trailing, sizeof trailing, &info), KMS_EINVAL);
    /* an SRV answer whose rdata length disagrees with its target */
    static const uint8_t srv[] = {0, 1, 0x80, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 33, 0, 1, 0, 0, 0, 60,
                                  0, 8, 0, 1, 0, 2, 0, 3, 1, 'a', /* the root label of the next RR */
                                  0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1};
    CHECK_EQ_INT(dnsmsg_parse(srv, sizeof srv, &info), 0);
    size_t pos = info.answer_off;
    CHECK_EQ_INT(dnsmsg_read_rr(srv, sizeof srv, &pos, &rr), KMS_EINVAL);
    /* and a correct one, with a compressed target */
    static const uint8_t srv2[] = {0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0, 0, 33, 0, 1,
                                   0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 8, 0, 1, 0, 2, 0, 3, 0xC0, 12};
    CHECK_EQ_INT(dnsmsg_parse(srv2, sizeof srv2, &info), 0);
    pos = info.answer_off;
    CHECK_EQ_INT(dnsmsg_read_rr(srv2, sizeof srv2, &pos, &rr), 0);
    CHECK(strcmp(rr.name, "a.") == 0 && strcmp(rr.target, "a.") == 0);
    CHECK_EQ_INT(rr.priority, 1);
    CHECK_EQ_INT(rr.weight, 2);
    CHECK_EQ_INT(rr.port, 3);
    /* a TSIG that is not the last RR */
    dnsmsg_key k = the_key();
    uint8_t buf[512];
    dnsmsg_update u;
    dnsmsg_update_init(&u, buf, sizeof buf, 7, "kms.test");
    int len = dnsmsg_update_finish(&u);
    uint8_t mac[32];
    int slen = dnsmsg_tsig_sign(buf, (size_t)len, sizeof buf, &k, NULL, 0, 1, 300, mac);
    CHECK(slen > 0);
    memcpy(buf + slen, buf + len, (size_t)(slen - len)); /* a second TSIG */
    buf[11] = 2;
    CHECK_EQ_INT(dnsmsg_parse(buf, (size_t)(2 * slen - len), &info), KMS_EINVAL);
}

/* A fixed random source (xorshift), reduced to 0..max. */
static uint32_t xs_state = 2463534242u;
static uint32_t fixed_rand(void *ctx, uint32_t max)
{
    (void)ctx;
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 17;
    xs_state ^= xs_state << 5;
    return max == UINT32_MAX ? xs_state : xs_state % (max + 1);
}

static void test_srv_order(void)
{
    dnsmsg_srv in[5] = {
        {20, 100, 1688, "d.kms.test."}, {10, 60, 1688, "a.kms.test."}, {10, 30, 1688, "b.kms.test."},
        {10, 10, 1688, "c.kms.test."},  {30, 0, 1688, "."},
    };
    int first[3] = {0}, second_after_a[3] = {0};
    const int draws = 20000;
    for (int d = 0; d < draws; d++) {
        dnsmsg_srv s[5];
        memcpy(s, in, sizeof s);
        CHECK_EQ_INT(dnsmsg_srv_order(s, 5, fixed_rand, NULL), 0);
        for (int i = 1; i < 5; i++) CHECK(s[i - 1].priority <= s[i].priority);
        CHECK(strcmp(s[3].target, "d.kms.test.") == 0);
        CHECK(strcmp(s[4].target, ".") == 0);
        first[s[0].target[0] - 'a']++;
        if (s[0].target[0] == 'a') second_after_a[s[1].target[0] - 'a']++;
    }
    /* Expected shares of the first place: 60/100, 30/100, 10/100 (running sums 60, 90, 100
     * against a number in 0..100: 61/101, 30/101, 10/101 exactly). */
    CHECKF(abs(first[0] - draws * 61 / 101) < draws / 50, "a first %d times", first[0]);
    CHECKF(abs(first[1] - draws * 30 / 101) < draws / 50, "b first %d times", first[1]);
    CHECKF(abs(first[2] - draws * 10 / 101) < draws / 50, "c first %d times", first[2]);
    /* after a: b (30) against c (10) of 0..40 */
    int na = first[0];
    CHECKF(abs(second_after_a[1] - na * 31 / 41) < na / 25, "b second %d of %d", second_after_a[1], na);
    /* zero weights: only picked when the number is 0 */
    dnsmsg_srv z[2] = {{0, 100, 1, "x."}, {0, 0, 1, "zero."}};
    int zero_first = 0;
    for (int d = 0; d < draws; d++) {
        dnsmsg_srv s[2];
        memcpy(s, z, sizeof s);
        dnsmsg_srv_order(s, 2, fixed_rand, NULL);
        zero_first += strcmp(s[0].target, "zero.") == 0;
    }
    CHECKF(zero_first > 0 && zero_first < draws / 50, "zero-weight first %d times", zero_first);
    /* all zero: any order, all present */
    dnsmsg_srv all0[3] = {{5, 0, 1, "p."}, {5, 0, 1, "q."}, {5, 0, 1, "r."}};
    CHECK_EQ_INT(dnsmsg_srv_order(all0, 3, fixed_rand, NULL), 0);
    CHECK(all0[0].target[0] + all0[1].target[0] + all0[2].target[0] == 'p' + 'q' + 'r');
    CHECK_EQ_INT(dnsmsg_srv_order(NULL, 0, fixed_rand, NULL), 0);
    CHECK_EQ_INT(dnsmsg_srv_order(all0, 3, NULL, NULL), KMS_EINVAL);
}

int main(void)
{
    test_names();
    test_key_files();
    test_bind_vectors();
    test_update_round_trip();
    test_malformed();
    test_srv_order();
    return tu_finish();
}
