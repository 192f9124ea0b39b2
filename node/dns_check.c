/* dns_check.c: the check behind GET /dns and `kmsctl dns check`: the look-ups of a cycle,
 * compared with what should be published, answered as JSON. */
#include "node/dns_internal.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/clock.h"

static void addr_text(uint16_t type, const uint8_t *a, char *out, size_t cap)
{
    if (!inet_ntop(type == DNSMSG_T_AAAA ? AF_INET6 : AF_INET, a, out, (socklen_t)cap)) snprintf(out, cap, "?");
}

int dns_check_start(dns *d, dns_check_fn done, void *arg, dns_check **out)
{
    *out = NULL;
    if (!d->enabled) {
        struct evbuffer *b = evbuffer_new();
        if (!b) return KMS_ENOMEM;
        evbuffer_add_printf(b, "{\"node\":");
        dns_json_string(b, d->env.cfg->node_id);
        evbuffer_add_printf(b, ",\"enabled\":false,\"drained\":%s,\"ok\":true,\"zones\":[]}\n", d->drained ? "true" : "false");
        size_t len = evbuffer_get_length(b);
        done(arg, true, (const char *)evbuffer_pullup(b, -1), len);
        evbuffer_free(b);
        return 1;
    }
    dns_check *c = calloc(1, sizeof *c);
    if (!c) return KMS_ENOMEM;
    c->d = d;
    c->done = done;
    c->arg = arg;
    c->next = d->checks;
    d->checks = c;
    bool want_addr[CONFIG_MAX_PEERS];
    for (int i = 0; i < d->n_peers; i++) want_addr[i] = true;
    c->v.inflight = 1; /* held while queueing (see settle) */
    dns_start_lookups(d, c, want_addr);
    if (c->v.inflight == 1) { /* every look-up failed at once: done runs now */
        dns_settle(d, c, OP_SRV);
        return 1;
    }
    c->v.inflight--;
    *out = c;
    return 0;
}

void dns_check_cancel(dns_check **check_p)
{
    if (!check_p || !*check_p) return;
    (*check_p)->cancelled = true;
    *check_p = NULL;
}

static void unlink_check(dns *d, dns_check *c)
{
    for (dns_check **pp = &d->checks; *pp; pp = &(*pp)->next)
        if (*pp == c) { *pp = c->next; return; }
}

/* "a < b = c": ids sorted by priority (then id), '=' between equal priorities. */
typedef struct order_entry {
    const char *id;
    unsigned prio;
} order_entry;

static int order_cmp(const void *a, const void *b)
{
    const order_entry *x = a, *y = b;
    if (x->prio != y->prio) return x->prio < y->prio ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void order_text(order_entry *e, int n, char *out, size_t cap)
{
    qsort(e, (size_t)n, sizeof *e, order_cmp);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i == 0 ? "" : e[i].prio == e[i - 1].prio ? " = " : " < ", e[i].id);
    }
}

