/* test_store.c: the LMDB client store: record encoding and the merge rule, put/get,
 * store_each, reopen, group commit (leader/follower: a lone write commits alone, what
 * queues during a commit goes together in the next one), prune, map growth, callbacks owed
 * at store_free, and durability: records acknowledged to a SIGKILLed process are all on
 * disk. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "replication/store.h"

#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/errors.h"
#include "tests/store_fixtures.h"
#include "tests/testutil.h"

#define T0 1700000000000LL

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
/* ---- helpers ---- */

typedef struct tally {
    int calls, ok, failed;
} tally;

static void on_done(void *arg, int status)
{
    tally *t = arg;
    t->calls++;
    if (status == 0) t->ok++; else t->failed++;
}

/* Runs the loop until t->calls reaches want (or 10 s pass). */
static void wait_calls(struct event_base *base, tally *t, int want)
{
    double until = tu_mono_ms() + 10000;
    while (t->calls < want && tu_mono_ms() < until) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (t->calls < want) usleep(200);
    }
}

/* ---- encoding ---- */

static void test_codec(void)
{
    store_record r, d;
    tu_make_record(&r, 12345, T0);
    uint8_t buf[STORE_RECORD_WIRE_MAX];
    int n = store_record_encode(&r, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ_INT(buf[0], 1);
    CHECK_EQ_INT(store_record_decode(buf, (size_t)n, &d), n);
    CHECK(tu_same_record(&r, &d));
    CHECK(strcmp(d.workstation, r.workstation) == 0 && strcmp(d.node, r.node) == 0);
    CHECK(d.first_seen_ms == T0 && d.last_seen_ms == T0 && d.n_policy == r.n_policy);
    /* Little-endian times at fixed offsets. */
    CHECK_EQ_INT(buf[26], (uint8_t)T0);
    /* Trailing bytes are not consumed. */
    uint8_t big[STORE_RECORD_WIRE_MAX + 8];
    memcpy(big, buf, (size_t)n);
    memset(big + n, 0xEE, 8);
    CHECK_EQ_INT(store_record_decode(big, (size_t)n + 8, &d), n);

    /* Every truncation fails. */
    int bad = 0;
    for (int len = 0; len < n; len++)
        if (store_record_decode(buf, (size_t)len, &d) >= 0) bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(store_record_decode(buf, 0, &d), KMS_ETRUNC);
    CHECK_EQ_INT(store_record_decode(buf, 10, &d), KMS_ETRUNC);
    /* Wrong version. */
    uint8_t v[STORE_RECORD_WIRE_MAX];
    memcpy(v, buf, (size_t)n);
    v[0] = 3;
    CHECK_EQ_INT(store_record_decode(v, (size_t)n, &d), KMS_EVERSION);
    v[0] = 2; /* a version-1 body under the version-2 tag lacks the extension */
    CHECK(store_record_decode(v, (size_t)n, &d) < 0);
    v[0] = 0;
    CHECK_EQ_INT(store_record_decode(v, (size_t)n, &d), KMS_EVERSION);
    /* Unknown application. */
    memcpy(v, buf, (size_t)n);
    v[1] = 3;
    CHECK_EQ_INT(store_record_decode(v, (size_t)n, &d), KMS_EINVAL);
    /* String longer than its field, or holding NUL. */
    memcpy(v, buf, (size_t)n);
    size_t ws = 71;
    CHECK_EQ_INT(v[ws], strlen(r.workstation));
    v[ws + 3] = 0;
    CHECK_EQ_INT(store_record_decode(v, (size_t)n, &d), KMS_EINVAL);
    uint8_t longs[600];
    memset(longs, 'A', sizeof longs);
    memcpy(longs, buf, ws);
    longs[ws] = STORE_WORKSTATION_MAX; /* one too many */
    longs[ws + 1 + STORE_WORKSTATION_MAX] = 1;
    longs[ws + 2 + STORE_WORKSTATION_MAX + 1] = 1;
    CHECK_EQ_INT(store_record_decode(longs, sizeof longs, &d), KMS_EINVAL);
    longs[ws] = STORE_WORKSTATION_MAX - 1; /* the most allowed */
    longs[ws + STORE_WORKSTATION_MAX] = 1;
    longs[ws + STORE_WORKSTATION_MAX + 2] = 1;
    CHECK(store_record_decode(longs, sizeof longs, &d) > 0);
    CHECK_EQ_INT(strlen(d.workstation), STORE_WORKSTATION_MAX - 1);
    /* Output space. */
    CHECK_EQ_INT(store_record_encode(&r, buf, 20), KMS_ESPACE);
    CHECK_EQ_INT(store_record_encode(&r, buf, (size_t)n - 1), KMS_ESPACE);
    CHECK_EQ_INT(store_record_encode(&r, buf, (size_t)n), n);
    /* Unterminated strings are bounded; full-size fields fit the maximum. */
    store_record full;
    tu_make_record(&full, 1, T0);
    memset(full.workstation, 'W', sizeof full.workstation);
    memset(full.address, 'A', sizeof full.address);
    memset(full.node, 'N', sizeof full.node);
    n = store_record_encode(&full, buf, sizeof buf);
    CHECK(n > 0 && n <= STORE_RECORD_WIRE_MAX);
    CHECK_EQ_INT(store_record_decode(buf, (size_t)n, &d), n);
    CHECK_EQ_INT(strlen(d.workstation), STORE_WORKSTATION_MAX - 1);
    CHECK_EQ_INT(strlen(d.node), STORE_NODE_MAX - 1);
    full.app = 3;
    CHECK_EQ_INT(store_record_encode(&full, buf, sizeof buf), KMS_EINVAL);

    /* Version 2: binding_expiration, count and the name set, written only when set. */
    {
        store_record r2 = r;
        r2.binding_expiration = 43200;
        r2.count = 13;
        store_record_add_name(&r2, "LAB-1", "10.0.0.1", T0);
        store_record_add_name(&r2, "LAB-2", "10.0.0.2", T0 + 5);
        store_record_add_name(&r2, "", "10.0.0.3", T0 + 9); /* no name: not kept */
        CHECK_EQ_INT(r2.n_names, 2);
        uint8_t b2[STORE_RECORD_WIRE_MAX];
        uint8_t b1[STORE_RECORD_WIRE_MAX];
        int n1 = store_record_encode(&r, b1, sizeof b1);
        int n2 = store_record_encode(&r2, b2, sizeof b2);
        CHECK(n1 > 0 && n2 > n1);
        CHECK_EQ_INT(b2[0], 2);
        CHECK_EQ_INT(store_record_decode(b2, (size_t)n2, &d), n2);
        CHECK(tu_same_record(&r2, &d));
        CHECK(d.binding_expiration == 43200 && d.count == 13 && store_record_below_threshold(&d));
        CHECK(strcmp(d.names[0].name, "LAB-2") == 0 && strcmp(d.names[1].address, "10.0.0.1") == 0);
        int bad2 = 0;
        for (int len = 0; len < n2; len++)
            if (store_record_decode(b2, (size_t)len, &d) >= 0) bad2++;
        CHECK_EQ_INT(bad2, 0);
        /* The same name again: one entry, the newer sighting. */
        store_record_add_name(&r2, "LAB-1", "10.0.0.7", T0 + 20);
        CHECK_EQ_INT(r2.n_names, 2);
        CHECK(strcmp(r2.names[0].name, "LAB-1") == 0 && strcmp(r2.names[0].address, "10.0.0.7") == 0);
        /* Bounded: the STORE_NAMES_MAX newest stay. */
        for (int k = 0; k < 6; k++) {
            char nm[16];
            snprintf(nm, sizeof nm, "PC-%d", k);
            store_record_add_name(&r2, nm, "10.0.0.9", T0 + 100 + k);
        }
        CHECK_EQ_INT(r2.n_names, STORE_NAMES_MAX);
        CHECK(strcmp(r2.names[0].name, "PC-5") == 0 && strcmp(r2.names[STORE_NAMES_MAX - 1].name, "PC-2") == 0);
        /* Out of order (older first) is not the one encoding of the set: refused. */
        store_record bad_order = r2;
        store_name t = bad_order.names[0];
        bad_order.names[0] = bad_order.names[1];
        bad_order.names[1] = t;
        n2 = store_record_encode(&bad_order, b2, sizeof b2);
        CHECK(n2 > 0);
        CHECK_EQ_INT(store_record_decode(b2, (size_t)n2, &d), KMS_EINVAL);
        /* A version-2 record with nothing version 1 lacks is not canonical either. */
        memcpy(b2, b1, (size_t)n1);
        b2[0] = 2;
        memset(b2 + n1, 0, 7);
        CHECK_EQ_INT(store_record_decode(b2, (size_t)n1 + 7, &d), KMS_EINVAL);
        /* Every field at its largest fits STORE_RECORD_WIRE_MAX. */
        store_record big2;
        tu_make_record(&big2, 1, T0);
        memset(big2.workstation, 'W', sizeof big2.workstation);
        memset(big2.address, 'A', sizeof big2.address);
        memset(big2.node, 'N', sizeof big2.node);
        big2.binding_expiration = UINT32_MAX;
        big2.count = UINT16_MAX;
        for (int k = 0; k < STORE_NAMES_MAX; k++) {
            char nm[STORE_WORKSTATION_MAX], ad[STORE_ADDR_MAX];
            memset(nm, 'a' + k, sizeof nm - 1);
            nm[sizeof nm - 1] = 0;
            memset(ad, '9', sizeof ad - 1);
            ad[sizeof ad - 1] = 0;
            store_record_add_name(&big2, nm, ad, T0 + k);
        }
        uint8_t b3[STORE_RECORD_WIRE_MAX];
        n2 = store_record_encode(&big2, b3, sizeof b3);
        CHECK(n2 > 0 && n2 <= STORE_RECORD_WIRE_MAX);
        CHECK_EQ_INT(store_record_decode(b3, (size_t)n2, &d), n2);
        CHECK_EQ_INT(d.n_names, STORE_NAMES_MAX);
    }

    /* Garbage: decoding either fails or yields a record that encodes to the same bytes. */
    int mismatch = 0, accepted = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t g[STORE_RECORD_WIRE_MAX];
        size_t len = tu_xorshift(&rng_state) % sizeof g;
        for (size_t k = 0; k < len; k++) g[k] = (uint8_t)tu_xorshift(&rng_state);
        if (len) g[0] = 1;
        if (len > 1) g[1] %= 4;
        /* Plausible string lengths now and then. */
        if (len > 74 && i % 2) g[71] = (uint8_t)(tu_xorshift(&rng_state) % 8), g[72 + g[71]] = (uint8_t)(tu_xorshift(&rng_state) % 8);
        int m = store_record_decode(g, len, &d);
        if (m < 0) continue;
        accepted++;
        uint8_t e[STORE_RECORD_WIRE_MAX];
        if (store_record_encode(&d, e, sizeof e) != m || memcmp(e, g, (size_t)m) != 0) mismatch++;
    }
    CHECK_EQ_INT(mismatch, 0);
    CHECK(accepted > 0);
}

