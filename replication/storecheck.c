/* storecheck.c: the length check of data.mdb against its meta pages (see storecheck.h).
 *
 * LMDB's layout on 64-bit Linux (lmdb.h / mdb.c, stable since format version 1): pages 0
 * and 1 are meta pages; each starts with a 16-byte page header, then MDB_meta: magic
 * (u32 0xBEEFC0DE), version (u32, 1), address (8), mapsize (8), two MDB_db of 48 bytes
 * (the first one's md_pad holds the page size), last_pg (8), txnid (8). The newest valid
 * meta (the larger txnid) says which page is the last one in use. */
#include "replication/storecheck.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/errors.h"

#define META_HDR 16
#define META_MAGIC 0xBEEFC0DEu
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_PSIZE 24    /* mm_dbs[FREE_DBI].md_pad */
#define OFF_LAST_PG 120
#define OFF_TXNID 128
#define META_LEN 136

typedef struct meta {
    bool valid;
    uint32_t psize;
    uint64_t last_pg, txnid;
} meta;

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static meta read_meta(int fd, off_t at)
{
    meta m = {false, 0, 0, 0};
    uint8_t b[META_HDR + META_LEN];
    if (pread(fd, b, sizeof b, at) != (ssize_t)sizeof b) return m;
    const uint8_t *p = b + META_HDR;
    if (le32(p + OFF_MAGIC) != META_MAGIC || le32(p + OFF_VERSION) != 1) return m;
    m.psize = le32(p + OFF_PSIZE);
    m.last_pg = le64(p + OFF_LAST_PG);
    m.txnid = le64(p + OFF_TXNID);
    /* A page size LMDB could have written: a power of two from 512 to 64 KiB. */
    m.valid = m.psize >= 512 && m.psize <= 65536 && (m.psize & (m.psize - 1)) == 0 && m.last_pg >= 1;
    return m;
}

int store_file_check(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return KMS_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return KMS_EIO;
    }
    if (st.st_size == 0) { /* created but never written (a start that failed at once) */
        close(fd);
        return 0;
    }
    meta m0 = read_meta(fd, 0);
    /* The second meta page is one page in: the page size from the first, else the usual. */
    long sys = sysconf(_SC_PAGESIZE);
    meta m1 = read_meta(fd, m0.valid ? (off_t)m0.psize : (off_t)(sys > 0 ? sys : 4096));
    close(fd);
    if (!m0.valid && !m1.valid) {
        snprintf(err, errlen, "%s is damaged: neither LMDB meta page is valid (%lld bytes)", path,
                 (long long)st.st_size);
        return KMS_EDAMAGED;
    }
    const meta *m = !m1.valid || (m0.valid && m0.txnid >= m1.txnid) ? &m0 : &m1;
    uint64_t need = (m->last_pg + 1) * (uint64_t)m->psize;
    if ((uint64_t)st.st_size < need) {
        snprintf(err, errlen, "%s is damaged: truncated to %lld bytes, but its pages reach %" PRIu64
                 " bytes (last page %" PRIu64 " of %u bytes)", path, (long long)st.st_size, need, m->last_pg,
                 m->psize);
        return KMS_EDAMAGED;
    }
    return 0;
}

static void *quarantined[8];

void store_quarantine(void *env)
{
    for (size_t i = 0; i < sizeof quarantined / sizeof quarantined[0]; i++)
        if (!quarantined[i]) { quarantined[i] = env; return; }
}

static __thread sigjmp_buf *fault_jmp;

static void on_fault(int sig)
{
    if (fault_jmp) siglongjmp(*fault_jmp, sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

int store_fault_guarded(int (*fn)(void *), void *ctx)
{
    struct sigaction sa, old_segv, old_bus;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    sigjmp_buf jb;
    volatile int rc = 0;
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) {
        fault_jmp = &jb;
        rc = fn(ctx);
    } else {
        rc = -sig;
    }
    fault_jmp = NULL;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    return rc;
}
