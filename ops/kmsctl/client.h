/* client.h: one whole KMS activation as a Windows client performs it (connect, bind with
 * NDR32/NDR64/BTFN, alter_context if needed, request(s), full verification of each
 * response), over a blocking socket with a deadline. Used by kmsctl and the tests. */
#ifndef KMSHA_CLIENT_H
#define KMSHA_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include "proto/kms.h"
#include "proto/rpc.h"

typedef struct client_options {
    int protocol;              /* 4, 5 or 6 */
    kms_guid app_id, sku_id, kms_id; /* from the product (see client_options_set_product) */
    uint16_t n_policy;
    kms_guid cmid;             /* zero = random */
    kms_guid previous_cmid;
    char workstation[64];      /* ASCII; "" = "kmsctl" */
    uint32_t license_status;   /* default 2 (OOB grace) */
    uint32_t binding_expiration; /* minutes left in that state (default 43200, 30 days) */
    uint32_t vm;               /* 0 */
    bool ndr64;                /* offer NDR64 (default true) */
    bool btfn;                 /* offer BTFN (default true) */
    int64_t time_offset_s;     /* added to the client's clock (tests of the ±4 h check) */
    int requests;              /* requests on one connection (default 1): the first over
                                  NDR32, later ones over NDR64 when granted, like Windows */
    int timeout_ms;            /* whole exchange deadline (default 5000) */
} client_options;

typedef struct client_result {
    int error;                 /* 0, or a KMS_E* code (KMS_EREFUSED: see hresult) */
    uint32_t hresult;          /* the stub's return value when the host refused */
    uint32_t fault_status;     /* when error == KMS_EFAULT */
    char message[256];         /* one line saying what went wrong, for people */
    kms_response response;     /* the last verified response */
    char epid[80];             /* ASCII ePID of the last response */
    rpc_syntax syntax;         /* transfer syntax of the last request */
    int requests_done;         /* verified responses received */
    double elapsed_ms;
} client_result;

/* Defaults: protocol 6, Windows 10/11 Pro, random CMID, NDR64 and BTFN offered. */
void client_options_default(client_options *opt);
/* Selects the product by SKU slug (kmsctl products) or SKU GUID: sets app/sku/kms ids, N
 * and the protocol its clients normally use. Returns 0 or KMS_ENOTFOUND. */
int client_options_set_product(client_options *opt, const char *name);

/* Runs the activation against host:port (IPv4, IPv6 or a name). Returns res->error. */
/* Connects and completes an RPC bind (NDR32 + NDR64 + BTFN, as Windows offers), then
 * closes: proves the KMS port answers without an activation (nothing is counted).
 * Returns 0 or a KMS_E* code with res->message saying what went wrong. */
int client_probe(const char *host, uint16_t port, int timeout_ms, client_result *res);
int client_activate(const char *host, uint16_t port, const client_options *opt,
                    client_result *res);

#endif
