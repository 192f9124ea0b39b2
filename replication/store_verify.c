/* store_verify.c: the check of the whole store at start (store_verify): every entry of
 * every database decodes, run under the fault guard so a damaged file is named with its
 * repair rather than crashing the node. */
#include "replication/store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/errors.h"
#include "replication/storecheck.h"

typedef struct verify_state {
    uint64_t records, log_entries, vv_entries;
    char what[200];
} verify_state;

typedef struct verify_walk {
    const char *name;
    bool (*check)(const MDB_val *, const MDB_val *);
    uint64_t *count;
    verify_state *vs;
} verify_walk;

static int verify_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
    verify_walk *w = arg;
    if (!w->check(k, v)) {
        snprintf(w->vs->what, sizeof w->vs->what, "entry %" PRIu64 " of the \"%s\" database does not decode",
                 *w->count + 1, w->name);
        return 1;
    }
    (*w->count)++;
    return 0;
}

/* Walks one database; check() says whether an entry is sound. Returns an MDB code, or 1
 * (with vs->what filled) at the first unsound entry. */
static int verify_db(MDB_txn *txn, MDB_dbi dbi, const char *name, bool (*check)(const MDB_val *, const MDB_val *),
                     uint64_t *count, verify_state *vs)
{
    verify_walk w = {name, check, count, vs};
    return store_db_each(txn, dbi, verify_entry, &w);
}

static bool check_client(const MDB_val *k, const MDB_val *v)
{
    store_record rec;
    /* Also what the count index accepts: a time within its 44 bits. */
    return store_decode_value(k, v, &rec) && rec.last_seen_ms >= 0 && rec.last_seen_ms < ((int64_t)1 << 44) &&
           rec.first_seen_ms >= 0 && rec.first_seen_ms <= rec.last_seen_ms;
}

static bool check_log(const MDB_val *k, const MDB_val *v)
{
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
    int64_t t;
    store_record rec;
    return store_log_key_parse(k, origin, &seq) && seq > 0 && store_log_value_parse(v, &t, &rec);
}

static bool check_vv(const MDB_val *k, const MDB_val *v)
{
    char origin[STORE_ORIGIN_MAX];
    uint64_t seq;
    return store_vv_entry_decode(k, v, origin, &seq);
}

static bool check_any(const MDB_val *k, const MDB_val *v)
{
    (void)k;
    (void)v;
    return true;
}

typedef struct verify_args {
    store *self;
    verify_state *vs;
} verify_args;

static int verify_all(void *arg)
{
    verify_args *a = arg;
    store *self = a->self;
    verify_state *vs = a->vs;
    MDB_txn *txn;
    int rc = store_txn_begin(self, MDB_RDONLY, &txn);
    if (rc) return rc;
    uint64_t other = 0;
    /* LMDB's own databases too: the free-page list (a write reads it) and the names. */
    rc = verify_db(txn, 0, "free pages", check_any, &other, vs);
    if (!rc) rc = verify_db(txn, 1, "main", check_any, &other, vs);
    if (!rc) rc = verify_db(txn, self->dbi_clients, "clients", check_client, &vs->records, vs);
    if (!rc) rc = verify_db(txn, self->dbi_log, "log", check_log, &vs->log_entries, vs);
    if (!rc) rc = verify_db(txn, self->dbi_vv, "vv", check_vv, &vs->vv_entries, vs);
    if (!rc) rc = verify_db(txn, self->dbi_retired, "retired", check_vv, &vs->vv_entries, vs);
    mdb_txn_abort(txn);
    store_txn_unlock(self);
    return rc;
}

int store_verify(store *self, uint64_t *records, char *err, size_t errlen)
{
    if (!self) return KMS_ESTORE;
    verify_state vs;
    memset(&vs, 0, sizeof vs);
    verify_args a = {self, &vs};
    int rc = store_fault_guarded(verify_all, &a);
    if (records) *records = vs.records;
    if (rc == 0) return 0;
    if (rc < 0)
        snprintf(vs.what, sizeof vs.what, "reading it faulted (signal %d) after %" PRIu64 " records", -rc, vs.records);
    else if (rc != 1)
        snprintf(vs.what, sizeof vs.what, "LMDB: %s after %" PRIu64 " records", mdb_strerror(rc), vs.records);
    if (err && errlen) snprintf(err, errlen, "data.mdb is damaged: %s", vs.what);
    return KMS_ESTORE;
}
