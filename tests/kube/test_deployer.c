/*
 * The deployer (kube/deployer.c). Golden tests of the desired objects (ServiceAccount, Service,
 * Deployment) for a plain Gateway and one with class and Gateway AgentgatewayParameters
 * (tests/kube/golden/deployer/<case>.in.json → .out.json; KUBE_GOLDEN_UPDATE=1 rewrites the
 * outputs); the krt collection recomputes when parameters change and drops a Gateway whose class
 * is not ours; the applier, driven sans-IO, creates what is missing, writes nothing when the
 * object already has our fields (with server defaults around them), patches only our fields when
 * they differ, deletes what is no longer desired, retries a 409 after a backoff, and starts over
 * when a new desired state arrives while a request is in flight.
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
#include "kube/deployer.h"
#include "kube_test_api.h"

static const kube_deployer_options_t OPTS = {
    .xds_address = "krtgate.krtgate-system.svc:9978",
    .proxy_image = "ghcr.io/krtgate/krtgate:0.1.0",
};

static json_t *null_to_0(json_t *j)
{
    return json_is_null(j) ? NULL : j;
}

static void golden(const char *name)
{
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/tests/kube/golden/deployer/%s.in.json", KRT_SOURCE_DIR, name);
    snprintf(out, sizeof out, "%s/tests/kube/golden/deployer/%s.out.json", KRT_SOURCE_DIR, name);
    json_error_t e;
    json_t *fx = json_load_file(in, 0, &e);
    if (!fx)
        fail_msg("%s:%d: %s", in, e.line, e.text);
    char err[256] = "";
    json_t *objs = kube_deployer_render(json_object_get(fx, "gateway"), json_object_get(fx, "class"),
                                        null_to_0(json_object_get(fx, "class_params")),
                                        null_to_0(json_object_get(fx, "gw_params")), &OPTS, err,
                                        sizeof err);
    if (!objs)
        fail_msg("%s: %s", name, err);
    if (getenv("KUBE_GOLDEN_UPDATE")) {
        assert_int_equal(json_dump_file(objs, out, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
        FILE *f = fopen(out, "a");
        fputc('\n', f);
        fclose(f);
    }
    json_t *want = json_load_file(out, 0, &e);
    if (!want)
        fail_msg("%s:%d: %s (run with KUBE_GOLDEN_UPDATE=1 to create it)", out, e.line, e.text);
    if (!json_equal(objs, want)) {
        char *got = json_dumps(objs, JSON_INDENT(2) | JSON_SORT_KEYS);
        fprintf(stderr, "golden %s differs; got:\n%s\n", name, got);
        free(got);
        fail();
    }
    json_decref(want);
    json_decref(objs);
    json_decref(fx);
}

static void test_golden_basic(void **state)
{
    (void)state;
    golden("basic");
}

static void test_golden_params(void **state)
{
    (void)state;
    golden("params");
}

static void test_other_class_is_not_rendered(void **state)
{
    (void)state;
    json_t *gw = json_loads("{\"metadata\":{\"name\":\"g\",\"namespace\":\"n\"},"
                            "\"spec\":{\"gatewayClassName\":\"x\"}}", 0, NULL);
    json_t *gc = json_loads("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"controllerName\":\"o/c\"}}",
                            0, NULL);
    char err[256];
    assert_null(kube_deployer_render(gw, gc, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not ours"));
    assert_null(kube_deployer_render(gw, NULL, NULL, NULL, NULL, err, sizeof err));
    json_decref(gw);
    json_decref(gc);
}

static void test_collection_follows_class_and_params(void **state)
{
    (void)state;
    krt_engine_t *e = krt_engine_new();
    krt_collection_t *gws = krt_static_new(e, &krt_json_type, "Gateway", true);
    krt_collection_t *gcs = krt_static_new(e, &krt_json_type, "GatewayClass", true);
    krt_collection_t *ps = krt_static_new(e, &krt_json_type, "AgentgatewayParameters", true);
    kube_deployer_t *d = kube_deployer_new(e, gws, gcs, ps, &OPTS);
    assert_non_null(d);
    krt_collection_t *des = kube_deployer_desired(d);
    kube_test_put(gcs, "{\"metadata\":{\"name\":\"agw\"},\"spec\":{\"controllerName\":"
             "\"agentgateway.dev/agentgateway\",\"parametersRef\":{\"group\":\"agentgateway.dev\","
             "\"kind\":\"AgentgatewayParameters\",\"name\":\"p\",\"namespace\":\"sys\"}}}");
    kube_test_put(gws, "{\"metadata\":{\"name\":\"g\",\"namespace\":\"n\",\"uid\":\"u1\"},"
             "\"spec\":{\"gatewayClassName\":\"agw\",\"listeners\":[{\"name\":\"h\",\"port\":80}]}}");
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_collection_len(des), 3);
    assert_non_null(krt_collection_get(des, "Deployment/n/g"));
    assert_non_null(krt_collection_get(des, "Service/n/g"));
    assert_non_null(krt_collection_get(des, "ServiceAccount/n/g"));
    const krt_obj_t *before = krt_obj_retain(krt_collection_get(des, "Deployment/n/g"));
    kube_test_put(ps, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"sys\"},"
            "\"spec\":{\"deployment\":{\"spec\":{\"replicas\":2}}}}");
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    const krt_obj_t *after = krt_collection_get(des, "Deployment/n/g");
    assert_false(krt_obj_equal(before, after));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(kube_desired_json(after),
                                                                        "spec"), "replicas")), 2);
    krt_obj_release(before);
    /* the class goes to another controller: nothing desired any more */
    kube_test_put(gcs, "{\"metadata\":{\"name\":\"agw\"},\"spec\":{\"controllerName\":\"o/c\"}}");
    assert_int_equal(krt_engine_flush(e), KRT_OK);
    assert_int_equal(krt_collection_len(des), 0);
    kube_deployer_free(d);
    krt_engine_free(e);
}

