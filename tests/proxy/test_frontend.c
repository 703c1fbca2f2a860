/*
 * proxy/frontend.c and the client-connection deadlines of http.c. First without I/O: the settings
 * a Bind gets from the options and its frontend policies (listener level over gateway level,
 * another Gateway's Bind untouched), and P7 (invalid tcp / tls / http policies reject the change
 * set whole with the policy and field named, the old snapshot serving). Then a real proxy on a
 * loop thread with short timeouts and raw sockets, curl and openssl s_client as clients: an idle
 * HTTP/1.1 connection closed after the Bind's http1IdleTimeout and not before, a slow request head
 * answered 408 (not before the header timeout), a silent plaintext client closed at the handshake
 * deadline, an idle HTTP/2 connection sent a GOAWAY, maxConnectionDuration ending a keep-alive
 * connection, TLS 1.2 refused by a `minProtocolVersion: 1.3` policy and accepted again once the
 * policy is gone (the TLS context rebuilt), and the counters on /metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/tls.h"
#include "curl_rig.h"
#include "echo_rig.h"
#include "loop_rig.h"
#include "policy_test_util.h"
#include "proxy/frontend.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"

#define FK(x) AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_##x
#define V12   AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__TLSVERSION__TLS_V1_2
#define V13   AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__TLSVERSION__TLS_V1_3

typedef Agentgateway__Dev__Resource__FrontendPolicySpec fps_t;

/* ------------------------------------------------------------------------------------------- */
/* IR helpers */

static const ir_obj_t *gw_listener(const char *key, const char *bind, const char *gw,
                                   const char *lname, const char *cert, const char *pkey)
{
    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = tu_strdup(key);
    l->bind_key = tu_strdup(bind);
    l->hostname = tu_strdup("");
    l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTP;
    l->name = ir_pb_alloc(sizeof *l->name);
    agentgateway__dev__resource__listener_name__init(l->name);
    l->name->gateway_name = tu_strdup(gw);
    l->name->gateway_namespace = tu_strdup("default");
    l->name->listener_name = tu_strdup(lname);
    if (cert) {
        l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTPS;
        l->tls = ir_pb_alloc(sizeof *l->tls);
        agentgateway__dev__resource__tlsconfig__init(l->tls);
        l->tls->cert = (ProtobufCBinaryData){strlen(cert), ir_pb_memdup(cert, strlen(cert))};
        l->tls->private_key = (ProtobufCBinaryData){strlen(pkey), ir_pb_memdup(pkey, strlen(pkey))};
    }
    const ir_listener_t *x = ir_listener_new(l, "default/gw", NULL);
    return x ? ir_listener_obj(x) : NULL;
}

static fps_t *fps(int kind)
{
    fps_t *f = ir_pb_alloc(sizeof *f);
    agentgateway__dev__resource__frontend_policy_spec__init(f);
    f->kind_case = kind;
    if (kind == FK(HTTP)) {
        f->http = ir_pb_alloc(sizeof *f->http);
        agentgateway__dev__resource__frontend_policy_spec__http__init(f->http);
    } else if (kind == FK(TLS)) {
        f->tls = ir_pb_alloc(sizeof *f->tls);
        agentgateway__dev__resource__frontend_policy_spec__tls__init(f->tls);
    } else if (kind == FK(TCP)) {
        f->tcp = ir_pb_alloc(sizeof *f->tcp);
        agentgateway__dev__resource__frontend_policy_spec__tcp__init(f->tcp);
    }
    return f;
}

static const ir_obj_t *frontend(const char *key, const char *target, fps_t *f)
{
    tp_policy_t *p = tp_policy(key, target);
    p->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND;
    p->frontend = f;
    return tp_seal(p);
}

static Google__Protobuf__Duration *ms_dur(int64_t ms)
{
    return tp_dur(ms / 1000, (int32_t)(ms % 1000) * 1000000);
}

/* http: idle timeout |idle_ms| (<0: unset) and max connection duration |life_ms| (0: unset). */
static fps_t *http_pol(int64_t idle_ms, int64_t life_ms)
{
    fps_t *f = fps(FK(HTTP));
    if (idle_ms >= 0)
        f->http->http1_idle_timeout = ms_dur(idle_ms);
    if (life_ms)
        f->http->max_connection_duration = ms_dur(life_ms);
    return f;
}

/* tls: version range (0: unset). */
static fps_t *tls_pol(int min, int max)
{
    fps_t *f = fps(FK(TLS));
    if (min) {
        f->tls->_min_version_case =
            AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__TLS___MIN_VERSION_MIN_VERSION;
        f->tls->min_version = min;
    }
    if (max) {
        f->tls->_max_version_case =
            AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__TLS___MAX_VERSION_MAX_VERSION;
        f->tls->max_version = max;
    }
    return f;
}

/* ------------------------------------------------------------------------------------------- */
/* Without I/O */

