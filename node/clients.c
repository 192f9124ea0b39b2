/* clients.c: the in-memory count index (see clients.h).
 *
 * Layout, chosen for millions of records at well under 64 bytes each:
 * - records: 28-byte slots {cmid, 44-bit last_seen ms, app, N, heap position} in fixed
 *   chunks of CLIENTS_CHUNK slots (no big realloc, no 2x slack); freed slots go on a
 *   free list threaded through the heap-position field.
 * - lookup: open addressing (linear probing, backward-shift deletion, no tombstones) of
 *   uint32 entries = slot index | 6 hash bits, so most probes of other keys are rejected
 *   without touching their record. The hash is SipHash-2-4 with a random key: CMIDs come
 *   from clients, who must not be able to pick colliding ones.
 * - expiry order: one binary min-heap of slot indices per application, keyed by
 *   last_seen. A heap rather than a list kept in time order, because records often arrive
 *   out of time order (the rebuild from LMDB comes in key order, replication from peers
 *   lags): inserting into a sorted list would walk it, a heap costs O(log n) at worst and
 *   O(1) for the usual touch of a new client "now". Expiry pops the root.
 * - per application: live count (heap size) and a histogram of N, for the largest N
 *   among live records.
 *
 * The count rule (one place: here). The count a host reports is the number of distinct
 * live clients of the application, capped at twice the largest N among them, where a
 * record's N is the product table's N for its KMS counted ID (25 or 5), not the N the
 * client sent: a client's N policy only decides whether that client itself is answered
 * as activated (count >= its N) or stays in grace. A KMS counted ID the table does not
 * know counts with the client's N, at least 1 and at most the largest N of the
 * application's products in the table, so no request can raise the cap above 2 x 25
 * (Windows) or 2 x 5 (Office), as on a genuine host. A fixed count_cap overrides. */
#include "node/clients.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "proto/errors.h"
#include "proto/products.h"

#define CLIENTS_APPS KMS_APP_COUNT
#define CLIENTS_CHUNK_BITS 14
#define CLIENTS_CHUNK (1u << CLIENTS_CHUNK_BITS)
#define IDX_BITS 26
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define IDX_NONE IDX_MASK               /* also the limit on slots */
#define SLOT_EMPTY UINT32_MAX           /* hash table: idx IDX_NONE, tag 63 */
#define TIME_BITS 44                    /* ms since 1970: good until year 2527 */
#define APP_FREE 3u
#define DAY_MS (86400LL * 1000)
#define DEFAULT_LIFETIME_DAYS 30

/* meta: bits 0-11 time high bits, 12-13 app (APP_FREE for a free slot), 14-23 N. */
typedef struct crec {
    uint8_t cmid[16];
    uint32_t t_lo;
    uint32_t meta;
    uint32_t hpos;                      /* heap position; next free slot when free */
} crec;

struct clients_index {
    crec **chunks;
    uint32_t nchunks, chunks_cap;
    uint32_t used;                      /* slots ever handed out */
    uint32_t free_head;
    uint32_t count;                     /* records held */

    uint32_t *table;
    uint32_t tcap;

    uint32_t *heap[CLIENTS_APPS];
    uint32_t hsize[CLIENTS_APPS], hcap[CLIENTS_APPS];

    uint32_t hist[CLIENTS_APPS][CLIENTS_N_MAX + 1];
    uint16_t max_n[CLIENTS_APPS];

    uint64_t k0, k1;                    /* SipHash key */

    int64_t lifetime_ms;                /* the rule: clients_set_rule */
    uint32_t fixed_cap;
    products_index products;            /* KMS counted ID -> the table's N */
    uint16_t app_max_n[CLIENTS_APPS];   /* largest N of each application's products */
};

/* ---- record fields ---- */

static inline crec *rec_at(const clients_index *self, uint32_t idx)
{
    return &self->chunks[idx >> CLIENTS_CHUNK_BITS][idx & (CLIENTS_CHUNK - 1)];
}
static inline int64_t rec_time(const crec *r) { return (int64_t)(((uint64_t)(r->meta & 0xFFF) << 32) | r->t_lo); }
static inline unsigned rec_app(const crec *r) { return (r->meta >> 12) & 3; }
static inline unsigned rec_n(const crec *r) { return (r->meta >> 14) & 0x3FF; }
static inline void rec_set(crec *r, int64_t t, unsigned app, unsigned n)
{
    r->t_lo = (uint32_t)t;
    r->meta = (uint32_t)(((uint64_t)t >> 32) & 0xFFF) | (app << 12) | (n << 14);
}

