/*
 * The delta xDS client the proxy uses: connects (plaintext or TLS) with net/'s gRPC client, sends
 * its node with the role "<ns>~<gateway>", subscribes to both types with the wildcard, hands each
 * response to a consumer that applies it or rejects it with a reason (→ NACK with error_detail
 * {code 13 INTERNAL, message}), ACKs, and on any failure reconnects with exponential backoff and
 * jitter, resuming with initial_resource_versions (every name it holds with the version it holds),
 * so the server sends only what changed meanwhile.
 *
 * Responses are checked before the consumer sees them, the way Envoy does: a resource that does not
 * decode into an IR object, whose name does not match its content, or a name present twice in one
 * response, NACKs it without calling the consumer. A rejected response changes nothing the client
 * holds.
 */
#ifndef XDS_CLIENT_H
#define XDS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net/conn.h"
#include "net/tls.h"
#include "xds/xds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xds_client xds_client_t;

/* One response, decoded. Everything is borrowed for the duration of the callback (retain objects
 * to keep them). Objects of the Resource type carry the client's Gateway (so their krt keys are the
 * control plane's); Addresses are unscoped. */
typedef struct xds_update {
    xds_type_t type;
    const char *nonce;
    const char *system_version_info;
    const ir_obj_t *const *added; /* in the order received */
    size_t n_added;
    const char *const *removed;
    size_t n_removed;
} xds_update_t;

/* Applies or rejects |u|. Returns 0 to accept (ACK), or nonzero to reject (NACK) with a sentence in
 * |reason| (cap bytes; agentgateway puts a JSON array of {key, error} there). */
typedef int (*xds_client_update_cb)(xds_client_t *c, const xds_update_t *u, char *reason,
                                    size_t cap, void *ud);

enum {
    XDS_CLIENT_CONNECTING = 0, /* connecting or waiting for the stream to open */
    XDS_CLIENT_STREAMING = 1,  /* the stream is open and the subscriptions are sent */
    XDS_CLIENT_BACKOFF = 2,    /* disconnected; reconnect after the delay */
    XDS_CLIENT_CLOSED = 3,     /* xds_client_close finished */
};

/* The connection state changed. |status| is the gRPC status that ended the stream (or -1 when
 * the connection failed before one), |message| its message ("" if none), borrowed for the call. */
typedef void (*xds_client_state_cb)(xds_client_t *c, int state, int status, const char *message,
                                    void *ud);

typedef struct xds_client_config {
    const char *host; /* IP literal or name */
    uint16_t port;
    net_tls_ctx_t *tls;          /* NULL: plaintext h2c. Retained. */
    const char *server_name;     /* TLS name to verify; NULL means host */
    const char *node_id;         /* node.id (required) */
    const char *role;            /* node.metadata.role "ns~gw", or NULL */
    const char *token;           /* bearer token, or NULL */
    const char *token_file;      /* or: a file re-read at every connect (rotating tokens) */
    bool address;                /* subscribe to istio.workload.Address (true) */
    bool resource;               /* subscribe to agentgateway.dev.resource.Resource (true) */
    uint64_t backoff_initial_ms; /* first reconnect delay (250 ms) */
    uint64_t backoff_max_ms;     /* cap (30 s) */
    /* Jitter source in [0, 1); NULL: an internal generator seeded from the clock. */
    double (*jitter)(void *ud);
    void *jitter_ud;
    size_t max_response_bytes;      /* per response message (16 MiB) */
    net_conn_config_t conn;         /* net/ client defaults */
    xds_client_update_cb on_update; /* required */
    xds_client_state_cb on_state;   /* optional */
    void *ud;                       /* kept */
} xds_client_config_t;

void xds_client_config_default(xds_client_config_t *c);

/* Starts connecting. Keeps loop. Borrows cfg (copied, strings too). Returns the client (owned by
 * caller, xds_client_close), or NULL with *err (XDS_EINVAL: no host/port/node_id/on_update or a
 * malformed role; XDS_ENOMEM). */
xds_client_t *xds_client_new(uv_loop_t *loop, const xds_client_config_t *cfg, int *err);
/* Stops: cancels the stream, closes the connection, then calls |on_closed| (may be NULL) and frees
 * the client. No other callback runs after this call. Keeps ud. Call once. */
void xds_client_close(xds_client_t *c, void (*on_closed)(void *ud), void *ud);

typedef struct xds_client_stats {
    uint64_t connects; /* connection attempts */
    uint64_t streams;  /* streams that opened */
    uint64_t responses, acks, nacks;
    uint64_t resources, removals; /* accepted */
    uint64_t last_delay_ms;       /* the last backoff delay chosen */
    unsigned attempt;             /* consecutive failures so far */
} xds_client_stats_t;
void xds_client_stats(const xds_client_t *c, xds_client_stats_t *out);
int xds_client_state(const xds_client_t *c);

/* Returns: the number of names of type |t| the client holds. */
size_t xds_client_held(const xds_client_t *c, xds_type_t t);
/* Returns: the version held for |name| (borrowed until the next response), or NULL. */
const char *xds_client_held_version(const xds_client_t *c, xds_type_t t, const char *name);

/* The reconnect delay after |attempt| consecutive failures (0 = first): base =
 * min(max, initial * 2^attempt), delay = base/2 + jitter * base/2 ("equal jitter": never less than
 * half the base, so a herd of proxies spreads without ever reconnecting at once). */
uint64_t xds_backoff_delay(uint64_t initial_ms, uint64_t max_ms, unsigned attempt, double jitter);

#ifdef __cplusplus
}
#endif
#endif /* XDS_CLIENT_H */
