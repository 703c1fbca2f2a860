/*
 * Sample messages shared by the ir tests and tests/ir/wire_dump.c (whose output
 * tests/ir/check_wire.py decodes with an independent decoder). Every field the reference
 * tabulates for the resources the translator emits is set, to a value other than its default, so
 * that it must appear on the wire; oneof alternatives are spread over several samples.
 *
 * Each ir_sample_* returns a new message built as ir/pb.h describes (krt_malloc everywhere), so it
 * can be handed to a constructor that takes it, or released with ir_pb_free.
 */
#ifndef IR_SAMPLES_H
#define IR_SAMPLES_H

#include <stdarg.h>
#include <string.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "ir/pb.h"

#define R_(x)  AGENTGATEWAY__DEV__RESOURCE__##x
#define T_(x)  Agentgateway__Dev__Resource__##x
#define D_(x)  agentgateway__dev__resource__##x##__descriptor
#define WR_(x) ISTIO__WORKLOAD__##x
#define WT_(x) Istio__Workload__##x
#define WD_(x) istio__workload__##x##__descriptor

static inline void *sample_new_(const ProtobufCMessageDescriptor *d)
{
    void *m = ir_pb_alloc(d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}
#define NEW(T, d) ((T *)sample_new_(&(d)))
#define S(x)      ir_pb_strdup(x)

/* An array of |count| strings (copied); sets |*n|. */
static inline char **sample_strs_(size_t *n, size_t count, ...)
{
    char **a = ir_pb_alloc(count * sizeof *a);
    va_list ap;
    va_start(ap, count);
    for (size_t i = 0; i < count; i++)
        a[i] = S(va_arg(ap, const char *));
    va_end(ap);
    *n = count;
    return a;
}
#define STRS(m, field, count, ...) ((m)->field = sample_strs_(&(m)->n_##field, count, __VA_ARGS__))

/* An array of |count| message pointers (taken); sets |*n|. */
static inline void *sample_msgs_(size_t *n, size_t count, ...)
{
    void **a = ir_pb_alloc(count * sizeof *a);
    va_list ap;
    va_start(ap, count);
    for (size_t i = 0; i < count; i++)
        a[i] = va_arg(ap, void *);
    va_end(ap);
    *n = count;
    return a;
}
#define MSGS(m, field, count, ...) ((m)->field = sample_msgs_(&(m)->n_##field, count, __VA_ARGS__))

static inline ProtobufCBinaryData sample_bin(const void *p, size_t n)
{
    ProtobufCBinaryData b = {n, ir_pb_memdup(p, n)};
    return b;
}

static inline Google__Protobuf__Duration *sample_dur(int64_t s, int32_t nanos)
{
    Google__Protobuf__Duration *d =
        NEW(Google__Protobuf__Duration, google__protobuf__duration__descriptor);
    d->seconds = s;
    d->nanos = nanos;
    return d;
}

/* ---------------------------------------------------------------------------------------------
 * Small pieces */

static inline T_(Header) * sample_header(const char *name, const char *value)
{
    T_(Header) *h = NEW(T_(Header), D_(header));
    h->name = S(name);
    h->value = S(value);
    return h;
}

static inline T_(BackendReference) *
    sample_ref_service(const char *ns, const char *host, uint32_t port)
{
    T_(BackendReference) *r = NEW(T_(BackendReference), D_(backend_reference));
    T_(BackendReference__Service) *s =
        NEW(T_(BackendReference__Service), D_(backend_reference__service));
    s->namespace_ = S(ns);
    s->hostname = S(host);
    r->kind_case = R_(BACKEND_REFERENCE__KIND_SERVICE);
    r->service = s;
    r->port = port;
    return r;
}

static inline T_(BackendReference) * sample_ref_backend(const char *key)
{
    T_(BackendReference) *r = NEW(T_(BackendReference), D_(backend_reference));
    r->kind_case = R_(BACKEND_REFERENCE__KIND_BACKEND);
    r->backend = S(key);
    return r;
}

static inline T_(BackendReference) * sample_ref_inline(const char *host, uint32_t port)
{
    T_(BackendReference) *r = NEW(T_(BackendReference), D_(backend_reference));
    T_(BackendReference__Inline) *i =
        NEW(T_(BackendReference__Inline), D_(backend_reference__inline));
    i->hostname = S(host);
    i->port = port;
    r->kind_case = R_(BACKEND_REFERENCE__KIND_INLINE);
    r->inline_ = i;
    return r;
}

static inline T_(RouteName) *
    sample_route_name(const char *kind, const char *ns, const char *name, const char *rule)
{
    T_(RouteName) *n = NEW(T_(RouteName), D_(route_name));
    n->kind = S(kind);
    n->name = S(name);
    n->namespace_ = S(ns);
    if (rule) {
        n->_rule_name_case = R_(ROUTE_NAME___RULE_NAME_RULE_NAME);
        n->rule_name = S(rule);
    }
    return n;
}

static inline T_(TrafficPolicySpec) * sample_tps(void)
{
    return NEW(T_(TrafficPolicySpec), D_(traffic_policy_spec));
}

/* ---------------------------------------------------------------------------------------------
 * Bind */

static inline T_(Bind) * ir_sample_bind(uint32_t port, const char *key)
{
    T_(Bind) *b = NEW(T_(Bind), D_(bind));
    b->key = S(key);
    b->port = port;
    b->protocol = R_(BIND__PROTOCOL__TLS);
    b->tunnel_protocol = R_(BIND__TUNNEL_PROTOCOL__HBONE_GATEWAY);
    b->mode = R_(BIND__MODE__INTERNAL);
    return b;
}

/* ---------------------------------------------------------------------------------------------
 * Listener with TLS */

static inline T_(Listener) * ir_sample_listener(void)
{
    T_(Listener) *l = NEW(T_(Listener), D_(listener));
    l->key = S("default/gw.https");
    l->bind_key = S("443/default/gw");
    T_(ListenerName) *n = NEW(T_(ListenerName), D_(listener_name));
    n->gateway_name = S("gw");
    n->gateway_namespace = S("default");
    n->listener_name = S("https");
    T_(ResourceName) *ls = NEW(T_(ResourceName), D_(resource_name));
    ls->name = S("extra");
    ls->namespace_ = S("apps");
    n->listener_set = ls;
    l->name = n;
    l->hostname = S("*.example.com");
    l->protocol = R_(PROTOCOL__HTTPS);
    T_(TLSConfig) *t = NEW(T_(TLSConfig), D_(tlsconfig));
    t->cert = sample_bin("-----CERT-----", 14);
    t->private_key = sample_bin("-----KEY-----", 13);
    t->_root_case = R_(TLSCONFIG___ROOT_ROOT); /* set but empty: presence must survive */
    t->root = sample_bin("", 0);
    t->n_cipher_suites = 2;
    t->cipher_suites = ir_pb_alloc(2 * sizeof *t->cipher_suites);
    t->cipher_suites[0] = R_(TLSCONFIG__CIPHER_SUITE__TLS_AES_128_GCM_SHA256);
    t->cipher_suites[1] = R_(TLSCONFIG__CIPHER_SUITE__TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    t->_min_version_case = R_(TLSCONFIG___MIN_VERSION_MIN_VERSION);
    t->min_version = R_(TLSCONFIG__TLSVERSION__TLS_V1_2);
    t->_max_version_case = R_(TLSCONFIG___MAX_VERSION_MAX_VERSION);
    t->max_version = R_(TLSCONFIG__TLSVERSION__TLS_V1_3);
    t->mtls_mode = R_(TLSCONFIG__MTLSMODE__ALLOW_INSECURE_FALLBACK);
    t->n_key_exchange_groups = 2;
    t->key_exchange_groups = ir_pb_alloc(2 * sizeof *t->key_exchange_groups);
    t->key_exchange_groups[0] = R_(TLSCONFIG__KEY_EXCHANGE_GROUP__X25519);
    t->key_exchange_groups[1] = R_(TLSCONFIG__KEY_EXCHANGE_GROUP__P256);
    t->certificate_source = R_(TLSCONFIG__CERTIFICATE_SOURCE__DYNAMIC_CA);
    l->tls = t;
    return l;
}

/* ---------------------------------------------------------------------------------------------
 * Route: matches of every kind, backends of every kind, the filters the translator emits. */

static inline T_(RouteMatch) * sample_match_full(void)
{
    T_(RouteMatch) *m = NEW(T_(RouteMatch), D_(route_match));
    T_(PathMatch) *p = NEW(T_(PathMatch), D_(path_match));
    p->kind_case = R_(PATH_MATCH__KIND_PATH_PREFIX);
    p->path_prefix = S("/api");
    m->path = p;
    T_(HeaderMatch) *h1 = NEW(T_(HeaderMatch), D_(header_match));
    h1->name = S("x-env");
    h1->value_case = R_(HEADER_MATCH__VALUE_EXACT);
    h1->exact = S("prod");
    T_(HeaderMatch) *h2 = NEW(T_(HeaderMatch), D_(header_match));
    h2->name = S("x-version");
    h2->value_case = R_(HEADER_MATCH__VALUE_REGEX);
    h2->regex = S("v[0-9]+");
    MSGS(m, headers, 2, h1, h2);
    T_(MethodMatch) *mm = NEW(T_(MethodMatch), D_(method_match));
    mm->exact = S("GET");
    m->method = mm;
    T_(QueryMatch) *q1 = NEW(T_(QueryMatch), D_(query_match));
    q1->name = S("page");
    q1->value_case = R_(QUERY_MATCH__VALUE_EXACT);
    q1->exact = S("1");
    T_(QueryMatch) *q2 = NEW(T_(QueryMatch), D_(query_match));
    q2->name = S("id");
    q2->value_case = R_(QUERY_MATCH__VALUE_REGEX);
    q2->regex = S("[a-z]+");
    MSGS(m, query_params, 2, q1, q2);
    return m;
}

static inline T_(RouteMatch) * sample_match_path(int kind_case, const char *v)
{
    T_(RouteMatch) *m = NEW(T_(RouteMatch), D_(route_match));
    T_(PathMatch) *p = NEW(T_(PathMatch), D_(path_match));
    p->kind_case = (T_(PathMatch__KindCase))kind_case;
    if (kind_case == R_(PATH_MATCH__KIND_EXACT))
        p->exact = S(v);
    else if (kind_case == R_(PATH_MATCH__KIND_REGEX))
        p->regex = S(v);
    else
        p->path_prefix = S(v);
    m->path = p;
    return m;
}

static inline T_(HeaderModifier) * sample_header_mod(void)
{
    T_(HeaderModifier) *h = NEW(T_(HeaderModifier), D_(header_modifier));
    MSGS(h, add, 1, sample_header("x-added", "1"));
    MSGS(h, set, 2, sample_header("x-set", "2"), sample_header("x-set-too", "3"));
    STRS(h, remove, 1, "x-removed");
    return h;
}

static inline T_(Route) * ir_sample_route(void)
{
    T_(Route) *r = NEW(T_(Route), D_(route));
    r->key = S("default/r.00.http");
    r->listener_key = S("default/gw.http");
    r->name = sample_route_name("HTTPRoute", "default", "r", "rule-a");
    STRS(r, hostnames, 2, "a.example.com", "*.b.example.com");
    MSGS(r, matches, 3, sample_match_full(),
         sample_match_path(R_(PATH_MATCH__KIND_EXACT), "/health"),
         sample_match_path(R_(PATH_MATCH__KIND_REGEX), "^/v[0-9]+/"));

    T_(RouteBackend) *b1 = NEW(T_(RouteBackend), D_(route_backend));
    b1->backend = sample_ref_service("default", "svc.default.svc.cluster.local", 8080);
    b1->weight = 3;
    T_(BackendPolicySpec) *bp = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    bp->kind_case = R_(BACKEND_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER);
    bp->request_header_modifier = sample_header_mod();
    MSGS(b1, backend_policies, 1, bp);
    T_(RouteBackend) *b2 = NEW(T_(RouteBackend), D_(route_backend));
    b2->backend = sample_ref_backend("default/static");
    b2->weight = 1;
    T_(RouteBackend) *b3 = NEW(T_(RouteBackend), D_(route_backend));
    b3->backend = sample_ref_inline("example.com", 443);
    b3->weight = 2;
    b3->_route_group_key_case = R_(ROUTE_BACKEND___ROUTE_GROUP_KEY_ROUTE_GROUP_KEY);
    b3->route_group_key = S("default/parent/default/child");
    MSGS(r, backends, 3, b1, b2, b3);

    T_(TrafficPolicySpec) *p_timeout = sample_tps();
    T_(Timeout) *to = NEW(T_(Timeout), D_(timeout));
    to->request = sample_dur(10, 0);
    to->backend_request = sample_dur(2, 500000000);
    p_timeout->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_TIMEOUT);
    p_timeout->timeout = to;

    T_(TrafficPolicySpec) *p_retry = sample_tps();
    T_(Retry) *re = NEW(T_(Retry), D_(retry));
    re->n_retry_status_codes = 2;
    re->retry_status_codes = ir_pb_alloc(2 * sizeof *re->retry_status_codes);
    re->retry_status_codes[0] = 503;
    re->retry_status_codes[1] = 504;
    re->attempts = 3;
    re->backoff = sample_dur(0, 100000000);
    re->precondition = S("request.method == 'GET'");
    re->condition = S("response.code >= 500");
    p_retry->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_RETRY);
    p_retry->retry = re;

    T_(TrafficPolicySpec) *p_reqh = sample_tps();
    p_reqh->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER);
    p_reqh->request_header_modifier = sample_header_mod();
    T_(TrafficPolicySpec) *p_resh = sample_tps();
    p_resh->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER);
    p_resh->response_header_modifier = sample_header_mod();

    T_(TrafficPolicySpec) *p_redir = sample_tps();
    T_(RequestRedirect) *rd = NEW(T_(RequestRedirect), D_(request_redirect));
    rd->scheme = S("https");
    rd->host = S("new.example.com");
    rd->path_case = R_(REQUEST_REDIRECT__PATH_PREFIX);
    rd->prefix = S("/v2");
    rd->port = 8443;
    rd->status = 301;
    p_redir->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_REQUEST_REDIRECT);
    p_redir->request_redirect = rd;

    T_(TrafficPolicySpec) *p_redir2 = sample_tps();
    T_(RequestRedirect) *rd2 = NEW(T_(RequestRedirect), D_(request_redirect));
    rd2->path_case = R_(REQUEST_REDIRECT__PATH_FULL);
    rd2->full = S("/moved");
    p_redir2->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_REQUEST_REDIRECT);
    p_redir2->request_redirect = rd2;

    T_(TrafficPolicySpec) *p_rw = sample_tps();
    T_(UrlRewrite) *rw = NEW(T_(UrlRewrite), D_(url_rewrite));
    rw->host = S("internal.example.com");
    rw->path_case = R_(URL_REWRITE__PATH_FULL);
    rw->full = S("/rewritten");
    p_rw->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE);
    p_rw->url_rewrite = rw;

    T_(TrafficPolicySpec) *p_rw2 = sample_tps();
    T_(UrlRewrite) *rw2 = NEW(T_(UrlRewrite), D_(url_rewrite));
    rw2->path_case = R_(URL_REWRITE__PATH_PREFIX);
    rw2->prefix = S("/inner");
    p_rw2->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_URL_REWRITE);
    p_rw2->url_rewrite = rw2;

    T_(TrafficPolicySpec) *p_mirror = sample_tps();
    T_(RequestMirrors) *mi = NEW(T_(RequestMirrors), D_(request_mirrors));
    T_(RequestMirrors__Mirror) *mir = NEW(T_(RequestMirrors__Mirror), D_(request_mirrors__mirror));
    mir->backend = sample_ref_service("default", "shadow.default.svc.cluster.local", 80);
    mir->percentage = 12.5;
    MSGS(mi, mirrors, 1, mir);
    p_mirror->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_REQUEST_MIRROR);
    p_mirror->request_mirror = mi;

    T_(TrafficPolicySpec) *p_direct = sample_tps();
    T_(DirectResponse) *dr = NEW(T_(DirectResponse), D_(direct_response));
    dr->status = 418;
    dr->body = sample_bin("teapot", 6);
    dr->body_expression = S("'short and stout'");
    T_(ExpressionHeader) *eh = NEW(T_(ExpressionHeader), D_(expression_header));
    eh->name = S("x-pot");
    eh->expression = S("'tea'");
    MSGS(dr, headers, 1, eh);
    p_direct->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_DIRECT_RESPONSE);
    p_direct->direct_response = dr;

    T_(TrafficPolicySpec) *p_cors = sample_tps();
    T_(CORS) *c = NEW(T_(CORS), D_(cors));
    c->allow_credentials = 1;
    STRS(c, allow_headers, 1, "content-type");
    STRS(c, allow_methods, 2, "GET", "POST");
    STRS(c, allow_origins, 1, "https://a.example.com");
    STRS(c, expose_headers, 1, "x-request-id");
    c->max_age = sample_dur(86400, 0);
    p_cors->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_CORS);
    p_cors->cors = c;

    T_(TrafficPolicySpec) *p_delay = sample_tps();
    T_(Delay) *dl = NEW(T_(Delay), D_(delay));
    dl->duration = S("250ms");
    p_delay->phase = R_(TRAFFIC_POLICY_SPEC__POLICY_PHASE__GATEWAY);
    p_delay->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_DELAY);
    p_delay->delay = dl;

    MSGS(r, traffic_policies, 11, p_timeout, p_retry, p_reqh, p_resh, p_redir, p_redir2, p_rw,
         p_rw2, p_mirror, p_direct, p_cors);
    /* delay goes in as a 12th */
    r->traffic_policies = krt_realloc(r->traffic_policies, 12 * sizeof *r->traffic_policies);
    r->traffic_policies[11] = p_delay;
    r->n_traffic_policies = 12;

    Istio__Workload__NamespacedHostname *sk =
        NEW(Istio__Workload__NamespacedHostname, WD_(namespaced_hostname));
    sk->namespace_ = S("default");
    sk->hostname = S("svc.default.svc.cluster.local");
    r->service_key = sk;
    r->_route_group_key_case = R_(ROUTE___ROUTE_GROUP_KEY_ROUTE_GROUP_KEY);
    r->route_group_key = S("default/parent/default/*");
    r->service_port = 8080;
    return r;
}

