/* replpoke.c: test tool that speaks raw ZeroMQ to a node's replication sockets, as a peer
 * or as a stranger (tests/integration/test_cluster.py, test_hostile.py).
 *   replpoke [KEYS] pub ENDPOINT WAIT_MS HEX...     bind a PUB, wait for subscribers, send frames
 *   replpoke [KEYS] dealer ENDPOINT WAIT_MS HEX...  connect a DEALER, send frames, print replies
 *   replpoke [KEYS] flood ENDPOINT WAIT_MS COUNT HEX  connect a DEALER, send HEX COUNT times
 *                                                   and never read; print how many were sent
 *   replpoke update ORIGIN SEQ N LAST_SEEN_MS        print (hex) a live update of a Windows
 *                                                   client record with test CMID number N
 *   replpoke syncreq NODE                            print (hex) a catch-up request for a
 *                                                   whole snapshot (512 records a page)
 * KEYS: --key FILE (a CURVE secret key file: the PUB is a CURVE server with it, the DEALER
 * a CURVE client with it), --server-key Z85 (the DEALER's server: the node's public key;
 * without --key the DEALER makes a key pair of its own, a stranger's). No KEYS: plain
 * ZeroMQ. A HEX argument of "-" sends an empty frame. Exit 0 when everything was sent, 3
 * when the DEALER never got a connection to send on (the node refused the handshake). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "replication/keys.h"
#include "replication/msg.h"

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    if (n > cap) n = cap;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) return i;
        out[i] = (unsigned char)v;
    }
    return n;
}

static int print_update(char **argv)
{
    store_update u;
    memset(&u, 0, sizeof u);
    snprintf(u.origin, sizeof u.origin, "%s", argv[0]);
    u.seq = strtoull(argv[1], NULL, 10);
    unsigned long long n = strtoull(argv[2], NULL, 10);
    /* the CMID of harness.cmid(n): 7e57xxxx-0000-4000-8000-NNNNNNNNNNNN, wire order */
    uint32_t d1 = 0x7e570000u + (uint32_t)(n >> 48);
    u.rec.cmid[0] = (uint8_t)d1, u.rec.cmid[1] = (uint8_t)(d1 >> 8), u.rec.cmid[2] = (uint8_t)(d1 >> 16),
    u.rec.cmid[3] = (uint8_t)(d1 >> 24);
    u.rec.cmid[6] = 0x00, u.rec.cmid[7] = 0x40, u.rec.cmid[8] = 0x80;
    for (int i = 0; i < 6; i++) u.rec.cmid[10 + i] = (uint8_t)(n >> (8 * (5 - i)));
    u.rec.app = 0;
    u.rec.last_seen_ms = u.rec.first_seen_ms = strtoll(argv[3], NULL, 10);
    u.rec.license_status = 1;
    u.rec.n_policy = 25;
    u.rec.protocol = 6;
    snprintf(u.rec.workstation, sizeof u.rec.workstation, "planted");
    snprintf(u.rec.address, sizeof u.rec.address, "192.0.2.1");
    snprintf(u.rec.node, sizeof u.rec.node, "%.*s", (int)strcspn(u.origin, "."), u.origin);
    static uint8_t buf[4096];
    int len = repl_encode_update(&u, buf, sizeof buf);
    if (len < 0) { fprintf(stderr, "replpoke: cannot encode the update\n"); return 1; }
    for (int i = 0; i < len; i++) printf("%02x", buf[i]);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *key_file = NULL, *server_key = NULL;
    int a = 1;
    while (a + 1 < argc && argv[a][0] == '-' && argv[a][1] == '-') {
        if (!strcmp(argv[a], "--key")) key_file = argv[a + 1];
        else if (!strcmp(argv[a], "--server-key")) server_key = argv[a + 1];
        else break;
        a += 2;
    }
    if (argc - a == 5 && !strcmp(argv[a], "update")) return print_update(argv + a + 1);
    if (argc - a == 2 && !strcmp(argv[a], "syncreq")) {
        repl_sync_req rq;
        memset(&rq, 0, sizeof rq);
        snprintf(rq.node, sizeof rq.node, "%s", argv[a + 1]);
        rq.snapshot = 1;
        rq.max = REPL_BATCH_MAX;
        static uint8_t buf[8192];
        int len = repl_encode_sync_req(&rq, buf, sizeof buf);
        if (len < 0) return 1;
        for (int i = 0; i < len; i++) printf("%02x", buf[i]);
        printf("\n");
        return 0;
    }
    if (argc - a < 3) {
        fprintf(stderr, "usage: replpoke [--key FILE] [--server-key Z85] pub|dealer|flood ENDPOINT WAIT_MS ...\n"
                        "       replpoke update ORIGIN SEQ N LAST_SEEN_MS | syncreq NODE\n");
        return 2;
    }
    const char *mode = argv[a], *endpoint = argv[a + 1];
    int wait_ms = atoi(argv[a + 2]);
    int first = a + 3;
    int dealer = strcmp(mode, "pub") != 0, flood = strcmp(mode, "flood") == 0;
    long count = 1;
    if (flood) {
        if (argc - first != 2) { fprintf(stderr, "replpoke: flood ENDPOINT WAIT_MS COUNT HEX\n"); return 2; }
        count = atol(argv[first++]);
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, dealer ? ZMQ_DEALER : ZMQ_PUB);
    int linger = 0, hwm = 0; /* no limit of our own: the node's limits are under test */
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (dealer) { /* send only over a connection whose handshake succeeded */
        int one = 1;
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    }
    if (flood) { /* really not reading: no queue of our own to take the node's replies */
        int one = 1, small = 4096;
        zmq_setsockopt(s, ZMQ_RCVHWM, &one, sizeof one);
        zmq_setsockopt(s, ZMQ_RCVBUF, &small, sizeof small);
    }
    char sec[41] = "", pub[41] = "";
    if (key_file && repl_read_key_file(key_file, sec) != 0) {
        fprintf(stderr, "replpoke: %s: no CURVE key\n", key_file);
        return 1;
    }
    if (!dealer && key_file) {
        int one = 1;
        zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    } else if (dealer && server_key) {
        if (key_file) zmq_curve_public(pub, sec);
        else zmq_curve_keypair(pub, sec);
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    }
    if ((dealer ? zmq_connect(s, endpoint) : zmq_bind(s, endpoint)) != 0) {
        fprintf(stderr, "replpoke: %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    usleep((useconds_t)wait_ms * 1000); /* subscribers connect / the connection comes up */
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &wait_ms, sizeof wait_ms); /* a DEALER never connected */
    static unsigned char buf[1 << 16];
    long sent = 0;
    for (int i = first; i < argc; i++) {
        size_t n = strcmp(argv[i], "-") == 0 ? 0 : unhex(argv[i], buf, sizeof buf);
        for (long k = 0; k < count; k++) {
            /* a DEALER with no live connection would block: count what was queued */
            if (zmq_send(s, buf, n, flood ? ZMQ_DONTWAIT : 0) < 0) {
                if (flood) break;
                fprintf(stderr, "replpoke: send: %s\n", zmq_strerror(zmq_errno()));
                return zmq_errno() == EAGAIN ? 3 : 1;
            }
            sent++;
        }
    }
    if (flood) {
        printf("%ld\n", sent);
        fflush(stdout);
        usleep((useconds_t)wait_ms * 1000); /* stay connected, reading nothing */
    } else if (dealer) {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        while (zmq_poll(&it, 1, wait_ms) > 0) {
            int n = zmq_recv(s, buf, sizeof buf, 0);
            if (n < 0) break;
            for (int i = 0; i < n && i < (int)sizeof buf; i++) printf("%02x", buf[i]);
            printf("\n");
        }
    } else {
        usleep((useconds_t)wait_ms * 1000);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
