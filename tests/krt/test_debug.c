/*
 * Observability: the collection dump (JSON), the engine dump, the DOT graph, stats counters, error
 * strings, and the debug invariant check.
 *
 * krt.h promises that a collection dump carries its kind, synced state, sizes and counters, and for
 * derived collections each input with its outputs and dependencies; and that DOT output is the
 * collection graph. These tests hold the engine to that, reading the dump the way an operator's
 * tool would (by field name) and the DOT the way Graphviz would (node ids, labels, edges).
 */
#include "krt_test_util.h"

/* ---------------------------------------------------------------------------------------------
 * DOT helpers: a node is declared on a line without "->" as `ID [label="NAME..."]` (or as the
 * name itself); an edge is `ID -> ID`.
 * ------------------------------------------------------------------------------------------- */

/* Copies the first whitespace-delimited token of |line| into |out|. */
static void first_token(const char *line, char *out, size_t cap)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = 0;
    while (line[n] && line[n] != ' ' && line[n] != '\t' && line[n] != '[' && line[n] != ';' &&
           n + 1 < cap)
        n++;
    memcpy(out, line, n);
    out[n] = '\0';
}

/* Finds the node id of the collection called |name| in |dot|; returns false if none. */
static bool dot_node_id(const char *dot, const char *name, char *id, size_t cap)
{
    char want_label[128], want_quoted[128];
    snprintf(want_label, sizeof(want_label), "label=\"%s", name);
    snprintf(want_quoted, sizeof(want_quoted), "\"%s\"", name);
    for (const char *line = dot; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        /* Labels may span "lines" through escaped \n; a real newline ends the statement. */
        if (!strstr(buf, "->")) {
            char tok[128];
            first_token(buf, tok, sizeof(tok));
            const char *l = strstr(buf, want_label);
            if (l) {
                char after = l[strlen(want_label)];
                if (after == '"' || after == '\\') {
                    snprintf(id, cap, "%s", tok);
                    return true;
                }
            }
            if (!strcmp(tok, name) || !strcmp(tok, want_quoted)) {
                snprintf(id, cap, "%s", tok);
                return true;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

static bool dot_has_edge(const char *dot, const char *from, const char *to)
{
    char fid[128], tid[128];
    if (!dot_node_id(dot, from, fid, sizeof(fid)) || !dot_node_id(dot, to, tid, sizeof(tid)))
        return false;
    for (const char *line = dot; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        char *arrow = strstr(buf, "->");
        if (arrow) {
            char lhs[128], rhs[128];
            *arrow = '\0';
            first_token(buf, lhs, sizeof(lhs));
            first_token(arrow + 2, rhs, sizeof(rhs));
            if (!strcmp(lhs, fid) && !strcmp(rhs, tid))
                return true;
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

static int lookup_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    krt_collection_t *lookup = ud;
    const krt_obj_t *o = krt_fetch_key(ctx, lookup, kv_value(in));
    return krt_emit(ctx, kv_new(krt_obj_key(in), o ? kv_value(o) : "-"));
}

static int copy_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    return krt_emit(ctx, kv_new(krt_obj_key(in), kv_value(in)));
}

static void test_debug_dot_names_every_collection_and_edge(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *lookup = krt_static_new(env.e, &test_kv_type, "lookup", true);
    krt_collection_t *mid =
        krt_derive_new(env.e, src, &test_kv_type, "mid", KRT_DERIVE_ONE, lookup_fn, lookup);
    krt_collection_t *side =
        krt_derive_new(env.e, src, &test_kv_type, "side", KRT_DERIVE_ONE, copy_fn, NULL);
    krt_collection_t *members[] = {mid, side};
    krt_collection_t *joined = krt_join_new(env.e, members, 2, "joined");
    krt_collection_t *leaf =
        krt_derive_new(env.e, joined, &test_kv_type, "leaf", KRT_DERIVE_ONE, copy_fn, NULL);
    assert_non_null(leaf);
    PUT(src, kv_new("a", "w"));
    PUT(lookup, kv_new("w", "1"));
    FLUSH(env.e);

    char *dot = krt_engine_dot(env.e);
    assert_non_null(dot);
    assert_non_null(strstr(dot, "digraph"));
    const char *names[] = {"src", "lookup", "mid", "side", "joined", "leaf"};
    char id[128];
    for (size_t i = 0; i < 6; i++) {
        if (!dot_node_id(dot, names[i], id, sizeof(id)))
            print_error("no node for %s in:\n%s\n", names[i], dot);
        assert_true(dot_node_id(dot, names[i], id, sizeof(id)));
    }
    const char *edges[][2] = {{"src", "mid"},    {"lookup", "mid"},  {"src", "side"},
                              {"mid", "joined"}, {"side", "joined"}, {"joined", "leaf"}};
    for (size_t i = 0; i < 6; i++) {
        if (!dot_has_edge(dot, edges[i][0], edges[i][1]))
            print_error("no edge %s -> %s in:\n%s\n", edges[i][0], edges[i][1], dot);
        assert_true(dot_has_edge(dot, edges[i][0], edges[i][1]));
    }
    /* And no edge that is not in the graph. */
    assert_false(dot_has_edge(dot, "leaf", "src"));
    assert_false(dot_has_edge(dot, "lookup", "side"));
    krt_free(dot);
    test_env_dispose(&env);
}

static json_int_t jint(const json_t *o, const char *field)
{
    const json_t *v = json_object_get(o, field);
    if (!json_is_integer(v))
        fail_msg("field %s is not an integer", field);
    return json_integer_value(v);
}

/* Asserts the counters of a dump equal the collection's stats, wherever the dump keeps them (at
 * the top level or under "stats"). */
static void expect_counters(const json_t *d, const krt_collection_t *c)
{
    krt_stats_t s = test_stats(c);
    const json_t *st = json_object_get(d, "stats");
    if (!json_is_object(st))
        st = d;
    assert_int_equal(jint(st, "recomputes"), (json_int_t)s.recomputes);
    assert_int_equal(jint(st, "events"), (json_int_t)s.events);
    assert_int_equal(jint(st, "batches"), (json_int_t)s.batches);
    assert_int_equal(jint(st, "outputs"), (json_int_t)s.outputs);
    assert_int_equal(jint(st, "errors"), (json_int_t)s.errors);
    assert_int_equal(jint(st, "dup_keys"), (json_int_t)s.dup_keys);
}

static void test_debug_collection_dump_has_the_documented_fields(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *lookup = krt_static_new(env.e, &test_kv_type, "lookup", false);
    krt_collection_t *mid =
        krt_derive_new(env.e, src, &test_kv_type, "mid", KRT_DERIVE_ONE, lookup_fn, lookup);
    PUT(src, kv_new("a", "w"));
    PUT(src, kv_new("b", "x"));
    PUT(lookup, kv_new("w", "1"));
    FLUSH(env.e);

    /* Static. */
    json_t *d = krt_collection_dump(src);
    assert_true(json_is_object(d));
    assert_string_equal(json_string_value(json_object_get(d, "name")), "src");
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "static");
    assert_true(json_is_true(json_object_get(d, "synced")));
    expect_counters(d, src);
    json_decref(d);

    d = krt_collection_dump(lookup);
    assert_true(json_is_false(json_object_get(d, "synced")));
    json_decref(d);

    /* Derived: each input with its outputs and dependencies. */
    d = krt_collection_dump(mid);
    assert_string_equal(json_string_value(json_object_get(d, "name")), "mid");
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "derived");
    assert_true(json_is_boolean(json_object_get(d, "synced")));
    assert_false(json_is_true(json_object_get(d, "synced")));
    expect_counters(d, mid);
    const json_t *inputs = json_object_get(d, "inputs");
    assert_non_null(inputs);
    assert_true(json_is_object(inputs) || json_is_array(inputs));
    const json_t *ia = NULL;
    if (json_is_object(inputs)) {
        assert_int_equal(json_object_size(inputs), 2);
        ia = json_object_get(inputs, "a");
    } else {
        assert_int_equal(json_array_size(inputs), 2);
        ia = json_array_get(inputs, 0);
    }
    assert_non_null(ia);
    const json_t *outs = json_object_get(ia, "outputs");
    const json_t *deps = json_object_get(ia, "dependencies");
    assert_true(json_is_array(outs));
    assert_true(json_is_array(deps));
    assert_int_equal(json_array_size(outs), 1);
    assert_int_equal(json_array_size(deps), 1);
    char *deps_s = json_dumps(deps, JSON_COMPACT);
    assert_non_null(strstr(deps_s, "lookup"));
    assert_non_null(strstr(deps_s, "\"w\""));
    free(deps_s);

    /* Valid JSON: it serializes and parses back to an equal value. */
    char *text = json_dumps(d, JSON_COMPACT);
    assert_non_null(text);
    json_error_t err;
    json_t *back = json_loads(text, 0, &err);
    assert_non_null(back);
    assert_true(json_equal(back, d));
    json_decref(back);
    free(text);
    json_decref(d);

    test_env_dispose(&env);
}

static void test_debug_engine_dump_lists_every_collection(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *copy =
        krt_derive_new(env.e, src, &test_kv_type, "copy", KRT_DERIVE_ONE, copy_fn, NULL);
    krt_collection_t *gone = krt_static_new(env.e, &test_kv_type, "gone", true);
    assert_int_equal(krt_collection_free(gone), KRT_OK);
    (void)copy;
    FLUSH(env.e);
    FLUSH(env.e);
    json_t *d = krt_engine_dump(env.e);
    assert_true(json_is_object(d));
    assert_int_equal(jint(d, "flushes"), 2);
    const json_t *cols = json_object_get(d, "collections");
    assert_true(json_is_array(cols));
    assert_int_equal(json_array_size(cols), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 0), "name")), "src");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 1), "name")),
                        "copy");
    char *text = json_dumps(d, JSON_COMPACT);
    assert_non_null(text);
    free(text);
    json_decref(d);
    test_env_dispose(&env);
}

