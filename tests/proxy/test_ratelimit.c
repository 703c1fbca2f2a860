/*
 * proxy/ratelimit.c: the token bucket with an injected clock: starts full, drains, refills by
 * whole intervals up to the cap, reports when to retry, and never goes back in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/ratelimit.h"

static void test_bucket_starts_full_and_drains(void **state)
{
    (void)state;
    proxy_ratelimit_t *rl = proxy_ratelimit_new(3, 1, 1000, 5000);
    for (int i = 0; i < 3; i++)
        assert_true(proxy_ratelimit_take(rl, 1, 5000, NULL));
    uint64_t wait = 0;
    assert_false(proxy_ratelimit_take(rl, 1, 5000, &wait));
    assert_int_equal(wait, 1000);
    assert_false(proxy_ratelimit_take(rl, 1, 5999, &wait));
    assert_int_equal(wait, 1);
    assert_true(proxy_ratelimit_take(rl, 1, 6000, NULL)); /* one whole interval: one token */
    assert_false(proxy_ratelimit_take(rl, 1, 6000, NULL));
    proxy_ratelimit_release(rl);
}

static void test_refill_is_per_whole_interval_and_capped(void **state)
{
    (void)state;
    proxy_ratelimit_t *rl = proxy_ratelimit_new(10, 4, 100, 0);
    assert_true(proxy_ratelimit_take(rl, 10, 0, NULL));
    assert_int_equal(proxy_ratelimit_available(rl, 99), 0);
    assert_int_equal(proxy_ratelimit_available(rl, 150), 4);
    assert_int_equal(proxy_ratelimit_available(rl, 250), 8);     /* fills at 100 and 200 */
    assert_int_equal(proxy_ratelimit_available(rl, 100000), 10); /* capped */
    assert_int_equal(proxy_ratelimit_available(rl, 50), 10);     /* the clock going back: no-op */
    uint64_t wait = 99;
    assert_false(proxy_ratelimit_take(rl, 11, 100000, &wait)); /* more than the cap: never */
    assert_int_equal(wait, 0);
    assert_true(proxy_ratelimit_take(rl, 7, 100000, NULL));
    assert_false(proxy_ratelimit_take(rl, 9, 100000, &wait)); /* needs 6 more: 2 fills */
    assert_int_equal(wait, 200);
    assert_int_equal(proxy_ratelimit_max(rl), 10);
    proxy_ratelimit_release(rl);
}

static void test_invalid_arguments_and_refcount(void **state)
{
    (void)state;
    assert_null(proxy_ratelimit_new(0, 1, 1000, 0));
    assert_null(proxy_ratelimit_new(1, 1, 0, 0));
    proxy_ratelimit_t *rl = proxy_ratelimit_new(1, 0, 1000, 0); /* never refills */
    assert_true(proxy_ratelimit_take(rl, 1, 0, NULL));
    uint64_t wait = 7;
    assert_false(proxy_ratelimit_take(rl, 1, 1000000, &wait));
    assert_int_equal(wait, 0);
    assert_ptr_equal(proxy_ratelimit_retain(rl), rl);
    proxy_ratelimit_release(rl);
    proxy_ratelimit_release(rl);
    proxy_ratelimit_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_starts_full_and_drains),
        cmocka_unit_test(test_refill_is_per_whole_interval_and_capped),
        cmocka_unit_test(test_invalid_arguments_and_refcount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
