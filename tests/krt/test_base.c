/*
 * Tests of the engine's containers (krt/src/base.c): the uint64 map with backward-shift deletion,
 * the reference-counted key interner and the string-order sort, each checked against a plain
 * reference model under random operations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* splitmix64: deterministic, good enough to shake out probing bugs */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Random puts and deletes on a map of either width (PFX krt__map or krt__imap), checked against a
 * plain array model: ref[k] is key k's value when present[k]; key k is stored as k * SPREAD, which
 * spreads the keys and never hits the reserved empty key. Every 997 operations every key is looked
 * up (backward shift kept the probe chains intact); at the end, iteration yields exactly the
 * present keys with their values. */
enum { RANDOM_KEYS = 512, RANDOM_OPS = 200000 };
#define RANDOM_OPS_DEFINE(PFX, MAP, KEY, SPREAD)                                                   \
    static void PFX##_random_ops(MAP *m, uint64_t seed, uint64_t *ref, bool *present)              \
    {                                                                                              \
        rng_state = seed;                                                                          \
        for (int op = 0; op < RANDOM_OPS; op++) {                                                  \
            uint32_t k = (uint32_t)(rng() % RANDOM_KEYS);                                          \
            KEY key = (KEY)k * SPREAD;                                                             \
            if (rng() % 3 != 2) {                                                                  \
                uint64_t v = rng();                                                                \
                assert_int_equal(PFX##_put(m, key, v), KRT_OK);                                    \
                ref[k] = v;                                                                        \
                present[k] = true;                                                                 \
            } else {                                                                               \
                uint64_t v = 0;                                                                    \
                bool had = PFX##_del(m, key, &v);                                                  \
                assert_int_equal(had, present[k]);                                                \
                if (had)                                                                           \
                    assert_int_equal(v, ref[k]);                                                   \
                present[k] = false;                                                                \
            }                                                                                      \
            if (op % 997 == 0) {                                                                   \
                uint32_t live = 0;                                                                 \
                for (uint32_t i = 0; i < RANDOM_KEYS; i++) {                                       \
                    uint64_t v;                                                                    \
                    bool found = PFX##_get(m, (KEY)i * SPREAD, &v);                                \
                    assert_int_equal(found, present[i]);                                           \
                    if (found) {                                                                   \
                        assert_int_equal(v, ref[i]);                                               \
                        live++;                                                                    \
                    }                                                                              \
                }                                                                                  \
                assert_int_equal(live, m->len);                                                    \
            }                                                                                      \
        }                                                                                          \
        uint32_t seen = 0;                                                                         \
        KEY k;                                                                                     \
        uint64_t v;                                                                                \
        for (uint32_t it = 0; PFX##_next(m, &it, &k, &v);) {                                       \
            assert_true(present[k / SPREAD]);                                                      \
            assert_int_equal(v, ref[k / SPREAD]);                                                  \
            seen++;                                                                                \
        }                                                                                          \
        assert_int_equal(seen, m->len);                                                            \
    }

RANDOM_OPS_DEFINE(krt__map, krt__map_t, uint64_t, 0x10001)
RANDOM_OPS_DEFINE(krt__imap, krt__imap_t, uint32_t, 7919)

static void test_map_matches_a_reference_under_random_operations(void **state)
{
    (void)state;
    uint64_t ref[RANDOM_KEYS];
    bool present[RANDOM_KEYS] = {false};
    krt__map_t m = {0};
    krt__map_random_ops(&m, 7, ref, present);
    krt__map_clear(&m);
    assert_int_equal(m.len, 0);
    assert_false(krt__map_get(&m, 0x10001, NULL));
    krt__map_dispose(&m);
}

static void test_imap_matches_a_reference_under_random_operations(void **state)
{
    (void)state;
    uint64_t ref[RANDOM_KEYS];
    bool present[RANDOM_KEYS] = {false};
    krt__imap_t m = {0};
    krt__imap_random_ops(&m, 11, ref, present);
    bool inserted = true;
    assert_non_null(krt__imap_upsert(&m, 3 * 7919, 0, &inserted));
    krt__imap_dispose(&m);
    assert_int_equal(m.cap, 0);
}

static void test_map_upsert_reports_insertion(void **state)
{
    (void)state;
    krt__map_t m = {0};
    bool ins = false;
    uint64_t *p = krt__map_upsert(&m, 42, 7, &ins);
    assert_non_null(p);
    assert_true(ins);
    assert_int_equal(*p, 7);
    *p = 9;
    p = krt__map_upsert(&m, 42, 7, &ins);
    assert_false(ins);
    assert_int_equal(*p, 9);
    assert_false(krt__map_del(&m, 43, NULL));
    krt__map_dispose(&m);
}

static void test_intern_refcounts_and_reuses_ids(void **state)
{
    (void)state;
    krt__intern_t in;
    krt__intern_init(&in);
    uint32_t a = krt__intern_ref(&in, "ns/a");
    uint32_t b = krt__intern_ref(&in, "ns/b");
    assert_int_not_equal(a, b);
    assert_int_equal(krt__intern_ref(&in, "ns/a"), a);
    assert_int_equal(krt__intern_find(&in, "ns/a"), a);
    assert_string_equal(krt__intern_str(&in, b), "ns/b");
    assert_int_equal(krt__intern_find(&in, "ns/c"), UINT32_MAX);
    krt__intern_unref(&in, a);
    assert_int_equal(krt__intern_find(&in, "ns/a"), a); /* one reference left */
    krt__intern_unref(&in, a);
    assert_int_equal(krt__intern_find(&in, "ns/a"), UINT32_MAX);
    assert_int_equal(krt__intern_check(&in), KRT_OK);
    /* The freed id is handed out again before the table grows. */
    uint32_t c = krt__intern_ref(&in, "ns/c");
    assert_int_equal(c, a);
    assert_int_equal(in.live, 2);
    assert_int_equal(krt__intern_check(&in), KRT_OK);
    krt__intern_dispose(&in);
}

static void test_intern_survives_churn_of_many_keys(void **state)
{
    (void)state;
    enum { N = 5000 };
    krt__intern_t in;
    krt__intern_init(&in);
    static uint32_t ids[N];
    char key[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof(key), "namespace-%d/object-%d", i % 7, i + round * N);
            ids[i] = krt__intern_ref(&in, key);
            assert_int_not_equal(ids[i], UINT32_MAX);
        }
        assert_int_equal(krt__intern_check(&in), KRT_OK);
        /* Drop every other key, then the rest: lookups keep working through the removals. */
        for (int i = 0; i < N; i += 2)
            krt__intern_unref(&in, ids[i]);
        for (int i = 1; i < N; i += 2) {
            snprintf(key, sizeof(key), "namespace-%d/object-%d", i % 7, i + round * N);
            assert_int_equal(krt__intern_find(&in, key), ids[i]);
        }
        for (int i = 1; i < N; i += 2)
            krt__intern_unref(&in, ids[i]);
        assert_int_equal(in.live, 0);
        assert_int_equal(krt__intern_check(&in), KRT_OK);
    }
    /* Ids were reused: the id space did not grow past one round's worth. */
    assert_true(in.len <= N);
    krt__intern_dispose(&in);
}

