/*
 * The flat tables under every session and the store (xds/table.c): the name map and the version
 * map against a plain-array oracle through random insertions and deletions (deletion shifts
 * entries back, so clusters and wrap-around are exercised), growth and shrinking, and version
 * parsing. Invariants M1..M3 / V1..V3 are checked after every step.
 */
#include "xds_test_util.h"

#include "../../xds/xds_internal.h"

#define N 600

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void check_map(const xds__map_t *m)
{
    xds_err_t err = {0};
    int rc = xds__map_check(m, &err);
    if (rc != XDS_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, XDS_OK);
}

static void test_name_map_matches_an_oracle(void **state)
{
    (void)state;
    xds__map_t m;
    xds__map_init(&m);
    bool present[N] = {0};
    uintptr_t vals[N] = {0};
    for (int step = 0; step < 20000; step++) {
        int k = (int)(next_rand() % N);
        char s[32];
        int len = snprintf(s, sizeof s, "route/default/r%d", k);
        if (next_rand() % 3) {
            xds__name_t *n = xds__name_new(s, (size_t)len);
            xds__slot_t *sl;
            int rc = xds__map_put(&m, n, (uintptr_t)step, &sl);
            assert_int_equal(rc, present[k] ? 0 : 1);
            if (rc == 1)
                vals[k] = (uintptr_t)step;
            assert_int_equal(sl->val, vals[k]);
            assert_string_equal(sl->name->str, s);
            present[k] = true;
            xds__name_release(n);
        } else {
            uintptr_t v = 0;
            bool was = xds__map_del(&m, s, (size_t)len, xds__hash(s, (size_t)len), &v);
            assert_int_equal(was, present[k]);
            if (was)
                assert_int_equal(v, vals[k]);
            present[k] = false;
        }
        if (step % 97 == 0)
            check_map(&m);
    }
    size_t count = 0;
    for (int k = 0; k < N; k++) {
        char s[32];
        int len = snprintf(s, sizeof s, "route/default/r%d", k);
        xds__slot_t *sl = xds__map_find(&m, s, (size_t)len, xds__hash(s, (size_t)len));
        assert_int_equal(sl != NULL, present[k]);
        count += present[k];
    }
    assert_int_equal(m.len, count);
    check_map(&m);
    xds__map_dispose(&m, NULL);
    assert_int_equal(m.cap, 0);
}

static void test_map_shrinks_when_emptied(void **state)
{
    (void)state;
    xds__map_t m;
    xds__map_init(&m);
    for (int k = 0; k < 1000; k++) {
        char s[32];
        int len = snprintf(s, sizeof s, "n%d", k);
        xds__name_t *n = xds__name_new(s, (size_t)len);
        assert_int_equal(xds__map_put(&m, n, 0, NULL), 1);
        xds__name_release(n);
    }
    size_t big = m.cap;
    assert_true(big >= 1024);
    for (int k = 0; k < 990; k++) {
        char s[32];
        int len = snprintf(s, sizeof s, "n%d", k);
        assert_true(xds__map_del(&m, s, (size_t)len, xds__hash(s, (size_t)len), NULL));
    }
    assert_true(m.cap <= big / 8);
    check_map(&m);
    xds__map_dispose(&m, NULL);
}

static void test_version_map_matches_an_oracle(void **state)
{
    (void)state;
    xds__vmap_t m;
    xds__vmap_init(&m);
    bool present[N] = {0};
    uint64_t vals[N] = {0};
    xds_err_t err = {0};
    for (int step = 0; step < 20000; step++) {
        int k = (int)(next_rand() % N);
        uint64_t key = (uint64_t)k * 0x100000001b3u + 1; /* clusters on purpose */
        uint32_t op = next_rand() % 4;
        if (op < 2) {
            assert_int_equal(xds__vmap_set(&m, key, (uint64_t)step), XDS_OK);
            present[k] = true;
            vals[k] = (uint64_t)step;
        } else if (op == 2) {
            assert_int_equal(xds__vmap_del(&m, key), present[k]);
            present[k] = false;
        } else {
            uint64_t v;
            assert_int_equal(xds__vmap_get(&m, key, &v), present[k]);
            if (present[k])
                assert_int_equal(v, vals[k]);
        }
        if (step % 101 == 0)
            assert_int_equal(xds__vmap_check(&m, &err), XDS_OK);
    }
    assert_int_equal(xds__vmap_set(&m, 0, 1), XDS_EINVAL);
    xds__vmap_dispose(&m);
}

static bool keep_even(uint64_t key, void *ud)
{
    (void)ud;
    return key % 2 == 0;
}

static void test_version_map_filter_keeps_what_it_is_told(void **state)
{
    (void)state;
    xds__vmap_t m;
    xds__vmap_init(&m);
    for (uint64_t k = 1; k <= 500; k++)
        xds__vmap_set(&m, k, k * 3);
    xds__vmap_filter(&m, keep_even, NULL);
    assert_int_equal(m.len, 250);
    uint64_t v;
    assert_true(xds__vmap_get(&m, 42, &v));
    assert_int_equal(v, 126);
    assert_false(xds__vmap_get(&m, 43, &v));
    xds_err_t err = {0};
    assert_int_equal(xds__vmap_check(&m, &err), XDS_OK);
    xds__vmap_dispose(&m);
}

static void test_version_strings_parse_to_our_hashes(void **state)
{
    (void)state;
    assert_int_equal(xds__version_parse("00000000000000ff"), 255);
    assert_int_equal(xds__version_parse("ffffffffffffffff"), UINT64_MAX);
    /* uppercase, short or foreign versions are not ours: some other value, stable */
    assert_true(xds__version_parse("FFFFFFFFFFFFFFFF") != UINT64_MAX);
    assert_int_equal(xds__version_parse("v1"), xds__version_parse("v1"));
    assert_true(xds__version_parse("v1") != xds__version_parse("v2"));
    const ir_obj_t *o = xt_obj(IR_KIND_BIND, NULL, "80/default/gw", 1);
    assert_int_equal(xds__version_parse(ir_obj_version(o)), ir_obj_wire_hash(o));
    ir_obj_release(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_map_matches_an_oracle),
        cmocka_unit_test(test_map_shrinks_when_emptied),
        cmocka_unit_test(test_version_map_matches_an_oracle),
        cmocka_unit_test(test_version_map_filter_keeps_what_it_is_told),
        cmocka_unit_test(test_version_strings_parse_to_our_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
