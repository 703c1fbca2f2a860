/*
 * The xDS gRPC server (xds/server.c) over real loopback sockets, seen through raw gRPC calls:
 * the delta stream (first request checks, scoping, pushes after a flush, ACK/NACK and the debug
 * view), StreamAggregatedResources → UNIMPLEMENTED, gRPC health Check and Watch, authentication
 * (static token file, asynchronous decisions, a stream gone while its decision is pending), TLS,
 * a stream that never reads (bounded, does not delay the others), and close.
 */
#include "xds_test_net.h"

#include "../../xds/xds_internal.h"

#define GW1 "default/gw1"
#define GW2 "default/gw2"

typedef struct env {
    xt_loop_t L;
    krt_engine_t *e;
    krt_collection_t *routes, *binds, *addrs;
    xds_store_t *st;
    xds_server_t *srv;
} env_t;

static void env_init(env_t *v, bool synced)
{
    xt_loop_init(&v->L, 60000);
    v->e = krt_engine_new();
    v->routes = krt_static_new(v->e, ir_kind_type(IR_KIND_ROUTE), "routes", synced);
    v->binds = krt_static_new(v->e, ir_kind_type(IR_KIND_BIND), "binds", true);
    v->addrs = krt_static_new(v->e, ir_kind_type(IR_KIND_ADDRESS), "addrs", true);
    v->st = xds_store_new();
    xds_store_watch(v->st, v->routes);
    xds_store_watch(v->st, v->binds);
    xds_store_watch(v->st, v->addrs);
    krt_static_put(v->binds, ir_obj_krt(xt_obj(IR_KIND_BIND, GW1, "80/default/gw1", 1)));
    krt_static_put(v->binds, ir_obj_krt(xt_obj(IR_KIND_BIND, GW2, "80/default/gw2", 1)));
    krt_static_put(v->routes, ir_obj_krt(xt_obj(IR_KIND_ROUTE, GW1, "default/r1.00.http", 1)));
    xds_store_flush(v->st, v->e);
}

static void env_dispose(env_t *v)
{
    if (v->srv)
        xt_server_close(&v->L, v->srv);
    xt_check_store(v->st);
    xds_store_free(v->st);
    krt_engine_free(v->e);
    xt_loop_dispose(&v->L);
}

static void put_route(env_t *v, const char *gw, const char *key, unsigned salt)
{
    krt_static_put(v->routes, ir_obj_krt(xt_obj(IR_KIND_ROUTE, gw, key, salt)));
    xds_store_flush(v->st, v->e);
}

/* Opens a delta stream with node |id| / |role| and the legacy wildcard for Resources. */
static void open_delta(env_t *v, xt_raw_t *r, net_tls_ctx_t *tls, const char *token, const char *id,
                       const char *role)
{
    xt_raw_connect(&v->L, r, xds_server_port(v->srv), tls);
    xt_raw_call(r, XDS_DELTA_PATH, token);
    xt_node_t n;
    xt_req_t q;
    xt_req(&q, XDS_TYPE_RESOURCE);
    q.m.node = xt_node(&n, id, role);
    xt_raw_send(r, &q);
}

static void ack(xt_raw_t *r, const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m,
                const char *nack)
{
    xt_req_t q;
    xt_req(&q, XDS_TYPE_RESOURCE);
    if (nack)
        xt_nack(&q, m->nonce, nack);
    else
        xt_ack(&q, m->nonce);
    xt_raw_send(r, &q);
}

static void expect_names(const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m,
                         const char *want)
{
    char got[2048];
    xt_names(m, got, sizeof got);
    if (strcmp(got, want) != 0)
        print_error("want \"%s\"\n got \"%s\"\n", want, got);
    assert_string_equal(got, want);
}

