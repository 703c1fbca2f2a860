/*
 * Helpers for the policy tests: fixed test keys (generated once with `openssl genpkey`; test use
 * only), a JWS signer on OpenSSL, JWKS built from those keys, and Policy IR objects built by hand.
 */
#ifndef POLICY_TEST_UTIL_H
#define POLICY_TEST_UTIL_H

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ir/policy.h"
#include "proxy/jwt.h"
#include "proxy_test_util.h"

static const char TK_RSA1[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDNwgWRV515CFJk\n"
                              "oCTp73v1CRM/UULDdrhAwVBrdTYE7bcWt8M1367ywzWBdpZ7SYUgUPjMzkmxmtiE\n"
                              "TU4QtOJU8yWnV+dz7vISnJ+Kw1DoeYnDnIQSRJQ2O8SHnREJ+NZYcEqsRophvl49\n"
                              "sfJqWEALEyHdrLFp71pAUVxFxahcBS68toaRE2Cucv8mHlsh7ARNM/RhplbhJauW\n"
                              "/f9a6ROEecwI2LOxvWXXGjy0Ct61/MSfnvtDPEmddxRofjewrmq5P5U9wR0dFGpd\n"
                              "Bh+iL6jZg1ECefcpXlcsTRZZvCTYdOd74AFYOwbAmFsHTnt+7OmnRbzHTK0Zhe/M\n"
                              "OCnYWzfrAgMBAAECggEAT8ONYQC0HT1qo3Opm76pMR6phXw9A4U8fG30fRPdMx/s\n"
                              "QDRQysvCCH5AecW9JGIl55c8PDkkPGOo1/EX+EYHD6OKz0q2gSz6TtjEyIhbDyQ+\n"
                              "kcRVNre7NSMKVwA+oL0Eaxhs+kgGUUn5QrV/Ila/zQtHr6XIySZuuExSFwI++Byf\n"
                              "wdUTvSgZ6ic7v4K6IcTdCjn6iG/pcRrp23x4qQxwO+xkXtuqG7YlmIGNax8F0TPW\n"
                              "p8LSVEaLSIOoo4W+iYza5SjMA+vl60itb1Ay4NoMBQLsdFPoLUblzPs+mof+vtZ/\n"
                              "ufWwJr1VGoWnNgKcSkXy3ZRw+WISQrmkxWYF0NRDoQKBgQD3qTovbIlMXiQWKZSf\n"
                              "wIvQUFzTqB5QC6DENQpenk31w+0Kl8sc5Gk+q0VJxlepTNN841GNnSar1a9nn1+O\n"
                              "cnuqdca+8EpUqhL5nKSw/bOVoovjxRVv6HH4RWwbNxy0cxZHo7/baE47tNkpgwxz\n"
                              "rFe/k5vxbI9U8fco9oaCX7/jIwKBgQDUr5m1DVM2fXqketm4wWnjbR78GmF+9ETE\n"
                              "p8w1KpahH8Pez8ppCqF3QGVsrzjfRppReS3T8/xuDE9U2O+QR+XYANmouuTmKZ+h\n"
                              "zaUQE0uPBblSSHPwqRogbf4Gdp0CAtnAd4Tzc0kdRTwkmiVFBHp4fuxK8W5ek0E7\n"
                              "7oOc9oUomQKBgQD1mvSiDVAH1SCSff/vgcLl/pxgJsyQ80cm7bbv6KxFu1y7cZez\n"
                              "em1JAg7/v9w1gIQHyWOaPiwYoxyFdg8MtEoh3RURTDlaxyN0Ob017ROIpJ94bX35\n"
                              "8hn8bdRtFPW5mpyQxTrCOynCmnH2cgkKOfL3gUpYXSGzyxYioID6kDw64wKBgCZ3\n"
                              "X/hj4ZHwXdcTtP76VDliygDUkJ+SdEGRC5juC/I2OYm50STwXEWiKvXeNw4CyfRE\n"
                              "U2qLLTOGHG7/EUzqBALuHG+s5atPCeUMuXbP1pGWem8MVZPIMcZ9vjzTBRCRDWsG\n"
                              "8s/JIQcfN4JzMpxp8/CJHBlt0wVd4qWBPOKNn4W5AoGANlcR8ZWctgkdMR2uCdSq\n"
                              "jyVZ8/wcRw5IzPVKlYrEr+yof5K9a9Ms8Hpr01u3zbjV7RSAYonM4GRFBE1v5/yg\n"
                              "ucwKHUTth3LgszHDn9wjdyDbRM9ctSNb+hhAWBnX5eIVf5MKXcLedeDqIVRAdyfz\n"
                              "024zIY2u+OO+n32V6X5LQoE=\n"
                              "-----END PRIVATE KEY-----\n";

static const char TK_RSA2[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDG4eB/Pjxx3b3o\n"
                              "oW/xbu1pSwYxSEsvRs6j6P0EYTwLsUvSeJLA5AURj62c1V0lv4lwDinwkNNU1P8D\n"
                              "LHOxSspFaMinys1ck6nhdBPCW3p8bOw5w9SF3dFHgARMursAd3N1oCj10ESMrOOq\n"
                              "KQrZ6/dYbFZH9x4vBYo4p4fGl6AcBT7WO1ptP8YVahaIKKRVNNSoPOuXp2W/LuGK\n"
                              "iY6UoO2OSUfcf3qloCwrEdWZYCGPsfMkDZFiDjBR7MdIy2c0D74cix2deETpT5i9\n"
                              "oebWDXNwnBBZ8bVUGWaF10OAfqWG9yVdTfnV+H5Jg6QmUeCep3+JVQDF4wBl+IQn\n"
                              "YeDYuvrLAgMBAAECggEAMdC/GjAdFMpdeKkDMJ6/4clUfkCk8G0UclL4GUI/t5AL\n"
                              "tWbVH3Kd4GW0L130LHHa+5HYqHSmMo/9Zi6atfRNUPBrnje6k6869IlOL7cZKZRg\n"
                              "4SEvmO5ULsweh5eYIohJB9P7noKxwOjHR8Zq/OXReTj9rZ301gNVuVYhOLme9ZVb\n"
                              "UCcjcw5MqJIvhU02aIT4H1CRlgeYD6VSwMtvBsyARuSoxDTWI+Dr2metyi28K9qU\n"
                              "pvqnQ1qAZzojxO+EchPRkrK6Xhdd5+oQSFan8XhetLtUdr5irx3VfA6HBTVV7+Je\n"
                              "IegjEI2Cv+I/gBS875osbrf2WCHOgGjKlKJtV/AqWQKBgQD191+uBHRHOslO88pI\n"
                              "qMK5DBSK3qKic1HIiAjAfNeXJ0zWWbHhSsXN3/SSyfPDhpHLAe7kxgsQRb2ufnmQ\n"
                              "NeP5cXe3fy96xaN51yWg7FxD7NzR46GPu5TwPYQy6PoS6P2QeyIcRalgwvBArEv7\n"
                              "IQ8R7qgQbKUCo216GbCBh6bAaQKBgQDO/s4kqNT7U+G5P3k1nj+V6NPgtaG1r5p4\n"
                              "NS0d/4cqqu9BXQnGWdieOldja/E7PeUtI2rQKnvxjib0z7oIL5Rkkk5i0qEWsN6/\n"
                              "MftcPDNSwf52kGfoMLt4zYV1eus5gvOputAo0IM2rJ6sYtJcyYSfNrCSTyZa29to\n"
                              "iXxpeJ67EwKBgC4uiS9yNKbfGccSLQvha9Y0t3KvhJe90UA2knYZupztyxZ/9s8X\n"
                              "K/aQsyoQcw1mKd+U+FbJ/G/MuGWX55k1FR3TuSeh4LdLfns08yK43kX+piNeewoy\n"
                              "rS9CTZ0Fc1azmlBTXj8ysS+yyktKTmXTejHivnl+/Kh3KOoBAsv/PUbpAoGBAIgy\n"
                              "DY7/a0uGsKGDywvleK75R9e1ipYR2dA4JNx1EgmX+N6ICfNxkF7jwjYPguTY397o\n"
                              "S9J18aFJSAaSWzQhokDeJydMsWNNsvIYP+w7TAWq0PRQJZ4X2nIswCBBZV4s9If7\n"
                              "/BSuxXcG80w3pXQZv+JGSL2ryG/F80KAG9UF4WLzAoGAH/nv56PWcSOfPpIqKLU+\n"
                              "pE8856i/hOopwWapiBBC0H0Z/UkwjC6ofKkoVbKfwWNKffKHKh0UnvVza8lhTJp5\n"
                              "IQELLvvkAH9iRTSjSSXcI/GqGhrTm2cpjxRwb8L6hoTAYU6U5YWjHL/aL+rGnnei\n"
                              "bUXDsPL1Ra/bRNKGOar/cVc=\n"
                              "-----END PRIVATE KEY-----\n";

static const char TK_EC1[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrE31fyGDs8R1VNu0\n"
                             "C6yhbtcXk02WbI7ihStkABhVtUGhRANCAAT7zTRpkNpZqXP6TuOAEUb2ht4JaYz4\n"
                             "vhih/FTusybKa0P9WCjyCgsWwplRSUN38pF0DmPwLal0P+m9nCsY9wEi\n"
                             "-----END PRIVATE KEY-----\n";

static inline EVP_PKEY *tk_load(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    return k;
}

static inline void tk_bn_b64(EVP_PKEY *k, const char *param, size_t pad, char *out, size_t cap)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    unsigned char buf[600];
    int n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    proxy_b64url_encode(buf, (size_t)n, out, cap);
    BN_free(bn);
}

/* The public JWK of |pem| as a JSON object text, with |kid| (may be NULL). */
static inline void tk_jwk(const char *pem, const char *kid, char *out, size_t cap)
{
    EVP_PKEY *k = tk_load(pem);
    char a[800], b[800], kidf[128] = "";
    if (kid)
        snprintf(kidf, sizeof kidf, "\"kid\":\"%s\",", kid);
    if (EVP_PKEY_is_a(k, "RSA")) {
        tk_bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0, a, sizeof a);
        tk_bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0, b, sizeof b);
        snprintf(out, cap, "{%s\"kty\":\"RSA\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}", kidf, a,
                 b);
    } else {
        tk_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 32, a, sizeof a);
        tk_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b, sizeof b);
        snprintf(out, cap, "{%s\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", kidf,
                 a, b);
    }
    EVP_PKEY_free(k);
}

