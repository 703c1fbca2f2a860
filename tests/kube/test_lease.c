/*
 * Leader election state machine (kube/lease.c) with a fake clock against a simulated API server
 * holding one Lease (resourceVersion conflicts as the real one: a PUT with a stale version is
 * 409, a POST of an existing Lease is 409): one candidate acquires and renews without reading;
 * two racing candidates end with exactly one leader; a crashed leader is replaced only after
 * leaseDuration of an unchanged record on the standby's clock; a leader that cannot renew steps
 * down at renewDeadline; release writes an empty holder and a standby takes over at once.
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
        const char *rv = json_string_value(
            json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
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
    kube_lease_options_t o = {.identity = id, .namespace_name = "ns", .name = "krtgate",
                              .wall_us = fake_wall, .wall_ud = clock};
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
    assert_null(kube_lease_new(&(kube_lease_options_t){.identity = "", .namespace_name = "n",
                                                       .name = "x"}));
    assert_false(kube_lease_is_leader(a));
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_GET);
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_CREATE);
    assert_true(kube_lease_is_leader(a));
    assert_string_equal(holder(&s), "a");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s.lease, "spec"),
                                                        "leaseDurationSeconds")),
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
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s.lease, "spec"),
                                                        "leaseTransitions")),
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
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s.lease, "spec"),
                                                        "leaseTransitions")),
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
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s.lease, "spec"),
                                                        "leaseDurationSeconds")),
                     1);
    assert_int_equal(serve(&s, a, now), KUBE_LEASE_DONE);
    now += 2000;
    kube_lease_on_waited(b, now);
    settle(&s, b, now);
    assert_true(kube_lease_is_leader(b));
    /* a non-leader's release is DONE at once */
    kube_lease_t *c = candidate("c", &now);
    kube_lease_release(c, now);
    assert_int_equal(serve(&s, c, now), KUBE_LEASE_DONE);
    kube_lease_free(a);
    kube_lease_free(b);
    kube_lease_free(c);
    json_decref(s.lease);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_candidate_acquires_and_renews_without_reading),
        cmocka_unit_test(test_race_has_one_leader_and_crash_failover_waits_lease_duration),
        cmocka_unit_test(test_leader_steps_down_at_renew_deadline),
        cmocka_unit_test(test_release_writes_empty_holder_and_standby_takes_over_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
