/* fuzz_config.c: arbitrary bytes as a kmsd INI file through config_load (via a temporary
 * file, as kmsd reads it), then config_validate and the allowlist on whatever loaded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "node/config.h"

static char path[64];

static void cleanup(void) { if (path[0]) unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/kmsha-fuzz-config-XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0) abort();
        close(fd);
        atexit(cleanup);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    static kmsd_config cfg;
    char err[512];
    config_defaults(&cfg);
    memset(err, 'x', sizeof err);
    if (config_load(&cfg, path, err, sizeof err) != 0) {
        if (!memchr(err, 0, sizeof err)) abort(); /* an error always comes with a message */
        return 0;
    }
    if (config_validate(&cfg, err, sizeof err) != 0) {
        if (!memchr(err, 0, sizeof err)) abort();
        return 0;
    }
    kms_guid app, kms;
    kms_guid_parse(products_app_id(KMS_APP_WINDOWS), &app);
    kms_guid_parse(products_at(0)->id, &kms);
    (void)config_product_allowed(&cfg, products_app_from_id(&app), products_find(&kms), &kms);
    static const uint8_t v4[4] = {10, 0, 0, 1};
    for (int i = 0; i < cfg.n_allow_clients; i++)
        (void)config_cidr_match(&cfg.allow_clients[i], AF_INET, v4);
    return 0;
}
