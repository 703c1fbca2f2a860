/*
 * The libuv adapter (net/conn.c, net/tcp.c) on real sockets on 127.0.0.1 (and ::1 when the host
 * has IPv6): h2c and TLS+ALPN exchanges between our client and our server, connect and handshake
 * failures, graceful close with a stream in flight, keepalive and idle timeouts, the connection
 * limit, and memory bounds against a client that never reads (both an HTTP/2 peer that never
 * acknowledges data and a TCP peer that never reads its socket).
 *
 * Every wait is "run the loop until a condition holds", bounded by an iteration count and a
 * watchdog timer; nothing asserts on elapsed time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "net/conn.h"
#include "net_test_util.h"

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    net_server_t *srv;
    bool srv_closed;
    net_tls_testcert_t certs;
    /* server side */
    int srv_opens, srv_closes, srv_close_reason;
    int srv_requests;
    size_t srv_max_h2_queued, srv_max_wq;
    net_h2_stream_t *srv_stream;
    bool srv_blocked;
    size_t srv_written;
    int srv_mode; /* 0 echo on end; 1 stream forever; 2 hold (no response) */
    bool srv_read_paused_seen;
    /* client side */
    net_conn_t *cli;
    int cli_connect_status;
    bool cli_connected;
    int cli_closes, cli_close_reason;
    char cli_body[256];
    size_t cli_body_bytes;
    int cli_status_seen;
    bool cli_ended, cli_stream_closed;
    uint32_t cli_stream_code;
    int goaways;
    int ping_acks;
    int ka[4]; /* SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT of the accepted socket */
} env_t;

static void env_init(env_t *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tn_watchdog_start(&e->loop, &e->watchdog, &e->expired, 20000);
    e->cli_connect_status = 1;
}

typedef bool (*pred_t)(env_t *e);

static void run_until(env_t *e, pred_t p)
{
    TN_RUN_UNTIL(&e->loop, e->expired, 2000000, p(e));
}

static bool srv_is_closed(env_t *e)
{
    return e->srv_closed;
}

static void on_srv_closed(net_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = true;
}

static void env_dispose(env_t *e)
{
    if (e->srv && !e->srv_closed) {
        net_server_close(e->srv, false, on_srv_closed, e);
        run_until(e, srv_is_closed);
    }
    if (e->cli && e->cli_closes == 0)
        net_conn_close(e->cli, false);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    for (int i = 0; i < 1000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&e->loop), 0);
    net_tls_testcert_dispose(&e->certs);
}

/* ---- server behaviour ---- */

static uint8_t blob[16384];

static void srv_pump(env_t *e, net_h2_stream_t *st)
{
    for (int i = 0; i < 1000; i++) {
        int rc = net_h2_stream_write(st, blob, sizeof blob);
        if (rc == NET_EAGAIN) {
            e->srv_blocked = true;
            break;
        }
        assert_int_equal(rc, NET_OK);
        e->srv_written += sizeof blob;
    }
    net_h2_session_t *s = net_h2_stream_session(st);
    net_conn_t *c = net_conn_from_session(s);
    if (net_h2_session_queued(s) > e->srv_max_h2_queued)
        e->srv_max_h2_queued = net_h2_session_queued(s);
    if (net_conn_write_queued_max(c) > e->srv_max_wq)
        e->srv_max_wq = net_conn_write_queued_max(c);
}

static void s_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)s;
    (void)h;
    (void)n;
    env_t *e = ud;
    if (kind != NET_H2_REQUEST)
        return;
    e->srv_requests++;
    e->srv_stream = st;
    if (e->srv_mode == 1) {
        net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
        assert_int_equal(net_h2_stream_respond(st, rh, 1, false), NET_OK);
        srv_pump(e, st);
    }
}

static void s_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *d, size_t len, void *ud)
{
    (void)s;
    env_t *e = ud;
    if (e->srv_mode == 0) {
        /* echo: respond on the first byte, copy everything */
        if (!net_h2_stream_user(st)) {
            net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
            assert_int_equal(net_h2_stream_respond(st, rh, 1, false), NET_OK);
            net_h2_stream_set_user(st, e);
        }
        assert_int_equal(net_h2_stream_write(st, d, len), NET_OK);
    }
}

