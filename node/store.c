/* store.c: the node's client records in LMDB (see store.h). The event loop queues writes;
 * one writer thread gathers everything queued within commit_delay_ms into one write
 * transaction, merges each record with the stored one, commits (fsync unless no_sync),
 * then hands the completions back to the loop through an eventfd, where the callbacks
 * run.
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
 * - Completions use an eventfd, so the program needs no evthread_use_pthreads(). */
#include "node/store.h"

#include <errno.h>
#include <event2/event.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>

#include "proto/cursor.h"
#include "proto/errors.h"
#include "proto/products.h"

#define STORE_SCHEMA 1u           /* meta "schema": layout of the "clients" DB */
#define STORE_RECORD_VERSION 1    /* first byte of an encoded record */
#define STORE_QUEUE_MAX 65536     /* queued writes before store_put_async refuses */
#define STORE_DEFAULT_MAP (1ull << 30)
#define STORE_PRUNE_CHUNK 10000   /* deletions per prune transaction */
#define STORE_KEY_LEN 17          /* app + cmid */
#define STORE_GROW_TRIES 4        /* map doublings tried for one batch before it fails */

enum { OP_PUT, OP_PRUNE };

typedef struct store_op {
    int kind;
    int status;
    store_done_fn done;
    void *arg;
    int64_t before_ms;            /* OP_PRUNE */
    store_record rec;             /* OP_PUT */
} store_op;

typedef struct opvec {
    store_op *v;
    size_t n, cap;
} opvec;

struct store {
    MDB_env *env;
    MDB_dbi dbi_clients, dbi_meta;
    uint64_t map_size;
    bool no_sync;
    uint32_t commit_delay_ms;

    struct event_base *base;
    struct event *ev;
    int efd;

    /* Every LMDB transaction holds txn_lock for reading; growing the map takes it for
     * writing, because mdb_env_set_mapsize needs no transaction active in the process. */
    pthread_rwlock_t txn_lock;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;           /* guards everything below */
    pthread_cond_t cv;
    opvec pending;                /* loop -> writer */
    opvec done;                   /* writer -> loop */
    bool stopping;
    store_stats stats;
};

/* ---- records: encoding and merge ---- */

static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max - 1 && s[n]) n++;
    return n;
}

static void put_str(wcursor *w, const char *s, size_t max)
{
    size_t n = bounded_len(s, max);
    wc_u8(w, (uint8_t)n);
    wc_bytes(w, s, n);
}

int store_record_encode(const store_record *rec, uint8_t *out, size_t cap)
{
    if (rec->app >= KMS_APP_COUNT) return KMS_EINVAL;
    wcursor w = wc_init(out, cap);
    wc_u8(&w, STORE_RECORD_VERSION);
    wc_u8(&w, rec->app);
    wc_bytes(&w, rec->cmid, 16);
    wc_u64(&w, (uint64_t)rec->first_seen_ms);
    wc_u64(&w, (uint64_t)rec->last_seen_ms);
    wc_bytes(&w, rec->sku_id, 16);
    wc_bytes(&w, rec->kms_id, 16);
    wc_u8(&w, rec->license_status);
    wc_u8(&w, rec->vm);
    wc_u16(&w, rec->n_policy);
    wc_u8(&w, rec->protocol);
    put_str(&w, rec->workstation, sizeof rec->workstation);
    put_str(&w, rec->address, sizeof rec->address);
    put_str(&w, rec->node, sizeof rec->node);
    return w.err ? w.err : (int)w.pos;
}

/* Reads a length-prefixed string into a NUL-terminated field of size max; the text may
 * not contain NUL (so encode(decode(x)) == x). */