/* ---- merge ---- */

static void test_merge(void)
{
    store_record a, b, m;
    tu_make_record(&a, 7, T0);
    b = a;
    b.last_seen_ms = T0 + 1000;
    b.first_seen_ms = T0 + 500;
    snprintf(b.workstation, sizeof b.workstation, "NEWNAME");
    b.license_status = 1;

    /* Later last_seen wins with all its fields; first_seen keeps the minimum. */
    m = a;
    CHECK(store_record_merge(&m, &b));
    CHECK_EQ_INT(m.last_seen_ms, T0 + 1000);
    CHECK_EQ_INT(m.first_seen_ms, T0);
    CHECK(strcmp(m.workstation, "NEWNAME") == 0);
    CHECK_EQ_INT(m.license_status, 1);
    /* An older record changes nothing but first_seen. */
    store_record m2 = m;
    CHECK(!store_record_merge(&m2, &a));
    CHECK(tu_same_record(&m2, &m));
    store_record older = a;
    older.first_seen_ms = T0 - 5000;
    older.last_seen_ms = T0 - 10;
    CHECK(store_record_merge(&m2, &older));
    CHECK_EQ_INT(m2.first_seen_ms, T0 - 5000);
    CHECK_EQ_INT(m2.last_seen_ms, T0 + 1000);
    CHECK(strcmp(m2.workstation, "NEWNAME") == 0);
    /* Idempotent. */
    store_record m3 = m2;
    CHECK(!store_record_merge(&m3, &m2));
    /* Ties on last_seen: the greater node wins, then the content decides. */
    store_record x = a, y = a;
    snprintf(x.node, sizeof x.node, "alpha");
    snprintf(y.node, sizeof y.node, "bravo");
    snprintf(y.workstation, sizeof y.workstation, "FROM-BRAVO");
    m = x;
    CHECK(store_record_merge(&m, &y));
    CHECK(strcmp(m.node, "bravo") == 0 && strcmp(m.workstation, "FROM-BRAVO") == 0);
    m = y;
    CHECK(!store_record_merge(&m, &x));
    CHECK(strcmp(m.node, "bravo") == 0);
    x = a, y = a;
    y.license_status = (uint8_t)(a.license_status + 1);
    store_record xy = x, yx = y;
    store_record_merge(&xy, &y);
    store_record_merge(&yx, &x);
    CHECK(tu_same_record(&xy, &yx));
    CHECK_EQ_INT(xy.license_status, y.license_status);

    /* Commutative, associative, idempotent over random records with frequent ties. */
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        store_record r[3];
        for (int k = 0; k < 3; k++) {
            tu_make_record(&r[k], 5, T0);
            r[k].app = 0;
            r[k].last_seen_ms = T0 + (int64_t)(tu_xorshift(&rng_state) % 3);
            r[k].first_seen_ms = r[k].last_seen_ms - (int64_t)(tu_xorshift(&rng_state) % 4);
            snprintf(r[k].node, sizeof r[k].node, "n%u", (unsigned)(tu_xorshift(&rng_state) % 2));
            r[k].license_status = (uint8_t)(tu_xorshift(&rng_state) % 2);
            snprintf(r[k].workstation, sizeof r[k].workstation, "w%u", (unsigned)(tu_xorshift(&rng_state) % 2));
            r[k].vm = (uint8_t)(tu_xorshift(&rng_state) % 2);
            r[k].count = (uint16_t)(tu_xorshift(&rng_state) % 3);
            /* Name sets that overlap, tie and overflow STORE_NAMES_MAX. */
            int names = (int)(tu_xorshift(&rng_state) % 5);
            for (int j = 0; j < names; j++) {
                char nm[8], ad[16];
                snprintf(nm, sizeof nm, "n%u", (unsigned)(tu_xorshift(&rng_state) % 6));
                snprintf(ad, sizeof ad, "10.0.0.%u", (unsigned)(tu_xorshift(&rng_state) % 2));
                store_record_add_name(&r[k], nm, ad, T0 + (int64_t)(tu_xorshift(&rng_state) % 3));
            }
        }
        store_record ab = r[0], ba = r[1];
        store_record_merge(&ab, &r[1]);
        store_record_merge(&ba, &r[0]);
        if (!tu_same_record(&ab, &ba)) bad++;
        store_record ab_c = ab, a_bc = r[1];
        store_record_merge(&ab_c, &r[2]);
        store_record_merge(&a_bc, &r[2]);
        store_record t = r[0];
        store_record_merge(&t, &a_bc);
        if (!tu_same_record(&ab_c, &t)) bad++;
        store_record again = ab;
        if (store_record_merge(&again, &r[0]) || store_record_merge(&again, &r[1])) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- the store ---- */

typedef struct each_ctx {
    int n, seen[600], bad;
} each_ctx;

static int each_cb(void *ctx, const store_record *rec)
{
    each_ctx *ec = ctx;
    uint32_t i;
    memcpy(&i, rec->cmid, 4);
    if (i < 600) ec->seen[i]++;
    store_record x;
    if (i >= 100) {
        tu_make_record(&x, i, T0 + i);
        if (!tu_same_record(&x, rec)) ec->bad++;
    }
    ec->n++;
    return ec->n == 0 && rec ? 1 : 0;
}

static void test_put_get_each_reopen(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 2, false);
    CHECK(s != NULL);
    if (!s) return;

    store_record r, got;
    tu_make_record(&r, 1, T0);
    tally t = {0};
    CHECK_EQ_INT(store_put_async(s, &r, on_done, &t), 0);
    wait_calls(base, &t, 1);
    CHECK_EQ_INT(t.ok, 1);
    CHECK_EQ_INT(store_get(s, r.app, r.cmid, &got), 0);
    CHECK(tu_same_record(&r, &got));
    uint8_t missing[16] = {1, 2, 3};
    CHECK_EQ_INT(store_get(s, 0, missing, &got), KMS_ENOTFOUND);
    CHECK_EQ_INT(store_get(s, (uint8_t)(r.app + 1), r.cmid, &got), KMS_ENOTFOUND);

    /* Merge in the store: an older update keeps the newer fields, lowers first_seen. */
    store_record newer = r, old = r;
    newer.last_seen_ms = T0 + 60000;
    snprintf(newer.address, sizeof newer.address, "192.0.2.7");
    old.first_seen_ms = old.last_seen_ms = T0 - 60000;
    snprintf(old.address, sizeof old.address, "198.51.100.1");
    t = (tally){0};
    store_put_async(s, &newer, on_done, &t);
    store_put_async(s, &old, on_done, &t);
    wait_calls(base, &t, 2);
    CHECK_EQ_INT(t.ok, 2);
    CHECK_EQ_INT(store_get(s, r.app, r.cmid, &got), 0);
    CHECK_EQ_INT(got.last_seen_ms, T0 + 60000);
    CHECK_EQ_INT(got.first_seen_ms, T0 - 60000);
    CHECK(strcmp(got.address, "192.0.2.7") == 0);

    /* Invalid record. */
    store_record inval = r;
    inval.app = 9;
    CHECK_EQ_INT(store_put_async(s, &inval, on_done, &t), KMS_EINVAL);

    /* 500 records, then store_each sees them all. */
    t = (tally){0};
    for (uint32_t i = 100; i < 600; i++) {
        store_record x;
        tu_make_record(&x, i, T0 + i);
        store_put_async(s, &x, on_done, &t);
    }
    wait_calls(base, &t, 500);
    CHECK_EQ_INT(t.ok, 500);
    store_stats st;
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.entries, 501);
    CHECK(st.map_used > 0 && st.map_size >= st.map_used);
    CHECK_EQ_INT(st.failures, 0);

    each_ctx ec;
    memset(&ec, 0, sizeof ec);
    CHECK_EQ_INT(store_each(s, each_cb, &ec), 0);
    CHECK_EQ_INT(ec.n, 501);
    int missing_n = 0;
    for (int i = 100; i < 600; i++) missing_n += ec.seen[i] != 1;
    CHECK_EQ_INT(missing_n, 0);
    CHECK_EQ_INT(ec.bad, 0);
    store_free(&s);
    CHECK(s == NULL);

    /* Reopen: everything is there. */
    s = tu_open_store(base, dir, 2, false);
    CHECK(s != NULL);
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.entries, 501);
    int lost = 0;
    for (uint32_t i = 100; i < 600; i++) {
        store_record x;
        tu_make_record(&x, i, T0 + i);
        if (store_get(s, x.app, x.cmid, &got) != 0 || !tu_same_record(&x, &got)) lost++;
    }
    CHECK_EQ_INT(lost, 0);
    CHECK_EQ_INT(store_get(s, r.app, r.cmid, &got), 0);
    CHECK_EQ_INT(got.first_seen_ms, T0 - 60000);
    /* Stopping early from store_each. */
    memset(&ec, 0, sizeof ec);
    ec.n = -10; /* the callback stops when n reaches 0 */
    CHECK_EQ_INT(store_each(s, each_cb, &ec), 0);
    CHECK_EQ_INT(ec.n, 0);
    store_free(&s);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

