/*
 * HTTP/2 upstreams (proxy/upstream_h2.h): h2c prior-knowledge connections, or h2 over TLS by
 * ALPN (a backend TLS policy), from net/'s client, pooled per endpoint and connection settings
 * (TLS context, SNI, keepalive) and multiplexed, one stream per exchange.
 *
 * Key decision: an exchange is a small state machine owned here, so that http.c only converts
 * heads and moves bytes. Callbacks into http.c may cancel the exchange they are called for (a
 * downstream that went away); every callback is therefore made through x_call_* which holds the
 * exchange (busy) and frees it afterwards when it was cancelled or finished meanwhile.
 *
 * Invariants (checked where they matter):
 *   I1 an exchange is in exactly one place: its connection's waiting list (no stream yet), or
 *      attached to a stream (x->st, and the stream's user is x), or detached (dead) and freed as
 *      soon as no callback holds it;
 *   I2 a connection's nstreams counts the streams opened on it and not yet closed (on_close);
 *      new exchanges go to a connection only while nstreams + nwaiting < its stream limit;
 *   I3 response bytes held in x->rbuf were not acknowledged to the upstream: x->rbuf is bounded
 *      by the stream's receive window.
 */
#include "upstream_h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn.h"

#define STREAMS_PER_CONN 100u
#define H2_IDLE_MS 60000u

typedef struct h2conn h2conn_t;

struct proxy_h2x {
    h2conn_t *hc;
    net_h2_stream_t *st;
    const proxy_h2x_callbacks_t *cb;
    void *ud;
    net_h2_header_t *req; /* waiting for the connection: the request head (one allocation) */
    size_t nreq;
    bool end_stream;  /* the request has no body */
    bool req_ended;   /* the caller ended the request (end_pending until it is sent) */
    bool end_pending;
    net_h2_header_t *req_trl;
    size_t nreq_trl;
    /* Request body bytes the stream did not take yet (no stream yet, or its queue was full:
     * then a refused write made on_writable owed). At most one caller write plus what the
     * caller wrote while proxy_h2x_can_write said yes. */
    uint8_t *wbuf;
    size_t wlen, wcap;
    bool head_seen, head_given, remote_ended, dead;
    int status;
    net_h2_header_t *head; /* the response fields until given to the caller (copy) */
    size_t nhead;
    int busy;
    uint8_t *rbuf; /* response bytes the caller did not take yet (I3) */
    size_t rlen, rcap;
    net_h2_header_t *trl; /* response trailers (copy) */
    size_t ntrl;
    proxy_h2x_t *next_wait;
};

struct h2conn {
    proxy_h2pool_t *pool;
    net_conn_t *c;
    /* What the connection was made with: requests share it only when all of it is the same. The
     * TLS context cannot be freed and its address reused while the connection retains it. */
    char host[256];
    uint16_t port;
    const net_tls_ctx_t *tls;
    char sni[256];
    uint32_t ka_idle_s, ka_interval_s, ka_probes;
    bool ready, dead;
    size_t nstreams;
    proxy_h2x_t *waiting; /* FIFO */
    size_t nwaiting;
    h2conn_t *prev, *next;
};

struct proxy_h2pool {
    uv_loop_t *loop;
    uint64_t connect_timeout_ms;
    void (*on_conn_gone)(void *);
    void *ud;
    h2conn_t *conns;
    size_t nconns;
    bool closing;
    uint64_t connects, streams;
};

/* ------------------------------------------------------------------------------------------- */
/* Exchanges */

static void x_free(proxy_h2x_t *x)
{
    free(x->req);
    free(x->req_trl);
    free(x->wbuf);
    free(x->rbuf);
    free(x->trl);
    free(x->head);
    free(x);
}

static void x_hold(proxy_h2x_t *x)
{
    x->busy++;
}

/* Returns: true when |x| is still usable. Not inlined: GCC's use-after-free analysis cannot
 * see that a nested release never frees while an outer hold is taken. */
__attribute__((noinline)) static bool x_release(proxy_h2x_t *x)
{
    if (--x->busy == 0 && x->dead) {
        x_free(x);
        return false;
    }
    return !x->dead;
}

/* Detaches |x| from its stream (resetting it when it is still open) and marks it dead. */
static void x_detach(proxy_h2x_t *x, bool reset)
{
    x->dead = true;
    if (x->st) {
        net_h2_stream_set_user(x->st, NULL);
        if (reset)
            net_h2_stream_reset(x->st, 0x8); /* CANCEL */
        net_conn_flush(x->hc->c);
        x->st = NULL;
    }
}

