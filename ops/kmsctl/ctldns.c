/* ctldns.c: kmsctl drain / undrain / dns check and the SRV discovery of activate --srv
 * (ctldns.h). Talks to admin addresses with the blocking httpc client and to DNS with
 * srvlookup (c-ares against the one server given). */
#include "ops/kmsctl/ctldns.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"
#include "ops/kmsctl/ctladmin.h"
#include "ops/kmsctl/ctlnode.h"
#include "ops/kmsctl/httpc.h"
#include "ops/kmsctl/srvlookup.h"
#include "proto/dnsmsg.h"
#include "proto/errors.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define DEFAULT_ADMIN "127.0.0.1:8688"
#define MAX_SRV 64

static void usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs("kmsctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
}

/* METHOD path on an admin address; returns the JSON answer or NULL (message printed). */
static json_t *admin_json(const char *method, const char *admin, const char *path, int timeout_ms)
{
    return ctladmin_request(method, admin, path, timeout_ms);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* The admin address of node id, from the local node's /status (itself or a peer). Returns
 * a malloc'ed string or NULL (message printed). */
static char *find_admin(const char *local, const char *id, int timeout_ms)
{
    json_t *st = admin_json("GET", local, "/status", timeout_ms);
    if (!st) return NULL;
    char *found = NULL;
    bool known = false;
    if (!strcmp(jstr(st, "node"), id)) { found = strdup(local); known = true; }
    json_t *peers = json_object_get(json_object_get(st, "cluster"), "peers");
    for (size_t i = 0; !known && i < json_array_size(peers); i++) {
        json_t *p = json_array_get(peers, i);
        if (strcmp(jstr(p, "id"), id) != 0) continue;
        known = true;
        if (json_is_true(json_object_get(p, "self"))) found = strdup(local);
        else if (jstr(p, "admin")[0]) found = strdup(jstr(p, "admin"));
        else fprintf(stderr, "kmsctl: node %s has no admin address in the cluster configuration\n", id);
    }
    if (!known) {
        fprintf(stderr, "kmsctl: no node '%s' in the cluster of %s (%s); nodes:", id, jstr(st, "node"), local);
        if (!json_array_size(peers)) fprintf(stderr, " %s", jstr(st, "node"));
        for (size_t i = 0; i < json_array_size(peers); i++) fprintf(stderr, " %s", jstr(json_array_get(peers, i), "id"));
        fputc('\n', stderr);
    }
    json_decref(st);
    return found;
}

/* ---- drain / undrain ------------------------------------------------------------------------ */

static const char drain_usage[] =
    "usage: kmsctl drain [--admin HOST:PORT] [--json] NODE\n"
    "       kmsctl undrain [--admin HOST:PORT] [--json] NODE\n"
    "  drain withdraws NODE's DNS SRV records (before maintenance) while it keeps answering\n"
    "  KMS requests; undrain publishes them again. The state survives a restart of NODE\n"
    "  (DATA_DIR/drained). NODE's admin address is found through the node at --admin\n"
    "  (default " DEFAULT_ADMIN ").\n";

static int drain(int argc, char **argv, bool on)
{
    const char *admin = NULL, *id = NULL; /* NULL: ctlnode_admin() */
    bool json = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(drain_usage, stdout); return 0; }
        if (!strcmp(a, "--admin") || !strncmp(a, "--admin=", 8)) {
            if (a[7] == '=') admin = a + 8;
            else if (i + 1 < argc) admin = argv[++i];
            else { usage_error(drain_usage, "%s needs HOST:PORT", a); return EXIT_USAGE; }
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-') {
            usage_error(drain_usage, "unknown option %s", a);
            return EXIT_USAGE;
        } else if (!id) {
            id = a;
        } else {
            usage_error(drain_usage, "unexpected argument '%s' (one NODE)", a);
            return EXIT_USAGE;
        }
    }
    if (!id) { usage_error(drain_usage, "%s: NODE (a node id) is required", on ? "drain" : "undrain"); return EXIT_USAGE; }
    if (!admin && !(admin = ctlnode_admin())) return EXIT_FAIL;
    char *target = find_admin(admin, id, 3000);
    if (!target) return EXIT_FAIL;
    json_t *r = admin_json("POST", target, on ? "/drain" : "/undrain", 5000);
    if (!r) { free(target); return EXIT_FAIL; }
    if (json) {
        char *t = json_dumps(r, JSON_INDENT(2));
        puts(t);
        free(t);
    } else {
        const char *dns = jstr(r, "dns");
        printf("%s (%s): %s; %s\n", id, target, on ? "drained" : "undrained",
               !strcmp(dns, "off") ? "DNS publishing is off on that node"
               : on ? "its DNS records are being withdrawn while it keeps answering (kmsctl dns check shows them)"
                    : "its DNS records are being published again (kmsctl dns check shows them)");
    }
    json_decref(r);
    free(target);
    return 0;
}