static void s_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    env_t *e = ud;
    if (e->srv_mode == 0) {
        if (!net_h2_stream_user(st)) {
            net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
            assert_int_equal(net_h2_stream_respond(st, rh, 1, false), NET_OK);
        }
        net_h2_header_t tr[] = {NET_H2_HDR("x-done", "yes")};
        assert_int_equal(net_h2_stream_end(st, tr, 1), NET_OK);
    }
}

static void s_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)s;
    (void)code;
    env_t *e = ud;
    if (e->srv_stream == st)
        e->srv_stream = NULL;
}

static void s_writable(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    env_t *e = ud;
    e->srv_blocked = false;
    if (e->srv_mode == 1)
        srv_pump(e, st);
}

static void s_ping_ack(net_h2_session_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->ping_acks++;
}

static void srv_open(net_conn_t *c, int status, void *ud)
{
    env_t *e = ud;
    assert_int_equal(status, NET_OK);
    e->srv_opens++;
    int fd = net_conn_fileno(c);
    assert_true(fd >= 0);
    const int opt[4][2] = {{SOL_SOCKET, SO_KEEPALIVE},
                           {IPPROTO_TCP, TCP_KEEPIDLE},
                           {IPPROTO_TCP, TCP_KEEPINTVL},
                           {IPPROTO_TCP, TCP_KEEPCNT}};
    for (int i = 0; i < 4; i++) {
        socklen_t len = sizeof e->ka[i];
        assert_int_equal(getsockopt(fd, opt[i][0], opt[i][1], &e->ka[i], &len), 0);
    }
}

static void srv_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->srv_closes++;
    e->srv_close_reason = status;
}

static void start_server(env_t *e, const char *listen, bool tls, net_server_config_t *over)
{
    net_server_config_t cfg;
    if (over)
        cfg = *over;
    else
        net_server_config_default(&cfg);
    cfg.listen = listen;
    cfg.cb = (net_h2_callbacks_t){.on_headers = s_headers,
                                  .on_data = s_data,
                                  .on_end = s_end,
                                  .on_close = s_close,
                                  .on_writable = s_writable,
                                  .on_ping_ack = s_ping_ack};
    cfg.ud = e;
    cfg.on_conn_open = srv_open;
    cfg.on_conn_close = srv_close;
    net_tls_ctx_t *ctx = NULL;
    if (tls) {
        assert_int_equal(net_tls_testcert_make(&e->certs, "localhost", NULL, false), NET_OK);
        net_tls_config_t tc = {.cert_pem = e->certs.cert_pem, .key_pem = e->certs.key_pem};
        int err;
        ctx = net_tls_ctx_new(true, &tc, &err);
        assert_non_null(ctx);
        cfg.tls = ctx;
    }
    int err;
    e->srv = net_server_new(&e->loop, &cfg, &err);
    net_tls_ctx_release(ctx); /* the server keeps its own reference */
    assert_non_null(e->srv);
    assert_int_equal(err, NET_OK);
    assert_true(net_server_port(e->srv) > 0);
}

/* ---- client ---- */

static void c_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)s;
    (void)st;
    env_t *e = ud;
    const net_h2_header_t *status = net_h2_header_find(h, n, ":status");
    if (kind == NET_H2_RESPONSE && status)
        e->cli_status_seen = atoi(status->value);
    if (kind == NET_H2_TRAILERS)
        assert_non_null(net_h2_header_find(h, n, "x-done"));
}

static void c_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *d, size_t len, void *ud)
{
    (void)s;
    (void)st;
    env_t *e = ud;
    size_t have = strlen(e->cli_body);
    for (size_t i = 0; i < len && have + 1 < sizeof e->cli_body; i++)
        e->cli_body[have++] = (char)d[i];
    e->cli_body[have] = '\0';
    e->cli_body_bytes += len;
}

static void c_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)st;
    ((env_t *)ud)->cli_ended = true;
}

static void c_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)s;
    (void)st;
    env_t *e = ud;
    e->cli_stream_closed = true;
    e->cli_stream_code = code;
}

static void c_goaway(net_h2_session_t *s, uint32_t last, uint32_t code, void *ud)
{
    (void)s;
    (void)last;
    (void)code;
    ((env_t *)ud)->goaways++;
}

static void cli_connect_cb(net_conn_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->cli_connect_status = status;
    e->cli_connected = status == NET_OK;
}

static void cli_close_cb(net_conn_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->cli_closes++;
    e->cli_close_reason = status;
    e->cli = NULL;
}

