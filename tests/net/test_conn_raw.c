/*
 * Raw (byte-stream) connections of the libuv adapter (net/conn.c, net/tcp.c): what HTTP/1.1 and
 * upgraded protocols run on. Real sockets on 127.0.0.1: echo in plaintext and over TLS when ALPN
 * picks http/1.1 (while an h2 client on the same server still gets HTTP/2); the plaintext sniff
 * that sends the HTTP/2 preface to h2 and anything else, byte for byte, to the raw owner (also
 * when the bytes arrive one by one and start like the preface); the sniff deadline; the write
 * queue cap with read pause and on_drain; the lingering close of net_conn_end, which must deliver
 * a final answer to a peer that is still sending instead of resetting it; the half-close of
 * net_conn_shutdown; the hand-over of a connection to new callbacks; and the graceful
 * server close through on_shutdown.
 *
 * Every wait is "run the loop until a condition holds", bounded by a watchdog; no timing asserts.
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
#include "net_test_util.h"

typedef struct side {
    char *buf;
    size_t len, cap;
    int opens, closes, close_reason, raw_closes, eofs, drains, shutdowns;
    bool raw;
    net_conn_t *conn;
} side_t;

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    net_server_t *srv;
    bool srv_closed;
    net_tls_testcert_t certs;
    net_tls_ctx_t *srv_tls, *cli_tls;
    side_t s, c;     /* server side (last connection), client side */
    int mode;        /* server behaviour, see s_read */
    int h2_requests; /* HTTP/2 requests the server saw */
    size_t flood;    /* server: bytes to write in mode 2 */
    size_t flood_sent;
    size_t wq_max;
    int handed_reads; /* bytes seen by the hand-over callbacks */
    bool handed_closed;
    int order; /* raw on_close must come before on_conn_close */
} env_t;

typedef bool (*pred_t)(env_t *e);

static void run_until(env_t *e, pred_t p)
{
    TN_RUN_UNTIL(&e->loop, e->expired, 5000000, p(e));
}

static void side_add(side_t *s, const uint8_t *d, size_t len)
{
    if (s->len + len + 1 > s->cap) {
        s->cap = (s->len + len + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, d, len);
    s->len += len;
    s->buf[s->len] = '\0';
}

/* ---- server ---- */

enum { MODE_ECHO = 0, MODE_ANSWER_AND_END = 1, MODE_FLOOD = 2, MODE_HAND_OVER = 3 };

static void handed_read(net_conn_t *c, const uint8_t *d, size_t len, void *ud)
{
    (void)c;
    (void)d;
    ((env_t *)ud)->handed_reads += (int)len;
}

static void handed_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    ((env_t *)ud)->handed_closed = true;
}

static void flood_more(env_t *e, net_conn_t *c)
{
    static uint8_t piece[65536];
    while (e->flood_sent < e->flood &&
           net_conn_write_queued(c) < 256u * 1024u /* write_queue_cap */) {
        size_t n =
            e->flood - e->flood_sent < sizeof piece ? e->flood - e->flood_sent : sizeof piece;
        assert_int_equal(net_conn_write(c, piece, n), NET_OK);
        e->flood_sent += n;
        if (net_conn_write_queued(c) > e->wq_max)
            e->wq_max = net_conn_write_queued(c);
    }
    if (e->flood_sent == e->flood)
        net_conn_end(c);
}

static void s_read(net_conn_t *c, const uint8_t *d, size_t len, void *ud)
{
    env_t *e = ud;
    side_add(&e->s, d, len);
    switch (e->mode) {
    case MODE_ECHO:
        assert_int_equal(net_conn_write(c, d, len), NET_OK);
        break;
    case MODE_ANSWER_AND_END:
        if (e->s.len == len) { /* the first bytes */
            assert_int_equal(net_conn_write(c, "ANSWER", 6), NET_OK);
            net_conn_end(c);
            assert_int_equal(net_conn_write(c, "late", 4), NET_ECLOSED);
        } else {
            fail_msg("on_read after net_conn_end");
        }
        break;
    case MODE_HAND_OVER: {
        net_conn_raw_callbacks_t cb = {.on_read = handed_read, .on_close = handed_close};
        assert_int_equal(net_conn_set_raw(c, &cb, e), NET_OK);
        break;
    }
    default:
        break;
    }
}