/* ---- applier ---- */
static kube_applier_t *applier(void)
{
    kube_api_t api = {0};
    kube_applier_options_t o = {.qps = 100, .burst = 100, .backoff_base_ms = 100};
    kube_applier_t *a = kube_applier_new(api, &o);
    assert_non_null(a);
    kube_applier_activate(a, true);
    return a;
}

static void reply(kube_applier_t *a, const kube_apply_req_t *q, int status, const char *body)
{
    kube_response_t r = {status, body, strlen(body), "application/json"};
    kube_applier_done(a, q->id, KUBE_OK, &r, 0);
}

static const char *SA =
    "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"g\","
    "\"namespace\":\"n\",\"labels\":{\"a\":\"b\"}},\"automountServiceAccountToken\":false}";

static void test_applier_creates_then_leaves_alone(void **state)
{
    (void)state;
    kube_applier_t *a = applier();
    json_t *want = json_loads(SA, 0, NULL);
    assert_int_equal(kube_applier_offer(a, "ServiceAccount/n/g", want), KUBE_OK);
    kube_apply_req_t q;
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_SEND);
    assert_string_equal(q.method, "GET");
    assert_string_equal(q.path, "/api/v1/namespaces/n/serviceaccounts/g");
    reply(a, &q, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\"}");
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_SEND);
    assert_string_equal(q.method, "POST");
    assert_string_equal(q.path, "/api/v1/namespaces/n/serviceaccounts?fieldManager=krtgate");
    json_t *sent = json_loads(q.body, 0, NULL);
    assert_true(json_equal(sent, want));
    json_decref(sent);
    reply(a, &q, 201, SA);
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_IDLE);
    /* offered again (say after a restart): the object, with server fields, has ours: no write */
    kube_applier_offer(a, "ServiceAccount/n/g", want);
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_SEND);
    reply(a, &q, 200,
          "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"g\","
          "\"namespace\":\"n\",\"uid\":\"x\",\"resourceVersion\":\"9\",\"labels\":{\"a\":\"b\","
          "\"other\":\"c\"}},\"automountServiceAccountToken\":false,\"secrets\":[]}");
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_IDLE);
    kube_applier_stats_t st;
    kube_applier_stats(a, &st);
    assert_int_equal(st.creates, 1);
    assert_int_equal(st.patches, 0);
    assert_int_equal(st.unchanged, 1);
    assert_int_equal(st.queued, 0);
    json_decref(want);
    kube_applier_free(a);
}

static void test_applier_patches_only_our_fields(void **state)
{
    (void)state;
    kube_applier_t *a = applier();
    json_t *want = json_loads(
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"g\","
        "\"namespace\":\"n\"},\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":"
        "[{\"name\":\"agentgateway\",\"image\":\"i:1\"}]}}}}", 0, NULL);
    kube_applier_offer(a, "Deployment/n/g", want);
    kube_apply_req_t q;
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_SEND);
    assert_string_equal(q.path, "/apis/apps/v1/namespaces/n/deployments/g");
    /* the API server's copy: defaults inside the container, a different replica count */
    reply(a, &q, 200,
          "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"g\","
          "\"namespace\":\"n\",\"generation\":4},\"spec\":{\"replicas\":5,\"strategy\":{},"
          "\"template\":{\"spec\":{\"containers\":[{\"name\":\"agentgateway\",\"image\":\"i:1\","
          "\"imagePullPolicy\":\"IfNotPresent\"}],\"dnsPolicy\":\"ClusterFirst\"}}}}");
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_SEND);
    assert_string_equal(q.method, "PATCH");
    assert_string_equal(q.content_type, "application/merge-patch+json");
    assert_string_equal(q.body, "{\"spec\":{\"replicas\":2}}");
    reply(a, &q, 200, "{}");
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_IDLE);
    json_decref(want);
    kube_applier_free(a);
}

