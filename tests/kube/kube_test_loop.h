/*
 * A libuv loop for the kube tests that talk to a server in the same loop (test_client.c,
 * test_informer.c, test_lease.c), with a watchdog: a test whose peer never answers fails after
 * 20 s instead of hanging the suite.
 */
#ifndef KUBE_TEST_LOOP_H
#define KUBE_TEST_LOOP_H

#include <stdbool.h>

#include <uv.h>

typedef struct kube_test_loop {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired; /* the watchdog fired */
} kube_test_loop_t;

static inline void kube_test_loop_expire(uv_timer_t *t)
{
    ((kube_test_loop_t *)t->data)->expired = true;
}

/* Initialises |l| (kept by the loop until _close) and starts its watchdog. */
static inline void kube_test_loop_init(kube_test_loop_t *l)
{
    assert_int_equal(uv_loop_init(&l->loop), 0);
    uv_timer_init(&l->loop, &l->watchdog);
    l->watchdog.data = l;
    l->expired = false;
    uv_timer_start(&l->watchdog, kube_test_loop_expire, 20000, 0);
}

/* Runs the loop a turn at a time until |done(ud)| holds; fails when the watchdog fires first. */
static inline void kube_test_loop_run_until(kube_test_loop_t *l, bool (*done)(const void *ud),
                                            const void *ud)
{
    for (long i = 0; i < 1000000 && !done(ud); i++) {
        if (l->expired)
            fail_msg("watchdog expired");
        uv_run(&l->loop, UV_RUN_ONCE);
    }
    assert_true(done(ud));
}

/* Closes the watchdog, lets the handles being closed finish, and closes the loop (every other
 * handle must be closed by then). */
static inline void kube_test_loop_close(kube_test_loop_t *l)
{
    uv_close((uv_handle_t *)&l->watchdog, NULL);
    for (int i = 0; i < 1000 && uv_run(&l->loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&l->loop), 0);
}

#endif /* KUBE_TEST_LOOP_H */
