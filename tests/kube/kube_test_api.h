/*
 * Test helpers the kube writer tests share (test_api_pump.c, test_status_writer.c,
 * test_deployer.c): a fake kube_api_t that records what is sent, and a JSON put into a krt static
 * collection.
 *
 * The fake either keeps each request for the test to answer through |cb| (the way a real client
 * answers later, from the loop), or, with a |script|, answers inside the request function (the way
 * a request that cannot start ends at once, kube/api.h): request n gets script[n-1], the last
 * entry repeating.
 */
#ifndef KUBE_TEST_API_H
#define KUBE_TEST_API_H

#include <stdio.h>
#include <string.h>

#include "krt/json.h"
#include "krt/krt.h"
#include "kube/api.h"

typedef struct kube_test_answer {
    int err;          /* KUBE_OK: answer |status| with |body|; else fail with it (no response) */
    int status;
    const char *body; /* NULL: "{}" */
} kube_test_answer_t;

typedef struct kube_test_api {
    int sent, cancelled;
    char methods[8][16];      /* the first 8 methods sent */
    char last[16];            /* the last method sent */
    kube_response_cb cb;      /* the request kept for the test; NULL once cancelled */
    void *cb_ud;
    const kube_test_answer_t *script; /* non-NULL: answer inside the request */
    size_t script_len;
} kube_test_api_t;

static inline int kube_test_api_request(void *ud, const char *method, const char *path,
                                        const char *ct, const char *body, size_t len,
                                        kube_response_cb cb, void *cb_ud, kube_call_t **call)
{
    (void)path, (void)ct, (void)body, (void)len;
    kube_test_api_t *f = ud;
    if (f->sent < 8)
        snprintf(f->methods[f->sent], sizeof f->methods[0], "%s", method);
    snprintf(f->last, sizeof f->last, "%s", method);
    f->sent++;
    *call = (kube_call_t *)f;
    if (!f->script) {
        f->cb = cb;
        f->cb_ud = cb_ud;
        return KUBE_OK;
    }
    size_t i = (size_t)f->sent - 1 < f->script_len ? (size_t)f->sent - 1 : f->script_len - 1;
    const kube_test_answer_t *a = &f->script[i];
    const char *b = a->body ? a->body : "{}";
    kube_response_t r = {a->status, b, strlen(b), NULL};
    cb(cb_ud, a->err, a->err == KUBE_OK ? &r : NULL);
    return KUBE_OK;
}

static inline void kube_test_api_cancel(void *ud, kube_call_t *call)
{
    kube_test_api_t *f = ud;
    if (call != (kube_call_t *)f)
        fail_msg("cancel of a call the fake did not make");
    f->cancelled++;
    f->cb = NULL;
}

/* Returns: an api over |f| (kept), with cancel or without (then calls are not cancellable). */
static inline kube_api_t kube_test_api(kube_test_api_t *f, bool cancellable)
{
    return (kube_api_t){kube_test_api_request, cancellable ? kube_test_api_cancel : NULL, f};
}

/* Parses |text| (borrowed) into a krt_json_type object and puts it into |c|. */
static inline void kube_test_put(krt_collection_t *c, const char *text)
{
    const krt_obj_t *o = krt_json_parse(text, strlen(text), NULL);
    assert_non_null(o);
    assert_int_equal(krt_static_put(c, o), KRT_OK);
}

#endif /* KUBE_TEST_API_H */
