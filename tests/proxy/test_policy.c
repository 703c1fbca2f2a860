/*
 * proxy/policy.c. First without I/O: the precedence tables (gateway < listener < route < rule
 * for traffic policies; gateway < Service < Backend < sub-backend < route for backend policies;
 * OVERRIDE; ties), validation (invalid JWKS, htpasswd, rate limit, TLS rejected whole with the
 * policy named), token buckets surviving unrelated config changes. Then a real proxy on a libuv
 * loop with curl as the client and echo upstreams (plain and TLS): JWT (valid, missing, expired,
 * wrong key; passthrough to the backend), basic auth, API keys (header and query), local rate
 * limit (429 with Retry-After), backend auth with a static key, header modifiers and direct
 * responses from policies, host rewrite, backend TLS (good and wrong CA), and AI / MCP backends
 * answered 501 and listed as not served in the config dump.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/h1.h"
#include "net/tls.h"
#include "curl_rig.h"
#include "echo_rig.h"
#include "loop_rig.h"
#include "policy_test_util.h"
#include "proxy/policy.h"
#include "proxy/proxy.h"

#define TK(x) AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_##x
#define BK(x) AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__KIND_##x

typedef Agentgateway__Dev__Resource__BackendPolicySpec bps_t;

static const ir_obj_t *named_listener_on(const char *bind_key, const char *key, const char *lname,
                                         const char *hostname)
{
    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = tu_strdup(key);
    l->bind_key = tu_strdup(bind_key);
    l->hostname = tu_strdup(hostname);
    l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTP;
    l->name = ir_pb_alloc(sizeof *l->name);
    agentgateway__dev__resource__listener_name__init(l->name);
    l->name->gateway_name = tu_strdup("gw");
    l->name->gateway_namespace = tu_strdup("default");
    l->name->listener_name = tu_strdup(lname);
    const ir_listener_t *x = ir_listener_new(l, "default/gw", NULL);
    return x ? ir_listener_obj(x) : NULL;
}

static const ir_obj_t *named_listener(const char *key, const char *lname, const char *hostname)
{
    return named_listener_on("80/default/gw", key, lname, hostname);
}

static const ir_obj_t *rule(const char *name, unsigned idx, const char *lkey, const char *match,
                            const char *backends)
{
    tu_route_pb_t *r = tu_route_pb("default", name, idx, lkey, "", match, backends);
    char rn[16];
    snprintf(rn, sizeof rn, "r%u", idx);
    r->name->_rule_name_case = AGENTGATEWAY__DEV__RESOURCE__ROUTE_NAME___RULE_NAME_RULE_NAME;
    r->name->rule_name = tu_strdup(rn);
    return tu_route_seal(r);
}

static bps_t *bps(int kind)
{
    bps_t *b = ir_pb_alloc(sizeof *b);
    agentgateway__dev__resource__backend_policy_spec__init(b);
    b->kind_case = kind;
    return b;
}

static bps_t *bps_header(const char *name, const char *value)
{
    bps_t *b = bps(BK(REQUEST_HEADER_MODIFIER));
    tp_tps_t *t = tp_set_header(TK(REQUEST_HEADER_MODIFIER), name, value);
    b->request_header_modifier = t->request_header_modifier;
    t->request_header_modifier = NULL;
    ir_pb_free(&t->base);
    return b;
}

static bps_t *bps_auth_key(const char *secret)
{
    bps_t *b = bps(BK(AUTH));
    b->auth = ir_pb_alloc(sizeof *b->auth);
    agentgateway__dev__resource__backend_auth_policy__init(b->auth);
    if (secret) {
        b->auth->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_AUTH_POLICY__KIND_KEY;
        b->auth->key = ir_pb_alloc(sizeof *b->auth->key);
        agentgateway__dev__resource__key__init(b->auth->key);
        b->auth->key->secret = tu_strdup(secret);
    } else {
        b->auth->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND_AUTH_POLICY__KIND_PASSTHROUGH;
        b->auth->passthrough = ir_pb_alloc(sizeof *b->auth->passthrough);
        agentgateway__dev__resource__passthrough__init(b->auth->passthrough);
    }
    return b;
}

static bps_t *bps_tls(const char *root, const char *hostname)
{
    bps_t *b = bps(BK(BACKEND_TLS));
    b->backend_tls = ir_pb_alloc(sizeof *b->backend_tls);
    agentgateway__dev__resource__backend_policy_spec__backend_tls__init(b->backend_tls);
    b->backend_tls->_root_case =
        AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_TLS___ROOT_ROOT;
    b->backend_tls->root = (ProtobufCBinaryData){strlen(root), ir_pb_memdup(root, strlen(root))};
    if (hostname) {
        b->backend_tls->_hostname_case =
            AGENTGATEWAY__DEV__RESOURCE__BACKEND_POLICY_SPEC__BACKEND_TLS___HOSTNAME_HOSTNAME;
        b->backend_tls->hostname = tu_strdup(hostname);
    }
    return b;
}

static const ir_obj_t *inline_backend(const char *key, bps_t *inl, bool dynamic);

static const ir_obj_t *traffic(const char *key, const char *target, tp_tps_t *t, bool override)
{
    tp_policy_t *p = tp_traffic(tp_policy(key, target), t);
    if (override)
        p->inheritance = AGENTGATEWAY__DEV__RESOURCE__POLICY__INHERITANCE__OVERRIDE;
    return tp_seal(p);
}

static const ir_obj_t *backend(const char *key, const char *target, bps_t *b)
{
    return tp_seal(tp_backend(tp_policy(key, target), b));
}

#define L1 "default/gw.http"
#define L2 "default/gw.other"

static proxy_config_t *base_config(void)
{
    proxy_config_t *cfg = proxy_config_new();
    char why[512];
    const ir_obj_t *objs[] = {tu_bind("80/default/gw", 80),
                              named_listener(L1, "http", ""),
                              named_listener(L2, "other", "other.example"),
                              rule("a", 0, L1, "exact:/a0", "be:default/b"),
                              rule("a", 1, L1, "exact:/a1", "be:default/b"),
                              rule("c", 0, L2, "exact:/c",
                                   "svc:default/echo.default.svc:80 be:default/b be:default/b/sub "
                                   "be:default/z"),
                              NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);
    return cfg;
}

static const char *eff(proxy_config_t *cfg, const char *route, int kind)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    const char *k = proxy_policy_effective(s, route, kind);
    proxy_snapshot_release(s); /* the key stays valid: the store holds the snapshot */
    return k ? k : "-";
}

static const char *effb(proxy_config_t *cfg, const char *route, size_t b, int kind)
{
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    const char *k = proxy_policy_effective_backend(s, route, b, kind);
    proxy_snapshot_release(s);
    return k ? k : "-";
}

static const ir_obj_t *set_listener(const char *key, const char *set, const char *lname)
{
    Agentgateway__Dev__Resource__Listener *l = ir_pb_alloc(sizeof *l);
    agentgateway__dev__resource__listener__init(l);
    l->key = tu_strdup(key);
    l->bind_key = tu_strdup("80/default/gw");
    l->hostname = tu_strdup("set.example");
    l->protocol = AGENTGATEWAY__DEV__RESOURCE__PROTOCOL__HTTP;
    l->name = ir_pb_alloc(sizeof *l->name);
    agentgateway__dev__resource__listener_name__init(l->name);
    l->name->gateway_name = tu_strdup("gw");
    l->name->gateway_namespace = tu_strdup("default");
    l->name->listener_name = tu_strdup(lname);
    l->name->listener_set = ir_pb_alloc(sizeof *l->name->listener_set);
    agentgateway__dev__resource__resource_name__init(l->name->listener_set);
    l->name->listener_set->name = tu_strdup(set);
    l->name->listener_set->namespace_ = tu_strdup("default");
    const ir_listener_t *x = ir_listener_new(l, "default/gw", NULL);
    return x ? ir_listener_obj(x) : NULL;
}

static void test_listener_set_target(void **state)
{
    (void)state;
    proxy_config_t *cfg = proxy_config_new();
    char why[512];
    tp_policy_t *p = tp_traffic(tp_policy("ls", "gw:default/ignored"), tp_timeout_ms(7));
    Agentgateway__Dev__Resource__PolicyTarget *t = p->target;
    ir_pb_free(&t->gateway->base);
    t->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_LISTENER_SET;
    t->listener_set = ir_pb_alloc(sizeof *t->listener_set);
    agentgateway__dev__resource__policy_target__listener_set_target__init(t->listener_set);
    t->listener_set->name = tu_strdup("extra");
    t->listener_set->namespace_ = tu_strdup("default");
    const ir_obj_t *objs[] = {tu_bind("80/default/gw", 80),
                              named_listener(L1, "http", ""),
                              set_listener("default/extra.a", "extra", "a"),
                              rule("in-set", 0, "default/extra.a", "exact:/s", "be:default/b"),
                              rule("not-in-set", 0, L1, "exact:/n", "be:default/b"),
                              tp_seal(p),
                              traffic("gw", "gw:default/gw", tp_timeout_ms(9), false),
                              NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);
    assert_string_equal(eff(cfg, "default/in-set.00.l", TK(TIMEOUT)), "ls");
    assert_string_equal(eff(cfg, "default/not-in-set.00.l", TK(TIMEOUT)), "gw");
    proxy_config_free(cfg);
}

