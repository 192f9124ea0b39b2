/* repl.c: the replication engine (see repl.h).
 *
 * Sockets, all owned by the event loop thread: PUB (bound on the replication port: our
 * updates and heartbeats), SUB (connected to every peer's PUB), ROUTER (bound on port+1:
 * catch-up for peers), one DEALER per peer (connected to its ROUTER: our catch-up
 * requests). ZeroMQ's ZMQ_FD is edge-triggered, so every readable event, every send and a
 * short safety timer drain all sockets until ZMQ_EVENTS shows nothing more.
 *
 * Consistency: an update (origin, seq) is applied only in sequence (the store checks
 * seq == vv[origin] + 1 in the commit), so the version vector always means "everything of
 * that origin up to here". Live updates that skip ahead trigger a catch-up; heartbeats
 * carry every peer's version vector, so whatever is missed (dropped, partitioned,
 * restarted, wiped) is noticed and fetched, from the log or as a snapshot. Records merge
 * as a CRDT, so duplicates and reordering cannot make nodes disagree.
 *
 * Origin retirement (maybe_retire): the version vector has room for STORE_VV_MAX origins,
 * and a node that starts empty while a peer is not heard must take a new origin. An
 * origin leaves every vector once it is superseded (its node's heartbeat names another
 * origin as its own, or it names no configured peer) and every configured peer is alive
 * and holds exactly as much of it as this node, or has retired it at that point itself.
 * Only a node that lost its store (new, wiped, restored) can then lack its updates, and
 * no log sends them any more: such a node takes a snapshot first (repl_require_snapshot).
 * A node that retired an origin keeps saying so in its heartbeats (with where it stopped)
 * while some peer still advertises it, so that peer can retire it too, and one that holds
 * less of it learns that it is behind. An origin retired too early is harmless: the store
 * still knows how far it went, and its next update brings it back. */
#include "replication/repl.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/clock.h"
#include "proto/crypto.h"
#include "proto/errors.h"
#include "replication/keys.h"
#include "replication/msg.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* a draft option of libzmq 4.3 (stable in Debian's build) */
#endif

#define SAFETY_POLL_MS 10
#define REPL_PATH_MAX 512
/* Catch-up flow control: no further request while this many remote updates wait for the
 * store's writer (a fast peer would otherwise fill the store's queue, and memory). */
#define APPLY_BACKLOG_MAX 8192
#define SYNC_TIMEOUT_MS 5000
#define PUB_HWM 20000      /* live updates queued per subscriber (about 6 MB) */
#define ROUTER_SNDHWM 4    /* catch-up replies queued per requesting connection */
#define ROUTER_RCVHWM 16   /* catch-up requests queued per requesting connection */
#define MAX_MSG (1 << 20)
#define ORIGINS_REFUSED_KEPT 64 /* refused new origins remembered: not asked for again */

/* A snapshot page queued in the store, kept until its commit returns so that its records
 * enter the count index only once they are stored. */
typedef struct snap_page {
    struct snap_page *next;
    size_t n;
    store_record recs[];
} snap_page;

typedef struct peer {
    const repl_peer_config *cfg;
    bool self;
    bool alive;
    bool ever_heard;
    int64_t last_heard_ms;  /* wall clock, for display */
    double heard_mono_ms;   /* monotonic: the last heartbeat, or the engine's start when none yet */
    int64_t clock_offset_ms;/* its wall clock minus ours, from its last heartbeat */
    store_vv vv;            /* from its last heartbeat */
    store_vv retired;       /* from its last heartbeat: origins it retired that a peer still advertises */
    char now_origin[STORE_ORIGIN_MAX]; /* from its last heartbeat: its own origin ("" = not told) */
    bool owed;              /* we retired origins without it: it is to take a snapshot from us (durable) */
    bool owes_us;           /* its last heartbeat says it owes us a snapshot */
    int64_t behind_since_ms;
    int64_t sync_timed_out_ms; /* when our last catch-up request to it timed out (0 = never) */
    double probed_mono_ms;  /* not heard: when we last asked its catch-up port anyway */
    bool probe_logged;      /* "answers on its catch-up port" said since it was last heard */
    void *dealer;           /* to its ROUTER (NULL for self) */
    char pub_ep[300], router_ep[300]; /* its endpoints, for re-dialling */
    bool redial;            /* a handshake with it failed: dial again (redial_failed_peers) */
    struct event *ev;
    uint64_t updates_received, syncs_served, snapshots_served, malformed;
} peer;

struct repl {
    struct event_base *base;
    store *store;
    repl_config cfg;         /* a copy: peers[].cfg point into it */
    char origin[STORE_ORIGIN_MAX];
    void *ctx;
    void *pub, *sub, *router;
    struct event *ev_sub, *ev_router, *safety, *heartbeat;
    peer peers[REPL_MAX_PEERS];
    int n_peers;
    int self_index;
    store_vv pending;        /* committed vv plus what is queued for commit */
    int64_t last_update_ms;  /* our own last update */
    bool need_snapshot;      /* the store lost what it held: the first catch-up is a snapshot */
    bool retiring;           /* a store_retire_async is in flight (one at a time) */
    char retiring_origin[STORE_ORIGIN_MAX], retiring_successor[STORE_ORIGIN_MAX];
    uint64_t retiring_seq;
    /* catch-up in flight (one at a time) */
    int sync_peer;           /* -1 = none */
    bool sync_probe;         /* that request asks a peer that is not heard (see maybe_sync) */
    int64_t sync_sent_ms;
    bool snapshot_active;
    store_vv snapshot_vv;    /* vv at the snapshot's start, adopted at its end */
    int snapshot_pending_commits;
    snap_page *snap_pages, *snap_pages_tail; /* FIFO: one per pending snapshot commit */
    char future_logged[32][STORE_ORIGIN_MAX]; /* origins whose future records were logged */
    char origins_refused[ORIGINS_REFUSED_KEPT][STORE_ORIGIN_MAX]; /* ring: refused new origins */
    int n_origins_refused;   /* entries written (the ring holds the last ORIGINS_REFUSED_KEPT) */
    int n_future_logged;
    bool clock_suspect;      /* our own clock is known to be wrong: no future bound */
    int applies_outstanding;  /* remote updates queued in the store, not yet committed */
    bool trim_after_catchup;  /* give the memory of a large catch-up back to the system */
    repl_stats stats;
    uint8_t *buf;            /* encode / page buffer (repl_sync_rep_max_len) */
    store_update *batch;     /* REPL_BATCH_MAX */
    store_record *records;   /* REPL_BATCH_MAX */
    /* ZAP */
    pthread_t zap_thread;
    bool zap_running;
    void *zap;               /* its REP socket, bound before the thread starts */
    char pub_key[41], sec_key[41]; /* this node's CURVE pair (Z85), for re-dialling */
    void *monitor;           /* PAIR: failed handshakes of the SUB and the DEALERs */
    uint8_t allowed_keys[REPL_MAX_PEERS][32];
    int n_allowed;
};

static void drain_all(repl *r);
static int set_curve_client(void *sock, const char *server_key, const char *pub, const char *sec);

static int64_t now_ms(const repl *r) { return clock_wall_ms() + r->cfg.clock_offset_ms; }

/* Formats one line for the user's log callback. */
__attribute__((format(printf, 3, 4))) static void rlog(const repl *r, int level, const char *fmt, ...)
{
    if (!r->cfg.log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->cfg.log(r->cfg.arg, level, line);
}

/* How much of origin this node holds: ours' entry, else where the store retired it. */
static uint64_t held_of(const repl *r, const store_vv *ours, const char *origin)
{
    uint64_t v = store_vv_get(ours, origin);
    return v ? v : store_retired_get(r->store, origin);
}

/* Adds to out the origins theirs advertises that this node has retired (not in ours),
 * with where each was retired: for a peer that still advertises them (heartbeats, catch-up
 * requests, a snapshot's vector). Entries beyond out's room are left out. */
static void add_retired(const repl *r, const store_vv *theirs, const store_vv *ours, store_vv *out)
{
    for (int k = 0; k < theirs->n; k++) {
        const char *o = theirs->e[k].origin;
        if (store_vv_get(ours, o) || store_vv_get(out, o)) continue;
        uint64_t at = store_retired_get(r->store, o);
        if (at) (void)store_vv_set(out, o, at);
    }
}

/* ---------- origin and key files ---------- */

int repl_origin_read(const char *data_dir, const char *node_id, const store_vv *vv, char *origin, size_t cap)
{
    char path[REPL_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/origin", data_dir);
    char old[STORE_ORIGIN_MAX] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(old, sizeof old, f)) old[strcspn(old, "\r\n")] = 0;
        fclose(f);
    }
    size_t idlen = strlen(node_id);
    /* Keep the old origin only while the store still holds its updates. */
    if (old[0] && strncmp(old, node_id, idlen) == 0 && old[idlen] == '.' && store_vv_get(vv, old) > 0) {
        snprintf(origin, cap, "%s", old);
        return 1;
    }
    return 0;
}

int repl_origin_new(const char *node_id, char *origin, size_t cap)
{
    uint8_t rnd[4];
    if (kms_random_openssl(NULL, rnd, sizeof rnd) < 0) return KMS_ERANDOM;
    if (strlen(node_id) + 10 > STORE_ORIGIN_MAX - 1) return KMS_EINVAL;
    snprintf(origin, cap, "%s.%02x%02x%02x%02x", node_id, rnd[0], rnd[1], rnd[2], rnd[3]);
    return 0;
}

