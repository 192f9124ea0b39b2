/* test_crypto.c: the KMS ciphers, MAC4 and v6 HMAC against vectors/primitives.json, the
 * spec's known answers, and OpenSSL's AES-128 (v5 is plain AES); CBC round trips. The
 * cipher checks run twice: on the portable tables, then on AES-NI when the CPU has it,
 * and the two must agree byte for byte. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include "proto/crypto.h"
#include "proto/errors.h"
#include "tests/testutil.h"

/* Set while the checks run on the portable tables. */
static bool portable_pass;

static int cipher_init(kms_cipher *c, kms_cipher_kind kind)
{
    int rc = kms_cipher_init(c, kind);
    if (rc == 0 && portable_pass) c->use_aesni = false;
    return rc;
}

static void hex16(json_t *obj, const char *key, uint8_t out[16])
{
    CHECKF(tu_unhex(tu_str(obj, key), out, 16) == 16, "%s is not 16 bytes", key);
}

/* One AES-128 ECB block with OpenSSL, for cross-checking the v5 cipher. */
static void openssl_aes128(const uint8_t key[16], const uint8_t in[16], uint8_t out[16], int enc)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    CHECK(ctx != NULL);
    if (!ctx) return;
    CHECK(EVP_CipherInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL, enc) == 1);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    CHECK(EVP_CipherUpdate(ctx, out, &n, in, 16) == 1 && n == 16);
    CHECK(EVP_CipherFinal_ex(ctx, out + n, &m) == 1 && m == 0);
    EVP_CIPHER_CTX_free(ctx);
}

static void test_v4(json_t *v)
{
    kms_cipher c;
    CHECK_EQ_INT(cipher_init(&c, KMS_CIPHER_V4), 0);
    CHECK_EQ_INT(c.rounds, tu_int(v, "rounds"));
    json_t *rks = json_object_get(v, "round_keys");
    CHECK_EQ_INT(json_array_size(rks), 12);
    for (size_t i = 0; i < json_array_size(rks) && i < 12; i++) {
        uint8_t want[16];
        CHECK(tu_unhex(json_string_value(json_array_get(rks, i)), want, 16) == 16);
        CHECK_MEM(c.rk[i], want, 16);
    }
    uint8_t zero[16] = {0}, seq[16], out[16], back[16], want[16];
    for (int i = 0; i < 16; i++) seq[i] = (uint8_t)i;
    hex16(v, "encrypt(00*16)", want);
    kms_cipher_encrypt_block(&c, zero, out);
    CHECK_MEM(out, want, 16);
    kms_cipher_decrypt_block(&c, out, back);
    CHECK_MEM(back, zero, 16);
    hex16(v, "encrypt(000102..0f)", want);
    kms_cipher_encrypt_block(&c, seq, out);
    CHECK_MEM(out, want, 16);
    kms_cipher_decrypt_block(&c, out, out); /* in place */
    CHECK_MEM(out, seq, 16);
}

static void test_v5(json_t *v)
{
    static const uint8_t key[16] = {0xCD, 0x7E, 0x79, 0x6F, 0x2A, 0xB2, 0x5D, 0xCB,
                                    0x55, 0xFF, 0xC8, 0xEF, 0x83, 0x64, 0xC4, 0x70};
    uint8_t want_key[16];
    hex16(v, "key", want_key);
    CHECK_MEM(key, want_key, 16);
    kms_cipher c;
    CHECK_EQ_INT(cipher_init(&c, KMS_CIPHER_V5), 0);
    CHECK_EQ_INT(c.rounds, tu_int(v, "rounds"));
    CHECK_MEM(c.rk[0], key, 16);
    uint8_t zero[16] = {0}, out[16], want[16], ref[16];
    hex16(v, "encrypt(00*16)", want);
    kms_cipher_encrypt_block(&c, zero, out);
    CHECK_MEM(out, want, 16);
    hex16(v, "decrypt(00*16)", want);
    kms_cipher_decrypt_block(&c, zero, out);
    CHECK_MEM(out, want, 16);
    /* Plain AES-128: every block must agree with OpenSSL, both directions. */
    uint8_t blk[16];
    for (int t = 0; t < 64; t++) {
        for (int i = 0; i < 16; i++) blk[i] = (uint8_t)(t * 37 + i * 11 + (t >> 2) * i);
        kms_cipher_encrypt_block(&c, blk, out);
        openssl_aes128(key, blk, ref, 1);
        CHECK_MEM(out, ref, 16);
        kms_cipher_decrypt_block(&c, blk, out);
        openssl_aes128(key, blk, ref, 0);
        CHECK_MEM(out, ref, 16);
    }
}

