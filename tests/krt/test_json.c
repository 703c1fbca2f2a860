/*
 * Tests for the JSON object type (krt/src/json.c): keys, canonical hash and equality, label and
 * selector views, validation of bad input, dump, and use in a static collection.
 *
 * Every test runs under a counting allocator installed with krt_allocator_set, and its teardown
 * asserts that every krt_malloc block was freed; jansson references are checked by refcount.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krt/json.h"
#include "krt/krt.h"

/* ---------------------------------------------------------------------------------------------
 * Counting allocator: live blocks, and an optional failure at the n-th allocation.
 * ------------------------------------------------------------------------------------------- */
typedef struct counting {
    long live;    /* blocks allocated and not yet freed */
    long calls;   /* allocations attempted (malloc, and realloc of NULL or growth) */
    long fail_at; /* fail the allocation with this 1-based number; 0 = never */
} counting_t;

static counting_t g_alloc;

static bool should_fail(void)
{
    g_alloc.calls++;
    return g_alloc.fail_at && g_alloc.calls == g_alloc.fail_at;
}

static void *count_malloc(size_t size, void *ud)
{
    (void)ud;
    if (should_fail())
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        g_alloc.live++;
    return p;
}

static void *count_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    if (should_fail())
        return NULL;
    void *p = realloc(ptr, size ? size : 1);
    if (p && !ptr)
        g_alloc.live++;
    return p;
}

static void count_free(void *ptr, void *ud)
{
    (void)ud;
    if (ptr)
        g_alloc.live--;
    free(ptr);
}

static const krt_allocator_t counting_allocator = {count_malloc, count_realloc, count_free, NULL};

static int setup(void **state)
{
    (void)state;
    memset(&g_alloc, 0, sizeof g_alloc);
    krt_allocator_set(&counting_allocator);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    long live = g_alloc.live;
    krt_allocator_set(NULL);
    assert_int_equal(live, 0);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------------------------- */
static const krt_obj_t *parse_ok(const char *text)
{
    int err = 12345;
    const krt_obj_t *o = krt_json_parse(text, strlen(text), &err);
    if (!o)
        fail_msg("parse failed (%d) for: %s", err, text);
    assert_int_equal(err, KRT_OK);
    assert_ptr_equal(o->type, &krt_json_type);
    return o;
}

static int parse_err(const char *text, size_t len)
{
    int err = 12345;
    const krt_obj_t *o = krt_json_parse(text, len, &err);
    assert_null(o);
    return err;
}

static krt_labels_t labels_of(const krt_obj_t *o)
{
    krt_labels_t v = {NULL, 99};
    assert_true(krt_json_type.labels(o, &v));
    return v;
}

/* Asserts that each of |docs| parses and that its |view| (the type's labels or selector accessor)
 * returns |present| with no pairs. */
static void assert_views_empty(const char *const *docs, size_t n,
                               bool (*view)(const krt_obj_t *, krt_labels_t *), bool present)
{
    for (size_t i = 0; i < n; i++) {
        const krt_obj_t *o = parse_ok(docs[i]);
        krt_labels_t v = {NULL, 99};
        assert_int_equal(view(o, &v), present);
        assert_int_equal(v.len, 0);
        krt_obj_release(o);
    }
}

static void assert_label(const krt_labels_t *v, size_t i, const char *key, const char *value)
{
    assert_true(i < v->len);
    assert_string_equal(v->items[i].key, key);
    assert_string_equal(v->items[i].value, value);
}

/* ---------------------------------------------------------------------------------------------
 * Keys and accessors.
 * ------------------------------------------------------------------------------------------- */
static void test_json_key_is_namespace_slash_name_for_namespaced_objects(void **state)
{
    (void)state;
    const krt_obj_t *o =
        parse_ok("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\"}}");
    assert_string_equal(krt_obj_key(o), "shop/web-1");
    assert_string_equal(krt_json_name(o), "web-1");
    assert_string_equal(krt_json_namespace(o), "shop");
    assert_string_equal(krt_json_type.namespace_(o), "shop");
    assert_string_equal(krt_json_kind(o), "Pod");
    krt_obj_release(o);
}

static void test_json_key_is_name_for_cluster_scoped_objects(void **state)
{
    (void)state;
    /* Absent, JSON null and "" all mean cluster-scoped; the key never starts with '/'. */
    const char *docs[] = {
        "{\"metadata\":{\"name\":\"gw-class\"}}",
        "{\"metadata\":{\"name\":\"gw-class\",\"namespace\":null}}",
        "{\"metadata\":{\"name\":\"gw-class\",\"namespace\":\"\"}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        const krt_obj_t *o = parse_ok(docs[i]);
        assert_string_equal(krt_obj_key(o), "gw-class");
        assert_string_equal(krt_json_namespace(o), "");
        assert_string_equal(krt_json_type.namespace_(o), "");
        assert_string_equal(krt_json_kind(o), ""); /* no kind: empty, not NULL */
        krt_obj_release(o);
    }
}

static void test_json_get_string_follows_dotted_paths_and_returns_null_otherwise(void **state)
{
    (void)state;
    const krt_obj_t *o = parse_ok("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},"
                                  "\"status\":{\"podIP\":\"10.0.0.7\",\"phase\":3,"
                                  "\"conditions\":[{\"type\":\"Ready\"}]}}");
    assert_string_equal(krt_json_get_string(o, "metadata.name"), "p");
    assert_string_equal(krt_json_get_string(o, "status.podIP"), "10.0.0.7");
    assert_null(krt_json_get_string(o, "status.phase"));        /* a number */
    assert_null(krt_json_get_string(o, "status"));              /* an object */
    assert_null(krt_json_get_string(o, "status.missing"));      /* absent */
    assert_null(krt_json_get_string(o, "status.podIP.more"));   /* through a string */
    assert_null(krt_json_get_string(o, "status.conditions.0")); /* arrays are not walked */
    assert_null(krt_json_get_string(o, "status..podIP"));       /* empty segment */
    assert_null(krt_json_get_string(o, ".status.podIP"));
    assert_null(krt_json_get_string(o, "status.podIP."));
    assert_null(krt_json_get_string(o, ""));
    assert_null(krt_json_get_string(o, NULL));
    krt_obj_release(o);
}

static void test_json_value_is_the_document_given(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:{s:s},s:i}", "metadata", "name", "x", "spec", 7);
    json_t *keep = json_incref(v);
    int err = 1;
    const krt_obj_t *o = krt_json_new(v, &err);
    assert_non_null(o);
    assert_int_equal(err, KRT_OK);
    assert_ptr_equal(krt_json_value(o), keep); /* taken, not copied */
    assert_int_equal(keep->refcount, 2);
    krt_obj_release(o);
    assert_int_equal(keep->refcount, 1); /* the object's reference went with it */
    json_decref(keep);
}