int repl_origin_save(const char *data_dir, const char *origin)
{
    char path[REPL_PATH_MAX + 16], tmp[REPL_PATH_MAX + 24];
    snprintf(path, sizeof path, "%s/origin", data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return KMS_EIO;
    fprintf(f, "%s\n", origin);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) { fclose(f); return KMS_EIO; }
    fclose(f);
    if (rename(tmp, path) != 0) return KMS_EIO;
    return 0;
}

int repl_origin_for(const char *data_dir, const char *node_id, const store_vv *vv,
                    char *origin, size_t cap)
{
    if (repl_origin_read(data_dir, node_id, vv, origin, cap)) return 0;
    int rc = repl_origin_new(node_id, origin, cap);
    return rc < 0 ? rc : repl_origin_save(data_dir, origin);
}

/* ---------- ZAP: admit only the peers' CURVE keys ---------- */

static void zap_reply(void *sock, const char *version, zmq_msg_t *reqid, const char *code,
                      const char *text, const char *user)
{
    zmq_send(sock, version, strlen(version), ZMQ_SNDMORE);
    zmq_send(sock, zmq_msg_data(reqid), zmq_msg_size(reqid), ZMQ_SNDMORE);
    zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

/* The handler's socket is bound by repl_new on the loop thread before any CURVE socket
 * exists (a failed bind stops the node); this thread only answers on it. */
static void *zap_main(void *arg)
{
    repl *r = arg;
    void *sock = r->zap;
    time_t last_log = 0;
    int suppressed = 0;
    for (;;) {
        zmq_msg_t part[7];
        int nparts = 0, more = 1;
        while (more && nparts < 7) {
            zmq_msg_init(&part[nparts]);
            int rc;
            while ((rc = zmq_msg_recv(&part[nparts], sock, 0)) < 0 && zmq_errno() == EINTR) {}
            if (rc < 0) {
                zmq_msg_close(&part[nparts]);
                for (int i = 0; i < nparts; i++) zmq_msg_close(&part[i]);
                zmq_close(sock); /* ETERM: the context is shutting down */
                return NULL;
            }
            more = zmq_msg_more(&part[nparts]);
            nparts++;
        }
        while (more) { /* more frames than ZAP has: drain them */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, sock, 0);
            more = zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
        bool ok = false;
        char address[64] = "?", mech[16] = "";
        char key_text[41] = "";
        if (nparts >= 6) {
            snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&part[3]), (char *)zmq_msg_data(&part[3]));
            snprintf(mech, sizeof mech, "%.*s", (int)zmq_msg_size(&part[5]), (char *)zmq_msg_data(&part[5]));
            if (!strcmp(mech, "CURVE") && nparts == 7 && zmq_msg_size(&part[6]) == 32) {
                zmq_z85_encode(key_text, zmq_msg_data(&part[6]), 32);
                for (int i = 0; i < r->n_allowed; i++)
                    if (memcmp(r->allowed_keys[i], zmq_msg_data(&part[6]), 32) == 0) ok = true;
            }
        }
        if (nparts >= 2)
            zap_reply(sock, "1.0", &part[1], ok ? "200" : "400", ok ? "OK" : "unknown key", ok ? key_text : "");
        if (!ok) {
            __atomic_add_fetch(&r->stats.refused_keys, 1, __ATOMIC_RELAXED);
            time_t t = time(NULL);
            if (t != last_log) {
                rlog(r, REPL_LOG_WARN, "replication: refused a connection from %s: %s key %s is not a peer's public key%s",
                          address, mech[0] ? mech : "no", key_text[0] ? key_text : "(none)",
                          suppressed ? " (and others suppressed)" : "");
                last_log = t;
                suppressed = 0;
            } else {
                suppressed++;
            }
        }
        for (int i = 0; i < nparts; i++) zmq_msg_close(&part[i]);
    }
}

/* ---------- sending ---------- */

static int send_frame(void *sock, const void *data, size_t len)
{
    int rc = zmq_send(sock, data, len, ZMQ_DONTWAIT);
    return rc < 0 ? KMS_EIO : 0;
}

static void publish(repl *r, const uint8_t *buf, int len)
{
    if (len <= 0) return;
    if (send_frame(r->pub, buf, (size_t)len) < 0)
        rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED, "replication: publish dropped: %s", zmq_strerror(zmq_errno()));
}

void repl_publish(repl *r, const store_update *u)
{
    if (!r) return;
    int len = repl_encode_update(u, r->buf, repl_sync_rep_max_len());
    publish(r, r->buf, len);
    r->stats.published++;
    r->last_update_ms = u->rec.last_seen_ms;
    if (store_vv_get(&r->pending, u->origin) < u->seq) store_vv_set(&r->pending, u->origin, u->seq);
    drain_all(r);
}

static void send_heartbeat(repl *r)
{
    repl_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    snprintf(hb.node, sizeof hb.node, "%s", r->cfg.node_id);
    hb.time_ms = now_ms(r);
    hb.last_update_ms = r->last_update_ms;
    store_get_vv(r->store, &hb.vv);
    snprintf(hb.origin, sizeof hb.origin, "%s", r->origin);
    for (int i = 0; i < r->n_peers; i++) {
        if (!r->peers[i].self) add_retired(r, &r->peers[i].vv, &hb.vv, &hb.retired);
        if (r->peers[i].owed && hb.n_owed < REPL_OWED_MAX)
            snprintf(hb.owed[hb.n_owed++], sizeof hb.owed[0], "%s", r->peers[i].cfg->id);
    }
    int len = repl_encode_heartbeat(&hb, r->buf, repl_sync_rep_max_len());
    publish(r, r->buf, len);
}

/* Sends a catch-up request to peer i. */
static void request_sync(repl *r, int i, bool snapshot, const uint8_t *cursor, uint8_t cursor_len)
{
    peer *p = &r->peers[i];
    repl_sync_req rq;
    memset(&rq, 0, sizeof rq);
    snprintf(rq.node, sizeof rq.node, "%s", r->cfg.node_id);
    rq.vv = r->pending;
    /* What we retired of what it still advertises: it must not send those again. */
    add_retired(r, &p->vv, &r->pending, &rq.vv);
    /* A store that lost what it held starts with a snapshot (repl_require_snapshot). */
    rq.snapshot = snapshot || (r->need_snapshot && !cursor_len);
    if (cursor_len) memcpy(rq.cursor, cursor, cursor_len);
    rq.cursor_len = cursor_len;
    rq.max = r->cfg.sync_batch;
    int len = repl_encode_sync_req(&rq, r->buf, repl_sync_rep_max_len());
    if (len < 0 || send_frame(p->dealer, r->buf, (size_t)len) < 0) {
        r->sync_peer = -1;
        return;
    }
    r->sync_peer = i;
    r->sync_probe = false;
    r->sync_sent_ms = now_ms(r);
    r->stats.sync_requests++;
}

static bool origin_was_refused(const repl *r, const char *origin)
{
    int n = r->n_origins_refused < ORIGINS_REFUSED_KEPT ? r->n_origins_refused : ORIGINS_REFUSED_KEPT;
    for (int i = 0; i < n; i++)
        if (!strcmp(r->origins_refused[i], origin)) return true;
    return false;
}

/* Does peer p hold updates we have neither applied nor queued? (Not counting origins this
 * node refused: it will not take them, so they are nothing to catch up on.) An origin this
 * node retired counts as held up to where it was retired; one the peer retired, and this
 * node holds less of, is updates this node lacks. */
static uint64_t behind(const repl *r, const peer *p, const store_vv *ours)
{
    uint64_t lag = 0;
    for (int k = 0; k < p->vv.n; k++) {
        uint64_t mine = held_of(r, ours, p->vv.e[k].origin);
        if (p->vv.e[k].seq > mine && !(mine == 0 && origin_was_refused(r, p->vv.e[k].origin)))
            lag += p->vv.e[k].seq - mine;
    }
    for (int k = 0; k < p->retired.n; k++) {
        uint64_t mine = store_vv_get(ours, p->retired.e[k].origin);
        if (mine && p->retired.e[k].seq > mine) lag += p->retired.e[k].seq - mine;
    }
    return lag;
}

/* The peer whose origins are named "<its id>.<8 hex digits>" like origin, or NULL. */
static peer *origin_owner(repl *r, const char *origin)
{
    const char *dot = strrchr(origin, '.');
    size_t idlen = dot ? (size_t)(dot - origin) : 0;
    for (int i = 0; dot && i < r->n_peers; i++)
        if (strlen(r->peers[i].cfg->id) == idlen && !strncmp(r->peers[i].cfg->id, origin, idlen)) return &r->peers[i];
    return NULL;
}

/* New origins: each enters every node's version vector for good (STORE_VV_MAX entries),
 * so whoever can send updates (a peer, or someone holding a stolen peer key) could fill it
 * and stop every node from storing the updates of an origin it has not seen yet. A new
 * origin is admitted only when it is named like an origin of a configured peer
 * ("<peer id>.<8 hex digits>") and that peer holds less than its share of the vector
 * (STORE_VV_MAX / peers): forged origins fill at most the share of the node they name.
 * Rebuilt nodes resume their origins (repl_resumable_origin), so a share is used up only
 * by a node that started empty while a peer was not heard, again and again. A refused
 * origin is counted and logged once (while remembered), and not asked for again. */
