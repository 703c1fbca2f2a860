/*
 * Protobuf plumbing (ir/src/pb.c): canonical form (sorted, de-duplicated maps), the pre-scan that
 * guards protobuf-c against hostile bytes (depth, UTF-8, NUL), malformed input, copies, and
 * allocation failure reported as such.
 */
#include "ir_test_util.h"

/* A growable byte buffer for hand-made encodings. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 16;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_varint(buf_t *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    put(b, t, n);
}

/* field |num| as length-delimited |p|. */
static void put_ld(buf_t *b, unsigned num, const void *p, size_t n)
{
    put_varint(b, (uint64_t)num << 3 | 2);
    put_varint(b, n);
    put(b, p, n);
}

/* Resource{bind: Bind{key: |key| (n bytes)}} */
static buf_t bind_with_key(const void *key, size_t n)
{
    buf_t inner = {0}, out = {0};
    put_ld(&inner, 1, key, n);
    put_ld(&out, 1, inner.p, inner.n);
    free(inner.p);
    return out;
}

static int decode_resource(const buf_t *b, ir_err_t *err)
{
    ProtobufCMessage *m = NULL;
    int rc = ir_pb_decode(&agentgateway__dev__resource__resource__descriptor, b->p, b->n, &m, err);
    ir_pb_free(m);
    return rc;
}

static void test_pb_maps_are_sorted_and_the_last_duplicate_wins(void **state)
{
    (void)state;
    /* DeltaDiscoveryRequest.initial_resource_versions = [b:1, a:2, b:3] on the wire */
    buf_t req = {0};
    const char *pairs[][2] = {{"b", "1"}, {"a", "2"}, {"b", "3"}};
    for (size_t i = 0; i < 3; i++) {
        buf_t e = {0};
        put_ld(&e, 1, pairs[i][0], 1);
        put_ld(&e, 2, pairs[i][1], 1);
        put_ld(&req, 5, e.p, e.n);
        free(e.p);
    }
    ProtobufCMessage *m = NULL;
    assert_int_equal(
        ir_pb_decode(&envoy__service__discovery__v3__delta_discovery_request__descriptor, req.p,
                     req.n, &m, NULL),
        IR_OK);
    const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *r = (const void *)m;
    assert_int_equal(r->n_initial_resource_versions, 2);
    assert_string_equal(r->initial_resource_versions[0]->key, "a");
    assert_string_equal(r->initial_resource_versions[0]->value, "2");
    assert_string_equal(r->initial_resource_versions[1]->key, "b");
    assert_string_equal(r->initial_resource_versions[1]->value, "3");
    assert_false(ir_pb_canonicalize(m)); /* already canonical */
    ir_pb_free(m);
    free(req.p);
}