/* ---------------------------------------------------------------------------------------------
 * Hash and equality.
 * ------------------------------------------------------------------------------------------- */
static void test_json_hash_ignores_key_order_and_whitespace(void **state)
{
    (void)state;
    const krt_obj_t *a = parse_ok("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
                                  "\"labels\":{\"x\":\"1\",\"y\":\"2\"}},\"spec\":{\"port\":80}}");
    const krt_obj_t *b = parse_ok("{ \"spec\" : { \"port\" : 80 },\n \"metadata\" : {"
                                  " \"labels\" : {\"y\":\"2\", \"x\":\"1\"},"
                                  " \"namespace\":\"n\", \"name\":\"a\" } }");
    assert_true(a != b);
    assert_true(a->hash == b->hash);
    assert_true(krt_obj_equal(a, b));
    krt_obj_release(a);
    krt_obj_release(b);
}

static void test_json_different_content_has_different_hash_and_is_not_equal(void **state)
{
    (void)state;
    const char *base = "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"port\":80}}";
    const char *variants[] = {
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"port\":81}}",
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"port\":\"80\"}}",
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"port\":80.0}}",
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{}}",
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"port\":80},\"x\":null}",
        "{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"},\"spec\":{\"port\":80}}",
    };
    const krt_obj_t *a = parse_ok(base);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const krt_obj_t *b = parse_ok(variants[i]);
        assert_true(a->hash != b->hash);
        assert_false(krt_obj_equal(a, b));
        assert_false(krt_json_type.equals(a, b));
        krt_obj_release(b);
    }
    krt_obj_release(a);
}

static void test_json_separately_parsed_equal_documents_are_equal(void **state)
{
    (void)state;
    const char *doc = "{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"namespace\":\"n\"},"
                      "\"spec\":{\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}";
    const krt_obj_t *a = parse_ok(doc);
    const krt_obj_t *b = parse_ok(doc);
    assert_true(krt_obj_equal(a, b));
    assert_true(krt_json_type.equals(a, b));
    assert_string_equal(krt_obj_key(a), krt_obj_key(b));
    krt_obj_release(a);
    krt_obj_release(b);
}

static void test_json_equality_compares_content_not_only_the_hash(void **state)
{
    (void)state;
    const krt_obj_t *a = parse_ok("{\"metadata\":{\"name\":\"a\"},\"v\":1}");
    const krt_obj_t *b = parse_ok("{\"metadata\":{\"name\":\"a\"},\"v\":2}");
    /* Forge a hash collision: equality must still see the different content. */
    ((krt_obj_t *)b)->hash = a->hash;
    assert_false(krt_json_type.equals(a, b));
    assert_false(krt_obj_equal(a, b));
    krt_obj_release(a);
    krt_obj_release(b);
}

static void test_json_type_is_complete_and_does_not_claim_hash_equality(void **state)
{
    (void)state;
    assert_int_equal(krt_type_check(&krt_json_type), KRT_OK);
    assert_string_equal(krt_json_type.name, "json");
    assert_int_equal(krt_json_type.flags & KRT_TYPE_HASH_IS_EQUALITY, 0);
    assert_non_null(krt_json_type.equals);
    assert_non_null(krt_json_type.labels);
    assert_non_null(krt_json_type.selector);
    assert_non_null(krt_json_type.namespace_);
}

static void test_json_size_grows_with_the_document(void **state)
{
    (void)state;
    const krt_obj_t *small = parse_ok("{\"metadata\":{\"name\":\"a\"}}");
    char big[2048];
    int n = snprintf(big, sizeof big, "{\"metadata\":{\"name\":\"a\"},\"data\":\"%0900d\"}", 0);
    assert_true(n > 0 && (size_t)n < sizeof big);
    const krt_obj_t *large = parse_ok(big);
    size_t s = krt_json_type.size(small), l = krt_json_type.size(large);
    assert_true(s >= strlen("{\"metadata\":{\"name\":\"a\"}}"));
    assert_true(l >= s + 900);
    krt_obj_release(small);
    krt_obj_release(large);
}

/* ---------------------------------------------------------------------------------------------
 * Labels and selectors.
 * ------------------------------------------------------------------------------------------- */
static void test_json_labels_view_is_sorted_and_complete(void **state)
{
    (void)state;
    const krt_obj_t *o =
        parse_ok("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":{"
                 "\"zone\":\"b\",\"app\":\"web\",\"app.kubernetes.io/name\":\"shop\",\"tier\":\"\","
                 "\"count\":3,\"flag\":true,\"nested\":{\"a\":\"b\"},\"nothing\":null}}}");
    krt_labels_t v = labels_of(o);
    /* The four string labels, by key; non-string values are not labels. */
    assert_int_equal(v.len, 4);
    assert_label(&v, 0, "app", "web");
    assert_label(&v, 1, "app.kubernetes.io/name", "shop");
    assert_label(&v, 2, "tier", "");
    assert_label(&v, 3, "zone", "b");
    krt_obj_release(o);
}

static void test_json_labels_view_is_empty_when_labels_are_absent_or_not_a_map(void **state)
{
    (void)state;
    const char *docs[] = {
        "{\"metadata\":{\"name\":\"p\"}}",
        "{\"metadata\":{\"name\":\"p\",\"labels\":null}}",
        "{\"metadata\":{\"name\":\"p\",\"labels\":[\"a\",\"b\"]}}",
        "{\"metadata\":{\"name\":\"p\",\"labels\":\"app=web\"}}",
        "{\"metadata\":{\"name\":\"p\",\"labels\":{}}}",
    };
    assert_views_empty(docs, sizeof docs / sizeof docs[0], krt_json_type.labels, true);
}

/* Asserts that |doc| has the selector {app: web, tier: front}. */
static void assert_selects_app_web_tier_front(const char *doc)
{
    const krt_obj_t *o = parse_ok(doc);
    krt_labels_t v = {NULL, 99};
    assert_true(krt_json_type.selector(o, &v));
    assert_int_equal(v.len, 2);
    assert_label(&v, 0, "app", "web");
    assert_label(&v, 1, "tier", "front");
    krt_obj_release(o);
}

static void test_json_selector_from_service_style_spec_selector(void **state)
{
    (void)state;
    assert_selects_app_web_tier_front(
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},"
        "\"spec\":{\"selector\":{\"tier\":\"front\",\"app\":\"web\"}}}");
}

