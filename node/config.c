/* config.c: kmsd's configuration (node/config.h): setting values. A value is parsed by
 * its row's type (node/config_settings.c has the rows) and checked by its bounds and
 * check; defaults are parsed like file values; config_set sets one value from a flag.
 * The other config_*.c files: config_settings.c (the table, its lookups and value checks),
 * config_file.c (the INI reader), config_addr.c (addresses and networks, used at run time
 * too), config_products.c (the product allow policy), config_cluster.c ([peer.ID]
 * sections, [dns] zones, SRV priorities), config_validate.c (cross-field checks),
 * config_reload.c (SIGHUP) and config_reference.c (the Markdown reference). */
#include "node/config_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/errors.h"

void config_put(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Copies a trimmed entry [b, e) of a list into out (NUL-terminated). false if too long. */
bool config_take_entry(const char *b, const char *e, char *out, size_t cap)
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
int config_next_entry(const char **cur, char *out, size_t cap, char *why, size_t whylen)
{
    if (!*cur) return 0;
    const char *b = *cur, *comma = strchr(b, ',');
    if (!config_take_entry(b, comma ? comma : b + strlen(b), out, cap)) {
        config_put(why, whylen, "entry '%.64s...' too long", b);
        return KMS_ECONFIG;
    }
    *cur = comma ? comma + 1 : NULL;
    return 1;
}

static int parse_uint(const char *v, uint32_t min, uint32_t max, uint32_t *out, char *why,
                      size_t whylen)
{
    uint64_t x = 0;
    const char *p = v;
    if (!*p) { config_put(why, whylen, "empty value, expected a number %u..%u", min, max); return KMS_ECONFIG; }
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            config_put(why, whylen, "'%.64s' is not a number", v);
            return KMS_ECONFIG;
        }
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > UINT32_MAX) break;
    }
    if (x < min || x > max) {
        if (x > UINT32_MAX) config_put(why, whylen, "value %.64s out of range %u..%u", v, min, max);
        else config_put(why, whylen, "value %llu out of range %u..%u", (unsigned long long)x, min, max);
        return KMS_ECONFIG;
    }
    *out = (uint32_t)x;
    return 0;
}

int config_parse_bool(const char *v, bool *out, char *why, size_t whylen)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < COUNTOF(yes); i++) {
        if (strcmp(v, yes[i]) == 0) { *out = true; return 0; }
        if (strcmp(v, no[i]) == 0) { *out = false; return 0; }
    }
    config_put(why, whylen, "'%.64s' is not a boolean (true/false, yes/no, on/off, 1/0)", v);
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
    config_put(why, whylen, "'%.64s' is not a HWID (16 hex digits)", v);
    return KMS_ECONFIG;
}

int config_parse_enum(const char *v, const char *choices, char *why, size_t whylen)
{
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (n && len == n && strncmp(c, v, n) == 0) return 0;
        if (!bar) break;
        c = bar + 1;
    }
    config_put(why, whylen, "'%.64s' is not one of %s", v, choices);
    return KMS_ECONFIG;
}

/* Parses one list entry of s into out (a config_addr/config_cidr/config_allow). */
static int parse_entry(const setting *s, const char *v, void *out, char *why, size_t whylen)
{
    switch (s->type) {
    case ST_ADDR_LIST:
        if (config_parse_addr(v, s->port, out) == 0) return 0;
        config_put(why, whylen, "'%.64s' is not an address (HOST:PORT, [IPV6]:PORT or HOST)", v);
        return KMS_ECONFIG;
    case ST_CIDR_LIST:
        if (config_parse_cidr(v, out) == 0) return 0;
        config_put(why, whylen, "'%.64s' is not a network (ADDRESS/PREFIX or ADDRESS)", v);
        return KMS_ECONFIG;
    case ST_PRODUCT_LIST:
        return config_parse_allow(v, out, why, whylen);
    default:
        return KMS_EINVAL;
    }
}

