/* store.c: the node's client records in LMDB (see store.h). The event loop queues writes;
 * one writer thread commits them in group commits, leader/follower style: as soon as it is
 * free and something is queued it takes everything queued into one write transaction, so a
 * lone write is committed at once and what arrives during a commit goes in the next one
 * (under load batches form by themselves, with no wait). commit_delay_ms (default 0) is an
 * optional extra wait: the writer then starts only once the oldest queued write has waited
 * that long. It merges each record with the stored one, commits (fsync unless no_sync),
 * then hands the completions back to the loop through an eventfd, where the callbacks run.
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
 *
 * Replication (the second half of store.h): every record-changing operation of a batch -
 * plain puts, logged local writes, remote updates and snapshot batches - runs in queue
 * order in the batch's one write transaction, which also holds the update log and the
 * version vector, so a record, its log entry and the vv entry that covers it are durable
 * together or not at all. The writer loads the vv from LMDB at the start of each such
 * transaction and compares/advances that working copy, so updates queued in order apply
 * in order even within one batch; after the commit the in-memory copy that
 * store_get_vv() returns is replaced under the stats mutex, before any callback runs.
 *
 * On-disk layout (schema 3; a schema-1 store is upgraded in place at open by creating the
 * two new DBs, and every older store by rewriting "schema", so an older binary refuses it
 * afterwards: schema 3 may hold version-2 records, which it cannot read):
 *   "clients" key app(1) cmid(16)                -> encoded record (store_record_encode)
 *   "meta"    "schema"                           -> u32 LE
 *   "log"     len(1) origin(len) seq(u64 BE)     -> logged_ms(i64 LE) encoded record
 *   "vv"      origin (its bytes, no NUL)         -> seq (u64 LE)
 * Log keys therefore sort by origin length, then origin bytes, then sequence numerically:
 * each origin's updates are one contiguous run in seq order. */
#include "replication/store.h"
#include "replication/store_lmdb.h"

#include <errno.h>
#include <inttypes.h>
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

#include "proto/clock.h"
#include "proto/cursor.h"
#include "proto/errors.h"
#include "proto/products.h"
#include "replication/storecheck.h"

#define STORE_SCHEMA 3u           /* meta "schema": 1 = "clients" only, 2 = + "log", "vv",
                                     3 = records may be version 2 (older binaries refuse) */
#define STORE_SCHEMA_OLDEST 1u    /* oldest schema upgraded at open */
#define STORE_RECORD_VERSION 1    /* first byte of an encoded record without version-2 fields */
#define STORE_RECORD_VERSION2 2   /* + binding_expiration, count, name set */
#define STORE_QUEUE_MAX 65536     /* queued writes before store_put_async refuses */
#define STORE_DEFAULT_MAP (1ull << 30)
#define STORE_PRUNE_CHUNK 2048    /* records visited (clients) / deleted (log) per prune
                                     transaction; writes queued meanwhile commit between */
#define STORE_GROW_TRIES 4        /* map doublings tried for one batch before it fails */
#define LOG_KEY_MAX (1 + (STORE_ORIGIN_MAX - 1) + 8)
#define LOG_VAL_MAX (8 + STORE_RECORD_WIRE_MAX)

const double store_commit_bounds_ms[STORE_COMMIT_BUCKETS] = {0.5, 1, 2, 5, 10, 20, 50, 100,
                                                              200, 500, 1000, 1e300};

enum { OP_PUT, OP_PRUNE, OP_PUT_LOGGED, OP_APPLY, OP_SNAPSHOT, OP_LOG_PRUNE };

/* The records (and vv to adopt) of one store_apply_snapshot_async call, owned by its op. */
typedef struct snap_batch {
    size_t n;
    bool has_adopt;
    store_vv adopt;
    store_record recs[];
} snap_batch;

typedef struct store_op {
    int kind;
    int status;
    store_done_fn done;           /* OP_PUT, OP_PRUNE, OP_LOG_PRUNE */
    store_update_fn udone;        /* OP_PUT_LOGGED, OP_APPLY, OP_SNAPSHOT */
    void *arg;
    int64_t before_ms;            /* OP_PRUNE, OP_LOG_PRUNE */
    bool more;                    /* OP_PRUNE, OP_LOG_PRUNE: another chunk to go */
    bool have_resume;             /* OP_PRUNE: resume at this key */
    uint8_t resume[STORE_KEY_LEN];
    uint64_t seq;                 /* OP_APPLY; OP_PUT_LOGGED: assigned at commit */
    snap_batch *snap;             /* OP_SNAPSHOT (freed by the writer once committed) */
    bool no_merge;                /* OP_APPLY: log the update and advance vv, keep the record out */
    char origin[STORE_ORIGIN_MAX];/* OP_PUT_LOGGED, OP_APPLY */
    store_record rec;             /* OP_PUT, OP_APPLY; OP_PUT_LOGGED: the merged record once committed */
} store_op;

typedef struct opvec {
    store_op *v;
    size_t n, cap;
} opvec;

struct store {
    MDB_env *env;
    MDB_dbi dbi_clients, dbi_meta, dbi_log, dbi_vv;
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
    struct timespec pending_since;/* when pending last went from empty to non-empty */
    opvec done;                   /* writer -> loop */
    bool stopping;
    store_stats stats;
    store_vv vv;                  /* committed version vector */
    char origin[STORE_ORIGIN_MAX];/* local writes are logged under it ("" = not set) */

