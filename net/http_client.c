/*
 * The HTTP client (net/http_client.h): requests queue here until a connection can carry them.
 *
 * Routing: an HTTP/2 connection takes every request up to the peer's stream limit; an HTTP/1.1
 * connection takes one at a time and goes back to the idle pool after a keep-alive response. A
 * connection's protocol is known only after its TLS handshake (ALPN), so while the first one is
 * connecting no second is opened; once the origin has answered in HTTP/1.1 (h1_seen), up to
 * max_connections connect in parallel. The alternative, connecting max_connections at once, wastes
 * handshakes on an HTTP/2 server, which is the common case (the Kubernetes API server).
 *
 * Ownership: a call is on the client's queue (QUEUED) or bound to a connection (ACTIVE); it is
 * freed right after its on_done, or at cancel when queued. A cancelled ACTIVE call stays bound
 * with no callbacks until its stream or connection lets go of it.
 *
 * INVARIANTS
 *  H1 a QUEUED call is on c->queue and has no connection; an ACTIVE call has one (hc) and is
 *     either hc->cur (HTTP/1.1) or the user of exactly one open h2 stream of hc
 *  H2 an HTTP/1.1 connection carries at most one call (cur); idle ⇔ ready && !cur && !closing
 *  H3 c->nconns == length of c->conns; c->queued == length of c->queue
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "net/http_client.h"

enum { CALL_QUEUED = 1, CALL_ACTIVE = 2 };

typedef struct hconn hconn_t;

struct net_http_call {
    net_http_client_t *c;
    net_http_call_cbs_t cbs;
    void *ud;
    int state;
    bool cancelled;
    bool got_head, ended;
    int err; /* sticky failure to report (timeout) */
    char *method, *path;
    net_h2_header_t *headers;
    size_t nheaders;
    uint8_t *body;
    size_t body_len;
    uv_timer_t *timer;
    hconn_t *hc;
    net_h2_stream_t *st;
    net_http_call_t *next; /* queue link */
};

struct hconn {
    net_http_client_t *c;
    net_conn_t *conn;
    bool ready, h2, closing;
    net_h1_parser_t *p; /* HTTP/1.1 */
    net_http_call_t *cur;
    size_t streams;
    hconn_t *next;
};

struct net_http_client {
    uv_loop_t *loop;
    net_http_client_config_t cfg;
    char *host, *server_name, *authority;
    hconn_t *conns;
    size_t nconns;
    net_http_call_t *queue, **queue_tail;
    size_t queued;
    bool h1_seen, last_h2, closing;
    void (*on_closed)(void *);
    void *closed_ud;
    uint64_t requests, completed, failed, connects;
    size_t in_flight;
};

static void dispatch(net_http_client_t *c);

void net_http_client_config_default(net_http_client_config_t *c)
{
    memset(c, 0, sizeof(*c));
    net_conn_config_default(&c->conn, false);
    c->max_connections = 4;
    c->max_queued = 4096;
}

int net_http_client_h1_head(net_h1_buf_t *b, const net_http_client_request_t *req,
                            const char *authority)
{
    if (!req || !req->method || !req->path || !authority)
        return NET_EINVAL;
    size_t n = req->nheaders + 2;
    net_h2_header_t *h = calloc(n, sizeof(*h));
    if (!h)
        return NET_ENOMEM;
    size_t k = 0;
    h[k++] = NET_H2_HDR("host", authority);
    char clen[32];
    if (req->body_len || (req->body && strcmp(req->method, "GET") != 0)) {
        snprintf(clen, sizeof(clen), "%zu", req->body_len);
        h[k++] = NET_H2_HDR("content-length", clen);
    }
    for (size_t i = 0; i < req->nheaders; i++)
        h[k++] = req->headers[i];
    int rc = net_h1_request_write(b, req->method, req->path, h, k);
    free(h);
    return rc;
}

/* ---- calls ----------------------------------------------------------------------------------- */

static void call_free(net_http_call_t *call)
{
    net__timer_discard(call->timer);
    free(call->method);
    free(call->path);
    free(call->headers);
    free(call->body);
    free(call);
}

/* Ends |call| (unbound from everything by the caller) with |err| and frees it. */
static void call_finish(net_http_call_t *call, int err)
{
    net_http_client_t *c = call->c;
    if (call->err)
        err = call->err;
    if (call->state == CALL_ACTIVE && c->in_flight)
        c->in_flight--;
    call->state = 0;
    if (!call->cancelled) {
        if (err == NET_OK)
            c->completed++;
        else
            c->failed++;
        call->cbs.on_done(call->ud, err);
    }
    call_free(call);
}

