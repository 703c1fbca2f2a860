/*
 * Oracle: random edit sequences over golden fixtures. After every flush, what the incremental
 * graph holds (every resource and status, tr_graph_dump_lines) must equal what a fresh engine and
 * graph compute from the same objects in one go. Edits are drawn by a seeded PRNG (deterministic):
 * delete an object, put back a deleted one, put back an object as the fixture has it (so the
 * walk keeps returning to meaningful states), or change one value of an object — a string replaced
 * by another string seen in the fixture (so names keep pointing at things), a number by another
 * number, a boolean flipped, an array element dropped or duplicated. Object identities
 * (apiVersion, kind, metadata.name, metadata.namespace) are never edited.
 */
#include "tr_test.h"

#define GOLDEN_DIR KRT_SOURCE_DIR "/tests/translate/golden"

static const char *const fixtures[] = {
    "own-listeners",
    "own-filters",
    "own-addresses",
    "conf-httproute-multiple-gateways",
    "conf-gateway-with-attached-routes",
    "conf-httproute-hostname-intersection",
    "conf-httproute-reference-grant",
    "conf-gateway-secret-reference-grant-specific",
    "conf-httproute-listener-port-matching",
    "conf-tlsroute-invalid-reference-grant",
    "own-agw-backends",
    "own-agw-policies",
    "own-listenersets",
    "conf-listenerset-hostname-conflict",
};

#define STEPS 100
#define SEEDS 3

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? (uint32_t)(rng_state % n) : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Value pools and mutation.
 * ------------------------------------------------------------------------------------------- */
typedef struct pool {
    json_t *strings;
    json_t *numbers;
} pool_t;

static void pool_collect(pool_t *p, json_t *v)
{
    if (json_is_string(v)) {
        json_array_append(p->strings, v);
    } else if (json_is_integer(v)) {
        json_array_append(p->numbers, v);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) pool_collect(p, x);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) pool_collect(p, x);
    }
}

typedef struct slot {
    json_t *parent; /* object or array */
    const char *key;
    size_t index;
} slot_t;

/* Lists every editable value of |v| (identity fields excluded). */
static void slots_collect(json_t *v, bool top, bool in_metadata, slot_t **out, size_t *n,
                          size_t *cap)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (top && (strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0))
                continue;
            if (in_metadata && (strcmp(k, "name") == 0 || strcmp(k, "namespace") == 0))
                continue;
            bool md = top && strcmp(k, "metadata") == 0;
            if (md) { /* its name and namespace are the identity: edit inside it only */
                slots_collect(x, false, true, out, n, cap);
                continue;
            }
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 32;
                *out = realloc(*out, *cap * sizeof **out);
            }
            (*out)[(*n)++] = (slot_t){v, k, 0};
            slots_collect(x, false, false, out, n, cap);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 32;
                *out = realloc(*out, *cap * sizeof **out);
            }
            (*out)[(*n)++] = (slot_t){v, NULL, i};
            slots_collect(x, false, false, out, n, cap);
        }
    }
}

static json_t *slot_get(const slot_t *s)
{
    return s->key ? json_object_get(s->parent, s->key) : json_array_get(s->parent, s->index);
}

static void slot_set(const slot_t *s, json_t *v)
{
    if (s->key)
        json_object_set_new(s->parent, s->key, v);
    else
        json_array_set_new(s->parent, s->index, v);
}

/* Changes one value of |obj| (a deep copy we own). Returns: true when something changed. */
static bool mutate(json_t *obj, const pool_t *p)
{
    slot_t *slots = NULL;
    size_t n = 0, cap = 0;
    slots_collect(obj, true, false, &slots, &n, &cap);
    bool changed = false;
    for (int tries = 0; tries < 8 && !changed && n; tries++) {
        slot_t *s = &slots[rnd((uint32_t)n)];
        json_t *cur = slot_get(s);
        if (json_is_string(cur)) {
            json_t *nv = json_array_get(p->strings, rnd((uint32_t)json_array_size(p->strings)));
            if (nv && !json_equal(nv, cur)) {
                slot_set(s, json_copy(nv));
                changed = true;
            }
        } else if (json_is_integer(cur)) {
            json_t *nv = json_array_get(p->numbers, rnd((uint32_t)json_array_size(p->numbers)));
            if (nv && !json_equal(nv, cur)) {
                slot_set(s, json_copy(nv));
                changed = true;
            }
        } else if (json_is_boolean(cur)) {
            slot_set(s, json_boolean(!json_is_true(cur)));
            changed = true;
        } else if (json_is_array(cur) && json_array_size(cur)) {
            size_t i = rnd((uint32_t)json_array_size(cur));
            if (rnd(2))
                json_array_remove(cur, i);
            else
                json_array_append_new(cur, json_deep_copy(json_array_get(cur, i)));
            changed = true;
        } else if (json_is_object(cur) && s->key && rnd(4) == 0) {
            json_object_del(s->parent, s->key);
            changed = true;
        }
    }
    free(slots);
    return changed;
}

/* ---------------------------------------------------------------------------------------------
 * The oracle.
 * ------------------------------------------------------------------------------------------- */
/* Every object the source holds now (new references). */
static size_t source_objects(trt_t *t, json_t **out, size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < tr_source_kinds_len; k++) {
        krt_collection_t *c = kube_source_collection(t->src, tr_source_kinds[k]);
        size_t len = krt_collection_len(c);
        const krt_obj_t **objs = malloc((len + 1) * sizeof *objs);
        krt_collection_list(c, objs, len);
        for (size_t i = 0; i < len && n < cap; i++)
            out[n++] = json_incref(krt_json_value(objs[i]));
        free(objs);
    }
    return n;
}

