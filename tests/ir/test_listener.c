/*
 * Listener (ir/src/listener.c): TLS settings survive the round trip with explicit presence (a
 * root that is set but empty stays set), listeners without TLS read back NULL, and the dump hides
 * the private key.
 */
#include "ir_test_util.h"

static void test_listener_round_trips_with_tls(void **state)
{
    (void)state;
    const ir_listener_t *l = ir_listener_new(ir_sample_listener(), "default/gw", NULL);
    assert_non_null(l);
    ir_test_roundtrip(ir_listener_obj(l));
    assert_string_equal(ir_listener_key(l), "default/gw.https");
    assert_string_equal(ir_listener_bind_key(l), "443/default/gw");
    assert_string_equal(ir_listener_hostname(l), "*.example.com");
    assert_int_equal(ir_listener_protocol(l), AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS);
    const Agentgateway__Dev__Resource__TLSConfig *t = ir_listener_tls(l);
    assert_non_null(t);
    assert_int_equal(t->cert.len, 14);
    assert_memory_equal(t->cert.data, "-----CERT-----", 14);
    assert_int_equal(t->_root_case, AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG___ROOT_ROOT);
    assert_int_equal(t->root.len, 0);
    assert_int_equal(t->n_cipher_suites, 2);
    assert_int_equal(t->_max_version_case,
                     AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG___MAX_VERSION_MAX_VERSION);
    assert_int_equal(t->max_version, AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__TLSVERSION__TLS_V1_3);
    assert_int_equal(t->certificate_source,
                     AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__CERTIFICATE_SOURCE__DYNAMIC_CA);
    const Agentgateway__Dev__Resource__ListenerName *n = ir_listener_pb(l)->name;
    assert_string_equal(n->listener_name, "https");
    assert_string_equal(n->listener_set->name, "extra");
    ir_obj_release(ir_listener_obj(l));
}

static void test_listener_without_tls_and_unset_root(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Listener m = AGENTGATEWAY__DEV__RESOURCE__LISTENER__INIT;
    m.key = (char *)"default/gw.http";
    m.bind_key = (char *)"80/default/gw";
    m.protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTP;
    const ir_listener_t *plain = ir_listener_from_pb(&m, "default/gw", NULL);
    assert_non_null(plain);
    assert_null(ir_listener_tls(plain));
    assert_string_equal(ir_listener_hostname(plain), "");

    /* a TLS block with no root: presence is "unset", unlike the sample's empty root */
    Agentgateway__Dev__Resource__TLSConfig t = AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__INIT;
    t.cert.data = (uint8_t *)"invalid"; /* agentgateway's sentinel for a bad certificate */
    t.cert.len = 7;
    m.tls = &t;
    const ir_listener_t *bad = ir_listener_from_pb(&m, "default/gw", NULL);
    assert_non_null(bad);
    assert_int_equal(ir_listener_tls(bad)->_root_case,
                     AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG___ROOT__NOT_SET);
    assert_false(krt_obj_equal(ir_listener_krt(plain), ir_listener_krt(bad)));
    ir_obj_release(ir_listener_obj(plain));
    ir_obj_release(ir_listener_obj(bad));
}

static void test_listener_root_presence_changes_the_bytes(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Listener *a = ir_sample_listener();
    Agentgateway__Dev__Resource__Listener *b = ir_sample_listener();
    b->tls->_root_case = AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG___ROOT__NOT_SET;
    krt_free(b->tls->root.data);
    b->tls->root.data = NULL;
    b->tls->root.len = 0;
    const ir_listener_t *la = ir_listener_new(a, NULL, NULL);
    const ir_listener_t *lb = ir_listener_new(b, NULL, NULL);
    assert_false(krt_obj_equal(ir_listener_krt(la), ir_listener_krt(lb)));
    ir_obj_release(ir_listener_obj(la));
    ir_obj_release(ir_listener_obj(lb));
}

static void test_listener_dump_redacts_the_key(void **state)
{
    (void)state;
    const ir_listener_t *l = ir_listener_new(ir_sample_listener(), "default/gw", NULL);
    char *s = ir_test_dump_str(ir_listener_obj(l));
    assert_non_null(strstr(s, "\"listener\":{\"bindKey\":\"443/default/gw\""));
    assert_non_null(strstr(s, "\"privateKey\":\"<redacted 13 bytes>\""));
    assert_non_null(strstr(s, "\"cert\":\"LS0tLS1DRVJULS0tLS0=\""));
    free(s);
    ir_obj_release(ir_listener_obj(l));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listener_round_trips_with_tls),
        cmocka_unit_test(test_listener_without_tls_and_unset_root),
        cmocka_unit_test(test_listener_root_presence_changes_the_bytes),
        cmocka_unit_test(test_listener_dump_redacts_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