static void x_fail(proxy_h2x_t *x, int status, const char *why)
{
    if (x->dead)
        return;
    x_detach(x, true);
    x_hold(x);
    x->cb->on_error(x->ud, status, why);
    x_release(x);
}

static void x_consume(proxy_h2x_t *x, size_t n)
{
    if (x->st && n) {
        net_h2_stream_consume(x->st, n);
        net_conn_flush(x->hc->c);
    }
}

/* Gives the response head to the caller once (see on_head). Returns: x still usable. */
static bool x_give_head(proxy_h2x_t *x, bool end)
{
    if (x->head_given || x->dead)
        return !x->dead;
    x->head_given = true;
    x_hold(x);
    x->cb->on_head(x->ud, x->status, x->head, x->nhead, end);
    free(x->head);
    x->head = NULL;
    x->nhead = 0;
    return x_release(x);
}

/* Offers the held bytes, then finishes the exchange once everything was taken and the upstream
 * ended. */
static void x_pump(proxy_h2x_t *x)
{
    if (x->dead || !x->head_given)
        return;
    x_hold(x);
    while (x->rlen && !x->dead) {
        size_t taken = x->cb->on_data(x->ud, x->rbuf, x->rlen);
        if (x->dead)
            break;
        if (taken > x->rlen)
            taken = x->rlen;
        memmove(x->rbuf, x->rbuf + taken, x->rlen - taken);
        x->rlen -= taken;
        x_consume(x, taken);
        if (!taken)
            break;
    }
    if (!x->dead && !x->rlen && x->remote_ended) {
        /* Finished: the upstream may still be reading a request body we stop sending. */
        x_detach(x, !x->req_ended);
        x->cb->on_end(x->ud, x->trl, x->ntrl);
    }
    x_release(x);
}

static int x_open(proxy_h2x_t *x)
{
    h2conn_t *hc = x->hc;
    net_h2_session_t *s = net_conn_session(hc->c);
    net_h2_stream_t *st = NULL;
    int rc = s ? net_h2_session_request(s, x->req, x->nreq, x->end_stream, x, &st) : NET_ESTATE;
    free(x->req);
    x->req = NULL;
    if (rc != NET_OK)
        return rc;
    x->st = st;
    hc->nstreams++;
    hc->pool->streams++;
    net_h2_stream_set_manual_consume(st, true);
    net_conn_flush(hc->c);
    return NET_OK;
}

/* Moves held request bytes (then the pending end) to the stream. Returns: x still usable. */
static bool x_flush_req(proxy_h2x_t *x)
{
    if (x->dead || !x->st)
        return !x->dead;
    if (x->wlen) {
        int rc = net_h2_stream_write(x->st, x->wbuf, x->wlen);
        if (rc == NET_EAGAIN)
            return true; /* s_writable follows */
        if (rc != NET_OK) {
            x_fail(x, 502, "request body cannot be sent upstream");
            return false;
        }
        x->wlen = 0;
    }
    if (x->end_pending) {
        x->end_pending = false;
        net_h2_stream_end(x->st, x->req_trl, x->nreq_trl);
    }
    net_conn_flush(x->hc->c);
    return true;
}

/* Tells the caller it can write again, when it can. */
static void x_writable(proxy_h2x_t *x)
{
    if (x->dead || x->wlen || x->req_ended || !x->st || !x->cb->on_writable)
        return;
    x_hold(x);
    x->cb->on_writable(x->ud);
    x_release(x);
}

/* ------------------------------------------------------------------------------------------- */
/* Session callbacks (ud: the connection) */

static void s_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)s;
    (void)ud;
    proxy_h2x_t *x = net_h2_stream_user(st);
    if (!x || x->dead)
        return;
    if (kind == NET_H2_TRAILERS) {
        if (!x_give_head(x, false))
            return;
        free(x->trl);
        x->ntrl = 0;
        if ((x->trl = net_h2_headers_copy(h, n)))
            x->ntrl = n;
        return;
    }
    if (kind != NET_H2_RESPONSE || x->head_seen)
        return;
    int status = 0;
    size_t first = 0;
    for (size_t i = 0; i < n && h[i].name[0] == ':'; i++, first++)
        if (strcmp(h[i].name, ":status") == 0)
            status = atoi(h[i].value);
    if (status < 200 || status > 999) {
        x_fail(x, 502, "upstream HTTP/2 response without a valid :status");
        return;
    }
    x->head_seen = true;
    x->status = status;
    if (n > first && !(x->head = net_h2_headers_copy(h + first, n - first))) {
        x_fail(x, 502, "out of memory");
        return;
    }
    x->nhead = x->head ? n - first : 0;
}

