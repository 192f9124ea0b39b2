/* fuzz_store_record.c: store_record_decode on arbitrary bytes (records also arrive from
 * peers through replication). Whatever decodes must encode back to the same bytes and
 * merge deterministically with itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replication/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_record rec;
    int n = store_record_decode(data, size, &rec);
    if (n < 0) return 0;
    if ((size_t)n > size || n > STORE_RECORD_WIRE_MAX) abort();
    uint8_t out[STORE_RECORD_WIRE_MAX];
    int m = store_record_encode(&rec, out, sizeof out);
    if (m != n || memcmp(out, data, (size_t)n) != 0) abort();
    store_record copy = rec;
    if (store_record_merge(&copy, &rec)) abort(); /* idempotent */
    /* A second record from the rest of the input, merged both ways. */
    store_record other;
    if (store_record_decode(data + n, size - (size_t)n, &other) > 0) {
        store_record ab = rec, ba = other;
        store_record_merge(&ab, &other);
        store_record_merge(&ba, &rec);
        uint8_t e1[STORE_RECORD_WIRE_MAX], e2[STORE_RECORD_WIRE_MAX];
        int l1 = store_record_encode(&ab, e1, sizeof e1), l2 = store_record_encode(&ba, e2, sizeof e2);
        if (l1 != l2 || (l1 > 0 && memcmp(e1, e2, (size_t)l1) != 0)) abort();
    }
    return 0;
}
