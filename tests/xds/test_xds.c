/*
 * What the xds sources share (xds/xds.c): roles and gateways, type URLs, the dependency rank of
 * kinds and names, the node's role in its metadata Struct, and the error table.
 */
#include "xds_test_util.h"

#include "google/protobuf/struct.pb-c.h"

static void test_role_converts_to_a_gateway_and_back(void **state)
{
    (void)state;
    char gw[64], role[64];
    assert_int_equal(xds_role_to_gateway("default~gw", gw, sizeof gw), XDS_OK);
    assert_string_equal(gw, "default/gw");
    assert_int_equal(xds_gateway_to_role(gw, role, sizeof role), XDS_OK);
    assert_string_equal(role, "default~gw");
    const char *bad[] = {"", "~", "default~", "~gw", "default", "a~b~c", "a/b~c", "a~b/c", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(xds_role_to_gateway(bad[i], gw, sizeof gw), XDS_EROLE);
    assert_int_equal(xds_role_to_gateway(NULL, gw, sizeof gw), XDS_EROLE);
    assert_int_equal(xds_role_to_gateway("default~gw", gw, 5), XDS_ELIMIT);
    assert_int_equal(xds_role_to_gateway("default~gw", gw, 11), XDS_OK);
}

static void test_type_urls_and_kinds(void **state)
{
    (void)state;
    assert_string_equal(xds_type_url(XDS_TYPE_RESOURCE),
                        "type.googleapis.com/agentgateway.dev.resource.Resource");
    assert_string_equal(xds_type_url(XDS_TYPE_ADDRESS),
                        "type.googleapis.com/istio.workload.Address");
    assert_int_equal(xds_type_from_url(IR_TYPE_URL_ADDRESS), XDS_TYPE_ADDRESS);
    assert_int_equal(xds_type_from_url(IR_TYPE_URL_RESOURCE), XDS_TYPE_RESOURCE);
    assert_int_equal(xds_type_from_url("type.googleapis.com/envoy.config.cluster.v3.Cluster"), -1);
    assert_int_equal(xds_type_from_url(NULL), -1);
    assert_int_equal(xds_type_of_kind(IR_KIND_ADDRESS), XDS_TYPE_ADDRESS);
    assert_int_equal(xds_type_of_kind(IR_KIND_ROUTE), XDS_TYPE_RESOURCE);
}

static void test_ranks_put_dependencies_first(void **state)
{
    (void)state;
    /* Addresses and Backends before Routes; Binds before Listeners before Routes/TCPRoutes */
    assert_true(xds_kind_rank(IR_KIND_ADDRESS) < xds_kind_rank(IR_KIND_ROUTE));
    assert_true(xds_kind_rank(IR_KIND_BACKEND) < xds_kind_rank(IR_KIND_ROUTE));
    assert_true(xds_kind_rank(IR_KIND_POLICY) < xds_kind_rank(IR_KIND_BIND));
    assert_true(xds_kind_rank(IR_KIND_BIND) < xds_kind_rank(IR_KIND_LISTENER));
    assert_true(xds_kind_rank(IR_KIND_LISTENER) < xds_kind_rank(IR_KIND_ROUTE));
    assert_true(xds_kind_rank(IR_KIND_LISTENER) < xds_kind_rank(IR_KIND_TCP_ROUTE));
    assert_int_equal(xds_name_rank(XDS_TYPE_RESOURCE, "route/default/r.00.http"),
                     xds_kind_rank(IR_KIND_ROUTE));
    assert_int_equal(xds_name_rank(XDS_TYPE_RESOURCE, "tcp_route/x"),
                     xds_kind_rank(IR_KIND_TCP_ROUTE));
    assert_int_equal(xds_name_rank(XDS_TYPE_RESOURCE, "nonsense"), 7);
    assert_int_equal(xds_name_rank(XDS_TYPE_ADDRESS, "default/svc"), 0);
}

static void test_node_role_is_read_from_string_metadata(void **state)
{
    (void)state;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    assert_null(xds_node_role(&node));
    assert_null(xds_node_role(NULL));
    Google__Protobuf__Struct md = GOOGLE__PROTOBUF__STRUCT__INIT;
    Google__Protobuf__Struct__FieldsEntry e1 = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT,
                                          e2 = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    Google__Protobuf__Value v1 = GOOGLE__PROTOBUF__VALUE__INIT, v2 = GOOGLE__PROTOBUF__VALUE__INIT;
    e1.key = "NAMESPACE";
    v1.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v1.string_value = "default";
    e1.value = &v1;
    e2.key = "role";
    v2.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v2.string_value = "default~gw";
    e2.value = &v2;
    Google__Protobuf__Struct__FieldsEntry *fields[] = {&e1, &e2};
    md.fields = fields;
    md.n_fields = 2;
    node.metadata = &md;
    assert_string_equal(xds_node_role(&node), "default~gw");
    v2.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v2.number_value = 3;
    assert_null(xds_node_role(&node));
}

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(xds_err_name(XDS_EROLE), "XDS_EROLE");
    assert_string_equal(xds_strerror(XDS_OK), "success");
    assert_string_equal(xds_strerror(-999), "unknown error");
    assert_string_equal(xds_err_name(-999), "XDS_UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_converts_to_a_gateway_and_back),
        cmocka_unit_test(test_type_urls_and_kinds),
        cmocka_unit_test(test_ranks_put_dependencies_first),
        cmocka_unit_test(test_node_role_is_read_from_string_metadata),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
