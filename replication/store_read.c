/* store_read.c: reading client records: one by key (store_get), all of them
 * (store_each), and the same walk for a process that opened the LMDB files itself
 * (store_lmdb_each, store_lmdb.h). Each read runs in its own read transaction. */
#include "replication/store_internal.h"

#include <string.h>

#include "proto/errors.h"

int store_each(store *self, store_each_fn fn, void *ctx)
{
    MDB_txn *txn;
    int brc = store_txn_begin(self, MDB_RDONLY, &txn);
    if (brc) return store_cause(brc);
    int rc = store_lmdb_each(txn, self->dbi_clients, fn, ctx);
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return store_cause(rc);
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
        if (!store_decode_value(&k, &v, &rec)) {
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
    int brc = store_txn_begin(self, MDB_RDONLY, &txn);
    if (brc) return store_cause(brc);
    uint8_t key[STORE_KEY_LEN];
    store_make_key(key, app, cmid);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_get(txn, self->dbi_clients, &k, &v);
    int ret;
    if (rc == MDB_NOTFOUND) ret = KMS_ENOTFOUND;
    else if (rc) ret = store_cause(rc);
    else ret = store_decode_value(&k, &v, out) ? 0 : KMS_ESTORE;
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return ret;
}
