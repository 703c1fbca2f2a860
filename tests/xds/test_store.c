/*
 * The xDS resource store (xds/store.c): puts and deletes per type and scope, visibility (unscoped
 * first, then the viewer's Gateway, never another Gateway), the krt feed (one static collection per
 * kind, flushes, deletes, readiness), change listeners, scope lifetime, which sessions a change
 * marks, the debug view, and a failing-allocation sweep. Invariants checked after every step.
 */
#include "xds_test_util.h"

#include "../../xds/xds_internal.h"

#define GW1  "default/gw1"
#define GW2  "default/gw2"
#define ADDR "default/svc.default.svc.cluster.local"

static void test_put_get_delete_and_versions(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    assert_true(xds_store_ready(st));
    const ir_obj_t *o = xt_obj(IR_KIND_ROUTE, GW1, "default/r.00.http", 1);
    assert_int_equal(xds_store_put(st, o), 1);
    assert_int_equal(xds_store_version(st), 1);
    /* same bytes again: no change */
    const ir_obj_t *same = xt_obj(IR_KIND_ROUTE, GW1, "default/r.00.http", 1);
    assert_int_equal(xds_store_put(st, same), 0);
    assert_int_equal(xds_store_version(st), 1);
    assert_ptr_equal(xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "route/default/r.00.http"), o);
    assert_int_equal(xds_store_count(st, XDS_TYPE_RESOURCE, GW1), 1);
    assert_int_equal(xds_store_count(st, XDS_TYPE_RESOURCE, NULL), 0);
    assert_int_equal(xds_store_count(st, XDS_TYPE_ADDRESS, GW1), 0);
    xt_check_store(st);
    assert_int_equal(xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/nope"), 0);
    assert_int_equal(xds_store_delete(st, XDS_TYPE_RESOURCE, GW2, "route/default/r.00.http"), 0);
    assert_int_equal(xds_store_delete(st, XDS_TYPE_ADDRESS, GW1, "route/default/r.00.http"), 0);
    assert_int_equal(xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/r.00.http"), 1);
    assert_null(xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "route/default/r.00.http"));
    assert_int_equal(xds_store_version(st), 2);
    xt_check_store(st);
    ir_obj_release(o);
    ir_obj_release(same);
    xds_store_free(st);
}

static void test_visibility_is_unscoped_then_own_gateway_only(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 1);
    xt_put(st, IR_KIND_ROUTE, GW2, "default/r2.00.http", 1);
    xt_put(st, IR_KIND_ADDRESS, NULL, ADDR, 1);
    xt_put(st, IR_KIND_BACKEND, GW1, "default/b", 1);
    xt_put(st, IR_KIND_BACKEND, NULL, "default/b", 2);
    assert_non_null(xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http"));
    assert_null(xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "route/default/r2.00.http"));
    assert_null(xds_store_get(st, XDS_TYPE_RESOURCE, NULL, "route/default/r1.00.http"));
    assert_non_null(xds_store_get(st, XDS_TYPE_ADDRESS, GW2, ADDR));
    assert_non_null(xds_store_get(st, XDS_TYPE_ADDRESS, NULL, ADDR));
    /* both scopes hold backend/default/b: the unscoped one wins */
    assert_null(ir_obj_gateway(xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "backend/default/b")));
    /* a gateway the store never saw sees the unscoped objects */
    assert_non_null(xds_store_get(st, XDS_TYPE_ADDRESS, "other/gw", ADDR));
    xt_check_store(st);
    xds_store_free(st);
}

static const ir_kind_t kinds[] = {IR_KIND_BIND,      IR_KIND_LISTENER, IR_KIND_ROUTE,
                                  IR_KIND_TCP_ROUTE, IR_KIND_BACKEND,  IR_KIND_POLICY,
                                  IR_KIND_ADDRESS};

