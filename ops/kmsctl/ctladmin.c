/* ctladmin.c: see ctladmin.h. */
#include "ops/kmsctl/ctladmin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"
#include "ops/kmsctl/ctlnode.h"
#include "ops/kmsctl/httpc.h"

static const char *token_file, *read_token_file;
static const char *token_used; /* the file the token was read from, for messages */

void ctladmin_set_token_file(const char *path) { token_file = path; }
void ctladmin_set_read_token_file(const char *path) { read_token_file = path; }

/* Reads the token once; "" when no file is found (the node then says what it needs). */
const char *ctladmin_token(void)
{
    static char tok[256];
    static bool loaded;
    if (loaded) return tok;
    loaded = true;
    const char *env = getenv("KMSHA_ADMIN_TOKEN_FILE"), *read_env = getenv("KMSHA_READ_TOKEN_FILE");
    /* Most specific first; at each level the admin token, which reads everything, first. */
    const char *candidates[] = {token_file, read_token_file, env && env[0] ? env : NULL,
                                read_env && read_env[0] ? read_env : NULL, ctlnode_token_file(),
                                ctlnode_read_token_file(), "/etc/kmsha/admin.token", "/etc/kmsha/read.token",
                                "./var/admin.token", "./var/read.token"};
    const size_t named = 4;   /* options and environment: no guessing past them */
    char cluster_err[600] = ""; /* the cluster file's, said when nothing else is found */
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!candidates[i]) continue;
        FILE *f = fopen(candidates[i], "r");
        if (!f) {
            char msg[600];
            snprintf(msg, sizeof msg, "kmsctl: %s token file %s: %s\n", i % 2 ? "read" : "admin", candidates[i],
                     strerror(errno));
            if (i < named) {
                fputs(msg, stderr);
                break;
            }
            if (i < named + 2 && !cluster_err[0]) snprintf(cluster_err, sizeof cluster_err, "%s", msg);
            continue;
        }
        if (fgets(tok, sizeof tok, f)) tok[strcspn(tok, "\r\n")] = 0;
        fclose(f);
        token_used = candidates[i];
        break;
    }
    if (!token_used && cluster_err[0]) fputs(cluster_err, stderr);
    return tok;
}

json_t *ctladmin_request(const char *method, const char *admin, const char *path, int timeout_ms)
{
    config_addr a;
    if (config_parse_addr(admin, 8688, &a) != 0 || a.port == 0) {
        fprintf(stderr, "kmsctl: '%s' is not an admin address (HOST:PORT)\n", admin);
        return NULL;
    }
    int status = 0;
    char *body = NULL, err[256];
    size_t len = 0;
    if (httpc_request(method, a.host, a.port, path, ctladmin_token(), timeout_ms, &status, &body, &len, err, sizeof err) != 0) {
        fprintf(stderr, "kmsctl: node at %s is not answering: %s\n", admin, err);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    if (status != 200) {
        const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
        fprintf(stderr, "kmsctl: %s %s%s answered HTTP %d: %.300s\n", method, admin, path, status,
                msg ? msg : body);
        if (status == 403 && !ctladmin_token()[0])
            fprintf(stderr, "kmsctl: no token found: give the node's admin_token_file with kmsctl --token-file "
                            "FILE or KMSHA_ADMIN_TOKEN_FILE (or, to read client records, its read_token_file with "
                            "--read-token-file FILE or KMSHA_READ_TOKEN_FILE)\n");
        else if (status == 403 && token_used)
            fprintf(stderr, "kmsctl: the token sent was read from %s\n", token_used);
        json_decref(j);
        free(body);
        return NULL;
    }
    free(body);
    if (!j) fprintf(stderr, "kmsctl: %s%s: the answer is not JSON: %s\n", admin, path, je.text);
    return j;
}

json_t *ctladmin_statuses(const char *admin, bool cluster, int timeout_ms, json_t *unreachable)
{
    /* With a cluster file (kmsctl --config), --cluster asks every node it lists, so a
     * dead node hides none of the others; otherwise the peers the asked node knows. */
    json_t *file_peers = cluster ? ctlnode_peers() : NULL;
    json_t *st = NULL, *peers = file_peers;
    json_t *nodes = json_array();
    if (!file_peers) {
        if (!admin && !(admin = ctlnode_admin())) return json_decref(nodes), NULL;
        if (!(st = ctladmin_request("GET", admin, "/status", timeout_ms))) return json_decref(nodes), NULL;
        peers = json_object_get(json_object_get(st, "cluster"), "peers");
        if (!cluster || !json_array_size(peers)) {
            json_array_append_new(nodes, st);
            return nodes;
        }
    }
    for (size_t i = 0; i < json_array_size(peers); i++) {
        json_t *p = json_array_get(peers, i);
        const char *padmin = json_string_value(json_object_get(p, "admin"));
        json_t *ps = st && json_is_true(json_object_get(p, "self")) ? json_incref(st)
                     : padmin && padmin[0] ? ctladmin_request("GET", padmin, "/status", timeout_ms)
                                           : NULL;
        if (ps) json_array_append_new(nodes, ps);
        else json_array_append(unreachable, json_object_get(p, "id"));
    }
    json_decref(st);
    json_decref(file_peers);
    return nodes;
}
