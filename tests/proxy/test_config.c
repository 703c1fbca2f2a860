/*
 * Tests of proxy/config.c: snapshots are built from change sets, validated whole, swapped
 * atomically, and kept alive by the requests that hold them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

#include "proxy/router.h"
#include "proxy_test_util.h"

static void check(proxy_config_t *cfg)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    proxy_snapshot_release(s);
}

static uint64_t generation(proxy_config_t *cfg)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    uint64_t g = proxy_snapshot_generation(s);
    proxy_snapshot_release(s);
    return g;
}

static void test_empty_store_has_generation_one(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_generation(s), 1);
    assert_int_equal(proxy_snapshot_count(s, IR_KIND_ROUTE), 0);
    assert_null(proxy_snapshot_bind(s, "80/default/gw"));
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
    proxy_config_free(NULL);
}

static void test_route_and_listener_in_one_set_in_any_order(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *objs[] = {tu_route("ns", "r", 0, "default/gw.http", "", "prefix:/", "be:x"),
                              tu_listener("default/gw.http", "80/default/gw", ""),
                              tu_bind("80/default/gw", 80), NULL};
    char reason[256] = "";
    assert_int_equal(tu_apply(cfg, objs, reason, sizeof reason), PROXY_OK);
    check(cfg);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_generation(s), 2);
    assert_int_equal(proxy_snapshot_count(s, IR_KIND_ROUTE), 1);
    assert_non_null(proxy_snapshot_get(s, PROXY_TYPE_RESOURCE, "route/ns/r.00.l"));
    assert_non_null(proxy_snapshot_get(s, PROXY_TYPE_RESOURCE, "bind/80/default/gw"));
    assert_null(proxy_snapshot_get(s, PROXY_TYPE_ADDRESS, "bind/80/default/gw"));
    assert_int_equal(ir_bind_port(proxy_snapshot_bind(s, "80/default/gw")), 80);
    json_t *d = proxy_snapshot_dump(s);
    assert_int_equal(json_array_size(json_object_get(d, "objects")), 3);
    json_decref(d);
    proxy_snapshot_release(s);
    assert_int_equal(proxy_config_accepted(cfg), 1);
    proxy_config_free(cfg);
}

static void test_listener_without_bind_is_rejected_and_old_config_stays(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *ok[] = {tu_bind("80/default/gw", 80),
                            tu_listener("default/gw.http", "80/default/gw", ""), NULL};
    assert_int_equal(tu_apply(cfg, ok, NULL, 0), PROXY_OK);
    const proxy_snapshot_t *before = proxy_config_snapshot(cfg);
    const ir_obj_t *bad[] = {tu_listener("default/gw.other", "81/default/gw", ""), NULL};
    char reason[256] = "";
    assert_int_equal(tu_apply(cfg, bad, reason, sizeof reason), PROXY_ECONFIG);
    assert_non_null(strstr(reason, "listener/default/gw.other"));
    assert_non_null(strstr(reason, "81/default/gw"));
    assert_string_equal(proxy_config_last_error(cfg), reason);
    const proxy_snapshot_t *after = proxy_config_snapshot(cfg);
    assert_ptr_equal(before, after);
    assert_int_equal(proxy_config_rejected(cfg), 1);
    proxy_snapshot_release(before);
    proxy_snapshot_release(after);
    proxy_config_free(cfg);
}

static void test_route_without_listener_and_bad_regex_are_rejected(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *base[] = {tu_bind("80/default/gw", 80),
                              tu_listener("default/gw.http", "80/default/gw", ""), NULL};
    assert_int_equal(tu_apply(cfg, base, NULL, 0), PROXY_OK);
    char reason[256] = "";
    const ir_obj_t *a[] = {tu_route("ns", "r", 0, "default/gw.nope", "", "", "be:x"), NULL};
    assert_int_equal(tu_apply(cfg, a, reason, sizeof reason), PROXY_ECONFIG);
    assert_non_null(strstr(reason, "route/ns/r.00.l: listener_key \"default/gw.nope\""));
    const ir_obj_t *b[] = {tu_route("ns", "r", 0, "default/gw.http", "", "regex:/a(b", "be:x"),
                           NULL};
    assert_int_equal(tu_apply(cfg, b, reason, sizeof reason), PROXY_ECONFIG);
    assert_non_null(strstr(reason, "matches[0].path regex \"/a(b\" does not compile"));
    const ir_obj_t *c[] = {tu_route("ns", "r", 0, "default/gw.http", "", "hr:x=[z", "be:x"), NULL};
    assert_int_equal(tu_apply(cfg, c, reason, sizeof reason), PROXY_ECONFIG);
    assert_non_null(strstr(reason, "matches[0].headers[0]"));
    const ir_obj_t *d[] = {tu_route("ns", "r", 0, "default/gw.http", "", "qr:x=(", "be:x"), NULL};
    assert_int_equal(tu_apply(cfg, d, reason, sizeof reason), PROXY_ECONFIG);
    assert_non_null(strstr(reason, "matches[0].query_params[0]"));
    assert_int_equal(generation(cfg), 2);
    assert_int_equal(proxy_config_rejected(cfg), 4);
    check(cfg);
    proxy_config_free(cfg);
}

static void test_removing_a_listener_still_used_is_rejected_removing_both_is_not(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *base[] = {tu_bind("80/default/gw", 80),
                              tu_listener("default/gw.http", "80/default/gw", ""),
                              tu_route("ns", "r", 0, "default/gw.http", "", "", "be:x"), NULL};
    assert_int_equal(tu_apply(cfg, base, NULL, 0), PROXY_OK);
    proxy_change_t rm[] = {{PROXY_TYPE_RESOURCE, "listener/default/gw.http", NULL}};
    char reason[256];
    assert_int_equal(proxy_config_apply(cfg, rm, 1, false, reason, sizeof reason), PROXY_ECONFIG);
    proxy_change_t rm2[] = {{PROXY_TYPE_RESOURCE, "listener/default/gw.http", NULL},
                            {PROXY_TYPE_RESOURCE, "route/ns/r.00.l", NULL},
                            {PROXY_TYPE_RESOURCE, "route/never/existed", NULL}};
    assert_int_equal(proxy_config_apply(cfg, rm2, 3, false, reason, sizeof reason), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_count(s, IR_KIND_LISTENER), 0);
    assert_int_equal(proxy_snapshot_count(s, IR_KIND_BIND), 1);
    proxy_snapshot_release(s);
    check(cfg);
    proxy_config_free(cfg);
}

static void test_request_in_flight_keeps_its_snapshot(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *v1[] = {
        tu_bind("80/default/gw", 80), tu_listener("default/gw.http", "80/default/gw", ""),
        tu_route("ns", "r", 0, "default/gw.http", "", "prefix:/", "be:one"), NULL};
    assert_int_equal(tu_apply(cfg, v1, NULL, 0), PROXY_OK);
    const proxy_snapshot_t *held = proxy_config_snapshot(cfg);
    const ir_obj_t *v2[] = {tu_route("ns", "r", 0, "default/gw.http", "", "prefix:/", "be:two"),
                            NULL};
    assert_int_equal(tu_apply(cfg, v2, NULL, 0), PROXY_OK);
    proxy_request_t req = {.method = "GET", .path = "/", .host = "h"};
    proxy_route_match_t m;
    assert_int_equal(proxy_router_match(held, "80/default/gw", &req, &m), PROXY_OK);
    assert_string_equal(m.pb->backends[0]->backend->backend, "one");
    const proxy_snapshot_t *now = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_router_match(now, "80/default/gw", &req, &m), PROXY_OK);
    assert_string_equal(m.pb->backends[0]->backend->backend, "two");
    proxy_config_free(cfg); /* the held snapshots outlive the store */
    assert_int_equal(proxy_router_match(held, "80/default/gw", &req, &m), PROXY_OK);
    assert_string_equal(m.pb->backends[0]->backend->backend, "one");
    proxy_snapshot_release(held);
    proxy_snapshot_release(now);
}

