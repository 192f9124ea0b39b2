/* products.c: the product table (proto/products.h): applications, KMS counted IDs, SKUs,
 * and the default host identity (ePID, HWID) of each ePID group.
 *
 * Where the data comes from: proto/spec/kms-ids.md (applications, the 35 KMS counted
 * IDs with N, default protocol, retail/preview flags and vlmcsd ePID group, and the 257
 * SKUs), cross-checked against products-pykms.json and products-vlmcsd.json beside it;
 * where they differ kms-ids.md wins (e.g. vlmcsd's extra "Windows Preview" KMS ID
 * 5f94a0bb-... and five preview SKUs are not in kms-ids.md and are not listed here; vlmcsd
 * files the 2019 preview SKUs under Office 2016 and Enterprise multi-session under
 * Windows 10 2015, kms-ids.md under Office 2019 and ServerRdsh). The tables were generated
 * once from kms-ids.md by a throwaway script and are maintained by hand from now on.
 * Office 2021 and 2024 have their own ePID groups here (vlmcsd's newer data has them too;
 * the 2023 vlmcsd build that made the vectors fell back to Windows for them).
 * Windows Server 2025 and Office LTSC 2024 have their genuine KMS counted IDs (907f1f65-...,
 * a8973cb5-...; kms-ids.md's correction of 2026-12-06): the 4b83307d-... and 1b4db7eb-...
 * that py-kms's database lists appear in no Microsoft file, and real clients never send
 * them. The 2021 and 2024 LTSC volume groups (win10-2021, win10-2024) came with it.
 *
 * Slugs (short names for the configuration and the command line), lower-case ASCII:
 *  - prefix from the product: "Windows Server 2012 R2" -> ws2012r2, "Windows Server
 *    Preview" -> wspreview, "Windows 10/11" and "Windows 10" -> win10, "Windows 11" ->
 *    win11, "Windows 8.1" -> win81, "Windows 7" -> win7, "Windows Vista" -> winvista,
 *    "Office ... YYYY" -> officeYYYY (the year and "LTSC" are dropped from the rest),
 *    "Windows MultiPoint Server 2010" -> multipoint2010;
 *  - the rest of the name: CamelCase edition ids are split ("EnterpriseSN" -> enterprise
 *    sn; product names like OneNote, PowerPoint, InfoPath, MultiPoint, POSReady, IoT,
 *    ThinPC stay one word), "Professional Plus" -> proplus, "Professional" -> pro,
 *    "Standard" -> std, "Datacenter" -> dc, "(Semi-Annual Channel)" -> sac,
 *    "(Pre-Release)" -> preview, then lower-cased, every run of other characters becomes
 *    one '-': "Windows 10/11 Pro N" -> win10-pro-n, "Windows Server 2022 Datacenter" ->
 *    ws2022-dc, "Office LTSC Professional Plus 2021" -> office2021-proplus.
 *  - KMS counted IDs use the same prefixes plus a qualifier: "(Volume)" is dropped,
 *    "(Retail)" -> -retail, preview groups -> -preview, the 2008 / 2008 R2 server groups
 *    A, B, C -> -a, -b, -c; "Windows 10/11 2015 (Volume)" is plain win10, the LTSB/LTSC
 *    groups are win10-2016, win10-2019, win10-2021 and win10-2024, ServerRdsh -> win10-rdsh, China Government ->
 *    win10-chinagov, "Windows Server Next (Preview)" -> wsnext-preview.
 * Slugs are unique within each table (checked by tests/unit/test_products.c). */
#include "proto/products.h"

#include <stdlib.h>
#include <string.h>
#include "proto/errors.h"

/* ---- applications ---------------------------------------------------------------------- */

typedef struct app_row {
    const char *name, *slug, *id;
} app_row;

static const app_row kms_apps[KMS_APP_COUNT] = {
    [KMS_APP_WINDOWS] = {"Windows", "windows", "55c92734-d682-4d71-983e-d6ec3f16059f"},
    [KMS_APP_OFFICE2010] = {"Office 2010", "office2010", "59a52881-a989-479d-af46-f275c6370663"},
    [KMS_APP_OFFICE2013] = {"Office 2013+", "office2013", "0ff1ce15-a989-479d-af46-f275c6370663"},
};

/* ---- ePID groups ----------------------------------------------------------------------- */

typedef struct group_row {
    const char *slug;
    const char *epid;
    uint8_t hwid[8];
} group_row;

/* Windows, Office 2010/2013/2016/2019 and WinChinaGov: vlmcsd's built-in ePIDs (spec 5.5),
 * which the golden vectors carry; HWIDs as in the vectors (3A1C049600B60076 is vlmcsd's
 * global default, the Office/China-Gov ones make the group visible on the wire).
 * Office 2021 / 2024 are ours, self-consistent as spec 5.4 asks: platform 03612 with a
 * build of that platform (20348 = Server 2022, 26100 = Server 2025), group 206, a key id in
 * the Office LTSC 2021 (571000000-590999999) / 2024 (591000000-610999999, as kms-ids.md
 * corrected it on 2026-12-06) CSVLK range, and
 * a key date after both the build's and the product's release (day 306 of 2021 / day 340
 * of 2024). */
static const group_row kms_groups[KMS_GROUP_COUNT] = {
    [KMS_GROUP_WINDOWS] = {"windows", "03612-00206-556-123727-03-1033-17763.0000-2972018",
                           {0x3A, 0x1C, 0x04, 0x96, 0x00, 0xB6, 0x00, 0x76}},
    [KMS_GROUP_OFFICE2010] = {"office2010", "03612-00096-199-799188-03-1033-17763.0000-2972018",
                              {0, 0, 0, 0, 0, 0, 0x20, 0x10}},
    [KMS_GROUP_OFFICE2013] = {"office2013", "03612-00206-240-719639-03-1033-17763.0000-2972018",
                              {0, 0, 0, 0, 0, 0, 0x20, 0x13}},
    [KMS_GROUP_OFFICE2016] = {"office2016", "03612-00206-438-004532-03-1033-17763.0000-2972018",
                              {0, 0, 0, 0, 0, 0, 0x20, 0x16}},
    [KMS_GROUP_OFFICE2019] = {"office2019", "03612-00206-684-137669-03-1033-17763.0000-2972018",
                              {0, 0, 0, 0, 0, 0, 0x20, 0x19}},
    [KMS_GROUP_OFFICE2021] = {"office2021", "03612-00206-583-417205-03-1033-20348.0000-3062021",
                              {0, 0, 0, 0, 0, 0, 0x20, 0x21}},
    [KMS_GROUP_OFFICE2024] = {"office2024", "03612-00206-598-395148-03-1033-26100.0000-3402024",
                              {0, 0, 0, 0, 0, 0, 0x20, 0x24}},
    [KMS_GROUP_WINCHINAGOV] = {"winchinagov", "03612-03858-053-089516-03-1033-17763.0000-2972018",
                               {0, 0, 0, 0, 0, 0, 0xC6, 0x0C}},
};

/* ---- KMS counted IDs (kms-ids.md, second table) ------------------------------------------
 * name, slug, KMS counted ID, application, N, default protocol, flags, ePID group. */
