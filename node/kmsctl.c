/* kmsctl.c: the kmsha admin tool's main(). A table of subcommands: "activate" performs one
 * real KMS activation against a host (like vlmcs / slmgr /ato) and "products" lists the
 * SKUs it knows; status, clients, peers, drain, keygen and backup join the table later.
 * Exit status: 0 success, 1 the operation failed, 2 bad usage. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/client.h"
#include "proto/errors.h"
#include "proto/guid.h"
#include "proto/products.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* ------------------------------------------------------------------ helpers */

static void die_usage_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "kmsctl: <message>" and a hint on stderr; the caller returns EXIT_USAGE. */
static void die_usage_msg(const char *fmt, ...)
{
    va_list ap;
    fputs("kmsctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'kmsctl help' for usage.\n", stderr);
}

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

/* Writes s as a JSON string literal. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Option scanner shared by the subcommands: "--name value", "--name=value" and flags. */
typedef struct argscan {
    int argc, i;
    char **argv;
    const char *name;  /* current option, without the "=value" part */
    char namebuf[64];
    const char *inline_val;
} argscan;

/* Returns the next argument (an option sets s->name), NULL at the end. */
static const char *scan_next(argscan *s)
{
    if (s->i >= s->argc) return NULL;
    const char *a = s->argv[s->i++];
    s->name = NULL;
    s->inline_val = NULL;
    if (a[0] == '-' && a[1] == '-' && a[2]) {
        const char *eq = strchr(a, '=');
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof s->namebuf) n = sizeof s->namebuf - 1;
            memcpy(s->namebuf, a, n);
            s->namebuf[n] = '\0';
            s->name = s->namebuf;
            s->inline_val = eq + 1;
        } else {
            s->name = a;
        }
    } else if (a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {
        s->name = a;
    }
    return a;
}

/* The value of the current option, or NULL (after an error message) when missing. */
static const char *scan_value(argscan *s)
{
    if (s->inline_val) return s->inline_val;
    if (s->i < s->argc) return s->argv[s->i++];
    die_usage_msg("option %s needs a value", s->name);
    return NULL;
}

static bool is_opt(const argscan *s, const char *name)
{
    return s->name && strcmp(s->name, name) == 0;
}

/* A flag given with "=value" is a usage error. */
static bool flag_ok(const argscan *s)
{
    if (!s->inline_val) return true;
    die_usage_msg("option %s takes no value", s->name);
    return false;
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
    "  Performs one KMS activation against HOST (port 1688 unless given; IPv6 as [addr]:port)\n"
    "  and verifies the host's answer like a Windows client.\n"
    "  --protocol 4|5|6        KMS protocol version (default: the product's)\n"
    "  --product NAME          SKU slug or GUID from 'kmsctl products' (default win10-pro)\n"
    "  --cmid GUID             client machine ID (default: random)\n"
    "  --workstation NAME      workstation name sent to the host (default kmsctl)\n"
    "  --ndr64 | --no-ndr64    offer the NDR64 transfer syntax (default: offered)\n"
    "  --no-btfn               do not offer bind-time feature negotiation\n"
    "  --requests N            requests on one connection (default 1)\n"
    "  --license-status N      0..6 (default 2, initial grace)\n"
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
    json_str(stdout, target);
    printf(",\"product\":");
    json_str(stdout, slug);
    printf(",\"product_name\":");
    json_str(stdout, pname);
    printf(",\"protocol\":\"%u.%u\",\"syntax\":\"%s\",\"epid\":", r->version_major,
           r->version_minor, res->syntax == RPC_SYNTAX_NDR64 ? "NDR64" : "NDR32");
    json_str(stdout, res->epid);
    if (r->version_major >= 6)
        printf(",\"hwid\":\"%02X%02X%02X%02X%02X%02X%02X%02X\"", r->hwid[0], r->hwid[1],
               r->hwid[2], r->hwid[3], r->hwid[4], r->hwid[5], r->hwid[6], r->hwid[7]);
    else
        printf(",\"hwid\":null");
    printf(",\"count\":%" PRIu32 ",\"required\":%u,\"activated\":%s", r->count,
           (unsigned)opt->n_policy, r->count >= opt->n_policy ? "true" : "false");
    printf(",\"activation_interval\":%" PRIu32 ",\"renewal_interval\":%" PRIu32, r->activation_interval,
           r->renewal_interval);
    printf(",\"cmid\":\"%s\",\"requests\":%d,\"elapsed_ms\":%.3f}\n", cmid, res->requests_done,
           res->elapsed_ms);
}

