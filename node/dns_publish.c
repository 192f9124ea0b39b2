/* dns_publish.c: the publishing cycle and what it decides.
 *
 * A "cycle" runs at start, every refresh_interval, on drain/undrain, when a peer has been
 * dead for withdraw_after (no heartbeat heard for dead_after_ms + withdraw_after, measured
 * on the monotonic clock from the last one, or from this node's start when it has not heard
 * the peer at all), and after a failure (backoff 1 s doubling to 60 s). It looks up
 * the SRV RRset of every zone (and the A and AAAA records of derived target names) on the
 * server, then sends one signed UPDATE per zone that needs a change: delete this node's
 * stale SRV records (same target, other priority/weight/port), add the right one (or
 * delete them all while drained), and delete the records of dead peers this node is
 * responsible for (it is the lowest live id). Records are identified by their target, so
 * every node must have its own target name.
 * Whose records may go: only the lowest live node withdraws a dead peer's, only while it
 * sees a majority alive, and only once a probe found the peer's KMS port down. */
#include "node/dns_internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/log.h"
#include "proto/clock.h"

/* The SRV record peer p should have in zone z. */
void dns_should_record(const dns *d, const peer_state *p, int z, dnsmsg_srv *out)
{
    memset(out, 0, sizeof *out);
    out->priority = config_srv_priority(d->env.cfg, &d->zones[z].cfg, &p->cfg);
    out->weight = (uint16_t)(p->cfg.weight > 65535 ? 65535 : p->cfg.weight);
    out->port = p->cfg.kms.port;
    /* A bounded copy, not snprintf: gcc 12 at -O2 cannot tell that the peer's target and
     * the record are distinct objects and fails the build with -Werror=restrict. */
    size_t n = strnlen(p->target, sizeof out->target - 1);
    memcpy(out->target, p->target, n);
    out->target[n] = 0;
}

bool dns_same_srv(const dnsmsg_srv *a, const dnsmsg_srv *b)
{
    return a->priority == b->priority && a->weight == b->weight && a->port == b->port &&
           dnsmsg_name_equal(a->target, b->target);
}

/* Should this node's own records be in DNS now? */
bool dns_own_wanted(const dns *d)
{
    return !d->drained && !d->leaving && d->env.serving(d->env.ctx);
}

/* Does the look-up of peer p's family f records (v) hold exactly its addresses? */
bool dns_addrs_right(const view *v, const peer_state *ps, int p, int f)
{
    if (v->peer[p][f].n != ps->fam[f].n) return false;
    for (int i = 0; i < ps->fam[f].n; i++) {
        bool seen = false;
        for (int k = 0; k < v->peer[p][f].n && !seen; k++)
            seen = memcmp(v->peer[p][f].addr[k], ps->fam[f].addr[i], fam_len[f]) == 0;
        if (!seen) return false;
    }
    return true;
}

bool dns_peer_alive(const dns *d, int i)
{
    if (d->peers[i].self) return true;
    return d->env.peer_alive && d->env.peer_alive(d->env.ctx, d->peers[i].cfg.id);
}

/* Is this node the lowest id among the live nodes (the one that withdraws dead peers)? */
bool dns_lowest_live(const dns *d)
{
    for (int i = 0; i < d->n_peers; i++)
        if (i != d->self && dns_peer_alive(d, i) && strcmp(d->peers[i].cfg.id, d->peers[d->self].cfg.id) < 0)
            return false;
    return true;
}

/* Does this node see a strict majority of the cluster alive (itself included)? A cluster
 * of one or two nodes has no majority without every node: there the probe alone decides. */
bool dns_sees_majority(const dns *d, int *alive_out)
{
    int alive = 0;
    for (int i = 0; i < d->n_peers; i++)
        if (dns_peer_alive(d, i)) alive++;
    if (alive_out) *alive_out = alive;
    return d->n_peers <= 2 || 2 * alive > d->n_peers;
}