static void test_defaults_come_from_the_options(void **state)
{
    (void)state;
    proxy_options_t o;
    proxy_options_default(&o);
    assert_int_equal(o.client_idle_timeout_ms, 600000);
    assert_int_equal(o.client_header_timeout_ms, 30000);
    assert_int_equal(o.client_handshake_timeout_ms, 15000);
    assert_int_equal(o.client_body_timeout_ms, 60000);
    o.client_idle_timeout_ms = 1234;
    proxy_frontend_t fe;
    proxy_frontend_resolve(NULL, "80/default/gw", &o, &fe);
    assert_int_equal(fe.http1_idle_ms, 1234);
    assert_int_equal(fe.conn.idle_timeout_ms, 1234);
    assert_int_equal(fe.header_ms, 30000);
    assert_int_equal(fe.body_ms, 60000);
    assert_int_equal(fe.conn.handshake_timeout_ms, 15000);
    assert_int_equal(fe.http1_max_headers, 100);
    assert_int_equal(fe.max_buffered_input, 64 * 1024);
    assert_int_equal(fe.conn.tcp_keepalive_idle_s, 0);
    assert_int_equal(fe.conn.max_lifetime_ms, 0);
    assert_int_equal(fe.tls_min_version, 0); /* net/'s: TLS 1.2 up */
    assert_int_equal(fe.tls_max_version, 0);
    assert_false(fe.tls_ciphers_set);
    assert_false(fe.tls_alpn_set);
    assert_null(fe.tcp_policy);
    assert_null(fe.tls_policy);
    assert_null(fe.http_policy);
}

