/* admin_clients.c: GET /clients (see admin_clients.h). Each query is a job that examines
 * ADMIN_CLIENTS_TURN records per event loop turn and streams the matches as it finds
 * them: one chunk per turn, and the next turn only once the client has taken that chunk
 * (evhttp_send_reply_chunk_with_cb), so an answer the client does not read costs one
 * chunk of memory, not the whole answer. At most ADMIN_CLIENTS_JOBS queries run at once;
 * more get 503. A client that goes away, or stops reading until evhttp's write timeout
 * closes its connection, is noticed within ADMIN_CLIENTS_CHECK_MS (evhttp detaches its
 * request; ending the reply frees it). */
#include "node/admin_clients.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "node/query.h"
#include "node/report.h"
#include "proto/errors.h"
#include "proto/json.h"

#define ADMIN_CLIENTS_TURN 1024 /* records examined per loop turn */
#define ADMIN_CLIENTS_JOBS 4    /* queries running at once */
#define ADMIN_CLIENTS_CHECK_MS 1000 /* while the client has not taken the last chunk */

typedef struct job job;

struct admin_clients {
    node *n;
    job *jobs;
    int n_jobs;
};

struct job {
    admin_clients *owner;
    struct evhttp_request *req;
    struct event *ev;
    query_filter f;
    report_rules rules; /* judge room, at_risk and cloned (f.rules points here) */
    query_scan s;
    size_t limit, returned;
    bool sending;           /* a chunk is on its way: wait for chunk_sent */
    struct evbuffer *items;
    store_record *buf;
    job *next;
};

static void reply(struct evhttp_request *req, int code, const char *reason, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, body);
}

static void put_evbuffer(void *ctx, const char *p, size_t n) { evbuffer_add(ctx, p, n); }

static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"error\":");
    json_write_str(msg, put_evbuffer, b);
    evbuffer_add_printf(b, "}\n");
    reply(req, code, reason, b);
    evbuffer_free(b);
}

/* Frees a job that is no longer on its owner's list. */
static void job_destroy(job *j)
{
    if (j->ev) event_free(j->ev);
    if (j->items) evbuffer_free(j->items);
    report_rules_free(&j->rules);
    free(j->buf);
    free(j);
}

static void job_free(job *j)
{
    admin_clients *a = j->owner;
    for (job **pp = &a->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    a->n_jobs--;
    job_destroy(j);
}

/* The end of the answer: the counts and the cursor, after the last chunk. */
static void job_finish(job *j, const char *error)
{
    char next[QUERY_CURSOR_HEXLEN + 1];
    query_cursor_format(&j->s, next);
    evbuffer_add_printf(j->items, "],\"returned\":%zu,\"scanned\":%" PRIu64 ",\"more\":%s,\"next\":", j->returned,
                        j->s.scanned, j->s.done ? "false" : "true");
    if (j->s.done) evbuffer_add_printf(j->items, "null");
    else evbuffer_add_printf(j->items, "\"%s\"", next);
    if (error) {
        evbuffer_add_printf(j->items, ",\"error\":\"");
        for (const char *p = error; *p; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) evbuffer_add(j->items, p, 1);
        evbuffer_add_printf(j->items, "\"");
    }
    evbuffer_add_printf(j->items, "}\n");
    evhttp_send_reply_chunk(j->req, j->items);
    evhttp_send_reply_end(j->req);
    job_free(j);
}

static void job_later(job *j, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(j->ev, &tv);
}

/* The client has taken the last chunk: the next turn at once. */
static void chunk_sent(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    job *j = arg;
    j->sending = false;
    job_later(j, 0);
}

static void job_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job *j = arg;
    node *n = j->owner->n;
    if (!evhttp_request_get_connection(j->req)) { /* the client left: ending the reply frees it */
        evhttp_send_reply_end(j->req);
        job_free(j);
        return;
    }
    if (j->sending) { /* still waiting for the client to read: look again later */
        job_later(j, ADMIN_CLIENTS_CHECK_MS);
        return;
    }
    size_t want = j->limit - j->returned;
    if (want > ADMIN_CLIENTS_TURN) want = ADMIN_CLIENTS_TURN;
    int got = query_step(n->store, &j->f, &j->s, j->buf, want, ADMIN_CLIENTS_TURN);
    if (got < 0) {
        job_finish(j, store_strerror(got));
        return;
    }
    char line[QUERY_RECORD_JSON_MAX];
    for (int i = 0; i < got; i++) {
        int len = query_record_json(&j->buf[i], line, sizeof line);
        if (len < 0) continue;
        if (j->returned++) evbuffer_add(j->items, ",", 1);
        evbuffer_add(j->items, line, (size_t)len);
    }
    if (j->s.done || j->returned >= j->limit) {
        job_finish(j, NULL);
        return;
    }
    if (evbuffer_get_length(j->items) == 0) { /* nothing matched in this turn */
        job_later(j, 0);
        return;
    }
    j->sending = true;
    evhttp_send_reply_chunk_with_cb(j->req, j->items, chunk_sent, j);
    job_later(j, ADMIN_CLIENTS_CHECK_MS);
}

