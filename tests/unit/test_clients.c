/* test_clients.c: the in-memory count index: distinct counting per application, the cap
 * at 2 x largest N, expiry at the lifetime boundary, refresh, out-of-order touches against
 * a naive model, and memory per record at 1,000,000 records. */
#include "node/clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/clock.h"
#include "proto/errors.h"
#include "proto/products.h"
#include "tests/store_fixtures.h"
#include "tests/testutil.h"

#define DAY_MS (86400LL * 1000)
#define LIFE_MS (30 * DAY_MS)
#define T0 1700000000000LL

static void make_cmid(uint8_t cmid[16], uint32_t seed, uint32_t i)
{
    for (int k = 0; k < 16; k++) cmid[k] = (uint8_t)((seed * 131u + i * 2654435761u) >> ((k % 4) * 8)) ^ (uint8_t)(k * 17);
    memcpy(cmid, &i, 4);
    memcpy(cmid + 4, &seed, 4);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

/* Read-only figures at now (clients_stat_at). */
static uint32_t live(const clients_index *ci, int app, int64_t now) { return clients_stat_at(ci, app, now).live; }
static unsigned max_n(const clients_index *ci, int app, int64_t now) { return clients_stat_at(ci, app, now).max_n; }

/* The count both ways: read-only (clients_stat_at) and on the request path (clients_count),
 * under the rule "30 days, cap" (0: 2 x N). */
static uint32_t reported(clients_index *ci, int app, uint32_t cap, int64_t now)
{
    clients_set_rule(ci, 30, cap);
    uint32_t ro = clients_stat_at(ci, app, now).count;
    uint32_t rw = clients_count(ci, app, now);
    CHECK_EQ_INT(ro, rw);
    return rw;
}
static void test_distinct(void)
{
    clients_index *ci = clients_new();
    uint8_t a[16], b[16], c[16];
    make_cmid(a, 1, 1);
    make_cmid(b, 1, 2);
    make_cmid(c, 1, 3);
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_WINDOWS, a, NULL, T0, 25), 1);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + 10), 1);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 10), 1);
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_WINDOWS, b, NULL, T0 + 1, 25), 1);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 10), 2);
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_WINDOWS, c, NULL, T0 + 2, 25), 1);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 10), 3);
    /* The same CMID again: unchanged count. */
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_WINDOWS, b, NULL, T0 + 3, 25), 0);
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_WINDOWS, b, NULL, T0 + 3, 25), 0);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 10), 3);
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_WINDOWS, b), T0 + 3);
    /* Applications count apart: the same CMID under Office is a new record. */
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_OFFICE2013, a, NULL, T0, 5), 1);
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_OFFICE2010, a, NULL, T0, 5), 1);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + 10), 3);
    CHECK_EQ_INT(live(ci, KMS_APP_OFFICE2013, T0 + 10), 1);
    CHECK_EQ_INT(live(ci, KMS_APP_OFFICE2010, T0 + 10), 1);
    CHECK_EQ_INT(clients_size(ci), 5);
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, T0 + 10), 25);
    CHECK_EQ_INT(max_n(ci, KMS_APP_OFFICE2013, T0 + 10), 5);
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_OFFICE2013, b), -1);
    /* Bad arguments. */
    CHECK_EQ_INT(clients_touch(ci, 3, a, NULL, T0, 5), KMS_EINVAL);
    CHECK_EQ_INT(clients_touch(ci, -1, a, NULL, T0, 5), KMS_EINVAL);
    CHECK_EQ_INT(clients_touch(ci, 0, a, NULL, -1, 5), KMS_EINVAL);
    CHECK_EQ_INT(live(ci, 7, T0 + 10), 0);
    CHECK_EQ_INT(reported(ci, -1, 0, T0 + 10), 0);
    CHECK_EQ_INT(clients_last_seen(ci, 9, a), -1);
    clients_free(&ci);
    CHECK(ci == NULL);
    clients_free(&ci);
    clients_free(NULL);
}

