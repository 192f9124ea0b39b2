/* ctlhealth.c: kmsctl report and kmsctl preflight (see ctlhealth.h). `report` prints a
 * node's GET /report (computed from its copy of the replicated records: cluster-wide).
 * `preflight` asks the node at --admin for the cluster, then every node for its status,
 * probes every KMS port with an RPC bind (no activation, nothing counted), reads the
 * report and the DNS check, and prints one line per check. */
#include "ops/kmsctl/ctlhealth.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node/config.h"
#include "ops/kmsctl/client.h"
#include "ops/kmsctl/ctladmin.h"
#include "ops/kmsctl/ctlargs.h"
#include "ops/kmsctl/httpc.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define DEFAULT_ADMIN "127.0.0.1:8688"
#define DAY_MS (86400.0 * 1000)

static const char *js(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static long long ji(json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Local date and time with the zone ("2026-12-06 16:05 JST"). */
static const char *local_when(long long ms, char out[48])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!ms || !localtime_r(&t, &tm)) {
        snprintf(out, 48, "-");
        return out;
    }
    strftime(out, 48, "%Y-%m-%d %H:%M %Z", &tm);
    return out;
}

static bool parse_int_opt(ctlargs *o, const char *cmd, long long min, long long max, long long *out)
{
    const char *v = ctlargs_value(o);
    if (!v) return false;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        ctlargs_usage_error("%s: %s: '%s' is not a number from %lld to %lld", cmd, o->name, v, min, max);
        return false;
    }
    *out = n;
    return true;
}

/* ------------------------------------------------------------------ report */

static const char report_usage[] =
    "usage: kmsctl report [--admin HOST:PORT] [--json] [--timeout MS]\n"
    "  The activation health report, computed by the node at --admin from its copy of the\n"
    "  replicated client records (so for the whole cluster):\n"
    "  - below threshold: clients whose last answer had a count below their N (not activated);\n"
    "  - at risk: clients that stop working within [report] at_risk_days unless they activate\n"
    "    (in grace, unlicensed, or little time left in their licence state);\n"
    "  - cloned: client machine IDs seen with more than one workstation name (images copied\n"
    "    without sysprep /generalize: a room of them counts as one client);\n"
    "  - forecast: each application's count day by day if no client comes back, and when it\n"
    "    falls below the largest N;\n"
    "  - unknown products: KMS counted IDs not in the product table that clients count with;\n"
    "  - rooms: the same per room ([report] room_pattern, or the address /24 or /64).\n"
    "  --json                  the node's JSON as it is (GET /report)\n"
    "  --admin HOST:PORT       the node's admin address (default " DEFAULT_ADMIN ")\n"
    "  --timeout MS            for the node's answer (default 30000)\n";

static void print_list(json_t *rep, const char *key, const char *title)
{
    json_t *sec = json_object_get(rep, key);
    json_t *cl = json_object_get(sec, "clients");
    long long total = ji(sec, "total");
    printf("\n%s: %lld%s\n", title, total,
           (size_t)total > json_array_size(cl) ? " (the most recent listed; kmsctl clients lists them all)" : "");
    if (!json_array_size(cl)) return;
    bool risk = !strcmp(key, "at_risk"), cloned = !strcmp(key, "cloned");
    if (cloned)
        printf("  %-36s  %-10s  %-22s  %s\n", "CMID", "APP", "FIRST SEEN", "WORKSTATIONS (address, last seen)");
    else
        printf("  %-22s  %-10s  %-20s  %-15s  %-9s  %-18s  %s\n", "LAST SEEN", "APP", "WORKSTATION", "ADDRESS",
               "COUNT/N", "ROOM", risk ? "WHY / STOPS" : "STATUS");
    size_t i;
    json_t *r;
    json_array_foreach(cl, i, r) {
        char w1[48], w2[48];
        if (cloned) {
            printf("  %-36s  %-10s  %-22s ", js(r, "cmid"), js(r, "application"), local_when(ji(r, "first_seen_ms"), w1));
            size_t k;
            json_t *nm;
            json_array_foreach(json_object_get(r, "names"), k, nm)
                printf("%s%s (%s, %s)", k ? "; " : " ", js(nm, "workstation"), js(nm, "address"),
                       local_when(ji(nm, "last_seen_ms"), w2));
            putchar('\n');
            continue;
        }
        char cn[24];
        snprintf(cn, sizeof cn, "%lld/%lld", ji(r, "count"), ji(r, "n_policy"));
        printf("  %-22s  %-10s  %-20s  %-15s  %-9s  %-18s  ", local_when(ji(r, "last_seen_ms"), w1),
               js(r, "application"), js(r, "workstation"), js(r, "address"), cn, js(r, "room"));
        if (risk) {
            printf("%s", js(r, "reason"));
            if (json_is_integer(json_object_get(r, "stops_ms")))
                printf(", stops %s (%.1f days)", local_when(ji(r, "stops_ms"), w2),
                       json_real_value(json_object_get(r, "days_left")));
        } else {
            printf("%s", js(r, "license_status"));
        }
        putchar('\n');
    }
}