static void test_delta_stream_is_scoped_pushes_after_flush_and_records_nacks(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    v.srv = xt_server(&v.L, v.st, NULL, NULL);
    xt_raw_t a, b;
    open_delta(&v, &a, NULL, NULL, "proxy-a", "default~gw1");
    open_delta(&v, &b, NULL, NULL, "proxy-b", "default~gw2");
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m = xt_raw_wait(&a, 1);
    assert_string_equal(m->type_url, IR_TYPE_URL_RESOURCE);
    expect_names(m, "+bind/80/default/gw1 +route/default/r1.00.http");
    ack(&a, m, NULL);
    expect_names(xt_raw_wait(&b, 1), "+bind/80/default/gw2");
    ack(&b, b.resp[0], NULL);

    put_route(&v, GW1, "default/r1.00.http", 2);
    put_route(&v, GW2, "default/r2.00.http", 1);
    m = xt_raw_wait(&a, 2);
    expect_names(m, "+route/default/r1.00.http");
    expect_names(xt_raw_wait(&b, 2), "+route/default/r2.00.http");
    ack(&a, m, "[{\"key\":\"route/default/r1.00.http\",\"error\":\"bad\"}]");

    /* the NACK shows in the debug view; wait for it through another change */
    put_route(&v, GW1, "default/r3.00.http", 1);
    expect_names(xt_raw_wait(&a, 3), "+route/default/r3.00.http");
    assert_int_equal(a.nmsg, 3);
    xds_server_stats_t st;
    xds_server_stats(v.srv, &st);
    assert_int_equal(st.nacks, 1);
    assert_int_equal(st.streams, 2);
    char *dbg = xds_server_debug_json(v.srv);
    json_t *j = json_loads(dbg, 0, NULL);
    assert_non_null(j);
    json_t *conns = json_object_get(j, "connections");
    assert_int_equal(json_array_size(conns), 2);
    bool found = false;
    for (size_t i = 0; i < 2; i++) {
        json_t *c = json_array_get(conns, i);
        if (strcmp(json_string_value(json_object_get(c, "role")), "default~gw1") != 0)
            continue;
        found = true;
        assert_string_equal(json_string_value(json_object_get(c, "gateway")), GW1);
        json_t *nack = json_object_get(json_object_get(c, "session"), "last_nack");
        assert_string_equal(json_string_value(json_object_get(nack, "message")),
                            "[{\"key\":\"route/default/r1.00.http\",\"error\":\"bad\"}]");
        json_t *ty = json_object_get(json_object_get(json_object_get(c, "session"), "types"),
                                     IR_TYPE_URL_RESOURCE);
        assert_true(json_is_true(json_object_get(ty, "wildcard")));
    }
    assert_true(found);
    json_decref(j);
    free(dbg);
    xt_raw_close(&a);
    xt_raw_close(&b);
    env_dispose(&v);
}

static void expect_refused(env_t *v, const xt_req_t *q, const char *token, int status,
                           const char *msg_part)
{
    xt_raw_t r;
    xt_raw_connect(&v->L, &r, xds_server_port(v->srv), NULL);
    xt_raw_call(&r, XDS_DELTA_PATH, token);
    if (q)
        xt_raw_send(&r, q);
    else
        xt_raw_send_bytes(&r, "\x0a\xff\xff", 3);
    xt_raw_wait_done(&r);
    if (r.status != status || !strstr(r.message, msg_part))
        print_error("status %d \"%s\"\n", r.status, r.message);
    assert_int_equal(r.status, status);
    assert_non_null(strstr(r.message, msg_part));
    assert_int_equal(r.nmsg, 0);
    xt_raw_close(&r);
}

static void test_bad_first_requests_are_refused(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    v.srv = xt_server(&v.L, v.st, NULL, NULL);
    xt_req_t q;
    xt_node_t n;
    xt_req(&q, XDS_TYPE_RESOURCE);
    expect_refused(&v, &q, NULL, NET_GRPC_INVALID_ARGUMENT, "node");
    q.m.node = xt_node(&n, "", NULL);
    expect_refused(&v, &q, NULL, NET_GRPC_INVALID_ARGUMENT, "non-empty id");
    q.m.node = xt_node(&n, "p", "gw-without-namespace");
    expect_refused(&v, &q, NULL, NET_GRPC_INVALID_ARGUMENT, "role");
    expect_refused(&v, NULL, NULL, NET_GRPC_INVALID_ARGUMENT, "DeltaDiscoveryRequest");
    q.m.node = xt_node(&n, "p", "default~gw1");
    q.m.type_url = "";
    expect_refused(&v, &q, NULL, NET_GRPC_INVALID_ARGUMENT, "type_url");
    xds_server_stats_t st;
    xds_server_stats(v.srv, &st);
    assert_int_equal(st.decode_errors, 1);
    assert_int_equal(st.refused, 4);
    env_dispose(&v);
}

static void test_state_of_the_world_is_unimplemented(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    v.srv = xt_server(&v.L, v.st, NULL, NULL);
    xt_raw_t r;
    xt_raw_connect(&v.L, &r, xds_server_port(v.srv), NULL);
    xt_raw_call(&r, XDS_SOTW_PATH, NULL);
    xt_raw_wait_done(&r);
    assert_int_equal(r.status, NET_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(r.message, "DeltaAggregatedResources"));
    xt_raw_close(&r);
    env_dispose(&v);
}

