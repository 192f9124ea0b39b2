/* guid.h: GUIDs as carried on the wire (Microsoft mixed-endian layout), with parsing
 * from and formatting to the usual 8-4-4-4-12 text form. */
#ifndef KMSHA_GUID_H
#define KMSHA_GUID_H

#include <stdbool.h>
#include <stdint.h>

/* The 16 bytes exactly as they appear on the wire: Data1..3 little-endian, Data4 as is. */
typedef struct kms_guid {
    uint8_t b[16];
} kms_guid;

#define KMS_GUID_STRLEN 37 /* 36 characters + NUL */

/* Parses "51c82175-844e-4750-b0d8-ec255555bc06" (case-insensitive, optional braces).
 * Returns 0 or KMS_EINVAL. */
int kms_guid_parse(const char *text, kms_guid *out);
/* Writes the lower-case text form into out (KMS_GUID_STRLEN bytes). Returns out. */
char *kms_guid_format(const kms_guid *g, char out[KMS_GUID_STRLEN]);
bool kms_guid_equal(const kms_guid *a, const kms_guid *b);
bool kms_guid_is_zero(const kms_guid *g);

#endif
