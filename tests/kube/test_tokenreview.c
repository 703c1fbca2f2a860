/*
 * xDS authentication by TokenReview (kube/tokenreview.c), driven through a fake request function:
 * the hook answers PENDING and POSTs a TokenReview with the audience; the test answers it and sees
 * the stream allowed only for the Gateway's own service account; other identities are
 * PERMISSION_DENIED with the reason agentgateway gives, unauthenticated tokens UNAUTHENTICATED,
 * API failures UNAVAILABLE and uncached; answers are cached per token until they expire, the cache
 * is bounded, and freeing with reviews in flight cancels them and completes their streams.
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

#include "kube/tokenreview.h"

typedef struct fake {
    int sent;
    char method[16], path[256], body[4096];
    kube_response_cb cb;
    void *cb_ud;
    int cancelled;
    uint64_t now;
    int refuse; /* the request function fails */
    int sync_status; /* answer inside the request function with this HTTP status (0: later) */
    const char *sync_body;
} fake_t;

static int fake_request(void *ud, const char *method, const char *path, const char *ct,
                        const char *body, size_t len, kube_response_cb cb, void *cb_ud,
                        kube_call_t **call)
{
    fake_t *f = ud;
    (void)ct;
    if (f->refuse)
        return KUBE_ESTATE;
    f->sent++;
    snprintf(f->method, sizeof f->method, "%s", method);
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->body, sizeof f->body, "%.*s", (int)len, body);
    f->cb = cb;
    f->cb_ud = cb_ud;
    if (call)
        *call = (kube_call_t *)f;
    if (f->sync_status < 0) { /* the transport could not even start */
        f->cb = NULL;
        cb(cb_ud, KUBE_EIO, NULL);
    } else if (f->sync_status) {
        f->cb = NULL;
        kube_response_t r = {f->sync_status, f->sync_body, strlen(f->sync_body), NULL};
        cb(cb_ud, KUBE_OK, &r);
    }
    return KUBE_OK;
}

static void fake_cancel(void *ud, kube_call_t *call)
{
    fake_t *f = ud;
    assert_ptr_equal(call, f);
    f->cancelled++;
    f->cb = NULL;
}

static uint64_t fake_now(void *ud)
{
    return ((fake_t *)ud)->now;
}

static void answer(fake_t *f, int status, const char *body)
{
    kube_response_cb cb = f->cb;
    assert_non_null(cb);
    f->cb = NULL;
    kube_response_t r = {status, body, strlen(body), "application/json"};
    cb(f->cb_ud, KUBE_OK, &r);
}

/* a pending decision as the xDS server makes it */
typedef struct outcome {
    int done, status;
    char reason[512];
} outcome_t;

static void on_done(void *ctx, int status, const char *reason)
{
    outcome_t *o = ctx;
    o->done++;
    o->status = status;
    snprintf(o->reason, sizeof o->reason, "%s", reason);
}

typedef struct fx {
    fake_t f;
    kube_tokenreview_t *t;
    xds_auth_t auth;
    xds_auth_pending_t *held[32]; /* the server's references, dropped at teardown */
    size_t nheld;
} fx_t;

static int setup(void **state)
{
    fx_t *x = calloc(1, sizeof *x);
    kube_api_t api = {fake_request, fake_cancel, &x->f};
    kube_tokenreview_options_t o = {.now_ms = fake_now, .now_ud = &x->f, .cache_max = 2};
    x->t = kube_tokenreview_new(api, &o);
    assert_non_null(x->t);
    kube_tokenreview_auth(x->t, &x->auth);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    fx_t *x = *state;
    kube_tokenreview_free(x->t);
    for (size_t i = 0; i < x->nheld; i++)
        xds__auth_pending_cancel(x->held[i]);
    free(x);
    return 0;
}

/* Runs the hook like the server: returns its result; a synchronous answer drops the pending. */
static int ask(fx_t *x, const char *token, const char *gateway, outcome_t *o, char *reason)
{
    memset(o, 0, sizeof *o);
    xds_auth_pending_t *p = xds__auth_pending_new(on_done, o);
    xds_auth_request_t req = {.token = token, .gateway = gateway, .peer = "127.0.0.1:1",
                              .node_id = "n"};
    reason[0] = '\0';
    int rc = x->auth.cb(&req, p, reason, 512, x->auth.ud);
    if (rc != XDS_AUTH_PENDING)
        xds__auth_pending_drop(p);
    else
        x->held[x->nheld++] = p; /* the server keeps its reference until the stream ends */
    return rc;
}

static const char *review_ok(const char *user)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"status\":{"
             "\"authenticated\":true,\"user\":{\"username\":\"%s\"},\"audiences\":[\"agentgateway\"]}}",
             user);
    return buf;
}

