/*
 * Tests of proxy/filters.c: header modifiers, prefix replacement, redirect Location rules (the
 * Gateway API conformance cases for path, host, status, port and scheme) and URL rewrites.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/filters.h"
#include "proxy_test_util.h"

typedef Agentgateway__Dev__Resource__RequestRedirect redirect_t;
typedef Agentgateway__Dev__Resource__Header header_t;

static void test_header_modifier_add_set_remove_case_insensitively(void **state)
{
    (void)state;
    proxy_headers_t h = {0};
    assert_int_equal(proxy_headers_add(&h, "Host", "a", 1), PROXY_OK);
    assert_int_equal(proxy_headers_add(&h, "X-Set", "old1", 4), PROXY_OK);
    assert_int_equal(proxy_headers_add(&h, "x-set", "old2", 4), PROXY_OK);
    assert_int_equal(proxy_headers_add(&h, "X-Remove", "r", 1), PROXY_OK);
    assert_int_equal(proxy_headers_add(&h, "X-Add", "existing", 8), PROXY_OK);
    header_t add = AGENTGATEWAY__DEV__RESOURCE__HEADER__INIT, set = add;
    add.name = "x-ADD";
    add.value = "appended";
    set.name = "X-SET";
    set.value = "new";
    header_t *adds[] = {&add}, *sets[] = {&set};
    char *removes[] = {"x-remove", "absent"};
    Agentgateway__Dev__Resource__HeaderModifier m =
        AGENTGATEWAY__DEV__RESOURCE__HEADER_MODIFIER__INIT;
    m.n_add = 1;
    m.add = adds;
    m.n_set = 1;
    m.set = sets;
    m.n_remove = 2;
    m.remove = removes;
    assert_int_equal(proxy_headers_modify(&h, &m), PROXY_OK);
    assert_int_equal(h.n, 4);
    assert_string_equal(h.v[0].name, "Host");
    assert_string_equal(h.v[1].value, "new"); /* first X-Set keeps its place, others gone */
    assert_string_equal(h.v[2].value, "existing");
    assert_string_equal(h.v[3].value, "appended");
    assert_null(proxy_headers_get(&h, "x-remove"));
    assert_string_equal(proxy_headers_get(&h, "X-ADD"), "existing");
    assert_int_equal(proxy_headers_set(&h, "New", "v"), PROXY_OK);
    assert_string_equal(proxy_headers_get(&h, "new"), "v");
    assert_int_equal(proxy_headers_remove(&h, "x-add"), 2);
    assert_int_equal(proxy_headers_modify(&h, NULL), PROXY_OK);
    proxy_headers_dispose(&h);
    assert_int_equal(h.n, 0);
}