static void test_v6(json_t *v)
{
    static const uint8_t tweak_byte[11] = {0, 0, 0, 0, 0x73, 0, 0x09, 0, 0xE4, 0, 0};
    kms_cipher c;
    CHECK_EQ_INT(cipher_init(&c, KMS_CIPHER_V6), 0);
    CHECK_EQ_INT(c.rounds, tu_int(v, "rounds"));
    json_t *std_rk = json_object_get(v, "round_keys_standard");
    json_t *tw_rk = json_object_get(v, "round_keys_after_tweak");
    CHECK_EQ_INT(json_array_size(std_rk), 11);
    CHECK_EQ_INT(json_array_size(tw_rk), 11);
    for (size_t i = 0; i < 11 && i < json_array_size(std_rk) && i < json_array_size(tw_rk); i++) {
        uint8_t s[16], t[16], untweaked[16];
        CHECK(tu_unhex(json_string_value(json_array_get(std_rk, i)), s, 16) == 16);
        CHECK(tu_unhex(json_string_value(json_array_get(tw_rk, i)), t, 16) == 16);
        CHECK_MEM(c.rk[i], t, 16);
        memcpy(untweaked, c.rk[i], 16);
        untweaked[0] ^= tweak_byte[i];
        CHECK_MEM(untweaked, s, 16);
    }
    uint8_t zero[16] = {0}, seq[16], out[16], want[16];
    for (int i = 0; i < 16; i++) seq[i] = (uint8_t)i;
    hex16(v, "encrypt(00*16)", want);
    kms_cipher_encrypt_block(&c, zero, out);
    CHECK_MEM(out, want, 16);
    hex16(v, "encrypt(000102..0f)", want);
    kms_cipher_encrypt_block(&c, seq, out);
    CHECK_MEM(out, want, 16);
    kms_cipher_decrypt_block(&c, out, out);
    CHECK_MEM(out, seq, 16);
    hex16(v, "decrypt(00*16)", want);
    kms_cipher_decrypt_block(&c, zero, out);
    CHECK_MEM(out, want, 16);
    kms_cipher_encrypt_block(&c, out, out);
    CHECK_MEM(out, zero, 16);
    /* The tweak matters: plain AES with the same key gives the contrast value. */
    uint8_t key[16];
    hex16(v, "key", key);
    hex16(v, "standard_aes128_same_key_encrypt(00*16)_for_contrast", want);
    openssl_aes128(key, zero, out, 1);
    CHECK_MEM(out, want, 16);
    kms_cipher_encrypt_block(&c, zero, out);
    CHECK(memcmp(out, want, 16) != 0);
}

