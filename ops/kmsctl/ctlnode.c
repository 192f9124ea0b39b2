/* ctlnode.c: see ctlnode.h. The cluster file is parsed by node/config*.c, the same code
 * kmsd uses, so kmsctl and the node never disagree on what the file says. */
#include "ops/kmsctl/ctlnode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"
#include "ops/kmsctl/ctlargs.h"

#define DEFAULT_ADMIN "127.0.0.1:8688"

static const char *config_path; /* --config or KMSHA_CONFIG; NULL = none */
static const char *node_id;     /* --node-id or KMSHA_NODE_ID; NULL = none */
static kmsd_config *cfg;        /* loaded on first use */
static char admin_text[300];

int ctlnode_options(int *argc, char ***argv)
{
    char **v = *argv;
    int n = *argc, i = 1;
    config_path = getenv("KMSHA_CONFIG");
    node_id = getenv("KMSHA_NODE_ID");
    if (config_path && !config_path[0]) config_path = NULL;
    if (node_id && !node_id[0]) node_id = NULL;
    while (i < n && v[i][0] == '-' && v[i][1] == '-') {
        const char *opt = v[i];
        const char **dest = !strcmp(opt, "--config") ? &config_path : !strcmp(opt, "--node-id") ? &node_id : NULL;
        if (!dest) break; /* --help, --version: the command table's business */
        if (i + 1 >= n || !v[i + 1][0]) {
            ctlargs_usage_error("%s needs a value", opt);
            return 2;
        }
        *dest = v[i + 1];
        i += 2;
    }
    /* drop the global options: argv[1] becomes the command */
    v[i - 1] = v[0];
    *argv = v + i - 1;
    *argc = n - (i - 1);
    return 0;
}

static const kmsd_config *load(void)
{
    if (cfg || !config_path) return cfg;
    cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "kmsctl: out of memory\n");
        return NULL;
    }
    char err[512];
    config_defaults(cfg);
    if (config_load(cfg, config_path, err, sizeof err) != 0) {
        fprintf(stderr, "kmsctl: %s\n", err);
        free(cfg);
        cfg = NULL;
        return NULL;
    }
    return cfg;
}

/* A token file of the node: the setting's value, else DATA_DIR/name (as the node makes it). */
static const char *token_file(char *path, size_t cap, const char *setting, const char *name)
{
    const kmsd_config *c = load();
    if (!c) return NULL;
    if (setting[0]) snprintf(path, cap, "%s", setting);
    else snprintf(path, cap, "%s/%s", c->data_dir, name);
    return path;
}

const char *ctlnode_token_file(void)
{
    static char path[CONFIG_PATH_MAX + 16];
    const kmsd_config *c = load();
    return c ? token_file(path, sizeof path, c->admin_token_file, "admin.token") : NULL;
}

const char *ctlnode_read_token_file(void)
{
    static char path[CONFIG_PATH_MAX + 16];
    const kmsd_config *c = load();
    return c ? token_file(path, sizeof path, c->read_token_file, "read.token") : NULL;
}

static const char *format_addr(const config_addr *a)
{
    snprintf(admin_text, sizeof admin_text, strchr(a->host, ':') ? "[%s]:%u" : "%s:%u", a->host,
             (unsigned)a->port);
    return admin_text;
}

const char *ctlnode_admin(void)
{
    if (!config_path) return DEFAULT_ADMIN;
    const kmsd_config *c = load();
    if (!c) return NULL;
    if (c->n_peers == 0) { /* a single node's file: its [node] admin */
        if (!c->admin.port) {
            fprintf(stderr, "kmsctl: %s: [node] admin is off: give --admin HOST:PORT\n", config_path);
            return NULL;
        }
        return format_addr(&c->admin);
    }
    if (!node_id) {
        fprintf(stderr, "kmsctl: %s describes %d nodes: say which with --node-id ID (or KMSHA_NODE_ID)\n",
                config_path, c->n_peers);
        return NULL;
    }
    const config_peer *p = config_find_peer(c, node_id);
    if (!p) {
        fprintf(stderr, "kmsctl: %s: no [peer.%s] section\n", config_path, node_id);
        return NULL;
    }
    if (!p->admin.port) {
        fprintf(stderr, "kmsctl: %s: [peer.%s] has no admin address: give --admin HOST:PORT\n", config_path,
                node_id);
        return NULL;
    }
    return format_addr(&p->admin);
}

json_t *ctlnode_peers(void)
{
    if (!config_path) return NULL;
    const kmsd_config *c = load();
    if (!c || c->n_peers == 0) return NULL;
    json_t *peers = json_array();
    for (int i = 0; i < c->n_peers; i++) {
        const config_peer *p = &c->peers[i];
        json_array_append_new(peers, json_pack("{s:s, s:s, s:s}", "id", p->id, "admin",
                                               p->admin.port ? format_addr(&p->admin) : "", "site", p->site));
    }
    return peers;
}