static bool origin_admitted(repl *r, const char *origin, const char *from)
{
    if (held_of(r, &r->pending, origin) > 0) return true; /* known (retired ones too) */
    if (origin_was_refused(r, origin)) return false;
    const char *why = NULL;
    char reason[160];
    const char *dot = strrchr(origin, '.');
    size_t idlen = dot ? (size_t)(dot - origin) : 0;
    bool hex = dot && strlen(dot + 1) == 8;
    for (int i = 1; hex && i <= 8; i++)
        hex = (dot[i] >= '0' && dot[i] <= '9') || (dot[i] >= 'a' && dot[i] <= 'f');
    const peer *owner = hex ? origin_owner(r, origin) : NULL;
    if (!hex) why = "not named like an origin (PEER.8HEXDIGITS)";
    else if (!owner) why = "names no peer of this cluster";
    if (!why) {
        int share = r->n_peers > 0 ? STORE_VV_MAX / r->n_peers : STORE_VV_MAX, held = 0;
        for (int k = 0; k < r->pending.n; k++)
            if (!strncmp(r->pending.e[k].origin, origin, idlen + 1)) held++;
        if (held >= share) {
            snprintf(reason, sizeof reason, "%s already has %d origins in the version vector, its share of %d",
                     owner->cfg->id, held, STORE_VV_MAX);
            why = reason;
        }
    }
    if (!why) return true;
    snprintf(r->origins_refused[r->n_origins_refused % ORIGINS_REFUSED_KEPT], STORE_ORIGIN_MAX, "%s", origin);
    r->n_origins_refused++;
    r->stats.origins_refused++;
    rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED,
         "replication: refused the updates of a new origin '%s' from %s: %s (counted in "
         "kmsha_replication_origins_refused_total)", origin, from, why);
    return false;
}

/* The live peer we are furthest behind, or -1; one whose last catch-up timed out only
 * when no other live peer has what we lack (its connection may be stalled). */
static int best_live_source(const repl *r, int64_t t)
{
    int best = -1;
    uint64_t best_lag = 0;
    bool best_timed_out = true;
    for (int i = 0; i < r->n_peers; i++) {
        const peer *p = &r->peers[i];
        if (p->self || !p->alive) continue;
        uint64_t lag = behind(r, p, &r->pending);
        if (!lag) continue;
        bool timed_out = p->sync_timed_out_ms && t - p->sync_timed_out_ms < 2 * SYNC_TIMEOUT_MS;
        if (best < 0 || (best_timed_out && !timed_out) || (timed_out == best_timed_out && lag > best_lag)) {
            best_lag = lag;
            best = i;
            best_timed_out = timed_out;
        }
    }
    return best;
}

/* A peer whose heartbeats do not arrive may still answer on its catch-up port (a
 * firewall or a partition that cuts only its publish port): we cannot see its version
 * vector, so every heartbeat interval we ask it anyway, with ours; it answers with what
 * we lack (usually nothing, one small reply). The DEALER is ZMQ_IMMEDIATE: a peer that
 * is really gone costs a failed send, nothing queued. Returns the peer to ask, or -1. */
static int silent_peer_to_probe(repl *r)
{
    double mono = clock_mono_ms();
    int pick = -1;
    for (int i = 0; i < r->n_peers; i++) {
        const peer *p = &r->peers[i];
        if (p->self || p->alive || mono - p->probed_mono_ms < (double)r->cfg.heartbeat_interval_ms) continue;
        if (pick < 0 || p->probed_mono_ms < r->peers[pick].probed_mono_ms) pick = i;
    }
    if (pick >= 0) r->peers[pick].probed_mono_ms = mono;
    return pick;
}

/* The live peer whose version vector holds the most updates (a store that lost what it
 * held takes its snapshot from there), or -1. */
static int fullest_live_peer(const repl *r)
{
    int best = -1;
    uint64_t most = 0;
    for (int i = 0; i < r->n_peers; i++) {
        const peer *p = &r->peers[i];
        if (p->self || !p->alive) continue;
        uint64_t sum = 0;
        for (int k = 0; k < p->vv.n; k++) sum += p->vv.e[k].seq;
        if (best < 0 || sum > most) { best = i; most = sum; }
    }
    return best;
}

static void maybe_sync(repl *r)
{
    int64_t t = now_ms(r);
    if (r->sync_peer >= 0) {
        /* A probe of a silent peer gives way to a live peer that has what we lack. */
        if (r->sync_probe && best_live_source(r, t) >= 0 && r->snapshot_pending_commits == 0 &&
            r->applies_outstanding <= APPLY_BACKLOG_MAX) {
            r->sync_peer = -1;
        } else {
            if (t - r->sync_sent_ms < SYNC_TIMEOUT_MS) return;
            if (!r->sync_probe)
                rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED, "replication: catch-up from %s timed out, trying again",
                     r->peers[r->sync_peer].cfg->id);
            r->peers[r->sync_peer].sync_timed_out_ms = t;
            r->sync_peer = -1;
            r->snapshot_active = false;
        }
    }
    if (r->snapshot_pending_commits > 0 || r->applies_outstanding > APPLY_BACKLOG_MAX) return;
    /* A peer that retired origins while it did not hear us owes us a snapshot: take it
     * from that peer first (it then stops saying so). */
    for (int i = 0; i < r->n_peers; i++)
        if (!r->peers[i].self && r->peers[i].alive && r->peers[i].owes_us) {
            request_sync(r, i, true, NULL, 0);
            return;
        }
    int best = best_live_source(r, t);
    if (best < 0 && r->need_snapshot) best = fullest_live_peer(r);
    if (best >= 0) {
        request_sync(r, best, false, NULL, 0);
        return;
    }
    int silent = silent_peer_to_probe(r);
    if (silent >= 0) {
        request_sync(r, silent, false, NULL, 0);
        if (r->sync_peer == silent) r->sync_probe = true;
    }
}

/* ---------- applying ---------- */

/* A remote update's commit returned; live: it came as a live update (not from catch-up);
 * count: its record was merged (not refused as dated in the future). */
static void apply_finished(repl *r, int status, const store_update *u, bool live, bool count)
{
    r->applies_outstanding--;
    /* Half the backlog committed: ask for the next batch now rather than on a timer. */
    if (r->applies_outstanding == APPLY_BACKLOG_MAX / 2 && r->sync_peer < 0) maybe_sync(r);
    if (status == 0) {
        r->stats.applied++;
        /* Counted once stored here, as local clients are (a store that refuses the write
         * must not count it). */
        if (count && r->cfg.applied) r->cfg.applied(r->cfg.arg, &u->rec, live);
    } else if (status == 1) {
        r->stats.duplicates++;
    } else {
        /* A gap (or a failure): forget what we thought was queued, ask again. */
        r->stats.gaps++;
        store_get_vv(r->store, &r->pending);
        if (status < 0)
            rlog(r, REPL_LOG_ERROR | REPL_LOG_LIMITED, "replication: update %s/%" PRIu64 " not applied: %s",
                 u ? u->origin : "?", u ? u->seq : 0, store_strerror(status));
    }
}

static void apply_done_live(void *arg, int status, const store_update *u) { apply_finished(arg, status, u, true, true); }
static void apply_done_sync(void *arg, int status, const store_update *u) { apply_finished(arg, status, u, false, true); }
static void apply_done_refused(void *arg, int status, const store_update *u) { apply_finished(arg, status, u, false, false); }

/* The one bound on a record's date, for every record that arrives from a peer (live,
 * catch-up or snapshot): last_seen may be at most future_tolerance_ms after this node's
 * clock. A node whose clock ran ahead would otherwise win every merge with its records
 * and keep them counted long after they expired everywhere else. True when rec is
 * refused; logs once per origin (what), counts every one. */
static bool refuse_future(repl *r, const store_record *rec, const char *what)
{
    if (!r->cfg.future_tolerance_ms || r->clock_suspect) return false;
    int64_t now = now_ms(r);
    if (!store_record_in_future(rec, now, r->cfg.future_tolerance_ms)) return false;
    r->stats.future_refused++;
    for (int i = 0; i < r->n_future_logged; i++)
        if (!strcmp(r->future_logged[i], what)) return true;
    if (r->n_future_logged < (int)(sizeof r->future_logged / sizeof r->future_logged[0]))
        snprintf(r->future_logged[r->n_future_logged++], STORE_ORIGIN_MAX, "%s", what);
    rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED,
         "replication: refused records of %s dated in the future (last seen %.1f h after this node's "
         "clock, more than the tolerance of %.1f h); counted in kmsha_replication_future_refused_total, "
         "logged once per origin", what, (double)(rec->last_seen_ms - now) / 3.6e6,
         (double)r->cfg.future_tolerance_ms / 3.6e6);
    return true;
}

/* Queues one remote update for commit; the user counts it once it is stored here
 * (apply_finished). */