static void test_policies_resolve_per_bind(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    fps_t *tcp = fps(FK(TCP));
    tcp->tcp->keepalives = ir_pb_alloc(sizeof *tcp->tcp->keepalives);
    agentgateway__dev__resource__keepalive_config__init(tcp->tcp->keepalives);
    tcp->tcp->keepalives->time = ms_dur(7000);
    tcp->tcp->keepalives->interval = ms_dur(2500); /* whole seconds, rounded up */
    fps_t *h = http_pol(1500, 60000);
    h->http->_http1_max_headers_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP1_MAX_HEADERS_HTTP1_MAX_HEADERS;
    h->http->http1_max_headers = 20;
    h->http->_http2_window_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_WINDOW_SIZE_HTTP2_WINDOW_SIZE;
    h->http->http2_window_size = 70000;
    h->http->_http2_frame_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_FRAME_SIZE_HTTP2_FRAME_SIZE;
    h->http->http2_frame_size = 32768;
    h->http->_max_buffer_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___MAX_BUFFER_SIZE_MAX_BUFFER_SIZE;
    h->http->max_buffer_size = 4096;
    h->http->http2_keepalive_interval = ms_dur(10000);
    h->http->http2_keepalive_timeout = ms_dur(3000);
    fps_t *t = tls_pol(V13, 0);
    t->tls->handshake_timeout = ms_dur(2000);
    TU_PUSH(t->tls->key_exchange_groups, t->tls->n_key_exchange_groups,
            AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__KEY_EXCHANGE_GROUP__X25519);
    TU_PUSH(t->tls->key_exchange_groups, t->tls->n_key_exchange_groups,
            AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__KEY_EXCHANGE_GROUP__P256);
    t->tls->alpn = ir_pb_alloc(sizeof *t->tls->alpn);
    agentgateway__dev__resource__alpn__init(t->tls->alpn);
    TU_PUSH(t->tls->alpn->protocols, t->tls->alpn->n_protocols, tu_strdup("http/1.1"));
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        tu_bind("81/default/other", 81),
        gw_listener("default/gw.http", "80/default/gw", "gw", "http", NULL, NULL),
        gw_listener("default/other.http", "81/default/other", "other", "http", NULL, NULL),
        frontend("fe-tcp", "gw:default/gw", tcp),
        frontend("fe-http-gw", "gw:default/gw", http_pol(99000, 0)),
        frontend("fe-http-listener", "gw:default/gw/http", h), /* listener level: wins */
        frontend("fe-tls", "gw:default/gw", t),
        NULL};
    char why[512];
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    proxy_options_t o;
    proxy_options_default(&o);
    proxy_frontend_t fe;
    proxy_frontend_resolve(s, "80/default/gw", &o, &fe);
    assert_string_equal(fe.tcp_policy, "fe-tcp");
    assert_string_equal(fe.http_policy, "fe-http-listener");
    assert_string_equal(fe.tls_policy, "fe-tls");
    assert_int_equal(fe.conn.tcp_keepalive_idle_s, 7);
    assert_int_equal(fe.conn.tcp_keepalive_interval_s, 3);
    assert_int_equal(fe.conn.tcp_keepalive_probes, 9); /* agentgateway's default */
    assert_int_equal(fe.http1_idle_ms, 1500);
    assert_int_equal(fe.conn.idle_timeout_ms, 600000); /* HTTP/2 idle: the option */
    assert_int_equal(fe.conn.max_lifetime_ms, 60000);
    assert_int_equal(fe.http1_max_headers, 20);
    assert_int_equal(fe.max_buffered_input, 4096);
    assert_int_equal(fe.conn.h2.initial_window_size, 70000);
    assert_int_equal(fe.conn.h2.max_frame_size, 32768);
    assert_int_equal(fe.conn.keepalive_ms, 10000);
    assert_int_equal(fe.conn.keepalive_timeout_ms, 3000);
    assert_int_equal(fe.conn.handshake_timeout_ms, 2000);
    assert_int_equal(fe.tls_min_version, NET_TLS_V1_3);
    assert_string_equal(fe.tls_groups, "X25519:P-256");
    assert_true(fe.tls_alpn_set);
    assert_string_equal(fe.tls_alpn[0], "http/1.1");
    assert_null(fe.tls_alpn[1]);
    uint64_t tls_hash = fe.tls_hash;

    json_t *d = proxy_frontend_dump(s, &o); /* what /config_dump shows */
    assert_non_null(d);
    json_t *b = json_object_get(d, "80/default/gw");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "policies"), "http")),
                        "fe-http-listener");
    assert_int_equal(json_integer_value(json_object_get(b, "http1_idle_ms")), 1500);
    json_t *ka = json_object_get(b, "tcp_keepalive");
    assert_int_equal(json_array_size(ka), 3);
    assert_int_equal(json_integer_value(json_array_get(ka, 0)), 7);
    json_t *bt = json_object_get(b, "tls");
    assert_string_equal(json_string_value(json_object_get(bt, "min")), "1.3");
    assert_string_equal(json_string_value(json_object_get(bt, "groups")), "X25519:P-256");
    assert_string_equal(json_string_value(json_array_get(json_object_get(bt, "alpn"), 0)),
                        "http/1.1");
    json_t *ob = json_object_get(d, "81/default/other");
    assert_true(json_is_null(json_object_get(json_object_get(ob, "policies"), "tcp")));
    assert_true(json_is_null(json_object_get(ob, "tcp_keepalive")));
    assert_true(json_is_null(json_object_get(json_object_get(ob, "tls"), "alpn")));
    json_decref(d);

    proxy_frontend_t other;
    proxy_frontend_resolve(s, "81/default/other", &o, &other);
    assert_null(other.tcp_policy);
    assert_null(other.http_policy);
    assert_null(other.tls_policy);
    assert_int_equal(other.http1_idle_ms, 600000);
    assert_int_equal(other.conn.tcp_keepalive_idle_s, 0);
    assert_true(other.tls_hash != tls_hash);
    proxy_snapshot_release(s);

    /* Ciphers: TLS 1.3 suites only leave TLS 1.3; an OVERRIDE at gateway level beats the
     * listener-level http policy. */
    fps_t *c = tls_pol(0, 0);
    TU_PUSH(c->tls->cipher_suites, c->tls->n_cipher_suites,
            AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__CIPHER_SUITE__TLS_AES_128_GCM_SHA256);
    tp_policy_t *ov = tp_policy("fe-http-override", "gw:default/gw");
    ov->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND;
    ov->frontend = http_pol(777, 0);
    ov->inheritance = AGENTGATEWAY__DEV__RESOURCE__POLICY__INHERITANCE__OVERRIDE;
    const ir_obj_t *more[] = {frontend("fe-tls", "gw:default/gw", c), tp_seal(ov), NULL};
    assert_int_equal(tu_apply(cfg, more, why, sizeof why), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    proxy_frontend_resolve(s, "80/default/gw", &o, &fe);
    assert_string_equal(fe.http_policy, "fe-http-override");
    assert_int_equal(fe.http1_idle_ms, 777);
    assert_true(fe.tls_ciphers_set);
    assert_string_equal(fe.tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
    assert_string_equal(fe.tls_cipher_list, "");
    assert_int_equal(fe.tls_min_version, NET_TLS_V1_3);
    assert_true(fe.tls_hash != tls_hash);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void expect_rejected(proxy_config_t *cfg, const ir_obj_t *pol, const char *want)
{
    const proxy_snapshot_t *before = proxy_config_snapshot(cfg);
    const ir_obj_t *objs[] = {pol, NULL};
    char why[512] = "";
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_ECONFIG);
    if (!strstr(why, want))
        fail_msg("reason \"%s\" lacks \"%s\"", why, want);
    const proxy_snapshot_t *after = proxy_config_snapshot(cfg);
    assert_ptr_equal(before, after); /* the old snapshot keeps serving */
    proxy_snapshot_release(before);
    proxy_snapshot_release(after);
}

static void test_invalid_policies_reject_the_change_set(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        gw_listener("default/gw.http", "80/default/gw", "gw", "http", NULL, NULL), NULL};
    char why[512];
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);

    expect_rejected(cfg, frontend("v", "gw:default/gw", tls_pol(V13, V12)),
                    "policy/v: frontend.tls: min_version TLS_V1_3 is above max_version TLS_V1_2");
    expect_rejected(cfg, frontend("v", "gw:default/gw", tls_pol(7, 0)),
                    "policy/v: frontend.tls.min_version: unknown TLS version");
    fps_t *f = tls_pol(0, 0);
    TU_PUSH(f->tls->cipher_suites, f->tls->n_cipher_suites, 42);
    expect_rejected(cfg, frontend("c", "gw:default/gw", f),
                    "policy/c: frontend.tls.cipher_suites[0]: unknown cipher suite 42");
    f = tls_pol(V13, 0); /* TLS 1.2 ciphers only, TLS 1.3 required */
    TU_PUSH(
        f->tls->cipher_suites, f->tls->n_cipher_suites,
        AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__CIPHER_SUITE__TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    expect_rejected(cfg, frontend("c", "gw:default/gw", f),
                    "no listed cipher suite works with the allowed versions");
    f = tls_pol(0, 0);
    TU_PUSH(f->tls->key_exchange_groups, f->tls->n_key_exchange_groups, 9);
    expect_rejected(cfg, frontend("g", "gw:default/gw", f),
                    "frontend.tls.key_exchange_groups[0]: unknown key exchange group 9");
    f = tls_pol(0, 0);
    f->tls->alpn = ir_pb_alloc(sizeof *f->tls->alpn);
    agentgateway__dev__resource__alpn__init(f->tls->alpn);
    TU_PUSH(f->tls->alpn->protocols, f->tls->alpn->n_protocols, tu_strdup("h2"));
    TU_PUSH(f->tls->alpn->protocols, f->tls->alpn->n_protocols, tu_strdup("spdy/3"));
    expect_rejected(cfg, frontend("a", "gw:default/gw", f),
                    "frontend.tls.alpn.protocols[1]: \"spdy/3\" is not served");
    f = http_pol(-1, 0);
    f->http->_http2_frame_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_FRAME_SIZE_HTTP2_FRAME_SIZE;
    f->http->http2_frame_size = 1000;
    expect_rejected(cfg, frontend("h", "gw:default/gw", f),
                    "policy/h: frontend.http.http2_frame_size: must be between 16384 and 16777215");
    f = http_pol(-1, 0);
    f->http->_http1_max_headers_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP1_MAX_HEADERS_HTTP1_MAX_HEADERS;
    expect_rejected(cfg, frontend("h", "gw:default/gw", f), "frontend.http.http1_max_headers");
    f = http_pol(-1, 0);
    f->http->max_connection_duration = tp_dur(-5, 0);
    expect_rejected(cfg, frontend("h", "gw:default/gw", f),
                    "frontend.http.max_connection_duration: negative");
    f = fps(FK(TCP));
    f->tcp->keepalives = ir_pb_alloc(sizeof *f->tcp->keepalives);
    agentgateway__dev__resource__keepalive_config__init(f->tcp->keepalives);
    f->tcp->keepalives->_retries_case =
        AGENTGATEWAY__DEV__RESOURCE__KEEPALIVE_CONFIG___RETRIES_RETRIES;
    f->tcp->keepalives->retries = 0;
    expect_rejected(cfg, frontend("k", "gw:default/gw", f),
                    "policy/k: frontend.tcp.keepalives.retries: must be between 1 and 127");
    proxy_config_free(cfg);
}

