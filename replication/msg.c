/* msg.c: replication message codec (see msg.h). Every read goes through the bounded
 * cursor; strings are length-prefixed, NUL-free and bounded; counts are checked against
 * their maxima before anything is written into the caller's structs. */
#include "replication/msg.h"

#include <stdbool.h>
#include <string.h>
#include "proto/cursor.h"
#include "proto/errors.h"

#define MAGIC0 'K'
#define MAGIC1 'R'

/* Heartbeats are written in version 2 (they carry the sender's origin and retired
 * origins); every other message in version 1, whose layout version 2 keeps. */
static void put_header(wcursor *w, uint8_t type)
{
    wc_u8(w, MAGIC0);
    wc_u8(w, MAGIC1);
    wc_u8(w, type == REPL_MSG_HEARTBEAT ? REPL_MSG_VERSION : 1);
    wc_u8(w, type);
}

static void put_str(wcursor *w, const char *s)
{
    size_t n = strnlen(s, STORE_ORIGIN_MAX - 1);
    wc_u8(w, (uint8_t)n);
    wc_bytes(w, s, n);
}

/* A string of 1 .. STORE_ORIGIN_MAX - 1 bytes (0 bytes too when may_be_empty). */
static int get_str_or_empty(rcursor *r, char *out, bool may_be_empty)
{
    uint8_t n = rc_u8(r);
    if (r->err) return r->err;
    out[0] = 0;
    if (n == 0 && may_be_empty) return 0;
    if (n == 0 || n >= STORE_ORIGIN_MAX) return KMS_EINVAL;
    const uint8_t *p = rc_take(r, n);
    if (!p) return KMS_ETRUNC;
    if (memchr(p, 0, n)) return KMS_EINVAL;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

static int get_str(rcursor *r, char *out) { return get_str_or_empty(r, out, false); }

static void put_vv(wcursor *w, const store_vv *vv)
{
    int n = vv->n < 0 ? 0 : vv->n > STORE_VV_MAX ? STORE_VV_MAX : vv->n;
    wc_u8(w, (uint8_t)n);
    for (int i = 0; i < n; i++) {
        put_str(w, vv->e[i].origin);
        wc_u64(w, vv->e[i].seq);
    }
}

static int get_vv(rcursor *r, store_vv *vv)
{
    int n = rc_u8(r); /* a byte: never above STORE_VV_MAX (255), checked for a smaller one */
    if (r->err) return r->err;
    if (n > STORE_VV_MAX) return KMS_ETOOBIG;
    vv->n = 0;
    for (int i = 0; i < n; i++) {
        int rc = get_str(r, vv->e[i].origin);
        if (rc < 0) return rc;
        vv->e[i].seq = rc_u64(r);
        for (int j = 0; j < i; j++)
            if (strcmp(vv->e[j].origin, vv->e[i].origin) == 0) return KMS_EINVAL;
        vv->n = i + 1;
    }
    return r->err;
}

static void put_record(wcursor *w, const store_record *rec)
{
    size_t lenpos = w->pos;
    wc_u16(w, 0);
    uint8_t *dst = w->err ? NULL : w->p + w->pos;
    int n = dst ? store_record_encode(rec, dst, w->cap - w->pos) : KMS_ESPACE;
    if (n < 0) { w->err = KMS_ESPACE; return; }
    w->pos += (size_t)n;
    wc_put_u16_at(w, lenpos, (uint16_t)n);
}

static int get_record(rcursor *r, store_record *rec)
{
    uint16_t n = rc_u16(r);
    if (n > STORE_RECORD_WIRE_MAX) return KMS_ETOOBIG;
    const uint8_t *p = rc_take(r, n);
    if (!p) return KMS_ETRUNC;
    int rc = store_record_decode(p, n, rec);
    if (rc < 0) return rc;
    return rc == n ? 0 : KMS_EINVAL;
}

static int finish(const wcursor *w) { return w->err ? w->err : (int)w->pos; }

static int check_end(const rcursor *r)
{
    if (r->err) return r->err;
    return r->pos == r->len ? 0 : KMS_EINVAL;
}

int repl_peek_type(const uint8_t *buf, size_t len)
{
    if (len < 4) return KMS_ETRUNC;
    if (buf[0] != MAGIC0 || buf[1] != MAGIC1) return KMS_EPROTO;
    if (buf[2] < 1 || buf[2] > REPL_MSG_VERSION) return KMS_EVERSION;
    if (buf[3] < REPL_MSG_UPDATE || buf[3] > REPL_MSG_SYNC_REP) return KMS_EPROTO;
    return buf[3];
}

static int open_msg(rcursor *r, const uint8_t *buf, size_t len, int type)
{
    int t = repl_peek_type(buf, len);
    if (t < 0) return t;
    if (t != type) return KMS_EPROTO;
    *r = rc_init(buf, len);
    rc_skip(r, 4);
    return 0;
}

int repl_encode_update(const store_update *u, uint8_t *out, size_t cap)
{
    wcursor w = wc_init(out, cap);
    put_header(&w, REPL_MSG_UPDATE);
    put_str(&w, u->origin);
    wc_u64(&w, u->seq);
    put_record(&w, &u->rec);
    return finish(&w);
}

int repl_decode_update(const uint8_t *buf, size_t len, store_update *u)
{
    rcursor r;
    int rc = open_msg(&r, buf, len, REPL_MSG_UPDATE);
    if (rc < 0) return rc;
    if ((rc = get_str(&r, u->origin)) < 0) return rc;
    u->seq = rc_u64(&r);
    if (r.err) return r.err;
    if (u->seq == 0) return KMS_EINVAL;
    if ((rc = get_record(&r, &u->rec)) < 0) return rc;
    return check_end(&r);
}

int repl_encode_heartbeat(const repl_heartbeat *hb, uint8_t *out, size_t cap)
{
    wcursor w = wc_init(out, cap);
    put_header(&w, REPL_MSG_HEARTBEAT);
    put_str(&w, hb->node);
    wc_u64(&w, (uint64_t)hb->time_ms);
    wc_u64(&w, (uint64_t)hb->last_update_ms);
    put_vv(&w, &hb->vv);
    put_str(&w, hb->origin); /* may be empty: not chosen yet */
    put_vv(&w, &hb->retired);
    int owed = hb->n_owed < 0 ? 0 : hb->n_owed > REPL_OWED_MAX ? REPL_OWED_MAX : hb->n_owed;
    wc_u8(&w, (uint8_t)owed);
    for (int i = 0; i < owed; i++) put_str(&w, hb->owed[i]);
    return finish(&w);
}

int repl_decode_heartbeat(const uint8_t *buf, size_t len, repl_heartbeat *hb)
{
    rcursor r;
    int rc = open_msg(&r, buf, len, REPL_MSG_HEARTBEAT);
    if (rc < 0) return rc;
    if ((rc = get_str(&r, hb->node)) < 0) return rc;
    hb->time_ms = (int64_t)rc_u64(&r);
    hb->last_update_ms = (int64_t)rc_u64(&r);
    if ((rc = get_vv(&r, &hb->vv)) < 0) return rc;
    hb->origin[0] = 0;
    hb->retired.n = 0;
    hb->n_owed = 0;
    if (buf[2] >= 2) { /* version 1 ends here */
        if ((rc = get_str_or_empty(&r, hb->origin, true)) < 0) return rc;
        if ((rc = get_vv(&r, &hb->retired)) < 0) return rc;
        int owed = rc_u8(&r);
        if (r.err) return r.err;
        if (owed > REPL_OWED_MAX) return KMS_ETOOBIG;
        for (int i = 0; i < owed; i++) {
            if ((rc = get_str(&r, hb->owed[i])) < 0) return rc;
            hb->n_owed = i + 1;
        }
    }
    return check_end(&r);
}

int repl_encode_sync_req(const repl_sync_req *rq, uint8_t *out, size_t cap)
{
    wcursor w = wc_init(out, cap);
    put_header(&w, REPL_MSG_SYNC_REQ);
    put_str(&w, rq->node);
    put_vv(&w, &rq->vv);
    wc_u8(&w, rq->snapshot ? 1 : 0);
    uint8_t cl = rq->cursor_len > STORE_KEY_LEN ? STORE_KEY_LEN : rq->cursor_len;
    wc_u8(&w, cl);
    wc_bytes(&w, rq->cursor, cl);
    wc_u32(&w, rq->max);
    return finish(&w);
}

int repl_decode_sync_req(const uint8_t *buf, size_t len, repl_sync_req *rq)
{
    rcursor r;
    int rc = open_msg(&r, buf, len, REPL_MSG_SYNC_REQ);
    if (rc < 0) return rc;
    if ((rc = get_str(&r, rq->node)) < 0) return rc;
    if ((rc = get_vv(&r, &rq->vv)) < 0) return rc;
    uint8_t snap = rc_u8(&r);
    uint8_t cl = rc_u8(&r);
    if (r.err) return r.err;
    if (snap > 1 || (cl != 0 && cl != STORE_KEY_LEN)) return KMS_EINVAL;
    rq->snapshot = snap;
    rq->cursor_len = cl;
    rc_bytes(&r, rq->cursor, cl);
    rq->max = rc_u32(&r);
    if (r.err) return r.err;
    if (rq->max == 0 || rq->max > REPL_BATCH_MAX) rq->max = REPL_BATCH_MAX;
    return check_end(&r);
}

int repl_encode_sync_rep(const repl_sync_rep *rp, uint8_t *out, size_t cap)
{
    wcursor w = wc_init(out, cap);
    put_header(&w, REPL_MSG_SYNC_REP);
    put_str(&w, rp->node);
    wc_u8(&w, rp->mode);
    wc_u8(&w, rp->more ? 1 : 0);
    wc_u8(&w, rp->done ? 1 : 0);
    uint8_t cl = rp->cursor_len > STORE_KEY_LEN ? STORE_KEY_LEN : rp->cursor_len;
    wc_u8(&w, cl);
    wc_bytes(&w, rp->cursor, cl);
    put_vv(&w, &rp->vv);
    uint32_t n = rp->n > REPL_BATCH_MAX ? REPL_BATCH_MAX : rp->n;
    wc_u32(&w, n);
    for (uint32_t i = 0; i < n; i++) {
        if (rp->mode == REPL_SYNC_LOG) {
            put_str(&w, rp->updates[i].origin);
            wc_u64(&w, rp->updates[i].seq);
        }
        put_record(&w, &rp->updates[i].rec);
    }
    return finish(&w);
}

size_t repl_sync_rep_max_len(void)
{
    return 64 + STORE_KEY_LEN + (size_t)STORE_VV_MAX * (STORE_ORIGIN_MAX + 9) +
           (size_t)REPL_BATCH_MAX * (STORE_ORIGIN_MAX + 8 + 2 + STORE_RECORD_WIRE_MAX);
}

int repl_decode_sync_rep(const uint8_t *buf, size_t len, repl_sync_rep *rp)
{
    rcursor r;
    int rc = open_msg(&r, buf, len, REPL_MSG_SYNC_REP);
    if (rc < 0) return rc;
    if ((rc = get_str(&r, rp->node)) < 0) return rc;
    rp->mode = rc_u8(&r);
    rp->more = rc_u8(&r);
    rp->done = rc_u8(&r);
    uint8_t cl = rc_u8(&r);
    if (r.err) return r.err;
    if (rp->mode > REPL_SYNC_SNAPSHOT || rp->more > 1 || rp->done > 1 ||
        (cl != 0 && cl != STORE_KEY_LEN))
        return KMS_EINVAL;
    rp->cursor_len = cl;
    rc_bytes(&r, rp->cursor, cl);
    if ((rc = get_vv(&r, &rp->vv)) < 0) return rc;
    uint32_t n = rc_u32(&r);
    if (r.err) return r.err;
    if (n > REPL_BATCH_MAX) return KMS_ETOOBIG;
    rp->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        store_update *u = &rp->updates[i];
        if (rp->mode == REPL_SYNC_LOG) {
            if ((rc = get_str(&r, u->origin)) < 0) return rc;
            u->seq = rc_u64(&r);
            if (r.err) return r.err;
            if (u->seq == 0) return KMS_EINVAL;
        } else {
            u->origin[0] = 0;
            u->seq = 0;
        }
        if ((rc = get_record(&r, &u->rec)) < 0) return rc;
        rp->n = i + 1;
    }
    return check_end(&r);
}
