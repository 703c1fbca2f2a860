/*
 * The IR object (ir/src/obj.c): classification of wrappers into kinds, the checks every input
 * meets, canonical bytes whatever the input's field order, hash and equality semantics, the krt
 * type contract, the dump's shape, and out-of-memory behaviour.
 */
#include "krt/json.h"
#include "ir_test_util.h"

/* Encodes a Resource wrapping |inner| as |kind_case|. Takes inner. Returns krt_malloc'd bytes. */
static uint8_t *wrap(int kind_case, ProtobufCMessage *inner, size_t *len)
{
    Agentgateway__Dev__Resource__Resource r = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__INIT;
    r.kind_case = (Agentgateway__Dev__Resource__Resource__KindCase)kind_case;
    r.bind = (void *)inner;
    uint8_t *buf;
    assert_int_equal(ir_pb_encode(&r.base, &buf, len), IR_OK);
    ir_pb_free(inner);
    return buf;
}

static const ir_obj_t *decode_ok(const uint8_t *b, size_t n, const char *gw)
{
    const ir_obj_t *o = NULL;
    ir_err_t err = {0};
    int rc = ir_obj_decode(IR_TYPE_URL_RESOURCE, b, n, gw, &o, &err);
    if (rc != IR_OK)
        print_error("decode: %s\n", err.msg);
    assert_int_equal(rc, IR_OK);
    ir_test_check(o);
    return o;
}

static void test_obj_kind_tables(void **state)
{
    (void)state;
    assert_string_equal(ir_kind_prefix(IR_KIND_TCP_ROUTE), "tcp_route");
    assert_string_equal(ir_kind_prefix(IR_KIND_ADDRESS), "");
    assert_null(ir_kind_prefix((ir_kind_t)42));
    assert_string_equal(ir_kind_name(IR_KIND_ADDRESS), "address");
    assert_string_equal(ir_kind_name((ir_kind_t)42), "unknown");
    assert_string_equal(ir_kind_type_url(IR_KIND_ADDRESS), IR_TYPE_URL_ADDRESS);
    assert_string_equal(ir_kind_type_url(IR_KIND_POLICY), IR_TYPE_URL_RESOURCE);
    assert_ptr_equal(ir_kind_type(IR_KIND_BIND), &ir_bind_type);
    assert_null(ir_kind_type((ir_kind_t)0));
    for (int k = IR_KIND_BIND; k <= IR_KIND_ADDRESS; k++)
        assert_int_equal(krt_type_check(ir_kind_type((ir_kind_t)k)), KRT_OK);
    assert_string_equal(ir_strerror(IR_EDEPTH), "message nested too deeply");
    assert_string_equal(ir_strerror(12345), "unknown error");
}

static void test_obj_decode_classifies_each_resource_kind(void **state)
{
    (void)state;
    static const struct {
        int kind_case;
        ir_kind_t kind;
        const char *name;
    } cases[] = {
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BIND, IR_KIND_BIND, "bind/443/default/gw"},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_LISTENER, IR_KIND_LISTENER,
         "listener/default/gw.https"},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_ROUTE, IR_KIND_ROUTE,
         "route/default/r.00.http"},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_TCP_ROUTE, IR_KIND_TCP_ROUTE,
         "tcp_route/1700000000/default/t.00.tcp"},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BACKEND, IR_KIND_BACKEND,
         "backend/default/static"},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_POLICY, IR_KIND_POLICY,
         "policy/traffic/default/p:rl-local:default/gw/http"},
    };
    ProtobufCMessage *inner[] = {
        &ir_sample_bind(443, "443/default/gw")->base,
        &ir_sample_listener()->base,
        &ir_sample_route()->base,
        &ir_sample_tcp_route()->base,
        &ir_sample_backend_static()->base,
        &ir_sample_policy_gateway()->base,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *b = wrap(cases[i].kind_case, inner[i], &n);
        const ir_obj_t *o = decode_ok(b, n, "default/gw");
        assert_int_equal(ir_obj_kind(o), cases[i].kind);
        assert_string_equal(ir_obj_name(o), cases[i].name);
        assert_string_equal(ir_obj_inner_key(o), strchr(cases[i].name, '/') + 1);
        char want_key[256];
        snprintf(want_key, sizeof want_key, "default/gw/%s", cases[i].name);
        assert_string_equal(ir_obj_key(o), want_key);
        assert_string_equal(krt_obj_key(ir_obj_krt(o)), want_key);
        assert_string_equal(ir_obj_gateway(o), "default/gw");
        assert_ptr_equal(ir_obj_krt(o)->type, ir_kind_type(cases[i].kind));
        ir_test_roundtrip(o);
        ir_obj_release(o);
        krt_free(b);
    }
}

