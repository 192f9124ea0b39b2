/* test_report.c: the activation health report (node/report.c) on records made here:
 * rooms by address (IPv4, IPv6, IPv4-mapped) and by pattern, the at-risk rule, cloned
 * names within the lifetime, and the forecast's exact moment (the N-th latest expiry)
 * with the count index's cap. */
#include <event2/buffer.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "node/clients.h"
#include "node/config.h"
#include "node/report.h"
#include "tests/store_fixtures.h"
#include "tests/testutil.h"

#define DAY ((int64_t)86400 * 1000)
#define NOW ((int64_t)1800000000000)

static void make(store_record *r, uint32_t i, const char *addr, int64_t last_seen)
{
    tu_make_record(r, i, last_seen);
    r->app = 0;
    r->n_policy = 25;
    snprintf(r->address, sizeof r->address, "%s", addr);
}

static void test_rooms(void)
{
    kmsd_config cfg;
    config_defaults(&cfg);
    report_rules ru;
    char err[200], room[REPORT_ROOM_MAX];
    CHECK_EQ_INT(report_rules_init(&ru, &cfg, NULL, err, sizeof err), 0);
    store_record r;
    make(&r, 1, "10.1.2.3", NOW);
    report_room(&ru, &r, room);
    CHECK(strcmp(room, "10.1.2.0/24") == 0);
    make(&r, 1, "::ffff:10.9.8.7", NOW);
    report_room(&ru, &r, room);
    CHECK(strcmp(room, "10.9.8.0/24") == 0);
    make(&r, 1, "2001:db8:1:2:aaaa::5", NOW);
    report_room(&ru, &r, room);
    CHECKF(strcmp(room, "2001:db8:1:2::/64") == 0, "%s", room);
    make(&r, 1, "nonsense", NOW);
    report_room(&ru, &r, room);
    CHECK(strcmp(room, "unknown") == 0);
    report_rules_free(&ru);

    cfg.report_room_prefix_v4 = 16;
    snprintf(cfg.report_room_pattern, sizeof cfg.report_room_pattern, "^([A-Z]+-[0-9]+)-");
    CHECK_EQ_INT(report_rules_init(&ru, &cfg, NULL, err, sizeof err), 0);
    make(&r, 1, "10.1.2.3", NOW);
    snprintf(r.workstation, sizeof r.workstation, "LAB-101-PC07");
    report_room(&ru, &r, room);
    CHECK(strcmp(room, "LAB-101") == 0);
    snprintf(r.workstation, sizeof r.workstation, "laptop");
    report_room(&ru, &r, room);
    CHECK(strcmp(room, "unmatched") == 0);
    report_rules_free(&ru);
}

static void test_at_risk_and_cloned(void)
{
    kmsd_config cfg;
    config_defaults(&cfg);
    report_rules ru;
    char err[200];
    CHECK_EQ_INT(report_rules_init(&ru, &cfg, NULL, err, sizeof err), 0);
    store_record r;
    int64_t stops;
    const char *why;
    /* Activated by its last answer: 180 days from last_seen, not at risk. */
    make(&r, 1, "10.0.0.1", NOW - DAY);
    r.license_status = 2;
    r.count = 30;
    CHECK(!report_at_risk(&ru, &r, NOW, &stops, &why));
    CHECK_EQ_INT(stops, NOW - DAY + REPORT_ACTIVATION_VALIDITY_MS);
    /* Below threshold in initial grace: at risk whatever the time left. */
    r.count = 10;
    r.binding_expiration = 30 * 24 * 60;
    CHECK(report_at_risk(&ru, &r, NOW, &stops, &why));
    CHECK(strcmp(why, "oob_grace") == 0);
    CHECK_EQ_INT(stops, NOW - DAY + 30 * DAY);
    /* Licensed and renewing, answered below N: at risk only near its end. */
    r.license_status = 1;
    r.binding_expiration = 20 * 24 * 60;
    CHECK(!report_at_risk(&ru, &r, NOW, NULL, NULL));
    r.binding_expiration = 10 * 24 * 60;
    CHECK(report_at_risk(&ru, &r, NOW, NULL, &why));
    CHECK(strcmp(why, "licence state expires") == 0);
    /* A version-1 record (nothing known of its answer), licensed: not at risk. */
    r.count = 0;
    r.binding_expiration = 0;
    CHECK(!report_at_risk(&ru, &r, NOW, &stops, NULL));
    CHECK_EQ_INT(stops, 0);
    /* Cloned: two names within the lifetime; a name older than it does not count. */
    store_record_add_name(&r, "PC-1", "10.0.0.1", NOW - DAY);
    store_record_add_name(&r, "PC-2", "10.0.0.2", NOW - 40 * DAY);
    CHECK_EQ_INT(report_names_live(&ru, &r, NOW), 1);
    store_record_add_name(&r, "PC-3", "10.0.0.3", NOW - 2 * DAY);
    CHECK_EQ_INT(report_names_live(&ru, &r, NOW), 2);
    report_rules_free(&ru);
}