static void test_json_selector_from_spec_selector_match_labels(void **state)
{
    (void)state;
    assert_selects_app_web_tier_front(
        "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":{"
        "\"matchLabels\":{\"tier\":\"front\",\"app\":\"web\",\"replicas\":2},"
        "\"matchExpressions\":[]}}}");
}

static void test_json_selector_from_spec_pod_selector_match_labels(void **state)
{
    (void)state;
    assert_selects_app_web_tier_front(
        "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"np\"},\"spec\":{\"podSelector\":{"
        "\"matchLabels\":{\"tier\":\"front\",\"app\":\"web\"}}}}");
}

static void test_json_selector_follows_the_documented_order(void **state)
{
    (void)state;
    /* A Service-style map wins over podSelector. */
    assert_selects_app_web_tier_front("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"selector\":{"
                                      "\"app\":\"web\",\"tier\":\"front\"},"
                                      "\"podSelector\":{\"matchLabels\":{\"other\":\"1\"}}}}");
    /* spec.selector that is not a map of strings and has no matchLabels falls through. */
    assert_selects_app_web_tier_front(
        "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"selector\":{\"matchExpressions\":[]},"
        "\"podSelector\":{\"matchLabels\":{\"app\":\"web\",\"tier\":\"front\"}}}}");
}

static void test_json_selector_is_absent_when_no_place_holds_one(void **state)
{
    (void)state;
    const char *docs[] = {
        "{\"metadata\":{\"name\":\"x\"}}",
        "{\"metadata\":{\"name\":\"x\"},\"spec\":null}",
        "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"selector\":\"app=web\"}}",
        "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"selector\":{\"matchLabels\":[1]}}}",
        "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"podSelector\":{}}}",
    };
    assert_views_empty(docs, sizeof docs / sizeof docs[0], krt_json_type.selector, false);
}

static void test_json_empty_service_selector_is_present_and_empty(void **state)
{
    (void)state;
    const krt_obj_t *o = parse_ok("{\"metadata\":{\"name\":\"s\"},\"spec\":{\"selector\":{}}}");
    krt_labels_t v = {NULL, 99};
    assert_true(krt_json_type.selector(o, &v));
    assert_int_equal(v.len, 0);
    krt_obj_release(o);
}

static void test_json_label_and_selector_views_work_with_labels_contain(void **state)
{
    (void)state;
    const krt_obj_t *pod = parse_ok("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":{"
                                    "\"tier\":\"front\",\"app\":\"web\",\"version\":\"v2\"}}}");
    const krt_obj_t *svc =
        parse_ok("{\"metadata\":{\"name\":\"s\",\"namespace\":\"n\"},"
                 "\"spec\":{\"selector\":{\"app\":\"web\",\"tier\":\"front\"}}}");
    const krt_obj_t *other =
        parse_ok("{\"metadata\":{\"name\":\"o\",\"namespace\":\"n\"},"
                 "\"spec\":{\"selector\":{\"app\":\"web\",\"tier\":\"back\"}}}");
    krt_labels_t labels = labels_of(pod), sel = {NULL, 0}, osel = {NULL, 0};
    assert_true(krt_json_type.selector(svc, &sel));
    assert_true(krt_json_type.selector(other, &osel));
    assert_true(krt_labels_contain(&labels, &sel));   /* the service selects the pod */
    assert_false(krt_labels_contain(&labels, &osel)); /* tier differs */
    assert_false(krt_labels_contain(&sel, &labels));  /* the pod has more labels than selected */
    krt_labels_t none = {NULL, 0};
    assert_true(krt_labels_contain(&labels, &none));
    krt_obj_release(pod);
    krt_obj_release(svc);
    krt_obj_release(other);
}

/* ---------------------------------------------------------------------------------------------
 * Invalid input.
 * ------------------------------------------------------------------------------------------- */
static void test_json_new_rejects_invalid_values_with_einval_and_releases_them(void **state)
{
    (void)state;
    const char *docs[] = {
        "{}",                  /* no metadata */
        "{\"metadata\":null}", /* metadata not an object */
        "{\"metadata\":\"x\"}",
        "{\"metadata\":[]}",
        "{\"metadata\":{}}",              /* no name */
        "{\"metadata\":{\"name\":\"\"}}", /* empty name */
        "{\"metadata\":{\"name\":42}}",   /* name not a string */
        "{\"metadata\":{\"name\":null}}",
        "{\"metadata\":{\"name\":[\"a\"]}}",
        "{\"metadata\":{\"name\":\"a\",\"namespace\":7}}", /* namespace not a string */
        "{\"metadata\":{\"name\":\"a\",\"namespace\":{}}}",
        "[{\"metadata\":{\"name\":\"a\"}}]", /* root an array */
        "\"metadata\"",                      /* root a string */
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_t *keep = json_incref(v);
        int err = 12345;
        assert_null(krt_json_new(v, &err));
        assert_int_equal(err, KRT_EINVAL);
        assert_int_equal(keep->refcount, 1); /* taken also on error: our reference is the last */
        json_decref(keep);
    }
    /* Values only code can build: a name or namespace holding a NUL byte. */
    json_t *built[] = {
        json_pack("{s:{s:s%}}", "metadata", "name", "a\0b", (size_t)3),
        json_pack("{s:{s:s,s:s%}}", "metadata", "name", "a", "namespace", "\0n", (size_t)2),
    };
    for (size_t i = 0; i < sizeof built / sizeof built[0]; i++) {
        assert_non_null(built[i]);
        json_t *keep = json_incref(built[i]);
        int err = 12345;
        assert_null(krt_json_new(built[i], &err));
        assert_int_equal(err, KRT_EINVAL);
        assert_int_equal(keep->refcount, 1);
        json_decref(keep);
    }
    int err = 12345;
    assert_null(krt_json_new(NULL, &err));
    assert_int_equal(err, KRT_EINVAL);
    assert_null(krt_json_new(json_object(), NULL)); /* err may be NULL */
}

static void test_json_parse_rejects_bad_text_with_einval(void **state)
{
    (void)state;
    const char *docs[] = {
        "",
        " ",
        "{",
        "{\"metadata\":{\"name\":\"a\"}",
        "{\"metadata\":{\"name\":\"a\"}} trailing",
        "{\"metadata\":{\"name\":\"a\"}}{}",
        "{metadata:{name:a}}",
        "{\"metadata\":{\"name\":\"a\\u0000b\"}}", /* NUL inside a string */
        "[]",
        "[{\"metadata\":{\"name\":\"a\"}}]",
        "42",
        "null",
        "{\"metadata\":{\"name\":7}}",
        "{\"metadata\":{\"name\":\"b/c\",\"namespace\":\"a\"}}", /* '/' would make keys */
        "{\"metadata\":{\"name\":\"c\",\"namespace\":\"a/b\"}}", /* ambiguous: a/b/c  */
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        assert_int_equal(parse_err(docs[i], strlen(docs[i])), KRT_EINVAL);
    int err = 12345;
    assert_null(krt_json_parse(NULL, 0, &err));
    assert_int_equal(err, KRT_EINVAL);
    assert_null(krt_json_parse("{", 1, NULL));
}

static void test_json_parse_reads_exactly_len_bytes(void **state)
{
    (void)state;
    /* The text need not be NUL-terminated: only len bytes count. */
    const char text[] = "{\"metadata\":{\"name\":\"a\"}}GARBAGE";
    size_t len = strlen("{\"metadata\":{\"name\":\"a\"}}");
    int err = 1;
    const krt_obj_t *o = krt_json_parse(text, len, &err);
    assert_non_null(o);
    assert_int_equal(err, KRT_OK);
    assert_string_equal(krt_obj_key(o), "a");
    krt_obj_release(o);
    assert_int_equal(parse_err(text, sizeof text - 1), KRT_EINVAL);
}

static void test_json_parse_rejects_every_proper_prefix(void **state)
{
    (void)state;
    /* Byte at a time: a document cut anywhere is rejected cleanly; whole, it parses. */
    const char *doc = "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\","
                      "\"labels\":{\"app\":\"web\"}},\"spec\":{\"x\":[1,2.5,true,null]}}";
    size_t len = strlen(doc);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(parse_err(doc, n), KRT_EINVAL);
    const krt_obj_t *o = krt_json_parse(doc, len, NULL);
    assert_non_null(o);
    krt_obj_release(o);
}

static void test_json_new_reports_enomem_for_each_failed_allocation_without_leaking(void **state)
{
    (void)state;
    /* Fail the 1st, 2nd, ... krt allocation until creation succeeds; each failure must be a clean
     * KRT_ENOMEM with every block freed and the value released. */
    const char *doc = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":{\"a\":\"1\"}},"
                      "\"spec\":{\"selector\":{\"b\":\"2\"},\"data\":\"0123456789012345678901234"
                      "56789012345678901234567890123456789012345678901234567890123456789012345678"
                      "901234567890123456789012345678901234567890123456789012345678901234567890123"
                      "4567890123456789012345678901234567890123456789\"}}";
    long failures = 0;
    for (long k = 1; k < 100; k++) {
        json_t *v = json_loads(doc, 0, NULL);
        assert_non_null(v);
        json_t *keep = json_incref(v);
        g_alloc.calls = 0;
        g_alloc.fail_at = k;
        int err = 12345;
        const krt_obj_t *o = krt_json_new(v, &err);
        g_alloc.fail_at = 0;
        if (o) {
            assert_int_equal(err, KRT_OK);
            assert_string_equal(krt_obj_key(o), "n/p");
            krt_obj_release(o);
            assert_int_equal(keep->refcount, 1);
            json_decref(keep);
            break;
        }
        failures++;
        assert_int_equal(err, KRT_ENOMEM);
        assert_int_equal(g_alloc.live, 0);
        assert_int_equal(keep->refcount, 1);
        json_decref(keep);
    }
    /* The block and the canonical buffer (which grows past 256 bytes here) can each fail. */
    assert_true(failures >= 3);
}

/* ---------------------------------------------------------------------------------------------
 * Dump.
 * ------------------------------------------------------------------------------------------- */
static void test_json_dump_round_trips_and_is_a_copy(void **state)
{
    (void)state;
    const char *doc = "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\","
                      "\"labels\":{\"app\":\"web\"}},\"spec\":{\"x\":[1,2.5,true,null,\"s\"]}}";
    const krt_obj_t *o = parse_ok(doc);
    json_t *d = krt_obj_dump(o);
    assert_non_null(d);
    json_t *orig = json_loads(doc, 0, NULL);
    assert_true(json_equal(d, orig));
    /* Editing the dump must not reach the object. */
    json_object_set_new(d, "kind", json_string("Changed"));
    assert_string_equal(krt_json_kind(o), "Pod");
    assert_string_equal(json_string_value(json_object_get(krt_json_value(o), "kind")), "Pod");
    /* Feeding the dump back in (restored) gives an equal object. */
    json_object_set_new(d, "kind", json_string("Pod"));
    int err = 1;
    const krt_obj_t *again = krt_json_new(d, &err);
    assert_non_null(again);
    assert_true(krt_obj_equal(o, again));
    json_decref(orig);
    krt_obj_release(again);
    krt_obj_release(o);
}

/* ---------------------------------------------------------------------------------------------
 * In a static collection (needs the engine).
 * ------------------------------------------------------------------------------------------- */
typedef struct seen {
    int batches;
    int adds, updates, deletes;
    char last_key[64];
} seen_t;

static void record(const krt_batch_t *batch, void *ud)
{
    seen_t *s = ud;
    s->batches++;
    for (size_t i = 0; i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        s->adds += ev->op == KRT_ADD;
        s->updates += ev->op == KRT_UPDATE;
        s->deletes += ev->op == KRT_DELETE;
        snprintf(s->last_key, sizeof s->last_key, "%s", krt_obj_key(krt_event_latest(ev)));
    }
}

static void test_json_objects_live_in_a_static_collection(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    assert_non_null(e);
    krt_collection_t *pods = krt_static_new(e, &krt_json_type, "pods", true);
    assert_non_null(pods);
    seen_t seen = {0};
    assert_non_null(krt_collection_subscribe(pods, record, &seen, true));

    assert_int_equal(krt_static_put(pods, parse_ok("{\"metadata\":{\"name\":\"web-1\","
                                                   "\"namespace\":\"shop\"},\"v\":1}")),
                     KRT_OK);
    assert_int_equal(krt_static_put(pods, parse_ok("{\"metadata\":{\"name\":\"node-a\"}}")),
                     KRT_OK);
    assert_int_equal(krt_collection_len(pods), 2);
    const krt_obj_t *got = krt_collection_get(pods, "shop/web-1");
    assert_non_null(got);
    assert_string_equal(krt_json_name(got), "web-1");
    assert_non_null(krt_collection_get(pods, "node-a"));
    assert_null(krt_collection_get(pods, "web-1"));
    assert_int_equal(krt_engine_check(e), KRT_OK);

    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_engine_check(e), KRT_OK);
    assert_int_equal(seen.batches, 1);
    assert_int_equal(seen.adds, 2);

    /* The same content with keys reordered is equal: put_if_changed drops it, no event. */
    assert_int_equal(krt_static_put_if_changed(pods, parse_ok("{\"v\":1,\"metadata\":{"
                                                              "\"namespace\":\"shop\","
                                                              "\"name\":\"web-1\"}}")),
                     0);
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_engine_check(e), KRT_OK);
    assert_int_equal(seen.batches, 1);

    /* Changed content is an update of that key. */
    assert_int_equal(krt_static_put_if_changed(pods, parse_ok("{\"metadata\":{\"name\":\"web-1\","
                                                              "\"namespace\":\"shop\"},\"v\":2}")),
                     1);
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_engine_check(e), KRT_OK);
    assert_int_equal(seen.batches, 2);
    assert_int_equal(seen.updates, 1);
    assert_string_equal(seen.last_key, "shop/web-1");

    assert_int_equal(krt_static_delete(pods, "node-a"), 1);
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_engine_check(e), KRT_OK);
    assert_int_equal(seen.deletes, 1);
    assert_string_equal(seen.last_key, "node-a");
    assert_int_equal(krt_collection_len(pods), 1);

    krt_engine_free(e);
}

