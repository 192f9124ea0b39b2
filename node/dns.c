/* dns.c: the DNS publisher of a node (see dns.h).
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
 *
 * c-ares runs on the node's libevent loop through node/resolver.h (the one c-ares driver,
 * also used by kmsctl's look-ups); the channel only ever talks to [dns] server (no
 * resolv.conf servers, no search list, no recursion). */
#include "node/dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <netdb.h>
#include <sys/socket.h>

#include "node/log.h"
#include "node/ready.h"
#include "node/resolver.h"
#include "proto/clock.h"
#include "proto/dnsmsg.h"
#include "proto/errors.h"
#include "proto/json.h"
#include "proto/rpc.h"
#include "replication/repl.h"

#define DNS_MAX_RECORDS 32    /* SRV records kept per zone look-up */
#define DNS_MAX_ADDRS 8       /* addresses kept per name look-up */
#define DNS_UPDATE_MAX 4096   /* bytes of one UPDATE message */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define LOG_REPEAT_MS 60000   /* the same failure is logged again after this */
#define TICK_MS 500

/* Failure reasons, for kmsha_dns_failures_total{reason}. */
enum reason {
    R_TIMEOUT, R_CONNREFUSED, R_REFUSED, R_NOTAUTH, R_BADSIG, R_BADKEY, R_BADTIME, R_SERVFAIL,
    R_NOTZONE, R_FORMERR, R_UNSIGNED, R_MALFORMED, R_OTHER, R_COUNT
};
static const char *const reason_names[R_COUNT] = {
    "timeout", "connrefused", "refused", "notauth", "badsig", "badkey", "badtime", "servfail",
    "notzone", "formerr", "unsigned", "malformed", "other"};

/* Address families of a derived target's records: [0] A, [1] AAAA. */
#define N_FAMS 2
static const uint16_t fam_type[N_FAMS] = {DNSMSG_T_A, DNSMSG_T_AAAA};
static const char *const fam_name[N_FAMS] = {"A", "AAAA"};
static const size_t fam_len[N_FAMS] = {4, 16};

enum { PROBE_NONE, PROBE_UP, PROBE_DOWN };
struct probe;

typedef struct peer_state {
    config_peer cfg;
    bool self;
    double dead_since_ms;      /* monotonic; 0 = alive */
    bool withdrawn;            /* this node deleted its records since it died */
    /* The probe of its KMS port (a DCE/RPC bind only: nothing is counted) that must fail
     * before this node withdraws it. */
    struct probe *probe;       /* in flight, or NULL */
    int probe_result;          /* PROBE_NONE, PROBE_UP, PROBE_DOWN (since it died) */
    double probe_done_ms;      /* monotonic */
    bool logged_minority, logged_up;
    struct sockaddr_storage kms_sa;  /* its KMS address, resolved at start */
    int kms_salen;             /* 0: cannot be probed (name did not resolve) */
    char target[256];          /* SRV target, absolute */
    bool derived;              /* target is ID.<first zone>, with address records */
    struct {
        int n;
        uint8_t addr[CONFIG_MAX_PEER_ADDRS][16];
    } fam[N_FAMS];             /* when derived: its kms addresses, A then AAAA (dual-stack: both) */
} peer_state;

/* The A or AAAA records one look-up found for a derived target. */
typedef struct addrs_found {
    uint8_t addr[DNS_MAX_ADDRS][16];
    int n;
    bool asked, done;
} addrs_found;

/* What one round of look-ups found. */
typedef struct view {
    struct {
        dnsmsg_srv rec[DNS_MAX_RECORDS];
        int n;
        bool done;
        char error[160];
    } zone[CONFIG_MAX_DNS_ZONES];
    addrs_found peer[CONFIG_MAX_PEERS][N_FAMS];
    int inflight;
    bool failed;
    int reason;
    char error[256];
} view;

typedef struct zone_state {
    config_dns_zone cfg;
    dnsmsg_srv own[4];   /* this node's records there, per the last look-up or update */
    int n_own;
    bool known;
    int64_t checked_ms;
} zone_state;

struct dns_check {
    dns *d;
    dns_check_fn done;
    void *arg;
    bool cancelled;
    view v;
    dns_check *next;
};

struct dns {
    node *n;
    bool enabled;
    bool drained;
    bool destroying;
    char drained_path[CONFIG_PATH_MAX + 16];
    char server_text[300];
    dnsmsg_key key;
    int n_zones;
    zone_state zones[CONFIG_MAX_DNS_ZONES];
    int n_peers, self;
    peer_state peers[CONFIG_MAX_PEERS];

    resolver *res;            /* the channel to [dns] server */
    struct event *tick, *kick;

    /* the publisher */
    view pub;
    bool busy;
    bool withdraw_now[CONFIG_MAX_PEERS]; /* snapshot of the running cycle */
    bool own_should;                     /* the running cycle publishes (not drained) */
    double next_cycle_ms;
    bool again;           /* run a cycle as soon as none is running (drain, a dead peer) */
    double verify_at_ms;  /* one more look soon after start (see dns_new) */
    double backoff_ms;
    bool failing, ever_ok;
    int logged_state;  /* 1 published, 2 withdrawn: logged when it changes */
    char last_error[256];
    int64_t last_error_ms, last_success_ms;
    double next_retry_mono;
    uint16_t next_id;