static void test_group_commit(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 5, false);
    CHECK(s != NULL);
    if (!s) return;
    tally t = {0};
    int refused = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        store_record x;
        tu_make_record(&x, i, T0 + i);
        if (store_put_async(s, &x, on_done, &t) != 0) refused++;
    }
    CHECK_EQ_INT(refused, 0);
    wait_calls(base, &t, 1000);
    CHECK_EQ_INT(t.calls, 1000);
    CHECK_EQ_INT(t.ok, 1000);
    store_stats st;
    store_get_stats(s, &st);
    printf("group commit: 1000 puts in %llu commits, last %.2f ms\n", (unsigned long long)st.commits,
           st.last_commit_ms);
    CHECKF(st.commits <= 20, "%llu commits", (unsigned long long)st.commits);
    CHECK_EQ_INT(st.records_written, 1000);
    CHECK_EQ_INT(st.entries, 1000);
    /* The same records again change nothing: no writes. */
    t = (tally){0};
    for (uint32_t i = 0; i < 1000; i++) {
        store_record x;
        tu_make_record(&x, i, T0 + i);
        store_put_async(s, &x, on_done, &t);
    }
    wait_calls(base, &t, 1000);
    CHECK_EQ_INT(t.ok, 1000);
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.records_written, 1000);

    /* Puts queued right before store_free are committed and called back inside it. */
    t = (tally){0};
    for (uint32_t i = 2000; i < 2010; i++) {
        store_record x;
        tu_make_record(&x, i, T0 + i);
        store_put_async(s, &x, on_done, &t);
    }
    store_free(&s);
    CHECK_EQ_INT(t.calls, 10);
    CHECK_EQ_INT(t.ok, 10);
    /* store_open without a loop (tools): callbacks wait for store_free. */
    s = tu_open_store(NULL, dir, 0, true);
    CHECK(s != NULL);
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.entries, 1010);
    t = (tally){0};
    store_record x;
    tu_make_record(&x, 3000, T0);
    CHECK_EQ_INT(store_put_async(s, &x, on_done, &t), 0);
    store_free(&s);
    CHECK_EQ_INT(t.ok, 1);
    event_base_free(base);
    tu_remove_dir(dir);
}

