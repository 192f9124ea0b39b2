/* kmshost.c: the KMS host's decisions (spec section 5): version and data checks, the
 * product allowlist, the client clock check, then the count as Microsoft's host keeps it
 * (distinct CMIDs per application in the lifetime window, capped) and the response. */
#include "node/kmshost.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "node/metrics.h"
#include "proto/errors.h"
#include "proto/products.h"

const char *kmshost_hresult_name(uint32_t hr)
{
    switch (hr) {
    case KMS_HR_OK: return "S_OK";
    case KMS_HR_INVALID_DATA: return "ERROR_INVALID_DATA";
    case KMS_HR_KMS_ID_MISMATCH: return "SL_E_VL_KEY_MANAGEMENT_SERVICE_ID_MISMATCH";
    case KMS_HR_INVALID_TIMESTAMP: return "SL_E_VL_INVALID_TIMESTAMP";
    case KMS_HR_NOT_ENOUGH_COUNT: return "SL_E_VL_NOT_ENOUGH_COUNT";
    default: return "unknown";
    }
}

static void refuse(kmshost_decision *d, uint32_t hr, int result, const char *reason)
{
    d->hresult = hr;
    d->result = result;
    d->reason = reason;
}

void kmshost_decide(const kmsd_config *cfg, clients_index *clients, const kms_request *req,
                    int decode_status, int64_t now_ms, const char *client_addr,
                    kmshost_decision *d)
{
    memset(d, 0, sizeof *d);
    d->app = -1;
    if (decode_status < 0) {
        refuse(d, KMS_HR_INVALID_DATA, MR_INVALID_DATA, kms_strerror(decode_status));
        return;
    }
    d->app = products_app_from_id(&req->app_id);
    d->product = products_find(&req->kms_id);
    if (req->required_count > 1000) {
        refuse(d, KMS_HR_INVALID_DATA, MR_INVALID_DATA, "N policy above 1000");
        return;
    }
    if (d->app < 0) {
        refuse(d, KMS_HR_KMS_ID_MISMATCH, MR_PRODUCT_REFUSED, "unknown application ID");
        return;
    }
    if (!config_product_allowed(cfg, &req->app_id, &req->kms_id)) {
        refuse(d, KMS_HR_KMS_ID_MISMATCH, MR_PRODUCT_REFUSED, "product not in allow_products");
        return;
    }
    if (cfg->max_clock_skew) {
        int64_t client_s = kms_filetime_to_unix(req->client_time);
        int64_t skew = client_s - now_ms / 1000;
        if (skew < 0) skew = -skew;
        if (skew > (int64_t)cfg->max_clock_skew * 60) {
            refuse(d, KMS_HR_INVALID_TIMESTAMP, MR_TIME_REFUSED, "client clock off by more than max_clock_skew");
            return;
        }
    }

    /* Count: the index learns the requesting client first, so the count includes it. */
    int64_t lifetime_ms = (int64_t)cfg->client_lifetime_days * 86400 * 1000;
    clients_expire(clients, now_ms, lifetime_ms);
    if (clients_touch(clients, d->app, req->cmid.b, now_ms, (uint16_t)req->required_count) < 0) {
        refuse(d, KMS_HR_INVALID_DATA, MR_STORE_ERROR, "out of memory for the client index");
        return;
    }
    d->count = clients_reported_count(clients, d->app, cfg->count_cap);

    kms_epid_group group = d->product ? d->product->group : KMS_GROUP_WINDOWS;
    kms_response *r = &d->response;
    r->version_major = req->version_major;
    r->version_minor = req->version_minor;
    if (kms_response_set_epid(r, cfg->epid[group]) < 0) {
        refuse(d, KMS_HR_INVALID_DATA, MR_INVALID_DATA, "configured ePID unusable");
        return;
    }
    r->cmid = req->cmid;
    r->client_time = req->client_time;
    r->count = d->count;
    r->activation_interval = cfg->activation_interval;
    r->renewal_interval = cfg->renewal_interval;
    memcpy(r->hwid, cfg->hwid[group], 8);

    store_record *rec = &d->record;
    rec->app = (uint8_t)d->app;
    memcpy(rec->cmid, req->cmid.b, 16);
    rec->first_seen_ms = now_ms;
    rec->last_seen_ms = now_ms;
    memcpy(rec->sku_id, req->sku_id.b, 16);
    memcpy(rec->kms_id, req->kms_id.b, 16);
    rec->license_status = (uint8_t)(req->license_status > 255 ? 255 : req->license_status);
    rec->vm = req->vm_info ? 1 : 0;
    rec->n_policy = (uint16_t)req->required_count;
    rec->protocol = (uint8_t)req->version_major;
    kms_request_workstation(req, rec->workstation, sizeof rec->workstation);
    snprintf(rec->address, sizeof rec->address, "%s", client_addr);
    snprintf(rec->node, sizeof rec->node, "%s", cfg->node_id);
    d->hresult = KMS_HR_OK;
    d->result = MR_ACTIVATED;
    d->reason = "activated";
}

