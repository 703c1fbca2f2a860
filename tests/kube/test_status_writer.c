/*
 * The status writer (kube/status_writer.c), driven sans-IO: offers (or krt events) in, the
 * requests it asks for out, answers fed back. A stanza that differs becomes one merge patch of
 * /status with a resourceVersion precondition; an identical one (our own write's echo) becomes
 * nothing; other controllers' route parents are kept; lastTransitionTime survives unchanged
 * conditions; a 409 re-reads after a backoff and recomputes against what it read; bursts coalesce;
 * a token bucket spaces writes; nothing is sent while inactive; routes that stop being ours lose
 * our parents; 404/422 drop and 5xx retries.
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
#include "kube/status_writer.h"
#include "kube_test_api.h"

#define CTRL "agentgateway.dev/agentgateway"
#define NOW "2026-01-02T03:04:05Z"

static int64_t fixed_wall(void *ud)
{
    (void)ud;
    return 1767323045; /* NOW */
}

static kube_status_writer_t *writer(double qps, unsigned burst)
{
    kube_api_t api = {0};
    kube_status_writer_options_t o = {
        .qps = qps, .burst = burst, .wall_s = fixed_wall, .backoff_base_ms = 100};
    kube_status_writer_t *w = kube_status_writer_new(api, &o);
    assert_non_null(w);
    kube_status_writer_activate(w, true);
    return w;
}

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return j;
}

static const kube_status_kind_t *ROUTE, *GWK;

static int setup_kinds(void **state)
{
    (void)state;
    ROUTE = kube_status_kind_find("HTTPRoute");
    GWK = kube_status_kind_find("Gateway");
    return 0;
}

#define OUR_PARENT(name, st)                                                                       \
    "{\"parentRef\":{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\",\"name\":\"" name \
    "\"},\"controllerName\":\"" CTRL "\",\"conditions\":[{\"type\":\"Accepted\",\"status\":\"" st  \
    "\",\"reason\":\"Accepted\",\"message\":\"m\",\"observedGeneration\":1}]}"

static json_t *route(const char *rv, const char *status)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"HTTPRoute\","
             "\"metadata\":{\"name\":\"r\",\"namespace\":\"ns\",\"resourceVersion\":\"%s\"}%s%s}",
             rv, status ? ",\"status\":" : "", status ? status : "");
    return J(buf);
}

static json_t *sent_body(const kube_status_req_t *q)
{
    return J(q->body);
}

static void answer(kube_status_writer_t *w, const kube_status_req_t *q, int status,
                   const char *body, uint64_t now)
{
    kube_response_t r = {status, body, strlen(body), "application/json"};
    kube_status_writer_done(w, q->id, KUBE_OK, &r, now);
}

static void test_changed_stanza_is_one_patch_with_precondition(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(100, 10);
    json_t *obj = route("5", NULL);
    json_t *ours = J("{\"parents\":[" OUR_PARENT("gw", "True") "]}");
    assert_int_equal(kube_status_writer_offer(w, ROUTE, obj, ours), KUBE_OK);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_SEND);
    assert_string_equal(q.method, "PATCH");
    assert_string_equal(q.path, "/apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes/r/status");
    assert_string_equal(q.content_type, "application/merge-patch+json");
    json_t *b = sent_body(&q);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "metadata"),
                                                          "resourceVersion")), "5");
    json_t *p0 = json_array_get(json_object_get(json_object_get(b, "status"), "parents"), 0);
    json_t *c0 = json_array_get(json_object_get(p0, "conditions"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "lastTransitionTime")), NOW);
    json_decref(b);
    /* one in flight per object: nothing else to do */
    kube_status_req_t q2;
    assert_int_equal(kube_status_writer_next(w, 0, &q2), KUBE_STATUS_IDLE);
    /* the answer is the object as written: then nothing is left */
    char written[4096];
    json_t *wobj = route("6", NULL);
    json_t *d = kube_status_desired(obj, ours, KUBE_STATUS_PARENTS, CTRL, NOW);
    json_object_set_new(wobj, "status", d);
    char *wtext = json_dumps(wobj, JSON_COMPACT);
    snprintf(written, sizeof written, "%s", wtext);
    free(wtext);
    answer(w, &q, 200, written, 1);
    kube_status_next_t n1 = kube_status_writer_next(w, 1, &q);
    if (n1 == KUBE_STATUS_SEND)
        fprintf(stderr, "unexpected: %s\nwritten: %s\n", q.body, written);
    assert_int_equal(n1, KUBE_STATUS_IDLE);

    /* the echo from the watch (the same object) is nothing to write */
    assert_int_equal(kube_status_writer_offer(w, ROUTE, wobj, ours), KUBE_OK);
    assert_int_equal(kube_status_writer_next(w, 2, &q), KUBE_STATUS_IDLE);
    kube_status_writer_stats_t st;
    kube_status_writer_stats(w, &st);
    assert_int_equal(st.patches, 1);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.unchanged, 1);
    json_decref(wobj);
    json_decref(obj);
    json_decref(ours);
    kube_status_writer_free(w);
}

