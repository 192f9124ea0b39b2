/* query.c: client record queries (see query.h): filter, time parsing, paged scan over
 * store_snapshot_read, JSON form of a record. */
#include "node/query.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "node/config.h"
#include "node/metrics.h"
#include "node/report.h"
#include "proto/errors.h"
#include "proto/guid.h"
#include "proto/json.h"
#include "proto/products.h"

#define QUERY_PAGE 256 /* records per read transaction */

void query_filter_init(query_filter *f)
{
    memset(f, 0, sizeof *f);
    f->app = -1;
    f->since_ms = INT64_MIN;
    f->until_ms = INT64_MAX;
    f->status = QUERY_STATUS_ANY;
}

static int parse_bool(const char *v)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) return 1;
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) return 0;
    return -1;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return KMS_EINVAL;
}

/* Reads n decimal digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int query_parse_time(const char *text, int64_t now_ms, bool end_of_day, int64_t *out_ms)
{
    if (!text || !*text) return KMS_EINVAL;
    size_t len = strlen(text);
    /* Relative: 7d, 24h, 90m, 30s, 2w. */
    char unit = text[len - 1];
    if (len >= 2 && strchr("wdhms", unit)) {
        bool all = true;
        for (size_t i = 0; i + 1 < len; i++) all = all && isdigit((unsigned char)text[i]);
        if (all) {
            errno = 0;
            long long v = strtoll(text, NULL, 10);
            int64_t mult = unit == 'w' ? 604800000LL : unit == 'd' ? 86400000LL : unit == 'h' ? 3600000LL
                           : unit == 'm' ? 60000LL : 1000LL;
            if (errno || v < 0 || v > 100LL * 366 * 86400) return KMS_EINVAL;
            *out_ms = now_ms - (int64_t)v * mult;
            return 0;
        }
    }
    /* Unix milliseconds. */
    bool all = true;
    for (size_t i = 0; i < len; i++) all = all && isdigit((unsigned char)text[i]);
    if (all) {
        if (len > 15) return KMS_EINVAL;
        *out_ms = strtoll(text, NULL, 10);
        return 0;
    }
    /* ISO 8601, extended format. */
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, ms = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return KMS_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970) return KMS_EINVAL;
    bool date_only = *p == 0;
    if (!date_only) {
        if (*p != 'T' && *p != 't' && *p != ' ') return KMS_EINVAL;
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi)) return KMS_EINVAL;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &s)) return KMS_EINVAL;
            if (*p == '.' || *p == ',') {
                p++;
                int scale = 100, nd = 0;
                while (isdigit((unsigned char)*p)) {
                    if (nd++ < 3) ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
                if (!nd) return KMS_EINVAL;
            }
        }
        if (h > 23 || mi > 59 || s > 60) return KMS_EINVAL;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d + (date_only && end_of_day ? 1 : 0);
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t;
    if (*p == 'Z' || *p == 'z') {
        if (p[1]) return KMS_EINVAL;
        t = timegm(&tm);
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        p++;
        if (!digits(&p, 2, &oh)) return KMS_EINVAL;
        if (*p == ':') p++;
        if (*p && !digits(&p, 2, &om)) return KMS_EINVAL;
        if (*p || oh > 23 || om > 59) return KMS_EINVAL;
        t = timegm(&tm) - sign * (oh * 3600 + om * 60);
    } else if (*p == 0) {
        tm.tm_isdst = -1;
        t = mktime(&tm);
    } else {
        return KMS_EINVAL;
    }
    if (t == (time_t)-1) return KMS_EINVAL;
    *out_ms = (int64_t)t * 1000 + ms;
    return 0;
}

