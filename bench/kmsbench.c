/* kmsbench.c: the load generator. Each activation is what a Windows client does: a new
 * TCP connection, then proto/kmsclient.h's activation state machine (bind offering
 * NDR32+NDR64+BTFN, alter_context when NDR32 is refused, one request, full verification of
 * the response), close. Many activations run at once on one libevent loop per thread
 * (--threads; closed loop: a fixed number in flight; open loop: starts on a fixed
 * timetable, latency measured from the scheduled start so coordinated omission cannot
 * hide it); each thread keeps its own counters and histograms, merged at the end (the
 * per-second series as each second closes on every thread). Connections close with
 * SO_LINGER 0 by default, so tens of thousands of TIME_WAIT sockets cannot slow the
 * generator's own connects down; --source spreads them over local addresses. Prints
 * throughput, failures by cause and latency percentiles; writes JSON and an HTML report
 * on request. */
#define _GNU_SOURCE /* IP_BIND_ADDRESS_NO_PORT */
#include <arpa/inet.h>
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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "ops/kmsctl/srvlookup.h"
#include "proto/clock.h"
#include "proto/dnsmsg.h"
#include "proto/errors.h"
#include "proto/kms.h"
#include "proto/kmsclient.h"
#include "proto/products.h"
#include "proto/rpc.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* Linux 4.2 */
#endif

#define BINDING_EXPIRATION 43200  /* minutes of grace left, as a client in OOB grace says */
#define LICENSE_STATUS_OOB 2
#define DEFAULT_PORT 1688
#define SERIES_RING 16            /* seconds of the series open at once across threads */

enum slot_state { S_IDLE = 0, S_CONNECT, S_EXCHANGE };

typedef struct bench bench;
typedef struct worker worker;

/* One activation in flight (slots are preallocated and reused). */
typedef struct slot {
    worker *w;
    int fd;
    enum slot_state state;
    struct event ev;        /* the socket, with the step's timeout */
    struct event kick;      /* closed loop: start the next activation on the next turn */
    bool ev_added;
    uint64_t start_us;      /* latency origin: scheduled start (open) or actual (closed) */
    bool measured;          /* started after the warm-up */
    bool answered;          /* the host answered a PDU on this connection */
    uint64_t client;        /* client index */
    int product;            /* index into cfg.products */
    int protocol;
    int cur_target, tried;
    kmsc m;                 /* the activation's state machine */
    struct slot *next_free;
} slot;

/* One thread: its event loop, its slots, its counters. */
struct worker {
    bench *b;
    unsigned id;
    struct event_base *base;
    const struct timeval *step_tv; /* common timeout of --timeout */
    struct event *tick;            /* once a second: series, progress, stop check */
    struct event *sched;           /* open loop timetable */
    struct event *drain_timer;
    struct event *sig_int, *sig_term; /* worker 0 only */
    slot *slots;
    unsigned n_slots;
    slot *free_list;
    unsigned outstanding;          /* read by other threads for the progress line */
    unsigned concurrency;          /* closed loop: this thread's share */
    uint64_t open_k;               /* open loop: this thread's next start (global index k*N+id) */
    bool stopping, done;
    uint64_t last_done_us;
    bench_result res;              /* this thread's counters (series: see bench) */
    bench_target tstat[BENCH_MAX_TARGETS]; /* counters per target */
    hist *sec_hist;
    uint64_t sec_cur;              /* index of the second being filled */
    bench_second sec_acc;
    uint64_t rng;                  /* IVs: deterministic per run and thread */
    unsigned next_source;
    pthread_t thread;
};

/* One second of the series, gathered from every thread before it is final. */
typedef struct series_slot {
    bool used, final_close;
    uint64_t index;
    unsigned closed;               /* threads that closed it */
    bench_second s;
    hist *h;
} series_slot;

struct bench {
    bench_config cfg;
    bench_result res;              /* merged at the end */
    uint64_t t0_us;                /* run start (monotonic) */
    uint64_t measure_us;           /* warm-up end = measurement start */
    uint64_t stop_us;              /* no starts at or after this (UINT64_MAX: none) */
    _Atomic uint64_t seq;          /* activations started (warm-up included) */
    _Atomic uint64_t measured_claimed; /* measured starts (for --requests) */
    _Atomic int stop_now;          /* 1: a signal asked to stop starting; 2: stop at once */
    _Atomic uint64_t last_done_us;
    uint8_t *target_cache;         /* per client: the target that answered last */
    worker *workers;
    unsigned n_workers;
    pthread_mutex_t series_mu;     /* guards ring, next_final, res.series */
    series_slot ring[SERIES_RING];
    uint64_t next_final;           /* next second of the series to finish */
    uint64_t series_total;         /* activations in the finished seconds (progress) */
};

/* ------------------------------------------------------------------ small helpers */

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

