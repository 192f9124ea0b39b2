/* store_lmdb.h: the store's two LMDB readers for a process that opens a store's files
 * itself (kmsctl's read-only storefile, ops/kmsctl/storefile.c): the records of the
 * "clients" database and the version vector of the "vv" database, decoded exactly as the
 * store decodes them (replication/store_schema.c holds the layout). Both read inside the
 * caller's transaction and return 0 or LMDB's error code. */
#ifndef KMSHA_STORE_LMDB_H
#define KMSHA_STORE_LMDB_H

#include <lmdb.h>
#include "replication/store.h"

/* Calls fn for every record of the clients database dbi; stops when fn returns non-zero.
 * A record that does not decode stops it with MDB_CORRUPTED (damage, not the end). */
int store_lmdb_each(MDB_txn *txn, MDB_dbi dbi, store_each_fn fn, void *ctx);
/* The cursor store_lmdb_each has open on this thread, or NULL: after a fault inside LMDB
 * (a damaged file) the caller quarantines it with the environment (store_quarantine). */
void *store_lmdb_each_cursor(void);
/* Reads the version vector database dbi into out (entries that do not parse are skipped). */
int store_lmdb_read_vv(MDB_txn *txn, MDB_dbi dbi, store_vv *out);

#endif
