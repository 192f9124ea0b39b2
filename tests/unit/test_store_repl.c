/* test_store_repl.c: the store's replication half: version vector helpers, logged local
 * writes (gap-free sequences that survive a reopen), remote updates (in order, duplicate,
 * gap, a burst queued at once), log reads and retention, snapshots (paging, applying,
 * adopting the vv), logged writes while the map grows, a schema-1 store upgraded at
 * open, convergence of three stores exchanging their logs out of order with duplicates
 * and gaps, and durability: every sequence acknowledged to a SIGKILLed process is in the
 * log. */
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

#include "proto/clock.h"
#include "proto/errors.h"
#include "tests/store_fixtures.h"
#include "tests/testutil.h"

#define T0 1700000000000LL

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
/* ---- helpers ---- */

static bool same_vv(const store_vv *a, const store_vv *b)
{
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (store_vv_get(b, a->e[i].origin) != a->e[i].seq) return false;
    return true;
}

/* Every callback bumps g_calls; a result slot records what one write was told. */
static int g_calls;

typedef struct ures {
    int calls, status;
    bool null_u;
    store_update u;
} ures;

static void on_update(void *arg, int status, const store_update *u)
{
    g_calls++;
    ures *r = arg;
    if (!r) return;
    r->calls++;
    r->status = status;
    if (u) r->u = *u;
    else r->null_u = true;
}

static void on_done(void *arg, int status)
{
    g_calls++;
    if (arg) *(int *)arg = status;
}

/* Runs the loop until g_calls reaches want (or 10 s pass). */
static void wait_calls(struct event_base *base, int want)
{
    double until = tu_mono_ms() + 10000;
    while (g_calls < want && tu_mono_ms() < until) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (g_calls < want) usleep(200);
    }
}

static void make_update(store_update *u, const char *origin, uint64_t seq, uint32_t i)
{
    memset(u, 0, sizeof *u);
    snprintf(u->origin, sizeof u->origin, "%s", origin);
    u->seq = seq;
    tu_make_record(&u->rec, i, T0 + i);
}

/* ---- version vector helpers ---- */

static void test_vv_helpers(void)
{
    store_vv vv;
    memset(&vv, 0, sizeof vv);
    CHECK_EQ_INT(store_vv_get(&vv, "a"), 0);
    CHECK_EQ_INT(store_vv_set(&vv, "a", 5), 0);
    CHECK_EQ_INT(store_vv_get(&vv, "a"), 5);
    CHECK_EQ_INT(store_vv_set(&vv, "a", 7), 0);
    CHECK_EQ_INT(vv.n, 1);
    CHECK_EQ_INT(store_vv_get(&vv, "a"), 7);
    CHECK_EQ_INT(store_vv_get(&vv, "ab"), 0);
    CHECK_EQ_INT(store_vv_set(&vv, "", 1), KMS_EINVAL);
    char o[80];
    memset(o, 'x', sizeof o);
    o[STORE_ORIGIN_MAX] = '\0'; /* 64 characters: no room for the NUL */
    CHECK_EQ_INT(store_vv_set(&vv, o, 1), KMS_EINVAL);
    o[STORE_ORIGIN_MAX - 1] = '\0'; /* 63: the longest */
    CHECK_EQ_INT(store_vv_set(&vv, o, 9), 0);
    CHECK_EQ_INT(store_vv_get(&vv, o), 9);
    for (int i = vv.n; i < STORE_VV_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        CHECK_EQ_INT(store_vv_set(&vv, name, (uint64_t)i), 0);
    }
    CHECK_EQ_INT(vv.n, STORE_VV_MAX);
    CHECK_EQ_INT(store_vv_set(&vv, "one-too-many", 1), KMS_ETOOBIG);
    CHECK_EQ_INT(store_vv_set(&vv, "a", 8), 0); /* existing entries still change */
    CHECK_EQ_INT(store_vv_get(&vv, "a"), 8);
}

/* ---- local writes ---- */

static void test_local_seq(void)
{
    char dir[64];
    tu_temp_dir("repl", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 2, false);
    CHECK(s != NULL);
    if (!s) return;
    store_record r;
    tu_make_record(&r, 0, T0);
    CHECK_EQ_INT(store_put_logged_async(s, &r, on_update, NULL), KMS_EINVAL); /* no origin yet */
    CHECK_EQ_INT(store_set_origin(s, ""), KMS_EINVAL);
    char longo[80];
    memset(longo, 'o', sizeof longo);
    longo[70] = '\0';
    CHECK_EQ_INT(store_set_origin(s, longo), KMS_EINVAL);
    CHECK_EQ_INT(store_set_origin(s, "alpha"), 0);
    store_record bad = r;
    bad.app = 3;
    CHECK_EQ_INT(store_put_logged_async(s, &bad, on_update, NULL), KMS_EINVAL);

    static ures res[8];
    memset(res, 0, sizeof res);
    g_calls = 0;
    for (uint32_t i = 0; i < 3; i++) {
        tu_make_record(&r, i, T0 + i);
        CHECK_EQ_INT(store_put_logged_async(s, &r, on_update, &res[i]), 0);
    }
    wait_calls(base, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(res[i].calls, 1);
        CHECK_EQ_INT(res[i].status, 0);
        CHECK_EQ_INT(res[i].u.seq, (uint64_t)i + 1);
        CHECK(strcmp(res[i].u.origin, "alpha") == 0);
        tu_make_record(&r, (uint32_t)i, T0 + i);
        CHECK(tu_same_record(&res[i].u.rec, &r));
    }
    store_vv vv;
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, 1);
    CHECK_EQ_INT(store_vv_get(&vv, "alpha"), 3);

    /* A renewal is logged with the merged record (first_seen kept); an identical write
     * is still logged. */
    store_record renew;
    tu_make_record(&renew, 0, T0 + 5000);
    snprintf(renew.address, sizeof renew.address, "192.0.2.99");
    CHECK_EQ_INT(store_put_logged_async(s, &renew, on_update, &res[3]), 0);
    wait_calls(base, 4);
    CHECK_EQ_INT(res[3].status, 0);
    CHECK_EQ_INT(res[3].u.seq, 4);
    CHECK_EQ_INT(res[3].u.rec.first_seen_ms, T0);
    CHECK_EQ_INT(res[3].u.rec.last_seen_ms, T0 + 5000);
    CHECK(strcmp(res[3].u.rec.address, "192.0.2.99") == 0);
    CHECK_EQ_INT(store_put_logged_async(s, &renew, on_update, &res[4]), 0);
    wait_calls(base, 5);
    CHECK_EQ_INT(res[4].status, 0);
    CHECK_EQ_INT(res[4].u.seq, 5);
    /* Plain puts are not logged. */
    tu_make_record(&r, 77, T0);
    int st = 1;
    CHECK_EQ_INT(store_put_async(s, &r, on_done, &st), 0);
    wait_calls(base, 6);
    CHECK_EQ_INT(st, 0);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "alpha"), 5);
    uint64_t entries;
    int64_t oldest;
    store_log_stats(s, &entries, &oldest);
    CHECK_EQ_INT(entries, 5);
    CHECK(oldest > T0);

    /* Writes queued right before store_free get their sequence inside it. */
    memset(res, 0, sizeof res);
    tu_make_record(&r, 10, T0);
    store_put_logged_async(s, &r, on_update, &res[0]);
    tu_make_record(&r, 11, T0);
    store_put_logged_async(s, &r, on_update, &res[1]);
    store_free(&s);
    CHECK_EQ_INT(res[0].calls, 1);
    CHECK_EQ_INT(res[1].calls, 1);
    CHECK_EQ_INT(res[0].u.seq, 6);
    CHECK_EQ_INT(res[1].u.seq, 7);

    /* Reopen: the vv was persisted and local writes continue after it. */
    s = tu_open_store(base, dir, 2, false);
    CHECK(s != NULL);
    if (!s) return;
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, 1);
    CHECK_EQ_INT(store_vv_get(&vv, "alpha"), 7);
    CHECK_EQ_INT(store_set_origin(s, "alpha"), 0);
    memset(res, 0, sizeof res);
    g_calls = 0;
    tu_make_record(&r, 12, T0);
    CHECK_EQ_INT(store_put_logged_async(s, &r, on_update, &res[0]), 0);
    wait_calls(base, 1);
    CHECK_EQ_INT(res[0].status, 0);
    CHECK_EQ_INT(res[0].u.seq, 8);
    static store_update out[16];
    CHECK_EQ_INT(store_log_read(s, "alpha", 1, out, 16), 8);
    int bad_seq = 0;
    for (int i = 0; i < 8; i++) bad_seq += out[i].seq != (uint64_t)i + 1 || strcmp(out[i].origin, "alpha") != 0;
    CHECK_EQ_INT(bad_seq, 0);
    tu_make_record(&r, 1, T0 + 1);
    CHECK(tu_same_record(&out[1].rec, &r));
    CHECK_EQ_INT(out[3].rec.first_seen_ms, T0);
    CHECK_EQ_INT(out[3].rec.last_seen_ms, T0 + 5000);
    tu_make_record(&r, 12, T0);
    CHECK(tu_same_record(&out[7].rec, &r));
    store_free(&s);

    /* Without a loop, the callbacks wait for store_free. */
    s = tu_open_store(NULL, dir, 0, true);
    CHECK(s != NULL);
    if (!s) return;
    store_set_origin(s, "alpha");
    memset(res, 0, sizeof res);
    tu_make_record(&r, 13, T0);
    CHECK_EQ_INT(store_put_logged_async(s, &r, on_update, &res[0]), 0);
    usleep(20000);
    CHECK_EQ_INT(res[0].calls, 0);
    store_free(&s);
    CHECK_EQ_INT(res[0].calls, 1);
    CHECK_EQ_INT(res[0].u.seq, 9);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* ---- remote updates ---- */