static void connect_client(env_t *e, const char *host, int port, bool tls, const char *ca_pem,
                           net_client_config_t *over)
{
    net_client_config_t cfg;
    if (over)
        cfg = *over;
    else
        net_client_config_default(&cfg);
    cfg.host = host;
    cfg.port = (uint16_t)port;
    cfg.cb = (net_h2_callbacks_t){.on_headers = c_headers,
                                  .on_data = c_data,
                                  .on_end = c_end,
                                  .on_close = c_close,
                                  .on_goaway = c_goaway};
    cfg.ud = e;
    cfg.on_connect = cli_connect_cb;
    cfg.on_close = cli_close_cb;
    net_tls_ctx_t *ctx = NULL;
    if (tls) {
        net_tls_config_t tc = {.ca_pem = ca_pem};
        int err;
        ctx = net_tls_ctx_new(false, &tc, &err);
        assert_non_null(ctx);
        cfg.tls = ctx;
    }
    int err;
    e->cli = net_client_connect(&e->loop, &cfg, &err);
    net_tls_ctx_release(ctx);
    assert_non_null(e->cli);
}

static bool connect_done(env_t *e)
{
    return e->cli_connect_status != 1;
}

static bool stream_done(env_t *e)
{
    return e->cli_stream_closed;
}

static bool cli_gone(env_t *e)
{
    return e->cli_closes > 0;
}

static net_h2_stream_t *request(env_t *e, const char *body, bool end)
{
    net_h2_header_t h[] = {NET_H2_HDR(":method", "POST"), NET_H2_HDR(":scheme", "http"),
                           NET_H2_HDR(":authority", "localhost"), NET_H2_HDR(":path", "/echo")};
    net_h2_stream_t *st;
    assert_int_equal(net_h2_session_request(net_conn_session(e->cli), h, 4, false, e, &st), NET_OK);
    if (body)
        assert_int_equal(net_h2_stream_write(st, body, strlen(body)), NET_OK);
    if (end)
        assert_int_equal(net_h2_stream_end(st, NULL, 0), NET_OK);
    return st;
}

static void echo_roundtrip(const char *listen, const char *host, bool tls)
{
    env_t e;
    env_init(&e);
    start_server(&e, listen, tls, NULL);
    connect_client(&e, host, net_server_port(e.srv), tls, e.certs.ca_pem, NULL);
    run_until(&e, connect_done);
    assert_int_equal(e.cli_connect_status, NET_OK);
    if (tls)
        assert_string_equal(net_conn_alpn(e.cli), "h2");
    else
        assert_null(net_conn_alpn(e.cli));
    request(&e, "ping-pong", true);
    run_until(&e, stream_done);
    assert_int_equal(e.cli_status_seen, 200);
    assert_string_equal(e.cli_body, "ping-pong");
    assert_true(e.cli_ended);
    assert_int_equal(e.cli_stream_code, 0);
    assert_int_equal(e.srv_opens, 1);
    assert_int_equal(net_server_connections(e.srv), 1);
    net_conn_close(e.cli, true);
    run_until(&e, cli_gone);
    assert_int_equal(e.cli_close_reason, NET_OK);
    env_dispose(&e);
}

static void test_h2c_echo_ipv4(void **state)
{
    (void)state;
    echo_roundtrip("127.0.0.1:0", "127.0.0.1", false);
}

static void test_h2c_echo_ipv6(void **state)
{
    (void)state;
    /* Skip where the host has no IPv6 loopback. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t t;
    uv_tcp_init(&loop, &t);
    struct sockaddr_in6 a;
    uv_ip6_addr("::1", 0, &a);
    int rv = uv_tcp_bind(&t, (struct sockaddr *)&a, 0);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rv != 0)
        skip();
    echo_roundtrip("[::1]:0", "::1", false);
}

static void test_tls_alpn_h2_echo(void **state)
{
    (void)state;
    echo_roundtrip("127.0.0.1:0", "127.0.0.1", true);
    echo_roundtrip("127.0.0.1:0", "localhost", true); /* name resolved, verified by DNS SAN */
}

static void test_tls_untrusted_server_fails_connect(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    start_server(&e, "127.0.0.1:0", true, NULL);
    net_tls_testcert_t other;
    assert_int_equal(net_tls_testcert_make(&other, NULL, NULL, false), NET_OK);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), true, other.ca_pem, NULL);
    run_until(&e, cli_gone);
    assert_int_equal(e.cli_connect_status, NET_ETLS);
    assert_int_equal(e.cli_close_reason, NET_ETLS);
    net_tls_testcert_dispose(&other);
    env_dispose(&e);
}

