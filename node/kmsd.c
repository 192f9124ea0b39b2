/* kmsd.c: the kmsha node daemon. Reads the configuration (embedded defaults, then
 * --config FILE, then command-line flags), opens the LMDB store, rebuilds the count index,
 * serves KMS on the listen addresses and HTTP on the admin address. SIGTERM/SIGINT finish
 * in-flight requests and exit; SIGHUP reloads what can be reloaded. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node/admin.h"
#include "node/dns.h"
#include "node/config.h"
#include "node/log.h"
#include "node/node.h"
#include "node/ready.h"
#include "node/sdnotify.h"
#include "node/server.h"
#include "proto/errors.h"
#include "replication/keys.h"
#include "replication/repl.h"
#include "replication/storecheck.h"

#define SHUTDOWN_GRACE_MS 10000

/* The built-in cluster of `kmsd --local-cluster`: three nodes on 127.0.0.1-3, KMS on port
 * 1688 each, for trying kmsha on one machine (scripts/run.sh). */
static const char local_cluster_ini[] =
    "[cluster]\n"
    "name = local\n"
    "[peer.kms1]\nkms = 127.0.0.1:1688\nadmin = 127.0.0.1:8688\nreplication = 127.0.0.1:7001\nsite = local\n"
    "[peer.kms2]\nkms = 127.0.0.2:1688\nadmin = 127.0.0.2:8688\nreplication = 127.0.0.2:7001\nsite = local\n"
    "[peer.kms3]\nkms = 127.0.0.3:1688\nadmin = 127.0.0.3:8688\nreplication = 127.0.0.3:7001\nsite = local\n";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kmsd [options]\n"
            "  --config FILE        read settings from FILE (INI)\n"
            "  --check-config FILE  check FILE and exit (0 when valid); with --node-id ID as\n"
            "                       that node of a cluster file\n"
            "  --listen ADDR:PORT   KMS listen address (repeatable; replaces [node] listen)\n"
            "  --data-dir DIR       store directory ([node] data_dir)\n"
            "  --node-id ID         this node's id ([node] id)\n"
            "  --admin ADDR:PORT    admin HTTP address, or 'off' ([node] admin)\n"
            "  --log-level LEVEL    debug, info, warn or error\n"
            "  --drained            start drained: SRV records withdrawn until kmsctl undrain\n"
            "                       (e.g. for a rebuilt node; [peer.ID] drained = true alike)\n"
            "  --local-cluster      be node --node-id (kms1, kms2 or kms3) of the built-in cluster\n"
            "                       on 127.0.0.1-3 (KMS port 1688, admin 8688, replication 7001),\n"
            "                       store under ./var/ID, CURVE keys made at first start in ./var/keys,\n"
            "                       the admin and read tokens in ./var/admin.token, ./var/read.token\n"
            "  --rebuild-from-peers start with an empty store and catch up from the live peers:\n"
            "                       the repair of a damaged store (its files are moved to\n"
            "                       DATA_DIR/damaged-TIME first); needs peers\n"
            "  --config-reference   print every setting as a Markdown table and exit\n"
            "  --version            print the version and exit\n"
            "Testing only:\n"
            "  --clock-offset SECS  shift the node's clock (count expiry and clock checks)\n"
            "Without --config, kmsd runs on embedded defaults: KMS on 127.0.0.1:1688, admin on\n"
            "127.0.0.1:8688, store under ./var.\n");
}

/* --check-config: the SRV records the cluster publishes in each zone, in the order clients
 * try them (priority, then weight), so an administrator sees what a site zone prefers. */
static const kmsd_config *plan_cfg;
static const config_dns_zone *plan_zone;

