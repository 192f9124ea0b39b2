/* ctladmin.c: see ctladmin.h. */
#include "ops/kmsctl/ctladmin.h"

#include <stdio.h>
#include <stdlib.h>

#include "node/config.h"
#include "ops/kmsctl/httpc.h"

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
    if (httpc_request(method, a.host, a.port, path, timeout_ms, &status, &body, &len, err, sizeof err) != 0) {
        fprintf(stderr, "kmsctl: node at %s is not answering: %s\n", admin, err);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    if (status != 200) {
        const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
        fprintf(stderr, "kmsctl: %s %s%s answered HTTP %d: %.300s\n", method, admin, path, status,
                msg ? msg : body);
        json_decref(j);
        free(body);
        return NULL;
    }
    free(body);
    if (!j) fprintf(stderr, "kmsctl: %s%s: the answer is not JSON: %s\n", admin, path, je.text);
    return j;
}