static void test_traffic_precedence_rule_route_listener_gateway(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *objs[] = {
        /* timeout: gateway everywhere, route a overrides it */
        traffic("t-gw", "gw:default/gw", tp_timeout_ms(1000), false),
        traffic("t-route-a", "route:default/a", tp_timeout_ms(2000), false),
        /* retry... as header modifier: listener http beats gateway; other listener keeps gw */
        traffic("h-gw", "gw:default/gw", tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x", "gw"),
                false),
        traffic("h-listener", "gw:default/gw/http",
                tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x", "l"), false),
        /* response modifier: rule r1 of a beats route a */
        traffic("r-route", "route:default/a",
                tp_set_header(TK(RESPONSE_HEADER_MODIFIER), "y", "route"), false),
        traffic("r-rule", "route:default/a/r1",
                tp_set_header(TK(RESPONSE_HEADER_MODIFIER), "y", "rule"), false),
        /* a target that matches nothing */
        traffic("n-none", "route:default/nosuch", tp_timeout_ms(5), false),
        traffic("n-other-gw", "gw:default/other", tp_ratelimit(1, 1, 1), false), NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);
    assert_string_equal(eff(cfg, "default/a.00.l", TK(TIMEOUT)), "t-route-a");
    assert_string_equal(eff(cfg, "default/a.01.l", TK(TIMEOUT)), "t-route-a");
    assert_string_equal(eff(cfg, "default/c.00.l", TK(TIMEOUT)), "t-gw");
    assert_string_equal(eff(cfg, "default/a.00.l", TK(REQUEST_HEADER_MODIFIER)), "h-listener");
    assert_string_equal(eff(cfg, "default/c.00.l", TK(REQUEST_HEADER_MODIFIER)), "h-gw");
    assert_string_equal(eff(cfg, "default/a.00.l", TK(RESPONSE_HEADER_MODIFIER)), "r-route");
    assert_string_equal(eff(cfg, "default/a.01.l", TK(RESPONSE_HEADER_MODIFIER)), "r-rule");
    assert_string_equal(eff(cfg, "default/c.00.l", TK(RESPONSE_HEADER_MODIFIER)), "-");
    assert_string_equal(eff(cfg, "default/a.00.l", TK(LOCAL_RATE_LIMIT)), "-");
    proxy_config_free(cfg);
}

static void test_override_and_ties(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *objs[] = {
        /* an OVERRIDE at the gateway beats a route-level default */
        traffic("o-gw", "gw:default/gw", tp_timeout_ms(1), true),
        traffic("o-route", "route:default/a", tp_timeout_ms(2), false),
        /* two OVERRIDEs: the least specific wins */
        traffic("p-route", "route:default/a", tp_ratelimit(5, 1, 1), true),
        traffic("p-listener", "gw:default/gw/http", tp_ratelimit(5, 1, 1), true),
        /* a tie at one level: the first key */
        traffic("q-2", "gw:default/gw", tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x", "2"),
                false),
        traffic("q-1", "gw:default/gw", tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x", "1"),
                false),
        NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);
    assert_string_equal(eff(cfg, "default/a.00.l", TK(TIMEOUT)), "o-gw");
    assert_string_equal(eff(cfg, "default/a.00.l", TK(LOCAL_RATE_LIMIT)), "p-listener");
    assert_string_equal(eff(cfg, "default/c.00.l", TK(LOCAL_RATE_LIMIT)), "-");
    assert_string_equal(eff(cfg, "default/c.00.l", TK(REQUEST_HEADER_MODIFIER)), "q-1");
    proxy_config_free(cfg);
}

static void test_backend_precedence(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *objs[] = {
        backend("b-gw", "gw:default/gw", bps_header("x", "gw")),
        backend("b-svc", "svc:default/echo.default.svc", bps_header("x", "svc")),
        backend("b-be", "backend:default/b", bps_header("x", "be")),
        backend("b-sub", "backend:default/b/sub", bps_header("x", "sub")),
        backend("b-route-a", "route:default/a", bps_header("x", "route")),
        backend("k-be", "backend:default/b", bps_auth_key("s")),
        NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_OK);
    int k = BK(REQUEST_HEADER_MODIFIER);
    assert_string_equal(effb(cfg, "default/c.00.l", 0, k), "b-svc");
    assert_string_equal(effb(cfg, "default/c.00.l", 1, k), "b-be");
    assert_string_equal(effb(cfg, "default/c.00.l", 2, k), "b-sub");
    assert_string_equal(effb(cfg, "default/c.00.l", 3, k), "b-gw");
    assert_string_equal(effb(cfg, "default/a.00.l", 0, k), "b-route-a");   /* route > backend */
    assert_string_equal(effb(cfg, "default/c.00.l", 2, BK(AUTH)), "k-be"); /* sub inherits */
    assert_string_equal(effb(cfg, "default/c.00.l", 0, BK(AUTH)), "-");
    assert_string_equal(effb(cfg, "default/c.00.l", 9, k), "-");
    proxy_config_free(cfg);
}

/* Property: the indexed build equals a scan of every policy (Q4 in proxy_snapshot_check), for
 * random routes, targets, kinds and OVERRIDEs, over several change sets that add and remove. */
static void test_effective_sets_match_a_full_scan(void **state)
{
    (void)state;
    static const char *const targets[] = {
        "gw:default/gw",     "gw:default/gw/http",    "gw:default/gw/other", "gw:other/gw",
        "route:default/r0",  "route:default/r1/r0",   "route:default/r2",    "route:other/r0",
        "backend:default/b", "backend:default/b/sub", "backend:default/z",   "svc:default/s1",
        "svc:default/s2",    "route:default/r3/r1"};
    static const char *const backends[] = {"be:default/b", "be:default/b/sub", "be:default/z",
                                           "svc:default/s1:80", "svc:default/s2:80"};
    unsigned seed = 12345;
    proxy_config_t *cfg = proxy_config_new();
    char why[512];
    const ir_obj_t *base[] = {tu_bind("80/default/gw", 80), named_listener(L1, "http", ""),
                              named_listener(L2, "other", "other.example"),
                              inline_backend("default/b", bps_header("x", "i"), false), NULL};
    assert_int_equal(tu_apply(cfg, base, why, sizeof why), PROXY_OK);
    for (int round = 0; round < 6; round++) {
        const ir_obj_t *objs[40];
        size_t n = 0;
        for (int r = 0; r < 8; r++) {
            char name[8], m[32], bes[128] = "";
            snprintf(name, sizeof name, "r%d", rand_r(&seed) % 5);
            snprintf(m, sizeof m, "exact:/%s%d", name, r);
            for (int b = rand_r(&seed) % 4; b > 0; b--) {
                strcat(bes, backends[rand_r(&seed) % 5]);
                strcat(bes, " ");
            }
            objs[n++] =
                rule(name, (unsigned)(rand_r(&seed) % 3), rand_r(&seed) % 2 ? L1 : L2, m, bes);
        }
        for (int i = 0; i < 24; i++) {
            char key[16];
            snprintf(key, sizeof key, "p%02d", rand_r(&seed) % 30);
            const char *tg = targets[rand_r(&seed) % (sizeof targets / sizeof targets[0])];
            bool ov = rand_r(&seed) % 4 == 0;
            switch (rand_r(&seed) % 4) {
            case 0:
                objs[n++] = traffic(key, tg, tp_timeout_ms(1 + rand_r(&seed) % 9), ov);
                break;
            case 1:
                objs[n++] =
                    traffic(key, tg, tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x", key), ov);
                break;
            case 2:
                objs[n++] = backend(key, tg, bps_header("x", key));
                break;
            default:
                objs[n++] = backend(key, tg, bps_auth_key(key));
                break;
            }
        }
        objs[n] = NULL;
        /* a change of the same name twice in one set: the later wins (fine for the property) */
        int rc = tu_apply(cfg, objs, why, sizeof why);
        if (rc != PROXY_OK)
            fail_msg("round %d: %s", round, why);
        const proxy_snapshot_t *snap = proxy_config_snapshot(cfg);
        assert_int_equal(proxy_snapshot_check(snap), PROXY_OK);
        proxy_snapshot_release(snap);
    }
    proxy_config_free(cfg);
}

static void reject_with(const ir_obj_t *bad, const char *want)
{
    proxy_config_t *cfg = base_config();
    const proxy_snapshot_t *before = proxy_config_snapshot(cfg);
    char why[512] = "";
    const ir_obj_t *objs[] = {bad, NULL};
    assert_int_equal(tu_apply(cfg, objs, why, sizeof why), PROXY_ECONFIG);
    if (!strstr(why, want))
        fail_msg("\"%s\" lacks \"%s\"", why, want);
    const proxy_snapshot_t *after = proxy_config_snapshot(cfg);
    assert_ptr_equal(before, after); /* nothing changed */
    proxy_snapshot_release(before);
    proxy_snapshot_release(after);
    proxy_config_free(cfg);
}

static void test_invalid_policies_reject_the_change_set(void **state)
{
    (void)state;
    reject_with(traffic("bad-jwt", "gw:default/gw",
                        tp_jwt(1, "krt", NULL,
                               "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}"),
                        false),
                "policy/bad-jwt: traffic.jwt.providers[0].inline: JWKS keys[0]: RSA modulus");
    reject_with(traffic("bad-jwks", "gw:default/gw", tp_jwt(1, "krt", NULL, "nope"), false),
                "is not JSON");
    reject_with(traffic("bad-basic", "gw:default/gw", tp_basic(0, "\nno colon\n"), false),
                "policy/bad-basic: traffic.basic_auth.htpasswd_content: htpasswd line 2");
    reject_with(traffic("bad-rl", "gw:default/gw", tp_ratelimit(5, 1, 0), false),
                "policy/bad-rl: traffic.local_rate_limit: max_tokens and fill_interval");
    reject_with(traffic("bad-rl2", "gw:default/gw", tp_ratelimit(5, 6, 1), false),
                "tokens_per_fill at most max_tokens");
    reject_with(backend("bad-tls", "backend:default/b", bps_tls("not a pem", NULL)),
                "policy/bad-tls: backend.backend_tls");
}

static const ir_obj_t *inline_backend(const char *key, bps_t *inl, bool dynamic)
{
    Agentgateway__Dev__Resource__Backend *b = ir_pb_alloc(sizeof *b);
    agentgateway__dev__resource__backend__init(b);
    b->key = tu_strdup(key);
    if (dynamic) {
        b->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_DYNAMIC;
        b->dynamic = ir_pb_alloc(sizeof *b->dynamic);
        agentgateway__dev__resource__dynamic_forward_proxy__init(b->dynamic);
    } else {
        b->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_STATIC;
        b->static_ = ir_pb_alloc(sizeof *b->static_);
        agentgateway__dev__resource__static_backend__init(b->static_);
        b->static_->host = tu_strdup("127.0.0.1");
        b->static_->port = 9;
    }
    if (inl)
        TU_PUSH(b->inline_policies, b->n_inline_policies, inl);
    const ir_backend_t *x = ir_backend_new(b, "default/gw", NULL);
    return x ? ir_backend_obj(x) : NULL;
}

static void test_backend_inline_policies(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *o1[] = {inline_backend("default/b", bps_header("x", "inline"), false), NULL};
    assert_int_equal(tu_apply(cfg, o1, why, sizeof why), PROXY_OK);
    int k = BK(REQUEST_HEADER_MODIFIER);
    assert_string_equal(effb(cfg, "default/c.00.l", 1, k), "@default/b#0");
    assert_string_equal(effb(cfg, "default/c.00.l", 2, k), "@default/b#0"); /* sub-backend */
    assert_string_equal(effb(cfg, "default/c.00.l", 3, k), "-");
    const ir_obj_t *o2[] = {backend("attached", "backend:default/b", bps_header("x", "a")), NULL};
    assert_int_equal(tu_apply(cfg, o2, why, sizeof why), PROXY_OK);
    assert_string_equal(effb(cfg, "default/c.00.l", 1, k), "attached"); /* attached wins a tie */
    const ir_obj_t *o3[] = {inline_backend("default/b/sub", bps_header("x", "sub"), false),
                            inline_backend("default/b-x", bps_header("x", "bx"), false), NULL};
    assert_int_equal(tu_apply(cfg, o3, why, sizeof why), PROXY_OK);
    assert_string_equal(effb(cfg, "default/c.00.l", 2, k), "@default/b/sub#0"); /* its own */
    assert_string_equal(effb(cfg, "default/c.00.l", 1, k), "attached");
    proxy_config_free(cfg);
    reject_with(inline_backend("default/b", bps_tls("garbage", NULL), false),
                "backend/default/b: inline_policies[0]: backend.backend_tls");
}

/* What can be accepted but cannot work fails closed and is listed in the dump. */
static void test_unusable_credentials_fail_closed_and_are_reported(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512], tok[4096];
    tp_tps_t *nokeys = tp_jwt(1, "krt", NULL, "{\"keys\":[]}");
    tp_tps_t *remote = tp_jwt(0, "krt", NULL, "{\"keys\":[]}");
    krt_free(remote->jwt->providers[0]->inline_); /* no JWKS source at all */
    remote->jwt->providers[0]->inline_ = NULL;
    remote->jwt->providers[0]->jwks_source_case =
        AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__JWTPROVIDER__JWKS_SOURCE__NOT_SET;
    const ir_obj_t *o[] = {traffic("nokeys", "route:default/a/r0", nokeys, false),
                           traffic("remote", "route:default/a/r1", remote, false),
                           traffic("plain", "route:default/c", tp_basic(0, "u:secret\n"), false),
                           NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    json_t *d = proxy_snapshot_dump(s);
    json_t *w = json_object_get(d, "policy_warnings");
    assert_int_equal(json_array_size(w), 3);
    assert_non_null(strstr(json_string_value(json_array_get(w, 0)),
                           "policy/nokeys: traffic.jwt.providers[0].inline: no key"));
    assert_non_null(strstr(json_string_value(json_array_get(w, 1)), "user \"u\""));
    assert_non_null(strstr(json_string_value(json_array_get(w, 2)), "no inline JWKS"));
    json_decref(d);
    /* a valid-looking token is refused by both providers */
    tk_sign(TK_RSA1, "RS256", NULL, "{\"iss\":\"krt\",\"exp\":1700000600}", tok, sizeof tok);
    char bearer[4200];
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    net_h2_header_t h[] = {NET_H2_HDR("authorization", bearer)};
    static proxy_policy_result_t pr;
    const char *paths[] = {"/a0", "/a1"};
    for (int i = 0; i < 2; i++) {
        proxy_request_t req = {"GET", paths[i], NULL, "x", h, 1};
        proxy_route_match_t rm;
        assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
        proxy_policy_req_t q = {.snap = s,
                                .rm = &rm,
                                .method = "GET",
                                .path = paths[i],
                                .headers = h,
                                .nheaders = 1,
                                .now_unix = 1700000000};
        proxy_filters_t f;
        proxy_filters_collect(rm.pb, NULL, &f);
        assert_int_equal(proxy_policy_on_request(&q, &f, &pr), PROXY_OK);
        assert_int_equal(pr.status, 401);
        proxy_policy_result_dispose(&pr);
    }
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static int on_request(const proxy_snapshot_t *s, const char *path, uint64_t now,
                      proxy_policy_result_t *pr)
{
    proxy_request_t req = {"GET", path, NULL, strcmp(path, "/c") ? "x" : "other.example", NULL, 0};
    proxy_route_match_t rm;
    assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
    proxy_policy_req_t q = {s, &rm, "GET", path, NULL, "x", NULL, 0, now, 1700000000, NULL};
    proxy_filters_t f;
    proxy_filters_collect(rm.pb, NULL, &f);
    assert_int_equal(proxy_policy_on_request(&q, &f, pr), PROXY_OK);
    int st = pr->status;
    proxy_policy_result_dispose(pr);
    return st;
}

static void test_token_bucket_survives_unrelated_changes(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    static proxy_policy_result_t pr; /* 16 KiB: not on the stack */
    const ir_obj_t *o1[] = {traffic("rl", "route:default/a", tp_ratelimit(2, 1, 60), false), NULL};
    assert_int_equal(tu_apply(cfg, o1, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(on_request(s, "/a0", 0, &pr), 0);
    assert_int_equal(on_request(s, "/a1", 0, &pr), 0);
    assert_int_equal(on_request(s, "/a0", 0, &pr), 429); /* one bucket for both rules */
    proxy_snapshot_release(s);
    /* an unrelated change keeps the (drained) bucket */
    const ir_obj_t *o2[] = {traffic("other", "gw:default/gw", tp_timeout_ms(5), false), NULL};
    assert_int_equal(tu_apply(cfg, o2, why, sizeof why), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    assert_int_equal(on_request(s, "/a0", 0, &pr), 429);
    assert_int_equal(on_request(s, "/a0", 60000, &pr), 0); /* one fill later */
    assert_int_equal(on_request(s, "/c", 60000, &pr), 0);  /* not covered */
    proxy_snapshot_release(s);
    /* changing the policy starts a new bucket */
    const ir_obj_t *o3[] = {traffic("rl", "route:default/a", tp_ratelimit(3, 1, 60), false), NULL};
    assert_int_equal(tu_apply(cfg, o3, why, sizeof why), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    for (int i = 0; i < 3; i++)
        assert_int_equal(on_request(s, "/a0", 60000, &pr), 0);
    assert_int_equal(on_request(s, "/a0", 60000, &pr), 429);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void test_cors_policy_is_handed_to_the_filter(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    tp_tps_t *t = tp_tps(TK(CORS));
    t->cors = ir_pb_alloc(sizeof *t->cors);
    agentgateway__dev__resource__cors__init(t->cors);
    TU_PUSH(t->cors->allow_origins, t->cors->n_allow_origins, tu_strdup("https://a.example"));
    const ir_obj_t *o[] = {traffic("cors", "route:default/a", t, false), NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    static proxy_policy_result_t pr;
    proxy_request_t req = {"GET", "/a0", NULL, "x", NULL, 0};
    proxy_route_match_t rm;
    assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
    proxy_policy_req_t q = {s, &rm, "GET", "/a0", NULL, "x", NULL, 0, 0, 0, NULL};
    proxy_filters_t f;
    proxy_filters_collect(rm.pb, NULL, &f);
    assert_int_equal(proxy_policy_on_request(&q, &f, &pr), PROXY_OK);
    assert_non_null(pr.cors);
    assert_string_equal(pr.cors->allow_origins[0], "https://a.example");
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

/* ------------------------------------------------------------------------------------------- */
/* A real proxy: echo upstreams (echo_rig.h), the loop in a thread (loop_rig.h), curl. */

/* ------------------------------------------------------------------------------------------- */
/* Authorization (CEL), network authorization, ext_authz / ext_proc failing closed */

#define HTPASSWD "alice:$apr1$abcdefgh$T64oOxnD8c28.dQa.2Lty1\n"

/* RBAC with one rule per list (NULL: none). */
static tp_tps_t *tp_rbac(const char *allow, const char *deny, const char *require)
{
    tp_tps_t *t = tp_tps(TK(AUTHORIZATION));
    t->authorization = ir_pb_alloc(sizeof *t->authorization);
    agentgateway__dev__resource__traffic_policy_spec__rbac__init(t->authorization);
    if (allow)
        TU_PUSH(t->authorization->allow, t->authorization->n_allow, tu_strdup(allow));
    if (deny)
        TU_PUSH(t->authorization->deny, t->authorization->n_deny, tu_strdup(deny));
    if (require)
        TU_PUSH(t->authorization->require, t->authorization->n_require, tu_strdup(require));
    return t;
}

static tp_tps_t *tp_ext_authz(int mode, uint32_t status)
{
    tp_tps_t *t = tp_tps(TK(EXT_AUTHZ));
    t->ext_authz = ir_pb_alloc(sizeof *t->ext_authz);
    agentgateway__dev__resource__traffic_policy_spec__external_auth__init(t->ext_authz);
    t->ext_authz->failure_mode = mode;
    if (status) {
        t->ext_authz->_status_on_error_case =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH___STATUS_ON_ERROR_STATUS_ON_ERROR;
        t->ext_authz->status_on_error = status;
    }
    return t;
}

static tp_tps_t *tp_ext_proc(int mode)
{
    tp_tps_t *t = tp_tps(TK(EXT_PROC));
    t->ext_proc = ir_pb_alloc(sizeof *t->ext_proc);
    agentgateway__dev__resource__traffic_policy_spec__ext_proc__init(t->ext_proc);
    t->ext_proc->failure_mode = mode;
    return t;
}

/* A frontend network_authorization policy on |target| ("gw:<ns>/<name>[/<listener>]"); |port|
 * > 0 narrows it to that port. */
static const ir_obj_t *netauth(const char *key, const char *target, uint32_t port,
                               const char *allow, const char *deny)
{
    tp_policy_t *p = tp_policy(key, target);
    p->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_FRONTEND;
    p->frontend = ir_pb_alloc(sizeof *p->frontend);
    agentgateway__dev__resource__frontend_policy_spec__init(p->frontend);
    p->frontend->kind_case =
        AGENTGATEWAY__DEV__RESOURCE__FRONTEND_POLICY_SPEC__KIND_NETWORK_AUTHORIZATION;
    Agentgateway__Dev__Resource__FrontendPolicySpec__NetworkAuthorization *na =
        ir_pb_alloc(sizeof *na);
    agentgateway__dev__resource__frontend_policy_spec__network_authorization__init(na);
    if (allow)
        TU_PUSH(na->allow, na->n_allow, tu_strdup(allow));
    if (deny)
        TU_PUSH(na->deny, na->n_deny, tu_strdup(deny));
    p->frontend->network_authorization = na;
    if (port) {
        p->target->gateway->_port_case =
            AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__GATEWAY_TARGET___PORT_PORT;
        p->target->gateway->port = port;
    }
    return tp_seal(p);
}

/* The status the policies give a GET of |path| with fields |h| from |peer| (0: go on). */
static int authz(const proxy_snapshot_t *s, const char *path, const net_h2_header_t *h, size_t nh,
                 const char *peer)
{
    static proxy_policy_result_t pr; /* 16 KiB: not on the stack */
    proxy_request_t req = {"GET", path, NULL, "x", h, nh};
    proxy_route_match_t rm;
    assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
    proxy_policy_req_t q = {.snap = s,
                            .rm = &rm,
                            .method = "GET",
                            .path = path,
                            .host = "x",
                            .headers = h,
                            .nheaders = nh,
                            .now_unix = 1700000000,
                            .peer = peer};
    proxy_filters_t f;
    proxy_filters_collect(rm.pb, NULL, &f);
    assert_int_equal(proxy_policy_on_request(&q, &f, &pr), PROXY_OK);
    int st = pr.status;
    if (st == 403 && !strstr(pr.body, "external"))
        assert_string_equal(pr.body, "RBAC: access denied\n");
    proxy_policy_result_dispose(&pr);
    return st;
}

#define HDRS(...) ((const net_h2_header_t[]){__VA_ARGS__})

static void test_authorization_rules_allow_deny_require(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *o[] = {
        /* an allow list: only alice */
        traffic("allow", "route:default/a/r0",
                tp_rbac("request.headers['x-user'] == 'alice'", NULL, NULL), false),
        /* a deny rule and a require rule */
        traffic(
            "deny", "route:default/a/r1",
            tp_rbac(NULL, "request.headers['x-block'] == '1'", "source.address.startsWith('10.')"),
            false),
        NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    const char *P = "10.0.0.7:4000";
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("x-user", "alice")), 1, P), 0);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("X-User", "alice")), 1, P), 0);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("x-user", "bob")), 1, P), 403);
    assert_int_equal(authz(s, "/a0", NULL, 0, P), 403); /* an error is no match */
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-block", "0")), 1, P), 0);
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-block", "1")), 1, P), 403);
    /* a deny rule that cannot be evaluated denies (fails closed; agentgateway would allow) */
    assert_int_equal(authz(s, "/a1", NULL, 0, P), 403);
    /* the require rule: the source must be in 10/8 */
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-block", "0")), 1, "192.168.1.1:4000"), 403);
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-block", "0")), 1, NULL), 403);
    proxy_snapshot_release(s);
    /* a guarded deny rule does not fail closed */
    const ir_obj_t *o2[] = {
        traffic("deny", "route:default/a/r1",
                tp_rbac(NULL, "'x-block' in request.headers && request.headers['x-block'] == '1'",
                        NULL),
                false),
        NULL};
    assert_int_equal(tu_apply(cfg, o2, why, sizeof why), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    assert_int_equal(authz(s, "/a1", NULL, 0, P), 0);
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-block", "1")), 1, P), 403);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void test_authorization_sees_jwt_claims_and_basic_user(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512], jwks[4096], tok[4096], bearer[4200];
    tk_jwks(TK_RSA1, "r1", NULL, NULL, jwks, sizeof jwks);
    const ir_obj_t *o[] = {
        traffic("jwt", "route:default/a/r0", tp_jwt(1, "krt", NULL, jwks), false),
        traffic("rbac", "route:default/a/r0",
                tp_rbac("jwt.sub == 'alice' && 'admin' in jwt.roles", NULL, NULL), false),
        traffic("basic", "route:default/a/r1", tp_basic(0, HTPASSWD), false),
        traffic("rbac-basic", "route:default/a/r1",
                tp_rbac(NULL, "basicAuth.username == 'alice'", NULL), false),
        NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    tk_sign(TK_RSA1, "RS256", "r1",
            "{\"iss\":\"krt\",\"sub\":\"alice\",\"roles\":[\"admin\"],\"exp\":1700000600}", tok,
            sizeof tok);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("authorization", bearer)), 1, NULL), 0);
    tk_sign(TK_RSA1, "RS256", "r1",
            "{\"iss\":\"krt\",\"sub\":\"alice\",\"roles\":[\"dev\"],\"exp\":1700000600}", tok,
            sizeof tok);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("authorization", bearer)), 1, NULL), 403);
    /* basic authentication first (401), then the rule on the user it accepted (403) */
    assert_int_equal(authz(s, "/a1", NULL, 0, NULL), 401);
    /* "alice:open sesame" */
    assert_int_equal(authz(s, "/a1",
                           HDRS(NET_H2_HDR("authorization", "Basic YWxpY2U6b3BlbiBzZXNhbWU=")), 1,
                           NULL),
                     403);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void test_authorization_rules_compile_or_reject(void **state)
{
    (void)state;
    reject_with(
        traffic("bad-cel", "route:default/a", tp_rbac("true", "request.method == (", NULL), false),
        "policy/bad-cel: traffic.authorization.deny[0]: col 20: unexpected end of "
        "expression");
    reject_with(netauth("bad-net", "gw:default/gw", 0, "source.address = '1'", NULL),
                "policy/bad-net: frontend.network_authorization.allow[0]: col 16: unexpected "
                "character '='");
    /* an unsupported function is accepted, reported, and fails closed */
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *o[] = {
        traffic("cidr", "route:default/a/r0",
                tp_rbac(NULL, "cidr('10.0.0.0/8').containsIP(source.address)", NULL), false),
        NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    json_t *d = proxy_snapshot_dump(s);
    json_t *w = json_object_get(d, "policy_warnings");
    assert_int_equal(json_array_size(w), 1);
    assert_string_equal(json_string_value(json_array_get(w, 0)),
                        "policy/cidr: traffic.authorization.deny[0]: function 'cidr' is not "
                        "supported by this proxy: the rule is an error at every request (the "
                        "request is denied)");
    json_decref(d);
    assert_int_equal(authz(s, "/a0", NULL, 0, "1.2.3.4:5"), 403);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void test_ext_authz_and_ext_proc_fail_closed(void **state)
{
    (void)state;
    enum {
        DENY = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__DENY,
        ALLOW =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__ALLOW,
        WITH_STATUS =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXTERNAL_AUTH__FAILURE_MODE__DENY_WITH_STATUS,
        CLOSED =
            AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXT_PROC__FAILURE_MODE__FAIL_CLOSED,
        OPEN = AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__EXT_PROC__FAILURE_MODE__FAIL_OPEN,
    };
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *o[] = {
        traffic("xa-deny", "route:default/a/r0", tp_ext_authz(DENY, 0), false),
        traffic("xa-allow", "route:default/a/r1", tp_ext_authz(ALLOW, 0), false),
        traffic("xa-status", "route:default/c", tp_ext_authz(WITH_STATUS, 503), false), NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(authz(s, "/a0", NULL, 0, NULL), 403);
    assert_int_equal(authz(s, "/a1", NULL, 0, NULL), 0);
    proxy_request_t req = {"GET", "/c", NULL, "other.example", NULL, 0};
    proxy_route_match_t rm;
    assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
    proxy_policy_req_t q = {.snap = s, .rm = &rm, .method = "GET", .path = "/c"};
    static proxy_policy_result_t pr;
    proxy_filters_t f;
    proxy_filters_collect(rm.pb, NULL, &f);
    assert_int_equal(proxy_policy_on_request(&q, &f, &pr), PROXY_OK);
    assert_int_equal(pr.status, 503);
    proxy_policy_result_dispose(&pr);
    json_t *d = proxy_snapshot_dump(s);
    json_t *w = json_object_get(d, "policy_warnings");
    assert_int_equal(json_array_size(w), 3);
    assert_string_equal(json_string_value(json_array_get(w, 0)),
                        "policy/xa-allow: traffic.ext_authz: ext_authz is not enforced by this "
                        "proxy; requests are allowed (failureMode ALLOW)");
    assert_string_equal(json_string_value(json_array_get(w, 1)),
                        "policy/xa-deny: traffic.ext_authz: ext_authz is not enforced by this "
                        "proxy; requests are denied (failureMode DENY)");
    json_decref(d);
    proxy_snapshot_release(s);
    const ir_obj_t *o2[] = {traffic("xa-deny", "route:default/a/r0", tp_ext_proc(CLOSED), false),
                            traffic("xa-allow", "route:default/a/r1", tp_ext_proc(OPEN), false),
                            NULL};
    assert_int_equal(tu_apply(cfg, o2, why, sizeof why), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    assert_int_equal(authz(s, "/a0", NULL, 0, NULL), 500);
    assert_int_equal(authz(s, "/a1", NULL, 0, NULL), 0);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

/* Authorization policies compose across levels (a gateway deny survives a route allow); a
 * gateway OVERRIDE keeps route-level rules out. */
static void test_authorization_composes_across_levels(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *o[] = {
        traffic("gw-deny", "gw:default/gw",
                tp_rbac(NULL, "request.headers['x-user'] == 'mallory'", NULL), false),
        traffic("route-allow", "route:default/a",
                tp_rbac("request.headers['x-user'] in ['alice', 'mallory']", NULL, NULL), false),
        traffic("rule-require", "route:default/a/r1", tp_rbac(NULL, NULL, "source.port > 1024"),
                false),
        NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK); /* the composed lists against a scan */
    const char *P = "10.0.0.7:4000";
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("x-user", "alice")), 1, P), 0);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("x-user", "mallory")), 1, P), 403);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("x-user", "bob")), 1, P), 403);
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-user", "alice")), 1, P), 0);
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-user", "alice")), 1, "10.0.0.7:80"), 403);
    proxy_snapshot_release(s);
    /* a gateway OVERRIDE: the route and rule policies are not added */
    const ir_obj_t *o2[] = {traffic("gw-deny", "gw:default/gw",
                                    tp_rbac(NULL, "request.headers['x-user'] == 'mallory'", NULL),
                                    true),
                            NULL};
    assert_int_equal(tu_apply(cfg, o2, why, sizeof why), PROXY_OK);
    s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-user", "bob")), 1, "10.0.0.7:80"), 0);
    assert_int_equal(authz(s, "/a1", HDRS(NET_H2_HDR("x-user", "mallory")), 1, P), 403);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

