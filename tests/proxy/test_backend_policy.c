/*
 * The backend connection policies (proxy/policy.c's backend_tcp, backend_http and backend_tls,
 * applied by proxy/http.c and proxy/upstream_h2.c to upstream connections), kept apart from
 * test_policy.c so that the two can grow independently.
 *
 * First without I/O: invalid values reject the change set whole, naming the policy and field.
 * Then a real proxy on a libuv loop (loop_rig.h) with curl and nghttp as clients: a connect
 * timeout against a listener whose backlog is full (its SYNs are dropped, so only the policy's
 * deadline can end the connect: the proxy's own is a minute, curl's ten seconds), TCP keepalive
 * options read back with getsockopt from the proxy's pooled upstream socket (and a connection
 * without them not shared), a backend request timeout answering 504 before the route's longer
 * backendRequest (HTTP/1.1 and HTTP/2 upstreams), the HTTP version (HTTP1 on a Service that says
 * h2c; HTTP2 over TLS to an h2-only server by ALPN, also behind an HTTP/2 client), and backend
 * TLS: subjectAltName lists accepted and refused, INSECURE_HOST accepting a name mismatch but
 * not an untrusted chain, and an ALPN list without h2 refused by an h2-only upstream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/tls.h"
#include "curl_rig.h"
#include "echo_rig.h"
#include "loop_rig.h"
#include "policy_test_util.h"
#include "proxy/policy.h"
#include "proxy/proxy.h"

#define BK(x) AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_##x
#define VM(x) AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_TLS__VERIFICATION_MODE__##x
#define HV(x) AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_HTTP__HTTP_VERSION__##x

typedef Agentgateway__Dev__Resource__BackendPolicySpec bps_t;

/* ------------------------------------------------------------------------------------------- */
/* Policy builders */

static bps_t *bps(int kind)
{
    bps_t *b = ir_pb_alloc(sizeof *b);
    agentgateway__dev__resource__backend_policy_spec__init(b);
    b->kind_case = kind;
    return b;
}

/* backend_tls: |root| (NULL: system roots), SNI |hostname| (may be NULL), |mode|, the SAN list
 * and ALPN list (NULL-terminated; NULL: unset). */
static bps_t *bps_tls(const char *root, const char *hostname, int mode, const char *const *sans,
                      const char *const *alpn)
{
    bps_t *b = bps(BK(BACKEND_TLS));
    b->backend_tls = ir_pb_alloc(sizeof *b->backend_tls);
    Agentgateway__Dev__Resource__BackendPolicySpec__BackendTLS *t = b->backend_tls;
    agentgateway__dev__resource__backend_policy_spec__backend_tls__init(t);
    if (root) {
        t->_root_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_TLS___ROOT_ROOT;
        t->root = (ProtobufCBinaryData){strlen(root), ir_pb_memdup(root, strlen(root))};
    }
    if (hostname) {
        t->_hostname_case =
            AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_TLS___HOSTNAME_HOSTNAME;
        t->hostname = tu_strdup(hostname);
    }
    t->verification = mode;
    for (size_t i = 0; sans && sans[i]; i++)
        TU_PUSH(t->verify_subject_alt_names, t->n_verify_subject_alt_names, tu_strdup(sans[i]));
    if (alpn) {
        t->alpn = ir_pb_alloc(sizeof *t->alpn);
        agentgateway__dev__resource__alpn__init(t->alpn);
        for (size_t i = 0; alpn[i]; i++)
            TU_PUSH(t->alpn->protocols, t->alpn->n_protocols, tu_strdup(alpn[i]));
    }
    return b;
}

static Google__Protobuf__Duration *dur_ms(int64_t ms)
{
    return tp_dur(ms / 1000, (int32_t)(ms % 1000) * 1000000);
}

/* backend_http: |version| (HV), request timeout |ms| (< 0: unset). */
static bps_t *bps_http(int version, int64_t ms)
{
    bps_t *b = bps(BK(BACKEND_HTTP));
    b->backend_http = ir_pb_alloc(sizeof *b->backend_http);
    agentgateway__dev__resource__backend_policy_spec__backend_http__init(b->backend_http);
    b->backend_http->version = version;
    if (ms >= 0)
        b->backend_http->request_timeout = dur_ms(ms);
    return b;
}

