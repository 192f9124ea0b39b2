/* store_vv.c: version vectors: the in-memory store_vv (per origin, the highest sequence
 * number applied), its "vv" database, the writer's working copy of the open write
 * transaction (loaded at its start, advanced per applied update, its changed entries
 * written back before the commit), and retired origins: an origin whose updates every
 * node holds and whose node numbers its updates under another one leaves the vector
 * (which stays small however often nodes are rebuilt) for the "retired" database, which
 * still says how far it went, so its old updates stay duplicates and a later one (its
 * node resumed it) brings it back. */
#include "replication/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "proto/cursor.h"
#include "proto/errors.h"

/* Length of a valid origin (1 .. STORE_ORIGIN_MAX - 1 bytes, NUL-terminated within
 * STORE_ORIGIN_MAX), or 0. */
size_t store_origin_len(const char *origin)
{
    if (!origin) return 0;
    size_t n = strnlen(origin, STORE_ORIGIN_MAX);
    return n < STORE_ORIGIN_MAX ? n : 0;
}

int store_vv_find(const store_vv *vv, const char *origin)
{
    int n = vv->n < 0 ? 0 : vv->n > STORE_VV_MAX ? STORE_VV_MAX : vv->n;
    for (int i = 0; i < n; i++)
        if (strncmp(vv->e[i].origin, origin, STORE_ORIGIN_MAX) == 0) return i;
    return -1;
}

uint64_t store_vv_get(const store_vv *vv, const char *origin)
{
    if (!vv || !origin) return 0;
    int i = store_vv_find(vv, origin);
    return i < 0 ? 0 : vv->e[i].seq;
}

int store_vv_set(store_vv *vv, const char *origin, uint64_t seq)
{
    size_t len = store_origin_len(origin);
    if (!vv || !len) return KMS_EINVAL;
    int i = store_vv_find(vv, origin);
    if (i < 0) {
        if (vv->n < 0) vv->n = 0;
        if (vv->n >= STORE_VV_MAX) return KMS_ETOOBIG;
        i = vv->n++;
        memset(vv->e[i].origin, 0, sizeof vv->e[i].origin);
        memcpy(vv->e[i].origin, origin, len);
    }
    vv->e[i].seq = seq;
    return 0;
}

int store_vv_remove(store_vv *vv, const char *origin)
{
    int i = vv && origin ? store_vv_find(vv, origin) : -1;
    if (i < 0) return KMS_ENOTFOUND;
    memmove(&vv->e[i], &vv->e[i + 1], (size_t)(vv->n - i - 1) * sizeof vv->e[0]);
    vv->n--;
    return 0;
}

bool store_vv_entry_decode(const MDB_val *k, const MDB_val *v, char origin[STORE_ORIGIN_MAX], uint64_t *seq)
{
    if (k->mv_size == 0 || k->mv_size >= STORE_ORIGIN_MAX || memchr(k->mv_data, 0, k->mv_size)) return false;
    rcursor r = rc_init(v->mv_data, v->mv_size);
    *seq = rc_u64(&r);
    if (r.err || rc_left(&r) != 0) return false;
    memcpy(origin, k->mv_data, k->mv_size);
    origin[k->mv_size] = '\0';
    return true;
}

static int read_vv_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
    /* A malformed entry is skipped here (store_verify names it); more than STORE_VV_MAX
     * entries are never written. */
    if (store_vv_entry_decode(k, v, origin, &seq)) (void)store_vv_set(arg, origin, seq);
    return 0;
}

/* Reads the "vv" DB (store_lmdb.h). */
int store_lmdb_read_vv(MDB_txn *txn, MDB_dbi dbi, store_vv *out)
{
    memset(out, 0, sizeof *out);
    return store_db_each(txn, dbi, read_vv_entry, out);
}

/* Writes the working vv entries changed in this transaction. */
int store_vv_write(store *self, MDB_txn *txn)
{
    for (int i = 0; i < self->wvv.n; i++) {
        if (!self->wvv_dirty[i]) continue;
        uint8_t b[8];
        wcursor w = wc_init(b, sizeof b);
        wc_u64(&w, self->wvv.e[i].seq);
        MDB_val k = {strlen(self->wvv.e[i].origin), self->wvv.e[i].origin}, v = {sizeof b, b};
        int rc = mdb_put(txn, self->dbi_vv, &k, &v, 0);
        if (rc) return rc;
    }
    return 0;
}

/* Whether the working vv can hold origin. */
bool store_wvv_room(const store *self, const char *origin)
{
    return store_vv_find(&self->wvv, origin) >= 0 || self->wvv.n < STORE_VV_MAX;
}