static void test_debug_stats_count_events_batches_and_sizes(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *copy =
        krt_derive_new(env.e, src, &test_kv_type, "copy", KRT_DERIVE_ONE, copy_fn, NULL);
    PUT(src, kv_new("a", "1"));
    PUT(src, kv_new("b", "1"));
    FLUSH(env.e);
    PUT(src, kv_new("a", "2"));
    FLUSH(env.e);
    krt_stats_t s = test_stats(copy);
    assert_int_equal(s.recomputes, 3);
    assert_int_equal(s.events, 3);
    assert_int_equal(s.batches, 2);
    assert_int_equal(s.inputs, 2);
    assert_int_equal(s.outputs, 2);
    assert_int_equal(s.errors, 0);
    assert_int_equal(s.dup_keys, 0);
    assert_int_equal(s.deps, 0);
    assert_true(s.bytes > 0);
    krt_stats_t ss = test_stats(src);
    assert_int_equal(ss.events, 3);
    assert_int_equal(ss.batches, 2);
    assert_int_equal(ss.outputs, 2);
    test_env_dispose(&env);
}

static void test_debug_error_strings_come_from_one_table(void **state)
{
    (void)state;
    assert_string_equal(krt_err_name(KRT_OK), "KRT_OK");
    assert_string_equal(krt_err_name(KRT_EDUPKEY), "KRT_EDUPKEY");
    assert_string_equal(krt_err_name(KRT_EINVARIANT), "KRT_EINVARIANT");
    assert_string_equal(krt_strerror(KRT_EORDER),
                        "a collection may only read collections created before it");
    assert_string_equal(krt_strerror(KRT_OK), "success");
    assert_string_equal(krt_strerror(12345), "unknown error");
    assert_string_equal(krt_strerror(-12345), "unknown error");
    assert_non_null(krt_err_name(-12345));
}