/* backend_tcp: connect timeout |ms| (< 0: unset); keepalive with |time_s|, |interval_s| and
 * |retries| when time_s >= 0 (retries < 0: unset). */
static bps_t *bps_tcp(int64_t ms, int64_t time_s, int64_t interval_s, int64_t retries)
{
    bps_t *b = bps(BK(BACKEND_TCP));
    b->backend_tcp = ir_pb_alloc(sizeof *b->backend_tcp);
    agentgateway__dev__resource__backend_policy_spec__backend_tcp__init(b->backend_tcp);
    if (ms >= 0)
        b->backend_tcp->connect_timeout = dur_ms(ms);
    if (time_s >= 0) {
        Agentgateway__Dev__Resource__KeepaliveConfig *k = ir_pb_alloc(sizeof *k);
        agentgateway__dev__resource__keepalive_config__init(k);
        k->time = tp_dur(time_s, 0);
        k->interval = tp_dur(interval_s, 0);
        if (retries >= 0) {
            k->_retries_case = AGENTGATEWAY__DEV__RESOURCE__KEEPALIVE_CONFIG___RETRIES_RETRIES;
            k->retries = (uint32_t)retries;
        }
        b->backend_tcp->keepalive = k;
    }
    return b;
}

/* A route Retry: |attempts| more tries on |code| (0: none) or a failed try. */
static tp_tps_t *retry(int attempts, int code)
{
    tp_tps_t *t = tp_tps(AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_RETRY);
    t->retry = ir_pb_alloc(sizeof *t->retry);
    agentgateway__dev__resource__retry__init(t->retry);
    t->retry->attempts = attempts;
    if (code)
        TU_PUSH(t->retry->retry_status_codes, t->retry->n_retry_status_codes, code);
    return t;
}

static const ir_obj_t *backend(const char *key, const char *target, bps_t *b)
{
    return tp_seal(tp_backend(tp_policy(key, target), b));
}

/* A Service "default/<hostname>" port 80 → |target| with appProtocol HTTP2 (h2c) when |h2c|,
 * and one healthy Workload for it at 127.0.0.1. */
static const ir_obj_t *service(const char *hostname, uint32_t target, bool h2c)
{
    Istio__Workload__Address *a = ir_pb_alloc(sizeof *a);
    istio__workload__address__init(a);
    a->type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE;
    a->service = ir_pb_alloc(sizeof *a->service);
    istio__workload__service__init(a->service);
    a->service->namespace_ = tu_strdup("default");
    a->service->hostname = tu_strdup(hostname);
    a->service->name = tu_strdup(hostname);
    Istio__Workload__Port *p = ir_pb_alloc(sizeof *p);
    istio__workload__port__init(p);
    p->service_port = 80;
    p->target_port = target;
    if (h2c)
        p->app_protocol = ISTIO__WORKLOAD__APP_PROTOCOL__HTTP2;
    TU_PUSH(a->service->ports, a->service->n_ports, p);
    const ir_address_t *x = ir_address_new(a, NULL, NULL);
    return x ? ir_address_obj(x) : NULL;
}

#define L1 "default/gw.http"

static const ir_obj_t *route(const char *name, const char *prefix, const char *backends)
{
    char m[128];
    snprintf(m, sizeof m, "prefix:%s", prefix);
    return tu_route("default", name, 0, L1, "", m, backends);
}

/* ------------------------------------------------------------------------------------------- */
/* Validation */

static proxy_config_t *base_config(void)
{
    proxy_config_t *cfg = proxy_config_new();
    char why[512];
    const ir_obj_t *objs[] = {tu_bind("80/default/gw", 80), tu_listener(L1, "80/default/gw", ""),
                              tu_static_backend("default/b", "127.0.0.1", 9),
                              route("a", "/", "be:default/b"), NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);
    return cfg;
}

