/* kmsbench.c: the load generator. Each activation is what a Windows client does: a new
 * TCP connection, bind offering NDR32+NDR64+BTFN, alter_context when NDR32 is refused, one
 * request, full verification of the response with proto/'s client side, close. Many
 * activations run at once on one libevent loop (closed loop: a fixed number in flight;
 * open loop: starts on a fixed timetable, latency measured from the scheduled start so
 * coordinated omission cannot hide it). Prints throughput, failures by cause and latency
 * percentiles; writes JSON and an HTML report on request. */
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "ops/kmsctl/srvlookup.h"
#include "proto/dnsmsg.h"
#include "proto/cursor.h"
#include "proto/errors.h"
#include "proto/kms.h"
#include "proto/products.h"
#include "proto/rpc.h"

#define CALL_ID 2                 /* Windows and vlmcs: bind, alter_context, request 1 */
#define BINDING_EXPIRATION 43200  /* minutes of grace left, as a client in OOB grace says */
#define LICENSE_STATUS_OOB 2
#define SLOT_BUF 1024             /* every PDU kmsd sends is < 400 bytes */
#define DEFAULT_PORT 1688

enum slot_state { S_IDLE = 0, S_CONNECT, S_BIND, S_ALTER, S_REQUEST };

typedef struct bench bench;

/* One activation in flight (slots are preallocated and reused). */
typedef struct slot {
    bench *b;
    int fd;
    enum slot_state state;
    struct event ev;        /* the socket, with the step's timeout */
    struct event kick;      /* closed loop: start the next activation on the next turn */
    bool ev_added;
    uint64_t start_us;      /* latency origin: scheduled start (open) or actual (closed) */
    uint64_t step_us;       /* start of the current step */
    bool measured;          /* started after the warm-up */
    uint64_t client;        /* client index */
    int product;            /* index into cfg.products */
    int protocol;
    int first_target, cur_target, tried;
    int ndr32_ctx, ndr64_ctx;
    kms_client_state kst;
    kms_guid cmid;
    size_t len;
    uint8_t buf[SLOT_BUF];
    struct slot *next_free;
} slot;

struct bench {
    bench_config cfg;
    bench_result res;
    struct event_base *base;
    const struct timeval *step_tv; /* common timeout of --timeout */
    struct event *tick;            /* once a second: series, progress, stop check */
    struct event *sched;           /* open loop timetable */
    struct event *drain_timer;
    struct event *sig_int, *sig_term;
    slot *slots;
    unsigned n_slots;
    slot *free_list;
    unsigned outstanding;
    uint64_t t0_us;               /* run start (monotonic) */
    uint64_t measure_us;          /* warm-up end = measurement start */
    uint64_t stop_us;             /* no starts at or after this (UINT64_MAX: none) */
    uint64_t seq;                 /* activations started (warm-up included) */
    uint64_t measured_started;
    uint64_t open_k;              /* open loop: index of the next scheduled start */
    bool stopping;                /* no new starts */
    bool done;
    uint64_t last_done_us;
    uint8_t *target_cache;        /* per client: the target that answered last */
    uint64_t rng;                 /* for IVs and the like: deterministic per run */
    /* series state */
    hist *sec_hist;
    uint64_t sec_cur;             /* index (0-based) of the second being filled */
    bench_second sec_acc;
    /* canned client PDUs: identical for every activation */
    uint8_t bind_pdu[256];
    size_t bind_len;
    uint8_t alter_pdu[128];
    size_t alter_len;
    rpc_bind_offer bind_offer, alter_offer;
};

/* ------------------------------------------------------------------ small helpers */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A deterministic 64-bit value for (seed, client index, purpose). */
static uint64_t mix3(uint64_t seed, uint64_t index, uint64_t purpose)
{
    uint64_t x = seed ^ (purpose * 0xD6E8FEB86659FD93ull);
    (void)splitmix64(&x);
    x ^= index;
    (void)splitmix64(&x);
    return splitmix64(&x);
}

/* The random source handed to proto/ (IVq): not secret here, only unique. */
static int bench_random(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *state = ctx;
    while (len > 0) {
        uint64_t v = splitmix64(state);
        size_t n = len < 8 ? len : 8;
        memcpy(buf, &v, n);
        buf += n;
        len -= n;
    }
    return 0;
}

void bench_tally_add(bench_tally *t, int64_t key)
{
    for (int i = 0; i < t->n; i++)
        if (t->key[i] == key) {
            t->count[i]++;
            return;
        }
    if (t->n < BENCH_MAX_HRESULTS) {
        t->key[t->n] = key;
        t->count[t->n] = 1;
        t->n++;
        return;
    }
    t->other++;
}

static const char *const cause_names[CAUSE_COUNT_] = {
    "refused", "timeout", "connection_closed", "rpc_fault", "hresult", "verification",
    "protocol", "count_below_n", "overload", "local",
};

const char *bench_cause_name(bench_cause c)
{
    return c < CAUSE_COUNT_ ? cause_names[c] : "unknown";
}

/* ------------------------------------------------------------------ clients */

/* The CMID of client i: derived from the seed and the index only, so a run can be
 * repeated and a second run renews the first run's clients. */
