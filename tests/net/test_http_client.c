/*
 * The HTTP client (net/http_client.c) against the admin HTTP server (net/http_server.c) in the
 * same loop on 127.0.0.1: plaintext HTTP/1.1 with keep-alive reuse, TLS with ALPN h2 (one
 * connection multiplexing many requests) and TLS offering only http/1.1 (the pool), request
 * bodies, a large streamed response, a request timeout against a server that never answers,
 * cancel, a refused connection, close with calls pending; and the sans-IO request head builder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/http_client.h"
#include "net/http_server.h"

#define BIG_LEN (3u * 1024u * 1024u + 5u)

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    net_tls_testcert_t certs;
    net_tls_ctx_t *srv_tls, *cli_tls;
    net_http_server_t *srv;
    net_server_t *mute; /* accepts and never answers */
    int port, mute_port;
} env_t;

typedef struct result {
    int status, err, done;
    size_t bytes, pieces;
    char body[256];
} result_t;

static void watchdog_cb(uv_timer_t *t)
{
    ((env_t *)t->data)->expired = true;
}

static void run_until_done(env_t *e, const int *done, int want)
{
    for (long i = 0; i < 1000000 && *done < want; i++) {
        if (e->expired)
            fail_msg("watchdog expired while waiting");
        uv_run(&e->loop, UV_RUN_ONCE);
    }
    assert_int_equal(*done, want);
}

static void h_echo(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)ud;
    net_http_response_printf(resp, "%s %s%s%s v%d len=%zu", req->method, req->path,
                             req->query[0] ? "?" : "", req->query, req->http_version,
                             req->body_len);
}

static void h_big(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    char *b = malloc(BIG_LEN);
    assert_non_null(b);
    memset(b, 'x', BIG_LEN);
    net_http_response_write(resp, b, BIG_LEN);
    free(b);
}

static void h_teapot(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    (void)req;
    (void)ud;
    net_http_response_set_status(resp, 418);
    net_http_response_printf(resp, "short and stout");
}

static void mute_read(net_conn_t *c, const uint8_t *d, size_t n, void *ud)
{
    (void)c;
    (void)d;
    (void)n;
    (void)ud;
}

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->watchdog);
    e->watchdog.data = e;
    uv_timer_start(&e->watchdog, watchdog_cb, 20000, 0);
    assert_int_equal(net_tls_testcert_make(&e->certs, "localhost", NULL, false), NET_OK);
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    net_tls_config_t sc = {
        .cert_pem = e->certs.cert_pem, .key_pem = e->certs.key_pem, .alpn = alpn};
    int err = 0;
    e->srv_tls = net_tls_ctx_new(true, &sc, &err);
    assert_non_null(e->srv_tls);
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    hc.server.tls = e->srv_tls;
    e->srv = net_http_server_new(&e->loop, &hc, &err);
    assert_non_null(e->srv);
    net_http_server_route(e->srv, "*", "/echo", h_echo, e);
    net_http_server_route(e->srv, "GET", "/big", h_big, e);
    net_http_server_route(e->srv, "GET", "/teapot", h_teapot, e);
    e->port = net_http_server_port(e->srv);
    net_server_config_t mc;
    net_server_config_default(&mc);
    mc.raw.on_read = mute_read;
    e->mute = net_server_new(&e->loop, &mc, &err);
    assert_non_null(e->mute);
    e->mute_port = net_server_port(e->mute);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    net_http_server_close(e->srv, false, NULL, NULL);
    net_server_close(e->mute, false, NULL, NULL);
    net_tls_ctx_release(e->srv_tls);
    net_tls_ctx_release(e->cli_tls);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    for (int i = 0; i < 1000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&e->loop), 0);
    net_tls_testcert_dispose(&e->certs);
    free(e);
    return 0;
}

/* A plaintext server for the HTTP/1.1 tests: the TLS one only speaks TLS. */
static net_http_server_t *plain_server(env_t *e, int *port)
{
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    int err = 0;
    net_http_server_t *s = net_http_server_new(&e->loop, &hc, &err);
    assert_non_null(s);
    net_http_server_route(s, "*", "/echo", h_echo, e);
    net_http_server_route(s, "GET", "/big", h_big, e);
    *port = net_http_server_port(s);
    return s;
}

static void r_head(void *ud, int status, const net_h2_header_t *h, size_t n)
{
    (void)h;
    (void)n;
    ((result_t *)ud)->status = status;
}

static void r_data(void *ud, const uint8_t *d, size_t len)
{
    result_t *r = ud;
    if (r->bytes < sizeof(r->body) - 1) {
        size_t take = len < sizeof(r->body) - 1 - r->bytes ? len : sizeof(r->body) - 1 - r->bytes;
        memcpy(r->body + r->bytes, d, take);
    }
    r->bytes += len;
    r->pieces++;
}

