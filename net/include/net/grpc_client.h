/*
 * gRPC client calls over a net/ client connection. Install net_grpc_client_h2_callbacks as the
 * connection's stream callbacks (net_client_config_t.cb), then start calls on it. Every call ends
 * with exactly one on_status, whatever happens: trailers from the server, Trailers-Only, an HTTP
 * error status, a reset, our deadline, a cancel, or the connection going away.
 */
#ifndef NET_GRPC_CLIENT_H
#define NET_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "net/grpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_grpc_client_call net_grpc_client_call_t;

typedef struct net_grpc_client_callbacks {
    /* Response headers (initial metadata), when the response is not Trailers-Only. Optional. */
    void (*on_headers)(net_grpc_client_call_t *call, const net_h2_header_t *h, size_t n, void *ud);
    /* One whole response message, borrowed for the callback. */
    void (*on_message)(net_grpc_client_call_t *call, const uint8_t *msg, size_t len, void *ud);
    /* Room to send again after NET_EAGAIN. Optional. */
    void (*on_writable)(net_grpc_client_call_t *call, void *ud);
    /* The call is over. |message| is decoded (borrowed for the callback, "" if none); |trailers|
     * are the trailing metadata (n may be 0). Last callback; the call is freed after it. */
    void (*on_status)(net_grpc_client_call_t *call, int status, const char *message,
                      const net_h2_header_t *trailers, size_t n, void *ud);
} net_grpc_client_callbacks_t;

/* The stream callbacks a connection must use to carry gRPC client calls. */
extern const net_h2_callbacks_t net_grpc_client_h2_callbacks;

typedef struct net_grpc_client_call_config {
    const char *path;      /* "/package.Service/Method" */
    const char *authority; /* :authority; NULL means "localhost" */
    uint64_t timeout_ns;   /* 0: no deadline; else grpc-timeout is sent and enforced here */
    const net_h2_header_t *metadata; /* extra request headers (lowercase names), borrowed */
    size_t nmetadata;
    size_t max_recv_message; /* default 4 MiB */
    size_t max_send_message; /* default 4 MiB */
} net_grpc_client_call_config_t;

/* Starts a call on |conn| (which must be open and use net_grpc_client_h2_callbacks). Borrows cfg
 * and cb (copied); keeps ud. Returns NET_OK with *out borrowed until on_status, or NET_ESTATE (the
 * connection is not open or is going away), NET_EINVAL, NET_ENOMEM; on error no callback runs. */
int net_grpc_client_call_start(net_conn_t *conn, const net_grpc_client_call_config_t *cfg,
                               const net_grpc_client_callbacks_t *cb, void *ud,
                               net_grpc_client_call_t **out);
/* Sends one request message (copied). Returns NET_OK, NET_EAGAIN (wait for on_writable),
 * NET_ETOOBIG, NET_ESTATE (half-closed or over), NET_ECLOSED, NET_ENOMEM. */
int net_grpc_client_call_send(net_grpc_client_call_t *call, const uint8_t *msg, size_t len);
/* Half-closes: no more request messages. Returns NET_OK or NET_ESTATE / NET_ECLOSED. */
int net_grpc_client_call_close_send(net_grpc_client_call_t *call);
/* Cancels (RST_STREAM CANCEL); on_status(CANCELLED) follows. */
void net_grpc_client_call_cancel(net_grpc_client_call_t *call);
/* Pauses or resumes delivery of response messages; while paused, received bytes stay
 * unacknowledged, so the server's sending stops at our window (see net_grpc_call_set_recv_paused).
 * Note: on_status waits until every message received before the end was delivered; a call paused
 * for good therefore ends only by deadline, cancel, or connection close. */
void net_grpc_client_call_set_recv_paused(net_grpc_client_call_t *call, bool paused);
void net_grpc_client_call_set_user(net_grpc_client_call_t *call, void *ud);
void *net_grpc_client_call_user(const net_grpc_client_call_t *call);

#ifdef __cplusplus
}
#endif
#endif