static void test_other_controllers_parents_and_times_are_kept(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(100, 10);
    /* the object: another controller's parent, and ours for gw (time T0) and for old */
    json_t *obj = route("7",
        "{\"parents\":[{\"parentRef\":{\"name\":\"x\"},\"controllerName\":\"example.com/other\","
        "\"conditions\":[]},"
        "{\"parentRef\":{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\",\"name\":\"gw\"},"
        "\"controllerName\":\"" CTRL "\",\"conditions\":[{\"type\":\"Accepted\",\"status\":\"True\","
        "\"reason\":\"Accepted\",\"message\":\"old\",\"observedGeneration\":1,"
        "\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]},"
        "{\"parentRef\":{\"name\":\"old\"},\"controllerName\":\"" CTRL "\",\"conditions\":[]}]}");
    json_t *ours = J("{\"parents\":[" OUR_PARENT("gw", "True") "]}");
    assert_int_equal(kube_status_writer_offer(w, ROUTE, obj, ours), KUBE_OK);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_SEND);
    json_t *b = sent_body(&q);
    json_t *parents = json_object_get(json_object_get(b, "status"), "parents");
    assert_int_equal(json_array_size(parents), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(parents, 0),
                                                          "controllerName")), "example.com/other");
    json_t *c = json_array_get(json_object_get(json_array_get(parents, 1), "conditions"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "message")), "m");
    assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")),
                        "2020-01-01T00:00:00Z");
    json_decref(b);
    kube_status_writer_free(w); /* with a request in flight */
    json_decref(obj);
    json_decref(ours);
}

static void test_conflict_rereads_after_backoff_and_recomputes(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(100, 10);
    json_t *obj = route("1", NULL);
    json_t *ours = J("{\"parents\":[" OUR_PARENT("gw", "True") "]}");
    kube_status_writer_offer(w, ROUTE, obj, ours);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_SEND);
    answer(w, &q, 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\"}", 10);
    assert_int_equal(kube_status_writer_next(w, 10, &q), KUBE_STATUS_WAIT);
    assert_int_equal(q.wait_ms, 100);
    assert_int_equal(kube_status_writer_next(w, 110, &q), KUBE_STATUS_SEND);
    assert_string_equal(q.method, "GET");
    assert_string_equal(q.path, "/apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes/r/status");
    /* meanwhile another controller added its parent */
    json_t *fresh = route("2", "{\"parents\":[{\"parentRef\":{\"name\":\"x\"},"
                               "\"controllerName\":\"example.com/other\",\"conditions\":[]}]}");
    char *text = json_dumps(fresh, JSON_COMPACT);
    answer(w, &q, 200, text, 120);
    free(text);
    assert_int_equal(kube_status_writer_next(w, 120, &q), KUBE_STATUS_SEND);
    assert_string_equal(q.method, "PATCH");
    json_t *b = sent_body(&q);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "metadata"),
                                                          "resourceVersion")), "2");
    assert_int_equal(json_array_size(json_object_get(json_object_get(b, "status"), "parents")), 2);
    json_decref(b);
    kube_status_writer_stats_t st;
    kube_status_writer_stats(w, &st);
    assert_int_equal(st.conflicts, 1);
    assert_int_equal(st.gets, 1);
    json_decref(fresh);
    json_decref(obj);
    json_decref(ours);
    kube_status_writer_free(w);
}