static void client_cmid(const bench_config *cfg, uint64_t i, kms_guid *g)
{
    uint64_t a = mix3(cfg->seed, i, 1), b = mix3(cfg->seed, i, 2);
    memcpy(g->b, &a, 8);
    memcpy(g->b + 8, &b, 8);
    g->b[7] = (uint8_t)((g->b[7] & 0x0F) | 0x40); /* version 4 (top nibble of Data3) */
    g->b[8] = (uint8_t)((g->b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
}

/* Each client is one installation: one product and one protocol for all its life. */
static int client_product(const bench_config *cfg, uint64_t i)
{
    if (cfg->n_products == 1) return 0;
    uint64_t w = mix3(cfg->seed, i, 3) % cfg->total_weight;
    for (int k = 0; k < cfg->n_products; k++) {
        if (w < cfg->products[k].weight) return k;
        w -= cfg->products[k].weight;
    }
    return cfg->n_products - 1;
}

static int client_protocol(const bench_config *cfg, uint64_t i, int product)
{
    if (cfg->protocol > 0) return cfg->protocol;
    if (cfg->protocol < 0) return 4 + (int)(mix3(cfg->seed, i, 4) % 3);
    return cfg->products[product].protocol;
}

static uint64_t filetime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return kms_filetime_from_unix((int64_t)ts.tv_sec) + (uint64_t)ts.tv_nsec / 100u;
}

/* ------------------------------------------------------------------ per-second series */

static void series_push(bench *b, const bench_second *s)
{
    bench_result *r = &b->res;
    if (r->n_series == r->cap_series) {
        size_t cap = r->cap_series ? r->cap_series * 2 : 64;
        bench_second *p = realloc(r->series, cap * sizeof *p);
        if (!p) return; /* the summary does not need the series */
        r->series = p;
        r->cap_series = cap;
    }
    r->series[r->n_series++] = *s;
}

/* Closes every whole second before now (relative to the measurement start). */
static void series_advance(bench *b, uint64_t now)
{
    if (now < b->measure_us) return;
    uint64_t sec = (now - b->measure_us) / 1000000u;
    /* What completes during the final wait belongs to the last second of the run, not to
     * a nearly empty extra second that would look like a collapse on a chart. */
    if (b->stop_us != UINT64_MAX) {
        uint64_t last = (b->stop_us - b->measure_us + 999999u) / 1000000u;
        if (last > 0 && sec > last - 1) sec = last - 1;
    }
    while (b->sec_cur < sec) {
        b->sec_acc.p50_us = hist_quantile(b->sec_hist, 0.50);
        b->sec_acc.p99_us = hist_quantile(b->sec_hist, 0.99);
        series_push(b, &b->sec_acc);
        memset(&b->sec_acc, 0, sizeof b->sec_acc);
        hist_reset(b->sec_hist);
        b->sec_cur++;
    }
}

/* Flushes the last, partial second (when it saw anything). */
static void series_finish(bench *b, uint64_t now)
{
    series_advance(b, now);
    if (b->sec_acc.ok || b->sec_acc.failed) {
        b->sec_acc.p50_us = hist_quantile(b->sec_hist, 0.50);
        b->sec_acc.p99_us = hist_quantile(b->sec_hist, 0.99);
        series_push(b, &b->sec_acc);
        memset(&b->sec_acc, 0, sizeof b->sec_acc);
    }
}

/* ------------------------------------------------------------------ activations */

static void start_activation(bench *b, slot *s, uint64_t start_us, bool measured);
static void slot_io_cb(evutil_socket_t fd, short what, void *arg);
static void maybe_finish_run(bench *b);

static bool may_start(const bench *b, uint64_t now)
{
    if (b->stopping) return false;
    if (now >= b->stop_us) return false;
    if (b->cfg.requests && b->measured_started >= b->cfg.requests) return false;
    return true;
}

static void slot_close(slot *s)
{
    if (s->ev_added) {
        event_del(&s->ev);
        s->ev_added = false;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

/* Records a failure that happened without a slot (open loop overload). */
static void record_failure(bench *b, bench_cause cause, uint64_t now)
{
    series_advance(b, now);
    b->res.failed++;
    b->res.by_cause[cause]++;
    b->sec_acc.failed++;
    b->last_done_us = now;
}

/* Ends the activation in s: cause < 0 is success. Frees the slot; in closed loop the next
 * activation starts on the next turn of the loop (never from inside this callback, so a
 * target that refuses at once cannot recurse). */
static void slot_finish(slot *s, int cause)
{
    bench *b = s->b;
    uint64_t now = now_us();
    slot_close(s);
    if (s->measured) {
        series_advance(b, now);
        if (cause < 0) {
            uint64_t lat = now > s->start_us ? now - s->start_us : 0;
            b->res.ok++;
            hist_record(b->res.latency, lat);
            hist_record(b->sec_hist, lat);
            b->sec_acc.ok++;
        } else {
            b->res.failed++;
            b->res.by_cause[cause]++;
            b->sec_acc.failed++;
        }
        b->last_done_us = now;
    }
    if (cause < 0 && b->target_cache)
        b->target_cache[s->client] = (uint8_t)s->cur_target;
    s->state = S_IDLE;
    b->outstanding--;
    if (b->cfg.rate > 0) {
        s->next_free = b->free_list;
        b->free_list = s;
    } else if (may_start(b, now)) {
        event_active(&s->kick, EV_TIMEOUT, 1);
    }
    maybe_finish_run(b);
}

static void slot_wait(slot *s, short what)
{
    bench *b = s->b;
    if (s->ev_added) event_del(&s->ev);
    event_assign(&s->ev, b->base, s->fd, what, slot_io_cb, s);
    event_add(&s->ev, b->step_tv);
    s->ev_added = true;
    s->step_us = now_us();
}

static void connect_target(slot *s);

/* The current target did not take the activation (refused, unreachable, timed out):
 * like Windows, move on to the next one; fail when every target was tried. */
static void target_failed(slot *s, bench_cause cause)
{
    bench *b = s->b;
    bench_target *t = &b->cfg.targets[s->cur_target];
    if (cause == CAUSE_REFUSED) t->refused++;
    else if (cause == CAUSE_TIMEOUT) t->timeouts++;
    else t->other++;
    slot_close(s);
    s->tried++;
    if (s->tried < b->cfg.n_targets && !b->done) {
        if (s->measured) b->res.failovers++;
        s->cur_target = (s->cur_target + 1) % b->cfg.n_targets;
        connect_target(s);
        return;
    }
    slot_finish(s, cause);
}

static void fail_local(slot *s, int err)
{
    if (s->measured) bench_tally_add(&s->b->res.local_errors, err);
    slot_finish(s, CAUSE_LOCAL);
}

static bool send_pdu(slot *s, const uint8_t *p, size_t n)
{
    /* The socket is fresh and the exchange lock-step, so the send buffer is empty and a
     * few hundred bytes always fit; a short write would be a local failure. */
    ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
    if (w == (ssize_t)n) return true;
    if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        target_failed(s, CAUSE_CLOSED); /* the host dropped us: the next host, as Windows */
        return false;
    }
    fail_local(s, w < 0 ? errno : EAGAIN);
    return false;
}

static void send_bind(slot *s)
{
    bench *b = s->b;
    s->len = 0;
    if (!send_pdu(s, b->bind_pdu, b->bind_len)) return;
    s->state = S_BIND;
    slot_wait(s, EV_READ | EV_PERSIST);
}

static void connect_target(slot *s)
{
    bench *b = s->b;
    bench_target *t = &b->cfg.targets[s->cur_target];
    t->attempts++;
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_local(s, errno);
        return;
    }
    s->fd = fd;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(fd, (const struct sockaddr *)&t->addr, t->addrlen);
    if (r == 0) {
        send_bind(s);
        return;
    }
    if (errno == EINPROGRESS || errno == EINTR) {
        s->state = S_CONNECT;
        slot_wait(s, EV_WRITE);
        return;
    }
    int e = errno;
    if (e == ECONNREFUSED || e == ENETUNREACH || e == EHOSTUNREACH) {
        target_failed(s, CAUSE_REFUSED);
        return;
    }
    if (e == ETIMEDOUT) {
        target_failed(s, CAUSE_TIMEOUT);
        return;
    }
    fail_local(s, e); /* EADDRNOTAVAIL: out of local ports, EMFILE ... */
}

static void send_request(slot *s)
{
    bench *b = s->b;
    const bench_product *p = &b->cfg.products[s->product];
    bool use64 = s->ndr32_ctx < 0;
    int ctx = use64 ? s->ndr64_ctx : s->ndr32_ctx;
    rpc_syntax syn = use64 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;

    kms_request req;
    memset(&req, 0, sizeof req);
    req.version_major = (uint16_t)s->protocol;
    req.license_status = LICENSE_STATUS_OOB;
    req.binding_expiration = BINDING_EXPIRATION;
    req.app_id = p->app_id;
    req.sku_id = p->sku_id;
    req.kms_id = p->kms_id;
    req.cmid = s->cmid;
    req.required_count = p->n_policy;
    req.client_time = filetime_now();
    char ws[32];
    snprintf(ws, sizeof ws, "bench-%07" PRIu64, s->client);
    kms_request_set_workstation(&req, ws);

    uint8_t msg[KMS_V56_REQUEST_LEN + 16];
    int n = kms_client_encode_request(&req, bench_random, &b->rng, &s->kst, msg, sizeof msg);
    if (n < 0) {
        fail_local(s, -n);
        return;
    }
    uint8_t pdu[KMS_V56_REQUEST_LEN + 64];
    int pn = rpc_client_encode_request(CALL_ID, (uint16_t)ctx, syn, msg, (size_t)n, pdu,
                                       sizeof pdu);
    if (pn < 0) {
        fail_local(s, -pn);
        return;
    }
    if (!send_pdu(s, pdu, (size_t)pn)) return;
    s->state = S_REQUEST;
    s->step_us = now_us();
    /* the read event stays armed; re-adding it restarts the step's timeout */
    event_add(&s->ev, b->step_tv);
}

static uint32_t fault_status_of(const uint8_t *pdu, size_t len)
{
    rcursor rc = rc_init(pdu, len);
    rc_skip(&rc, 24);
    uint32_t st = rc_u32(&rc);
    return rc.err ? 0 : st;
}

static void on_fault(slot *s, const uint8_t *pdu, size_t len)
{
    if (s->measured) bench_tally_add(&s->b->res.faults, fault_status_of(pdu, len));
    slot_finish(s, CAUSE_RPC_FAULT);
}

static void on_bind_answer(slot *s, const uint8_t *pdu, size_t len, const rpc_header *h)
{
    bench *b = s->b;
    if (h->ptype == RPC_PT_FAULT) {
        on_fault(s, pdu, len);
        return;
    }
    bool alter = s->state == S_ALTER;
    rpc_bind_result br;
    memset(&br, 0, sizeof br);
    int r = rpc_client_parse_bind_ack(pdu, len, CALL_ID, alter ? &b->alter_offer : &b->bind_offer,
                                      &br);
    if (r < 0) {
        if (s->measured) bench_tally_add(&b->res.verify_errors, r);
        slot_finish(s, CAUSE_PROTOCOL);
        return;
    }
    if (!alter) {
        s->ndr32_ctx = br.ndr32_ctx;
        s->ndr64_ctx = br.ndr64_ctx;
        if (s->ndr32_ctx < 0) {
            /* A Windows 8+ host refuses NDR32 when NDR64 is offered (spec 2.4): a Windows
             * client asks again for NDR32 alone and sends its first request over it. */
            if (!send_pdu(s, b->alter_pdu, b->alter_len)) return;
            s->state = S_ALTER;
            s->step_us = now_us();
            event_add(&s->ev, b->step_tv);
            return;
        }
    } else if (br.ndr32_ctx >= 0) {
        s->ndr32_ctx = br.ndr32_ctx;
    }
    if (s->ndr32_ctx < 0 && s->ndr64_ctx < 0) {
        slot_finish(s, CAUSE_PROTOCOL);
        return;
    }
    send_request(s);
}

static void on_response(slot *s, const uint8_t *pdu, size_t len)
{
    bench *b = s->b;
    bool use64 = s->ndr32_ctx < 0;
    int ctx = use64 ? s->ndr64_ctx : s->ndr32_ctx;
    const uint8_t *msg = NULL;
    size_t msg_len = 0;
    uint32_t hresult = 0, fstatus = 0;
    int r = rpc_client_parse_response(pdu, len, CALL_ID, (uint16_t)ctx,
                                      use64 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32, &msg,
                                      &msg_len, &hresult, &fstatus);
    if (r == KMS_EFAULT) {
        if (s->measured) bench_tally_add(&b->res.faults, fstatus);
        slot_finish(s, CAUSE_RPC_FAULT);
        return;
    }
    if (r < 0) {
        if (s->measured) bench_tally_add(&b->res.verify_errors, r);
        slot_finish(s, CAUSE_PROTOCOL);
        return;
    }
    if (hresult != 0) {
        if (s->measured) bench_tally_add(&b->res.hresults, hresult);
        slot_finish(s, CAUSE_HRESULT);
        return;
    }
    if (!b->cfg.verify) {
        slot_finish(s, -1);
        return;
    }
    kms_response resp;
    r = kms_client_decode_response(&s->kst, msg, msg_len, &resp);
    if (r == 0 && !kms_guid_equal(&resp.cmid, &s->cmid)) r = KMS_EECHO;
    if (r == 0 && resp.count == 0) r = KMS_EINVAL; /* a host counts the requesting client */
    if (r < 0) {
        if (s->measured) bench_tally_add(&b->res.verify_errors, r);
        slot_finish(s, CAUSE_VERIFICATION);
        return;
    }
    if (s->measured) {
        if (b->res.ok == 0 || resp.count < b->res.min_count) b->res.min_count = resp.count;
        if (resp.count > b->res.max_count) b->res.max_count = resp.count;
    }
    if (resp.count < b->cfg.products[s->product].n_policy) {
        /* A fresh host's first N-1 clients see count < N: normal, counted apart. */
        if (s->measured) b->res.count_below_n++;
        if (b->cfg.require_count) {
            slot_finish(s, CAUSE_COUNT_BELOW_N);
            return;
        }
    }
    slot_finish(s, -1);
}

static void on_readable(slot *s)
{
    for (;;) {
        ssize_t r = recv(s->fd, s->buf + s->len, sizeof s->buf - s->len, 0);
        if (r > 0) {
            s->len += (size_t)r;
            break;
        }
        if (r == 0) { /* the host closed before answering (killed, restarting): next host */
            target_failed(s, CAUSE_CLOSED);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == ECONNRESET || errno == EPIPE) target_failed(s, CAUSE_CLOSED);
        else slot_finish(s, CAUSE_LOCAL);
        return;
    }
    rpc_header h;
    int n = rpc_frame(s->buf, s->len, sizeof s->buf, &h);
    if (n == 0) {
        if (s->len == sizeof s->buf) slot_finish(s, CAUSE_PROTOCOL);
        return;
    }
    if (n < 0) {
        if (s->measured) bench_tally_add(&s->b->res.verify_errors, n);
        slot_finish(s, CAUSE_PROTOCOL);
        return;
    }
    /* The exchange is lock-step: the host sends exactly one PDU per PDU of ours, so any
     * byte beyond it is a protocol error, caught when the PDU is parsed below. */
    size_t pdu_len = (size_t)n;
    bool extra = s->len > pdu_len;
    s->len = 0;
    if (extra) {
        slot_finish(s, CAUSE_PROTOCOL);
        return;
    }
    switch (s->state) {
    case S_BIND:
    case S_ALTER:
        on_bind_answer(s, s->buf, pdu_len, &h);
        break;
    case S_REQUEST:
        if (h.ptype == RPC_PT_FAULT) on_fault(s, s->buf, pdu_len);
        else on_response(s, s->buf, pdu_len);
        break;
    default:
        slot_finish(s, CAUSE_PROTOCOL);
        break;
    }
}

static void slot_io_cb(evutil_socket_t fd, short what, void *arg)
{
    slot *s = arg;
    (void)fd;
    if (what & EV_TIMEOUT) {
        target_failed(s, CAUSE_TIMEOUT);
        return;
    }
    if (s->state == S_CONNECT) {
        s->ev_added = false; /* EV_WRITE without EV_PERSIST: no longer pending */
        int err = 0;
        socklen_t sl = sizeof err;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0) err = errno;
        if (err == 0) {
            send_bind(s);
            return;
        }
        if (err == ETIMEDOUT) target_failed(s, CAUSE_TIMEOUT);
        else if (err == ECONNREFUSED || err == ENETUNREACH || err == EHOSTUNREACH)
            target_failed(s, CAUSE_REFUSED);
        else fail_local(s, err);
        return;
    }
    on_readable(s);
}

