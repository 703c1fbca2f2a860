/*
 * Shared helpers for the ir tests: cmocka includes, the sample messages (ir_samples.h), an
 * invariant check to call after every step, a round-trip oracle, and an allocator that fails on
 * request (for out-of-memory sweeps). Header-only and static, like tests/krt/krt_test_util.h.
 */
#ifndef IR_TEST_UTIL_H
#define IR_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ir/address.h"
#include "ir/backend.h"
#include "ir/bind.h"
#include "ir/ir.h"
#include "ir/listener.h"
#include "ir/names.h"
#include "ir/pb.h"
#include "ir/policy.h"
#include "ir/resource.h"
#include "ir/route.h"
#include "ir/tcp_route.h"
#include "ir_samples.h"

#define IR_TEST_UNUSED __attribute__((unused))

/* Asserts the object's invariants (ir_obj_check), printing which one failed. */
static IR_TEST_UNUSED void ir_test_check(const ir_obj_t *o)
{
    assert_non_null(o);
    ir_err_t err = {0};
    int rc = ir_obj_check(o, &err);
    if (rc != IR_OK)
        print_error("ir_obj_check: %s\n", err.msg);
    assert_int_equal(rc, IR_OK);
}

/* The round-trip oracle: C -> protobuf -> bytes -> protobuf -> C gives an equal object, through
 * the plain decoder, through to_pb/from_message, and through a discovery Resource. */
static IR_TEST_UNUSED void ir_test_roundtrip(const ir_obj_t *o)
{
    ir_test_check(o);
    size_t len;
    const uint8_t *w = ir_obj_wire(o, &len);
    assert_true(len > 0);
    const ir_obj_t *a = NULL;
    ir_err_t err = {0};
    assert_int_equal(ir_obj_decode(ir_obj_type_url(o), w, len, ir_obj_gateway(o), &a, &err), IR_OK);
    ir_test_check(a);
    assert_true(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(a)));
    assert_int_equal(ir_obj_krt(o)->hash, ir_obj_krt(a)->hash);
    assert_string_equal(ir_obj_key(o), ir_obj_key(a));
    assert_string_equal(ir_obj_version(o), ir_obj_version(a));

    ProtobufCMessage *copy = ir_pb_copy(ir_obj_message(o), &err);
    assert_non_null(copy);
    const ir_obj_t *b = NULL;
    assert_int_equal(ir_obj_from_message(ir_obj_type_url(o), copy, ir_obj_gateway(o), &b, &err),
                     IR_OK);
    assert_true(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(b)));
    ir_pb_free(copy);

    Envoy__Service__Discovery__V3__Resource *res = ir_obj_to_discovery(o);
    assert_non_null(res);
    const ir_obj_t *c = NULL;
    assert_int_equal(ir_obj_from_discovery(res, ir_obj_type_url(o), ir_obj_gateway(o), &c, &err),
                     IR_OK);
    assert_true(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(c)));
    ir_pb_free(&res->base);

    ir_obj_release(a);
    ir_obj_release(b);
    ir_obj_release(c);
}

/* ---------------------------------------------------------------------------------------------
 * An allocator that fails the n-th allocation from now (0: never). */

static size_t ir_test_alloc_countdown;
static bool ir_test_alloc_failed;

static IR_TEST_UNUSED void *ir_test_malloc(size_t n, void *ud)
{
    (void)ud;
    if (ir_test_alloc_countdown && --ir_test_alloc_countdown == 0) {
        ir_test_alloc_failed = true;
        return NULL;
    }
    return malloc(n);
}

static IR_TEST_UNUSED void *ir_test_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    if (ir_test_alloc_countdown && --ir_test_alloc_countdown == 0) {
        ir_test_alloc_failed = true;
        return NULL;
    }
    return realloc(p, n);
}

static IR_TEST_UNUSED void ir_test_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

/* Makes the |n|-th krt allocation from now fail (n = 0 turns failures off). */
static IR_TEST_UNUSED void ir_test_fail_nth_alloc(size_t n)
{
    static const krt_allocator_t a = {ir_test_malloc, ir_test_realloc, ir_test_free, NULL};
    ir_test_alloc_countdown = n;
    ir_test_alloc_failed = false;
    krt_allocator_set(&a);
}

/* The JSON of |o| as a compact string with sorted keys (owned by caller, free()). */
static IR_TEST_UNUSED char *ir_test_dump_str(const ir_obj_t *o)
{
    json_t *j = ir_obj_dump(o);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    assert_non_null(s);
    return s;
}

#endif /* IR_TEST_UTIL_H */
