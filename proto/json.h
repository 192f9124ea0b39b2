/* json.h: the one JSON string writer of kmsha (the audit log, /status, /clients, /dns,
 * kmsctl's and kmsbench's JSON files all quote strings through it). Pure: the caller says
 * where the bytes go. */
#ifndef KMSHA_JSON_H
#define KMSHA_JSON_H

#include <stddef.h>

/* Receives a piece of output: len bytes at p (not terminated). */
typedef void json_put_fn(void *ctx, const char *p, size_t len);

/* Writes s as a JSON string literal, quotes included, through put: '"' and '\' are
 * escaped with a backslash, control characters (below 0x20) and DEL as \u00xx; every other
 * byte (UTF-8 included) as it is. Runs that need no escape go out in one piece. */
void json_write_str(const char *s, json_put_fn *put, void *ctx);

/* The same into out[0..cap), snprintf-like: always terminated when cap > 0, cut when it
 * does not fit; returns the length the whole literal needs (without the terminator). */
size_t json_format_str(char *out, size_t cap, const char *s);

#endif
