/*
 * The reflector (kube/reflector.c), driven through scripted API responses with no sockets: the
 * paginated first list ends in puts and one synced mark that a real kube source accepts; watch
 * events become puts and deletes (duplicates and unknown deletes become nothing); bookmarks move
 * the resourceVersion a dropped watch resumes from; a 410 relists unpaged from the last
 * resourceVersion (then consistently from "" if that is 410 too) and produces only the difference,
 * including a delete that happened while we were away; errors wait out an exponential backoff with
 * jitter that a watch event resets; a kind answered 404 is skipped with one log line, counts as
 * synced, and is picked up when it appears. The invariant check runs after every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "krt/json.h"
#include "krt/krt.h"
#include "kube/reflector.h"
#include "kube/source.h"

/* ---------------------------------------------------------------------------------------------
 * Fixtures.
 * ------------------------------------------------------------------------------------------- */
typedef struct fx {
    kube_reflector_t *r;
    double rand_value;
    char log[2048];
    size_t log_lines;
} fx_t;

static double fixed_rand(void *ud)
{
    return ((fx_t *)ud)->rand_value;
}

static void capture(int level, const char *msg, void *ud)
{
    (void)level;
    fx_t *f = ud;
    size_t l = strlen(f->log);
    snprintf(f->log + l, sizeof f->log - l, "%s\n", msg);
    f->log_lines++;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->rand_value = 0.5;
    kube_reflector_options_t o = {
        .kind = "HTTPRoute",
        .api_version = "gateway.networking.k8s.io/v1",
        .page_size = 2,
        .rand = fixed_rand,
        .rand_ud = f,
        .log = capture,
        .log_ud = f,
    };
    f->r = kube_reflector_new(&o);
    assert_non_null(f->r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kube_reflector_free(f->r);
    free(f);
    return 0;
}

static void check(const kube_reflector_t *r)
{
    assert_int_equal(kube_reflector_check(r), KUBE_OK);
}

/* The next request as text: "LIST rv=0 cont=- limit=2", "WATCH rv=100 bm=1 t=450", "WAIT 1200". */
static const char *next_str(kube_reflector_t *r)
{
    static char buf[256];
    kube_request_t q;
    assert_int_equal(kube_reflector_next(r, &q), KUBE_OK);
    switch (q.kind) {
    case KUBE_REQUEST_LIST:
        snprintf(buf, sizeof buf, "LIST rv=%s cont=%s limit=%u",
                 q.resource_version ? q.resource_version : "-",
                 q.continue_token ? q.continue_token : "-", q.limit);
        break;
    case KUBE_REQUEST_WATCH:
        snprintf(buf, sizeof buf, "WATCH rv=%s bm=%d t=%u",
                 q.resource_version ? q.resource_version : "-", q.allow_watch_bookmarks,
                 q.timeout_seconds);
        break;
    case KUBE_REQUEST_WAIT:
        snprintf(buf, sizeof buf, "WAIT %llu", (unsigned long long)q.wait_ms);
        break;
    }
    return buf;
}

/* The pending changes as text, then cleared: "PUT ns/a@1;DEL ns/b;SYNCED HTTPRoute;". */
static const char *changes_str(kube_reflector_t *r)
{
    static char buf[2048];
    buf[0] = '\0';
    size_t n;
    const kube_change_t *c = kube_reflector_changes(r, &n);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(buf);
        if (c[i].op == KUBE_CHANGE_SYNCED) {
            snprintf(buf + l, sizeof buf - l, "SYNCED %s;", c[i].kind);
            continue;
        }
        json_t *md = json_object_get(c[i].object, "metadata");
        snprintf(buf + l, sizeof buf - l, "%s %s/%s@%s;",
                 c[i].op == KUBE_CHANGE_PUT ? "PUT" : "DEL",
                 json_string_value(json_object_get(md, "namespace")),
                 json_string_value(json_object_get(md, "name")),
                 json_string_value(json_object_get(md, "resourceVersion")));
    }
    kube_reflector_changes_clear(r);
    return buf;
}

static json_t *obj(const char *name, const char *rv, const char *host)
{
    return json_pack("{s:{s:s, s:s, s:s}, s:{s:[s]}}", "metadata", "name", name, "namespace", "ns",
                     "resourceVersion", rv, "spec", "hostnames", host);
}

