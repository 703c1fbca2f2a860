/*
 * net/ against real, independent peers, started by the test on 127.0.0.1 while our server runs in
 * this process's loop:
 *  - nghttp (nghttp2-client): h2c requests to a plain HTTP/2 handler; gRPC framing by hand against
 *    our gRPC server (415 for a wrong content-type, grpc-status in trailers);
 *  - curl: h2c with prior knowledge, and h2 over TLS chosen by ALPN, verified against our test CA;
 *  - python3-grpcio (gRPC C-core, its own HTTP/2 stack): tests/net/grpc_peer.py as a client of our
 *    gRPC server (plaintext and TLS: bidi echo, unary, UNIMPLEMENTED, FAILED_PRECONDITION with a
 *    percent-encoded message, deadline, oversized message, cancel), and as a server our client
 * calls. A peer that is not installed makes its test skip (scripts/install-deps.sh installs them
 * all).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/grpc_client.h"
#include "net/grpc_server.h"
#include "net_test_util.h"

#ifndef KRT_SOURCE_DIR
#define KRT_SOURCE_DIR "."
#endif
#define PEER_PY KRT_SOURCE_DIR "/tests/net/grpc_peer.py"
#define PYTHON  "/usr/bin/python3"

typedef tn_proc_t proc_t;

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    char dir[64];
    net_tls_testcert_t certs;
    char ca_file[128];
    net_server_t *h2srv;
    net_grpc_server_t *grpc;
    int closed;
    int cancelled_calls;
    /* our client against python */
    net_conn_t *conn;
    int conn_status;
    bool conn_closed;
    int status;
    char message[256];
    int msgs;
    size_t bytes;
    bool content_ok;
    char trailer[32];
} env_t;

typedef bool (*pred_t)(env_t *e, void *arg);

static void run_until(env_t *e, pred_t p, void *arg)
{
    TN_RUN_UNTIL(&e->loop, e->expired, 1000000, p(e, arg));
}

static bool have(const char *path)
{
    return access(path, X_OK) == 0;
}

static bool python_has_grpc(void)
{
    if (!have(PYTHON))
        return false;
    return system(PYTHON " -c 'import grpc' >/dev/null 2>&1") == 0;
}

/* ---- child processes ---- */

static bool proc_done(env_t *e, void *arg)
{
    (void)e;
    return tn_proc_done(arg);
}

/* Runs argv to completion; returns its exit status (its output in pr->buf, tn_proc_dispose). */
static int64_t proc_run(env_t *e, proc_t *pr, char **argv)
{
    return tn_proc_run(&e->loop, &e->expired, 1000000, pr, argv);
}

/* ---- a plain HTTP/2 handler: GET /hello, POST /echo ---- */

static void h_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)s;
    (void)ud;
    if (kind != NET_H2_REQUEST)
        return;
    const net_h2_header_t *path = net_h2_header_find(h, n, ":path");
    if (path && strcmp(path->value, "/hello") == 0) {
        net_h2_header_t rh[] = {NET_H2_HDR(":status", "200"),
                                NET_H2_HDR("content-type", "text/plain")};
        net_h2_stream_respond(st, rh, 2, false);
        net_h2_stream_write(st, "hello\n", 6);
        net_h2_stream_end(st, NULL, 0);
    } else if (path && strcmp(path->value, "/echo") == 0) {
        net_h2_header_t rh[] = {NET_H2_HDR(":status", "200")};
        net_h2_stream_respond(st, rh, 1, false);
        net_h2_stream_set_user(st, st);
    } else {
        net_h2_header_t rh[] = {NET_H2_HDR(":status", "404")};
        net_h2_stream_respond(st, rh, 1, true);
    }
}

static void h_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *d, size_t len, void *ud)
{
    (void)s;
    (void)ud;
    if (net_h2_stream_user(st))
        assert_int_equal(net_h2_stream_write(st, d, len), NET_OK); /* small bodies only */
}

static void h_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    if (net_h2_stream_user(st))
        net_h2_stream_end(st, NULL, 0);
}

/* ---- gRPC methods (same contract as grpc_peer.py's server) ---- */

typedef struct held {
    uint8_t *msg;
    size_t len;
    long count;
} held_t;

static held_t *held_of(net_grpc_call_t *call)
{
    held_t *h = net_grpc_call_user(call);
    if (!h) {
        h = calloc(1, sizeof *h);
        net_grpc_call_set_user(call, h);
    }
    return h;
}