static void print_text_result(const client_options *opt, const client_result *res,
                              const char *slug, const char *pname, const char *target)
{
    const kms_response *r = &res->response;
    char cmid[KMS_GUID_STRLEN];
    kms_guid_format(&r->cmid, cmid);
    printf("Activated %s (%s) at %s over %s, protocol %u.%u\n", slug, pname, target,
           res->syntax == RPC_SYNTAX_NDR64 ? "NDR64" : "NDR32", r->version_major,
           r->version_minor);
    printf("ePID: %s\n", res->epid);
    if (r->version_major >= 6)
        printf("HWID: %02X%02X%02X%02X%02X%02X%02X%02X\n", r->hwid[0], r->hwid[1], r->hwid[2],
               r->hwid[3], r->hwid[4], r->hwid[5], r->hwid[6], r->hwid[7]);
    printf("Current count: %" PRIu32 " (required %u)\n", r->count, (unsigned)opt->n_policy);
    if (r->count < opt->n_policy)
        printf("Count below required: the client would stay in grace (0x%08X)\n",
               KMS_HR_NOT_ENOUGH_COUNT);
    printf("Activation interval: %" PRIu32 " min, renewal interval: %" PRIu32 " min\n",
           r->activation_interval, r->renewal_interval);
    printf("CMID: %s\n", cmid);
    if (res->requests_done > 1)
        printf("Requests: %d verified responses on one connection\n", res->requests_done);
    printf("Elapsed: %.1f ms\n", res->elapsed_ms);
}

