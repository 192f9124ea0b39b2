/* config.c: kmsd's configuration (node/config.h). One table of settings drives the INI
 * parser, the command-line overrides (config_set), the defaults, the Markdown reference
 * and the SIGHUP reload policy, so they cannot drift apart.
 *
 * File syntax (decided here, repeated in the reference):
 *  - "[section]" headers and "key = value" lines; whitespace around both is trimmed.
 *  - A line whose first non-blank character is ';' or '#' is a comment. A value may end
 *    in a comment introduced by whitespace and then ';' or '#' ("ndr64 = no  ; old
 *    clients"), so a value cannot contain " ;" or " #". No quoting.
 *  - Keys are case-sensitive. A single-valued key given twice in one file is an error.
 *    List keys (listen, allow_products, allow_clients) take comma-separated entries and
 *    may be repeated: the lines add up, and the first line of a file replaces the default.
 *    config_set (command-line flags) appends to lists as well; a caller that wants to
 *    replace a list clears its count first.
 *  - Every error names FILE:LINE, section and key.
 *
 * Extending: plain settings are rows of `settings` below. Sections whose keys are not
 * fixed (e.g. [peer.NAME] for replication) go in `section_hooks`: a handler that gets the
 * section header (key NULL) and then every key of that section. */
#include "node/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <regex.h>
#include "proto/errors.h"
#include "proto/guid.h"

#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the table --------------------------------------------------------------------------- */

typedef enum setting_type {
    ST_STRING,       /* char[size] */
    ST_ENUM,         /* char[size], one of `choices` ("a|b|c") */
    ST_BOOL,         /* bool */
    ST_UINT,         /* uint32_t in min..max */
    ST_ADDR,         /* config_addr; port `port` when omitted; "off" -> port 0 if allowed */
    ST_ADDR_LIST,    /* config_addr[max] + int count */
    ST_CIDR_LIST,    /* config_cidr[max] + int count */
    ST_PRODUCT_LIST, /* config_allow[max] + int count */
    ST_EPID,         /* char[KMS_GROUP_COUNT][size], per ePID group: key "epid_<group>" */
    ST_HWID,         /* uint8_t[KMS_GROUP_COUNT][8], per ePID group: key "hwid_<group>" */
} setting_type;

typedef struct setting {
    const char *section;
    const char *key;      /* for per-group types: the prefix ("epid_") */
    setting_type type;
    size_t offset;        /* of the value in kmsd_config */
    size_t size;          /* strings: buffer size; lists: capacity */
    size_t count_offset;  /* lists: offset of the int count */
    uint32_t min, max;    /* ST_UINT */
    uint16_t port;        /* ST_ADDR / ST_ADDR_LIST: port when the text has none */
    bool allow_off;       /* ST_ADDR: "off" disables (port 0) */
    const char *choices;  /* ST_ENUM */
    /* Extra check of a string value; returns NULL or what is wrong. */
    const char *(*check)(const char *value);
    const char *def;      /* default as text, parsed like a file value; NULL: from products */
    config_reload reload; /* on SIGHUP: how the new value takes effect, or RESTART */
    const char *help;
} setting;

static const char *check_node_id(const char *v);
static const char *check_nonempty(const char *v);
static const char *check_dns_server(const char *v);
static const char *check_dns_zones(const char *v);
static const char *check_room_pattern(const char *v);

#define OFF(f) offsetof(kmsd_config, f)
#define SZ(f) sizeof(((kmsd_config *)0)->f)
#define CAP(f) (sizeof(((kmsd_config *)0)->f) / sizeof(((kmsd_config *)0)->f[0]))

