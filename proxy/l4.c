/*
 * The L4 path (proxy/l4.h): TCP listeners and TLS passthrough listeners. Selection is sans-IO
 * (top half); serving (bottom half) splices bytes between a client connection and one upstream
 * connection, both net/ raw connections.
 *
 * A connection goes HELLO (passthrough only: gather the ClientHello, read its SNI) → CONNECTING
 * (route, pick a backend, connect; what the client sends meanwhile is kept, bounded) → SPLICE.
 * In SPLICE, bytes read on one side are written to the other, and a side stops being read while
 * the other side's write queue is over WRITE_CAP (resumed from on_drain), so memory per
 * connection is bounded by the two write queues plus one socket read. An EOF is passed on as a
 * half-close (net_conn_shutdown: our FIN, reading goes on), so request/response protocols that
 * end their request with a FIN work; when both sides have finished, both connections end.
 * A spliced connection that carries no byte either way for idle_timeout_ms is closed (one timer
 * per connection, re-armed lazily from the time of the last read: no timer call per read).
 * A failed connect, no route or no backend closes the client; an error on one side closes both.
 *
 * Rejected: reading the ClientHello with OpenSSL (it would start a handshake we must not make),
 * and splice(2)/zero-copy (libuv has no portable form of it; the copies here are one per read).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "l4_internal.h"
#include "net/conn.h"
#include "proxy/policy.h"
#include "proxy/router.h"
#include "proxy/tls_hello.h"

#define WRITE_CAP        (256u * 1024u)
#define PENDING_CAP      (64u * 1024u) /* client bytes kept while connecting */
#define HELLO_TIMEOUT_MS 10000 /* a passthrough client must send its ClientHello within this */

typedef Agentgateway__Dev__Resource__TCPRoute agw_tcp_route_t;

/* ---------------------------------------------------------------------------------------------
 * Selection (sans-IO)
 * ------------------------------------------------------------------------------------------- */

proxy_bind_mode_t proxy_l4_bind_mode(const proxy_snapshot_t *s, const char *bind_key)
{
    size_t b = proxy__bind_index(s, bind_key);
    if (b == (size_t)-1)
        return PROXY_BIND_HTTP;
    for (size_t i = 0; i < s->nlisteners; i++) {
        const proxy__listener_t *l = &s->listeners[i];
        if (l->bind != b)
            continue;
        int proto = ir_listener_protocol(l->obj);
        if (proto == AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TCP)
            return PROXY_BIND_TCP;
        if (proto == AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TLS)
            return ir_listener_tls(l->obj) ? PROXY_BIND_TLS_TERMINATE : PROXY_BIND_PASSTHROUGH;
    }
    return PROXY_BIND_HTTP;
}

/* Index of the best Listener (see proxy_l4_listener_for_name), or -1. */
static long listener_pick(const proxy_snapshot_t *s, const char *bind_key, const char *name,
                          int protocol)
{
    size_t b = proxy__bind_index(s, bind_key);
    if (b == (size_t)-1)
        return -1;
    size_t len = name ? strlen(name) : 0;
    if (len && name[len - 1] == '.')
        len--;
    long best = -1;
    int best_score = -1;
    for (size_t i = 0; i < s->nlisteners; i++) {
        const proxy__listener_t *l = &s->listeners[i];
        if (l->bind != b || (protocol && (int)ir_listener_protocol(l->obj) != protocol))
            continue;
        const char *h = ir_listener_hostname(l->obj);
        int sc = len ? proxy_hostname_score(h, name, len) : (*h ? -1 : 0);
        if (sc > best_score) {
            best = (long)i;
            best_score = sc;
        }
    }
    return best;
}

const ir_listener_t *proxy_l4_listener_for_name(const proxy_snapshot_t *s, const char *bind_key,
                                                const char *name, int protocol)
{
    long i = listener_pick(s, bind_key, name, protocol);
    return i < 0 ? NULL : s->listeners[i].obj;
}