/* Frontend policies as seeds of tests/fuzz/fuzz_policy.c (a request-shape byte, then the
 * Resource bytes): each must survive the wire round trip; with KRTGATE_POLICY_SEEDS_DIR set they
 * are written there (tests/fuzz/corpus/policy/frontend_*). */
static void test_fuzz_seeds_round_trip(void **state)
{
    (void)state;
    fps_t *tcp = fps(FK(TCP));
    tcp->tcp->keepalives = ir_pb_alloc(sizeof *tcp->tcp->keepalives);
    agentgateway__dev__resource__keepalive_config__init(tcp->tcp->keepalives);
    tcp->tcp->keepalives->time = ms_dur(7000);
    fps_t *tls = tls_pol(V12, V13);
    TU_PUSH(tls->tls->cipher_suites, tls->tls->n_cipher_suites,
            AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__CIPHER_SUITE__TLS_AES_128_GCM_SHA256);
    TU_PUSH(
        tls->tls->cipher_suites, tls->tls->n_cipher_suites,
        AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__CIPHER_SUITE__TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    TU_PUSH(tls->tls->key_exchange_groups, tls->tls->n_key_exchange_groups,
            AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__KEY_EXCHANGE_GROUP__X25519);
    tls->tls->alpn = ir_pb_alloc(sizeof *tls->tls->alpn);
    agentgateway__dev__resource__alpn__init(tls->tls->alpn);
    TU_PUSH(tls->tls->alpn->protocols, tls->tls->alpn->n_protocols, tu_strdup("h2"));
    fps_t *h = http_pol(1500, 60000);
    h->http->_http2_frame_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_FRAME_SIZE_HTTP2_FRAME_SIZE;
    h->http->http2_frame_size = 32768;
    struct {
        const char *name;
        const ir_obj_t *o;
    } seeds[] = {
        {"frontend_tcp", frontend("fe-tcp", "gw:default/gw", tcp)},
        {"frontend_tls", frontend("fe-tls", "gw:default/gw", tls)},
        {"frontend_http", frontend("fe-http", "gw:default/gw/http", h)},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        tp_fuzz_seed(seeds[i].name, 0, seeds[i].o);
}

/* ------------------------------------------------------------------------------------------- */
/* A real proxy */

typedef struct world {
    tu_loop_t rig;
    proxy_t *proxy;
    int port, tls_port, tuned_port, tls12_port;
    int rc;
    char reason[512];
    char ca_file[64];
    net_tls_testcert_t cert;
    proxy_stats_t st;
    char *metrics;
    tu_echo_t echo;
} world_t;

static world_t W;

enum { IDLE_MS = 300, HEADER_MS = 300, HANDSHAKE_MS = 300, LIFE_MS = 400, BODY_MS = 300 };

/* The TLS listener's policy: |min| version (0: none), and a handshake deadline long enough for
 * s_client under valgrind. */
static fps_t *tls13_pol(int min)
{
    fps_t *f = tls_pol(min, 0);
    f->tls->handshake_timeout = ms_dur(10000);
    return f;
}

/* HTTP/2 settings and a small header limit; long deadlines. */
static fps_t *tuned_http(void)
{
    fps_t *h = http_pol(20000, 0);
    h->http->_http1_max_headers_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP1_MAX_HEADERS_HTTP1_MAX_HEADERS;
    h->http->http1_max_headers = 3;
    h->http->_http2_window_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_WINDOW_SIZE_HTTP2_WINDOW_SIZE;
    h->http->http2_window_size = 70000;
    h->http->_http2_frame_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_FRAME_SIZE_HTTP2_FRAME_SIZE;
    h->http->http2_frame_size = 32768;
    h->http->_http2_max_header_size_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__HTTP___HTTP2_MAX_HEADER_SIZE_HTTP2_MAX_HEADER_SIZE;
    h->http->http2_max_header_size = 8192;
    return h;
}

static fps_t *tuned_tcp(void)
{
    fps_t *f = fps(FK(TCP));
    f->tcp->keepalives = ir_pb_alloc(sizeof *f->tcp->keepalives);
    agentgateway__dev__resource__keepalive_config__init(f->tcp->keepalives);
    f->tcp->keepalives->time = ms_dur(7000);
    f->tcp->keepalives->interval = ms_dur(3000);
    f->tcp->keepalives->_retries_case =
        AGENTGATEWAY__DEV__RESOURCE__KEEPALIVE_CONFIG___RETRIES_RETRIES;
    f->tcp->keepalives->retries = 4;
    return f;
}

/* One TLS 1.2 cipher (so TLS 1.2 only) and ALPN http/1.1 only. */
static fps_t *tls12_pol(void)
{
    fps_t *f = tls13_pol(0);
    TU_PUSH(
        f->tls->cipher_suites, f->tls->n_cipher_suites,
        AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__CIPHER_SUITE__TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    f->tls->alpn = ir_pb_alloc(sizeof *f->tls->alpn);
    agentgateway__dev__resource__alpn__init(f->tls->alpn);
    TU_PUSH(f->tls->alpn->protocols, f->tls->alpn->n_protocols, tu_strdup("http/1.1"));
    return f;
}

static void job_setup(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    assert_int_equal(net_tls_testcert_make(&w->cert, "example.org", "DNS:example.org", false),
                     NET_OK);
    proxy_options_t o;
    proxy_options_default(&o);
    o.client_idle_timeout_ms = IDLE_MS;
    o.client_header_timeout_ms = HEADER_MS;
    o.client_handshake_timeout_ms = HANDSHAKE_MS;
    o.client_body_timeout_ms = BODY_MS;
    tu_echo_start(&w->rig.loop, &w->echo, "echo", NULL);
    int err;
    w->proxy = proxy_new(&w->rig.loop, &o, &err);
    assert_non_null(w->proxy);
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80),
        gw_listener("default/gw.http", "80/default/gw", "gw", "http", NULL, NULL),
        tu_static_backend("default/echo", "127.0.0.1", w->echo.port),
        tu_route("default", "echo", 0, "default/gw.http", "", "prefix:/echo", "be:default/echo"),
        tu_bind("81/default/life", 81),
        gw_listener("default/life.http", "81/default/life", "life", "http", NULL, NULL),
        /* a long idle deadline: the maximum duration ends the connection */
        frontend("life", "gw:default/life", http_pol(20000, LIFE_MS)),
        tu_bind("443/default/secure", 443),
        gw_listener("default/secure.https", "443/default/secure", "secure", "https",
                    w->cert.cert_pem, w->cert.key_pem),
        frontend("tls13", "gw:default/secure", tls13_pol(V13)), tu_bind("82/default/tuned", 82),
        gw_listener("default/tuned.http", "82/default/tuned", "tuned", "http", NULL, NULL),
        frontend("tuned-http", "gw:default/tuned", tuned_http()),
        frontend("tuned-tcp", "gw:default/tuned", tuned_tcp()), tu_bind("8443/default/tls12", 8443),
        gw_listener("default/tls12.https", "8443/default/tls12", "tls12", "https", w->cert.cert_pem,
                    w->cert.key_pem),
        frontend("tls12", "gw:default/tls12", tls12_pol()), NULL};
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);
    assert_int_equal(proxy_listen(w->proxy, "80/default/gw", "127.0.0.1:0", &w->port), PROXY_OK);
    assert_int_equal(proxy_listen(w->proxy, "443/default/secure", "127.0.0.1:0", &w->tls_port),
                     PROXY_OK);
    assert_int_equal(proxy_listen(w->proxy, "82/default/tuned", "127.0.0.1:0", &w->tuned_port),
                     PROXY_OK);
    assert_int_equal(proxy_listen(w->proxy, "8443/default/tls12", "127.0.0.1:0", &w->tls12_port),
                     PROXY_OK);
}

