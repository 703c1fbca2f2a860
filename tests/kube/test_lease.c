/*
 * Leader election state machine (kube/lease.c) with a fake clock against a simulated API server
 * holding one Lease (resourceVersion conflicts as the real one: a PUT with a stale version is
 * 409, a POST of an existing Lease is 409): one candidate acquires and renews without reading;
 * two racing candidates end with exactly one leader; a crashed leader is replaced only after
 * leaseDuration of an unchanged record on the standby's clock; a leader that cannot renew steps
 * down at renewDeadline; release writes an empty holder and a standby takes over at once.
 * The adapter (kube_elector_*): two electors over HTTP against a fake Lease endpoint in the same
 * loop, with short timings: exactly one leads, and after its release the other does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kube/lease.h"
#include "net/http_server.h"

#include "kube_test_loop.h"

typedef struct sim {
    json_t *lease; /* stored object, or NULL */
    int rv;
    bool down; /* answer every request with a transport error */
} sim_t;

static int64_t fake_wall(void *ud)
{
    return 1700000000000000LL + (int64_t)(*(uint64_t *)ud) * 1000;
}

/* Performs the lease's current action against |s| at |now| and feeds the answer back. Returns
 * the action kind performed. */
static kube_lease_action_kind_t serve(sim_t *s, kube_lease_t *l, uint64_t now)
{
    kube_lease_action_t a;
    assert_int_equal(kube_lease_next(l, now, &a), KUBE_OK);
    assert_int_equal(kube_lease_check(l), KUBE_OK);
    if (a.kind == KUBE_LEASE_WAIT || a.kind == KUBE_LEASE_DONE)
        return a.kind;
    if (s->down) {
        assert_int_equal(kube_lease_on_error(l, now), KUBE_OK);
        return a.kind;
    }
    assert_non_null(strstr(a.path, "/apis/coordination.k8s.io/v1/namespaces/ns/leases"));
    int status;
    json_t *resp = NULL;
    if (a.kind == KUBE_LEASE_GET) {
        status = s->lease ? 200 : 404;
        resp = s->lease ? json_incref(s->lease) : NULL;
    } else {
        json_t *obj = json_loads(a.body, 0, NULL);
        assert_non_null(obj);
        const char *rv =
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        char cur[16];
        snprintf(cur, sizeof(cur), "%d", s->rv);
        if (a.kind == KUBE_LEASE_CREATE ? s->lease != NULL : (!rv || strcmp(rv, cur) != 0)) {
            status = 409;
            json_decref(obj);
        } else {
            status = a.kind == KUBE_LEASE_CREATE ? 201 : 200;
            snprintf(cur, sizeof(cur), "%d", ++s->rv);
            json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
                                json_string(cur));
            json_decref(s->lease);
            s->lease = obj;
            resp = json_incref(obj);
        }
    }
    assert_int_equal(kube_lease_on_response(l, now, status, resp), KUBE_OK);
    json_decref(resp);
    assert_int_equal(kube_lease_check(l), KUBE_OK);
    return a.kind;
}

/* Runs |l| until it waits; if it waits, feeds the wait as elapsed when |now| reached it. */
static uint64_t wait_of(kube_lease_t *l, uint64_t now)
{
    kube_lease_action_t a;
    assert_int_equal(kube_lease_next(l, now, &a), KUBE_OK);
    return a.kind == KUBE_LEASE_WAIT ? a.wait_ms : 0;
}

static void settle(sim_t *s, kube_lease_t *l, uint64_t now)
{
    for (int i = 0; i < 10; i++) {
        kube_lease_action_kind_t k = serve(s, l, now);
        if (k == KUBE_LEASE_WAIT || k == KUBE_LEASE_DONE)
            return;
    }
    fail_msg("the lease never settled");
}

static kube_lease_t *candidate(const char *id, uint64_t *clock)
{
    kube_lease_options_t o = {.identity = id,
                              .namespace_name = "ns",
                              .name = "krtgate",
                              .wall_us = fake_wall,
                              .wall_ud = clock};
    kube_lease_t *l = kube_lease_new(&o);
    assert_non_null(l);
    return l;
}

static const char *holder(sim_t *s)
{
    return json_string_value(json_object_get(json_object_get(s->lease, "spec"), "holderIdentity"));
}