/* {"keys":[jwk(pem1), jwk(pem2)]} (pem2 may be NULL). */
static inline void tk_jwks(const char *pem1, const char *kid1, const char *pem2, const char *kid2,
                           char *out, size_t cap)
{
    char a[2048], b[2048] = "";
    tk_jwk(pem1, kid1, a, sizeof a);
    if (pem2)
        tk_jwk(pem2, kid2, b, sizeof b);
    snprintf(out, cap, "{\"keys\":[%s%s%s]}", a, pem2 ? "," : "", b);
}

/* Signs a compact JWS: header {"alg":alg[,"kid":kid]}, |claims| JSON text, with |pem|. */
static inline void tk_sign(const char *pem, const char *alg, const char *kid, const char *claims,
                           char *out, size_t cap)
{
    char hdr[256], h64[512], c64[4096];
    if (kid)
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
    else
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    proxy_b64url_encode((const unsigned char *)hdr, strlen(hdr), h64, sizeof h64);
    proxy_b64url_encode((const unsigned char *)claims, strlen(claims), c64, sizeof c64);
    char signing[5000];
    snprintf(signing, sizeof signing, "%s.%s", h64, c64);
    EVP_PKEY *k = tk_load(pem);
    const char *md = !strcmp(alg + 2, "384")   ? "SHA384"
                     : !strcmp(alg + 2, "512") ? "SHA512"
                                               : "SHA256";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t sl = sizeof sig;
    EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, k, NULL);
    EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)signing, strlen(signing));
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_is_a(k, "EC")) { /* DER → r||s */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        unsigned char rs[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
        ECDSA_SIG_free(es);
        memcpy(sig, rs, 64);
        sl = 64;
    }
    EVP_PKEY_free(k);
    char s64[2048];
    proxy_b64url_encode(sig, sl, s64, sizeof s64);
    snprintf(out, cap, "%s.%s", signing, s64);
}

