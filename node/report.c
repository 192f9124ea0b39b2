/* report.c: activation health from client records (see report.h). One pass over the
 * records fills per-application and per-room counters, bounded lists, a per-day histogram
 * of when each live client stops counting (the forecast), the count history, and per
 * application a min-heap of the REPORT_N_MAX latest expiries, whose N-th is the moment the
 * count falls below N if no client comes back. */
#include "node/report.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "node/clients.h"
#include "node/metrics.h"
#include "node/query.h"
#include "proto/errors.h"
#include "proto/guid.h"
#include "proto/products.h"

#define DAY_MS ((int64_t)86400 * 1000)
#define ROOM_SLOTS (2 * REPORT_ROOMS_MAX) /* open addressing, at most half full */

/* ---- rules ---- */

int report_rules_init(report_rules *r, const kmsd_config *cfg, const struct clients_index *index, char *err,
                      size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->lifetime_ms = (int64_t)cfg->client_lifetime_days * DAY_MS;
    r->at_risk_ms = (int64_t)cfg->report_at_risk_days * DAY_MS;
    r->index = index;
    r->prefix_v4 = cfg->report_room_prefix_v4 > 32 ? 32 : cfg->report_room_prefix_v4;
    r->prefix_v6 = cfg->report_room_prefix_v6 > 128 ? 128 : cfg->report_room_prefix_v6;
    if (cfg->report_room_pattern[0]) {
        if (regcomp(&r->pattern, cfg->report_room_pattern, REG_EXTENDED) != 0) {
            snprintf(err, errlen, "[report] room_pattern: not a POSIX extended regular expression");
            return KMS_EINVAL;
        }
        r->has_pattern = true;
    }
    return 0;
}

void report_rules_free(report_rules *r)
{
    if (r->has_pattern) regfree(&r->pattern);
    r->has_pattern = false;
}

/* The count reported for `live` clients with largest N max_n: the count index's rule. */
static uint32_t rule_count(const report_rules *r, uint32_t live, uint16_t max_n)
{
    return r->index ? clients_rule_count(r->index, live, max_n) : live;
}

bool report_live(const report_rules *r, const store_record *rec, int64_t now_ms)
{
    return rec->last_seen_ms >= now_ms - r->lifetime_ms;
}

/* Licence states in which Windows keeps asking and eventually stops working. */
static bool risky_state(uint8_t s)
{
    return s == 0 || s == 2 || s == 3 || s == 4 || s == 5;
}

bool report_at_risk(const report_rules *r, const store_record *rec, int64_t now_ms, int64_t *stops_ms,
                    const char **why)
{
    int64_t stops = 0;
    const char *reason = NULL;
    if (rec->count && !store_record_below_threshold(rec)) {
        stops = rec->last_seen_ms + REPORT_ACTIVATION_VALIDITY_MS;
        if (stops - now_ms < r->at_risk_ms) reason = "activation expires without renewal";
    } else {
        if (rec->binding_expiration) stops = rec->last_seen_ms + (int64_t)rec->binding_expiration * 60000;
        if (risky_state(rec->license_status)) reason = metrics_license_status_name(rec->license_status);
        else if (stops && stops - now_ms < r->at_risk_ms) reason = "licence state expires";
    }
    if (stops_ms) *stops_ms = stops;
    if (why) *why = reason ? reason : "";
    return reason != NULL;
}

int report_names_live(const report_rules *r, const store_record *rec, int64_t now_ms)
{
    int n = 0;
    for (unsigned i = 0; i < rec->n_names && i < STORE_NAMES_MAX; i++)
        if (rec->names[i].last_seen_ms >= now_ms - r->lifetime_ms) n++;
    return n;
}

static void mask_bits(uint8_t *a, size_t len, unsigned prefix)
{
    for (size_t i = 0; i < len; i++) {
        unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
        a[i] &= (uint8_t)(keep ? 0xFF << (8 - keep) : 0);
    }
}

