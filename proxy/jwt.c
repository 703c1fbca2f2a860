/*
 * JWT verification (proxy/jwt.h).
 *
 * Key decision: keys are turned into OpenSSL EVP_PKEYs once, when the JWKS is parsed (per config
 * snapshot), and a request only splits the token, decodes two small JSON objects and runs one
 * EVP_DigestVerify. Verification comes first and the claims are only trusted after it; the
 * header's "alg" must be one we allow and must agree with the key ("kty", and the JWK's own
 * "alg" when it has one), which closes the classic algorithm-confusion holes. A JWT library was
 * rejected: Debian's C options pull in more than this needs, and the parsing is small enough to
 * fuzz whole (tests/fuzz/fuzz_jwt.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "proxy/jwt.h"

const char *proxy_jwt_strerror(int rc)
{
    switch (rc) {
#define PROXY__JWT_STR(name, code, msg) \
    case (code):                        \
        return msg;
        PROXY_JWT_ERRNO_MAP(PROXY__JWT_STR)
#undef PROXY__JWT_STR
    default:
        return "unknown error";
    }
}

static int b64val(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

long proxy_b64_decode(const char *in, size_t len, bool url, unsigned char *out, size_t cap)
{
    while (len && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i], url);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

long proxy_b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t need = (len * 4 + 2) / 3;
    if (need + 1 > cap)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < len)
            out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
    return (long)o;
}

/* ------------------------------------------------------------------------------------------- */
/* JWKS */

enum { KTY_RSA = 1, KTY_EC = 2 };

typedef struct jwk {
    char *kid; /* NULL if none */
    char *alg; /* NULL if none */
    int kty;
    EVP_PKEY *pkey;
} jwk_t;

struct proxy_jwks {
    jwk_t *v;
    size_t n;
    size_t skipped;    /* keys of a kind not supported */
    char warning[200]; /* the first of them, "" if none */
};

void proxy_jwks_free(proxy_jwks_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].kid);
        free(k->v[i].alg);
        EVP_PKEY_free(k->v[i].pkey);
    }
    free(k->v);
    free(k);
}

size_t proxy_jwks_count(const proxy_jwks_t *k)
{
    return k->n;
}

const char *proxy_jwks_warning(const proxy_jwks_t *k)
{
    return k->warning[0] ? k->warning : NULL;
}