/* A minimal route, for tests that vary one field. */
static inline T_(Route) *
    ir_sample_route_min(const char *key, const char *listener_key, const char *host)
{
    T_(Route) *r = NEW(T_(Route), D_(route));
    r->key = S(key);
    r->listener_key = S(listener_key);
    r->name = sample_route_name("HTTPRoute", "default", "r", NULL);
    if (host)
        STRS(r, hostnames, 1, host);
    MSGS(r, matches, 1, sample_match_path(R_(PATH_MATCH__KIND_PATH_PREFIX), "/"));
    T_(RouteBackend) *b = NEW(T_(RouteBackend), D_(route_backend));
    b->backend = sample_ref_service("default", "svc.default.svc.cluster.local", 80);
    b->weight = 1;
    MSGS(r, backends, 1, b);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * TCPRoute */

static inline T_(TCPRoute) * ir_sample_tcp_route(void)
{
    T_(TCPRoute) *r = NEW(T_(TCPRoute), D_(tcproute));
    r->key = S("1700000000/default/t.00.tcp");
    r->listener_key = S("default/gw.tcp");
    r->name = sample_route_name("TCPRoute", "default", "t", "only");
    STRS(r, hostnames, 1, "db.example.com");
    T_(RouteBackend) *b = NEW(T_(RouteBackend), D_(route_backend));
    b->backend = sample_ref_service("default", "db.default.svc.cluster.local", 5432);
    b->weight = 1;
    MSGS(r, backends, 1, b);
    Istio__Workload__NamespacedHostname *sk =
        NEW(Istio__Workload__NamespacedHostname, WD_(namespaced_hostname));
    sk->namespace_ = S("default");
    sk->hostname = S("db.default.svc.cluster.local");
    r->service_key = sk;
    r->service_port = 5432;
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Backends */

static inline T_(Backend) * sample_backend_base(const char *ns, const char *name)
{
    T_(Backend) *b = NEW(T_(Backend), D_(backend));
    size_t n = strlen(ns) + strlen(name) + 2;
    b->key = ir_pb_alloc(n);
    memcpy(b->key, ns, strlen(ns));
    b->key[strlen(ns)] = '/';
    memcpy(b->key + strlen(ns) + 1, name, strlen(name) + 1);
    T_(ResourceName) *rn = NEW(T_(ResourceName), D_(resource_name));
    rn->name = S(name);
    rn->namespace_ = S(ns);
    b->name = rn;
    return b;
}

static inline T_(Backend) * ir_sample_backend_static(void)
{
    T_(Backend) *b = sample_backend_base("default", "static");
    T_(StaticBackend) *s = NEW(T_(StaticBackend), D_(static_backend));
    s->host = S("10.0.0.1");
    s->port = 9000;
    s->unix_path = S("/run/app.sock");
    b->kind_case = R_(BACKEND__KIND_STATIC);
    b->static_ = s;

    T_(BackendPolicySpec) *tls = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    T_(BackendPolicySpec__BackendTLS) *t =
        NEW(T_(BackendPolicySpec__BackendTLS), D_(backend_policy_spec__backend_tls));
    t->_cert_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___CERT_CERT);
    t->cert = sample_bin("CLIENT-CERT", 11);
    t->_key_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___KEY_KEY);
    t->key = sample_bin("CLIENT-KEY", 10);
    t->_root_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___ROOT_ROOT);
    t->root = sample_bin("CA", 2);
    t->verification = R_(BACKEND_POLICY_SPEC__BACKEND_TLS__VERIFICATION_MODE__INSECURE_HOST);
    t->_hostname_case = R_(BACKEND_POLICY_SPEC__BACKEND_TLS___HOSTNAME_HOSTNAME);
    t->hostname = S("sni.example.com");
    STRS(t, verify_subject_alt_names, 1, "spiffe://cluster.local/ns/default/sa/app");
    T_(Alpn) *alpn = NEW(T_(Alpn), D_(alpn));
    STRS(alpn, protocols, 1, "h2");
    t->alpn = alpn;
    t->n_key_exchange_groups = 1;
    t->key_exchange_groups = ir_pb_alloc(sizeof *t->key_exchange_groups);
    t->key_exchange_groups[0] = R_(TLSCONFIG__KEY_EXCHANGE_GROUP__X25519_MLKEM768);
    t->certificate_source = R_(BACKEND_POLICY_SPEC__BACKEND_TLS__CERTIFICATE_SOURCE__SPIFFE);
    tls->kind_case = R_(BACKEND_POLICY_SPEC__KIND_BACKEND_TLS);
    tls->backend_tls = t;

    T_(BackendPolicySpec) *http = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    T_(BackendPolicySpec__BackendHTTP) *h =
        NEW(T_(BackendPolicySpec__BackendHTTP), D_(backend_policy_spec__backend_http));
    h->version = R_(BACKEND_POLICY_SPEC__BACKEND_HTTP__HTTP_VERSION__HTTP2);
    h->request_timeout = sample_dur(5, 0);
    http->kind_case = R_(BACKEND_POLICY_SPEC__KIND_BACKEND_HTTP);
    http->backend_http = h;

    T_(BackendPolicySpec) *tcp = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    T_(BackendPolicySpec__BackendTCP) *tc =
        NEW(T_(BackendPolicySpec__BackendTCP), D_(backend_policy_spec__backend_tcp));
    T_(KeepaliveConfig) *ka = NEW(T_(KeepaliveConfig), D_(keepalive_config));
    ka->time = sample_dur(30, 0);
    ka->interval = sample_dur(5, 0);
    ka->_retries_case = R_(KEEPALIVE_CONFIG___RETRIES_RETRIES);
    ka->retries = 3;
    tc->keepalive = ka;
    tc->connect_timeout = sample_dur(1, 0);
    tcp->kind_case = R_(BACKEND_POLICY_SPEC__KIND_BACKEND_TCP);
    tcp->backend_tcp = tc;

    T_(BackendPolicySpec) *auth = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    T_(BackendAuthPolicy) *ap = NEW(T_(BackendAuthPolicy), D_(backend_auth_policy));
    T_(Key) *k = NEW(T_(Key), D_(key));
    k->secret = S("s3cr3t");
    T_(AuthorizationLocation) *loc = NEW(T_(AuthorizationLocation), D_(authorization_location));
    loc->kind_case = R_(AUTHORIZATION_LOCATION__KIND_EXPRESSION);
    loc->expression = S("request.headers['x-key']");
    k->authorization_location = loc;
    ap->kind_case = R_(BACKEND_AUTH_POLICY__KIND_KEY);
    ap->key = k;
    auth->kind_case = R_(BACKEND_POLICY_SPEC__KIND_AUTH);
    auth->auth = ap;

    MSGS(b, inline_policies, 4, tls, http, tcp, auth);
    return b;
}