static void s_eof(net_conn_t *c, void *ud)
{
    env_t *e = ud;
    e->s.eofs++;
    net_conn_end(c);
}

static void s_drain(net_conn_t *c, void *ud)
{
    env_t *e = ud;
    e->s.drains++;
    if (e->mode == MODE_FLOOD)
        flood_more(e, c);
}

static void s_shutdown(net_conn_t *c, void *ud)
{
    env_t *e = ud;
    e->s.shutdowns++;
    net_conn_end(c);
}

static void s_raw_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    env_t *e = ud;
    e->s.raw_closes++;
    e->order = 1;
}

static void s_open(net_conn_t *c, int status, void *ud)
{
    env_t *e = ud;
    assert_int_equal(status, NET_OK);
    e->s.opens++;
    e->s.conn = c;
    e->s.raw = net_conn_is_raw(c);
    if (e->s.raw) {
        assert_null(net_conn_session(c));
        assert_int_equal(net_conn_write(c, NULL, 0), NET_OK);
        if (e->mode == MODE_FLOOD)
            flood_more(e, c);
    } else {
        assert_non_null(net_conn_session(c));
        assert_int_equal(net_conn_write(c, "x", 1), NET_ESTATE);
    }
}

static void s_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->s.closes++;
    e->s.close_reason = status;
    if (e->s.raw && e->mode != MODE_HAND_OVER)
        assert_int_equal(e->order, 1); /* the raw on_close came first */
    e->order = 2;
}

static void s_h2_headers(net_h2_session_t *ss, net_h2_stream_t *st, int kind,
                         const net_h2_header_t *h, size_t n, void *ud)
{
    (void)ss;
    (void)h;
    (void)n;
    env_t *e = ud;
    if (kind != NET_H2_REQUEST)
        return;
    e->h2_requests++;
    net_h2_header_t rh[] = {NET_H2_HDR(":status", "204")};
    net_h2_stream_respond(st, rh, 1, true);
}

static void on_srv_closed(net_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = true;
}

static bool srv_closed(env_t *e)
{
    return e->srv_closed;
}

static void env_init(env_t *e, bool tls, int mode, uint64_t handshake_ms)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tn_watchdog_start(&e->loop, &e->watchdog, &e->expired, 20000);
    e->mode = mode;
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    if (handshake_ms)
        cfg.conn.handshake_timeout_ms = handshake_ms;
    if (tls) {
        assert_int_equal(net_tls_testcert_make(&e->certs, "localhost", NULL, false), NET_OK);
        static const char *const alpn[] = {"h2", "http/1.1", NULL};
        int err;
        e->srv_tls = net_tls_ctx_new(true,
                                     &(net_tls_config_t){.cert_pem = e->certs.cert_pem,
                                                         .key_pem = e->certs.key_pem,
                                                         .alpn = alpn},
                                     &err);
        assert_non_null(e->srv_tls);
        cfg.tls = e->srv_tls;
    }
    cfg.cb = (net_h2_callbacks_t){.on_headers = s_h2_headers};
    cfg.raw = (net_conn_raw_callbacks_t){.on_read = s_read,
                                         .on_eof = s_eof,
                                         .on_drain = s_drain,
                                         .on_shutdown = s_shutdown,
                                         .on_close = s_raw_close};
    cfg.ud = e;
    cfg.on_conn_open = s_open;
    cfg.on_conn_close = s_close;
    int err;
    e->srv = net_server_new(&e->loop, &cfg, &err);
    assert_non_null(e->srv);
}

static void env_dispose(env_t *e)
{
    if (e->srv && !e->srv_closed) {
        net_server_close(e->srv, false, on_srv_closed, e);
        run_until(e, srv_closed);
    }
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    for (int i = 0; i < 1000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&e->loop), 0);
    net_tls_ctx_release(e->srv_tls);
    net_tls_ctx_release(e->cli_tls);
    if (e->certs.ca_pem)
        net_tls_testcert_dispose(&e->certs);
    free(e->s.buf);
    free(e->c.buf);
}

