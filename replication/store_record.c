/* store_record.c: a client record's byte encoding (version 1, and version 2 with the
 * binding expiration, the count and the name set) and the merge rule replicas converge
 * by: the later sighting wins, first_seen merges as a minimum, name sets unite. Pure: no
 * LMDB, no threads (tests/fuzz/fuzz_store_record.c fuzzes the decoder). */
#include "replication/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "proto/cursor.h"
#include "proto/errors.h"
#include "proto/products.h"

#define STORE_RECORD_VERSION 1    /* first byte of an encoded record without version-2 fields */
#define STORE_RECORD_VERSION2 2   /* + binding_expiration, count, name set */

static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max - 1 && s[n]) n++;
    return n;
}

static void put_str(wcursor *w, const char *s, size_t max)
{
    size_t n = bounded_len(s, max);
    wc_u8(w, (uint8_t)n);
    wc_bytes(w, s, n);
}

/* The order of a name set: newest first, then by name (then address), so any two
 * distinct entries compare unequal; entries with the same name are the same name. */
static int name_order(const store_name *a, const store_name *b)
{
    if (a->last_seen_ms != b->last_seen_ms) return a->last_seen_ms > b->last_seen_ms ? -1 : 1;
    int c = strncmp(a->name, b->name, sizeof a->name);
    if (c) return c < 0 ? -1 : 1;
    c = strncmp(a->address, b->address, sizeof a->address);
    return c < 0 ? -1 : c > 0;
}

/* Puts e into the set (names[0..*n), in name_order, at most STORE_NAMES_MAX): an entry of
 * the same name is replaced when e is newer (later time, then greater address), and the
 * oldest entry falls off a full set. Union with "newest per name, STORE_NAMES_MAX newest
 * kept" is commutative, associative and idempotent, so replicas agree in any order. */
static bool names_insert(store_name *set, uint8_t *n, const store_name *e)
{
    if (!e->name[0]) return false;
    unsigned count = *n > STORE_NAMES_MAX ? STORE_NAMES_MAX : *n;
    for (unsigned i = 0; i < count; i++) {
        if (strncmp(set[i].name, e->name, sizeof e->name) != 0) continue;
        bool newer = e->last_seen_ms > set[i].last_seen_ms ||
                     (e->last_seen_ms == set[i].last_seen_ms &&
                      strncmp(e->address, set[i].address, sizeof e->address) > 0);
        if (!newer) return false;
        memmove(&set[i], &set[i + 1], (count - i - 1) * sizeof *set); /* re-inserted below */
        count--;
        break;
    }
    unsigned pos = 0;
    while (pos < count && name_order(&set[pos], e) < 0) pos++;
    if (pos >= STORE_NAMES_MAX) {
        *n = (uint8_t)count;
        return false;
    }
    if (count == STORE_NAMES_MAX) count--;
    memmove(&set[pos + 1], &set[pos], (count - pos) * sizeof *set);
    set[pos] = *e;
    set[pos].name[sizeof set[pos].name - 1] = '\0';
    set[pos].address[sizeof set[pos].address - 1] = '\0';
    *n = (uint8_t)(count + 1);
    return true;
}

void store_record_add_name(store_record *rec, const char *name, const char *address, int64_t seen_ms)
{
    store_name e;
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", name ? name : "");
    snprintf(e.address, sizeof e.address, "%s", address ? address : "");
    e.last_seen_ms = seen_ms;
    names_insert(rec->names, &rec->n_names, &e);
}

