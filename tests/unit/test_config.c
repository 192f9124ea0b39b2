/* test_config.c: kmsd's configuration: defaults, a full file, every error message with
 * file:line:key, ranges at both bounds (taken from the reference table itself), lists,
 * addresses and CIDR matching, the product allowlist, validation and the reference. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "node/config.h"
#include "proto/errors.h"
#include "tests/testutil.h"

static char tmp_path[64];

/* Writes text to a fresh temporary file; returns its path (valid until the next call). */
static const char *write_tmp(const char *text)
{
    if (tmp_path[0]) unlink(tmp_path);
    snprintf(tmp_path, sizeof tmp_path, "/tmp/kmsha-test-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0) { perror("mkstemp"); exit(2); }
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) { perror("write"); exit(2); }
    close(fd);
    return tmp_path;
}

/* Loads text over the defaults; returns config_load's result, message in err. */
static int load_text(kmsd_config *cfg, const char *text, char *err, size_t errlen)
{
    config_defaults(cfg);
    err[0] = 0;
    return config_load(cfg, write_tmp(text), err, errlen);
}

/* Expects text to fail with exactly "TMPFILE:" + suffix. */
#define CHECK_LOAD_ERR(text, suffix) do { \
    static kmsd_config c_; char e_[512], want_[600]; /* static: ASan gives each expansion its own stack */ \
    int rc_ = load_text(&c_, (text), e_, sizeof e_); \
    snprintf(want_, sizeof want_, "%s:%s", tmp_path, (suffix)); \
    CHECKF(rc_ == KMS_ECONFIG && strcmp(e_, want_) == 0, "rc %d\n  got  '%.200s'\n  want '%.200s'", \
           rc_, e_, want_); } while (0)

/* The same, when only the start of the message is fixed. */
#define CHECK_LOAD_ERR_START(text, start) do { \
    static kmsd_config c_; char e_[512], want_[600]; /* static: ASan gives each expansion its own stack */ \
    int rc_ = load_text(&c_, (text), e_, sizeof e_); \
    snprintf(want_, sizeof want_, "%s:%s", tmp_path, (start)); \
    CHECKF(rc_ == KMS_ECONFIG && strncmp(e_, want_, strlen(want_)) == 0, "rc %d\n  got  '%.200s'\n  want '%.200s...'", \
           rc_, e_, want_); } while (0)

static void guid(const char *text, kms_guid *g)
{
    if (kms_guid_parse(text, g) != 0) { fprintf(stderr, "bad guid %s\n", text); exit(2); }
}

/* ---- defaults -------------------------------------------------------------------------- */

