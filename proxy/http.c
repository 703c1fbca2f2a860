/*
 * The HTTP data path (proxy/proxy.h): downstream HTTP/1.1 on net/'s raw connections with the h1
 * codec and downstream HTTP/2 streams (h2c, or h2 over TLS by ALPN) on net/'s sessions, both
 * forwarded to HTTP/1.1 upstream connections from a keep-alive pool, or to HTTP/2 (h2c) upstream
 * streams (upstream_h2.c) for Service ports that say so, bodies and trailers streamed in both
 * directions; route filters (modifiers, redirect, rewrite, direct response, mirror, timeout,
 * retry) applied on the way; an HTTP/1.1 Upgrade answered 101 becomes a byte tunnel.
 *
 * Key decision: one exchange at a time per downstream connection, driven by two pull loops
 * (d_pump for the request, u_pump for the response) that stop whenever the other side's write
 * queue is over its cap and resume from that side's on_drain. Nothing is buffered beyond the
 * unparsed input of a connection (bounded by max_buffered_input plus one socket read: reading
 * pauses at the bound) and net's write queues (bounded by write_queue_cap), so memory per
 * exchange is bounded whatever the client or the upstream does. Pipelined requests simply wait
 * in the input buffer until the previous response is complete. The alternative, reading whole
 * bodies and then forwarding, was rejected: it makes memory proportional to bodies.
 *
 * Hop-by-hop fields (Connection and what it lists, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade) are never forwarded; the proxy frames each side itself (the
 * upstream's Content-Length is kept, anything else is re-chunked for HTTP/1.1 clients).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"
#include "l4_internal.h"
#include "net/conn.h"
#include "net/h1.h"
#include "proxy/filters.h"
#include "proxy/frontend.h"
#include "proxy/metrics.h"
#include "proxy/policy.h"
#include "proxy/proxy.h"
#include "proxy/router.h"
#include "proxy/upstream.h"
#include "upstream_h2.h"

#define WRITE_CAP (256u * 1024u)

typedef struct listener listener_t;
typedef struct dconn dconn_t;
typedef struct uconn uconn_t;

struct listener {
    proxy_t *p;
    char *bind_key;
    net_server_t *srv;
    bool auto_opened;
    net_tls_ctx_t *tls;         /* HTTPS: the port's context (its SNI table follows the config) */
    uint64_t tls_hash;          /* of the certificates in that table, to rebuild only on change */
    proxy__l4_listener_t *l4l;  /* TCP / TLS passthrough Bind: served by l4.c */
    proxy_bind_mode_t mode;     /* what the port serves (fixed while it is open) */
    bool reopen;                /* auto_listen closed it to reopen it as another kind */
    proxy_frontend_t fe;        /* client-connection settings for connections accepted now */
    listener_t *next;
};

/* PH_TUNNEL: after a 101 to an Upgrade request, bytes flow both ways unparsed (tunnel below). */
enum { PH_HEAD, PH_LOCAL, PH_FORWARD, PH_WAIT, PH_TUNNEL };

struct dconn {
    proxy_t *p;
    net_conn_t *c;
    net_h2_stream_t *st; /* HTTP/2: this exchange is one stream of |c|; NULL for HTTP/1.1 */
    bool h2_ended;       /* HTTP/2: our side of the stream is ended */
    bool h2_remote_end;  /* HTTP/2: the client ended its side (request body complete) */
    char *bind_key;
    net_h1_parser_t *parser;
    uint8_t *in;
    size_t in_len, in_cap;
    bool read_paused, ending, eof, pumping;
    /* the exchange in progress */
    int phase;
    const proxy_snapshot_t *snap;
    uconn_t *up;
    proxy_h2x_t *x2; /* the exchange's HTTP/2 upstream stream (upstream_h2.c), instead of |up| */
    /* HTTP/2 upstream with a route Retry: the request's HTTP/2 fields (pseudo-headers first),
     * kept to send them again; freed with the exchange (x2_req_clear) */
    net_h2_header_t *x2_req;
    size_t nx2_req;
    net_h2_header_t *req_trl; /* HTTP/2 client's request trailers, for an HTTP/2 upstream */
    size_t nreq_trl;
    net_h1_buf_t up_head;
    int minor;
    bool keep_alive, head_method, req_chunked, req_done;
    bool resp_started, resp_chunked;
    bool retryable; /* sent on a pooled connection, no body: may be resent once on a new one */
    bool upgrade;   /* the request asks for a protocol Upgrade (WebSocket) */
    bool fin_up, fin_down; /* tunnel: the client's / the upstream's FIN was passed on */
    const Agentgateway__Dev__Resource__Retry *retry; /* the route's Retry (bodiless requests) */
    int retries_left;
    const agw_route_t *route_pb; /* borrowed from snap */
    const char *route_key;       /* for metrics: the matched Route's key, borrowed from snap */
    uint64_t t_routed;           /* uv_hrtime() when forwarding began (0: answered locally) */
    proxy_endpoint_t ep;
    const agw_header_modifier_t *resp_mod[2];
    proxy_headers_t cors; /* CORS fields for this exchange's response (proxy_cors_eval) */
    /* HTTP/1.1: response bytes collected while the upstream input at hand is parsed, written
     * with one net_conn_write (head and body in one system call); kept between exchanges. */
    net_h1_buf_t out;
    bool corked;
    uv_timer_t *timer; /* the route's Timeout (allocated on first use; closed with the exchange);
                          in PH_TUNNEL the idle deadline */
    uint64_t t_active; /* PH_TUNNEL: loop time of the last byte either way */
    /* Per try: timeouts.backendRequest while a try is in flight, or the retry backoff between
     * tries (retry_wait); allocated on first use, closed with the exchange. */
    uv_timer_t *try_timer;
    uint64_t try_ms, backoff_ms;
    bool retry_wait;
    /* HTTP/1.1 client deadlines while waiting for a request head (PH_HEAD): idle_ms while no
     * byte of it arrived, then header_ms for the rest of it (head_started). Copied from the
     * listener's proxy_frontend_t when the connection opened. */
    uv_timer_t *wait_timer;
    bool head_started;
    bool wait_confirm; /* the deadline passed once: acted on at the next loop turn (d_wait_due) */
    uint64_t idle_ms, header_ms;
    /* ... and, once a head with a body was routed, body_ms without a byte of it while the
     * proxy was waiting for one (t_read: loop time of the last read). */
    uint64_t body_ms, t_read;
    size_t max_in; /* unparsed input bound (max_buffered_input, or the Bind's max_buffer_size) */
    dconn_t *prev, *next;
};

struct uconn {
    proxy_t *p;
    net_conn_t *c;
    char key[300];
    uint64_t khash; /* key_hash(key): pool scans compare it before the string */
    net_h1_parser_t *parser;
    uint8_t *in;
    size_t in_len, in_cap;
    dconn_t *d; /* the exchange using it; NULL while idle or dying */
    bool connected, idle, read_paused, pumping, dead, eof, got_bytes;
    uconn_t *prev, *next;
    uconn_t *idle_prev, *idle_next; /* on p->idle while |idle| */
};

/* A mirrored request: fire and forget (the response is read and dropped). */
typedef struct mirror {
    proxy_t *p;
    net_conn_t *c;
    net_h1_buf_t head;
    struct mirror *prev, *next;
} mirror_t;

struct proxy {
    uv_loop_t *loop;
    mirror_t *mirrors;
    proxy_options_t opt;
    char *auto_host;
    proxy_config_t *cfg;
    proxy_lb_t lb;
    listener_t *listeners;
    listener_t *reopening; /* closed by auto_listen, reopened once their port is free */
    size_t nlisteners, closing_servers;
    dconn_t *dconns;
    uconn_t *uconns;
    /* The idle ones among uconns, most recently released first: pool lookups per request scan
     * only these, not every upstream connection. Invariant: u is on it iff u->idle; nidle is
     * its length. */
    uconn_t *idle;
    proxy_h2pool_t *h2pool; /* HTTP/2 (h2c) upstreams */
    size_t nidle;
    proxy_stats_t st;
    proxy__l4_t *l4; /* TCP and TLS passthrough connections (l4.c) */
    proxy_metrics_t *metrics;
    bool closing;
    void (*on_closed)(proxy_t *, void *);
    void *closed_ud;
};

void proxy_options_default(proxy_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->lb_seed = 1;
    o->pool_max_idle_per_endpoint = 128;
    o->pool_max_idle = 256;
    o->max_buffered_input = 64 * 1024;
    o->upstream_connect_timeout_ms = 5000;
    o->tunnel_idle_timeout_ms = 3600000;
    o->client_idle_timeout_ms = 600000;
    o->client_header_timeout_ms = 30000;
    o->client_handshake_timeout_ms = 15000;
    o->client_body_timeout_ms = 60000;
}

static int buf_add(uint8_t **b, size_t *len, size_t *cap, const uint8_t *data, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 4096;
        while (nc < *len + n)
            nc *= 2;
        uint8_t *nb = realloc(*b, nc);
        if (!nb)
            return PROXY_ENOMEM;
        *b = nb;
        *cap = nc;
    }
    memcpy(*b + *len, data, n);
    *len += n;
    return PROXY_OK;
}

static void consume(uint8_t *b, size_t *len, size_t n)
{
    if (n < *len) /* an empty buffer may have no storage at all */
        memmove(b, b + n, *len - n);
    *len -= n;
}

/* |v| in decimal into |out| (at least 21 bytes), NUL-terminated; per request, where snprintf
 * showed in profiles. */
static void dec_write(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

/* ASCII case-insensitive equality of |a| (|n| bytes) and |b| (at least |n| bytes). */
static bool eq_ci(const char *a, const char *b, size_t n)
{
    if (memcmp(a, b, n) == 0) /* the usual match: both lowercase (as net/ gives names) */
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if ((unsigned)(x - 'A') < 26u)
            x |= 0x20;
        if ((unsigned)(y - 'A') < 26u)
            y |= 0x20;
        if (x != y)
            return false;
    }
    return true;
}

/* The names a head's Connection fields list (RFC 9110 section 7.6.1), found once per head so
 * that checking each field is not a scan of the whole head. Tokens are runs between SP, HTAB
 * and ','. Past HOP_LISTED tokens, hop_by_hop scans the fields themselves. */
#define HOP_LISTED 16
typedef struct hop_list {
    const net_h2_header_t *h;
    size_t nh;
    size_t n;
    bool overflow;
    struct {
        const char *s;
        size_t len;
    } t[HOP_LISTED];
} hop_list_t;

static bool is_connection(const net_h2_header_t *f)
{
    return f->name_len == 10 && eq_ci(f->name, "connection", 10);
}

static void hop_list_init(hop_list_t *l, const net_h2_header_t *h, size_t nh)
{
    l->h = h;
    l->nh = nh;
    l->n = 0;
    l->overflow = false;
    for (size_t i = 0; i < nh && !l->overflow; i++) {
        if (!is_connection(&h[i]))
            continue;
        const char *v = h[i].value;
        while (*v) {
            while (*v == ' ' || *v == ',' || *v == '\t')
                v++;
            const char *e = v;
            while (*e && *e != ',' && *e != ' ' && *e != '\t')
                e++;
            if (e > v) {
                if (l->n == HOP_LISTED) {
                    l->overflow = true;
                    break;
                }
                l->t[l->n].s = v;
                l->t[l->n].len = (size_t)(e - v);
                l->n++;
            }
            v = e;
        }
    }
}

/* Is the field |name| (|nl| bytes) hop-by-hop in the head |l| was made from? The fixed names,
 * then the names the Connection fields list. |response|: Host and Expect are end-to-end there
 * (a response may carry fields of those names; they are request semantics only). */
static bool hop_by_hop(const hop_list_t *l, const char *name, size_t nl, bool response)
{
    /* by length first: every field of every message passes here */
    switch (nl) {
    case 2:
        if (eq_ci(name, "te", 2))
            return true;
        break;
    case 4:
        if (!response && eq_ci(name, "host", 4))
            return true;
        break;
    case 6:
        if (!response && eq_ci(name, "expect", 6))
            return true;
        break;
    case 7:
        if (eq_ci(name, "trailer", 7) || eq_ci(name, "upgrade", 7))
            return true;
        break;
    case 10:
        if (eq_ci(name, "connection", 10) || eq_ci(name, "keep-alive", 10))
            return true;
        break;
    case 14:
        if (eq_ci(name, "content-length", 14))
            return true;
        break;
    case 16:
        if (eq_ci(name, "proxy-connection", 16))
            return true;
        break;
    case 17:
        if (eq_ci(name, "transfer-encoding", 17))
            return true;
        break;
    default:
        break;
    }
    if (!l->overflow) {
        for (size_t i = 0; i < l->n; i++)
            if (l->t[i].len == nl && eq_ci(l->t[i].s, name, nl))
                return true;
        return false;
    }
    for (size_t i = 0; i < l->nh; i++) { /* many listed names: as they stand in the fields */
        if (!is_connection(&l->h[i]))
            continue;
        const char *v = l->h[i].value;
        while (*v) {
            while (*v == ' ' || *v == ',' || *v == '\t')
                v++;
            const char *e = v;
            while (*e && *e != ',' && *e != ' ' && *e != '\t')
                e++;
            if ((size_t)(e - v) == nl && eq_ci(v, name, nl))
                return true;
            v = e;
        }
    }
    return false;
}

static net_h2_header_t *headers_view(const proxy_headers_t *h)
{
    net_h2_header_t *v = calloc(h->n + 1, sizeof *v);
    for (size_t i = 0; v && i < h->n; i++)
        v[i] = (net_h2_header_t){h->v[i].name, strlen(h->v[i].name), h->v[i].value,
                                 strlen(h->v[i].value)};
    return v;
}

/* Every response the client gets passes here once: the metrics hook of the data path. */
static void count_status(dconn_t *d, int status)
{
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        d->p->st.responses[cls]++;
    int64_t up = d->t_routed && d->up ? (int64_t)(uv_hrtime() - d->t_routed) : -1;
    /* route_key borrows from snap: without it (released, or a parse error) there is no route */
    proxy_metrics_response(d->p->metrics, d->snap ? d->route_key : NULL, status, up);
}

/* ------------------------------------------------------------------------------------------- */
/* Upstream pool */