static const setting settings[] = {
    /* [node] */
    {"node", "id", ST_STRING, OFF(node_id), SZ(node_id), 0, 0, 0, 0, false, NULL,
     check_node_id, "kms1", false,
     "This node's id, unique in the cluster: 1-63 of A-Z a-z 0-9 . _ -"},
    {"node", "listen", ST_ADDR_LIST, OFF(listen), CAP(listen), OFF(n_listen), 0, 0, 1688,
     false, NULL, NULL, "127.0.0.1:1688", false,
     "KMS addresses to listen on: HOST:PORT, [V6]:PORT or HOST (port 1688); "
     "comma-separated, the key may be repeated. In a cluster file a node listens on its "
     "[peer.ID] kms addresses unless this key (or --listen) is given"},
    {"node", "data_dir", ST_STRING, OFF(data_dir), SZ(data_dir), 0, 0, 0, 0, false, NULL,
     check_nonempty, "./var", false, "Directory of the LMDB store (and the default audit log)"},
    {"node", "admin", ST_ADDR, OFF(admin), 0, 0, 0, 0, 8688, true, NULL, NULL,
     "127.0.0.1:8688", false,
     "Admin HTTP address (/metrics, /status, /healthz); port 8688 when omitted; off disables. "
     "In a cluster file, by default the node's [peer.ID] admin addresses"},
    {"node", "log_level", ST_ENUM, OFF(log_level), SZ(log_level), 0, 0, 0, 0, false,
     "debug|info|warn|error", NULL, "info", CONFIG_RELOAD_LOG_LEVEL, "Least severe log message written"},
    {"node", "log_format", ST_ENUM, OFF(log_format), SZ(log_format), 0, 0, 0, 0, false,
     "auto|text|journal", NULL, "auto", false,
     "Log lines: text = UTC time, node, level, message; journal = a <N> syslog priority "
     "prefix and no time (journald adds it; journalctl -p filters); auto = journal when "
     "standard error is the journal (JOURNAL_STREAM), text otherwise"},
    {"node", "audit_log", ST_STRING, OFF(audit_log), SZ(audit_log), 0, 0, 0, 0, false, NULL,
     NULL, "", false,
     "Audit log (one JSON line per request): a path; empty = DATA_DIR/audit.log; "
     "off = none; - = standard output"},

    {"node", "admin_token_file", ST_STRING, OFF(admin_token_file), SZ(admin_token_file), 0, 0, 0, 0, false,
     NULL, NULL, "", false,
     "File of the admin token (made at first start, mode 0600) that GET /dns, POST /drain and POST /undrain "
     "need in an Authorization: Bearer header, and that also reads what the read token reads (kmsctl: "
     "--token-file or KMSHA_ADMIN_TOKEN_FILE); empty = DATA_DIR/admin.token; the same file on every node lets "
     "kmsctl drain any of them"},
    {"node", "read_token_file", ST_STRING, OFF(read_token_file), SZ(read_token_file), 0, 0, 0, 0, false,
     NULL, NULL, "", false,
     "File of the read token (made at first start, mode 0600; not the admin token) that GET /clients and "
     "GET /report (client records: workstation names, addresses) need in an Authorization: Bearer header, "
     "the admin token being accepted too (kmsctl: --read-token-file or KMSHA_READ_TOKEN_FILE; the status "
     "page asks for it); empty = DATA_DIR/read.token"},
    {"node", "admin_hosts", ST_STRING, OFF(admin_hosts), SZ(admin_hosts), 0, 0, 0, 0, false, NULL, NULL, "",
     false,
     "Host names by which the admin address is reached besides its own address (and localhost for a "
     "loopback address), comma-separated; a request naming another Host is refused (DNS rebinding)"},

    /* [kms] */
    {"kms", "activation_interval", ST_UINT, OFF(activation_interval), 0, 0, 15, 43200, 0,
     false, NULL, NULL, "120", true,
     "Minutes an unactivated client waits before it retries (sent in every response)"},
    {"kms", "renewal_interval", ST_UINT, OFF(renewal_interval), 0, 0, 15, 43200, 0, false,
     NULL, NULL, "10080", true,
     "Minutes an activated client waits before it renews (sent in every response)"},
    {"kms", "client_lifetime_days", ST_UINT, OFF(client_lifetime_days), 0, 0, 1, 365, 0,
     false, NULL, NULL, "30", CONFIG_RELOAD_COUNT_RULE,
     "Days a client keeps counting after its last request"},
    {"kms", "count_cap", ST_UINT, OFF(count_cap), 0, 0, 0, 10000, 0, false, NULL, NULL, "0",
     CONFIG_RELOAD_COUNT_RULE, "Largest count reported; 0 = twice the largest N of the application's live clients, N being the "
     "product table's for their KMS counted ID (never above 50 for Windows, 10 for Office)"},
    {"kms", "max_clock_skew", ST_UINT, OFF(max_clock_skew), 0, 0, 0, 10080, 0, false, NULL,
     NULL, "240", true,
     "Minutes a client clock may be off before 0xC004F06C is returned; 0 = no check"},
    {"kms", "ndr64", ST_BOOL, OFF(ndr64), 0, 0, 0, 0, 0, false, NULL, NULL, "true", true,
     "Accept the NDR64 transfer syntax (as Windows 8 and later hosts do)"},
    {"kms", "btfn", ST_BOOL, OFF(btfn), 0, 0, 0, 0, 0, false, NULL, NULL, "true", true,
     "Acknowledge bind-time feature negotiation (as Windows 7 and later hosts do)"},
    {"kms", "verify_v4_mac", ST_BOOL, OFF(verify_v4_mac), 0, 0, 0, 0, 0, false, NULL, NULL,
     "true", true, "Refuse v4 requests whose MAC does not verify"},
    {"kms", "allow_products", ST_PRODUCT_LIST, OFF(allow), CAP(allow), OFF(n_allow), 0, 0, 0,
     false, NULL, NULL, "", true,
     "Products served: application (windows, office2010, app:office2013: its volume products "
     "and KMS counted IDs newer than the table) or KMS counted ID "
     "(win10, ws2022, office2019, ...: exactly that one, retail too) slugs or GUIDs, comma-separated; "
     "empty = every volume (not retail, not preview) KMS counted ID of the product table and "
     "every KMS counted ID the table does not know under a known application (served, counted "
     "with that application and reported: kmsctl products --unknown); a list is strict"},
    {"kms", "epid_", ST_EPID, OFF(epid), SZ(epid[0]), 0, 0, 0, 0, false, NULL, NULL, NULL,
     true, "ePID returned for products of this ePID group"},
    {"kms", "hwid_", ST_HWID, OFF(hwid), 0, 0, 0, 0, 0, false, NULL, NULL, NULL, true,
     "HWID (16 hex digits) returned in v6 responses for products of this ePID group"},

    /* [limits] */
    {"limits", "max_connections", ST_UINT, OFF(max_connections), 0, 0, 1, 1000000, 0, false,
     NULL, NULL, "10000", true, "Open KMS connections in total"},
    {"limits", "max_connections_per_address", ST_UINT, OFF(max_connections_per_address), 0, 0,
     1, 100000, 0, false, NULL, NULL, "64", true, "Open KMS connections per client address"},
    {"limits", "max_pdu_size", ST_UINT, OFF(max_pdu_size), 0, 0, 72, 65535, 0, false, NULL,
     NULL, "5840", true, "Largest RPC fragment accepted, in bytes"},
    {"limits", "idle_timeout", ST_UINT, OFF(idle_timeout), 0, 0, 1, 3600, 0, false, NULL, NULL,
     "30", true, "Seconds a connection may stay silent"},
    {"limits", "connection_timeout", ST_UINT, OFF(connection_timeout), 0, 0, 1, 86400, 0,
     false, NULL, NULL, "300", true, "Seconds a connection may live in total"},
    {"limits", "max_requests_per_connection", ST_UINT, OFF(max_requests_per_connection), 0, 0,
     1, 100000, 0, false, NULL, NULL, "1000", true, "KMS requests served on one connection"},
    {"limits", "pdu_timeout", ST_UINT, OFF(pdu_timeout), 0, 0, 1, 300, 0, false, NULL, NULL, "5", true,
     "Seconds a client has to complete a PDU once its first byte has come (and to send its first PDU); "
     "idle_timeout counts from the last complete PDU"},
    {"limits", "ipv6_prefix_len", ST_UINT, OFF(ipv6_prefix_len), 0, 0, 32, 128, 0, false, NULL, NULL, "64", true,
     "IPv6 clients count against max_connections_per_address per network of this prefix length "
     "(64: every address of a /64 is one client; 128: each address apart)"},
    {"limits", "admin_max_connections", ST_UINT, OFF(admin_max_connections), 0, 0, 1, 10000, 0, false, NULL, NULL,
     "64", false, "Open connections to the admin address; more are refused at accept"},
    {"limits", "admin_header_timeout", ST_UINT, OFF(admin_header_timeout), 0, 0, 1, 300, 0, false, NULL, NULL,
     "5", false,
     "Seconds an admin connection has to deliver a request's line and headers (at most 8 KiB), from its start "
     "or from the previous answer; then it is closed"},
    {"limits", "admin_body_timeout", ST_UINT, OFF(admin_body_timeout), 0, 0, 1, 300, 0, false, NULL, NULL,
     "5", false,
     "Seconds an admin request has to deliver its body (at most 4 KiB) once its headers are in; then the "
     "connection is closed"},
    {"limits", "allow_clients", ST_CIDR_LIST, OFF(allow_clients), CAP(allow_clients),
     OFF(n_allow_clients), 0, 0, 0, false, NULL, NULL, "", true,
     "Client networks allowed to connect (10.0.0.0/8, 2001:db8::/32, a bare address), "
     "comma-separated; empty = everyone"},

    /* [store] */
    {"store", "commit_delay_ms", ST_UINT, OFF(commit_delay_ms), 0, 0, 0, 100, 0, false, NULL,
     NULL, "0", false,
     "Optional extra wait of the group commit: the writer commits as soon as it is free and "
     "records are queued (what arrives during a commit goes in the next one); a value > 0 "
     "makes the oldest queued record wait this long for others first"},
    {"store", "map_size_mb", ST_UINT, OFF(map_size_mb), 0, 0, 16, 1048576, 0, false, NULL,
     NULL, "4096", false, "Initial LMDB map size in MiB (doubled, up to 4 times, when the store fills it)"},
    {"store", "prune_interval", ST_UINT, OFF(prune_interval), 0, 0, 10, 86400, 0, false, NULL,
     NULL, "3600", CONFIG_RELOAD_PRUNE_TIMER, "Seconds between background prunes of expired client records (one also runs at start-up; "
     "a prune takes 2,048 records per transaction, between activations' commits)"},

    /* [cluster] (the peers themselves are [peer.ID] sections, see peer_section) */
    {"cluster", "name", ST_STRING, OFF(cluster_name), SZ(cluster_name), 0, 0, 0, 0, false, NULL,
     NULL, "kmsha", false, "Name of the cluster (shown in status)"},
    {"cluster", "key_dir", ST_STRING, OFF(key_dir), SZ(key_dir), 0, 0, 0, 0, false, NULL, NULL,
     "", false,
     "Directory holding this node's CURVE secret key as ID.key (kmsctl keygen); required with "
     "[peer.ID] sections: replication is always authenticated and encrypted"},
    {"cluster", "heartbeat_interval_ms", ST_UINT, OFF(heartbeat_interval_ms), 0, 0, 50, 10000, 0,
     false, NULL, NULL, "500", false, "Milliseconds between heartbeats (which carry the version vector)"},
    {"cluster", "dead_after_ms", ST_UINT, OFF(dead_after_ms), 0, 0, 200, 600000, 0, false, NULL,
     NULL, "3000", false, "A peer silent this long is marked dead"},
    {"cluster", "alone_after_ms", ST_UINT, OFF(alone_after_ms), 0, 0, 0, 3600000, 0, false, NULL,
     NULL, "10000", true,
     "A starting node serves only once it holds what its live peers advertise; hearing no peer at all "
     "for this long it serves alone (and says so in /status, the log and kmsha_serving_alone)"},
    {"cluster", "log_retention_hours", ST_UINT, OFF(log_retention_hours), 0, 0, 1, 87600, 0,
     false, NULL, NULL, "168",
     false, "Hours the update log is kept for catch-up; older gaps are filled by a snapshot"},
    {"cluster", "clock_max_offset_s", ST_UINT, OFF(clock_max_offset_s), 0, 0, 1, 86400, 0, false, NULL,
     NULL, "180", false,
     "Seconds this node's clock may differ from its live peers' (heartbeats carry each node's time) "
     "or step (wall against monotonic time) before it is untrusted: then the node says so and "
     "prunes no record and no log until a live peer confirms its time"},
    {"cluster", "future_tolerance_h", ST_UINT, OFF(future_tolerance_h), 0, 0, 1, 8760, 0, false, NULL,
     NULL, "24", false,
     "Hours a record from a peer may be dated after this node's clock; later ones are refused "
     "(logged once per origin, counted in kmsha_replication_future_refused_total)"},
    {"cluster", "log_max_mb", ST_UINT, OFF(log_max_mb), 0, 0, 1, 1048576, 0, false, NULL, NULL, "256", false,
     "Size bound of the update log in MiB (about 250 bytes an update), besides log_retention_hours: the oldest "
     "updates are pruned past it (never while no live peer has confirmed this node's clock), and peers that "
     "lack them get a snapshot"},
    {"cluster", "sync_batch", ST_UINT, OFF(sync_batch), 0, 0, 1, 512, 0, false, NULL, NULL, "256",
     false, "Updates or records per catch-up reply"},

    /* [dns]: SRV publishing by RFC 2136 dynamic update (node/dns.c, ops/dns/) */
    {"dns", "server", ST_STRING, OFF(dns_server), SZ(dns_server), 0, 0, 0, 0, false, NULL,
     check_dns_server, "", false,
     "Primary DNS server that takes the updates, IP:PORT or [V6]:PORT (port 53 when omitted); "
     "empty = no DNS publishing"},
    {"dns", "zones", ST_STRING, OFF(dns_zones), SZ(dns_zones), 0, 0, 0, 0, false, NULL,
     check_dns_zones, "", false,
     "Zones that get _vlmcs._tcp SRV records, comma-separated: ZONE, or ZONE:SITE where nodes of "
     "SITE keep their priority and every other node comes after them (priority + remote_priority_offset, the offset "
     "raised where needed so that the site's nodes sort first); "
     "node host names (ID.ZONE) go in the first zone"},
    {"dns", "tsig_key_file", ST_STRING, OFF(dns_tsig_key_file), SZ(dns_tsig_key_file), 0, 0, 0, 0,
     false, NULL, NULL, "", false,
     "BIND key file (tsig-keygen -a hmac-sha256 NAME) signing the updates; required with server"},
    {"dns", "ttl", ST_UINT, OFF(dns_ttl), 0, 0, 5, 86400, 0, false, NULL, NULL, "30", false,
     "TTL in seconds of the published records: how long resolvers may still hand out a node after its records "
     "are withdrawn (a stopping node withdraws its own first; a dead one goes after dead_after_ms + withdraw_after). "
     "30 s keeps a rolling restart's stale answers short; clients that still get one fail over to the next record"},
    {"dns", "refresh_interval", ST_UINT, OFF(dns_refresh_interval), 0, 0, 1, 86400, 0, false,
     NULL, NULL, "60", false, "Seconds between look-ups that verify (and repair) this node's records"},
    {"dns", "withdraw_after", ST_UINT, OFF(dns_withdraw_after), 0, 0, 1, 86400, 0, false, NULL,
     NULL, "10", false,
     "Seconds a peer must be dead (after dead_after_ms) before the lowest live node deletes its records"},
    {"dns", "remote_priority_offset", ST_UINT, OFF(dns_remote_priority_offset), 0, 0, 0, 65535, 0,
     false, NULL, NULL, "10", false,
     "Added to the priority of nodes of other sites in a ZONE:SITE zone (capped at 65535); raised automatically to "
     "the largest priority of the site's nodes minus the smallest of the others, plus 1, when smaller"},
    {"dns", "timeout_ms", ST_UINT, OFF(dns_timeout_ms), 0, 0, 100, 60000, 0, false, NULL, NULL,
     "2000", false, "Milliseconds to wait for the DNS server's answer (look-up or update)"},

    /* [report]: activation health (node/report.c: GET /report, kmsctl report, /metrics) */
    {"report", "at_risk_days", ST_UINT, OFF(report_at_risk_days), 0, 0, 1, 180, 0, false, NULL, NULL,
     "14", CONFIG_RELOAD_AT_USE,
     "A client that will stop working within this many days (licence state time left, from its last "
     "request) is reported at risk"},
    {"report", "room_pattern", ST_STRING, OFF(report_room_pattern), SZ(report_room_pattern), 0, 0, 0, 0,
     false, NULL, check_room_pattern, "", CONFIG_RELOAD_AT_USE,
     "Rooms by workstation name: a POSIX extended regex with one capture group, the room "
     "(^([A-Z]+-[0-9]+)-); names that do not match go to room \"unmatched\"; empty = rooms by "
     "client address prefix"},
    {"report", "room_prefix_v4", ST_UINT, OFF(report_room_prefix_v4), 0, 0, 8, 32, 0, false, NULL, NULL,
     "24", CONFIG_RELOAD_AT_USE, "Rooms by address: IPv4 prefix length"},
    {"report", "room_prefix_v6", ST_UINT, OFF(report_room_prefix_v6), 0, 0, 16, 128, 0, false, NULL,
     NULL, "64", CONFIG_RELOAD_AT_USE, "Rooms by address: IPv6 prefix length"},
    {"report", "metrics_rooms", ST_UINT, OFF(report_metrics_rooms), 0, 0, 0, 1000, 0, false, NULL,
     NULL, "50", CONFIG_RELOAD_AT_USE,
     "Rooms with their own label in /metrics (those with the most clients below threshold, at risk "
     "or cloned, then the most live); the others are summed as room=\"other\""},
    {"report", "interval", ST_UINT, OFF(report_interval), 0, 0, 10, 86400, 0, false, NULL, NULL, "60",
     CONFIG_RELOAD_AT_USE,
     "Seconds between the background reports behind /metrics and the status page (a report scans the "
     "store in bounded steps between KMS requests)"},
};

