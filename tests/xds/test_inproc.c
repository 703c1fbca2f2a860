/*
 * In-process delivery (xds/inproc.c): the initial state, one ordered change set per commit with the
 * scope of the role, changes that cancel out within a commit, objects shared with the store (no
 * copies), subscribing before the store is ready, and unsubscribing from inside a callback.
 */
#include "xds_test_util.h"

#include "xds/inproc.h"

#define GW1 "default/gw1"
#define GW2 "default/gw2"

typedef struct rec {
    char log[8][2048];
    int n;
    bool initial[8];
    const ir_obj_t *first_obj;
    xds_inproc_t *self; /* unsubscribe from inside the callback when set */
} rec_t;

static void record(const xds_changeset_t *cs, void *ud)
{
    rec_t *r = ud;
    assert_true(r->n < 8);
    char *out = r->log[r->n];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cs->len; i++) {
        const xds_change_t *c = &cs->changes[i];
        len += (size_t)snprintf(out + len, sizeof r->log[0] - len, "%s%c%s", i ? " " : "",
                                c->obj ? '+' : '-', c->name);
        if (c->obj)
            assert_string_equal(ir_obj_name(c->obj), c->name);
        if (!r->first_obj && c->obj)
            r->first_obj = c->obj;
    }
    r->initial[r->n] = cs->initial;
    r->n++;
    if (r->self) {
        xds_inproc_unsubscribe(r->self);
        r->self = NULL;
    }
}

static void fill(xds_store_t *st)
{
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 1);
    xt_put(st, IR_KIND_BIND, GW1, "80/default/gw1", 1);
    xt_put(st, IR_KIND_BIND, GW2, "80/default/gw2", 1);
    xt_put(st, IR_KIND_ADDRESS, NULL, "default/svc.default.svc.cluster.local", 1);
    xds_store_commit(st);
}

static void test_initial_state_then_one_ordered_change_set_per_commit(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    fill(st);
    rec_t r = {0};
    int err;
    xds_inproc_t *sub = xds_inproc_subscribe(st, "default~gw1", record, &r, &err);
    assert_non_null(sub);
    assert_int_equal(r.n, 1);
    assert_true(r.initial[0]);
    assert_string_equal(r.log[0], "+default/svc.default.svc.cluster.local +bind/80/default/gw1 "
                                  "+route/default/r1.00.http");
    /* changes: a new listener, a route update, the bind removed, gw2 changes (invisible) */
    xt_put(st, IR_KIND_LISTENER, GW1, "default/gw1.http", 1);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "bind/80/default/gw1");
    xds_store_delete(st, XDS_TYPE_ADDRESS, NULL, "default/svc.default.svc.cluster.local");
    xt_put(st, IR_KIND_BIND, GW2, "80/default/gw2", 2);
    assert_int_equal(r.n, 1); /* nothing before the commit */
    xt_check_store(st);
    xds_store_commit(st);
    assert_int_equal(r.n, 2);
    assert_false(r.initial[1]);
    assert_string_equal(r.log[1], "+listener/default/gw1.http +route/default/r1.00.http "
                                  "-bind/80/default/gw1 -default/svc.default.svc.cluster.local");
    /* a commit with only other Gateways' changes delivers nothing */
    xt_put(st, IR_KIND_BIND, GW2, "80/default/gw2", 3);
    xds_store_commit(st);
    assert_int_equal(r.n, 2);
    assert_int_equal(xds_inproc_deliveries(sub), 2);
    xds_inproc_unsubscribe(sub);
    xt_check_store(st);
    xds_store_free(st);
}

static void test_changes_that_cancel_out_within_a_commit_are_not_delivered(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    fill(st);
    rec_t r = {0};
    int err;
    xds_inproc_t *sub = xds_inproc_subscribe(st, "default~gw1", record, &r, &err);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 2);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 1); /* back to what it was */
    xt_put(st, IR_KIND_ROUTE, GW1, "default/tmp.00.http", 1);
    xds_store_delete(st, XDS_TYPE_RESOURCE, GW1, "route/default/tmp.00.http"); /* came and went */
    xds_store_commit(st);
    assert_int_equal(r.n, 1);
    xds_inproc_unsubscribe(sub);
    xds_store_free(st);
}

static void test_objects_are_the_stores_own(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    rec_t r = {0};
    int err;
    xds_inproc_t *sub = xds_inproc_subscribe(st, NULL, record, &r, &err);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.log[0], ""); /* empty initial state */
    const ir_obj_t *o = xt_obj(IR_KIND_ADDRESS, NULL, "default/svc.default.svc.cluster.local", 1);
    xds_store_put(st, o);
    xds_store_commit(st);
    assert_ptr_equal(r.first_obj, o);
    ir_obj_release(o);
    xds_inproc_unsubscribe(sub);
    xds_store_free(st);
}

static void test_subscriber_before_ready_gets_the_state_when_ready(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *c = krt_static_new(e, ir_kind_type(IR_KIND_BIND), "binds", false);
    xds_store_t *st = xds_store_new();
    xds_store_watch(st, c);
    rec_t r = {0};
    int err;
    xds_inproc_t *sub = xds_inproc_subscribe(st, "default~gw1", record, &r, &err);
    krt_static_put(c, ir_obj_krt(xt_obj(IR_KIND_BIND, GW1, "80/default/gw1", 1)));
    xds_store_flush(st, e);
    assert_int_equal(r.n, 0);
    krt_static_mark_synced(c);
    xds_store_flush(st, e);
    assert_int_equal(r.n, 1);
    assert_true(r.initial[0]);
    assert_string_equal(r.log[0], "+bind/80/default/gw1");
    xds_inproc_unsubscribe(sub);
    xds_store_free(st);
    krt_engine_free(e);
}

static void test_unsubscribe_from_inside_the_callback(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    fill(st);
    rec_t a = {0}, b = {0};
    int err;
    xds_inproc_t *sa = xds_inproc_subscribe(st, "default~gw1", record, &a, &err);
    xds_inproc_t *sb = xds_inproc_subscribe(st, "default~gw1", record, &b, &err);
    a.self = sa;
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 5);
    xds_store_commit(st);
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 2);
    xt_put(st, IR_KIND_ROUTE, GW1, "default/r1.00.http", 6);
    xds_store_commit(st);
    assert_int_equal(a.n, 2); /* gone */
    assert_int_equal(b.n, 3);
    xt_check_store(st);
    xds_inproc_unsubscribe(sb);
    xt_check_store(st);
    xds_store_free(st);
}

static void test_bad_role_is_refused(void **state)
{
    (void)state;
    xds_store_t *st = xds_store_new();
    rec_t r = {0};
    int err = 0;
    assert_null(xds_inproc_subscribe(st, "no-tilde", record, &r, &err));
    assert_int_equal(err, XDS_EROLE);
    xds_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_state_then_one_ordered_change_set_per_commit),
        cmocka_unit_test(test_changes_that_cancel_out_within_a_commit_are_not_delivered),
        cmocka_unit_test(test_objects_are_the_stores_own),
        cmocka_unit_test(test_subscriber_before_ready_gets_the_state_when_ready),
        cmocka_unit_test(test_unsubscribe_from_inside_the_callback),
        cmocka_unit_test(test_bad_role_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
