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
#include <unistd.h>
#include <time.h>

static char log_node[64] = "kmsd";
static int log_threshold = LOG_LEVEL_INFO;

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

void fatal_status(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LEVEL_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(status);
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

/* The audit stream: lines collect in a buffer; audit_flush writes it with write(2). A write
 * that fails (a full disk, an I/O error) keeps what was not written, from the exact byte
 * where it stopped, and is tried again at the next flush, so an outage shorter than the
 * buffer loses nothing. Beyond AUDIT_KEEP_MAX bytes new lines are dropped whole and
 * counted; the next successful write puts a gap line first, saying how many lines are
 * missing. Nothing is dropped silently: failures and lost lines are counted (audit_get_stats,
 * /metrics, /status) and logged at most once per AUDIT_LOG_EVERY_S. */
#define AUDIT_KEEP_MAX (256 * 1024)
#define AUDIT_LOG_EVERY_S 10

static int audit_fd = -1;
static bool audit_is_stdout;
static char *abuf;
static size_t abuf_len, abuf_cap, abuf_lines;
static audit_stats astats;
static uint64_t gap_lines;        /* dropped since the last line that was written */
static int64_t gap_since_s;
static time_t last_fail_log;
static int64_t last_retry_ms;

int audit_open(const char *path)
{
    audit_close();
    if (strcmp(path, "off") == 0) return 0;
    if (strcmp(path, "-") == 0) {
        audit_fd = STDOUT_FILENO;
        audit_is_stdout = true;
        return 0;
    }
    audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (audit_fd < 0) return -1;
    audit_is_stdout = false;
    writeback_start(audit_fd);
    return 0;
}

/* SIGHUP (logrotate): the new file first; when it cannot be opened the old one keeps
 * being written. Lines still waiting (a failing disk) go to the new file. */
int audit_reopen(const char *path)
{
    if (strcmp(path, "off") == 0 || strcmp(path, "-") == 0) return 0; /* nothing to reopen */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    audit_flush();
    writeback_stop();
    if (audit_fd >= 0 && !audit_is_stdout) close(audit_fd);
    audit_fd = fd;
    audit_is_stdout = false;
    writeback_start(audit_fd);
    audit_flush();
    return 0;
}

void audit_close(void)
{
    audit_flush();
    writeback_stop();
    if (abuf_len && audit_fd >= 0) {
        /* Still not written at exit: lost, and said so. */
        astats.lines_lost += abuf_lines;
        log_error("audit: %zu lines could not be written before exit (%s)", abuf_lines, strerror(astats.last_errno));
    }
    if (audit_fd >= 0 && !audit_is_stdout) close(audit_fd);
    audit_fd = -1;
    free(abuf);
    abuf = NULL;
    abuf_len = abuf_cap = abuf_lines = 0;
}

static bool buf_append(const char *s, size_t n)
{
    if (abuf_len + n > abuf_cap) {
        size_t cap = abuf_cap ? abuf_cap : 65536;
        while (cap < abuf_len + n) cap *= 2;
        char *nb = realloc(abuf, cap);
        if (!nb) return false;
        abuf = nb;
        abuf_cap = cap;
    }
    memcpy(abuf + abuf_len, s, n);
    abuf_len += n;
    return true;
}

static void note_gap(void)
{
    if (!gap_lines) gap_since_s = (int64_t)time(NULL);
    gap_lines++;
    astats.lines_lost++;
}

static void gap_line(char *out, size_t cap);

/* Lines were lost: the gap line goes where they would have been (the end of the buffer,
 * since nothing was accepted after them). */
static void record_gap(void)
{
    if (!gap_lines) return;
    char g[400];
    gap_line(g, sizeof g);
    if (!buf_append(g, strlen(g))) return;
    abuf_lines++;
    astats.gap_records++;
    gap_lines = 0;
}

void audit_write(const char *json_line)
{
    if (audit_fd < 0) return;
    size_t n = strlen(json_line);
    /* Over the bound while writes fail: this line is lost (counted, and a gap line will
     * say so); the lines already kept go first when the disk takes them again. */
    if (abuf_len + n + 1 > AUDIT_KEEP_MAX && astats.failing) {
        /* The disk may take it again by now: try (at most every 100 ms) before dropping. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now_ms - last_retry_ms >= 100) {
            last_retry_ms = now_ms;
            audit_flush();
        }
    }
    if (abuf_len + n + 1 > AUDIT_KEEP_MAX && astats.failing) {
        note_gap();
        return;
    }
    record_gap();
    if (!buf_append(json_line, n) || !buf_append("\n", 1)) {
        note_gap();
        return;
    }
    abuf_lines++;
    astats.lines++;
}

/* The gap line, JSON like the others: how many lines are missing and since when. */
static void gap_line(char *out, size_t cap)
{
    time_t since = (time_t)gap_since_s;
    struct tm tm;
    char ts[32], from[32];
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gmtime_r(&since, &tm);
    strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, cap, "{\"ts\":\"%s\",\"node\":\"%s\",\"audit_gap\":{\"lines_not_written\":%llu,\"since\":\"%s\","
             "\"error\":\"%s\"}}\n", ts, log_node, (unsigned long long)gap_lines, from, strerror(astats.last_errno));
}

void audit_flush(void)
{
    if (audit_fd < 0) return;
    if (abuf_len < AUDIT_KEEP_MAX) record_gap();
    size_t off = 0;
    for (;;) {
        if (off == abuf_len) {
            /* All written: a gap still unrecorded (lines lost while the buffer was full)
             * goes out now, not with some later line. */
            if (!gap_lines) break;
            record_gap();
            if (off == abuf_len) break; /* no memory for it: next time */
        }
        ssize_t w = write(audit_fd, abuf + off, abuf_len - off);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        /* Failed: keep the rest (from the exact byte) for the next flush. */
        astats.write_failures++;
        astats.last_errno = w < 0 ? errno : EIO;
        if (!astats.failing || time(NULL) - last_fail_log >= AUDIT_LOG_EVERY_S) {
            log_error("audit: writing the audit log failed: %s (%zu lines kept in memory and retried; beyond %d KiB "
                      "new lines are counted as lost and a gap line records them)",
                      strerror(astats.last_errno), abuf_lines, AUDIT_KEEP_MAX / 1024);
            last_fail_log = time(NULL);
        }
        astats.failing = true;
        break;
    }
    if (off) {
        /* Count the whole lines that left the buffer. */
        for (size_t i = 0; i < off; i++)
            if (abuf[i] == '\n' && abuf_lines) abuf_lines--;
        memmove(abuf, abuf + off, abuf_len - off);
        abuf_len -= off;
    }
    if (abuf_len == 0 && astats.failing) {
        astats.failing = false;
        log_info("audit: the audit log is written again");
    }
    if (abuf_cap > (1u << 20) && abuf_len < abuf_cap / 4) { /* a burst's memory goes back */
        char *nb = realloc(abuf, abuf_cap / 2);
        if (nb) { abuf = nb; abuf_cap /= 2; }
    }
}

size_t audit_pending(void) { return abuf_len; }

void audit_get_stats(audit_stats *out)
{
    *out = astats;
    out->pending_lines = abuf_lines;
    out->unrecorded_gap = gap_lines;
}
