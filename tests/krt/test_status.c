/*
 * Status collections: a derived collection whose transformation also reports a status per input,
 * published as a second collection keyed by the input key.
 *
 * Ported in behaviour from Istio's status_test.go: add then update; no status event when the status
 * is unchanged even though the primary output changed; no status → delete; status back → add; the
 * input deleted → the status deleted.
 */
#include "krt_test_util.h"

/* Pod → output kv(key, ip + "@" + value of config "suffix" when |ud| names a config collection);
 * status kv(key, value of label "phase") when the label is present. */
static int status_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *config = ud;
    const krt_obj_t *suffix = config ? krt_fetch_key(ctx, config, "suffix") : NULL;
    int rc = krt_emit(ctx, kv_newf(krt_obj_key(in), "%s%s%s", pod_ip(in), suffix ? "@" : "",
                                   suffix ? kv_value(suffix) : ""));
    if (rc != KRT_OK)
        return rc;
    const char *phase = pod_label(in, "phase");
    if (phase)
        return krt_ctx_set_status(ctx, kv_new(krt_obj_key(in), phase));
    return KRT_OK;
}

/* Records "op/KEY=status value" for status objects, checking the input they carry. */
static void status_events_cb(const krt_batch_t *b, void *ud)
{
    test_strlist_t *l = ud;
    for (size_t i = 0; i < b->len; i++) {
        const krt_event_t *ev = &b->events[i];
        const krt_obj_t *o = krt_event_latest(ev);
        assert_ptr_equal(o->type, &krt_status_type);
        const krt_obj_t *input = krt_status_input(o);
        const krt_obj_t *value = krt_status_value(o);
        assert_non_null(input);
        assert_non_null(value);
        /* Keyed by the input key. */
        assert_string_equal(krt_obj_key(o), krt_obj_key(input));
        test_strlist_push(l, "%s/%s=%s", test_op_name(ev->op), krt_obj_key(o), kv_value(value));
    }
}

static void test_status_follows_the_status_not_the_output(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *config = test_env_init_static(&env, &test_kv_type, "config");
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *statuses = NULL;
    krt_collection_t *out =
        krt_derive_status_new(env.e, pods, &test_kv_type, &test_kv_type, "pod-ips", KRT_DERIVE_ONE,
                              status_fn, config, &statuses);
    assert_non_null(out);
    assert_non_null(statuses);
    CHECK(env.e);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    test_strlist_t st = {0};
    assert_non_null(krt_collection_subscribe(statuses, status_events_cb, &st, false));

    /* Add. */
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "phase=pending"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/a=1.1.1.1");
    EXPECT_STRS(&st, "add/ns/a=pending");
    const krt_obj_t *so = krt_collection_get(statuses, "ns/a");
    assert_non_null(so);
    assert_string_equal(pod_ip(krt_status_input(so)), "1.1.1.1");
    assert_string_equal(kv_value(krt_status_value(so)), "pending");

    /* Update: only the status changes. */
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "phase=running"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    EXPECT_STRS(&st, "update/ns/a=running");

    /* The output changes (through what the transformation fetched), the status does not: no
     * status event. */
    PUT(config, kv_new("suffix", "v2"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=1.1.1.1@v2");
    EXPECT_STRS(&st, NULL);
    assert_string_equal(kv_value(krt_status_value(krt_collection_get(statuses, "ns/a"))),
                        "running");

    /* No status reported: the status goes. */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=2.2.2.2@v2");
    EXPECT_STRS(&st, "delete/ns/a=running");
    assert_null(krt_collection_get(statuses, "ns/a"));

    /* It comes back: an add. */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", "phase=ready"));
    FLUSH(env.e);
    EXPECT_STRS(&st, "add/ns/a=ready");

    /* The input goes: so do its output and its status. */
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/a");
    EXPECT_STRS(&st, "delete/ns/a=ready");
    assert_int_equal(krt_collection_len(statuses), 0);
    assert_int_equal(krt_collection_len(out), 0);

    test_strlist_dispose(&st);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_status_batches_are_sorted_and_synced_with_the_collection(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", false);
    krt_collection_t *statuses = NULL;
    krt_collection_t *out =
        krt_derive_status_new(env.e, pods, &test_kv_type, &test_kv_type, "pod-ips", KRT_DERIVE_ONE,
                              status_fn, NULL, &statuses);
    test_strlist_t st = {0};
    assert_non_null(krt_collection_subscribe(statuses, status_events_cb, &st, true));
    PUT(pods, pod_new("ns", "c", "1", "phase=x"));
    PUT(pods, pod_new("ns", "a", "2", "phase=y"));
    PUT(pods, pod_new("ns", "b", "3", NULL));
    FLUSH(env.e);
    EXPECT_STRS(&st, "add/ns/a=y", "add/ns/c=x");
    assert_false(krt_collection_synced(out));
    assert_false(krt_collection_synced(statuses));
    krt_static_mark_synced(pods);
    FLUSH(env.e);
    assert_true(krt_collection_synced(out));
    assert_true(krt_collection_synced(statuses));
    /* A late subscriber replays the statuses. */
    test_strlist_t late = {0};
    assert_non_null(krt_collection_subscribe(statuses, status_events_cb, &late, true));
    EXPECT_STRS(&late, "add/ns/a=y", "add/ns/c=x");
    test_strlist_dispose(&late);
    test_strlist_dispose(&st);
    test_env_dispose(&env);
}

static int status_outside_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    int *rc = ud;
    *rc = krt_ctx_set_status(ctx, kv_new(krt_obj_key(in), "x"));
    return krt_emit(ctx, kv_new(krt_obj_key(in), "v"));
}

static void test_status_set_outside_a_status_collection_is_rejected(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    int rc = 1;
    krt_collection_t *out =
        krt_derive_new(env.e, src, &test_kv_type, "plain", KRT_DERIVE_ONE, status_outside_fn, &rc);
    PUT(src, kv_new("a", ""));
    int frc = krt_engine_flush(env.e);
    CHECK(env.e);
    /* The status object was taken and released (LeakSanitizer), and the call failed. */
    assert_true(rc < 0);
    (void)frc;
    (void)out;
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_follows_the_status_not_the_output),
        cmocka_unit_test(test_status_batches_are_sorted_and_synced_with_the_collection),
        cmocka_unit_test(test_status_set_outside_a_status_collection_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