static void test_cap(void)
{
    clients_index *ci = clients_new();
    uint8_t m[16];
    /* Windows clients, N = 25: 60 distinct -> 50. */
    for (uint32_t i = 0; i < 60; i++) {
        make_cmid(m, 2, i);
        clients_touch(ci, KMS_APP_WINDOWS, m, NULL, T0 + i, 25);
        CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 3000), i + 1 < 50 ? i + 1 : 50);
    }
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + 3000), 60);
    /* Office, N = 5: -> 10. */
    for (uint32_t i = 0; i < 12; i++) {
        make_cmid(m, 3, i);
        clients_touch(ci, KMS_APP_OFFICE2013, m, NULL, T0 + i, 5);
    }
    CHECK_EQ_INT(reported(ci, KMS_APP_OFFICE2013, 0, T0 + 3000), 10);
    /* A fixed cap overrides 2 x N. */
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 100, T0 + 3000), 60);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 20, T0 + 3000), 20);
    CHECK_EQ_INT(reported(ci, KMS_APP_OFFICE2013, 11, T0 + 3000), 11);
    clients_free(&ci);

    /* Servers (N = 5) alone in Windows: cap 10 until a client with N = 25 appears. */
    ci = clients_new();
    for (uint32_t i = 0; i < 30; i++) {
        make_cmid(m, 4, i);
        clients_touch(ci, KMS_APP_WINDOWS, m, NULL, T0 + i, 5);
    }
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 3000), 10);
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, T0 + 3000), 5);
    make_cmid(m, 5, 0);
    clients_touch(ci, KMS_APP_WINDOWS, m, NULL, T0 + 1000, 25);
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, T0 + 3000), 25);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 3000), 31);
    for (uint32_t i = 30; i < 70; i++) {
        make_cmid(m, 4, i);
        clients_touch(ci, KMS_APP_WINDOWS, m, NULL, T0 + 2000 + i, 5);
    }
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 3000), 50);
    /* When the only N = 25 record expires, the cap falls back to 10. */
    CHECK_EQ_INT(clients_expire(ci, T0 + 1001 + LIFE_MS), 31);
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, T0 + 1001 + LIFE_MS), 5);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, T0 + 1001 + LIFE_MS), 10);
    /* A client's N never raises the cap above 2 x the application's largest table N. */
    make_cmid(m, 6, 0);
    clients_touch(ci, KMS_APP_WINDOWS, m, NULL, T0 + 5000, 5000);
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, T0 + 5000), 25);
    clients_free(&ci);
}