void report_room(const report_rules *r, const store_record *rec, char out[REPORT_ROOM_MAX])
{
    if (r->has_pattern) {
        regmatch_t m[2];
        if (regexec(&r->pattern, rec->workstation, 2, m, 0) == 0 && m[1].rm_so >= 0 && m[1].rm_eo > m[1].rm_so) {
            size_t n = (size_t)(m[1].rm_eo - m[1].rm_so);
            if (n > REPORT_ROOM_MAX - 1) n = REPORT_ROOM_MAX - 1;
            memcpy(out, rec->workstation + m[1].rm_so, n);
            out[n] = 0;
        } else {
            snprintf(out, REPORT_ROOM_MAX, "unmatched");
        }
        return;
    }
    uint8_t a[16];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, rec->address, a) == 1 ||
        (strncmp(rec->address, "::ffff:", 7) == 0 && inet_pton(AF_INET, rec->address + 7, a) == 1)) {
        mask_bits(a, 4, r->prefix_v4);
        inet_ntop(AF_INET, a, text, sizeof text);
        snprintf(out, REPORT_ROOM_MAX, "%s/%u", text, r->prefix_v4);
    } else if (inet_pton(AF_INET6, rec->address, a) == 1) {
        mask_bits(a, 16, r->prefix_v6);
        inet_ntop(AF_INET6, a, text, sizeof text);
        snprintf(out, REPORT_ROOM_MAX, "%s/%u", text, r->prefix_v6);
    } else {
        snprintf(out, REPORT_ROOM_MAX, "unknown");
    }
}

/* ---- the report ---- */

typedef struct room_stat {
    char name[REPORT_ROOM_MAX]; /* "" = free slot */
    uint32_t live[REPORT_APPS], below[REPORT_APPS], at_risk[REPORT_APPS], cloned[REPORT_APPS];
    int64_t last_ms;
} room_stat;

typedef struct app_stat {
    uint32_t live, below, at_risk, cloned;
    uint16_t max_n;
    uint32_t expire_bucket[REPORT_FORECAST_DAYS + 1]; /* live clients counted up to day k, the last: or later */
    uint32_t forecast[REPORT_FORECAST_DAYS + 1];      /* live clients on day d (report_finish) */
    uint32_t history[REPORT_HISTORY_DAYS + 1];        /* live clients k days ago */
    int64_t heap[REPORT_N_MAX];                       /* min-heap: the latest expiries */
    size_t heap_n;
    int64_t below_at_ms;                              /* report_finish: when the count falls below
                                                         max_n (now when it already is; 0: no clients) */
} app_stat;

typedef struct rec_list {
    store_record *v;
    size_t n;
    uint64_t total;
} rec_list;

enum { L_BELOW, L_AT_RISK, L_CLONED, L_COUNT };

/* Live clients of a KMS counted ID the product table does not know. */
typedef struct unknown_id {
    uint8_t kms_id[16];
    uint8_t app;
    uint32_t live;
    int64_t last_ms;
} unknown_id;

struct report {
    const report_rules *rules;
    int64_t now_ms;
    uint64_t records, live;
    app_stat app[REPORT_APPS];
    rec_list list[L_COUNT];
    room_stat *rooms; /* ROOM_SLOTS */
    size_t n_rooms;
    room_stat other;  /* clients of rooms beyond REPORT_ROOMS_MAX */
    unknown_id unknown[REPORT_UNKNOWN_MAX];
    size_t n_unknown;
    uint32_t unknown_other; /* live clients of further unknown IDs */
    bool finished;
};

report *report_new(const report_rules *rules, int64_t now_ms)
{
    report *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->rules = rules;
    r->now_ms = now_ms;
    r->rooms = calloc(ROOM_SLOTS, sizeof *r->rooms);
    for (int i = 0; i < L_COUNT; i++) r->list[i].v = malloc(REPORT_LIST_MAX * sizeof *r->list[i].v);
    if (!r->rooms || !r->list[0].v || !r->list[1].v || !r->list[2].v) report_free(&r);
    if (r) snprintf(r->other.name, sizeof r->other.name, "other");
    return r;
}

void report_free(report **self_p)
{
    if (!self_p || !*self_p) return;
    report *r = *self_p;
    for (int i = 0; i < L_COUNT; i++) free(r->list[i].v);
    free(r->rooms);
    free(r);
    *self_p = NULL;
}

int64_t report_time(const report *self) { return self->now_ms; }
uint64_t report_records(const report *self) { return self->records; }

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static room_stat *room_get(report *self, const char *name)
{
    size_t i = (size_t)(hash_str(name) % ROOM_SLOTS);
    for (;; i = (i + 1) % ROOM_SLOTS) {
        room_stat *s = &self->rooms[i];
        if (!s->name[0]) {
            if (self->n_rooms >= REPORT_ROOMS_MAX) return &self->other;
            snprintf(s->name, sizeof s->name, "%s", name);
            self->n_rooms++;
            return s;
        }
        if (strcmp(s->name, name) == 0) return s;
    }
}

