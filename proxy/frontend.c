/*
 * Client-connection settings of a listener (proxy/frontend.h): the proxy's defaults overlaid by
 * the agentgateway frontend policies (tcp, tls, http) attached to the Bind.
 *
 * Key decision: the settings are resolved per Bind when a listener opens and after every accepted
 * change set, and applied to connections accepted from then on (open connections keep theirs, as
 * they keep their snapshot). Resolving per connection was rejected: the policies are the same for
 * every connection of a port, and a connection's TLS context and socket options are fixed before
 * anything request-level is known.
 *
 * The policy kinds map onto knobs net/ already has (net_conn_config_t, net_h2_config_t,
 * net_tls_config_t, net_h1_config_t); what has no knob is listed in docs/proxy.md.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "ir/policy.h"
#include "net/tls.h"
#include "proxy/frontend.h"

typedef Agentgateway__Dev__Resource__Policy agw_policy_t;
typedef Agentgateway__Dev__Resource__FrontendPolicySpec agw_fps_t;
typedef Agentgateway__Dev__Resource__FrontendPolicySpec__TLS agw_fe_tls_t;
typedef Agentgateway__Dev__Resource__FrontendPolicySpec__HTTP agw_fe_http_t;
typedef Agentgateway__Dev__Resource__FrontendPolicySpec__TCP agw_fe_tcp_t;

#define FK(x) AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_##x
#define V12   AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__TLSVERSION__TLS_V1_2
#define V13   AGENTGATEWAY__DEV__RESOURCE__TLSCONFIG__TLSVERSION__TLS_V1_3

/* TLSConfig.CipherSuite → OpenSSL name; the first three are TLS 1.3 suites. */
static const char *const cipher_openssl[] = {
    NULL,
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
};
#define NCIPHERS (sizeof cipher_openssl / sizeof *cipher_openssl)

/* TLSConfig.KeyExchangeGroup → OpenSSL group name. */
static const char *const group_openssl[] = {NULL, "X25519", "P-256", "P-384", "X25519MLKEM768"};
#define NKX_GROUPS (sizeof group_openssl / sizeof *group_openssl)

static const char *const alpn_h2 = "h2", *const alpn_h1 = "http/1.1";

/* Agentgateway's TCP keepalive defaults when a field is unset. */
enum { KA_TIME_S = 180, KA_INTERVAL_S = 180, KA_RETRIES = 9 };

static bool dur_ok(const Google__Protobuf__Duration *d)
{
    return !d || (d->seconds >= 0 && d->nanos >= 0 && d->seconds < 100000000);
}

static uint64_t dur_ms(const Google__Protobuf__Duration *d)
{
    if (!d || !dur_ok(d))
        return 0;
    return (uint64_t)d->seconds * 1000u + ((uint64_t)d->nanos + 999999u) / 1000000u;
}

/* Whole seconds, rounded up (socket options count seconds; 1 at least). */
static uint32_t dur_s(const Google__Protobuf__Duration *d, uint32_t dflt)
{
    if (!d)
        return dflt;
    uint64_t ms = dur_ms(d);
    uint64_t s = (ms + 999) / 1000;
    return s == 0 ? 1 : s > 32767 ? 32767 : (uint32_t)s;
}

static const char *version_name(int v)
{
    return v == V12 ? "TLS_V1_2" : v == V13 ? "TLS_V1_3" : "an unknown version";
}

/* The cipher strings of |t| for OpenSSL: TLS 1.2 names into |l12|, TLS 1.3 suites into |l13|. */
static void cipher_strings(const agw_fe_tls_t *t, char *l12, size_t c12, char *l13, size_t c13)
{
    size_t n12 = 0, n13 = 0;
    l12[0] = l13[0] = '\0';
    for (size_t i = 0; i < t->n_cipher_suites; i++) {
        unsigned k = (unsigned)t->cipher_suites[i];
        if (k == 0 || k >= NCIPHERS)
            continue;
        bool v13 = k <= 3;
        char *b = v13 ? l13 : l12;
        size_t *n = v13 ? &n13 : &n12, cap = v13 ? c13 : c12;
        int w = snprintf(b + *n, cap - *n, "%s%s", *n ? ":" : "", cipher_openssl[k]);
        if (w > 0 && (size_t)w < cap - *n)
            *n += (size_t)w;
    }
}