int store_record_encode(const store_record *rec, uint8_t *out, size_t cap)
{
    if (rec->app >= KMS_APP_COUNT) return KMS_EINVAL;
    unsigned n_names = rec->n_names > STORE_NAMES_MAX ? STORE_NAMES_MAX : rec->n_names;
    uint8_t version = rec->binding_expiration || rec->count || n_names ? STORE_RECORD_VERSION2 : STORE_RECORD_VERSION;
    wcursor w = wc_init(out, cap);
    wc_u8(&w, version);
    wc_u8(&w, rec->app);
    wc_bytes(&w, rec->cmid, 16);
    wc_u64(&w, (uint64_t)rec->first_seen_ms);
    wc_u64(&w, (uint64_t)rec->last_seen_ms);
    wc_bytes(&w, rec->sku_id, 16);
    wc_bytes(&w, rec->kms_id, 16);
    wc_u8(&w, rec->license_status);
    wc_u8(&w, rec->vm);
    wc_u16(&w, rec->n_policy);
    wc_u8(&w, rec->protocol);
    put_str(&w, rec->workstation, sizeof rec->workstation);
    put_str(&w, rec->address, sizeof rec->address);
    put_str(&w, rec->node, sizeof rec->node);
    if (version == STORE_RECORD_VERSION2) {
        wc_u32(&w, rec->binding_expiration);
        wc_u16(&w, rec->count);
        wc_u8(&w, n_names);
        for (unsigned i = 0; i < n_names; i++) {
            put_str(&w, rec->names[i].name, sizeof rec->names[i].name);
            put_str(&w, rec->names[i].address, sizeof rec->names[i].address);
            wc_u64(&w, (uint64_t)rec->names[i].last_seen_ms);
        }
    }
    return w.err ? w.err : (int)w.pos;
}

/* Reads a length-prefixed string into a NUL-terminated field of size max; the text may
 * not contain NUL (so encode(decode(x)) == x). */
