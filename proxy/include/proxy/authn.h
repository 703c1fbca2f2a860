/*
 * Client authentication by shared secrets, sans-IO: HTTP basic authentication against htpasswd
 * content, and API keys (agentgateway's TrafficPolicySpec.basic_auth and api_key_auth).
 *
 * htpasswd hash formats accepted (one "user:hash" per line; blank lines and '#' comments skipped):
 *   $2a$ $2b$ $2y$  bcrypt (through crypt(3), libxcrypt)
 *   $apr1$          Apache MD5 (computed here with OpenSSL's MD5)
 *   {SHA}           base64 of SHA-1 of the password
 *   $1$ $5$ $6$     MD5-crypt, SHA-256-crypt, SHA-512-crypt (crypt(3))
 * Any other format (plain text, DES crypt) makes that user unable to log in, and so do bcrypt
 * costs above 12 and SHA-crypt rounds above 100000 (verification runs on the proxy's event loop);
 * proxy_htpasswd_warning names the first such line, so that it can be reported. A line without
 * "user:" is an error. The last password that verified for each user is remembered as a SHA-256
 * digest (a repeated good login costs one SHA-256; a wrong password always pays the full hash).
 */
#ifndef PROXY_AUTHN_H
#define PROXY_AUTHN_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proxy_htpasswd proxy_htpasswd_t;

/* Parses htpasswd |content| (|len| bytes). Returns: owned by caller (proxy_htpasswd_free), or
 * NULL with |err| (cap bytes) naming the line and what is wrong (also "out of memory"). */
proxy_htpasswd_t *proxy_htpasswd_parse(const char *content, size_t len, char *err, size_t cap);
void proxy_htpasswd_free(proxy_htpasswd_t *h); /* NULL is a no-op */
size_t proxy_htpasswd_count(const proxy_htpasswd_t *h);
/* Returns: a note naming the first entry that cannot log in (borrowed from |h|), or NULL. */
const char *proxy_htpasswd_warning(const proxy_htpasswd_t *h);

/* Returns: true when |user| is listed and |password| matches its hash. Borrows user and password;
 * updates |h|'s cache of verified passwords (single-threaded, like the proxy loop). */
bool proxy_htpasswd_check(proxy_htpasswd_t *h, const char *user, const char *password);

/* Decodes an Authorization value "Basic base64(user:password)" (scheme case-insensitive) into
 * |user| and |pass| (NUL-terminated). Returns: true on success, false when malformed or too long
 * for the buffers. */
bool proxy_basic_decode(const char *authorization, char *user, size_t ucap, char *pass,
                        size_t pcap);

/* Compares |key| (|len| bytes) with each of |keys| in time independent of where they differ.
 * Returns: the index of the matching key, or -1. */
long proxy_apikey_find(const char *const *keys, size_t nkeys, const char *key, size_t len);

/* Computes the $apr1$ hash of |password| with |salt| (up to 8 characters, stops at '$') into
 * |out| ("$apr1$salt$hash", at least 40 bytes). Returns: true, or false when |cap| is too small. */
bool proxy_apr1_hash(const char *password, const char *salt, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_AUTHN_H */