static void test_json_namespace_index_groups_objects_by_namespace(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    assert_non_null(e);
    krt_collection_t *c = krt_static_new(e, &krt_json_type, "objs", true);
    assert_non_null(c);
    krt_index_t *idx = krt_index_namespace(c);
    assert_non_null(idx);
    krt_static_put(c, parse_ok("{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"}}"));
    krt_static_put(c, parse_ok("{\"metadata\":{\"name\":\"b\",\"namespace\":\"x\"}}"));
    krt_static_put(c, parse_ok("{\"metadata\":{\"name\":\"c\",\"namespace\":\"y\"}}"));
    krt_static_put(c, parse_ok("{\"metadata\":{\"name\":\"d\"}}"));
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_engine_check(e), KRT_OK);
    const krt_obj_t *out[4];
    assert_int_equal(krt_index_lookup(idx, "x", out, 4), 2);
    assert_string_equal(krt_obj_key(out[0]), "x/a");
    assert_string_equal(krt_obj_key(out[1]), "x/b");
    assert_int_equal(krt_index_lookup(idx, "y", out, 4), 1);
    assert_string_equal(krt_obj_key(out[0]), "y/c");
    /* Cluster-scoped objects have namespace "", as in Kubernetes and Istio's namespace index. */
    assert_int_equal(krt_index_lookup(idx, "", out, 4), 1);
    assert_string_equal(krt_obj_key(out[0]), "d");
    assert_int_equal(krt_index_lookup(idx, "z", out, 4), 0);
    krt_engine_free(e);
}