static void test_burst_coalesces_and_bucket_spaces_writes(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(1, 1);
    json_t *obj = route("1", NULL);
    json_t *a = J("{\"parents\":[" OUR_PARENT("gw", "False") "]}");
    json_t *b = J("{\"parents\":[" OUR_PARENT("gw", "True") "]}");
    kube_status_writer_offer(w, ROUTE, obj, a);
    kube_status_writer_offer(w, ROUTE, obj, b);
    json_t *gw = J("{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\","
                   "\"metadata\":{\"name\":\"gw\",\"namespace\":\"ns\",\"resourceVersion\":\"3\"}}");
    json_t *gst = J("{\"conditions\":[{\"type\":\"Programmed\",\"status\":\"True\"}]}");
    kube_status_writer_offer(w, GWK, gw, gst);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 1000, &q), KUBE_STATUS_SEND);
    json_t *body = sent_body(&q);
    json_t *c = json_array_get(json_object_get(json_array_get(json_object_get(
                    json_object_get(body, "status"), "parents"), 0), "conditions"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "True");
    json_decref(body);
    /* the bucket (1 qps, burst 1) is empty: the Gateway waits about a second */
    assert_int_equal(kube_status_writer_next(w, 1000, &q), KUBE_STATUS_WAIT);
    assert_true(q.wait_ms >= 999 && q.wait_ms <= 1001);
    assert_int_equal(kube_status_writer_next(w, 2001, &q), KUBE_STATUS_SEND);
    assert_string_equal(q.path, "/apis/gateway.networking.k8s.io/v1/namespaces/ns/gateways/gw/status");
    kube_status_writer_stats_t st;
    kube_status_writer_stats(w, &st);
    assert_int_equal(st.patches, 2);
    json_decref(obj);
    json_decref(a);
    json_decref(b);
    json_decref(gw);
    json_decref(gst);
    kube_status_writer_free(w);
}

static void test_inactive_sends_nothing_and_followers_track(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(100, 10);
    kube_status_writer_activate(w, false);
    json_t *obj = route("1", NULL);
    json_t *ours = J("{\"parents\":[" OUR_PARENT("gw", "True") "]}");
    kube_status_writer_offer(w, ROUTE, obj, ours);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_IDLE);
    /* the leader wrote it: the echo empties our queue */
    json_t *written = route("2", NULL);
    json_object_set_new(written, "status",
                        kube_status_desired(obj, ours, KUBE_STATUS_PARENTS, CTRL, NOW));
    kube_status_writer_offer(w, ROUTE, written, ours);
    kube_status_writer_stats_t st;
    kube_status_writer_stats(w, &st);
    assert_int_equal(st.queued, 0);
    kube_status_writer_activate(w, true);
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_IDLE);
    json_decref(written);
    json_decref(obj);
    json_decref(ours);
    kube_status_writer_free(w);
}

static void test_route_no_longer_ours_loses_our_parents(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(100, 10);
    json_t *obj = route("4", "{\"parents\":[" OUR_PARENT("gw", "True") ","
                             "{\"parentRef\":{\"name\":\"x\"},\"controllerName\":\"o/c\","
                             "\"conditions\":[]}]}");
    kube_status_writer_offer(w, ROUTE, obj, NULL);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_SEND);
    json_t *b = sent_body(&q);
    json_t *parents = json_object_get(json_object_get(b, "status"), "parents");
    assert_int_equal(json_array_size(parents), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(parents, 0),
                                                          "controllerName")), "o/c");
    json_decref(b);
    /* the object was deleted meanwhile: 404 drops it */
    answer(w, &q, 404, "{}", 1);
    assert_int_equal(kube_status_writer_next(w, 1, &q), KUBE_STATUS_IDLE);
    /* a route that never had ours: nothing */
    json_t *other = route("5", "{\"parents\":[]}");
    kube_status_writer_offer(w, ROUTE, other, NULL);
    assert_int_equal(kube_status_writer_next(w, 2, &q), KUBE_STATUS_IDLE);
    json_decref(other);
    json_decref(obj);
    kube_status_writer_free(w);
}

