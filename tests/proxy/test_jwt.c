/*
 * proxy/jwt.c: tokens signed here with OpenSSL (RS256, RS384, ES256) verified against JWKS built
 * from the same keys; expired, not yet valid, wrong key, wrong algorithm, bad signature,
 * malformed, wrong issuer and audience, required claims; JWKS parsing errors; base64url.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy_test_util.h"

#define NOW 1700000000

static proxy_jwks_t *jwks(const char *pem1, const char *kid1, const char *pem2, const char *kid2)
{
    char j[8192], err[256];
    tk_jwks(pem1, kid1, pem2, kid2, j, sizeof j);
    proxy_jwks_t *k = proxy_jwks_parse(j, strlen(j), err, sizeof err);
    if (!k)
        fail_msg("jwks: %s", err);
    return k;
}

static int verify(const proxy_jwks_t *k, const char *tok, const char *iss, const char *aud)
{
    const char *auds[] = {aud};
    proxy_jwt_rules_t r = {iss, auds, aud ? 1 : 0, NULL, 0, NOW};
    return proxy_jwt_verify(k, tok, strlen(tok), &r, NULL);
}

static const char *CLAIMS = "{\"iss\":\"krt\",\"aud\":\"api\",\"sub\":\"u1\",\"exp\":1700000600}";

static void test_rs256_rs384_es256_tokens_verify(void **state)
{
    (void)state;
    proxy_jwks_t *k = jwks(TK_RSA1, "r1", TK_EC1, "e1");
    assert_int_equal(proxy_jwks_count(k), 2);
    char tok[4096];
    tk_sign(TK_RSA1, "RS256", "r1", CLAIMS, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "krt", "api"), PROXY_JWT_OK);
    tk_sign(TK_RSA1, "RS384", NULL, CLAIMS, tok, sizeof tok); /* no kid: every RSA key tried */
    assert_int_equal(verify(k, tok, "krt", "api"), PROXY_JWT_OK);
    tk_sign(TK_RSA1, "RS512", "r1", CLAIMS, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "", NULL), PROXY_JWT_OK);
    tk_sign(TK_EC1, "ES256", "e1", CLAIMS, tok, sizeof tok);
    json_t *claims = NULL;
    proxy_jwt_rules_t r = {"krt", NULL, 0, NULL, 0, NOW};
    assert_int_equal(proxy_jwt_verify(k, tok, strlen(tok), &r, &claims), PROXY_JWT_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "u1");
    json_decref(claims);
    proxy_jwks_free(k);
}

static void test_time_claims_with_skew(void **state)
{
    (void)state;
    proxy_jwks_t *k = jwks(TK_RSA1, NULL, NULL, NULL);
    char tok[4096], c[256];
    snprintf(c, sizeof c, "{\"iss\":\"krt\",\"exp\":%d}", NOW - 61);
    tk_sign(TK_RSA1, "RS256", NULL, c, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_EEXPIRED);
    snprintf(c, sizeof c, "{\"iss\":\"krt\",\"exp\":%d}", NOW - 30); /* within the skew */
    tk_sign(TK_RSA1, "RS256", NULL, c, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_OK);
    snprintf(c, sizeof c, "{\"iss\":\"krt\",\"nbf\":%d}", NOW + 120);
    tk_sign(TK_RSA1, "RS256", NULL, c, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_ENBF);
    snprintf(c, sizeof c, "{\"iss\":\"krt\",\"exp\":\"tomorrow\"}");
    tk_sign(TK_RSA1, "RS256", NULL, c, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_EMALFORMED);
    proxy_jwks_free(k);
}

