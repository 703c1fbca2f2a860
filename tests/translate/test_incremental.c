/*
 * Incremental tests: for each kind of edit, after one flush, exactly the resources and statuses
 * that must change are announced, and each collection of the graph recomputed exactly the inputs
 * the edit can affect (the minimal set, counted by krt's recompute counters), with no scans.
 *
 * The world: Gateway infra/gw with listeners web (:80, *.example.com, routes from namespaces
 * labelled tier=frontend) and api (:8080, routes from infra); a second Gateway infra/gw2 that no
 * edit touches; routes team-a/r1 (web, sectionName), infra/r2 (no sectionName) and team-b/r3 (no
 * sectionName, backend in infra through a ReferenceGrant); Services with Pods behind them.
 */
#include "tr_test.h"

static const char *const world =
    "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
    "metadata: {name: agw}\nspec: {controllerName: agentgateway.dev/agentgateway}\n"
    "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: infra}\n"
    "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {tier: frontend}}\n"
    "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-b, labels: {tier: backend}}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: gw, namespace: infra}\n"
    "spec:\n  gatewayClassName: agw\n  listeners:\n"
    "  - name: web\n    port: 80\n    protocol: HTTP\n    hostname: '*.example.com'\n"
    "    allowedRoutes:\n      namespaces:\n        from: Selector\n"
    "        selector: {matchLabels: {tier: frontend}}\n"
    "  - {name: api, port: 8080, protocol: HTTP}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: gw2, namespace: infra}\n"
    "spec:\n  gatewayClassName: agw\n  listeners:\n  - {name: http, port: 80, protocol: HTTP}\n"
    "---\napiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: team-a}\n"
    "spec: {selector: {app: app}, ports: [{port: 8080, targetPort: 80}]}\n"
    "---\napiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: infra}\n"
    "spec: {selector: {app: api}, ports: [{port: 9000}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: app-1, namespace: team-a, labels: {app: "
    "app}}\n"
    "status: {phase: Running, podIP: 10.0.0.1, conditions: [{type: Ready, status: 'True'}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: app-2, namespace: team-a, labels: {app: "
    "app}}\n"
    "status: {phase: Running, podIP: 10.0.0.2, conditions: [{type: Ready, status: 'True'}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: api-1, namespace: infra, labels: {app: "
    "api}}\n"
    "status: {phase: Running, podIP: 10.0.1.1, conditions: [{type: Ready, status: 'True'}]}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
    "metadata: {name: r1, namespace: team-a}\n"
    "spec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: web}]\n"
    "  hostnames: [a.example.com]\n"
    "  rules: [{backendRefs: [{name: app, port: 8080}]}]\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
    "metadata: {name: r2, namespace: infra}\n"
    "spec:\n  parentRefs: [{name: gw}, {name: gw2}]\n"
    "  rules: [{backendRefs: [{name: api, port: 9000}]}]\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
    "metadata: {name: r3, namespace: team-b}\n"
    "spec:\n  parentRefs: [{name: gw, namespace: infra}]\n"
    "  rules: [{backendRefs: [{name: api, namespace: infra, port: 9000}]}]\n"
    "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"
    "metadata: {name: allow-team-b, namespace: infra}\n"
    "spec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: team-b}]\n"
    "  to: [{group: '', kind: Service}]\n";

typedef trt_fx_t fx_t;

/* Puts team-a/r1 as in the world but for its one hostname and its one backendRef. */
static void put_r1(fx_t *f, const char *hostname, const char *backend_ref)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
             "metadata: {name: r1, namespace: team-a}\n"
             "spec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: web}]\n"
             "  hostnames: [%s]\n"
             "  rules: [{backendRefs: [%s]}]\n",
             hostname, backend_ref);
    trt_put_yaml(&f->t, yaml);
}

static void test_world_translates_as_expected(void **state)
{
    fx_t *f = *state;
    /* r1 on web; r2 on api and on gw2; r3 nowhere yet (team-b is not tier=frontend, api is
     * Same-namespace) */
    const char *const present[] = {"\"key\":\"infra/gw/route/team-a/r1.00.web\"",
                                   "\"key\":\"infra/gw/route/infra/r2.00.api\"",
                                   "\"key\":\"infra/gw2/route/infra/r2.00.http\"",
                                   "\"reason\":\"NotAllowedByListeners\"", NULL};
    const char *const absent[] = {"route/team-b/r3", NULL};
    trt_dump_expect(&f->t, present, absent);
}

