/* storecheck.h: is a store directory's data.mdb whole? Checked before LMDB maps the file:
 * LMDB trusts the file to be as long as its newest meta page says, and the first access
 * to a page past the end of a truncated file kills the process with SIGBUS (a crash loop
 * under systemd, and kmsctl died the same way). Reads the two meta pages with read(2);
 * no mapping, no LMDB. */
#ifndef KMSHA_STORECHECK_H
#define KMSHA_STORECHECK_H

#include <stddef.h>

/* Returns 0 when DIR/data.mdb is absent (a new store) or its length covers the pages its
 * newest valid meta page claims; KMS_EDAMAGED with what is wrong in err (naming the file)
 * when it is truncated or neither meta page is valid; KMS_EIO when it cannot be read. */
int store_file_check(const char *dir, char *err, size_t errlen);

/* Runs fn(ctx) with SIGSEGV and SIGBUS in this thread turned into a return of -signal: a
 * fault inside LMDB while reading a damaged file (a flipped byte in a branch page can
 * send it past the end of the file or anywhere in the map) becomes an error, not a crash.
 * What fn did is abandoned where it faulted (its locks and transactions stay held): the
 * caller must not use that LMDB environment again. A fault in another thread keeps its
 * default action. */
int store_fault_guarded(int (*fn)(void *), void *ctx);

/* Keeps an LMDB environment that faulted reachable, never closed (closing it would touch
 * the damaged map again): the process stops using it and exits soon; a leak checker sees
 * it held, not lost. */
void store_quarantine(void *env);

/* The repair, for messages: how to restore the store or rebuild it from the peers. */
#define STORE_REPAIR_HINT                                                                    \
    "repair: restore a backup (kmsctl restore --data-dir DIR --force BACKUP), or start "    \
    "empty and catch up from the peers (kmsd --rebuild-from-peers with the node's usual "   \
    "options: the damaged files are kept aside in DIR/damaged-TIME)"

/* The exit status of kmsd and kmsctl when a store is damaged (sysexits' EX_DATAERR): a
 * restart cannot help, so the systemd unit lists it in RestartPreventExitStatus= and the
 * node stays down, its log naming the file and the repair, instead of restarting in a
 * loop. Other failures exit 1 (worth a restart: a full disk, a port in use). */
#define STORE_EXIT_DAMAGED 65

#endif
