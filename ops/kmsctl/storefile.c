/* storefile.c: read-only access to a store directory, backup and restore (see
 * storefile.h). The on-disk layout is replication/store_schema.c's: "clients" maps
 * app(1) cmid(16) to an encoded record, "vv" maps an origin to its u64 LE sequence.
 *
 * Who holds a store: every process with an LMDB environment open holds an fcntl lock on
 * the first byte of lock.mdb (exclusive while it sets the file up, shared afterwards), so
 * F_GETLK on that byte tells whether any other process has it open, and taking a write
 * lock there makes a node that starts meanwhile wait in mdb_env_open. */
#include "ops/kmsctl/storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ops/kmsctl/jsonfile.h"
#include "proto/clock.h"
#include "proto/errors.h"
#include "replication/store_lmdb.h"
#include "replication/storecheck.h"

struct storefile {
    MDB_env *env;
    MDB_dbi dbi_clients, dbi_vv;
    bool has_vv;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The read transaction a guarded read has open: when LMDB faults inside it, the
 * transaction and its cursor cannot be ended safely and are quarantined with the
 * environment (kept reachable, never freed). */
static MDB_txn *guarded_txn;

static void quarantine_after_fault(storefile *self)
{
    store_quarantine(self->env);
    self->env = NULL;
    if (guarded_txn) store_quarantine(guarded_txn);
    guarded_txn = NULL;
    if (store_lmdb_each_cursor()) store_quarantine(store_lmdb_each_cursor());
}

/* Opens the databases (reads the main DB's pages: guarded by the caller). */
static int open_handles(void *arg)
{
    storefile *self = arg;
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    guarded_txn = rc == 0 ? txn : NULL;
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "clients", 0, &self->dbi_clients);
        if (rc == 0) self->has_vv = mdb_dbi_open(txn, "vv", 0, &self->dbi_vv) == 0;
        if (rc == 0) rc = mdb_txn_commit(txn); /* keeps the handles */
        else mdb_txn_abort(txn);
    }
    guarded_txn = NULL;
    return rc;
}

storefile *storefile_open(const char *dir, int *status, char *err, size_t errlen)
{
    if (status) *status = KMS_ESTORE; /* until it opens, or the files prove damaged */
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (!file_exists(path)) {
        set_err(err, errlen, "%s: %s", path, errno == ENOENT ? "no store there (data.mdb missing)" : strerror(errno));
        return NULL;
    }
    /* A truncated data.mdb is named before LMDB maps it (it would die of SIGBUS). */
    int frc = store_file_check(dir, err, errlen);
    if (frc < 0) {
        if (status && frc == KMS_EDAMAGED) *status = KMS_EDAMAGED;
        return NULL;
    }
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    /* No lock file: no process has the store open (a backup, a stopped node's copy), and
     * reading without locks leaves nothing behind in dir. */
    bool nolock = !file_exists(path);
    storefile *self = calloc(1, sizeof *self);
    if (!self) {
        set_err(err, errlen, "%s", "out of memory");
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = mdb_env_create(&self->env);
        if (rc) {
            set_err(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
            free(self);
            return NULL;
        }
        mdb_env_set_maxdbs(self->env, 8);
        rc = mdb_env_open(self->env, dir, MDB_RDONLY | MDB_NOTLS | (nolock ? MDB_NOLOCK : 0), 0600);
        if (rc == 0) break;
        mdb_env_close(self->env);
        self->env = NULL;
        /* No write permission on lock.mdb: fine to read without locks only when nobody
         * has the store open. */
        if (!nolock && (rc == EACCES || rc == EROFS || rc == EPERM) && storefile_in_use(dir, NULL, 0) == 0) {
            nolock = true;
            continue;
        }
        if (rc == EACCES || rc == EPERM)
            set_err(err, errlen, "%s: %s (run kmsctl as the user the node runs as, e.g. sudo -u kmsha)", dir, mdb_strerror(rc));
        else if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH) {
            set_err(err, errlen, "%s/data.mdb is damaged (%s); " STORE_REPAIR_HINT, dir, mdb_strerror(rc));
            if (status) *status = KMS_EDAMAGED;
        } else
            set_err(err, errlen, "%s: %s", dir, mdb_strerror(rc));
        free(self);
        return NULL;
    }
    int rc = store_fault_guarded(open_handles, self);
    if (rc < 0) { /* faulted inside LMDB: the environment is unusable (leaked, not closed) */
        set_err(err, errlen, "%s/data.mdb is damaged: reading it faulted (signal %d); " STORE_REPAIR_HINT, dir, -rc);
        if (status) *status = KMS_EDAMAGED;
        quarantine_after_fault(self);
        storefile_close(&self);
        return NULL;
    }
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID) {
        set_err(err, errlen, "%s/data.mdb is damaged (%s); " STORE_REPAIR_HINT, dir, mdb_strerror(rc));
        if (status) *status = KMS_EDAMAGED;
        storefile_close(&self);
        return NULL;
    }
    if (rc) {
        set_err(err, errlen, "%s: not a kmsha store (%s)", dir, mdb_strerror(rc));
        storefile_close(&self);
        return NULL;
    }
    if (status) *status = 0;
    return self;
}

