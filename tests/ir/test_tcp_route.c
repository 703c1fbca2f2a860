/*
 * TCPRoute (ir/src/tcp_route.c): round trip, accessors, and the tcp_route/ name prefix.
 */
#include "ir_test_util.h"

static void test_tcp_route_round_trips(void **state)
{
    (void)state;
    const ir_tcp_route_t *r = ir_tcp_route_new(ir_sample_tcp_route(), "default/gw", NULL);
    assert_non_null(r);
    ir_test_roundtrip(ir_tcp_route_obj(r));
    assert_string_equal(ir_tcp_route_key(r), "1700000000/default/t.00.tcp");
    assert_string_equal(ir_tcp_route_listener_key(r), "default/gw.tcp");
    assert_string_equal(ir_obj_name(ir_tcp_route_obj(r)), "tcp_route/1700000000/default/t.00.tcp");
    assert_int_equal(ir_obj_kind(ir_tcp_route_obj(r)), IR_KIND_TCP_ROUTE);
    const Agentgateway__Dev__Resource__TCPRoute *m = ir_tcp_route_pb(r);
    assert_string_equal(m->name->kind, "TCPRoute");
    assert_string_equal(m->name->rule_name, "only");
    assert_int_equal(m->backends[0]->backend->port, 5432);
    assert_int_equal(m->service_port, 5432);
    assert_null(ir_route_from_obj(ir_tcp_route_obj(r)));
    ir_obj_release(ir_tcp_route_obj(r));
}

static void test_tcp_route_key_required(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__TCPRoute m = AGENTGATEWAY__DEV__RESOURCE__TCPROUTE__INIT;
    ir_err_t err = {0};
    assert_null(ir_tcp_route_from_pb(&m, NULL, &err));
    assert_string_equal(err.msg, "Resource.tcp_route.key: empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_route_round_trips),
        cmocka_unit_test(test_tcp_route_key_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