static void job_teardown(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    proxy_close(w->proxy, NULL, NULL);
    net_server_close(w->echo.srv, false, NULL, NULL);
    uv_close((uv_handle_t *)&w->rig.async, NULL);
    net_tls_testcert_dispose(&w->cert);
}

static void job_stats(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    proxy_stats(w->proxy, &w->st);
    proxy_metrics_buf_t b = {0};
    proxy_metrics_source_t src = {NULL, w->proxy};
    assert_int_equal(proxy_metrics_render(&b, &src, 1, NULL), 0);
    free(w->metrics);
    w->metrics = b.data;
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
    free(W.metrics);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads until the peer closes (or resets), at most 10 s. Returns: the bytes read into |buf| (cap
 * bytes, NUL-terminated), and *closed_at the time of the close (0: still open at the stop). */
static size_t read_until_close(int fd, char *buf, size_t cap, uint64_t *closed_at)
{
    size_t n = 0;
    uint64_t stop = now_ms() + 10000;
    *closed_at = 0;
    while (now_ms() < stop) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0) {
            *closed_at = now_ms();
            break;
        }
        size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
        memcpy(buf + n, tmp, take);
        n += take;
    }
    buf[n] = '\0';
    return n;
}

static void test_idle_keepalive_connection_is_closed_after_the_idle_timeout(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_stats, NULL);
    uint64_t before = W.st.client_idle_closed;
    int fd = connect_to(W.port);
    const char req[] = "GET /none HTTP/1.1\r\nHost: a.example\r\n\r\n";
    uint64_t t0 = now_ms(), closed;
    send_all(fd, req, sizeof req - 1);
    char buf[8192];
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    assert_true(closed != 0); /* closed by the proxy */
    /* not before the deadline (counted from the request: the answer came after it) */
    assert_true(closed - t0 + 20 >= IDLE_MS);
    /* one answer (keep-alive), and nothing more when the deadline closed the connection */
    assert_true(strncmp(buf, "HTTP/1.1 404", 12) == 0);
    assert_null(strstr(buf + 12, "HTTP/1.1"));
    assert_null(strstr(buf, "onnection: close"));
    tu_loop_run(&W.rig, job_stats, NULL);
    assert_int_equal(W.st.client_idle_closed, before + 1);
}