static void group_string(const agw_fe_tls_t *t, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->n_key_exchange_groups; i++) {
        unsigned k = (unsigned)t->key_exchange_groups[i];
        if (k == 0 || k >= NKX_GROUPS)
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? ":" : "", group_openssl[k]);
        if (w > 0 && (size_t)w < cap - n)
            n += (size_t)w;
    }
}

/* The version range of |t| after its cipher list: naming no TLS 1.2 cipher leaves TLS 1.3 only,
 * naming no TLS 1.3 suite leaves TLS 1.2 only (OpenSSL keeps the two lists apart). */
static void version_range(const agw_fe_tls_t *t, const char *l12, const char *l13, int *lo, int *hi)
{
    *lo = t->_min_version_case ? (int)t->min_version : V12;
    *hi = t->_max_version_case ? (int)t->max_version : V13;
    if (t->n_cipher_suites && !l12[0] && *lo < V13)
        *lo = V13;
    if (t->n_cipher_suites && !l13[0] && *hi > V12)
        *hi = V12;
}

/* ------------------------------------------------------------------------------------------- */
/* P7 */

static int check_tls(const agw_fe_tls_t *t, const char *who, char *reason, size_t cap)
{
    if (!dur_ok(t->handshake_timeout)) {
        snprintf(reason, cap, "%s: frontend.tls.handshake_timeout: negative or too large", who);
        return PROXY_ECONFIG;
    }
    bool bad_min = t->_min_version_case && t->min_version != V12 && t->min_version != V13;
    bool bad_max = t->_max_version_case && t->max_version != V12 && t->max_version != V13;
    if (bad_min || bad_max) {
        snprintf(reason, cap, "%s: frontend.tls.%s: unknown TLS version (TLS_V1_2 or TLS_V1_3)",
                 who, bad_min ? "min_version" : "max_version");
        return PROXY_ECONFIG;
    }
    if (t->_min_version_case && t->_max_version_case && t->min_version > t->max_version) {
        snprintf(reason, cap, "%s: frontend.tls: min_version %s is above max_version %s", who,
                 version_name((int)t->min_version), version_name((int)t->max_version));
        return PROXY_ECONFIG;
    }
    for (size_t i = 0; i < t->n_cipher_suites; i++)
        if ((unsigned)t->cipher_suites[i] == 0 || (unsigned)t->cipher_suites[i] >= NCIPHERS) {
            snprintf(reason, cap, "%s: frontend.tls.cipher_suites[%zu]: unknown cipher suite %d",
                     who, i, (int)t->cipher_suites[i]);
            return PROXY_ECONFIG;
        }
    for (size_t i = 0; i < t->n_key_exchange_groups; i++)
        if ((unsigned)t->key_exchange_groups[i] == 0 ||
            (unsigned)t->key_exchange_groups[i] >= NKX_GROUPS) {
            snprintf(reason, cap,
                     "%s: frontend.tls.key_exchange_groups[%zu]: unknown key exchange group %d",
                     who, i, (int)t->key_exchange_groups[i]);
            return PROXY_ECONFIG;
        }
    for (size_t i = 0; t->alpn && i < t->alpn->n_protocols; i++) {
        const char *a = t->alpn->protocols[i];
        if (strcmp(a, alpn_h2) != 0 && strcmp(a, alpn_h1) != 0) {
            snprintf(reason, cap,
                     "%s: frontend.tls.alpn.protocols[%zu]: \"%.64s\" is not served (h2 and "
                     "http/1.1 are)",
                     who, i, a);
            return PROXY_ECONFIG;
        }
    }
    char l12[512], l13[256], groups[128];
    cipher_strings(t, l12, sizeof l12, l13, sizeof l13);
    group_string(t, groups, sizeof groups);
    int lo, hi;
    version_range(t, l12, l13, &lo, &hi);
    if (lo > hi) {
        snprintf(reason, cap,
                 "%s: frontend.tls.cipher_suites: no listed cipher suite works with the allowed "
                 "versions (%s to %s)",
                 who, version_name(lo), version_name(hi));
        return PROXY_ECONFIG;
    }
    if (!groups[0])
        return PROXY_OK;
    /* Whether this OpenSSL has the groups is only known by asking it. */
    net_tls_config_t tc = {.insecure_skip_verify = true, .groups = groups};
    int err;
    net_tls_ctx_t *probe = net_tls_ctx_new(false, &tc, &err);
    if (!probe) {
        snprintf(reason, cap,
                 "%s: frontend.tls.key_exchange_groups: \"%s\" is not supported by this OpenSSL",
                 who, groups);
        return PROXY_ECONFIG;
    }
    net_tls_ctx_release(probe);
    return PROXY_OK;
}