/* Strings that share 16-byte prefixes, end at or around byte 16, or are too long for the slab
 * (KRT__SLAB_MAX): lookups compare prefixes first, then the tails. */
static void test_intern_tells_apart_strings_with_shared_prefixes_and_any_length(void **state)
{
    (void)state;
    krt__intern_t in;
    krt__intern_init(&in);
    static char strs[12][400];
    snprintf(strs[0], 400, "0123456789abcde");   /* 15 bytes */
    snprintf(strs[1], 400, "0123456789abcdef");  /* 16 */
    snprintf(strs[2], 400, "0123456789abcdefg"); /* 17 */
    snprintf(strs[3], 400, "0123456789abcdefh");
    snprintf(strs[4], 400, "0123456789abcdefgh");
    snprintf(strs[5], 400, "%s", "");
    for (int i = 6; i < 12; i++) { /* around the slab limit */
        memset(strs[i], 'x', 400);
        strs[i][KRT__SLAB_MAX - 9 + i] = '\0'; /* lengths 253 .. 258 */
    }
    uint32_t ids[12];
    for (int i = 0; i < 12; i++) {
        ids[i] = krt__intern_ref(&in, strs[i]);
        assert_int_not_equal(ids[i], UINT32_MAX);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ids[i], ids[j]);
    }
    for (int i = 0; i < 12; i++) {
        assert_int_equal(krt__intern_find(&in, strs[i]), ids[i]);
        assert_string_equal(krt__intern_str(&in, ids[i]), strs[i]);
    }
    assert_int_equal(krt__intern_find(&in, "0123456789abcdefgi"), UINT32_MAX);
    assert_int_equal(krt__intern_find(&in, "0123456789abcd"), UINT32_MAX);
    assert_int_equal(krt__intern_check(&in), KRT_OK);
    /* A freed block is reused by the next string of its rounded size. */
    const char *old = krt__intern_str(&in, ids[2]);
    krt__intern_unref(&in, ids[2]);
    uint32_t again = krt__intern_ref(&in, "ZZZZZZZZZZZZZZZZZ"); /* 17 bytes, as strs[2] */
    assert_ptr_equal(krt__intern_str(&in, again), old);
    assert_int_equal(krt__intern_check(&in), KRT_OK);
    krt__intern_dispose(&in);
}

