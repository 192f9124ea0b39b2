/* test_store_query.c: client record queries over a real store (query.h) and a store
 * directory read from outside (storefile.h): time parsing, every filter, paged scans that
 * resume exactly where they stopped (every record once, in key order, whatever the page
 * size and limit), CMID look-ups, the application shortcut, cursors as text, the JSON form;
 * then backup (a copy while writes go on), restore (refused while the store is open),
 * and the lock check. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "node/query.h"
#include "ops/kmsctl/storefile.h"

#include <event2/event.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/errors.h"
#include "proto/guid.h"
#include "tests/testutil.h"

#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */
#define N_RECORDS 3000

static void make_record(store_record *r, uint32_t i)
{
    memset(r, 0, sizeof *r);
    r->app = (uint8_t)(i % 3);
    for (int k = 0; k < 16; k++) r->cmid[k] = (uint8_t)(0x11 * k);
    r->cmid[0] = (uint8_t)(i >> 8);
    r->cmid[1] = (uint8_t)i;
    r->first_seen_ms = T0 + (int64_t)i * 1000;
    r->last_seen_ms = T0 + (int64_t)i * 60000; /* one a minute */
    r->license_status = 2;
    r->n_policy = r->app ? 5 : 25;
    r->protocol = 6;
    snprintf(r->workstation, sizeof r->workstation, "%s-%04u", i % 10 == 0 ? "Lab-PC" : "office-pc", (unsigned)i);
    snprintf(r->address, sizeof r->address, "10.1.%u.%u", (i >> 8) & 255, i & 255);
    snprintf(r->node, sizeof r->node, "kms%u", (unsigned)(i % 2 + 1));
}

typedef struct tally {
    int calls, ok;
} tally;

static void on_done(void *arg, int status)
{
    tally *t = arg;
    t->calls++;
    if (status == 0) t->ok++;
}

static void wait_calls(struct event_base *base, tally *t, int want)
{
    double until = tu_mono_ms() + 20000;
    while (t->calls < want && tu_mono_ms() < until) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (t->calls < want) usleep(200);
    }
}

static store *fill(struct event_base *base, const char *dir, uint32_t n)
{
    store_options o = {.commit_delay_ms = 1, .map_size = 64 << 20, .no_sync = true};
    char err[256];
    store *s = store_open(base, dir, &o, NULL, err, sizeof err);
    if (!s) {
        fprintf(stderr, "store_open: %s\n", err);
        exit(2);
    }
    tally t = {0, 0};
    for (uint32_t i = 0; i < n; i++) {
        store_record r;
        make_record(&r, i);
        store_put_async(s, &r, on_done, &t);
    }
    wait_calls(base, &t, (int)n);
    CHECK_EQ_INT(t.ok, n);
    return s;
}

/* Brute force: what the filter matches, in key order. */
static int expected(const query_filter *f, uint32_t n)
{
    int c = 0;
    for (uint32_t i = 0; i < n; i++) {
        store_record r;
        make_record(&r, i);
        if (query_match(f, &r)) c++;
    }
    return c;
}

static int key_cmp(const store_record *a, const store_record *b)
{
    if (a->app != b->app) return a->app < b->app ? -1 : 1;
    return memcmp(a->cmid, b->cmid, 16);
}

/* Runs a whole query in steps of budget examined records and max matches per step,
 * resuming through the text cursor between steps as /clients does across requests.
 * Returns the matches; checks strict key order (no record twice). */
static int run_query(store *s, const query_filter *f, size_t max, size_t budget, bool via_text)
{
    query_scan sc;
    query_scan_init(&sc, f);
    store_record *out = malloc(max * sizeof *out);
    store_record last;
    bool have_last = false;
    int total = 0, steps = 0, order_bad = 0;
    while (!sc.done && steps < 100000) {
        int got = query_step(s, f, &sc, out, max, budget);
        if (got < 0) {
            CHECKF(0, "query_step: %s", kms_strerror(got));
            break;
        }
        for (int i = 0; i < got; i++) {
            if (!query_match(f, &out[i])) order_bad++;
            if (have_last && key_cmp(&last, &out[i]) >= 0) order_bad++;
            last = out[i];
            have_last = true;
        }
        total += got;
        steps++;
        if (via_text && !sc.done) {
            char hex[QUERY_CURSOR_HEXLEN + 1];
            query_cursor_format(&sc, hex);
            query_scan fresh;
            query_scan_init(&fresh, f);
            CHECK_EQ_INT(query_cursor_parse(&fresh, hex), 0);
            fresh.scanned = sc.scanned;
            sc = fresh;
        }
    }
    CHECK_EQ_INT(order_bad, 0);
    free(out);
    return total;
}

