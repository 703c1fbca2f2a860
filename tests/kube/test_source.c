/*
 * The source (kube/source.c): one static collection per registered kind, fed only through
 * kube_source_apply. These tests watch what reaches krt subscribers after each flush: puts,
 * updates and deletes as events, equal puts as nothing, namespaces defaulted as kubectl would,
 * unknown kinds and foreign API groups ignored with one log line each, bad changes logged with
 * their origin while the good ones in the same call still apply, synced marks per kind, and
 * what is kept of an object (a Pod's projection, bookkeeping fields dropped).
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
#include "kube/source.h"

/* ---------------------------------------------------------------------------------------------
 * Fixtures: a log capture and an event recorder.
 * ------------------------------------------------------------------------------------------- */
typedef struct lines {
    char *v[64];
    int level[64];
    size_t n;
} lines_t;

static void capture(int level, const char *msg, void *ud)
{
    lines_t *l = ud;
    if (l->n < 64) {
        l->level[l->n] = level;
        l->v[l->n++] = strdup(msg);
    }
}

static void lines_free(lines_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

typedef struct rec {
    char events[1024];
    size_t batches;
} rec_t;

static void record(const krt_batch_t *b, void *ud)
{
    rec_t *r = ud;
    r->batches++;
    for (size_t i = 0; i < b->len; i++) {
        static const char *const ops[] = {"", "add", "update", "delete"};
        size_t n = strlen(r->events);
        snprintf(r->events + n, sizeof r->events - n, "%s%s/%s", n ? " " : "", ops[b->events[i].op],
                 krt_obj_key(krt_event_latest(&b->events[i])));
    }
}

/* Returns the events recorded since the last call ("" when none) and forgets them. */
static const char *take(rec_t *r)
{
    static char out[1024];
    memcpy(out, r->events, sizeof out);
    r->events[0] = '\0';
    return out;
}

typedef struct env {
    krt_engine_t *e;
    kube_source_t *s;
    lines_t log;
} env_t;

static void env_init(env_t *v)
{
    memset(v, 0, sizeof *v);
    v->e = krt_engine_new();
    assert_non_null(v->e);
    kube_source_options_t o = {.log = capture, .log_ud = &v->log};
    v->s = kube_source_new(v->e, &o);
    assert_non_null(v->s);
}

static void env_dispose(env_t *v)
{
    assert_int_equal(krt_engine_check(v->e), KRT_OK);
    kube_source_free(v->s);
    krt_engine_free(v->e);
    lines_free(&v->log);
}

static json_t *obj(const char *text)
{
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    if (!o)
        fail_msg("bad fixture %s: %s", text, err.text);
    return o;
}

/* Applies one change of |op| on the JSON |text| (the test keeps no reference). */
static int apply1(env_t *v, kube_change_op_t op, const char *text, const char *origin)
{
    json_t *o = text ? obj(text) : NULL;
    kube_change_t c = {op, o, NULL, origin, false};
    int rc = kube_source_apply(v->s, &c, 1);
    json_decref(o);
    return rc;
}

#define SVC(ns_part, name, port)                                                            \
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{" ns_part "\"name\":\"" name \
    "\"},\"spec\":{\"ports\":[{\"port\":" #port "}]}}"

/* ---------------------------------------------------------------------------------------------
 * Kinds and identities.
 * ------------------------------------------------------------------------------------------- */
static void test_kind_registry_knows_groups_and_scope(void **state)
{
    (void)state;
    const kube_kind_t *k = kube_kind_find("HTTPRoute");
    assert_non_null(k);
    assert_string_equal(k->group, "gateway.networking.k8s.io");
    assert_true(k->namespaced);
    k = kube_kind_find("GatewayClass");
    assert_false(k->namespaced);
    assert_false(kube_kind_find("Namespace")->namespaced);
    assert_string_equal(kube_kind_find("Service")->group, "");
    assert_string_equal(kube_kind_find("EndpointSlice")->group, "discovery.k8s.io");
    assert_string_equal(kube_kind_find("AgentgatewayPolicy")->group, "agentgateway.dev");
    assert_null(kube_kind_find("Deployment"));
    assert_null(kube_kind_find("httproute")); /* kinds are case-sensitive */
    assert_null(kube_kind_find(NULL));
    for (size_t i = 0; i < kube_kinds_len; i++)
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(kube_kinds[i].kind, kube_kinds[j].kind);

    char g[32];
    assert_string_equal(kube_api_group("gateway.networking.k8s.io/v1beta1", g, sizeof g),
                        "gateway.networking.k8s.io");
    assert_string_equal(kube_api_group("v1", g, sizeof g), "");
    assert_string_equal(kube_api_group(NULL, g, sizeof g), "");
    assert_string_equal(kube_api_group("apps/v1", g, 3), "ap");
}

static void test_identity_defaults_namespace_like_the_source(void **state)
{
    (void)state;
    static const struct {
        const char *json, *id;
    } cases[] = {
        {SVC("", "web", 80), "Service/default/web"},
        {SVC("\"namespace\":\"app\",", "web", 80), "Service/app/web"},
        {SVC("\"namespace\":\"\",", "web", 80), "Service/default/web"},
        {"{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"GatewayClass\","
         "\"metadata\":{\"name\":\"agw\",\"namespace\":\"x\"}}",
         "GatewayClass.gateway.networking.k8s.io/agw"},
        {"{\"apiVersion\":\"gateway.networking.k8s.io/v1beta1\",\"kind\":\"HTTPRoute\","
         "\"metadata\":{\"name\":\"r\"}}",
         "HTTPRoute.gateway.networking.k8s.io/default/r"},
        /* Unknown kinds (and known kinds of another group) keep what they say. */
        {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"}}",
         "Deployment.apps/d"},
        {"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"Gateway\","
         "\"metadata\":{\"name\":\"g\",\"namespace\":\"n\"}}",
         "Gateway.networking.istio.io/n/g"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *o = obj(cases[i].json);
        int err = 1;
        char *id = kube_object_identity(o, &err);
        assert_int_equal(err, KUBE_OK);
        assert_string_equal(id, cases[i].id);
        free(id);
        json_decref(o);
    }
    json_t *o = obj("{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\"}}");
    int err = 0;
    assert_null(kube_object_identity(o, &err));
    assert_int_equal(err, KUBE_EOBJECT);
    json_decref(o);
    assert_null(kube_object_identity(NULL, &err));
    assert_int_equal(err, KUBE_EOBJECT);
}

static void test_error_table_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(kube_strerror(KUBE_OK), "success");
    assert_string_equal(kube_strerror(KUBE_ENOENT), "no such file or directory");
    assert_string_equal(kube_err_name(KUBE_ELIMIT), "KUBE_ELIMIT");
    assert_string_equal(kube_strerror(-999), "unknown error");
    assert_string_equal(kube_err_name(-999), "KUBE_UNKNOWN");
}

/* ---------------------------------------------------------------------------------------------
 * Collections.
 * ------------------------------------------------------------------------------------------- */
static void test_one_unsynced_collection_per_kind(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    for (size_t i = 0; i < kube_kinds_len; i++) {
        krt_collection_t *c = kube_source_collection(v.s, kube_kinds[i].kind);
        assert_non_null(c);
        char name[128];
        snprintf(name, sizeof name, "kube/%s", kube_kinds[i].kind);
        assert_string_equal(krt_collection_name(c), name);
        assert_ptr_equal(krt_collection_type(c), &krt_json_type);
        assert_ptr_equal(krt_engine_collection(v.e, name), c);
        assert_false(krt_collection_synced(c));
    }
    assert_null(kube_source_collection(v.s, "Deployment"));
    assert_null(kube_source_collection(v.s, NULL));
    env_dispose(&v);

    krt_engine_t *e = krt_engine_new();
    kube_source_options_t o = {.name_prefix = "k8s."};
    kube_source_t *s = kube_source_new(e, &o);
    assert_string_equal(krt_collection_name(kube_source_collection(s, "Pod")), "k8s.Pod");
    kube_source_free(s);
    kube_source_free(NULL);
    krt_engine_free(e);
    assert_null(kube_source_new(NULL, NULL));
}

static void test_puts_and_deletes_reach_subscribers_at_flush(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    krt_collection_t *svc = kube_source_collection(v.s, "Service");
    rec_t r = {0};
    krt_handler_t *h = krt_collection_subscribe(svc, record, &r, false);
    assert_non_null(h);

    assert_int_equal(apply1(&v, KUBE_CHANGE_PUT, SVC("\"namespace\":\"app\",", "web", 80), "a:1"),
                     KUBE_OK);
    assert_non_null(krt_collection_get(svc, "app/web")); /* visible at once... */
    assert_string_equal(take(&r), "");                   /* ...announced at flush */
    assert_int_equal(krt_engine_flush(v.e), KRT_OK);
    assert_string_equal(take(&r), "add/app/web");

    /* An equal put (key order differs) announces nothing: relists and re-saves are free. */
    assert_int_equal(apply1(&v, KUBE_CHANGE_PUT,
                            "{\"spec\":{\"ports\":[{\"port\":80}]},\"kind\":\"Service\","
                            "\"metadata\":{\"name\":\"web\",\"namespace\":\"app\"},"
                            "\"apiVersion\":\"v1\"}",
                            NULL),
                     KUBE_OK);
    assert_false(krt_engine_pending(v.e));
    krt_engine_flush(v.e);
    assert_string_equal(take(&r), "");

    apply1(&v, KUBE_CHANGE_PUT, SVC("\"namespace\":\"app\",", "web", 81), NULL);
    krt_engine_flush(v.e);
    assert_string_equal(take(&r), "update/app/web");
    const krt_obj_t *o = krt_collection_get(svc, "app/web");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(json_object_get(krt_json_value(o), "spec"), "ports"), 0),
            "port")),
        81);

    /* A delete needs only the identity. */
    apply1(&v, KUBE_CHANGE_DELETE,
           "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
           "\"namespace\":\"app\"}}",
           NULL);
    krt_engine_flush(v.e);
    assert_string_equal(take(&r), "delete/app/web");
    assert_int_equal(krt_collection_len(svc), 0);
    /* Deleting what is not there is fine and silent. */
    assert_int_equal(apply1(&v, KUBE_CHANGE_DELETE, SVC("", "ghost", 1), NULL), KUBE_OK);
    assert_false(krt_engine_pending(v.e));

    /* Several changes to one key in one call: one event against the last flush. */
    json_t *a = obj(SVC("", "x", 1)), *b = obj(SVC("", "x", 2));
    kube_change_t cs[] = {{KUBE_CHANGE_PUT, a, NULL, NULL, false},
                          {KUBE_CHANGE_PUT, b, NULL, NULL, false},
                          {KUBE_CHANGE_DELETE, a, NULL, NULL, false},
                          {KUBE_CHANGE_PUT, a, NULL, NULL, false}};
    assert_int_equal(kube_source_apply(v.s, cs, 4), KUBE_OK);
    krt_engine_flush(v.e);
    assert_string_equal(take(&r), "add/default/x");
    json_decref(a);
    json_decref(b);
    assert_int_equal(v.log.n, 0);
    krt_handler_unsubscribe(h);
    env_dispose(&v);
}