static void test_prune(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 1, true);
    CHECK(s != NULL);
    if (!s) return;
    tally t = {0};
    const uint32_t n = 25000; /* more than one prune chunk */
    for (uint32_t i = 0; i < n; i++) {
        store_record x;
        tu_make_record(&x, i, T0 + i);
        store_put_async(s, &x, on_done, &t);
    }
    wait_calls(base, &t, (int)n);
    CHECK_EQ_INT(t.ok, (int)n);
    tally p = {0};
    CHECK_EQ_INT(store_prune_async(s, T0 + 22000, on_done, &p), 0);
    wait_calls(base, &p, 1);
    CHECK_EQ_INT(p.ok, 1);
    store_stats st;
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.entries, 3000);
    store_record got, x;
    tu_make_record(&x, 21999, T0);
    CHECK_EQ_INT(store_get(s, x.app, x.cmid, &got), KMS_ENOTFOUND);
    tu_make_record(&x, 22000, T0);
    CHECK_EQ_INT(store_get(s, x.app, x.cmid, &got), 0);
    tu_make_record(&x, 0, T0);
    CHECK_EQ_INT(store_get(s, x.app, x.cmid, &got), KMS_ENOTFOUND);
    /* Nothing to prune. */
    p = (tally){0};
    store_prune_async(s, T0, on_done, &p);
    wait_calls(base, &p, 1);
    CHECK_EQ_INT(p.ok, 1);
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.entries, 3000);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* Order in which callbacks ran: each records the next number of one shared counter. */
typedef struct ordered {
    int *counter;
    int at; /* 0 = not yet */
    int status;
} ordered;

