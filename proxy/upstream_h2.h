/*
 * HTTP/2 upstreams (h2c with prior knowledge, or h2 over TLS by ALPN) for proxy/http.c: a pool
 * of multiplexed connections per endpoint (and connection settings) and one exchange (request
 * stream) at a time per caller. Not a public header.
 *
 * Ownership: the pool is owned by the proxy (proxy_h2pool_free once proxy_h2pool_conns is 0
 * after proxy_h2pool_close). An exchange is owned by the pool; the caller holds a borrowed
 * pointer until the exchange's last callback (on_end or on_error) returns, or until it calls
 * proxy_h2x_cancel; no callback runs after either.
 *
 * Backpressure, both ways: request body bytes are held in the exchange while the stream cannot
 * take them, proxy_h2x_can_write says no meanwhile, and on_writable says when to go on; response body bytes the caller does not take
 * (on_data returns less than offered) wait in the exchange and are offered again from
 * proxy_h2x_resume. Bytes are acknowledged to the upstream (WINDOW_UPDATE) only once taken, so a
 * stream's receive window bounds what an exchange buffers.
 */
#ifndef PROXY_UPSTREAM_H2_H
#define PROXY_UPSTREAM_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/h2.h"
#include "proxy/upstream.h"

typedef struct proxy_h2pool proxy_h2pool_t;
typedef struct proxy_h2x proxy_h2x_t;

typedef struct proxy_h2x_callbacks {
    /* The final response head: |status| and the fields without pseudo-headers (borrowed for the
     * call). Delivered with the first body byte, trailers or end, so that |end| can say the head
     * is the whole response (a gRPC Trailers-Only answer stays one HEADERS frame downstream);
     * on_end follows anyway. */
    void (*on_head)(void *ud, int status, const net_h2_header_t *h, size_t n, bool end);
    /* Response body bytes (borrowed). Returns: how many were taken (0..len). */
    size_t (*on_data)(void *ud, const uint8_t *data, size_t len);
    /* The response is complete, with trailers (n may be 0; borrowed). Last callback. */
    void (*on_end)(void *ud, const net_h2_header_t *trailers, size_t n);
    /* The exchange failed; |status| (502, 503) is for a caller that has no response head yet.
     * Last callback. */
    void (*on_error)(void *ud, int status, const char *why);
    /* The request body can take bytes again (after a NET_EAGAIN). */
    void (*on_writable)(void *ud);
} proxy_h2x_callbacks_t;

/* Creates a pool on |loop|. |on_conn_gone| (may be NULL) runs after each connection closed.
 * Returns: owned by the caller, or NULL (out of memory). */
proxy_h2pool_t *proxy_h2pool_new(uv_loop_t *loop, uint64_t connect_timeout_ms,
                                 void (*on_conn_gone)(void *ud), void *ud);
/* Closes every connection gracefully: streams in flight finish, no new ones start. */
void proxy_h2pool_close(proxy_h2pool_t *p);
/* Returns: connections open or closing. */
size_t proxy_h2pool_conns(const proxy_h2pool_t *p);
/* Frees the pool; only when proxy_h2pool_conns is 0. */
void proxy_h2pool_free(proxy_h2pool_t *p);
/* Counters: connections opened, streams opened. */
void proxy_h2pool_counts(const proxy_h2pool_t *p, uint64_t *connects, uint64_t *streams);

/* Starts a request to |ep| (host:port; over TLS with ep->tls, which must offer h2 by ALPN, and
 * ep->sni; ep->connect_timeout_ms and TCP keepalive when set) on a pooled connection made with
 * the same settings and a free stream slot, or a new one. |h| are the request's fields with the
 * pseudo-headers first (:method, :scheme, :authority, :path); copied. |end_stream|: the request
 * has no body. Borrows ep (the connection retains the TLS context). Keeps ud; borrows cb (kept:
 * static). Returns: the exchange, or NULL (out of memory, cannot connect). */
proxy_h2x_t *proxy_h2x_start(proxy_h2pool_t *p, const proxy_endpoint_t *ep,
                             const net_h2_header_t *h, size_t n, bool end_stream,
                             const proxy_h2x_callbacks_t *cb, void *ud);
/* Request body bytes (copied; held in the exchange while the stream cannot take them).
 * Returns NET_OK, or NET_ECLOSED / NET_ENOMEM (the exchange is gone or failing). */
int proxy_h2x_write(proxy_h2x_t *x, const void *data, size_t len);
/* Returns: true when the caller should write more now (nothing is held); when false,
 * on_writable follows once the held bytes went out. */
bool proxy_h2x_can_write(const proxy_h2x_t *x, size_t len);
/* Ends the request body (with request trailers when n > 0; copied). */
void proxy_h2x_end(proxy_h2x_t *x, const net_h2_header_t *trailers, size_t n);
/* The caller can take response bytes again: offers what waits (and may finish the exchange). */
void proxy_h2x_resume(proxy_h2x_t *x);
/* The caller gives the exchange up: the stream is reset (CANCEL) and no callback follows. */
void proxy_h2x_cancel(proxy_h2x_t *x);

#endif