int ctldns_drain(int argc, char **argv) { return drain(argc, argv, true); }
int ctldns_undrain(int argc, char **argv) { return drain(argc, argv, false); }

/* ---- dns check ------------------------------------------------------------------------------- */

static const char dns_usage[] =
    "usage: kmsctl dns check [--admin HOST:PORT] [--json] [--timeout MS]\n"
    "  Asks the node at --admin (default " DEFAULT_ADMIN ") to look up every zone of its [dns]\n"
    "  section on the DNS server and compares what is published with what should be: each\n"
    "  live node's SRV record (priority, weight, port, target) and address record, no\n"
    "  records of nodes withdrawn or drained, the order clients try the nodes in (in a\n"
    "  ZONE:SITE zone the site's nodes first), and no record of a name that is no node of\n"
    "  the cluster (a removed node's leftover). Exit status 1 when something differs or\n"
    "  the look-up fails.\n";

/* Is node id drained? Asks its admin address (found in the local /status). -1 unknown. */
static int peer_drained(json_t *local_status, const char *id, int timeout_ms)
{
    json_t *peers = json_object_get(json_object_get(local_status, "cluster"), "peers");
    for (size_t i = 0; i < json_array_size(peers); i++) {
        json_t *p = json_array_get(peers, i);
        if (strcmp(jstr(p, "id"), id) != 0 || !jstr(p, "admin")[0]) continue;
        json_t *st = admin_json("GET", jstr(p, "admin"), "/status", timeout_ms);
        if (!st) return -1;
        json_t *dr = json_object_get(json_object_get(st, "dns"), "drained");
        int r = json_is_boolean(dr) ? json_is_true(dr) : -1;
        json_decref(st);
        return r;
    }
    return -1;
}

static void print_srv(json_t *s)
{
    printf("%5lld %5lld %5lld %-32s", (long long)json_integer_value(json_object_get(s, "priority")),
           (long long)json_integer_value(json_object_get(s, "weight")),
           (long long)json_integer_value(json_object_get(s, "port")), jstr(s, "target"));
}