void storefile_close(storefile **self_p)
{
    if (!self_p || !*self_p) return;
    if ((*self_p)->env) mdb_env_close((*self_p)->env);
    free(*self_p);
    *self_p = NULL;
}

typedef struct each_args {
    storefile *self;
    store_each_fn fn;
    void *ctx;
} each_args;

static int each_unguarded(void *arg);

/* A damaged file can fault inside LMDB: that is reported as damage, not a crash. */
int storefile_each(storefile *self, store_each_fn fn, void *ctx)
{
    each_args a = {self, fn, ctx};
    int rc = store_fault_guarded(each_unguarded, &a);
    if (rc < 0 && rc != KMS_ESTORE && rc != KMS_EDAMAGED) {
        quarantine_after_fault(self); /* unusable after a fault: kept, not closed */
        return KMS_EDAMAGED;
    }
    return rc;
}

static int each_unguarded(void *arg)
{
    each_args *a = arg;
    storefile *self = a->self;
    store_each_fn fn = a->fn;
    void *ctx = a->ctx;
    MDB_txn *txn;
    if (mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn) != 0) return KMS_ESTORE;
    guarded_txn = txn;
    int rc = store_lmdb_each(txn, self->dbi_clients, fn, ctx);
    guarded_txn = NULL;
    mdb_txn_abort(txn);
    /* Inside a read transaction, what is not a resource limit is the file: a record that
     * does not decode (MDB_CORRUPTED), a page LMDB cannot find or parse. */
    if (rc == ENOMEM || rc == MDB_READERS_FULL || rc == MDB_MAP_RESIZED) return KMS_ESTORE;
    return rc ? KMS_EDAMAGED : 0;
}

int storefile_stats(storefile *self, uint64_t *records, store_vv *vv)
{
    MDB_txn *txn;
    if (mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn) != 0) return KMS_ESTORE;
    MDB_stat st;
    int rc = mdb_stat(txn, self->dbi_clients, &st);
    if (rc == 0 && records) *records = st.ms_entries;
    if (rc == 0 && vv) {
        memset(vv, 0, sizeof *vv);
        if (self->has_vv) rc = store_lmdb_read_vv(txn, self->dbi_vv, vv);
    }
    mdb_txn_abort(txn);
    return rc ? KMS_ESTORE : 0;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int storefile_copy(storefile *self, const char *source_label, const char *dest, char *err, size_t errlen)
{
    if (mkdir(dest, 0700) != 0 && errno != EEXIST) {
        set_err(err, errlen, "%s: %s", dest, strerror(errno));
        return KMS_EIO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dest);
    if (file_exists(path)) {
        set_err(err, errlen, "%s: already holds a store (data.mdb); choose an empty directory", dest);
        return KMS_EIO;
    }
    /* The statistics first: the copy's own transaction is at least as recent. */
    uint64_t records = 0;
    store_vv vv;
    if (storefile_stats(self, &records, &vv) != 0) {
        set_err(err, errlen, "%s: cannot read the store", source_label);
        return KMS_ESTORE;
    }
    int rc = mdb_env_copy2(self->env, dest, MDB_CP_COMPACT);
    if (rc) {
        set_err(err, errlen, "copying into %s: %s", dest, mdb_strerror(rc));
        return KMS_ESTORE;
    }
    if (fsync_path(path, O_RDONLY) != 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return KMS_EIO;
    }
    /* The manifest says what the copy holds, for the operator and for restore. */
    char tmp[4200];
    snprintf(path, sizeof path, "%s/" STOREFILE_MANIFEST, dest);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        set_err(err, errlen, "%s: %s", tmp, strerror(errno));
        return KMS_EIO;
    }
    int64_t created_ms = clock_wall_ms();
    time_t created_s = (time_t)(created_ms / 1000);
    struct tm tm;
    gmtime_r(&created_s, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "{\"format\":\"kmsha-store-backup\",\"version\":1,\"created\":\"%s\",\"created_ms\":%" PRId64
               ",\"source\":",
            when, created_ms);
    jsonfile_str(f, source_label);
    fprintf(f, ",\"records\":%" PRIu64 ",\"version_vector\":{", records);
    for (int i = 0; i < vv.n; i++) {
        if (i) fputc(',', f);
        jsonfile_str(f, vv.e[i].origin);
        fprintf(f, ":%" PRIu64, vv.e[i].seq);
    }
    fprintf(f, "}}\n");
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return KMS_EIO;
    }
    fsync_path(dest, O_RDONLY | O_DIRECTORY);
    return 0;
}

/* fcntl cmd (F_GETLK or F_SETLK) for a write lock on the first byte of LMDB's lock.mdb,
 * the byte LMDB holds while the store is open; fl receives the answer. */
static int lock_byte(int fd, int cmd, struct flock *fl)
{
    memset(fl, 0, sizeof *fl);
    fl->l_type = F_WRLCK;
    fl->l_whence = SEEK_SET;
    fl->l_start = 0;
    fl->l_len = 1;
    return fcntl(fd, cmd, fl);
}