/* [peer.ID]: one node of the cluster. Keys of config_peer; documented in the reference. */
static const char *const peer_keys_help[][2] = {
    {"kms", "its KMS addresses, comma-separated: HOST:PORT or [V6]:PORT (port 1688 when omitted), e.g. an IPv4 and an IPv6 address of a dual-stack node, all with the same port; this node listens on all of them unless --listen is given"},
    {"admin", "its admin HTTP addresses, comma-separated (port 8688 when omitted); this node serves on all of them unless --admin is given"},
    {"replication", "HOST:PORT or [V6]:PORT: updates are published on PORT, catch-up is served on PORT+1 (required)"},
    {"public_key", "its CURVE public key (40 Z85 characters, kmsctl keygen); all peers or none"},
    {"site", "site name (SRV records per site; status)"},
    {"priority", "SRV priority 0..65535, lower is preferred (default 0)"},
    {"weight", "SRV weight 0..65535 within a priority (default 100)"},
    {"drained", "true: this node starts drained (as after kmsctl drain: its SRV records withdrawn, it serves); for a new or rebuilt node, whose data directory (where kmsctl drain keeps the state) is empty. kmsctl undrain publishes it; remove the line once the node is in service (kmsd --drained does the same for one start)"},
    {"target", "SRV target host name (default: ID.<first [dns] zone>, published with A and AAAA records of the kms addresses; a single host name in kms is used as it is)"},
};

/* Sections without fixed keys. fn is called with key == NULL when the section header is
 * read, then once per key; it returns 0, KMS_ENOTFOUND for an unknown key (the caller
 * reports it), or KMS_ECONFIG with what is wrong in why. None yet: [cluster] keys can be
 * plain rows above; [peer.NAME] will need a handler here. */
typedef int (*section_fn)(kmsd_config *cfg, const char *section, const char *key,
                          const char *value, char *why, size_t whylen);
typedef struct section_hook {
    const char *prefix; /* matches a section equal to it or starting with it */
    section_fn fn;
} section_hook;
static int peer_section(kmsd_config *cfg, const char *section, const char *key,
                        const char *value, char *why, size_t whylen);
static int parse_bool(const char *v, bool *out, char *why, size_t whylen);
static const section_hook section_hooks[] = {
    {"peer.", peer_section},
};

/* ---- helpers --------------------------------------------------------------------------- */

static bool per_group(const setting *s) { return s->type == ST_EPID || s->type == ST_HWID; }

static bool is_list(const setting *s)
{
    return s->type == ST_ADDR_LIST || s->type == ST_CIDR_LIST || s->type == ST_PRODUCT_LIST;
}

static void *field(kmsd_config *cfg, const setting *s) { return (char *)cfg + s->offset; }

static int *count_of(kmsd_config *cfg, const setting *s)
{
    return (int *)(void *)((char *)cfg + s->count_offset);
}

static void put(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static bool known_section(const char *section)
{
    for (size_t i = 0; i < COUNTOF(settings); i++)
        if (strcmp(settings[i].section, section) == 0) return true;
    return false;
}

static const section_hook *find_hook(const char *section)
{
    for (size_t i = 0; i < COUNTOF(section_hooks); i++) {
        const section_hook *h = &section_hooks[i];
        if (h->prefix && strncmp(section, h->prefix, strlen(h->prefix)) == 0) return h;
    }
    return NULL;
}

static bool z85_key_ok(const char *v)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               ".-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(v) != CONFIG_KEY_Z85_LEN) return false;
    for (const char *p = v; *p; p++)
        if (!strchr(z85, *p)) return false;
    return true;
}

static int next_entry(const char **cur, char *out, size_t cap, char *why, size_t whylen);

/* [peer.ID] kms / admin: a comma-separated address list (both families for a dual-stack
 * node), appended to list[0..*n); *first mirrors list[0]. All entries are checked before
 * any is stored. */
static int peer_addr_list(const char *value, uint16_t defport, config_addr *list, int *n,
                          config_addr *first, char *why, size_t whylen)
{
    config_addr got[CONFIG_MAX_PEER_ADDRS];
    int k = 0;
    char entry[300];
    const char *cur = value;
    int more;
    while ((more = next_entry(&cur, entry, sizeof entry, why, whylen)) > 0) {
        if (!entry[0]) continue;
        if (*n + k >= CONFIG_MAX_PEER_ADDRS) {
            put(why, whylen, "too many addresses (at most %d)", CONFIG_MAX_PEER_ADDRS);
            return KMS_ECONFIG;
        }
        config_addr *a = &got[k];
        if (config_parse_addr(entry, defport, a) != 0 || a->port == 0) {
            put(why, whylen, "'%.64s' is not an address (HOST:PORT or [IPV6]:PORT)", entry);
            return KMS_ECONFIG;
        }
        for (int j = 0; j < *n + k; j++) {
            const config_addr *o = j < *n ? &list[j] : &got[j - *n];
            if (o->port == a->port && !strcmp(o->host, a->host)) {
                put(why, whylen, "'%.64s' is listed twice", entry);
                return KMS_ECONFIG;
            }
        }
        k++;
    }
    if (more < 0) return more;
    if (k == 0) { put(why, whylen, "no address given"); return KMS_ECONFIG; }
    memcpy(list + *n, got, (size_t)k * sizeof got[0]);
    *n += k;
    *first = list[0];
    return 0;
}

static int peer_section(kmsd_config *cfg, const char *section, const char *key,
                        const char *value, char *why, size_t whylen)
{
    const char *id = section + strlen("peer.");
    if (!key) { /* the header: a new peer */
        const char *problem = check_node_id(id);
        if (problem) { put(why, whylen, "peer id '%.64s' %s", id, problem); return KMS_ECONFIG; }
        if (config_find_peer(cfg, id)) { put(why, whylen, "peer '%s' is defined twice", id); return KMS_ECONFIG; }
        if (cfg->n_peers >= CONFIG_MAX_PEERS) { put(why, whylen, "more than %d peers", CONFIG_MAX_PEERS); return KMS_ECONFIG; }
        config_peer *p = &cfg->peers[cfg->n_peers++];
        memset(p, 0, sizeof *p);
        snprintf(p->id, sizeof p->id, "%s", id);
        p->weight = 100;
        return 0;
    }
    config_peer *p = (config_peer *)config_find_peer(cfg, id);
    if (!p) { put(why, whylen, "no such peer"); return KMS_ECONFIG; }
    char *end;
    if (!strcmp(key, "kms") || !strcmp(key, "admin"))
        return !strcmp(key, "kms") ? peer_addr_list(value, 1688, p->kms_addrs, &p->n_kms, &p->kms, why, whylen)
                                   : peer_addr_list(value, 8688, p->admin_addrs, &p->n_admin, &p->admin, why, whylen);
    if (!strcmp(key, "replication")) {
        config_addr *a = &p->replication;
        if (config_parse_addr(value, 0, a) != 0 || a->port == 0 || a->port == 65535) {
            put(why, whylen, "'%.64s' is not an address (HOST:PORT, port below 65535)", value);
            return KMS_ECONFIG;
        }
        return 0;
    }
    if (!strcmp(key, "public_key")) {
        if (!z85_key_ok(value)) { put(why, whylen, "not a CURVE public key (40 Z85 characters)"); return KMS_ECONFIG; }
        snprintf(p->public_key, sizeof p->public_key, "%s", value);
        return 0;
    }
    if (!strcmp(key, "site") || !strcmp(key, "target")) {
        char *dst = !strcmp(key, "site") ? p->site : p->target;
        size_t cap = !strcmp(key, "site") ? sizeof p->site : sizeof p->target;
        if (!*value || strlen(value) >= cap || strpbrk(value, " \t\"")) {
            put(why, whylen, "'%.64s' is not a valid name", value);
            return KMS_ECONFIG;
        }
        snprintf(dst, cap, "%s", value);
        return 0;
    }
    if (!strcmp(key, "drained")) return parse_bool(value, &p->drained, why, whylen);
    if (!strcmp(key, "priority") || !strcmp(key, "weight")) {
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (errno || end == value || *end || v > 65535 || value[0] == '-') {
            put(why, whylen, "value '%.32s' out of range 0..65535", value);
            return KMS_ECONFIG;
        }
        if (!strcmp(key, "priority")) p->priority = (uint32_t)v; else p->weight = (uint32_t)v;
        return 0;
    }
    return KMS_ENOTFOUND;
}