static void test_namespaces_are_defaulted_without_touching_the_callers_object(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    json_t *o = obj(SVC("", "web", 80));
    kube_change_t c = {KUBE_CHANGE_PUT, o, NULL, NULL, false};
    assert_int_equal(kube_source_apply(v.s, &c, 1), KUBE_OK);
    const krt_obj_t *stored =
        krt_collection_get(kube_source_collection(v.s, "Service"), "default/web");
    assert_non_null(stored);
    assert_string_equal(krt_json_namespace(stored), "default");
    /* The caller's value is unchanged (the source stored a copy with the namespace). */
    assert_null(json_object_get(json_object_get(o, "metadata"), "namespace"));
    json_decref(o);

    /* Cluster-scoped: a namespace in the manifest is dropped, the key is the name. */
    o = obj("{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"GatewayClass\","
            "\"metadata\":{\"name\":\"agw\",\"namespace\":\"oops\"}}");
    c.object = o;
    assert_int_equal(kube_source_apply(v.s, &c, 1), KUBE_OK);
    stored = krt_collection_get(kube_source_collection(v.s, "GatewayClass"), "agw");
    assert_non_null(stored);
    assert_string_equal(krt_json_namespace(stored), "");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace")), "oops");
    json_decref(o);

    /* An object that needs nothing is stored as is (shared, not copied). */
    o = obj(SVC("\"namespace\":\"n\",", "as-is", 1));
    c.object = o;
    kube_source_apply(v.s, &c, 1);
    stored = krt_collection_get(kube_source_collection(v.s, "Service"), "n/as-is");
    assert_ptr_equal(krt_json_value(stored), o);
    json_decref(o);
    env_dispose(&v);
}

