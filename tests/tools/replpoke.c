/* replpoke.c: test tool that speaks raw ZeroMQ to a node's replication sockets, to check
 * how it handles malformed messages (tests/integration/test_cluster.py).
 *   replpoke pub ENDPOINT WAIT_MS HEX...     bind a PUB, wait for subscribers, send frames
 *   replpoke dealer ENDPOINT WAIT_MS HEX...  connect a DEALER, send frames, print replies
 * A HEX argument of "-" sends an empty frame. Exit 0 when everything was sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

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

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: replpoke pub|dealer ENDPOINT WAIT_MS HEX...\n");
        return 2;
    }
    int dealer = strcmp(argv[1], "dealer") == 0;
    int wait_ms = atoi(argv[3]);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, dealer ? ZMQ_DEALER : ZMQ_PUB);
    int linger = 1000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if ((dealer ? zmq_connect(s, argv[2]) : zmq_bind(s, argv[2])) != 0) {
        fprintf(stderr, "replpoke: %s: %s\n", argv[2], zmq_strerror(zmq_errno()));
        return 1;
    }
    usleep((useconds_t)wait_ms * 1000); /* subscribers connect / the connection comes up */
    static unsigned char buf[1 << 16];
    for (int i = 4; i < argc; i++) {
        size_t n = strcmp(argv[i], "-") == 0 ? 0 : unhex(argv[i], buf, sizeof buf);
        if (zmq_send(s, buf, n, 0) < 0) {
            fprintf(stderr, "replpoke: send: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
    }
    if (dealer) {
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