static int get_str(rcursor *r, char *out, size_t max)
{
    size_t n = rc_u8(r);
    const uint8_t *s = rc_take(r, n);
    if (!s) return r->err ? r->err : KMS_ETRUNC;
    if (n > max - 1 || memchr(s, 0, n)) return KMS_EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int store_record_decode(const uint8_t *buf, size_t len, store_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rcursor r = rc_init(buf, len);
    uint8_t version = rc_u8(&r);
    if (r.err) return r.err;
    if (version != STORE_RECORD_VERSION) return KMS_EVERSION;
    rec->app = rc_u8(&r);
    rc_bytes(&r, rec->cmid, 16);
    rec->first_seen_ms = (int64_t)rc_u64(&r);
    rec->last_seen_ms = (int64_t)rc_u64(&r);
    rc_bytes(&r, rec->sku_id, 16);
    rc_bytes(&r, rec->kms_id, 16);
    rec->license_status = rc_u8(&r);
    rec->vm = rc_u8(&r);
    rec->n_policy = rc_u16(&r);
    rec->protocol = rc_u8(&r);
    int rc = 0;
    if (!rc) rc = get_str(&r, rec->workstation, sizeof rec->workstation);
    if (!rc) rc = get_str(&r, rec->address, sizeof rec->address);
    if (!rc) rc = get_str(&r, rec->node, sizeof rec->node);
    if (!rc && r.err) rc = r.err;
    if (!rc && rec->app >= KMS_APP_COUNT) rc = KMS_EINVAL;
    if (rc) {
        memset(rec, 0, sizeof *rec);
        return rc;
    }
    return (int)r.pos;
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }
static int cmp_str(const char *a, const char *b, size_t max)
{
    int c = strncmp(a, b, max);
    return c < 0 ? -1 : c > 0;
}

/* The merge order: later last_seen, then greater node, then the rest of the content
 * (first_seen aside: it merges as a minimum), so every pair of records has one winner. */
static int record_order(const store_record *a, const store_record *b)
{
    int c;
    if ((c = cmp_i64(a->last_seen_ms, b->last_seen_ms))) return c;
    if ((c = cmp_str(a->node, b->node, sizeof a->node))) return c;
    if ((c = (a->app > b->app) - (a->app < b->app))) return c;
    if ((c = memcmp(a->cmid, b->cmid, 16))) return c;
    if ((c = memcmp(a->sku_id, b->sku_id, 16))) return c;
    if ((c = memcmp(a->kms_id, b->kms_id, 16))) return c;
    if ((c = (a->license_status > b->license_status) - (a->license_status < b->license_status))) return c;
    if ((c = (a->vm > b->vm) - (a->vm < b->vm))) return c;
    if ((c = (a->n_policy > b->n_policy) - (a->n_policy < b->n_policy))) return c;
    if ((c = (a->protocol > b->protocol) - (a->protocol < b->protocol))) return c;
    if ((c = cmp_str(a->workstation, b->workstation, sizeof a->workstation))) return c;
    return cmp_str(a->address, b->address, sizeof a->address);
}

static void terminate_strings(store_record *r)
{
    r->workstation[sizeof r->workstation - 1] = '\0';
    r->address[sizeof r->address - 1] = '\0';
    r->node[sizeof r->node - 1] = '\0';
}

bool store_record_merge(store_record *dst, const store_record *src)
{
    bool changed = false;
    int64_t first = dst->first_seen_ms < src->first_seen_ms ? dst->first_seen_ms : src->first_seen_ms;
    if (record_order(src, dst) > 0) {
        *dst = *src;
        terminate_strings(dst);
        changed = true;
    }
    if (dst->first_seen_ms != first) {
        dst->first_seen_ms = first;
        changed = true;
    }
    return changed;
}

/* ---- queue ---- */

static int opvec_reserve(opvec *q, size_t want)
{
    if (want <= q->cap) return 0;
    size_t cap = q->cap ? q->cap * 2 : 16;
    while (cap < want) cap *= 2;
    store_op *v = realloc(q->v, cap * sizeof *v);
    if (!v) return KMS_ENOMEM;
    q->v = v;
    q->cap = cap;
    return 0;
}

static void opvec_swap(opvec *a, opvec *b)
{
    opvec t = *a;
    *a = *b;
    *b = t;
}

static void opvec_free(opvec *q)
{
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}

static void run_callbacks(opvec *q)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->v[i].done) q->v[i].done(q->v[i].arg, q->v[i].status);
    q->n = 0;
}

/* ---- LMDB helpers ---- */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Begins a transaction with txn_lock held for reading; on success the caller must
 * end the transaction and then call txn_unlock. */