static void test_parse_time(void)
{
    int64_t t;
    int64_t now = T0;
    CHECK_EQ_INT(query_parse_time("7d", now, false, &t), 0);
    CHECK(t == now - 7 * 86400000LL);
    CHECK_EQ_INT(query_parse_time("24h", now, false, &t), 0);
    CHECK(t == now - 86400000LL);
    CHECK_EQ_INT(query_parse_time("90m", now, false, &t), 0);
    CHECK(t == now - 90 * 60000LL);
    CHECK_EQ_INT(query_parse_time("2w", now, false, &t), 0);
    CHECK(t == now - 14 * 86400000LL);
    CHECK_EQ_INT(query_parse_time("1700000000123", now, false, &t), 0);
    CHECK(t == 1700000000123LL);
    CHECK_EQ_INT(query_parse_time("2023-11-14T22:13:20Z", now, false, &t), 0);
    CHECK(t == T0);
    CHECK_EQ_INT(query_parse_time("2023-11-14T22:13:20.5Z", now, false, &t), 0);
    CHECK(t == T0 + 500);
    CHECK_EQ_INT(query_parse_time("2023-11-15T00:13:20+02:00", now, false, &t), 0);
    CHECK(t == T0);
    CHECK_EQ_INT(query_parse_time("2023-11-14T17:13:20-0500", now, false, &t), 0);
    CHECK(t == T0);
    CHECK_EQ_INT(query_parse_time("2023-11-14 22:13Z", now, false, &t), 0);
    CHECK(t == T0 - 20000);
    /* A date alone is local midnight; with end_of_day the next midnight. */
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_EQ_INT(query_parse_time("2023-11-14", now, false, &t), 0);
    CHECK(t == 1699920000000LL);
    CHECK_EQ_INT(query_parse_time("2023-11-14", now, true, &t), 0);
    CHECK(t == 1699920000000LL + 86400000LL);
    CHECK_EQ_INT(query_parse_time("2023-11-14T22:13:20", now, false, &t), 0);
    CHECK(t == T0);
    const char *bad[] = {"", "d", "7x", "-7d", "2023-13-01", "2023-11-14T25:00Z", "2023-11-14T22:13:20Q",
                         "2023/11/14", "2023-11-14T22", "yesterday", "2023-11-14T22:13+2", "12345678901234567"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(query_parse_time(bad[i], now, false, &t) == KMS_EINVAL, "'%s' accepted", bad[i]);
}

static void test_filters(store *s)
{
    char err[256];
    query_filter f;
    /* Everything, in pages of every shape. */
    query_filter_init(&f);
    CHECK_EQ_INT(run_query(s, &f, 1000000, 1024, false), N_RECORDS);
    CHECK_EQ_INT(run_query(s, &f, 7, 1024, true), N_RECORDS);
    CHECK_EQ_INT(run_query(s, &f, 1000, 1, false), N_RECORDS);
    CHECK_EQ_INT(run_query(s, &f, 1, 3, true), N_RECORDS);
    /* Application: the scan starts at its first key and stops after its last. */
    for (int app = 0; app < 3; app++) {
        query_filter_init(&f);
        CHECK_EQ_INT(query_filter_set(&f, "application", app == 0 ? "windows" : app == 1 ? "office2010" : "office2013",
                                      T0, err, sizeof err), 0);
        CHECK_EQ_INT(run_query(s, &f, 50, 100, true), N_RECORDS / 3);
        query_scan sc;
        query_scan_init(&sc, &f);
        store_record *out = malloc(N_RECORDS * sizeof *out);
        int got = query_step(s, &f, &sc, out, N_RECORDS, N_RECORDS * 2);
        CHECK_EQ_INT(got, N_RECORDS / 3);
        CHECK(sc.done);
        CHECKF(sc.scanned == N_RECORDS / 3, "app %d: scanned %llu records, not only its own", app,
               (unsigned long long)sc.scanned);
        free(out);
    }
    /* Workstation: substring, any case. */
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "workstation", "LAB-pc", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 13, 200, true), N_RECORDS / 10);
    CHECK_EQ_INT(expected(&f, N_RECORDS), N_RECORDS / 10);
    /* Address: one address, or a network (CIDR); anything else is refused, not matched. */
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "address", "10.1.3.7", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 10, 100, false), 1);
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "address", "10.1.3.0/24", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 1000, 100, false), 256);
    CHECK_EQ_INT(expected(&f, N_RECORDS), 256);
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "address", "10.0.0.0/8", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 5000, 100, false), N_RECORDS);
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "address", "10.1.3.", T0, err, sizeof err), KMS_EINVAL);
    CHECK(strstr(err, "not an address or network") != NULL);
    CHECK_EQ_INT(query_filter_set(&f, "address", "10.1", T0, err, sizeof err), KMS_EINVAL);
    CHECK_EQ_INT(query_filter_set(&f, "address", "10.0.0.0/33", T0, err, sizeof err), KMS_EINVAL);
    /* Status, node and product. */
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "status", "oob_grace", T0, err, sizeof err), 0);
    CHECK_EQ_INT(query_filter_set(&f, "node", "kms2", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 5000, 100, false), N_RECORDS / 2);
    CHECK_EQ_INT(query_filter_set(&f, "status", "licensed", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 5000, 100, false), 0);
    CHECK_EQ_INT(query_filter_set(&f, "status", "green", T0, err, sizeof err), KMS_EINVAL);
    CHECK_EQ_INT(query_filter_set(&f, "node", "a b", T0, err, sizeof err), KMS_EINVAL);
    CHECK_EQ_INT(query_filter_set(&f, "product", "win99", T0, err, sizeof err), KMS_EINVAL);
    CHECK_EQ_INT(query_filter_set(&f, "cloned", "maybe", T0, err, sizeof err), KMS_EINVAL);
    /* Time window: last_seen in [since, until). */
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "since", "1700000600000", T0, err, sizeof err), 0); /* i >= 10 */
    CHECK_EQ_INT(query_filter_set(&f, "until", "2023-11-14T22:33:20Z", T0, err, sizeof err), 0); /* i < 20 */
    CHECK_EQ_INT(run_query(s, &f, 3, 64, true), 10);
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "since", "60m", T0 + 100 * 60000LL, err, sizeof err), 0); /* i >= 40 */
    CHECK_EQ_INT(run_query(s, &f, 5000, 5000, false), N_RECORDS - 40);
    /* Several criteria at once. */
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "application", "windows", T0, err, sizeof err), 0);
    CHECK_EQ_INT(query_filter_set(&f, "workstation", "lab", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 4, 50, true), expected(&f, N_RECORDS));
    CHECK(expected(&f, N_RECORDS) == N_RECORDS / 30);
    /* CMID: look-ups, not a scan. */
    store_record r;
    make_record(&r, 1234);
    kms_guid g;
    memcpy(g.b, r.cmid, 16);
    char text[KMS_GUID_STRLEN];
    kms_guid_format(&g, text);
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "cmid", text, T0, err, sizeof err), 0);
    query_scan sc;
    query_scan_init(&sc, &f);
    store_record out[3];
    CHECK_EQ_INT(query_step(s, &f, &sc, out, 3, 1), 1);
    CHECK(sc.done && sc.scanned == 3);
    CHECK(out[0].app == r.app && strcmp(out[0].workstation, r.workstation) == 0);
    CHECK_EQ_INT(query_filter_set(&f, "application", "office2013", T0, err, sizeof err), 0);
    CHECK_EQ_INT(run_query(s, &f, 1, 1, true), r.app == 2 ? 1 : 0);
    /* Bad parameters name themselves. */
    query_filter_init(&f);
    CHECK_EQ_INT(query_filter_set(&f, "cmid", "nope", T0, err, sizeof err), KMS_EINVAL);
    CHECK(strstr(err, "cmid") != NULL);
    CHECK_EQ_INT(query_filter_set(&f, "application", "office2099", T0, err, sizeof err), KMS_EINVAL);
    CHECK_EQ_INT(query_filter_set(&f, "since", "last tuesday", T0, err, sizeof err), KMS_EINVAL);
    CHECK(strstr(err, "since") != NULL);
    CHECK_EQ_INT(query_filter_set(&f, "colour", "red", T0, err, sizeof err), KMS_EINVAL);
    CHECK(strstr(err, "colour") != NULL);
    /* Cursors as text. */
    query_scan_init(&sc, NULL);
    CHECK_EQ_INT(query_cursor_parse(&sc, "abc"), KMS_EINVAL);
    CHECK_EQ_INT(query_cursor_parse(&sc, "zz09178c2aad523f449ada693320dd08ef"), KMS_EINVAL);
    CHECK_EQ_INT(query_cursor_parse(&sc, ""), 0);
    CHECK_EQ_INT(query_step(s, &f, &sc, out, 3, 0), KMS_EINVAL);
}