static void test_remote_apply(void)
{
    char dir[64];
    tu_temp_dir("repl", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 2, true);
    CHECK(s != NULL);
    if (!s) return;
    store_set_origin(s, "local");
    static ures res[128];
    memset(res, 0, sizeof res);
    g_calls = 0;
    store_update u;

    make_update(&u, "remote", 1, 1);
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, &res[0]), 0);
    wait_calls(base, 1);
    CHECK_EQ_INT(res[0].status, 0);
    CHECK_EQ_INT(res[0].u.seq, 1);
    CHECK(strcmp(res[0].u.origin, "remote") == 0);
    CHECK(tu_same_record(&res[0].u.rec, &u.rec));
    store_record got;
    CHECK_EQ_INT(store_get(s, u.rec.app, u.rec.cmid, &got), 0);
    CHECK(tu_same_record(&got, &u.rec));
    store_vv vv;
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "remote"), 1);

    /* Duplicate: nothing written. */
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, &res[1]), 0);
    wait_calls(base, 2);
    CHECK_EQ_INT(res[1].status, 1);
    /* Gap: nothing written. */
    make_update(&u, "remote", 3, 3);
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, &res[2]), 0);
    wait_calls(base, 3);
    CHECK_EQ_INT(res[2].status, 2);
    CHECK_EQ_INT(store_get(s, u.rec.app, u.rec.cmid, &got), KMS_ENOTFOUND);
    static store_update out[128];
    CHECK_EQ_INT(store_log_read(s, "remote", 3, out, 4), KMS_ENOTFOUND);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "remote"), 1);
    /* A gap for an origin never seen does not add it to the vv. */
    make_update(&u, "stranger", 2, 2);
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, &res[3]), 0);
    wait_calls(base, 4);
    CHECK_EQ_INT(res[3].status, 2);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, 1);

    /* Refused at once. */
    make_update(&u, "remote", 0, 5);
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, NULL), KMS_EINVAL);
    make_update(&u, "", 2, 5);
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, NULL), KMS_EINVAL);
    make_update(&u, "remote", 2, 5);
    u.rec.app = 7;
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, NULL), KMS_EINVAL);
    memset(u.origin, 'z', sizeof u.origin); /* not terminated */
    u.rec.app = 0;
    CHECK_EQ_INT(store_apply_async(s, &u, on_update, NULL), KMS_EINVAL);

    /* A run queued in one burst, interleaved with local writes: all apply in order. */
    memset(res, 0, sizeof res);
    g_calls = 0;
    int queued = 0;
    for (uint64_t seq = 2; seq <= 60; seq++) {
        make_update(&u, "remote", seq, (uint32_t)seq);
        if (store_apply_async(s, &u, on_update, &res[seq]) == 0) queued++;
        if (seq % 10 == 0) {
            store_record r;
            tu_make_record(&r, 1000 + (uint32_t)seq, T0);
            if (store_put_logged_async(s, &r, on_update, &res[61 + seq / 10]) == 0) queued++;
        }
    }
    CHECK_EQ_INT(queued, 59 + 6);
    wait_calls(base, queued);
    int not_ok = 0;
    for (int i = 2; i <= 60; i++) not_ok += res[i].calls != 1 || res[i].status != 0;
    CHECK_EQ_INT(not_ok, 0);
    for (int i = 1; i <= 6; i++) {
        CHECK_EQ_INT(res[61 + i].status, 0);
        CHECK_EQ_INT(res[61 + i].u.seq, (uint64_t)i);
    }
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "remote"), 60);
    CHECK_EQ_INT(store_vv_get(&vv, "local"), 6);

    /* FIFO within a burst: 62 before 61 is a gap, 61 then applies; a duplicate in the
     * same burst is seen as one. */
    memset(res, 0, sizeof res);
    g_calls = 0;
    make_update(&u, "remote", 62, 62);
    store_apply_async(s, &u, on_update, &res[0]);
    make_update(&u, "remote", 61, 61);
    store_apply_async(s, &u, on_update, &res[1]);
    make_update(&u, "remote", 62, 62);
    store_apply_async(s, &u, on_update, &res[2]);
    store_apply_async(s, &u, on_update, &res[3]);
    wait_calls(base, 4);
    CHECK_EQ_INT(res[0].status, 2);
    CHECK_EQ_INT(res[1].status, 0);
    CHECK_EQ_INT(res[2].status, 0);
    CHECK_EQ_INT(res[3].status, 1);

    /* The log holds each remote update as received. */
    int n = store_log_read(s, "remote", 1, out, 128);
    CHECK_EQ_INT(n, 62);
    int mismatch = 0;
    for (int i = 0; i < n; i++) {
        store_record r;
        tu_make_record(&r, (uint32_t)i + 1, T0 + i + 1);
        mismatch += out[i].seq != (uint64_t)i + 1 || !tu_same_record(&out[i].rec, &r);
    }
    CHECK_EQ_INT(mismatch, 0);
    CHECK_EQ_INT(store_log_read(s, "local", 1, out, 128), 6);

    /* A full vv: a new origin is refused with KMS_ETOOBIG, known ones still apply. */
    memset(res, 0, sizeof res);
    g_calls = 0;
    int want = 0;
    for (int i = 0; i < STORE_VV_MAX - 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "peer%02d", i);
        make_update(&u, name, 1, 2000 + (uint32_t)i);
        if (store_apply_async(s, &u, on_update, NULL) == 0) want++;
    }
    make_update(&u, "one-too-many", 1, 3000);
    store_apply_async(s, &u, on_update, &res[0]);
    make_update(&u, "remote", 63, 63);
    store_apply_async(s, &u, on_update, &res[1]);
    wait_calls(base, want + 2);
    CHECK_EQ_INT(res[0].status, KMS_ETOOBIG);
    CHECK_EQ_INT(res[1].status, 0);
    CHECK_EQ_INT(store_get(s, u.rec.app, u.rec.cmid, &got), 0); /* remote 63 */
    make_update(&u, "one-too-many", 1, 3000);
    CHECK_EQ_INT(store_get(s, u.rec.app, u.rec.cmid, &got), KMS_ENOTFOUND);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, STORE_VV_MAX);
    CHECK_EQ_INT(store_vv_get(&vv, "remote"), 63);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* ---- log reads and retention ---- */