static void test_defaults(void)
{
    kmsd_config c;
    memset(&c, 0xAB, sizeof c);
    config_defaults(&c);
    CHECK(strcmp(c.node_id, "kms1") == 0);
    CHECK_EQ_INT(c.n_listen, 1);
    CHECK(strcmp(c.listen[0].host, "127.0.0.1") == 0);
    CHECK_EQ_INT(c.listen[0].port, 1688);
    CHECK(strcmp(c.data_dir, "./var") == 0);
    CHECK(strcmp(c.admin.host, "127.0.0.1") == 0);
    CHECK_EQ_INT(c.admin.port, 8688);
    CHECK(strcmp(c.log_level, "info") == 0);
    CHECK(strcmp(c.audit_log, "") == 0);
    CHECK_EQ_INT(c.activation_interval, 120);
    CHECK_EQ_INT(c.renewal_interval, 10080);
    CHECK_EQ_INT(c.client_lifetime_days, 30);
    CHECK_EQ_INT(c.count_cap, 0);
    CHECK_EQ_INT(c.max_clock_skew, 240);
    CHECK(c.ndr64 == true);
    CHECK(c.btfn == true);
    CHECK(c.verify_v4_mac == true);
    CHECK_EQ_INT(c.n_allow, 0);
    for (int g = 0; g < KMS_GROUP_COUNT; g++) {
        CHECK(strcmp(c.epid[g], products_group_default_epid((kms_epid_group)g)) == 0);
        uint8_t h[8];
        products_group_default_hwid((kms_epid_group)g, h);
        CHECK_MEM(c.hwid[g], h, 8);
    }
    CHECK(strcmp(c.epid[KMS_GROUP_WINDOWS], "03612-00206-556-123727-03-1033-17763.0000-2972018") == 0);
    CHECK_MEM(c.hwid[KMS_GROUP_WINDOWS], "\x3A\x1C\x04\x96\x00\xB6\x00\x76", 8);
    CHECK_EQ_INT(c.max_connections, 10000);
    CHECK_EQ_INT(c.max_connections_per_address, 64);
    CHECK_EQ_INT(c.max_pdu_size, 5840);
    CHECK_EQ_INT(c.idle_timeout, 30);
    CHECK_EQ_INT(c.connection_timeout, 300);
    CHECK_EQ_INT(c.max_requests_per_connection, 1000);
    CHECK_EQ_INT(c.n_allow_clients, 0);
    CHECK_EQ_INT(c.commit_delay_ms, 0);
    CHECK_EQ_INT(c.map_size_mb, 4096);
    CHECK_EQ_INT(c.prune_interval, 3600);
    char err[256];
    CHECKF(config_validate(&c, err, sizeof err) == 0, "%s", err);

    /* An empty file and a file of comments change nothing. */
    kmsd_config d;
    CHECK(load_text(&d, "", err, sizeof err) == 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    CHECK(load_text(&d, "; comment\n# another\n\n   \n\t; indented\n[kms]\n", err, sizeof err) == 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
}

/* ---- a full file ----------------------------------------------------------------------- */

static const char *full_file =
    "\xEF\xBB\xBF; kmsha example: every setting\n"
    "[node]\n"
    "id = node-2.site_a\n"
    "listen = 10.0.0.1:1688, [2001:db8::1]:1689   ; two on one line\n"
    "listen=0.0.0.0\n"
    "  listen =  ::1  \n"
    "data_dir = /var/lib/kmsha\n"
    "admin = [::1]:9000\n"
    "log_level = debug\n"
    "audit_log = -\n"
    "\n"
    "[kms]\n"
    "activation_interval = 60\n"
    "renewal_interval = 1440 # one day\n"
    "client_lifetime_days = 45\n"
    "count_cap = 100\n"
    "max_clock_skew = 0\n"
    "ndr64 = no\n"
    "btfn = off\n"
    "verify_v4_mac = 0\n"
    "allow_products = win10, ws2022, app:office2013\n"
    "allow_products = office2010, 617d9eb1-ef36-4f82-86e0-a65ae07b96c6\n"
    "epid_windows = 06401-00206-271-392681-03-1031-9600.0000-3622014\n"
    "hwid_windows = 0102030405060708\n"
    "hwid_office2024 = aabbccddeeff0011\n"
    "epid_office2024 = 03612-00206-672-000001-03-2052-26100.0000-0012025\n"
    "\n"
    "[limits]\n"
    "max_connections = 500\n"
    "max_connections_per_address = 8\n"
    "max_pdu_size = 1024\n"
    "idle_timeout = 5\n"
    "connection_timeout = 60\n"
    "max_requests_per_connection = 10\n"
    "allow_clients = 10.0.0.0/8, 192.168.1.7\n"
    "allow_clients = 2001:db8::/32\n"
    "\n"
    "[store]\n"
    "commit_delay_ms = 0\n"
    "map_size_mb = 16\n"
    "prune_interval = 10\n";

static void test_full_file(void)
{
    kmsd_config c;
    char err[512];
    int rc = load_text(&c, full_file, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    CHECK(strcmp(c.node_id, "node-2.site_a") == 0);
    CHECK_EQ_INT(c.n_listen, 4); /* the default is replaced, the lines add up */
    CHECK(strcmp(c.listen[0].host, "10.0.0.1") == 0 && c.listen[0].port == 1688);
    CHECK(strcmp(c.listen[1].host, "2001:db8::1") == 0 && c.listen[1].port == 1689);
    CHECK(strcmp(c.listen[2].host, "0.0.0.0") == 0 && c.listen[2].port == 1688);
    CHECK(strcmp(c.listen[3].host, "::1") == 0 && c.listen[3].port == 1688);
    CHECK(strcmp(c.data_dir, "/var/lib/kmsha") == 0);
    CHECK(strcmp(c.admin.host, "::1") == 0 && c.admin.port == 9000);
    CHECK(strcmp(c.log_level, "debug") == 0);
    CHECK(strcmp(c.audit_log, "-") == 0);
    CHECK_EQ_INT(c.activation_interval, 60);
    CHECK_EQ_INT(c.renewal_interval, 1440);
    CHECK_EQ_INT(c.client_lifetime_days, 45);
    CHECK_EQ_INT(c.count_cap, 100);
    CHECK_EQ_INT(c.max_clock_skew, 0);
    CHECK(!c.ndr64 && !c.btfn && !c.verify_v4_mac);
    CHECK_EQ_INT(c.n_allow, 5);
    kms_guid g;
    guid("58e2134f-8e11-4d17-9cb2-91069c151148", &g);
    CHECK(!c.allow[0].is_app && kms_guid_equal(&c.allow[0].kms_id, &g));
    guid("b74263e4-0f92-46c6-bcf8-c11d5efe2959", &g);
    CHECK(!c.allow[1].is_app && kms_guid_equal(&c.allow[1].kms_id, &g));
    CHECK(c.allow[2].is_app && c.allow[2].app == KMS_APP_OFFICE2013);
    guid("e85af946-2e25-47b7-83e1-bebcebeac611", &g); /* office2010 = the KMS counted ID */
    CHECK(!c.allow[3].is_app && kms_guid_equal(&c.allow[3].kms_id, &g));
    guid("617d9eb1-ef36-4f82-86e0-a65ae07b96c6", &g);
    CHECK(!c.allow[4].is_app && kms_guid_equal(&c.allow[4].kms_id, &g));
    CHECK(strcmp(c.epid[KMS_GROUP_WINDOWS], "06401-00206-271-392681-03-1031-9600.0000-3622014") == 0);
    CHECK(strcmp(c.epid[KMS_GROUP_OFFICE2024], "03612-00206-672-000001-03-2052-26100.0000-0012025") == 0);
    CHECK(strcmp(c.epid[KMS_GROUP_OFFICE2019], products_group_default_epid(KMS_GROUP_OFFICE2019)) == 0);
    CHECK_MEM(c.hwid[KMS_GROUP_WINDOWS], "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    CHECK_MEM(c.hwid[KMS_GROUP_OFFICE2024], "\xaa\xbb\xcc\xdd\xee\xff\x00\x11", 8);
    CHECK_MEM(c.hwid[KMS_GROUP_OFFICE2016], "\0\0\0\0\0\0\x20\x16", 8);
    CHECK_EQ_INT(c.max_connections, 500);
    CHECK_EQ_INT(c.max_connections_per_address, 8);
    CHECK_EQ_INT(c.max_pdu_size, 1024);
    CHECK_EQ_INT(c.idle_timeout, 5);
    CHECK_EQ_INT(c.connection_timeout, 60);
    CHECK_EQ_INT(c.max_requests_per_connection, 10);
    CHECK_EQ_INT(c.n_allow_clients, 3);
    CHECK(c.allow_clients[0].family == AF_INET && c.allow_clients[0].prefix == 8);
    CHECK(c.allow_clients[1].family == AF_INET && c.allow_clients[1].prefix == 32);
    CHECK(c.allow_clients[2].family == AF_INET6 && c.allow_clients[2].prefix == 32);
    CHECK_EQ_INT(c.commit_delay_ms, 0);
    CHECK_EQ_INT(c.map_size_mb, 16);
    CHECK_EQ_INT(c.prune_interval, 10);
    CHECKF(config_validate(&c, err, sizeof err) == 0, "%s", err);

    /* Loading the same file again over the result gives the same result (lists do not
     * grow from one load to the next: a file's first list line replaces). */
    kmsd_config d = c;
    CHECK(config_load(&d, tmp_path, err, sizeof err) == 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);

    /* Other spellings of booleans. */
    static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof text, "[kms]\nndr64 = %s\nbtfn = %s\n", f[i], t[i]);
        CHECK(load_text(&c, text, err, sizeof err) == 0 && !c.ndr64 && c.btfn);
    }
    /* admin = off; audit_log = off; a value containing '#' without a blank before it. */
    CHECK(load_text(&c, "[node]\nadmin = off\naudit_log = off\ndata_dir = /srv/k#1 ; c\n",
                    err, sizeof err) == 0);
    CHECK(c.admin.port == 0 && c.admin.host[0] == 0);
    CHECK(strcmp(c.audit_log, "off") == 0);
    CHECK(strcmp(c.data_dir, "/srv/k#1") == 0);
    /* Comment-only value = empty value: an empty product list means the default set. */
    CHECK(load_text(&c, "[kms]\nallow_products = ; nothing\n", err, sizeof err) == 0);
    CHECK_EQ_INT(c.n_allow, 0);
    /* Whitespace in a section header, CRLF line ends. */
    CHECK(load_text(&c, "[ limits ]\r\nidle_timeout = 7\r\n", err, sizeof err) == 0);
    CHECK_EQ_INT(c.idle_timeout, 7);
}

/* ---- the reference: every key listed, and a file made from it reads back as defaults -- */

typedef struct ref_row {
    char section[32], key[64], type[32], def[96], range[64], reload[16];
} ref_row;

static int read_reference(ref_row *rows, int max, char **text_out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    config_write_reference(m);
    fclose(m);
    int n = 0;
    char *copy = strdup(buf);
    for (char *line = copy, *next; line && n < max; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (strncmp(line, "| ", 2) != 0 || strncmp(line, "| Section", 9) == 0) continue;
        /* Split on unescaped '|'; "\\|" inside a cell stands for '|'. */
        char *cells[8];
        int nc = 0;
        char *w = line + 1, *start = w;
        for (char *p = line + 1; *p && nc < 8; p++) {
            if (p[0] == '\\' && p[1] == '|') { *w++ = '|'; p++; continue; }
            if (*p != '|') { *w++ = *p; continue; }
            *w = 0;
            while (*start == ' ') start++;
            char *e = start + strlen(start);
            while (e > start && e[-1] == ' ') *--e = 0;
            cells[nc++] = start;
            start = ++w;
        }
        if (nc < 7) continue;
        ref_row *r = &rows[n++];
        snprintf(r->section, sizeof r->section, "%s", cells[0]);
        snprintf(r->key, sizeof r->key, "%.*s", (int)strlen(cells[1]) - 2, cells[1] + 1);
        snprintf(r->type, sizeof r->type, "%s", cells[2]);
        if (strcmp(cells[3], "(empty)") == 0) r->def[0] = 0;
        else snprintf(r->def, sizeof r->def, "%.*s", (int)strlen(cells[3]) - 2, cells[3] + 1);
        snprintf(r->range, sizeof r->range, "%s", cells[4]);
        snprintf(r->reload, sizeof r->reload, "%s", cells[5]);
    }
    free(copy);
    *text_out = buf;
    return n;
}

static void test_reference(void)
{
    static ref_row rows[128];
    char *text;
    int n = read_reference(rows, 128, &text);
    static const char *keys[] = {
        "id", "listen", "data_dir", "admin", "log_level", "log_format", "audit_log", "admin_token_file",
        "read_token_file", "admin_hosts",
        "activation_interval", "renewal_interval", "client_lifetime_days", "count_cap",
        "max_clock_skew", "ndr64", "btfn", "verify_v4_mac", "allow_products",
        "epid_windows", "epid_office2010", "epid_office2013", "epid_office2016",
        "epid_office2019", "epid_office2021", "epid_office2024", "epid_winchinagov",
        "hwid_windows", "hwid_office2010", "hwid_office2013", "hwid_office2016",
        "hwid_office2019", "hwid_office2021", "hwid_office2024", "hwid_winchinagov",
        "max_connections", "max_connections_per_address", "max_pdu_size", "idle_timeout",
        "connection_timeout", "max_requests_per_connection", "pdu_timeout", "ipv6_prefix_len",
        "admin_max_connections", "admin_header_timeout", "admin_body_timeout", "allow_clients",
        "commit_delay_ms", "map_size_mb", "prune_interval",
        "name", "key_dir", "heartbeat_interval_ms", "dead_after_ms",
        "alone_after_ms", "retire_unheard_after_s", "log_retention_hours", "clock_max_offset_s", "future_tolerance_h", "log_max_mb",
        "sync_batch",
        "server", "zones", "tsig_key_file", "ttl", "refresh_interval", "withdraw_after",
        "remote_priority_offset", "timeout_ms",
        "at_risk_days", "room_pattern", "room_prefix_v4", "room_prefix_v6", "metrics_rooms", "interval"};
    CHECK_EQ_INT(n, (int)(sizeof keys / sizeof keys[0]));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        bool found = false;
        for (int r = 0; r < n; r++) found |= strcmp(rows[r].key, keys[i]) == 0;
        CHECKF(found, "reference lacks %s", keys[i]);
        char pat[80];
        snprintf(pat, sizeof pat, "`%s`", keys[i]);
        CHECK(strstr(text, pat) != NULL);
    }
    CHECK(strstr(text, "| Section | Key | Type | Default | Range | Reload | Description |") == text);

    /* A file that spells out every default of the reference loads to config_defaults. */
    char *file = malloc(16384);
    size_t len = 0;
    const char *cur = "";
    for (int r = 0; r < n; r++) {
        if (strcmp(rows[r].section, cur) != 0) {
            cur = rows[r].section;
            len += (size_t)snprintf(file + len, 16384 - len, "[%s]\n", cur);
        }
        len += (size_t)snprintf(file + len, 16384 - len, "%s = %s\n", rows[r].key, rows[r].def);
    }
    kmsd_config a, b;
    char err[512];
    config_defaults(&a);
    CHECKF(load_text(&b, file, err, sizeof err) == 0, "%s", err);
    /* the file gave every key (and the defaults none); otherwise the same configuration */
    for (int r = 0; r < n; r++) {
        CHECKF(config_key_from_file(&b, rows[r].section, rows[r].key), "[%.40s] %.60s", rows[r].section, rows[r].key);
        CHECK(!config_key_from_file(&a, rows[r].section, rows[r].key));
    }
    memset(b.keys_from_file, 0, sizeof b.keys_from_file);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    free(file);

    /* Reload column agrees with config_is_reloadable. */
    for (int r = 0; r < n; r++)
        CHECKF(config_is_reloadable(rows[r].section, rows[r].key) == (strncmp(rows[r].reload, "yes", 3) == 0),
               "reload %s", rows[r].key);
    CHECK(config_is_reloadable("kms", "activation_interval"));
    CHECK(config_is_reloadable("kms", "allow_products"));
    CHECK(config_is_reloadable("kms", "epid_office2019"));
    CHECK(!config_is_reloadable("node", "listen"));
    CHECK(!config_is_reloadable("store", "map_size_mb"));
    CHECK(!config_is_reloadable("kms", "nope"));
    CHECK(!config_is_reloadable("kms", "epid_nope"));
    CHECK(!config_is_reloadable(NULL, "id"));

    /* Ranges at both bounds, for every integer setting of the table. */
    int ints = 0;
    for (int r = 0; r < n; r++) {
        if (strcmp(rows[r].type, "integer") != 0) continue;
        ints++;
        unsigned long lo, hi;
        CHECKF(sscanf(rows[r].range, "%lu..%lu", &lo, &hi) == 2, "range %s", rows[r].range);
        char v[32], want[256];
        kmsd_config c;
        config_defaults(&c);
        snprintf(v, sizeof v, "%lu", lo);
        CHECKF(config_set(&c, rows[r].section, rows[r].key, v, "--t", err, sizeof err) == 0, "%s", err);
        snprintf(v, sizeof v, "%lu", hi);
        CHECKF(config_set(&c, rows[r].section, rows[r].key, v, "--t", err, sizeof err) == 0, "%s", err);
        if (lo > 0) {
            snprintf(v, sizeof v, "%lu", lo - 1);
            snprintf(want, sizeof want, "--t: [%s] %s: value %lu out of range %lu..%lu",
                     rows[r].section, rows[r].key, lo - 1, lo, hi);
            CHECK(config_set(&c, rows[r].section, rows[r].key, v, "--t", err, sizeof err) == KMS_ECONFIG);
            CHECKF(strcmp(err, want) == 0, "got '%.200s' want '%.200s'", err, want);
        }
        snprintf(v, sizeof v, "%lu", hi + 1);
        snprintf(want, sizeof want, "--t: [%s] %s: value %lu out of range %lu..%lu",
                 rows[r].section, rows[r].key, hi + 1, lo, hi);
        CHECK(config_set(&c, rows[r].section, rows[r].key, v, "--t", err, sizeof err) == KMS_ECONFIG);
        CHECKF(strcmp(err, want) == 0, "got '%.200s' want '%.200s'", err, want);
    }
    CHECK_EQ_INT(ints, 38);
    free(text);
}

/* ---- ranges, explicitly ---------------------------------------------------------------- */

static void test_ranges(void)
{
    static const struct { const char *section, *key; uint32_t lo, hi; size_t off; } r[] = {
        {"kms", "activation_interval", 15, 43200, offsetof(kmsd_config, activation_interval)},
        {"kms", "renewal_interval", 15, 43200, offsetof(kmsd_config, renewal_interval)},
        {"kms", "client_lifetime_days", 1, 365, offsetof(kmsd_config, client_lifetime_days)},
        {"kms", "count_cap", 0, 10000, offsetof(kmsd_config, count_cap)},
        {"kms", "max_clock_skew", 0, 10080, offsetof(kmsd_config, max_clock_skew)},
        {"limits", "max_connections", 1, 1000000, offsetof(kmsd_config, max_connections)},
        {"limits", "max_connections_per_address", 1, 100000, offsetof(kmsd_config, max_connections_per_address)},
        {"limits", "max_pdu_size", 72, 65535, offsetof(kmsd_config, max_pdu_size)},
        {"limits", "idle_timeout", 1, 3600, offsetof(kmsd_config, idle_timeout)},
        {"limits", "connection_timeout", 1, 86400, offsetof(kmsd_config, connection_timeout)},
        {"limits", "max_requests_per_connection", 1, 100000, offsetof(kmsd_config, max_requests_per_connection)},
        {"store", "commit_delay_ms", 0, 100, offsetof(kmsd_config, commit_delay_ms)},
        {"store", "map_size_mb", 16, 1048576, offsetof(kmsd_config, map_size_mb)},
        {"store", "prune_interval", 10, 86400, offsetof(kmsd_config, prune_interval)},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        kmsd_config c;
        char v[32], err[256], text[128], want[256];
        uint32_t got;
        config_defaults(&c);
        snprintf(v, sizeof v, "%u", r[i].lo);
        CHECK(config_set(&c, r[i].section, r[i].key, v, "x", err, sizeof err) == 0);
        memcpy(&got, (char *)&c + r[i].off, 4);
        CHECK_EQ_INT(got, r[i].lo);
        snprintf(v, sizeof v, "%u", r[i].hi);
        CHECK(config_set(&c, r[i].section, r[i].key, v, "x", err, sizeof err) == 0);
        memcpy(&got, (char *)&c + r[i].off, 4);
        CHECK_EQ_INT(got, r[i].hi);
        /* Out of range in a file: file:line, section, key, value, range. */
        snprintf(text, sizeof text, "; x\n[%s]\n%s = %u\n", r[i].section, r[i].key, r[i].hi + 1);
        snprintf(want, sizeof want, "3: [%s] %s: value %u out of range %u..%u", r[i].section,
                 r[i].key, r[i].hi + 1, r[i].lo, r[i].hi);
        CHECK_LOAD_ERR(text, want);
        if (r[i].lo > 0) {
            snprintf(text, sizeof text, "[%s]\n%s = %u\n", r[i].section, r[i].key, r[i].lo - 1);
            snprintf(want, sizeof want, "2: [%s] %s: value %u out of range %u..%u", r[i].section,
                     r[i].key, r[i].lo - 1, r[i].lo, r[i].hi);
            CHECK_LOAD_ERR(text, want);
        }
    }
    CHECK_LOAD_ERR("[kms]\nactivation_interval = 5\n",
                   "2: [kms] activation_interval: value 5 out of range 15..43200");
    CHECK_LOAD_ERR("[kms]\nactivation_interval = 99999999999999999999\n",
                   "2: [kms] activation_interval: value 99999999999999999999 out of range 15..43200");
    CHECK_LOAD_ERR("[kms]\nactivation_interval = 4294967296\n",
                   "2: [kms] activation_interval: value 4294967296 out of range 15..43200");
}

/* ---- error messages -------------------------------------------------------------------- */

static void test_errors(void)
{
    CHECK_LOAD_ERR("[kms]\nfoo = 1\n", "2: unknown key 'foo' in [kms]");
    CHECK_LOAD_ERR("[node]\nid = a\n[kms]\nlisten = 1.2.3.4\n", "4: unknown key 'listen' in [kms]");
    CHECK_LOAD_ERR("[kms]\nepid_nope = 1\n", "2: unknown key 'epid_nope' in [kms]");
    CHECK_LOAD_ERR("[kms]\nepid_ = 1\n", "2: unknown key 'epid_' in [kms]");
    CHECK_LOAD_ERR("[kms]\nActivation_interval = 120\n", "2: unknown key 'Activation_interval' in [kms]");
    CHECK_LOAD_ERR("\n[bogus]\nx = 1\n", "2: unknown section [bogus]");
    CHECK_LOAD_ERR("[clusters]\n", "1: unknown section [clusters]");
    /* [peer.ID] sections of a cluster */
    CHECK_LOAD_ERR("[peer.a]\nfoo = 1\n", "2: unknown key 'foo' in [peer.a]");
    /* A key an earlier kmsd took says what replaced it. */
    CHECK_LOAD_ERR_START("[limits]\nadmin_request_timeout = 10\n",
                   "2: [limits] admin_request_timeout: removed; replaced by admin_header_timeout");
    CHECK_LOAD_ERR_START("[cluster]\ninsecure = true\n", "2: [cluster] insecure: removed; replication is always");
    CHECK_LOAD_ERR("[peer.a]\n[peer.a]\n", "2: [peer.a]: peer 'a' is defined twice");
    CHECK_LOAD_ERR_START("[peer.a b]\n", "1: [peer.a b]: peer id 'a b' ");
    CHECK_LOAD_ERR("[peer.a]\npublic_key = short\n", "2: [peer.a] public_key: not a CURVE public key (40 Z85 characters)");
    CHECK_LOAD_ERR("[peer.a]\npriority = 70000\n", "2: [peer.a] priority: value '70000' out of range 0..65535");
    CHECK_LOAD_ERR_START("[peer.a]\nreplication = nowhere:\n", "2: [peer.a] replication: 'nowhere:' is not an address");
    CHECK_LOAD_ERR_START("[report]\nroom_pattern = ^([A-Z]+\n", "2: [report] room_pattern: ");
    CHECK_LOAD_ERR_START("[report]\nroom_pattern = ^LAB-[0-9]+\n", "2: [report] room_pattern: ");
    {
        kmsd_config c;
        char err[256];
        CHECK(load_text(&c, "[report]\nroom_pattern = ^([A-Z]+-[0-9]+)-\n", err, sizeof err) == 0);
    }
    CHECK_LOAD_ERR("[kms\n", "1: malformed section header (expected [name])");
    CHECK_LOAD_ERR("[]\n", "1: malformed section header (expected [name])");
    CHECK_LOAD_ERR("[kms] junk\n", "1: malformed section header (expected [name])");
    { /* "[kms] ; comment" is fine */
        kmsd_config c;
        char err[256];
        CHECK(load_text(&c, "[kms] ; comment\nndr64 = no\n", err, sizeof err) == 0 && !c.ndr64);
    }
    CHECK_LOAD_ERR("[kms]\nndr64\n", "2: expected 'key = value' or '[section]'");
    CHECK_LOAD_ERR("[kms]\n= 1\n", "2: expected 'key = value' or '[section]'");
    CHECK_LOAD_ERR("[kms]\nmy key = 1\n", "2: expected 'key = value' or '[section]'");
    CHECK_LOAD_ERR("ndr64 = no\n", "1: key 'ndr64' before any [section]");
    CHECK_LOAD_ERR("[kms]\nndr64 = no\nbtfn = no\nndr64 = yes\n",
                   "4: [kms] ndr64: given twice (first on line 2)");
    CHECK_LOAD_ERR("[kms]\nepid_windows = 03612-00206-556-123727-03-1033-17763.0000-2972018\n"
                   "[node]\n[kms]\nepid_windows = 03612-00206-556-123727-03-1033-17763.0000-2972018\n",
                   "5: [kms] epid_windows: given twice (first on line 2)");
    CHECK_LOAD_ERR("[kms]\nndr64 = maybe\n",
                   "2: [kms] ndr64: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
    CHECK_LOAD_ERR("[kms]\nndr64 = TRUE\n",
                   "2: [kms] ndr64: 'TRUE' is not a boolean (true/false, yes/no, on/off, 1/0)");
    CHECK_LOAD_ERR("[kms]\nndr64 =\n",
                   "2: [kms] ndr64: '' is not a boolean (true/false, yes/no, on/off, 1/0)");
    CHECK_LOAD_ERR("[kms]\nrenewal_interval = 12abc\n", "2: [kms] renewal_interval: '12abc' is not a number");
    CHECK_LOAD_ERR("[kms]\nrenewal_interval = -1\n", "2: [kms] renewal_interval: '-1' is not a number");
    CHECK_LOAD_ERR("[kms]\nrenewal_interval =\n",
                   "2: [kms] renewal_interval: empty value, expected a number 15..43200");
    CHECK_LOAD_ERR("[node]\nlog_level = verbose\n",
                   "2: [node] log_level: 'verbose' is not one of debug|info|warn|error");
    CHECK_LOAD_ERR("[node]\nlog_level = inf\n",
                   "2: [node] log_level: 'inf' is not one of debug|info|warn|error");
    CHECK_LOAD_ERR("[node]\nid = bad/id\n", "2: [node] id: 'bad/id' may only contain A-Z a-z 0-9 . _ -");
    CHECK_LOAD_ERR("[node]\nid =\n", "2: [node] id: '' must not be empty");
    CHECK_LOAD_ERR("[node]\nid = 0123456789012345678901234567890123456789012345678901234567890123\n",
                   "2: [node] id: value too long (at most 63 characters)");
    CHECK_LOAD_ERR("[node]\ndata_dir =\n", "2: [node] data_dir: '' must not be empty");
    CHECK_LOAD_ERR("[node]\nlisten = 10.0.0.1:1688, 10.0.0.2:99999\n",
                   "2: [node] listen: '10.0.0.2:99999' is not an address (HOST:PORT, [IPV6]:PORT or HOST)");
    CHECK_LOAD_ERR("[node]\nlisten = 10.0.0.256\n",
                   "2: [node] listen: '10.0.0.256' is not an address (HOST:PORT, [IPV6]:PORT or HOST)");
    CHECK_LOAD_ERR("[node]\nadmin = [::1\n",
                   "2: [node] admin: '[::1' is not an address (HOST:PORT, [IPV6]:PORT or HOST, or off)");
    CHECK_LOAD_ERR("[limits]\nallow_clients = 10.0.0.0/33\n",
                   "2: [limits] allow_clients: '10.0.0.0/33' is not a network (ADDRESS/PREFIX or ADDRESS)");
    CHECK_LOAD_ERR("[limits]\nallow_clients = campus\n",
                   "2: [limits] allow_clients: 'campus' is not a network (ADDRESS/PREFIX or ADDRESS)");
    CHECK_LOAD_ERR("[kms]\nallow_products = win10, win99\n",
                   "2: [kms] allow_products: 'win99' is not a product (application or KMS counted ID slug or GUID)");
    CHECK_LOAD_ERR("[kms]\nallow_products = win10-pro\n",
                   "2: [kms] allow_products: 'win10-pro' is an edition (SKU); list its KMS counted ID 'win10' instead");
    CHECK_LOAD_ERR("[kms]\nallow_products = app:win10\n",
                   "2: [kms] allow_products: 'app:win10' is not a product (application or KMS counted ID slug or GUID)");
    CHECK_LOAD_ERR("[kms]\nepid_office2019 = 03612-00206-684-137669-04-1033-17763.0000-2972018\n",
                   "2: [kms] epid_office2019: '03612-00206-684-137669-04-1033-17763.0000-2972018' is not an ePID "
                   "(PPPPP-GGGGG-KKK-KKKKKK-03-LCID-BUILD.0000-DDDYYYY)");
    CHECK_LOAD_ERR("[kms]\nhwid_windows = 3A1C049600B6007\n",
                   "2: [kms] hwid_windows: '3A1C049600B6007' is not a HWID (16 hex digits)");
    CHECK_LOAD_ERR("[kms]\nhwid_winchinagov = 000000000000C60G\n",
                   "2: [kms] hwid_winchinagov: '000000000000C60G' is not a HWID (16 hex digits)");

    /* Too many list entries. */
    char text[4096] = "[node]\nlisten = ";
    for (int i = 0; i < CONFIG_MAX_LISTEN + 1; i++) {
        char e[32];
        snprintf(e, sizeof e, "%s10.0.0.%d", i ? ", " : "", i + 1);
        strcat(text, e);
    }
    strcat(text, "\n");
    CHECK_LOAD_ERR(text, "2: [node] listen: too many entries (at most 16)");

    /* A NUL byte. */
    {
        kmsd_config c;
        char err[256], want[300];
        config_defaults(&c);
        if (tmp_path[0]) unlink(tmp_path);
        snprintf(tmp_path, sizeof tmp_path, "/tmp/kmsha-test-config-XXXXXX");
        int fd = mkstemp(tmp_path);
        CHECK(write(fd, "[kms]\nndr64 = n\0o\n", 18) == 18);
        close(fd);
        CHECK(config_load(&c, tmp_path, err, sizeof err) == KMS_ECONFIG);
        snprintf(want, sizeof want, "%s:2: NUL byte in line", tmp_path);
        CHECKF(strcmp(err, want) == 0, "%s", err);
    }

    /* A file that does not exist. */
    {
        kmsd_config c;
        char err[256];
        config_defaults(&c);
        CHECK(config_load(&c, "/nonexistent/kmsd.ini", err, sizeof err) == KMS_ECONFIG);
        CHECKF(strcmp(err, "/nonexistent/kmsd.ini: cannot open: No such file or directory") == 0, "%s", err);
        /* errlen 0 and NULL err are tolerated. */
        CHECK(config_load(&c, "/nonexistent/kmsd.ini", NULL, 0) == KMS_ECONFIG);
    }

    /* A failed load keeps earlier lines but never half a list. */
    {
        kmsd_config c;
        char err[256];
        CHECK(load_text(&c, "[node]\nlisten = 10.0.0.1, nope!\n", err, sizeof err) == KMS_ECONFIG);
        CHECK_EQ_INT(c.n_listen, 1);
        CHECK(strcmp(c.listen[0].host, "127.0.0.1") == 0);
    }
}

/* ---- config_set ------------------------------------------------------------------------ */

static void test_set(void)
{
    kmsd_config c;
    char err[256];
    config_defaults(&c);
    CHECK(config_set(&c, "kms", "activation_interval", "30", "--activation-interval", err, sizeof err) == 0);
    CHECK_EQ_INT(c.activation_interval, 30);
    CHECK(config_set(&c, "kms", "activation_interval", "3", "--activation-interval", err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "--activation-interval: [kms] activation_interval: value 3 out of range 15..43200") == 0, "%s", err);
    CHECK_EQ_INT(c.activation_interval, 30); /* unchanged */
    CHECK(config_set(&c, "kms", "nope", "1", "--nope", err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "--nope: unknown key 'nope' in [kms]") == 0, "%s", err);
    CHECK(config_set(&c, "nope", "x", "1", "--x", err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "--x: unknown section [nope]") == 0, "%s", err);
    CHECK(config_set(&c, "kms", "ndr64", "1", NULL, err, sizeof err) == 0);
    CHECK(config_set(&c, "kms", "ndr64", "x", NULL, err, sizeof err) == KMS_ECONFIG);
    CHECK(strncmp(err, "command line: [kms] ndr64: ", 27) == 0);
    CHECK(config_set(&c, "kms", NULL, "x", "--y", err, sizeof err) == KMS_ECONFIG);

    /* Lists append (kmsd clears n_listen before its first --listen). */
    c.n_listen = 0;
    CHECK(config_set(&c, "node", "listen", "127.0.0.2", "--listen", err, sizeof err) == 0);
    CHECK(config_set(&c, "node", "listen", "[::1]:11688, 127.0.0.3:2000", "--listen", err, sizeof err) == 0);
    CHECK_EQ_INT(c.n_listen, 3);
    CHECK(strcmp(c.listen[0].host, "127.0.0.2") == 0 && c.listen[0].port == 1688);
    CHECK(strcmp(c.listen[1].host, "::1") == 0 && c.listen[1].port == 11688);
    CHECK(strcmp(c.listen[2].host, "127.0.0.3") == 0 && c.listen[2].port == 2000);
    CHECK(config_set(&c, "node", "listen", "127.0.0.9, bad host", "--listen", err, sizeof err) == KMS_ECONFIG);
    CHECK_EQ_INT(c.n_listen, 3); /* all or nothing */
    CHECK(config_set(&c, "node", "listen", " , ,", "--listen", err, sizeof err) == 0);
    CHECK_EQ_INT(c.n_listen, 3); /* empty entries are skipped */
    for (int i = 3; i < CONFIG_MAX_LISTEN; i++) {
        char v[32];
        snprintf(v, sizeof v, "10.1.1.%d", i);
        CHECK(config_set(&c, "node", "listen", v, "--listen", err, sizeof err) == 0);
    }
    CHECK(config_set(&c, "node", "listen", "10.9.9.9", "--listen", err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "--listen: [node] listen: too many entries (at most 16)") == 0, "%s", err);
    CHECK_EQ_INT(c.n_listen, CONFIG_MAX_LISTEN);

    CHECK(config_set(&c, "kms", "epid_office2021", "03612-00206-583-417205-03-1033-20348.0000-3062021",
                     "--x", err, sizeof err) == 0);
    CHECK(config_set(&c, "kms", "hwid_office2021", "0123456789abcdef", "--x", err, sizeof err) == 0);
    CHECK_MEM(c.hwid[KMS_GROUP_OFFICE2021], "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
}

/* ---- addresses and CIDRs --------------------------------------------------------------- */

static void test_addr(void)
{
    static const struct { const char *text; const char *host; int port; } ok[] = {
        {"127.0.0.1:1688", "127.0.0.1", 1688},
        {"127.0.0.1", "127.0.0.1", 1},
        {"0.0.0.0:0", "0.0.0.0", 0},
        {"kms.example.org:1700", "kms.example.org", 1700},
        {"kms-2", "kms-2", 1},
        {"[::1]:1688", "::1", 1688},
        {"[::]", "::", 1},
        {"[2001:db8::7]:65535", "2001:db8::7", 65535},
        {"2001:db8::7", "2001:db8::7", 1},
        {"::ffff:10.0.0.1", "::ffff:10.0.0.1", 1},
        {"[fe80::1%eth0]:1688", "fe80::1%eth0", 1688},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        config_addr a;
        memset(&a, 0, sizeof a);
        int rc = config_parse_addr(ok[i].text, 1, &a);
        CHECKF(rc == 0 && strcmp(a.host, ok[i].host) == 0 && a.port == ok[i].port,
               "%s -> rc %d %s %u", ok[i].text, rc, a.host, a.port);
    }
    static const char *bad[] = {"", ":1688", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:1x",
        "127.0.0.1:123456", "[::1", "[::1]x", "[::1]:", "[]:1688", "[10.0.0.1]:1688",
        "2001:db8::g", "10.0.0.256", "1.2.3", "host name", "-host", ".host", "a/b", "[::1]:-1",
        "fe80::1%", "1.2.3.4:+80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_addr a;
        CHECKF(config_parse_addr(bad[i], 1688, &a) == KMS_EINVAL, "'%s' accepted", bad[i]);
    }
    char longhost[300];
    memset(longhost, 'a', 299);
    longhost[299] = 0;
    config_addr a;
    CHECK(config_parse_addr(longhost, 1688, &a) == KMS_EINVAL);
    CHECK(config_parse_addr(NULL, 1688, &a) == KMS_EINVAL);
}

static bool match(const char *cidr, const char *addr)
{
    config_cidr c;
    if (config_parse_cidr(cidr, &c) != 0) { fprintf(stderr, "bad cidr %s\n", cidr); exit(2); }
    uint8_t b[16];
    if (inet_pton(AF_INET, addr, b) == 1) return config_cidr_match(&c, AF_INET, b);
    if (inet_pton(AF_INET6, addr, b) == 1) return config_cidr_match(&c, AF_INET6, b);
    fprintf(stderr, "bad addr %s\n", addr);
    exit(2);
}

static void test_cidr(void)
{
    config_cidr c;
    CHECK(config_parse_cidr("10.0.0.0/8", &c) == 0 && c.family == AF_INET && c.prefix == 8);
    CHECK_MEM(c.addr, "\x0a\0\0\0", 4);
    CHECK(config_parse_cidr("10.1.2.3/8", &c) == 0); /* host bits are cleared */
    CHECK_MEM(c.addr, "\x0a\0\0\0", 4);
    CHECK(config_parse_cidr("192.168.1.77/27", &c) == 0);
    CHECK_MEM(c.addr, "\xc0\xa8\x01\x40", 4);
    CHECK(config_parse_cidr("192.168.1.7", &c) == 0 && c.prefix == 32);
    CHECK(config_parse_cidr("2001:db8::/32", &c) == 0 && c.family == AF_INET6 && c.prefix == 32);
    CHECK(config_parse_cidr("::1", &c) == 0 && c.prefix == 128);
    CHECK(config_parse_cidr("0.0.0.0/0", &c) == 0 && c.prefix == 0);
    static const char *bad[] = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x",
        "10.0.0.0/0008", "2001:db8::/129", "10.0.0/8", "host/8", "10.0.0.0/8/8", "fe80::1%eth0/64"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(config_parse_cidr(bad[i], &c) == KMS_EINVAL, "'%s' accepted", bad[i]);

    /* IPv4 */
    CHECK(match("10.0.0.0/8", "10.255.1.2"));
    CHECK(!match("10.0.0.0/8", "11.0.0.1"));
    CHECK(match("192.168.1.64/27", "192.168.1.95"));
    CHECK(!match("192.168.1.64/27", "192.168.1.96"));
    CHECK(!match("192.168.1.64/27", "192.168.1.63"));
    CHECK(match("192.168.1.7", "192.168.1.7"));
    CHECK(!match("192.168.1.7", "192.168.1.6"));
    CHECK(match("0.0.0.0/0", "203.0.113.9"));
    CHECK(!match("10.0.0.0/8", "2001:db8::1"));
    /* IPv6 */
    CHECK(match("2001:db8::/32", "2001:db8:ffff::1"));
    CHECK(!match("2001:db8::/32", "2001:db9::1"));
    CHECK(match("2001:db8:0:100::/57", "2001:db8:0:17f::1"));
    CHECK(!match("2001:db8:0:100::/57", "2001:db8:0:180::1"));
    CHECK(match("::1", "::1"));
    CHECK(!match("::1", "::2"));
    CHECK(!match("2001:db8::/32", "10.0.0.1"));
    /* IPv4-mapped IPv6 addresses match IPv4 networks, and mapped networks match IPv4. */
    CHECK(match("10.0.0.0/8", "::ffff:10.1.2.3"));
    CHECK(!match("10.0.0.0/8", "::ffff:11.1.2.3"));
    CHECK(!match("10.0.0.0/8", "::10.1.2.3"));       /* IPv4-compatible is not mapped */
    CHECK(!match("10.0.0.0/8", "64:ff9b::a01:203")); /* nor is NAT64 */
    CHECK(match("::ffff:10.0.0.0/104", "10.9.9.9"));
    CHECK(!match("::ffff:10.0.0.0/104", "11.9.9.9"));
    CHECK(match("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
    CHECK(!config_cidr_match(NULL, AF_INET, (const uint8_t *)"\0\0\0\0"));
    CHECK(!config_cidr_match(&c, AF_UNIX, (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"));
}

/* ---- product allowlist ----------------------------------------------------------------- */

#define APP_WINDOWS "55c92734-d682-4d71-983e-d6ec3f16059f"
#define APP_OFFICE2010 "59a52881-a989-479d-af46-f275c6370663"
#define APP_OFFICE2013 "0ff1ce15-a989-479d-af46-f275c6370663"
#define KMS_WIN10 "58e2134f-8e11-4d17-9cb2-91069c151148"
#define KMS_WIN10_RETAIL "e1c51358-fe3e-4203-a4a2-3b6b20c9734e"
#define KMS_WS_PREVIEW "6d5f5270-31ac-433e-b90a-39892923c657"
#define KMS_WS2022 "b74263e4-0f92-46c6-bcf8-c11d5efe2959"
#define KMS_OFFICE2010 "e85af946-2e25-47b7-83e1-bebcebeac611"
#define KMS_OFFICE2013 "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0"
#define KMS_OFFICE2013_PRE "aa4c7968-b9da-4680-92b6-acb25e2f866c"
#define KMS_OFFICE2016 "85b5f61b-320b-4be3-814a-b76b2bfafc82"
#define KMS_OFFICE2019 "617d9eb1-ef36-4f82-86e0-a65ae07b96c6"
#define KMS_OFFICE2024 "a8973cb5-bf03-0a4c-9cef-703099645ab3"
#define KMS_WS2025 "907f1f65-adcd-4a2e-95bc-4bf500bc6e58"
#define KMS_OFFICE2024_MADE_UP "1b4db7eb-4057-5ddf-91e0-36dec72071f5" /* kms-ids.md, 2026-12-06 */
#define KMS_UNKNOWN "01234567-89ab-cdef-0123-456789abcdef"

static bool allowed(const kmsd_config *c, const char *app, const char *kms)
{
    kms_guid a, k;
    guid(app, &a);
    guid(kms, &k);
    return config_product_allowed(c, products_app_from_id(&a), products_find(&k), &k);
}

static void with_allow(kmsd_config *c, const char *list)
{
    char err[256];
    config_defaults(c);
    if (config_set(c, "kms", "allow_products", list, "test", err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

static void test_allowlist(void)
{
    kmsd_config c;
    config_defaults(&c);
    /* Default: every volume KMS counted ID of the table, under its own application, and
     * KMS counted IDs the table does not know under a known application (the table lags
     * Microsoft; kmsd reports them). */
    CHECK(allowed(&c, APP_WINDOWS, KMS_WIN10));
    CHECK(allowed(&c, APP_WINDOWS, KMS_WS2022));
    CHECK(allowed(&c, APP_WINDOWS, KMS_WS2025));
    CHECK(allowed(&c, APP_OFFICE2010, KMS_OFFICE2010));
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2019));
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2024));
    CHECK(!allowed(&c, APP_WINDOWS, KMS_WIN10_RETAIL));  /* retail */
    CHECK(!allowed(&c, APP_WINDOWS, KMS_WS_PREVIEW));    /* preview */
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2013_PRE));
    CHECK(allowed(&c, APP_WINDOWS, KMS_UNKNOWN));        /* not in the table */
    CHECK(allowed(&c, APP_OFFICE2010, KMS_UNKNOWN));
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2024_MADE_UP));
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_WIN10));      /* wrong application */
    CHECK(!allowed(&c, APP_WINDOWS, KMS_OFFICE2019));
    CHECK(!allowed(&c, APP_OFFICE2010, KMS_OFFICE2019));
    CHECK(!allowed(&c, KMS_UNKNOWN, KMS_WIN10));         /* unknown application */
    /* Every non-retail non-preview product of the table is served by default. */
    for (size_t i = 0; i < products_count(); i++) {
        const kms_product *p = products_at(i);
        bool want = !(p->flags & (KMS_PRODUCT_RETAIL | KMS_PRODUCT_PREVIEW));
        CHECKF(allowed(&c, products_app_id(p->app), p->id) == want, "%s", p->slug);
    }

    /* One KMS counted ID: only that one. */
    with_allow(&c, "office2019");
    CHECK_EQ_INT(c.n_allow, 1);
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2019));
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2016));
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2024));
    CHECK(!allowed(&c, APP_WINDOWS, KMS_WIN10));
    CHECK(!allowed(&c, APP_WINDOWS, KMS_OFFICE2019)); /* its application must match */
    CHECK(!allowed(&c, APP_WINDOWS, KMS_UNKNOWN));    /* a list is strict */
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2024_MADE_UP));
    for (size_t i = 0; i < products_count(); i++) {
        const kms_product *p = products_at(i);
        CHECK(allowed(&c, products_app_id(p->app), p->id) == (strcmp(p->slug, "office2019") == 0));
    }

    /* Retail can be served when named explicitly (by slug or GUID). */
    with_allow(&c, "win10-retail");
    CHECK(allowed(&c, APP_WINDOWS, KMS_WIN10_RETAIL));
    CHECK(!allowed(&c, APP_WINDOWS, KMS_WIN10));
    with_allow(&c, "{" KMS_WIN10_RETAIL "}");
    CHECK(allowed(&c, APP_WINDOWS, KMS_WIN10_RETAIL));

    /* A whole application: its volume products (retail and preview still refused) and
     * KMS counted IDs the table does not know yet. */
    with_allow(&c, "windows");
    CHECK(c.allow[0].is_app && c.allow[0].app == KMS_APP_WINDOWS);
    CHECK(allowed(&c, APP_WINDOWS, KMS_WIN10));
    CHECK(!allowed(&c, APP_WINDOWS, KMS_WIN10_RETAIL));
    CHECK(allowed(&c, APP_WINDOWS, KMS_UNKNOWN));
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2019));
    with_allow(&c, APP_OFFICE2013);
    CHECK(c.allow[0].is_app && c.allow[0].app == KMS_APP_OFFICE2013);
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2016));
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2024));
    CHECK(!allowed(&c, APP_OFFICE2010, KMS_OFFICE2010));
    CHECK(!allowed(&c, APP_WINDOWS, KMS_WIN10));

    /* office2013: the KMS counted ID; app:office2013 the application. */
    with_allow(&c, "office2013");
    CHECK(!c.allow[0].is_app);
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2013));
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2016));
    with_allow(&c, "app:office2013");
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2016));
    with_allow(&c, "kms:office2013, kms:" KMS_UNKNOWN);
    CHECK(allowed(&c, APP_OFFICE2013, KMS_OFFICE2013));
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2016));
    /* A KMS counted ID the table does not know: allowed under any application. */
    CHECK(allowed(&c, APP_WINDOWS, KMS_UNKNOWN));

    /* Mixed list. */
    with_allow(&c, "win10, ws2022, app:office2010");
    CHECK(allowed(&c, APP_WINDOWS, KMS_WIN10));
    CHECK(allowed(&c, APP_WINDOWS, KMS_WS2022));
    CHECK(allowed(&c, APP_OFFICE2010, KMS_OFFICE2010));
    CHECK(!allowed(&c, APP_OFFICE2013, KMS_OFFICE2019));
    CHECK(!allowed(&c, APP_WINDOWS, "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5")); /* ws2019 */

    char err[256];
    config_defaults(&c);
    CHECK(config_set(&c, "kms", "allow_products", "kms:" APP_WINDOWS, "t", err, sizeof err) == KMS_ECONFIG);
    CHECK(config_set(&c, "kms", "allow_products", "app:" KMS_WIN10, "t", err, sizeof err) == KMS_ECONFIG);
    CHECK(config_set(&c, "kms", "allow_products", "2de67392-b7a7-462a-b1ca-108dd189f588", "t", err,
                     sizeof err) == 0); /* a SKU GUID is just an unknown KMS counted ID GUID */
    CHECK(!config_product_allowed(NULL, -1, NULL, NULL));
}