/* A base64url member of |o| decoded into |buf|. Returns the length, or -1. */
static long member_b64(json_t *o, const char *name, unsigned char *buf, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? proxy_b64_decode(s, strlen(s), true, buf, cap) : -1;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_key(json_t *o, const char **why)
{
    unsigned char n[1024], e[16];
    long nl = member_b64(o, "n", n, sizeof n), el = member_b64(o, "e", e, sizeof e);
    if (nl < 0 || el <= 0) {
        *why = "RSA key needs base64url \"n\" and \"e\" (n up to 8192 bits)";
        return NULL;
    }
    if (nl < 128) {
        *why = "RSA modulus shorter than 1024 bits";
        return NULL;
    }
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = pkey_fromdata("RSA", bld);
    if (!pkey)
        *why = "RSA key rejected by OpenSSL";
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pkey;
}

static EVP_PKEY *ec_key(json_t *o, const char **why)
{
    unsigned char x[40], y[40], pub[65];
    long xl = member_b64(o, "x", x, sizeof x), yl = member_b64(o, "y", y, sizeof y);
    if (xl != 32 || yl != 32) {
        *why = "EC key needs 32-byte base64url \"x\" and \"y\"";
        return NULL;
    }
    pub[0] = 0x04;
    memcpy(pub + 1, x, 32);
    memcpy(pub + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
        pkey = pkey_fromdata("EC", bld);
    if (!pkey)
        *why = "EC key rejected by OpenSSL (not a point on P-256?)";
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

proxy_jwks_t *proxy_jwks_parse(const char *json, size_t len, char *err, size_t cap)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, cap, "JWKS is not JSON (line %d: %s)", je.line, je.text);
        return NULL;
    }
    json_t *keys = json_object_get(root, "keys");
    json_t *single = NULL;
    if (!keys && json_is_object(root) && json_object_get(root, "kty")) {
        single = json_array();
        json_array_append(single, root);
        keys = single;
    }
    proxy_jwks_t *k = calloc(1, sizeof *k);
    if (!json_is_array(keys) || !k) {
        snprintf(err, cap, k ? "JWKS has no \"keys\" array" : "out of memory");
        goto fail;
    }
    size_t nk = json_array_size(keys);
    if (!(k->v = calloc(nk + 1, sizeof *k->v))) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nk; i++) {
        json_t *o = json_array_get(keys, i);
        const char *kty = json_string_value(json_object_get(o, "kty"));
        const char *use = json_string_value(json_object_get(o, "use"));
        const char *kid = json_string_value(json_object_get(o, "kid"));
        const char *alg = json_string_value(json_object_get(o, "alg"));
        const char *why = NULL;
        if (!json_is_object(o) || !kty) {
            snprintf(err, cap, "JWKS keys[%zu]: not an object with \"kty\"", i);
            goto fail;
        }
        if (use && strcmp(use, "sig") != 0)
            continue;
        const char *crv = json_string_value(json_object_get(o, "crv"));
        bool rsa = !strcmp(kty, "RSA"), ec = !strcmp(kty, "EC") && crv && !strcmp(crv, "P-256");
        if (!rsa && !ec) { /* another kind (OKP, oct, P-384, ...): skipped, never matches */
            if (!k->skipped++)
                snprintf(k->warning, sizeof k->warning,
                         "JWKS keys[%zu]%s%s%s: kty \"%.16s\"%s%.16s not supported (RSA or EC "
                         "P-256), skipped",
                         i, kid ? " (kid \"" : "", kid ? kid : "", kid ? "\")" : "", kty,
                         crv ? " crv " : "", crv ? crv : "");
            continue;
        }
        jwk_t *j = &k->v[k->n];
        j->kty = rsa ? KTY_RSA : KTY_EC;
        j->pkey = rsa ? rsa_key(o, &why) : ec_key(o, &why);
        if (!j->pkey) {
            snprintf(err, cap, "JWKS keys[%zu]%s%s%s: %s", i, kid ? " (kid \"" : "", kid ? kid : "",
                     kid ? "\")" : "", why);
            goto fail;
        }
        k->n++;
        if ((kid && !(j->kid = strdup(kid))) || (alg && !(j->alg = strdup(alg)))) {
            snprintf(err, cap, "out of memory");
            goto fail;
        }
    }
    json_decref(single);
    json_decref(root);
    return k;
fail:
    proxy_jwks_free(k);
    json_decref(single);
    json_decref(root);
    return NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* Tokens */

