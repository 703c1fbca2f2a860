/*
 * Recompute triggers: how state held outside krt drives recomputation.
 *
 * Ported in behaviour from Istio's recomputetrigger_test.go: the dependant stays unsynced until the
 * trigger is marked synced; firing reruns the dependants; an output whose key changes is a delete
 * plus an add. Beyond Istio: any number of fires between two flushes costs one recompute.
 */
#include "krt_test_util.h"

/* State outside krt: the dependant reads it after declaring its dependency on the trigger. */
typedef struct outside {
    krt_collection_t *trigger;
    const char *keys[4];
    const char *value;
    int runs;
} outside_t;

static int from_outside_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    outside_t *o = ud;
    assert_null(in);
    o->runs++;
    krt_trigger_depend(ctx, o->trigger);
    for (size_t i = 0; i < 4 && o->keys[i]; i++) {
        int rc = krt_emit(ctx, kv_new(o->keys[i], o->value));
        if (rc != KRT_OK)
            return rc;
    }
    return KRT_OK;
}

static void test_trigger_dependant_is_unsynced_until_mark_synced(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    outside_t o = {.keys = {"a"}, .value = "1"};
    o.trigger = krt_trigger_new(env.e, "trigger", false);
    assert_non_null(o.trigger);
    krt_collection_t *m =
        krt_many_from_nothing_new(env.e, &test_kv_type, "outside", from_outside_fn, &o);
    FLUSH(env.e);
    assert_false(krt_collection_synced(o.trigger));
    assert_false(krt_collection_synced(m));
    FLUSH(env.e);
    assert_false(krt_collection_synced(m));
    krt_trigger_mark_synced(o.trigger);
    CHECK(env.e);
    FLUSH(env.e);
    assert_true(krt_collection_synced(o.trigger));
    assert_true(krt_collection_synced(m));
    EXPECT_KEYS(m, "a");
    test_env_dispose(&env);
}

static void test_trigger_fire_reruns_dependants_once_per_flush(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    outside_t o = {.keys = {"a", "b"}, .value = "1"};
    o.trigger = krt_trigger_new(env.e, "trigger", true);
    krt_collection_t *m =
        krt_many_from_nothing_new(env.e, &test_kv_type, "outside", from_outside_fn, &o);
    /* A collection that does not depend on the trigger. */
    krt_collection_t *src = krt_static_new(env.e, &test_pod_type, "src", true);
    PUT(src, pod_new("ns", "p", "1", NULL));
    krt_collection_t *other = test_ips_new(src, "other");
    test_rec_t rec;
    test_rec_subscribe(&rec, m, false);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/a=1", "add/b=1");
    assert_int_equal(o.runs, 1);

    /* Outside state changes unseen until fired. */
    o.value = "2";
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(o.runs, 1);
    assert_int_equal(krt_trigger_fire(o.trigger), KRT_OK);
    CHECK(env.e);
    assert_true(krt_engine_pending(env.e));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/a=2", "update/b=2");
    assert_int_equal(o.runs, 2);

    /* Fired three times: one rerun. Nothing changed: no event. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(krt_trigger_fire(o.trigger), KRT_OK);
    FLUSH(env.e);
    assert_int_equal(o.runs, 3);
    EXPECT_NO_EVENTS(&rec);
    /* Only the first flush ran it. */
    assert_int_equal(test_recomputes(other), 1);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_trigger_output_key_change_is_delete_plus_add(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    outside_t o = {.keys = {"old"}, .value = "1"};
    o.trigger = krt_trigger_new(env.e, "trigger", true);
    krt_collection_t *m =
        krt_many_from_nothing_new(env.e, &test_kv_type, "outside", from_outside_fn, &o);
    test_rec_t rec;
    test_rec_subscribe(&rec, m, false);
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/old");
    o.keys[0] = "new";
    assert_int_equal(krt_trigger_fire(o.trigger), KRT_OK);
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/new", "delete/old");
    assert_int_equal(rec.batches, 2);
    EXPECT_KEYS(m, "new");
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static int trigger_then_ip_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    outside_t *o = ud;
    o->runs++;
    krt_trigger_depend(ctx, o->trigger);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%s/%s", pod_ip(in), o->value));
}

static void test_trigger_reruns_every_input_of_a_derived_collection(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    outside_t o = {.value = "x"};
    o.trigger = krt_trigger_new(env.e, "trigger", true);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out = krt_derive_new(env.e, pods, &test_kv_type, "tagged", KRT_DERIVE_ONE,
                                           trigger_then_ip_fn, &o);
    PUT(pods, pod_new("ns", "a", "1", NULL));
    PUT(pods, pod_new("ns", "b", "2", NULL));
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/a=1/x", "add/ns/b=2/x");
    o.value = "y";
    o.runs = 0;
    assert_int_equal(krt_trigger_fire(o.trigger), KRT_OK);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=1/y", "update/ns/b=2/y");
    assert_int_equal(o.runs, 2);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trigger_dependant_is_unsynced_until_mark_synced),
        cmocka_unit_test(test_trigger_fire_reruns_dependants_once_per_flush),
        cmocka_unit_test(test_trigger_output_key_change_is_delete_plus_add),
        cmocka_unit_test(test_trigger_reruns_every_input_of_a_derived_collection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
