/* config_settings.c: the settings table. One row per setting (section, key, type, bounds,
 * default, how a SIGHUP applies it, documentation) drives the INI reader, the
 * command-line overrides (config_set), the defaults, the Markdown reference and the
 * reload, so they cannot drift apart; here too are the rows' value checks and the
 * look-ups by section and key.
 *
 * Extending: plain settings are rows of `config_settings` below. Sections whose keys are
 * not fixed (e.g. [peer.NAME] for replication) go in `section_hooks`: a handler that gets
 * the section header (key NULL) and then every key of that section. */
#include "node/config_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <regex.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

static const char *check_nonempty(const char *v);
static const char *check_dns_zones(const char *v);
static const char *check_room_pattern(const char *v);

#define OFF(f) offsetof(kmsd_config, f)
#define SZ(f) sizeof(((kmsd_config *)0)->f)
#define CAP(f) (sizeof(((kmsd_config *)0)->f) / sizeof(((kmsd_config *)0)->f[0]))

const setting config_settings[] = {
    /* [node] */
    {"node", "id", ST_STRING, OFF(node_id), SZ(node_id), 0, 0, 0, 0, false, NULL,
     config_check_node_id, "kms1", false,
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
     config_check_dns_server, "", false,
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
const size_t config_settings_count = sizeof config_settings / sizeof config_settings[0];

/* Sections without fixed keys (section_fn in config_internal.h). */
static const section_hook section_hooks[] = {
    {"peer.", config_peer_section},
};

bool config_known_section(const char *section)
{
    for (size_t i = 0; i < config_settings_count; i++)
        if (strcmp(config_settings[i].section, section) == 0) return true;
    return false;
}

const section_hook *config_find_hook(const char *section)
{
    for (size_t i = 0; i < COUNTOF(section_hooks); i++) {
        const section_hook *h = &section_hooks[i];
        if (h->prefix && strncmp(section, h->prefix, strlen(h->prefix)) == 0) return h;
    }
    return NULL;
}

/* Finds the row of section/key; *group receives the ePID group of per-group keys. */
const setting *config_find_setting(const char *section, const char *key, int *group)
{
    *group = 0;
    for (size_t i = 0; i < config_settings_count; i++) {
        const setting *s = &config_settings[i];
        if (strcmp(s->section, section) != 0) continue;
        if (setting_per_group(s)) {
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
    _Static_assert(COUNTOF(config_settings) <= CONFIG_SETTINGS_MAX, "keys_from_file is too small");
    int group;
    const setting *s = config_find_setting(section, key, &group);
    return s && cfg->keys_from_file[s - config_settings];
}

const char *config_check_node_id(const char *v)
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
const char *config_check_dns_server(const char *v)
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