static int txn_begin_locked(store *self, unsigned flags, MDB_txn **txn)
{
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&self->txn_lock);
        int rc = mdb_txn_begin(self->env, NULL, flags, txn);
        if (rc != MDB_MAP_RESIZED || attempt > 0) {
            if (rc) pthread_rwlock_unlock(&self->txn_lock);
            return rc;
        }
        /* Another process grew the map: adopt its size. */
        pthread_rwlock_unlock(&self->txn_lock);
        pthread_rwlock_wrlock(&self->txn_lock);
        mdb_env_set_mapsize(self->env, 0);
        pthread_rwlock_unlock(&self->txn_lock);
    }
}

static void txn_unlock(store *self) { pthread_rwlock_unlock(&self->txn_lock); }

static void make_key(uint8_t key[STORE_KEY_LEN], uint8_t app, const uint8_t cmid[16])
{
    key[0] = app;
    memcpy(key + 1, cmid, 16);
}

/* Decodes a stored value; only an exact, well-formed record that matches its key counts. */
static bool decode_value(const MDB_val *k, const MDB_val *v, store_record *rec)
{
    int n = store_record_decode(v->mv_data, v->mv_size, rec);
    if (n < 0 || (size_t)n != v->mv_size) return false;
    if (k->mv_size != STORE_KEY_LEN) return false;
    const uint8_t *kb = k->mv_data;
    return kb[0] == rec->app && memcmp(kb + 1, rec->cmid, 16) == 0;
}

/* Refreshes entries and map use (writer thread, after a commit). */
static void update_sizes(store *self, uint64_t entries)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(self->env, &info);
    mdb_env_stat(self->env, &st);
    pthread_mutex_lock(&self->mu);
    self->stats.entries = entries;
    self->stats.map_size = info.me_mapsize;
    self->stats.map_used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    pthread_mutex_unlock(&self->mu);
}

/* Merges every put of the batch in one transaction and commits it. Returns an MDB code. */
static int apply_puts(store *self, opvec *batch, uint64_t *written, uint64_t *entries)
{
    MDB_txn *txn;
    int rc = txn_begin_locked(self, 0, &txn);
    if (rc) return rc;
    *written = 0;
    for (size_t i = 0; i < batch->n && !rc; i++) {
        store_op *op = &batch->v[i];
        if (op->kind != OP_PUT) continue;
        uint8_t key[STORE_KEY_LEN];
        make_key(key, op->rec.app, op->rec.cmid);
        MDB_val k = {sizeof key, key}, v;
        store_record merged = op->rec;
        rc = mdb_get(txn, self->dbi_clients, &k, &v);
        if (rc == 0) {
            store_record old;
            if (decode_value(&k, &v, &old)) {
                merged = old;
                if (!store_record_merge(&merged, &op->rec)) continue; /* nothing new */
            }
        } else if (rc != MDB_NOTFOUND) {
            break;
        }
        uint8_t buf[STORE_RECORD_WIRE_MAX];
        int n = store_record_encode(&merged, buf, sizeof buf);
        if (n < 0) { rc = MDB_BAD_VALSIZE; break; } /* cannot happen: checked at put */
        v.mv_size = (size_t)n;
        v.mv_data = buf;
        rc = mdb_put(txn, self->dbi_clients, &k, &v, 0);
        if (!rc) (*written)++;
    }
    if (!rc) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi_clients, &st) == 0) *entries = st.ms_entries;
        rc = mdb_txn_commit(txn);
    } else {
        mdb_txn_abort(txn);
    }
    txn_unlock(self);
    return rc;
}

/* Doubles the map (writer thread, no transaction of ours active). */
static int grow_map(store *self)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    pthread_rwlock_wrlock(&self->txn_lock);
    int rc = mdb_env_set_mapsize(self->env, (size_t)info.me_mapsize * 2);
    pthread_rwlock_unlock(&self->txn_lock);
    return rc;
}

/* Deletes records last seen before before_ms, STORE_PRUNE_CHUNK per transaction so a
 * large prune never makes one huge transaction. */