static void list_add(rec_list *l, const store_record *rec)
{
    if (l->n < REPORT_LIST_MAX) l->v[l->n++] = *rec;
    l->total++;
}

static void heap_push(app_stat *a, int64_t v)
{
    if (a->heap_n == REPORT_N_MAX) {
        if (v <= a->heap[0]) return;
        /* replace the smallest and sift down */
        size_t i = 0;
        a->heap[0] = v;
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < a->heap_n && a->heap[l] < a->heap[m]) m = l;
            if (r < a->heap_n && a->heap[r] < a->heap[m]) m = r;
            if (m == i) break;
            int64_t t = a->heap[i];
            a->heap[i] = a->heap[m];
            a->heap[m] = t;
            i = m;
        }
        return;
    }
    size_t i = a->heap_n++;
    a->heap[i] = v;
    while (i > 0 && a->heap[(i - 1) / 2] > a->heap[i]) {
        int64_t t = a->heap[i];
        a->heap[i] = a->heap[(i - 1) / 2];
        a->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

int report_add(report *self, const store_record *rec)
{
    if (rec->app >= REPORT_APPS) return 0;
    const report_rules *ru = self->rules;
    int64_t now = self->now_ms;
    app_stat *a = &self->app[rec->app];
    self->records++;
    /* History: a client first seen by day t and still counted then (renewals keep it). */
    for (int k = 0; k <= REPORT_HISTORY_DAYS; k++) {
        int64_t t = now - k * DAY_MS;
        if (rec->first_seen_ms <= t && t < rec->last_seen_ms + ru->lifetime_ms) a->history[k]++;
    }
    if (!report_live(ru, rec, now)) return 0;
    self->live++;
    a->live++;
    if (rec->n_policy > a->max_n) a->max_n = rec->n_policy;
    int64_t expires = rec->last_seen_ms + ru->lifetime_ms;
    int64_t k = expires > now ? (expires - now - 1) / DAY_MS : 0;
    a->expire_bucket[k > REPORT_FORECAST_DAYS ? REPORT_FORECAST_DAYS : k]++;
    heap_push(a, expires);

    kms_guid kid;
    memcpy(kid.b, rec->kms_id, 16);
    if (!products_find(&kid)) {
        size_t u = 0;
        while (u < self->n_unknown && !(self->unknown[u].app == rec->app && !memcmp(self->unknown[u].kms_id, rec->kms_id, 16))) u++;
        if (u == self->n_unknown && u < REPORT_UNKNOWN_MAX) {
            memcpy(self->unknown[u].kms_id, rec->kms_id, 16);
            self->unknown[u].app = rec->app;
            self->n_unknown++;
        }
        if (u < self->n_unknown) {
            self->unknown[u].live++;
            if (rec->last_seen_ms > self->unknown[u].last_ms) self->unknown[u].last_ms = rec->last_seen_ms;
        } else {
            self->unknown_other++;
        }
    }
    bool below = store_record_below_threshold(rec);
    bool risk = report_at_risk(ru, rec, now, NULL, NULL);
    bool cloned = report_names_live(ru, rec, now) >= 2;
    if (below) a->below++, list_add(&self->list[L_BELOW], rec);
    if (risk) a->at_risk++, list_add(&self->list[L_AT_RISK], rec);
    if (cloned) a->cloned++, list_add(&self->list[L_CLONED], rec);
    char name[REPORT_ROOM_MAX];
    report_room(ru, rec, name);
    room_stat *room = room_get(self, name);
    room->live[rec->app]++;
    room->below[rec->app] += below;
    room->at_risk[rec->app] += risk;
    room->cloned[rec->app] += cloned;
    if (rec->last_seen_ms > room->last_ms) room->last_ms = rec->last_seen_ms;
    return 0;
}

static int cmp_i64_desc(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? 1 : a > b ? -1 : 0;
}

static int cmp_last_seen_desc(const void *x, const void *y)
{
    const store_record *a = x, *b = y;
    return a->last_seen_ms < b->last_seen_ms ? 1 : a->last_seen_ms > b->last_seen_ms ? -1 : 0;
}

void report_finish(report *self)
{
    if (self->finished) return;
    self->finished = true;
    for (int i = 0; i < L_COUNT; i++) qsort(self->list[i].v, self->list[i].n, sizeof *self->list[i].v, cmp_last_seen_desc);
    for (int app = 0; app < REPORT_APPS; app++) {
        app_stat *a = &self->app[app];
        uint32_t sum = 0;
        for (int d = REPORT_FORECAST_DAYS; d >= 0; d--) {
            sum += a->expire_bucket[d];
            a->forecast[d] = sum;
        }
        a->below_at_ms = 0;
        if (!a->live || !a->max_n) continue;
        if (rule_count(self->rules, a->live, a->max_n) < a->max_n) {
            a->below_at_ms = self->now_ms;
            continue;
        }
        /* The count stays >= N while N clients still count: it falls below N when the N-th
         * latest expiry passes. */
        qsort(a->heap, a->heap_n, sizeof a->heap[0], cmp_i64_desc);
        /* A replicated record may carry an N above REPORT_N_MAX (kmshost refuses such
         * requests): the latest REPORT_N_MAX expiries are all that is kept. */
        size_t nth = a->max_n < a->heap_n ? a->max_n : a->heap_n;
        a->below_at_ms = nth ? a->heap[nth - 1] : self->now_ms;
    }
}

/* ---- output ---- */

static void json_str(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
        evbuffer_add(b, run, (size_t)(s - run));
        if (!c) break;
        if (c == '"' || c == '\\') evbuffer_add_printf(b, "\\%c", c);
        else evbuffer_add_printf(b, "\\u%04x", c);
        run = s + 1;
    }
    evbuffer_add(b, "\"", 1);
}

