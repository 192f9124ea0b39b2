/* store.c: the node's client records in LMDB (see store.h): opening and closing a store
 * and its figures. The other store_*.c files hold one concern each: store_record.c (the
 * record codec and merge rule), store_writer.c (the write queue, group commit and the
 * writer thread), store_apply.c (what a batch's transaction does), store_schema.c (the
 * databases, the schema and its upgrade, the on-disk layout), store_log.c (the update
 * log), store_vv.c (version vectors), store_prune.c (prunes), store_snapshot.c (snapshot
 * pages), store_put.c (the queued writes), store_read.c (reads), store_verify.c (the
 * check at start) and store_txn.c (LMDB plumbing); store_internal.h is what they share.
 *
 * Rules the caller must know (store.h keeps the signatures; these are the details):
 * - store_free() commits what is queued, then runs every callback still owed
 *   synchronously before it returns (on the calling thread, which must be the loop's),
 *   with the real status of its commit. No callback runs after store_free() returns.
 *   Do not call store_free() from inside a done callback.
 * - store_open() accepts base == NULL (tools): callbacks are then held until
 *   store_free().
 * - store_put_async() returns KMS_EINVAL for a record whose app is not a kms_app and
 *   KMS_ENOMEM when the queue holds STORE_QUEUE_MAX writes.
 * - Records are stored length-prefixed, so an encoded record is at most
 *   STORE_RECORD_WIRE_MAX bytes but not always the same size.
 * - When the map is full the writer doubles it (up to STORE_GROW_TRIES times for one
 *   batch) and retries; the batch fails with KMS_ESTORE only if that is not enough.
 * - Completions use an eventfd, so the program needs no evthread_use_pthreads().
 */
#include "replication/store_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/errors.h"
#include "replication/storecheck.h"

#define STORE_DEFAULT_MAP (1ull << 30)

const double store_commit_bounds_ms[STORE_COMMIT_BUCKETS] = {0.5, 1, 2, 5, 10, 20, 50, 100,
                                                              200, 500, 1000, 1e300};

static store *open_fail(store *self, char *err, size_t errlen, const char *what, int rc)
{
    if (err && errlen) snprintf(err, errlen, "%s: %s", what, rc > 0 ? strerror(rc) : mdb_strerror(rc));
    store_free(&self);
    return NULL;
}

typedef struct open_args {
    store *self;
    char *err;
    size_t errlen;
} open_args;

static int open_dbs_guarded(void *arg)
{
    open_args *a = arg;
    return store_schema_open(a->self, a->err, a->errlen);
}

store *store_open(struct event_base *base, const char *dir, const store_options *opt,
                  int *status, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (status) *status = KMS_ESTORE; /* until it opens, or the files prove damaged */
    store *self = calloc(1, sizeof *self);
    if (!self) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->efd = -1;
    self->base = base;
    self->commit_delay_ms = opt ? opt->commit_delay_ms : 0;
    self->no_sync = opt ? opt->no_sync : false;
    self->map_size = opt && opt->map_size ? opt->map_size : STORE_DEFAULT_MAP;
    pthread_rwlock_init(&self->txn_lock, NULL);
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cv, &ca);
    pthread_condattr_destroy(&ca);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return open_fail(self, err, errlen, dir, errno);
    /* A truncated data.mdb must be named before LMDB maps it (SIGBUS otherwise). */
    int frc = store_file_check(dir, err, errlen);
    if (frc < 0) {
        if (status && frc == KMS_EDAMAGED) *status = KMS_EDAMAGED;
        store_free(&self);
        return NULL;
    }
    int rc = mdb_env_create(&self->env);
    if (rc) return open_fail(self, err, errlen, "mdb_env_create", rc);
    mdb_env_set_maxdbs(self->env, 8);
    mdb_env_set_mapsize(self->env, (size_t)self->map_size);
    unsigned flags = MDB_NOTLS | (self->no_sync ? MDB_NOSYNC : 0);
    rc = mdb_env_open(self->env, dir, flags, 0600);
    if (rc) {
        /* A failed mdb_env_open leaves the env unusable: close it here. */
        mdb_env_close(self->env);
        self->env = NULL;
        char what[300];
        if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH) {
            snprintf(what, sizeof what, "%s/data.mdb is damaged (LMDB refuses it)", dir);
            if (status) *status = KMS_EDAMAGED;
        } else
            snprintf(what, sizeof what, "opening LMDB environment %s", dir);
        return open_fail(self, err, errlen, what, rc);
    }
    open_args oa = {self, err, errlen};
    int orc = store_fault_guarded(open_dbs_guarded, &oa);
    if (orc < 0 && orc != KMS_ESTORE && orc != KMS_EVERSION && orc != KMS_EDAMAGED) {
        /* Faulted inside LMDB: the environment is in an unknown state; leak it rather
         * than touch it again (the caller stops). */
        if (err && errlen)
            snprintf(err, errlen, "%s/data.mdb is damaged: reading it faulted (signal %d)", dir, -orc);
        if (status) *status = KMS_EDAMAGED;
        store_quarantine(self->env);
        self->env = NULL;
        store_free(&self);
        return NULL;
    }
    if (orc != 0) {
        if (status && orc == KMS_EDAMAGED) *status = KMS_EDAMAGED;
        store_free(&self);
        return NULL;
    }
    store_update_sizes(self, self->stats.entries);

    const char *failed = NULL;
    rc = store_writer_start(self, &failed);
    if (rc) return open_fail(self, err, errlen, failed, rc);
    if (status) *status = 0;
    return self;
}

void store_free(store **self_p)
{
    if (!self_p || !*self_p) return;
    store *self = *self_p;
    *self_p = NULL;
    store_writer_stop(self); /* commits what is queued, then runs what is owed */
    if (self->env) mdb_env_close(self->env);
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    pthread_rwlock_destroy(&self->txn_lock);
    free(self);
}

void store_get_stats(store *self, store_stats *out)
{
    pthread_mutex_lock(&self->mu);
    *out = self->stats;
    out->queued = self->pending.n;
    pthread_mutex_unlock(&self->mu);
}