static void on_ordered(void *arg, int status)
{
    ordered *o = arg;
    o->at = ++*o->counter;
    o->status = status;
}

/* A prune that has a large store to walk does it a chunk at a time and lets the writes
 * queued meanwhile commit between chunks: an activation is not held until the whole
 * store has been scanned (it was: a prune ran every chunk back to back, and the scan of
 * records it kept was one transaction). */
static void test_prune_yields_to_writes(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 1, true);
    CHECK(s != NULL);
    if (!s) return;
    tally t = {0};
    const uint32_t n = 30000;
    for (uint32_t i = 0; i < n; i++) {
        store_record x;
        tu_make_record(&x, i, T0 + i);
        store_put_async(s, &x, on_done, &t);
    }
    wait_calls(base, &t, (int)n);
    CHECK_EQ_INT(t.ok, (int)n);

    int counter = 0;
    ordered prune = {&counter, 0, -1}, put = {&counter, 0, -1};
    CHECK_EQ_INT(store_prune_async(s, T0 + 1000, on_ordered, &prune), 0); /* keeps 29,000 */
    store_record x;
    tu_make_record(&x, n + 1, T0 + n + 1);
    CHECK_EQ_INT(store_put_async(s, &x, on_ordered, &put), 0);
    double until = tu_mono_ms() + 20000;
    while ((!prune.at || !put.at) && tu_mono_ms() < until) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(200);
    }
    CHECK_EQ_INT(put.status, 0);
    CHECK_EQ_INT(prune.status, 0);
    CHECKF(put.at == 1 && prune.at == 2, "the write queued after the prune committed %s it",
           put.at > prune.at ? "after" : "with");
    store_stats st;
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.entries, n - 1000 + 1);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

