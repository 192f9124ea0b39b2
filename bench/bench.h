/* bench.h: what kmsbench's parts share: the run's configuration as parsed from the
 * command line, and the results a run produces (totals, failures by cause, latency
 * histogram, per-second series), which report.c prints as text, JSON and HTML. */
#ifndef KMSHA_BENCH_H
#define KMSHA_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench/hist.h"
#include "proto/guid.h"

#define BENCH_MAX_TARGETS 64
#define BENCH_MAX_PRODUCTS 32
#define BENCH_MAX_HRESULTS 16 /* distinct HRESULT / fault / error values remembered */
#define BENCH_MAX_THREADS 64
#define BENCH_MAX_SOURCES 256 /* --source addresses */

/* Why an activation failed. The order is the order of the reports. */
typedef enum bench_cause {
    CAUSE_REFUSED = 0,   /* every target refused the connection (or was unreachable) */
    CAUSE_TIMEOUT,       /* a step took longer than --timeout on the last target tried */
    CAUSE_CLOSED,        /* the host closed or reset the connection after answering the bind */
    CAUSE_RPC_FAULT,     /* the host answered with an RPC fault PDU */
    CAUSE_HRESULT,       /* the host refused the activation (non-zero HRESULT) */
    CAUSE_VERIFICATION,  /* the response failed verification (MAC, HMAC, echo, count 0) */
    CAUSE_PROTOCOL,      /* malformed or unexpected PDU (bind_ack, bind_nak, response) */
    CAUSE_COUNT_BELOW_N, /* count < N with --require-count */
    CAUSE_OVERLOAD,      /* open loop: start skipped because --max-outstanding was reached */
    CAUSE_LOCAL,         /* the load generator itself failed (no fd, no local port) */
    CAUSE_DROPPED,       /* the host accepted the connection and closed it without answering
                            the bind: how kmsd refuses a client over max_connections,
                            max_connections_per_address or allow_clients */
    CAUSE_COUNT_
} bench_cause;

/* Machine-readable names ("refused", "timeout", "connection_closed", ...). */
const char *bench_cause_name(bench_cause c);

typedef struct bench_target {
    char text[300];                /* as given: "host:port" */
    struct sockaddr_storage addr;  /* resolved once at start-up */
    socklen_t addrlen;
    /* what happened there (moving on to the next target included), by cause */
    uint64_t attempts, ok, refused, timeouts, other;
    uint64_t dropped, closed;
} bench_target;

typedef struct bench_product {
    char slug[64];      /* SKU slug as given ("win10-pro") */
    unsigned weight;    /* relative share of clients */
    kms_guid app_id, sku_id, kms_id;
    uint16_t n_policy;
    int protocol;       /* the product's usual protocol */
    int app;            /* kms_app */
} bench_product;

typedef struct bench_config {
    bench_target targets[BENCH_MAX_TARGETS];
    int n_targets;
    bench_product products[BENCH_MAX_PRODUCTS];
    int n_products;
    unsigned total_weight;
    int protocol;             /* 0 = each product's own, 4/5/6 fixed, -1 = mix */
    unsigned concurrency;     /* closed loop */
    double rate;              /* > 0: open loop, starts per second */
    unsigned max_outstanding; /* open loop cap */
    double duration_s;        /* 0 = not given */
    uint64_t requests;        /* 0 = not given */
    double warmup_s;
    uint64_t clients;
    uint64_t seed;
    int timeout_ms;
    bool verify;
    bool require_count;
    bool sticky;              /* each client remembers the target that last answered it */
    bool progress;
    bool ndr64;               /* offer NDR64 in the bind (default; --no-ndr64: NDR32 + BTFN) */
    bool reset_close;         /* close with SO_LINGER 0 (RST): no TIME_WAIT (default) */
    unsigned threads;         /* event loops, one per thread (default 1) */
    struct sockaddr_storage sources[BENCH_MAX_SOURCES]; /* --source: bound before connect */
    unsigned n_sources;
    char sources_text[128];
    const char *json_path;
    const char *report_path;
    char command_line[1024];  /* for the report */
} bench_config;

/* One second of the run (t = 1 is the first second after the warm-up). */
typedef struct bench_second {
    uint64_t ok, failed;
    uint64_t p50_us, p99_us; /* of the activations that succeeded in this second */
} bench_second;

/* A small "value -> count" tally (HRESULTs, fault statuses, verification errors). */
typedef struct bench_tally {
    int n;
    int64_t key[BENCH_MAX_HRESULTS];
    uint64_t count[BENCH_MAX_HRESULTS];
    uint64_t other; /* values that did not fit */
} bench_tally;

void bench_tally_add(bench_tally *t, int64_t key);
/* Adds every count of src to dst. */
void bench_tally_merge(bench_tally *dst, const bench_tally *src);

typedef struct bench_result {
    uint64_t attempted;          /* measured starts, skipped ones included */
    uint64_t ok;                 /* verified activations */
    uint64_t failed;
    uint64_t by_cause[CAUSE_COUNT_];
    bench_tally hresults;        /* HRESULT -> count */
    bench_tally faults;          /* fault status -> count */
    bench_tally verify_errors;   /* KMS_E* code -> count */
    bench_tally local_errors;    /* errno -> count */
    uint64_t count_below_n;      /* responses with count < N (counted even when not fatal) */
    uint64_t failovers;          /* times an activation moved on to the next target */
    uint64_t failovers_by_cause[CAUSE_COUNT_]; /* ... and why it moved on */
    uint64_t min_count, max_count; /* of the counts returned */
    hist *latency;               /* successful activations, µs */
    double elapsed_s;            /* measurement window */
    double started_unix;         /* wall clock at measurement start */
    bench_second *series;
    size_t n_series, cap_series;
    uint64_t clients_by_app[3];  /* distinct clients that took part, per application */
    bool interrupted;            /* stopped by SIGINT/SIGTERM */
    double run_s;                /* whole run, warm-up and final wait included */
    double cpu_user_s, cpu_sys_s;/* kmsbench's own CPU time over run_s */
} bench_result;

/* report.c */
void report_text(FILE *out, const bench_config *cfg, const bench_result *res);
/* Write the JSON summary / the HTML page. Return 0, or -1 with errno set. */
int report_json(const char *path, const bench_config *cfg, const bench_result *res);
int report_html(const char *path, const bench_config *cfg, const bench_result *res);

#endif
