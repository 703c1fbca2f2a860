/*
 * Backend (ir/src/backend.c): every backend kind round-trips, including the empty dynamic forward
 * proxy message whose presence is the whole information; inline policies survive.
 */
#include "ir_test_util.h"

static void check_kind(Agentgateway__Dev__Resource__Backend *m, const char *key, const char *kind)
{
    const ir_backend_t *b = ir_backend_new(m, "default/gw", NULL);
    assert_non_null(b);
    ir_test_roundtrip(ir_backend_obj(b));
    assert_string_equal(ir_backend_key(b), key);
    assert_string_equal(ir_backend_kind_name(b), kind);
    char name[128];
    snprintf(name, sizeof name, "backend/%s", key);
    assert_string_equal(ir_obj_name(ir_backend_obj(b)), name);
    ir_obj_release(ir_backend_obj(b));
}

static void test_backend_every_kind_round_trips(void **state)
{
    (void)state;
    check_kind(ir_sample_backend_static(), "default/static", "static");
    check_kind(ir_sample_backend_ai(), "default/llm", "ai");
    check_kind(ir_sample_backend_mcp(), "default/mcp", "mcp");
    check_kind(ir_sample_backend_dynamic(), "default/egress", "dynamic");
    check_kind(ir_sample_backend_aws(), "default/agent", "aws");
    check_kind(ir_sample_backend_model_router(), "default/router", "model_router");
    Agentgateway__Dev__Resource__Backend *none = ir_sample_backend_dynamic();
    ir_pb_free(&none->dynamic->base);
    none->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND__NOT_SET;
    check_kind(none, "default/egress", "none");
}

static void test_backend_empty_dynamic_message_is_kept(void **state)
{
    (void)state;
    const ir_backend_t *b = ir_backend_new(ir_sample_backend_dynamic(), NULL, NULL);
    assert_int_equal(ir_backend_kind(b), AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_DYNAMIC);
    assert_non_null(ir_backend_pb(b)->dynamic);
    /* Resource{backend{key, name{...}, dynamic{}}}: field 6 with length 0 is on the wire */
    size_t n;
    const uint8_t *w = ir_obj_wire(ir_backend_obj(b), &n);
    assert_int_equal(w[n - 2], 0x32);
    assert_int_equal(w[n - 1], 0x00);
    ir_obj_release(ir_backend_obj(b));
}

static void test_backend_inline_policies_survive(void **state)
{
    (void)state;
    const ir_backend_t *b = ir_backend_new(ir_sample_backend_static(), "default/gw", NULL);
    const Agentgateway__Dev__Resource__Backend *m = ir_backend_pb(b);
    assert_int_equal(m->n_inline_policies, 4);
    const Agentgateway__Dev__Resource__BackendPolicySpec__BackendTLS *t =
        m->inline_policies[0]->backend_tls;
    assert_int_equal(
        t->verification,
        AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_TLS__VERIFICATION_MODE__INSECURE_HOST);
    assert_string_equal(t->hostname, "sni.example.com");
    assert_string_equal(t->alpn->protocols[0], "h2");
    assert_int_equal(m->inline_policies[2]->backend_tcp->keepalive->retries, 3);
    assert_string_equal(m->inline_policies[3]->auth->key->secret, "s3cr3t");
    assert_string_equal(m->static_->unix_path, "/run/app.sock");
    char *s = ir_test_dump_str(ir_backend_obj(b));
    assert_null(strstr(s, "s3cr3t"));
    free(s);
    ir_obj_release(ir_backend_obj(b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_every_kind_round_trips),
        cmocka_unit_test(test_backend_empty_dynamic_message_is_kept),
        cmocka_unit_test(test_backend_inline_policies_survive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