static int plan_cmp(const void *a, const void *b)
{
    const config_peer *x = a, *y = b;
    uint16_t px = config_srv_priority(plan_cfg, plan_zone, x), py = config_srv_priority(plan_cfg, plan_zone, y);
    if (px != py) return px < py ? -1 : 1;
    if (x->weight != y->weight) return x->weight > y->weight ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void print_srv_plan(const kmsd_config *cfg)
{
    config_dns_zone zones[CONFIG_MAX_DNS_ZONES];
    int nz = 0;
    if (!cfg->dns_server[0] || cfg->n_peers == 0 || config_parse_dns_zones(cfg->dns_zones, zones, CONFIG_MAX_DNS_ZONES, &nz))
        return;
    static config_peer sorted[CONFIG_MAX_PEERS];
    for (int z = 0; z < nz; z++) {
        memcpy(sorted, cfg->peers, sizeof sorted[0] * (size_t)cfg->n_peers);
        plan_cfg = cfg;
        plan_zone = &zones[z];
        qsort(sorted, (size_t)cfg->n_peers, sizeof sorted[0], plan_cmp);
        printf("_vlmcs._tcp.%s%s%s%s SRV, in the order clients try them:", zones[z].name,
               zones[z].site[0] ? " (site " : "", zones[z].site, zones[z].site[0] ? ")" : "");
        for (int i = 0; i < cfg->n_peers; i++)
            printf(" %s %u/%u", sorted[i].id, config_srv_priority(cfg, &zones[z], &sorted[i]), sorted[i].weight);
        printf("\n");
    }
}

static int mkdir_p(const char *path)
{
    char tmp[CONFIG_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* The built-in cluster authenticates its replication like any other: its key pairs are
 * made at first start in KEYS = the data directory's parent + "/keys" (./var/keys by
 * default), shared by the three nodes of that directory, and listed as the peers' keys. */
static int local_cluster_keys(kmsd_config *cfg, char *err, size_t errlen)
{
    char parent[CONFIG_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", cfg->data_dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = 0;
    else snprintf(parent, sizeof parent, "%s", slash ? "/" : ".");
    if (mkdir_p(parent) != 0) {
        snprintf(err, errlen, "%s: %s", parent, strerror(errno));
        return -1;
    }
    /* one admin token and one read token for the three nodes, where kmsctl looks by default
     * (./var/admin.token, ./var/read.token) */
    if ((!cfg->admin_token_file[0] &&
         (size_t)snprintf(cfg->admin_token_file, sizeof cfg->admin_token_file, "%.490s/admin.token", parent) >=
             sizeof cfg->admin_token_file) ||
        (!cfg->read_token_file[0] &&
         (size_t)snprintf(cfg->read_token_file, sizeof cfg->read_token_file, "%.490s/read.token", parent) >=
             sizeof cfg->read_token_file)) {
        snprintf(err, errlen, "%s: path too long", parent);
        return -1;
    }
    if ((size_t)snprintf(cfg->key_dir, sizeof cfg->key_dir, "%s/keys", parent) >= sizeof cfg->key_dir) {
        snprintf(err, errlen, "%s: path too long", parent);
        return -1;
    }
    const char *ids[CONFIG_MAX_PEERS];
    char pubs[CONFIG_MAX_PEERS][41];
    for (int i = 0; i < cfg->n_peers; i++) ids[i] = cfg->peers[i].id;
    if (repl_keys_ensure(cfg->key_dir, ids, cfg->n_peers, pubs, err, errlen) != 0) return -1;
    for (int i = 0; i < cfg->n_peers; i++)
        memcpy(cfg->peers[i].public_key, pubs[i], sizeof cfg->peers[i].public_key); /* 40 + NUL */
    return 0;
}

/* Descriptors kmsd needs besides its KMS connections: admin connections, replication
 * (ZeroMQ's sockets, mailboxes and connections per peer), the store, logs, DNS, epoll. */
static rlim_t fd_reserve(const kmsd_config *cfg)
{
    return (rlim_t)cfg->admin_max_connections + 16 + 8 * (rlim_t)cfg->n_peers + 64;
}

/* Makes the open-file limit hold max_connections: raises the soft limit up to the hard
 * one, else lowers max_connections to what fits and says so (a shell's ulimit of 1024
 * and the default 10,000 connections would otherwise run out of descriptors, and accept
 * would fail on every connection beyond). */
static void fit_open_files(kmsd_config *cfg, bool quiet)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t reserve = fd_reserve(cfg), need = (rlim_t)cfg->max_connections + reserve;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
        else if (!quiet) log_info("open file limit raised from %llu to %llu", (unsigned long long)old,
                                  (unsigned long long)rl.rlim_cur);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        uint32_t fit = rl.rlim_cur > reserve + 16 ? (uint32_t)(rl.rlim_cur - reserve) : 16;
        log_warnx("[limits] max_connections %u lowered to %u: the open file limit is %llu (hard limit %llu) and "
                  "kmsd keeps %llu for admin, replication and files; raise it (LimitNOFILE=, ulimit -n) to serve more",
                  cfg->max_connections, fit, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                  (unsigned long long)reserve);
        cfg->max_connections = fit;
    }
}

typedef struct daemon_state {
    node n;
    struct event *sig_term, *sig_int, *sig_hup, *prune_timer, *stop_timer, *clock_timer, *log_bound_timer;
    bool local_cluster, start_drained, rebuild;
    const char *config_arg;   /* --config FILE as given */
    int argc;                 /* the command line, replayed over the file on SIGHUP */
    char **argv;
    double stop_started_ms;
    double handoff_started_ms;  /* 0 until the in-flight requests are done */
} daemon_state;

/* Builds the configuration as kmsd reads it: embedded defaults, the built-in local cluster
 * or the file, the command-line overrides, then what this node's [peer.ID] says where
 * no flag said otherwise. At start and on SIGHUP alike, so a reload keeps every flag
 * (--node-id, --listen, --log-level, ...). Returns 0, 1 (bad configuration) or 2 (bad
 * usage) with the message in err. */
static int build_config(daemon_state *d, kmsd_config *cfg, char *err, size_t errlen)
{
    config_defaults(cfg);
    if (d->local_cluster && config_load_text(cfg, "(built-in local cluster)", local_cluster_ini, err, errlen) < 0) return 1;
    if (d->config_arg && config_load(cfg, d->config_arg, err, errlen) < 0) return 1;
    bool listen_given = false, admin_given = false, data_dir_given = false;
    for (int i = 1; i < d->argc; i++) {
        const char *a = d->argv[i];
        const char *section = "node", *key = NULL;
        if (!strcmp(a, "--config") || !strcmp(a, "--clock-offset") || !strcmp(a, "--check-config") ||
            !strcmp(a, "-n")) { i++; continue; }
        if (!strcmp(a, "--local-cluster") || !strcmp(a, "--drained") || !strcmp(a, "--rebuild-from-peers")) continue;
        if (!strcmp(a, "--listen")) key = "listen";
        else if (!strcmp(a, "--data-dir")) key = "data_dir";
        else if (!strcmp(a, "--node-id")) key = "id";
        else if (!strcmp(a, "--admin")) key = "admin";
        else if (!strcmp(a, "--log-level")) key = "log_level";
        else { snprintf(err, errlen, "unknown option '%s' (see kmsd --help)", a); return 2; }
        if (i + 1 >= d->argc) { snprintf(err, errlen, "%s needs a value", a); return 2; }
        if (!strcmp(key, "listen") && !listen_given) cfg->n_listen = 0; /* the flags replace the list */
        if (!strcmp(key, "listen")) listen_given = true;
        if (!strcmp(key, "admin")) admin_given = true;
        if (!strcmp(key, "data_dir")) data_dir_given = true;
        if (config_set(cfg, section, key, d->argv[++i], a, err, errlen) < 0) return 2;
    }
    /* In a cluster file, this node's [peer.ID] entry says where it listens, unless the
     * command line or the file's [node] listen / admin says so explicitly (e.g. a wildcard
     * address to bind while SRV records name the peer's address). */
    const config_peer *me = config_find_peer(cfg, cfg->node_id);
    if (config_key_from_file(cfg, "node", "listen")) listen_given = true;
    if (config_key_from_file(cfg, "node", "admin")) admin_given = true;
    if (me && me->n_kms && !listen_given) { /* all its addresses: IPv4 and IPv6 for a dual-stack node */
        memcpy(cfg->listen, me->kms_addrs, (size_t)me->n_kms * sizeof me->kms_addrs[0]);
        cfg->n_listen = me->n_kms;
    }
    if (me && me->n_admin && !admin_given) {
        cfg->admin = me->admin;
        memcpy(cfg->admin_also, me->admin_addrs + 1, (size_t)(me->n_admin - 1) * sizeof me->admin_addrs[0]);
        cfg->n_admin_also = me->n_admin - 1;
    }
    if (d->local_cluster && !data_dir_given) snprintf(cfg->data_dir, sizeof cfg->data_dir, "./var/%s", cfg->node_id);
    if (d->local_cluster && local_cluster_keys(cfg, err, errlen) != 0) return 1;
    return config_validate(cfg, err, errlen) < 0 ? 1 : 0;
}

static void arm_prune_timer(daemon_state *d)
{
    struct timeval pt = {(time_t)d->n.cfg.prune_interval, 0};
    evtimer_add(d->prune_timer, &pt); /* re-adding a pending timer re-arms it */
}

static void audit_path_of(const kmsd_config *cfg, char *out, size_t cap)
{
    if (!cfg->audit_log[0]) snprintf(out, cap, "%s/audit.log", cfg->data_dir);
    else snprintf(out, cap, "%s", cfg->audit_log);
}

/* --rebuild-from-peers: moves the store's files to DATA_DIR/damaged-TIME (kept for a look
 * later), so the node starts empty and catches up from its peers. */
static void set_aside_store(node *n)
{
    if (n->cfg.n_peers < 2) fatalx("--rebuild-from-peers needs peers ([peer.ID] sections): a single node has "
                                   "nobody to catch up from; restore a backup instead (kmsctl restore)");
    char aside[CONFIG_PATH_MAX + 64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    int len = snprintf(aside, sizeof aside, "%s/damaged-", n->cfg.data_dir);
    strftime(aside + len, sizeof aside - (size_t)len, "%Y%m%dT%H%M%SZ", &tm);
    if (mkdir(aside, 0700) != 0 && errno != EEXIST) fatalx("--rebuild-from-peers: %s: %s", aside, strerror(errno));
    static const char *const files[] = {"data.mdb", "lock.mdb", "origin", "clock"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char from[CONFIG_PATH_MAX + 16], to[CONFIG_PATH_MAX + 96];
        snprintf(from, sizeof from, "%s/%s", n->cfg.data_dir, files[i]);
        snprintf(to, sizeof to, "%s/%s", aside, files[i]);
        if (rename(from, to) != 0 && errno != ENOENT) fatalx("--rebuild-from-peers: moving %s: %s", from, strerror(errno));
    }
    log_warnx("--rebuild-from-peers: the old store is in %s; starting empty, catching up from the peers", aside);
}

static uint64_t load_future; /* records of the last load dated beyond the future bound */

static int load_record(void *ctx, const store_record *rec)
{
    node *n = ctx;
    /* A record this node made while its clock was ahead is kept but not counted (the same
     * bound as for records from peers). */
    if (n->clock.state != TIMECHECK_DISAGREES && n->clock.state != TIMECHECK_JUMPED &&
        store_record_in_future(rec, node_now_ms(n), (int64_t)n->cfg.future_tolerance_h * 3600 * 1000)) {
        load_future++;
        return 0;
    }
    return clients_touch(n->clients, rec->app, rec->cmid, rec->kms_id, rec->last_seen_ms, rec->n_policy) < 0;
}

/* Loads the store into n->clients; logs the records left out as dated in the future. */
static int load_index(node *n)
{
    load_future = 0;
    if (store_each(n->store, load_record, n) < 0) return -1;
    if (load_future)
        log_warnx("%" PRIu64 " stored records are dated more than future_tolerance_h (%u h) after this node's "
                  "clock: kept, not counted", load_future, n->cfg.future_tolerance_h);
    return 0;
}

static void prune_done(void *arg, int status)
{
    (void)arg;
    if (status < 0) log_warnx("pruning expired records failed: %s", store_strerror(status));
}

static void prune_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    log_debug("pruning expired client records (every %u s)", n->cfg.prune_interval);
    /* Pruning deletes by the wall clock: never on a clock that is not trusted (a clock 45
     * days ahead would delete every record and the whole update log for good). */
    if (!n->clock.trusted) {
        if (!n->prune_deferred) {
            char why[300];
            timecheck_describe(&n->clock, why, sizeof why);
            log_warnx("not pruning expired records or the update log: %s", why);
        }
        n->prune_deferred = true;
        return;
    }
    n->prune_deferred = false;
    int64_t now = node_now_ms(n);
    size_t dropped = clients_expire(n->clients, now);
    if (dropped) log_info("%zu client records expired from the count", dropped);
    store_prune_async(n->store, clients_cutoff(n->clients, now), prune_done, NULL);
    if (n->repl)
        store_log_prune_async(n->store, now - (int64_t)n->cfg.log_retention_hours * 3600 * 1000, prune_done, NULL);
}

/* Rebuilds the count index from the store (after the clock was ahead: expiry may have
 * dropped clients that still count). Blocking: a rare event. */
static void rebuild_index(node *n)
{
    clients_index *fresh = clients_new(), *old = n->clients;
    if (!fresh) return;
    clients_set_rule(fresh, n->cfg.client_lifetime_days, n->cfg.count_cap);
    n->clients = fresh;
    if (load_index(n) < 0) {
        log_error("rebuilding the count index: cannot read the client records; keeping the old index");
        n->clients = old;
        clients_free(&fresh);
        return;
    }
    clients_expire(n->clients, node_now_ms(n));
    clients_free(&old);
    log_info("count index rebuilt from the store: %zu live client records", clients_size(n->clients));
}

static void log_bound_cb(evutil_socket_t fd, short what, void *arg);

/* The clock check, once a second: the live peers' offsets from their heartbeats, steps of
 * the wall clock against the monotonic one. */
static void clock_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    int64_t offsets[64];
    int k = 0;
    for (int i = 0; i < repl_peer_count(n->repl) && k < 64; i++) {
        repl_peer_info pi;
        repl_peer_get(n->repl, i, &pi);
        if (pi.clock_known) offsets[k++] = pi.clock_offset_ms;
    }
    bool was_trusted = n->clock.trusted;
    if (timecheck_update(&n->clock, node_now_ms(n), offsets, k, node_mono_ms())) {
        char why[300];
        timecheck_describe(&n->clock, why, sizeof why);
        if (n->clock.trusted) log_info("%s", why);
        else log_warnx("%s", why);
        /* Records from peers are judged by our clock only while it is not known to be wrong. */
        repl_set_clock_suspect(n->repl, n->clock.state == TIMECHECK_DISAGREES || n->clock.state == TIMECHECK_JUMPED);
    }
    if (n->clock.trusted && !was_trusted) {
        if (n->clock.was_ahead) {
            n->clock.was_ahead = false;
            rebuild_index(n);
        }
        if (n->prune_deferred) prune_cb(-1, 0, n);
        log_bound_cb(-1, 0, n); /* over log_max_mb meanwhile: prune now, not at the next check */
    }
}