/* ------------------------------------------------------------------------------------------- */
/* Policies */

typedef Agentgateway__Dev__Resource__Policy tp_policy_t;
typedef Agentgateway__Dev__Resource__TrafficPolicySpec tp_tps_t;

static inline tp_tps_t *tp_tps(int kind)
{
    tp_tps_t *t = ir_pb_alloc(sizeof *t);
    agentgateway__dev__resource__traffic_policy_spec__init(t);
    t->kind_case = kind;
    return t;
}

/* A policy with |key| and a target: "gw:<ns>/<name>[/<listener>]", "route:<ns>/<name>[/<rule>]",
 * "backend:<ns>/<name>[/<section>]", "svc:<ns>/<hostname>". */
static inline tp_policy_t *tp_policy(const char *key, const char *target)
{
    tp_policy_t *p = ir_pb_alloc(sizeof *p);
    agentgateway__dev__resource__policy__init(p);
    p->key = tu_strdup(key);
    Agentgateway__Dev__Resource__PolicyTarget *t = ir_pb_alloc(sizeof *t);
    agentgateway__dev__resource__policy_target__init(t);
    p->target = t;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", strchr(target, ':') + 1);
    char *ns = buf, *name = strchr(buf, '/');
    *name++ = '\0';
    char *sec = strchr(name, '/');
    if (sec)
        *sec++ = '\0';
    if (!strncmp(target, "gw:", 3)) {
        t->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_GATEWAY;
        t->gateway = ir_pb_alloc(sizeof *t->gateway);
        agentgateway__dev__resource__policy_target__gateway_target__init(t->gateway);
        t->gateway->name = tu_strdup(name);
        t->gateway->namespace_ = tu_strdup(ns);
        if (sec) {
            t->gateway->_listener_case =
                AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__GATEWAY_TARGET___LISTENER_LISTENER;
            t->gateway->listener = tu_strdup(sec);
        }
    } else if (!strncmp(target, "route:", 6)) {
        t->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_ROUTE;
        t->route = ir_pb_alloc(sizeof *t->route);
        agentgateway__dev__resource__policy_target__route_target__init(t->route);
        t->route->name = tu_strdup(name);
        t->route->namespace_ = tu_strdup(ns);
        t->route->kind = tu_strdup("HTTPRoute");
        if (sec) {
            t->route->_route_rule_case =
                AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__ROUTE_TARGET___ROUTE_RULE_ROUTE_RULE;
            t->route->route_rule = tu_strdup(sec);
        }
    } else if (!strncmp(target, "backend:", 8)) {
        t->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_BACKEND;
        t->backend = ir_pb_alloc(sizeof *t->backend);
        agentgateway__dev__resource__policy_target__backend_target__init(t->backend);
        t->backend->name = tu_strdup(name);
        t->backend->namespace_ = tu_strdup(ns);
        if (sec) {
            t->backend->_section_case =
                AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__BACKEND_TARGET___SECTION_SECTION;
            t->backend->section = tu_strdup(sec);
        }
    } else {
        t->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY_TARGET__KIND_SERVICE;
        t->service = ir_pb_alloc(sizeof *t->service);
        agentgateway__dev__resource__policy_target__service_target__init(t->service);
        t->service->namespace_ = tu_strdup(ns);
        t->service->hostname = tu_strdup(name);
    }
    return p;
}

