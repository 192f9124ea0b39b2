/* store_lmdb.h: the store's two LMDB readers for a process that opens a store's files
 * itself (kmsctl's read-only storefile, ops/kmsctl/storefile.c): the records of the
 * "clients" database and the version vector of the "vv" database, decoded exactly as the
 * store decodes them (replication/store.c holds the layout). Both read inside the
 * caller's transaction and return 0 or LMDB's error code. */
#ifndef KMSHA_STORE_LMDB_H
#define KMSHA_STORE_LMDB_H

#include <lmdb.h>
#include "replication/store.h"

/* Calls fn for every record of the clients database dbi (records that do not decode are
 * skipped); stops when fn returns non-zero. */
int store_lmdb_each(MDB_txn *txn, MDB_dbi dbi, store_each_fn fn, void *ctx);
/* Reads the version vector database dbi into out (entries that do not parse are skipped). */
int store_lmdb_read_vv(MDB_txn *txn, MDB_dbi dbi, store_vv *out);

#endif