static void test_unchanged_put_announces_and_recomputes_nothing(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, world);
    const char *const changes[] = {NULL};
    const char *const recomputes[] = {NULL};
    trt_fx_expect(f, "same objects again", changes, recomputes);
}

static void test_route_hostname_edit_touches_that_route_only(void **state)
{
    fx_t *f = *state;
    put_r1(f, "b.example.com", "{name: app, port: 8080}");
    const char *const changes[] = {"Route:~infra/gw/route/team-a/r1.00.web",
                                   "http-routes/status:~team-a/r1", NULL};
    const char *const recomputes[] = {"http-bindings=1", "http-routes=1", NULL};
    trt_fx_expect(f, "route hostname", changes, recomputes);
}

static void test_route_hostname_out_of_listener_detaches(void **state)
{
    fx_t *f = *state;
    put_r1(f, "a.example.org", "{name: app, port: 8080}");
    /* the binding changes, so the Gateway's attachedRoutes is recounted */
    const char *const changes[] = {"Route:-infra/gw/route/team-a/r1.00.web",
                                   "http-routes/status:~team-a/r1", "gateways/status:~infra/gw",
                                   NULL};
    const char *const recomputes[] = {"http-bindings=1", "http-routes=1", "gateways=1", NULL};
    trt_fx_expect(f, "route hostname out of the listener", changes, recomputes);
}

static void test_backend_weight_edit_touches_that_route_only(void **state)
{
    fx_t *f = *state;
    put_r1(f, "a.example.com", "{name: app, port: 8080, weight: 5}");
    const char *const changes[] = {"Route:~infra/gw/route/team-a/r1.00.web",
                                   "http-routes/status:~team-a/r1", NULL};
    /* the binding reads only parentRefs and hostnames of its route (a partial input) */
    const char *const recomputes[] = {"http-routes=1", NULL};
    trt_fx_expect(f, "backend weight", changes, recomputes);
}

static void test_listener_added_rebinds_that_gateways_routes(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t,
                 "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
                 "metadata: {name: gw, namespace: infra}\n"
                 "spec:\n  gatewayClassName: agw\n  listeners:\n"
                 "  - name: web\n    port: 80\n    protocol: HTTP\n    hostname: '*.example.com'\n"
                 "    allowedRoutes:\n      namespaces:\n        from: Selector\n"
                 "        selector: {matchLabels: {tier: frontend}}\n"
                 "  - {name: api, port: 8080, protocol: HTTP}\n"
                 "  - {name: extra, port: 9090, protocol: HTTP, allowedRoutes: {namespaces: {from: "
                 "All}}}\n");
    /* r2 and r3 (no sectionName) attach to the new listener; r1 (sectionName web) rebinds to
     * the same result; gw2 is untouched */
    const char *const changes[] = {"Bind:+infra/gw/bind/9090/infra/gw",
                                   "Listener:+infra/gw/listener/infra/gw.extra",
                                   "Route:+infra/gw/route/infra/r2.00.extra",
                                   "Route:+infra/gw/route/team-b/r3.00.extra",
                                   "http-routes/status:~team-b/r3",
                                   "gateways/status:~infra/gw",
                                   NULL};
    const char *const recomputes[] = {
        "listener-records=1", "Bind=1",     "Listener=1",   "http-bindings=3",
        "http-routes=2",      "gateways=1", "parameters=1", NULL};
    trt_fx_expect(f, "listener added", changes, recomputes);
}

/* The translation of |world_yaml| then |edit_yaml| from scratch must equal |f|'s incremental one.
 */
static void expect_equal_to_full(fx_t *f, const char *world_yaml, const char *edit_yaml)
{
    trt_t full;
    trt_init(&full);
    trt_put_yaml(&full, world_yaml);
    trt_put_yaml(&full, edit_yaml);
    trt_mark_synced(&full);
    trt_flush(&full);
    char *a = tr_graph_dump_lines(f->t.g), *b = tr_graph_dump_lines(full.g);
    assert_string_equal(a, b);
    free(a);
    free(b);
    trt_dispose(&full);
}

static const char *const gw_api_on_8081 =
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: gw, namespace: infra}\n"
    "spec:\n  gatewayClassName: agw\n  listeners:\n"
    "  - name: web\n    port: 80\n    protocol: HTTP\n    hostname: '*.example.com'\n"
    "    allowedRoutes:\n      namespaces:\n        from: Selector\n"
    "        selector: {matchLabels: {tier: frontend}}\n"
    "  - {name: api, port: 8081, protocol: HTTP}\n";