    /* counters */
    uint64_t updates_ok, updates_failed, failures[R_COUNT];
    /* log rate limit */
    char logged_error[256];
    double logged_ms;
    unsigned suppressed;

    dns_check *checks;

    /* leaving (SIGTERM): this node's records are deleted, then done runs */
    bool leaving;
    int leave_inflight;
    struct event *leave_timer;
    double leave_started_ms;
    void (*leave_done)(void *arg);
    void *leave_arg;
};

typedef struct probe {
    dns *d;
    int peer;
    struct bufferevent *bev;
    uint8_t got[16];
    size_t n_got;
} probe;

typedef enum op_kind { OP_SRV, OP_ADDR, OP_UPDATE } op_kind;

typedef struct op {
    dns *d;
    dns_check *check; /* NULL: the publisher */
    op_kind kind;
    int zone, peer, fam;
    uint8_t mac[DNSMSG_MAC_LEN];
} op;

static void start_cycle(dns *d);
static void check_finish(dns_check *c);
static void leave_send(dns *d);

/* ---- small helpers ------------------------------------------------------------------------ */

static void put_evbuffer(void *ctx, const char *p, size_t n) { evbuffer_add(ctx, p, n); }
static void json_string(struct evbuffer *b, const char *s) { json_write_str(s, put_evbuffer, b); }

static void json_srv(struct evbuffer *b, const dnsmsg_srv *s)
{
    evbuffer_add_printf(b, "{\"priority\":%u,\"weight\":%u,\"port\":%u,\"target\":", s->priority,
                        s->weight, s->port);
    json_string(b, s->target);
    evbuffer_add(b, "}", 1);
}

static void addr_text(uint16_t type, const uint8_t *a, char *out, size_t cap)
{
    if (!inet_ntop(type == DNSMSG_T_AAAA ? AF_INET6 : AF_INET, a, out, (socklen_t)cap)) snprintf(out, cap, "?");
}

/* "name" -> "name." */
static void absolute(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    snprintf(out, cap, "%s%s", in, n && in[n - 1] == '.' ? "" : ".");
}

/* The SRV record peer p should have in zone z. */
static void should_record(const dns *d, const peer_state *p, int z, dnsmsg_srv *out)
{
    memset(out, 0, sizeof *out);
    out->priority = config_srv_priority(&d->n->cfg, &d->zones[z].cfg, &p->cfg);
    out->weight = (uint16_t)(p->cfg.weight > 65535 ? 65535 : p->cfg.weight);
    out->port = p->cfg.kms.port;
    /* A bounded copy, not snprintf: gcc 12 at -O2 cannot tell that the peer's target and
     * the record are distinct objects and fails the build with -Werror=restrict. */
    size_t n = strnlen(p->target, sizeof out->target - 1);
    memcpy(out->target, p->target, n);
    out->target[n] = 0;
}

static bool same_srv(const dnsmsg_srv *a, const dnsmsg_srv *b)
{
    return a->priority == b->priority && a->weight == b->weight && a->port == b->port &&
           dnsmsg_name_equal(a->target, b->target);
}

/* Should this node's own records be in DNS now? */
static bool own_wanted(const dns *d)
{
    return !d->drained && !d->leaving && ready_serving(d->n->ready);
}

/* Does the look-up of peer p's family f records (v) hold exactly its addresses? */
static bool addrs_right(const view *v, const peer_state *ps, int p, int f)
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

static bool peer_alive(const dns *d, int i)
{
    if (d->peers[i].self) return true;
    return d->n->repl && repl_peer_alive(d->n->repl, d->peers[i].cfg.id);
}

/* Is this node the lowest id among the live nodes (the one that withdraws dead peers)? */
static bool lowest_live(const dns *d)
{
    for (int i = 0; i < d->n_peers; i++)
        if (i != d->self && peer_alive(d, i) && strcmp(d->peers[i].cfg.id, d->peers[d->self].cfg.id) < 0)
            return false;
    return true;
}

/* Does this node see a strict majority of the cluster alive (itself included)? A cluster
 * of one or two nodes has no majority without every node: there the probe alone decides. */
static bool sees_majority(const dns *d, int *alive_out)
{
    int alive = 0;
    for (int i = 0; i < d->n_peers; i++)
        if (peer_alive(d, i)) alive++;
    if (alive_out) *alive_out = alive;
    return d->n_peers <= 2 || 2 * alive > d->n_peers;
}

/* Milliseconds since this node last heard peer i (monotonic; -1 when unknown). */
static double silent_ms(const dns *d, int i)
{
    return d->n->repl ? repl_peer_silent_ms(d->n->repl, d->peers[i].cfg.id) : -1;
}

/* The withdrawal rule: peer i is dead and has not been heard for dead_after_ms +
 * withdraw_after. Measured from the last heartbeat, not from when this node noticed the
 * death: a peer never heard since this node started (a whole cluster restarting, a peer
 * slow to connect) must not lose its records withdraw_after after this node's start. */