/* The socket of this process connected to 127.0.0.1:|port| (the client's side), or -1. */
static int fd_connected_to(int port)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        if (getpeername(fd, (struct sockaddr *)&a, &len) == 0 && a.sin_family == AF_INET &&
            ntohs(a.sin_port) == port)
            return fd;
    }
    return -1;
}

static void test_tcp_keepalive_options_are_set(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    start_server(&e, "127.0.0.1:0", false, NULL);
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.conn.tcp_keepalive_idle_s = 42;
    cc.conn.tcp_keepalive_interval_s = 7;
    cc.conn.tcp_keepalive_probes = 3;
    int port = net_server_port(e.srv);
    connect_client(&e, "127.0.0.1", port, false, NULL, &cc);
    run_until(&e, connect_done);
    assert_int_equal(e.cli_connect_status, NET_OK);
    int fd = fd_connected_to(port);
    assert_true(fd >= 0);
    int v = 0;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
    assert_int_equal(v, 1);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
    assert_int_equal(v, 42);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &len), 0);
    assert_int_equal(v, 7);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &len), 0);
    assert_int_equal(v, 3);
    net_conn_close(e.cli, false);
    run_until(&e, cli_gone);
    /* the default: no keepalive */
    e.cli_connect_status = 1;
    e.cli_closes = 0;
    connect_client(&e, "127.0.0.1", port, false, NULL, NULL);
    run_until(&e, connect_done);
    fd = fd_connected_to(port);
    assert_true(fd >= 0);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
    assert_int_equal(v, 0);
    net_conn_close(e.cli, false);
    run_until(&e, cli_gone);
    env_dispose(&e);
}

static void test_connect_refused_reports_eio(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    /* A port that was just free: bind, read the port, close. */
    start_server(&e, "127.0.0.1:0", false, NULL);
    int port = net_server_port(e.srv);
    net_server_close(e.srv, false, on_srv_closed, &e);
    run_until(&e, srv_is_closed);
    connect_client(&e, "127.0.0.1", port, false, NULL, NULL);
    run_until(&e, cli_gone);
    assert_int_equal(e.cli_connect_status, NET_EIO);
    int err;
    net_client_config_t cfg;
    net_client_config_default(&cfg);
    assert_null(net_client_connect(&e.loop, &cfg, &err)); /* no host */
    assert_int_equal(err, NET_EADDR);
    env_dispose(&e);
}

static void test_bad_listen_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    const char *bad[] = {"",       "1.2.3.4", "1.2.3.4:",     "1.2.3.4:x", "1.2.3.4:70000",
                         "::1:80", "[::1]80", "localhost:80", "[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(net_addr_parse(bad[i], &ss), NET_EADDR);
    assert_int_equal(net_addr_parse("0.0.0.0:9978", &ss), NET_OK);
    assert_int_equal(net_addr_parse("[::]:0", &ss), NET_OK);
    char buf[64];
    assert_int_equal(net_addr_parse("[::1]:443", &ss), NET_OK);
    net_addr_format((struct sockaddr *)&ss, buf, sizeof buf);
    assert_string_equal(buf, "[::1]:443");
    env_t e;
    env_init(&e);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.listen = "nonsense";
    int err;
    assert_null(net_server_new(&e.loop, &cfg, &err));
    assert_int_equal(err, NET_EADDR);
    start_server(&e, "127.0.0.1:0", false, NULL);
    char taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", net_server_port(e.srv));
    cfg.listen = taken;
    assert_null(net_server_new(&e.loop, &cfg, &err));
    assert_int_equal(err, NET_EIO);
    env_dispose(&e);
}

static bool srv_stream_seen(env_t *e)
{
    return e->srv_requests > 0;
}

static bool two_goaways(env_t *e)
{
    return e->goaways >= 2;
}

