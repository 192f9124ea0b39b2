/* errors.c: names for the KMS_E* error codes. */
#define _GNU_SOURCE /* strerrorname_np */
#include "proto/errors.h"

#include <stdio.h>
#include <string.h>

int kms_error_errno(int e)
{
    return e > 0 && e < KMS_ECAUSE_ERRNO - KMS_ECAUSE_ERRNO_END ? KMS_ECAUSE_ERRNO - e : KMS_EIO;
}

static const char *errno_text(int e)
{
    static _Thread_local char buf[160];
    const char *name = strerrorname_np(e);
    char text[120];
    const char *t = strerror_r(e, text, sizeof text); /* GNU: returns the text */
    snprintf(buf, sizeof buf, "%s: %s", name ? name : "errno", t);
    return buf;
}

const char *kms_strerror(int code)
{
    switch (code) {
    case KMS_OK: return "success";
    case KMS_EINVAL: return "invalid argument or malformed input";
    case KMS_ETRUNC: return "input truncated";
    case KMS_ETOOBIG: return "size limit exceeded";
    case KMS_EVERSION: return "unsupported protocol version";
    case KMS_EMAC: return "MAC verification failed";
    case KMS_EPAD: return "bad padding";
    case KMS_EHASH: return "hash of server random does not match";
    case KMS_EECHO: return "response does not echo the request";
    case KMS_EPROTO: return "DCE/RPC protocol violation";
    case KMS_EUNKCTX: return "unknown presentation context";
    case KMS_EOPNUM: return "operation number out of range";
    case KMS_ESPACE: return "output buffer too small";
    case KMS_ECRYPTO: return "crypto library failure";
    case KMS_ERANDOM: return "random source failure";
    case KMS_ENOMEM: return "out of memory";
    case KMS_EIO: return "I/O error";
    case KMS_ECONFIG: return "configuration error";
    case KMS_ENOTFOUND: return "not found";
    case KMS_EFAULT: return "RPC fault received";
    case KMS_EREFUSED: return "KMS host refused the request";
    case KMS_ETIMEOUT: return "timed out";
    case KMS_ESTORE: return "store failure";
    case KMS_EPDU: return "unexpected PDU type";
    case KMS_EEPID: return "malformed ePID";
    case KMS_EDAMAGED: return "stored file damaged";
    default:
        if (code <= KMS_ECAUSE_ERRNO && code >= KMS_ECAUSE_ERRNO_END) return errno_text(KMS_ECAUSE_ERRNO - code);
        if (code <= KMS_ECAUSE_LMDB && code >= KMS_ECAUSE_LMDB_END) return "store failure (LMDB)";
        return "unknown error";
    }
}