static void test_listener_port_edit_rebinds_no_route_without_a_port(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, gw_api_on_8081);
    /* r1, r2 and r3 name no port: their bindings read the listeners without their ports, so
     * none is re-examined; the Bind moves, the Listener names its new Bind (and the Gateway's
     * status object changes with the Gateway, krt's rule) */
    const char *const changes[] = {
        "Bind:-infra/gw/bind/8080/infra/gw", "Bind:+infra/gw/bind/8081/infra/gw",
        "Listener:~infra/gw/listener/infra/gw.api", "gateways/status:~infra/gw", NULL};
    const char *const recomputes[] = {"listener-records=1", "Bind=1",       "Listener=1",
                                      "gateways=1",         "parameters=1", NULL};
    trt_fx_expect(f, "listener port", changes, recomputes);
    expect_equal_to_full(f, world, gw_api_on_8081);
}

/* r6 names gw's api listener by port. */
static const char *const port_route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                                      "metadata: {name: r6, namespace: infra}\n"
                                      "spec:\n  parentRefs: [{name: gw, port: 8080}]\n"
                                      "  rules: [{backendRefs: [{name: api, port: 9000}]}]\n";

static void test_listener_port_edit_rebinds_routes_naming_a_port(void **state)
{
    fx_t *f = *state;
    assert_true(trt_dump_has(&f->t, "\"key\":\"infra/gw/route/infra/r6.00.api\""));
    trt_put_yaml(&f->t, gw_api_on_8081);
    /* only r6 read the port: it no longer matches (NoMatchingParent), which the Gateway's
     * attachedRoutes shows */
    const char *const changes[] = {"Bind:-infra/gw/bind/8080/infra/gw",
                                   "Bind:+infra/gw/bind/8081/infra/gw",
                                   "Listener:~infra/gw/listener/infra/gw.api",
                                   "Route:-infra/gw/route/infra/r6.00.api",
                                   "http-routes/status:~infra/r6",
                                   "gateways/status:~infra/gw",
                                   NULL};
    const char *const recomputes[] = {
        "listener-records=1", "Bind=1",     "Listener=1",   "http-bindings=1",
        "http-routes=1",      "gateways=1", "parameters=1", NULL};
    trt_fx_expect(f, "listener port with a port route", changes, recomputes);
    assert_true(trt_dump_has(&f->t, "\"reason\":\"NoMatchingParent\""));
    /* the world with r6 and the edit, from scratch */
    char *both = malloc(strlen(world) + strlen(port_route) + 8);
    assert_non_null(both);
    sprintf(both, "%s---\n%s", world, port_route);
    expect_equal_to_full(f, both, gw_api_on_8081);
    free(both);
}

static void test_grant_deleted_takes_effect(void **state)
{
    fx_t *f = *state;
    /* first let r3 attach (namespace relabel), then delete the grant */
    trt_put_yaml(&f->t, "apiVersion: v1\nkind: Namespace\n"
                        "metadata: {name: team-b, labels: {tier: frontend}}\n");
    trt_flush(&f->t);
    trt_rec_clear(&f->rec);
    trt_counts_take(&f->t, &f->before);
    assert_true(trt_dump_has(&f->t, "\"key\":\"infra/gw/route/team-b/r3.00.web\""));
    assert_true(trt_dump_has(&f->t, "api.infra.svc.cluster.local"));

    trt_delete(&f->t, "gateway.networking.k8s.io/v1beta1", "ReferenceGrant", "infra",
               "allow-team-b");
    const char *const changes[] = {"Route:~infra/gw/route/team-b/r3.00.web",
                                   "http-routes/status:~team-b/r3", NULL};
    const char *const recomputes[] = {"http-routes=1", NULL};
    trt_fx_expect(f, "grant deleted", changes, recomputes);
    assert_true(trt_dump_has(&f->t, "\"reason\":\"RefNotPermitted\""));
}

static void test_namespace_relabel_rebinds_routes_of_that_namespace(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: v1\nkind: Namespace\n"
                        "metadata: {name: team-b, labels: {tier: frontend}}\n");
    /* only r3 read team-b's labels; it now attaches to web */
    const char *const changes[] = {"Route:+infra/gw/route/team-b/r3.00.web",
                                   "http-routes/status:~team-b/r3", "gateways/status:~infra/gw",
                                   NULL};
    const char *const recomputes[] = {"http-bindings=1", "http-routes=1", "gateways=1", NULL};
    trt_fx_expect(f, "namespace relabelled", changes, recomputes);
}

