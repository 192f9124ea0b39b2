/* test_repl_msg.c: the replication message codec: every message type round-trips, and
 * truncated, extended, wrong-version, wrong-magic and lying-count frames are refused. */
#include <stdlib.h>
#include <string.h>
#include "proto/errors.h"
#include "replication/msg.h"
#include "tests/testutil.h"

static store_record sample_record(int i)
{
    store_record r;
    memset(&r, 0, sizeof r);
    r.app = (uint8_t)(i % 3);
    for (int k = 0; k < 16; k++) r.cmid[k] = (uint8_t)(i * 7 + k);
    r.first_seen_ms = 1795000000000 + i;
    r.last_seen_ms = 1795000001000 + i;
    r.license_status = 2;
    r.n_policy = 25;
    r.protocol = 6;
    snprintf(r.workstation, sizeof r.workstation, "pc-%d.example.edu", i);
    snprintf(r.address, sizeof r.address, "10.0.0.%d", i % 250);
    snprintf(r.node, sizeof r.node, "kms%d", i % 3 + 1);
    return r;
}

static void test_update(void)
{
    store_update u, v;
    memset(&u, 0, sizeof u);
    snprintf(u.origin, sizeof u.origin, "kms1.0a0b0c0d");
    u.seq = 42;
    u.rec = sample_record(5);
    uint8_t buf[1024];
    int n = repl_encode_update(&u, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ_INT(repl_peek_type(buf, (size_t)n), REPL_MSG_UPDATE);
    CHECK_EQ_INT(repl_decode_update(buf, (size_t)n, &v), 0);
    CHECK(strcmp(v.origin, u.origin) == 0);
    CHECK_EQ_INT(v.seq, 42);
    CHECK_EQ_INT(v.rec.last_seen_ms, u.rec.last_seen_ms);
    CHECK(strcmp(v.rec.workstation, u.rec.workstation) == 0);
    /* Every truncation is refused, and so is a trailing byte. */
    for (int k = 0; k < n; k++) CHECK(repl_decode_update(buf, (size_t)k, &v) < 0);
    buf[n] = 0;
    CHECK_EQ_INT(repl_decode_update(buf, (size_t)n + 1, &v), KMS_EINVAL);
    /* Updates are written in version 1 (a node of the previous release reads them) and
     * read in versions 1 and 2; an unknown version is refused. */
    CHECK_EQ_INT(buf[2], 1);
    buf[2] = 2;
    CHECK_EQ_INT(repl_decode_update(buf, (size_t)n, &v), 0);
    buf[2] = REPL_MSG_VERSION + 1;
    CHECK_EQ_INT(repl_decode_update(buf, (size_t)n, &v), KMS_EVERSION);
    buf[2] = 0;
    CHECK_EQ_INT(repl_decode_update(buf, (size_t)n, &v), KMS_EVERSION);
    buf[2] = 1;
    buf[0] = 'X';
    CHECK_EQ_INT(repl_decode_update(buf, (size_t)n, &v), KMS_EPROTO);
    buf[0] = 'K';
    buf[3] = REPL_MSG_HEARTBEAT;
    CHECK(repl_decode_update(buf, (size_t)n, &v) < 0);
    CHECK(repl_encode_update(&u, buf, 10) == KMS_ESPACE);
    /* seq 0 is not a valid update */
    u.seq = 0;
    n = repl_encode_update(&u, buf, sizeof buf);
    CHECK_EQ_INT(repl_decode_update(buf, (size_t)n, &v), KMS_EINVAL);
}

static void test_heartbeat(void)
{
    repl_heartbeat hb, out;
    memset(&hb, 0, sizeof hb);
    snprintf(hb.node, sizeof hb.node, "kms2");
    hb.time_ms = 123456789;
    hb.last_update_ms = 123456000;
    for (int i = 0; i < 5; i++) {
        snprintf(hb.vv.e[i].origin, sizeof hb.vv.e[i].origin, "kms%d.%08x", i, i * 17);
        hb.vv.e[i].seq = (uint64_t)i * 1000 + 1;
    }
    hb.vv.n = 5;
    uint8_t buf[8192];
    int n = repl_encode_heartbeat(&hb, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ_INT(repl_decode_heartbeat(buf, (size_t)n, &out), 0);
    CHECK(strcmp(out.node, "kms2") == 0);
    CHECK_EQ_INT(out.vv.n, 5);
    CHECK_EQ_INT(store_vv_get(&out.vv, "kms3.00000033"), 3001);
    CHECK(out.origin[0] == 0); /* not chosen yet: empty */
    CHECK_EQ_INT(out.retired.n, 0);
    for (int k = 0; k < n; k++) CHECK(repl_decode_heartbeat(buf, (size_t)k, &out) < 0);
    /* Version 2: the sender's origin and the origins it retired. */
    snprintf(hb.origin, sizeof hb.origin, "kms2.0000abcd");
    store_vv_set(&hb.retired, "kms2.00000022", 77);
    store_vv_set(&hb.retired, "kms3.00000001", 5);
    hb.n_owed = 2;
    snprintf(hb.owed[0], sizeof hb.owed[0], "kms1");
    snprintf(hb.owed[1], sizeof hb.owed[1], "kms3");
    n = repl_encode_heartbeat(&hb, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ_INT(buf[2], 2);
    CHECK_EQ_INT(repl_decode_heartbeat(buf, (size_t)n, &out), 0);
    CHECK(strcmp(out.origin, "kms2.0000abcd") == 0);
    CHECK_EQ_INT(out.retired.n, 2);
    CHECK_EQ_INT(store_vv_get(&out.retired, "kms2.00000022"), 77);
    CHECK_EQ_INT(out.n_owed, 2);
    CHECK(strcmp(out.owed[1], "kms3") == 0);
    CHECK_EQ_INT(store_vv_get(&out.vv, "kms3.00000033"), 3001);
    for (int k = 0; k < n; k++) CHECK(repl_decode_heartbeat(buf, (size_t)k, &out) < 0);
    /* A version-1 heartbeat (the previous release's) is the same without them. */
    size_t v1_len = 4 + 1 + strlen("kms2") + 16 + 1;
    for (int i = 0; i < hb.vv.n; i++) v1_len += 1 + strlen(hb.vv.e[i].origin) + 8;
    buf[2] = 1;
    CHECK_EQ_INT(repl_decode_heartbeat(buf, v1_len, &out), 0);
    CHECK(out.origin[0] == 0);
    CHECK_EQ_INT(out.retired.n, 0);
    CHECK_EQ_INT(out.n_owed, 0);
    CHECK_EQ_INT(out.vv.n, 5);
    CHECK_EQ_INT(repl_decode_heartbeat(buf, (size_t)n, &out), KMS_EINVAL); /* v1 with v2's fields: trailing */
    /* An owed list longer than REPL_OWED_MAX is refused. */
    n = repl_encode_heartbeat(&hb, buf, sizeof buf);
    buf[n - 1 - 4 - 1 - 4 - 1] = REPL_OWED_MAX + 1;
    CHECK_EQ_INT(repl_decode_heartbeat(buf, (size_t)n, &out), KMS_ETOOBIG);
    memset(&hb.retired, 0, sizeof hb.retired);
    hb.n_owed = 0;
    hb.origin[0] = 0;
    /* A vector that repeats an origin is refused. */
    snprintf(hb.vv.e[1].origin, sizeof hb.vv.e[1].origin, "%s", hb.vv.e[0].origin);
    n = repl_encode_heartbeat(&hb, buf, sizeof buf);
    CHECK_EQ_INT(repl_decode_heartbeat(buf, (size_t)n, &out), KMS_EINVAL);
    /* A count the message does not hold is refused (the largest a byte says is the
     * maximum, STORE_VV_MAX). */
    CHECK_EQ_INT(STORE_VV_MAX, 255);
    hb.vv.n = 1;
    n = repl_encode_heartbeat(&hb, buf, sizeof buf);
    size_t count_at = 4 + 1 + strlen("kms2") + 16;
    buf[count_at] = STORE_VV_MAX;
    CHECK(repl_decode_heartbeat(buf, (size_t)n, &out) < 0);
    /* Empty node id. */
    buf[4] = 0;
    CHECK(repl_decode_heartbeat(buf, (size_t)n, &out) < 0);
}

static void test_sync(void)
{
    repl_sync_req rq, rq2;
    memset(&rq, 0, sizeof rq);
    snprintf(rq.node, sizeof rq.node, "kms3");
    rq.vv.n = 1;
    snprintf(rq.vv.e[0].origin, sizeof rq.vv.e[0].origin, "kms1.00000001");
    rq.vv.e[0].seq = 7;
    rq.snapshot = 1;
    rq.cursor_len = STORE_KEY_LEN;
    memset(rq.cursor, 0xab, STORE_KEY_LEN);
    rq.max = 100;
    uint8_t buf[4096];
    int n = repl_encode_sync_req(&rq, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ_INT(repl_decode_sync_req(buf, (size_t)n, &rq2), 0);
    CHECK_EQ_INT(rq2.max, 100);
    CHECK_EQ_INT(rq2.cursor_len, STORE_KEY_LEN);
    CHECK_MEM(rq2.cursor, rq.cursor, STORE_KEY_LEN);
    for (int k = 0; k < n; k++) CHECK(repl_decode_sync_req(buf, (size_t)k, &rq2) < 0);

    store_update *ups = calloc(REPL_BATCH_MAX, sizeof *ups);
    store_update *back = calloc(REPL_BATCH_MAX, sizeof *back);
    uint8_t *big = malloc(repl_sync_rep_max_len());
    for (int mode = 0; mode < 2; mode++) {
        repl_sync_rep rp, out;
        memset(&rp, 0, sizeof rp);
        memset(&out, 0, sizeof out);
        snprintf(rp.node, sizeof rp.node, "kms1");
        rp.mode = (uint8_t)mode;
        rp.more = mode == 0;
        rp.done = mode == 1;
        rp.n = REPL_BATCH_MAX;
        rp.updates = ups;
        for (int i = 0; i < REPL_BATCH_MAX; i++) {
            snprintf(ups[i].origin, sizeof ups[i].origin, "kms1.00000001");
            ups[i].seq = (uint64_t)i + 1;
            ups[i].rec = sample_record(i);
        }
        n = repl_encode_sync_rep(&rp, big, repl_sync_rep_max_len());
        CHECKF(n > 0, "mode %d: %d", mode, n);
        out.updates = back;
        CHECK_EQ_INT(repl_decode_sync_rep(big, (size_t)n, &out), 0);
        CHECK_EQ_INT(out.n, REPL_BATCH_MAX);
        CHECK_EQ_INT(out.mode, mode);
        CHECK_EQ_INT(back[100].rec.last_seen_ms, ups[100].rec.last_seen_ms);
        if (mode == 0) CHECK_EQ_INT(back[511].seq, 512);
        /* Truncations at a sample of places, and a count that lies. */
        for (int k = 0; k < n; k += 97) CHECK(repl_decode_sync_rep(big, (size_t)k, &out) < 0);
        CHECK(repl_decode_sync_rep(big, (size_t)n - 1, &out) < 0);
    }
    free(ups);
    free(back);
    free(big);
}

int main(void)
{
    test_update();
    test_heartbeat();
    test_sync();
    return tu_finish();
}