int query_filter_set(query_filter *f, const char *key, const char *value, int64_t now_ms,
                     char *err, size_t errlen)
{
    if (!strcmp(key, "cmid")) {
        kms_guid g;
        if (kms_guid_parse(value, &g) != 0) return fail(err, errlen, "cmid: '%s' is not a GUID", value);
        memcpy(f->cmid, g.b, 16);
        f->has_cmid = true;
    } else if (!strcmp(key, "workstation")) {
        if (strlen(value) >= sizeof f->workstation)
            return fail(err, errlen, "workstation: '%.60s' is too long", value);
        snprintf(f->workstation, sizeof f->workstation, "%s", value);
    } else if (!strcmp(key, "address")) {
        config_cidr c;
        if (config_parse_cidr(value, &c) != 0)
            return fail(err, errlen, "address: '%.60s' is not an address or network (10.1.2.3, 10.0.0.0/8, "
                        "2001:db8::/32)", value);
        f->has_address = true;
        f->addr_family = c.family;
        memcpy(f->addr, c.addr, sizeof f->addr);
        f->addr_prefix = c.prefix;
    } else if (!strcmp(key, "status")) {
        int st = QUERY_STATUS_ANY;
        if (!strcmp(value, "below_threshold")) st = QUERY_STATUS_BELOW_THRESHOLD;
        else if (!strcmp(value, "activated")) st = QUERY_STATUS_ACTIVATED;
        for (int i = 0; i < 7 && st == QUERY_STATUS_ANY; i++)
            if (!strcmp(value, metrics_license_status_name(i))) st = i;
        if (st == QUERY_STATUS_ANY)
            return fail(err, errlen, "status: '%.60s' is not below_threshold, activated or a licence status (unlicensed, "
                        "licensed, oob_grace, oot_grace, non_genuine_grace, notification, extended_grace)", value);
        f->status = st;
    } else if (!strcmp(key, "product")) {
        kms_guid g;
        const kms_sku *sku = products_sku_find_slug(value);
        const kms_product *kp = sku ? NULL : products_find_slug(value);
        const char *id = sku ? sku->id : kp ? kp->id : value;
        if (kms_guid_parse(id, &g) != 0)
            return fail(err, errlen, "product: '%.60s' is not a product (kmsctl products), a KMS counted ID slug or a GUID",
                        value);
        memcpy(f->product, g.b, 16);
        f->has_product = true;
    } else if (!strcmp(key, "node")) {
        size_t n = strlen(value);
        if (!n || n >= sizeof f->node || strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
            return fail(err, errlen, "node: '%.60s' is not a node id", value);
        snprintf(f->node, sizeof f->node, "%s", value);
    } else if (!strcmp(key, "room")) {
        if (!*value || strlen(value) >= sizeof f->room) return fail(err, errlen, "room: '%.60s' is not a room name", value);
        snprintf(f->room, sizeof f->room, "%s", value);
    } else if (!strcmp(key, "at_risk") || !strcmp(key, "cloned")) {
        int b = parse_bool(value);
        if (b < 0) return fail(err, errlen, "%s: '%.20s' is not true or false", key, value);
        if (key[0] == 'a') f->at_risk = b;
        else f->cloned = b;
    } else if (!strcmp(key, "application") || !strcmp(key, "app")) {
        int app = products_app_parse(value);
        if (app < 0) return fail(err, errlen, "application: '%.60s' is not windows, office2010 or office2013", value);
        f->app = app;
    } else if (!strcmp(key, "since") || !strcmp(key, "until")) {
        int64_t t;
        bool until = key[0] == 'u';
        if (query_parse_time(value, now_ms, until, &t) != 0)
            return fail(err, errlen, "%s: '%.60s' is not a date (2024-09-01[T08:00[:00][Z]]), a relative time "
                        "(7d, 24h, 30m) or unix milliseconds", key, value);
        if (until) f->until_ms = t;
        else f->since_ms = t;
    } else {
        return fail(err, errlen, "unknown parameter '%.40s'", key);
    }
    return 0;
}

/* ASCII case-insensitive substring search (workstation names are mostly ASCII; other
 * UTF-8 bytes must match exactly). */
static bool contains_nocase(const char *hay, const char *needle)
{
    if (!*needle) return true;
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return false;
}

/* Is the text address in the filter's network? */
static bool address_in(const query_filter *f, const char *text)
{
    uint8_t a[16];
    int family = AF_INET;
    if (inet_pton(AF_INET, text, a) != 1) {
        if (inet_pton(AF_INET6, text, a) != 1) return false;
        family = AF_INET6;
    }
    config_cidr c = {.family = f->addr_family, .prefix = (uint8_t)f->addr_prefix};
    memcpy(c.addr, f->addr, sizeof c.addr);
    return config_cidr_match(&c, family, a);
}

bool query_match(const query_filter *f, const store_record *rec)
{
    if (f->app >= 0 && rec->app != f->app) return false;
    if (f->has_cmid && memcmp(rec->cmid, f->cmid, 16) != 0) return false;
    if (rec->last_seen_ms < f->since_ms || rec->last_seen_ms >= f->until_ms) return false;
    if (f->has_address && !address_in(f, rec->address)) return false;
    if (f->workstation[0] && !contains_nocase(rec->workstation, f->workstation)) return false;
    if (f->node[0] && strcmp(rec->node, f->node) != 0) return false;
    if (f->has_product && memcmp(rec->sku_id, f->product, 16) != 0 && memcmp(rec->kms_id, f->product, 16) != 0)
        return false;
    if (f->status == QUERY_STATUS_BELOW_THRESHOLD && !store_record_below_threshold(rec)) return false;
    if (f->status == QUERY_STATUS_ACTIVATED && (!rec->count || store_record_below_threshold(rec))) return false;
    if (f->status >= 0 && f->status < 8 && rec->license_status != f->status) return false;
    if (f->room[0] || f->at_risk || f->cloned) {
        if (!f->rules) return false;
        if (f->at_risk && !report_at_risk(f->rules, rec, f->now_ms, NULL, NULL)) return false;
        if (f->cloned && report_names_live(f->rules, rec, f->now_ms) < 2) return false;
        if (f->room[0]) {
            char room[REPORT_ROOM_MAX];
            report_room(f->rules, rec, room);
            if (strcmp(room, f->room) != 0) return false;
        }
    }
    return true;
}

void query_scan_init(query_scan *s, const query_filter *f)
{
    memset(s, 0, sizeof *s);
    /* Keys start with the application byte: an application filter starts the scan just
     * before that application's first key. */
    if (f && f->app > 0) {
        s->cursor[0] = (uint8_t)(f->app - 1);
        memset(s->cursor + 1, 0xff, 16);
        s->cursor_len = STORE_KEY_LEN;
    }
}

static void set_cursor(query_scan *s, const store_record *rec)
{
    s->cursor[0] = rec->app;
    memcpy(s->cursor + 1, rec->cmid, 16);
    s->cursor_len = STORE_KEY_LEN;
}

/* A CMID names at most one record per application: look them up instead of scanning. */
static int step_cmid(store *st, const query_filter *f, query_scan *s, store_record *out, size_t max)
{
    int n = 0, app = s->cursor_len ? s->cursor[0] + 1 : 0;
    for (; app < KMS_APP_COUNT && (size_t)n < max; app++) {
        if (f->app >= 0 && app != f->app) continue;
        store_record rec;
        int rc = store_get(st, (uint8_t)app, f->cmid, &rec);
        s->scanned++;
        s->cursor[0] = (uint8_t)app;
        memcpy(s->cursor + 1, f->cmid, 16);
        s->cursor_len = STORE_KEY_LEN;
        if (rc == KMS_ENOTFOUND) continue;
        if (rc < 0) return rc;
        if (query_match(f, &rec)) out[n++] = rec;
    }
    if (app >= KMS_APP_COUNT || (f->app >= 0 && app > f->app)) s->done = true;
    return n;
}

int query_step(store *st, const query_filter *f, query_scan *s, store_record *out, size_t max,
               size_t budget)
{
    if (budget == 0) return KMS_EINVAL;
    if (s->done || max == 0) return 0;
    if (f->has_cmid) return step_cmid(st, f, s, out, max);
    size_t page_max = budget < QUERY_PAGE ? budget : QUERY_PAGE;
    store_record *page = malloc(page_max * sizeof *page);
    if (!page) return KMS_ENOMEM;
    size_t n = 0, examined = 0;
    int ret = 0;
    while (!s->done && n < max && examined < budget) {
        size_t want = budget - examined < page_max ? budget - examined : page_max;
        uint8_t cur[STORE_KEY_LEN];
        size_t cur_len = s->cursor_len;
        memcpy(cur, s->cursor, STORE_KEY_LEN);
        int got = store_snapshot_read(st, cur, &cur_len, page, want, NULL);
        if (got < 0) {
            ret = got;
            break;
        }
        if ((size_t)got < want) s->done = true; /* the read stops short only at the end */
        size_t i;
        for (i = 0; i < (size_t)got; i++) {
            if (f->app >= 0 && page[i].app > f->app) {
                s->done = true;
                break;
            }
            examined++;
            s->scanned++;
            set_cursor(s, &page[i]);
            if (query_match(f, &page[i])) {
                out[n++] = page[i];
                if (n == max) break;
            }
        }
        if (n == max && i + 1 < (size_t)got) s->done = false; /* more after the last match */
    }
    free(page);
    return ret < 0 ? ret : (int)n;
}

void query_cursor_format(const query_scan *s, char out[QUERY_CURSOR_HEXLEN + 1])
{
    out[0] = 0;
    if (s->cursor_len != STORE_KEY_LEN) return;
    for (size_t i = 0; i < STORE_KEY_LEN; i++) snprintf(out + 2 * i, 3, "%02x", s->cursor[i]);
}

int query_cursor_parse(query_scan *s, const char *hex)
{
    if (!*hex) return 0;
    if (strlen(hex) != QUERY_CURSOR_HEXLEN) return KMS_EINVAL;
    for (size_t i = 0; i < STORE_KEY_LEN; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
            sscanf(hex + 2 * i, "%2x", &v) != 1)
            return KMS_EINVAL;
        s->cursor[i] = (uint8_t)v;
    }
    s->cursor_len = STORE_KEY_LEN;
    s->done = false;
    return 0;
}