static inline T_(Backend) * ir_sample_backend_ai(void)
{
    T_(Backend) *b = sample_backend_base("default", "llm");
    T_(AIBackend) *ai = NEW(T_(AIBackend), D_(aibackend));
    T_(AIBackend__ProviderGroup) *g =
        NEW(T_(AIBackend__ProviderGroup), D_(aibackend__provider_group));
    T_(AIBackend__Provider) *p = NEW(T_(AIBackend__Provider), D_(aibackend__provider));
    p->name = S("openai");
    T_(AIBackend__HostOverride) *ho =
        NEW(T_(AIBackend__HostOverride), D_(aibackend__host_override));
    ho->host = S("api.openai.example");
    ho->port = 443;
    p->host_override = ho;
    p->_path_override_case = R_(AIBACKEND__PROVIDER___PATH_OVERRIDE_PATH_OVERRIDE);
    p->path_override = S("/v1/chat/completions");
    p->_path_prefix_case = R_(AIBACKEND__PROVIDER___PATH_PREFIX_PATH_PREFIX);
    p->path_prefix = S("/openai");
    p->_base_url_case = R_(AIBACKEND__PROVIDER___BASE_URL_BASE_URL);
    p->base_url = S("https://api.openai.example/v1");
    p->_model_override_case = R_(AIBACKEND__PROVIDER___MODEL_OVERRIDE_MODEL_OVERRIDE);
    p->model_override = S("gpt-4o");
    p->provider_backend = sample_ref_backend("default/llm/backend");
    T_(AIBackend__OpenAI) *oa = NEW(T_(AIBackend__OpenAI), D_(aibackend__open_ai));
    oa->_model_case = R_(AIBACKEND__OPEN_AI___MODEL_MODEL);
    oa->model = S("gpt-4o-mini");
    p->provider_case = R_(AIBACKEND__PROVIDER__PROVIDER_OPENAI);
    p->openai = oa;
    T_(BackendPolicySpec) *a2a = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    a2a->kind_case = R_(BACKEND_POLICY_SPEC__KIND_A2A);
    a2a->a2a = NEW(T_(BackendPolicySpec__A2a), D_(backend_policy_spec__a2a));
    MSGS(p, inline_policies, 1, a2a);
    MSGS(g, providers, 1, p);
    MSGS(ai, provider_groups, 1, g);
    b->kind_case = R_(BACKEND__KIND_AI);
    b->ai = ai;
    return b;
}

