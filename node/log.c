/* log.c: see log.h. Lines go to stderr unbuffered so an operator's terminal and journald
 * see them at once; the audit file is written once per loop turn, and a writeback thread
 * starts the disk writes of a regular audit file every AUDIT_WRITEBACK_MS. Left to the
 * kernel, its pages would stay dirty for 30 s and then go out in one burst (15 MB and more
 * at a few thousand activations/s), and every LMDB commit's fdatasync during that burst
 * would wait for it: p99.9 140 ms instead of 25 ms in bench/README.md's fifth round. */
#define _GNU_SOURCE
#include "node/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

static char log_node[64] = "kmsd";
static int log_threshold = LOG_LEVEL_INFO;
static FILE *audit_fp;

static const char *level_names[] = {"debug", "info", "warn", "error"};
/* sd-daemon(3) priorities of the levels: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR. */
static const int level_priorities[] = {7, 6, 4, 3};
static int log_journal = -1; /* -1: not decided yet (auto), 0: text, 1: journal */

/* True when stderr is the stream systemd connected to the journal: JOURNAL_STREAM holds
 * that stream's "DEVICE:INODE" (systemd.exec(5)); a child whose stderr was redirected
 * inherits the variable but not the stream, so both numbers must match. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0) return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_set_format(const char *format)
{
    if (strcmp(format, "text") == 0) log_journal = 0;
    else if (strcmp(format, "journal") == 0) log_journal = 1;
    else if (strcmp(format, "auto") == 0) log_journal = stderr_is_journal();
    else return -1;
    return 0;
}

int log_set_level(const char *level)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(level, level_names[i]) == 0) { log_threshold = i; return 0; }
    return -1;
}

void log_init(const char *node_id, const char *level)
{
    snprintf(log_node, sizeof log_node, "%s", node_id);
    if (level) (void)log_set_level(level);
}

static void vlog(int level, int with_errno, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vlog(int level, int with_errno, const char *fmt, va_list ap)
{
    if (level < log_threshold) return;
    int saved = errno;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (log_journal < 0) log_journal = stderr_is_journal();
    if (log_journal) {
        if (with_errno)
            fprintf(stderr, "<%d>%s %s: %s: %s\n", level_priorities[level], log_node,
                    level_names[level], msg, strerror(saved));
        else
            fprintf(stderr, "<%d>%s %s: %s\n", level_priorities[level], log_node,
                    level_names[level], msg);
        errno = saved;
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_errno)
        fprintf(stderr, "%s.%03ldZ %s %s: %s: %s\n", ts, (long)(tv.tv_usec / 1000), log_node,
                level_names[level], msg, strerror(saved));
    else
        fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts, (long)(tv.tv_usec / 1000), log_node,
                level_names[level], msg);
    errno = saved;
}

#define LOG_FN(name, level, with_errno)                                                  \
    void name(const char *fmt, ...)                                                     \
    {                                                                                   \
        va_list ap;                                                                     \
        va_start(ap, fmt);                                                              \
        vlog(level, with_errno, fmt, ap);                                               \
        va_end(ap);                                                                     \
    }
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, 0)

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}

#define LOG_BURST 20
static struct { time_t second; int used; long suppressed; } rate[LOG_CLASSES];

bool log_allow(int cls)
{
    if (cls < 0 || cls >= LOG_CLASSES) return true;
    time_t now = time(NULL);
    if (rate[cls].second != now) {
        if (rate[cls].suppressed)
            log_warnx("%ld similar log lines suppressed in the last second", rate[cls].suppressed);
        rate[cls].second = now;
        rate[cls].used = 0;
        rate[cls].suppressed = 0;
    }
    if (rate[cls].used < LOG_BURST) { rate[cls].used++; return true; }
    rate[cls].suppressed++;
    return false;
}

static void libevent_log_cb(int severity, const char *msg)
{
    if (severity < EVENT_LOG_WARN) return; /* debug and message: not ours to show */
    if (!log_allow(LOG_CLASS_LIBEVENT)) return;
    if (severity >= EVENT_LOG_ERR) log_error("libevent: %s", msg);
    else log_warnx("libevent: %s", msg);
}

void log_route_libevent(void) { event_set_log_callback(libevent_log_cb); }

#define AUDIT_WRITEBACK_MS 100

/* The writeback thread: runs while a regular audit file is open. wb_mu guards wb_fd and
 * wb_stop; audit_close waits for the thread before the file's descriptor is closed. */
static pthread_mutex_t wb_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wb_cv;
static pthread_t wb_thread;
static bool wb_running, wb_stop;
static int wb_fd = -1;

static void *writeback_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wb_mu);
    while (!wb_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += AUDIT_WRITEBACK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
        while (!wb_stop && pthread_cond_timedwait(&wb_cv, &wb_mu, &until) != ETIMEDOUT) {}
        /* Starts writeback of what is dirty, without waiting for it; failures (a file
         * system without it) only leave the kernel's own schedule. */
        if (!wb_stop) (void)sync_file_range(wb_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    pthread_mutex_unlock(&wb_mu);
    return NULL;
}

/* Starts the writeback thread for a regular file; without one (or on failure) the audit
 * file still works, only on the kernel's writeback schedule. */
static void writeback_start(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&wb_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) return;
    wb_fd = fd;
    wb_stop = false;
    if (pthread_create(&wb_thread, NULL, writeback_main, NULL) != 0) {
        pthread_cond_destroy(&wb_cv);
        wb_fd = -1;
        return;
    }
    wb_running = true;
}

static void writeback_stop(void)
{
    if (!wb_running) return;
    pthread_mutex_lock(&wb_mu);
    wb_stop = true;
    pthread_cond_signal(&wb_cv);
    pthread_mutex_unlock(&wb_mu);
    pthread_join(wb_thread, NULL);
    pthread_cond_destroy(&wb_cv);
    wb_running = false;
    wb_fd = -1;
}

int audit_open(const char *path)
{
    audit_close();
    if (strcmp(path, "off") == 0) return 0;
    if (strcmp(path, "-") == 0) { audit_fp = stdout; setvbuf(stdout, NULL, _IOFBF, 1 << 16); return 0; }
    audit_fp = fopen(path, "a");
    if (!audit_fp) return -1;
    setvbuf(audit_fp, NULL, _IOFBF, 1 << 16);
    writeback_start(fileno(audit_fp));
    return 0;
}

static size_t audit_unflushed;

int audit_reopen(const char *path)
{
    if (strcmp(path, "off") == 0 || strcmp(path, "-") == 0) return 0; /* nothing to reopen */
    /* The new file first: when it cannot be opened the old one keeps being written. */
    FILE *f = fopen(path, "a");
    if (!f) return -1;
    audit_close();
    audit_fp = f;
    setvbuf(audit_fp, NULL, _IOFBF, 1 << 16);
    writeback_start(fileno(audit_fp));
    return 0;
}

void audit_close(void)
{
    audit_flush();
    writeback_stop();
    if (audit_fp && audit_fp != stdout) fclose(audit_fp);
    audit_fp = NULL;
}

void audit_write(const char *json_line)
{
    if (!audit_fp) return;
    size_t n = strlen(json_line);
    fwrite(json_line, 1, n, audit_fp);
    fputc('\n', audit_fp);
    audit_unflushed += n + 1;
}

void audit_flush(void)
{
    if (audit_fp && audit_unflushed) fflush(audit_fp);
    audit_unflushed = 0;
}

size_t audit_pending(void) { return audit_unflushed; }