static void apply_update(repl *r, const store_update *u, bool live, const char *from)
{
    uint64_t have = held_of(r, &r->pending, u->origin);
    if (u->seq <= have) { r->stats.duplicates++; return; }
    if (u->seq > have + 1) { r->stats.gaps++; return; }
    if (have == 0 && !origin_admitted(r, u->origin, from)) return;
    /* A refused record's update is still logged and advances the vector (the origin's
     * later updates depend on it); only the record stays out. */
    bool refused = refuse_future(r, &u->rec, u->origin);
    int rc = refused ? store_apply_refused_async(r->store, u, apply_done_refused, r)
                     : store_apply_async(r->store, u, live ? apply_done_live : apply_done_sync, r);
    if (rc < 0) return;
    r->applies_outstanding++;
    store_vv_set(&r->pending, u->origin, u->seq);
}

static void snapshot_done(void *arg, int status, const store_update *u)
{
    (void)u;
    repl *r = arg;
    r->snapshot_pending_commits--;
    /* Pages complete in the order they were queued: this is the oldest one. */
    snap_page *pg = r->snap_pages;
    if (pg) {
        r->snap_pages = pg->next;
        if (!r->snap_pages) r->snap_pages_tail = NULL;
        for (size_t k = 0; status == 0 && r->cfg.applied && k < pg->n; k++)
            r->cfg.applied(r->cfg.arg, &pg->recs[k], false);
        free(pg);
    }
    if (status < 0) {
        rlog(r, REPL_LOG_ERROR, "replication: snapshot page not committed: %s", store_strerror(status));
        r->snapshot_active = false;
    }
    store_get_vv(r->store, &r->pending);
}

/* ---------- retiring origins ---------- */

static void retire_done(void *arg, int status)
{
    repl *r = arg;
    r->retiring = false;
    if (status < 0) {
        rlog(r, REPL_LOG_ERROR | REPL_LOG_LIMITED, "replication: update origin %s not retired: %s", r->retiring_origin,
             store_strerror(status));
        return;
    }
    if (status != 0) return; /* it moved on meanwhile: judged again at the next heartbeat */
    r->stats.origins_retired++;
    if (store_vv_get(&r->pending, r->retiring_origin) == r->retiring_seq) store_vv_remove(&r->pending, r->retiring_origin);
    if (r->retiring_successor[0])
        rlog(r, REPL_LOG_INFO, "replication: retired update origin %s at update %" PRIu64 ": %.*s now numbers its "
             "updates as %s and every peer holds all of it", r->retiring_origin, r->retiring_seq,
             (int)(strrchr(r->retiring_successor, '.') - r->retiring_successor), r->retiring_successor,
             r->retiring_successor);
    else
        rlog(r, REPL_LOG_INFO, "replication: retired update origin %s at update %" PRIu64 ": it names no peer of this "
             "cluster and every peer holds all of it", r->retiring_origin, r->retiring_seq);
}

/* Retires one origin of the committed version vector when it is superseded and every
 * configured peer is alive and holds exactly as much of it as this node (see the notes at
 * the top). Not while this node's own origin is unchosen or a snapshot is being taken. */
static void maybe_retire(repl *r)
{
    if (r->retiring || !r->origin[0] || r->need_snapshot || r->snapshot_active || r->snapshot_pending_commits)
        return;
    double mono = clock_mono_ms();
    int unheard_long = 0;
    for (int i = 0; i < r->n_peers; i++) {
        const peer *p = &r->peers[i];
        if (p->self || p->alive) continue;
        if (!r->cfg.retire_unheard_after_ms || mono - p->heard_mono_ms < (double)r->cfg.retire_unheard_after_ms)
            return; /* a peer just gone: wait for it */
        unheard_long++;
    }
    store_vv committed;
    store_get_vv(r->store, &committed);
    for (int k = 0; k < committed.n; k++) {
        const store_vv_entry *e = &committed.e[k];
        if (e->seq == 0 || !strcmp(e->origin, r->origin) || store_vv_get(&r->pending, e->origin) != e->seq) continue;
        const peer *owner = origin_owner(r, e->origin);
        const char *successor = owner && owner->self ? r->origin : owner ? owner->now_origin : "";
        if (owner && !owner->alive) continue; /* what it numbers its updates as now is not known */
        if (owner && (!successor[0] || !strcmp(successor, e->origin))) continue; /* still its own, or not told */
        bool everywhere = true;
        for (int i = 0; everywhere && i < r->n_peers; i++) {
            const peer *p = &r->peers[i];
            if (p->self || !p->alive) continue; /* unheard long: owed a snapshot (below) */
            uint64_t theirs = store_vv_get(&p->vv, e->origin);
            if (!theirs) theirs = store_vv_get(&p->retired, e->origin);
            everywhere = theirs == e->seq;
        }
        if (!everywhere) continue;
        /* The peers it goes on without are owed a snapshot, durably, before it goes. */
        for (int i = 0; unheard_long && i < r->n_peers; i++) {
            peer *p = &r->peers[i];
            if (p->self || p->alive || p->owed) continue;
            int orc = store_set_owed_async(r->store, p->cfg->id, true, NULL, NULL);
            if (orc < 0) return;
            p->owed = true;
            rlog(r, REPL_LOG_WARN, "replication: retiring update origins without %s (not heard for %.0f s, more than "
                 "retire_unheard_after_s): it takes a snapshot from this node when it is heard again", p->cfg->id,
                 (mono - p->heard_mono_ms) / 1000);
        }
        snprintf(r->retiring_origin, sizeof r->retiring_origin, "%s", e->origin);
        snprintf(r->retiring_successor, sizeof r->retiring_successor, "%s", successor);
        r->retiring_seq = e->seq;
        if (store_retire_async(r->store, e->origin, e->seq, retire_done, r) == 0) r->retiring = true;
        return;
    }
}

/* ---------- receiving ---------- */

static const char *peer_address(zmq_msg_t *m)
{
    const char *a = zmq_msg_gets(m, "Peer-Address");
    return a ? a : "?";
}

static peer *find_peer(repl *r, const char *id)
{
    for (int i = 0; i < r->n_peers; i++)
        if (!strcmp(r->peers[i].cfg->id, id)) return &r->peers[i];
    return NULL;
}

static peer *peer_by_key(repl *r, const char *key_z85)
{
    if (!key_z85) return NULL;
    for (int i = 0; i < r->n_peers; i++)
        if (!strcmp(r->peers[i].cfg->public_key, key_z85)) return &r->peers[i];
    return NULL;
}

static void malformed(repl *r, peer *p, zmq_msg_t *m, const char *what, int rc)
{
    r->stats.malformed++;
    if (p) p->malformed++;
    rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED, "replication: dropped a malformed %s from %s: %s", what, peer_address(m), kms_strerror(rc));
}

static void on_heartbeat(repl *r, zmq_msg_t *m)
{
    repl_heartbeat hb;
    int rc = repl_decode_heartbeat(zmq_msg_data(m), zmq_msg_size(m), &hb);
    if (rc < 0) { malformed(r, NULL, m, "heartbeat", rc); return; }
    peer *p = find_peer(r, hb.node);
    if (!p || p->self) {
        rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED,
             "replication: heartbeat from %s claims to be '%s', not another peer of this cluster", peer_address(m), hb.node);
        return;
    }
    int64_t t = now_ms(r);
    if (!p->alive) rlog(r, REPL_LOG_INFO, "replication: peer %s is alive", p->cfg->id);
    p->alive = true;
    p->probe_logged = false;
    p->ever_heard = true;
    p->last_heard_ms = t;
    p->heard_mono_ms = clock_mono_ms();
    /* Its clock against ours (the heartbeat's transit, milliseconds, is far below any
     * tolerance that matters here). */
    p->clock_offset_ms = hb.time_ms - t;
    p->vv = hb.vv;
    p->retired = hb.retired;
    snprintf(p->now_origin, sizeof p->now_origin, "%s", hb.origin);
    bool owes = false;
    for (int k = 0; k < hb.n_owed; k++)
        if (!strcmp(hb.owed[k], r->cfg.node_id)) owes = true;
    if (owes && !p->owes_us)
        rlog(r, REPL_LOG_WARN, "replication: %s retired update origins while it did not hear this node: taking a "
             "snapshot from it", p->cfg->id);
    p->owes_us = owes;
    store_vv committed;
    store_get_vv(r->store, &committed);
    if (behind(r, p, &committed) > 0) {
        if (!p->behind_since_ms) p->behind_since_ms = t;
    } else {
        p->behind_since_ms = 0;
    }
    maybe_sync(r);
}

static void on_sub_message(repl *r, zmq_msg_t *m)
{
    int type = repl_peek_type(zmq_msg_data(m), zmq_msg_size(m));
    if (type == REPL_MSG_HEARTBEAT) { on_heartbeat(r, m); return; }
    if (type != REPL_MSG_UPDATE) { malformed(r, NULL, m, "message on the subscription", type < 0 ? type : KMS_EPDU); return; }
    store_update *u = &r->batch[0];
    int rc = repl_decode_update(zmq_msg_data(m), zmq_msg_size(m), u);
    if (rc < 0) { malformed(r, NULL, m, "update", rc); return; }
    peer *owner = origin_owner(r, u->origin);
    if (owner) owner->updates_received++;
    uint64_t have = held_of(r, &r->pending, u->origin);
    const peer *sender = peer_by_key(r, zmq_msg_gets(m, "User-Id"));
    if (have == 0 && !origin_admitted(r, u->origin, sender ? sender->cfg->id : peer_address(m))) return;
    if (u->seq > have + 1) {
        /* We missed some: the next heartbeat or this catch-up fetches them in order. */
        r->stats.gaps++;
        maybe_sync(r);
        return;
    }
    apply_update(r, u, true, sender ? sender->cfg->id : peer_address(m));
}

