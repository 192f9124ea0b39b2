/* hist.h: a log-linear latency histogram in microseconds (HdrHistogram-like, two
 * significant digits: every recorded value lands in a bucket less than 1% wide), fixed
 * size, no allocation after hist_new, cheap enough to record every activation. */
#ifndef KMSHA_BENCH_HIST_H
#define KMSHA_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Values are exact below HIST_SUB (256 µs), then 128 buckets per power of two. */
#define HIST_SUB_BITS 8
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_HALF (HIST_SUB / 2)
#define HIST_MAX_EXP 36 /* values up to 2^36 µs (19 hours) keep their resolution */
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS + 1) * HIST_HALF)

typedef struct hist {
    uint64_t count;
    uint64_t min, max; /* exact, µs */
    double sum;        /* µs, for the mean */
    uint64_t b[HIST_BUCKETS];
} hist;

/* Allocates an empty histogram. Returns NULL when out of memory. */
hist *hist_new(void);
/* Frees *h (accepts NULL) and sets *h to NULL. */
void hist_free(hist **h);
/* Empties h. */
void hist_reset(hist *h);
/* Records one value in µs (values above the range land in the last bucket; max stays
 * exact). */
void hist_record(hist *h, uint64_t us);
/* Adds every count of src to dst. */
void hist_merge(hist *dst, const hist *src);
/* The value at quantile q (0..1): the highest value of the bucket holding the q-th
 * recorded value, clamped to [min, max]. 0 when empty. */
uint64_t hist_quantile(const hist *h, double q);
/* Bucket index of a value and the highest value a bucket holds (for tests). */
size_t hist_index(uint64_t us);
uint64_t hist_bucket_high(size_t index);

#endif