/* Reads one response with a Content-Length body (at most 10 s). Returns its length, 0 on EOF. */
static size_t read_response(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    uint64_t stop = now_ms() + 10000;
    buf[0] = '\0';
    while (now_ms() < stop) {
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "ontent-length: ");
        if (!cl)
            cl = strstr(buf, "ontent-Length: ");
        if (end && cl && n >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
            return n;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            return 0;
        n += (size_t)r;
        buf[n] = '\0';
    }
    return 0;
}

/* On the loop thread: the loop stalls past the idle deadline, and the client's next request
 * arrives during the stall (sent from here, before the loop polls again). */
static void job_stall_then_send(void *world, void *arg)
{
    (void)world;
    int fd = *(int *)arg;
    struct timespec nap = {0, (IDLE_MS + 200) * 1000000L};
    nanosleep(&nap, NULL);
    const char req[] = "GET /again HTTP/1.1\r\nHost: a.example\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
}

static void test_deadline_spares_a_request_that_came_during_a_stalled_turn(void **state)
{
    (void)state;
    int fd = connect_to(W.port);
    const char req[] = "GET /none HTTP/1.1\r\nHost: a.example\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    char buf[8192];
    assert_true(read_response(fd, buf, sizeof buf) > 0);
    assert_true(strncmp(buf, "HTTP/1.1 404", 12) == 0);
    /* the idle deadline passes while the loop is blocked; the request is already in the socket
     * when the loop runs its timers again: it is served, not closed */
    tu_loop_run(&W.rig, job_stall_then_send, &fd);
    size_t n = read_response(fd, buf, sizeof buf);
    close(fd);
    if (n == 0 || strncmp(buf, "HTTP/1.1 404", 12) != 0)
        fail_msg("the request sent in time was not answered: '%s'", buf);
}

static void test_slow_request_head_gets_408(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_stats, NULL);
    uint64_t before = W.st.client_header_timeouts;
    int fd = connect_to(W.port);
    uint64_t t0 = now_ms();
    /* more than the 24 bytes that tell HTTP/1.1 from HTTP/2, then a stall mid-head */
    const char part[] = "GET /slow HTTP/1.1\r\nHost: a.example\r\nX-Slow: 1";
    send_all(fd, part, sizeof part - 1);
    char buf[8192];
    uint64_t closed;
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    assert_true(strncmp(buf, "HTTP/1.1 408", 12) == 0);
    assert_non_null(strstr(buf, "Connection: close") ? strstr(buf, "Connection: close")
                                                     : strstr(buf, "connection: close"));
    assert_true(closed != 0);
    assert_true(closed - t0 + 20 >= HEADER_MS);
    tu_loop_run(&W.rig, job_stats, NULL);
    assert_int_equal(W.st.client_header_timeouts, before + 1);
    assert_non_null(strstr(W.metrics, "krtgate_proxy_client_timeouts_total{reason=\"header\"}"));
}

static void test_stalled_request_body_gets_408(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_stats, NULL);
    uint64_t before = W.st.client_body_timeouts;
    /* a body sent in pieces, each within the deadline, for longer than the deadline: served */
    int fd = connect_to(W.port);
    const char head[] = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n"
                        "Connection: close\r\n\r\n";
    send_all(fd, head, sizeof head - 1);
    for (int i = 0; i < 4; i++) {
        struct timespec nap = {0, 150 * 1000000L};
        nanosleep(&nap, NULL);
        send_all(fd, "0123456789", 10);
    }
    char buf[8192];
    uint64_t closed;
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || !strstr(buf, "\"body_len\":40"))
        fail_msg("slow but steady body: %s", buf);
    /* a body that stops: 408 and close, not before the deadline */
    fd = connect_to(W.port);
    const char part[] = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789";
    uint64_t t0 = now_ms();
    send_all(fd, part, sizeof part - 1);
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    if (strncmp(buf, "HTTP/1.1 408", 12) != 0)
        fail_msg("stalled body: %s", buf);
    assert_true(closed != 0);
    assert_true(closed - t0 + 20 >= BODY_MS);
    tu_loop_run(&W.rig, job_stats, NULL);
    assert_int_equal(W.st.client_body_timeouts, before + 1);
    assert_non_null(strstr(W.metrics, "krtgate_proxy_client_timeouts_total{reason=\"body\"} 1"));
}

