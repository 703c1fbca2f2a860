/*
 * Tests of proxy/upstream_h2.c against an h2c server written on net/ in the same loop: a request
 * with a streamed body and its echo, response trailers, two exchanges multiplexed on one
 * connection, request trailers, a Trailers-Only answer (head with end), a stream reset by the server (502), a
 * refused connection (503), a caller that takes response bytes later (on_data returning 0, then
 * proxy_h2x_resume), a cancelled exchange (no callback after), a graceful pool close, and h2 over
 * TLS by ALPN (pooled per TLS context, SNI and keepalive; no h2 from the server: 503).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../proxy/upstream_h2.h"
#include "net/conn.h"
#include "net/tls.h"

/* ------------------------------------------------------------------------------------------- */
/* The h2c server: /echo answers 200 and echoes the body, then trailers x-t: 1; /only answers
 * a head with END_STREAM (grpc-status 5); /reset resets the stream. */

static size_t srv_streams;
static char srv_req_trailer[16]; /* the x-rt request trailer last seen */

static void srv_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind,
                        const net_h2_header_t *h, size_t n, void *ud)
{
    (void)s;
    (void)ud;
    if (kind == NET_H2_TRAILERS) {
        const net_h2_header_t *rt = net_h2_header_find(h, n, "x-rt");
        snprintf(srv_req_trailer, sizeof srv_req_trailer, "%s", rt ? rt->value : "");
        return;
    }
    if (kind != NET_H2_REQUEST)
        return;
    srv_streams++;
    const net_h2_header_t *path = net_h2_header_find(h, n, ":path");
    if (path && strcmp(path->value, "/only") == 0) {
        net_h2_header_t r[] = {NET_H2_HDR(":status", "200"), NET_H2_HDR("grpc-status", "5")};
        net_h2_stream_respond(st, r, 2, true);
    } else if (path && strcmp(path->value, "/reset") == 0) {
        net_h2_stream_reset(st, 0x2);
    } else {
        net_h2_header_t r[] = {NET_H2_HDR(":status", "200"), NET_H2_HDR("x-h", "v")};
        net_h2_stream_respond(st, r, 2, false);
    }
}

static void srv_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *d, size_t len,
                     void *ud)
{
    (void)s;
    (void)ud;
    net_h2_stream_write(st, d, len);
}

static void srv_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    net_h2_header_t t[] = {NET_H2_HDR("x-t", "1")};
    net_h2_stream_end(st, t, 1);
}

/* ------------------------------------------------------------------------------------------- */
/* The caller side */

typedef struct call {
    int status, err_status;
    bool head_end, ended, refuse_once, refuse_all;
    char body[64];
    size_t blen;
    char trailer[16];
    int callbacks_after_end;
    proxy_h2x_t *x;
} call_t;

static void c_head(void *ud, int status, const net_h2_header_t *h, size_t n, bool end)
{
    call_t *c = ud;
    (void)h;
    (void)n;
    c->status = status;
    c->head_end = end;
}

static size_t c_data(void *ud, const uint8_t *d, size_t len)
{
    call_t *c = ud;
    if (c->refuse_once || c->refuse_all) {
        c->refuse_once = false;
        return 0;
    }
    size_t take = len < sizeof c->body - 1 - c->blen ? len : sizeof c->body - 1 - c->blen;
    memcpy(c->body + c->blen, d, take);
    c->blen += take;
    return len;
}

static void c_end(void *ud, const net_h2_header_t *t, size_t n)
{
    call_t *c = ud;
    c->callbacks_after_end += c->ended;
    c->ended = true;
    c->x = NULL;
    const net_h2_header_t *xt = net_h2_header_find(t, n, "x-t");
    if (xt)
        snprintf(c->trailer, sizeof c->trailer, "%s", xt->value);
}

static void c_error(void *ud, int status, const char *why)
{
    call_t *c = ud;
    (void)why;
    c->callbacks_after_end += c->ended;
    c->ended = true;
    c->err_status = status;
    c->x = NULL;
}

static const proxy_h2x_callbacks_t cbs = {c_head, c_data, c_end, c_error, NULL};

/* ------------------------------------------------------------------------------------------- */

static uv_loop_t loop;
static net_server_t *srv;
static int port;
static proxy_h2pool_t *pool;
static size_t conns_gone;

static void on_gone(void *ud)
{
    (void)ud;
    conns_gone++;
}

/* Runs the loop until |done| says so, at most ~5 s of iterations with a 10 ms tick. */
static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static void run_until(bool (*done)(void *), void *arg)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick_cb, 10, 10);
    for (int i = 0; i < 500 && !done(arg); i++)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(done(arg));
}

static bool call_ended(void *arg)
{
    return ((call_t *)arg)->ended;
}

static proxy_h2x_t *start_ep(call_t *c, const char *path, bool end_stream,
                             const proxy_endpoint_t *ep)
{
    memset(c, 0, sizeof *c);
    net_h2_header_t h[] = {NET_H2_HDR(":method", "POST"), NET_H2_HDR(":scheme", "http"),
                           NET_H2_HDR(":authority", "a"), NET_H2_HDR(":path", path)};
    c->x = proxy_h2x_start(pool, ep, h, 4, end_stream, &cbs, c);
    return c->x;
}