static void reject_with(const ir_obj_t *o, const char *want)
{
    proxy_config_t *cfg = base_config();
    char why[512] = "";
    const ir_obj_t *objs[] = {o, NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_ECONFIG);
    if (!strstr(why, want))
        fail_msg("reason \"%s\" does not say \"%s\"", why, want);
    proxy_config_free(cfg);
}

static void test_invalid_backend_connection_policies_reject_the_change_set(void **state)
{
    (void)state;
    const char *const empty_san[] = {"a.test", "", NULL};
    const char *const empty_alpn[] = {"h2", "", NULL};
    const char *T = "backend:default/b";
    reject_with(backend("san", T, bps_tls(NULL, NULL, VM(STRICT), empty_san, NULL)),
                "policy/san: backend.backend_tls.verify_subject_alt_names[1]: empty");
    reject_with(backend("alpn", T, bps_tls(NULL, NULL, VM(STRICT), NULL, empty_alpn)),
                "policy/alpn: backend.backend_tls.alpn.protocols[1]: empty");
    reject_with(backend("ver", T, bps_http(7, -1)),
                "policy/ver: backend.backend_http.version: unknown version 7");
    bps_t *neg = bps_http(HV(HTTP1), -1);
    neg->backend_http->request_timeout = tp_dur(-1, 0);
    reject_with(backend("rt", T, neg), "policy/rt: backend.backend_http.request_timeout: -1.0");
    bps_t *ct = bps_tcp(-1, -1, 0, 0);
    ct->backend_tcp->connect_timeout = tp_dur(0, -5);
    reject_with(backend("ct", T, ct), "policy/ct: backend.backend_tcp.connect_timeout");
    reject_with(backend("ka", T, bps_tcp(-1, 10, 10, 0)),
                "policy/ka: backend.backend_tcp.keepalive.retries: 0 is not between 1 and 127");
    reject_with(backend("ki", T, bps_tcp(-1, 40000, 10, 3)),
                "policy/ki: backend.backend_tcp.keepalive.time");
    /* the valid ones pass, with an empty ALPN list (no ALPN at all) */
    proxy_config_t *cfg = base_config();
    char why[512];
    const char *const none[] = {NULL};
    const char *const sans[] = {"a.test", "spiffe://td/x", NULL};
    const ir_obj_t *ok[] = {backend("t", T, bps_tls(NULL, "a.test", VM(INSECURE_HOST), sans, none)),
                            backend("h", T, bps_http(HV(HTTP2), 1500)),
                            backend("c", T, bps_tcp(250, 30, 5, 3)), NULL};
    assert_int_equal(tu_apply(cfg, ok, why, sizeof why), PROXY_OK);
    proxy_config_free(cfg);
}

