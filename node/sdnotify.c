/* sdnotify.c: see sdnotify.h. The watchdog pings come from the event loop itself, so
 * they stop exactly when the loop stops turning. */
#include "node/sdnotify.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef KMSHA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

struct sdnotify {
    struct event *timer;
};

#ifdef KMSHA_HAVE_SYSTEMD
static void notify(const char *text) { sd_notify(0, text); }
#else
static void notify(const char *text) { (void)text; }
#endif

uint64_t sdnotify_watchdog_usec(void)
{
#ifdef KMSHA_HAVE_SYSTEMD
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0) return usec;
#endif
    return 0;
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    notify("WATCHDOG=1");
}

sdnotify *sdnotify_ready(struct event_base *base, const char *status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "READY=1\nMAINPID=%ld\nSTATUS=%s", (long)getpid(), status ? status : "ready");
    notify(msg);
    uint64_t usec = sdnotify_watchdog_usec();
    if (!usec || !base) return NULL;
    sdnotify *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->timer = event_new(base, -1, EV_PERSIST, watchdog_cb, self);
    if (!self->timer) {
        free(self);
        return NULL;
    }
    uint64_t half = usec / 2;
    struct timeval tv = {(time_t)(half / 1000000), (suseconds_t)(half % 1000000)};
    event_add(self->timer, &tv);
    notify("WATCHDOG=1");
    return self;
}

void sdnotify_stopping(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=%s", status ? status : "stopping");
    notify(msg);
}

void sdnotify_free(sdnotify **self_p)
{
    if (!self_p || !*self_p) return;
    if ((*self_p)->timer) event_free((*self_p)->timer);
    free(*self_p);
    *self_p = NULL;
}