static void test_pb_canonical_form_makes_map_order_irrelevant(void **state)
{
    (void)state;
    static const uint8_t ip[4] = {10, 0, 0, 1};
    Istio__Workload__Address *a = ir_sample_workload("uid", ip);
    Istio__Workload__Address *b = ir_sample_workload("uid", ip);
    /* the sample lists services out of key order; swap b's two entries into order */
    Istio__Workload__Workload *w = b->workload;
    Istio__Workload__Workload__ServicesEntry *t = w->services[0];
    w->services[0] = w->services[1];
    w->services[1] = t;
    uint8_t *ea, *eb;
    size_t na, nb;
    assert_int_equal(ir_pb_encode(&a->base, &ea, &na), IR_OK);
    assert_int_equal(ir_pb_encode(&b->base, &eb, &nb), IR_OK);
    assert_int_equal(na, nb);
    assert_memory_not_equal(ea, eb, na); /* same content, different bytes */
    krt_free(ea);
    krt_free(eb);
    assert_true(ir_pb_canonicalize(&a->base));
    assert_false(ir_pb_canonicalize(&a->base));
    assert_false(ir_pb_canonicalize(&b->base));
    ProtobufCMessage *ca = ir_pb_copy(&b->base, NULL);
    assert_non_null(ca);
    assert_int_equal(ir_pb_encode(&a->base, &ea, &na), IR_OK);
    assert_int_equal(ir_pb_encode(ca, &eb, &nb), IR_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(ea, eb, na);
    krt_free(ea);
    krt_free(eb);
    ir_pb_free(ca);
    ir_pb_free(&a->base);
    ir_pb_free(&b->base);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

/* Value{list_value: ListValue{values: [Value{list_value: ...}]}} |levels| deep, innermost an empty
 * Value. Built outside-in from precomputed lengths, so a megabyte costs a megabyte. */
static buf_t nested_values(size_t levels)
{
    size_t *vlen = malloc((levels + 1) * sizeof *vlen); /* vlen[i]: Value with i levels inside */
    assert_non_null(vlen);
    vlen[0] = 0;
    for (size_t i = 1; i <= levels; i++) {
        size_t list = 1 + varint_len(vlen[i - 1]) + vlen[i - 1];
        vlen[i] = 1 + varint_len(list) + list;
    }
    buf_t b = {0};
    for (size_t i = levels; i >= 1; i--) {
        size_t list = 1 + varint_len(vlen[i - 1]) + vlen[i - 1];
        put_varint(&b, 6 << 3 | 2); /* Value.list_value */
        put_varint(&b, list);
        put_varint(&b, 1 << 3 | 2); /* ListValue.values */
        put_varint(&b, vlen[i - 1]);
    }
    assert_int_equal(b.n, vlen[levels]);
    free(vlen);
    return b;
}

static void test_pb_deep_nesting_is_refused_before_protobuf_c_recurses(void **state)
{
    (void)state;
    ir_err_t err = {0};
    ProtobufCMessage *m = NULL;
    buf_t ok = nested_values(IR_PB_MAX_DEPTH / 2 - 1);
    assert_int_equal(ir_pb_decode(&google__protobuf__value__descriptor, ok.p, ok.n, &m, &err),
                     IR_OK);
    json_t *j = ir_pb_to_json(m, 0);
    assert_non_null(j);
    json_decref(j);
    ir_pb_free(m);
    free(ok.p);

    buf_t deep = nested_values(IR_PB_MAX_DEPTH);
    assert_int_equal(ir_pb_decode(&google__protobuf__value__descriptor, deep.p, deep.n, &m, &err),
                     IR_EDEPTH);
    assert_null(m);
    assert_non_null(strstr(err.msg, "nested deeper"));
    free(deep.p);

    /* 100,000 levels (about a megabyte): unguarded, protobuf-c would overflow the stack */
    buf_t huge = nested_values(100000);
    assert_int_equal(ir_pb_decode(&google__protobuf__value__descriptor, huge.p, huge.n, &m, &err),
                     IR_EDEPTH);
    free(huge.p);
}

static void test_pb_strings_must_be_utf8_without_nul(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t n;
        bool ok;
    } cases[] = {
        {"plain", 5, true},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, true}, /* 2-, 3- and 4-byte forms */
        {"\xff", 1, false},                                      /* never valid */
        {"a\0b", 3, false},                                      /* NUL would truncate */
        {"\xc0\x80", 2, false},                                  /* overlong NUL */
        {"\xe0\x80\xaf", 3, false},                              /* overlong '/' */
        {"\xed\xa0\x80", 3, false},                              /* surrogate */
        {"\xf4\x90\x80\x80", 4, false},                          /* above U+10FFFF */
        {"\xe2\x82", 2, false},                                  /* truncated */
        {"\x80", 1, false},                                      /* lone continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t b = bind_with_key(cases[i].bytes, cases[i].n);
        ir_err_t err = {0};
        int rc = decode_resource(&b, &err);
        if (cases[i].ok) {
            assert_int_equal(rc, IR_OK);
        } else {
            assert_int_equal(rc, IR_EUTF8);
            assert_string_equal(err.msg, "Resource.bind.key: not UTF-8 (or contains NUL)");
        }
        free(b.p);
    }
    /* bytes fields carry anything */
    buf_t tls = {0}, lis = {0}, res = {0};
    put_ld(&tls, 2, "\xff\x00\xfe", 3); /* TLSConfig.private_key */
    put_ld(&lis, 1, "k", 1);
    put_ld(&lis, 6, tls.p, tls.n);
    put_ld(&res, 2, lis.p, lis.n);
    assert_int_equal(decode_resource(&res, NULL), IR_OK);
    free(tls.p);
    free(lis.p);
    free(res.p);
}

static void test_pb_malformed_bytes_are_refused(void **state)
{
    (void)state;
    static const struct {
        const uint8_t b[12];
        size_t n;
        int rc;
    } cases[] = {
        {{0x0a}, 1, IR_EDECODE},             /* tag without length */
        {{0x0a, 0x05, 0x0a}, 3, IR_EDECODE}, /* length past the end */
        {{0x08, 0xff, 0xff}, 3, IR_EDECODE}, /* truncated varint */
        {{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 12, IR_EDECODE},
        {{0x0b}, 1, IR_EDECODE},             /* group start */
        {{0x00, 0x00}, 2, IR_EDECODE},       /* field number 0 */
        {{0x0d, 0x00, 0x00}, 3, IR_EDECODE}, /* truncated fixed32 */
        {{0x0a, 0x00}, 2, IR_OK},            /* empty Bind: decodes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t b = {(uint8_t *)cases[i].b, cases[i].n, 0};
        ir_err_t err = {0};
        assert_int_equal(decode_resource(&b, &err), cases[i].rc);
        if (cases[i].rc != IR_OK)
            assert_true(err.msg[0] != '\0');
    }
    ProtobufCMessage *m = NULL;
    assert_int_equal(ir_pb_decode(NULL, NULL, 0, &m, NULL), IR_EINVAL);
    assert_int_equal(ir_pb_decode(&google__rpc__status__descriptor, NULL, 3, &m, NULL), IR_EINVAL);
}

static void test_pb_out_of_memory_is_not_reported_as_malformed(void **state)
{
    (void)state;
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req = ir_sample_delta_request();
    uint8_t *b;
    size_t n;
    assert_int_equal(ir_pb_encode(&req->base, &b, &n), IR_OK);
    size_t fails = 0;
    for (size_t k = 1; k < 10000; k++) {
        ProtobufCMessage *m = NULL;
        ir_err_t err = {0};
        ir_test_fail_nth_alloc(k);
        int rc = ir_pb_decode(&envoy__service__discovery__v3__delta_discovery_request__descriptor,
                              b, n, &m, &err);
        ir_test_fail_nth_alloc(0);
        if (rc == IR_OK) {
            ir_pb_free(m);
            break;
        }
        assert_int_equal(rc, IR_ENOMEM);
        assert_null(m);
        fails++;
    }
    krt_allocator_set(NULL);
    assert_true(fails > 20);
    krt_free(b);
    ir_pb_free(&req->base);
}

static void test_pb_copy_and_helpers(void **state)
{
    (void)state;
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req = ir_sample_delta_request();
    ProtobufCMessage *c = ir_pb_copy(&req->base, NULL);
    assert_non_null(c);
    assert_ptr_equal(c->descriptor, req->base.descriptor);
    const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *rc = (const void *)c;
    assert_string_equal(rc->node->id, req->node->id);
    /* the copy is canonical: metadata keys in order */
    const Google__Protobuf__Struct *md = rc->node->metadata;
    for (size_t i = 1; i < md->n_fields; i++)
        assert_true(strcmp(md->fields[i - 1]->key, md->fields[i]->key) < 0);
    ir_pb_free(c);
    ir_pb_free(&req->base);
    ir_err_t err = {0};
    assert_null(ir_pb_copy(NULL, &err));
    assert_int_equal(err.code, IR_EINVAL);
    ir_pb_free(NULL);
    assert_null(ir_pb_strdup(NULL));
    char *s = ir_pb_strdup("x");
    assert_string_equal(s, "x");
    krt_free(s);
    uint8_t *e;
    size_t n;
    Google__Rpc__Status empty = GOOGLE__RPC__STATUS__INIT;
    assert_int_equal(ir_pb_encode(&empty.base, &e, &n), IR_OK);
    assert_int_equal(n, 0);
    assert_null(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pb_maps_are_sorted_and_the_last_duplicate_wins),
        cmocka_unit_test(test_pb_canonical_form_makes_map_order_irrelevant),
        cmocka_unit_test(test_pb_deep_nesting_is_refused_before_protobuf_c_recurses),
        cmocka_unit_test(test_pb_strings_must_be_utf8_without_nul),
        cmocka_unit_test(test_pb_malformed_bytes_are_refused),
        cmocka_unit_test(test_pb_out_of_memory_is_not_reported_as_malformed),
        cmocka_unit_test(test_pb_copy_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