static void s_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)s;
    (void)ud;
    proxy_h2x_t *x = net_h2_stream_user(st);
    if (!x || x->dead) {
        net_h2_stream_consume(st, len);
        return;
    }
    if (x->rlen + len > x->rcap) {
        size_t cap = x->rcap ? x->rcap : 16384;
        while (cap < x->rlen + len)
            cap *= 2;
        uint8_t *nb = realloc(x->rbuf, cap);
        if (!nb) {
            x_fail(x, 502, "out of memory");
            return;
        }
        x->rbuf = nb;
        x->rcap = cap;
    }
    memcpy(x->rbuf + x->rlen, data, len);
    x->rlen += len;
    if (x_give_head(x, false))
        x_pump(x);
}

static void s_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    proxy_h2x_t *x = net_h2_stream_user(st);
    if (!x || x->dead)
        return;
    if (!x->head_seen) {
        x_fail(x, 502, "upstream HTTP/2 stream ended without a response");
        return;
    }
    x->remote_ended = true;
    if (x_give_head(x, !x->rlen && !x->ntrl))
        x_pump(x);
}

static void conn_maybe_trim(h2conn_t *hc);

/* Were |a| and |b| made with the same settings (endpoint, TLS, SNI, keepalive)? */
static bool same_target(const h2conn_t *a, const h2conn_t *b)
{
    return a->port == b->port && a->tls == b->tls && a->ka_idle_s == b->ka_idle_s &&
           a->ka_interval_s == b->ka_interval_s && a->ka_probes == b->ka_probes &&
           strcmp(a->host, b->host) == 0 && strcmp(a->sni, b->sni) == 0;
}

static void s_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)s;
    h2conn_t *hc = ud;
    proxy_h2x_t *x = net_h2_stream_user(st);
    hc->nstreams--;
    if (x && !x->dead) {
        x->st = NULL; /* gone: nothing to reset */
        if (x->remote_ended && code == 0) {
            /* A complete response whose last bytes wait for a slow client: nghttp2 closes a
             * stream once both sides ended, whatever the caller has not taken yet; x_pump
             * finishes the exchange when it has. It needs the connection no more (which may now
             * close), so it forgets it. */
            x->hc = NULL;
            conn_maybe_trim(hc);
            return;
        }
        char why[80];
        snprintf(why, sizeof why, "upstream HTTP/2 stream closed (error code %u)", (unsigned)code);
        x_fail(x, 502, why);
    }
    conn_maybe_trim(hc);
}

static void s_writable(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    proxy_h2x_t *x = net_h2_stream_user(st);
    if (!x || x->dead)
        return;
    if (x_flush_req(x))
        x_writable(x);
}

static void s_goaway(net_h2_session_t *s, uint32_t last, uint32_t code, void *ud)
{
    (void)s;
    (void)last;
    (void)code;
    h2conn_t *hc = ud;
    hc->dead = true; /* no new streams; the open ones finish (or get on_close) */
}

static const net_h2_callbacks_t session_cb = {.on_headers = s_headers,
                                              .on_data = s_data,
                                              .on_end = s_end,
                                              .on_close = s_close,
                                              .on_writable = s_writable,
                                              .on_goaway = s_goaway};

/* ------------------------------------------------------------------------------------------- */
/* Connections */

static void conn_fail_waiting(h2conn_t *hc, int status, const char *why)
{
    while (hc->waiting) {
        proxy_h2x_t *x = hc->waiting;
        hc->waiting = x->next_wait;
        hc->nwaiting--;
        x->next_wait = NULL;
        x_hold(x);
        if (!x->dead) { /* a cancelled one just goes */
            x_detach(x, false);
            x->cb->on_error(x->ud, status, why);
        }
        x_release(x); /* frees it: dead and no longer held */
    }
}