static void proxy_maybe_finish(proxy_t *p);
static void d_pump(dconn_t *d);
static void u_pump(uconn_t *u);
static void d_upstream_failed(dconn_t *d, int status, const char *why);
static void d_timer_stop(dconn_t *d);
static void d_exchange_done(dconn_t *d);
static uconn_t *u_connect(proxy_t *p, const proxy_endpoint_t *ep, const char *key);
static bool d_retry_attempt(dconn_t *d);
static void t_down(uconn_t *u);
static void t_up(dconn_t *d);
static void d_tunnel_start(dconn_t *d, const net_h1_message_t *m);

static void u_unlink(uconn_t *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        u->p->uconns = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = u->next = NULL;
}

static void u_idle_push(uconn_t *u)
{
    proxy_t *p = u->p;
    u->idle = true;
    u->idle_prev = NULL;
    u->idle_next = p->idle;
    if (p->idle)
        p->idle->idle_prev = u;
    p->idle = u;
    p->nidle++;
}

static void u_idle_remove(uconn_t *u)
{
    if (!u->idle)
        return;
    if (u->idle_prev)
        u->idle_prev->idle_next = u->idle_next;
    else
        u->p->idle = u->idle_next;
    if (u->idle_next)
        u->idle_next->idle_prev = u->idle_prev;
    u->idle_prev = u->idle_next = NULL;
    u->idle = false;
    u->p->nidle--;
}

static void u_kill(uconn_t *u)
{
    if (u->dead)
        return;
    u->dead = true;
    u_idle_remove(u);
    net_conn_close(u->c, false); /* u_on_close tells the exchange, if any */
}

/* The exchange gives |u| up (it is ending or failed by itself). */
static void u_detach_kill(uconn_t *u)
{
    u->d = NULL;
    u_kill(u);
}

/* FNV-1a: pool scans run per request over every upstream connection. */
static uint64_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ull;
    return h;
}

static uconn_t *pool_get(proxy_t *p, const char *key)
{
    uint64_t h = key_hash(key);
    for (uconn_t *u = p->idle; u; u = u->idle_next) {
        if (!u->dead && u->khash == h && strcmp(u->key, key) == 0) {
            u_idle_remove(u);
            u->got_bytes = false; /* for this exchange */
            return u;
        }
    }
    return NULL;
}

/* The exchange on |u| is over; keep the connection if it can carry another one. */
static void u_release(uconn_t *u, bool reusable)
{
    proxy_t *p = u->p;
    u->d = NULL;
    size_t same = 0; /* idle connections to the same endpoint: at most nidle */
    for (uconn_t *x = p->idle; x && p->nidle >= p->opt.pool_max_idle_per_endpoint; x = x->idle_next)
        same += x->khash == u->khash && strcmp(x->key, u->key) == 0;
    if (!reusable || p->closing || u->in_len || u->eof || u->dead ||
        p->nidle >= p->opt.pool_max_idle || same >= p->opt.pool_max_idle_per_endpoint) {
        u_kill(u);
        return;
    }
    u_idle_push(u);
    if (u->read_paused) {
        u->read_paused = false;
        net_conn_set_read_paused(u->c, false);
    }
}

static void u_on_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    uconn_t *u = ud;
    (void)c;
    if (!u->d) { /* an idle connection must stay silent */
        u_kill(u);
        return;
    }
    u->got_bytes = true;
    if (buf_add(&u->in, &u->in_len, &u->in_cap, data, len) != PROXY_OK) {
        d_upstream_failed(u->d, 502, "out of memory");
        return;
    }
    u_pump(u);
}

static void u_handle(uconn_t *u, const net_h1_event_t *ev);

static void u_on_eof(net_conn_t *c, void *ud)
{
    uconn_t *u = ud;
    (void)c;
    u->eof = true;
    if (u->d)
        u_pump(u); /* finishes the response (or waits for the client to drain first) */
    else
        u_kill(u);
}

static void u_on_drain(net_conn_t *c, void *ud)
{
    uconn_t *u = ud;
    (void)c;
    if (u->d)
        d_pump(u->d);
}

static void u_on_close(net_conn_t *c, int status, void *ud)
{
    uconn_t *u = ud;
    (void)c;
    proxy_t *p = u->p;
    u_idle_remove(u);
    if (u->d && u->d->phase == PH_TUNNEL) {
        dconn_t *d = u->d;
        d->up = NULL;
        u->d = NULL;
        if (!(d->fin_up && d->fin_down)) /* not a clean end of both directions: abort */
            net_conn_close(d->c, false);
    } else if (u->d) {
        dconn_t *d = u->d;
        d->up = NULL;
        u->d = NULL;
        uconn_t *nu = NULL;
        bool retried = false;
        if (d->retryable && !d->retry && !u->got_bytes && !d->resp_started && !d->ending &&
            !p->closing && d->up_head.len) {
            /* A pooled connection the upstream had closed before our request reached it: the
             * request (no body) is sent once more on a fresh connection. With a route Retry this
             * counts as an attempt instead (below), so that a backend resetting every connection
             * gets exactly 1 + attempts tries. */
            d->retryable = false;
            if ((nu = u_connect(p, &d->ep, u->key))) {
                p->st.upstream_retries++;
                nu->d = d;
                d->up = nu;
                net_h1_parser_set_method(nu->parser, d->head_method ? "HEAD" : "GET");
            }
        }
        if (!nu && !d->resp_started && !d->ending)
            retried = d_retry_attempt(d); /* the route's Retry: a connection error counts */
        if (!nu && !retried)
            d_upstream_failed(d, u->connected ? 502 : 503,
                              u->connected ? "upstream connection closed"
                                           : "upstream connection failed");
    }
    (void)status;
    u_unlink(u);
    net_h1_parser_free(u->parser);
    free(u->in);
    free(u);
    proxy_maybe_finish(p);
}

static void u_on_connect(net_conn_t *c, int status, void *ud)
{
    uconn_t *u = ud;
    if (status != NET_OK || u->dead)
        return; /* on_close follows */
    u->connected = true;
    dconn_t *d = u->d;
    if (!d) {
        u_release(u, true);
        return;
    }
    net_conn_write(c, d->up_head.data, d->up_head.len); /* kept for retries */
    d_pump(d);
}

static const net_conn_raw_callbacks_t u_callbacks = {
    .on_read = u_on_read, .on_eof = u_on_eof, .on_drain = u_on_drain};

static uconn_t *u_connect(proxy_t *p, const proxy_endpoint_t *ep, const char *key)
{
    uconn_t *u = calloc(1, sizeof *u);
    int err;
    if (!u || !(u->parser = net_h1_parser_new(false, NULL, &err))) {
        free(u);
        return NULL;
    }
    u->p = p;
    snprintf(u->key, sizeof u->key, "%s", key);
    u->khash = key_hash(u->key);
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = ep->host;
    cc.port = ep->port;
    cc.tls = ep->tls; /* backend TLS policy */
    cc.server_name = ep->sni;
    cc.conn.handshake_timeout_ms =
        ep->connect_timeout_ms ? ep->connect_timeout_ms : p->opt.upstream_connect_timeout_ms;
    cc.conn.tcp_keepalive_idle_s = ep->ka_idle_s; /* backend_tcp policy */
    cc.conn.tcp_keepalive_interval_s = ep->ka_interval_s;
    cc.conn.tcp_keepalive_probes = ep->ka_probes;
    cc.conn.write_queue_cap = WRITE_CAP;
    cc.raw = u_callbacks;
    cc.ud = u;
    cc.on_connect = u_on_connect;
    cc.on_close = u_on_close; /* also after a failed connect (raw.on_close would not be) */
    u->c = net_client_connect(p->loop, &cc, &err);
    if (!u->c) {
        net_h1_parser_free(u->parser);
        free(u);
        return NULL;
    }
    u->next = p->uconns;
    if (p->uconns)
        p->uconns->prev = u;
    p->uconns = u;
    p->st.upstream_connects++;
    return u;
}

/* ------------------------------------------------------------------------------------------- */
/* Responses */

static void d_write(dconn_t *d, const void *data, size_t len)
{
    if (d->ending || !len)
        return;
    if (!d->st && d->corked) {
        if (net_h1_buf_append(&d->out, data, len) != NET_OK)
            net_conn_close(d->c, false); /* a response cut short: the client sees it aborted */
    } else if (!d->st) {
        net_conn_write(d->c, data, len);
    } else if (!d->h2_ended && net_h2_stream_write(d->st, data, len) != NET_OK) {
        d->h2_ended = true; /* u_pump checked the room first: only a dead stream gets here */
        net_h2_stream_reset(d->st, 0x2);
    }
}

/* HTTP/1.1: writes what d_write collected while corked, and uncorks. */
static void d_flush(dconn_t *d)
{
    d->corked = false;
    if (d->out.len && !d->ending)
        net_conn_write(d->c, d->out.data, d->out.len);
    d->out.len = 0; /* the capacity stays for the next response */
}

/* The downstream side cannot take |len| more bytes now (on_drain / on_writable resume). */
static bool d_backlogged(dconn_t *d, size_t len)
{
    if (d->st) /* before the response head there is nothing to write yet */
        return d->resp_started && !d->h2_ended && !net_h2_stream_can_write(d->st, len ? len : 1);
    return net_conn_write_queued(d->c) + d->out.len >= WRITE_CAP;
}

/* HTTP/2: response headers; |h| without pseudo-headers, names lowercased here. */
static void h2_respond(dconn_t *d, int status, const net_h2_header_t *h, size_t n, bool end)
{
    net_h2_header_t *v = calloc(n + 1, sizeof *v);
    char st[8], *names = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += h[i].name_len + 1;
    names = malloc(total + 1);
    if (!v || !names) {
        free(v);
        free(names);
        net_h2_stream_reset(d->st, 0x2);
        d->h2_ended = true;
        return;
    }
    snprintf(st, sizeof st, "%d", status);
    v[0] = (net_h2_header_t){":status", 7, st, strlen(st)};
    size_t k = 1, off = 0;
    for (size_t i = 0; i < n; i++) {
        char *nm = names + off;
        for (size_t j = 0; j < h[i].name_len; j++)
            nm[j] = (char)((h[i].name[j] >= 'A' && h[i].name[j] <= 'Z') ? h[i].name[j] + 32
                                                                        : h[i].name[j]);
        nm[h[i].name_len] = '\0';
        off += h[i].name_len + 1;
        if (!strcmp(nm, "connection") || !strcmp(nm, "keep-alive") ||
            !strcmp(nm, "transfer-encoding") || !strcmp(nm, "upgrade") ||
            !strcmp(nm, "proxy-connection"))
            continue;
        v[k++] = (net_h2_header_t){nm, h[i].name_len, h[i].value, h[i].value_len};
    }
    if (net_h2_stream_respond(d->st, v, k, end) != NET_OK) {
        net_h2_stream_reset(d->st, 0x2);
        end = true;
    }
    if (end)
        d->h2_ended = true;
    free(v);
    free(names);
}

/* The exchange gives its HTTP/2 upstream stream up (no callback follows). */
static void d_x2_cancel(dconn_t *d)
{
    if (d->x2) {
        proxy_h2x_cancel(d->x2);
        d->x2 = NULL;
    }
}

static void x2_req_clear(dconn_t *d)
{
    free(d->x2_req);
    d->x2_req = NULL;
    d->nx2_req = 0;
}

