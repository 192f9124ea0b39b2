/* srvlookup.c: see srvlookup.h. One resolver (node/resolver.h, the c-ares driver) per
 * call, on a loop of its own, run until the answers are in or the deadline passes. */
#include "ops/kmsctl/srvlookup.h"

#include <arpa/inet.h>
#include <ares.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "node/config.h"
#include "node/resolver.h"
#include "proto/errors.h"

typedef struct lookup {
    int pending;
    int status[2];
    /* results */
    dnsmsg_srv *srv;
    size_t srv_cap, srv_n;
    char found[2][8][SRVLOOKUP_ADDR_LEN]; /* A, AAAA */
    size_t nfound[2];
    int parse_error;
} lookup;

/* A resolver on a loop of its own that talks to server only. */
/* NULL with *rc KMS_EINVAL (a bad server) or KMS_EIO and the reason in err. */
static resolver *open_resolver(const char *server, int timeout_ms, struct event_base **base, int *rc,
                               char *err, size_t errlen)
{
    *rc = KMS_EINVAL;
    config_addr a;
    if (!server || config_parse_addr(server, 53, &a) != 0 || a.port == 0) {
        snprintf(err, errlen, "'%s' is not a DNS server address (IP:PORT)", server ? server : "");
        return NULL;
    }
    uint8_t tmp[16];
    if (inet_pton(AF_INET, a.host, tmp) != 1 && inet_pton(AF_INET6, a.host, tmp) != 1) {
        snprintf(err, errlen, "'%s': the DNS server must be given as an IP address", server);
        return NULL;
    }
    *rc = KMS_EIO;
    *base = event_base_new();
    if (!*base) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    resolver *r = resolver_new(*base, a.host, a.port, timeout_ms, 0, err, errlen);
    if (!r) event_base_free(*base);
    return r;
}

static void close_resolver(resolver **r, struct event_base *base)
{
    resolver_free(r);
    event_base_free(base);
}

static int status_error(int status, const char *what, const char *server, int timeout_ms, char *err, size_t errlen)
{
    if (status == ARES_ETIMEOUT || status == ARES_ECANCELLED) {
        snprintf(err, errlen, "no answer from DNS server %s about %s within %d ms", server, what, timeout_ms);
        return KMS_ETIMEOUT;
    }
    snprintf(err, errlen, "DNS server %s about %s: %s", server, what, ares_strerror(status));
    return KMS_EIO;
}

static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    lookup *l = arg;
    l->pending--;
    l->status[0] = status;
    if (status != ARES_SUCCESS) return;
    struct ares_srv_reply *srv = NULL;
    int rc = ares_parse_srv_reply(abuf, alen, &srv);
    if (rc != ARES_SUCCESS) {
        if (rc != ARES_ENODATA) l->parse_error = rc;
        return;
    }
    for (struct ares_srv_reply *s = srv; s && l->srv_n < l->srv_cap; s = s->next) {
        dnsmsg_srv *o = &l->srv[l->srv_n];
        size_t hl = strlen(s->host);
        if (hl + 2 > sizeof o->target) continue;
        memset(o, 0, sizeof *o);
        o->priority = s->priority;
        o->weight = s->weight;
        o->port = s->port;
        snprintf(o->target, sizeof o->target, "%s%s", s->host, hl && s->host[hl - 1] == '.' ? "" : ".");
        l->srv_n++;
    }
    ares_free_data(srv);
}

