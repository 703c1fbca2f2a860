/*
 * Policy enforcement: agentgateway Policy resources (ir/policy.h) applied to requests.
 *
 * Policies arrive unflattened, each one feature attached to one target; the proxy works out which
 * ones apply to a request. Per config snapshot (never per request) every Policy is validated and
 * compiled (JWKS keys, htpasswd entries, token buckets, upstream TLS contexts), and for every
 * route rule and each of its backendRefs the effective set is computed: one policy per kind.
 *
 * Precedence (agentgateway's, docs/proxy.md "Policies"), from least to most specific:
 *   gateway < listener (Gateway sectionName/port, ListenerSet) < Service < Backend <
 *   sub-backend (Backend section) < route < route rule
 * Traffic policies can attach at gateway, listener, route and rule; backend policies at every
 * level. For each policy kind separately the most specific attachment replaces the less specific
 * ones (kinds never merge field by field; different kinds compose), except authorization: every
 * authorization policy attached at any level composes, as agentgateway composes rule sets so a
 * broader deny is never erased (traffic ones up to the first OVERRIDE one, least specific
 * first). A policy whose inheritance is
 * OVERRIDE beats every non-OVERRIDE one of its kind, and among OVERRIDE ones the least specific
 * wins (a gateway owner's override cannot be undone by a route owner). Ties at one level go to
 * the first policy by key. Route filters carried inside the Route itself (Route.traffic_policies,
 * RouteBackend.backend_policies) are more specific than any attached Policy.
 *
 * What is accepted but cannot work (a provider with no usable key or without inline JWKS, users
 * with unusable hashes) fails closed and is listed by proxy_policy_dump_warnings.
 *
 * Validation (the change set is rejected whole, naming the policy and field):
 *   P1 a JWT provider's inline JWKS is JSON with a "keys" array, and each RSA or EC P-256 key in
 *      it loads (keys of other kinds are skipped, an empty set accepts no token)
 *   P2 htpasswd content is "user:hash" lines (an unusable hash only locks that user out)
 *   P3 a local rate limit has max_tokens > 0, a fill_interval > 0 and tokens_per_fill <=
 *      max_tokens (for each rule too)
 *   P4 a backend TLS policy's certificate, key and root CA load (OpenSSL)
 *   P5 backend_tcp / backend_http values can be applied (durations, keepalive bounds, version)
 *   P6 every CEL rule of an authorization or network authorization policy parses
 *      (proxy/cel.h; a function the subset lacks is accepted, reported, and fails closed)
 *
 * Request time (proxy/http.c calls these, sans-IO):
 *   proxy_policy_route        after routing: fills the route filters (proxy/filters.h) the
 *                             route does not set itself from policies (header modifiers,
 *                             timeout, retry, direct response, redirect, URL rewrite, mirrors,
 *                             CORS)
 *   proxy_policy_authorize    then authentication (JWT, API key, basic), ext_authz (not
 *                             implemented: fails closed unless its failure mode allows),
 *                             authorization (CEL allow/deny/require rules, 403), the local rate
 *                             limit, ext_proc (not implemented: 500 unless FAIL_OPEN)
 *   proxy_policy_on_backend   after the backendRef is chosen: 501 for backends the proxy does
 *                             not serve (AI, MCP, AWS, guardrail, model router; A2A services),
 *                             the endpoint of a dynamic forward proxy Backend (the Host),
 *                             backend-level filters
 *   proxy_policy_on_upstream  on the upstream request head: backend auth (passthrough, static
 *                             key), host rewrite, the credentials the proxy consumed removed,
 *                             the upstream TLS context and SNI (backend TLS)
 */
#ifndef PROXY_POLICY_H
#define PROXY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/tls.h"
#include "proxy/config.h"
#include "proxy/filters.h"
#include "proxy/router.h"
#include "proxy/upstream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Attachment levels, least specific first. */
typedef enum proxy_policy_level {
    PROXY_POLICY_GATEWAY = 0,
    PROXY_POLICY_LISTENER = 1,
    PROXY_POLICY_SERVICE = 2,
    PROXY_POLICY_BACKEND = 3,
    PROXY_POLICY_SUBBACKEND = 4,
    PROXY_POLICY_ROUTE = 5,
    PROXY_POLICY_RULE = 6,
} proxy_policy_level_t;

/* One request as the policies see it. Everything borrowed for the call. */
typedef struct proxy_policy_req {
    const proxy_snapshot_t *snap;
    const proxy_route_match_t *rm; /* a successful match */
    const char *method, *path, *query;
    const char *host;               /* Host or :authority as received (may carry a port) */
    const net_h2_header_t *headers; /* the client's fields */
    size_t nheaders;
    uint64_t now_ms;  /* monotonic milliseconds (rate limits) */
    int64_t now_unix; /* wall-clock seconds (JWT exp / nbf) */
    const char *peer; /* "ip:port" of the client connection (CEL source.*), NULL if unknown */
} proxy_policy_req_t;

/* What the policies decided; proxy_policy_on_request initialises it. It holds heap memory
 * only when |status| is set (then proxy_policy_result_dispose it after answering). */
