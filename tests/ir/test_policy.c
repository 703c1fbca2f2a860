/*
 * Policy (ir/src/policy.c): every PolicyTarget kind and every spec kind round-trips; optional
 * target fields keep their presence; accessors.
 */
#include "ir_test_util.h"

static const ir_policy_t *make(Agentgateway__Dev__Resource__Policy *m)
{
    ir_err_t err = {0};
    const ir_policy_t *p = ir_policy_new(m, "default/gw", &err);
    if (!p)
        print_error("%s\n", err.msg);
    assert_non_null(p);
    ir_test_roundtrip(ir_policy_obj(p));
    return p;
}

static void test_policy_every_target_and_spec_kind_round_trips(void **state)
{
    (void)state;
    static const struct {
        Agentgateway__Dev__Resource__Policy *(*sample)(void);
        int target;
        int kind;
    } cases[] = {
        {ir_sample_policy_gateway, AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY,
         AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_TRAFFIC},
        {ir_sample_policy_route, AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_ROUTE,
         AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_TRAFFIC},
        {ir_sample_policy_backend, AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_BACKEND,
         AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_BACKEND},
        {ir_sample_policy_service, AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_SERVICE,
         AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_TRAFFIC},
        {ir_sample_policy_listener_set,
         AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_LISTENER_SET,
         AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND},
        {ir_sample_policy_frontend_http, AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY,
         AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND},
        {ir_sample_policy_conditional, AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY,
         AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_CONDITIONAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ir_policy_t *p = make(cases[i].sample());
        assert_int_equal(ir_policy_target_kind(p), cases[i].target);
        assert_int_equal(ir_policy_kind(p), cases[i].kind);
        char name[256];
        snprintf(name, sizeof name, "policy/%s", ir_policy_key(p));
        assert_string_equal(ir_obj_name(ir_policy_obj(p)), name);
        ir_obj_release(ir_policy_obj(p));
    }
}

static void test_policy_target_presence_is_kept(void **state)
{
    (void)state;
    const ir_policy_t *p = make(ir_sample_policy_gateway());
    const Agentgateway__Dev__Resource__PolicyTarget__GatewayTarget *g =
        ir_policy_target(p)->gateway;
    assert_int_equal(
        g->_listener_case,
        AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__GATEWAY_TARGET___LISTENER_LISTENER);
    assert_string_equal(g->listener, "http");
    assert_int_equal(g->port, 80);
    assert_int_equal(ir_policy_pb(p)->inheritance,
                     AGENTGATEWAY__DEV__RESOURCE__POLICY__INHERITANCE__OVERRIDE);
    ir_obj_release(ir_policy_obj(p));

    /* a whole-Gateway target: listener and port unset (not "" and 0) */
    p = make(ir_sample_policy_frontend_http());
    g = ir_policy_target(p)->gateway;
    assert_int_equal(
        g->_listener_case,
        AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__GATEWAY_TARGET___LISTENER__NOT_SET);
    assert_int_equal(g->_port_case,
                     AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__GATEWAY_TARGET___PORT__NOT_SET);
    /* and a zero that is set stays set */
    const Agentgateway__Dev__Resource__FrontendPolicySpec__HTTP *h =
        ir_policy_pb(p)->frontend->http;
    assert_int_equal(
        h->_http2_max_header_size_case,
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_MAX_HEADER_SIZE_HTTP2_MAX_HEADER_SIZE);
    ir_obj_release(ir_policy_obj(p));
}

static void test_policy_without_target(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Policy *m = ir_sample_policy_route();
    ir_pb_free(&m->target->base);
    m->target = NULL;
    const ir_policy_t *p = make(m);
    assert_null(ir_policy_target(p));
    assert_int_equal(ir_policy_target_kind(p),
                     AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND__NOT_SET);
    ir_obj_release(ir_policy_obj(p));
}

static void test_policy_jwt_and_ext_authz_details(void **state)
{
    (void)state;
    const ir_policy_t *p = make(ir_sample_policy_route());
    const Agentgateway__Dev__Resource__TrafficPolicySpec__JWT *j = ir_policy_pb(p)->traffic->jwt;
    assert_int_equal(j->mode, AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__JWT__MODE__STRICT);
    assert_string_equal(j->providers[0]->inline_, "{\"keys\":[]}");
    assert_string_equal(j->authorization_location->query_parameter->name, "token");
    ir_obj_release(ir_policy_obj(p));
    p = make(ir_sample_policy_service());
    const Agentgateway__Dev__Resource__TrafficPolicySpec__ExternalAuth *e =
        ir_policy_pb(p)->traffic->ext_authz;
    assert_int_equal(e->status_on_error, 403);
    assert_int_equal(e->n_inline_policies, 1);
    assert_int_equal(
        e->protocol_case,
        AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__PROTOCOL_GRPC);
    ir_obj_release(ir_policy_obj(p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_every_target_and_spec_kind_round_trips),
        cmocka_unit_test(test_policy_target_presence_is_kept),
        cmocka_unit_test(test_policy_without_target),
        cmocka_unit_test(test_policy_jwt_and_ext_authz_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
