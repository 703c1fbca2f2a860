/*
 * Tests for the tree heap (krt/src/json_heap.c): trees built in a scope live in it and give their
 * pages back when dropped; everything else keeps the outer allocator; frees from other threads;
 * the invariants after every step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krt/json.h"
#include "krt/krt.h"

static size_t in_use(void)
{
    size_t n = 0;
    krt_json_heap_stats(NULL, &n, NULL);
    return n;
}

static size_t resident(void)
{
    size_t n = 0;
    krt_json_heap_stats(&n, NULL, NULL);
    return n;
}

/* A tree of |n| objects, each with a few members: about what an API object costs. */
static json_t *build(int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "pod-%d", i);
        json_array_append_new(a, json_pack("{s:{s:s,s:s},s:i,s:[s,s]}", "metadata", "name", name,
                                           "namespace", "default", "port", 8080 + i, "ips",
                                           "10.0.0.1", "fd00::1"));
    }
    return a;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(krt_json_heap_install(), KRT_OK);
    assert_int_equal(krt_json_heap_install(), KRT_OK); /* once is enough; again is harmless */
    return 0;
}

static void test_json_heap_scoped_trees_live_in_it_and_give_pages_back(void **state)
{
    (void)state;
    size_t u0 = in_use();
    krt_json_heap_begin();
    json_t *t = build(20000); /* tens of slabs */
    krt_json_heap_end();
    assert_true(in_use() > u0 + (1u << 20));
    assert_true(resident() >= in_use());
    assert_int_equal(krt_json_heap_check(), KRT_OK);
    json_decref(t);
    assert_int_equal(in_use(), u0);
    /* Emptied slabs beyond a small cache (1 MiB) are given back. */
    assert_true(resident() <= (size_t)2 << 20);
    assert_int_equal(krt_json_heap_check(), KRT_OK);
    /* Released slabs are used again. */
    krt_json_heap_begin();
    t = build(20000);
    krt_json_heap_end();
    assert_int_equal(krt_json_heap_check(), KRT_OK);
    json_decref(t);
    assert_int_equal(in_use(), u0);
    assert_int_equal(krt_json_heap_check(), KRT_OK);
}

static void test_json_heap_leaves_other_allocations_to_the_outer_allocator(void **state)
{
    (void)state;
    size_t u0 = in_use();
    /* Outside a scope: jansson's usual allocator, and json_dumps text is free()d as usual. */
    json_t *plain = build(50);
    assert_int_equal(in_use(), u0);
    char *text = json_dumps(plain, JSON_COMPACT);
    assert_non_null(text);
    free(text);
    /* A tree built in a scope and grown outside it holds both kinds; decref frees both. */
    krt_json_heap_begin();
    json_t *mixed = build(10);
    krt_json_heap_begin(); /* nested */
    json_t *more = build(5);
    krt_json_heap_end();
    krt_json_heap_end();
    size_t u1 = in_use();
    assert_true(u1 > u0);
    json_array_append_new(mixed, plain); /* plain's nodes came from malloc */
    json_array_append_new(mixed, more);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    krt_json_heap_begin();
    json_array_append_new(mixed, json_string(big)); /* above the largest class: outer allocator */
    krt_json_heap_end();
    assert_true(in_use() - u1 < 512);
    assert_int_equal(krt_json_heap_check(), KRT_OK);
    json_decref(mixed);
    assert_int_equal(in_use(), u0);
    assert_int_equal(krt_json_heap_check(), KRT_OK);
}

static void *drop_in_thread(void *arg)
{
    json_t *t = arg;
    /* A scope opened here does nothing: not the installing thread. */
    krt_json_heap_begin();
    json_t *x = build(10);
    krt_json_heap_end();
    json_decref(x);
    json_decref(t); /* heap objects: queued for the owner */
    return NULL;
}

static void test_json_heap_frees_from_other_threads_are_done_by_the_owner(void **state)
{
    (void)state;
    size_t u0 = in_use();
    krt_json_heap_begin();
    json_t *t = build(100);
    krt_json_heap_end();
    assert_true(in_use() > u0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drop_in_thread, t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    /* The next allocation by the owner drains the queue. */
    krt_json_heap_begin();
    json_t *one = json_object();
    krt_json_heap_end();
    json_decref(one);
    assert_int_equal(in_use(), u0);
    assert_int_equal(krt_json_heap_check(), KRT_OK);
}

/* The tree cache rebuilds trimmed trees in the heap: a value read after a trim costs heap bytes,
 * and trimming to nothing gives them back. */
static void test_json_heap_holds_the_caches_rebuilt_trees(void **state)
{
    (void)state;
    size_t u0 = in_use();
    const char *text = "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":[1,2,3]}}";
    const krt_obj_t *o = krt_json_parse(text, strlen(text), NULL);
    assert_non_null(o);
    krt_json_tree_limit(SIZE_MAX);
    krt_json_trim_to(0);
    assert_int_equal(in_use(), u0);
    assert_non_null(krt_json_value(o));
    assert_true(in_use() > u0);
    krt_json_trim_to(0);
    assert_int_equal(in_use(), u0);
    krt_obj_release(o);
    assert_int_equal(krt_json_heap_check(), KRT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_heap_scoped_trees_live_in_it_and_give_pages_back),
        cmocka_unit_test(test_json_heap_leaves_other_allocations_to_the_outer_allocator),
        cmocka_unit_test(test_json_heap_frees_from_other_threads_are_done_by_the_owner),
        cmocka_unit_test(test_json_heap_holds_the_caches_rebuilt_trees),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
