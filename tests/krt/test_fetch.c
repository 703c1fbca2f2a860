/*
 * Fetch: what a transformation reads and how its recorded dependencies decide what recomputes.
 *
 * Ported in behaviour from Istio's TestCollectionMultipleFetch, ...MultipleFetchAllAndKey,
 * ...FetchWithSuppressChange, ...MultipleFetchKeys and TestCollectionChangingFilterKeyDependency
 * (each a bug Istio's reverse index once had), plus fetch_one's multiple-match error and the
 * creation-order rule. Recompute counters (krt_stats_t.recomputes, cumulative) prove that a change
 * did or did not rerun a transformation; events prove what came out.
 */
#include "krt_test_util.h"

static void csv_add(char *buf, size_t cap, const char *s)
{
    if (buf[0])
        strncat(buf, ",", cap - strlen(buf) - 1);
    strncat(buf, s, cap - strlen(buf) - 1);
}

/* Joins the pod names of |objs|. */
static void names_of(char *buf, size_t cap, const krt_obj_t *const *objs, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        csv_add(buf, cap, pod_name(objs[i]));
}

/* Starts |env| with a source holding one query object "q"; the collections under test derive from
 * it. Returns: the source, owned by env's engine. */
static krt_collection_t *query_env_init(test_env_t *env)
{
    krt_collection_t *q = test_env_init_static(env, &test_kv_type, "queries");
    PUT(q, kv_new("q", ""));
    return q;
}

/* -----------------------------------------------------------------------------------------------
 */

static int two_label_fetches_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    krt_label_t foo_l[] = {{"foo", "1"}}, bar_l[] = {{"bar", "1"}};
    krt_labels_t foo = {foo_l, 1}, bar = {bar_l, 1};
    const krt_obj_t *const *f = NULL, *const *b = NULL;
    size_t nf = krt_fetch_labels(ctx, pods, &foo, &f);
    char fs[128];
    names_of(fs, sizeof(fs), f, nf);
    size_t nb = krt_fetch_labels(ctx, pods, &bar, &b);
    char bs[128];
    names_of(bs, sizeof(bs), b, nb);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "foo=%s;bar=%s", fs, bs));
}

