/*
 * Tests of proxy/xds_glue.c: an in-process change set (initial = whole state, then a delta with a
 * removal) and xDS client updates (accepted → 0, invalid → nonzero with the reason for the NACK).
 * Skipped when the build has no xds module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy_test_util.h"

#ifdef KRTGATE_PROXY_HAVE_XDS
#include "proxy/xds_glue.h"

static size_t count(proxy_t *p, ir_kind_t k)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(proxy_config(p));
    size_t n = proxy_snapshot_count(s, k);
    proxy_snapshot_release(s);
    return n;
}

static void test_inproc_initial_replaces_and_deltas_apply(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err;
    proxy_t *p = proxy_new(&loop, NULL, &err);
    const ir_obj_t *b80 = tu_bind("80/default/gw", 80), *b81 = tu_bind("81/default/gw", 81);
    const ir_obj_t *l = tu_listener("default/gw.http", "80/default/gw", "");
    xds_change_t c1[] = {{XDS_TYPE_RESOURCE, ir_obj_name(b80), b80},
                         {XDS_TYPE_RESOURCE, ir_obj_name(b81), b81},
                         {XDS_TYPE_RESOURCE, ir_obj_name(l), l}};
    xds_changeset_t cs = {c1, 3, true, 1};
    proxy_xds_inproc_cb(&cs, p);
    assert_int_equal(count(p, IR_KIND_BIND), 2);
    xds_change_t c2[] = {{XDS_TYPE_RESOURCE, "bind/81/default/gw", NULL}};
    cs = (xds_changeset_t){c2, 1, false, 2};
    proxy_xds_inproc_cb(&cs, p);
    assert_int_equal(count(p, IR_KIND_BIND), 1);
    cs = (xds_changeset_t){c1, 1, true, 3}; /* initial again: only bind 80 remains */
    proxy_xds_inproc_cb(&cs, p);
    assert_int_equal(count(p, IR_KIND_LISTENER), 0);

    const ir_obj_t *added[] = {l};
    const char *removed[] = {"bind/81/default/gw"};
    xds_update_t u = {XDS_TYPE_RESOURCE, "n1", "", added, 1, removed, 1};
    char reason[256] = "";
    assert_int_equal(proxy_xds_client_update(NULL, &u, reason, sizeof reason, p), 0);
    assert_int_equal(count(p, IR_KIND_LISTENER), 1);
    const ir_obj_t *bad = tu_listener("default/gw.x", "99/none/none", "");
    const ir_obj_t *bad_added[] = {bad};
    u = (xds_update_t){XDS_TYPE_RESOURCE, "n2", "", bad_added, 1, NULL, 0};
    assert_int_not_equal(proxy_xds_client_update(NULL, &u, reason, sizeof reason, p), 0);
    assert_non_null(strstr(reason, "99/none/none"));
    assert_int_equal(proxy_config_rejected(proxy_config(p)), 1);

    ir_obj_release(b80);
    ir_obj_release(b81);
    ir_obj_release(l);
    ir_obj_release(bad);
    proxy_close(p, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}
#else
static void test_inproc_initial_replaces_and_deltas_apply(void **state)
{
    (void)state;
    skip();
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inproc_initial_replaces_and_deltas_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
