/* kmshost.h: what a KMS host decides for one decoded request: refuse (HRESULT) or
 * activate with the cluster's count, the response fields and the record to commit. No
 * I/O: the configuration, the count index and the time come in as arguments. */
#ifndef KMSHA_KMSHOST_H
#define KMSHA_KMSHOST_H

#include <stdint.h>
#include "node/clients.h"
#include "node/config.h"
#include "replication/store.h"
#include "proto/kms.h"

typedef struct kmshost_decision {
    uint32_t hresult;            /* KMS_HR_OK or the refusal */
    int result;                  /* enum metrics_result */
    const char *reason;          /* short text for logs ("product not in allow_products") */
    int app;                     /* kms_app, or -1 when unknown */
    const kms_product *product;  /* NULL when the KMS counted ID is not in the table */
    uint32_t count;              /* count returned (activations) */
    kms_response response;       /* filled when hresult == 0 */
    store_record record;         /* filled when hresult == 0 */
} kmshost_decision;

/* decode_status: the result of kms_server_decode_request (0 or < 0; errors are answered
 * 0x8007000D). On activation the count includes the requesting client, but the index is
 * not changed: the caller calls kmshost_record_stored once d->record is committed (and
 * never when the commit fails). products: the product tables' index, built once by the
 * caller. */
void kmshost_decide(const kmsd_config *cfg, const products_index *products, clients_index *clients,
                    const kms_request *req, int decode_status, int64_t now_ms,
                    const char *client_addr, kmshost_decision *out);

/* A record is durable in the store: the client enters the count index. Returns what
 * clients_touch returns (< 0: out of memory for the index). */
int kmshost_record_stored(clients_index *clients, const store_record *rec);

/* One audit line (JSON object, no newline) for a decided request. workstation: the
 * request's workstation name as kms_request_workstation decodes it (used when
 * decode_status >= 0). */
void kmshost_audit_json(const kmsd_config *cfg, const products_index *products,
                        const kms_request *req, int decode_status, const char *workstation,
                        const kmshost_decision *d, int64_t now_ms, const char *client_addr,
                        char *out, size_t cap);

/* Names a refusal HRESULT: "SL_E_VL_KEY_MANAGEMENT_SERVICE_ID_MISMATCH", ... */
const char *kmshost_hresult_name(uint32_t hr);

#endif