/* Writes the check's JSON; returns whether everything is as it should be. */
static bool check_json(dns_check *c, struct evbuffer *b)
{
    dns *d = c->d;
    view *v = &c->v;
    double now = clock_mono_ms();
    bool all_ok = !v->failed;
    evbuffer_add_printf(b, "{\"node\":");
    dns_json_string(b, d->env.cfg->node_id);
    evbuffer_add_printf(b, ",\"enabled\":true,\"server\":");
    dns_json_string(b, d->server_text);
    evbuffer_add_printf(b, ",\"error\":");
    dns_json_string(b, v->failed ? v->error : "");
    evbuffer_add_printf(b, ",\"zones\":[");
    for (int z = 0; z < d->n_zones; z++) {
        evbuffer_add_printf(b, "%s{\"zone\":", z ? "," : "");
        dns_json_string(b, d->zones[z].cfg.name);
        evbuffer_add_printf(b, ",\"site\":");
        dns_json_string(b, d->zones[z].cfg.site);
        evbuffer_add_printf(b, ",\"looked_up\":%s,\"error\":", v->zone[z].done ? "true" : "false");
        dns_json_string(b, v->zone[z].error);
        evbuffer_add_printf(b, ",\"records\":[");
        order_entry published[DNS_MAX_RECORDS], intended[DNS_MAX_RECORDS];
        bool seen[CONFIG_MAX_PEERS] = {false};
        int n_order = 0, unknown = 0;
        for (int i = 0; i < v->zone[z].n; i++) {
            const dnsmsg_srv *r = &v->zone[z].rec[i];
            evbuffer_add_printf(b, "%s{\"priority\":%u,\"weight\":%u,\"port\":%u,\"target\":", i ? "," : "",
                                r->priority, r->weight, r->port);
            dns_json_string(b, r->target);
            evbuffer_add_printf(b, ",\"peer\":");
            int owner = -1;
            for (int p = 0; p < d->n_peers; p++)
                if (dnsmsg_name_equal(r->target, d->peers[p].target)) owner = p;
            if (owner >= 0) dns_json_string(b, d->peers[owner].cfg.id);
            else evbuffer_add_printf(b, "null");
            evbuffer_add(b, "}", 1);
            if (owner < 0) {
                unknown++; /* no node of this cluster: a removed node's leftover */
            } else if (!seen[owner]) {
                seen[owner] = true;
                dnsmsg_srv want;
                dns_should_record(d, &d->peers[owner], z, &want);
                published[n_order] = (order_entry){d->peers[owner].cfg.id, r->priority};
                intended[n_order++] = (order_entry){d->peers[owner].cfg.id, want.priority};
            }
        }
        /* The order clients try the published nodes in, against the intended one. */
        char pub_order[CONFIG_MAX_PEERS * 70], want_order[CONFIG_MAX_PEERS * 70];
        order_text(published, n_order, pub_order, sizeof pub_order);
        order_text(intended, n_order, want_order, sizeof want_order);
        bool order_ok = strcmp(pub_order, want_order) == 0;
        if (!order_ok || unknown) all_ok = false;
        evbuffer_add_printf(b, "],\"unknown_records\":%d,\"order_ok\":%s,\"published_order\":", unknown,
                            order_ok ? "true" : "false");
        dns_json_string(b, pub_order);
        evbuffer_add_printf(b, ",\"intended_order\":");
        dns_json_string(b, want_order);
        evbuffer_add_printf(b, ",\"peers\":[");
        for (int p = 0; p < d->n_peers; p++) {
            const peer_state *ps = &d->peers[p];
            bool alive = dns_peer_alive(d, p);
            const char *expect = ps->self ? (dns_own_wanted(d) ? "present" : "absent")
                               : alive ? "present" : ps->withdrawn ? "absent" : "either";
            dnsmsg_srv want;
            dns_should_record(d, ps, z, &want);
            int matching = 0, others = 0;
            for (int i = 0; i < v->zone[z].n; i++) {
                const dnsmsg_srv *r = &v->zone[z].rec[i];
                if (!dnsmsg_name_equal(r->target, ps->target)) continue;
                if (dns_same_srv(r, &want)) matching++;
                else others++;
            }
            bool ok = !strcmp(expect, "present") ? matching == 1 && others == 0
                    : !strcmp(expect, "absent") ? matching + others == 0 : true;
            evbuffer_add_printf(b, "%s{\"id\":", p ? "," : "");
            dns_json_string(b, ps->cfg.id);
            evbuffer_add_printf(b, ",\"self\":%s,\"alive\":%s,\"drained\":%s,\"expect\":\"%s\",\"should\":",
                                ps->self ? "true" : "false", alive ? "true" : "false",
                                ps->self ? (d->drained ? "true" : "false") : "null", expect);
            dns_json_srv(b, &want);
            evbuffer_add_printf(b, ",\"found\":%d,\"stale\":%d", matching, others);
            if (!alive && !ps->self && ps->dead_since_ms > 0)
                evbuffer_add_printf(b, ",\"dead_s\":%.0f", (now - ps->dead_since_ms) / 1000);
            if (z == 0 && ps->derived && v->peer[p][0].asked) {
                /* its A and AAAA records: should = its kms addresses (both families for
                 * a dual-stack node), found = what the server holds */
                char text[INET6_ADDRSTRLEN];
                bool right = true;
                evbuffer_add_printf(b, ",\"address\":{\"name\":");
                dns_json_string(b, ps->target);
                for (int pass = 0; pass < 2; pass++) {
                    evbuffer_add_printf(b, pass ? ",\"found\":[" : ",\"should\":[");
                    int k = 0;
                    for (int f = 0; f < N_FAMS; f++) {
                        int n = pass ? v->peer[p][f].n : ps->fam[f].n;
                        for (int i = 0; i < n; i++) {
                            addr_text(fam_type[f], pass ? v->peer[p][f].addr[i] : ps->fam[f].addr[i], text, sizeof text);
                            if (k++) evbuffer_add(b, ",", 1);
                            dns_json_string(b, text);
                        }
                        if (pass) right &= dns_addrs_right(v, ps, p, f);
                    }
                    evbuffer_add(b, "]", 1);
                }
                evbuffer_add(b, "}", 1);
                if (!strcmp(expect, "present") && !right) ok = false;
            }
            evbuffer_add_printf(b, ",\"ok\":%s}", ok ? "true" : "false");
            /* Another node's absence may be its drain, which only it knows ("drained":
             * null): kmsctl dns check asks that node before it calls this a difference. */
            if (!ok) all_ok = false;
        }
        evbuffer_add(b, "]}", 2);
    }
    evbuffer_add_printf(b, "],\"ok\":%s}\n", all_ok ? "true" : "false");
    return all_ok;
}

void dns_check_finish(dns_check *c)
{
    dns *d = c->d;
    unlink_check(d, c);
    if (!c->cancelled) {
        struct evbuffer *b = evbuffer_new();
        if (b) {
            bool ok = check_json(c, b);
            size_t len = evbuffer_get_length(b);
            c->done(c->arg, ok, (const char *)evbuffer_pullup(b, -1), len);
            evbuffer_free(b);
        }
    }
    free(c);
}
