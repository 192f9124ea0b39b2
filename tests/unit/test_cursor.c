/* test_cursor.c: the bounds-checked cursor (proto/cursor.h): little- and big-endian reads
 * and writes, reads past the end yield zeros, and the first error sticks, also one the
 * parser set itself (a later truncation must not replace it). */
#include "proto/cursor.h"

#include <stdio.h>
#include "proto/errors.h"
#include "tests/testutil.h"

static void test_read(void)
{
    static const uint8_t b[] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};
    rcursor c = rc_init(b, sizeof b);
    CHECK_EQ_INT(rc_u16(&c), 0x3412);
    CHECK_EQ_INT(rc_be16(&c), 0x5678);
    CHECK_EQ_INT(rc_be32(&c), 0x9abcdef0u);
    CHECK_EQ_INT(rc_left(&c), 0);
    CHECK_EQ_INT(c.err, 0);
    c = rc_init(b, sizeof b);
    CHECK_EQ_INT(rc_be48(&c), 0x123456789abcLL);
    CHECK_EQ_INT(rc_u16(&c), 0xf0de);
    /* Past the end: zeros and KMS_ETRUNC. */
    CHECK_EQ_INT(rc_be16(&c), 0);
    CHECK_EQ_INT(c.err, KMS_ETRUNC);
    CHECK_EQ_INT(rc_left(&c), 0);
}

static void test_first_error_sticks(void)
{
    static const uint8_t b[] = {1, 2, 3};
    rcursor c = rc_init(b, sizeof b);
    rc_u8(&c);
    c.err = KMS_EINVAL; /* the parser found something invalid */
    CHECK_EQ_INT(rc_be32(&c), 0); /* would also be truncated */
    CHECK_EQ_INT(c.err, KMS_EINVAL);
    CHECK(rc_take(&c, 1) == NULL); /* nothing is read after an error */
    CHECK_EQ_INT(c.err, KMS_EINVAL);

    uint8_t out[4];
    wcursor w = wc_init(out, sizeof out);
    w.err = KMS_ETOOBIG;
    wc_be32(&w, 1);
    wc_u64(&w, 1);
    CHECK_EQ_INT(w.err, KMS_ETOOBIG);
    CHECK_EQ_INT(w.pos, 0);
}

static void test_write(void)
{
    uint8_t out[12];
    wcursor w = wc_init(out, sizeof out);
    wc_be16(&w, 0x0102);
    wc_be32(&w, 0x03040506);
    wc_be48(&w, 0x0708090a0b0cLL);
    CHECK_EQ_INT(w.err, 0);
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CHECK_MEM(out, want, sizeof want);
    wc_u16(&w, 1); /* full */
    CHECK_EQ_INT(w.err, KMS_ESPACE);
    CHECK_EQ_INT(w.pos, sizeof out);
}

int main(void)
{
    test_read();
    test_first_error_sticks();
    test_write();
    return tu_finish();
}