/* A Route carrying policies of its own (Route.traffic_policies, as another xDS server may send
 * them): its authorization rules compose with the attached ones; its ext_authz fails closed. */
static const ir_obj_t *route_with(const char *name, const char *match, tp_tps_t *t1, tp_tps_t *t2)
{
    tu_route_pb_t *r = tu_route_pb("default", name, 0, L1, "", match, "be:default/b");
    TU_PUSH(r->traffic_policies, r->n_traffic_policies, t1);
    if (t2)
        TU_PUSH(r->traffic_policies, r->n_traffic_policies, t2);
    return tu_route_seal(r);
}

static void test_authorization_inside_a_route(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    const ir_obj_t *o[] = {
        route_with("inl", "exact:/inl", tp_rbac("request.headers['x-user'] == 'alice'", NULL, NULL),
                   NULL),
        traffic("gw-deny", "gw:default/gw",
                tp_rbac(NULL, "request.headers['x-user'] == 'mallory'", NULL), false),
        route_with("xa", "exact:/xa", tp_ext_authz(0, 0), tp_rbac("true", NULL, NULL)), NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    assert_int_equal(authz(s, "/inl", HDRS(NET_H2_HDR("x-user", "alice")), 1, NULL), 0);
    assert_int_equal(authz(s, "/inl", HDRS(NET_H2_HDR("x-user", "bob")), 1, NULL), 403);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("x-user", "bob")), 1, NULL), 0);
    assert_int_equal(authz(s, "/a0", HDRS(NET_H2_HDR("x-user", "mallory")), 1, NULL), 403);
    assert_int_equal(authz(s, "/xa", HDRS(NET_H2_HDR("x-user", "alice")), 1, NULL), 403);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
    reject_with(route_with("bad", "exact:/bad", tp_rbac(NULL, "1 +", NULL), NULL),
                "route/default/bad.00.l: traffic_policies[0]: traffic.authorization.deny[0]: col "
                "4: unexpected end of expression");
}

