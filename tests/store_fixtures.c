/* store_fixtures.c: see store_fixtures.h. */
#include "tests/store_fixtures.h"

#include <stdio.h>
#include <string.h>

uint64_t tu_xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

void tu_make_record(store_record *r, uint32_t i, int64_t t)
{
    memset(r, 0, sizeof *r);
    r->app = (uint8_t)(i % 3);
    for (int k = 0; k < 16; k++) r->cmid[k] = (uint8_t)(0xA0 + k);
    memcpy(r->cmid, &i, 4);
    r->first_seen_ms = t;
    r->last_seen_ms = t;
    for (int k = 0; k < 16; k++) r->sku_id[k] = (uint8_t)(k * 3 + i);
    for (int k = 0; k < 16; k++) r->kms_id[k] = (uint8_t)(k * 5);
    r->license_status = (uint8_t)(i % 7);
    r->vm = (uint8_t)(i & 1);
    r->n_policy = (i % 3) ? 5 : 25;
    r->protocol = (uint8_t)(4 + i % 3);
    snprintf(r->workstation, sizeof r->workstation, "PC-%05u.lab.example.edu", (unsigned)i);
    snprintf(r->address, sizeof r->address, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    snprintf(r->node, sizeof r->node, "node%u", (unsigned)(i % 3 + 1));
}

bool tu_same_record(const store_record *a, const store_record *b)
{
    uint8_t ea[STORE_RECORD_WIRE_MAX], eb[STORE_RECORD_WIRE_MAX];
    int na = store_record_encode(a, ea, sizeof ea), nb = store_record_encode(b, eb, sizeof eb);
    return na > 0 && na == nb && memcmp(ea, eb, (size_t)na) == 0;
}

store *tu_open_store(struct event_base *base, const char *dir, uint32_t delay, bool no_sync)
{
    store_options o = {.commit_delay_ms = delay, .map_size = 0, .no_sync = no_sync};
    char err[256];
    store *s = store_open(base, dir, &o, NULL, err, sizeof err);
    if (!s) fprintf(stderr, "store_open: %s\n", err);
    return s;
}
