/*
 * gRPC server and client calls (net/grpc_server.c with net/grpc_client.c) over real loopback
 * sockets: bidi and unary echo, Trailers-Only errors (unknown method, unsupported encoding, handler
 * errors with percent-encoded messages), deadlines enforced by either side, cancellation, message
 * size limits on both sides, a server-streaming flood through flow control with the server's queue
 * bounded, and a graceful server close with a call in flight.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/grpc_client.h"
#include "net/grpc_server.h"
#include "net_test_util.h"

#define FLOOD_MSGS 200
#define FLOOD_SIZE 16384

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    net_grpc_server_t *srv;
    bool srv_closed;
    net_conn_t *conn;
    int conn_status;
    bool conn_closed;
    /* server observations */
    int done_count, last_done_status;
    uint64_t seen_timeout_ns;
    int flood_sent;
    int pauses;
    bool hold_started;
    size_t flood_max_queued;
    char seen_md[64];
    /* client observations */
    int status; /* -1 until on_status */
    char message[256];
    int msgs;
    size_t bytes;
    uint8_t expect_byte[256];
    bool order_ok;
    char trailer[64];
    bool got_headers;
} env_t;

typedef bool (*pred_t)(env_t *e);

static void run_until(env_t *e, pred_t p)
{
    TN_RUN_UNTIL(&e->loop, e->expired, 1000000, p(e));
}

/* ---- server methods ---- */

/* Echo with backpressure: a refused reply is kept, input is paused until it goes out. */
typedef struct echo_state {
    long count;
    uint8_t *held;
    size_t held_len;
} echo_state_t;

static echo_state_t *echo_of(net_grpc_call_t *call)
{
    echo_state_t *es = net_grpc_call_user(call);
    if (!es) {
        es = calloc(1, sizeof *es);
        net_grpc_call_set_user(call, es);
    }
    return es;
}

static void bidi_message(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    env_t *e = ud;
    echo_state_t *es = echo_of(call);
    es->count++;
    assert_null(es->held);
    int rc = net_grpc_call_send(call, msg, len);
    if (rc == NET_EAGAIN) {
        es->held = malloc(len ? len : 1);
        memcpy(es->held, msg, len);
        es->held_len = len;
        net_grpc_call_set_recv_paused(call, true);
        e->pauses++;
        return;
    }
    assert_int_equal(rc, NET_OK);
}

static void bidi_writable(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    echo_state_t *es = echo_of(call);
    if (!es->held)
        return;
    int rc = net_grpc_call_send(call, es->held, es->held_len);
    if (rc == NET_EAGAIN)
        return;
    assert_int_equal(rc, NET_OK);
    free(es->held);
    es->held = NULL;
    net_grpc_call_set_recv_paused(call, false);
}

static void bidi_half_close(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    char count[16];
    echo_state_t *es = echo_of(call);
    assert_null(es->held);
    snprintf(count, sizeof count, "%ld", es->count);
    net_h2_header_t md[] = {{"x-count", 7, count, strlen(count)}};
    assert_int_equal(net_grpc_call_finish(call, NET_GRPC_OK, NULL, md, 1), NET_OK);
    assert_int_equal(net_grpc_call_finish(call, NET_GRPC_OK, NULL, NULL, 0), NET_ESTATE);
    assert_int_equal(net_grpc_call_send(call, (const uint8_t *)"x", 1), NET_ESTATE);
}

static void record_done(net_grpc_call_t *call, int status, void *ud)
{
    env_t *e = ud;
    if (strcmp(net_grpc_call_path(call), "/test.Echo/Bidi") == 0) {
        echo_state_t *es = net_grpc_call_user(call);
        if (es)
            free(es->held);
        free(es);
    }
    e->done_count++;
    e->last_done_status = status;
}

static void unary_start(net_grpc_call_t *call, void *ud)
{
    env_t *e = ud;
    const char *v = net_grpc_call_header(call, "x-user");
    snprintf(e->seen_md, sizeof e->seen_md, "%s", v ? v : "");
    assert_string_equal(net_grpc_call_path(call), "/test.Echo/Unary");
}

static void unary_message(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    (void)ud;
    uint8_t out[64];
    assert_true(len < sizeof out);
    for (size_t i = 0; i < len; i++)
        out[i] = msg[len - 1 - i];
    assert_int_equal(net_grpc_call_send(call, out, len), NET_OK);
}

static void unary_half_close(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    net_grpc_call_finish(call, NET_GRPC_OK, NULL, NULL, 0);
}

static void hold_start(net_grpc_call_t *call, void *ud)
{
    env_t *e = ud;
    e->seen_timeout_ns = net_grpc_call_timeout_ns(call);
    e->hold_started = true;
}

