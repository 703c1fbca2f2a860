/*
 * Tests of proxy/metrics.c: responses are counted by route and code, the latency histogram is
 * cumulative with +Inf equal to _count, every family has HELP and TYPE once, label values are
 * escaped, several proxies share one family under their gateway labels, the route cap folds
 * into "_other", and the xDS families appear only when asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "proxy/metrics.h"
#include "proxy/proxy.h"

static char *render(proxy_metrics_source_t *s, size_t n, const proxy_metrics_xds_t *x)
{
    proxy_metrics_buf_t b = {0};
    assert_int_equal(proxy_metrics_render(&b, s, n, x), 0);
    return b.data;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Every line is a comment (HELP/TYPE) or `name{labels} value`, and every sample's family was
 * declared by a TYPE line before it. */
static void assert_well_formed(const char *text)
{
    char family[128] = "";
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        assert_non_null(eol);
        size_t len = (size_t)(eol - line);
        if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t fl = strcspn(line + 7, " ");
            assert_true(fl < sizeof family);
            memcpy(family, line + 7, fl);
            family[fl] = '\0';
        } else if (line[0] != '#') {
            assert_true(family[0]);
            assert_int_equal(strncmp(line, family, strlen(family)), 0);
            const char *sp = memchr(line, ' ', len);
            assert_non_null(sp);
            char *end;
            strtod(sp + 1, &end);
            assert_ptr_equal(end, eol);
        }
        line = eol + 1;
    }
}