/* A list page; takes the items. */
static json_t *page(const char *rv, const char *cont, json_t *items)
{
    json_t *md = json_object();
    if (rv)
        json_object_set_new(md, "resourceVersion", json_string(rv));
    if (cont)
        json_object_set_new(md, "continue", json_string(cont));
    return json_pack("{s:s, s:s, s:o, s:o}", "kind", "HTTPRouteList", "apiVersion",
                     "gateway.networking.k8s.io/v1", "metadata", md, "items", items);
}

static void feed_page(kube_reflector_t *r, json_t *p)
{
    assert_int_equal(kube_reflector_on_list_page(r, p), KUBE_OK);
    json_decref(p);
    check(r);
}

static void feed_event(kube_reflector_t *r, kube_watch_type_t t, json_t *o)
{
    kube_watch_event_t ev = {0};
    ev.type = t;
    ev.object = o;
    const char *rv =
        json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
    ev.resource_version = rv;
    if (t == KUBE_WATCH_ERROR) {
        ev.code = (int)json_integer_value(json_object_get(o, "code"));
        ev.relist = kube_status_is_expired(o);
    }
    assert_int_equal(kube_reflector_on_watch_event(r, &ev), KUBE_OK);
    json_decref(o);
    check(r);
}

/* Lists a, b (page 1) and c (page 2) at rv 100 and clears the changes. */
static void initial_list(kube_reflector_t *r)
{
    feed_page(r, page("100", "c1",
                      json_pack("[o,o]", obj("a", "1", "a.example"), obj("b", "2", "b.example"))));
    feed_page(r, page("100", NULL, json_pack("[o]", obj("c", "3", "c.example"))));
    changes_str(r);
}

/* ---------------------------------------------------------------------------------------------
 * Tests.
 * ------------------------------------------------------------------------------------------- */
static void test_paginated_first_list_puts_all_then_synced_then_watch(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    check(r);
    assert_string_equal(next_str(r), "LIST rv=0 cont=- limit=2");
    assert_string_equal(next_str(r), "LIST rv=0 cont=- limit=2"); /* idempotent */
    json_t *p1 = page("100", "c1",
                      json_pack("[o,o]", obj("a", "1", "a.example"), obj("b", "2", "b.example")));
    json_t *item0 = json_incref(json_array_get(json_object_get(p1, "items"), 0));
    feed_page(r, p1);
    /* each page is announced as it arrives: no page is held until the list ends */
    size_t n1;
    kube_reflector_changes(r, &n1);
    assert_int_equal(n1, 2);
    /* continue pages carry the token and no resourceVersion */
    assert_string_equal(next_str(r), "LIST rv=- cont=c1 limit=2");
    feed_page(r, page("100", NULL, json_pack("[o]", obj("c", "3", "c.example"))));

    size_t n;
    const kube_change_t *c = kube_reflector_changes(r, &n);
    assert_int_equal(n, 4);
    /* items get the list's kind and apiVersion on a copy; the caller's item is untouched */
    assert_string_equal(json_string_value(json_object_get(c[0].object, "kind")), "HTTPRoute");
    assert_string_equal(json_string_value(json_object_get(c[0].object, "apiVersion")),
                        "gateway.networking.k8s.io/v1");
    assert_null(json_object_get(item0, "kind"));
    json_decref(item0);
    assert_string_equal(c[0].origin, "watch HTTPRoute");

    /* the changes are what kube_source_apply takes */
    krt_engine_t *e = krt_engine_new();
    kube_source_options_t so = {.log = capture, .log_ud = f};
    kube_source_t *src = kube_source_new(e, &so);
    assert_int_equal(kube_source_apply(src, c, n), KUBE_OK);
    assert_int_equal(krt_engine_flush(e), 0);
    krt_collection_t *col = kube_source_collection(src, "HTTPRoute");
    assert_int_equal(krt_collection_len(col), 3);
    assert_true(krt_collection_synced(col));
    assert_non_null(krt_collection_get(col, "ns/b"));
    kube_source_free(src);
    krt_engine_free(e);

    assert_string_equal(changes_str(r), "PUT ns/a@1;PUT ns/b@2;PUT ns/c@3;SYNCED HTTPRoute;");
    /* WATCH from the list's resourceVersion, bookmarks on, timeout in [300, 600) */
    assert_string_equal(next_str(r), "WATCH rv=100 bm=1 t=450");
    kube_reflector_stats_t st;
    kube_reflector_stats(r, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.objects, 3);
    assert_true(st.synced);
}

