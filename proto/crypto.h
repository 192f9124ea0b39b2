/* crypto.h: the block ciphers and MACs of the KMS protocol (spec section 4): Rijndael-160
 * for v4's MAC, AES-128 for v5, the modified AES-128 for v6, MAC4, the v6 HMAC key, and
 * the injectable random source. Pure: no globals, no I/O; OpenSSL for AES/SHA-256/HMAC. */
#ifndef KMSHA_CRYPTO_H
#define KMSHA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_BLOCK 16

/* Random source: fills buf with len bytes; returns 0 or KMS_ERANDOM. */
typedef int (*kms_random_fn)(void *ctx, uint8_t *buf, size_t len);
/* The production source (OpenSSL RAND_bytes); ctx is unused. */
int kms_random_openssl(void *ctx, uint8_t *buf, size_t len);

/* Which block cipher a protocol version uses. */
typedef enum kms_cipher_kind {
    KMS_CIPHER_V4 = 4, /* Rijndael, 128-bit block, 160-bit key, 11 rounds (V4 key) */
    KMS_CIPHER_V5 = 5, /* AES-128 with the V5 key */
    KMS_CIPHER_V6 = 6, /* AES-128 with the V6 key and round keys 4/6/8 tweaked */
} kms_cipher_kind;

/* Expanded key schedule; plain data, lives on the caller's stack. */
typedef struct kms_cipher {
    kms_cipher_kind kind;
    int rounds;             /* 10 or 11 */
    uint8_t rk[12][16];     /* encryption round keys, state order */
    bool use_aesni;         /* set by kms_cipher_init when the CPU has AES-NI; a caller
                               may clear it to use the portable tables (tests do) */
} kms_cipher;

/* The key schedule of the given protocol version's fixed key (from built-in tables).
 * Returns 0 or KMS_EINVAL. */
int kms_cipher_init(kms_cipher *c, kms_cipher_kind kind);
/* The same schedule derived from the spec's keys (FIPS-197 key expansion, then v6's
 * tweaks); use_aesni stays false. Slow path, for checking the tables. */
int kms_cipher_expand(kms_cipher *c, kms_cipher_kind kind);
/* One-block encryption / decryption (in and out may alias). */
void kms_cipher_encrypt_block(const kms_cipher *c, const uint8_t in[16], uint8_t out[16]);
void kms_cipher_decrypt_block(const kms_cipher *c, const uint8_t in[16], uint8_t out[16]);
/* CBC over whole blocks (len a multiple of 16; in and out may alias). Returns 0 or KMS_EINVAL. */
int kms_cbc_encrypt(const kms_cipher *c, const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len);
int kms_cbc_decrypt(const kms_cipher *c, const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len);

/* MAC4 (spec 4.3): CBC-MAC with Rijndael-160, 0x80-then-zeros padding. */
void kms_mac4(const uint8_t *data, size_t len, uint8_t mac[16]);

/* v6 HMAC key Kt from the request FILETIME (spec 4.5): SHA-256(LE64(slot))[16..31]. */
int kms_v6_hmac_key(uint64_t filetime, uint8_t key[16]);
/* HMAC-SHA256(key16, data)[16..31] (the MAC6 of spec 4.5). Returns 0 or KMS_ECRYPTO. */
int kms_v6_mac(const uint8_t key[16], const uint8_t *data, size_t len, uint8_t mac[16]);
/* SHA-256 (OpenSSL). Returns 0 or KMS_ECRYPTO. */
int kms_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* Constant-time comparison; returns 0 when equal. */
int kms_memcmp_ct(const void *a, const void *b, size_t len);

#endif