static void r_done(void *ud, int err)
{
    result_t *r = ud;
    r->err = err;
    r->done++;
}

static const net_http_call_cbs_t cbs = {r_head, r_data, r_done};

static net_http_client_t *client(env_t *e, int port, const char *const *alpn)
{
    net_http_client_config_t cc;
    net_http_client_config_default(&cc);
    cc.host = "127.0.0.1";
    cc.port = (uint16_t)port;
    if (alpn) {
        net_tls_ctx_release(e->cli_tls);
        net_tls_config_t tc = {.ca_pem = e->certs.ca_pem, .alpn = alpn};
        int err = 0;
        e->cli_tls = net_tls_ctx_new(false, &tc, &err);
        assert_non_null(e->cli_tls);
        cc.tls = e->cli_tls;
        cc.server_name = "localhost";
    }
    int err = 0;
    net_http_client_t *c = net_http_client_new(&e->loop, &cc, &err);
    assert_non_null(c);
    return c;
}

static void closed_cb(void *ud)
{
    (*(int *)ud)++;
}

static void close_client(env_t *e, net_http_client_t *c)
{
    int closed = 0;
    net_http_client_close(c, closed_cb, &closed);
    run_until_done(e, &closed, 1);
}

static void test_h1_head_builder_adds_host_and_length(void **state)
{
    (void)state;
    net_h1_buf_t b = {0};
    net_h2_header_t h[] = {NET_H2_HDR("authorization", "Bearer t")};
    net_http_client_request_t req = {.method = "PATCH",
                                     .path = "/a?b=1",
                                     .headers = h,
                                     .nheaders = 1,
                                     .body = "{}",
                                     .body_len = 2};
    assert_int_equal(net_http_client_h1_head(&b, &req, "h:1"), NET_OK);
    assert_int_equal(net_h1_buf_append(&b, "", 1), NET_OK);
    assert_string_equal((char *)b.data,
                        "PATCH /a?b=1 HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n"
                        "authorization: Bearer t\r\n\r\n");
    net_h1_buf_dispose(&b);
    net_http_client_request_t bad = {.method = "GET", .path = "/a b"};
    assert_int_equal(net_http_client_h1_head(&b, &bad, "h"), NET_EINVAL);
    assert_int_equal(b.len, 0);
    net_h1_buf_dispose(&b);
}

static void test_h1_plaintext_reuses_keepalive_connection(void **state)
{
    env_t *e = *state;
    int port;
    net_http_server_t *s = plain_server(e, &port);
    net_http_client_t *c = client(e, port, NULL);
    result_t r[3] = {0};
    for (int i = 0; i < 3; i++) {
        net_http_client_request_t req = {.method = i == 1 ? "POST" : "GET",
                                         .path = "/echo?x=1",
                                         .body = i == 1 ? "abc" : NULL,
                                         .body_len = i == 1 ? 3 : 0,
                                         .timeout_ms = 5000};
        assert_int_equal(net_http_client_request(c, &req, &cbs, &r[i], NULL), NET_OK);
        run_until_done(e, &r[i].done, 1);
        assert_int_equal(r[i].err, NET_OK);
        assert_int_equal(r[i].status, 200);
    }
    assert_string_equal(r[0].body, "GET /echo?x=1 v11 len=0");
    assert_string_equal(r[1].body, "POST /echo?x=1 v11 len=3");
    net_http_client_stats_t st;
    net_http_client_stats(c, &st);
    assert_int_equal(st.connects, 1);
    assert_false(st.h2);
    assert_int_equal(st.completed, 3);
    close_client(e, c);
    net_http_server_close(s, false, NULL, NULL);
}

static void test_tls_h2_multiplexes_on_one_connection(void **state)
{
    env_t *e = *state;
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    net_http_client_t *c = client(e, e->port, alpn);
    result_t r[8] = {0};
    int done = 0;
    for (int i = 0; i < 8; i++) {
        net_http_client_request_t req = {.method = i == 1 ? "PUT" : "GET",
                                         .path = i == 7 ? "/teapot" : "/echo",
                                         .body = i == 1 ? "hello" : NULL,
                                         .body_len = i == 1 ? 5 : 0};
        assert_int_equal(net_http_client_request(c, &req, &cbs, &r[i], NULL), NET_OK);
    }
    for (long k = 0; k < 1000000 && done < 8; k++) {
        assert_false(e->expired);
        uv_run(&e->loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < 8; i++)
            done += r[i].done;
    }
    assert_int_equal(done, 8);
    assert_string_equal(r[0].body, "GET /echo v20 len=0");
    assert_string_equal(r[1].body, "PUT /echo v20 len=5");
    assert_int_equal(r[7].status, 418);
    assert_int_equal(r[7].err, NET_OK);
    net_http_client_stats_t st;
    net_http_client_stats(c, &st);
    assert_int_equal(st.connects, 1);
    assert_true(st.h2);
    close_client(e, c);
}