static void tally_add_n(bench_tally *t, int64_t key, uint64_t n)
{
    for (int i = 0; i < t->n; i++)
        if (t->key[i] == key) {
            t->count[i] += n;
            return;
        }
    if (t->n < BENCH_MAX_HRESULTS) {
        t->key[t->n] = key;
        t->count[t->n] = n;
        t->n++;
        return;
    }
    t->other += n;
}

void bench_tally_add(bench_tally *t, int64_t key)
{
    tally_add_n(t, key, 1);
}

void bench_tally_merge(bench_tally *dst, const bench_tally *src)
{
    for (int i = 0; i < src->n; i++) tally_add_n(dst, src->key[i], src->count[i]);
    dst->other += src->other;
}

static const char *const cause_names[CAUSE_COUNT_] = {
    "refused", "timeout", "connection_closed", "rpc_fault", "hresult", "verification",
    "protocol", "count_below_n", "overload", "local", "dropped",
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

/* Finishes the oldest open second (series_mu held): percentiles of every thread's
 * activations in it, the progress line. A second that only the end of the run closed and
 * that saw nothing is left out (it would look like a collapse on a chart). */
static void series_finalize_one(bench *b, series_slot *sl)
{
    bench_second s = sl->s;
    s.p50_us = hist_quantile(sl->h, 0.50);
    s.p99_us = hist_quantile(sl->h, 0.99);
    bool keep = !(sl->final_close && s.ok == 0 && s.failed == 0);
    if (keep) {
        series_push(b, &s);
        b->series_total += s.ok;
        if (b->cfg.progress) {
            unsigned out = 0;
            for (unsigned i = 0; i < b->n_workers; i++)
                out += __atomic_load_n(&b->workers[i].outstanding, __ATOMIC_RELAXED);
            fprintf(stderr,
                    "[%5zus] %8" PRIu64 " act/s  p50 %7.2f ms  p99 %7.2f ms  failed %" PRIu64
                    "  outstanding %u  total %" PRIu64 "\n",
                    b->res.n_series, s.ok, (double)s.p50_us / 1000.0, (double)s.p99_us / 1000.0,
                    s.failed, out, b->series_total);
        }
    }
    hist_reset(sl->h);
    sl->used = false;
    sl->final_close = false;
    sl->closed = 0;
    memset(&sl->s, 0, sizeof sl->s);
    b->next_final++;
}

/* A thread hands in its share of second `index`; the second is final once every thread
 * has handed in (threads close seconds in order, so seconds finish in order). */
static void series_close(worker *w, uint64_t index, bool final_close)
{
    bench *b = w->b;
    pthread_mutex_lock(&b->series_mu);
    /* a thread far behind must not make the ring overflow: finish what it holds up */
    while (b->next_final + SERIES_RING <= index) {
        series_slot *old = &b->ring[b->next_final % SERIES_RING];
        if (old->used && old->index == b->next_final) series_finalize_one(b, old);
        else b->next_final++;
    }
    if (index >= b->next_final) {
        series_slot *sl = &b->ring[index % SERIES_RING];
        if (!sl->used) {
            sl->used = true;
            sl->index = index;
        }
        sl->s.ok += w->sec_acc.ok;
        sl->s.failed += w->sec_acc.failed;
        hist_merge(sl->h, w->sec_hist);
        sl->closed++;
        if (final_close) sl->final_close = true;
    }
    for (;;) {
        series_slot *sl = &b->ring[b->next_final % SERIES_RING];
        if (!sl->used || sl->index != b->next_final || sl->closed < b->n_workers) break;
        series_finalize_one(b, sl);
    }
    pthread_mutex_unlock(&b->series_mu);
    memset(&w->sec_acc, 0, sizeof w->sec_acc);
    hist_reset(w->sec_hist);
}

/* Closes every whole second before now (relative to the measurement start). */
static void series_advance(worker *w, uint64_t now)
{
    bench *b = w->b;
    if (now < b->measure_us) return;
    uint64_t sec = (now - b->measure_us) / 1000000u;
    /* What completes during the final wait belongs to the last second of the run, not to
     * a nearly empty extra second that would look like a collapse on a chart. */
    if (b->stop_us != UINT64_MAX) {
        uint64_t last = (b->stop_us - b->measure_us + 999999u) / 1000000u;
        if (last > 0 && sec > last - 1) sec = last - 1;
    }
    while (w->sec_cur < sec) {
        series_close(w, w->sec_cur, false);
        w->sec_cur++;
    }
}

/* Hands in the last, partial second of this thread. */
static void series_finish(worker *w, uint64_t now)
{
    series_advance(w, now);
    series_close(w, w->sec_cur, true);
    w->sec_cur++;
}

/* ------------------------------------------------------------------ activations */

static void start_activation(worker *w, slot *s, uint64_t start_us, bool measured);
static void slot_io_cb(evutil_socket_t fd, short what, void *arg);
static void maybe_finish_run(worker *w);

static bool may_start(const worker *w, uint64_t now)
{
    const bench *b = w->b;
    if (w->stopping || atomic_load_explicit(&b->stop_now, memory_order_relaxed)) return false;
    if (now >= b->stop_us) return false;
    if (b->cfg.requests &&
        atomic_load_explicit(&b->measured_claimed, memory_order_relaxed) >= b->cfg.requests &&
        now >= b->measure_us)
        return false;
    return true;
}

static void slot_close(slot *s)
{
    if (s->ev_added) {
        event_del(&s->ev);
        s->ev_added = false;
    }
    if (s->fd >= 0) {
        close(s->fd); /* SO_LINGER 0 (default): RST, no TIME_WAIT left behind */
        s->fd = -1;
    }
}

static void note_done(worker *w, uint64_t now)
{
    w->last_done_us = now;
}

/* Records a failure that happened without a slot (open loop overload). */
static void record_failure(worker *w, bench_cause cause, uint64_t now)
{
    series_advance(w, now);
    w->res.failed++;
    w->res.by_cause[cause]++;
    w->sec_acc.failed++;
    note_done(w, now);
}

/* Ends the activation in s: cause < 0 is success. Frees the slot; in closed loop the next
 * activation starts on the next turn of the loop (never from inside this callback, so a
 * target that refuses at once cannot recurse). */
static void slot_finish(slot *s, int cause)
{
    worker *w = s->w;
    bench *b = w->b;
    uint64_t now = clock_mono_us();
    slot_close(s);
    if (s->measured) {
        series_advance(w, now);
        if (cause < 0) {
            uint64_t lat = now > s->start_us ? now - s->start_us : 0;
            w->res.ok++;
            hist_record(w->res.latency, lat);
            hist_record(w->sec_hist, lat);
            w->sec_acc.ok++;
            w->tstat[s->cur_target].ok++;
        } else {
            w->res.failed++;
            w->res.by_cause[cause]++;
            w->sec_acc.failed++;
        }
        note_done(w, now);
    }
    if (cause < 0 && b->target_cache)
        __atomic_store_n(&b->target_cache[s->client], (uint8_t)s->cur_target, __ATOMIC_RELAXED);
    s->state = S_IDLE;
    __atomic_store_n(&w->outstanding, w->outstanding - 1, __ATOMIC_RELAXED);
    if (b->cfg.rate > 0) {
        s->next_free = w->free_list;
        w->free_list = s;
    } else if (may_start(w, now)) {
        event_active(&s->kick, EV_TIMEOUT, 1);
    }
    maybe_finish_run(w);
}

static void slot_wait(slot *s, short what)
{
    worker *w = s->w;
    if (s->ev_added) event_del(&s->ev);
    event_assign(&s->ev, w->base, s->fd, what, slot_io_cb, s);
    event_add(&s->ev, w->step_tv);
    s->ev_added = true;
}

static void connect_target(slot *s);

/* The current target did not take the activation (refused, unreachable, timed out,
 * dropped the connection): like Windows, move on to the next one; fail when every target
 * was tried. Counted per target and per cause. */
static void target_failed(slot *s, bench_cause cause)
{
    worker *w = s->w;
    bench *b = w->b;
    bench_target *t = &w->tstat[s->cur_target];
    if (cause == CAUSE_REFUSED) t->refused++;
    else if (cause == CAUSE_TIMEOUT) t->timeouts++;
    else if (cause == CAUSE_DROPPED) t->dropped++;
    else if (cause == CAUSE_CLOSED) t->closed++;
    else t->other++;
    slot_close(s);
    s->tried++;
    if (s->tried < b->cfg.n_targets && !w->done) {
        if (s->measured) {
            w->res.failovers++;
            w->res.failovers_by_cause[cause]++;
        }
        s->cur_target = (s->cur_target + 1) % b->cfg.n_targets;
        connect_target(s);
        return;
    }
    slot_finish(s, cause);
}

/* The host closed or reset the connection: before it answered anything that is a refusal
 * (kmsd drops a connection over its limits at accept), after it a broken exchange. */
static void host_closed(slot *s)
{
    target_failed(s, s->answered ? CAUSE_CLOSED : CAUSE_DROPPED);
}

static void fail_local(slot *s, int err)
{
    if (s->measured) bench_tally_add(&s->w->res.local_errors, err);
    slot_finish(s, CAUSE_LOCAL);
}

/* Sends the machine's next PDU and waits for the answer (the step's timeout restarts). */
static void send_next(slot *s)
{
    size_t n;
    const uint8_t *p = kmsc_output(&s->m, &n);
    /* The exchange is lock-step, so the send buffer is empty and a few hundred bytes
     * always fit; a short write would be a local failure. */
    ssize_t wr = send(s->fd, p, n, MSG_NOSIGNAL);
    if (wr == (ssize_t)n) {
        if (s->state != S_EXCHANGE) {
            s->state = S_EXCHANGE;
            slot_wait(s, EV_READ | EV_PERSIST);
        } else {
            event_add(&s->ev, s->w->step_tv); /* re-adding restarts the step's timeout */
        }
        return;
    }
    if (wr < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        host_closed(s); /* the host dropped us: the next host, as Windows */
        return;
    }
    fail_local(s, wr < 0 ? errno : EAGAIN);
}

static void connect_target(slot *s)
{
    worker *w = s->w;
    bench *b = w->b;
    const bench_config *cfg = &b->cfg;
    const bench_target *t = &cfg->targets[s->cur_target];
    w->tstat[s->cur_target].attempts++;
    s->answered = false;
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_local(s, errno);
        return;
    }
    s->fd = fd;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg->reset_close) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (cfg->n_sources) {
        /* the port is chosen at connect time, per destination: no local port shortage */
        const struct sockaddr_storage *src = &cfg->sources[w->next_source++ % cfg->n_sources];
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        socklen_t sl = src->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in);
        if (bind(fd, (const struct sockaddr *)src, sl) != 0) {
            fail_local(s, errno);
            return;
        }
    }
    int r = connect(fd, (const struct sockaddr *)&t->addr, t->addrlen);
    if (r == 0) {
        send_next(s);
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

/* The machine's verdict. */
static void on_done(slot *s)
{
    worker *w = s->w;
    const bench_config *cfg = &w->b->cfg;
    if (!cfg->verify) {
        slot_finish(s, -1);
        return;
    }
    uint32_t count = s->m.response.count;
    if (s->measured) {
        if (w->res.ok == 0 || count < w->res.min_count) w->res.min_count = count;
        if (count > w->res.max_count) w->res.max_count = count;
    }
    if (count < cfg->products[s->product].n_policy) {
        /* A fresh host's first N-1 clients see count < N: normal, counted apart. */
        if (s->measured) w->res.count_below_n++;
        if (cfg->require_count) {
            slot_finish(s, CAUSE_COUNT_BELOW_N);
            return;
        }
    }
    slot_finish(s, -1);
}

static void on_failed(slot *s)
{
    bench_result *r = &s->w->res;
    const kmsc *m = &s->m;
    bench_cause cause = CAUSE_PROTOCOL;
    switch (m->failure) {
    case KMSC_F_FAULT:
        if (s->measured) bench_tally_add(&r->faults, m->fault_status);
        cause = CAUSE_RPC_FAULT;
        break;
    case KMSC_F_HRESULT:
        if (s->measured) bench_tally_add(&r->hresults, m->hresult);
        cause = CAUSE_HRESULT;
        break;
    case KMSC_F_VERIFY:
        if (s->measured) bench_tally_add(&r->verify_errors, m->error);
        cause = CAUSE_VERIFICATION;
        break;
    case KMSC_F_LOCAL:
        fail_local(s, -m->error);
        return;
    default:
        if (s->measured) bench_tally_add(&r->verify_errors, m->error);
        cause = CAUSE_PROTOCOL;
        break;
    }
    slot_finish(s, cause);
}

static void on_readable(slot *s)
{
    for (;;) {
        size_t cap;
        uint8_t *in = kmsc_input(&s->m, &cap);
        ssize_t r = recv(s->fd, in, cap, 0);
        if (r > 0) {
            switch (kmsc_received(&s->m, (size_t)r)) {
            case KMSC_RECV: return; /* more of the PDU to come */
            case KMSC_SEND:
                s->answered = true;
                send_next(s);
                return;
            case KMSC_DONE: on_done(s); return;
            default: on_failed(s); return;
            }
        }
        if (r == 0) { /* the host closed before answering (killed, restarting): next host */
            host_closed(s);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == ECONNRESET || errno == EPIPE) host_closed(s);
        else fail_local(s, errno);
        return;
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
            send_next(s);
            return;
        }
        if (err == ETIMEDOUT) target_failed(s, CAUSE_TIMEOUT);
        else if (err == ECONNREFUSED || err == ENETUNREACH || err == EHOSTUNREACH)
            target_failed(s, CAUSE_REFUSED);
        else if (err == ECONNRESET) host_closed(s);
        else fail_local(s, err);
        return;
    }
    on_readable(s);
}