static void test_expiry(void)
{
    clients_index *ci = clients_new();
    uint8_t a[16], b[16];
    make_cmid(a, 7, 0);
    make_cmid(b, 7, 1);
    /* Boundary: a record seen at t with lifetime L is live at t + L and gone at
     * t + L + 1 ms (dropped when last_seen < now - L). */
    clients_touch(ci, KMS_APP_WINDOWS, a, NULL, T0, 25);
    CHECK_EQ_INT(clients_expire(ci, T0 + LIFE_MS), 0);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + LIFE_MS), 1);
    CHECK_EQ_INT(clients_expire(ci, T0 + LIFE_MS + 1), 1);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + LIFE_MS + 1), 0);
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, T0 + LIFE_MS + 1), 0);
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_WINDOWS, a), -1);
    CHECK_EQ_INT(clients_size(ci), 0);
    /* Seen again after expiry: a new client again. */
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_WINDOWS, a, NULL, T0 + LIFE_MS + 2, 25), 1);

    /* A refresh extends life. */
    clients_touch(ci, KMS_APP_WINDOWS, b, NULL, T0, 25);
    clients_touch(ci, KMS_APP_WINDOWS, b, NULL, T0 + 10 * DAY_MS, 25);
    CHECK_EQ_INT(clients_expire(ci, T0 + LIFE_MS + 1), 0);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + LIFE_MS + 1), 2);
    CHECK_EQ_INT(clients_expire(ci, T0 + 10 * DAY_MS + LIFE_MS), 0);
    CHECK_EQ_INT(clients_expire(ci, T0 + 10 * DAY_MS + LIFE_MS + 1), 1);
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_WINDOWS, b), -1);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + 10 * DAY_MS + LIFE_MS + 1), 1);

    /* An older touch never moves a record back in time. */
    clients_touch(ci, KMS_APP_WINDOWS, b, NULL, T0 + 40 * DAY_MS, 25);
    CHECK_EQ_INT(clients_touch(ci, KMS_APP_WINDOWS, b, NULL, T0 + 35 * DAY_MS, 25), 0);
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_WINDOWS, b), T0 + 40 * DAY_MS);
    CHECK_EQ_INT(clients_expire(ci, T0 + 65 * DAY_MS + 1), 1); /* a goes, b stays */
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_WINDOWS, b), T0 + 40 * DAY_MS);
    /* An older record inserted after newer ones still expires in time order. */
    uint8_t c[16];
    make_cmid(c, 7, 2);
    clients_touch(ci, KMS_APP_WINDOWS, c, NULL, T0 + 38 * DAY_MS, 25);
    CHECK_EQ_INT(clients_expire(ci, T0 + 68 * DAY_MS), 0);
    CHECK_EQ_INT(clients_expire(ci, T0 + 68 * DAY_MS + 1), 1);
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_WINDOWS, c), -1);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + 68 * DAY_MS + 1), 1);
    clients_free(&ci);
}

/* The count needs no prior expiry, and reading does not change the index. */
static void test_count_rule(void)
{
    clients_index *ci = clients_new();
    uint8_t m[16];
    for (uint32_t i = 0; i < 8; i++) {
        make_cmid(m, 11, i);
        clients_touch(ci, KMS_APP_OFFICE2013, m, NULL, T0 + (int64_t)i * DAY_MS, 5);
    }
    /* 30 days after the fourth client was seen: the first three are out of the count. */
    int64_t now = T0 + 3 * DAY_MS + LIFE_MS;
    clients_stat st = clients_stat_at(ci, KMS_APP_OFFICE2013, now);
    CHECK_EQ_INT(st.live, 5);
    CHECK_EQ_INT(st.max_n, 5);
    CHECK_EQ_INT(st.count, 5);
    CHECK_EQ_INT(clients_size(ci), 8); /* reading dropped nothing */
    CHECK_EQ_INT(clients_last_seen(ci, KMS_APP_OFFICE2013, (make_cmid(m, 11, 0), m)), T0);
    /* The request path's count drops them itself. */
    CHECK_EQ_INT(clients_count(ci, KMS_APP_OFFICE2013, now), 5);
    CHECK_EQ_INT(clients_size(ci), 5);
    CHECK_EQ_INT(clients_expire(ci, now), 0);
    /* A shorter lifetime and a fixed cap take effect at once. */
    clients_set_rule(ci, 10, 3);
    CHECK_EQ_INT(clients_cutoff(ci, now), now - 10 * DAY_MS);
    st = clients_stat_at(ci, KMS_APP_OFFICE2013, T0 + 7 * DAY_MS + 10 * DAY_MS);
    CHECK_EQ_INT(st.live, 1);
    CHECK_EQ_INT(st.count, 1);
    CHECK_EQ_INT(clients_count(ci, KMS_APP_OFFICE2013, T0 + 4 * DAY_MS + 10 * DAY_MS), 3);
    /* max_n follows the counted records only. */
    make_cmid(m, 12, 0);
    clients_touch(ci, KMS_APP_WINDOWS, m, NULL, T0, 25);
    make_cmid(m, 12, 1);
    clients_touch(ci, KMS_APP_WINDOWS, m, NULL, T0 + 7 * DAY_MS, 5);
    CHECK_EQ_INT(clients_stat_at(ci, KMS_APP_WINDOWS, T0 + 1).max_n, 25);
    CHECK_EQ_INT(clients_stat_at(ci, KMS_APP_WINDOWS, T0 + 7 * DAY_MS + 10 * DAY_MS).max_n, 5);
    clients_free(&ci);
}

