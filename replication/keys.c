/* keys.c: CURVE key files (see keys.h). */
#include "replication/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/errors.h"

int repl_read_key_file(const char *path, char key_z85[41])
{
    FILE *f = fopen(path, "r");
    if (!f) return KMS_EIO;
    char line[256];
    int rc = KMS_EINVAL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p || *p == '#') continue;
        uint8_t raw[32];
        if (strlen(p) == 40 && zmq_z85_decode(raw, p)) {
            memcpy(key_z85, p, 40);
            key_z85[40] = 0;
            rc = 0;
        }
        break;
    }
    fclose(f);
    return rc;
}

static int write_key_file(const char *path, const char *text, mode_t mode, bool force, char *err,
                          size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (force ? 0 : O_EXCL), mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno), errno == EEXIST ? " (use --force to replace it)" : "");
        return KMS_EIO;
    }
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) { ok = false; e = errno; }
    if (!ok) {
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return KMS_EIO;
    }
    return 0;
}

int repl_keygen(const char *dir, const char *id, bool force, char pub_z85[41], char *err, size_t errlen)
{
    char sec[41];
    if (zmq_curve_keypair(pub_z85, sec) != 0) {
        snprintf(err, errlen, "cannot make a CURVE key pair: %s", zmq_strerror(zmq_errno()));
        return KMS_EIO;
    }
    char path[4096], text[256];
    snprintf(path, sizeof path, "%s/%s.key", dir, id);
    snprintf(text, sizeof text, "# kmsha CURVE secret key of node %s: keep it on that node only\n%s\n", id, sec);
    explicit_bzero(sec, sizeof sec);
    int rc = write_key_file(path, text, 0600, force, err, errlen);
    explicit_bzero(text, sizeof text);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "%s/%s.pub", dir, id);
    snprintf(text, sizeof text, "# kmsha CURVE public key of node %s\n%s\n", id, pub_z85);
    return write_key_file(path, text, 0644, force, err, errlen);
}

int repl_keys_ensure(const char *dir, const char *const *ids, int n, char (*pubs)[41], char *err,
                     size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return KMS_EIO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (lock >= 0) close(lock);
        return KMS_EIO;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        snprintf(path, sizeof path, "%s/%s.key", dir, ids[i]);
        char sec[41];
        if (access(path, F_OK) != 0) {
            rc = repl_keygen(dir, ids[i], true, pubs[i], err, errlen);
            continue;
        }
        if (repl_read_key_file(path, sec) != 0 || zmq_curve_public(pubs[i], sec) != 0) {
            snprintf(err, errlen, "%s: not a CURVE secret key (remove it to make a new pair)", path);
            rc = KMS_EIO;
        }
        explicit_bzero(sec, sizeof sec);
    }
    close(lock); /* releases the lock */
    return rc;
}