typedef struct chain {
    net_http_client_t *c;
    result_t first, second;
} chain_t;

static void chain_done(void *ud, int err)
{
    chain_t *ch = ud;
    r_done(&ch->first, err);
    net_http_client_request_t req = {
        .method = "POST", .path = "/echo", .body = "abc", .body_len = 3};
    assert_int_equal(net_http_client_request(ch->c, &req, &cbs, &ch->second, NULL), NET_OK);
}

static void chain_head(void *ud, int status, const net_h2_header_t *h, size_t n)
{
    r_head(&((chain_t *)ud)->first, status, h, n);
}

static void test_request_from_inside_on_done_goes_out(void **state)
{
    env_t *e = *state;
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    chain_t ch = {0};
    ch.c = client(e, e->port, alpn);
    net_http_call_cbs_t ccbs = {chain_head, NULL, chain_done};
    net_http_client_request_t req = {.method = "GET", .path = "/echo"};
    assert_int_equal(net_http_client_request(ch.c, &req, &ccbs, &ch, NULL), NET_OK);
    run_until_done(e, &ch.second.done, 1);
    assert_int_equal(ch.second.err, NET_OK);
    assert_string_equal(ch.second.body, "POST /echo v20 len=3");
    close_client(e, ch.c);
}

static void test_tls_http1_only_pool_streams_large_body(void **state)
{
    env_t *e = *state;
    static const char *const alpn[] = {"http/1.1", NULL};
    net_http_client_t *c = client(e, e->port, alpn);
    result_t r[3] = {0};
    net_http_client_request_t req = {.method = "GET", .path = "/big"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(net_http_client_request(c, &req, &cbs, &r[i], NULL), NET_OK);
    int done = 0;
    for (long k = 0; k < 1000000 && done < 3; k++) {
        assert_false(e->expired);
        uv_run(&e->loop, UV_RUN_ONCE);
        done = r[0].done + r[1].done + r[2].done;
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].err, NET_OK);
        assert_int_equal(r[i].bytes, BIG_LEN);
        assert_true(r[i].pieces > 1); /* streamed, not buffered whole */
    }
    net_http_client_stats_t st;
    net_http_client_stats(c, &st);
    assert_false(st.h2);
    assert_true(st.connects >= 1 && st.connects <= 4);
    close_client(e, c);
}

static void test_timeout_cancel_and_refused(void **state)
{
    env_t *e = *state;
    net_http_client_t *c = client(e, e->mute_port, NULL);
    result_t r = {0}, never = {0};
    net_http_client_request_t req = {.method = "GET", .path = "/", .timeout_ms = 200};
    assert_int_equal(net_http_client_request(c, &req, &cbs, &r, NULL), NET_OK);
    run_until_done(e, &r.done, 1);
    assert_int_equal(r.err, NET_ETIMEDOUT);
    /* cancel: no callback ever */
    net_http_call_t *call = NULL;
    req.timeout_ms = 0;
    assert_int_equal(net_http_client_request(c, &req, &cbs, &never, &call), NET_OK);
    for (int i = 0; i < 20; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    net_http_call_cancel(call);
    /* close with one pending: ECLOSED */
    result_t pend = {0};
    assert_int_equal(net_http_client_request(c, &req, &cbs, &pend, NULL), NET_OK);
    close_client(e, c);
    assert_int_equal(pend.done, 1);
    assert_int_equal(pend.err, NET_ECLOSED);
    assert_int_equal(never.done, 0);
    /* nothing listens on the closed port: EIO */
    int port;
    net_http_server_t *s = plain_server(e, &port);
    int closed = 0;
    net_http_server_close(s, false, (void (*)(net_http_server_t *, void *))NULL, NULL);
    for (int i = 0; i < 50; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    (void)closed;
    c = client(e, port, NULL);
    result_t ref = {0};
    assert_int_equal(net_http_client_request(c, &req, &cbs, &ref, NULL), NET_OK);
    run_until_done(e, &ref.done, 1);
    assert_int_equal(ref.err, NET_EIO);
    close_client(e, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_head_builder_adds_host_and_length),
        cmocka_unit_test_setup_teardown(test_h1_plaintext_reuses_keepalive_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_h2_multiplexes_on_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_from_inside_on_done_goes_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_http1_only_pool_streams_large_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timeout_cancel_and_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