    /* Writer thread only: the version vector of the open write transaction. */
    store_vv wvv;
    bool wvv_dirty[STORE_VV_MAX];
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

/* The order of a name set: newest first, then by name (then address), so any two
 * distinct entries compare unequal; entries with the same name are the same name. */
static int name_order(const store_name *a, const store_name *b)
{
    if (a->last_seen_ms != b->last_seen_ms) return a->last_seen_ms > b->last_seen_ms ? -1 : 1;
    int c = strncmp(a->name, b->name, sizeof a->name);
    if (c) return c < 0 ? -1 : 1;
    c = strncmp(a->address, b->address, sizeof a->address);
    return c < 0 ? -1 : c > 0;
}

/* Puts e into the set (names[0..*n), in name_order, at most STORE_NAMES_MAX): an entry of
 * the same name is replaced when e is newer (later time, then greater address), and the
 * oldest entry falls off a full set. Union with "newest per name, STORE_NAMES_MAX newest
 * kept" is commutative, associative and idempotent, so replicas agree in any order. */
static bool names_insert(store_name *set, uint8_t *n, const store_name *e)
{
    if (!e->name[0]) return false;
    unsigned count = *n > STORE_NAMES_MAX ? STORE_NAMES_MAX : *n;
    for (unsigned i = 0; i < count; i++) {
        if (strncmp(set[i].name, e->name, sizeof e->name) != 0) continue;
        bool newer = e->last_seen_ms > set[i].last_seen_ms ||
                     (e->last_seen_ms == set[i].last_seen_ms &&
                      strncmp(e->address, set[i].address, sizeof e->address) > 0);
        if (!newer) return false;
        memmove(&set[i], &set[i + 1], (count - i - 1) * sizeof *set); /* re-inserted below */
        count--;
        break;
    }
    unsigned pos = 0;
    while (pos < count && name_order(&set[pos], e) < 0) pos++;
    if (pos >= STORE_NAMES_MAX) {
        *n = (uint8_t)count;
        return false;
    }
    if (count == STORE_NAMES_MAX) count--;
    memmove(&set[pos + 1], &set[pos], (count - pos) * sizeof *set);
    set[pos] = *e;
    set[pos].name[sizeof set[pos].name - 1] = '\0';
    set[pos].address[sizeof set[pos].address - 1] = '\0';
    *n = (uint8_t)(count + 1);
    return true;
}

void store_record_add_name(store_record *rec, const char *name, const char *address, int64_t seen_ms)
{
    store_name e;
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", name ? name : "");
    snprintf(e.address, sizeof e.address, "%s", address ? address : "");
    e.last_seen_ms = seen_ms;
    names_insert(rec->names, &rec->n_names, &e);
}

int store_record_encode(const store_record *rec, uint8_t *out, size_t cap)
{
    if (rec->app >= KMS_APP_COUNT) return KMS_EINVAL;
    unsigned n_names = rec->n_names > STORE_NAMES_MAX ? STORE_NAMES_MAX : rec->n_names;
    uint8_t version = rec->binding_expiration || rec->count || n_names ? STORE_RECORD_VERSION2 : STORE_RECORD_VERSION;
    wcursor w = wc_init(out, cap);
    wc_u8(&w, version);
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
    if (version == STORE_RECORD_VERSION2) {
        wc_u32(&w, rec->binding_expiration);
        wc_u16(&w, rec->count);
        wc_u8(&w, n_names);
        for (unsigned i = 0; i < n_names; i++) {
            put_str(&w, rec->names[i].name, sizeof rec->names[i].name);
            put_str(&w, rec->names[i].address, sizeof rec->names[i].address);
            wc_u64(&w, (uint64_t)rec->names[i].last_seen_ms);
        }
    }
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
    if (version != STORE_RECORD_VERSION && version != STORE_RECORD_VERSION2) return KMS_EVERSION;
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
    if (!rc && version == STORE_RECORD_VERSION2) {
        rec->binding_expiration = rc_u32(&r);
        rec->count = rc_u16(&r);
        uint8_t n = rc_u8(&r);
        if (!r.err && n > STORE_NAMES_MAX) rc = KMS_EINVAL;
        for (unsigned i = 0; !rc && !r.err && i < n; i++) {
            store_name *e = &rec->names[i];
            rc = get_str(&r, e->name, sizeof e->name);
            if (!rc) rc = get_str(&r, e->address, sizeof e->address);
            e->last_seen_ms = (int64_t)rc_u64(&r);
            /* One encoding per set: names non-empty, distinct, in name_order. */
            if (!rc && !r.err && (!e->name[0] || (i > 0 && name_order(&rec->names[i - 1], e) >= 0)))
                rc = KMS_EINVAL;
            for (unsigned j = 0; !rc && j < i; j++) /* one entry per name, as names_insert keeps */
                if (strncmp(rec->names[j].name, e->name, sizeof e->name) == 0) rc = KMS_EINVAL;
            rec->n_names = (uint8_t)(i + 1);
        }
        /* A version-2 record carries something version 1 cannot. */
        if (!rc && !r.err && !rec->binding_expiration && !rec->count && !rec->n_names) rc = KMS_EINVAL;
    }
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
    if ((c = (a->binding_expiration > b->binding_expiration) - (a->binding_expiration < b->binding_expiration))) return c;
    if ((c = (a->count > b->count) - (a->count < b->count))) return c;
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
    /* The name sets unite whichever record wins. */
    store_name names[STORE_NAMES_MAX];
    uint8_t n_names = 0;
    const store_record *sets[2] = {dst, src};
    for (int k = 0; k < 2; k++)
        for (unsigned i = 0; i < sets[k]->n_names && i < STORE_NAMES_MAX; i++)
            names_insert(names, &n_names, &sets[k]->names[i]);
    if (record_order(src, dst) > 0) {
        *dst = *src;
        terminate_strings(dst);
        changed = true;
    }
    bool same = n_names == dst->n_names;
    for (unsigned i = 0; same && i < n_names; i++) same = name_order(&names[i], &dst->names[i]) == 0;
    if (!same) {
        memset(dst->names, 0, sizeof dst->names);
        memcpy(dst->names, names, n_names * sizeof *names);
        dst->n_names = n_names;
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

static void free_snapshots(opvec *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->v[i].snap);
        q->v[i].snap = NULL;
    }
}

static void run_callbacks(opvec *q)
{
    for (size_t i = 0; i < q->n; i++) {
        store_op *op = &q->v[i];
        if (op->kind == OP_PUT_LOGGED || op->kind == OP_APPLY) {
            if (!op->udone) continue;
            store_update u;
            memcpy(u.origin, op->origin, sizeof u.origin);
            u.seq = op->seq;
            u.rec = op->rec;
            op->udone(op->arg, op->status, &u);
        } else if (op->kind == OP_SNAPSHOT) {
            if (op->udone) op->udone(op->arg, op->status, NULL);
        } else if (op->done) {
            op->done(op->arg, op->status);
        }
    }
    q->n = 0;
}

/* ---- version vectors ---- */

/* Length of a valid origin (1 .. STORE_ORIGIN_MAX - 1 bytes, NUL-terminated within
 * STORE_ORIGIN_MAX), or 0. */
static size_t origin_len(const char *origin)
{
    if (!origin) return 0;
    size_t n = strnlen(origin, STORE_ORIGIN_MAX);
    return n < STORE_ORIGIN_MAX ? n : 0;
}

static int vv_find(const store_vv *vv, const char *origin)
{
    int n = vv->n < 0 ? 0 : vv->n > STORE_VV_MAX ? STORE_VV_MAX : vv->n;
    for (int i = 0; i < n; i++)
        if (strncmp(vv->e[i].origin, origin, STORE_ORIGIN_MAX) == 0) return i;
    return -1;
}

uint64_t store_vv_get(const store_vv *vv, const char *origin)
{
    if (!vv || !origin) return 0;
    int i = vv_find(vv, origin);
    return i < 0 ? 0 : vv->e[i].seq;
}

int store_vv_set(store_vv *vv, const char *origin, uint64_t seq)
{
    size_t len = origin_len(origin);
    if (!vv || !len) return KMS_EINVAL;
    int i = vv_find(vv, origin);
    if (i < 0) {
        if (vv->n < 0) vv->n = 0;
        if (vv->n >= STORE_VV_MAX) return KMS_ETOOBIG;
        i = vv->n++;
        memset(vv->e[i].origin, 0, sizeof vv->e[i].origin);
        memcpy(vv->e[i].origin, origin, len);
    }
    vv->e[i].seq = seq;
    return 0;
}

/* ---- LMDB helpers ---- */

/* The status for LMDB's rc (an MDB_* code, or an errno from a system call it made). */
static int cause(int rc)
{
    if (rc == 0) return 0;
    if (rc > 0) return kms_error_errno(rc);
    if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE) return KMS_ECAUSE_LMDB - (rc - MDB_KEYEXIST);
    return KMS_ESTORE;
}

