/*
 * translate/graph.c: the public API (construction, inputs, outputs, status access, JSON lines)
 * and the graph's behaviour under allocation failures: wherever an allocation fails, during
 * construction or during a flush, nothing leaks or crashes, and once memory is back one more
 * flush reaches exactly the translation an unhindered run computes.
 */
#include "tr_test.h"

#include "ir/bind.h"

#define GOLDEN_DIR KRT_SOURCE_DIR "/tests/translate/golden"

static void test_strerror_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(tr_strerror(TR_OK), "success");
    assert_string_equal(tr_strerror(TR_ENOMEM), "out of memory");
    assert_non_null(strstr(tr_strerror(TR_ESOURCE), "input collection"));
    assert_string_equal(tr_strerror(12345), "unknown error");
}

static void test_sources_set_knows_every_kind(void **state)
{
    (void)state;
    tr_sources_t s = {0};
    krt_collection_t *dummy = (krt_collection_t *)&s; /* only stored, never used */
    assert_int_equal(tr_source_kinds_len, 17);
    for (size_t i = 0; i < tr_source_kinds_len; i++)
        assert_int_equal(tr_sources_set(&s, tr_source_kinds[i], dummy), TR_OK);
    assert_ptr_equal(s.gateway_classes, dummy);
    assert_ptr_equal(s.secrets, dummy);
    assert_ptr_equal(s.endpoint_slices, dummy);
    assert_int_equal(tr_sources_set(&s, "Deployment", dummy), TR_EINVAL);
    assert_int_equal(tr_sources_set(&s, NULL, dummy), TR_EINVAL);
    assert_int_equal(tr_sources_set(NULL, "Gateway", dummy), TR_EINVAL);
}

static void test_graph_without_inputs_is_empty_and_complete(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    tr_sources_t in = {0};
    int err = -1;
    tr_graph_t *g = tr_graph_new(e, &in, NULL, &err);
    assert_non_null(g);
    assert_int_equal(err, TR_OK);
    assert_ptr_equal(tr_graph_engine(g), e);
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_engine_check(e), KRT_OK);
    for (int k = IR_KIND_BIND; k <= IR_KIND_ADDRESS; k++) {
        krt_collection_t *c = tr_graph_output(g, (ir_kind_t)k);
        assert_non_null(c);
        assert_ptr_equal(krt_collection_type(c), ir_kind_type((ir_kind_t)k));
        assert_int_equal(krt_collection_len(c), 0);
        assert_true(krt_collection_synced(c));
    }
    for (int k = 0; k < TR_STATUS_KIND_COUNT; k++) {
        assert_non_null(tr_graph_status(g, (tr_status_kind_t)k));
        assert_non_null(tr_status_kind_name((tr_status_kind_t)k));
    }
    assert_string_equal(tr_status_kind_name(TR_STATUS_TLS_ROUTE), "TLSRoute");
    assert_null(tr_status_kind_name((tr_status_kind_t)99));
    assert_null(tr_graph_status(g, (tr_status_kind_t)99));
    assert_null(tr_graph_output(g, (ir_kind_t)0));
    char *lines = tr_graph_dump_lines(g);
    assert_non_null(lines);
    assert_string_equal(lines, "");
    free(lines);
    tr_graph_free(g);
    tr_graph_free(NULL);
    krt_engine_free(e);
}

static void test_graph_refuses_foreign_or_mistyped_inputs(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new(), *other = krt_engine_new();
    tr_sources_t in = {0};
    int err = 0;
    in.gateways = krt_static_new(other, &krt_json_type, "gw", true);
    assert_null(tr_graph_new(e, &in, NULL, &err));
    assert_int_equal(err, TR_ESOURCE);
    in.gateways = krt_static_new(e, &ir_bind_type, "binds", true);
    assert_null(tr_graph_new(e, &in, NULL, &err));
    assert_int_equal(err, TR_ESOURCE);
    assert_null(tr_graph_new(e, NULL, NULL, &err));
    assert_int_equal(err, TR_EINVAL);
    assert_null(tr_graph_new(NULL, &in, NULL, NULL));
    krt_engine_free(e);
    krt_engine_free(other);
}

static void test_options_name_controller_domain_and_collections(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    tr_sources_t in = {0};
    in.gateway_classes = krt_static_new(e, &krt_json_type, "classes", true);
    in.services = krt_static_new(e, &krt_json_type, "services", true);
    tr_options_t opt = {
        .controller_name = "example.com/mine", .domain = "corp.internal", .name_prefix = "x/"};
    tr_graph_t *g = tr_graph_new(e, &in, &opt, NULL);
    assert_non_null(g);
    assert_ptr_equal(krt_engine_collection(e, "x/Route"), tr_graph_output(g, IR_KIND_ROUTE));
    const char *cls = "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"GatewayClass\","
                      "\"metadata\":{\"name\":\"c\"},\"spec\":{\"controllerName\":"
                      "\"example.com/mine\"}}";
    const char *svc = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\","
                      "\"namespace\":\"n\"},\"spec\":{\"ports\":[{\"port\":80}]}}";
    krt_static_put(in.gateway_classes, krt_json_parse(cls, strlen(cls), NULL));
    krt_static_put(in.services, krt_json_parse(svc, strlen(svc), NULL));
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    const krt_obj_t *st = krt_collection_get(tr_graph_status(g, TR_STATUS_GATEWAY_CLASS), "c");
    assert_non_null(st);
    json_t *line = tr_line_status(TR_STATUS_GATEWAY_CLASS, st);
    char *text = tr_line_text(line);
    assert_non_null(strstr(text, "\"object\":\"GatewayClass\""));
    assert_non_null(strstr(text, "\"reason\":\"Accepted\""));
    free(text);
    json_decref(line);
    assert_non_null(
        krt_collection_get(tr_graph_output(g, IR_KIND_ADDRESS), "//n/s.n.svc.corp.internal"));
    /* accessors refuse objects of the wrong kind */
    assert_null(tr_status_json(krt_collection_get(in.services, "n/s")));
    assert_null(tr_line_resource(krt_collection_get(in.services, "n/s")));
    assert_null(tr_line_status(TR_STATUS_GATEWAY, krt_collection_get(in.services, "n/s")));
    assert_null(tr_line_text(NULL));
    tr_graph_free(g);
    krt_engine_free(e);
}

