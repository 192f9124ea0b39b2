/* dns_probe.c: before a peer's records are withdrawn, its KMS port is probed (a DCE/RPC
 * bind only: nothing is counted): a peer that is silent on replication but answers KMS
 * keeps its records. */
#include "node/dns_internal.h"

#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "node/log.h"
#include "proto/rpc.h"
#include "proto/clock.h"

static void probe_finish(probe *pr, int result, const char *why)
{
    dns *d = pr->d;
    peer_state *p = &d->peers[pr->peer];
    if (pr->bev) bufferevent_free(pr->bev);
    p->probe = NULL;
    p->probe_result = result;
    p->probe_done_ms = clock_mono_ms();
    if (result == PROBE_UP) {
        if (!p->logged_up)
            log_warnx("dns: peer %s is silent on replication but its KMS port %s:%u answers a bind: keeping its "
                      "records (replication ports blocked?)", p->cfg.id, p->cfg.kms.host, p->cfg.kms.port);
        p->logged_up = true;
    } else {
        log_info("dns: peer %s: its KMS port %s:%u does not answer (%s)", p->cfg.id, p->cfg.kms.host,
                 p->cfg.kms.port, why);
        d->again = true; /* withdraw it now */
        struct timeval now = {0, 0};
        evtimer_add(d->kick, &now);
    }
    free(pr);
}

static void probe_read_cb(struct bufferevent *bev, void *arg)
{
    probe *pr = arg;
    pr->n_got += bufferevent_read(bev, pr->got + pr->n_got, sizeof pr->got - pr->n_got);
    if (pr->n_got < sizeof pr->got) return;
    /* A DCE/RPC header: version 5.0, bind_ack or bind_nak: a KMS host is there. */
    bool rpc = pr->got[0] == 5 && pr->got[1] == 0 && (pr->got[2] == RPC_PT_BIND_ACK || pr->got[2] == RPC_PT_BIND_NAK);
    probe_finish(pr, rpc ? PROBE_UP : PROBE_DOWN, rpc ? "" : "not a DCE/RPC bind answer");
}

static void probe_event_cb(struct bufferevent *bev, short what, void *arg)
{
    probe *pr = arg;
    if (what & BEV_EVENT_CONNECTED) {
        uint8_t pdu[256];
        rpc_bind_offer offer = {.ndr32 = true};
        int n = rpc_client_encode_bind(RPC_PT_BIND, 1, &offer, pdu, sizeof pdu);
        if (n < 0 || bufferevent_write(bev, pdu, (size_t)n) != 0) probe_finish(pr, PROBE_DOWN, "cannot send a bind");
        return;
    }
    const char *why = (what & BEV_EVENT_TIMEOUT) ? "no answer within timeout_ms"
                    : (what & BEV_EVENT_EOF) ? "closed without answering"
                    : "connection refused or unreachable";
    probe_finish(pr, PROBE_DOWN, why);
}

/* Connects to peer i's KMS port and sends a bind (no request: nothing is stored or
 * counted); bounded by timeout_ms, on the event loop. */
void dns_start_probe(dns *d, int i)
{
    peer_state *p = &d->peers[i];
    if (p->probe) return;
    if (!p->kms_salen) { /* unresolvable: cannot prove it dead */
        if (!p->logged_up) log_warnx("dns: peer %s: kms address %s cannot be probed (not resolved at start): keeping its records",
                                     p->cfg.id, p->cfg.kms.host);
        p->logged_up = true;
        p->probe_result = PROBE_UP;
        p->probe_done_ms = clock_mono_ms();
        return;
    }
    probe *pr = calloc(1, sizeof *pr);
    if (!pr) return;
    pr->d = d;
    pr->peer = i;
    pr->bev = bufferevent_socket_new(d->env.base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!pr->bev) { free(pr); return; }
    p->probe = pr;
    bufferevent_setcb(pr->bev, probe_read_cb, NULL, probe_event_cb, pr);
    struct timeval tv = {d->env.cfg->dns_timeout_ms / 1000, (d->env.cfg->dns_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(pr->bev, &tv, &tv);
    bufferevent_enable(pr->bev, EV_READ);
    if (bufferevent_socket_connect(pr->bev, (struct sockaddr *)&p->kms_sa, p->kms_salen) != 0)
        probe_finish(pr, PROBE_DOWN, "connect failed");
}

void dns_cancel_probe(peer_state *p)
{
    if (!p->probe) return;
    bufferevent_free(p->probe->bev);
    free(p->probe);
    p->probe = NULL;
}

/* May this node withdraw dead peer i now? It must be the lowest live node, see a majority,
 * and the peer's KMS port must have failed the probe. */
bool dns_may_withdraw(const dns *d, int i)
{
    const peer_state *p = &d->peers[i];
    return dns_lowest_live(d) && dns_sees_majority(d, NULL) && !p->withdrawn && dns_dead_long_enough(d, i) &&
           p->probe_result == PROBE_DOWN;
}