static void d_end(dconn_t *d)
{
    if (d->ending)
        return;
    if (!d->st)
        d_flush(d);
    d->ending = true;
    d_timer_stop(d);
    d_x2_cancel(d);
    if (d->up) {
        uconn_t *u = d->up;
        d->up = NULL;
        u_detach_kill(u);
    }
    proxy_snapshot_release(d->snap);
    d->snap = NULL;
    net_conn_end(d->c);
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

static void timer_dispose(uv_timer_t **t)
{
    if (!*t)
        return;
    (*t)->data = NULL;
    uv_close((uv_handle_t *)*t, timer_closed);
    *t = NULL;
}

static void d_timer_dispose(dconn_t *d)
{
    timer_dispose(&d->timer);
    timer_dispose(&d->try_timer);
    timer_dispose(&d->wait_timer);
}

static void d_timer_stop(dconn_t *d)
{
    if (d->timer)
        uv_timer_stop(d->timer);
    if (d->try_timer)
        uv_timer_stop(d->try_timer);
    if (d->wait_timer)
        uv_timer_stop(d->wait_timer);
    d->retry_wait = false;
}

static void on_timeout(uv_timer_t *t)
{
    dconn_t *d = t->data;
    if (!d || d->ending)
        return;
    if (d->st && d->h2_ended)
        return;
    d->keep_alive = false; /* the request's bytes may still be arriving */
    d_upstream_failed(d, 504, "the route's timeout expired");
}

/* Starts the per-try timer: |cb| after |ms|. Returns false when it cannot be allocated. */
static bool d_try_timer_start(dconn_t *d, uint64_t ms, uv_timer_cb cb)
{
    if (!d->try_timer) {
        if (!(d->try_timer = malloc(sizeof *d->try_timer)))
            return false;
        uv_timer_init(d->p->loop, d->try_timer);
    }
    d->try_timer->data = d;
    uv_timer_start(d->try_timer, cb, ms, 0);
    return true;
}

static void d_timer_start_cb(dconn_t *d, uint64_t ms, uv_timer_cb cb)
{
    if (!d->timer) {
        if (!(d->timer = malloc(sizeof *d->timer)))
            return;
        uv_timer_init(d->p->loop, d->timer);
    }
    d->timer->data = d;
    uv_timer_start(d->timer, cb, ms, 0);
}

static void d_timer_start(dconn_t *d, uint64_t ms)
{
    d_timer_start_cb(d, ms, on_timeout);
}

/* HTTP/1.1 waiting for a request head: nothing of it came for idle_ms (closed without an
 * answer, as nginx and hyper do), or the head did not complete within header_ms of its first byte
 * (a slow client, or slowloris: 408 and close). */
static void on_body_wait(dconn_t *d);
static void on_wait_timeout(uv_timer_t *t);

/* libuv runs due timers before it polls: after a loop turn that took long (an overloaded proxy),
 * bytes that came in time may still be unread when a deadline fires. So a deadline is acted on
 * only when it is still due one turn later, after a poll: a read in between re-arms the timer
 * (d_wait_arm, on_body_wait) or completes the head (the timer stops). Returns: act now. */
static bool d_wait_due(dconn_t *d)
{
    if (d->wait_confirm) {
        d->wait_confirm = false;
        return true;
    }
    d->wait_confirm = true;
    uv_timer_start(d->wait_timer, on_wait_timeout, 1, 0); /* 1 ms: not in this timer pass */
    return false;
}

static void on_wait_timeout(uv_timer_t *t)
{
    dconn_t *d = t->data;
    if (!d || d->ending || d->phase == PH_TUNNEL)
        return;
    if (d->phase != PH_HEAD) {
        on_body_wait(d);
        return;
    }
    if (!d_wait_due(d))
        return;
    if (!d->head_started) {
        d->p->st.client_idle_closed++;
        d_end(d);
        return;
    }
    d->p->st.client_header_timeouts++;
    net_h1_buf_t b = {0};
    char why[96];
    snprintf(why, sizeof why, "the request head did not arrive within %llu ms",
             (unsigned long long)d->header_ms);
    if (net_h1_error_write(&b, 408, why, NULL, 0) == NET_OK)
        d_write(d, b.data, b.len);
    net_h1_buf_dispose(&b);
    count_status(d, 408);
    d_end(d);
}

/* A request body is on its way: it stalled when no byte came for body_ms while the proxy was
 * ready for more (nothing left unparsed, reading not paused: a slow upstream that holds the
 * body back is not the client's fault). The timer is re-armed from the last read's time rather
 * than on every read. */
static void on_body_wait(dconn_t *d)
{
    if (d->req_done)
        return;
    uint64_t idle = uv_now(d->p->loop) - d->t_read;
    bool ours = d->in_len > 0 || d->read_paused; /* the proxy is the one behind */
    if (ours || idle < d->body_ms) {
        d->wait_confirm = false;
        uv_timer_start(d->wait_timer, on_wait_timeout, ours ? d->body_ms : d->body_ms - idle, 0);
        return;
    }
    if (!d_wait_due(d))
        return;
    d->p->st.client_body_timeouts++;
    d->keep_alive = false;
    char why[96];
    snprintf(why, sizeof why, "no byte of the request body for %llu ms",
             (unsigned long long)d->body_ms);
    d_upstream_failed(d, 408, why); /* 408 and close, or an abort once the response started */
}

/* The connection's deadline timer (allocated on first use). Returns: false when it cannot be
 * allocated: no deadline for this connection, the lesser evil than failing it. */
static bool d_wait_timer(dconn_t *d)
{
    if (!d->wait_timer && (d->wait_timer = malloc(sizeof *d->wait_timer))) {
        uv_timer_init(d->p->loop, d->wait_timer);
        d->wait_timer->data = d;
    }
    return d->wait_timer != NULL;
}

/* (Re)arms the PH_HEAD deadline: header_ms once a byte of the head is there, else idle_ms. */
static void d_wait_arm(dconn_t *d)
{
    uint64_t ms = d->head_started ? d->header_ms : d->idle_ms;
    d->wait_confirm = false;
    if (!ms) {
        if (d->wait_timer)
            uv_timer_stop(d->wait_timer);
        return;
    }
    if (d_wait_timer(d))
        uv_timer_start(d->wait_timer, on_wait_timeout, ms, 0);
}

/* A tunnel that carried no byte either way for tunnel_idle_timeout_ms is closed; the timer is
 * re-armed from the last byte's time rather than on every read. */
static void on_tunnel_idle(uv_timer_t *t)
{
    dconn_t *d = t->data;
    if (!d || d->ending || d->phase != PH_TUNNEL)
        return;
    uint64_t now = uv_now(d->p->loop), limit = d->p->opt.tunnel_idle_timeout_ms;
    if (now - d->t_active < limit) {
        uv_timer_start(t, on_tunnel_idle, limit - (now - d->t_active), 0);
        return;
    }
    d->p->st.tunnels_idle_closed++;
    fprintf(stderr, "proxy: upgraded connection from %s: no byte either way for %llu ms: closing\n",
            net_conn_peer(d->c), (unsigned long long)limit);
    net_conn_close(d->c, false);
}

/* A response the proxy makes itself, with |extra| fields (may be NULL; the first 8 are sent). */
static void d_local_hdrs(dconn_t *d, int status, const char *location, const uint8_t *body,
                         size_t blen, bool close, const proxy_headers_t *extra)
{
    net_h2_header_t h[4 + 8 + 8];
    size_t n = 0;
    char cl[32];
    snprintf(cl, sizeof cl, "%zu", blen);
    h[n++] = NET_H2_HDR("content-type", "text/plain; charset=utf-8");
    h[n++] = NET_H2_HDR("content-length", cl);
    if (location)
        h[n++] = NET_H2_HDR("location", location);
    for (size_t i = 0; i < d->cors.n && i < 8; i++) /* proxy_cors_eval sets at most 7 */
        h[n++] = (net_h2_header_t){d->cors.v[i].name, strlen(d->cors.v[i].name), d->cors.v[i].value,
                                   strlen(d->cors.v[i].value)};
    for (size_t i = 0; extra && i < extra->n && i < 8; i++)
        h[n++] = (net_h2_header_t){extra->v[i].name, strlen(extra->v[i].name), extra->v[i].value,
                                   strlen(extra->v[i].value)};
    if (d->st) {
        if (d->h2_ended)
            return;
        bool nobody = d->head_method || blen == 0;
        h2_respond(d, status, h, n, nobody);
        if (!nobody) {
            d_write(d, body, blen);
            if (!d->h2_ended)
                net_h2_stream_end(d->st, NULL, 0);
            d->h2_ended = true;
        }
        count_status(d, status);
        d->resp_started = true;
        d->phase = PH_LOCAL; /* the rest of the request body is dropped */
        proxy_snapshot_release(d->snap);
        d->snap = NULL;
        (void)close;
        return;
    }
    if (close || !d->keep_alive)
        h[n++] = NET_H2_HDR("connection", "close");
    net_h1_buf_t b = {0};
    if (net_h1_response_write(&b, status, NULL, h, n) == NET_OK) {
        d_write(d, b.data, b.len);
        if (!d->head_method)
            d_write(d, body, blen);
    }
    net_h1_buf_dispose(&b);
    count_status(d, status);
    d->resp_started = true;
    if (close || !d->keep_alive) {
        d_end(d);
        return;
    }
    d->phase = PH_LOCAL;
}

static void d_local(dconn_t *d, int status, const char *location, const uint8_t *body, size_t blen,
                    bool close)
{
    d_local_hdrs(d, status, location, body, blen, close, NULL);
}

/* The answer a policy decided (authentication, rate limit, backend not served). */
static void d_policy_answer(dconn_t *d, proxy_policy_result_t *pr, bool close)
{
    d_local_hdrs(d, pr->status, NULL, (const uint8_t *)pr->body, strlen(pr->body), close,
                 &pr->headers);
    proxy_policy_result_dispose(pr);
}

static void d_local_text(dconn_t *d, int status, const char *text, bool close)
{
    char body[600];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, net_h1_status_reason(status), text);
    d_local(d, status, NULL, (const uint8_t *)body, n > 0 ? (size_t)n : 0, close);
}

/* A request or backend redirect filter's answer: 3xx with the Location built from |url|.
 * Borrows: r, url. */
static void d_redirect(dconn_t *d, const Agentgateway__Dev__Resource__RequestRedirect *r,
                       const proxy_url_t *url, bool close)
{
    char loc[4096];
    int status;
    if (proxy_redirect_location(r, url, loc, sizeof loc, &status) != PROXY_OK)
        d_local_text(d, 500, "redirect location too long", close);
    else
        d_local(d, status, loc, NULL, 0, close);
}

static void d_upstream_failed(dconn_t *d, int status, const char *why)
{
    if (d->try_timer) /* no further try */
        uv_timer_stop(d->try_timer);
    d->retry_wait = false;
    d_x2_cancel(d);
    if (d->up) {
        uconn_t *u = d->up;
        d->up = NULL;
        u_detach_kill(u);
    }
    if (d->ending)
        return;
    if (!d->resp_started)
        d_local_text(d, status, why, true);
    else if (d->st) {
        if (!d->h2_ended)
            net_h2_stream_reset(d->st, 0x2); /* a response is half sent: abort the stream */
        d->h2_ended = true;
    } else {
        d->out.len = 0;
        d->corked = false;
        net_conn_close(d->c, false); /* a response is half sent: abort */
    }
}

/* A response head from either upstream kind: HTTP/1.1 (net_h1_message_t) or HTTP/2. */
typedef struct xresp {
    int status;
    const char *reason; /* NULL: the standard phrase */
    const net_h2_header_t *headers;
    size_t nheaders;
    int64_t content_length; /* -1: none */
    bool chunked, has_body;
} xresp_t;

static void d_response_head_x(dconn_t *d, const xresp_t *m, bool from_h1);

static void d_response_head(dconn_t *d, const net_h1_message_t *hm)
{
    xresp_t x = {hm->status,         hm->reason,  hm->headers,  hm->nheaders,
                 hm->content_length, hm->chunked, hm->has_body};
    d_response_head_x(d, &x, true); /* fields as net/h1.c parsed them: no NUL inside */
}

/* The most common HTTP/1.1 response: no header modifier, no CORS field, a head of at most
 * FAST_FIELDS fields from an HTTP/1.1 upstream. Writes the same fields in the same order as
 * d_response_head_x's general path (the fields it sets after the copy are all hop-by-hop, hence
 * dropped from the copy and appended), without copying each one into a proxy_headers_t
 * (two allocations per field) and a view of it. */
#define FAST_FIELDS 64
static void d_response_head_fast(dconn_t *d, const xresp_t *m)
{
    net_h2_header_t v[FAST_FIELDS + 2];
    size_t n = 0;
    hop_list_t hl;
    hop_list_init(&hl, m->headers, m->nheaders);
    for (size_t i = 0; i < m->nheaders; i++) {
        if (hop_by_hop(&hl, m->headers[i].name, m->headers[i].name_len, true))
            continue;
        v[n++] = m->headers[i];
    }
    char cl[32];
    d->resp_chunked = false;
    if (m->content_length >= 0 && !m->chunked) {
        dec_write(cl, (uint64_t)m->content_length);
        v[n++] = (net_h2_header_t){"content-length", 14, cl, strlen(cl)};
    } else if (m->has_body) {
        if (d->minor >= 1) {
            v[n++] = (net_h2_header_t){"transfer-encoding", 17, "chunked", 7};
            d->resp_chunked = true;
        } else {
            d->keep_alive = false; /* HTTP/1.0: the body ends with the connection */
        }
    }
    if (!d->keep_alive)
        v[n++] = (net_h2_header_t){"connection", 10, "close", 5};
    /* corked: the head goes out with the body bytes at hand (u_pump flushes) */
    d->corked = true;
    if (net_h1_response_write(&d->out, m->status, m->reason, v, n) == NET_OK) {
        d->resp_started = true;
        count_status(d, m->status);
    } else {
        d->corked = false;
        d_upstream_failed(d, 502, "upstream response head cannot be forwarded");
    }
}

static void d_response_head_x(dconn_t *d, const xresp_t *m, bool from_h1)
{
    if (from_h1 && !d->st && !d->resp_mod[0] && !d->resp_mod[1] && d->cors.n == 0 &&
        m->nheaders <= FAST_FIELDS) {
        d_response_head_fast(d, m);
        return;
    }
    proxy_headers_t h = {0};
    hop_list_t hl;
    hop_list_init(&hl, m->headers, m->nheaders);
    for (size_t i = 0; i < m->nheaders; i++) {
        if (hop_by_hop(&hl, m->headers[i].name, m->headers[i].name_len, true))
            continue;
        proxy_headers_add(&h, m->headers[i].name, m->headers[i].value, m->headers[i].value_len);
    }
    proxy_headers_modify(&h, d->resp_mod[0]);
    proxy_headers_modify(&h, d->resp_mod[1]);
    for (size_t i = 0; i < d->cors.n; i++)
        proxy_headers_set(&h, d->cors.v[i].name, d->cors.v[i].value);
    char cl[32];
    d->resp_chunked = false;
    if (m->content_length >= 0 && !m->chunked) {
        dec_write(cl, (uint64_t)m->content_length);
        proxy_headers_set(&h, "content-length", cl);
    } else if (m->has_body) {
        if (d->minor >= 1) {
            proxy_headers_set(&h, "transfer-encoding", "chunked");
            d->resp_chunked = true;
        } else {
            d->keep_alive = false; /* HTTP/1.0: the body ends with the connection */
        }
    }
    if (!d->keep_alive && !d->st)
        proxy_headers_set(&h, "connection", "close");
    if (d->st) {
        d->resp_chunked = false;
        proxy_headers_remove(&h, "transfer-encoding");
        net_h2_header_t *hv = headers_view(&h);
        if (hv)
            h2_respond(d, m->status, hv, h.n, !m->has_body);
        free(hv);
        proxy_headers_dispose(&h);
        d->resp_started = true;
        count_status(d, m->status);
        return;
    }
    net_h2_header_t *v = headers_view(&h);
    /* corked: the head goes out with the body bytes at hand (u_pump flushes) */
    d->corked = true;
    if (v && net_h1_response_write(&d->out, m->status, m->reason, v, h.n) == NET_OK) {
        d->resp_started = true;
        count_status(d, m->status);
    } else {
        free(v);
        proxy_headers_dispose(&h);
        d->corked = false;
        d_upstream_failed(d, 502, "upstream response head cannot be forwarded");
        return;
    }
    free(v);
    proxy_headers_dispose(&h);
}

