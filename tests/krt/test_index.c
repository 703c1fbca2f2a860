/*
 * Indexes: named secondary keys over a collection, lookups, fetches through an index (recorded as
 * dependencies on one bucket), and the index as a collection of buckets.
 *
 * Ported in behaviour from Istio's index_test.go (TestIndex, TestIndexCollection,
 * TestIndexAsCollection, TestReverseIndex). One deliberate difference, documented in krt.h: a
 * bucket whose membership changes is reported as an update, not as an add.
 */
#include "krt_test_util.h"

static void extract_ip(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    if (pod_ip(o)[0])
        assert_int_equal(krt_keys_add(keys, pod_ip(o)), KRT_OK);
}

/* Every label value, plus a duplicate that must be ignored. */
static void extract_label_values(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    const test_pod_t *p = test_pod(o);
    for (size_t i = 0; i < p->labels.len; i++) {
        assert_int_equal(krt_keys_add(keys, p->labels.items[i].value), KRT_OK);
        assert_int_equal(krt_keys_add(keys, p->labels.items[i].value), KRT_OK);
    }
}

/* Joins the names of the pods in bucket |key| of |idx| (libc memory, caller frees). */
static char *bucket(const krt_index_t *idx, const char *key)
{
    const krt_obj_t *objs[16];
    size_t n = krt_index_lookup(idx, key, objs, 16);
    assert_true(n <= 16);
    const char *names[16];
    for (size_t i = 0; i < n; i++)
        names[i] = pod_name(objs[i]);
    return test_strlist_join(names, n);
}

#define EXPECT_BUCKET(idx, key, want)      \
    do {                                   \
        char *got_ = bucket((idx), (key)); \
        assert_string_equal(got_, (want)); \
        free(got_);                        \
    } while (0)

