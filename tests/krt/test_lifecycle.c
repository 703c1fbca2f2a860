/*
 * Lifecycle: freeing collections, unsubscribing handlers, freeing the engine with everything alive.
 *
 * Istio learnt these the hard way (PRs #61253 and #61263: subscriptions and debug registrations
 * leaked when collections were stopped, including before they synced). Here a collection cannot be
 * freed while another collection reads it (KRT_EBUSY, nothing freed), and every test runs under
 * LeakSanitizer, so a test that ends without a report proves nothing leaked.
 */
#include "krt_test_util.h"

static void extract_kv_value(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    krt_keys_add(keys, kv_value(o));
}

static void synced_cb(krt_collection_t *c, void *ud)
{
    test_strlist_t *l = ud;
    test_strlist_push(l, "%s", krt_collection_name(c));
}

static int waypoint_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *lookup = ud;
    const krt_obj_t *o = krt_fetch_key(ctx, lookup, kv_value(in));
    return krt_emit(ctx, kv_new(krt_obj_key(in), o ? kv_value(o) : "-"));
}

static void test_lifecycle_free_is_busy_while_a_dependant_exists(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *ips = test_ips_new(pods, "ips");
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);

    assert_int_equal(krt_collection_free(pods), KRT_EBUSY);
    CHECK(env.e);
    /* Nothing was freed: both still work. */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    assert_string_equal(kv_get(ips, "ns/a"), "2.2.2.2");
    assert_ptr_equal(krt_engine_collection(env.e, "pods"), pods);

    assert_int_equal(krt_collection_free(ips), KRT_OK);
    CHECK(env.e);
    assert_null(krt_engine_collection(env.e, "ips"));
    FLUSH(env.e);
    assert_int_equal(krt_collection_free(pods), KRT_OK);
    CHECK(env.e);
    assert_null(krt_engine_collection(env.e, "pods"));
    FLUSH(env.e);
    test_env_dispose(&env);
}

static void test_lifecycle_free_is_busy_while_a_collection_fetches_from_it(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *lookup = test_env_init_static(&env, &test_kv_type, "lookup");
    krt_collection_t *src = krt_static_new(env.e, &test_kv_type, "src", true);
    krt_collection_t *out =
        krt_derive_new(env.e, src, &test_kv_type, "joined-up", KRT_DERIVE_ONE, waypoint_fn, lookup);
    PUT(lookup, kv_new("w", "10.0.0.1"));
    PUT(src, kv_new("p", "w"));
    FLUSH(env.e);
    assert_string_equal(kv_get(out, "p"), "10.0.0.1");
    assert_int_equal(krt_collection_free(lookup), KRT_EBUSY);
    CHECK(env.e);
    assert_int_equal(krt_collection_free(out), KRT_OK);
    CHECK(env.e);
    /* The reader is gone: changes to the source and the lookup go nowhere, harmlessly. */
    PUT(lookup, kv_new("w", "10.0.0.2"));
    PUT(src, kv_new("p", "w2"));
    FLUSH(env.e);
    assert_int_equal(krt_collection_free(lookup), KRT_OK);
    CHECK(env.e);
    assert_int_equal(krt_collection_free(src), KRT_OK);
    CHECK(env.e);
    FLUSH(env.e);
    test_env_dispose(&env);
}