uint16_t config_srv_priority(const kmsd_config *cfg, const config_dns_zone *zone, const config_peer *p)
{
    uint32_t prio = p->priority;
    if (zone->site[0] && strcmp(zone->site, p->site) != 0) {
        /* Another site's node: after every node of the zone's site, whatever the base
         * priorities (the offset grows when the bases alone would not do it). */
        uint32_t max_local = 0, min_remote = UINT32_MAX;
        bool any_local = false;
        for (int i = 0; i < cfg->n_peers; i++) {
            const config_peer *q = &cfg->peers[i];
            if (!strcmp(q->site, zone->site)) {
                any_local = true;
                if (q->priority > max_local) max_local = q->priority;
            } else if (q->priority < min_remote) {
                min_remote = q->priority;
            }
        }
        uint32_t offset = cfg->dns_remote_priority_offset;
        if (any_local && min_remote + offset <= max_local) offset = max_local - min_remote + 1;
        prio += offset;
    }
    return (uint16_t)(prio > 65535 ? 65535 : prio);
}

const config_peer *config_find_peer(const kmsd_config *cfg, const char *id)
{
    for (int i = 0; i < cfg->n_peers && i < CONFIG_MAX_PEERS; i++)
        if (strcmp(cfg->peers[i].id, id) == 0) return &cfg->peers[i];
    return NULL;
}

/* Finds the row of section/key; *group receives the ePID group of per-group keys. */
static const setting *find_setting(const char *section, const char *key, int *group)
{
    *group = 0;
    for (size_t i = 0; i < COUNTOF(settings); i++) {
        const setting *s = &settings[i];
        if (strcmp(s->section, section) != 0) continue;
        if (per_group(s)) {
            size_t n = strlen(s->key);
            if (strncmp(key, s->key, n) != 0) continue;
            int g = products_group_parse(key + n);
            if (g < 0) continue;
            *group = g;
            return s;
        }
        if (strcmp(s->key, key) == 0) return s;
    }
    return NULL;
}

bool config_key_from_file(const kmsd_config *cfg, const char *section, const char *key)
{
    _Static_assert(COUNTOF(settings) <= sizeof cfg->keys_from_file, "keys_from_file is too small");
    int group;
    const setting *s = find_setting(section, key, &group);
    return s && cfg->keys_from_file[s - settings];
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = 0;
    return s;
}

/* Copies a trimmed entry [b, e) of a list into out (NUL-terminated). false if too long. */
static bool take_entry(const char *b, const char *e, char *out, size_t cap)
{
    while (b < e && (*b == ' ' || *b == '\t')) b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if ((size_t)(e - b) >= cap) return false;
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = 0;
    return true;
}

/* Takes the next comma-separated entry of *cur into out (trimmed; "" for an empty one) and
 * moves *cur past it. Returns 1, 0 when the text is used up, or KMS_ECONFIG (too long). */
static int next_entry(const char **cur, char *out, size_t cap, char *why, size_t whylen)
{
    if (!*cur) return 0;
    const char *b = *cur, *comma = strchr(b, ',');
    if (!take_entry(b, comma ? comma : b + strlen(b), out, cap)) {
        put(why, whylen, "entry '%.64s...' too long", b);
        return KMS_ECONFIG;
    }
    *cur = comma ? comma + 1 : NULL;
    return 1;
}

/* ---- value checks ---------------------------------------------------------------------- */

static const char *check_node_id(const char *v)
{
    size_t n = strlen(v);
    if (n == 0) return "must not be empty";
    if (n > 63) return "longer than 63 characters";
    for (; *v; v++) {
        char c = *v;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return "may only contain A-Z a-z 0-9 . _ -";
    }
    return NULL;
}

static const char *check_nonempty(const char *v) { return *v ? NULL : "must not be empty"; }

/* [dns] server: an address literal, since the event loop never resolves names. */
static const char *check_dns_server(const char *v)
{
    config_addr a;
    struct in6_addr a6;
    if (!*v) return NULL;
    if (config_parse_addr(v, 53, &a) != 0 || a.port == 0) return "is not IP:PORT";
    if (inet_pton(AF_INET, a.host, &a6) != 1 && inet_pton(AF_INET6, a.host, &a6) != 1)
        return "must be an IP address (IP:PORT or [V6]:PORT), not a name";
    return NULL;
}

static const char *check_room_pattern(const char *v)
{
    if (!*v) return NULL;
    regex_t re;
    if (regcomp(&re, v, REG_EXTENDED) != 0) return "not a POSIX extended regular expression";
    size_t groups = re.re_nsub;
    regfree(&re);
    return groups == 1 ? NULL : "needs exactly one capture group, the room: ^([A-Z]+-[0-9]+)-";
}

static const char *check_dns_zones(const char *v)
{
    config_dns_zone z[CONFIG_MAX_DNS_ZONES];
    int n;
    return config_parse_dns_zones(v, z, CONFIG_MAX_DNS_ZONES, &n);
}

const char *config_parse_dns_zones(const char *text, config_dns_zone *out, int max, int *count)
{
    *count = 0;
    for (const char *b = text; *b;) {
        const char *comma = strchr(b, ',');
        const char *e = comma ? comma : b + strlen(b);
        char entry[330];
        if (!take_entry(b, e, entry, sizeof entry)) return "has an entry that is too long";
        if (entry[0]) {
            if (*count >= max) return "lists too many zones (at most 16)";
            config_dns_zone z;
            memset(&z, 0, sizeof z);
            char *colon = strchr(entry, ':');
            if (colon) {
                *colon = 0;
                const char *site = colon + 1;
                if (!*site || strlen(site) >= sizeof z.site || check_node_id(site))
                    return "has a site that is not a name (ZONE:SITE, SITE of A-Z a-z 0-9 . _ -)";
                memcpy(z.site, site, strlen(site));
            }
            size_t n = strlen(entry);
            if (n && entry[n - 1] == '.') entry[--n] = 0;
            if (n == 0 || n > 253) return "has an empty or too long zone name";
            size_t label = 0;
            for (size_t i = 0; i < n; i++) {
                char c = entry[i];
                if (c == '.') {
                    if (label == 0) return "has a zone name with an empty label";
                    label = 0;
                    z.name[i] = '.';
                    continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_'))
                    return "has a zone name with characters other than A-Z a-z 0-9 - _ .";
                if (++label > 63) return "has a zone name with a label longer than 63";
                z.name[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
            z.name[n] = '.';
            for (int i = 0; i < *count; i++)
                if (!strcmp(out[i].name, z.name)) return "lists a zone twice";
            out[(*count)++] = z;
        }
        if (!comma) break;
        b = comma + 1;
    }
    return NULL;
}

static int parse_uint(const char *v, uint32_t min, uint32_t max, uint32_t *out, char *why,
                      size_t whylen)
{
    uint64_t x = 0;
    const char *p = v;
    if (!*p) { put(why, whylen, "empty value, expected a number %u..%u", min, max); return KMS_ECONFIG; }
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            put(why, whylen, "'%.64s' is not a number", v);
            return KMS_ECONFIG;
        }
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > UINT32_MAX) break;
    }
    if (x < min || x > max) {
        if (x > UINT32_MAX) put(why, whylen, "value %.64s out of range %u..%u", v, min, max);
        else put(why, whylen, "value %llu out of range %u..%u", (unsigned long long)x, min, max);
        return KMS_ECONFIG;
    }
    *out = (uint32_t)x;
    return 0;
}

static int parse_bool(const char *v, bool *out, char *why, size_t whylen)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < COUNTOF(yes); i++) {
        if (strcmp(v, yes[i]) == 0) { *out = true; return 0; }
        if (strcmp(v, no[i]) == 0) { *out = false; return 0; }
    }
    put(why, whylen, "'%.64s' is not a boolean (true/false, yes/no, on/off, 1/0)", v);
    return KMS_ECONFIG;
}

static int parse_hwid(const char *v, uint8_t out[8], char *why, size_t whylen)
{
    uint8_t b[8];
    if (strlen(v) != 16) goto bad;
    for (int i = 0; i < 16; i++) {
        char c = v[i];
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (x < 0) goto bad;
        if (i % 2 == 0) b[i / 2] = (uint8_t)(x << 4);
        else b[i / 2] |= (uint8_t)x;
    }
    memcpy(out, b, 8);
    return 0;
bad:
    put(why, whylen, "'%.64s' is not a HWID (16 hex digits)", v);
    return KMS_ECONFIG;
}

static int parse_enum(const char *v, const char *choices, char *why, size_t whylen)
{
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (n && len == n && strncmp(c, v, n) == 0) return 0;
        if (!bar) break;
        c = bar + 1;
    }
    put(why, whylen, "'%.64s' is not one of %s", v, choices);
    return KMS_ECONFIG;
}

/* ---- addresses and networks ------------------------------------------------------------ */