static void test_defaults_added_by_the_server_are_not_a_difference(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(100, 10);
    /* the API server defaulted supportedKinds[].group; we never wrote it */
    json_t *gw = J("{\"metadata\":{\"name\":\"gw\",\"namespace\":\"ns\"},\"status\":{"
                   "\"listeners\":[{\"name\":\"http\",\"attachedRoutes\":1,\"supportedKinds\":"
                   "[{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"HTTPRoute\"}]}]}}");
    json_t *ours = J("{\"listeners\":[{\"name\":\"http\",\"attachedRoutes\":1,"
                     "\"supportedKinds\":[{\"kind\":\"HTTPRoute\"}]}]}");
    kube_status_writer_offer(w, GWK, gw, ours);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_IDLE);
    /* but a changed value is */
    json_t *ours2 = J("{\"listeners\":[{\"name\":\"http\",\"attachedRoutes\":2,"
                      "\"supportedKinds\":[{\"kind\":\"HTTPRoute\"}]}]}");
    kube_status_writer_offer(w, GWK, gw, ours2);
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_SEND);
    json_decref(gw);
    json_decref(ours);
    json_decref(ours2);
    kube_status_writer_free(w);
}

static void test_gateway_stanza_replaces_stale_fields_and_errors(void **state)
{
    (void)state;
    kube_status_writer_t *w = writer(100, 10);
    json_t *gw = J("{\"metadata\":{\"name\":\"gw\",\"namespace\":\"ns\",\"resourceVersion\":\"3\"},"
                   "\"status\":{\"addresses\":[{\"value\":\"1.2.3.4\"}],\"listeners\":[]}}");
    json_t *ours = J("{\"conditions\":[{\"type\":\"Accepted\",\"status\":\"True\"}],"
                     "\"listeners\":[]}");
    kube_status_writer_offer(w, GWK, gw, ours);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_SEND);
    json_t *b = sent_body(&q);
    json_t *st = json_object_get(b, "status");
    assert_true(json_is_null(json_object_get(st, "addresses")));
    assert_null(json_object_get(st, "listeners")); /* unchanged: not in the patch */
    assert_non_null(json_object_get(st, "conditions"));
    json_decref(b);
    /* 500: retried after the backoff */
    answer(w, &q, 500, "{}", 0);
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_WAIT);
    assert_int_equal(kube_status_writer_next(w, 100, &q), KUBE_STATUS_SEND);
    assert_string_equal(q.method, "PATCH");
    /* 422: dropped until the next change */
    answer(w, &q, 422, "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"bad\"}", 100);
    assert_int_equal(kube_status_writer_next(w, 200, &q), KUBE_STATUS_IDLE);
    kube_status_writer_stats_t s;
    kube_status_writer_stats(w, &s);
    assert_int_equal(s.errors, 2);
    assert_int_equal(s.dropped, 1);
    assert_int_equal(s.queued, 0);
    /* answers to unknown ids are ignored */
    kube_status_writer_done(w, 999, KUBE_EIO, NULL, 300);
    json_decref(gw);
    json_decref(ours);
    kube_status_writer_free(w);
}

/* Through krt: a status collection whose stanza is the input's spec.want. */
static json_t *test_stanza(const krt_obj_t *so)
{
    return json_object_get(krt_json_value(krt_status_value(so)), "want");
}

static int transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    json_t *want = json_object_get(json_object_get(krt_json_value(in), "spec"), "want");
    if (!want)
        return KRT_OK;
    json_t *v = json_pack("{s:{s:s},s:O}", "metadata", "name", krt_json_name(in), "want", want);
    return krt_ctx_set_status(ctx, krt_json_new(v, NULL));
}

static void test_krt_events_drive_the_writer(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *in = krt_static_new(e, &krt_json_type, "routes", true);
    krt_collection_t *status = NULL;
    assert_non_null(krt_derive_status_new(e, in, &krt_json_type, &krt_json_type, "out",
                                          KRT_DERIVE_MANY, transform, NULL, &status));
    kube_api_t api = {0};
    kube_status_writer_options_t o = {.wall_s = fixed_wall, .stanza = test_stanza};
    kube_status_writer_t *w = kube_status_writer_new(api, &o);
    kube_status_writer_activate(w, true);
    assert_int_equal(kube_status_writer_watch(w, status, ROUTE), KUBE_OK);
    kube_test_put(in,
        "{\"metadata\":{\"name\":\"r\",\"namespace\":\"ns\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"want\":{\"parents\":[" OUR_PARENT("gw", "True") "]}}}");
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_collection_len(status), 1);
    kube_status_req_t q;
    assert_int_equal(kube_status_writer_next(w, 0, &q), KUBE_STATUS_SEND);
    assert_string_equal(q.method, "PATCH");
    /* the route stops wanting status: our parents go, after the write in flight */
    kube_test_put(in,
        "{\"metadata\":{\"name\":\"r\",\"namespace\":\"ns\",\"resourceVersion\":\"2\"},"
        "\"status\":{\"parents\":[" OUR_PARENT("gw", "True") "]}}");
    krt_engine_flush(e);
    answer(w, &q, 500, "{}", 0);
    assert_int_equal(kube_status_writer_next(w, 100, &q), KUBE_STATUS_WAIT);
    assert_int_equal(kube_status_writer_next(w, 250, &q), KUBE_STATUS_SEND);
    json_t *b = sent_body(&q);
    assert_int_equal(json_array_size(json_object_get(json_object_get(b, "status"), "parents")), 0);
    json_decref(b);
    kube_status_writer_free(w);
    krt_engine_free(e);
}