const char *store_strerror(int status)
{
    if (status <= KMS_ECAUSE_LMDB && status >= KMS_ECAUSE_LMDB_END) {
        int rc = MDB_KEYEXIST + (KMS_ECAUSE_LMDB - status);
        if (rc == MDB_MAP_FULL) return "map full (MDB_MAP_FULL: the store reached its map size)";
        return mdb_strerror(rc);
    }
    return kms_strerror(status);
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
bool store_entry_decode(const void *key, size_t key_len, const void *val, size_t val_len,
                        store_record *rec)
{
    int n = store_record_decode(val, val_len, rec);
    if (n < 0 || (size_t)n != val_len) return false;
    if (key_len != STORE_KEY_LEN) return false;
    const uint8_t *kb = key;
    return kb[0] == rec->app && memcmp(kb + 1, rec->cmid, 16) == 0;
}

static bool decode_value(const MDB_val *k, const MDB_val *v, store_record *rec)
{
    return store_entry_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, rec);
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

/* ---- the update log and the version vector in LMDB ---- */

/* Log key: len(1) origin(len) seq(u64 big-endian), so keys sort by origin, then seq. */
static size_t log_key(uint8_t k[LOG_KEY_MAX], const char *origin, size_t olen, uint64_t seq)
{
    k[0] = (uint8_t)olen;
    memcpy(k + 1, origin, olen);
    for (size_t i = 0; i < 8; i++) k[1 + olen + i] = (uint8_t)(seq >> (56 - 8 * i));
    return 1 + olen + 8;
}

/* Splits a log key into origin (NUL-terminated) and seq; false when it is not one. */
static bool log_key_parse(const MDB_val *k, char origin[STORE_ORIGIN_MAX], uint64_t *seq)
{
    rcursor r = rc_init(k->mv_data, k->mv_size);
    size_t olen = rc_u8(&r);
    const uint8_t *o = rc_take(&r, olen);
    const uint8_t *sb = rc_take(&r, 8);
    if (!o || !sb || rc_left(&r) != 0 || olen == 0 || olen >= STORE_ORIGIN_MAX || memchr(o, 0, olen))
        return false;
    memcpy(origin, o, olen);
    origin[olen] = '\0';
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) v = v << 8 | sb[i];
    *seq = v;
    return true;
}

/* Log value: logged_ms(i64 LE) then the encoded record. Returns its length or < 0. */
static int log_value(uint8_t out[LOG_VAL_MAX], int64_t logged_ms, const store_record *rec)
{
    wcursor w = wc_init(out, LOG_VAL_MAX);
    wc_u64(&w, (uint64_t)logged_ms);
    if (w.err) return w.err;
    int n = store_record_encode(rec, out + 8, LOG_VAL_MAX - 8);
    return n < 0 ? n : n + 8;
}

/* Reads a log value; rec may be NULL when only the time is wanted. */
static bool log_value_parse(const MDB_val *v, int64_t *logged_ms, store_record *rec)
{
    rcursor r = rc_init(v->mv_data, v->mv_size);
    *logged_ms = (int64_t)rc_u64(&r);
    if (r.err) return false;
    if (!rec) return true;
    size_t len = v->mv_size - 8;
    int n = store_record_decode((const uint8_t *)v->mv_data + 8, len, rec);
    return n >= 0 && (size_t)n == len;
}

/* Moves cur to the first log entry of the origin after the one of key k (MDB code). */
static int log_next_origin(MDB_cursor *cur, MDB_val *k, MDB_val *v)
{
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
    if (!log_key_parse(k, origin, &seq)) return mdb_cursor_get(cur, k, v, MDB_NEXT);
    uint8_t jb[LOG_KEY_MAX];
    size_t jlen = log_key(jb, origin, strlen(origin), UINT64_MAX);
    MDB_val j = {jlen, jb};
    int rc = mdb_cursor_get(cur, &j, v, MDB_SET_RANGE);
    if (rc == 0 && j.mv_size == jlen && memcmp(j.mv_data, jb, jlen) == 0)
        rc = mdb_cursor_get(cur, &j, v, MDB_NEXT);
    if (rc == 0) *k = j;
    return rc;
}

