/* store_snapshot.c: snapshot pages for a peer that catches up by copying the records
 * (store_snapshot_read pages through "clients" in key order), and applying such pages
 * (store_apply_snapshot_async, optionally adopting the sender's version vector). */
#include "replication/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/products.h"

int store_apply_snapshot_async(store *self, const store_record *recs, size_t n,
                               const store_vv *adopt, store_update_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if ((n && !recs) || (adopt && (adopt->n < 0 || adopt->n > STORE_VV_MAX))) return KMS_EINVAL;
    if (n > STORE_QUEUE_MAX) return KMS_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if (recs[i].app >= KMS_APP_COUNT) return KMS_EINVAL;
    for (int i = 0; adopt && i < adopt->n; i++)
        if (!store_origin_len(adopt->e[i].origin)) return KMS_EINVAL;
    snap_batch *sb = malloc(sizeof *sb + n * sizeof sb->recs[0]);
    if (!sb) return KMS_ENOMEM;
    sb->n = n;
    sb->has_adopt = adopt != NULL;
    memset(&sb->adopt, 0, sizeof sb->adopt);
    for (int i = 0; adopt && i < adopt->n; i++) /* copied by name: no bytes after the NUL */
        store_vv_set(&sb->adopt, adopt->e[i].origin, adopt->e[i].seq);
    for (size_t i = 0; i < n; i++) {
        sb->recs[i] = recs[i];
        store_record_terminate(&sb->recs[i]);
    }
    store_op op = store_op_make(OP_SNAPSHOT, NULL, done, arg);
    op.snap = sb;
    int rc = store_enqueue(self, &op, true);
    if (rc) free(sb);
    return rc;
}

int store_snapshot_read(store *self, uint8_t cursor[STORE_KEY_LEN], size_t *cursor_len,
                        store_record *out, size_t max, store_vv *vv_at_start)
{
    if (!self) return KMS_ESTORE;
    if (!cursor || !cursor_len || (*cursor_len != 0 && *cursor_len != STORE_KEY_LEN) || (max && !out))
        return KMS_EINVAL;
    MDB_txn *txn;
    MDB_cursor *cur;
    int brc = store_txn_begin(self, MDB_RDONLY, &txn);
    if (brc) return store_cause(brc);
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
        if (store_decode_value(&k, &v, &out[ret])) ret++;
        if (k.mv_size == STORE_KEY_LEN) {
            memcpy(cursor, k.mv_data, STORE_KEY_LEN);
            *cursor_len = STORE_KEY_LEN;
        }
        if ((size_t)ret < max) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND) ret = store_cause(rc);
    mdb_cursor_close(cur);
done:
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return ret;
}
