/* hist.c: the log-linear latency histogram of hist.h. Bucket i < 256 holds exactly the
 * value i; above, each power of two [2^e, 2^(e+1)) is cut into 128 equal buckets, so a
 * bucket's width is at most 1/128 of its values (two significant digits). */
#include "bench/hist.h"

#include <stdlib.h>
#include <string.h>

hist *hist_new(void)
{
    hist *h = calloc(1, sizeof *h);
    if (h) hist_reset(h);
    return h;
}

void hist_free(hist **h)
{
    if (!h || !*h) return;
    free(*h);
    *h = NULL;
}

void hist_reset(hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static int log2_floor(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

size_t hist_index(uint64_t us)
{
    if (us < HIST_SUB) return (size_t)us;
    int e = log2_floor(us);
    if (e > HIST_MAX_EXP) return HIST_BUCKETS - 1;
    /* shift keeps the top 8 bits: (us >> shift) is in [128, 256). */
    int shift = e - (HIST_SUB_BITS - 1);
    size_t sub = (size_t)(us >> shift) - HIST_HALF;
    return HIST_SUB + (size_t)(shift - 1) * HIST_HALF + sub;
}

uint64_t hist_bucket_high(size_t index)
{
    if (index < HIST_SUB) return index;
    size_t k = index - HIST_SUB;
    int shift = (int)(k / HIST_HALF) + 1;
    uint64_t sub = (uint64_t)(k % HIST_HALF) + HIST_HALF;
    return ((sub + 1) << shift) - 1;
}

void hist_record(hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->count++;
    h->sum += (double)us;
    if (us < h->min) h->min = us;
    if (us > h->max) h->max = us;
}

void hist_merge(hist *dst, const hist *src)
{
    if (src->count == 0) return;
    for (size_t i = 0; i < HIST_BUCKETS; i++) dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

uint64_t hist_quantile(const hist *h, double q)
{
    if (h->count == 0) return 0;
    if (q <= 0) return h->min;
    if (q >= 1) return h->max;
    /* The rank of the q-th value, 1-based, rounded up (p50 of 2 values is the first). */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count) rank++;
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return v;
        }
    }
    return h->max;
}
