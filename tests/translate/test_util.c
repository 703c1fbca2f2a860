/*
 * translate/util.c: the matching rules and parsers the translation relies on, table-driven:
 * Gateway API hostname intersection, label selectors, durations, RFC 3339 times, base64, the PEM
 * shape check, IP literals, conditions and the record type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../translate/internal.h"

static void test_hostnames_intersect_like_the_gateway_api(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool want;
    } cases[] = {
        {NULL, "foo.com", true},
        {"", "foo.com", true},
        {"*", "foo.com", true},
        {"foo.com", "foo.com", true},
        {"FOO.com", "foo.COM", true},
        {"foo.com", "bar.com", false},
        {"*.example.com", "foo.example.com", true},
        {"*.example.com", "a.b.example.com", true}, /* a wildcard spans several labels */
        {"*.example.com", "example.com", false},    /* but never the bare suffix */
        {"*.example.com", "fooexample.com", false},
        {"foo.example.com", "*.example.com", true},
        {"*.example.com", "*.example.com", true},
        {"*.example.com", "*.foo.example.com", true}, /* more specific wildcard */
        {"*.foo.example.com", "*.example.com", true},
        {"*.example.com", "*.example.org", false},
        {"very.specific.com", "*.specific.com", true},
        {"*.wildcard.io", "wildcard.io", false},
        {"*.anotherwildcard.io", "*.wildcard.io", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (tr__hostnames_intersect(cases[i].a, cases[i].b) != cases[i].want)
            fail_msg("intersect(%s, %s) should be %d", cases[i].a ? cases[i].a : "NULL", cases[i].b,
                     cases[i].want);
        if (cases[i].a && tr__hostnames_intersect(cases[i].b, cases[i].a) != cases[i].want)
            fail_msg("intersection is not symmetric for %s, %s", cases[i].a, cases[i].b);
    }
}

static void test_selectors_match_labels_and_expressions(void **state)
{
    (void)state;
    json_t *labels = json_pack("{s:s, s:s}", "tier", "frontend", "env", "prod");
    static const struct {
        const char *selector;
        bool want;
    } cases[] = {
        {"{}", true},
        {"{\"matchLabels\":{\"tier\":\"frontend\"}}", true},
        {"{\"matchLabels\":{\"tier\":\"backend\"}}", false},
        {"{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"team-a\"}}", true},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\"]}]}",
         true},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"prod\"]}]}",
         false},
        {"{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"x\"]}]}",
         true},
        {"{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"Exists\"}]}", false},
        {"{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"DoesNotExist\"}]}", true},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"Bogus\"}]}", false},
        {"{\"matchLabels\":{\"tier\":\"frontend\"},"
         "\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"dev\"]}]}",
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *sel = json_loads(cases[i].selector, 0, NULL);
        assert_non_null(sel);
        if (tr__selector_matches(sel, labels, "kubernetes.io/metadata.name", "team-a") !=
            cases[i].want)
            fail_msg("selector %s should give %d", cases[i].selector, cases[i].want);
        json_decref(sel);
    }
    assert_true(tr__selector_matches(NULL, NULL, NULL, NULL));
    json_decref(labels);
}

static void test_durations_parse_gateway_api_format(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
        int64_t sec;
        int32_t nanos;
    } cases[] = {
        {"10s", true, 10, 0},     {"500ms", true, 0, 500000000},
        {"1m30s", true, 90, 0},   {"1h", true, 3600, 0},
        {"0s", true, 0, 0},       {"1h1m1s1ms", true, 3661, 1000000},
        {"", false, 0, 0},        {"10", false, 0, 0},
        {"1.5s", false, 0, 0},    {"-1s", false, 0, 0},
        {"123456s", false, 0, 0}, {"1s1s1s1s1s", false, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t s = -1;
        int32_t n = -1;
        bool ok = tr__duration_parse(cases[i].s, &s, &n);
        if (ok != cases[i].ok || (ok && (s != cases[i].sec || n != cases[i].nanos)))
            fail_msg("duration %s", cases[i].s);
    }
}

static void test_rfc3339_times_become_unix_seconds(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_true(tr__rfc3339("1970-01-01T00:00:00Z", &t));
    assert_int_equal(t, 0);
    assert_true(tr__rfc3339("2024-05-01T10:00:00Z", &t));
    assert_int_equal(t, 1714557600);
    assert_true(tr__rfc3339("2024-05-01T11:00:00+01:00", &t));
    assert_int_equal(t, 1714557600);
    assert_true(tr__rfc3339("2024-02-29T23:59:59.123456Z", &t));
    assert_int_equal(t, 1709251199);
    assert_false(tr__rfc3339("2024-13-01T00:00:00Z", &t));
    assert_false(tr__rfc3339("2024-05-01 10:00", &t));
    assert_false(tr__rfc3339("2024-05-01T10:00:00", &t));
    assert_false(tr__rfc3339(NULL, &t));
}

static void test_base64_decodes_and_rejects_garbage(void **state)
{
    (void)state;
    size_t n = 0;
    bool oom = false;
    uint8_t *d = tr__b64_decode("SGVsbG8gd29ybGQK", &n, &oom);
    assert_non_null(d);
    assert_int_equal(n, 12);
    assert_memory_equal(d, "Hello world\n", 12);
    krt_free(d);
    d = tr__b64_decode("SGVs\nbG8=", &n, &oom); /* whitespace, padding */
    assert_non_null(d);
    assert_int_equal(n, 5);
    krt_free(d);
    /* Garbage is refused as garbage, never reported as a lack of memory. */
    assert_null(tr__b64_decode("SGV$", &n, &oom));
    assert_null(tr__b64_decode("A", &n, &oom));
    assert_null(tr__b64_decode("AA=A", &n, &oom));
    assert_null(tr__b64_decode(NULL, &n, &oom));
    assert_false(oom);
}