/* ---- client ---- */

static void c_read(net_conn_t *c, const uint8_t *d, size_t len, void *ud)
{
    (void)c;
    side_add(&((env_t *)ud)->c, d, len);
}

static void c_eof(net_conn_t *c, void *ud)
{
    ((env_t *)ud)->c.eofs++;
    net_conn_end(c);
}

static void c_drain(net_conn_t *c, void *ud)
{
    (void)c;
    ((env_t *)ud)->c.drains++;
}

static void c_connect(net_conn_t *c, int status, void *ud)
{
    env_t *e = ud;
    e->c.opens++;
    e->c.close_reason = status;
    e->c.raw = status == NET_OK && net_conn_is_raw(c);
}

static void c_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->c.closes++;
    e->c.close_reason = status;
}

static bool c_connected(env_t *e)
{
    return e->c.opens > 0;
}

/* Connects a client; raw unless |h2|. */
static net_conn_t *connect_client(env_t *e, bool raw, const char *const *alpn)
{
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = "127.0.0.1";
    cc.port = (uint16_t)net_server_port(e->srv);
    if (e->srv_tls) {
        int err;
        e->cli_tls = net_tls_ctx_new(
            false, &(net_tls_config_t){.ca_pem = e->certs.ca_pem, .alpn = alpn}, &err);
        assert_non_null(e->cli_tls);
        cc.tls = e->cli_tls;
        cc.server_name = "localhost";
    }
    if (raw)
        cc.raw = (net_conn_raw_callbacks_t){
            .on_read = c_read, .on_eof = c_eof, .on_drain = c_drain, .on_close = NULL};
    cc.on_connect = c_connect;
    cc.on_close = c_close;
    cc.ud = e;
    int err;
    net_conn_t *c = net_client_connect(&e->loop, &cc, &err);
    assert_non_null(c);
    e->c.conn = c;
    run_until(e, c_connected);
    assert_int_equal(e->c.close_reason, NET_OK);
    return c;
}

static size_t want_len;
static bool c_has_want(env_t *e)
{
    return e->c.len >= want_len || e->c.closes;
}
static bool s_has_want(env_t *e)
{
    return e->s.len >= want_len || e->s.closes;
}
static bool both_closed(env_t *e)
{
    return e->c.closes && e->s.closes;
}

/* ---- tests ---- */

static void test_raw_echo_plaintext_and_orderly_end(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_ECHO, 0);
    net_conn_t *c = connect_client(&e, true, NULL);
    assert_true(e.c.raw);
    assert_int_equal(net_conn_write(c, "GET / HTTP/1.1\r\n", 16), NET_OK);
    assert_int_equal(net_conn_write(c, "\r\n", 2), NET_OK);
    want_len = 18;
    run_until(&e, c_has_want);
    assert_string_equal(e.c.buf, "GET / HTTP/1.1\r\n\r\n");
    assert_true(e.s.raw);
    assert_null(net_conn_alpn(c));
    net_conn_end(c); /* FIN → server on_eof → server ends → both close cleanly */
    run_until(&e, both_closed);
    assert_int_equal(e.s.eofs, 1);
    assert_int_equal(e.c.eofs, 0); /* no callback but on_close after net_conn_end */
    assert_int_equal(e.s.close_reason, NET_OK);
    assert_int_equal(e.c.close_reason, NET_OK);
    assert_int_equal(e.s.raw_closes, 1);
    env_dispose(&e);
}

/* net_conn_shutdown: the client's FIN goes out while its reading goes on; the server still
 * answers after the EOF, and both sides then close by themselves. */
static void test_shutdown_write_half_closes_and_keeps_reading(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_ECHO, 0);
    net_conn_t *c = connect_client(&e, true, NULL);
    assert_int_equal(net_conn_write(c, "ping", 4), NET_OK);
    assert_int_equal(net_conn_shutdown(c), NET_OK);
    assert_int_equal(net_conn_shutdown(c), NET_OK); /* twice: fine */
    assert_int_equal(net_conn_write(c, "late", 4), NET_ECLOSED);
    run_until(&e, both_closed); /* server: echo, EOF, end; client: echo, EOF, closed */
    assert_string_equal(e.s.buf, "ping");
    assert_string_equal(e.c.buf, "ping"); /* read after our FIN */
    assert_int_equal(e.s.eofs, 1);
    assert_int_equal(e.c.eofs, 1);
    assert_int_equal(e.c.close_reason, NET_OK);
    env_dispose(&e);
}