/* Adds to rp (up to max) the logged updates of origin after theirs, up to ours. Returns 0,
 * KMS_ENOTFOUND (the log no longer reaches back: a snapshot is needed) or a store error. */
static int add_from_log(repl *r, repl_sync_rep *rp, uint32_t max, const char *origin, uint64_t theirs, uint64_t ours)
{
    if (ours <= theirs) return 0;
    int got = store_log_read(r->store, origin, theirs + 1, r->batch + rp->n, max - rp->n);
    if (got < 0) return got;
    rp->n += (uint32_t)got;
    if (theirs + (uint64_t)got < ours) rp->more = 1;
    return 0;
}

/* A peer asks for what it lacks: log updates where our log reaches back, else a snapshot. */
static void on_sync_request(repl *r, zmq_msg_t *identity, zmq_msg_t *m)
{
    /* Who asks is the peer whose key the handshake proved (ZAP's User-Id), not the
     * node name in the request. */
    peer *p = peer_by_key(r, zmq_msg_gets(m, "User-Id"));
    if (!p || p->self) {
        malformed(r, NULL, m, "catch-up request from an unknown key", KMS_EPROTO);
        return;
    }
    repl_sync_req rq;
    int rc = repl_decode_sync_req(zmq_msg_data(m), zmq_msg_size(m), &rq);
    if (rc < 0) { malformed(r, p, m, "catch-up request", rc); return; }
    repl_sync_rep rp;
    memset(&rp, 0, sizeof rp);
    snprintf(rp.node, sizeof rp.node, "%s", r->cfg.node_id);
    rp.updates = r->batch;
    uint32_t max = rq.max ? rq.max : r->cfg.sync_batch;
    if (max > REPL_BATCH_MAX) max = REPL_BATCH_MAX;
    bool snapshot = rq.snapshot;
    if (!snapshot) {
        store_vv ours;
        store_get_vv(r->store, &ours);
        rp.mode = REPL_SYNC_LOG;
        int lrc = 0;
        for (int k = 0; k < ours.n && rp.n < max && !lrc; k++)
            lrc = add_from_log(r, &rp, max, ours.e[k].origin, store_vv_get(&rq.vv, ours.e[k].origin), ours.e[k].seq);
        /* Origins we retired that it holds less of (a store restored from a backup). */
        for (int k = 0; k < rq.vv.n && rp.n < max && !lrc; k++)
            if (!store_vv_get(&ours, rq.vv.e[k].origin))
                lrc = add_from_log(r, &rp, max, rq.vv.e[k].origin, rq.vv.e[k].seq,
                                   store_retired_get(r->store, rq.vv.e[k].origin));
        if (lrc == KMS_ENOTFOUND) snapshot = true;
        else if (lrc < 0) { rlog(r, REPL_LOG_ERROR, "replication: reading the update log failed: %s", store_strerror(lrc)); return; }
        if (rp.n >= max) rp.more = 1;
    }
    if (snapshot) {
        /* The log does not reach back far enough (or a snapshot is under way): a page of
         * the whole store, with the version vector it covers. */
        rp.mode = REPL_SYNC_SNAPSHOT;
        rp.n = 0;
        rp.more = 0;
        uint8_t cursor[STORE_KEY_LEN];
        size_t clen = rq.snapshot ? rq.cursor_len : 0;
        if (clen) memcpy(cursor, rq.cursor, clen);
        bool first = clen == 0;
        int got = store_snapshot_read(r->store, cursor, &clen, r->records, max, first ? &rp.vv : NULL);
        if (got < 0) { rlog(r, REPL_LOG_ERROR, "replication: reading a snapshot page failed: %s", store_strerror(got)); return; }
        /* With the origins we retired that a peer still advertises: the requester adopts
         * them as held, and retires them in its turn. */
        for (int j = 0; first && j < r->n_peers; j++)
            if (!r->peers[j].self) add_retired(r, &r->peers[j].vv, &rp.vv, &rp.vv);
        for (int i = 0; i < got; i++) r->batch[i].rec = r->records[i];
        rp.n = (uint32_t)got;
        rp.done = (uint32_t)got < max;
        memcpy(rp.cursor, cursor, clen);
        rp.cursor_len = (uint8_t)clen;
        if (rp.done && p->owed) {
            p->owed = false;
            int orc = store_set_owed_async(r->store, p->cfg->id, false, NULL, NULL);
            rlog(r, orc < 0 ? REPL_LOG_ERROR : REPL_LOG_INFO, "replication: sent %s the snapshot it was owed%s%s",
                 p->cfg->id, orc < 0 ? "; clearing the flag failed: " : "", orc < 0 ? store_strerror(orc) : "");
        }
        if (first) {
            p->snapshots_served++;
            rlog(r, REPL_LOG_INFO, "replication: %s needs a snapshot (%s); sending one", p->cfg->id,
                 rq.snapshot ? "it lost its store, or asked for one" : "its gap is older than our log");
        }
    }
    uint8_t *out = r->buf; /* the engine's encode buffer: free between sends */
    int len = repl_encode_sync_rep(&rp, out, repl_sync_rep_max_len());
    if (len > 0) {
        /* ROUTER_MANDATORY: EAGAIN when this connection's queue is full (the peer does not
         * read what it asked for): the reply is dropped, the peer asks again later. */
        if (zmq_send(r->router, zmq_msg_data(identity), zmq_msg_size(identity), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(r->router, out, (size_t)len, ZMQ_DONTWAIT) < 0) {
            r->stats.sync_dropped++;
            rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED, "replication: catch-up reply to %s dropped: %s", p->cfg->id,
                 zmq_strerror(zmq_errno()));
            return;
        }
        r->stats.sync_replies++;
        p->syncs_served++;
    }
}

static void on_sync_reply(repl *r, int i, zmq_msg_t *m)
{
    repl_sync_rep rp;
    memset(&rp, 0, sizeof rp);
    rp.updates = r->batch;
    int rc = repl_decode_sync_rep(zmq_msg_data(m), zmq_msg_size(m), &rp);
    if (rc < 0) { malformed(r, &r->peers[i], m, "catch-up reply", rc); r->sync_peer = -1; return; }
    if (r->sync_peer != i) return; /* late answer to a request we gave up on */
    r->sync_peer = -1;
    peer *src = &r->peers[i];
    if (!src->alive && (rp.n > 0 || rp.mode == REPL_SYNC_SNAPSHOT) && !src->probe_logged) {
        src->probe_logged = true;
        rlog(r, REPL_LOG_WARN, "replication: peer %s is not heard on its publish port (%s), but its catch-up port "
             "answers: catching up from it", src->cfg->id, src->pub_ep);
    }
    if (rp.mode == REPL_SYNC_LOG) {
        for (uint32_t k = 0; k < rp.n; k++) apply_update(r, &rp.updates[k], false, src->cfg->id);
        if (rp.n >= 64) r->trim_after_catchup = true;
        /* More to come: ask at once while the store keeps up, else the safety timer asks
         * when the backlog has drained (maybe_sync). */
        if (rp.more && r->applies_outstanding <= APPLY_BACKLOG_MAX) request_sync(r, i, false, NULL, 0);
        return;
    }
    /* Snapshot page. */
    if (!r->snapshot_active) {
        r->snapshot_active = true;
        /* The vector to adopt at its end: only origins this node admits. */
        r->snapshot_vv.n = 0;
        for (int k = 0; k < rp.vv.n; k++)
            if (origin_admitted(r, rp.vv.e[k].origin, src->cfg->id)) r->snapshot_vv.e[r->snapshot_vv.n++] = rp.vv.e[k];
        rlog(r, REPL_LOG_INFO, "replication: receiving a snapshot from %s", r->peers[i].cfg->id);
    }
    /* The page's records are counted once committed (snapshot_done). */
    snap_page *pg = malloc(sizeof *pg + rp.n * sizeof pg->recs[0]);
    if (!pg) {
        rlog(r, REPL_LOG_ERROR, "replication: snapshot page not queued: out of memory");
        r->snapshot_active = false;
        return;
    }
    pg->next = NULL;
    pg->n = 0;
    char what[96];
    snprintf(what, sizeof what, "the snapshot from %s", r->peers[i].cfg->id);
    for (uint32_t k = 0; k < rp.n; k++)
        if (!refuse_future(r, &rp.updates[k].rec, what)) {
            r->records[pg->n] = rp.updates[k].rec;
            pg->recs[pg->n++] = rp.updates[k].rec;
        }
    r->stats.snapshot_records += pg->n;
    int prc = store_apply_snapshot_async(r->store, r->records, pg->n, rp.done ? &r->snapshot_vv : NULL,
                                         snapshot_done, r);
    if (prc < 0) {
        rlog(r, REPL_LOG_ERROR, "replication: snapshot page not queued: %s", store_strerror(prc));
        r->snapshot_active = false;
        free(pg);
        return;
    }
    if (r->snap_pages_tail) r->snap_pages_tail->next = pg;
    else r->snap_pages = pg;
    r->snap_pages_tail = pg;
    r->snapshot_pending_commits++;
    r->trim_after_catchup = true;
    if (rp.done) {
        rlog(r, REPL_LOG_INFO, "replication: snapshot from %s complete (%" PRIu64 " records)", r->peers[i].cfg->id,
                 r->stats.snapshot_records);
        r->snapshot_active = false;
        r->need_snapshot = false;
        src->owes_us = false; /* until its next heartbeat says otherwise */
        for (int k = 0; k < r->snapshot_vv.n; k++)
            if (store_vv_get(&r->pending, r->snapshot_vv.e[k].origin) < r->snapshot_vv.e[k].seq)
                store_vv_set(&r->pending, r->snapshot_vv.e[k].origin, r->snapshot_vv.e[k].seq);
    } else {
        request_sync(r, i, true, rp.cursor, rp.cursor_len);
    }
}

