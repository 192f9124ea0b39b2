/* kmsctl.c: the kmsha admin tool's main(). A table of subcommands: "activate" performs one
 * real KMS activation against a host (like vlmcs / slmgr /ato) and "products" lists the
 * SKUs it knows; status, clients, peers, drain, keygen and backup join the table later.
 * Exit status: 0 success, 1 the operation failed, 2 bad usage. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kmsctl/client.h"
#include "ops/kmsctl/ctldns.h"
#include "ops/kmsctl/ctlops.h"
#include "ops/kmsctl/ctlhealth.h"
#include "ops/kmsctl/ctlunknown.h"
#include "ops/kmsctl/ctladmin.h"
#include "ops/kmsctl/ctlargs.h"
#include "ops/kmsctl/ctlnode.h"
#include "ops/kmsctl/httpc.h"
#include "ops/kmsctl/i18n.h"
#include "ops/kmsctl/jsonfile.h"
#include "proto/errors.h"
#include "proto/guid.h"
#include "proto/products.h"
#include "replication/keys.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* ------------------------------------------------------------------ helpers */

static bool parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s) return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* HOST, HOST:PORT, [V6], [V6]:PORT, or a bare IPv6 address. */
static int parse_target(const char *arg, char *host, size_t cap, uint16_t *port)
{
    const char *h = arg, *p = NULL;
    size_t hl;
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (!close || close == arg + 1) return -1;
        h = arg + 1;
        hl = (size_t)(close - h);
        if (close[1] == ':') p = close + 2;
        else if (close[1] != '\0') return -1;
    } else {
        const char *colon = strchr(arg, ':');
        if (colon && strchr(colon + 1, ':')) {
            hl = strlen(arg); /* bare IPv6: no port */
        } else if (colon) {
            hl = (size_t)(colon - arg);
            p = colon + 1;
        } else {
            hl = strlen(arg);
        }
    }
    if (hl == 0 || hl >= cap) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = 1688;
    if (p) {
        long long v;
        if (!parse_ll(p, 1, 65535, &v)) return -1;
        *port = (uint16_t)v;
    }
    return 0;
}

static void format_target(char *out, size_t cap, const char *host, uint16_t port)
{
    if (strchr(host, ':')) snprintf(out, cap, "[%s]:%u", host, (unsigned)port);
    else snprintf(out, cap, "%s:%u", host, (unsigned)port);
}

/* The SKU slug and name the options select, for the report. */
static void product_label(const client_options *opt, const char *given, const char **slug,
                          const char **name)
{
    const kms_sku *sku = products_sku_find(&opt->sku_id);
    if (sku) {
        *slug = sku->slug;
        *name = sku->name;
        return;
    }
    const kms_product *p = products_find(&opt->kms_id);
    *slug = p ? p->slug : given;
    *name = p ? p->name : "unknown product";
}

/* ------------------------------------------------------------------ activate */

static const char activate_usage[] =
    "usage: kmsctl activate [options] HOST[:PORT]\n"
    "       kmsctl activate [options] --srv _vlmcs._tcp.ZONE --dns IP[:PORT]\n"
    "  Performs one KMS activation against HOST (port 1688 unless given; IPv6 as [addr]:port)\n"
    "  and verifies the host's answer like a Windows client.\n"
    "  --srv NAME              find the host by its SRV records instead, as Windows does: lowest\n"
    "                          priority first, weighted random within a priority (RFC 2782); a\n"
    "                          target that refuses or does not answer is reported on stderr and\n"
    "                          the next one is tried\n"
    "  --dns IP[:PORT]         the DNS server to ask for --srv and the targets' addresses (only\n"
    "                          that one: the system's resolvers are never used)\n"
    "  --protocol 4|5|6        KMS protocol version (default: the product's)\n"
    "  --product NAME          SKU slug or GUID from 'kmsctl products' (default win10-pro)\n"
    "  --kms-id GUID           send this KMS counted ID instead of the product's (e.g. one\n"
    "                          newer than the product table), with the product's application\n"
    "  --required-count N      send this N policy instead of the product's (0..65535)\n"
    "  --cmid GUID             client machine ID (default: random)\n"
    "  --workstation NAME      workstation name sent to the host (default kmsctl)\n"
    "  --ndr64 | --no-ndr64    offer the NDR64 transfer syntax (default: offered)\n"
    "  --no-btfn               do not offer bind-time feature negotiation\n"
    "  --requests N            requests on one connection (default 1)\n"
    "  --license-status N      0..6 (default 2, initial grace)\n"
    "  --binding-expiration MIN  minutes left in that licence state (default 43200)\n"
    "  --vm                    claim to be a virtual machine\n"
    "  --time-offset SECONDS   shift the client clock (tests the host's 4 h check)\n"
    "  --timeout MS            deadline for the whole exchange (default 5000)\n"
    "  --json                  print one JSON object\n";

