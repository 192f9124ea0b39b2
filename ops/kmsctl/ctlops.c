/* ctlops.c: kmsctl clients, backup and restore (see ctlops.h). `clients` asks a node's
 * GET /clients page by page (each answer at most CTL_PAGE records, resumed with its
 * "next" cursor) or reads a store directory itself; backup and restore work on the
 * store directory on this machine (storefile.h), which LMDB lets us read while the node
 * writes. */
#include "ops/kmsctl/ctlops.h"
#include "node/config.h"
#include "ops/kmsctl/ctladmin.h"
#include "ops/kmsctl/ctlnode.h"
#include "ops/kmsctl/ctlargs.h"

#include <errno.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ops/kmsctl/httpc.h"
#include "node/query.h"
#include "node/report.h"
#include "ops/kmsctl/storefile.h"
#include "proto/clock.h"
#include "proto/errors.h"
#include "replication/storecheck.h"
#include "proto/guid.h"
#include "proto/products.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define CTL_PAGE 5000 /* records per /clients request */
#define DEFAULT_ADMIN "127.0.0.1:8688"



/* ------------------------------------------------------------------ clients */

static const char clients_usage[] =
    "usage: kmsctl clients [options]\n"
    "  Lists client records (one per application and client machine) that match every\n"
    "  criterion given, in (application, CMID) order. Asks the node at --admin, or reads\n"
    "  the store in --data-dir directly (a stopped node's, a backup, or a live node's on\n"
    "  this machine).\n"
    "  --cmid GUID             the client machine ID\n"
    "  --workstation TEXT      workstation name contains TEXT (case-insensitive)\n"
    "  --address CIDR          last client address in CIDR (10.1.4.0/24, 2001:db8::/32) or equal\n"
    "                          to one address\n"
    "  --application APP       windows, office2010 or office2013 (2013 and later)\n"
    "  --status STATUS         below_threshold (last answer below the client's N), activated,\n"
    "                          or the licence status the client reported: unlicensed, licensed,\n"
    "                          oob_grace, oot_grace, non_genuine_grace, notification,\n"
    "                          extended_grace\n"
    "  --product PRODUCT       SKU (kmsctl products) or KMS counted ID (win10, office2019, ...),\n"
    "                          slug or GUID\n"
    "  --node ID               the node that answered the client last\n"
    "  --room ROOM             the room kmsctl report shows (10.1.4.0/24, or the capture of\n"
    "                          [report] room_pattern)\n"
    "  --at-risk               clients that stop working within [report] at_risk_days\n"
    "  --cloned                client machine IDs seen with several workstation names\n"
    "  --sort last_seen        oldest first (default: application, CMID order)\n"
    "  --since TIME            last seen at or after TIME\n"
    "  --until TIME            last seen before TIME\n"
    "                          TIME: 2024-09-01, 2024-09-01T08:30[:00][Z|+02:00] (no zone:\n"
    "                          local time; a date alone: --since its start, --until its\n"
    "                          end), relative 7d, 24h, 30m, 2w, or unix milliseconds\n"
    "  --limit N               at most N records (default 1000, at most 100000)\n"
    "  --csv | --json          output format (default: a table)\n"
    "  --admin HOST:PORT       the node's admin address (default " DEFAULT_ADMIN ")\n"
    "  --data-dir DIR          read the store in DIR instead of asking a node\n"
    "  --timeout MS            per request to the node (default 10000)\n";

typedef struct collect {
    const query_filter *f;
    json_t *arr;
    size_t limit;
    bool more;
} collect;

static int collect_rec(void *ctx, const store_record *rec)
{
    collect *c = ctx;
    if (!query_match(c->f, rec)) return 0;
    if (json_array_size(c->arr) >= c->limit) {
        c->more = true;
        return 1;
    }
    char line[QUERY_RECORD_JSON_MAX];
    if (query_record_json(rec, line, sizeof line) < 0) return 0;
    json_t *j = json_loads(line, 0, NULL);
    if (j) json_array_append_new(c->arr, j);
    return 0;
}

/* ISO 8601 in the local zone with its offset ("2026-12-06T17:56:05+09:00"): the table is
 * read by people, who want their own time, and compared with logs, audit and JSON, which
 * are UTC; the offset makes both readable. */
static void local_time(long long ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        snprintf(out, 32, "?");
        return;
    }
    char off[8];
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(off, sizeof off, "%z", &tm); /* +hhmm */
    size_t n = strlen(out);
    if (strlen(off) == 5) snprintf(out + n, 32 - n, "%.3s:%.2s", off, off + 3);
}

