/*
 * libFuzzer target for the watch decoder (kube/watch.c) and the reflector it feeds
 * (kube/reflector.c). The first byte picks a piece size; the rest is a watch response body. The
 * body is decoded twice, whole and in pieces, and the two runs must see the same events (types and
 * offsets) and end in the same state; every event goes into a reflector that is watching, whose
 * invariant check must hold after each one. ERROR events and rejected objects move the reflector
 * into relist or backoff; scripted list pages bring it back to watching. Any crash, sanitizer
 * report or abort() is a bug. Seeds: tests/fuzz/corpus/kube_watch.
 *
 * Needs: krtgate_kube (jansson, uthash) and krt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/reflector.h"
#include "kube/watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

typedef struct run {
    kube_reflector_t *r;
    uint64_t digest; /* of (type, offset) of every event */
    size_t events;
} run_t;

static void quiet(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

/* Brings the reflector back to watching with an empty list. */
static void to_watch(kube_reflector_t *r)
{
    for (int i = 0; i < 4; i++) {
        kube_request_t q;
        CHECK(kube_reflector_next(r, &q) == KUBE_OK);
        if (q.kind == KUBE_REQUEST_WATCH)
            return;
        if (q.kind == KUBE_REQUEST_WAIT) {
            CHECK(kube_reflector_on_waited(r) == KUBE_OK);
            continue;
        }
        json_t *list = json_pack("{s:{s:s}, s:[]}", "metadata", "resourceVersion", "1", "items");
        CHECK(list);
        int rc = kube_reflector_on_list_page(r, list);
        json_decref(list);
        CHECK(rc == KUBE_OK || rc == KUBE_ENOMEM);
    }
}

static int on_event(const kube_watch_event_t *ev, void *ud)
{
    run_t *run = ud;
    CHECK(json_is_object(ev->object));
    CHECK(ev->type >= KUBE_WATCH_ADDED && ev->type <= KUBE_WATCH_ERROR);
    run->digest = (run->digest ^ (uint64_t)ev->type) * 1099511628211ULL;
    run->digest = (run->digest ^ ev->offset) * 1099511628211ULL;
    run->events++;
    to_watch(run->r);
    int rc = kube_reflector_on_watch_event(run->r, ev);
    CHECK(rc == KUBE_OK || rc == KUBE_EOBJECT || rc == KUBE_ENOMEM);
    CHECK(kube_reflector_check(run->r) == KUBE_OK);
    size_t n;
    const kube_change_t *c = kube_reflector_changes(run->r, &n);
    for (size_t i = 0; i < n; i++)
        CHECK(c[i].op == KUBE_CHANGE_SYNCED || json_is_object(c[i].object));
    kube_reflector_changes_clear(run->r);
    return 0;
}

static int decode(const uint8_t *body, size_t len, size_t piece, run_t *run,
                  kube_watch_decoder_t *d)
{
    kube_reflector_options_t o = {
        .kind = "HTTPRoute", .api_version = "gateway.networking.k8s.io/v1", .log = quiet};
    run->r = kube_reflector_new(&o);
    CHECK(run->r);
    to_watch(run->r);
    kube_watch_decoder_init(d, 4096);
    int rc = KUBE_OK;
    for (size_t i = 0; i < len && rc == KUBE_OK; i += piece) {
        size_t n = len - i < piece ? len - i : piece;
        rc = kube_watch_decoder_feed(d, body + i, n, on_event, run);
        CHECK(kube_watch_decoder_check(d) == KUBE_OK);
    }
    if (rc == KUBE_OK)
        rc = kube_watch_decoder_finish(d, on_event, run);
    CHECK(kube_watch_decoder_check(d) == KUBE_OK);
    CHECK(rc == KUBE_OK || rc == KUBE_EOBJECT || rc == KUBE_ELIMIT || rc == KUBE_ENOMEM);
    CHECK(rc == KUBE_OK || d->error[0]);
    kube_reflector_free(run->r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 64 + 1;
    run_t whole = {0}, split = {0};
    kube_watch_decoder_t d1, d2;
    int rc1 = decode(data + 1, size - 1, size, &whole, &d1);
    int rc2 = decode(data + 1, size - 1, piece, &split, &d2);
    if (rc1 != KUBE_ENOMEM && rc2 != KUBE_ENOMEM) {
        CHECK(rc1 == rc2);
        CHECK(whole.events == split.events);
        CHECK(whole.digest == split.digest);
        CHECK(d1.offset == d2.offset || rc1 != KUBE_OK);
    }
    kube_watch_decoder_dispose(&d1);
    kube_watch_decoder_dispose(&d2);
    return 0;
}
