/*
 * libFuzzer target for the JSON object type (krt/src/json.c): arbitrary bytes go through
 * krt_json_parse, and every accepted object has each accessor exercised and its canonical form
 * checked to be a fixed point (re-creating the object from its dump gives an equal object with the
 * same key and hash) and to read back as the same value once its tree is dropped. Any crash, sanitizer report or abort() is a bug.
 *
 * Build by hand (until CMake wires fuzz targets), from the repository root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -Ikrt/include -Ikrt/src tests/fuzz/fuzz_json.c krt/src/[a-z]*.c \
 *       -ljansson -lxxhash -lm -o /tmp/fuzz_json
 *   /tmp/fuzz_json -max_total_time=60 CORPUS_DIR   (seeds: tests/fuzz/corpus/json)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "krt/json.h"
#include "krt/krt.h"

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

/* Labels and selector views must be sorted and hold readable strings. */
static void check_view(const krt_labels_t *v)
{
    for (size_t i = 0; i < v->len; i++) {
        CHECK(v->items[i].key && v->items[i].value);
        (void)strlen(v->items[i].key);
        (void)strlen(v->items[i].value);
        if (i > 0) {
            int c = strcmp(v->items[i - 1].key, v->items[i].key);
            CHECK(c < 0 || (c == 0 && strcmp(v->items[i - 1].value, v->items[i].value) <= 0));
        }
    }
    CHECK(krt_labels_contain(v, v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int err = 1;
    const krt_obj_t *o = krt_json_parse((const char *)data, size, &err);
    if (!o) {
        CHECK(err == KRT_EINVAL || err == KRT_ENOMEM);
        return 0;
    }
    CHECK(err == KRT_OK);
    const krt_type_t *t = o->type;
    CHECK(t == &krt_json_type);

    const char *key = krt_obj_key(o);
    const char *name = krt_json_name(o), *ns = krt_json_namespace(o);
    CHECK(key && name && ns && *name);
    CHECK(strcmp(t->namespace_(o), ns) == 0);
    (void)strlen(krt_json_kind(o));
    /* The key is "ns/name" or "name". */
    size_t ns_len = strlen(ns);
    if (ns_len)
        CHECK(strncmp(key, ns, ns_len) == 0 && key[ns_len] == '/' &&
              strcmp(key + ns_len + 1, name) == 0);
    else
        CHECK(strcmp(key, name) == 0);

    krt_labels_t v;
    CHECK(t->labels(o, &v));
    check_view(&v);
    if (t->selector(o, &v))
        check_view(&v);
    else
        CHECK(v.len == 0);
    (void)t->size(o);

    const char *paths[] = {"metadata.name",
                           "metadata.namespace",
                           "kind",
                           "status.podIP",
                           "spec.selector.app",
                           "a..b",
                           "."};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        (void)krt_json_get_string(o, paths[i]);
    CHECK(strcmp(krt_json_get_string(o, "metadata.name"), name) == 0);

    /* Round trip: the dump re-creates an equal object. */
    json_t *d = krt_obj_dump(o);
    CHECK(d);
    char *before = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    const krt_obj_t *again = krt_json_new(d, &err); /* takes d */
    CHECK(again && err == KRT_OK);
    CHECK(again->hash == o->hash);
    CHECK(krt_obj_equal(o, again));
    CHECK(strcmp(krt_obj_key(again), key) == 0);
    krt_obj_release(again);

    /* The packed form reads back the same value: drop the tree, read it again from the bytes. */
    krt_json_tree_limit(0);
    krt_json_trim();
    json_t *back = krt_json_value(o);
    char *after = back ? json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    krt_json_tree_limit(SIZE_MAX);
    CHECK(!before || (after && strcmp(before, after) == 0));
    free(before);
    free(after);

    krt_obj_release(krt_obj_retain(o));
    krt_obj_release(o);
    return 0;
}
