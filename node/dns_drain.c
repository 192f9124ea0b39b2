/* dns_drain.c: the drain state, kept in DATA_DIR/drained so it survives a restart: a
 * drained node keeps serving KMS while its DNS records are withdrawn. */
#include "node/dns_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/log.h"
#include "proto/errors.h"

void dns_drain_load(dns *d, const char *data_dir, const char *node_id)
{
    snprintf(d->drained_path, sizeof d->drained_path, "%s/drained", data_dir);
    struct stat st;
    d->drained = stat(d->drained_path, &st) == 0;
    if (d->drained) log_info("drained (%s exists): this node's DNS records stay withdrawn; kmsctl undrain %s to publish them",
                             d->drained_path, node_id);
}

bool dns_drained(const dns *d) { return d && d->drained; }

int dns_set_drained(dns *d, bool drained)
{
    if (!d) return KMS_EINVAL;
    if (drained) {
        /* A small file; no fsync on the event loop (a crash right after may lose it). */
        int fd = open(d->drained_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return KMS_EIO;
        static const char text[] = "drained: kmsctl undrain publishes this node's DNS records again\n";
        bool ok = write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1);
        if (close(fd) != 0) ok = false;
        if (!ok) return KMS_EIO;
    } else if (unlink(d->drained_path) != 0 && errno != ENOENT) {
        return KMS_EIO;
    }
    if (d->drained != drained)
        log_info("%s: %s", drained ? "drained" : "undrained",
                 !d->enabled ? "DNS publishing is off" : drained ? "withdrawing this node's DNS records" : "publishing this node's DNS records");
    d->drained = drained;
    if (d->enabled) {
        d->again = true; /* at once (after a cycle in flight), whatever the backoff */
        struct timeval now = {0, 0};
        evtimer_add(d->kick, &now);
    }
    return 0;
}