static void test_obj_kinds_not_modelled_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const uint8_t ip[4] = {1, 2, 3, 4};
    Istio__Workload__Address *wa = ir_sample_workload("uid-1", ip);
    Istio__Workload__Address *sa = ir_sample_service();
    Agentgateway__Dev__Resource__RouteGroup *rg =
        NEW(Agentgateway__Dev__Resource__RouteGroup,
            agentgateway__dev__resource__route_group__descriptor);
    rg->key = S("g");
    Agentgateway__Dev__Resource__ModelRoute *mr =
        NEW(Agentgateway__Dev__Resource__ModelRoute,
            agentgateway__dev__resource__model_route__descriptor);
    mr->key = S("m");
    struct {
        int kind_case;
        ProtobufCMessage *m;
    } cases[] = {
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_WORKLOAD, &wa->workload->base},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_SERVICE, &sa->service->base},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_ROUTE_GROUP, &rg->base},
        {AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_MODEL_ROUTE, &mr->base},
    };
    wa->type_case = ISTIO__WORKLOAD__ADDRESS__TYPE__NOT_SET; /* detach: the Resource takes them */
    sa->type_case = ISTIO__WORKLOAD__ADDRESS__TYPE__NOT_SET;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *b = wrap(cases[i].kind_case, cases[i].m, &n);
        const ir_obj_t *o = (const void *)1;
        ir_err_t err = {0};
        assert_int_equal(ir_obj_decode(IR_TYPE_URL_RESOURCE, b, n, NULL, &o, &err), IR_EKIND);
        assert_null(o);
        assert_int_equal(err.code, IR_EKIND);
        assert_non_null(strstr(err.msg, "Resource"));
        krt_free(b);
    }
    ir_pb_free(&wa->base);
    ir_pb_free(&sa->base);
    /* no kind at all: zero bytes are a valid, empty Resource */
    const ir_obj_t *o = NULL;
    ir_err_t err = {0};
    assert_int_equal(ir_obj_decode(IR_TYPE_URL_RESOURCE, NULL, 0, NULL, &o, &err), IR_EKIND);
    assert_non_null(strstr(err.msg, "no kind"));
}

static void test_obj_empty_key_is_refused_naming_the_field(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b =
        wrap(AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BIND, &ir_sample_bind(80, "")->base, &n);
    const ir_obj_t *o = NULL;
    ir_err_t err = {0};
    assert_int_equal(ir_obj_decode(IR_TYPE_URL_RESOURCE, b, n, NULL, &o, &err), IR_EFIELD);
    assert_string_equal(err.msg, "Resource.bind.key: empty");
    krt_free(b);
}