static json_t *run_report(report_rules *ru, const store_record *recs, size_t n)
{
    report *rep = report_new(ru, NOW);
    for (size_t i = 0; i < n; i++) report_add(rep, &recs[i]);
    report_finish(rep);
    struct evbuffer *b = evbuffer_new();
    report_json(rep, "t", b);
    size_t len = evbuffer_get_length(b);
    json_error_t je;
    json_t *j = json_loadb((const char *)evbuffer_pullup(b, -1), len, 0, &je);
    CHECKF(j != NULL, "report JSON: %s", je.text);
    evbuffer_free(b);
    report_free(&rep);
    return j;
}

static void test_forecast(void)
{
    kmsd_config cfg;
    config_defaults(&cfg);
    clients_index *ci = clients_new();
    clients_set_rule(ci, 30, 0);
    report_rules ru;
    char err[200];
    CHECK_EQ_INT(report_rules_init(&ru, &cfg, ci, err, sizeof err), 0);
    /* 40 clients: client i last seen i hours ago (N 25). */
    static store_record recs[40];
    for (uint32_t i = 0; i < 40; i++) {
        make(&recs[i], i, "10.0.0.1", NOW - (int64_t)i * 3600 * 1000);
        recs[i].first_seen_ms = NOW - 20 * DAY;
    }
    json_t *j = run_report(&ru, recs, 40);
    json_t *f = json_array_get(json_object_get(j, "forecast"), 0);
    CHECK(strcmp(json_string_value(json_object_get(f, "application")), "windows") == 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(f, "count")), 40);
    /* Below 25 when the 25th latest (24 hours ago) expires: 30 days after it. */
    json_t *b = json_object_get(f, "below_n");
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "at_ms")), NOW - 24 * 3600 * 1000 + 30 * DAY);
    CHECK(json_is_false(json_object_get(b, "already")));
    json_t *days = json_object_get(f, "days");
    CHECK_EQ_INT(json_array_size(days), REPORT_FORECAST_DAYS + 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(days, 28), "count")), 40);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(days, 29), "count")), 24); /* seen < 24 h ago */
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(days, 30), "count")), 0);
    /* History: every client since 20 days ago. */
    json_t *h = json_object_get(f, "history");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 30), "count")), 40);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 9), "count")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(h, 11), "count")), 40);
    json_decref(j);

    /* The index's cap applies: a fixed cap of 20 keeps the count below N 25 now. */
    clients_set_rule(ci, 30, 20);
    j = run_report(&ru, recs, 40);
    f = json_array_get(json_object_get(j, "forecast"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(f, "count")), 20);
    CHECK(json_is_true(json_object_get(json_object_get(f, "below_n"), "already")));
    json_decref(j);

    /* An N above REPORT_N_MAX from a peer's record: the forecast uses the latest
     * REPORT_N_MAX expiries it keeps (never reads past them). */
    static store_record big[1600];
    for (uint32_t i = 0; i < 1600; i++) {
        make(&big[i], i, "10.0.0.1", NOW - (int64_t)i * 1000);
        big[i].n_policy = i == 0 ? 1500 : 25;
    }
    clients_set_rule(ci, 30, 100000);
    j = run_report(&ru, big, 1600);
    f = json_array_get(json_object_get(j, "forecast"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(f, "max_n")), 1500);
    b = json_object_get(f, "below_n");
    CHECK(json_is_false(json_object_get(b, "already")));
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "at_ms")), NOW - (int64_t)(REPORT_N_MAX - 1) * 1000 + 30 * DAY);
    json_decref(j);

    /* Rooms beyond REPORT_ROOMS_MAX are summed as "other". */
    static store_record many[REPORT_ROOMS_MAX + 5];
    for (uint32_t i = 0; i < REPORT_ROOMS_MAX + 5; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.%u.%u.1", i / 256, i % 256);
        make(&many[i], i, a, NOW);
    }
    j = run_report(&ru, many, REPORT_ROOMS_MAX + 5);
    json_t *rooms = json_object_get(j, "rooms");
    CHECK_EQ_INT(json_array_size(rooms), REPORT_ROOMS_MAX + 1);
    json_t *last = json_array_get(rooms, json_array_size(rooms) - 1);
    CHECK(strcmp(json_string_value(json_object_get(last, "room")), "other") == 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(last, "live")), 5);
    json_decref(j);
    report_rules_free(&ru);
    clients_free(&ci);
}

int main(void)
{
    test_rooms();
    test_at_risk_and_cloned();
    test_forecast();
    return tu_finish();
}
