/*
 * libFuzzer target for the manifest parser (kube/manifest.c) and the source it feeds
 * (kube/source.c): arbitrary bytes are parsed as a manifest file; the result must keep its
 * invariants (M1-M3 in kube/manifest.h: every object has a string apiVersion, kind and a valid
 * metadata.name, no two objects share a value, every message starts with "FILE:"), every object
 * must have an identity, and the objects are then put into a kube source and deleted again, with
 * the engine's own invariant check after each flush. Any crash, sanitizer report or abort() is a
 * bug. Seeds: tests/fuzz/corpus/manifest (Gateway API conformance manifests and our own cases).
 *
 * Needs: krtgate_kube (libyaml, libuv, jansson) and krt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "krt/krt.h"
#include "kube/manifest.h"
#include "kube/source.h"

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static void quiet(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

static void check_manifest(const kube_manifest_t *m)
{
    CHECK(kube_manifest_check(m) == KUBE_OK);
    CHECK(m->nitems <= m->cap_items && m->nerrors <= m->cap_errors);
    for (size_t i = 0; i < m->nitems; i++) {
        json_t *o = m->items[i].object;
        CHECK(json_is_object(o) && o->refcount >= 1);
        const char *av = json_string_value(json_object_get(o, "apiVersion"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        json_t *md = json_object_get(o, "metadata");
        const char *name = json_string_value(json_object_get(md, "name"));
        json_t *ns = json_object_get(md, "namespace");
        CHECK(av && *av && kind && *kind && name && *name && !strchr(name, '/'));
        CHECK(!ns || (json_is_string(ns) && !strchr(json_string_value(ns), '/')));
        CHECK(m->items[i].line >= 1 && m->items[i].column >= 1);
        if (i > 0)
            CHECK(m->items[i - 1].object != o);
        int err = 1;
        char *id = kube_object_identity(o, &err);
        CHECK(id && err == KUBE_OK);
        free(id);
    }
    for (size_t i = 0; i < m->nerrors; i++)
        CHECK(m->errors[i].message && strncmp(m->errors[i].message, "fuzz.yaml:", 10) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Smaller bounds than the defaults keep each input fast; the logic is the same. */
    kube_manifest_limits_t lim = kube_manifest_default_limits;
    lim.max_nodes = 20000;
    lim.max_alias_nodes = 20000;
    lim.max_errors = 20;

    kube_manifest_t m;
    kube_manifest_init(&m);
    int rc = kube_manifest_parse(&m, "fuzz.yaml", data, size, &lim);
    CHECK(rc == KUBE_OK || rc == KUBE_ENOMEM);
    check_manifest(&m);

    krt_engine_t *e = krt_engine_new();
    CHECK(e);
    krt_engine_set_log(e, quiet, NULL);
    kube_source_options_t so = {.log = quiet};
    kube_source_t *src = kube_source_new(e, &so);
    CHECK(src);
    kube_change_t *cs = calloc(m.nitems + 1, sizeof *cs);
    CHECK(cs);
    for (size_t i = 0; i < m.nitems; i++)
        cs[i] = (kube_change_t){KUBE_CHANGE_PUT, m.items[i].object, NULL, "fuzz.yaml", false};
    cs[m.nitems] = (kube_change_t){KUBE_CHANGE_SYNCED, NULL, NULL, NULL, false};
    rc = kube_source_apply(src, cs, m.nitems + 1);
    CHECK(rc == KUBE_OK || rc == KUBE_EOBJECT || rc == KUBE_ENOMEM);
    CHECK(krt_engine_flush(e) == KRT_OK);
    CHECK(krt_engine_check(e) == KRT_OK);
    for (size_t i = 0; i < m.nitems; i++)
        cs[i].op = KUBE_CHANGE_DELETE;
    kube_source_apply(src, cs, m.nitems);
    CHECK(krt_engine_flush(e) == KRT_OK);
    CHECK(krt_engine_check(e) == KRT_OK);
    for (size_t i = 0; i < kube_kinds_len; i++) {
        krt_collection_t *c = kube_source_collection(src, kube_kinds[i].kind);
        CHECK(krt_collection_len(c) == 0 && krt_collection_synced(c));
    }
    free(cs);
    kube_source_free(src);
    krt_engine_free(e);
    kube_manifest_dispose(&m);
    return 0;
}
