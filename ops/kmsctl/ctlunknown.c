/* ctlunknown.c: see ctlunknown.h. */
#include "ops/kmsctl/ctlunknown.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/kmsctl/ctladmin.h"
#include "ops/kmsctl/i18n.h"

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static long long jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

/* "2026-12-06 06:50:01" (UTC) of unix milliseconds. */
static const char *utc_text(long long ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&t, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, cap, "-");
    return out;
}

void ctlunknown_print_status(json_t *status)
{
    json_t *u = json_object_get(status, "unknown_products");
    json_t *ids = json_object_get(u, "ids");
    long long other = jint(u, "other_requests");
    if (!json_array_size(ids) && !other) return;
    printf(_("    KMS counted IDs not in the product table (requests to this node):\n"));
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *e = json_array_get(ids, i);
        char last[32];
        printf(_("        %s  %-12s requests %lld (activated %lld), last %s UTC\n"), jstr(e, "kms_id"),
               jstr(e, "application"), jint(e, "requests"), jint(e, "activated"),
               utc_text(jint(e, "last_seen_ms"), last, sizeof last));
    }
    if (other)
        printf(_("        (%lld requests for further IDs, beyond the %lld this node lists)\n"), other,
               jint(u, "max_tracked"));
}

/* The merged entry of (kms_id, application) in list, or NULL. */
static json_t *find_entry(json_t *list, const char *kms_id, const char *app)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *m = json_array_get(list, i);
        if (strcmp(jstr(m, "kms_id"), kms_id) == 0 && strcmp(jstr(m, "application"), app) == 0) return m;
    }
    return NULL;
}

static void merge_node(json_t *list, json_t *status, long long *other)
{
    json_t *u = json_object_get(status, "unknown_products");
    json_t *ids = json_object_get(u, "ids");
    const char *node = jstr(status, "node");
    *other += jint(u, "other_requests");
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *e = json_array_get(ids, i);
        json_t *m = find_entry(list, jstr(e, "kms_id"), jstr(e, "application"));
        if (!m) {
            m = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:[]}", "kms_id", jstr(e, "kms_id"),
                          "application", jstr(e, "application"), "application_name",
                          jstr(e, "application_name"), "first_seen_ms", (json_int_t)jint(e, "first_seen_ms"),
                          "last_seen_ms", (json_int_t)jint(e, "last_seen_ms"), "requests", (json_int_t)0,
                          "activated", (json_int_t)0, "nodes");
            if (!m) continue;
            json_array_append_new(list, m);
        }
        long long first = jint(e, "first_seen_ms"), last = jint(e, "last_seen_ms");
        if (first < jint(m, "first_seen_ms")) json_object_set_new(m, "first_seen_ms", json_integer(first));
        if (last > jint(m, "last_seen_ms")) json_object_set_new(m, "last_seen_ms", json_integer(last));
        json_object_set_new(m, "requests", json_integer(jint(m, "requests") + jint(e, "requests")));
        json_object_set_new(m, "activated", json_integer(jint(m, "activated") + jint(e, "activated")));
        json_array_append_new(json_object_get(m, "nodes"), json_string(node));
    }
}

int ctlunknown_list(const char *admin, bool cluster, bool json, int timeout_ms)
{
    json_t *unreachable = json_array();
    json_t *nodes = ctladmin_statuses(admin, cluster, timeout_ms, unreachable);
    if (!nodes) {
        json_decref(unreachable);
        return 1;
    }
    json_t *list = json_array(), *asked = json_array();
    long long other = 0;
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *st = json_array_get(nodes, i);
        merge_node(list, st, &other);
        json_array_append_new(asked, json_string(jstr(st, "node")));
    }
    if (json) {
        json_t *out = json_pack("{s:O, s:O, s:O, s:I}", "nodes", asked, "unreachable", unreachable, "ids",
                                list, "other_requests", (json_int_t)other);
        char *t = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
        if (t) puts(t);
        free(t);
        json_decref(out);
    } else {
        printf("KMS counted IDs not in the product table, as requested from");
        for (size_t i = 0; i < json_array_size(asked); i++)
            printf("%s %s", i ? "," : "", json_string_value(json_array_get(asked, i)));
        printf(" (each node since it started):\n");
        if (!json_array_size(list) && !other) {
            printf("none\n");
        } else {
            printf("%-36s  %-12s %9s %9s  %-19s  %-19s  %s\n", "KMS COUNTED ID", "APPLICATION", "REQUESTS",
                   "ACTIVATED", "FIRST SEEN (UTC)", "LAST SEEN (UTC)", "NODES");
            for (size_t i = 0; i < json_array_size(list); i++) {
                json_t *m = json_array_get(list, i), *ns = json_object_get(m, "nodes");
                char first[32], last[32];
                printf("%-36s  %-12s %9lld %9lld  %-19s  %-19s  ", jstr(m, "kms_id"), jstr(m, "application"),
                       jint(m, "requests"), jint(m, "activated"),
                       utc_text(jint(m, "first_seen_ms"), first, sizeof first),
                       utc_text(jint(m, "last_seen_ms"), last, sizeof last));
                for (size_t k = 0; k < json_array_size(ns); k++)
                    printf("%s%s", k ? "," : "", json_string_value(json_array_get(ns, k)));
                printf("\n");
            }
            if (other) printf("(and %lld requests for further IDs, beyond those each node lists)\n", other);
            printf("With the default allow_products these are served and counted with their application;\n"
                   "a product list in allow_products refuses them. Check each ID against Microsoft's\n"
                   "KMS client keys before trusting it.\n");
        }
        if (json_array_size(unreachable)) {
            printf("Not answering:");
            for (size_t i = 0; i < json_array_size(unreachable); i++)
                printf(" %s", json_string_value(json_array_get(unreachable, i)));
            printf("\n");
        }
    }
    int rc = json_array_size(unreachable) ? 1 : 0;
    if (fflush(stdout) != 0) rc = 1;
    json_decref(list);
    json_decref(asked);
    json_decref(nodes);
    json_decref(unreachable);
    return rc;
}
