/*
 * Proto3 JSON rendering (ir/src/pbjson.c): names, presence, every scalar kind, the well-known
 * types, Any expansion and its limit, and redaction. tests/ir/check_wire.py additionally compares
 * this rendering with python3-protobuf's json_format on every sample.
 */
#include "ir_test_util.h"

static json_t *render(const ProtobufCMessage *m, unsigned flags)
{
    json_t *j = ir_pb_to_json(m, flags);
    assert_non_null(j);
    return j;
}

/* Asserts the compact, key-sorted rendering of |j| (taken) equals |want|. */
static void expect_json(json_t *j, const char *want)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    assert_non_null(s);
    if (strcmp(s, want) != 0)
        print_error("got  %s\nwant %s\n", s, want);
    assert_string_equal(s, want);
    free(s);
}

static void test_pbjson_names_are_lower_camel_and_defaults_are_omitted(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Bind b = AGENTGATEWAY__DEV__RESOURCE__BIND__INIT;
    b.key = (char *)"80/default/gw";
    expect_json(render(&b.base, 0), "{\"key\":\"80/default/gw\"}");
    b.port = 80;
    b.tunnel_protocol = AGENTGATEWAY__DEV__RESOURCE__BIND__TUNNEL_PROTOCOL__HBONE_GATEWAY;
    expect_json(render(&b.base, 0),
                "{\"key\":\"80/default/gw\",\"port\":80,\"tunnelProtocol\":\"HBONE_GATEWAY\"}");
    /* digits in names: http1_max_headers -> http1MaxHeaders */
    Agentgateway__Dev__Resource__FrontendPolicySpec__HTTP h =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP__INIT;
    h._http1_max_headers_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP1_MAX_HEADERS_HTTP1_MAX_HEADERS;
    h.http1_max_headers = 0; /* present though zero */
    expect_json(render(&h.base, 0), "{\"http1MaxHeaders\":0}");
}

static void test_pbjson_scalars_enums_bytes_and_presence(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Listener *l = ir_sample_listener();
    json_t *j = render(&l->base, 0);
    json_t *tls = json_object_get(j, "tls");
    assert_string_equal(json_string_value(json_object_get(tls, "cert")), "LS0tLS1DRVJULS0tLS0=");
    assert_string_equal(json_string_value(json_object_get(tls, "root")), ""); /* set, empty */
    assert_string_equal(json_string_value(json_object_get(tls, "minVersion")), "TLS_V1_2");
    assert_string_equal(json_string_value(json_array_get(json_object_get(tls, "cipherSuites"), 1)),
                        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_string_equal(json_string_value(json_object_get(j, "protocol")), "HTTPS");
    json_decref(j);
    ir_pb_free(&l->base);

    /* 64-bit integers are strings; doubles are numbers; booleans */
    Agentgateway__Dev__Resource__Policy *p = ir_sample_policy_gateway();
    j = render(&p->base, 0);
    json_t *rl = json_object_get(json_object_get(j, "traffic"), "localRateLimit");
    assert_string_equal(json_string_value(json_object_get(rl, "maxTokens")), "100");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(rl, "rules"), 0), "maxTokens")),
                        "5000000000");
    json_decref(j);
    ir_pb_free(&p->base);

    Agentgateway__Dev__Resource__RequestMirrors__Mirror m =
        AGENTGATEWAY__DEV__RESOURCE__REQUEST_MIRRORS__MIRROR__INIT;
    m.percentage = 12.5;
    expect_json(render(&m.base, 0), "{\"percentage\":12.5}");

    /* an enum value our schema does not know renders as its number */
    Agentgateway__Dev__Resource__Bind b = AGENTGATEWAY__DEV__RESOURCE__BIND__INIT;
    b.protocol = (Agentgateway__Dev__Resource__Bind__Protocol)99;
    expect_json(render(&b.base, 0), "{\"protocol\":99}");
}

