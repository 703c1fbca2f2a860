/*
 * Route filters as sans-IO functions over a header model: request/response header modifiers,
 * redirects (the Location the Gateway API prescribes), URL rewrites (path full / prefix, host)
 * and direct responses. The HTTP adapter (proxy/http.h) calls them; nothing here does I/O.
 *
 * Filters arrive in the IR as TrafficPolicySpec entries of a Route (route-level filters) and
 * BackendPolicySpec entries of a RouteBackend (backendRef filters); proxy_filters_collect picks
 * the ones the proxy enforces today.
 */
#ifndef PROXY_FILTERS_H
#define PROXY_FILTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/route.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A mutable header list: owned copies, order kept, names compared case-insensitively. A zeroed
 * struct is an empty list. */
typedef struct proxy_header {
    char *name;
    char *value;
} proxy_header_t;

typedef struct proxy_headers {
    proxy_header_t *v;
    size_t n, cap;
} proxy_headers_t;

void proxy_headers_dispose(proxy_headers_t *h); /* frees everything; |h| is empty and reusable */
/* Appends a field (copies; borrows name and value, |value_len| bytes). Returns PROXY_OK or
 * PROXY_ENOMEM (nothing changed). */
int proxy_headers_add(proxy_headers_t *h, const char *name, const char *value, size_t value_len);
/* Replaces every field named |name| by one field with |value| (appended if none). */
int proxy_headers_set(proxy_headers_t *h, const char *name, const char *value);
/* Removes every field named |name|. Returns: how many were removed. */
size_t proxy_headers_remove(proxy_headers_t *h, const char *name);
/* Returns: the value of the first field named |name| (borrowed until the next change), or NULL. */
const char *proxy_headers_get(const proxy_headers_t *h, const char *name);

/* Applies a HeaderModifier: add (append a field), then set (replace), then remove.
 * Borrows m. Returns PROXY_OK or PROXY_ENOMEM (|h| may be partly modified). */
int proxy_headers_modify(proxy_headers_t *h, const Agentgateway__Dev__Resource__HeaderModifier *m);

/* The filters of one route rule (and the chosen backendRef) the proxy enforces; all borrowed
 * from the route. NULL when absent. */
typedef struct proxy_filters {
    const Agentgateway__Dev__Resource__HeaderModifier *request_headers;
    const Agentgateway__Dev__Resource__HeaderModifier *response_headers;
    const Agentgateway__Dev__Resource__RequestRedirect *redirect;
    const Agentgateway__Dev__Resource__UrlRewrite *rewrite;
    const Agentgateway__Dev__Resource__DirectResponse *direct;
    const Agentgateway__Dev__Resource__Timeout *timeout;
    const Agentgateway__Dev__Resource__RequestMirrors *mirrors;
    const Agentgateway__Dev__Resource__Retry *retry;
    const Agentgateway__Dev__Resource__CORS *cors;
    /* backendRef filters (applied after the route's) */
    const Agentgateway__Dev__Resource__HeaderModifier *backend_request_headers;
    const Agentgateway__Dev__Resource__HeaderModifier *backend_response_headers;
    const Agentgateway__Dev__Resource__RequestRedirect *backend_redirect;
    const Agentgateway__Dev__Resource__RequestMirrors *backend_mirrors;
} proxy_filters_t;

/* Fills |out| from a route's traffic policies and, when |rb| is not NULL, a RouteBackend's
 * backend policies. Borrows everything. */
void proxy_filters_collect(const Agentgateway__Dev__Resource__Route *route,
                           const Agentgateway__Dev__Resource__RouteBackend *rb,
                           proxy_filters_t *out);

/* Replaces the matched path prefix: "/prefix/one/two" with prefix "/prefix/one" and replacement
 * "/one" gives "/one/two"; replacement "/" gives "/two"; an empty result becomes "/". The prefix
 * is segment-wise (no trailing slash, "/" matches as ""). Borrows all.
 * Returns: the length written to |out| (NUL-terminated), or -1 when it does not fit |cap|. */
long proxy_path_replace_prefix(const char *path, const char *prefix, size_t prefix_len,
                               const char *replacement, char *out, size_t cap);

