/*
 * Route (ir/src/route.c): the full sample (every match kind, backend kind and filter the
 * translator emits) survives C -> protobuf -> bytes -> protobuf -> C; order of repeated fields is
 * content; accessors.
 */
#include "ir_test_util.h"

static void test_route_full_sample_round_trips(void **state)
{
    (void)state;
    ir_err_t err = {0};
    const ir_route_t *r = ir_route_new(ir_sample_route(), "default/gw", &err);
    assert_non_null(r);
    ir_test_roundtrip(ir_route_obj(r));
    assert_string_equal(ir_route_key(r), "default/r.00.http");
    assert_string_equal(ir_route_listener_key(r), "default/gw.http");
    assert_string_equal(ir_route_group_key(r), "default/parent/default/*");
    assert_string_equal(ir_obj_name(ir_route_obj(r)), "route/default/r.00.http");

    const Agentgateway__Dev__Resource__Route *m = ir_route_pb(r);
    assert_int_equal(m->n_matches, 3);
    assert_int_equal(m->matches[0]->path->kind_case,
                     AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_PATH_PREFIX);
    assert_string_equal(m->matches[0]->headers[1]->regex, "v[0-9]+");
    assert_string_equal(m->matches[0]->method->exact, "GET");
    assert_int_equal(m->matches[2]->path->kind_case,
                     AGENTGATEWAY__DEV__RESOURCE__PATH_MATCH__KIND_REGEX);
    assert_int_equal(m->n_backends, 3);
    assert_int_equal(m->backends[0]->weight, 3);
    assert_int_equal(m->backends[0]->backend->port, 8080);
    assert_string_equal(m->backends[1]->backend->backend, "default/static");
    assert_int_equal(m->backends[2]->backend->kind_case,
                     AGENTGATEWAY__DEV__RESOURCE__BACKEND_REFERENCE__KIND_INLINE);
    assert_int_equal(m->n_traffic_policies, 12);
    assert_int_equal(m->traffic_policies[1]->retry->n_retry_status_codes, 2);
    assert_int_equal(m->traffic_policies[1]->retry->retry_status_codes[1], 504);
    assert_int_equal(m->traffic_policies[9]->direct_response->status, 418);
    assert_true(m->traffic_policies[10]->cors->allow_credentials);
    assert_int_equal(m->traffic_policies[11]->phase,
                     AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__POLICY_PHASE__GATEWAY);
    assert_string_equal(m->service_key->hostname, "svc.default.svc.cluster.local");
    assert_int_equal(m->service_port, 8080);
    ir_obj_release(ir_route_obj(r));
}

static void test_route_order_of_repeated_fields_is_content(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Route *a = ir_sample_route();
    Agentgateway__Dev__Resource__Route *b = ir_sample_route();
    Agentgateway__Dev__Resource__RouteBackend *t = b->backends[0];
    b->backends[0] = b->backends[1];
    b->backends[1] = t;
    const ir_route_t *ra = ir_route_new(a, "default/gw", NULL);
    const ir_route_t *rb = ir_route_new(b, "default/gw", NULL);
    assert_false(krt_obj_equal(ir_route_krt(ra), ir_route_krt(rb)));
    assert_string_equal(ir_obj_key(ir_route_obj(ra)), ir_obj_key(ir_route_obj(rb)));
    ir_obj_release(ir_route_obj(ra));
    ir_obj_release(ir_route_obj(rb));
}

static void test_route_without_group_and_unresolved_backend(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Route *m =
        ir_sample_route_min("default/r.01.http", "default/gw.http", NULL);
    /* an unresolvable backendRef still yields a RouteBackend, with no target */
    Agentgateway__Dev__Resource__RouteBackend *rb = m->backends[0];
    ir_pb_free(&rb->backend->base);
    rb->backend = NULL;
    const ir_route_t *r = ir_route_new(m, "default/gw", NULL);
    assert_non_null(r);
    assert_null(ir_route_group_key(r));
    assert_int_equal(ir_route_pb(r)->n_backends, 1);
    assert_null(ir_route_pb(r)->backends[0]->backend);
    assert_int_equal(ir_route_pb(r)->n_hostnames, 0);
    ir_test_roundtrip(ir_route_obj(r));
    char *s = ir_test_dump_str(ir_route_obj(r));
    assert_non_null(strstr(s, "\"matches\":[{\"path\":{\"pathPrefix\":\"/\"}}]"));
    assert_non_null(strstr(s, "\"backends\":[{\"weight\":1}]"));
    free(s);
    ir_obj_release(ir_route_obj(r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_full_sample_round_trips),
        cmocka_unit_test(test_route_order_of_repeated_fields_is_content),
        cmocka_unit_test(test_route_without_group_and_unresolved_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