/* Backend-level authorization and ext_authz answer after the backendRef is chosen. */
static void test_backend_authorization_and_ext_authz(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    bps_t *rb = bps(BK(AUTHORIZATION));
    tp_tps_t *t = tp_rbac("request.headers['x-user'] == 'alice'", NULL, NULL);
    rb->authorization = t->authorization;
    t->authorization = NULL;
    ir_pb_free(&t->base);
    bps_t *xb = bps(BK(EXT_AUTHZ));
    t = tp_ext_authz(0, 0);
    xb->ext_authz = t->ext_authz;
    t->ext_authz = NULL;
    ir_pb_free(&t->base);
    const ir_obj_t *o[] = {backend("brbac", "backend:default/b", rb),
                           backend("bxa", "backend:default/z", xb), NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK);
    static proxy_policy_result_t pr;
    const char *users[] = {"alice", "bob"};
    for (int u = 0; u < 2; u++) {
        net_h2_header_t h[] = {NET_H2_HDR("x-user", users[u])};
        proxy_request_t req = {"GET", "/c", NULL, "other.example", h, 1};
        proxy_route_match_t rm;
        assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
        proxy_policy_req_t q = {
            .snap = s, .rm = &rm, .method = "GET", .path = "/c", .headers = h, .nheaders = 1};
        proxy_filters_t f;
        int want[4] = {0, u ? 403 : 0, u ? 403 : 0, 403}; /* svc, b, b/sub, z */
        for (size_t b = 0; b < 4; b++) {
            proxy_filters_collect(rm.pb, NULL, &f);
            assert_int_equal(proxy_policy_on_request(&q, &f, &pr), PROXY_OK);
            assert_int_equal(pr.status, 0);
            proxy_filters_collect(rm.pb, rm.pb->backends[b], &f);
            assert_int_equal(proxy_policy_on_backend(&q, rm.pb->backends[b], &f, &pr), PROXY_OK);
            assert_int_equal(pr.status, want[b]);
            proxy_policy_result_dispose(&pr);
        }
    }
    json_t *d = proxy_snapshot_dump(s);
    json_t *w = json_object_get(d, "policy_warnings");
    assert_int_equal(json_array_size(w), 1);
    assert_string_equal(json_string_value(json_array_get(w, 0)),
                        "policy/bxa: backend.ext_authz: ext_authz is not enforced by this proxy; "
                        "requests are denied (failureMode DENY)");
    json_decref(d);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void test_network_authorization_per_bind(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512], w[320];
    const ir_obj_t *o[] = {tu_bind("81/default/gw", 81),
                           named_listener_on("81/default/gw", "default/gw.b81", "b81", ""),
                           netauth("n1", "gw:default/gw", 0, NULL, "source.address == '10.9.9.9'"),
                           netauth("n2", "gw:default/gw", 80, "source.port >= 1024", NULL),
                           netauth("n3", "gw:default/other", 0, NULL, "true"),
                           NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    assert_int_equal(proxy_snapshot_check(s), PROXY_OK); /* Q5 */
    const char *B80 = "80/default/gw", *B81 = "81/default/gw";
    assert_true(proxy_policy_connection_allowed(s, B80, "10.1.1.1:5000", w, sizeof w));
    assert_false(proxy_policy_connection_allowed(s, B80, "10.9.9.9:5000", w, sizeof w));
    assert_string_equal(w, "policy/n1: deny[0] holds");
    /* n2 narrows to port 80: its allow list applies there only */
    assert_false(proxy_policy_connection_allowed(s, B80, "10.1.1.1:80", w, sizeof w));
    assert_string_equal(w, "no allow rule holds");
    assert_true(proxy_policy_connection_allowed(s, B81, "10.1.1.1:80", w, sizeof w));
    assert_false(proxy_policy_connection_allowed(s, B81, "10.9.9.9:80", w, sizeof w));
    assert_true(proxy_policy_connection_allowed(s, B80, "[::1]:5000", w, sizeof w));
    /* no source: the deny rule cannot be evaluated, which fails closed */
    assert_false(proxy_policy_connection_allowed(s, B81, NULL, w, sizeof w));
    assert_string_equal(w, "policy/n1: deny[0] failed: no such variable 'source'");
    assert_true(proxy_policy_connection_allowed(s, "99/none", "10.9.9.9:1", w, sizeof w));
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

static void hole_read(net_conn_t *c, const uint8_t *d, size_t l, void *ud)
{
    (void)c;
    (void)d;
    (void)l;
    (void)ud; /* swallowed: never answered */
}

/* A server that accepts and never answers. */
static void hole_start(uv_loop_t *loop, tu_echo_t *e)
{
    net_server_config_t sc;
    net_server_config_default(&sc);
    sc.listen = "127.0.0.1:0";
    sc.raw = (net_conn_raw_callbacks_t){.on_read = hole_read};
    int err;
    e->srv = net_server_new(loop, &sc, &err);
    assert_non_null(e->srv);
    e->port = net_server_port(e->srv);
}

typedef struct world {
    tu_loop_t rig;
    proxy_t *proxy;
    tu_echo_t plain, tls, hole;
    int port;
    net_tls_testcert_t cert, other;
    char tok_ok[4096], tok_expired[4096], tok_wrong_key[4096];
    char reason[512];
    int rc;
} world_t;

static world_t W;

static const ir_obj_t *ai_backend(const char *key, bool mcp)
{
    Agentgateway__Dev__Resource__Backend *b = ir_pb_alloc(sizeof *b);
    agentgateway__dev__resource__backend__init(b);
    b->key = tu_strdup(key);
    if (mcp) {
        b->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_MCP;
        b->mcp = ir_pb_alloc(sizeof *b->mcp);
        agentgateway__dev__resource__mcpbackend__init(b->mcp);
    } else {
        b->kind_case = AGENTGATEWAY__DEV__RESOURCE__BACKEND__KIND_AI;
        b->ai = ir_pb_alloc(sizeof *b->ai);
        agentgateway__dev__resource__aibackend__init(b->ai);
    }
    const ir_backend_t *x = ir_backend_new(b, "default/gw", NULL);
    return x ? ir_backend_obj(x) : NULL;
}

/* A Service with an A2A backend policy is an agent the proxy does not serve: 501 naming "a2a". */
static void test_a2a_service_is_not_served(void **state)
{
    (void)state;
    proxy_config_t *cfg = base_config();
    char why[512];
    bps_t *a = bps(BK(A2A));
    a->a2a = ir_pb_alloc(sizeof *a->a2a);
    agentgateway__dev__resource__backend_policy_spec__a2a__init(a->a2a);
    const ir_obj_t *o[] = {backend("a2a", "svc:default/echo.default.svc", a), NULL};
    assert_int_equal(tu_apply(cfg, o, why, sizeof why), PROXY_OK);
    const proxy_snapshot_t *s = proxy_config_snapshot(cfg);
    static proxy_policy_result_t pr;
    proxy_request_t req = {"GET", "/c", NULL, "other.example", NULL, 0};
    proxy_route_match_t rm;
    assert_int_equal(proxy_router_match(s, "80/default/gw", &req, &rm), PROXY_OK);
    proxy_policy_req_t q = {.snap = s, .rm = &rm, .method = "GET", .path = "/c"};
    proxy_filters_t f;
    proxy_filters_collect(rm.pb, NULL, &f);
    assert_int_equal(proxy_policy_on_request(&q, &f, &pr), PROXY_OK);
    assert_int_equal(pr.status, 0);
    assert_int_equal(proxy_policy_on_backend(&q, rm.pb->backends[1], &f, &pr), PROXY_OK);
    assert_int_equal(pr.status, 0); /* default/b: served */
    assert_int_equal(proxy_policy_on_backend(&q, rm.pb->backends[0], &f, &pr), PROXY_OK);
    assert_int_equal(pr.status, 501);
    assert_non_null(strstr(pr.body, "\"a2a\""));
    proxy_policy_result_dispose(&pr);
    proxy_snapshot_release(s);
    proxy_config_free(cfg);
}

/* Every seed policy encodes, decodes back to an equal object, and is accepted by the fixed config
 * of tests/fuzz/fuzz_policy.c; with KRTGATE_POLICY_SEEDS_DIR set, the seeds (a request-shape byte,
 * then the Resource bytes) are written there (tests/fuzz/corpus/policy). */
static void test_fuzz_seeds_round_trip(void **state)
{
    (void)state;
    char jwks[8192];
    tk_jwks(TK_RSA1, "r1", TK_EC1, "e1", jwks, sizeof jwks);
    struct {
        const char *name;
        int shape;
        const ir_obj_t *o;
    } seeds[] = {
        {"jwt_strict", 1, traffic("j", "route:default/a", tp_jwt(1, "krt", "api", jwks), false)},
        {"jwt_permissive", 1, traffic("j", "gw:default/gw", tp_jwt(2, "krt", NULL, jwks), true)},
        {"basic", 3, traffic("b", "route:default/a/r0", tp_basic(0, HTPASSWD), false)},
        {"apikey", 2, traffic("k", "gw:default/gw/http", tp_apikey(0, "k-123", "x", NULL), false)},
        {"apikey_query", 5,
         traffic("k", "route:default/a", tp_apikey(1, "k-123", NULL, "api_key"), false)},
        {"ratelimit", 0, traffic("r", "route:default/a", tp_ratelimit(1, 1, 1), false)},
        {"header", 0,
         traffic("h", "gw:default/gw", tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x", "y"),
                 false)},
        {"backend_key", 2, backend("bk", "backend:default/b", bps_auth_key("s3cret"))},
        {"backend_passthrough", 1, backend("bp", "backend:default/b/sub", bps_auth_key(NULL))},
        {"backend_header", 0,
         backend("bh", "svc:default/s.default.svc.cluster.local", bps_header("x", "z"))},
        {"timeout", 6, traffic("t", "route:default/a", tp_timeout_ms(1500), false)},
        {"authorization", 0,
         traffic("z", "route:default/a",
                 tp_rbac("request.headers['x'] == 'y' || source.port > 1024",
                         "request.path.matches('^/adm')", "has(request.headers.host)"),
                 false)},
        {"authorization_jwt", 1,
         traffic("z", "gw:default/gw", tp_rbac("jwt.sub == 'u' && 'api' in [jwt.aud]", NULL, NULL),
                 false)},
        {"ext_authz", 0, traffic("x", "route:default/a", tp_ext_authz(2, 503), false)},
        {"network_authorization", 0,
         netauth("n", "gw:default/gw", 80, "source.address.startsWith('10.')", "source.port < 2")},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        tp_fuzz_seed(seeds[i].name, seeds[i].shape, seeds[i].o);
}

static void job_setup(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    assert_int_equal(net_tls_testcert_make(&w->cert, "backend.test", "DNS:backend.test", false),
                     NET_OK);
    assert_int_equal(net_tls_testcert_make(&w->other, "backend.test", "DNS:backend.test", false),
                     NET_OK);
    static const char *const alpn[] = {"http/1.1", NULL};
    net_tls_config_t tc = {.cert_pem = w->cert.cert_pem, .key_pem = w->cert.key_pem, .alpn = alpn};
    int err;
    net_tls_ctx_t *sctx = net_tls_ctx_new(true, &tc, &err);
    assert_non_null(sctx);
    tu_echo_start(&w->rig.loop, &w->plain, NULL, NULL);
    tu_echo_start(&w->rig.loop, &w->tls, NULL, sctx);
    hole_start(&w->rig.loop, &w->hole);
    net_tls_ctx_release(sctx);
    w->proxy = proxy_new(&w->rig.loop, NULL, &err);
    assert_non_null(w->proxy);
    assert_int_equal(proxy_listen(w->proxy, "80/default/gw", "127.0.0.1:0", &w->port), PROXY_OK);

    char jwks[8192];
    tk_jwks(TK_RSA1, "r1", TK_EC1, "e1", jwks, sizeof jwks);
    const char *B = "be:default/plain";
    const ir_obj_t *objs[] = {
        tu_bind("80/default/gw", 80), named_listener(L1, "http", ""),
        tu_static_backend("default/plain", "127.0.0.1", w->plain.port),
        tu_static_backend("default/secure", "127.0.0.1", w->tls.port),
        tu_static_backend("default/badca", "127.0.0.1", w->tls.port),
        ai_backend("default/llm", false), ai_backend("default/tools", true),
        inline_backend("default/dyn", NULL, true),
        tu_static_backend("default/hole", "127.0.0.1", w->hole.port),
        rule("slow", 0, L1, "prefix:/slow", "be:default/hole"),
        traffic("slow", "route:default/slow", tp_timeout_ms(300), false),
        rule("dyn", 0, L1, "prefix:/dyn", "be:default/dyn"), rule("jwt", 0, L1, "prefix:/jwt", B),
        rule("jwtpass", 0, L1, "prefix:/jwtpass", B), rule("basic", 0, L1, "prefix:/basic", B),
        rule("key", 0, L1, "prefix:/key", B), rule("qkey", 0, L1, "prefix:/qkey", B),
        rule("rl", 0, L1, "prefix:/rl", B), rule("bauth", 0, L1, "prefix:/bauth", B),
        rule("hdr", 0, L1, "prefix:/hdr", B), rule("direct", 0, L1, "prefix:/direct", B),
        rule("hostrw", 0, L1, "prefix:/hostrw", B), rule("cors", 0, L1, "prefix:/cors", B),
        rule("rbac", 0, L1, "prefix:/rbac", B),
        traffic("rbac", "route:default/rbac",
                tp_rbac("request.headers['x-user'] == 'alice'", "request.method == 'DELETE'",
                        "source.address == '127.0.0.1'"),
                false),
        /* connections from 127.0.0.2 are refused before any byte is read */
        netauth("net", "gw:default/gw", 0, NULL, "source.address == '127.0.0.2'"),
        traffic("cors-auth", "route:default/cors", tp_basic(0, HTPASSWD), false),
        rule("tls", 0, L1, "prefix:/tls", "be:default/secure"),
        rule("badca", 0, L1, "prefix:/badca", "be:default/badca"),
        rule("llm", 0, L1, "prefix:/llm", "be:default/llm"),
        rule("tools", 0, L1, "prefix:/tools", "be:default/tools"),
        traffic("jwt", "route:default/jwt", tp_jwt(1, "krt", "api", jwks), false),
        traffic("jwtpass", "route:default/jwtpass", tp_jwt(1, "krt", "api", jwks), false),
        backend("jwtpass-auth", "route:default/jwtpass", bps_auth_key(NULL)),
        traffic("basic", "route:default/basic", tp_basic(0, HTPASSWD), false),
        traffic("key", "route:default/key", tp_apikey(0, "k-123", "k-456", NULL), false),
        traffic("qkey", "route:default/qkey", tp_apikey(0, "k-123", NULL, "api_key"), false),
        traffic("rl", "route:default/rl", tp_ratelimit(2, 1, 3600), false),
        backend("bauth", "route:default/bauth", bps_auth_key("s3cret")),
        traffic("hdr-gw", "gw:default/gw",
                tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x-policy", "gateway"), false),
        traffic("hdr-route", "route:default/hdr",
                tp_set_header(TK(REQUEST_HEADER_MODIFIER), "x-policy", "route"), false),
        traffic("hdr-resp", "route:default/hdr",
                tp_set_header(TK(RESPONSE_HEADER_MODIFIER), "x-resp", "yes"), false),
        NULL, /* direct */
        NULL, /* hostrw */
        NULL, /* cors */
        backend("tls", "backend:default/secure", bps_tls(w->cert.ca_pem, "backend.test")),
        backend("badca", "backend:default/badca", bps_tls(w->other.ca_pem, "backend.test")), NULL};
    size_t n = 0;
    while (objs[n])
        n++;
    tp_tps_t *d = tp_tps(TK(DIRECT_RESPONSE));
    d->direct_response = ir_pb_alloc(sizeof *d->direct_response);
    agentgateway__dev__resource__direct_response__init(d->direct_response);
    d->direct_response->status = 418;
    d->direct_response->body = (ProtobufCBinaryData){6, ir_pb_memdup("teapot", 6)};
    objs[n++] = traffic("direct", "route:default/direct", d, false);
    tp_tps_t *hr = tp_tps(TK(HOST_REWRITE));
    hr->host_rewrite = ir_pb_alloc(sizeof *hr->host_rewrite);
    agentgateway__dev__resource__traffic_policy_spec__host_rewrite__init(hr->host_rewrite);
    hr->host_rewrite->mode =
        AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__HOST_REWRITE__MODE__AUTO;
    objs[n++] = traffic("hostrw", "route:default/hostrw", hr, false);
    tp_tps_t *co = tp_tps(TK(CORS));
    co->cors = ir_pb_alloc(sizeof *co->cors);
    agentgateway__dev__resource__cors__init(co->cors);
    TU_PUSH(co->cors->allow_origins, co->cors->n_allow_origins, tu_strdup("https://app.example"));
    TU_PUSH(co->cors->allow_methods, co->cors->n_allow_methods, tu_strdup("GET"));
    objs[n++] = traffic("cors", "route:default/cors", co, false);
    w->rc = tu_apply(proxy_config(w->proxy), objs, w->reason, sizeof w->reason);

    char c[256];
    snprintf(c, sizeof c, "{\"iss\":\"krt\",\"aud\":\"api\",\"sub\":\"u\",\"exp\":%lld}",
             (long long)time(NULL) + 3600);
    tk_sign(TK_EC1, "ES256", "e1", c, w->tok_ok, sizeof w->tok_ok);
    tk_sign(TK_RSA2, "RS256", "r1", c, w->tok_wrong_key, sizeof w->tok_wrong_key);
    snprintf(c, sizeof c, "{\"iss\":\"krt\",\"aud\":\"api\",\"exp\":%lld}",
             (long long)time(NULL) - 3600);
    tk_sign(TK_RSA1, "RS256", "r1", c, w->tok_expired, sizeof w->tok_expired);
}

static void job_teardown(void *world, void *arg)
{
    world_t *w = world;
    (void)arg;
    proxy_close(w->proxy, NULL, NULL);
    net_server_close(w->plain.srv, false, NULL, NULL);
    net_server_close(w->tls.srv, false, NULL, NULL);
    net_server_close(w->hole.srv, false, NULL, NULL);
    uv_close((uv_handle_t *)&w->rig.async, NULL);
    net_tls_testcert_dispose(&w->cert);
    net_tls_testcert_dispose(&w->other);
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

/* curl on the proxy's HTTP listener. */
static void curl(tu_resp_t *r, const char *path, const char *args)
{
    tu_curl(r, W.port, path, args);
}

/* curl with "-H 'authorization: Bearer <tok>'" */
static int get_bearer(const char *path, const char *tok, tu_resp_t *r)
{
    char args[6000];
    snprintf(args, sizeof args, "-H 'authorization: Bearer %s'", tok);
    curl(r, path, args);
    return r->status;
}

static void test_jwt_authentication(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/jwt", NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "no JWT"));
    assert_non_null(strstr(r.headers, "www-authenticate: Bearer"));
    tu_resp_free(&r);
    assert_int_equal(get_bearer("/jwt", W.tok_ok, &r), 200);
    assert_null(tu_jheader(&r, "authorization")); /* consumed by the proxy */
    tu_resp_free(&r);
    assert_int_equal(get_bearer("/jwt", W.tok_expired, &r), 401);
    assert_non_null(strstr(r.body, "token expired"));
    tu_resp_free(&r);
    assert_int_equal(get_bearer("/jwt", W.tok_wrong_key, &r), 401);
    assert_non_null(strstr(r.body, "signature does not verify"));
    tu_resp_free(&r);
    assert_int_equal(get_bearer("/jwt", "not.a.jwt", &r), 401);
    tu_resp_free(&r);
    /* HTTP/2 (h2c) goes through the same path */
    char args[6000];
    snprintf(args, sizeof args, "--http2-prior-knowledge -H 'authorization: Bearer %s'", W.tok_ok);
    curl(&r, "/jwt", args);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    curl(&r, "/jwt", "--http2-prior-knowledge");
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    /* passthrough: the validated token is forwarded again */
    assert_int_equal(get_bearer("/jwtpass", W.tok_ok, &r), 200);
    char want[4200];
    snprintf(want, sizeof want, "Bearer %s", W.tok_ok);
    assert_string_equal(tu_jheader(&r, "authorization"), want);
    tu_resp_free(&r);
}

static void test_basic_and_api_key_authentication(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/basic", NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.headers, "www-authenticate: Basic realm=\"test\""));
    tu_resp_free(&r);
    curl(&r, "/basic", "-u 'alice:open sesame'");
    assert_int_equal(r.status, 200);
    assert_null(tu_jheader(&r, "authorization")); /* consumed */
    tu_resp_free(&r);
    curl(&r, "/basic", "-u 'alice:wrong'");
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    curl(&r, "/basic", "-u 'bob:open sesame'");
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    curl(&r, "/key", NULL);
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    assert_int_equal(get_bearer("/key", "k-456", &r), 200);
    assert_null(tu_jheader(&r, "authorization")); /* consumed */
    tu_resp_free(&r);
    assert_int_equal(get_bearer("/key", "k-45", &r), 401);
    assert_non_null(strstr(r.body, "API key not accepted"));
    tu_resp_free(&r);
    curl(&r, "/qkey?api_key=k-123", NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    curl(&r, "/qkey?api_key=k-999", NULL);
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
}

/* CEL authorization with curl over HTTP/1.1 and h2c, and network authorization closing the
 * connection of a refused source address (curl --interface picks it). */
static void test_authorization_with_curl(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/rbac", "-H 'x-user: alice'");
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jheader(&r, "x-user"), "alice");
    tu_resp_free(&r);
    curl(&r, "/rbac", "-H 'x-user: bob'");
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "RBAC: access denied\n");
    tu_resp_free(&r);
    curl(&r, "/rbac", NULL);
    assert_int_equal(r.status, 403);
    tu_resp_free(&r);
    curl(&r, "/rbac", "-X DELETE -H 'x-user: alice'");
    assert_int_equal(r.status, 403);
    tu_resp_free(&r);
    curl(&r, "/rbac", "--http2-prior-knowledge -H 'x-user: alice'");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    curl(&r, "/rbac", "--http2-prior-knowledge -H 'x-user: eve'");
    assert_int_equal(r.status, 403);
    tu_resp_free(&r);
    /* network authorization: 127.0.0.2 gets its connection closed, with no response at all */
    curl(&r, "/hdr", "--interface 127.0.0.2");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.headers, "");
    tu_resp_free(&r);
    curl(&r, "/hdr", "--interface 127.0.0.1");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
}

static void test_local_rate_limit_answers_429(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    for (int i = 0; i < 2; i++) {
        curl(&r, "/rl", NULL);
        assert_int_equal(r.status, 200);
        tu_resp_free(&r);
    }
    curl(&r, "/rl", NULL);
    assert_int_equal(r.status, 429);
    assert_non_null(strstr(r.headers, "retry-after: "));
    assert_non_null(strstr(r.headers, "x-ratelimit-limit: 2"));
    assert_non_null(strstr(r.headers, "x-ratelimit-reset: "));
    assert_non_null(strstr(r.body, "rate limit exceeded"));
    tu_resp_free(&r);
    curl(&r, "/hdr", NULL); /* other routes are not limited */
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
}

static void test_traffic_policies_feed_the_route_filters(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/hdr", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jheader(&r, "x-policy"), "route"); /* route beats gateway */
    assert_non_null(strstr(r.headers, "x-resp: yes"));
    tu_resp_free(&r);
    curl(&r, "/basic", "-u 'alice:open sesame'");
    assert_string_equal(tu_jheader(&r, "x-policy"), "gateway");
    tu_resp_free(&r);
    curl(&r, "/direct", NULL);
    assert_int_equal(r.status, 418);
    assert_string_equal(r.body, "teapot");
    tu_resp_free(&r);
    curl(&r, "/hostrw", "-H 'host: client.example'");
    assert_string_equal(tu_jheader(&r, "host"), "127.0.0.1");
    tu_resp_free(&r);
    curl(&r, "/hdr", "-H 'host: client.example'");
    assert_string_equal(tu_jheader(&r, "host"), "client.example");
    tu_resp_free(&r);
}


/* Whether the response head holds |line| (names compared without case, as HTTP says). */
static bool head_has(const tu_resp_t *r, const char *line)
{
    char low[sizeof r->headers];
    size_t i = 0;
    for (; r->headers[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)r->headers[i]);
    low[i] = '\0';
    return strstr(low, line) != NULL;
}

/* A CORS Policy: a preflight from an allowed origin is answered by the proxy before the route's
 * authentication (browsers send preflights without credentials); one from another origin gets no
 * CORS fields; an actual request still needs its credentials and gets Allow-Origin. */
static void test_cors_policy_answers_preflights_before_authentication(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/cors", "-X OPTIONS -H 'origin: https://app.example' "
                      "-H 'access-control-request-method: GET'");
    assert_int_equal(r.status, 200);
    assert_true(head_has(&r, "access-control-allow-origin: https://app.example"));
    tu_resp_free(&r);
    curl(&r, "/cors", "-X OPTIONS -H 'origin: https://evil.example' "
                      "-H 'access-control-request-method: GET'");
    assert_false(head_has(&r, "access-control-allow-origin"));
    tu_resp_free(&r);
    curl(&r, "/cors", "-H 'origin: https://app.example'");
    assert_int_equal(r.status, 401); /* no credentials */
    tu_resp_free(&r);
    curl(&r, "/cors", "-H 'origin: https://app.example' -u 'alice:open sesame'");
    assert_int_equal(r.status, 200);
    assert_true(head_has(&r, "access-control-allow-origin: https://app.example"));
    tu_resp_free(&r);
}

