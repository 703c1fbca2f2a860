/*
 * JWT authentication, sans-IO: compact JWS parsing (base64url, JSON header and claims through
 * jansson), JWKS parsing (RSA and EC P-256 public keys), signature verification through OpenSSL
 * EVP (RS256, RS384, RS512, ES256) and the claim checks agentgateway makes: exp and nbf with a
 * clock skew, iss, aud (string or array), required claims.
 *
 * A token is never trusted before its signature verifies; "alg":"none" and HMAC algorithms are
 * refused (a public JWKS cannot verify an HMAC, and accepting one would let anyone sign).
 */
#ifndef PROXY_JWT_H
#define PROXY_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Outcomes of proxy_jwt_verify, from one table. */
#define PROXY_JWT_ERRNO_MAP(XX)                            \
    XX(OK, 0, "valid")                                     \
    XX(EMALFORMED, -1, "malformed token")                  \
    XX(EALG, -2, "algorithm not allowed")                  \
    XX(ENOKEY, -3, "no key of the JWKS matches the token") \
    XX(ESIG, -4, "signature does not verify")              \
    XX(EEXPIRED, -5, "token expired")                      \
    XX(ENBF, -6, "token not yet valid")                    \
    XX(EISS, -7, "issuer not accepted")                    \
    XX(EAUD, -8, "audience not accepted")                  \
    XX(ECLAIM, -9, "required claim missing")               \
    XX(ENOMEM, -10, "out of memory")

enum {
#define PROXY__JWT_ENUM(name, code, msg) PROXY_JWT_##name = (code),
    PROXY_JWT_ERRNO_MAP(PROXY__JWT_ENUM)
#undef PROXY__JWT_ENUM
};

const char *proxy_jwt_strerror(int rc);

/* Clock skew allowed on exp and nbf (agentgateway's JWT library default). */
#define PROXY_JWT_SKEW_S 60
/* Longest token accepted. */
#define PROXY_JWT_MAX_LEN 16384

/* base64 (|url|: base64url) decoding, padding optional, no whitespace. Returns: the decoded
 * length, or -1 when malformed or longer than |cap|. */
long proxy_b64_decode(const char *in, size_t len, bool url, unsigned char *out, size_t cap);
/* base64url without padding into |out| (NUL-terminated). Returns: the length, or -1 if |cap| is too
 * small. */
long proxy_b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap);

typedef struct proxy_jwks proxy_jwks_t;

/* Parses a JWKS ({"keys":[...]}, or a single JWK object). RSA and EC P-256 keys are loaded; keys
 * of other kinds (oct, OKP, other curves) and keys whose "use" is not "sig" are skipped (they never
 * match a token; proxy_jwks_warning names the first kind skipped); an empty set is valid (it
 * matches no token: the translator sends one for a JWKS it cannot provide). A malformed key of a
 * supported kind is an error. Returns: owned by caller (proxy_jwks_free), or NULL with |err|
 * naming the key and what is wrong. */
proxy_jwks_t *proxy_jwks_parse(const char *json, size_t len, char *err, size_t cap);
void proxy_jwks_free(proxy_jwks_t *k); /* NULL is a no-op */
/* Returns: the number of keys loaded (possibly 0). */
size_t proxy_jwks_count(const proxy_jwks_t *k);
/* Returns: a note about keys skipped (borrowed from |k|), or NULL when none was. */
const char *proxy_jwks_warning(const proxy_jwks_t *k);

/* What a provider accepts. Strings borrowed. */
typedef struct proxy_jwt_rules {
    const char *issuer;           /* "" or NULL: any */
    const char *const *audiences; /* none: any */
    size_t naudiences;
    const char *const *required_claims;
    size_t nrequired;
    int64_t now; /* seconds since the epoch */
} proxy_jwt_rules_t;

/* Splits and decodes a compact JWS without verifying anything (the parser the fuzzer drives).
 * Returns: PROXY_JWT_OK with |*header| and |*claims| (owned by caller, json_decref) set, or
 * PROXY_JWT_EMALFORMED. |sig|/|sig_len| receive the decoded signature (may be NULL). */
int proxy_jwt_decode(const char *token, size_t len, json_t **header, json_t **claims,
                     unsigned char *sig, size_t sig_cap, size_t *sig_len);

/* Verifies |token| against |keys| and |r|. Borrows all. Returns: PROXY_JWT_OK with |*claims|
 * (may be NULL; owned by caller) set to the claims, or an error code. */
int proxy_jwt_verify(const proxy_jwks_t *keys, const char *token, size_t len,
                     const proxy_jwt_rules_t *r, json_t **claims);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_JWT_H */