static inline tp_policy_t *tp_traffic(tp_policy_t *p, tp_tps_t *t)
{
    p->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_TRAFFIC;
    p->traffic = t;
    return p;
}

static inline tp_policy_t *tp_backend(tp_policy_t *p,
                                      Agentgateway__Dev__Resource__BackendPolicySpec *b)
{
    p->kind_case = AGENTGATEWAY__DEV__RESOURCE__POLICY__KIND_BACKEND;
    p->backend = b;
    return p;
}

static inline const ir_obj_t *tp_seal(tp_policy_t *p)
{
    ir_err_t err;
    const ir_policy_t *x = ir_policy_new(p, "default/gw", &err);
    if (!x)
        fprintf(stderr, "tp_seal: %s\n", err.msg);
    return x ? ir_policy_obj(x) : NULL;
}

static inline Google__Protobuf__Duration *tp_dur(int64_t s, int32_t nanos)
{
    Google__Protobuf__Duration *d = ir_pb_alloc(sizeof *d);
    google__protobuf__duration__init(d);
    d->seconds = s;
    d->nanos = nanos;
    return d;
}

/* Traffic specs */
static inline tp_tps_t *tp_timeout_ms(int64_t ms)
{
    tp_tps_t *t = tp_tps(AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_TIMEOUT);
    t->timeout = ir_pb_alloc(sizeof *t->timeout);
    agentgateway__dev__resource__timeout__init(t->timeout);
    t->timeout->request = tp_dur(ms / 1000, (int32_t)(ms % 1000) * 1000000);
    return t;
}