/* Reads the "vv" DB (store_lmdb.h). */
int store_lmdb_read_vv(MDB_txn *txn, MDB_dbi dbi, store_vv *out)
{
    memset(out, 0, sizeof *out);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) return rc;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        rcursor r = rc_init(v.mv_data, v.mv_size);
        uint64_t seq = rc_u64(&r);
        if (!r.err && rc_left(&r) == 0 && k.mv_size > 0 && k.mv_size < STORE_ORIGIN_MAX &&
            !memchr(k.mv_data, 0, k.mv_size)) {
            char origin[STORE_ORIGIN_MAX];
            memcpy(origin, k.mv_data, k.mv_size);
            origin[k.mv_size] = '\0';
            (void)store_vv_set(out, origin, seq); /* more than STORE_VV_MAX: never written */
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Writes the working vv entries changed in this transaction. */
static int write_vv(store *self, MDB_txn *txn)
{
    for (int i = 0; i < self->wvv.n; i++) {
        if (!self->wvv_dirty[i]) continue;
        uint8_t b[8];
        wcursor w = wc_init(b, sizeof b);
        wc_u64(&w, self->wvv.e[i].seq);
        MDB_val k = {strlen(self->wvv.e[i].origin), self->wvv.e[i].origin}, v = {sizeof b, b};
        int rc = mdb_put(txn, self->dbi_vv, &k, &v, 0);
        if (rc) return rc;
    }
    return 0;
}

/* Whether the working vv can hold origin. */
static bool wvv_room(const store *self, const char *origin)
{
    return vv_find(&self->wvv, origin) >= 0 || self->wvv.n < STORE_VV_MAX;
}

static void wvv_advance(store *self, const char *origin, uint64_t seq)
{
    if (store_vv_set(&self->wvv, origin, seq) == 0) self->wvv_dirty[vv_find(&self->wvv, origin)] = true;
}

/* Merges rec into "clients"; *merged receives what the store holds afterwards (rec and
 * merged must not overlap). Counts actual writes in *written. Returns an MDB code. */
static int merge_record(store *self, MDB_txn *txn, const store_record *rec, store_record *merged,
                        uint64_t *written)
{
    uint8_t key[STORE_KEY_LEN];
    make_key(key, rec->app, rec->cmid);
    MDB_val k = {sizeof key, key}, v;
    *merged = *rec;
    int rc = mdb_get(txn, self->dbi_clients, &k, &v);
    if (rc == 0) {
        store_record old;
        if (decode_value(&k, &v, &old)) {
            *merged = old;
            if (!store_record_merge(merged, rec)) return 0; /* nothing new */
        }
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    uint8_t buf[STORE_RECORD_WIRE_MAX];
    int n = store_record_encode(merged, buf, sizeof buf);
    if (n < 0) return MDB_BAD_VALSIZE; /* cannot happen: checked when queued */
    v.mv_size = (size_t)n;
    v.mv_data = buf;
    rc = mdb_put(txn, self->dbi_clients, &k, &v, 0);
    if (!rc) (*written)++;
    return rc;
}

static int log_append(store *self, MDB_txn *txn, const char *origin, uint64_t seq, int64_t logged_ms,
                      const store_record *rec)
{
    uint8_t kb[LOG_KEY_MAX], vb[LOG_VAL_MAX];
    size_t klen = log_key(kb, origin, origin_len(origin), seq);
    int n = log_value(vb, logged_ms, rec);
    if (n < 0) return MDB_BAD_VALSIZE;
    MDB_val k = {klen, kb}, v = {(size_t)n, vb};
    return mdb_put(txn, self->dbi_log, &k, &v, 0);
}

/* The ops of the batch that change records, in queue order. Sets op->status; returns an
 * MDB code (the transaction is then aborted). */
static int apply_op(store *self, MDB_txn *txn, store_op *op, int64_t now, uint64_t *written)
{
    store_record merged;
    int rc = 0;
    op->status = 0;
    switch (op->kind) {
    case OP_PUT:
        return merge_record(self, txn, &op->rec, &merged, written);
    case OP_PUT_LOGGED: {
        uint64_t have = store_vv_get(&self->wvv, op->origin);
        if (!wvv_room(self, op->origin) || have == UINT64_MAX) {
            op->status = KMS_ETOOBIG;
            return 0;
        }
        op->seq = have + 1;
        rc = merge_record(self, txn, &op->rec, &merged, written);
        /* The update carries the merged record: everything this node knows about the
         * key, first_seen included. (If the batch is replayed after growing the map,
         * merging the merged record again gives the same result.) */
        if (!rc) op->rec = merged;
        if (!rc) rc = log_append(self, txn, op->origin, op->seq, now, &op->rec);
        if (!rc) wvv_advance(self, op->origin, op->seq);
        return rc;
    }
    case OP_APPLY: {
        uint64_t have = store_vv_get(&self->wvv, op->origin);
        if (op->seq <= have) {
            op->status = 1;
            return 0;
        }
        if (op->seq - 1 != have) {
            op->status = 2;
            return 0;
        }
        if (!wvv_room(self, op->origin)) {
            op->status = KMS_ETOOBIG;
            return 0;
        }
        if (!op->no_merge) rc = merge_record(self, txn, &op->rec, &merged, written);
        /* Logged as its origin issued it, so (origin, seq) means the same on every node. */
        if (!rc) rc = log_append(self, txn, op->origin, op->seq, now, &op->rec);
        if (!rc) wvv_advance(self, op->origin, op->seq);
        return rc;
    }
    case OP_SNAPSHOT: {
        snap_batch *sb = op->snap;
        if (sb->has_adopt) {
            int add = 0;
            for (int j = 0; j < sb->adopt.n; j++)
                if (sb->adopt.e[j].seq > 0 && vv_find(&self->wvv, sb->adopt.e[j].origin) < 0) add++;
            if (self->wvv.n + add > STORE_VV_MAX) {
                op->status = KMS_ETOOBIG;
                return 0;
            }
        }
        for (size_t j = 0; j < sb->n && !rc; j++) rc = merge_record(self, txn, &sb->recs[j], &merged, written);
        if (!rc && sb->has_adopt)
            for (int j = 0; j < sb->adopt.n; j++)
                if (sb->adopt.e[j].seq > store_vv_get(&self->wvv, sb->adopt.e[j].origin))
                    wvv_advance(self, sb->adopt.e[j].origin, sb->adopt.e[j].seq);
        return rc;
    }
    default:
        return 0;
    }
}

static bool is_txn_op(int kind)
{
    return kind == OP_PUT || kind == OP_PUT_LOGGED || kind == OP_APPLY || kind == OP_SNAPSHOT;
}

/* Applies every record-changing op of the batch in one transaction and commits it; when
 * logged, the working vv (self->wvv) is loaded from LMDB first and written back. Returns
 * an MDB code. */
static int apply_writes(store *self, opvec *batch, bool logged, uint64_t *written, uint64_t *entries)
{
    MDB_txn *txn;
    int rc = txn_begin_locked(self, 0, &txn);
    if (rc) return rc;
    *written = 0;
    int64_t now = clock_wall_ms();
    if (logged) {
        memset(self->wvv_dirty, 0, sizeof self->wvv_dirty);
        rc = store_lmdb_read_vv(txn, self->dbi_vv, &self->wvv);
    }
    for (size_t i = 0; i < batch->n && !rc; i++)
        if (is_txn_op(batch->v[i].kind)) rc = apply_op(self, txn, &batch->v[i], now, written);
    if (!rc && logged) rc = write_vv(self, txn);
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

/* A write transaction (txn_lock held) with a cursor on dbi, for a prune chunk; on
 * failure nothing is left open. End it with chunk_abort or mdb_txn_commit + txn_unlock. */
static int chunk_begin(store *self, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur)
{
    int rc = txn_begin_locked(self, 0, txn);
    if (rc) return rc;
    rc = mdb_cursor_open(*txn, dbi, cur);
    if (rc) {
        mdb_txn_abort(*txn);
        txn_unlock(self);
    }
    return rc;
}

static int chunk_abort(store *self, MDB_txn *txn, int rc)
{
    mdb_txn_abort(txn);
    txn_unlock(self);
    return rc;
}

/* One chunk of a prune: visits at most STORE_PRUNE_CHUNK records from op's resume key on,
 * deletes those last seen before before_ms, commits, and sets op->more (with the key to
 * resume at) when records are left to visit. A chunk is a few milliseconds of the
 * writer's time, so writes queued meanwhile wait for one chunk, not for the whole store. */
static int apply_prune(store *self, store_op *op, uint64_t *commits, uint64_t *entries)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = chunk_begin(self, self->dbi_clients, &txn, &cur);
    if (rc) return rc;
    MDB_val k = {sizeof op->resume, op->resume}, v;
    rc = mdb_cursor_get(cur, &k, &v, op->have_resume ? MDB_SET_RANGE : MDB_FIRST);
    bool more = false;
    size_t visited = 0;
    uint8_t next[STORE_KEY_LEN];
    while (rc == 0) {
        if (visited >= STORE_PRUNE_CHUNK && k.mv_size == STORE_KEY_LEN) {
            memcpy(next, k.mv_data, STORE_KEY_LEN);
            more = true;
            break;
        }
        visited++;
        store_record rec;
        if (decode_value(&k, &v, &rec) && rec.last_seen_ms < op->before_ms) {
            rc = mdb_cursor_del(cur, 0);
            if (rc) break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) return chunk_abort(self, txn, rc);
    MDB_stat st;
    if (mdb_stat(txn, self->dbi_clients, &st) == 0) *entries = st.ms_entries;
    rc = mdb_txn_commit(txn);
    txn_unlock(self);
    if (rc) return rc;
    (*commits)++;
    op->more = more;
    if (more) {
        memcpy(op->resume, next, STORE_KEY_LEN);
        op->have_resume = true;
    }
    return 0;
}

/* Deletes, per origin, the run of oldest log entries logged before before_ms, at most
 * STORE_PRUNE_CHUNK per transaction (each pass starts again from the first entry of each
 * origin, which is cheap: the pruned prefixes are gone). The entries of one origin are
 * logged in seq order, so with a wall clock that does not step back this deletes exactly
 * the entries logged before before_ms; either way it never punches a hole into what
 * remains of an origin's log. Entries that do not parse are deleted. */
static int apply_log_prune(store *self, store_op *op, uint64_t *commits)
{
    op->more = false;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = chunk_begin(self, self->dbi_log, &txn, &cur);
    if (rc) return rc;
    size_t deleted = 0;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && deleted < STORE_PRUNE_CHUNK) {
        int64_t t;
        char origin[STORE_ORIGIN_MAX];
        uint64_t seq;
        if (!log_value_parse(&v, &t, NULL) || !log_key_parse(&k, origin, &seq) || t < op->before_ms) {
            rc = mdb_cursor_del(cur, 0);
            if (rc) break;
            deleted++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        } else {
            rc = log_next_origin(cur, &k, &v);
        }
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) return chunk_abort(self, txn, rc);
    if (deleted == 0) return chunk_abort(self, txn, 0);
    rc = mdb_txn_commit(txn);
    txn_unlock(self);
    if (rc) return rc;
    (*commits)++;
    op->more = deleted >= STORE_PRUNE_CHUNK;
    return 0;
}

static void process_batch(store *self, opvec *batch)
{
    size_t writes = 0;
    bool logged = false;
    for (size_t i = 0; i < batch->n; i++) {
        if (!is_txn_op(batch->v[i].kind)) continue;
        writes++;
        if (batch->v[i].kind != OP_PUT) logged = true;
    }

    uint64_t entries = UINT64_MAX, written = 0, commits = 0, failures = 0;
    double t0 = clock_mono_ms(), dt = -1;
    bool vv_changed = false;
    if (writes) {
        int rc = apply_writes(self, batch, logged, &written, &entries);
        for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && grow_map(self) == 0; g++)
            rc = apply_writes(self, batch, logged, &written, &entries);
        if (rc == 0) commits++; else failures++;
        if (rc) written = 0;
        vv_changed = rc == 0 && logged;
        dt = clock_mono_ms() - t0;
        for (size_t i = 0; i < batch->n; i++) {
            store_op *op = &batch->v[i];
            if (rc && is_txn_op(op->kind)) op->status = cause(rc);
            if (op->kind == OP_PUT_LOGGED && op->status < 0) op->seq = 0; /* none assigned */
        }
        free_snapshots(batch);
    }
    for (size_t i = 0; i < batch->n; i++) {
        store_op *op = &batch->v[i];
        if (op->kind != OP_PRUNE && op->kind != OP_LOG_PRUNE) continue;
        int rc;
        if (op->kind == OP_PRUNE) {
            rc = apply_prune(self, op, &commits, &entries);
            for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && grow_map(self) == 0; g++)
                rc = apply_prune(self, op, &commits, &entries);
        } else {
            rc = apply_log_prune(self, op, &commits);
            for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && grow_map(self) == 0; g++)
                rc = apply_log_prune(self, op, &commits);
        }
        if (rc) { failures++; op->more = false; }
        op->status = cause(rc);
    }
    size_t carry = 0; /* prunes with chunks to go (requeued below) */
    for (size_t i = 0; i < batch->n; i++)
        if ((batch->v[i].kind == OP_PRUNE || batch->v[i].kind == OP_LOG_PRUNE) && batch->v[i].more) carry++;
    if (entries != UINT64_MAX) update_sizes(self, entries);

    pthread_mutex_lock(&self->mu);
    if (carry) {
        /* Prunes with chunks to go are not done: they move back to the queue, behind the
         * writes that arrived meanwhile (which the next batch commits first). Without
         * memory for that they end here, as failed. */
        bool requeue = opvec_reserve(&self->pending, self->pending.n + carry) == 0;
        if (requeue && self->pending.n == 0) clock_gettime(CLOCK_MONOTONIC, &self->pending_since);
        size_t kept = 0;
        for (size_t i = 0; i < batch->n; i++) {
            store_op *op = &batch->v[i];
            bool more = (op->kind == OP_PRUNE || op->kind == OP_LOG_PRUNE) && op->more;
            if (more && requeue) {
                self->pending.v[self->pending.n++] = *op;
                continue;
            }
            if (more) op->status = KMS_ESTORE;
            batch->v[kept++] = *op;
        }
        batch->n = kept;
    }
    if (vv_changed) self->vv = self->wvv; /* before any callback of this batch runs */
    self->stats.commits += commits;
    self->stats.records_written += written;
    self->stats.failures += failures;
    if (dt >= 0) {
        self->stats.last_commit_ms = dt;
        self->stats.commit_sum_ms += dt;
        if (dt > self->stats.commit_max_ms) self->stats.commit_max_ms = dt;
        for (int b = 0; b < STORE_COMMIT_BUCKETS; b++)
            if (dt <= store_commit_bounds_ms[b]) { self->stats.commit_bucket[b]++; break; }
    }
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