int ctldns_dns(int argc, char **argv)
{
    const char *admin = NULL; /* NULL: ctlnode_admin() */
    bool json = false;
    int timeout = 10000;
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
        fputs(dns_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[0], "check") != 0) { usage_error(dns_usage, "dns: unknown action '%s' (check)", argv[0]); return EXIT_USAGE; }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(dns_usage, stdout); return 0; }
        if (!strcmp(a, "--admin") || !strncmp(a, "--admin=", 8)) {
            if (a[7] == '=') admin = a + 8;
            else if (i + 1 < argc) admin = argv[++i];
            else { usage_error(dns_usage, "%s needs HOST:PORT", a); return EXIT_USAGE; }
        } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
            timeout = atoi(argv[++i]);
            if (timeout <= 0) { usage_error(dns_usage, "--timeout: '%s' is not milliseconds", argv[i]); return EXIT_USAGE; }
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            usage_error(dns_usage, "dns check: unexpected argument '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (!admin && !(admin = ctlnode_admin())) return EXIT_FAIL;
    json_t *check = admin_json("GET", admin, "/dns", timeout);
    if (!check) return EXIT_FAIL;
    json_t *local = NULL;
    bool ok = jstr(check, "error")[0] == 0;
    json_t *zones = json_object_get(check, "zones");
    /* Another node's missing record is right when that node is drained: ask it. */
    json_t *drained = json_object();
    for (size_t z = 0; z < json_array_size(zones); z++) {
        json_t *zo = json_array_get(zones, z);
        /* A record of no node of the cluster, or the nodes in another order than intended. */
        if (json_integer_value(json_object_get(zo, "unknown_records")) > 0 || json_is_false(json_object_get(zo, "order_ok")))
            ok = false;
        json_t *peers = json_object_get(zo, "peers");
        for (size_t i = 0; i < json_array_size(peers); i++) {
            json_t *p = json_array_get(peers, i);
            if (json_is_true(json_object_get(p, "ok"))) continue;
            const char *id = jstr(p, "id");
            if (json_is_null(json_object_get(p, "drained")) && !strcmp(jstr(p, "expect"), "present") &&
                json_integer_value(json_object_get(p, "found")) + json_integer_value(json_object_get(p, "stale")) == 0) {
                json_t *known = json_object_get(drained, id);
                if (!known) {
                    if (!local) local = admin_json("GET", admin, "/status", 3000);
                    int d = local ? peer_drained(local, id, 3000) : -1;
                    known = d < 0 ? json_null() : json_boolean(d);
                    json_object_set_new(drained, id, known);
                }
                if (json_is_true(known)) {
                    json_object_set_new(p, "drained", json_true());
                    json_object_set_new(p, "expect", json_string("absent"));
                    json_object_set_new(p, "ok", json_true());
                    continue;
                }
            }
            ok = false;
        }
    }
    json_object_set_new(check, "ok", json_boolean(ok));
    if (json) {
        char *t = json_dumps(check, JSON_INDENT(2));
        puts(t);
        free(t);
    } else if (!json_is_true(json_object_get(check, "enabled"))) {
        printf("DNS publishing is off on %s (no [dns] server)\n", jstr(check, "node"));
    } else {
        printf("DNS check by %s against %s\n", jstr(check, "node"), jstr(check, "server"));
        if (jstr(check, "error")[0]) printf("  look-up failed: %s\n", jstr(check, "error"));
        for (size_t z = 0; z < json_array_size(zones); z++) {
            json_t *zo = json_array_get(zones, z);
            printf("zone %s%s%s%s\n", jstr(zo, "zone"), jstr(zo, "site")[0] ? " (site " : "", jstr(zo, "site"),
                   jstr(zo, "site")[0] ? ")" : "");
            printf("  %-16s %-8s %5s %5s %5s %-32s %s\n", "NODE", "EXPECT", "PRIO", "WEIGHT", "PORT", "TARGET", "STATE");
            json_t *peers = json_object_get(zo, "peers");
            for (size_t i = 0; i < json_array_size(peers); i++) {
                json_t *p = json_array_get(peers, i);
                const char *expect = jstr(p, "expect");
                printf("  %-16s %-8s ", jstr(p, "id"), expect);
                print_srv(json_object_get(p, "should"));
                long long found = json_integer_value(json_object_get(p, "found"));
                long long stale = json_integer_value(json_object_get(p, "stale"));
                bool pok = json_is_true(json_object_get(p, "ok"));
                const char *why = pok ? (json_is_true(json_object_get(p, "drained")) ? "ok (drained)"
                                        : !strcmp(expect, "either") ? "ok (dead, not yet withdrawn)" : "ok")
                                : !strcmp(expect, "absent") ? "STILL PUBLISHED"
                                : stale ? "WRONG VALUES" : found ? "WRONG ADDRESS" : "MISSING";
                printf("  %s", why);
                if (json_object_get(p, "dead_s")) printf(" (dead %lld s)", (long long)json_integer_value(json_object_get(p, "dead_s")));
                json_t *addr = json_object_get(p, "address");
                if (addr && !pok && !stale && found) { /* A and AAAA: both families of a dual-stack node */
                    printf(" (%s should be", jstr(addr, "name"));
                    json_t *sh = json_object_get(addr, "should");
                    for (size_t k = 0; k < json_array_size(sh); k++) printf(" %s", json_string_value(json_array_get(sh, k)));
                    printf(", found");
                    json_t *f = json_object_get(addr, "found");
                    for (size_t k = 0; k < json_array_size(f); k++) printf(" %s", json_string_value(json_array_get(f, k)));
                    printf("%s)", json_array_size(f) ? "" : " none");
                }
                putchar('\n');
            }
            json_t *recs = json_object_get(zo, "records");
            for (size_t i = 0; i < json_array_size(recs); i++) {
                json_t *r = json_array_get(recs, i);
                if (!json_is_null(json_object_get(r, "peer"))) continue;
                printf("  %-16s %-8s ", "(no node)", "-");
                print_srv(r);
                printf("  NOT A NODE of this cluster (a removed node's leftover? delete it)\n");
            }
            bool order_ok = json_is_true(json_object_get(zo, "order_ok"));
            printf("  order: %s%s%s%s\n", jstr(zo, "published_order"), order_ok ? " (as intended)" : " WRONG ORDER, intended: ",
                   order_ok ? "" : jstr(zo, "intended_order"),
                   jstr(zo, "site")[0] && order_ok ? "; the site's nodes first" : "");
        }
        printf("%s\n", ok ? "DNS records: as they should be" : "DNS records: DIFFER from what should be published");
    }
    json_decref(drained);
    if (local) json_decref(local);
    json_decref(check);
    return ok ? 0 : EXIT_FAIL;
}

