/* admin.c: HTTP admin endpoints of a node with libevent's evhttp (see admin.h). The pages
 * are built from the node's in-memory state only: no store scan, no blocking call. */
#include "node/admin.h"
#include "node/log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/admin_clients.h"
#include "node/admin_dns.h"
#include "node/admin_gate.h"
#include "node/admin_report.h"
#include "node/dns.h"
#include "node/ready.h"
#include "node/server.h"
#include "node/statuspage.h"
#include "proto/kms.h"
#include "proto/json.h"
#include "proto/products.h"
#include "replication/repl.h"

struct admin {
    node *n;
    struct evhttp *http;
    admin_clients *clients; /* GET /clients (admin_clients.c) */
    admin_dns *dns;         /* GET /dns, POST /drain, POST /undrain (admin_dns.c) */
    admin_gate *gate;       /* the socket and the checks every request passes (admin_gate.c) */
    admin_report *report;   /* GET /report and the background reports (admin_report.c) */
};

static void put_evbuffer(void *ctx, const char *p, size_t n) { evbuffer_add(ctx, p, n); }
static void add_json_string(struct evbuffer *b, const char *s) { json_write_str(s, put_evbuffer, b); }

static void send_reply(struct evhttp_request *req, int code, const char *reason,
                       const char *type, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, body);
}

static void healthz_cb(struct evhttp_request *req, void *arg)
{
    admin *a = arg;
    if (!admin_get_only(req)) return;
    struct evbuffer *b = evbuffer_new();
    store_stats st;
    store_get_stats(a->n->store, &st);
    if (a->n->stopping) {
        evbuffer_add_printf(b, "stopping\n");
        send_reply(req, 503, "Service Unavailable", "text/plain", b);
    } else if (!ready_serving(a->n->ready)) {
        /* Not ready: monitoring and load balancers see what clients see (refused). */
        evbuffer_add_printf(b, "not ready: %s\n", ready_reason(a->n->ready));
        send_reply(req, 503, "Service Unavailable", "text/plain", b);
    } else {
        if (ready_get(a->n->ready) == READY_ALONE) evbuffer_add_printf(b, "ok (serving alone: %s)\n", ready_reason(a->n->ready));
        else evbuffer_add_printf(b, "ok\n");
        send_reply(req, 200, "OK", "text/plain", b);
    }
    evbuffer_free(b);
}

/* Lets the status page served by one node read the others' /status: a request whose
 * Origin is a configured admin address (http://HOST:PORT) may read the answer. No other
 * origin may. (Its workstation names and client addresses need the read token, which the
 * page sends to its own node only: a peer's are null.) */
static void allow_peer_origin(struct evhttp_request *req, const node *n)
{
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Vary", "Origin");
    if (!origin || strncmp(origin, "http://", 7) != 0) return;
    for (int i = 0; i < n->cfg.n_peers; i++)
        for (int k = 0; k < n->cfg.peers[i].n_admin; k++) {
            const config_addr *ad = &n->cfg.peers[i].admin_addrs[k];
            char addr[300];
            snprintf(addr, sizeof addr, strchr(ad->host, ':') ? "[%s]:%u" : "%s:%u", ad->host, ad->port);
            if (strcmp(origin + 7, addr) == 0) {
                evhttp_add_header(h, "Access-Control-Allow-Origin", origin);
                return;
            }
        }
}

static void statuspage_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (!admin_get_only(req)) return;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, statuspage_html, statuspage_html_len, NULL, NULL);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    /* Everything the page needs is inline; it talks only to admin addresses. */
    evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                      "script-src 'unsafe-inline'; connect-src 'self' http:");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    send_reply(req, 200, "OK", "text/html; charset=utf-8", b);
    evbuffer_free(b);
}

/* ,"unknown_products":{...}: the KMS counted IDs not in the product table (unknownids.h). */
static void add_unknown_ids(struct evbuffer *b, const unknownids *u)
{
    evbuffer_add_printf(b, ",\"unknown_products\":{\"max_tracked\":%d,\"ids\":[", UNKNOWNIDS_MAX);
    for (size_t i = 0; i < u->n; i++) {
        const unknownids_entry *e = &u->e[i];
        char id[KMS_GUID_STRLEN];
        evbuffer_add_printf(b, "%s{\"kms_id\":\"%s\",\"application\":\"%s\",\"application_name\":",
                            i ? "," : "", kms_guid_format(&e->kms_id, id), products_app_slug((kms_app)e->app));
        add_json_string(b, products_app_name((kms_app)e->app));
        evbuffer_add_printf(b, ",\"first_seen_ms\":%" PRId64 ",\"last_seen_ms\":%" PRId64
                               ",\"requests\":%" PRIu64 ",\"activated\":%" PRIu64 "}",
                            e->first_seen_ms, e->last_seen_ms, e->requests, e->activated);
    }
    evbuffer_add_printf(b, "],\"other_requests\":%" PRIu64 ",\"other_activated\":%" PRIu64 "}",
                        u->other_requests, u->other_activated);
}