/* Receives everything queued on sock; returns how many messages were handled. */
static int drain_socket(repl *r, void *sock, int kind, int peer_index)
{
    int handled = 0;
    for (;;) {
        int events = 0;
        size_t sz = sizeof events;
        if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN)) break;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) { zmq_msg_close(&m); break; }
        handled++;
        if (kind == ZMQ_ROUTER) {
            /* identity frame, then the request */
            zmq_msg_t body;
            zmq_msg_init(&body);
            if (zmq_msg_more(&m) && zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) >= 0) {
                while (zmq_msg_more(&body)) { /* extra frames: drop the whole message */
                    zmq_msg_t extra;
                    zmq_msg_init(&extra);
                    zmq_msg_recv(&extra, sock, ZMQ_DONTWAIT);
                    int more = zmq_msg_more(&extra);
                    zmq_msg_close(&extra);
                    if (!more) break;
                }
                int type = repl_peek_type(zmq_msg_data(&body), zmq_msg_size(&body));
                if (type == REPL_MSG_SYNC_REQ) on_sync_request(r, &m, &body);
                else malformed(r, NULL, &body, "message on the catch-up socket", type < 0 ? type : KMS_EPDU);
            }
            zmq_msg_close(&body);
        } else {
            if (zmq_msg_more(&m)) {
                malformed(r, NULL, &m, "multi-part message", KMS_EPROTO);
                int more = 1;
                while (more) {
                    zmq_msg_t extra;
                    zmq_msg_init(&extra);
                    if (zmq_msg_recv(&extra, sock, ZMQ_DONTWAIT) < 0) { zmq_msg_close(&extra); break; }
                    more = zmq_msg_more(&extra);
                    zmq_msg_close(&extra);
                }
            } else if (kind == ZMQ_SUB) {
                on_sub_message(r, &m);
            } else {
                int type = repl_peek_type(zmq_msg_data(&m), zmq_msg_size(&m));
                if (type == REPL_MSG_SYNC_REP) on_sync_reply(r, peer_index, &m);
                else malformed(r, &r->peers[peer_index], &m, "message on a catch-up reply", type < 0 ? type : KMS_EPDU);
            }
        }
        zmq_msg_close(&m);
        if (handled >= 4096) break; /* let the KMS path breathe; the safety timer resumes */
    }
    return handled;
}

static void drain_all(repl *r)
{
    int rounds = 0, handled;
    do {
        handled = drain_socket(r, r->sub, ZMQ_SUB, -1);
        handled += drain_socket(r, r->router, ZMQ_ROUTER, -1);
        for (int i = 0; i < r->n_peers; i++)
            if (r->peers[i].dealer) handled += drain_socket(r, r->peers[i].dealer, ZMQ_DEALER, i);
    } while (handled && ++rounds < 8);
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_all(arg);
}

static void on_safety(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    repl *r = arg;
    drain_all(r);
    maybe_sync(r);
}

/* libzmq gives up a connection for good when its handshake fails on a protocol error (a
 * process without CURVE, or speaking something else, bound on a stopped peer's port):
 * the peer would stay unheard after it came back. A monitor on the SUB reports failed
 * handshakes; both connections to that peer are then dialled again at the next heartbeat
 * tick (with that peer's server key set again on the SUB). */
#define MONITOR_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | \
                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

static void drain_monitor(repl *r)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, r->monitor, ZMQ_DONTWAIT) < 0) { zmq_msg_close(&ev); return; }
        zmq_msg_init(&addr);
        bool two = zmq_msg_more(&ev) && zmq_msg_recv(&addr, r->monitor, ZMQ_DONTWAIT) >= 0;
        if (two && zmq_msg_size(&ev) >= 2) {
            char ep[300];
            snprintf(ep, sizeof ep, "%.*s", (int)zmq_msg_size(&addr), (const char *)zmq_msg_data(&addr));
            for (int i = 0; i < r->n_peers; i++)
                if (!strcmp(ep, r->peers[i].pub_ep) || !strcmp(ep, r->peers[i].router_ep)) r->peers[i].redial = true;
        }
        zmq_msg_close(&addr);
        zmq_msg_close(&ev);
    }
}

static void redial_failed_peers(repl *r)
{
    drain_monitor(r);
    for (int i = 0; i < r->n_peers; i++) {
        peer *p = &r->peers[i];
        if (p->self || !p->redial) continue;
        p->redial = false;
        zmq_disconnect(r->sub, p->pub_ep); /* ENOENT when libzmq dropped it already */
        zmq_disconnect(p->dealer, p->router_ep);
        if ((set_curve_client(r->sub, p->cfg->public_key, r->pub_key, r->sec_key) != 0 ||
             zmq_connect(r->sub, p->pub_ep) != 0 || zmq_connect(p->dealer, p->router_ep) != 0))
            rlog(r, REPL_LOG_WARN | REPL_LOG_LIMITED, "replication: cannot dial peer %s again: %s", p->cfg->id,
                 zmq_strerror(zmq_errno()));
    }
}

static void on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    repl *r = arg;
    double mono = clock_mono_ms();
    for (int i = 0; i < r->n_peers; i++) {
        peer *p = &r->peers[i];
        if (p->self) continue;
        /* Monotonic: a wall clock stepped by weeks must neither kill every peer nor keep a
         * dead one alive. */
        if (p->alive && mono - p->heard_mono_ms > (double)r->cfg.dead_after_ms) {
            p->alive = false;
            rlog(r, REPL_LOG_WARN, "replication: peer %s is dead (no heartbeat for %.0f ms)", p->cfg->id, mono - p->heard_mono_ms);
            if (r->sync_peer == i) { r->sync_peer = -1; r->snapshot_active = false; }
        }
    }
    redial_failed_peers(r);
    send_heartbeat(r);
    drain_all(r);
    maybe_sync(r);
    maybe_retire(r);
    if (r->trim_after_catchup && r->sync_peer < 0 && r->applies_outstanding == 0 && r->snapshot_pending_commits == 0) {
        malloc_trim(0); /* catch-up buffers are freed by now; hand their pages back */
        r->trim_after_catchup = false;
    }
}

/* ---------- set-up ---------- */

static int watch(repl *r, void *sock, struct event **ev)
{
    int fd;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) != 0) return -1;
    *ev = event_new(r->base, fd, EV_READ | EV_PERSIST, on_socket_event, r);
    return *ev && event_add(*ev, NULL) == 0 ? 0 : -1;
}

static void endpoint(const repl_peer_config *a, int port_delta, char *out, size_t cap)
{
    bool v6 = strchr(a->host, ':') != NULL;
    snprintf(out, cap, v6 ? "tcp://[%s]:%u" : "tcp://%s:%u", a->host, a->port + port_delta);
}

/* Liveness of every replication connection, derived from the cluster's heartbeat settings,
 * so a connection that stalls (a blackhole, a dead peer host, a NAT that forgot it) is
 * dropped and replaced within about dead_after_ms instead of waiting out TCP's own
 * retransmission backoff (minutes: after a 120 s blackhole replication stayed down for
 * another 83 s). ZMTP heartbeats: PING every heartbeat interval, drop the connection when
 * nothing arrives for dead_after_ms, and ask the other side to do the same (TTL). TCP: the
 * user timeout drops a connection whose sent data stays unacknowledged for dead_after_ms;
 * keepalive probes an idle one; a connect attempt gives up after dead_after_ms / 2 (a SYN
 * lost in a blackhole would otherwise be retried with a backoff of up to a minute).
 * zmtp: whether to use ZMTP heartbeats. Not on the catch-up ROUTER: libzmq 4.3.4 aborts
 * the process (assertion "!_io_error", stream_engine_base.cpp:331; zeromq/libzmq issues
 * 4364 and 3937) when a heartbeat times out on a connection whose input is stopped at its
 * receive high-water mark, which a peer that floods requests without reading replies
 * reaches at once (ROUTER_RCVHWM). There, TCP's user timeout and keepalive drop a dead
 * connection, and the requesting DEALER's own heartbeats replace a stalled one.
 * Returns 0 or -1 (zmq_errno). */