static int apply_prune(store *self, int64_t before_ms, uint64_t *commits, uint64_t *entries)
{
    uint8_t resume[STORE_KEY_LEN];
    bool have_resume = false;
    for (;;) {
        MDB_txn *txn;
        MDB_cursor *cur;
        int rc = txn_begin_locked(self, 0, &txn);
        if (rc) return rc;
        rc = mdb_cursor_open(txn, self->dbi_clients, &cur);
        if (rc) {
            mdb_txn_abort(txn);
            txn_unlock(self);
            return rc;
        }
        MDB_val k = {sizeof resume, resume}, v;
        rc = mdb_cursor_get(cur, &k, &v, have_resume ? MDB_SET_RANGE : MDB_FIRST);
        bool finished = true;
        size_t deleted = 0;
        while (rc == 0) {
            if (deleted >= STORE_PRUNE_CHUNK && k.mv_size == STORE_KEY_LEN) {
                memcpy(resume, k.mv_data, STORE_KEY_LEN);
                have_resume = true;
                finished = false;
                break;
            }
            store_record rec;
            if (decode_value(&k, &v, &rec) && rec.last_seen_ms < before_ms) {
                rc = mdb_cursor_del(cur, 0);
                if (rc) break;
                deleted++;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            txn_unlock(self);
            return rc;
        }
        MDB_stat st;
        if (mdb_stat(txn, self->dbi_clients, &st) == 0) *entries = st.ms_entries;
        rc = mdb_txn_commit(txn);
        txn_unlock(self);
        if (rc) return rc;
        (*commits)++;
        if (finished) return 0;
    }
}

static void process_batch(store *self, opvec *batch)
{
    size_t puts = 0;
    for (size_t i = 0; i < batch->n; i++) puts += batch->v[i].kind == OP_PUT;

    uint64_t entries = UINT64_MAX, written = 0, commits = 0, failures = 0;
    double t0 = mono_ms(), dt = -1;
    if (puts) {
        int rc = apply_puts(self, batch, &written, &entries);
        for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && grow_map(self) == 0; g++)
            rc = apply_puts(self, batch, &written, &entries);
        if (rc == 0) commits++; else failures++;
        dt = mono_ms() - t0;
        for (size_t i = 0; i < batch->n; i++)
            if (batch->v[i].kind == OP_PUT) batch->v[i].status = rc ? KMS_ESTORE : 0;
    }
    for (size_t i = 0; i < batch->n; i++) {
        store_op *op = &batch->v[i];
        if (op->kind != OP_PRUNE) continue;
        int rc = apply_prune(self, op->before_ms, &commits, &entries);
        for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && grow_map(self) == 0; g++)
            rc = apply_prune(self, op->before_ms, &commits, &entries);
        if (rc) failures++;
        op->status = rc ? KMS_ESTORE : 0;
    }
    if (entries != UINT64_MAX) update_sizes(self, entries);

    pthread_mutex_lock(&self->mu);
    self->stats.commits += commits;
    self->stats.records_written += written;
    self->stats.failures += failures;
    if (dt >= 0) self->stats.last_commit_ms = dt;
    /* Hand the completions to the loop. */
    if (self->done.n == 0) {
        opvec_swap(&self->done, batch);
    } else if (opvec_reserve(&self->done, self->done.n + batch->n) == 0) {
        memcpy(self->done.v + self->done.n, batch->v, batch->n * sizeof *batch->v);
        self->done.n += batch->n;
    } else {
        /* Out of memory for the hand-over: wait for the loop to drain done. */
        while (self->done.n && opvec_reserve(&self->done, self->done.n + batch->n) != 0) {
            pthread_mutex_unlock(&self->mu);
            usleep(1000);
            pthread_mutex_lock(&self->mu);
        }
        if (self->done.n == 0) {
            opvec_swap(&self->done, batch);
        } else {
            memcpy(self->done.v + self->done.n, batch->v, batch->n * sizeof *batch->v);
            self->done.n += batch->n;
        }
    }
    batch->n = 0;
    pthread_mutex_unlock(&self->mu);
    if (self->efd >= 0) {
        uint64_t one = 1;
        ssize_t w;
        do w = write(self->efd, &one, sizeof one); while (w < 0 && errno == EINTR);
        /* EAGAIN means the counter is saturated: the loop is already signalled. */
    }
    /* Do not keep a burst's worth of memory around. */
    if (batch->cap > 4096) opvec_free(batch);
}