static void health_check(env_t *v, const char *svc, int want_status, int want_serving)
{
    xt_raw_t r;
    xt_raw_connect(&v->L, &r, xds_server_port(v->srv), NULL);
    r.decode = false;
    xt_raw_call(&r, XDS_HEALTH_CHECK_PATH, NULL);
    uint8_t req[300];
    size_t n = 0;
    if (*svc) {
        req[n++] = 0x0a;
        req[n++] = (uint8_t)strlen(svc);
        memcpy(req + n, svc, strlen(svc));
        n += strlen(svc);
    }
    xt_raw_send_bytes(&r, req, n);
    net_grpc_client_call_close_send(r.call);
    xt_raw_wait_done(&r);
    assert_int_equal(r.status, want_status);
    if (want_serving) {
        assert_int_equal(r.nmsg, 1);
        assert_int_equal(r.rawlen[0], 2);
        assert_int_equal(r.raw[0][0], 0x08);
        assert_int_equal(r.raw[0][1], want_serving);
    }
    xt_raw_close(&r);
}

static bool watch_has_two(void *a)
{
    return ((xt_raw_t *)a)->nmsg >= 2;
}

static void test_health_check_and_watch_follow_readiness(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, false); /* routes not synced: not ready */
    v.srv = xt_server(&v.L, v.st, NULL, NULL);
    health_check(&v, "", NET_GRPC_OK, 2);
    health_check(&v, XDS_ADS_SERVICE, NET_GRPC_OK, 2);
    health_check(&v, "some.Other", NET_GRPC_NOT_FOUND, 0);
    xt_raw_t w;
    xt_raw_connect(&v.L, &w, xds_server_port(v.srv), NULL);
    w.decode = false;
    xt_raw_call(&w, XDS_HEALTH_WATCH_PATH, NULL);
    xt_raw_send_bytes(&w, "", 0);
    xt_wait_t one = {&w, 1};
    xt_run_until(&v.L, xt_raw_has, &one);
    assert_int_equal(w.raw[0][1], 2); /* NOT_SERVING */
    krt_static_mark_synced(v.routes);
    xds_store_flush(v.st, v.e);
    xt_run_until(&v.L, watch_has_two, &w);
    assert_int_equal(w.raw[1][1], 1); /* SERVING */
    health_check(&v, "", NET_GRPC_OK, 1);
    /* parser: bytes that are not a HealthCheckRequest */
    char svc[8];
    assert_int_equal(xds__health_parse((const uint8_t *)"\x0a\x05"
                                                        "ab",
                                       4, svc, sizeof svc),
                     -1);
    assert_int_equal(xds__health_parse((const uint8_t *)"\x0a\x02"
                                                        "ab\x10\x01",
                                       6, svc, sizeof svc),
                     0);
    assert_string_equal(svc, "ab");
    assert_int_equal(xds__health_parse((const uint8_t *)"\x0b", 1, svc, sizeof svc), -1);
    /* closing the server ends the watch */
    xt_server_close(&v.L, v.srv);
    v.srv = NULL;
    xt_raw_wait_done(&w);
    assert_int_equal(w.status, NET_GRPC_UNAVAILABLE);
    xt_raw_close(&w);
    env_dispose(&v);
}

static void test_static_token_file_authenticates_and_scopes(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    xds_auth_t auth;
    xds_err_t err = {0};
    assert_int_equal(
        xds_auth_static_parse("# grants\ns3cret default~gw1\nadmin *\n", "tokens", &auth, &err),
        XDS_OK);
    v.srv = xt_server(&v.L, v.st, NULL, &auth);
    xt_req_t q;
    xt_node_t n;
    xt_req(&q, XDS_TYPE_RESOURCE);
    q.m.node = xt_node(&n, "p", "default~gw1");
    expect_refused(&v, &q, NULL, NET_GRPC_UNAUTHENTICATED, "no bearer token");
    expect_refused(&v, &q, "wrong", NET_GRPC_UNAUTHENTICATED, "unknown token");
    q.m.node = xt_node(&n, "p", "default~gw2");
    expect_refused(&v, &q, "s3cret", NET_GRPC_PERMISSION_DENIED, "default~gw2");
    xt_raw_t a, b;
    open_delta(&v, &a, NULL, "s3cret", "p1", "default~gw1");
    expect_names(xt_raw_wait(&a, 1), "+bind/80/default/gw1 +route/default/r1.00.http");
    open_delta(&v, &b, NULL, "admin", "p2", "default~gw2");
    expect_names(xt_raw_wait(&b, 1), "+bind/80/default/gw2");
    xt_raw_close(&a);
    xt_raw_close(&b);
    env_dispose(&v); /* the server disposes the authenticator */
}

