/*
 * Tests of proxy/localconfig.c: agentgateway's local config (binds form, gateways + routes form,
 * JSON) becomes the IR the config store accepts; everything outside the subset is refused with
 * FILE:LINE and the field path; truncated input at every length and failing allocations never
 * crash or leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ir/backend.h"
#include "ir/listener.h"
#include "ir/route.h"
#include "proxy/config.h"
#include "proxy/frontend.h"
#include "proxy/localconfig.h"

static const char binds_yaml[] = "# the binds form\n"
                                 "config:\n"
                                 "  adminAddr: localhost:15000\n"
                                 "binds:\n"
                                 "- port: 8080\n"
                                 "  listeners:\n"
                                 "  - name: http\n"
                                 "    hostname: example.local\n"
                                 "    routes:\n"
                                 "    - name: echo\n"
                                 "      namespace: apps\n"
                                 "      ruleName: r0\n"
                                 "      matches:\n"
                                 "      - path: {pathPrefix: /echo/}\n"
                                 "        headers: [{name: x-a, value: {exact: b}}]\n"
                                 "        method: GET\n"
                                 "      policies:\n"
                                 "        requestHeaderModifier: {set: {x-env: prod}}\n"
                                 "        cors: {allowOrigins: ['*'], maxAge: 10s}\n"
                                 "        timeout: {requestTimeout: 1.5s}\n"
                                 "      backends:\n"
                                 "      - host: 127.0.0.1:9000\n"
                                 "        weight: 3\n"
                                 "      - backend: b1\n"
                                 "    - name: other\n"
                                 "backends:\n"
                                 "- name: b1\n"
                                 "  host: 10.0.0.1:80\n";

typedef struct parsed {
    proxy_localconfig_t *lc;
    char err[512];
    int rc;
} parsed_t;

static parsed_t parse(const char *text)
{
    parsed_t p;
    p.lc = NULL;
    p.rc = proxy_localconfig_parse(text, strlen(text), "f.yaml", &p.lc, p.err, sizeof p.err);
    return p;
}

static const ir_obj_t *find(const proxy_localconfig_t *lc, const char *name)
{
    size_t n;
    const proxy_change_t *ch = proxy_localconfig_changes(lc, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ch[i].name, name))
            return ch[i].obj;
    return NULL;
}

/* The object's dump as compact JSON with sorted keys (owned by caller). */
static char *dump(const ir_obj_t *o)
{
    assert_non_null(o);
    json_t *j = ir_obj_dump(o);
    char *s = json_dumps(json_object_get(j, "resource"), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("'%s' not found in '%s'", needle, hay);
}

static void assert_applies(const proxy_localconfig_t *lc)
{
    proxy_config_t *cfg = proxy_config_new();
    size_t n;
    const proxy_change_t *ch = proxy_localconfig_changes(lc, &n);
    char reason[512] = "";
    int rc = proxy_config_apply(cfg, ch, n, true, reason, sizeof reason);
    if (rc != PROXY_OK)
        fail_msg("the store refused the file: %s", reason);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void test_binds_form_becomes_bind_listener_routes_backend(void **state)
{
    (void)state;
    parsed_t p = parse(binds_yaml);
    assert_int_equal(p.rc, PROXY_OK);
    size_t n;
    const proxy_change_t *ch = proxy_localconfig_changes(p.lc, &n);
    assert_int_equal(n, 5);
    /* kind order: binds, listeners, backends, routes */
    assert_string_equal(ch[0].name, "bind/8080");
    assert_string_equal(ch[1].name, "listener/8080.http");
    assert_string_equal(ch[2].name, "backend/b1");
    assert_string_equal(ch[3].name, "route/apps/echo.r0");
    assert_string_equal(ch[4].name, "route/default/other");
    char *s = dump(find(p.lc, "listener/8080.http"));
    assert_contains(s, "\"bindKey\":\"8080\"");
    assert_contains(s, "\"hostname\":\"example.local\"");
    assert_contains(s, "\"protocol\":\"HTTP\"");
    free(s);
    s = dump(find(p.lc, "route/apps/echo.r0"));
    assert_contains(s, "\"listenerKey\":\"8080.http\"");
    assert_contains(s, "\"pathPrefix\":\"/echo\""); /* trailing slash trimmed */
    assert_contains(s, "\"headers\":[{\"exact\":\"b\",\"name\":\"x-a\"}]");
    assert_contains(s, "\"method\":{\"exact\":\"GET\"}");
    assert_contains(s, "\"set\":[{\"name\":\"x-env\",\"value\":\"prod\"}]");
    assert_contains(s, "\"cors\":{\"allowOrigins\":[\"*\"],\"maxAge\":\"10s\"}");
    assert_contains(s, "\"timeout\":{\"request\":\"1.500s\"}");
    assert_contains(s, "{\"backend\":{\"inline\":{\"hostname\":\"127.0.0.1\",\"port\":9000}");
    assert_contains(s, "\"weight\":3");
    assert_contains(s, "{\"backend\":{\"backend\":\"b1\"},\"weight\":1}");
    assert_contains(s, "\"ruleName\":\"r0\"");
    free(s);
    /* no matches: agentgateway's default prefix "/" */
    s = dump(find(p.lc, "route/default/other"));
    assert_contains(s, "\"matches\":[{\"path\":{\"pathPrefix\":\"/\"}}]");
    free(s);
    s = dump(find(p.lc, "backend/b1"));
    assert_contains(s, "\"static\":{\"host\":\"10.0.0.1\",\"port\":80}");
    free(s);
    assert_applies(p.lc);
    proxy_localconfig_free(p.lc);
}

static void test_gateways_and_routes_form_attaches_routes_by_name(void **state)
{
    (void)state;
    parsed_t p = parse("gateways:\n"
                       "  default:\n"
                       "    port: 8080\n"
                       "  secure:\n"
                       "    port: 8443\n"
                       "    listeners:\n"
                       "    - name: api\n"
                       "      hostname: api.example.com\n"
                       "    - name: web\n"
                       "routes:\n"
                       "- gateways: [default, secure/api]\n"
                       "  name: api\n"
                       "  hostnames: [api.example.com]\n"
                       "  policies:\n"
                       "    requestRedirect: {scheme: https, authority: {port: 8443}, "
                       "path: {prefix: /x}, status: 301}\n"
                       "    urlRewrite: {authority: {host: up.local}, path: {full: /y}}\n"
                       "    retry: {attempts: 2, codes: [503, 504]}\n"
                       "    directResponse: {status: 418, body: teapot}\n"
                       "  backends:\n"
                       "  - service: {name: default/echo.default.svc.cluster.local, port: 80}\n"
                       "- gateways: [secure]\n"
                       "  name: all\n");
    assert_int_equal(p.rc, PROXY_OK);
    assert_non_null(find(p.lc, "bind/8080"));
    assert_non_null(find(p.lc, "bind/8443"));
    assert_non_null(find(p.lc, "listener/8080.default")); /* implicit listener */
    assert_non_null(find(p.lc, "listener/8443.api"));
    assert_non_null(find(p.lc, "listener/8443.web"));
    /* one route per listener, keys told apart by the listener */
    char *s = dump(find(p.lc, "route/default/api@8080.default"));
    assert_contains(s, "\"requestRedirect\":{\"port\":8443,\"prefix\":\"/x\",\"scheme\":\"https\","
                       "\"status\":301}");
    assert_contains(s, "\"urlRewrite\":{\"full\":\"/y\",\"host\":\"up.local\"}");
    assert_contains(s, "\"retry\":{\"attempts\":2,\"retryStatusCodes\":[503,504]}");
    assert_contains(s, "\"directResponse\":{\"body\":\"dGVhcG90\",\"status\":418}");
    assert_contains(s, "\"service\":{\"hostname\":\"echo.default.svc.cluster.local\","
                       "\"namespace\":\"default\"}");
    free(s);
    assert_non_null(find(p.lc, "route/default/api@8443.api"));
    assert_null(find(p.lc, "route/default/api@8443.web"));
    assert_non_null(find(p.lc, "route/default/all@8443.api"));
    assert_non_null(find(p.lc, "route/default/all@8443.web"));
    assert_applies(p.lc);
    proxy_localconfig_free(p.lc);
}

static void test_json_and_empty_files(void **state)
{
    (void)state;
    parsed_t p = parse("{\"binds\": [{\"port\": 3000, \"listeners\": [{\"routes\": [{\"backends\": "
                       "[{\"host\": \"[::1]:9000\"}]}]}]}]}");
    assert_int_equal(p.rc, PROXY_OK);
    char *s = dump(find(p.lc, "route/default/route0"));
    assert_contains(s, "\"hostname\":\"::1\"");
    assert_contains(s, "\"listenerKey\":\"3000.listener0\"");
    free(s);
    assert_applies(p.lc);
    proxy_localconfig_free(p.lc);
    p = parse("");
    assert_int_equal(p.rc, PROXY_OK);
    size_t n = 1;
    proxy_localconfig_changes(p.lc, &n);
    assert_int_equal(n, 0);
    proxy_localconfig_free(p.lc);
    p = parse("# only a comment\n");
    assert_int_equal(p.rc, PROXY_OK);
    proxy_localconfig_free(p.lc);
    proxy_localconfig_free(NULL);
}

/* Each bad file is refused whole, and the message names the file, the line and the field. */
static void test_errors_name_file_line_and_field(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"binds:\n- port: 80\n  listeners:\n  - routes:\n    - matches:\n      - path: {pathPrefx: "
         "/a}\n",
         "f.yaml:6: binds[0].listeners[0].routes[0].matches[0].path.pathPrefx: unknown field"},
        {"binds:\n- port: 80\n  listeners:\n  - routes:\n    - policies:\n        jwtAuth: {}\n",
         "f.yaml:6: binds[0].listeners[0].routes[0].policies.jwtAuth: not supported by krtgate"},
        {"binds:\n- port: 80\n  listeners:\n  - tls: {cert: a, key: b}\n",
         "f.yaml:4: binds[0].listeners[0].tls: not supported by krtgate"},
        {"binds:\n- port: 80\n  listeners:\n  - protocol: HTTPS\n",
         "f.yaml:4: binds[0].listeners[0].protocol: HTTPS listeners are not supported"},
        {"binds:\n- port: 80\n  listeners:\n  - routes:\n    - backends:\n      - host: nope\n",
         "f.yaml:6: binds[0].listeners[0].routes[0].backends[0].host: must be HOST:PORT"},
        {"binds:\n- port: 80\n- port: 80\n", "f.yaml:3: binds[1].port: port 80 is used twice"},
        {"binds:\n- port: 70000\n", "f.yaml:2: binds[0].port: 70000 is out of range"},
        {"binds:\n- port: '80'\n", "f.yaml:2: binds[0].port: must be an integer, not a string"},
        {"binds: {}\n", "f.yaml:1: binds: must be a list, not a mapping"},
        {"tcpRoutes: []\n", "f.yaml:1: tcpRoutes: not supported by krtgate"},
        {"frontendPolicies: []\n", "f.yaml:1: frontendPolicies: must be a mapping, not a list"},
        {"bogus: 1\n", "f.yaml:1: bogus: unknown field"},
        {"a: 1\na: 2\n", "line 2: key 'a' appears twice"},
        {"x: &a 1\ny: *a\n", "line 2: YAML aliases"},
        {"binds: []\n---\nbinds: []\n", "one YAML document expected"},
        {"binds: [\n", "f.yaml:2: not valid YAML or JSON"},
        {"- 1\n", "the top level must be a mapping"},
        {"config: \"\\uD800\"\n", "f.yaml:1: not valid YAML or JSON"},
        {"routes:\n- gateways: [nope]\n", "f.yaml:2: routes[0].gateways[0]: no gateway named nope"},
        {"gateways:\n  g: {port: 80}\nroutes:\n- gateways: [g/x]\n",
         "f.yaml:4: routes[0].gateways[0]: gateway g has no listener x"},
        {"routes:\n- name: a\n", "f.yaml:2: routes[0]: needs gateways"},
        {"binds:\n- port: 80\n  listeners:\n  - routes:\n    - policies:\n        timeout: "
         "{requestTimeout: soon}\n",
         "f.yaml:6: binds[0].listeners[0].routes[0].policies.timeout.requestTimeout: must be a "
         "duration"},
        {"binds:\n- port: 80\n  listeners:\n  - routes:\n    - name: a\n    - name: a\n",
         "a second route named default/a"},
        {"backends:\n- name: b\n  ai: {}\n", "f.yaml:3: backends[0].ai: not supported by krtgate"},
        {"binds:\n- port: 80\n  listeners:\n  - routes:\n    - backends:\n      - host: a:1\n"
         "        backend: b\n",
         "needs exactly one of host, service, backend"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed_t p = parse(cases[i].text);
        if (p.rc != PROXY_ECONFIG)
            fail_msg("case %zu: accepted:\n%s", i, cases[i].text);
        assert_null(p.lc);
        if (!strstr(p.err, cases[i].want))
            fail_msg("case %zu: error '%s' does not say '%s'", i, p.err, cases[i].want);
    }
}

static const char frontend_yaml[] =
    "gateways:\n"
    "  a: {port: 8080}\n"
    "  b: {port: 8081}\n"
    "frontendPolicies:\n"
    "  http: {http1IdleTimeout: 2s, http1MaxHeaders: 20, http2FrameSize: 32768,\n"
    "         maxBufferSize: 8192, http2KeepaliveInterval: 30s}\n"
    "  tls: {tlsHandshakeTimeout: 3s, alpn: [http/1.1]}\n"
    "  tcp: {keepalives: {time: 60s, interval: 10s, retries: 5}}\n";

/* frontendPolicies apply to every Gateway of the file: one Policy per kind and Gateway, which
 * the store accepts and proxy_frontend_resolve applies to each Bind. */
static void test_frontend_policies_apply_to_every_gateway(void **state)
{
    (void)state;
    parsed_t p = parse(frontend_yaml);
    if (p.rc != PROXY_OK)
        fail_msg("%s", p.err);
    size_t n;
    const proxy_change_t *ch = proxy_localconfig_changes(p.lc, &n);
    size_t npol = 0;
    for (size_t i = 0; i < n; i++)
        npol += ir_obj_kind(ch[i].obj) == IR_KIND_POLICY;
    assert_int_equal(npol, 6); /* three kinds, two Gateways */
    assert_applies(p.lc);
    proxy_config_t *cfg = proxy_config_new();
    char reason[512];
    assert_int_equal(proxy_config_apply(cfg, ch, n, true, reason, sizeof reason), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    proxy_options_t o;
    proxy_options_default(&o);
    const char *binds[] = {"8080", "8081"};
    for (size_t i = 0; i < 2; i++) {
        proxy_frontend_t fe;
        proxy_frontend_resolve(s, binds[i], &o, &fe);
        assert_non_null(fe.http_policy);
        assert_int_equal(fe.http1_idle_ms, 2000);
        assert_int_equal(fe.http1_max_headers, 20);
        assert_int_equal(fe.max_buffered_input, 8192);
        assert_int_equal(fe.conn.h2.max_frame_size, 32768);
        assert_int_equal(fe.conn.keepalive_ms, 30000);
        assert_int_equal(fe.conn.handshake_timeout_ms, 3000);
        assert_true(fe.tls_alpn_set);
        assert_string_equal(fe.tls_alpn[0], "http/1.1");
        assert_int_equal(fe.conn.tcp_keepalive_idle_s, 60);
        assert_int_equal(fe.conn.tcp_keepalive_interval_s, 10);
        assert_int_equal(fe.conn.tcp_keepalive_probes, 5);
    }
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
    proxy_localconfig_free(p.lc);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"frontendPolicies:\n  http: {http2FrameSize: 100}\n",
         "f.yaml:2: frontendPolicies.http.http2FrameSize: 100 is out of range [16384, 16777215]"},
        {"frontendPolicies:\n  tls: {alpn: [spdy]}\n",
         "frontendPolicies.tls.alpn[0]: must be \"h2\" or \"http/1.1\""},
        {"frontendPolicies:\n  accessLog: {}\n",
         "f.yaml:2: frontendPolicies.accessLog: not supported by krtgate"},
        {"frontendPolicies:\n  http: {http1IdleTimeout: soon}\n",
         "f.yaml:2: frontendPolicies.http.http1IdleTimeout: must be a duration"},
        {"frontendPolicies:\n  tcp: {keepalives: {retries: 0}}\n",
         "frontendPolicies.tcp.keepalives.retries: 0 is out of range"},
        {"frontendPolicies:\n  http: {http1HeaderCase: Preserve}\n",
         "frontendPolicies.http.http1HeaderCase: unknown field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parsed_t q = parse(bad[i].text);
        if (q.rc != PROXY_ECONFIG)
            fail_msg("case %zu: accepted:\n%s", i, bad[i].text);
        if (!strstr(q.err, bad[i].want))
            fail_msg("case %zu: error '%s' does not say '%s'", i, q.err, bad[i].want);
    }
}

/* A regex that does not compile parses (the parser does not judge regexes) but the store refuses
 * the change set whole: the command then keeps the last good config. */
static void test_store_rejects_what_the_parser_cannot_judge(void **state)
{
    (void)state;
    parsed_t p = parse("binds:\n- port: 80\n  listeners:\n  - routes:\n    - matches:\n"
                       "      - path: {regex: '/a(b'}\n");
    assert_int_equal(p.rc, PROXY_OK);
    proxy_config_t *cfg = proxy_config_new();
    size_t n;
    const proxy_change_t *ch = proxy_localconfig_changes(p.lc, &n);
    char reason[512];
    assert_int_equal(proxy_config_apply(cfg, ch, n, true, reason, sizeof reason), PROXY_ECONFIG);
    assert_non_null(strstr(reason, "does not compile"));
    proxy_config_free(cfg);
    proxy_localconfig_free(p.lc);
}

/* Every prefix of a valid file parses or is refused; none crashes (ASan watches). */
static void test_every_truncation_is_handled(void **state)
{
    (void)state;
    const char *texts[] = {binds_yaml, frontend_yaml};
    for (size_t t = 0; t < 2; t++) {
        size_t len = strlen(texts[t]);
        for (size_t l = 0; l <= len; l++) {
            proxy_localconfig_t *lc = NULL;
            char err[256];
            int rc = proxy_localconfig_parse(texts[t], l, NULL, &lc, err, sizeof err);
            assert_true(rc == PROXY_OK || rc == PROXY_ECONFIG);
            assert_true((rc == PROXY_OK) == (lc != NULL));
            proxy_localconfig_free(lc);
        }
    }
}

static long budget;
static void *f_malloc(size_t n, void *ud)
{
    (void)ud;
    return budget-- > 0 ? malloc(n) : NULL;
}
static void *f_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return budget-- > 0 ? realloc(p, n) : NULL;
}
static void f_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