static void test_later_change_of_a_name_wins_and_replace_drops_the_rest(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *b1 = tu_bind("80/default/gw", 80);
    const ir_obj_t *b2 = tu_bind("81/default/gw", 81);
    proxy_change_t ch[3];
    proxy_change_of_obj(&ch[0], b1);
    proxy_change_of_obj(&ch[1], b2);
    ch[2] = (proxy_change_t){PROXY_TYPE_RESOURCE, "bind/81/default/gw", NULL};
    assert_int_equal(proxy_config_apply(cfg, ch, 3, false, NULL, 0), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_count(s, IR_KIND_BIND), 1);
    proxy_snapshot_release(s);
    assert_int_equal(proxy_config_apply(cfg, &ch[1], 1, true, NULL, 0), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_count(s, IR_KIND_BIND), 1);
    assert_non_null(proxy_snapshot_bind(s, "81/default/gw"));
    assert_ptr_equal(proxy_snapshot_bind_at(s, 0), proxy_snapshot_bind(s, "81/default/gw"));
    proxy_snapshot_release(s);
    ir_obj_release(b1);
    ir_obj_release(b2);
    check(cfg);
    proxy_config_free(cfg);
}

static void test_name_that_does_not_match_the_object_is_rejected(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *b = tu_bind("80/default/gw", 80);
    proxy_change_t ch = {PROXY_TYPE_RESOURCE, "bind/81/default/gw", b};
    char reason[256];
    assert_int_equal(proxy_config_apply(cfg, &ch, 1, false, reason, sizeof reason), PROXY_ECONFIG);
    assert_non_null(strstr(reason, "bind/81/default/gw"));
    ch = (proxy_change_t){PROXY_TYPE_ADDRESS, "bind/80/default/gw", b};
    assert_int_equal(proxy_config_apply(cfg, &ch, 1, false, reason, sizeof reason), PROXY_ECONFIG);
    ch = (proxy_change_t){7, "x", NULL};
    assert_int_equal(proxy_config_apply(cfg, &ch, 1, false, reason, sizeof reason), PROXY_ECONFIG);
    ir_obj_release(b);
    assert_int_equal(generation(cfg), 1);
    assert_string_equal(proxy_strerror(PROXY_ECONFIG), "configuration rejected");
    proxy_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_store_has_generation_one),
        cmocka_unit_test(test_route_and_listener_in_one_set_in_any_order),
        cmocka_unit_test(test_listener_without_bind_is_rejected_and_old_config_stays),
        cmocka_unit_test(test_route_without_listener_and_bad_regex_are_rejected),
        cmocka_unit_test(test_removing_a_listener_still_used_is_rejected_removing_both_is_not),
        cmocka_unit_test(test_request_in_flight_keeps_its_snapshot),
        cmocka_unit_test(test_later_change_of_a_name_wins_and_replace_drops_the_rest),
        cmocka_unit_test(test_name_that_does_not_match_the_object_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