/* Starts an activation in slot s (open loop: s is NULL and a free slot is taken). */
static void start_activation(worker *w, slot *s, uint64_t start_us, bool measured)
{
    bench *b = w->b;
    const bench_config *cfg = &b->cfg;
    if (measured && cfg->requests &&
        atomic_fetch_add_explicit(&b->measured_claimed, 1, memory_order_relaxed) >= cfg->requests) {
        w->stopping = true; /* another thread took the last one */
        maybe_finish_run(w);
        return;
    }
    if (!s) {
        s = w->free_list;
        if (!s) {
            /* Open loop: never more outstanding than asked; the skipped start fails. */
            if (measured) {
                w->res.attempted++;
                record_failure(w, CAUSE_OVERLOAD, clock_mono_us());
            }
            atomic_fetch_add_explicit(&b->seq, 1, memory_order_relaxed);
            return;
        }
        w->free_list = s->next_free;
        s->next_free = NULL;
    }
    uint64_t i = atomic_fetch_add_explicit(&b->seq, 1, memory_order_relaxed) % cfg->clients;
    if (measured) w->res.attempted++;
    __atomic_store_n(&w->outstanding, w->outstanding + 1, __ATOMIC_RELAXED);
    s->measured = measured;
    s->start_us = start_us;
    s->client = i;
    s->product = client_product(cfg, i);
    s->protocol = client_protocol(cfg, i, s->product);
    int first = b->target_cache ? __atomic_load_n(&b->target_cache[i], __ATOMIC_RELAXED) : 0;
    s->cur_target = first < cfg->n_targets ? first : 0;
    s->tried = 0;

    const bench_product *p = &cfg->products[s->product];
    char ws[32];
    snprintf(ws, sizeof ws, "bench-%07" PRIu64, i);
    kmsc_params kp = {
        .protocol = s->protocol, .app_id = p->app_id, .sku_id = p->sku_id, .kms_id = p->kms_id,
        .n_policy = p->n_policy, .license_status = LICENSE_STATUS_OOB,
        .binding_expiration = BINDING_EXPIRATION, .workstation = ws,
        .client_time = clock_filetime(0), .ndr64 = cfg->ndr64, .btfn = true, .requests = 1,
        .verify = cfg->verify, .random = bench_random, .random_ctx = &w->rng,
    };
    client_cmid(cfg, i, &kp.cmid);
    if (kmsc_start(&s->m, &kp) != KMSC_SEND) {
        fail_local(s, -s->m.error);
        return;
    }
    connect_target(s);
}