static bool dead_long_enough(const dns *d, int i)
{
    if (d->peers[i].self || peer_alive(d, i)) return false;
    double silent = silent_ms(d, i);
    return silent >= 0 && silent >= (double)d->n->cfg.dead_after_ms + (double)d->n->cfg.dns_withdraw_after * 1000;
}


/* ---- probing a silent peer's KMS port ------------------------------------------------------ */

static void probe_finish(probe *pr, int result, const char *why)
{
    dns *d = pr->d;
    peer_state *p = &d->peers[pr->peer];
    if (pr->bev) bufferevent_free(pr->bev);
    p->probe = NULL;
    p->probe_result = result;
    p->probe_done_ms = node_mono_ms();
    if (result == PROBE_UP) {
        if (!p->logged_up)
            log_warnx("dns: peer %s is silent on replication but its KMS port %s:%u answers a bind: keeping its "
                      "records (replication ports blocked?)", p->cfg.id, p->cfg.kms.host, p->cfg.kms.port);
        p->logged_up = true;
    } else {
        log_info("dns: peer %s: its KMS port %s:%u does not answer (%s)", p->cfg.id, p->cfg.kms.host,
                 p->cfg.kms.port, why);
        d->again = true; /* withdraw it now */
        struct timeval now = {0, 0};
        evtimer_add(d->kick, &now);
    }
    free(pr);
}

static void probe_read_cb(struct bufferevent *bev, void *arg)
{
    probe *pr = arg;
    pr->n_got += bufferevent_read(bev, pr->got + pr->n_got, sizeof pr->got - pr->n_got);
    if (pr->n_got < sizeof pr->got) return;
    /* A DCE/RPC header: version 5.0, bind_ack or bind_nak: a KMS host is there. */
    bool rpc = pr->got[0] == 5 && pr->got[1] == 0 && (pr->got[2] == RPC_PT_BIND_ACK || pr->got[2] == RPC_PT_BIND_NAK);
    probe_finish(pr, rpc ? PROBE_UP : PROBE_DOWN, rpc ? "" : "not a DCE/RPC bind answer");
}

static void probe_event_cb(struct bufferevent *bev, short what, void *arg)
{
    probe *pr = arg;
    if (what & BEV_EVENT_CONNECTED) {
        uint8_t pdu[256];
        rpc_bind_offer offer = {.ndr32 = true};
        int n = rpc_client_encode_bind(RPC_PT_BIND, 1, &offer, pdu, sizeof pdu);
        if (n < 0 || bufferevent_write(bev, pdu, (size_t)n) != 0) probe_finish(pr, PROBE_DOWN, "cannot send a bind");
        return;
    }
    const char *why = (what & BEV_EVENT_TIMEOUT) ? "no answer within timeout_ms"
                    : (what & BEV_EVENT_EOF) ? "closed without answering"
                    : "connection refused or unreachable";
    probe_finish(pr, PROBE_DOWN, why);
}

/* Connects to peer i's KMS port and sends a bind (no request: nothing is stored or
 * counted); bounded by timeout_ms, on the event loop. */
static void start_probe(dns *d, int i)
{
    peer_state *p = &d->peers[i];
    if (p->probe) return;
    if (!p->kms_salen) { /* unresolvable: cannot prove it dead */
        if (!p->logged_up) log_warnx("dns: peer %s: kms address %s cannot be probed (not resolved at start): keeping its records",
                                     p->cfg.id, p->cfg.kms.host);
        p->logged_up = true;
        p->probe_result = PROBE_UP;
        p->probe_done_ms = node_mono_ms();
        return;
    }
    probe *pr = calloc(1, sizeof *pr);
    if (!pr) return;
    pr->d = d;
    pr->peer = i;
    pr->bev = bufferevent_socket_new(d->n->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!pr->bev) { free(pr); return; }
    p->probe = pr;
    bufferevent_setcb(pr->bev, probe_read_cb, NULL, probe_event_cb, pr);
    struct timeval tv = {d->n->cfg.dns_timeout_ms / 1000, (d->n->cfg.dns_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(pr->bev, &tv, &tv);
    bufferevent_enable(pr->bev, EV_READ);
    if (bufferevent_socket_connect(pr->bev, (struct sockaddr *)&p->kms_sa, p->kms_salen) != 0)
        probe_finish(pr, PROBE_DOWN, "connect failed");
}

static void cancel_probe(peer_state *p)
{
    if (!p->probe) return;
    bufferevent_free(p->probe->bev);
    free(p->probe);
    p->probe = NULL;
}

/* May this node withdraw dead peer i now? It must be the lowest live node, see a majority,
 * and the peer's KMS port must have failed the probe. */
static bool may_withdraw(const dns *d, int i)
{
    const peer_state *p = &d->peers[i];
    return lowest_live(d) && sees_majority(d, NULL) && !p->withdrawn && dead_long_enough(d, i) &&
           p->probe_result == PROBE_DOWN;
}

/* ---- failures ------------------------------------------------------------------------------ */

static void note_failure(view *v, int reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note_failure(view *v, int reason, const char *fmt, ...)
{
    if (v->failed) return; /* the first failure explains the cycle */
    v->failed = true;
    v->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->error, sizeof v->error, fmt, ap);
    va_end(ap);
}

static int ares_reason(int status)
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

static const char *ares_reason_text(int status)
{
    switch (status) {
    case ARES_ETIMEOUT: return "timeout: no answer";
    case ARES_ECONNREFUSED: return "connection refused";
    case ARES_EREFUSED: return "REFUSED";
    case ARES_ESERVFAIL: return "SERVFAIL";
    default: return ares_strerror(status);
    }
}

/* ---- look-ups ---------------------------------------------------------------------------------- */

static view *view_of(op *o) { return o->check ? &o->check->v : &o->d->pub; }

static void op_done(op *o);

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
                absolute(s->host, r->target, sizeof r->target);
            }
            ares_free_data(srv);
            v->zone[o->zone].done = true;
        } else if (rc == ARES_ENODATA) {
            v->zone[o->zone].done = true;
        } else {
            snprintf(v->zone[o->zone].error, sizeof v->zone[o->zone].error, "malformed SRV answer: %s", ares_strerror(rc));
            note_failure(v, R_MALFORMED, "look-up of _vlmcs._tcp.%s SRV: malformed answer (%s)", zone, ares_strerror(rc));
        }
    } else if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
        v->zone[o->zone].done = true; /* no records */
    } else {
        snprintf(v->zone[o->zone].error, sizeof v->zone[o->zone].error, "%s", ares_reason_text(status));
        note_failure(v, ares_reason(status), "%s from %s looking up _vlmcs._tcp.%s SRV",
                     ares_reason_text(status), d->server_text, zone);
    }
    op_done(o);
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
        else note_failure(v, R_MALFORMED, "look-up of %s: malformed answer (%s)", p->target, ares_strerror(rc));
    } else if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
        found->done = true;
    } else {
        note_failure(v, ares_reason(status), "%s from %s looking up %s %s", ares_reason_text(status),
                     d->server_text, p->target, fam_name[o->fam]);
    }
    op_done(o);
}

