/* dns.c: the DNS publisher of a node (see dns.h): its life cycle. dns_new reads [dns],
 * the peers and their SRV targets, the TSIG key and the drain state, and starts the tick;
 * dns_free cancels what is in flight. The publisher's other files: dns_publish.c (the
 * cycle and what it decides), dns_lookup.c (look-ups and failures), dns_update.c (RFC
 * 2136 updates and the leave on SIGTERM), dns_probe.c (probing a silent peer's KMS port),
 * dns_drain.c (the drain file), dns_status.c (/status and /metrics) and dns_check.c (GET
 * /dns); dns_internal.h is what they share.
 *
 * c-ares runs on the node's libevent loop through node/resolver.h (the one c-ares driver,
 * also used by kmsctl's look-ups); the channel only ever talks to [dns] server (no
 * resolv.conf servers, no search list, no recursion). */
#include "node/dns_internal.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "node/log.h"
#include "proto/errors.h"
#include "proto/clock.h"

/* "name" -> "name." */
void dns_absolute(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    snprintf(out, cap, "%s%s", in, n && in[n - 1] == '.' ? "" : ".");
}

static int read_key(dns *d, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "[dns] tsig_key_file %s: %s", path, strerror(errno));
        return KMS_ECONFIG;
    }
    char text[8192];
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    if (n < 0 || n == (ssize_t)sizeof text) {
        snprintf(err, errlen, "[dns] tsig_key_file %s: %s", path, n < 0 ? strerror(errno) : "too large for a key file");
        return KMS_ECONFIG;
    }
    const char *why = NULL;
    int rc = dnsmsg_key_parse(text, (size_t)n, &d->key, &why);
    memset(text, 0, sizeof text);
    if (rc != 0) {
        snprintf(err, errlen, "[dns] tsig_key_file %s: %s", path, why ? why : "not a BIND key file");
        return KMS_ECONFIG;
    }
    return 0;
}

/* Fills a peer's SRV target (and its A/AAAA addresses when derived: every kms address). */
static int set_target(dns *d, peer_state *p, char *err, size_t errlen)
{
    int literals = 0;
    for (int i = 0; i < p->cfg.n_kms; i++) {
        const char *host = p->cfg.kms_addrs[i].host;
        int f = strchr(host, ':') ? 1 : 0;
        if (inet_pton(f ? AF_INET6 : AF_INET, host, p->fam[f].addr[p->fam[f].n]) != 1) continue;
        p->fam[f].n++;
        literals++;
    }
    if (p->cfg.target[0]) {
        dns_absolute(p->cfg.target, p->target, sizeof p->target);
    } else if (literals && literals < p->cfg.n_kms) {
        snprintf(err, errlen, "[peer.%s] target: needed, since kms lists a host name among several addresses", p->cfg.id);
        return KMS_ECONFIG;
    } else if (literals) {
        p->derived = true;
        char name[400];
        snprintf(name, sizeof name, "%s.%s", p->cfg.id, d->n_zones ? d->zones[0].cfg.name : ".");
        if (strlen(name) >= sizeof p->target) {
            snprintf(err, errlen, "[peer.%s] target: %s.%s is too long a name; set target", p->cfg.id,
                     p->cfg.id, d->zones[0].cfg.name);
            return KMS_ECONFIG;
        }
        memcpy(p->target, name, strlen(name) + 1);
    } else {
        dns_absolute(p->cfg.kms.host, p->target, sizeof p->target);
    }
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    if (dnsmsg_name_to_wire(p->target, w) < 0) {
        snprintf(err, errlen, "[peer.%s] target: '%s' is not a DNS name", p->cfg.id, p->target);
        return KMS_ECONFIG;
    }
    return 0;
}