static void print_json_result(const client_options *opt, const client_result *res,
                              const char *slug, const char *pname, const char *target)
{
    char cmid[KMS_GUID_STRLEN];
    kms_guid_format(&res->response.cmid, cmid);
    const kms_response *r = &res->response;
    printf("{\"ok\":true,\"host\":");
    jsonfile_str(stdout, target);
    printf(",\"product\":");
    jsonfile_str(stdout, slug);
    printf(",\"product_name\":");
    jsonfile_str(stdout, pname);
    printf(",\"protocol\":\"%u.%u\",\"syntax\":\"%s\",\"epid\":", r->version_major,
           r->version_minor, res->syntax == RPC_SYNTAX_NDR64 ? "NDR64" : "NDR32");
    jsonfile_str(stdout, res->epid);
    if (r->version_major >= 6)
        printf(",\"hwid\":\"%02X%02X%02X%02X%02X%02X%02X%02X\"", r->hwid[0], r->hwid[1],
               r->hwid[2], r->hwid[3], r->hwid[4], r->hwid[5], r->hwid[6], r->hwid[7]);
    else
        printf(",\"hwid\":null");
    printf(",\"count\":%" PRIu32 ",\"required\":%u,\"activated\":%s,\"result\":\"%s\"", r->count,
           (unsigned)opt->n_policy, r->count >= opt->n_policy ? "true" : "false",
           r->count >= opt->n_policy ? "activated" : "below_threshold");
    printf(",\"activation_interval\":%" PRIu32 ",\"renewal_interval\":%" PRIu32, r->activation_interval,
           r->renewal_interval);
    char kms_id[KMS_GUID_STRLEN];
    printf(",\"kms_id\":\"%s\",\"cmid\":\"%s\",\"requests\":%d,\"elapsed_ms\":%.3f}\n",
           kms_guid_format(&opt->kms_id, kms_id), cmid, res->requests_done, res->elapsed_ms);
}

static void print_text_result(const client_options *opt, const client_result *res,
                              const char *slug, const char *pname, const char *target)
{
    const kms_response *r = &res->response;
    char cmid[KMS_GUID_STRLEN];
    kms_guid_format(&r->cmid, cmid);
    /* A count below the client's N is an answer, not an activation: Windows stays in
     * grace and retries (slmgr shows 0xC004F038). */
    bool below = r->count < opt->n_policy;
    printf("%s %s (%s) at %s over %s, protocol %u.%u\n",
           below ? "Answered (count below N: the client stays in grace):" : "Activated", slug, pname,
           target, res->syntax == RPC_SYNTAX_NDR64 ? "NDR64" : "NDR32", r->version_major,
           r->version_minor);
    printf("ePID: %s\n", res->epid);
    if (r->version_major >= 6)
        printf("HWID: %02X%02X%02X%02X%02X%02X%02X%02X\n", r->hwid[0], r->hwid[1], r->hwid[2],
               r->hwid[3], r->hwid[4], r->hwid[5], r->hwid[6], r->hwid[7]);
    printf("Current count: %" PRIu32 " (required %u)\n", r->count, (unsigned)opt->n_policy);
    if (below)
        printf("Count below required: the client stays in grace and retries (0x%08X)\n",
               KMS_HR_NOT_ENOUGH_COUNT);
    printf("Activation interval: %" PRIu32 " min, renewal interval: %" PRIu32 " min\n",
           r->activation_interval, r->renewal_interval);
    printf("CMID: %s\n", cmid);
    if (res->requests_done > 1)
        printf("Requests: %d verified responses on one connection\n", res->requests_done);
    printf("Elapsed: %.1f ms\n", res->elapsed_ms);
}

/* One target of activate --srv (ctldns_srv_try): -1 when it does not answer (refused,
 * timed out, closed: try the next), else the exit status. */
typedef struct srv_try {
    const client_options *opt;
    const char *product;
    bool json;
} srv_try;