static void queue_remove(net_http_client_t *c, net_http_call_t *call)
{
    for (net_http_call_t **pp = &c->queue; *pp; pp = &(*pp)->next) {
        if (*pp == call) {
            *pp = call->next;
            if (c->queue_tail == &call->next)
                c->queue_tail = pp;
            call->next = NULL;
            c->queued--;
            return;
        }
    }
}

static void on_timeout(uv_timer_t *t)
{
    net_http_call_t *call = t->data;
    if (!call)
        return;
    call->err = NET_ETIMEDOUT;
    if (call->state == CALL_QUEUED) {
        queue_remove(call->c, call);
        call_finish(call, NET_ETIMEDOUT);
    } else if (call->st) {
        net_h2_stream_reset(call->st, 0x8);
        if (call->hc)
            net_conn_flush(call->hc->conn);
    } else if (call->hc) {
        net_conn_close(call->hc->conn, false);
    }
}

/* ---- HTTP/2 streams ------------------------------------------------------------------------- */

static void s_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)s;
    (void)ud;
    net_http_call_t *call = net_h2_stream_user(st);
    if (!call || kind != NET_H2_RESPONSE || call->got_head)
        return;
    call->got_head = true;
    const net_h2_header_t *st_h = net_h2_header_find(h, n, ":status");
    int status = st_h ? atoi(st_h->value) : 0;
    size_t skip = 0;
    while (skip < n && h[skip].name[0] == ':')
        skip++;
    if (!call->cancelled && call->cbs.on_head)
        call->cbs.on_head(call->ud, status, h + skip, n - skip);
}

static void s_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *d, size_t len, void *ud)
{
    (void)s;
    (void)ud;
    net_http_call_t *call = net_h2_stream_user(st);
    if (call && !call->cancelled && call->cbs.on_data)
        call->cbs.on_data(call->ud, d, len);
}

static void s_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    net_http_call_t *call = net_h2_stream_user(st);
    if (call)
        call->ended = true;
}

static void s_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)ud;
    net_http_call_t *call = net_h2_stream_user(st);
    hconn_t *hc = net_conn_user(net_conn_from_session(s));
    if (hc && hc->streams)
        hc->streams--;
    if (!call)
        return;
    net_h2_stream_set_user(st, NULL);
    call->st = NULL;
    call->hc = NULL;
    call_finish(call, call->ended && call->got_head && code == 0 ? NET_OK
                      : call->c->closing                         ? NET_ECLOSED
                                                                 : NET_EIO);
    if (hc && !hc->closing)
        dispatch(hc->c);
}

static void s_goaway(net_h2_session_t *s, uint32_t last, uint32_t code, void *ud)
{
    (void)last;
    (void)code;
    (void)ud;
    hconn_t *hc = net_conn_user(net_conn_from_session(s));
    if (hc)
        hc->closing = true; /* no new streams; the running ones finish */
}

static const net_h2_callbacks_t h2_cbs = {
    .on_headers = s_headers,
    .on_data = s_data,
    .on_end = s_end,
    .on_close = s_close,
    .on_goaway = s_goaway,
};

static int start_h2(hconn_t *hc, net_http_call_t *call)
{
    net_http_client_t *c = hc->c;
    size_t n = call->nheaders + 4;
    net_h2_header_t *h = calloc(n, sizeof(*h));
    if (!h)
        return NET_ENOMEM;
    size_t k = 0;
    h[k++] = NET_H2_HDR(":method", call->method);
    h[k++] = NET_H2_HDR(":scheme", c->cfg.tls ? "https" : "http");
    h[k++] = NET_H2_HDR(":authority", c->authority);
    h[k++] = NET_H2_HDR(":path", call->path);
    for (size_t i = 0; i < call->nheaders; i++)
        h[k++] = call->headers[i];
    net_h2_stream_t *st = NULL;
    int rc =
        net_h2_session_request(net_conn_session(hc->conn), h, k, call->body_len == 0, call, &st);
    free(h);
    if (rc != NET_OK)
        return rc;
    call->st = st;
    if (call->body_len) {
        rc = net_h2_stream_write(st, call->body, call->body_len);
        if (rc == NET_OK)
            rc = net_h2_stream_end(st, NULL, 0);
        if (rc != NET_OK)
            net_h2_stream_reset(st, 0x2);
    }
    hc->streams++;
    net_conn_flush(hc->conn);
    return NET_OK;
}

