/* store_txn.c: the store's LMDB plumbing shared by its other files: LMDB's codes turned
 * into statuses that keep their cause, transactions begun under the map-resize lock, the
 * walk over one database, the record key, a stored entry's decoding, the map's growth and the size figures. */
#include "replication/store_internal.h"

#include <string.h>

#include "proto/errors.h"

/* The status for LMDB's rc (an MDB_* code, or an errno from a system call it made). */
int store_cause(int rc)
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
int store_txn_begin(store *self, unsigned flags, MDB_txn **txn)
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

void store_txn_unlock(store *self) { pthread_rwlock_unlock(&self->txn_lock); }

void store_make_key(uint8_t key[STORE_KEY_LEN], uint8_t app, const uint8_t cmid[16])
{
    key[0] = app;
    memcpy(key + 1, cmid, 16);
}

bool store_decode_value(const MDB_val *k, const MDB_val *v, store_record *rec)
{
    return store_entry_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, rec);
}

/* Doubles the map (writer thread, no transaction of ours active). */
int store_grow_map(store *self)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    pthread_rwlock_wrlock(&self->txn_lock);
    int rc = mdb_env_set_mapsize(self->env, (size_t)info.me_mapsize * 2);
    pthread_rwlock_unlock(&self->txn_lock);
    return rc;
}

/* Refreshes entries and map use (writer thread, after a commit). */
void store_update_sizes(store *self, uint64_t entries)
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

int store_db_each(MDB_txn *txn, MDB_dbi dbi, store_db_visit each, void *arg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) return rc;
    MDB_val k, v;
    int stop = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && !(stop = each(&k, &v, arg)))
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    mdb_cursor_close(cur);
    if (stop) return stop;
    return rc == MDB_NOTFOUND ? 0 : rc;
}