static void iso_utc(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "?");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void put_time(struct evbuffer *b, const char *key, int64_t ms)
{
    char t[32];
    iso_utc(ms, t);
    evbuffer_add_printf(b, "\"%s\":\"%s\",\"%s_ms\":%" PRId64, key, t, key, ms);
}

/* One record of a list: the query's JSON object with the section's fields added. */
static void put_entry(const report *self, struct evbuffer *b, int list, const store_record *rec)
{
    static char line[QUERY_RECORD_JSON_MAX];
    int n = query_record_json(rec, line, sizeof line);
    if (n < 2) {
        evbuffer_add_printf(b, "{}");
        return;
    }
    evbuffer_add(b, line, (size_t)n - 1); /* without the closing brace */
    char room[REPORT_ROOM_MAX];
    report_room(self->rules, rec, room);
    evbuffer_add_printf(b, ",\"room\":");
    json_str(b, room);
    if (list == L_AT_RISK) {
        int64_t stops;
        const char *why;
        report_at_risk(self->rules, rec, self->now_ms, &stops, &why);
        evbuffer_add_printf(b, ",\"reason\":");
        json_str(b, why);
        if (stops) {
            evbuffer_add_printf(b, ",");
            put_time(b, "stops", stops);
            evbuffer_add_printf(b, ",\"days_left\":%.1f", (double)(stops - self->now_ms) / DAY_MS);
        } else {
            evbuffer_add_printf(b, ",\"stops\":null,\"stops_ms\":null,\"days_left\":null");
        }
    }
    evbuffer_add(b, "}", 1);
}

static const char *section_name[L_COUNT] = {"below_threshold", "at_risk", "cloned"};

static int cmp_room_name(const void *x, const void *y)
{
    return strcmp(((const room_stat *const *)x)[0]->name, ((const room_stat *const *)y)[0]->name);
}

static uint32_t room_sum(const uint32_t v[REPORT_APPS]) { return v[0] + v[1] + v[2]; }

/* The rooms in use, sorted by name (caller frees). */
static const room_stat **rooms_sorted(const report *self, size_t *n)
{
    const room_stat **v = malloc((self->n_rooms + 1) * sizeof *v);
    *n = 0;
    if (!v) return NULL;
    for (size_t i = 0; i < ROOM_SLOTS; i++)
        if (self->rooms[i].name[0]) v[(*n)++] = &self->rooms[i];
    qsort(v, *n, sizeof *v, cmp_room_name);
    if (room_sum(self->other.live)) v[(*n)++] = &self->other;
    return v;
}