/* ---- HTTP/1.1 connections ------------------------------------------------------------------- */

static void h1_done(hconn_t *hc, int err, bool reusable)
{
    net_http_call_t *call = hc->cur;
    hc->cur = NULL;
    if (!reusable || err != NET_OK) {
        hc->closing = true;
        net_conn_close(hc->conn, false);
    }
    if (call) {
        call->hc = NULL;
        call_finish(call, err);
    }
    if (!hc->c->closing)
        dispatch(hc->c);
}

static void r_read(net_conn_t *conn, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    hconn_t *hc = net_conn_user(conn);
    if (!hc || hc->closing)
        return;
    while (hc->cur && !hc->closing) {
        net_http_call_t *call = hc->cur;
        net_h1_event_t ev;
        size_t used = net_h1_parser_feed(hc->p, data, len, &ev);
        data += used;
        len -= used;
        if (ev.kind == NET_H1_EV_NEED_MORE) {
            return;
        } else if (ev.kind == NET_H1_EV_HEAD) {
            const net_h1_message_t *m = net_h1_parser_message(hc->p);
            if (m->status < 200)
                continue; /* 1xx: the final response follows */
            call->got_head = true;
            if (!call->cancelled && call->cbs.on_head)
                call->cbs.on_head(call->ud, m->status, m->headers, m->nheaders);
        } else if (ev.kind == NET_H1_EV_BODY) {
            if (!call->cancelled && call->cbs.on_data)
                call->cbs.on_data(call->ud, ev.data, ev.len);
        } else if (ev.kind == NET_H1_EV_END) {
            const net_h1_message_t *m = net_h1_parser_message(hc->p);
            if (!call->got_head)
                continue; /* the end of a 1xx */
            h1_done(hc, NET_OK, m->keep_alive && len == 0);
            return;
        } else {
            h1_done(hc, ev.kind == NET_H1_EV_ERROR ? NET_EPROTO : NET_EIO, false);
            return;
        }
    }
    /* bytes with no request outstanding: the server is confused; drop the connection */
    if (len && !hc->closing) {
        hc->closing = true;
        net_conn_close(conn, false);
    }
}

static void r_eof(net_conn_t *conn, void *ud)
{
    (void)ud;
    hconn_t *hc = net_conn_user(conn);
    if (hc && hc->cur && !hc->closing) {
        net_h1_event_t ev;
        net_h1_parser_finish(hc->p, &ev);
        if (ev.kind == NET_H1_EV_END && hc->cur->got_head)
            h1_done(hc, NET_OK, false); /* a body delimited by the close */
        else
            h1_done(hc, NET_EIO, false);
    }
    if (hc)
        hc->closing = true;
    net_conn_end(conn);
}