/* ---- SipHash-2-4 ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* SipHash-2-4 of the 17 bytes cmid || app. */
static uint64_t key_hash(const clients_index *self, unsigned app, const uint8_t cmid[16])
{
    uint64_t v0 = self->k0 ^ 0x736f6d6570736575ull, v1 = self->k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = self->k0 ^ 0x6c7967656e657261ull, v3 = self->k1 ^ 0x7465646279746573ull;
    uint64_t m[3] = {le64(cmid), le64(cmid + 8), ((uint64_t)17 << 56) | app};
    for (int i = 0; i < 3; i++) {
        v3 ^= m[i];
        SIPROUND;
        SIPROUND;
        v0 ^= m[i];
    }
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static inline uint32_t hash_home(uint64_t h, uint32_t cap) { return (uint32_t)(((h >> 32) * cap) >> 32); }
static inline uint32_t hash_tag(uint64_t h) { return (uint32_t)(h & 63) << IDX_BITS; }
static inline uint32_t next_pos(uint32_t p, uint32_t cap) { return p + 1 == cap ? 0 : p + 1; }

/* Table position of (app, cmid), or of the empty slot where it would go (*found false). */
static uint32_t table_find(const clients_index *self, unsigned app, const uint8_t cmid[16], uint64_t h,
                           bool *found)
{
    uint32_t tag = hash_tag(h), pos = hash_home(h, self->tcap);
    for (;;) {
        uint32_t e = self->table[pos];
        if (e == SLOT_EMPTY) {
            *found = false;
            return pos;
        }
        if ((e & ~IDX_MASK) == tag) {
            const crec *r = rec_at(self, e & IDX_MASK);
            if (rec_app(r) == app && memcmp(r->cmid, cmid, 16) == 0) {
                *found = true;
                return pos;
            }
        }
        pos = next_pos(pos, self->tcap);
    }
}

static void table_insert_raw(uint32_t *table, uint32_t cap, uint64_t h, uint32_t idx)
{
    uint32_t pos = hash_home(h, cap);
    while (table[pos] != SLOT_EMPTY) pos = next_pos(pos, cap);
    table[pos] = idx | hash_tag(h);
}

/* Grows the table so it holds one more record at a load of at most 0.7. */
static int table_reserve(clients_index *self)
{
    if (self->tcap && (uint64_t)(self->count + 1) * 10 <= (uint64_t)self->tcap * 7) return 0;
    uint64_t cap = self->tcap ? (uint64_t)self->tcap * 3 / 2 : 64;
    if (cap > UINT32_MAX / 2) return KMS_ENOMEM;
    uint32_t *t = malloc(cap * sizeof *t);
    if (!t) return KMS_ENOMEM;
    memset(t, 0xFF, cap * sizeof *t);
    /* Rehash from the record chunks (sequential memory) rather than the old table. */
    for (uint32_t i = 0; i < self->used; i++) {
        const crec *r = rec_at(self, i);
        if (rec_app(r) == APP_FREE) continue;
        table_insert_raw(t, (uint32_t)cap, key_hash(self, rec_app(r), r->cmid), i);
    }
    free(self->table);
    self->table = t;
    self->tcap = (uint32_t)cap;
    return 0;
}

/* Deletes the entry at pos, shifting later entries of the run back (no tombstones). */
static void table_delete_at(clients_index *self, uint32_t hole)
{
    uint32_t cap = self->tcap, j = hole;
    for (;;) {
        j = next_pos(j, cap);
        uint32_t e = self->table[j];
        if (e == SLOT_EMPTY) break;
        const crec *r = rec_at(self, e & IDX_MASK);
        uint32_t home = hash_home(key_hash(self, rec_app(r), r->cmid), cap);
        /* e may fill the hole if its home is not cyclically within (hole, j]. */
        uint32_t d_home = (j + cap - home) % cap, d_hole = (j + cap - hole) % cap;
        if (d_home >= d_hole) {
            self->table[hole] = e;
            hole = j;
        }
    }
    self->table[hole] = SLOT_EMPTY;
}

/* ---- heaps ---- */

static inline int64_t heap_time(const clients_index *self, const uint32_t *heap, uint32_t i)
{
    return rec_time(rec_at(self, heap[i]));
}

static void heap_place(clients_index *self, uint32_t *heap, uint32_t i, uint32_t idx)
{
    heap[i] = idx;
    rec_at(self, idx)->hpos = i;
}

static void sift_up(clients_index *self, unsigned app, uint32_t i)
{
    uint32_t *heap = self->heap[app], idx = heap[i];
    int64_t t = rec_time(rec_at(self, idx));
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (heap_time(self, heap, parent) <= t) break;
        heap_place(self, heap, i, heap[parent]);
        i = parent;
    }
    heap_place(self, heap, i, idx);
}

