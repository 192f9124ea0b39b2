/* report.h: activation health computed from the (replicated, so cluster-wide) client
 * records: who was answered below their threshold, who is at risk of losing activation,
 * which client machine IDs were seen with several workstation names (cloned images), the
 * per-application count forecast if no client comes back, per-application count history,
 * the KMS counted IDs clients count with that the product table does not know, and the
 * same per room. The rules that judge one record are here too, for the
 * `clients` filters. Pure: records and the time come in, JSON and Prometheus text go
 * out; the caller feeds the records in bounded steps (admin_report.c). */
#ifndef KMSHA_REPORT_H
#define KMSHA_REPORT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "node/config.h"
#include "replication/store.h"

struct evbuffer;

#define REPORT_FORECAST_DAYS 45  /* forecast: today and the next 45 days */
#define REPORT_HISTORY_DAYS 30   /* count history: the last 30 days and today */
#define REPORT_LIST_MAX 500      /* records listed per section (every one is counted) */
#define REPORT_ROOMS_MAX 4096    /* rooms tracked; clients of further rooms count as "other" */
#define REPORT_ROOM_MAX 64       /* bytes of a room name, NUL included */
#define REPORT_N_MAX 1000        /* the largest N a request may carry (kmshost) */
#define REPORT_APPS 3            /* kms_app */
#define REPORT_UNKNOWN_MAX 32    /* unknown KMS counted IDs listed; more are summed as "other" */
/* How long an activation lasts without renewal (KMS activation validity, 180 days). */
#define REPORT_ACTIVATION_VALIDITY_MS ((int64_t)180 * 86400 * 1000)

struct clients_index;

/* The settings that judge records, from the configuration. */
typedef struct report_rules {
    int64_t lifetime_ms;       /* [kms] client_lifetime_days */
    int64_t at_risk_ms;        /* [report] at_risk_days */
    const struct clients_index *index; /* whose count rule (cap) the forecast applies */
    unsigned prefix_v4, prefix_v6;
    bool has_pattern;          /* rooms by [report] room_pattern, else by address */
    regex_t pattern;
} report_rules;

/* Builds the rules from cfg; index: the node's count index, whose rule turns numbers of
 * clients into counts (NULL where only records are judged, as by the clients filters:
 * counts are then not capped). Returns 0 or KMS_EINVAL (room_pattern does not compile)
 * with a message in err. Free with report_rules_free. */
int report_rules_init(report_rules *r, const kmsd_config *cfg, const struct clients_index *index, char *err,
                      size_t errlen);
void report_rules_free(report_rules *r);

/* Is the record still counted at now_ms (last_seen within the lifetime)? */
bool report_live(const report_rules *r, const store_record *rec, int64_t now_ms);
/* Will the client stop working within at_risk_ms unless it activates? A client activated
 * by its last answer holds an activation for REPORT_ACTIVATION_VALIDITY_MS from last_seen;
 * any other (answered below its N, or a record from before answers were kept) stays in the
 * licence state it last reported for binding_expiration minutes from last_seen, and is at
 * risk in a grace or unlicensed state whatever the time left. *stops_ms (when not NULL):
 * when it stops working (0 = not known); *why: a short reason. */
bool report_at_risk(const report_rules *r, const store_record *rec, int64_t now_ms, int64_t *stops_ms,
                    const char **why);
/* Workstation names the CMID was seen with within the lifetime (2 or more: cloned). */
int report_names_live(const report_rules *r, const store_record *rec, int64_t now_ms);
/* The record's room: the capture of room_pattern on the workstation name ("unmatched" when
 * it does not match), or the address prefix (10.1.2.0/24, 2001:db8:1:2::/64; "unknown"). */
void report_room(const report_rules *r, const store_record *rec, char out[REPORT_ROOM_MAX]);

typedef struct report report;

/* A report at now_ms under rules (which must outlive it). NULL when out of memory. */
report *report_new(const report_rules *rules, int64_t now_ms);
void report_free(report **self_p);
/* Counts one record in. Returns 0 or KMS_ENOMEM. */
int report_add(report *self, const store_record *rec);
/* After the last record: sorts the lists and computes the forecast. */
void report_finish(report *self);
int64_t report_time(const report *self);
uint64_t report_records(const report *self);

/* The whole report as one JSON object (and a newline). node: who computed it. */
void report_json(const report *self, const char *node, struct evbuffer *out);
/* Prometheus gauges per section, application and room (max_rooms rooms by name, the rest
 * summed as room="other"). node: the node label. */
void report_metrics(const report *self, const char *node, unsigned max_rooms, struct evbuffer *out);

#endif
