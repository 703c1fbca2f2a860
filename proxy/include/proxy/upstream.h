/*
 * Upstream selection, sans-IO: which RouteBackend of a route rule takes a request (weighted
 * choice, proxy/lb.h), and which endpoint of that backend (Service → its healthy Workloads'
 * addresses and target port, round-robin; static Backend host:port; inline host:port).
 *
 * Outcomes the HTTP layer maps to statuses: no route → 404 (router); a rule with no backends,
 * all weights 0, or a chosen backend that does not resolve (no reference, unknown Backend or
 * Service, a Backend kind the proxy cannot forward to, no healthy endpoint) → 500.
 */
#ifndef PROXY_UPSTREAM_H
#define PROXY_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"
#include "proxy/lb.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proxy_endpoint {
    char host[256]; /* IP literal (from a Workload) or a name (static / inline backends) */
    uint16_t port;
    /* The upstream speaks HTTP/2 (http.c then forwards over upstream_h2.c): h2c in plaintext,
     * h2 by ALPN over TLS. resolve sets it when the Service's port says kubernetes.io/h2c (HTTP2)
     * or grpc; a backend_http policy's version overrides it (proxy_policy_upstream_conn). */
    int h2c;
    /* Backend TLS (proxy/policy.h): the client context (borrowed from the snapshot) and the SNI
     * (NULL: |host|). NULL context: plaintext. Set by the HTTP layer, never by resolve. */
    struct net_tls_ctx *tls;
    const char *sni;
    /* backend_tcp and backend_http policies (proxy_policy_upstream_conn), 0 when not set: the
     * connect timeout (0: proxy_options_t.upstream_connect_timeout_ms), TCP keepalive (first
     * probe after |ka_idle_s|, 0 = off; then every |ka_interval_s|; |ka_probes| unanswered drop
     * the connection), and the per-try request timeout (replaces the route's backendRequest). */
    uint64_t connect_timeout_ms;
    uint32_t ka_idle_s, ka_interval_s, ka_probes;
    uint64_t request_timeout_ms;
} proxy_endpoint_t;

/* Resolves one RouteBackend to one endpoint (round-robin over a Service's endpoints, using |lb|).
 * Borrows all. Returns: PROXY_OK with |ep| filled, or PROXY_ENOBACKEND with |why| (cap bytes, may
 * be NULL) naming what did not resolve. */
int proxy_upstream_resolve(const proxy_snapshot_t *s,
                           const Agentgateway__Dev__Resource__RouteBackend *rb, proxy_lb_t *lb,
                           proxy_endpoint_t *ep, char *why, size_t cap);

/* Picks a RouteBackend of |route| by weight, then resolves it. |*chosen| is set to the chosen
 * RouteBackend (borrowed from |route|) even when it does not resolve, NULL when none could be
 * chosen. Returns: PROXY_OK or PROXY_ENOBACKEND (with |why|). */
int proxy_upstream_pick(const proxy_snapshot_t *s, const Agentgateway__Dev__Resource__Route *route,
                        proxy_lb_t *lb, const Agentgateway__Dev__Resource__RouteBackend **chosen,
                        proxy_endpoint_t *ep, char *why, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_UPSTREAM_H */
