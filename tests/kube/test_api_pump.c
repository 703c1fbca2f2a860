/*
 * The pump (kube/api_pump.c), with a scripted core in place of the status writer or the applier:
 * nothing is sent before _start or from inside _kick, only from the loop; a WAIT becomes the
 * timer; every answer reaches the core's _done with its id, whether it comes later, inside the
 * request function, or as the request function's own error; _stop cancels what is in flight
 * (the core hears nothing of it), and with an api that cannot cancel the late answer still
 * reaches _done with its old id; the invariants P1/P2 hold after every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <utlist.h>

#include "../../kube/api_pump.h"
#include "kube_test_api.h"

/* A core that sends |to_send| GETs, one per _next, after waiting |wait_ms| once first. */
typedef struct core {
    int to_send;
    uint64_t wait_ms;
    uint64_t next_id;
    int dones;
    uint64_t done_ids[8];
    int done_errs[8];
    int done_status[8];
} core_t;

static kube_api_next_t core_next(void *ud, uint64_t now_ms, kube_api_req_t *req)
{
    (void)now_ms;
    core_t *c = ud;
    memset(req, 0, sizeof *req);
    if (c->wait_ms) {
        req->wait_ms = c->wait_ms;
        c->wait_ms = 0;
        return KUBE_API_WAIT;
    }
    if (c->to_send == 0)
        return KUBE_API_IDLE;
    c->to_send--;
    req->id = ++c->next_id;
    req->method = "GET";
    snprintf(req->path, sizeof req->path, "/api/v1/namespaces/n/pods/p%d", (int)req->id);
    return KUBE_API_SEND;
}

static void core_done(void *ud, uint64_t id, int err, const kube_response_t *resp, uint64_t now_ms)
{
    (void)now_ms;
    core_t *c = ud;
    if (c->dones < 8) {
        c->done_ids[c->dones] = id;
        c->done_errs[c->dones] = err;
        c->done_status[c->dones] = resp ? resp->status : 0;
    }
    c->dones++;
}

/* P1: every record on |calls| is a call not yet answered; P2: nothing is being sent between
 * steps. Returns the number of calls in flight. */
static int check(const kube__pump_t *p)
{
    assert_null(p->sending);
    int n = 0;
    const kube__pump_call_t *c;
    DL_FOREACH(p->calls, c) n++;
    return n;
}

/* Starts |p| for |c| over |api| on |loop| and runs the loop once without waiting. */
static void pump_go(kube__pump_t *p, uv_loop_t *loop, kube_api_t api, core_t *c)
{
    kube__pump_init(p, api, core_next, core_done, c);
    assert_int_equal(kube__pump_start(p, loop), KUBE_OK);
    kube__pump_kick(p);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Disposes of |p| and closes |loop|: every handle the pump made is closed. */
static void pump_end(kube__pump_t *p, uv_loop_t *loop)
{
    kube__pump_dispose(p);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void assert_done(const core_t *c, int i, uint64_t id, int err, int status)
{
    assert_true(i < c->dones);
    assert_int_equal(c->done_ids[i], id);
    assert_int_equal(c->done_errs[i], err);
    assert_int_equal(c->done_status[i], status);
}

static int request_fails(void *ud, const char *method, const char *path, const char *ct,
                         const char *body, size_t len, kube_response_cb cb, void *cb_ud,
                         kube_call_t **call)
{
    (void)ud, (void)method, (void)path, (void)ct, (void)body, (void)len, (void)cb, (void)cb_ud;
    (void)call;
    return KUBE_EIO;
}

static void test_sends_only_from_the_loop_and_waits_on_the_timer(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    kube_test_api_t f = {0};
    core_t c = {.to_send = 2, .wait_ms = 5};
    kube__pump_t p;
    kube__pump_init(&p, kube_test_api(&f, true), core_next, core_done, &c);
    kube__pump_kick(&p); /* before _start: nothing to run on */
    assert_int_equal(kube__pump_start(&p, &loop), KUBE_OK);
    assert_int_equal(kube__pump_start(&p, &loop), KUBE_OK); /* the first timer stays */
    assert_int_equal(f.sent, 0);
    kube__pump_kick(&p);
    assert_int_equal(f.sent, 0); /* never from inside the kick */
    for (int i = 0; i < 100 && f.sent < 2; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(f.sent, 2); /* after the wait, both */
    assert_int_equal(check(&p), 2);
    kube_response_t ok = {200, "{}", 2, NULL};
    f.cb(f.cb_ud, KUBE_OK, &ok); /* the second call's answer */
    assert_int_equal(c.dones, 1);
    assert_done(&c, 0, 2, KUBE_OK, 200);
    assert_int_equal(check(&p), 1);
    pump_end(&p, &loop); /* cancels the first */
    assert_int_equal(f.cancelled, 1);
    assert_int_equal(c.dones, 1);
}

static void test_answers_inside_the_request_and_request_errors_reach_done(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    static const kube_test_answer_t script[] = {{KUBE_OK, 404, NULL}, {KUBE_EIO, 0, NULL}};
    kube_test_api_t f = {.script = script, .script_len = 2};
    core_t c = {.to_send = 2};
    kube__pump_t p;
    pump_go(&p, &loop, kube_test_api(&f, true), &c);
    assert_int_equal(c.dones, 2);
    assert_done(&c, 0, 1, KUBE_OK, 404);
    assert_done(&c, 1, 2, KUBE_EIO, 0);
    assert_int_equal(check(&p), 0);
    /* a request function that refuses: its error is the answer */
    kube__pump_dispose(&p);
    kube_api_t refusing = {request_fails, kube_test_api_cancel, &f};
    c.to_send = 1;
    pump_go(&p, &loop, refusing, &c);
    assert_int_equal(c.dones, 3);
    assert_done(&c, 2, 3, KUBE_EIO, 0);
    assert_int_equal(check(&p), 0);
    pump_end(&p, &loop);
    assert_int_equal(f.cancelled, 0);
}

static void test_stop_without_cancel_hands_the_late_answer_to_the_core(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    kube_test_api_t f = {0};
    core_t c = {.to_send = 1};
    kube__pump_t p;
    pump_go(&p, &loop, kube_test_api(&f, false), &c);
    assert_int_equal(f.sent, 1);
    kube__pump_stop(&p);
    assert_int_equal(check(&p), 1); /* kept until its answer */
    kube_response_t ok = {200, "{}", 2, NULL};
    f.cb(f.cb_ud, KUBE_OK, &ok);
    assert_int_equal(c.dones, 1);
    assert_done(&c, 0, 1, KUBE_OK, 200);
    assert_int_equal(check(&p), 0);
    pump_end(&p, &loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sends_only_from_the_loop_and_waits_on_the_timer),
        cmocka_unit_test(test_answers_inside_the_request_and_request_errors_reach_done),
        cmocka_unit_test(test_stop_without_cancel_hands_the_late_answer_to_the_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
