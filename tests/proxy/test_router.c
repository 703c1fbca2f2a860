/*
 * Tests of proxy/router.c: tables of requests → expected backend, transcribed from the Gateway
 * API conformance tests (path, header, query, method matching, path match order, matching across
 * routes, hostname intersection, listener hostname matching), plus the helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/router.h"
#include "proxy_test_util.h"

typedef struct rcase {
    const char *host;
    const char *method;
    const char *target;  /* path?query */
    const char *headers; /* "k:v,k:v" */
    const char *expect;  /* backend key of the chosen rule's first backend, NULL = 404 */
} rcase_t;

static const char *route_backend(const proxy_route_match_t *m)
{
    if (!m->pb || !m->pb->n_backends || !m->pb->backends[0]->backend)
        return "?";
    return m->pb->backends[0]->backend->backend;
}

static void run_cases(const proxy_snapshot_t *s, const char *bind, const rcase_t *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const rcase_t *c = &cs[i];
        char path[256], query[256] = "", hbuf[512];
        snprintf(path, sizeof path, "%s", c->target);
        char *q = strchr(path, '?');
        if (q) {
            snprintf(query, sizeof query, "%s", q + 1);
            *q = '\0';
        }
        net_h2_header_t hs[8];
        size_t nh = 0;
        snprintf(hbuf, sizeof hbuf, "%s", c->headers ? c->headers : "");
        char *sv;
        for (char *t = strtok_r(hbuf, ",", &sv); t && nh < 8; t = strtok_r(NULL, ",", &sv)) {
            char *colon = strchr(t, ':');
            *colon = '\0';
            hs[nh++] = (net_h2_header_t){t, strlen(t), colon + 1, strlen(colon + 1)};
        }
        proxy_request_t req = {.method = c->method ? c->method : "GET",
                               .path = path,
                               .query = query,
                               .host = c->host,
                               .headers = hs,
                               .nheaders = nh};
        proxy_route_match_t m;
        int rc = proxy_router_match(s, bind, &req, &m);
        const char *got = rc == PROXY_OK ? route_backend(&m) : NULL;
        if ((got == NULL) != (c->expect == NULL) || (got && strcmp(got, c->expect) != 0)) {
            fail_msg("case %zu: %s %s%s Host %s headers [%s]: expected %s, got %s (route %s)", i,
                     req.method, c->target, "", c->host ? c->host : "-",
                     c->headers ? c->headers : "", c->expect ? c->expect : "404", got ? got : "404",
                     m.route ? ir_route_key(m.route) : "-");
        }
    }
}

/* One Bind, one Listener (hostname |lh|), and the given routes. */
static proxy_config_t *setup(const char *lh, const ir_obj_t **routes)
{
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *base[] = {tu_bind("80/default/gw", 80),
                              tu_listener("default/gw.http", "80/default/gw", lh), NULL};
    char reason[512];
    assert_int_equal(tu_apply(cfg, base, reason, sizeof reason), PROXY_OK);
    int rc = tu_apply(cfg, routes, reason, sizeof reason);
    if (rc != PROXY_OK)
        fail_msg("apply: %s", reason);
    return cfg;
}

#define L "default/gw.http"
#define RUN(cfg, cases)                                                          \
    do {                                                                         \
        proxy_config_t *c_ = (cfg);                                              \
        const proxy_snapshot_t *s_ = proxy_config_snapshot(c_);                  \
        assert_int_equal(proxy_snapshot_check(s_), PROXY_OK);                    \
        run_cases(s_, "80/default/gw", cases, sizeof(cases) / sizeof(cases[0])); \
        proxy_snapshot_release(s_);                                              \
        proxy_config_free(c_);                                                   \
    } while (0)

static void test_conformance_httproute_matching(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {
        tu_route("ns", "matching", 0, L, "", "prefix:/ ; h:version=one", "be:v1"),
        tu_route("ns", "matching", 1, L, "", "prefix:/v2 ; h:version=two", "be:v2"), NULL};
    static const rcase_t cases[] = {
        {"x", "GET", "/", NULL, "v1"},           {"x", "GET", "/example", NULL, "v1"},
        {"x", "GET", "/", "version:one", "v1"},  {"x", "GET", "/v2", NULL, "v2"},
        {"x", "GET", "/v2/example", NULL, "v2"}, {"x", "GET", "/", "version:two", "v2"},
        {"x", "GET", "/v2example", NULL, "v1"},  {"x", "GET", "/foo/v2/example", NULL, "v1"},
    };
    RUN(setup("", r), cases);
}

