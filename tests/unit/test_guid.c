/* test_guid.c: GUID text <-> wire layout (spec section 0: Data1..3 little-endian, Data4 as
 * is), with the spec's own example, round trips, and rejected texts. */
#include <string.h>
#include "proto/errors.h"
#include "proto/guid.h"
#include "tests/testutil.h"

int main(void)
{
    kms_guid g;
    uint8_t want[16];
    tu_unhex("7521c8514e845047b0d8ec255555bc06", want, sizeof want);
    CHECK_EQ_INT(kms_guid_parse("51C82175-844E-4750-B0D8-EC255555BC06", &g), 0);
    CHECK_MEM(g.b, want, 16);
    char text[KMS_GUID_STRLEN];
    CHECK(strcmp(kms_guid_format(&g, text), "51c82175-844e-4750-b0d8-ec255555bc06") == 0);
    CHECK_EQ_INT(kms_guid_parse("{51c82175-844e-4750-b0d8-ec255555bc06}", &g), 0);
    CHECK_MEM(g.b, want, 16);
    /* Every byte value in every position survives format -> parse. */
    for (int v = 0; v < 256; v++) {
        kms_guid a, b;
        for (int i = 0; i < 16; i++) a.b[i] = (uint8_t)(v + 17 * i);
        kms_guid_format(&a, text);
        CHECK_EQ_INT(strlen(text), 36);
        CHECK_EQ_INT(kms_guid_parse(text, &b), 0);
        CHECK(kms_guid_equal(&a, &b));
    }
    static const char *bad[] = {"", "51c82175844e4750b0d8ec255555bc06", "51c82175-844e-4750-b0d8-ec255555bc0",
                                "51c82175-844e-4750-b0d8-ec255555bc0g", "{51c82175-844e-4750-b0d8-ec255555bc06",
                                "51c82175-844e-4750-b0d8_ec255555bc06"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_EQ_INT(kms_guid_parse(bad[i], &g), KMS_EINVAL);
    CHECK(kms_guid_is_zero(&(kms_guid){{0}}));
    return tu_finish();
}