/* ---------------------------------------------------------------------------------------------
 * The tree cache (krt_json_tree_limit / krt_json_trim / epochs).
 * ------------------------------------------------------------------------------------------- */
static size_t trees_held(void)
{
    size_t n = 0;
    krt_json_tree_stats(&n, NULL, NULL);
    return n;
}

static uint64_t parses_so_far(void)
{
    uint64_t n = 0;
    krt_json_tree_stats(NULL, NULL, &n);
    return n;
}

static void test_json_trim_drops_trees_and_reads_parse_them_again(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\","
                             "\"labels\":{\"app\":\"web\",\"tier\":\"front\"}},"
                             "\"spec\":{\"selector\":{\"app\":\"web\"}},\"x\":1.5}",
                             0, NULL);
    assert_non_null(doc);
    json_object_set_new(doc, "s", json_stringn("a\0b", 3)); /* a NUL survives the round trip */
    const krt_obj_t *o = krt_json_new(doc, NULL);
    assert_non_null(o);
    json_t *want = json_deep_copy(krt_json_value(o));
    size_t before = trees_held();
    assert_true(before >= 1);
    /* Without a budget nothing goes. */
    assert_int_equal(krt_json_trim(), 0);
    krt_json_tree_limit(0);
    assert_true(krt_json_trim() >= 1);
    assert_int_equal(trees_held(), 0);
    /* Everything but the tree is the object's own. */
    assert_string_equal(krt_obj_key(o), "n/p");
    assert_string_equal(krt_json_name(o), "p");
    assert_string_equal(krt_json_namespace(o), "n");
    assert_string_equal(krt_json_kind(o), "Pod");
    krt_labels_t v = labels_of(o);
    assert_int_equal(v.len, 2);
    assert_label(&v, 0, "app", "web");
    assert_label(&v, 1, "tier", "front");
    krt_labels_t sel = {NULL, 0};
    assert_true(krt_json_type.selector(o, &sel));
    assert_int_equal(sel.len, 1);
    assert_label(&sel, 0, "app", "web");
    /* Reading parses the canonical bytes again: the same document, NUL and real included. */
    uint64_t p0 = parses_so_far();
    json_t *got = krt_json_value(o);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    assert_int_equal(parses_so_far(), p0 + 1);
    assert_int_equal(trees_held(), 1);
    assert_string_equal(krt_json_get_string(o, "metadata.labels.tier"), "front");
    krt_json_tree_limit(SIZE_MAX);
    json_decref(want);
    krt_obj_release(o);
    assert_int_equal(trees_held(), before - 1);
}

/* Reads every input with the tree budget at zero, emitting after each read (a new output tree
 * trims every tree of earlier epochs), and keeps the pointers until the end of the
 * transformation: the epochs must keep them alive (AddressSanitizer would see a freed tree). */
static krt_collection_t *g_epoch_src;

static int read_all_keep_pointers(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)in;
    (void)ud;
    const krt_obj_t *const *objs;
    size_t n = krt_fetch(ctx, g_epoch_src, NULL, &objs);
    const char *seen[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        seen[i] = krt_json_get_string(objs[i], "spec.v"); /* into the tree */
        char name[32];
        snprintf(name, sizeof name, "%s-%02zu", krt_json_name(in), i);
        json_t *one = json_pack("{s:{s:s}}", "metadata", "name", name);
        if (krt_emit(ctx, krt_json_new(one, NULL)) != KRT_OK)
            return -1;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(seen[i]);
    json_t *v = json_pack("{s:{s:s}, s:I}", "metadata", "name", krt_json_name(in), "total",
                          (json_int_t)total);
    return krt_emit(ctx, krt_json_new(v, NULL));
}