/* The libuv adapter: requests go out from the loop (never from inside the krt handler), answers
 * arrive later, stop cancels what is in flight and a restart re-reads before writing. */
static void test_adapter_sends_from_the_loop_and_stops(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    kube_test_api_t f = {0};
    kube_api_t api = kube_test_api(&f, true);
    kube_status_writer_options_t o = {.wall_s = fixed_wall};
    kube_status_writer_t *w = kube_status_writer_new(api, &o);
    assert_int_equal(kube_status_writer_start(w, &loop), KUBE_OK);
    json_t *obj = route("1", NULL);
    json_t *ours = J("{\"parents\":[" OUR_PARENT("gw", "True") "]}");
    kube_status_writer_offer(w, ROUTE, obj, ours);
    assert_int_equal(f.sent, 0); /* not from inside the offer */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 1);
    assert_string_equal(f.last, "PATCH");
    /* a server error: retried from the loop after the backoff */
    kube_response_t r500 = {500, "{}", 2, NULL};
    f.cb(f.cb_ud, KUBE_OK, &r500);
    assert_int_equal(f.sent, 1);
    for (int i = 0; i < 100 && f.sent < 2; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(f.sent, 2);
    /* losing the lease cancels the write in flight; leading again re-reads first */
    kube_status_writer_stop(w);
    assert_int_equal(f.cancelled, 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 2);
    assert_int_equal(kube_status_writer_start(w, &loop), KUBE_OK);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 3);
    assert_string_equal(f.last, "GET");
    kube_status_writer_free(w); /* cancels the GET, closes the timer */
    assert_int_equal(f.cancelled, 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    json_decref(obj);
    json_decref(ours);
}

static void test_adapter_survives_answers_inside_the_request(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    /* a request that cannot start, then a write */
    static const kube_test_answer_t script[] = {{KUBE_EIO, 0, NULL}, {KUBE_OK, 200, "{}"}};
    kube_test_api_t f = {.script = script, .script_len = 2};
    kube_api_t api = kube_test_api(&f, false);
    kube_status_writer_options_t o = {.wall_s = fixed_wall, .backoff_base_ms = 1};
    kube_status_writer_t *w = kube_status_writer_new(api, &o);
    kube_status_writer_start(w, &loop);
    json_t *obj = route("1", NULL);
    json_t *ours = J("{\"parents\":[" OUR_PARENT("gw", "True") "]}");
    kube_status_writer_offer(w, ROUTE, obj, ours);
    for (int i = 0; i < 100 && f.sent < 2; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(f.sent, 2); /* failed at once, retried after the backoff, written */
    kube_status_writer_stats_t st;
    kube_status_writer_stats(w, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.in_flight, 0);
    kube_status_writer_free(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    json_decref(obj);
    json_decref(ours);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changed_stanza_is_one_patch_with_precondition),
        cmocka_unit_test(test_other_controllers_parents_and_times_are_kept),
        cmocka_unit_test(test_conflict_rereads_after_backoff_and_recomputes),
        cmocka_unit_test(test_burst_coalesces_and_bucket_spaces_writes),
        cmocka_unit_test(test_inactive_sends_nothing_and_followers_track),
        cmocka_unit_test(test_route_no_longer_ours_loses_our_parents),
        cmocka_unit_test(test_defaults_added_by_the_server_are_not_a_difference),
        cmocka_unit_test(test_gateway_stanza_replaces_stale_fields_and_errors),
        cmocka_unit_test(test_krt_events_drive_the_writer),
        cmocka_unit_test(test_adapter_sends_from_the_loop_and_stops),
        cmocka_unit_test(test_adapter_survives_answers_inside_the_request),
    };
    return cmocka_run_group_tests(tests, setup_kinds, NULL);
}