static void sift_down(clients_index *self, unsigned app, uint32_t i)
{
    uint32_t *heap = self->heap[app], n = self->hsize[app], idx = heap[i];
    int64_t t = rec_time(rec_at(self, idx));
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        int64_t tc = heap_time(self, heap, c);
        if (c + 1 < n) {
            int64_t tr = heap_time(self, heap, c + 1);
            if (tr < tc) {
                c++;
                tc = tr;
            }
        }
        if (t <= tc) break;
        heap_place(self, heap, i, heap[c]);
        i = c;
    }
    heap_place(self, heap, i, idx);
}

static int heap_reserve(clients_index *self, unsigned app)
{
    if (self->hsize[app] < self->hcap[app]) return 0;
    uint64_t cap = self->hcap[app] ? (uint64_t)self->hcap[app] * 3 / 2 : 64;
    if (cap > IDX_NONE) cap = IDX_NONE;
    if (cap <= self->hsize[app]) return KMS_ENOMEM;
    uint32_t *h = realloc(self->heap[app], cap * sizeof *h);
    if (!h) return KMS_ENOMEM;
    self->heap[app] = h;
    self->hcap[app] = (uint32_t)cap;
    return 0;
}

/* ---- N histogram ---- */

static void hist_add(clients_index *self, unsigned app, unsigned n)
{
    self->hist[app][n]++;
    if (n > self->max_n[app]) self->max_n[app] = (uint16_t)n;
}

static void hist_remove(clients_index *self, unsigned app, unsigned n)
{
    self->hist[app][n]--;
    if (n == self->max_n[app] && self->hist[app][n] == 0) {
        while (n > 0 && self->hist[app][n] == 0) n--;
        self->max_n[app] = (uint16_t)n;
    }
}

/* ---- the N a record counts with ---- */

static unsigned effective_n(const clients_index *self, unsigned app, const uint8_t kms_id[16],
                            uint16_t client_n)
{
    unsigned cap = self->app_max_n[app], n = client_n;
    if (kms_id) {
        kms_guid g;
        memcpy(g.b, kms_id, sizeof g.b);
        const kms_product *p = products_index_find(&self->products, &g);
        if (p) n = p->n_policy;
    }
    if (n < 1) n = 1;
    return n < cap ? n : cap;
}

/* ---- slots ---- */

static int slot_alloc(clients_index *self, uint32_t *out)
{
    if (self->free_head != IDX_NONE) {
        *out = self->free_head;
        self->free_head = rec_at(self, *out)->hpos;
        return 0;
    }
    if (self->used >= IDX_NONE) return KMS_ENOMEM;
    uint32_t chunk = self->used >> CLIENTS_CHUNK_BITS;
    if (chunk >= self->nchunks) {
        if (self->nchunks == self->chunks_cap) {
            uint32_t cap = self->chunks_cap ? self->chunks_cap * 2 : 16;
            crec **c = realloc(self->chunks, cap * sizeof *c);
            if (!c) return KMS_ENOMEM;
            self->chunks = c;
            self->chunks_cap = cap;
        }
        crec *blk = malloc(CLIENTS_CHUNK * sizeof *blk);
        if (!blk) return KMS_ENOMEM;
        self->chunks[self->nchunks++] = blk;
    }
    *out = self->used++;
    return 0;
}

/* ---- public API ---- */