static inline T_(Backend) * ir_sample_backend_mcp(void)
{
    T_(Backend) *b = sample_backend_base("default", "mcp");
    T_(MCPBackend) *m = NEW(T_(MCPBackend), D_(mcpbackend));
    T_(MCPTarget) *t = NEW(T_(MCPTarget), D_(mcptarget));
    t->name = S("tools");
    t->backend = sample_ref_service("default", "tools.default.svc.cluster.local", 3000);
    t->path = S("/mcp");
    t->protocol = R_(MCPTARGET__PROTOCOL__STREAMABLE_HTTP);
    MSGS(m, targets, 1, t);
    m->stateful_mode = R_(MCPBACKEND__STATEFUL_MODE__STATELESS);
    m->prefix_mode = R_(MCPBACKEND__PREFIX_MODE__NEVER);
    m->failure_mode = R_(MCPBACKEND__FAILURE_MODE__FAIL_OPEN);
    b->kind_case = R_(BACKEND__KIND_MCP);
    b->mcp = m;
    return b;
}

static inline T_(Backend) * ir_sample_backend_dynamic(void)
{
    T_(Backend) *b = sample_backend_base("default", "egress");
    b->kind_case = R_(BACKEND__KIND_DYNAMIC);
    b->dynamic = NEW(T_(DynamicForwardProxy), D_(dynamic_forward_proxy));
    return b;
}

static inline T_(Backend) * ir_sample_backend_aws(void)
{
    T_(Backend) *b = sample_backend_base("default", "agent");
    T_(AwsBackend) *a = NEW(T_(AwsBackend), D_(aws_backend));
    T_(AwsAgentCoreBackend) *ac = NEW(T_(AwsAgentCoreBackend), D_(aws_agent_core_backend));
    ac->agent_runtime_arn = S("arn:aws:bedrock-agentcore:us-east-1:1:runtime/x");
    ac->_qualifier_case = R_(AWS_AGENT_CORE_BACKEND___QUALIFIER_QUALIFIER);
    ac->qualifier = S("DEFAULT");
    a->service_case = R_(AWS_BACKEND__SERVICE_AGENT_CORE);
    a->agent_core = ac;
    b->kind_case = R_(BACKEND__KIND_AWS);
    b->aws = a;
    return b;
}

static inline T_(Backend) * ir_sample_backend_model_router(void)
{
    T_(Backend) *b = sample_backend_base("default", "router");
    T_(ModelRouterBackend) *m = NEW(T_(ModelRouterBackend), D_(model_router_backend));
    m->router_key = S("default/router");
    b->kind_case = R_(BACKEND__KIND_MODEL_ROUTER);
    b->model_router = m;
    return b;
}

/* ---------------------------------------------------------------------------------------------
 * Policies: one per target kind, covering the spec kinds. */

static inline T_(Policy) * sample_policy_base(const char *key, const char *name)
{
    T_(Policy) *p = NEW(T_(Policy), D_(policy));
    p->key = S(key);
    T_(TypedResourceName) *n = NEW(T_(TypedResourceName), D_(typed_resource_name));
    n->name = S(name);
    n->namespace_ = S("default");
    n->kind = S("AgentgatewayPolicy");
    p->name = n;
    return p;
}

