/*
 * The proxy: a config store (proxy/config.h) plus listeners, one per Bind, on a libuv loop, each
 * serving HTTP/1.1 and HTTP/2 (h2c with prior knowledge; h2 or http/1.1 by ALPN when the Bind has
 * an HTTPS Listener with a certificate). Each request is routed (proxy/router.h) on the snapshot
 * current when its head arrived, filtered (proxy/filters.h), and forwarded to an endpoint
 * (proxy/upstream.h) over HTTP/1.1 with keep-alive pooling; bodies stream both ways with
 * backpressure (never buffered whole).
 *
 *   proxy_t *p = proxy_new(loop, NULL, &err);
 *   proxy_apply(p, changes, n, initial, reason, sizeof reason);     // from xds inproc / client
 *   proxy_listen(p, "80/default/gw", "127.0.0.2:80", &port);        // serve a Bind
 *   ...
 *   proxy_close(p, on_closed, ud);
 *
 * Or let the proxy follow the Binds itself: options.auto_listen_host = "127.0.0.2" makes every
 * accepted change set open a listener on <host>:<Bind port> for each new Bind and close the
 * listeners of removed Binds.
 *
 * Answers the proxy makes itself: 404 (no route), 500 (no usable backend), 502 (bad upstream
 * response), 503 (upstream connection or backend TLS failed), 504 (route timeout), redirects and
 * direct responses, policy answers (proxy/policy.h: 401 authentication, 429 rate limit, 501
 * backend kind not served), 408 (an HTTP/1.1 request head not complete within
 * client_header_timeout_ms of its first byte), and net/h1.c's 4xx/5xx for malformed requests
 * (Connection: close).
 *
 * Client connections are under deadlines (proxy_options_t client_*) and take their Bind's
 * frontend policies (proxy/frontend.h: TCP keepalive, TLS versions / ciphers / ALPN, HTTP/1.1
 * and HTTP/2 limits), resolved when a listener opens and after every accepted change set, for the
 * connections accepted from then on.
 */
#ifndef PROXY_PROXY_H
#define PROXY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proxy/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proxy proxy_t;

typedef struct proxy_options {
    uint64_t lb_seed;                     /* weighted-choice seed (default 1): deterministic */
    size_t pool_max_idle_per_endpoint;    /* idle upstream connections kept per host:port (128) */
    size_t pool_max_idle;                 /* idle upstream connections kept in all (256) */
    size_t max_buffered_input;            /* unparsed bytes per connection before reading pauses
                                             (64 KiB) */
    uint64_t upstream_connect_timeout_ms; /* (5000) */
    const char *auto_listen_host;         /* NULL: listeners only through proxy_listen */
    uint64_t tls_hello_timeout_ms; /* TLS passthrough: time to send the ClientHello (10000) */
    /* TCP and TLS passthrough connections, and HTTP/1.1 connections upgraded by a 101: closed
     * after this long without a byte either way (3600000, one hour; 0: never) */
    uint64_t tunnel_idle_timeout_ms;
    /* Client connections of every listener (a Bind's FrontendPolicies override them; 0: never):
     * HTTP/1.1 with no byte of a next request, and HTTP/2 with no stream, for this long are
     * closed (600000, ten minutes: agentgateway's http1IdleTimeout default) */
    uint64_t client_idle_timeout_ms;
    /* HTTP/1.1: from the first byte of a request head to its end; late → 408 and close (30000,
     * hyper's header read timeout, which agentgateway's HTTP/1 server uses) */
    uint64_t client_header_timeout_ms;
    /* TLS handshake, or a plaintext client's first bytes telling HTTP/1.1 from HTTP/2 (15000,
     * agentgateway's TLS handshake timeout) */
    uint64_t client_handshake_timeout_ms;
    /* HTTP/1.1: a request body from which no byte came for this long, while the proxy was ready
     * for more → 408 (or an abort once the response started) and close (60000, nginx's
     * client_body_timeout) */
    uint64_t client_body_timeout_ms;
} proxy_options_t;