/* ------------------------------------------------------------------ run control */

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    slot *s = arg;
    worker *w = s->w;
    (void)fd;
    (void)what;
    uint64_t now = clock_mono_us();
    if (s->state != S_IDLE || !may_start(w, now)) {
        maybe_finish_run(w);
        return;
    }
    start_activation(w, s, now, now >= w->b->measure_us);
}

static void sched_arm(worker *w);

/* When start k of this thread is due: the run's timetable interleaves the threads (start
 * j of the run at t0 + j/R; thread i makes starts i, i+N, i+2N, ...). */
static uint64_t due_us(const worker *w, uint64_t k)
{
    const bench *b = w->b;
    double j = (double)k * b->n_workers + w->id;
    return b->t0_us + (uint64_t)(j * 1e6 / b->cfg.rate);
}

/* Open loop: starts every activation whose scheduled time has come, each with its
 * scheduled time as latency origin. */
static void sched_cb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    uint64_t now = clock_mono_us();
    /* at most a batch per turn, so answers are read even when the timetable runs ahead */
    for (int batch = 0; batch < 256; batch++) {
        uint64_t due = due_us(w, w->open_k);
        if (due > now) break;
        if (!may_start(w, due)) {
            w->stopping = true;
            maybe_finish_run(w);
            return;
        }
        w->open_k++;
        start_activation(w, NULL, due, due >= w->b->measure_us);
        if (w->done || w->stopping) {
            maybe_finish_run(w);
            return;
        }
    }
    sched_arm(w);
}

