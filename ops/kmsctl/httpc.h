/* httpc.h: a minimal blocking HTTP/1.0 client for kmsctl to talk to a node's admin
 * address (GET /status, POST /drain ...). Bounded: the whole exchange has a deadline and
 * the body a size limit. Not for the daemon's event loop. */
#ifndef KMSHA_HTTPC_H
#define KMSHA_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#define HTTPC_MAX_BODY (8 << 20)

/* Performs METHOD path on host:port (with Authorization: Bearer TOKEN unless the token is
 * NULL or ""). On success returns 0 with *status set and *body a
 * NUL-terminated malloc'ed buffer (caller frees) of *len bytes. Otherwise returns
 * KMS_EIO / KMS_ETIMEOUT / KMS_EPROTO / KMS_ETOOBIG with a one-line reason in err. */
int httpc_request(const char *method, const char *host, uint16_t port, const char *path,
                  const char *bearer_token, int timeout_ms, int *status, char **body, size_t *len, char *err,
                  size_t errlen);

#endif