static void test_any_version_of_the_kinds_group_lands_in_one_collection(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    apply1(&v, KUBE_CHANGE_PUT,
           "{\"apiVersion\":\"gateway.networking.k8s.io/v1beta1\",\"kind\":\"HTTPRoute\","
           "\"metadata\":{\"name\":\"old\"}}",
           NULL);
    apply1(&v, KUBE_CHANGE_PUT,
           "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"HTTPRoute\","
           "\"metadata\":{\"name\":\"new\"}}",
           NULL);
    assert_int_equal(krt_collection_len(kube_source_collection(v.s, "HTTPRoute")), 2);
    env_dispose(&v);
}

static void test_unknown_kinds_are_logged_once_each(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    for (int i = 0; i < 3; i++) {
        char dep[256];
        snprintf(dep, sizeof dep,
                 "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":"
                 "{\"name\":\"d%d\"}}",
                 i);
        assert_int_equal(apply1(&v, KUBE_CHANGE_PUT, dep, i == 0 ? "base.yaml:40" : NULL), KUBE_OK);
        assert_int_equal(apply1(&v, KUBE_CHANGE_PUT,
                                "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"Gateway\","
                                "\"metadata\":{\"name\":\"istio\"}}",
                                "istio.yaml:1"),
                         KUBE_OK);
        apply1(&v, KUBE_CHANGE_DELETE, dep, NULL);
    }
    assert_int_equal(v.log.n, 2);
    assert_int_equal(v.log.level[0], KRT_LOG_INFO);
    assert_string_equal(v.log.v[0], "base.yaml:40: ignoring kind Deployment (apps/v1): krtgate "
                                    "does not read it; this line is not repeated");
    assert_string_equal(v.log.v[1], "istio.yaml:1: ignoring Gateway objects of API group "
                                    "\"networking.istio.io\" (krtgate reads Gateway from "
                                    "\"gateway.networking.k8s.io\"); this line is not repeated");
    assert_int_equal(kube_source_unknown_kinds(v.s), 2);
    assert_int_equal(krt_collection_len(kube_source_collection(v.s, "Gateway")), 0);
    assert_false(krt_engine_pending(v.e));
    env_dispose(&v);
}