static void sched_arm(worker *w)
{
    uint64_t due = due_us(w, w->open_k);
    uint64_t now = clock_mono_us();
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000000u),
                         .tv_usec = (suseconds_t)(wait % 1000000u)};
    event_add(w->sched, &tv);
}

static void abort_outstanding(worker *w)
{
    for (unsigned i = 0; i < w->n_slots; i++) {
        slot *s = &w->slots[i];
        if (s->state != S_IDLE) slot_finish(s, CAUSE_TIMEOUT);
    }
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    w->stopping = true;
    w->done = true; /* no failover from here on */
    abort_outstanding(w);
    event_base_loopbreak(w->base);
}

/* Called whenever something ends: once no more starts are allowed, waits for what is
 * outstanding (at most --timeout), then stops the loop. */
static void maybe_finish_run(worker *w)
{
    uint64_t now = clock_mono_us();
    /* open loop: the timetable alone decides when starts end (see sched_cb) */
    if (!w->stopping && (w->b->cfg.rate <= 0 || w->b->stop_now) && !may_start(w, now))
        w->stopping = true;
    if (!w->stopping) return;
    if (w->outstanding == 0) {
        if (!w->done) {
            w->done = true;
            event_base_loopbreak(w->base);
        }
        return;
    }
    if (!event_pending(w->drain_timer, EV_TIMEOUT, NULL)) {
        const bench_config *cfg = &w->b->cfg;
        struct timeval tv = {.tv_sec = cfg->timeout_ms / 1000,
                             .tv_usec = (cfg->timeout_ms % 1000) * 1000};
        event_add(w->drain_timer, &tv);
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    (void)fd;
    (void)what;
    uint64_t now = clock_mono_us();
    series_advance(w, now);
    if (w->id == 0 && b->cfg.progress && now < b->measure_us) {
        unsigned out = 0;
        for (unsigned i = 0; i < b->n_workers; i++)
            out += __atomic_load_n(&b->workers[i].outstanding, __ATOMIC_RELAXED);
        fprintf(stderr, "[warm-up %4.0fs] outstanding %u\n", (double)(now - b->t0_us) / 1e6, out);
    }
    int stop = atomic_load_explicit(&b->stop_now, memory_order_relaxed);
    if (stop == 2 && !w->done) {
        drain_cb(-1, 0, w);
        return;
    }
    if (stop) w->stopping = true;
    maybe_finish_run(w);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    (void)what;
    if (atomic_load(&b->stop_now)) {
        /* second signal: stop now (the other threads at their next tick) */
        atomic_store(&b->stop_now, 2);
        drain_cb(-1, 0, w);
        return;
    }
    fprintf(stderr, "kmsbench: %s: stopping, waiting for outstanding activations\n",
            sig == SIGINT ? "interrupted" : "terminated");
    b->res.interrupted = true;
    atomic_store(&b->stop_now, 1);
    w->stopping = true;
    maybe_finish_run(w);
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
"      --no-ndr64            offer NDR32 and BTFN only in the bind, as Windows 7, vlmcs -N0 and\n"
"                            ../shared/tools/loadgen's kmsload do (no alter_context round trip)\n"
"Generator:\n"
"      --threads N           N event loops, one per thread, the load shared between them\n"
"                            (default 1); counters and histograms merged at the end\n"
"      --source ADDR[-LAST]  bind each connection to a local address of this range, in turn\n"
"                            (IPv4, at most 256; IP_BIND_ADDRESS_NO_PORT: ports per destination)\n"
"      --graceful-close      close with FIN, as Windows does; the default closes with RST\n"
"                            (SO_LINGER 0): no TIME_WAIT sockets pile up on the generator, whose\n"
"                            connects would otherwise spend their time looking for free ports\n"
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
    OPT_REPORT, OPT_SRV, OPT_DNS, OPT_NO_STICKY, OPT_NO_NDR64, OPT_THREADS, OPT_SOURCE,
    OPT_GRACEFUL_CLOSE,
};

/* "A" or "A-B" (IPv4, same /24 or not, at most BENCH_MAX_SOURCES addresses). */
static int parse_sources(bench_config *cfg, const char *text)
{
    char first[64], lastb[64];
    const char *dash = strchr(text, '-');
    size_t n1 = dash ? (size_t)(dash - text) : strlen(text);
    if (n1 == 0 || n1 >= sizeof first) return usage_error("--source: bad address '%s'", text);
    memcpy(first, text, n1);
    first[n1] = 0;
    snprintf(lastb, sizeof lastb, "%s", dash ? dash + 1 : first);
    struct in_addr a, z;
    if (inet_pton(AF_INET, first, &a) != 1 || inet_pton(AF_INET, lastb, &z) != 1)
        return usage_error("--source: want IPv4 ADDR or ADDR-LAST, got '%s'", text);
    uint32_t lo = ntohl(a.s_addr), hi = ntohl(z.s_addr);
    if (hi < lo || hi - lo >= BENCH_MAX_SOURCES)
        return usage_error("--source: want 1..%d addresses in order, got '%s'", BENCH_MAX_SOURCES, text);
    cfg->n_sources = 0;
    for (uint32_t v = lo; v <= hi; v++) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->sources[cfg->n_sources++];
        memset(sin, 0, sizeof *sin);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(v);
    }
    snprintf(cfg->sources_text, sizeof cfg->sources_text, "%s", text);
    return 0;
}

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
        {"no-ndr64", no_argument, NULL, OPT_NO_NDR64},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"graceful-close", no_argument, NULL, OPT_GRACEFUL_CLOSE},
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
        case OPT_NO_NDR64: cfg->ndr64 = false; break;
        case OPT_GRACEFUL_CLOSE: cfg->reset_close = false; break;
        case OPT_THREADS:
            if (!parse_u64(optarg, 1, BENCH_MAX_THREADS, &u))
                return usage_error("--threads: want 1..%d, got '%s'", BENCH_MAX_THREADS, optarg);
            cfg->threads = (unsigned)u;
            break;
        case OPT_SOURCE:
            if ((r = parse_sources(cfg, optarg))) return r;
            break;
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