static struct timespec timespec_after(struct timespec ts, uint32_t ms)
{
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
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
            /* The optional extra wait: gather what arrives until the oldest queued write
             * has waited commit_delay_ms (no wait when it queued up during the previous
             * commit). Counted, so an operator can see the window at work. */
            struct timespec until = timespec_after(self->pending_since, self->commit_delay_ms);
            bool waited = false;
            while (!self->stopping && self->pending.n < STORE_QUEUE_MAX / 2) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
                    break;
                waited = true;
                if (pthread_cond_timedwait(&self->cv, &self->mu, &until) == ETIMEDOUT) break;
            }
            if (waited) self->stats.window_waits++;
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

/* Opens the DBs, checks the schema version (upgrading a schema-1 store: the new DBs are
 * created empty, which is what a store without replication history has) and loads the
 * version vector. */
static int open_dbs(store *self, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (rc) goto fail;
    if ((rc = mdb_dbi_open(txn, "clients", MDB_CREATE, &self->dbi_clients))) goto abort;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &self->dbi_meta))) goto abort;
    MDB_val k = {6, (void *)"schema"}, v;
    rc = mdb_get(txn, self->dbi_meta, &k, &v);
    uint32_t schema = 0;
    if (rc == 0) {
        rcursor r = rc_init(v.mv_data, v.mv_size);
        schema = rc_u32(&r);
        if (r.err || schema < STORE_SCHEMA_OLDEST || schema > STORE_SCHEMA) {
            mdb_txn_abort(txn);
            if (err && errlen)
                snprintf(err, errlen, "store schema %u is not supported (%u to %u are)", (unsigned)schema,
                         STORE_SCHEMA_OLDEST, STORE_SCHEMA);
            return KMS_EVERSION;
        }
    } else if (rc != MDB_NOTFOUND) {
        goto abort;
    }
    if ((rc = mdb_dbi_open(txn, "log", MDB_CREATE, &self->dbi_log))) goto abort;
    if ((rc = mdb_dbi_open(txn, "vv", MDB_CREATE, &self->dbi_vv))) goto abort;
    if (schema != STORE_SCHEMA) {
        uint8_t b[4];
        wcursor w = wc_init(b, sizeof b);
        wc_u32(&w, STORE_SCHEMA);
        v.mv_size = sizeof b;
        v.mv_data = b;
        if ((rc = mdb_put(txn, self->dbi_meta, &k, &v, 0))) goto abort;
    }
    if ((rc = store_lmdb_read_vv(txn, self->dbi_vv, &self->vv))) goto abort;
    MDB_stat st;
    if ((rc = mdb_stat(txn, self->dbi_clients, &st))) goto abort;
    self->stats.entries = st.ms_entries;
    if ((rc = mdb_txn_commit(txn))) goto fail;
    return 0;