static void test_pbjson_durations_as_protobuf_formats_them(void **state)
{
    (void)state;
    static const struct {
        int64_t s;
        int32_t n;
        const char *want;
    } cases[] = {
        {10, 0, "\"10s\""},           {2, 500000000, "\"2.500s\""},
        {0, 100000000, "\"0.100s\""}, {1, 1000, "\"1.000001s\""},
        {0, 1, "\"0.000000001s\""},   {-1, -500000000, "\"-1.500s\""},
        {0, -5000000, "\"-0.005s\""}, {0, 0, "\"0s\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
        d.seconds = cases[i].s;
        d.nanos = cases[i].n;
        expect_json(render(&d.base, 0), cases[i].want);
    }
}

static void test_pbjson_struct_value_list_and_wrappers(void **state)
{
    (void)state;
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *r = ir_sample_delta_request();
    expect_json(render(&r->node->metadata->base, 0),
                "{\"GATEWAY_NAME\":\"gw\",\"NAMESPACE\":\"default\",\"list\":[1.5,\"x\",true,null],"
                "\"role\":\"default~gw\",\"sub\":{\"k\":\"v\"}}");
    /* a map field is an object */
    json_t *j = render(&r->base, 0);
    expect_json(json_incref(json_object_get(j, "initialResourceVersions")),
                "{\"bind/80/default/gw\":\"0123456789abcdef\","
                "\"listener/default/gw.http\":\"00000000000000ff\"}");
    json_decref(j);
    ir_pb_free(&r->base);

    static const uint8_t ip[4] = {10, 0, 0, 1};
    Istio__Workload__Address *a = ir_sample_workload("uid", ip);
    j = render(&a->base, 0);
    json_t *w = json_object_get(j, "workload");
    assert_int_equal(json_integer_value(json_object_get(w, "capacity")), 5);
    assert_string_equal(json_string_value(json_array_get(json_object_get(w, "addresses"), 0)),
                        "CgAAAQ==");
    json_t *svc =
        json_object_get(json_object_get(w, "services"), "apps/api.apps.svc.cluster.local");
    assert_int_equal(json_array_size(json_object_get(svc, "ports")), 2);
    /* Any with a known type is expanded as protobuf's JSON mapping does */
    expect_json(
        json_incref(json_object_get(json_array_get(json_object_get(w, "extensions"), 0), "config")),
        "{\"@type\":\"type.googleapis.com/google.protobuf.StringValue\",\"value\":\"hi\"}");
    json_decref(j);
    ir_pb_free(&a->base);
}

static void test_pbjson_any_unknown_or_broken_stays_base64(void **state)
{
    (void)state;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)"type.googleapis.com/example.Unknown";
    uint8_t v[] = {1, 2, 3};
    any.value.data = v;
    any.value.len = 3;
    expect_json(render(&any.base, 0),
                "{\"@type\":\"type.googleapis.com/example.Unknown\",\"value\":\"AQID\"}");
    /* known type, bytes that do not decode */
    any.type_url = (char *)IR_TYPE_URL_RESOURCE;
    uint8_t bad[] = {0x0a, 0x05};
    any.value.data = bad;
    any.value.len = 2;
    expect_json(render(&any.base, 0),
                "{\"@type\":\"" IR_TYPE_URL_RESOURCE "\",\"value\":\"CgU=\"}");
    /* a known resource */
    static const uint8_t bind[] = {0x0a, 0x05, 0x0a, 0x01, 'k', 0x10, 0x50};
    any.value.data = (uint8_t *)bind;
    any.value.len = sizeof bind;
    expect_json(render(&any.base, 0),
                "{\"@type\":\"" IR_TYPE_URL_RESOURCE "\",\"bind\":{\"key\":\"k\",\"port\":80}}");
}

/* Any{Any{Any{...}}}: expansion stops after IR_PB_MAX_DEPTH levels instead of recursing on. */
static void test_pbjson_nested_anys_are_bounded(void **state)
{
    (void)state;
    uint8_t *cur = NULL;
    size_t n = 0;
    static const char url[] = "type.googleapis.com/google.protobuf.Any";
    for (int i = 0; i < 3 * IR_PB_MAX_DEPTH; i++) {
        Google__Protobuf__Any a = GOOGLE__PROTOBUF__ANY__INIT;
        a.type_url = (char *)url;
        a.value.data = cur;
        a.value.len = n;
        uint8_t *next;
        size_t nn;
        assert_int_equal(ir_pb_encode(&a.base, &next, &nn), IR_OK);
        krt_free(cur);
        cur = next;
        n = nn;
    }
    ProtobufCMessage *m = NULL;
    assert_int_equal(ir_pb_decode(&google__protobuf__any__descriptor, cur, n, &m, NULL), IR_OK);
    json_t *j = render(m, 0);
    int depth = 0;
    json_t *at = j;
    while (json_is_object(json_object_get(at, "value"))) {
        at = json_object_get(at, "value");
        depth++;
    }
    assert_true(depth >= IR_PB_MAX_DEPTH - 2 && depth <= IR_PB_MAX_DEPTH);
    assert_true(json_is_string(json_object_get(at, "value"))); /* the rest left as base64 */
    json_decref(j);
    ir_pb_free(m);
    krt_free(cur);
}

static void test_pbjson_redaction_hides_every_secret(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Backend *b = ir_sample_backend_static();
    json_t *plain = render(&b->base, 0);
    json_t *red = render(&b->base, IR_PB_JSON_REDACT);
    char *sp = json_dumps(plain, JSON_COMPACT);
    char *sr = json_dumps(red, JSON_COMPACT);
    assert_non_null(strstr(sp, "\"secret\":\"s3cr3t\""));
    assert_non_null(strstr(sr, "\"secret\":\"<redacted 6 bytes>\""));
    assert_null(strstr(sr, "s3cr3t"));
    /* BackendTLS client key: base64 of "CLIENT-KEY" */
    assert_non_null(strstr(sp, "Q0xJRU5ULUtFWQ=="));
    assert_null(strstr(sr, "Q0xJRU5ULUtFWQ=="));
    assert_non_null(strstr(sr, "\"key\":\"<redacted 10 bytes>\""));
    /* non-secrets are untouched */
    assert_non_null(strstr(sr, "\"host\":\"10.0.0.1\""));
    free(sp);
    free(sr);
    json_decref(plain);
    json_decref(red);
    ir_pb_free(&b->base);
    assert_true(json_is_null(ir_pb_to_json(NULL, 0)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pbjson_names_are_lower_camel_and_defaults_are_omitted),
        cmocka_unit_test(test_pbjson_scalars_enums_bytes_and_presence),
        cmocka_unit_test(test_pbjson_durations_as_protobuf_formats_them),
        cmocka_unit_test(test_pbjson_struct_value_list_and_wrappers),
        cmocka_unit_test(test_pbjson_any_unknown_or_broken_stays_base64),
        cmocka_unit_test(test_pbjson_nested_anys_are_bounded),
        cmocka_unit_test(test_pbjson_redaction_hides_every_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