/* The update log's size bound ([cluster] log_max_mb), besides its age bound: past it,
 * the oldest part of the log goes, as much of its time span as the excess (and a tenth
 * more) is of its size; a peer that needed it gets a snapshot. Checked every
 * LOG_BOUND_CHECK_S; a prune already running is not doubled. */
#define LOG_BOUND_CHECK_S 5
static bool log_bound_pruning;
static bool log_bound_deferred; /* over the bound, not pruned: the clock is not trusted */

static void log_bound_done(void *arg, int status)
{
    (void)arg;
    log_bound_pruning = false;
    if (status < 0) log_warnx("pruning the update log to log_max_mb failed: %s", kms_strerror(status));
}

static void log_bound_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    uint64_t bound = (uint64_t)n->cfg.log_max_mb << 20, bytes = store_log_bytes(n->store);
    if (log_bound_pruning || bytes <= bound) return;
    /* The cut-off is a wall-clock time: on a clock 45 days ahead it would take the whole
     * log. Like the age bound, wait until a live peer confirms the clock (clock_cb). */
    if (!n->clock.trusted) {
        if (!log_bound_deferred) {
            char why[300];
            timecheck_describe(&n->clock, why, sizeof why);
            log_warnx("update log %.1f MiB > log_max_mb %u: not pruning it until the clock is confirmed: %s",
                      bytes / 1048576.0, n->cfg.log_max_mb, why);
        }
        log_bound_deferred = true;
        return;
    }
    log_bound_deferred = false;
    uint64_t entries = 0;
    int64_t oldest = 0, now = node_now_ms(n);
    store_log_stats(n->store, &entries, &oldest);
    if (!oldest || oldest >= now) return;
    double drop = 1.0 - 0.9 * (double)bound / (double)bytes; /* share of the log to delete */
    int64_t cutoff = oldest + (int64_t)((double)(now - oldest) * drop) + 1;
    log_info("update log %.1f MiB > log_max_mb %u: pruning entries logged before %.0f s ago (peers missing them "
             "get a snapshot)", bytes / 1048576.0, n->cfg.log_max_mb, (now - cutoff) / 1000.0);
    if (store_log_prune_async(n->store, cutoff, log_bound_done, NULL) == 0) log_bound_pruning = true;
}