static void fail_start(net_grpc_call_t *call, void *ud)
{
    (void)ud;
    assert_int_equal(net_grpc_call_finish(call, NET_GRPC_FAILED_PRECONDITION,
                                          "bad: 100% sure \xe2\x9c\x93\nline2", NULL, 0),
                     NET_OK);
}

static void flood_more(net_grpc_call_t *call, void *ud)
{
    env_t *e = ud;
    static uint8_t blob[FLOOD_SIZE];
    while (e->flood_sent < FLOOD_MSGS) {
        memset(blob, (uint8_t)e->flood_sent, sizeof blob);
        int rc = net_grpc_call_send(call, blob, sizeof blob);
        if (net_grpc_call_queued(call) > e->flood_max_queued)
            e->flood_max_queued = net_grpc_call_queued(call);
        if (rc == NET_EAGAIN)
            return;
        assert_int_equal(rc, NET_OK);
        e->flood_sent++;
    }
    net_grpc_call_finish(call, NET_GRPC_OK, NULL, NULL, 0);
}

static void flood_start(net_grpc_call_t *call, void *ud)
{
    flood_more(call, ud);
}

static void start_server(env_t *e, size_t max_recv)
{
    net_grpc_method_t methods[] = {
        {.path = "/test.Echo/Bidi",
         .on_message = bidi_message,
         .on_half_close = bidi_half_close,
         .on_writable = bidi_writable,
         .on_done = record_done,
         .ud = e},
        {.path = "/test.Echo/Unary",
         .on_start = unary_start,
         .on_message = unary_message,
         .on_half_close = unary_half_close,
         .on_done = record_done,
         .ud = e},
        {.path = "/test.Echo/Hold", .on_start = hold_start, .on_done = record_done, .ud = e},
        {.path = "/test.Echo/Fail", .on_start = fail_start, .on_done = record_done, .ud = e},
        {.path = "/test.Echo/Flood",
         .on_start = flood_start,
         .on_writable = flood_more,
         .on_done = record_done,
         .ud = e},
    };
    net_grpc_server_config_t cfg;
    net_grpc_server_config_default(&cfg);
    cfg.server.conn.h2.stream_output_cap = 64 * 1024;
    cfg.max_recv_message = max_recv;
    cfg.methods = methods;
    cfg.nmethods = sizeof methods / sizeof methods[0];
    int err;
    e->srv = net_grpc_server_new(&e->loop, &cfg, &err);
    assert_non_null(e->srv);
}

/* ---- client ---- */

static void cli_connected(net_conn_t *c, int status, void *ud)
{
    (void)c;
    ((env_t *)ud)->conn_status = status;
}

static void cli_closed(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    env_t *e = ud;
    e->conn_closed = true;
    e->conn = NULL;
}

static bool connected(env_t *e)
{
    return e->conn_status != 1;
}

static void env_init(env_t *e, size_t max_recv)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tn_watchdog_start(&e->loop, &e->watchdog, &e->expired, 20000);
    e->status = -1;
    e->conn_status = 1;
    start_server(e, max_recv);
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = "127.0.0.1";
    cc.port = (uint16_t)net_grpc_server_port(e->srv);
    cc.cb = net_grpc_client_h2_callbacks;
    cc.ud = e;
    cc.conn.h2.initial_window_size = 65535; /* small windows: flow control does work */
    cc.conn.h2.connection_window_size = 65535;
    cc.on_connect = cli_connected;
    cc.on_close = cli_closed;
    int err;
    e->conn = net_client_connect(&e->loop, &cc, &err);
    assert_non_null(e->conn);
    run_until(e, connected);
    assert_int_equal(e->conn_status, NET_OK);
}

static bool srv_closed(env_t *e)
{
    return e->srv_closed && e->conn_closed;
}

static void on_srv_closed(net_grpc_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = true;
}