/* Milliseconds since this node last heard peer i (monotonic; -1 when unknown). */
static double silent_ms(const dns *d, int i)
{
    return d->env.peer_silent_ms ? d->env.peer_silent_ms(d->env.ctx, d->peers[i].cfg.id) : -1;
}

/* The withdrawal rule: peer i is dead and has not been heard for dead_after_ms +
 * withdraw_after. Measured from the last heartbeat, not from when this node noticed the
 * death: a peer never heard since this node started (a whole cluster restarting, a peer
 * slow to connect) must not lose its records withdraw_after after this node's start. */
bool dns_dead_long_enough(const dns *d, int i)
{
    if (d->peers[i].self || dns_peer_alive(d, i)) return false;
    double silent = silent_ms(d, i);
    return silent >= 0 && silent >= (double)d->env.cfg->dead_after_ms + (double)d->env.cfg->dns_withdraw_after * 1000;
}

static void log_failure(dns *d, const char *error)
{
    double now = clock_mono_ms();
    if (strcmp(error, d->logged_error) == 0 && now - d->logged_ms < LOG_REPEAT_MS) {
        d->suppressed++;
        return;
    }
    if (d->suppressed)
        log_warnx("dns: publishing failed: %s; retrying in %.0f s (%u similar failures not logged)", error,
                  d->backoff_ms / 1000, d->suppressed);
    else
        log_warnx("dns: publishing failed: %s; retrying in %.0f s", error, d->backoff_ms / 1000);
    snprintf(d->logged_error, sizeof d->logged_error, "%s", error);
    d->logged_ms = now;
    d->suppressed = 0;
}

void dns_cycle_end(dns *d)
{
    view *v = &d->pub;
    double now = clock_mono_ms();
    d->busy = false;
    if (d->leaving) { /* SIGTERM came while this cycle ran */
        if (d->leave_done && !d->leave_inflight) dns_leave_send(d);
        return;
    }
    if (d->again) { /* asked for while this cycle ran */
        struct timeval tv = {0, 0};
        evtimer_add(d->kick, &tv);
    }
    if (v->failed) {
        d->failures[v->reason]++;
        d->failing = true;
        snprintf(d->last_error, sizeof d->last_error, "%s", v->error);
        d->last_error_ms = clock_wall_ms();
        if (d->backoff_ms < BACKOFF_MIN_MS) d->backoff_ms = BACKOFF_MIN_MS;
        log_failure(d, v->error);
        d->next_cycle_ms = now + d->backoff_ms;
        d->next_retry_mono = d->next_cycle_ms;
        d->backoff_ms *= 2;
        if (d->backoff_ms > BACKOFF_MAX_MS) d->backoff_ms = BACKOFF_MAX_MS;
        return;
    }
    if (d->failing) log_info("dns: the DNS server %s works again", d->server_text);
    int state = d->own_should ? 1 : d->drained ? 2 : 3;
    if (state != d->logged_state)
        log_info("dns: %s in %d zone%s via %s", state == 1 ? "published" : state == 2 ? "withdrawn (drained)" : "withdrawn (catching up)",
                 d->n_zones, d->n_zones == 1 ? "" : "s", d->server_text);
    d->logged_state = state;
    for (int p = 0; p < d->n_peers; p++) {
        if (d->withdraw_now[p] && !d->peers[p].withdrawn) {
            log_info("dns: withdrew the records of peer %s (not heard for %.1f s)", d->peers[p].cfg.id,
                     silent_ms(d, p) / 1000);
            d->peers[p].withdrawn = true;
        }
    }
    d->failing = false;
    d->ever_ok = true;
    d->suppressed = 0;
    d->logged_error[0] = 0;
    d->last_success_ms = clock_wall_ms();
    d->backoff_ms = BACKOFF_MIN_MS;
    d->next_cycle_ms = now + (double)d->env.cfg->dns_refresh_interval * 1000;
    d->next_retry_mono = 0;
}

