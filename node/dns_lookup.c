/* dns_lookup.c: the look-ups of a publishing cycle or a check: every zone's SRV RRset
 * and the A/AAAA records of derived target names, asked of [dns] server; and how a
 * failure is noted (reason for the metrics, text for the log and /status). */
#include "node/dns_internal.h"

#include <ares.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dns_note_failure(view *v, int reason, const char *fmt, ...)
{
    if (v->failed) return; /* the first failure explains the cycle */
    v->failed = true;
    v->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->error, sizeof v->error, fmt, ap);
    va_end(ap);
}

int dns_ares_reason(int status)
{
    switch (status) {
    case ARES_ETIMEOUT: return R_TIMEOUT;
    case ARES_ECONNREFUSED: return R_CONNREFUSED;
    case ARES_EREFUSED: return R_REFUSED;
    case ARES_ESERVFAIL: return R_SERVFAIL;
    case ARES_EFORMERR: return R_FORMERR;
    case ARES_EBADRESP: return R_MALFORMED;
    default: return R_OTHER;
    }
}

const char *dns_ares_reason_text(int status)
{
    switch (status) {
    case ARES_ETIMEOUT: return "timeout: no answer";
    case ARES_ECONNREFUSED: return "connection refused";
    case ARES_EREFUSED: return "REFUSED";
    case ARES_ESERVFAIL: return "SERVFAIL";
    default: return ares_strerror(status);
    }
}

static view *view_of(op *o) { return o->check ? &o->check->v : &o->d->pub; }

static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    op *o = arg;
    if (status == ARES_EDESTRUCTION || o->d->destroying) { free(o); return; }
    view *v = view_of(o);
    dns *d = o->d;
    const char *zone = d->zones[o->zone].cfg.name;
    v->zone[o->zone].n = 0;
    if (status == ARES_SUCCESS) {
        struct ares_srv_reply *srv = NULL;
        int rc = ares_parse_srv_reply(abuf, alen, &srv);
        if (rc == ARES_SUCCESS) {
            for (struct ares_srv_reply *s = srv; s && v->zone[o->zone].n < DNS_MAX_RECORDS; s = s->next) {
                dnsmsg_srv *r = &v->zone[o->zone].rec[v->zone[o->zone].n++];
                r->priority = s->priority;
                r->weight = s->weight;
                r->port = s->port;
                dns_absolute(s->host, r->target, sizeof r->target);
            }
            ares_free_data(srv);
            v->zone[o->zone].done = true;
        } else if (rc == ARES_ENODATA) {
            v->zone[o->zone].done = true;
        } else {
            snprintf(v->zone[o->zone].error, sizeof v->zone[o->zone].error, "malformed SRV answer: %s", ares_strerror(rc));
            dns_note_failure(v, R_MALFORMED, "look-up of _vlmcs._tcp.%s SRV: malformed answer (%s)", zone, ares_strerror(rc));
        }
    } else if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
        v->zone[o->zone].done = true; /* no records */
    } else {
        snprintf(v->zone[o->zone].error, sizeof v->zone[o->zone].error, "%s", dns_ares_reason_text(status));
        dns_note_failure(v, dns_ares_reason(status), "%s from %s looking up _vlmcs._tcp.%s SRV",
                     dns_ares_reason_text(status), d->server_text, zone);
    }
    dns_op_done(o);
}

static void addr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    op *o = arg;
    if (status == ARES_EDESTRUCTION || o->d->destroying) { free(o); return; }
    view *v = view_of(o);
    dns *d = o->d;
    peer_state *p = &d->peers[o->peer];
    addrs_found *found = &v->peer[o->peer][o->fam];
    found->n = 0;
    if (status == ARES_SUCCESS) {
        int rc, n = DNS_MAX_ADDRS;
        if (fam_type[o->fam] == DNSMSG_T_A) {
            struct ares_addrttl a[DNS_MAX_ADDRS];
            rc = ares_parse_a_reply(abuf, alen, NULL, a, &n);
            for (int i = 0; rc == ARES_SUCCESS && i < n; i++) memcpy(found->addr[i], &a[i].ipaddr, 4);
        } else {
            struct ares_addr6ttl a[DNS_MAX_ADDRS];
            rc = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
            for (int i = 0; rc == ARES_SUCCESS && i < n; i++) memcpy(found->addr[i], &a[i].ip6addr, 16);
        }
        if (rc == ARES_SUCCESS) found->n = n;
        if (rc == ARES_SUCCESS || rc == ARES_ENODATA) found->done = true;
        else dns_note_failure(v, R_MALFORMED, "look-up of %s: malformed answer (%s)", p->target, ares_strerror(rc));
    } else if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
        found->done = true;
    } else {
        dns_note_failure(v, dns_ares_reason(status), "%s from %s looking up %s %s", dns_ares_reason_text(status),
                     d->server_text, p->target, fam_name[o->fam]);
    }
    dns_op_done(o);
}

op *dns_new_op(dns *d, dns_check *c, op_kind kind, int zone, int peer, int fam)
{
    op *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->d = d;
    o->check = c;
    o->kind = kind;
    o->zone = zone;
    o->peer = peer;
    o->fam = fam;
    view_of(o)->inflight++;
    return o;
}

/* Queues the look-ups of a view: every zone's SRV RRset, and the A and AAAA records of
 * the peers marked in want_addr (derived targets, in the first zone). Both families are
 * asked whatever the node has, so a record of a family it lost is found and deleted. */
void dns_start_lookups(dns *d, dns_check *c, const bool *want_addr)
{
    view *v = c ? &c->v : &d->pub;
    char name[300];
    for (int z = 0; z < d->n_zones; z++) {
        op *o = dns_new_op(d, c, OP_SRV, z, -1, 0);
        if (!o) { dns_note_failure(v, R_OTHER, "out of memory"); continue; }
        snprintf(name, sizeof name, "_vlmcs._tcp.%s", d->zones[z].cfg.name);
        name[strlen(name) - 1] = 0; /* c-ares takes the name without the root dot */
        resolver_query(d->res, name, DNSMSG_C_IN, DNSMSG_T_SRV, srv_cb, o);
    }
    for (int i = 0; i < d->n_peers; i++) {
        if (!want_addr[i] || !d->peers[i].derived) continue;
        for (int f = 0; f < N_FAMS; f++) {
            op *o = dns_new_op(d, c, OP_ADDR, 0, i, f);
            if (!o) { dns_note_failure(v, R_OTHER, "out of memory"); continue; }
            v->peer[i][f].asked = true;
            snprintf(name, sizeof name, "%s", d->peers[i].target);
            name[strlen(name) - 1] = 0;
            resolver_query(d->res, name, DNSMSG_C_IN, fam_type[f], addr_cb, o);
        }
    }
}