static const char *js(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void csv_field(const char *s, bool last)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"') putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

static void print_clients(json_t *arr, int format, bool more, size_t limit)
{
    size_t i;
    json_t *r;
    if (more)
        fprintf(stderr, "kmsctl: more records match: stopped at --limit %zu (raise it, or narrow the query)\n", limit);
    if (format == 2) { /* JSON */
        json_t *o = json_pack("{s:O,s:I,s:b}", "clients", arr, "returned", (json_int_t)json_array_size(arr),
                              "more", more);
        char *t = json_dumps(o, JSON_INDENT(2));
        if (t) puts(t);
        free(t);
        json_decref(o);
        return;
    }
    if (format == 1) { /* CSV */
        puts("application,cmid,workstation,address,first_seen,last_seen,product,product_group,license_status,vm,"
             "n_policy,protocol,node,count,result,binding_expiration");
        json_array_foreach(arr, i, r) {
            char n1[16], n2[16];
            snprintf(n1, sizeof n1, "%lld", (long long)json_integer_value(json_object_get(r, "n_policy")));
            snprintf(n2, sizeof n2, "%lld", (long long)json_integer_value(json_object_get(r, "protocol")));
            csv_field(js(r, "application"), false);
            csv_field(js(r, "cmid"), false);
            csv_field(js(r, "workstation"), false);
            csv_field(js(r, "address"), false);
            csv_field(js(r, "first_seen"), false);
            csv_field(js(r, "last_seen"), false);
            csv_field(json_is_string(json_object_get(r, "product")) ? js(r, "product") : js(r, "sku"), false);
            csv_field(js(r, "product_group"), false);
            csv_field(js(r, "license_status"), false);
            csv_field(json_is_true(json_object_get(r, "vm")) ? "true" : "false", false);
            csv_field(n1, false);
            csv_field(n2, false);
            csv_field(js(r, "node"), false);
            char n3[16], n4[16];
            snprintf(n3, sizeof n3, "%lld", (long long)json_integer_value(json_object_get(r, "count")));
            snprintf(n4, sizeof n4, "%lld", (long long)json_integer_value(json_object_get(r, "binding_expiration")));
            csv_field(n3, false);
            csv_field(js(r, "result"), false);
            csv_field(n4, true);
        }
    } else {
        if (json_array_size(arr)) {
            printf("%-25s  %-10s  %-20s  %-15s  %-36s  %-22s  %-10s  %-15s  %s\n", "LAST SEEN", "APP", "WORKSTATION",
                   "ADDRESS", "CMID", "PRODUCT", "STATUS", "RESULT", "NODE");
        }
        json_array_foreach(arr, i, r) {
            char when[32];
            local_time((long long)json_integer_value(json_object_get(r, "last_seen_ms")), when);
            const char *prod = json_is_string(json_object_get(r, "product")) ? js(r, "product") : js(r, "product_group");
            printf("%-25s  %-10s  %-20s  %-15s  %-36s  %-22s  %-10s  %-15s  %s\n", when, js(r, "application"),
                   js(r, "workstation"), js(r, "address"), js(r, "cmid"), prod[0] ? prod : "unknown",
                   js(r, "license_status"), js(r, "result")[0] ? js(r, "result") : "-", js(r, "node"));
        }
        printf("%zu client record%s%s\n", json_array_size(arr), json_array_size(arr) == 1 ? "" : "s",
               json_array_size(arr) ? "" : " match");
    }
}

static int cmp_last_seen(const void *x, const void *y)
{
    long long a = (long long)json_integer_value(json_object_get(*(json_t *const *)x, "last_seen_ms"));
    long long b = (long long)json_integer_value(json_object_get(*(json_t *const *)y, "last_seen_ms"));
    return a < b ? -1 : a > b;
}

/* Sorts the records of arr by last seen, oldest first. */
static void sort_by_last_seen(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return;
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof *v, cmp_last_seen);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, v[i]);
    free(v);
}

static void add_param(char *q, size_t cap, const char *key, const char *val)
{
    char *enc = evhttp_uriencode(val, -1, 0);
    size_t len = strlen(q);
    snprintf(q + len, cap - len, "%s%s=%s", len ? "&" : "", key, enc ? enc : "");
    free(enc);
}

