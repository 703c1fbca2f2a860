/*
 * libFuzzer target for the credential parsers of proxy/: the first byte picks one, the rest is
 * its input:
 *   0  a JWT verified against a fixed JWKS (an RSA and a P-256 key; seeds signed with them), with
 *      issuer, audience and a required claim, at a fixed time; then decoded without verifying
 *   1  a JWKS (proxy_jwks_parse)
 *   2  htpasswd content (proxy_htpasswd_parse, then a password check for its first user name)
 *   3  an Authorization value for basic authentication (proxy_basic_decode)
 * Any crash, sanitizer report or abort() is a bug; rejected input is fine.
 * Seeds: tests/fuzz/corpus/jwt (tokens made with the openssl CLI from the keys of
 * tests/proxy/policy_test_util.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/authn.h"
#include "proxy/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

static const char JWKS[] =
    "{\"keys\":[{\"kid\":\"r1\",\"kty\":\"RSA\",\"n\":"
    "\"zcIFkVedeQhSZKAk6e979QkTP1FCw3a4QMFQa3U2BO23FrfDNd-"
    "u8sM1gXaWe0mFIFD4zM5JsZrYhE1OELTiVPMlp1fnc-"
    "7yEpyfisNQ6HmJw5yEEkSUNjvEh50RCfjWWHBKrEaKYb5ePbHyalhACxMh3ayxae9aQFFcRcWoXAUuvLaGkRNgrnL_"
    "Jh5bIewETTP0YaZW4SWrlv3_WukThHnMCNizsb1l1xo8tAretfzEn577QzxJnXcUaH43sK5quT-VPcEdHRRqXQYfoi-"
    "o2YNRAnn3KV5XLE0WWbwk2HTne-ABWDsGwJhbB057fuzpp0W8x0ytGYXvzDgp2Fs36w\",\"e\":\"AQAB\"},{"
    "\"kid\":\"e1\",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"-800aZDaWalz-k7jgBFG9obeCWmM-"
    "L4YofxU7rMmyms\",\"y\":\"Q_1YKPIKCxbCmVFJQ3fykXQOY_AtqXQ_6b2cKxj3ASI\"}]}";

static proxy_jwks_t *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (!keys) {
        keys = proxy_jwks_parse(JWKS, strlen(JWKS), err, sizeof err);
        CHECK(keys && proxy_jwks_count(keys) == 2);
    }
    if (size < 1)
        return 0;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] & 3) {
    case 0: {
        const char *aud[] = {"api"}, *req[] = {"sub"};
        proxy_jwt_rules_t r = {"krt", aud, 1, req, 1, 1700000000};
        json_t *claims = NULL;
        int rc = proxy_jwt_verify(keys, in, n, &r, &claims);
        CHECK(rc <= 0 && rc >= PROXY_JWT_ENOMEM);
        CHECK((rc == PROXY_JWT_OK) == (claims != NULL));
        CHECK(proxy_jwt_strerror(rc)[0]);
        json_decref(claims);
        json_t *h = NULL, *c = NULL;
        unsigned char sig[512];
        size_t sl = 0;
        if (proxy_jwt_decode(in, n, &h, &c, sig, sizeof sig, &sl) == PROXY_JWT_OK) {
            CHECK(json_is_object(h) && json_is_object(c) && sl <= sizeof sig);
        } else {
            CHECK(!h && !c);
        }
        json_decref(h);
        json_decref(c);
        break;
    }
    case 1: {
        proxy_jwks_t *k = proxy_jwks_parse(in, n, err, sizeof err);
        CHECK(k != NULL || err[0] != '\0'); /* an empty set is valid */
        if (k && proxy_jwks_warning(k))
            (void)strlen(proxy_jwks_warning(k));
        proxy_jwks_free(k);
        break;
    }
    case 2: {
        proxy_htpasswd_t *h = proxy_htpasswd_parse(in, n, err, sizeof err);
        if (h) {
            char user[64] = "";
            const char *colon = memchr(in, ':', n < 63 ? n : 63);
            if (colon)
                memcpy(user, in, (size_t)(colon - in));
            (void)proxy_htpasswd_check(h, user, "open sesame");
        } else {
            CHECK(err[0] != '\0');
        }
        proxy_htpasswd_free(h);
        break;
    }
    default: {
        char *s = malloc(n + 1), u[64], p[64];
        CHECK(s);
        memcpy(s, in, n);
        s[n] = '\0';
        if (proxy_basic_decode(s, u, sizeof u, p, sizeof p))
            CHECK(strlen(u) < sizeof u && strlen(p) < sizeof p);
        free(s);
        break;
    }
    }
    return 0;
}