static void bidi_message(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    (void)ud;
    held_t *h = held_of(call);
    h->count++;
    int rc = net_grpc_call_send(call, msg, len);
    if (rc == NET_EAGAIN) {
        h->msg = malloc(len ? len : 1);
        memcpy(h->msg, msg, len);
        h->len = len;
        net_grpc_call_set_recv_paused(call, true);
    }
}

static void bidi_writable(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    held_t *h = held_of(call);
    if (h->msg && net_grpc_call_send(call, h->msg, h->len) == NET_OK) {
        free(h->msg);
        h->msg = NULL;
        net_grpc_call_set_recv_paused(call, false);
    }
}

static void bidi_half_close(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    char count[16];
    snprintf(count, sizeof count, "%ld", held_of(call)->count);
    net_h2_header_t md[] = {{"x-count", 7, count, strlen(count)}};
    net_grpc_call_finish(call, NET_GRPC_OK, NULL, md, 1);
}

static void unary_message(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    (void)ud;
    uint8_t *out = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        out[i] = msg[len - 1 - i];
    net_grpc_call_send(call, out, len);
    free(out);
}

static void unary_half_close(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    net_grpc_call_finish(call, NET_GRPC_OK, NULL, NULL, 0);
}

static void fail_start(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    net_grpc_call_finish(call, NET_GRPC_FAILED_PRECONDITION, "bad: 100% sure \xe2\x9c\x93\nline2",
                         NULL, 0);
}

static void done(net_grpc_call_t *call, int status, void *ud)
{
    env_t *e = ud;
    if (status == NET_GRPC_CANCELLED)
        e->cancelled_calls++;
    held_t *h = net_grpc_call_user(call);
    if (h)
        free(h->msg);
    free(h);
}

