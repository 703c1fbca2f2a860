/*
 * Address (ir/src/address.c): workloads and services round-trip; names are the uid and
 * "<namespace>/<hostname>"; addresses are unscoped; map order does not change identity; invalid
 * addresses are refused with the field named.
 */
#include "ir_test_util.h"

static const uint8_t ip5[4] = {10, 0, 0, 5};

static void test_address_workload_round_trips(void **state)
{
    (void)state;
    const ir_address_t *a =
        ir_address_new(ir_sample_workload("Kubernetes//Pod/default/p1", ip5), NULL, NULL);
    assert_non_null(a);
    ir_test_roundtrip(ir_address_obj(a));
    assert_string_equal(ir_address_name(a), "Kubernetes//Pod/default/p1");
    assert_string_equal(ir_obj_inner_key(ir_address_obj(a)), "Kubernetes//Pod/default/p1");
    assert_string_equal(ir_obj_key(ir_address_obj(a)), "//Kubernetes//Pod/default/p1");
    assert_null(ir_obj_gateway(ir_address_obj(a)));
    assert_string_equal(ir_obj_type_url(ir_address_obj(a)), IR_TYPE_URL_ADDRESS);
    const Istio__Workload__Workload *w = ir_address_workload(a);
    assert_non_null(w);
    assert_null(ir_address_service(a));
    assert_int_equal(w->addresses[0].len, 4);
    assert_memory_equal(w->addresses[0].data, ip5, 4);
    assert_int_equal(w->addresses[1].len, 16);
    /* the services map is sorted in the object */
    assert_string_equal(w->services[0]->key, "apps/api.apps.svc.cluster.local");
    assert_string_equal(w->services[1]->key, "default/svc.default.svc.cluster.local");
    assert_int_equal(w->capacity->value, 5);
    assert_int_equal(w->waypoint->address->length, 32);
    ir_obj_release(ir_address_obj(a));
}

static void test_address_service_round_trips(void **state)
{
    (void)state;
    const ir_address_t *a = ir_address_new(ir_sample_service(), NULL, NULL);
    assert_non_null(a);
    ir_test_roundtrip(ir_address_obj(a));
    assert_string_equal(ir_address_name(a), "default/svc.default.svc.cluster.local");
    const Istio__Workload__Service *s = ir_address_service(a);
    assert_non_null(s);
    assert_null(ir_address_workload(a));
    assert_int_equal(s->n_ports, 2);
    assert_int_equal(s->ports[1]->target_port, 8443);
    assert_int_equal(s->load_balancing->routing_preference[0],
                     ISTIO__WORKLOAD__LOAD_BALANCING__SCOPE__NETWORK);
    assert_int_equal(s->visibility, ISTIO__WORKLOAD__SERVICE__VISIBILITY__NAMESPACE);
    ir_obj_release(ir_address_obj(a));
}

static void test_address_identity_ignores_map_order(void **state)
{
    (void)state;
    Istio__Workload__Address *m = ir_sample_workload("uid-1", ip5);
    Istio__Workload__Workload__ServicesEntry *t = m->workload->services[0];
    m->workload->services[0] = m->workload->services[1];
    m->workload->services[1] = t;
    const ir_address_t *a = ir_address_new(ir_sample_workload("uid-1", ip5), NULL, NULL);
    const ir_address_t *b = ir_address_new(m, NULL, NULL);
    assert_true(krt_obj_equal(ir_address_krt(a), ir_address_krt(b)));
    assert_string_equal(ir_obj_version(ir_address_obj(a)), ir_obj_version(ir_address_obj(b)));
    /* a changed pod IP is a different object under the same key */
    static const uint8_t ip6[4] = {10, 0, 0, 6};
    const ir_address_t *c = ir_address_new(ir_sample_workload("uid-1", ip6), NULL, NULL);
    assert_false(krt_obj_equal(ir_address_krt(a), ir_address_krt(c)));
    assert_string_equal(ir_obj_key(ir_address_obj(a)), ir_obj_key(ir_address_obj(c)));
    ir_obj_release(ir_address_obj(a));
    ir_obj_release(ir_address_obj(b));
    ir_obj_release(ir_address_obj(c));
}

static void test_address_invalid_ones_are_refused(void **state)
{
    (void)state;
    ir_err_t err = {0};
    Istio__Workload__Address empty = ISTIO__WORKLOAD__ADDRESS__INIT;
    assert_null(ir_address_from_pb(&empty, NULL, &err));
    assert_int_equal(err.code, IR_EKIND);

    Istio__Workload__Address *w = ir_sample_workload("", ip5);
    assert_null(ir_address_new(w, NULL, &err));
    assert_string_equal(err.msg, "Address.workload.uid: empty");

    Istio__Workload__Address *s = ir_sample_service();
    krt_free(s->service->hostname);
    s->service->hostname = (char *)protobuf_c_empty_string;
    assert_null(ir_address_new(s, NULL, &err));
    assert_string_equal(err.msg, "Address.service.hostname: empty");

    s = ir_sample_service();
    krt_free(s->service->namespace_);
    s->service->namespace_ = (char *)protobuf_c_empty_string;
    assert_null(ir_address_new(s, NULL, &err));
    assert_string_equal(err.msg, "Address.service.namespace: empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_workload_round_trips),
        cmocka_unit_test(test_address_service_round_trips),
        cmocka_unit_test(test_address_identity_ignores_map_order),
        cmocka_unit_test(test_address_invalid_ones_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