clients_index *clients_new(void)
{
    clients_index *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->free_head = IDX_NONE;
    uint64_t k[2];
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* No entropy source: still vary the key per process and instance. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)self;
        k[1] = (uint64_t)ts.tv_sec * 0xC2B2AE3D27D4EB4Full ^ (uint64_t)(uintptr_t)&k;
    }
    self->k0 = k[0];
    self->k1 = k[1];
    clients_set_rule(self, DEFAULT_LIFETIME_DAYS, 0);
    products_index_build(&self->products);
    for (size_t i = 0; i < products_count(); i++) {
        const kms_product *p = products_at(i);
        if ((unsigned)p->app < CLIENTS_APPS && p->n_policy > self->app_max_n[p->app])
            self->app_max_n[p->app] = p->n_policy > CLIENTS_N_MAX ? CLIENTS_N_MAX : p->n_policy;
    }
    return self;
}

void clients_free(clients_index **self_p)
{
    if (!self_p || !*self_p) return;
    clients_index *self = *self_p;
    *self_p = NULL;
    for (uint32_t i = 0; i < self->nchunks; i++) free(self->chunks[i]);
    free(self->chunks);
    free(self->table);
    for (unsigned a = 0; a < CLIENTS_APPS; a++) free(self->heap[a]);
    free(self);
}

int clients_touch(clients_index *self, int app, const uint8_t cmid[16], const uint8_t kms_id[16],
                  int64_t last_seen_ms, uint16_t n_policy)
{
    if (app < 0 || app >= CLIENTS_APPS || last_seen_ms < 0 || last_seen_ms >= ((int64_t)1 << TIME_BITS))
        return KMS_EINVAL;
    unsigned a = (unsigned)app, n = effective_n(self, a, kms_id, n_policy);
    uint64_t h = key_hash(self, a, cmid);
    bool found = false;
    uint32_t pos = 0;
    if (self->tcap) pos = table_find(self, a, cmid, h, &found);
    if (found) {
        crec *r = rec_at(self, self->table[pos] & IDX_MASK);
        int64_t t = rec_time(r);
        unsigned old_n = rec_n(r);
        /* Later wins with its N; at the same time the larger N, so the order of touches
         * does not matter. An older touch changes nothing. */
        if (last_seen_ms > t || (last_seen_ms == t && n > old_n)) {
            rec_set(r, last_seen_ms, a, n);
            if (n != old_n) {
                hist_add(self, a, n);
                hist_remove(self, a, old_n);
            }
            if (last_seen_ms > t) sift_down(self, a, r->hpos);
        }
        return 0;
    }
    /* Reserve everything before changing anything, so a failure leaves the index whole. */
    if (self->count >= IDX_NONE - 1) return KMS_ENOMEM;
    bool grew = !self->tcap || (uint64_t)(self->count + 1) * 10 > (uint64_t)self->tcap * 7;
    if (table_reserve(self) != 0 || heap_reserve(self, a) != 0) return KMS_ENOMEM;
    if (grew) pos = table_find(self, a, cmid, h, &found); /* the table was rebuilt */
    uint32_t idx;
    if (slot_alloc(self, &idx) != 0) return KMS_ENOMEM;
    crec *r = rec_at(self, idx);
    memcpy(r->cmid, cmid, 16);
    rec_set(r, last_seen_ms, a, n);
    self->table[pos] = idx | hash_tag(h);
    uint32_t i = self->hsize[a]++;
    self->heap[a][i] = idx;
    r->hpos = i;
    sift_up(self, a, i);
    hist_add(self, a, n);
    self->count++;
    return 1;
}

/* Removes the root of app's heap. */
static void pop_oldest(clients_index *self, unsigned app)
{
    uint32_t *heap = self->heap[app];
    uint32_t idx = heap[0];
    uint32_t last = heap[--self->hsize[app]];
    if (self->hsize[app] > 0) {
        heap_place(self, heap, 0, last);
        sift_down(self, app, 0);
    }
    crec *r = rec_at(self, idx);
    bool found;
    uint32_t pos = table_find(self, app, r->cmid, key_hash(self, app, r->cmid), &found);
    if (found) table_delete_at(self, pos);
    hist_remove(self, app, rec_n(r));
    r->meta = APP_FREE << 12;
    r->hpos = self->free_head;
    self->free_head = idx;
    self->count--;
}

