/* config_cluster.c: the cluster's shape in the configuration: [peer.ID] sections (the
 * section hook of the settings table), [dns] zones, and the SRV priority of a peer in a
 * zone. */
#include "node/config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"

/* [peer.ID]: one node of the cluster. Keys of config_peer; documented in the reference. */
const char *const config_peer_keys_help[][2] = {
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
const size_t config_peer_keys_help_count = sizeof config_peer_keys_help / sizeof config_peer_keys_help[0];

static bool z85_key_ok(const char *v)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               ".-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(v) != CONFIG_KEY_Z85_LEN) return false;
    for (const char *p = v; *p; p++)
        if (!strchr(z85, *p)) return false;
    return true;
}

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
    while ((more = config_next_entry(&cur, entry, sizeof entry, why, whylen)) > 0) {
        if (!entry[0]) continue;
        if (*n + k >= CONFIG_MAX_PEER_ADDRS) {
            config_put(why, whylen, "too many addresses (at most %d)", CONFIG_MAX_PEER_ADDRS);
            return KMS_ECONFIG;
        }
        config_addr *a = &got[k];
        if (config_parse_addr(entry, defport, a) != 0 || a->port == 0) {
            config_put(why, whylen, "'%.64s' is not an address (HOST:PORT or [IPV6]:PORT)", entry);
            return KMS_ECONFIG;
        }
        for (int j = 0; j < *n + k; j++) {
            const config_addr *o = j < *n ? &list[j] : &got[j - *n];
            if (o->port == a->port && !strcmp(o->host, a->host)) {
                config_put(why, whylen, "'%.64s' is listed twice", entry);
                return KMS_ECONFIG;
            }
        }
        k++;
    }
    if (more < 0) return more;
    if (k == 0) { config_put(why, whylen, "no address given"); return KMS_ECONFIG; }
    memcpy(list + *n, got, (size_t)k * sizeof got[0]);
    *n += k;
    *first = list[0];
    return 0;
}

int config_peer_section(kmsd_config *cfg, const char *section, const char *key,
                        const char *value, char *why, size_t whylen)
{
    const char *id = section + strlen("peer.");
    if (!key) { /* the header: a new peer */
        const char *problem = config_check_node_id(id);
        if (problem) { config_put(why, whylen, "peer id '%.64s' %s", id, problem); return KMS_ECONFIG; }
        if (config_find_peer(cfg, id)) { config_put(why, whylen, "peer '%s' is defined twice", id); return KMS_ECONFIG; }
        if (cfg->n_peers >= CONFIG_MAX_PEERS) { config_put(why, whylen, "more than %d peers", CONFIG_MAX_PEERS); return KMS_ECONFIG; }
        config_peer *p = &cfg->peers[cfg->n_peers++];
        memset(p, 0, sizeof *p);
        snprintf(p->id, sizeof p->id, "%s", id);
        p->weight = 100;
        return 0;
    }
    config_peer *p = (config_peer *)config_find_peer(cfg, id);
    if (!p) { config_put(why, whylen, "no such peer"); return KMS_ECONFIG; }
    char *end;
    if (!strcmp(key, "kms") || !strcmp(key, "admin"))
        return !strcmp(key, "kms") ? peer_addr_list(value, 1688, p->kms_addrs, &p->n_kms, &p->kms, why, whylen)
                                   : peer_addr_list(value, 8688, p->admin_addrs, &p->n_admin, &p->admin, why, whylen);
    if (!strcmp(key, "replication")) {
        config_addr *a = &p->replication;
        if (config_parse_addr(value, 0, a) != 0 || a->port == 0 || a->port == 65535) {
            config_put(why, whylen, "'%.64s' is not an address (HOST:PORT, port below 65535)", value);
            return KMS_ECONFIG;
        }
        return 0;
    }
    if (!strcmp(key, "public_key")) {
        if (!z85_key_ok(value)) { config_put(why, whylen, "not a CURVE public key (40 Z85 characters)"); return KMS_ECONFIG; }
        snprintf(p->public_key, sizeof p->public_key, "%s", value);
        return 0;
    }
    if (!strcmp(key, "site") || !strcmp(key, "target")) {
        char *dst = !strcmp(key, "site") ? p->site : p->target;
        size_t cap = !strcmp(key, "site") ? sizeof p->site : sizeof p->target;
        if (!*value || strlen(value) >= cap || strpbrk(value, " \t\"")) {
            config_put(why, whylen, "'%.64s' is not a valid name", value);
            return KMS_ECONFIG;
        }
        snprintf(dst, cap, "%s", value);
        return 0;
    }
    if (!strcmp(key, "drained")) return config_parse_bool(value, &p->drained, why, whylen);
    if (!strcmp(key, "priority") || !strcmp(key, "weight")) {
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (errno || end == value || *end || v > 65535 || value[0] == '-') {
            config_put(why, whylen, "value '%.32s' out of range 0..65535", value);
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

const char *config_parse_dns_zones(const char *text, config_dns_zone *out, int max, int *count)
{
    *count = 0;
    for (const char *b = text; *b;) {
        const char *comma = strchr(b, ',');
        const char *e = comma ? comma : b + strlen(b);
        char entry[330];
        if (!config_take_entry(b, e, entry, sizeof entry)) return "has an entry that is too long";
        if (entry[0]) {
            if (*count >= max) return "lists too many zones (at most 16)";
            config_dns_zone z;
            memset(&z, 0, sizeof z);
            char *colon = strchr(entry, ':');
            if (colon) {
                *colon = 0;
                const char *site = colon + 1;
                if (!*site || strlen(site) >= sizeof z.site || config_check_node_id(site))
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