/* How long a stopping node waits for its live peers to show its last updates: a few
 * heartbeats (a peer that missed a live update asks for it after the next one). */
static double handoff_limit_ms(const kmsd_config *cfg)
{
    double ms = 4.0 * cfg->heartbeat_interval_ms;
    return ms < 2000 ? 2000 : ms > SHUTDOWN_GRACE_MS ? SHUTDOWN_GRACE_MS : ms;
}

static void stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_state *d = arg;
    unsigned pending = server_pending(d->n.server);
    if (pending && node_mono_ms() - d->stop_started_ms > SHUTDOWN_GRACE_MS) {
        log_warnx("%u requests still in flight after %d ms, exiting anyway", pending, SHUTDOWN_GRACE_MS);
        event_base_loopexit(d->n.base, NULL);
        return;
    }
    if (!pending) {
        /* Then the hand-off: what this node answered last (published while a peer was
         * perhaps not connected yet) is on a live peer before the node exits, so a disk
         * lost afterwards loses nothing it acknowledged. */
        uint64_t unconfirmed = repl_own_updates_unconfirmed(d->n.repl);
        double now = node_mono_ms();
        if (!d->handoff_started_ms) {
            d->handoff_started_ms = now;
            if (unconfirmed)
                log_info("waiting up to %.0f ms for the live peers to confirm this node's last updates (%" PRIu64
                         " missing)", handoff_limit_ms(&d->n.cfg), unconfirmed);
        }
        if (!unconfirmed || now - d->handoff_started_ms > handoff_limit_ms(&d->n.cfg)) {
            if (unconfirmed)
                log_warnx("stopping with %" PRIu64 " of this node's updates not confirmed by a live peer after "
                          "%.0f ms: they are in this node's store and reach the peers when it is back",
                          unconfirmed, handoff_limit_ms(&d->n.cfg));
            event_base_loopexit(d->n.base, NULL);
            return;
        }
    }
    struct timeval tv = {0, 20000};
    evtimer_add(d->stop_timer, &tv);
}