/* What the request looked like, for redirects and rewrites. */
typedef struct proxy_url {
    const char *scheme;     /* "http" or "https" */
    const char *host;       /* Host as received (a port is dropped) */
    uint32_t listener_port; /* the Gateway listener's port (the Bind's) */
    const char *path;       /* without query */
    const char *query;      /* without '?', NULL or "" if none */
    const char *prefix;     /* the matched path prefix (router), NULL unless a prefix matched */
    size_t prefix_len;
} proxy_url_t;

/* Builds the redirect response: |*status| (301, 302 (default), 303, 307, 308) and |loc| =
 * scheme://host[:port]path[?query], where scheme and host default to the request's, the port
 * follows the Gateway API rules (explicit port; else the well-known port of a changed scheme;
 * else the listener port) and is left out when it is the scheme's default (http 80, https 443),
 * and the path is replaced in full or by prefix. Borrows all.
 * Returns: PROXY_OK, or PROXY_EINVAL when |loc| is too small. */
int proxy_redirect_location(const Agentgateway__Dev__Resource__RequestRedirect *r,
                            const proxy_url_t *u, char *loc, size_t cap, int *status);

/* Rewrites the request target for the upstream: |target| = new path [?query]. |*host| is set
 * to the rewritten host (borrowed from |r|) or NULL when the host stays. Borrows all.
 * Returns: PROXY_OK, or PROXY_EINVAL when |target| is too small. */
int proxy_rewrite_target(const Agentgateway__Dev__Resource__UrlRewrite *r, const proxy_url_t *u,
                         char *target, size_t cap, const char **host);

/* CORS (the Fetch standard's protocol, with the Gateway API's HTTPCORSFilter rules).
 *
 * A preflight is an OPTIONS request with Origin and Access-Control-Request-Method: the proxy
 * answers it itself (200, no body) and never forwards it. When the Origin is allowed, the answer
 * carries Access-Control-Allow-Origin, -Allow-Methods, -Allow-Headers, -Max-Age, -Expose-Headers
 * and, with allowCredentials, -Allow-Credentials; otherwise it carries no CORS field (the browser
 * then refuses). Any other request with an allowed Origin goes on, and its response gets
 * Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers.
 *
 * Origins: "*" allows any; a pattern with a '*' in the host (scheme https, host *.bar.com) allows
 * origins of that scheme whose host ends in ".bar.com" (one or more labels before it, no port
 * unless the pattern names one); anything else is compared whole, case-insensitively.
 * Answers: Access-Control-Allow-Origin is always the request's own origin (allowed by any rule,
 * "*" included), with "Vary: Origin" so caches keep answers apart; methods and headers "*" are
 * sent as "*" without credentials and, with allowCredentials (where browsers refuse a literal
 * "*"), as the request's own method and headers. */
enum { PROXY_CORS_PASS = 0, PROXY_CORS_PREFLIGHT = 1 };

/* Decides CORS for one request. |origin|, |req_method| (Access-Control-Request-Method) and
 * |req_headers| (Access-Control-Request-Headers) may be NULL. Appends the fields to send to |out|:
 * the whole answer for a preflight, or those to add to the response otherwise (none when CORS
 * does not apply). Borrows all.
 * Returns: PROXY_CORS_PREFLIGHT (answer 200 with |out| now), PROXY_CORS_PASS (forward; add |out|
 * to the response), or PROXY_ENOMEM. */
int proxy_cors_eval(const Agentgateway__Dev__Resource__CORS *c, const char *method,
                    const char *origin, const char *req_method, const char *req_headers,
                    proxy_headers_t *out);
/* Returns: whether |origin| is allowed by |c|. */
bool proxy_cors_origin_allowed(const Agentgateway__Dev__Resource__CORS *c, const char *origin);

/* Returns: |d| in milliseconds, rounded up to 1 for a positive duration under a millisecond; 0
 * for NULL, zero or negative (a zero duration disables a Gateway API timeout). The proxy applies
 * a Timeout policy's `request` to the whole exchange, retries included, and `backend_request` to
 * each try. Borrows d (may be NULL). */
uint64_t proxy_duration_ms(const Google__Protobuf__Duration *d);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_FILTERS_H */