static void test_bad_changes_are_logged_and_the_rest_applied(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    json_t *good = obj(SVC("", "good", 1));
    json_t *noname = obj("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{}}");
    json_t *slash = obj("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a/b\"}}");
    json_t *array = json_array();
    kube_change_t cs[] = {
        {KUBE_CHANGE_PUT, noname, NULL, "f.yaml:3", false},
        {KUBE_CHANGE_PUT, slash, NULL, "f.yaml:9", false},
        {KUBE_CHANGE_PUT, array, NULL, NULL, false},
        {(kube_change_op_t)99, good, NULL, "f.yaml:20", false},
        {KUBE_CHANGE_PUT, good, NULL, "f.yaml:12", false},
    };
    assert_int_equal(kube_source_apply(v.s, cs, 5), KUBE_EOBJECT);
    assert_non_null(krt_collection_get(kube_source_collection(v.s, "Service"), "default/good"));
    assert_int_equal(krt_collection_len(kube_source_collection(v.s, "Pod")), 0);
    assert_int_equal(v.log.n, 4);
    assert_string_equal(v.log.v[0], "f.yaml:3: Service: rejected: an object needs a string "
                                    "apiVersion, kind and metadata.name");
    assert_string_equal(v.log.v[1], "f.yaml:9: Pod a/b: rejected: invalid metadata (name or "
                                    "namespace)");
    assert_string_equal(v.log.v[2], "rejected: an object needs a string apiVersion, kind and "
                                    "metadata.name");
    assert_string_equal(v.log.v[3], "f.yaml:20: change with unknown operation 99");
    for (size_t i = 0; i < v.log.n; i++)
        assert_int_equal(v.log.level[i], KRT_LOG_ERROR);
    assert_int_equal(kube_source_apply(v.s, NULL, 1), KUBE_EINVAL);
    assert_int_equal(kube_source_apply(v.s, NULL, 0), KUBE_OK);
    json_decref(good);
    json_decref(noname);
    json_decref(slash);
    json_decref(array);
    env_dispose(&v);
}

