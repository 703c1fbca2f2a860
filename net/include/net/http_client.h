/*
 * An asynchronous HTTP client for one origin (host:port, optional TLS): HTTP/2 when ALPN picks
 * "h2" (every request a stream of one connection), else HTTP/1.1 over a small keep-alive pool (one
 * request per connection at a time). Response bodies are streamed to the caller as they arrive and
 * never buffered here, so a long WATCH costs one read buffer, whatever its length. The protocol
 * work is in the sans-IO cores (h2.c, h1.c, tls.c); this file only routes requests to connections.
 *
 * Each request ends with exactly one on_done, unless cancelled first: NET_OK once the whole body
 * arrived; NET_ETIMEDOUT (its own timeout), NET_EIO (connect, TLS, reset, truncated body),
 * NET_EPROTO (malformed response), NET_ECLOSED (the client was closed). Callbacks run on the loop
 * and may start, cancel or close anything, including the client.
 *
 * LIMITS
 *   max_connections  HTTP/1.1 connections at once (4); HTTP/2 uses one, more only when its
 *                    stream limit is reached
 *   max_queued       requests waiting for a connection (4096): over it, NET_ELIMIT
 */
#ifndef NET_HTTP_CLIENT_H
#define NET_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net/conn.h"
#include "net/h1.h"
#include "net/h2.h"
#include "net/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_http_client net_http_client_t;
typedef struct net_http_call net_http_call_t;

typedef struct net_http_client_config {
    const char *host; /* IP literal or name; copied */
    uint16_t port;
    net_tls_ctx_t *tls;      /* NULL: plaintext HTTP/1.1. Retained. Its ALPN list decides h2 */
    const char *server_name; /* TLS SNI / verified name; NULL means |host|. Copied */
    const char *authority;   /* Host / :authority; NULL means host:port. Copied */
    net_conn_config_t conn;  /* client connection defaults */
    size_t max_connections;  /* 4 */
    size_t max_queued;       /* 4096 */
} net_http_client_config_t;

void net_http_client_config_default(net_http_client_config_t *c);

typedef struct net_http_client_request {
    const char *method;             /* "GET" */
    const char *path;               /* "/api/v1/pods?limit=5" */
    const net_h2_header_t *headers; /* extra fields, lowercase names; no Host / framing fields */
    size_t nheaders;
    const void *body; /* may be NULL */
    size_t body_len;
    uint64_t timeout_ms; /* whole request, from the call; 0: none (watches) */
} net_http_client_request_t;

typedef struct net_http_call_cbs {
    /* The response head (final status; 1xx are skipped). Optional. Fields borrowed for the call. */
    void (*on_head)(void *ud, int status, const net_h2_header_t *h, size_t n);
    /* Body bytes, borrowed for the call. Optional. */
    void (*on_data)(void *ud, const uint8_t *data, size_t len);
    /* Last callback, once (see above). Required. */
    void (*on_done)(void *ud, int err);
} net_http_call_cbs_t;

/* Creates a client; nothing connects until the first request. Borrows cfg (copied).
 * Returns: owned by caller (net_http_client_close), or NULL with *err (NET_EINVAL, NET_ENOMEM). */
net_http_client_t *net_http_client_new(uv_loop_t *loop, const net_http_client_config_t *cfg,
                                       int *err);

/* Starts a request. Borrows req (copied) and cbs (copied); keeps ud. *out (may be NULL) receives a
 * handle valid until on_done runs or the call is cancelled.
 * Returns: NET_OK; NET_ECLOSED (client closing); NET_ELIMIT (queue full); NET_EINVAL; NET_ENOMEM.
 * On error no callback runs. */
int net_http_client_request(net_http_client_t *c, const net_http_client_request_t *req,
                            const net_http_call_cbs_t *cbs, void *ud, net_http_call_t **out);

/* No callback of |call| runs any more; the request is aborted (HTTP/2: RST_STREAM; HTTP/1.1: the
 * connection is closed, as the rest of the response cannot be skipped cheaply). */
void net_http_call_cancel(net_http_call_t *call);

/* Closes every connection at once; pending calls get on_done(NET_ECLOSED). |on_closed| (may be
 * NULL) runs when the connections are gone; the client is freed right after it. Call once. */
void net_http_client_close(net_http_client_t *c, void (*on_closed)(void *ud), void *ud);

typedef struct net_http_client_stats {
    uint64_t requests, completed, failed, connects;
    size_t connections, queued, in_flight;
    bool h2; /* the last connection made speaks HTTP/2 */
} net_http_client_stats_t;

void net_http_client_stats(const net_http_client_t *c, net_http_client_stats_t *out);

/* Sans-IO helper: the HTTP/1.1 request bytes for |req| with Host |authority|, Content-Length when
 * there is a body, appended to |b| (net/h1.h). Returns NET_OK, NET_EINVAL, NET_ENOMEM. */
int net_http_client_h1_head(net_h1_buf_t *b, const net_http_client_request_t *req,
                            const char *authority);

#ifdef __cplusplus
}
#endif
#endif /* NET_HTTP_CLIENT_H */
