/*
 * Joins: the priority join (the earliest member wins a key) and the merge join (a user function
 * combines every member's object for a key).
 *
 * Ported in behaviour from Istio's join_test.go (TestJoinCollection, TestCollectionJoin,
 * TestCollectionJoinSync and the eight steps of TestJoinCollectionConflictResolution) and
 * nestedjoinmerge_test.go / mergejoin_test.go (removing one of two contributors is an update, the
 * last one a delete). A local handler records "op/key:old>cur" so the tests can say which member's
 * object an event carries.
 */
#include "krt_test_util.h"

/* Records "op/KEY:OLD>CUR" for kv events ("-" for a missing side). */
static void transition_cb(const krt_batch_t *b, void *ud)
{
    test_strlist_t *l = ud;
    for (size_t i = 0; i < b->len; i++) {
        const krt_event_t *ev = &b->events[i];
        test_strlist_push(l, "%s/%s:%s>%s", test_op_name(ev->op), krt_obj_key(krt_event_latest(ev)),
                          ev->old ? kv_value(ev->old) : "-", ev->cur ? kv_value(ev->cur) : "-");
    }
}

static void test_join_conflict_resolution_follows_member_priority(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *c1 = test_env_init_static(&env, &test_kv_type, "c1");
    krt_collection_t *c2 = krt_static_new(env.e, &test_kv_type, "c2", true);
    krt_collection_t *c3 = krt_static_new(env.e, &test_kv_type, "c3", true);
    krt_collection_t *members[] = {c1, c2, c3};
    krt_collection_t *j = krt_join_new(env.e, members, 3, "joined");
    assert_non_null(j);
    CHECK(env.e);
    test_strlist_t tr = {0};
    test_rec_t rec;
    test_rec_subscribe(&rec, j, false);
    assert_non_null(krt_collection_subscribe(j, transition_cb, &tr, false));
    FLUSH(env.e);

    /* 1. c2 adds: an add. */
    PUT(c2, kv_new("k", "c2"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "add/k:->c2");
    /* 2. c1 adds the same key: an update from c2's object. */
    PUT(c1, kv_new("k", "c1"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "update/k:c2>c1");
    /* 3. c3 adds it too: hidden, no event. */
    PUT(c3, kv_new("k", "c3"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, NULL);
    /* 4. c2 updates while c1 owns the key: no event. */
    PUT(c2, kv_new("k", "c2b"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, NULL);
    assert_string_equal(kv_get(j, "k"), "c1");
    /* 5. c1 deletes: an update to c2's object. */
    DEL(c1, "k");
    FLUSH(env.e);
    EXPECT_STRS(&tr, "update/k:c1>c2b");
    /* 6. c2 deletes: an update to c3's object. */
    DEL(c2, "k");
    FLUSH(env.e);
    EXPECT_STRS(&tr, "update/k:c2b>c3");
    /* 7. c3 deletes: a delete. */
    DEL(c3, "k");
    FLUSH(env.e);
    EXPECT_STRS(&tr, "delete/k:c3>-");
    assert_int_equal(krt_collection_len(j), 0);
    /* 8. Lower-priority adds and deletes while c1 owns the key: no event. */
    PUT(c1, kv_new("k", "c1"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "add/k:->c1");
    PUT(c3, kv_new("k", "c3"));
    FLUSH(env.e);
    PUT(c2, kv_new("k", "c2"));
    FLUSH(env.e);
    DEL(c3, "k");
    FLUSH(env.e);
    DEL(c2, "k");
    FLUSH(env.e);
    EXPECT_STRS(&tr, NULL);
    assert_string_equal(kv_get(j, "k"), "c1");

    /* The recorder saw the same sequence as keys only, one batch per step that had an event. */
    EXPECT_EVENTS(&rec, "add/k", "update/k", "update/k", "update/k", "delete/k", "add/k");
    assert_int_equal(rec.batches, 6);

    test_strlist_dispose(&tr);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_join_changes_within_one_flush_are_reported_against_the_last_flush(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *c1 = test_env_init_static(&env, &test_kv_type, "c1");
    krt_collection_t *c2 = krt_static_new(env.e, &test_kv_type, "c2", true);
    krt_collection_t *members[] = {c1, c2};
    krt_collection_t *j = krt_join_new(env.e, members, 2, "joined");
    test_strlist_t tr = {0};
    assert_non_null(krt_collection_subscribe(j, transition_cb, &tr, false));
    PUT(c2, kv_new("k", "c2"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "add/k:->c2");
    /* c1 adds and deletes within one flush: the join's object is unchanged. */
    PUT(c1, kv_new("k", "c1"));
    DEL(c1, "k");
    FLUSH(env.e);
    EXPECT_STRS(&tr, NULL);
    /* c2 deletes while c1 adds in the same flush: one update, c2's object to c1's. */
    DEL(c2, "k");
    PUT(c1, kv_new("k", "c1"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "update/k:c2>c1");
    test_strlist_dispose(&tr);
    test_env_dispose(&env);
}

static void test_join_replays_its_state_whether_members_were_filled_before_or_after(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    /* Filled before the join exists. */
    krt_collection_t *a1 = krt_static_new(env.e, &test_kv_type, "a1", true);
    krt_collection_t *a2 = krt_static_new(env.e, &test_kv_type, "a2", true);
    PUT(a1, kv_new("x", "1"));
    PUT(a2, kv_new("y", "2"));
    FLUSH(env.e);
    krt_collection_t *am[] = {a1, a2};
    krt_collection_t *ja = krt_join_new(env.e, am, 2, "join-before");
    /* Filled after. */
    krt_collection_t *b1 = krt_static_new(env.e, &test_kv_type, "b1", true);
    krt_collection_t *b2 = krt_static_new(env.e, &test_kv_type, "b2", true);
    krt_collection_t *bm[] = {b1, b2};
    krt_collection_t *jb = krt_join_new(env.e, bm, 2, "join-after");
    PUT(b1, kv_new("x", "1"));
    PUT(b2, kv_new("y", "2"));
    FLUSH(env.e);

    test_rec_t ra, rb, rn;
    test_rec_subscribe(&ra, ja, true);
    test_rec_subscribe(&rb, jb, true);
    EXPECT_VALUES(&ra, "add/x=1", "add/y=2");
    EXPECT_VALUES(&rb, "add/x=1", "add/y=2");
    assert_int_equal(ra.batches, 1);
    assert_int_equal(rb.batches, 1);
    /* Without replay: nothing, consistently. */
    test_rec_subscribe(&rn, ja, false);
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rn);
    assert_true(krt_collection_synced(ja));
    assert_true(krt_collection_synced(jb));

    test_rec_dispose(&ra);
    test_rec_dispose(&rb);
    test_rec_dispose(&rn);
    test_env_dispose(&env);
}

/* Service → kv(service key, IPs of the pods it selects) fetched by labels from a (joined) pod
 * collection. */
static int endpoints_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    krt_labels_t sel;
    svc_selector(in, &sel);
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch_labels(ctx, pods, &sel, &found);
    char buf[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (buf[0])
            strcat(buf, ",");
        strcat(buf, pod_ip(found[i]));
    }
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

static void test_join_as_primary_and_as_fetched_input(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *svcs = test_env_init_static(&env, &test_svc_type, "services");
    krt_collection_t *entries = krt_static_new(env.e, &test_svc_type, "service-entries", true);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *extra = krt_static_new(env.e, &test_pod_type, "static-pod", true);
    krt_collection_t *sm[] = {svcs, entries};
    krt_collection_t *all_svcs = krt_join_new(env.e, sm, 2, "all-services");
    krt_collection_t *pm[] = {pods, extra};
    krt_collection_t *all_pods = krt_join_new(env.e, pm, 2, "all-pods");
    krt_collection_t *eps = krt_derive_new(env.e, all_svcs, &test_kv_type, "endpoints",
                                           KRT_DERIVE_ONE, endpoints_fn, all_pods);
    test_rec_t rec;
    test_rec_subscribe(&rec, eps, false);

    PUT(pods, pod_new("ns", "p1", "10.0.0.1", "app=a"));
    PUT(svcs, svc_new("ns", "svc", "app=a", 80));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/svc=10.0.0.1");

    PUT(extra, pod_new("ns", "p2", "10.0.0.2", "app=a"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/svc=10.0.0.1,10.0.0.2");

    PUT(entries, svc_new("ns", "entry", "app=a", 443));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/entry=10.0.0.1,10.0.0.2");

    /* The static pod goes: the endpoints that depended on it follow. */
    DEL(extra, "ns/p2");
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/entry=10.0.0.1", "update/ns/svc=10.0.0.1");

    DEL(svcs, "ns/svc");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/svc");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_join_is_complete_when_it_reports_synced(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    krt_collection_t *c1 = krt_static_new(env.e, &test_kv_type, "c1", false);
    krt_collection_t *c2 = krt_static_new(env.e, &test_kv_type, "c2", false);
    krt_collection_t *members[] = {c1, c2};
    krt_collection_t *j = krt_join_new(env.e, members, 2, "joined");
    PUT(c1, kv_new("a", "1"));
    PUT(c2, kv_new("b", "2"));
    FLUSH(env.e);
    assert_false(krt_collection_synced(j));
    krt_static_mark_synced(c1);
    FLUSH(env.e);
    assert_false(krt_collection_synced(j));
    krt_static_mark_synced(c2);
    FLUSH(env.e);
    assert_true(krt_collection_synced(j));
    EXPECT_KEYS(j, "a b");
    test_env_dispose(&env);
}

static void test_join_rejects_members_of_different_types(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *kvs = test_env_init_static(&env, &test_kv_type, "kvs");
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *members[] = {kvs, pods};
    assert_null(krt_join_new(env.e, members, 2, "mixed"));
    CHECK(env.e);
    assert_null(krt_engine_collection(env.e, "mixed"));
    test_env_dispose(&env);
}

/* ---------------------------------------------------------------------------------------------
 * Merge join.
 * ------------------------------------------------------------------------------------------- */

/* Concatenates the values with "+", in member order; any value "drop" makes the key absent. */
static const krt_obj_t *concat_merge(const krt_obj_t *const *objs, size_t n, void *ud)
{
    size_t *calls = ud;
    if (calls)
        (*calls)++;
    assert_true(n >= 1);
    char buf[256] = "";
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(krt_obj_key(objs[i]), krt_obj_key(objs[0]));
        if (!strcmp(kv_value(objs[i]), "drop"))
            return NULL;
        if (i)
            strcat(buf, "+");
        strcat(buf, kv_value(objs[i]));
    }
    return kv_new(krt_obj_key(objs[0]), buf);
}

static void test_merge_join_combines_member_objects_in_member_order(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *c1 = test_env_init_static(&env, &test_kv_type, "cluster-1");
    krt_collection_t *c2 = krt_static_new(env.e, &test_kv_type, "cluster-2", true);
    krt_collection_t *members[] = {c1, c2};
    krt_collection_t *m = krt_merge_join_new(env.e, members, 2, "merged", concat_merge, NULL);
    assert_non_null(m);
    test_rec_t rec;
    test_rec_subscribe(&rec, m, false);
    /* Filled in reverse order: the merge still sees member order. */
    PUT(c2, kv_new("svc", "y"));
    PUT(c1, kv_new("svc", "x"));
    PUT(c2, kv_new("only2", "z"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/only2=z", "add/svc=x+y");
    PUT(c2, kv_new("svc", "y2"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/svc=x+y2");
    /* An unchanged merge result emits nothing. */
    PUT(c2, kv_new("svc", "y2"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_merge_join_removing_a_contributor_is_update_and_the_last_is_delete(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *c1 = test_env_init_static(&env, &test_kv_type, "cluster-1");
    krt_collection_t *c2 = krt_static_new(env.e, &test_kv_type, "cluster-2", true);
    krt_collection_t *members[] = {c1, c2};
    krt_collection_t *m = krt_merge_join_new(env.e, members, 2, "merged", concat_merge, NULL);
    test_strlist_t tr = {0};
    assert_non_null(krt_collection_subscribe(m, transition_cb, &tr, false));
    PUT(c1, kv_new("svc", "x"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "add/svc:->x");
    PUT(c2, kv_new("svc", "y"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "update/svc:x>x+y");
    DEL(c1, "svc");
    FLUSH(env.e);
    EXPECT_STRS(&tr, "update/svc:x+y>y");
    DEL(c2, "svc");
    FLUSH(env.e);
    EXPECT_STRS(&tr, "delete/svc:y>-");
    /* Re-adding both, one flush apart: an add, then an update. */
    PUT(c2, kv_new("svc", "y"));
    FLUSH(env.e);
    PUT(c1, kv_new("svc", "x"));
    FLUSH(env.e);
    EXPECT_STRS(&tr, "add/svc:->y", "update/svc:y>x+y");
    test_strlist_dispose(&tr);
    test_env_dispose(&env);
}

static void test_merge_join_null_result_means_the_key_is_absent(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *c1 = test_env_init_static(&env, &test_kv_type, "cluster-1");
    krt_collection_t *c2 = krt_static_new(env.e, &test_kv_type, "cluster-2", true);
    krt_collection_t *members[] = {c1, c2};
    size_t calls = 0;
    krt_collection_t *m = krt_merge_join_new(env.e, members, 2, "merged", concat_merge, &calls);
    test_rec_t rec;
    test_rec_subscribe(&rec, m, false);
    PUT(c1, kv_new("svc", "drop"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_null(krt_collection_get(m, "svc"));
    PUT(c2, kv_new("svc", "y"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    PUT(c1, kv_new("svc", "x"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/svc=x+y");
    PUT(c2, kv_new("svc", "drop"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/svc");
    assert_int_equal(krt_collection_len(m), 0);
    /* One merge per key per flush that touched it. */
    assert_int_equal(calls, 4);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_conflict_resolution_follows_member_priority),
        cmocka_unit_test(test_join_changes_within_one_flush_are_reported_against_the_last_flush),
        cmocka_unit_test(test_join_replays_its_state_whether_members_were_filled_before_or_after),
        cmocka_unit_test(test_join_as_primary_and_as_fetched_input),
        cmocka_unit_test(test_join_is_complete_when_it_reports_synced),
        cmocka_unit_test(test_join_rejects_members_of_different_types),
        cmocka_unit_test(test_merge_join_combines_member_objects_in_member_order),
        cmocka_unit_test(test_merge_join_removing_a_contributor_is_update_and_the_last_is_delete),
        cmocka_unit_test(test_merge_join_null_result_means_the_key_is_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