static int check_http(const agw_fe_http_t *h, const char *who, char *reason, size_t cap)
{
    const char *bad = NULL;
    if (h->_max_buffer_size_case && h->max_buffer_size == 0)
        bad = "max_buffer_size: must be at least 1 byte";
    else if (h->_http1_max_headers_case &&
             (h->http1_max_headers == 0 || h->http1_max_headers > 10000))
        bad = "http1_max_headers: must be between 1 and 10000";
    else if (h->_http2_window_size_case &&
             (h->http2_window_size == 0 || h->http2_window_size > 0x7fffffffu))
        bad = "http2_window_size: must be between 1 and 2^31-1 (RFC 9113 section 6.9.2)";
    else if (h->_http2_connection_window_size_case &&
             (h->http2_connection_window_size == 0 ||
              h->http2_connection_window_size > 0x7fffffffu))
        bad = "http2_connection_window_size: must be between 1 and 2^31-1";
    else if (h->_http2_frame_size_case &&
             (h->http2_frame_size < 16384 || h->http2_frame_size > 16777215))
        bad = "http2_frame_size: must be between 16384 and 16777215 (RFC 9113 section 6.5.2)";
    else if (h->_http2_max_header_size_case && h->http2_max_header_size == 0)
        bad = "http2_max_header_size: must be at least 1 byte";
    else if (!dur_ok(h->http1_idle_timeout))
        bad = "http1_idle_timeout: negative or too large";
    else if (!dur_ok(h->http2_keepalive_interval))
        bad = "http2_keepalive_interval: negative or too large";
    else if (!dur_ok(h->http2_keepalive_timeout))
        bad = "http2_keepalive_timeout: negative or too large";
    else if (!dur_ok(h->max_connection_duration))
        bad = "max_connection_duration: negative or too large";
    if (!bad)
        return PROXY_OK;
    snprintf(reason, cap, "%s: frontend.http.%s", who, bad);
    return PROXY_ECONFIG;
}

static int check_tcp(const agw_fe_tcp_t *t, const char *who, char *reason, size_t cap)
{
    const Agentgateway__Dev__Resource__KeepaliveConfig *k = t->keepalives;
    if (!k)
        return PROXY_OK;
    const char *bad = !dur_ok(k->time)       ? "time: negative or too large"
                      : !dur_ok(k->interval) ? "interval: negative or too large"
                      : k->_retries_case && (k->retries == 0 || k->retries > 127)
                          ? "retries: must be between 1 and 127"
                          : NULL;
    if (!bad)
        return PROXY_OK;
    snprintf(reason, cap, "%s: frontend.tcp.keepalives.%s", who, bad);
    return PROXY_ECONFIG;
}