static const kms_product kms_products[] = {
    {"Windows Server 2025", "ws2025",
     "907f1f65-adcd-4a2e-95bc-4bf500bc6e58", KMS_APP_WINDOWS, 5, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2022", "ws2022",
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", KMS_APP_WINDOWS, 5, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2019", "ws2019",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", KMS_APP_WINDOWS, 5, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2016", "ws2016",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", KMS_APP_WINDOWS, 5, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2012 R2", "ws2012r2",
     "8456efd3-0c04-4089-8740-5b7238535a65", KMS_APP_WINDOWS, 5, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2012", "ws2012",
     "8665cb71-468c-4aa3-a337-cb9bc9d5eaac", KMS_APP_WINDOWS, 5, 5, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2008 R2 A (Web and HPC)", "ws2008r2-a",
     "0fc6ccaf-ff0e-4fae-9d08-4370785bf7ed", KMS_APP_WINDOWS, 5, 4, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2008 R2 B (Standard and Enterprise)", "ws2008r2-b",
     "ca87f5b6-cd46-40c0-b06d-8ecd57a4373f", KMS_APP_WINDOWS, 5, 4, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2008 R2 C (Datacenter and Itanium)", "ws2008r2-c",
     "b2ca2689-a9a8-42d7-938d-cf8e9f201958", KMS_APP_WINDOWS, 5, 4, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2008 A (Web and HPC)", "ws2008-a",
     "33e156e4-b76f-4a52-9f91-f641dd95ac48", KMS_APP_WINDOWS, 5, 4, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2008 B (Standard and Enterprise)", "ws2008-b",
     "8fe53387-3087-4447-8985-f75132215ac9", KMS_APP_WINDOWS, 5, 4, 0, KMS_GROUP_WINDOWS},
    {"Windows Server 2008 C (Datacenter and Itanium)", "ws2008-c",
     "8a21fdf3-cbc5-44eb-83f3-fe284e6680a7", KMS_APP_WINDOWS, 5, 4, 0, KMS_GROUP_WINDOWS},
    {"Windows Server Next (Preview)", "wsnext-preview",
     "6d5f5270-31ac-433e-b90a-39892923c657", KMS_APP_WINDOWS, 5, 6, KMS_PRODUCT_PREVIEW, KMS_GROUP_WINDOWS},
    {"Windows 10 ServerRdsh (Volume)", "win10-rdsh",
     "cbdcb1ba-e093-4c81-a463-10775291fdf9", KMS_APP_WINDOWS, 5, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 10/11 China Government", "win10-chinagov",
     "7ba0bf23-d0f5-4072-91d9-d55af5a481b6", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINCHINAGOV},
    {"Windows 10/11 (Retail)", "win10-retail",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", KMS_APP_WINDOWS, 25, 6, KMS_PRODUCT_RETAIL, KMS_GROUP_WINDOWS},
    {"Windows 10 2019 (Volume)", "win10-2019",
     "11b15659-e603-4cf1-9c1f-f0ec01b81888", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 10 2016 (Volume)", "win10-2016",
     "969fe3c0-a3ec-491a-9f25-423605deb365", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 10/11 2024 LTSC (Volume)", "win10-2024",
     "e85ee727-69c4-4528-99d2-216b0f065e38", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 10/11 2021 LTSC (Volume)", "win10-2021",
     "3b576817-7b75-4362-9e13-223f2d9e9c97", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 10/11 2015 (Volume)", "win10",
     "58e2134f-8e11-4d17-9cb2-91069c151148", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 10 Unknown (Volume)", "win10-unknown",
     "d27cd636-1962-44e9-8b4f-27b6c23efb85", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 8.1 (Volume)", "win81",
     "cb8fc780-2c05-495a-9710-85afffc904d7", KMS_APP_WINDOWS, 25, 6, 0, KMS_GROUP_WINDOWS},
    {"Windows 8.1 (Retail)", "win81-retail",
     "6d646890-3606-461a-86ab-598bb84ace82", KMS_APP_WINDOWS, 25, 6, KMS_PRODUCT_RETAIL, KMS_GROUP_WINDOWS},
    {"Windows 8 (Volume)", "win8",
     "3c40b358-5948-45af-923b-53d21fcc7e79", KMS_APP_WINDOWS, 25, 5, 0, KMS_GROUP_WINDOWS},
    {"Windows 8 (Retail)", "win8-retail",
     "bbb97b3b-8ca4-4a28-9717-89fabd42c4ac", KMS_APP_WINDOWS, 25, 5, KMS_PRODUCT_RETAIL, KMS_GROUP_WINDOWS},
    {"Windows 7", "win7",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", KMS_APP_WINDOWS, 25, 4, 0, KMS_GROUP_WINDOWS},
    {"Windows Vista", "winvista",
     "212a64dc-43b1-4d3d-a30c-2fc69d2095c6", KMS_APP_WINDOWS, 25, 4, 0, KMS_GROUP_WINDOWS},
    {"Office 2010", "office2010",
     "e85af946-2e25-47b7-83e1-bebcebeac611", KMS_APP_OFFICE2010, 5, 4, 0, KMS_GROUP_OFFICE2010},
    {"Office 2013", "office2013",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", KMS_APP_OFFICE2013, 5, 5, 0, KMS_GROUP_OFFICE2013},
    {"Office 2013 (Pre-release)", "office2013-preview",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", KMS_APP_OFFICE2013, 5, 5, KMS_PRODUCT_PREVIEW, KMS_GROUP_WINDOWS},
    {"Office 2016", "office2016",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", KMS_APP_OFFICE2013, 5, 6, 0, KMS_GROUP_OFFICE2016},
    {"Office 2019", "office2019",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", KMS_APP_OFFICE2013, 5, 6, 0, KMS_GROUP_OFFICE2019},
    {"Office 2021", "office2021",
     "86d50b16-4808-41af-b83b-b338274318b2", KMS_APP_OFFICE2013, 5, 6, 0, KMS_GROUP_OFFICE2021},
    {"Office 2024", "office2024",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", KMS_APP_OFFICE2013, 5, 6, 0, KMS_GROUP_OFFICE2024},
};

/* ---- SKUs (kms-ids.md, third table) -----------------------------------------------------
 * name, slug, SKU ID, KMS counted ID, application ID, N; grouped by KMS counted ID slug. */
static const kms_sku kms_skus[] = {
    /* ws2025 */
    {"Windows Server 2025 Azure Core", "ws2025-azure-core", "45b5aff2-60a0-42f2-bc4b-ec6e5f7b527e",
     "907f1f65-adcd-4a2e-95bc-4bf500bc6e58", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2025 Datacenter Azure Edition", "ws2025-dc-azure-edition", "c2e946d1-cfa2-4523-8c87-30bc696ee584",
     "907f1f65-adcd-4a2e-95bc-4bf500bc6e58", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2025 Datacenter", "ws2025-dc", "c052f164-cdf6-409a-a0cb-853ba0f0f55a",
     "907f1f65-adcd-4a2e-95bc-4bf500bc6e58", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2025 Standard", "ws2025-std", "7dc26449-db21-4e09-ba37-28f2958506a6",
     "907f1f65-adcd-4a2e-95bc-4bf500bc6e58", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2022 */
    {"Windows Server 2022 Azure Core", "ws2022-azure-core", "8c8f0ad3-9a43-4e05-b840-93b8d1475cbc",
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2022 Datacenter Azure Edition", "ws2022-dc-azure-edition", "19b5e0fb-4431-46bc-bac1-2f1873e4ae73",
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2022 Datacenter", "ws2022-dc", "ef6cfc9f-8c5d-44ac-9aad-de6a2ea0ae03",
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2022 Standard", "ws2022-std", "9bd77860-9b31-4b7b-96ad-2564017315bf",
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2022 Datacenter (Semi-Annual Channel)", "ws2022-dc-sac", "39e69c41-42b4-4a0a-abad-8e3c10a797cc",
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2022 Standard (Semi-Annual Channel)", "ws2022-std-sac", "f5e9429c-f50b-4b98-b15c-ef92eb5cff39",
     "b74263e4-0f92-46c6-bcf8-c11d5efe2959", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2019 */
    {"Windows Server 2019 Azure Core", "ws2019-azure-core", "a99cc1f0-7719-4306-9645-294102fbff95",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2019 Essentials", "ws2019-essentials", "034d3cbb-5d4b-4245-b3f8-f84571314078",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2019 Datacenter", "ws2019-dc", "34e1ae55-27f8-4950-8877-7a03be5fb181",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2019 Standard", "ws2019-std", "de32eafd-aaee-4662-9444-c1befb41bde2",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2019 ARM64", "ws2019-arm64", "8de8eb62-bbe0-40ac-ac17-f75595071ea3",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2019 Datacenter (Semi-Annual Channel)", "ws2019-dc-sac", "90c362e5-0da1-4bfd-b53b-b87d309ade43",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2019 Standard (Semi-Annual Channel)", "ws2019-std-sac", "73e3957c-fc0c-400d-9184-5f7b6f2eb409",
     "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2016 */
    {"Windows Server 2016 Azure Core", "ws2016-azure-core", "3dbf341b-5f6c-4fa7-b936-699dce9e263f",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2016 Essentials", "ws2016-essentials", "2b5a1b0f-a5ab-4c54-ac2f-a6d94824a283",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2016 Datacenter", "ws2016-dc", "21c56779-b449-4d20-adfc-eece0e1ad74b",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2016 Standard", "ws2016-std", "8c1c5410-9f39-4805-8c9d-63a07706358f",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2016 ARM64", "ws2016-arm64", "43d9af6e-5e86-4be8-a797-d072a046896c",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2016 Datacenter (Semi-Annual Channel)", "ws2016-dc-sac", "e49c08e7-da82-42f8-bde2-b570fbcae76c",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2016 Standard (Semi-Annual Channel)", "ws2016-std-sac", "61c5ef22-f14f-4553-a824-c4b31e84b100",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2016 Cloud Storage", "ws2016-cloud-storage", "7b4433f4-b1e7-4788-895a-c45378d38253",
     "6e9fc069-257d-4bc4-b4a7-750514d32743", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2012r2 */
    {"Windows Server 2012 R2 Essentials", "ws2012r2-essentials", "21db6ba4-9a7b-4a14-9e29-64a60c59301d",
     "8456efd3-0c04-4089-8740-5b7238535a65", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2012 R2 Datacenter", "ws2012r2-dc", "00091344-1ea4-4f37-b789-01750ba6988c",
     "8456efd3-0c04-4089-8740-5b7238535a65", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2012 R2 Standard", "ws2012r2-std", "b3ca044e-a358-4d68-9883-aaa2941aca99",
     "8456efd3-0c04-4089-8740-5b7238535a65", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2012 R2 Cloud Storage", "ws2012r2-cloud-storage", "b743a2be-68d4-4dd3-af32-92425b7bb623",
     "8456efd3-0c04-4089-8740-5b7238535a65", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2012 */
    {"Windows Server 2012 Essentials", "ws2012-essentials", "8f365ba6-c1b9-4223-98fc-282a0756a3ed",
     "8665cb71-468c-4aa3-a337-cb9bc9d5eaac", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2012 Datacenter", "ws2012-dc", "d3643d60-0c42-412d-a7d6-52e6635327f6",
     "8665cb71-468c-4aa3-a337-cb9bc9d5eaac", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2012 Standard", "ws2012-std", "f0f5ec41-0d55-4732-af02-440a44a3cf0f",
     "8665cb71-468c-4aa3-a337-cb9bc9d5eaac", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2012 MultiPoint Premium", "ws2012-multipoint-premium", "95fd1c83-7df5-494a-be8b-1300e1c9d1cd",
     "8665cb71-468c-4aa3-a337-cb9bc9d5eaac", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2012 MultiPoint Standard", "ws2012-multipoint-std", "7d5486c7-e120-4771-b7f1-7b56c6d3170c",
     "8665cb71-468c-4aa3-a337-cb9bc9d5eaac", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2008r2-a */
    {"Windows MultiPoint Server 2010", "multipoint2010", "f772515c-0e87-48d5-a676-e6962c3e1195",
     "0fc6ccaf-ff0e-4fae-9d08-4370785bf7ed", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 R2 Web", "ws2008r2-web", "a78b8bd9-8017-4df5-b86a-09f756affa7c",
     "0fc6ccaf-ff0e-4fae-9d08-4370785bf7ed", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 R2 HPC Edition", "ws2008r2-hpc-edition", "cda18cf3-c196-46ad-b289-60c072869994",
     "0fc6ccaf-ff0e-4fae-9d08-4370785bf7ed", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2008r2-b */
    {"Windows Server 2008 R2 Standard", "ws2008r2-std", "68531fb9-5511-4989-97be-d11a0f55633f",
     "ca87f5b6-cd46-40c0-b06d-8ecd57a4373f", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 R2 Enterprise", "ws2008r2-enterprise", "620e2b3d-09e7-42fd-802a-17a13652fe7a",
     "ca87f5b6-cd46-40c0-b06d-8ecd57a4373f", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2008r2-c */
    {"Windows Server 2008 R2 Datacenter", "ws2008r2-dc", "7482e61b-c589-4b7f-8ecc-46d455ac3b87",
     "b2ca2689-a9a8-42d7-938d-cf8e9f201958", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 R2 Enterprise for Itanium", "ws2008r2-enterprise-for-itanium", "8a26851c-1c7e-48d3-a687-fbca9b9ac16b",
     "b2ca2689-a9a8-42d7-938d-cf8e9f201958", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2008-a */
    {"Windows Server 2008 Web", "ws2008-web", "ddfa9f7c-f09e-40b9-8c1a-be877a9a7f4b",
     "33e156e4-b76f-4a52-9f91-f641dd95ac48", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 Compute Cluster", "ws2008-compute-cluster", "7afb1156-2c1d-40fc-b260-aab7442b62fe",
     "33e156e4-b76f-4a52-9f91-f641dd95ac48", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2008-b */
    {"Windows Server 2008 Standard", "ws2008-std", "ad2542d4-9154-4c6d-8a44-30f11ee96989",
     "8fe53387-3087-4447-8985-f75132215ac9", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 Standard without Hyper-V", "ws2008-std-without-hyper-v", "2401e3d0-c50a-4b58-87b2-7e794b7d2607",
     "8fe53387-3087-4447-8985-f75132215ac9", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 Enterprise", "ws2008-enterprise", "c1af4d90-d1bc-44ca-85d4-003ba33db3b9",
     "8fe53387-3087-4447-8985-f75132215ac9", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 Enterprise without Hyper-V", "ws2008-enterprise-without-hyper-v", "8198490a-add0-47b2-b3ba-316b12d647b4",
     "8fe53387-3087-4447-8985-f75132215ac9", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* ws2008-c */
    {"Windows Server 2008 Datacenter", "ws2008-dc", "68b6e220-cf09-466b-92d3-45cd964b9509",
     "8a21fdf3-cbc5-44eb-83f3-fe284e6680a7", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 Datacenter without Hyper-V", "ws2008-dc-without-hyper-v", "fd09ef77-5647-4eff-809c-af2b64659a45",
     "8a21fdf3-cbc5-44eb-83f3-fe284e6680a7", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server 2008 Enterprise for Itanium", "ws2008-enterprise-for-itanium", "01ef176b-3e0d-422a-b4f8-4ea880035e8f",
     "8a21fdf3-cbc5-44eb-83f3-fe284e6680a7", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* wsnext-preview */
    {"Windows Server Preview Datacenter", "wspreview-dc", "ba947c44-d19d-4786-b6ae-22770bc94c54",
     "6d5f5270-31ac-433e-b90a-39892923c657", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server Preview Standard", "wspreview-std", "d3872724-5c08-4b1b-91f2-fc9eafed4990",
     "6d5f5270-31ac-433e-b90a-39892923c657", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server Preview Web", "wspreview-web", "e5676f13-9b66-4a1f-8b0c-43490e236202",
     "6d5f5270-31ac-433e-b90a-39892923c657", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    {"Windows Server Preview ServerHI", "wspreview-serverhi", "b995b62c-eae2-40aa-afb9-111889a84ef4",
     "6d5f5270-31ac-433e-b90a-39892923c657", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* win10-rdsh */
    {"Windows 10/11 Enterprise multi-session", "win10-enterprise-multi-session", "ec868e65-fadf-4759-b23e-93fe37f2cc29",
     "cbdcb1ba-e093-4c81-a463-10775291fdf9", "55c92734-d682-4d71-983e-d6ec3f16059f", 5},
    /* win10-chinagov */
    {"Windows 10/11 Enterprise G", "win10-enterprise-g", "e0b2d383-d112-413f-8a80-97f373a5820c",
     "7ba0bf23-d0f5-4072-91d9-d55af5a481b6", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Enterprise G N", "win10-enterprise-g-n", "e38454fb-41a4-4f59-a5dc-25080e354730",
     "7ba0bf23-d0f5-4072-91d9-d55af5a481b6", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win10-retail */
    {"Windows 10/11 Home", "win10-home", "58e97c99-f377-4ef1-81d5-4ad5522b5fd8",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Home N", "win10-home-n", "7b9e1751-a8da-4f75-9560-5fadfe3d8e38",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Home Country Specific", "win10-home-country-specific", "a9107544-f4a0-4053-a96a-1479abdef912",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Home Single Language", "win10-home-single-language", "cd918a57-a41b-4c82-8dce-1a538e221a83",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview Core", "win10-insider-preview-core", "903663f7-d2ab-49c9-8942-14aa9e0a9c72",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview CoreN", "win10-insider-preview-core-n", "4dfd543d-caa6-4f69-a95f-5ddfe2b89567",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview CoreCountrySpecific", "win10-insider-preview-core-country-specific", "5fe40dd6-cf1f-4cf2-8729-92121ac2e997",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview CoreSingleLanguage", "win10-insider-preview-core-single-language", "2cc171ef-db48-4adc-af09-7c574b37f139",
     "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win10-2019 */
    {"Windows 10 Enterprise LTSC 2019/2021", "win10-enterprise-ltsc-2019-2021", "32d2fab3-e4a8-42c2-923b-4bf4fd13e6ee",
     "11b15659-e603-4cf1-9c1f-f0ec01b81888", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10 Enterprise LTSC 2019/2021 N", "win10-enterprise-ltsc-2019-2021-n", "7103a333-b8c8-49cc-93ce-d37c09687f92",
     "11b15659-e603-4cf1-9c1f-f0ec01b81888", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win10-2016 */
    {"Windows 10 Enterprise 2016 LTSB", "win10-enterprise-2016-ltsb", "2d5a5a60-3040-48bf-beb0-fcd770c20ce0",
     "969fe3c0-a3ec-491a-9f25-423605deb365", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10 Enterprise 2016 LTSB N", "win10-enterprise-2016-ltsb-n", "9f776d83-7156-45b2-8a5c-359b9c9f22a3",
     "969fe3c0-a3ec-491a-9f25-423605deb365", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win10 */
    {"Windows 10 Enterprise 2015 LTSB", "win10-enterprise-2015-ltsb", "7b51a46c-0c04-4e8f-9af4-8496cca90d5e",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10 Enterprise 2015 LTSB N", "win10-enterprise-2015-ltsb-n", "87b838b7-41b6-4590-8318-5797951d8529",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Education", "win10-education", "e0c42288-980c-4788-a014-c080d2e1926e",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Education N", "win10-education-n", "3c102355-d027-42c6-ad23-2e7ef8a02585",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Enterprise", "win10-enterprise", "73111121-5638-40f6-bc11-f1d7b0d64300",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Enterprise N", "win10-enterprise-n", "e272e3e2-732f-4c65-a8f0-484747d0d947",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Pro", "win10-pro", "2de67392-b7a7-462a-b1ca-108dd189f588",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Pro N", "win10-pro-n", "a80b5abf-76ad-428b-b05d-a47d2dffeebf",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Pro Education", "win10-pro-education", "3f1afc82-f8ac-4f6c-8005-1d233e606eee",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Pro Education N", "win10-pro-education-n", "5300b18c-2e33-4dc2-8291-47ffcec746dd",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Pro Workstation", "win10-pro-workstation", "82bbc092-bc50-4e16-8e18-b74fc486aec3",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Pro Workstation N", "win10-pro-workstation-n", "4b1571d3-bafb-4b40-8087-a961be2caf65",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 IoT Enterprise LTSC 2021-2024", "win10-iot-enterprise-ltsc-2021-2024", "59eb965c-9150-42b7-a0ec-22151b9897c5",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 11 SE", "win11-se", "ca7df2e3-5ea0-47b8-9ac1-b1be4d8edd69",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 11 SE N", "win11-se-n", "d30136fc-cb4b-416e-a23d-87207abc44a9",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10 S (Lean)", "win10-s-lean", "0df4f814-3f57-4b8b-9a9d-fddadcd69fac",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10 Remote Server", "win10-remote-server", "e4db50ea-bda1-4566-b047-0ca50abc6f07",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview Education", "win10-insider-preview-education", "af43f7f0-3b1e-4266-a123-1fdb53f4323b",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview EducationN", "win10-insider-preview-education-n", "075aca1f-05d7-42e5-a3ce-e349e7be7078",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview Enterprise", "win10-insider-preview-enterprise", "43f2ab05-7c87-4d56-b27c-44d0f9a3dabd",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview EnterpriseN", "win10-insider-preview-enterprise-n", "6ae51eeb-c268-4a21-9aae-df74c38b586d",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview EnterpriseS", "win10-insider-preview-enterprise-s", "2cf5af84-abab-4ff0-83f8-f040fb2576eb",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview EnterpriseSN", "win10-insider-preview-enterprise-sn", "11a37f09-fb7f-4002-bd84-f3ae71d11e90",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview Professional", "win10-insider-preview-pro", "ff808201-fec6-4fd4-ae16-abbddade5706",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 10/11 Insider Preview ProfessionalN", "win10-insider-preview-pro-n", "34260150-69ac-49a3-8a0d-4a403ab55763",
     "58e2134f-8e11-4d17-9cb2-91069c151148", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win81 */
    {"Windows 8.1 Enterprise", "win81-enterprise", "81671aaf-79d1-4eb1-b004-8cbbe173afea",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Enterprise N", "win81-enterprise-n", "113e705c-fa49-48a4-beea-7dd879b46b14",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Professional", "win81-pro", "c06b6981-d7fd-4a35-b7b4-054742b7af67",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Professional N", "win81-pro-n", "7476d79f-8e48-49b4-ab63-4d0b813a16e4",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Embedded Industry Automotive", "win81-embedded-industry-automotive", "f7e88590-dfc7-4c78-bccb-6f3865b99d1a",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Embedded Industry Enterprise", "win81-embedded-industry-enterprise", "cd4e2d9f-5059-4a50-a92d-05d5bb1267c7",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Embedded Industry Professional", "win81-embedded-industry-pro", "0ab82d54-47f4-4acb-818c-cc5bf0ecb649",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core Connected", "win81-core-connected", "e9942b32-2e55-4197-b0bd-5ff58cba8860",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core Connected N", "win81-core-connected-n", "c6ddecd6-2354-4c19-909b-306a3058484e",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core Connected Country Specific", "win81-core-connected-country-specific", "ba998212-460a-44db-bfb5-71bf09d1c68b",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core Connected Single Language", "win81-core-connected-single-language", "b8f5e3a3-ed33-4608-81e1-37d6c9dcfd9c",
     "cb8fc780-2c05-495a-9710-85afffc904d7", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win81-retail */
    {"Windows 8.1 Core", "win81-core", "fe1c3238-432a-43a1-8e25-97e7d1ef10f3",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core N", "win81-core-n", "78558a64-dc19-43fe-a0d0-8075b2a370a3",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core Country Specific", "win81-core-country-specific", "db78b74f-ef1c-4892-abfe-1e66b8231df6",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core Single Language", "win81-core-single-language", "c72c6a1d-f252-4e7e-bdd1-3fca342acb35",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Core ARM", "win81-core-arm", "ffee456a-cd87-4390-8e07-16146c672fd0",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Professional WMC", "win81-pro-wmc", "096ce63d-4fac-48a9-82a9-61ae9e800e5f",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Professional Student", "win81-pro-student", "e58d87b5-8126-4580-80fb-861b22f79296",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8.1 Professional Student N", "win81-pro-student-n", "cab491c7-a918-4f60-b502-dab75e334f40",
     "6d646890-3606-461a-86ab-598bb84ace82", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win8 */
    {"Windows 8 Enterprise", "win8-enterprise", "458e1bec-837a-45f6-b9d5-925ed5d299de",
     "3c40b358-5948-45af-923b-53d21fcc7e79", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Enterprise N", "win8-enterprise-n", "e14997e7-800a-4cf7-ad10-de4b45b578db",
     "3c40b358-5948-45af-923b-53d21fcc7e79", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Professional", "win8-pro", "a98bcd6d-5343-4603-8afe-5908e4611112",
     "3c40b358-5948-45af-923b-53d21fcc7e79", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Professional N", "win8-pro-n", "ebf245c1-29a8-4daf-9cb1-38dfc608a8c8",
     "3c40b358-5948-45af-923b-53d21fcc7e79", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Embedded Industry Enterprise", "win8-embedded-industry-enterprise", "18db1848-12e0-4167-b9d7-da7fcda507db",
     "3c40b358-5948-45af-923b-53d21fcc7e79", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Embedded Industry Professional", "win8-embedded-industry-pro", "10018baf-ce21-4060-80bd-47fe74ed4dab",
     "3c40b358-5948-45af-923b-53d21fcc7e79", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Embedded POSReady [Beta]", "win8-embedded-posready-beta", "5ca3e488-dbae-4fae-8282-a98fbcd21126",
     "3c40b358-5948-45af-923b-53d21fcc7e79", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win8-retail */
    {"Windows 8 Core", "win8-core", "c04ed6bf-55c8-4b47-9f8e-5a1f31ceee60",
     "bbb97b3b-8ca4-4a28-9717-89fabd42c4ac", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Core N", "win8-core-n", "197390a0-65f6-4a95-bdc4-55d58a3b0253",
     "bbb97b3b-8ca4-4a28-9717-89fabd42c4ac", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Core Country Specific", "win8-core-country-specific", "9d5584a2-2d85-419a-982c-a00888bb9ddf",
     "bbb97b3b-8ca4-4a28-9717-89fabd42c4ac", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Core Single Language", "win8-core-single-language", "8860fcd4-a77b-4a20-9045-a150ff11d609",
     "bbb97b3b-8ca4-4a28-9717-89fabd42c4ac", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Core ARM", "win8-core-arm", "af35d7b7-5035-4b63-8972-f0b747b9f4dc",
     "bbb97b3b-8ca4-4a28-9717-89fabd42c4ac", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 8 Professional WMC", "win8-pro-wmc", "a00018a3-f20f-4632-bf7c-8daa5351c914",
     "bbb97b3b-8ca4-4a28-9717-89fabd42c4ac", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* win7 */
    {"Windows 7 Enterprise", "win7-enterprise", "ae2ee509-1b34-41c0-acb7-6d4650168915",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 Enterprise E", "win7-enterprise-e", "46bbed08-9c7b-48fc-a614-95250573f4ea",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 Enterprise N", "win7-enterprise-n", "1cb6d605-11b3-4e14-bb30-da91c8e3983a",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 Professional", "win7-pro", "b92e9980-b9d5-4821-9c94-140f632f6312",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 Professional E", "win7-pro-e", "5a041529-fef8-4d07-b06f-b59b573b32d2",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 Professional N", "win7-pro-n", "54a09a0d-d57b-4c10-8b69-a842d6590ad5",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 ThinPC", "win7-thinpc", "aa6dd3aa-c2b4-40e2-a544-a6bbb3f5c395",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 Embedded POSReady", "win7-embedded-posready", "db537896-376f-48ae-a492-53d0547773d0",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows 7 Embedded Standard", "win7-embedded-std", "e1a8296a-db37-44d1-8cce-7bc961d59c54",
     "7fde5219-fbfa-484a-82c9-34d1ad53e856", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* winvista */
    {"Windows Vista Business", "winvista-business", "4f3d1606-3fea-4c01-be3c-8d671c401e3b",
     "212a64dc-43b1-4d3d-a30c-2fc69d2095c6", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows Vista Business N", "winvista-business-n", "2c682dc2-8b68-4f63-a165-ae291d4cf138",
     "212a64dc-43b1-4d3d-a30c-2fc69d2095c6", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows Vista Enterprise", "winvista-enterprise", "cfd8ff08-c0d7-452b-9f60-ef5c70c32094",
     "212a64dc-43b1-4d3d-a30c-2fc69d2095c6", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    {"Windows Vista Enterprise N", "winvista-enterprise-n", "d4f54950-26f2-4fb4-ba21-ffab16afcade",
     "212a64dc-43b1-4d3d-a30c-2fc69d2095c6", "55c92734-d682-4d71-983e-d6ec3f16059f", 25},
    /* office2010 */
    {"Office Access 2010", "office2010-access", "8ce7e872-188c-4b98-9d90-f8f90b7aad02",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Excel 2010", "office2010-excel", "cee5d470-6e3b-4fcc-8c2b-d17428568a9f",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Groove 2010", "office2010-groove", "8947d0b8-c33b-43e1-8c56-9b674c052832",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office InfoPath 2010", "office2010-infopath", "ca6b6639-4ad6-40ae-a575-14dee07f6430",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Mondo 1 2010", "office2010-mondo-1", "09ed9640-f020-400a-acd8-d7d867dfd9c2",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Mondo 2 2010", "office2010-mondo-2", "ef3d4e49-a53d-4d81-a2b1-2ca6c2556b2c",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office OneNote 2010", "office2010-onenote", "ab586f5c-5256-4632-962f-fefd8b49e6f4",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office OutLook 2010", "office2010-outlook", "ecb7c192-73ab-4ded-acf4-2399b095d0cc",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office PowerPoint 2010", "office2010-powerpoint", "45593b1d-dfb1-4e91-bbfb-2d5d0ce2227a",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2010", "office2010-proplus", "6f327760-8c5c-417c-9b61-836a98287e0c",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2010", "office2010-project-pro", "df133ff7-bf14-4f95-afe3-7b48e7e331ef",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2010", "office2010-project-std", "5dc7bf61-5ec9-4996-9ccb-df806a2d0efe",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Publisher 2010", "office2010-publisher", "b50c4f75-599b-43e8-8dcd-1081a7967241",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Small Business Basics 2010", "office2010-small-business-basics", "ea509e87-07a1-4a45-9edc-eba5a39f36af",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Standard 2010", "office2010-std", "9da2a678-fb6b-4e67-ab84-60dd6a9c819a",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Premium 2010", "office2010-visio-premium", "92236105-bb67-494f-94c7-7f7a607929bd",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2010", "office2010-visio-pro", "e558389c-83c3-4b29-adfe-5e4d7f46c358",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Standard 2010", "office2010-visio-std", "9ed833ff-4f92-4f36-b370-8683a4f13275",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    {"Office Word 2010", "office2010-word", "2d0882e7-a4e7-423b-8ccc-70d91e0158b1",
     "e85af946-2e25-47b7-83e1-bebcebeac611", "59a52881-a989-479d-af46-f275c6370663", 5},
    /* office2013 */
    {"Office Access 2013", "office2013-access", "6ee7622c-18d8-4005-9fb7-92db644a279b",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Excel 2013", "office2013-excel", "f7461d52-7c2b-43b2-8744-ea958e0bd09a",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office InfoPath 2013", "office2013-infopath", "a30b8040-d68a-423f-b0b5-9ce292ea5a8f",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Lync 2013", "office2013-lync", "1b9f11e3-c85c-4e1b-bb29-879ad2c909e3",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Mondo 2013", "office2013-mondo", "dc981c6b-fc8e-420f-aa43-f8f33e5c0923",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office OneNote 2013", "office2013-onenote", "efe1f3e6-aea2-4144-a208-32aa872b6545",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office OutLook 2013", "office2013-outlook", "771c3afa-50c5-443f-b151-ff2546d863a0",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office PowerPoint 2013", "office2013-powerpoint", "8c762649-97d1-4953-ad27-b7e2c25b972e",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2013", "office2013-proplus", "b322da9c-a2e2-4058-9e4e-f59a6970bd69",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2013", "office2013-project-pro", "4a5d124a-e620-44ba-b6ff-658961b33b9a",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2013", "office2013-project-std", "427a28d1-d17c-4abf-b717-32c780ba6f07",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Publisher 2013", "office2013-publisher", "00c79ff1-6850-443d-bf61-71cde0de305f",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Standard 2013", "office2013-std", "b13afb38-cd79-4ae5-9f7f-eed058d750ca",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2013", "office2013-visio-pro", "e13ac10e-75d0-4aff-a0cd-764982cf541c",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Standard 2013", "office2013-visio-std", "ac4efaf0-f81f-4f61-bdf7-ea32b02ab117",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Word 2013", "office2013-word", "d9f5b1c6-5386-495a-88f9-9ad6b41ac9b3",
     "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    /* office2013-preview */
    {"Office Access 2013 (Pre-Release)", "office2013-access-preview", "44b538e2-fb34-4732-81e4-644c17d2e746",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Excel 2013 (Pre-Release)", "office2013-excel-preview", "9373bfa0-97b3-4587-ab73-30934461d55c",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Groove 2013 (Pre-Release)", "office2013-groove-preview", "aa286eb4-556f-4eeb-967c-c1b771b7673e",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office InfoPath 2013 (Pre-Release)", "office2013-infopath-preview", "7ccc8256-fbaa-49c6-b2a9-f5afb4257cd2",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Lync 2013 (Pre-Release)", "office2013-lync-preview", "c53dfe17-cc00-4967-b188-a088a965494d",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Mondo 2013 (Pre-Release)", "office2013-mondo-preview", "2816a87d-e1ed-4097-b311-e2341c57b179",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office OneNote 2013 (Pre-Release)", "office2013-onenote-preview", "67c0f908-184f-4f64-8250-12db797ab3c3",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Outlook 2013 (Pre-Release)", "office2013-outlook-preview", "7bce4e7a-dd80-4682-98fa-f993725803d2",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office PowerPoint 2013 (Pre-Release)", "office2013-powerpoint-preview", "1ec10c0a-54f6-453e-b85a-6fa1bbfea9b7",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2013 (Pre-Release)", "office2013-proplus-preview", "87d2b5bf-d47b-41fb-af62-71c382f5cc85",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2013 (Pre-Release)", "office2013-project-pro-preview", "3cfe50a9-0e03-4b29-9754-9f193f07b71f",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2013 (Pre-Release)", "office2013-project-std-preview", "39e49e57-ae68-4ee3-b098-26480df3da96",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Publisher 2013 (Pre-Release)", "office2013-publisher-preview", "15aa2117-8f79-49a8-8317-753026d6a054",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2013 (Pre-Release)", "office2013-visio-pro-preview", "cfbfd60e-0b5f-427d-917c-a4df42a80e44",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Standard 2013 (Pre-Release)", "office2013-visio-std-preview", "7012cc81-8887-42e9-b17d-4e5e42760f0d",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Word 2013 (Pre-Release)", "office2013-word-preview", "de9c7eb6-5a85-420d-9703-fff11bdd4d43",
     "aa4c7968-b9da-4680-92b6-acb25e2f866c", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    /* office2016 */
    {"Office Access 2016", "office2016-access", "67c0fc0c-deba-401b-bf8b-9c8ad8395804",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Excel 2016", "office2016-excel", "c3e65d36-141f-4d2f-a303-a842ee756a29",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Mondo 2016", "office2016-mondo", "9caabccb-61b1-4b4b-8bec-d10a3c3ac2ce",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Mondo R 2016", "office2016-mondo-r", "e914ea6e-a5fa-4439-a394-a9bb3293ca09",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office OneNote 2016", "office2016-onenote", "d8cace59-33d2-4ac7-9b1b-9b72339c51c8",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Outlook 2016", "office2016-outlook", "ec9d9265-9d1e-4ed0-838a-cdc20f2551a1",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Powerpoint 2016", "office2016-powerpoint", "d70b1bba-b893-4544-96e2-b7a318091c33",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2016", "office2016-proplus", "d450596f-894d-49e0-966a-fd39ed4c4c64",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2016", "office2016-project-pro", "4f414197-0fc2-4c01-b68a-86cbb9ac254c",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2016 C2R", "office2016-project-pro-c2r", "829b8110-0e6f-4349-bca4-42803577788d",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2016", "office2016-project-std", "da7ddabc-3fbe-4447-9e01-6ab7440b4cd4",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2016 C2R", "office2016-project-std-c2r", "cbbaca45-556a-4416-ad03-bda598eaa7c8",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Publisher 2016", "office2016-publisher", "041a06cb-c5b8-4772-809f-416d03d16654",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Skype for Business 2016", "office2016-skype-for-business", "83e04ee1-fa8d-436d-8994-d31a862cab77",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Standard 2016", "office2016-std", "dedfa23d-6ed1-45a6-85dc-63cae0546de6",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2016", "office2016-visio-pro", "6bf301c1-b94a-43e9-ba31-d494598c47fb",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2016 C2R", "office2016-visio-pro-c2r", "b234abe3-0857-4f9c-b05a-4dc314f85557",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Standard 2016", "office2016-visio-std", "aa2a7821-1827-4c2c-8f1d-4513a34dda97",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Standard 2016 C2R", "office2016-visio-std-c2r", "361fe620-64f4-41b5-ba77-84f8e079b1f7",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Word 2016", "office2016-word", "bb11badf-d8aa-470e-9311-20eaf80fe5cc",
     "85b5f61b-320b-4be3-814a-b76b2bfafc82", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    /* office2019 */
    {"Office Access 2019", "office2019-access", "9e9bceeb-e736-4f26-88de-763f87dcc485",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Excel 2019", "office2019-excel", "237854e9-79fc-4497-a0c1-a70969691c6b",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Outlook 2019", "office2019-outlook", "c8f8a301-19f5-4132-96ce-2de9d4adbd33",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Powerpoint 2019", "office2019-powerpoint", "3131fd61-5e4f-4308-8d6d-62be1987c92c",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2019", "office2019-proplus", "85dd8b5f-eaa4-4af3-a628-cce9e77c9a03",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2019", "office2019-project-pro", "2ca2bf3f-949e-446a-82c7-e25a15ec78c4",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2019", "office2019-project-std", "1777f0e3-7392-4198-97ea-8ae4de6f6381",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Publisher 2019", "office2019-publisher", "9d3e4cca-e172-46f1-a2f4-1d2107051444",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Skype for Business 2019", "office2019-skype-for-business", "734c6c6e-b0ba-4298-a891-671772b2bd1b",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Standard 2019", "office2019-std", "6912a74b-a5fb-401a-bfdb-2e3ab46f4b02",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2019", "office2019-visio-pro", "5b5cf08f-b81a-431d-b080-3450d8620565",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Standard 2019", "office2019-visio-std", "e06d7df3-aad0-419d-8dfb-0ac37e2bdf39",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Word 2019", "office2019-word", "059834fe-a8ea-4bff-b67b-4d006b5447d3",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2019 Preview", "office2019-proplus-preview", "0bc88885-718c-491d-921f-6f214349e79c",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2019 Preview", "office2019-project-pro-preview", "fc7c4d0c-2e85-4bb9-afd4-01ed1476b5e9",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2019 Preview", "office2019-visio-pro-preview", "500f6619-ef93-4b75-bcb4-82819998a3ca",
     "617d9eb1-ef36-4f82-86e0-a65ae07b96c6", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    /* office2021 */
    {"Office Access LTSC 2021", "office2021-access", "1fe429d8-3fa7-4a39-b6f0-03dded42fe14",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Excel LTSC 2021", "office2021-excel", "ea71effc-69f1-4925-9991-2f5e319bbc24",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Outlook LTSC 2021", "office2021-outlook", "a5799e4c-f83c-4c6e-9516-dfe9b696150b",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Powerpoint LTSC 2021", "office2021-powerpoint", "6e166cc3-495d-438a-89e7-d7c9e6fd4dea",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office LTSC Professional Plus 2021", "office2021-proplus", "fbdb3e18-a8ef-4fb3-9183-dffd60bd0984",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2021", "office2021-project-pro", "76881159-155c-43e0-9db7-2d70a9a3a4ca",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2021", "office2021-project-std", "6dd72704-f752-4b71-94c7-11cec6bfc355",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Publisher LTSC 2021", "office2021-publisher", "aa66521f-2370-4ad8-a2bb-c095e3e4338f",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Skype for Business LTSC 2021", "office2021-skype-for-business", "1f32a9af-1274-48bd-ba1e-1ab7508a23e8",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office LTSC Standard 2021", "office2021-std", "080a45c5-9f9f-49eb-b4b0-c3c610a5ebd3",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio LTSC Pro 2021", "office2021-visio-pro", "fb61ac9a-1688-45d2-8f6b-0674dbffa33c",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio LTSC Standard 2021", "office2021-visio-std", "72fce797-1884-48dd-a860-b2f6a5efd3ca",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Word LTSC 2021", "office2021-word", "abe28aea-625a-43b1-8e30-225eb8fbd9e5",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2021 Preview", "office2021-proplus-preview", "f3fb2d68-83dd-4c8b-8f09-08e0d950ac3b",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2021 Preview", "office2021-project-pro-preview", "76093b1b-7057-49d7-b970-638ebcbfd873",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2021 Preview", "office2021-visio-pro-preview", "a3b44174-2451-4cd6-b25f-66638bfb9046",
     "86d50b16-4808-41af-b83b-b338274318b2", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    /* office2024 */
    {"Office Access LTSC 2024", "office2024-access", "72e9faa7-ead1-4f3d-9f6e-3abc090a81d7",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Excel LTSC 2024", "office2024-excel", "cbbba2c3-0ff5-4558-846a-043ef9d78559",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Outlook LTSC 2024", "office2024-outlook", "bef3152a-8a04-40f2-a065-340c3f23516d",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Powerpoint LTSC 2024", "office2024-powerpoint", "b63626a4-5f05-4ced-9639-31ba730a127e",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office LTSC Professional Plus 2024", "office2024-proplus", "8d368fc1-9470-4be2-8d66-90e836cbb051",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2024", "office2024-project-pro", "f510af75-8ab7-4426-a236-1bfb95c34ff8",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Standard 2024", "office2024-project-std", "9f144f27-2ac5-40b9-899d-898c2b8b4f81",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Skype for Business LTSC 2024", "office2024-skype-for-business", "0002290a-2091-4324-9e53-3cfe28884cde",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office LTSC Standard 2024", "office2024-std", "bbac904f-6a7e-418a-bb4b-24c85da06187",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio LTSC Pro 2024", "office2024-visio-pro", "fa187091-8246-47b1-964f-80a0b1e5d69a",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio LTSC Standard 2024", "office2024-visio-std", "923fa470-aa71-4b8b-b35c-36b79bf9f44b",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Word LTSC 2024", "office2024-word", "d0eded01-0881-4b37-9738-190400095098",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Professional Plus 2024 Preview", "office2024-proplus-preview", "fceda083-1203-402a-8ec4-3d7ed9f3648c",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Project Pro 2024 Preview", "office2024-project-pro-preview", "aaea0dc8-78e1-4343-9f25-b69b83dd1bce",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
    {"Office Visio Pro 2024 Preview", "office2024-visio-pro-preview", "4ab4d849-aabc-43fb-87ee-3aed02518891",
     "a8973cb5-bf03-0a4c-9cef-703099645ab3", "0ff1ce15-a989-479d-af46-f275c6370663", 5},
};


#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* Lookups compare text: the table keeps the readable form, and one kms_guid_format per
 * lookup is cheaper than parsing every row. kms_guid_format writes lower case, as the
 * table does. */

const char *products_app_name(kms_app app)
{
    return (unsigned)app < KMS_APP_COUNT ? kms_apps[app].name : "";
}

const char *products_app_slug(kms_app app)
{
    return (unsigned)app < KMS_APP_COUNT ? kms_apps[app].slug : "";
}

const char *products_app_id(kms_app app)
{
    return (unsigned)app < KMS_APP_COUNT ? kms_apps[app].id : "";
}

int products_app_from_id(const kms_guid *app_id)
{
    if (!app_id) return -1;
    char text[KMS_GUID_STRLEN];
    kms_guid_format(app_id, text);
    for (int i = 0; i < KMS_APP_COUNT; i++)
        if (strcmp(text, kms_apps[i].id) == 0) return i;
    return -1;
}

int products_app_parse(const char *text)
{
    if (!text) return -1;
    for (int i = 0; i < KMS_APP_COUNT; i++)
        if (strcmp(text, kms_apps[i].slug) == 0) return i;
    kms_guid g;
    if (kms_guid_parse(text, &g) != 0) return -1;
    return products_app_from_id(&g);
}

size_t products_count(void) { return COUNTOF(kms_products); }

const kms_product *products_at(size_t i)
{
    return i < COUNTOF(kms_products) ? &kms_products[i] : NULL;
}

const kms_product *products_find(const kms_guid *kms_id)
{
    if (!kms_id) return NULL;
    char text[KMS_GUID_STRLEN];
    kms_guid_format(kms_id, text);
    for (size_t i = 0; i < COUNTOF(kms_products); i++)
        if (strcmp(text, kms_products[i].id) == 0) return &kms_products[i];
    return NULL;
}

const kms_product *products_find_slug(const char *slug)
{
    if (!slug) return NULL;
    for (size_t i = 0; i < COUNTOF(kms_products); i++)
        if (strcmp(slug, kms_products[i].slug) == 0) return &kms_products[i];
    return NULL;
}

size_t products_sku_count(void) { return COUNTOF(kms_skus); }

const kms_sku *products_sku_at(size_t i)
{
    return i < COUNTOF(kms_skus) ? &kms_skus[i] : NULL;
}

const kms_sku *products_sku_find(const kms_guid *sku_id)
{
    if (!sku_id) return NULL;
    char text[KMS_GUID_STRLEN];
    kms_guid_format(sku_id, text);
    for (size_t i = 0; i < COUNTOF(kms_skus); i++)
        if (strcmp(text, kms_skus[i].id) == 0) return &kms_skus[i];
    return NULL;
}

_Static_assert(COUNTOF(kms_skus) <= PRODUCTS_INDEX_SKUS, "raise PRODUCTS_INDEX_SKUS");
_Static_assert(COUNTOF(kms_products) <= PRODUCTS_INDEX_IDS, "raise PRODUCTS_INDEX_IDS");

static int index_entry_cmp(const void *a, const void *b)
{
    return memcmp(&((const products_index_entry *)a)->id, &((const products_index_entry *)b)->id,
                  sizeof(kms_guid));
}

/* Insertion sort: a few hundred rows, once per process, and unlike glibc's qsort it never
 * allocates. */
static void index_sort(products_index_entry *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        products_index_entry x = e[i];
        size_t j = i;
        for (; j > 0 && index_entry_cmp(&e[j - 1], &x) > 0; j--) e[j] = e[j - 1];
        e[j] = x;
    }
}

int products_index_build(products_index *ix)
{
    if (!ix) return KMS_EINVAL;
    memset(ix, 0, sizeof *ix);
    for (size_t i = 0; i < COUNTOF(kms_skus); i++) {
        /* every row's GUID parses (test_products checks the tables) */
        if (kms_guid_parse(kms_skus[i].id, &ix->skus[ix->n_skus].id) != 0) continue;
        ix->skus[ix->n_skus++].at = (uint16_t)i;
    }
    for (size_t i = 0; i < COUNTOF(kms_products); i++) {
        if (kms_guid_parse(kms_products[i].id, &ix->ids[ix->n_ids].id) != 0) continue;
        ix->ids[ix->n_ids++].at = (uint16_t)i;
    }
    index_sort(ix->skus, ix->n_skus);
    index_sort(ix->ids, ix->n_ids);
    return 0;
}

static const products_index_entry *index_search(const products_index_entry *e, size_t n,
                                                const kms_guid *id)
{
    if (!id) return NULL;
    products_index_entry key = {.id = *id};
    return bsearch(&key, e, n, sizeof *e, index_entry_cmp);
}

const kms_product *products_index_find(const products_index *ix, const kms_guid *kms_id)
{
    const products_index_entry *e = ix ? index_search(ix->ids, ix->n_ids, kms_id) : NULL;
    return e ? &kms_products[e->at] : NULL;
}

const kms_sku *products_index_sku(const products_index *ix, const kms_guid *sku_id)
{
    const products_index_entry *e = ix ? index_search(ix->skus, ix->n_skus, sku_id) : NULL;
    return e ? &kms_skus[e->at] : NULL;
}

const kms_sku *products_sku_find_slug(const char *slug)
{
    if (!slug) return NULL;
    for (size_t i = 0; i < COUNTOF(kms_skus); i++)
        if (strcmp(slug, kms_skus[i].slug) == 0) return &kms_skus[i];
    return NULL;
}

const char *products_group_slug(kms_epid_group g)
{
    return (unsigned)g < KMS_GROUP_COUNT ? kms_groups[g].slug : "";
}

int products_group_parse(const char *slug)
{
    if (!slug) return -1;
    for (int i = 0; i < KMS_GROUP_COUNT; i++)
        if (strcmp(slug, kms_groups[i].slug) == 0) return i;
    return -1;
}

const char *products_group_default_epid(kms_epid_group g)
{
    return (unsigned)g < KMS_GROUP_COUNT ? kms_groups[g].epid : "";
}

void products_group_default_hwid(kms_epid_group g, uint8_t hwid[8])
{
    if ((unsigned)g < KMS_GROUP_COUNT)
        memcpy(hwid, kms_groups[g].hwid, 8);
    else
        memset(hwid, 0, 8);
}

/* ---- ePID shape (spec 5.4) ------------------------------------------------------------- */

/* Reads a run of digits at *p of length min..max followed by the character end (which
 * may be NUL). Stores the value in *val and advances *p past end. */
static bool epid_digits(const char **p, size_t min, size_t max, char end, unsigned long *val)
{
    const char *s = *p;
    size_t n = 0;
    unsigned long v = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == max) return false;
        v = v * 10 + (unsigned long)(s[n] - '0');
        n++;
    }
    if (n < min || s[n] != end) return false;
    *val = v;
    *p = s + n + (end ? 1 : 0);
    return true;
}

/* PPPPP-GGGGG-KKK-KKKKKK-03-LCID-BUILD.NNNN-DDDYYYY: platform (5 digits), CSVLK group (5),
 * key id (3 + 6), channel 03, LCID (4-5 digits, non-zero), host build (4-5 digits) with a
 * 4-digit revision, key date as day of year (001..365, 366 in leap years) and year
 * (1995..2099: no KMS host key is older than Vista's). */
int products_epid_validate(const char *epid)
{
    if (!epid) return KMS_EEPID;
    const char *p = epid;
    unsigned long v, day, year;
    if (!epid_digits(&p, 5, 5, '-', &v)) return KMS_EEPID;     /* platform id */
    if (!epid_digits(&p, 5, 5, '-', &v)) return KMS_EEPID;     /* group id */
    if (!epid_digits(&p, 3, 3, '-', &v)) return KMS_EEPID;     /* key id, high part */
    if (!epid_digits(&p, 6, 6, '-', &v)) return KMS_EEPID;     /* key id, low part */
    if (!epid_digits(&p, 2, 2, '-', &v) || v != 3) return KMS_EEPID; /* channel: volume */
    if (!epid_digits(&p, 4, 5, '-', &v) || v == 0 || v > 0xFFFF) return KMS_EEPID; /* LCID */
    if (!epid_digits(&p, 4, 5, '.', &v) || v == 0) return KMS_EEPID;      /* build */
    if (!epid_digits(&p, 4, 4, '-', &v)) return KMS_EEPID;                /* revision */
    if (!epid_digits(&p, 7, 7, '\0', &v)) return KMS_EEPID;               /* DDDYYYY */
    day = v / 10000;
    year = v % 10000;
    if (year < 1995 || year > 2099) return KMS_EEPID;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day < 1 || day > (leap ? 366u : 365u)) return KMS_EEPID;
    return 0;
}