static void test_obj_bad_type_url_gateway_and_bytes_are_refused(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = wrap(AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_BIND,
                      &ir_sample_bind(80, "80/default/gw")->base, &n);
    const ir_obj_t *o = NULL;
    ir_err_t err = {0};
    assert_int_equal(
        ir_obj_decode("type.googleapis.com/envoy.config.cluster.v3.Cluster", b, n, NULL, &o, &err),
        IR_ETYPEURL);
    assert_non_null(strstr(err.msg, "Cluster"));
    assert_int_equal(ir_obj_decode(NULL, b, n, NULL, &o, &err), IR_ETYPEURL);
    assert_int_equal(ir_obj_decode(IR_TYPE_URL_RESOURCE, b, n, "nogateway", &o, &err), IR_EINVAL);
    assert_non_null(strstr(err.msg, "nogateway"));
    /* truncated: the length of the bind sub-message runs past the end */
    assert_int_equal(ir_obj_decode(IR_TYPE_URL_RESOURCE, b, n - 1, NULL, &o, &err), IR_EDECODE);
    assert_null(o);
    /* the wrapper descriptor must match the type URL */
    Agentgateway__Dev__Resource__Bind *bind = ir_sample_bind(80, "80/default/gw");
    assert_int_equal(ir_obj_from_message(IR_TYPE_URL_RESOURCE, &bind->base, NULL, &o, &err),
                     IR_EINVAL);
    ir_pb_free(&bind->base);
    krt_free(b);
}

/* Field 2 (port) before field 1 (key), then an unknown field 99: different bytes, same content. */
static void test_obj_bytes_are_canonical_whatever_the_input_order(void **state)
{
    (void)state;
    /* Bind{port: 80, key: "k"} with fields reversed */
    static const uint8_t bind_rev[] = {0x10, 0x50, 0x0a, 0x01, 'k'};
    uint8_t res_rev[2 + sizeof bind_rev] = {0x0a, sizeof bind_rev};
    memcpy(res_rev + 2, bind_rev, sizeof bind_rev);
    static const uint8_t bind_fwd[] = {0x0a, 0x01, 'k', 0x10, 0x50};
    uint8_t res_fwd[2 + sizeof bind_fwd] = {0x0a, sizeof bind_fwd};
    memcpy(res_fwd + 2, bind_fwd, sizeof bind_fwd);

    const ir_obj_t *a = decode_ok(res_rev, sizeof res_rev, NULL);
    const ir_obj_t *b = decode_ok(res_fwd, sizeof res_fwd, NULL);
    size_t la, lb;
    const uint8_t *wa = ir_obj_wire(a, &la);
    const uint8_t *wb = ir_obj_wire(b, &lb);
    assert_int_equal(la, sizeof res_fwd);
    assert_memory_equal(wa, res_fwd, la);
    assert_memory_equal(wb, res_fwd, lb);
    assert_true(krt_obj_equal(ir_obj_krt(a), ir_obj_krt(b)));
    assert_string_equal(ir_obj_version(a), ir_obj_version(b));
    ir_obj_release(a);
    ir_obj_release(b);
}

/* A message made in memory with a map out of key order is decoded and encoded again (the
 * canonical path); one already in order keeps its own encoding. Both give the same object. */