static inline T_(Policy) * ir_sample_policy_gateway(void)
{
    T_(Policy) *p = sample_policy_base("traffic/default/p:rl-local:default/gw/http", "p");
    T_(PolicyTarget) *t = NEW(T_(PolicyTarget), D_(policy_target));
    T_(PolicyTarget__GatewayTarget) *g =
        NEW(T_(PolicyTarget__GatewayTarget), D_(policy_target__gateway_target));
    g->name = S("gw");
    g->namespace_ = S("default");
    g->_listener_case = R_(POLICY_TARGET__GATEWAY_TARGET___LISTENER_LISTENER);
    g->listener = S("http");
    g->_port_case = R_(POLICY_TARGET__GATEWAY_TARGET___PORT_PORT);
    g->port = 80;
    t->kind_case = R_(POLICY_TARGET__KIND_GATEWAY);
    t->gateway = g;
    p->target = t;
    T_(TrafficPolicySpec) *s = sample_tps();
    T_(TrafficPolicySpec__LocalRateLimit) *rl =
        NEW(T_(TrafficPolicySpec__LocalRateLimit), D_(traffic_policy_spec__local_rate_limit));
    rl->max_tokens = 100;
    rl->tokens_per_fill = 10;
    rl->fill_interval = sample_dur(1, 0);
    rl->type = R_(TRAFFIC_POLICY_SPEC__LOCAL_RATE_LIMIT__TYPE__TOKEN);
    T_(TrafficPolicySpec__LocalRateLimit__Rule) *rule =
        NEW(T_(TrafficPolicySpec__LocalRateLimit__Rule),
            D_(traffic_policy_spec__local_rate_limit__rule));
    rule->max_tokens = 5000000000ull; /* above 2^32: exercises 64-bit varints */
    rule->tokens_per_fill = 7;
    rule->fill_interval = sample_dur(60, 0);
    rule->type = R_(TRAFFIC_POLICY_SPEC__LOCAL_RATE_LIMIT__TYPE__TOKEN);
    MSGS(rl, rules, 1, rule);
    s->phase = R_(TRAFFIC_POLICY_SPEC__POLICY_PHASE__GATEWAY);
    s->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_LOCAL_RATE_LIMIT);
    s->local_rate_limit = rl;
    p->kind_case = R_(POLICY__KIND_TRAFFIC);
    p->traffic = s;
    p->inheritance = R_(POLICY__INHERITANCE__OVERRIDE);
    return p;
}

static inline T_(Policy) * ir_sample_policy_route(void)
{
    T_(Policy) *p = sample_policy_base("traffic/default/jwt:jwt:default/r/rule-a", "jwt");
    T_(PolicyTarget) *t = NEW(T_(PolicyTarget), D_(policy_target));
    T_(PolicyTarget__RouteTarget) *r =
        NEW(T_(PolicyTarget__RouteTarget), D_(policy_target__route_target));
    r->name = S("r");
    r->namespace_ = S("default");
    r->_route_rule_case = R_(POLICY_TARGET__ROUTE_TARGET___ROUTE_RULE_ROUTE_RULE);
    r->route_rule = S("rule-a");
    r->kind = S("HTTPRoute");
    t->kind_case = R_(POLICY_TARGET__KIND_ROUTE);
    t->route = r;
    p->target = t;
    T_(TrafficPolicySpec) *s = sample_tps();
    T_(TrafficPolicySpec__JWT) *j = NEW(T_(TrafficPolicySpec__JWT), D_(traffic_policy_spec__jwt));
    j->mode = R_(TRAFFIC_POLICY_SPEC__JWT__MODE__STRICT);
    T_(TrafficPolicySpec__JWTProvider) *pr =
        NEW(T_(TrafficPolicySpec__JWTProvider), D_(traffic_policy_spec__jwtprovider));
    pr->issuer = S("https://issuer.example.com");
    STRS(pr, audiences, 2, "api", "web");
    pr->jwks_source_case = R_(TRAFFIC_POLICY_SPEC__JWTPROVIDER__JWKS_SOURCE_INLINE);
    pr->inline_ = S("{\"keys\":[]}");
    T_(JWTValidationOptions) *vo = NEW(T_(JWTValidationOptions), D_(jwtvalidation_options));
    STRS(vo, required_claims, 2, "exp", "iss");
    pr->jwt_validation_options = vo;
    MSGS(j, providers, 1, pr);
    T_(TrafficPolicySpec__JWT__MCP) *mcp =
        NEW(T_(TrafficPolicySpec__JWT__MCP), D_(traffic_policy_spec__jwt__mcp));
    mcp->provider = R_(BACKEND_POLICY_SPEC__MCP_AUTHENTICATION__MCP_IDP__KEYCLOAK);
    j->mcp = mcp;
    T_(AuthorizationLocation) *loc = NEW(T_(AuthorizationLocation), D_(authorization_location));
    T_(AuthorizationLocation__QueryParameter) *qp =
        NEW(T_(AuthorizationLocation__QueryParameter), D_(authorization_location__query_parameter));
    qp->name = S("token");
    loc->kind_case = R_(AUTHORIZATION_LOCATION__KIND_QUERY_PARAMETER);
    loc->query_parameter = qp;
    j->authorization_location = loc;
    s->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_JWT);
    s->jwt = j;
    p->kind_case = R_(POLICY__KIND_TRAFFIC);
    p->traffic = s;
    return p;
}

static inline T_(Policy) * ir_sample_policy_backend(void)
{
    T_(Policy) *p = sample_policy_base("backend/default/authz:rbac:default/mcp/tools", "authz");
    T_(PolicyTarget) *t = NEW(T_(PolicyTarget), D_(policy_target));
    T_(PolicyTarget__BackendTarget) *b =
        NEW(T_(PolicyTarget__BackendTarget), D_(policy_target__backend_target));
    b->name = S("mcp");
    b->namespace_ = S("default");
    b->_section_case = R_(POLICY_TARGET__BACKEND_TARGET___SECTION_SECTION);
    b->section = S("tools");
    t->kind_case = R_(POLICY_TARGET__KIND_BACKEND);
    t->backend = b;
    p->target = t;
    T_(BackendPolicySpec) *s = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    T_(TrafficPolicySpec__RBAC) *rb =
        NEW(T_(TrafficPolicySpec__RBAC), D_(traffic_policy_spec__rbac));
    STRS(rb, allow, 1, "jwt.sub == 'alice'");
    STRS(rb, deny, 1, "jwt.sub == 'mallory'");
    STRS(rb, require, 1, "has(jwt.sub)");
    s->kind_case = R_(BACKEND_POLICY_SPEC__KIND_AUTHORIZATION);
    s->authorization = rb;
    p->kind_case = R_(POLICY__KIND_BACKEND);
    p->backend = s;
    return p;
}