int proxy_l4_route(const proxy_snapshot_t *s, const char *bind_key, const char *sni,
                   proxy_l4_match_t *out)
{
    memset(out, 0, sizeof *out);
    proxy_bind_mode_t mode = proxy_l4_bind_mode(s, bind_key);
    int proto = mode == PROXY_BIND_TCP ? AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TCP
                                       : AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__TLS;
    if (mode == PROXY_BIND_TCP)
        sni = NULL; /* TCP listeners have no hostname to match */
    long li = listener_pick(s, bind_key, sni, proto);
    if (li < 0)
        return PROXY_ENOROUTE;
    const proxy__listener_t *l = &s->listeners[li];
    out->listener = l->obj;
    size_t len = sni ? strlen(sni) : 0;
    int best_score = -1;
    for (size_t i = 0; i < l->ntcp_routes; i++) {
        const ir_tcp_route_t *r = s->tcp_routes[l->tcp_routes[i]];
        const agw_tcp_route_t *pb = ir_tcp_route_pb(r);
        int sc = pb->n_hostnames ? -1 : 0;
        for (size_t h = 0; h < pb->n_hostnames && len; h++) {
            int one = proxy_hostname_score(pb->hostnames[h], sni, len);
            if (one > sc)
                sc = one;
        }
        if (sc > best_score) { /* strictly better: ties keep the first by key */
            out->route = r;
            best_score = sc;
        }
    }
    return out->route ? PROXY_OK : PROXY_ENOROUTE;
}

int proxy_l4_pick(const proxy_snapshot_t *s, const ir_tcp_route_t *route, proxy_lb_t *lb,
                  proxy_endpoint_t *ep, char *why, size_t cap)
{
    const agw_tcp_route_t *pb = ir_tcp_route_pb(route);
    int32_t w[64];
    size_t n = pb->n_backends < 64 ? pb->n_backends : 64;
    for (size_t i = 0; i < n; i++)
        w[i] = pb->backends[i]->weight;
    long i = n ? proxy_lb_pick_weighted(lb, w, n) : -1;
    if (i < 0) {
        if (why && cap)
            snprintf(why, cap, "tcp route %s has no backend with weight above 0", pb->key);
        return PROXY_ENOBACKEND;
    }
    return proxy_upstream_resolve(s, pb->backends[i], lb, ep, why, cap);
}

/* ---------------------------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------------------------- */

typedef struct l4conn l4conn_t;

struct proxy__l4 {
    uv_loop_t *loop;
    proxy_config_t *cfg;
    proxy_lb_t *lb;
    uint64_t connect_timeout_ms;
    uint64_t hello_timeout_ms;
    uint64_t idle_timeout_ms; /* ST_SPLICE without a byte either way: closed (0: never) */
    void (*on_idle)(void *);
    void *idle_ud;
    l4conn_t *conns;
    proxy_l4_stats_t st;
};

struct proxy__l4_listener {
    proxy__l4_t *l4;
    char *bind_key;
    proxy_bind_mode_t mode;
};

enum { ST_HELLO, ST_CONNECTING, ST_SPLICE, ST_DONE };

/* INVARIANTS
 *  L1 d != NULL until the client connection's on_close; u != NULL from connect until its on_close
 *  L2 pending holds client bytes only in ST_HELLO / ST_CONNECTING: in ST_HELLO no more than the
 *     ClientHello needs (PROXY_TLS_HELLO_MAX_INPUT) plus one read, since the reader asks for
 *     more only while its input is short; in ST_CONNECTING up to PENDING_CAP plus one read
 *  L3 the l4conn is freed once d and u are both NULL (and it is unlinked then)              */
struct l4conn {
    proxy__l4_t *l4;
    proxy__l4_listener_t *ll;
    net_conn_t *d, *u;
    int state;
    uint8_t *pending;
    size_t pending_len;
    bool d_eof, u_eof;
    bool d_paused, u_paused; /* our own pauses (the other side's write queue is full) */
    uv_timer_t *timer;       /* ST_HELLO deadline, then ST_SPLICE idle; freed by its close cb */
    uint64_t last_active;    /* loop time of the last byte read on either side (ST_SPLICE) */
    l4conn_t *prev, *next;
};