static void test_service_account_of_the_gateway_is_allowed(void **state)
{
    fx_t *x = *state;
    outcome_t o;
    char reason[512];
    assert_int_equal(ask(x, "tok-a", "ns1/gw", &o, reason), XDS_AUTH_PENDING);
    assert_int_equal(x->f.sent, 1);
    assert_string_equal(x->f.method, "POST");
    assert_string_equal(x->f.path, "/apis/authentication.k8s.io/v1/tokenreviews");
    json_t *b = json_loads(x->f.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "kind")), "TokenReview");
    json_t *spec = json_object_get(b, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "token")), "tok-a");
    assert_string_equal(json_string_value(json_array_get(json_object_get(spec, "audiences"), 0)),
                        "agentgateway");
    json_decref(b);
    assert_int_equal(o.done, 0);
    answer(&x->f, 201, review_ok("system:serviceaccount:ns1:gw"));
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, 0);
    kube_tokenreview_stats_t st;
    kube_tokenreview_stats(x->t, &st);
    assert_int_equal(st.allowed, 1);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.cached, 1);
}

static void test_another_gateway_is_permission_denied_from_the_cache(void **state)
{
    fx_t *x = *state;
    outcome_t o;
    char reason[512];
    assert_int_equal(ask(x, "tok-a", "ns1/gw", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201, review_ok("system:serviceaccount:ns1:gw"));
    /* same token, another role: no second review, refused at once */
    assert_int_equal(ask(x, "tok-a", "ns1/other", &o, reason), 7);
    assert_int_equal(x->f.sent, 1);
    assert_string_equal(reason, "requested gateway ns1/other but authenticated as ns1/gw");
    assert_int_equal(ask(x, "tok-a", "ns2/gw", &o, reason), 7);
    assert_int_equal(ask(x, "tok-a", NULL, &o, reason), 7);
    assert_non_null(strstr(reason, "no gateway role"));
    /* and the right role is allowed from the cache */
    assert_int_equal(ask(x, "tok-a", "ns1/gw", &o, reason), 0);
    kube_tokenreview_stats_t st;
    kube_tokenreview_stats(x->t, &st);
    assert_int_equal(st.cache_hits, 4);
    assert_int_equal(st.reviews, 1);
    assert_int_equal(st.denied, 3);
}

static void test_unauthenticated_and_non_service_account(void **state)
{
    fx_t *x = *state;
    outcome_t o;
    char reason[512];
    assert_int_equal(ask(x, NULL, "ns1/gw", &o, reason), 16);
    assert_int_equal(x->f.sent, 0);
    assert_int_equal(ask(x, "bad", "ns1/gw", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201,
           "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false,\"error\":\"token expired\"}}");
    assert_int_equal(o.status, 16);
    assert_non_null(strstr(o.reason, "token expired"));
    assert_int_equal(ask(x, "user", "ns1/gw", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201, review_ok("alice"));
    assert_int_equal(o.status, 7);
    assert_non_null(strstr(o.reason, "not a service account"));
}

static void test_api_failures_are_unavailable_and_not_cached(void **state)
{
    fx_t *x = *state;
    outcome_t o;
    char reason[512];
    assert_int_equal(ask(x, "tok", "ns1/gw", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 403, "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"message\":\"no rbac\"}");
    assert_int_equal(o.status, 14);
    assert_non_null(strstr(o.reason, "Forbidden"));
    assert_int_equal(ask(x, "tok", "ns1/gw", &o, reason), XDS_AUTH_PENDING);
    assert_int_equal(x->f.sent, 2);
    x->f.cb(x->f.cb_ud, KUBE_EIO, NULL);
    assert_int_equal(o.status, 14);
    assert_int_equal(ask(x, "tok", "ns1/gw", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 200, "not json");
    assert_int_equal(o.status, 14);
    x->f.refuse = 1;
    assert_int_equal(ask(x, "tok", "ns1/gw", &o, reason), 14);
    assert_non_null(strstr(reason, "not sent"));
    kube_tokenreview_stats_t st;
    kube_tokenreview_stats(x->t, &st);
    assert_int_equal(st.cached, 0);
    assert_int_equal(st.unavailable, 4);
}

static void test_cache_expires_and_is_bounded(void **state)
{
    fx_t *x = *state;
    outcome_t o;
    char reason[512];
    assert_int_equal(ask(x, "a", "ns/a", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201, review_ok("system:serviceaccount:ns:a"));
    x->f.now = 59999;
    assert_int_equal(ask(x, "a", "ns/a", &o, reason), 0);
    x->f.now = 60000; /* positive lifetime over: reviewed again */
    assert_int_equal(ask(x, "a", "ns/a", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201, review_ok("system:serviceaccount:ns:a"));
    /* negative answers live 5 s */
    assert_int_equal(ask(x, "b", "ns/b", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201, "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false}}");
    x->f.now += 4999;
    assert_int_equal(ask(x, "b", "ns/b", &o, reason), 16);
    x->f.now += 1;
    int sent = x->f.sent;
    assert_int_equal(ask(x, "b", "ns/b", &o, reason), XDS_AUTH_PENDING);
    assert_int_equal(x->f.sent, sent + 1);
    answer(&x->f, 201, review_ok("system:serviceaccount:ns:b"));
    /* cache_max 2: a third token evicts the oldest ("a") */
    assert_int_equal(ask(x, "c", "ns/c", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201, review_ok("system:serviceaccount:ns:c"));
    kube_tokenreview_stats_t st;
    kube_tokenreview_stats(x->t, &st);
    assert_int_equal(st.cached, 2);
    assert_int_equal(ask(x, "b", "ns/b", &o, reason), 0);
    assert_int_equal(ask(x, "a", "ns/a", &o, reason), XDS_AUTH_PENDING);
    answer(&x->f, 201, review_ok("system:serviceaccount:ns:a"));
}

static void test_free_completes_reviews_in_flight(void **state)
{
    fx_t *x = *state;
    outcome_t o;
    char reason[512];
    assert_int_equal(ask(x, "tok", "ns/gw", &o, reason), XDS_AUTH_PENDING);
    kube_tokenreview_free(x->t);
    x->t = NULL;
    assert_int_equal(x->f.cancelled, 1);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, 14);
}

static void test_answer_before_the_request_returns(void **state)
{
    fx_t *x = *state;
    outcome_t o;
    char reason[512];
    x->f.sync_status = -1;
    assert_int_equal(ask(x, "tok", "ns/gw", &o, reason), 14);
    assert_non_null(strstr(reason, "TokenReview failed"));
    assert_int_equal(o.done, 0); /* answered by the return value, not by a completion */
    x->f.sync_status = 201;
    x->f.sync_body = review_ok("system:serviceaccount:ns:gw");
    assert_int_equal(ask(x, "tok", "ns/gw", &o, reason), 0);
    assert_int_equal(o.done, 0);
    kube_tokenreview_stats_t st;
    kube_tokenreview_stats(x->t, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.allowed, 1);
    assert_int_equal(st.unavailable, 1);
}

static void test_audience_option_and_parse_errors(void **state)
{
    (void)state;
    char *b = kube_tokenreview_body("t\"x", "");
    json_t *j = json_loads(b, 0, NULL);
    assert_non_null(j);
    assert_null(json_object_get(json_object_get(j, "spec"), "audiences"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "spec"), "token")),
                        "t\"x");
    json_decref(j);
    free(b);
    kube_tokenreview_result_t r;
    assert_int_equal(kube_tokenreview_parse(201, "{}", 2, NULL, &r), KUBE_EIO);
    assert_int_equal(kube_tokenreview_parse(500, "", 0, NULL, &r), KUBE_EIO);
    assert_string_equal(r.error, "TokenReview answered HTTP 500");
    const char *ok = "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,"
                     "\"user\":{\"username\":\"system:serviceaccount:a:b:c\"}}}";
    assert_int_equal(kube_tokenreview_parse(201, ok, strlen(ok), NULL, &r), KUBE_OK);
    char reason[256];
    /* a name with a colon never matches a Gateway name */
    assert_int_equal(kube_tokenreview_decide(&r, "a/b", reason, sizeof reason), 7);
    assert_int_equal(kube_tokenreview_decide(&r, "a/b:c", reason, sizeof reason), 0);
    assert_int_equal(kube_tokenreview_decide(&r, "ab", reason, sizeof reason), 7);
    /* asked for an audience: an answer without it is not an authentication */
    assert_int_equal(kube_tokenreview_parse(201, ok, strlen(ok), "agentgateway", &r), KUBE_OK);
    assert_false(r.authenticated);
    assert_string_equal(r.error, "token audiences do not include agentgateway");
    const char *other = "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,"
                        "\"user\":{\"username\":\"u\"},\"audiences\":[\"x\",\"agentgateway\"]}}";
    assert_int_equal(kube_tokenreview_parse(201, other, strlen(other), "agentgateway", &r), KUBE_OK);
    assert_true(r.authenticated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_account_of_the_gateway_is_allowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_another_gateway_is_permission_denied_from_the_cache,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unauthenticated_and_non_service_account, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_failures_are_unavailable_and_not_cached, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache_expires_and_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_completes_reviews_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_before_the_request_returns, setup, teardown),
        cmocka_unit_test(test_audience_option_and_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
