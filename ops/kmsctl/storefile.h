/* storefile.h: a node's store directory from outside the node, for kmsctl on the node's
 * machine: open it read-only (also while the node runs: LMDB readers never block its
 * writer), read its records, copy it consistently (backup), tell whether a process holds
 * it open, and put a backup in place for a stopped node (restore). Blocking calls. */
#ifndef KMSHA_STOREFILE_H
#define KMSHA_STOREFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "replication/store.h"

#define STOREFILE_MANIFEST "backup.json" /* written beside data.mdb by storefile_copy */

typedef struct storefile storefile;

/* Opens the LMDB environment in dir read-only (dir/data.mdb must exist). Takes part in
 * LMDB's reader table when it can write dir/lock.mdb, so a live node keeps the pages it
 * reads; otherwise (read-only media, no permission) and when no process holds the store,
 * reads without locking. Returns NULL with a message in err, and *status (status may be
 * NULL) KMS_EDAMAGED when data.mdb is damaged (named with its repair), else KMS_ESTORE. */
storefile *storefile_open(const char *dir, int *status, char *err, size_t errlen);
void storefile_close(storefile **self_p);

/* Calls fn for every client record in one read transaction (fn returns non-zero to
 * stop). Returns 0, KMS_EDAMAGED (a record that does not decode, a page LMDB cannot read
 * or a fault reading it) or KMS_ESTORE. */
int storefile_each(storefile *self, store_each_fn fn, void *ctx);

/* Record count and version vector of one read transaction (vv may be NULL). Returns 0 or
 * KMS_ESTORE. */
int storefile_stats(storefile *self, uint64_t *records, store_vv *vv);

/* Writes a compacted, consistent copy of the store (one read transaction, LMDB's
 * mdb_env_copy2 with MDB_CP_COMPACT) to dest/data.mdb, fsyncs it, and writes
 * dest/backup.json (time, source, records, version vector). dest is created when missing
 * (mode 0700); an existing dest/data.mdb is an error. Returns 0, KMS_EIO or KMS_ESTORE
 * with a message in err. */
int storefile_copy(storefile *self, const char *source_label, const char *dest, char *err,
                   size_t errlen);

/* Does a process (other than this one) have the LMDB environment in dir open? Returns 1
 * (yes), 0 (no, or no store there) or KMS_EIO (cannot tell: err says why). */
int storefile_in_use(const char *dir, char *err, size_t errlen);

/* Puts the backup in backup_dir (its data.mdb, checked by opening it) in place as
 * data_dir/data.mdb for a node that is stopped: refuses (KMS_EINVAL) while a process holds
 * the store, and when data_dir already has a data.mdb unless force (which keeps the old
 * one as data.mdb.before-restore-UNIXTIME). Holds LMDB's lock meanwhile, so a node that
 * starts during the restore waits for it. Removes data_dir/origin so the node numbers its
 * new updates under a fresh origin (peers already hold the old origin's later updates).
 * When run as root, gives the new file the owner of data_dir. On success *records_out
 * (may be NULL) is the number of records restored. Returns 0, KMS_EINVAL or KMS_EIO with
 * a message in err; KMS_EDAMAGED when the backup's data.mdb is damaged. */
int storefile_restore(const char *backup_dir, const char *data_dir, bool force,
                      uint64_t *records_out, char *err, size_t errlen);

#endif