static void test_wrong_key_alg_signature_issuer_audience(void **state)
{
    (void)state;
    proxy_jwks_t *k = jwks(TK_RSA1, "r1", NULL, NULL);
    char tok[4096];
    tk_sign(TK_RSA2, "RS256", NULL, CLAIMS, tok, sizeof tok); /* another key */
    assert_int_equal(verify(k, tok, "krt", "api"), PROXY_JWT_ESIG);
    tk_sign(TK_RSA2, "RS256", "other", CLAIMS, tok, sizeof tok); /* unknown kid */
    assert_int_equal(verify(k, tok, "krt", "api"), PROXY_JWT_ENOKEY);
    tk_sign(TK_EC1, "ES256", NULL, CLAIMS, tok, sizeof tok); /* no EC key in the set */
    assert_int_equal(verify(k, tok, "krt", "api"), PROXY_JWT_ENOKEY);
    tk_sign(TK_RSA1, "RS256", "r1", CLAIMS, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "someone-else", "api"), PROXY_JWT_EISS);
    assert_int_equal(verify(k, tok, "krt", "other-api"), PROXY_JWT_EAUD);
    const char *req[] = {"sub", "groups"};
    proxy_jwt_rules_t r = {"krt", NULL, 0, req, 2, NOW};
    assert_int_equal(proxy_jwt_verify(k, tok, strlen(tok), &r, NULL), PROXY_JWT_ECLAIM);
    r.nrequired = 1;
    assert_int_equal(proxy_jwt_verify(k, tok, strlen(tok), &r, NULL), PROXY_JWT_OK);
    /* a flipped signature byte */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s", tok);
    char *last = bad + strlen(bad) - 5;
    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(verify(k, bad, "krt", "api"), PROXY_JWT_ESIG);
    /* a changed claim under the original signature */
    char h64[256], c64[512];
    const char *forged = "{\"iss\":\"krt\",\"aud\":\"api\",\"sub\":\"admin\",\"exp\":1700000600}";
    proxy_b64url_encode((const unsigned char *)forged, strlen(forged), c64, sizeof c64);
    snprintf(h64, sizeof h64, "%.*s", (int)(strchr(tok, '.') - tok), tok);
    snprintf(bad, sizeof bad, "%s.%s%s", h64, c64, strrchr(tok, '.'));
    assert_int_equal(verify(k, bad, "krt", "api"), PROXY_JWT_ESIG);
    proxy_jwks_free(k);
}

static void test_alg_none_hmac_and_mismatched_kty_refused(void **state)
{
    (void)state;
    proxy_jwks_t *k = jwks(TK_RSA1, NULL, TK_EC1, NULL);
    char h64[256], c64[512], tok[1024];
    const char *hs[] = {"{\"alg\":\"none\"}", "{\"alg\":\"HS256\"}", "{}", "{\"alg\":7}"};
    proxy_b64url_encode((const unsigned char *)CLAIMS, strlen(CLAIMS), c64, sizeof c64);
    for (size_t i = 0; i < 4; i++) {
        proxy_b64url_encode((const unsigned char *)hs[i], strlen(hs[i]), h64, sizeof h64);
        snprintf(tok, sizeof tok, "%s.%s.", h64, c64);
        assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_EALG);
        snprintf(tok, sizeof tok, "%s.%s.c2ln", h64, c64);
        assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_EALG);
    }
    /* an RSA signature presented as ES256 is checked against EC keys only */
    char t2[4096];
    tk_sign(TK_RSA1, "RS256", NULL, CLAIMS, t2, sizeof t2);
    const char *es = "{\"alg\":\"ES256\"}";
    proxy_b64url_encode((const unsigned char *)es, strlen(es), h64, sizeof h64);
    snprintf(tok, sizeof tok, "%s%s", h64, strchr(t2, '.'));
    assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_ESIG);
    proxy_jwks_free(k);
}