static json_t *segment_json(const char *s, size_t len)
{
    if (len > PROXY_JWT_MAX_LEN)
        return NULL;
    unsigned char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    long n = proxy_b64_decode(s, len, true, buf, len);
    json_t *j =
        n > 0 ? json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int proxy_jwt_decode(const char *token, size_t len, json_t **header, json_t **claims,
                     unsigned char *sig, size_t sig_cap, size_t *sig_len)
{
    *header = *claims = NULL;
    if (len == 0 || len > PROXY_JWT_MAX_LEN)
        return PROXY_JWT_EMALFORMED;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return PROXY_JWT_EMALFORMED; /* exactly three segments (JWE has five) */
    json_t *h = segment_json(token, (size_t)(d1 - token));
    json_t *c = h ? segment_json(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
    long sl = 0;
    if (sig) {
        sl = proxy_b64_decode(d2 + 1, len - (size_t)(d2 + 1 - token), true, sig, sig_cap);
        if (sig_len)
            *sig_len = sl > 0 ? (size_t)sl : 0;
    }
    if (!h || !c || sl < 0) {
        json_decref(h);
        json_decref(c);
        return PROXY_JWT_EMALFORMED;
    }
    *header = h;
    *claims = c;
    return PROXY_JWT_OK;
}

typedef struct alg {
    const char *name;
    int kty;
    const char *md;
} alg_t;

static const alg_t algs[] = {{"RS256", KTY_RSA, "SHA256"},
                             {"RS384", KTY_RSA, "SHA384"},
                             {"RS512", KTY_RSA, "SHA512"},
                             {"ES256", KTY_EC, "SHA256"}};

static bool sig_verify(const jwk_t *k, const alg_t *a, const unsigned char *data, size_t dlen,
                       const unsigned char *sig, size_t slen)
{
    unsigned char der[80];
    const unsigned char *s = sig;
    size_t sl = slen;
    if (a->kty == KTY_EC) { /* JWS carries r||s; OpenSSL wants DER */
        if (slen != 64)
            return false;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !ss || !ECDSA_SIG_set0(es, r, ss)) {
            BN_free(r);
            BN_free(ss);
            ECDSA_SIG_free(es);
            return false;
        }
        unsigned char *p = der;
        int n = i2d_ECDSA_SIG(es, NULL);
        if (n <= 0 || (size_t)n > sizeof der) {
            ECDSA_SIG_free(es);
            return false;
        }
        n = i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        s = der;
        sl = (size_t)n;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit_ex(ctx, NULL, a->md, NULL, NULL, k->pkey, NULL) == 1 &&
              EVP_DigestVerify(ctx, s, sl, data, dlen) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static bool num_claim(json_t *claims, const char *name, int64_t *v, bool *bad)
{
    json_t *j = json_object_get(claims, name);
    if (!j)
        return false;
    if (json_is_integer(j))
        *v = (int64_t)json_integer_value(j);
    else if (json_is_real(j) && json_real_value(j) > -9e18 && json_real_value(j) < 9e18)
        *v = (int64_t)json_real_value(j);
    else
        *bad = true;
    return !*bad;
}

int proxy_jwt_verify(const proxy_jwks_t *keys, const char *token, size_t len,
                     const proxy_jwt_rules_t *r, json_t **claims_out)
{
    if (claims_out)
        *claims_out = NULL;
    json_t *h, *c;
    unsigned char sig[1100];
    size_t slen = 0;
    int rc = proxy_jwt_decode(token, len, &h, &c, sig, sizeof sig, &slen);
    if (rc != PROXY_JWT_OK)
        return rc;
    const char *an = json_string_value(json_object_get(h, "alg"));
    const char *kid = json_string_value(json_object_get(h, "kid"));
    const alg_t *a = NULL;
    for (size_t i = 0; an && i < sizeof algs / sizeof algs[0]; i++)
        if (!strcmp(an, algs[i].name))
            a = &algs[i];
    if (!a) {
        rc = PROXY_JWT_EALG;
        goto out;
    }
    size_t dlen = 0; /* the signed part: header.claims */
    for (size_t i = 0, dots = 0; i < len; i++)
        if (token[i] == '.' && ++dots == 2) {
            dlen = i;
            break;
        }
    rc = PROXY_JWT_ENOKEY;
    for (size_t i = 0; i < keys->n; i++) {
        const jwk_t *k = &keys->v[i];
        if (k->kty != a->kty || (kid && k->kid && strcmp(kid, k->kid) != 0) ||
            (k->alg && strcmp(k->alg, a->name) != 0))
            continue;
        if (sig_verify(k, a, (const unsigned char *)token, dlen, sig, slen)) {
            rc = PROXY_JWT_OK;
            break;
        }
        rc = PROXY_JWT_ESIG;
    }
    if (rc != PROXY_JWT_OK)
        goto out;
    /* the claims are trusted from here on */
    int64_t v;
    bool bad = false;
    if (num_claim(c, "exp", &v, &bad) && r->now > v + PROXY_JWT_SKEW_S)
        rc = PROXY_JWT_EEXPIRED;
    else if (!bad && num_claim(c, "nbf", &v, &bad) && r->now + PROXY_JWT_SKEW_S < v)
        rc = PROXY_JWT_ENBF;
    if (bad)
        rc = PROXY_JWT_EMALFORMED;
    if (rc != PROXY_JWT_OK)
        goto out;
    if (r->issuer && r->issuer[0]) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (!iss || strcmp(iss, r->issuer) != 0) {
            rc = PROXY_JWT_EISS;
            goto out;
        }
    }
    if (r->naudiences) {
        json_t *aud = json_object_get(c, "aud");
        bool ok = false;
        for (size_t i = 0; i < r->naudiences && !ok; i++) {
            if (json_is_string(aud))
                ok = !strcmp(json_string_value(aud), r->audiences[i]);
            for (size_t j = 0; json_is_array(aud) && j < json_array_size(aud) && !ok; j++) {
                const char *s = json_string_value(json_array_get(aud, j));
                ok = s && !strcmp(s, r->audiences[i]);
            }
        }
        if (!ok) {
            rc = PROXY_JWT_EAUD;
            goto out;
        }
    }
    for (size_t i = 0; i < r->nrequired; i++)
        if (!json_object_get(c, r->required_claims[i])) {
            rc = PROXY_JWT_ECLAIM;
            goto out;
        }
    if (claims_out) {
        *claims_out = c;
        c = NULL;
    }
out:
    json_decref(h);
    json_decref(c);
    return rc;
}