/* proxy_policy_upstream_conn fills the endpoint from the effective set (no I/O). */
static void test_upstream_conn_settings_follow_the_policies(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *o[] = {backend("h", "backend:default/b", bps_http(HV(HTTP2), 1500)),
                           backend("c", "backend:default/b", bps_tcp(250, 30, 0, -1)), NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    static proxy_policy_result_t pr;
    proxy_request_t req = {"GET", "/", NULL, "x", NULL, 0};
    proxy_route_match_t rm;
    assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
    proxy_policy_req_t q = {.snap = s, .rm = &rm, .method = "GET", .path = "/"};
    proxy_filters_t f;
    proxy_filters_collect(rm.pb, NULL, &f);
    assert_int_equal(proxy_policy_on_request(&q, &f, &pr), PROXY_OK);
    assert_int_equal(proxy_policy_on_backend(&q, rm.pb->backends[0], &f, &pr), PROXY_OK);
    proxy_endpoint_t ep = {.host = "127.0.0.1", .port = 9};
    proxy_policy_upstream_conn(&pr, &ep);
    assert_int_equal(ep.h2c, 1);
    assert_int_equal(ep.request_timeout_ms, 1500);
    assert_int_equal(ep.connect_timeout_ms, 250);
    assert_int_equal(ep.ka_idle_s, 30);
    assert_int_equal(ep.ka_interval_s, 180); /* agentgateway's defaults for what is unset */
    assert_int_equal(ep.ka_probes, 9);
    assert_null(ep.tls);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

/* The seeds of tests/fuzz/fuzz_policy.c for these kinds: each round-trips through the wire form;
 * with KRTGATE_POLICY_SEEDS_DIR set they are written there (a request-shape byte, then the
 * Resource bytes), as test_policy.c does for the others. */
static void test_fuzz_seeds_round_trip(void **state)
{
    (void)state;
    const char *const sans[] = {"b.test", "spiffe://td/ns/default/sa/b", "10.0.0.1", NULL};
    const char *const alpn[] = {"h2", "http/1.1", NULL};
    struct {
        const char *name;
        const ir_obj_t *o;
    } seeds[] = {
        {"backend_tcp", backend("t", "backend:default/b", bps_tcp(250, 30, 5, 3))},
        {"backend_tcp_defaults", backend("t", "backend:default/b/sub", bps_tcp(-1, 0, 0, -1))},
        {"backend_http_h2", backend("h", "backend:default/b", bps_http(HV(HTTP2), 1500))},
        {"backend_http_h1", backend("h", "backend:default/b", bps_http(HV(HTTP1), -1))},
        {"backend_tls_san",
         backend("s", "backend:default/b", bps_tls(NULL, "b.test", VM(STRICT), sans, alpn))},
        {"backend_tls_insecure_host",
         backend("s", "backend:default/b", bps_tls(NULL, NULL, VM(INSECURE_HOST), NULL, NULL))},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        tp_fuzz_seed(seeds[i].name, 0, seeds[i].o);
}

/* ------------------------------------------------------------------------------------------- */
/* An h2-only TLS server in the loop: answers every request with JSON naming its method, scheme,
 * authority and path, except .../hang (never answered), .../reset (stream reset) and .../flaky
 * (503 while h2s_flaky_left says so). */

static int h2s_retry_seen; /* requests under /h2r/ (read by the test thread: atomics) */
static int h2s_flaky_left; /* /flaky answers 503 while this is above 0 (loop thread only) */

static void h2s_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind,
                        const net_h2_header_t *h, size_t n, void *ud)
{
    (void)s;
    (void)ud;
    if (kind != NET_H2_REQUEST)
        return;
    const net_h2_header_t *m = net_h2_header_find(h, n, ":method"),
                          *sc = net_h2_header_find(h, n, ":scheme"),
                          *a = net_h2_header_find(h, n, ":authority"),
                          *p = net_h2_header_find(h, n, ":path");
    if (p && strncmp(p->value, "/h2r/", 5) == 0)
        __atomic_add_fetch(&h2s_retry_seen, 1, __ATOMIC_SEQ_CST);
    if (p && strstr(p->value, "/hang"))
        return;
    if (p && strstr(p->value, "/reset")) {
        net_h2_stream_reset(st, 0x2);
        return;
    }
    if (p && strstr(p->value, "/flaky") && h2s_flaky_left > 0) {
        h2s_flaky_left--;
        net_h2_header_t r[] = {NET_H2_HDR(":status", "503"), NET_H2_HDR("content-length", "0")};
        net_h2_stream_respond(st, r, 2, true);
        return;
    }
    char body[512];
    snprintf(body, sizeof body,
             "{\"server\":\"h2tls\",\"method\":\"%s\",\"scheme\":\"%s\",\"authority\":\"%s\","
             "\"path\":\"%s\"}",
             m ? m->value : "", sc ? sc->value : "", a ? a->value : "", p ? p->value : "");
    char cl[16];
    snprintf(cl, sizeof cl, "%zu", strlen(body));
    net_h2_header_t r[] = {NET_H2_HDR(":status", "200"), NET_H2_HDR("content-length", cl)};
    net_h2_stream_respond(st, r, 2, false);
    net_h2_stream_write(st, body, strlen(body));
    net_h2_stream_end(st, NULL, 0);
}

static void h2s_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *d, size_t len,
                     void *ud)
{
    (void)s;
    (void)st;
    (void)d;
    (void)len;
    (void)ud;
}

/* ------------------------------------------------------------------------------------------- */
/* The world */

typedef struct world {
    tu_loop_t rig;
    proxy_t *proxy;
    tu_echo_t plain, ka, tls, hole, h2tls;
    int port;
    net_tls_testcert_t cert, other;
    int full_fd, filler_fd, full_port; /* a listener whose accept queue is full */
    char reason[512];
    int rc;
} world_t;

static world_t W;

static void hole_read(net_conn_t *c, const uint8_t *d, size_t l, void *ud)
{
    (void)c;
    (void)d;
    (void)l;
    (void)ud; /* swallowed: never answered */
}

/* A listener with backlog 0 and one connection nobody accepts: its accept queue is full, so the
 * kernel drops further SYNs and a connect to it only ends by the connector's own deadline. */
static void full_listener(world_t *w)
{
    w->full_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(w->full_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(w->full_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(w->full_fd, 0), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(w->full_fd, (struct sockaddr *)&a, &len), 0);
    w->full_port = ntohs(a.sin_port);
    w->filler_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(w->filler_fd, (struct sockaddr *)&a, sizeof a), 0); /* queued */
}

static void job_setup(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    assert_int_equal(net_tls_testcert_make(&w->cert, "backend.test",
                                           "DNS:backend.test,URI:spiffe://td/ns/default/sa/echo",
                                           false),
                     NET_OK);
    assert_int_equal(net_tls_testcert_make(&w->other, "backend.test", "DNS:backend.test", false),
                     NET_OK);
    int err;
    static const char *const h1[] = {"http/1.1", NULL}, *const h2[] = {"h2", NULL};
    net_tls_config_t tc = {.cert_pem = w->cert.cert_pem, .key_pem = w->cert.key_pem, .alpn = h1};
    net_tls_ctx_t *sctx = net_tls_ctx_new(true, &tc, &err);
    assert_non_null(sctx);
    tu_echo_start(&w->rig.loop, &w->plain, "plain", NULL);
    tu_echo_start(&w->rig.loop, &w->ka, "ka", NULL);
    tu_echo_start(&w->rig.loop, &w->tls, "tls", sctx);
    net_tls_ctx_release(sctx);
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.raw = (net_conn_raw_callbacks_t){.on_read = hole_read};
    w->hole.srv = net_server_new(&w->rig.loop, &sc, &err);
    assert_non_null(w->hole.srv);
    w->hole.port = net_server_port(w->hole.srv);
    tc.alpn = h2; /* h2 only: a client that does not offer it gets no protocol and is closed */
    sctx = net_tls_ctx_new(true, &tc, &err);
    assert_non_null(sctx);
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.tls = sctx;
    sc.cb = (net_h2_callbacks_t){.on_headers = h2s_headers, .on_data = h2s_data};
    w->h2tls.srv = net_server_new(&w->rig.loop, &sc, &err);
    assert_non_null(w->h2tls.srv);
    w->h2tls.port = net_server_port(w->h2tls.srv);
    net_tls_ctx_release(sctx);
    full_listener(w);

    proxy_options_t o;
    proxy_options_default(&o);
    o.upstream_connect_timeout_ms = 60000; /* only a policy's deadline can end a test in time */
    w->proxy = proxy_new(&w->rig.loop, &o, &err);
    assert_non_null(w->proxy);
    assert_int_equal(proxy_listen(w->proxy, "80/default/gw", "127.0.0.1:0", &w->port), PROXY_OK);

    const char *CA = w->cert.ca_pem;
    const char *const spiffe[] = {"spiffe://td/ns/default/sa/echo", NULL};
    const char *const wrong[] = {"other.test", "spiffe://td/ns/default/sa/other", NULL};
    const char *const only_h1[] = {"http/1.1", NULL};
    tp_tps_t *rt = tp_timeout_ms(0); /* the route's backendRequest: 20 s, longer than curl waits */
    rt->timeout->backend_request = tp_dur(20, 0);
    char inl[64]; /* /noka: the keepalive echo without a policy */
    snprintf(inl, sizeof inl, "inline:127.0.0.1:%d", w->ka.port);
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        tu_listener(L1, "80/default/gw", ""),
        tu_static_backend("default/full", "127.0.0.1", w->full_port),
        tu_static_backend("default/ka", "127.0.0.1", w->ka.port),
        tu_static_backend("default/hole", "127.0.0.1", w->hole.port),
        tu_static_backend("default/san-ok", "127.0.0.1", w->tls.port),
        tu_static_backend("default/san-bad", "127.0.0.1", w->tls.port),
        tu_static_backend("default/ihost", "127.0.0.1", w->tls.port),
        tu_static_backend("default/ihost-badca", "127.0.0.1", w->tls.port),
        tu_static_backend("default/h2tls", "127.0.0.1", w->h2tls.port),
        tu_static_backend("default/h2tls-h1alpn", "127.0.0.1", w->h2tls.port),
        service("h2c-forced-h1", (uint32_t)w->plain.port, true),
        service("h2c-plain", (uint32_t)w->plain.port, true),
        tu_workload("w1", "127.0.0.1", "default/h2c-forced-h1", 80, (uint32_t)w->plain.port),
        tu_workload("w2", "127.0.0.1", "default/h2c-plain", 80, (uint32_t)w->plain.port),
        route("full", "/full", "be:default/full"),
        route("ka", "/ka", "be:default/ka"),
        route("noka", "/noka", inl),
        route("hole", "/hole", "be:default/hole"),
        route("san-ok", "/san-ok", "be:default/san-ok"),
        route("san-bad", "/san-bad", "be:default/san-bad"),
        route("ihost", "/ihost", "be:default/ihost"),
        route("ihost-badca", "/ihost-badca", "be:default/ihost-badca"),
        route("h2", "/h2", "be:default/h2tls"),
        route("h2r", "/h2r", "be:default/h2tls"),
        tp_seal(tp_traffic(tp_policy("h2r-retry", "route:default/h2r"), retry(2, 503))),
        route("h2alpn", "/h2alpn", "be:default/h2tls-h1alpn"),
        route("forced", "/forced", "svc:default/h2c-forced-h1:80"),
        route("h2cplain", "/h2cplain", "svc:default/h2c-plain:80"),
        tp_seal(tp_traffic(tp_policy("hole-rt", "route:default/hole"), rt)),
        tp_seal(tp_traffic(tp_policy("h2cplain-rt", "route:default/h2cplain"), tp_timeout_ms(300))),
        backend("full", "backend:default/full", bps_tcp(200, -1, 0, 0)),
        backend("ka", "backend:default/ka", bps_tcp(-1, 33, 11, 4)),
        backend("hole", "backend:default/hole", bps_http(HV(UNSPECIFIED), 200)),
        backend("san-ok", "backend:default/san-ok",
                bps_tls(CA, "not-in-the-cert.test", VM(STRICT), spiffe, NULL)),
        backend("san-bad", "backend:default/san-bad",
                bps_tls(CA, "backend.test", VM(STRICT), wrong, NULL)),
        backend("ihost", "backend:default/ihost",
                bps_tls(CA, "not-in-the-cert.test", VM(INSECURE_HOST), NULL, NULL)),
        backend("ihost-badca", "backend:default/ihost-badca",
                bps_tls(w->other.ca_pem, "backend.test", VM(INSECURE_HOST), NULL, NULL)),
        backend("h2tls", "backend:default/h2tls",
                bps_tls(CA, "backend.test", VM(STRICT), NULL, NULL)),
        backend("h2tls-v", "backend:default/h2tls", bps_http(HV(HTTP2), 300)),
        backend("h2alpn", "backend:default/h2tls-h1alpn",
                bps_tls(CA, "backend.test", VM(STRICT), NULL, only_h1)),
        backend("h2alpn-v", "backend:default/h2tls-h1alpn", bps_http(HV(HTTP2), -1)),
        backend("forced", "svc:default/h2c-forced-h1", bps_http(HV(HTTP1), -1)),
        NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
}

static void job_teardown(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    proxy_close(w->proxy, NULL, NULL);
    net_server_close(w->plain.srv, false, NULL, NULL);
    net_server_close(w->ka.srv, false, NULL, NULL);
    net_server_close(w->tls.srv, false, NULL, NULL);
    net_server_close(w->hole.srv, false, NULL, NULL);
    net_server_close(w->h2tls.srv, false, NULL, NULL);
    uv_close((uv_handle_t *)&w->rig.async, NULL);
    net_tls_testcert_dispose(&w->cert);
    net_tls_testcert_dispose(&w->other);
    close(w->filler_fd);
    close(w->full_fd);
}

static int setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    tu_loop_start(&W.rig, &W);
    tu_loop_run(&W.rig, job_setup, NULL);
    if (W.rc != PROXY_OK)
        fail_msg("config: %s", W.reason);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_teardown, NULL);
    assert_int_equal(tu_loop_join(&W.rig), 0);
    return 0;
}