static void test_fed_by_krt_collections(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *cols[7];
    xds_store_t *st = xds_store_new();
    for (int i = 0; i < 7; i++) {
        cols[i] = krt_static_new(e, ir_kind_type(kinds[i]), ir_kind_name(kinds[i]), true);
        /* objects present before the watch arrive through the replay */
        if (kinds[i] == IR_KIND_ROUTE)
            krt_static_put(cols[i],
                           ir_obj_krt(xt_obj(IR_KIND_ROUTE, GW1, "default/early.00.http", 1)));
    }
    krt_engine_flush(e);
    for (int i = 0; i < 7; i++)
        assert_int_equal(xds_store_watch(st, cols[i]), XDS_OK);
    assert_non_null(xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "route/default/early.00.http"));
    assert_int_equal(
        krt_static_put(cols[0], ir_obj_krt(xt_obj(IR_KIND_BIND, GW1, "80/default/gw1", 1))),
        KRT_OK);
    assert_int_equal(krt_static_put(cols[6], ir_obj_krt(xt_obj(IR_KIND_ADDRESS, NULL, ADDR, 1))),
                     KRT_OK);
    assert_int_equal(xds_store_flush(st, e), KRT_OK);
    assert_non_null(xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1"));
    assert_non_null(xds_store_get(st, XDS_TYPE_ADDRESS, NULL, ADDR));
    assert_int_equal(xds_store_commits(st), 1);
    /* update and delete through krt */
    krt_static_put(cols[0], ir_obj_krt(xt_obj(IR_KIND_BIND, GW1, "80/default/gw1", 2)));
    krt_static_delete(cols[6], "//" ADDR);
    xds_store_flush(st, e);
    assert_int_equal(ir_bind_port(ir_bind_from_obj(
                         xds_store_get(st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1"))),
                     1002);
    assert_null(xds_store_get(st, XDS_TYPE_ADDRESS, NULL, ADDR));
    xt_check_store(st);
    /* a collection of another type is refused */
    krt_collection_t *other = krt_static_new(e, &krt_status_type, "status", true);
    assert_int_equal(xds_store_watch(st, other), XDS_EINVAL);
    xds_store_free(st);
    krt_engine_free(e);
}

static void test_ready_once_every_watched_collection_is_synced(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *a = krt_static_new(e, ir_kind_type(IR_KIND_BIND), "binds", true);
    krt_collection_t *b = krt_static_new(e, ir_kind_type(IR_KIND_ROUTE), "routes", false);
    xds_store_t *st = xds_store_new();
    xds_store_watch(st, a);
    xds_store_watch(st, b);
    xds_store_flush(st, e);
    assert_false(xds_store_ready(st));
    krt_static_mark_synced(b);
    xds_store_flush(st, e);
    assert_true(xds_store_ready(st));
    xds_store_free(st);
    krt_engine_free(e);
}

static void on_change(xds_store_t *s, void *ud)
{
    (void)s;
    (*(int *)ud)++;
}

static void test_change_listeners_hear_once_per_commit(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    int n = 0, m = 0;
    assert_int_equal(xds_store_on_change(st, on_change, &n), XDS_OK);
    assert_int_equal(xds_store_on_change(st, on_change, &m), XDS_OK);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/a.00.http", 1);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/b.00.http", 1);
    assert_int_equal(n, 1);
    xds_store_commit(st);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/a.00.http", 1); /* no change: no call */
    assert_int_equal(n, 1);
    xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/a.00.http");
    assert_int_equal(n, 2);
    xds_store_off_change(st, on_change, &n);
    xds_store_commit(st);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/a.00.http", 3);
    assert_int_equal(n, 2);
    assert_int_equal(m, 3);
    assert_int_equal(xds_store_commits(st), 2);
    xds_store_free(st);
}

static void test_changes_mark_only_sessions_that_can_see_them(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    int err;
    xds_session_t *s1 = xds_session_new(st, "p1", GW1, NULL, &err);
    xds_session_t *s2 = xds_session_new(st, "p2", GW2, NULL, &err);
    xds_session_t *s0 = xds_session_new(st, "p0", NULL, NULL, &err);
    xds_session_t *all[] = {s1, s2, s0};
    xt_req_t r;
    for (int i = 0; i < 3; i++) {
        xt_send(all[i], xt_req(&r, XDS_TYPE_RESOURCE));
        xt_send(all[i], xt_req(&r, XDS_TYPE_ADDRESS));
    }
    xt_put(st, IR_KIND_ROUTE, GW1, "default/a.00.http", 1);
    xt_put(st, IR_KIND_ADDRESS, NULL, ADDR, 1);
    xds_session_type_info_t ti;
    size_t want_res[] = {1, 0, 0}, want_addr[] = {1, 1, 1};
    for (int i = 0; i < 3; i++) {
        xds_session_type_info(all[i], XDS_TYPE_RESOURCE, &ti);
        assert_int_equal(ti.dirty, want_res[i]);
        xds_session_type_info(all[i], XDS_TYPE_ADDRESS, &ti);
        assert_int_equal(ti.dirty, want_addr[i]);
    }
    xt_check_store(st);
    json_t *j = xds_store_debug(st);
    assert_int_equal(json_integer_value(json_object_get(j, "sessions")), 3);
    assert_int_equal(json_array_size(json_object_get(j, "scopes")), 3);
    json_decref(j);
    for (int i = 0; i < 3; i++)
        xds_session_free(all[i]);
    xt_check_store(st);
    xds_store_free(st);
}

static void test_empty_gateway_scopes_are_freed(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    xt_put(st, IR_KIND_ROUTE, GW1, "default/a.00.http", 1);
    int err;
    xds_session_t *s = xds_session_new(st, "p", GW2, NULL, &err);
    json_t *j = xds_store_debug(st);
    assert_int_equal(json_array_size(json_object_get(j, "scopes")), 3);
    json_decref(j);
    xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/a.00.http");
    xds_session_free(s);
    j = xds_store_debug(st);
    assert_int_equal(json_array_size(json_object_get(j, "scopes")), 1); /* the unscoped one */
    json_decref(j);
    xt_check_store(st);
    xds_store_free(st);
}

/* ---- failing allocations ---- */

static long alloc_budget = -1;
static void *fail_malloc(size_t n, void *ud)
{
    (void)ud;
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(n);
}
static void *fail_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return realloc(p, n);
}
static void fail_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static void quiet(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

static void test_failing_allocations_leave_a_consistent_store(void **state)
{
    (void)state;
    const krt_allocator_t a = {fail_malloc, fail_realloc, fail_free, NULL};
    krt_allocator_set(&a);
    xds_log_set(quiet, NULL, XDS_LOG_ERROR);
    for (long budget = 0; budget < 200; budget++) {
        alloc_budget = -1;
        xds_store_t *st = xds_store_new();
        int err;
        xds_session_t *s = xds_session_new(st, "p", GW1, NULL, &err);
        xt_req_t r;
        xt_send(s, xt_req(&r, XDS_TYPE_RESOURCE));
        const ir_obj_t *objs[6];
        for (int i = 0; i < 6; i++) {
            char k[32];
            snprintf(k, sizeof k, "default/r%d.00.http", i);
            objs[i] = xt_obj(IR_KIND_ROUTE, i % 2 ? GW1 : GW2, k, 1);
        }
        alloc_budget = budget;
        for (int i = 0; i < 6; i++)
            (void)xds_store_put(st, objs[i]);
        (void)xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/r1.00.http");
        xds_response_t *resp = NULL;
        int rc = xds_session_pull(s, &resp);
        if (rc == 1)
            xds_response_free(resp);
        else if (rc < 0)
            assert_int_equal(rc, XDS_ENOMEM);
        alloc_budget = -1;
        xt_check_store(st);
        for (int i = 0; i < 6; i++)
            ir_obj_release(objs[i]);
        xds_session_free(s);
        xds_store_free(st);
    }
    krt_allocator_set(NULL);
    xds_log_set(NULL, NULL, 0);
}

/* A session holding objects (by id) while deletes free ids and puts reuse them, every allocation
 * failing in turn: the store and the session stay consistent (T6, T7, O1..O3), and a pull either
 * answers or says out of memory. */
static void test_failing_allocations_while_a_session_holds_objects(void **state)
{
    (void)state;
    const krt_allocator_t a = {fail_malloc, fail_realloc, fail_free, NULL};
    krt_allocator_set(&a);
    xds_log_set(quiet, NULL, XDS_LOG_ERROR);
    for (long budget = 0; budget < 120; budget++) {
        alloc_budget = -1;
        xds_store_t *st = xds_store_new();
        char k[32];
        for (int i = 0; i < 70; i++) {
            snprintf(k, sizeof k, "default/r%d.00.http", i);
            xt_put(st, IR_KIND_ROUTE, i % 7 ? GW1 : NULL, k, 1);
        }
        int err;
        xds_session_t *s = xds_session_new(st, "p", GW1, NULL, &err);
        xt_req_t r;
        xt_send(s, xt_req(&r, XDS_TYPE_RESOURCE));
        xds_response_t *resp = NULL;
        assert_int_equal(xds_session_pull(s, &resp), 1);
        xds_response_free(resp);
        xt_ack_type(s, XDS_TYPE_RESOURCE, "1");
        const ir_obj_t *o1 = xt_obj(IR_KIND_ROUTE, GW1, "default/x1.00.http", 1);
        const ir_obj_t *o2 = xt_obj(IR_KIND_ROUTE, NULL, "default/r1.00.http", 2);
        alloc_budget = budget;
        (void)xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/r2.00.http");
        (void)xds_store_put(st, o1); /* reuses r2's id */
        (void)xds_store_put(st, o2); /* hides gw1's r1 */
        (void)xds_store_delete(st, XDS_TYPE_RESOURCE, NULL, "route/default/r0.00.http");
        int rc = xds_session_pull(s, &resp);
        if (rc == 1)
            xds_response_free(resp);
        else if (rc < 0)
            assert_int_equal(rc, XDS_ENOMEM);
        alloc_budget = -1;
        xt_check_store(st);
        ir_obj_release(o1);
        ir_obj_release(o2);
        xds_session_free(s);
        xds_store_free(st);
    }
    krt_allocator_set(NULL);
    xds_log_set(NULL, NULL, 0);
}

static uint32_t id_of(xds_store_t *st, const char *gw, xds_type_t t, const char *name)
{
    const xds__scope_t *sc = gw ? xds__store_scope_ref(st, gw) : xds__store_unscoped(st);
    return xds__objs_find(&sc->objs[t], name, strlen(name), xds__hash(name, strlen(name)));
}

static void test_ids_are_dense_per_scope_and_type_and_reused(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    char k[64], n[80];
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "default/r%02d.00.http", i);
        xt_put(st, IR_KIND_ROUTE, GW1, k, 1);
    }
    xt_put(st, IR_KIND_ROUTE, GW2, "default/other.00.http", 1);
    xt_put(st, IR_KIND_ADDRESS, NULL, ADDR, 1);
    /* each (scope, type) numbers from 0 */
    assert_int_equal(id_of(st, GW1, XDS_TYPE_RESOURCE, "route/default/r00.00.http"), 0);
    assert_int_equal(id_of(st, GW1, XDS_TYPE_RESOURCE, "route/default/r19.00.http"), 19);
    assert_int_equal(id_of(st, GW2, XDS_TYPE_RESOURCE, "route/default/other.00.http"), 0);
    assert_int_equal(id_of(st, NULL, XDS_TYPE_ADDRESS, ADDR), 0);
    assert_int_equal(id_of(st, NULL, XDS_TYPE_RESOURCE, ADDR), XDS__NO_ID);
    /* a change keeps the id */
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r05.00.http", 2);
    assert_int_equal(id_of(st, GW1, XDS_TYPE_RESOURCE, "route/default/r05.00.http"), 5);
    /* freed ids are reused, last freed first, before the array grows */
    xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/r03.00.http");
    xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/r11.00.http");
    xt_check_store(st);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/new1.00.http", 1);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/new2.00.http", 1);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/new3.00.http", 1);
    assert_int_equal(id_of(st, GW1, XDS_TYPE_RESOURCE, "route/default/new1.00.http"), 11);
    assert_int_equal(id_of(st, GW1, XDS_TYPE_RESOURCE, "route/default/new2.00.http"), 3);
    assert_int_equal(id_of(st, GW1, XDS_TYPE_RESOURCE, "route/default/new3.00.http"), 20);
    assert_int_equal(xds__store_scope_ref(st, GW1)->objs[XDS_TYPE_RESOURCE].nids, 21);
    xt_check_store(st);
    /* emptied, a (scope, type) starts again from 0 */
    for (int i = 0; i < 20; i++) {
        snprintf(n, sizeof n, "route/default/r%02d.00.http", i);
        xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, n);
    }
    for (int i = 1; i <= 3; i++) {
        snprintf(n, sizeof n, "route/default/new%d.00.http", i);
        xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, n);
    }
    xt_check_store(st);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/again.00.http", 1);
    assert_int_equal(id_of(st, GW1, XDS_TYPE_RESOURCE, "route/default/again.00.http"), 0);
    assert_int_equal(xds__store_scope_ref(st, GW1)->objs[XDS_TYPE_RESOURCE].nids, 1);
    xt_check_store(st);
    xds_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete_and_versions),
        cmocka_unit_test(test_visibility_is_unscoped_then_own_gateway_only),
        cmocka_unit_test(test_fed_by_krt_collections),
        cmocka_unit_test(test_ready_once_every_watched_collection_is_synced),
        cmocka_unit_test(test_change_listeners_hear_once_per_commit),
        cmocka_unit_test(test_changes_mark_only_sessions_that_can_see_them),
        cmocka_unit_test(test_empty_gateway_scopes_are_freed),
        cmocka_unit_test(test_failing_allocations_leave_a_consistent_store),
        cmocka_unit_test(test_failing_allocations_while_a_session_holds_objects),
        cmocka_unit_test(test_ids_are_dense_per_scope_and_type_and_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