abort:
    mdb_txn_abort(txn);
fail:
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID || rc == MDB_INCOMPATIBLE) {
        if (err && errlen) snprintf(err, errlen, "data.mdb is damaged: opening its databases: %s", mdb_strerror(rc));
        return KMS_EDAMAGED;
    }
    if (err && errlen) snprintf(err, errlen, "opening store databases: %s", mdb_strerror(rc));
    return KMS_ESTORE;
}

typedef struct open_args {
    store *self;
    char *err;
    size_t errlen;
} open_args;

static int open_dbs_guarded(void *arg)
{
    open_args *a = arg;
    return open_dbs(a->self, a->err, a->errlen);
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
    if (status) *status = 0;
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
    free_snapshots(&self->pending); /* none: the writer drained it; defensive */
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
        if (self->pending.n == 1) clock_gettime(CLOCK_MONOTONIC, &self->pending_since);
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

static int queue_prune(store *self, int kind, int64_t before_ms, store_done_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    store_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.done = done;
    op.arg = arg;
    op.before_ms = before_ms;
    return enqueue(self, &op, false);
}

int store_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg)
{
    return queue_prune(self, OP_PRUNE, before_ms, done, arg);
}

int store_each(store *self, store_each_fn fn, void *ctx)
{
    MDB_txn *txn;
    int brc = txn_begin_locked(self, MDB_RDONLY, &txn);
    if (brc) return cause(brc);
    int rc = store_lmdb_each(txn, self->dbi_clients, fn, ctx);
    mdb_txn_abort(txn);
    txn_unlock(self);
    return cause(rc);
}

/* The cursor store_lmdb_each has open on this thread (store_lmdb_each_cursor). */
static __thread MDB_cursor *each_cursor;

void *store_lmdb_each_cursor(void)
{
    return each_cursor;
}