static void test_namespace_annotation_recomputes_nothing(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: v1\nkind: Namespace\n"
                        "metadata: {name: team-b, labels: {tier: backend}, annotations: {a: b}}\n");
    const char *const changes[] = {NULL};
    const char *const recomputes[] = {NULL};
    trt_fx_expect(f, "namespace annotated", changes, recomputes);
}

static void test_pod_ip_change_touches_its_workload_only(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t,
                 "apiVersion: v1\nkind: Pod\n"
                 "metadata: {name: app-1, namespace: team-a, labels: {app: app}}\n"
                 "status: {phase: Running, podIP: 10.0.0.9, conditions: [{type: Ready, status: "
                 "'True'}]}\n");
    const char *const changes[] = {"Address:~//Kubernetes//Pod/team-a/app-1", NULL};
    const char *const recomputes[] = {"pod-workloads=1", NULL};
    trt_fx_expect(f, "pod IP changed", changes, recomputes);
}

static void test_service_port_change_touches_service_and_its_pods(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: team-a}\n"
                        "spec: {selector: {app: app}, ports: [{port: 8081, targetPort: 80}]}\n");
    /* routes only need the Service to exist: not recomputed */
    const char *const changes[] = {"Address:~//team-a/app.team-a.svc.cluster.local",
                                   "Address:~//Kubernetes//Pod/team-a/app-1",
                                   "Address:~//Kubernetes//Pod/team-a/app-2", NULL};
    const char *const recomputes[] = {"service-addresses=1", "pod-workloads=2", NULL};
    trt_fx_expect(f, "service port changed", changes, recomputes);
}

static void test_service_deleted_breaks_its_routes_backend(void **state)
{
    fx_t *f = *state;
    trt_delete(&f->t, "v1", "Service", "team-a", "app");
    const char *const changes[] = {
        "Address:-//team-a/app.team-a.svc.cluster.local", "Address:~//Kubernetes//Pod/team-a/app-1",
        "Address:~//Kubernetes//Pod/team-a/app-2", "http-routes/status:~team-a/r1", NULL};
    /* r1's resource keeps its (now dangling) reference: the proxy answers 500. A deleted
     * input is dropped, not recomputed. */
    const char *const recomputes[] = {"pod-workloads=2", "http-routes=1", NULL};
    trt_fx_expect(f, "service deleted", changes, recomputes);
    assert_true(trt_dump_has(&f->t, "\"reason\":\"BackendNotFound\""));
}

/* A third Gateway admitting ListenerSets of its namespace, a set with one listener, a route bound
 * to the set (r4) and one bound to the Gateway itself (r5). */
static const char *const ls_world =
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: gw3, namespace: infra}\n"
    "spec:\n  gatewayClassName: agw\n  allowedListeners: {namespaces: {from: Same}}\n"
    "  listeners:\n  - {name: http, port: 80, protocol: HTTP, hostname: gw3.example.com}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\n"
    "metadata: {name: ls, namespace: infra}\n"
    "spec:\n  parentRef: {name: gw3}\n  listeners:\n"
    "  - {name: set-web, port: 80, protocol: HTTP, hostname: set.example.com}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
    "metadata: {name: r4, namespace: infra}\n"
    "spec:\n  parentRefs: [{kind: ListenerSet, name: ls}]\n"
    "  rules: [{backendRefs: [{name: api, port: 9000}]}]\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
    "metadata: {name: r5, namespace: infra}\n"
    "spec:\n  parentRefs: [{name: gw3}]\n"
    "  rules: [{backendRefs: [{name: api, port: 9000}]}]\n";

static void test_listener_set_translates(void **state)
{
    fx_t *f = *state;
    /* a Gateway parentRef (r5) does not reach the set's listeners */
    const char *const present[] = {"\"key\":\"infra/gw3/listener/infra/ls.set-web\"",
                                   "\"key\":\"infra/gw3/route/infra/r4.00.infra.ls.set-web\"",
                                   "\"key\":\"infra/gw3/route/infra/r5.00.http\"", NULL};
    const char *const absent[] = {"r5.00.infra.ls", NULL};
    trt_dump_expect(&f->t, present, absent);
}

