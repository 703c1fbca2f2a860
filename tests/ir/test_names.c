/*
 * Keys and names (ir/src/names.c) against agentgateway's formats. The expected strings are the
 * reference's own examples (agentgateway-xds.md §0, §1.2, §1.4, §1.5, §2.5, §2.7, which quote the
 * controller's golden files), so a mismatch here means our output cannot be diffed with theirs.
 */
#include "ir_test_util.h"

/* Asserts |got| (owned, freed here) equals |want|. */
static void expect(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    krt_free(got);
}

static void test_names_bind_key_is_port_namespace_gateway(void **state)
{
    (void)state;
    expect(ir_key_bind(80, "default", "test-gateway"), "80/default/test-gateway");
    expect(ir_name_resource(IR_KIND_BIND, "80/default/gw"), "bind/80/default/gw");
}

/* Keys around and past the builder's 255-character first pass come out whole. */
static void test_names_long_keys_are_not_cut(void **state)
{
    (void)state;
    for (size_t len = 250; len <= 260; len++) {
        char name[300], want[320];
        memset(name, 'n', len);
        name[len] = '\0';
        snprintf(want, sizeof want, "ns/%s.http", name);
        expect(ir_key_listener("ns", name, "http"), want);
    }
}

static void test_names_listener_key_is_namespace_owner_dot_listener(void **state)
{
    (void)state;
    expect(ir_key_listener("default", "test-gateway", "http"), "default/test-gateway.http");
    expect(ir_name_resource(IR_KIND_LISTENER, "default/gw.http"), "listener/default/gw.http");
    /* a ListenerSet listener uses the ListenerSet's namespace and name */
    expect(ir_key_listener("apps", "extra", "https"), "apps/extra.https");
}

static void test_names_http_route_key_matches_the_golden_example(void **state)
{
    (void)state;
    char *base = ir_key_route_base(IR_ROUTE_HTTP, "default", "test-route", 0, 0);
    expect(ir_key_route_for_listener(base, "http"), "default/test-route.00.http");
    krt_free(base);
    base = ir_key_route_base(IR_ROUTE_HTTP, "default", "r", 0, 0);
    char *key = ir_key_route_for_listener(base, "http");
    expect(ir_name_resource(IR_KIND_ROUTE, key), "route/default/r.00.http");
    krt_free(key);
    krt_free(base);
    /* the rule index is two digits, growing past 99 as printf does */
    expect(ir_key_route_base(IR_ROUTE_HTTP, "ns", "r", 7, 0), "ns/r.07");
    expect(ir_key_route_base(IR_ROUTE_HTTP, "ns", "r", 123, 0), "ns/r.123");
}

static void test_names_grpc_tcp_tls_route_keys(void **state)
{
    (void)state;
    expect(ir_key_route_base(IR_ROUTE_GRPC, "default", "g", 1, 0), "default/g.01.grpc");
    expect(ir_key_route_base(IR_ROUTE_TCP, "default", "t", 0, 1700000000),
           "1700000000/default/t.00");
    expect(ir_key_route_base(IR_ROUTE_TCP, "default", "t", 2, 42), "0000000042/default/t.02");
    expect(ir_key_route_base(IR_ROUTE_TLS, "default", "s", 0, 42), "0000000042/default/s.00.tls");
    char *k = ir_key_route_for_listener("0000000042/default/t.00", "tcp");
    expect(ir_name_resource(IR_KIND_TCP_ROUTE, k), "tcp_route/0000000042/default/t.00.tcp");
    krt_free(k);
}

static void test_names_route_parent_suffixes(void **state)
{
    (void)state;
    expect(ir_key_route_for_listener_set("default/r.00", "apps", "extra", "https"),
           "default/r.00.apps.extra.https");
    expect(ir_key_route_for_service("default/r.00", "default", "svc", 8080),
           "default/r.00.svc.default.svc.8080");
    expect(ir_key_route_for_service("default/r.00", "default", "svc", 0),
           "default/r.00.svc.default.svc");
    expect(ir_key_route_delegated("default/child.00", "default/parent/default/*"),
           "default/child.00.routegroup.default.parent.default.wildcard");
}

static void test_names_backend_keys(void **state)
{
    (void)state;
    expect(ir_key_backend("default", "b", NULL), "default/b");
    expect(ir_key_backend("default", "b", ""), "default/b");
    expect(ir_key_backend("default", "mcp", "tools"), "default/mcp/tools");
    char *k = ir_key_backend("default", "b", NULL);
    expect(ir_name_resource(IR_KIND_BACKEND, k), "backend/default/b");
    krt_free(k);
}

static void test_names_policy_keys_match_the_golden_examples(void **state)
{
    (void)state;
    char *att = ir_key_attachment("default", "test", NULL);
    expect(ir_key_policy("traffic", "default", "agw", "rbac", att),
           "traffic/default/agw:rbac:default/test");
    krt_free(att);
    char *k = ir_key_policy("traffic", "default", "p", "timeout", "default/gw");
    expect(ir_name_resource(IR_KIND_POLICY, k), "policy/traffic/default/p:timeout:default/gw");
    krt_free(k);
    expect(ir_key_policy("frontend", "default", "p", "frontend-tls", NULL),
           "frontend/default/p:frontend-tls");
    expect(ir_key_policy(NULL, "default", "btls", "backend-tls", "default/svc/8080"),
           "default/btls:backend-tls:default/svc/8080");
    expect(ir_key_attachment("ns", "gw", "listener"), "ns/gw/listener");
    expect(ir_key_attachment_port("ns", "gw", 443), "ns/gw/port=443");
}