static inline tp_tps_t *tp_ratelimit(uint64_t max, uint64_t per, int64_t interval_s)
{
    tp_tps_t *t = tp_tps(AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_LOCAL_RATE_LIMIT);
    t->local_rate_limit = ir_pb_alloc(sizeof *t->local_rate_limit);
    agentgateway__dev__resource__traffic_policy_spec__local_rate_limit__init(t->local_rate_limit);
    t->local_rate_limit->max_tokens = max;
    t->local_rate_limit->tokens_per_fill = per;
    t->local_rate_limit->fill_interval = tp_dur(interval_s, 0);
    return t;
}

static inline tp_tps_t *tp_jwt(int mode, const char *issuer, const char *aud, const char *jwks)
{
    tp_tps_t *t = tp_tps(AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_JWT);
    t->jwt = ir_pb_alloc(sizeof *t->jwt);
    agentgateway__dev__resource__traffic_policy_spec__jwt__init(t->jwt);
    t->jwt->mode = mode;
    Agentgateway__Dev__Resource__TrafficPolicySpec__JWTProvider *p = ir_pb_alloc(sizeof *p);
    agentgateway__dev__resource__traffic_policy_spec__jwtprovider__init(p);
    p->issuer = tu_strdup(issuer);
    if (aud)
        TU_PUSH(p->audiences, p->n_audiences, tu_strdup(aud));
    p->jwks_source_case =
        AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__JWTPROVIDER__JWKS_SOURCE_INLINE;
    p->inline_ = tu_strdup(jwks);
    TU_PUSH(t->jwt->providers, t->jwt->n_providers, p);
    return t;
}

static inline tp_tps_t *tp_basic(int mode, const char *htpasswd)
{
    tp_tps_t *t = tp_tps(AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_BASIC_AUTH);
    t->basic_auth = ir_pb_alloc(sizeof *t->basic_auth);
    agentgateway__dev__resource__traffic_policy_spec__basic_authentication__init(t->basic_auth);
    t->basic_auth->htpasswd_content = tu_strdup(htpasswd);
    t->basic_auth->mode = mode;
    t->basic_auth->_realm_case =
        AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__BASIC_AUTHENTICATION___REALM_REALM;
    t->basic_auth->realm = tu_strdup("test");
    return t;
}