static void test_json_epochs_keep_borrowed_trees_alive_during_a_flush(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    g_epoch_src = krt_static_new(e, &krt_json_type, "src", true);
    krt_collection_t *out =
        krt_derive_new(e, g_epoch_src, &krt_json_type, "out", 0, read_all_keep_pointers, NULL);
    assert_non_null(out);
    for (int i = 0; i < 12; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"metadata\":{\"name\":\"o%02d\"},\"spec\":{\"v\":\"%0*d\"}}",
                 i, i + 1, 0);
        assert_int_equal(krt_static_put(g_epoch_src, parse_ok(text)), KRT_OK);
    }
    krt_json_tree_limit(0);
    assert_true(krt_json_trim() > 0);
    uint64_t p0 = parses_so_far();
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    /* 12 inputs, each read by 12 transformations: trees from earlier transformations went. */
    assert_true(parses_so_far() - p0 > 12);
    assert_int_equal(krt_collection_len(out), 12 * 12 + 12);
    /* 1 + 2 + ... + 12 characters */
    assert_int_equal(json_integer_value(json_object_get(
                         krt_json_value(krt_collection_get(out, "o05")), "total")),
                     78);
    krt_json_tree_limit(SIZE_MAX);
    krt_engine_free(e);
}

/* Two collections read every input in one flush, with the budget at zero but nothing trimmed
 * since feeding (as at a cold start): a tree read by the first collection stays until the next
 * krt_json_trim(), so the second does not parse it again. */
static int read_v(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    const char *v = krt_json_get_string(in, "spec.v");
    json_t *one = json_pack("{s:{s:s}, s:s}", "metadata", "name", krt_json_name(in), "v", v);
    return krt_emit(ctx, krt_json_new(one, NULL));
}

/* With no tree budget, puts o0..o7 (spec.v "0".."7") into |src| and flushes: asserts the flush
 * parsed no text again, however many collections read the inputs. The budget stays at 0. */
static void put_eight_and_flush_without_reparsing(krt_engine_t *e, krt_collection_t *src)
{
    krt_json_tree_limit(0);
    for (int i = 0; i < 8; i++) {
        char text[96];
        snprintf(text, sizeof text, "{\"metadata\":{\"name\":\"o%d\"},\"spec\":{\"v\":\"%d\"}}", i,
                 i);
        assert_int_equal(krt_static_put(src, parse_ok(text)), KRT_OK);
    }
    uint64_t p0 = parses_so_far();
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(parses_so_far(), p0);
}

static void test_json_inputs_read_by_two_collections_are_parsed_once_per_flush(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *src = krt_static_new(e, &krt_json_type, "src", true);
    krt_collection_t *a = krt_derive_new(e, src, &krt_json_type, "a", 0, read_v, NULL);
    krt_collection_t *b = krt_derive_new(e, src, &krt_json_type, "b", 0, read_v, NULL);
    assert_non_null(a);
    assert_non_null(b);
    put_eight_and_flush_without_reparsing(e, src);
    assert_string_equal(krt_json_get_string(krt_collection_get(b, "o7"), "v"), "7");
    /* The budget holds again from the next trim on. */
    assert_true(krt_json_trim() > 0);
    assert_int_equal(trees_held(), 0);
    krt_json_tree_limit(SIZE_MAX);
    krt_engine_free(e);
}

/* A value that is not an API object (like translate's records): read by an index of the
 * collection that made it, then by the collection below. The index's read happens in the epoch
 * that made the tree, so it does not count as the read the tree was kept for. */
typedef struct test_rec {
    krt_obj_t base;
    char key[16];
    krt_json_lazy_t lz;
} test_rec_t;

static const char *trec_key(const krt_obj_t *o)
{
    return ((const test_rec_t *)o)->key;
}

static uint64_t trec_hash(const krt_obj_t *o)
{
    const test_rec_t *r = (const test_rec_t *)o;
    return krt_hash_bytes(r->lz.canonical, r->lz.len, krt_hash_str(r->key, 0));
}

static bool trec_equals(const krt_obj_t *x, const krt_obj_t *y)
{
    const test_rec_t *a = (const test_rec_t *)x, *b = (const test_rec_t *)y;
    return strcmp(a->key, b->key) == 0 && krt_json_lazy_equal(&a->lz, &b->lz);
}

static void trec_free(krt_obj_t *o)
{
    krt_json_lazy_dispose(&((test_rec_t *)o)->lz);
    krt_free(o);
}

static json_t *trec_dump(const krt_obj_t *o)
{
    return json_deep_copy(krt_json_lazy_get(&((test_rec_t *)o)->lz));
}

static size_t trec_size(const krt_obj_t *o)
{
    return sizeof(test_rec_t) + krt_json_lazy_size(&((const test_rec_t *)o)->lz);
}

static const krt_type_t trec_type = {
    .name = "test.rec",
    .key = trec_key,
    .hash = trec_hash,
    .equals = trec_equals,
    .free = trec_free,
    .dump = trec_dump,
    .size = trec_size,
};

static int make_rec(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    test_rec_t *r = krt_calloc(1, sizeof *r);
    if (!r)
        return KRT_ENOMEM;
    snprintf(r->key, sizeof r->key, "%s", krt_json_name(in));
    if (krt_json_lazy_init(&r->lz, json_pack("{s:s}", "v", krt_json_get_string(in, "spec.v")))) {
        krt_free(r);
        return KRT_ENOMEM;
    }
    krt_obj_seal(&r->base, &trec_type);
    return krt_emit(ctx, &r->base);
}

static void rec_by_v(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    const char *v = json_string_value(json_object_get(krt_json_lazy_get(&((test_rec_t *)o)->lz), "v"));
    if (v)
        krt_keys_add(keys, v);
}

static int read_rec(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    const char *v = json_string_value(json_object_get(krt_json_lazy_get(&((test_rec_t *)in)->lz), "v"));
    json_t *one = json_pack("{s:{s:s}, s:s}", "metadata", "name", krt_obj_key(in), "v", v);
    return krt_emit(ctx, krt_json_new(one, NULL));
}