int store_lmdb_each(MDB_txn *txn, MDB_dbi dbi, store_each_fn fn, void *ctx)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) return rc;
    each_cursor = cur;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        store_record rec;
        /* A record that does not decode is damage, not the end of the data (kmsd checks
         * the whole store at start: store_verify). */
        if (!decode_value(&k, &v, &rec)) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (fn(ctx, &rec) != 0) break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    each_cursor = NULL;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_get(store *self, uint8_t app, const uint8_t cmid[16], store_record *out)
{
    MDB_txn *txn;
    int brc = txn_begin_locked(self, MDB_RDONLY, &txn);
    if (brc) return cause(brc);
    uint8_t key[STORE_KEY_LEN];
    make_key(key, app, cmid);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_get(txn, self->dbi_clients, &k, &v);
    int ret;
    if (rc == MDB_NOTFOUND) ret = KMS_ENOTFOUND;
    else if (rc) ret = cause(rc);
    else ret = decode_value(&k, &v, out) ? 0 : KMS_ESTORE;
    mdb_txn_abort(txn);
    txn_unlock(self);
    return ret;
}

/* ---- verification ---- */

typedef struct verify_state {
    uint64_t records, log_entries, vv_entries;
    char what[200];
} verify_state;

/* Walks one database; check() says whether an entry is sound. Returns an MDB code, or 1
 * (with vs->what filled) at the first unsound entry. */
static int verify_db(MDB_txn *txn, MDB_dbi dbi, const char *name, bool (*check)(const MDB_val *, const MDB_val *),
                     uint64_t *count, verify_state *vs)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) return rc;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (!check(&k, &v)) {
            snprintf(vs->what, sizeof vs->what, "entry %" PRIu64 " of the \"%s\" database does not decode", *count + 1,
                     name);
            mdb_cursor_close(cur);
            return 1;
        }
        (*count)++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static bool check_client(const MDB_val *k, const MDB_val *v)
{
    store_record rec;
    /* Also what the count index accepts: a time within its 44 bits. */
    return decode_value(k, v, &rec) && rec.last_seen_ms >= 0 && rec.last_seen_ms < ((int64_t)1 << 44) &&
           rec.first_seen_ms >= 0 && rec.first_seen_ms <= rec.last_seen_ms;
}

static bool check_log(const MDB_val *k, const MDB_val *v)
{
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
    int64_t t;
    store_record rec;
    return log_key_parse(k, origin, &seq) && seq > 0 && log_value_parse(v, &t, &rec);
}

static bool check_vv(const MDB_val *k, const MDB_val *v)
{
    return k->mv_size > 0 && k->mv_size < STORE_ORIGIN_MAX && !memchr(k->mv_data, 0, k->mv_size) && v->mv_size == 8;
}

static bool check_any(const MDB_val *k, const MDB_val *v)
{
    (void)k;
    (void)v;
    return true;
}

typedef struct verify_args {
    store *self;
    verify_state *vs;
} verify_args;

static int verify_all(void *arg)
{
    verify_args *a = arg;
    store *self = a->self;
    verify_state *vs = a->vs;
    MDB_txn *txn;
    int rc = txn_begin_locked(self, MDB_RDONLY, &txn);
    if (rc) return rc;
    uint64_t other = 0;
    /* LMDB's own databases too: the free-page list (a write reads it) and the names. */
    rc = verify_db(txn, 0, "free pages", check_any, &other, vs);
    if (!rc) rc = verify_db(txn, 1, "main", check_any, &other, vs);
    if (!rc) rc = verify_db(txn, self->dbi_clients, "clients", check_client, &vs->records, vs);
    if (!rc) rc = verify_db(txn, self->dbi_log, "log", check_log, &vs->log_entries, vs);
    if (!rc) rc = verify_db(txn, self->dbi_vv, "vv", check_vv, &vs->vv_entries, vs);
    mdb_txn_abort(txn);
    txn_unlock(self);
    return rc;
}

int store_verify(store *self, uint64_t *records, char *err, size_t errlen)
{
    if (!self) return KMS_ESTORE;
    verify_state vs;
    memset(&vs, 0, sizeof vs);
    verify_args a = {self, &vs};
    int rc = store_fault_guarded(verify_all, &a);
    if (records) *records = vs.records;
    if (rc == 0) return 0;
    if (rc < 0)
        snprintf(vs.what, sizeof vs.what, "reading it faulted (signal %d) after %" PRIu64 " records", -rc, vs.records);
    else if (rc != 1)
        snprintf(vs.what, sizeof vs.what, "LMDB: %s after %" PRIu64 " records", mdb_strerror(rc), vs.records);
    if (err && errlen) snprintf(err, errlen, "data.mdb is damaged: %s", vs.what);
    return KMS_ESTORE;
}

void store_get_stats(store *self, store_stats *out)
{
    pthread_mutex_lock(&self->mu);
    *out = self->stats;
    out->queued = self->pending.n;
    pthread_mutex_unlock(&self->mu);
}

/* ---- replication ---- */

int store_set_origin(store *self, const char *origin)
{
    size_t len = origin_len(origin);
    if (!self || !len) return KMS_EINVAL;
    pthread_mutex_lock(&self->mu);
    memset(self->origin, 0, sizeof self->origin);
    memcpy(self->origin, origin, len);
    pthread_mutex_unlock(&self->mu);
    return 0;
}

int store_put_logged_async(store *self, const store_record *rec, store_update_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if (!rec || rec->app >= KMS_APP_COUNT) return KMS_EINVAL;
    store_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_PUT_LOGGED;
    op.udone = done;
    op.arg = arg;
    op.rec = *rec;
    terminate_strings(&op.rec);
    pthread_mutex_lock(&self->mu);
    memcpy(op.origin, self->origin, sizeof op.origin);
    pthread_mutex_unlock(&self->mu);
    if (!op.origin[0]) return KMS_EINVAL; /* store_set_origin was not called */
    return enqueue(self, &op, true);
}

static int queue_apply(store *self, const store_update *u, bool no_merge, store_update_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if (!u || !origin_len(u->origin) || u->seq == 0 || u->rec.app >= KMS_APP_COUNT) return KMS_EINVAL;
    store_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_APPLY;
    op.no_merge = no_merge;
    op.udone = done;
    op.arg = arg;
    memcpy(op.origin, u->origin, origin_len(u->origin));
    op.seq = u->seq;
    op.rec = u->rec;
    terminate_strings(&op.rec);
    return enqueue(self, &op, true);
}

int store_apply_async(store *self, const store_update *u, store_update_fn done, void *arg)
{
    return queue_apply(self, u, false, done, arg);
}

int store_apply_refused_async(store *self, const store_update *u, store_update_fn done, void *arg)
{
    return queue_apply(self, u, true, done, arg);
}

