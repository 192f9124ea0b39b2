/* test_json.c: the one JSON string writer (proto/json.h): escapes, control characters and
 * DEL, UTF-8 passed through, pieces, and the snprintf-like fixed-buffer form. */
#include "proto/json.h"

#include <stdio.h>
#include <string.h>
#include "tests/testutil.h"

typedef struct sink {
    char buf[256];
    size_t len;
    int pieces;
} sink;

static void put(void *ctx, const char *p, size_t n)
{
    sink *s = ctx;
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = 0;
    s->pieces++;
}

static void check(const char *in, const char *want)
{
    sink s = {{0}, 0, 0};
    json_write_str(in, put, &s);
    CHECKF(strcmp(s.buf, want) == 0, "json of '%s': %s, expected %s", in, s.buf, want);
    char out[256];
    CHECK_EQ_INT(json_format_str(out, sizeof out, in), strlen(want));
    CHECK(strcmp(out, want) == 0);
}

int main(void)
{
    check("", "\"\"");
    check("plain text", "\"plain text\"");
    check("a\"b\\c", "\"a\\\"b\\\\c\"");
    check("tab\there\nnl\r\x01\x1f", "\"tab\\u0009here\\u000anl\\u000d\\u0001\\u001f\"");
    check("del\x7f", "\"del\\u007f\"");
    check("\xe5\xad\xa6\xe7\x94\x9f PC-01", "\"\xe5\xad\xa6\xe7\x94\x9f PC-01\"");
    /* A run without escapes is one piece: quote, run, quote. */
    sink s = {{0}, 0, 0};
    json_write_str("WORKSTATION-0042", put, &s);
    CHECK_EQ_INT(s.pieces, 3);
    /* Cut like snprintf, always terminated; the return says what was needed. */
    char small[6];
    CHECK_EQ_INT(json_format_str(small, sizeof small, "abcdefgh"), 10);
    CHECK(strcmp(small, "\"abcd") == 0);
    CHECK_EQ_INT(json_format_str(small, 1, "x"), 3);
    CHECK_EQ_INT(small[0], 0);
    CHECK_EQ_INT(json_format_str(NULL, 0, "x\n"), 9);
    return tu_finish();
}
