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
#include "proto/json.h"
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

#define KMSHOST_STR_(x) #x
#define KMSHOST_STR(x) KMSHOST_STR_(x)

void kmshost_decide(const kmsd_config *cfg, const products_index *products, clients_index *clients,
                    const kms_request *req, int decode_status, int64_t now_ms,
                    const char *client_addr, kmshost_decision *d)
{
    memset(d, 0, sizeof *d);
    d->app = -1;
    if (decode_status < 0) {
        refuse(d, KMS_HR_INVALID_DATA, MR_INVALID_DATA, kms_strerror(decode_status));
        return;
    }
    d->app = products_app_from_id(&req->app_id);
    d->product = products_index_find(products, &req->kms_id);
    if (req->required_count > CLIENTS_N_MAX) {
        refuse(d, KMS_HR_INVALID_DATA, MR_INVALID_DATA, "N policy above " KMSHOST_STR(CLIENTS_N_MAX));
        return;
    }
    if (d->app < 0) {
        refuse(d, KMS_HR_KMS_ID_MISMATCH, MR_PRODUCT_REFUSED, "unknown application ID");
        return;
    }
    if (!config_product_allowed(cfg, d->app, d->product, &req->kms_id)) {
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
    if (clients_touch(clients, d->app, req->cmid.b, req->kms_id.b, now_ms, (uint16_t)req->required_count) < 0) {
        refuse(d, KMS_HR_INVALID_DATA, MR_STORE_ERROR, "out of memory for the client index");
        return;
    }
    d->count = clients_count(clients, d->app, now_ms);

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
    rec->binding_expiration = req->binding_expiration;
    rec->count = (uint16_t)(d->count > UINT16_MAX ? UINT16_MAX : d->count);
    store_record_add_name(rec, rec->workstation, rec->address, now_ms);
    d->hresult = KMS_HR_OK;
    /* Windows stays in grace (and keeps asking) while the count is below its N. */
    if (d->count < req->required_count) {
        d->result = MR_BELOW_THRESHOLD;
        d->reason = "count below the client's N";
    } else {
        d->result = MR_ACTIVATED;
        d->reason = "activated";
    }
}

/* The audit line is built by appending pieces: no printf on this per-request path (its
 * format parsing was most of the line's cost). Every piece stops at cap - 1, so the line
 * is always terminated; a line that does not fit is cut, as snprintf would cut it. */
typedef struct jbuf {
    char *out;
    size_t cap, pos;
} jbuf;

static void put_mem(jbuf *b, const char *s, size_t n)
{
    if (b->pos + 1 >= b->cap) return;
    size_t room = b->cap - 1 - b->pos;
    if (n > room) n = room;
    memcpy(b->out + b->pos, s, n);
    b->pos += n;
    b->out[b->pos] = 0;
}

static void put_str(jbuf *b, const char *s) { put_mem(b, s, strlen(s)); }

static void put_uint(jbuf *b, uint64_t v, int min_digits)
{
    char t[24];
    int n = 0;
    do { t[sizeof t - 1 - n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n < min_digits) t[sizeof t - 1 - n++] = '0';
    put_mem(b, t + sizeof t - n, (size_t)n);
}

static void put_hex32(jbuf *b, uint32_t v)
{
    static const char hex[] = "0123456789ABCDEF";
    char t[8];
    for (int i = 7; i >= 0; i--, v >>= 4) t[i] = hex[v & 15];
    put_mem(b, t, sizeof t);
}

static void put_piece(void *ctx, const char *p, size_t n) { put_mem(ctx, p, n); }
static void json_str(jbuf *b, const char *s) { json_write_str(s, put_piece, b); }

static void put_guid(jbuf *b, const char *key, const kms_guid *g)
{
    char t[KMS_GUID_STRLEN];
    put_str(b, key);
    put_mem(b, kms_guid_format(g, t), KMS_GUID_STRLEN - 1);
    put_mem(b, "\"", 1);
}

void kmshost_audit_json(const kmsd_config *cfg, const products_index *products,
                        const kms_request *req, int decode_status, const char *workstation,
                        const kmshost_decision *d, int64_t now_ms, const char *client_addr,
                        char *out, size_t cap)
{
    if (!cap) return;
    jbuf b = {out, cap, 0};
    out[0] = 0;
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    put_str(&b, "{\"ts\":\"");
    put_uint(&b, (uint64_t)tm.tm_year + 1900, 4);
    put_mem(&b, "-", 1);
    put_uint(&b, (uint64_t)tm.tm_mon + 1, 2);
    put_mem(&b, "-", 1);
    put_uint(&b, (uint64_t)tm.tm_mday, 2);
    put_mem(&b, "T", 1);
    put_uint(&b, (uint64_t)tm.tm_hour, 2);
    put_mem(&b, ":", 1);
    put_uint(&b, (uint64_t)tm.tm_min, 2);
    put_mem(&b, ":", 1);
    put_uint(&b, (uint64_t)tm.tm_sec, 2);
    put_mem(&b, ".", 1);
    put_uint(&b, (uint64_t)(now_ms % 1000), 3);
    put_str(&b, "Z\",\"node\":");
    json_str(&b, cfg->node_id);
    put_str(&b, ",\"client\":");
    json_str(&b, client_addr);
    if (decode_status >= 0) {
        put_str(&b, ",\"workstation\":");
        json_str(&b, workstation ? workstation : "");
        put_guid(&b, ",\"cmid\":\"", &req->cmid);
        put_guid(&b, ",\"previous_cmid\":\"", &req->previous_cmid);
        put_str(&b, ",\"application\":\"");
        put_str(&b, d->app >= 0 ? products_app_slug((kms_app)d->app) : "unknown");
        put_mem(&b, "\"", 1);
        put_guid(&b, ",\"application_id\":\"", &req->app_id);
        put_guid(&b, ",\"sku\":\"", &req->sku_id);
        const kms_sku *sku = products_index_sku(products, &req->sku_id);
        if (sku) { put_str(&b, ",\"sku_name\":"); json_str(&b, sku->name); }
        put_guid(&b, ",\"kms_id\":\"", &req->kms_id);
        if (d->product) { put_str(&b, ",\"product\":\""); put_str(&b, d->product->slug); put_mem(&b, "\"", 1); }
        put_str(&b, ",\"protocol\":\"");
        put_uint(&b, req->version_major, 1);
        put_mem(&b, ".", 1);
        put_uint(&b, req->version_minor, 1);
        put_str(&b, "\",\"license_status\":");
        put_uint(&b, req->license_status, 1);
        put_str(&b, ",\"binding_expiration\":");
        put_uint(&b, req->binding_expiration, 1);
        put_str(&b, ",\"vm\":");
        put_uint(&b, req->vm_info, 1);
        put_str(&b, ",\"n_policy\":");
        put_uint(&b, req->required_count, 1);
    }
    put_str(&b, ",\"count\":");
    put_uint(&b, d->hresult == 0 ? d->count : 0, 1);
    put_str(&b, ",\"result\":\"0x");
    put_hex32(&b, d->hresult);
    put_str(&b, "\",\"result_name\":\"");
    put_str(&b, metrics_result_name(d->result));
    put_mem(&b, "\"", 1);
    if (d->hresult) { put_str(&b, ",\"reason\":"); json_str(&b, d->reason ? d->reason : ""); }
    put_mem(&b, "}", 1);
}