static void synced_cb(krt_collection_t *c, void *ud)
{
    (void)c;
    (*(int *)ud)++;
}

static void test_synced_marks_one_kind_or_all(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    krt_collection_t *routes = kube_source_collection(v.s, "HTTPRoute");
    krt_collection_t *svc = kube_source_collection(v.s, "Service");
    int fired = 0;
    krt_collection_on_synced(routes, synced_cb, &fired);
    kube_change_t c = {KUBE_CHANGE_SYNCED, NULL, "HTTPRoute", "informer", false};
    assert_int_equal(kube_source_apply(v.s, &c, 1), KUBE_OK);
    krt_engine_flush(v.e);
    assert_true(krt_collection_synced(routes));
    assert_false(krt_collection_synced(svc));
    assert_int_equal(fired, 1);
    /* An unknown kind has nothing to sync. */
    c.kind = "Deployment";
    assert_int_equal(kube_source_apply(v.s, &c, 1), KUBE_OK);
    c.kind = NULL;
    assert_int_equal(kube_source_apply(v.s, &c, 1), KUBE_OK);
    krt_engine_flush(v.e);
    for (size_t i = 0; i < kube_kinds_len; i++)
        assert_true(krt_collection_synced(kube_source_collection(v.s, kube_kinds[i].kind)));
    assert_int_equal(fired, 1);
    env_dispose(&v);
}

/* Transformation used below: a Service's first port as a derived object. */
static int first_port(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)ud;
    json_t *port =
        json_array_get(json_object_get(json_object_get(krt_json_value(in), "spec"), "ports"), 0);
    json_t *out = json_pack("{s:s,s:s,s:{s:s,s:s},s:O}", "apiVersion", "v1", "kind", "Port",
                            "metadata", "name", krt_json_name(in), "namespace",
                            krt_json_namespace(in), "port", port ? port : json_null());
    return krt_emit(ctx, krt_json_new(out, NULL));
}

static void test_a_derived_collection_sees_only_real_changes(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    krt_collection_t *ports = krt_map_new(v.e, kube_source_collection(v.s, "Service"),
                                          &krt_json_type, "ports", first_port, NULL);
    assert_non_null(ports);
    apply1(&v, KUBE_CHANGE_PUT, SVC("", "a", 80), NULL);
    apply1(&v, KUBE_CHANGE_PUT, SVC("", "b", 90), NULL);
    kube_change_t s = {KUBE_CHANGE_SYNCED, NULL, NULL, NULL, false};
    kube_source_apply(v.s, &s, 1);
    krt_engine_flush(v.e);
    assert_true(krt_collection_synced(ports));
    krt_stats_t st;
    krt_collection_stats(ports, &st);
    assert_int_equal(st.recomputes, 2);
    /* Re-applying everything (a relist) recomputes nothing. */
    apply1(&v, KUBE_CHANGE_PUT, SVC("", "a", 80), NULL);
    apply1(&v, KUBE_CHANGE_PUT, SVC("", "b", 90), NULL);
    krt_engine_flush(v.e);
    krt_collection_stats(ports, &st);
    assert_int_equal(st.recomputes, 2);
    apply1(&v, KUBE_CHANGE_PUT, SVC("", "b", 91), NULL);
    krt_engine_flush(v.e);
    krt_collection_stats(ports, &st);
    assert_int_equal(st.recomputes, 3);
    env_dispose(&v);
}

/* ---------------------------------------------------------------------------------------------
 * What is kept of an object.
 * ------------------------------------------------------------------------------------------- */

/* A Pod as the API server sends it, with |ip|, |restarts| and |probe| in places nobody reads but
 * restarts. */