dns *dns_new(const dns_env *env, char *err, size_t errlen)
{
    err[0] = 0;
    dns *d = calloc(1, sizeof *d);
    if (!d) { snprintf(err, errlen, "out of memory"); return NULL; }
    d->env = *env;
    d->backoff_ms = BACKOFF_MIN_MS;
    d->next_id = (uint16_t)(getpid() ^ time(NULL));
    dns_drain_load(d, env->cfg->data_dir, env->cfg->node_id);

    const kmsd_config *cfg = env->cfg;
    config_dns_zone zones[CONFIG_MAX_DNS_ZONES];
    const char *problem = config_parse_dns_zones(cfg->dns_zones, zones, CONFIG_MAX_DNS_ZONES, &d->n_zones);
    if (problem) {
        snprintf(err, errlen, "[dns] zones: %s", problem);
        dns_free(&d);
        return NULL;
    }
    for (int z = 0; z < d->n_zones; z++) d->zones[z].cfg = zones[z];

    /* The nodes: the cluster's peers, or this node alone. */
    if (cfg->n_peers > 0) {
        for (int i = 0; i < cfg->n_peers; i++) {
            d->peers[i].cfg = cfg->peers[i];
            if (!strcmp(cfg->peers[i].id, cfg->node_id)) d->self = i;
        }
        d->n_peers = cfg->n_peers;
    } else {
        config_peer *me = &d->peers[0].cfg;
        snprintf(me->id, sizeof me->id, "%s", cfg->node_id);
        me->kms = cfg->listen[0];
        for (int i = 0; i < cfg->n_listen && me->n_kms < CONFIG_MAX_PEER_ADDRS; i++) /* the SRV port's */
            if (cfg->listen[i].port == me->kms.port) me->kms_addrs[me->n_kms++] = cfg->listen[i];
        me->weight = 100;
        d->n_peers = 1;
        d->self = 0;
    }
    d->peers[d->self].self = true;
    if (!cfg->dns_server[0]) return d; /* publishing off */

    for (int i = 0; i < d->n_peers; i++)
        if (set_target(d, &d->peers[i], err, errlen) != 0) { dns_free(&d); return NULL; }
    /* The KMS addresses the withdrawal probe connects to, resolved once here (the event
     * loop never resolves names). */
    for (int i = 0; i < d->n_peers; i++) {
        peer_state *p = &d->peers[i];
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        char port[8];
        snprintf(port, sizeof port, "%u", p->cfg.kms.port);
        if (p->self || !p->cfg.kms.port) continue;
        if (getaddrinfo(p->cfg.kms.host, port, &hints, &res) != 0 || !res) {
            log_warnx("dns: peer %s: kms address %s does not resolve: it will not be probed, and so never withdrawn",
                      p->cfg.id, p->cfg.kms.host);
            continue;
        }
        memcpy(&p->kms_sa, res->ai_addr, res->ai_addrlen);
        p->kms_salen = (int)res->ai_addrlen;
        freeaddrinfo(res);
    }
    if (read_key(d, cfg->dns_tsig_key_file, err, errlen) != 0) { dns_free(&d); return NULL; }
    config_addr server;
    if (config_parse_addr(cfg->dns_server, 53, &server) != 0) {
        snprintf(err, errlen, "[dns] server: '%s' is not an address", cfg->dns_server);
        dns_free(&d);
        return NULL;
    }
    snprintf(d->server_text, sizeof d->server_text, strchr(server.host, ':') ? "[%s]:%u" : "%s:%u",
             server.host, server.port);

    /* Only ever [dns] server (no resolv.conf servers, search domains or hosts file), no
     * recursion; answers with any RCODE come back to us (NOCHECKRESP). */
    char rerr[200];
    d->res = resolver_new(env->base, server.host, server.port, (int)cfg->dns_timeout_ms,
                          ARES_FLAG_NOCHECKRESP | ARES_FLAG_NORECURSE, rerr, sizeof rerr);
    if (!d->res) {
        snprintf(err, errlen, "[dns] server %s: %s", d->server_text, rerr);
        dns_free(&d);
        return NULL;
    }
    d->tick = event_new(env->base, -1, EV_PERSIST, dns_tick_cb, d);
    d->kick = evtimer_new(env->base, dns_tick_cb, d);
    if (!d->tick || !d->kick) { snprintf(err, errlen, "out of memory"); dns_free(&d); return NULL; }
    d->enabled = true;
    /* A node back from the dead publishes at once, but its peers notice it only with its
     * heartbeats: one of them may withdraw its records meanwhile. So it looks again when
     * they must have seen it alive. */
    if (d->n_peers > 1) d->verify_at_ms = clock_mono_ms() + cfg->dead_after_ms + 2000;
    struct timeval tv = {0, TICK_MS * 1000};
    evtimer_add(d->tick, &tv);
    struct timeval now = {0, 0};
    evtimer_add(d->kick, &now); /* publish at start */
    log_info("dns: publishing %s as %s (priority %u, weight %u, port %u) in %d zone%s via %s, key %s",
             d->peers[d->self].cfg.id, d->peers[d->self].target, d->peers[d->self].cfg.priority,
             d->peers[d->self].cfg.weight, d->peers[d->self].cfg.kms.port, d->n_zones, d->n_zones == 1 ? "" : "s",
             d->server_text, d->key.name);
    return d;
}

void dns_free(dns **self_p)
{
    if (!self_p || !*self_p) return;
    dns *d = *self_p;
    d->destroying = true;
    resolver_free(&d->res); /* runs every callback with ARES_EDESTRUCTION */
    for (dns_check *c = d->checks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    if (d->tick) event_free(d->tick);
    if (d->kick) event_free(d->kick);
    if (d->leave_timer) event_free(d->leave_timer);
    for (int i = 0; i < d->n_peers; i++) dns_cancel_probe(&d->peers[i]);
    memset(&d->key, 0, sizeof d->key);
    free(d);
    *self_p = NULL;
}

void dns_serving_changed(dns *d)
{
    if (!d || !d->enabled || d->leaving) return;
    d->again = true;
    struct timeval now = {0, 0};
    evtimer_add(d->kick, &now);
}