static void guid_bytes(const char *text, uint8_t out[16])
{
    kms_guid g;
    if (kms_guid_parse(text, &g) != 0) abort();
    memcpy(out, g.b, 16);
}

/* The N of the rule: a record counts with its product's N from the table, whatever N the
 * client sent; an ID the table does not know with the client's N kept within 1 .. 25
 * (Windows) / 1 .. 5 (Office). No client can raise the count above 50 / 10. (Before:
 * one N = 1000 request made the cap 2000.) */
static void test_table_n(void)
{
    uint8_t m[16], ws2025[16], win10[16], office2024[16], unknown[16];
    guid_bytes("907f1f65-adcd-4a2e-95bc-4bf500bc6e58", ws2025);
    guid_bytes("58e2134f-8e11-4d17-9cb2-91069c151148", win10);
    guid_bytes("a8973cb5-bf03-0a4c-9cef-703099645ab3", office2024);
    guid_bytes("01234567-89ab-4def-8123-456789abcdef", unknown);
    int64_t now = T0 + 100;

    /* 60 Windows clients asking for N = 1000: the count stops at 50. */
    clients_index *ci = clients_new();
    for (uint32_t i = 0; i < 60; i++) {
        make_cmid(m, 20, i);
        clients_touch(ci, KMS_APP_WINDOWS, m, win10, T0 + i, 1000);
        CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, now), i + 1 < 50 ? i + 1 : 50);
    }
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, now), 25);
    /* ... and 12 Office clients asking for N = 1000 stop at 10. */
    for (uint32_t i = 0; i < 12; i++) {
        make_cmid(m, 21, i);
        clients_touch(ci, KMS_APP_OFFICE2013, m, office2024, T0 + i, 1000);
    }
    CHECK_EQ_INT(reported(ci, KMS_APP_OFFICE2013, 0, now), 10);
    CHECK_EQ_INT(max_n(ci, KMS_APP_OFFICE2013, now), 5);
    /* Unknown IDs: the client's N within the application's bound. */
    for (uint32_t i = 0; i < 12; i++) {
        make_cmid(m, 22, i);
        clients_touch(ci, KMS_APP_OFFICE2010, m, unknown, T0 + i, 1000);
    }
    CHECK_EQ_INT(reported(ci, KMS_APP_OFFICE2010, 0, now), 10);
    /* count_cap still overrides. */
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 55, now), 55);
    clients_free(&ci);

    /* Servers alone: the table's N = 5 makes the cap 10, even when they claim N = 25 or
     * 1000; a Windows 10 client (table N = 25) opens it to 50. */
    ci = clients_new();
    for (uint32_t i = 0; i < 30; i++) {
        make_cmid(m, 23, i);
        clients_touch(ci, KMS_APP_WINDOWS, m, ws2025, T0 + i, i % 2 ? 25 : 1000);
    }
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, now), 5);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, now), 10);
    make_cmid(m, 24, 0);
    clients_touch(ci, KMS_APP_WINDOWS, m, win10, T0 + 100, 5); /* the table's N wins: 25 */
    CHECK_EQ_INT(max_n(ci, KMS_APP_WINDOWS, now), 25);
    CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, now), 31);
    clients_free(&ci);

    /* An unknown ID with N = 0 still counts its client (N at least 1). */
    ci = clients_new();
    for (uint32_t i = 0; i < 2; i++) {
        make_cmid(m, 25, i);
        clients_touch(ci, KMS_APP_WINDOWS, m, unknown, T0, 0);
        CHECK_EQ_INT(reported(ci, KMS_APP_WINDOWS, 0, now), i + 1);
    }
    clients_free(&ci);
}

/* The naive reference: an array scanned in full. */
typedef struct model_rec {
    int present;
    int64_t t;
    unsigned n;
} model_rec;