static void timer_free(uv_handle_t *h)
{
    free(h);
}

static void timer_close(l4conn_t *x)
{
    if (!x->timer)
        return;
    x->timer->data = NULL;
    uv_close((uv_handle_t *)x->timer, timer_free);
    x->timer = NULL;
}

static void l4conn_maybe_free(l4conn_t *x)
{
    if (x->d || x->u)
        return;
    timer_close(x);
    proxy__l4_t *l4 = x->l4;
    if (x->prev)
        x->prev->next = x->next;
    else
        l4->conns = x->next;
    if (x->next)
        x->next->prev = x->prev;
    free(x->pending);
    free(x);
    l4->st.open--;
    if (!l4->conns && l4->on_idle)
        l4->on_idle(l4->idle_ud);
}

/* Ends everything at once (an error, or nothing to connect to). */
static void l4conn_abort(l4conn_t *x)
{
    x->state = ST_DONE;
    if (x->d)
        net_conn_close(x->d, false);
    if (x->u)
        net_conn_close(x->u, false);
}

/* Both sides finished sending: end both politely (queued bytes and FINs go out first). */
static void l4conn_maybe_end(l4conn_t *x)
{
    if (!x->d_eof || !x->u_eof)
        return;
    x->state = ST_DONE;
    if (x->d)
        net_conn_end(x->d);
    if (x->u)
        net_conn_end(x->u);
}

static bool pending_add(l4conn_t *x, const uint8_t *data, size_t len)
{
    uint8_t *grown = realloc(x->pending, x->pending_len + len);
    if (!grown)
        return false;
    x->pending = grown;
    memcpy(x->pending + x->pending_len, data, len);
    x->pending_len += len;
    return true;
}

static void idle_timeout(uv_timer_t *t)
{
    l4conn_t *x = t->data;
    if (!x || x->state != ST_SPLICE)
        return;
    uint64_t now = uv_now(x->l4->loop), limit = x->l4->idle_timeout_ms;
    if (now - x->last_active < limit) { /* a byte since: wait for the rest of the period */
        uv_timer_start(t, idle_timeout, limit - (now - x->last_active), 0);
        return;
    }
    x->l4->st.idle_closed++;
    fprintf(stderr, "proxy: %s connection from %s: no byte either way for %llu ms: closing\n",
            x->ll->bind_key, x->d ? net_conn_peer(x->d) : "?", (unsigned long long)limit);
    l4conn_abort(x);
}

/* Arms the idle deadline of a connection that starts splicing. */
static void idle_timer_start(l4conn_t *x)
{
    if (!x->l4->idle_timeout_ms)
        return;
    x->last_active = uv_now(x->l4->loop);
    if (!x->timer) {
        if (!(x->timer = malloc(sizeof *x->timer)))
            return; /* no deadline for this one: it still works, and ends with its peers */
        uv_timer_init(x->l4->loop, x->timer);
        x->timer->data = x;
    }
    uv_timer_start(x->timer, idle_timeout, x->l4->idle_timeout_ms, 0);
}

static void u_on_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud);
static void u_on_eof(net_conn_t *c, void *ud);
static void u_on_drain(net_conn_t *c, void *ud);
static void u_on_connect(net_conn_t *c, int status, void *ud);
static void u_on_close(net_conn_t *c, int status, void *ud);