static void test_single_candidate_acquires_and_renews_without_reading(void **state)
{
    (void)state;
    sim_t s = {0};
    uint64_t now = 1000;
    kube_lease_t *a = candidate("a", &now);
    assert_null(kube_lease_new(
        &(kube_lease_options_t){.identity = "", .namespace_name = "n", .name = "x"}));
    assert_false(kube_lease_is_leader(a));
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_GET);
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_CREATE);
    assert_true(kube_lease_is_leader(a));
    assert_string_equal(holder(&s), "a");
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(s.lease, "spec"), "leaseDurationSeconds")),
                     15);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s.lease, "spec"), "renewTime")),
        "2023-11-14T22:13:21.000000Z");
    assert_int_equal(wait_of(a, now), 2000);
    now += 2000;
    assert_int_equal(kube_lease_on_waited(a, now), KUBE_OK);
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_UPDATE); /* no GET */
    assert_true(kube_lease_is_leader(a));
    kube_lease_stats_t st;
    kube_lease_stats(a, &st);
    assert_int_equal(st.acquisitions, 1);
    assert_int_equal(st.renewals, 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s.lease, "spec"), "leaseTransitions")),
        0);
    kube_lease_free(a);
    json_decref(s.lease);
}

static void test_race_has_one_leader_and_crash_failover_waits_lease_duration(void **state)
{
    (void)state;
    sim_t s = {0};
    uint64_t now = 0;
    kube_lease_t *a = candidate("a", &now), *b = candidate("b", &now);
    /* both read "absent", both try to create: one gets 409 */
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_GET);
    assert_int_equal(serve(&s, b, now), KUBE_LEASE_GET);
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_CREATE);
    assert_int_equal(serve(&s, b, now), KUBE_LEASE_CREATE);
    assert_true(kube_lease_is_leader(a));
    assert_false(kube_lease_is_leader(b));
    kube_lease_stats_t st;
    kube_lease_stats(b, &st);
    assert_int_equal(st.conflicts, 1);
    /* for a while both go on: a renews, b polls and sees a live lease */
    for (int round = 0; round < 10; round++) {
        now += 2000;
        kube_lease_on_waited(a, now);
        kube_lease_on_waited(b, now);
        settle(&s, a, now);
        settle(&s, b, now);
        assert_true(kube_lease_is_leader(a));
        assert_false(kube_lease_is_leader(b));
        assert_string_equal(kube_lease_holder(b), "a");
    }
    /* a crashes (stops renewing). b must not take over before 15 s of an unchanged record. */
    uint64_t crash = now;
    while (!kube_lease_is_leader(b)) {
        now += 2000;
        kube_lease_on_waited(b, now);
        settle(&s, b, now);
        if (kube_lease_is_leader(b))
            break;
        assert_true(now < crash + 15000 + 2000);
    }
    assert_true(now >= crash + 15000);
    assert_string_equal(holder(&s), "b");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s.lease, "spec"), "leaseTransitions")),
        1);
    /* a comes back: its renewal conflicts, it reads, sees b, and is no longer the leader */
    now += 100;
    kube_lease_on_waited(a, now);
    settle(&s, a, now);
    now += 2000;
    kube_lease_on_waited(a, now);
    settle(&s, a, now);
    assert_false(kube_lease_is_leader(a));
    assert_true(kube_lease_is_leader(b));
    kube_lease_free(a);
    kube_lease_free(b);
    json_decref(s.lease);
}