static void test_watch_events_become_only_real_changes(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    initial_list(r);
    feed_event(r, KUBE_WATCH_ADDED, obj("d", "101", "d.example"));
    feed_event(r, KUBE_WATCH_MODIFIED, obj("a", "102", "a2.example"));
    feed_event(r, KUBE_WATCH_MODIFIED, obj("a", "102", "a2.example")); /* duplicate */
    feed_event(r, KUBE_WATCH_DELETED, obj("b", "103", "b.example"));
    feed_event(r, KUBE_WATCH_DELETED, obj("zz", "104", "zz.example")); /* never seen */
    feed_event(r, KUBE_WATCH_BOOKMARK,
               json_pack("{s:{s:s}}", "metadata", "resourceVersion", "110"));
    assert_string_equal(changes_str(r), "PUT ns/d@101;PUT ns/a@102;DEL ns/b@103;");
    kube_reflector_stats_t st;
    kube_reflector_stats(r, &st);
    assert_string_equal(st.resource_version, "110");
    assert_int_equal(st.objects, 3); /* a c d */
    assert_int_equal(st.events, 6);
}

static void test_dropped_watch_resumes_from_the_bookmarked_version(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    initial_list(r);
    feed_event(r, KUBE_WATCH_BOOKMARK,
               json_pack("{s:{s:s}}", "metadata", "resourceVersion", "150"));
    /* a normal end (server timeout): re-watch at once, from the bookmark */
    assert_int_equal(kube_reflector_on_watch_closed(r, 300000), KUBE_OK);
    check(r);
    assert_string_equal(next_str(r), "WATCH rv=150 bm=1 t=450");
    /* a broken connection: back off, then re-watch from the same version, no relist */
    assert_int_equal(kube_reflector_on_error(r, 0, NULL), KUBE_OK);
    check(r);
    assert_string_equal(next_str(r), "WAIT 1200"); /* 800 × (1 + 1.0 × 0.5) */
    assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
    assert_string_equal(next_str(r), "WATCH rv=150 bm=1 t=450");
    /* a watch that closes at once with nothing is a failure, as in client-go */
    assert_int_equal(kube_reflector_on_watch_closed(r, 20), KUBE_OK);
    assert_string_equal(next_str(r), "WAIT 2400");
    assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
    assert_string_equal(changes_str(r), "");
    kube_reflector_stats_t st;
    kube_reflector_stats(r, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.watches, 4);
}

static void test_expired_watch_relists_and_yields_only_the_difference(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    initial_list(r);
    feed_event(r, KUBE_WATCH_MODIFIED, obj("a", "120", "a2.example"));
    changes_str(r);
    feed_event(r, KUBE_WATCH_ERROR,
               json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "Status", "status", "Failure",
                         "reason", "Expired", "code", 410, "message", "too old resource version"));
    /* client-go: relist "not older than" the last version, unpaged (the watch cache serves it) */
    assert_string_equal(next_str(r), "LIST rv=120 cont=- limit=0");
    /* meanwhile: b deleted, c changed, e created, a unchanged */
    feed_page(r, page("300", NULL,
                      json_pack("[o,o,o]", obj("a", "120", "a2.example"),
                                obj("c", "250", "c2.example"), obj("e", "260", "e.example"))));
    assert_string_equal(changes_str(r), "PUT ns/c@250;PUT ns/e@260;DEL ns/b@2;");
    assert_string_equal(next_str(r), "WATCH rv=300 bm=1 t=450");
    kube_reflector_stats_t st;
    kube_reflector_stats(r, &st);
    assert_int_equal(st.relists, 1);
    assert_int_equal(st.objects, 3);
}

static void test_expired_relist_falls_back_to_a_consistent_paged_list(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    initial_list(r);
    json_t *gone = json_pack("{s:s, s:i}", "reason", "Expired", "code", 410);
    assert_int_equal(kube_reflector_on_error(r, 410, gone), KUBE_OK); /* watch answered 410 */
    assert_string_equal(next_str(r), "LIST rv=100 cont=- limit=0");
    assert_int_equal(kube_reflector_on_error(r, 410, gone), KUBE_OK); /* so is that list */
    check(r);
    assert_string_equal(next_str(r), "LIST rv= cont=- limit=2");
    feed_page(r, page("400", "k", json_pack("[o]", obj("a", "1", "a.example"))));
    /* the continue token expires too: start that list over at once */
    assert_int_equal(kube_reflector_on_error(r, 410, gone), KUBE_OK);
    assert_string_equal(next_str(r), "LIST rv= cont=- limit=2");
    feed_page(r, page("401", "k2",
                      json_pack("[o,o]", obj("a", "1", "a.example"), obj("b", "2", "b.example"))));
    feed_page(r, page("401", NULL, json_pack("[]")));
    assert_string_equal(changes_str(r), "DEL ns/c@3;");
    assert_string_equal(next_str(r), "WATCH rv=401 bm=1 t=450");
    /* a "" list that is itself 410 without a continue token does not spin: it backs off */
    assert_int_equal(kube_reflector_on_error(r, 410, gone), KUBE_OK);
    assert_string_equal(next_str(r), "LIST rv=401 cont=- limit=0");
    assert_int_equal(kube_reflector_on_error(r, 410, gone), KUBE_OK);
    assert_string_equal(next_str(r), "LIST rv= cont=- limit=2");
    assert_int_equal(kube_reflector_on_error(r, 410, gone), KUBE_OK);
    assert_string_equal(next_str(r), "WAIT 1200");
    json_decref(gone);
}