static json_t *full_pod(const char *ip, int restarts, const char *probe)
{
    char text[2048];
    snprintf(
        text, sizeof text,
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":"
        "\"ns\",\"uid\":\"0b6f1c8e-1111-2222-3333-444455556666\",\"resourceVersion\":\"%d\","
        "\"generation\":1,\"creationTimestamp\":\"2026-11-26T10:00:00Z\",\"labels\":{\"app\":"
        "\"web\"},\"annotations\":{\"a\":\"b\"},\"managedFields\":[{\"manager\":\"kubelet\"}]},"
        "\"spec\":{\"nodeName\":\"n1\",\"serviceAccountName\":\"sa\",\"volumes\":[{\"name\":"
        "\"v\"}],\"containers\":[{\"name\":\"app\",\"image\":\"img:1\",\"ports\":[{\"name\":"
        "\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}],\"resources\":{\"requests\":{"
        "\"cpu\":\"100m\"}}}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"podIPs\":"
        "[{\"ip\":\"%s\"}],\"hostIP\":\"10.0.0.1\",\"conditions\":[{\"type\":\"Ready\","
        "\"status\":\"True\",\"lastProbeTime\":\"%s\",\"lastTransitionTime\":\"%s\"}],"
        "\"containerStatuses\":[{\"name\":\"app\",\"restartCount\":%d,\"ready\":true}]}}",
        1000 + restarts, ip, ip, probe, probe, restarts);
    return obj(text);
}