static void run_model(uint32_t pool, int ops, int64_t life, int64_t jitter)
{
    clients_index *ci = clients_new();
    clients_set_rule(ci, (uint32_t)(life / DAY_MS), 0);
    model_rec *m = calloc((size_t)pool * 3, sizeof *m);
    int64_t now = T0;
    int mismatches = 0;
    for (int op = 0; op < ops; op++) {
        uint64_t r = tu_xorshift(&rng_state);
        if (r % 10 < 8) {
            unsigned app = (unsigned)(tu_xorshift(&rng_state) % 3);
            uint32_t id = (uint32_t)(tu_xorshift(&rng_state) % pool);
            /* Mostly now, sometimes well in the past (replication, rebuild). */
            int64_t t = now - ((tu_xorshift(&rng_state) % 4 == 0) ? (int64_t)(tu_xorshift(&rng_state) % (uint64_t)jitter) : (int64_t)(tu_xorshift(&rng_state) % 3));
            if (t < 0) t = 0;
            static const unsigned ns[] = {5, 5, 25, 25, 25, 1, 0, 50, 1200};
            unsigned n = ns[tu_xorshift(&rng_state) % 9];
            unsigned amax = app == KMS_APP_WINDOWS ? 25 : 5; /* the count rule, no KMS ID */
            unsigned nc = n < 1 ? 1 : n > amax ? amax : n;
            uint8_t cm[16];
            make_cmid(cm, 100, id);
            int got = clients_touch(ci, (int)app, cm, NULL, t, (uint16_t)n);
            model_rec *e = &m[app * pool + id];
            int want;
            if (!e->present) {
                e->present = 1, e->t = t, e->n = nc, want = 1;
            } else {
                if (t > e->t) e->t = t, e->n = nc;
                else if (t == e->t && nc > e->n) e->n = nc;
                want = 0;
            }
            if (got != want) mismatches++;
        } else if (r % 10 == 8) {
            now += (int64_t)(tu_xorshift(&rng_state) % (uint64_t)(life / 8));
        } else {
            int64_t cutoff = now - life;
            size_t want = 0;
            for (uint32_t i = 0; i < pool * 3; i++)
                if (m[i].present && m[i].t < cutoff) m[i].present = 0, want++;
            size_t got = clients_expire(ci, now);
            if (got != want) mismatches++;
        }
        if (op % 97 == 0 || op == ops - 1) {
            size_t total = 0;
            for (unsigned app = 0; app < 3; app++) {
                uint32_t live = 0;
                unsigned maxn = 0;
                for (uint32_t i = 0; i < pool; i++) {
                    model_rec *e = &m[app * pool + i];
                    if (!e->present) continue;
                    total++; /* held until clients_expire drops it */
                    if (e->t < now - life) continue; /* expired: not counted */
                    live++;
                    if (e->n > maxn) maxn = e->n;
                    if (op % 997 == 0) {
                        uint8_t cm[16];
                        make_cmid(cm, 100, i);
                        if (clients_last_seen(ci, (int)app, cm) != e->t) mismatches++;
                    }
                }
                /* Read-only at now: the expired records not dropped yet are left out. */
                clients_stat st = clients_stat_at(ci, (int)app, now);
                if (st.live != live) mismatches++;
                if (st.max_n != maxn) mismatches++;
                uint32_t cap = 2 * maxn;
                if (st.count != (live < cap ? live : cap)) mismatches++;
            }
            if (clients_size(ci) != total) mismatches++;
        }
    }
    /* Absent ones too. */
    for (unsigned app = 0; app < 3; app++)
        for (uint32_t i = 0; i < pool; i++) {
            uint8_t cm[16];
            make_cmid(cm, 100, i);
            model_rec *e = &m[app * pool + i];
            if (clients_last_seen(ci, (int)app, cm) != (e->present ? e->t : -1)) mismatches++;
        }
    CHECKF(mismatches == 0, "pool %u: %d mismatches against the model", pool, mismatches);
    free(m);
    clients_free(&ci);
}