static void u_handle(uconn_t *u, const net_h1_event_t *ev)
{
    dconn_t *d = u->d;
    const net_h1_message_t *m;
    switch (ev->kind) {
    case NET_H1_EV_HEAD:
        m = net_h1_parser_message(u->parser);
        if (m->status < 200 && m->status != 101)
            return; /* interim: we answered Expect ourselves */
        if (m->status == 101) {
            if (!d->upgrade || d->st)
                d_upstream_failed(d, 502, "upstream switched protocols unasked");
            else
                d_tunnel_start(d, m);
            return;
        }
        if (d->retry && d->retries_left > 0 && d->req_done) {
            bool listed = false;
            for (size_t i = 0; i < d->retry->n_retry_status_codes; i++)
                listed |= d->retry->retry_status_codes[i] == m->status;
            if (listed) { /* drop this answer and its connection; try again */
                d->up = NULL;
                u_detach_kill(u);
                if (!d_retry_attempt(d))
                    d_upstream_failed(d, 502, "retry could not be sent");
                return;
            }
        }
        d_response_head(d, m);
        return;
    case NET_H1_EV_BODY:
        if (d->resp_chunked && d->corked) {
            if (net_h1_chunk_write(&d->out, ev->data, ev->len) != NET_OK)
                d_upstream_failed(d, 502, "out of memory");
        } else if (d->resp_chunked) {
            net_h1_buf_t b = {0};
            if (net_h1_chunk_write(&b, ev->data, ev->len) == NET_OK)
                d_write(d, b.data, b.len);
            net_h1_buf_dispose(&b);
        } else {
            d_write(d, ev->data, ev->len);
        }
        return;
    case NET_H1_EV_END: {
        m = net_h1_parser_message(u->parser);
        if (m->status < 200)
            return;
        if (d->resp_chunked) {
            d->corked = true;
            if (net_h1_chunk_write_last(&d->out, NULL, 0) != NET_OK) {
                d_upstream_failed(d, 502, "out of memory");
                return;
            }
        }
        bool reusable = m->keep_alive && d->req_done;
        d->up = NULL;
        u_release(u, reusable);
        d_exchange_done(d);
        return;
    }
    case NET_H1_EV_ERROR:
        d_upstream_failed(d, 502, net_h1_parser_error(u->parser));
        return;
    default:
        return;
    }
}

static void u_pump(uconn_t *u)
{
    if (u->pumping)
        return;
    u->pumping = true;
    while (u->d && !u->dead) {
        dconn_t *d = u->d;
        if (d->phase == PH_TUNNEL) {
            t_down(u);
            break;
        }
        if (d_backlogged(d, u->in_len)) {
            if (!u->read_paused) {
                u->read_paused = true;
                net_conn_set_read_paused(u->c, true);
            }
            break; /* d_on_drain resumes */
        }
        net_h1_event_t ev;
        size_t used = net_h1_parser_feed(u->parser, u->in, u->in_len, &ev);
        if (ev.kind == NET_H1_EV_NEED_MORE || ev.kind == NET_H1_EV_DONE) {
            consume(u->in, &u->in_len, used);
            if (u->eof && u->d) {
                net_h1_parser_finish(u->parser, &ev);
                u_handle(u, &ev); /* END of a close-delimited body, or ERROR */
                if (u->d)
                    u_kill(u); /* u_on_close answers the exchange */
            }
            break;
        }
        if (ev.kind == NET_H1_EV_BODY) {
            u_handle(u, &ev); /* points into u->in: consume after */
            consume(u->in, &u->in_len, used);
        } else {
            consume(u->in, &u->in_len, used);
            u_handle(u, &ev);
        }
        if (ev.kind == NET_H1_EV_ERROR)
            break;
    }
    if (u->d && !u->d->st)
        d_flush(u->d); /* what this input produced, in one write */
    if (u->d && u->d->phase == PH_TUNNEL) {
        u->pumping = false;
        return;
    }
    if (u->eof && !u->d)
        u_kill(u);
    if (u->d && u->read_paused && !d_backlogged(u->d, u->in_len)) {
        u->read_paused = false;
        net_conn_set_read_paused(u->c, false);
    }
    u->pumping = false;
}

/* ------------------------------------------------------------------------------------------- */
/* Tunnel: after a 101 to an Upgrade request (WebSocket), the client and upstream connections
 * carry bytes both ways, unparsed. Each direction writes what it read to the other side and
 * stops reading while the other side's write queue is over WRITE_CAP (on_drain resumes), so a
 * tunnel holds at most a read plus a write queue per direction. A FIN is passed on as a
 * half-close (net_conn_shutdown) once the bytes before it are out, and the other
 * direction keeps flowing; a connection closes by itself when both directions are done, and a
 * reset or close of either side before that aborts the other. */

static void d_tunnel_start(dconn_t *d, const net_h1_message_t *m)
{
    d_timer_stop(d);
    proxy_headers_t h = {0};
    int rc = PROXY_OK;
    hop_list_t hl;
    hop_list_init(&hl, m->headers, m->nheaders);
    for (size_t i = 0; i < m->nheaders && rc == PROXY_OK; i++)
        if (!hop_by_hop(&hl, m->headers[i].name, m->headers[i].name_len, false))
            rc = proxy_headers_add(&h, m->headers[i].name, m->headers[i].value,
                                   m->headers[i].value_len);
    const net_h2_header_t *uh = net_h2_header_find(m->headers, m->nheaders, "upgrade");
    if (rc == PROXY_OK)
        rc = proxy_headers_modify(&h, d->resp_mod[0]);
    if (rc == PROXY_OK)
        rc = proxy_headers_modify(&h, d->resp_mod[1]);
    if (rc == PROXY_OK)
        rc = proxy_headers_set(&h, "connection", "upgrade");
    if (rc == PROXY_OK && uh)
        rc = proxy_headers_set(&h, "upgrade", uh->value);
    net_h2_header_t *v = rc == PROXY_OK ? headers_view(&h) : NULL;
    d->corked = true;
    if (!v || net_h1_response_write(&d->out, 101, m->reason, v, h.n) != NET_OK) {
        free(v);
        proxy_headers_dispose(&h);
        d->corked = false;
        d->out.len = 0;
        d_upstream_failed(d, 502, "upstream 101 response cannot be forwarded");
        return;
    }
    free(v);
    proxy_headers_dispose(&h);
    d_flush(d);
    count_status(d, 101);
    d->resp_started = true;
    d->phase = PH_TUNNEL;
    /* the route's timeouts end with the 101; the tunnel has its idle deadline instead */
    d_timer_stop(d);
    d->t_active = uv_now(d->p->loop);
    if (d->p->opt.tunnel_idle_timeout_ms)
        d_timer_start_cb(d, d->p->opt.tunnel_idle_timeout_ms, on_tunnel_idle);
    proxy_snapshot_release(d->snap);
    d->snap = NULL;
    /* client bytes that came after the request are tunnel bytes already */
    t_up(d);
}

static void t_set_paused(net_conn_t *c, bool *paused, bool want)
{
    if (*paused != want) {
        *paused = want;
        net_conn_set_read_paused(c, want);
    }
}

/* Upstream → client. */
static void t_down(uconn_t *u)
{
    dconn_t *d = u->d;
    if (u->in_len)
        d->t_active = uv_now(d->p->loop);
    if (u->in_len && !d->ending && !d->fin_down)
        net_conn_write(d->c, u->in, u->in_len);
    u->in_len = 0;
    t_set_paused(u->c, &u->read_paused, net_conn_write_queued(d->c) >= WRITE_CAP);
    if (u->eof && !d->fin_down) {
        d->fin_down = true;
        if (net_conn_shutdown(d->c) != NET_OK)
            d_end(d); /* cannot half-close: end it whole */
    }
}