static void curl(tu_resp_t *r, const char *path, const char *args)
{
    tu_curl(r, W.port, path, args);
}

/* ------------------------------------------------------------------------------------------- */

static void test_connect_timeout_from_backend_tcp(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/full", NULL); /* the proxy's own connect deadline is a minute, curl waits 10 s */
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "upstream connection failed"));
    tu_resp_free(&r);
}

/* In this process: the sockets connected to 127.0.0.1:|port|, with SO_KEEPALIVE and without. */
static void count_upstream_sockets(int port, int *with, int *without)
{
    *with = *without = 0;
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        if (getpeername(fd, (struct sockaddr *)&a, &len) != 0 || a.sin_family != AF_INET ||
            ntohs(a.sin_port) != port)
            continue;
        int v = 0;
        len = sizeof v;
        assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
        if (!v) {
            (*without)++;
            continue;
        }
        (*with)++;
        assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
        assert_int_equal(v, 33);
        assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &len), 0);
        assert_int_equal(v, 11);
        assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &len), 0);
        assert_int_equal(v, 4);
    }
}

static void test_keepalive_from_backend_tcp_on_the_upstream_socket(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/ka/1", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "ka");
    tu_resp_free(&r);
    int with, without;
    count_upstream_sockets(W.ka.port, &with, &without); /* the pooled connection, idle now */
    assert_int_equal(with, 1);
    assert_int_equal(without, 0);
    /* the same echo without the policy: the pooled keepalive connection is not taken */
    curl(&r, "/noka/1", NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    count_upstream_sockets(W.ka.port, &with, &without);
    assert_int_equal(with, 1);
    assert_int_equal(without, 1);
    curl(&r, "/ka/2", NULL); /* ... while the keepalive one is reused */
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    count_upstream_sockets(W.ka.port, &with, &without);
    assert_int_equal(with, 1);
}

static void test_backend_request_timeout_answers_504(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    /* the route's backendRequest is 20 s; the backend's 200 ms replaces it */
    curl(&r, "/hole", NULL);
    assert_int_equal(r.status, 504);
    assert_non_null(strstr(r.body, "timeout"));
    tu_resp_free(&r);
    curl(&r, "/hole", "--http2-prior-knowledge");
    assert_int_equal(r.status, 504);
    tu_resp_free(&r);
    /* an HTTP/2 upstream (over TLS) under the same kind of deadline (300 ms) */
    curl(&r, "/h2/hang", NULL);
    assert_int_equal(r.status, 504);
    tu_resp_free(&r);
}

static void test_subject_alt_names_and_insecure_host(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/san-ok/x", NULL); /* by the URI SAN, whatever the SNI */
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "tls");
    tu_resp_free(&r);
    curl(&r, "/san-bad/x", NULL); /* the certificate has none of those */
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
    curl(&r, "/ihost/x", NULL); /* name mismatch, chain trusted */
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    curl(&r, "/ihost-badca/x", NULL); /* chain not trusted */
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
}