/* Starts an activation in slot s (open loop: s is NULL and a free slot is taken). */
static void start_activation(bench *b, slot *s, uint64_t start_us, bool measured)
{
    if (!s) {
        s = b->free_list;
        if (!s) {
            /* Open loop: never more outstanding than asked; the skipped start fails. */
            if (measured) {
                b->res.attempted++;
                b->measured_started++;
                record_failure(b, CAUSE_OVERLOAD, now_us());
            }
            b->seq++;
            return;
        }
        b->free_list = s->next_free;
        s->next_free = NULL;
    }
    uint64_t i = b->seq++ % b->cfg.clients;
    if (measured) {
        b->res.attempted++;
        b->measured_started++;
    }
    b->outstanding++;
    s->measured = measured;
    s->start_us = start_us;
    s->client = i;
    s->product = client_product(&b->cfg, i);
    s->protocol = client_protocol(&b->cfg, i, s->product);
    client_cmid(&b->cfg, i, &s->cmid);
    s->first_target = b->target_cache ? b->target_cache[i] : 0;
    if (s->first_target >= b->cfg.n_targets) s->first_target = 0;
    s->cur_target = s->first_target;
    s->tried = 0;
    s->ndr32_ctx = s->ndr64_ctx = -1;
    s->len = 0;
    connect_target(s);
}