static void test_json_reads_by_the_maker_do_not_count_as_the_first_read(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *src = krt_static_new(e, &krt_json_type, "src", true);
    krt_collection_t *mid = krt_derive_new(e, src, &trec_type, "mid", 0, make_rec, NULL);
    assert_non_null(mid);
    assert_non_null(krt_index_new(mid, "v", rec_by_v, NULL));
    krt_collection_t *down = krt_derive_new(e, mid, &krt_json_type, "down", 0, read_rec, NULL);
    assert_non_null(down);
    put_eight_and_flush_without_reparsing(e, src);
    assert_string_equal(krt_json_get_string(krt_collection_get(down, "o3"), "v"), "3");
    krt_json_tree_limit(SIZE_MAX);
    krt_engine_free(e);
}

/* jansson's sorted compact text of |v|: the judge of "same value" in the packed-form tests
 * (json_equal looks keys up as C strings, so it cannot compare keys holding a NUL). */
static char *text_of(const json_t *v)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    assert_non_null(t);
    return t;
}

/* Every kind of value survives the packed form: escapes, UTF-8, a NUL in a key and in a string,
 * reals, extreme integers and the small/long boundaries, keys that are prefixes of each other,
 * dictionary and inline keys, more members than the writer's stack array, deep nesting. */