static void test_graceful_server_close_lets_the_stream_finish(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    start_server(&e, "127.0.0.1:0", false, NULL);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, NULL);
    run_until(&e, connect_done);
    net_h2_stream_t *st = request(&e, "part1-", false);
    run_until(&e, srv_stream_seen);
    net_server_close(e.srv, true, on_srv_closed, &e);
    /* GOAWAY arrives (the notice, then the final one); the stream is still served to its end. */
    run_until(&e, two_goaways);
    assert_int_equal(e.goaways, 2);
    assert_false(e.srv_closed);
    assert_int_equal(net_h2_stream_write(st, "part2", 5), NET_OK);
    assert_int_equal(net_h2_stream_end(st, NULL, 0), NET_OK);
    run_until(&e, srv_is_closed);
    run_until(&e, cli_gone);
    assert_string_equal(e.cli_body, "part1-part2");
    assert_int_equal(e.cli_stream_code, 0);
    assert_int_equal(e.cli_close_reason, NET_OK);
    assert_int_equal(e.srv_close_reason, NET_OK);
    env_dispose(&e);
}

static bool srv_conn_closed(env_t *e)
{
    return e->srv_closes > 0;
}

/* A TCP peer that connects and then does nothing at all. */
typedef struct mute {
    uv_tcp_t tcp;
    uv_connect_t req;
    bool connected;
} mute_t;

static void mute_connected(uv_connect_t *req, int status)
{
    mute_t *m = req->data;
    m->connected = status == 0;
}

static void mute_connect(env_t *e, mute_t *m)
{
    uv_tcp_init(&e->loop, &m->tcp);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", net_server_port(e->srv), &a);
    m->req.data = m;
    assert_int_equal(uv_tcp_connect(&m->req, &m->tcp, (struct sockaddr *)&a, mute_connected), 0);
}

static void test_keepalive_without_ack_closes_with_timeout(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.conn.keepalive_ms = 20;
    cfg.conn.keepalive_timeout_ms = 20;
    start_server(&e, "127.0.0.1:0", false, &cfg);
    mute_t m;
    mute_connect(&e, &m);
    run_until(&e, srv_conn_closed);
    assert_int_equal(e.srv_close_reason, NET_ETIMEDOUT);
    net_server_counters_t nc;
    net_server_counters(e.srv, &nc);
    assert_int_equal(nc.keepalive_timeouts, 1);
    assert_int_equal(nc.accepted, 1);
    uv_close((uv_handle_t *)&m.tcp, NULL);
    env_dispose(&e);
}

static bool acks_seen(env_t *e)
{
    return e->ping_acks >= 3;
}

static void test_keepalive_with_a_live_peer_keeps_the_connection(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.conn.keepalive_ms = 10;
    cfg.conn.keepalive_timeout_ms = 5000;
    start_server(&e, "127.0.0.1:0", false, &cfg);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, NULL);
    run_until(&e, acks_seen);
    assert_int_equal(e.srv_closes, 0);
    assert_int_equal(e.cli_closes, 0);
    env_dispose(&e);
}

static void test_idle_connection_is_closed_gracefully(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    start_server(&e, "127.0.0.1:0", false, NULL); /* 300 s idle ... */
    net_conn_config_t cc;
    net_conn_config_default(&cc, true);
    cc.idle_timeout_ms = 20; /* ... replaced for the connections accepted from now on */
    net_server_set_conn_config(e.srv, &cc);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, NULL);
    run_until(&e, cli_gone);
    assert_true(e.goaways >= 1);
    assert_int_equal(e.cli_close_reason, NET_OK);
    run_until(&e, srv_conn_closed);
    assert_int_equal(e.srv_close_reason, NET_OK);
    net_server_counters_t nc;
    net_server_counters(e.srv, &nc);
    assert_int_equal(nc.idle_closed, 1);
    assert_int_equal(nc.lifetime_closed, 0);
    env_dispose(&e);
}

static void test_max_lifetime_closes_gracefully(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.conn.max_lifetime_ms = 30;
    start_server(&e, "127.0.0.1:0", false, &cfg);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, NULL);
    run_until(&e, cli_gone);
    assert_true(e.goaways >= 1); /* GOAWAY first: a graceful end */
    assert_int_equal(e.cli_close_reason, NET_OK);
    run_until(&e, srv_conn_closed);
    net_server_counters_t nc;
    net_server_counters(e.srv, &nc);
    assert_int_equal(nc.lifetime_closed, 1);
    assert_int_equal(nc.idle_closed, 0);
    env_dispose(&e);
}

static bool srv_opened(env_t *e)
{
    return e->srv_opens > 0;
}

