/* dns_update.c: RFC 2136 updates: one TSIG-signed UPDATE per zone that needs a change
 * (this node's SRV and address records, the withdrawal of dead peers' records), sent and
 * their answers read; and the leave on SIGTERM, which deletes this node's records before
 * the node stops. */
#include "node/dns_internal.h"

#include <ares.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/log.h"
#include "proto/clock.h"
#include "proto/errors.h"

static int update_reason(int rcode, int tsig_error)
{
    switch (tsig_error) {
    case DNSMSG_BADSIG: return R_BADSIG;
    case DNSMSG_BADKEY: return R_BADKEY;
    case DNSMSG_BADTIME: return R_BADTIME;
    default: break;
    }
    switch (rcode) {
    case DNSMSG_REFUSED: return R_REFUSED;
    case DNSMSG_NOTAUTH: return R_NOTAUTH;
    case DNSMSG_SERVFAIL: return R_SERVFAIL;
    case DNSMSG_NOTZONE: return R_NOTZONE;
    case DNSMSG_FORMERR: return R_FORMERR;
    default: return R_OTHER;
    }
}

static const char *update_hint(int rcode, int tsig_error)
{
    switch (tsig_error) {
    case DNSMSG_BADSIG: return "the server does not accept the TSIG key's secret (wrong key file?)";
    case DNSMSG_BADKEY: return "the server does not know the TSIG key name or algorithm";
    case DNSMSG_BADTIME: return "the clocks of this node and the server differ by more than 300 s";
    default: break;
    }
    switch (rcode) {
    case DNSMSG_REFUSED: return "the zone's update-policy does not let this key change these records";
    case DNSMSG_NOTAUTH: return "the server is not authoritative for the zone";
    case DNSMSG_NOTZONE: return "a record lies outside the zone";
    case DNSMSG_SERVFAIL: return "the server failed to apply the update";
    default: return "the update was not applied";
    }
}

/* Checks the server's answer to an UPDATE of zone z signed with mac: -1 when applied,
 * else a failure reason (R_*) with the message in err. */
static int update_answer(dns *d, int status, const unsigned char *abuf, int alen, const uint8_t *mac, int z,
                         char *err, size_t errlen)
{
    const char *zone = d->zones[z].cfg.name;
    if (status != ARES_SUCCESS) {
        snprintf(err, errlen, "%s from %s updating zone %s", dns_ares_reason_text(status), d->server_text, zone);
        return dns_ares_reason(status);
    }
    dnsmsg_info info;
    int rc = dnsmsg_parse(abuf, (size_t)alen, &info);
    if (rc != 0 || !info.qr || info.opcode != DNSMSG_OP_UPDATE) {
        snprintf(err, errlen, "malformed answer from %s to the update of zone %s", d->server_text, zone);
        return R_MALFORMED;
    }
    if (info.rcode != DNSMSG_NOERROR || (info.has_tsig && info.tsig_error)) {
        int te = info.has_tsig ? info.tsig_error : 0;
        if (te)
            snprintf(err, errlen, "%s (%s) from %s updating zone %.255s with key %.255s: %s", dnsmsg_rcode_name(info.rcode),
                     dnsmsg_rcode_name(te), d->server_text, zone, d->key.name, update_hint(info.rcode, te));
        else
            snprintf(err, errlen, "%s from %s updating zone %.255s with key %.255s: %s", dnsmsg_rcode_name(info.rcode),
                     d->server_text, zone, d->key.name, update_hint(info.rcode, 0));
        return update_reason(info.rcode, te);
    }
    if ((rc = dnsmsg_tsig_verify(abuf, (size_t)alen, &info, &d->key, mac, DNSMSG_MAC_LEN, (uint64_t)time(NULL))) != 0) {
        snprintf(err, errlen, "the answer of %s to the update of zone %.255s is not signed with key %.255s (%s)", d->server_text,
                 zone, d->key.name, rc == KMS_ETIMEOUT ? "time signed out of range" : "TSIG check failed");
        return R_UNSIGNED;
    }
    return -1;
}

static void update_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    op *o = arg;
    if (status == ARES_EDESTRUCTION || o->d->destroying) { free(o); return; }
    dns *d = o->d;
    view *v = &d->pub;
    char err[1024];
    int reason = update_answer(d, status, abuf, alen, o->mac, o->zone, err, sizeof err);
    if (reason >= 0) {
        d->updates_failed++;
        dns_note_failure(v, reason, "%s", err);
    } else {
        d->updates_ok++;
        /* The zone now holds what this node wanted. */
        zone_state *zs = &d->zones[o->zone];
        zs->n_own = 0;
        if (d->own_should) dns_should_record(d, &d->peers[d->self], o->zone, &zs->own[zs->n_own++]);
        zs->known = true;
        zs->checked_ms = clock_wall_ms();
    }
    dns_op_done(o);
}

