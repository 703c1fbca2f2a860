/*
 * Derived collections (1 → 0..1, 1 → 0..N, map): transformation results, the per-input diff,
 * events, sync, and how duplicate output keys and failing transformations are reported.
 *
 * Ported in behaviour from Istio's collection_test.go (TestCollectionSimple, InitialState,
 * HandlerSync, Merged, Cycle, DiscardResult) and map_test.go, with krt_engine_flush() where Istio
 * waits for goroutines; since our flush is deterministic, every test asserts exact event sequences.
 */
#include "krt_test_util.h"

/* Appends |s| to |buf| (cap bytes) with a comma separator. */
static void csv_add(char *buf, size_t cap, const char *s)
{
    if (buf[0])
        strncat(buf, ",", cap - strlen(buf) - 1);
    strncat(buf, s, cap - strlen(buf) - 1);
}

/* -----------------------------------------------------------------------------------------------
 */

static void test_collection_simple_transform_emits_adds_updates_deletes_and_replays(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *simple = test_ips_new(pods, "simple-pods");
    assert_non_null(simple);
    CHECK(env.e);
    test_rec_t rec;
    test_rec_subscribe(&rec, simple, false);

    /* No IP: the transformation emits nothing, so there is no output and no event. */
    PUT(pods, pod_new("ns", "name", NULL, NULL));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(krt_collection_len(simple), 0);
    assert_null(krt_collection_get(simple, "ns/name"));

    PUT(pods, pod_new("ns", "name", "1.2.3.4", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/name=1.2.3.4");
    assert_string_equal(kv_get(simple, "ns/name"), "1.2.3.4");

    PUT(pods, pod_new("ns", "name", "1.2.3.5", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/name=1.2.3.5");

    /* A late handler with replay sees the current state as adds, synchronously. */
    test_rec_t late;
    krt_handler_t *hl = test_rec_subscribe(&late, simple, true);
    EXPECT_VALUES(&late, "add/ns/name=1.2.3.5");
    assert_true(krt_handler_synced(hl));

    DEL(pods, "ns/name");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/name");
    EXPECT_EVENTS(&late, "delete/ns/name");
    assert_int_equal(krt_collection_len(simple), 0);

    test_rec_dispose(&rec);
    test_rec_dispose(&late);
    test_env_dispose(&env);
}

/* Service → itself (a 1 → 1 "simple service"). */
static int svc_copy_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    return krt_emit(ctx, svc_copy(in));
}

/* Service → kv(service key, comma-separated IPs of the pods its selector picks) via a label fetch.
 */
static int endpoints_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    krt_labels_t sel;
    svc_selector(in, &sel);
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch_labels(ctx, pods, &sel, &found);
    char buf[512] = "";
    for (size_t i = 0; i < n; i++)
        csv_add(buf, sizeof(buf), pod_ip(found[i]));
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

static void test_collection_three_level_chain_is_complete_after_first_flush(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *svcs = krt_static_new(env.e, &test_svc_type, "services", true);
    PUT(pods, pod_new("ns", "a", "10.0.0.1", "app=x"));
    PUT(pods, pod_new("ns", "b", "10.0.0.2", "app=x,tier=web"));
    PUT(pods, pod_new("ns", "c", "10.0.0.3", "app=y"));
    PUT(pods, pod_new("ns", "d", NULL, "app=x"));
    PUT(svcs, svc_new("ns", "svc-x", "app=x", 80));
    PUT(svcs, svc_new("ns", "svc-y", "app=y", 80));

    krt_collection_t *spods = krt_derive_new(env.e, pods, &test_pod_type, "simple-pods",
                                             KRT_DERIVE_ONE, test_pod_with_ip, NULL);
    krt_collection_t *ssvcs = krt_derive_new(env.e, svcs, &test_svc_type, "simple-services",
                                             KRT_DERIVE_ONE, svc_copy_fn, NULL);
    krt_collection_t *eps = krt_derive_new(env.e, ssvcs, &test_kv_type, "simple-endpoints",
                                           KRT_DERIVE_ONE, endpoints_fn, spods);
    assert_non_null(spods);
    assert_non_null(ssvcs);
    assert_non_null(eps);
    CHECK(env.e);
    assert_false(krt_collection_synced(eps));
    assert_int_equal(krt_collection_len(eps), 0);

    FLUSH(env.e);
    /* One flush, and the whole chain is synced and complete: no further waiting. */
    assert_true(krt_collection_synced(spods));
    assert_true(krt_collection_synced(ssvcs));
    assert_true(krt_collection_synced(eps));
    EXPECT_KEYS(spods, "ns/a ns/b ns/c");
    EXPECT_KEYS(ssvcs, "ns/svc-x ns/svc-y");
    assert_string_equal(kv_get(eps, "ns/svc-x"), "10.0.0.1,10.0.0.2");
    assert_string_equal(kv_get(eps, "ns/svc-y"), "10.0.0.3");

    /* A handler registered now sees it all in one replay batch. */
    test_rec_t rec;
    test_rec_subscribe(&rec, eps, true);
    EXPECT_VALUES(&rec, "add/ns/svc-x=10.0.0.1,10.0.0.2", "add/ns/svc-y=10.0.0.3");

    /* The last pod gets its IP: the endpoint follows in the next flush. */
    PUT(pods, pod_new("ns", "d", "10.0.0.4", "app=x"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/svc-x=10.0.0.1,10.0.0.2,10.0.0.4");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_collection_chain_of_unsynced_sources_syncs_when_sources_do(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", false);
    krt_collection_t *svcs = krt_static_new(env.e, &test_svc_type, "services", false);
    PUT(pods, pod_new("ns", "a", "10.0.0.1", "app=x"));
    PUT(svcs, svc_new("ns", "svc-x", "app=x", 80));
    krt_collection_t *spods = krt_derive_new(env.e, pods, &test_pod_type, "simple-pods",
                                             KRT_DERIVE_ONE, test_pod_with_ip, NULL);
    krt_collection_t *ssvcs = krt_derive_new(env.e, svcs, &test_svc_type, "simple-services",
                                             KRT_DERIVE_ONE, svc_copy_fn, NULL);
    krt_collection_t *eps = krt_derive_new(env.e, ssvcs, &test_kv_type, "simple-endpoints",
                                           KRT_DERIVE_ONE, endpoints_fn, spods);
    FLUSH(env.e);
    assert_false(krt_collection_synced(eps));

    /* Services synced, pods not: the endpoints fetched pods, so they wait. */
    krt_static_mark_synced(svcs);
    FLUSH(env.e);
    assert_true(krt_collection_synced(ssvcs));
    assert_false(krt_collection_synced(spods));
    assert_false(krt_collection_synced(eps));

    krt_static_mark_synced(pods);
    FLUSH(env.e);
    assert_true(krt_collection_synced(spods));
    assert_true(krt_collection_synced(eps));
    assert_string_equal(kv_get(eps, "ns/svc-x"), "10.0.0.1");

    test_env_dispose(&env);
}

static void test_collection_handler_is_synced_only_after_the_collection_is(void **state)
{
    (void)state;
    test_env_t env;
    test_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    krt_collection_t *simple = test_ips_new(pods, "simple");
    test_rec_t rec;
    krt_handler_t *h = test_rec_subscribe(&rec, simple, true);
    assert_false(krt_handler_synced(h));
    assert_int_equal(rec.batches, 0);

    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/a");
    assert_false(krt_collection_synced(simple));
    assert_false(krt_handler_synced(h));

    krt_static_mark_synced(pods);
    FLUSH(env.e);
    assert_true(krt_collection_synced(simple));
    assert_true(krt_handler_synced(h));
    EXPECT_NO_EVENTS(&rec);

    /* Derived from a synced source: unsynced until the first flush processes the initial state. */
    krt_collection_t *simple2 = test_ips_new(pods, "simple2");
    test_rec_t rec2;
    krt_handler_t *h2 = test_rec_subscribe(&rec2, simple2, true);
    assert_false(krt_collection_synced(simple2));
    assert_false(krt_handler_synced(h2));
    FLUSH(env.e);
    assert_true(krt_handler_synced(h2));
    EXPECT_EVENTS(&rec2, "add/ns/a");

    test_rec_dispose(&rec);
    test_rec_dispose(&rec2);
    test_env_dispose(&env);
}

/* Service → one kv per selected pod with an IP: key "svc-ns/svc-name/pod-name", value the IP. */
static int svc_pod_endpoints_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    krt_labels_t sel;
    svc_selector(in, &sel);
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch_labels(ctx, pods, &sel, &found);
    for (size_t i = 0; i < n; i++) {
        if (!pod_ip(found[i])[0])
            continue;
        char key[256];
        snprintf(key, sizeof(key), "%s/%s", krt_obj_key(in), pod_name(found[i]));
        int rc = krt_emit(ctx, kv_new(key, pod_ip(found[i])));
        if (rc != KRT_OK)
            return rc;
    }
    return KRT_OK;
}

static void test_collection_many_with_label_selected_dependencies(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *svcs = krt_static_new(env.e, &test_svc_type, "services", true);
    krt_collection_t *eps = krt_derive_new(env.e, svcs, &test_kv_type, "endpoints", KRT_DERIVE_MANY,
                                           svc_pod_endpoints_fn, pods);
    test_rec_t rec;
    test_rec_subscribe(&rec, eps, false);

    PUT(svcs, svc_new("ns", "svc", "app=a", 80));
    PUT(pods, pod_new("ns", "p1", NULL, "app=a"));
    FLUSH(env.e);
    /* No output until the pod has an IP. */
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(krt_collection_len(eps), 0);

    PUT(pods, pod_new("ns", "p1", "1.1.1.1", "app=a"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/svc/p1=1.1.1.1");

    PUT(pods, pod_new("ns", "p1", "2.2.2.2", "app=a"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/svc/p1=2.2.2.2");

    DEL(pods, "ns/p1");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/svc/p1");
    assert_int_equal(krt_collection_len(eps), 0);

    /* Re-create the deleted pod alongside a new one: both appear in one batch. */
    size_t batches = rec.batches;
    PUT(pods, pod_new("ns", "p2", "3.3.3.3", "app=a"));
    PUT(pods, pod_new("ns", "p1", "1.1.1.1", "app=a"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/svc/p1=1.1.1.1", "add/ns/svc/p2=3.3.3.3");
    assert_int_equal(rec.batches, batches + 1);

    /* A pod the selector does not pick, before or after, recomputes nothing. */
    uint64_t before = test_recomputes(eps);
    PUT(pods, pod_new("ns", "other", "9.9.9.9", "app=b"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(test_recomputes(eps), before);

    /* A pod that leaves the selection recomputes and its output goes. */
    PUT(pods, pod_new("ns", "p2", "3.3.3.3", "app=b"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/svc/p2");
    assert_int_equal(test_recomputes(eps), before + 1);

    /* The service goes: every output it produced goes with it. */
    DEL(svcs, "ns/svc");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/svc/p1");
    assert_int_equal(test_stats(eps).inputs, 0);
    assert_int_equal(test_stats(eps).deps, 0);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_collection_deleting_and_re_adding_an_input(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *simple = test_ips_new(pods, "simple");
    test_rec_t rec;
    test_rec_subscribe(&rec, simple, false);

    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/a");
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/a");
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/ns/a");
    assert_int_equal(test_stats(simple).inputs, 1);

    /* Deleted and re-added between two flushes with the same content: the output is equal. */
    DEL(pods, "ns/a");
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    /* ...with other content: one update. */
    DEL(pods, "ns/a");
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=2.2.2.2");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* The diamond of Istio's TestCollectionCycle: pods → A (simple pods), pods → B, A → B (B fetches A
 * with a bare predicate, the unindexable path). B's output for a pod lists the A objects sharing
 * its IP. */
static bool kv_has_value(const krt_obj_t *o, void *ud)
{
    (void)ud;
    return kv_value(o)[0] != '\0';
}

static int same_ip_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *a = ud;
    if (!pod_ip(in)[0])
        return KRT_OK;
    krt_filter_t f = {.pred = kv_has_value};
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch(ctx, a, &f, &found);
    char buf[512] = "";
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kv_value(found[i]), pod_ip(in)))
            csv_add(buf, sizeof(buf), krt_obj_key(found[i]));
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

static void test_collection_diamond_emits_no_spurious_events(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *a = test_ips_new(pods, "simple-pods");
    krt_collection_t *b =
        krt_derive_new(env.e, pods, &test_kv_type, "same-ip", KRT_DERIVE_ONE, same_ip_fn, a);
    test_rec_t ra, rb;
    test_rec_subscribe(&ra, a, false);
    test_rec_subscribe(&rb, b, false);

    PUT(pods, pod_new("ns", "name", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&ra, "add/ns/name");
    EXPECT_VALUES(&rb, "add/ns/name=ns/name");

    PUT(pods, pod_new("ns", "name-dual", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&ra, "add/ns/name-dual");
    EXPECT_VALUES(&rb, "update/ns/name=ns/name,ns/name-dual",
                  "add/ns/name-dual=ns/name,ns/name-dual");
    assert_int_equal(rb.batches, 2);

    /* An irrelevant pod (no IP) and an identical re-put change nothing downstream. */
    PUT(pods, pod_new("ns", "other", NULL, NULL));
    PUT(pods, pod_new("ns", "name", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&ra);
    EXPECT_NO_EVENTS(&rb);
    assert_int_equal(rb.batches, 2);

    /* name-dual moves away: both of B's outputs change, as two updates in ONE batch. */
    PUT(pods, pod_new("ns", "name-dual", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_EVENTS(&ra, "update/ns/name-dual");
    EXPECT_VALUES(&rb, "update/ns/name=ns/name", "update/ns/name-dual=ns/name-dual");
    assert_int_equal(rb.batches, 3);

    DEL(pods, "ns/name-dual");
    FLUSH(env.e);
    EXPECT_EVENTS(&ra, "delete/ns/name-dual");
    EXPECT_EVENTS(&rb, "delete/ns/name-dual");

    DEL(pods, "ns/name");
    FLUSH(env.e);
    EXPECT_EVENTS(&ra, "delete/ns/name");
    EXPECT_EVENTS(&rb, "delete/ns/name");

    test_rec_dispose(&ra);
    test_rec_dispose(&rb);
    test_env_dispose(&env);
}

/* kv(label "route" of the pod, pod key): the output key follows a label. */
static int key_from_label_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    const char *k = pod_label(in, "route");
    if (!k)
        return KRT_OK;
    return krt_emit(ctx, kv_new(k, krt_obj_key(in)));
}

static void test_collection_output_key_change_is_delete_plus_add(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *out = krt_derive_new(env.e, pods, &test_kv_type, "routes", KRT_DERIVE_ONE,
                                           key_from_label_fn, NULL);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    PUT(pods, pod_new("ns", "p", NULL, "route=r1"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/r1");
    PUT(pods, pod_new("ns", "p", NULL, "route=r2"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/r1", "add/r2");
    assert_int_equal(rec.batches, 2);
    EXPECT_KEYS(out, "r2");
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* kv input "a"=v1,v2 → outputs v1, v2 (value: input key). */
static int split_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", kv_value(in));
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int rc = krt_emit(ctx, kv_new(t, krt_obj_key(in)));
        if (rc != KRT_OK)
            return rc;
    }
    return KRT_OK;
}

/* Inputs that claim output keys ("a" = "k1,k2" claims k1 and k2), split into outputs whose value
 * is the claiming input, with a recorder on the outputs: the setup of the duplicate-key tests. */
typedef struct claims {
    test_env_t env;
    krt_collection_t *src;
    krt_collection_t *out;
    test_rec_t rec;
} claims_t;

static void claims_init(claims_t *f)
{
    test_env_init(&f->env);
    f->src = krt_static_new(f->env.e, &test_kv_type, "claims", true);
    f->out =
        krt_derive_new(f->env.e, f->src, &test_kv_type, "claimed", KRT_DERIVE_MANY, split_fn, NULL);
    test_rec_subscribe(&f->rec, f->out, false);
}

/* One step: input |in| now claims |keys|, and the engine flushes. */
static void claims_set(claims_t *f, const char *in, const char *keys)
{
    PUT(f->src, kv_new(in, keys));
    FLUSH(f->env.e);
}

static void claims_dispose(claims_t *f)
{
    test_rec_dispose(&f->rec);
    test_env_dispose(&f->env);
}

static void test_collection_many_diffs_each_input_outputs(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *out =
        krt_derive_new(env.e, src, &test_kv_type, "split", KRT_DERIVE_MANY, split_fn, NULL);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    PUT(src, kv_new("in1", "a,b"));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "add/a", "add/b");
    PUT(src, kv_new("in1", "b,c"));
    FLUSH(env.e);
    /* b is equal (same key, same value): no event. */
    EXPECT_EVENTS(&rec, "delete/a", "add/c");
    PUT(src, kv_new("in1", ""));
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/b", "delete/c");
    assert_int_equal(krt_collection_len(out), 0);
    assert_int_equal(test_stats(out).inputs, 1);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* An input's claimed keys are held inline when there is one and in an array when several:
 * moving between none, one and several keeps exactly the emitted outputs (checked with D1 by
 * krt_engine_check at every flush), including a deletion of the input at each size. */
static void test_collection_many_moves_between_none_one_and_several_outputs(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *out =
        krt_derive_new(env.e, src, &test_kv_type, "split", KRT_DERIVE_MANY, split_fn, NULL);
    static const char *const steps[] = {"a", "a,b,c", "b", "", "c,d", "a,b,c,d,e", "e", "a,b"};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        PUT(src, kv_new("in1", steps[i]));
        FLUSH(env.e);
        char want[64];
        snprintf(want, sizeof(want), "%s", steps[i]);
        for (char *p = want; *p; p++)
            if (*p == ',')
                *p = ' ';
        EXPECT_KEYS(out, want);
    }
    static const char *const sizes[] = {"", "x", "x,y,z"};
    for (size_t i = 0; i < 3; i++) {
        PUT(src, kv_new("in2", sizes[i]));
        FLUSH(env.e);
        DEL(src, "in2");
        FLUSH(env.e);
        EXPECT_KEYS(out, "a b");
    }
    test_env_dispose(&env);
}

static void
test_collection_duplicate_output_keys_across_inputs_are_reported_and_shadowed(void **state)
{
    (void)state;
    claims_t f;
    claims_init(&f);

    claims_set(&f, "a", "dupkey");
    EXPECT_VALUES(&f.rec, "add/dupkey=a");
    assert_int_equal(test_stats(f.out).dup_keys, 0);

    /* b claims the same key: reported, shadowed, no event, a keeps it. */
    size_t warnings = f.env.log.warnings;
    claims_set(&f, "b", "dupkey");
    EXPECT_NO_EVENTS(&f.rec);
    assert_int_equal(test_stats(f.out).dup_keys, 1);
    assert_true(f.env.log.warnings > warnings);
    assert_true(test_log_count(&f.env.log, "dupkey") >= 1);
    assert_string_equal(kv_get(f.out, "dupkey"), "a");

    /* The owner stops producing it: the shadowed claim takes over as an update. */
    claims_set(&f, "a", "m");
    EXPECT_VALUES(&f.rec, "update/dupkey=b", "add/m=a");
    assert_string_equal(kv_get(f.out, "dupkey"), "b");

    /* Shadow an owner that is then deleted outright. */
    claims_set(&f, "c", "m");
    EXPECT_NO_EVENTS(&f.rec);
    assert_int_equal(test_stats(f.out).dup_keys, 2);
    DEL(f.src, "a");
    FLUSH(f.env.e);
    EXPECT_VALUES(&f.rec, "update/m=c");

    DEL(f.src, "b");
    DEL(f.src, "c");
    FLUSH(f.env.e);
    EXPECT_EVENTS(&f.rec, "delete/dupkey", "delete/m");
    assert_int_equal(krt_collection_len(f.out), 0);

    claims_dispose(&f);
}

static void test_collection_shadow_takes_over_with_its_latest_object(void **state)
{
    (void)state;
    claims_t f;
    claims_init(&f);
    claims_set(&f, "a", "k");
    claims_set(&f, "b", "k");
    EXPECT_VALUES(&f.rec, "add/k=a");
    /* b's claim changes while shadowed (it now also claims k2): only k2 is announced. */
    claims_set(&f, "b", "k,k2");
    EXPECT_VALUES(&f.rec, "add/k2=b");
    DEL(f.src, "a");
    FLUSH(f.env.e);
    EXPECT_VALUES(&f.rec, "update/k=b");
    /* Now b owns k: dropping it deletes k, nobody is left to take over. */
    claims_set(&f, "b", "k2");
    EXPECT_EVENTS(&f.rec, "delete/k");
    claims_dispose(&f);
}

static void
test_collection_duplicate_claims_in_one_flush_keep_one_and_shadow_the_other(void **state)
{
    (void)state;
    claims_t f;
    claims_init(&f);
    PUT(f.src, kv_new("b", "k"));
    claims_set(&f, "a", "k");
    EXPECT_EVENTS(&f.rec, "add/k");
    assert_int_equal(test_stats(f.out).dup_keys, 1);
    const char *owner = kv_get(f.out, "k");
    assert_true(!strcmp(owner, "a") || !strcmp(owner, "b"));
    char other[2] = {owner[0] == 'a' ? 'b' : 'a', 0};
    char gone[2] = {owner[0], 0};
    /* Never silently dropped: the other claim takes over when the owner goes. */
    DEL(f.src, gone);
    FLUSH(f.env.e);
    EXPECT_EVENTS(&f.rec, "update/k");
    assert_string_equal(kv_get(f.out, "k"), other);
    claims_dispose(&f);
}

static void test_collection_owner_and_shadow_stopping_together_is_one_delete(void **state)
{
    (void)state;
    claims_t f;
    claims_init(&f);
    claims_set(&f, "a", "k");
    claims_set(&f, "b", "k");
    EXPECT_EVENTS(&f.rec, "add/k");
    /* Owner and shadow both stop, in one flush: a delete, nothing else. */
    PUT(f.src, kv_new("a", ""));
    PUT(f.src, kv_new("b", ""));
    FLUSH(f.env.e);
    EXPECT_EVENTS(&f.rec, "delete/k");
    assert_int_equal(krt_collection_len(f.out), 0);
    claims_dispose(&f);
}

/* Emits the same key twice; records what the second krt_emit returned. */
typedef struct twice {
    int second_rc;
} twice_t;

/* Derives "out" from one kv input "in" through |fn| (which reports into |t|) and flushes once: the
 * setup of the tests of what krt_emit refuses. Returns: the output collection, owned by |env|. */
static krt_collection_t *emit_once(test_env_t *env, unsigned flags, krt_transform_cb fn, twice_t *t)
{
    test_env_init(env);
    krt_collection_t *src = krt_static_new(env->e, &test_kv_type, "src", true);
    krt_collection_t *out = krt_derive_new(env->e, src, &test_kv_type, "out", flags, fn, t);
    PUT(src, kv_new("in", ""));
    FLUSH(env->e);
    return out;
}

static int emit_twice_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    twice_t *t = ud;
    assert_int_equal(krt_emit(ctx, kv_new("x", krt_obj_key(in))), KRT_OK);
    t->second_rc = krt_emit(ctx, kv_new("x", "second"));
    return KRT_OK;
}

static void test_collection_same_key_twice_from_one_input_keeps_first(void **state)
{
    (void)state;
    test_env_t env;
    twice_t t = {0};
    krt_collection_t *out = emit_once(&env, KRT_DERIVE_MANY, emit_twice_fn, &t);
    assert_int_equal(t.second_rc, KRT_EDUPKEY);
    assert_string_equal(kv_get(out, "x"), "in");
    assert_int_equal(test_stats(out).dup_keys, 1);
    test_env_dispose(&env);
}

static int emit_two_keys_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    twice_t *t = ud;
    assert_int_equal(krt_emit(ctx, kv_new("first", krt_obj_key(in))), KRT_OK);
    t->second_rc = krt_emit(ctx, kv_new("second", krt_obj_key(in)));
    return KRT_OK;
}

static void test_collection_one_to_one_rejects_a_second_output(void **state)
{
    (void)state;
    test_env_t env;
    twice_t t = {0};
    krt_collection_t *out = emit_once(&env, KRT_DERIVE_ONE, emit_two_keys_fn, &t);
    assert_int_equal(t.second_rc, KRT_EINVAL);
    EXPECT_KEYS(out, "first");
    test_env_dispose(&env);
}

static int emit_wrong_type_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    twice_t *t = ud;
    t->second_rc = krt_emit(ctx, pod_new("ns", krt_obj_key(in), NULL, NULL));
    return KRT_OK;
}

static void test_collection_emit_of_wrong_type_is_rejected(void **state)
{
    (void)state;
    test_env_t env;
    twice_t t = {0};
    krt_collection_t *out = emit_once(&env, KRT_DERIVE_ONE, emit_wrong_type_fn, &t);
    assert_int_equal(t.second_rc, KRT_ETYPE);
    assert_int_equal(krt_collection_len(out), 0);
    test_env_dispose(&env);
}

/* Fails (KRT_ETRANSFORM) when the pod carries label fail=1; otherwise kv(key, ip). It emits before
 * failing so the test proves the partial result is discarded. */
static int maybe_fail_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    int rc = krt_emit(ctx, kv_new(krt_obj_key(in), pod_ip(in)));
    if (rc != KRT_OK)
        return rc;
    const char *f = pod_label(in, "fail");
    return f && !strcmp(f, "1") ? KRT_ETRANSFORM : KRT_OK;
}

static void test_collection_failed_transformation_keeps_previous_outputs(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *out =
        krt_derive_new(env.e, pods, &test_kv_type, "out", KRT_DERIVE_ONE, maybe_fail_fn, NULL);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/a=1.1.1.1");

    size_t msgs = env.log.msgs.len;
    PUT(pods, pod_new("ns", "a", "2.2.2.2", "fail=1"));
    /* A new input that fails from the start, and a healthy one in the same flush. */
    PUT(pods, pod_new("ns", "b", "3.3.3.3", "fail=1"));
    PUT(pods, pod_new("ns", "c", "4.4.4.4", NULL));
    test_flush_expect(env.e, KRT_ETRANSFORM);
    /* Everything else was still applied. */
    EXPECT_VALUES(&rec, "add/ns/c=4.4.4.4");
    assert_string_equal(kv_get(out, "ns/a"), "1.1.1.1");
    assert_null(kv_get(out, "ns/b"));
    assert_int_equal(test_stats(out).errors, 2);
    assert_true(env.log.msgs.len > msgs);

    PUT(pods, pod_new("ns", "a", "5.5.5.5", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=5.5.5.5");
    assert_int_equal(test_stats(out).errors, 2);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* kv(key, ip), discarding the result when the pod carries label discard=1. */
static int discard_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    const char *d = pod_label(in, "discard");
    if (d && !strcmp(d, "1"))
        krt_ctx_discard(ctx);
    if (!pod_ip(in)[0])
        return KRT_OK;
    return krt_emit(ctx, kv_new(krt_obj_key(in), pod_ip(in)));
}

static void test_collection_discard_keeps_previous_result_but_accepts_a_first_one(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *out =
        krt_derive_new(env.e, pods, &test_kv_type, "out", KRT_DERIVE_ONE, discard_fn, NULL);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);

    /* Discarded with no output: stays absent. */
    PUT(pods, pod_new("ns", "a", NULL, "discard=1"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    /* Discarded, but the input had no previous output: the new result is accepted. */
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "discard=1"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/a=1.1.1.1");
    /* Discarded with a previous output: kept, and the discarded state is never published. */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", "discard=1"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_string_equal(kv_get(out, "ns/a"), "1.1.1.1");
    PUT(pods, pod_new("ns", "a", "3.3.3.3", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=3.3.3.3");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static void test_collection_derive_rejects_a_parent_of_another_engine(void **state)
{
    (void)state;
    test_env_t env, other;
    test_env_init(&env);
    test_env_init(&other);
    krt_collection_t *pods = krt_static_new(other.e, &test_pod_type, "pods", true);
    assert_null(
        krt_derive_new(env.e, pods, &test_kv_type, "x", KRT_DERIVE_ONE, test_pod_to_ip_kv, NULL));
    krt_type_t bad = test_kv_type;
    bad.key = NULL;
    krt_collection_t *own = krt_static_new(env.e, &test_pod_type, "own", true);
    assert_null(krt_derive_new(env.e, own, &bad, "y", KRT_DERIVE_ONE, test_pod_to_ip_kv, NULL));
    CHECK(env.e);
    CHECK(other.e);
    test_env_dispose(&other);
    test_env_dispose(&env);
}

/* ---------------------------------------------------------------------------------------------
 * Map collections: 1 → 0..1, key preserving, no fetch.
 * ------------------------------------------------------------------------------------------- */
static void test_map_preserves_keys_and_follows_its_parent(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *ips =
        krt_map_new(env.e, pods, &test_kv_type, "pod-ips", test_pod_to_ip_kv, NULL);
    assert_non_null(ips);
    test_rec_t rec;
    test_rec_subscribe(&rec, ips, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "b", NULL, NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/a=1.1.1.1");
    PUT(pods, pod_new("ns", "b", "2.2.2.2", NULL));
    PUT(pods, pod_new("ns", "a", "1.1.1.9", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=1.1.1.9", "add/ns/b=2.2.2.2");
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/a");
    assert_int_equal(test_stats(ips).errors, 0);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

typedef struct rc_rec {
    int rc;
    int runs;
    krt_collection_t *other;
} rc_rec_t;

static int rekey_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    rc_rec_t *r = ud;
    char key[256];
    snprintf(key, sizeof(key), "%s-renamed", krt_obj_key(in));
    r->rc = krt_emit(ctx, kv_new(key, "x"));
    r->runs++;
    return r->rc;
}

static void test_map_that_changes_the_key_is_rejected_with_ekey(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    rc_rec_t r = {0};
    krt_collection_t *m = krt_map_new(env.e, src, &test_kv_type, "rekeyed", rekey_fn, &r);
    PUT(src, kv_new("a", "1"));
    test_flush_expect(env.e, KRT_EKEY);
    assert_int_equal(r.runs, 1);
    assert_int_equal(r.rc, KRT_EKEY);
    assert_int_equal(krt_collection_len(m), 0);
    /* One transformation failed, so one error (the refused emit is not counted twice). */
    assert_int_equal(test_stats(m).errors, 1);
    test_env_dispose(&env);
}

static int map_fetching_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    rc_rec_t *r = ud;
    r->runs++;
    const krt_obj_t *o = krt_fetch_key(ctx, r->other, "a");
    r->rc = o ? 1 : 0;
    /* Returns success: the engine itself must fail the run. */
    krt_emit(ctx, kv_new(krt_obj_key(in), "mapped"));
    return KRT_OK;
}

static void test_map_that_fetches_fails(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *other = test_env_init_static(&env, &test_kv_type, "other");
    krt_collection_t *src = krt_static_new(env.e, &test_kv_type, "src", true);
    PUT(other, kv_new("a", "1"));
    rc_rec_t r = {.other = other};
    krt_collection_t *m =
        krt_map_new(env.e, src, &test_kv_type, "fetching-map", map_fetching_fn, &r);
    PUT(src, kv_new("a", "1"));
    int rc = krt_engine_flush(env.e);
    CHECK(env.e);
    assert_true(rc < 0);
    assert_int_equal(r.runs, 1);
    assert_int_equal(r.rc, 0); /* the fetch returned nothing */
    assert_int_equal(krt_collection_len(m), 0);
    assert_int_equal(test_stats(m).errors, 1);
    assert_int_equal(test_stats(m).deps, 0);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collection_simple_transform_emits_adds_updates_deletes_and_replays),
        cmocka_unit_test(test_collection_three_level_chain_is_complete_after_first_flush),
        cmocka_unit_test(test_collection_chain_of_unsynced_sources_syncs_when_sources_do),
        cmocka_unit_test(test_collection_handler_is_synced_only_after_the_collection_is),
        cmocka_unit_test(test_collection_many_with_label_selected_dependencies),
        cmocka_unit_test(test_collection_deleting_and_re_adding_an_input),
        cmocka_unit_test(test_collection_diamond_emits_no_spurious_events),
        cmocka_unit_test(test_collection_output_key_change_is_delete_plus_add),
        cmocka_unit_test(test_collection_many_diffs_each_input_outputs),
        cmocka_unit_test(test_collection_many_moves_between_none_one_and_several_outputs),
        cmocka_unit_test(
            test_collection_duplicate_output_keys_across_inputs_are_reported_and_shadowed),
        cmocka_unit_test(test_collection_owner_and_shadow_stopping_together_is_one_delete),
        cmocka_unit_test(test_collection_shadow_takes_over_with_its_latest_object),
        cmocka_unit_test(
            test_collection_duplicate_claims_in_one_flush_keep_one_and_shadow_the_other),
        cmocka_unit_test(test_collection_same_key_twice_from_one_input_keeps_first),
        cmocka_unit_test(test_collection_one_to_one_rejects_a_second_output),
        cmocka_unit_test(test_collection_emit_of_wrong_type_is_rejected),
        cmocka_unit_test(test_collection_failed_transformation_keeps_previous_outputs),
        cmocka_unit_test(test_collection_discard_keeps_previous_result_but_accepts_a_first_one),
        cmocka_unit_test(test_collection_derive_rejects_a_parent_of_another_engine),
        cmocka_unit_test(test_map_preserves_keys_and_follows_its_parent),
        cmocka_unit_test(test_map_that_changes_the_key_is_rejected_with_ekey),
        cmocka_unit_test(test_map_that_fetches_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
