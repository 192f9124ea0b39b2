/* srvlookup.c: see srvlookup.h. One c-ares channel per call, driven with poll() until the
 * answers are in or the deadline passes. */
#include "ops/kmsctl/srvlookup.h"

#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "node/config.h"
#include "proto/clock.h"
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

/* A channel that talks to server only. */
static int open_channel(const char *server, int timeout_ms, ares_channel *ch, char *err, size_t errlen)
{
    static int ready;
    if (!ready) {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
            snprintf(err, errlen, "c-ares cannot initialise");
            return KMS_EIO;
        }
        ready = 1;
    }
    config_addr a;
    struct ares_addr_port_node srv;
    memset(&srv, 0, sizeof srv);
    if (!server || config_parse_addr(server, 53, &a) != 0 || a.port == 0) {
        snprintf(err, errlen, "'%s' is not a DNS server address (IP:PORT)", server ? server : "");
        return KMS_EINVAL;
    }
    if (inet_pton(AF_INET, a.host, &srv.addr.addr4) == 1) srv.family = AF_INET;
    else if (inet_pton(AF_INET6, a.host, &srv.addr.addr6) == 1) srv.family = AF_INET6;
    else {
        snprintf(err, errlen, "'%s': the DNS server must be given as an IP address", server);
        return KMS_EINVAL;
    }
    srv.udp_port = srv.tcp_port = a.port;
    struct ares_options o;
    memset(&o, 0, sizeof o);
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    o.timeout = timeout_ms / 2 > 50 ? timeout_ms / 2 : 50;
    o.tries = 2;
    char lookups[] = "b";
    o.lookups = lookups;
    char resolvconf[] = "/dev/null";
    o.resolvconf_path = resolvconf;
    int rc = ares_init_options(ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                                           ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_RESOLVCONF);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        return KMS_EIO;
    }
    if ((rc = ares_set_servers_ports(*ch, &srv)) != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        ares_destroy(*ch);
        return KMS_EIO;
    }
    return 0;
}

/* Runs the channel until nothing is pending or the deadline passes. */
static void run(ares_channel ch, lookup *l, long long deadline)
{
    while (l->pending > 0) {
        long long left = deadline - (long long)clock_mono_ms();
        if (left <= 0) {
            ares_cancel(ch); /* the callbacks run with ARES_ECANCELLED */
            return;
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        int n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            /* ARES_GETSOCK_WRITABLE shifts a signed 1 into bit 31: test the bits unsigned */
        unsigned ub = (unsigned)bits;
        short ev = (short)(((ub >> i) & 1u ? POLLIN : 0) | ((ub >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
            if (!ev) continue;
            pfd[n].fd = socks[i];
            pfd[n].events = ev;
            pfd[n].revents = 0;
            n++;
        }
        struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
        long long wait = tvp ? (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000 : left;
        if (wait > left) wait = left;
        int r = poll(pfd, (nfds_t)n, (int)wait);
        if (r <= 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (!pfd[i].revents) continue;
            ares_process_fd(ch, (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd : ARES_SOCKET_BAD,
                            (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD);
        }
    }
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
    ares_channel ch;
    int rc = open_channel(server, timeout_ms, &ch, err, errlen);
    if (rc < 0) return rc;
    lookup l = {.pending = 1, .srv = out, .srv_cap = cap};
    char q[300];
    snprintf(q, sizeof q, "%s", name);
    size_t ql = strlen(q);
    if (ql > 1 && q[ql - 1] == '.') q[ql - 1] = 0;
    ares_query(ch, q, DNSMSG_C_IN, DNSMSG_T_SRV, srv_cb, &l);
    run(ch, &l, (long long)clock_mono_ms() + timeout_ms);
    ares_destroy(ch);
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
    ares_channel ch;
    int rc = open_channel(server, timeout_ms, &ch, err, errlen);
    if (rc < 0) return rc;
    lookup l = {.pending = 2};
    char q[300];
    snprintf(q, sizeof q, "%s", host);
    size_t ql = strlen(q);
    if (ql > 1 && q[ql - 1] == '.') q[ql - 1] = 0;
    /* A first, so IPv4 addresses come first; both run at once. */
    ares_query(ch, q, DNSMSG_C_IN, DNSMSG_T_A, a_cb, &l);
    ares_query(ch, q, DNSMSG_C_IN, DNSMSG_T_AAAA, aaaa_cb, &l);
    run(ch, &l, (long long)clock_mono_ms() + timeout_ms);
    ares_destroy(ch);
    size_t n = 0;
    for (int f = 0; f < 2; f++) /* IPv4 first */
        for (size_t i = 0; i < l.nfound[f] && n < cap; i++) memcpy(out[n++], l.found[f][i], SRVLOOKUP_ADDR_LEN);
    if (n > 0) return (int)n;
    for (int i = 0; i < 2; i++)
        if (l.status[i] != ARES_SUCCESS && l.status[i] != ARES_ENODATA && l.status[i] != ARES_ENOTFOUND)
            return status_error(l.status[i], host, server, timeout_ms, err, errlen);
    return 0;
}