/* ------------------------------------------------------------------ run control */

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    slot *s = arg;
    bench *b = s->b;
    (void)fd;
    (void)what;
    uint64_t now = now_us();
    if (s->state != S_IDLE || !may_start(b, now)) {
        maybe_finish_run(b);
        return;
    }
    bool measured = now >= b->measure_us;
    start_activation(b, s, now, measured);
}

static void sched_arm(bench *b);

/* Open loop: starts every activation whose scheduled time has come, each with its
 * scheduled time as latency origin. */
static void sched_cb(evutil_socket_t fd, short what, void *arg)
{
    bench *b = arg;
    (void)fd;
    (void)what;
    uint64_t now = now_us();
    /* at most a batch per turn, so answers are read even when the timetable runs ahead */
    for (int batch = 0; batch < 256; batch++) {
        uint64_t due = b->t0_us + (uint64_t)((double)b->open_k * 1e6 / b->cfg.rate);
        if (due > now) break;
        if (!may_start(b, due)) {
            b->stopping = true;
            maybe_finish_run(b);
            return;
        }
        b->open_k++;
        start_activation(b, NULL, due, due >= b->measure_us);
        if (b->done) return;
    }
    sched_arm(b);
}

static void sched_arm(bench *b)
{
    uint64_t due = b->t0_us + (uint64_t)((double)b->open_k * 1e6 / b->cfg.rate);
    uint64_t now = now_us();
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000000u),
                         .tv_usec = (suseconds_t)(wait % 1000000u)};
    event_add(b->sched, &tv);
}

static void abort_outstanding(bench *b)
{
    for (unsigned i = 0; i < b->n_slots; i++) {
        slot *s = &b->slots[i];
        if (s->state != S_IDLE) slot_finish(s, CAUSE_TIMEOUT);
    }
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    bench *b = arg;
    (void)fd;
    (void)what;
    b->stopping = true;
    b->done = true; /* no failover from here on */
    abort_outstanding(b);
    event_base_loopbreak(b->base);
}

/* Called whenever something ends: once no more starts are allowed, waits for what is
 * outstanding (at most --timeout), then stops the loop. */