typedef struct proxy_policy_result {
    int status; /* 0: go on; else answer with this status, |body| and |headers| */
    char body[256];
    proxy_headers_t headers; /* extra response fields: WWW-Authenticate, Retry-After, ... */
    long route;              /* route index in the snapshot, -1 when unknown */
    const void *backend_set; /* the effective backend set (internal) */
    const char *strip[3];    /* request fields the proxy consumed (credentials) */
    /* The effective CORS policy (borrowed from the snapshot), NULL if none: for the CORS filter,
     * which answers preflights and decorates responses (route CORS filters win). */
    const Agentgateway__Dev__Resource__CORS *cors;
    /* A dynamic forward proxy Backend: the endpoint is the request's Host (port 80 if none). */
    bool dynamic;
    proxy_endpoint_t endpoint;
    size_t credential_len; /* > 0: the client's validated JWT (for backend auth passthrough) */
    char credential[16385];
} proxy_policy_result_t;

void proxy_policy_result_dispose(proxy_policy_result_t *r);

/* Initialises |out| for the routed request and fills the absent fields of |f|
 * (proxy_filters_collect first) from the route's effective traffic policies; |out->cors| gets the
 * effective CORS policy. Returns: PROXY_OK. */
int proxy_policy_route(const proxy_policy_req_t *req, proxy_filters_t *f,
                       proxy_policy_result_t *out);
/* Then authentication (JWT, API key, basic) and the local rate limit. A CORS preflight is
 * answered between the two calls (it carries no credentials). Returns: PROXY_OK (see
 * |out->status|), or PROXY_ENOMEM. */
int proxy_policy_authorize(const proxy_policy_req_t *req, proxy_policy_result_t *out);
/* Frontend network_authorization: may a connection from |peer| ("ip:port", "[::1]:port") to
 * Bind |bind_key| proceed? Every such policy attached to the Gateway of one of the Bind's
 * Listeners applies, merged as agentgateway merges rule sets (any deny denies, every require
 * must hold, one allow must hold when there are allow rules); the rules see source.address and
 * source.port only. Borrows all. Returns: true to proceed; false with |why| (may be NULL) naming
 * the policy and the rule. */
bool proxy_policy_connection_allowed(const proxy_snapshot_t *s, const char *bind_key,
                                     const char *peer, char *why, size_t cap);
/* Both of the above. */
int proxy_policy_on_request(const proxy_policy_req_t *req, proxy_filters_t *f,
                            proxy_policy_result_t *out);

/* After the backendRef |rb| (borrowed from the route) was chosen, and |f| recollected with it:
 * fills |f|'s absent backend fields from backend policies, and sets |out->status| to 501 when
 * the backend is of a kind the proxy does not serve. Call it also when resolving |rb| failed:
 * for a dynamic forward proxy Backend it then sets |out->dynamic| and |out->endpoint| (or 400
 * when the request has no usable Host). */
int proxy_policy_on_backend(const proxy_policy_req_t *req,
                            const Agentgateway__Dev__Resource__RouteBackend *rb, proxy_filters_t *f,
                            proxy_policy_result_t *out);

/* Edits the upstream request fields |h|: removes consumed credentials, applies backend auth,
 * and with a host rewrite (AUTO) sets |*host| to the endpoint's host. Sets |*tls| (borrowed from
 * the snapshot; NULL: plaintext) and |*sni| (NULL: the endpoint host) for backend TLS.
 * Returns: PROXY_OK or PROXY_ENOMEM. */
int proxy_policy_on_upstream(const proxy_policy_req_t *req, const proxy_policy_result_t *res,
                             const proxy_endpoint_t *ep, proxy_headers_t *h, const char **host,
                             net_tls_ctx_t **tls, const char **sni);

/* Applies the effective backend_http, backend_tcp and backend_tls policies of |res| to the
 * connection settings of |ep| (call after proxy_policy_on_upstream): the HTTP version (HTTP1
 * clears ep->h2c, HTTP2 sets it), the connect timeout, TCP keepalive, the request timeout, and
 * with backend TLS and HTTP/2 the context that offers h2 by ALPN. Borrows both. */
void proxy_policy_upstream_conn(const proxy_policy_result_t *res, proxy_endpoint_t *ep);

/* Returns: the name of the Backend kind the proxy does not serve ("ai", "mcp", "a2a", "aws",
 * "guardrail", "model_router"), or NULL when served. Borrows both. */
const char *proxy_policy_backend_unserved(const proxy_snapshot_t *s,
                                          const Agentgateway__Dev__Resource__RouteBackend *rb);

/* Returns: the JSON array (owned by caller) of Backends not served, [{"backend", "kind"}]. */
json_t *proxy_policy_dump_unserved(const proxy_snapshot_t *s);
/* Returns: the JSON array (owned by caller) of notes about accepted policies that cannot fully
 * work: JWKS keys of unsupported kinds, a provider without keys or without inline JWKS (it rejects
 * every token), htpasswd users whose hash cannot be used (they cannot log in). */
json_t *proxy_policy_dump_warnings(const proxy_snapshot_t *s);

/* Introspection for tests and dumps: the key of the policy of traffic kind |kind|
 * (TrafficPolicySpec kind_case) effective on route |route_key|, or NULL. */
const char *proxy_policy_effective(const proxy_snapshot_t *s, const char *route_key, int kind);
/* The same for a backend kind (BackendPolicySpec kind_case) on the route's |backend| index. */
const char *proxy_policy_effective_backend(const proxy_snapshot_t *s, const char *route_key,
                                           size_t backend, int kind);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_POLICY_H */