static void deadline_after(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *writer_main(void *arg)
{
    store *self = arg;
    opvec batch = {0};
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (self->pending.n == 0 && !self->stopping)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->pending.n == 0) break; /* stopping with nothing left */
        if (self->commit_delay_ms && !self->stopping) {
            /* Gather what arrives within the window into the same transaction. */
            struct timespec until;
            deadline_after(&until, self->commit_delay_ms);
            while (!self->stopping && self->pending.n < STORE_QUEUE_MAX / 2)
                if (pthread_cond_timedwait(&self->cv, &self->mu, &until) == ETIMEDOUT) break;
        }
        opvec_swap(&self->pending, &batch);
        pthread_mutex_unlock(&self->mu);
        process_batch(self, &batch);
        pthread_mutex_lock(&self->mu);
    }
    pthread_mutex_unlock(&self->mu);
    opvec_free(&batch);
    return NULL;
}

/* Event loop side: runs the callbacks of finished writes. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    store *self = arg;
    uint64_t cnt;
    while (read(fd, &cnt, sizeof cnt) < 0 && errno == EINTR) {}
    opvec q = {0};
    pthread_mutex_lock(&self->mu);
    opvec_swap(&q, &self->done);
    pthread_mutex_unlock(&self->mu);
    run_callbacks(&q);
    opvec_free(&q);
}

/* ---- public API ---- */

static store *open_fail(store *self, char *err, size_t errlen, const char *what, int rc)
{
    if (err && errlen) snprintf(err, errlen, "%s: %s", what, rc > 0 ? strerror(rc) : mdb_strerror(rc));
    store_free(&self);
    return NULL;
}

/* Opens the DBs and checks (or writes) the schema version. */
static int open_dbs(store *self, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (rc) goto fail;
    if ((rc = mdb_dbi_open(txn, "clients", MDB_CREATE, &self->dbi_clients))) goto abort;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &self->dbi_meta))) goto abort;
    MDB_val k = {6, (void *)"schema"}, v;
    rc = mdb_get(txn, self->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t b[4] = {STORE_SCHEMA, 0, 0, 0};
        v.mv_size = sizeof b;
        v.mv_data = b;
        if ((rc = mdb_put(txn, self->dbi_meta, &k, &v, 0))) goto abort;
    } else if (rc) {
        goto abort;
    } else {
        rcursor r = rc_init(v.mv_data, v.mv_size);
        uint32_t schema = rc_u32(&r);
        if (r.err || schema != STORE_SCHEMA) {
            mdb_txn_abort(txn);
            if (err && errlen)
                snprintf(err, errlen, "store schema %u is not the supported %u", (unsigned)schema, STORE_SCHEMA);
            return KMS_EVERSION;
        }
    }
    MDB_stat st;
    if ((rc = mdb_stat(txn, self->dbi_clients, &st))) goto abort;
    self->stats.entries = st.ms_entries;
    if ((rc = mdb_txn_commit(txn))) goto fail;
    return 0;
abort:
    mdb_txn_abort(txn);
fail:
    if (err && errlen) snprintf(err, errlen, "opening store databases: %s", mdb_strerror(rc));
    return KMS_ESTORE;
}

store *store_open(struct event_base *base, const char *dir, const store_options *opt,
                  char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
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
    int rc = mdb_env_create(&self->env);
    if (rc) return open_fail(self, err, errlen, "mdb_env_create", rc);
    mdb_env_set_maxdbs(self->env, 4);
    mdb_env_set_mapsize(self->env, (size_t)self->map_size);
    unsigned flags = MDB_NOTLS | (self->no_sync ? MDB_NOSYNC : 0);
    rc = mdb_env_open(self->env, dir, flags, 0600);
    if (rc) {
        /* A failed mdb_env_open leaves the env unusable: close it here. */
        mdb_env_close(self->env);
        self->env = NULL;
        char what[300];
        snprintf(what, sizeof what, "opening LMDB environment %s", dir);
        return open_fail(self, err, errlen, what, rc);
    }
    if (open_dbs(self, err, errlen) != 0) {
        store_free(&self);
        return NULL;
    }
    update_sizes(self, self->stats.entries);

    if (base) {
        self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (self->efd < 0) return open_fail(self, err, errlen, "eventfd", errno);
        self->ev = event_new(base, self->efd, EV_READ | EV_PERSIST, on_done, self);
        if (!self->ev || event_add(self->ev, NULL) != 0)
            return open_fail(self, err, errlen, "event_new", ENOMEM);
    }
    rc = pthread_create(&self->thread, NULL, writer_main, self);
    if (rc) return open_fail(self, err, errlen, "starting the writer thread", rc);
    self->thread_started = true;
    return self;
}

