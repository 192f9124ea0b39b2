/* msg.h: the replication wire messages exchanged between nodes over ZeroMQ: live updates,
 * heartbeats carrying the version vector, and catch-up requests and replies (from the
 * update log, or a snapshot page). One message = one ZeroMQ frame; a 4-byte header (magic
 * "KR", version, type) then the body. Decoding is bounded by the frame length. */
#ifndef KMSHA_REPL_MSG_H
#define KMSHA_REPL_MSG_H

#include <stddef.h>
#include <stdint.h>
#include "replication/store.h"

#define REPL_MSG_VERSION 2 /* the highest understood: 1 and 2 are read (see msg.c) */
#define REPL_BATCH_MAX 512 /* updates or records per sync reply */
#define REPL_OWED_MAX 32   /* peer ids in a heartbeat's owed list (REPL_MAX_PEERS) */

enum repl_msg_type {
    REPL_MSG_UPDATE = 1,    /* one live update (PUB) */
    REPL_MSG_HEARTBEAT = 2, /* node id, time, version vector (PUB) */
    REPL_MSG_SYNC_REQ = 3,  /* "send me what I lack" (DEALER -> ROUTER) */
    REPL_MSG_SYNC_REP = 4,  /* log updates or a snapshot page (ROUTER -> DEALER) */
};

enum repl_sync_mode {
    REPL_SYNC_LOG = 0,      /* updates from the log: apply in order */
    REPL_SYNC_SNAPSHOT = 1, /* records (a page of the peer's whole store) */
};

typedef struct repl_heartbeat {
    char node[STORE_ORIGIN_MAX];
    int64_t time_ms;
    int64_t last_update_ms; /* when the sender last logged one of its own updates */
    store_vv vv;
    /* Version 2 (empty when a version-1 heartbeat is decoded): */
    char origin[STORE_ORIGIN_MAX]; /* the origin the sender numbers its updates under ("": not chosen yet) */
    store_vv retired;       /* origins the sender retired that a peer still advertises, with the
                               sequence each was retired at (repl.c: origin retirement) */
    int n_owed;             /* peers the sender retired origins without: each is to take a */
    char owed[REPL_OWED_MAX][STORE_ORIGIN_MAX]; /* snapshot from it when it hears this */
} repl_heartbeat;

typedef struct repl_sync_req {
    char node[STORE_ORIGIN_MAX];
    store_vv vv;                     /* what the requester has */
    uint8_t cursor[STORE_KEY_LEN];   /* snapshot continuation (cursor_len 0 = none) */
    uint8_t cursor_len;
    uint8_t snapshot;                /* 1: continue (or start) a snapshot */
    uint32_t max;                    /* batch size wanted */
} repl_sync_req;

/* A sync reply. For REPL_SYNC_LOG, updates[0..n) are contiguous per origin. For a
 * snapshot, records are in updates[i].rec (origin/seq unused), cursor continues it, and
 * done == 1 on the last page, whose vv is the version vector to adopt. */
typedef struct repl_sync_rep {
    char node[STORE_ORIGIN_MAX];
    uint8_t mode;
    uint8_t more;                    /* log mode: the peer has more after these */
    uint8_t done;                    /* snapshot mode: last page */
    uint8_t cursor[STORE_KEY_LEN];
    uint8_t cursor_len;
    store_vv vv;                     /* snapshot: vv at the snapshot's start */
    uint32_t n;
    store_update *updates;           /* caller-provided array of REPL_BATCH_MAX */
} repl_sync_rep;

/* Encoders return the length written (> 0) or KMS_ESPACE. */
int repl_encode_update(const store_update *u, uint8_t *out, size_t cap);
int repl_encode_heartbeat(const repl_heartbeat *hb, uint8_t *out, size_t cap);
int repl_encode_sync_req(const repl_sync_req *rq, uint8_t *out, size_t cap);
int repl_encode_sync_rep(const repl_sync_rep *rp, uint8_t *out, size_t cap);

/* Largest encoded sync reply (REPL_BATCH_MAX updates), for buffer sizing. */
size_t repl_sync_rep_max_len(void);

/* Returns the message type (> 0) of a frame, or KMS_ETRUNC / KMS_EPROTO (bad magic) /
 * KMS_EVERSION. */
int repl_peek_type(const uint8_t *buf, size_t len);

/* Decoders return 0 or KMS_ETRUNC / KMS_EPROTO / KMS_EVERSION / KMS_ETOOBIG / KMS_EINVAL
 * (trailing bytes, bad strings or counts, invalid records). rp->updates must point to an
 * array of REPL_BATCH_MAX entries. */
int repl_decode_update(const uint8_t *buf, size_t len, store_update *u);
int repl_decode_heartbeat(const uint8_t *buf, size_t len, repl_heartbeat *hb);
int repl_decode_sync_req(const uint8_t *buf, size_t len, repl_sync_req *rq);
int repl_decode_sync_rep(const uint8_t *buf, size_t len, repl_sync_rep *rp);

#endif
