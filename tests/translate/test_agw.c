/*
 * agentgateway's own kinds (translate/agw_backend.c, agw_policy.c, agw_params.c): what an edit
 * recomputes and announces, retargeting, reachability through routes, the effective parameters
 * for the deployer, and bad input that must give status, never a crash. The translations
 * themselves are in the goldens own-agw-backends and own-agw-policies.
 *
 * The world: Gateways infra/gw and infra/gw2; HTTPRoute infra/r to AgentgatewayBackend
 * infra/be on gw only; policies infra/p1 (traffic timeout on gw) and infra/p2 (basic auth from
 * Secret infra/users on gw), infra/p3 (backend TLS on the AgentgatewayBackend).
 */
#include "tr_test.h"

static const char *const world =
    "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
    "metadata: {name: agw}\n"
    "spec:\n  controllerName: agentgateway.dev/agentgateway\n"
    "  parametersRef: {group: agentgateway.dev, kind: AgentgatewayParameters, name: base, "
    "namespace: infra}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: gw, namespace: infra}\n"
    "spec:\n  gatewayClassName: agw\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
    "  infrastructure:\n    parametersRef: {group: agentgateway.dev, kind: "
    "AgentgatewayParameters, name: big}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: gw2, namespace: infra}\n"
    "spec:\n  gatewayClassName: agw\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
    "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayParameters\n"
    "metadata: {name: base, namespace: infra}\n"
    "spec:\n  image: {registry: cr.example.com, repository: agentgateway, tag: v1}\n"
    "  env: [{name: A, value: '1'}]\n  logging: {level: info}\n"
    "  service: {spec: {type: LoadBalancer}}\n"
    "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayParameters\n"
    "metadata: {name: big, namespace: infra}\n"
    "spec:\n  image: {tag: v2}\n  resources: {limits: {cpu: '2'}}\n"
    "  deployment: {spec: {replicas: 3}}\n  service: {spec: {type: ClusterIP}}\n"
    "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayBackend\n"
    "metadata: {name: be, namespace: infra}\n"
    "spec: {static: {host: be.example.com, port: 443}}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
    "metadata: {name: r, namespace: infra}\n"
    "spec:\n  parentRefs: [{name: gw}]\n"
    "  rules: [{backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: be}]}]\n"
    "---\napiVersion: v1\nkind: Secret\nmetadata: {name: users, namespace: infra}\n"
    "stringData: {.htaccess: 'alice:$apr1$3zSE0Abt$IuETi4l5yO87MuOrbSE4V.'}\n"
    "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
    "metadata: {name: p1, namespace: infra}\n"
    "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n"
    "  traffic: {timeouts: {request: 10s}}\n"
    "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
    "metadata: {name: p2, namespace: infra}\n"
    "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n"
    "  traffic: {basicAuthentication: {secretRef: {name: users}}}\n"
    "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
    "metadata: {name: p3, namespace: infra}\n"
    "spec:\n  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: be}]\n"
    "  backend: {tls: {sni: be.example.com}}\n";

typedef trt_fx_t fx_t;

static void test_world_translates_as_expected(void **state)
{
    fx_t *f = *state;
    /* the backend exists on gw only (gw2 has no route to it); the route's backendRef names it
     * by key */
    const char *const present[] = {
        "\"key\":\"infra/gw/backend/infra/be\"",
        "\"key\":\"infra/gw/policy/traffic/infra/p1:timeout:infra/gw\"",
        "\"key\":\"infra/gw/policy/traffic/infra/p2:basicauth:infra/gw\"",
        "\"key\":\"infra/gw/policy/backend/infra/p3:backend-tls:infra/be\"",
        "\"backend\":{\"backend\":\"infra/be\"}",
        NULL};
    const char *const absent[] = {"infra/gw2/backend/", NULL};
    trt_dump_expect(&f->t, present, absent);
}

static void test_policy_edit_recomputes_only_that_policy(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
                        "metadata: {name: p1, namespace: infra}\n"
                        "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, "
                        "name: gw}]\n"
                        "  traffic: {timeouts: {request: 20s}}\n");
    const char *const changes[] = {"Policy:~infra/gw/policy/traffic/infra/p1:timeout:infra/gw",
                                   "Policy/status:~infra/p1", NULL};
    const char *const recomputes[] = {"Policy=1", NULL};
    trt_fx_expect(f, "p1 timeout edited", changes, recomputes);
}

static void test_policy_retarget_moves_it(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
                        "metadata: {name: p1, namespace: infra}\n"
                        "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, "
                        "name: gw2}]\n"
                        "  traffic: {timeouts: {request: 10s}}\n");
    const char *const changes[] = {"Policy:-infra/gw/policy/traffic/infra/p1:timeout:infra/gw",
                                   "Policy:+infra/gw2/policy/traffic/infra/p1:timeout:infra/gw2",
                                   "Policy/status:~infra/p1", NULL};
    const char *const recomputes[] = {"Policy=1", NULL};
    trt_fx_expect(f, "p1 moved to gw2", changes, recomputes);
    char *text = trt_status_text(&f->t, TR_STATUS_AGW_POLICY, "infra/p1");
    assert_non_null(strstr(text, "\"name\":\"gw2\""));
    assert_null(strstr(text, "\"name\":\"gw\""));
    free(text);
}

