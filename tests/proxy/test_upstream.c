/*
 * Tests of proxy/upstream.c: Services resolve through Addresses (healthy Workloads, target port
 * from the Service or the Workload, round-robin), static and inline backends resolve, and every
 * unresolvable case (no backends, weight 0, missing ref, unknown Service/Backend, no endpoint,
 * unsupported kind) reports PROXY_ENOBACKEND with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/router.h"
#include "proxy/upstream.h"
#include "proxy_test_util.h"

static proxy_config_t *cfg_with(const ir_obj_t **objs)
{
    proxy_config_t *cfg = proxy_config_new();
    char reason[256];
    if (tu_apply(cfg, objs, reason, sizeof reason) != PROXY_OK)
        fail_msg("apply: %s", reason);
    return cfg;
}

static const Agentgateway__Dev__Resource__Route *route_of(const proxy_snapshot_t *s,
                                                          const char *name)
{
    const ir_obj_t *o = proxy_snapshot_get(s, PROXY_TYPE_RESOURCE, name);
    assert_non_null(o);
    return ir_route_pb(ir_route_from_obj(o));
}

/* One caller of proxy_upstream_pick: its balancer, and what its last pick gave. */
typedef struct picker {
    proxy_lb_t lb;
    const Agentgateway__Dev__Resource__RouteBackend *rb;
    proxy_endpoint_t ep;
    char why[256];
} picker_t;

static void picker_init(picker_t *pk)
{
    memset(pk, 0, sizeof *pk);
    proxy_lb_init(&pk->lb, 1);
}

/* Picks a backend and endpoint for the route named |route| of |s|. */
static int pick(picker_t *pk, const proxy_snapshot_t *s, const char *route)
{
    pk->why[0] = '\0';
    return proxy_upstream_pick(s, route_of(s, route), &pk->lb, &pk->rb, &pk->ep, pk->why,
                               sizeof pk->why);
}