static void test_http2_over_tls_by_alpn(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    for (int i = 0; i < 3; i++) { /* a new connection, then the pooled one */
        curl(&r, "/h2/a?b=1", i == 2 ? "--http2-prior-knowledge" : NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(tu_jstr(&r, "server"), "h2tls");
        assert_string_equal(tu_jstr(&r, "scheme"), "https");
        assert_string_equal(tu_jstr(&r, "path"), "/h2/a?b=1");
        tu_resp_free(&r);
    }
    /* nghttp: several HTTP/2 streams at once through the proxy to the h2 TLS upstream */
    if (system("command -v nghttp >/dev/null 2>&1") == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "timeout 10 nghttp -m 8 http://127.0.0.1:%d/h2/n 2>&1", W.port);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        char all[8192];
        size_t n = fread(all, 1, sizeof all - 1, f);
        all[n] = '\0';
        assert_int_equal(pclose(f), 0);
        size_t bodies = 0;
        for (const char *p = all; (p = strstr(p, "\"server\":\"h2tls\"")); p++)
            bodies++;
        assert_int_equal(bodies, 8);
    }
    /* an ALPN list without h2: the h2-only upstream picks nothing, the connection is refused */
    curl(&r, "/h2alpn/x", NULL);
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
}

static void job_flaky(void *world, void *arg)
{
    (void)world;
    h2s_flaky_left = *(int *)arg;
}