static void clients_cb(struct evhttp_request *req, void *arg)
{
    admin_clients *a = arg;
    node *n = a->n;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        reply_error(req, 405, "Method Not Allowed", "use GET");
        return;
    }
    if (a->n_jobs >= ADMIN_CLIENTS_JOBS) {
        reply_error(req, 503, "Service Unavailable", "too many client queries running; retry shortly");
        return;
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    j->owner = a;
    j->req = req;
    j->limit = QUERY_LIMIT_DEFAULT;
    query_filter_init(&j->f);
    const char *after = "";
    char err[256] = "";
    if (report_rules_init(&j->rules, &n->cfg, NULL, err, sizeof err) != 0) {
        reply_error(req, 500, "Internal Server Error", err);
        free(j);
        return;
    }
    j->f.rules = &j->rules;
    j->f.now_ms = node_now_ms(n);
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (q && evhttp_parse_query_str(q, &kv) != 0) snprintf(err, sizeof err, "malformed query string");
    for (struct evkeyval *e = kv.tqh_first; e && !err[0]; e = e->next.tqe_next) {
        if (!e->value[0]) continue;
        if (!strcmp(e->key, "limit")) {
            char *end;
            long long v = strtoll(e->value, &end, 10);
            if (*end || v < 1 || v > QUERY_LIMIT_MAX)
                snprintf(err, sizeof err, "limit: '%.40s' is not a number from 1 to %d", e->value, QUERY_LIMIT_MAX);
            else j->limit = (size_t)v;
        } else if (!strcmp(e->key, "after")) {
            after = e->value;
        } else {
            query_filter_set(&j->f, e->key, e->value, node_now_ms(n), err, sizeof err);
        }
    }
    query_scan_init(&j->s, &j->f);
    if (!err[0] && after[0] && query_cursor_parse(&j->s, after) != 0)
        snprintf(err, sizeof err, "after: '%.40s' is not a cursor from an earlier answer's \"next\"", after);
    evhttp_clear_headers(&kv);
    if (err[0]) {
        reply_error(req, 400, "Bad Request", err);
        report_rules_free(&j->rules);
        free(j);
        return;
    }
    a->n_jobs++;
    j->next = a->jobs;
    a->jobs = j;
    j->items = evbuffer_new();
    j->buf = malloc(ADMIN_CLIENTS_TURN * sizeof *j->buf);
    j->ev = evtimer_new(n->base, job_turn, j);
    if (!j->items || !j->buf || !j->ev) {
        evhttp_send_error(req, 500, NULL);
        job_free(j);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply_start(req, 200, "OK");
    evbuffer_add_printf(j->items, "{\"node\":\"%s\",\"time_ms\":%" PRId64 ",\"clients\":[", n->cfg.node_id,
                        node_now_ms(n));
    job_turn(-1, 0, j); /* the first page at once: a CMID look-up is answered right here */
}

admin_clients *admin_clients_new(node *n, admin_gate *gate)
{
    admin_clients *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->n = n;
    /* Personal data: the read token (the status page's search asks for it) or the admin token. */
    admin_gate_route(gate, "/clients", clients_cb, a, ADMIN_READ);
    return a;
}

void admin_clients_free(admin_clients **self_p)
{
    if (!self_p || !*self_p) return;
    admin_clients *a = *self_p;
    while (a->jobs) {
        job *j = a->jobs;
        a->jobs = j->next;
        a->n_jobs--;
        /* A request whose client left belongs to no connection: ending it frees it. The
         * others go with their connections in evhttp_free. */
        if (!evhttp_request_get_connection(j->req)) evhttp_send_reply_end(j->req);
        job_destroy(j);
    }
    free(a);
    *self_p = NULL;
}