static uint64_t retired_seq(MDB_txn *txn, MDB_dbi dbi, const char *origin, int *rc)
{
    MDB_val k = {strlen(origin), (void *)origin}, v;
    char name[STORE_ORIGIN_MAX];
    uint64_t seq = 0;
    *rc = mdb_get(txn, dbi, &k, &v);
    if (*rc == MDB_NOTFOUND) *rc = 0;
    else if (*rc == 0 && !store_vv_entry_decode(&k, &v, name, &seq)) *rc = MDB_CORRUPTED;
    return *rc ? 0 : seq;
}

uint64_t store_wvv_have(store *self, MDB_txn *txn, const char *origin, int *rc)
{
    *rc = 0;
    int i = store_vv_find(&self->wvv, origin);
    if (i >= 0) return self->wvv.e[i].seq;
    return retired_seq(txn, self->dbi_retired, origin, rc);
}

int store_wvv_advance(store *self, MDB_txn *txn, const char *origin, uint64_t seq)
{
    if (store_vv_find(&self->wvv, origin) < 0) {
        MDB_val k = {strlen(origin), (void *)origin};
        int rc = mdb_del(txn, self->dbi_retired, &k, NULL);
        if (rc && rc != MDB_NOTFOUND) return rc;
    }
    if (store_vv_set(&self->wvv, origin, seq) == 0) self->wvv_dirty[store_vv_find(&self->wvv, origin)] = true;
    return 0;
}

int store_wvv_retire(store *self, MDB_txn *txn, const char *origin, uint64_t seq, bool *done)
{
    *done = false;
    int i = store_vv_find(&self->wvv, origin);
    if (i < 0 || self->wvv.e[i].seq != seq || seq == 0) return 0;
    uint8_t b[8];
    wcursor w = wc_init(b, sizeof b);
    wc_u64(&w, seq);
    MDB_val k = {strlen(origin), (void *)origin}, v = {sizeof b, b};
    int rc = mdb_put(txn, self->dbi_retired, &k, &v, 0);
    if (!rc) rc = mdb_del(txn, self->dbi_vv, &k, NULL);
    if (rc == MDB_NOTFOUND) rc = 0; /* advanced in this transaction: not written yet */
    if (rc) return rc;
    /* Out of the working copy (and so of the committed vv once this commits). */
    for (int j = i; j + 1 < self->wvv.n; j++) {
        self->wvv.e[j] = self->wvv.e[j + 1];
        self->wvv_dirty[j] = self->wvv_dirty[j + 1];
    }
    self->wvv.n--;
    self->wvv_dirty[self->wvv.n] = false;
    *done = true;
    return 0;
}

uint64_t store_retired_get(store *self, const char *origin)
{
    if (!self || !store_origin_len(origin)) return 0;
    MDB_txn *txn;
    if (store_txn_begin(self, MDB_RDONLY, &txn)) return 0;
    int rc;
    uint64_t seq = retired_seq(txn, self->dbi_retired, origin, &rc);
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return seq;
}

/* "meta" key of peer's flag. */
static size_t owed_key(char *k, size_t cap, const char *peer)
{
    int n = snprintf(k, cap, "owed-snapshot:%s", peer);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int store_owed_write(store *self, MDB_txn *txn, const char *peer, bool owed)
{
    char key[STORE_ORIGIN_MAX + 16];
    MDB_val k = {owed_key(key, sizeof key, peer), key}, v = {1, (void *)"1"};
    int rc = owed ? mdb_put(txn, self->dbi_meta, &k, &v, 0) : mdb_del(txn, self->dbi_meta, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_set_owed_async(store *self, const char *peer, bool owed, store_done_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    size_t len = store_origin_len(peer);
    if (!len) return KMS_EINVAL;
    store_op op = store_op_make(OP_OWED, done, NULL, arg);
    memcpy(op.origin, peer, len);
    op.owed = owed;
    return store_enqueue(self, &op, true);
}

bool store_owed_get(store *self, const char *peer)
{
    if (!self || !store_origin_len(peer)) return false;
    MDB_txn *txn;
    if (store_txn_begin(self, MDB_RDONLY, &txn)) return false;
    char key[STORE_ORIGIN_MAX + 16];
    MDB_val k = {owed_key(key, sizeof key, peer), key}, v;
    bool owed = mdb_get(txn, self->dbi_meta, &k, &v) == 0;
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return owed;
}

int store_retire_async(store *self, const char *origin, uint64_t seq, store_done_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    size_t len = store_origin_len(origin);
    if (!len || seq == 0) return KMS_EINVAL;
    store_op op = store_op_make(OP_RETIRE, done, NULL, arg);
    memcpy(op.origin, origin, len);
    op.seq = seq;
    return store_enqueue(self, &op, true);
}

void store_get_vv(store *self, store_vv *out)
{
    if (!self) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&self->mu);
    *out = self->vv;
    pthread_mutex_unlock(&self->mu);
}