static proxy_h2x_t *start(call_t *c, const char *path, bool end_stream, int p)
{
    proxy_endpoint_t ep = {.host = "127.0.0.1", .port = (uint16_t)p, .h2c = 1};
    return start_ep(c, path, end_stream, &ep);
}

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.cb = (net_h2_callbacks_t){.on_headers = srv_headers, .on_data = srv_data,
                                 .on_end = srv_end};
    int err;
    srv = net_server_new(&loop, &sc, &err);
    assert_non_null(srv);
    port = net_server_port(srv);
    pool = proxy_h2pool_new(&loop, 2000, on_gone, NULL);
    assert_non_null(pool);
    return 0;
}

static bool pool_empty(void *arg)
{
    (void)arg;
    return proxy_h2pool_conns(pool) == 0;
}

static bool srv_closed;
static void srv_close_cb(net_server_t *s, void *ud)
{
    (void)s;
    (void)ud;
    srv_closed = true;
}

static bool is_srv_closed(void *arg)
{
    (void)arg;
    return srv_closed;
}

static int teardown(void **state)
{
    (void)state;
    proxy_h2pool_close(pool);
    run_until(pool_empty, NULL);
    proxy_h2pool_free(pool);
    net_server_close(srv, false, srv_close_cb, NULL);
    run_until(is_srv_closed, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static void test_body_echo_with_trailers_and_multiplexing(void **state)
{
    (void)state;
    call_t a, b;
    uint64_t c0, s0, c1, s1;
    proxy_h2pool_counts(pool, &c0, &s0);
    assert_non_null(start(&a, "/echo", false, port));
    assert_non_null(start(&b, "/echo", false, port));
    /* written while connecting: held, then sent */
    assert_int_equal(proxy_h2x_write(a.x, "hel", 3), NET_OK);
    assert_int_equal(proxy_h2x_write(a.x, "lo", 2), NET_OK);
    proxy_h2x_end(a.x, NULL, 0);
    assert_int_equal(proxy_h2x_write(b.x, "second", 6), NET_OK);
    net_h2_header_t rt[] = {NET_H2_HDR("x-rt", "req-trailer")};
    proxy_h2x_end(b.x, rt, 1); /* request trailers go upstream */
    run_until(call_ended, &a);
    run_until(call_ended, &b);
    assert_int_equal(a.status, 200);
    assert_false(a.head_end);
    assert_string_equal(a.body, "hello");
    assert_string_equal(a.trailer, "1");
    assert_string_equal(b.body, "second");
    assert_string_equal(srv_req_trailer, "req-trailer");
    proxy_h2pool_counts(pool, &c1, &s1);
    assert_int_equal(c1 - c0, 1); /* one connection, */
    assert_int_equal(s1 - s0, 2); /* two streams */
    assert_int_equal(a.callbacks_after_end + b.callbacks_after_end, 0);
}

static void test_trailers_only_and_reset(void **state)
{
    (void)state;
    call_t a;
    assert_non_null(start(&a, "/only", true, port));
    run_until(call_ended, &a);
    assert_int_equal(a.status, 200);
    assert_true(a.head_end); /* the head was the whole response */
    assert_int_equal(a.err_status, 0);
    assert_non_null(start(&a, "/reset", true, port));
    run_until(call_ended, &a);
    assert_int_equal(a.err_status, 502);
}

static void test_refused_connection_is_503(void **state)
{
    (void)state;
    call_t a;
    /* a port nothing listens on: the server's own port + 1 is a guess; skip if it answers */
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    int err;
    net_server_t *tmp = net_server_new(&loop, &sc, &err);
    assert_non_null(tmp);
    int dead = net_server_port(tmp);
    srv_closed = false;
    net_server_close(tmp, false, srv_close_cb, NULL);
    run_until(is_srv_closed, NULL);
    srv_closed = false;
    assert_non_null(start(&a, "/echo", true, dead));
    run_until(call_ended, &a);
    assert_int_equal(a.err_status, 503);
}


/* The upstream finishes (END_STREAM, and nghttp2 closes the stream) while the caller still
 * refuses the last bytes (a slow client): the exchange keeps them and ends normally once taken,
 * not with an error for the closed stream. */
static void test_response_held_past_the_upstream_stream_close(void **state)
{
    (void)state;
    call_t a;
    assert_non_null(start(&a, "/echo", false, port));
    a.refuse_all = true;
    assert_int_equal(proxy_h2x_write(a.x, "tail", 4), NET_OK);
    proxy_h2x_end(a.x, NULL, 0);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick_cb, 10, 10);
    for (int i = 0; i < 30; i++) /* ~300 ms: the echo, its END_STREAM and the stream close */
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(a.ended); /* held, not failed */
    a.refuse_all = false;
    proxy_h2x_resume(a.x);
    run_until(call_ended, &a);
    assert_int_equal(a.err_status, 0);
    assert_string_equal(a.body, "tail");
    assert_string_equal(a.trailer, "1");
}

static void test_late_taker_and_cancel(void **state)
{
    (void)state;
    call_t a, b;
    assert_non_null(start(&a, "/echo", false, port));
    a.refuse_once = true;
    assert_int_equal(proxy_h2x_write(a.x, "later", 5), NET_OK);
    proxy_h2x_end(a.x, NULL, 0);
    /* the body is refused once: the exchange holds it until resumed */
    for (int i = 0; i < 50 && (a.refuse_once || !a.status); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 20 && !a.ended; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (a.x)
            proxy_h2x_resume(a.x);
    }
    run_until(call_ended, &a);
    assert_string_equal(a.body, "later");
    /* cancelled with its body unsent: nothing more is heard of it */
    assert_non_null(start(&b, "/echo", false, port));
    proxy_h2x_cancel(b.x);
    b.x = NULL;
    assert_non_null(start(&a, "/echo", true, port));
    run_until(call_ended, &a);
    assert_int_equal(a.status, 200);
    assert_false(b.ended);
}

/* h2 over TLS (ALPN h2) to the same server code behind a TLS listener: exchanges share a
 * connection only when made with the same TLS context, SNI and keepalive; a client context that
 * does not offer h2 gets no protocol from the h2-only server and the exchange fails with 503. */
static void test_tls_upstream_by_alpn_and_pool_identity(void **state)
{
    (void)state;
    net_tls_testcert_t cert;
    assert_int_equal(net_tls_testcert_make(&cert, "up.test", "DNS:up.test", false), NET_OK);
    static const char *const h2[] = {"h2", NULL}, *const h1[] = {"http/1.1", NULL};
    int err;
    net_tls_config_t tc = {.cert_pem = cert.cert_pem, .key_pem = cert.key_pem, .alpn = h2};
    net_tls_ctx_t *sctx = net_tls_ctx_new(true, &tc, &err);
    net_tls_config_t cc = {.ca_pem = cert.ca_pem, .alpn = h2};
    net_tls_ctx_t *cctx = net_tls_ctx_new(false, &cc, &err);
    net_tls_ctx_t *cctx2 = net_tls_ctx_new(false, &cc, &err);
    cc.alpn = h1;
    net_tls_ctx_t *cctx_h1 = net_tls_ctx_new(false, &cc, &err);
    assert_true(sctx && cctx && cctx2 && cctx_h1);
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.tls = sctx;
    sc.cb = (net_h2_callbacks_t){.on_headers = srv_headers, .on_data = srv_data,
                                 .on_end = srv_end};
    net_server_t *tsrv = net_server_new(&loop, &sc, &err);
    assert_non_null(tsrv);
    proxy_endpoint_t ep = {.host = "127.0.0.1", .port = (uint16_t)net_server_port(tsrv), .h2c = 1,
                           .tls = cctx, .sni = "up.test"};
    uint64_t c0, s0, c1, s1;
    proxy_h2pool_counts(pool, &c0, &s0);
    call_t a;
    for (int i = 0; i < 2; i++) { /* the second one on the pooled connection */
        assert_non_null(start_ep(&a, "/echo", false, &ep));
        assert_int_equal(proxy_h2x_write(a.x, "over tls", 8), NET_OK);
        proxy_h2x_end(a.x, NULL, 0);
        run_until(call_ended, &a);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "over tls");
        assert_string_equal(a.trailer, "1");
    }
    proxy_h2pool_counts(pool, &c1, &s1);
    assert_int_equal(c1 - c0, 1);
    /* another context, another SNI, keepalive: each a connection of its own */
    proxy_endpoint_t other[3] = {ep, ep, ep};
    other[0].tls = cctx2;
    other[1].sni = "UP.test";
    other[2].ka_idle_s = 30;
    for (int i = 0; i < 3; i++) {
        assert_non_null(start_ep(&a, "/only", true, &other[i]));
        run_until(call_ended, &a);
        assert_int_equal(a.status, 200);
    }
    proxy_h2pool_counts(pool, &c1, &s1);
    assert_int_equal(c1 - c0, 4);
    /* no h2 offered: the server picks nothing, net/ refuses the connection */
    ep.tls = cctx_h1;
    assert_non_null(start_ep(&a, "/only", true, &ep));
    run_until(call_ended, &a);
    assert_int_equal(a.err_status, 503);
    net_server_close(tsrv, false, NULL, NULL);
    net_tls_ctx_release(sctx);
    net_tls_ctx_release(cctx);
    net_tls_ctx_release(cctx2);
    net_tls_ctx_release(cctx_h1);
    net_tls_testcert_dispose(&cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_echo_with_trailers_and_multiplexing),
        cmocka_unit_test(test_tls_upstream_by_alpn_and_pool_identity),
        cmocka_unit_test(test_trailers_only_and_reset),
        cmocka_unit_test(test_refused_connection_is_503),
        cmocka_unit_test(test_late_taker_and_cancel),
        cmocka_unit_test(test_response_held_past_the_upstream_stream_close),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