static void test_log_read_prune(void)
{
    char dir[64];
    tu_temp_dir("repl", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 1, true);
    CHECK(s != NULL);
    if (!s) return;
    store_set_origin(s, "a");
    g_calls = 0;
    const uint32_t n_old = 12000; /* more than one prune chunk */
    int queued = 0;
    for (uint32_t i = 0; i < n_old; i++) {
        store_record r;
        tu_make_record(&r, i, T0 + i);
        if (store_put_logged_async(s, &r, on_update, NULL) == 0) queued++;
    }
    store_update u;
    for (uint64_t seq = 1; seq <= 5; seq++) {
        make_update(&u, "b", seq, 50000 + (uint32_t)seq);
        if (store_apply_async(s, &u, on_update, NULL) == 0) queued++;
    }
    wait_calls(base, queued);
    CHECK_EQ_INT(g_calls, (int)n_old + 5);
    usleep(3000);
    int64_t cut = clock_wall_ms();
    usleep(3000);
    for (uint32_t i = n_old; i < n_old + 50; i++) {
        store_record r;
        tu_make_record(&r, i, T0 + i);
        if (store_put_logged_async(s, &r, on_update, NULL) == 0) queued++;
    }
    for (uint64_t seq = 6; seq <= 8; seq++) {
        make_update(&u, "b", seq, 50000 + (uint32_t)seq);
        if (store_apply_async(s, &u, on_update, NULL) == 0) queued++;
    }
    wait_calls(base, queued);
    CHECK_EQ_INT(g_calls, (int)n_old + 58);

    uint64_t entries;
    int64_t oldest;
    store_log_stats(s, &entries, &oldest);
    CHECK_EQ_INT(entries, n_old + 58);
    CHECK(oldest > 0 && oldest < cut);

    static store_update out[128];
    CHECK_EQ_INT(store_log_read(s, "a", 1, out, 20), 20);
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        store_record r;
        tu_make_record(&r, (uint32_t)i, T0 + i);
        bad += out[i].seq != (uint64_t)i + 1 || !tu_same_record(&out[i].rec, &r) || strcmp(out[i].origin, "a") != 0;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(store_log_read(s, "a", n_old - 10, out, 128), 61); /* up to the last */
    CHECK_EQ_INT(out[60].seq, n_old + 50);
    CHECK_EQ_INT(store_log_read(s, "a", n_old + 51, out, 128), KMS_ENOTFOUND);
    CHECK_EQ_INT(store_log_read(s, "a", 0, out, 128), KMS_ENOTFOUND);
    CHECK_EQ_INT(store_log_read(s, "zz", 1, out, 128), KMS_ENOTFOUND);
    CHECK_EQ_INT(store_log_read(s, "", 1, out, 128), KMS_EINVAL);
    CHECK_EQ_INT(store_log_read(s, "a", 1, out, 0), 0);
    CHECK_EQ_INT(store_log_read(s, "b", 1, out, 128), 8);
    CHECK_EQ_INT(store_log_read(s, "b", 7, out, 128), 2);

    /* Retention: everything logged before cut goes, the vv stays. */
    store_stats st0, st1;
    store_get_stats(s, &st0);
    int prc = 1;
    CHECK_EQ_INT(store_log_prune_async(s, cut, on_done, &prc), 0);
    wait_calls(base, queued + 1);
    CHECK_EQ_INT(prc, 0);
    store_get_stats(s, &st1);
    CHECKF(st1.commits - st0.commits >= 2, "prune in %llu transactions",
           (unsigned long long)(st1.commits - st0.commits));
    CHECK_EQ_INT(store_log_read(s, "a", 1, out, 128), KMS_ENOTFOUND);
    CHECK_EQ_INT(store_log_read(s, "a", n_old, out, 128), KMS_ENOTFOUND);
    CHECK_EQ_INT(store_log_read(s, "a", n_old + 1, out, 128), 50);
    CHECK_EQ_INT(store_log_read(s, "b", 5, out, 128), KMS_ENOTFOUND);
    CHECK_EQ_INT(store_log_read(s, "b", 6, out, 128), 3);
    store_log_stats(s, &entries, &oldest);
    CHECK_EQ_INT(entries, 53);
    CHECK(oldest >= cut);
    store_vv vv;
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "a"), n_old + 50);
    CHECK_EQ_INT(store_vv_get(&vv, "b"), 8);
    /* Records are untouched by log retention. */
    store_record r, got;
    tu_make_record(&r, 0, T0);
    CHECK_EQ_INT(store_get(s, r.app, r.cmid, &got), 0);

    /* Local writes continue after the pruned range. */
    ures res;
    memset(&res, 0, sizeof res);
    tu_make_record(&r, 99999, T0);
    store_put_logged_async(s, &r, on_update, &res);
    wait_calls(base, queued + 2);
    CHECK_EQ_INT(res.u.seq, n_old + 51);

    /* Pruning everything leaves an empty log and the vv. */
    prc = 1;
    store_log_prune_async(s, clock_wall_ms() + 60000, on_done, &prc);
    wait_calls(base, queued + 3);
    CHECK_EQ_INT(prc, 0);
    store_log_stats(s, &entries, &oldest);
    CHECK_EQ_INT(entries, 0);
    CHECK_EQ_INT(oldest, 0);
    CHECK_EQ_INT(store_log_read(s, "a", n_old + 51, out, 128), KMS_ENOTFOUND);
    store_free(&s);
    s = tu_open_store(base, dir, 1, true);
    CHECK(s != NULL);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "a"), n_old + 51);
    CHECK_EQ_INT(store_vv_get(&vv, "b"), 8);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* ---- snapshots ---- */

