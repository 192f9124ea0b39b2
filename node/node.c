/* node.c: the node's clock, the recent-activations ring, and the glue that starts
 * replication and DNS publishing with what each needs from the node (its settings, the
 * count index, the log; the catch-up gate, replication's view of the peers). */
#include "node/node.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "node/dns.h"
#include "node/log.h"
#include "node/ready.h"
#include "node/server.h"
#include "proto/clock.h"
#include "proto/errors.h"
#include "replication/repl.h"

#define LOGCLASS_REPL 3 /* log_allow class (server.c uses 0 and 1) */
_Static_assert(CONFIG_MAX_PEERS <= REPL_MAX_PEERS, "replication must take every configured peer");

int64_t node_now_ms(const node *n)
{
    return clock_wall_ms() + (n ? n->clock_offset_ms : 0);
}

double node_mono_ms(void)
{
    return clock_mono_ms();
}

void node_note_recent(node *n, const node_recent *r)
{
    n->recent[n->recent_next % NODE_RECENT_MAX] = *r;
    n->recent_next++;
}

void node_activity_advance(node *n, int64_t now_ms)
{
    int64_t minute = now_ms / 60000;
    if (minute <= n->activity_minute) return;
    int64_t from = n->activity_minute + 1;
    if (minute - from >= NODE_ACTIVITY_MINUTES) from = minute - NODE_ACTIVITY_MINUTES + 1;
    for (int64_t m = from; m <= minute; m++) {
        n->activity_activated[m % NODE_ACTIVITY_MINUTES] = 0;
        n->activity_below[m % NODE_ACTIVITY_MINUTES] = 0;
    }
    n->activity_minute = minute;
}

void node_note_activity(node *n, int result, int64_t now_ms)
{
    if (result != MR_ACTIVATED && result != MR_BELOW_THRESHOLD) return;
    node_activity_advance(n, now_ms);
    int64_t minute = now_ms / 60000;
    if (minute <= n->activity_minute - NODE_ACTIVITY_MINUTES || minute < 0) return; /* clock stepped back a day */
    uint32_t *slot = result == MR_ACTIVATED ? n->activity_activated : n->activity_below;
    slot[minute % NODE_ACTIVITY_MINUTES]++;
}

/* The replication engine's log lines, in the daemon's vocabulary. */
static void repl_log(void *arg, int level, const char *line)
{
    (void)arg;
    if ((level & REPL_LOG_LIMITED) && !log_allow(LOGCLASS_REPL)) return;
    switch (level & ~REPL_LOG_LIMITED) {
    case REPL_LOG_INFO: log_info("%s", line); break;
    case REPL_LOG_WARN: log_warnx("%s", line); break;
    default: log_error("%s", line); break;
    }
}

/* A remote record stored here: count it (and time live updates: creation on its origin
 * to stored and counted here). */
static void repl_applied(void *arg, const store_record *rec, bool live)
{
    node *n = arg;
    if (live) {
        double ms = (double)(node_now_ms(n) - rec->last_seen_ms);
        metrics_hist_observe(&n->metrics.repl_delay, ms < 0 ? 0 : ms);
    }
    clients_touch(n->clients, rec->app, rec->cmid, rec->kms_id, rec->last_seen_ms, rec->n_policy);
}