static void test_conformance_exact_path_matching(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {tu_route("ns", "exact", 0, L, "", "exact:/one", "be:v1"),
                           tu_route("ns", "exact", 1, L, "", "exact:/two", "be:v2"), NULL};
    static const rcase_t cases[] = {
        {"x", "GET", "/one", NULL, "v1"},     {"x", "GET", "/two", NULL, "v2"},
        {"x", "GET", "/", NULL, NULL},        {"x", "GET", "/one/example", NULL, NULL},
        {"x", "GET", "/two/", NULL, NULL},    {"x", "GET", "/Two", NULL, NULL},
        {"x", "GET", "/one?x=1", NULL, "v1"},
    };
    RUN(setup("", r), cases);
}

static void test_conformance_path_match_order(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {tu_route("ns", "order", 0, L, "", "exact:/match", "be:v1"),
                           tu_route("ns", "order", 1, L, "", "exact:/match/exact", "be:v2"),
                           tu_route("ns", "order", 2, L, "", "exact:/match/exact/one", "be:v3"),
                           tu_route("ns", "order", 3, L, "", "prefix:/match/", "be:v3"),
                           tu_route("ns", "order", 4, L, "", "prefix:/match/prefix/", "be:v1"),
                           tu_route("ns", "order", 5, L, "", "prefix:/match/prefix/one", "be:v2"),
                           NULL};
    static const rcase_t cases[] = {
        {"x", "GET", "/match", NULL, "v1"},
        {"x", "GET", "/match/exact", NULL, "v2"},
        {"x", "GET", "/match/exact/one", NULL, "v3"},
        {"x", "GET", "/match/", NULL, "v3"},
        {"x", "GET", "/match/notexact", NULL, "v3"},
        {"x", "GET", "/match/prefix/", NULL, "v1"},
        {"x", "GET", "/match/prefix/notone", NULL, "v1"},
        {"x", "GET", "/match/prefix/one", NULL, "v2"},
        {"x", "GET", "/match/prefix/one/extra", NULL, "v2"},
        {"x", "GET", "/matchx", NULL, NULL},
    };
    RUN(setup("", r), cases);
}

static void test_conformance_header_matching(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {tu_route("ns", "hm", 0, L, "", "h:version=one", "be:v1"),
                           tu_route("ns", "hm", 1, L, "", "h:version=two", "be:v2"),
                           tu_route("ns", "hm", 2, L, "", "h:version=two h:color=orange", "be:v1"),
                           tu_route("ns", "hm", 3, L, "", "h:color=blue ; h:color=green", "be:v1"),
                           tu_route("ns", "hm", 4, L, "", "h:color=red ; h:color=yellow", "be:v2"),
                           NULL};
    static const rcase_t cases[] = {
        {"x", "GET", "/", "version:one", "v1"},
        {"x", "GET", "/", "version:two", "v2"},
        {"x", "GET", "/", "version:two,color:orange", "v1"},
        {"x", "GET", "/", "version:two,Color:orange", "v1"},
        {"x", "GET", "/", "color:blue", "v1"},
        {"x", "GET", "/", "color:green", "v1"},
        {"x", "GET", "/", "color:red", "v2"},
        {"x", "GET", "/", "color:yellow", "v2"},
        {"x", "GET", "/", "version:one,color:red", "v1"},
        {"x", "GET", "/", "version:two,color:blue", "v2"},
        {"x", "GET", "/", "version:two,color:green", "v2"},
        {"x", "GET", "/", "version:four", NULL},
        {"x", "GET", "/", "color:orange", NULL},
        {"x", "GET", "/", "version:One", NULL},
        {"x", "GET", "/", NULL, NULL},
    };
    RUN(setup("", r), cases);
}