static void test_prefix_replacement(void **state)
{
    (void)state;
    static const struct {
        const char *path, *prefix, *repl, *want;
    } cs[] = {
        {"/prefix/one/two", "/prefix/one", "/one", "/one/two"},
        {"/prefix/one", "/prefix/one", "/one", "/one"},
        {"/prefix/three/four", "/prefix/three", "/", "/four"},
        {"/prefix/three", "/prefix/three", "/", "/"},
        {"/prefix/five/", "/prefix/five", "/", "/"},
        {"/original-prefix/lemon", "/original-prefix", "/replacement-prefix",
         "/replacement-prefix/lemon"},
        {"/foo", "/", "/bar", "/bar/foo"},
        {"/", "/", "/bar/", "/bar/"},
        {"/a/b", "/a/", "/x/", "/x/b"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        size_t pl = strlen(cs[i].prefix);
        while (pl > 1 && cs[i].prefix[pl - 1] == '/')
            pl--;
        long n =
            proxy_path_replace_prefix(cs[i].path, cs[i].prefix, pl, cs[i].repl, out, sizeof out);
        if (n < 0 || strcmp(out, cs[i].want) != 0)
            fail_msg("case %zu: %s - %s + %s: want %s, got %s", i, cs[i].path, cs[i].prefix,
                     cs[i].repl, cs[i].want, out);
    }
    assert_int_equal(proxy_path_replace_prefix("/aaaa", "/", 0, "/bbbbbbbb", out, 8), -1);
}

typedef struct rdcase {
    const char *scheme, *host; /* request */
    uint32_t listener_port;
    const char *path, *query, *prefix;
    const char *r_scheme, *r_host; /* redirect */
    uint32_t r_port, r_status;
    int path_kind; /* 0 none, 1 full, 2 prefix */
    const char *r_path;
    const char *want;
    int want_status;
} rdcase_t;

static void test_redirect_location_rules(void **state)
{
    (void)state;
    static const rdcase_t cs[] = {
        /* HTTPRouteRedirectHostAndStatus */
        {"http", "gw.test", 80, "/hostname-redirect", NULL, NULL, "", "example.org", 0, 0, 0, NULL,
         "http://example.org/hostname-redirect", 302},
        {"http", "gw.test:80", 80, "/host-and-status", NULL, NULL, "", "example.org", 0, 301, 0,
         NULL, "http://example.org/host-and-status", 301},
        /* HTTPRouteRedirectPath */
        {"http", "gw.test", 80, "/original-prefix/lemon", NULL, "/original-prefix", "", "", 0, 0, 2,
         "/replacement-prefix", "http://gw.test/replacement-prefix/lemon", 302},
        {"http", "gw.test", 80, "/full-path-original", NULL, NULL, "", "", 0, 0, 1,
         "/full-path-replacement", "http://gw.test/full-path-replacement", 302},
        {"http", "gw.test", 80, "/path-and-host", NULL, "/path-and-host", "", "example.org", 0, 0,
         2, "/replacement-prefix", "http://example.org/replacement-prefix", 302},
        {"http", "gw.test", 80, "/path-and-status", NULL, NULL, "", "", 0, 301, 1,
         "/replacement-full", "http://gw.test/replacement-full", 301},
        {"http", "gw.test", 80, "/full/path?x", "a=1", NULL, "", "", 0, 0, 0, NULL,
         "http://gw.test/full/path?x?a=1", 302},
        /* HTTPRouteRedirectPort / Scheme / PortAndScheme */
        {"http", "gw.test", 80, "/port", NULL, NULL, "", "", 8083, 0, 0, NULL,
         "http://gw.test:8083/port", 302},
        {"http", "gw.test", 80, "/scheme", NULL, NULL, "https", "", 0, 0, 0, NULL,
         "https://gw.test/scheme", 302},
        {"http", "gw.test", 8080, "/scheme-nil-and-port-nil", NULL, NULL, "", "example.org", 0, 0,
         0, NULL, "http://example.org:8080/scheme-nil-and-port-nil", 302},
        {"http", "gw.test", 8080, "/scheme-https-port-nil", NULL, NULL, "https", "example.org", 0,
         0, 0, NULL, "https://example.org/scheme-https-port-nil", 302},
        {"http", "gw.test", 80, "/scheme-https-port-8443", NULL, NULL, "https", "example.org", 8443,
         0, 0, NULL, "https://example.org:8443/scheme-https-port-8443", 302},
        {"https", "gw.test", 443, "/scheme-nil-and-port-nil", NULL, NULL, "", "example.org", 0, 0,
         0, NULL, "https://example.org/scheme-nil-and-port-nil", 302},
        {"https", "gw.test", 443, "/scheme-http-port-nil", NULL, NULL, "http", "example.org", 0, 0,
         0, NULL, "http://example.org/scheme-http-port-nil", 302},
        {"https", "gw.test", 443, "/scheme-http-port-443", NULL, NULL, "http", "example.org", 443,
         0, 0, NULL, "http://example.org:443/scheme-http-port-443", 302},
        {"http", "gw.test", 80, "/scheme-nil-and-port-80", NULL, NULL, "", "example.org", 80, 0, 0,
         NULL, "http://example.org/scheme-nil-and-port-80", 302},
        {"http", "gw.test", 80, "/status", NULL, NULL, "", "", 0, 308, 0, NULL,
         "http://gw.test/status", 308},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const rdcase_t *c = &cs[i];
        redirect_t r = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__INIT;
        r.scheme = (char *)c->r_scheme;
        r.host = (char *)c->r_host;
        r.port = c->r_port;
        r.status = c->r_status;
        if (c->path_kind == 1) {
            r.path_case = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_FULL;
            r.full = (char *)c->r_path;
        } else if (c->path_kind == 2) {
            r.path_case = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__PATH_PREFIX;
            r.prefix = (char *)c->r_path;
        }
        proxy_url_t u = {c->scheme,
                         c->host,
                         c->listener_port,
                         c->path,
                         c->query,
                         c->prefix,
                         c->prefix ? strlen(c->prefix) : 0};
        char loc[512];
        int status = 0;
        assert_int_equal(proxy_redirect_location(&r, &u, loc, sizeof loc, &status), PROXY_OK);
        if (strcmp(loc, c->want) != 0 || status != c->want_status)
            fail_msg("case %zu: want %d %s, got %d %s", i, c->want_status, c->want, status, loc);
    }
    redirect_t r = AGENTGATEWAY__DEV__RESOURCE__REQUEST_REDIRECT__INIT;
    proxy_url_t u = {"http", "h", 80, "/a", NULL, NULL, 0};
    char small[8];
    int st;
    assert_int_equal(proxy_redirect_location(&r, &u, small, sizeof small, &st), PROXY_EINVAL);
}

static void test_url_rewrite_path_and_host(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__UrlRewrite rw = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__INIT;
    char t[256];
    const char *host;
    proxy_url_t u = {"http", "gw", 80, "/prefix/one/two", "q=1", "/prefix/one", 11};
    rw.path_case = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_PREFIX;
    rw.prefix = "/one";
    assert_int_equal(proxy_rewrite_target(&rw, &u, t, sizeof t, &host), PROXY_OK);
    assert_string_equal(t, "/one/two?q=1");
    assert_null(host);
    rw.path_case = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__PATH_FULL;
    rw.full = "/one";
    rw.host = "one.example.org";
    u.query = NULL;
    assert_int_equal(proxy_rewrite_target(&rw, &u, t, sizeof t, &host), PROXY_OK);
    assert_string_equal(t, "/one");
    assert_string_equal(host, "one.example.org");
    assert_int_equal(proxy_rewrite_target(NULL, &u, t, sizeof t, &host), PROXY_OK);
    assert_string_equal(t, "/prefix/one/two");
    assert_null(host);
    assert_int_equal(proxy_rewrite_target(NULL, &u, t, 4, &host), PROXY_EINVAL);
}

static void test_collect_picks_route_and_backend_filters(void **state)
{
    (void)state;
    tu_route_pb_t *r = tu_route_pb("ns", "r", 0, "l", "", "", "be:x");
    Agentgateway__Dev__Resource__HeaderModifier hm =
        AGENTGATEWAY__DEV__RESOURCE__HEADER_MODIFIER__INIT;
    Agentgateway__Dev__Resource__UrlRewrite rw = AGENTGATEWAY__DEV__RESOURCE__URL_REWRITE__INIT;
    Agentgateway__Dev__Resource__TrafficPolicySpec
        t1 = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__INIT,
        t2 = t1;
    t1.kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER;
    t1.response_header_modifier = &hm;
    t2.kind_case = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE;
    t2.url_rewrite = &rw;
    Agentgateway__Dev__Resource__TrafficPolicySpec *tps[] = {&t1, &t2};
    Agentgateway__Dev__Resource__BackendPolicySpec b1 =
        AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__INIT;
    b1.kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER;
    b1.request_header_modifier = &hm;
    Agentgateway__Dev__Resource__BackendPolicySpec *bps[] = {&b1};
    r->n_traffic_policies = 2;
    r->traffic_policies = tps;
    r->backends[0]->n_backend_policies = 1;
    r->backends[0]->backend_policies = bps;
    proxy_filters_t f;
    proxy_filters_collect(r, r->backends[0], &f);
    assert_ptr_equal(f.response_headers, &hm);
    assert_ptr_equal(f.rewrite, &rw);
    assert_ptr_equal(f.backend_request_headers, &hm);
    assert_null(f.request_headers);
    assert_null(f.redirect);
    assert_null(f.direct);
    r->n_traffic_policies = 0;
    r->traffic_policies = NULL;
    r->backends[0]->n_backend_policies = 0;
    r->backends[0]->backend_policies = NULL;
    ir_pb_free(&r->base);
}

static void test_duration_ms_rounds_up_and_reads_zero_as_none(void **state)
{
    (void)state;
    Google__Protobuf__Duration a = GOOGLE__PROTOBUF__DURATION__INIT;
    assert_int_equal(proxy_duration_ms(NULL), 0);
    assert_int_equal(proxy_duration_ms(&a), 0); /* "0s" disables a timeout */
    a.seconds = 1;
    a.nanos = 500000000;
    assert_int_equal(proxy_duration_ms(&a), 1500);
    a.seconds = 0;
    a.nanos = 1; /* rounds up to 1 ms, never to "none" */
    assert_int_equal(proxy_duration_ms(&a), 1);
    a.seconds = -1;
    assert_int_equal(proxy_duration_ms(&a), 0);
}

/* ---- CORS (cases from the Gateway API's HTTPRouteCORS conformance test) -------------------- */

typedef Agentgateway__Dev__Resource__CORS cors_t;

static const char *hget(const proxy_headers_t *h, const char *name)
{
    return proxy_headers_get(h, name);
}

/* cors-multiple-origins-methods-headers: two origins (one wildcard), methods, headers, expose,
 * credentials, max age 3600. */
static void test_cors_preflight_with_exact_and_wildcard_origins(void **state)
{
    (void)state;
    char *origins[] = {"https://www.foo.com", "https://*.bar.com"};
    char *methods[] = {"GET", "OPTIONS"}, *headers[] = {"x-header-1", "x-header-2"};
    char *expose[] = {"x-header-3", "x-header-4"};
    Google__Protobuf__Duration age = GOOGLE__PROTOBUF__DURATION__INIT;
    age.seconds = 3600;
    cors_t c = AGENTGATEWAY__DEV__RESOURCE__CORS__INIT;
    c.allow_origins = origins;
    c.n_allow_origins = 2;
    c.allow_methods = methods;
    c.n_allow_methods = 2;
    c.allow_headers = headers;
    c.n_allow_headers = 2;
    c.expose_headers = expose;
    c.n_expose_headers = 2;
    c.allow_credentials = true;
    c.max_age = &age;
    const char *ok[] = {"https://www.foo.com", "https://www.bar.com", "https://xpto.www.bar.com",
                        "HTTPS://WWW.FOO.COM"};
    for (size_t i = 0; i < 4; i++) {
        proxy_headers_t h = {0};
        assert_int_equal(proxy_cors_eval(&c, "OPTIONS", ok[i], "GET", "x-header-1, x-header-2", &h),
                         PROXY_CORS_PREFLIGHT);
        assert_string_equal(hget(&h, "access-control-allow-origin"), ok[i]);
        assert_string_equal(hget(&h, "access-control-allow-methods"), "GET, OPTIONS");
        assert_string_equal(hget(&h, "access-control-allow-headers"), "x-header-1, x-header-2");
        assert_string_equal(hget(&h, "access-control-max-age"), "3600");
        assert_string_equal(hget(&h, "access-control-allow-credentials"), "true");
        assert_string_equal(hget(&h, "vary"), "Origin");
        assert_string_equal(hget(&h, "access-control-expose-headers"), "x-header-3, x-header-4");
        proxy_headers_dispose(&h);
    }
    /* not allowed: still answered (a preflight is never forwarded), without CORS fields */
    const char *bad[] = {"https://foobar.com",       "http://www.bar.com",        "https://bar.com",
                         "https://www.bar.com:8443", "https://evil.com/.bar.com", ""};
    for (size_t i = 0; i < 6; i++) {
        proxy_headers_t h = {0};
        assert_int_equal(proxy_cors_eval(&c, "OPTIONS", bad[i], "GET", NULL, &h),
                         PROXY_CORS_PREFLIGHT);
        assert_int_equal(h.n, 0);
    }
    /* actual requests: allow-origin, credentials, expose; nothing for other origins */
    proxy_headers_t h = {0};
    assert_int_equal(proxy_cors_eval(&c, "GET", "https://www.bar.com", NULL, NULL, &h),
                     PROXY_CORS_PASS);
    assert_string_equal(hget(&h, "access-control-allow-origin"), "https://www.bar.com");
    assert_string_equal(hget(&h, "access-control-expose-headers"), "x-header-3, x-header-4");
    assert_string_equal(hget(&h, "access-control-allow-credentials"), "true");
    assert_null(hget(&h, "access-control-allow-methods"));
    proxy_headers_dispose(&h);
    assert_int_equal(proxy_cors_eval(&c, "GET", "https://foobar.com", "GET", NULL, &h),
                     PROXY_CORS_PASS);
    assert_int_equal(h.n, 0);
    /* no Origin, or OPTIONS without Access-Control-Request-Method: not CORS, forwarded */
    assert_int_equal(proxy_cors_eval(&c, "OPTIONS", NULL, "GET", NULL, &h), PROXY_CORS_PASS);
    assert_int_equal(proxy_cors_eval(&c, "OPTIONS", "https://www.foo.com", NULL, NULL, &h),
                     PROXY_CORS_PASS);
    assert_string_equal(hget(&h, "access-control-allow-origin"), "https://www.foo.com");
    proxy_headers_dispose(&h);
}

/* cors-wildcard-origin / cors-wildcard-methods(-headers): the origin is echoed; methods and
 * headers "*" stay "*" without credentials and become the request's own values with them. */
static void test_cors_wildcards_follow_credentials(void **state)
{
    (void)state;
    char *star[] = {"*"}, *put[] = {"PUT"};
    cors_t c = AGENTGATEWAY__DEV__RESOURCE__CORS__INIT;
    c.allow_origins = star;
    c.n_allow_origins = 1;
    c.allow_methods = put;
    c.n_allow_methods = 1;
    proxy_headers_t h = {0};
    assert_int_equal(proxy_cors_eval(&c, "OPTIONS", "https://foobar.com:12345", "PUT", NULL, &h),
                     PROXY_CORS_PREFLIGHT);
    assert_string_equal(hget(&h, "access-control-allow-origin"), "https://foobar.com:12345");
    assert_string_equal(hget(&h, "access-control-allow-methods"), "PUT");
    assert_null(hget(&h, "access-control-allow-credentials"));
    assert_null(hget(&h, "access-control-max-age")); /* no maxAge: none sent */
    assert_string_equal(hget(&h, "vary"), "Origin");
    proxy_headers_dispose(&h);

    c.allow_methods = star;
    c.allow_headers = star;
    c.n_allow_headers = 1;
    c.expose_headers = star;
    c.n_expose_headers = 1;
    assert_int_equal(proxy_cors_eval(&c, "OPTIONS", "https://a.com", "POST", "x-a, x-b", &h),
                     PROXY_CORS_PREFLIGHT);
    assert_string_equal(hget(&h, "access-control-allow-methods"), "*");
    assert_string_equal(hget(&h, "access-control-allow-headers"), "*");
    proxy_headers_dispose(&h);
    c.allow_credentials = true;
    assert_int_equal(proxy_cors_eval(&c, "OPTIONS", "https://a.com", "POST", "x-a, x-b", &h),
                     PROXY_CORS_PREFLIGHT);
    assert_string_equal(hget(&h, "access-control-allow-origin"), "https://a.com");
    assert_string_equal(hget(&h, "access-control-allow-methods"), "POST");
    assert_string_equal(hget(&h, "access-control-allow-headers"), "x-a, x-b");
    assert_string_equal(hget(&h, "access-control-allow-credentials"), "true");
    proxy_headers_dispose(&h);
    /* with credentials, expose "*" cannot be said literally: left out */
    assert_int_equal(proxy_cors_eval(&c, "GET", "https://a.com", NULL, NULL, &h), PROXY_CORS_PASS);
    assert_null(hget(&h, "access-control-expose-headers"));
    assert_string_equal(hget(&h, "access-control-allow-origin"), "https://a.com");
    proxy_headers_dispose(&h);
    /* no policy: nothing */
    assert_int_equal(proxy_cors_eval(NULL, "OPTIONS", "https://a.com", "GET", NULL, &h),
                     PROXY_CORS_PASS);
    assert_int_equal(h.n, 0);
    assert_false(proxy_cors_origin_allowed(&c, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_modifier_add_set_remove_case_insensitively),
        cmocka_unit_test(test_prefix_replacement),
        cmocka_unit_test(test_redirect_location_rules),
        cmocka_unit_test(test_url_rewrite_path_and_host),
        cmocka_unit_test(test_collect_picks_route_and_backend_filters),
        cmocka_unit_test(test_duration_ms_rounds_up_and_reads_zero_as_none),
        cmocka_unit_test(test_cors_preflight_with_exact_and_wildcard_origins),
        cmocka_unit_test(test_cors_wildcards_follow_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