static void test_listener_set_edit_touches_its_gateway_and_routes_only(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t,
                 "apiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\n"
                 "metadata: {name: ls, namespace: infra}\n"
                 "spec:\n  parentRef: {name: gw3}\n  listeners:\n"
                 "  - {name: set-web, port: 80, protocol: HTTP, hostname: other.example.com}\n");
    /* the set's Listener and gw3's Bind bucket are recomputed (the Bind itself is the same); the
     * route bound to the set rebinds to the same result; r5 (bound to gw3 itself), gw, gw2, their
     * routes and gw3's own listener are not recomputed */
    const char *const changes[] = {"Listener:~infra/gw3/listener/infra/ls.set-web",
                                   "listener-sets/status:~infra/ls", NULL};
    const char *const recomputes[] = {
        "listener-records=1", "Bind=1",     "Listener=1", "http-bindings=1",
        "listener-sets=1",    "gateways=1", NULL};
    trt_fx_expect(f, "ListenerSet listener hostname", changes, recomputes);
}

static void test_listener_set_disallowed_removes_its_listeners(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(
        &f->t,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        "metadata: {name: gw3, namespace: infra}\n"
        "spec:\n  gatewayClassName: agw\n"
        "  listeners:\n  - {name: http, port: 80, protocol: HTTP, hostname: gw3.example.com}\n");
    const char *const changes[] = {"Listener:-infra/gw3/listener/infra/ls.set-web",
                                   "Route:-infra/gw3/route/infra/r4.00.infra.ls.set-web",
                                   "http-routes/status:-infra/r4",
                                   "gateways/status:~infra/gw3",
                                   "listener-sets/status:~infra/ls",
                                   NULL};
    /* (a deleted record deletes its Listener without a recompute) */
    const char *const recomputes[] = {"listener-records=1", "Bind=1",     "http-bindings=1",
                                      "http-routes=1",      "gateways=1", "listener-sets=1",
                                      "parameters=1",       NULL};
    trt_fx_expect(f, "Gateway no longer admits the set", changes, recomputes);
}

static void test_gateway_class_handed_over_removes_everything_of_it(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
                        "metadata: {name: agw}\nspec: {controllerName: example.com/other}\n");
    trt_flush(&f->t);
    char *lines = tr_graph_dump_lines(f->t.g);
    /* only Addresses remain */
    for (const char *p = lines; *p;) {
        assert_non_null(strstr(p, "\"kind\":\"address\""));
        p = strchr(p, '\n') + 1;
    }
    free(lines);
}

int main(void)
{
    const trt_world_t base = {world, NULL}, with_port = {world, port_route},
                      with_ls = {world, ls_world};
    const struct CMUnitTest tests[] = {
        TRT_FX_TEST(test_world_translates_as_expected, &base),
        TRT_FX_TEST(test_unchanged_put_announces_and_recomputes_nothing, &base),
        TRT_FX_TEST(test_route_hostname_edit_touches_that_route_only, &base),
        TRT_FX_TEST(test_route_hostname_out_of_listener_detaches, &base),
        TRT_FX_TEST(test_backend_weight_edit_touches_that_route_only, &base),
        TRT_FX_TEST(test_listener_added_rebinds_that_gateways_routes, &base),
        TRT_FX_TEST(test_listener_port_edit_rebinds_no_route_without_a_port, &base),
        TRT_FX_TEST(test_listener_port_edit_rebinds_routes_naming_a_port, &with_port),
        TRT_FX_TEST(test_grant_deleted_takes_effect, &base),
        TRT_FX_TEST(test_namespace_relabel_rebinds_routes_of_that_namespace, &base),
        TRT_FX_TEST(test_namespace_annotation_recomputes_nothing, &base),
        TRT_FX_TEST(test_pod_ip_change_touches_its_workload_only, &base),
        TRT_FX_TEST(test_service_port_change_touches_service_and_its_pods, &base),
        TRT_FX_TEST(test_service_deleted_breaks_its_routes_backend, &base),
        TRT_FX_TEST(test_listener_set_translates, &with_ls),
        TRT_FX_TEST(test_listener_set_edit_touches_its_gateway_and_routes_only, &with_ls),
        TRT_FX_TEST(test_listener_set_disallowed_removes_its_listeners, &with_ls),
        TRT_FX_TEST(test_gateway_class_handed_over_removes_everything_of_it, &base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
