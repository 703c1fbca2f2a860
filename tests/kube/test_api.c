/*
 * The writers' shared helpers (kube/api.c): resource paths for core and named groups, merge
 * patches that are empty exactly when nothing differs (with and without pruning), the covers
 * check the applier uses, the token bucket, the capped backoff and the retry state built on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kube/api.h"

static void test_paths(void **state)
{
    (void)state;
    char b[256];
    assert_true(kube_api_path(b, sizeof b, "v1", "services", "ns", "s", NULL) > 0);
    assert_string_equal(b, "/api/v1/namespaces/ns/services/s");
    assert_true(kube_api_path(b, sizeof b, "gateway.networking.k8s.io/v1", "gatewayclasses", NULL,
                              "c", "status") > 0);
    assert_string_equal(b, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/c/status");
    assert_true(kube_api_path(b, sizeof b, "apps/v1", "deployments", "ns", NULL, NULL) > 0);
    assert_string_equal(b, "/apis/apps/v1/namespaces/ns/deployments");
    assert_int_equal(kube_api_path(b, sizeof b, "v1", "services", "a/b", "s", NULL), -1);
    assert_int_equal(kube_api_path(b, 8, "v1", "services", "ns", "s", NULL), -1);
    assert_string_equal(kube_api_plural("AgentgatewayPolicy"), "agentgatewaypolicies");
    assert_null(kube_api_plural("Pod"));
}

static void check_patch(const char *cur, const char *want, bool prune, const char *expect)
{
    json_t *c = json_loads(cur, 0, NULL), *w = json_loads(want, 0, NULL);
    bool oom = true;
    json_t *p = kube_merge_patch(c, w, prune, &oom);
    assert_false(oom);
    if (!expect) {
        assert_null(p);
        assert_true(kube_json_covers(c, w) || prune);
    } else {
        json_t *e = json_loads(expect, 0, NULL);
        assert_non_null(p);
        assert_true(json_equal(p, e));
        json_decref(e);
    }
    json_decref(p);
    json_decref(c);
    json_decref(w);
}

static void test_merge_patches(void **state)
{
    (void)state;
    check_patch("{\"a\":1,\"b\":{\"c\":2}}", "{\"a\":1,\"b\":{\"c\":2}}", true, NULL);
    check_patch("{\"a\":1,\"b\":{\"c\":2,\"d\":3}}", "{\"b\":{\"c\":2}}", true,
                "{\"a\":null,\"b\":{\"d\":null}}");
    check_patch("{\"a\":1,\"b\":{\"c\":2,\"d\":3}}", "{\"b\":{\"c\":2}}", false, NULL);
    check_patch("{\"l\":[1,2]}", "{\"l\":[1]}", false, "{\"l\":[1]}");
    check_patch("{}", "{\"x\":{\"y\":\"z\"}}", false, "{\"x\":{\"y\":\"z\"}}");
    check_patch("{\"x\":\"s\"}", "{\"x\":{\"y\":1}}", false, "{\"x\":{\"y\":1}}");
    json_t *c = json_loads("{\"a\":{\"b\":1,\"c\":2}}", 0, NULL);
    json_t *w = json_loads("{\"a\":{\"b\":1}}", 0, NULL);
    assert_true(kube_json_covers(c, w));
    json_t *w2 = json_loads("{\"a\":{\"b\":2}}", 0, NULL);
    assert_false(kube_json_covers(c, w2));
    json_decref(c);
    json_decref(w);
    json_decref(w2);
}

static void test_bucket_and_backoff(void **state)
{
    (void)state;
    kube_bucket_t b;
    kube_bucket_init(&b, 2, 2);
    assert_int_equal(kube_bucket_take(&b, 1000), 0);
    assert_int_equal(kube_bucket_take(&b, 1000), 0);
    uint64_t w = kube_bucket_take(&b, 1000);
    assert_true(w >= 500 && w <= 501);
    assert_int_equal(kube_bucket_take(&b, 1500), 0);
    assert_true(kube_bucket_take(&b, 1500) > 0);
    /* refills only up to the burst */
    assert_int_equal(kube_bucket_take(&b, 100000), 0);
    assert_int_equal(kube_bucket_take(&b, 100000), 0);
    assert_true(kube_bucket_take(&b, 100000) > 0);
    assert_int_equal(kube_backoff_ms(0, 100, 1000), 100);
    assert_int_equal(kube_backoff_ms(3, 100, 1000), 800);
    assert_int_equal(kube_backoff_ms(60, 100, 1000), 1000);
}

/* A retried write waits base, 2 base, ... up to the cap; it is due exactly at its time, a
 * shorter wait elsewhere is kept, and a reset makes it due at once. */
static void test_retry_waits_doubling_and_resets(void **state)
{
    (void)state;
    kube_retry_t r = {0};
    uint64_t wait = UINT64_MAX;
    assert_true(kube_retry_due(&r, 0, &wait));
    assert_int_equal(wait, UINT64_MAX);
    kube_retry_later(&r, 1000, 100, 250);
    assert_false(kube_retry_due(&r, 1050, &wait));
    assert_int_equal(wait, 50);
    assert_true(kube_retry_due(&r, 1100, &wait));
    kube_retry_later(&r, 2000, 100, 250);
    wait = 10;
    assert_false(kube_retry_due(&r, 2000, &wait));
    assert_int_equal(wait, 10); /* 200 is not sooner */
    for (int i = 0; i < 40; i++)
        kube_retry_later(&r, 3000, 100, 250);
    assert_int_equal(r.attempt, 30);
    assert_int_equal(r.not_before, 3250);
    kube_retry_reset(&r);
    assert_int_equal(r.attempt, 0);
    assert_true(kube_retry_due(&r, 0, &wait));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_merge_patches),
        cmocka_unit_test(test_bucket_and_backoff),
        cmocka_unit_test(test_retry_waits_doubling_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