/* Appends s as a JSON string literal; returns false when out of room. */
static bool put_json_str(char **p, char *end, const char *s)
{
    size_t room = (size_t)(end - *p), n = json_format_str(*p, room, s);
    if (n >= room) return false;
    *p += n;
    return true;
}

static bool put_fmt(char **p, char *end, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool put_fmt(char **p, char *end, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*p, (size_t)(end - *p), fmt, ap);
    va_end(ap);
    if (n < 0 || n >= end - *p) return false;
    *p += n;
    return true;
}

static void iso_utc(int64_t ms, char out[64])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 64, "?");
        return;
    }
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000 + 1000) % 1000);
}

int query_record_json(const store_record *rec, char *out, size_t cap)
{
    if (cap < 2) return KMS_ESPACE;
    char *p = out, *end = out + cap;
    kms_guid g;
    char cmid[KMS_GUID_STRLEN], sku[KMS_GUID_STRLEN], kid[KMS_GUID_STRLEN], first[64], last[64];
    memcpy(g.b, rec->cmid, 16);
    kms_guid_format(&g, cmid);
    memcpy(g.b, rec->sku_id, 16);
    kms_guid_format(&g, sku);
    const kms_sku *ks = products_sku_find(&g);
    memcpy(g.b, rec->kms_id, 16);
    kms_guid_format(&g, kid);
    const kms_product *kp = products_find(&g);
    iso_utc(rec->first_seen_ms, first);
    iso_utc(rec->last_seen_ms, last);
    const char *app = rec->app < KMS_APP_COUNT ? products_app_slug((kms_app)rec->app) : "unknown";
    bool ok = put_fmt(&p, end, "{\"application\":\"%s\",\"cmid\":\"%s\",\"workstation\":", app, cmid) &&
              put_json_str(&p, end, rec->workstation) && put_fmt(&p, end, ",\"address\":") &&
              put_json_str(&p, end, rec->address) &&
              put_fmt(&p, end, ",\"first_seen\":\"%s\",\"first_seen_ms\":%" PRId64 ",\"last_seen\":\"%s\""
                               ",\"last_seen_ms\":%" PRId64 ",\"sku\":\"%s\",\"product\":",
                      first, rec->first_seen_ms, last, rec->last_seen_ms, sku) &&
              (ks ? put_json_str(&p, end, ks->slug) : put_fmt(&p, end, "null")) &&
              put_fmt(&p, end, ",\"kms_id\":\"%s\",\"product_group\":", kid) &&
              (kp ? put_json_str(&p, end, kp->slug) : put_fmt(&p, end, "null")) &&
              put_fmt(&p, end, ",\"license_status\":\"%s\",\"vm\":%s,\"n_policy\":%u,\"protocol\":%u,\"node\":",
                      metrics_license_status_name(rec->license_status), rec->vm ? "true" : "false",
                      (unsigned)rec->n_policy, (unsigned)rec->protocol) &&
              put_json_str(&p, end, rec->node) &&
              put_fmt(&p, end, ",\"binding_expiration\":%" PRIu32 ",\"count\":%u,\"result\":%s,\"names\":[",
                      rec->binding_expiration, (unsigned)rec->count,
                      !rec->count ? "null" : store_record_below_threshold(rec) ? "\"below_threshold\"" : "\"activated\"");
    for (unsigned i = 0; ok && i < rec->n_names && i < STORE_NAMES_MAX; i++) {
        char seen[64];
        iso_utc(rec->names[i].last_seen_ms, seen);
        ok = put_fmt(&p, end, "%s{\"workstation\":", i ? "," : "") && put_json_str(&p, end, rec->names[i].name) &&
             put_fmt(&p, end, ",\"address\":") && put_json_str(&p, end, rec->names[i].address) &&
             put_fmt(&p, end, ",\"last_seen\":\"%s\",\"last_seen_ms\":%" PRId64 "}", seen, rec->names[i].last_seen_ms);
    }
    ok = ok && put_fmt(&p, end, "]}");
    if (!ok) {
        out[0] = 0;
        return KMS_ESPACE;
    }
    return (int)(p - out);
}