static void test_malformed_tokens(void **state)
{
    (void)state;
    proxy_jwks_t *k = jwks(TK_RSA1, NULL, NULL, NULL);
    const char *bad[] = {"",
                         ".",
                         "..",
                         "a.b.c",
                         "abc",
                         "e30.e30",
                         "e30.e30.e30.e30",
                         "e30.!!!.sig",
                         "W10.e30.", /* header is an array */
                         "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln" /* claims not JSON */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify(k, bad[i], "krt", NULL), PROXY_JWT_EMALFORMED);
    char big[PROXY_JWT_MAX_LEN + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(verify(k, big, "krt", NULL), PROXY_JWT_EMALFORMED);
    proxy_jwks_free(k);
}

static void test_jwks_errors_name_the_key(void **state)
{
    (void)state;
    char err[256];
    struct {
        const char *json, *want;
    } cases[] = {
        {"not json", "not JSON"},
        {"{\"keys\":5}", "no \"keys\""},
        {"{\"keys\":[{}]}", "not an object with \"kty\""},
        {"{\"keys\":[{\"kid\":\"x\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "kid \"x\""},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}", "32-byte"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
         "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
         "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
         "rejected by OpenSSL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_null(proxy_jwks_parse(cases[i].json, strlen(cases[i].json), err, sizeof err));
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
    }
    /* a single JWK object is accepted */
    char one[2048];
    tk_jwk(TK_EC1, NULL, one, sizeof one);
    proxy_jwks_t *k = proxy_jwks_parse(one, strlen(one), err, sizeof err);
    assert_non_null(k);
    assert_int_equal(proxy_jwks_count(k), 1);
    assert_null(proxy_jwks_warning(k));
    proxy_jwks_free(k);
}

static void test_jwks_skips_unsupported_keys_and_may_be_empty(void **state)
{
    (void)state;
    char err[256], j[4096], rsa[2048];
    /* the translator's "no keys" set: valid, matches no token */
    proxy_jwks_t *k = proxy_jwks_parse("{\"keys\":[]}", 11, err, sizeof err);
    assert_non_null(k);
    assert_int_equal(proxy_jwks_count(k), 0);
    char tok[4096];
    tk_sign(TK_RSA1, "RS256", NULL, CLAIMS, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "krt", NULL), PROXY_JWT_ENOKEY);
    proxy_jwks_free(k);
    /* OKP, oct, P-384 and "enc" keys are skipped; the RSA key next to them works */
    tk_jwk(TK_RSA1, "r1", rsa, sizeof rsa);
    snprintf(j, sizeof j,
             "{\"keys\":[{\"kid\":\"ed\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"},"
             "{\"kty\":\"oct\",\"k\":\"AAAA\"},{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\","
             "\"y\":\"AA\"},"
             "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},%s]}",
             rsa);
    k = proxy_jwks_parse(j, strlen(j), err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    assert_int_equal(proxy_jwks_count(k), 1);
    assert_non_null(strstr(proxy_jwks_warning(k), "keys[0] (kid \"ed\"): kty \"OKP\""));
    tk_sign(TK_RSA1, "RS256", "r1", CLAIMS, tok, sizeof tok);
    assert_int_equal(verify(k, tok, "krt", "api"), PROXY_JWT_OK);
    proxy_jwks_free(k);
}

static void test_base64url_round_trip(void **state)
{
    (void)state;
    unsigned char in[64], out[64];
    char enc[128];
    for (size_t n = 0; n < sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(i * 37 + n);
        long el = proxy_b64url_encode(in, n, enc, sizeof enc);
        assert_true(el >= 0 && !strchr(enc, '=') && !strchr(enc, '+') && !strchr(enc, '/'));
        assert_int_equal(proxy_b64_decode(enc, (size_t)el, true, out, sizeof out), (long)n);
        assert_memory_equal(in, out, n);
    }
    assert_int_equal(proxy_b64_decode("a", 1, true, out, sizeof out), -1);
    assert_int_equal(proxy_b64_decode("ab+/", 4, true, out, sizeof out), -1);
    assert_int_equal(proxy_b64_decode("ab+/", 4, false, out, sizeof out), 3);
    assert_int_equal(proxy_b64_decode("AAAA", 4, false, out, 2), -1); /* cap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256_rs384_es256_tokens_verify),
        cmocka_unit_test(test_time_claims_with_skew),
        cmocka_unit_test(test_wrong_key_alg_signature_issuer_audience),
        cmocka_unit_test(test_alg_none_hmac_and_mismatched_kty_refused),
        cmocka_unit_test(test_malformed_tokens),
        cmocka_unit_test(test_jwks_errors_name_the_key),
        cmocka_unit_test(test_jwks_skips_unsupported_keys_and_may_be_empty),
        cmocka_unit_test(test_base64url_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
