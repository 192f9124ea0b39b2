/* metrics.c: see metrics.h. */
#include "node/metrics.h"

#include <math.h>

const double metrics_latency_bounds_ms[METRICS_LATENCY_BUCKETS] = {
    0.25, 0.5, 1, 2, 3, 5, 10, 25, 50, 100, 250, 500, 1000, INFINITY};

void metrics_hist_observe(metrics_hist *h, double ms)
{
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
        if (ms <= metrics_latency_bounds_ms[i]) { h->bucket[i]++; break; }
    h->sum_ms += ms;
    h->count++;
}

const char *metrics_result_name(int r)
{
    static const char *names[MR_COUNT] = {"activated", "below_threshold", "invalid_data", "product_refused",
                                          "time_refused", "store_error"};
    return r >= 0 && r < MR_COUNT ? names[r] : "unknown";
}

const char *metrics_refusal_name(int r)
{
    static const char *names[MREF_COUNT] = {"allowlist", "max_connections", "per_address",
                                            "bad_pdu", "fault", "idle_timeout", "lifetime",
                                            "pdu_timeout"};
    return r >= 0 && r < MREF_COUNT ? names[r] : "unknown";
}

const char *metrics_license_status_name(int s)
{
    static const char *names[8] = {"unlicensed", "licensed", "oob_grace", "oot_grace",
                                   "non_genuine_grace", "notification", "extended_grace", "other"};
    return s >= 0 && s < 8 ? names[s] : "other";
}