static void c_connect(net_conn_t *c, int status, void *ud)
{
    h2conn_t *hc = ud;
    (void)c;
    if (status != NET_OK)
        return; /* c_close follows */
    hc->ready = true;
    while (hc->waiting) {
        proxy_h2x_t *x = hc->waiting;
        hc->waiting = x->next_wait;
        hc->nwaiting--;
        x->next_wait = NULL;
        if (x->dead) {
            x_hold(x);
            x_release(x);
            continue;
        }
        if (x_open(x) != NET_OK) {
            x_fail(x, 502, "cannot open an HTTP/2 stream upstream"); /* frees it */
            continue;
        }
        x_hold(x);
        if (x_flush_req(x))
            x_writable(x); /* the request body may flow now */
        x_release(x);
    }
}

static void c_close(net_conn_t *c, int status, void *ud)
{
    h2conn_t *hc = ud;
    (void)c;
    (void)status;
    proxy_h2pool_t *p = hc->pool;
    hc->dead = true;
    conn_fail_waiting(hc, hc->ready ? 502 : 503,
                      hc->ready ? "upstream connection closed" : "upstream connection failed");
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        p->conns = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    p->nconns--;
    free(hc);
    if (p->on_conn_gone)
        p->on_conn_gone(p->ud);
}

/* A connection without streams while another one to the same endpoint has none either: close it
 * (one idle connection per endpoint is enough; idle_timeout_ms closes that one eventually). */
static void conn_maybe_trim(h2conn_t *hc)
{
    if (hc->nstreams || hc->nwaiting || hc->dead || !hc->ready)
        return;
    for (h2conn_t *o = hc->pool->conns; o; o = o->next) {
        if (o != hc && !o->dead && o->ready && !o->nstreams && !o->nwaiting && same_target(o, hc)) {
            hc->dead = true;
            net_conn_close(hc->c, true);
            return;
        }
    }
}

/* Fills |hc|'s identity from |ep| (see h2conn). */
static void target_set(h2conn_t *hc, const proxy_endpoint_t *ep)
{
    snprintf(hc->host, sizeof hc->host, "%s", ep->host);
    hc->port = ep->port;
    hc->tls = ep->tls;
    snprintf(hc->sni, sizeof hc->sni, "%s", ep->tls && ep->sni ? ep->sni : "");
    hc->ka_idle_s = ep->ka_idle_s;
    hc->ka_interval_s = ep->ka_idle_s ? ep->ka_interval_s : 0;
    hc->ka_probes = ep->ka_idle_s ? ep->ka_probes : 0;
}

static h2conn_t *conn_new(proxy_h2pool_t *p, const proxy_endpoint_t *ep)
{
    h2conn_t *hc = calloc(1, sizeof *hc);
    if (!hc)
        return NULL;
    hc->pool = p;
    target_set(hc, ep);
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = ep->host;
    cc.port = ep->port;
    cc.tls = ep->tls; /* h2 by ALPN: net/ closes the connection when the server picks another */
    cc.server_name = ep->tls ? ep->sni : NULL;
    cc.conn.handshake_timeout_ms =
        ep->connect_timeout_ms ? ep->connect_timeout_ms : p->connect_timeout_ms;
    cc.conn.tcp_keepalive_idle_s = hc->ka_idle_s;
    cc.conn.tcp_keepalive_interval_s = hc->ka_interval_s;
    cc.conn.tcp_keepalive_probes = hc->ka_probes;
    cc.conn.idle_timeout_ms = H2_IDLE_MS;
    cc.cb = session_cb;
    cc.ud = hc;
    cc.on_connect = c_connect;
    cc.on_close = c_close;
    int err;
    if (!(hc->c = net_client_connect(p->loop, &cc, &err))) {
        free(hc);
        return NULL;
    }
    hc->next = p->conns;
    if (p->conns)
        p->conns->prev = hc;
    p->conns = hc;
    p->nconns++;
    p->connects++;
    return hc;
}

static uint32_t conn_limit(const h2conn_t *hc)
{
    net_h2_session_t *s = hc->ready ? net_conn_session(hc->c) : NULL;
    uint32_t peer = s ? net_h2_session_peer_max_streams(s) : STREAMS_PER_CONN;
    return peer && peer < STREAMS_PER_CONN ? peer : STREAMS_PER_CONN;
}

/* ------------------------------------------------------------------------------------------- */
/* API */