static op *new_op(dns *d, dns_check *c, op_kind kind, int zone, int peer, int fam)
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
static void start_lookups(dns *d, dns_check *c, const bool *want_addr)
{
    view *v = c ? &c->v : &d->pub;
    char name[300];
    for (int z = 0; z < d->n_zones; z++) {
        op *o = new_op(d, c, OP_SRV, z, -1, 0);
        if (!o) { note_failure(v, R_OTHER, "out of memory"); continue; }
        snprintf(name, sizeof name, "_vlmcs._tcp.%s", d->zones[z].cfg.name);
        name[strlen(name) - 1] = 0; /* c-ares takes the name without the root dot */
        resolver_query(d->res, name, DNSMSG_C_IN, DNSMSG_T_SRV, srv_cb, o);
    }
    for (int i = 0; i < d->n_peers; i++) {
        if (!want_addr[i] || !d->peers[i].derived) continue;
        for (int f = 0; f < N_FAMS; f++) {
            op *o = new_op(d, c, OP_ADDR, 0, i, f);
            if (!o) { note_failure(v, R_OTHER, "out of memory"); continue; }
            v->peer[i][f].asked = true;
            snprintf(name, sizeof name, "%s", d->peers[i].target);
            name[strlen(name) - 1] = 0;
            resolver_query(d->res, name, DNSMSG_C_IN, fam_type[f], addr_cb, o);
        }
    }
}

