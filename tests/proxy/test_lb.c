/*
 * Tests of proxy/lb.c: weighted picks follow the weights (exactly, with an injected sequence;
 * in proportion, with the built-in generator), zero weights are never picked, round-robin cycles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/lb.h"

static uint64_t counting(void *ud)
{
    uint64_t *c = ud;
    return (*c)++;
}

static void test_weighted_pick_maps_draws_onto_cumulative_weights(void **state)
{
    (void)state;
    proxy_lb_t lb;
    proxy_lb_init(&lb, 1);
    uint64_t c = 0;
    proxy_lb_set_rng(&lb, counting, &c);
    int32_t w[] = {7, 0, 3};
    size_t hits[3] = {0};
    for (int i = 0; i < 100; i++) {
        long k = proxy_lb_pick_weighted(&lb, w, 3);
        assert_true(k >= 0 && k < 3);
        hits[k]++;
    }
    assert_int_equal(hits[0], 70);
    assert_int_equal(hits[1], 0);
    assert_int_equal(hits[2], 30);
}

static void test_builtin_generator_is_deterministic_and_proportional(void **state)
{
    (void)state;
    proxy_lb_t a, b;
    proxy_lb_init(&a, 42);
    proxy_lb_init(&b, 42);
    int32_t w[] = {70, 30, 0};
    size_t hits[3] = {0};
    for (int i = 0; i < 10000; i++) {
        long k = proxy_lb_pick_weighted(&a, w, 3);
        assert_int_equal(k, proxy_lb_pick_weighted(&b, w, 3));
        hits[k]++;
    }
    assert_in_range(hits[0], 6500, 7500);
    assert_in_range(hits[1], 2500, 3500);
    assert_int_equal(hits[2], 0);
    proxy_lb_t z;
    proxy_lb_init(&z, 0); /* seed 0 still works */
    assert_true(proxy_lb_random(&z) != 0);
}

static void test_all_zero_or_negative_weights_pick_nothing(void **state)
{
    (void)state;
    proxy_lb_t lb;
    proxy_lb_init(&lb, 3);
    int32_t w[] = {0, -5};
    assert_int_equal(proxy_lb_pick_weighted(&lb, w, 2), -1);
    assert_int_equal(proxy_lb_pick_weighted(&lb, w, 0), -1);
}

static void test_round_robin_cycles(void **state)
{
    (void)state;
    proxy_lb_t lb;
    proxy_lb_init(&lb, 3);
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(proxy_lb_round_robin(&lb, 3), i % 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weighted_pick_maps_draws_onto_cumulative_weights),
        cmocka_unit_test(test_builtin_generator_is_deterministic_and_proportional),
        cmocka_unit_test(test_all_zero_or_negative_weights_pick_nothing),
        cmocka_unit_test(test_round_robin_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