static int cmd_activate(int argc, char **argv)
{
    client_options opt;
    client_options_default(&opt);
    const char *product = "win10-pro";
    int protocol = 0;
    bool json = false;
    const char *target = NULL;
    argscan s = {.argc = argc, .argv = argv, .i = 0};
    const char *a;
    long long v;
    while ((a = scan_next(&s))) {
        if (!s.name) {
            if (target) {
                die_usage_msg("activate: unexpected argument '%s' (one HOST only)", a);
                return EXIT_USAGE;
            }
            target = a;
            continue;
        }
        const char *val = NULL;
        if (is_opt(&s, "--help") || is_opt(&s, "-h")) {
            fputs(activate_usage, stdout);
            return 0;
        } else if (is_opt(&s, "--protocol")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 4, 6, &v)) {
                die_usage_msg("--protocol: '%s' is not 4, 5 or 6", val);
                return EXIT_USAGE;
            }
            protocol = (int)v;
        } else if (is_opt(&s, "--product")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            product = val;
        } else if (is_opt(&s, "--cmid")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            if (kms_guid_parse(val, &opt.cmid) != 0) {
                die_usage_msg("--cmid: '%s' is not a GUID", val);
                return EXIT_USAGE;
            }
        } else if (is_opt(&s, "--workstation")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            if (strlen(val) >= sizeof opt.workstation) {
                die_usage_msg("--workstation: name longer than %zu characters",
                              sizeof opt.workstation - 1);
                return EXIT_USAGE;
            }
            snprintf(opt.workstation, sizeof opt.workstation, "%s", val);
        } else if (is_opt(&s, "--ndr64")) {
            if (!flag_ok(&s)) return EXIT_USAGE;
            opt.ndr64 = true;
        } else if (is_opt(&s, "--no-ndr64")) {
            if (!flag_ok(&s)) return EXIT_USAGE;
            opt.ndr64 = false;
        } else if (is_opt(&s, "--no-btfn")) {
            if (!flag_ok(&s)) return EXIT_USAGE;
            opt.btfn = false;
        } else if (is_opt(&s, "--vm")) {
            if (!flag_ok(&s)) return EXIT_USAGE;
            opt.vm = 1;
        } else if (is_opt(&s, "--json")) {
            if (!flag_ok(&s)) return EXIT_USAGE;
            json = true;
        } else if (is_opt(&s, "--requests")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 1, 1000, &v)) {
                die_usage_msg("--requests: '%s' is not a number from 1 to 1000", val);
                return EXIT_USAGE;
            }
            opt.requests = (int)v;
        } else if (is_opt(&s, "--license-status")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 0, 6, &v)) {
                die_usage_msg("--license-status: '%s' is not a number from 0 to 6", val);
                return EXIT_USAGE;
            }
            opt.license_status = (uint32_t)v;
        } else if (is_opt(&s, "--time-offset")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            /* +-100 years keeps the FILETIME arithmetic far from overflow */
            if (!parse_ll(val, -3155760000LL, 3155760000LL, &v)) {
                die_usage_msg("--time-offset: '%s' is not a number of seconds", val);
                return EXIT_USAGE;
            }
            opt.time_offset_s = v;
        } else if (is_opt(&s, "--timeout")) {
            if (!(val = scan_value(&s))) return EXIT_USAGE;
            if (!parse_ll(val, 1, 3600000, &v)) {
                die_usage_msg("--timeout: '%s' is not a number of milliseconds (1..3600000)",
                              val);
                return EXIT_USAGE;
            }
            opt.timeout_ms = (int)v;
        } else {
            die_usage_msg("activate: unknown option '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (!target) {
        die_usage_msg("activate: missing HOST[:PORT]");
        return EXIT_USAGE;
    }
    char host[256];
    uint16_t port;
    if (parse_target(target, host, sizeof host, &port) != 0) {
        die_usage_msg("activate: '%s' is not HOST[:PORT] with a port from 1 to 65535", target);
        return EXIT_USAGE;
    }
    if (client_options_set_product(&opt, product) != 0) {
        die_usage_msg("--product: unknown product '%s' (see 'kmsctl products')", product);
        return EXIT_USAGE;
    }
    if (protocol) opt.protocol = protocol;

    client_result res;
    int r = client_activate(host, port, &opt, &res);
    char shown[300];
    format_target(shown, sizeof shown, host, port);
    if (r != 0) {
        fprintf(stderr, "kmsctl: %s\n", res.message[0] ? res.message : kms_strerror(r));
        if (json) {
            printf("{\"ok\":false,\"host\":");
            json_str(stdout, shown);
            printf(",\"error\":");
            json_str(stdout, kms_strerror(r));
            printf(",\"message\":");
            json_str(stdout, res.message);
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
    "  Lists the SKUs (editions) kmsctl activate --product accepts, with their application,\n"
    "  KMS counted ID, required count N and default protocol.\n";

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
    bool json = false;
    argscan s = {.argc = argc, .argv = argv, .i = 0};
    const char *a;
    while ((a = scan_next(&s))) {
        if (is_opt(&s, "--json")) {
            if (!flag_ok(&s)) return EXIT_USAGE;
            json = true;
        } else if (is_opt(&s, "--help") || is_opt(&s, "-h")) {
            fputs(products_usage, stdout);
            return 0;
        } else {
            die_usage_msg("products: unexpected argument '%s'", a);
            return EXIT_USAGE;
        }
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
            json_str(stdout, sku->slug);
            fputs(",\"name\":", stdout);
            json_str(stdout, sku->name);
            fputs(",\"application\":", stdout);
            json_str(stdout, app);
            fputs(",\"kms_id\":", stdout);
            json_str(stdout, kms_slug);
            fputs(",\"sku_id\":", stdout);
            json_str(stdout, sku->id);
            printf(",\"n\":%u,\"protocol\":%d}", (unsigned)sku->n_policy, protocol);
        } else {
            printf("%-28s %-12s %-20s %3u %d.0   %s\n", sku->slug, app, kms_slug,
                   (unsigned)sku->n_policy, protocol, sku->name);
        }
    }
    if (json) fputs("\n]\n", stdout);
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
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
    {"products", cmd_products, "list the SKUs (editions) kmsctl knows"},
    /* Later subcommands go here, one line each, with their cmd_* above the table:
     *   status (slmgr /dlv-style counters), clients (query records), peers,
     *   drain / undrain (SRV records), keygen (CURVE key pairs), backup (store copy). */
    {"help", cmd_help, "show this help, or 'help COMMAND' for one command"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f)
{
    fputs("usage: kmsctl COMMAND [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'kmsctl COMMAND --help' shows the options of one command.\n"
          "Exit status: 0 success, 1 failure, 2 bad usage.\n\n", f);
    fputs(activate_usage, f);
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
                die_usage_msg("help: unknown command '%s'", argv[0]);
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) name = "help";
    const command *c = find_command(name);
    if (!c) {
        die_usage_msg("unknown command '%s'", argv[1]);
        return EXIT_USAGE;
    }
    return c->run(argc - 2, argv + 2);
}
