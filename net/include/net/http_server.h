/*
 * A small HTTP server for admin endpoints (/healthz, /readyz, /metrics, /debug/...): one
 * request/response handler interface over HTTP/1.1 (net/h1.h, keep-alive, pipelining, chunked
 * uploads, Expect: 100-continue) and HTTP/2 (h2c with prior knowledge, h2 over TLS by ALPN), on
 * one listening address. Request and response bodies are buffered whole, with caps: this is for
 * small control-plane answers, not for proxying (the proxy streams with net/h1.h and net/h2.h).
 *
 * Routing: exact paths ("/healthz") and prefixes, written as a path ending in '/' and then '*'
 * (the route "/debug/" "*" matches "/debug/" and everything under it); an exact route wins over a
 * prefix, a longer prefix over a shorter one.
 * A path with routes but none for the method gets 405 with Allow; no route gets 404. HEAD is
 * answered by the GET handler without the body. Paths are matched as sent (no percent-decoding,
 * no dot-segment removal).
 *
 *     static void healthz(const net_http_request_t *req, net_http_response_t *resp, void *ud)
 *     {
 *         net_http_response_set_status(resp, 200);
 *         net_http_response_write(resp, "ok\n", 3);
 *     }
 *     net_http_server_config_t cfg;
 *     net_http_server_config_default(&cfg);
 *     cfg.server.listen = "127.0.0.1:9090";
 *     net_http_server_t *srv = net_http_server_new(loop, &cfg, &err);
 *     net_http_server_route(srv, "GET", "/healthz", healthz, NULL);
 *     ...
 *     net_http_server_close(srv, true, on_closed, app);
 *
 * Threading: everything on the loop's thread; handlers run inside the loop and must not block.
 */
#ifndef NET_HTTP_SERVER_H
#define NET_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "net/h1.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_http_server net_http_server_t;
typedef struct net_http_response net_http_response_t;

/* A request, borrowed by the handler for the duration of the call. Strings are NUL-terminated. */
typedef struct net_http_request {
    const char *method;             /* "GET" */
    const char *path;               /* "/debug/krt" as sent, without the query; "*" for OPTIONS * */
    const char *query;              /* after '?', without it; "" when none */
    const char *authority;          /* Host (HTTP/1.1), the authority of an absolute-form target, or
                                       :authority (HTTP/2); "" when none */
    const net_h2_header_t *headers; /* names lowercase; no pseudo-headers */
    size_t nheaders;
    const uint8_t *body; /* the whole body (never NULL; body_len may be 0) */
    size_t body_len;
    int http_version; /* 10, 11 or 20 */
    const char *peer; /* "ip:port" */
    net_conn_t *conn;
} net_http_request_t;

/* Fills |resp|. The server sends it when the handler returns: status 200 unless set, the
 * headers given, Content-Length (always computed here), Date, and Content-Type
 * "text/plain; charset=utf-8" when a body was written and no Content-Type was set. */
typedef void (*net_http_handler_cb)(const net_http_request_t *req, net_http_response_t *resp,
                                    void *ud);

/* An HTTP/1.1 Upgrade request for a route registered with net_http_server_route_upgrade. To take
 * the connection, the handler writes its own 101 answer with net_conn_write, installs its
 * callbacks with net_conn_set_raw (until it does, bytes are dropped) and returns true; from then
 * on the connection is the handler's (its on_close says when it is gone) and net_conn_user is
 * free for it. |rest| are the bytes the client sent after the request (already the new
 * protocol's), borrowed for the call. Return false to decline: the server then answers the
 * request with |resp| in HTTP/1.1 (200 and no body unless set) and goes on. HTTP/2 requests
 * never reach it. */
typedef bool (*net_http_upgrade_cb)(const net_http_request_t *req, net_conn_t *conn,
                                    const uint8_t *rest, size_t len, net_http_response_t *resp,
                                    void *ud);