static void test_conformance_query_param_matching(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {
        tu_route("ns", "qm", 0, L, "", "q:animal=whale", "be:v1"),
        tu_route("ns", "qm", 1, L, "", "q:animal=dolphin", "be:v2"),
        tu_route("ns", "qm", 2, L, "", "q:animal=dolphin q:color=blue ; q:ANIMAL=Whale", "be:v3"),
        tu_route("ns", "qm", 3, L, "", "prefix:/path1 q:animal=whale", "be:v1"),
        tu_route("ns", "qm", 4, L, "", "h:version=one q:animal=whale", "be:v2"),
        tu_route("ns", "qm", 5, L, "", "prefix:/path2 h:version=two q:animal=whale", "be:v3"),
        tu_route("ns", "qm", 6, L, "",
                 "prefix:/path3 q:animal=shark ; prefix:/path4 h:version=three q:animal=kraken",
                 "be:v1"),
        tu_route("ns", "qm", 7, L, "", "prefix:/path5", "be:v1"),
        tu_route("ns", "qm", 8, L, "", "q:animal=hydra", "be:v2"),
        tu_route("ns", "qm", 9, L, "", "h:version=four", "be:v3"),
        NULL};
    static const rcase_t cases[] = {
        {"x", "GET", "/?animal=whale", NULL, "v1"},
        {"x", "GET", "/?animal=dolphin", NULL, "v2"},
        {"x", "GET", "/?animal=dolphin&color=blue", NULL, "v3"},
        {"x", "GET", "/?ANIMAL=Whale", NULL, "v3"},
        {"x", "GET", "/path1?animal=whale", NULL, "v1"},
        {"x", "GET", "/?animal=whale", "version:one", "v2"},
        {"x", "GET", "/path2?animal=whale", "version:two", "v3"},
        {"x", "GET", "/path3?animal=shark", NULL, "v1"},
        {"x", "GET", "/path4?animal=kraken", "version:three", "v1"},
        {"x", "GET", "/path5?animal=hydra", NULL, "v1"},
        {"x", "GET", "/?animal=hydra", "version:four", "v3"},
        {"x", "GET", "/?animal=Whale", NULL, NULL},
        {"x", "GET", "/?Animal=whale", NULL, NULL},
        {"x", "GET", "/?animal=wh%61le", NULL, "v1"},
        {"x", "GET", "/?color=blue", NULL, NULL},
        {"x", "GET", "/path3?animal=dolphin&animal=shark", NULL, "v2"},
    };
    RUN(setup("", r), cases);
}

static void test_conformance_method_matching(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {
        tu_route("ns", "mm", 0, L, "", "m:POST", "be:v1"),
        tu_route("ns", "mm", 1, L, "", "m:GET", "be:v2"),
        tu_route("ns", "mm", 2, L, "", "prefix:/path1 m:GET", "be:v1"),
        tu_route("ns", "mm", 3, L, "", "h:version=one m:PUT", "be:v2"),
        tu_route("ns", "mm", 4, L, "", "prefix:/path2 h:version=two m:POST", "be:v3"),
        tu_route("ns", "mm", 5, L, "",
                 "prefix:/path3 m:PATCH ; prefix:/path4 h:version=three m:DELETE", "be:v1"),
        tu_route("ns", "mm", 6, L, "", "prefix:/path5", "be:v1"),
        tu_route("ns", "mm", 7, L, "", "m:PATCH", "be:v2"),
        tu_route("ns", "mm", 8, L, "", "h:version=four", "be:v3"),
        NULL};
    static const rcase_t cases[] = {
        {"x", "POST", "/", NULL, "v1"},
        {"x", "GET", "/", NULL, "v2"},
        {"x", "GET", "/path1", NULL, "v1"},
        {"x", "PUT", "/", "version:one", "v2"},
        {"x", "POST", "/path2", "version:two", "v3"},
        {"x", "PATCH", "/path3", NULL, "v1"},
        {"x", "DELETE", "/path4", "version:three", "v1"},
        {"x", "POST", "/path5", NULL, "v1"},
        {"x", "PATCH", "/path5", NULL, "v1"},
        {"x", "PATCH", "/", "version:four", "v2"},
        {"x", "PUT", "/", NULL, NULL},
        {"x", "DELETE", "/path3", NULL, NULL},
        {"x", "HEAD", "/", "version:four", "v3"},
    };
    RUN(setup("", r), cases);
}

static void test_conformance_matching_across_routes(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {tu_route("ns", "matching-part1", 0, L, "example.com,example.net",
                                    "prefix:/ ; h:version=one", "be:v1"),
                           tu_route("ns", "matching-part2", 0, L, "example.com",
                                    "prefix:/v2 ; h:version=two", "be:v2"),
                           NULL};
    static const rcase_t cases[] = {
        {"example.com", "GET", "/", NULL, "v1"},
        {"example.com", "GET", "/example", NULL, "v1"},
        {"example.net", "GET", "/example", NULL, "v1"},
        {"example.com", "GET", "/", "version:one", "v1"},
        {"example.com", "GET", "/v2", NULL, "v2"},
        {"example.com", "GET", "/v2/example", NULL, "v2"},
        {"example.com:8080", "GET", "/v2/example", NULL, "v2"},
        {"example.com", "GET", "/", "version:two", "v2"},
        {"example.net", "GET", "/v2", NULL, "v1"},
        {"example.net", "GET", "/", "version:two", "v1"},
        {"example.org", "GET", "/", NULL, NULL},
    };
    RUN(setup("", r), cases);
}

