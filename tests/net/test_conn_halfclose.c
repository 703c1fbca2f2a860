/*
 * Byte-stream proxying support of the libuv adapter (net/conn.c, net/tcp.c), on real sockets on
 * 127.0.0.1, in plaintext and over TLS:
 *  - a raw_only server is raw from the first byte: it can speak first (no preface sniff waits
 *    for the client), also over TLS;
 *  - net_conn_shutdown is a half-close: our FIN (and close_notify) goes out, net_conn_write is
 *    refused from then on, and the peer's answer still arrives, then its EOF; both sides end with
 *    an orderly close.
 * Every wait is "run the loop until a condition holds", bounded by a watchdog.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/conn.h"

typedef struct side {
    char got[256];
    size_t len;
    int eofs, closes, close_status;
    net_conn_t *c;
} side_t;

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    net_server_t *srv;
    side_t s, c;
    bool srv_closed;
    int write_after_shutdown;
} env_t;

static void watchdog_cb(uv_timer_t *t)
{
    ((env_t *)t->data)->expired = true;
}

static void run_until(env_t *e, bool (*p)(env_t *))
{
    while (!p(e) && !e->expired)
        uv_run(&e->loop, UV_RUN_ONCE);
    assert_false(e->expired);
}

static void add(side_t *s, const uint8_t *d, size_t n)
{
    if (s->len + n < sizeof s->got) {
        memcpy(s->got + s->len, d, n);
        s->len += n;
        s->got[s->len] = '\0';
    }
}

/* Server: greets first; collects; at the client's EOF answers "got N" and ends. */
static void s_read(net_conn_t *c, const uint8_t *d, size_t n, void *ud)
{
    (void)c;
    add(&((env_t *)ud)->s, d, n);
}

static void s_eof(net_conn_t *c, void *ud)
{
    env_t *e = ud;
    e->s.eofs++;
    char msg[32];
    snprintf(msg, sizeof msg, "got %zu", e->s.len);
    assert_int_equal(net_conn_write(c, msg, strlen(msg)), NET_OK);
    net_conn_end(c);
}

static void s_open(net_conn_t *c, int status, void *ud)
{
    env_t *e = ud;
    assert_int_equal(status, NET_OK);
    assert_true(net_conn_is_raw(c));
    e->s.c = c;
    assert_int_equal(net_conn_write(c, "hello;", 6), NET_OK);
}

static void s_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->s.closes++;
    e->s.close_status = status;
}

/* Client: on the greeting, sends "abc" and half-closes. */
static void c_read(net_conn_t *c, const uint8_t *d, size_t n, void *ud)
{
    env_t *e = ud;
    bool first = e->c.len == 0;
    add(&e->c, d, n);
    if (first && strncmp(e->c.got, "hello;", 6) == 0) {
        assert_int_equal(net_conn_write(c, "abc", 3), NET_OK);
        assert_int_equal(net_conn_shutdown(c), NET_OK);
        assert_int_equal(net_conn_shutdown(c), NET_OK); /* again: fine */
        e->write_after_shutdown = net_conn_write(c, "x", 1);
    }
}

static void c_eof(net_conn_t *c, void *ud)
{
    ((env_t *)ud)->c.eofs++;
    net_conn_end(c);
}

static void c_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->c.closes++;
    e->c.close_status = status;
}

static void srv_closed(net_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = true;
}

static bool both_closed(env_t *e)
{
    return e->s.closes && e->c.closes;
}

static bool server_gone(env_t *e)
{
    return e->srv_closed;
}

static void run_case(bool tls)
{
    env_t e;
    memset(&e, 0, sizeof e);
    uv_loop_init(&e.loop);
    uv_timer_init(&e.loop, &e.watchdog);
    e.watchdog.data = &e;
    uv_timer_start(&e.watchdog, watchdog_cb, 20000, 0);
    net_tls_testcert_t certs;
    net_tls_ctx_t *sctx = NULL, *cctx = NULL;
    if (tls) {
        assert_int_equal(net_tls_testcert_make(&certs, "localhost", NULL, false), NET_OK);
        /* The server offers only h2 (the default), the client only http/1.1: no ALPN, and
         * neither side becomes HTTP/2. */
        net_tls_config_t sc = {.cert_pem = certs.cert_pem, .key_pem = certs.key_pem};
        static const char *const calpn[] = {"http/1.1", NULL};
        net_tls_config_t cc = {.ca_pem = certs.ca_pem, .alpn = calpn};
        int err;
        sctx = net_tls_ctx_new(true, &sc, &err);
        cctx = net_tls_ctx_new(false, &cc, &err);
        assert_non_null(sctx);
        assert_non_null(cctx);
    }
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.tls = sctx;
    sc.ud = &e;
    sc.raw_only = true;
    sc.on_conn_open = s_open;
    sc.raw = (net_conn_raw_callbacks_t){.on_read = s_read, .on_eof = s_eof, .on_close = s_close};
    int err;
    e.srv = net_server_new(&e.loop, &sc, &err);
    assert_non_null(e.srv);
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = "127.0.0.1";
    cc.port = (uint16_t)net_server_port(e.srv);
    cc.tls = cctx;
    cc.server_name = tls ? "localhost" : NULL;
    cc.ud = &e;
    cc.on_close = c_close;
    cc.raw = (net_conn_raw_callbacks_t){.on_read = c_read, .on_eof = c_eof};
    e.c.c = net_client_connect(&e.loop, &cc, &err);
    assert_non_null(e.c.c);
    run_until(&e, both_closed);
    assert_string_equal(e.c.got, "hello;got 3");
    assert_string_equal(e.s.got, "abc");
    assert_int_equal(e.s.eofs, 1);
    assert_int_equal(e.c.eofs, 1);
    assert_int_equal(e.write_after_shutdown, NET_ECLOSED);
    assert_int_equal(e.s.close_status, NET_OK);
    assert_int_equal(e.c.close_status, NET_OK);
    net_server_close(e.srv, false, srv_closed, &e);
    run_until(&e, server_gone);
    uv_close((uv_handle_t *)&e.watchdog, NULL);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e.loop), 0);
    net_tls_ctx_release(sctx);
    net_tls_ctx_release(cctx);
    if (tls)
        net_tls_testcert_dispose(&certs);
}

static void test_raw_only_server_speaks_first_and_half_close_plaintext(void **state)
{
    (void)state;
    run_case(false);
}

static void test_raw_only_server_speaks_first_and_half_close_tls(void **state)
{
    (void)state;
    run_case(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_only_server_speaks_first_and_half_close_plaintext),
        cmocka_unit_test(test_raw_only_server_speaks_first_and_half_close_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