static void test_service_resolves_to_healthy_workloads_round_robin(void **state)
{
    (void)state;
    const ir_obj_t *objs[] = {tu_bind("80/default/gw", 80),
                              tu_listener("default/gw.http", "80/default/gw", ""),
                              tu_service("default", "echo.default.svc.cluster.local", 80, 8080),
                              tu_workload("Kubernetes//Pod/default/p1", "127.0.0.11",
                                          "default/echo.default.svc.cluster.local", 80, 0),
                              tu_workload("Kubernetes//Pod/default/p2", "127.0.0.12",
                                          "default/echo.default.svc.cluster.local", 80, 9090),
                              tu_workload("Kubernetes//Pod/default/other", "127.0.0.13",
                                          "default/other.default.svc.cluster.local", 80, 0),
                              tu_route("default", "r", 0, "default/gw.http", "", "",
                                       "svc:default/echo.default.svc.cluster.local:80=1"),
                              NULL};
    proxy_config_t *cfg = cfg_with(objs);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    picker_t pk;
    picker_init(&pk);
    const char *r = "route/default/r.00.l";
    assert_int_equal(pick(&pk, s, r), PROXY_OK);
    assert_string_equal(pk.ep.host, "127.0.0.11");
    assert_int_equal(pk.ep.port, 8080); /* Service target port */
    assert_ptr_equal(pk.rb, route_of(s, r)->backends[0]);
    assert_int_equal(pick(&pk, s, r), PROXY_OK);
    assert_string_equal(pk.ep.host, "127.0.0.12");
    assert_int_equal(pk.ep.port, 9090); /* the Workload's own mapping wins */
    assert_int_equal(pick(&pk, s, r), PROXY_OK);
    assert_string_equal(pk.ep.host, "127.0.0.11");
    proxy_snapshot_release(s);

    /* the workloads go: no endpoint → ENOBACKEND */
    proxy_change_t rm[] = {{PROXY_TYPE_ADDRESS, "Kubernetes//Pod/default/p1", NULL},
                           {PROXY_TYPE_ADDRESS, "Kubernetes//Pod/default/p2", NULL}};
    assert_int_equal(proxy_config_apply(cfg, rm, 2, false, NULL, 0), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    assert_int_equal(pick(&pk, s, r), PROXY_ENOBACKEND);
    assert_non_null(strstr(pk.why, "no healthy endpoint"));
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

/* Endpoint addresses are formatted by hand (per request): every digit count in every octet,
 * and the extremes, read back as inet_ntop writes them. */
static void test_workload_addresses_format_as_inet_ntop(void **state)
{
    (void)state;
    static const char *const ips[] = {"0.0.0.0",      "255.255.255.255", "1.22.133.4",
                                      "10.100.9.199", "127.0.10.1",      "200.0.99.100",
                                      "9.90.109.250"};
    for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++) {
        const ir_obj_t *objs[] = {tu_bind("80/default/gw", 80),
                                  tu_listener("default/gw.http", "80/default/gw", ""),
                                  tu_service("default", "echo.default.svc.cluster.local", 80, 8080),
                                  tu_workload("Kubernetes//Pod/default/p1", ips[i],
                                              "default/echo.default.svc.cluster.local", 80, 0),
                                  tu_route("default", "r", 0, "default/gw.http", "", "",
                                           "svc:default/echo.default.svc.cluster.local:80=1"),
                                  NULL};
        proxy_config_t *cfg = cfg_with(objs);
        const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
        picker_t pk;
        picker_init(&pk);
        assert_int_equal(pick(&pk, s, "route/default/r.00.l"), PROXY_OK);
        assert_string_equal(pk.ep.host, ips[i]);
        proxy_snapshot_release(s);
        proxy_config_free(cfg);
    }
}

static void test_static_inline_and_unresolvable_backends(void **state)
{
    (void)state;
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        tu_listener("default/gw.http", "80/default/gw", ""),
        tu_static_backend("default/echo", "127.0.0.1", 8081),
        tu_route("default", "static", 0, "default/gw.http", "", "", "be:default/echo=1"),
        tu_route("default", "inline", 0, "default/gw.http", "", "", "inline:localhost:9000=1"),
        tu_route("default", "unknown", 0, "default/gw.http", "", "", "be:default/nope=1"),
        tu_route("default", "nosvc", 0, "default/gw.http", "", "", "svc:default/x.y:80=1"),
        tu_route("default", "noref", 0, "default/gw.http", "", "", "none=1"),
        tu_route("default", "zero", 0, "default/gw.http", "", "", "be:default/echo=0"),
        tu_route("default", "empty", 0, "default/gw.http", "", "", ""),
        NULL};
    proxy_config_t *cfg = cfg_with(objs);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    picker_t pk;
    picker_init(&pk);
    assert_int_equal(pick(&pk, s, "route/default/static.00.l"), PROXY_OK);
    assert_string_equal(pk.ep.host, "127.0.0.1");
    assert_int_equal(pk.ep.port, 8081);
    assert_int_equal(pick(&pk, s, "route/default/inline.00.l"), PROXY_OK);
    assert_string_equal(pk.ep.host, "localhost");
    assert_int_equal(pk.ep.port, 9000);
    static const struct {
        const char *route, *why;
    } bad[] = {
        {"route/default/unknown.00.l", "backend default/nope is unknown"},
        {"route/default/nosvc.00.l", "service default/x.y (port 80) is unknown"},
        {"route/default/noref.00.l", "no reference"},
        {"route/default/zero.00.l", "weight 0"},
        {"route/default/empty.00.l", "has no backends"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pick(&pk, s, bad[i].route), PROXY_ENOBACKEND);
        if (!strstr(pk.why, bad[i].why))
            fail_msg("%s: reason \"%s\" lacks \"%s\"", bad[i].route, pk.why, bad[i].why);
    }
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_resolves_to_healthy_workloads_round_robin),
        cmocka_unit_test(test_static_inline_and_unresolvable_backends),
        cmocka_unit_test(test_workload_addresses_format_as_inet_ntop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