static void test_silent_client_is_closed_at_the_handshake_deadline(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_stats, NULL);
    uint64_t before = W.st.client_handshake_timeouts;
    int fd = connect_to(W.port);
    uint64_t t0 = now_ms(), closed;
    char buf[256];
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    assert_true(closed != 0);
    assert_true(closed - t0 + 20 >= HANDSHAKE_MS);
    tu_loop_run(&W.rig, job_stats, NULL);
    assert_int_equal(W.st.client_handshake_timeouts, before + 1);
}

/* Reads HTTP/2 frames until one of |type| arrives (at most 10 s). Returns: whether it did. */
static bool read_until_frame(int fd, uint8_t type)
{
    uint8_t buf[65536];
    size_t n = 0;
    uint64_t stop = now_ms() + 10000;
    while (now_ms() < stop) {
        for (size_t off = 0; off + 9 <= n;) { /* 9-byte frame headers */
            size_t len = ((size_t)buf[off] << 16) | ((size_t)buf[off + 1] << 8) | buf[off + 2];
            if (buf[off + 3] == type)
                return true;
            off += 9 + len;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf + n, sizeof buf - n, 0);
        if (r <= 0)
            return false;
        n += (size_t)r;
    }
    return false;
}

static void test_idle_http2_connection_gets_goaway(void **state)
{
    (void)state;
    tu_loop_run(&W.rig, job_stats, NULL);
    uint64_t before = W.st.client_idle_closed;
    int fd = connect_to(W.port);
    /* the client preface and an empty SETTINGS frame, then nothing */
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                  "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    uint64_t t0 = now_ms();
    send_all(fd, preface, sizeof preface - 1);
    assert_true(read_until_frame(fd, 0x07)); /* GOAWAY */
    assert_true(now_ms() - t0 + 20 >= IDLE_MS);
    close(fd);
    tu_loop_run(&W.rig, job_stats, NULL);
    assert_int_equal(W.st.client_idle_closed, before + 1);
}

static void job_life_port(void *world, void *arg)
{
    world_t *w = world;
    int *port = arg;
    assert_int_equal(proxy_listen(w->proxy, "81/default/life", "127.0.0.1:0", port), PROXY_OK);
}

static void test_max_connection_duration_ends_a_keepalive_connection(void **state)
{
    (void)state;
    int port = 0;
    tu_loop_run(&W.rig, job_life_port, &port);
    tu_loop_run(&W.rig, job_stats, NULL);
    uint64_t before = W.st.client_lifetime_closed;
    uint64_t t0 = now_ms();
    int fd = connect_to(port);
    const char req[] = "GET /none HTTP/1.1\r\nHost: a.example\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    char buf[8192];
    uint64_t closed;
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    assert_true(strncmp(buf, "HTTP/1.1 404", 12) == 0);
    assert_true(closed != 0); /* well before the 20 s idle deadline */
    assert_true(closed - t0 + 20 >= LIFE_MS);
    tu_loop_run(&W.rig, job_stats, NULL);
    assert_int_equal(W.st.client_lifetime_closed, before + 1);
}

/* Runs |cmd| (a shell line); its output (stdout and stderr) into |out|. Returns: exit status. */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    return pclose(f);
}

/* openssl s_client with |flags| against TLS port |port|: did the handshake succeed? The output
 * goes to |out| (may be NULL). */
static bool s_client_port(int port, const char *flags, char *out, size_t cap)
{
    char cmd[512], mine[8192];
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%d -servername example.org %s -brief "
             "</dev/null 2>&1",
             port, flags);
    if (!out) {
        out = mine;
        cap = sizeof mine;
    }
    return run_cmd(cmd, out, cap) == 0 && strstr(out, "Protocol version") != NULL;
}

static bool s_client_ok(const char *version_flag)
{
    return s_client_port(W.tls_port, version_flag, NULL, 0);
}

static void job_relax_tls_policy(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    const ir_obj_t *o = frontend("tls13", "gw:default/secure", tls13_pol(0));
    proxy_change_t ch;
    proxy_change_of_obj(&ch, o);
    w->rc = proxy_apply(w->proxy, &ch, 1, false, w->reason, sizeof w->reason);
    ir_obj_release(o);
}

static void test_tls_min_version_policy_refuses_tls12(void **state)
{
    (void)state;
    if (access("/usr/bin/openssl", X_OK) != 0)
        skip();
    assert_false(s_client_ok("-tls1_2"));
    assert_true(s_client_ok("-tls1_3"));
    /* the minimum goes: the listener's context is rebuilt, TLS 1.2 works again */
    tu_loop_run(&W.rig, job_relax_tls_policy, NULL);
    assert_int_equal(W.rc, PROXY_OK);
    assert_true(s_client_ok("-tls1_2"));
}