/* A server restarted with older storage answers 504 "Too large resource version": a consistent
 * list gets past it (a retried watch from our version would wait forever). */
static void test_too_large_resource_version_relists_consistently(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    initial_list(r);
    json_t *ahead =
        json_pack("{s:s, s:s, s:i, s:{s:[{s:s}]}}", "kind", "Status", "reason", "Timeout", "code",
                  504, "details", "causes", "reason", "ResourceVersionTooLarge");
    assert_int_equal(kube_reflector_on_error(r, 504, ahead), KUBE_OK); /* the watch */
    assert_string_equal(next_str(r), "LIST rv=100 cont=- limit=0");
    assert_int_equal(kube_reflector_on_error(r, 504, ahead), KUBE_OK); /* that list too */
    check(r);
    assert_string_equal(next_str(r), "LIST rv= cont=- limit=2");
    /* a plain 504 is an ordinary failure: back off */
    json_t *plain = json_pack("{s:s, s:i}", "reason", "Timeout", "code", 504);
    assert_int_equal(kube_reflector_on_error(r, 504, plain), KUBE_OK);
    assert_string_equal(next_str(r), "WAIT 1200");
    json_decref(plain);
    json_decref(ahead);
}

static void test_backoff_doubles_to_the_cap_with_jitter_and_resets(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    initial_list(r);
    f->rand_value = 0.0;
    static const char *const want[] = {"WAIT 800",   "WAIT 1600",  "WAIT 3200",  "WAIT 6400",
                                       "WAIT 12800", "WAIT 25600", "WAIT 30000", "WAIT 30000"};
    json_t *st = json_pack("{s:s, s:i}", "reason", "TooManyRequests", "code", 429);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(kube_reflector_on_error(r, i % 2 ? 429 : 503, i % 2 ? st : NULL), KUBE_OK);
        check(r);
        assert_string_equal(next_str(r), want[i]);
        assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
        assert_string_equal(next_str(r), "WATCH rv=100 bm=1 t=300");
    }
    json_decref(st);
    f->rand_value = 0.99;
    assert_int_equal(kube_reflector_on_error(r, 500, NULL), KUBE_OK);
    assert_string_equal(next_str(r), "WAIT 59700"); /* 30000 × 1.99 */
    assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
    /* an event proves the path works again: the next failure starts from 800 */
    feed_event(r, KUBE_WATCH_BOOKMARK,
               json_pack("{s:{s:s}}", "metadata", "resourceVersion", "101"));
    f->rand_value = 0.0;
    assert_int_equal(kube_reflector_on_error(r, 0, NULL), KUBE_OK);
    assert_string_equal(next_str(r), "WAIT 800");
}

static void test_missing_kind_is_skipped_once_and_picked_up_later(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    assert_int_equal(kube_reflector_on_error(r, 404, NULL), KUBE_OK);
    check(r);
    assert_int_equal(f->log_lines, 1);
    assert_non_null(strstr(f->log, "HTTPRoute: the API server has no such resource (404)"));
    /* nothing exists, so the kind is complete: synced, empty */
    assert_string_equal(changes_str(r), "SYNCED HTTPRoute;");
    assert_string_equal(next_str(r), "WAIT 30000");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
        assert_string_equal(next_str(r), "LIST rv= cont=- limit=2");
        assert_int_equal(kube_reflector_on_error(r, 404, NULL), KUBE_OK);
        assert_string_equal(next_str(r), "WAIT 30000");
    }
    assert_int_equal(f->log_lines, 1); /* one line, however often */
    assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
    feed_page(r, page("7", NULL, json_pack("[o]", obj("a", "5", "a.example"))));
    assert_string_equal(changes_str(r), "PUT ns/a@5;"); /* no second SYNCED */
    assert_int_equal(f->log_lines, 2);
    assert_non_null(strstr(f->log, "serves this kind again"));
    assert_string_equal(next_str(r), "WATCH rv=7 bm=1 t=450");
    /* the CRD goes away: the watch 404s, the relist 404s, the objects go */
    assert_int_equal(kube_reflector_on_error(r, 404, NULL), KUBE_OK);
    assert_string_equal(next_str(r), "LIST rv=7 cont=- limit=0");
    assert_int_equal(kube_reflector_on_error(r, 404, NULL), KUBE_OK);
    assert_string_equal(changes_str(r), "DEL ns/a@5;");
    kube_reflector_stats_t st;
    kube_reflector_stats(r, &st);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.missing, 5);
}