static inline T_(Policy) * ir_sample_policy_service(void)
{
    T_(Policy) *p = sample_policy_base("default/ext:extauth:default/svc/8080", "ext");
    T_(PolicyTarget) *t = NEW(T_(PolicyTarget), D_(policy_target));
    T_(PolicyTarget__ServiceTarget) *sv =
        NEW(T_(PolicyTarget__ServiceTarget), D_(policy_target__service_target));
    sv->namespace_ = S("default");
    sv->hostname = S("svc.default.svc.cluster.local");
    sv->_port_case = R_(POLICY_TARGET__SERVICE_TARGET___PORT_PORT);
    sv->port = 8080;
    t->kind_case = R_(POLICY_TARGET__KIND_SERVICE);
    t->service = sv;
    p->target = t;
    T_(TrafficPolicySpec) *s = sample_tps();
    T_(TrafficPolicySpec__ExternalAuth) *ea =
        NEW(T_(TrafficPolicySpec__ExternalAuth), D_(traffic_policy_spec__external_auth));
    ea->target = sample_ref_service("auth", "authz.auth.svc.cluster.local", 9000);
    T_(TrafficPolicySpec__ExternalAuth__GRPCProtocol) *g =
        NEW(T_(TrafficPolicySpec__ExternalAuth__GRPCProtocol),
            D_(traffic_policy_spec__external_auth__grpcprotocol));
    ea->protocol_case = R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__PROTOCOL_GRPC);
    ea->grpc = g;
    ea->failure_mode = R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__DENY_WITH_STATUS);
    ea->_status_on_error_case =
        R_(TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH___STATUS_ON_ERROR_STATUS_ON_ERROR);
    ea->status_on_error = 403;
    STRS(ea, include_request_headers, 1, "authorization");
    T_(TrafficPolicySpec__ExternalAuth__BodyOptions) *bo =
        NEW(T_(TrafficPolicySpec__ExternalAuth__BodyOptions),
            D_(traffic_policy_spec__external_auth__body_options));
    bo->max_request_bytes = 4096;
    ea->include_request_body = bo;
    T_(TrafficPolicySpec__ExternalAuth__Cache) *ca = NEW(
        T_(TrafficPolicySpec__ExternalAuth__Cache), D_(traffic_policy_spec__external_auth__cache));
    ca->max_entries = 10;
    ea->cache = ca;
    T_(BackendPolicySpec) *ip = NEW(T_(BackendPolicySpec), D_(backend_policy_spec));
    ip->kind_case = R_(BACKEND_POLICY_SPEC__KIND_RESPONSE_HEADER_MODIFIER);
    ip->response_header_modifier = sample_header_mod();
    MSGS(ea, inline_policies, 1, ip);
    s->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_EXT_AUTHZ);
    s->ext_authz = ea;
    p->kind_case = R_(POLICY__KIND_TRAFFIC);
    p->traffic = s;
    return p;
}

static inline T_(Policy) * ir_sample_policy_listener_set(void)
{
    T_(Policy) *p = sample_policy_base("frontend/default/fe:frontend-tls:apps/extra/https", "fe");
    T_(PolicyTarget) *t = NEW(T_(PolicyTarget), D_(policy_target));
    T_(PolicyTarget__ListenerSetTarget) *ls =
        NEW(T_(PolicyTarget__ListenerSetTarget), D_(policy_target__listener_set_target));
    ls->name = S("extra");
    ls->namespace_ = S("apps");
    ls->_section_case = R_(POLICY_TARGET__LISTENER_SET_TARGET___SECTION_SECTION);
    ls->section = S("https");
    t->kind_case = R_(POLICY_TARGET__KIND_LISTENER_SET);
    t->listener_set = ls;
    p->target = t;
    T_(FrontendPolicySpec) *s = NEW(T_(FrontendPolicySpec), D_(frontend_policy_spec));
    T_(FrontendPolicySpec__TLS) *tls =
        NEW(T_(FrontendPolicySpec__TLS), D_(frontend_policy_spec__tls));
    tls->handshake_timeout = sample_dur(15, 0);
    tls->alpn = NEW(T_(Alpn), D_(alpn)); /* set but empty: send no ALPN */
    tls->n_cipher_suites = 1;
    tls->cipher_suites = ir_pb_alloc(sizeof *tls->cipher_suites);
    tls->cipher_suites[0] = R_(TLSCONFIG__CIPHER_SUITE__TLS_CHACHA20_POLY1305_SHA256);
    tls->_min_version_case = R_(FRONTEND_POLICY_SPEC__TLS___MIN_VERSION_MIN_VERSION);
    tls->min_version = R_(TLSCONFIG__TLSVERSION__TLS_V1_3);
    tls->_max_version_case = R_(FRONTEND_POLICY_SPEC__TLS___MAX_VERSION_MAX_VERSION);
    tls->max_version = R_(TLSCONFIG__TLSVERSION__TLS_V1_3);
    tls->n_key_exchange_groups = 1;
    tls->key_exchange_groups = ir_pb_alloc(sizeof *tls->key_exchange_groups);
    tls->key_exchange_groups[0] = R_(TLSCONFIG__KEY_EXCHANGE_GROUP__P384);
    s->kind_case = R_(FRONTEND_POLICY_SPEC__KIND_TLS);
    s->tls = tls;
    p->kind_case = R_(POLICY__KIND_FRONTEND);
    p->frontend = s;
    return p;
}

static inline T_(Policy) * ir_sample_policy_frontend_http(void)
{
    T_(Policy) *p = sample_policy_base("frontend/default/fe:frontend-http:default/gw", "fe");
    T_(PolicyTarget) *t = NEW(T_(PolicyTarget), D_(policy_target));
    T_(PolicyTarget__GatewayTarget) *g =
        NEW(T_(PolicyTarget__GatewayTarget), D_(policy_target__gateway_target));
    g->name = S("gw");
    g->namespace_ = S("default");
    t->kind_case = R_(POLICY_TARGET__KIND_GATEWAY);
    t->gateway = g;
    p->target = t;
    T_(FrontendPolicySpec) *s = NEW(T_(FrontendPolicySpec), D_(frontend_policy_spec));
    T_(FrontendPolicySpec__HTTP) *h =
        NEW(T_(FrontendPolicySpec__HTTP), D_(frontend_policy_spec__http));
    h->_max_buffer_size_case = R_(FRONTEND_POLICY_SPEC__HTTP___MAX_BUFFER_SIZE_MAX_BUFFER_SIZE);
    h->max_buffer_size = 1 << 20;
    h->_http1_max_headers_case =
        R_(FRONTEND_POLICY_SPEC__HTTP___HTTP1_MAX_HEADERS_HTTP1_MAX_HEADERS);
    h->http1_max_headers = 100;
    h->http1_idle_timeout = sample_dur(60, 0);
    h->_http2_window_size_case =
        R_(FRONTEND_POLICY_SPEC__HTTP___HTTP2_WINDOW_SIZE_HTTP2_WINDOW_SIZE);
    h->http2_window_size = 65535;
    h->_http2_connection_window_size_case =
        R_(FRONTEND_POLICY_SPEC__HTTP___HTTP2_CONNECTION_WINDOW_SIZE_HTTP2_CONNECTION_WINDOW_SIZE);
    h->http2_connection_window_size = 1048576;
    h->_http2_frame_size_case = R_(FRONTEND_POLICY_SPEC__HTTP___HTTP2_FRAME_SIZE_HTTP2_FRAME_SIZE);
    h->http2_frame_size = 16384;
    h->http2_keepalive_interval = sample_dur(10, 0);
    h->http2_keepalive_timeout = sample_dur(20, 0);
    h->max_connection_duration = sample_dur(3600, 0);
    h->_http2_max_header_size_case =
        R_(FRONTEND_POLICY_SPEC__HTTP___HTTP2_MAX_HEADER_SIZE_HTTP2_MAX_HEADER_SIZE);
    h->http2_max_header_size = 0; /* set to zero: presence must survive */
    h->http1_header_case = R_(FRONTEND_POLICY_SPEC__HTTP__HTTPHEADER_CASE__PRESERVE);
    s->kind_case = R_(FRONTEND_POLICY_SPEC__KIND_HTTP);
    s->http = h;
    p->kind_case = R_(POLICY__KIND_FRONTEND);
    p->frontend = s;
    return p;
}