static void test_applier_deletes_retries_and_restarts(void **state)
{
    (void)state;
    kube_applier_t *a = applier();
    json_t *want = json_loads(SA, 0, NULL);
    kube_applier_offer(a, "ServiceAccount/n/g", want);
    kube_apply_req_t q;
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_SEND);
    reply(a, &q, 404, "{}");
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_SEND);
    assert_string_equal(q.method, "POST");
    /* someone created it meanwhile: 409, then a GET after the backoff */
    reply(a, &q, 409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\"}");
    assert_int_equal(kube_applier_next(a, 0, &q), KUBE_APPLY_WAIT);
    assert_int_equal(q.wait_ms, 100);
    assert_int_equal(kube_applier_next(a, 100, &q), KUBE_APPLY_SEND);
    assert_string_equal(q.method, "GET");
    uint64_t get_id = q.id;
    /* no longer desired while the GET is in flight: the answer is ignored, then DELETE */
    kube_applier_offer(a, "ServiceAccount/n/g", NULL);
    kube_apply_req_t q2;
    assert_int_equal(kube_applier_next(a, 100, &q2), KUBE_APPLY_IDLE);
    q.id = get_id;
    reply(a, &q, 200, SA);
    assert_int_equal(kube_applier_next(a, 100, &q), KUBE_APPLY_SEND);
    assert_string_equal(q.method, "DELETE");
    assert_string_equal(q.path, "/api/v1/namespaces/n/serviceaccounts/g");
    reply(a, &q, 404, "{}");
    assert_int_equal(kube_applier_next(a, 100, &q), KUBE_APPLY_IDLE);
    /* inactive: nothing is sent */
    kube_applier_activate(a, false);
    kube_applier_offer(a, "ServiceAccount/n/g", want);
    assert_int_equal(kube_applier_next(a, 100, &q), KUBE_APPLY_IDLE);
    assert_int_equal(kube_applier_offer(a, "bad-key", want), KUBE_EINVAL);
    json_decref(want);
    kube_applier_free(a);
}

/* The applier's libuv adapter against an answering fake: create, then nothing more. */
static void test_applier_adapter(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    kube_test_api_t f = {0};
    kube_api_t api = kube_test_api(&f, false);
    kube_applier_t *a = kube_applier_new(api, NULL);
    json_t *want = json_loads(SA, 0, NULL);
    kube_applier_offer(a, "ServiceAccount/n/g", want);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 0); /* not leading */
    assert_int_equal(kube_applier_start(a, &loop), KUBE_OK);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 1);
    assert_string_equal(f.methods[0], "GET");
    kube_response_t nf = {404, "{}", 2, NULL};
    f.cb(f.cb_ud, KUBE_OK, &nf);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 2);
    assert_string_equal(f.methods[1], "POST");
    kube_response_t created = {201, SA, strlen(SA), NULL};
    f.cb(f.cb_ud, KUBE_OK, &created);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 2);
    kube_applier_stats_t st;
    kube_applier_stats(a, &st);
    assert_int_equal(st.queued, 0);
    kube_applier_free(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    json_decref(want);
}

static void test_applier_adapter_with_answers_inside_the_request(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    /* answers inside the request function: 404, then 201 */
    const kube_test_answer_t script[] = {{KUBE_OK, 404, SA}, {KUBE_OK, 201, SA}};
    kube_test_api_t f = {.script = script, .script_len = 2};
    kube_api_t api = kube_test_api(&f, false);
    kube_applier_t *a = kube_applier_new(api, NULL);
    json_t *want = json_loads(SA, 0, NULL);
    kube_applier_start(a, &loop);
    kube_applier_offer(a, "ServiceAccount/n/g", want);
    for (int i = 0; i < 10 && f.sent < 2; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(f.sent, 2); /* GET 404, POST 201 */
    kube_applier_stats_t st;
    kube_applier_stats(a, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.creates, 1);
    kube_applier_free(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    json_decref(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_basic),
        cmocka_unit_test(test_golden_params),
        cmocka_unit_test(test_other_class_is_not_rendered),
        cmocka_unit_test(test_collection_follows_class_and_params),
        cmocka_unit_test(test_applier_creates_then_leaves_alone),
        cmocka_unit_test(test_applier_patches_only_our_fields),
        cmocka_unit_test(test_applier_deletes_retries_and_restarts),
        cmocka_unit_test(test_applier_adapter),
        cmocka_unit_test(test_applier_adapter_with_answers_inside_the_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
