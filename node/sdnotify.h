/* sdnotify.h: telling systemd how the daemon is doing (Type=notify): READY=1 once every
 * socket listens, STOPPING=1 when a stop signal arrives, and WATCHDOG=1 from an event loop timer at half of WatchdogSec, so a
 * wedged loop gets the node restarted. Without $NOTIFY_SOCKET (not under systemd) every
 * call does nothing. Built on libsystemd when it was found at build time; otherwise
 * the calls do nothing. */
#ifndef KMSHA_SDNOTIFY_H
#define KMSHA_SDNOTIFY_H

#include <stdint.h>

struct event_base;
typedef struct sdnotify sdnotify;

/* Sends READY=1 with a STATUS= line and MAINPID, and starts the watchdog timer on base
 * when systemd asked for one (WATCHDOG_USEC for this process). Returns the handle that
 * owns the timer (NULL when there is nothing to own). */
sdnotify *sdnotify_ready(struct event_base *base, const char *status);
/* Sends STOPPING=1 (with a STATUS= line). */
void sdnotify_stopping(const char *status);
/* The watchdog interval systemd asked for in microseconds (0: none). */
uint64_t sdnotify_watchdog_usec(void);
/* Stops the watchdog timer. Accepts NULL; NULLs *self_p. */
void sdnotify_free(sdnotify **self_p);

#endif