/* Counts the puts and deletes waiting, and clears them. */
static void count_changes(kube_reflector_t *r, size_t *puts, size_t *dels)
{
    size_t n;
    const kube_change_t *c = kube_reflector_changes(r, &n);
    *puts = *dels = 0;
    for (size_t i = 0; i < n; i++) {
        *puts += c[i].op == KUBE_CHANGE_PUT;
        *dels += c[i].op == KUBE_CHANGE_DELETE;
    }
    kube_reflector_changes_clear(r);
}

/* Thousands of objects: the table grows, and a relist that lost a third of them deletes exactly
 * those (entries removed while the table is walked) and puts exactly the changed ones. */
static void test_relist_of_many_objects_deletes_and_puts_exactly_the_difference(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    enum { N = 3000 };
    json_t *items = json_array();
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        json_array_append_new(items, obj(name, "1", "h.example"));
    }
    feed_page(r, page("10", NULL, items));
    size_t puts, dels;
    count_changes(r, &puts, &dels);
    assert_int_equal(puts, N);
    assert_int_equal(dels, 0);
    check(r);
    feed_event(r, KUBE_WATCH_ERROR,
               json_pack("{s:s, s:s, s:s, s:i}", "kind", "Status", "status", "Failure", "reason",
                         "Expired", "code", 410));
    items = json_array();
    size_t want_puts = 0, want_dels = 0;
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        if (i % 3 == 0) {
            want_dels++;
            continue;
        }
        bool changed = i % 5 == 0;
        want_puts += changed;
        json_array_append_new(items, obj(name, changed ? "2" : "1", "h.example"));
    }
    feed_page(r, page("20", NULL, items));
    count_changes(r, &puts, &dels);
    assert_int_equal(puts, want_puts);
    assert_int_equal(dels, want_dels);
    check(r);
    kube_reflector_stats_t st;
    kube_reflector_stats(r, &st);
    assert_int_equal(st.objects, N - want_dels);
}

static void test_failed_list_backs_off_and_restarts_from_the_first_page(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    feed_page(r, page("100", "c1", json_pack("[o]", obj("a", "1", "a.example"))));
    assert_int_equal(kube_reflector_on_error(r, 500, NULL), KUBE_OK);
    check(r);
    assert_string_equal(next_str(r), "WAIT 1200");
    assert_non_null(strstr(f->log, "list failed (HTTP 500)"));
    assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
    assert_string_equal(next_str(r), "LIST rv=0 cont=- limit=2");
    feed_page(r, page("101", NULL, json_pack("[o]", obj("b", "1", "b.example"))));
    /* what the half-read first attempt announced and the complete list lacks is deleted, once */
    assert_string_equal(changes_str(r), "PUT ns/a@1;PUT ns/b@1;DEL ns/a@1;SYNCED HTTPRoute;");
}

static void test_bad_input_is_rejected_and_state_errors_are_reported(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    kube_watch_event_t ev = {.type = KUBE_WATCH_ADDED};
    json_t *o = obj("a", "1", "x");
    ev.object = o;
    assert_int_equal(kube_reflector_on_watch_event(r, &ev), KUBE_ESTATE); /* listing */
    assert_int_equal(kube_reflector_on_watch_closed(r, 5000), KUBE_ESTATE);
    assert_int_equal(kube_reflector_on_waited(r), KUBE_ESTATE);
    json_t *notlist = json_pack("{s:i}", "items", 3);
    assert_int_equal(kube_reflector_on_list_page(r, notlist), KUBE_EOBJECT);
    json_decref(notlist);
    check(r);
    assert_string_equal(next_str(r), "WAIT 1200");
    assert_int_equal(kube_reflector_on_list_page(r, o), KUBE_ESTATE);
    assert_int_equal(kube_reflector_on_error(r, 500, NULL), KUBE_ESTATE);
    assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
    /* a nameless list item is skipped with a line; the others stay */
    json_t *nameless = json_pack("{s:{s:s}}", "metadata", "namespace", "ns");
    feed_page(r, page("9", NULL, json_pack("[o,O]", nameless, o)));
    assert_string_equal(changes_str(r), "PUT ns/a@1;SYNCED HTTPRoute;");
    assert_non_null(strstr(f->log, "list item 0 has no metadata.name"));
    json_t *bad = json_pack("{s:{s:s}}", "metadata", "resourceVersion", "10");
    ev.object = bad;
    assert_int_equal(kube_reflector_on_watch_event(r, &ev), KUBE_EOBJECT);
    check(r);
    assert_string_equal(next_str(r), "WAIT 1200");
    json_decref(bad);
    json_decref(o);
}