static void test_json(void)
{
    store_record r;
    make_record(&r, 42);
    snprintf(r.workstation, sizeof r.workstation, "Quote\"Back\\slash\ttab");
    char buf[2048];
    int n = query_record_json(&r, buf, sizeof buf);
    CHECK(n > 0 && (size_t)n == strlen(buf));
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    CHECKF(j != NULL, "not JSON: %s: %.300s", je.text, buf);
    if (j) {
        CHECK(strcmp(json_string_value(json_object_get(j, "workstation")), r.workstation) == 0);
        CHECK(strcmp(json_string_value(json_object_get(j, "application")), "windows") == 0);
        CHECK(strcmp(json_string_value(json_object_get(j, "address")), "10.1.0.42") == 0);
        CHECK(json_integer_value(json_object_get(j, "last_seen_ms")) == r.last_seen_ms);
        CHECK(strcmp(json_string_value(json_object_get(j, "first_seen")), "2023-11-14T22:14:02.000Z") == 0);
        CHECK(json_is_null(json_object_get(j, "product")));
        CHECK(strcmp(json_string_value(json_object_get(j, "license_status")), "oob_grace") == 0);
        json_decref(j);
    }
    CHECK_EQ_INT(query_record_json(&r, buf, 40), KMS_ESPACE);
}