static void test_tls_ciphers_and_alpn_policy(void **state)
{
    (void)state;
    if (access("/usr/bin/openssl", X_OK) != 0)
        skip();
    char out[8192];
    /* a TLS 1.2 cipher only: TLS 1.3 cannot be negotiated */
    assert_false(s_client_port(W.tls12_port, "-tls1_3", out, sizeof out));
    assert_false(s_client_port(W.tls12_port, "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384", out,
                               sizeof out));
    bool ok = s_client_port(W.tls12_port,
                            "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -alpn h2,http/1.1", out,
                            sizeof out);
    if (!ok || !strstr(out, "ECDHE-ECDSA-AES128-GCM-SHA256"))
        fail_msg("s_client: %s", out);
    /* ALPN: h2 is not offered by the policy, http/1.1 is chosen */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%d -servername example.org -alpn h2,http/1.1 "
             "</dev/null 2>&1",
             W.tls12_port);
    run_cmd(cmd, out, sizeof out);
    if (!strstr(out, "ALPN protocol: http/1.1"))
        fail_msg("s_client: %s", out);
}

static void test_http2_settings_follow_the_policy(void **state)
{
    (void)state;
    if (access("/usr/bin/nghttp", X_OK) != 0)
        skip();
    char cmd[256], out[16384];
    snprintf(cmd, sizeof cmd, "nghttp -nv -t 10 http://127.0.0.1:%d/none 2>&1", W.tuned_port);
    run_cmd(cmd, out, sizeof out);
    const char *want[] = {"SETTINGS_INITIAL_WINDOW_SIZE(0x04):70000",
                          "SETTINGS_MAX_FRAME_SIZE(0x05):32768",
                          "SETTINGS_MAX_HEADER_LIST_SIZE(0x06):8192", ":status: 404"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(out, want[i]))
            fail_msg("nghttp output lacks %s: %s", want[i], out);
}

static void test_http1_max_headers_policy_answers_431(void **state)
{
    (void)state;
    int fd = connect_to(W.tuned_port);
    const char req[] = "GET /none HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    char buf[4096];
    uint64_t closed;
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    assert_true(strncmp(buf, "HTTP/1.1 431", 12) == 0);
    fd = connect_to(W.tuned_port); /* three fields are fine */
    const char ok[] = "GET /none HTTP/1.1\r\nHost: a\r\nA: 1\r\nConnection: close\r\n\r\n";
    send_all(fd, ok, sizeof ok - 1);
    read_until_close(fd, buf, sizeof buf, &closed);
    close(fd);
    assert_true(strncmp(buf, "HTTP/1.1 404", 12) == 0);
}

static void test_tcp_keepalive_policy_is_on_the_accepted_socket(void **state)
{
    (void)state;
    if (access("/usr/bin/ss", X_OK) != 0 && access("/bin/ss", X_OK) != 0)
        skip();
    int fds[2] = {connect_to(W.tuned_port), connect_to(W.port)};
    const char req[] = "GET /none HTTP/1.1\r\nHost: a\r\n\r\n";
    char buf[4096], cmd[256], out[8192];
    for (int i = 0; i < 2; i++) { /* an answer: the proxy has accepted (and set up) the socket */
        send_all(fds[i], req, sizeof req - 1);
        ssize_t n = recv(fds[i], buf, sizeof buf, 0);
        assert_true(n > 12 && strncmp(buf, "HTTP/1.1 404", 12) == 0);
    }
    /* the proxy's side of each connection: keepalive timer on the tuned port only (ss -o) */
    snprintf(cmd, sizeof cmd, "ss -tnoH state established '( sport = :%d )' 2>&1", W.tuned_port);
    run_cmd(cmd, out, sizeof out);
    if (!strstr(out, "keepalive"))
        fail_msg("ss: %s", out);
    snprintf(cmd, sizeof cmd, "ss -tnoH state established '( sport = :%d )' 2>&1", W.port);
    run_cmd(cmd, out, sizeof out);
    assert_null(strstr(out, "keepalive"));
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest sansio[] = {
        cmocka_unit_test(test_defaults_come_from_the_options),
        cmocka_unit_test(test_policies_resolve_per_bind),
        cmocka_unit_test(test_invalid_policies_reject_the_change_set),
        cmocka_unit_test(test_fuzz_seeds_round_trip),
    };
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_idle_keepalive_connection_is_closed_after_the_idle_timeout),
        cmocka_unit_test(test_deadline_spares_a_request_that_came_during_a_stalled_turn),
        cmocka_unit_test(test_slow_request_head_gets_408),
        cmocka_unit_test(test_stalled_request_body_gets_408),
        cmocka_unit_test(test_silent_client_is_closed_at_the_handshake_deadline),
        cmocka_unit_test(test_idle_http2_connection_gets_goaway),
        cmocka_unit_test(test_max_connection_duration_ends_a_keepalive_connection),
        cmocka_unit_test(test_tls_min_version_policy_refuses_tls12),
        cmocka_unit_test(test_tls_ciphers_and_alpn_policy),
        cmocka_unit_test(test_http2_settings_follow_the_policy),
        cmocka_unit_test(test_http1_max_headers_policy_answers_431),
        cmocka_unit_test(test_tcp_keepalive_policy_is_on_the_accepted_socket),
    };
    int rc = cmocka_run_group_tests_name("sans-io", sansio, NULL, NULL);
    return rc | cmocka_run_group_tests_name("live", live, setup, teardown);
}
