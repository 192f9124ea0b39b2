/* log.h: kmsd's one small logging vocabulary (after OpenBSD daemons): one line per event,
 * with time, node id and level, to stderr; plus the audit stream (one JSON object per
 * KMS request) to its own file. Only the daemon logs; library code returns errors. */
#ifndef KMSHA_LOG_H
#define KMSHA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_ERROR = 3 };

/* Sets the node id shown in each line and the threshold ("debug".."error"). */
void log_init(const char *node_id, const char *level);
int log_set_level(const char *level); /* 0 or -1 for an unknown name */
/* Line format: "text" (UTC time, node, level, message), "journal" (sd-daemon "<N>"
 * priority prefix, no time: journald stamps lines itself and `journalctl -p` filters by
 * it) or "auto" (journal when standard error is the journal's stream, as systemd says in
 * JOURNAL_STREAM; the default before this is called). 0 or -1 for an unknown name. */
int log_set_format(const char *format);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs and exits with status 1. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Logs and exits with the given status (e.g. STORE_EXIT_DAMAGED). */
void fatal_status(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Rate limit for lines an attacker can provoke: true when a line of this class may be
 * written now (at most burst lines per second per class); suppressed lines are counted
 * and reported in the next line allowed. classes: 0..LOG_CLASSES-1. */
#define LOG_CLASSES 8
bool log_allow(int cls);
/* The classes (server.c: 0 connections, 1 accepting; node.c: 3 replication). */
enum log_class { LOG_CLASS_ACCEPT = 1, LOG_CLASS_ADMIN = 4, LOG_CLASS_LIBEVENT = 5 };

/* Sends libevent's own warnings and errors through this log, rate-limited (class
 * LOG_CLASS_LIBEVENT): a flood of failing accept() calls cannot fill the disk. */
void log_route_libevent(void);

/* Audit stream: path "" disables... see audit_open. */
/* For a regular file, audit_open also starts a thread that starts the file's writeback
 * every 100 ms (so its pages do not reach the disk in 30-second bursts); audit_close
 * stops it. */
int audit_open(const char *path); /* "-" = stdout, "off" = none; 0 or -1 (errno) */
void audit_close(void);
/* SIGHUP (log rotation): opens path anew (after a rename, a new file) and then closes the
 * old one; when path cannot be opened the old file stays in use. 0 or -1 (errno). */
int audit_reopen(const char *path);
/* Writes one complete JSON line (the caller formats it; a newline is appended). Lines are
 * collected in a buffer and written by audit_flush: the daemon flushes once per turn of
 * its event loop (one write() for every line of that turn), and at exit. */
void audit_write(const char *json_line);
void audit_flush(void);
/* Bytes waiting for audit_flush (also what a failed write kept for the next try). */
size_t audit_pending(void);

/* The audit stream's health, for /metrics and /status. A write that fails keeps its lines
 * (up to 256 KiB) and retries them at the next flush; beyond that lines are lost, counted,
 * and a gap line ({"audit_gap":{"lines_not_written":N,...}}) is written before the next
 * lines that make it to the file. */
typedef struct audit_stats {
    uint64_t lines;           /* lines accepted into the buffer */
    uint64_t write_failures;  /* write(2) calls that failed */
    uint64_t lines_lost;      /* lines dropped (buffer bound, out of memory, exit) */
    uint64_t gap_records;     /* gap lines written */
    uint64_t pending_lines;   /* lines waiting for a write */
    uint64_t unrecorded_gap;  /* lost lines whose gap line is not written yet */
    bool failing;             /* the last write failed */
    int last_errno;
} audit_stats;
void audit_get_stats(audit_stats *out);

#endif