static void test_mac4(json_t *v)
{
    uint8_t mac[16], want[16], zeros[236] = {0};
    hex16(v, "mac(empty)", want);
    kms_mac4(NULL, 0, mac);
    CHECK_MEM(mac, want, 16);
    hex16(v, "mac(00*236)", want);
    kms_mac4(zeros, sizeof zeros, mac);
    CHECK_MEM(mac, want, 16);
    hex16(v, "mac(\"abc\")", want);
    kms_mac4((const uint8_t *)"abc", 3, mac);
    CHECK_MEM(mac, want, 16);
    /* A block-aligned input gets a whole padding block: MAC4(16 x 00) = E(E(0) ^ 80 00..). */
    kms_cipher c;
    kms_cipher_init(&c, KMS_CIPHER_V4);
    uint8_t m[16] = {0};
    kms_cipher_encrypt_block(&c, m, m);
    m[0] ^= 0x80;
    kms_cipher_encrypt_block(&c, m, m);
    kms_mac4(zeros, 16, mac);
    CHECK_MEM(mac, m, 16);
}

static void test_hmac(json_t *v)
{
    uint64_t ft = (uint64_t)tu_int(v, "filetime");
    uint8_t le[8], want_le[8];
    CHECK(tu_unhex(tu_str(v, "filetime_hex_le"), want_le, 8) == 8);
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(ft >> (8 * i));
    CHECK_MEM(le, want_le, 8);

    /* The slot itself is internal; check it through its published SHA-256. */
    uint64_t slot = (uint64_t)tu_int(v, "time_slot");
    uint8_t slot_le[8], want_slot_le[8], h[32], want_h[32];
    for (int i = 0; i < 8; i++) slot_le[i] = (uint8_t)(slot >> (8 * i));
    CHECK(tu_unhex(tu_str(v, "time_slot_le_hex"), want_slot_le, 8) == 8);
    CHECK_MEM(slot_le, want_slot_le, 8);
    CHECK_EQ_INT(kms_sha256(slot_le, 8, h), 0);
    CHECK(tu_unhex(tu_str(v, "sha256(time_slot_le)"), want_h, 32) == 32);
    CHECK_MEM(h, want_h, 32);

    uint8_t key[16], want_key[16], mac[16], want_mac[16];
    CHECK_EQ_INT(kms_v6_hmac_key(ft, key), 0);
    hex16(v, "hmac_key(last16)", want_key);
    CHECK_MEM(key, want_key, 16);
    CHECK_EQ_INT(kms_v6_mac(key, (const uint8_t *)"abc", 3, mac), 0);
    hex16(v, "hmac_sha256(key, \"abc\")[16:32]", want_mac);
    CHECK_MEM(mac, want_mac, 16);

    /* Same slot for the whole C1 interval, a different key in the next one. */
    uint64_t c1 = UINT64_C(0x00000022816889BD);
    uint64_t start = ft / c1 * c1;
    uint8_t k2[16];
    CHECK_EQ_INT(kms_v6_hmac_key(start, k2), 0);
    CHECK_MEM(k2, key, 16);
    CHECK_EQ_INT(kms_v6_hmac_key(start + c1 - 1, k2), 0);
    CHECK_MEM(k2, key, 16);
    CHECK_EQ_INT(kms_v6_hmac_key(start + c1, k2), 0);
    CHECK(memcmp(k2, key, 16) != 0);
}

static void test_sha256(void)
{
    uint8_t h[32], want[32];
    tu_unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    CHECK_EQ_INT(kms_sha256((const uint8_t *)"abc", 3, h), 0);
    CHECK_MEM(h, want, 32);
    tu_unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
    CHECK_EQ_INT(kms_sha256(NULL, 0, h), 0);
    CHECK_MEM(h, want, 32);
}