static void test_map_growth(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store_options o = {.commit_delay_ms = 1, .map_size = 256 * 1024, .no_sync = true};
    char err[256];
    store *s = store_open(base, dir, &o, NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return;
    store_stats st0, st;
    store_get_stats(s, &st0);
    tally t = {0};
    int sent = 0;
    for (int round = 0; round < 10; round++) {
        for (uint32_t i = 0; i < 1000; i++) {
            store_record x;
            tu_make_record(&x, (uint32_t)(round * 1000) + i, T0);
            store_put_async(s, &x, on_done, &t);
            sent++;
        }
        wait_calls(base, &t, sent);
    }
    CHECK_EQ_INT(t.ok, 10000);
    store_get_stats(s, &st);
    printf("map growth: %llu -> %llu bytes, %llu used\n", (unsigned long long)st0.map_size,
           (unsigned long long)st.map_size, (unsigned long long)st.map_used);
    CHECK(st.map_size > st0.map_size);
    CHECK_EQ_INT(st.entries, 10000);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* A commit that fails says why: LMDB's map full, or the errno of a system call. */
typedef struct last_status {
    int calls, failed, status;
} last_status;

static void on_status(void *arg, int status)
{
    last_status *l = arg;
    l->calls++;
    if (status < 0) { l->failed++; l->status = status; }
}

static void test_error_causes(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    struct event_base *base = event_base_new();
    /* One batch far larger than the map can grow to (4 doublings of 64 KiB): the writer
     * waits 3 s after the first put, so every put below is in that batch, however slow
     * the machine. */
    store_options o = {.commit_delay_ms = 3000, .map_size = 64 * 1024, .no_sync = true};
    char err[256];
    store *s = store_open(base, dir, &o, NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return;
    last_status l = {0, 0, 0};
    const int n = 12000;
    for (int i = 0; i < n; i++) {
        store_record x;
        tu_make_record(&x, (uint32_t)i, T0);
        store_put_async(s, &x, on_status, &l);
    }
    double until = tu_mono_ms() + 20000;
    while (l.calls < n && tu_mono_ms() < until) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (l.calls < n) usleep(500);
    }
    CHECK_EQ_INT(l.calls, n);
    CHECK(l.failed > 0);
    CHECKF(strstr(store_strerror(l.status), "map full") != NULL, "failed commit: %s", store_strerror(l.status));
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
    /* errno causes and the rest of the vocabulary */
    CHECK(strcmp(store_strerror(kms_error_errno(EIO)), "EIO: Input/output error") == 0);
    CHECK(strcmp(store_strerror(kms_error_errno(ENOSPC)), "ENOSPC: No space left on device") == 0);
    CHECK(strcmp(store_strerror(KMS_ESTORE), kms_strerror(KMS_ESTORE)) == 0);
    CHECK(strcmp(kms_strerror(kms_error_errno(EIO)), "EIO: Input/output error") == 0);
}

static void test_open_errors(void)
{
    char err[256] = "";
    store_options o = {0};
    int status = 0;
    store *s = store_open(NULL, "/proc/kmsha-no-such/dir", &o, &status, err, sizeof err);
    CHECK(s == NULL);
    CHECK(err[0] != '\0');
    CHECK_EQ_INT(status, KMS_ESTORE); /* not damage: worth a retry once fixed */
    /* A truncated data.mdb is damage (kmsd exits STORE_EXIT_DAMAGED, not restarted). */
    char dir[64], path[128];
    tu_temp_dir("store", dir, sizeof dir);
    s = store_open(NULL, dir, &o, &status, err, sizeof err);
    CHECK(s != NULL);
    CHECK_EQ_INT(status, 0);
    store_free(&s);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    CHECK(truncate(path, 4096) == 0); /* the first meta page only: the second is missing */
    s = store_open(NULL, dir, &o, &status, err, sizeof err);
    CHECK(s == NULL);
    CHECK_EQ_INT(status, KMS_EDAMAGED);
    CHECKF(strstr(err, "damaged") != NULL, "%s", err);
    tu_remove_dir(dir);
}

/* ---- durability across SIGKILL ---- */

#define CRASH_N 4000

typedef struct crash_child {
    store *s;
    struct event *timer;
    int fd;
    uint32_t next;
    uint32_t idx[CRASH_N];
} crash_child;

static void crash_done(void *arg, int status)
{
    uint32_t *idx = arg;
    if (status != 0) return;
    ssize_t w = write(3, idx, sizeof *idx); /* fd 3 is the pipe, see crash_run */
    (void)w;
}

static void crash_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    crash_child *c = arg;
    for (int k = 0; k < 20 && c->next < CRASH_N; k++, c->next++) {
        store_record x;
        tu_make_record(&x, c->next, T0 + c->next);
        c->idx[c->next] = c->next;
        store_put_async(c->s, &x, crash_done, &c->idx[c->next]);
    }
}

static void crash_run(const char *dir, int wfd)
{
    if (wfd != 3) {
        dup2(wfd, 3);
        close(wfd);
    }
    struct event_base *base = event_base_new();
    static crash_child c;
    c.s = tu_open_store(base, dir, 2, false);
    if (!c.s) _exit(3);
    c.timer = event_new(base, -1, EV_PERSIST, crash_tick, &c);
    struct timeval tv = {0, 1000};
    event_add(c.timer, &tv);
    event_base_dispatch(base);
    _exit(0);
}

static void test_crash(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    int pfd[2];
    if (pipe(pfd) != 0) {
        CHECK(!"pipe");
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        crash_run(dir, pfd[1]);
    }
    close(pfd[1]);
    static uint8_t reported[CRASH_N];
    int got = 0, bad = 0;
    bool killed = false;
    uint32_t v;
    for (;;) {
        ssize_t r = read(pfd[0], &v, sizeof v);
        if (r == 0) break;
        if (r < 0 && errno == EINTR) continue;
        if (r != (ssize_t)sizeof v) { bad++; break; }
        if (v >= CRASH_N) { bad++; continue; }
        reported[v] = 1;
        got++;
        if (!killed && got >= CRASH_N / 4) {
            kill(pid, SIGKILL); /* what the child wrote before dying is still read */
            killed = true;
        }
    }
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(killed);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_EQ_INT(bad, 0);

    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 0, false);
    CHECK(s != NULL);
    int lost = 0, present = 0;
    for (uint32_t i = 0; s && i < CRASH_N; i++) {
        store_record x, out;
        tu_make_record(&x, i, T0 + i);
        int rc = store_get(s, x.app, x.cmid, &out);
        if (rc == 0) present++;
        if (reported[i] && (rc != 0 || !tu_same_record(&x, &out))) lost++;
    }
    printf("crash: %d acknowledged before SIGKILL, %d on disk, %d lost\n", got, present, lost);
    CHECK_EQ_INT(lost, 0);
    CHECKF(got < CRASH_N, "killed mid-way (%d of %d acknowledged)", got, CRASH_N);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* ---- leader/follower group commit ---- */

/* The other process of test_leader_follower: on 'L' it opens the same LMDB environment and
 * begins a write transaction, which holds LMDB's writer lock (so the store's writer blocks
 * in its next transaction) and answers 'l'; on 'R' it aborts it and answers 'r'. */
static void lock_holder(const char *dir, int cmd, int ack)
{
    char c;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    while (read(cmd, &c, 1) == 1) {
        if (c == 'L') {
            if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
                mdb_env_open(env, dir, MDB_NOTLS, 0600) || mdb_txn_begin(env, NULL, 0, &txn))
                _exit(2);
            if (write(ack, "l", 1) != 1) _exit(3);
        } else if (c == 'R') {
            mdb_txn_abort(txn);
            mdb_env_close(env);
            if (write(ack, "r", 1) != 1) _exit(3);
            _exit(0);
        }
    }
    _exit(4);
}