static void test_leader_steps_down_at_renew_deadline(void **state)
{
    (void)state;
    sim_t s = {0};
    uint64_t now = 0;
    kube_lease_t *a = candidate("a", &now);
    settle(&s, a, now);
    assert_true(kube_lease_is_leader(a));
    uint64_t last = now;
    s.down = true;
    while (kube_lease_is_leader(a)) {
        now += wait_of(a, now);
        kube_lease_on_waited(a, now);
        settle(&s, a, now);
        assert_true(now <= last + 10000);
    }
    assert_true(now >= last + 10000);
    /* the tick alone also ends a leadership whose request hangs */
    s.down = false;
    now += 2000;
    kube_lease_on_waited(a, now);
    settle(&s, a, now);
    assert_true(kube_lease_is_leader(a));
    assert_false(kube_lease_tick(a, now + 9999));
    kube_lease_action_t act;
    kube_lease_on_waited(a, now + 2000);
    kube_lease_next(a, now + 2000, &act);
    assert_int_equal(act.kind, KUBE_LEASE_UPDATE); /* "in flight" */
    assert_true(kube_lease_tick(a, now + 10000));
    assert_false(kube_lease_is_leader(a));
    kube_lease_next(a, now + 10000, &act);
    assert_int_equal(act.kind, KUBE_LEASE_GET);
    kube_lease_stats_t st;
    kube_lease_stats(a, &st);
    assert_int_equal(st.losses, 2);
    kube_lease_free(a);
    json_decref(s.lease);
}

static void test_release_writes_empty_holder_and_standby_takes_over_at_once(void **state)
{
    (void)state;
    sim_t s = {0};
    uint64_t now = 0;
    kube_lease_t *a = candidate("a", &now), *b = candidate("b", &now);
    settle(&s, a, now);
    settle(&s, b, now);
    assert_true(kube_lease_is_leader(a));
    kube_lease_release(a, now);
    assert_false(kube_lease_is_leader(a));
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_UPDATE);
    assert_string_equal(holder(&s), "");
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(s.lease, "spec"), "leaseDurationSeconds")),
                     1);
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_DONE);
    now += 2000;
    kube_lease_on_waited(b, now);
    settle(&s, b, now);
    assert_true(kube_lease_is_leader(b));
    /* a renewal that went through unseen (cancelled at shutdown) moved the resourceVersion: the
     * release write conflicts, the lease re-reads and releases again */
    now += 2000;
    kube_lease_on_waited(b, now);
    kube_lease_action_t act;
    assert_int_equal(kube_lease_next(b, now, &act), KUBE_OK);
    assert_int_equal(act.kind, KUBE_LEASE_UPDATE);
    json_t *renewed = json_loads(act.body, 0, NULL);
    json_object_set_new(json_object_get(renewed, "metadata"), "resourceVersion", json_string("99"));
    json_decref(s.lease);
    s.lease = renewed;
    s.rv = 99;
    kube_lease_release(b, now);
    assert_int_equal(serve(&s, b, now), KUBE_LEASE_UPDATE); /* 409 */
    assert_string_equal(holder(&s), "b");
    assert_int_equal(serve(&s, b, now), KUBE_LEASE_GET);
    assert_int_equal(serve(&s, b, now), KUBE_LEASE_UPDATE);
    assert_string_equal(holder(&s), "");
    assert_int_equal(serve(&s, b, now), KUBE_LEASE_DONE);
    /* a non-leader's release is DONE at once */
    kube_lease_t *c = candidate("c", &now);
    kube_lease_release(c, now);
    assert_int_equal(serve(&s, c, now), KUBE_LEASE_DONE);
    kube_lease_free(a);
    kube_lease_free(b);
    kube_lease_free(c);
    json_decref(s.lease);
}

/* ---- the adapter over HTTP ------------------------------------------------------------------ */

typedef struct fake {
    sim_t sim;
    kube_test_loop_t l;
    int started[2], stopped[2], released;
} fake_t;

static void h_lease(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    fake_t *f = ud;
    sim_t *s = &f->sim;
    net_http_response_header(resp, "content-type", "application/json");
    json_t *obj =
        req->body_len ? json_loadb((const char *)req->body, req->body_len, 0, NULL) : NULL;
    int status = 200;
    if (strcmp(req->method, "GET") == 0) {
        status = s->lease ? 200 : 404;
    } else {
        const char *rv =
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        char cur[16];
        snprintf(cur, sizeof(cur), "%d", s->rv);
        bool post = strcmp(req->method, "POST") == 0;
        if (!obj || (post ? s->lease != NULL : (!rv || strcmp(rv, cur) != 0))) {
            status = 409;
        } else {
            status = post ? 201 : 200;
            snprintf(cur, sizeof(cur), "%d", ++s->rv);
            json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
                                json_string(cur));
            json_decref(s->lease);
            s->lease = json_incref(obj);
        }
    }
    json_decref(obj);
    net_http_response_set_status(resp, status);
    char *text = status < 300 && s->lease ? json_dumps(s->lease, JSON_COMPACT) : NULL;
    net_http_response_printf(resp, "%s", text ? text : "{\"kind\":\"Status\"}");
    free(text);
}