static void test_cbc(void)
{
    static const uint8_t v5key[16] = {0xCD, 0x7E, 0x79, 0x6F, 0x2A, 0xB2, 0x5D, 0xCB,
                                      0x55, 0xFF, 0xC8, 0xEF, 0x83, 0x64, 0xC4, 0x70};
    uint8_t iv[16], pt[96], ct[96], back[96], inplace[96];
    for (int i = 0; i < 16; i++) iv[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < 96; i++) pt[i] = (uint8_t)(i * 7 + 3);
    const kms_cipher_kind kinds[3] = {KMS_CIPHER_V4, KMS_CIPHER_V5, KMS_CIPHER_V6};
    for (int k = 0; k < 3; k++) {
        kms_cipher c;
        CHECK_EQ_INT(cipher_init(&c, kinds[k]), 0);
        for (size_t len = 0; len <= sizeof pt; len += 16) {
            CHECK_EQ_INT(kms_cbc_encrypt(&c, iv, pt, ct, len), 0);
            CHECK_EQ_INT(kms_cbc_decrypt(&c, iv, ct, back, len), 0);
            CHECK_MEM(back, pt, len);
            /* in == out */
            memcpy(inplace, pt, len);
            CHECK_EQ_INT(kms_cbc_encrypt(&c, iv, inplace, inplace, len), 0);
            CHECK_MEM(inplace, ct, len);
            CHECK_EQ_INT(kms_cbc_decrypt(&c, iv, inplace, inplace, len), 0);
            CHECK_MEM(inplace, pt, len);
        }
        /* The first block is E(pt ^ iv), the second E(pt2 ^ ct1). */
        uint8_t x[16], e[16];
        for (int i = 0; i < 16; i++) x[i] = (uint8_t)(pt[i] ^ iv[i]);
        kms_cipher_encrypt_block(&c, x, e);
        CHECK_MEM(ct, e, 16);
        for (int i = 0; i < 16; i++) x[i] = (uint8_t)(pt[16 + i] ^ ct[i]);
        kms_cipher_encrypt_block(&c, x, e);
        CHECK_MEM(ct + 16, e, 16);
        CHECK_EQ_INT(kms_cbc_encrypt(&c, iv, pt, ct, 15), KMS_EINVAL);
        CHECK_EQ_INT(kms_cbc_decrypt(&c, iv, ct, back, 33), KMS_EINVAL);
        if (kinds[k] == KMS_CIPHER_V5) {
            /* Cross-check v5 CBC with OpenSSL AES-128-CBC. */
            EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
            uint8_t ref[96];
            int n = 0, m = 0;
            CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, v5key, iv) == 1);
            EVP_CIPHER_CTX_set_padding(ctx, 0);
            CHECK(EVP_EncryptUpdate(ctx, ref, &n, pt, (int)sizeof pt) == 1);
            CHECK(EVP_EncryptFinal_ex(ctx, ref + n, &m) == 1);
            CHECK_EQ_INT(n + m, sizeof pt);
            EVP_CIPHER_CTX_free(ctx);
            CHECK_EQ_INT(kms_cbc_encrypt(&c, iv, pt, ct, sizeof pt), 0);
            CHECK_MEM(ct, ref, sizeof pt);
        }
    }
    kms_cipher c;
    CHECK_EQ_INT(kms_cipher_init(&c, (kms_cipher_kind)7), KMS_EINVAL);
    CHECK_EQ_INT(kms_cipher_init(NULL, KMS_CIPHER_V6), KMS_EINVAL);
}

/* The built-in schedules are the ones the key expansion derives from the spec's keys. */
static void test_schedule_tables(void)
{
    const kms_cipher_kind kinds[3] = {KMS_CIPHER_V4, KMS_CIPHER_V5, KMS_CIPHER_V6};
    for (int k = 0; k < 3; k++) {
        kms_cipher table, derived;
        CHECK_EQ_INT(kms_cipher_init(&table, kinds[k]), 0);
        CHECK_EQ_INT(kms_cipher_expand(&derived, kinds[k]), 0);
        CHECK_EQ_INT(table.rounds, derived.rounds);
        CHECK_EQ_INT(table.kind, derived.kind);
        CHECK_MEM(table.rk, derived.rk, sizeof table.rk);
    }
    kms_cipher c;
    CHECK_EQ_INT(kms_cipher_expand(&c, (kms_cipher_kind)3), KMS_EINVAL);
    CHECK_EQ_INT(kms_cipher_expand(NULL, KMS_CIPHER_V5), KMS_EINVAL);
}