proxy_h2pool_t *proxy_h2pool_new(uv_loop_t *loop, uint64_t connect_timeout_ms,
                                 void (*on_conn_gone)(void *ud), void *ud)
{
    proxy_h2pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->connect_timeout_ms = connect_timeout_ms ? connect_timeout_ms : 5000;
    p->on_conn_gone = on_conn_gone;
    p->ud = ud;
    return p;
}

void proxy_h2pool_close(proxy_h2pool_t *p)
{
    p->closing = true;
    for (h2conn_t *hc = p->conns; hc; hc = hc->next) {
        hc->dead = true;
        net_conn_close(hc->c, true); /* GOAWAY; streams in flight finish */
    }
}

size_t proxy_h2pool_conns(const proxy_h2pool_t *p)
{
    return p->nconns;
}

void proxy_h2pool_free(proxy_h2pool_t *p)
{
    free(p);
}

void proxy_h2pool_counts(const proxy_h2pool_t *p, uint64_t *connects, uint64_t *streams)
{
    *connects = p->connects;
    *streams = p->streams;
}

proxy_h2x_t *proxy_h2x_start(proxy_h2pool_t *p, const proxy_endpoint_t *ep,
                             const net_h2_header_t *h, size_t n, bool end_stream,
                             const proxy_h2x_callbacks_t *cb, void *ud)
{
    if (p->closing)
        return NULL;
    h2conn_t want; /* the identity only */
    target_set(&want, ep);
    h2conn_t *hc = NULL;
    for (h2conn_t *o = p->conns; o && !hc; o = o->next)
        if (!o->dead && same_target(o, &want) && o->nstreams + o->nwaiting < conn_limit(o))
            hc = o;
    if (!hc && !(hc = conn_new(p, ep)))
        return NULL;
    proxy_h2x_t *x = calloc(1, sizeof *x);
    if (!x || !(x->req = net_h2_headers_copy(h, n))) {
        free(x);
        return NULL; /* a new connection stays in the pool, idle */
    }
    x->hc = hc;
    x->nreq = n;
    x->cb = cb;
    x->ud = ud;
    x->end_stream = end_stream;
    x->req_ended = end_stream;
    if (hc->ready) {
        if (x_open(x) != NET_OK) {
            x_free(x);
            return NULL;
        }
        return x;
    }
    proxy_h2x_t **pp = &hc->waiting; /* FIFO: requests go out in the order they came */
    while (*pp)
        pp = &(*pp)->next_wait;
    *pp = x;
    hc->nwaiting++;
    return x;
}

int proxy_h2x_write(proxy_h2x_t *x, const void *data, size_t len)
{
    if (x->dead || x->req_ended)
        return NET_ECLOSED;
    if (x->wlen + len > x->wcap) {
        size_t cap = x->wcap ? x->wcap : 16384;
        while (cap < x->wlen + len)
            cap *= 2;
        uint8_t *nb = realloc(x->wbuf, cap);
        if (!nb)
            return NET_ENOMEM;
        x->wbuf = nb;
        x->wcap = cap;
    }
    memcpy(x->wbuf + x->wlen, data, len);
    x->wlen += len;
    x_hold(x);
    x_flush_req(x);
    return x_release(x) ? NET_OK : NET_ECLOSED;
}

bool proxy_h2x_can_write(const proxy_h2x_t *x, size_t len)
{
    (void)len; /* one write of any size is taken while nothing waits */
    return !x->dead && !x->wlen;
}

void proxy_h2x_end(proxy_h2x_t *x, const net_h2_header_t *trailers, size_t n)
{
    if (x->dead || x->req_ended)
        return;
    x->req_ended = true;
    if (x->end_stream)
        return; /* the HEADERS frame ended it */
    x->end_pending = true;
    if (n && (x->req_trl = net_h2_headers_copy(trailers, n)))
        x->nreq_trl = n;
    x_hold(x);
    x_flush_req(x);
    x_release(x);
}

void proxy_h2x_resume(proxy_h2x_t *x)
{
    x_pump(x);
}

void proxy_h2x_cancel(proxy_h2x_t *x)
{
    if (x->dead)
        return;
    x_detach(x, true);
    if (!x->st && x->hc) {
        /* still waiting for its connection: c_connect / c_close drop it (I1) */
        for (proxy_h2x_t *w = x->hc->waiting; w; w = w->next_wait)
            if (w == x)
                return;
    }
    if (x->busy == 0)
        x_free(x);
}