static int start_h1(hconn_t *hc, net_http_call_t *call)
{
    net_h1_buf_t b = {0};
    net_http_client_request_t req = {.method = call->method,
                                     .path = call->path,
                                     .headers = call->headers,
                                     .nheaders = call->nheaders,
                                     .body = call->body,
                                     .body_len = call->body_len};
    int rc = net_http_client_h1_head(&b, &req, hc->c->authority);
    if (rc == NET_OK && call->body_len)
        rc = net_h1_buf_append(&b, call->body, call->body_len);
    if (rc == NET_OK)
        rc = net_conn_write(hc->conn, b.data, b.len);
    net_h1_buf_dispose(&b);
    if (rc != NET_OK)
        return rc;
    net_h1_parser_set_method(hc->p, call->method);
    hc->cur = call;
    return NET_OK;
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_unlink(hconn_t *hc)
{
    net_http_client_t *c = hc->c;
    for (hconn_t **pp = &c->conns; *pp; pp = &(*pp)->next) {
        if (*pp == hc) {
            *pp = hc->next;
            c->nconns--;
            return;
        }
    }
}

static void fail_queue(net_http_client_t *c, int err)
{
    while (c->queue) {
        net_http_call_t *call = c->queue;
        queue_remove(c, call);
        call_finish(call, err);
    }
}

static void on_connect(net_conn_t *conn, int status, void *ud)
{
    (void)ud;
    hconn_t *hc = net_conn_user(conn);
    if (!hc)
        return;
    net_http_client_t *c = hc->c;
    if (status != NET_OK) {
        hc->closing = true;
        /* Nothing else is going to carry the queue soon: report the failure now, as a request
         * that cannot connect should fail rather than hang. */
        bool other = false; /* another connection that could take a queued request */
        for (hconn_t *o = c->conns; o; o = o->next)
            other |= o != hc && !o->closing && (!o->ready || o->h2 || !o->cur);
        if (!other)
            fail_queue(c, status == NET_ETIMEDOUT ? NET_ETIMEDOUT : NET_EIO);
        return;
    }
    hc->ready = true;
    hc->h2 = net_conn_session(conn) != NULL;
    c->last_h2 = hc->h2;
    if (!hc->h2) {
        c->h1_seen = true;
        int err = 0;
        hc->p = net_h1_parser_new(false, NULL, &err);
        if (!hc->p) {
            hc->closing = true;
            net_conn_close(conn, false);
            return;
        }
    }
    dispatch(c);
}

static void maybe_closed(net_http_client_t *c)
{
    if (c->closing && c->nconns == 0) {
        void (*cb)(void *) = c->on_closed;
        void *ud = c->closed_ud;
        c->on_closed = NULL;
        free(c->host);
        free(c->server_name);
        free(c->authority);
        net_tls_ctx_release(c->cfg.tls);
        free(c);
        if (cb)
            cb(ud);
    }
}

static void on_conn_close(net_conn_t *conn, int status, void *ud)
{
    (void)ud;
    hconn_t *hc = net_conn_user(conn);
    if (!hc)
        return;
    net_http_client_t *c = hc->c;
    net_conn_set_user(conn, NULL);
    conn_unlink(hc);
    net_http_call_t *call = hc->cur;
    hc->cur = NULL;
    net_h1_parser_free(hc->p);
    free(hc);
    if (call) {
        call->hc = NULL;
        call_finish(call, c->closing                ? NET_ECLOSED
                          : status == NET_ETIMEDOUT ? NET_ETIMEDOUT
                                                    : NET_EIO);
    }
    if (c->closing)
        maybe_closed(c);
    else
        dispatch(c);
}

static hconn_t *conn_new(net_http_client_t *c)
{
    hconn_t *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return NULL;
    hc->c = c;
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = c->host;
    cc.port = c->cfg.port;
    cc.tls = c->cfg.tls;
    cc.server_name = c->server_name;
    cc.conn = c->cfg.conn;
    cc.cb = h2_cbs;
    cc.ud = c;
    cc.on_connect = on_connect;
    cc.on_close = on_conn_close;
    cc.raw.on_read = r_read;
    cc.raw.on_eof = r_eof;
    cc.raw.on_close = NULL;
    int err = 0;
    hc->conn = net_client_connect(c->loop, &cc, &err);
    if (!hc->conn) {
        free(hc);
        return NULL;
    }
    net_conn_set_user(hc->conn, hc);
    hc->next = c->conns;
    c->conns = hc;
    c->nconns++;
    c->connects++;
    return hc;
}

/* Moves queued calls onto connections, opening connections as allowed. */
static void dispatch(net_http_client_t *c)
{
    while (c->queue && !c->closing) {
        net_http_call_t *call = c->queue;
        hconn_t *use = NULL;
        size_t connecting = 0;
        for (hconn_t *hc = c->conns; hc; hc = hc->next) {
            if (hc->closing)
                continue;
            if (!hc->ready) {
                connecting++;
                continue;
            }
            if (hc->h2 ? hc->streams < net_h2_session_peer_max_streams(net_conn_session(hc->conn))
                       : hc->cur == NULL) {
                use = hc;
                break;
            }
        }
        if (!use) {
            bool may = c->nconns < c->cfg.max_connections &&
                       (connecting == 0 || (c->h1_seen && connecting < c->queued));
            if (!may || !conn_new(c)) {
                if (c->nconns == 0)
                    fail_queue(c, NET_EIO);
                return;
            }
            continue;
        }
        queue_remove(c, call);
        call->state = CALL_ACTIVE;
        call->hc = use;
        c->in_flight++;
        int rc = use->h2 ? start_h2(use, call) : start_h1(use, call);
        if (rc != NET_OK) {
            call->hc = NULL;
            call_finish(call, rc == NET_ENOMEM ? NET_ENOMEM : NET_EIO);
        }
    }
}

/* ---- public --------------------------------------------------------------------------------- */

net_http_client_t *net_http_client_new(uv_loop_t *loop, const net_http_client_config_t *cfg,
                                       int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!loop || !cfg || !cfg->host || !cfg->port) {
        *err = NET_EINVAL;
        return NULL;
    }
    net_http_client_t *c = calloc(1, sizeof(*c));
    if (!c) {
        *err = NET_ENOMEM;
        return NULL;
    }
    c->loop = loop;
    c->cfg = *cfg;
    if (!c->cfg.max_connections)
        c->cfg.max_connections = 4;
    if (!c->cfg.max_queued)
        c->cfg.max_queued = 4096;
    c->queue_tail = &c->queue;
    c->host = strdup(cfg->host);
    c->server_name = cfg->server_name ? strdup(cfg->server_name) : NULL;
    bool v6 = strchr(cfg->host, ':') != NULL;
    size_t alen = strlen(cfg->host) + 16;
    c->authority = malloc(alen);
    if (c->authority) {
        if (cfg->authority)
            snprintf(c->authority, alen, "%s", cfg->authority);
        else
            snprintf(c->authority, alen, v6 ? "[%s]:%u" : "%s:%u", cfg->host, cfg->port);
        if (cfg->authority && strlen(cfg->authority) >= alen) {
            free(c->authority);
            c->authority = strdup(cfg->authority);
        }
    }
    if (!c->host || !c->authority || (cfg->server_name && !c->server_name)) {
        free(c->host);
        free(c->server_name);
        free(c->authority);
        free(c);
        *err = NET_ENOMEM;
        return NULL;
    }
    if (cfg->tls)
        net_tls_ctx_retain(cfg->tls);
    *err = NET_OK;
    return c;
}

