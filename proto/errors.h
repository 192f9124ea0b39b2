/* errors.h: the one error vocabulary of kmsha. Functions return 0 (or a positive count)
 * on success and a negative KMS_E* code on failure; kms_strerror() names each code. */
#ifndef KMSHA_ERRORS_H
#define KMSHA_ERRORS_H

enum kms_error {
    KMS_OK = 0,
    KMS_EINVAL = -1,     /* invalid argument or malformed input */
    KMS_ETRUNC = -2,     /* input shorter than its structure needs */
    KMS_ETOOBIG = -3,    /* input or output exceeds a configured or protocol limit */
    KMS_EVERSION = -4,   /* unsupported protocol version */
    KMS_EMAC = -5,       /* MAC / HMAC verification failed */
    KMS_EPAD = -6,       /* bad block-cipher padding */
    KMS_EHASH = -7,      /* SHA-256 of the server random does not match */
    KMS_EECHO = -8,      /* response does not echo the request (CMID, time, version, IV) */
    KMS_EPROTO = -9,     /* DCE/RPC protocol violation */
    KMS_EUNKCTX = -10,   /* request on a presentation context that was never bound */
    KMS_EOPNUM = -11,    /* RPC operation number out of range */
    KMS_ESPACE = -12,    /* caller's output buffer too small */
    KMS_ECRYPTO = -13,   /* the crypto library failed */
    KMS_ERANDOM = -14,   /* the random source failed */
    KMS_ENOMEM = -15,    /* out of memory */
    KMS_EIO = -16,       /* I/O error (errno holds details) */
    KMS_ECONFIG = -17,   /* configuration error */
    KMS_ENOTFOUND = -18, /* no such item */
    KMS_EFAULT = -19,    /* the peer answered with an RPC fault */
    KMS_EREFUSED = -20,  /* the KMS host answered with a non-zero HRESULT */
    KMS_ETIMEOUT = -21,  /* the peer did not answer in time */
    KMS_ESTORE = -22,    /* the LMDB store failed */
    KMS_EPDU = -23,      /* PDU type not expected here */
    KMS_EEPID = -24,     /* ePID malformed (length, terminator, characters) */
    KMS_EDAMAGED = -25,  /* a stored file is damaged (truncated, rotten): repair, not retry */
};

/* Codes that carry their cause up to the log (not a KMS_E* enumerator each):
 * KMS_ECAUSE_ERRNO - e: a system call failed with errno e (kms_error_errno(e));
 * KMS_ECAUSE_LMDB - n: LMDB's error MDB_KEYEXIST + n (the store makes them; its
 * store_strerror names them with LMDB's own text). */
#define KMS_ECAUSE_ERRNO (-1000)
#define KMS_ECAUSE_ERRNO_END (-1999)
#define KMS_ECAUSE_LMDB (-2000)
#define KMS_ECAUSE_LMDB_END (-2099)
/* The code for errno e (> 0). */
int kms_error_errno(int e);

/* Returns a human-readable description of a code (never NULL): static for the KMS_E*
 * enumerators; for an errno code "EIO: Input/output error" in a per-thread buffer valid
 * until the thread's next call. */
const char *kms_strerror(int code);

#endif
