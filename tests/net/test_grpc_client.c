/*
 * gRPC client calls (net/grpc_client.c) against a raw HTTP/2 server that answers the way broken or
 * unusual servers do: HTTP errors without grpc-status, the wrong content-type, no trailers, resets
 * with various codes, a dropped connection, a message cut by the end of the stream, a malformed
 * grpc-status. Each must end in exactly one on_status with the status PROTOCOL-HTTP2.md and
 * http-grpc-status-mapping.md prescribe. Also: pausing delivery holds the final status back until
 * the messages before it are delivered.
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
#include "net_test_util.h"

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    net_server_t *srv;
    bool srv_closed;
    net_conn_t *conn;
    int conn_status;
    bool conn_closed;
    int statuses; /* on_status calls */
    int status;
    char message[160];
    int msgs;
    bool pause_first;
    net_grpc_client_call_t *paused_call;
} env_t;

typedef bool (*pred_t)(env_t *e);

static void run_until(env_t *e, pred_t p)
{
    TN_RUN_UNTIL(&e->loop, e->expired, 1000000, p(e));
}

/* ---- the raw server ---- */

static void respond(net_h2_stream_t *st, const char *status, const char *ct, bool end)
{
    net_h2_header_t h[2] = {{":status", 7, status, strlen(status)},
                            {"content-type", 12, ct, strlen(ct)}};
    assert_int_equal(net_h2_stream_respond(st, h, 2, end), NET_OK);
}

static void s_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)ud;
    if (kind != NET_H2_REQUEST)
        return;
    const char *p = net_h2_header_find(h, n, ":path")->value;
    net_h2_header_t ok = NET_H2_HDR("grpc-status", "0");
    if (!strcmp(p, "/t/404")) {
        respond(st, "404", "text/plain", true);
    } else if (!strcmp(p, "/t/503")) {
        respond(st, "503", "text/plain", true);
    } else if (!strcmp(p, "/t/text")) {
        respond(st, "200", "text/html", false);
        net_h2_stream_write(st, "<html>", 6);
        net_h2_stream_end(st, &ok, 1);
    } else if (!strcmp(p, "/t/nostatus")) {
        respond(st, "200", "application/grpc", false);
        net_h2_stream_write(st, "\0\0\0\0\1x", 6);
        net_h2_stream_end(st, NULL, 0);
    } else if (!strcmp(p, "/t/refused")) {
        net_h2_stream_reset(st, 0x7);
    } else if (!strcmp(p, "/t/calm")) {
        net_h2_stream_reset(st, 0xb);
    } else if (!strcmp(p, "/t/drop")) {
        net_conn_close(net_conn_from_session(s), false);
    } else if (!strcmp(p, "/t/trunc")) {
        respond(st, "200", "application/grpc", false);
        net_h2_stream_write(st, "\0\0\0\0\5ab", 7);
        net_h2_stream_end(st, &ok, 1);
    } else if (!strcmp(p, "/t/badstatus")) {
        net_h2_header_t bad[] = {NET_H2_HDR(":status", "200"),
                                 NET_H2_HDR("content-type", "application/grpc"),
                                 NET_H2_HDR("grpc-status", "abc")};
        net_h2_stream_respond(st, bad, 3, true);
    } else if (!strcmp(p, "/t/three")) {
        respond(st, "200", "application/grpc", false);
        net_h2_stream_write(st, "\0\0\0\0\1a\0\0\0\0\1b\0\0\0\0\1c", 18);
        net_h2_stream_end(st, &ok, 1);
    } else {
        respond(st, "500", "text/plain", true);
    }
}

/* ---- client ---- */

static void c_message(net_grpc_client_call_t *call, const uint8_t *msg, size_t len, void *ud)
{
    (void)msg;
    (void)len;
    env_t *e = ud;
    e->msgs++;
    if (e->pause_first && e->msgs == 1) {
        net_grpc_client_call_set_recv_paused(call, true);
        e->paused_call = call;
    }
}

static void c_status(net_grpc_client_call_t *call, int status, const char *message,
                     const net_h2_header_t *tr, size_t n, void *ud)
{
    (void)call;
    (void)tr;
    (void)n;
    env_t *e = ud;
    e->statuses++;
    e->status = status;
    snprintf(e->message, sizeof e->message, "%s", message);
}

static const net_grpc_client_callbacks_t ccb = {NULL, c_message, NULL, c_status};

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
    e->conn = NULL;
}

static bool connected(env_t *e)
{
    return e->conn_status != 1;
}

static void connect_client(env_t *e)
{
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = "127.0.0.1";
    cc.port = (uint16_t)net_server_port(e->srv);
    cc.cb = net_grpc_client_h2_callbacks;
    cc.ud = e;
    cc.on_connect = on_connect;
    cc.on_close = on_close;
    e->conn_status = 1;
    e->conn_closed = false;
    int err;
    e->conn = net_client_connect(&e->loop, &cc, &err);
    assert_non_null(e->conn);
    run_until(e, connected);
    assert_int_equal(e->conn_status, NET_OK);
}