typedef struct net_http_server_config {
    net_server_config_t server;    /* listen, tls, connection limits and timeouts; its cb, ud, raw
                                      and on_conn_* are set by the HTTP server. With TLS, make the
                                      context with alpn {"h2", "http/1.1", NULL} to serve both */
    net_h1_config_t h1;            /* HTTP/1.1 head limits (16 KiB, 100 fields) */
    size_t max_request_body;       /* bytes (1 MiB); over it: 413 (HTTP/1.1 then closes) */
    size_t max_response_body;      /* bytes a handler may write (64 MiB); over it the write fails */
    uint64_t request_timeout_ms;   /* HTTP/1.1: a request's head and body must arrive within this
                                      (30 s); else 408 and close */
    uint64_t keepalive_timeout_ms; /* HTTP/1.1: an idle connection closes after this (60 s) */
    bool serve_h1;                 /* HTTP/1.1 next to HTTP/2 (default true); false: HTTP/2 only */
} net_http_server_config_t;

/* Fills |c| with the defaults above (listen "127.0.0.1:0", plaintext). */
void net_http_server_config_default(net_http_server_config_t *c);

/* Binds and listens. Borrows cfg (copied). Returns: the server, owned by the caller
 * (net_http_server_close), or NULL with *err (see net_server_new). */
net_http_server_t *net_http_server_new(uv_loop_t *loop, const net_http_server_config_t *cfg,
                                       int *err);

/* Adds a route. |method|: "GET", "POST", ... or "*" (any); |path|: an exact path starting with
 * '/', or a prefix: a path ending in '/' then '*'. Borrows method and path (copied); keeps ud.
 * Returns: NET_OK; NET_EINVAL (method not a token or "*", path not starting with '/', a route
 * for the same method and path exists, no cb); NET_ENOMEM. Routes may be added at any time. */
int net_http_server_route(net_http_server_t *s, const char *method, const char *path,
                          net_http_handler_cb cb, void *ud);
/* Adds a route for HTTP/1.1 Upgrade requests (any method). Same rules. A request with Upgrade to
 * a path without such a route is served by the ordinary routes (the Upgrade header is ignored).
 * CONNECT is never routed: it gets 405 and the connection closes. */
int net_http_server_route_upgrade(net_http_server_t *s, const char *path, net_http_upgrade_cb cb,
                                  void *ud);

/* Returns: the bound port. */
int net_http_server_port(const net_http_server_t *s);
/* Returns: requests answered so far (any status, both protocols). */
uint64_t net_http_server_requests(const net_http_server_t *s);
/* Returns: the underlying server (borrowed), e.g. for net_server_connections. */
net_server_t *net_http_server_net(const net_http_server_t *s);

/* Stops listening and closes every connection: graceful (HTTP/2 GOAWAY and streams finish;
 * HTTP/1.1 requests in progress are answered with Connection: close, idle connections close at
 * once; bounded by server.conn.shutdown_timeout_ms) or at once. |on_closed| runs when all is
 * closed; the server is freed right after it returns. Keeps ud. Call once. */
void net_http_server_close(net_http_server_t *s, bool graceful,
                           void (*on_closed)(net_http_server_t *, void *), void *ud);

/* Sets the status (100..999 except 1xx, which are the server's own; default 200).
 * Returns NET_OK or NET_EINVAL. */
int net_http_response_set_status(net_http_response_t *r, int status);
/* Adds a header (both strings copied; the name is lowercased). Refused with NET_EINVAL: a name
 * that is not a token, a value with control characters, and the fields the server owns or that
 * are connection-specific (content-length, connection, keep-alive, transfer-encoding, upgrade,
 * te, proxy-connection, date). Returns NET_OK, NET_EINVAL, NET_ENOMEM. */
int net_http_response_header(net_http_response_t *r, const char *name, const char *value);
/* Appends body bytes (copied). Returns NET_OK, NET_ETOOBIG (over max_response_body: nothing
 * appended), NET_ENOMEM. */
int net_http_response_write(net_http_response_t *r, const void *data, size_t len);
/* Appends formatted text; same results. */
int net_http_response_printf(net_http_response_t *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Returns: the status set so far. */
int net_http_response_status(const net_http_response_t *r);

#ifdef __cplusplus
}
#endif
#endif
