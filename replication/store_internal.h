/* store_internal.h: what the store's files (replication/store*.c) share and nobody else
 * sees: the store struct, the queued operation, and the helpers one file keeps for the
 * others. store.h stays the module's whole public API; store_lmdb.h the two readers for
 * kmsctl's read-only opening. Threads: the loop queues ops (store_put.c, store_prune.c,
 * store_snapshot.c), the writer thread applies them (store_writer.c, store_apply.c); the
 * working version vector (wvv) belongs to the writer thread alone. */
#ifndef KMSHA_STORE_INTERNAL_H
#define KMSHA_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "replication/store.h"
#include "replication/store_lmdb.h"

struct event;
struct event_base;

#define STORE_QUEUE_MAX 65536     /* queued writes before store_put_async refuses */
#define LOG_KEY_MAX (1 + (STORE_ORIGIN_MAX - 1) + 8)

/* What a queued op does. */
enum { OP_PUT, OP_PRUNE, OP_PUT_LOGGED, OP_APPLY, OP_SNAPSHOT, OP_LOG_PRUNE, OP_RETIRE, OP_OWED };

/* The records (and vv to adopt) of one store_apply_snapshot_async call, owned by its op. */
typedef struct snap_batch {
    size_t n;
    bool has_adopt;
    store_vv adopt;
    store_record recs[];
} snap_batch;

/* One queued operation: the loop fills it, the writer sets status (and seq, rec), the
 * loop runs its callback. */
typedef struct store_op {
    int kind;
    int status;
    store_done_fn done;           /* OP_PUT, OP_PRUNE, OP_LOG_PRUNE, OP_RETIRE, OP_OWED */
    store_update_fn udone;        /* OP_PUT_LOGGED, OP_APPLY, OP_SNAPSHOT */
    void *arg;
    int64_t before_ms;            /* OP_PRUNE, OP_LOG_PRUNE */
    bool more;                    /* OP_PRUNE, OP_LOG_PRUNE: another chunk to go */
    bool have_resume;             /* OP_PRUNE: resume at this key */
    uint8_t resume[STORE_KEY_LEN];
    uint64_t seq;                 /* OP_APPLY, OP_RETIRE; OP_PUT_LOGGED: assigned at commit */
    snap_batch *snap;             /* OP_SNAPSHOT (freed by the writer once committed) */
    bool no_merge;                /* OP_APPLY: log the update and advance vv, keep the record out */
    bool owed;                    /* OP_OWED: set (true) or clear the flag of peer "origin" */
    char origin[STORE_ORIGIN_MAX];/* OP_PUT_LOGGED, OP_APPLY, OP_RETIRE */
    store_record rec;             /* OP_PUT, OP_APPLY; OP_PUT_LOGGED: the merged record once committed */
} store_op;

/* A growable array of ops (the queue, a batch, the finished ops). */
typedef struct opvec {
    store_op *v;
    size_t n, cap;
} opvec;