int ctlops_clients(int argc, char **argv)
{
    const char *admin = NULL, *data_dir = NULL; /* admin NULL: ctlnode_admin() */
    int format = 0, timeout = 10000;
    bool sort_last_seen = false;
    long long limit = QUERY_LIMIT_DEFAULT;
    query_filter f;
    query_filter_init(&f);
    char q[4096] = "";
    char err[300];
    int64_t now_ms = clock_wall_ms();
    ctlargs o = {.argc = argc, .argv = argv};
    const char *arg;
    while ((arg = ctlargs_next(&o))) {
        const char *v;
        if (ctlargs_is(&o, "--help") || ctlargs_is(&o, "-h")) {
            fputs(clients_usage, stdout);
            return 0;
        } else if (ctlargs_is(&o, "--admin")) {
            if (!(admin = ctlargs_value(&o))) return EXIT_USAGE;
        } else if (ctlargs_is(&o, "--data-dir")) {
            if (!(data_dir = ctlargs_value(&o))) return EXIT_USAGE;
        } else if (ctlargs_is(&o, "--csv") || ctlargs_is(&o, "--json")) {
            if (!ctlargs_flag(&o)) return EXIT_USAGE;
            format = ctlargs_is(&o, "--csv") ? 1 : 2;
        } else if (ctlargs_is(&o, "--limit") || ctlargs_is(&o, "--timeout")) {
            bool lim = ctlargs_is(&o, "--limit");
            if (!(v = ctlargs_value(&o))) return EXIT_USAGE;
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            long long max = lim ? QUERY_LIMIT_MAX : 3600000;
            if (!*v || *end || errno || n < 1 || n > max) {
                ctlargs_usage_error("clients: %s: '%s' is not a number from 1 to %lld", lim ? "--limit" : "--timeout", v, max);
                return EXIT_USAGE;
            }
            if (lim) limit = n;
            else timeout = (int)n;
        } else if (ctlargs_is(&o, "--sort")) {
            if (!(v = ctlargs_value(&o))) return EXIT_USAGE;
            if (strcmp(v, "last_seen") != 0) {
                ctlargs_usage_error("clients: --sort: '%s' is not last_seen", v);
                return EXIT_USAGE;
            }
            sort_last_seen = true;
        } else if (ctlargs_is(&o, "--at-risk") || ctlargs_is(&o, "--cloned")) {
            if (!ctlargs_flag(&o)) return EXIT_USAGE;
            const char *key = ctlargs_is(&o, "--at-risk") ? "at_risk" : "cloned";
            query_filter_set(&f, key, "true", now_ms, err, sizeof err);
            add_param(q, sizeof q, key, "true");
        } else if (ctlargs_is(&o, "--cmid") || ctlargs_is(&o, "--workstation") || ctlargs_is(&o, "--address") || ctlargs_is(&o, "--application") ||
                   ctlargs_is(&o, "--since") || ctlargs_is(&o, "--until") || ctlargs_is(&o, "--status") ||
                   ctlargs_is(&o, "--product") || ctlargs_is(&o, "--node") || ctlargs_is(&o, "--room")) {
            const char *key = o.name + 2; /* ctlargs_value() leaves o.name alone */
            if (!(v = ctlargs_value(&o))) return EXIT_USAGE;
            if (query_filter_set(&f, key, v, now_ms, err, sizeof err) != 0) {
                ctlargs_usage_error("clients: --%s", err);
                return EXIT_USAGE;
            }
            /* The node gets times as unix ms: relative times and local dates are this
             * machine's. */
            char num[96];
            if (!strcmp(key, "since") || !strcmp(key, "until")) {
                snprintf(num, sizeof num, "%" PRId64, key[0] == 's' ? f.since_ms : f.until_ms);
                v = num;
            }
            add_param(q, sizeof q, key, v);
        } else {
            ctlargs_usage_error("clients: unexpected argument '%s'", arg);
            return EXIT_USAGE;
        }
    }
    if (f.since_ms != INT64_MIN && f.until_ms != INT64_MAX && f.since_ms >= f.until_ms) {
        ctlargs_usage_error("clients: --since must be before --until");
        return EXIT_USAGE;
    }
    json_t *arr = json_array();
    bool more = false;
    if (data_dir) {
        int ost;
        storefile *sf = storefile_open(data_dir, &ost, err, sizeof err);
        if (!sf) {
            fprintf(stderr, "kmsctl: %s\n", err);
            json_decref(arr);
            return ost == KMS_EDAMAGED ? STORE_EXIT_DAMAGED : EXIT_FAIL;
        }
        /* Rooms, at-risk and cloned are judged by the default settings here (a store has
         * no configuration with it). */
        kmsd_config defaults;
        config_defaults(&defaults);
        report_rules rules;
        report_rules_init(&rules, &defaults, NULL, err, sizeof err);
        f.rules = &rules;
        f.now_ms = now_ms;
        collect c = {.f = &f, .arr = arr, .limit = (size_t)limit};
        int rc = storefile_each(sf, collect_rec, &c);
        report_rules_free(&rules);
        storefile_close(&sf);
        if (rc < 0) {
            fprintf(stderr, "kmsctl: %s: cannot read the store: %s: data.mdb is damaged or unreadable; %s\n", data_dir,
                    kms_strerror(rc), STORE_REPAIR_HINT);
            json_decref(arr);
            return rc == KMS_EDAMAGED ? STORE_EXIT_DAMAGED : EXIT_FAIL;
        }
        more = c.more;
    } else {
        config_addr check;
        if (!admin && !(admin = ctlnode_admin())) return EXIT_FAIL;
        if (config_parse_addr(admin, 8688, &check) != 0 || check.port == 0) {
            ctlargs_usage_error("clients: '%s' is not an admin address (HOST:PORT)", admin);
            json_decref(arr);
            return EXIT_USAGE;
        }
        char after[QUERY_CURSOR_HEXLEN + 1] = "";
        for (;;) {
            size_t want = (size_t)limit - json_array_size(arr);
            char path[4600];
            snprintf(path, sizeof path, "/clients?%s%slimit=%zu%s%s", q, q[0] ? "&" : "", want < CTL_PAGE ? want : CTL_PAGE,
                     after[0] ? "&after=" : "", after);
            json_t *page = ctladmin_request("GET", admin, path, timeout);
            if (!page) {
                json_decref(arr);
                return EXIT_FAIL;
            }
            json_t *cl = json_object_get(page, "clients");
            if (!json_is_array(cl)) {
                fprintf(stderr, "kmsctl: %s: the answer has no \"clients\" list\n", admin);
                json_decref(page);
                json_decref(arr);
                return EXIT_FAIL;
            }
            json_array_extend(arr, cl);
            more = json_is_true(json_object_get(page, "more"));
            const char *next = json_string_value(json_object_get(page, "next"));
            snprintf(after, sizeof after, "%s", next ? next : "");
            json_decref(page);
            if (!more || !after[0] || json_array_size(arr) >= (size_t)limit) break;
        }
    }
    if (sort_last_seen) sort_by_last_seen(arr);
    print_clients(arr, format, more, (size_t)limit);
    json_decref(arr);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

/* ------------------------------------------------------------------ backup / restore */

static const char backup_usage[] =
    "usage: kmsctl backup --data-dir DIR [--json] DEST\n"
    "  Writes a consistent, compacted copy of the store in DIR (a running node's is fine:\n"
    "  LMDB copies one read transaction while the node keeps writing) to DEST/data.mdb,\n"
    "  with DEST/backup.json saying when and what. Run it on the node's machine as the\n"
    "  user the node runs as (sudo -u kmsha kmsctl backup --data-dir /var/lib/kmsha/kms1\n"
    "  /srv/backup/kms1-$(date +%F)). DEST must not hold a store already.\n";

static const char restore_usage[] =
    "usage: kmsctl restore --data-dir DIR [--force] [--json] BACKUP\n"
    "  Puts the backup in BACKUP (from kmsctl backup) in place as the store in DIR, for a\n"
    "  node that is stopped: refused while a process has the store open. A store already\n"
    "  in DIR is kept as data.mdb.before-restore-TIME with --force, refused without. The\n"
    "  node then catches up from its peers, and resumes its replication origin once every\n"
    "  peer is heard (else takes a fresh one).\n";

int ctlops_backup(int argc, char **argv)
{
    const char *data_dir = NULL, *dest = NULL;
    bool json = false;
    ctlargs o = {.argc = argc, .argv = argv};
    const char *arg;
    while ((arg = ctlargs_next(&o))) {
        if (ctlargs_is(&o, "--help") || ctlargs_is(&o, "-h")) {
            fputs(backup_usage, stdout);
            return 0;
        } else if (ctlargs_is(&o, "--data-dir")) {
            if (!(data_dir = ctlargs_value(&o))) return EXIT_USAGE;
        } else if (ctlargs_is(&o, "--json")) {
            if (!ctlargs_flag(&o)) return EXIT_USAGE;
            json = true;
        } else if (!o.name && !dest) {
            dest = arg;
        } else {
            ctlargs_usage_error("backup: unexpected argument '%s'", arg);
            return EXIT_USAGE;
        }
    }
    if (!data_dir || !dest) {
        ctlargs_usage_error("backup: needs --data-dir DIR (the node's store) and DEST");
        return EXIT_USAGE;
    }
    char err[600];
    double t0 = clock_mono_ms();
    int ost;
    storefile *sf = storefile_open(data_dir, &ost, err, sizeof err);
    if (!sf) {
        fprintf(stderr, "kmsctl: %s\n", err);
        return ost == KMS_EDAMAGED ? STORE_EXIT_DAMAGED : EXIT_FAIL;
    }
    uint64_t records = 0;
    int rc = storefile_copy(sf, data_dir, dest, err, sizeof err);
    storefile_close(&sf);
    if (rc != 0) {
        fprintf(stderr, "kmsctl: backup failed: %s\n", err);
        return EXIT_FAIL;
    }
    /* What the copy itself holds (the manifest counted just before the copy). */
    storefile *copy = storefile_open(dest, NULL, err, sizeof err);
    if (!copy || storefile_stats(copy, &records, NULL) != 0) {
        fprintf(stderr, "kmsctl: the copy in %s does not read back: %s\n", dest, copy ? "read error" : err);
        storefile_close(&copy);
        return EXIT_FAIL;
    }
    storefile_close(&copy);
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dest);
    struct stat st;
    long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : 0;
    double ms = clock_mono_ms() - t0;
    if (json) {
        printf("{\"ok\":true,\"source\":");
        json_t *s1 = json_string(data_dir), *s2 = json_string(dest);
        char *a = json_dumps(s1, JSON_ENCODE_ANY), *b = json_dumps(s2, JSON_ENCODE_ANY);
        printf("%s,\"dest\":%s,\"records\":%" PRIu64 ",\"bytes\":%lld,\"elapsed_ms\":%.1f}\n", a ? a : "null",
               b ? b : "null", records, bytes, ms);
        free(a);
        free(b);
        json_decref(s1);
        json_decref(s2);
    } else {
        printf("Backed up %" PRIu64 " client records from %s to %s (%.1f MiB, %.0f ms)\n", records, data_dir, dest,
               (double)bytes / 1048576.0, ms);
        printf("Restore on a stopped node with: kmsctl restore --data-dir DIR %s\n", dest);
    }
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

int ctlops_restore(int argc, char **argv)
{
    const char *data_dir = NULL, *backup = NULL;
    bool force = false, json = false;
    ctlargs o = {.argc = argc, .argv = argv};
    const char *arg;
    while ((arg = ctlargs_next(&o))) {
        if (ctlargs_is(&o, "--help") || ctlargs_is(&o, "-h")) {
            fputs(restore_usage, stdout);
            return 0;
        } else if (ctlargs_is(&o, "--data-dir")) {
            if (!(data_dir = ctlargs_value(&o))) return EXIT_USAGE;
        } else if (ctlargs_is(&o, "--force")) {
            if (!ctlargs_flag(&o)) return EXIT_USAGE;
            force = true;
        } else if (ctlargs_is(&o, "--json")) {
            if (!ctlargs_flag(&o)) return EXIT_USAGE;
            json = true;
        } else if (!o.name && !backup) {
            backup = arg;
        } else {
            ctlargs_usage_error("restore: unexpected argument '%s'", arg);
            return EXIT_USAGE;
        }
    }
    if (!data_dir || !backup) {
        ctlargs_usage_error("restore: needs BACKUP (a kmsctl backup directory) and --data-dir DIR (the node's store)");
        return EXIT_USAGE;
    }
    char err[600];
    uint64_t records = 0;
    int rrc = storefile_restore(backup, data_dir, force, &records, err, sizeof err);
    if (rrc != 0) {
        fprintf(stderr, "kmsctl: restore refused: %s\n", err);
        return rrc == KMS_EDAMAGED ? STORE_EXIT_DAMAGED : EXIT_FAIL;
    }
    if (json)
        printf("{\"ok\":true,\"records\":%" PRIu64 "}\n", records);
    else
        printf("Restored %" PRIu64 " client records into %s. Start the node: it catches up from its peers "
               "(and resumes its replication origin once every peer is heard).\n", records, data_dir);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}
