/* dns_internal.h: what the DNS publisher's files (node/dns*.c) share and nobody else
 * sees: the publisher's state, a view (the look-ups and failure of one cycle or check), the
 * exchanges in flight, and the helpers one file keeps for the others. dns.h stays the
 * module's whole public API. Everything runs on the node's event loop. */
#ifndef KMSHA_DNS_INTERNAL_H
#define KMSHA_DNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/util.h>
#include <sys/socket.h>

#include "node/dns.h"
#include "node/resolver.h"
#include "proto/dnsmsg.h"

struct bufferevent;
struct event;

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
    dns_env env;              /* what the publisher uses of its node */
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

/* dns.c */
/* name as an absolute DNS name (trailing dot) in out. */
void dns_absolute(const char *in, char *out, size_t cap);

/* dns_publish.c: decisions */
/* The SRV record peer p should have in zone z. */
void dns_should_record(const dns *d, const peer_state *p, int z, dnsmsg_srv *out);
bool dns_same_srv(const dnsmsg_srv *a, const dnsmsg_srv *b);
/* Whether this node's own records should be published now (serving, not drained). */
bool dns_own_wanted(const dns *d);
/* Whether view v found peer p's family-f address records as they should be. */
bool dns_addrs_right(const view *v, const peer_state *ps, int p, int f);
bool dns_peer_alive(const dns *d, int i);
/* Whether this node is the lowest live id (the one that withdraws dead peers). */
bool dns_lowest_live(const dns *d);
/* Whether this node sees a majority of the nodes alive (*alive_out: how many). */
bool dns_sees_majority(const dns *d, int *alive_out);
bool dns_dead_long_enough(const dns *d, int i);
/* dns_publish.c: the cycle */
/* One exchange of view (c's, or the publisher's when c is NULL) is over (see there). */
void dns_settle(dns *d, dns_check *c, op_kind kind);
/* Frees o and settles its exchange. */
void dns_op_done(op *o);
/* The end of a publishing cycle: counts, logs, schedules the next. */
void dns_cycle_end(dns *d);
/* The publisher's timer (tick and kick). */
void dns_tick_cb(evutil_socket_t fd, short what, void *arg);

/* dns_lookup.c */
void dns_note_failure(view *v, int reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int dns_ares_reason(int status);
const char *dns_ares_reason_text(int status);
op *dns_new_op(dns *d, dns_check *c, op_kind kind, int zone, int peer, int fam);
/* Queues the SRV look-ups of every zone and the address look-ups of the peers in want_addr
 * for c (or the publisher when c is NULL). */
void dns_start_lookups(dns *d, dns_check *c, const bool *want_addr);

/* dns_update.c */
/* Sends one UPDATE per zone that needs a change (the publisher's view). */
void dns_send_updates(dns *d);
/* Sends the leave's deletes once no cycle runs. */
void dns_leave_send(dns *d);

/* dns_probe.c */
void dns_start_probe(dns *d, int i);
void dns_cancel_probe(peer_state *p);
/* Whether this node may withdraw peer i's records now. */
bool dns_may_withdraw(const dns *d, int i);

/* dns_drain.c: reads the drain state of a node starting (DATA_DIR/drained). */
void dns_drain_load(dns *d, const char *data_dir, const char *node_id);

/* dns_status.c */
void dns_json_string(struct evbuffer *b, const char *s);
void dns_json_srv(struct evbuffer *b, const dnsmsg_srv *s);

/* dns_check.c: answers a check whose look-ups are over. */
void dns_check_finish(dns_check *c);

#endif
