/* config_reference.c: the settings table written as Markdown (kmsd --config-reference;
 * README.md's reference is made from it by scripts/update-readme-reference.sh). */
#include "node/config_internal.h"

#include <stdio.h>

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
    for (size_t i = 0; i < config_settings_count; i++) {
        const setting *s = &config_settings[i];
        if (!setting_per_group(s)) {
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
    for (size_t i = 0; i < config_peer_keys_help_count; i++)
        fprintf(out, "| `%s` | %s |\n", config_peer_keys_help[i][0], config_peer_keys_help[i][1]);
}