static char *from_scratch(json_t **objs, size_t n)
{
    trt_t t;
    trt_init(&t);
    for (size_t i = 0; i < n; i++) {
        kube_change_t c = {KUBE_CHANGE_PUT, objs[i], NULL, "oracle", false};
        assert_int_equal(kube_source_apply(t.src, &c, 1), KUBE_OK);
    }
    trt_mark_synced(&t);
    trt_flush(&t);
    char *lines = tr_graph_dump_lines(t.g);
    trt_dispose(&t);
    return lines;
}

#define MAX_OBJS 512

static int total_changed;

static void run_fixture(const char *name, uint64_t seed)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/in.yaml", GOLDEN_DIR, name);
    kube_manifest_t m;
    kube_manifest_init(&m);
    trt_parse_file(&m, path);
    pool_t p = {json_array(), json_array()};
    for (size_t i = 0; i < m.nitems; i++)
        pool_collect(&p, m.items[i].object);
    static const char *const extra[] = {"",         "*",           "*.example.com",
                                        "All",      "Same",        "Selector",
                                        "HTTP",     "HTTPS",       "TLS",
                                        "TCP",      "Passthrough", "Terminate",
                                        "10.9.9.9", "Exact",       "RegularExpression"};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        json_array_append_new(p.strings, json_string(extra[i]));
    json_array_append_new(p.numbers, json_integer(0));
    json_array_append_new(p.numbers, json_integer(443));

    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    trt_t t;
    trt_init(&t);
    trt_apply_manifest(&t, &m);
    trt_mark_synced(&t);
    trt_flush(&t);
    json_t *deleted = json_array();
    json_t **objs = malloc(MAX_OBJS * sizeof *objs);
    char *prev = tr_graph_dump_lines(t.g);
    int changed_steps = 0;

    for (int step = 0; step < STEPS; step++) {
        int edits = 1 + (int)rnd(3);
        for (int e = 0; e < edits; e++) {
            size_t n = source_objects(&t, objs, MAX_OBJS);
            uint32_t what = rnd(10);
            if (what <= 1 && m.nitems) { /* back to the fixture's version: keeps the walk alive */
                kube_change_t c = {KUBE_CHANGE_PUT, m.items[rnd((uint32_t)m.nitems)].object, NULL,
                                   "oracle", false};
                assert_int_equal(kube_source_apply(t.src, &c, 1), KUBE_OK);
            } else if (what == 2 && n) { /* delete */
                json_t *victim = objs[rnd((uint32_t)n)];
                kube_change_t c = {KUBE_CHANGE_DELETE, victim, NULL, "oracle", false};
                assert_int_equal(kube_source_apply(t.src, &c, 1), KUBE_OK);
                json_array_append(deleted, victim);
            } else if (what == 3 && json_array_size(deleted)) { /* put back */
                size_t i = rnd((uint32_t)json_array_size(deleted));
                kube_change_t c = {KUBE_CHANGE_PUT, json_array_get(deleted, i), NULL, "oracle",
                                   false};
                assert_int_equal(kube_source_apply(t.src, &c, 1), KUBE_OK);
                json_array_remove(deleted, i);
            } else if (n) { /* change one value */
                json_t *copy = json_deep_copy(objs[rnd((uint32_t)n)]);
                if (mutate(copy, &p)) {
                    kube_change_t c = {KUBE_CHANGE_PUT, copy, NULL, "oracle", false};
                    assert_int_equal(kube_source_apply(t.src, &c, 1), KUBE_OK);
                }
                json_decref(copy);
            }
            for (size_t i = 0; i < n; i++)
                json_decref(objs[i]);
        }
        trt_flush(&t);
        trt_check_outputs(&t);
        char *got = tr_graph_dump_lines(t.g);
        size_t n = source_objects(&t, objs, MAX_OBJS);
        char *want = from_scratch(objs, n);
        for (size_t i = 0; i < n; i++)
            json_decref(objs[i]);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "oracle %s seed %llu step %d: incremental != from scratch\n", name,
                    (unsigned long long)seed, step);
            fprintf(stderr, "--- incremental\n%s--- from scratch\n%s", got, want);
            fail();
        }
        if (strcmp(prev, got) != 0)
            changed_steps++;
        free(prev);
        prev = got;
        free(want);
    }
    /* the edits must have mattered (test_random_edits_... checks the share over all runs) */
    if (changed_steps < 5)
        fail_msg("oracle %s seed %llu: only %d of %d steps changed anything", name,
                 (unsigned long long)seed, changed_steps, STEPS);
    total_changed += changed_steps;
    free(prev);
    free(objs);
    json_decref(deleted);
    json_decref(p.strings);
    json_decref(p.numbers);
    trt_dispose(&t);
    kube_manifest_dispose(&m);
}

static void test_random_edits_match_from_scratch_translation(void **state)
{
    (void)state;
    size_t nf = sizeof fixtures / sizeof *fixtures;
    for (size_t f = 0; f < nf; f++)
        for (uint64_t seed = 1; seed <= SEEDS; seed++)
            run_fixture(fixtures[f], seed);
    /* a third of all steps changed the translation, so the comparison was not of idle states */
    fprintf(stderr, "oracle: %d of %zu steps changed the translation\n", total_changed,
            nf * SEEDS * STEPS);
    assert_true((size_t)total_changed * 3 >= nf * SEEDS * STEPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_edits_match_from_scratch_translation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
