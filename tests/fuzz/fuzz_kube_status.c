/*
 * libFuzzer target for what the controller's writers read from the API server: TokenReview
 * answers (kube/tokenreview.c) and objects whose status or fields are compared and patched
 * (kube/status_writer.c, kube/api.c). The input is split at the first NUL: the first part is a
 * JSON document (the object as the API server returned it, also read as a TokenReview answer),
 * the second our stanza. Properties checked:
 *   - kube_tokenreview_parse never crashes and says authenticated only for a well-formed answer;
 *   - for each merge rule, the desired status is computed, and applying the merge patch from the
 *     object's status to the desired one (RFC 7386) gives exactly the desired one;
 *   - kube_json_covers(cur, want) holds after applying kube_merge_patch(cur, want, false).
 * Any crash, sanitizer report or abort() is a bug. Seeds: tests/fuzz/corpus/kube_status.
 *
 * Needs: krtgate_kube (jansson) and krt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kube/api.h"
#include "kube/status_writer.h"
#include "kube/tokenreview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

/* RFC 7386: applies |patch| to |target| (an object, modified). */
static void apply(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            apply(t, v);
        } else {
            json_object_set(target, k, v);
        }
    }
}

/* Drops members whose value is null: a merge patch cannot produce them. */
static void strip_nulls(json_t *o)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, k, v) {
        if (json_is_null(v))
            json_object_del(o, k);
        else if (json_is_object(v))
            strip_nulls(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n1 = nul ? (size_t)(nul - data) : size;
    const char *text = (const char *)data;

    kube_tokenreview_result_t r;
    if (kube_tokenreview_parse(201, text, n1, "agentgateway", &r) == KUBE_OK && r.authenticated) {
        char reason[256];
        int st = kube_tokenreview_decide(&r, "ns/gw", reason, sizeof reason);
        CHECK(st == 0 || st == 7);
    }

    json_t *obj = json_loadb(text, n1, JSON_DECODE_ANY, NULL);
    json_t *ours = nul ? json_loadb((const char *)nul + 1, size - n1 - 1, 0, NULL) : NULL;
    if (json_is_object(obj)) {
        for (int m = KUBE_STATUS_REPLACE; m <= KUBE_STATUS_ANCESTORS; m++) {
            json_t *d = kube_status_desired(obj, json_is_object(ours) ? ours : NULL,
                                            (kube_status_merge_t)m, "a.b/c", "2026-01-01T00:00:00Z");
            if (!d)
                continue;
            strip_nulls(d);
            json_t *cur = json_object_get(obj, "status");
            json_t *base = json_is_object(cur) ? json_deep_copy(cur) : json_object();
            strip_nulls(base); /* the API server stores no nulls */
            bool oom = false;
            json_t *p = kube_merge_patch(base, d, true, &oom);
            if (!oom) {
                if (p)
                    apply(base, p);
                CHECK(json_equal(base, d));
            }
            json_decref(p);
            json_decref(base);
            json_decref(d);
        }
        if (json_is_object(ours)) {
            json_t *base = json_deep_copy(obj);
            strip_nulls(base);
            json_t *want = json_deep_copy(ours);
            strip_nulls(want);
            bool oom = false;
            json_t *p = kube_merge_patch(base, want, false, &oom);
            if (!oom) {
                if (p)
                    apply(base, p);
                CHECK(kube_json_covers(base, want));
            }
            json_decref(p);
            json_decref(want);
            json_decref(base);
        }
    }
    json_decref(obj);
    json_decref(ours);
    return 0;
}
