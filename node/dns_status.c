/* dns_status.c: DNS publishing in GET /status (the "dns" member) and /metrics
 * (kmsha_dns_*), and the JSON helpers the check's answer uses too. */
#include "node/dns_internal.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/clock.h"
#include "proto/json.h"

static const char *const reason_names[R_COUNT] = {
    "timeout", "connrefused", "refused", "notauth", "badsig", "badkey", "badtime", "servfail",
    "notzone", "formerr", "unsigned", "malformed", "other"};

static void put_evbuffer(void *ctx, const char *p, size_t n) { evbuffer_add(ctx, p, n); }
void dns_json_string(struct evbuffer *b, const char *s) { json_write_str(s, put_evbuffer, b); }

void dns_json_srv(struct evbuffer *b, const dnsmsg_srv *s)
{
    evbuffer_add_printf(b, "{\"priority\":%u,\"weight\":%u,\"port\":%u,\"target\":", s->priority,
                        s->weight, s->port);
    dns_json_string(b, s->target);
    evbuffer_add(b, "}", 1);
}

static const char *state_text(const dns *d, char *buf, size_t cap)
{
    if (!d->enabled) return "off";
    if (d->failing) { snprintf(buf, cap, "failing: %s", d->last_error); return buf; }
    if (d->leaving) return "withdrawn (stopping)";
    if (!d->ever_ok) return "pending";
    if (d->drained) return "withdrawn (drained)";
    return d->env.serving(d->env.ctx) ? "published" : "withdrawn (catching up)";
}

void dns_status_json(const dns *d, struct evbuffer *b)
{
    if (!d) return;
    char buf[320];
    evbuffer_add_printf(b, ",\"dns\":{\"enabled\":%s,\"state\":", d->enabled ? "true" : "false");
    dns_json_string(b, state_text(d, buf, sizeof buf));
    evbuffer_add_printf(b, ",\"drained\":%s", d->drained ? "true" : "false");
    if (!d->enabled) { evbuffer_add(b, "}", 1); return; }
    const peer_state *me = &d->peers[d->self];
    evbuffer_add_printf(b, ",\"server\":");
    dns_json_string(b, d->server_text);
    evbuffer_add_printf(b, ",\"key\":");
    dns_json_string(b, d->key.name);
    evbuffer_add_printf(b, ",\"target\":");
    dns_json_string(b, me->target);
    evbuffer_add_printf(b, ",\"ttl\":%u,\"zones\":[", d->env.cfg->dns_ttl);
    for (int z = 0; z < d->n_zones; z++) {
        const zone_state *zs = &d->zones[z];
        dnsmsg_srv want;
        dns_should_record(d, me, z, &want);
        evbuffer_add_printf(b, "%s{\"zone\":", z ? "," : "");
        dns_json_string(b, zs->cfg.name);
        evbuffer_add_printf(b, ",\"site\":");
        dns_json_string(b, zs->cfg.site);
        evbuffer_add_printf(b, ",\"should\":[");
        if (dns_own_wanted(d)) dns_json_srv(b, &want);
        evbuffer_add_printf(b, "],\"published\":");
        if (!zs->known) {
            evbuffer_add_printf(b, "null");
        } else {
            evbuffer_add(b, "[", 1);
            for (int i = 0; i < zs->n_own; i++) {
                if (i) evbuffer_add(b, ",", 1);
                dns_json_srv(b, &zs->own[i]);
            }
            evbuffer_add(b, "]", 1);
        }
        bool ok = zs->known && (!dns_own_wanted(d) ? zs->n_own == 0 : zs->n_own == 1 && dns_same_srv(&zs->own[0], &want));
        evbuffer_add_printf(b, ",\"ok\":%s,\"checked_ms\":%" PRId64 "}", ok ? "true" : "false", zs->checked_ms);
    }
    evbuffer_add_printf(b, "],\"withdrawn_peers\":[");
    int k = 0;
    for (int p = 0; p < d->n_peers; p++) {
        if (!d->peers[p].withdrawn) continue;
        if (k++) evbuffer_add(b, ",", 1);
        dns_json_string(b, d->peers[p].cfg.id);
    }
    double now = clock_mono_ms();
    evbuffer_add_printf(b, "],\"withdraws_dead_peers\":%s,\"last_error\":", dns_lowest_live(d) && dns_sees_majority(d, NULL) ? "true" : "false");
    dns_json_string(b, d->last_error);
    int64_t wnow = clock_wall_ms();
    evbuffer_add_printf(b, ",\"last_error_ms\":%" PRId64 ",\"last_success_ms\":%" PRId64
                           ",\"next_retry_ms\":%" PRId64 ",\"next_refresh_ms\":%" PRId64
                           ",\"updates_ok\":%" PRIu64 ",\"updates_failed\":%" PRIu64 "}",
                        d->last_error_ms, d->last_success_ms,
                        d->failing && d->next_retry_mono > 0 ? wnow + (int64_t)(d->next_retry_mono - now) : 0,
                        !d->failing ? wnow + (int64_t)(d->next_cycle_ms - now) : 0, d->updates_ok, d->updates_failed);
}

void dns_metrics(const dns *d, struct evbuffer *b)
{
    if (!d) return;
    const char *id = d->env.cfg->node_id;
    evbuffer_add_printf(b, "# HELP kmsha_dns_drained Whether this node is drained (its DNS records withdrawn).\n"
                           "# TYPE kmsha_dns_drained gauge\nkmsha_dns_drained{node=\"%s\"} %d\n", id, d->drained ? 1 : 0);
    if (!d->enabled) return;
    evbuffer_add_printf(b, "# HELP kmsha_dns_published Whether this node's SRV record is in the zone as it should be (1) "
                           "or not (0), by the last look-up or update.\n# TYPE kmsha_dns_published gauge\n");
    for (int z = 0; z < d->n_zones; z++) {
        const zone_state *zs = &d->zones[z];
        dnsmsg_srv want;
        dns_should_record(d, &d->peers[d->self], z, &want);
        bool on = zs->known && zs->n_own >= 1 && dns_same_srv(&zs->own[0], &want);
        evbuffer_add_printf(b, "kmsha_dns_published{node=\"%s\",zone=\"%s\"} %d\n", id, zs->cfg.name, on ? 1 : 0);
    }
    evbuffer_add_printf(b, "# HELP kmsha_dns_updates_total DNS updates sent, by result.\n# TYPE kmsha_dns_updates_total counter\n"
                           "kmsha_dns_updates_total{node=\"%s\",result=\"ok\"} %" PRIu64 "\n"
                           "kmsha_dns_updates_total{node=\"%s\",result=\"failed\"} %" PRIu64 "\n",
                        id, d->updates_ok, id, d->updates_failed);
    evbuffer_add_printf(b, "# HELP kmsha_dns_failures_total Failed DNS publishing rounds (look-up or update), by reason.\n"
                           "# TYPE kmsha_dns_failures_total counter\n");
    for (int r = 0; r < R_COUNT; r++)
        evbuffer_add_printf(b, "kmsha_dns_failures_total{node=\"%s\",reason=\"%s\"} %" PRIu64 "\n", id, reason_names[r],
                            d->failures[r]);
}
