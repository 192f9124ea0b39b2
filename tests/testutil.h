/* testutil.h: a minimal unit-test harness (CHECK macros, a summary line) and helpers to
 * read the golden vectors (tests/vectors) with jansson. */
#ifndef KMSHA_TESTUTIL_H
#define KMSHA_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int tu_checks, tu_failures;

#define CHECK(cond) tu_check((cond), #cond, __FILE__, __LINE__, NULL)
#define CHECKF(cond, ...) do { char tu_msg_[512]; snprintf(tu_msg_, sizeof tu_msg_, __VA_ARGS__); \
    tu_check((cond), #cond, __FILE__, __LINE__, tu_msg_); } while (0)
#define CHECK_EQ_INT(a, b) do { long long tu_a_ = (long long)(a), tu_b_ = (long long)(b); \
    CHECKF(tu_a_ == tu_b_, "%s = %lld, expected %s = %lld", #a, tu_a_, #b, tu_b_); } while (0)
#define CHECK_MEM(a, b, n) tu_check_mem((a), (b), (n), #a, #b, __FILE__, __LINE__)

int tu_check(int ok, const char *expr, const char *file, int line, const char *msg);
int tu_check_mem(const void *a, const void *b, size_t n, const char *ea, const char *eb,
                 const char *file, int line);
/* Prints "N passed, N failed" and returns the process exit code. */
int tu_finish(void);

/* Hex text -> bytes; returns the byte count or -1. out must hold strlen(hex)/2 bytes. */
long tu_unhex(const char *hex, uint8_t *out, size_t cap);
/* Allocates and decodes; *len receives the length. Caller frees. NULL on bad hex. */
uint8_t *tu_unhex_alloc(const char *hex, size_t *len);
/* bytes -> lower-case hex in a static rotating buffer (for messages). */
const char *tu_hex(const uint8_t *b, size_t n);

/* Loads tests/vectors/NAME (the directory from the environment's KMSHA_VECTORS, else the
 * one compiled in); aborts the test on failure. */
json_t *tu_load_vector(const char *name);
/* Convenience getters that abort with a message when the key is missing. */
const char *tu_str(json_t *obj, const char *key);
long long tu_int(json_t *obj, const char *key);

/* A fresh directory /tmp/kmsha-PREFIX-XXXXXX (written into buf); exits the test on
 * failure. tu_remove_dir deletes a directory tree. tu_mono_ms: monotonic milliseconds. */
char *tu_temp_dir(const char *prefix, char *buf, size_t len);
void tu_remove_dir(const char *dir);
double tu_mono_ms(void);

/* A deterministic random source for kms_random_fn: returns queued chunks in order. */
typedef struct tu_random {
    uint8_t buf[256];
    size_t len, pos;
} tu_random;
void tu_random_push(tu_random *r, const uint8_t *bytes, size_t n);
int tu_random_fn(void *ctx, uint8_t *out, size_t n);

#endif