typedef struct sequenced {
    int *next;   /* shared sequence of completions */
    int order;   /* this write's place in it (0 = not yet) */
    int status;
} sequenced;

static void on_sequenced(void *arg, int status)
{
    sequenced *o = arg;
    o->order = ++*o->next;
    o->status = status;
}

static bool wait_byte(int fd, char want)
{
    char c;
    ssize_t r;
    do r = read(fd, &c, 1); while (r < 0 && errno == EINTR);
    return r == 1 && c == want;
}

/* Behaviour, not timing: with the default (no commit window) a lone write is taken by the
 * writer at once, alone; the writes that arrive while that commit cannot finish (another
 * process holds LMDB's writer lock) all go in the next commit, after it. With a window the
 * writer waits for company first, and counts it. */
static void test_leader_follower(void)
{
    char dir[64];
    tu_temp_dir("store", dir, sizeof dir);
    int cmd[2], ack[2];
    if (pipe(cmd) != 0 || pipe(ack) != 0) {
        CHECK(!"pipe");
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(cmd[1]);
        close(ack[0]);
        lock_holder(dir, cmd[0], ack[1]);
    }
    close(cmd[0]);
    close(ack[1]);

    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 0, true);
    CHECK(s != NULL);
    if (!s) goto out;
    tally t = {0};
    store_record x;
    tu_make_record(&x, 0, T0);
    CHECK_EQ_INT(store_put_async(s, &x, on_done, &t), 0);
    wait_calls(base, &t, 1);
    store_stats st0;
    store_get_stats(s, &st0);
    CHECK_EQ_INT(st0.commits, 1);
    CHECK_EQ_INT(st0.records_written, 1);

    CHECK(write(cmd[1], "L", 1) == 1 && wait_byte(ack[0], 'l'));
    int seq = 0;
    enum { FOLLOWERS = 50 };
    sequenced lone = {.next = &seq}, later[FOLLOWERS];
    tu_make_record(&x, 1, T0);
    CHECK_EQ_INT(store_put_async(s, &x, on_sequenced, &lone), 0);
    /* The writer takes the lone write without waiting for others (then blocks on the lock). */
    store_stats st;
    double until = tu_mono_ms() + 10000;
    do {
        store_get_stats(s, &st);
        if (st.queued) usleep(200);
    } while (st.queued && tu_mono_ms() < until);
    CHECK_EQ_INT(st.queued, 0);
    for (int i = 0; i < FOLLOWERS; i++) {
        later[i] = (sequenced){.next = &seq};
        tu_make_record(&x, 100 + (uint32_t)i, T0);
        CHECK_EQ_INT(store_put_async(s, &x, on_sequenced, &later[i]), 0);
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.queued, FOLLOWERS); /* they wait for the commit in progress */
    CHECK_EQ_INT(seq, 0);               /* which cannot finish while the lock is held */
    CHECK(write(cmd[1], "R", 1) == 1 && wait_byte(ack[0], 'r'));
    until = tu_mono_ms() + 10000;
    while (seq < FOLLOWERS + 1 && tu_mono_ms() < until) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (seq < FOLLOWERS + 1) usleep(200);
    }
    CHECK_EQ_INT(seq, FOLLOWERS + 1);
    CHECK_EQ_INT(lone.order, 1);
    CHECK_EQ_INT(lone.status, 0);
    int bad = 0;
    for (int i = 0; i < FOLLOWERS; i++)
        if (later[i].order < 2 || later[i].status != 0) bad++;
    CHECK_EQ_INT(bad, 0);
    store_get_stats(s, &st);
    CHECK_EQ_INT(st.commits - st0.commits, 2); /* the lone write's, then all the others' */
    CHECK_EQ_INT(st.records_written - st0.records_written, FOLLOWERS + 1);
    CHECK_EQ_INT(st.window_waits, 0);
    store_free(&s);

    /* With commit_delay_ms the writer waits for company first, and counts it. */
    s = tu_open_store(base, dir, 100, true);
    CHECK(s != NULL);
    for (uint32_t i = 0; s && i < 20; i++) {
        t = (tally){0};
        tu_make_record(&x, 1000 + i, T0);
        CHECK_EQ_INT(store_put_async(s, &x, on_done, &t), 0);
        wait_calls(base, &t, 1);
        store_get_stats(s, &st);
        if (st.window_waits) break; /* (not when the writer woke up after the window) */
    }
    CHECK(st.window_waits >= 1);
    store_free(&s);
out:
    close(cmd[1]);
    close(ack[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    event_base_free(base);
    tu_remove_dir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_codec();
    test_merge();
    test_open_errors();
    test_crash(); /* first: fork before any store thread of ours exists */
    test_leader_follower(); /* forks too */
    test_put_get_each_reopen();
    test_group_commit();
    test_prune();
    test_prune_yields_to_writes();
    test_map_growth();
    test_error_causes();
    return tu_finish();
}