/* The node's records are out of DNS (or the bound ran out): stop accepting, finish what is
 * in flight, exit. */
static void left_dns(void *arg)
{
    daemon_state *d = arg;
    log_info("no new connections; finishing %u in-flight requests", server_pending(d->n.server));
    sdnotify_stopping("stopping: finishing in-flight requests");
    server_stop_accepting(d->n.server);
    d->stop_started_ms = node_mono_ms();
    if (!d->stop_timer) d->stop_timer = evtimer_new(d->n.base, stop_check_cb, d);
    struct timeval tv = {0, 0};
    evtimer_add(d->stop_timer, &tv);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    daemon_state *d = arg;
    if (d->n.stopping) {
        log_info("second signal: exiting now");
        event_base_loopexit(d->n.base, NULL);
        return;
    }
    d->n.stopping = true;
    /* Leave before stopping: clients that look the node up now go elsewhere, while those
     * that already have its address are still served until it stops accepting. */
    log_info("%s: withdrawing this node's DNS records, then stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    sdnotify_stopping("stopping: withdrawing the DNS records");
    dns_leave(d->n.dns, left_dns, d);
}

/* SIGHUP: builds the configuration again as at start (file and flags), applies every
 * reloadable setting through the settings table (config_reload_apply), performs what the
 * changed rows ask for, reopens the audit log (log rotation), and names the settings that
 * changed but need a restart. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    daemon_state *d = arg;
    node *n = &d->n;
    char audit_path[CONFIG_PATH_MAX + 16];
    audit_path_of(&n->cfg, audit_path, sizeof audit_path);
    if (audit_reopen(audit_path) != 0) log_error("SIGHUP: audit_log %s: cannot reopen: %s (still writing to the old file)", audit_path, strerror(errno));
    if (!d->config_arg && !d->local_cluster) {
        log_info("SIGHUP: audit log reopened; running on embedded defaults, no configuration to reload");
        return;
    }
    kmsd_config *fresh = malloc(sizeof *fresh);
    char err[1024], changed[1024], restart[1024];
    if (!fresh) { log_error("SIGHUP: out of memory; configuration not reloaded"); return; }
    if (build_config(d, fresh, err, sizeof err) != 0) {
        log_error("SIGHUP: configuration not reloaded (nothing changed): %s", err);
        free(fresh);
        return;
    }
    uint32_t prune_was = n->cfg.prune_interval;
    unsigned actions = config_reload_apply(&n->cfg, fresh, changed, sizeof changed, restart, sizeof restart);
    free(fresh);
    fit_open_files(&n->cfg, true); /* max_connections may have changed */
    if (actions & (1u << CONFIG_RELOAD_LOG_LEVEL)) log_set_level(n->cfg.log_level);
    if (actions & (1u << CONFIG_RELOAD_COUNT_RULE)) clients_set_rule(n->clients, n->cfg.client_lifetime_days, n->cfg.count_cap);
    if ((actions & (1u << CONFIG_RELOAD_PRUNE_TIMER)) && prune_was != n->cfg.prune_interval) arm_prune_timer(d);
    if (restart[0]) log_warnx("SIGHUP: changed but not applied until a restart: %s", restart);
    log_info("SIGHUP: configuration reloaded from %s; audit log reopened; %s%s", d->config_arg ? n->config_path : "(built-in local cluster)",
             changed[0] ? "applied: " : "no reloadable setting changed", changed);
}