static const krt__intern_t *cmp_in;
static int strcmp_ids(const void *a, const void *b)
{
    return strcmp(cmp_in->strs[*(const uint32_t *)a], cmp_in->strs[*(const uint32_t *)b]);
}

static void test_intern_sort_orders_like_strcmp(void **state)
{
    (void)state;
    krt__intern_t in;
    krt__intern_init(&in);
    /* Shared prefixes longer than the 16 cached bytes, short keys, empty key, high bytes. */
    const char *fixed[] = {"", "a", "ab", "abc", "abcdefghijklmnop", "abcdefghijklmnopq",
                           "abcdefghijklmnopr", "abcdefghijklmnoo", "\xff", "\x7f", "ns/x",
                           "ns-0/pod-1", "ns-0/pod-10", "ns-0/pod-2", "default/httproute-00001",
                           "default/httproute-00002"};
    enum { NF = sizeof(fixed) / sizeof(fixed[0]), NR = 3000 };
    static uint32_t ids[NF + NR], want[NF + NR];
    size_t n = 0;
    for (size_t i = 0; i < NF; i++)
        ids[n++] = krt__intern_ref(&in, fixed[i]);
    rng_state = 11;
    char key[40];
    for (int i = 0; i < NR; i++) {
        int len = (int)(rng() % 30);
        for (int j = 0; j < len; j++)
            key[j] = "ab/-0z"[rng() % 6];
        key[len] = '\0';
        uint32_t id = krt__intern_ref(&in, key);
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = ids[j] == id;
        if (dup)
            krt__intern_unref(&in, id);
        else
            ids[n++] = id;
    }
    memcpy(want, ids, n * sizeof(uint32_t));
    cmp_in = &in;
    qsort(want, n, sizeof(uint32_t), strcmp_ids);
    krt__intern_sort(&in, ids, n);
    assert_memory_equal(ids, want, n * sizeof(uint32_t));
    /* Numeric mode. */
    krt__intern_sort(NULL, ids, n);
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i - 1] < ids[i]);
    for (size_t i = 0; i < n; i++)
        krt__intern_unref(&in, ids[i]);
    assert_int_equal(in.live, 0);
    krt__intern_dispose(&in);
}