static void test_obj_from_message_sorts_maps_whatever_the_message_order(void **state)
{
    (void)state;
    static const uint8_t ip[4] = {10, 0, 0, 1};
    Istio__Workload__Address *a = ir_sample_workload("uid", ip); /* services out of order */
    Istio__Workload__Address *b = ir_sample_workload("uid", ip);
    Istio__Workload__Workload *w = b->workload;
    Istio__Workload__Workload__ServicesEntry *t = w->services[0];
    w->services[0] = w->services[1];
    w->services[1] = t;
    const ir_obj_t *oa = NULL, *ob = NULL;
    ir_err_t err = {0};
    assert_int_equal(ir_obj_from_message(IR_TYPE_URL_ADDRESS, &a->base, NULL, &oa, &err), IR_OK);
    assert_int_equal(ir_obj_from_message(IR_TYPE_URL_ADDRESS, &b->base, NULL, &ob, &err), IR_OK);
    size_t la, lb;
    const uint8_t *wa = ir_obj_wire(oa, &la);
    const uint8_t *wb = ir_obj_wire(ob, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(wa, wb, la);
    assert_true(krt_obj_equal(ir_obj_krt(oa), ir_obj_krt(ob)));
    uint8_t *eb;
    size_t nb;
    assert_int_equal(ir_pb_encode(&b->base, &eb, &nb), IR_OK);
    assert_int_equal(nb, lb);
    assert_memory_equal(eb, wb, nb);
    krt_free(eb);
    ir_test_roundtrip(oa);
    ir_obj_release(oa);
    ir_obj_release(ob);
    ir_pb_free(&a->base);
    ir_pb_free(&b->base);
}

/* A oneof case set with no message (possible only in memory) is judged like the empty message
 * decoding would give: an empty key. */
static void test_obj_from_message_rejects_a_oneof_without_its_message(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Resource r = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__INIT;
    r.kind_case = AGENTGATEWAY__DEV__RESOURCE__RESOURCE__KIND_ROUTE;
    r.route = NULL;
    const ir_obj_t *o = NULL;
    ir_err_t err = {0};
    assert_int_equal(ir_obj_from_message(IR_TYPE_URL_RESOURCE, &r.base, NULL, &o, &err),
                     IR_EFIELD);
    assert_null(o);
    assert_non_null(strstr(err.msg, "route.key"));
}

static void test_obj_unknown_fields_pass_through(void **state)
{
    (void)state;
    /* Bind{key: "k", 99: varint 7}: a field a newer agentgateway might add */
    static const uint8_t bind[] = {0x0a, 0x01, 'k', 0x98, 0x06, 0x07};
    uint8_t res[2 + sizeof bind] = {0x0a, sizeof bind};
    memcpy(res + 2, bind, sizeof bind);
    const ir_obj_t *o = decode_ok(res, sizeof res, NULL);
    size_t n;
    const uint8_t *w = ir_obj_wire(o, &n);
    assert_int_equal(n, sizeof res);
    assert_memory_equal(w, res, n);
    ir_test_roundtrip(o);
    ir_obj_release(o);
}

static const ir_obj_t *route_obj(const char *host, const char *gw)
{
    const ir_route_t *r =
        ir_route_new(ir_sample_route_min("default/r.00.http", "default/gw.http", host), gw, NULL);
    assert_non_null(r);
    return ir_route_obj(r);
}

static void test_obj_hash_follows_content_and_gateway(void **state)
{
    (void)state;
    const ir_obj_t *a = route_obj("a.example.com", "default/gw");
    const ir_obj_t *a2 = route_obj("a.example.com", "default/gw");
    const ir_obj_t *b = route_obj("b.example.com", "default/gw");
    const ir_obj_t *a_other_gw = route_obj("a.example.com", "default/other");

    /* equal content -> equal hash, version and equality, though built separately */
    assert_true(a != a2);
    assert_int_equal(ir_obj_krt(a)->hash, ir_obj_krt(a2)->hash);
    assert_string_equal(ir_obj_version(a), ir_obj_version(a2));
    assert_true(krt_obj_equal(ir_obj_krt(a), ir_obj_krt(a2)));
    /* different content -> different hash and version */
    assert_true(ir_obj_krt(a)->hash != ir_obj_krt(b)->hash);
    assert_string_not_equal(ir_obj_version(a), ir_obj_version(b));
    assert_false(krt_obj_equal(ir_obj_krt(a), ir_obj_krt(b)));
    /* same content for another Gateway: same bytes and version, distinct krt object */
    assert_string_equal(ir_obj_version(a), ir_obj_version(a_other_gw));
    assert_int_equal(ir_obj_wire_hash(a), ir_obj_wire_hash(a_other_gw));
    assert_true(ir_obj_krt(a)->hash != ir_obj_krt(a_other_gw)->hash);
    assert_false(krt_obj_equal(ir_obj_krt(a), ir_obj_krt(a_other_gw)));
    assert_string_equal(ir_obj_key(a_other_gw), "default/other/route/default/r.00.http");
    /* the version is the wire hash in hex */
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ir_obj_wire_hash(a));
    assert_string_equal(ir_obj_version(a), hex);
    size_t n;
    const uint8_t *w = ir_obj_wire(a, &n);
    assert_int_equal(ir_obj_wire_hash(a), krt_hash_bytes(w, n, 0));

    ir_obj_release(a);
    ir_obj_release(a2);
    ir_obj_release(b);
    ir_obj_release(a_other_gw);
}

