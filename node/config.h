/* config.h: kmsd's configuration: one table of settings (section, key, type, bounds,
 * default, reloadable) drives the INI parser, --check-config, the defaults and the
 * reference in the README. Errors name file, line and key. */
#ifndef KMSHA_CONFIG_H
#define KMSHA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "proto/products.h"

#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_CIDRS 64
#define CONFIG_MAX_ALLOW 64
#define CONFIG_PATH_MAX 512
#define CONFIG_SETTINGS_MAX 128 /* rows of the settings table, at most */

/* An address to listen on or connect to: host text (IPv4, IPv6 without brackets, or name)
 * and port. */
typedef struct config_addr {
    char host[256];
    uint16_t port;
} config_addr;

/* A client network allowed to connect. */
typedef struct config_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t prefix;
} config_cidr;

/* A product the host serves: an application slug/GUID or a KMS counted ID slug/GUID. */
typedef struct config_allow {
    bool is_app;       /* whole application */
    int app;           /* kms_app when is_app */
    kms_guid kms_id;   /* when !is_app */
} config_allow;

#define CONFIG_MAX_PEERS 32
#define CONFIG_MAX_PEER_ADDRS 4 /* addresses in one [peer.ID] kms or admin list */
_Static_assert(CONFIG_MAX_PEER_ADDRS <= CONFIG_MAX_LISTEN, "a [peer.ID] kms list fits [node] listen");
#define CONFIG_KEY_Z85_LEN 40

/* One node of the cluster ([peer.ID]); the same list is read by every node. */
typedef struct config_peer {
    char id[64];
    config_addr kms;          /* its first KMS address (port 0 = none; the SRV port) */
    config_addr kms_addrs[CONFIG_MAX_PEER_ADDRS];   /* every KMS address (kms_addrs[0] = kms): */
    int n_kms;                                      /* the node listens on all of them */
    config_addr admin;        /* its first admin HTTP address (port 0 = unknown) */
    config_addr admin_addrs[CONFIG_MAX_PEER_ADDRS]; /* every admin address (admin_addrs[0] = admin) */
    int n_admin;
    config_addr replication;  /* PUB on port, catch-up (ROUTER) on port + 1 */
    char public_key[CONFIG_KEY_Z85_LEN + 1]; /* CURVE public key, Z85; "" = none */
    char site[64];
    uint32_t priority;        /* SRV priority (lower is preferred) */
    uint32_t weight;          /* SRV weight within a priority */
    char target[256];         /* SRV target host name ("" = derive from the KMS address) */
    bool drained;             /* starts drained (a new or rebuilt node) */
} config_peer;

/* The configuration: one field (a list: and its count n_FIELD) per entry of
 * node/config_settings.def, in its order, then what is not a setting. */
typedef struct kmsd_config {
#define CFG_STRING(sec, key, field, size, check, def, reload, help) char field[size];
#define CFG_ENUM(sec, key, field, size, choices, def, reload, help) char field[size];
#define CFG_BOOL(sec, key, field, def, reload, help) bool field;
#define CFG_UINT(sec, key, field, min, max, def, reload, help) uint32_t field;
#define CFG_ADDR(sec, key, field, port, allow_off, def, reload, help) config_addr field;
#define CFG_ADDR_LIST(sec, key, field, cap, port, def, reload, help) config_addr field[cap]; int n_##field;
#define CFG_CIDR_LIST(sec, key, field, cap, def, reload, help) config_cidr field[cap]; int n_##field;
#define CFG_PRODUCT_LIST(sec, key, field, cap, def, reload, help) config_allow field[cap]; int n_##field;
#define CFG_EPID(sec, key, field, size, reload, help) char field[KMS_GROUP_COUNT][size];
#define CFG_HWID(sec, key, field, reload, help) uint8_t field[KMS_GROUP_COUNT][8];
#include "node/config_settings.def"
#undef CFG_STRING
#undef CFG_ENUM
#undef CFG_BOOL
#undef CFG_UINT
#undef CFG_ADDR
#undef CFG_ADDR_LIST
#undef CFG_CIDR_LIST
#undef CFG_PRODUCT_LIST
#undef CFG_EPID
#undef CFG_HWID

    /* Not settings: */
    config_addr admin_also[CONFIG_MAX_PEER_ADDRS]; /* the rest of this node's [peer.ID] */
    int n_admin_also;                              /* admin list, served too */
    /* [peer.ID] sections, in file order */
    config_peer peers[CONFIG_MAX_PEERS];
    int n_peers;
    /* Which settings a file gave (config_key_from_file), by their row in the table. */
    unsigned char keys_from_file[CONFIG_SETTINGS_MAX];
} kmsd_config;