static int set_liveness(void *sock, const repl_config *cfg, bool zmtp)
{
    int ivl = (int)cfg->heartbeat_interval_ms, dead = (int)cfg->dead_after_ms;
    int ttl = dead > 6553500 ? 6553500 : dead; /* ZMTP carries it in deciseconds (16 bits) */
    int idle_s = dead / 1000 > 0 ? dead / 1000 : 1, intvl_s = ivl / 1000 > 0 ? ivl / 1000 : 1, cnt = 3;
    int one = 1, connect_ms = dead / 2 > 500 ? dead / 2 : 500;
    struct { int opt; const int *v; } opts[] = {
        {ZMQ_HEARTBEAT_IVL, &ivl},      {ZMQ_HEARTBEAT_TIMEOUT, &dead}, {ZMQ_HEARTBEAT_TTL, &ttl},
        {ZMQ_TCP_KEEPALIVE, &one},      {ZMQ_TCP_KEEPALIVE_IDLE, &idle_s},
        {ZMQ_TCP_KEEPALIVE_INTVL, &intvl_s}, {ZMQ_TCP_KEEPALIVE_CNT, &cnt},
        {ZMQ_TCP_MAXRT, &dead},         {ZMQ_CONNECT_TIMEOUT, &connect_ms},
    };
    for (size_t i = zmtp ? 0 : 3; i < sizeof opts / sizeof opts[0]; i++) /* the first three are ZMTP's */
        if (zmq_setsockopt(sock, opts[i].opt, opts[i].v, sizeof(int)) != 0) return -1;
    return 0;
}

static int set_curve_client(void *sock, const char *server_key, const char *pub, const char *sec)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, 40) != 0) return -1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) != 0) return -1;
    return zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40);
}

static int set_curve_server(void *sock, const char *sec)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0) return -1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40) != 0) return -1;
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "kmsha", 5) != 0) return -1;
    /* Without it libzmq admits any key when the handler cannot be reached. */
    return zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one);
}

static const repl_peer_config *find_peer_config(const repl_config *cfg, const char *id)
{
    for (int i = 0; i < cfg->n_peers; i++)
        if (!strcmp(cfg->peers[i].id, id)) return &cfg->peers[i];
    return NULL;
}

