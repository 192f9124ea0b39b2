/* config_reload.c: SIGHUP: which settings differ between the running configuration and
 * the file read again, which of them take effect now (copied, with the action the caller
 * owes, by the reload column of their row) and which need a restart. */
#include "node/config_internal.h"

#include <stdio.h>
#include <string.h>

bool config_is_reloadable(const char *section, const char *key)
{
    if (!section || !key) return false;
    int group;
    const setting *s = config_find_setting(section, key, &group);
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
        return na != nb || memcmp(fa, fb, (size_t)na * config_entry_size(s)) != 0;
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
        len = s->size * config_entry_size(s);
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
    snprintf(list + l, cap - l, "%s[%s] %s%s", l ? ", " : "", s->section, s->key, setting_per_group(s) ? "*" : "");
}

unsigned config_reload_apply(kmsd_config *cur, const kmsd_config *fresh, char *changed, size_t changed_cap,
                             char *restart, size_t restart_cap)
{
    unsigned actions = 0;
    if (changed_cap) changed[0] = 0;
    if (restart_cap) restart[0] = 0;
    for (size_t i = 0; i < config_settings_count; i++) {
        const setting *s = &config_settings[i];
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