static void env_dispose(env_t *e)
{
    if (e->srv)
        net_grpc_server_close(e->srv, false, on_srv_closed, e);
    if (e->conn)
        net_conn_close(e->conn, false);
    run_until(e, srv_closed);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    for (int i = 0; i < 1000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void c_headers(net_grpc_client_call_t *call, const net_h2_header_t *h, size_t n, void *ud)
{
    (void)call;
    env_t *e = ud;
    e->got_headers = true;
    assert_non_null(net_h2_header_find(h, n, "content-type"));
}

static void c_message(net_grpc_client_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    (void)call;
    env_t *e = ud;
    if (len && msg[0] != e->expect_byte[e->msgs % 256])
        e->order_ok = false;
    e->msgs++;
    e->bytes += len;
    if (e->msgs == 1 && len < sizeof e->message)
        memcpy(e->message, msg, len); /* first message kept for unary checks */
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

static const net_grpc_client_callbacks_t ccb = {c_headers, c_message, NULL, c_status};

static bool status_known(env_t *e)
{
    return e->status != -1;
}

static bool server_done(env_t *e)
{
    return e->done_count > 0;
}

static net_grpc_client_call_t *start(env_t *e, const char *path, uint64_t timeout_ns,
                                     const net_h2_header_t *md, size_t n, size_t max_recv)
{
    net_grpc_client_call_config_t cfg = {.path = path,
                                         .timeout_ns = timeout_ns,
                                         .metadata = md,
                                         .nmetadata = n,
                                         .max_recv_message = max_recv};
    net_grpc_client_call_t *call;
    assert_int_equal(net_grpc_client_call_start(e->conn, &cfg, &ccb, e, &call), NET_OK);
    return call;
}

/* ---- tests ---- */

static void test_bidi_echo_in_order_with_trailers(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    e.order_ok = true;
    net_grpc_client_call_t *call = start(&e, "/test.Echo/Bidi", 0, NULL, 0, 0);
    static uint8_t buf[100000];
    size_t sizes[] = {0, 1, 5, 4096, 16384, 16385, 100000, 7};
    int sent = 0;
    for (int round = 0; round < 10; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++, sent++) {
            memset(buf, sent % 256, sizes[i]);
            e.expect_byte[sent % 256] = (uint8_t)(sent % 256);
            int rc;
            while ((rc = net_grpc_client_call_send(call, buf, sizes[i])) == NET_EAGAIN)
                uv_run(&e.loop, UV_RUN_ONCE);
            assert_int_equal(rc, NET_OK);
        }
    }
    assert_int_equal(net_grpc_client_call_close_send(call), NET_OK);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_OK);
    assert_int_equal(e.msgs, sent);
    assert_true(e.order_ok);
    assert_true(e.got_headers);
    char want[16];
    snprintf(want, sizeof want, "%d", sent);
    assert_string_equal(e.trailer, want);
    run_until(&e, server_done);
    assert_int_equal(e.last_done_status, NET_GRPC_OK);
    assert_true(e.pauses > 0); /* the small client window did push back */
    env_dispose(&e);
}

static void test_unary_with_metadata(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    net_h2_header_t md[] = {NET_H2_HDR("x-user", "alice")};
    net_grpc_client_call_t *call = start(&e, "/test.Echo/Unary", 0, md, 1, 0);
    assert_int_equal(net_grpc_client_call_send(call, (const uint8_t *)"abc", 3), NET_OK);
    assert_int_equal(net_grpc_client_call_close_send(call), NET_OK);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_OK);
    assert_int_equal(e.msgs, 1);
    assert_string_equal(e.seen_md, "alice");
    env_dispose(&e);
}

static void test_unknown_method_is_unimplemented(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    start(&e, "/test.Echo/Nope", 0, NULL, 0, 0);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(e.message, "/test.Echo/Nope"));
    assert_false(e.got_headers); /* Trailers-Only */
    assert_int_equal(net_grpc_server_calls(e.srv), 0);
    env_dispose(&e);
}

static void test_unsupported_encoding_is_unimplemented(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    net_h2_header_t md[] = {NET_H2_HDR("grpc-encoding", "gzip")};
    start(&e, "/test.Echo/Bidi", 0, md, 1, 0);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(e.message, "gzip"));
    env_dispose(&e);
}

static void test_handler_error_message_survives_percent_encoding(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    start(&e, "/test.Echo/Fail", 0, NULL, 0, 0);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_FAILED_PRECONDITION);
    assert_string_equal(e.message, "bad: 100% sure \xe2\x9c\x93\nline2");
    run_until(&e, server_done);
    assert_int_equal(e.last_done_status, NET_GRPC_FAILED_PRECONDITION);
    env_dispose(&e);
}

static void test_client_deadline_expires(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    start(&e, "/test.Echo/Hold", 30000000ull, NULL, 0, 0);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_DEADLINE_EXCEEDED);
    run_until(&e, server_done);
    assert_int_equal(e.seen_timeout_ns, 30000000ull);
    /* Whichever side's timer fired first, the server call ended because of the deadline. */
    assert_true(e.last_done_status == NET_GRPC_DEADLINE_EXCEEDED ||
                e.last_done_status == NET_GRPC_CANCELLED);
    env_dispose(&e);
}