static void test_index_moves_objects_between_buckets_and_shares_buckets(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    /* Built from the current content when created. */
    krt_index_t *idx = krt_index_new(pods, "ip", extract_ip, NULL);
    assert_non_null(idx);
    CHECK(env.e);
    assert_ptr_equal(krt_index_source(idx), pods);
    EXPECT_BUCKET(idx, "1.1.1.1", "a");

    PUT(pods, pod_new("ns", "b", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_BUCKET(idx, "2.2.2.2", "b");

    /* a moves: it leaves its old bucket and shares b's. */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_BUCKET(idx, "1.1.1.1", "");
    EXPECT_BUCKET(idx, "2.2.2.2", "a b");
    const krt_obj_t *one[1];
    assert_int_equal(krt_index_lookup(idx, "2.2.2.2", one, 1), 2);
    assert_string_equal(pod_name(one[0]), "a");

    /* An object without index keys is in no bucket. */
    PUT(pods, pod_new("ns", "b", NULL, NULL));
    FLUSH(env.e);
    EXPECT_BUCKET(idx, "2.2.2.2", "a");
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_BUCKET(idx, "2.2.2.2", "");
    EXPECT_BUCKET(idx, "missing", "");

    test_env_dispose(&env);
}


/* An extractor that cannot read its object says so: the index is rebuilt before its next use
 * instead of silently missing the object. */
static int g_fail_reads;

static void extract_ip_or_fail(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    if (g_fail_reads > 0) {
        g_fail_reads--;
        krt_keys_fail(keys);
        return;
    }
    extract_ip(o, keys, NULL);
}

/* A bucket is allocated with room for one object and grows with its members: filling one in
 * reverse key order (each insertion at the front) and emptying it from the middle keeps it
 * sorted and complete (C3, checked at every step). */
static void test_index_bucket_grows_and_shrinks_in_key_order(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_index_t *idx = krt_index_new(pods, "ip", extract_ip, NULL);
    assert_non_null(idx);
    const char *names[] = {"j", "i", "h", "g", "f", "e", "d", "c", "b", "a"};
    char want[64] = "";
    for (int i = 0; i < 10; i++) {
        PUT(pods, pod_new("ns", names[i], "9.9.9.9", NULL));
        char next[64];
        snprintf(next, sizeof(next), "%s%s%s", names[i], want[0] ? " " : "", want);
        snprintf(want, sizeof(want), "%s", next);
        EXPECT_BUCKET(idx, "9.9.9.9", want);
    }
    DEL(pods, "ns/e");
    DEL(pods, "ns/a");
    DEL(pods, "ns/j");
    EXPECT_BUCKET(idx, "9.9.9.9", "b c d f g h i");
    const char *rest[] = {"b", "c", "d", "f", "g", "h", "i"};
    for (int i = 0; i < 7; i++) {
        char key[8];
        snprintf(key, sizeof(key), "ns/%s", rest[i]);
        DEL(pods, key);
    }
    EXPECT_BUCKET(idx, "9.9.9.9", "");
    PUT(pods, pod_new("ns", "z", "9.9.9.9", NULL)); /* a new bucket under the same key */
    EXPECT_BUCKET(idx, "9.9.9.9", "z");
    FLUSH(env.e);
    test_env_dispose(&env);
}

static void test_index_extractor_failure_rebuilds_the_index(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_index_t *idx = krt_index_new(pods, "ip", extract_ip_or_fail, NULL);
    assert_non_null(idx);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    g_fail_reads = 1;
    PUT(pods, pod_new("ns", "b", "1.1.1.1", NULL));
    FLUSH(env.e);
    CHECK(env.e); /* a stale index is exempt from C3 until it is rebuilt */
    EXPECT_BUCKET(idx, "1.1.1.1", "a b");
    CHECK(env.e);
    test_env_dispose(&env);
}

static void test_index_of_the_same_name_is_shared(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_index_t *a = krt_index_new(pods, "ip", extract_ip, NULL);
    krt_index_t *b = krt_index_new(pods, "ip", extract_label_values, NULL);
    assert_ptr_equal(a, b);
    krt_index_t *c = krt_index_new(pods, "labels", extract_label_values, NULL);
    assert_ptr_not_equal(a, c);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", "app=x,team=x"));
    FLUSH(env.e);
    /* The first extractor is the one used. */
    EXPECT_BUCKET(a, "1.1.1.1", "a");
    /* Duplicate index keys of one object count once. */
    EXPECT_BUCKET(c, "x", "a");
    test_env_dispose(&env);
}

static void test_index_namespace_uses_the_type_accessor(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *kvs = krt_static_new(env.e, &test_kv_type, "kvs", true);
    krt_index_t *ns = krt_index_namespace(pods);
    assert_non_null(ns);
    assert_ptr_equal(krt_index_namespace(pods), ns);
    assert_null(krt_index_namespace(kvs));
    PUT(pods, pod_new("ns1", "a", NULL, NULL));
    PUT(pods, pod_new("ns2", "b", NULL, NULL));
    PUT(pods, pod_new("ns1", "c", NULL, NULL));
    FLUSH(env.e);
    EXPECT_BUCKET(ns, "ns1", "a c");
    EXPECT_BUCKET(ns, "ns2", "b");
    test_env_dispose(&env);
}

/* Records "op/KEY:members" for index objects. */
static void bucket_events_cb(const krt_batch_t *b, void *ud)
{
    test_strlist_t *l = ud;
    for (size_t i = 0; i < b->len; i++) {
        const krt_event_t *ev = &b->events[i];
        const krt_obj_t *o = krt_event_latest(ev);
        assert_ptr_equal(o->type, &krt_index_obj_type);
        char members[256] = "";
        if (ev->cur) {
            size_t n = 0;
            const krt_obj_t *const *items = krt_index_obj_items(ev->cur, &n);
            for (size_t k = 0; k < n; k++) {
                if (k)
                    strcat(members, ",");
                strcat(members, pod_name(items[k]));
            }
        }
        test_strlist_push(l, "%s/%s:%s", test_op_name(ev->op), krt_obj_key(o), members);
    }
}

static void test_index_collection_reports_bucket_changes(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_index_t *idx = krt_index_new(pods, "ip", extract_ip, NULL);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "b", "2.2.2.2", NULL));
    FLUSH(env.e);
    krt_collection_t *ic = krt_index_collection(idx);
    assert_non_null(ic);
    assert_ptr_equal(krt_index_collection(idx), ic);
    CHECK(env.e);
    FLUSH(env.e);
    test_strlist_t ev = {0};
    assert_non_null(krt_collection_subscribe(ic, bucket_events_cb, &ev, true));
    EXPECT_STRS(&ev, "add/1.1.1.1:a", "add/2.2.2.2:b");

    /* a moves into b's bucket: its old bucket empties (delete), b's changes (update). */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_STRS(&ev, "delete/1.1.1.1:", "update/2.2.2.2:a,b");
    /* A new bucket is an add. */
    PUT(pods, pod_new("ns", "c", "3.3.3.3", NULL));
    FLUSH(env.e);
    EXPECT_STRS(&ev, "add/3.3.3.3:c");
    DEL(pods, "ns/b");
    FLUSH(env.e);
    EXPECT_STRS(&ev, "update/2.2.2.2:a");
    DEL(pods, "ns/a");
    DEL(pods, "ns/c");
    FLUSH(env.e);
    EXPECT_STRS(&ev, "delete/2.2.2.2:", "delete/3.3.3.3:");
    assert_int_equal(krt_collection_len(ic), 0);

    test_strlist_dispose(&ev);
    test_env_dispose(&env);
}