/* ---- updates ----------------------------------------------------------------------------------- */

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
        snprintf(err, errlen, "%s from %s updating zone %s", ares_reason_text(status), d->server_text, zone);
        return ares_reason(status);
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
        note_failure(v, reason, "%s", err);
    } else {
        d->updates_ok++;
        /* The zone now holds what this node wanted. */
        zone_state *zs = &d->zones[o->zone];
        zs->n_own = 0;
        if (d->own_should) should_record(d, &d->peers[d->self], o->zone, &zs->own[zs->n_own++]);
        zs->known = true;
        zs->checked_ms = clock_wall_ms();
    }
    op_done(o);
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
    should_record(d, me, z, &want);
    bool have = false;
    for (int i = 0; i < v->zone[z].n; i++) {
        const dnsmsg_srv *r = &v->zone[z].rec[i];
        bool mine = dnsmsg_name_equal(r->target, me->target);
        bool dead_peer = false;
        for (int p = 0; p < d->n_peers; p++)
            if (d->withdraw_now[p] && dnsmsg_name_equal(r->target, d->peers[p].target)) dead_peer = true;
        if (mine && d->own_should && same_srv(r, &want) && !have) {
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
        dnsmsg_rr_srv(&rr, owner, d->n->cfg.dns_ttl, want.priority, want.weight, want.port, want.target);
        dnsmsg_update_add(&u, &rr);
        (*changes)++;
    }
    if (z == 0) { /* address records of derived names live in the first zone */
        for (int p = 0; p < d->n_peers; p++) {
            const peer_state *ps = &d->peers[p];
            for (int f = 0; f < N_FAMS && ps->derived; f++) {
                if (!v->peer[p][f].asked) continue;
                bool want_addr = p == d->self && d->own_should;
                if (want_addr ? addrs_right(v, ps, p, f) : v->peer[p][f].n == 0) continue;
                if (v->peer[p][f].n > 0) {
                    dnsmsg_update_delete_rrset(&u, ps->target, fam_type[f]);
                    (*changes)++;
                }
                for (int i = 0; want_addr && i < ps->fam[f].n; i++) {
                    dnsmsg_rr_addr(&rr, ps->target, d->n->cfg.dns_ttl, fam_type[f], ps->fam[f].addr[i]);
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

static void send_updates(dns *d)
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
            note_failure(v, R_OTHER, "cannot build the update of zone %s: %s", d->zones[z].cfg.name, kms_strerror(len));
            continue;
        }
        if (len == 0) continue;
        op *o = new_op(d, NULL, OP_UPDATE, z, -1, 0);
        if (!o) { note_failure(v, R_OTHER, "out of memory"); continue; }
        int slen = dnsmsg_tsig_sign(buf, (size_t)len, sizeof buf, &d->key, NULL, 0, (uint64_t)time(NULL),
                                    DNSMSG_FUDGE, o->mac);
        if (slen < 0) {
            note_failure(v, R_OTHER, "cannot sign the update of zone %s: %s", d->zones[z].cfg.name, kms_strerror(slen));
            v->inflight--;
            free(o);
            continue;
        }
        log_debug("dns: zone %s: sending an update of %d changes", d->zones[z].cfg.name, changes);
        resolver_send(d->res, buf, slen, update_cb, o);
    }
}

/* ---- the cycle -------------------------------------------------------------------------------- */

static void log_failure(dns *d, const char *error)
{
    double now = node_mono_ms();
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

static void cycle_end(dns *d)
{
    view *v = &d->pub;
    double now = node_mono_ms();
    d->busy = false;
    if (d->leaving) { /* SIGTERM came while this cycle ran */
        if (d->leave_done && !d->leave_inflight) leave_send(d);
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
    d->next_cycle_ms = now + (double)d->n->cfg.dns_refresh_interval * 1000;
    d->next_retry_mono = 0;
}

/* One exchange of a view is over: when it was the last, the look-ups lead to the updates,
 * the updates to the end of the cycle, and a check's look-ups to its answer. Callers that
 * queue several exchanges hold one count themselves while queueing (c-ares may call back
 * before ares_query/ares_send return) and settle it afterwards. */
static void settle(dns *d, dns_check *c, op_kind kind)
{
    view *v = c ? &c->v : &d->pub;
    if (--v->inflight > 0) return;
    if (c) {
        check_finish(c);
        return;
    }
    if (kind != OP_UPDATE && !v->failed) {
        v->inflight++;
        send_updates(d);
        settle(d, NULL, OP_UPDATE);
        return;
    }
    cycle_end(d);
}

static void op_done(op *o)
{
    dns *d = o->d;
    dns_check *c = o->check;
    op_kind kind = o->kind;
    free(o);
    settle(d, c, kind);
}

static void start_cycle(dns *d)
{
    if (d->busy || !d->enabled || d->destroying || d->leaving) return;
    d->busy = true;
    d->again = false; /* this cycle sees the latest state */
    memset(&d->pub, 0, sizeof d->pub);
    /* Published only while serving: not while catching up (node/ready.h). */
    d->own_should = !d->drained && ready_serving(d->n->ready);
    bool want_addr[CONFIG_MAX_PEERS] = {false};
    for (int i = 0; i < d->n_peers; i++) {
        /* Once per death: a peer that is back but not heard from yet may have published
         * again, and must not lose its records to every later cycle of this node. */
        d->withdraw_now[i] = may_withdraw(d, i);
        want_addr[i] = i == d->self || d->withdraw_now[i];
    }
    d->pub.inflight = 1; /* held while queueing (see settle) */
    start_lookups(d, NULL, want_addr);
    settle(d, NULL, OP_SRV);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns *d = arg;
    double now = node_mono_ms();
    if (d->leaving) return;
    bool lowest = lowest_live(d);
    int alive = 0;
    bool majority = sees_majority(d, &alive);
    for (int i = 0; i < d->n_peers; i++) {
        peer_state *p = &d->peers[i];
        if (p->self) continue;
        if (peer_alive(d, i)) {
            if (p->dead_since_ms > 0 && p->withdrawn) log_info("dns: peer %s is back; it publishes its records itself", p->cfg.id);
            p->dead_since_ms = 0;
            p->withdrawn = false;
            cancel_probe(p);
            p->probe_result = PROBE_NONE;
            p->logged_minority = p->logged_up = false;
            continue;
        }
        if (p->dead_since_ms == 0) p->dead_since_ms = now;
        if (!lowest || p->withdrawn || !dead_long_enough(d, i)) continue;
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
            (p->probe_result == PROBE_UP && now - p->probe_done_ms >= (double)d->n->cfg.dns_withdraw_after * 1000))
            start_probe(d, i);
        else if (p->probe_result == PROBE_DOWN && !d->failing && !d->busy)
            d->again = true; /* withdraw it now, once (while failing, the backoff decides) */
    }
    if (d->verify_at_ms > 0 && now >= d->verify_at_ms && !d->failing) {
        d->verify_at_ms = 0;
        d->again = true;
    }
    if (!d->busy && !d->n->stopping && (d->again || now >= d->next_cycle_ms)) start_cycle(d);
}

/* ---- life cycle ---------------------------------------------------------------------------------- */

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
        absolute(p->cfg.target, p->target, sizeof p->target);
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
        absolute(p->cfg.kms.host, p->target, sizeof p->target);
    }
    uint8_t w[DNSMSG_WIRE_NAME_MAX];
    if (dnsmsg_name_to_wire(p->target, w) < 0) {
        snprintf(err, errlen, "[peer.%s] target: '%s' is not a DNS name", p->cfg.id, p->target);
        return KMS_ECONFIG;
    }
    return 0;
}

dns *dns_new(node *n, char *err, size_t errlen)
{
    err[0] = 0;
    dns *d = calloc(1, sizeof *d);
    if (!d) { snprintf(err, errlen, "out of memory"); return NULL; }
    d->n = n;
    d->backoff_ms = BACKOFF_MIN_MS;
    d->next_id = (uint16_t)(getpid() ^ time(NULL));
    snprintf(d->drained_path, sizeof d->drained_path, "%s/drained", n->cfg.data_dir);
    struct stat st;
    d->drained = stat(d->drained_path, &st) == 0;
    if (d->drained) log_info("drained (%s exists): this node's DNS records stay withdrawn; kmsctl undrain %s to publish them",
                             d->drained_path, n->cfg.node_id);

    const kmsd_config *cfg = &n->cfg;
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
    d->res = resolver_new(n->base, server.host, server.port, (int)cfg->dns_timeout_ms,
                          ARES_FLAG_NOCHECKRESP | ARES_FLAG_NORECURSE, rerr, sizeof rerr);
    if (!d->res) {
        snprintf(err, errlen, "[dns] server %s: %s", d->server_text, rerr);
        dns_free(&d);
        return NULL;
    }
    d->tick = event_new(n->base, -1, EV_PERSIST, tick_cb, d);
    d->kick = evtimer_new(n->base, tick_cb, d);
    if (!d->tick || !d->kick) { snprintf(err, errlen, "out of memory"); dns_free(&d); return NULL; }
    d->enabled = true;
    /* A node back from the dead publishes at once, but its peers notice it only with its
     * heartbeats: one of them may withdraw its records meanwhile. So it looks again when
     * they must have seen it alive. */
    if (d->n_peers > 1) d->verify_at_ms = node_mono_ms() + cfg->dead_after_ms + 2000;
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
    for (int i = 0; i < d->n_peers; i++) cancel_probe(&d->peers[i]);
    memset(&d->key, 0, sizeof d->key);
    free(d);
    *self_p = NULL;
}

/* ---- leaving (SIGTERM) and the catch-up gate ------------------------------------------------ */

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
             d->n->cfg.dns_timeout_ms);
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
                 d->n_zones == 1 ? "" : "s", node_mono_ms() - d->leave_started_ms);
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
        should_record(d, me, z, &want);
        if (dnsmsg_rr_srv(&rr, owner, 0, want.priority, want.weight, want.port, want.target) == 0)
            dnsmsg_update_delete_rr(&u, &rr);
        const zone_state *zs = &d->zones[z];
        for (int i = 0; i < zs->n_own; i++)
            if (!same_srv(&zs->own[i], &want) &&
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
    d->leave_started_ms = node_mono_ms();
    d->leave_timer = evtimer_new(d->n->base, leave_timeout_cb, d);
    for (int i = 0; i < d->n_peers; i++) cancel_probe(&d->peers[i]);
    /* A cycle in flight may have an UPDATE adding this node's record on its way: the
     * withdrawal goes after its answer (cycle_end), or the server could apply them in
     * the other order. */
    if (!d->busy) leave_send(d);
}

