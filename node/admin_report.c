/* admin_report.c: GET /report and the background reports (see admin_report.h). A report is
 * a job that feeds records into report.c a page of ADMIN_REPORT_PAGE at a time, for at most
 * ADMIN_REPORT_TURN_MS per event loop turn (a zero-delay timer, so sockets are polled
 * between turns); when the store is read to its end the
 * report is answered (GET) and kept as the latest (for /metrics). At most
 * ADMIN_REPORT_JOBS requested reports run at once; more get 503. */
#include "node/admin_report.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/admin_dns.h"
#include "node/log.h"
#include "node/query.h"
#include "node/report.h"
#include "proto/errors.h"

#define ADMIN_REPORT_PAGE 256     /* records per store read */
#define ADMIN_REPORT_TURN_MS 2.0  /* loop time one turn may take (a page at least) */
#define ADMIN_REPORT_JOBS 2    /* requested reports running at once */

typedef struct rjob rjob;

/* A report and the rules it was computed under (the report points into them). */
typedef struct held_report {
    report_rules rules;
    report *rep;
    uint64_t written;  /* the store's records_written when the scan began */
} held_report;

struct admin_report {
    node *n;
    rjob *jobs;
    int n_requested;
    bool background_running;
    struct event *timer; /* next background report */
    held_report *latest;
};

struct rjob {
    admin_report *owner;
    struct evhttp_request *req; /* NULL: a background report */
    struct event *ev;
    held_report *h;
    query_filter f;
    query_scan s;
    store_record *buf;
    rjob *next;
};

static void held_free(held_report *h)
{
    if (!h) return;
    report_free(&h->rep);
    report_rules_free(&h->rules);
    free(h);
}

static void reply(struct evhttp_request *req, int code, const char *reason, struct evbuffer *body)
{
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    evhttp_add_header(hd, "Content-Type", "application/json");
    evhttp_add_header(hd, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, body);
}

static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"error\":\"%s\"}\n", msg); /* msg: our own text, no quotes */
    reply(req, code, reason, b);
    evbuffer_free(b);
}

static void schedule_background(admin_report *a);

static void job_free(rjob *j)
{
    admin_report *a = j->owner;
    for (rjob **pp = &a->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    if (j->req) a->n_requested--;
    else {
        a->background_running = false;
        schedule_background(a);
    }
    if (j->ev) event_free(j->ev);
    held_free(j->h);
    free(j->buf);
    free(j);
}

static void job_finish(rjob *j)
{
    admin_report *a = j->owner;
    report_finish(j->h->rep);
    if (j->req) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(j->req, 500, NULL);
        } else {
            report_json(j->h->rep, a->n->cfg.node_id, b);
            reply(j->req, 200, "OK", b);
            evbuffer_free(b);
        }
    }
    /* The newest report is the one /metrics shows. */
    if (!a->latest || report_time(a->latest->rep) <= report_time(j->h->rep)) {
        held_free(a->latest);
        a->latest = j->h;
        j->h = NULL;
    }
    job_free(j);
}

static void job_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rjob *j = arg;
    node *n = j->owner->n;
    if (j->req && !evhttp_request_get_connection(j->req)) { /* the client left: replying frees it */
        evhttp_send_reply(j->req, 200, "OK", NULL);
        job_free(j);
        return;
    }
    double start = node_mono_ms();
    do {
        int got = query_step(n->store, &j->f, &j->s, j->buf, ADMIN_REPORT_PAGE, ADMIN_REPORT_PAGE);
        if (got < 0) {
            log_error("activation report: reading the store failed: %s", kms_strerror(got));
            if (j->req) reply_error(j->req, 500, "Internal Server Error", "reading the store failed");
            job_free(j);
            return;
        }
        for (int i = 0; i < got; i++) report_add(j->h->rep, &j->buf[i]);
    } while (!j->s.done && node_mono_ms() - start < ADMIN_REPORT_TURN_MS);
    if (j->s.done) {
        job_finish(j);
        return;
    }
    struct timeval now = {0, 0};
    evtimer_add(j->ev, &now);
}

