/* store_apply.c: what one batch's write transaction does with its ops. Every
 * record-changing operation of a batch (plain puts, logged local writes, remote updates
 * and snapshot batches) runs in queue order in the batch's one write transaction, which
 * also holds the update log and the version vector, so a record, its log entry and the vv
 * entry that covers it are durable together or not at all. The writer loads the vv from
 * LMDB at the start of each such transaction and compares/advances that working copy, so
 * updates queued in order apply in order even within one batch; after the commit the
 * in-memory copy that store_get_vv() returns is replaced under the stats mutex, before
 * any callback runs (store_writer.c). */
#include "replication/store_internal.h"

#include <string.h>

#include "proto/clock.h"
#include "proto/errors.h"

/* Merges rec into "clients"; *merged receives what the store holds afterwards (rec and
 * merged must not overlap). Counts actual writes in *written. Returns an MDB code. */
static int merge_record(store *self, MDB_txn *txn, const store_record *rec, store_record *merged,
                        uint64_t *written)
{
    uint8_t key[STORE_KEY_LEN];
    store_make_key(key, rec->app, rec->cmid);
    MDB_val k = {sizeof key, key}, v;
    *merged = *rec;
    int rc = mdb_get(txn, self->dbi_clients, &k, &v);
    if (rc == 0) {
        store_record old;
        if (store_decode_value(&k, &v, &old)) {
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
        uint64_t have = store_wvv_have(self, txn, op->origin, &rc);
        if (rc) return rc;
        if (!store_wvv_room(self, op->origin) || have == UINT64_MAX) {
            op->status = KMS_ETOOBIG;
            return 0;
        }
        op->seq = have + 1;
        rc = merge_record(self, txn, &op->rec, &merged, written);
        /* The update carries the merged record: everything this node knows about the
         * key, first_seen included. (If the batch is replayed after growing the map,
         * merging the merged record again gives the same result.) */
        if (!rc) op->rec = merged;
        if (!rc) rc = store_log_append(self, txn, op->origin, op->seq, now, &op->rec);
        if (!rc) rc = store_wvv_advance(self, txn, op->origin, op->seq);
        return rc;
    }
    case OP_APPLY: {
        /* A retired origin counts as held up to where it was retired. */
        uint64_t have = store_wvv_have(self, txn, op->origin, &rc);
        if (rc) return rc;
        if (op->seq <= have) {
            op->status = 1;
            return 0;
        }
        if (op->seq - 1 != have) {
            op->status = 2;
            return 0;
        }
        if (!store_wvv_room(self, op->origin)) {
            op->status = KMS_ETOOBIG;
            return 0;
        }
        if (!op->no_merge) rc = merge_record(self, txn, &op->rec, &merged, written);
        /* Logged as its origin issued it, so (origin, seq) means the same on every node. */
        if (!rc) rc = store_log_append(self, txn, op->origin, op->seq, now, &op->rec);
        if (!rc) rc = store_wvv_advance(self, txn, op->origin, op->seq);
        return rc;
    }
    case OP_OWED:
        return store_owed_write(self, txn, op->origin, op->owed);
    case OP_RETIRE: {
        bool done;
        rc = store_wvv_retire(self, txn, op->origin, op->seq, &done);
        op->status = done ? 0 : 1;
        return rc;
    }
    case OP_SNAPSHOT: {
        snap_batch *sb = op->snap;
        if (sb->has_adopt) {
            int add = 0;
            for (int j = 0; j < sb->adopt.n; j++)
                if (sb->adopt.e[j].seq > 0 && store_vv_find(&self->wvv, sb->adopt.e[j].origin) < 0) add++;
            if (self->wvv.n + add > STORE_VV_MAX) {
                op->status = KMS_ETOOBIG;
                return 0;
            }
        }
        for (size_t j = 0; j < sb->n && !rc; j++) rc = merge_record(self, txn, &sb->recs[j], &merged, written);
        for (int j = 0; !rc && sb->has_adopt && j < sb->adopt.n; j++) {
            uint64_t have = store_wvv_have(self, txn, sb->adopt.e[j].origin, &rc);
            if (!rc && sb->adopt.e[j].seq > have)
                rc = store_wvv_advance(self, txn, sb->adopt.e[j].origin, sb->adopt.e[j].seq);
        }
        return rc;
    }
    default:
        return 0;
    }
}

bool store_is_txn_op(int kind)
{
    return kind == OP_PUT || kind == OP_PUT_LOGGED || kind == OP_APPLY || kind == OP_SNAPSHOT || kind == OP_RETIRE ||
           kind == OP_OWED;
}

/* Applies every record-changing op of the batch in one transaction and commits it; when
 * logged, the working vv (self->wvv) is loaded from LMDB first and written back. Returns
 * an MDB code. */
int store_apply_writes(store *self, opvec *batch, bool logged, uint64_t *written, uint64_t *entries)
{
    MDB_txn *txn;
    int rc = store_txn_begin(self, 0, &txn);
    if (rc) return rc;
    *written = 0;
    int64_t now = clock_wall_ms();
    if (logged) {
        memset(self->wvv_dirty, 0, sizeof self->wvv_dirty);
        rc = store_lmdb_read_vv(txn, self->dbi_vv, &self->wvv);
    }
    for (size_t i = 0; i < batch->n && !rc; i++)
        if (store_is_txn_op(batch->v[i].kind)) rc = apply_op(self, txn, &batch->v[i], now, written);
    if (!rc && logged) rc = store_vv_write(self, txn);
    if (!rc) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi_clients, &st) == 0) *entries = st.ms_entries;
        rc = mdb_txn_commit(txn);
    } else {
        mdb_txn_abort(txn);
    }
    store_txn_unlock(self);
    return rc;
}