/* Sends the withdrawal; its answers (or timeout_ms) end the leave. */
static void leave_send(dns *d)
{
    struct timeval tv = {d->n->cfg.dns_timeout_ms / 1000, (d->n->cfg.dns_timeout_ms % 1000) * 1000};
    if (d->leave_timer) evtimer_add(d->leave_timer, &tv);
    send_leave(d);
    if (d->leave_inflight == 0) leave_finish(d, "nothing to withdraw before stopping");
}

void dns_serving_changed(dns *d)
{
    if (!d || !d->enabled || d->leaving) return;
    d->again = true;
    struct timeval now = {0, 0};
    evtimer_add(d->kick, &now);
}

/* ---- drain ------------------------------------------------------------------------------------------ */

bool dns_drained(const dns *d) { return d && d->drained; }

int dns_set_drained(dns *d, bool drained)
{
    if (!d) return KMS_EINVAL;
    if (drained) {
        /* A small file; no fsync on the event loop (a crash right after may lose it). */
        int fd = open(d->drained_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return KMS_EIO;
        static const char text[] = "drained: kmsctl undrain publishes this node's DNS records again\n";
        bool ok = write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1);
        if (close(fd) != 0) ok = false;
        if (!ok) return KMS_EIO;
    } else if (unlink(d->drained_path) != 0 && errno != ENOENT) {
        return KMS_EIO;
    }
    if (d->drained != drained)
        log_info("%s: %s", drained ? "drained" : "undrained",
                 !d->enabled ? "DNS publishing is off" : drained ? "withdrawing this node's DNS records" : "publishing this node's DNS records");
    d->drained = drained;
    if (d->enabled) {
        d->again = true; /* at once (after a cycle in flight), whatever the backoff */
        struct timeval now = {0, 0};
        evtimer_add(d->kick, &now);
    }
    return 0;
}