static void test_million(void)
{
    const uint32_t n = 1000000;
    clients_index *ci = clients_new();
    double t0 = (clock_mono_ms() / 1e3);
    int bad = 0;
    /* Random times, as a rebuild from LMDB (key order) delivers them. */
    for (uint32_t i = 0; i < n; i++) {
        uint8_t cm[16];
        make_cmid(cm, 9, i);
        int64_t t = T0 + (int64_t)(tu_xorshift(&rng_state) % (uint64_t)LIFE_MS);
        if (clients_touch(ci, (int)(i % 3 == 0 ? KMS_APP_OFFICE2013 : KMS_APP_WINDOWS), cm, NULL, t, 25) != 1) bad++;
    }
    double t1 = (clock_mono_ms() / 1e3);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(clients_size(ci), n);
    double per = (double)clients_memory(ci) / n;
    printf("clients: %u records, %zu bytes, %.1f bytes/record, %.0f ns/insert\n", n, clients_memory(ci), per,
           (t1 - t0) * 1e9 / n);
    CHECKF(per < 64.0, "%.1f bytes per record", per);
    /* Refresh some, then expire about half. */
    for (uint32_t i = 0; i < n; i += 10) {
        uint8_t cm[16];
        make_cmid(cm, 9, i);
        clients_touch(ci, (int)(i % 3 == 0 ? KMS_APP_OFFICE2013 : KMS_APP_WINDOWS), cm, NULL, T0 + LIFE_MS, 25);
    }
    double t2 = (clock_mono_ms() / 1e3);
    size_t dropped = clients_expire(ci, T0 + LIFE_MS + LIFE_MS / 2);
    double t3 = (clock_mono_ms() / 1e3);
    printf("clients: expired %zu in %.0f ms\n", dropped, (t3 - t2) * 1e3);
    CHECK(dropped > n / 3 && dropped < n * 2 / 3);
    CHECK_EQ_INT(clients_size(ci), n - dropped);
    CHECK_EQ_INT(live(ci, KMS_APP_WINDOWS, T0 + LIFE_MS + LIFE_MS / 2) + live(ci, KMS_APP_OFFICE2013, T0 + LIFE_MS + LIFE_MS / 2), n - dropped);
    /* Every survivor is at or after the cutoff; each refreshed one survived. */
    int wrong = 0;
    for (uint32_t i = 0; i < n; i += 7) {
        uint8_t cm[16];
        make_cmid(cm, 9, i);
        int64_t t = clients_last_seen(ci, (int)(i % 3 == 0 ? KMS_APP_OFFICE2013 : KMS_APP_WINDOWS), cm);
        if (t >= 0 && t < T0 + LIFE_MS / 2) wrong++;
        if (i % 10 == 0 && t != T0 + LIFE_MS) wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    size_t all = clients_expire(ci, T0 + 3 * LIFE_MS);
    CHECK_EQ_INT(all, n - dropped);
    CHECK_EQ_INT(clients_size(ci), 0);
    /* Slots are reused: refilling does not grow the record chunks. */
    size_t mem = clients_memory(ci);
    for (uint32_t i = 0; i < 100000; i++) {
        uint8_t cm[16];
        make_cmid(cm, 10, i);
        clients_touch(ci, KMS_APP_WINDOWS, cm, NULL, T0 + 3 * LIFE_MS, 25);
    }
    CHECK(clients_memory(ci) == mem);
    clients_free(&ci);
}

int main(void)
{
    test_distinct();
    test_cap();
    test_expiry();
    test_count_rule();
    test_table_n();
    run_model(40, 20000, 10 * DAY_MS, 12 * DAY_MS);
    run_model(3000, 60000, LIFE_MS, 20 * DAY_MS);
    run_model(20000, 40000, 2 * DAY_MS, 3 * DAY_MS);
    test_million();
    return tu_finish();
}