static void test_a_pod_keeps_only_what_translate_reads(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    json_t *in = full_pod("10.1.0.7", 0, "2026-11-26T10:00:00Z");
    char *before = json_dumps(in, JSON_SORT_KEYS);
    kube_change_t c = {KUBE_CHANGE_PUT, in, NULL, NULL, false};
    assert_int_equal(kube_source_apply(v.s, &c, 1), KUBE_OK);
    krt_engine_flush(v.e);
    const krt_obj_t *o = krt_collection_get(kube_source_collection(v.s, "Pod"), "ns/p");
    assert_non_null(o);
    char *kept = json_dumps(krt_json_value(o), JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(
        kept, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"labels\":{\"app\":\"web\"},"
              "\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"containers\":[{\"name\":\"app\","
              "\"ports\":[{\"containerPort\":8080,\"name\":\"http\",\"protocol\":\"TCP\"}]}],"
              "\"nodeName\":\"n1\",\"serviceAccountName\":\"sa\"},\"status\":{\"conditions\":[{"
              "\"status\":\"True\",\"type\":\"Ready\"}],\"phase\":\"Running\",\"podIP\":"
              "\"10.1.0.7\",\"podIPs\":[{\"ip\":\"10.1.0.7\"}]}}");
    /* the caller's object is untouched */
    char *after = json_dumps(in, JSON_SORT_KEYS);
    assert_string_equal(before, after);
    /* An editable change (the reflector's) is cut in place to the same value; odd shapes too: a
     * spec that is not an object, conditions that are not objects. */
    json_t *ed = full_pod("10.1.0.7", 0, "2026-11-26T10:00:00Z");
    json_object_set_new(ed, "kind", json_string("Pod"));
    kube_change_t e = {KUBE_CHANGE_PUT, ed, NULL, NULL, true};
    assert_int_equal(kube_source_apply(v.s, &e, 1), KUBE_OK);
    assert_null(json_object_get(json_object_get(ed, "metadata"), "uid")); /* edited */
    assert_ptr_equal(krt_collection_get(kube_source_collection(v.s, "Pod"), "ns/p"), o);
    const char *odd =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"q\","
        "\"namespace\":\"ns\",\"uid\":\"u\"},\"spec\":\"x\",\"status\":{\"hostIP\":"
        "\"1.2.3.4\",\"conditions\":[1,{\"type\":\"Ready\",\"reason\":\"r\"}]},\"x\":1}";
    const char *odd_kept = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"q\","
                           "\"namespace\":\"ns\"},\"status\":{\"conditions\":[1,{\"type\":"
                           "\"Ready\"}]}}";
    for (int edit = 0; edit < 2; edit++) {
        json_t *q = obj(odd);
        kube_change_t qc = {KUBE_CHANGE_PUT, q, NULL, NULL, edit != 0};
        assert_int_equal(kube_source_apply(v.s, &qc, 1), KUBE_OK);
        json_decref(q);
        char *got = json_dumps(
            krt_json_value(krt_collection_get(kube_source_collection(v.s, "Pod"), "ns/q")),
            JSON_SORT_KEYS | JSON_COMPACT);
        assert_string_equal(got, odd_kept);
        free(got);
    }
    json_decref(ed);
    free(before);
    free(after);
    free(kept);
    json_decref(in);
    env_dispose(&v);
}

static void test_pod_churn_in_unread_fields_costs_nothing(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    rec_t r = {0};
    krt_handler_t *h =
        krt_collection_subscribe(kube_source_collection(v.s, "Pod"), record, &r, false);
    json_t *p0 = full_pod("10.1.0.7", 0, "2026-11-26T10:00:00Z");
    json_t *p1 = full_pod("10.1.0.7", 3, "2026-11-26T10:05:00Z"); /* restarts, probe, version */
    json_t *p2 = full_pod("10.1.0.8", 3, "2026-11-26T10:05:00Z"); /* a new IP: read */
    kube_change_t c = {KUBE_CHANGE_PUT, p0, NULL, NULL, false};
    kube_source_apply(v.s, &c, 1);
    krt_engine_flush(v.e);
    assert_string_equal(take(&r), "add/ns/p");
    c.object = p1;
    kube_source_apply(v.s, &c, 1);
    krt_engine_flush(v.e);
    assert_string_equal(take(&r), "");
    c.object = p2;
    kube_source_apply(v.s, &c, 1);
    krt_engine_flush(v.e);
    assert_string_equal(take(&r), "update/ns/p");
    krt_handler_unsubscribe(h);
    json_decref(p0);
    json_decref(p1);
    json_decref(p2);
    env_dispose(&v);
}

static void test_bookkeeping_fields_are_dropped_from_every_kind(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    json_t *in = obj("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\","
                     "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\","
                     "\"team\":\"a\"},\"managedFields\":[{\"manager\":\"kubectl\"}]},\"spec\":{}}");
    json_t *only = obj("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"t\","
                       "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":"
                       "\"{}\"}},\"spec\":{}}");
    kube_change_t cs[] = {{KUBE_CHANGE_PUT, in, NULL, NULL, false},
                          {KUBE_CHANGE_PUT, only, NULL, NULL, false}};
    assert_int_equal(kube_source_apply(v.s, cs, 2), KUBE_OK);
    krt_engine_flush(v.e);
    krt_collection_t *svc = kube_source_collection(v.s, "Service");
    char *kept = json_dumps(krt_json_value(krt_collection_get(svc, "default/s")),
                            JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(kept, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
                              "\"annotations\":{\"team\":\"a\"},\"name\":\"s\",\"namespace\":"
                              "\"default\"},\"spec\":{}}");
    free(kept);
    kept = json_dumps(krt_json_value(krt_collection_get(svc, "default/t")),
                      JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(kept, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
                              "\"name\":\"t\",\"namespace\":\"default\"},\"spec\":{}}");
    free(kept);
    /* editable: cut in place, to the same value */
    json_t *ed = json_deep_copy(in);
    kube_change_t e = {KUBE_CHANGE_PUT, ed, NULL, NULL, true};
    const krt_obj_t *s0 = krt_collection_get(svc, "default/s");
    assert_int_equal(kube_source_apply(v.s, &e, 1), KUBE_OK);
    assert_null(json_object_get(json_object_get(ed, "metadata"), "managedFields"));
    assert_ptr_equal(krt_collection_get(svc, "default/s"), s0); /* an equal put */
    json_decref(ed);
    /* the caller's objects keep theirs */
    assert_non_null(json_object_get(json_object_get(in, "metadata"), "managedFields"));
    assert_int_equal(
        json_object_size(json_object_get(json_object_get(in, "metadata"), "annotations")), 2);
    json_decref(in);
    json_decref(only);
    env_dispose(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_registry_knows_groups_and_scope),
        cmocka_unit_test(test_identity_defaults_namespace_like_the_source),
        cmocka_unit_test(test_error_table_names_every_code),
        cmocka_unit_test(test_one_unsynced_collection_per_kind),
        cmocka_unit_test(test_puts_and_deletes_reach_subscribers_at_flush),
        cmocka_unit_test(test_namespaces_are_defaulted_without_touching_the_callers_object),
        cmocka_unit_test(test_any_version_of_the_kinds_group_lands_in_one_collection),
        cmocka_unit_test(test_unknown_kinds_are_logged_once_each),
        cmocka_unit_test(test_bad_changes_are_logged_and_the_rest_applied),
        cmocka_unit_test(test_synced_marks_one_kind_or_all),
        cmocka_unit_test(test_a_derived_collection_sees_only_real_changes),
        cmocka_unit_test(test_a_pod_keeps_only_what_translate_reads),
        cmocka_unit_test(test_pod_churn_in_unread_fields_costs_nothing),
        cmocka_unit_test(test_bookkeeping_fields_are_dropped_from_every_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
