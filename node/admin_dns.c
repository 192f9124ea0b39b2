/* admin_dns.c: GET /dns, POST /drain, POST /undrain on the admin address (admin_dns.h). The
 * check is asynchronous (c-ares look-ups on the loop): the request is answered when they
 * are done. A client that leaves meanwhile gets nothing; libevent keeps its request until
 * the reply, which then frees it. */
#include "node/admin_dns.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "node/dns.h"
#include "proto/errors.h"

typedef struct pending {
    admin_dns *owner;
    struct evhttp_request *req;
    dns_check *check;
    struct pending *next;
} pending;

struct admin_dns {
    node *n;
    pending *pending;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  struct evbuffer *b)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, b);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add_printf(b, "%s\n", text);
    reply(req, code, reason, "text/plain", b);
    if (b) evbuffer_free(b);
}

bool admin_get_only(struct evhttp_request *req)
{
    enum evhttp_cmd_type t = evhttp_request_get_command(req);
    if (t == EVHTTP_REQ_GET || t == EVHTTP_REQ_HEAD) return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    reply_text(req, 405, "Method Not Allowed", "only GET and HEAD here (POST: /drain, /undrain)");
    return false;
}

static void unlink_pending(admin_dns *a, pending *p)
{
    for (pending **pp = &a->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) { *pp = p->next; return; }
}

static void check_done(void *arg, bool ok, const char *json, size_t len)
{
    pending *p = arg;
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add(b, json, len);
    (void)ok; /* the JSON says it; the HTTP status says the check ran */
    reply(p->req, 200, "OK", "application/json", b);
    if (b) evbuffer_free(b);
    if (p->owner) unlink_pending(p->owner, p);
    free(p);
}

static void dns_cb(struct evhttp_request *req, void *arg)
{
    admin_dns *a = arg;
    if (!admin_get_only(req)) return;
    pending *p = calloc(1, sizeof *p);
    if (!p) { reply_text(req, 500, "Internal Server Error", "out of memory"); return; }
    p->req = req;
    int rc = dns_check_start(a->n->dns, check_done, p, &p->check);
    if (rc == 1) return; /* answered already (publishing off); p is freed */
    if (rc < 0) {
        free(p);
        reply_text(req, 500, "Internal Server Error", kms_strerror(rc));
        return;
    }
    p->owner = a;
    p->next = a->pending;
    a->pending = p;
}

static void set_drain(admin_dns *a, struct evhttp_request *req, bool drained)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        reply_text(req, 405, "Method Not Allowed", drained ? "POST /drain" : "POST /undrain");
        return;
    }
    node *n = a->n;
    if (dns_set_drained(n->dns, drained) != 0) {
        reply_text(req, 500, "Internal Server Error", "cannot write or remove DATA_DIR/drained");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (b) {
        /* node ids are [A-Za-z0-9._-]: no escaping needed */
        evbuffer_add_printf(b, "{\"node\":\"%s\",\"drained\":%s,\"dns\":\"%s\"}\n", n->cfg.node_id,
                            drained ? "true" : "false",
                            !n->cfg.dns_server[0] ? "off" : drained ? "withdrawing" : "publishing");
    }
    reply(req, 200, "OK", "application/json", b);
    if (b) evbuffer_free(b);
}

static void drain_cb(struct evhttp_request *req, void *arg) { set_drain(arg, req, true); }
static void undrain_cb(struct evhttp_request *req, void *arg) { set_drain(arg, req, false); }

admin_dns *admin_dns_new(node *n, admin_gate *gate)
{
    admin_dns *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->n = n;
    /* /dns sends DNS queries on behalf of the caller: the token too, like the changes */
    admin_gate_route(gate, "/dns", dns_cb, a, ADMIN_TOKEN);
    admin_gate_route(gate, "/drain", drain_cb, a, ADMIN_TOKEN);
    admin_gate_route(gate, "/undrain", undrain_cb, a, ADMIN_TOKEN);
    return a;
}

void admin_dns_free(admin_dns **self_p)
{
    if (!self_p || !*self_p) return;
    admin_dns *a = *self_p;
    for (pending *p = a->pending, *next; p; p = next) {
        next = p->next;
        dns_check_cancel(&p->check);
        free(p);
    }
    free(a);
    *self_p = NULL;
}
