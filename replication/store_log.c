/* store_log.c: the update log: every logged write under (origin, seq), so a peer that
 * missed updates reads them back in order (store_log_read); its key and value layout
 * (store_schema.c has the whole on-disk layout), appending inside the batch's write
 * transaction, and its size figures. Pruning it is in store_prune.c. */
#include "replication/store_internal.h"

#include <string.h>

#include "proto/cursor.h"
#include "proto/errors.h"

#define LOG_VAL_MAX (8 + STORE_RECORD_WIRE_MAX)

/* Log key: len(1) origin(len) seq(u64 big-endian), so keys sort by origin, then seq. */
size_t store_log_key(uint8_t k[LOG_KEY_MAX], const char *origin, size_t olen, uint64_t seq)
{
    k[0] = (uint8_t)olen;
    memcpy(k + 1, origin, olen);
    for (size_t i = 0; i < 8; i++) k[1 + olen + i] = (uint8_t)(seq >> (56 - 8 * i));
    return 1 + olen + 8;
}

/* Splits a log key into origin (NUL-terminated) and seq; false when it is not one. */
bool store_log_key_parse(const MDB_val *k, char origin[STORE_ORIGIN_MAX], uint64_t *seq)
{
    rcursor r = rc_init(k->mv_data, k->mv_size);
    size_t olen = rc_u8(&r);
    const uint8_t *o = rc_take(&r, olen);
    const uint8_t *sb = rc_take(&r, 8);
    if (!o || !sb || rc_left(&r) != 0 || olen == 0 || olen >= STORE_ORIGIN_MAX || memchr(o, 0, olen))
        return false;
    memcpy(origin, o, olen);
    origin[olen] = '\0';
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) v = v << 8 | sb[i];
    *seq = v;
    return true;
}

/* Log value: logged_ms(i64 LE) then the encoded record. Returns its length or < 0. */
static int log_value(uint8_t out[LOG_VAL_MAX], int64_t logged_ms, const store_record *rec)
{
    wcursor w = wc_init(out, LOG_VAL_MAX);
    wc_u64(&w, (uint64_t)logged_ms);
    if (w.err) return w.err;
    int n = store_record_encode(rec, out + 8, LOG_VAL_MAX - 8);
    return n < 0 ? n : n + 8;
}

/* Reads a log value; rec may be NULL when only the time is wanted. */
bool store_log_value_parse(const MDB_val *v, int64_t *logged_ms, store_record *rec)
{
    rcursor r = rc_init(v->mv_data, v->mv_size);
    *logged_ms = (int64_t)rc_u64(&r);
    if (r.err) return false;
    if (!rec) return true;
    size_t len = v->mv_size - 8;
    int n = store_record_decode((const uint8_t *)v->mv_data + 8, len, rec);
    return n >= 0 && (size_t)n == len;
}

/* Moves cur to the first log entry of the origin after the one of key k (MDB code). */
int store_log_next_origin(MDB_cursor *cur, MDB_val *k, MDB_val *v)
{
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
    if (!store_log_key_parse(k, origin, &seq)) return mdb_cursor_get(cur, k, v, MDB_NEXT);
    uint8_t jb[LOG_KEY_MAX];
    size_t jlen = store_log_key(jb, origin, strlen(origin), UINT64_MAX);
    MDB_val j = {jlen, jb};
    int rc = mdb_cursor_get(cur, &j, v, MDB_SET_RANGE);
    if (rc == 0 && j.mv_size == jlen && memcmp(j.mv_data, jb, jlen) == 0)
        rc = mdb_cursor_get(cur, &j, v, MDB_NEXT);
    if (rc == 0) *k = j;
    return rc;
}

int store_log_append(store *self, MDB_txn *txn, const char *origin, uint64_t seq, int64_t logged_ms,
                      const store_record *rec)
{
    uint8_t kb[LOG_KEY_MAX], vb[LOG_VAL_MAX];
    size_t klen = store_log_key(kb, origin, store_origin_len(origin), seq);
    int n = log_value(vb, logged_ms, rec);
    if (n < 0) return MDB_BAD_VALSIZE;
    MDB_val k = {klen, kb}, v = {(size_t)n, vb};
    return mdb_put(txn, self->dbi_log, &k, &v, 0);
}

int store_log_read(store *self, const char *origin, uint64_t from_seq, store_update *out, size_t max)
{
    if (!self) return KMS_ESTORE;
    size_t olen = store_origin_len(origin);
    if (!olen || (max && !out)) return KMS_EINVAL;
    MDB_txn *txn;
    MDB_cursor *cur;
    int brc = store_txn_begin(self, MDB_RDONLY, &txn);
    if (brc) return store_cause(brc);
    int ret = 0;
    if (mdb_cursor_open(txn, self->dbi_log, &cur) != 0) {
        ret = KMS_ESTORE;
        goto done;
    }
    uint8_t kb[LOG_KEY_MAX];
    MDB_val k = {store_log_key(kb, origin, olen, from_seq), kb}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) ret = KMS_ENOTFOUND;
    else if (rc) ret = store_cause(rc);
    uint64_t want = from_seq;
    while (rc == 0 && (size_t)ret < max) {
        char o[STORE_ORIGIN_MAX];
        uint64_t seq;
        int64_t t;
        if (!store_log_key_parse(&k, o, &seq) || strcmp(o, origin) != 0 || seq != want) break; /* a hole */
        store_update *u = &out[ret];
        if (!store_log_value_parse(&v, &t, &u->rec)) {
            if (ret == 0) ret = KMS_ESTORE; /* from_seq is there but unreadable */
            break;
        }
        memset(u->origin, 0, sizeof u->origin);
        memcpy(u->origin, o, olen);
        u->seq = seq;
        ret++;
        if (want == UINT64_MAX) break;
        want++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND && ret >= 0) ret = store_cause(rc);
    mdb_cursor_close(cur);
done:
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return ret;
}

void store_log_stats(store *self, uint64_t *entries, int64_t *oldest_ms)
{
    uint64_t n = 0;
    int64_t oldest = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    if (self && store_txn_begin(self, MDB_RDONLY, &txn) == 0) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi_log, &st) == 0) n = st.ms_entries;
        /* Each origin's entries are logged in seq order, so its first entry is its oldest:
         * one look-up per origin instead of a scan. */
        if (n && mdb_cursor_open(txn, self->dbi_log, &cur) == 0) {
            MDB_val k, v;
            int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            while (rc == 0) {
                int64_t t;
                if (store_log_value_parse(&v, &t, NULL) && (oldest == 0 || t < oldest)) oldest = t;
                rc = store_log_next_origin(cur, &k, &v);
            }
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
        store_txn_unlock(self);
    }
    if (entries) *entries = n;
    if (oldest_ms) *oldest_ms = oldest;
}

uint64_t store_log_bytes(store *self)
{
    uint64_t bytes = 0;
    MDB_txn *txn;
    if (self && store_txn_begin(self, MDB_RDONLY, &txn) == 0) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi_log, &st) == 0)
            bytes = (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
        mdb_txn_abort(txn);
        store_txn_unlock(self);
    }
    return bytes;
}