typedef struct counter {
    int n;
} counter;

static int count_rec(void *ctx, const store_record *rec)
{
    (void)rec;
    ((counter *)ctx)->n++;
    return 0;
}

/* Backup while a writer keeps adding records, then restore; the lock check throughout. */
static void test_backup_restore(struct event_base *base, store **sp, const char *dir, const char *root)
{
    char err[400], bk[300], bk2[300], target[300], path[700];
    snprintf(bk, sizeof bk, "%s/backup", root);
    snprintf(bk2, sizeof bk2, "%s/backup2", root);
    snprintf(target, sizeof target, "%s/restored", root);
    /* Our own process has it open: F_GETLK does not report our own locks, so ask a child. */
    pid_t pid = fork();
    if (pid == 0) _exit(storefile_in_use(dir, NULL, 0) == 1 ? 0 : 1);
    int wst = 0;
    waitpid(pid, &wst, 0);
    CHECKF(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "a child does not see the open store as in use");
    CHECK_EQ_INT(storefile_in_use(root, NULL, 0), 0); /* no store there */

    /* A copy taken while writes go on holds a consistent prefix. */
    tally t = {0, 0};
    for (uint32_t i = N_RECORDS; i < N_RECORDS + 2000; i++) {
        store_record r;
        make_record(&r, i);
        store_put_async(*sp, &r, on_done, &t);
    }
    /* In a child, as kmsctl would be: LMDB's locks are per process, and a second
     * environment on the same files in one process would drop the store's own locks
     * when it closes. The parent's writes go on meanwhile. */
    pid = fork();
    if (pid == 0) {
        storefile *sf = storefile_open(dir, NULL, err, sizeof err);
        if (!sf) _exit(3);
        int a = storefile_copy(sf, dir, bk, err, sizeof err);
        int b = storefile_copy(sf, dir, bk, err, sizeof err); /* never over a store */
        storefile_close(&sf);
        _exit(a == 0 && b == KMS_EIO && strstr(err, "already holds") ? 0 : 4);
    }
    wait_calls(base, &t, 2000);
    CHECK_EQ_INT(t.ok, 2000);
    waitpid(pid, &wst, 0);
    CHECKF(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "backup of the live store failed (%d)", WEXITSTATUS(wst));
    storefile *sf;
    storefile *copy = storefile_open(bk, NULL, err, sizeof err);
    CHECKF(copy != NULL, "open backup: %s", err);
    uint64_t records = 0;
    store_vv vv;
    CHECK_EQ_INT(storefile_stats(copy, &records, &vv), 0);
    CHECK(records >= N_RECORDS && records <= N_RECORDS + 2000);
    counter c = {0};
    CHECK_EQ_INT(storefile_each(copy, count_rec, &c), 0);
    CHECK_EQ_INT(c.n, records);
    storefile_close(&copy);
    snprintf(path, sizeof path, "%s/lock.mdb", bk);
    CHECKF(access(path, F_OK) != 0, "reading a backup left a lock file in it");
    snprintf(path, sizeof path, "%s/backup.json", bk);
    json_t *m = json_load_file(path, 0, NULL);
    CHECK(m && json_integer_value(json_object_get(m, "records")) >= N_RECORDS);
    json_decref(m);

    /* Restore: refused while the store is open (in a child: our locks are per process). */
    pid = fork();
    if (pid == 0) _exit(storefile_restore(bk, dir, true, NULL, NULL, 0) == KMS_EINVAL ? 0 : 1);
    waitpid(pid, &wst, 0);
    CHECKF(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "restore over an open store was not refused");
    /* Into a fresh directory, then again only with force. */
    uint64_t restored = 0;
    CHECK_EQ_INT(storefile_restore(bk, target, false, &restored, err, sizeof err), 0);
    CHECK_EQ_INT(restored, records);
    snprintf(path, sizeof path, "%s/origin", target);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    CHECK_EQ_INT(storefile_restore(bk, target, false, NULL, err, sizeof err), KMS_EINVAL);
    CHECK(strstr(err, "--force") != NULL);
    CHECK_EQ_INT(storefile_restore(bk, target, true, NULL, err, sizeof err), 0);
    CHECKF(access(path, F_OK) != 0, "restore kept the old replication origin");
    CHECK_EQ_INT(storefile_restore(root, target, true, NULL, err, sizeof err), KMS_EINVAL); /* not a backup */
    /* The restored store opens as a node's and holds the same records. */
    store_options o = {.commit_delay_ms = 1, .map_size = 64 << 20, .no_sync = true};
    store *rs = store_open(base, target, &o, NULL, err, sizeof err);
    CHECKF(rs != NULL, "store_open(restored): %s", err);
    if (rs) {
        store_stats st;
        store_get_stats(rs, &st);
        CHECK_EQ_INT(st.entries, records);
        store_free(&rs);
    }
    /* A backup of the finished store has everything. */
    store_free(sp);
    sf = storefile_open(dir, NULL, err, sizeof err);
    CHECKF(sf != NULL, "reopen: %s", err);
    if (sf) {
        CHECK_EQ_INT(storefile_copy(sf, dir, bk2, err, sizeof err), 0);
        storefile_close(&sf);
        copy = storefile_open(bk2, NULL, err, sizeof err);
        CHECK(copy && storefile_stats(copy, &records, NULL) == 0 && records == N_RECORDS + 2000);
        storefile_close(&copy);
    }
    CHECK(storefile_open(root, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "data.mdb") != NULL);
}

int main(void)
{
    char root[] = "/tmp/kmsha-query-XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 2;
    }
    char dir[600];
    snprintf(dir, sizeof dir, "%s/store", root);
    struct event_base *base = event_base_new();
    test_parse_time();
    test_json();
    store *s = fill(base, dir, N_RECORDS);
    test_filters(s);
    test_backup_restore(base, &s, dir, root);
    store_free(&s);
    event_base_free(base);
    tu_remove_dir(root);
    return tu_finish();
}