static inline T_(Policy) * ir_sample_policy_conditional(void)
{
    T_(Policy) *p = sample_policy_base("traffic/default/cond:timeout:default/gw", "cond");
    T_(PolicyTarget) *t = NEW(T_(PolicyTarget), D_(policy_target));
    T_(PolicyTarget__GatewayTarget) *g =
        NEW(T_(PolicyTarget__GatewayTarget), D_(policy_target__gateway_target));
    g->name = S("gw");
    g->namespace_ = S("default");
    t->kind_case = R_(POLICY_TARGET__KIND_GATEWAY);
    t->gateway = g;
    p->target = t;
    T_(ConditionalPolicies) *cs = NEW(T_(ConditionalPolicies), D_(conditional_policies));
    T_(ConditionalPolicy) *c = NEW(T_(ConditionalPolicy), D_(conditional_policy));
    c->_condition_case = R_(CONDITIONAL_POLICY___CONDITION_CONDITION);
    c->condition = S("request.path.startsWith('/slow')");
    T_(TrafficPolicySpec) *s = sample_tps();
    T_(Timeout) *to = NEW(T_(Timeout), D_(timeout));
    to->request = sample_dur(120, 0);
    s->kind_case = R_(TRAFFIC_POLICY_SPEC__KIND_TIMEOUT);
    s->timeout = to;
    c->kind_case = R_(CONDITIONAL_POLICY__KIND_TRAFFIC);
    c->traffic = s;
    MSGS(cs, policies, 1, c);
    p->kind_case = R_(POLICY__KIND_CONDITIONAL);
    p->conditional = cs;
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * Addresses */

static inline WT_(GatewayAddress) * sample_gw_addr_ip(void)
{
    WT_(GatewayAddress) *g = NEW(WT_(GatewayAddress), WD_(gateway_address));
    WT_(NetworkAddress) *na = NEW(WT_(NetworkAddress), WD_(network_address));
    na->network = S("net-1");
    static const uint8_t ip[4] = {10, 1, 2, 3};
    na->address = sample_bin(ip, 4);
    na->_length_case = WR_(NETWORK_ADDRESS___LENGTH_LENGTH);
    na->length = 32;
    g->destination_case = WR_(GATEWAY_ADDRESS__DESTINATION_ADDRESS);
    g->address = na;
    g->hbone_mtls_port = 15008;
    return g;
}

static inline WT_(GatewayAddress) * sample_gw_addr_host(void)
{
    WT_(GatewayAddress) *g = NEW(WT_(GatewayAddress), WD_(gateway_address));
    WT_(NamespacedHostname) *h = NEW(WT_(NamespacedHostname), WD_(namespaced_hostname));
    h->namespace_ = S("istio-system");
    h->hostname = S("waypoint.istio-system.svc.cluster.local");
    g->destination_case = WR_(GATEWAY_ADDRESS__DESTINATION_HOSTNAME);
    g->hostname = h;
    g->hbone_mtls_port = 15008;
    return g;
}

static inline WT_(Extension) * sample_extension(void)
{
    WT_(Extension) *e = NEW(WT_(Extension), WD_(extension));
    e->name = S("krtgate.test/ext");
    Google__Protobuf__Any *any = NEW(Google__Protobuf__Any, google__protobuf__any__descriptor);
    any->type_url = S("type.googleapis.com/google.protobuf.StringValue");
    /* StringValue{value: "hi"} */
    static const uint8_t sv[] = {0x0a, 0x02, 'h', 'i'};
    any->value = sample_bin(sv, sizeof sv);
    e->config = any;
    return e;
}

static inline WT_(Port) * sample_port(uint32_t sp, uint32_t tp, int proto)
{
    WT_(Port) *p = NEW(WT_(Port), WD_(port));
    p->service_port = sp;
    p->target_port = tp;
    p->app_protocol = (WT_(AppProtocol))proto;
    return p;
}

static inline WT_(Address) * ir_sample_workload(const char *uid, const uint8_t ip[4])
{
    WT_(Address) *a = NEW(WT_(Address), WD_(address));
    WT_(Workload) *w = NEW(WT_(Workload), WD_(workload));
    w->uid = S(uid);
    w->name = S("p1");
    w->namespace_ = S("default");
    static const uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    w->n_addresses = 2;
    w->addresses = ir_pb_alloc(2 * sizeof *w->addresses);
    w->addresses[0] = sample_bin(ip, 4);
    w->addresses[1] = sample_bin(v6, 16);
    w->hostname = S("p1.headless.default.svc.cluster.local");
    w->network = S("net-1");
    w->tunnel_protocol = WR_(TUNNEL_PROTOCOL__HBONE);
    w->trust_domain = S("cluster.local");
    w->service_account = S("app");
    w->waypoint = sample_gw_addr_ip();
    w->network_gateway = sample_gw_addr_host();
    w->node = S("node-1");
    w->canonical_name = S("app");
    w->canonical_revision = S("v1");
    w->workload_type = WR_(WORKLOAD_TYPE__POD);
    w->workload_name = S("app-7d9f");
    w->native_tunnel = 1;
    WT_(ApplicationTunnel) *at = NEW(WT_(ApplicationTunnel), WD_(application_tunnel));
    at->protocol = WR_(APPLICATION_TUNNEL__PROTOCOL__PROXY);
    at->port = 15088;
    w->application_tunnel = at;
    /* services, deliberately out of key order: the IR sorts map entries */
    WT_(Workload__ServicesEntry) *e1 =
        NEW(WT_(Workload__ServicesEntry), WD_(workload__services_entry));
    e1->key = S("default/svc.default.svc.cluster.local");
    WT_(PortList) *pl1 = NEW(WT_(PortList), WD_(port_list));
    MSGS(pl1, ports, 1, sample_port(80, 8080, WR_(APP_PROTOCOL__HTTP11)));
    e1->value = pl1;
    WT_(Workload__ServicesEntry) *e2 =
        NEW(WT_(Workload__ServicesEntry), WD_(workload__services_entry));
    e2->key = S("apps/api.apps.svc.cluster.local");
    WT_(PortList) *pl2 = NEW(WT_(PortList), WD_(port_list));
    MSGS(pl2, ports, 2, sample_port(443, 8443, WR_(APP_PROTOCOL__TLS)),
         sample_port(9090, 9090, WR_(APP_PROTOCOL__GRPC)));
    e2->value = pl2;
    MSGS(w, services, 2, e1, e2);
    STRS(w, authorization_policies, 1, "default/allow-all");
    w->status = WR_(WORKLOAD_STATUS__UNHEALTHY);
    w->cluster_id = S("Kubernetes");
    WT_(Locality) *loc = NEW(WT_(Locality), WD_(locality));
    loc->region = S("eu-west");
    loc->zone = S("eu-west-1a");
    loc->subzone = S("rack-7");
    w->locality = loc;
    w->network_mode = WR_(NETWORK_MODE__HOST_NETWORK);
    MSGS(w, extensions, 1, sample_extension());
    Google__Protobuf__UInt32Value *cap =
        NEW(Google__Protobuf__UInt32Value, google__protobuf__uint32_value__descriptor);
    cap->value = 5;
    w->capacity = cap;
    a->type_case = WR_(ADDRESS__TYPE_WORKLOAD);
    a->workload = w;
    return a;
}

static inline WT_(Address) * ir_sample_service(void)
{
    WT_(Address) *a = NEW(WT_(Address), WD_(address));
    WT_(Service) *s = NEW(WT_(Service), WD_(service));
    s->name = S("svc");
    s->namespace_ = S("default");
    s->hostname = S("svc.default.svc.cluster.local");
    WT_(NetworkAddress) *vip = NEW(WT_(NetworkAddress), WD_(network_address));
    static const uint8_t ip[4] = {10, 96, 0, 10};
    vip->network = S("net-1");
    vip->address = sample_bin(ip, 4);
    MSGS(s, addresses, 1, vip);
    MSGS(s, ports, 2, sample_port(80, 8080, WR_(APP_PROTOCOL__HTTP2)),
         sample_port(443, 8443, WR_(APP_PROTOCOL__TLS)));
    STRS(s, subject_alt_names, 1, "spiffe://cluster.local/ns/default/sa/app");
    s->waypoint = sample_gw_addr_host();
    WT_(LoadBalancing) *lb = NEW(WT_(LoadBalancing), WD_(load_balancing));
    lb->n_routing_preference = 2;
    lb->routing_preference = ir_pb_alloc(2 * sizeof *lb->routing_preference);
    lb->routing_preference[0] = WR_(LOAD_BALANCING__SCOPE__NETWORK);
    lb->routing_preference[1] = WR_(LOAD_BALANCING__SCOPE__REGION);
    lb->mode = WR_(LOAD_BALANCING__MODE__FAILOVER);
    lb->health_policy = WR_(LOAD_BALANCING__HEALTH_POLICY__ALLOW_ALL);
    s->load_balancing = lb;
    s->ip_families = WR_(IPFAMILIES__DUAL);
    MSGS(s, extensions, 1, sample_extension());
    s->canonical = 1;
    s->ingress_use_waypoint = 1;
    WT_(WeightedWaypoint) *ww = NEW(WT_(WeightedWaypoint), WD_(weighted_waypoint));
    ww->destination = sample_gw_addr_ip();
    ww->weight = 7;
    MSGS(s, weighted_waypoints, 1, ww);
    s->visibility = WR_(SERVICE__VISIBILITY__NAMESPACE);
    a->type_case = WR_(ADDRESS__TYPE_SERVICE);
    a->service = s;
    return a;
}

/* ---------------------------------------------------------------------------------------------
 * Delta xDS messages */

static inline Google__Protobuf__Value *sample_value_str(const char *s)
{
    Google__Protobuf__Value *v = NEW(Google__Protobuf__Value, google__protobuf__value__descriptor);
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v->string_value = S(s);
    return v;
}

static inline Google__Protobuf__Struct__FieldsEntry *sample_field(const char *k,
                                                                  Google__Protobuf__Value *v)
{
    Google__Protobuf__Struct__FieldsEntry *e = NEW(
        Google__Protobuf__Struct__FieldsEntry, google__protobuf__struct__fields_entry__descriptor);
    e->key = S(k);
    e->value = v;
    return e;
}

static inline Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *ir_sample_delta_request(void)
{
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *r =
        NEW(Envoy__Service__Discovery__V3__DeltaDiscoveryRequest,
            envoy__service__discovery__v3__delta_discovery_request__descriptor);
    Envoy__Config__Core__V3__Node *n =
        NEW(Envoy__Config__Core__V3__Node, envoy__config__core__v3__node__descriptor);
    n->id = S("agentgateway~10.0.0.9~gw-abc.default~default.svc.cluster.local");
    n->cluster = S("gw");
    Google__Protobuf__Struct *md =
        NEW(Google__Protobuf__Struct, google__protobuf__struct__descriptor);
    /* nested: {"list": [1.5, "x", true, null], "sub": {"k": "v"}} */
    Google__Protobuf__ListValue *lv =
        NEW(Google__Protobuf__ListValue, google__protobuf__list_value__descriptor);
    Google__Protobuf__Value *v1 = NEW(Google__Protobuf__Value, google__protobuf__value__descriptor);
    v1->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v1->number_value = 1.5;
    Google__Protobuf__Value *v3 = NEW(Google__Protobuf__Value, google__protobuf__value__descriptor);
    v3->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
    v3->bool_value = 1;
    Google__Protobuf__Value *v4 = NEW(Google__Protobuf__Value, google__protobuf__value__descriptor);
    v4->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
    v4->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
    MSGS(lv, values, 4, v1, sample_value_str("x"), v3, v4);
    Google__Protobuf__Value *vl = NEW(Google__Protobuf__Value, google__protobuf__value__descriptor);
    vl->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    vl->list_value = lv;
    Google__Protobuf__Struct *sub =
        NEW(Google__Protobuf__Struct, google__protobuf__struct__descriptor);
    MSGS(sub, fields, 1, sample_field("k", sample_value_str("v")));
    Google__Protobuf__Value *vs = NEW(Google__Protobuf__Value, google__protobuf__value__descriptor);
    vs->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
    vs->struct_value = sub;
    MSGS(md, fields, 5, sample_field("role", sample_value_str("default~gw")),
         sample_field("NAMESPACE", sample_value_str("default")),
         sample_field("GATEWAY_NAME", sample_value_str("gw")), sample_field("list", vl),
         sample_field("sub", vs));
    n->metadata = md;
    Envoy__Config__Core__V3__Locality *loc =
        NEW(Envoy__Config__Core__V3__Locality, envoy__config__core__v3__locality__descriptor);
    loc->region = S("r");
    loc->zone = S("z");
    loc->sub_zone = S("s");
    n->locality = loc;
    n->user_agent_name = S("agentgateway");
    n->user_agent_version_type_case =
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    n->user_agent_version = S("1.4.1");
    Envoy__Config__Core__V3__Extension *ext =
        NEW(Envoy__Config__Core__V3__Extension, envoy__config__core__v3__extension__descriptor);
    ext->name = S("envoy.filters.http.router");
    ext->category = S("envoy.filters.http");
    ext->type_descriptor = S("envoy.extensions.filters.http.router.v3.Router");
    ext->disabled = 1;
    MSGS(n, extensions, 1, ext);
    STRS(n, client_features, 1, "xds.config.supports-resource-ttl");
    r->node = n;
    r->type_url = S(IR_TYPE_URL_RESOURCE);
    STRS(r, resource_names_subscribe, 2, "bind/80/default/gw", "*");
    STRS(r, resource_names_unsubscribe, 1, "route/default/old.00.http");
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry *i1 = NEW(
        Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry,
        envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__descriptor);
    i1->key = S("listener/default/gw.http");
    i1->value = S("00000000000000ff");
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry *i2 = NEW(
        Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry,
        envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__descriptor);
    i2->key = S("bind/80/default/gw");
    i2->value = S("0123456789abcdef");
    MSGS(r, initial_resource_versions, 2, i1, i2);
    r->response_nonce = S("nonce-1");
    Google__Rpc__Status *st = NEW(Google__Rpc__Status, google__rpc__status__descriptor);
    st->code = 13;
    st->message = S("[{\"key\":\"route/default/r.00.http\",\"error\":\"bad regex\"}]");
    Google__Protobuf__Any *det = NEW(Google__Protobuf__Any, google__protobuf__any__descriptor);
    det->type_url = S("type.googleapis.com/google.protobuf.Duration");
    static const uint8_t dur3s[] = {0x08, 0x03}; /* Duration{seconds: 3} */
    det->value = sample_bin(dur3s, sizeof dur3s);
    MSGS(st, details, 1, det);
    r->error_detail = st;
    Envoy__Service__Discovery__V3__ResourceLocator *rl =
        NEW(Envoy__Service__Discovery__V3__ResourceLocator,
            envoy__service__discovery__v3__resource_locator__descriptor);
    rl->name = S("loc");
    Envoy__Service__Discovery__V3__ResourceLocator__DynamicParametersEntry *dp =
        NEW(Envoy__Service__Discovery__V3__ResourceLocator__DynamicParametersEntry,
            envoy__service__discovery__v3__resource_locator__dynamic_parameters_entry__descriptor);
    dp->key = S("k");
    dp->value = S("v");
    MSGS(rl, dynamic_parameters, 1, dp);
    MSGS(r, resource_locators_subscribe, 1, rl);
    Envoy__Service__Discovery__V3__ResourceLocator *rl2 =
        NEW(Envoy__Service__Discovery__V3__ResourceLocator,
            envoy__service__discovery__v3__resource_locator__descriptor);
    rl2->name = S("gone");
    MSGS(r, resource_locators_unsubscribe, 1, rl2);
    return r;
}

#endif /* IR_SAMPLES_H */