static int get_str(rcursor *r, char *out, size_t max)
{
    size_t n = rc_u8(r);
    const uint8_t *s = rc_take(r, n);
    if (!s) return r->err ? r->err : KMS_ETRUNC;
    if (n > max - 1 || memchr(s, 0, n)) return KMS_EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int store_record_decode(const uint8_t *buf, size_t len, store_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rcursor r = rc_init(buf, len);
    uint8_t version = rc_u8(&r);
    if (r.err) return r.err;
    if (version != STORE_RECORD_VERSION && version != STORE_RECORD_VERSION2) return KMS_EVERSION;
    rec->app = rc_u8(&r);
    rc_bytes(&r, rec->cmid, 16);
    rec->first_seen_ms = (int64_t)rc_u64(&r);
    rec->last_seen_ms = (int64_t)rc_u64(&r);
    rc_bytes(&r, rec->sku_id, 16);
    rc_bytes(&r, rec->kms_id, 16);
    rec->license_status = rc_u8(&r);
    rec->vm = rc_u8(&r);
    rec->n_policy = rc_u16(&r);
    rec->protocol = rc_u8(&r);
    int rc = 0;
    if (!rc) rc = get_str(&r, rec->workstation, sizeof rec->workstation);
    if (!rc) rc = get_str(&r, rec->address, sizeof rec->address);
    if (!rc) rc = get_str(&r, rec->node, sizeof rec->node);
    if (!rc && version == STORE_RECORD_VERSION2) {
        rec->binding_expiration = rc_u32(&r);
        rec->count = rc_u16(&r);
        uint8_t n = rc_u8(&r);
        if (!r.err && n > STORE_NAMES_MAX) rc = KMS_EINVAL;
        for (unsigned i = 0; !rc && !r.err && i < n; i++) {
            store_name *e = &rec->names[i];
            rc = get_str(&r, e->name, sizeof e->name);
            if (!rc) rc = get_str(&r, e->address, sizeof e->address);
            e->last_seen_ms = (int64_t)rc_u64(&r);
            /* One encoding per set: names non-empty, distinct, in name_order. */
            if (!rc && !r.err && (!e->name[0] || (i > 0 && name_order(&rec->names[i - 1], e) >= 0)))
                rc = KMS_EINVAL;
            for (unsigned j = 0; !rc && j < i; j++) /* one entry per name, as names_insert keeps */
                if (strncmp(rec->names[j].name, e->name, sizeof e->name) == 0) rc = KMS_EINVAL;
            rec->n_names = (uint8_t)(i + 1);
        }
        /* A version-2 record carries something version 1 cannot. */
        if (!rc && !r.err && !rec->binding_expiration && !rec->count && !rec->n_names) rc = KMS_EINVAL;
    }
    if (!rc && r.err) rc = r.err;
    if (!rc && rec->app >= KMS_APP_COUNT) rc = KMS_EINVAL;
    if (rc) {
        memset(rec, 0, sizeof *rec);
        return rc;
    }
    return (int)r.pos;
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }
static int cmp_str(const char *a, const char *b, size_t max)
{
    int c = strncmp(a, b, max);
    return c < 0 ? -1 : c > 0;
}

/* The merge order: later last_seen, then greater node, then the rest of the content
 * (first_seen aside: it merges as a minimum), so every pair of records has one winner. */
static int record_order(const store_record *a, const store_record *b)
{
    int c;
    if ((c = cmp_i64(a->last_seen_ms, b->last_seen_ms))) return c;
    if ((c = cmp_str(a->node, b->node, sizeof a->node))) return c;
    if ((c = (a->app > b->app) - (a->app < b->app))) return c;
    if ((c = memcmp(a->cmid, b->cmid, 16))) return c;
    if ((c = memcmp(a->sku_id, b->sku_id, 16))) return c;
    if ((c = memcmp(a->kms_id, b->kms_id, 16))) return c;
    if ((c = (a->license_status > b->license_status) - (a->license_status < b->license_status))) return c;
    if ((c = (a->vm > b->vm) - (a->vm < b->vm))) return c;
    if ((c = (a->n_policy > b->n_policy) - (a->n_policy < b->n_policy))) return c;
    if ((c = (a->protocol > b->protocol) - (a->protocol < b->protocol))) return c;
    if ((c = cmp_str(a->workstation, b->workstation, sizeof a->workstation))) return c;
    if ((c = (a->binding_expiration > b->binding_expiration) - (a->binding_expiration < b->binding_expiration))) return c;
    if ((c = (a->count > b->count) - (a->count < b->count))) return c;
    return cmp_str(a->address, b->address, sizeof a->address);
}

void store_record_terminate(store_record *r)
{
    r->workstation[sizeof r->workstation - 1] = '\0';
    r->address[sizeof r->address - 1] = '\0';
    r->node[sizeof r->node - 1] = '\0';
}

bool store_record_merge(store_record *dst, const store_record *src)
{
    bool changed = false;
    int64_t first = dst->first_seen_ms < src->first_seen_ms ? dst->first_seen_ms : src->first_seen_ms;
    /* The name sets unite whichever record wins. */
    store_name names[STORE_NAMES_MAX];
    uint8_t n_names = 0;
    const store_record *sets[2] = {dst, src};
    for (int k = 0; k < 2; k++)
        for (unsigned i = 0; i < sets[k]->n_names && i < STORE_NAMES_MAX; i++)
            names_insert(names, &n_names, &sets[k]->names[i]);
    if (record_order(src, dst) > 0) {
        *dst = *src;
        store_record_terminate(dst);
        changed = true;
    }
    bool same = n_names == dst->n_names;
    for (unsigned i = 0; same && i < n_names; i++) same = name_order(&names[i], &dst->names[i]) == 0;
    if (!same) {
        memset(dst->names, 0, sizeof dst->names);
        memcpy(dst->names, names, n_names * sizeof *names);
        dst->n_names = n_names;
        changed = true;
    }
    if (dst->first_seen_ms != first) {
        dst->first_seen_ms = first;
        changed = true;
    }
    return changed;
}

/* Decodes a stored value; only an exact, well-formed record that matches its key counts. */
bool store_entry_decode(const void *key, size_t key_len, const void *val, size_t val_len,
                        store_record *rec)
{
    int n = store_record_decode(val, val_len, rec);
    if (n < 0 || (size_t)n != val_len) return false;
    if (key_len != STORE_KEY_LEN) return false;
    const uint8_t *kb = key;
    return kb[0] == rec->app && memcmp(kb + 1, rec->cmid, 16) == 0;
}