static int srv_attempt(void *ctx, const char *addr, uint16_t port, const char *srv_target)
{
    const srv_try *t = ctx;
    client_result res;
    char shown[300];
    format_target(shown, sizeof shown, addr, port);
    int r = client_activate(addr, port, t->opt, &res);
    const char *msg = res.message[0] ? res.message : kms_strerror(r);
    if (r == KMS_EIO || r == KMS_ETIMEOUT) {
        fprintf(stderr, "kmsctl: SRV target %s (%s) did not answer: %s; trying the next target\n", srv_target,
                shown, msg);
        return -1;
    }
    if (r != 0) {
        fprintf(stderr, "kmsctl: SRV target %s (%s): %s\n", srv_target, shown, msg);
        if (t->json) {
            printf("{\"ok\":false,\"host\":");
            jsonfile_str(stdout, shown);
            printf(",\"srv_target\":");
            jsonfile_str(stdout, srv_target);
            printf(",\"error\":");
            jsonfile_str(stdout, kms_strerror(r));
            printf(",\"message\":");
            jsonfile_str(stdout, res.message);
            printf("}\n");
        }
        return EXIT_FAIL;
    }
    fprintf(stderr, "kmsctl: SRV target %s (%s) answered\n", srv_target, shown);
    const char *slug, *pname;
    product_label(t->opt, t->product, &slug, &pname);
    if (t->json) print_json_result(t->opt, &res, slug, pname, shown);
    else print_text_result(t->opt, &res, slug, pname, shown);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

/* What the command line sets over the product's values. */
static void apply_overrides(client_options *opt, int protocol, const kms_guid *kms_id, int required_count)
{
    if (protocol) opt->protocol = protocol;
    if (kms_id) opt->kms_id = *kms_id;
    if (required_count >= 0) opt->n_policy = (uint16_t)required_count;
}

static int cmd_activate(int argc, char **argv)
{
    client_options opt;
    client_options_default(&opt);
    const char *product = "win10-pro";
    int protocol = 0, required_count = -1;
    kms_guid kms_id;
    bool have_kms_id = false;
    bool json = false;
    const char *target = NULL;
    const char *srv_name = NULL, *dns_server = NULL;
    ctlargs s = {.argc = argc, .argv = argv, .i = 0};
    const char *a;
    long long v;
    while ((a = ctlargs_next(&s))) {
        if (!s.name) {
            if (target) {
                ctlargs_usage_error("activate: unexpected argument '%s' (one HOST only)", a);
                return EXIT_USAGE;
            }
            target = a;
            continue;
        }
        const char *val = NULL;
        if (ctlargs_is(&s, "--help") || ctlargs_is(&s, "-h")) {
            fputs(activate_usage, stdout);
            return 0;
        } else if (ctlargs_is(&s, "--protocol")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 4, 6, &v)) {
                ctlargs_usage_error("--protocol: '%s' is not 4, 5 or 6", val);
                return EXIT_USAGE;
            }
            protocol = (int)v;
        } else if (ctlargs_is(&s, "--product")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            product = val;
        } else if (ctlargs_is(&s, "--kms-id")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (kms_guid_parse(val, &kms_id) != 0) {
                ctlargs_usage_error("--kms-id: '%s' is not a GUID", val);
                return EXIT_USAGE;
            }
            have_kms_id = true;
        } else if (ctlargs_is(&s, "--required-count")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 0, 65535, &v)) {
                ctlargs_usage_error("--required-count: '%s' is not a number from 0 to 65535", val);
                return EXIT_USAGE;
            }
            required_count = (int)v;
        } else if (ctlargs_is(&s, "--cmid")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (kms_guid_parse(val, &opt.cmid) != 0) {
                ctlargs_usage_error("--cmid: '%s' is not a GUID", val);
                return EXIT_USAGE;
            }
        } else if (ctlargs_is(&s, "--workstation")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (strlen(val) >= sizeof opt.workstation) {
                ctlargs_usage_error("--workstation: name longer than %zu characters",
                              sizeof opt.workstation - 1);
                return EXIT_USAGE;
            }
            snprintf(opt.workstation, sizeof opt.workstation, "%s", val);
        } else if (ctlargs_is(&s, "--ndr64")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            opt.ndr64 = true;
        } else if (ctlargs_is(&s, "--no-ndr64")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            opt.ndr64 = false;
        } else if (ctlargs_is(&s, "--no-btfn")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            opt.btfn = false;
        } else if (ctlargs_is(&s, "--vm")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            opt.vm = 1;
        } else if (ctlargs_is(&s, "--json")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            json = true;
        } else if (ctlargs_is(&s, "--requests")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 1, 1000, &v)) {
                ctlargs_usage_error("--requests: '%s' is not a number from 1 to 1000", val);
                return EXIT_USAGE;
            }
            opt.requests = (int)v;
        } else if (ctlargs_is(&s, "--license-status")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 0, 6, &v)) {
                ctlargs_usage_error("--license-status: '%s' is not a number from 0 to 6", val);
                return EXIT_USAGE;
            }
            opt.license_status = (uint32_t)v;
        } else if (ctlargs_is(&s, "--binding-expiration")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 0, 4294967295LL, &v)) {
                ctlargs_usage_error("--binding-expiration: '%s' is not a number of minutes", val);
                return EXIT_USAGE;
            }
            opt.binding_expiration = (uint32_t)v;
        } else if (ctlargs_is(&s, "--time-offset")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            /* +-100 years keeps the FILETIME arithmetic far from overflow */
            if (!parse_ll(val, -3155760000LL, 3155760000LL, &v)) {
                ctlargs_usage_error("--time-offset: '%s' is not a number of seconds", val);
                return EXIT_USAGE;
            }
            opt.time_offset_s = v;
        } else if (ctlargs_is(&s, "--timeout")) {
            if (!(val = ctlargs_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 1, 3600000, &v)) {
                ctlargs_usage_error("--timeout: '%s' is not a number of milliseconds (1..3600000)",
                              val);
                return EXIT_USAGE;
            }
            opt.timeout_ms = (int)v;
        } else if (ctlargs_is(&s, "--srv")) {
            if (!(srv_name = ctlargs_value(&s))) return EXIT_USAGE;
        } else if (ctlargs_is(&s, "--dns")) {
            if (!(dns_server = ctlargs_value(&s))) return EXIT_USAGE;
        } else {
            ctlargs_usage_error("activate: unknown option '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (srv_name || dns_server) {
        if (!srv_name || !dns_server) {
            ctlargs_usage_error("activate: --srv and --dns go together (only the DNS server given is asked)");
            return EXIT_USAGE;
        }
        if (target) {
            ctlargs_usage_error("activate: give HOST or --srv, not both");
            return EXIT_USAGE;
        }
        if (client_options_set_product(&opt, product) != 0) {
            ctlargs_usage_error("--product: unknown product '%s' (see 'kmsctl products')", product);
            return EXIT_USAGE;
        }
        apply_overrides(&opt, protocol, have_kms_id ? &kms_id : NULL, required_count);
        srv_try st = {&opt, product, json};
        int rc = ctldns_srv_try(dns_server, srv_name, opt.timeout_ms, srv_attempt, &st);
        if (rc == EXIT_USAGE) fputs("Try 'kmsctl help' for usage.\n", stderr);
        return rc;
    }
    if (!target) {
        ctlargs_usage_error("activate: missing HOST[:PORT]");
        return EXIT_USAGE;
    }
    char host[256];
    uint16_t port;
    if (parse_target(target, host, sizeof host, &port) != 0) {
        ctlargs_usage_error("activate: '%s' is not HOST[:PORT] with a port from 1 to 65535", target);
        return EXIT_USAGE;
    }
    if (client_options_set_product(&opt, product) != 0) {
        ctlargs_usage_error("--product: unknown product '%s' (see 'kmsctl products')", product);
        return EXIT_USAGE;
    }
    apply_overrides(&opt, protocol, have_kms_id ? &kms_id : NULL, required_count);

    client_result res;
    int r = client_activate(host, port, &opt, &res);
    char shown[300];
    format_target(shown, sizeof shown, host, port);
    if (r != 0) {
        fprintf(stderr, "kmsctl: %s\n", res.message[0] ? res.message : kms_strerror(r));
        if (json) {
            printf("{\"ok\":false,\"host\":");
            jsonfile_str(stdout, shown);
            printf(",\"error\":");
            jsonfile_str(stdout, kms_strerror(r));
            printf(",\"message\":");
            jsonfile_str(stdout, res.message);
            if (r == KMS_EREFUSED) printf(",\"hresult\":\"0x%08X\"", res.hresult);
            if (r == KMS_EFAULT) printf(",\"fault_status\":\"0x%08X\"", res.fault_status);
            printf(",\"elapsed_ms\":%.3f}\n", res.elapsed_ms);
        }
        return EXIT_FAIL;
    }
    const char *slug, *pname;
    product_label(&opt, product, &slug, &pname);
    if (json) print_json_result(&opt, &res, slug, pname, shown);
    else print_text_result(&opt, &res, slug, pname, shown);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

/* ------------------------------------------------------------------ products */

static const char products_usage[] =
    "usage: kmsctl products [--json]\n"
    "       kmsctl products --unknown [--admin HOST:PORT] [--cluster] [--json] [--timeout MS]\n"
    "  Lists the SKUs (editions) kmsctl activate --product accepts, with their application,\n"
    "  KMS counted ID, required count N and default protocol.\n"
    "  --unknown lists instead the KMS counted IDs clients asked a node for that the product\n"
    "  table does not know: ID, application, requests, activated, first and last seen. Each\n"
    "  node keeps its own list (its own clients, since it started); --cluster asks every\n"
    "  peer too and merges the lists. The admin address defaults to 127.0.0.1:8688.\n";

static void sku_info(const kms_sku *sku, const char **app, const char **kms_slug,
                     int *protocol)
{
    kms_guid g;
    *app = "?";
    *kms_slug = "?";
    *protocol = 0;
    if (kms_guid_parse(sku->app_id, &g) == 0) {
        int a = products_app_from_id(&g);
        if (a >= 0) *app = products_app_slug((kms_app)a);
    }
    if (kms_guid_parse(sku->kms_id, &g) == 0) {
        const kms_product *p = products_find(&g);
        if (p) {
            *kms_slug = p->slug;
            *protocol = p->protocol;
        }
    }
}

static int cmd_products(int argc, char **argv)
{
    bool json = false, unknown = false, cluster = false;
    const char *admin = NULL;
    long long timeout = 3000;
    ctlargs s = {.argc = argc, .argv = argv, .i = 0};
    const char *a;
    while ((a = ctlargs_next(&s))) {
        if (ctlargs_is(&s, "--json")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            json = true;
        } else if (ctlargs_is(&s, "--unknown")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            unknown = true;
        } else if (ctlargs_is(&s, "--cluster")) {
            if (!ctlargs_flag(&s)) return EXIT_USAGE;
            cluster = true;
        } else if (ctlargs_is(&s, "--admin")) {
            if (!(admin = ctlargs_value(&s))) return EXIT_USAGE;
        } else if (ctlargs_is(&s, "--timeout")) {
            const char *v = ctlargs_value(&s);
            if (!v) return EXIT_USAGE;
            if (!parse_ll(v, 1, 3600000, &timeout)) {
                ctlargs_usage_error("products: --timeout: '%s' is not a number of milliseconds (1..3600000)", v);
                return EXIT_USAGE;
            }
        } else if (ctlargs_is(&s, "--help") || ctlargs_is(&s, "-h")) {
            fputs(products_usage, stdout);
            return 0;
        } else {
            ctlargs_usage_error("products: unexpected argument '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (unknown) return ctlunknown_list(admin, cluster, json, (int)timeout);
    if (admin || cluster) {
        ctlargs_usage_error("products: --admin and --cluster go with --unknown (the SKU list is kmsctl's own)");
        return EXIT_USAGE;
    }
    size_t n = products_sku_count();
    if (json) fputs("[", stdout);
    else printf("%-28s %-12s %-20s %3s %-5s %s\n", "SLUG", "APPLICATION", "KMS ID", "N",
                "PROTO", "NAME");
    for (size_t i = 0; i < n; i++) {
        const kms_sku *sku = products_sku_at(i);
        if (!sku) continue;
        const char *app, *kms_slug;
        int protocol;
        sku_info(sku, &app, &kms_slug, &protocol);
        if (json) {
            fputs(i ? ",\n {\"slug\":" : "\n {\"slug\":", stdout);
            jsonfile_str(stdout, sku->slug);
            fputs(",\"name\":", stdout);
            jsonfile_str(stdout, sku->name);
            fputs(",\"application\":", stdout);
            jsonfile_str(stdout, app);
            fputs(",\"kms_id\":", stdout);
            jsonfile_str(stdout, kms_slug);
            fputs(",\"sku_id\":", stdout);
            jsonfile_str(stdout, sku->id);
            printf(",\"n\":%u,\"protocol\":%d}", (unsigned)sku->n_policy, protocol);
        } else {
            printf("%-28s %-12s %-20s %3u %d.0   %s\n", sku->slug, app, kms_slug,
                   (unsigned)sku->n_policy, protocol, sku->name);
        }
    }
    if (json) fputs("\n]\n", stdout);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}


/* ------------------------------------------------------------------ admin commands */

static const char keygen_usage[] =
    "usage: kmsctl keygen [--dir DIR] [--force] NAME\n"
    "  Writes a CURVE key pair for node NAME: DIR/NAME.key (secret, mode 0600) and\n"
    "  DIR/NAME.pub, and prints the line to put in that node's [peer.NAME] section.\n"
    "  DIR defaults to the current directory and is made (mode 0700) when missing; existing\n"
    "  files are kept unless --force.\n";

static int cmd_keygen(int argc, char **argv)
{
    const char *dir = ".", *name = NULL;
    bool force = false;
    ctlargs s = {.argc = argc, .argv = argv, .i = 0};
    const char *a;
    while ((a = ctlargs_next(&s))) {
        if (ctlargs_is(&s, "--dir")) { if (!(dir = ctlargs_value(&s))) return EXIT_USAGE; }
        else if (ctlargs_is(&s, "--force")) { if (!ctlargs_flag(&s)) return EXIT_USAGE; force = true; }
        else if (ctlargs_is(&s, "--help") || ctlargs_is(&s, "-h")) { fputs(keygen_usage, stdout); return 0; }
        else if (s.name) { ctlargs_usage_error("keygen: unknown option %s", s.name); return EXIT_USAGE; }
        else if (!name) name = a;
        else { ctlargs_usage_error("keygen: unexpected argument '%s'", a); return EXIT_USAGE; }
    }
    if (!name) { ctlargs_usage_error("keygen: NAME (the node id) is required"); return EXIT_USAGE; }
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
            ctlargs_usage_error("keygen: '%s' is not a node id (A-Z a-z 0-9 . _ -)", name);
            return EXIT_USAGE;
        }
    if (mkdir(dir, 0700) == 0) fprintf(stderr, "kmsctl: made directory %s\n", dir);
    else if (errno != EEXIST) { fprintf(stderr, "kmsctl: %s: %s\n", dir, strerror(errno)); return EXIT_FAIL; }
    char pub[41], err[4200];
    if (repl_keygen(dir, name, force, pub, err, sizeof err) != 0) {
        fprintf(stderr, "kmsctl: %s\n", err);
        return EXIT_FAIL;
    }
    printf("# [peer.%s]\npublic_key = %s\n", name, pub);
    fprintf(stderr, "kmsctl: wrote %s/%s.key (secret) and %s/%s.pub\n", dir, name, dir, name);
    return 0;
}

/* GET path from an admin address; returns the parsed JSON or NULL (message printed). */
static json_t *admin_get_json(const char *admin, const char *path, int timeout_ms)
{
    return ctladmin_request("GET", admin, path, timeout_ms);
}

static const char *jstr(json_t *o, const char *k) { const char *v = json_string_value(json_object_get(o, k)); return v ? v : ""; }
static long long jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
/* An integer field as text, "unknown" when it is null (a peer's lag while it is not heard). */
static const char *jint_text(json_t *o, const char *k, char *buf, size_t cap)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) return "unknown";
    snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    return buf;
}

/* A duration in the largest two units that matter ("3 d 4 h", "5 min 12 s"). */
static void format_duration(long long s, char *out, size_t len)
{
    if (s < 0) s = 0;
    long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d) snprintf(out, len, _("%lld d %lld h"), d, h);
    else if (h) snprintf(out, len, _("%lld h %lld min"), h, m);
    else if (m) snprintf(out, len, _("%lld min %lld s"), m, sec);
    else snprintf(out, len, _("%lld s"), sec);
}