static void status_cb(struct evhttp_request *req, void *arg)
{
    admin *a = arg;
    if (!admin_get_only(req)) return;
    node *n = a->n;
    metrics *m = &n->metrics;
    struct evbuffer *b = evbuffer_new();
    int64_t now = node_now_ms(n);

    evbuffer_add_printf(b, "{\"node\":");
    add_json_string(b, n->cfg.node_id);
    evbuffer_add_printf(b, ",\"uptime_s\":%" PRId64 ",\"time_ms\":%" PRId64 ",\"listen\":[",
                        (now - n->started_ms) / 1000, now);
    for (int i = 0; i < n->cfg.n_listen; i++) {
        char addr[300];
        snprintf(addr, sizeof addr, strchr(n->cfg.listen[i].host, ':') ? "[%s]:%u" : "%s:%u",
                 n->cfg.listen[i].host, n->cfg.listen[i].port);
        if (i) evbuffer_add(b, ",", 1);
        add_json_string(b, addr);
    }
    evbuffer_add_printf(b, "],\"counts\":{");
    for (int app = 0; app < KMS_APP_COUNT; app++) {
        clients_stat cs = clients_stat_at(n->clients, app, now);
        evbuffer_add_printf(b, "%s\"%s\":{\"count\":%" PRIu32 ",\"live_clients\":%" PRIu32
                               ",\"max_n\":%u,\"name\":",
                            app ? "," : "", products_app_slug((kms_app)app), cs.count, cs.live, cs.max_n);
        add_json_string(b, products_app_name((kms_app)app));
        evbuffer_add_printf(b, "}");
    }
    evbuffer_add_printf(b, "},\"requests\":{\"total\":%" PRIu64 ",\"failed\":%" PRIu64
                           ",\"by_license_status\":{",
                        m->requests_total, m->requests_failed);
    for (int i = 0; i < 8; i++)
        evbuffer_add_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "", metrics_license_status_name(i),
                            m->by_license_status[i]);
    evbuffer_add_printf(b, "},\"by_result\":{");
    for (int i = 0; i < MR_COUNT; i++)
        evbuffer_add_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "", metrics_result_name(i), m->by_result[i]);
    evbuffer_add_printf(b, "},\"by_protocol\":{\"4\":%" PRIu64 ",\"5\":%" PRIu64 ",\"6\":%" PRIu64 "}}",
                        m->by_protocol[0], m->by_protocol[1], m->by_protocol[2]);
    evbuffer_add_printf(b, ",\"connections\":{\"open\":%" PRIu64 ",\"total\":%" PRIu64 ",\"refused\":{",
                        m->connections_open, m->connections_total);
    for (int i = 0; i < MREF_COUNT; i++)
        evbuffer_add_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "", metrics_refusal_name(i), m->refusals[i]);
    store_stats st;
    store_get_stats(n->store, &st);
    evbuffer_add_printf(b, "}},\"store\":{\"records\":%" PRIu64 ",\"index_records\":%zu"
                           ",\"commits\":%" PRIu64 ",\"records_written\":%" PRIu64
                           ",\"failures\":%" PRIu64 ",\"map_size\":%" PRIu64 ",\"map_used\":%" PRIu64
                           ",\"last_commit_ms\":%.3f,\"max_commit_ms\":%.3f}",
                        st.entries, clients_size(n->clients), st.commits, st.records_written,
                        st.failures, st.map_size, st.map_used, st.last_commit_ms, st.commit_max_ms);
    audit_stats as;
    audit_get_stats(&as);
    evbuffer_add_printf(b, ",\"audit\":{\"ok\":%s,\"lines\":%" PRIu64 ",\"write_failures\":%" PRIu64
                           ",\"lines_lost\":%" PRIu64 ",\"gap_records\":%" PRIu64 ",\"pending_lines\":%" PRIu64
                           ",\"failing\":%s,\"unrecorded_gap\":%" PRIu64 ",\"last_error\":",
                        as.failing || as.unrecorded_gap ? "false" : "true", as.lines, as.write_failures, as.lines_lost,
                        as.gap_records, as.pending_lines, as.failing ? "true" : "false", as.unrecorded_gap);
    add_json_string(b, as.write_failures ? strerror(as.last_errno) : "");
    evbuffer_add_printf(b, "}");
    char clock_why[300];
    timecheck_describe(&n->clock, clock_why, sizeof clock_why);
    evbuffer_add_printf(b, ",\"clock\":{\"trusted\":%s,\"state\":\"%s\",\"jumps\":%" PRIu64
                           ",\"last_jump_ms\":%" PRId64 ",\"peers_agree\":%d,\"peers_disagree\":%d"
                           ",\"tolerance_s\":%u,\"pruning\":\"%s\",\"detail\":",
                        n->clock.trusted ? "true" : "false", timecheck_state_name(n->clock.state), n->clock.jumps,
                        n->clock.last_jump_ms, n->clock.peers_agree, n->clock.peers_disagree,
                        n->cfg.clock_max_offset_s, n->clock.trusted ? "on" : "suspended");
    add_json_string(b, clock_why);
    evbuffer_add_printf(b, "}");
    evbuffer_add_printf(b, ",\"cluster\":{\"name\":");
    add_json_string(b, n->cfg.cluster_name);
    evbuffer_add_printf(b, ",\"origin\":");
    add_json_string(b, n->origin);
    store_vv vv;
    store_get_vv(n->store, &vv);
    evbuffer_add_printf(b, ",\"version_vector\":{");
    for (int i = 0; i < vv.n; i++) {
        if (i) evbuffer_add(b, ",", 1);
        add_json_string(b, vv.e[i].origin);
        evbuffer_add_printf(b, ":%" PRIu64, vv.e[i].seq);
    }
    uint64_t log_entries = 0;
    int64_t log_oldest = 0;
    store_log_stats(n->store, &log_entries, &log_oldest);
    evbuffer_add_printf(b, "},\"log_entries\":%" PRIu64 ",\"log_oldest_ms\":%" PRId64 ",\"log_bytes\":%" PRIu64
                           ",\"peers\":[",
                        log_entries, log_oldest, store_log_bytes(n->store));
    for (int i = 0; i < repl_peer_count(n->repl); i++) {
        repl_peer_info pi;
        repl_peer_get(n->repl, i, &pi);
        evbuffer_add_printf(b, "%s{\"id\":", i ? "," : "");
        add_json_string(b, pi.id);
        evbuffer_add_printf(b, ",\"site\":");
        add_json_string(b, pi.site);
        const config_peer *cp = config_find_peer(&n->cfg, pi.id);
        char addr[CONFIG_MAX_PEER_ADDRS * 270] = "";
        if (cp && cp->admin.port)
            snprintf(addr, sizeof addr, strchr(cp->admin.host, ':') ? "[%s]:%u" : "%s:%u", cp->admin.host, cp->admin.port);
        evbuffer_add_printf(b, ",\"admin\":");
        add_json_string(b, addr);
        addr[0] = 0;
        for (int k = 0, used = 0; cp && k < cp->n_kms; k++) { /* every address: "IPv4:PORT, [IPv6]:PORT" */
            const config_addr *ka = &cp->kms_addrs[k];
            int w = snprintf(addr + used, sizeof addr - (size_t)used, strchr(ka->host, ':') ? "%s[%s]:%u" : "%s%s:%u",
                             k ? ", " : "", ka->host, ka->port);
            if (w < 0 || (size_t)w >= sizeof addr - (size_t)used) break;
            used += w;
        }
        evbuffer_add_printf(b, ",\"kms\":");
        add_json_string(b, addr);
        evbuffer_add_printf(b, ",\"self\":%s,\"alive\":%s,\"last_heard_ms\":%" PRId64,
                            pi.self ? "true" : "false", pi.alive ? "true" : "false", pi.last_heard_ms);
        /* A peer that is not heard: its lag is unknown (null), not 0. */
        if (pi.lag_known)
            evbuffer_add_printf(b, ",\"lag_updates\":%" PRIu64 ",\"lag_ms\":%" PRId64, pi.lag_updates, pi.lag_ms);
        else
            evbuffer_add_printf(b, ",\"lag_updates\":null,\"lag_ms\":null");
        if (pi.clock_known) evbuffer_add_printf(b, ",\"clock_offset_ms\":%" PRId64, pi.clock_offset_ms);
        else evbuffer_add_printf(b, ",\"clock_offset_ms\":null");
        evbuffer_add_printf(b, ",\"updates_received\":%" PRIu64 ",\"malformed\":%" PRIu64 "}",
                            pi.updates_received, pi.malformed);
    }
    repl_stats rs;
    repl_get_stats(n->repl, &rs);
    evbuffer_add_printf(b, "],\"replication\":{\"enabled\":%s,\"published\":%" PRIu64 ",\"applied\":%" PRIu64
                           ",\"duplicates\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"sync_requests\":%" PRIu64
                           ",\"sync_replies\":%" PRIu64 ",\"snapshot_records\":%" PRIu64
                           ",\"malformed\":%" PRIu64 ",\"refused_keys\":%" PRIu64
                           ",\"sync_dropped\":%" PRIu64 ",\"origins_refused\":%" PRIu64
                           ",\"origins_retired\":%" PRIu64 "}}",
                        n->repl ? "true" : "false", rs.published, rs.applied, rs.duplicates, rs.gaps,
                        rs.sync_requests, rs.sync_replies, rs.snapshot_records, rs.malformed, rs.refused_keys,
                        rs.sync_dropped, rs.origins_refused, rs.origins_retired);
    evbuffer_add_printf(b, ",\"serving\":{\"state\":\"%s\",\"since_ms\":%" PRId64 ",\"reason\":",
                        ready_state_name(ready_get(n->ready)), ready_since_ms(n->ready));
    add_json_string(b, ready_reason(n->ready));
    evbuffer_add(b, "}", 1);
    dns_status_json(n->dns, b);
    add_unknown_ids(b, &n->unknown_ids);
    /* The last activations: workstation names and client addresses are personal data, shown
     * only to a request with the read token or the admin token (null for others). */
    bool personal = admin_gate_may_read(a->gate, req);
    evbuffer_add_printf(b, ",\"recent\":[");
    unsigned shown = 0;
    for (unsigned k = 0; k < NODE_RECENT_MAX && k < n->recent_next; k++) {
        const node_recent *r = &n->recent[(n->recent_next - 1 - k) % NODE_RECENT_MAX];
        evbuffer_add_printf(b, "%s{\"ts_ms\":%" PRId64 ",\"workstation\":", shown++ ? "," : "", r->ts_ms);
        if (personal) add_json_string(b, r->workstation);
        else evbuffer_add_printf(b, "null");
        evbuffer_add_printf(b, ",\"address\":");
        if (personal) add_json_string(b, r->address);
        else evbuffer_add_printf(b, "null");
        evbuffer_add_printf(b, ",\"product\":");
        add_json_string(b, r->product);
        evbuffer_add_printf(b, ",\"application\":\"%s\",\"count\":%" PRIu32 ",\"result\":\"0x%08" PRIX32
                               "\",\"result_name\":\"%s\"}",
                            r->app >= 0 ? products_app_slug((kms_app)r->app) : "unknown", r->count, r->hresult,
                            metrics_result_name(r->result));
    }
    evbuffer_add_printf(b, "]}\n");
    allow_peer_origin(req, n);
    send_reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