#define SNAP_MAX 1024

typedef struct cmp_ctx {
    store *other;
    int n, missing, differ;
} cmp_ctx;

static int cmp_cb(void *ctx, const store_record *rec)
{
    cmp_ctx *c = ctx;
    store_record got;
    c->n++;
    if (store_get(c->other, rec->app, rec->cmid, &got) != 0) c->missing++;
    else if (!tu_same_record(&got, rec)) c->differ++;
    return 0;
}

/* Every record of a is in b with the same content, and b holds no more. */
static bool same_records(store *a, store *b)
{
    cmp_ctx c = {.other = b};
    store_each(a, cmp_cb, &c);
    store_stats sa, sb;
    store_get_stats(a, &sa);
    store_get_stats(b, &sb);
    if (c.missing || c.differ || sa.entries != sb.entries || (uint64_t)c.n != sa.entries) {
        printf("records differ: %d compared, %d missing, %d differ, %llu vs %llu entries\n", c.n, c.missing,
               c.differ, (unsigned long long)sa.entries, (unsigned long long)sb.entries);
        return false;
    }
    return true;
}

/* Copies src into dst as a replication engine would: pages of the snapshot, the vv of
 * the first page adopted with the last. Returns the number of batches, or -1. */
static int copy_snapshot(struct event_base *base, store *src, store *dst, size_t page)
{
    static store_record recs[SNAP_MAX];
    static ures res[64];
    store_vv vv0;
    uint8_t cursor[STORE_KEY_LEN];
    size_t clen = 0;
    int batches = 0, queued = 0;
    g_calls = 0;
    memset(res, 0, sizeof res);
    for (;;) {
        int n = store_snapshot_read(src, cursor, &clen, recs, page, clen == 0 ? &vv0 : NULL);
        if (n < 0 || batches >= 63) return -1;
        bool last = (size_t)n < page;
        if (store_apply_snapshot_async(dst, recs, (size_t)n, last ? &vv0 : NULL, on_update, &res[batches]) != 0)
            return -1;
        queued++;
        batches++;
        if (last) break;
    }
    wait_calls(base, queued);
    for (int i = 0; i < batches; i++)
        if (res[i].calls != 1 || res[i].status != 0 || !res[i].null_u) return -1;
    return batches;
}

static void test_snapshot(void)
{
    char da[64], db[64], dc[64];
    tu_temp_dir("repl", da, sizeof da);
    tu_temp_dir("repl", db, sizeof db);
    tu_temp_dir("repl", dc, sizeof dc);
    struct event_base *base = event_base_new();
    store *a = tu_open_store(base, da, 1, true), *b = tu_open_store(base, db, 1, true), *c = tu_open_store(base, dc, 1, true);
    CHECK(a && b && c);
    if (!a || !b || !c) return;
    store_set_origin(a, "a");
    store_set_origin(b, "bb");
    store_set_origin(c, "cc");
    g_calls = 0;
    int queued = 0;
    for (uint32_t i = 0; i < 300; i++) {
        store_record r;
        tu_make_record(&r, i, T0 + i);
        queued += store_put_logged_async(a, &r, on_update, NULL) == 0;
    }
    store_update u;
    for (uint64_t seq = 1; seq <= 100; seq++) {
        make_update(&u, "b", seq, 1000 + (uint32_t)seq);
        queued += store_apply_async(a, &u, on_update, NULL) == 0;
    }
    for (uint32_t i = 0; i < 50; i++) { /* not logged, still in snapshots */
        store_record r;
        tu_make_record(&r, 2000 + i, T0);
        queued += store_put_async(a, &r, on_done, NULL) == 0;
    }
    /* c already has more of origin "b" than a, and writes of its own. */
    for (uint64_t seq = 1; seq <= 120; seq++) {
        make_update(&u, "b", seq, 1000 + (uint32_t)seq);
        queued += store_apply_async(c, &u, on_update, NULL) == 0;
    }
    for (uint32_t i = 0; i < 5; i++) {
        store_record r;
        tu_make_record(&r, 3000 + i, T0);
        queued += store_put_logged_async(c, &r, on_update, NULL) == 0;
    }
    wait_calls(base, queued);
    CHECK_EQ_INT(g_calls, 300 + 100 + 50 + 120 + 5);

    /* Paging through a with a small page: every record once, in key order. */
    static store_record all[SNAP_MAX], page[7];
    int total = 0, order_bad = 0, differ = 0, calls = 0;
    uint8_t cursor[STORE_KEY_LEN], prev[STORE_KEY_LEN];
    size_t clen = 0;
    store_vv vv0, vva;
    memset(&vv0, 0xEE, sizeof vv0);
    for (;;) {
        int n = store_snapshot_read(a, cursor, &clen, page, 7, clen == 0 ? &vv0 : NULL);
        calls++;
        if (n < 0 || calls > 200) {
            CHECK(!"snapshot_read failed");
            break;
        }
        if (n == 0) break;
        CHECK_EQ_INT(clen, STORE_KEY_LEN);
        for (int i = 0; i < n && total < SNAP_MAX; i++) {
            uint8_t key[STORE_KEY_LEN];
            key[0] = page[i].app;
            memcpy(key + 1, page[i].cmid, 16);
            if (total > 0 && memcmp(prev, key, STORE_KEY_LEN) >= 0) order_bad++;
            memcpy(prev, key, STORE_KEY_LEN);
            store_record got;
            if (store_get(a, page[i].app, page[i].cmid, &got) != 0 || !tu_same_record(&got, &page[i])) differ++;
            all[total++] = page[i];
        }
        CHECK(memcmp(cursor, prev, STORE_KEY_LEN) == 0);
    }
    store_stats st;
    store_get_stats(a, &st);
    CHECK_EQ_INT(total, 450);
    CHECK_EQ_INT(st.entries, 450);
    CHECK_EQ_INT(order_bad, 0);
    CHECK_EQ_INT(differ, 0);
    CHECK_EQ_INT(calls, 450 / 7 + 2); /* 65 pages (the last one short), then 0 */
    store_get_vv(a, &vva);
    CHECK(same_vv(&vv0, &vva));
    CHECK_EQ_INT(vv0.n, 2);
    CHECK_EQ_INT(store_vv_get(&vv0, "a"), 300);
    CHECK_EQ_INT(store_vv_get(&vv0, "b"), 100);
    /* The end stays the end; a bad cursor is refused. */
    CHECK_EQ_INT(store_snapshot_read(a, cursor, &clen, page, 7, NULL), 0);
    clen = 5;
    CHECK_EQ_INT(store_snapshot_read(a, cursor, &clen, page, 7, NULL), KMS_EINVAL);
    /* Refused snapshot batches. */
    store_record badr = all[0];
    badr.app = 9;
    CHECK_EQ_INT(store_apply_snapshot_async(b, &badr, 1, NULL, on_update, NULL), KMS_EINVAL);
    CHECK_EQ_INT(store_apply_snapshot_async(b, all, 70000, NULL, on_update, NULL), KMS_ETOOBIG);
    CHECK_EQ_INT(store_apply_snapshot_async(b, NULL, 3, NULL, on_update, NULL), KMS_EINVAL);

    /* Into an empty store: the same records, the same vv, no log. */
    int batches = copy_snapshot(base, a, b, 64);
    CHECK(batches == 8);
    CHECK(same_records(a, b));
    CHECK(same_records(b, a));
    store_vv vvb;
    store_get_vv(b, &vvb);
    CHECK(same_vv(&vvb, &vva));
    uint64_t entries;
    int64_t oldest;
    store_log_stats(b, &entries, &oldest);
    CHECK_EQ_INT(entries, 0);
    CHECK_EQ_INT(store_log_read(b, "a", 1, NULL, 0), KMS_ENOTFOUND);
    /* b continues from the adopted vv: the next update of a applies, older ones are duplicates. */
    ures r1, r2, r3;
    memset(&r1, 0, sizeof r1), memset(&r2, 0, sizeof r2), memset(&r3, 0, sizeof r3);
    g_calls = 0;
    make_update(&u, "a", 300, 300);
    store_apply_async(b, &u, on_update, &r1);
    make_update(&u, "a", 301, 301);
    store_apply_async(b, &u, on_update, &r2);
    store_record lr;
    tu_make_record(&lr, 4000, T0);
    store_put_logged_async(b, &lr, on_update, &r3);
    wait_calls(base, 3);
    CHECK_EQ_INT(r1.status, 1);
    CHECK_EQ_INT(r2.status, 0);
    CHECK_EQ_INT(r3.u.seq, 1);

    /* Into a store that knows more: vv entries are raised to the max, never lowered. */
    batches = copy_snapshot(base, a, c, 100);
    CHECK_EQ_INT(batches, 5);
    store_vv vvc;
    store_get_vv(c, &vvc);
    CHECK_EQ_INT(vvc.n, 3);
    CHECK_EQ_INT(store_vv_get(&vvc, "a"), 300);
    CHECK_EQ_INT(store_vv_get(&vvc, "b"), 120);
    CHECK_EQ_INT(store_vv_get(&vvc, "cc"), 5);
    cmp_ctx cc = {.other = c};
    store_each(a, cmp_cb, &cc);
    CHECK_EQ_INT(cc.n, 450);
    CHECK_EQ_INT(cc.missing, 0);
    CHECK_EQ_INT(cc.differ, 0);
    store_get_stats(c, &st);
    CHECK_EQ_INT(st.entries, 450 + 20 + 5);
    /* c's own log is untouched by the snapshot. */
    CHECK_EQ_INT(store_log_read(c, "b", 1, NULL, 0), 0);
    store_log_stats(c, &entries, &oldest);
    CHECK_EQ_INT(entries, 125);

    store_free(&a);
    store_free(&b);
    store_free(&c);
    event_base_free(base);
    tu_remove_dir(da);
    tu_remove_dir(db);
    tu_remove_dir(dc);
}