static void print_dlv(json_t *st)
{
    json_t *req = json_object_get(st, "requests");
    json_t *ls = json_object_get(req, "by_license_status");
    printf(_("Key Management Service node %s (cluster %s)\n"), jstr(st, "node"),
           jstr(json_object_get(st, "cluster"), "name"));
    json_t *listen = json_object_get(st, "listen");
    printf(_("    Listening on: "));
    for (size_t i = 0; i < json_array_size(listen); i++)
        printf("%s%s", i ? ", " : "", json_string_value(json_array_get(listen, i)));
    char up[64];
    format_duration(jint(st, "uptime_s"), up, sizeof up);
    printf(_("\n    Uptime: %s\n"), up);
    json_t *counts = json_object_get(st, "counts");
    const char *key;
    json_t *c;
    printf(_("    Current count:\n"));
    json_object_foreach(counts, key, c)
        printf(_("        %-14s %lld  (clients seen in the lifetime window: %lld, largest N: %lld)%s\n"),
               jstr(c, "name"), jint(c, "count"), jint(c, "live_clients"), jint(c, "max_n"),
               jint(c, "live_clients") && jint(c, "count") < jint(c, "max_n")
                   ? _("  BELOW N: clients are answered but not activated") : "");
    ctlunknown_print_status(st);
    printf(_("    Total requests received: %lld\n"), jint(req, "total"));
    printf(_("    Failed requests received: %lld\n"), jint(req, "failed"));
    printf(_("    Requests answered below the client's N (not activated): %lld\n"),
           jint(json_object_get(req, "by_result"), "below_threshold"));
    static const char *const names[][2] = {
        {"unlicensed", N_("Unlicensed")}, {"licensed", N_("Licensed")},
        {"oob_grace", N_("Initial grace period")},
        {"oot_grace", N_("License expired or Hardware out of tolerance")},
        {"non_genuine_grace", N_("Non-genuine grace period")}, {"notification", N_("Notification")},
        {"extended_grace", N_("Extended grace period")}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        printf(_("    Requests with License Status %s: %lld\n"), _(names[i][1]), jint(ls, names[i][0]));
    json_t *cl = json_object_get(st, "cluster");
    json_t *peers = json_object_get(cl, "peers");
    if (json_array_size(peers)) {
        printf(_("    Peers:\n"));
        printf("        %-16s %-10s %-6s %12s %10s\n", "ID", "SITE", "ALIVE", "LAG UPDATES", "LAG MS");
        for (size_t i = 0; i < json_array_size(peers); i++) {
            json_t *p = json_array_get(peers, i);
            char lu[24], lm[24];
            printf("        %-16s %-10s %-6s %12s %10s%s\n", jstr(p, "id"), jstr(p, "site"),
                   json_is_true(json_object_get(p, "alive")) ? "yes" : "NO", jint_text(p, "lag_updates", lu, sizeof lu),
                   jint_text(p, "lag_ms", lm, sizeof lm), json_is_true(json_object_get(p, "self")) ? _("  (this node)") : "");
        }
    }
    json_t *dns = json_object_get(st, "dns");
    if (dns) printf(_("    DNS publishing: %s\n"), jstr(dns, "state"));
}

static const char status_usage[] =
    "usage: kmsctl status [--admin HOST:PORT] [--cluster] [--json] [--timeout MS]\n"
    "  Shows a node's counters like 'slmgr /dlv' on a KMS host: current count per\n"
    "  application, listening address, requests in total, failed, and per licence\n"
    "  status, and the cluster's peers with their replication lag. --cluster asks\n"
    "  every peer's admin address too (every node of the cluster file with --config)\n"
    "  and adds cluster-wide totals. The admin address comes from\n"
    "  kmsctl --config FILE --node-id ID, else 127.0.0.1:8688.\n";

static int cmd_status(int argc, char **argv)
{
    const char *admin = NULL; /* NULL: ctlnode_admin() */
    bool json = false, cluster = false;
    int timeout = 3000;
    ctlargs s = {.argc = argc, .argv = argv, .i = 0};
    const char *a;
    while ((a = ctlargs_next(&s))) {
        if (ctlargs_is(&s, "--admin")) { if (!(admin = ctlargs_value(&s))) return EXIT_USAGE; }
        else if (ctlargs_is(&s, "--json")) { if (!ctlargs_flag(&s)) return EXIT_USAGE; json = true; }
        else if (ctlargs_is(&s, "--cluster")) { if (!ctlargs_flag(&s)) return EXIT_USAGE; cluster = true; }
        else if (ctlargs_is(&s, "--timeout")) {
            const char *v = ctlargs_value(&s);
            if (!v) return EXIT_USAGE;
            timeout = atoi(v);
            if (timeout <= 0) { ctlargs_usage_error("status: --timeout needs milliseconds > 0"); return EXIT_USAGE; }
        }
        else if (ctlargs_is(&s, "--help") || ctlargs_is(&s, "-h")) { fputs(status_usage, stdout); return 0; }
        else { ctlargs_usage_error("status: unexpected argument '%s'", a); return EXIT_USAGE; }
    }
    json_t *unreachable = json_array();
    json_t *nodes = ctladmin_statuses(admin, cluster, timeout, unreachable);
    if (!nodes) { json_decref(unreachable); return EXIT_FAIL; }
    if (!cluster) {
        json_t *st = json_array_get(nodes, 0);
        if (json) { char *t = json_dumps(st, JSON_INDENT(2)); puts(t); free(t); }
        else print_dlv(st);
        json_decref(nodes);
        json_decref(unreachable);
        return 0;
    }
    /* Every peer's own view, then cluster-wide totals. */
    bool peered = json_array_size(json_object_get(json_object_get(json_array_get(nodes, 0), "cluster"), "peers")) > 0;
    long long total = 0, failed = 0;
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *ps = json_array_get(nodes, i);
        total += jint(json_object_get(ps, "requests"), "total");
        failed += jint(json_object_get(ps, "requests"), "failed");
        if (!json) { print_dlv(ps); if (peered) printf("\n"); }
    }
    json_t *all = json_object();
    json_object_set_new(all, "nodes", nodes);
    json_object_set_new(all, "total_requests", json_integer(total));
    json_object_set_new(all, "failed_requests", json_integer(failed));
    json_object_set_new(all, "unreachable", unreachable);
    if (json) { char *t = json_dumps(all, JSON_INDENT(2)); puts(t); free(t); }
    else {
        printf(_("Cluster: %zu nodes answering"), json_array_size(nodes));
        if (json_array_size(unreachable)) {
            printf(_(", not answering:"));
            for (size_t i = 0; i < json_array_size(unreachable); i++) printf(" %s", json_string_value(json_array_get(unreachable, i)));
        }
        printf(_("\n    Total requests received (all nodes): %lld\n"), total);
        printf(_("    Failed requests received (all nodes): %lld\n"), failed);
    }
    int rc = json_array_size(unreachable) ? EXIT_FAIL : 0;
    json_decref(all);
    return rc;
}

