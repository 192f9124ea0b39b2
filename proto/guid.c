/* guid.c: GUID text <-> wire conversion. */
#include "proto/guid.h"

#include <stdio.h>
#include <string.h>
#include "proto/errors.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int kms_guid_parse(const char *text, kms_guid *out)
{
    if (!text || !out) return KMS_EINVAL;
    size_t n = strlen(text);
    if (n == 38 && text[0] == '{' && text[37] == '}') { text++; n = 36; }
    if (n != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-')
        return KMS_EINVAL;
    uint8_t be[16]; /* big-endian (text order) bytes */
    int k = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) continue;
        int hi = hexval(text[i]), lo = hexval(text[i + 1]);
        if (hi < 0 || lo < 0) return KMS_EINVAL;
        be[k++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++) out->b[i] = be[order[i]];
    return 0;
}

char *kms_guid_format(const kms_guid *g, char out[KMS_GUID_STRLEN])
{
    /* On the request path (product look-ups, audit lines): a table, not snprintf. */
    static const char hex[] = "0123456789abcdef";
    static const int8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        uint8_t b = g->b[order[i]];
        *o++ = hex[b >> 4];
        *o++ = hex[b & 15];
    }
    *o = 0;
    return out;
}

bool kms_guid_equal(const kms_guid *a, const kms_guid *b) { return memcmp(a->b, b->b, 16) == 0; }

bool kms_guid_is_zero(const kms_guid *g)
{
    static const uint8_t zero[16];
    return memcmp(g->b, zero, 16) == 0;
}