/* The route's Retry over an HTTP/2 upstream: a listed status, a stream reset and an expired
 * per-try timeout each start another try, up to 1 + attempts in all. */
static void test_retry_over_an_http2_upstream(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    /* HTTP/1.1 clients only: the HTTP/2 front counts a GET without END_STREAM on its HEADERS
     * (curl's) as a request with a body, and those are never retried */
    int two = 2, three = 3, zero = 0;
    tu_loop_run(&W.rig, job_flaky, &two);
    int before = __atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST);
    curl(&r, "/h2r/flaky", NULL); /* 503, 503, then 200 */
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "path"), "/h2r/flaky");
    tu_resp_free(&r);
    assert_int_equal(__atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST) - before, 3);
    tu_loop_run(&W.rig, job_flaky, &three);
    before = __atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST);
    curl(&r, "/h2r/flaky", NULL); /* beyond the budget: the last answer */
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
    assert_int_equal(__atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST) - before, 3);
    tu_loop_run(&W.rig, job_flaky, &zero);
    before = __atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST);
    curl(&r, "/h2r/reset", NULL);
    assert_int_equal(r.status, 502);
    tu_resp_free(&r);
    assert_int_equal(__atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST) - before, 3);
    before = __atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST);
    curl(&r, "/h2r/hang", NULL); /* the backend's 300 ms per try, three times */
    assert_int_equal(r.status, 504);
    tu_resp_free(&r);
    assert_int_equal(__atomic_load_n(&h2s_retry_seen, __ATOMIC_SEQ_CST) - before, 3);
}

