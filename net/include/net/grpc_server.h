/*
 * A gRPC server on net/'s HTTP/2 server: method routing by :path, streaming calls (unary,
 * client-, server- and bidi-streaming are all the same object), Trailers-Only errors, grpc-timeout
 * deadlines, grpc-status / grpc-message trailers. Messages are raw bytes: (de)serialization is the
 * caller's (protobuf-c in xds/).
 *
 * Request validation, in this order (PROTOCOL-HTTP2.md): :method POST (else HTTP 405), content-type
 * application/grpc[+proto] (else HTTP 415), grpc-encoding identity or absent (else UNIMPLEMENTED
 * with grpc-accept-encoding: identity), a known :path (else UNIMPLEMENTED), a well-formed
 * grpc-timeout (else INTERNAL). Each refusal is one HEADERS frame with END_STREAM (Trailers-Only).
 */
#ifndef NET_GRPC_SERVER_H
#define NET_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "net/grpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_grpc_server net_grpc_server_t;
typedef struct net_grpc_call net_grpc_call_t;

typedef struct net_grpc_method {
    const char *path; /* "/package.Service/Method", case-sensitive */
    /* The call started; request metadata is readable. The handler may send or finish at once. */
    void (*on_start)(net_grpc_call_t *call, void *ud);
    /* One whole request message, borrowed for the duration of the callback. */
    void (*on_message)(net_grpc_call_t *call, const uint8_t *msg, size_t len, void *ud);
    /* The client will send no more messages. */
    void (*on_half_close)(net_grpc_call_t *call, void *ud);
    /* There is room to send again after net_grpc_call_send returned NET_EAGAIN. */
    void (*on_writable)(net_grpc_call_t *call, void *ud);
    /* The call is over: |status| is what we finished with, or CANCELLED (client reset or connection
     * lost) or DEADLINE_EXCEEDED. Last callback; the call is freed when it returns. */
    void (*on_done)(net_grpc_call_t *call, int status, void *ud);
    void *ud; /* kept */
} net_grpc_method_t;

typedef struct net_grpc_server_config {
    net_server_config_t server; /* listen, tls, connection limits; its cb/ud/on_conn_* are
                                   ignored (the gRPC server installs its own) */
    size_t max_recv_message;    /* per message, default 4 MiB (over → RESOURCE_EXHAUSTED) */
    size_t max_send_message;    /* per message, default 4 MiB (over → net_grpc_call_send fails) */
    const net_grpc_method_t *methods; /* copied */
    size_t nmethods;
} net_grpc_server_config_t;

void net_grpc_server_config_default(net_grpc_server_config_t *c);

/* Starts listening. Borrows cfg (copied, methods too; their ud kept). Returns the server, owned by
 * the caller (net_grpc_server_close), or NULL with *err (see net_server_new; NET_EINVAL for a
 * method without a path or on_done). */
net_grpc_server_t *net_grpc_server_new(uv_loop_t *loop, const net_grpc_server_config_t *cfg,
                                       int *err);
int net_grpc_server_port(const net_grpc_server_t *s);
/* Returns: calls in progress. */
size_t net_grpc_server_calls(const net_grpc_server_t *s);
/* Returns: the underlying HTTP/2 server (borrowed). */
net_server_t *net_grpc_server_http(const net_grpc_server_t *s);
/* Closes like net_server_close (graceful: GOAWAY, calls run to their end); |on_closed| runs when
 * all is closed, and the server is freed right after. */
void net_grpc_server_close(net_grpc_server_t *s, bool graceful,
                           void (*on_closed)(net_grpc_server_t *, void *), void *ud);

/* Sends one message (framed; copied: borrows msg). Response headers go out first if they have not.
 * Returns: NET_OK; NET_EAGAIN (buffers full: wait for on_writable); NET_ETOOBIG (over
 * max_send_message); NET_ESTATE (already finished); NET_ECLOSED (cancelled); NET_ENOMEM. */
int net_grpc_call_send(net_grpc_call_t *call, const uint8_t *msg, size_t len);
/* Ends the call with |status| and |message| (UTF-8, percent-encoded here; NULL for none) and extra
 * trailing metadata |md| (borrowed). Before any message this is a Trailers-Only response.
 * Returns: NET_OK, NET_ESTATE (already finished), NET_ECLOSED, NET_ENOMEM. */
int net_grpc_call_finish(net_grpc_call_t *call, int status, const char *message,
                         const net_h2_header_t *md, size_t n);
/* Pauses or resumes delivery of request messages. While paused, received bytes are kept and not
 * acknowledged, so the client's flow-control window (SETTINGS_INITIAL_WINDOW_SIZE) bounds them and
 * the client stops sending. A handler whose send got NET_EAGAIN pauses, keeps the refused message,
 * and resumes from on_writable: memory stays bounded on both sides. Resuming delivers what waited
 * (and a deferred half-close) before returning; calling it from inside on_message is allowed. */
void net_grpc_call_set_recv_paused(net_grpc_call_t *call, bool paused);
bool net_grpc_call_recv_paused(const net_grpc_call_t *call);
/* Returns: the method path, borrowed until on_done. */
const char *net_grpc_call_path(const net_grpc_call_t *call);
/* Returns: the value of request header |name| (lowercase), borrowed until on_done; NULL if absent.
 */
const char *net_grpc_call_header(const net_grpc_call_t *call, const char *name);
/* Returns: the grpc-timeout the client sent, in ns (0 = none). The server enforces it: at expiry
 * the call finishes with DEADLINE_EXCEEDED. */
uint64_t net_grpc_call_timeout_ns(const net_grpc_call_t *call);
bool net_grpc_call_finished(const net_grpc_call_t *call);
void net_grpc_call_set_user(net_grpc_call_t *call, void *ud); /* keeps ud */
void *net_grpc_call_user(const net_grpc_call_t *call);
/* Returns: the connection carrying the call. */
net_conn_t *net_grpc_call_conn(const net_grpc_call_t *call);
/* Returns: response bytes queued on the call's stream, not yet framed. */
size_t net_grpc_call_queued(const net_grpc_call_t *call);

#ifdef __cplusplus
}
#endif
#endif