static bool is_v6_literal(const char *h, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    const char *pct = memchr(h, '%', n); /* fe80::1%eth0: scope after '%' */
    size_t alen = pct ? (size_t)(pct - h) : n;
    if (alen == 0 || alen >= sizeof tmp) return false;
    if (pct) {
        if (pct + 1 == h + n) return false;
        for (const char *p = pct + 1; p < h + n; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '.' || *p == '_' || *p == '-'))
                return false;
    }
    memcpy(tmp, h, alen);
    tmp[alen] = 0;
    struct in6_addr a;
    return inet_pton(AF_INET6, tmp, &a) == 1;
}

/* A host name or IPv4 literal: letters, digits, '-', '_', '.'; all-numeric dotted text must
 * be a valid IPv4 address (so 10.0.0.256 is an error, not a name to resolve). */
static bool is_host(const char *h, size_t n)
{
    bool numeric = true;
    if (n == 0 || h[0] == '-' || h[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c >= '0' && c <= '9') continue;
        if (c == '.') continue;
        numeric = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
            return false;
    }
    if (numeric) {
        char tmp[INET_ADDRSTRLEN + 1];
        struct in_addr a;
        if (n >= sizeof tmp) return false;
        memcpy(tmp, h, n);
        tmp[n] = 0;
        return inet_pton(AF_INET, tmp, &a) == 1;
    }
    return true;
}

int config_parse_addr(const char *text, uint16_t default_port, config_addr *out)
{
    if (!text || !out) return KMS_EINVAL;
    const char *host = text, *port = NULL;
    size_t hlen;
    bool v6;
    if (text[0] == '[') {
        const char *rb = strchr(text, ']');
        if (!rb) return KMS_EINVAL;
        host = text + 1;
        hlen = (size_t)(rb - host);
        if (rb[1] == ':') port = rb + 2;
        else if (rb[1] != 0) return KMS_EINVAL;
        v6 = true;
    } else {
        const char *colon = strchr(text, ':');
        hlen = strlen(text);
        if (colon && strchr(colon + 1, ':')) {
            v6 = true; /* bare IPv6 literal, no port */
        } else {
            v6 = false;
            if (colon) {
                hlen = (size_t)(colon - text);
                port = colon + 1;
            }
        }
    }
    if (hlen == 0 || hlen >= sizeof out->host) return KMS_EINVAL;
    if (v6 ? !is_v6_literal(host, hlen) : !is_host(host, hlen)) return KMS_EINVAL;
    uint32_t p = default_port;
    if (port) {
        size_t n = strlen(port);
        if (n == 0 || n > 5) return KMS_EINVAL;
        p = 0;
        for (size_t i = 0; i < n; i++) {
            if (port[i] < '0' || port[i] > '9') return KMS_EINVAL;
            p = p * 10 + (uint32_t)(port[i] - '0');
        }
        if (p > 65535) return KMS_EINVAL;
    }
    memset(out, 0, sizeof *out); /* no stale bytes: configs compare with memcmp */
    memcpy(out->host, host, hlen);
    out->port = (uint16_t)p;
    return 0;
}

int config_parse_cidr(const char *text, config_cidr *out)
{
    if (!text || !out) return KMS_EINVAL;
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof addr) return KMS_EINVAL;
    memcpy(addr, text, alen);
    addr[alen] = 0;
    config_cidr c;
    memset(&c, 0, sizeof c);
    unsigned bits;
    if (inet_pton(AF_INET, addr, c.addr) == 1) {
        c.family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
        c.family = AF_INET6;
        bits = 128;
    } else {
        return KMS_EINVAL;
    }
    unsigned prefix = bits;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strlen(p);
        if (n == 0 || n > 3) return KMS_EINVAL;
        prefix = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9') return KMS_EINVAL;
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > bits) return KMS_EINVAL;
    }
    c.prefix = (uint8_t)prefix;
    /* Host bits are cleared: "10.1.2.3/8" means 10.0.0.0/8. */
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        if (lo >= prefix) c.addr[i] = 0;
        else if (prefix - lo < 8) c.addr[i] &= (uint8_t)(0xFF << (8 - (prefix - lo)));
    }
    *out = c;
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

bool config_cidr_match(const config_cidr *c, int family, const uint8_t *addr)
{
    if (!c || !addr) return false;
    if (c->family == AF_INET) {
        if (family == AF_INET) return prefix_equal(c->addr, addr, c->prefix);
        /* A v4 client on a dual-stack socket shows up as ::ffff:a.b.c.d. */
        if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0)
            return prefix_equal(c->addr, addr + 12, c->prefix);
        return false;
    }
    if (c->family == AF_INET6) {
        if (family == AF_INET6) return prefix_equal(c->addr, addr, c->prefix);
        if (family == AF_INET) { /* and the other way round: ::ffff:10.0.0.0/104 */
            uint8_t m[16];
            memcpy(m, v4mapped, 12);
            memcpy(m + 12, addr, 4);
            return prefix_equal(c->addr, m, c->prefix);
        }
    }
    return false;
}

/* ---- products -------------------------------------------------------------------------- */

/* An allow_products entry. "app:X" is application X, "kms:X" KMS counted ID X. Without a
 * prefix a KMS counted ID slug wins over an application slug of the same spelling
 * (office2010, office2013: the narrower reading, an allowlist should fail closed); so
 * "office2013" is the Office 2013 KMS ID and "app:office2013" all of Office 2013 and later.
 * A GUID is an application ID if it names one, else a KMS counted ID (also one the
 * product table does not know yet). */
static int parse_allow(const char *v, config_allow *out, char *why, size_t whylen)
{
    config_allow a;
    memset(&a, 0, sizeof a);
    kms_guid g;
    const kms_product *p;
    int app;
    if (strncmp(v, "app:", 4) == 0) {
        if ((app = products_app_parse(v + 4)) < 0) goto bad;
        a.is_app = true;
        a.app = app;
    } else if (strncmp(v, "kms:", 4) == 0) {
        if ((p = products_find_slug(v + 4))) {
            if (kms_guid_parse(p->id, &a.kms_id) != 0) goto bad;
        } else if (kms_guid_parse(v + 4, &g) == 0 && products_app_from_id(&g) < 0) {
            a.kms_id = g;
        } else {
            goto bad;
        }
    } else if ((p = products_find_slug(v))) {
        if (kms_guid_parse(p->id, &a.kms_id) != 0) goto bad;
    } else if ((app = products_app_parse(v)) >= 0) {
        a.is_app = true;
        a.app = app;
    } else if (kms_guid_parse(v, &g) == 0) {
        a.kms_id = g;
    } else {
        goto bad;
    }
    *out = a;
    return 0;
bad:;
    const kms_sku *s = products_sku_find_slug(v);
    if (!s && kms_guid_parse(v, &g) == 0) s = products_sku_find(&g);
    if (s) {
        kms_guid kg;
        p = kms_guid_parse(s->kms_id, &kg) == 0 ? products_find(&kg) : NULL;
        put(why, whylen, "'%.64s' is an edition (SKU); list its KMS counted ID '%s' instead", v,
            p ? p->slug : s->kms_id);
    } else {
        put(why, whylen, "'%.64s' is not a product (application or KMS counted ID slug or GUID)", v);
    }
    return KMS_ECONFIG;
}

bool config_app_served(const kmsd_config *cfg, int app)
{
    for (int i = 0; i < cfg->n_allow && i < CONFIG_MAX_ALLOW; i++)
        if (cfg->allow[i].is_app && cfg->allow[i].app == app) return true;
    for (size_t i = 0; i < products_count(); i++) {
        const kms_product *p = products_at(i);
        kms_guid g;
        if ((int)p->app == app && kms_guid_parse(p->id, &g) == 0 && config_product_allowed(cfg, app, p, &g)) return true;
    }
    /* A KMS counted ID the table does not know, allowed by GUID, names no application. */
    return false;
}

bool config_product_allowed(const kmsd_config *cfg, int app, const kms_product *p,
                            const kms_guid *kms_id)
{
    if (!cfg || !kms_id) return false;
    if (cfg->n_allow == 0) {
        /* The volume products of the table under their own application, and KMS counted
         * IDs the table does not know under a known application: the table always lags
         * Microsoft, and that lag must not become refusals (kmsd reports such IDs). */
        if (!p) return app >= 0;
        return !(p->flags & (KMS_PRODUCT_RETAIL | KMS_PRODUCT_PREVIEW)) && app == (int)p->app;
    }
    for (int i = 0; i < cfg->n_allow && i < CONFIG_MAX_ALLOW; i++) {
        const config_allow *a = &cfg->allow[i];
        if (a->is_app) {
            /* The application's volume products: what the table marks retail or preview is
             * still refused, a KMS counted ID the table does not know yet (a newer release)
             * is served, and a known one must belong to this application. */
            if (app >= 0 && app == a->app &&
                (!p || ((int)p->app == app && !(p->flags & (KMS_PRODUCT_RETAIL | KMS_PRODUCT_PREVIEW)))))
                return true;
        } else if (kms_guid_equal(&a->kms_id, kms_id)) {
            /* A known KMS counted ID must come with its own application ID (a genuine host
             * refuses the mismatch); an ID the table does not know cannot be checked. */
            if (!p || app == (int)p->app) return true;
        }
    }
    return false;
}

/* ---- setting one value ----------------------------------------------------------------- */

/* Parses one list entry of s into out (a config_addr/config_cidr/config_allow). */
static int parse_entry(const setting *s, const char *v, void *out, char *why, size_t whylen)
{
    switch (s->type) {
    case ST_ADDR_LIST:
        if (config_parse_addr(v, s->port, out) == 0) return 0;
        put(why, whylen, "'%.64s' is not an address (HOST:PORT, [IPV6]:PORT or HOST)", v);
        return KMS_ECONFIG;
    case ST_CIDR_LIST:
        if (config_parse_cidr(v, out) == 0) return 0;
        put(why, whylen, "'%.64s' is not a network (ADDRESS/PREFIX or ADDRESS)", v);
        return KMS_ECONFIG;
    case ST_PRODUCT_LIST:
        return parse_allow(v, out, why, whylen);
    default:
        return KMS_EINVAL;
    }
}

