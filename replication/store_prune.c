/* store_prune.c: pruning, in chunks of STORE_PRUNE_CHUNK per write transaction so writes
 * queued meanwhile commit between them: client records last seen before a time
 * (store_prune_async) and the update log's entries logged before a time
 * (store_log_prune_async). */
#include "replication/store_internal.h"

#include <string.h>

#include "proto/errors.h"

#define STORE_PRUNE_CHUNK 2048    /* records visited (clients) / deleted (log) per prune
                                     transaction; writes queued meanwhile commit between */

/* A write transaction (txn_lock held) with a cursor on dbi, for a prune chunk; on
 * failure nothing is left open. End it with chunk_abort or mdb_txn_commit + txn_unlock. */
static int chunk_begin(store *self, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur)
{
    int rc = store_txn_begin(self, 0, txn);
    if (rc) return rc;
    rc = mdb_cursor_open(*txn, dbi, cur);
    if (rc) {
        mdb_txn_abort(*txn);
        store_txn_unlock(self);
    }
    return rc;
}

static int chunk_abort(store *self, MDB_txn *txn, int rc)
{
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return rc;
}

/* One chunk of a prune: visits at most STORE_PRUNE_CHUNK records from op's resume key on,
 * deletes those last seen before before_ms, commits, and sets op->more (with the key to
 * resume at) when records are left to visit. A chunk is a few milliseconds of the
 * writer's time, so writes queued meanwhile wait for one chunk, not for the whole store. */
int store_apply_prune(store *self, store_op *op, uint64_t *commits, uint64_t *entries)
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
        if (store_decode_value(&k, &v, &rec) && rec.last_seen_ms < op->before_ms) {
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
    store_txn_unlock(self);
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
int store_apply_log_prune(store *self, store_op *op, uint64_t *commits)
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
        if (!store_log_value_parse(&v, &t, NULL) || !store_log_key_parse(&k, origin, &seq) || t < op->before_ms) {
            rc = mdb_cursor_del(cur, 0);
            if (rc) break;
            deleted++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        } else {
            rc = store_log_next_origin(cur, &k, &v);
        }
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) return chunk_abort(self, txn, rc);
    if (deleted == 0) return chunk_abort(self, txn, 0);
    rc = mdb_txn_commit(txn);
    store_txn_unlock(self);
    if (rc) return rc;
    (*commits)++;
    op->more = deleted >= STORE_PRUNE_CHUNK;
    return 0;
}

static int queue_prune(store *self, int kind, int64_t before_ms, store_done_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    store_op op = store_op_make(kind, done, NULL, arg);
    op.before_ms = before_ms;
    return store_enqueue(self, &op, false);
}

int store_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg)
{
    return queue_prune(self, OP_PRUNE, before_ms, done, arg);
}

int store_log_prune_async(store *self, int64_t before_ms, store_done_fn done, void *arg)
{
    return queue_prune(self, OP_LOG_PRUNE, before_ms, done, arg);
}