static void test_pem_shape_check(void **state)
{
    (void)state;
    const char *cert = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    const char *key = "-----BEGIN EC PRIVATE KEY-----\nMAMCAQE=\n-----END EC PRIVATE KEY-----\n";
    const char *bad_der = "-----BEGIN CERTIFICATE-----\nSGVsbG8=\n-----END CERTIFICATE-----\n";
    const char *chain = "junk\n-----BEGIN X509 CRL-----\nMAMCAQE=\n-----END X509 CRL-----\n"
                        "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    assert_true(tr__pem_valid((const uint8_t *)cert, strlen(cert), false));
    assert_false(tr__pem_valid((const uint8_t *)cert, strlen(cert), true));
    assert_true(tr__pem_valid((const uint8_t *)key, strlen(key), true));
    assert_false(tr__pem_valid((const uint8_t *)key, strlen(key), false));
    assert_false(tr__pem_valid((const uint8_t *)bad_der, strlen(bad_der), false));
    assert_true(tr__pem_valid((const uint8_t *)chain, strlen(chain), false));
    assert_false(tr__pem_valid((const uint8_t *)"Hello world\n", 12, false));
    /* every prefix of a valid block is rejected without reading past the end */
    for (size_t i = 0; i < strlen(cert) - 1; i++)
        assert_false(tr__pem_valid((const uint8_t *)cert, i, false));
}

static void test_ip_literals_become_raw_bytes(void **state)
{
    (void)state;
    uint8_t b[16];
    assert_int_equal(tr__ip_bytes("10.0.0.1", b), 4);
    assert_memory_equal(b, "\x0a\x00\x00\x01", 4);
    assert_int_equal(tr__ip_bytes("fd00::1", b), 16);
    assert_int_equal(b[0], 0xfd);
    assert_int_equal(b[15], 1);
    assert_int_equal(tr__ip_bytes("None", b), 0);
    assert_int_equal(tr__ip_bytes("10.0.0.256", b), 0);
    assert_int_equal(tr__ip_bytes(NULL, b), 0);
}

static void test_conditions_are_sorted_and_stamped(void **state)
{
    (void)state;
    json_t *c = json_array();
    assert_true(tr__cond_add(c, tr__cond("ResolvedRefs", true, "ResolvedRefs", "ok")));
    assert_true(tr__cond_add(c, tr__cond("Accepted", false, "NoMatchingParent", "no")));
    json_t *f = tr__conds_final(c, 7);
    assert_int_equal(json_array_size(f), 2);
    assert_string_equal(tr__jstr(json_array_get(f, 0), "type"), "Accepted");
    assert_string_equal(tr__jstr(json_array_get(f, 0), "status"), "False");
    assert_int_equal(tr__jint(json_array_get(f, 1), "observedGeneration", 0), 7);
    /* the input is left alone */
    assert_null(json_object_get(json_array_get(c, 0), "observedGeneration"));
    json_decref(c);
    json_decref(f);
}

static void test_records_compare_by_key_and_canonical_json(void **state)
{
    (void)state;
    const krt_obj_t *a = tr__rec_new("k", json_pack("{s:i, s:s}", "x", 1, "y", "z"));
    const krt_obj_t *b = tr__rec_new("k", json_pack("{s:s, s:i}", "y", "z", "x", 1));
    const krt_obj_t *c = tr__rec_new("k2", json_pack("{s:i, s:s}", "x", 1, "y", "z"));
    const krt_obj_t *d = tr__rec_new("k", json_pack("{s:i}", "x", 2));
    assert_true(krt_obj_equal(a, b)); /* key order in the value does not matter */
    assert_false(krt_obj_equal(a, c));
    assert_false(krt_obj_equal(a, d));
    assert_string_equal(krt_obj_key(a), "k");
    assert_int_equal(krt_type_check(&tr__rec_type), KRT_OK);
    assert_null(tr__rec_new(NULL, json_object()));
    assert_null(tr__rec_new("k", NULL));
    krt_obj_release(a);
    krt_obj_release(b);
    krt_obj_release(c);
    krt_obj_release(d);
}

static void test_json_paths_and_defaults(void **state)
{
    (void)state;
    json_t *v = json_loads("{\"a\":{\"b\":{\"c\":\"x\",\"n\":3,\"f\":4.0,\"t\":true,\"e\":\"\"}}}",
                           0, NULL);
    assert_string_equal(tr__jstr(v, "a.b.c"), "x");
    assert_null(tr__jstr(v, "a.b.n"));
    assert_null(tr__jstr(v, "a.x.c"));
    assert_string_equal(tr__jstr_or(v, "a.b.e", "dflt"), "dflt");
    assert_int_equal(tr__jint(v, "a.b.n", 0), 3);
    assert_int_equal(tr__jint(v, "a.b.f", 0), 4);
    assert_int_equal(tr__jint(v, "a.b.c", -1), -1);
    assert_true(tr__jbool(v, "a.b.t", false));
    assert_true(tr__jbool(v, "a.b.missing", true));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostnames_intersect_like_the_gateway_api),
        cmocka_unit_test(test_selectors_match_labels_and_expressions),
        cmocka_unit_test(test_durations_parse_gateway_api_format),
        cmocka_unit_test(test_rfc3339_times_become_unix_seconds),
        cmocka_unit_test(test_base64_decodes_and_rejects_garbage),
        cmocka_unit_test(test_pem_shape_check),
        cmocka_unit_test(test_ip_literals_become_raw_bytes),
        cmocka_unit_test(test_conditions_are_sorted_and_stamped),
        cmocka_unit_test(test_records_compare_by_key_and_canonical_json),
        cmocka_unit_test(test_json_paths_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