static void maybe_finish_run(bench *b)
{
    uint64_t now = now_us();
    /* open loop: the timetable alone decides when starts end (see sched_cb) */
    if (!b->stopping && b->cfg.rate <= 0 && !may_start(b, now)) b->stopping = true;
    if (!b->stopping) return;
    if (b->outstanding == 0) {
        if (!b->done) {
            b->done = true;
            event_base_loopbreak(b->base);
        }
        return;
    }
    if (!event_pending(b->drain_timer, EV_TIMEOUT, NULL)) {
        struct timeval tv = {.tv_sec = b->cfg.timeout_ms / 1000,
                             .tv_usec = (b->cfg.timeout_ms % 1000) * 1000};
        event_add(b->drain_timer, &tv);
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    bench *b = arg;
    (void)fd;
    (void)what;
    uint64_t now = now_us();
    size_t before = b->res.n_series;
    series_advance(b, now);
    if (b->cfg.progress) {
        if (now < b->measure_us) {
            fprintf(stderr, "[warm-up %4.0fs] outstanding %u\n", (double)(now - b->t0_us) / 1e6,
                    b->outstanding);
        } else if (b->res.n_series > before) {
            const bench_second *s = &b->res.series[b->res.n_series - 1];
            fprintf(stderr,
                    "[%5zus] %8" PRIu64 " act/s  p50 %7.2f ms  p99 %7.2f ms  failed %" PRIu64
                    "  outstanding %u  total %" PRIu64 "\n",
                    b->res.n_series, s->ok, (double)s->p50_us / 1000.0,
                    (double)s->p99_us / 1000.0, s->failed, b->outstanding, b->res.ok);
        }
    }
    maybe_finish_run(b);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    bench *b = arg;
    (void)what;
    if (b->stopping) {
        /* second signal: stop now */
        drain_cb(-1, 0, b);
        return;
    }
    fprintf(stderr, "kmsbench: %s: stopping, waiting for outstanding activations\n",
            sig == SIGINT ? "interrupted" : "terminated");
    b->res.interrupted = true;
    b->stopping = true;
    maybe_finish_run(b);
}

/* ------------------------------------------------------------------ options */

static void usage(FILE *out)
{
    fprintf(out,
"Usage: kmsbench [options] HOST[:PORT] [HOST[:PORT] ...]\n"
"Drives KMS activations like Windows clients at one or more KMS hosts and measures them.\n"
"Each activation: new TCP connection, bind (NDR32+NDR64+BTFN), alter_context if NDR32 was\n"
"refused, one request, full verification of the response, close.\n"
"\n"
"Targets:\n"
"  -t, --target HOST[:PORT]  a KMS host (repeatable; default port 1688); hosts are tried in\n"
"                            order, the next one when a host refuses or times out\n"
"      --no-sticky           start every activation at the first target (default: each\n"
"                            client starts at the host that answered it last, as Windows)\n"
"      --srv NAME --dns ADDR:PORT   find the hosts by DNS SRV (_vlmcs._tcp.ZONE) on that server\n"
"Load:\n"
"  -c, --concurrency C       closed loop: C activations in flight (default 16)\n"
"  -r, --rate R              open loop: R activation starts per second on a fixed timetable;\n"
"                            latency counts from the scheduled start\n"
"      --max-outstanding M   open loop: at most M in flight; a start beyond that fails as\n"
"                            \"overload\" (default 1000)\n"
"  -d, --duration S          measure for S seconds (default 10 unless --requests)\n"
"  -n, --requests N          measure N activations (with --duration: whichever ends first)\n"
"      --warmup S            run S seconds before measuring (not counted)\n"
"      --timeout MS          limit for each step of an activation (connect, bind, alter,\n"
"                            request) and for the final wait (default 5000)\n"
"Clients:\n"
"      --clients N           distinct client machines, CMIDs derived from --seed (default 1000);\n"
"                            activation k is made by client k mod N\n"
"      --seed X              seed of the CMIDs and of the product choice (default 1)\n"
"      --products LIST       SKU slugs with weights, e.g. win10-pro:70,office2019-proplus:20,\n"
"                            win7-pro:10 (default win10-pro); each client has one product\n"
"      --protocol 4|5|6|mix  KMS protocol (default: each product's usual one)\n"
"      --require-count       count a response with count < N as a failure (default: counted\n"
"                            apart as count_below_n; a fresh host's first N-1 clients see it)\n"
"      --no-verify           skip the cryptographic check of the response (only for the\n"
"                            floor measurement against kmsbench-floor)\n"
"Output:\n"
"      --progress            a progress line per second on stderr (default: when a terminal)\n"
"      --no-progress\n"
"      --json FILE           the summary and the per-second series as JSON\n"
"      --report FILE         a self-contained HTML report with charts\n"
"  -h, --help\n"
"\n"
"Exit status: 0 when every activation succeeded, 1 when any failed (or none was made),\n"
"2 on usage errors, 130 when stopped by SIGINT/SIGTERM (the summary is still written).\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kmsbench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(kmsbench --help for the options)\n");
    return 2;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || !*s || *s == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo) || !(v <= hi)) return false;
    *out = v;
    return true;
}

/* "host", "host:port", "[v6]:port", "v6" -> resolved target. */
static uint32_t srv_rand(void *ctx, uint32_t max)
{
    (void)ctx;
    return (uint32_t)((double)rand() / ((double)RAND_MAX + 1.0) * ((double)max + 1.0));
}