/* Client → upstream. */
static void t_up(dconn_t *d)
{
    uconn_t *u = d->up;
    if (!u || u->dead)
        return;
    if (d->in_len)
        d->t_active = uv_now(d->p->loop);
    if (d->in_len && !d->fin_up)
        net_conn_write(u->c, d->in, d->in_len);
    d->in_len = 0;
    t_set_paused(d->c, &d->read_paused, net_conn_write_queued(u->c) >= WRITE_CAP);
    if (d->eof && !d->fin_up) {
        d->fin_up = true;
        if (net_conn_shutdown(u->c) != NET_OK) {
            d->up = NULL;
            u_detach_kill(u);
        }
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Requests */

static void d_exchange_done(dconn_t *d)
{
    x2_req_clear(d);
    if (!d->st)
        d_flush(d);
    d_timer_stop(d);
    d->route_key = NULL;
    d->t_routed = 0;
    proxy_headers_dispose(&d->cors);
    proxy_snapshot_release(d->snap);
    d->snap = NULL;
    if (d->st) {
        if (!d->h2_ended)
            net_h2_stream_end(d->st, NULL, 0);
        d->h2_ended = true;
        d->phase = PH_LOCAL; /* done: whatever else arrives is dropped */
        net_h1_buf_dispose(&d->up_head);
        return;
    }
    d->resp_started = false;
    d->resp_chunked = false;
    d->up_head.len = 0; /* the capacity stays for the next request */
    if (!d->req_done || !d->keep_alive || d->eof || d->p->closing) {
        d_end(d);
        return;
    }
    d->phase = PH_HEAD;
    d->head_started = d->in_len > 0; /* a pipelined request is already arriving */
    d_wait_arm(d);
    d_pump(d);
}

/* A request head, from HTTP/1.1 (net_h1_message_t) or HTTP/2 (pseudo-headers). */
typedef struct xreq {
    const char *method, *target, *host;
    const net_h2_header_t *headers; /* without pseudo-headers */
    size_t nheaders;
    int64_t content_length; /* -1: none */
    bool chunked;           /* forward the body chunked */
    bool has_body, expect_continue;
    const char *upgrade; /* HTTP/1.1 Upgrade request: the Upgrade value (forwarded with it) */
} xreq_t;

static void x_start(dconn_t *d, const xreq_t *m);

static void d_on_head(dconn_t *d)
{
    const net_h1_message_t *hm = net_h1_parser_message(d->parser);
    d->head_started = false;
    if (d->wait_timer)
        uv_timer_stop(d->wait_timer);
    d->wait_confirm = false;
    if (hm->has_body && d->body_ms && !hm->upgrade && d_wait_timer(d)) {
        d->t_read = uv_now(d->p->loop); /* the body deadline (on_body_wait) */
        uv_timer_start(d->wait_timer, on_wait_timeout, d->body_ms, 0);
    }
    d->p->st.requests++;
    d->minor = hm->minor_version;
    d->keep_alive = hm->keep_alive;
    d->head_method = strcmp(hm->method, "HEAD") == 0;
    d->req_done = false;
    d->resp_started = false;
    const net_h2_header_t *uh = net_h2_header_find(hm->headers, hm->nheaders, "upgrade");
    if (hm->upgrade && (!uh || strcmp(hm->method, "CONNECT") == 0)) {
        d_local_text(d, 501, "CONNECT is not supported", true);
        return;
    }
    d->upgrade = hm->upgrade;
    if (d->upgrade) /* declined (no 101): the parser cannot go on, the connection ends */
        d->keep_alive = false;
    const net_h2_header_t *hh = net_h2_header_find(hm->headers, hm->nheaders, "host");
    xreq_t x = {hm->method,      hm->target,   hh ? hh->value : NULL,
                hm->headers,     hm->nheaders, hm->content_length,
                hm->chunked,     hm->has_body, hm->expect_continue,
                hm->upgrade ? uh->value : NULL};
    x_start(d, &x);
}

static void mirror_connect(net_conn_t *c, int status, void *ud)
{
    mirror_t *m = ud;
    if (status == NET_OK)
        net_conn_write(c, m->head.data, m->head.len);
}

static void mirror_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    (void)c;
    (void)data;
    (void)len;
    (void)ud; /* the mirror's answer is dropped; it closes after it (Connection: close) */
}

static void mirror_close(net_conn_t *c, int status, void *ud)
{
    mirror_t *m = ud;
    proxy_t *p = m->p;
    (void)c;
    (void)status;
    if (m->prev)
        m->prev->next = m->next;
    else
        p->mirrors = m->next;
    if (m->next)
        m->next->prev = m->prev;
    net_h1_buf_dispose(&m->head);
    free(m);
    proxy_maybe_finish(p);
}

/* Sends a copy of a request without body to each mirror (percentage drawn per request). */
static void mirrors_send(dconn_t *d, const Agentgateway__Dev__Resource__RequestMirrors *ms,
                         const char *method, const char *target, const net_h2_header_t *v, size_t n)
{
    proxy_t *p = d->p;
    for (size_t i = 0; ms && i < ms->n_mirrors; i++) {
        const Agentgateway__Dev__Resource__RequestMirrors__Mirror *mr = ms->mirrors[i];
        if (mr->percentage < 100.0 &&
            (double)(proxy_lb_random(&p->lb) % 1000000u) >= mr->percentage * 10000.0)
            continue;
        Agentgateway__Dev__Resource__RouteBackend rb =
            AGENTGATEWAY__DEV__RESOURCE__ROUTE_BACKEND__INIT;
        rb.backend = mr->backend;
        proxy_endpoint_t ep;
        if (proxy_upstream_resolve(d->snap, &rb, &p->lb, &ep, NULL, 0) != PROXY_OK)
            continue;
        mirror_t *m = calloc(1, sizeof *m);
        net_h2_header_t *hv = calloc(n + 1, sizeof *hv);
        if (!m || !hv) {
            free(m);
            free(hv);
            continue;
        }
        memcpy(hv, v, n * sizeof *hv);
        hv[n] = NET_H2_HDR("connection", "close");
        if (net_h1_request_write(&m->head, method, target, hv, n + 1) != NET_OK) {
            free(hv);
            free(m);
            continue;
        }
        free(hv);
        m->p = p;
        net_client_config_t cc;
        net_client_config_default(&cc);
        cc.host = ep.host;
        cc.port = ep.port;
        cc.conn.handshake_timeout_ms = p->opt.upstream_connect_timeout_ms;
        cc.raw = (net_conn_raw_callbacks_t){.on_read = mirror_read};
        cc.ud = m;
        cc.on_connect = mirror_connect;
        cc.on_close = mirror_close;
        int err;
        if (!(m->c = net_client_connect(p->loop, &cc, &err))) {
            net_h1_buf_dispose(&m->head);
            free(m);
            continue;
        }
        m->next = p->mirrors;
        if (p->mirrors)
            p->mirrors->prev = m;
        p->mirrors = m;
    }
}

/* timeouts.backendRequest expired for the try in flight: another try while the route's Retry
 * allows one and no response has started, else 504. */
static void on_try_timeout(uv_timer_t *t)
{
    dconn_t *d = t->data;
    if (!d || d->ending || d->retry_wait || (d->st && d->h2_ended))
        return;
    if (!d->resp_started && d->req_done && (d->up || d->x2)) {
        uconn_t *u = d->up;
        d->up = NULL;
        if (u)
            u_detach_kill(u);
        d_x2_cancel(d);
        if (d_retry_attempt(d))
            return;
    }
    d->keep_alive = false;
    d_upstream_failed(d, 504, "the backend request timeout expired");
}

/* ------------------------------------------------------------------------------------------- */
/* HTTP/2 upstreams (upstream_h2.c): the exchange's side of the callbacks */

static bool retry_listed(const dconn_t *d, int status)
{
    for (size_t i = 0; d->retry && i < d->retry->n_retry_status_codes; i++)
        if (d->retry->retry_status_codes[i] == status)
            return true;
    return false;
}

static void x2_on_head(void *ud, int status, const net_h2_header_t *h, size_t n, bool end)
{
    dconn_t *d = ud;
    if (d->retries_left > 0 && d->req_done && retry_listed(d, status)) {
        d_x2_cancel(d); /* drop this answer (the stream is reset); try again */
        if (!d_retry_attempt(d))
            d_upstream_failed(d, 502, "retry could not be sent");
        return;
    }
    const net_h2_header_t *clh = net_h2_header_find(h, n, "content-length");
    int64_t cl = -1;
    if (clh) {
        char *e;
        long long v = strtoll(clh->value, &e, 10);
        cl = (*e == '\0' && v >= 0) ? v : -1;
    }
    bool body = !end && !d->head_method && status != 204 && status != 304;
    if (!body && cl < 0 && !d->head_method && status != 204 && status != 304)
        cl = 0; /* an HTTP/1.1 client needs framing for the empty body */
    xresp_t x = {status, NULL, h, n, cl, false, body};
    d_response_head_x(d, &x, false);
}

static size_t x2_on_data(void *ud, const uint8_t *data, size_t len)
{
    dconn_t *d = ud;
    if (d->ending || (d->st && d->h2_ended))
        return len; /* nobody to give them to: dropped */
    if (d->st) {
        int rc = net_h2_stream_write(d->st, data, len);
        if (rc == NET_EAGAIN)
            return 0; /* refused: h2_on_writable resumes */
        if (rc != NET_OK) {
            d->h2_ended = true;
            net_h2_stream_reset(d->st, 0x2);
        }
        return len;
    }
    if (net_conn_write_queued(d->c) >= WRITE_CAP)
        return 0; /* d_on_drain resumes */
    if (d->resp_chunked) {
        d->corked = true;
        if (net_h1_chunk_write(&d->out, data, len) != NET_OK) {
            d_upstream_failed(d, 502, "out of memory");
            return len;
        }
    } else {
        d_write(d, data, len);
    }
    d_flush(d); /* the head (corked) and these bytes in one write */
    return len;
}

static void x2_on_end(void *ud, const net_h2_header_t *trailers, size_t n)
{
    dconn_t *d = ud;
    d->x2 = NULL;
    if (d->ending)
        return;
    if (d->st) {
        if (!d->h2_ended && net_h2_stream_end(d->st, trailers, n) != NET_OK)
            net_h2_stream_reset(d->st, 0x2);
        d->h2_ended = true;
    } else if (d->resp_chunked) {
        d->corked = true;
        if (net_h1_chunk_write_last(&d->out, trailers, n) != NET_OK) {
            d_upstream_failed(d, 502, "out of memory");
            return;
        }
    }
    d_exchange_done(d);
}

static void x2_on_error(void *ud, int status, const char *why)
{
    dconn_t *d = ud;
    d->x2 = NULL;
    if (!d->resp_started && !d->ending && d_retry_attempt(d)) /* a failed try counts */
        return;
    d_upstream_failed(d, status, why);
}

static void x2_on_writable(void *ud)
{
    d_pump(ud);
}

static const proxy_h2x_callbacks_t x2_callbacks = {.on_head = x2_on_head,
                                                   .on_data = x2_on_data,
                                                   .on_end = x2_on_end,
                                                   .on_error = x2_on_error,
                                                   .on_writable = x2_on_writable};

/* Starts the request on an HTTP/2 upstream: pseudo-headers, then the (modified) fields with
 * lowercase names; the body framing is HTTP/2's own (no Transfer-Encoding); `te: trailers` is
 * kept when the client sent it (gRPC servers require it). Returns the exchange or NULL. */
static proxy_h2x_t *x2_start(dconn_t *d, const xreq_t *m, const char *target,
                             const char *authority, proxy_headers_t *h, const proxy_endpoint_t *ep,
                             bool keep)
{
    net_h2_header_t *v = calloc(h->n + 6, sizeof *v);
    if (!v)
        return NULL;
    size_t n = 0;
    v[n++] = (net_h2_header_t){":method", 7, m->method, strlen(m->method)};
    v[n++] = ep->tls ? NET_H2_HDR(":scheme", "https") : NET_H2_HDR(":scheme", "http");
    v[n++] = (net_h2_header_t){":authority", 10, authority, strlen(authority)};
    v[n++] = (net_h2_header_t){":path", 5, target, strlen(target)};
    for (size_t i = 0; i < h->n; i++) {
        for (char *c = h->v[i].name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        if (strcmp(h->v[i].name, "transfer-encoding") == 0)
            continue;
        v[n++] = (net_h2_header_t){h->v[i].name, strlen(h->v[i].name), h->v[i].value,
                                   strlen(h->v[i].value)};
    }
    const net_h2_header_t *te = net_h2_header_find(m->headers, m->nheaders, "te");
    if (te && strstr(te->value, "trailers"))
        v[n++] = NET_H2_HDR("te", "trailers");
    proxy_h2x_t *x = proxy_h2x_start(d->p->h2pool, ep, v, n, !m->has_body, &x2_callbacks, d);
    x2_req_clear(d);
    if (x && keep && (d->x2_req = net_h2_headers_copy(v, n))) /* no copy: no retry */
        d->nx2_req = n;
    free(v);
    return x;
}

/* The pool key: TLS connections (per backend TLS context, which also fixes the SNI: both come
 * from one policy) never mix with plaintext ones, nor connections with different TCP keepalive
 * settings (a backend_tcp policy). The connect timeout is not part of it: it no longer matters
 * once connected. */
static void ep_key(const proxy_endpoint_t *ep, char *key, size_t cap)
{
    if (ep->tls || ep->ka_idle_s)
        snprintf(key, cap, "%s:%u/tls/%p/ka/%u/%u/%u", ep->host, (unsigned)ep->port,
                 (void *)ep->tls, (unsigned)ep->ka_idle_s, (unsigned)ep->ka_interval_s,
                 (unsigned)ep->ka_probes);
    else { /* per request: by hand rather than snprintf */
        size_t hl = strlen(ep->host);
        if (hl + 7 > cap) /* cannot happen with host[256] in key[300]: cut, as snprintf did */
            hl = cap > 7 ? cap - 7 : 0;
        memcpy(key, ep->host, hl);
        key[hl] = ':';
        dec_write(key + hl + 1, ep->port);
    }
}

/* Routes, filters and forwards one request (either protocol). */
/* HTTPS: the listener the TLS server name chose must be the one the Host chose; otherwise the
 * request came over a connection made for another listener (another certificate) and is
 * answered 421 (RFC 9110 section 15.5.20; Gateway API GatewayHTTPSListenerDetectMisdirected-
 * Requests). A client without SNI is not checked. */
static bool d_misdirected(const dconn_t *d, const proxy_route_match_t *rm)
{
    const char *sni = net_conn_server_name(d->c);
    if (!sni || !*sni)
        return false;
    const ir_listener_t *by_sni = proxy_l4_listener_for_name(
        d->snap, d->bind_key, sni, AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS);
    return by_sni != rm->listener;
}

/* A request field as a C string (owned by caller), or NULL. */
static char *x_header(const xreq_t *m, const char *name)
{
    const net_h2_header_t *h = net_h2_header_find(m->headers, m->nheaders, name);
    return h ? strndup(h->value, h->value_len) : NULL;
}

/* The route's CORS policy (proxy_cors_eval): a preflight is answered here (returns true); for
 * other requests d->cors holds the fields the response gets. */
static bool x_cors(dconn_t *d, const xreq_t *m, const Agentgateway__Dev__Resource__CORS *c)
{
    char *origin = x_header(m, "origin"), *rm = x_header(m, "access-control-request-method"),
         *rh = x_header(m, "access-control-request-headers");
    int rc = proxy_cors_eval(c, m->method, origin, rm, rh, &d->cors);
    free(origin);
    free(rm);
    free(rh);
    if (rc != PROXY_CORS_PREFLIGHT)
        return false;
    d_local(d, 200, NULL, NULL, 0, m->has_body);
    return true;
}

static void x_start(dconn_t *d, const xreq_t *m)
{
    proxy_t *p = d->p;
    proxy_headers_dispose(&d->cors);
    d->req_chunked = m->chunked;
    bool body = m->has_body;
    /* target → path, query, authority */
    const char *t = m->target;
    const char *host = m->host;
    char authority[256] = "";
    if (strncasecmp(t, "http://", 7) == 0) {
        const char *s = t + 7, *e = s + strcspn(s, "/?");
        snprintf(authority, sizeof authority, "%.*s", (int)(e - s), s);
        host = authority;
        t = *e ? e : "/";
    }
    if (t[0] != '/') {
        d_local_text(d, 400, "request target must be a path", true);
        return;
    }
    size_t tl = strlen(t);
    char *path = malloc(tl + 2);
    if (!path) {
        d_local_text(d, 500, "out of memory", true);
        return;
    }
    memcpy(path, t, tl + 1);
    char *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    proxy_request_t req = {m->method, path, query, host, m->headers, m->nheaders};
    d->snap = proxy_config_snapshot(p->cfg);
    proxy_route_match_t rm;
    d->route_key = NULL;
    d->t_routed = 0;
    int mrc = proxy_router_match(d->snap, d->bind_key, &req, &rm);
    if (d_misdirected(d, &rm)) {
        free(path);
        d_local_text(d, 421, "misdirected request: the TLS server name belongs to another listener",
                     body);
        return;
    }
    if (mrc != PROXY_OK) {
        free(path);
        d_local_text(d, 404, "no route", body);
        return;
    }
    d->route_key = ir_route_key(rm.route);
    proxy_filters_t f;
    proxy_filters_collect(rm.pb, NULL, &f);
    proxy_policy_req_t preq = {.snap = d->snap, .rm = &rm, .method = m->method, .path = path,
                               .query = query, .host = host, .headers = m->headers,
                               .nheaders = m->nheaders, .now_ms = uv_now(p->loop),
                               .now_unix = (int64_t)time(NULL), .peer = net_conn_peer(d->c)};
    proxy_policy_result_t pr;
    proxy_policy_route(&preq, &f, &pr); /* filters from policies */
    if (!f.cors)
        f.cors = pr.cors; /* a CORS Policy */
    if (f.cors && x_cors(d, m, f.cors)) {
        free(path);
        return; /* a preflight, answered before authentication (browsers send no credentials) */
    }
    if (proxy_policy_authorize(&preq, &pr) != PROXY_OK || pr.status) {
        free(path);
        if (!pr.status)
            pr.status = 500;
        d_policy_answer(d, &pr, body);
        return;
    }
    bool tls = ir_listener_protocol(rm.listener) == AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS;
    proxy_url_t url = {tls ? "https" : "http", host, ir_bind_port(rm.bind), path, query, rm.prefix,
                       rm.prefix_len};
    if (f.direct) {
        free(path);
        int status = f.direct->status ? (int)f.direct->status : 200;
        d_local(d, status, NULL, f.direct->body.data, f.direct->body.len, body);
        return;
    }
    if (f.redirect) {
        d_redirect(d, f.redirect, &url, body);
        free(path);
        return;
    }
    const agw_route_backend_t *rb;
    proxy_endpoint_t ep;
    char why[300];
    if (proxy_upstream_pick(d->snap, rm.pb, &p->lb, &rb, &ep, why, sizeof why) != PROXY_OK) {
        proxy_policy_on_backend(&preq, rb, &f, &pr); /* 501 for a kind not served, or dynamic */
        if (!pr.dynamic || pr.status) {
            free(path);
            if (pr.status)
                d_policy_answer(d, &pr, body);
            else
                d_local_text(d, 500, why, body);
            return;
        }
        ep = pr.endpoint; /* dynamic forward proxy: the request's Host */
    }
    proxy_filters_collect(rm.pb, rb, &f);
    proxy_policy_on_backend(&preq, rb, &f, &pr);
    if (pr.status) {
        free(path);
        d_policy_answer(d, &pr, body);
        return;
    }
    if (f.backend_redirect) {
        d_redirect(d, f.backend_redirect, &url, body);
        free(path);
        return;
    }
    /* the upstream request head. |direct|: nothing edits the request's fields (no header
     * modifier, no consumed credential, no backend policy, no Upgrade, an HTTP/1.1 upstream),
     * so the head is written from the parsed fields, in the order and with the fields the
     * general path gives, without copying each field into |h| (two allocations per field). */
    bool direct = !f.request_headers && !f.backend_request_headers && !pr.strip[0] &&
                  !pr.backend_set && !m->upgrade && !ep.h2c && m->nheaders <= FAST_FIELDS;
    proxy_headers_t h = {0};
    int rc = PROXY_OK;
    hop_list_t hl;
    hop_list_init(&hl, m->headers, m->nheaders);
    for (size_t i = 0; !direct && i < m->nheaders && rc == PROXY_OK; i++)
        if (!hop_by_hop(&hl, m->headers[i].name, m->headers[i].name_len, false))
            rc = proxy_headers_add(&h, m->headers[i].name, m->headers[i].value,
                                   m->headers[i].value_len);
    char target[4096];
    const char *new_host = NULL;
    if (rc == PROXY_OK)
        rc = proxy_headers_modify(&h, f.request_headers);
    if (rc == PROXY_OK)
        rc = proxy_headers_modify(&h, f.backend_request_headers);
    if (rc == PROXY_OK)
        rc = proxy_rewrite_target(f.rewrite, &url, target, sizeof target, &new_host);
    if (rc == PROXY_OK) /* backend auth, host rewrite, consumed credentials, backend TLS */
        rc = proxy_policy_on_upstream(&preq, &pr, &ep, &h, &new_host, &ep.tls, &ep.sni);
    if (rc == PROXY_OK) /* backend_http / backend_tcp: version, timeouts, keepalive */
        proxy_policy_upstream_conn(&pr, &ep);
    free(path);
    if (rc == PROXY_OK && m->upgrade && ep.h2c) {
        proxy_headers_dispose(&h);
        d_local_text(d, 502, "protocol upgrade to an HTTP/2 upstream is not supported", true);
        return;
    }
    if (rc == PROXY_OK && m->upgrade) { /* hop-by-hop, but the point of the request */
        rc = proxy_headers_set(&h, "connection", "upgrade");
        if (rc == PROXY_OK)
            rc = proxy_headers_set(&h, "upgrade", m->upgrade);
    }
    char cl[32];
    const char *framing = NULL, *framing_value = NULL; /* appended last, as a set of a new name */
    if (rc == PROXY_OK && m->chunked) {
        framing = "transfer-encoding";
        framing_value = "chunked";
    } else if (rc == PROXY_OK && m->content_length >= 0 && (m->has_body || !d->st)) {
        dec_write(cl, (uint64_t)m->content_length);
        framing = "content-length";
        framing_value = cl;
    }
    if (rc == PROXY_OK && framing && !direct)
        rc = proxy_headers_set(&h, framing, framing_value);
    const char *hv = new_host ? new_host : host ? host : "";
    net_h2_header_t direct_v[FAST_FIELDS + 2];
    net_h2_header_t *v = NULL;
    size_t nv = 0;
    if (rc == PROXY_OK && direct) {
        v = direct_v;
        v[nv++] = (net_h2_header_t){"host", 4, hv, strlen(hv)};
        for (size_t i = 0; i < m->nheaders; i++)
            if (!hop_by_hop(&hl, m->headers[i].name, m->headers[i].name_len, false))
                v[nv++] = m->headers[i];
        if (framing)
            v[nv++] =
                (net_h2_header_t){framing, strlen(framing), framing_value, strlen(framing_value)};
    } else if (rc == PROXY_OK && (v = calloc(h.n + 2, sizeof *v))) {
        v[nv++] = (net_h2_header_t){"host", 4, hv, strlen(hv)};
        for (size_t i = 0; i < h.n; i++)
            v[nv++] = (net_h2_header_t){h.v[i].name, strlen(h.v[i].name), h.v[i].value,
                                        strlen(h.v[i].value)};
    }
    d->up_head.len = 0;
    rc = v ? net_h1_request_write(&d->up_head, m->method, target, v, nv) : PROXY_ENOMEM;
    if (rc == NET_OK && !m->has_body) { /* mirrors get bodiless requests only (docs/proxy.md) */
        mirrors_send(d, f.mirrors, m->method, target, v, nv);
        mirrors_send(d, f.backend_mirrors, m->method, target, v, nv);
    }
    proxy_h2x_t *x2 = NULL;
    bool keep = f.retry && !m->has_body && !m->upgrade; /* for the route's Retry */
    if (rc == NET_OK && ep.h2c && !(x2 = x2_start(d, m, target, hv, &h, &ep, keep)))
        rc = PROXY_EIO;
    if (v != direct_v)
        free(v);
    proxy_headers_dispose(&h);
    if (rc != NET_OK) {
        if (rc == PROXY_EIO)
            d_local_text(d, 503, "cannot start an HTTP/2 upstream request", true);
        else
            d_local_text(d, rc == NET_EINVAL ? 400 : 500, "request cannot be forwarded", true);
        return;
    }
    d->resp_mod[0] = f.response_headers;
    d->resp_mod[1] = f.backend_response_headers;
    d->retry = m->has_body || m->upgrade || (x2 && !d->x2_req) ? NULL : f.retry;
    d->retries_left = d->retry && d->retry->attempts > 0 ? d->retry->attempts : 0;
    d->route_pb = rm.pb;
    d->t_routed = uv_hrtime();
    /* timeouts.request bounds the whole exchange, retries included; backendRequest each try */
    uint64_t tmo = f.timeout ? proxy_duration_ms(f.timeout->request) : 0;
    /* a backend_http request_timeout replaces the route's backendRequest (agentgateway sets it
     * after the route's, on the same per-try deadline) */
    d->try_ms = ep.request_timeout_ms ? ep.request_timeout_ms
                : f.timeout              ? proxy_duration_ms(f.timeout->backend_request)
                                         : 0;
    d->backoff_ms = d->retry ? proxy_duration_ms(d->retry->backoff) : 0;
    d->retry_wait = false;
    if (tmo)
        d_timer_start(d, tmo);
    if (d->try_ms)
        d_try_timer_start(d, d->try_ms, on_try_timeout);
    if (m->expect_continue) {
        net_h1_buf_t b = {0};
        if (net_h1_continue_write(&b) == NET_OK)
            d_write(d, b.data, b.len);
        net_h1_buf_dispose(&b);
    }
    d->phase = PH_FORWARD;
    d->ep = ep;
    if (x2) {
        d->x2 = x2;
        d->req_chunked = false; /* HTTP/2 frames the body itself */
        d->retryable = false;
        return;
    }
    char key[300];
    ep_key(&ep, key, sizeof key);
    uconn_t *u = pool_get(p, key);
    if (u) {
        p->st.upstream_reuses++;
        u->d = d;
        d->up = u;
        d->retryable = !m->has_body;
        net_h1_parser_set_method(u->parser, d->head_method ? "HEAD" : "GET");
        net_conn_write(u->c, d->up_head.data, d->up_head.len); /* kept for a retry */
        return;
    }
    d->retryable = false;
    if (!(u = u_connect(p, &ep, key))) {
        d_local_text(d, 503, "cannot connect upstream", true);
        return;
    }
    u->d = d;
    d->up = u;
    net_h1_parser_set_method(u->parser, d->head_method ? "HEAD" : "GET");
}

/* Sends the request again (the route's Retry): a new backend pick, a pooled or new connection.
 * Returns: false when no attempt is left or none can be made. */
static bool d_retry_send(dconn_t *d);

static void on_backoff(uv_timer_t *t)
{
    dconn_t *d = t->data;
    if (!d || d->ending || !d->retry_wait)
        return;
    d->retry_wait = false;
    if (!d_retry_send(d))
        d_upstream_failed(d, 503, "retry could not be sent");
}

static bool d_retry_attempt(dconn_t *d)
{
    proxy_t *p = d->p;
    if (d->retries_left <= 0 || d->ending || p->closing || !d->up_head.len || !d->snap)
        return false;
    d->retries_left--;
    if (d->try_timer)
        uv_timer_stop(d->try_timer);
    if (d->backoff_ms) { /* the next try after the route's backoff */
        if (!d_try_timer_start(d, d->backoff_ms, on_backoff))
            return false;
        d->retry_wait = true;
        return true;
    }
    return d_retry_send(d);
}

/* Sends the retry now: a new backend pick, a pooled or new connection. */
static bool d_retry_send(dconn_t *d)
{
    proxy_t *p = d->p;
    if (d->ending || p->closing || !d->snap)
        return false;
    if (d->try_ms)
        d_try_timer_start(d, d->try_ms, on_try_timeout);
    const agw_route_backend_t *rb;
    proxy_endpoint_t ep;
    if (proxy_upstream_pick(d->snap, d->route_pb, &p->lb, &rb, &ep, NULL, 0) != PROXY_OK)
        return false;
    ep.tls = d->ep.tls; /* the first pick's backend policies (connection settings) apply */
    ep.sni = d->ep.sni;
    ep.connect_timeout_ms = d->ep.connect_timeout_ms;
    ep.ka_idle_s = d->ep.ka_idle_s;
    ep.ka_interval_s = d->ep.ka_interval_s;
    ep.ka_probes = d->ep.ka_probes;
    ep.request_timeout_ms = d->ep.request_timeout_ms;
    if (d->x2_req) { /* the first try went over HTTP/2: so does this one */
        ep.h2c = 1;
        proxy_h2x_t *x2 =
            proxy_h2x_start(p->h2pool, &ep, d->x2_req, d->nx2_req, true, &x2_callbacks, d);
        if (!x2)
            return false;
        p->st.upstream_retries++;
        d->ep = ep;
        d->x2 = x2;
        return true;
    }
    char key[300];
    ep_key(&ep, key, sizeof key);
    uconn_t *u = pool_get(p, key);
    if (!u && !(u = u_connect(p, &ep, key)))
        return false;
    p->st.upstream_retries++;
    d->ep = ep;
    d->retryable = false;
    u->d = d;
    d->up = u;
    net_h1_parser_set_method(u->parser, d->head_method ? "HEAD" : "GET");
    if (u->connected)
        net_conn_write(u->c, d->up_head.data, d->up_head.len);
    return true;
}

static void d_handle(dconn_t *d, const net_h1_event_t *ev)
{
    switch (ev->kind) {
    case NET_H1_EV_HEAD:
        d_on_head(d);
        return;
    case NET_H1_EV_BODY:
        if (d->phase == PH_FORWARD && d->x2) {
            if (proxy_h2x_write(d->x2, ev->data, ev->len) != NET_OK)
                d_upstream_failed(d, 502, "request body cannot be sent upstream");
            return;
        }
        if (d->phase != PH_FORWARD || !d->up)
            return;
        if (d->req_chunked) {
            net_h1_buf_t b = {0};
            if (net_h1_chunk_write(&b, ev->data, ev->len) == NET_OK)
                net_conn_write(d->up->c, b.data, b.len);
            net_h1_buf_dispose(&b);
        } else {
            net_conn_write(d->up->c, ev->data, ev->len);
        }
        return;
    case NET_H1_EV_END:
        d->req_done = true;
        if (d->phase == PH_LOCAL) {
            d_exchange_done(d);
        } else if (d->phase == PH_FORWARD) {
            if (d->x2) {
                size_t nt = 0;
                const net_h2_header_t *t = net_h1_parser_trailers(d->parser, &nt);
                proxy_h2x_end(d->x2, t, nt);
            } else if (d->req_chunked && d->up) {
                net_h1_buf_t b = {0};
                if (net_h1_chunk_write_last(&b, NULL, 0) == NET_OK)
                    net_conn_write(d->up->c, b.data, b.len);
                net_h1_buf_dispose(&b);
            }
            d->phase = PH_WAIT;
        }
        return;
    case NET_H1_EV_ERROR:
        if (d->phase == PH_HEAD) {
            net_h1_buf_t b = {0};
            int st = net_h1_parser_error_status(d->parser);
            if (net_h1_error_write(&b, st, net_h1_parser_error(d->parser), NULL, 0) == NET_OK)
                d_write(d, b.data, b.len);
            net_h1_buf_dispose(&b);
            count_status(d, st);
            d_end(d);
        } else {
            d_upstream_failed(d, 400, "malformed request body");
            d_end(d);
        }
        return;
    case NET_H1_EV_DONE:
        if (d->phase == PH_HEAD)
            d_end(d);
        return;
    default:
        return;
    }
}

static void h2_push_body(dconn_t *d);

static void d_pump(dconn_t *d)
{
    if (d->st) {
        h2_push_body(d);
        return;
    }
    if (d->phase == PH_TUNNEL) {
        t_up(d);
        return;
    }
    if (d->pumping)
        return;
    d->pumping = true;
    while (!d->ending) {
        if (d->phase == PH_WAIT || d->phase == PH_TUNNEL)
            break;
        if (d->phase == PH_FORWARD && d->x2 && !proxy_h2x_can_write(d->x2, d->in_len))
            break; /* x2_on_writable resumes */
        if (d->phase == PH_FORWARD && !d->x2 &&
            (!d->up || !d->up->connected || net_conn_write_queued(d->up->c) >= WRITE_CAP))
            break; /* u_on_connect / u_on_drain resume */
        net_h1_event_t ev;
        size_t used = net_h1_parser_feed(d->parser, d->in, d->in_len, &ev);
        if (ev.kind == NET_H1_EV_NEED_MORE) {
            consume(d->in, &d->in_len, used);
            if (d->eof && d->phase == PH_HEAD && d->in_len == 0)
                d_end(d);
            break;
        }
        if (ev.kind == NET_H1_EV_BODY) {
            d_handle(d, &ev); /* points into d->in: consume after */
            consume(d->in, &d->in_len, used);
        } else {
            consume(d->in, &d->in_len, used);
            d_handle(d, &ev);
        }
        if (ev.kind == NET_H1_EV_DONE || ev.kind == NET_H1_EV_ERROR)
            break;
    }
    if (d->read_paused && !d->ending && d->in_len < d->max_in) {
        d->read_paused = false;
        net_conn_set_read_paused(d->c, false);
    }
    d->pumping = false;
}

static void d_on_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    dconn_t *d = ud;
    if (d->ending)
        return;
    if (buf_add(&d->in, &d->in_len, &d->in_cap, data, len) != PROXY_OK) {
        net_conn_close(c, false);
        return;
    }
    d->t_read = uv_now(d->p->loop);
    if (d->phase == PH_HEAD && !d->head_started && len) {
        d->head_started = true; /* the idle deadline gives way to the head's */
        d_wait_arm(d);
    }
    if (d->in_len >= d->max_in && !d->read_paused) {
        d->read_paused = true;
        net_conn_set_read_paused(c, true);
    }
    d_pump(d);
}

static void d_on_eof(net_conn_t *c, void *ud)
{
    dconn_t *d = ud;
    (void)c;
    d->eof = true;
    if (d->phase == PH_TUNNEL) {
        t_up(d); /* passes the FIN on once the bytes before it are out */
        return;
    }
    if (d->phase == PH_HEAD || d->phase == PH_LOCAL)
        d_pump(d);
    if (d->phase == PH_HEAD || (d->phase == PH_FORWARD && !d->req_done))
        d_end(d); /* nothing in flight, or the request was cut short */
}

static void d_on_drain(net_conn_t *c, void *ud)
{
    dconn_t *d = ud;
    (void)c;
    if (d->up)
        u_pump(d->up);
    else if (d->x2)
        proxy_h2x_resume(d->x2);
}

static void d_on_shutdown(net_conn_t *c, void *ud)
{
    dconn_t *d = ud;
    (void)c;
    d->keep_alive = false;
    if (d->phase == PH_HEAD && d->in_len == 0)
        d_end(d);
}

static void d_on_close(net_conn_t *c, int status, void *ud)
{
    dconn_t *d = ud;
    (void)c;
    (void)status;
    proxy_t *p = d->p;
    d_x2_cancel(d);
    if (d->up && d->phase == PH_TUNNEL && d->fin_up && d->up->eof) {
        d->up->d = NULL; /* both directions done: it closes by itself once its FIN is out */
        d->up = NULL;
    }
    if (d->up) {
        uconn_t *u = d->up;
        d->up = NULL;
        u_detach_kill(u);
    }
    d_timer_dispose(d);
    x2_req_clear(d);
    proxy_snapshot_release(d->snap);
    net_h1_buf_dispose(&d->up_head);
    net_h1_buf_dispose(&d->out);
    net_h1_parser_free(d->parser);
    free(d->in);
    free(d->bind_key);
    proxy_headers_dispose(&d->cors);
    if (d->prev)
        d->prev->next = d->next;
    else
        p->dconns = d->next;
    if (d->next)
        d->next->prev = d->prev;
    free(d);
}

static const net_conn_raw_callbacks_t d_callbacks = {.on_read = d_on_read,
                                                     .on_eof = d_on_eof,
                                                     .on_drain = d_on_drain,
                                                     .on_shutdown = d_on_shutdown,
                                                     .on_close = d_on_close};

/* ------------------------------------------------------------------------------------------- */
/* HTTP/2 front (h2c with prior knowledge): each stream is one exchange, forwarded to an
 * HTTP/1.1 upstream. The request body is read in manual-consume mode: bytes are acknowledged to
 * the client only once they were handed to the upstream, so the stream window (1 MiB) bounds
 * what a stream can make us buffer. */

static void dconn_link(proxy_t *p, dconn_t *d)
{
    d->next = p->dconns;
    if (p->dconns)
        p->dconns->prev = d;
    p->dconns = d;
}

static void dconn_unlink(proxy_t *p, dconn_t *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        p->dconns = d->next;
    if (d->next)
        d->next->prev = d->prev;
}

static void h2_push_body(dconn_t *d)
{
    if (d->phase == PH_FORWARD && d->x2) {
        while (d->in_len && d->x2) {
            size_t n = d->in_len < 65536 ? d->in_len : 65536;
            if (!proxy_h2x_can_write(d->x2, n))
                return; /* x2_on_writable resumes */
            if (proxy_h2x_write(d->x2, d->in, n) != NET_OK) {
                d_upstream_failed(d, 502, "request body cannot be sent upstream");
                return;
            }
            net_h2_stream_consume(d->st, n);
            consume(d->in, &d->in_len, n);
        }
        if (d->x2 && d->in_len == 0 && d->h2_remote_end && !d->req_done) {
            proxy_h2x_end(d->x2, d->req_trl, d->nreq_trl);
            d->req_done = true;
            d->phase = PH_WAIT;
        }
        return;
    }
    if (d->phase != PH_FORWARD || !d->up || !d->up->connected)
        return;
    uconn_t *u = d->up;
    while (d->in_len && net_conn_write_queued(u->c) < WRITE_CAP) {
        size_t n = d->in_len < 65536 ? d->in_len : 65536;
        if (d->req_chunked) {
            net_h1_buf_t b = {0};
            if (net_h1_chunk_write(&b, d->in, n) == NET_OK)
                net_conn_write(u->c, b.data, b.len);
            net_h1_buf_dispose(&b);
        } else {
            net_conn_write(u->c, d->in, n);
        }
        net_h2_stream_consume(d->st, n);
        consume(d->in, &d->in_len, n);
    }
    if (d->in_len == 0 && d->h2_remote_end && !d->req_done) {
        if (d->req_chunked) {
            net_h1_buf_t b = {0};
            if (net_h1_chunk_write_last(&b, NULL, 0) == NET_OK)
                net_conn_write(u->c, b.data, b.len);
            net_h1_buf_dispose(&b);
        }
        d->req_done = true;
        d->phase = PH_WAIT;
    }
}

static void h2_on_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind,
                          const net_h2_header_t *h, size_t n, void *ud)
{
    listener_t *l = ud;
    if (kind == NET_H2_TRAILERS) { /* kept for an HTTP/2 upstream; HTTP/1.1 ones drop them */
        dconn_t *t = net_h2_stream_user(st);
        if (t && t->x2 && !t->req_trl && (t->req_trl = net_h2_headers_copy(h, n)))
            t->nreq_trl = n;
        return;
    }
    if (kind != NET_H2_REQUEST)
        return;
    dconn_t *d = calloc(1, sizeof *d);
    if (!d || !(d->bind_key = strdup(l->bind_key))) {
        free(d);
        net_h2_stream_reset(st, 0x2);
        return;
    }
    proxy_t *p = l->p;
    d->p = p;
    d->c = net_conn_from_session(s);
    d->st = st;
    d->phase = PH_HEAD;
    d->keep_alive = true;
    d->minor = 1;
    dconn_link(p, d);
    net_h2_stream_set_user(st, d);
    net_h2_stream_set_manual_consume(st, true);
    p->st.requests++;
    const char *method = NULL, *path = NULL, *authority = NULL;
    net_h2_header_t *hs = calloc(n + 1, sizeof *hs);
    size_t nh = 0;
    int64_t cl = -1;
    for (size_t i = 0; hs && i < n; i++) {
        if (h[i].name[0] == ':') {
            if (!strcmp(h[i].name, ":method"))
                method = h[i].value;
            else if (!strcmp(h[i].name, ":path"))
                path = h[i].value;
            else if (!strcmp(h[i].name, ":authority"))
                authority = h[i].value;
            continue;
        }
        if (!strcmp(h[i].name, "host") && !authority)
            authority = h[i].value;
        if (!strcmp(h[i].name, "content-length")) {
            char *end;
            long long v = strtoll(h[i].value, &end, 10);
            if (*end == '\0' && v >= 0)
                cl = v;
        }
        hs[nh++] = h[i];
    }
    bool has_body = !net_h2_stream_remote_ended(st);
    d->h2_remote_end = !has_body;
    d->head_method = method && !strcmp(method, "HEAD");
    if (!hs || !method || !path || !strcmp(method, "CONNECT")) {
        free(hs);
        d_local_text(d, 400, "missing :method or :path, or CONNECT", true);
        return;
    }
    xreq_t x = {method, path, authority, hs, nh, cl, has_body && cl < 0, has_body, false, NULL};
    x_start(d, &x);
    free(hs);
    h2_push_body(d);
}

