/* testutil.c: see testutil.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "tests/testutil.h"
#include "proto/clock.h"

#include <ftw.h>
#include <time.h>

#include <stdlib.h>

#ifndef KMSHA_VECTORS
#error "KMSHA_VECTORS (the golden vectors' directory, tests/vectors) comes from tests/CMakeLists.txt"
#endif

int tu_checks, tu_failures;

int tu_check(int ok, const char *expr, const char *file, int line, const char *msg)
{
    tu_checks++;
    if (!ok) {
        tu_failures++;
        fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, msg ? " -- " : "", msg ? msg : "");
    }
    return ok;
}

int tu_check_mem(const void *a, const void *b, size_t n, const char *ea, const char *eb,
                 const char *file, int line)
{
    int ok = memcmp(a, b, n) == 0;
    if (!ok) {
        char msg[2200];
        snprintf(msg, sizeof msg, "\n  got      %s\n", tu_hex(a, n > 256 ? 256 : n));
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, "  expected %s", tu_hex(b, n > 256 ? 256 : n));
        char expr[256];
        snprintf(expr, sizeof expr, "%s == %s (%zu bytes)", ea, eb, n);
        return tu_check(0, expr, file, line, msg);
    }
    return tu_check(1, ea, file, line, NULL);
}

int tu_finish(void)
{
    printf("%d passed, %d failed\n", tu_checks - tu_failures, tu_failures);
    return tu_failures ? 1 : 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long tu_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

uint8_t *tu_unhex_alloc(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return NULL;
    if (tu_unhex(hex, b, n) < 0) { free(b); return NULL; }
    *len = n;
    return b;
}

const char *tu_hex(const uint8_t *b, size_t n)
{
    static char bufs[4][1100];
    static int which;
    char *o = bufs[which++ & 3];
    if (n > 540) n = 540;
    for (size_t i = 0; i < n; i++) sprintf(o + 2 * i, "%02x", b[i]);
    o[2 * n] = 0;
    return o;
}

json_t *tu_load_vector(const char *name)
{
    const char *dir = getenv("KMSHA_VECTORS");
    if (!dir || !*dir) dir = KMSHA_VECTORS;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        fprintf(stderr, "cannot load %s: %s (line %d)\n", path, e.text, e.line);
        exit(2);
    }
    return j;
}

const char *tu_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        fprintf(stderr, "vector: missing string key %s\n", key);
        exit(2);
    }
    return json_string_value(v);
}

long long tu_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        fprintf(stderr, "vector: missing integer key %s\n", key);
        exit(2);
    }
    return json_integer_value(v);
}

void tu_random_push(tu_random *r, const uint8_t *bytes, size_t n)
{
    if (r->len + n > sizeof r->buf) abort();
    memcpy(r->buf + r->len, bytes, n);
    r->len += n;
}

int tu_random_fn(void *ctx, uint8_t *out, size_t n)
{
    tu_random *r = ctx;
    if (r->len - r->pos < n) return -14; /* KMS_ERANDOM */
    memcpy(out, r->buf + r->pos, n);
    r->pos += n;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

char *tu_temp_dir(const char *prefix, char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/kmsha-%s-XXXXXX", prefix);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(2);
    }
    return buf;
}

void tu_remove_dir(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

double tu_mono_ms(void) { return clock_mono_ms(); }
