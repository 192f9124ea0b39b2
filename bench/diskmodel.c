/* diskmodel.c: kmsbench-disk, what this machine's disk alone allows kmsd's durable write.
 * No network, no crypto, no LMDB: a timetable of records arriving at --rate per second
 * (open loop, as kmsbench --rate), committed in groups the way kmsd's writer thread
 * commits them, with the disk writes such a commit makes. A record's latency runs from its
 * scheduled arrival to the end of the commit that made it durable. The figures are a
 * lower bound for kmsd's request latency on this disk: kmsd adds its request path, and
 * on a shared machine the load generator's CPU, on top.
 *
 * Two models:
 * - lmdb: what a synchronous LMDB commit writes. --pages random 4 KB pages per record
 *   (leaf, branch and log pages; kmsd wrote about 2.4 per activation in bench/README.md's
 *   fifth round) plus 3 per commit (free list, main DB, version vector), then fdatasync,
 *   then the meta page through an O_DSYNC descriptor, as LMDB does.
 * - journal: a write-ahead journal: 256 bytes per record appended and fdatasync'd, while
 *   a second thread writes the same pages as the lmdb model in the background (the
 *   database pages written later, as a checkpointing store must), starting their
 *   writeback every 10 ms and fdatasyncing them every second.
 * As in kmsd, a commit starts as soon as the previous one has ended and a record waits
 * (records that queued during a commit go in the next one); with --delay-ms (kmsd's
 * optional commit_delay_ms) the oldest waiting record first waits that long. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/hist.h"
#include "proto/clock.h"

#define PAGE 4096
#define DATA_PAGES 32768        /* a 128 MB data file: a store of a few hundred thousand clients */
#define FIXED_PAGES_PER_COMMIT 3
#define JOURNAL_RECORD 256
#define JOURNAL_BYTES (256u << 20)

typedef struct options {
    const char *dir;
    double rate;
    double seconds;
    double pages;
    double delay_ms;
    int models; /* bit 0 lmdb, bit 1 journal */
} options;

typedef struct files {
    int data_fd, meta_fd, journal_fd;
    char data_path[4096], journal_path[4096];
} files;