static void test_request_paths_name_the_resource_and_escape_the_query(void **state)
{
    (void)state;
    char buf[256];
    kube_request_t list = {.kind = KUBE_REQUEST_LIST, .limit = 500, .resource_version = "0"};
    assert_int_equal(kube_request_path(&list, NULL, "gateway.networking.k8s.io/v1", "httproutes",
                                       NULL, buf, sizeof buf),
                     (int)strlen("/apis/gateway.networking.k8s.io/v1/httproutes?limit=500&"
                                 "resourceVersion=0"));
    assert_string_equal(
        buf, "/apis/gateway.networking.k8s.io/v1/httproutes?limit=500&resourceVersion=0");
    kube_request_t cont = {.kind = KUBE_REQUEST_LIST, .limit = 2, .continue_token = "eyJ2=/+ x"};
    assert_true(kube_request_path(&cont, "/prefix", "v1", "services", "ns-1", buf, sizeof buf) > 0);
    assert_string_equal(
        buf, "/prefix/api/v1/namespaces/ns-1/services?limit=2&continue=eyJ2%3D%2F%2B%20x");
    kube_request_t unpaged = {.kind = KUBE_REQUEST_LIST, .resource_version = ""};
    assert_true(kube_request_path(&unpaged, "", "v1", "namespaces", NULL, buf, sizeof buf) > 0);
    assert_string_equal(buf, "/api/v1/namespaces?resourceVersion=");
    kube_request_t w = {.kind = KUBE_REQUEST_WATCH,
                        .resource_version = "12345",
                        .allow_watch_bookmarks = true,
                        .timeout_seconds = 450};
    assert_true(kube_request_path(&w, NULL, "v1", "services", NULL, buf, sizeof buf) > 0);
    assert_string_equal(
        buf, "/api/v1/"
             "services?watch=1&allowWatchBookmarks=true&resourceVersion=12345&timeoutSeconds=450");
    /* too small, bad arguments */
    assert_int_equal(kube_request_path(&w, NULL, "v1", "services", NULL, buf, 20), KUBE_ELIMIT);
    assert_string_equal(buf, "");
    kube_request_t wait = {.kind = KUBE_REQUEST_WAIT, .wait_ms = 5};
    assert_int_equal(kube_request_path(&wait, NULL, "v1", "services", NULL, buf, sizeof buf),
                     KUBE_EINVAL);
    assert_int_equal(kube_request_path(&w, NULL, "v1", "a/b", NULL, buf, sizeof buf), KUBE_EINVAL);
    assert_int_equal(kube_request_path(&w, NULL, "v1", "s", "x/y", buf, sizeof buf), KUBE_EINVAL);
    assert_int_equal(kube_request_path(&w, NULL, "", "s", NULL, buf, sizeof buf), KUBE_EINVAL);
}

/* ---------------------------------------------------------------------------------------------
 * Property: against a simulated API server driven by random mutations, drops, expiries and
 * bookmarks, the source fed only by the reflector's changes always converges to the server's
 * objects, and every relist changes exactly the objects that differ (the oracle is the server).
 * ------------------------------------------------------------------------------------------- */
#define SIM_OBJECTS 12
#define SIM_HISTORY 4096

typedef struct sim_ev {
    kube_watch_type_t type;
    int slot;
    unsigned rv;
    unsigned gen;
} sim_ev_t;

typedef struct sim {
    bool exists[SIM_OBJECTS];
    unsigned rv_of[SIM_OBJECTS], gen_of[SIM_OBJECTS];
    unsigned rv;
    sim_ev_t hist[SIM_HISTORY];
    size_t nhist;
    size_t oldest; /* history before this index has been compacted away */
    size_t pos;    /* next history event of the running watch */
    bool watching;
    uint64_t rng;
} sim_t;