static void print_report(json_t *rep)
{
    char w[48];
    printf("Activation health report by %s at %s: %lld client records, %lld counted now\n", js(rep, "node"),
           local_when(ji(rep, "time_ms"), w), ji(rep, "records"), ji(rep, "live"));
    json_t *apps = json_object_get(rep, "applications");
    printf("\n  %-12s %6s %5s %6s %9s %8s %7s\n", "APPLICATION", "COUNT", "N", "LIVE", "BELOW N", "AT RISK", "CLONED");
    const char *name;
    json_t *a;
    json_object_foreach(apps, name, a)
        printf("  %-12s %6lld %5lld %6lld %9lld %8lld %7lld\n", name, ji(a, "count"), ji(a, "max_n"), ji(a, "live"),
               ji(a, "below_threshold"), ji(a, "at_risk"), ji(a, "cloned"));
    print_list(rep, "below_threshold", "Below threshold (answered, not activated)");
    print_list(rep, "at_risk", "At risk");
    print_list(rep, "cloned", "Cloned client machine IDs");
    json_t *fc = json_object_get(rep, "forecast");
    printf("\nForecast if no client comes back:\n");
    if (!json_array_size(fc)) printf("  (no clients counted)\n");
    size_t i;
    json_t *f;
    json_array_foreach(fc, i, f) {
        json_t *days = json_object_get(f, "days");
        printf("  %-12s count %lld now", js(f, "application"), ji(f, "count"));
        static const int at[] = {7, 14, 30, 45};
        for (size_t k = 0; k < sizeof at / sizeof at[0]; k++)
            printf(", %lld in %d d", ji(json_array_get(days, (size_t)at[k]), "count"), at[k]);
        json_t *b = json_object_get(f, "below_n");
        if (json_is_true(json_object_get(b, "already")))
            printf("; ALREADY below N %lld\n", ji(f, "max_n"));
        else if (json_is_object(b))
            printf("; below N %lld from %s (in %.1f days)\n", ji(f, "max_n"), local_when(ji(b, "at_ms"), w),
                   json_real_value(json_object_get(b, "in_days")));
        else
            putchar('\n');
    }
    json_t *un = json_object_get(json_object_get(rep, "unknown_products"), "ids");
    printf("\nUnknown products (KMS counted IDs not in the product table) with clients counted: %zu%s\n",
           json_array_size(un), ji(json_object_get(rep, "unknown_products"), "other_clients") ? " and more" : "");
    json_t *u;
    json_array_foreach(un, i, u)
        printf("  %-36s  %-10s  %lld clients, last seen %s\n", js(u, "kms_id"), js(u, "application"), ji(u, "live"),
               local_when(ji(u, "last_seen_ms"), w));
    json_t *rooms = json_object_get(rep, "rooms");
    printf("\nRooms (%lld, by %s):\n", ji(rep, "rooms_total"), js(json_object_get(rep, "settings"), "rooms_by"));
    if (json_array_size(rooms))
        printf("  %-24s %6s %9s %8s %7s  %s\n", "ROOM", "LIVE", "BELOW N", "AT RISK", "CLONED", "LAST ACTIVITY");
    json_t *ro;
    json_array_foreach(rooms, i, ro)
        printf("  %-24s %6lld %9lld %8lld %7lld  %s\n", js(ro, "room"), ji(ro, "live"), ji(ro, "below_threshold"),
               ji(ro, "at_risk"), ji(ro, "cloned"), local_when(ji(ro, "last_activity_ms"), w));
}