int srvlookup_srv(const char *server, const char *name, int timeout_ms, dnsmsg_srv *out,
                  size_t cap, char *err, size_t errlen)
{
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    if (!name || dnsmsg_name_to_wire(name, w) < 0) {
        snprintf(err, errlen, "'%s' is not a DNS name", name ? name : "");
        return KMS_EINVAL;
    }
    struct event_base *base;
    int rc;
    resolver *r = open_resolver(server, timeout_ms, &base, &rc, err, errlen);
    if (!r) return rc;
    lookup l = {.pending = 1, .srv = out, .srv_cap = cap};
    char q[300];
    snprintf(q, sizeof q, "%s", name);
    size_t ql = strlen(q);
    if (ql > 1 && q[ql - 1] == '.') q[ql - 1] = 0;
    resolver_query(r, q, DNSMSG_C_IN, DNSMSG_T_SRV, srv_cb, &l);
    resolver_wait(r, timeout_ms);
    close_resolver(&r, base);
    if (l.status[0] == ARES_ENODATA || l.status[0] == ARES_ENOTFOUND) return 0;
    if (l.status[0] != ARES_SUCCESS) return status_error(l.status[0], name, server, timeout_ms, err, errlen);
    if (l.parse_error) {
        snprintf(err, errlen, "DNS server %s: malformed SRV answer for %s: %s", server, name, ares_strerror(l.parse_error));
        return KMS_EIO;
    }
    return (int)l.srv_n;
}

static void addr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen, int type)
{
    (void)timeouts;
    lookup *l = arg;
    l->pending--;
    l->status[type == DNSMSG_T_A ? 0 : 1] = status;
    if (status != ARES_SUCCESS) return;
    int n = 8;
    if (type == DNSMSG_T_A) {
        struct ares_addrttl a[8];
        if (ares_parse_a_reply(abuf, alen, NULL, a, &n) != ARES_SUCCESS) return;
        for (int i = 0; i < n && i < 8; i++)
            inet_ntop(AF_INET, &a[i].ipaddr, l->found[0][l->nfound[0]++], SRVLOOKUP_ADDR_LEN);
    } else {
        struct ares_addr6ttl a[8];
        if (ares_parse_aaaa_reply(abuf, alen, NULL, a, &n) != ARES_SUCCESS) return;
        for (int i = 0; i < n && i < 8; i++)
            inet_ntop(AF_INET6, &a[i].ip6addr, l->found[1][l->nfound[1]++], SRVLOOKUP_ADDR_LEN);
    }
}

static void a_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    addr_cb(arg, status, timeouts, abuf, alen, DNSMSG_T_A);
}

static void aaaa_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    addr_cb(arg, status, timeouts, abuf, alen, DNSMSG_T_AAAA);
}

int srvlookup_addrs(const char *server, const char *host, int timeout_ms,
                    char (*out)[SRVLOOKUP_ADDR_LEN], size_t cap, char *err, size_t errlen)
{
    uint8_t tmp[16];
    if (!host) return KMS_EINVAL;
    if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1) {
        if (cap == 0) return 0;
        snprintf(out[0], SRVLOOKUP_ADDR_LEN, "%s", host);
        return 1;
    }
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    if (dnsmsg_name_to_wire(host, w) < 0) {
        snprintf(err, errlen, "'%s' is not a DNS name", host);
        return KMS_EINVAL;
    }
    struct event_base *base;
    int rc;
    resolver *r = open_resolver(server, timeout_ms, &base, &rc, err, errlen);
    if (!r) return rc;
    lookup l = {.pending = 2};
    char q[300];
    snprintf(q, sizeof q, "%s", host);
    size_t ql = strlen(q);
    if (ql > 1 && q[ql - 1] == '.') q[ql - 1] = 0;
    /* A first, so IPv4 addresses come first; both run at once. */
    resolver_query(r, q, DNSMSG_C_IN, DNSMSG_T_A, a_cb, &l);
    resolver_query(r, q, DNSMSG_C_IN, DNSMSG_T_AAAA, aaaa_cb, &l);
    resolver_wait(r, timeout_ms);
    close_resolver(&r, base);
    size_t n = 0;
    for (int f = 0; f < 2; f++) /* IPv4 first */
        for (size_t i = 0; i < l.nfound[f] && n < cap; i++) memcpy(out[n++], l.found[f][i], SRVLOOKUP_ADDR_LEN);
    if (n > 0) return (int)n;
    for (int i = 0; i < 2; i++)
        if (l.status[i] != ARES_SUCCESS && l.status[i] != ARES_ENODATA && l.status[i] != ARES_ENOTFOUND)
            return status_error(l.status[i], host, server, timeout_ms, err, errlen);
    return 0;
}