/* An object is one allocation (ir/src/internal.h, Layout): names point into the key, and the
 * wire bytes lie within the bytes the object reports holding. */
static void test_obj_names_and_bytes_live_in_the_object(void **state)
{
    (void)state;
    const ir_obj_t *a = route_obj("a.example.com", "default/gw");
    const ir_obj_t *ax = route_obj("a.example.com", "default/gwx");
    const ir_obj_t *u = route_obj("a.example.com", NULL);
    assert_string_equal(ir_obj_key(a), "default/gw/route/default/r.00.http");
    assert_string_equal(ir_obj_gateway(a), "default/gw");
    assert_ptr_equal(ir_obj_name(a), ir_obj_key(a) + strlen("default/gw/"));
    assert_ptr_equal(ir_obj_inner_key(a), ir_obj_name(a) + strlen("route/"));
    assert_string_equal(ir_obj_inner_key(a), "default/r.00.http");
    /* a Gateway that extends another's name is another Gateway */
    assert_false(krt_obj_equal(ir_obj_krt(a), ir_obj_krt(ax)));
    assert_false(krt_obj_equal(ir_obj_krt(a), ir_obj_krt(u)));
    assert_string_equal(ir_obj_key(u), "//route/default/r.00.http");
    assert_null(ir_obj_gateway(u));
    assert_ptr_equal(ir_obj_name(u), ir_obj_key(u) + 2);
    for (const ir_obj_t *const *o = (const ir_obj_t *const[]){a, ax, u, NULL}; *o; o++) {
        size_t n, size = ir_obj_krt(*o)->type->size(ir_obj_krt(*o));
        const uint8_t *w = ir_obj_wire(*o, &n), *base = (const uint8_t *)*o;
        assert_true(n > 0 && w > base && w + n <= base + size);
        const char *k = ir_obj_key(*o);
        assert_true((const uint8_t *)k > w && (const uint8_t *)k + strlen(k) < base + size);
        assert_int_equal(ir_obj_check(*o, NULL), IR_OK);
    }
    ir_obj_release(a);
    ir_obj_release(ax);
    ir_obj_release(u);
}

static void test_obj_hash_is_stable_across_runs(void **state)
{
    (void)state;
    /* A fixed input has a fixed version: versions must survive restarts and match across
     * replicas, so this pins the hash function and the canonical encoding together. */
    static const uint8_t res[] = {0x0a, 0x05, 0x0a, 0x01, 'k', 0x10, 0x50};
    const ir_obj_t *o = decode_ok(res, sizeof res, NULL);
    assert_string_equal(ir_obj_version(o), "49101aa819a120d5");
    ir_obj_release(o);
}

static void test_obj_equal_object_is_not_announced_again(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *routes = krt_static_new(e, &ir_route_type, "routes", true);
    assert_non_null(routes);
    assert_int_equal(krt_static_put(routes, ir_obj_krt(route_obj("a.example.com", "default/gw"))),
                     KRT_OK);
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    /* rebuilt from scratch, equal: dropped */
    assert_int_equal(
        krt_static_put_if_changed(routes, ir_obj_krt(route_obj("a.example.com", "default/gw"))), 0);
    /* changed: stored */
    assert_int_equal(
        krt_static_put_if_changed(routes, ir_obj_krt(route_obj("b.example.com", "default/gw"))), 1);
    const krt_obj_t *got = krt_collection_get(routes, "default/gw/route/default/r.00.http");
    assert_non_null(got);
    const ir_route_t *r = ir_route_from_krt(got);
    assert_non_null(r);
    assert_string_equal(ir_route_pb(r)->hostnames[0], "b.example.com");
    /* a wrong-kind object is refused by the collection's type */
    const ir_bind_t *b = ir_bind_new(ir_sample_bind(80, "80/default/gw"), "default/gw", NULL);
    assert_int_equal(krt_static_put(routes, ir_bind_krt(b)), KRT_ETYPE);
    krt_engine_free(e);
}