void report_json(const report *self, const char *node, struct evbuffer *b)
{
    const report_rules *ru = self->rules;
    evbuffer_add_printf(b, "{\"node\":");
    json_str(b, node);
    evbuffer_add_printf(b, ",");
    put_time(b, "time", self->now_ms);
    evbuffer_add_printf(b, ",\"records\":%" PRIu64 ",\"live\":%" PRIu64
                           ",\"settings\":{\"lifetime_days\":%" PRId64 ",\"at_risk_days\":%" PRId64
                           ",\"rooms_by\":",
                        self->records, self->live, ru->lifetime_ms / DAY_MS, ru->at_risk_ms / DAY_MS);
    json_str(b, ru->has_pattern ? "room_pattern" : "address");
    evbuffer_add_printf(b, ",\"list_max\":%d},\"applications\":{", REPORT_LIST_MAX);
    for (int app = 0; app < REPORT_APPS; app++) {
        const app_stat *a = &self->app[app];
        evbuffer_add_printf(b, "%s\"%s\":{\"live\":%" PRIu32 ",\"count\":%" PRIu32 ",\"max_n\":%u"
                               ",\"below_threshold\":%" PRIu32 ",\"at_risk\":%" PRIu32 ",\"cloned\":%" PRIu32 "}",
                            app ? "," : "", products_app_slug((kms_app)app), a->live,
                            rule_count(ru, a->live, a->max_n), (unsigned)a->max_n, a->below,
                            a->at_risk, a->cloned);
    }
    evbuffer_add_printf(b, "}");
    for (int l = 0; l < L_COUNT; l++) {
        const rec_list *li = &self->list[l];
        evbuffer_add_printf(b, ",\"%s\":{\"total\":%" PRIu64 ",\"listed\":%zu,\"clients\":[", section_name[l],
                            li->total, li->n);
        for (size_t i = 0; i < li->n; i++) {
            if (i) evbuffer_add(b, ",", 1);
            put_entry(self, b, l, &li->v[i]);
        }
        evbuffer_add_printf(b, "]}");
    }
    evbuffer_add_printf(b, ",\"forecast\":[");
    int shown = 0;
    for (int app = 0; app < REPORT_APPS; app++) {
        const app_stat *a = &self->app[app];
        if (!a->live) continue;
        evbuffer_add_printf(b, "%s{\"application\":\"%s\",\"max_n\":%u,\"count\":%" PRIu32 ",\"below_n\":",
                            shown++ ? "," : "", products_app_slug((kms_app)app), (unsigned)a->max_n,
                            rule_count(ru, a->live, a->max_n));
        if (a->below_at_ms) {
            char t[32];
            iso_utc(a->below_at_ms, t);
            evbuffer_add_printf(b, "{\"already\":%s,\"at\":\"%s\",\"at_ms\":%" PRId64 ",\"date\":\"%.10s\",\"in_days\":%.2f}",
                                a->below_at_ms <= self->now_ms ? "true" : "false", t, a->below_at_ms, t,
                                (double)(a->below_at_ms - self->now_ms) / DAY_MS);
        } else {
            evbuffer_add_printf(b, "null");
        }
        evbuffer_add_printf(b, ",\"days\":[");
        for (int d = 0; d <= REPORT_FORECAST_DAYS; d++) {
            char t[32];
            iso_utc(self->now_ms + d * DAY_MS, t);
            evbuffer_add_printf(b, "%s{\"day\":%d,\"date\":\"%.10s\",\"time_ms\":%" PRId64 ",\"live\":%" PRIu32
                                   ",\"count\":%" PRIu32 "}",
                                d ? "," : "", d, t, self->now_ms + d * DAY_MS, a->forecast[d],
                                rule_count(ru, a->forecast[d], a->max_n));
        }
        evbuffer_add_printf(b, "],\"history\":[");
        for (int k = REPORT_HISTORY_DAYS; k >= 0; k--) {
            char t[32];
            iso_utc(self->now_ms - k * DAY_MS, t);
            evbuffer_add_printf(b, "{\"day\":%d,\"date\":\"%.10s\",\"time_ms\":%" PRId64 ",\"live\":%" PRIu32
                                   ",\"count\":%" PRIu32 "}%s",
                                -k, t, self->now_ms - k * DAY_MS, a->history[k],
                                rule_count(ru, a->history[k], a->max_n), k ? "," : "");
        }
        evbuffer_add_printf(b, "]}");
    }
    evbuffer_add_printf(b, "],\"unknown_products\":{\"other_clients\":%" PRIu32 ",\"ids\":[", self->unknown_other);
    for (size_t u = 0; u < self->n_unknown; u++) {
        kms_guid g;
        char id[KMS_GUID_STRLEN];
        memcpy(g.b, self->unknown[u].kms_id, 16);
        kms_guid_format(&g, id);
        evbuffer_add_printf(b, "%s{\"kms_id\":\"%s\",\"application\":\"%s\",\"live\":%" PRIu32 ",", u ? "," : "", id,
                            products_app_slug((kms_app)self->unknown[u].app), self->unknown[u].live);
        put_time(b, "last_seen", self->unknown[u].last_ms);
        evbuffer_add(b, "}", 1);
    }
    evbuffer_add_printf(b, "]},\"rooms\":[");
    size_t nr = 0;
    const room_stat **rooms = rooms_sorted(self, &nr);
    for (size_t i = 0; rooms && i < nr; i++) {
        const room_stat *s = rooms[i];
        evbuffer_add_printf(b, "%s{\"room\":", i ? "," : "");
        json_str(b, s->name);
        evbuffer_add_printf(b, ",\"live\":%" PRIu32 ",\"below_threshold\":%" PRIu32 ",\"at_risk\":%" PRIu32
                               ",\"cloned\":%" PRIu32 ",",
                            room_sum(s->live), room_sum(s->below), room_sum(s->at_risk), room_sum(s->cloned));
        put_time(b, "last_activity", s->last_ms);
        evbuffer_add_printf(b, ",\"applications\":{");
        for (int app = 0; app < REPORT_APPS; app++)
            evbuffer_add_printf(b, "%s\"%s\":{\"live\":%" PRIu32 ",\"below_threshold\":%" PRIu32 ",\"at_risk\":%" PRIu32
                                   ",\"cloned\":%" PRIu32 "}",
                                app ? "," : "", products_app_slug((kms_app)app), s->live[app], s->below[app],
                                s->at_risk[app], s->cloned[app]);
        evbuffer_add_printf(b, "}}");
    }
    free(rooms);
    evbuffer_add_printf(b, "],\"rooms_total\":%zu}\n", self->n_rooms + (room_sum(self->other.live) ? 1 : 0));
}

