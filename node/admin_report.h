/* admin_report.h: GET /report on the admin address (?latest=1: the last finished report,
 * without a new scan, when no record was written since it began) (the activation health report of
 * report.h, computed from this node's copy of the replicated records, so cluster-wide),
 * and the same report recomputed every [report] interval seconds in the background for
 * /metrics. A report scans the store in pages for at most 2 ms per event loop turn, so a
 * big store never stalls the KMS requests the loop serves. */
#ifndef KMSHA_ADMIN_REPORT_H
#define KMSHA_ADMIN_REPORT_H

#include "node/admin_gate.h"
#include "node/node.h"

struct evhttp;
struct evbuffer;
typedef struct admin_report admin_report;

/* Registers /report on http and starts the background reports. NULL when out of memory. */
admin_report *admin_report_new(node *n, admin_gate *gate);
/* Drops reports in progress (their requests go with evhttp_free, which must follow).
 * Accepts NULL; NULLs *self_p. */
void admin_report_free(admin_report **self_p);
/* The last finished report's gauges (nothing before the first one finishes). */
void admin_report_metrics(admin_report *self, struct evbuffer *out);

#endif
