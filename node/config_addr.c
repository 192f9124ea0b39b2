/* config_addr.c: addresses and networks: "HOST:PORT", "[V6]:PORT" or "HOST" for listen
 * and peer addresses, and CIDRs, parsed for the configuration and matched at run time
 * (the allow_clients check of every connection: config_cidr_match). */
#include "node/config_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/errors.h"

static bool is_v6_literal(const char *h, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    const char *pct = memchr(h, '%', n); /* fe80::1%eth0: scope after '%' */
    size_t alen = pct ? (size_t)(pct - h) : n;
    if (alen == 0 || alen >= sizeof tmp) return false;
    if (pct) {
        if (pct + 1 == h + n) return false;
        for (const char *p = pct + 1; p < h + n; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '.' || *p == '_' || *p == '-'))
                return false;
    }
    memcpy(tmp, h, alen);
    tmp[alen] = 0;
    struct in6_addr a;
    return inet_pton(AF_INET6, tmp, &a) == 1;
}

/* A host name or IPv4 literal: letters, digits, '-', '_', '.'; all-numeric dotted text must
 * be a valid IPv4 address (so 10.0.0.256 is an error, not a name to resolve). */
static bool is_host(const char *h, size_t n)
{
    bool numeric = true;
    if (n == 0 || h[0] == '-' || h[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c >= '0' && c <= '9') continue;
        if (c == '.') continue;
        numeric = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
            return false;
    }
    if (numeric) {
        char tmp[INET_ADDRSTRLEN + 1];
        struct in_addr a;
        if (n >= sizeof tmp) return false;
        memcpy(tmp, h, n);
        tmp[n] = 0;
        return inet_pton(AF_INET, tmp, &a) == 1;
    }
    return true;
}

int config_parse_addr(const char *text, uint16_t default_port, config_addr *out)
{
    if (!text || !out) return KMS_EINVAL;
    const char *host = text, *port = NULL;
    size_t hlen;
    bool v6;
    if (text[0] == '[') {
        const char *rb = strchr(text, ']');
        if (!rb) return KMS_EINVAL;
        host = text + 1;
        hlen = (size_t)(rb - host);
        if (rb[1] == ':') port = rb + 2;
        else if (rb[1] != 0) return KMS_EINVAL;
        v6 = true;
    } else {
        const char *colon = strchr(text, ':');
        hlen = strlen(text);
        if (colon && strchr(colon + 1, ':')) {
            v6 = true; /* bare IPv6 literal, no port */
        } else {
            v6 = false;
            if (colon) {
                hlen = (size_t)(colon - text);
                port = colon + 1;
            }
        }
    }
    if (hlen == 0 || hlen >= sizeof out->host) return KMS_EINVAL;
    if (v6 ? !is_v6_literal(host, hlen) : !is_host(host, hlen)) return KMS_EINVAL;
    uint32_t p = default_port;
    if (port) {
        size_t n = strlen(port);
        if (n == 0 || n > 5) return KMS_EINVAL;
        p = 0;
        for (size_t i = 0; i < n; i++) {
            if (port[i] < '0' || port[i] > '9') return KMS_EINVAL;
            p = p * 10 + (uint32_t)(port[i] - '0');
        }
        if (p > 65535) return KMS_EINVAL;
    }
    memset(out, 0, sizeof *out); /* no stale bytes: configs compare with memcmp */
    memcpy(out->host, host, hlen);
    out->port = (uint16_t)p;
    return 0;
}

int config_parse_cidr(const char *text, config_cidr *out)
{
    if (!text || !out) return KMS_EINVAL;
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof addr) return KMS_EINVAL;
    memcpy(addr, text, alen);
    addr[alen] = 0;
    config_cidr c;
    memset(&c, 0, sizeof c);
    unsigned bits;
    if (inet_pton(AF_INET, addr, c.addr) == 1) {
        c.family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
        c.family = AF_INET6;
        bits = 128;
    } else {
        return KMS_EINVAL;
    }
    unsigned prefix = bits;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strlen(p);
        if (n == 0 || n > 3) return KMS_EINVAL;
        prefix = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9') return KMS_EINVAL;
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > bits) return KMS_EINVAL;
    }
    c.prefix = (uint8_t)prefix;
    /* Host bits are cleared: "10.1.2.3/8" means 10.0.0.0/8. */
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        if (lo >= prefix) c.addr[i] = 0;
        else if (prefix - lo < 8) c.addr[i] &= (uint8_t)(0xFF << (8 - (prefix - lo)));
    }
    *out = c;
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

bool config_cidr_match(const config_cidr *c, int family, const uint8_t *addr)
{
    if (!c || !addr) return false;
    if (c->family == AF_INET) {
        if (family == AF_INET) return prefix_equal(c->addr, addr, c->prefix);
        /* A v4 client on a dual-stack socket shows up as ::ffff:a.b.c.d. */
        if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0)
            return prefix_equal(c->addr, addr + 12, c->prefix);
        return false;
    }
    if (c->family == AF_INET6) {
        if (family == AF_INET6) return prefix_equal(c->addr, addr, c->prefix);
        if (family == AF_INET) { /* and the other way round: ::ffff:10.0.0.0/104 */
            uint8_t m[16];
            memcpy(m, v4mapped, 12);
            memcpy(m + 12, addr, 4);
            return prefix_equal(c->addr, m, c->prefix);
        }
    }
    return false;
}
