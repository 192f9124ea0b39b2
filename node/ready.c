/* ready.c: the catch-up gate (see ready.h). A timer compares the store's version vector
 * with the one each live peer's last heartbeat advertised (repl_peer_get's lag_updates,
 * counted against what is committed, so nothing is counted that is not stored) and moves
 * between syncing, serving and alone; each move opens or closes the KMS listeners and asks
 * the DNS publisher to publish or withdraw. */
#include "node/ready.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/dns.h"
#include "node/log.h"
#include "node/server.h"
#include "replication/repl.h"

#define READY_TICK_MS 100
#define PROGRESS_LOG_MS 10000

struct ready {
    node *n;
    ready_state state;
    double since_ms;       /* monotonic: entered this state */
    bool heard;            /* syncing: a peer has been heard since (then only catching up ends it) */
    double logged_ms;
    int64_t since_wall_ms;
    char reason[512];
    struct event *tick;
};

static const char *const state_names[] = {"syncing", "serving", "alone"};

static void enter(ready *r, ready_state st, const char *why)
{
    ready_state was = r->state;
    r->state = st;
    r->heard = false;
    r->since_ms = node_mono_ms();
    r->since_wall_ms = node_now_ms(r->n);
    snprintf(r->reason, sizeof r->reason, "%s", why);
    bool serving = st != READY_SYNCING;
    if (server_set_accepting(r->n->server, serving) != 0) serving = false; /* retried by the tick */
    if ((was == READY_SYNCING) != (st == READY_SYNCING)) dns_serving_changed(r->n->dns);
    if (st == READY_SYNCING) log_warnx("not serving: %s; KMS connections are refused and the SRV records withdrawn until then", why);
    else if (st == READY_ALONE) log_warnx("serving alone: %s", why);
    else log_info("serving: %s", why);
}

static void evaluate(ready *r)
{
    node *n = r->n;
    if (n->stopping) return;
    double now = node_mono_ms();
    int alive = 0, peers = repl_peer_count(n->repl);
    uint64_t worst = 0;
    char worst_id[64] = "", alive_ids[160] = "";
    for (int i = 0; i < peers; i++) {
        repl_peer_info pi;
        repl_peer_get(n->repl, i, &pi);
        if (pi.self || !pi.alive) continue;
        alive++;
        size_t l = strlen(alive_ids);
        snprintf(alive_ids + l, sizeof alive_ids - l, "%s%s", l ? ", " : "", pi.id);
        if (pi.lag_updates > worst || (!worst_id[0] && pi.lag_updates)) {
            worst = pi.lag_updates;
            snprintf(worst_id, sizeof worst_id, "%s", pi.id);
        }
    }
    if (alive && r->state == READY_SYNCING) r->heard = true;
    char why[400];
    switch (r->state) {
    case READY_SYNCING:
        /* A node that started without an origin of its own takes one before it serves:
         * an earlier one when every peer is heard (each is heard within dead_after_ms of
         * the start, or is dead), else a fresh one. */
        if (alive && worst == 0 && repl_snapshot_required(n->repl)) {
            snprintf(r->reason, sizeof r->reason, "this store lost what it held: taking a snapshot from a peer");
        } else if (alive && worst == 0 && node_take_origin(n, now - r->since_ms < n->cfg.dead_after_ms) == 1) {
            snprintf(why, sizeof why, "caught up with %s after %.1f s", alive_ids, (now - r->since_ms) / 1000);
            enter(r, READY_SERVING, why);
        } else if (alive && worst == 0) {
            snprintf(r->reason, sizeof r->reason, "caught up; waiting for every peer's heartbeat to choose this "
                     "node's update origin");
        } else if (!alive && !r->heard && now - r->since_ms >= n->cfg.alone_after_ms && node_take_origin(n, false) == 1) {
            snprintf(why, sizeof why, "no live peer for %u ms (alone_after_ms); answering with this node's own "
                     "records until a peer is heard", n->cfg.alone_after_ms);
            enter(r, READY_ALONE, why);
        } else {
            if (alive) snprintf(r->reason, sizeof r->reason, "catching up: %" PRIu64 " updates behind %s", worst, worst_id);
            else if (r->heard) snprintf(r->reason, sizeof r->reason, "catching up: the peers it was catching up with went silent");
            else snprintf(r->reason, sizeof r->reason, "waiting for a peer's heartbeat (alone after %u ms)", n->cfg.alone_after_ms);
            if (now - r->logged_ms >= PROGRESS_LOG_MS) {
                if (r->logged_ms > 0) log_info("not serving yet: %s", r->reason);
                r->logged_ms = now;
            }
        }
        break;
    case READY_SERVING:
        if (!alive) enter(r, READY_ALONE, "every peer is dead; answering with this node's own records");
        break;
    case READY_ALONE:
        if (alive && worst == 0 && !repl_snapshot_required(n->repl)) {
            snprintf(why, sizeof why, "%s heard again and nothing to catch up", alive_ids);
            enter(r, READY_SERVING, why);
        } else if (alive) {
            if (worst) snprintf(why, sizeof why, "rejoined %s: %" PRIu64 " updates behind %s", alive_ids, worst, worst_id);
            else snprintf(why, sizeof why, "rejoined %s: this store lost what it held, taking a snapshot", alive_ids);
            r->logged_ms = now;
            enter(r, READY_SYNCING, why);
        }
        break;
    }
    /* A listener that could not be bound again is retried here. */
    if (r->state != READY_SYNCING && !server_accepting(n->server)) server_set_accepting(n->server, true);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evaluate(arg);
}