/* GET /activity: this node's answers per minute over the last 24 hours (oldest first),
 * for the status page's chart (which sums every node's). */
static void activity_cb(struct evhttp_request *req, void *arg)
{
    admin *a = arg;
    if (!admin_get_only(req)) return;
    node *n = a->n;
    node_activity_advance(n, node_now_ms(n));
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"node\":");
    add_json_string(b, n->cfg.node_id);
    evbuffer_add_printf(b, ",\"minutes\":%d,\"end_ms\":%" PRId64, NODE_ACTIVITY_MINUTES,
                        (n->activity_minute + 1) * 60000);
    const uint32_t *rows[2] = {n->activity_activated, n->activity_below};
    const char *names[2] = {"activated", "below_threshold"};
    for (int k = 0; k < 2; k++) {
        evbuffer_add_printf(b, ",\"%s\":[", names[k]);
        for (int i = 0; i < NODE_ACTIVITY_MINUTES; i++) {
            int64_t m = n->activity_minute - NODE_ACTIVITY_MINUTES + 1 + i;
            evbuffer_add_printf(b, "%s%" PRIu32, i ? "," : "", m < 0 ? 0 : rows[k][m % NODE_ACTIVITY_MINUTES]);
        }
        evbuffer_add_printf(b, "]");
    }
    evbuffer_add_printf(b, "}\n");
    allow_peer_origin(req, n);
    send_reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