static void h2_on_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *data, size_t len,
                       void *ud)
{
    (void)s;
    (void)ud;
    dconn_t *d = net_h2_stream_user(st);
    if (!d || d->phase != PH_FORWARD) {
        net_h2_stream_consume(st, len); /* dropped */
        return;
    }
    if (buf_add(&d->in, &d->in_len, &d->in_cap, data, len) != PROXY_OK) {
        net_h2_stream_reset(st, 0x2);
        return;
    }
    h2_push_body(d);
}

static void h2_on_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    dconn_t *d = net_h2_stream_user(st);
    if (!d)
        return;
    d->h2_remote_end = true;
    h2_push_body(d);
}

static void h2_on_writable(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    dconn_t *d = net_h2_stream_user(st);
    if (d && d->up)
        u_pump(d->up);
    else if (d && d->x2)
        proxy_h2x_resume(d->x2);
}

static void h2_on_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t error_code, void *ud)
{
    (void)s;
    (void)ud;
    (void)error_code;
    dconn_t *d = net_h2_stream_user(st);
    if (!d)
        return;
    net_h2_stream_set_user(st, NULL);
    d_x2_cancel(d);
    if (d->up) {
        uconn_t *u = d->up;
        d->up = NULL;
        u_detach_kill(u);
    }
    d_timer_dispose(d);
    x2_req_clear(d);
    proxy_snapshot_release(d->snap);
    net_h1_buf_dispose(&d->up_head);
    free(d->req_trl);
    free(d->in);
    free(d->bind_key);
    proxy_headers_dispose(&d->cors);
    dconn_unlink(d->p, d);
    free(d);
}