/* ---- logged writes while the map grows: a replayed batch logs the same ---- */

typedef struct seq_check {
    uint64_t last;
    int calls, out_of_order, failed;
} seq_check;

static void on_seq(void *arg, int status, const store_update *u)
{
    g_calls++;
    seq_check *c = arg;
    c->calls++;
    if (status != 0 || !u) {
        c->failed++;
        return;
    }
    if (u->seq != c->last + 1) c->out_of_order++;
    c->last = u->seq;
}

static void test_map_growth_logged(void)
{
    char dir[64];
    tu_temp_dir("repl", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store_options o = {.commit_delay_ms = 1, .map_size = 256 * 1024, .no_sync = true};
    char err[256];
    store *s = store_open(base, dir, &o, NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return;
    store_set_origin(s, "grow");
    store_stats st0, st;
    store_get_stats(s, &st0);
    seq_check sc = {0};
    g_calls = 0;
    int sent = 0;
    const int total = 5000;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < total / 5; i++, sent++) {
            store_record r;
            tu_make_record(&r, (uint32_t)(sent % 1700), T0 + sent); /* renewals too */
            store_put_logged_async(s, &r, on_seq, &sc);
        }
        wait_calls(base, sent);
    }
    CHECK_EQ_INT(sc.calls, total);
    CHECK_EQ_INT(sc.failed, 0);
    CHECK_EQ_INT(sc.out_of_order, 0);
    store_get_stats(s, &st);
    CHECK(st.map_size > st0.map_size);
    CHECK_EQ_INT(st.entries, 1700);
    static store_update out[256];
    uint64_t seq = 1;
    int wrong = 0;
    for (int n; (n = store_log_read(s, "grow", seq, out, 256)) > 0; seq += (uint64_t)n)
        for (int i = 0; i < n; i++) {
            uint64_t k = seq + (uint64_t)i - 1; /* the k-th write */
            if (out[i].rec.last_seen_ms != T0 + (int64_t)k || out[i].rec.first_seen_ms != T0 + (int64_t)(k % 1700)) wrong++;
        }
    CHECK_EQ_INT(seq, (uint64_t)total + 1);
    CHECK_EQ_INT(wrong, 0);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* ---- a schema-1 store is upgraded at open ---- */

static int lmdb_schema(const char *dir, int set_to)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, clients;
    int got = -1;
    if (mdb_env_create(&env)) return -1;
    mdb_env_set_maxdbs(env, 8);
    if (mdb_env_open(env, dir, MDB_NOSYNC, 0600) == 0 && mdb_txn_begin(env, NULL, 0, &txn) == 0) {
        if (mdb_dbi_open(txn, "meta", MDB_CREATE, &meta) == 0 &&
            mdb_dbi_open(txn, "clients", MDB_CREATE, &clients) == 0) {
            MDB_val k = {6, "schema"}, v;
            if (set_to >= 0) {
                uint8_t b[4] = {(uint8_t)set_to, 0, 0, 0};
                v.mv_size = 4;
                v.mv_data = b;
                mdb_put(txn, meta, &k, &v, 0);
                /* One record, as a schema-1 node wrote it. */
                store_record r;
                tu_make_record(&r, 42, T0);
                uint8_t key[STORE_KEY_LEN], val[STORE_RECORD_WIRE_MAX];
                key[0] = r.app;
                memcpy(key + 1, r.cmid, 16);
                MDB_val rk = {sizeof key, key}, rv = {(size_t)store_record_encode(&r, val, sizeof val), val};
                mdb_put(txn, clients, &rk, &rv, 0);
            }
            if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 4) got = ((uint8_t *)v.mv_data)[0];
        }
        mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return got;
}