static void test_tcp_keepalive_is_set_on_accepted_sockets(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    start_server(&e, "127.0.0.1:0", false, &cfg);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, NULL);
    run_until(&e, srv_opened);
    assert_int_equal(e.ka[0], 0); /* off by default */
    env_dispose(&e);

    env_init(&e);
    cfg.conn.tcp_keepalive_idle_s = 7;
    cfg.conn.tcp_keepalive_interval_s = 3;
    cfg.conn.tcp_keepalive_probes = 4;
    start_server(&e, "127.0.0.1:0", false, &cfg);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, NULL);
    run_until(&e, srv_opened);
    assert_int_not_equal(e.ka[0], 0);
    assert_int_equal(e.ka[1], 7);
    assert_int_equal(e.ka[2], 3);
    assert_int_equal(e.ka[3], 4);
    env_dispose(&e);
}

static void test_tls_handshake_timeout(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.conn.handshake_timeout_ms = 20;
    start_server(&e, "127.0.0.1:0", true, &cfg);
    mute_t m;
    mute_connect(&e, &m);
    run_until(&e, srv_conn_closed);
    assert_int_equal(e.srv_close_reason, NET_ETIMEDOUT);
    assert_int_equal(e.srv_opens, 0);
    net_server_counters_t nc;
    net_server_counters(e.srv, &nc);
    assert_int_equal(nc.handshake_timeouts, 1);
    uv_close((uv_handle_t *)&m.tcp, NULL);
    env_dispose(&e);
}

static void test_connection_limit_refuses_extra_connections(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.max_connections = 1;
    start_server(&e, "127.0.0.1:0", false, &cfg);
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, NULL);
    run_until(&e, connect_done);
    mute_t m;
    mute_connect(&e, &m);
    run_until(&e, srv_conn_closed);
    assert_int_equal(e.srv_close_reason, NET_ELIMIT);
    assert_int_equal(net_server_connections(e.srv), 1);
    uv_close((uv_handle_t *)&m.tcp, NULL);
    env_dispose(&e);
}

static bool srv_steady_blocked(env_t *e)
{
    return e->srv_blocked && e->cli_body_bytes >= 65535;
}

/* HTTP/2 flow control: the client never acknowledges data (manual consume), so the server's
 * writes must stop at the stream cap and its memory stay there. */
static void test_client_that_never_consumes_bounds_server_memory(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    e.srv_mode = 1;
    net_server_config_t scfg;
    net_server_config_default(&scfg);
    scfg.conn.h2.stream_output_cap = 128 * 1024;
    start_server(&e, "127.0.0.1:0", false, &scfg);
    net_client_config_t ccfg;
    net_client_config_default(&ccfg);
    ccfg.conn.h2.initial_window_size = 65535;
    ccfg.conn.h2.connection_window_size = 65535;
    connect_client(&e, "127.0.0.1", net_server_port(e.srv), false, NULL, &ccfg);
    run_until(&e, connect_done);
    net_h2_stream_t *st = request(&e, NULL, false);
    net_h2_stream_set_manual_consume(st, true);
    run_until(&e, srv_steady_blocked);
    /* A few more turns change nothing. */
    size_t written = e.srv_written;
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    assert_int_equal(e.srv_written, written);
    assert_int_equal(e.cli_body_bytes, 65535);
    assert_true(e.srv_max_h2_queued <= scfg.conn.h2.stream_output_cap + sizeof blob);
    assert_int_equal(written, e.cli_body_bytes + net_h2_stream_queued(e.srv_stream));
    env_dispose(&e);
}

/* Socket-level: the client advertises huge windows but its socket is never read. The kernel
 * buffers fill, then our write queue reaches its cap (reading pauses), then the stream queue
 * reaches its cap (writes refused): memory stays at the caps. */
typedef struct deaf {
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_write_t wr;
    uint8_t out[4096];
    size_t out_len;
    bool sent;
} deaf_t;

static void deaf_written(uv_write_t *w, int status)
{
    deaf_t *d = w->data;
    assert_int_equal(status, 0);
    d->sent = true;
}

static void deaf_connected(uv_connect_t *req, int status)
{
    deaf_t *d = req->data;
    assert_int_equal(status, 0);
    uv_buf_t b = uv_buf_init((char *)d->out, (unsigned)d->out_len);
    d->wr.data = d;
    assert_int_equal(uv_write(&d->wr, (uv_stream_t *)&d->tcp, &b, 1, deaf_written), 0);
}

static bool srv_socket_full(env_t *e)
{
    return e->srv_blocked && e->srv_read_paused_seen;
}