struct store {
    MDB_env *env;
    MDB_dbi dbi_clients, dbi_meta, dbi_log, dbi_vv, dbi_retired;
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

/* An op of kind with its callback (done for puts and prunes, udone for the ops that
 * report an update) and everything else zero. */
static inline store_op store_op_make(int kind, store_done_fn done, store_update_fn udone, void *arg)
{
    store_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.done = done;
    op.udone = udone;
    op.arg = arg;
    return op;
}

/* store_record.c */
/* Terminates the record's fixed strings (a caller's record may not be). */
void store_record_terminate(store_record *r);

/* store_txn.c: LMDB plumbing */
/* The status for LMDB's rc (an MDB_* code, or an errno from a system call it made). */
int store_cause(int rc);
/* Begins a transaction with txn_lock held for reading; on success the caller must end
 * the transaction and then call store_txn_unlock. */
int store_txn_begin(store *self, unsigned flags, MDB_txn **txn);
void store_txn_unlock(store *self);
void store_make_key(uint8_t key[STORE_KEY_LEN], uint8_t app, const uint8_t cmid[16]);
/* store_entry_decode on LMDB's values. */
bool store_decode_value(const MDB_val *k, const MDB_val *v, store_record *rec);
/* Doubles the map (writer thread, no transaction of ours active). MDB code. */
int store_grow_map(store *self);
/* Refreshes entries and map use (writer thread, after a commit; and at open). */
void store_update_sizes(store *self, uint64_t entries);
/* Calls each(k, v, arg) for the entries of dbi in key order until one returns non-zero.
 * Returns that value, 0 after the last entry, or LMDB's code. */
typedef int (*store_db_visit)(const MDB_val *k, const MDB_val *v, void *arg);
int store_db_each(MDB_txn *txn, MDB_dbi dbi, store_db_visit each, void *arg);

/* store_vv.c */
/* Length of a valid origin (1 .. STORE_ORIGIN_MAX - 1 bytes, NUL-terminated within
 * STORE_ORIGIN_MAX), or 0. */
size_t store_origin_len(const char *origin);
/* Index of origin in vv, or -1. */
int store_vv_find(const store_vv *vv, const char *origin);
/* Decodes one entry of the "vv" database (key: the origin, value: its sequence number,
 * 8 bytes big-endian). False when the entry is malformed. */
bool store_vv_entry_decode(const MDB_val *k, const MDB_val *v, char origin[STORE_ORIGIN_MAX], uint64_t *seq);
/* Writes the working vv entries changed in this transaction (MDB code). */
int store_vv_write(store *self, MDB_txn *txn);
/* Whether the working vv can hold origin. */
bool store_wvv_room(const store *self, const char *origin);
/* What this node holds of origin in the open write transaction: its working vv entry, or
 * when it has none the sequence it was retired at ("retired" DB), or 0. MDB code in *rc. */
uint64_t store_wvv_have(store *self, MDB_txn *txn, const char *origin, int *rc);
/* Sets origin's entry of the working vv to seq and marks it to be written; an origin that
 * was retired comes back (its "retired" entry is deleted). Returns an MDB code. */
int store_wvv_advance(store *self, MDB_txn *txn, const char *origin, uint64_t seq);
/* Retires origin when its working vv entry is exactly seq: the entry moves from "vv" to
 * "retired". Sets *done (false: not retired, nothing changed). Returns an MDB code. */
int store_wvv_retire(store *self, MDB_txn *txn, const char *origin, uint64_t seq, bool *done);
/* Sets or clears "meta" key "owed-snapshot:PEER" (OP_OWED). Returns an MDB code. */
int store_owed_write(store *self, MDB_txn *txn, const char *peer, bool owed);

/* store_log.c */
size_t store_log_key(uint8_t k[LOG_KEY_MAX], const char *origin, size_t olen, uint64_t seq);
bool store_log_key_parse(const MDB_val *k, char origin[STORE_ORIGIN_MAX], uint64_t *seq);
/* Reads a log value; rec may be NULL when only the time is wanted. */
bool store_log_value_parse(const MDB_val *v, int64_t *logged_ms, store_record *rec);
/* Moves cur to the first log entry of the origin after the one of key k (MDB code). */
int store_log_next_origin(MDB_cursor *cur, MDB_val *k, MDB_val *v);
int store_log_append(store *self, MDB_txn *txn, const char *origin, uint64_t seq, int64_t logged_ms,
                     const store_record *rec);

/* store_apply.c */
/* Whether an op of kind changes records (runs in the batch's write transaction). */
bool store_is_txn_op(int kind);
/* Applies every record-changing op of the batch in one transaction and commits it (MDB
 * code); when logged, the working vv is loaded first and written back. */
int store_apply_writes(store *self, opvec *batch, bool logged, uint64_t *written, uint64_t *entries);

/* store_prune.c: one chunk of a prune op each (MDB code; op->more when chunks remain). */
int store_apply_prune(store *self, store_op *op, uint64_t *commits, uint64_t *entries);
int store_apply_log_prune(store *self, store_op *op, uint64_t *commits);

/* store_schema.c: opens the DBs, checks (and upgrades) the schema, loads the vv. */
int store_schema_open(store *self, char *err, size_t errlen);

/* store_writer.c */
/* Queues op for the writer (bounded: refuse with KMS_ENOMEM at STORE_QUEUE_MAX). */
int store_enqueue(store *self, const store_op *op, bool bounded);
/* Starts the completion event (when there is a loop) and the writer thread; on failure
 * returns an errno and names the step in *what. */
int store_writer_start(store *self, const char **what);
/* Stops the writer (it commits what is queued first), runs every callback still owed,
 * frees the queues and the completion event. */
void store_writer_stop(store *self);

#endif
