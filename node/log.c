/* log.c: see log.h. Lines go to stderr unbuffered so an operator's terminal and journald
 * see them at once; the audit file is line-buffered. */
#include "node/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static char log_node[64] = "kmsd";
static int log_threshold = LOG_LEVEL_INFO;
static FILE *audit_fp;

static const char *level_names[] = {"debug", "info", "warn", "error"};

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

static void vlog(int level, int with_errno, const char *fmt, va_list ap)
{
    if (level < log_threshold) return;
    int saved = errno;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
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

int audit_open(const char *path)
{
    audit_close();
    if (strcmp(path, "off") == 0) return 0;
    if (strcmp(path, "-") == 0) { audit_fp = stdout; setvbuf(stdout, NULL, _IOFBF, 1 << 16); return 0; }
    audit_fp = fopen(path, "a");
    if (!audit_fp) return -1;
    setvbuf(audit_fp, NULL, _IOFBF, 1 << 16);
    return 0;
}

static size_t audit_unflushed;

void audit_close(void)
{
    audit_flush();
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