static void test_http1_forced_on_an_h2c_service(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    /* the Service says h2c: the HTTP/1.1 echo takes the preface for an h2c client of its own and
     * never answers (the route's 300 ms timeout ends it) */
    curl(&r, "/h2cplain/x", NULL);
    assert_int_equal(r.status, 504);
    tu_resp_free(&r);
    curl(&r, "/forced/x", NULL); /* backend_http version HTTP1 wins over the Service */
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(&r, "server"), "plain");
    assert_string_equal(tu_jstr(&r, "path"), "/forced/x");
    tu_resp_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error return, not the end */
    const struct CMUnitTest units[] = {
        cmocka_unit_test(test_invalid_backend_connection_policies_reject_the_change_set),
        cmocka_unit_test(test_upstream_conn_settings_follow_the_policies),
        cmocka_unit_test(test_fuzz_seeds_round_trip),
    };
    const struct CMUnitTest http[] = {
        cmocka_unit_test(test_connect_timeout_from_backend_tcp),
        cmocka_unit_test(test_keepalive_from_backend_tcp_on_the_upstream_socket),
        cmocka_unit_test(test_backend_request_timeout_answers_504),
        cmocka_unit_test(test_subject_alt_names_and_insecure_host),
        cmocka_unit_test(test_http2_over_tls_by_alpn),
        cmocka_unit_test(test_http1_forced_on_an_h2c_service),
        cmocka_unit_test(test_retry_over_an_http2_upstream),
    };
    int rc = cmocka_run_group_tests(units, NULL, NULL);
    return rc | cmocka_run_group_tests(http, setup, teardown);
}
