/*
 * Busy polling (net/busy_poll.c): a window opens when a net/ connection reads and closes after
 * window_us without input; no input, no window; its handles never keep a loop alive; bad
 * windows are refused. Real sockets on 127.0.0.1 (a raw echo server and client); every wait is
 * "run the loop until a condition holds", bounded by a watchdog; no timing asserts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/busy_poll.h"
#include "net/conn.h"
#include "net_test_util.h"

typedef struct env {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    net_server_t *srv;
    net_conn_t *cli;
    bool connected, srv_closed, cli_closed;
    size_t echoed; /* bytes the client got back */
} env_t;

static void s_read(net_conn_t *c, const uint8_t *d, size_t len, void *ud)
{
    (void)ud;
    assert_int_equal(net_conn_write(c, d, len), NET_OK);
}

static void c_read(net_conn_t *c, const uint8_t *d, size_t len, void *ud)
{
    (void)c;
    (void)d;
    ((env_t *)ud)->echoed += len;
}

static void c_connect(net_conn_t *c, int status, void *ud)
{
    (void)c;
    assert_int_equal(status, NET_OK);
    ((env_t *)ud)->connected = true;
}

static void c_close(net_conn_t *c, int status, void *ud)
{
    (void)c;
    (void)status;
    ((env_t *)ud)->cli_closed = true;
}

static void srv_closed(net_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = true;
}

static void env_init(env_t *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    tn_watchdog_start(&e->loop, &e->watchdog, &e->expired, 20000);
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.raw = (net_conn_raw_callbacks_t){.on_read = s_read};
    sc.ud = e;
    int err;
    e->srv = net_server_new(&e->loop, &sc, &err);
    assert_non_null(e->srv);
    net_client_config_t cc;
    net_client_config_default(&cc);
    cc.host = "127.0.0.1";
    cc.port = (uint16_t)net_server_port(e->srv);
    cc.raw = (net_conn_raw_callbacks_t){.on_read = c_read};
    cc.on_connect = c_connect;
    cc.on_close = c_close;
    cc.ud = e;
    e->cli = net_client_connect(&e->loop, &cc, &err);
    assert_non_null(e->cli);
    TN_RUN_UNTIL(&e->loop, e->expired, 1000000, e->connected);
}

static void env_dispose(env_t *e)
{
    net_conn_close(e->cli, false);
    TN_RUN_UNTIL(&e->loop, e->expired, 1000000, e->cli_closed);
    net_server_close(e->srv, false, srv_closed, e);
    TN_RUN_UNTIL(&e->loop, e->expired, 1000000, e->srv_closed);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void test_bad_windows_are_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int err = NET_OK;
    assert_null(net_busy_poll_start(&loop, 0, &err));
    assert_int_equal(err, NET_EINVAL);
    err = NET_OK;
    assert_null(net_busy_poll_start(&loop, NET_BUSY_POLL_MAX_US + 1, &err));
    assert_int_equal(err, NET_EINVAL);
    assert_null(net_busy_poll_start(NULL, 50, &err));
    net_busy_poll_stop(NULL); /* a no-op */
    assert_false(net_busy_poll_spinning(NULL));
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_handles_never_keep_the_loop_alive(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int err;
    net_busy_poll_t *bp = net_busy_poll_start(&loop, 1000, &err);
    assert_non_null(bp);
    assert_int_equal(err, NET_OK);
    /* nothing else on the loop: uv_run returns instead of polling forever */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_false(net_busy_poll_spinning(bp));
    net_busy_poll_stop(bp);
    uv_run(&loop, UV_RUN_DEFAULT); /* the close callbacks free it */
    assert_int_equal(uv_loop_close(&loop), 0);
}

static bool no_window(env_t *e, net_busy_poll_t *bp)
{
    (void)e;
    return !net_busy_poll_spinning(bp);
}

static void test_input_opens_a_window_that_closes_without_input(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    int err;
    net_busy_poll_t *bp = net_busy_poll_start(&e.loop, 20000 /* 20 ms */, &err);
    assert_non_null(bp);
    /* connected, nothing sent yet: whatever input the connect made is behind us once a window
     * (if one opened) has closed */
    TN_RUN_UNTIL(&e.loop, e.expired, 100000000, no_window(&e, bp));
    net_busy_poll_stats_t before, after;
    net_busy_poll_stats(bp, &before);

    /* one echo: the server's read and the client's open a window... */
    assert_int_equal(net_conn_write(e.cli, "ping", 4), NET_OK);
    TN_RUN_UNTIL(&e.loop, e.expired, 1000000, e.echoed == 4);
    assert_true(net_busy_poll_spinning(bp));
    net_busy_poll_stats(bp, &after);
    assert_int_equal(after.windows, before.windows + 1);

    /* ...which closes on its own when no more input comes */
    TN_RUN_UNTIL(&e.loop, e.expired, 100000000, no_window(&e, bp));
    net_busy_poll_stats(bp, &after);
    assert_int_equal(after.windows, before.windows + 1);
    assert_true(after.spins > before.spins);

    /* a second exchange opens a second window */
    assert_int_equal(net_conn_write(e.cli, "pong", 4), NET_OK);
    TN_RUN_UNTIL(&e.loop, e.expired, 1000000, e.echoed == 8);
    net_busy_poll_stats(bp, &after);
    assert_int_equal(after.windows, before.windows + 2);

    net_busy_poll_stop(bp);
    env_dispose(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_windows_are_refused),
        cmocka_unit_test(test_handles_never_keep_the_loop_alive),
        cmocka_unit_test(test_input_opens_a_window_that_closes_without_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