/* Routes and connects. |sni| is NULL for TCP. */
static void l4conn_connect(l4conn_t *x, const char *sni)
{
    proxy__l4_t *l4 = x->l4;
    if (x->timer) /* the hello deadline is met; the same timer carries the idle one later */
        uv_timer_stop(x->timer);
    const proxy_snapshot_t *s = proxy_config_snapshot(l4->cfg);
    proxy_l4_match_t m;
    proxy_endpoint_t ep;
    char why[256] = "";
    int rc = proxy_l4_route(s, x->ll->bind_key, sni, &m);
    if (rc != PROXY_OK) {
        l4->st.no_route++;
        fprintf(stderr, "proxy: %s connection from %s: no route%s%s\n", x->ll->bind_key,
                net_conn_peer(x->d), sni ? " for SNI " : "", sni ? sni : "");
    } else if ((rc = proxy_l4_pick(s, m.route, l4->lb, &ep, why, sizeof why)) != PROXY_OK) {
        l4->st.no_backend++;
        fprintf(stderr, "proxy: %s connection from %s: %s\n", x->ll->bind_key, net_conn_peer(x->d),
                why);
    }
    proxy_snapshot_release(s);
    if (rc != PROXY_OK) {
        l4conn_abort(x);
        return;
    }
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = ep.host;
    cc.port = ep.port;
    cc.conn.write_queue_cap = WRITE_CAP;
    if (l4->connect_timeout_ms)
        cc.conn.handshake_timeout_ms = l4->connect_timeout_ms;
    cc.raw = (net_conn_raw_callbacks_t){
        .on_read = u_on_read, .on_eof = u_on_eof, .on_drain = u_on_drain};
    cc.on_connect = u_on_connect;
    cc.on_close = u_on_close;
    cc.ud = x;
    int err;
    x->state = ST_CONNECTING;
    x->u = net_client_connect(l4->loop, &cc, &err);
    if (!x->u) {
        l4->st.no_backend++;
        l4conn_abort(x);
    }
}

static void d_on_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    l4conn_t *x = ud;
    (void)c;
    switch (x->state) {
    case ST_HELLO: {
        if (!pending_add(x, data, len)) {
            l4conn_abort(x);
            return;
        }
        proxy_tls_hello_t h;
        int rc = proxy_tls_hello_parse(x->pending, x->pending_len, &h);
        if (rc == PROXY_TLS_HELLO_MORE)
            return;
        if (rc != PROXY_TLS_HELLO_OK) {
            x->l4->st.bad_hello++;
            fprintf(stderr, "proxy: %s connection from %s: %s\n", x->ll->bind_key,
                    net_conn_peer(x->d), h.why);
            l4conn_abort(x);
            return;
        }
        l4conn_connect(x, h.sni);
        return;
    }
    case ST_CONNECTING:
        if (!pending_add(x, data, len)) {
            l4conn_abort(x);
            return;
        }
        if (x->pending_len >= PENDING_CAP && !x->d_paused) {
            x->d_paused = true;
            net_conn_set_read_paused(x->d, true);
        }
        return;
    case ST_SPLICE:
        x->last_active = uv_now(x->l4->loop);
        if (!x->u || net_conn_write(x->u, data, len) != NET_OK) {
            l4conn_abort(x);
            return;
        }
        if (net_conn_write_queued(x->u) >= WRITE_CAP && !x->d_paused) {
            x->d_paused = true;
            net_conn_set_read_paused(x->d, true);
        }
        return;
    default:
        return;
    }
}

static void d_on_eof(net_conn_t *c, void *ud)
{
    l4conn_t *x = ud;
    (void)c;
    x->d_eof = true;
    if (x->state == ST_HELLO) { /* gone before saying where to */
        x->state = ST_DONE;
        net_conn_end(x->d);
        return;
    }
    if (x->state == ST_SPLICE && x->u)
        net_conn_shutdown(x->u);
    l4conn_maybe_end(x);
}

static void d_on_drain(net_conn_t *c, void *ud)
{
    l4conn_t *x = ud;
    (void)c;
    if (x->u_paused && x->u) {
        x->u_paused = false;
        net_conn_set_read_paused(x->u, false);
    }
}

static void d_on_shutdown(net_conn_t *c, void *ud)
{
    (void)c;
    l4conn_abort(ud); /* the listener closes: a byte stream has no graceful point to stop at */
}

static void d_on_close(net_conn_t *c, int status, void *ud)
{
    l4conn_t *x = ud;
    (void)c;
    x->d = NULL;
    /* Unless both sides finished cleanly (then the upstream ends by itself), drop it. */
    if (x->u && !(x->d_eof && x->u_eof && status == NET_OK))
        net_conn_close(x->u, false);
    l4conn_maybe_free(x);
}