static int prepare_worker(worker *w)
{
    bench *b = w->b;
    const bench_config *cfg = &b->cfg;
    unsigned n = b->n_workers;
    if (cfg->rate > 0) {
        w->n_slots = (cfg->max_outstanding + n - 1) / n;
    } else {
        w->concurrency = cfg->concurrency / n + (w->id < cfg->concurrency % n ? 1 : 0);
        w->n_slots = w->concurrency;
    }
    w->slots = w->n_slots ? calloc(w->n_slots, sizeof *w->slots) : NULL;
    w->res.latency = hist_new();
    w->sec_hist = hist_new();
    if ((w->n_slots && !w->slots) || !w->res.latency || !w->sec_hist) return -1;
    struct event_config *ec = event_config_new();
    if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = ec ? event_base_new_with_config(ec) : event_base_new();
    if (ec) event_config_free(ec);
    if (!w->base) return -1;
    struct timeval step = {.tv_sec = cfg->timeout_ms / 1000,
                           .tv_usec = (cfg->timeout_ms % 1000) * 1000};
    w->step_tv = event_base_init_common_timeout(w->base, &step);
    for (unsigned i = 0; i < w->n_slots; i++) {
        slot *s = &w->slots[i];
        s->w = w;
        s->fd = -1;
        event_assign(&s->kick, w->base, -1, 0, kick_cb, s);
        if (cfg->rate > 0) {
            s->next_free = w->free_list;
            w->free_list = s;
        }
    }
    w->tick = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
    w->sched = evtimer_new(w->base, sched_cb, w);
    w->drain_timer = evtimer_new(w->base, drain_cb, w);
    if (!w->tick || !w->sched || !w->drain_timer) return -1;
    if (w->id == 0) {
        w->sig_int = evsignal_new(w->base, SIGINT, signal_cb, w);
        w->sig_term = evsignal_new(w->base, SIGTERM, signal_cb, w);
        if (!w->sig_int || !w->sig_term) return -1;
    }
    w->rng = cfg->seed ^ 0x6b6d7362656e6368ull ^ (uint64_t)getpid() ^ ((uint64_t)w->id << 48);
    return 0;
}