static void test_index_as_collection_counts_pods_per_ip(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_index_t *idx = krt_index_new(pods, "ip", extract_ip, NULL);
    krt_collection_t *ic = krt_index_collection(idx);
    krt_collection_t *counts = krt_derive_new(env.e, ic, &test_kv_type, "pods-per-ip",
                                              KRT_DERIVE_ONE, test_count_members, NULL);
    assert_non_null(counts);
    test_rec_t rec;
    test_rec_subscribe(&rec, counts, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "b", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "c", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/1.1.1.1=2", "add/2.2.2.2=1");
    EXPECT_KEYS(counts, "1.1.1.1 2.2.2.2");
    EXPECT_KEYS(ic, "1.1.1.1 2.2.2.2");
    assert_null(krt_collection_get(ic, "9.9.9.9"));
    assert_null(krt_collection_get(counts, "9.9.9.9"));
    size_t n = 0;
    krt_index_obj_items(krt_collection_get(ic, "1.1.1.1"), &n);
    assert_int_equal(n, 2);

    PUT(pods, pod_new("ns", "b", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/1.1.1.1=1", "update/2.2.2.2=2");
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_EVENTS(&rec, "delete/1.1.1.1");
    assert_string_equal(kv_get(counts, "2.2.2.2"), "2");

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

typedef struct two_index {
    krt_index_t *ip;
    krt_index_t *ns;
    krt_collection_t *pods;
} two_index_t;

static void names_csv(char *buf, size_t cap, const krt_obj_t *const *objs, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strncat(buf, ",", cap - strlen(buf) - 1);
        strncat(buf, pod_name(objs[i]), cap - strlen(buf) - 1);
    }
}

static int three_index_fetches_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    two_index_t *t = ud;
    const krt_obj_t *const *o = NULL;
    char a[64], b[64], c[64];
    size_t n = krt_fetch_index(ctx, t->ip, "1.1.1.1", &o);
    names_csv(a, sizeof(a), o, n);
    n = krt_fetch_index(ctx, t->ip, "2.2.2.2", &o);
    names_csv(b, sizeof(b), o, n);
    n = krt_fetch_index(ctx, t->ns, "ns2", &o);
    names_csv(c, sizeof(c), o, n);
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "ip1=%s;ip2=%s;ns2=%s", a, b, c));
}

