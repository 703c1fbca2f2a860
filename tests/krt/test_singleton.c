/*
 * Singletons (at most one object, computed from nothing) and many-from-nothing collections.
 *
 * Ported in behaviour from Istio's singleton_test.go: when the singleton's object changes key the
 * change is announced as a delete of the old key plus an add of the new one, never as an update
 * across keys.
 */
#include "krt_test_util.h"

/* Emits kv(value of config "cfg", "on") when the config exists. */
static int keyed_by_config_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *cfg = ud;
    assert_null(in);
    const krt_obj_t *c = krt_fetch_key(ctx, cfg, "cfg");
    if (!c)
        return KRT_OK;
    return krt_emit(ctx, kv_new(kv_value(c), "on"));
}

static void test_singleton_key_change_is_delete_plus_add(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *cfg = test_env_init_static(&env, &test_kv_type, "config");
    krt_collection_t *s =
        krt_singleton_new(env.e, &test_kv_type, "current", keyed_by_config_fn, cfg);
    assert_non_null(s);
    CHECK(env.e);
    test_rec_t rec;
    test_rec_subscribe(&rec, s, false);
    FLUSH(env.e);
    assert_null(krt_singleton_get(s));
    EXPECT_NO_EVENTS(&rec);

    PUT(cfg, kv_new("cfg", "a"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/a");
    assert_string_equal(krt_obj_key(krt_singleton_get(s)), "a");

    PUT(cfg, kv_new("cfg", "b"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/a", "add/b");
    assert_int_equal(rec.batches, 2);
    assert_string_equal(krt_obj_key(krt_singleton_get(s)), "b");
    assert_int_equal(krt_collection_len(s), 1);

    /* The same key again: equal output, nothing. */
    PUT(cfg, kv_new("cfg", "b"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);

    DEL(cfg, "cfg");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/b");
    assert_null(krt_singleton_get(s));

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_singleton_is_synced_once_what_it_fetched_is(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    krt_collection_t *cfg = krt_static_new(env.e, &test_kv_type, "config", false);
    PUT(cfg, kv_new("cfg", "a"));
    krt_collection_t *s =
        krt_singleton_new(env.e, &test_kv_type, "current", keyed_by_config_fn, cfg);
    FLUSH(env.e);
    /* Computed, but not synced. */
    assert_non_null(krt_singleton_get(s));
    assert_false(krt_collection_synced(s));
    krt_static_mark_synced(cfg);
    FLUSH(env.e);
    assert_true(krt_collection_synced(s));
    test_env_dispose(&env);
}

typedef struct const_probe {
    int runs;
    int second_rc;
} const_probe_t;

static int constant_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    const_probe_t *p = ud;
    assert_null(in);
    p->runs++;
    assert_int_equal(krt_emit(ctx, kv_new("only", "1")), KRT_OK);
    p->second_rc = krt_emit(ctx, kv_new("another", "2"));
    return KRT_OK;
}

static void test_singleton_without_dependencies_runs_once_and_holds_one_object(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    const_probe_t p = {0};
    krt_collection_t *s = krt_singleton_new(env.e, &test_kv_type, "constant", constant_fn, &p);
    assert_false(krt_collection_synced(s));
    test_rec_t rec;
    test_rec_subscribe(&rec, s, true);
    FLUSH(env.e);
    assert_true(krt_collection_synced(s));
    EXPECT_EVENTS(&rec, "add/only");
    assert_int_equal(p.runs, 1);
    assert_int_equal(p.second_rc, KRT_EINVAL);
    EXPECT_KEYS(s, "only");
    FLUSH(env.e);
    FLUSH(env.e);
    assert_int_equal(p.runs, 1);
    assert_int_equal(test_recomputes(s), 1);
    EXPECT_NO_EVENTS(&rec);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* Emits kv("out-" + key, value) for every object of the source. */
static int fan_out_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *src = ud;
    assert_null(in);
    const krt_obj_t *const *all = NULL;
    size_t n = krt_fetch(ctx, src, NULL, &all);
    for (size_t i = 0; i < n; i++) {
        char key[128];
        snprintf(key, sizeof(key), "out-%s", krt_obj_key(all[i]));
        int rc = krt_emit(ctx, kv_new(key, kv_value(all[i])));
        if (rc != KRT_OK)
            return rc;
    }
    return KRT_OK;
}

static void test_many_from_nothing_diffs_its_whole_output(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *m =
        krt_many_from_nothing_new(env.e, &test_kv_type, "fan-out", fan_out_fn, src);
    assert_non_null(m);
    test_rec_t rec;
    test_rec_subscribe(&rec, m, false);
    PUT(src, kv_new("a", "1"));
    PUT(src, kv_new("b", "1"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/out-a", "add/out-b");
    uint64_t runs = test_recomputes(m);
    PUT(src, kv_new("b", "2"));
    DEL(src, "a");
    PUT(src, kv_new("c", "1"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/out-a", "update/out-b", "add/out-c");
    assert_int_equal(test_recomputes(m), runs + 1);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_singleton_key_change_is_delete_plus_add),
        cmocka_unit_test(test_singleton_is_synced_once_what_it_fetched_is),
        cmocka_unit_test(test_singleton_without_dependencies_runs_once_and_holds_one_object),
        cmocka_unit_test(test_many_from_nothing_diffs_its_whole_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