static void test_debug_object_basics(void **state)
{
    (void)state;
    const krt_obj_t *a = kv_new("k", "v");
    const krt_obj_t *b = kv_new("k", "v");
    const krt_obj_t *c = kv_new("k", "w");
    const krt_obj_t *p = pod_new("ns", "k", NULL, NULL);
    assert_true(krt_obj_equal(a, a));
    assert_true(krt_obj_equal(a, b));
    assert_false(krt_obj_equal(a, c));
    assert_false(krt_obj_equal(a, p));
    assert_false(krt_obj_equal(a, NULL));
    assert_true(krt_obj_equal(NULL, NULL));
    assert_int_equal(a->hash, b->hash);
    assert_string_equal(krt_obj_key(a), "k");
    json_t *d = krt_obj_dump(a);
    assert_string_equal(json_string_value(json_object_get(d, "value")), "v");
    json_decref(d);
    assert_ptr_equal(krt_obj_retain(a), a);
    krt_obj_release(a);
    krt_obj_release(a);
    krt_obj_release(b);
    krt_obj_release(c);
    krt_obj_release(p);
    assert_int_not_equal(krt_hash_str(NULL, 0), krt_hash_str("", 0));

    krt_label_t have_l[] = {{"b", "2"}, {"a", "1"}};
    krt_label_t want_l[] = {{"a", "1"}};
    krt_label_t other_l[] = {{"a", "2"}};
    krt_labels_t have = {have_l, 2}, want = {want_l, 1}, other = {other_l, 1}, none = {NULL, 0};
    assert_true(krt_labels_contain(&have, &want));
    assert_true(krt_labels_contain(&have, &none));
    assert_false(krt_labels_contain(&have, &other));
    assert_false(krt_labels_contain(&none, &want));
}