static void sleep_ms(double ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1e3), (long)((ms - (double)(time_t)(ms / 1e3) * 1e3) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* A small xorshift: page numbers need to be scattered, not secret. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Writes len zero bytes at the start of fd and makes them durable, so that later writes
 * overwrite allocated blocks (as in a store that has been running for a while). */
static int prefill(int fd, size_t len)
{
    static const char zero[1 << 16];
    for (size_t off = 0; off < len; off += sizeof zero)
        if (pwrite(fd, zero, sizeof zero, (off_t)off) != (ssize_t)sizeof zero) return -1;
    return fdatasync(fd);
}

static int open_files(const options *o, files *f, char *err, size_t errlen)
{
    snprintf(f->data_path, sizeof f->data_path, "%s/kmsbench-disk.data", o->dir);
    snprintf(f->journal_path, sizeof f->journal_path, "%s/kmsbench-disk.journal", o->dir);
    f->data_fd = open(f->data_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    f->meta_fd = f->data_fd >= 0 ? open(f->data_path, O_RDWR | O_DSYNC | O_CLOEXEC) : -1;
    f->journal_fd = open(f->journal_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f->data_fd < 0 || f->meta_fd < 0 || f->journal_fd < 0) {
        snprintf(err, errlen, "cannot create files in %s: %s", o->dir, strerror(errno));
        return -1;
    }
    if (prefill(f->data_fd, (size_t)DATA_PAGES * PAGE) != 0 ||
        ((o->models & 2) && prefill(f->journal_fd, JOURNAL_BYTES) != 0)) {
        snprintf(err, errlen, "cannot fill the files in %s: %s", o->dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void close_files(files *f)
{
    if (f->data_fd >= 0) close(f->data_fd);
    if (f->meta_fd >= 0) close(f->meta_fd);
    if (f->journal_fd >= 0) close(f->journal_fd);
    unlink(f->data_path);
    unlink(f->journal_path);
}

/* Writes n random pages of the data file (n may be fractional: the fraction is carried). */
static int write_pages(int fd, double n, double *carry, uint64_t *rnd)
{
    static const char page[PAGE] = {1};
    *carry += n;
    for (; *carry >= 1; *carry -= 1) {
        off_t off = (off_t)(next_random(rnd) % (DATA_PAGES - 2) + 2) * PAGE;
        if (pwrite(fd, page, PAGE, off) != PAGE) return -1;
    }
    return 0;
}

typedef struct background {
    int fd;
    double pages_per_ms;
    atomic_bool stop;
    int failed;
} background;

/* The journal model's database writer: pages at the foreground's record rate, writeback
 * started every 10 ms, fdatasync every second. */
static void *background_main(void *arg)
{
    background *b = arg;
    uint64_t rnd = 0x9e3779b97f4a7c15u;
    double carry = 0, last = clock_mono_ms(), last_sync = last;
    while (!atomic_load(&b->stop)) {
        sleep_ms(10);
        double t = clock_mono_ms();
        if (write_pages(b->fd, b->pages_per_ms * (t - last), &carry, &rnd) != 0 ||
            sync_file_range(b->fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
            b->failed = errno;
        last = t;
        if (t - last_sync >= 1000) {
            if (fdatasync(b->fd) != 0) b->failed = errno;
            last_sync = t;
        }
    }
    return NULL;
}

typedef struct result {
    hist *latency, *commit;
    uint64_t records, commits;
} result;

/* One commit of n records in the given model. */
static int commit(const options *o, files *f, int model, uint64_t n, double *carry, uint64_t *rnd,
                  off_t *journal_off, uint64_t *meta_turn)
{
    if (model == 0) {
        static const char meta[PAGE] = {2};
        if (write_pages(f->data_fd, o->pages * (double)n + FIXED_PAGES_PER_COMMIT, carry, rnd) != 0 ||
            fdatasync(f->data_fd) != 0)
            return -1;
        off_t at = (off_t)((*meta_turn)++ & 1) * PAGE;
        return pwrite(f->meta_fd, meta, PAGE, at) == PAGE ? 0 : -1;
    }
    static char buf[1 << 20];
    size_t len = (size_t)n * JOURNAL_RECORD;
    while (len) {
        size_t chunk = len < sizeof buf ? len : sizeof buf;
        if ((uint64_t)*journal_off + chunk > JOURNAL_BYTES) *journal_off = 0; /* wrap around */
        if (pwrite(f->journal_fd, buf, chunk, *journal_off) != (ssize_t)chunk) return -1;
        *journal_off += (off_t)chunk;
        len -= chunk;
    }
    return fdatasync(f->journal_fd);
}

/* Runs one model for o->seconds and fills r. */
static int run_model(const options *o, files *f, int model, result *r, char *err, size_t errlen)
{
    background bg = {.fd = f->data_fd, .pages_per_ms = o->pages * o->rate / 1000};
    pthread_t th;
    if (model == 1 && pthread_create(&th, NULL, background_main, &bg) != 0) {
        snprintf(err, errlen, "cannot start the background writer");
        return -1;
    }
    uint64_t rnd = 0x2545f4914f6cdd1du, meta_turn = 0;
    double carry = 0, interval = 1000 / o->rate;
    off_t journal_off = 0;
    uint64_t total = (uint64_t)(o->rate * o->seconds), done = 0;
    double start = clock_mono_ms() + 10, last_end = 0;
    int rc = 0;
    while (done < total) {
        double oldest = start + (double)done * interval;
        /* kmsd's commit_delay_ms: the oldest record waits out its window, unless it
         * queued during the previous commit */
        double go = oldest <= last_end ? oldest : oldest + o->delay_ms;
        double t = clock_mono_ms();
        if (t < go) {
            sleep_ms(go - t);
            t = clock_mono_ms();
        }
        uint64_t arrived = (uint64_t)((t - start) / interval) + 1;
        if (arrived > total) arrived = total;
        uint64_t n = arrived - done;
        double t0 = clock_mono_ms();
        if (commit(o, f, model, n, &carry, &rnd, &journal_off, &meta_turn) != 0) {
            snprintf(err, errlen, "write or fdatasync failed: %s", strerror(errno));
            rc = -1;
            break;
        }
        double t1 = clock_mono_ms();
        hist_record(r->commit, (uint64_t)((t1 - t0) * 1000));
        for (uint64_t i = done; i < arrived; i++)
            hist_record(r->latency, (uint64_t)((t1 - (start + (double)i * interval)) * 1000));
        done = arrived;
        last_end = t1;
        r->commits++;
    }
    r->records = done;
    if (model == 1) {
        atomic_store(&bg.stop, true);
        pthread_join(th, NULL);
        if (bg.failed && rc == 0) {
            snprintf(err, errlen, "background write failed: %s", strerror(bg.failed));
            rc = -1;
        }
    }
    return rc;
}

static void print_result(const char *model, const options *o, const result *r)
{
    double ms = 1e-3;
    printf("%-7s %7.0f %8" PRIu64 " %7.1f | %7.3f %7.3f | %7.3f %7.3f %7.3f %8.3f %8.3f\n", model, o->rate,
           r->commits, r->commits ? (double)r->records / (double)r->commits : 0,
           (double)hist_quantile(r->commit, 0.5) * ms, (double)hist_quantile(r->commit, 0.99) * ms,
           (double)hist_quantile(r->latency, 0.5) * ms, (double)hist_quantile(r->latency, 0.9) * ms,
           (double)hist_quantile(r->latency, 0.99) * ms, (double)hist_quantile(r->latency, 0.999) * ms,
           (double)r->latency->max * ms);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kmsbench-disk [--dir DIR] [--rate R] [--seconds S] [--pages P] [--delay-ms D]\n"
            "                     [--model lmdb|journal|both]\n"
            "What this disk alone allows a durable group commit: records arrive at R per second\n"
            "(default 5500) for S seconds (default 10) and are committed in groups as kmsd commits\n"
            "them (D: kmsd's commit_delay_ms, default 0). lmdb: P random 4 KB pages per record\n"
            "(default 2.4) + fdatasync + an O_DSYNC meta page. journal: 256 bytes per record\n"
            "appended + fdatasync, the same pages written in the background. DIR (default .) is\n"
            "where kmsd's data directory would be; two files are made there and removed.\n");
}

static int parse_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("kmsbench-disk " KMSHA_VERSION "\n");
        return 0;
    }
    options o = {.dir = ".", .rate = 5500, .seconds = 10, .pages = 2.4, .delay_ms = 0, .models = 3};
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'D'},   {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'}, {"pages", required_argument, NULL, 'p'},
        {"delay-ms", required_argument, NULL, 'd'}, {"model", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double *target = NULL, lo = 0, hi = 0;
        switch (c) {
        case 'D': o.dir = optarg; continue;
        case 'r': target = &o.rate, lo = 1, hi = 1e6; break;
        case 's': target = &o.seconds, lo = 0.1, hi = 3600; break;
        case 'p': target = &o.pages, lo = 0, hi = 100; break;
        case 'd': target = &o.delay_ms, lo = 0, hi = 100; break;
        case 'm':
            if (strcmp(optarg, "lmdb") == 0) o.models = 1;
            else if (strcmp(optarg, "journal") == 0) o.models = 2;
            else if (strcmp(optarg, "both") == 0) o.models = 3;
            else {
                fprintf(stderr, "kmsbench-disk: --model: expected lmdb, journal or both, got \"%s\"\n", optarg);
                return 2;
            }
            continue;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (parse_number(optarg, lo, hi, target) != 0) {
            const char *name = "?";
            for (const struct option *lo_opt = longopts; lo_opt->name; lo_opt++)
                if (lo_opt->val == c) name = lo_opt->name;
            fprintf(stderr, "kmsbench-disk: --%s: expected a number from %g to %g, got \"%s\"\n", name, lo,
                    hi, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kmsbench-disk: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }

    char err[512] = "";
    files f = {.data_fd = -1, .meta_fd = -1, .journal_fd = -1};
    int status = 0;
    if (open_files(&o, &f, err, sizeof err) != 0) {
        fprintf(stderr, "kmsbench-disk: %s\n", err);
        close_files(&f);
        return 1;
    }
    printf("disk model in %s: %.0f records/s for %.1f s, %.1f pages per record, commit window %.1f ms\n",
           o.dir, o.rate, o.seconds, o.pages, o.delay_ms);
    printf("%-7s %7s %8s %7s | %7s %7s | %7s %7s %7s %8s %8s\n", "model", "rate/s", "commits", "rec/com",
           "com p50", "com p99", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
    static const char *const names[] = {"lmdb", "journal"};
    for (int model = 0; model < 2 && status == 0; model++) {
        if (!(o.models & (1 << model))) continue;
        result r = {.latency = hist_new(), .commit = hist_new()};
        if (!r.latency || !r.commit) {
            snprintf(err, sizeof err, "out of memory");
            status = 1;
        } else if (run_model(&o, &f, model, &r, err, sizeof err) != 0) {
            status = 1;
        } else {
            print_result(names[model], &o, &r);
        }
        hist_free(&r.latency);
        hist_free(&r.commit);
    }
    close_files(&f);
    if (status) fprintf(stderr, "kmsbench-disk: %s\n", err);
    return status;
}