static void test_fetch_same_collection_twice_with_different_label_filters(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out = krt_derive_new(env.e, q, &test_kv_type, "foo-bar", KRT_DERIVE_ONE,
                                           two_label_fetches_fn, pods);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/q=foo=;bar=");

    PUT(pods, pod_new("ns", "a", NULL, "foo=1"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=foo=a;bar=");

    /* Moving from the foo filter to the bar filter: leaving one and entering the other. */
    PUT(pods, pod_new("ns", "a", NULL, "bar=1"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=foo=;bar=a");

    /* Removing the label drops it: the object left a filter, so that counts as a change. */
    PUT(pods, pod_new("ns", "a", NULL, NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=foo=;bar=");

    /* An object neither filter matched, before or after: no recompute. */
    uint64_t before = test_recomputes(out);
    PUT(pods, pod_new("ns", "b", NULL, "baz=1"));
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(test_recomputes(out), before);

    /* Both filters at once. */
    PUT(pods, pod_new("ns", "b", NULL, "foo=1,bar=1"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=foo=b;bar=b");
    assert_int_equal(test_recomputes(out), before + 1);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static int key_and_all_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const krt_obj_t *a = krt_fetch_key(ctx, pods, "ns/a");
    const krt_obj_t *const *all = NULL;
    size_t n = krt_fetch(ctx, pods, NULL, &all);
    char ips[256] = "";
    for (size_t i = 0; i < n; i++)
        csv_add(ips, sizeof(ips), pod_ip(all[i]));
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "a=%s;all=%s", a ? pod_ip(a) : "-", ips));
}

static int key_only_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const krt_obj_t *a = krt_fetch_key(ctx, pods, "ns/a");
    return krt_emit(ctx, kv_new(krt_obj_key(in), a ? pod_ip(a) : "-"));
}

static void test_fetch_keyed_and_unfiltered_fetch_of_same_collection(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *both = krt_derive_new(env.e, q, &test_kv_type, "key-and-all", KRT_DERIVE_ONE,
                                            key_and_all_fn, pods);
    krt_collection_t *keyed =
        krt_derive_new(env.e, q, &test_kv_type, "key-only", KRT_DERIVE_ONE, key_only_fn, pods);
    test_rec_t rb, rk;
    test_rec_subscribe(&rb, both, false);
    test_rec_subscribe(&rk, keyed, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "b", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rb, "add/q=a=1.1.1.1;all=1.1.1.1,2.2.2.2");
    EXPECT_VALUES(&rk, "add/q=1.1.1.1");

    /* An update to another key: the unfiltered fetch must still recompute. */
    uint64_t kb = test_recomputes(keyed);
    uint64_t bb = test_recomputes(both);
    PUT(pods, pod_new("ns", "b", "2.2.2.3", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rb, "update/q=a=1.1.1.1;all=1.1.1.1,2.2.2.3");
    EXPECT_NO_EVENTS(&rk);
    assert_int_equal(test_recomputes(both), bb + 1);
    /* ...while a keyed-only fetch of the same collection ignores it. */
    assert_int_equal(test_recomputes(keyed), kb);

    PUT(pods, pod_new("ns", "a", "1.1.1.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rb, "update/q=a=1.1.1.2;all=1.1.1.2,2.2.2.3");
    EXPECT_VALUES(&rk, "update/q=1.1.1.2");

    DEL(pods, "ns/b");
    FLUSH(env.e);
    EXPECT_VALUES(&rb, "update/q=a=1.1.1.2;all=1.1.1.2");
    EXPECT_NO_EVENTS(&rk);

    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_VALUES(&rb, "update/q=a=-;all=");
    EXPECT_VALUES(&rk, "update/q=-");

    test_rec_dispose(&rb);
    test_rec_dispose(&rk);
    test_env_dispose(&env);
}

static bool same_ip(const krt_obj_t *old, const krt_obj_t *cur, void *ud)
{
    (void)ud;
    if (!old || !cur)
        return false;
    return !strcmp(pod_ip(old), pod_ip(cur));
}

static int partial_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const char *keys[] = {"ns/a"};
    krt_filter_t f = {.keys = keys, .nkeys = 1, .same = same_ip};
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch(ctx, pods, &f, &found);
    return krt_emit(ctx, kv_new(krt_obj_key(in), n ? pod_ip(found[0]) : "-"));
}

/* 140 distinct partial-fetch callbacks, all "same IP": more than a dependency can number (126),
 * so the last ones are held in the dependency's extension instead. */
#define SAME_IP_FN(n)                                                             \
    static bool same_ip_##n(const krt_obj_t *old, const krt_obj_t *cur, void *ud) \
    {                                                                             \
        return same_ip(old, cur, ud);                                             \
    }
#define SAME_IP_FN10(t)                                                                  \
    SAME_IP_FN(t##0)                                                                     \
    SAME_IP_FN(t##1) SAME_IP_FN(t##2) SAME_IP_FN(t##3) SAME_IP_FN(t##4) SAME_IP_FN(t##5) \
        SAME_IP_FN(t##6) SAME_IP_FN(t##7) SAME_IP_FN(t##8) SAME_IP_FN(t##9)
SAME_IP_FN10(1)
SAME_IP_FN10(2) SAME_IP_FN10(3) SAME_IP_FN10(4) SAME_IP_FN10(5) SAME_IP_FN10(6) SAME_IP_FN10(7)
    SAME_IP_FN10(8) SAME_IP_FN10(9) SAME_IP_FN10(10) SAME_IP_FN10(11) SAME_IP_FN10(12)
        SAME_IP_FN10(13) SAME_IP_FN10(14)
#define SAME_IP_REF10(t)                                                            \
    same_ip_##t##0, same_ip_##t##1, same_ip_##t##2, same_ip_##t##3, same_ip_##t##4, \
        same_ip_##t##5, same_ip_##t##6, same_ip_##t##7, same_ip_##t##8, same_ip_##t##9
            static const krt_same_cb same_ips[140] = {
                SAME_IP_REF10(1),  SAME_IP_REF10(2),  SAME_IP_REF10(3),  SAME_IP_REF10(4),
                SAME_IP_REF10(5),  SAME_IP_REF10(6),  SAME_IP_REF10(7),  SAME_IP_REF10(8),
                SAME_IP_REF10(9),  SAME_IP_REF10(10), SAME_IP_REF10(11), SAME_IP_REF10(12),
                SAME_IP_REF10(13), SAME_IP_REF10(14)};

/* Query "q<i>" fetches ns/a with callback i (and ns/a again with callback i + 1). */
static int many_partials_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    int i = atoi(krt_obj_key(in) + 1);
    const char *keys[] = {"ns/a"};
    krt_filter_t f = {.keys = keys, .nkeys = 1, .same = same_ips[i]};
    const krt_obj_t *const *out;
    size_t n = krt_fetch(ctx, pods, &f, &out);
    f.same = same_ips[(i + 1) % 140];
    krt_fetch(ctx, pods, &f, &out);
    return krt_emit(ctx, kv_new(krt_obj_key(in), n ? pod_ip(out[0]) : "-"));
}

static void test_fetch_partial_callbacks_beyond_the_numbered_ones_still_apply(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = test_env_init_static(&env, &test_kv_type, "queries");
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "partials", KRT_DERIVE_ONE, many_partials_fn, pods);
    for (int i = 0; i < 140; i++) {
        char key[8];
        snprintf(key, sizeof(key), "q%d", i);
        PUT(q, kv_new(key, ""));
    }
    PUT(pods, pod_new("ns", "a", "1", NULL));
    FLUSH(env.e);
    assert_string_equal(kv_get(out, "q139"), "1");
    /* A label change keeps the IP: every callback says "same", nothing recomputes. */
    uint64_t runs = test_recomputes(out);
    PUT(pods, pod_new("ns", "a", "1", "x=y"));
    FLUSH(env.e);
    assert_int_equal(test_recomputes(out), runs);
    /* An IP change: every query recomputes once. */
    PUT(pods, pod_new("ns", "a", "2", "x=y"));
    FLUSH(env.e);
    assert_int_equal(test_recomputes(out), runs + 140);
    assert_string_equal(kv_get(out, "q0"), "2");
    assert_string_equal(kv_get(out, "q139"), "2");
    json_t *d = krt_collection_dump(out);
    json_t *dep = json_array_get(
        json_object_get(json_object_get(json_object_get(d, "inputs"), "q130"), "dependencies"), 0);
    assert_true(json_is_true(json_object_get(dep, "partial")));
    json_decref(d);
    test_env_dispose(&env);
}

static void test_fetch_partial_change_to_unused_field_does_not_recompute(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "partial", KRT_DERIVE_ONE, partial_fn, pods);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "v=1"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/q=1.1.1.1");
    uint64_t runs = test_recomputes(out);

    /* Only the labels change: the projection is the same, so no recompute. */
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "v=2"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(test_recomputes(out), runs);

    /* A reset that changes the used field does recompute. */
    const krt_obj_t *next[] = {pod_new("ns", "a", "2.2.2.2", "v=2")};
    assert_int_equal(krt_static_reset(pods, next, 1), KRT_OK);
    CHECK(env.e);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=2.2.2.2");
    assert_int_equal(test_recomputes(out), runs + 1);

    /* Deletion is a change whatever the projection says. */
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=-");
    assert_int_equal(test_recomputes(out), runs + 2);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* The input side of a partial fetch: a pod becomes its IP; only IP changes recompute it. */
static int ip_of_input_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    return krt_emit(ctx, kv_new(krt_obj_key(in), pod_ip(in)));
}

static void test_fetch_partial_input_change_to_unused_field_does_not_recompute(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *out =
        krt_derive_new(env.e, pods, &test_kv_type, "ips", KRT_DERIVE_ONE, ip_of_input_fn, NULL);
    assert_int_equal(krt_derive_set_input_same(out, same_ip, NULL), KRT_OK);
    assert_int_equal(krt_derive_set_input_same(pods, same_ip, NULL), KRT_EINVAL); /* not derived */
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "v=1"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/a=1.1.1.1");
    uint64_t runs = test_recomputes(out);
    assert_int_equal(krt_derive_set_input_same(out, same_ip, NULL), KRT_EINVAL); /* too late */

    /* Labels only: the part read is the same, no recompute, and the input object is the new one
     * (a later recompute starts from it). */
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "v=2"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(test_recomputes(out), runs);
    CHECK(env.e);

    /* Twice in one flush, the second changing the IP: recomputed once, with the last object. */
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "v=3"));
    PUT(pods, pod_new("ns", "a", "3.3.3.3", "v=3"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/a=3.3.3.3");
    assert_int_equal(test_recomputes(out), runs + 1);

    /* Deletion always recomputes. */
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "delete/ns/a=3.3.3.3");
    CHECK(env.e);
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static int two_keys_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const krt_obj_t *a = krt_fetch_key(ctx, pods, "ns/a");
    const krt_obj_t *b = krt_fetch_key(ctx, pods, "ns/b");
    return krt_emit(
        ctx, kv_newf(krt_obj_key(in), "a=%s;b=%s", a ? pod_ip(a) : "-", b ? pod_ip(b) : "-"));
}

static int key_set_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const char *keys[] = {"ns/b", "ns/a"};
    krt_filter_t f = {.keys = keys, .nkeys = 2};
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch(ctx, pods, &f, &found);
    char buf[128];
    names_of(buf, sizeof(buf), found, n);
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

/* Fetches as many of ns/a, ns/b, ns/c as the query's value says (0 to 3). */
static int n_keys_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const char *keys[] = {"ns/a", "ns/b", "ns/c"};
    krt_filter_t f = {.keys = keys, .nkeys = (size_t)atoi(kv_value(in))};
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch(ctx, pods, &f, &found);
    char buf[128];
    names_of(buf, sizeof(buf), found, n);
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

/* The number of keys of the one dependency of input q, from the dump. */
static size_t dumped_keys(krt_collection_t *c)
{
    json_t *d = krt_collection_dump(c);
    json_t *deps =
        json_object_get(json_object_get(json_object_get(d, "inputs"), "q"), "dependencies");
    assert_int_equal(json_array_size(deps), 1);
    json_t *dep = json_array_get(deps, 0);
    assert_string_equal(json_string_value(json_object_get(dep, "anchor")), "keys");
    size_t n = json_array_size(json_object_get(dep, "keys"));
    json_decref(d);
    return n;
}

/* A dependency holds one key inline and several in an array: moving between the two (and to no
 * key at all) as the fetch changes must leave exactly the new keys registered. */
static void test_fetch_key_count_changes_between_one_many_and_none(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = test_env_init_static(&env, &test_kv_type, "queries");
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "n-keys", KRT_DERIVE_ONE, n_keys_fn, pods);
    PUT(pods, pod_new("ns", "a", "1", NULL));
    PUT(pods, pod_new("ns", "b", "2", NULL));
    PUT(pods, pod_new("ns", "c", "3", NULL));
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    static const struct {
        const char *n, *want;
    } steps[] = {{"1", "a"}, {"3", "a,b,c"}, {"0", ""}, {"3", "a,b,c"}, {"1", "a"}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        PUT(q, kv_new("q", steps[i].n));
        FLUSH(env.e);
        assert_string_equal(kv_get(out, "q"), steps[i].want);
        assert_int_equal(dumped_keys(out), (size_t)atoi(steps[i].n));
        /* Each pod recomputes q exactly when it is among the fetched keys. */
        const char *names[] = {"a", "b", "c"};
        for (int k = 0; k < 3; k++) {
            uint64_t runs = test_recomputes(out);
            PUT(pods, pod_new("ns", names[k], "9", NULL));
            FLUSH(env.e);
            assert_int_equal(test_recomputes(out), runs + (k < atoi(steps[i].n) ? 1 : 0));
        }
    }
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

/* Fetches ns/a as many times as the query's value says. */
static int fetch_a_n_times_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    int n = atoi(kv_value(in)), found = 0;
    for (int i = 0; i < n; i++)
        found += krt_fetch_key(ctx, pods, "ns/a") != NULL;
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%d", found));
}

/* The reverse-index entry of a key holds one input inline and a set for two or more (D4, checked
 * by krt_engine_check after every flush): moving between one, several and no readers, with an
 * input counted twice, keeps exactly the readers recomputing. */
static void test_fetch_key_readers_move_between_one_and_many(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = test_env_init_static(&env, &test_kv_type, "queries");
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out = krt_derive_new(env.e, q, &test_kv_type, "reads-a", KRT_DERIVE_ONE,
                                           fetch_a_n_times_fn, pods);
    PUT(pods, pod_new("ns", "a", "1", NULL));
    /* Fetch counts of q1, q2, q3 at each step. */
    static const int steps[][3] = {{1, 0, 0}, {2, 0, 0}, {2, 1, 0}, {2, 1, 1}, {0, 1, 1},
                                   {0, 0, 1}, {2, 0, 0}, {0, 0, 0}, {1, 1, 0}, {1, 0, 0}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        for (int k = 0; k < 3; k++) {
            char key[8];
            snprintf(key, sizeof(key), "q%d", k + 1);
            PUT(q, kv_newf(key, "%d", steps[i][k]));
        }
        FLUSH(env.e);
        int readers = 0;
        for (int k = 0; k < 3; k++)
            readers += steps[i][k] > 0;
        krt_stats_t st = test_stats(out);
        uint64_t runs = st.recomputes;
        PUT(pods, pod_new("ns", "a", i % 2 ? "1" : "2", NULL));
        FLUSH(env.e);
        assert_int_equal(test_recomputes(out), runs + (uint64_t)readers);
        for (int k = 0; k < 3; k++) {
            char key[8], want[8];
            snprintf(key, sizeof(key), "q%d", k + 1);
            snprintf(want, sizeof(want), "%d", steps[i][k]);
            assert_string_equal(kv_get(out, key), want);
        }
    }
    test_env_dispose(&env);
}

static void test_fetch_multiple_keys_each_trigger_recompute(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *two =
        krt_derive_new(env.e, q, &test_kv_type, "two-keys", KRT_DERIVE_ONE, two_keys_fn, pods);
    krt_collection_t *set =
        krt_derive_new(env.e, q, &test_kv_type, "key-set", KRT_DERIVE_ONE, key_set_fn, pods);
    test_rec_t rt, rs;
    test_rec_subscribe(&rt, two, false);
    test_rec_subscribe(&rs, set, false);
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "add/q=a=-;b=-");
    EXPECT_VALUES(&rs, "add/q=");

    PUT(pods, pod_new("ns", "a", "1", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "update/q=a=1;b=-");
    EXPECT_VALUES(&rs, "update/q=a");
    PUT(pods, pod_new("ns", "b", "2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "update/q=a=1;b=2");
    EXPECT_VALUES(&rs, "update/q=a,b");
    PUT(pods, pod_new("ns", "b", "3", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "update/q=a=1;b=3");
    EXPECT_NO_EVENTS(&rs);
    PUT(pods, pod_new("ns", "a", "4", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "update/q=a=4;b=3");
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "update/q=a=-;b=3");
    EXPECT_VALUES(&rs, "update/q=b");
    DEL(pods, "ns/b");
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "update/q=a=-;b=-");
    EXPECT_VALUES(&rs, "update/q=");

    /* The other order, and both keys in one flush: one recompute, one event. */
    uint64_t runs = test_recomputes(two);
    PUT(pods, pod_new("ns", "b", "5", NULL));
    PUT(pods, pod_new("ns", "a", "6", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rt, "update/q=a=6;b=5");
    EXPECT_VALUES(&rs, "update/q=a,b");
    assert_int_equal(test_recomputes(two), runs + 1);

    /* A key nobody fetched changes nothing. */
    PUT(pods, pod_new("ns", "c", "7", NULL));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rt);
    EXPECT_NO_EVENTS(&rs);
    assert_int_equal(test_recomputes(two), runs + 1);

    test_rec_dispose(&rt);
    test_rec_dispose(&rs);
    test_env_dispose(&env);
}

/* Pod → kv(pod key, IP of the waypoint its label names): a keyed fetch whose key follows a label.
 */
static int waypoint_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *wps = ud;
    const char *w = pod_label(in, "waypoint");
    if (!w)
        return KRT_OK;
    char key[128];
    snprintf(key, sizeof(key), "ns/%s", w);
    const krt_obj_t *wp = krt_fetch_key(ctx, wps, key);
    return krt_emit(ctx, kv_new(krt_obj_key(in), wp ? kv_value(wp) : "none"));
}

static void test_fetch_filter_key_change_leaves_no_stale_dependencies(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *wps = test_env_init_static(&env, &test_kv_type, "waypoints");
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out =
        krt_derive_new(env.e, pods, &test_kv_type, "pod-wp", KRT_DERIVE_ONE, waypoint_fn, wps);
    PUT(wps, kv_new("ns/waypoint-old", "10.0.0.1"));
    PUT(wps, kv_new("ns/waypoint-new", "10.0.0.2"));
    PUT(pods, pod_new("ns", "pod1", NULL, "waypoint=waypoint-old"));
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/ns/pod1=10.0.0.1");
    assert_int_equal(test_stats(out).deps, 1);
    char *d = test_dump_str(out);
    assert_non_null(strstr(d, "ns/waypoint-old"));
    assert_null(strstr(d, "ns/waypoint-new"));
    free(d);

    PUT(pods, pod_new("ns", "pod1", NULL, "waypoint=waypoint-new"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/pod1=10.0.0.2");
    /* The reverse index holds the new key only. */
    assert_int_equal(test_stats(out).deps, 1);
    d = test_dump_str(out);
    assert_non_null(strstr(d, "ns/waypoint-new"));
    assert_null(strstr(d, "waypoint-old"));
    free(d);

    /* The old waypoint no longer reaches the pod. */
    uint64_t runs = test_recomputes(out);
    PUT(wps, kv_new("ns/waypoint-old", "10.0.0.9"));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(test_recomputes(out), runs);
    PUT(wps, kv_new("ns/waypoint-new", "10.0.0.3"));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/pod1=10.0.0.3");
    assert_int_equal(test_recomputes(out), runs + 1);

    /* After the pod is deleted nothing remains. */
    DEL(pods, "ns/pod1");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/ns/pod1");
    krt_stats_t s = test_stats(out);
    assert_int_equal(s.deps, 0);
    assert_int_equal(s.inputs, 0);
    assert_int_equal(s.outputs, 0);
    d = test_dump_str(out);
    assert_null(strstr(d, "ns/waypoint"));
    free(d);
    runs = test_recomputes(out);
    PUT(wps, kv_new("ns/waypoint-new", "10.0.0.4"));
    FLUSH(env.e);
    assert_int_equal(test_recomputes(out), runs);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

typedef struct one_probe {
    krt_collection_t *pods;
    int rc;
    bool got;
} one_probe_t;

static int fetch_one_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    one_probe_t *p = ud;
    krt_label_t l[] = {{"app", "x"}};
    krt_labels_t labels = {l, 1};
    krt_filter_t f = {.labels = &labels};
    const krt_obj_t *o = (const krt_obj_t *)0x1; /* must be overwritten */
    p->rc = krt_fetch_one(ctx, p->pods, &f, &o);
    p->got = o != NULL;
    if (p->rc != KRT_OK)
        assert_null(o);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%s", o ? pod_name(o) : krt_err_name(p->rc)));
}

static void test_fetch_one_with_two_matches_returns_emultiple(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    one_probe_t p = {.pods = pods};
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "one", KRT_DERIVE_ONE, fetch_one_fn, &p);
    FLUSH(env.e);
    /* No match: KRT_OK and NULL. */
    assert_int_equal(p.rc, KRT_OK);
    assert_false(p.got);

    PUT(pods, pod_new("ns", "a", NULL, "app=x"));
    FLUSH(env.e);
    assert_int_equal(p.rc, KRT_OK);
    assert_string_equal(kv_get(out, "q"), "a");

    PUT(pods, pod_new("ns", "b", NULL, "app=x"));
    FLUSH(env.e);
    assert_int_equal(p.rc, KRT_EMULTIPLE);
    assert_false(p.got);
    assert_string_equal(kv_get(out, "q"), "KRT_EMULTIPLE");

    /* The dependency was recorded in the failing case too: removing one match recomputes. */
    DEL(pods, "ns/a");
    FLUSH(env.e);
    assert_int_equal(p.rc, KRT_OK);
    assert_string_equal(kv_get(out, "q"), "b");

    test_env_dispose(&env);
}

typedef struct order_probe {
    krt_collection_t *later;
    int runs;
    bool got;
} order_probe_t;

static int fetch_later_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    order_probe_t *p = ud;
    p->runs++;
    /* Emits first, so the test proves the failed run's outputs are dropped. */
    krt_emit(ctx, kv_new(krt_obj_key(in), "before-fetch"));
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch(ctx, p->later, NULL, &found);
    p->got = n > 0;
    return KRT_OK;
}

static void test_fetch_of_a_collection_created_later_fails_with_eorder(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    order_probe_t p = {0};
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "early", KRT_DERIVE_ONE, fetch_later_fn, &p);
    p.later = krt_static_new(env.e, &test_kv_type, "later", true);
    PUT(p.later, kv_new("x", "1"));
    test_flush_expect(env.e, KRT_EORDER);
    assert_int_equal(p.runs, 1);
    assert_false(p.got);
    assert_int_equal(krt_collection_len(out), 0);
    assert_int_equal(test_stats(out).errors, 1);
    assert_int_equal(test_stats(out).deps, 0);
    /* Nothing recorded on |later|: it can be freed. */
    assert_int_equal(krt_collection_free(p.later), KRT_OK);
    p.later = NULL;
    CHECK(env.e);
    test_env_dispose(&env);
}

static void test_fetch_of_itself_fails_with_eorder(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    order_probe_t p = {0};
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "self", KRT_DERIVE_ONE, fetch_later_fn, &p);
    p.later = out;
    test_flush_expect(env.e, KRT_EORDER);
    assert_int_equal(krt_collection_len(out), 0);
    assert_int_equal(test_stats(out).errors, 1);
    test_env_dispose(&env);
}

/* Pod → kv(pod key, names of the services selecting it). */
typedef struct sel_probe {
    krt_collection_t *svcs;
    bool nonempty;
} sel_probe_t;

static int selecting_services_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    sel_probe_t *p = ud;
    krt_labels_t labels;
    assert_true(test_pod_type.labels(in, &labels));
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch_selects(ctx, p->svcs, &labels, p->nonempty, &found);
    char buf[256] = "";
    for (size_t i = 0; i < n; i++)
        csv_add(buf, sizeof(buf), test_svc(found[i])->name);
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

static void test_fetch_selects_with_and_without_empty_selectors(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *svcs = test_env_init_static(&env, &test_svc_type, "services");
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    sel_probe_t any = {.svcs = svcs, .nonempty = false};
    sel_probe_t nonempty = {.svcs = svcs, .nonempty = true};
    krt_collection_t *all = krt_derive_new(env.e, pods, &test_kv_type, "selected-by",
                                           KRT_DERIVE_ONE, selecting_services_fn, &any);
    krt_collection_t *ne = krt_derive_new(env.e, pods, &test_kv_type, "selected-by-nonempty",
                                          KRT_DERIVE_ONE, selecting_services_fn, &nonempty);
    PUT(svcs, svc_new("ns", "everything", NULL, 80));
    PUT(svcs, svc_new("ns", "web", "app=web", 80));
    PUT(svcs, svc_new("ns", "web-v2", "app=web,version=2", 80));
    PUT(pods, pod_new("ns", "p1", NULL, "app=web,version=1"));
    PUT(pods, pod_new("ns", "p2", NULL, "app=web,version=2"));
    PUT(pods, pod_new("ns", "p3", NULL, NULL));
    FLUSH(env.e);
    assert_string_equal(kv_get(all, "ns/p1"), "everything,web");
    assert_string_equal(kv_get(all, "ns/p2"), "everything,web,web-v2");
    assert_string_equal(kv_get(all, "ns/p3"), "everything");
    assert_string_equal(kv_get(ne, "ns/p1"), "web");
    assert_string_equal(kv_get(ne, "ns/p2"), "web,web-v2");
    assert_string_equal(kv_get(ne, "ns/p3"), "");

    /* A selector change reaches exactly the pods it selects before or after. */
    test_rec_t rec;
    test_rec_subscribe(&rec, ne, false);
    PUT(svcs, svc_new("ns", "web-v2", "version=1", 80));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/ns/p1=web,web-v2", "update/ns/p2=web");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static int key_and_label_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const char *keys[] = {"ns/a", "ns/b"};
    krt_label_t l[] = {{"app", "x"}};
    krt_labels_t labels = {l, 1};
    krt_filter_t f = {.keys = keys, .nkeys = 2, .labels = &labels};
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch(ctx, pods, &f, &found);
    char buf[128];
    names_of(buf, sizeof(buf), found, n);
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

static void test_fetch_filter_members_combine_with_and(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = query_env_init(&env);
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    krt_collection_t *out = krt_derive_new(env.e, q, &test_kv_type, "keys-and-labels",
                                           KRT_DERIVE_ONE, key_and_label_fn, pods);
    PUT(pods, pod_new("ns", "a", NULL, "app=x"));
    PUT(pods, pod_new("ns", "b", NULL, "app=y"));
    PUT(pods, pod_new("ns", "c", NULL, "app=x"));
    FLUSH(env.e);
    assert_string_equal(kv_get(out, "q"), "a");
    PUT(pods, pod_new("ns", "b", NULL, "app=x"));
    FLUSH(env.e);
    assert_string_equal(kv_get(out, "q"), "a,b");
    PUT(pods, pod_new("ns", "a", NULL, "app=z"));
    FLUSH(env.e);
    assert_string_equal(kv_get(out, "q"), "b");
    test_env_dispose(&env);
}

static int all_pods_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch(ctx, pods, NULL, &found);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%zu", n));
}

static int labelled_pods_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *pods = ud;
    krt_label_t l[] = {{"app", "x"}};
    krt_labels_t labels = {l, 1};
    const krt_obj_t *const *found = NULL;
    size_t n = krt_fetch_labels(ctx, pods, &labels, &found);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "%zu", n));
}

static void test_fetch_only_unindexable_fetches_scan(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *src = krt_static_new(env.e, &test_kv_type, "queries", true);
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof(k), "q%d", i);
        PUT(src, kv_new(k, ""));
    }
    krt_collection_t *scan =
        krt_derive_new(env.e, src, &test_kv_type, "count-all", KRT_DERIVE_ONE, all_pods_fn, pods);
    krt_collection_t *idx = krt_derive_new(env.e, src, &test_kv_type, "count-labelled",
                                           KRT_DERIVE_ONE, labelled_pods_fn, pods);
    FLUSH(env.e);
    PUT(pods, pod_new("ns", "a", NULL, "app=x"));
    FLUSH(env.e);
    assert_string_equal(kv_get(scan, "q3"), "1");
    assert_string_equal(kv_get(idx, "q3"), "1");
    /* Labels are indexed: no dependant was checked one by one. */
    assert_int_equal(test_stats(idx).scans, 0);
    /* A bare fetch cannot be indexed: its dependants were scanned, and the scan was counted. */
    assert_true(test_stats(scan).scans > 0);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_same_collection_twice_with_different_label_filters),
        cmocka_unit_test(test_fetch_keyed_and_unfiltered_fetch_of_same_collection),
        cmocka_unit_test(test_fetch_partial_change_to_unused_field_does_not_recompute),
        cmocka_unit_test(test_fetch_partial_input_change_to_unused_field_does_not_recompute),
        cmocka_unit_test(test_fetch_partial_callbacks_beyond_the_numbered_ones_still_apply),
        cmocka_unit_test(test_fetch_multiple_keys_each_trigger_recompute),
        cmocka_unit_test(test_fetch_key_count_changes_between_one_many_and_none),
        cmocka_unit_test(test_fetch_key_readers_move_between_one_and_many),
        cmocka_unit_test(test_fetch_filter_key_change_leaves_no_stale_dependencies),
        cmocka_unit_test(test_fetch_one_with_two_matches_returns_emultiple),
        cmocka_unit_test(test_fetch_of_a_collection_created_later_fails_with_eorder),
        cmocka_unit_test(test_fetch_of_itself_fails_with_eorder),
        cmocka_unit_test(test_fetch_selects_with_and_without_empty_selectors),
        cmocka_unit_test(test_fetch_filter_members_combine_with_and),
        cmocka_unit_test(test_fetch_only_unindexable_fetches_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