int net_http_client_request(net_http_client_t *c, const net_http_client_request_t *req,
                            const net_http_call_cbs_t *cbs, void *ud, net_http_call_t **out)
{
    if (!c || !req || !req->method || !req->path || !cbs || !cbs->on_done ||
        (req->nheaders && !req->headers) || (req->body_len && !req->body))
        return NET_EINVAL;
    if (c->closing)
        return NET_ECLOSED;
    if (c->queued >= c->cfg.max_queued)
        return NET_ELIMIT;
    net_http_call_t *call = calloc(1, sizeof(*call));
    if (!call)
        return NET_ENOMEM;
    call->c = c;
    call->cbs = *cbs;
    call->ud = ud;
    call->method = strdup(req->method);
    call->path = strdup(req->path);
    call->headers = req->nheaders ? net_h2_headers_copy(req->headers, req->nheaders) : NULL;
    call->nheaders = req->nheaders;
    call->body_len = req->body_len;
    call->body = req->body_len ? malloc(req->body_len) : NULL;
    if (call->body)
        memcpy(call->body, req->body, req->body_len);
    if (req->timeout_ms) {
        call->timer = malloc(sizeof(*call->timer));
        if (call->timer) {
            uv_timer_init(c->loop, call->timer);
            call->timer->data = call;
            uv_timer_start(call->timer, on_timeout, req->timeout_ms, 0);
        }
    }
    if (!call->method || !call->path || (req->nheaders && !call->headers) ||
        (req->body_len && !call->body) || (req->timeout_ms && !call->timer)) {
        call_free(call);
        return NET_ENOMEM;
    }
    call->state = CALL_QUEUED;
    *c->queue_tail = call;
    c->queue_tail = &call->next;
    c->queued++;
    c->requests++;
    if (out)
        *out = call;
    dispatch(c);
    return NET_OK;
}

void net_http_call_cancel(net_http_call_t *call)
{
    if (!call || call->cancelled)
        return;
    call->cancelled = true;
    if (call->state == CALL_QUEUED) {
        queue_remove(call->c, call);
        call_free(call);
    } else if (call->st) {
        net_h2_stream_reset(call->st, 0x8);
        if (call->hc)
            net_conn_flush(call->hc->conn);
    } else if (call->hc) {
        call->hc->closing = true;
        net_conn_close(call->hc->conn, false);
    }
}

void net_http_client_close(net_http_client_t *c, void (*on_closed)(void *ud), void *ud)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->on_closed = on_closed;
    c->closed_ud = ud;
    fail_queue(c, NET_ECLOSED);
    for (hconn_t *hc = c->conns; hc; hc = hc->next) {
        hc->closing = true;
        net_conn_close(hc->conn, false);
    }
    maybe_closed(c);
}

void net_http_client_stats(const net_http_client_t *c, net_http_client_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->requests = c->requests;
    out->completed = c->completed;
    out->failed = c->failed;
    out->connects = c->connects;
    out->connections = c->nconns;
    out->queued = c->queued;
    out->in_flight = c->in_flight;
    out->h2 = c->last_h2;
}