/* Fills cfg with the embedded defaults. */
void config_defaults(kmsd_config *cfg);

/* Reads an INI file over cfg (which should hold defaults). Returns 0, or KMS_ECONFIG with
 * "FILE:LINE: [section] key: what is wrong" in err. Unknown sections or keys are errors. */
int config_load(kmsd_config *cfg, const char *path, char *err, size_t errlen);

/* The same for configuration text held in memory (name stands for the file in messages). */
int config_load_text(kmsd_config *cfg, const char *name, const char *text, char *err, size_t errlen);

/* Sets one value as if read from a file (command-line overrides: source names the flag).
 * Returns 0 or KMS_ECONFIG with a message in err. */
int config_set(kmsd_config *cfg, const char *section, const char *key, const char *value,
               const char *source, char *err, size_t errlen);

/* Cross-field checks after loading (e.g. data_dir set, listen non-empty). */
int config_validate(const kmsd_config *cfg, char *err, size_t errlen);

/* Parses "HOST:PORT", "[V6]:PORT" or "HOST" (port = default_port). Returns 0 or KMS_EINVAL. */
int config_parse_addr(const char *text, uint16_t default_port, config_addr *out);
/* Parses "10.0.0.0/8", "2001:db8::/32" or a bare address. Returns 0 or KMS_EINVAL. */
int config_parse_cidr(const char *text, config_cidr *out);
/* true when the address (AF_INET: 4 bytes, AF_INET6: 16) lies in the CIDR. An IPv4-mapped
 * IPv6 address matches IPv4 CIDRs. */
bool config_cidr_match(const config_cidr *c, int family, const uint8_t *addr);

/* Is this KMS counted ID / application served under cfg's allowlist? app is the request's
 * application (products_app_from_id, -1 when unknown) and p its KMS counted ID's table
 * entry (products_find, NULL when unknown): the caller has looked both up already. */
bool config_product_allowed(const kmsd_config *cfg, int app, const kms_product *p,
                            const kms_guid *kms_id);

/* Does the allowlist serve any product of application app (kms_app)? For the alerts:
 * a count below N matters only for what the cluster serves. */
bool config_app_served(const kmsd_config *cfg, int app);

/* true when a configuration file (not the defaults) gave [section] key. */
bool config_key_from_file(const kmsd_config *cfg, const char *section, const char *key);
/* The peer entry of id, or NULL. */
const config_peer *config_find_peer(const kmsd_config *cfg, const char *id);

#define CONFIG_MAX_DNS_ZONES 16
/* One entry of [dns] zones: the zone (absolute, lower-case, trailing dot) and the site
 * whose nodes keep their own priority in it ("" = every node keeps its own). */
typedef struct config_dns_zone {
    char name[256];
    char site[64];
} config_dns_zone;
/* Parses [dns] zones ("kms.example.edu, site1.kms.example.edu:site1"). Returns NULL and
 * the entries in out[0..*count), or a static description of what is wrong. */
const char *config_parse_dns_zones(const char *text, config_dns_zone *out, int max, int *count);

/* The SRV priority of peer p in zone: its own in a zone without a site or of its site; in
 * another site's zone, raised past every node of that site (base + an offset at least
 * remote_priority_offset and large enough that the site's nodes always sort first). */
uint16_t config_srv_priority(const kmsd_config *cfg, const config_dns_zone *zone, const config_peer *p);

/* Writes the settings table as Markdown (section, key, type, default, range, reload,
 * description). */
void config_write_reference(FILE *out);
/* Whether a setting can change on SIGHUP (true) or needs a restart. */
bool config_is_reloadable(const char *section, const char *key);

/* How a reloadable setting takes effect (a column of the settings table). */
typedef enum config_reload {
    CONFIG_RELOAD_RESTART = 0,   /* needs a restart */
    CONFIG_RELOAD_AT_USE = 1,    /* read from the configuration each time it is used */
    CONFIG_RELOAD_LOG_LEVEL,     /* the caller calls log_set_level */
    CONFIG_RELOAD_PRUNE_TIMER,   /* the caller re-arms the prune timer */
    CONFIG_RELOAD_COUNT_RULE,    /* the caller gives the count index its new rule */
    CONFIG_RELOAD_COUNT
} config_reload;

/* SIGHUP: copies every reloadable setting of fresh that differs into cur, and lists the
 * settings that differ by "[section] key" name: in changed those applied, in restart
 * those that need a restart (peers as "[peer.*]"). Returns the actions the caller owes,
 * as a mask of 1 << config_reload. */
unsigned config_reload_apply(kmsd_config *cur, const kmsd_config *fresh, char *changed, size_t changed_cap,
                             char *restart, size_t restart_cap);

#endif