static void test_vec_grows_and_keeps_elements(void **state)
{
    (void)state;
    krt__vec_t v = {0};
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(krt__vec_push(&v, sizeof(i), &i), KRT_OK);
    assert_int_equal(v.len, 1000);
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(KRT__VEC_AT(&v, uint32_t, i), i);
    krt__vec_dispose(&v);
    assert_null(v.data);
}

static void test_vec_shrink_keeps_elements_and_gives_back_room(void **state)
{
    (void)state;
    krt__vec_t v = {0};
    assert_int_equal(krt__vec_reserve(&v, sizeof(uint32_t), 1000), KRT_OK);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(krt__vec_push(&v, sizeof(i), &i), KRT_OK);
    krt__vec_shrink(&v, sizeof(uint32_t), 4); /* never below len */
    assert_int_equal(v.cap, 10);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(KRT__VEC_AT(&v, uint32_t, i), i);
    v.len = 0;
    krt__vec_shrink(&v, sizeof(uint32_t), 0);
    assert_null(v.data);
    assert_int_equal(v.cap, 0);
    krt__vec_dispose(&v);
}

static void test_map_clear_frees_a_grown_table_and_keeps_a_small_one(void **state)
{
    (void)state;
    krt__map_t m = {0};
    for (uint64_t k = 0; k < 10; k++)
        assert_int_equal(krt__map_put(&m, k, k), KRT_OK);
    uint32_t cap = m.cap;
    krt__map_clear(&m);
    assert_int_equal(m.len, 0);
    assert_int_equal(m.cap, cap);
    assert_false(krt__map_get(&m, 3, NULL));
    for (uint64_t k = 0; k < 1000; k++)
        assert_int_equal(krt__map_put(&m, k, k), KRT_OK);
    assert_true(m.cap > KRT__MAP_SCRATCH_KEEP);
    krt__map_clear(&m);
    assert_int_equal(m.len, 0);
    assert_int_equal(m.cap, 0);
    assert_false(krt__map_get(&m, 3, NULL));
    assert_int_equal(krt__map_put(&m, 3, 4), KRT_OK); /* usable again */
    krt__map_dispose(&m);
}

static void test_map_reserve_makes_the_next_insertions_and_finds_infallible(void **state)
{
    (void)state;
    krt__map_t m = {0};
    assert_int_equal(krt__map_reserve(&m, 100), KRT_OK);
    uint32_t cap = m.cap;
    assert_true(cap * 3 >= 100 * 4);
    for (uint64_t k = 0; k < 100; k++)
        assert_non_null(krt__map_upsert(&m, k, k, NULL));
    assert_int_equal(m.cap, cap); /* no growth within the reservation */
    /* Upserting a key already there never grows the table, even when full to the limit. */
    while ((uint64_t)(m.len + 1) * 4 <= (uint64_t)m.cap * 3)
        assert_non_null(krt__map_upsert(&m, 1000 + m.len, 0, NULL));
    cap = m.cap;
    bool inserted = true;
    uint64_t *v = krt__map_upsert(&m, 5, 0, &inserted);
    assert_non_null(v);
    assert_false(inserted);
    assert_int_equal(*v, 5);
    assert_int_equal(m.cap, cap);
    krt__map_dispose(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_matches_a_reference_under_random_operations),
        cmocka_unit_test(test_imap_matches_a_reference_under_random_operations),
        cmocka_unit_test(test_map_upsert_reports_insertion),
        cmocka_unit_test(test_intern_refcounts_and_reuses_ids),
        cmocka_unit_test(test_intern_survives_churn_of_many_keys),
        cmocka_unit_test(test_intern_tells_apart_strings_with_shared_prefixes_and_any_length),
        cmocka_unit_test(test_intern_sort_orders_like_strcmp),
        cmocka_unit_test(test_vec_grows_and_keeps_elements),
        cmocka_unit_test(test_vec_shrink_keeps_elements_and_gives_back_room),
        cmocka_unit_test(test_map_clear_frees_a_grown_table_and_keeps_a_small_one),
        cmocka_unit_test(test_map_reserve_makes_the_next_insertions_and_finds_infallible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
