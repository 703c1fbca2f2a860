/*
 * The pump (kube/api_pump.c), with a scripted core in place of the status writer or the applier:
 * nothing is sent before _start or from inside _kick, only from the loop; a WAIT becomes the
 * timer; every answer reaches the core's _done with its id, whether it comes later, inside the
 * request function, or as the request function's own error; _stop cancels what is in flight
 * (the core hears nothing of it), and with an api that cannot cancel the late answer still
 * reaches _done with its old id; a stop also disarms the timer of a WAIT; the invariants P1/P2
 * hold after every step.
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

/* What each test drives: a loop, the fake api, the scripted core and the pump. */
typedef struct rig {
    uv_loop_t loop;
    kube_test_api_t f;
    core_t c;
    kube__pump_t p;
} rig_t;

/* Starts the pump of |r| over |api| and runs the loop once without waiting. */
static void rig_go(rig_t *r, kube_api_t api)
{
    kube__pump_init(&r->p, api, core_next, core_done, &r->c);
    assert_int_equal(kube__pump_start(&r->p, &r->loop), KUBE_OK);
    kube__pump_kick(&r->p);
    uv_run(&r->loop, UV_RUN_NOWAIT);
}

/* Makes |r|'s loop and starts its pump over its fake (cancellable or not). */
static void rig_start(rig_t *r, bool cancellable)
{
    assert_int_equal(uv_loop_init(&r->loop), 0);
    rig_go(r, kube_test_api(&r->f, cancellable));
}

/* Disposes of the pump and closes the loop: every handle the pump made is closed. */
static void rig_end(rig_t *r)
{
    kube__pump_dispose(&r->p);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&r->loop), 0);
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
    rig_t r = {.c = {.to_send = 2, .wait_ms = 5}};
    assert_int_equal(uv_loop_init(&r.loop), 0);
    kube__pump_init(&r.p, kube_test_api(&r.f, true), core_next, core_done, &r.c);
    kube__pump_kick(&r.p); /* before _start: nothing to run on */
    assert_int_equal(kube__pump_start(&r.p, &r.loop), KUBE_OK);
    assert_int_equal(kube__pump_start(&r.p, &r.loop), KUBE_OK); /* the first timer stays */
    assert_int_equal(r.f.sent, 0);
    kube__pump_kick(&r.p);
    assert_int_equal(r.f.sent, 0); /* never from inside the kick */
    for (int i = 0; i < 100 && r.f.sent < 2; i++)
        uv_run(&r.loop, UV_RUN_ONCE);
    assert_int_equal(r.f.sent, 2); /* after the wait, both */
    assert_int_equal(check(&r.p), 2);
    kube_response_t ok = {200, "{}", 2, NULL};
    r.f.cb(r.f.cb_ud, KUBE_OK, &ok); /* the second call's answer */
    assert_int_equal(r.c.dones, 1);
    assert_done(&r.c, 0, 2, KUBE_OK, 200);
    assert_int_equal(check(&r.p), 1);
    rig_end(&r); /* cancels the first */
    assert_int_equal(r.f.cancelled, 1);
    assert_int_equal(r.c.dones, 1);
}

static void test_answers_inside_the_request_and_request_errors_reach_done(void **state)
{
    (void)state;
    static const kube_test_answer_t script[] = {{KUBE_OK, 404, NULL}, {KUBE_EIO, 0, NULL}};
    rig_t r = {.f = {.script = script, .script_len = 2}, .c = {.to_send = 2}};
    rig_start(&r, true);
    assert_int_equal(r.c.dones, 2);
    assert_done(&r.c, 0, 1, KUBE_OK, 404);
    assert_done(&r.c, 1, 2, KUBE_EIO, 0);
    assert_int_equal(check(&r.p), 0);
    /* a request function that refuses: its error is the answer */
    kube__pump_dispose(&r.p);
    r.c.to_send = 1;
    rig_go(&r, (kube_api_t){request_fails, kube_test_api_cancel, &r.f});
    assert_int_equal(r.c.dones, 3);
    assert_done(&r.c, 2, 3, KUBE_EIO, 0);
    assert_int_equal(check(&r.p), 0);
    rig_end(&r);
    assert_int_equal(r.f.cancelled, 0);
}

static void test_stop_without_cancel_hands_the_late_answer_to_the_core(void **state)
{
    (void)state;
    rig_t r = {.c = {.to_send = 1}};
    rig_start(&r, false);
    assert_int_equal(r.f.sent, 1);
    kube__pump_stop(&r.p);
    assert_int_equal(check(&r.p), 1); /* kept until its answer */
    kube_response_t ok = {200, "{}", 2, NULL};
    r.f.cb(r.f.cb_ud, KUBE_OK, &ok);
    assert_int_equal(r.c.dones, 1);
    assert_done(&r.c, 0, 1, KUBE_OK, 200);
    assert_int_equal(check(&r.p), 0);
    rig_end(&r);
}

static void test_stop_stops_the_timer_of_a_wait(void **state)
{
    (void)state;
    rig_t r = {.c = {.to_send = 1, .wait_ms = 1}};
    rig_start(&r, true); /* the core said WAIT */
    kube__pump_stop(&r.p);
    uv_run(&r.loop, UV_RUN_DEFAULT); /* returns: no timer is armed */
    assert_int_equal(r.f.sent, 0);
    kube__pump_kick(&r.p); /* leading again */
    uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.f.sent, 1);
    rig_end(&r);
    assert_int_equal(r.f.cancelled, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sends_only_from_the_loop_and_waits_on_the_timer),
        cmocka_unit_test(test_answers_inside_the_request_and_request_errors_reach_done),
        cmocka_unit_test(test_stop_without_cancel_hands_the_late_answer_to_the_core),
        cmocka_unit_test(test_stop_stops_the_timer_of_a_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