int store_apply_snapshot_async(store *self, const store_record *recs, size_t n,
                               const store_vv *adopt, store_update_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if ((n && !recs) || (adopt && (adopt->n < 0 || adopt->n > STORE_VV_MAX))) return KMS_EINVAL;
    if (n > STORE_QUEUE_MAX) return KMS_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if (recs[i].app >= KMS_APP_COUNT) return KMS_EINVAL;
    for (int i = 0; adopt && i < adopt->n; i++)
        if (!origin_len(adopt->e[i].origin)) return KMS_EINVAL;
    snap_batch *sb = malloc(sizeof *sb + n * sizeof sb->recs[0]);
    if (!sb) return KMS_ENOMEM;
    sb->n = n;
    sb->has_adopt = adopt != NULL;
    memset(&sb->adopt, 0, sizeof sb->adopt);
    for (int i = 0; adopt && i < adopt->n; i++) /* copied by name: no bytes after the NUL */
        store_vv_set(&sb->adopt, adopt->e[i].origin, adopt->e[i].seq);
    for (size_t i = 0; i < n; i++) {
        sb->recs[i] = recs[i];
        terminate_strings(&sb->recs[i]);
    }
    store_op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_SNAPSHOT;
    op.udone = done;
    op.arg = arg;
    op.snap = sb;
    int rc = enqueue(self, &op, true);
    if (rc) free(sb);
    return rc;
}

void store_get_vv(store *self, store_vv *out)
{
    if (!self) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&self->mu);
    *out = self->vv;
    pthread_mutex_unlock(&self->mu);
}

int store_log_read(store *self, const char *origin, uint64_t from_seq, store_update *out, size_t max)
{
    if (!self) return KMS_ESTORE;
    size_t olen = origin_len(origin);
    if (!olen || (max && !out)) return KMS_EINVAL;
    MDB_txn *txn;
    MDB_cursor *cur;
    int brc = txn_begin_locked(self, MDB_RDONLY, &txn);
    if (brc) return cause(brc);
    int ret = 0;
    if (mdb_cursor_open(txn, self->dbi_log, &cur) != 0) {
        ret = KMS_ESTORE;
        goto done;
    }
    uint8_t kb[LOG_KEY_MAX];
    MDB_val k = {log_key(kb, origin, olen, from_seq), kb}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) ret = KMS_ENOTFOUND;
    else if (rc) ret = cause(rc);
    uint64_t want = from_seq;
    while (rc == 0 && (size_t)ret < max) {
        char o[STORE_ORIGIN_MAX];
        uint64_t seq;
        int64_t t;
        if (!log_key_parse(&k, o, &seq) || strcmp(o, origin) != 0 || seq != want) break; /* a hole */
        store_update *u = &out[ret];
        if (!log_value_parse(&v, &t, &u->rec)) {
            if (ret == 0) ret = KMS_ESTORE; /* from_seq is there but unreadable */
            break;
        }
        memset(u->origin, 0, sizeof u->origin);
        memcpy(u->origin, o, olen);
        u->seq = seq;
        ret++;
        if (want == UINT64_MAX) break;
        want++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND && ret >= 0) ret = cause(rc);
    mdb_cursor_close(cur);
done:
    mdb_txn_abort(txn);
    txn_unlock(self);
    return ret;
}

int store_snapshot_read(store *self, uint8_t cursor[STORE_KEY_LEN], size_t *cursor_len,
                        store_record *out, size_t max, store_vv *vv_at_start)
{
    if (!self) return KMS_ESTORE;
    if (!cursor || !cursor_len || (*cursor_len != 0 && *cursor_len != STORE_KEY_LEN) || (max && !out))
        return KMS_EINVAL;
    MDB_txn *txn;
    MDB_cursor *cur;
    int brc = txn_begin_locked(self, MDB_RDONLY, &txn);
    if (brc) return cause(brc);
    int ret = 0, rc;
    if (*cursor_len == 0 && vv_at_start && store_lmdb_read_vv(txn, self->dbi_vv, vv_at_start) != 0) {
        ret = KMS_ESTORE;
        goto done;
    }
    if (max == 0) goto done;
    if ((rc = mdb_cursor_open(txn, self->dbi_clients, &cur)) != 0) {
        ret = KMS_ESTORE;
        goto done;
    }
    uint8_t start[STORE_KEY_LEN];
    MDB_val k = {STORE_KEY_LEN, start}, v;
    if (*cursor_len == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        memcpy(start, cursor, STORE_KEY_LEN);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == STORE_KEY_LEN && memcmp(k.mv_data, start, STORE_KEY_LEN) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    while (rc == 0 && (size_t)ret < max) {
        /* A record that does not decode is skipped (as store_each does), but the cursor
         * moves past it so the next call makes progress. */
        if (decode_value(&k, &v, &out[ret])) ret++;
        if (k.mv_size == STORE_KEY_LEN) {
            memcpy(cursor, k.mv_data, STORE_KEY_LEN);
            *cursor_len = STORE_KEY_LEN;
        }
        if ((size_t)ret < max) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND) ret = cause(rc);
    mdb_cursor_close(cur);
done:
    mdb_txn_abort(txn);
    txn_unlock(self);
    return ret;
}

int store_log_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg)
{
    return queue_prune(self, OP_LOG_PRUNE, before_ms, done, arg);
}

void store_log_stats(store *self, uint64_t *entries, int64_t *oldest_ms)
{
    uint64_t n = 0;
    int64_t oldest = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    if (self && txn_begin_locked(self, MDB_RDONLY, &txn) == 0) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi_log, &st) == 0) n = st.ms_entries;
        /* Each origin's entries are logged in seq order, so its first entry is its oldest:
         * one look-up per origin instead of a scan. */
        if (n && mdb_cursor_open(txn, self->dbi_log, &cur) == 0) {
            MDB_val k, v;
            int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            while (rc == 0) {
                int64_t t;
                if (log_value_parse(&v, &t, NULL) && (oldest == 0 || t < oldest)) oldest = t;
                rc = log_next_origin(cur, &k, &v);
            }
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
        txn_unlock(self);
    }
    if (entries) *entries = n;
    if (oldest_ms) *oldest_ms = oldest;
}

uint64_t store_log_bytes(store *self)
{
    uint64_t bytes = 0;
    MDB_txn *txn;
    if (self && txn_begin_locked(self, MDB_RDONLY, &txn) == 0) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi_log, &st) == 0)
            bytes = (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
        mdb_txn_abort(txn);
        txn_unlock(self);
    }
    return bytes;
}