static unsigned sim_rand(sim_t *s, unsigned n)
{
    s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((s->rng >> 33) % n);
}

static json_t *sim_obj(int slot, unsigned rv, unsigned gen)
{
    char name[16], rvs[16], host[32];
    snprintf(name, sizeof name, "o%d", slot);
    snprintf(rvs, sizeof rvs, "%u", rv);
    snprintf(host, sizeof host, "h%u.example", gen);
    return obj(name, rvs, host);
}

static void sim_mutate(sim_t *s)
{
    int slot = (int)sim_rand(s, SIM_OBJECTS);
    sim_ev_t ev = {.slot = slot, .rv = ++s->rv};
    if (!s->exists[slot]) {
        ev.type = KUBE_WATCH_ADDED;
        s->exists[slot] = true;
        s->gen_of[slot] = s->rv;
    } else if (sim_rand(s, 3)) {
        ev.type = KUBE_WATCH_MODIFIED;
        s->gen_of[slot] = s->rv;
    } else {
        ev.type = KUBE_WATCH_DELETED;
        s->exists[slot] = false;
    }
    s->rv_of[slot] = s->rv;
    ev.gen = s->gen_of[slot];
    assert_true(s->nhist < SIM_HISTORY);
    s->hist[s->nhist++] = ev;
}

/* Applies the reflector's changes to the source and flushes. Returns the puts and deletes. */
static size_t apply(kube_reflector_t *r, kube_source_t *src, krt_engine_t *e)
{
    size_t n, real = 0;
    const kube_change_t *c = kube_reflector_changes(r, &n);
    for (size_t i = 0; i < n; i++)
        real += c[i].op != KUBE_CHANGE_SYNCED;
    assert_int_equal(kube_source_apply(src, c, n), KUBE_OK);
    kube_reflector_changes_clear(r);
    assert_int_equal(krt_engine_flush(e), 0);
    assert_int_equal(krt_engine_check(e), 0);
    check(r);
    return real;
}

/* How many objects differ between the server and the source (what a relist must change). */
static size_t sim_differences(const sim_t *s, krt_collection_t *col)
{
    size_t d = 0;
    for (int i = 0; i < SIM_OBJECTS; i++) {
        char key[32], rv[16];
        snprintf(key, sizeof key, "ns/o%d", i);
        snprintf(rv, sizeof rv, "%u", s->rv_of[i]);
        const krt_obj_t *o = krt_collection_get(col, key);
        if (s->exists[i] != (o != NULL))
            d++;
        else if (o && strcmp(krt_json_get_string(o, "metadata.resourceVersion"), rv))
            d++;
    }
    return d;
}

static void sim_assert_converged(const sim_t *s, krt_collection_t *col)
{
    assert_int_equal(sim_differences(s, col), 0);
    size_t live = 0;
    for (int i = 0; i < SIM_OBJECTS; i++)
        live += s->exists[i];
    assert_int_equal(krt_collection_len(col), live);
}

/* Serves the reflector's next request once. */
static void sim_serve(sim_t *s, kube_reflector_t *r, kube_source_t *src, krt_engine_t *e,
                      krt_collection_t *col, size_t *relist_checks)
{
    kube_request_t q;
    assert_int_equal(kube_reflector_next(r, &q), KUBE_OK);
    if (q.kind == KUBE_REQUEST_WAIT) {
        assert_int_equal(kube_reflector_on_waited(r), KUBE_OK);
    } else if (q.kind == KUBE_REQUEST_LIST) {
        /* the whole list, in pages of q.limit, continue = index of the next slot */
        int from = q.continue_token ? atoi(q.continue_token) : 0;
        json_t *items = json_array();
        int i = from, taken = 0;
        for (; i < SIM_OBJECTS && (!q.limit || taken < (int)q.limit); i++)
            if (s->exists[i]) {
                json_array_append_new(items, sim_obj(i, s->rv_of[i], s->gen_of[i]));
                taken++;
            }
        while (i < SIM_OBJECTS && !s->exists[i])
            i++;
        char rv[16], cont[16];
        snprintf(rv, sizeof rv, "%u", s->rv);
        snprintf(cont, sizeof cont, "%d", i);
        bool last = i >= SIM_OBJECTS;
        size_t expect = last ? sim_differences(s, col) : 0;
        json_t *p = page(rv, last ? NULL : cont, items);
        assert_int_equal(kube_reflector_on_list_page(r, p), KUBE_OK);
        json_decref(p);
        size_t got = apply(r, src, e);
        assert_int_equal(got, expect); /* only real changes, all of them */
        if (last) {
            sim_assert_converged(s, col);
            (*relist_checks)++;
        }
    } else {
        /* a WATCH from rv: 410 when that point was compacted away */
        unsigned from = q.resource_version ? (unsigned)strtoul(q.resource_version, NULL, 10) : 0;
        size_t pos = s->nhist;
        while (pos > 0 && s->hist[pos - 1].rv > from)
            pos--;
        if (pos < s->oldest) {
            json_t *gone = json_pack("{s:s, s:i}", "reason", "Expired", "code", 410);
            assert_int_equal(kube_reflector_on_error(r, 410, gone), KUBE_OK);
            json_decref(gone);
        } else {
            s->pos = pos;
            s->watching = true;
        }
    }
    apply(r, src, e);
}