/* Builds the UPDATE of zone z from the publisher's look-ups; returns its length, 0 when
 * nothing needs to change, or a negative error. */
static int build_update(dns *d, int z, uint8_t *buf, size_t cap, int *changes)
{
    view *v = &d->pub;
    const char *zname = d->zones[z].cfg.name;
    char owner[300];
    snprintf(owner, sizeof owner, "_vlmcs._tcp.%s", zname);
    dnsmsg_update u;
    dnsmsg_update_init(&u, buf, cap, d->next_id++, zname);
    *changes = 0;
    dnsmsg_rr rr;
    const peer_state *me = &d->peers[d->self];
    dnsmsg_srv want;
    dns_should_record(d, me, z, &want);
    bool have = false;
    for (int i = 0; i < v->zone[z].n; i++) {
        const dnsmsg_srv *r = &v->zone[z].rec[i];
        bool mine = dnsmsg_name_equal(r->target, me->target);
        bool dead_peer = false;
        for (int p = 0; p < d->n_peers; p++)
            if (d->withdraw_now[p] && dnsmsg_name_equal(r->target, d->peers[p].target)) dead_peer = true;
        if (mine && d->own_should && dns_same_srv(r, &want) && !have) {
            have = true;
            continue;
        }
        if (mine || dead_peer) {
            if (dnsmsg_rr_srv(&rr, owner, 0, r->priority, r->weight, r->port, r->target) != 0) continue;
            dnsmsg_update_delete_rr(&u, &rr);
            (*changes)++;
        }
    }
    if (d->own_should && !have) {
        dnsmsg_rr_srv(&rr, owner, d->env.cfg->dns_ttl, want.priority, want.weight, want.port, want.target);
        dnsmsg_update_add(&u, &rr);
        (*changes)++;
    }
    if (z == 0) { /* address records of derived names live in the first zone */
        for (int p = 0; p < d->n_peers; p++) {
            const peer_state *ps = &d->peers[p];
            for (int f = 0; f < N_FAMS && ps->derived; f++) {
                if (!v->peer[p][f].asked) continue;
                bool want_addr = p == d->self && d->own_should;
                if (want_addr ? dns_addrs_right(v, ps, p, f) : v->peer[p][f].n == 0) continue;
                if (v->peer[p][f].n > 0) {
                    dnsmsg_update_delete_rrset(&u, ps->target, fam_type[f]);
                    (*changes)++;
                }
                for (int i = 0; want_addr && i < ps->fam[f].n; i++) {
                    dnsmsg_rr_addr(&rr, ps->target, d->env.cfg->dns_ttl, fam_type[f], ps->fam[f].addr[i]);
                    dnsmsg_update_add(&u, &rr);
                    (*changes)++;
                }
            }
        }
    }
    int len = dnsmsg_update_finish(&u);
    if (len < 0 || *changes == 0) return len < 0 ? len : 0;
    return len;
}

void dns_send_updates(dns *d)
{
    view *v = &d->pub;
    /* Remember what this node's records are, as found. */
    const peer_state *me = &d->peers[d->self];
    for (int z = 0; z < d->n_zones; z++) {
        zone_state *zs = &d->zones[z];
        zs->n_own = 0;
        for (int i = 0; i < v->zone[z].n && zs->n_own < 4; i++)
            if (dnsmsg_name_equal(v->zone[z].rec[i].target, me->target)) zs->own[zs->n_own++] = v->zone[z].rec[i];
        zs->known = true;
        zs->checked_ms = clock_wall_ms();
    }
    for (int z = 0; z < d->n_zones; z++) {
        uint8_t buf[DNS_UPDATE_MAX];
        int changes = 0;
        int len = build_update(d, z, buf, sizeof buf, &changes);
        if (len < 0) {
            dns_note_failure(v, R_OTHER, "cannot build the update of zone %s: %s", d->zones[z].cfg.name, kms_strerror(len));
            continue;
        }
        if (len == 0) continue;
        op *o = dns_new_op(d, NULL, OP_UPDATE, z, -1, 0);
        if (!o) { dns_note_failure(v, R_OTHER, "out of memory"); continue; }
        int slen = dnsmsg_tsig_sign(buf, (size_t)len, sizeof buf, &d->key, NULL, 0, (uint64_t)time(NULL),
                                    DNSMSG_FUDGE, o->mac);
        if (slen < 0) {
            dns_note_failure(v, R_OTHER, "cannot sign the update of zone %s: %s", d->zones[z].cfg.name, kms_strerror(slen));
            v->inflight--;
            free(o);
            continue;
        }
        log_debug("dns: zone %s: sending an update of %d changes", d->zones[z].cfg.name, changes);
        resolver_send(d->res, buf, slen, update_cb, o);
    }
}

static void leave_finish(dns *d, const char *how)
{
    if (!d->leave_done) return;
    void (*done)(void *) = d->leave_done;
    d->leave_done = NULL;
    if (d->leave_timer) evtimer_del(d->leave_timer);
    if (how) log_info("dns: %s", how);
    done(d->leave_arg);
}