repl *repl_new(struct event_base *base, store *records, const repl_config *config, const char *origin,
               char *err, size_t errlen)
{
    err[0] = 0;
    if (config->n_peers == 0) return NULL;
    if (config->n_peers > REPL_MAX_PEERS || !find_peer_config(config, config->node_id)) {
        snprintf(err, errlen, "replication: node %s is not one of the %d peers", config->node_id, config->n_peers);
        return NULL;
    }
    repl *r = calloc(1, sizeof *r);
    if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
    r->base = base;
    r->store = records;
    r->cfg = *config;
    const repl_config *cfg = &r->cfg;
    r->sync_peer = -1;
    r->self_index = -1;
    snprintf(r->origin, sizeof r->origin, "%s", origin);
    r->buf = malloc(repl_sync_rep_max_len());
    r->batch = calloc(REPL_BATCH_MAX, sizeof *r->batch);
    r->records = calloc(REPL_BATCH_MAX, sizeof *r->records);
    r->ctx = zmq_ctx_new();
    if (!r->buf || !r->batch || !r->records || !r->ctx) { snprintf(err, errlen, "out of memory"); goto fail; }
    store_get_vv(r->store, &r->pending);

    /* Keys: replication is always CURVE, and only the peers' public keys are admitted. */
    char pub[41] = "", sec[41] = "";
    const repl_peer_config *me = find_peer_config(cfg, cfg->node_id);
    char path[REPL_PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s.key", cfg->key_dir, cfg->node_id);
    if (!me || !me->public_key[0] || !cfg->key_dir[0]) {
        snprintf(err, errlen, "replication needs CURVE keys: public_key in every [peer.ID] and this node's "
                 "secret key in [cluster] key_dir (kmsctl keygen)");
        goto fail;
    }
    if (repl_read_key_file(path, sec) != 0) {
        snprintf(err, errlen, "cannot read this node's CURVE secret key from %s (kmsctl keygen writes it)", path);
        goto fail;
    }
    char derived[41];
    if (zmq_curve_public(derived, sec) != 0 || strcmp(derived, me->public_key) != 0) {
        snprintf(err, errlen, "the secret key in %s does not match [peer.%s] public_key", path, cfg->node_id);
        goto fail;
    }
    snprintf(pub, sizeof pub, "%s", me->public_key);
    memcpy(r->pub_key, pub, sizeof r->pub_key);
    memcpy(r->sec_key, sec, sizeof r->sec_key);
    for (int i = 0; i < cfg->n_peers; i++) {
        if (!zmq_z85_decode(r->allowed_keys[r->n_allowed], cfg->peers[i].public_key)) {
            snprintf(err, errlen, "[peer.%s] public_key is not a CURVE key", cfg->peers[i].id);
            goto fail;
        }
        r->n_allowed++;
    }
    /* The ZAP handler is bound here, before any socket that needs it: libzmq looks for it
     * when a CURVE handshake starts, and with ZMQ_ZAP_ENFORCE_DOMAIN a missing handler
     * refuses the peer instead of admitting any key. */
    int zlinger = 0;
    r->zap = zmq_socket(r->ctx, ZMQ_REP);
    if (!r->zap || zmq_setsockopt(r->zap, ZMQ_LINGER, &zlinger, sizeof zlinger) != 0 ||
        zmq_bind(r->zap, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* Signals are the loop thread's business: the handler thread blocks them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&r->zap_thread, NULL, zap_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        snprintf(err, errlen, "cannot start the ZAP thread: %s", strerror(prc));
        goto fail;
    }
    r->zap_running = true;

    int linger = 0, one = 1;
    char ep[300];
    r->pub = zmq_socket(r->ctx, ZMQ_PUB);
    r->sub = zmq_socket(r->ctx, ZMQ_SUB);
    r->router = zmq_socket(r->ctx, ZMQ_ROUTER);
    if (!r->pub || !r->sub || !r->router) { snprintf(err, errlen, "cannot create ZeroMQ sockets"); goto fail; }
    /* Queue bounds, per connection (ZeroMQ's high-water marks count messages): live
     * updates wait for a slow subscriber up to PUB_HWM (then they are dropped and fetched
     * again by catch-up); a peer that does not read its catch-up replies has at most
     * ROUTER_SNDHWM of them queued (the next are dropped, see on_sync_request) and at most
     * ROUTER_RCVHWM requests waiting to be read. */
    void *socks[3] = {r->pub, r->sub, r->router};
    int sndhwm[3] = {PUB_HWM, PUB_HWM, ROUTER_SNDHWM}, rcvhwm[3] = {PUB_HWM, PUB_HWM, ROUTER_RCVHWM};
    for (int i = 0; i < 3; i++) {
        if (zmq_setsockopt(socks[i], ZMQ_IPV6, &one, sizeof one) != 0 || /* IPv6 peers; IPv4 ones still work */
            zmq_setsockopt(socks[i], ZMQ_LINGER, &linger, sizeof linger) != 0 ||
            zmq_setsockopt(socks[i], ZMQ_SNDHWM, &sndhwm[i], sizeof sndhwm[i]) != 0 ||
            zmq_setsockopt(socks[i], ZMQ_RCVHWM, &rcvhwm[i], sizeof rcvhwm[i]) != 0) {
            snprintf(err, errlen, "cannot configure ZeroMQ sockets: %s", zmq_strerror(zmq_errno()));
            goto fail;
        }
        if (set_liveness(socks[i], cfg, socks[i] != r->router) != 0) {
            snprintf(err, errlen, "cannot set the replication sockets' heartbeats and timeouts: %s",
                     zmq_strerror(zmq_errno()));
            goto fail;
        }
    }
    /* The SUB's failed handshakes (redial_failed_peers); a peer's DEALER is dialled again
     * with its SUB connection. */
    if (zmq_socket_monitor(r->sub, "inproc://kmsha-repl-monitor", MONITOR_EVENTS) != 0 ||
        !(r->monitor = zmq_socket(r->ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(r->monitor, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(r->monitor, "inproc://kmsha-repl-monitor") != 0) {
        snprintf(err, errlen, "cannot monitor the replication sockets: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int maxmsg = MAX_MSG * 2;
    int64_t maxmsg64 = maxmsg;
    zmq_setsockopt(r->sub, ZMQ_MAXMSGSIZE, &maxmsg64, sizeof maxmsg64);
    zmq_setsockopt(r->router, ZMQ_MAXMSGSIZE, &maxmsg64, sizeof maxmsg64);
    zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_setsockopt(r->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (set_curve_server(r->pub, sec) || set_curve_server(r->router, sec)) {
        snprintf(err, errlen, "cannot configure CURVE: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    endpoint(me, 0, ep, sizeof ep);
    if (zmq_bind(r->pub, ep) != 0) { snprintf(err, errlen, "replication: cannot bind %s: %s", ep, zmq_strerror(zmq_errno())); goto fail; }
    endpoint(me, 1, ep, sizeof ep);
    if (zmq_bind(r->router, ep) != 0) { snprintf(err, errlen, "replication: cannot bind %s: %s", ep, zmq_strerror(zmq_errno())); goto fail; }

    for (int i = 0; i < cfg->n_peers; i++) {
        peer *p = &r->peers[r->n_peers++];
        p->cfg = &cfg->peers[i];
        p->self = !strcmp(p->cfg->id, cfg->node_id);
        p->heard_mono_ms = clock_mono_ms(); /* not heard yet: silent since this start */
        if (p->self) { r->self_index = i; p->alive = true; continue; }
        p->owed = store_owed_get(r->store, p->cfg->id);
        if (set_curve_client(r->sub, p->cfg->public_key, pub, sec)) {
            snprintf(err, errlen, "cannot configure CURVE: %s", zmq_strerror(zmq_errno()));
            goto fail;
        }
        endpoint(p->cfg, 0, p->pub_ep, sizeof p->pub_ep);
        endpoint(p->cfg, 1, p->router_ep, sizeof p->router_ep);
        snprintf(ep, sizeof ep, "%s", p->pub_ep);
        if (zmq_connect(r->sub, ep) != 0) { snprintf(err, errlen, "replication: cannot connect to %s: %s", ep, zmq_strerror(zmq_errno())); goto fail; }
        p->dealer = zmq_socket(r->ctx, ZMQ_DEALER);
        if (!p->dealer) { snprintf(err, errlen, "cannot create ZeroMQ sockets"); goto fail; }
        zmq_setsockopt(p->dealer, ZMQ_IPV6, &one, sizeof one);
        zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(p->dealer, ZMQ_IMMEDIATE, &one, sizeof one);
        zmq_setsockopt(p->dealer, ZMQ_MAXMSGSIZE, &maxmsg64, sizeof maxmsg64);
        if (set_liveness(p->dealer, cfg, true) != 0) {
            snprintf(err, errlen, "cannot set the replication sockets' heartbeats and timeouts: %s",
                     zmq_strerror(zmq_errno()));
            goto fail;
        }
        if (set_curve_client(p->dealer, p->cfg->public_key, pub, sec)) {
            snprintf(err, errlen, "cannot configure CURVE: %s", zmq_strerror(zmq_errno()));
            goto fail;
        }
        snprintf(ep, sizeof ep, "%s", p->router_ep);
        if (zmq_connect(p->dealer, ep) != 0) { snprintf(err, errlen, "replication: cannot connect to %s: %s", ep, zmq_strerror(zmq_errno())); goto fail; }
        if (watch(r, p->dealer, &p->ev) != 0) { snprintf(err, errlen, "cannot watch a ZeroMQ socket"); goto fail; }
    }
    if (watch(r, r->sub, &r->ev_sub) != 0 || watch(r, r->router, &r->ev_router) != 0) {
        snprintf(err, errlen, "cannot watch a ZeroMQ socket");
        goto fail;
    }
    r->safety = event_new(r->base, -1, EV_PERSIST, on_safety, r);
    r->heartbeat = event_new(r->base, -1, EV_PERSIST, on_heartbeat_timer, r);
    struct timeval st = {0, SAFETY_POLL_MS * 1000};
    struct timeval ht = {cfg->heartbeat_interval_ms / 1000, (cfg->heartbeat_interval_ms % 1000) * 1000};
    if (!r->safety || !r->heartbeat || event_add(r->safety, &st) || event_add(r->heartbeat, &ht)) {
        snprintf(err, errlen, "cannot start replication timers");
        goto fail;
    }
    send_heartbeat(r);
    rlog(r, REPL_LOG_INFO, "replication: origin %s, %d peers, publishing on %s:%u, catch-up on port %u%s",
         r->origin[0] ? r->origin : "not chosen yet (once caught up)",
             r->n_peers - 1, me->host, me->port, me->port + 1,
             ", CURVE on");
    return r;
fail:
    repl_free(&r);
    return NULL;
}

void repl_free(repl **self_p)
{
    if (!self_p || !*self_p) return;
    repl *r = *self_p;
    if (r->ev_sub) event_free(r->ev_sub);
    if (r->ev_router) event_free(r->ev_router);
    if (r->safety) event_free(r->safety);
    if (r->heartbeat) event_free(r->heartbeat);
    for (int i = 0; i < r->n_peers; i++) {
        if (r->peers[i].ev) event_free(r->peers[i].ev);
        if (r->peers[i].dealer) zmq_close(r->peers[i].dealer);
    }
    if (r->monitor) zmq_close(r->monitor);
    if (r->pub) zmq_close(r->pub);
    if (r->sub) zmq_close(r->sub);
    if (r->router) zmq_close(r->router);
    if (r->zap && !r->zap_running) zmq_close(r->zap); /* else the thread closes it */
    if (r->ctx) {
        zmq_ctx_shutdown(r->ctx);
        if (r->zap_running) pthread_join(r->zap_thread, NULL);
        zmq_ctx_term(r->ctx);
    }
    while (r->snap_pages) {
        snap_page *next = r->snap_pages->next;
        free(r->snap_pages);
        r->snap_pages = next;
    }
    explicit_bzero(r->sec_key, sizeof r->sec_key);
    free(r->buf);
    free(r->batch);
    free(r->records);
    free(r);
    *self_p = NULL;
}

void repl_require_snapshot(repl *r)
{
    if (r) r->need_snapshot = true;
}

bool repl_snapshot_required(const repl *r)
{
    if (!r) return false;
    for (int i = 0; i < r->n_peers; i++)
        if (r->peers[i].alive && r->peers[i].owes_us) return true;
    return r->need_snapshot;
}

void repl_set_clock_suspect(repl *r, bool suspect)
{
    if (r) r->clock_suspect = suspect;
}

int repl_peer_count(const repl *r) { return r ? r->n_peers : 0; }

void repl_peer_get(const repl *r, int i, repl_peer_info *out)
{
    memset(out, 0, sizeof *out);
    const peer *p = &r->peers[i];
    snprintf(out->id, sizeof out->id, "%s", p->cfg->id);
    snprintf(out->site, sizeof out->site, "%s", p->cfg->site);
    out->self = p->self;
    out->alive = p->alive;
    out->last_heard_ms = p->last_heard_ms;
    out->clock_known = !p->self && p->alive;
    out->clock_offset_ms = out->clock_known ? p->clock_offset_ms : 0;
    /* A peer that is not heard has an unknown lag: its last version vector says nothing
     * of what it has logged since. */
    out->lag_known = p->self || p->alive;
    if (!p->self && p->alive) {
        store_vv committed;
        store_get_vv(r->store, &committed);
        out->lag_updates = behind(r, p, &committed);
        out->lag_ms = out->lag_updates && p->behind_since_ms ? now_ms(r) - p->behind_since_ms : 0;
    }
    out->updates_received = p->updates_received;
    out->syncs_served = p->syncs_served;
    out->snapshots_served = p->snapshots_served;
    out->malformed = p->malformed;
}

bool repl_peer_alive(const repl *r, const char *id)
{
    if (!r) return false;
    for (int i = 0; i < r->n_peers; i++)
        if (!strcmp(r->peers[i].cfg->id, id)) return r->peers[i].alive;
    return false;
}

double repl_peer_silent_ms(const repl *r, const char *id)
{
    if (!r) return -1;
    for (int i = 0; i < r->n_peers; i++)
        if (!strcmp(r->peers[i].cfg->id, id))
            return r->peers[i].self ? 0 : clock_mono_ms() - r->peers[i].heard_mono_ms;
    return -1;
}

void repl_get_stats(const repl *r, repl_stats *out)
{
    if (!r) { memset(out, 0, sizeof *out); return; }
    *out = r->stats;
    out->refused_keys = __atomic_load_n(&r->stats.refused_keys, __ATOMIC_RELAXED);
}

int repl_resumable_origin(const repl *r, char *origin, size_t cap, bool *all_heard)
{
    *all_heard = true;
    for (int i = 0; i < r->n_peers; i++)
        if (!r->peers[i].self && !r->peers[i].alive) *all_heard = false;
    if (!*all_heard) return 0;
    store_vv committed;
    store_get_vv(r->store, &committed);
    size_t idlen = strlen(r->cfg.node_id);
    int best = -1;
    for (int k = 0; k < committed.n; k++) {
        const store_vv_entry *e = &committed.e[k];
        if (strncmp(e->origin, r->cfg.node_id, idlen) != 0 || e->origin[idlen] != '.' || e->seq == 0) continue;
        /* Nothing of it still on its way into our store, and no peer with more. */
        bool ok = store_vv_get(&r->pending, e->origin) == e->seq;
        for (int i = 0; ok && i < r->n_peers; i++)
            if (!r->peers[i].self && store_vv_get(&r->peers[i].vv, e->origin) > e->seq) ok = false;
        if (ok && (best < 0 || e->seq > committed.e[best].seq)) best = k;
    }
    if (best < 0) return 0;
    snprintf(origin, cap, "%s", committed.e[best].origin);
    return 1;
}

void repl_set_origin(repl *r, const char *origin)
{
    if (r) snprintf(r->origin, sizeof r->origin, "%s", origin);
}

uint64_t repl_own_updates_unconfirmed(const repl *r)
{
    if (!r || !r->origin[0]) return 0;
    store_vv committed;
    store_get_vv(r->store, &committed);
    uint64_t mine = store_vv_get(&committed, r->origin), missing = 0;
    for (int i = 0; i < r->n_peers; i++) {
        const peer *p = &r->peers[i];
        if (p->self || !p->alive) continue;
        uint64_t theirs = store_vv_get(&p->vv, r->origin);
        if (theirs < mine) missing += mine - theirs;
    }
    return missing;
}