static void test_debug_check_holds_through_a_busy_scenario(void **state)
{
    (void)state;
    test_env_t env;
    krt_collection_t *src = test_env_init_static(&env, &test_kv_type, "src");
    krt_collection_t *lookup = krt_static_new(env.e, &test_kv_type, "lookup", true);
    krt_collection_t *mid =
        krt_derive_new(env.e, src, &test_kv_type, "mid", KRT_DERIVE_ONE, lookup_fn, lookup);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 10; i++) {
            char k[16], v[16];
            snprintf(k, sizeof(k), "k%d", (i * 7 + round) % 13);
            snprintf(v, sizeof(v), "w%d", (i + round) % 4);
            if ((i + round) % 5 == 0)
                krt_static_delete(src, k);
            else
                PUT(src, kv_new(k, v));
            CHECK(env.e);
            PUT(lookup, kv_newf(v, "%d", round));
        }
        FLUSH(env.e);
        /* Every output agrees with a from-scratch reading of the sources. */
        const krt_obj_t *objs[32];
        size_t n = krt_collection_list(src, objs, 32);
        assert_int_equal(krt_collection_len(mid), n);
        for (size_t i = 0; i < n; i++) {
            const krt_obj_t *w = krt_collection_get(lookup, kv_value(objs[i]));
            assert_string_equal(kv_get(mid, krt_obj_key(objs[i])), w ? kv_value(w) : "-");
        }
    }
    test_env_dispose(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debug_dot_names_every_collection_and_edge),
        cmocka_unit_test(test_debug_collection_dump_has_the_documented_fields),
        cmocka_unit_test(test_debug_engine_dump_lists_every_collection),
        cmocka_unit_test(test_debug_stats_count_events_batches_and_sizes),
        cmocka_unit_test(test_debug_error_strings_come_from_one_table),
        cmocka_unit_test(test_debug_object_basics),
        cmocka_unit_test(test_debug_check_holds_through_a_busy_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