static void test_lifecycle_join_members_and_index_sources_are_busy(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *c1 = test_env_init_static(&env, &test_pod_type, "c1");
    krt_collection_t *c2 = krt_static_new(env.e, &test_pod_type, "c2", true);
    krt_collection_t *members[] = {c1, c2};
    krt_collection_t *j = krt_join_new(env.e, members, 2, "joined");
    krt_index_t *ns = krt_index_namespace(j);
    assert_non_null(ns);
    krt_collection_t *ic = krt_index_collection(ns);
    char ic_name[128];
    snprintf(ic_name, sizeof(ic_name), "%s", krt_collection_name(ic));
    krt_collection_t *counts = krt_derive_new(env.e, ic, &test_kv_type, "counts", KRT_DERIVE_ONE,
                                              test_count_members, NULL);
    PUT(c1, pod_new("ns", "a", NULL, NULL));
    PUT(c2, pod_new("ns", "b", NULL, NULL));
    FLUSH(env.e);
    assert_string_equal(kv_get(counts, "ns"), "2");
    /* A join member, a join whose index collection is read, and that index collection. */
    assert_int_equal(krt_collection_free(c2), KRT_EBUSY);
    assert_int_equal(krt_collection_free(j), KRT_EBUSY);
    assert_int_equal(krt_collection_free(ic), KRT_EBUSY);
    CHECK(env.e);
    assert_int_equal(krt_collection_free(counts), KRT_OK);
    CHECK(env.e);
    /* Nobody reads the index collection now: it goes with the join's indexes. */
    assert_int_equal(krt_collection_free(j), KRT_OK);
    CHECK(env.e);
    assert_null(krt_engine_collection(env.e, ic_name));
    assert_null(krt_engine_collection(env.e, "joined"));
    assert_int_equal(krt_collection_free(c2), KRT_OK);
    assert_int_equal(krt_collection_free(c1), KRT_OK);
    CHECK(env.e);
    FLUSH(env.e);
    test_env_dispose(&env);
}

static void test_lifecycle_unsubscribe_stops_events(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    test_rec_t stays, goes;
    test_rec_subscribe(&stays, kvs, false);
    krt_handler_t *h = test_rec_subscribe(&goes, kvs, false);
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    EXPECT_EVENTS(&stays, "add/a");
    EXPECT_EVENTS(&goes, "add/a");
    krt_handler_unsubscribe(h);
    CHECK(env.e);
    krt_handler_unsubscribe(NULL);
    PUT(kvs, kv_new("a", "2"));
    FLUSH(env.e);
    EXPECT_EVENTS(&stays, "update/a");
    EXPECT_NO_EVENTS(&goes);
    assert_int_equal(goes.batches, 1);
    test_rec_dispose(&stays);
    test_rec_dispose(&goes);
    test_env_dispose(&env);
}