int proxy_frontend_check(const agw_policy_t *p, const char *key, char *reason, size_t cap)
{
    if (p->kind_case != AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND || !p->frontend)
        return PROXY_OK;
    char who[192];
    snprintf(who, sizeof who, "policy/%s", key ? key : "");
    const agw_fps_t *f = p->frontend;
    switch (f->kind_case) {
    case FK(TLS):
        return check_tls(f->tls, who, reason, cap);
    case FK(HTTP):
        return check_http(f->http, who, reason, cap);
    case FK(TCP):
        return check_tcp(f->tcp, who, reason, cap);
    default:
        return PROXY_OK;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Attachment */

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

enum { LVL_GATEWAY = 1, LVL_LISTENER = 2 };

/* The level at which |p| attaches to Bind |bi| of |s|, or 0. */
static int bind_level(const proxy_snapshot_t *s, size_t bi, const agw_policy_t *p)
{
    const Agentgateway__Dev__Resource__PolicyTarget *t = p->target;
    if (!t || t->kind_case != AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY)
        return 0;
    const Agentgateway__Dev__Resource__PolicyTarget__GatewayTarget *g = t->gateway;
    int best = 0;
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i].bind != bi)
            continue;
        const Agentgateway__Dev__Resource__Listener *lpb = ir_listener_pb(s->listeners[i].obj);
        const Agentgateway__Dev__Resource__ListenerName *ln = lpb ? lpb->name : NULL;
        if (!ln || !str_eq(g->name, ln->gateway_name) ||
            !str_eq(g->namespace_, ln->gateway_namespace))
            continue;
        if (g->_listener_case && !str_eq(g->listener, ln->listener_name))
            continue;
        if (g->_port_case && g->port != ir_bind_port(s->binds[bi]))
            continue;
        int lvl = g->_listener_case || g->_port_case ? LVL_LISTENER : LVL_GATEWAY;
        if (lvl > best)
            best = lvl;
    }
    return best;
}