int storefile_in_use(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return KMS_EIO;
    }
    struct flock fl;
    int rc = lock_byte(fd, F_GETLK, &fl);
    int e = errno;
    close(fd);
    if (rc != 0) {
        set_err(err, errlen, "%s: %s", path, strerror(e));
        return KMS_EIO;
    }
    return fl.l_type != F_UNLCK ? 1 : 0;
}

/* Copies src to dst (created exclusively), fsyncs it, and gives it uid/gid (when >= 0). */
static int copy_file(const char *src, const char *dst, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        set_err(err, errlen, "%s: %s", src, strerror(errno));
        return KMS_EIO;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        set_err(err, errlen, "%s: %s", dst, strerror(errno));
        close(in);
        return KMS_EIO;
    }
    static char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR) continue;
                rc = -1;
                break;
            }
            off += w;
        }
        if (rc) break;
    }
    if (n < 0) rc = -1;
    if (rc == 0 && getuid() == 0 && fchown(out, uid, gid) != 0) rc = -1;
    if (rc == 0 && fsync(out) != 0) rc = -1;
    int e = errno;
    if (close(out) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    close(in);
    if (rc) {
        set_err(err, errlen, "%s: %s", dst, strerror(e));
        unlink(dst);
        return KMS_EIO;
    }
    return 0;
}

int storefile_restore(const char *backup_dir, const char *data_dir, bool force, uint64_t *records_out,
                      char *err, size_t errlen)
{
    char src[4096], dst[4096], tmp[4200], lockp[4096];
    /* The backup must open and read as a store. */
    int ost;
    storefile *b = storefile_open(backup_dir, &ost, err, errlen);
    if (!b) return ost == KMS_EDAMAGED ? KMS_EDAMAGED : KMS_EINVAL;
    uint64_t records = 0;
    int rc = storefile_stats(b, &records, NULL);
    storefile_close(&b);
    if (rc != 0) {
        set_err(err, errlen, "%s: the backup does not read as a store", backup_dir);
        return KMS_EINVAL;
    }
    struct stat dst_st;
    if (stat(data_dir, &dst_st) != 0) {
        if (errno != ENOENT || mkdir(data_dir, 0700) != 0 || stat(data_dir, &dst_st) != 0) {
            set_err(err, errlen, "%s: %s", data_dir, strerror(errno));
            return KMS_EIO;
        }
    }
    if (!S_ISDIR(dst_st.st_mode)) {
        set_err(err, errlen, "%s: not a directory", data_dir);
        return KMS_EINVAL;
    }
    /* Hold LMDB's lock byte for the whole restore: it fails while a node has the store
     * open, and a node starting meanwhile waits until we are done. */
    snprintf(lockp, sizeof lockp, "%s/lock.mdb", data_dir);
    int lfd = open(lockp, O_RDWR | O_CLOEXEC);
    if (lfd < 0 && errno != ENOENT) {
        set_err(err, errlen, "%s: %s", lockp, strerror(errno));
        return KMS_EIO;
    }
    if (lfd >= 0) {
        struct flock fl;
        if (lock_byte(lfd, F_SETLK, &fl) != 0) {
            close(lfd);
            set_err(err, errlen, "%s: a running node holds this store: stop it first (systemctl stop kmsd)", data_dir);
            return KMS_EINVAL;
        }
    }
    rc = 0;
    snprintf(src, sizeof src, "%s/data.mdb", backup_dir);
    snprintf(dst, sizeof dst, "%s/data.mdb", data_dir);
    snprintf(tmp, sizeof tmp, "%s/data.mdb.restore-tmp", data_dir);
    unlink(tmp);
    if (file_exists(dst)) {
        if (!force) {
            set_err(err, errlen, "%s already holds a store: add --force to replace it (the old one is kept as "
                    "data.mdb.before-restore-TIME)", data_dir);
            rc = KMS_EINVAL;
            goto out;
        }
        char old[4200];
        snprintf(old, sizeof old, "%s/data.mdb.before-restore-%lld", data_dir, (long long)time(NULL));
        if (rename(dst, old) != 0) {
            set_err(err, errlen, "%s: %s", dst, strerror(errno));
            rc = KMS_EIO;
            goto out;
        }
    }
    if ((rc = copy_file(src, tmp, dst_st.st_uid, dst_st.st_gid, err, errlen)) != 0) goto out;
    if (rename(tmp, dst) != 0) {
        set_err(err, errlen, "%s: %s", dst, strerror(errno));
        rc = KMS_EIO;
        goto out;
    }
    /* A fresh origin: the old one's later updates are already at the peers. */
    char origin[4200];
    snprintf(origin, sizeof origin, "%s/origin", data_dir);
    if (unlink(origin) != 0 && errno != ENOENT) {
        set_err(err, errlen, "%s: %s", origin, strerror(errno));
        rc = KMS_EIO;
        goto out;
    }
    fsync_path(data_dir, O_RDONLY | O_DIRECTORY);
    if (records_out) *records_out = records;
out:
    if (lfd >= 0) close(lfd);
    return rc;
}