/* ---- validation ------------------------------------------------------------------------ */

static void test_validate(void)
{
    kmsd_config c;
    char err[256];
    config_defaults(&c);
    CHECK(config_validate(&c, err, sizeof err) == 0);

    c.n_listen = 0;
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "[node] listen: at least one listen address is needed") == 0, "%s", err);
    config_defaults(&c);
    CHECK(config_set(&c, "node", "listen", "127.0.0.1:1688", "x", err, sizeof err) == 0);
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "[node] listen: 127.0.0.1 port 1688 is listed twice") == 0, "%s", err);

    config_defaults(&c);
    c.node_id[0] = 0;
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "[node] id: '' must not be empty") == 0, "%s", err);
    snprintf(c.node_id, sizeof c.node_id, "a b");
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    memset(c.node_id, 'x', sizeof c.node_id); /* not even terminated */
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    snprintf(c.node_id, sizeof c.node_id, "%s", "A.b_c-9");
    CHECK(config_validate(&c, err, sizeof err) == 0);

    config_defaults(&c);
    c.data_dir[0] = 0;
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);

    config_defaults(&c);
    c.activation_interval = 14;
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    config_defaults(&c);
    c.activation_interval = 20000;
    c.renewal_interval = 10000;
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECK(strstr(err, "[kms] activation_interval: 20000 minutes is longer than renewal_interval") == err);
    config_defaults(&c);
    c.renewal_interval = 43200;
    CHECK(config_validate(&c, err, sizeof err) == 0); /* exactly the 30-day lifetime */
    c.client_lifetime_days = 7;
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECK(strstr(err, "[kms] renewal_interval: 43200 minutes is longer than client_lifetime_days") == err);

    config_defaults(&c);
    c.epid[KMS_GROUP_OFFICE2021][0] = 0;
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECKF(strcmp(err, "[kms] epid_office2021: not a valid ePID") == 0, "%s", err);

    config_defaults(&c);
    snprintf(c.log_level, sizeof c.log_level, "loud");
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
}

