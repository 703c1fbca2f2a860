/*
 * Informers (kube/informer.c) against a fake API server in the same loop (net/http_server.c,
 * plaintext HTTP/1.1): a core kind and a Gateway API kind are listed, their watch delivers one
 * ADDED event, a kind whose CRD is missing (404) is skipped yet counts as synced; the changes
 * reach the kube source and on_batch runs, where the engine is flushed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kube/informer.h"
#include "net/http_server.h"

#include "kube_test_loop.h"

typedef struct env {
    kube_test_loop_t l;
    net_http_server_t *srv;
    int gw_watches, lists, missing, ns_scoped;
    krt_engine_t *e;
    kube_source_t *src;
    kube_client_t *client;
    kube_informers_t *inf;
    size_t batches, changes;
} env_t;

static void h_api(const net_http_request_t *req, net_http_response_t *resp, void *ud)
{
    env_t *e = ud;
    bool watch = strstr(req->query, "watch=1") != NULL;
    net_http_response_header(resp, "content-type", "application/json");
    if (strcmp(req->path, "/api/v1/namespaces") == 0) {
        if (!watch) {
            e->lists++;
            net_http_response_printf(resp, "{\"kind\":\"NamespaceList\",\"apiVersion\":\"v1\","
                                           "\"metadata\":{\"resourceVersion\":\"10\"},\"items\":["
                                           "{\"metadata\":{\"name\":\"default\","
                                           "\"resourceVersion\":\"3\"}}]}");
        }
        return; /* an empty watch: it ends at once */
    }
    if (strcmp(req->path, "/apis/gateway.networking.k8s.io/v1/gateways") == 0 ||
        strcmp(req->path, "/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways") == 0) {
        e->ns_scoped += strstr(req->path, "/namespaces/default/") != NULL;
        if (!watch) {
            e->lists++;
            net_http_response_printf(
                resp, "{\"kind\":\"GatewayList\",\"apiVersion\":\"gateway.networking.k8s.io/v1\","
                      "\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[{\"metadata\":{"
                      "\"name\":\"gw1\",\"namespace\":\"default\",\"resourceVersion\":\"5\"},"
                      "\"spec\":{\"gatewayClassName\":\"c\",\"listeners\":[]}}]}");
        } else if (e->gw_watches++ == 0) {
            net_http_response_printf(
                resp, "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":"
                      "\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\",\"metadata\":{"
                      "\"name\":\"gw2\",\"namespace\":\"default\",\"resourceVersion\":\"11\"},"
                      "\"spec\":{\"gatewayClassName\":\"c\",\"listeners\":[]}}}\n");
        }
        return;
    }
    e->missing++;
    net_http_response_set_status(resp, 404);
    net_http_response_printf(resp, "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\"}");
}

static void on_batch(void *ud, size_t n)
{
    env_t *e = ud;
    e->batches++;
    e->changes += n;
    assert_int_equal(krt_engine_flush(e->e), KRT_OK);
}

static void quiet(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

static const kube_informer_kind_t kinds[] = {
    {"Namespace", "v1", "namespaces"},
    {"Gateway", "gateway.networking.k8s.io/v1", "gateways"},
    {"HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes"},
};

static void closed(void *ud)
{
    (*(int *)ud)++;
}

static void run_informers(const char *ns)
{
    env_t *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    kube_test_loop_init(&e->l);
    net_http_server_config_t hc;
    net_http_server_config_default(&hc);
    int err = 0;
    e->srv = net_http_server_new(&e->l.loop, &hc, &err);
    assert_non_null(e->srv);
    net_http_server_route(e->srv, "GET", "/*", h_api, e);

    kube_client_config_t cfg;
    kube_client_config_init(&cfg);
    char ebuf[256];
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", net_http_server_port(e->srv));
    assert_int_equal(kube_server_url_split(&cfg, url, ebuf, sizeof(ebuf)), KUBE_OK);
    assert_int_equal(kube_client_new(&e->l.loop, &cfg, NULL, &e->client, ebuf, sizeof(ebuf)),
                     KUBE_OK);
    kube_client_config_dispose(&cfg);
    e->e = krt_engine_new();
    kube_source_options_t so = {.log = quiet};
    e->src = kube_source_new(e->e, &so);
    assert_non_null(e->src);
    kube_informers_options_t io = {.namespace_name = ns,
                                   .kinds = kinds,
                                   .nkinds = 3,
                                   .on_batch = on_batch,
                                   .ud = e,
                                   .log = quiet};
    io.reflector.backoff_initial_ms = 20;
    io.reflector.backoff_max_ms = 50;
    io.reflector.missing_retry_ms = 60000;
    assert_int_equal(kube_informers_new(&e->l.loop, e->client, e->src, &io, &e->inf), KUBE_OK);
    assert_false(kube_informers_synced(e->inf));
    assert_int_equal(kube_informers_start(e->inf), KUBE_OK);
    krt_collection_t *gws = kube_source_collection(e->src, "Gateway");
    for (long i = 0; i < 1000000; i++) {
        if (kube_informers_synced(e->inf) && krt_collection_len(gws) == 2 && e->batches > 0 &&
            e->gw_watches >= 2)
            break;
        assert_false(e->l.expired);
        uv_run(&e->l.loop, UV_RUN_ONCE);
    }
    assert_true(kube_informers_synced(e->inf));
    assert_int_equal(krt_collection_len(gws), 2);
    assert_non_null(krt_collection_get(gws, "default/gw2"));
    assert_int_equal(krt_collection_len(kube_source_collection(e->src, "Namespace")), 1);
    assert_int_equal(krt_collection_len(kube_source_collection(e->src, "HTTPRoute")), 0);
    assert_true(e->missing >= 1);
    const char *kind = NULL;
    kube_reflector_stats_t st;
    kube_informers_kind_stats(e->inf, 2, &kind, &st);
    assert_string_equal(kind, "HTTPRoute");
    assert_true(st.missing >= 1);
    assert_true(st.synced);
    uint64_t batches, changes;
    kube_informers_counters(e->inf, &batches, &changes);
    assert_true(changes >= 3);
    uint64_t qlast, qmax;
    kube_informers_queue_ms(e->inf, &qlast, &qmax);
    assert_true(qlast <= qmax);
    /* with a namespace, namespaced kinds are read in it; Namespace stays cluster-wide */
    if (ns)
        assert_true(e->ns_scoped >= 2);
    else
        assert_int_equal(e->ns_scoped, 0);

    kube_informers_free(e->inf);
    int done = 0;
    kube_client_close(e->client, closed, &done);
    net_http_server_close(e->srv, false, NULL, NULL);
    kube_test_loop_close(&e->l);
    assert_int_equal(done, 1);
    kube_source_free(e->src);
    krt_engine_free(e->e);
    free(e);
}

static void test_informers_list_watch_and_skip_missing_kinds(void **state)
{
    (void)state;
    run_informers(NULL);
}

static void test_informers_in_one_namespace(void **state)
{
    (void)state;
    run_informers("default");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_informers_list_watch_and_skip_missing_kinds),
        cmocka_unit_test(test_informers_in_one_namespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
