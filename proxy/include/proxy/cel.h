/*
 * CEL (Common Expression Language) for authorization rules: the subset agentgateway's
 * authorization expressions use, parsed once per config snapshot and evaluated per request,
 * sans-IO.
 *
 * Key decision: evaluation allocates nothing on the heap (except PCRE2's match data for
 * matches()). Intermediate lists, maps and strings live in a fixed scratch area on the C stack;
 * an expression that needs more gets an evaluation error, never an allocation. Request variables
 * are read in place (headers by a scan, JWT claims from the jansson object the JWT check made).
 * Embedding cel-cpp or cel-go was rejected: C++/Go runtimes for a few hundred lines of grammar.
 *
 * Language (https://github.com/google/cel-spec, langdef.md), as implemented here:
 *   literals   null, true, false, 12, -3, 0x1F, 12u, 1.5, 1e3, "s", 's', """s""", r"raw", b"x"
 *              (bytes are treated as strings), [a, b], {k: v}
 *   access     a.b, a["k"], a[0], has(a.b); a map's fields are its keys
 *   operators  ! - * / % + - == != < <= > >= in && || ?:
 *   functions  size(x) / x.size(), s.startsWith(t), s.endsWith(t), s.contains(t), s.matches(re)
 *              and matches(s, re) (PCRE2, unanchored like RE2; |re| must be a string literal,
 *              compiled once), s.lowerAscii(), s.upperAscii(), string(x), int(x), uint(x),
 *              double(x), l.exists(v, p), l.all(v, p), l.exists_one(v, p) (over a list's
 *              elements or a map's keys)
 * Semantics: && and || are commutative with error absorption (false && error is false, true ||
 * error is true, otherwise an error wins); a missing map key or field, an unknown variable,
 * integer overflow, division by zero and a type mismatch are errors; == between different
 * types is false; int, uint and double compare by value.
 *
 * A function CEL or agentgateway has and this subset does not (json(), cidr(), ...) is not a
 * syntax error: the expression compiles, proxy_cel_unsupported() names the function, and every
 * evaluation is an error (so a rule using it fails closed).
 *
 * Limits: an expression of at most PROXY_CEL_MAX_LEN bytes, nesting (parentheses, brackets,
 * and the tree's depth) at most PROXY_CEL_MAX_DEPTH.
 */
#ifndef PROXY_CEL_H
#define PROXY_CEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "net/h2.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROXY_CEL_MAX_LEN   4096
#define PROXY_CEL_MAX_DEPTH 64

typedef struct proxy_cel proxy_cel_t;

/* What an expression can read. Everything borrowed for the evaluation; a NULL field is a
 * variable the request does not have (reading it is an error, CEL's "no such key"). */
typedef struct proxy_cel_activation {
    /* request.method, .path (without query), .host (Host or :authority as received), .scheme;
     * request.uri = scheme://host path[?query], request.pathAndQuery */
    const char *method, *path, *query, *host, *scheme;
    const net_h2_header_t *headers; /* request.headers["name"] (lowercase names) */
    size_t nheaders;
    bool has_request; /* false: "request" is not a variable (network authorization) */
    /* source.address ("127.0.0.1", "::1") and source.port */
    const char *source_address;
    int source_port;        /* < 0: none */
    const json_t *jwt;      /* jwt.<claim>: the claims of the token the JWT policy validated */
    const char *basic_user; /* basicAuth.username */
    const char *api_key;    /* apiKey.key */
} proxy_cel_activation_t;

/* Compiles |src| (|len| bytes, need not be NUL-terminated). Returns: 0 with |*out| (owned by
 * caller, proxy_cel_free), or -1 with |err| ("col 12: expected ')'", columns from 1) and
 * |*out| NULL; -2 when out of memory. */
int proxy_cel_compile(const char *src, size_t len, proxy_cel_t **out, char *err, size_t cap);
void proxy_cel_free(proxy_cel_t *e); /* NULL is a no-op */

/* Returns: the first function the expression calls that this subset does not implement
 * ("cidr"), borrowed from |e|, or NULL. */
const char *proxy_cel_unsupported(const proxy_cel_t *e);

typedef enum proxy_cel_result {
    PROXY_CEL_FALSE = 0,
    PROXY_CEL_TRUE = 1,
    PROXY_CEL_ERROR = -1, /* an evaluation error, or a result that is not a bool */
} proxy_cel_result_t;

/* Evaluates |e| as a condition. Borrows both. |why| (may be NULL) gets the error message on
 * PROXY_CEL_ERROR ("no such key 'x-user'"). Reentrant; no heap allocation except for
 * matches(). */
proxy_cel_result_t proxy_cel_eval_bool(const proxy_cel_t *e, const proxy_cel_activation_t *a,
                                       char *why, size_t cap);

/* Evaluates |e| and writes its value as text (CEL-like: strings quoted, lists in brackets) to
 * |out|, or "error: <why>" (for tests and the fuzzer). Returns: the length written. */
size_t proxy_cel_eval_text(const proxy_cel_t *e, const proxy_cel_activation_t *a, char *out,
                           size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_CEL_H */