/* ---- /status and /metrics ------------------------------------------------------------------------ */

static const char *state_text(const dns *d, char *buf, size_t cap)
{
    if (!d->enabled) return "off";
    if (d->failing) { snprintf(buf, cap, "failing: %s", d->last_error); return buf; }
    if (d->leaving) return "withdrawn (stopping)";
    if (!d->ever_ok) return "pending";
    if (d->drained) return "withdrawn (drained)";
    return ready_serving(d->n->ready) ? "published" : "withdrawn (catching up)";
}

void dns_status_json(const dns *d, struct evbuffer *b)
{
    if (!d) return;
    char buf[320];
    evbuffer_add_printf(b, ",\"dns\":{\"enabled\":%s,\"state\":", d->enabled ? "true" : "false");
    json_string(b, state_text(d, buf, sizeof buf));
    evbuffer_add_printf(b, ",\"drained\":%s", d->drained ? "true" : "false");
    if (!d->enabled) { evbuffer_add(b, "}", 1); return; }
    const peer_state *me = &d->peers[d->self];
    evbuffer_add_printf(b, ",\"server\":");
    json_string(b, d->server_text);
    evbuffer_add_printf(b, ",\"key\":");
    json_string(b, d->key.name);
    evbuffer_add_printf(b, ",\"target\":");
    json_string(b, me->target);
    evbuffer_add_printf(b, ",\"ttl\":%u,\"zones\":[", d->n->cfg.dns_ttl);
    for (int z = 0; z < d->n_zones; z++) {
        const zone_state *zs = &d->zones[z];
        dnsmsg_srv want;
        should_record(d, me, z, &want);
        evbuffer_add_printf(b, "%s{\"zone\":", z ? "," : "");
        json_string(b, zs->cfg.name);
        evbuffer_add_printf(b, ",\"site\":");
        json_string(b, zs->cfg.site);
        evbuffer_add_printf(b, ",\"should\":[");
        if (own_wanted(d)) json_srv(b, &want);
        evbuffer_add_printf(b, "],\"published\":");
        if (!zs->known) {
            evbuffer_add_printf(b, "null");
        } else {
            evbuffer_add(b, "[", 1);
            for (int i = 0; i < zs->n_own; i++) {
                if (i) evbuffer_add(b, ",", 1);
                json_srv(b, &zs->own[i]);
            }
            evbuffer_add(b, "]", 1);
        }
        bool ok = zs->known && (!own_wanted(d) ? zs->n_own == 0 : zs->n_own == 1 && same_srv(&zs->own[0], &want));
        evbuffer_add_printf(b, ",\"ok\":%s,\"checked_ms\":%" PRId64 "}", ok ? "true" : "false", zs->checked_ms);
    }
    evbuffer_add_printf(b, "],\"withdrawn_peers\":[");
    int k = 0;
    for (int p = 0; p < d->n_peers; p++) {
        if (!d->peers[p].withdrawn) continue;
        if (k++) evbuffer_add(b, ",", 1);
        json_string(b, d->peers[p].cfg.id);
    }
    double now = node_mono_ms();
    evbuffer_add_printf(b, "],\"withdraws_dead_peers\":%s,\"last_error\":", lowest_live(d) && sees_majority(d, NULL) ? "true" : "false");
    json_string(b, d->last_error);
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
    const char *id = d->n->cfg.node_id;
    evbuffer_add_printf(b, "# HELP kmsha_dns_drained Whether this node is drained (its DNS records withdrawn).\n"
                           "# TYPE kmsha_dns_drained gauge\nkmsha_dns_drained{node=\"%s\"} %d\n", id, d->drained ? 1 : 0);
    if (!d->enabled) return;
    evbuffer_add_printf(b, "# HELP kmsha_dns_published Whether this node's SRV record is in the zone as it should be (1) "
                           "or not (0), by the last look-up or update.\n# TYPE kmsha_dns_published gauge\n");
    for (int z = 0; z < d->n_zones; z++) {
        const zone_state *zs = &d->zones[z];
        dnsmsg_srv want;
        should_record(d, &d->peers[d->self], z, &want);
        bool on = zs->known && zs->n_own >= 1 && same_srv(&zs->own[0], &want);
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

/* ---- the check (GET /dns) ------------------------------------------------------------------------- */

int dns_check_start(dns *d, dns_check_fn done, void *arg, dns_check **out)
{
    *out = NULL;
    if (!d->enabled) {
        struct evbuffer *b = evbuffer_new();
        if (!b) return KMS_ENOMEM;
        evbuffer_add_printf(b, "{\"node\":");
        json_string(b, d->n->cfg.node_id);
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
    start_lookups(d, c, want_addr);
    if (c->v.inflight == 1) { /* every look-up failed at once: done runs now */
        settle(d, c, OP_SRV);
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
    double now = node_mono_ms();
    bool all_ok = !v->failed;
    evbuffer_add_printf(b, "{\"node\":");
    json_string(b, d->n->cfg.node_id);
    evbuffer_add_printf(b, ",\"enabled\":true,\"server\":");
    json_string(b, d->server_text);
    evbuffer_add_printf(b, ",\"error\":");
    json_string(b, v->failed ? v->error : "");
    evbuffer_add_printf(b, ",\"zones\":[");
    for (int z = 0; z < d->n_zones; z++) {
        evbuffer_add_printf(b, "%s{\"zone\":", z ? "," : "");
        json_string(b, d->zones[z].cfg.name);
        evbuffer_add_printf(b, ",\"site\":");
        json_string(b, d->zones[z].cfg.site);
        evbuffer_add_printf(b, ",\"looked_up\":%s,\"error\":", v->zone[z].done ? "true" : "false");
        json_string(b, v->zone[z].error);
        evbuffer_add_printf(b, ",\"records\":[");
        order_entry published[DNS_MAX_RECORDS], intended[DNS_MAX_RECORDS];
        bool seen[CONFIG_MAX_PEERS] = {false};
        int n_order = 0, unknown = 0;
        for (int i = 0; i < v->zone[z].n; i++) {
            const dnsmsg_srv *r = &v->zone[z].rec[i];
            evbuffer_add_printf(b, "%s{\"priority\":%u,\"weight\":%u,\"port\":%u,\"target\":", i ? "," : "",
                                r->priority, r->weight, r->port);
            json_string(b, r->target);
            evbuffer_add_printf(b, ",\"peer\":");
            int owner = -1;
            for (int p = 0; p < d->n_peers; p++)
                if (dnsmsg_name_equal(r->target, d->peers[p].target)) owner = p;
            if (owner >= 0) json_string(b, d->peers[owner].cfg.id);
            else evbuffer_add_printf(b, "null");
            evbuffer_add(b, "}", 1);
            if (owner < 0) {
                unknown++; /* no node of this cluster: a removed node's leftover */
            } else if (!seen[owner]) {
                seen[owner] = true;
                dnsmsg_srv want;
                should_record(d, &d->peers[owner], z, &want);
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
        json_string(b, pub_order);
        evbuffer_add_printf(b, ",\"intended_order\":");
        json_string(b, want_order);
        evbuffer_add_printf(b, ",\"peers\":[");
        for (int p = 0; p < d->n_peers; p++) {
            const peer_state *ps = &d->peers[p];
            bool alive = peer_alive(d, p);
            const char *expect = ps->self ? (own_wanted(d) ? "present" : "absent")
                               : alive ? "present" : ps->withdrawn ? "absent" : "either";
            dnsmsg_srv want;
            should_record(d, ps, z, &want);
            int matching = 0, others = 0;
            for (int i = 0; i < v->zone[z].n; i++) {
                const dnsmsg_srv *r = &v->zone[z].rec[i];
                if (!dnsmsg_name_equal(r->target, ps->target)) continue;
                if (same_srv(r, &want)) matching++;
                else others++;
            }
            bool ok = !strcmp(expect, "present") ? matching == 1 && others == 0
                    : !strcmp(expect, "absent") ? matching + others == 0 : true;
            evbuffer_add_printf(b, "%s{\"id\":", p ? "," : "");
            json_string(b, ps->cfg.id);
            evbuffer_add_printf(b, ",\"self\":%s,\"alive\":%s,\"drained\":%s,\"expect\":\"%s\",\"should\":",
                                ps->self ? "true" : "false", alive ? "true" : "false",
                                ps->self ? (d->drained ? "true" : "false") : "null", expect);
            json_srv(b, &want);
            evbuffer_add_printf(b, ",\"found\":%d,\"stale\":%d", matching, others);
            if (!alive && !ps->self && ps->dead_since_ms > 0)
                evbuffer_add_printf(b, ",\"dead_s\":%.0f", (now - ps->dead_since_ms) / 1000);
            if (z == 0 && ps->derived && v->peer[p][0].asked) {
                /* its A and AAAA records: should = its kms addresses (both families for
                 * a dual-stack node), found = what the server holds */
                char text[INET6_ADDRSTRLEN];
                bool right = true;
                evbuffer_add_printf(b, ",\"address\":{\"name\":");
                json_string(b, ps->target);
                for (int pass = 0; pass < 2; pass++) {
                    evbuffer_add_printf(b, pass ? ",\"found\":[" : ",\"should\":[");
                    int k = 0;
                    for (int f = 0; f < N_FAMS; f++) {
                        int n = pass ? v->peer[p][f].n : ps->fam[f].n;
                        for (int i = 0; i < n; i++) {
                            addr_text(fam_type[f], pass ? v->peer[p][f].addr[i] : ps->fam[f].addr[i], text, sizeof text);
                            if (k++) evbuffer_add(b, ",", 1);
                            json_string(b, text);
                        }
                        if (pass) right &= addrs_right(v, ps, p, f);
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

static void check_finish(dns_check *c)
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