static void test_json_packed_form_reads_back_every_kind_of_value(void **state)
{
    (void)state;
    json_t *doc = json_object();
    json_object_set_new(doc, "s", json_string("quote \" backslash \\ slash / tab \t nl \n"));
    json_object_set_new(doc, "u", json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    json_object_set_new(doc, "nul", json_stringn("a\0b", 3));
    json_object_setn_new(doc, "k\0z", 3, json_integer(1));
    json_object_set_new(doc, "k", json_integer(INT64_MIN));
    json_object_set_new(doc, "kk", json_integer(INT64_MAX));
    json_object_set_new(doc, "\x01", json_integer(-7));
    json_object_set_new(doc, "ints", json_pack("[i,i,i,i,i]", 0, 127, 128, -1, 300));
    json_object_set_new(doc, "r", json_real(0.1));
    json_object_set_new(doc, "r2", json_real(-1e300));
    json_object_set_new(doc, "r3", json_real(3.0));
    json_object_set_new(doc, "t", json_pack("[b,b,n,[],{},i]", 1, 0, 0));
    char s63[64], s64[65], key70[71];
    memset(s63, 'x', 63), s63[63] = '\0';
    memset(s64, 'y', 64), s64[64] = '\0';
    memset(key70, 'k', 70), key70[70] = '\0';
    json_object_set_new(doc, "metadata", json_pack("{s:s,s:s}", "name", s63, "namespace", s64));
    json_object_set_new(doc, key70, json_string(""));
    json_t *deep = json_integer(5);
    for (int i = 0; i < 1000; i++)
        deep = i % 2 ? json_pack("[o]", deep) : json_pack("{s:o}", "d", deep);
    json_object_set_new(doc, "deep", deep);
    for (int i = 0; i < 40; i++) { /* more members than the writer's stack array */
        char k[8];
        snprintf(k, sizeof k, "m%02d", 39 - i);
        json_object_set_new(doc, k, json_integer(i));
    }
    char *want = text_of(doc);
    krt_json_lazy_t l;
    assert_int_equal(krt_json_lazy_init(&l, doc), KRT_OK); /* takes doc */
    assert_true(l.len < strlen(want));
    krt_json_tree_limit(0);
    krt_json_trim();
    assert_false(krt_json_lazy_parsed(&l));
    json_t *back = krt_json_lazy_get(&l);
    assert_non_null(back);
    char *got = text_of(back);
    assert_string_equal(got, want);
    free(got);
    free(want);
    krt_json_lazy_dispose(&l);
    krt_json_tree_limit(SIZE_MAX);
}

static void init_ok(krt_json_lazy_t *l, const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(v);
    assert_int_equal(krt_json_lazy_init(l, v), KRT_OK);
}

/* One value, one form: member order does not matter; any other difference does, including the
 * ones the encoding could blur (integer or real, string or number, the small/long boundaries). */
static void test_json_packed_form_is_canonical(void **state)
{
    (void)state;
    krt_json_lazy_t a, b;
    init_ok(&a, "{\"spec\":{\"b\":1,\"a\":[1,\"x\"]},\"metadata\":{\"name\":\"n\"}}");
    init_ok(&b, "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"a\":[1,\"x\"],\"b\":1}}");
    assert_true(krt_json_lazy_equal(&a, &b));
    krt_json_lazy_dispose(&a);
    krt_json_lazy_dispose(&b);

    static const char *const distinct[] = {
        "5", "5.0", "\"5\"", "-5", "127", "128", "0", "null", "false", "true", "[]", "{}",
        "[[]]", "[{}]", "{\"a\":1}", "{\"b\":1}", "{\"a\":1,\"b\":1}",
        "\"\"", "\"a\"", "\"a\\u0000\"", "{\"name\":1}", "{\"nam\":1}", "{\"names\":1}",
        "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",  /* 63 */
        "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"", /* 64 */
    };
    enum { N = sizeof distinct / sizeof distinct[0] };
    krt_json_lazy_t l[N];
    for (size_t i = 0; i < N; i++)
        init_ok(&l[i], distinct[i]);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            if (krt_json_lazy_equal(&l[i], &l[j]) != (i == j))
                fail_msg("%s and %s: equal forms %d", distinct[i], distinct[j], (int)(i == j));
    for (size_t i = 0; i < N; i++)
        krt_json_lazy_dispose(&l[i]);
}

/* Strings with a short form (lowercase UUIDs, UTC times to the second, dictionary values) read
 * back exactly, and each near miss stays a plain string that reads back exactly too. */
static void test_json_packed_form_shortens_uids_times_and_schema_values(void **state)
{
    (void)state;
    static const char *const values[] = {
        "d3271628-03d4-a9f1-a50f-a34ea2f40fb9", "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "D3271628-03D4-A9F1-A50F-A34EA2F40FB9", /* uppercase: a string */
        "d3271628-03d4-a9f1-a50f-a34ea2f40fbg", "d3271628+03d4-a9f1-a50f-a34ea2f40fb9",
        "1970-01-01T00:00:00Z", "2026-10-10T17:47:37Z", "2024-02-29T12:00:00Z",
        "9999-12-31T23:59:59Z", "2000-02-29T00:00:00Z",
        "1969-12-31T23:59:59Z", /* before 1970: a string */
        "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-10-10T24:00:00Z", "2026-10-10T23:59:60Z", "2026-10-10T17:47:37.5Z",
        "2026-10-10 17:47:37Z", "2026-10-10T17:47:37z", "1900-02-29T00:00:00Z",
        "gateway.networking.k8s.io/v1", "HTTPRoute", "PathPrefix", "True", "v1", "http",
        "v2", "Http", "HTTPRoutes", "gateway.networking.k8s.io/v2"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *doc = json_pack("{s:s,s:[s,s]}", "v", values[i], "a", values[i], "x");
        assert_non_null(doc);
        char *want = text_of(doc);
        krt_json_lazy_t l, same;
        assert_int_equal(krt_json_lazy_init(&l, doc), KRT_OK); /* takes doc */
        init_ok(&same, want);
        assert_true(krt_json_lazy_equal(&l, &same));
        krt_json_tree_limit(0);
        krt_json_trim();
        json_t *back = krt_json_lazy_get(&l);
        assert_non_null(back);
        char *got = text_of(back);
        if (strcmp(got, want) != 0)
            fail_msg("%s read back as %s", want, got);
        free(got);
        free(want);
        krt_json_lazy_dispose(&l);
        krt_json_lazy_dispose(&same);
        krt_json_tree_limit(SIZE_MAX);
    }
    /* The short forms are short: a uid and a time cost 17 and 6 bytes, a kind one. */
    krt_json_lazy_t u, t, k;
    init_ok(&u, "\"d3271628-03d4-a9f1-a50f-a34ea2f40fb9\"");
    init_ok(&t, "\"2026-10-10T17:47:37Z\"");
    init_ok(&k, "\"HTTPRoute\"");
    assert_int_equal(u.len, 17);
    assert_int_equal(t.len, 6);
    assert_int_equal(k.len, 1);
    krt_json_lazy_dispose(&u);
    krt_json_lazy_dispose(&t);
    krt_json_lazy_dispose(&k);
}

/* Nesting deeper than jansson's parser accepts is refused, not overflowed. */
static void test_json_packed_form_refuses_values_nested_too_deep(void **state)
{
    (void)state;
    json_t *deep = json_integer(1);
    for (int i = 0; i < 3000; i++)
        deep = json_pack("[o]", deep);
    krt_json_lazy_t l;
    assert_int_equal(krt_json_lazy_init(&l, deep), KRT_EINVAL); /* takes deep */
    json_t *obj = json_pack("{s:{s:s},s:o}", "metadata", "name", "x", "spec", json_integer(0));
    json_t *nest = json_integer(1);
    for (int i = 0; i < 3000; i++)
        nest = json_pack("{s:o}", "d", nest);
    json_object_set_new(obj, "spec", nest);
    int err = 0;
    assert_null(krt_json_new(obj, &err));
    assert_int_equal(err, KRT_EINVAL);
}

/* The packed form of a Pod as an API server sends it is about half its compact text. */
static void test_json_packed_form_is_smaller_than_compact_text(void **state)
{
    (void)state;
    const char *pod =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"creationTimestamp\":"
        "\"2026-10-10T17:47:37Z\",\"labels\":{\"app\":\"svc-0\",\"pod-template-hash\":"
        "\"2e43c387\"},\"name\":\"pod-0\",\"namespace\":\"app-0\",\"resourceVersion\":\"5282777\","
        "\"uid\":\"d3271628-03d4-a9f1-a50f-a34ea2f40fb9\"},\"spec\":{\"containers\":[{\"image\":"
        "\"registry.example.com/shop/app:1.4.2\",\"name\":\"app\",\"ports\":[{\"containerPort\":"
        "8080,\"name\":\"http\",\"protocol\":\"TCP\"}],\"resources\":{\"requests\":{\"cpu\":"
        "\"100m\",\"memory\":\"128Mi\"}}}],\"nodeName\":\"node-0\"},\"status\":{\"conditions\":"
        "[{\"status\":\"True\",\"type\":\"Ready\"}],\"hostIP\":\"192.168.0.1\",\"phase\":"
        "\"Running\",\"podIP\":\"10.128.0.0\",\"podIPs\":[{\"ip\":\"10.128.0.0\"}]}}";
    krt_json_lazy_t l;
    init_ok(&l, pod);
    assert_true(l.len * 10 < strlen(pod) * 6);
    krt_json_lazy_dispose(&l);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_json_key_is_namespace_slash_name_for_namespaced_objects),
        T(test_json_trim_drops_trees_and_reads_parse_them_again),
        T(test_json_epochs_keep_borrowed_trees_alive_during_a_flush),
        T(test_json_inputs_read_by_two_collections_are_parsed_once_per_flush),
        T(test_json_reads_by_the_maker_do_not_count_as_the_first_read),
        T(test_json_packed_form_reads_back_every_kind_of_value),
        T(test_json_packed_form_is_canonical),
        T(test_json_packed_form_shortens_uids_times_and_schema_values),
        T(test_json_packed_form_refuses_values_nested_too_deep),
        T(test_json_packed_form_is_smaller_than_compact_text),
        T(test_json_key_is_name_for_cluster_scoped_objects),
        T(test_json_get_string_follows_dotted_paths_and_returns_null_otherwise),
        T(test_json_value_is_the_document_given),
        T(test_json_hash_ignores_key_order_and_whitespace),
        T(test_json_different_content_has_different_hash_and_is_not_equal),
        T(test_json_separately_parsed_equal_documents_are_equal),
        T(test_json_equality_compares_content_not_only_the_hash),
        T(test_json_type_is_complete_and_does_not_claim_hash_equality),
        T(test_json_size_grows_with_the_document),
        T(test_json_labels_view_is_sorted_and_complete),
        T(test_json_labels_view_is_empty_when_labels_are_absent_or_not_a_map),
        T(test_json_selector_from_service_style_spec_selector),
        T(test_json_selector_from_spec_selector_match_labels),
        T(test_json_selector_from_spec_pod_selector_match_labels),
        T(test_json_selector_follows_the_documented_order),
        T(test_json_selector_is_absent_when_no_place_holds_one),
        T(test_json_empty_service_selector_is_present_and_empty),
        T(test_json_label_and_selector_views_work_with_labels_contain),
        T(test_json_new_rejects_invalid_values_with_einval_and_releases_them),
        T(test_json_parse_rejects_bad_text_with_einval),
        T(test_json_parse_reads_exactly_len_bytes),
        T(test_json_parse_rejects_every_proper_prefix),
        T(test_json_new_reports_enomem_for_each_failed_allocation_without_leaking),
        T(test_json_dump_round_trips_and_is_a_copy),
        T(test_json_objects_live_in_a_static_collection),
        T(test_json_namespace_index_groups_objects_by_namespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