static void test_conformance_hostname_intersection(void **state)
{
    (void)state;
    /* Translate intersects hostnames; the router sees the listener hostname and the route's. */
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        tu_listener("default/gw.l1", "80/default/gw", "very.specific.com"),
        tu_listener("default/gw.l2", "80/default/gw", "*.wildcard.io"),
        tu_listener("default/gw.l3", "80/default/gw", "*.anotherwildcard.io"),
        tu_route("ns", "specific", 0, "default/gw.l1", "very.specific.com", "", "be:v1"),
        tu_route("ns", "wild", 0, "default/gw.l2", "foo.wildcard.io,bar.wildcard.io", "", "be:v2"),
        tu_route("ns", "wild2", 0, "default/gw.l3", "*.anotherwildcard.io", "", "be:v3"),
        NULL};
    char reason[256];
    assert_int_equal(tu_apply(cfg, objs, reason, sizeof reason), PROXY_OK);
    static const rcase_t cases[] = {
        {"very.specific.com", "GET", "/", NULL, "v1"},
        {"very.specific.com:1234", "GET", "/", NULL, "v1"},
        {"VERY.Specific.com", "GET", "/", NULL, "v1"},
        {"non.matching.com", "GET", "/", NULL, NULL},
        {"foo.wildcard.io", "GET", "/", NULL, "v2"},
        {"bar.wildcard.io", "GET", "/", NULL, "v2"},
        {"baz.wildcard.io", "GET", "/", NULL, NULL},
        {"wildcard.io", "GET", "/", NULL, NULL},
        {"foo.anotherwildcard.io", "GET", "/", NULL, "v3"},
        {"a.b.anotherwildcard.io", "GET", "/", NULL, "v3"},
        {"anotherwildcard.io", "GET", "/", NULL, NULL},
    };
    RUN(cfg, cases);
}

static void test_listener_isolation_most_specific_listener_wins(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        tu_listener("default/gw.empty", "80/default/gw", ""),
        tu_listener("default/gw.wild", "80/default/gw", "*.example.com"),
        tu_listener("default/gw.wild2", "80/default/gw", "*.foo.example.com"),
        tu_listener("default/gw.exact", "80/default/gw", "abc.foo.example.com"),
        tu_route("ns", "empty", 0, "default/gw.empty", "", "prefix:/empty", "be:empty"),
        tu_route("ns", "wild", 0, "default/gw.wild", "", "prefix:/wild", "be:wild"),
        tu_route("ns", "wild2", 0, "default/gw.wild2", "", "prefix:/wild2", "be:wild2"),
        tu_route("ns", "exact", 0, "default/gw.exact", "", "prefix:/exact", "be:exact"),
        NULL};
    char reason[256];
    assert_int_equal(tu_apply(cfg, objs, reason, sizeof reason), PROXY_OK);
    static const rcase_t cases[] = {
        {"bar.com", "GET", "/empty", NULL, "empty"},
        {"bar.com", "GET", "/wild", NULL, NULL},
        {"bar.example.com", "GET", "/wild", NULL, "wild"},
        {"bar.example.com", "GET", "/empty", NULL, NULL},
        {"bar.foo.example.com", "GET", "/wild2", NULL, "wild2"},
        {"bar.foo.example.com", "GET", "/wild", NULL, NULL},
        {"abc.foo.example.com", "GET", "/exact", NULL, "exact"},
        {"abc.foo.example.com", "GET", "/wild2", NULL, NULL},
        {"abc.foo.example.com:80", "GET", "/exact", NULL, "exact"},
    };
    RUN(cfg, cases);
}

static void test_route_hostname_specificity_beats_path(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {
        tu_route("ns", "any", 0, L, "", "exact:/a", "be:any"),
        tu_route("ns", "wild", 0, L, "*.example.com", "prefix:/", "be:wild"),
        tu_route("ns", "exact", 0, L, "foo.example.com", "prefix:/b", "be:exact"), NULL};
    static const rcase_t cases[] = {
        {"foo.example.com", "GET", "/a", NULL, "wild"},
        {"foo.example.com", "GET", "/b", NULL, "exact"},
        {"bar.example.com", "GET", "/a", NULL, "wild"},
        {"other.org", "GET", "/a", NULL, "any"},
        {"other.org", "GET", "/b", NULL, NULL},
        {NULL, "GET", "/a", NULL, "any"},
    };
    RUN(setup("", r), cases);
}