static const char peers_usage[] =
    "usage: kmsctl peers [--admin HOST:PORT] [--json]\n"
    "  Lists the cluster's nodes as one node sees them: alive, replication lag.\n";

static int cmd_peers(int argc, char **argv)
{
    const char *admin = NULL; /* NULL: ctlnode_admin() */
    bool json = false;
    ctlargs s = {.argc = argc, .argv = argv, .i = 0};
    const char *a;
    while ((a = ctlargs_next(&s))) {
        if (ctlargs_is(&s, "--admin")) { if (!(admin = ctlargs_value(&s))) return EXIT_USAGE; }
        else if (ctlargs_is(&s, "--json")) { if (!ctlargs_flag(&s)) return EXIT_USAGE; json = true; }
        else if (ctlargs_is(&s, "--help") || ctlargs_is(&s, "-h")) { fputs(peers_usage, stdout); return 0; }
        else { ctlargs_usage_error("peers: unexpected argument '%s'", a); return EXIT_USAGE; }
    }
    if (!admin && !(admin = ctlnode_admin())) return EXIT_FAIL;
    json_t *st = admin_get_json(admin, "/status", 3000);
    if (!st) return EXIT_FAIL;
    json_t *peers = json_object_get(json_object_get(st, "cluster"), "peers");
    if (json) { char *t = json_dumps(peers, JSON_INDENT(2)); puts(t); free(t); }
    else {
        printf("%-16s %-10s %-22s %-6s %12s %10s %s\n", "ID", "SITE", "ADMIN", "ALIVE", "LAG UPDATES", "LAG MS", "");
        for (size_t i = 0; i < json_array_size(peers); i++) {
            json_t *p = json_array_get(peers, i);
            char lu[24], lm[24];
            printf("%-16s %-10s %-22s %-6s %12s %10s %s\n", jstr(p, "id"), jstr(p, "site"), jstr(p, "admin"),
                   json_is_true(json_object_get(p, "alive")) ? "yes" : "NO", jint_text(p, "lag_updates", lu, sizeof lu),
                   jint_text(p, "lag_ms", lm, sizeof lm),
                   json_is_true(json_object_get(p, "self")) ? "(this node)" : "");
        }
        if (!json_array_size(peers)) printf("(a single node: no peers configured)\n");
    }
    json_decref(st);
    return 0;
}