static int add_target(bench_config *cfg, const char *text)
{
    if (cfg->n_targets >= BENCH_MAX_TARGETS)
        return usage_error("too many targets (at most %d)", BENCH_MAX_TARGETS);
    char host[256];
    uint64_t port = DEFAULT_PORT;
    const char *colon = strrchr(text, ':');
    if (text[0] == '[') {
        const char *close_br = strchr(text, ']');
        if (!close_br || (size_t)(close_br - text - 1) >= sizeof host)
            return usage_error("bad target '%s'", text);
        memcpy(host, text + 1, (size_t)(close_br - text - 1));
        host[close_br - text - 1] = 0;
        if (close_br[1] == ':') {
            if (!parse_u64(close_br + 2, 1, 65535, &port))
                return usage_error("bad port in target '%s'", text);
        } else if (close_br[1]) {
            return usage_error("bad target '%s'", text);
        }
    } else if (colon && strchr(text, ':') == colon) {
        if ((size_t)(colon - text) >= sizeof host || colon == text)
            return usage_error("bad target '%s'", text);
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = 0;
        if (!parse_u64(colon + 1, 1, 65535, &port))
            return usage_error("bad port in target '%s'", text);
    } else {
        if (strlen(text) >= sizeof host) return usage_error("bad target '%s'", text);
        snprintf(host, sizeof host, "%s", text); /* a name, IPv4, or a bare IPv6 */
    }
    char serv[8];
    snprintf(serv, sizeof serv, "%u", (unsigned)port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(host, serv, &hints, &ai);
    if (gr != 0 || !ai)
        return usage_error("cannot resolve target '%s': %s", text, gai_strerror(gr));
    bench_target *t = &cfg->targets[cfg->n_targets];
    memset(t, 0, sizeof *t);
    memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
    t->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (strchr(host, ':')) snprintf(t->text, sizeof t->text, "[%s]:%u", host, (unsigned)port);
    else snprintf(t->text, sizeof t->text, "%s:%u", host, (unsigned)port);
    cfg->n_targets++;
    return 0;
}

static int set_product(bench_product *p, const kms_sku *sku, const kms_product *prod)
{
    kms_guid kms;
    if (sku) {
        if (kms_guid_parse(sku->app_id, &p->app_id) || kms_guid_parse(sku->id, &p->sku_id) ||
            kms_guid_parse(sku->kms_id, &kms))
            return -1;
        prod = products_find(&kms);
        p->n_policy = sku->n_policy;
    } else {
        if (kms_guid_parse(prod->id, &kms) || kms_guid_parse(products_app_id(prod->app), &p->app_id))
            return -1;
        memset(&p->sku_id, 0, sizeof p->sku_id);
        /* the first SKU of a counted ID names the edition, as kmsctl does */
        for (size_t i = 0; i < products_sku_count(); i++) {
            const kms_sku *s = products_sku_at(i);
            kms_guid k;
            if (s && kms_guid_parse(s->kms_id, &k) == 0 && kms_guid_equal(&k, &kms)) {
                (void)kms_guid_parse(s->id, &p->sku_id);
                break;
            }
        }
    }
    p->kms_id = kms;
    p->protocol = prod && prod->protocol >= 4 && prod->protocol <= 6 ? prod->protocol : 6;
    if (prod && p->n_policy == 0) p->n_policy = prod->n_policy;
    int app = products_app_from_id(&p->app_id);
    p->app = app >= 0 ? app : (prod ? (int)prod->app : 0);
    return 0;
}

/* "slug[:weight],..." */
static int parse_products(bench_config *cfg, const char *text)
{
    cfg->n_products = 0;
    cfg->total_weight = 0;
    char buf[2048];
    if (strlen(text) >= sizeof buf) return usage_error("--products: list too long");
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        if (cfg->n_products >= BENCH_MAX_PRODUCTS)
            return usage_error("--products: at most %d products", BENCH_MAX_PRODUCTS);
        uint64_t w = 1;
        char *colon = strchr(tok, ':');
        if (colon) {
            *colon = 0;
            if (!parse_u64(colon + 1, 0, 1000000, &w))
                return usage_error("--products: bad weight '%s' for %s", colon + 1, tok);
        }
        if (w == 0) continue;
        const kms_sku *sku = products_sku_find_slug(tok);
        kms_guid g;
        bool is_guid = kms_guid_parse(tok, &g) == 0;
        if (!sku && is_guid) sku = products_sku_find(&g);
        const kms_product *prod = NULL;
        if (!sku) {
            prod = products_find_slug(tok);
            if (!prod && is_guid) prod = products_find(&g);
        }
        if (!sku && !prod)
            return usage_error("--products: unknown product '%s' (see kmsctl products)", tok);
        bench_product *p = &cfg->products[cfg->n_products];
        memset(p, 0, sizeof *p);
        snprintf(p->slug, sizeof p->slug, "%s", tok);
        p->weight = (unsigned)w;
        if (set_product(p, sku, prod) < 0)
            return usage_error("--products: product '%s' has a bad table entry", tok);
        cfg->total_weight += p->weight;
        cfg->n_products++;
    }
    if (cfg->n_products == 0) return usage_error("--products: no product with a weight > 0");
    return 0;
}

enum {
    OPT_MAX_OUTSTANDING = 256, OPT_WARMUP, OPT_TIMEOUT, OPT_CLIENTS, OPT_SEED, OPT_PRODUCTS,
    OPT_PROTOCOL, OPT_REQUIRE_COUNT, OPT_NO_VERIFY, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_JSON,
    OPT_REPORT, OPT_SRV, OPT_DNS, OPT_NO_STICKY,
};

