/* unknownids.h: the KMS counted IDs this node was asked for that the product table does
 * not know (under a known application). The table always lags Microsoft: by default such a
 * request is served and counted with its application, and this list is how the node
 * reports it (a log line per new ID, /metrics, /status, kmsctl products --unknown).
 * Per node and in memory: each node lists what its own clients asked it since it started
 * (kmsctl products --unknown --cluster merges the nodes' lists). Bounded: at most
 * UNKNOWNIDS_MAX distinct IDs are tracked; requests for further IDs are added up as
 * "other", so a client sending random IDs cannot grow the memory or the metrics. */
#ifndef KMSHA_UNKNOWNIDS_H
#define KMSHA_UNKNOWNIDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/guid.h"

#define UNKNOWNIDS_MAX 32

typedef struct unknownids_entry {
    kms_guid kms_id;
    int app;                 /* kms_app */
    int64_t first_seen_ms;   /* unix ms */
    int64_t last_seen_ms;
    uint64_t requests;
    uint64_t activated;      /* of which answered with a count */
} unknownids_entry;

typedef struct unknownids {
    unknownids_entry e[UNKNOWNIDS_MAX]; /* in order of first appearance */
    size_t n;
    uint64_t other_requests;  /* requests for IDs beyond the first UNKNOWNIDS_MAX */
    uint64_t other_activated;
    bool other_seen;
} unknownids;

enum unknownids_note_result {
    UNKNOWNIDS_SEEN = 0,        /* an ID already tracked */
    UNKNOWNIDS_NEW = 1,         /* first request for this ID (and application): log it */
    UNKNOWNIDS_OTHER = 2,       /* beyond UNKNOWNIDS_MAX, added to "other" */
    UNKNOWNIDS_OTHER_FIRST = 3, /* the first such request: log that the list is full */
};

/* Notes one request for kms_id under app at now_ms; activated: it was answered with a
 * count. Returns an enum unknownids_note_result (KMS_EINVAL for bad arguments). */
int unknownids_note(unknownids *u, const kms_guid *kms_id, int app, bool activated, int64_t now_ms);

#endif
