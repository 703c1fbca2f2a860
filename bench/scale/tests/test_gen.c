/*
 * Tests of the synthetic cluster generator (bench/scale/gen.c): determinism, the counts of every
 * named scale, objects the kube source accepts, and references that resolve (every route's
 * parent Gateway and backend Services exist, every Pod is selected by its Service). The scenario
 * runner is proven by the smoke run (ctest bench/krtgate_bench_smoke), which compares every
 * scenario's outputs with a full recompute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/source.h"
#include "scale.h"

static char *dump_all(const bs_cluster_t *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(bs_cluster_write(c, f), 0);
    fclose(f);
    return buf;
}

static void test_same_seed_same_bytes_other_seed_other_uids(void **state)
{
    (void)state;
    const bs_scale_t *s = bs_scale_find("tiny");
    assert_non_null(s);
    bs_cluster_t *a = bs_cluster_new(s, 7), *b = bs_cluster_new(s, 7), *c = bs_cluster_new(s, 8);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    char *da = dump_all(a), *db = dump_all(b), *dc = dump_all(c);
    assert_string_equal(da, db);
    assert_string_not_equal(da, dc);
    free(da);
    free(db);
    free(dc);
    bs_cluster_free(a);
    bs_cluster_free(b);
    bs_cluster_free(c);
}

static void test_named_scales_have_the_issue_counts(void **state)
{
    (void)state;
    const bs_scale_t *small = bs_scale_find("small"), *agw = bs_scale_find("agw-5k"),
                     *large = bs_scale_find("large");
    assert_non_null(small);
    assert_non_null(agw);
    assert_non_null(large);
    assert_null(bs_scale_find("huge"));
    assert_int_equal(small->gateways, 5);
    assert_int_equal(small->routes, 500);
    assert_int_equal(small->services, 1000);
    assert_int_equal(small->pods, 2000);
    assert_int_equal(agw->gateways, 50);
    assert_int_equal(agw->routes, 50 * 100);
    assert_int_equal(large->gateways, 100);
    assert_int_equal(large->routes, 50000);
    assert_int_equal(large->services, 20000);
    assert_int_equal(large->pods, 100000);

    bs_cluster_t *c = bs_cluster_new(small, 1);
    assert_non_null(c);
    assert_int_equal(c->len[BS_GATEWAY_CLASS], 1);
    assert_int_equal(c->len[BS_GATEWAY], 5);
    assert_int_equal(c->len[BS_HTTP_ROUTE], 500);
    assert_int_equal(c->len[BS_SERVICE], 1000 + 1); /* + shared/shared-api */
    assert_int_equal(c->len[BS_POD], 2000);
    assert_int_equal(c->len[BS_NAMESPACE], 20 + 2);
    assert_int_equal(c->len[BS_REFERENCE_GRANT], 5);
    assert_int_equal(bs_cluster_count(c), 1 + 5 + 500 + 1001 + 2000 + 22 + 5);
    bs_cluster_free(c);
}

static int logged_errors;
static void count_log(int level, const char *msg, void *ud)
{
    (void)msg;
    (void)ud;
    if (level >= KRT_LOG_WARN)
        logged_errors++;
}

