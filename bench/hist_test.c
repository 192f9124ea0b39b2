/* hist_test.c: self-test of the latency histogram (bench/hist.h): bucket boundaries,
 * relative error under 1%, quantiles of known distributions, merge and reset. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench/hist.h"

static int passed, failed;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (cond) passed++;                                                               \
        else {                                                                            \
            failed++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                 \
    } while (0)

static int near(uint64_t got, uint64_t want)
{
    /* two significant digits: within 1% (and exact below 256) */
    uint64_t d = got > want ? got - want : want - got;
    return d * 100 <= want;
}

int main(void)
{
    hist *h = hist_new();
    CHECK(h != NULL);
    if (!h) return 1;

    /* exact below 256, each bucket's high value maps back to the bucket */
    for (uint64_t v = 0; v < 256; v++) CHECK(hist_index(v) == v && hist_bucket_high(v) == v);
    int monotone = 1, roundtrip = 1, width = 1;
    for (uint64_t v = 256; v < (1ull << 30); v = v * 1009 / 1000 + 1) {
        size_t i = hist_index(v);
        if (hist_index(v + 1) < i) monotone = 0;
        if (hist_bucket_high(i) < v || hist_index(hist_bucket_high(i)) != i) roundtrip = 0;
        if (i > 0 && hist_bucket_high(i - 1) >= v) roundtrip = 0;
        if ((double)(hist_bucket_high(i) - v) > (double)v / 100.0) width = 0;
    }
    CHECK(monotone);
    CHECK(roundtrip);
    CHECK(width);
    CHECK(hist_index(UINT64_MAX) == HIST_BUCKETS - 1);
    CHECK(hist_index(1ull << 36) < HIST_BUCKETS);

    /* empty */
    CHECK(hist_quantile(h, 0.5) == 0);

    /* uniform 1..100000 µs */
    for (uint64_t v = 1; v <= 100000; v++) hist_record(h, v);
    CHECK(h->count == 100000 && h->min == 1 && h->max == 100000);
    CHECK(near(hist_quantile(h, 0.50), 50000));
    CHECK(near(hist_quantile(h, 0.90), 90000));
    CHECK(near(hist_quantile(h, 0.99), 99000));
    CHECK(near(hist_quantile(h, 0.999), 99900));
    CHECK(hist_quantile(h, 1.0) == 100000);
    CHECK(hist_quantile(h, 0.0) == 1);
    uint64_t p50 = hist_quantile(h, 0.5), p99 = hist_quantile(h, 0.99);
    CHECK(p50 <= p99 && p99 <= h->max);

    /* a tail: 990 fast, 10 slow -> p99 is fast, p99.9 is slow */
    hist_reset(h);
    CHECK(h->count == 0);
    for (int i = 0; i < 990; i++) hist_record(h, 500);
    for (int i = 0; i < 10; i++) hist_record(h, 20000);
    CHECK(near(hist_quantile(h, 0.99), 500));
    CHECK(near(hist_quantile(h, 0.995), 20000));
    CHECK(hist_quantile(h, 0.999) == 20000); /* clamped to the exact max */

    /* merge */
    hist *g = hist_new();
    CHECK(g != NULL);
    if (g) {
        hist_record(g, 7);
        hist_merge(g, h);
        CHECK(g->count == 1001 && g->min == 7 && g->max == 20000);
        hist_free(&g);
        CHECK(g == NULL);
    }
    hist_free(&h);
    hist_free(&h); /* accepts NULL */
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
