/* config_internal.h: what the configuration's files (node/config*.c) share and nobody
 * else sees: the settings table's row type and the table itself (config_settings.c), the
 * section hooks, and the value parsers one file keeps for the others. config.h stays the
 * module's whole public API. */
#ifndef KMSHA_CONFIG_INTERNAL_H
#define KMSHA_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/config.h"

#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

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

/* One row of the settings table. */
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

/* The table (config_settings.c), in reference order; a row's index also indexes
 * kmsd_config.keys_from_file. */
extern const setting config_settings[];
extern const size_t config_settings_count;

static inline bool setting_per_group(const setting *s) { return s->type == ST_EPID || s->type == ST_HWID; }
static inline bool setting_is_list(const setting *s)
{
    return s->type == ST_ADDR_LIST || s->type == ST_CIDR_LIST || s->type == ST_PRODUCT_LIST;
}
static inline void *setting_field(kmsd_config *cfg, const setting *s) { return (char *)cfg + s->offset; }
static inline int *setting_count(kmsd_config *cfg, const setting *s)
{
    return (int *)(void *)((char *)cfg + s->count_offset);
}

/* Sections without fixed keys. fn is called with key == NULL when the section header is
 * read, then once per key; it returns 0, KMS_ENOTFOUND for an unknown key (the caller
 * reports it), or KMS_ECONFIG with what is wrong in why. */
typedef int (*section_fn)(kmsd_config *cfg, const char *section, const char *key,
                          const char *value, char *why, size_t whylen);
typedef struct section_hook {
    const char *prefix; /* matches a section equal to it or starting with it */
    section_fn fn;
} section_hook;

/* config_settings.c */
/* Finds the row of section/key; *group receives the ePID group of per-group keys. */
const setting *config_find_setting(const char *section, const char *key, int *group);
/* Whether a row has this section. */
bool config_known_section(const char *section);
/* The hook of a section without fixed keys, or NULL. */
const section_hook *config_find_hook(const char *section);
/* A node or site id: 1-63 of A-Z a-z 0-9 . _ -. NULL or what is wrong. */
const char *config_check_node_id(const char *v);
/* [dns] server: an address literal with a port. NULL or what is wrong. */
const char *config_check_dns_server(const char *v);

/* config.c */
/* snprintf into why/err buffers that may be NULL. */
void config_put(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies a trimmed entry [b, e) of a list into out (NUL-terminated). false if too long. */
bool config_take_entry(const char *b, const char *e, char *out, size_t cap);
/* Takes the next comma-separated entry of *cur into out (trimmed; "" for an empty one) and
 * moves *cur past it. Returns 1, 0 when the text is used up, or KMS_ECONFIG (too long). */
int config_next_entry(const char **cur, char *out, size_t cap, char *why, size_t whylen);
int config_parse_bool(const char *v, bool *out, char *why, size_t whylen);
/* 0 when v is one of choices ("a|b|c"), else KMS_ECONFIG with why. */
int config_parse_enum(const char *v, const char *choices, char *why, size_t whylen);
/* The size of one entry of a list row. */
size_t config_entry_size(const setting *s);
/* Sets s (ePID group `group` for per-group rows) from text v; lists append. On error
 * returns KMS_ECONFIG with what is wrong in why, and cfg is unchanged. */
int config_set_value(kmsd_config *cfg, const setting *s, int group, const char *v, char *why, size_t whylen);

/* config_products.c: an allow_products entry. */
int config_parse_allow(const char *v, config_allow *out, char *why, size_t whylen);

/* config_cluster.c */
int config_peer_section(kmsd_config *cfg, const char *section, const char *key,
                        const char *value, char *why, size_t whylen);
/* [peer.ID] keys and their meaning, for the reference. */
extern const char *const config_peer_keys_help[][2];
extern const size_t config_peer_keys_help_count;

#endif
