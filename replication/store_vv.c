/* store_vv.c: version vectors: the in-memory store_vv (per origin, the highest sequence
 * number applied), its "vv" database, and the writer's working copy of the open write
 * transaction (loaded at its start, advanced per applied update, its changed entries
 * written back before the commit). */
#include "replication/store_internal.h"

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

void store_wvv_advance(store *self, const char *origin, uint64_t seq)
{
    if (store_vv_set(&self->wvv, origin, seq) == 0) self->wvv_dirty[store_vv_find(&self->wvv, origin)] = true;
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