int node_start_replication(node *n, char *err, size_t errlen)
{
    const kmsd_config *cfg = &n->cfg;
    repl_config rc;
    memset(&rc, 0, sizeof rc);
    snprintf(rc.node_id, sizeof rc.node_id, "%s", cfg->node_id);
    snprintf(rc.key_dir, sizeof rc.key_dir, "%s", cfg->key_dir);
    rc.heartbeat_interval_ms = cfg->heartbeat_interval_ms;
    rc.dead_after_ms = cfg->dead_after_ms;
    rc.retire_unheard_after_ms = (uint64_t)cfg->retire_unheard_after_s * 1000;
    rc.sync_batch = cfg->sync_batch;
    rc.future_tolerance_ms = (int64_t)cfg->future_tolerance_h * 3600 * 1000;
    rc.clock_offset_ms = n->clock_offset_ms;
    for (int i = 0; i < cfg->n_peers; i++) {
        const config_peer *p = &cfg->peers[i];
        repl_peer_config *q = &rc.peers[rc.n_peers++];
        snprintf(q->id, sizeof q->id, "%s", p->id);
        snprintf(q->site, sizeof q->site, "%s", p->site);
        snprintf(q->host, sizeof q->host, "%s", p->replication.host);
        q->port = p->replication.port;
        snprintf(q->public_key, sizeof q->public_key, "%s", p->public_key);
    }
    rc.applied = repl_applied;
    rc.log = repl_log;
    rc.arg = n;
    n->repl = repl_new(n->base, n->store, &rc, n->origin, err, errlen);
    return !n->repl && err[0] ? -1 : 0;
}

static bool dns_serving(void *ctx)
{
    node *n = ctx;
    return ready_serving(n->ready);
}

static bool dns_stopping(void *ctx)
{
    node *n = ctx;
    return n->stopping;
}

static bool dns_peer_alive(void *ctx, const char *id)
{
    node *n = ctx;
    return n->repl && repl_peer_alive(n->repl, id);
}

static double dns_peer_silent_ms(void *ctx, const char *id)
{
    node *n = ctx;
    return n->repl ? repl_peer_silent_ms(n->repl, id) : -1;
}

int node_start_dns(node *n, char *err, size_t errlen)
{
    dns_env env = {.base = n->base, .cfg = &n->cfg, .ctx = n, .serving = dns_serving, .stopping = dns_stopping,
                   .peer_alive = dns_peer_alive, .peer_silent_ms = dns_peer_silent_ms};
    n->dns = dns_new(&env, err, errlen);
    return n->dns ? 0 : -1;
}

static int64_t server_now_ms(void *ctx)
{
    return node_now_ms(ctx);
}

static void server_answered(void *ctx, const node_recent *r)
{
    node *n = ctx;
    node_note_recent(n, r);
    node_note_activity(n, r->result, r->ts_ms);
}

static void server_committed(void *ctx, const store_update *u)
{
    node *n = ctx;
    repl_publish(n->repl, u);
}

int node_start_server(node *n, char *err, size_t errlen)
{
    server_env env = {.base = n->base, .cfg = &n->cfg, .products = &n->products, .clients = n->clients,
                      .store = n->store, .metrics = &n->metrics, .unknown_ids = &n->unknown_ids, .ctx = n,
                      .now_ms = server_now_ms, .answered = server_answered, .committed = server_committed};
    n->server = server_new(&env, err, errlen);
    return n->server ? 0 : -1;
}

int node_take_origin(node *n, bool may_wait)
{
    if (n->origin[0]) return 1;
    char origin[sizeof n->origin];
    bool all_heard = false;
    int resumed = n->repl ? repl_resumable_origin(n->repl, origin, sizeof origin, &all_heard) : 0;
    if (!resumed && !all_heard && may_wait) return 0;
    int rc = resumed ? 0 : repl_origin_new(n->cfg.node_id, origin, sizeof origin);
    if (rc == 0) rc = repl_origin_save(n->cfg.data_dir, origin);
    if (rc == 0) rc = store_set_origin(n->store, origin);
    if (rc < 0) {
        log_error("data_dir %s: cannot set up this node's update origin: %s", n->cfg.data_dir, kms_strerror(rc));
        return -1;
    }
    snprintf(n->origin, sizeof n->origin, "%s", origin);
    repl_set_origin(n->repl, origin);
    if (resumed) {
        store_vv vv;
        store_get_vv(n->store, &vv);
        log_info("update origin %s resumed at update %" PRIu64 ": every peer holds no more of it than this node",
                 origin, store_vv_get(&vv, origin));
    } else if (n->repl) {
        log_info("update origin %s is new (%s)", origin,
                 all_heard ? "no earlier origin of this node to resume"
                           : "not every peer is heard, so an earlier origin cannot be resumed safely");
    }
    return 1;
}
