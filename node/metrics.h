/* metrics.h: the node's counters, shaped like `slmgr /dlv` on a KMS host (total, failed,
 * per licence status) plus what an operator graphs: results, protocols, applications,
 * connections, refusals by cause, and a request latency histogram. Owned by the loop. */
#ifndef KMSHA_METRICS_H
#define KMSHA_METRICS_H

#include <stdint.h>

enum metrics_result {
    MR_ACTIVATED = 0,     /* S_OK with a count at or above the client's N */
    MR_BELOW_THRESHOLD,   /* S_OK with a count below the client's N: it stays in grace */
    MR_INVALID_DATA,      /* 0x8007000D: malformed, unsupported version, bad MAC */
    MR_PRODUCT_REFUSED,   /* 0xC004F042 */
    MR_TIME_REFUSED,      /* 0xC004F06C */
    MR_STORE_ERROR,       /* the record could not be committed: connection closed */
    MR_COUNT,
};

enum metrics_refusal {
    MREF_ALLOWLIST = 0,   /* client address not in allow_clients */
    MREF_MAX_CONNECTIONS,
    MREF_PER_ADDRESS,
    MREF_BAD_PDU,         /* malformed or oversized PDU: connection closed */
    MREF_FAULT,           /* RPC fault sent (unknown context, opnum, protocol error) */
    MREF_IDLE_TIMEOUT,
    MREF_LIFETIME,        /* connection_timeout or max_requests_per_connection */
    MREF_PDU_TIMEOUT,     /* a PDU (or the first one) not complete within pdu_timeout */
    MREF_COUNT,
};

#define METRICS_LATENCY_BUCKETS 14
/* Requests per product group: slot i is products_at(i); the last slot counts requests whose
 * KMS counted ID is not in the product table. */
#define METRICS_PRODUCT_SLOTS 64
extern const double metrics_latency_bounds_ms[METRICS_LATENCY_BUCKETS]; /* last = +Inf */

/* A histogram over metrics_latency_bounds_ms (per-bucket counts; the caller makes them
 * cumulative for Prometheus). */
typedef struct metrics_hist {
    uint64_t bucket[METRICS_LATENCY_BUCKETS];
    double sum_ms;
    uint64_t count;
} metrics_hist;
void metrics_hist_observe(metrics_hist *h, double ms);

typedef struct metrics {
    uint64_t requests_total;             /* KMS requests answered or failed */
    uint64_t requests_failed;            /* everything not answered with a count */
    uint64_t by_license_status[8];       /* 0..6 per spec 3.1; 7 = out of range */
    uint64_t by_result[MR_COUNT];
    uint64_t by_protocol[3];             /* v4, v5, v6 */
    uint64_t by_app[3];                  /* kms_app of activations (count >= N) */
    uint64_t below_by_app[3];            /* kms_app of answers below the client's N */
    uint64_t refusals[MREF_COUNT];
    uint64_t by_product[METRICS_PRODUCT_SLOTS][MR_COUNT]; /* requests by product group, result */
    uint64_t connections_total;
    uint64_t connections_open;
    metrics_hist latency;                /* from a KMS request to its answer */
    /* From a replicated update's creation on its origin (the record's last_seen) to this
     * node counting it, for live updates. Same-clock assumption: one machine or NTP. */
    metrics_hist repl_delay;
} metrics;

const char *metrics_result_name(int r);   /* "activated", "below_threshold", "invalid_data", ... */
/* Whether the request was answered with a count (activated or below threshold). */
static inline int metrics_result_answered(int r) { return r == MR_ACTIVATED || r == MR_BELOW_THRESHOLD; }
const char *metrics_refusal_name(int r);  /* "allowlist", ... */
const char *metrics_license_status_name(int s); /* "unlicensed", "licensed", "oob_grace", ... */

#endif