static void test_obj_dump_shape(void **state)
{
    (void)state;
    const ir_obj_t *o = route_obj("a.example.com", "default/gw");
    json_t *j = ir_obj_dump(o);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "route");
    assert_string_equal(json_string_value(json_object_get(j, "key")),
                        "default/gw/route/default/r.00.http");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "route/default/r.00.http");
    assert_string_equal(json_string_value(json_object_get(j, "gateway")), "default/gw");
    assert_string_equal(json_string_value(json_object_get(j, "version")), ir_obj_version(o));
    json_t *route = json_object_get(json_object_get(j, "resource"), "route");
    assert_non_null(route);
    assert_string_equal(json_string_value(json_object_get(route, "key")), "default/r.00.http");
    assert_string_equal(json_string_value(json_object_get(route, "listenerKey")),
                        "default/gw.http");
    assert_int_equal(json_object_size(j), 6);
    json_decref(j);
    /* krt's dump is the same */
    json_t *k = krt_obj_dump(ir_obj_krt(o));
    char *s1 = json_dumps(k, JSON_SORT_KEYS);
    char *s2 = ir_test_dump_str(o);
    json_decref(k);
    assert_non_null(s1);
    json_t *p1 = json_loads(s1, 0, NULL), *p2 = json_loads(s2, 0, NULL);
    assert_true(json_equal(p1, p2));
    json_decref(p1);
    json_decref(p2);
    free(s1);
    free(s2);
    ir_obj_release(o);

    /* an unscoped object dumps gateway null; secrets are redacted */
    const ir_listener_t *l = ir_listener_new(ir_sample_listener(), NULL, NULL);
    char *s = ir_test_dump_str(ir_listener_obj(l));
    assert_non_null(strstr(s, "\"gateway\":null"));
    assert_non_null(strstr(s, "\"privateKey\":\"<redacted 13 bytes>\""));
    assert_null(strstr(s, "LS0tLS1LRVkt")); /* base64 of the key */
    free(s);
    ir_obj_release(ir_listener_obj(l));
}

static void test_obj_size_accounts_for_tree_and_bytes(void **state)
{
    (void)state;
    const ir_obj_t *small = route_obj("a.example.com", NULL);
    const ir_route_t *big = ir_route_new(ir_sample_route(), NULL, NULL);
    size_t s1 = ir_obj_krt(small)->type->size(ir_obj_krt(small));
    size_t s2 = ir_obj_krt(ir_route_obj(big))->type->size(ir_route_krt(big));
    size_t wire;
    ir_obj_wire(ir_route_obj(big), &wire);
    assert_true(s1 > 0);
    assert_true(s2 > s1);
    /* Built from a message: only the bytes until someone reads the tree, then both. */
    assert_true(s2 < 2 * wire + 256);
    assert_non_null(ir_obj_message(ir_route_obj(big)));
    size_t s3 = ir_obj_krt(ir_route_obj(big))->type->size(ir_route_krt(big));
    assert_true(s3 > 2 * wire);
    /* Decoded from a peer's bytes: the tree from the start. */
    const uint8_t *bytes = ir_obj_wire(ir_route_obj(big), &wire);
    const ir_obj_t *peer = NULL;
    assert_int_equal(ir_obj_decode(IR_TYPE_URL_RESOURCE, bytes, wire, NULL, &peer, NULL), IR_OK);
    assert_true(ir_obj_krt(peer)->type->size(ir_obj_krt(peer)) > 2 * wire);
    assert_true(krt_obj_equal(ir_obj_krt(peer), ir_obj_krt(ir_route_obj(big))));
    ir_obj_release(peer);
    ir_obj_release(small);
    ir_obj_release(ir_route_obj(big));
}

