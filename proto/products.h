/* products.h: the product table of proto/spec/kms-ids.md: applications, KMS counted
 * IDs (N policy, ePID group, retail/preview flags), the SKUs that name editions, and the
 * default host identity (ePID, HWID) per ePID group. Static const data, no globals. */
#ifndef KMSHA_PRODUCTS_H
#define KMSHA_PRODUCTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/guid.h"

/* Applications: each keeps its own count (spec 6.1). */
typedef enum kms_app {
    KMS_APP_WINDOWS = 0,
    KMS_APP_OFFICE2010 = 1,
    KMS_APP_OFFICE2013 = 2, /* Office 2013 and later */
    KMS_APP_COUNT = 3,
} kms_app;

/* ePID/HWID groups (spec 5.5). */
typedef enum kms_epid_group {
    KMS_GROUP_WINDOWS = 0,
    KMS_GROUP_OFFICE2010,
    KMS_GROUP_OFFICE2013,
    KMS_GROUP_OFFICE2016,
    KMS_GROUP_OFFICE2019,
    KMS_GROUP_OFFICE2021,
    KMS_GROUP_OFFICE2024,
    KMS_GROUP_WINCHINAGOV,
    KMS_GROUP_COUNT,
} kms_epid_group;

enum kms_product_flags {
    KMS_PRODUCT_RETAIL = 1,  /* not a volume product: refused by default */
    KMS_PRODUCT_PREVIEW = 2, /* pre-release: refused by default */
};

/* One KMS counted ID (a product group a host decides on). */
typedef struct kms_product {
    const char *name;     /* "Windows 10/11 2015 (Volume)" */
    const char *slug;     /* short config/CLI name: "win10", "office2019", "ws2022" ... */
    const char *id;       /* KMS counted ID, text form */
    kms_app app;
    uint16_t n_policy;    /* required client count N */
    uint8_t protocol;     /* major version clients normally use */
    uint8_t flags;        /* kms_product_flags */
    kms_epid_group group;
} kms_product;

/* One SKU (edition) with the KMS counted ID it activates against. */
typedef struct kms_sku {
    const char *name;     /* "Windows 10/11 Pro" */
    const char *slug;     /* "win10-pro", "office2019-proplus", ... unique */
    const char *id;       /* SKU / activation ID, text form */
    const char *kms_id;   /* KMS counted ID, text form */
    const char *app_id;   /* application ID, text form */
    uint16_t n_policy;
} kms_sku;

/* Applications. */
const char *products_app_name(kms_app app);          /* "Windows", "Office 2010", "Office 2013+" */
const char *products_app_slug(kms_app app);          /* "windows", "office2010", "office2013" */
const char *products_app_id(kms_app app);            /* GUID text */
/* Returns the kms_app of an application ID, or -1 when unknown. */
int products_app_from_id(const kms_guid *app_id);
/* Parses an application slug or GUID; returns kms_app or -1. */
int products_app_parse(const char *text);

/* KMS counted IDs. */
size_t products_count(void);
const kms_product *products_at(size_t i);
const kms_product *products_find(const kms_guid *kms_id);   /* NULL when unknown */
const kms_product *products_find_slug(const char *slug);    /* NULL when unknown */

/* SKUs (editions). */
size_t products_sku_count(void);
const kms_sku *products_sku_at(size_t i);
const kms_sku *products_sku_find(const kms_guid *sku_id);      /* NULL when unknown */
const kms_sku *products_sku_find_slug(const char *slug);       /* NULL when unknown */

/* Look-ups by GUID without a scan of the tables (the functions above compare text row by
 * row: fine for tools, not for every request). The caller builds the index once; it is
 * plain data (about 7 KiB) with no allocation behind it, and stays valid for the process. */
#define PRODUCTS_INDEX_SKUS 384
#define PRODUCTS_INDEX_IDS 64
typedef struct products_index_entry {
    kms_guid id;
    uint16_t at; /* row in the table */
} products_index_entry;
typedef struct products_index {
    products_index_entry skus[PRODUCTS_INDEX_SKUS], ids[PRODUCTS_INDEX_IDS];
    size_t n_skus, n_ids;
} products_index;
/* Fills ix from the tables, sorted by GUID. Returns 0 (or KMS_EINVAL for a NULL ix). */
int products_index_build(products_index *ix);
const kms_product *products_index_find(const products_index *ix, const kms_guid *kms_id); /* NULL when unknown */
const kms_sku *products_index_sku(const products_index *ix, const kms_guid *sku_id);      /* NULL when unknown */

/* ePID groups: slug ("windows", "office2010", ... "winchinagov"), default ePID (ASCII,
 * self-consistent as spec 5.4 recommends) and default HWID. */
const char *products_group_slug(kms_epid_group g);
int products_group_parse(const char *slug); /* kms_epid_group or -1 */
const char *products_group_default_epid(kms_epid_group g);
void products_group_default_hwid(kms_epid_group g, uint8_t hwid[8]);

/* Checks an ASCII ePID for the 8-part shape of spec 5.4 (digits, lengths, channel 03,
 * plausible day of year). Returns 0 or KMS_EEPID. */
int products_epid_validate(const char *epid);

#endif