static const net_conn_raw_callbacks_t d_callbacks = {.on_read = d_on_read,
                                                     .on_eof = d_on_eof,
                                                     .on_drain = d_on_drain,
                                                     .on_shutdown = d_on_shutdown,
                                                     .on_close = d_on_close};

static void u_on_connect(net_conn_t *c, int status, void *ud)
{
    l4conn_t *x = ud;
    if (x->state == ST_DONE)
        return; /* our own abort while connecting */
    if (status != NET_OK) {
        x->l4->st.no_backend++;
        fprintf(stderr, "proxy: %s connection from %s: upstream %s: %s\n", x->ll->bind_key,
                x->d ? net_conn_peer(x->d) : "?", net_conn_peer(c), net_strerror(status));
        l4conn_abort(x); /* on_close follows */
        return;
    }
    if (x->state != ST_CONNECTING || !x->d) {
        net_conn_close(c, false);
        return;
    }
    x->l4->st.spliced++;
    x->state = ST_SPLICE;
    idle_timer_start(x);
    if (x->pending_len && net_conn_write(c, x->pending, x->pending_len) != NET_OK) {
        l4conn_abort(x);
        return;
    }
    free(x->pending);
    x->pending = NULL;
    x->pending_len = 0;
    if (x->d_eof) {
        net_conn_shutdown(c);
    } else if (x->d_paused && net_conn_write_queued(c) < WRITE_CAP) {
        x->d_paused = false;
        net_conn_set_read_paused(x->d, false);
    }
}

static void u_on_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    l4conn_t *x = ud;
    x->last_active = uv_now(x->l4->loop);
    if (!x->d || net_conn_write(x->d, data, len) != NET_OK) {
        l4conn_abort(x);
        return;
    }
    if (net_conn_write_queued(x->d) >= WRITE_CAP && !x->u_paused) {
        x->u_paused = true;
        net_conn_set_read_paused(c, true);
    }
}

static void u_on_eof(net_conn_t *c, void *ud)
{
    l4conn_t *x = ud;
    (void)c;
    x->u_eof = true;
    if (x->d)
        net_conn_shutdown(x->d);
    l4conn_maybe_end(x);
}

static void u_on_drain(net_conn_t *c, void *ud)
{
    l4conn_t *x = ud;
    (void)c;
    if (x->d_paused && x->d && x->state == ST_SPLICE) {
        x->d_paused = false;
        net_conn_set_read_paused(x->d, false);
    }
}

static void u_on_close(net_conn_t *c, int status, void *ud)
{
    l4conn_t *x = ud;
    (void)c;
    x->u = NULL;
    if (x->d && !(x->d_eof && x->u_eof && status == NET_OK))
        net_conn_close(x->d, false);
    l4conn_maybe_free(x);
}

static void hello_timeout(uv_timer_t *t);

/* A client connection is ready (raw from its first byte). */
bool proxy__conn_allowed(proxy_config_t *cfg, const char *bind_key, net_conn_t *c)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    char why[320];
    bool ok = proxy_policy_connection_allowed(s, bind_key, net_conn_peer(c), why, sizeof why);
    proxy_snapshot_release(s);
    if (!ok)
        fprintf(stderr, "proxy: %s connection from %s refused: %s\n", bind_key, net_conn_peer(c),
                why);
    return ok;
}