static void test_timeout_policy_answers_504(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/slow", NULL); /* the upstream never answers: the policy's timeout does */
    assert_int_equal(r.status, 504);
    assert_non_null(strstr(r.body, "timeout"));
    tu_resp_free(&r);
}

static void test_backend_auth_and_backend_tls(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/bauth", "-H 'authorization: Bearer client'");
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jheader(&r, "authorization"), "Bearer s3cret");
    tu_resp_free(&r);
    for (int i = 0; i < 2; i++) { /* the second one may reuse the pooled TLS connection */
        curl(&r, "/tls/x", NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/tls/x");
        tu_resp_free(&r);
    }
    curl(&r, "/badca", NULL); /* the upstream's certificate is not signed by that CA */
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
}

static void test_dynamic_forward_proxy_connects_to_the_host(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    char args[128];
    snprintf(args, sizeof args, "-H 'host: 127.0.0.1:%d'", W.plain.port);
    curl(&r, "/dyn/x", args);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/dyn/x");
    tu_resp_free(&r);
    curl(&r, "/dyn/x", "-H 'host: 127.0.0.1:99999'");
    assert_int_equal(r.status, 400);
    tu_resp_free(&r);
}

static void job_dump(void *world, void *arg)
{
    world_t *w = world;
    const proxy_snapshot_t *s = proxy_config_snapshot(proxy_config(w->proxy));
    *(json_t **)arg = proxy_snapshot_dump(s);
    proxy_snapshot_release(s);
}