/* One exchange of a view is over: when it was the last, the look-ups lead to the updates,
 * the updates to the end of the cycle, and a check's look-ups to its answer. Callers that
 * queue several exchanges hold one count themselves while queueing (c-ares may call back
 * before ares_query/ares_send return) and settle it afterwards. */
void dns_settle(dns *d, dns_check *c, op_kind kind)
{
    view *v = c ? &c->v : &d->pub;
    if (--v->inflight > 0) return;
    if (c) {
        dns_check_finish(c);
        return;
    }
    if (kind != OP_UPDATE && !v->failed) {
        v->inflight++;
        dns_send_updates(d);
        dns_settle(d, NULL, OP_UPDATE);
        return;
    }
    dns_cycle_end(d);
}

void dns_op_done(op *o)
{
    dns *d = o->d;
    dns_check *c = o->check;
    op_kind kind = o->kind;
    free(o);
    dns_settle(d, c, kind);
}

static void start_cycle(dns *d)
{
    if (d->busy || !d->enabled || d->destroying || d->leaving) return;
    d->busy = true;
    d->again = false; /* this cycle sees the latest state */
    memset(&d->pub, 0, sizeof d->pub);
    /* Published only while serving: not while catching up (node/ready.h). */
    d->own_should = !d->drained && d->env.serving(d->env.ctx);
    bool want_addr[CONFIG_MAX_PEERS] = {false};
    for (int i = 0; i < d->n_peers; i++) {
        /* Once per death: a peer that is back but not heard from yet may have published
         * again, and must not lose its records to every later cycle of this node. */
        d->withdraw_now[i] = dns_may_withdraw(d, i);
        want_addr[i] = i == d->self || d->withdraw_now[i];
    }
    d->pub.inflight = 1; /* held while queueing (see settle) */
    dns_start_lookups(d, NULL, want_addr);
    dns_settle(d, NULL, OP_SRV);
}

void dns_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns *d = arg;
    double now = clock_mono_ms();
    if (d->leaving) return;
    bool lowest = dns_lowest_live(d);
    int alive = 0;
    bool majority = dns_sees_majority(d, &alive);
    for (int i = 0; i < d->n_peers; i++) {
        peer_state *p = &d->peers[i];
        if (p->self) continue;
        if (dns_peer_alive(d, i)) {
            if (p->dead_since_ms > 0 && p->withdrawn) log_info("dns: peer %s is back; it publishes its records itself", p->cfg.id);
            p->dead_since_ms = 0;
            p->withdrawn = false;
            dns_cancel_probe(p);
            p->probe_result = PROBE_NONE;
            p->logged_minority = p->logged_up = false;
            continue;
        }
        if (p->dead_since_ms == 0) p->dead_since_ms = now;
        if (!lowest || p->withdrawn || !dns_dead_long_enough(d, i)) continue;
        if (!majority) {
            /* Cut off from the others, this node cannot tell their death from its own
             * isolation: it never withdraws anyone. */
            if (!p->logged_minority)
                log_warnx("dns: would withdraw peer %s (silent for %.0f s), but this node sees only %d of %d nodes "
                          "alive, no majority: keeping its records", p->cfg.id, silent_ms(d, i) / 1000, alive,
                          d->n_peers);
            p->logged_minority = true;
            continue;
        }
        p->logged_minority = false;
        /* The probe decides; one that found the port answering is repeated every
         * withdraw_after. */
        if (p->probe_result == PROBE_NONE ||
            (p->probe_result == PROBE_UP && now - p->probe_done_ms >= (double)d->env.cfg->dns_withdraw_after * 1000))
            dns_start_probe(d, i);
        else if (p->probe_result == PROBE_DOWN && !d->failing && !d->busy)
            d->again = true; /* withdraw it now, once (while failing, the backoff decides) */
    }
    if (d->verify_at_ms > 0 && now >= d->verify_at_ms && !d->failing) {
        d->verify_at_ms = 0;
        d->again = true;
    }
    if (!d->busy && !d->env.stopping(d->env.ctx) && (d->again || now >= d->next_cycle_ms)) start_cycle(d);
}