static void env_init(env_t *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tn_watchdog_start(&e->loop, &e->watchdog, &e->expired, 60000);
    snprintf(e->dir, sizeof e->dir, "/tmp/krtgate-net-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(net_tls_testcert_make(&e->certs, "localhost", NULL, false), NET_OK);
    snprintf(e->ca_file, sizeof e->ca_file, "%s/ca.pem", e->dir);
    FILE *f = fopen(e->ca_file, "w");
    assert_non_null(f);
    fputs(e->certs.ca_pem, f);
    fclose(f);
}

static net_tls_ctx_t *server_tls(env_t *e)
{
    net_tls_config_t tc = {.cert_pem = e->certs.cert_pem, .key_pem = e->certs.key_pem};
    int err;
    net_tls_ctx_t *ctx = net_tls_ctx_new(true, &tc, &err);
    assert_non_null(ctx);
    return ctx;
}

static void start_h2(env_t *e, bool tls)
{
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.cb = (net_h2_callbacks_t){.on_headers = h_headers, .on_data = h_data, .on_end = h_end};
    net_tls_ctx_t *ctx = tls ? server_tls(e) : NULL;
    cfg.tls = ctx;
    int err;
    e->h2srv = net_server_new(&e->loop, &cfg, &err);
    net_tls_ctx_release(ctx);
    assert_non_null(e->h2srv);
}

static void start_grpc(env_t *e, bool tls)
{
    net_grpc_method_t m[] = {
        {.path = "/test.Echo/Bidi",
         .on_message = bidi_message,
         .on_half_close = bidi_half_close,
         .on_writable = bidi_writable,
         .on_done = done,
         .ud = e},
        {.path = "/test.Echo/Unary",
         .on_message = unary_message,
         .on_half_close = unary_half_close,
         .on_done = done,
         .ud = e},
        {.path = "/test.Echo/Hold", .on_done = done, .ud = e},
        {.path = "/test.Echo/Fail", .on_start = fail_start, .on_done = done, .ud = e},
    };
    net_grpc_server_config_t cfg;
    net_grpc_server_config_default(&cfg);
    cfg.methods = m;
    cfg.nmethods = sizeof m / sizeof m[0];
    net_tls_ctx_t *ctx = tls ? server_tls(e) : NULL;
    cfg.server.tls = ctx;
    int err;
    e->grpc = net_grpc_server_new(&e->loop, &cfg, &err);
    net_tls_ctx_release(ctx);
    assert_non_null(e->grpc);
}

static void h2_closed(net_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->closed++;
}

static void grpc_closed(net_grpc_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->closed++;
}

static bool all_closed(env_t *e, void *want)
{
    return e->closed == (int)(intptr_t)want;
}

static void env_dispose(env_t *e)
{
    int want = 0;
    if (e->h2srv) {
        net_server_close(e->h2srv, false, h2_closed, e);
        want++;
    }
    if (e->grpc) {
        net_grpc_server_close(e->grpc, false, grpc_closed, e);
        want++;
    }
    run_until(e, all_closed, (void *)(intptr_t)want);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    for (int i = 0; i < 1000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&e->loop), 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
    net_tls_testcert_dispose(&e->certs);
}

static void url(char *buf, size_t cap, const char *scheme, const char *host, int port,
                const char *path)
{
    snprintf(buf, cap, "%s://%s:%d%s", scheme, host, port, path);
}

/* ---- nghttp ---- */

static void test_nghttp_h2c_get_and_post(void **state)
{
    (void)state;
    if (!have("/usr/bin/nghttp"))
        skip();
    env_t e;
    env_init(&e);
    start_h2(&e, false);
    char u[128], data[160];
    url(u, sizeof u, "http", "127.0.0.1", net_server_port(e.h2srv), "/hello");
    proc_t pr;
    char *a1[] = {"/usr/bin/nghttp", u, NULL};
    assert_int_equal(proc_run(&e, &pr, a1), 0);
    assert_string_equal(pr.buf, "hello\n");

    snprintf(data, sizeof data, "%s/body", e.dir);
    FILE *f = fopen(data, "w");
    fputs("echo me please", f);
    fclose(f);
    url(u, sizeof u, "http", "127.0.0.1", net_server_port(e.h2srv), "/echo");
    char *a2[] = {"/usr/bin/nghttp", "-d", data, u, NULL};
    tn_proc_dispose(&pr);
    assert_int_equal(proc_run(&e, &pr, a2), 0);
    assert_string_equal(pr.buf, "echo me please");
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

static void test_nghttp_speaks_grpc_by_hand(void **state)
{
    (void)state;
    if (!have("/usr/bin/nghttp"))
        skip();
    env_t e;
    env_init(&e);
    start_grpc(&e, false);
    char u[128], data[160];
    url(u, sizeof u, "http", "127.0.0.1", net_grpc_server_port(e.grpc), "/test.Echo/Unary");
    snprintf(data, sizeof data, "%s/framed", e.dir);
    FILE *f = fopen(data, "wb");
    fwrite("\0\0\0\0\3abc", 1, 8, f);
    fclose(f);
    /* Without a gRPC content-type: HTTP 415. */
    proc_t pr;
    char *a1[] = {"/usr/bin/nghttp", "-v", "-d", data, u, NULL};
    assert_int_equal(proc_run(&e, &pr, a1), 0);
    tn_proc_expect(&pr, ":status: 415");
    /* With it: the reversed message, then grpc-status 0 in the trailers. */
    char *a2[] = {"/usr/bin/nghttp",
                  "-v",
                  "-H",
                  "content-type: application/grpc",
                  "-H",
                  "te: trailers",
                  "-d",
                  data,
                  u,
                  NULL};
    tn_proc_dispose(&pr);
    assert_int_equal(proc_run(&e, &pr, a2), 0);
    tn_proc_expect(&pr, ":status: 200");
    tn_proc_expect(&pr, "cba");
    tn_proc_expect(&pr, "grpc-status: 0");
    /* Unknown method: Trailers-Only UNIMPLEMENTED. */
    url(u, sizeof u, "http", "127.0.0.1", net_grpc_server_port(e.grpc), "/test.Echo/Nope");
    char *a3[] = {
        "/usr/bin/nghttp", "-v", "-H", "content-type: application/grpc", "-d", data, u, NULL};
    tn_proc_dispose(&pr);
    assert_int_equal(proc_run(&e, &pr, a3), 0);
    tn_proc_expect(&pr, "grpc-status: 12");
    tn_proc_expect(&pr, "grpc-message: unknown method /test.Echo/Nope");
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

/* ---- curl ---- */

static void test_curl_h2c_prior_knowledge(void **state)
{
    (void)state;
    if (!have("/usr/bin/curl"))
        skip();
    env_t e;
    env_init(&e);
    start_h2(&e, false);
    char u[128];
    url(u, sizeof u, "http", "127.0.0.1", net_server_port(e.h2srv), "/hello");
    proc_t pr;
    char *a[] = {
        "/usr/bin/curl", "-sS", "--http2-prior-knowledge", "-w", "proto=%{http_version}", u, NULL};
    assert_int_equal(proc_run(&e, &pr, a), 0);
    assert_string_equal(pr.buf, "hello\nproto=2");
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

static void test_curl_tls_alpn_h2_verified(void **state)
{
    (void)state;
    if (!have("/usr/bin/curl"))
        skip();
    env_t e;
    env_init(&e);
    start_h2(&e, true);
    char u[128];
    url(u, sizeof u, "https", "localhost", net_server_port(e.h2srv), "/hello");
    proc_t pr;
    char *a[] = {"/usr/bin/curl",         "-sS", "--http2", "--cacert", e.ca_file, "-w",
                 "proto=%{http_version}", u,     NULL};
    assert_int_equal(proc_run(&e, &pr, a), 0);
    assert_string_equal(pr.buf, "hello\nproto=2");
    /* A POST body over TLS. */
    url(u, sizeof u, "https", "127.0.0.1", net_server_port(e.h2srv), "/echo");
    char *b[] = {"/usr/bin/curl", "-sS",      "--http2", "--cacert", e.ca_file,
                 "--data-binary", "tls body", u,         NULL};
    tn_proc_dispose(&pr);
    assert_int_equal(proc_run(&e, &pr, b), 0);
    assert_string_equal(pr.buf, "tls body");
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

/* ---- python3-grpcio as the client ---- */

static void python_client(bool tls)
{
    if (!python_has_grpc())
        skip();
    env_t e;
    env_init(&e);
    start_grpc(&e, tls);
    char target[64];
    snprintf(target, sizeof target, "%s:%d", tls ? "localhost" : "127.0.0.1",
             net_grpc_server_port(e.grpc));
    proc_t pr;
    char *a[] = {PYTHON, PEER_PY, "client", target, tls ? e.ca_file : NULL, NULL};
    assert_int_equal(proc_run(&e, &pr, a), 0);
    tn_proc_expect(&pr, "ok bidi_trailers");
    tn_proc_expect(&pr, "ok unimplemented");
    tn_proc_expect(&pr, "ok deadline");
    tn_proc_expect(&pr, "ok oversized");
    tn_proc_expect(&pr, "\ndone\n");
    tn_proc_dispose(&pr);
    /* The deadline and the cancel reached our server as cancellations (RST_STREAM CANCEL). */
    for (int i = 0; i < 200 && e.cancelled_calls < 2; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    assert_true(e.cancelled_calls >= 1);
    env_dispose(&e);
}

static void test_python_grpc_client_against_our_server_h2c(void **state)
{
    (void)state;
    python_client(false);
}

static void test_python_grpc_client_against_our_server_tls(void **state)
{
    (void)state;
    python_client(true);
}

/* ---- python3-grpcio as the server, our client ---- */

static void c_message(net_grpc_client_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    env_t *e = ud;
    intptr_t expect = (intptr_t)net_grpc_client_call_user(call);
    for (size_t i = 0; i < len; i++)
        if (msg[i] != (uint8_t)(expect + e->msgs))
            e->content_ok = false;
    e->msgs++;
    e->bytes += len;
}

static void c_status(net_grpc_client_call_t *call, int status, const char *message,
                     const net_h2_header_t *tr, size_t n, void *ud)
{
    (void)call;
    env_t *e = ud;
    e->status = status;
    snprintf(e->message, sizeof e->message, "%s", message);
    const net_h2_header_t *c = net_h2_header_find(tr, n, "x-count");
    snprintf(e->trailer, sizeof e->trailer, "%s", c ? c->value : "");
}

static const net_grpc_client_callbacks_t ccb = {NULL, c_message, NULL, c_status};

static bool status_known(env_t *e, void *arg)
{
    (void)arg;
    return e->status != -1;
}

static bool port_printed(env_t *e, void *arg)
{
    (void)e;
    proc_t *pr = arg;
    return strstr(pr->buf, "\n") != NULL || pr->exited;
}

static void on_connect(net_conn_t *c, int status, void *ud)
{
    (void)c;
    ((env_t *)ud)->conn_status = status;
}

static void on_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    env_t *e = ud;
    e->conn_closed = true;
}

static bool connected(env_t *e, void *arg)
{
    (void)arg;
    return e->conn_status != 1;
}

static bool conn_gone(env_t *e, void *arg)
{
    (void)arg;
    return e->conn_closed;
}

static net_grpc_client_call_t *call(env_t *e, const char *path, uint64_t timeout_ns)
{
    e->status = -1;
    e->msgs = 0;
    e->bytes = 0;
    e->content_ok = true;
    net_grpc_client_call_config_t cfg = {.path = path, .timeout_ns = timeout_ns};
    net_grpc_client_call_t *c;
    assert_int_equal(net_grpc_client_call_start(e->conn, &cfg, &ccb, e, &c), NET_OK);
    return c;
}

static void test_our_grpc_client_against_python_server(void **state)
{
    (void)state;
    if (!python_has_grpc())
        skip();
    env_t e;
    env_init(&e);
    proc_t pr;
    char *a[] = {PYTHON, PEER_PY, "server", NULL};
    tn_proc_start(&e.loop, &pr, a);
    run_until(&e, port_printed, &pr);
    int port = 0;
    assert_int_equal(sscanf(pr.buf, "PORT %d", &port), 1);

    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = "127.0.0.1";
    cc.port = (uint16_t)port;
    cc.cb = net_grpc_client_h2_callbacks;
    cc.ud = &e;
    cc.on_connect = on_connect;
    cc.on_close = on_close;
    e.conn_status = 1;
    int err;
    e.conn = net_client_connect(&e.loop, &cc, &err);
    assert_non_null(e.conn);
    run_until(&e, connected, NULL);
    assert_int_equal(e.conn_status, NET_OK);

    /* Bidi echo: 64 messages of 10 KiB, message i filled with byte i. */
    net_grpc_client_call_t *c = call(&e, "/test.Echo/Bidi", 0);
    net_grpc_client_call_set_user(c, (void *)(intptr_t)0);
    static uint8_t buf[10240];
    for (int i = 0; i < 64; i++) {
        memset(buf, i, sizeof buf);
        int rc;
        while ((rc = net_grpc_client_call_send(c, buf, sizeof buf)) == NET_EAGAIN)
            uv_run(&e.loop, UV_RUN_ONCE);
        assert_int_equal(rc, NET_OK);
    }
    assert_int_equal(net_grpc_client_call_close_send(c), NET_OK);
    run_until(&e, status_known, NULL);
    assert_int_equal(e.status, NET_GRPC_OK);
    assert_int_equal(e.msgs, 64);
    assert_true(e.content_ok);
    assert_string_equal(e.trailer, "64");

    /* Unary. */
    c = call(&e, "/test.Echo/Unary", 5000000000ull);
    net_grpc_client_call_set_user(c, (void *)(intptr_t)'z');
    assert_int_equal(net_grpc_client_call_send(c, (const uint8_t *)"z", 1), NET_OK);
    net_grpc_client_call_close_send(c);
    run_until(&e, status_known, NULL);
    assert_int_equal(e.status, NET_GRPC_OK);
    assert_int_equal(e.msgs, 1);

    /* Unknown method: grpcio answers UNIMPLEMENTED. */
    c = call(&e, "/test.Echo/Nope", 0);
    net_grpc_client_call_send(c, (const uint8_t *)"x", 1);
    net_grpc_client_call_close_send(c);
    run_until(&e, status_known, NULL);
    assert_int_equal(e.status, NET_GRPC_UNIMPLEMENTED);

    /* An error with a non-ASCII message, percent-decoded on our side. */
    c = call(&e, "/test.Echo/Fail", 0);
    net_grpc_client_call_send(c, (const uint8_t *)"x", 1);
    net_grpc_client_call_close_send(c);
    run_until(&e, status_known, NULL);
    assert_int_equal(e.status, NET_GRPC_FAILED_PRECONDITION);
    assert_string_equal(e.message, "bad: 100% sure \xe2\x9c\x93\nline2");

    /* Deadline: grpcio's handler waits; our timer ends the call. */
    c = call(&e, "/test.Echo/Hold", 100000000ull);
    net_grpc_client_call_send(c, (const uint8_t *)"x", 1);
    net_grpc_client_call_close_send(c);
    run_until(&e, status_known, NULL);
    assert_int_equal(e.status, NET_GRPC_DEADLINE_EXCEEDED);

    net_conn_close(e.conn, true);
    run_until(&e, conn_gone, NULL);
    tn_proc_close_stdin(&pr); /* the server exits when its stdin closes */
    run_until(&e, proc_done, &pr);
    assert_int_equal(pr.status, 0);
    tn_proc_dispose(&pr);
    env_dispose(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nghttp_h2c_get_and_post),
        cmocka_unit_test(test_nghttp_speaks_grpc_by_hand),
        cmocka_unit_test(test_curl_h2c_prior_knowledge),
        cmocka_unit_test(test_curl_tls_alpn_h2_verified),
        cmocka_unit_test(test_python_grpc_client_against_our_server_h2c),
        cmocka_unit_test(test_python_grpc_client_against_our_server_tls),
        cmocka_unit_test(test_our_grpc_client_against_python_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