/* ---- the count rule ---- */

void clients_set_rule(clients_index *self, uint32_t lifetime_days, uint32_t count_cap)
{
    self->lifetime_ms = (int64_t)lifetime_days * DAY_MS;
    self->fixed_cap = count_cap;
}

int64_t clients_cutoff(const clients_index *self, int64_t now_ms)
{
    return now_ms - self->lifetime_ms; /* kept: last_seen >= cutoff */
}

/* The count a host reports for live clients whose largest N is max_n. */
static uint32_t reported(const clients_index *self, uint32_t live, unsigned max_n)
{
    uint32_t cap = self->fixed_cap ? self->fixed_cap : 2u * max_n;
    return live < cap ? live : cap;
}

static size_t expire_app(clients_index *self, unsigned app, int64_t cutoff)
{
    size_t dropped = 0;
    while (self->hsize[app] > 0 && heap_time(self, self->heap[app], 0) < cutoff) {
        pop_oldest(self, app);
        dropped++;
    }
    return dropped;
}

size_t clients_expire(clients_index *self, int64_t now_ms)
{
    size_t dropped = 0;
    for (unsigned a = 0; a < CLIENTS_APPS; a++) dropped += expire_app(self, a, clients_cutoff(self, now_ms));
    return dropped;
}

uint32_t clients_rule_count(const clients_index *self, uint32_t live, uint16_t max_n)
{
    return reported(self, live, max_n);
}

uint32_t clients_count(clients_index *self, int app, int64_t now_ms)
{
    if (app < 0 || app >= CLIENTS_APPS) return 0;
    expire_app(self, (unsigned)app, clients_cutoff(self, now_ms));
    return reported(self, self->hsize[app], self->max_n[app]);
}

/* Counts the records of app's heap below position i that are expired at cutoff, and their
 * N in stale_n. The heap is a min-heap by last_seen, so the expired ones are a subtree at
 * its top: the walk visits only them (recursion depth: the heap's height). */
static uint32_t count_expired(const clients_index *self, unsigned app, uint32_t i, int64_t cutoff,
                              uint32_t stale_n[CLIENTS_N_MAX + 1])
{
    if (i >= self->hsize[app] || heap_time(self, self->heap[app], i) >= cutoff) return 0;
    stale_n[rec_n(rec_at(self, self->heap[app][i]))]++;
    return 1 + count_expired(self, app, 2 * i + 1, cutoff, stale_n) +
           count_expired(self, app, 2 * i + 2, cutoff, stale_n);
}

clients_stat clients_stat_at(const clients_index *self, int app, int64_t now_ms)
{
    clients_stat st = {0, 0, 0};
    if (app < 0 || app >= CLIENTS_APPS) return st;
    unsigned a = (unsigned)app;
    uint32_t stale_n[CLIENTS_N_MAX + 1];
    memset(stale_n, 0, sizeof stale_n);
    uint32_t stale = count_expired(self, a, 0, clients_cutoff(self, now_ms), stale_n);
    st.live = self->hsize[a] - stale;
    unsigned n = self->max_n[a];
    while (n > 0 && self->hist[a][n] <= stale_n[n]) n--;
    st.max_n = (uint16_t)n;
    st.count = reported(self, st.live, n);
    return st;
}

int64_t clients_last_seen(const clients_index *self, int app, const uint8_t cmid[16])
{
    if (app < 0 || app >= CLIENTS_APPS || !self->tcap) return -1;
    bool found;
    uint32_t pos = table_find(self, (unsigned)app, cmid, key_hash(self, (unsigned)app, cmid), &found);
    return found ? rec_time(rec_at(self, self->table[pos] & IDX_MASK)) : -1;
}

size_t clients_size(const clients_index *self) { return self->count; }

size_t clients_memory(const clients_index *self)
{
    size_t m = sizeof *self;
    m += (size_t)self->chunks_cap * sizeof *self->chunks;
    m += (size_t)self->nchunks * CLIENTS_CHUNK * sizeof(crec);
    m += (size_t)self->tcap * sizeof *self->table;
    for (unsigned a = 0; a < CLIENTS_APPS; a++) m += (size_t)self->hcap[a] * sizeof *self->heap[a];
    return m;
}
