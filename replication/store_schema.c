/* store_schema.c: the store's databases and their schema: opened (created when new) at
 * store_open, the schema version checked, and older stores upgraded in place.
 *
 * On-disk layout (schema 3; a schema-1 store is upgraded in place at open by creating the
 * two new DBs, and every older store by rewriting "schema", so an older binary refuses it
 * afterwards: schema 3 may hold version-2 records, which it cannot read):
 *   "clients" key app(1) cmid(16)                -> encoded record (store_record_encode)
 *   "meta"    "schema"                           -> u32 LE
 *             "owed-snapshot:" peer id           -> "1" (this node owes that peer a snapshot)
 *   "log"     len(1) origin(len) seq(u64 BE)     -> logged_ms(i64 LE) encoded record
 *   "vv"      origin (its bytes, no NUL)         -> seq (u64 LE)
 *   "retired" origin (its bytes, no NUL)         -> seq it was retired at (u64 LE)
 * Log keys therefore sort by origin length, then origin bytes, then sequence numerically:
 * each origin's updates are one contiguous run in seq order. "retired" is created empty in
 * any store that lacks it (no schema change: an older binary ignores it, and only sees the
 * smaller vector). */
#include "replication/store_internal.h"

#include <stdio.h>

#include "proto/cursor.h"
#include "proto/errors.h"

#define STORE_SCHEMA 3u           /* meta "schema": 1 = "clients" only, 2 = + "log", "vv",
                                     3 = records may be version 2 (older binaries refuse) */
#define STORE_SCHEMA_OLDEST 1u    /* oldest schema upgraded at open */

/* Opens the DBs, checks the schema version (upgrading a schema-1 store: the new DBs are
 * created empty, which is what a store without replication history has) and loads the
 * version vector. */
int store_schema_open(store *self, char *err, size_t errlen)
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
    if ((rc = mdb_dbi_open(txn, "retired", MDB_CREATE, &self->dbi_retired))) goto abort;
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