static void test_schema_upgrade(void)
{
    char dir[64];
    tu_temp_dir("repl", dir, sizeof dir);
    CHECK_EQ_INT(lmdb_schema(dir, 1), 1);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 1, true);
    CHECK(s != NULL);
    if (!s) return;
    store_record r, got;
    tu_make_record(&r, 42, T0);
    CHECK_EQ_INT(store_get(s, r.app, r.cmid, &got), 0);
    CHECK(tu_same_record(&r, &got));
    store_vv vv;
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, 0);
    store_set_origin(s, "up");
    ures res;
    memset(&res, 0, sizeof res);
    g_calls = 0;
    tu_make_record(&r, 43, T0);
    CHECK_EQ_INT(store_put_logged_async(s, &r, on_update, &res), 0);
    wait_calls(base, 1);
    CHECK_EQ_INT(res.status, 0);
    CHECK_EQ_INT(res.u.seq, 1);
    store_free(&s);
    CHECK_EQ_INT(lmdb_schema(dir, -1), 3);
    /* A newer schema than we know is refused with a message. */
    lmdb_schema(dir, 4);
    char err[256] = "";
    store_options o = {.no_sync = true};
    s = store_open(NULL, dir, &o, NULL, err, sizeof err);
    CHECK(s == NULL);
    CHECKF(strstr(err, "schema") != NULL, "err = %s", err);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* ---- convergence: three stores exchange their logs badly, then heal ---- */

#define CONV_STORES 3
#define CONV_KEYS 24
#define CONV_ROUNDS 6
#define CONV_BUF 1024

typedef struct conv {
    struct event_base *base;
    store *s[CONV_STORES];
    char dir[CONV_STORES][64];
    store_record expect[CONV_KEYS];
    bool present[CONV_KEYS];
    int status_seen[3];
} conv;

static const char *conv_origin[CONV_STORES] = {"a", "b", "c"};

static bool conv_write(conv *cv, int si)
{
    uint32_t key = (uint32_t)(tu_xorshift(&rng_state) % CONV_KEYS);
    store_record r;
    tu_make_record(&r, key, T0);
    r.last_seen_ms = T0 + (int64_t)(tu_xorshift(&rng_state) % 40);
    r.first_seen_ms = r.last_seen_ms - (int64_t)(tu_xorshift(&rng_state) % 20);
    snprintf(r.node, sizeof r.node, "%s", conv_origin[tu_xorshift(&rng_state) % CONV_STORES]); /* ties on purpose */
    r.license_status = (uint8_t)(tu_xorshift(&rng_state) % 3);
    snprintf(r.workstation, sizeof r.workstation, "ws%u", (unsigned)(tu_xorshift(&rng_state) % 3));
    snprintf(r.address, sizeof r.address, "192.0.2.%u", (unsigned)(tu_xorshift(&rng_state) % 4));
    if (store_put_logged_async(cv->s[si], &r, on_update, NULL) != 0) return false;
    if (cv->present[key]) store_record_merge(&cv->expect[key], &r);
    else cv->expect[key] = r;
    cv->present[key] = true;
    return true;
}

static void conv_on_apply(void *arg, int status, const store_update *u)
{
    (void)u;
    g_calls++;
    conv *cv = arg;
    if (status >= 0 && status <= 2) cv->status_seen[status]++;
    else cv->status_seen[0] = -1000000; /* a failure: makes the check fail */
}

/* Everything src logged of every origin it knows, from seq 1. */
static int conv_gather(store *src, store_update *out, int cap)
{
    store_vv vv;
    store_get_vv(src, &vv);
    int n = 0;
    for (int i = 0; i < vv.n && n < cap; i++) {
        int got = store_log_read(src, vv.e[i].origin, 1, out + n, (size_t)(cap - n));
        if (got > 0) n += got;
    }
    return n;
}