static void test_server_enforces_grpc_timeout(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    /* The header without a client-side timer: only the server can end the call. */
    net_h2_header_t md[] = {NET_H2_HDR("grpc-timeout", "20m")};
    start(&e, "/test.Echo/Hold", 0, md, 1, 0);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_DEADLINE_EXCEEDED);
    run_until(&e, server_done);
    assert_int_equal(e.last_done_status, NET_GRPC_DEADLINE_EXCEEDED);
    assert_int_equal(e.seen_timeout_ns, 20000000ull);
    env_dispose(&e);
}

static void test_malformed_timeout_is_refused(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    net_h2_header_t md[] = {NET_H2_HDR("grpc-timeout", "123456789S")};
    start(&e, "/test.Echo/Hold", 0, md, 1, 0);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_INTERNAL);
    assert_non_null(strstr(e.message, "grpc-timeout"));
    env_dispose(&e);
}

static bool hold_started(env_t *e)
{
    return e->hold_started;
}

static void test_cancel_reaches_the_server(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    net_grpc_client_call_t *call = start(&e, "/test.Echo/Hold", 0, NULL, 0, 0);
    run_until(&e, hold_started);
    net_grpc_client_call_cancel(call);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_CANCELLED);
    run_until(&e, server_done);
    assert_int_equal(e.last_done_status, NET_GRPC_CANCELLED);
    env_dispose(&e);
}

static void test_oversized_request_is_resource_exhausted(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 1024);
    net_grpc_client_call_t *call = start(&e, "/test.Echo/Bidi", 0, NULL, 0, 0);
    static uint8_t big[2000];
    assert_int_equal(net_grpc_client_call_send(call, big, 1024), NET_OK);
    assert_int_equal(net_grpc_client_call_send(call, big, sizeof big), NET_OK);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(e.message, "2000 vs. 1024"));
    assert_int_equal(e.msgs, 1); /* the first one was echoed */
    env_dispose(&e);
}

static void test_oversized_response_fails_on_the_client(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    start(&e, "/test.Echo/Flood", 0, NULL, 0, 1000);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_RESOURCE_EXHAUSTED);
    run_until(&e, server_done);
    assert_int_equal(e.last_done_status, NET_GRPC_CANCELLED);
    env_dispose(&e);
}

static void test_server_streaming_flood_stays_within_the_stream_cap(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    for (int i = 0; i < 256; i++)
        e.expect_byte[i] = (uint8_t)i;
    e.order_ok = true;
    start(&e, "/test.Echo/Flood", 0, NULL, 0, 0);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_OK);
    assert_int_equal(e.msgs, FLOOD_MSGS);
    assert_int_equal(e.bytes, (size_t)FLOOD_MSGS * FLOOD_SIZE);
    assert_true(e.order_ok);
    /* The client's 64 KiB window throttled the server; its queue never passed the 64 KiB cap (+
     * one message). */
    assert_true(e.flood_max_queued <= 64 * 1024 + FLOOD_SIZE + NET_GRPC_PREFIX_LEN);
    env_dispose(&e);
}

static bool echo_received(env_t *e)
{
    return e->msgs > 0;
}

static void test_graceful_close_finishes_calls_in_flight(void **state)
{
    (void)state;
    env_t e;
    env_init(&e, 0);
    net_grpc_client_call_t *call = start(&e, "/test.Echo/Bidi", 0, NULL, 0, 0);
    assert_int_equal(net_grpc_client_call_send(call, (const uint8_t *)"\x00", 1), NET_OK);
    run_until(&e, echo_received);
    net_grpc_server_close(e.srv, true, on_srv_closed, &e);
    e.srv = NULL;
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    assert_int_equal(e.status, -1); /* still running */
    assert_int_equal(net_grpc_client_call_close_send(call), NET_OK);
    run_until(&e, status_known);
    assert_int_equal(e.status, NET_GRPC_OK);
    assert_string_equal(e.trailer, "1");
    run_until(&e, srv_closed);
    env_dispose(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bidi_echo_in_order_with_trailers),
        cmocka_unit_test(test_unary_with_metadata),
        cmocka_unit_test(test_unknown_method_is_unimplemented),
        cmocka_unit_test(test_unsupported_encoding_is_unimplemented),
        cmocka_unit_test(test_handler_error_message_survives_percent_encoding),
        cmocka_unit_test(test_client_deadline_expires),
        cmocka_unit_test(test_server_enforces_grpc_timeout),
        cmocka_unit_test(test_malformed_timeout_is_refused),
        cmocka_unit_test(test_cancel_reaches_the_server),
        cmocka_unit_test(test_oversized_request_is_resource_exhausted),
        cmocka_unit_test(test_oversized_response_fails_on_the_client),
        cmocka_unit_test(test_server_streaming_flood_stays_within_the_stream_cap),
        cmocka_unit_test(test_graceful_close_finishes_calls_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