/* ------------------------------------------------------------------ command table */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv after the subcommand name */
    const char *summary;
} command;

static int cmd_help(int argc, char **argv);

static const command commands[] = {
    {"activate", cmd_activate, "perform one KMS activation against a host and verify it"},
    {"products", cmd_products, "list the SKUs kmsctl knows (--unknown: KMS IDs a node was asked for that it does not)"},
    {"status", cmd_status, "a node's counters like slmgr /dlv (--cluster: every node)"},
    {"peers", cmd_peers, "the cluster's nodes as one node sees them"},
    {"keygen", cmd_keygen, "write a CURVE key pair for a node"},
    {"clients", ctlops_clients, "query client records (CMID, workstation, address, room, status, ...)"},
    {"report", ctlhealth_report, "activation health: below threshold, at risk, cloned, forecast, rooms"},
    {"preflight", ctlhealth_preflight, "the checks to run before term: PASS / WARN / FAIL per check"},
    {"backup", ctlops_backup, "write a consistent copy of a (live) store"},
    {"restore", ctlops_restore, "put a backup in place for a stopped node"},
    {"drain", ctldns_drain, "withdraw a node's DNS SRV records while it keeps serving"},
    {"undrain", ctldns_undrain, "publish a drained node's DNS SRV records again"},
    {"dns", ctldns_dns, "dns check: what the DNS server publishes against what it should"},
    /* Later subcommands go here, one line each, with their cmd_* above the table. */
    {"help", cmd_help, "show this help, or 'help COMMAND' for one command"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f)
{
    fputs("usage: kmsctl [--config FILE [--node-id ID]] [--token-file FILE] [--read-token-file FILE]\n"
          "              COMMAND [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'kmsctl COMMAND --help' shows the options of one command.\n"
          "'kmsctl help COMMAND' is the same; 'kmsctl --version' prints the version.\n"
          "--config FILE (or KMSHA_CONFIG): ask the node the cluster file names, --node-id ID\n"
          "(or KMSHA_NODE_ID) when it names several; a command's --admin wins over both.\n"
          "--token-file FILE: the node's admin token ([node] admin_token_file), which dns, drain\n"
          "and undrain need and which reads everything; --read-token-file FILE: its read token\n"
          "([node] read_token_file), which reads client records (clients, report). Else\n"
          "$KMSHA_ADMIN_TOKEN_FILE, $KMSHA_READ_TOKEN_FILE, the cluster file's, then\n"
          "/etc/kmsha/{admin,read}.token or ./var/{admin,read}.token (kmsd --local-cluster's).\n"
          "Exit status: 0 success, 1 failure, 2 bad usage.\n", f);
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    if (argc > 0) {
        const command *c = find_command(argv[0]);
        if (!c || c->run == cmd_help) {
            if (!c) {
                ctlargs_usage_error("help: unknown command '%s'", argv[0]);
                return EXIT_USAGE;
            }
        } else {
            char help[] = "--help";
            char *hv[] = {help, NULL};
            return c->run(1, hv);
        }
    }
    print_usage(stdout);
    return 0;
}

/* Takes "--token-file FILE" and "--read-token-file FILE" (or OPTION=FILE) off the front of
 * argv (argv[0] stays). */
static void take_token_file(int *argc, char ***argv)
{
    static const struct {
        const char *name;
        void (*set)(const char *path);
    } opts[] = {{"--token-file", ctladmin_set_token_file}, {"--read-token-file", ctladmin_set_read_token_file}};
    char **v = *argv;
    for (bool more = true; more && *argc >= 2;) {
        more = false;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
            size_t len = strlen(opts[k].name);
            bool joined = !strncmp(v[1], opts[k].name, len) && v[1][len] == '=';
            if (!joined && (strcmp(v[1], opts[k].name) != 0 || *argc < 3)) continue;
            int used = joined ? 1 : 2;
            opts[k].set(joined ? v[1] + len + 1 : v[2]);
            v[used] = v[0];
            v += used;
            *argc -= used;
            more = true;
            break;
        }
    }
    *argv = v;
}

int main(int argc, char **argv)
{
    i18n_init();
    /* --token-file FILE before the command, before or after --config / --node-id */
    take_token_file(&argc, &argv);
    if (ctlnode_options(&argc, &argv) != 0) return EXIT_USAGE;
    take_token_file(&argc, &argv);
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0) {
        printf("kmsctl " KMSHA_VERSION "\n");
        return 0;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) name = "help";
    const command *c = find_command(name);
    if (!c) {
        ctlargs_usage_error("unknown command '%s'", argv[1]);
        return EXIT_USAGE;
    }
    return c->run(argc - 2, argv + 2);
}