static void test_tls_alpn_http11_is_raw_and_h2_stays_h2(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, true, MODE_ECHO, 0);
    static const char *const h11[] = {"http/1.1", NULL};
    net_conn_t *c = connect_client(&e, true, h11);
    assert_true(e.c.raw);
    assert_string_equal(net_conn_alpn(c), "http/1.1");
    assert_int_equal(net_conn_write(c, "over tls", 8), NET_OK);
    want_len = 8;
    run_until(&e, c_has_want);
    assert_string_equal(e.c.buf, "over tls");
    assert_true(e.s.raw);
    assert_string_equal(net_conn_alpn(e.s.conn), "http/1.1");
    net_conn_end(c);
    run_until(&e, both_closed);
    assert_int_equal(e.s.close_reason, NET_OK);
    env_dispose(&e);

    /* The same server gives an h2 client HTTP/2. */
    env_init(&e, true, MODE_ECHO, 0);
    static const char *const h2[] = {"h2", NULL};
    c = connect_client(&e, false, h2);
    assert_false(e.c.raw);
    assert_non_null(net_conn_session(c));
    assert_string_equal(net_conn_alpn(c), "h2");
    env_dispose(&e);
}

static void test_sniff_sends_preface_to_h2_and_the_rest_byte_for_byte_to_raw(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_ECHO, 0);
    /* Starts like the preface, then differs; sent a byte at a time. */
    net_conn_t *c = connect_client(&e, true, NULL);
    static const char msg[] = "PRI * HTTP/1.1\r\nX: y\r\n\r\n";
    for (size_t i = 0; i < sizeof msg - 1; i++) {
        assert_int_equal(net_conn_write(c, msg + i, 1), NET_OK);
        for (int k = 0; k < 3; k++)
            uv_run(&e.loop, UV_RUN_NOWAIT);
    }
    want_len = sizeof msg - 1;
    run_until(&e, s_has_want);
    run_until(&e, c_has_want);
    assert_string_equal(e.s.buf, msg);
    assert_string_equal(e.c.buf, msg);
    assert_true(e.s.raw);
    net_conn_end(c);
    run_until(&e, both_closed);
    env_dispose(&e);

    /* A plaintext h2 client (prior knowledge) gets HTTP/2 from the same kind of server. */
    env_init(&e, false, MODE_ECHO, 0);
    c = connect_client(&e, false, NULL);
    net_h2_header_t req[] = {NET_H2_HDR(":method", "GET"), NET_H2_HDR(":scheme", "http"),
                             NET_H2_HDR(":path", "/"), NET_H2_HDR(":authority", "x")};
    net_h2_stream_t *st;
    assert_int_equal(net_h2_session_request(net_conn_session(c), req, 4, true, NULL, &st), NET_OK);
    net_conn_flush(c);
    for (int i = 0; i < 100000 && e.h2_requests == 0; i++)
        uv_run(&e.loop, UV_RUN_ONCE);
    assert_int_equal(e.h2_requests, 1);
    assert_false(e.s.raw);
    assert_int_equal(e.s.opens, 1);
    env_dispose(&e);
}

static bool s_closed(env_t *e)
{
    return e->s.closes > 0;
}

static void test_sniff_deadline_closes_a_silent_connection(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_ECHO, 100);
    connect_client(&e, true, NULL); /* connects, sends nothing */
    run_until(&e, s_closed);
    assert_int_equal(e.s.opens, 0); /* never became anything */
    assert_int_equal(e.s.close_reason, NET_ETIMEDOUT);
    run_until(&e, both_closed);
    env_dispose(&e);
}