/* Does |p| at |lvl| beat |cur| at |curlvl| (|p| later by key)? As proxy/policy.c. */
static bool beats(const agw_policy_t *p, int lvl, const agw_policy_t *cur, int curlvl)
{
    if (!cur)
        return true;
    bool po = p->inheritance == AGENTGATEWAY__DEV__RESOURCE__POLICY__INHERITANCE__OVERRIDE;
    bool co = cur->inheritance == AGENTGATEWAY__DEV__RESOURCE__POLICY__INHERITANCE__OVERRIDE;
    if (po != co)
        return po;
    return po ? lvl < curlvl : lvl > curlvl;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const uint8_t *b = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void apply_tls(proxy_frontend_t *o, const agw_fe_tls_t *t)
{
    if (dur_ms(t->handshake_timeout)) /* 0 would close every handshake at once: ignored */
        o->conn.handshake_timeout_ms = dur_ms(t->handshake_timeout);
    if (t->n_cipher_suites) {
        cipher_strings(t, o->tls_cipher_list, sizeof o->tls_cipher_list, o->tls_ciphersuites,
                       sizeof o->tls_ciphersuites);
        o->tls_ciphers_set = true;
    }
    char l12[512], l13[256];
    cipher_strings(t, l12, sizeof l12, l13, sizeof l13);
    int lo, hi;
    version_range(t, l12, l13, &lo, &hi);
    o->tls_min_version = lo == V13 ? NET_TLS_V1_3 : NET_TLS_V1_2;
    o->tls_max_version = hi == V12 ? NET_TLS_V1_2 : 0;
    group_string(t, o->tls_groups, sizeof o->tls_groups);
    if (t->alpn) {
        size_t n = 0;
        for (size_t i = 0; i < t->alpn->n_protocols && n < 2; i++)
            o->tls_alpn[n++] = strcmp(t->alpn->protocols[i], alpn_h2) == 0 ? alpn_h2 : alpn_h1;
        o->tls_alpn[n] = NULL;
        o->tls_alpn_set = true;
    }
}

static void apply_http(proxy_frontend_t *o, const agw_fe_http_t *h)
{
    net_conn_config_t *c = &o->conn;
    if (h->_max_buffer_size_case)
        o->max_buffered_input = h->max_buffer_size;
    if (h->_http1_max_headers_case)
        o->http1_max_headers = h->http1_max_headers;
    if (h->http1_idle_timeout)
        o->http1_idle_ms = dur_ms(h->http1_idle_timeout);
    if (h->_http2_window_size_case)
        c->h2.initial_window_size = h->http2_window_size;
    if (h->_http2_connection_window_size_case)
        c->h2.connection_window_size = h->http2_connection_window_size;
    if (h->_http2_frame_size_case)
        c->h2.max_frame_size = h->http2_frame_size;
    if (h->_http2_max_header_size_case)
        c->h2.max_header_list_size = h->http2_max_header_size;
    if (h->http2_keepalive_interval)
        c->keepalive_ms = dur_ms(h->http2_keepalive_interval);
    if (dur_ms(h->http2_keepalive_timeout))
        c->keepalive_timeout_ms = dur_ms(h->http2_keepalive_timeout);
    if (h->max_connection_duration)
        c->max_lifetime_ms = dur_ms(h->max_connection_duration);
}

static void apply_tcp(proxy_frontend_t *o, const agw_fe_tcp_t *t)
{
    const Agentgateway__Dev__Resource__KeepaliveConfig *k = t->keepalives;
    if (!k)
        return;
    o->conn.tcp_keepalive_idle_s = dur_s(k->time, KA_TIME_S);
    o->conn.tcp_keepalive_interval_s = dur_s(k->interval, KA_INTERVAL_S);
    o->conn.tcp_keepalive_probes = k->_retries_case ? k->retries : KA_RETRIES;
}

void proxy_frontend_resolve(const proxy_snapshot_t *s, const char *bind_key,
                            const proxy_options_t *opt, proxy_frontend_t *out)
{
    memset(out, 0, sizeof *out);
    net_conn_config_default(&out->conn, true);
    out->conn.idle_timeout_ms = opt->client_idle_timeout_ms;
    if (opt->client_handshake_timeout_ms)
        out->conn.handshake_timeout_ms = opt->client_handshake_timeout_ms;
    out->http1_idle_ms = opt->client_idle_timeout_ms;
    out->header_ms = opt->client_header_timeout_ms;
    out->body_ms = opt->client_body_timeout_ms;
    out->http1_max_headers = 100;
    out->max_buffered_input = opt->max_buffered_input ? opt->max_buffered_input : 64 * 1024;

    size_t bi = s && s->npolicies ? proxy__bind_index(s, bind_key) : (size_t)-1;
    const agw_policy_t *win[3] = {NULL, NULL, NULL}; /* tcp, tls, http */
    const char *keys[3] = {NULL, NULL, NULL};
    int lvls[3] = {0, 0, 0};
    /* The Policies are one run of the objects, sorted by (type, xDS name "policy/<key>"): find
     * its start instead of walking every object on every change set. */
    size_t lo = 0, hi = bi == (size_t)-1 ? 0 : s->nobjs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const proxy__entry_t *e = &s->objs[mid];
        if (e->type < PROXY_TYPE_RESOURCE ||
            (e->type == PROXY_TYPE_RESOURCE && strcmp(e->name, "policy/") < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; bi != (size_t)-1 && i < s->nobjs; i++) {
        if (s->objs[i].type != PROXY_TYPE_RESOURCE || strncmp(s->objs[i].name, "policy/", 7) != 0)
            break;
        const ir_policy_t *po = ir_policy_from_obj(s->objs[i].obj);
        if (!po || ir_policy_kind(po) != AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND)
            continue;
        const agw_policy_t *p = ir_policy_pb(po);
        if (!p || !p->frontend)
            continue;
        int k = p->frontend->kind_case == FK(TCP)    ? 0
                : p->frontend->kind_case == FK(TLS)  ? 1
                : p->frontend->kind_case == FK(HTTP) ? 2
                                                     : -1;
        int lvl = k < 0 ? 0 : bind_level(s, bi, p);
        if (!lvl || !beats(p, lvl, win[k], lvls[k]))
            continue;
        win[k] = p;
        keys[k] = ir_policy_key(po);
        lvls[k] = lvl;
    }
    if (win[0]) {
        apply_tcp(out, win[0]->frontend->tcp);
        out->tcp_policy = keys[0];
    }
    if (win[1]) {
        apply_tls(out, win[1]->frontend->tls);
        out->tls_policy = keys[1];
    }
    if (win[2]) {
        apply_http(out, win[2]->frontend->http);
        out->http_policy = keys[2];
    }
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, &out->tls_min_version, sizeof out->tls_min_version);
    h = fnv(h, &out->tls_max_version, sizeof out->tls_max_version);
    h = fnv(h, out->tls_cipher_list, strlen(out->tls_cipher_list) + 1);
    h = fnv(h, out->tls_ciphersuites, strlen(out->tls_ciphersuites) + 1);
    h = fnv(h, &out->tls_ciphers_set, 1);
    h = fnv(h, out->tls_groups, strlen(out->tls_groups) + 1);
    h = fnv(h, &out->tls_alpn_set, 1);
    for (size_t i = 0; out->tls_alpn[i]; i++)
        h = fnv(h, out->tls_alpn[i], strlen(out->tls_alpn[i]) + 1);
    out->tls_hash = h;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *proxy_frontend_dump(const proxy_snapshot_t *s, const proxy_options_t *opt)
{
    json_t *out = json_object();
    for (size_t i = 0; out && i < s->nbinds; i++) {
        const char *key = ir_bind_key(s->binds[i]);
        proxy_frontend_t fe;
        proxy_frontend_resolve(s, key, opt, &fe);
        json_t *alpn = json_array();
        for (size_t k = 0; alpn && fe.tls_alpn_set && fe.tls_alpn[k]; k++)
            json_array_append_new(alpn, json_string(fe.tls_alpn[k]));
        const net_conn_config_t *c = &fe.conn;
        json_t *b = json_pack(
            "{s:{s:o,s:o,s:o},s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:{s:s,s:s,s:o,s:o,s:o,s:o}}",
            "policies", "tcp", str_or_null(fe.tcp_policy), "tls", str_or_null(fe.tls_policy),
            "http", str_or_null(fe.http_policy), "http1_idle_ms", (json_int_t)fe.http1_idle_ms,
            "header_ms", (json_int_t)fe.header_ms, "body_ms", (json_int_t)fe.body_ms,
            "handshake_ms", (json_int_t)c->handshake_timeout_ms, "http2_idle_ms",
            (json_int_t)c->idle_timeout_ms, "max_connection_ms", (json_int_t)c->max_lifetime_ms,
            "http1_max_headers", (json_int_t)fe.http1_max_headers, "max_buffered_input",
            (json_int_t)fe.max_buffered_input, "tcp_keepalive",
            c->tcp_keepalive_idle_s
                ? json_pack("[i,i,i]", (int)c->tcp_keepalive_idle_s,
                            (int)c->tcp_keepalive_interval_s, (int)c->tcp_keepalive_probes)
                : json_null(),
            "tls", "min", fe.tls_min_version == NET_TLS_V1_3 ? "1.3" : "1.2", "max",
            fe.tls_max_version == NET_TLS_V1_2 ? "1.2" : "1.3", "ciphers",
            str_or_null(fe.tls_cipher_list), "ciphersuites", str_or_null(fe.tls_ciphersuites),
            "groups", str_or_null(fe.tls_groups), "alpn",
            fe.tls_alpn_set && alpn ? alpn : (json_decref(alpn), json_null()));
        if (!b || json_object_set_new(out, key, b) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