static void test_secret_edit_recomputes_the_policy_reading_it(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: v1\nkind: Secret\nmetadata: {name: users, namespace: infra}\n"
                        "stringData: {.htaccess: 'bob:$apr1$Ukb5LgRD$EPY2lIfY.A54jzLELNIId/'}\n");
    const char *const changes[] = {"Policy:~infra/gw/policy/traffic/infra/p2:basicauth:infra/gw",
                                   NULL};
    const char *const recomputes[] = {"Policy=1", NULL};
    trt_fx_expect(f, "htpasswd Secret edited", changes, recomputes);
}

static void test_secret_deleted_fails_closed_with_status(void **state)
{
    fx_t *f = *state;
    trt_delete(&f->t, "v1", "Secret", "infra", "users");
    const char *const changes[] = {"Policy:~infra/gw/policy/traffic/infra/p2:basicauth:infra/gw",
                                   "Policy/status:~infra/p2", NULL};
    const char *const recomputes[] = {"Policy=1", NULL};
    trt_fx_expect(f, "htpasswd Secret deleted", changes, recomputes);
    char *text = trt_status_text(&f->t, TR_STATUS_AGW_POLICY, "infra/p2");
    assert_non_null(strstr(text, "\"reason\":\"Invalid\""));
    assert_non_null(strstr(text, "Secret not found: infra/users"));
    free(text);
}

static void test_route_to_backend_from_second_gateway_emits_it_there(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                        "metadata: {name: r2, namespace: infra}\n"
                        "spec:\n  parentRefs: [{name: gw2}]\n"
                        "  rules: [{backendRefs: [{group: agentgateway.dev, kind: "
                        "AgentgatewayBackend, name: be}]}]\n");
    /* the backend's status does not change: it is reached from more Gateways, that is all */
    const char *const changes[] = {"Route:+infra/gw2/route/infra/r2.00.http",
                                   "http-routes/status:+infra/r2",
                                   "Backend:+infra/gw2/backend/infra/be",
                                   "Policy:+infra/gw2/policy/backend/infra/p3:backend-tls:infra/be",
                                   "Policy/status:~infra/p3",
                                   "gateways/status:~infra/gw2",
                                   NULL};
    const char *const recomputes[] = {"http-bindings=1", "http-routes=1", "gateways=1",
                                      "Backend=1",       "Policy=1",      NULL};
    trt_fx_expect(f, "route from gw2", changes, recomputes);
}

static void test_policy_sending_to_backend_emits_it_on_that_gateway(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
                        "metadata: {name: authz, namespace: infra}\n"
                        "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, "
                        "name: gw2}]\n"
                        "  traffic:\n    extAuth:\n      backendRef: {group: agentgateway.dev, "
                        "kind: AgentgatewayBackend, name: be}\n      grpc: {}\n");
    const char *const changes[] = {"Policy:+infra/gw2/policy/traffic/infra/authz:extauth:infra/gw2",
                                   "Policy/status:+infra/authz",
                                   "Backend:+infra/gw2/backend/infra/be", NULL};
    const char *const recomputes[] = {"Policy=1", "Backend=1", NULL};
    trt_fx_expect(f, "extAuth policy on gw2", changes, recomputes);
}

static void test_backend_edit_recomputes_only_that_backend(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t, "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayBackend\n"
                        "metadata: {name: be, namespace: infra}\n"
                        "spec: {static: {host: be2.example.com, port: 443}}\n");
    /* the route reads the backend's existence only */
    const char *const changes[] = {"Backend:~infra/gw/backend/infra/be", "Backend/status:~infra/be",
                                   NULL};
    const char *const recomputes[] = {"Backend=1", NULL};
    trt_fx_expect(f, "backend host edited", changes, recomputes);
}