static size_t entry_size(const setting *s)
{
    return s->type == ST_ADDR_LIST ? sizeof(config_addr)
         : s->type == ST_CIDR_LIST ? sizeof(config_cidr) : sizeof(config_allow);
}

/* Appends the comma-separated entries of v to the list of s. All entries are checked
 * before any is stored, so a bad value leaves the list unchanged. Empty entries are
 * skipped ("a, b," is two entries; an empty value adds nothing). */
static int set_list(kmsd_config *cfg, const setting *s, const char *v, char *why, size_t whylen)
{
    union { config_addr a; config_cidr c; config_allow p; } scratch;
    char entry[300];
    int *count = count_of(cfg, s);
    for (int pass = 0; pass < 2; pass++) {
        int n = *count, more;
        const char *cur = v;
        while ((more = next_entry(&cur, entry, sizeof entry, why, whylen)) > 0) {
            if (!entry[0]) continue;
            if ((size_t)n >= s->size) {
                put(why, whylen, "too many entries (at most %zu)", s->size);
                return KMS_ECONFIG;
            }
            void *dst = pass ? (void *)((char *)field(cfg, s) + (size_t)n * entry_size(s))
                             : (void *)&scratch;
            if (parse_entry(s, entry, dst, why, whylen) != 0) return KMS_ECONFIG;
            n++;
        }
        if (more < 0) return more;
        if (pass) *count = n;
    }
    return 0;
}

static int set_string(char *dst, size_t cap, const setting *s, const char *v, char *why,
                      size_t whylen)
{
    if (strlen(v) >= cap) {
        put(why, whylen, "value too long (at most %zu characters)", cap - 1);
        return KMS_ECONFIG;
    }
    const char *problem = s->check ? s->check(v) : NULL;
    if (problem) {
        put(why, whylen, "'%.64s' %s", v, problem);
        return KMS_ECONFIG;
    }
    memset(dst, 0, cap);
    memcpy(dst, v, strlen(v));
    return 0;
}

/* Sets s (ePID group `group` for per-group rows) from text v; lists append. On error
 * returns KMS_ECONFIG with what is wrong in why, and cfg is unchanged. */
static int set_value(kmsd_config *cfg, const setting *s, int group, const char *v, char *why,
                     size_t whylen)
{
    void *f = field(cfg, s);
    switch (s->type) {
    case ST_STRING:
        return set_string(f, s->size, s, v, why, whylen);
    case ST_ENUM:
        if (parse_enum(v, s->choices, why, whylen) != 0) return KMS_ECONFIG;
        return set_string(f, s->size, s, v, why, whylen);
    case ST_BOOL:
        return parse_bool(v, f, why, whylen);
    case ST_UINT:
        return parse_uint(v, s->min, s->max, f, why, whylen);
    case ST_ADDR: {
        config_addr a;
        if (s->allow_off && strcmp(v, "off") == 0) {
            memset(&a, 0, sizeof a);
        } else if (config_parse_addr(v, s->port, &a) != 0) {
            put(why, whylen, "'%.64s' is not an address (HOST:PORT, [IPV6]:PORT or HOST%s)", v,
                s->allow_off ? ", or off" : "");
            return KMS_ECONFIG;
        }
        memcpy(f, &a, sizeof a);
        return 0;
    }
    case ST_ADDR_LIST:
    case ST_CIDR_LIST:
    case ST_PRODUCT_LIST:
        return set_list(cfg, s, v, why, whylen);
    case ST_EPID:
        if (products_epid_validate(v) != 0 || strlen(v) >= s->size) {
            put(why, whylen, "'%.64s' is not an ePID "
                "(PPPPP-GGGGG-KKK-KKKKKK-03-LCID-BUILD.0000-DDDYYYY)", v);
            return KMS_ECONFIG;
        }
        memset(cfg->epid[group], 0, sizeof cfg->epid[group]);
        memcpy(cfg->epid[group], v, strlen(v));
        return 0;
    case ST_HWID:
        return parse_hwid(v, cfg->hwid[group], why, whylen);
    }
    return KMS_EINVAL;
}

static void set_default(kmsd_config *cfg, const setting *s)
{
    char why[160];
    if (s->type == ST_EPID) {
        for (int g = 0; g < KMS_GROUP_COUNT; g++)
            snprintf(cfg->epid[g], sizeof cfg->epid[g], "%s",
                     products_group_default_epid((kms_epid_group)g));
        return;
    }
    if (s->type == ST_HWID) {
        for (int g = 0; g < KMS_GROUP_COUNT; g++)
            products_group_default_hwid((kms_epid_group)g, cfg->hwid[g]);
        return;
    }
    if (is_list(s)) *count_of(cfg, s) = 0;
    int rc = set_value(cfg, s, 0, s->def, why, sizeof why);
    assert(rc == 0 && "a default in the settings table does not parse");
    (void)rc;
}

void config_defaults(kmsd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < COUNTOF(settings); i++) set_default(cfg, &settings[i]);
}

int config_set(kmsd_config *cfg, const char *section, const char *key, const char *value,
               const char *source, char *err, size_t errlen)
{
    char why[256];
    if (!source) source = "command line";
    if (!cfg || !section || !key || !value) {
        put(err, errlen, "%s: missing section, key or value", source);
        return KMS_ECONFIG;
    }
    int group;
    const setting *s = find_setting(section, key, &group);
    if (!s) {
        const section_hook *h = find_hook(section);
        if (h) {
            why[0] = 0;
            int rc = h->fn(cfg, section, key, value, why, sizeof why);
            if (rc == 0) return 0;
            if (rc != KMS_ENOTFOUND) {
                put(err, errlen, "%s: [%s] %s: %s", source, section, key, why);
                return KMS_ECONFIG;
            }
        } else if (!known_section(section)) {
            put(err, errlen, "%s: unknown section [%.64s]", source, section);
            return KMS_ECONFIG;
        }
        put(err, errlen, "%s: unknown key '%.64s' in [%s]", source, key, section);
        return KMS_ECONFIG;
    }
    if (set_value(cfg, s, group, value, why, sizeof why) != 0) {
        put(err, errlen, "%s: [%s] %s: %s", source, section, key, why);
        return KMS_ECONFIG;
    }
    return 0;
}

/* ---- the file -------------------------------------------------------------------------- */

/* Cuts a trailing comment: whitespace followed by ';' or '#'. */
static void cut_comment(char *v)
{
    for (char *p = v; *p; p++) {
        if ((p == v || p[-1] == ' ' || p[-1] == '\t') && (*p == ';' || *p == '#')) {
            *p = 0;
            return;
        }
    }
}

static bool key_chars_ok(const char *k)
{
    if (!*k) return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_' || *k == '-' || *k == '.'))
            return false;
    return true;
}

static int load_stream(kmsd_config *cfg, FILE *f, const char *path, char *err, size_t errlen);

int config_load(kmsd_config *cfg, const char *path, char *err, size_t errlen)
{
    if (!cfg || !path) {
        put(err, errlen, "no configuration file given");
        return KMS_ECONFIG;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        put(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return KMS_ECONFIG;
    }
    return load_stream(cfg, f, path, err, errlen);
}

int config_load_text(kmsd_config *cfg, const char *name, const char *text, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f) {
        put(err, errlen, "%s: %s", name, strerror(errno));
        return KMS_ECONFIG;
    }
    return load_stream(cfg, f, name, err, errlen);
}