/* One Prometheus histogram: buckets[i] counts the observations up to bounds_ms[i] (not
 * cumulative; the last bucket is +Inf), sum_ms their sum, count their number. */
static void put_histogram(struct evbuffer *b, const char *name, const char *help, const char *id,
                          const double *bounds_ms, const uint64_t *buckets, int n, double sum_ms,
                          uint64_t count)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < n; i++) {
        cum += buckets[i];
        if (i == n - 1)
            evbuffer_add_printf(b, "%s_bucket{node=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, id, cum);
        else
            evbuffer_add_printf(b, "%s_bucket{node=\"%s\",le=\"%g\"} %" PRIu64 "\n", name, id,
                                bounds_ms[i] / 1000.0, cum);
    }
    evbuffer_add_printf(b, "%s_sum{node=\"%s\"} %.6f\n", name, id, sum_ms / 1000.0);
    evbuffer_add_printf(b, "%s_count{node=\"%s\"} %" PRIu64 "\n", name, id, count);
}

/* One series without labels but the node's: HELP, TYPE and the value. */
static void put_series(struct evbuffer *b, const char *name, const char *type, const char *id, int64_t value,
                       const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"%s\"} %" PRId64 "\n", name, help, name, type, name,
                        id, value);
}
static void put_counter(struct evbuffer *b, const char *name, const char *id, uint64_t value, const char *help)
{
    put_series(b, name, "counter", id, value > INT64_MAX ? INT64_MAX : (int64_t)value, help);
}
static void put_gauge(struct evbuffer *b, const char *name, const char *id, int64_t value, const char *help)
{
    put_series(b, name, "gauge", id, value, help);
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
    admin *a = arg;
    if (!admin_get_only(req)) return;
    node *n = a->n;
    metrics *m = &n->metrics;
    const char *id = n->cfg.node_id; /* validated: [A-Za-z0-9._-] */
    struct evbuffer *b = evbuffer_new();
    int64_t now = node_now_ms(n);
    clients_stat counts[KMS_APP_COUNT];
    for (int i = 0; i < KMS_APP_COUNT; i++) counts[i] = clients_stat_at(n->clients, i, now);

    put_gauge(b, "kmsha_up", id, n->stopping ? 0 : 1,
              "Whether the node is serving (1) or stopping (0).");
    audit_stats as;
    audit_get_stats(&as);
    put_counter(b, "kmsha_audit_write_failures_total", id, as.write_failures,
                "Writes of the audit log that failed (its lines are kept and retried, up to 256 KiB).");
    put_counter(b, "kmsha_audit_lines_lost_total", id, as.lines_lost,
                "Audit lines that could not be kept for a retry (a gap line in the audit log says how many).");
    put_gauge(b, "kmsha_audit_pending_lines", id, as.pending_lines,
              "Audit lines waiting to be written.");
    put_gauge(b, "kmsha_clock_trusted", id, n->clock.trusted ? 1 : 0,
              "Whether this node trusts its wall clock (1): confirmed by a live peer, or without peers not "
              "stepped. 0: it disagrees with its peers, stepped, or is not yet confirmed; records and the "
              "update log are not pruned meanwhile.");
    put_counter(b, "kmsha_clock_jumps_total", id, n->clock.jumps,
                "Steps of the wall clock against the monotonic clock beyond clock_max_offset_s (also while the "
                "node was stopped).");
    put_gauge(b, "kmsha_start_time_seconds", id, n->started_ms / 1000,
              "Unix time the node started.");
    evbuffer_add_printf(b, "# HELP kmsha_requests_total KMS requests by result.\n# TYPE kmsha_requests_total counter\n");
    for (int i = 0; i < MR_COUNT; i++)
        evbuffer_add_printf(b, "kmsha_requests_total{node=\"%s\",result=\"%s\"} %" PRIu64 "\n", id,
                            metrics_result_name(i), m->by_result[i]);
    put_counter(b, "kmsha_requests_failed_total", id, m->requests_failed,
                "KMS requests not activated (slmgr /dlv 'failed requests').");
    evbuffer_add_printf(b, "# HELP kmsha_requests_by_license_status_total KMS requests by the client's licence status.\n"
                           "# TYPE kmsha_requests_by_license_status_total counter\n");
    for (int i = 0; i < 8; i++)
        evbuffer_add_printf(b, "kmsha_requests_by_license_status_total{node=\"%s\",status=\"%s\"} %" PRIu64 "\n",
                            id, metrics_license_status_name(i), m->by_license_status[i]);
    evbuffer_add_printf(b, "# HELP kmsha_requests_by_protocol_total KMS requests by protocol version.\n"
                           "# TYPE kmsha_requests_by_protocol_total counter\n");
    for (int i = 0; i < 3; i++)
        evbuffer_add_printf(b, "kmsha_requests_by_protocol_total{node=\"%s\",protocol=\"%d\"} %" PRIu64 "\n",
                            id, i + 4, m->by_protocol[i]);
    evbuffer_add_printf(b, "# HELP kmsha_activations_total Successful activations by application.\n"
                           "# TYPE kmsha_activations_total counter\n");
    for (int i = 0; i < KMS_APP_COUNT; i++)
        evbuffer_add_printf(b, "kmsha_activations_total{node=\"%s\",application=\"%s\"} %" PRIu64 "\n",
                            id, products_app_slug((kms_app)i), m->by_app[i]);
    evbuffer_add_printf(b, "# HELP kmsha_requests_by_product_total KMS requests by product group (KMS counted ID) and result.\n"
                           "# TYPE kmsha_requests_by_product_total counter\n");
    for (int i = 0; i < METRICS_PRODUCT_SLOTS; i++) {
        const kms_product *kp = i < METRICS_PRODUCT_SLOTS - 1 && (size_t)i < products_count() ? products_at((size_t)i) : NULL;
        if (!kp && i < METRICS_PRODUCT_SLOTS - 1) continue;
        for (int r = 0; r < MR_COUNT; r++)
            if (m->by_product[i][r]) /* a series appears with its first request */
                evbuffer_add_printf(b, "kmsha_requests_by_product_total{node=\"%s\",product=\"%s\",application=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                                    id, kp ? kp->slug : "unknown", kp ? products_app_slug(kp->app) : "unknown",
                                    metrics_result_name(r), m->by_product[i][r]);
    }
    evbuffer_add_printf(b, "# HELP kmsha_unknown_product_requests_total Requests for KMS counted IDs the product table does not know, "
                           "per ID and application (at most %d IDs per node, the rest as kms_id=\"other\").\n"
                           "# TYPE kmsha_unknown_product_requests_total counter\n", UNKNOWNIDS_MAX);
    for (size_t i = 0; i < n->unknown_ids.n; i++) {
        const unknownids_entry *e = &n->unknown_ids.e[i];
        char kid[KMS_GUID_STRLEN];
        evbuffer_add_printf(b, "kmsha_unknown_product_requests_total{node=\"%s\",kms_id=\"%s\",application=\"%s\"} %" PRIu64 "\n",
                            id, kms_guid_format(&e->kms_id, kid), products_app_slug((kms_app)e->app), e->requests);
    }
    if (n->unknown_ids.other_seen)
        evbuffer_add_printf(b, "kmsha_unknown_product_requests_total{node=\"%s\",kms_id=\"other\",application=\"other\"} %" PRIu64 "\n",
                            id, n->unknown_ids.other_requests);
    evbuffer_add_printf(b, "# HELP kmsha_count_reported Current count a client of this application is told (slmgr /dlv).\n"
                           "# TYPE kmsha_count_reported gauge\n");
    for (int i = 0; i < KMS_APP_COUNT; i++)
        evbuffer_add_printf(b, "kmsha_count_reported{node=\"%s\",application=\"%s\"} %" PRIu32 "\n", id,
                            products_app_slug((kms_app)i), counts[i].count);
    evbuffer_add_printf(b, "# HELP kmsha_application_served Whether [kms] allow_products serves this application "
                           "(the count alerts consider only those).\n# TYPE kmsha_application_served gauge\n");
    for (int i = 0; i < KMS_APP_COUNT; i++)
        evbuffer_add_printf(b, "kmsha_application_served{node=\"%s\",application=\"%s\"} %d\n", id,
                            products_app_slug((kms_app)i), config_app_served(&n->cfg, i) ? 1 : 0);
    evbuffer_add_printf(b, "# HELP kmsha_clients_live Distinct clients seen within the lifetime window.\n"
                           "# TYPE kmsha_clients_live gauge\n");
    for (int i = 0; i < KMS_APP_COUNT; i++)
        evbuffer_add_printf(b, "kmsha_clients_live{node=\"%s\",application=\"%s\"} %" PRIu32 "\n", id,
                            products_app_slug((kms_app)i), counts[i].live);
    put_gauge(b, "kmsha_connections_open", id, m->connections_open,
              "Open KMS connections.");
    put_counter(b, "kmsha_connections_total", id, m->connections_total,
                "Accepted KMS connections.");
    evbuffer_add_printf(b, "# HELP kmsha_refusals_total Connections refused or closed, and faults, by cause.\n"
                           "# TYPE kmsha_refusals_total counter\n");
    for (int i = 0; i < MREF_COUNT; i++)
        evbuffer_add_printf(b, "kmsha_refusals_total{node=\"%s\",cause=\"%s\"} %" PRIu64 "\n", id,
                            metrics_refusal_name(i), m->refusals[i]);
    put_histogram(b, "kmsha_request_duration_seconds", "Time from a KMS request to its answer (commit included).",
                  id, metrics_latency_bounds_ms, m->latency.bucket, METRICS_LATENCY_BUCKETS,
                  m->latency.sum_ms, m->latency.count);
    store_stats st;
    store_get_stats(n->store, &st);
    put_gauge(b, "kmsha_store_records", id, st.entries,
              "Client records in the node's store.");
    put_counter(b, "kmsha_store_commits_total", id, st.commits,
                "Group commits to LMDB.");
    put_counter(b, "kmsha_store_records_written_total", id, st.records_written,
                "Client records written by the group commits (divided by kmsha_store_commits_total: records per "
                "commit).");
    put_counter(b, "kmsha_store_commit_window_waits_total", id, st.window_waits,
                "Commits that first waited commit_delay_ms for more records (0 unless commit_delay_ms is set).");
    put_gauge(b, "kmsha_store_queued", id, st.queued,
              "Writes queued for the next group commit.");
    uint64_t commits_timed = 0;
    for (int i = 0; i < STORE_COMMIT_BUCKETS; i++) commits_timed += st.commit_bucket[i];
    put_histogram(b, "kmsha_store_commit_seconds", "Duration of the LMDB commits of client records, fsync included.",
                  id, store_commit_bounds_ms, st.commit_bucket, STORE_COMMIT_BUCKETS, st.commit_sum_ms,
                  commits_timed);
    put_counter(b, "kmsha_store_failures_total", id, st.failures,
                "Failed commits.");
    put_gauge(b, "kmsha_store_map_used_bytes", id, st.map_used,
              "Bytes of the LMDB map in use.");
    if (n->repl) {
        evbuffer_add_printf(b, "# HELP kmsha_peer_up Whether a peer's heartbeats arrive (1) or it is considered dead (0).\n"
                               "# TYPE kmsha_peer_up gauge\n");
        for (int i = 0; i < repl_peer_count(n->repl); i++) {
            repl_peer_info pi;
            repl_peer_get(n->repl, i, &pi);
            evbuffer_add_printf(b, "kmsha_peer_up{node=\"%s\",peer=\"%s\"} %d\n", id, pi.id, pi.alive ? 1 : 0);
        }
        evbuffer_add_printf(b, "# HELP kmsha_replication_lag_updates Updates a peer has that this node has not applied "
                               "(no sample while the peer is not heard: unknown).\n"
                               "# TYPE kmsha_replication_lag_updates gauge\n");
        for (int i = 0; i < repl_peer_count(n->repl); i++) {
            repl_peer_info pi;
            repl_peer_get(n->repl, i, &pi);
            if (!pi.self && pi.lag_known)
                evbuffer_add_printf(b, "kmsha_replication_lag_updates{node=\"%s\",peer=\"%s\"} %" PRIu64 "\n", id, pi.id, pi.lag_updates);
        }
        evbuffer_add_printf(b, "# HELP kmsha_replication_lag_seconds How long this node has been behind a peer.\n"
                               "# TYPE kmsha_replication_lag_seconds gauge\n");
        for (int i = 0; i < repl_peer_count(n->repl); i++) {
            repl_peer_info pi;
            repl_peer_get(n->repl, i, &pi);
            if (!pi.self && pi.lag_known)
                evbuffer_add_printf(b, "kmsha_replication_lag_seconds{node=\"%s\",peer=\"%s\"} %.3f\n", id, pi.id, pi.lag_ms / 1000.0);
        }
        repl_stats rs;
        repl_get_stats(n->repl, &rs);
        evbuffer_add_printf(b, "# HELP kmsha_replication_updates_total Replication updates by outcome.\n"
                               "# TYPE kmsha_replication_updates_total counter\n"
                               "kmsha_replication_updates_total{node=\"%s\",outcome=\"published\"} %" PRIu64 "\n"
                               "kmsha_replication_updates_total{node=\"%s\",outcome=\"applied\"} %" PRIu64 "\n"
                               "kmsha_replication_updates_total{node=\"%s\",outcome=\"duplicate\"} %" PRIu64 "\n"
                               "kmsha_replication_updates_total{node=\"%s\",outcome=\"gap\"} %" PRIu64 "\n",
                            id, rs.published, id, rs.applied, id, rs.duplicates, id, rs.gaps);
        const metrics_hist *dh = &n->metrics.repl_delay;
        put_histogram(b, "kmsha_replication_delay_seconds",
                      "From an update's creation on its origin to this node counting it (live updates).", id,
                      metrics_latency_bounds_ms, dh->bucket, METRICS_LATENCY_BUCKETS, dh->sum_ms, dh->count);
        evbuffer_add_printf(b, "# HELP kmsha_peer_clock_offset_seconds A live peer's wall clock minus this node's "
                               "(from its heartbeats).\n# TYPE kmsha_peer_clock_offset_seconds gauge\n");
        for (int i = 0; i < repl_peer_count(n->repl); i++) {
            repl_peer_info pi;
            repl_peer_get(n->repl, i, &pi);
            if (pi.clock_known)
                evbuffer_add_printf(b, "kmsha_peer_clock_offset_seconds{node=\"%s\",peer=\"%s\"} %.3f\n", id, pi.id,
                                    (double)pi.clock_offset_ms / 1000);
        }
        put_counter(b, "kmsha_replication_future_refused_total", id, rs.future_refused,
                    "Records from peers refused as dated beyond this node's clock plus future_tolerance_h.");
        store_vv ovv;
        store_get_vv(n->store, &ovv);
        put_counter(b, "kmsha_replication_origins_refused_total", id, rs.origins_refused,
                    "New update origins refused (malformed, naming no peer, or that peer's share of the version "
                    "vector full).");
        char origins_help[128];
        snprintf(origins_help, sizeof origins_help,
                 "Update origins in this node's version vector (at most %d; superseded ones are retired).", STORE_VV_MAX);
        put_gauge(b, "kmsha_replication_origins", id, ovv.n, origins_help);
        put_counter(b, "kmsha_replication_origins_retired_total", id, rs.origins_retired,
                    "Update origins retired from the version vector: superseded, and held by every peer.");
        put_counter(b, "kmsha_replication_malformed_total", id, rs.malformed,
                    "Replication messages dropped as malformed.");
        put_counter(b, "kmsha_replication_refused_keys_total", id, rs.refused_keys,
                    "Connections refused for an unknown CURVE key.");
        put_counter(b, "kmsha_replication_sync_dropped_total", id, rs.sync_dropped,
                    "Catch-up replies dropped because the requesting peer did not read the earlier ones.");
    }
    admin_gate_stats gs;
    admin_gate_get_stats(a->gate, &gs);
    put_gauge(b, "kmsha_admin_connections", id, gs.open,
              "Open connections to the admin address.");
    evbuffer_add_printf(b, "# HELP kmsha_admin_refusals_total Admin connections or requests refused: connection "
                           "limit reached, headers or body not complete in time, or denied (Host, Origin, token).\n"
                           "# TYPE kmsha_admin_refusals_total counter\n"
                           "kmsha_admin_refusals_total{node=\"%s\",cause=\"connection_limit\"} %" PRIu64 "\n"
                           "kmsha_admin_refusals_total{node=\"%s\",cause=\"header_timeout\"} %" PRIu64 "\n"
                           "kmsha_admin_refusals_total{node=\"%s\",cause=\"body_timeout\"} %" PRIu64 "\n"
                           "kmsha_admin_refusals_total{node=\"%s\",cause=\"denied\"} %" PRIu64 "\n",
                        id, gs.refused, id, gs.header_timed_out, id, gs.body_timed_out, id, gs.denied);
    ready_metrics(n->ready, b);
    dns_metrics(n->dns, b);
    admin_report_metrics(a->report, b);
    send_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

static void fallback_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (!admin_get_only(req)) return;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "not found: try /status, /metrics, /healthz, /report or /clients\n");
    send_reply(req, 404, "Not Found", "text/plain", b);
    evbuffer_free(b);
}