/* An authenticator that decides later, from a timer. */
typedef struct later {
    xds_auth_pending_t *p;
    int status;
    uv_timer_t t;
    int calls;
} later_t;

static int later_cb(const xds_auth_request_t *req, xds_auth_pending_t *p, char *reason, size_t cap,
                    void *ud)
{
    later_t *l = ud;
    (void)reason;
    (void)cap;
    assert_string_equal(req->token, "tok");
    assert_string_equal(req->gateway, GW1);
    l->p = p;
    l->calls++;
    return XDS_AUTH_PENDING;
}

static void later_fire(uv_timer_t *t)
{
    later_t *l = t->data;
    xds_auth_complete(l->p, l->status, l->status ? "TokenReview says no" : NULL);
    l->p = NULL;
}

static bool later_called(void *a)
{
    return ((later_t *)a)->calls > 0;
}

static void test_asynchronous_authentication(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    later_t l = {0};
    xds_auth_t auth = {later_cb, &l, NULL};
    v.srv = xt_server(&v.L, v.st, NULL, &auth);
    uv_timer_init(&v.L.loop, &l.t);
    l.t.data = &l;
    /* allowed after a while */
    xt_raw_t a;
    open_delta(&v, &a, NULL, "tok", "p1", "default~gw1");
    xt_run_until(&v.L, later_called, &l);
    uv_timer_start(&l.t, later_fire, 20, 0);
    expect_names(xt_raw_wait(&a, 1), "+bind/80/default/gw1 +route/default/r1.00.http");
    xt_raw_close(&a);
    /* refused after a while */
    l.calls = 0;
    l.status = NET_GRPC_PERMISSION_DENIED;
    open_delta(&v, &a, NULL, "tok", "p1", "default~gw1");
    xt_run_until(&v.L, later_called, &l);
    uv_timer_start(&l.t, later_fire, 20, 0);
    xt_raw_wait_done(&a);
    assert_int_equal(a.status, NET_GRPC_PERMISSION_DENIED);
    assert_string_equal(a.message, "TokenReview says no");
    xt_raw_close(&a);
    /* the stream goes away while the decision is pending: completing it later is harmless */
    l.calls = 0;
    open_delta(&v, &a, NULL, "tok", "p1", "default~gw1");
    xt_run_until(&v.L, later_called, &l);
    xt_raw_close(&a);
    xt_spin(&v.L, 50);
    l.status = 0;
    xds_auth_complete(l.p, 0, NULL);
    l.p = NULL;
    uv_close((uv_handle_t *)&l.t, NULL);
    env_dispose(&v);
}

static void test_delta_over_tls(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    net_tls_testcert_t tc;
    net_tls_ctx_t *stls, *ctls;
    xt_tls(&tc, &stls, &ctls);
    v.srv = xt_server(&v.L, v.st, stls, NULL);
    xt_raw_t a;
    open_delta(&v, &a, ctls, NULL, "p1", "default~gw1");
    expect_names(xt_raw_wait(&a, 1), "+bind/80/default/gw1 +route/default/r1.00.http");
    ack(&a, a.resp[0], NULL);
    put_route(&v, GW1, "default/r1.00.http", 9);
    expect_names(xt_raw_wait(&a, 2), "+route/default/r1.00.http");
    char *dbg = xds_server_debug_json(v.srv);
    assert_non_null(strstr(dbg, "\"tls\": true"));
    free(dbg);
    xt_raw_close(&a);
    net_tls_ctx_release(stls);
    net_tls_ctx_release(ctls);
    net_tls_testcert_dispose(&tc);
    env_dispose(&v);
}

/* A stream that never reads, next to one that does, while big resources change many times. */
typedef struct reader {
    xt_raw_t *r;
    const char *want_version; /* the latest version of the watched route */
} reader_t;

static bool reader_has_latest(void *a)
{
    reader_t *rd = a;
    xt_raw_t *r = rd->r;
    for (int i = r->nmsg - 1; i >= 0; i--)
        for (size_t k = 0; k < r->resp[i]->n_resources; k++)
            if (strcmp(r->resp[i]->resources[k]->name, "route/default/r0.00.http") == 0)
                return strcmp(r->resp[i]->resources[k]->version, rd->want_version) == 0;
    return false;
}