static void test_obj_from_krt_rejects_other_types(void **state)
{
    (void)state;
    int err = 0;
    const char *text = "{\"metadata\":{\"name\":\"x\"}}";
    const krt_obj_t *j = krt_json_parse(text, strlen(text), &err);
    assert_non_null(j);
    assert_null(ir_obj_from_krt(j));
    assert_null(ir_bind_from_krt(j));
    assert_null(ir_obj_from_krt(NULL));
    krt_obj_release(j);
    const ir_obj_t *o = route_obj("a", NULL);
    assert_ptr_equal(ir_obj_from_krt(ir_obj_krt(o)), o);
    assert_null(ir_bind_from_obj(o));
    assert_non_null(ir_route_from_obj(o));
    /* retain/release */
    assert_ptr_equal(ir_obj_retain(o), o);
    ir_obj_release(o);
    ir_test_check(o);
    ir_obj_release(o);
    ir_obj_release(NULL);
}

/* Every allocation in construction fails in turn: the result is IR_ENOMEM and nothing leaks (the
 * sanitizer/valgrind runs of this test check the latter), until the build succeeds. */
static void test_obj_out_of_memory_at_every_step(void **state)
{
    (void)state;
    Agentgateway__Dev__Resource__Route *msg = ir_sample_route();
    size_t fails = 0;
    for (size_t n = 1; n < 100000; n++) {
        ir_test_fail_nth_alloc(n);
        ir_err_t err = {0};
        const ir_route_t *r = ir_route_from_pb(msg, "default/gw", &err);
        bool failed = ir_test_alloc_failed;
        ir_test_fail_nth_alloc(0);
        if (r) {
            assert_false(failed);
            ir_test_roundtrip(ir_route_obj(r));
            ir_obj_release(ir_route_obj(r));
            break;
        }
        assert_true(failed);
        assert_int_equal(err.code, IR_ENOMEM);
        fails++;
    }
    krt_allocator_set(NULL);
    /* The sweep really went through the construction: at least the encoding, the object, its
     * name, key and gateway (a canonical message is not decoded again, except by the round-trip
     * check of debug builds, which adds its own allocations). */
    assert_true(fails >= 5);
    ir_pb_free(&msg->base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_obj_kind_tables),
        cmocka_unit_test(test_obj_decode_classifies_each_resource_kind),
        cmocka_unit_test(test_obj_kinds_not_modelled_are_refused_with_a_reason),
        cmocka_unit_test(test_obj_empty_key_is_refused_naming_the_field),
        cmocka_unit_test(test_obj_bad_type_url_gateway_and_bytes_are_refused),
        cmocka_unit_test(test_obj_bytes_are_canonical_whatever_the_input_order),
        cmocka_unit_test(test_obj_from_message_sorts_maps_whatever_the_message_order),
        cmocka_unit_test(test_obj_from_message_rejects_a_oneof_without_its_message),
        cmocka_unit_test(test_obj_unknown_fields_pass_through),
        cmocka_unit_test(test_obj_hash_follows_content_and_gateway),
        cmocka_unit_test(test_obj_names_and_bytes_live_in_the_object),
        cmocka_unit_test(test_obj_hash_is_stable_across_runs),
        cmocka_unit_test(test_obj_equal_object_is_not_announced_again),
        cmocka_unit_test(test_obj_dump_shape),
        cmocka_unit_test(test_obj_size_accounts_for_tree_and_bytes),
        cmocka_unit_test(test_obj_from_krt_rejects_other_types),
        cmocka_unit_test(test_obj_out_of_memory_at_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
