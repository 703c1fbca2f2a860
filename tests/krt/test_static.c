/*
 * Static collections: the engine's sources. These tests pin the update rules Istio's static
 * collection has (identical put → update, conditional put → nothing, reset as a diff, delete by
 * predicate, late handlers replaying both objects) and the coalescing our flush model adds: any
 * number of mutations to one key between two flushes is announced as one event against the state of
 * the last flush.
 */
#include "krt_test_util.h"

static void test_static_put_is_visible_at_once_and_announced_at_flush(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    assert_non_null(pods);
    test_rec_t rec;
    test_rec_subscribe(&rec, pods, false);

    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    /* get/list see the object before any flush; nobody has been told yet. */
    assert_non_null(krt_collection_get(pods, "ns/a"));
    assert_int_equal(krt_collection_len(pods), 1);
    assert_true(krt_engine_pending(env.e));
    EXPECT_NO_EVENTS(&rec);

    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/a");
    assert_false(krt_engine_pending(env.e));
    assert_int_equal(krt_engine_flushes(env.e), 1);

    /* A flush with nothing pending delivers nothing. */
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(rec.batches, 1);
    assert_int_equal(krt_engine_flushes(env.e), 2);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_identical_put_is_announced_as_update(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *pods = test_static_recorded(&env, &rec, &test_pod_type, "pods");

    PUT(pods, pod_new("ns", "b", "1.1.1.1", "app=x"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/b");

    PUT(pods, pod_new("ns", "b", "1.1.1.1", "app=x"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "update/ns/b");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_put_if_changed_of_equal_object_announces_nothing(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *pods = test_static_recorded(&env, &rec, &test_pod_type, "pods");

    assert_int_equal(krt_static_put_if_changed(pods, pod_new("ns", "b", "1.1.1.1", NULL)), 1);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/b");
    const krt_obj_t *before = krt_collection_get(pods, "ns/b");

    assert_int_equal(krt_static_put_if_changed(pods, pod_new("ns", "b", "1.1.1.1", NULL)), 0);
    CHECK(env.e);
    /* The equal object was dropped; the stored one is the same pointer. */
    assert_ptr_equal(krt_collection_get(pods, "ns/b"), before);
    assert_false(krt_engine_pending(env.e));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);

    assert_int_equal(krt_static_put_if_changed(pods, pod_new("ns", "b", "2.2.2.2", NULL)), 1);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "update/ns/b");
    assert_string_equal(pod_ip(krt_collection_get(pods, "ns/b")), "2.2.2.2");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_puts_between_flushes_coalesce_into_one_event(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *pods = test_static_recorded(&env, &rec, &test_pod_type, "pods");

    /* Absent at the last flush: an add carrying the latest object. */
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    PUT(pods, pod_new("ns", "a", "3.3.3.3", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/a");
    assert_int_equal(rec.batches, 1);

    /* Present at the last flush: one update from the flushed object to the latest. */
    test_rec_t rec2;
    test_rec_init(&rec2);
    krt_handler_t *h2 = krt_collection_subscribe(pods, test_rec_cb, &rec2, false);
    assert_non_null(h2);
    PUT(pods, pod_new("ns", "a", "4.4.4.4", NULL));
    PUT(pods, pod_new("ns", "a", "5.5.5.5", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "update/ns/a");
    EXPECT_EVENTS(&rec2, "update/ns/a");
    assert_string_equal(pod_ip(krt_collection_get(pods, "ns/a")), "5.5.5.5");

    test_rec_dispose(&rec);
    test_rec_dispose(&rec2);
    test_env_dispose(&env);
}

/* Checks the old/cur objects of a coalesced update against what was flushed and what is current. */
typedef struct update_probe {
    const char *old_ip;
    const char *cur_ip;
    size_t calls;
} update_probe_t;

static void probe_cb(const krt_batch_t *b, void *ud)
{
    update_probe_t *p = ud;
    assert_int_equal(b->len, 1);
    assert_int_equal(b->events[0].op, KRT_UPDATE);
    assert_string_equal(pod_ip(b->events[0].old), p->old_ip);
    assert_string_equal(pod_ip(b->events[0].cur), p->cur_ip);
    p->calls++;
}

static void test_static_coalesced_update_carries_last_flushed_and_latest_object(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);

    update_probe_t p = {.old_ip = "1.1.1.1", .cur_ip = "3.3.3.3"};
    assert_non_null(krt_collection_subscribe(pods, probe_cb, &p, false));
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    PUT(pods, pod_new("ns", "a", "3.3.3.3", NULL));
    FLUSH(env.e);
    assert_int_equal(p.calls, 1);

    test_env_dispose(&env);
}

static void test_static_put_then_delete_of_new_key_announces_nothing(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *pods = test_static_recorded(&env, &rec, &test_pod_type, "pods");

    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    DEL(pods, "ns/a");
    assert_null(krt_collection_get(pods, "ns/a"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(rec.batches, 0);

    /* Deleting an absent key reports 0 and announces nothing. */
    assert_int_equal(krt_static_delete(pods, "ns/a"), 0);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_delete_then_put_of_flushed_key_is_one_update(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *pods = test_static_recorded(&env, &rec, &test_pod_type, "pods");
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/a");

    DEL(pods, "ns/a");
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "update/ns/a");

    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/a");
    assert_int_equal(krt_collection_len(pods), 0);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_batch_is_sorted_by_key(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *kvs = test_static_recorded(&env, &rec, &test_kv_type, "kvs");

    PUT(kvs, kv_new("c", "3"));
    PUT(kvs, kv_new("a", "1"));
    PUT(kvs, kv_new("b/x", "2"));
    PUT(kvs, kv_new("B", "0"));
    FLUSH(env.e);
    /* Bytewise order: uppercase sorts before lowercase. */
    EXPECT_EVENTS(&rec, "add/B", "add/a", "add/b/x", "add/c");
    assert_int_equal(rec.batches, 1);
    EXPECT_KEYS(kvs, "B a b/x c");

    /* Mixed ops in one batch, still in key order. */
    DEL(kvs, "a");
    PUT(kvs, kv_new("c", "33"));
    PUT(kvs, kv_new("aa", "new"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/a", "add/aa", "update/c");
    assert_int_equal(rec.batches, 2);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_reset_announces_only_the_difference(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *kvs = test_static_recorded(&env, &rec, &test_kv_type, "kvs");

    PUT(kvs, kv_new("keep", "1"));
    PUT(kvs, kv_new("change", "1"));
    PUT(kvs, kv_new("drop", "1"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/change", "add/drop", "add/keep");

    const krt_obj_t *next[] = {kv_new("keep", "1"), kv_new("change", "2"), kv_new("new", "1")};
    assert_int_equal(krt_static_reset(kvs, next, 3), KRT_OK);
    CHECK(env.e);
    EXPECT_KEYS(kvs, "change keep new");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "update/change", "delete/drop", "add/new");
    assert_string_equal(kv_get(kvs, "change"), "2");

    /* Resetting to the same content announces nothing. */
    const krt_obj_t *same[] = {kv_new("keep", "1"), kv_new("change", "2"), kv_new("new", "1")};
    assert_int_equal(krt_static_reset(kvs, same, 3), KRT_OK);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);

    /* Resetting to nothing deletes everything. */
    assert_int_equal(krt_static_reset(kvs, NULL, 0), KRT_OK);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/change", "delete/keep", "delete/new");
    assert_int_equal(krt_collection_len(kvs), 0);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_reset_with_duplicate_keys_changes_nothing(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *kvs = test_static_recorded(&env, &rec, &test_kv_type, "kvs");
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/a");

    const krt_obj_t *dup[] = {kv_new("b", "1"), kv_new("b", "2")};
    assert_int_equal(krt_static_reset(kvs, dup, 2), KRT_EDUPKEY);
    CHECK(env.e);
    EXPECT_KEYS(kvs, "a");
    assert_false(krt_engine_pending(env.e));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static bool value_is(const krt_obj_t *o, void *ud)
{
    return !strcmp(kv_value(o), (const char *)ud);
}

static void test_static_delete_matching_removes_every_match_in_one_batch(void **state)
{
    (void)state;
    test_env_t env;
    test_rec_t rec;
    krt_collection_t *kvs = test_static_recorded(&env, &rec, &test_kv_type, "kvs");
    PUT(kvs, kv_new("a", "x"));
    PUT(kvs, kv_new("b", "y"));
    PUT(kvs, kv_new("c", "x"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/a", "add/b", "add/c");

    assert_int_equal(krt_static_delete_matching(kvs, value_is, "x"), 2);
    CHECK(env.e);
    EXPECT_KEYS(kvs, "b");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/a", "delete/c");
    assert_int_equal(rec.batches, 2);

    assert_int_equal(krt_static_delete_matching(kvs, value_is, "nothing"), 0);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_second_handler_receives_both_objects(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    test_rec_t first;
    test_rec_subscribe(&first, pods, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "b", "1.1.1.2", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&first, "add/ns/a", "add/ns/b");

    /* Replay happens inside the subscribe call, as one batch of adds. */
    test_rec_t second;
    krt_handler_t *h = test_rec_subscribe(&second, pods, true);
    EXPECT_EVENTS(&second, "add/ns/a", "add/ns/b");
    assert_int_equal(second.batches, 1);
    assert_true(krt_handler_synced(h));

    /* Without replay: nothing until something changes. */
    test_rec_t third;
    test_rec_subscribe(&third, pods, false);
    EXPECT_NO_EVENTS(&third);

    PUT(pods, pod_new("ns", "b", "9.9.9.9", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&first, "update/ns/b");
    EXPECT_EVENTS(&second, "update/ns/b");
    EXPECT_EVENTS(&third, "update/ns/b");

    test_rec_dispose(&first);
    test_rec_dispose(&second);
    test_rec_dispose(&third);
    test_env_dispose(&env);
}

static void test_static_replay_sees_last_flushed_state_not_pending_changes(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    PUT(kvs, kv_new("a", "1"));
    FLUSH(env.e);
    PUT(kvs, kv_new("b", "1"));
    PUT(kvs, kv_new("a", "2"));

    test_rec_t rec;
    test_rec_subscribe(&rec, kvs, true);
    /* As of the last flush: only a, with its flushed value. */
    EXPECT_VALUES(&rec, "add/a=1");
    FLUSH(env.e);
    /* Each object seen exactly once: the rest arrives as events. */
    EXPECT_VALUES(&rec, "update/a=2", "add/b=1");

    /* Replay of an empty collection makes no call. */
    krt_collection_t *empty = krt_static_new(env.e, &test_kv_type, "empty", true);
    test_rec_t rec2;
    test_rec_subscribe(&rec2, empty, true);
    assert_int_equal(rec2.batches, 0);

    test_rec_dispose(&rec);
    test_rec_dispose(&rec2);
    test_env_dispose(&env);
}

static void test_static_replay_includes_objects_deleted_since_the_last_flush(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    PUT(kvs, kv_new("a", "1"));
    PUT(kvs, kv_new("b", "1"));
    FLUSH(env.e);
    DEL(kvs, "a");
    test_rec_t rec;
    test_rec_subscribe(&rec, kvs, true);
    /* a was there at the last flush, so the replay has it; its deletion comes as an event. */
    EXPECT_VALUES(&rec, "add/a=1", "add/b=1");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/a");
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_unsynced_until_mark_synced_and_next_flush(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", false);
    krt_collection_t *ready = krt_static_new(env.e, &test_pod_type, "ready", true);
    assert_true(krt_collection_synced(ready));
    assert_false(krt_collection_synced(pods));
    test_rec_t rec;
    krt_handler_t *h = test_rec_subscribe(&rec, pods, true);
    assert_false(krt_handler_synced(h));

    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    /* Objects flow while unsynced. */
    EXPECT_EVENTS(&rec, "add/ns/a");
    assert_false(krt_collection_synced(pods));
    assert_false(krt_handler_synced(h));

    krt_static_mark_synced(pods);
    CHECK(env.e);
    FLUSH(env.e);
    assert_true(krt_collection_synced(pods));
    assert_true(krt_handler_synced(h));
    EXPECT_NO_EVENTS(&rec);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_static_put_of_wrong_type_is_rejected(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    /* put takes the object even on error: LeakSanitizer proves it was released. */
    assert_int_equal(krt_static_put(pods, kv_new("ns/a", "x")), KRT_ETYPE);
    CHECK(env.e);
    assert_int_equal(krt_static_put_if_changed(pods, kv_new("ns/a", "x")), KRT_ETYPE);
    CHECK(env.e);
    const krt_obj_t *bad[] = {kv_new("ns/a", "x")};
    assert_int_equal(krt_static_reset(pods, bad, 1), KRT_ETYPE);
    CHECK(env.e);
    assert_int_equal(krt_collection_len(pods), 0);
    assert_false(krt_engine_pending(env.e));
    test_env_dispose(&env);
}

static void test_static_new_rejects_an_incomplete_type(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);

    krt_type_t no_key = test_kv_type;
    no_key.key = NULL;
    assert_int_equal(krt_type_check(&no_key), KRT_ETYPE);
    assert_null(krt_static_new(env.e, &no_key, "bad", true));
    CHECK(env.e);
    assert_null(krt_engine_collection(env.e, "bad"));

    krt_type_t no_equals = test_kv_type;
    no_equals.equals = NULL;
    assert_int_equal(krt_type_check(&no_equals), KRT_ETYPE);
    assert_null(krt_static_new(env.e, &no_equals, "bad2", true));

    /* Equality by hash needs no equals. */
    krt_type_t by_hash = test_kv_type;
    by_hash.equals = NULL;
    by_hash.flags = KRT_TYPE_HASH_IS_EQUALITY;
    assert_int_equal(krt_type_check(&by_hash), KRT_OK);

    krt_type_t no_free = test_kv_type;
    no_free.free = NULL;
    assert_int_equal(krt_type_check(&no_free), KRT_ETYPE);
    krt_type_t no_hash = test_kv_type;
    no_hash.hash = NULL;
    assert_int_equal(krt_type_check(&no_hash), KRT_ETYPE);
    krt_type_t no_dump = test_kv_type;
    no_dump.dump = NULL;
    assert_int_equal(krt_type_check(&no_dump), KRT_ETYPE);

    assert_int_equal(krt_type_check(&test_kv_type), KRT_OK);
    assert_int_equal(krt_type_check(&test_pod_type), KRT_OK);
    assert_int_equal(krt_type_check(&test_svc_type), KRT_OK);

    test_env_dispose(&env);
}

static void test_static_list_is_in_key_order_and_reports_total(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    PUT(kvs, kv_new("m", "1"));
    PUT(kvs, kv_new("z", "1"));
    PUT(kvs, kv_new("a", "1"));
    const krt_obj_t *out[2];
    assert_int_equal(krt_collection_list(kvs, out, 2), 3);
    assert_string_equal(krt_obj_key(out[0]), "a");
    assert_string_equal(krt_obj_key(out[1]), "m");
    assert_ptr_equal(krt_engine_collection(env.e, "kvs"), kvs);
    assert_string_equal(krt_collection_name(kvs), "kvs");
    assert_ptr_equal(krt_collection_type(kvs), &test_kv_type);
    assert_ptr_equal(krt_collection_engine(kvs), env.e);
    FLUSH(env.e);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_put_is_visible_at_once_and_announced_at_flush),
        cmocka_unit_test(test_static_identical_put_is_announced_as_update),
        cmocka_unit_test(test_static_put_if_changed_of_equal_object_announces_nothing),
        cmocka_unit_test(test_static_puts_between_flushes_coalesce_into_one_event),
        cmocka_unit_test(test_static_coalesced_update_carries_last_flushed_and_latest_object),
        cmocka_unit_test(test_static_put_then_delete_of_new_key_announces_nothing),
        cmocka_unit_test(test_static_delete_then_put_of_flushed_key_is_one_update),
        cmocka_unit_test(test_static_batch_is_sorted_by_key),
        cmocka_unit_test(test_static_reset_announces_only_the_difference),
        cmocka_unit_test(test_static_reset_with_duplicate_keys_changes_nothing),
        cmocka_unit_test(test_static_delete_matching_removes_every_match_in_one_batch),
        cmocka_unit_test(test_static_second_handler_receives_both_objects),
        cmocka_unit_test(test_static_replay_sees_last_flushed_state_not_pending_changes),
        cmocka_unit_test(test_static_replay_includes_objects_deleted_since_the_last_flush),
        cmocka_unit_test(test_static_unsynced_until_mark_synced_and_next_flush),
        cmocka_unit_test(test_static_put_of_wrong_type_is_rejected),
        cmocka_unit_test(test_static_new_rejects_an_incomplete_type),
        cmocka_unit_test(test_static_list_is_in_key_order_and_reports_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
