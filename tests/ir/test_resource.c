/*
 * IR objects as discovery Resources (ir/src/resource.c): the borrowing view, the owned copy, and
 * the way back with its checks (name, type URL, payload). The last test runs the whole xDS path:
 * objects -> DeltaDiscoveryResponse bytes -> decoded response -> objects equal to the originals.
 */
#include "ir_test_util.h"

static const ir_obj_t *bind_obj(void)
{
    const ir_bind_t *b = ir_bind_new(ir_sample_bind(80, "80/default/gw"), "default/gw", NULL);
    assert_non_null(b);
    return ir_bind_obj(b);
}

static void test_resource_view_borrows_the_object(void **state)
{
    (void)state;
    const ir_obj_t *o = bind_obj();
    Envoy__Service__Discovery__V3__Resource res;
    Google__Protobuf__Any any;
    ir_obj_discovery_view(o, &res, &any);
    assert_string_equal(res.name, "bind/80/default/gw");
    assert_ptr_equal(res.name, ir_obj_name(o));
    assert_string_equal(res.version, ir_obj_version(o));
    assert_ptr_equal(res.resource, &any);
    assert_string_equal(any.type_url, IR_TYPE_URL_RESOURCE);
    size_t n;
    assert_ptr_equal(any.value.data, ir_obj_wire(o, &n));
    assert_int_equal(any.value.len, n);
    assert_int_equal(res.n_aliases, 0);
    assert_null(res.ttl);

    Envoy__Service__Discovery__V3__Resource *copy = ir_obj_to_discovery(o);
    assert_non_null(copy);
    assert_ptr_not_equal(copy->name, res.name);
    assert_string_equal(copy->name, res.name);
    assert_memory_equal(copy->resource->value.data, any.value.data, n);
    ir_pb_free(&copy->base);
    ir_obj_release(o);
}

static void test_resource_from_discovery_checks_name_type_and_payload(void **state)
{
    (void)state;
    const ir_obj_t *o = bind_obj();
    Envoy__Service__Discovery__V3__Resource res;
    Google__Protobuf__Any any;
    ir_obj_discovery_view(o, &res, &any);
    const ir_obj_t *back = NULL;
    ir_err_t err = {0};

    assert_int_equal(ir_obj_from_discovery(&res, IR_TYPE_URL_RESOURCE, "default/gw", &back, &err),
                     IR_OK);
    assert_true(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(back)));
    ir_obj_release(back);

    /* Any.type_url may be empty (the response's type URL decides) */
    any.type_url = (char *)"";
    assert_int_equal(ir_obj_from_discovery(&res, IR_TYPE_URL_RESOURCE, "default/gw", &back, &err),
                     IR_OK);
    ir_obj_release(back);

    any.type_url = (char *)IR_TYPE_URL_ADDRESS;
    assert_int_equal(ir_obj_from_discovery(&res, IR_TYPE_URL_RESOURCE, NULL, &back, &err),
                     IR_ETYPEURL);
    assert_non_null(strstr(err.msg, "bind/80/default/gw"));
    any.type_url = (char *)IR_TYPE_URL_RESOURCE;

    assert_int_equal(ir_obj_from_discovery(&res, "type.googleapis.com/x.Y", NULL, &back, &err),
                     IR_ETYPEURL);

    res.name = (char *)"bind/81/default/gw";
    assert_int_equal(ir_obj_from_discovery(&res, IR_TYPE_URL_RESOURCE, NULL, &back, &err),
                     IR_ENAME);
    assert_string_equal(err.msg,
                        "resource \"bind/81/default/gw\": content is named \"bind/80/default/gw\"");
    assert_null(back);
    res.name = (char *)ir_obj_name(o);

    uint8_t junk[] = {0x0a, 0x09};
    any.value.data = junk;
    any.value.len = 2;
    assert_int_equal(ir_obj_from_discovery(&res, IR_TYPE_URL_RESOURCE, NULL, &back, &err),
                     IR_EDECODE);
    assert_non_null(strstr(err.msg, "resource \"bind/80/default/gw\": "));

    res.resource = NULL; /* a TTL heartbeat: version only */
    assert_int_equal(ir_obj_from_discovery(&res, IR_TYPE_URL_RESOURCE, NULL, &back, &err),
                     IR_EFIELD);
    assert_int_equal(ir_obj_from_discovery(NULL, IR_TYPE_URL_RESOURCE, NULL, &back, &err),
                     IR_EINVAL);
    ir_obj_release(o);
}