static void test_names_address_names(void **state)
{
    (void)state;
    expect(ir_hostname_service("svc", "default", NULL), "svc.default.svc.cluster.local");
    expect(ir_hostname_service("svc", "default", "corp.example"), "svc.default.svc.corp.example");
    expect(ir_name_service("default", "svc.default.svc.cluster.local"),
           "default/svc.default.svc.cluster.local");
    expect(ir_uid_pod("Kubernetes", "default", "p1"), "Kubernetes//Pod/default/p1");
    /* an address's xDS name has no kind prefix */
    expect(ir_name_resource(IR_KIND_ADDRESS, "Kubernetes//Pod/default/p1"),
           "Kubernetes//Pod/default/p1");
}

static void test_names_builders_refuse_missing_components(void **state)
{
    (void)state;
    assert_null(ir_key_bind(80, "", "gw"));
    assert_null(ir_key_bind(80, "default", NULL));
    assert_null(ir_key_listener("default", "gw", ""));
    assert_null(ir_key_route_base(IR_ROUTE_HTTP, "default", NULL, 0, 0));
    assert_null(ir_key_route_base((ir_route_source_t)99, "default", "r", 0, 0));
    assert_null(ir_key_route_for_listener("default/r.00", NULL));
    assert_null(ir_key_backend(NULL, "b", NULL));
    assert_null(ir_key_policy("traffic", "default", "p", "", NULL));
    assert_null(ir_name_resource(IR_KIND_BIND, ""));
    assert_null(ir_name_resource((ir_kind_t)0, "x"));
    assert_null(ir_key_scoped("default/gw", ""));
}

static void test_names_parse_splits_kind_and_inner_key(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        ir_kind_t kind;
        const char *inner;
    } cases[] = {
        {"bind/80/default/gw", IR_KIND_BIND, "80/default/gw"},
        {"listener/default/gw.http", IR_KIND_LISTENER, "default/gw.http"},
        {"route/default/r.00.http", IR_KIND_ROUTE, "default/r.00.http"},
        {"tcp_route/0000000042/default/t.00.tcp", IR_KIND_TCP_ROUTE, "0000000042/default/t.00.tcp"},
        {"backend/default/b", IR_KIND_BACKEND, "default/b"},
        {"policy/traffic/default/p:timeout:default/gw", IR_KIND_POLICY,
         "traffic/default/p:timeout:default/gw"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ir_kind_t k = 0;
        const char *inner = NULL;
        assert_int_equal(ir_name_parse(cases[i].name, &k, &inner), IR_OK);
        assert_int_equal(k, cases[i].kind);
        assert_string_equal(inner, cases[i].inner);
        /* and back */
        expect(ir_name_resource(k, inner), cases[i].name);
    }
    assert_int_equal(ir_name_parse("route_group/default/g", NULL, NULL), IR_EKIND);
    assert_int_equal(ir_name_parse("model_route/default/m", NULL, NULL), IR_EKIND);
    assert_int_equal(ir_name_parse("routes/default/r", NULL, NULL), IR_ENAME);
    assert_int_equal(ir_name_parse("bind/", NULL, NULL), IR_ENAME);
    assert_int_equal(ir_name_parse("bind", NULL, NULL), IR_ENAME);
    assert_int_equal(ir_name_parse("", NULL, NULL), IR_ENAME);
    assert_int_equal(ir_name_parse(NULL, NULL, NULL), IR_EINVAL);
}

static void test_names_scoped_keys_and_gateway_validation(void **state)
{
    (void)state;
    expect(ir_key_scoped("default/gw", "backend/default/b"), "default/gw/backend/default/b");
    expect(ir_key_scoped(NULL, "default/svc.default.svc.cluster.local"),
           "//default/svc.default.svc.cluster.local");
    assert_true(ir_gateway_valid("default/gw"));
    assert_false(ir_gateway_valid("default"));
    assert_false(ir_gateway_valid("/gw"));
    assert_false(ir_gateway_valid("default/"));
    assert_false(ir_gateway_valid("a/b/c"));
    assert_false(ir_gateway_valid(NULL));
    assert_null(ir_key_scoped("bad", "bind/80/a/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_bind_key_is_port_namespace_gateway),
        cmocka_unit_test(test_names_long_keys_are_not_cut),
        cmocka_unit_test(test_names_listener_key_is_namespace_owner_dot_listener),
        cmocka_unit_test(test_names_http_route_key_matches_the_golden_example),
        cmocka_unit_test(test_names_grpc_tcp_tls_route_keys),
        cmocka_unit_test(test_names_route_parent_suffixes),
        cmocka_unit_test(test_names_backend_keys),
        cmocka_unit_test(test_names_policy_keys_match_the_golden_examples),
        cmocka_unit_test(test_names_address_names),
        cmocka_unit_test(test_names_builders_refuse_missing_components),
        cmocka_unit_test(test_names_parse_splits_kind_and_inner_key),
        cmocka_unit_test(test_names_scoped_keys_and_gateway_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