static void test_index_fetch_of_two_keys_and_of_a_second_index(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = test_env_init_static(&env, &test_kv_type, "queries");
    PUT(q, kv_new("q", ""));
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    two_index_t t = {.ip = krt_index_new(pods, "ip", extract_ip, NULL),
                     .ns = krt_index_namespace(pods),
                     .pods = pods};
    krt_collection_t *out = krt_derive_new(env.e, q, &test_kv_type, "by-index", KRT_DERIVE_ONE,
                                           three_index_fetches_fn, &t);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    PUT(pods, pod_new("ns1", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns1", "b", "2.2.2.2", NULL));
    PUT(pods, pod_new("ns2", "c", "3.3.3.3", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/q=ip1=a;ip2=b;ns2=c");
    uint64_t runs = test_recomputes(out);

    PUT(pods, pod_new("ns1", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=ip1=;ip2=a,b;ns2=c");
    assert_int_equal(test_recomputes(out), runs + 1);

    /* A pod in none of the three buckets, before or after: no recompute. */
    PUT(pods, pod_new("ns1", "d", "4.4.4.4", NULL));
    FLUSH(env.e);
    PUT(pods, pod_new("ns1", "d", "5.5.5.5", NULL));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(test_recomputes(out), runs + 1);

    /* Moving into the second index's bucket recomputes. */
    PUT(pods, pod_new("ns2", "e", "5.5.5.5", NULL));
    FLUSH(env.e);
    assert_int_equal(test_recomputes(out), runs + 2);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static int index_and_keys_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    two_index_t *t = ud;
    const krt_obj_t *const *o = NULL;
    size_t nip = krt_fetch_index(ctx, t->ip, "1.1.1.1", &o);
    char byip[64];
    names_csv(byip, sizeof(byip), o, nip);
    const char *keys[] = {"ns/a", "ns/b"};
    krt_filter_t f = {.keys = keys, .nkeys = 2};
    size_t nk = krt_fetch(ctx, t->pods, &f, &o);
    char bykey[128] = "";
    for (size_t i = 0; i < nk; i++) {
        if (i)
            strcat(bykey, ",");
        strcat(bykey, pod_name(o[i]));
        strcat(bykey, "@");
        strcat(bykey, pod_ip(o[i]));
    }
    return krt_emit(ctx, kv_newf(krt_obj_key(in), "byip=%s;bykey=%s", byip, bykey));
}

static void test_index_fetch_and_key_fetch_of_one_collection_in_one_transformation(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = test_env_init_static(&env, &test_kv_type, "queries");
    PUT(q, kv_new("q", ""));
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    two_index_t t = {.ip = krt_index_new(pods, "ip", extract_ip, NULL), .pods = pods};
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "reverse", KRT_DERIVE_ONE, index_and_keys_fn, &t);
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    PUT(pods, pod_new("ns", "b", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/q=byip=a;bykey=a@1.1.1.1,b@2.2.2.2");

    /* Reaches the transformation through the index only. */
    PUT(pods, pod_new("ns", "c", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=byip=a,c;bykey=a@1.1.1.1,b@2.2.2.2");
    /* Through the keys only. */
    PUT(pods, pod_new("ns", "b", "2.2.2.3", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=byip=a,c;bykey=a@1.1.1.1,b@2.2.2.3");
    /* Through both. */
    PUT(pods, pod_new("ns", "a", "3.3.3.3", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=byip=c;bykey=a@3.3.3.3,b@2.2.2.3");
    /* Through the index, leaving the bucket. */
    uint64_t runs = test_recomputes(out);
    DEL(pods, "ns/c");
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q=byip=;bykey=a@3.3.3.3,b@2.2.2.3");
    assert_int_equal(test_recomputes(out), runs + 1);
    /* Through neither. */
    PUT(pods, pod_new("ns", "z", "9.9.9.9", NULL));
    FLUSH(env.e);
    EXPECT_NO_EVENTS(&rec);
    assert_int_equal(test_recomputes(out), runs + 1);

    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

static int index_filter_with_labels_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    two_index_t *t = ud;
    krt_label_t l[] = {{"app", "x"}};
    krt_labels_t labels = {l, 1};
    krt_filter_t f = {.index = t->ns, .index_key = "ns1", .labels = &labels};
    const krt_obj_t *const *o = NULL;
    size_t n = krt_fetch(ctx, t->pods, &f, &o);
    char buf[64];
    names_csv(buf, sizeof(buf), o, n);
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

static void test_index_filter_combines_with_labels(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *q = test_env_init_static(&env, &test_kv_type, "queries");
    PUT(q, kv_new("q", ""));
    krt_collection_t *pods = krt_static_new(env.e, &test_pod_type, "pods", true);
    two_index_t t = {.ns = krt_index_namespace(pods), .pods = pods};
    krt_collection_t *out = krt_derive_new(env.e, q, &test_kv_type, "ns1-app-x", KRT_DERIVE_ONE,
                                           index_filter_with_labels_fn, &t);
    PUT(pods, pod_new("ns1", "a", NULL, "app=x"));
    PUT(pods, pod_new("ns1", "b", NULL, "app=y"));
    PUT(pods, pod_new("ns2", "c", NULL, "app=x"));
    FLUSH(env.e);
    assert_string_equal(kv_get(out, "q"), "a");
    PUT(pods, pod_new("ns1", "b", NULL, "app=x"));
    FLUSH(env.e);
    assert_string_equal(kv_get(out, "q"), "a,b");
    test_env_dispose(&env);
}

static int pods_ip_kv(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    return krt_emit(ctx, pod_copy(in));
}

static void test_index_on_a_derived_collection_follows_its_outputs(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *copy =
        krt_derive_new(env.e, pods, &test_pod_type, "copy", KRT_DERIVE_ONE, pods_ip_kv, NULL);
    krt_index_t *idx = krt_index_new(copy, "ip", extract_ip, NULL);
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    FLUSH(env.e);
    EXPECT_BUCKET(idx, "1.1.1.1", "a");
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_BUCKET(idx, "1.1.1.1", "");
    EXPECT_BUCKET(idx, "2.2.2.2", "a");
    DEL(pods, "ns/a");
    FLUSH(env.e);
    EXPECT_BUCKET(idx, "2.2.2.2", "");
    test_env_dispose(&env);
}

typedef struct via_index {
    krt_index_t *idx;
} via_index_t;

static int fetch_bucket_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    via_index_t *v = ud;
    const krt_obj_t *const *o = NULL;
    size_t n = krt_fetch_index(ctx, v->idx, kv_value(in), &o);
    char buf[64];
    names_csv(buf, sizeof(buf), o, n);
    return krt_emit(ctx, kv_new(krt_obj_key(in), buf));
}

static void test_index_of_a_derived_collection_is_settled_before_its_readers_run(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *pods = test_env_init_static(&env, &test_pod_type, "pods");
    krt_collection_t *copy =
        krt_derive_new(env.e, pods, &test_pod_type, "copy", KRT_DERIVE_ONE, pods_ip_kv, NULL);
    via_index_t v = {.idx = krt_index_new(copy, "ip", extract_ip, NULL)};
    krt_collection_t *q = krt_static_new(env.e, &test_kv_type, "queries", true);
    krt_collection_t *out =
        krt_derive_new(env.e, q, &test_kv_type, "who-has-ip", KRT_DERIVE_ONE, fetch_bucket_fn, &v);
    PUT(q, kv_new("q1", "1.1.1.1"));
    PUT(q, kv_new("q2", "2.2.2.2"));
    PUT(pods, pod_new("ns", "a", "1.1.1.1", NULL));
    test_rec_t rec;
    test_rec_subscribe(&rec, out, false);
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "add/q1=a", "add/q2=");
    /* The pod moves: in the same flush the copy, its index and the reader all follow. */
    PUT(pods, pod_new("ns", "a", "2.2.2.2", NULL));
    FLUSH(env.e);
    EXPECT_VALUES(&rec, "update/q1=", "update/q2=a");
    test_rec_dispose(&rec);
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_moves_objects_between_buckets_and_shares_buckets),
        cmocka_unit_test(test_index_bucket_grows_and_shrinks_in_key_order),
        cmocka_unit_test(test_index_extractor_failure_rebuilds_the_index),
        cmocka_unit_test(test_index_of_the_same_name_is_shared),
        cmocka_unit_test(test_index_namespace_uses_the_type_accessor),
        cmocka_unit_test(test_index_collection_reports_bucket_changes),
        cmocka_unit_test(test_index_as_collection_counts_pods_per_ip),
        cmocka_unit_test(test_index_fetch_of_two_keys_and_of_a_second_index),
        cmocka_unit_test(test_index_fetch_and_key_fetch_of_one_collection_in_one_transformation),
        cmocka_unit_test(test_index_filter_combines_with_labels),
        cmocka_unit_test(test_index_on_a_derived_collection_follows_its_outputs),
        cmocka_unit_test(test_index_of_a_derived_collection_is_settled_before_its_readers_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