/* A Prometheus label value: quoted, backslash and quote escaped, control characters as '?'. */
static void prom_label(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') evbuffer_add_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) evbuffer_add(b, "?", 1);
        else evbuffer_add(b, s, 1);
    }
    evbuffer_add(b, "\"", 1);
}

/* Rooms by how much they need attention: problems, then live clients, then name. */
static int cmp_room_attention(const void *x, const void *y)
{
    const room_stat *a = *(const room_stat *const *)x, *b = *(const room_stat *const *)y;
    uint32_t pa = room_sum(a->below) + room_sum(a->at_risk) + room_sum(a->cloned);
    uint32_t pb = room_sum(b->below) + room_sum(b->at_risk) + room_sum(b->cloned);
    if (pa != pb) return pa > pb ? -1 : 1;
    if (room_sum(a->live) != room_sum(b->live)) return room_sum(a->live) > room_sum(b->live) ? -1 : 1;
    return strcmp(a->name, b->name);
}

void report_metrics(const report *self, const char *node, unsigned max_rooms, struct evbuffer *b)
{
    const report_rules *ru = self->rules;
    evbuffer_add_printf(b, "# HELP kmsha_report_timestamp_seconds When the last activation health report was computed.\n"
                           "# TYPE kmsha_report_timestamp_seconds gauge\nkmsha_report_timestamp_seconds{node=\"%s\"} %.3f\n",
                        node, (double)self->now_ms / 1000.0);
    static const struct {
        const char *name, *help;
        size_t off;
    } gauges[] = {
        {"kmsha_report_live_clients", "Clients counted now (last seen within the lifetime), cluster-wide.",
         offsetof(app_stat, live)},
        {"kmsha_report_below_threshold_clients", "Clients whose last answer was below their N: not activated.",
         offsetof(app_stat, below)},
        {"kmsha_report_at_risk_clients", "Clients that stop working within at_risk_days unless they activate.",
         offsetof(app_stat, at_risk)},
        {"kmsha_report_cloned_clients", "Client machine IDs seen with more than one workstation name (cloned images).",
         offsetof(app_stat, cloned)},
    };
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", gauges[g].name, gauges[g].help, gauges[g].name);
        for (int app = 0; app < REPORT_APPS; app++)
            evbuffer_add_printf(b, "%s{node=\"%s\",application=\"%s\"} %" PRIu32 "\n", gauges[g].name, node,
                                products_app_slug((kms_app)app),
                                *(const uint32_t *)((const char *)&self->app[app] + gauges[g].off));
    }
    evbuffer_add_printf(b, "# HELP kmsha_report_max_n Largest N among the application's live clients.\n"
                           "# TYPE kmsha_report_max_n gauge\n");
    for (int app = 0; app < REPORT_APPS; app++)
        evbuffer_add_printf(b, "kmsha_report_max_n{node=\"%s\",application=\"%s\"} %u\n", node,
                            products_app_slug((kms_app)app), (unsigned)self->app[app].max_n);
    evbuffer_add_printf(b, "# HELP kmsha_report_count_forecast Count on a future day if no client comes back.\n"
                           "# TYPE kmsha_report_count_forecast gauge\n");
    static const int days[] = {0, 7, 14, 30, 45};
    for (int app = 0; app < REPORT_APPS; app++)
        for (size_t d = 0; d < sizeof days / sizeof days[0]; d++)
            evbuffer_add_printf(b, "kmsha_report_count_forecast{node=\"%s\",application=\"%s\",days=\"%d\"} %" PRIu32 "\n",
                                node, products_app_slug((kms_app)app), days[d],
                                rule_count(ru, self->app[app].forecast[days[d]], self->app[app].max_n));
    evbuffer_add_printf(b, "# HELP kmsha_report_below_n_in_seconds Time until the count falls below the largest N "
                           "if no client comes back (0: already below; absent: no clients).\n"
                           "# TYPE kmsha_report_below_n_in_seconds gauge\n");
    for (int app = 0; app < REPORT_APPS; app++)
        if (self->app[app].below_at_ms)
            evbuffer_add_printf(b, "kmsha_report_below_n_in_seconds{node=\"%s\",application=\"%s\"} %.3f\n", node,
                                products_app_slug((kms_app)app),
                                (double)(self->app[app].below_at_ms - self->now_ms) / 1000.0);
    /* Rooms: the max_rooms that need attention most by name, the rest as "other". */
    size_t nr = 0;
    const room_stat **rooms = rooms_sorted(self, &nr);
    if (!rooms) return;
    qsort(rooms, nr, sizeof *rooms, cmp_room_attention);
    room_stat other;
    memset(&other, 0, sizeof other);
    bool any_other = false;
    evbuffer_add_printf(b, "# HELP kmsha_report_room_clients Clients per room, application and report section "
                           "(rooms beyond [report] metrics_rooms summed as room=\"other\").\n"
                           "# TYPE kmsha_report_room_clients gauge\n");
    for (size_t i = 0; i < nr; i++) {
        const room_stat *s = rooms[i];
        if (i >= max_rooms || s == &self->other) {
            for (int app = 0; app < REPORT_APPS; app++) {
                other.live[app] += s->live[app];
                other.below[app] += s->below[app];
                other.at_risk[app] += s->at_risk[app];
                other.cloned[app] += s->cloned[app];
            }
            any_other = true;
            continue;
        }
        for (int app = 0; app < REPORT_APPS; app++) {
            if (!s->live[app]) continue;
            const char *a = products_app_slug((kms_app)app);
            evbuffer_add_printf(b, "kmsha_report_room_clients{node=\"%s\",room=", node);
            prom_label(b, s->name);
            evbuffer_add_printf(b, ",application=\"%s\",section=\"live\"} %" PRIu32 "\n", a, s->live[app]);
            const uint32_t *v[3] = {s->below, s->at_risk, s->cloned};
            for (int l = 0; l < L_COUNT; l++) {
                evbuffer_add_printf(b, "kmsha_report_room_clients{node=\"%s\",room=", node);
                prom_label(b, s->name);
                evbuffer_add_printf(b, ",application=\"%s\",section=\"%s\"} %" PRIu32 "\n", a, section_name[l], v[l][app]);
            }
        }
    }
    if (any_other)
        for (int app = 0; app < REPORT_APPS; app++) {
            const char *a = products_app_slug((kms_app)app);
            const uint32_t *v[4] = {other.live, other.below, other.at_risk, other.cloned};
            const char *sec[4] = {"live", "below_threshold", "at_risk", "cloned"};
            for (int l = 0; l < 4; l++)
                evbuffer_add_printf(b, "kmsha_report_room_clients{node=\"%s\",room=\"other\",application=\"%s\",section=\"%s\"} %" PRIu32 "\n",
                                    node, a, sec[l], v[l][app]);
        }
    free(rooms);
}