static void test_resource_delta_response_end_to_end(void **state)
{
    (void)state;
    const ir_obj_t *objs[] = {
        bind_obj(),
        ir_listener_obj(ir_listener_new(ir_sample_listener(), "default/gw", NULL)),
        ir_route_obj(ir_route_new(ir_sample_route(), "default/gw", NULL)),
        ir_policy_obj(ir_policy_new(ir_sample_policy_gateway(), "default/gw", NULL)),
    };
    enum { N = sizeof objs / sizeof objs[0] };
    Envoy__Service__Discovery__V3__Resource res[N], *items[N];
    Google__Protobuf__Any anys[N];
    for (size_t i = 0; i < N; i++) {
        assert_non_null(objs[i]);
        ir_obj_discovery_view(objs[i], &res[i], &anys[i]);
        items[i] = &res[i];
    }
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse resp =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
    resp.type_url = (char *)IR_TYPE_URL_RESOURCE;
    resp.nonce = (char *)"1";
    resp.n_resources = N;
    resp.resources = items;
    uint8_t *bytes;
    size_t len;
    assert_int_equal(ir_pb_encode(&resp.base, &bytes, &len), IR_OK);

    ProtobufCMessage *m = NULL;
    assert_int_equal(
        ir_pb_decode(&envoy__service__discovery__v3__delta_discovery_response__descriptor, bytes,
                     len, &m, NULL),
        IR_OK);
    const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *got = (const void *)m;
    assert_int_equal(got->n_resources, N);
    for (size_t i = 0; i < N; i++) {
        const ir_obj_t *o = NULL;
        ir_err_t err = {0};
        assert_int_equal(
            ir_obj_from_discovery(got->resources[i], got->type_url, "default/gw", &o, &err), IR_OK);
        ir_test_check(o);
        assert_true(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(objs[i])));
        assert_string_equal(got->resources[i]->version, ir_obj_version(objs[i]));
        ir_obj_release(o);
        ir_obj_release(objs[i]);
    }
    ir_pb_free(m);
    krt_free(bytes);
}

static void test_resource_address_through_discovery(void **state)
{
    (void)state;
    const ir_address_t *a = ir_address_new(ir_sample_service(), NULL, NULL);
    Envoy__Service__Discovery__V3__Resource res;
    Google__Protobuf__Any any;
    ir_obj_discovery_view(ir_address_obj(a), &res, &any);
    assert_string_equal(res.name, "default/svc.default.svc.cluster.local");
    assert_string_equal(any.type_url, IR_TYPE_URL_ADDRESS);
    const ir_obj_t *back = NULL;
    assert_int_equal(ir_obj_from_discovery(&res, IR_TYPE_URL_ADDRESS, NULL, &back, NULL), IR_OK);
    assert_true(krt_obj_equal(ir_address_krt(a), ir_obj_krt(back)));
    /* decoded under the other type URL it is not a Resource */
    any.type_url = (char *)"";
    const ir_obj_t *wrong = NULL;
    assert_true(ir_obj_from_discovery(&res, IR_TYPE_URL_RESOURCE, NULL, &wrong, NULL) != IR_OK);
    ir_obj_release(back);
    ir_obj_release(ir_address_obj(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resource_view_borrows_the_object),
        cmocka_unit_test(test_resource_from_discovery_checks_name_type_and_payload),
        cmocka_unit_test(test_resource_delta_response_end_to_end),
        cmocka_unit_test(test_resource_address_through_discovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
