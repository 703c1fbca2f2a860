/*
 * The router, sans-IO: given a snapshot, the Bind a request arrived on and the request (method,
 * path, query, Host, headers), picks the route rule per the Gateway API.
 *
 * Order of decisions:
 *   1. listener: among the Bind's Listeners, the one whose hostname matches the Host (port
 *      ignored, case-insensitive): exact beats wildcard, a longer wildcard beats a shorter one,
 *      an empty hostname (any) comes last. No listener → no route (listener isolation).
 *   2. among that listener's routes and their matches (OR), every match that fits the request,
 *      ranked by: route hostname (exact > longest wildcard > none), path exact > prefix
 *      (longest, segment-wise) > regex, a method match, more header matches, more query matches;
 *      ties go to the route first by "<namespace>/<name>" (the IR carries no creation time),
 *      then the lower rule index, then the earlier match.
 *
 * Matching: path exact (byte equality), prefix per path segment ("/v2" matches "/v2", "/v2/"
 * and "/v2/x", not "/v2x"), regex (PCRE2, whole path); headers by name case-insensitively, value
 * exact or regex (whole value; the first field of that name); query parameters by exact name,
 * value percent-decoded, exact or regex (first occurrence); method exact. Paths are compared as
 * sent (no percent-decoding or dot-segment removal).
 */
#ifndef PROXY_ROUTER_H
#define PROXY_ROUTER_H

#include <stddef.h>

#include "net/h2.h"
#include "proxy/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proxy_request {
    const char *method;             /* "GET" */
    const char *path;               /* path as sent, without the query */
    const char *query;              /* without '?'; NULL or "" if none */
    const char *host;               /* Host or :authority (a port is ignored); NULL if none */
    const net_h2_header_t *headers; /* lowercase or not: names compare case-insensitively */
    size_t nheaders;
} proxy_request_t;

typedef struct proxy_route_match {
    const ir_bind_t *bind;         /* NULL when the Bind is unknown */
    const ir_listener_t *listener; /* NULL when no listener takes the Host */
    const ir_route_t *route;       /* NULL: no route (answer 404) */
    const Agentgateway__Dev__Resource__Route *pb;
    const Agentgateway__Dev__Resource__RouteMatch *match; /* NULL for a route without matches */
    size_t match_index;
    /* The path prefix that matched (normalised, for ReplacePrefixMatch); NULL unless a prefix. */
    const char *prefix;
    size_t prefix_len;
} proxy_route_match_t;

/* Routes |req| that arrived on the Bind whose key is |bind_key|. Borrows everything; the result
 * borrows from |s|. Returns: PROXY_OK with |out| filled, or PROXY_ENOROUTE (|out| has what was
 * found: bind and listener may be set). */
int proxy_router_match(const proxy_snapshot_t *s, const char *bind_key, const proxy_request_t *req,
                       proxy_route_match_t *out);

/* Hostname helpers (also used by the tests). Returns: the specificity with which |pattern|
 * ("foo.com", "*.foo.com", or "" for any) matches |host| (already without port, any case):
 * -1 no match, 0 any, 1000+len for a wildcard, 2000+len for an exact name. */
int proxy_hostname_score(const char *pattern, const char *host, size_t host_len);
/* Returns: the length of |host| without its port (and without a trailing dot); IPv6 literals in
 * brackets keep their brackets. */
size_t proxy_host_strip_port(const char *host);
/* Finds query parameter |name| in |query| ("a=1&b=2") and percent-decodes its value into |buf|.
 * Returns: the decoded length, or -1 when absent (or longer than cap - 1). */
long proxy_query_get(const char *query, const char *name, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_ROUTER_H */