static void env_init(env_t *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tn_watchdog_start(&e->loop, &e->watchdog, &e->expired, 20000);
    net_server_config_t cfg;
    net_server_config_default(&cfg);
    cfg.cb.on_headers = s_headers;
    cfg.ud = e;
    int err;
    e->srv = net_server_new(&e->loop, &cfg, &err);
    assert_non_null(e->srv);
    connect_client(e);
}

static void srv_closed_cb(net_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = true;
}

static bool all_closed(env_t *e)
{
    return e->srv_closed && e->conn_closed;
}

static void env_dispose(env_t *e)
{
    net_server_close(e->srv, false, srv_closed_cb, e);
    if (e->conn)
        net_conn_close(e->conn, false);
    run_until(e, all_closed);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    for (int i = 0; i < 1000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

static bool status_known(env_t *e)
{
    return e->statuses > 0;
}

/* Calls |path| and returns the final status (exactly one on_status is checked). */
static int call_path(env_t *e, const char *path)
{
    if (!e->conn)
        connect_client(e);
    e->statuses = 0;
    e->msgs = 0;
    net_grpc_client_call_config_t cfg = {.path = path};
    net_grpc_client_call_t *c;
    assert_int_equal(net_grpc_client_call_start(e->conn, &cfg, &ccb, e, &c), NET_OK);
    net_grpc_client_call_close_send(c);
    run_until(e, status_known);
    for (int i = 0; i < 5; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(e->statuses, 1);
    return e->status;
}

static void test_http_errors_map_to_grpc_statuses(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    assert_int_equal(call_path(&e, "/t/404"), NET_GRPC_UNIMPLEMENTED);
    assert_string_equal(e.message, "HTTP status 404");
    assert_int_equal(call_path(&e, "/t/503"), NET_GRPC_UNAVAILABLE);
    assert_int_equal(call_path(&e, "/t/other"), NET_GRPC_UNKNOWN); /* 500 */
    env_dispose(&e);
}

static void test_wrong_content_type_or_missing_status_is_unknown(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    assert_int_equal(call_path(&e, "/t/text"), NET_GRPC_UNKNOWN);
    assert_non_null(strstr(e.message, "content-type"));
    assert_int_equal(call_path(&e, "/t/nostatus"), NET_GRPC_UNKNOWN);
    assert_int_equal(e.msgs, 1);
    assert_non_null(strstr(e.message, "grpc-status"));
    assert_int_equal(call_path(&e, "/t/badstatus"), NET_GRPC_UNKNOWN);
    env_dispose(&e);
}

static void test_resets_map_by_error_code(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    assert_int_equal(call_path(&e, "/t/refused"), NET_GRPC_UNAVAILABLE);
    assert_int_equal(call_path(&e, "/t/calm"), NET_GRPC_RESOURCE_EXHAUSTED);
    env_dispose(&e);
}

static void test_dropped_connection_is_unavailable(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    assert_int_equal(call_path(&e, "/t/drop"), NET_GRPC_UNAVAILABLE);
    /* The connection itself is gone too. */
    for (int i = 0; i < 100 && !e.conn_closed; i++)
        uv_run(&e.loop, UV_RUN_ONCE);
    assert_true(e.conn_closed);
    env_dispose(&e);
}

static void test_stream_ending_inside_a_message_is_internal(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    assert_int_equal(call_path(&e, "/t/trunc"), NET_GRPC_INTERNAL);
    assert_non_null(strstr(e.message, "inside a message"));
    env_dispose(&e);
}

static bool paused_seen(env_t *e)
{
    return e->paused_call != NULL;
}

static void test_pause_holds_the_status_behind_pending_messages(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    e.pause_first = true;
    net_grpc_client_call_config_t cfg = {.path = "/t/three"};
    net_grpc_client_call_t *c;
    assert_int_equal(net_grpc_client_call_start(e.conn, &cfg, &ccb, &e, &c), NET_OK);
    net_grpc_client_call_close_send(c);
    run_until(&e, paused_seen);
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    /* The stream has ended on the wire, but two messages wait: no status yet. */
    assert_int_equal(e.msgs, 1);
    assert_int_equal(e.statuses, 0);
    e.pause_first = false;
    net_grpc_client_call_set_recv_paused(e.paused_call, false);
    assert_int_equal(e.msgs, 3);
    assert_int_equal(e.statuses, 1);
    assert_int_equal(e.status, NET_GRPC_OK);
    env_dispose(&e);
}

static void test_start_refuses_bad_arguments(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    net_grpc_client_call_config_t cfg = {.path = "no-slash"};
    net_grpc_client_call_t *c = NULL;
    assert_int_equal(net_grpc_client_call_start(e.conn, &cfg, &ccb, &e, &c), NET_EINVAL);
    assert_null(c);
    env_dispose(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_errors_map_to_grpc_statuses),
        cmocka_unit_test(test_wrong_content_type_or_missing_status_is_unknown),
        cmocka_unit_test(test_resets_map_by_error_code),
        cmocka_unit_test(test_dropped_connection_is_unavailable),
        cmocka_unit_test(test_stream_ending_inside_a_message_is_internal),
        cmocka_unit_test(test_pause_holds_the_status_behind_pending_messages),
        cmocka_unit_test(test_start_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