/* Reads INI lines from f (closing it); path names it in messages. */
static int load_stream(kmsd_config *cfg, FILE *f, const char *path, char *err, size_t errlen)
{
    /* Line of the first occurrence of each setting in this file (0 = not yet): a single
     * value may be given once; the first line of a list replaces the default. */
    int first[COUNTOF(settings)][KMS_GROUP_COUNT];
    memset(first, 0, sizeof first);
    char section[128] = "";
    const section_hook *hook = NULL;
    bool have_section = false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    char why[256];

    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            put(err, errlen, "%s:%d: NUL byte in line", path, lineno);
            rc = KMS_ECONFIG;
            break;
        }
        char *t = trim(line);
        if (lineno == 1 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB &&
            (unsigned char)t[2] == 0xBF)
            t = trim(t + 3); /* UTF-8 byte order mark */
        if (!*t || *t == ';' || *t == '#') continue;

        if (*t == '[') {
            char *rb = strchr(t, ']');
            if (rb) {
                cut_comment(rb + 1);
                if (*trim(rb + 1)) rb = NULL;
            }
            if (!rb) {
                put(err, errlen, "%s:%d: malformed section header (expected [name])", path, lineno);
                rc = KMS_ECONFIG;
                break;
            }
            *rb = 0;
            char *name = trim(t + 1);
            if (!*name || strlen(name) >= sizeof section) {
                put(err, errlen, "%s:%d: malformed section header (expected [name])", path, lineno);
                rc = KMS_ECONFIG;
                break;
            }
            hook = known_section(name) ? NULL : find_hook(name);
            if (!hook && !known_section(name)) {
                put(err, errlen, "%s:%d: unknown section [%.64s]", path, lineno, name);
                rc = KMS_ECONFIG;
                break;
            }
            if (hook) {
                why[0] = 0;
                if (hook->fn(cfg, name, NULL, NULL, why, sizeof why) != 0) {
                    put(err, errlen, "%s:%d: [%s]: %s", path, lineno, name, why);
                    rc = KMS_ECONFIG;
                    break;
                }
            }
            memcpy(section, name, strlen(name) + 1);
            have_section = true;
            continue;
        }

        char *eq = strchr(t, '=');
        if (!eq) {
            put(err, errlen, "%s:%d: expected 'key = value' or '[section]'", path, lineno);
            rc = KMS_ECONFIG;
            break;
        }
        *eq = 0;
        char *key = trim(t), *value = eq + 1;
        cut_comment(value);
        value = trim(value);
        if (!key_chars_ok(key)) {
            put(err, errlen, "%s:%d: expected 'key = value' or '[section]'", path, lineno);
            rc = KMS_ECONFIG;
            break;
        }
        if (!have_section) {
            put(err, errlen, "%s:%d: key '%.64s' before any [section]", path, lineno, key);
            rc = KMS_ECONFIG;
            break;
        }
        int group;
        const setting *s = hook ? NULL : find_setting(section, key, &group);
        if (!s) {
            int hrc = KMS_ENOTFOUND;
            if (hook) {
                why[0] = 0;
                hrc = hook->fn(cfg, section, key, value, why, sizeof why);
                if (hrc == 0) continue;
            }
            if (hrc == KMS_ENOTFOUND && !strcmp(section, "cluster") && !strcmp(key, "insecure"))
                put(err, errlen, "%s:%d: [cluster] insecure: removed; replication is always authenticated "
                    "and encrypted with CURVE (kmsctl keygen makes the keys)", path, lineno);
            else if (hrc == KMS_ENOTFOUND)
                put(err, errlen, "%s:%d: unknown key '%.64s' in [%s]", path, lineno, key, section);
            else
                put(err, errlen, "%s:%d: [%s] %s: %s", path, lineno, section, key, why);
            rc = KMS_ECONFIG;
            break;
        }
        int *seen = &first[s - settings][group];
        if (*seen && !is_list(s)) {
            put(err, errlen, "%s:%d: [%s] %s: given twice (first on line %d)", path, lineno,
                section, key, *seen);
            rc = KMS_ECONFIG;
            break;
        }
        int saved = 0;
        if (!*seen && is_list(s)) { /* the file's list replaces the default */
            saved = *count_of(cfg, s);
            *count_of(cfg, s) = 0;
        }
        if (set_value(cfg, s, group, value, why, sizeof why) != 0) {
            if (!*seen && is_list(s)) *count_of(cfg, s) = saved;
            put(err, errlen, "%s:%d: [%s] %s: %s", path, lineno, section, key, why);
            rc = KMS_ECONFIG;
            break;
        }
        if (!*seen) {
            *seen = lineno;
            cfg->keys_from_file[s - settings] = 1;
        }
    }
    if (rc == 0 && ferror(f)) {
        put(err, errlen, "%s: read error: %s", path, strerror(errno));
        rc = KMS_ECONFIG;
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- cross-field checks ---------------------------------------------------------------- */

int config_validate(const kmsd_config *cfg, char *err, size_t errlen)
{
    const char *problem;
    if (!cfg) {
        put(err, errlen, "no configuration");
        return KMS_ECONFIG;
    }
    char id[sizeof cfg->node_id + 1];
    memcpy(id, cfg->node_id, sizeof cfg->node_id);
    id[sizeof cfg->node_id] = 0;
    if ((problem = check_node_id(id))) {
        put(err, errlen, "[node] id: '%.64s' %s", id, problem);
        return KMS_ECONFIG;
    }
    if (cfg->n_listen < 1 || cfg->n_listen > CONFIG_MAX_LISTEN) {
        put(err, errlen, "[node] listen: at least one listen address is needed");
        return KMS_ECONFIG;
    }
    for (int i = 0; i < cfg->n_listen; i++) {
        for (int j = 0; j < i; j++) {
            if (cfg->listen[i].port == cfg->listen[j].port &&
                strcmp(cfg->listen[i].host, cfg->listen[j].host) == 0) {
                put(err, errlen, "[node] listen: %s port %u is listed twice",
                    cfg->listen[i].host, cfg->listen[i].port);
                return KMS_ECONFIG;
            }
        }
    }
    if (!cfg->data_dir[0]) {
        put(err, errlen, "[node] data_dir: must not be empty");
        return KMS_ECONFIG;
    }
    if (parse_enum(cfg->log_level, "debug|info|warn|error", NULL, 0) != 0) {
        put(err, errlen, "[node] log_level: '%.15s' is not one of debug|info|warn|error",
            cfg->log_level);
        return KMS_ECONFIG;
    }
    if (cfg->activation_interval < 15 || cfg->activation_interval > 43200 ||
        cfg->renewal_interval < 15 || cfg->renewal_interval > 43200) {
        put(err, errlen, "[kms] activation_interval / renewal_interval: must be within 15..43200 minutes");
        return KMS_ECONFIG;
    }
    if (cfg->activation_interval > cfg->renewal_interval) {
        put(err, errlen, "[kms] activation_interval: %u minutes is longer than renewal_interval (%u): "
            "unactivated clients would retry less often than activated ones renew",
            cfg->activation_interval, cfg->renewal_interval);
        return KMS_ECONFIG;
    }
    if ((uint64_t)cfg->renewal_interval > (uint64_t)cfg->client_lifetime_days * 1440) {
        put(err, errlen, "[kms] renewal_interval: %u minutes is longer than client_lifetime_days "
            "(%u days): clients would drop out of the count before they renew",
            cfg->renewal_interval, cfg->client_lifetime_days);
        return KMS_ECONFIG;
    }
    if (cfg->n_allow < 0 || cfg->n_allow > CONFIG_MAX_ALLOW || cfg->n_allow_clients < 0 ||
        cfg->n_allow_clients > CONFIG_MAX_CIDRS) {
        put(err, errlen, "[kms] allow_products / [limits] allow_clients: bad entry count");
        return KMS_ECONFIG;
    }
    for (int g = 0; g < KMS_GROUP_COUNT; g++) {
        if (strnlen(cfg->epid[g], sizeof cfg->epid[g]) == sizeof cfg->epid[g] ||
            products_epid_validate(cfg->epid[g]) != 0) {
            put(err, errlen, "[kms] epid_%s: not a valid ePID",
                products_group_slug((kms_epid_group)g));
            return KMS_ECONFIG;
        }
    }
    if (cfg->n_peers > 0) {
        if (!config_find_peer(cfg, id)) {
            put(err, errlen, "[node] id: '%s' is not one of the [peer.ID] sections of the cluster", id);
            return KMS_ECONFIG;
        }
        int with_keys = 0;
        for (int i = 0; i < cfg->n_peers; i++) {
            const config_peer *p = &cfg->peers[i];
            if (p->replication.port == 0) {
                put(err, errlen, "[peer.%s] replication: missing (HOST:PORT)", p->id);
                return KMS_ECONFIG;
            }
            with_keys += p->public_key[0] != 0;
            for (int j = 0; j < i; j++)
                if (!strcmp(p->replication.host, cfg->peers[j].replication.host) &&
                    (p->replication.port == cfg->peers[j].replication.port ||
                     p->replication.port + 1 == cfg->peers[j].replication.port ||
                     p->replication.port == cfg->peers[j].replication.port + 1)) {
                    put(err, errlen, "[peer.%s] replication: ports overlap [peer.%s] (each uses PORT and PORT+1)",
                        p->id, cfg->peers[j].id);
                    return KMS_ECONFIG;
                }
        }
        /* Replication is always CURVE: there is no plaintext mode to fall back to. */
        if (with_keys != cfg->n_peers) {
            for (int i = 0; i < cfg->n_peers; i++)
                if (!cfg->peers[i].public_key[0]) {
                    put(err, errlen, "[peer.%s] public_key: missing; replication is always authenticated: "
                        "make each node's key pair with kmsctl keygen and list every public key", cfg->peers[i].id);
                    return KMS_ECONFIG;
                }
        }
        if (!cfg->key_dir[0]) {
            put(err, errlen, "[cluster] key_dir: needed with [peer.ID] sections (this node's secret key "
                "KEY_DIR/%s.key, kmsctl keygen)", id);
            return KMS_ECONFIG;
        }
        if (cfg->dead_after_ms < 2 * cfg->heartbeat_interval_ms) {
            put(err, errlen, "[cluster] dead_after_ms: %u is less than two heartbeat intervals (%u ms)",
                cfg->dead_after_ms, cfg->heartbeat_interval_ms);
            return KMS_ECONFIG;
        }
    }
    if (cfg->dns_server[0]) {
        config_dns_zone zones[CONFIG_MAX_DNS_ZONES];
        int nz = 0;
        if ((problem = check_dns_server(cfg->dns_server))) {
            put(err, errlen, "[dns] server: '%.64s' %s", cfg->dns_server, problem);
            return KMS_ECONFIG;
        }
        if ((problem = config_parse_dns_zones(cfg->dns_zones, zones, CONFIG_MAX_DNS_ZONES, &nz)) || nz == 0) {
            put(err, errlen, "[dns] zones: %s", problem ? problem : "at least one zone is needed when server is set");
            return KMS_ECONFIG;
        }
        if (!cfg->dns_tsig_key_file[0]) {
            put(err, errlen, "[dns] tsig_key_file: needed when server is set (updates are signed)");
            return KMS_ECONFIG;
        }
        for (int i = 0; i < cfg->n_peers; i++) {
            const config_peer *p = &cfg->peers[i];
            for (int k = 0; k < p->n_kms; k++) {
                const config_addr *a = &p->kms_addrs[k];
                struct in6_addr lit;
                bool literal = inet_pton(AF_INET, a->host, &lit) == 1 || inet_pton(AF_INET6, a->host, &lit) == 1;
                if (a->port != p->kms.port) {
                    put(err, errlen, "[peer.%s] kms: %s takes port %u, %s port %u: the SRV record has one port, "
                        "so every address of a node takes the same", p->id, p->kms.host, p->kms.port, a->host, a->port);
                    return KMS_ECONFIG;
                }
                if (p->target[0]) continue;
                if (!strcmp(a->host, "0.0.0.0") || !strcmp(a->host, "::")) {
                    put(err, errlen, "[peer.%s] target: needed for DNS publishing, since kms is a wildcard address", p->id);
                    return KMS_ECONFIG;
                }
                if (!literal && p->n_kms > 1) {
                    put(err, errlen, "[peer.%s] target: needed for DNS publishing, since kms lists a host name (%s) "
                        "among several addresses", p->id, a->host);
                    return KMS_ECONFIG;
                }
            }
        }
    }
    return 0;
}

bool config_is_reloadable(const char *section, const char *key)
{
    if (!section || !key) return false;
    int group;
    const setting *s = find_setting(section, key, &group);
    return s && s->reload != CONFIG_RELOAD_RESTART;
}

/* Does setting s differ between a and b? */
static bool setting_differs(const kmsd_config *a, const kmsd_config *b, const setting *s)
{
    const char *fa = (const char *)a + s->offset, *fb = (const char *)b + s->offset;
    switch (s->type) {
    case ST_STRING:
    case ST_ENUM: return strncmp(fa, fb, s->size) != 0;
    case ST_BOOL: return *(const bool *)(const void *)fa != *(const bool *)(const void *)fb;
    case ST_UINT: return memcmp(fa, fb, sizeof(uint32_t)) != 0;
    case ST_ADDR: return memcmp(fa, fb, sizeof(config_addr)) != 0;
    case ST_ADDR_LIST:
    case ST_CIDR_LIST:
    case ST_PRODUCT_LIST: {
        int na = *(const int *)(const void *)((const char *)a + s->count_offset);
        int nb = *(const int *)(const void *)((const char *)b + s->count_offset);
        return na != nb || memcmp(fa, fb, (size_t)na * entry_size(s)) != 0;
    }
    case ST_EPID:
        for (int g = 0; g < KMS_GROUP_COUNT; g++)
            if (strcmp(a->epid[g], b->epid[g]) != 0) return true;
        return false;
    case ST_HWID: return memcmp(a->hwid, b->hwid, sizeof a->hwid) != 0;
    }
    return false;
}

static void copy_setting(kmsd_config *to, const kmsd_config *from, const setting *s)
{
    size_t len;
    switch (s->type) {
    case ST_STRING:
    case ST_ENUM: len = s->size; break;
    case ST_BOOL: len = sizeof(bool); break;
    case ST_UINT: len = sizeof(uint32_t); break;
    case ST_ADDR: len = sizeof(config_addr); break;
    case ST_ADDR_LIST:
    case ST_CIDR_LIST:
    case ST_PRODUCT_LIST:
        len = s->size * entry_size(s);
        memcpy((char *)to + s->count_offset, (const char *)from + s->count_offset, sizeof(int));
        break;
    case ST_EPID: len = sizeof to->epid; break;
    case ST_HWID: len = sizeof to->hwid; break;
    default: return;
    }
    memcpy((char *)to + s->offset, (const char *)from + s->offset, len);
}

static void add_name(char *list, size_t cap, const setting *s)
{
    size_t l = strlen(list);
    snprintf(list + l, cap - l, "%s[%s] %s%s", l ? ", " : "", s->section, s->key, per_group(s) ? "*" : "");
}

unsigned config_reload_apply(kmsd_config *cur, const kmsd_config *fresh, char *changed, size_t changed_cap,
                             char *restart, size_t restart_cap)
{
    unsigned actions = 0;
    if (changed_cap) changed[0] = 0;
    if (restart_cap) restart[0] = 0;
    for (size_t i = 0; i < COUNTOF(settings); i++) {
        const setting *s = &settings[i];
        if (!setting_differs(cur, fresh, s)) continue;
        if (s->reload == CONFIG_RELOAD_RESTART) {
            add_name(restart, restart_cap, s);
            continue;
        }
        copy_setting(cur, fresh, s);
        add_name(changed, changed_cap, s);
        actions |= 1u << s->reload;
    }
    bool peers_differ = cur->n_peers != fresh->n_peers;
    for (int i = 0; !peers_differ && i < cur->n_peers; i++)
        peers_differ = memcmp(&cur->peers[i], &fresh->peers[i], sizeof cur->peers[i]) != 0;
    if (peers_differ) {
        size_t l = strlen(restart);
        snprintf(restart + l, restart_cap - l, "%s[peer.*]", l ? ", " : "");
    }
    return actions;
}

/* ---- reference ------------------------------------------------------------------------- */

static const char *type_name(const setting *s)
{
    switch (s->type) {
    case ST_STRING: return "string";
    case ST_ENUM: return "choice";
    case ST_BOOL: return "bool";
    case ST_UINT: return "integer";
    case ST_ADDR: return "address";
    case ST_ADDR_LIST: return "address list";
    case ST_CIDR_LIST: return "network list";
    case ST_PRODUCT_LIST: return "product list";
    case ST_EPID: return "ePID";
    case ST_HWID: return "HWID";
    }
    return "?";
}

/* Writes text with '|' escaped for a Markdown table cell. */
static void cell(FILE *out, const char *text)
{
    for (; *text; text++) {
        if (*text == '|') fputs("\\|", out);
        else fputc(*text, out);
    }
}

static void write_row(FILE *out, const setting *s, const char *key, const char *def)
{
    fprintf(out, "| %s | `%s` | %s | ", s->section, key, type_name(s));
    if (def[0]) {
        fputc('`', out);
        cell(out, def);
        fputc('`', out);
    } else {
        fputs("(empty)", out);
    }
    fputs(" | ", out);
    switch (s->type) {
    case ST_UINT: fprintf(out, "%u..%u", s->min, s->max); break;
    case ST_ENUM: cell(out, s->choices); break;
    case ST_BOOL: fputs("true, false", out); break;
    case ST_STRING:
        if (s->size) fprintf(out, "at most %zu characters", s->size - 1);
        break;
    case ST_ADDR_LIST:
    case ST_CIDR_LIST:
    case ST_PRODUCT_LIST: fprintf(out, "at most %zu entries", s->size); break;
    case ST_ADDR: fputs(s->allow_off ? "HOST:PORT, [V6]:PORT, HOST, off" : "HOST:PORT, [V6]:PORT, HOST", out); break;
    case ST_EPID: fputs("8-part ePID (spec 5.4)", out); break;
    case ST_HWID: fputs("16 hex digits", out); break;
    }
    static const char *const how[CONFIG_RELOAD_COUNT] = {
        [CONFIG_RELOAD_RESTART] = "restart", [CONFIG_RELOAD_AT_USE] = "yes",
        [CONFIG_RELOAD_LOG_LEVEL] = "yes (at once)", [CONFIG_RELOAD_PRUNE_TIMER] = "yes (the prune timer is re-armed)",
        [CONFIG_RELOAD_COUNT_RULE] = "yes (the count index takes the new rule)"};
    fprintf(out, " | %s | ", how[s->reload]);
    cell(out, s->help);
    fputs(" |\n", out);
}

void config_write_reference(FILE *out)
{
    if (!out) return;
    fputs("| Section | Key | Type | Default | Range | Reload | Description |\n"
          "|---|---|---|---|---|---|---|\n", out);
    for (size_t i = 0; i < COUNTOF(settings); i++) {
        const setting *s = &settings[i];
        if (!per_group(s)) {
            write_row(out, s, s->key, s->def);
            continue;
        }
        for (int g = 0; g < KMS_GROUP_COUNT; g++) {
            char key[64], def[80];
            snprintf(key, sizeof key, "%s%s", s->key, products_group_slug((kms_epid_group)g));
            if (s->type == ST_EPID) {
                snprintf(def, sizeof def, "%s", products_group_default_epid((kms_epid_group)g));
            } else {
                uint8_t h[8];
                products_group_default_hwid((kms_epid_group)g, h);
                snprintf(def, sizeof def, "%02X%02X%02X%02X%02X%02X%02X%02X", h[0], h[1], h[2],
                         h[3], h[4], h[5], h[6], h[7]);
            }
            write_row(out, s, key, def);
        }
    }
    fputs("\n"
          "Syntax: `[section]` headers and `key = value` lines; whitespace around names and "
          "values is trimmed. A line starting with `;` or `#` is a comment, and so is the rest "
          "of a value after whitespace followed by `;` or `#`. Booleans: true/false, yes/no, "
          "on/off, 1/0. Lists are comma-separated and their key may be repeated (the lines "
          "add up). Any other key given twice, an unknown section or key, or a bad value is "
          "an error that names file, line and key (`kmsd --check-config FILE`).\n"
          "\n"
          "Products (`allow_products`): by default (empty) every volume KMS counted ID of the "
          "product table is served, and so is a KMS counted ID the table does not know when it "
          "comes under a known application (Windows, Office 2010, Office 2013+): it is counted "
          "with that application, logged once, counted in `/metrics` and listed by `kmsctl "
          "products --unknown`, because the table always lags Microsoft; retail and preview IDs "
          "are refused. A list is strict: only what it names is served. "
          "Applications `windows`, `office2010`, `office2013` "
          "(2013 and later) or their GUIDs serve the volume KMS counted IDs of that application "
          "(and IDs newer than the product table); "
          "KMS counted ID slugs (`win10`, `win10-2019`, `ws2022`, `office2019`, ...) or GUIDs "
          "serve that product group only. Where a KMS counted ID slug and an application slug "
          "are spelled alike (`office2010`, `office2013`) the KMS counted ID is meant; write "
          "`app:office2013` for the application. ePID groups: ", out);
    for (int g = 0; g < KMS_GROUP_COUNT; g++)
        fprintf(out, "%s`%s`", g ? ", " : "", products_group_slug((kms_epid_group)g));
    fputs(".\n\n"
          "Cluster: every node reads the same file and finds itself by `--node-id`. Each node is a "
          "`[peer.ID]` section with these keys:\n\n| Key | Meaning |\n|---|---|\n", out);
    for (size_t i = 0; i < COUNTOF(peer_keys_help); i++)
        fprintf(out, "| `%s` | %s |\n", peer_keys_help[i][0], peer_keys_help[i][1]);
}