int ctlhealth_report(int argc, char **argv)
{
    const char *admin = DEFAULT_ADMIN;
    bool json = false;
    long long timeout = 30000;
    ctlargs o = {.argc = argc, .argv = argv};
    const char *arg;
    while ((arg = ctlargs_next(&o))) {
        if (ctlargs_is(&o, "--help") || ctlargs_is(&o, "-h")) {
            fputs(report_usage, stdout);
            return 0;
        } else if (ctlargs_is(&o, "--admin")) {
            if (!(admin = ctlargs_value(&o))) return EXIT_USAGE;
        } else if (ctlargs_is(&o, "--json")) {
            if (!ctlargs_flag(&o)) return EXIT_USAGE;
            json = true;
        } else if (ctlargs_is(&o, "--timeout")) {
            if (!parse_int_opt(&o, "report", 1, 3600000, &timeout)) return EXIT_USAGE;
        } else {
            ctlargs_usage_error("report: unexpected argument '%s'", arg);
            return EXIT_USAGE;
        }
    }
    json_t *rep = ctladmin_request("GET", admin, "/report", (int)timeout);
    if (!rep) return EXIT_FAIL;
    if (json) {
        char *t = json_dumps(rep, JSON_INDENT(2));
        if (t) puts(t);
        free(t);
    } else {
        print_report(rep);
    }
    json_decref(rep);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

/* ------------------------------------------------------------------ preflight */

static const char preflight_usage[] =
    "usage: kmsctl preflight [--admin HOST:PORT] [--days N] [--max-skew-ms MS] [--disk DIR]\n"
    "                        [--disk-p99-ms MS] [--json] [--timeout MS]\n"
    "  The checks to run the week before term, against the whole cluster the node at --admin\n"
    "  belongs to. One line per check, PASS, WARN or FAIL; exit status 1 when any FAILs.\n"
    "  nodes      every node answers, serves (is not catching up) and is caught up with its peers\n"
    "  clocks     every node's clock agrees with this machine's within --max-skew-ms (2000)\n"
    "  counts     every node's count of each application is at least its largest N now,\n"
    "             and the forecast keeps it there for --days days (14)\n"
    "  dns        the DNS check (kmsctl dns check): SRV records as they should be\n"
    "  kms        every node's KMS port completes an RPC bind (no activation: nothing counted)\n"
    "  clients    no client answered below its threshold, and no cloned client machine ID,\n"
    "             in the last day\n"
    "  disk       with --disk DIR: kmsbench-disk's commit p99 in DIR under --disk-p99-ms (20)\n"
    "  --json     one JSON object: {\"ok\":..., \"checks\":[{\"check\",\"result\",\"detail\"}]}\n";

typedef struct checks {
    json_t *list;
    int fails, warns;
    bool json;
} checks;

static void check_line(checks *c, const char *check, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check_line(checks *c, const char *check, const char *result, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (!strcmp(result, "FAIL")) c->fails++;
    if (!strcmp(result, "WARN")) c->warns++;
    json_array_append_new(c->list, json_pack("{s:s,s:s,s:s}", "check", check, "result", result, "detail", detail));
    if (!c->json) printf("%-4s  %-8s %s\n", result, check, detail);
}

/* GET path from admin without printing errors; NULL with a reason in why. */
static json_t *quiet_get(const char *admin, const char *path, int timeout_ms, int64_t *t0, int64_t *t1,
                         char *why, size_t whylen)
{
    config_addr a;
    if (config_parse_addr(admin, 8688, &a) != 0 || a.port == 0) {
        snprintf(why, whylen, "'%s' is not an admin address", admin);
        return NULL;
    }
    int status = 0;
    char *body = NULL, err[256];
    size_t len = 0;
    if (t0) *t0 = wall_ms();
    int rc = httpc_request("GET", a.host, a.port, path, ctladmin_token(), timeout_ms, &status, &body, &len, err, sizeof err);
    if (t1) *t1 = wall_ms();
    if (rc != 0) {
        snprintf(why, whylen, "not answering at %s: %s", admin, err);
        return NULL;
    }
    json_t *j = json_loadb(body, len, 0, NULL);
    free(body);
    if (status != 200 || !j) {
        snprintf(why, whylen, "%s%s answered HTTP %d%s", admin, path, status, j ? "" : " (not JSON)");
        json_decref(j);
        return NULL;
    }
    return j;
}

typedef struct pnode {
    char id[64], admin[300], kms[300];
    json_t *status;   /* NULL: not answering */
    char why[300];
    int64_t t0, t1;   /* this machine's clock around the request */
} pnode;

/* The KMS port answers an RPC bind. */
static bool probe_kms(const char *addr, int timeout_ms, char *why, size_t whylen)
{
    config_addr a;
    if (config_parse_addr(addr, 1688, &a) != 0 || !a.port) {
        snprintf(why, whylen, "'%s' is not a KMS address", addr);
        return false;
    }
    client_result res;
    if (client_probe(a.host, a.port, timeout_ms, &res) != 0) {
        snprintf(why, whylen, "%s", res.message);
        return false;
    }
    return true;
}

/* Runs a short kmsbench-disk (next to this kmsctl, else on PATH) in dir, LMDB model; the
 * commit p99 in ms from its table, or < 0 with a reason. */
static double disk_p99(const char *dir, char *why, size_t whylen)
{
    char self[1024], tool[1100];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    self[l > 0 ? l : 0] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(tool, sizeof tool, "%s/kmsbench-disk", self);
    if (!slash || access(tool, X_OK) != 0) snprintf(tool, sizeof tool, "kmsbench-disk");
    if (strchr(dir, '\'') || strchr(tool, '\'')) {
        snprintf(why, whylen, "a path holds a quote");
        return -1;
    }
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "'%s' --dir '%s' --model lmdb --seconds 3 --rate 1000 2>&1", tool, dir);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(why, whylen, "cannot run %.200s", tool);
        return -1;
    }
    char line[512], last[512] = "";
    double v = -1;
    while (fgets(line, sizeof line, p)) {
        snprintf(last, sizeof last, "%s", line);
        char model[16], bar1[4], bar2[4];
        double rate, commits, per, p50, p99;
        if (sscanf(line, "%15s %lf %lf %lf %3s %lf %lf %3s", model, &rate, &commits, &per, bar1, &p50, &p99, bar2) == 8 &&
            !strcmp(model, "lmdb"))
            v = p99;
    }
    int st = pclose(p);
    if (st != 0 || v < 0) {
        last[strcspn(last, "\n")] = 0;
        snprintf(why, whylen, "%.200s gave no commit p99 (exit %d): %.200s", tool, WIFEXITED(st) ? WEXITSTATUS(st) : -1, last);
        return -1;
    }
    return v;
}