static const net_h2_callbacks_t h2_callbacks = {.on_headers = h2_on_headers,
                                                .on_data = h2_on_data,
                                                .on_end = h2_on_end,
                                                .on_close = h2_on_close,
                                                .on_writable = h2_on_writable};

static void inert_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    (void)data;
    (void)len;
    (void)ud;
    net_conn_close(c, false);
}

static const net_conn_raw_callbacks_t inert_callbacks = {.on_read = inert_read};

static void conn_open(net_conn_t *c, int status, void *ud)
{
    listener_t *l = ud;
    if (status != NET_OK)
        return;
    if (!proxy__conn_allowed(l->p->cfg, l->bind_key, c)) { /* network authorization */
        net_conn_close(c, false);
        return;
    }
    if (!net_conn_is_raw(c))
        return; /* HTTP/2: h2_callbacks serve its streams */
    dconn_t *d = calloc(1, sizeof *d);
    int err;
    if (d) {
        net_h1_config_t hc;
        net_h1_config_default(&hc);
        hc.max_headers = l->fe.http1_max_headers;
        d->parser = net_h1_parser_new(true, &hc, &err);
        d->bind_key = strdup(l->bind_key);
    }
    if (!d || !d->parser || !d->bind_key) {
        if (d) {
            net_h1_parser_free(d->parser);
            free(d->bind_key);
        }
        free(d);
        net_conn_close(c, false);
        return;
    }
    d->p = l->p;
    d->c = c;
    d->phase = PH_HEAD;
    d->idle_ms = l->fe.http1_idle_ms;
    d->header_ms = l->fe.header_ms;
    d->body_ms = l->fe.body_ms;
    d->max_in = l->fe.max_buffered_input;
    d->next = l->p->dconns;
    if (l->p->dconns)
        l->p->dconns->prev = d;
    l->p->dconns = d;
    net_conn_set_raw(c, &d_callbacks, d);
    d_wait_arm(d);
}

/* ------------------------------------------------------------------------------------------- */
/* Proxy */

/* An L4 connection or a pooled h2 upstream connection went away: a closing proxy may be done. */
static void conn_gone(void *ud)
{
    proxy_maybe_finish(ud);
}

proxy_t *proxy_new(uv_loop_t *loop, const proxy_options_t *opt, int *err)
{
    proxy_t *p = calloc(1, sizeof *p);
    if (!p || !(p->cfg = proxy_config_new())) {
        free(p);
        if (err)
            *err = PROXY_ENOMEM;
        return NULL;
    }
    p->loop = loop;
    if (opt)
        p->opt = *opt;
    else
        proxy_options_default(&p->opt);
    if (p->opt.auto_listen_host && !(p->auto_host = strdup(p->opt.auto_listen_host))) {
        proxy_config_free(p->cfg);
        free(p);
        if (err)
            *err = PROXY_ENOMEM;
        return NULL;
    }
    p->opt.auto_listen_host = p->auto_host;
    if (!(p->metrics = proxy_metrics_new())) {
        proxy_config_free(p->cfg);
        free(p->auto_host);
        free(p);
        if (err)
            *err = PROXY_ENOMEM;
        return NULL;
    }
    if (!p->opt.max_buffered_input)
        p->opt.max_buffered_input = 64 * 1024;
    proxy_lb_init(&p->lb, p->opt.lb_seed);
    p->l4 = proxy__l4_new(loop, p->cfg, &p->lb, p->opt.upstream_connect_timeout_ms, conn_gone, p);
    if (p->l4 && p->opt.tls_hello_timeout_ms)
        proxy__l4_set_hello_timeout(p->l4, p->opt.tls_hello_timeout_ms);
    if (p->l4)
        proxy__l4_set_idle_timeout(p->l4, p->opt.tunnel_idle_timeout_ms);
    p->h2pool = p->l4 ? proxy_h2pool_new(loop, p->opt.upstream_connect_timeout_ms, conn_gone, p)
                      : NULL;
    if (!p->h2pool) {
        proxy__l4_free(p->l4);
        proxy_metrics_free(p->metrics);
        proxy_config_free(p->cfg);
        free(p->auto_host);
        free(p);
        if (err)
            *err = PROXY_ENOMEM;
        return NULL;
    }
    return p;
}

const proxy_options_t *proxy_options_get(const proxy_t *p)
{
    return &p->opt;
}

proxy_config_t *proxy_config(proxy_t *p)
{
    return p->cfg;
}

static listener_t *listener_find(proxy_t *p, const char *bind_key)
{
    for (listener_t *l = p->listeners; l; l = l->next)
        if (strcmp(l->bind_key, bind_key) == 0)
            return l;
    return NULL;
}

/* FNV-1a over |n| bytes, continuing from |h|. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const uint8_t *b = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static const Agentgateway__Dev__Resource__TLSConfig *https_tls(const ir_listener_t *l,
                                                               const char *bind_key)
{
    const Agentgateway__Dev__Resource__TLSConfig *t = ir_listener_tls(l);
    int proto = ir_listener_protocol(l);
    if (strcmp(ir_listener_bind_key(l), bind_key) != 0 || !t || !t->cert.len ||
        (proto != AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS &&
         proto != AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TLS))
        return NULL;
    return t;
}

/* Adds |t|'s certificate under |name| to |ctx| (NULL: only hash). Returns: loaded or not. */
static bool cert_add(net_tls_ctx_t *ctx, const char *lkey, const char *name,
                     const Agentgateway__Dev__Resource__TLSConfig *t, uint64_t *hash)
{
    *hash = fnv(*hash, name, strlen(name) + 1);
    *hash = fnv(*hash, t->cert.data, t->cert.len);
    *hash = fnv(*hash, t->private_key.data, t->private_key.len);
    if (!ctx)
        return true;
    char *cert = malloc(t->cert.len + 1), *key = malloc(t->private_key.len + 1);
    int rc = NET_ENOMEM;
    char why[256] = "out of memory";
    if (cert && key) {
        memcpy(cert, t->cert.data, t->cert.len);
        cert[t->cert.len] = '\0';
        memcpy(key, t->private_key.data, t->private_key.len);
        key[t->private_key.len] = '\0';
        rc = net_tls_ctx_add_cert(ctx, name, cert, key, why, sizeof why);
    }
    free(cert);
    free(key);
    if (rc != NET_OK)
        fprintf(stderr, "proxy: listener %s: certificate not used: %s\n", lkey, why);
    return rc == NET_OK;
}

/* The certificates of a Bind: every HTTPS Listener's under its hostname, and one of them as the
 * default for clients whose SNI names no Listener (or who send none): the Listener without
 * hostname, else the first by key. Fills |ctx|'s SNI table when |ctx| is set (a certificate that
 * does not load is logged and skipped: its clients get the default); *hash covers them all.
 * Returns: the number of certificates loaded. */
static size_t bind_certs(const proxy_snapshot_t *s, const char *bind_key, net_tls_ctx_t *ctx,
                         uint64_t *hash)
{
    *hash = 0xcbf29ce484222325ull;
    long def = -1;
    for (size_t i = 0; i < s->nlisteners; i++) {
        const ir_listener_t *l = s->listeners[i].obj;
        if (!https_tls(l, bind_key))
            continue;
        if (def < 0)
            def = (long)i;
        if (!*ir_listener_hostname(l)) {
            def = (long)i;
            break;
        }
    }
    size_t loaded = 0;
    for (size_t i = 0; i < s->nlisteners; i++) {
        const ir_listener_t *l = s->listeners[i].obj;
        const Agentgateway__Dev__Resource__TLSConfig *t = https_tls(l, bind_key);
        if (!t)
            continue;
        const char *host = ir_listener_hostname(l);
        if ((long)i == def)
            loaded += cert_add(ctx, ir_listener_key(l), "", t, hash);
        if (*host)
            loaded += cert_add(ctx, ir_listener_key(l), host, t, hash);
    }
    return loaded;
}

