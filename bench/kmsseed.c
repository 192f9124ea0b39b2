/* kmsseed.c: fills a node's store with N client records as if that node had activated N
 * distinct clients (logged local updates under the node's origin), for the catch-up and
 * memory benchmarks. Run it on a stopped node's data directory:
 *   kmsseed --data-dir DIR --node-id ID --records N [--days-back D] [--seed S] */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replication/store.h"
#include "proto/clock.h"
#include "proto/errors.h"
#include "replication/repl.h"

int main(int argc, char **argv)
{
    const char *dir = NULL, *id = "kms1";
    long long n = 0;
    int days_back = 7;
    unsigned seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--node-id") && i + 1 < argc) id = argv[++i];
        else if (!strcmp(argv[i], "--records") && i + 1 < argc) n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--days-back") && i + 1 < argc) days_back = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: kmsseed --data-dir DIR --node-id ID --records N [--days-back D] [--seed S]\n");
            return 2;
        }
    }
    if (!dir || n <= 0) {
        fprintf(stderr, "kmsseed: --data-dir and --records are required\n");
        return 2;
    }
    char err[256];
    store_options so = {.commit_delay_ms = 5, .map_size = (uint64_t)4096 << 20, .no_sync = false};
    struct event_base *base = event_base_new(); /* completions are drained from it */
    store *st = store_open(base, dir, &so, NULL, err, sizeof err);
    if (!st) { fprintf(stderr, "kmsseed: %s\n", err); return 1; }
    store_vv vv;
    store_get_vv(st, &vv);
    char origin[STORE_ORIGIN_MAX];
    int rc = repl_origin_for(dir, id, &vv, origin, sizeof origin);
    if (rc < 0 || store_set_origin(st, origin) < 0) { fprintf(stderr, "kmsseed: origin: %s\n", kms_strerror(rc)); return 1; }
    double t0 = (clock_mono_ms() / 1e3);
    long long now = clock_wall_ms();
    srand(seed);
    for (long long i = 0; i < n; i++) {
        store_record r;
        memset(&r, 0, sizeof r);
        r.app = i % 10 == 0 ? 2 : 0;
        for (int k = 0; k < 8; k++) r.cmid[k] = (uint8_t)(seed >> (8 * (k % 4)));
        for (int k = 0; k < 8; k++) r.cmid[8 + k] = (uint8_t)(i >> (8 * k));
        r.last_seen_ms = now - (long long)(rand() % (days_back * 86400)) * 1000;
        r.first_seen_ms = r.last_seen_ms;
        r.license_status = 1;
        r.n_policy = r.app == 0 ? 25 : 5;
        r.protocol = 6;
        snprintf(r.workstation, sizeof r.workstation, "seed-%lld.lab.example.edu", i);
        snprintf(r.address, sizeof r.address, "10.%lld.%lld.%lld", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        snprintf(r.node, sizeof r.node, "%s", id);
        while ((rc = store_put_logged_async(st, &r, NULL, NULL)) == KMS_ENOMEM) {
            event_base_loop(base, EVLOOP_NONBLOCK);
            usleep(1000);
        }
        if (i % 4096 == 0) event_base_loop(base, EVLOOP_NONBLOCK);
        if (rc < 0) { fprintf(stderr, "kmsseed: put: %s\n", kms_strerror(rc)); return 1; }
    }
    store_free(&st);
    event_base_free(base);
    printf("kmsseed: %lld records under origin %s in %.1f s\n", n, origin, (clock_mono_ms() / 1e3) - t0);
    return 0;
}
