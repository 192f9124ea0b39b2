/* httpc.c: see httpc.h. */
#include "ops/kmsctl/httpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/clock.h"
#include "proto/errors.h"

static int wait_fd(int fd, short ev, long long deadline)
{
    long long left = deadline - (long long)clock_mono_ms();
    if (left <= 0) return KMS_ETIMEOUT;
    struct pollfd p = {fd, ev, 0};
    int rc = poll(&p, 1, (int)left);
    if (rc == 0) return KMS_ETIMEOUT;
    return rc < 0 ? KMS_EIO : 0;
}

int httpc_request(const char *method, const char *host, uint16_t port, const char *path,
                  const char *bearer_token, int timeout_ms, int *status, char **body, size_t *len, char *err,
                  size_t errlen)
{
    *body = NULL;
    *len = 0;
    long long deadline = (long long)clock_mono_ms() + timeout_ms;
    char portbuf[8];
    snprintf(portbuf, sizeof portbuf, "%u", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, portbuf, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(gai));
        return KMS_EIO;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) { freeaddrinfo(res); snprintf(err, errlen, "socket: %s", strerror(errno)); return KMS_EIO; }
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "cannot connect to %s:%u: %s", host, port, strerror(errno));
        close(fd);
        return KMS_EIO;
    }
    if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0) {
        snprintf(err, errlen, "cannot connect to %s:%u: %s", host, port, rc == KMS_ETIMEOUT ? "timed out" : strerror(errno));
        close(fd);
        return rc;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        snprintf(err, errlen, "cannot connect to %s:%u: %s", host, port, strerror(soerr));
        close(fd);
        return KMS_EIO;
    }
    char req[1536], auth[300] = "";
    if (bearer_token && bearer_token[0]) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", bearer_token);
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: %s%s%s:%u\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n",
                     method, path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port, auth);
    if (n < 0 || (size_t)n >= sizeof req) { snprintf(err, errlen, "request too long"); close(fd); return KMS_EINVAL; }
    for (int off = 0; off < n;) {
        if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0) { snprintf(err, errlen, "sending to %s:%u timed out", host, port); close(fd); return rc; }
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) { snprintf(err, errlen, "send: %s", strerror(errno)); close(fd); return KMS_EIO; }
        if (w > 0) off += (int)w;
    }
    size_t cap = 16384, got = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { close(fd); return KMS_ENOMEM; }
    for (;;) {
        if ((rc = wait_fd(fd, POLLIN, deadline)) < 0) {
            snprintf(err, errlen, "no answer from %s:%u within %d ms", host, port, timeout_ms);
            free(buf);
            close(fd);
            return rc;
        }
        if (got == cap) {
            if (cap >= HTTPC_MAX_BODY) { snprintf(err, errlen, "answer too large"); free(buf); close(fd); return KMS_ETOOBIG; }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); close(fd); return KMS_ENOMEM; }
            buf = nb;
        }
        ssize_t r = recv(fd, buf + got, cap - got, 0);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            snprintf(err, errlen, "recv: %s", strerror(errno));
            free(buf);
            close(fd);
            return KMS_EIO;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    int code = 0;
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (!hdr_end || sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1) {
        snprintf(err, errlen, "not an HTTP answer from %s:%u", host, port);
        free(buf);
        return KMS_EPROTO;
    }
    size_t off = (size_t)(hdr_end + 4 - buf);
    memmove(buf, buf + off, got - off + 1);
    *status = code;
    *body = buf;
    *len = got - off;
    return 0;
}