static void test_property_source_converges_to_the_server(void **state)
{
    fx_t *f = *state;
    kube_reflector_t *r = f->r;
    krt_engine_t *e = krt_engine_new();
    kube_source_options_t so = {.log = capture, .log_ud = f};
    kube_source_t *src = kube_source_new(e, &so);
    krt_collection_t *col = kube_source_collection(src, "HTTPRoute");
    sim_t *s = calloc(1, sizeof *s);
    s->rng = 7;
    s->rv = 100;
    size_t relists = 0;
    for (int step = 0; step < 1500; step++) {
        f->log[0] = '\0'; /* the log buffer only needs to hold one step */
        if (!s->watching) {
            sim_serve(s, r, src, e, col, &relists);
            continue;
        }
        unsigned what = sim_rand(s, 20);
        if (what < 8) {
            sim_mutate(s);
        } else if (what < 15 && s->pos < s->nhist) {
            sim_ev_t *h = &s->hist[s->pos++];
            feed_event(r, h->type, sim_obj(h->slot, h->rv, h->gen));
            apply(r, src, e);
        } else if (what == 15) {
            char rv[16];
            snprintf(rv, sizeof rv, "%u", s->pos ? s->hist[s->pos - 1].rv : s->rv);
            if (s->pos == s->nhist) /* a bookmark is only sent when caught up */
                feed_event(r, KUBE_WATCH_BOOKMARK,
                           json_pack("{s:{s:s}}", "metadata", "resourceVersion", rv));
            apply(r, src, e);
        } else if (what == 16) {
            s->watching = false;
            assert_int_equal(kube_reflector_on_error(r, 0, NULL), KUBE_OK); /* dropped */
        } else if (what == 17) {
            s->watching = false;
            assert_int_equal(kube_reflector_on_watch_closed(r, 300000), KUBE_OK);
        } else if (what == 18) {
            /* compaction: the server forgets its history, the watch gets ERROR 410 */
            s->oldest = s->nhist;
            s->watching = false;
            feed_event(
                r, KUBE_WATCH_ERROR,
                json_pack("{s:s, s:s, s:i}", "kind", "Status", "reason", "Expired", "code", 410));
        } else if (s->pos == s->nhist) {
            sim_assert_converged(s, col);
        }
    }
    /* drain: deliver what is left, then the source equals the server */
    while (!s->watching)
        sim_serve(s, r, src, e, col, &relists);
    while (s->pos < s->nhist) {
        sim_ev_t *h = &s->hist[s->pos++];
        feed_event(r, h->type, sim_obj(h->slot, h->rv, h->gen));
    }
    apply(r, src, e);
    sim_assert_converged(s, col);
    assert_true(relists > 10);
    kube_reflector_stats_t st;
    kube_reflector_stats(r, &st);
    assert_true(st.relists > 10);
    free(s);
    kube_source_free(src);
    krt_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_paginated_first_list_puts_all_then_synced_then_watch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_events_become_only_real_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dropped_watch_resumes_from_the_bookmarked_version,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_watch_relists_and_yields_only_the_difference,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_relist_falls_back_to_a_consistent_paged_list,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_resource_version_relists_consistently, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backoff_doubles_to_the_cap_with_jitter_and_resets,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_kind_is_skipped_once_and_picked_up_later,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_relist_of_many_objects_deletes_and_puts_exactly_the_difference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_list_backs_off_and_restarts_from_the_first_page,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_is_rejected_and_state_errors_are_reported,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_property_source_converges_to_the_server, setup,
                                        teardown),
        cmocka_unit_test(test_request_paths_name_the_resource_and_escape_the_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