static void test_every_object_enters_the_kube_source(void **state)
{
    (void)state;
    bs_cluster_t *c = bs_cluster_new(bs_scale_find("tiny"), 1);
    assert_non_null(c);
    krt_engine_t *e = krt_engine_new();
    kube_source_options_t so = {.log = count_log};
    kube_source_t *src = kube_source_new(e, &so);
    assert_non_null(src);
    logged_errors = 0;
    for (int k = 0; k < BS_KIND_COUNT; k++)
        for (size_t i = 0; i < c->len[k]; i++) {
            kube_change_t ch = {.op = KUBE_CHANGE_PUT, .object = bs_cluster_get(c, k, i)};
            assert_non_null(ch.object);
            assert_int_equal(kube_source_apply(src, &ch, 1), KUBE_OK);
            json_decref(ch.object);
        }
    assert_int_equal(logged_errors, 0);
    assert_int_equal(kube_source_unknown_kinds(src), 0);
    assert_int_equal(krt_collection_len(kube_source_collection(src, "HTTPRoute")),
                     c->len[BS_HTTP_ROUTE]);
    assert_int_equal(krt_collection_len(kube_source_collection(src, "Pod")), c->len[BS_POD]);
    assert_int_equal(krt_collection_len(kube_source_collection(src, "ReferenceGrant")),
                     c->len[BS_REFERENCE_GRANT]);
    kube_source_free(src);
    krt_engine_free(e);
    bs_cluster_free(c);
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

static bool service_exists(const bs_cluster_t *c, const char *ns, const char *name)
{
    for (size_t i = 0; i < c->len[BS_SERVICE]; i++) {
        json_t *o = bs_cluster_get(c, BS_SERVICE, i);
        bool same = strcmp(str_at(o, "metadata", "namespace"), ns) == 0 &&
                    strcmp(str_at(o, "metadata", "name"), name) == 0;
        json_decref(o);
        if (same)
            return true;
    }
    return false;
}

static void test_references_resolve(void **state)
{
    (void)state;
    bs_cluster_t *c = bs_cluster_new(bs_scale_find("tiny"), 1);
    assert_non_null(c);
    size_t per_gw[8] = {0};
    for (size_t r = 0; r < c->len[BS_HTTP_ROUTE]; r++) {
        json_t *o = bs_cluster_get(c, BS_HTTP_ROUTE, r);
        const char *ns = str_at(o, "metadata", "namespace");
        json_t *parent = json_array_get(json_object_get(json_object_get(o, "spec"), "parentRefs"), 0);
        unsigned g = 99;
        assert_int_equal(sscanf(json_string_value(json_object_get(parent, "name")), "gw-%u", &g), 1);
        assert_true(g < c->len[BS_GATEWAY]);
        per_gw[g]++;
        json_t *rules = json_object_get(json_object_get(o, "spec"), "rules");
        for (size_t i = 0; i < json_array_size(rules); i++) {
            json_t *refs = json_object_get(json_array_get(rules, i), "backendRefs");
            for (size_t j = 0; j < json_array_size(refs); j++) {
                json_t *ref = json_array_get(refs, j);
                const char *rns = json_string_value(json_object_get(ref, "namespace"));
                assert_true(service_exists(c, rns ? rns : ns,
                                           json_string_value(json_object_get(ref, "name"))));
            }
        }
        json_decref(o);
    }
    /* routes are spread evenly over the Gateways */
    for (size_t g = 0; g < c->len[BS_GATEWAY]; g++)
        assert_int_equal(per_gw[g], c->len[BS_HTTP_ROUTE] / c->len[BS_GATEWAY]);
    /* every Pod's app label names a Service of its namespace */
    for (size_t p = 0; p < c->len[BS_POD]; p++) {
        json_t *o = bs_cluster_get(c, BS_POD, p);
        const char *app =
            json_string_value(json_object_get(json_object_get(json_object_get(o, "metadata"), "labels"), "app"));
        assert_non_null(app);
        assert_true(service_exists(c, str_at(o, "metadata", "namespace"), app));
        assert_string_equal(str_at(o, "status", "phase"), "Running");
        json_decref(o);
    }
    bs_cluster_free(c);
}

static void test_edits_change_one_field_only(void **state)
{
    (void)state;
    bs_cluster_t *c = bs_cluster_new(bs_scale_find("tiny"), 1);
    assert_non_null(c);
    json_t *a = bs_gen_route(c, 3, 1), *b = bs_gen_route(c, 3, 2);
    json_t *stored = bs_cluster_get(c, BS_HTTP_ROUTE, 3);
    assert_true(json_equal(a, stored));
    json_decref(stored);
    assert_false(json_equal(a, b));
    json_t *ra = json_object_get(json_object_get(a, "spec"), "rules");
    json_t *rb = json_object_get(json_object_get(b, "spec"), "rules");
    assert_true(json_equal(json_array_get(ra, 1), json_array_get(rb, 1)));
    assert_true(json_equal(json_object_get(a, "metadata"), json_object_get(b, "metadata")));
    json_decref(a);
    json_decref(b);
    json_t *p0 = bs_gen_pod(c, 5, 0), *p1 = bs_gen_pod(c, 5, 1);
    stored = bs_cluster_get(c, BS_POD, 5);
    assert_true(json_equal(p0, stored));
    json_decref(stored);
    assert_string_not_equal(str_at(p0, "status", "podIP"), str_at(p1, "status", "podIP"));
    json_decref(p0);
    json_decref(p1);
    bs_cluster_set(c, BS_REFERENCE_GRANT, 0, NULL);
    assert_int_equal(bs_cluster_count(c), 84 - 1);
    bs_cluster_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes_other_seed_other_uids),
        cmocka_unit_test(test_named_scales_have_the_issue_counts),
        cmocka_unit_test(test_every_object_enters_the_kube_source),
        cmocka_unit_test(test_references_resolve),
        cmocka_unit_test(test_edits_change_one_field_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
