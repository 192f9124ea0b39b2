/* config_settings.c: the settings table. One row per setting (section, key, type, bounds,
 * default, how a SIGHUP applies it, documentation), made from node/config_settings.def
 * (the one list of settings, which also makes kmsd_config's fields), drives the INI
 * reader, the command-line overrides (config_set), the defaults, the Markdown reference
 * and the reload, so they cannot drift apart; here too are the rows' value checks and
 * the look-ups by section and key.
 *
 * Extending: a plain setting is an entry of config_settings.def. Sections whose keys are
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

/* A row per entry of config_settings.def (see there). */
#define R(reload) CONFIG_RELOAD_##reload
#define CFG_STRING(sec, key, f, size, check, def, reload, help) \
    {sec, key, ST_STRING, OFF(f), SZ(f), 0, 0, 0, 0, false, NULL, check, def, R(reload), help},
#define CFG_ENUM(sec, key, f, size, choices, def, reload, help) \
    {sec, key, ST_ENUM, OFF(f), SZ(f), 0, 0, 0, 0, false, choices, NULL, def, R(reload), help},
#define CFG_BOOL(sec, key, f, def, reload, help) \
    {sec, key, ST_BOOL, OFF(f), 0, 0, 0, 0, 0, false, NULL, NULL, def, R(reload), help},
#define CFG_UINT(sec, key, f, min, max, def, reload, help) \
    {sec, key, ST_UINT, OFF(f), 0, 0, min, max, 0, false, NULL, NULL, def, R(reload), help},
#define CFG_ADDR(sec, key, f, port, allow_off, def, reload, help) \
    {sec, key, ST_ADDR, OFF(f), 0, 0, 0, 0, port, allow_off, NULL, NULL, def, R(reload), help},
#define CFG_ADDR_LIST(sec, key, f, cap, port, def, reload, help) \
    {sec, key, ST_ADDR_LIST, OFF(f), CAP(f), OFF(n_##f), 0, 0, port, false, NULL, NULL, def, R(reload), help},
#define CFG_CIDR_LIST(sec, key, f, cap, def, reload, help) \
    {sec, key, ST_CIDR_LIST, OFF(f), CAP(f), OFF(n_##f), 0, 0, 0, false, NULL, NULL, def, R(reload), help},
#define CFG_PRODUCT_LIST(sec, key, f, cap, def, reload, help) \
    {sec, key, ST_PRODUCT_LIST, OFF(f), CAP(f), OFF(n_##f), 0, 0, 0, false, NULL, NULL, def, R(reload), help},
#define CFG_EPID(sec, key, f, size, reload, help) \
    {sec, key, ST_EPID, OFF(f), sizeof(((kmsd_config *)0)->f[0]), 0, 0, 0, 0, false, NULL, NULL, NULL, R(reload), help},
#define CFG_HWID(sec, key, f, reload, help) \
    {sec, key, ST_HWID, OFF(f), 0, 0, 0, 0, 0, false, NULL, NULL, NULL, R(reload), help},
const setting config_settings[] = {
#include "node/config_settings.def"
};
#undef R

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
