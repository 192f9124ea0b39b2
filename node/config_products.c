/* config_products.c: the product allow policy: allow_products entries (applications and
 * KMS counted IDs by slug or GUID) and the decision, per request, whether a product is
 * served (config_product_allowed) and whether an application is (config_app_served). */
#include "node/config_internal.h"

#include <string.h>

#include "proto/errors.h"
#include "proto/guid.h"

/* An allow_products entry. "app:X" is application X, "kms:X" KMS counted ID X. Without a
 * prefix a KMS counted ID slug wins over an application slug of the same spelling
 * (office2010, office2013: the narrower reading, an allowlist should fail closed); so
 * "office2013" is the Office 2013 KMS ID and "app:office2013" all of Office 2013 and later.
 * A GUID is an application ID if it names one, else a KMS counted ID (also one the
 * product table does not know yet). */
int config_parse_allow(const char *v, config_allow *out, char *why, size_t whylen)
{
    config_allow a;
    memset(&a, 0, sizeof a);
    kms_guid g;
    const kms_product *p;
    int app;
    if (strncmp(v, "app:", 4) == 0) {
        if ((app = products_app_parse(v + 4)) < 0) goto bad;
        a.is_app = true;
        a.app = app;
    } else if (strncmp(v, "kms:", 4) == 0) {
        if ((p = products_find_slug(v + 4))) {
            if (kms_guid_parse(p->id, &a.kms_id) != 0) goto bad;
        } else if (kms_guid_parse(v + 4, &g) == 0 && products_app_from_id(&g) < 0) {
            a.kms_id = g;
        } else {
            goto bad;
        }
    } else if ((p = products_find_slug(v))) {
        if (kms_guid_parse(p->id, &a.kms_id) != 0) goto bad;
    } else if ((app = products_app_parse(v)) >= 0) {
        a.is_app = true;
        a.app = app;
    } else if (kms_guid_parse(v, &g) == 0) {
        a.kms_id = g;
    } else {
        goto bad;
    }
    *out = a;
    return 0;
bad:;
    const kms_sku *s = products_sku_find_slug(v);
    if (!s && kms_guid_parse(v, &g) == 0) s = products_sku_find(&g);
    if (s) {
        kms_guid kg;
        p = kms_guid_parse(s->kms_id, &kg) == 0 ? products_find(&kg) : NULL;
        config_put(why, whylen, "'%.64s' is an edition (SKU); list its KMS counted ID '%s' instead", v,
            p ? p->slug : s->kms_id);
    } else {
        config_put(why, whylen, "'%.64s' is not a product (application or KMS counted ID slug or GUID)", v);
    }
    return KMS_ECONFIG;
}

bool config_app_served(const kmsd_config *cfg, int app)
{
    for (int i = 0; i < cfg->n_allow && i < CONFIG_MAX_ALLOW; i++)
        if (cfg->allow[i].is_app && cfg->allow[i].app == app) return true;
    for (size_t i = 0; i < products_count(); i++) {
        const kms_product *p = products_at(i);
        kms_guid g;
        if ((int)p->app == app && kms_guid_parse(p->id, &g) == 0 && config_product_allowed(cfg, app, p, &g)) return true;
    }
    /* A KMS counted ID the table does not know, allowed by GUID, names no application. */
    return false;
}

bool config_product_allowed(const kmsd_config *cfg, int app, const kms_product *p,
                            const kms_guid *kms_id)
{
    if (!cfg || !kms_id) return false;
    if (cfg->n_allow == 0) {
        /* The volume products of the table under their own application, and KMS counted
         * IDs the table does not know under a known application: the table always lags
         * Microsoft, and that lag must not become refusals (kmsd reports such IDs). */
        if (!p) return app >= 0;
        return !(p->flags & (KMS_PRODUCT_RETAIL | KMS_PRODUCT_PREVIEW)) && app == (int)p->app;
    }
    for (int i = 0; i < cfg->n_allow && i < CONFIG_MAX_ALLOW; i++) {
        const config_allow *a = &cfg->allow[i];
        if (a->is_app) {
            /* The application's volume products: what the table marks retail or preview is
             * still refused, a KMS counted ID the table does not know yet (a newer release)
             * is served, and a known one must belong to this application. */
            if (app >= 0 && app == a->app &&
                (!p || ((int)p->app == app && !(p->flags & (KMS_PRODUCT_RETAIL | KMS_PRODUCT_PREVIEW)))))
                return true;
        } else if (kms_guid_equal(&a->kms_id, kms_id)) {
            /* A known KMS counted ID must come with its own application ID (a genuine host
             * refuses the mismatch); an ID the table does not know cannot be checked. */
            if (!p || app == (int)p->app) return true;
        }
    }
    return false;
}