static void test_write_queue_cap_pauses_and_drain_resumes(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_FLOOD, 0);
    e.flood = 8u * 1024u * 1024u;
    net_conn_t *c = connect_client(&e, true, NULL);
    net_conn_set_read_paused(c, true); /* the client reads nothing for a while */
    assert_int_equal(net_conn_write(c, "go", 2), NET_OK);
    for (int i = 0; i < 2000 && e.s.opens == 0; i++)
        uv_run(&e.loop, UV_RUN_ONCE);
    for (int i = 0; i < 200; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    assert_true(e.flood_sent < e.flood); /* the server stopped at the cap */
    net_conn_set_read_paused(c, false);
    want_len = e.flood;
    run_until(&e, c_has_want);
    assert_int_equal(e.c.len, e.flood);
    assert_true(e.s.drains >= 1);
    /* memory bound: the queue never exceeded the cap plus one piece */
    assert_true(e.wq_max < 256u * 1024u + 65536u);
    assert_true(net_conn_write_queued_max(e.s.conn) < 256u * 1024u + 65536u);
    run_until(&e, both_closed);
    assert_int_equal(e.s.close_reason, NET_OK);
    env_dispose(&e);
}

static void test_end_lingers_so_the_answer_reaches_a_peer_still_sending(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_ANSWER_AND_END, 0);
    net_conn_t *c = connect_client(&e, true, NULL);
    /* 4 MiB the server never reads: closing at once would reset the connection. */
    static uint8_t junk[1 << 20];
    memset(junk, 'j', sizeof junk);
    for (int i = 0; i < 4; i++)
        assert_int_equal(net_conn_write(c, junk, sizeof junk), NET_OK);
    run_until(&e, both_closed);
    assert_string_equal(e.c.buf, "ANSWER");
    assert_int_equal(e.c.eofs, 1);
    assert_int_equal(e.c.close_reason, NET_OK); /* EOF, not ECONNRESET */
    assert_int_equal(e.s.close_reason, NET_OK);
    env_dispose(&e);
}

static bool handed(env_t *e)
{
    return e->handed_reads >= 5;
}

static bool handed_and_closed(env_t *e)
{
    return e->handed_closed && e->s.closes;
}

static void test_set_raw_hands_the_connection_over(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_HAND_OVER, 0);
    net_conn_t *c = connect_client(&e, true, NULL);
    assert_int_equal(net_conn_write(c, "first", 5), NET_OK);
    want_len = 5;
    run_until(&e, s_has_want);
    assert_int_equal(net_conn_write(c, "after", 5), NET_OK);
    run_until(&e, handed);
    assert_int_equal(e.s.len, 5); /* the old callbacks saw only the first bytes */
    net_conn_close(c, false);
    run_until(&e, handed_and_closed);
    assert_int_equal(e.s.raw_closes, 0); /* on_close went to the new owner */
    net_conn_raw_callbacks_t none = {0};
    assert_int_equal(net_conn_set_raw(c, &none, NULL), NET_EINVAL);
    env_dispose(&e);
}

static void test_graceful_server_close_asks_raw_owners_to_finish(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, false, MODE_ECHO, 0);
    net_conn_t *c = connect_client(&e, true, NULL);
    assert_int_equal(net_conn_write(c, "hi", 2), NET_OK);
    want_len = 2;
    run_until(&e, c_has_want);
    net_server_close(e.srv, true, on_srv_closed, &e);
    run_until(&e, srv_closed);
    assert_int_equal(e.s.shutdowns, 1);
    assert_int_equal(e.c.eofs, 1);
    assert_int_equal(e.s.close_reason, NET_OK);
    env_dispose(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_echo_plaintext_and_orderly_end),
        cmocka_unit_test(test_tls_alpn_http11_is_raw_and_h2_stays_h2),
        cmocka_unit_test(test_sniff_sends_preface_to_h2_and_the_rest_byte_for_byte_to_raw),
        cmocka_unit_test(test_sniff_deadline_closes_a_silent_connection),
        cmocka_unit_test(test_write_queue_cap_pauses_and_drain_resumes),
        cmocka_unit_test(test_end_lingers_so_the_answer_reaches_a_peer_still_sending),
        cmocka_unit_test(test_set_raw_hands_the_connection_over),
        cmocka_unit_test(test_graceful_server_close_asks_raw_owners_to_finish),
        cmocka_unit_test(test_shutdown_write_half_closes_and_keeps_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