static int prepare(bench *b)
{
    bench_config *cfg = &b->cfg;
    unsigned total = cfg->rate > 0 ? cfg->max_outstanding : cfg->concurrency;
    if (cfg->rate <= 0 && cfg->threads > cfg->concurrency) cfg->threads = cfg->concurrency;
    b->n_workers = cfg->threads ? cfg->threads : 1;
    raise_fd_limit(total);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)total + 16) {
        fprintf(stderr, "kmsbench: %u activations in flight need more file descriptors than "
                        "the limit of %llu\n", total, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    b->workers = calloc(b->n_workers, sizeof *b->workers);
    b->res.latency = hist_new();
    if (cfg->sticky && cfg->n_targets > 1) b->target_cache = calloc(cfg->clients, 1);
    if (!b->workers || !b->res.latency || (cfg->sticky && cfg->n_targets > 1 && !b->target_cache)) {
        fprintf(stderr, "kmsbench: out of memory\n");
        return -1;
    }
    pthread_mutex_init(&b->series_mu, NULL);
    for (int i = 0; i < SERIES_RING; i++)
        if (!(b->ring[i].h = hist_new())) {
            fprintf(stderr, "kmsbench: out of memory\n");
            return -1;
        }
    for (unsigned i = 0; i < b->n_workers; i++) {
        b->workers[i].b = b;
        b->workers[i].id = i;
        if (prepare_worker(&b->workers[i]) < 0) {
            fprintf(stderr, "kmsbench: out of memory (or cannot create an event loop)\n");
            return -1;
        }
    }
    return 0;
}

/* One thread's run: its share of the load on its own loop. */
static void *worker_run(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    /* the tick is aligned on the measurement start so each line is one whole second */
    struct timeval sec = {1, 0};
    event_add(w->tick, &sec);
    if (w->sig_int) event_add(w->sig_int, NULL);
    if (w->sig_term) event_add(w->sig_term, NULL);
    if (b->cfg.rate > 0) {
        sched_arm(w);
    } else {
        for (unsigned i = 0; i < w->n_slots; i++) event_active(&w->slots[i].kick, EV_TIMEOUT, 1);
        if (w->n_slots == 0) w->stopping = true;
    }
    event_base_dispatch(w->base);
    series_finish(w, clock_mono_us());
    return NULL;
}

static void merge_worker(bench *b, const worker *w)
{
    bench_result *r = &b->res;
    const bench_result *x = &w->res;
    r->attempted += x->attempted;
    r->failed += x->failed;
    for (int c = 0; c < CAUSE_COUNT_; c++) {
        r->by_cause[c] += x->by_cause[c];
        r->failovers_by_cause[c] += x->failovers_by_cause[c];
    }
    bench_tally_merge(&r->hresults, &x->hresults);
    bench_tally_merge(&r->faults, &x->faults);
    bench_tally_merge(&r->verify_errors, &x->verify_errors);
    bench_tally_merge(&r->local_errors, &x->local_errors);
    r->count_below_n += x->count_below_n;
    r->failovers += x->failovers;
    if (x->ok) {
        if (r->ok == 0 || x->min_count < r->min_count) r->min_count = x->min_count;
        if (x->max_count > r->max_count) r->max_count = x->max_count;
    }
    r->ok += x->ok;
    hist_merge(r->latency, x->latency);
    for (int i = 0; i < b->cfg.n_targets; i++) {
        bench_target *t = &b->cfg.targets[i];
        const bench_target *s = &w->tstat[i];
        t->attempts += s->attempts;
        t->ok += s->ok;
        t->refused += s->refused;
        t->timeouts += s->timeouts;
        t->other += s->other;
        t->dropped += s->dropped;
        t->closed += s->closed;
    }
}

static void count_clients_by_app(bench *b)
{
    uint64_t seq = atomic_load(&b->seq);
    uint64_t used = seq < b->cfg.clients ? seq : b->cfg.clients;
    for (uint64_t i = 0; i < used; i++) {
        int app = b->cfg.products[client_product(&b->cfg, i)].app;
        if (app >= 0 && app < 3) b->res.clients_by_app[app]++;
    }
}

static void cleanup(bench *b)
{
    for (unsigned k = 0; b->workers && k < b->n_workers; k++) {
        worker *w = &b->workers[k];
        if (w->slots) {
            for (unsigned i = 0; i < w->n_slots; i++) slot_close(&w->slots[i]);
            free(w->slots);
        }
        if (w->tick) event_free(w->tick);
        if (w->sched) event_free(w->sched);
        if (w->drain_timer) event_free(w->drain_timer);
        if (w->sig_int) event_free(w->sig_int);
        if (w->sig_term) event_free(w->sig_term);
        if (w->base) event_base_free(w->base);
        hist_free(&w->res.latency);
        hist_free(&w->sec_hist);
    }
    free(b->workers);
    for (int i = 0; i < SERIES_RING; i++) hist_free(&b->ring[i].h);
    hist_free(&b->res.latency);
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
    cfg->ndr64 = true;
    cfg->reset_close = true;
    cfg->threads = 1;
    int r = parse_args(cfg, argc, argv);
    if (r) return r;
    signal(SIGPIPE, SIG_IGN);
    if (prepare(&b) < 0) {
        cleanup(&b);
        return 2;
    }

    struct rusage ru0, ru;
    if (getrusage(RUSAGE_SELF, &ru0) != 0) memset(&ru0, 0, sizeof ru0);
    b.t0_us = clock_mono_us();
    b.measure_us = b.t0_us + (uint64_t)(cfg->warmup_s * 1e6);
    b.res.started_unix = (double)clock_wall_ms() / 1e3 + cfg->warmup_s;
    b.stop_us = cfg->duration_s > 0 ? b.measure_us + (uint64_t)(cfg->duration_s * 1e6) : UINT64_MAX;
    for (unsigned i = 0; i < b.n_workers; i++) b.workers[i].last_done_us = b.measure_us;

    /* Worker 0 runs here (it takes the signals); the others on their own threads, whose
     * signals are blocked so the loop of worker 0 gets them. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    unsigned started = 1;
    for (; started < b.n_workers; started++)
        if (pthread_create(&b.workers[started].thread, NULL, worker_run, &b.workers[started]) != 0) {
            fprintf(stderr, "kmsbench: cannot start thread %u; running with %u\n", started, started);
            break;
        }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started < b.n_workers) {
        /* the threads not started take no load: their slots never start */
        for (unsigned i = started; i < b.n_workers; i++) b.workers[i].done = true;
    }
    worker_run(&b.workers[0]);
    for (unsigned i = 1; i < started; i++) pthread_join(b.workers[i].thread, NULL);

    uint64_t end = clock_mono_us();
    pthread_mutex_lock(&b.series_mu);
    for (uint64_t k = 0; k < SERIES_RING; k++) { /* anything a missing thread held up */
        series_slot *sl = &b.ring[b.next_final % SERIES_RING];
        if (sl->used && sl->index == b.next_final) series_finalize_one(&b, sl);
        else b.next_final++;
    }
    pthread_mutex_unlock(&b.series_mu);
    uint64_t last = b.measure_us;
    for (unsigned i = 0; i < b.n_workers; i++) {
        merge_worker(&b, &b.workers[i]);
        if (b.workers[i].last_done_us > last) last = b.workers[i].last_done_us;
    }
    if (b.stop_us != UINT64_MAX && b.stop_us > last && !b.res.interrupted) last = b.stop_us;
    if (last > end) last = end;
    b.res.elapsed_s = last > b.measure_us ? (double)(last - b.measure_us) / 1e6 : 0;
    count_clients_by_app(&b);
    b.res.run_s = (double)(end - b.t0_us) / 1e6;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        /* the run only (every thread): start-up (and a sanitizer's) costs are left out */
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