/* Appends a JSON string (escaped) to the buffer at *pos. */
static void json_str(char *out, size_t cap, size_t *pos, const char *s)
{
    if (*pos >= cap) return;
    out[(*pos)++] = '"';
    for (; *s && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { out[(*pos)++] = '\\'; out[(*pos)++] = (char)c; }
        else if (c < 0x20) *pos += (size_t)snprintf(out + *pos, cap - *pos, "\\u%04x", c);
        else out[(*pos)++] = (char)c;
    }
    if (*pos + 1 < cap) out[(*pos)++] = '"';
    out[*pos < cap ? *pos : cap - 1] = 0;
}

#define APPEND(...) do { if (pos < cap) pos += (size_t)snprintf(out + pos, cap - pos, __VA_ARGS__); } while (0)

void kmshost_audit_json(const kmsd_config *cfg, const kms_request *req, int decode_status,
                        const kmshost_decision *d, int64_t now_ms, const char *client_addr,
                        char *out, size_t cap)
{
    size_t pos = 0;
    char ts[40];
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    APPEND("{\"ts\":\"%s.%03dZ\",\"node\":", ts, (int)(now_ms % 1000));
    json_str(out, cap, &pos, cfg->node_id);
    APPEND(",\"client\":");
    json_str(out, cap, &pos, client_addr);
    if (decode_status >= 0) {
        char ws[STORE_WORKSTATION_MAX], g[KMS_GUID_STRLEN];
        kms_request_workstation(req, ws, sizeof ws);
        APPEND(",\"workstation\":");
        json_str(out, cap, &pos, ws);
        APPEND(",\"cmid\":\"%s\"", kms_guid_format(&req->cmid, g));
        APPEND(",\"previous_cmid\":\"%s\"", kms_guid_format(&req->previous_cmid, g));
        APPEND(",\"application\":\"%s\"", d->app >= 0 ? products_app_slug((kms_app)d->app) : "unknown");
        APPEND(",\"application_id\":\"%s\"", kms_guid_format(&req->app_id, g));
        APPEND(",\"sku\":\"%s\"", kms_guid_format(&req->sku_id, g));
        const kms_sku *sku = products_sku_find(&req->sku_id);
        if (sku) { APPEND(",\"sku_name\":"); json_str(out, cap, &pos, sku->name); }
        APPEND(",\"kms_id\":\"%s\"", kms_guid_format(&req->kms_id, g));
        if (d->product) APPEND(",\"product\":\"%s\"", d->product->slug);
        APPEND(",\"protocol\":\"%u.%u\",\"license_status\":%" PRIu32 ",\"vm\":%" PRIu32
               ",\"n_policy\":%" PRIu32,
               req->version_major, req->version_minor, req->license_status, req->vm_info,
               req->required_count);
    }
    APPEND(",\"count\":%" PRIu32 ",\"result\":\"0x%08" PRIX32 "\",\"result_name\":\"%s\"",
           d->hresult == 0 ? d->count : 0, d->hresult, metrics_result_name(d->result));
    if (d->hresult) { APPEND(",\"reason\":"); json_str(out, cap, &pos, d->reason ? d->reason : ""); }
    APPEND("}");
    if (pos >= cap) out[cap - 1] = 0;
}