static void test_regex_matches_are_whole_and_rank_below_prefix(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {tu_route("ns", "re", 0, L, "", "regex:/v[0-9]+/.*", "be:re"),
                           tu_route("ns", "pre", 0, L, "", "prefix:/v1", "be:pre"),
                           tu_route("ns", "hre", 0, L, "", "exact:/h hr:x-id=[a-f]+", "be:hre"),
                           tu_route("ns", "qre", 0, L, "", "exact:/q qr:id=[0-9]{3}", "be:qre"),
                           NULL};
    static const rcase_t cases[] = {
        {"x", "GET", "/v2/a", NULL, "re"},      {"x", "GET", "/v1/a", NULL, "pre"},
        {"x", "GET", "/xv2/a", NULL, NULL},     {"x", "GET", "/v2", NULL, NULL},
        {"x", "GET", "/h", "x-id:abc", "hre"},  {"x", "GET", "/h", "x-id:abcz", NULL},
        {"x", "GET", "/q?id=123", NULL, "qre"}, {"x", "GET", "/q?id=1234", NULL, NULL},
    };
    RUN(setup("", r), cases);
}

static void test_ties_go_to_route_name_then_rule_order(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {tu_route("ns", "b", 0, L, "", "prefix:/", "be:b0"),
                           tu_route("ns", "a", 1, L, "", "prefix:/", "be:a1"),
                           tu_route("ns", "a", 0, L, "", "prefix:/x", "be:a0"),
                           tu_route("ns", "a", 2, L, "", "prefix:/x", "be:a2"), NULL};
    static const rcase_t cases[] = {
        {"x", "GET", "/", NULL, "a1"},
        {"x", "GET", "/x", NULL, "a0"},
    };
    RUN(setup("", r), cases);
}

static void test_unknown_bind_and_prefix_result(void **state)
{
    (void)state;
    const ir_obj_t *r[] = {tu_route("ns", "p", 0, L, "", "prefix:/api/", "be:p"), NULL};
    proxy_config_t *cfg = setup("", r);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    proxy_request_t req = {.method = "GET", .path = "/api/x", .host = "h"};
    proxy_route_match_t m;
    assert_int_equal(proxy_router_match(s, "81/default/gw", &req, &m), PROXY_ENOROUTE);
    assert_null(m.bind);
    assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &m), PROXY_OK);
    assert_int_equal(m.prefix_len, 4);
    assert_memory_equal(m.prefix, "/api", 4);
    assert_non_null(m.listener);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void test_helpers(void **state)
{
    (void)state;
    assert_int_equal(proxy_host_strip_port("a.com:80"), 5);
    assert_int_equal(proxy_host_strip_port("a.com."), 5);
    assert_int_equal(proxy_host_strip_port("[::1]:80"), 5);
    assert_int_equal(proxy_host_strip_port("::1"), 3);
    assert_int_equal(proxy_hostname_score("", "a", 1), 0);
    assert_int_equal(proxy_hostname_score("*.a.com", "a.com", 5), -1);
    assert_true(proxy_hostname_score("*.a.com", "x.a.com", 7) > 1000);
    assert_true(proxy_hostname_score("x.a.com", "X.A.com", 7) > 2000);
    char buf[16];
    assert_int_equal(proxy_query_get("a=1&b=x%20y+z", "b", buf, sizeof buf), 5);
    assert_string_equal(buf, "x y z");
    assert_int_equal(proxy_query_get("a=1&b", "b", buf, sizeof buf), 0);
    assert_int_equal(proxy_query_get("a=1", "c", buf, sizeof buf), -1);
    assert_int_equal(proxy_query_get("a=%zz%4", "a", buf, sizeof buf), 5);
    assert_string_equal(buf, "%zz%4");
    assert_int_equal(proxy_query_get("a=0123456789abcdefgh", "a", buf, sizeof buf), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_httproute_matching),
        cmocka_unit_test(test_conformance_exact_path_matching),
        cmocka_unit_test(test_conformance_path_match_order),
        cmocka_unit_test(test_conformance_header_matching),
        cmocka_unit_test(test_conformance_query_param_matching),
        cmocka_unit_test(test_conformance_method_matching),
        cmocka_unit_test(test_conformance_matching_across_routes),
        cmocka_unit_test(test_conformance_hostname_intersection),
        cmocka_unit_test(test_listener_isolation_most_specific_listener_wins),
        cmocka_unit_test(test_route_hostname_specificity_beats_path),
        cmocka_unit_test(test_regex_matches_are_whole_and_rank_below_prefix),
        cmocka_unit_test(test_ties_go_to_route_name_then_rule_order),
        cmocka_unit_test(test_unknown_bind_and_prefix_result),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