void proxy_options_default(proxy_options_t *o);
/* The options |p| runs with (borrowed until proxy_close). */
const proxy_options_t *proxy_options_get(const proxy_t *p);

/* Creates a proxy on |loop| with an empty config. Borrows opt (copied, strings too).
 * Returns: owned by caller (proxy_close), or NULL with *err (PROXY_ENOMEM). */
proxy_t *proxy_new(uv_loop_t *loop, const proxy_options_t *opt, int *err);

/* The store (borrowed until proxy_close), e.g. for proxy_config_snapshot / dumps. */
proxy_config_t *proxy_config(proxy_t *p);

/* Applies a change set (proxy_config_apply); with auto_listen_host, then opens/closes listeners
 * for added/removed Binds (a listener that cannot open is logged and counted, not an error of
 * the change set). Returns as proxy_config_apply. */
int proxy_apply(proxy_t *p, const proxy_change_t *changes, size_t n, bool replace, char *reason,
                size_t cap);

/* Serves the Bind whose key is |bind_key| on |listen| ("127.0.0.1:0" picks a port). The Bind need
 * not exist yet (requests then get 404). TLS: when the current snapshot has an HTTPS Listener on
 * that Bind with a certificate, the first one (by key) terminates TLS for the whole listener
 * (its SNI table and the Bind's frontend tls policy follow later changes). Borrows both.
 * Returns: PROXY_OK with *port (may be NULL) set to the bound port, PROXY_EINVAL (already
 * listening for that Bind), PROXY_ECONFIG (the certificate or key does not load), or PROXY_EIO
 * (bind failed, e.g. address in use). */
int proxy_listen(proxy_t *p, const char *bind_key, const char *listen, int *port);
/* Stops serving a Bind: the listener closes, requests in progress finish (graceful).
 * Returns PROXY_OK or PROXY_EINVAL (not listening). */
int proxy_unlisten(proxy_t *p, const char *bind_key);

typedef struct proxy_stats {
    uint64_t requests;            /* request heads accepted */
    uint64_t responses[6];        /* by class: [1]=1xx ... [5]=5xx */
    uint64_t upstream_connects;   /* new upstream connections */
    uint64_t upstream_reuses;     /* requests sent on a pooled connection */
    uint64_t upstream_retries;    /* resent after a pooled connection closed under them */
    uint64_t listen_failures;     /* auto_listen listeners that could not open */
    uint64_t tunnels_idle_closed; /* upgraded connections closed by tunnel_idle_timeout_ms */
    /* Client connections the proxy closed on a timeout (proxy_options_t client_*, or the Bind's
     * FrontendPolicy): */
    uint64_t client_idle_closed;        /* HTTP/1.1 between requests, HTTP/2 without a stream */
    uint64_t client_header_timeouts;    /* HTTP/1.1 request head not complete in time (408) */
    uint64_t client_body_timeouts;      /* HTTP/1.1 request body stalled (408 or abort) */
    uint64_t client_handshake_timeouts; /* TLS handshake / first bytes not in time */
    uint64_t client_keepalive_timeouts; /* HTTP/2 PING not acknowledged (http2KeepaliveTimeout) */
    uint64_t client_lifetime_closed;    /* maxConnectionDuration reached (graceful close) */
    size_t listeners;             /* open */
    size_t idle_upstreams;        /* pooled */
    size_t downstream_http1;      /* HTTP/1.1 client connections open */
    size_t downstream_http2;      /* HTTP/2 client streams in progress */
} proxy_stats_t;

void proxy_stats(const proxy_t *p, proxy_stats_t *out);

/* Closes every listener and connection (gracefully: requests in progress finish, bounded by
 * net's shutdown timeout), then frees the proxy and its store; |on_closed| (may be NULL) runs
 * last, from inside this call when nothing was open. Keeps ud. Snapshots still held elsewhere
 * stay valid. Call once, from the loop's thread. */
void proxy_close(proxy_t *p, void (*on_closed)(proxy_t *p, void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_PROXY_H */