/* ---- SRV discovery ---------------------------------------------------------------------------- */

static uint32_t openssl_rand(void *ctx, uint32_t max)
{
    (void)ctx;
    uint64_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) r = (uint64_t)rand();
    return (uint32_t)(r % ((uint64_t)max + 1)); /* bias below 2^-32 */
}

int ctldns_srv_try(const char *dns_server, const char *name, int timeout_ms,
                   ctldns_attempt_fn attempt, void *ctx)
{
    dnsmsg_srv srv[MAX_SRV];
    char err[512];
    int n = srvlookup_srv(dns_server, name, timeout_ms, srv, MAX_SRV, err, sizeof err);
    if (n == KMS_EINVAL) { fprintf(stderr, "kmsctl: %s\n", err); return EXIT_USAGE; }
    if (n < 0) { fprintf(stderr, "kmsctl: SRV look-up failed: %s\n", err); return EXIT_FAIL; }
    if (n == 0) { fprintf(stderr, "kmsctl: no SRV records for %s at %s\n", name, dns_server); return EXIT_FAIL; }
    dnsmsg_srv_order(srv, (size_t)n, openssl_rand, NULL);
    for (int i = 0; i < n; i++) {
        if (!strcmp(srv[i].target, ".")) continue; /* "service not offered here" */
        char addrs[8][SRVLOOKUP_ADDR_LEN];
        int na = srvlookup_addrs(dns_server, srv[i].target, timeout_ms, addrs, 8, err, sizeof err);
        if (na <= 0) {
            fprintf(stderr, "kmsctl: SRV target %s (priority %u, weight %u): %s; trying the next target\n",
                    srv[i].target, srv[i].priority, srv[i].weight, na < 0 ? err : "no address record");
            continue;
        }
        for (int k = 0; k < na; k++) {
            int rc = attempt(ctx, addrs[k], srv[i].port, srv[i].target);
            if (rc != -1) return rc;
        }
    }
    fprintf(stderr, "kmsctl: none of the %d SRV targets of %s answered\n", n, name);
    return EXIT_FAIL;
}
