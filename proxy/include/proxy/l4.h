/*
 * The proxy's L4 path: TCP listeners (TCPRoute) and TLS passthrough listeners (TLSRoute, routed
 * by the ClientHello's SNI, proxy/tls_hello.h), both splicing bytes between the client and one
 * backend endpoint. The selection functions here are sans-IO; the serving code (libuv via net/)
 * is driven by http.c's listeners through proxy/l4_internal.h.
 *
 * What a Bind serves is decided by its Listeners (proxy_l4_bind_mode): a TCP Listener makes it a
 * TCP Bind, a TLS Listener without a certificate (passthrough) a passthrough Bind, a TLS Listener
 * with one a terminating Bind; anything else (HTTP, HTTPS) stays on the HTTP path. The Gateway API forbids mixing
 * these on one port (translate/ marks such listeners ProtocolConflict), so the first Listener of
 * an L4 kind decides.
 */
#ifndef PROXY_L4_H
#define PROXY_L4_H

#include <stddef.h>

#include "proxy/config.h"
#include "proxy/lb.h"
#include "proxy/upstream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum proxy_bind_mode {
    PROXY_BIND_HTTP = 0,        /* HTTP/1.1 and HTTP/2, TLS terminated when HTTPS (http.c) */
    PROXY_BIND_TCP = 1,         /* TCPRoute: splice to the route's backend */
    PROXY_BIND_PASSTHROUGH = 2, /* TLSRoute: read the SNI, splice to the route's backend */
    PROXY_BIND_TLS_TERMINATE = 3, /* TLSRoute, mode Terminate: TLS ends here (certificates by
                                     SNI, as HTTPS), the plaintext goes to the route's backend */
} proxy_bind_mode_t;

/* Returns: what the Bind with key |bind_key| serves in snapshot |s| (PROXY_BIND_HTTP when the
 * Bind or its Listeners are unknown). Borrows all. */
proxy_bind_mode_t proxy_l4_bind_mode(const proxy_snapshot_t *s, const char *bind_key);

/* Returns: the Listener of Bind |bind_key| whose hostname best takes |name| (exact > longest
 * wildcard > empty, as for HTTP), among Listeners of protocol |protocol| (0: any); NULL when
 * none does. |name| NULL or "" is taken only by a Listener without hostname. Borrowed from |s|. */
const ir_listener_t *proxy_l4_listener_for_name(const proxy_snapshot_t *s, const char *bind_key,
                                                const char *name, int protocol);

typedef struct proxy_l4_match {
    const ir_listener_t *listener;
    const ir_tcp_route_t *route; /* NULL: no route takes the connection */
} proxy_l4_match_t;

/* Picks the TCPRoute for a connection on Bind |bind_key|: the Listener by |sni| (passthrough;
 * NULL or "" for TCP or a client without SNI), then among its TCPRoutes the one whose hostnames
 * best take the SNI (exact > longest wildcard > a route without hostnames); ties go to the first
 * by key. Borrows all; the result borrows from |s|.
 * Returns: PROXY_OK, or PROXY_ENOROUTE (|out->listener| may be set). */
int proxy_l4_route(const proxy_snapshot_t *s, const char *bind_key, const char *sni,
                   proxy_l4_match_t *out);

/* Picks one of |route|'s backends by weight and resolves it to an endpoint (as HTTP does:
 * proxy/upstream.h). Returns: PROXY_OK with |ep|, or PROXY_ENOBACKEND with |why| (cap bytes). */
int proxy_l4_pick(const proxy_snapshot_t *s, const ir_tcp_route_t *route, proxy_lb_t *lb,
                  proxy_endpoint_t *ep, char *why, size_t cap);

/* Counters of a proxy's TCP, passthrough and terminated-TLS connections (proxy_l4_stats). */
typedef struct proxy_l4_stats {
    uint64_t connections; /* accepted */
    uint64_t spliced;     /* connected to a backend */
    uint64_t no_route;    /* closed: no route takes the connection (or its SNI) */
    uint64_t no_backend;  /* closed: the backend did not resolve, refused or failed */
    uint64_t bad_hello;   /* closed: not a TLS ClientHello, over its bounds, or too slow */
    uint64_t idle_closed; /* closed: spliced, no byte either way for tunnel_idle_timeout_ms */
    size_t open;          /* connections open now */
} proxy_l4_stats_t;

struct proxy;
/* Fills |out| with the L4 counters of proxy |p| (proxy/proxy.h). */
void proxy_l4_stats(const struct proxy *p, proxy_l4_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