static void test_client_that_never_reads_its_socket_bounds_server_memory(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    e.srv_mode = 1;
    net_server_config_t scfg;
    net_server_config_default(&scfg);
    scfg.conn.h2.stream_output_cap = 256 * 1024;
    scfg.conn.write_queue_cap = 128 * 1024;
    start_server(&e, "127.0.0.1:0", false, &scfg);
    /* Build the client's bytes with a sans-IO session: preface, SETTINGS with the largest windows,
     * one request. */
    net_h2_config_t hc;
    net_h2_config_default(&hc);
    hc.initial_window_size = 0x7fffffff;
    hc.connection_window_size = 0x7fffffff;
    int err;
    net_h2_session_t *cs = net_h2_session_new(false, &hc, NULL, NULL, &err);
    net_h2_header_t h[] = {NET_H2_HDR(":method", "GET"), NET_H2_HDR(":scheme", "http"),
                           NET_H2_HDR(":authority", "x"), NET_H2_HDR(":path", "/big")};
    assert_int_equal(net_h2_session_request(cs, h, 4, true, NULL, NULL), NET_OK);
    deaf_t d;
    memset(&d, 0, sizeof d);
    assert_int_equal(net_h2_session_pull(cs, d.out, sizeof d.out, &d.out_len), NET_OK);
    net_h2_session_free(cs);
    /* A small receive buffer so the kernel soaks up little and the steady state comes soon. */
    assert_int_equal(uv_tcp_init_ex(&e.loop, &d.tcp, AF_INET), 0);
    int rcvbuf = 16 * 1024;
    uv_recv_buffer_size((uv_handle_t *)&d.tcp, &rcvbuf);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", net_server_port(e.srv), &a);
    d.req.data = &d;
    assert_int_equal(uv_tcp_connect(&d.req, &d.tcp, (struct sockaddr *)&a, deaf_connected), 0);

    /* Run until the server is refused by its stream cap, has paused reading, and has produced
     * nothing for many loop turns in a row (the kernel buffers are full too). */
    size_t last = 0;
    int still = 0;
    for (long i = 0; i < 2000000 && !(srv_socket_full(&e) && still >= 200); i++) {
        if (e.expired)
            fail_msg("watchdog expired");
        uv_run(&e.loop, UV_RUN_NOWAIT);
        if (e.srv_stream) {
            net_conn_t *c = net_conn_from_session(net_h2_stream_session(e.srv_stream));
            if (net_conn_read_paused(c))
                e.srv_read_paused_seen = true;
            if (net_conn_write_queued_max(c) > e.srv_max_wq)
                e.srv_max_wq = net_conn_write_queued_max(c);
        }
        still = e.srv_written == last ? still + 1 : 0;
        last = e.srv_written;
    }
    assert_true(srv_socket_full(&e));
    assert_true(e.srv_written > scfg.conn.h2.stream_output_cap + scfg.conn.write_queue_cap);
    assert_true(e.srv_max_h2_queued <= scfg.conn.h2.stream_output_cap + sizeof blob);
    /* One pull (64 KiB) may overshoot the write-queue cap, never more. */
    assert_true(e.srv_max_wq <= scfg.conn.write_queue_cap + 64 * 1024);
    uv_close((uv_handle_t *)&d.tcp, NULL);
    env_dispose(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2c_echo_ipv4),
        cmocka_unit_test(test_h2c_echo_ipv6),
        cmocka_unit_test(test_tls_alpn_h2_echo),
        cmocka_unit_test(test_tls_untrusted_server_fails_connect),
        cmocka_unit_test(test_connect_refused_reports_eio),
        cmocka_unit_test(test_tcp_keepalive_options_are_set),
        cmocka_unit_test(test_bad_listen_addresses),
        cmocka_unit_test(test_graceful_server_close_lets_the_stream_finish),
        cmocka_unit_test(test_keepalive_without_ack_closes_with_timeout),
        cmocka_unit_test(test_keepalive_with_a_live_peer_keeps_the_connection),
        cmocka_unit_test(test_idle_connection_is_closed_gracefully),
        cmocka_unit_test(test_max_lifetime_closes_gracefully),
        cmocka_unit_test(test_tcp_keepalive_is_set_on_accepted_sockets),
        cmocka_unit_test(test_tls_handshake_timeout),
        cmocka_unit_test(test_connection_limit_refuses_extra_connections),
        cmocka_unit_test(test_client_that_never_consumes_bounds_server_memory),
        cmocka_unit_test(test_client_that_never_reads_its_socket_bounds_server_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
