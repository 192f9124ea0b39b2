/* query.h: which client records an operator asks for (kmsctl clients, GET /clients): a
 * filter by CMID, workstation, address, application and last-seen time, its parsing from
 * URL parameters, a bounded paged scan of a store that never holds a read transaction for
 * long, and one record as a JSON object. No I/O besides the store's read transactions. */
#ifndef KMSHA_QUERY_H
#define KMSHA_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "replication/store.h"

#define QUERY_LIMIT_DEFAULT 1000
#define QUERY_LIMIT_MAX 100000
#define QUERY_CURSOR_HEXLEN (2 * STORE_KEY_LEN) /* hex digits of a resume cursor */
#define QUERY_RECORD_JSON_MAX 12288 /* room for query_record_json of any record */

struct report_rules;

enum query_status {
    QUERY_STATUS_ANY = -1,
    /* 0..7: the licence status the client last reported (metrics_license_status_name) */
    QUERY_STATUS_BELOW_THRESHOLD = 100, /* last answer below the client's N */
    QUERY_STATUS_ACTIVATED = 101,       /* last answer at or above it */
};

typedef struct query_filter {
    bool has_cmid;
    uint8_t cmid[16];                        /* wire bytes */
    int app;                                 /* kms_app, or -1 for every application */
    char workstation[STORE_WORKSTATION_MAX]; /* substring, ASCII case-insensitive; "" = any */
    bool has_address;
    int addr_family;                         /* AF_INET or AF_INET6 */
    uint8_t addr[16];                        /* network (CIDR) the last client address lies in */
    unsigned addr_prefix;
    int64_t since_ms;                        /* last_seen_ms >= since_ms (INT64_MIN = any) */
    int64_t until_ms;                        /* last_seen_ms <  until_ms (INT64_MAX = any) */
    int status;                              /* enum query_status */
    bool has_product;
    uint8_t product[16];                     /* SKU or KMS counted ID (either matches) */
    char node[STORE_NODE_MAX];               /* node that saw it last, exactly; "" = any */
    char room[64];                           /* report_room, exactly; "" = any */
    bool at_risk, cloned;                    /* report_at_risk / report_names_live >= 2 */
    /* What judges room, at_risk and cloned: set by the caller (query_match of a filter that
     * asks for them without rules matches nothing). */
    const struct report_rules *rules;
    int64_t now_ms;
} query_filter;

/* A filter that matches every record. */
void query_filter_init(query_filter *f);

/* Sets one criterion from its URL parameter: cmid (GUID), workstation, address (a CIDR,
 * 10.0.0.0/8 or 2001:db8::/32, or one address), application (windows, office2010,
 * office2013 or an application GUID), since / until (see query_parse_time; relative times
 * count back from now_ms), status (a licence status name: unlicensed, licensed,
 * oob_grace, oot_grace, non_genuine_grace, notification, extended_grace; or
 * below_threshold, activated), product (SKU or KMS counted ID: slug or GUID), node, room,
 * at_risk and cloned (true/false). Returns 0, or KMS_EINVAL with a one-line reason in err
 * (an unknown key is KMS_EINVAL too). */
int query_filter_set(query_filter *f, const char *key, const char *value, int64_t now_ms,
                     char *err, size_t errlen);

/* Does rec pass every criterion of f? */
bool query_match(const query_filter *f, const store_record *rec);

/* Parses a point in time into unix ms: digits only = unix milliseconds; an ISO 8601
 * date (2024-09-01) or date-time (2024-09-01T08:30[:15][.123][Z|+02:00|-0500], a space
 * for the T too) - without a zone it is the local time of the machine parsing it; or a
 * relative time back from now_ms: a number followed by w, d, h, m or s (7d, 24h, 90m).
 * A date alone is its start, or with end_of_day the start of the next day (so that
 * "until 2024-09-01" includes that day). Returns 0 or KMS_EINVAL. */
int query_parse_time(const char *text, int64_t now_ms, bool end_of_day, int64_t *out_ms);

/* Where a paged scan stands. Start with query_scan_init; resume a scan another request
 * began with query_cursor_parse. */
typedef struct query_scan {
    uint8_t cursor[STORE_KEY_LEN]; /* key of the last record examined */
    size_t cursor_len;             /* 0 = nothing examined yet */
    bool done;                     /* nothing is left to examine */
    uint64_t scanned;              /* records examined so far */
} query_scan;

void query_scan_init(query_scan *s, const query_filter *f);

/* Examines at most budget records after the cursor (each page is its own short read
 * transaction), appending up to max matches to out. Stops early when max matches are
 * found, leaving the cursor on the last match so the next call resumes right after it.
 * Sets s->done at the end of what f can match. Returns the matches appended (>= 0) or
 * KMS_ESTORE / KMS_ENOMEM / KMS_EINVAL (budget 0). */
int query_step(store *st, const query_filter *f, query_scan *s, store_record *out, size_t max,
               size_t budget);

/* The cursor as hex text (QUERY_CURSOR_HEXLEN digits, "" before the first record); parses it
 * back into a scan. Parse returns 0 or KMS_EINVAL. */
void query_cursor_format(const query_scan *s, char out[QUERY_CURSOR_HEXLEN + 1]);
int query_cursor_parse(query_scan *s, const char *hex);

/* One record as a JSON object (no newline): application, cmid, workstation, address,
 * first_seen / last_seen (ISO 8601 UTC) and *_ms, sku, product (SKU slug when known),
 * kms_id, product_group (KMS counted ID slug when known), license_status, vm, n_policy,
 * protocol, node, binding_expiration, count (of the last answer; 0 = not known), result
 * ("activated", "below_threshold" or null), names (the workstation names seen with the CMID:
 * workstation, address, last_seen). Returns the length written (without the NUL) or
 * KMS_ESPACE. */
int query_record_json(const store_record *rec, char *out, size_t cap);

#endif