static void test_responses_are_counted_by_route_and_code(void **state)
{
    (void)state;
    int err;
    proxy_t *p = proxy_new(uv_default_loop(), NULL, &err);
    assert_non_null(p);
    proxy_metrics_t *m = proxy_metrics_get(p);
    proxy_metrics_response(m, "default/echo.00.http", 200, 300000);  /* 0.3 ms */
    proxy_metrics_response(m, "default/echo.00.http", 200, 2000000); /* 2 ms */
    proxy_metrics_response(m, "default/echo.00.http", 503, -1);
    proxy_metrics_response(m, NULL, 404, -1);
    proxy_metrics_source_t s = {NULL, p};
    char *t = render(&s, 1, NULL);
    assert_well_formed(t);
    assert_non_null(strstr(t, "krtgate_proxy_http_requests_total{route=\"default/echo.00.http\","
                              "code=\"200\"} 2\n"));
    assert_non_null(strstr(t, "krtgate_proxy_http_requests_total{route=\"default/echo.00.http\","
                              "code=\"503\"} 1\n"));
    assert_non_null(strstr(t, "krtgate_proxy_http_requests_total{route=\"\",code=\"404\"} 1\n"));
    /* cumulative buckets: 0.3 ms in le=0.0005, 2 ms from le=0.0025 on */
    assert_non_null(strstr(t, "krtgate_proxy_upstream_latency_seconds_bucket{route=\"default/"
                              "echo.00.http\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(t, "krtgate_proxy_upstream_latency_seconds_bucket{route=\"default/"
                              "echo.00.http\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(t, "krtgate_proxy_upstream_latency_seconds_bucket{route=\"default/"
                              "echo.00.http\",le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(t, "krtgate_proxy_upstream_latency_seconds_bucket{route=\"default/"
                              "echo.00.http\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(t, "krtgate_proxy_upstream_latency_seconds_count{route=\"default/"
                              "echo.00.http\"} 2\n"));
    /* the route without upstream observations has no histogram */
    assert_null(strstr(t, "latency_seconds_count{route=\"\"}"));
    assert_int_equal(count_of(t, "# TYPE krtgate_proxy_http_requests_total counter\n"), 1);
    assert_int_equal(count_of(t, "# HELP krtgate_proxy_http_requests_total "), 1);
    assert_non_null(strstr(t, "# TYPE krtgate_proxy_upstream_latency_seconds histogram\n"));
    assert_non_null(strstr(t, "krtgate_proxy_downstream_active{protocol=\"http1\"} 0\n"));
    assert_non_null(strstr(t, "krtgate_proxy_config_generation 1\n"));
    /* the TCP port and tunnel counters are there from the start, at zero */
    assert_non_null(strstr(t, "krtgate_proxy_tcp_closed_total{reason=\"no_route\"} 0\n"));
    assert_non_null(strstr(t, "krtgate_proxy_tcp_closed_total{reason=\"idle\"} 0\n"));
    assert_non_null(strstr(t, "krtgate_proxy_tcp_active 0\n"));
    assert_non_null(strstr(t, "krtgate_proxy_tunnels_idle_closed_total 0\n"));
    assert_null(strstr(t, "krtgate_xds_client"));
    free(t);
    proxy_close(p, NULL, NULL);
}

static void test_several_proxies_share_families_under_gateway_labels(void **state)
{
    (void)state;
    int err;
    proxy_t *a = proxy_new(uv_default_loop(), NULL, &err);
    proxy_t *b = proxy_new(uv_default_loop(), NULL, &err);
    proxy_metrics_response(proxy_metrics_get(a), "default/a.00.http", 200, 1000);
    proxy_metrics_response(proxy_metrics_get(b), "x\"y\\z", 500, -1);
    proxy_metrics_source_t s[] = {{"default/gw-a", a}, {"other/gw-b", b}};
    char *t = render(s, 2, NULL);
    assert_well_formed(t);
    assert_int_equal(count_of(t, "# TYPE krtgate_proxy_requests_total counter\n"), 1);
    assert_non_null(strstr(t, "krtgate_proxy_requests_total{gateway=\"default/gw-a\"} 0\n"));
    assert_non_null(strstr(t, "krtgate_proxy_requests_total{gateway=\"other/gw-b\"} 0\n"));
    assert_non_null(strstr(t, "krtgate_proxy_http_requests_total{gateway=\"default/gw-a\","
                              "route=\"default/a.00.http\",code=\"200\"} 1\n"));
    assert_non_null(strstr(t, "krtgate_proxy_http_requests_total{gateway=\"other/gw-b\","
                              "route=\"x\\\"y\\\\z\",code=\"500\"} 1\n"));
    free(t);
    proxy_close(a, NULL, NULL);
    proxy_close(b, NULL, NULL);
}

static bool xds_fill(proxy_metrics_xds_t *out, void *ud)
{
    (void)ud;
    *out =
        (proxy_metrics_xds_t){.state = 1, .connects = 3, .streams = 2, .responses = 5, .nacks = 1};
    return true;
}

static void test_xds_families_and_gateway_label_from_the_registry(void **state)
{
    (void)state;
    int err;
    proxy_t *p = proxy_new(uv_default_loop(), NULL, &err);
    proxy_metrics_t *m = proxy_metrics_get(p);
    assert_int_equal(proxy_metrics_set_gateway(m, "default/gw"), 0);
    proxy_metrics_set_xds(m, xds_fill, NULL);
    proxy_metrics_xds_t x;
    assert_true(proxy_metrics_xds_read(m, &x));
    proxy_metrics_source_t s = {proxy_metrics_gateway(m), p};
    char *t = render(&s, 1, &x);
    assert_well_formed(t);
    assert_non_null(strstr(t, "krtgate_xds_client_connected 1\n"));
    assert_non_null(strstr(t, "krtgate_xds_client_state{state=\"streaming\"} 1\n"));
    assert_non_null(strstr(t, "krtgate_xds_client_state{state=\"backoff\"} 0\n"));
    assert_non_null(strstr(t, "krtgate_xds_client_responses_total{result=\"ack\"} 4\n"));
    assert_non_null(strstr(t, "krtgate_xds_client_responses_total{result=\"nack\"} 1\n"));
    assert_non_null(strstr(t, "krtgate_proxy_listeners{gateway=\"default/gw\"} 0\n"));
    free(t);
    proxy_close(p, NULL, NULL);
}

static void test_route_series_are_capped(void **state)
{
    (void)state;
    int err;
    proxy_t *p = proxy_new(uv_default_loop(), NULL, &err);
    proxy_metrics_t *m = proxy_metrics_get(p);
    char key[32];
    for (int i = 0; i < PROXY_METRICS_MAX_ROUTES + 10; i++) {
        snprintf(key, sizeof key, "r%05d", i);
        proxy_metrics_response(m, key, 200, -1);
    }
    for (int c = 100; c < 200; c++) /* more codes than a route keeps */
        proxy_metrics_response(m, "r00000", c, -1);
    proxy_metrics_source_t s = {NULL, p};
    char *t = render(&s, 1, NULL);
    assert_well_formed(t);
    assert_non_null(strstr(t, "{route=\"_other\",code=\"200\"} 10\n"));
    assert_non_null(strstr(t, "{route=\"r00000\",code=\"other\"} "));
    free(t);
    proxy_close(p, NULL, NULL);
    proxy_metrics_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responses_are_counted_by_route_and_code),
        cmocka_unit_test(test_several_proxies_share_families_under_gateway_labels),
        cmocka_unit_test(test_xds_families_and_gateway_label_from_the_registry),
        cmocka_unit_test(test_route_series_are_capped),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    uv_loop_close(uv_default_loop());
    return rc;
}