/* Failing the N-th IR allocation, for every N, gives PROXY_ENOMEM and leaks nothing. */
static void test_failing_allocations_are_reported(void **state)
{
    (void)state;
    krt_allocator_t a = {f_malloc, f_realloc, f_free, NULL};
    const char *texts[] = {binds_yaml, frontend_yaml};
    for (size_t t = 0; t < 2; t++) {
        bool succeeded = false;
        for (long n = 0; n < 2000 && !succeeded; n++) {
            budget = n;
            krt_allocator_set(&a);
            proxy_localconfig_t *lc = NULL;
            char err[256];
            int rc = proxy_localconfig_parse(texts[t], strlen(texts[t]), "f", &lc, err, sizeof err);
            krt_allocator_set(NULL);
            assert_true(rc == PROXY_OK || rc == PROXY_ENOMEM);
            succeeded = rc == PROXY_OK;
            proxy_localconfig_free(lc);
        }
        assert_true(succeeded);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binds_form_becomes_bind_listener_routes_backend),
        cmocka_unit_test(test_gateways_and_routes_form_attaches_routes_by_name),
        cmocka_unit_test(test_json_and_empty_files),
        cmocka_unit_test(test_errors_name_file_line_and_field),
        cmocka_unit_test(test_frontend_policies_apply_to_every_gateway),
        cmocka_unit_test(test_store_rejects_what_the_parser_cannot_judge),
        cmocka_unit_test(test_every_truncation_is_handled),
        cmocka_unit_test(test_failing_allocations_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