/* API keys; |query| non-NULL: read from that query parameter instead of Authorization. */
static inline tp_tps_t *tp_apikey(int mode, const char *k1, const char *k2, const char *query)
{
    tp_tps_t *t = tp_tps(AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_API_KEY_AUTH);
    t->api_key_auth = ir_pb_alloc(sizeof *t->api_key_auth);
    Agentgateway__Dev__Resource__TrafficPolicySpec__APIKey *a = t->api_key_auth;
    agentgateway__dev__resource__traffic_policy_spec__apikey__init(a);
    a->mode = mode;
    const char *ks[2] = {k1, k2};
    for (int i = 0; i < 2; i++) {
        if (!ks[i])
            continue;
        Agentgateway__Dev__Resource__TrafficPolicySpec__APIKey__User *u = ir_pb_alloc(sizeof *u);
        agentgateway__dev__resource__traffic_policy_spec__apikey__user__init(u);
        u->key = tu_strdup(ks[i]);
        TU_PUSH(a->api_keys, a->n_api_keys, u);
    }
    if (query) {
        a->authorization_location = ir_pb_alloc(sizeof *a->authorization_location);
        agentgateway__dev__resource__authorization_location__init(a->authorization_location);
        a->authorization_location->kind_case =
            AGENTGATEWAY__DEV__RESOURCE__AUTHORIZATION_LOCATION__KIND_QUERY_PARAMETER;
        a->authorization_location->query_parameter =
            ir_pb_alloc(sizeof *a->authorization_location->query_parameter);
        agentgateway__dev__resource__authorization_location__query_parameter__init(
            a->authorization_location->query_parameter);
        a->authorization_location->query_parameter->name = tu_strdup(query);
    }
    return t;
}

static inline tp_tps_t *tp_set_header(int kind, const char *name, const char *value)
{
    tp_tps_t *t = tp_tps(kind);
    Agentgateway__Dev__Resource__HeaderModifier *m = ir_pb_alloc(sizeof *m);
    agentgateway__dev__resource__header_modifier__init(m);
    Agentgateway__Dev__Resource__Header *h = ir_pb_alloc(sizeof *h);
    agentgateway__dev__resource__header__init(h);
    h->name = tu_strdup(name);
    h->value = tu_strdup(value);
    TU_PUSH(m->set, m->n_set, h);
    if (kind == AGENTGATEWAY__DEV__RESOURCE__TRAFFIC_POLICY_SPEC__KIND_REQUEST_HEADER_MODIFIER)
        t->request_header_modifier = m;
    else
        t->response_header_modifier = m;
    return t;
}

/* A fuzz seed for tests/fuzz/fuzz_policy.c: |o| (a Policy Resource; taken) must encode and decode
 * back to an equal object; with KRTGATE_POLICY_SEEDS_DIR set it is written there as |name| (the
 * request-shape byte |shape|, then the Resource bytes; tests/fuzz/corpus/policy). */
static inline void tp_fuzz_seed(const char *name, int shape, const ir_obj_t *o)
{
    assert_non_null(o);
    size_t len;
    const uint8_t *w = ir_obj_wire(o, &len);
    const ir_obj_t *back = NULL;
    assert_int_equal(ir_obj_decode(IR_TYPE_URL_RESOURCE, w, len, "default/gw", &back, NULL), IR_OK);
    assert_true(krt_obj_equal(ir_obj_krt(o), ir_obj_krt(back)));
    ir_obj_release(back);
    const char *dir = getenv("KRTGATE_POLICY_SEEDS_DIR");
    if (dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputc(shape, f);
        fwrite(w, 1, len, f);
        fclose(f);
    }
    ir_obj_release(o);
}

#endif
