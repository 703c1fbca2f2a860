/*
 * Bind (ir/src/bind.c): construction (taking and borrowing), the round trip through protobuf and
 * bytes, accessors, and the errors a bad Bind or Gateway name gets.
 */
#include "ir_test_util.h"

static void test_bind_round_trips_and_reads_back(void **state)
{
    (void)state;
    ir_err_t err = {0};
    const ir_bind_t *b = ir_bind_new(ir_sample_bind(443, "443/default/gw"), "default/gw", &err);
    assert_non_null(b);
    assert_string_equal(ir_bind_key(b), "443/default/gw");
    assert_int_equal(ir_bind_port(b), 443);
    assert_int_equal(ir_bind_protocol(b), AGENTGATEWAY__DEV__RESOURCE__BIND__PROTOCOL__TLS);
    assert_int_equal(ir_bind_pb(b)->mode, AGENTGATEWAY__DEV__RESOURCE__BIND__MODE__INTERNAL);
    assert_string_equal(ir_obj_name(ir_bind_obj(b)), "bind/443/default/gw");
    assert_string_equal(ir_obj_key(ir_bind_obj(b)), "default/gw/bind/443/default/gw");
    ir_test_roundtrip(ir_bind_obj(b));

    /* to_pb is a deep copy: its encoding is the object's bytes */
    Agentgateway__Dev__Resource__Bind *copy = ir_bind_to_pb(b);
    assert_non_null(copy);
    assert_ptr_not_equal(copy, ir_bind_pb(b));
    const ir_bind_t *b2 = ir_bind_new(copy, "default/gw", &err);
    assert_true(krt_obj_equal(ir_bind_krt(b), ir_bind_krt(b2)));
    ir_obj_release(ir_bind_obj(b2));

    /* views */
    assert_ptr_equal(ir_bind_from_obj(ir_bind_obj(b)), b);
    assert_ptr_equal(ir_bind_from_krt(ir_bind_krt(b)), b);
    assert_null(ir_listener_from_obj(ir_bind_obj(b)));
    assert_null(ir_bind_from_obj(NULL));
    ir_obj_release(ir_bind_obj(b));
}

static void test_bind_from_pb_borrows_a_stack_message(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Bind m = AGENTGATEWAY__DEV__RESOURCE__BIND__INIT;
    m.key = (char *)"80/default/gw"; /* a literal: borrowed, never freed */
    m.port = 80;
    const ir_bind_t *b = ir_bind_from_pb(&m, "default/gw", NULL);
    assert_non_null(b);
    assert_ptr_not_equal(ir_bind_key(b), m.key);
    assert_string_equal(ir_bind_key(b), "80/default/gw");
    assert_int_equal(ir_bind_protocol(b), AGENTGATEWAY__DEV__RESOURCE__BIND__PROTOCOL__HTTP);
    /* the default protocol is not on the wire: Resource{bind{key, port}} */
    size_t n;
    const uint8_t *w = ir_obj_wire(ir_bind_obj(b), &n);
    static const uint8_t want[] = {0x0a, 0x11, 0x0a, 0x0d, '8', '0', '/', 'd',  'e', 'f',
                                   'a',  'u',  'l',  't',  '/', 'g', 'w', 0x10, 0x50};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(w, want, n);
    ir_obj_release(ir_bind_obj(b));
}

static void test_bind_errors_name_the_problem_and_new_still_takes(void **state)
{
    (void)state;
    ir_err_t err = {0};
    /* the message is taken even on error: the leak checkers see it freed */
    assert_null(ir_bind_new(ir_sample_bind(80, ""), NULL, &err));
    assert_int_equal(err.code, IR_EFIELD);
    assert_string_equal(err.msg, "Resource.bind.key: empty");
    assert_null(ir_bind_new(ir_sample_bind(80, "80/default/gw"), "default", &err));
    assert_int_equal(err.code, IR_EINVAL);
    assert_null(ir_bind_from_pb(NULL, NULL, &err));
    assert_int_equal(err.code, IR_EINVAL);
    assert_null(ir_bind_new(NULL, NULL, NULL));
}

static void test_bind_hash_tracks_port(void **state)
{
    (void)state;
    const ir_bind_t *a = ir_bind_new(ir_sample_bind(80, "80/default/gw"), "default/gw", NULL);
    const ir_bind_t *a2 = ir_bind_new(ir_sample_bind(80, "80/default/gw"), "default/gw", NULL);
    Agentgateway__Dev__Resource__Bind *m = ir_sample_bind(80, "80/default/gw");
    m->port = 8080; /* same key, other content */
    const ir_bind_t *c = ir_bind_new(m, "default/gw", NULL);
    assert_true(krt_obj_equal(ir_bind_krt(a), ir_bind_krt(a2)));
    assert_false(krt_obj_equal(ir_bind_krt(a), ir_bind_krt(c)));
    assert_string_equal(ir_obj_key(ir_bind_obj(a)), ir_obj_key(ir_bind_obj(c)));
    assert_string_not_equal(ir_obj_version(ir_bind_obj(a)), ir_obj_version(ir_bind_obj(c)));
    ir_obj_release(ir_bind_obj(a));
    ir_obj_release(ir_bind_obj(a2));
    ir_obj_release(ir_bind_obj(c));
}

static void test_bind_dump(void **state)
{
    (void)state;
    const ir_bind_t *b = ir_bind_new(ir_sample_bind(443, "443/default/gw"), "default/gw", NULL);
    char *s = ir_test_dump_str(ir_bind_obj(b));
    char want[512];
    snprintf(
        want, sizeof want,
        "{\"gateway\":\"default/gw\",\"key\":\"default/gw/bind/443/default/gw\",\"kind\":\"bind\","
        "\"name\":\"bind/443/default/gw\",\"resource\":{\"bind\":{\"key\":\"443/default/gw\","
        "\"mode\":\"INTERNAL\",\"port\":443,\"protocol\":\"TLS\",\"tunnelProtocol\":"
        "\"HBONE_GATEWAY\"}},\"version\":\"%s\"}",
        ir_obj_version(ir_bind_obj(b)));
    assert_string_equal(s, want);
    free(s);
    ir_obj_release(ir_bind_obj(b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_round_trips_and_reads_back),
        cmocka_unit_test(test_bind_from_pb_borrows_a_stack_message),
        cmocka_unit_test(test_bind_errors_name_the_problem_and_new_still_takes),
        cmocka_unit_test(test_bind_hash_tracks_port),
        cmocka_unit_test(test_bind_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