static void started_a(void *ud)
{
    ((fake_t *)ud)->started[0]++;
}
static void stopped_a(void *ud)
{
    ((fake_t *)ud)->stopped[0]++;
}
static void started_b(void *ud)
{
    ((fake_t *)ud)->started[1]++;
}
static void stopped_b(void *ud)
{
    ((fake_t *)ud)->stopped[1]++;
}
static void on_released(void *ud)
{
    ((fake_t *)ud)->released++;
}
static bool one_started(const void *ud)
{
    const fake_t *f = ud;
    return f->started[0] + f->started[1] >= 1;
}
static bool both_started(const void *ud)
{
    const fake_t *f = ud;
    return f->started[0] + f->started[1] >= 2;
}
static bool was_released(const void *ud)
{
    return ((const fake_t *)ud)->released >= 1;
}

static void test_electors_over_http_one_leads_then_hands_over_on_release(void **state)
{
    (void)state;
    fake_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    kube_test_loop_init(&f->l);
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    int err = 0;
    net_http_server_t *srv = net_http_server_new(&f->l.loop, &hc, &err);
    assert_non_null(srv);
    net_http_server_route(srv, "*", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/*", h_lease,
                          f);
    net_http_server_route(srv, "*", "/apis/coordination.k8s.io/v1/namespaces/ns/leases", h_lease,
                          f);
    kube_client_config_t cfg;
    kube_client_config_init(&cfg);
    char url[64], ebuf[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", net_http_server_port(srv));
    assert_int_equal(kube_server_url_split(&cfg, url, ebuf, sizeof(ebuf)), KUBE_OK);
    kube_client_t *c[2];
    kube_elector_t *el[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kube_client_new(&f->l.loop, &cfg, NULL, &c[i], ebuf, sizeof(ebuf)), KUBE_OK);
        kube_lease_options_t o = {.identity = i ? "b" : "a",
                                  .namespace_name = "ns",
                                  .name = "krtgate",
                                  .lease_duration_ms = 3000,
                                  .renew_deadline_ms = 2000,
                                  .retry_period_ms = 50};
        kube_elector_callbacks_t cb = {i ? started_b : started_a, i ? stopped_b : stopped_a, f};
        assert_int_equal(kube_elector_new(&f->l.loop, c[i], &o, &cb, &el[i]), KUBE_OK);
    }
    kube_client_config_dispose(&cfg);
    kube_elector_start(el[0]);
    kube_elector_start(el[1]);
    kube_test_loop_run_until(&f->l, one_started, f);
    for (int k = 0; k < 20; k++) /* and it stays one */
        uv_run(&f->l.loop, UV_RUN_ONCE);
    assert_int_equal(f->started[0] + f->started[1], 1);
    int leader = f->started[0] ? 0 : 1;
    assert_true(kube_elector_is_leader(el[leader]));
    assert_false(kube_elector_is_leader(el[!leader]));
    kube_elector_release(el[leader], on_released, f);
    assert_int_equal(f->stopped[leader], 1);
    kube_test_loop_run_until(&f->l, was_released, f);
    assert_string_equal(holder(&f->sim), "");
    kube_test_loop_run_until(&f->l, both_started, f);
    assert_true(kube_elector_is_leader(el[!leader]));
    for (int i = 0; i < 2; i++) {
        kube_elector_free(el[i]);
        kube_client_close(c[i], NULL, NULL);
    }
    net_http_server_close(srv, false, NULL, NULL);
    kube_test_loop_close(&f->l);
    json_decref(f->sim.lease);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_candidate_acquires_and_renews_without_reading),
        cmocka_unit_test(test_race_has_one_leader_and_crash_failover_waits_lease_duration),
        cmocka_unit_test(test_leader_steps_down_at_renew_deadline),
        cmocka_unit_test(test_release_writes_empty_holder_and_standby_takes_over_at_once),
        cmocka_unit_test(test_electors_over_http_one_leads_then_hands_over_on_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