admin *admin_new(node *n, char *err, size_t errlen)
{
    err[0] = 0;
    if (n->cfg.admin.port == 0) return NULL;
    admin *a = calloc(1, sizeof *a);
    if (!a) { snprintf(err, errlen, "out of memory"); return NULL; }
    a->n = n;
    a->http = evhttp_new(n->base);
    if (!a->http) {
        snprintf(err, errlen, "out of memory");
        admin_free(&a);
        return NULL;
    }
    /* The gate owns the socket: connection limit, request deadline, Host, Origin, token. */
    a->gate = admin_gate_new(n, a->http, err, errlen);
    if (!a->gate) {
        admin_free(&a);
        return NULL;
    }
    /* POST only for /drain and /undrain: every other handler starts with admin_get_only(). */
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 4096);
    evhttp_set_timeout(a->http, 10);
    /* Monitoring is open (the guide says who should reach it): /activity is answers per
     * minute, no client; client records need the read token, changes the admin token. */
    admin_gate_route(a->gate, "/healthz", healthz_cb, a, ADMIN_OPEN);
    admin_gate_route(a->gate, "/status", status_cb, a, ADMIN_OPEN);
    admin_gate_route(a->gate, "/metrics", metrics_cb, a, ADMIN_OPEN);
    admin_gate_route(a->gate, "/activity", activity_cb, a, ADMIN_OPEN);
    admin_gate_route(a->gate, "/", statuspage_cb, a, ADMIN_OPEN);
    a->clients = admin_clients_new(n, a->gate);
    if (!a->clients) {
        snprintf(err, errlen, "out of memory");
        admin_free(&a);
        return NULL;
    }
    a->dns = admin_dns_new(n, a->gate);
    if (!a->dns) {
        snprintf(err, errlen, "out of memory");
        admin_free(&a);
        return NULL;
    }
    a->report = admin_report_new(n, a->gate);
    if (!a->report) {
        snprintf(err, errlen, "out of memory");
        admin_free(&a);
        return NULL;
    }
    admin_gate_fallback(a->gate, fallback_cb, a);
    return a;
}

void admin_free(admin **self_p)
{
    if (!self_p || !*self_p) return;
    admin_clients_free(&(*self_p)->clients); /* before evhttp_free, which frees their requests */
    admin_dns_free(&(*self_p)->dns);
    admin_report_free(&(*self_p)->report);
    if ((*self_p)->http) evhttp_free((*self_p)->http); /* closes the gate's connections */
    admin_gate_free(&(*self_p)->gate);
    free(*self_p);
    *self_p = NULL;
}