int main(int argc, char **argv)
{
    static daemon_state d;
    node *n = &d.n;
    char err[1024];
    config_defaults(&n->cfg);

    /* Pass 1: --config / --check-config / informational flags. */
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--version")) { printf("kmsd " KMSHA_VERSION "\n"); return 0; }
        if (!strcmp(a, "--config-reference")) { config_write_reference(stdout); return 0; }
        if (!strcmp(a, "--check-config") || !strcmp(a, "-n")) {
            if (i + 1 >= argc) { fprintf(stderr, "kmsd: %s needs a FILE\n", a); return 2; }
            /* The configuration exactly as a start with these flags builds it (the file,
             * --node-id ID as that node of a cluster file, every other flag). */
            static kmsd_config cfg;
            daemon_state cd = {.config_arg = argv[i + 1], .argc = argc, .argv = argv};
            for (int k = 1; k < argc; k++)
                if (!strcmp(argv[k], "--local-cluster")) cd.local_cluster = true;
            int crc = build_config(&cd, &cfg, err, sizeof err);
            if (crc != 0) {
                fprintf(stderr, "kmsd: %s\n", err);
                return crc;
            }
            printf("%s: configuration OK\n", argv[i + 1]);
            printf("node %s: KMS on", cfg.node_id);
            for (int k = 0; k < cfg.n_listen; k++)
                printf(strchr(cfg.listen[k].host, ':') ? "%s [%s]:%u" : "%s %s:%u", k ? "," : "",
                       cfg.listen[k].host, (unsigned)cfg.listen[k].port);
            if (cfg.admin.port)
                printf(strchr(cfg.admin.host, ':') ? "; admin on [%s]:%u" : "; admin on %s:%u", cfg.admin.host,
                       (unsigned)cfg.admin.port);
            for (int k = 0; cfg.admin.port && k < cfg.n_admin_also; k++)
                printf(strchr(cfg.admin_also[k].host, ':') ? ", [%s]:%u" : ", %s:%u", cfg.admin_also[k].host,
                       (unsigned)cfg.admin_also[k].port);
            printf("\n");
            print_srv_plan(&cfg);
            return 0;
        }
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) { fprintf(stderr, "kmsd: --config needs a FILE\n"); return 2; }
            config_path = argv[++i];
        }
        if (!strcmp(a, "--local-cluster")) d.local_cluster = true;
    }
    if (d.local_cluster && config_path) {
        fprintf(stderr, "kmsd: --local-cluster and --config exclude each other\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rebuild-from-peers")) d.rebuild = true;
        if (!strcmp(argv[i], "--drained")) d.start_drained = true;
        if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--listen") || !strcmp(argv[i], "--data-dir") ||
            !strcmp(argv[i], "--node-id") || !strcmp(argv[i], "--admin") || !strcmp(argv[i], "--log-level")) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--clock-offset")) {
            if (i + 1 >= argc) { fprintf(stderr, "kmsd: --clock-offset needs SECONDS\n"); return 2; }
            char *end;
            long long off = strtoll(argv[++i], &end, 10);
            if (*end) { fprintf(stderr, "kmsd: --clock-offset: '%s' is not a number of seconds\n", argv[i]); return 2; }
            n->clock_offset_ms = off * 1000;
        }
    }
    if (config_path) {
        if (!realpath(config_path, n->config_path))
            snprintf(n->config_path, sizeof n->config_path, "%s", config_path);
        d.config_arg = n->config_path; /* SIGHUP reads the same file whatever the directory */
    }
    d.argc = argc;
    d.argv = argv;
    int brc = build_config(&d, &n->cfg, err, sizeof err);
    if (brc != 0) {
        fprintf(stderr, "kmsd: %s\n", err);
        return brc;
    }

    log_init(n->cfg.node_id, n->cfg.log_level);
    (void)log_set_format(n->cfg.log_format); /* the settings table checked the name */
    log_route_libevent();
    fit_open_files(&n->cfg, false);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    n->base = event_base_new();
    if (!n->base) fatalx("cannot create the event loop");
    n->started_ms = node_now_ms(n);

    if (mkdir_p(n->cfg.data_dir) != 0) fatalx("data_dir %s: %s", n->cfg.data_dir, strerror(errno));
    char audit_path[CONFIG_PATH_MAX + 16];
    audit_path_of(&n->cfg, audit_path, sizeof audit_path);
    if (audit_open(audit_path) != 0) fatalx("audit_log %s: %s", audit_path, strerror(errno));

    if (d.rebuild) set_aside_store(n);
    store_options so = {.commit_delay_ms = n->cfg.commit_delay_ms,
                        .map_size = (uint64_t)n->cfg.map_size_mb << 20,
                        .no_sync = false};
    int open_status = 0;
    n->store = store_open(n->base, n->cfg.data_dir, &so, &open_status, err, sizeof err);
    /* A damaged store is named with its repair, never served from in part, and ends the
     * process with STORE_EXIT_DAMAGED, which systemd does not restart (a restart cannot
     * repair it); other failures (a full disk, permissions) exit 1 and are retried. */
    if (!n->store && open_status == KMS_EDAMAGED)
        fatal_status(STORE_EXIT_DAMAGED, "store %s: %s; " STORE_REPAIR_HINT "; exit status %d (not restarted)",
                     n->cfg.data_dir, err, STORE_EXIT_DAMAGED);
    if (!n->store) fatalx("store %s: %s", n->cfg.data_dir, err);
    uint64_t checked = 0;
    double tv = node_mono_ms();
    if (store_verify(n->store, &checked, err, sizeof err) < 0)
        fatal_status(STORE_EXIT_DAMAGED, "store %s: %s; " STORE_REPAIR_HINT "; exit status %d (not restarted)",
                     n->cfg.data_dir, err, STORE_EXIT_DAMAGED);
    log_info("store %s checked: %" PRIu64 " records decode (%.0f ms)", n->cfg.data_dir, checked, node_mono_ms() - tv);
    timecheck_init(&n->clock, n->cfg.data_dir, (int64_t)n->cfg.clock_max_offset_s * 1000, n->cfg.n_peers > 1,
                   node_now_ms(n));
    if (n->clock.jumped) {
        char why[300];
        timecheck_describe(&n->clock, why, sizeof why);
        log_warnx("%s (since this node last ran)", why);
    }
    n->clients = clients_new();
    if (!n->clients) fatalx("out of memory");
    clients_set_rule(n->clients, n->cfg.client_lifetime_days, n->cfg.count_cap);
    products_index_build(&n->products);
    double t0 = node_mono_ms();
    if (load_index(n) < 0)
        fatalx("store %s: the count index refuses a stored record (out of memory or a damaged record); " STORE_REPAIR_HINT,
               n->cfg.data_dir);
    clients_expire(n->clients, node_now_ms(n));
    log_info("loaded %zu live client records from %s in %.0f ms", clients_size(n->clients), n->cfg.data_dir,
             node_mono_ms() - t0);

    store_vv vv;
    store_get_vv(n->store, &vv);
    if (n->cfg.n_peers > 1 && !repl_origin_read(n->cfg.data_dir, n->cfg.node_id, &vv, n->origin, sizeof n->origin)) {
        /* A new, wiped, restored or rebuilt store: the origin is chosen once caught up
         * (node_take_origin, from the catch-up gate), so that a rebuild resumes an earlier
         * origin instead of adding one to every node's version vector. */
        n->origin[0] = 0;
        log_info("this store holds no updates of this node's own: its update origin is chosen once caught up "
                 "with the peers");
    } else {
        int orc = repl_origin_for(n->cfg.data_dir, n->cfg.node_id, &vv, n->origin, sizeof n->origin);
        if (orc < 0 || store_set_origin(n->store, n->origin) < 0)
            fatalx("data_dir %s: cannot set up this node's update origin: %s", n->cfg.data_dir, kms_strerror(orc));
    }
    if (node_start_replication(n, err, sizeof err) < 0) fatalx("%s", err);
    /* Updates of retired origins are in no log any more: a store that lost what it held
     * takes a snapshot before it serves. */
    if (n->repl && !n->origin[0]) repl_require_snapshot(n->repl);
    if (node_start_dns(n, err, sizeof err) < 0) fatalx("%s", err);

    if (node_start_server(n, err, sizeof err) < 0) fatalx("%s", err);
    n->admin = admin_new(n, err, sizeof err);
    if (!n->admin && err[0]) fatalx("%s", err);
    const config_peer *me = config_find_peer(&n->cfg, n->cfg.node_id);
    if ((d.start_drained || (me && me->drained)) && !dns_drained(n->dns)) {
        if (dns_set_drained(n->dns, true) != 0) fatalx("data_dir %s: cannot write the drained flag: %s", n->cfg.data_dir, strerror(errno));
        log_info("started drained (%s): kmsctl undrain %s publishes this node's DNS records",
                 d.start_drained ? "--drained" : "[peer] drained = true", n->cfg.node_id);
    }
    n->ready = ready_new(n, err, sizeof err); /* opens the KMS listeners once caught up */
    if (!n->ready) fatalx("%s", err);

    d.sig_term = evsignal_new(n->base, SIGTERM, on_stop_signal, &d);
    d.sig_int = evsignal_new(n->base, SIGINT, on_stop_signal, &d);
    d.sig_hup = evsignal_new(n->base, SIGHUP, on_hup, &d);
    evsignal_add(d.sig_term, NULL);
    evsignal_add(d.sig_int, NULL);
    evsignal_add(d.sig_hup, NULL);
    d.clock_timer = event_new(n->base, -1, EV_PERSIST, clock_cb, n);
    struct timeval ct = {1, 0};
    evtimer_add(d.clock_timer, &ct);
    /* Once at start (a node back from a long outage sheds old state first), or as soon as
     * a live peer confirms the clock (clock_cb). */
    prune_cb(-1, 0, n);
    d.prune_timer = event_new(n->base, -1, EV_PERSIST, prune_cb, n);
    arm_prune_timer(&d);
    log_bound_cb(-1, 0, n);
    d.log_bound_timer = event_new(n->base, -1, EV_PERSIST, log_bound_cb, n);
    struct timeval lt = {LOG_BOUND_CHECK_S, 0};
    if (!d.log_bound_timer || evtimer_add(d.log_bound_timer, &lt) != 0) fatalx("cannot start the log size check");

    for (int i = 0; i < n->cfg.n_listen; i++)
        log_info("listening for KMS on %s%s%s:%u", strchr(n->cfg.listen[i].host, ':') ? "[" : "",
                 n->cfg.listen[i].host, strchr(n->cfg.listen[i].host, ':') ? "]" : "", n->cfg.listen[i].port);
    for (int i = -1; n->admin && i < n->cfg.n_admin_also; i++) {
        const config_addr *a = i < 0 ? &n->cfg.admin : &n->cfg.admin_also[i];
        log_info("admin HTTP on http://%s%s%s:%u/ (/status, /metrics, /healthz)", strchr(a->host, ':') ? "[" : "",
                 a->host, strchr(a->host, ':') ? "]" : "", a->port);
    }
    log_info("kmsd " KMSHA_VERSION " node %s ready%s", n->cfg.node_id,
             n->config_path[0] ? "" : " (embedded defaults)");
    char sd_status[200];
    snprintf(sd_status, sizeof sd_status, "node %s serving, %zu live client records", n->cfg.node_id,
             clients_size(n->clients));
    sdnotify *sd = sdnotify_ready(n->base, sd_status); /* systemd: READY=1, watchdog pings */

    event_base_dispatch(n->base);
    sdnotify_free(&sd);

    /* The store first: it commits what is queued and runs the callbacks still owed, which
     * refer to connections and to the replication engine. */
    store_free(&n->store);
    ready_free(&n->ready);
    server_free(&n->server);
    admin_free(&n->admin);
    dns_free(&n->dns);
    repl_free(&n->repl);
    clients_free(&n->clients);
    event_free(d.sig_term);
    event_free(d.sig_int);
    event_free(d.sig_hup);
    event_free(d.prune_timer);
    event_free(d.clock_timer);
    event_free(d.log_bound_timer);
    if (d.stop_timer) event_free(d.stop_timer);
    event_base_free(n->base);
    audit_close();
    log_info("stopped");
    return 0;
}