/* ---------------------------------------------------------------------------------------------
 * Allocation failures.
 * ------------------------------------------------------------------------------------------- */
static long fail_at = -1; /* the allocation number that fails; -1: none */
static long allocs;

static void *fail_malloc(size_t size, void *ud)
{
    (void)ud;
    if (allocs++ == fail_at)
        return NULL;
    return malloc(size);
}

static void *fail_realloc(void *p, size_t size, void *ud)
{
    (void)ud;
    if (allocs++ == fail_at)
        return NULL;
    return realloc(p, size);
}

static void fail_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static const krt_allocator_t failing = {fail_malloc, fail_realloc, fail_free, NULL};

static void quiet(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

/* Loads |m| and flushes with allocation number |at| failing (-1: none); then, with memory back,
 * flushes once more. Returns the dump (NULL when the graph could not be built), and the number
 * of allocations the first phase made in *count. */
static char *run_with_failure(const kube_manifest_t *m, long at, long *count)
{
    krt_allocator_set(&failing);
    allocs = 0;
    fail_at = at;
    krt_engine_t *e = krt_engine_new();
    kube_source_options_t so = {.log = quiet};
    kube_source_t *src = e ? kube_source_new(e, &so) : NULL;
    tr_graph_t *g = NULL;
    char *lines = NULL;
    if (src) {
        krt_engine_set_log(e, quiet, NULL);
        tr_sources_t in = {0};
        for (size_t i = 0; i < tr_source_kinds_len; i++)
            tr_sources_set(&in, tr_source_kinds[i],
                           kube_source_collection(src, tr_source_kinds[i]));
        int err = 0;
        g = tr_graph_new(e, &in, NULL, &err);
        if (!g)
            assert_int_equal(err, TR_ENOMEM);
    }
    if (g) {
        for (size_t i = 0; i < m->nitems; i++) {
            kube_change_t c = {KUBE_CHANGE_PUT, m->items[i].object, NULL, "oom", false};
            kube_source_apply(src, &c, 1);
        }
        int rc = krt_engine_flush(e);
        assert_true(rc == KRT_OK || rc == KRT_ENOMEM);
    }
    if (count)
        *count = allocs;
    fail_at = -1;
    if (g) {
        /* a put refused under OOM is lost, as a feeder would see its apply fail: re-apply */
        for (size_t i = 0; i < m->nitems; i++) {
            kube_change_t c = {KUBE_CHANGE_PUT, m->items[i].object, NULL, "oom", false};
            assert_int_equal(kube_source_apply(src, &c, 1), KUBE_OK);
        }
        assert_int_equal(krt_engine_flush(e), KRT_OK);
        assert_int_equal(krt_engine_check(e), KRT_OK);
        lines = tr_graph_dump_lines(g);
    }
    tr_graph_free(g);
    kube_source_free(src);
    krt_engine_free(e);
    krt_allocator_set(NULL);
    return lines;
}

static void test_allocation_failures_leak_nothing_and_converge(void **state)
{
    (void)state;
    static const char *const cases[] = {"own-listeners",    "own-filters",      "own-addresses",
                                        "own-agw-backends", "own-agw-policies", "own-listenersets"};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/in.yaml", GOLDEN_DIR, cases[k]);
        kube_manifest_t m;
        kube_manifest_init(&m);
        trt_parse_file(&m, path);
        long total = 0;
        char *want = run_with_failure(&m, -1, &total);
        assert_non_null(want);
        assert_true(total > 100);
        /* about 150 failure points spread over the whole run, the first 50 all included */
        long stride = total / 150 > 0 ? total / 150 : 1;
        for (long at = 0; at < total; at += at < 50 ? 1 : stride) {
            char *got = run_with_failure(&m, at, NULL);
            if (got && strcmp(got, want) != 0)
                fail_msg("%s: allocation %ld failing leaves a different translation", cases[k], at);
            free(got);
        }
        free(want);
        kube_manifest_dispose(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_sources_set_knows_every_kind),
        cmocka_unit_test(test_graph_without_inputs_is_empty_and_complete),
        cmocka_unit_test(test_graph_refuses_foreign_or_mistyped_inputs),
        cmocka_unit_test(test_options_name_controller_domain_and_collections),
        cmocka_unit_test(test_allocation_failures_leak_nothing_and_converge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
