/* cursor.h: bounds-checked readers and writers over caller buffers, little-endian (rc_u16,
 * wc_u16: DCE/RPC, KMS, replication) and big-endian (rc_be16, wc_be16: DNS). The first
 * error sticks (c->err: a later failure never replaces it, also one a parser set itself),
 * so a parser reads everything and checks once at the end; reads after an error or past
 * the end yield zeros, writes after an error or past the end write nothing. Header-only. */
#ifndef KMSHA_CURSOR_H
#define KMSHA_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "proto/errors.h"

typedef struct rcursor {
    const uint8_t *p;
    size_t len;
    size_t pos;
    int err; /* 0, KMS_ETRUNC, or the caller's own first error */
} rcursor;

typedef struct wcursor {
    uint8_t *p;
    size_t cap;
    size_t pos;
    int err; /* 0, KMS_ESPACE, or the caller's own first error */
} wcursor;

static inline rcursor rc_init(const uint8_t *p, size_t len) { rcursor c = {p, len, 0, 0}; return c; }
static inline size_t rc_left(const rcursor *c) { return c->err ? 0 : c->len - c->pos; }
static inline const uint8_t *rc_take(rcursor *c, size_t n)
{
    if (c->err) return NULL;
    if (c->len - c->pos < n) { c->err = KMS_ETRUNC; return NULL; }
    const uint8_t *r = c->p + c->pos;
    c->pos += n;
    return r;
}
static inline void rc_bytes(rcursor *c, void *out, size_t n)
{
    const uint8_t *s = rc_take(c, n);
    if (s) memcpy(out, s, n); else memset(out, 0, n);
}
static inline void rc_skip(rcursor *c, size_t n) { (void)rc_take(c, n); }
static inline uint8_t rc_u8(rcursor *c) { const uint8_t *s = rc_take(c, 1); return s ? s[0] : 0; }
static inline uint16_t rc_u16(rcursor *c)
{
    const uint8_t *s = rc_take(c, 2);
    return s ? (uint16_t)(s[0] | (s[1] << 8)) : 0;
}
static inline uint32_t rc_u32(rcursor *c)
{
    const uint8_t *s = rc_take(c, 4);
    return s ? (uint32_t)s[0] | ((uint32_t)s[1] << 8) | ((uint32_t)s[2] << 16) | ((uint32_t)s[3] << 24) : 0;
}
static inline uint64_t rc_u64(rcursor *c)
{
    uint64_t lo = rc_u32(c);
    uint64_t hi = rc_u32(c);
    return lo | (hi << 32);
}
static inline uint16_t rc_be16(rcursor *c)
{
    const uint8_t *s = rc_take(c, 2);
    return s ? (uint16_t)((s[0] << 8) | s[1]) : 0;
}
static inline uint32_t rc_be32(rcursor *c)
{
    const uint8_t *s = rc_take(c, 4);
    return s ? ((uint32_t)s[0] << 24) | ((uint32_t)s[1] << 16) | ((uint32_t)s[2] << 8) | s[3] : 0;
}
/* 48 bits (the DNS TSIG time). */
static inline uint64_t rc_be48(rcursor *c)
{
    const uint8_t *s = rc_take(c, 6);
    uint64_t v = 0;
    if (s)
        for (int i = 0; i < 6; i++) v = (v << 8) | s[i];
    return v;
}

static inline wcursor wc_init(uint8_t *p, size_t cap) { wcursor c = {p, cap, 0, 0}; return c; }
static inline uint8_t *wc_reserve(wcursor *c, size_t n)
{
    if (c->err) return NULL;
    if (c->cap - c->pos < n) { c->err = KMS_ESPACE; return NULL; }
    uint8_t *r = c->p + c->pos;
    c->pos += n;
    return r;
}
static inline void wc_bytes(wcursor *c, const void *src, size_t n)
{
    uint8_t *d = wc_reserve(c, n);
    if (d && n) memcpy(d, src, n);
}
static inline void wc_zero(wcursor *c, size_t n) { uint8_t *d = wc_reserve(c, n); if (d) memset(d, 0, n); }
static inline void wc_u8(wcursor *c, uint8_t v) { wc_bytes(c, &v, 1); }
static inline void wc_u16(wcursor *c, uint16_t v) { uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; wc_bytes(c, b, 2); }
static inline void wc_u32(wcursor *c, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wc_bytes(c, b, 4);
}
static inline void wc_u64(wcursor *c, uint64_t v) { wc_u32(c, (uint32_t)v); wc_u32(c, (uint32_t)(v >> 32)); }
static inline void wc_be16(wcursor *c, uint16_t v) { uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v}; wc_bytes(c, b, 2); }
static inline void wc_be32(wcursor *c, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    wc_bytes(c, b, 4);
}
static inline void wc_be48(wcursor *c, uint64_t v)
{
    uint8_t b[6];
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(v >> (8 * (5 - i)));
    wc_bytes(c, b, 6);
}
/* Patches a u16/u32 at an absolute offset already written (frag_length, alloc_hint). */
static inline void wc_put_u16_at(wcursor *c, size_t off, uint16_t v)
{
    if (!c->err && off + 2 <= c->pos) { c->p[off] = (uint8_t)v; c->p[off + 1] = (uint8_t)(v >> 8); }
}
static inline void wc_put_u32_at(wcursor *c, size_t off, uint32_t v)
{
    if (!c->err && off + 4 <= c->pos)
        for (int i = 0; i < 4; i++) c->p[off + i] = (uint8_t)(v >> (8 * i));
}

#endif