static void leave_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns *d = arg;
    char how[600];
    snprintf(how, sizeof how, "no answer from %s within timeout_ms (%u ms) to the withdrawal of this node's records; "
             "stopping anyway (the peers withdraw them after dead_after_ms + withdraw_after)", d->server_text,
             d->env.cfg->dns_timeout_ms);
    leave_finish(d, how);
}

static void leave_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    op *o = arg;
    if (status == ARES_EDESTRUCTION || o->d->destroying) { free(o); return; }
    dns *d = o->d;
    char err[1024];
    int reason = update_answer(d, status, abuf, alen, o->mac, o->zone, err, sizeof err);
    if (reason >= 0) {
        d->updates_failed++;
        d->failures[reason]++;
        log_warnx("dns: withdrawing this node's records before stopping failed: %s", err);
    } else {
        d->updates_ok++;
        d->zones[o->zone].n_own = 0;
    }
    free(o);
    if (--d->leave_inflight == 0) {
        char how[160];
        snprintf(how, sizeof how, "this node's records withdrawn from %d zone%s before stopping (%.0f ms)", d->n_zones,
                 d->n_zones == 1 ? "" : "s", clock_mono_ms() - d->leave_started_ms);
        leave_finish(d, reason >= 0 ? NULL : how);
    }
}

/* Sends one UPDATE per zone deleting this node's records: the one it should have and any
 * other it was last seen with (deleting a record that is not there is no error). */
static void send_leave(dns *d)
{
    const peer_state *me = &d->peers[d->self];
    for (int z = 0; z < d->n_zones; z++) {
        uint8_t buf[DNS_UPDATE_MAX];
        char owner[300];
        snprintf(owner, sizeof owner, "_vlmcs._tcp.%s", d->zones[z].cfg.name);
        dnsmsg_update u;
        dnsmsg_update_init(&u, buf, sizeof buf, d->next_id++, d->zones[z].cfg.name);
        dnsmsg_rr rr;
        dnsmsg_srv want;
        dns_should_record(d, me, z, &want);
        if (dnsmsg_rr_srv(&rr, owner, 0, want.priority, want.weight, want.port, want.target) == 0)
            dnsmsg_update_delete_rr(&u, &rr);
        const zone_state *zs = &d->zones[z];
        for (int i = 0; i < zs->n_own; i++)
            if (!dns_same_srv(&zs->own[i], &want) &&
                dnsmsg_rr_srv(&rr, owner, 0, zs->own[i].priority, zs->own[i].weight, zs->own[i].port, zs->own[i].target) == 0)
                dnsmsg_update_delete_rr(&u, &rr);
        for (int f = 0; z == 0 && me->derived && f < N_FAMS; f++)
            if (me->fam[f].n) dnsmsg_update_delete_rrset(&u, me->target, fam_type[f]);
        int len = dnsmsg_update_finish(&u);
        op *o = len > 0 ? calloc(1, sizeof *o) : NULL;
        if (!o) { log_error("dns: cannot build the withdrawal of zone %s", d->zones[z].cfg.name); continue; }
        o->d = d;
        o->kind = OP_UPDATE;
        o->zone = z;
        int slen = dnsmsg_tsig_sign(buf, (size_t)len, sizeof buf, &d->key, NULL, 0, (uint64_t)time(NULL), DNSMSG_FUDGE, o->mac);
        if (slen < 0) { log_error("dns: cannot sign the withdrawal of zone %s", d->zones[z].cfg.name); free(o); continue; }
        d->leave_inflight++;
        resolver_send(d->res, buf, slen, leave_cb, o);
    }
}

void dns_leave(dns *d, void (*done)(void *arg), void *arg)
{
    if (!d || !d->enabled) { done(arg); return; }
    d->leaving = true;
    d->own_should = false; /* a cycle in flight no longer adds this node's record */
    d->leave_done = done;
    d->leave_arg = arg;
    d->leave_started_ms = clock_mono_ms();
    d->leave_timer = evtimer_new(d->env.base, leave_timeout_cb, d);
    for (int i = 0; i < d->n_peers; i++) dns_cancel_probe(&d->peers[i]);
    /* A cycle in flight may have an UPDATE adding this node's record on its way: the
     * withdrawal goes after its answer (cycle_end), or the server could apply them in
     * the other order. */
    if (!d->busy) dns_leave_send(d);
}

/* Sends the withdrawal; its answers (or timeout_ms) end the leave. */
void dns_leave_send(dns *d)
{
    struct timeval tv = {d->env.cfg->dns_timeout_ms / 1000, (d->env.cfg->dns_timeout_ms % 1000) * 1000};
    if (d->leave_timer) evtimer_add(d->leave_timer, &tv);
    send_leave(d);
    if (d->leave_inflight == 0) leave_finish(d, "nothing to withdraw before stopping");
}