/* ---- dual-stack peers ------------------------------------------------------------------- */

/* [peer.ID] kms and admin take address lists: an IPv4 and an IPv6 address of one node. */
static void test_peer_addr_lists(void)
{
    kmsd_config c;
    char err[512];
    const char *ok = "[cluster]\nkey_dir = /k\n"
                     "[peer.a]\nkms = 10.0.0.1:1688, [2001:db8::1]:1688\nadmin = [2001:db8::1]:8688,10.0.0.1\n"
                     "replication = [2001:db8::1]:7001\npublic_key = rq:rM>}U?@Lns47E1.kR.o@n.FcmmsL/@{H8]yf7\n"
                     "[peer.b]\nkms = 10.0.0.2\nkms = [2001:db8::2]\nreplication = 10.0.0.2:7001\npublic_key = rq:rM>}U?@Lns47E1.kR.o@n.FcmmsL/@{H8]yf7\n";
    CHECKF(load_text(&c, ok, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(c.n_peers, 2);
    const config_peer *a = config_find_peer(&c, "a"), *b = config_find_peer(&c, "b");
    CHECK(a && b);
    if (!a || !b) return;
    CHECK_EQ_INT(a->n_kms, 2);
    CHECK(!strcmp(a->kms_addrs[0].host, "10.0.0.1") && a->kms_addrs[0].port == 1688);
    CHECK(!strcmp(a->kms_addrs[1].host, "2001:db8::1") && a->kms_addrs[1].port == 1688);
    CHECK(!strcmp(a->kms.host, "10.0.0.1") && a->kms.port == 1688); /* the first */
    CHECK_EQ_INT(a->n_admin, 2);
    CHECK(!strcmp(a->admin.host, "2001:db8::1") && a->admin.port == 8688);
    CHECK(!strcmp(a->admin_addrs[1].host, "10.0.0.1") && a->admin_addrs[1].port == 8688);
    CHECK(!strcmp(a->replication.host, "2001:db8::1"));
    /* a repeated key appends, as [node] listen does */
    CHECK_EQ_INT(b->n_kms, 2);
    CHECK(!strcmp(b->kms_addrs[1].host, "2001:db8::2") && b->kms_addrs[1].port == 1688);
    c.node_id[0] = 'a', c.node_id[1] = 0;
    CHECKF(config_validate(&c, err, sizeof err) == 0, "%s", err);

    CHECK_LOAD_ERR("[peer.a]\nkms = 10.0.0.1, 10.0.0.1:1688\n", "2: [peer.a] kms: '10.0.0.1:1688' is listed twice");
    CHECK_LOAD_ERR("[peer.a]\nkms = 10.0.0.1, [2001:db8::1\n",
                   "2: [peer.a] kms: '[2001:db8::1' is not an address (HOST:PORT or [IPV6]:PORT)");
    CHECK_LOAD_ERR("[peer.a]\nadmin = ,\n", "2: [peer.a] admin: no address given");
    CHECK_LOAD_ERR("[peer.a]\nkms = 1.0.0.1, 1.0.0.2\nkms = 1.0.0.3,1.0.0.4,1.0.0.5\n",
                   "3: [peer.a] kms: too many addresses (at most 4)");
    /* A bad entry stores nothing: the earlier list stays. */
    CHECK(load_text(&c, "[peer.a]\nkms = 10.0.0.1\nkms = [::1], nowhere:x\n", err, sizeof err) == KMS_ECONFIG);

    /* DNS publishing: one SRV port per node, and a derived target needs address literals. */
    char text[1024];
    const char *dns = "[dns]\nserver = 127.0.0.1:53\nzones = kms.test\ntsig_key_file = /k\n";
    snprintf(text, sizeof text, "%s[cluster]\nkey_dir = /k\n[peer.a]\npublic_key = rq:rM>}U?@Lns47E1.kR.o@n.FcmmsL/@{H8]yf7\nkms = 10.0.0.1:1688, [2001:db8::1]:1689\n"
             "replication = 10.0.0.1:7001\n", dns);
    CHECK(load_text(&c, text, err, sizeof err) == 0);
    snprintf(c.node_id, sizeof c.node_id, "a");
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECKF(strstr(err, "[peer.a] kms: 10.0.0.1 takes port 1688, 2001:db8::1 port 1689: the SRV record has one port") == err,
           "%s", err);
    snprintf(text, sizeof text, "%s[cluster]\nkey_dir = /k\n[peer.a]\npublic_key = rq:rM>}U?@Lns47E1.kR.o@n.FcmmsL/@{H8]yf7\nkms = kms-a.example.edu, [2001:db8::1]\n"
             "replication = 10.0.0.1:7001\n", dns);
    CHECK(load_text(&c, text, err, sizeof err) == 0);
    snprintf(c.node_id, sizeof c.node_id, "a");
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECKF(strstr(err, "[peer.a] target: needed for DNS publishing, since kms lists a host name (kms-a.example.edu)") == err,
           "%s", err);
    snprintf(text, sizeof text, "%s[cluster]\nkey_dir = /k\n[peer.a]\npublic_key = rq:rM>}U?@Lns47E1.kR.o@n.FcmmsL/@{H8]yf7\nkms = 10.0.0.1, [::]\n"
             "replication = 10.0.0.1:7001\n", dns);
    CHECK(load_text(&c, text, err, sizeof err) == 0);
    snprintf(c.node_id, sizeof c.node_id, "a");
    CHECK(config_validate(&c, err, sizeof err) == KMS_ECONFIG);
    CHECKF(strstr(err, "[peer.a] target: needed for DNS publishing, since kms is a wildcard address") == err, "%s", err);
}

int main(void)
{
    test_defaults();
    test_full_file();
    test_reference();
    test_ranges();
    test_errors();
    test_set();
    test_addr();
    test_cidr();
    test_allowlist();
    test_validate();
    test_peer_addr_lists();
    if (tmp_path[0]) unlink(tmp_path);
    return tu_finish();
}