static void test_a_stream_that_never_reads_is_bounded_and_delays_no_one(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    v.srv = xt_server(&v.L, v.st, NULL, NULL);
    /* 64 routes of about 16 KiB each: 1 MiB per full push, over the 256 KiB stream queue */
    char *pad = malloc(16385);
    memset(pad, 'x', 16384);
    pad[16384] = '\0';
    xt_raw_t slow, fast;
    open_delta(&v, &slow, NULL, NULL, "slow", "default~gw1");
    net_grpc_client_call_set_recv_paused(slow.call, true);
    open_delta(&v, &fast, NULL, NULL, "fast", "default~gw1");
    xt_raw_wait(&fast, 1);
    ack(&fast, fast.resp[0], NULL);
    char version[17] = "";
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 64; i++) {
            char key[64];
            snprintf(key, sizeof key, "default/r%d.00.http", i);
            Agentgateway__Dev__Resource__Route m = AGENTGATEWAY__DEV__RESOURCE__ROUTE__INIT;
            char *hosts[1] = {pad};
            m.key = key;
            m.listener_key = (char *)(round % 2 ? "a" : "b");
            m.n_hostnames = 1;
            m.hostnames = hosts;
            pad[0] = (char)('a' + round);
            ir_err_t err = {0};
            const ir_obj_t *o = ir_route_obj(ir_route_from_pb(&m, GW1, &err));
            assert_non_null(o);
            if (i == 0)
                snprintf(version, sizeof version, "%s", ir_obj_version(o));
            krt_static_put(v.routes, ir_obj_krt(o));
        }
        xds_store_flush(v.st, v.e);
        /* the reader keeps up: ACK whatever it got */
        reader_t rd = {&fast, version};
        while (!reader_has_latest(&rd)) {
            int seen = fast.nmsg;
            xt_raw_wait(&fast, seen + 1);
            ack(&fast, fast.resp[seen], NULL);
        }
    }
    xds_server_stats_t st;
    xds_server_stats(v.srv, &st);
    /* the silent stream holds at most one response per type and the queue cap */
    assert_true(st.max_held_bytes <= 2u * 1024u * 1024u + 65536u);
    assert_true(st.max_queued_bytes <= 256u * 1024u + 2u * 1024u * 1024u + 65536u);
    json_t *j = xds_server_debug(v.srv);
    json_t *conns = json_object_get(j, "connections");
    for (size_t i = 0; i < json_array_size(conns); i++) {
        json_t *c = json_array_get(conns, i);
        json_t *ty = json_object_get(json_object_get(json_object_get(c, "session"), "types"),
                                     IR_TYPE_URL_RESOURCE);
        if (strcmp(json_string_value(json_object_get(c, "node")), "slow") == 0) {
            /* never ACKed: its one response is in flight, and its dirty set is names, not events */
            assert_true(json_integer_value(json_object_get(ty, "dirty")) <= 66);
            assert_true(json_integer_value(json_object_get(c, "responses")) == 1);
        }
    }
    json_decref(j);
    free(pad);
    /* net/ does not end a paused client call when its connection closes (reported): cancel it */
    net_grpc_client_call_cancel(slow.call);
    xt_raw_close(&slow);
    xt_raw_close(&fast);
    env_dispose(&v);
}

static void test_closing_the_server_ends_streams_with_unavailable(void **state)
{
    (void)state;
    env_t v;
    env_init(&v, true);
    v.srv = xt_server(&v.L, v.st, NULL, NULL);
    xt_raw_t a;
    open_delta(&v, &a, NULL, NULL, "p1", "default~gw1");
    xt_raw_wait(&a, 1);
    xt_server_close(&v.L, v.srv);
    v.srv = NULL;
    xt_raw_wait_done(&a);
    assert_int_equal(a.status, NET_GRPC_UNAVAILABLE);
    xt_raw_close(&a);
    env_dispose(&v);
}

static void test_listen_errors(void **state)
{
    (void)state;
    xt_loop_t L;
    xt_loop_init(&L, 10000);
    xds_store_t *st = xds_store_new();
    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    cfg.listen = "not an address";
    int err = 0;
    assert_null(xds_server_new(&L.loop, st, &cfg, &err));
    assert_int_equal(err, XDS_EINVAL);
    xds_store_free(st);
    xt_loop_dispose(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_stream_is_scoped_pushes_after_flush_and_records_nacks),
        cmocka_unit_test(test_bad_first_requests_are_refused),
        cmocka_unit_test(test_state_of_the_world_is_unimplemented),
        cmocka_unit_test(test_health_check_and_watch_follow_readiness),
        cmocka_unit_test(test_static_token_file_authenticates_and_scopes),
        cmocka_unit_test(test_asynchronous_authentication),
        cmocka_unit_test(test_delta_over_tls),
        cmocka_unit_test(test_a_stream_that_never_reads_is_bounded_and_delays_no_one),
        cmocka_unit_test(test_closing_the_server_ends_streams_with_unavailable),
        cmocka_unit_test(test_listen_errors),
    };
    xds_log_set(NULL, NULL, XDS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
