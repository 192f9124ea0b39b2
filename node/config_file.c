/* config_file.c: the INI reader: lines, sections, keys and values, comments, a key given
 * twice, and every error named FILE:LINE, section and key. Each value goes through the
 * settings table (config_set_value) or a section hook.
 *
 * File syntax (repeated in the reference, config_reference.c):
 *  - "[section]" headers and "key = value" lines; whitespace around both is trimmed.
 *  - A line whose first non-blank character is ';' or '#' is a comment. A value may end
 *    in a comment introduced by whitespace and then ';' or '#' ("ndr64 = no  ; old
 *    clients"), so a value cannot contain " ;" or " #". No quoting.
 *  - Keys are case-sensitive. A single-valued key given twice in one file is an error.
 *    List keys (listen, allow_products, allow_clients) take comma-separated entries and
 *    may be repeated: the lines add up, and the first line of a file replaces the default.
 *    config_set (command-line flags) appends to lists as well; a caller that wants to
 *    replace a list clears its count first.
 *  - Every error names FILE:LINE, section and key. */
#include "node/config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"

/* Keys an earlier kmsd took and this one does not: a file that still sets one is refused
 * with what replaced it, not as an unknown key. */
static const struct {
    const char *section, *key, *why;
} removed_keys[] = {
    {"cluster", "insecure", "removed; replication is always authenticated and encrypted with CURVE "
                            "(kmsctl keygen makes the keys)"},
    {"limits", "admin_request_timeout", "removed; replaced by admin_header_timeout (the request line and "
                                        "headers) and admin_body_timeout (the body), 5 s each by default"},
};

static const char *removed_key(const char *section, const char *key)
{
    for (size_t i = 0; i < sizeof removed_keys / sizeof removed_keys[0]; i++)
        if (!strcmp(section, removed_keys[i].section) && !strcmp(key, removed_keys[i].key)) return removed_keys[i].why;
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = 0;
    return s;
}

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
        config_put(err, errlen, "no configuration file given");
        return KMS_ECONFIG;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        config_put(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return KMS_ECONFIG;
    }
    return load_stream(cfg, f, path, err, errlen);
}

int config_load_text(kmsd_config *cfg, const char *name, const char *text, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f) {
        config_put(err, errlen, "%s: %s", name, strerror(errno));
        return KMS_ECONFIG;
    }
    return load_stream(cfg, f, name, err, errlen);
}

/* Reads INI lines from f (closing it); path names it in messages. */
static int load_stream(kmsd_config *cfg, FILE *f, const char *path, char *err, size_t errlen)
{
    /* Line of the first occurrence of each setting in this file (0 = not yet): a single
     * value may be given once; the first line of a list replaces the default. */
    int first[CONFIG_SETTINGS_MAX][KMS_GROUP_COUNT];
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
            config_put(err, errlen, "%s:%d: NUL byte in line", path, lineno);
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
                config_put(err, errlen, "%s:%d: malformed section header (expected [name])", path, lineno);
                rc = KMS_ECONFIG;
                break;
            }
            *rb = 0;
            char *name = trim(t + 1);
            if (!*name || strlen(name) >= sizeof section) {
                config_put(err, errlen, "%s:%d: malformed section header (expected [name])", path, lineno);
                rc = KMS_ECONFIG;
                break;
            }
            hook = config_known_section(name) ? NULL : config_find_hook(name);
            if (!hook && !config_known_section(name)) {
                config_put(err, errlen, "%s:%d: unknown section [%.64s]", path, lineno, name);
                rc = KMS_ECONFIG;
                break;
            }
            if (hook) {
                why[0] = 0;
                if (hook->fn(cfg, name, NULL, NULL, why, sizeof why) != 0) {
                    config_put(err, errlen, "%s:%d: [%s]: %s", path, lineno, name, why);
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
            config_put(err, errlen, "%s:%d: expected 'key = value' or '[section]'", path, lineno);
            rc = KMS_ECONFIG;
            break;
        }
        *eq = 0;
        char *key = trim(t), *value = eq + 1;
        cut_comment(value);
        value = trim(value);
        if (!key_chars_ok(key)) {
            config_put(err, errlen, "%s:%d: expected 'key = value' or '[section]'", path, lineno);
            rc = KMS_ECONFIG;
            break;
        }
        if (!have_section) {
            config_put(err, errlen, "%s:%d: key '%.64s' before any [section]", path, lineno, key);
            rc = KMS_ECONFIG;
            break;
        }
        int group;
        const setting *s = hook ? NULL : config_find_setting(section, key, &group);
        if (!s) {
            int hrc = KMS_ENOTFOUND;
            if (hook) {
                why[0] = 0;
                hrc = hook->fn(cfg, section, key, value, why, sizeof why);
                if (hrc == 0) continue;
            }
            const char *removed = hrc == KMS_ENOTFOUND ? removed_key(section, key) : NULL;
            if (removed)
                config_put(err, errlen, "%s:%d: [%s] %s: %s", path, lineno, section, key, removed);
            else if (hrc == KMS_ENOTFOUND)
                config_put(err, errlen, "%s:%d: unknown key '%.64s' in [%s]", path, lineno, key, section);
            else
                config_put(err, errlen, "%s:%d: [%s] %s: %s", path, lineno, section, key, why);
            rc = KMS_ECONFIG;
            break;
        }
        int *seen = &first[s - config_settings][group];
        if (*seen && !setting_is_list(s)) {
            config_put(err, errlen, "%s:%d: [%s] %s: given twice (first on line %d)", path, lineno,
                section, key, *seen);
            rc = KMS_ECONFIG;
            break;
        }
        int saved = 0;
        if (!*seen && setting_is_list(s)) { /* the file's list replaces the default */
            saved = *setting_count(cfg, s);
            *setting_count(cfg, s) = 0;
        }
        if (config_set_value(cfg, s, group, value, why, sizeof why) != 0) {
            if (!*seen && setting_is_list(s)) *setting_count(cfg, s) = saved;
            config_put(err, errlen, "%s:%d: [%s] %s: %s", path, lineno, section, key, why);
            rc = KMS_ECONFIG;
            break;
        }
        if (!*seen) {
            *seen = lineno;
            cfg->keys_from_file[s - config_settings] = 1;
        }
    }
    if (rc == 0 && ferror(f)) {
        config_put(err, errlen, "%s: read error: %s", path, strerror(errno));
        rc = KMS_ECONFIG;
    }
    free(line);
    fclose(f);
    return rc;
}