/* The TLS context for a Bind with HTTPS (or terminating TLS) Listeners: made on the first
 * certificate that loads, then given every Listener's certificate for SNI (bind_certs). ALPN
 * offers h2 and http/1.1 on an HTTP Bind, nothing on a terminating TLS Bind (opaque bytes).
 * Returns PROXY_OK with *out (NULL: plaintext), or PROXY_ECONFIG (no certificate loads). */
static int bind_tls(proxy_t *p, const char *bind_key, proxy_bind_mode_t mode,
                    const proxy_frontend_t *fe, net_tls_ctx_t **out, uint64_t *hash)
{
    *out = NULL;
    const proxy_snapshot_t *s = proxy_config_snapshot(p->cfg);
    int rc = PROXY_OK;
    bool any = false;
    for (size_t i = 0; i < s->nlisteners && !*out; i++) {
        const ir_listener_t *l = s->listeners[i].obj;
        const Agentgateway__Dev__Resource__TLSConfig *t = https_tls(l, bind_key);
        if (!t)
            continue;
        any = true;
        char *cert = malloc(t->cert.len + 1), *key = malloc(t->private_key.len + 1);
        if (cert && key) {
            memcpy(cert, t->cert.data, t->cert.len);
            cert[t->cert.len] = '\0';
            memcpy(key, t->private_key.data, t->private_key.len);
            key[t->private_key.len] = '\0';
            static const char *const http_alpn[] = {"h2", "http/1.1", NULL};
            static const char *const no_alpn[] = {NULL};
            net_tls_config_t tc = {.cert_pem = cert, .key_pem = key,
                                   .alpn = mode == PROXY_BIND_HTTP ? http_alpn : no_alpn};
            /* the Bind's frontend tls policy (validated by P7) */
            tc.min_version = fe->tls_min_version;
            tc.max_version = fe->tls_max_version;
            if (fe->tls_ciphers_set) {
                tc.cipher_list = fe->tls_cipher_list[0] ? fe->tls_cipher_list : NULL;
                tc.ciphersuites = fe->tls_ciphersuites[0] ? fe->tls_ciphersuites : NULL;
            }
            tc.groups = fe->tls_groups[0] ? fe->tls_groups : NULL;
            if (fe->tls_alpn_set && mode == PROXY_BIND_HTTP)
                tc.alpn = fe->tls_alpn;
            int err;
            *out = net_tls_ctx_new(true, &tc, &err);
        } else {
            rc = PROXY_ENOMEM;
        }
        free(cert);
        free(key);
        if (rc != PROXY_OK)
            break;
    }
    if (*out)
        bind_certs(s, bind_key, *out, hash);
    else if (any && rc == PROXY_OK)
        rc = PROXY_ECONFIG;
    proxy_snapshot_release(s);
    return rc;
}

/* The net/ connection settings of a listener serving |mode| with |fe|. */
static void listener_conn_config(const proxy_frontend_t *fe, proxy_bind_mode_t mode,
                                 net_conn_config_t *out)
{
    *out = fe->conn;
    out->write_queue_cap = WRITE_CAP;
    if (mode != PROXY_BIND_HTTP)
        out->max_lifetime_ms = 0; /* an HTTP setting: TCP and TLS streams have no graceful end */
}

/* After a config change: every listener takes its Bind's frontend settings for connections
 * accepted from now on (a changed frontend tls policy rebuilds the TLS context), and a TLS
 * listener whose Bind's certificates changed gets a new SNI table (handshakes from now on use
 * it; connections made before keep theirs). */
static void listeners_refresh(proxy_t *p)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(p->cfg);
    for (listener_t *l = p->listeners; l; l = l->next) {
        uint64_t old_tls_hash = l->fe.tls_hash;
        proxy_frontend_resolve(s, l->bind_key, &p->opt, &l->fe);
        l->fe.tcp_policy = l->fe.tls_policy = l->fe.http_policy = NULL; /* not kept: |s| goes */
        net_conn_config_t cc;
        listener_conn_config(&l->fe, l->mode, &cc);
        net_server_set_conn_config(l->srv, &cc);
        if (!l->tls)
            continue;
        if (l->fe.tls_hash != old_tls_hash) {
            net_tls_ctx_t *ctx = NULL;
            uint64_t ch = 0;
            if (bind_tls(p, l->bind_key, l->mode, &l->fe, &ctx, &ch) == PROXY_OK && ctx &&
                net_server_set_tls(l->srv, ctx) == NET_OK) {
                net_tls_ctx_release(l->tls);
                l->tls = ctx;
                l->tls_hash = ch;
                continue;
            }
            net_tls_ctx_release(ctx);
            fprintf(stderr, "proxy: listener %s: new TLS settings not applied\n", l->bind_key);
        }
        uint64_t h;
        bind_certs(s, l->bind_key, NULL, &h);
        if (h == l->tls_hash)
            continue;
        net_tls_ctx_clear_certs(l->tls);
        bind_certs(s, l->bind_key, l->tls, &l->tls_hash);
    }
    proxy_snapshot_release(s);
}

int proxy_listen(proxy_t *p, const char *bind_key, const char *listen, int *port)
{
    if (p->closing || listener_find(p, bind_key))
        return PROXY_EINVAL;
    const proxy_snapshot_t *snap = proxy_config_snapshot(p->cfg);
    proxy_bind_mode_t mode = proxy_l4_bind_mode(snap, bind_key);
    proxy_frontend_t fe;
    proxy_frontend_resolve(snap, bind_key, &p->opt, &fe);
    proxy_snapshot_release(snap);
    fe.tcp_policy = fe.tls_policy = fe.http_policy = NULL; /* borrowed from |snap|: not kept */
    net_tls_ctx_t *tls = NULL;
    uint64_t tls_hash = 0;
    if (mode == PROXY_BIND_HTTP || mode == PROXY_BIND_TLS_TERMINATE) {
        int trc = bind_tls(p, bind_key, mode, &fe, &tls, &tls_hash);
        if (trc != PROXY_OK)
            return trc;
    }
    listener_t *l = calloc(1, sizeof *l);
    if (!l || !(l->bind_key = strdup(bind_key))) {
        free(l);
        net_tls_ctx_release(tls);
        return PROXY_ENOMEM;
    }
    l->p = p;
    l->mode = mode;
    l->tls = tls; /* the listener's reference */
    l->tls_hash = tls_hash;
    l->fe = fe;
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = listen;
    listener_conn_config(&fe, mode, &sc.conn);
    sc.ud = l;
    sc.on_conn_open = conn_open;
    sc.raw = inert_callbacks;
    sc.cb = h2_callbacks;
    sc.tls = tls;
    if (mode != PROXY_BIND_HTTP && !(l->l4l = proxy__l4_listener_new(p->l4, bind_key, mode, &sc))) {
        free(l->bind_key);
        free(l);
        return PROXY_ENOMEM;
    }
    int err;
    l->srv = net_server_new(p->loop, &sc, &err);
    if (!l->srv) {
        proxy__l4_listener_free(l->l4l);
        net_tls_ctx_release(tls);
        free(l->bind_key);
        free(l);
        return PROXY_EIO;
    }
    if (port)
        *port = net_server_port(l->srv);
    l->next = p->listeners;
    p->listeners = l;
    p->nlisteners++;
    return PROXY_OK;
}

static void auto_listen(proxy_t *p);

static void server_closed(net_server_t *s, void *ud)
{
    listener_t *l = ud;
    proxy_t *p = l->p;
    (void)s;
    if (l->reopen) {
        listener_t **pp = &p->reopening;
        while (*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
    }
    bool reopen = l->reopen && !p->closing;
    net_server_counters_t nc;
    net_server_counters(s, &nc); /* kept: the proxy's counters never go back */
    p->st.client_idle_closed += nc.idle_closed;
    p->st.client_handshake_timeouts += nc.handshake_timeouts;
    p->st.client_keepalive_timeouts += nc.keepalive_timeouts;
    p->st.client_lifetime_closed += nc.lifetime_closed;
    proxy__l4_listener_free(l->l4l);
    net_tls_ctx_release(l->tls);
    free(l->bind_key);
    free(l);
    p->closing_servers--;
    if (reopen)
        auto_listen(p); /* the port is free now: open it as what the config says */
    proxy_maybe_finish(p);
}

static void listener_close(proxy_t *p, listener_t *l)
{
    listener_t **pp = &p->listeners;
    while (*pp != l)
        pp = &(*pp)->next;
    *pp = l->next;
    p->nlisteners--;
    p->closing_servers++;
    if (l->reopen) { /* keep it findable: its Bind must not be reopened before the port is free */
        l->next = p->reopening;
        p->reopening = l;
    }
    net_server_close(l->srv, true, server_closed, l);
}

/* Whether the port of |l| serves another kind than its Bind now needs: another mode (HTTP,
 * TCP, passthrough, terminating TLS), or an HTTP port that gained or lost TLS. Certificates alone
 * do not count: listeners_refresh follows them on the open port. */
static bool listener_kind_changed(const proxy_snapshot_t *s, const listener_t *l)
{
    proxy_bind_mode_t mode = proxy_l4_bind_mode(s, l->bind_key);
    if (mode != l->mode)
        return true;
    if (mode != PROXY_BIND_HTTP)
        return false;
    bool tls = false;
    for (size_t i = 0; i < s->nlisteners && !tls; i++)
        tls = https_tls(s->listeners[i].obj, l->bind_key) != NULL;
    return tls != (l->tls != NULL);
}

int proxy_unlisten(proxy_t *p, const char *bind_key)
{
    listener_t *l = listener_find(p, bind_key);
    if (!l)
        return PROXY_EINVAL;
    listener_close(p, l);
    return PROXY_OK;
}

static void auto_listen(proxy_t *p)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(p->cfg);
    for (listener_t *l = p->listeners, *next; l; l = next) {
        next = l->next;
        if (!l->auto_opened)
            continue;
        if (!proxy_snapshot_bind(s, l->bind_key)) {
            listener_close(p, l);
        } else if (listener_kind_changed(s, l)) {
            /* Close gracefully; server_closed reopens the Bind once the port is free. */
            l->reopen = true;
            listener_close(p, l);
        }
    }
    for (size_t i = 0; i < proxy_snapshot_count(s, IR_KIND_BIND); i++) {
        const ir_bind_t *b = proxy_snapshot_bind_at(s, i);
        if (listener_find(p, ir_bind_key(b)))
            continue;
        bool waiting = false;
        for (listener_t *r = p->reopening; r && !waiting; r = r->next)
            waiting = strcmp(r->bind_key, ir_bind_key(b)) == 0;
        if (waiting)
            continue;
        char addr[300];
        bool v6 = strchr(p->auto_host, ':') != NULL;
        snprintf(addr, sizeof addr, v6 ? "[%s]:%u" : "%s:%u", p->auto_host, ir_bind_port(b));
        if (proxy_listen(p, ir_bind_key(b), addr, NULL) != PROXY_OK) {
            p->st.listen_failures++;
            fprintf(stderr, "proxy: cannot listen on %s for bind %s\n", addr, ir_bind_key(b));
            continue;
        }
        p->listeners->auto_opened = true;
    }
    proxy_snapshot_release(s);
}

int proxy_apply(proxy_t *p, const proxy_change_t *changes, size_t n, bool replace, char *reason,
                size_t cap)
{
    int rc = proxy_config_apply(p->cfg, changes, n, replace, reason, cap);
    if (rc == PROXY_OK && p->auto_host && !p->closing)
        auto_listen(p);
    if (rc == PROXY_OK && !p->closing)
        listeners_refresh(p);
    return rc;
}

void proxy_l4_stats(const proxy_t *p, proxy_l4_stats_t *out)
{
    proxy__l4_stats(p->l4, out);
}

void proxy_stats(const proxy_t *p, proxy_stats_t *out)
{
    *out = p->st;
    out->listeners = p->nlisteners;
    out->idle_upstreams = p->nidle;
    out->downstream_http1 = out->downstream_http2 = 0;
    for (const listener_t *l = p->listeners; l; l = l->next) {
        net_server_counters_t nc;
        net_server_counters(l->srv, &nc);
        out->client_idle_closed += nc.idle_closed;
        out->client_handshake_timeouts += nc.handshake_timeouts;
        out->client_keepalive_timeouts += nc.keepalive_timeouts;
        out->client_lifetime_closed += nc.lifetime_closed;
    }
    for (const dconn_t *d = p->dconns; d; d = d->next)
        *(d->st ? &out->downstream_http2 : &out->downstream_http1) += 1;
}

static void proxy_maybe_finish(proxy_t *p)
{
    if (!p->closing || p->closing_servers || p->listeners || p->uconns || p->dconns || p->mirrors ||
        proxy__l4_open_count(p->l4) || proxy_h2pool_conns(p->h2pool))
        return;
    void (*cb)(proxy_t *, void *) = p->on_closed;
    void *ud = p->closed_ud;
    p->on_closed = NULL;
    if (cb)
        cb(p, ud);
    proxy__l4_free(p->l4);
    proxy_config_free(p->cfg);
    proxy_metrics_free(p->metrics);
    proxy_h2pool_free(p->h2pool);
    free(p->auto_host);
    free(p);
}

proxy_metrics_t *proxy_metrics_get(proxy_t *p)
{
    return p->metrics;
}

void proxy_close(proxy_t *p, void (*on_closed)(proxy_t *p, void *ud), void *ud)
{
    p->closing = true;
    p->on_closed = on_closed;
    p->closed_ud = ud;
    while (p->listeners)
        listener_close(p, p->listeners);
    for (uconn_t *u = p->uconns; u; u = u->next)
        if (u->idle)
            u_kill(u);
    for (mirror_t *m = p->mirrors; m; m = m->next)
        net_conn_close(m->c, false);
    proxy__l4_close_all(p->l4);
    proxy_h2pool_close(p->h2pool); /* graceful: streams in flight finish */
    p->closing_servers++; /* hold the finish until this function returns */
    p->closing_servers--;
    proxy_maybe_finish(p);
}
