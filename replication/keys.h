/* keys.h: CURVE key files of the nodes of a cluster. Replication is always authenticated:
 * `kmsctl keygen` writes a node's pair for a real cluster, and `kmsd --local-cluster` makes
 * the pairs of its built-in cluster at first start (repl_keys_ensure). A secret key file
 * is DIR/ID.key (mode 0600), a public key file DIR/ID.pub; each holds comment lines and
 * one line of 40 Z85 characters. */
#ifndef KMSHA_REPL_KEYS_H
#define KMSHA_REPL_KEYS_H

#include <stdbool.h>
#include <stddef.h>

/* Reads the key (public or secret, 40 Z85 characters) of a key file. Returns 0, KMS_EIO
 * (errno says why) or KMS_EINVAL (no key in the file). */
int repl_read_key_file(const char *path, char key_z85[41]);

/* Makes a new key pair for node id and writes DIR/ID.key (0600) and DIR/ID.pub (0644);
 * an existing file is an error unless force. The public key goes to pub_z85. Returns 0 or
 * KMS_EIO with "PATH: why" in err. */
int repl_keygen(const char *dir, const char *id, bool force, char pub_z85[41], char *err, size_t errlen);

/* For the local cluster: creates DIR (0700) and, under an exclusive lock on DIR/.lock (so
 * nodes starting at once agree), the key pair of every id that has none; then reads each
 * id's public key into pubs[i]. Returns 0 or KMS_EIO with what failed in err. */
int repl_keys_ensure(const char *dir, const char *const *ids, int n, char (*pubs)[41], char *err,
                     size_t errlen);

#endif