static int parse_args(bench_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {"concurrency", required_argument, NULL, 'c'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"max-outstanding", required_argument, NULL, OPT_MAX_OUTSTANDING},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"clients", required_argument, NULL, OPT_CLIENTS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"products", required_argument, NULL, OPT_PRODUCTS},
        {"protocol", required_argument, NULL, OPT_PROTOCOL},
        {"require-count", no_argument, NULL, OPT_REQUIRE_COUNT},
        {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"json", required_argument, NULL, OPT_JSON},
        {"report", required_argument, NULL, OPT_REPORT},
        {"srv", required_argument, NULL, OPT_SRV},
        {"dns", required_argument, NULL, OPT_DNS},
        {"no-sticky", no_argument, NULL, OPT_NO_STICKY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *srv = NULL, *dns = NULL, *products = "win10-pro";
    bool concurrency_given = false;
    int progress = -1;
    uint64_t u;
    int opt, r;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":t:c:r:d:n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            if ((r = add_target(cfg, optarg))) return r;
            break;
        case 'c':
            if (!parse_u64(optarg, 1, 100000, &u))
                return usage_error("--concurrency: want 1..100000, got '%s'", optarg);
            cfg->concurrency = (unsigned)u;
            concurrency_given = true;
            break;
        case 'r':
            if (!parse_double(optarg, 0.001, 10000000, &cfg->rate))
                return usage_error("--rate: want a rate > 0 per second, got '%s'", optarg);
            break;
        case 'd':
            if (!parse_double(optarg, 0.001, 86400 * 7, &cfg->duration_s))
                return usage_error("--duration: want seconds > 0, got '%s'", optarg);
            break;
        case 'n':
            if (!parse_u64(optarg, 1, UINT64_MAX / 2, &cfg->requests))
                return usage_error("--requests: want a count >= 1, got '%s'", optarg);
            break;
        case OPT_MAX_OUTSTANDING:
            if (!parse_u64(optarg, 1, 1000000, &u))
                return usage_error("--max-outstanding: want 1..1000000, got '%s'", optarg);
            cfg->max_outstanding = (unsigned)u;
            break;
        case OPT_WARMUP:
            if (!parse_double(optarg, 0, 86400, &cfg->warmup_s))
                return usage_error("--warmup: want seconds >= 0, got '%s'", optarg);
            break;
        case OPT_TIMEOUT:
            if (!parse_u64(optarg, 1, 3600000, &u))
                return usage_error("--timeout: want milliseconds 1..3600000, got '%s'", optarg);
            cfg->timeout_ms = (int)u;
            break;
        case OPT_CLIENTS:
            if (!parse_u64(optarg, 1, 1000000000, &cfg->clients))
                return usage_error("--clients: want 1..1000000000, got '%s'", optarg);
            break;
        case OPT_SEED:
            if (!parse_u64(optarg, 0, UINT64_MAX, &cfg->seed))
                return usage_error("--seed: want an unsigned integer, got '%s'", optarg);
            break;
        case OPT_PRODUCTS:
            products = optarg;
            break;
        case OPT_PROTOCOL:
            if (strcmp(optarg, "mix") == 0) cfg->protocol = -1;
            else if (parse_u64(optarg, 4, 6, &u)) cfg->protocol = (int)u;
            else return usage_error("--protocol: want 4, 5, 6 or mix, got '%s'", optarg);
            break;
        case OPT_REQUIRE_COUNT: cfg->require_count = true; break;
        case OPT_NO_VERIFY: cfg->verify = false; break;
        case OPT_PROGRESS: progress = 1; break;
        case OPT_NO_PROGRESS: progress = 0; break;
        case OPT_JSON: cfg->json_path = optarg; break;
        case OPT_REPORT: cfg->report_path = optarg; break;
        case OPT_SRV: srv = optarg; break;
        case OPT_DNS: dns = optarg; break;
        case OPT_NO_STICKY: cfg->sticky = false; break;
        case 'h':
            usage(stdout);
            exit(0);
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++)
        if ((r = add_target(cfg, argv[i]))) return r;

    if (srv || dns) {
        /* SRV discovery, once at start: the records of NAME on that DNS server only,
         * ordered as RFC 2782 says (lowest priority first, weighted random within one),
         * each target's addresses appended as hosts; the failover between hosts is then
         * the same as for hosts given by hand. One ordering serves the whole run. */
        if (!srv || !dns) return usage_error("--srv NAME and --dns ADDR:PORT go together");
        dnsmsg_srv recs[64];
        char err[256];
        int n = srvlookup_srv(dns, srv, 3000, recs, 64, err, sizeof err);
        if (n < 0) { fprintf(stderr, "kmsbench: SRV look-up of %s at %s failed: %s\n", srv, dns, err); return 1; }
        if (n == 0) { fprintf(stderr, "kmsbench: %s has no SRV records at %s\n", srv, dns); return 1; }
        srand((unsigned)time(NULL));
        dnsmsg_srv_order(recs, (size_t)n, srv_rand, NULL);
        for (int i = 0; i < n; i++) {
            char addrs[8][SRVLOOKUP_ADDR_LEN];
            int na = srvlookup_addrs(dns, recs[i].target, 3000, addrs, 8, err, sizeof err);
            if (na <= 0) { fprintf(stderr, "kmsbench: SRV target %s: %s\n", recs[i].target, na < 0 ? err : "no address"); continue; }
            for (int k = 0; k < na; k++) {
                char hp[SRVLOOKUP_ADDR_LEN + 16];
                snprintf(hp, sizeof hp, strchr(addrs[k], ':') ? "[%s]:%u" : "%s:%u", addrs[k], recs[i].port);
                if ((r = add_target(cfg, hp))) return r;
                fprintf(stderr, "kmsbench: SRV target %s (priority %u, weight %u) -> %s\n", recs[i].target,
                        recs[i].priority, recs[i].weight, hp);
            }
        }
    }
    if (cfg->n_targets == 0) return usage_error("no target: give HOST[:PORT] or --target");
    if (cfg->rate > 0 && concurrency_given)
        return usage_error("--rate (open loop) and --concurrency (closed loop) exclude each other");
    if (cfg->duration_s == 0 && cfg->requests == 0) cfg->duration_s = 10;
    if ((r = parse_products(cfg, products))) return r;
    cfg->progress = progress >= 0 ? progress == 1 : isatty(STDERR_FILENO) == 1;

    size_t off = 0;
    for (int i = 0; i < argc && off < sizeof cfg->command_line - 1; i++) {
        int n = snprintf(cfg->command_line + off, sizeof cfg->command_line - off, "%s%s",
                         i ? " " : "", argv[i]);
        if (n < 0) break;
        off += (size_t)n;
    }
    if (off >= sizeof cfg->command_line) off = sizeof cfg->command_line - 1;
    return 0;
}

/* ------------------------------------------------------------------ main */

static void raise_fd_limit(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t need = (rlim_t)want + 64;
    if (rl.rlim_cur >= need) return;
    rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
}

