/* json.c: the JSON string writer (see json.h). */
#include "proto/json.h"

#include <string.h>

static int needs_escape(unsigned char c) { return c < 0x20 || c == 0x7f || c == '"' || c == '\\'; }

void json_write_str(const char *s, json_put_fn *put, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    put(ctx, "\"", 1);
    while (*s) {
        size_t run = 0;
        while (s[run] && !needs_escape((unsigned char)s[run])) run++;
        if (run) {
            put(ctx, s, run);
            s += run;
            continue;
        }
        unsigned char c = (unsigned char)*s++;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(ctx, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(ctx, e, 6);
        }
    }
    put(ctx, "\"", 1);
}

typedef struct fixed_buf {
    char *out;
    size_t cap, need;
} fixed_buf;

static void put_fixed(void *ctx, const char *p, size_t len)
{
    fixed_buf *b = ctx;
    if (b->need + 1 < b->cap) {
        size_t room = b->cap - 1 - b->need;
        memcpy(b->out + b->need, p, len < room ? len : room);
    }
    b->need += len;
}

size_t json_format_str(char *out, size_t cap, const char *s)
{
    fixed_buf b = {out, cap, 0};
    json_write_str(s, put_fixed, &b);
    if (cap) out[b.need < cap ? b.need : cap - 1] = 0;
    return b.need;
}