ready *ready_new(node *n, char *err, size_t errlen)
{
    ready *r = calloc(1, sizeof *r);
    if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
    r->n = n;
    r->since_ms = node_mono_ms();
    r->since_wall_ms = node_now_ms(n);
    if (!n->repl) {
        r->state = READY_SERVING;
        snprintf(r->reason, sizeof r->reason, "a single node");
        if (server_set_accepting(n->server, true) != 0) {
            snprintf(err, errlen, "cannot listen for KMS clients (see above)");
            free(r);
            return NULL;
        }
        return r;
    }
    r->state = READY_SYNCING;
    snprintf(r->reason, sizeof r->reason, "waiting for a peer's heartbeat (alone after %u ms)", n->cfg.alone_after_ms);
    log_info("not serving until caught up with the live peers (or alone after %u ms without one); "
             "KMS connections are refused meanwhile", n->cfg.alone_after_ms);
    r->tick = event_new(n->base, -1, EV_PERSIST, tick_cb, r);
    struct timeval tv = {0, READY_TICK_MS * 1000};
    if (!r->tick || event_add(r->tick, &tv) != 0) {
        snprintf(err, errlen, "cannot start the catch-up timer");
        ready_free(&r);
        return NULL;
    }
    return r;
}

void ready_free(ready **self_p)
{
    if (!self_p || !*self_p) return;
    if ((*self_p)->tick) event_free((*self_p)->tick);
    free(*self_p);
    *self_p = NULL;
}

ready_state ready_get(const ready *r) { return r ? r->state : READY_SERVING; }
bool ready_serving(const ready *r) { return !r || r->state != READY_SYNCING; }
const char *ready_reason(const ready *r) { return r ? r->reason : "a single node"; }

const char *ready_state_name(ready_state st) { return state_names[st]; }
int64_t ready_since_ms(const ready *r) { return r ? r->since_wall_ms : 0; }

void ready_metrics(const ready *r, struct evbuffer *b)
{
    ready_state st = ready_get(r);
    const char *node_id = r ? r->n->cfg.node_id : "";
    evbuffer_add_printf(b, "# HELP kmsha_serving Whether the node answers KMS clients (0 while it catches up with its peers).\n"
                           "# TYPE kmsha_serving gauge\nkmsha_serving{node=\"%s\"} %d\n"
                           "# HELP kmsha_serving_alone Whether the node serves with no live peer (after alone_after_ms).\n"
                           "# TYPE kmsha_serving_alone gauge\nkmsha_serving_alone{node=\"%s\"} %d\n",
                        node_id, st != READY_SYNCING, node_id, st == READY_ALONE);
}