static int prepare(bench *b)
{
    bench_config *cfg = &b->cfg;
    b->bind_offer = (rpc_bind_offer){.ndr32 = true, .ndr64 = true, .btfn = true, .conc_mpx = true};
    b->alter_offer = (rpc_bind_offer){.ndr32 = true, .conc_mpx = true};
    int n = rpc_client_encode_bind(RPC_PT_BIND, CALL_ID, &b->bind_offer, b->bind_pdu,
                                   sizeof b->bind_pdu);
    int m = rpc_client_encode_bind(RPC_PT_ALTER_CONTEXT, CALL_ID, &b->alter_offer, b->alter_pdu,
                                   sizeof b->alter_pdu);
    if (n < 0 || m < 0) {
        fprintf(stderr, "kmsbench: cannot encode the bind: %s\n", kms_strerror(n < 0 ? n : m));
        return -1;
    }
    b->bind_len = (size_t)n;
    b->alter_len = (size_t)m;

    b->n_slots = cfg->rate > 0 ? cfg->max_outstanding : cfg->concurrency;
    raise_fd_limit(b->n_slots);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)b->n_slots + 16) {
        fprintf(stderr, "kmsbench: %u activations in flight need more file descriptors than "
                        "the limit of %llu\n", b->n_slots, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    b->slots = calloc(b->n_slots, sizeof *b->slots);
    b->res.latency = hist_new();
    b->sec_hist = hist_new();
    if (cfg->sticky && cfg->n_targets > 1) b->target_cache = calloc(cfg->clients, 1);
    if (!b->slots || !b->res.latency || !b->sec_hist ||
        (cfg->sticky && cfg->n_targets > 1 && !b->target_cache)) {
        fprintf(stderr, "kmsbench: out of memory\n");
        return -1;
    }
    struct event_config *ec = event_config_new();
    if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    b->base = ec ? event_base_new_with_config(ec) : event_base_new();
    if (ec) event_config_free(ec);
    if (!b->base) {
        fprintf(stderr, "kmsbench: cannot create the event loop\n");
        return -1;
    }
    struct timeval step = {.tv_sec = cfg->timeout_ms / 1000,
                           .tv_usec = (cfg->timeout_ms % 1000) * 1000};
    b->step_tv = event_base_init_common_timeout(b->base, &step);
    for (unsigned i = 0; i < b->n_slots; i++) {
        slot *s = &b->slots[i];
        s->b = b;
        s->fd = -1;
        event_assign(&s->kick, b->base, -1, 0, kick_cb, s);
        if (cfg->rate > 0) {
            s->next_free = b->free_list;
            b->free_list = s;
        }
    }
    b->tick = event_new(b->base, -1, EV_PERSIST, tick_cb, b);
    b->sched = evtimer_new(b->base, sched_cb, b);
    b->drain_timer = evtimer_new(b->base, drain_cb, b);
    b->sig_int = evsignal_new(b->base, SIGINT, signal_cb, b);
    b->sig_term = evsignal_new(b->base, SIGTERM, signal_cb, b);
    if (!b->tick || !b->sched || !b->drain_timer || !b->sig_int || !b->sig_term) {
        fprintf(stderr, "kmsbench: out of memory\n");
        return -1;
    }
    b->rng = cfg->seed ^ 0x6b6d7362656e6368ull ^ (uint64_t)getpid();
    return 0;
}

static void count_clients_by_app(bench *b)
{
    uint64_t used = b->seq < b->cfg.clients ? b->seq : b->cfg.clients;
    for (uint64_t i = 0; i < used; i++) {
        int app = b->cfg.products[client_product(&b->cfg, i)].app;
        if (app >= 0 && app < 3) b->res.clients_by_app[app]++;
    }
}

static void cleanup(bench *b)
{
    if (b->slots) {
        for (unsigned i = 0; i < b->n_slots; i++) slot_close(&b->slots[i]);
        free(b->slots);
    }
    if (b->tick) event_free(b->tick);
    if (b->sched) event_free(b->sched);
    if (b->drain_timer) event_free(b->drain_timer);
    if (b->sig_int) event_free(b->sig_int);
    if (b->sig_term) event_free(b->sig_term);
    if (b->base) event_base_free(b->base);
    hist_free(&b->res.latency);
    hist_free(&b->sec_hist);
    free(b->res.series);
    free(b->target_cache);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("kmsbench " KMSHA_VERSION "\n");
        return 0;
    }
    static bench b; /* large (slots are allocated, but the config holds the targets) */
    memset(&b, 0, sizeof b);
    bench_config *cfg = &b.cfg;
    cfg->concurrency = 16;
    cfg->max_outstanding = 1000;
    cfg->timeout_ms = 5000;
    cfg->clients = 1000;
    cfg->seed = 1;
    cfg->verify = true;
    cfg->sticky = true;
    int r = parse_args(cfg, argc, argv);
    if (r) return r;
    signal(SIGPIPE, SIG_IGN);
    if (prepare(&b) < 0) {
        cleanup(&b);
        return 2;
    }

    struct timespec wall;
    struct rusage ru0, ru;
    if (getrusage(RUSAGE_SELF, &ru0) != 0) memset(&ru0, 0, sizeof ru0);
    b.t0_us = now_us();
    clock_gettime(CLOCK_REALTIME, &wall);
    b.measure_us = b.t0_us + (uint64_t)(cfg->warmup_s * 1e6);
    b.res.started_unix = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9 + cfg->warmup_s;
    b.stop_us = cfg->duration_s > 0 ? b.measure_us + (uint64_t)(cfg->duration_s * 1e6) : UINT64_MAX;
    b.last_done_us = b.measure_us;

    struct timeval sec = {1, 0};
    /* the tick is aligned on the measurement start so each line is one whole second */
    event_add(b.tick, &sec);
    event_add(b.sig_int, NULL);
    event_add(b.sig_term, NULL);
    if (cfg->rate > 0) {
        sched_arm(&b);
    } else {
        for (unsigned i = 0; i < b.n_slots; i++) event_active(&b.slots[i].kick, EV_TIMEOUT, 1);
    }
    event_base_dispatch(b.base);

    uint64_t end = now_us();
    series_finish(&b, end);
    uint64_t last = b.last_done_us;
    if (b.stop_us != UINT64_MAX && b.stop_us > last && !b.res.interrupted) last = b.stop_us;
    if (last > end) last = end;
    b.res.elapsed_s = last > b.measure_us ? (double)(last - b.measure_us) / 1e6 : 0;
    count_clients_by_app(&b);
    b.res.run_s = (double)(end - b.t0_us) / 1e6;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        /* the run only: start-up (and a sanitizer's) costs are left out */
        b.res.cpu_user_s = (double)(ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                           (double)(ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
        b.res.cpu_sys_s = (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                          (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    }

    report_text(stdout, cfg, &b.res);
    int rc = b.res.failed ? 1 : 0;
    if (b.res.attempted == 0) rc = 1;
    if (b.res.interrupted) rc = 130; /* not a completed run, whatever it measured */
    if (cfg->json_path && report_json(cfg->json_path, cfg, &b.res) < 0) {
        fprintf(stderr, "kmsbench: cannot write %s: %s\n", cfg->json_path, strerror(errno));
        rc = rc ? rc : 1;
    }
    if (cfg->report_path && report_html(cfg->report_path, cfg, &b.res) < 0) {
        fprintf(stderr, "kmsbench: cannot write %s: %s\n", cfg->report_path, strerror(errno));
        rc = rc ? rc : 1;
    }
    cleanup(&b);
    return rc;
}