size_t config_entry_size(const setting *s)
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
    int *count = setting_count(cfg, s);
    for (int pass = 0; pass < 2; pass++) {
        int n = *count, more;
        const char *cur = v;
        while ((more = config_next_entry(&cur, entry, sizeof entry, why, whylen)) > 0) {
            if (!entry[0]) continue;
            if ((size_t)n >= s->size) {
                config_put(why, whylen, "too many entries (at most %zu)", s->size);
                return KMS_ECONFIG;
            }
            void *dst = pass ? (void *)((char *)setting_field(cfg, s) + (size_t)n * config_entry_size(s))
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
        config_put(why, whylen, "value too long (at most %zu characters)", cap - 1);
        return KMS_ECONFIG;
    }
    const char *problem = s->check ? s->check(v) : NULL;
    if (problem) {
        config_put(why, whylen, "'%.64s' %s", v, problem);
        return KMS_ECONFIG;
    }
    memset(dst, 0, cap);
    memcpy(dst, v, strlen(v));
    return 0;
}

/* Sets s (ePID group `group` for per-group rows) from text v; lists append. On error
 * returns KMS_ECONFIG with what is wrong in why, and cfg is unchanged. */
int config_set_value(kmsd_config *cfg, const setting *s, int group, const char *v, char *why,
                     size_t whylen)
{
    void *f = setting_field(cfg, s);
    switch (s->type) {
    case ST_STRING:
        return set_string(f, s->size, s, v, why, whylen);
    case ST_ENUM:
        if (config_parse_enum(v, s->choices, why, whylen) != 0) return KMS_ECONFIG;
        return set_string(f, s->size, s, v, why, whylen);
    case ST_BOOL:
        return config_parse_bool(v, f, why, whylen);
    case ST_UINT:
        return parse_uint(v, s->min, s->max, f, why, whylen);
    case ST_ADDR: {
        config_addr a;
        if (s->allow_off && strcmp(v, "off") == 0) {
            memset(&a, 0, sizeof a);
        } else if (config_parse_addr(v, s->port, &a) != 0) {
            config_put(why, whylen, "'%.64s' is not an address (HOST:PORT, [IPV6]:PORT or HOST%s)", v,
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
            config_put(why, whylen, "'%.64s' is not an ePID "
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
    if (setting_is_list(s)) *setting_count(cfg, s) = 0;
    int rc = config_set_value(cfg, s, 0, s->def, why, sizeof why);
    assert(rc == 0 && "a default in the settings table does not parse");
    (void)rc;
}

void config_defaults(kmsd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < config_settings_count; i++) set_default(cfg, &config_settings[i]);
}

int config_set(kmsd_config *cfg, const char *section, const char *key, const char *value,
               const char *source, char *err, size_t errlen)
{
    char why[256];
    if (!source) source = "command line";
    if (!cfg || !section || !key || !value) {
        config_put(err, errlen, "%s: missing section, key or value", source);
        return KMS_ECONFIG;
    }
    int group;
    const setting *s = config_find_setting(section, key, &group);
    if (!s) {
        const section_hook *h = config_find_hook(section);
        if (h) {
            why[0] = 0;
            int rc = h->fn(cfg, section, key, value, why, sizeof why);
            if (rc == 0) return 0;
            if (rc != KMS_ENOTFOUND) {
                config_put(err, errlen, "%s: [%s] %s: %s", source, section, key, why);
                return KMS_ECONFIG;
            }
        } else if (!config_known_section(section)) {
            config_put(err, errlen, "%s: unknown section [%.64s]", source, section);
            return KMS_ECONFIG;
        }
        config_put(err, errlen, "%s: unknown key '%.64s' in [%s]", source, key, section);
        return KMS_ECONFIG;
    }
    if (config_set_value(cfg, s, group, value, why, sizeof why) != 0) {
        config_put(err, errlen, "%s: [%s] %s: %s", source, section, key, why);
        return KMS_ECONFIG;
    }
    return 0;
}