static void test_convergence(void)
{
    static conv cv;
    memset(&cv, 0, sizeof cv);
    cv.base = event_base_new();
    for (int i = 0; i < CONV_STORES; i++) {
        tu_temp_dir("repl", cv.dir[i], sizeof cv.dir[i]);
        cv.s[i] = tu_open_store(cv.base, cv.dir[i], 1, true);
        CHECK(cv.s[i] != NULL);
        if (!cv.s[i]) return;
        store_set_origin(cv.s[i], conv_origin[i]);
    }
    static store_update gathered[CONV_BUF], delivery[CONV_BUF * 2];
    int writes[CONV_STORES] = {0};
    g_calls = 0;
    int queued = 0;
    for (int round = 0; round < CONV_ROUNDS; round++) {
        /* Local writes on every store. */
        for (int si = 0; si < CONV_STORES; si++) {
            int k = 5 + (int)(tu_xorshift(&rng_state) % 20);
            for (int j = 0; j < k; j++) {
                if (!conv_write(&cv, si)) continue;
                writes[si]++;
                queued++;
            }
        }
        wait_calls(cv.base, queued);
        /* Deliveries: from random peers, a random subset with duplicates, shuffled, all
         * queued in one burst together with more local writes. */
        for (int dst = 0; dst < CONV_STORES; dst++) {
            int nd = 0;
            for (int src = 0; src < CONV_STORES; src++) {
                if (src == dst || tu_xorshift(&rng_state) % 4 == 0) continue;
                int n = conv_gather(cv.s[src], gathered, CONV_BUF);
                for (int i = 0; i < n && nd < CONV_BUF * 2 - 1; i++) {
                    if (tu_xorshift(&rng_state) % 20 == 0) continue; /* lost */
                    delivery[nd++] = gathered[i];
                    if (tu_xorshift(&rng_state) % 5 == 0) delivery[nd++] = gathered[i]; /* duplicated */
                }
            }
            for (int i = nd - 1; i > 0; i--) { /* reordered: now and then far, mostly near */
                if (tu_xorshift(&rng_state) % 4) continue;
                int j = tu_xorshift(&rng_state) % 8 ? i - 1 - (int)(tu_xorshift(&rng_state) % (uint64_t)(i < 4 ? i : 4)) : (int)(tu_xorshift(&rng_state) % (uint64_t)i);
                store_update t = delivery[i];
                delivery[i] = delivery[j];
                delivery[j] = t;
            }
            for (int i = 0; i < nd; i++) {
                if (store_apply_async(cv.s[dst], &delivery[i], conv_on_apply, &cv) == 0) queued++;
                if (tu_xorshift(&rng_state) % 16 == 0 && conv_write(&cv, dst)) {
                    writes[dst]++;
                    queued++;
                }
            }
            wait_calls(cv.base, queued); /* so the next gather, and the run, is deterministic */
        }
    }
    CHECK_EQ_INT(g_calls, queued);
    printf("convergence: %d applied, %d duplicates, %d gaps before healing\n", cv.status_seen[0],
           cv.status_seen[1], cv.status_seen[2]);
    CHECK(cv.status_seen[1] > 0 && cv.status_seen[2] > 0);

    /* Healing, as a replication engine does after a gap: read each peer's log from our
     * vv + 1, origin by origin, until nothing is missing anywhere. */
    int rounds = 0;
    for (bool progress = true; progress && rounds < 20; rounds++) {
        progress = false;
        for (int dst = 0; dst < CONV_STORES; dst++) {
            for (int src = 0; src < CONV_STORES; src++) {
                if (src == dst) continue;
                store_vv vs, vd;
                store_get_vv(cv.s[src], &vs);
                store_get_vv(cv.s[dst], &vd);
                for (int e = 0; e < vs.n; e++) {
                    uint64_t have = store_vv_get(&vd, vs.e[e].origin);
                    if (vs.e[e].seq <= have) continue;
                    int n = store_log_read(cv.s[src], vs.e[e].origin, have + 1, gathered, CONV_BUF);
                    CHECK(n > 0);
                    for (int i = 0; i < n; i++)
                        if (store_apply_async(cv.s[dst], &gathered[i], conv_on_apply, &cv) == 0) queued++;
                    progress = true;
                }
                wait_calls(cv.base, queued);
            }
        }
    }
    CHECK(rounds < 20);
    CHECK_EQ_INT(g_calls, queued);

    /* Identical vvs (each origin's count of writes) and identical records, equal to the
     * merge of everything ever written. */
    store_vv vv[CONV_STORES];
    for (int i = 0; i < CONV_STORES; i++) store_get_vv(cv.s[i], &vv[i]);
    for (int i = 0; i < CONV_STORES; i++) {
        CHECK_EQ_INT(vv[i].n, CONV_STORES);
        for (int o = 0; o < CONV_STORES; o++) CHECK_EQ_INT(store_vv_get(&vv[i], conv_origin[o]), writes[o]);
    }
    CHECK(same_vv(&vv[0], &vv[1]) && same_vv(&vv[0], &vv[2]));
    CHECK(same_records(cv.s[0], cv.s[1]));
    CHECK(same_records(cv.s[0], cv.s[2]));
    int wrong = 0, keys = 0;
    for (uint32_t k = 0; k < CONV_KEYS; k++) {
        if (!cv.present[k]) continue;
        keys++;
        store_record got;
        if (store_get(cv.s[0], cv.expect[k].app, cv.expect[k].cmid, &got) != 0 || !tu_same_record(&got, &cv.expect[k]))
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    store_stats st;
    store_get_stats(cv.s[0], &st);
    CHECK_EQ_INT(st.entries, keys);
    /* Every store's log holds every update of every origin. */
    for (int i = 0; i < CONV_STORES; i++)
        for (int o = 0; o < CONV_STORES; o++)
            CHECK_EQ_INT(store_log_read(cv.s[i], conv_origin[o], 1, gathered, CONV_BUF), writes[o]);
    for (int i = 0; i < CONV_STORES; i++) {
        store_free(&cv.s[i]);
        tu_remove_dir(cv.dir[i]);
    }
    event_base_free(cv.base);
}

/* ---- durability across SIGKILL ---- */

#define CRASH_N 4000

typedef struct crash_child {
    store *s;
    struct event *timer;
    uint32_t next;
} crash_child;

static void crash_done(void *arg, int status, const store_update *u)
{
    (void)arg;
    if (status != 0 || !u) return;
    uint64_t seq = u->seq;
    ssize_t w = write(3, &seq, sizeof seq); /* fd 3 is the pipe, see crash_run */
    (void)w;
}

static void crash_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    crash_child *c = arg;
    for (int k = 0; k < 20 && c->next < CRASH_N; k++, c->next++) {
        store_record x;
        tu_make_record(&x, c->next, T0 + c->next);
        store_put_logged_async(c->s, &x, crash_done, NULL);
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
    if (!c.s || store_set_origin(c.s, "crash") != 0) _exit(3);
    c.timer = event_new(base, -1, EV_PERSIST, crash_tick, &c);
    struct timeval tv = {0, 1000};
    event_add(c.timer, &tv);
    event_base_dispatch(base);
    _exit(0);
}

static void test_crash(void)
{
    char dir[64];
    tu_temp_dir("repl", dir, sizeof dir);
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
    static uint8_t acked[CRASH_N + 1];
    int got = 0, bad = 0;
    uint64_t max_acked = 0;
    bool killed = false;
    uint64_t v;
    for (;;) {
        ssize_t r = read(pfd[0], &v, sizeof v);
        if (r == 0) break;
        if (r < 0 && errno == EINTR) continue;
        if (r != (ssize_t)sizeof v) { bad++; break; }
        if (v == 0 || v > CRASH_N || acked[v]) { bad++; continue; }
        acked[v] = 1;
        got++;
        if (v > max_acked) max_acked = v;
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
    if (!s) return;
    store_vv vv;
    store_get_vv(s, &vv);
    uint64_t top = store_vv_get(&vv, "crash");
    CHECKF(top >= max_acked, "vv %llu, highest acknowledged %llu", (unsigned long long)top,
           (unsigned long long)max_acked);
    /* The log from 1 to vv, contiguous; entry k holds the k-th write. */
    static store_update out[256];
    uint64_t seq = 1, lost = 0, wrong = 0;
    while (seq <= top) {
        int n = store_log_read(s, "crash", seq, out, 256);
        if (n <= 0) break;
        for (int i = 0; i < n; i++) {
            store_record x;
            tu_make_record(&x, (uint32_t)(seq + (uint64_t)i - 1), T0 + (int64_t)(seq + (uint64_t)i - 1));
            if (out[i].seq != seq + (uint64_t)i || !tu_same_record(&out[i].rec, &x)) wrong++;
        }
        seq += (uint64_t)n;
    }
    CHECK_EQ_INT(seq, top + 1);
    for (uint64_t i = 1; i <= CRASH_N; i++) lost += acked[i] && i >= seq;
    CHECK_EQ_INT(lost, 0);
    CHECK_EQ_INT(wrong, 0);
    printf("crash: %d acknowledged (highest %llu) before SIGKILL, vv %llu after reopen\n", got,
           (unsigned long long)max_acked, (unsigned long long)top);
    CHECKF(got < CRASH_N, "killed mid-way (%d of %d acknowledged)", got, CRASH_N);
    /* Local writes continue after the recovered vv. */
    store_set_origin(s, "crash");
    ures res;
    memset(&res, 0, sizeof res);
    g_calls = 0;
    store_record x;
    tu_make_record(&x, CRASH_N + 1, T0);
    store_put_logged_async(s, &x, on_update, &res);
    wait_calls(base, 1);
    CHECK_EQ_INT(res.u.seq, top + 1);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

/* ---- retired origins ---- */

static int apply_one(struct event_base *base, store *s, const char *origin, uint64_t seq, uint32_t i)
{
    store_update u;
    make_update(&u, origin, seq, i);
    ures res;
    memset(&res, 0, sizeof res);
    int want = g_calls + 1;
    int rc = store_apply_async(s, &u, on_update, &res);
    if (rc) return rc;
    wait_calls(base, want);
    return res.calls == 1 ? res.status : -999;
}

static int retire_one(struct event_base *base, store *s, const char *origin, uint64_t seq)
{
    int status = -999, want = g_calls + 1;
    int rc = store_retire_async(s, origin, seq, on_done, &status);
    if (rc) return rc;
    wait_calls(base, want);
    return status;
}

/* An origin leaves the vector only at exactly the sequence it holds; the store still
 * knows where it stopped (old updates are duplicates, the next one brings it back, across
 * a reopen too); retiring frees room in a full vector; a snapshot's vector brings a
 * retired origin back only when it holds more of it. */
static void test_retire(void)
{
    char dir[64];
    tu_temp_dir("retire", dir, sizeof dir);
    struct event_base *base = event_base_new();
    store *s = tu_open_store(base, dir, 2, true);
    CHECK(s != NULL);
    if (!s) return;
    store_set_origin(s, "local");
    g_calls = 0;
    for (uint64_t q = 1; q <= 3; q++) CHECK_EQ_INT(apply_one(base, s, "old", q, (uint32_t)q), 0);
    CHECK_EQ_INT(apply_one(base, s, "keep", 1, 10), 0);
    store_vv vv;
    CHECK_EQ_INT(retire_one(base, s, "old", 2), 1); /* holds 3, not 2: nothing changes */
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "old"), 3);
    CHECK_EQ_INT(store_retired_get(s, "old"), 0);
    CHECK_EQ_INT(retire_one(base, s, "nobody", 1), 1);
    CHECK_EQ_INT(store_retire_async(s, "old", 0, on_done, NULL), KMS_EINVAL);
    CHECK_EQ_INT(retire_one(base, s, "old", 3), 0);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, 1);
    CHECK_EQ_INT(store_vv_get(&vv, "old"), 0);
    CHECK_EQ_INT(store_vv_get(&vv, "keep"), 1);
    CHECK_EQ_INT(store_retired_get(s, "old"), 3);
    /* Its old updates are duplicates, a gap is a gap, its next update brings it back. */
    CHECK_EQ_INT(apply_one(base, s, "old", 2, 2), 1);
    CHECK_EQ_INT(apply_one(base, s, "old", 5, 5), 2);
    CHECK_EQ_INT(apply_one(base, s, "old", 4, 4), 0);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "old"), 4);
    CHECK_EQ_INT(store_retired_get(s, "old"), 0);
    CHECK_EQ_INT(retire_one(base, s, "old", 4), 0);
    /* Owed-snapshot flags: set, cleared, durable. */
    int st = -999, want0 = g_calls + 2;
    CHECK(!store_owed_get(s, "kms2"));
    CHECK_EQ_INT(store_set_owed_async(s, "kms2", true, on_done, &st), 0);
    CHECK_EQ_INT(store_set_owed_async(s, "kms3", true, on_done, &st), 0);
    wait_calls(base, want0);
    CHECK_EQ_INT(st, 0);
    CHECK(store_owed_get(s, "kms2"));
    CHECK_EQ_INT(store_set_owed_async(s, "kms3", false, on_done, &st), 0);
    wait_calls(base, want0 + 1);
    CHECK(!store_owed_get(s, "kms3"));
    CHECK_EQ_INT(store_set_owed_async(s, "", true, on_done, &st), KMS_EINVAL);
    /* Durable: a reopened store has the same vector and still knows where "old" stopped. */
    store_free(&s);
    s = tu_open_store(base, dir, 2, true);
    CHECK(s != NULL);
    if (!s) return;
    store_set_origin(s, "local");
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, 1);
    CHECK_EQ_INT(store_retired_get(s, "old"), 4);
    CHECK(store_owed_get(s, "kms2"));
    CHECK(!store_owed_get(s, "kms3"));
    CHECK_EQ_INT(apply_one(base, s, "old", 4, 4), 1);
    uint64_t recs = 0;
    char err[256];
    CHECK_EQ_INT(store_verify(s, &recs, err, sizeof err), 0);
    /* A snapshot's vector: holding no more of it leaves it retired, more brings it back. */
    store_vv adopt;
    memset(&adopt, 0, sizeof adopt);
    store_vv_set(&adopt, "old", 4);
    ures res;
    memset(&res, 0, sizeof res);
    int want = g_calls + 1;
    CHECK_EQ_INT(store_apply_snapshot_async(s, NULL, 0, &adopt, on_update, &res), 0);
    wait_calls(base, want);
    CHECK_EQ_INT(res.status, 0);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "old"), 0);
    store_vv_set(&adopt, "old", 6);
    want = g_calls + 1;
    CHECK_EQ_INT(store_apply_snapshot_async(s, NULL, 0, &adopt, on_update, &res), 0);
    wait_calls(base, want);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(store_vv_get(&vv, "old"), 6);
    CHECK_EQ_INT(store_retired_get(s, "old"), 0);
    CHECK_EQ_INT(retire_one(base, s, "old", 6), 0);
    /* A full vector refuses a new origin; retiring one makes room (the cluster's life is
     * not bounded by STORE_VV_MAX origins). */
    store_get_vv(s, &vv);
    for (int i = vv.n; i < STORE_VV_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        CHECK_EQ_INT(apply_one(base, s, name, 1, (uint32_t)(100 + i)), 0);
    }
    CHECK_EQ_INT(apply_one(base, s, "newcomer", 1, 500), KMS_ETOOBIG);
    CHECK_EQ_INT(retire_one(base, s, "o5", 1), 0);
    CHECK_EQ_INT(apply_one(base, s, "newcomer", 1, 500), 0);
    store_get_vv(s, &vv);
    CHECK_EQ_INT(vv.n, STORE_VV_MAX);
    CHECK_EQ_INT(store_vv_get(&vv, "newcomer"), 1);
    /* store_vv_remove keeps the others in order. */
    store_vv small;
    memset(&small, 0, sizeof small);
    store_vv_set(&small, "x", 1);
    store_vv_set(&small, "y", 2);
    store_vv_set(&small, "z", 3);
    CHECK_EQ_INT(store_vv_remove(&small, "y"), 0);
    CHECK_EQ_INT(store_vv_remove(&small, "y"), KMS_ENOTFOUND);
    CHECK_EQ_INT(small.n, 2);
    CHECK(strcmp(small.e[1].origin, "z") == 0);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *seed = getenv("KMSHA_SEED"); /* to explore other runs of the property test */
    if (seed && strtoull(seed, NULL, 0)) rng_state = strtoull(seed, NULL, 0);
    double t0 = tu_mono_ms();
    test_crash(); /* first: fork before any store thread of ours exists */
    test_vv_helpers();
    test_local_seq();
    test_remote_apply();
    test_retire();
    test_log_read_prune();
    test_snapshot();
    test_map_growth_logged();
    test_schema_upgrade();
    test_convergence();
    printf("store_repl: %.0f ms\n", tu_mono_ms() - t0);
    return tu_finish();
}