static void l4_conn_open(net_conn_t *c, int status, void *ud)
{
    proxy__l4_listener_t *ll = ud;
    if (status != NET_OK)
        return;
    if (!proxy__conn_allowed(ll->l4->cfg, ll->bind_key, c)) { /* network authorization */
        net_conn_close(c, false);
        return;
    }
    l4conn_t *x = calloc(1, sizeof *x);
    if (!x) {
        net_conn_close(c, false);
        return;
    }
    proxy__l4_t *l4 = ll->l4;
    x->l4 = l4;
    x->ll = ll;
    x->d = c;
    x->next = l4->conns;
    if (l4->conns)
        l4->conns->prev = x;
    l4->conns = x;
    l4->st.connections++;
    l4->st.open++;
    net_conn_set_raw(c, &d_callbacks, x);
    if (ll->mode == PROXY_BIND_PASSTHROUGH) {
        x->state = ST_HELLO;
        x->timer = malloc(sizeof *x->timer);
        if (!x->timer) {
            l4conn_abort(x);
            return;
        }
        uv_timer_init(l4->loop, x->timer);
        x->timer->data = x;
        uv_timer_start(x->timer, hello_timeout, l4->hello_timeout_ms, 0);
    } else if (ll->mode == PROXY_BIND_TLS_TERMINATE) {
        /* Opened after the handshake: the SNI is known. */
        l4conn_connect(x, net_conn_server_name(c));
    } else
        l4conn_connect(x, NULL);
}

static void hello_timeout(uv_timer_t *t)
{
    l4conn_t *x = t->data;
    if (!x || x->state != ST_HELLO)
        return;
    x->l4->st.bad_hello++;
    fprintf(stderr, "proxy: %s connection from %s: no ClientHello within %llu ms\n",
            x->ll->bind_key, x->d ? net_conn_peer(x->d) : "?",
            (unsigned long long)x->l4->hello_timeout_ms);
    l4conn_abort(x);
}

static void inert_read(net_conn_t *c, const uint8_t *data, size_t len, void *ud)
{
    (void)data;
    (void)len;
    (void)ud;
    net_conn_close(c, false);
}

proxy__l4_t *proxy__l4_new(uv_loop_t *loop, proxy_config_t *cfg, proxy_lb_t *lb,
                           uint64_t connect_timeout_ms, void (*on_idle)(void *ud), void *ud)
{
    proxy__l4_t *l4 = calloc(1, sizeof *l4);
    if (!l4)
        return NULL;
    l4->loop = loop;
    l4->cfg = cfg;
    l4->lb = lb;
    l4->connect_timeout_ms = connect_timeout_ms;
    l4->hello_timeout_ms = HELLO_TIMEOUT_MS;
    l4->on_idle = on_idle;
    l4->idle_ud = ud;
    return l4;
}

void proxy__l4_free(proxy__l4_t *l4)
{
    free(l4);
}

proxy__l4_listener_t *proxy__l4_listener_new(proxy__l4_t *l4, const char *bind_key,
                                             proxy_bind_mode_t mode, net_server_config_t *sc)
{
    proxy__l4_listener_t *ll = calloc(1, sizeof *ll);
    if (!ll || !(ll->bind_key = strdup(bind_key))) {
        free(ll);
        return NULL;
    }
    ll->l4 = l4;
    ll->mode = mode;
    sc->ud = ll;
    sc->on_conn_open = l4_conn_open;
    sc->raw = (net_conn_raw_callbacks_t){.on_read = inert_read};
    sc->raw_only = true;
    if (mode != PROXY_BIND_TLS_TERMINATE)
        sc->tls = NULL; /* passthrough and TCP never terminate TLS */
    return ll;
}

void proxy__l4_listener_free(proxy__l4_listener_t *ll)
{
    if (!ll)
        return;
    free(ll->bind_key);
    free(ll);
}

void proxy__l4_close_all(proxy__l4_t *l4)
{
    for (l4conn_t *x = l4->conns; x; x = x->next)
        l4conn_abort(x);
}

size_t proxy__l4_open_count(const proxy__l4_t *l4)
{
    return l4 ? l4->st.open : 0;
}

void proxy__l4_set_hello_timeout(proxy__l4_t *l4, uint64_t ms)
{
    l4->hello_timeout_ms = ms;
}

void proxy__l4_set_idle_timeout(proxy__l4_t *l4, uint64_t ms)
{
    l4->idle_timeout_ms = ms;
}

void proxy__l4_stats(const proxy__l4_t *l4, proxy_l4_stats_t *out)
{
    *out = l4->st;
}
