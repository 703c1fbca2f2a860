/*
 * The xDS gRPC server: a thin adapter putting sessions (session.h) on net/'s gRPC server.
 *
 *   /envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources   bidi, served
 *   /envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources  UNIMPLEMENTED
 *   /grpc.health.v1.Health/Check and /Watch   SERVING once the store is ready, else NOT_SERVING;
 *                                              service "" or the ADS service name, else NOT_FOUND
 *
 * A stream's first request must carry node.id (else INVALID_ARGUMENT); node.metadata.role
 * "<ns>~<gateway>" picks the Gateway (a malformed role: INVALID_ARGUMENT; none: unscoped objects
 * only). With an authenticator (auth.h) the stream is then allowed or ended with its status.
 *
 * Output is bounded per stream: at most one response per type awaits its ACK (session.h), and a
 * response net/ refuses (the stream's queue is full) is kept and retried from on_writable, with
 * nothing new built meanwhile. A stream that never reads therefore holds at most its stream queue
 * cap plus one response, and its dirty names; it never delays another stream.
 *
 * Pushes: a change in the store marks sessions; the server commits the store and pumps the marked
 * streams on its next loop turn (a uv_idle), so one krt flush becomes one response per stream.
 */
#ifndef XDS_SERVER_H
#define XDS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net/conn.h"
#include "net/tls.h"
#include "xds/auth.h"
#include "xds/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XDS_DEFAULT_LISTEN    "127.0.0.1:9978"
#define XDS_ADS_SERVICE       "envoy.service.discovery.v3.AggregatedDiscoveryService"
#define XDS_DELTA_PATH        "/" XDS_ADS_SERVICE "/DeltaAggregatedResources"
#define XDS_SOTW_PATH         "/" XDS_ADS_SERVICE "/StreamAggregatedResources"
#define XDS_HEALTH_CHECK_PATH "/grpc.health.v1.Health/Check"
#define XDS_HEALTH_WATCH_PATH "/grpc.health.v1.Health/Watch"

typedef struct xds_server xds_server_t;

typedef struct xds_server_config {
    const char *listen;        /* "ip:port" (XDS_DEFAULT_LISTEN; port 0 = any free port) */
    net_tls_ctx_t *tls;        /* NULL: plaintext h2c. Retained by the server. */
    const xds_auth_t *auth;    /* NULL: every stream is allowed. Taken on success: the server
                                  copies it and calls xds_auth_dispose on the copy when freed
                                  (on failure the caller still owns it). */
    size_t max_response_bytes; /* per response (1 MiB) */
    size_t max_subscriptions;  /* explicit names per type per stream (100000) */
    size_t max_request_bytes;  /* per request message (4 MiB) */
    size_t max_connections;    /* (1024) */
    net_conn_config_t conn;    /* timeouts, keepalive, queue caps (net/ server defaults) */
} xds_server_config_t;

/* Fills |c| with the defaults above. */
void xds_server_config_default(xds_server_config_t *c);

/* Starts listening on |loop|, serving |store|. Keeps store (it must outlive the server) and loop.
 * Borrows cfg (copied). Returns the server (owned by caller, xds_server_close), or NULL with *err
 * (an XDS_* code: XDS_EIO when the address cannot be bound, XDS_EINVAL, XDS_ENOMEM). */
xds_server_t *xds_server_new(uv_loop_t *loop, xds_store_t *store, const xds_server_config_t *cfg,
                             int *err);
/* Returns: the bound port. */
int xds_server_port(const xds_server_t *s);
/* Ends every stream with UNAVAILABLE ("server shutting down", so proxies reconnect elsewhere),
 * closes the listener and connections gracefully, then calls |on_closed| (may be NULL) and frees
 * the server. Keeps ud. Call once. */
void xds_server_close(xds_server_t *s, void (*on_closed)(void *ud), void *ud);

typedef struct xds_server_stats {
    uint64_t streams_total; /* Delta streams accepted */
    size_t streams;         /* open now */
    uint64_t refused;       /* ended before a session: bad first request, auth refusal */
    uint64_t requests, responses, bytes_sent, resources_sent, nacks;
    uint64_t decode_errors;
    size_t max_held_bytes;   /* the largest response kept waiting for room, over all streams */
    size_t max_queued_bytes; /* the largest net/ stream queue seen after a send, over all streams */
} xds_server_stats_t;
void xds_server_stats(const xds_server_t *s, xds_server_stats_t *out);

/* The admin view: {"listen","port","tls","auth","ready","stats":{...},"store":{...},
 * "connections":[{"id","peer","node","role","gateway","age_ms","requests","responses","bytes_sent",
 * "held_bytes","queued_bytes","authenticating","last_nack_age_ms" (after a NACK),
 * "session":{...session debug...}}]} (owned by caller), or NULL. */
json_t *xds_server_debug(const xds_server_t *s);
/* The same, serialized (indented, sorted keys). Returns: a NUL-terminated string owned by the
 * caller (free()), or NULL on OOM. */
char *xds_server_debug_json(const xds_server_t *s);

#ifdef __cplusplus
}
#endif
#endif /* XDS_SERVER_H */