/* Starts a report; req NULL for a background one. Returns NULL (after answering req) on
 * failure. */
static rjob *job_start(admin_report *a, struct evhttp_request *req)
{
    node *n = a->n;
    rjob *j = calloc(1, sizeof *j);
    held_report *h = calloc(1, sizeof *h);
    char err[200] = "out of memory";
    if (j && h && report_rules_init(&h->rules, &n->cfg, n->clients, err, sizeof err) == 0) {
        store_stats st;
        store_get_stats(n->store, &st);
        h->written = st.records_written;
        h->rep = report_new(&h->rules, node_now_ms(n));
        j->h = h;
        h = NULL;
    }
    held_free(h);
    if (j) {
        j->owner = a;
        j->req = req;
        j->buf = malloc(ADMIN_REPORT_PAGE * sizeof *j->buf);
        j->ev = evtimer_new(n->base, job_turn, j);
        j->next = a->jobs;
        a->jobs = j;
        if (req) a->n_requested++;
        else a->background_running = true;
    }
    if (!j || !j->h || !j->h->rep || !j->buf || !j->ev) {
        log_error("activation report: cannot start: %s", err);
        if (req) reply_error(req, 500, "Internal Server Error", "cannot start a report");
        if (j) job_free(j);
        return NULL;
    }
    query_filter_init(&j->f);
    query_scan_init(&j->s, &j->f);
    struct timeval now = {0, 0};
    evtimer_add(j->ev, &now);
    return j;
}

static void background_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    admin_report *a = arg;
    if (!a->background_running) job_start(a, NULL);
}

static void schedule_background(admin_report *a)
{
    if (!a->timer) return;
    struct timeval tv = {(time_t)a->n->cfg.report_interval, 0};
    evtimer_add(a->timer, &tv);
}

static void report_cb(struct evhttp_request *req, void *arg)
{
    admin_report *a = arg;
    if (!admin_get_only(req)) return;
    /* ?latest=1: the last finished report when no record was written since its scan began
     * (the status page's: open pages cost no scans while nothing changes). */
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    store_stats st;
    store_get_stats(a->n->store, &st);
    if (q && strcmp(q, "latest=1") == 0 && a->latest && a->latest->written == st.records_written) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 500, NULL);
            return;
        }
        report_json(a->latest->rep, a->n->cfg.node_id, b);
        reply(req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    if (a->n_requested >= ADMIN_REPORT_JOBS) {
        reply_error(req, 503, "Service Unavailable", "too many reports running; retry shortly");
        return;
    }
    job_start(a, req);
}

admin_report *admin_report_new(node *n, admin_gate *gate)
{
    admin_report *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->n = n;
    a->timer = evtimer_new(n->base, background_cb, a);
    if (!a->timer) {
        free(a);
        return NULL;
    }
    /* Lists client records (workstation names, addresses): the read token, as for /clients
     * (the status page sends the one it asked for). */
    admin_gate_route(gate, "/report", report_cb, a, ADMIN_READ);
    struct timeval soon = {0, 0}; /* the first report right after start-up */
    evtimer_add(a->timer, &soon);
    return a;
}

void admin_report_free(admin_report **self_p)
{
    if (!self_p || !*self_p) return;
    admin_report *a = *self_p;
    event_free(a->timer);
    a->timer = NULL; /* job_free must not re-arm it */
    /* Their requests go with evhttp_free. (next is read before job_free unlinks and
     * frees a job: clang's analyzer cannot tell that a job's owner is a.) */
    for (rjob *j = a->jobs, *next; j; j = next) {
        next = j->next;
        job_free(j);
    }
    held_free(a->latest);
    free(a);
    *self_p = NULL;
}

void admin_report_metrics(admin_report *self, struct evbuffer *out)
{
    if (!self || !self->latest) return;
    report_metrics(self->latest->rep, self->n->cfg.node_id, self->n->cfg.report_metrics_rooms, out);
}