void store_free(store **self_p)
{
    if (!self_p || !*self_p) return;
    store *self = *self_p;
    *self_p = NULL;
    if (self->thread_started) {
        pthread_mutex_lock(&self->mu);
        self->stopping = true;
        pthread_cond_broadcast(&self->cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL); /* the writer commits what is queued first */
    }
    self->stopping = true;
    /* Owed callbacks run now, so none runs after we return. */
    opvec q = {0};
    opvec_swap(&q, &self->done);
    run_callbacks(&q);
    opvec_free(&q);
    if (self->ev) event_free(self->ev);
    if (self->efd >= 0) close(self->efd);
    if (self->env) mdb_env_close(self->env);
    opvec_free(&self->pending);
    opvec_free(&self->done);
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    pthread_rwlock_destroy(&self->txn_lock);
    free(self);
}

static int enqueue(store *self, const store_op *op, bool bounded)
{
    pthread_mutex_lock(&self->mu);
    int rc = 0;
    if (self->stopping) rc = KMS_ESTORE;
    else if (bounded && self->pending.n >= STORE_QUEUE_MAX) rc = KMS_ENOMEM;
    else rc = opvec_reserve(&self->pending, self->pending.n + 1);
    if (rc == 0) {
        self->pending.v[self->pending.n++] = *op;
        if (self->pending.n == 1 || self->pending.n == STORE_QUEUE_MAX / 2)
            pthread_cond_signal(&self->cv);
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

int store_put_async(store *self, const store_record *rec, store_done_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if (rec->app >= KMS_APP_COUNT) return KMS_EINVAL;
    store_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_PUT;
    op.done = done;
    op.arg = arg;
    op.rec = *rec;
    terminate_strings(&op.rec);
    return enqueue(self, &op, true);
}

int store_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    store_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_PRUNE;
    op.done = done;
    op.arg = arg;
    op.before_ms = before_ms;
    return enqueue(self, &op, false);
}

int store_each(store *self, store_each_fn fn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    if (txn_begin_locked(self, MDB_RDONLY, &txn) != 0) return KMS_ESTORE;
    int rc = mdb_cursor_open(txn, self->dbi_clients, &cur);
    if (rc == 0) {
        MDB_val k, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            store_record rec;
            /* A record that does not decode is skipped rather than blocking start-up. */
            if (decode_value(&k, &v, &rec) && fn(ctx, &rec) != 0) break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    mdb_txn_abort(txn);
    txn_unlock(self);
    return rc ? KMS_ESTORE : 0;
}

int store_get(store *self, uint8_t app, const uint8_t cmid[16], store_record *out)
{
    MDB_txn *txn;
    if (txn_begin_locked(self, MDB_RDONLY, &txn) != 0) return KMS_ESTORE;
    uint8_t key[STORE_KEY_LEN];
    make_key(key, app, cmid);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_get(txn, self->dbi_clients, &k, &v);
    int ret;
    if (rc == MDB_NOTFOUND) ret = KMS_ENOTFOUND;
    else if (rc) ret = KMS_ESTORE;
    else ret = decode_value(&k, &v, out) ? 0 : KMS_ESTORE;
    mdb_txn_abort(txn);
    txn_unlock(self);
    return ret;
}

void store_get_stats(store *self, store_stats *out)
{
    pthread_mutex_lock(&self->mu);
    *out = self->stats;
    pthread_mutex_unlock(&self->mu);
}