static void test_unserved_backends_get_501(void **state)
{
    (void)state;
    TU_SKIP_WITHOUT_CURL();
    tu_resp_t r;
    curl(&r, "/llm", NULL);
    assert_int_equal(r.status, 501);
    assert_non_null(strstr(r.body, "backend kind \"ai\" is not served"));
    tu_resp_free(&r);
    curl(&r, "/tools", "--http2-prior-knowledge");
    assert_int_equal(r.status, 501);
    assert_non_null(strstr(r.body, "\"mcp\""));
    tu_resp_free(&r);
    json_t *d = NULL;
    tu_loop_run(&W.rig, job_dump, &d);
    json_t *ns = json_object_get(d, "not_served");
    assert_int_equal(json_array_size(ns), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ns, 0), "backend")),
                        "default/llm");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ns, 1), "kind")), "mcp");
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest units[] = {
        cmocka_unit_test(test_traffic_precedence_rule_route_listener_gateway),
        cmocka_unit_test(test_override_and_ties),
        cmocka_unit_test(test_backend_precedence),
        cmocka_unit_test(test_effective_sets_match_a_full_scan),
        cmocka_unit_test(test_invalid_policies_reject_the_change_set),
        cmocka_unit_test(test_unusable_credentials_fail_closed_and_are_reported),
        cmocka_unit_test(test_token_bucket_survives_unrelated_changes),
        cmocka_unit_test(test_backend_inline_policies),
        cmocka_unit_test(test_listener_set_target),
        cmocka_unit_test(test_cors_policy_is_handed_to_the_filter),
        cmocka_unit_test(test_fuzz_seeds_round_trip),
        cmocka_unit_test(test_a2a_service_is_not_served),
        cmocka_unit_test(test_authorization_rules_allow_deny_require),
        cmocka_unit_test(test_authorization_sees_jwt_claims_and_basic_user),
        cmocka_unit_test(test_authorization_rules_compile_or_reject),
        cmocka_unit_test(test_ext_authz_and_ext_proc_fail_closed),
        cmocka_unit_test(test_authorization_composes_across_levels),
        cmocka_unit_test(test_authorization_inside_a_route),
        cmocka_unit_test(test_backend_authorization_and_ext_authz),
        cmocka_unit_test(test_network_authorization_per_bind),
    };
    const struct CMUnitTest http[] = {
        cmocka_unit_test(test_jwt_authentication),
        cmocka_unit_test(test_basic_and_api_key_authentication),
        cmocka_unit_test(test_local_rate_limit_answers_429),
        cmocka_unit_test(test_authorization_with_curl),
        cmocka_unit_test(test_traffic_policies_feed_the_route_filters),
        cmocka_unit_test(test_cors_policy_answers_preflights_before_authentication),
        cmocka_unit_test(test_timeout_policy_answers_504),
        cmocka_unit_test(test_backend_auth_and_backend_tls),
        cmocka_unit_test(test_unserved_backends_get_501),
        cmocka_unit_test(test_dynamic_forward_proxy_connects_to_the_host),
    };
    int rc = cmocka_run_group_tests(units, NULL, NULL);
    return rc | cmocka_run_group_tests(http, setup, teardown);
}