static void test_lifecycle_collection_freed_before_it_synced(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", false);
    krt_collection_t *lookup = krt_static_new(env.e, &test_kv_type, "lookup", false);
    krt_collection_t *src = krt_static_new(env.e, &test_kv_type, "src", true);
    krt_collection_t *ips = test_ips_new(pods, "ips");
    krt_collection_t *fetching =
        krt_derive_new(env.e, src, &test_kv_type, "fetching", KRT_DERIVE_ONE, waypoint_fn, lookup);
    test_rec_t rec;
    test_rec_subscribe(&rec, ips, true);
    assert_non_null(krt_index_new(ips, "by-value", extract_kv_value, NULL));
    test_strlist_t synced = {0};
    assert_int_equal(krt_collection_on_synced(ips, synced_cb, &synced), KRT_OK);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(src, kv_new("p", "w"));
    FLUSH(env.e);
    assert_false(krt_collection_synced(ips));
    assert_false(krt_collection_synced(fetching));

    assert_int_equal(krt_collection_free(ips), KRT_OK);
    CHECK(env.e);
    assert_int_equal(krt_collection_free(fetching), KRT_OK);
    CHECK(env.e);
    /* The sources sync later: nothing is left to notify. */
    krt_static_mark_synced(pods);
    krt_static_mark_synced(lookup);
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    assert_true(krt_collection_synced(pods));
    assert_int_equal(rec.batches, 1);
    EXPECT_STRS(&synced, NULL);
    test_strlist_dispose(&synced);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_lifecycle_on_synced_fires_once_when_the_collection_syncs(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    test_strlist_t log = {0};
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", false);
    krt_collection_t *ips = test_ips_new(pods, "ips");
    assert_int_equal(krt_collection_on_synced(ips, synced_cb, &log), KRT_OK);
    assert_int_equal(krt_collection_on_synced(pods, synced_cb, &log), KRT_OK);
    FLUSH(env.e);
    EXPECT_STRS(&log, NULL);
    krt_static_mark_synced(pods);
    EXPECT_STRS(&log, NULL);
    FLUSH(env.e);
    /* At the end of the flush in which each becomes synced, in creation order. */
    EXPECT_STRS(&log, "pods", "ips");
    FLUSH(env.e);
    EXPECT_STRS(&log, NULL);
    /* Already synced: right away. */
    assert_int_equal(krt_collection_on_synced(ips, synced_cb, &log), KRT_OK);
    EXPECT_STRS(&log, "ips");
    test_strlist_dispose(&log);
    test_env_dispose(&env);
}

static void test_lifecycle_objects_retained_by_the_caller_outlive_their_collection(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *ips = test_ips_new(pods, "ips");
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    const krt_obj_t *kept = krt_obj_retain(krt_collection_get(ips, "ns/a"));
    const krt_obj_t *kept_pod = krt_obj_retain(krt_collection_get(pods, "ns/a"));
    assert_int_equal(krt_collection_free(ips), KRT_OK);
    assert_int_equal(krt_collection_free(pods), KRT_OK);
    CHECK(env.e);
    test_env_dispose(&env);
    /* Still readable after the engine is gone (ASan would catch a use after free). */
    assert_string_equal(kv_value(kept), "1.1.1.1");
    assert_string_equal(pod_ip(kept_pod), "1.1.1.1");
    krt_obj_release(kept);
    krt_obj_release(kept_pod);
}

static void test_lifecycle_derived_with_dirty_inputs_can_be_freed(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *ips = test_ips_new(pods, "ips");
    test_rec_t rec;
    test_rec_subscribe(&rec, ips, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/a");
    /* Pending work for |ips| when it goes. */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    PUT(pods, pod_new("ns", "b", "3.3.3.3", NULL));
    assert_int_equal(krt_collection_free(ips), KRT_OK);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(krt_collection_len(pods), 2);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_lifecycle_static_with_pending_changes_can_be_freed(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *kvs = test_static_recorded(&env, &rec, &test_kv_type, "kvs");
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    PUT(kvs, kv_new("b", "1"));
    DEL(kvs, "a");
    assert_int_equal(krt_collection_free(kvs), KRT_OK);
    CHECK(env.e);
    FLUSH(env.e);
    assert_int_equal(rec.batches, 1);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

typedef struct freeing {
    krt_collection_t *victim;
    int rc;
} freeing_t;

static void freeing_handler(const krt_batch_t *b, void *ud)
{
    (void)b;
    freeing_t *f = ud;
    f->rc = krt_collection_free(f->victim);
}

static void test_lifecycle_free_inside_a_flush_returns_ebusy(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    krt_collection_t *victim = krt_static_new(env.e, &test_kv_type, "victim", true);
    freeing_t f = {.victim = victim, .rc = 1};
    assert_non_null(krt_collection_subscribe(kvs, freeing_handler, &f, false));
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    assert_int_equal(f.rc, KRT_EBUSY);
    assert_ptr_equal(krt_engine_collection(env.e, "victim"), victim);
    test_env_dispose(&env);
}

/* Used by the whole-graph test. */
static void extract_ip(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    if (pod_ip(o)[0])
        krt_keys_add(keys, pod_ip(o));
}

static const krt_obj_t *first_merge(const krt_obj_t *const *objs, size_t n, void *ud)
{
    (void)n;
    (void)ud;
    return krt_obj_retain(objs[0]);
}

static int status_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    krt_ctx_set_status(ctx, kv_new(krt_obj_key(in), "seen"));
    return krt_emit(ctx, kv_new(krt_obj_key(in), pod_ip(in)));
}

static int trig_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)in;
    krt_trigger_depend(ctx, ud);
    return krt_emit(ctx, kv_new("t", "1"));
}

static void test_lifecycle_engine_freed_with_everything_alive(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *more = krt_static_new(env.e, &test_pod_type, "more-pods", false);
    krt_collection_t *lookup = krt_static_new(env.e, &test_kv_type, "lookup", true);
    krt_collection_t *trig = krt_trigger_new(env.e, "trigger", true);
    krt_collection_t *members[] = {pods, more};
    krt_collection_t *all = krt_join_new(env.e, members, 2, "all-pods");
    krt_collection_t *merged =
        krt_merge_join_new(env.e, members, 2, "merged-pods", first_merge, NULL);
    krt_collection_t *ips = test_ips_new(all, "ips");
    krt_collection_t *fetching =
        krt_derive_new(env.e, ips, &test_kv_type, "fetching", KRT_DERIVE_ONE, waypoint_fn, lookup);
    krt_collection_t *statuses = NULL;
    krt_collection_t *st =
        krt_derive_status_new(env.e, merged, &test_kv_type, &test_kv_type, "with-status",
                              KRT_DERIVE_ONE, status_fn, NULL, &statuses);
    krt_collection_t *single =
        krt_many_from_nothing_new(env.e, &test_kv_type, "from-trigger", trig_fn, trig);
    krt_collection_t *mapped =
        krt_map_new(env.e, pods, &test_kv_type, "mapped", test_pod_to_ip_kv, NULL);
    krt_index_t *idx = krt_index_new(all, "ip", extract_ip, NULL);
    krt_collection_t *ic = krt_index_collection(idx);
    assert_non_null(all);
    assert_non_null(merged);
    assert_non_null(fetching);
    assert_non_null(st);
    assert_non_null(statuses);
    assert_non_null(single);
    assert_non_null(mapped);
    assert_non_null(ic);
    test_rec_t r1, r2, r3;
    test_rec_subscribe(&r1, ips, true);
    test_rec_subscribe(&r2, statuses, true);
    test_rec_subscribe(&r3, ic, true);
    test_strlist_t synced = {0};
    assert_int_equal(krt_collection_on_synced(more, synced_cb, &synced), KRT_OK);
    for (int i = 0; i < 20; i++) {
        char name[16], ip[16];
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(ip, sizeof(ip), "10.0.0.%d", i % 5);
        PUT(i % 2 ? pods : more, pod_new("ns", name, ip, "app=x"));
        PUT(lookup, kv_new(ip, name));
    }
    FLUSH(env.e);
    assert_int_equal(krt_collection_len(ic), 5);
    /* Leave changes pending, and a fired trigger, then drop everything at once. */
    PUT(pods, pod_new("ns", "late", "10.0.0.9", NULL));
    assert_int_equal(krt_trigger_fire(trig), KRT_OK);
    test_env_dispose(&env);
    /* |more| never synced, so its callback never ran. */
    EXPECT_STRS(&synced, NULL);
    test_strlist_dispose(&synced);
    test_rec_dispose(&r1);
    test_rec_dispose(&r2);
    test_rec_dispose(&r3);
}

static void test_lifecycle_engine_free_of_null_is_a_no_op(void **state)
{
    (void)state;
    krt_engine_free(NULL);
    krt_obj_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_free_is_busy_while_a_dependant_exists),
        cmocka_unit_test(test_lifecycle_free_is_busy_while_a_collection_fetches_from_it),
        cmocka_unit_test(test_lifecycle_join_members_and_index_sources_are_busy),
        cmocka_unit_test(test_lifecycle_unsubscribe_stops_events),
        cmocka_unit_test(test_lifecycle_collection_freed_before_it_synced),
        cmocka_unit_test(test_lifecycle_on_synced_fires_once_when_the_collection_syncs),
        cmocka_unit_test(test_lifecycle_objects_retained_by_the_caller_outlive_their_collection),
        cmocka_unit_test(test_lifecycle_static_with_pending_changes_can_be_freed),
        cmocka_unit_test(test_lifecycle_derived_with_dirty_inputs_can_be_freed),
        cmocka_unit_test(test_lifecycle_free_inside_a_flush_returns_ebusy),
        cmocka_unit_test(test_lifecycle_engine_freed_with_everything_alive),
        cmocka_unit_test(test_lifecycle_engine_free_of_null_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