static void test_parameters_merge_class_then_gateway(void **state)
{
    fx_t *f = *state;
    const krt_obj_t *o = krt_collection_get(tr_graph_parameters(f->t.g), "infra/gw");
    assert_non_null(o);
    json_t *p = tr_parameters_json(o);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "gateway")), "infra/gw");
    json_t *eff = json_object_get(p, "effective");
    assert_string_equal(json_string_value(json_object_get(eff, "image")),
                        "cr.example.com/agentgateway:v2");
    assert_int_equal(json_integer_value(json_object_get(eff, "replicas")), 3);
    assert_string_equal(json_string_value(json_object_get(eff, "serviceType")), "ClusterIP");
    assert_string_equal(json_string_value(json_object_get(eff, "logLevel")), "info");
    assert_non_null(json_object_get(json_object_get(eff, "resources"), "limits"));
    assert_int_equal(json_array_size(json_object_get(eff, "env")), 1);
    assert_int_equal(json_array_size(json_object_get(p, "sources")), 2);
    assert_int_equal(json_array_size(json_object_get(p, "errors")), 0);

    /* gw2 has the class's only */
    o = krt_collection_get(tr_graph_parameters(f->t.g), "infra/gw2");
    eff = json_object_get(tr_parameters_json(o), "effective");
    assert_string_equal(json_string_value(json_object_get(eff, "image")),
                        "cr.example.com/agentgateway:v1");
    assert_string_equal(json_string_value(json_object_get(eff, "serviceType")), "LoadBalancer");
    assert_true(json_is_null(json_object_get(eff, "replicas")));
}

static void test_parameters_missing_is_an_error_not_a_crash(void **state)
{
    fx_t *f = *state;
    trt_delete(&f->t, "agentgateway.dev/v1alpha1", "AgentgatewayParameters", "infra", "big");
    trt_flush(&f->t);
    const krt_obj_t *o = krt_collection_get(tr_graph_parameters(f->t.g), "infra/gw");
    json_t *p = tr_parameters_json(o);
    assert_int_equal(json_array_size(json_object_get(p, "errors")), 1);
    assert_non_null(strstr(json_string_value(json_array_get(json_object_get(p, "errors"), 0)),
                           "AgentgatewayParameters infra/big not found"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(p, "effective"), "image")),
        "cr.example.com/agentgateway:v1");
}

/* Shapes the API server would refuse, fed from files: status, never a crash. */
static void test_malformed_objects_get_status(void **state)
{
    fx_t *f = *state;
    trt_put_yaml(&f->t,
                 "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
                 "metadata: {name: bad1, namespace: infra}\nspec: 7\n"
                 "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
                 "metadata: {name: bad2, namespace: infra}\n"
                 "spec:\n  targetRefs: [1, x, {}, {kind: Gateway}]\n"
                 "  traffic: {timeouts: {request: soon}, retry: {codes: [x]}, rateLimit: "
                 "{local: [{requests: 0}]}, jwtAuthentication: {providers: [{jwks: {inline: "
                 "'{\"keys\": 1}'}}]}}\n"
                 "  backend: {tls: {caCertificateRefs: [{name: nope}]}, auth: {}}\n"
                 "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayPolicy\n"
                 "metadata: {name: bad3, namespace: infra}\n"
                 "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: "
                 "gw}, {group: '', kind: Service, name: s}]\n  frontend: {http: {maxBufferSize: "
                 "lots}}\n"
                 "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayBackend\n"
                 "metadata: {name: bad4, namespace: infra}\nspec: {}\n"
                 "---\napiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayBackend\n"
                 "metadata: {name: bad5, namespace: infra}\n"
                 "spec: {ai: {provider: {}, groups: 3}, mcp: {targets: [{name: t}]}}\n");
    trt_flush(&f->t);
    trt_check_outputs(&f->t);
    const char *pols[] = {"infra/bad1", "infra/bad2", "infra/bad3"};
    for (int i = 0; i < 3; i++) {
        char *text = trt_status_text(&f->t, TR_STATUS_AGW_POLICY, pols[i]);
        assert_non_null(strstr(text, "\"status\":\"False\""));
        free(text);
    }
    const char *bes[] = {"infra/bad4", "infra/bad5"};
    for (int i = 0; i < 2; i++) {
        char *text = trt_status_text(&f->t, TR_STATUS_AGW_BACKEND, bes[i]);
        assert_non_null(strstr(text, "\"reason\":\"TranslationError\""));
        free(text);
    }
}

int main(void)
{
    const trt_world_t base = {world, NULL};
    const struct CMUnitTest tests[] = {
        TRT_FX_TEST(test_world_translates_as_expected, &base),
        TRT_FX_TEST(test_policy_edit_recomputes_only_that_policy, &base),
        TRT_FX_TEST(test_policy_retarget_moves_it, &base),
        TRT_FX_TEST(test_secret_edit_recomputes_the_policy_reading_it, &base),
        TRT_FX_TEST(test_secret_deleted_fails_closed_with_status, &base),
        TRT_FX_TEST(test_route_to_backend_from_second_gateway_emits_it_there, &base),
        TRT_FX_TEST(test_policy_sending_to_backend_emits_it_on_that_gateway, &base),
        TRT_FX_TEST(test_backend_edit_recomputes_only_that_backend, &base),
        TRT_FX_TEST(test_parameters_merge_class_then_gateway, &base),
        TRT_FX_TEST(test_parameters_missing_is_an_error_not_a_crash, &base),
        TRT_FX_TEST(test_malformed_objects_get_status, &base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