/* AES-NI and the tables give the same bytes for every kind, direction and length. */
static void test_paths_agree(void)
{
    const kms_cipher_kind kinds[3] = {KMS_CIPHER_V4, KMS_CIPHER_V5, KMS_CIPHER_V6};
    uint8_t iv[16], pt[272], a[272], b[272];
    for (int i = 0; i < 16; i++) iv[i] = (uint8_t)(i * 29 + 1);
    for (size_t i = 0; i < sizeof pt; i++) pt[i] = (uint8_t)(i * 131 + 17);
    for (int k = 0; k < 3; k++) {
        kms_cipher fast, slow;
        CHECK_EQ_INT(kms_cipher_init(&fast, kinds[k]), 0);
        slow = fast;
        slow.use_aesni = false;
        for (size_t len = 0; len <= sizeof pt; len += 16) {
            CHECK_EQ_INT(kms_cbc_encrypt(&fast, iv, pt, a, len), 0);
            CHECK_EQ_INT(kms_cbc_encrypt(&slow, iv, pt, b, len), 0);
            CHECK_MEM(a, b, len);
            CHECK_EQ_INT(kms_cbc_decrypt(&fast, iv, pt, a, len), 0);
            CHECK_EQ_INT(kms_cbc_decrypt(&slow, iv, pt, b, len), 0);
            CHECK_MEM(a, b, len);
        }
        kms_cipher_encrypt_block(&fast, pt, a);
        kms_cipher_encrypt_block(&slow, pt, b);
        CHECK_MEM(a, b, 16);
        kms_cipher_decrypt_block(&fast, pt, a);
        kms_cipher_decrypt_block(&slow, pt, b);
        CHECK_MEM(a, b, 16);
    }
}

/* The RFC 2104 composition equals OpenSSL's HMAC() at every length, on both sides of the
 * inline buffer's limit. */
static void test_hmac_lengths(void)
{
    uint8_t key[16], data[1100], mac[16], ref[32];
    unsigned int n = 0;
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)(0xF0 - i);
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + i / 256);
    for (size_t len = 0; len <= sizeof data; len += (len < 80 ? 1 : 37)) {
        CHECK_EQ_INT(kms_v6_mac(key, data, len, mac), 0);
        CHECK(HMAC(EVP_sha256(), key, 16, data, len, ref, &n) != NULL && n == 32);
        CHECKF(memcmp(mac, ref + 16, 16) == 0, "MAC6 differs from HMAC() at length %zu", len);
    }
    CHECK_EQ_INT(kms_v6_mac(key, NULL, 1, mac), KMS_EINVAL);
}

static void test_misc(void)
{
    CHECK_EQ_INT(kms_memcmp_ct("abcd", "abcd", 4), 0);
    CHECK(kms_memcmp_ct("abcd", "abce", 4) != 0);
    CHECK_EQ_INT(kms_memcmp_ct("x", "y", 0), 0);
    uint8_t a[32] = {0}, b[32] = {0};
    CHECK_EQ_INT(kms_random_openssl(NULL, a, sizeof a), 0);
    CHECK_EQ_INT(kms_random_openssl(NULL, b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_EQ_INT(kms_random_openssl(NULL, a, 0), 0);
}

int main(void)
{
    json_t *p = tu_load_vector("primitives.json");
    for (int pass = 0; pass < 2; pass++) {
        portable_pass = pass == 0;
        test_v4(json_object_get(p, "v4_rijndael160"));
        test_v5(json_object_get(p, "v5_aes128"));
        test_v6(json_object_get(p, "v6_modified_aes128"));
        test_cbc();
    }
    test_schedule_tables();
    test_paths_agree();
    test_hmac_lengths();
    test_mac4(json_object_get(p, "v4_mac"));
    test_hmac(json_object_get(p, "v6_hmac_key"));
    test_sha256();
    test_misc();
    json_decref(p);
    return tu_finish();
}