int ctlhealth_preflight(int argc, char **argv)
{
    const char *admin = DEFAULT_ADMIN, *disk = NULL;
    long long days = 14, max_skew = 2000, timeout = 10000, disk_bound = 20;
    checks c = {.list = json_array()};
    ctlargs o = {.argc = argc, .argv = argv};
    const char *arg;
    while ((arg = ctlargs_next(&o))) {
        if (ctlargs_is(&o, "--help") || ctlargs_is(&o, "-h")) {
            fputs(preflight_usage, stdout);
            json_decref(c.list);
            return 0;
        } else if (ctlargs_is(&o, "--admin")) {
            if (!(admin = ctlargs_value(&o))) goto usage;
        } else if (ctlargs_is(&o, "--disk")) {
            if (!(disk = ctlargs_value(&o))) goto usage;
        } else if (ctlargs_is(&o, "--json")) {
            if (!ctlargs_flag(&o)) goto usage;
            c.json = true;
        } else if (ctlargs_is(&o, "--days")) {
            if (!parse_int_opt(&o, "preflight", 0, 45, &days)) goto usage;
        } else if (ctlargs_is(&o, "--max-skew-ms")) {
            if (!parse_int_opt(&o, "preflight", 1, 86400000, &max_skew)) goto usage;
        } else if (ctlargs_is(&o, "--disk-p99-ms")) {
            if (!parse_int_opt(&o, "preflight", 1, 100000, &disk_bound)) goto usage;
        } else if (ctlargs_is(&o, "--timeout")) {
            if (!parse_int_opt(&o, "preflight", 1, 3600000, &timeout)) goto usage;
        } else {
            ctlargs_usage_error("preflight: unexpected argument '%s'", arg);
            goto usage;
        }
    }

    /* The cluster as the node at --admin knows it. */
    char why[512];
    json_t *first = quiet_get(admin, "/status", (int)timeout, NULL, NULL, why, sizeof why);
    if (!first) {
        check_line(&c, "nodes", "FAIL", "%s", why);
        goto done;
    }
    json_t *peers = json_object_get(json_object_get(first, "cluster"), "peers");
    size_t np = json_array_size(peers) ? json_array_size(peers) : 1;
    pnode *nodes = calloc(np, sizeof *nodes);
    if (!nodes) {
        json_decref(first);
        json_decref(c.list);
        fprintf(stderr, "kmsctl: out of memory\n");
        return EXIT_FAIL;
    }
    if (!json_array_size(peers)) { /* a single node */
        snprintf(nodes[0].id, sizeof nodes[0].id, "%s", js(first, "node"));
        snprintf(nodes[0].admin, sizeof nodes[0].admin, "%s", admin);
        snprintf(nodes[0].kms, sizeof nodes[0].kms, "%s", json_string_value(json_array_get(json_object_get(first, "listen"), 0)) ?: "");
    }
    for (size_t i = 0; i < json_array_size(peers); i++) {
        json_t *p = json_array_get(peers, i);
        snprintf(nodes[i].id, sizeof nodes[i].id, "%s", js(p, "id"));
        snprintf(nodes[i].admin, sizeof nodes[i].admin, "%s", json_is_true(json_object_get(p, "self")) ? admin : js(p, "admin"));
        snprintf(nodes[i].kms, sizeof nodes[i].kms, "%s", js(p, "kms"));
    }
    json_decref(first);

    /* nodes: answering, caught up, ready. */
    int down = 0, behind = 0;
    for (size_t i = 0; i < np; i++) {
        pnode *n = &nodes[i];
        if (!n->admin[0]) {
            snprintf(n->why, sizeof n->why, "no admin address configured");
        } else {
            n->status = quiet_get(n->admin, "/status", (int)timeout, &n->t0, &n->t1, n->why, sizeof n->why);
        }
        if (!n->status) {
            check_line(&c, "nodes", "FAIL", "%s: %s", n->id, n->why);
            down++;
            continue;
        }
        /* Readiness (/status "serving"): syncing = refusing clients while it catches up. */
        json_t *serving = json_object_get(n->status, "serving");
        const char *state = js(serving, "state");
        if (!strcmp(state, "syncing")) {
            check_line(&c, "nodes", "FAIL", "%s: not serving KMS clients yet (%s)", n->id,
                       js(serving, "reason")[0] ? js(serving, "reason") : "catching up with its peers");
            down++;
            continue;
        }
        if (!strcmp(state, "alone"))
            check_line(&c, "nodes", "WARN", "%s: serving with no live peer (%s)", n->id, js(serving, "reason"));
        json_t *pp = json_object_get(json_object_get(n->status, "cluster"), "peers");
        for (size_t k = 0; k < json_array_size(pp); k++) {
            json_t *p = json_array_get(pp, k);
            if (json_is_true(json_object_get(p, "self"))) continue;
            if (!json_is_true(json_object_get(p, "alive"))) {
                check_line(&c, "nodes", "FAIL", "%s: hears no heartbeats from %s (dead, or the replication link is cut)",
                           n->id, js(p, "id"));
                behind++;
                continue;
            }
            if (ji(p, "lag_updates") > 0) {
                check_line(&c, "nodes", "FAIL", "%s: behind %s by %lld updates (%lld ms)", n->id, js(p, "id"),
                           ji(p, "lag_updates"), ji(p, "lag_ms"));
                behind++;
            }
        }
    }
    if (!down && !behind)
        check_line(&c, "nodes", "PASS", "%zu node%s answering, caught up%s", np, np == 1 ? "" : "s",
                   np > 1 ? " with each other" : "");

    /* clocks: each node's time_ms against this machine's clock around its answer. */
    int skewed = 0;
    long long worst = 0;
    for (size_t i = 0; i < np; i++) {
        pnode *n = &nodes[i];
        if (!n->status) continue;
        long long t = ji(n->status, "time_ms");
        long long off = t < n->t0 ? t - n->t0 : t > n->t1 ? t - n->t1 : 0;
        if (llabs(off) > llabs(worst)) worst = off;
        if (llabs(off) > max_skew) {
            check_line(&c, "clocks", "FAIL", "%s: clock off by %+.1f s from this machine's", n->id, off / 1000.0);
            skewed++;
        }
    }
    if (!skewed)
        check_line(&c, "clocks", "PASS", "node clocks within %lld ms of this machine's (largest offset %+lld ms)",
                   max_skew, worst);

    /* counts: every node now, and the forecast. */
    int low = 0;
    json_t *rep = NULL;
    for (size_t i = 0; i < np; i++) {
        pnode *n = &nodes[i];
        if (!n->status) continue;
        const char *app;
        json_t *cnt;
        json_object_foreach(json_object_get(n->status, "counts"), app, cnt) {
            if (ji(cnt, "live_clients") == 0) continue;
            if (ji(cnt, "count") < ji(cnt, "max_n")) {
                check_line(&c, "counts", "FAIL", "%s: %s count %lld is below N %lld: clients are not activated", n->id,
                           app, ji(cnt, "count"), ji(cnt, "max_n"));
                low++;
            }
        }
        if (!rep) rep = quiet_get(n->admin, "/report", (int)timeout, NULL, NULL, why, sizeof why);
    }
    if (!rep) {
        check_line(&c, "counts", "FAIL", "no node answered GET /report: %s", why);
        low++;
    } else {
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(rep, "forecast"), i, f) {
            json_t *b = json_object_get(f, "below_n");
            if (!json_is_object(b) || json_is_true(json_object_get(b, "already"))) continue; /* reported above */
            double in = json_real_value(json_object_get(b, "in_days"));
            if (in < (double)days) {
                char w[48];
                check_line(&c, "counts", "FAIL", "%s count falls below N %lld on %s (in %.1f days) unless clients come back",
                           js(f, "application"), ji(f, "max_n"), local_when(ji(b, "at_ms"), w), in);
                low++;
            }
        }
    }
    if (!low) check_line(&c, "counts", "PASS", "every application's count is at least its N now and for %lld days", days);

    /* dns: the DNS check of the node at --admin. */
    json_t *dns = quiet_get(admin, "/dns", (int)timeout, NULL, NULL, why, sizeof why);
    if (!dns) {
        check_line(&c, "dns", "FAIL", "%s", why);
    } else if (!json_is_true(json_object_get(dns, "enabled"))) {
        check_line(&c, "dns", "WARN", "DNS publishing is off (no [dns] server): clients need slmgr /skms");
    } else {
        json_decref(dns);
        dns = NULL;
        /* kmsctl dns check decides (it asks a drained node whether it is): run it quietly. */
        char self_path[1024];
        ssize_t l = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
        self_path[l > 0 ? l : 0] = 0;
        char cmd[1500];
        snprintf(cmd, sizeof cmd, "'%s' dns check --admin '%s' >/dev/null 2>&1", l > 0 ? self_path : "kmsctl", admin);
        int st = strchr(admin, '\'') ? -1 : system(cmd);
        if (st == 0) check_line(&c, "dns", "PASS", "SRV records as they should be (kmsctl dns check)");
        else check_line(&c, "dns", "FAIL", "SRV records differ from what should be published: run kmsctl dns check --admin %s", admin);
    }
    json_decref(dns);

    /* kms: a bind on every node's KMS port. */
    int dead = 0;
    for (size_t i = 0; i < np; i++) {
        if (!nodes[i].kms[0]) continue;
        if (!probe_kms(nodes[i].kms, 5000, why, sizeof why)) {
            check_line(&c, "kms", "FAIL", "%s: KMS port %s: %s", nodes[i].id, nodes[i].kms, why);
            dead++;
        }
    }
    if (!dead) check_line(&c, "kms", "PASS", "every node's KMS port completes an RPC bind");

    /* clients: below threshold or cloned in the last day. */
    if (rep) {
        long long now = ji(rep, "time_ms"), below = 0, cloned = 0;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(json_object_get(rep, "below_threshold"), "clients"), i, r)
            if (ji(r, "last_seen_ms") >= now - (long long)DAY_MS) below++;
        json_array_foreach(json_object_get(json_object_get(rep, "cloned"), "clients"), i, r) {
            size_t k;
            json_t *nm;
            int recent = 0;
            json_array_foreach(json_object_get(r, "names"), k, nm) recent += ji(nm, "last_seen_ms") >= now - (long long)DAY_MS;
            if (recent) cloned++;
        }
        if (below)
            check_line(&c, "clients", "FAIL", "%lld client%s answered below threshold in the last day (kmsctl report)", below,
                       below == 1 ? "" : "s");
        if (cloned)
            check_line(&c, "clients", "FAIL", "%lld cloned client machine ID%s seen in the last day (kmsctl report)", cloned,
                       cloned == 1 ? "" : "s");
        if (!below && !cloned) check_line(&c, "clients", "PASS", "no client below threshold and no cloned client ID in the last day");
        json_decref(rep);
    }

    if (disk) {
        double p99 = disk_p99(disk, why, sizeof why);
        if (p99 < 0) check_line(&c, "disk", "FAIL", "%s", why);
        else check_line(&c, "disk", p99 <= (double)disk_bound ? "PASS" : "FAIL", "commit p99 %.2f ms in %s (bound %lld ms)",
                        p99, disk, disk_bound);
    }
    for (size_t i = 0; i < np; i++) json_decref(nodes[i].status);
    free(nodes);

done:
    if (c.json) {
        json_t *out = json_pack("{s:b,s:i,s:i,s:O}", "ok", c.fails == 0, "fails", c.fails, "warnings", c.warns, "checks", c.list);
        char *t = json_dumps(out, JSON_INDENT(2));
        if (t) puts(t);
        free(t);
        json_decref(out);
    } else {
        printf("%s: %d failed, %d warning%s\n", c.fails ? "PREFLIGHT FAILED" : "preflight passed", c.fails, c.warns,
               c.warns == 1 ? "" : "s");
    }
    json_decref(c.list);
    fflush(stdout);
    return c.fails ? EXIT_FAIL : 0;
usage:
    json_decref(c.list);
    return EXIT_USAGE;
}
