/*
 * One delta ADS stream, sans-IO: feed it decoded DeltaDiscoveryRequests, pull the
 * DeltaDiscoveryResponses to send. No socket, no clock, no loop; the server (server.c) moves bytes.
 *
 * Protocol (reference protocols.md §1.5–§1.11), per type URL:
 *  - the first request with an empty resource_names_subscribe subscribes to everything the scope
 *    holds (legacy wildcard); "*" subscribes explicitly, unsubscribing "*" ends it;
 *  - explicit names are remembered even when they do not exist yet; a name subscribed after the
 *    first request is always (re)sent, or reported in removed_resources when it does not exist;
 *  - unsubscribing a name also covered by the wildcard re-sends it (the spec's exception);
 *  - initial_resource_versions (first request of a type) seed what the client holds: only what
 *    differs is sent, names that no longer exist come back in removed_resources;
 *  - every response has a fresh nonce; at most one response per type is in flight: the next one is
 *    built after the ACK (response_nonce, no error_detail) or NACK (with error_detail: counted,
 *    logged, kept as the last NACK); a stale nonce is counted and ignored, but the subscription
 *    changes of that request are honoured (the spec says so; istio is stricter);
 *  - a NACKed version is not re-sent until the resource changes (go-control-plane's behaviour: what
 *    the client holds is recorded when we send);
 *  - the first wildcard request of a type is always answered, even with nothing.
 *
 * State, not events: for each type the session keeps the set of dirty names, what the client holds
 * (one bit per store object: "holds its current version"; name hash → version hash for the rest),
 * the explicit subscriptions and the wildcard flag. A response carries the CURRENT state of each
 * dirty name. Memory is bounded by the number of names.
 *
 * Order: within a response, additions first in dependency order (xds_kind_rank), then removals in
 * reverse order. Across types: while a Resource change is pending, an Address response carries
 * additions only; Address removals go once no Resource change is pending (after the Resource
 * response that stops using them). So a Route never arrives before the Address it uses nor
 * outlives it. With no Resource change pending, one Address response carries both. A response
 * holds at most max_response_bytes of resources (at least one); the rest stays dirty for the next
 * response, after the ACK.
 */
#ifndef XDS_SESSION_H
#define XDS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xds/store.h"
#include "xds/xds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xds_session xds_session_t;
typedef struct xds_response xds_response_t;

typedef struct xds_session_config {
    size_t max_response_bytes; /* soft cap on one response's resources (1 MiB) */
    size_t max_subscriptions;  /* explicit names per type (100000); over → XDS_ELIMIT */
    /* The session may have a response to pull (the store changed, or it became ready). Called
     * outside xds_session_recv/pull, at most once until the next xds_session_pull. Optional. */
    void (*on_ready)(xds_session_t *s, void *ud);
    /* A NACK arrived (also logged and kept as the last NACK). Strings borrowed for the call. */
    void (*on_nack)(xds_session_t *s, xds_type_t t, const char *nonce, int code,
                    const char *message, void *ud);
    void *ud; /* kept */
} xds_session_config_t;

/* Fills |c| with the defaults above. */
void xds_session_config_default(xds_session_config_t *c);

/* Creates a session reading |store|, scoped to |gateway| ("ns/name"; NULL for unscoped only), for a
 * node named |node_id| (for logs and the debug view). Keeps store. Borrows the rest (copied).
 * Returns: the session (owned by caller, xds_session_free), or NULL with *err (XDS_EINVAL for a
 * malformed gateway, XDS_ENOMEM). */
xds_session_t *xds_session_new(xds_store_t *store, const char *node_id, const char *gateway,
                               const xds_session_config_t *cfg, int *err);
/* Detaches from the store and frees. NULL is a no-op. */
void xds_session_free(xds_session_t *s);

/* Handles one request. Borrows req. The node is not read here (the server checks the first
 * request's node before creating the session).
 * Returns: XDS_OK; XDS_ETYPEURL (empty type_url: the stream must end with INVALID_ARGUMENT);
 * XDS_ELIMIT (too many subscriptions); XDS_ENOMEM. A request for a type URL we do not serve is
 * counted and ignored (XDS_OK). On error |err| says what and the session is unchanged. */
int xds_session_recv(xds_session_t *s,
                     const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req,
                     xds_err_t *err);
/* Decodes |len| bytes as a DeltaDiscoveryRequest (depth and UTF-8 checked, ir/pb.h) and handles
 * it. Borrows bytes. Returns as xds_session_recv, or XDS_EDECODE. */
int xds_session_recv_bytes(xds_session_t *s, const uint8_t *bytes, size_t len, xds_err_t *err);

/* Builds the next response, if the protocol allows one now (see the file comment for the order).
 * Returns: 1 with *out (owned by caller, xds_response_free) — the session counts it as sent: the
 * nonce is in flight and the client is assumed to hold its content; 0 when there is nothing to
 * send; XDS_ENOMEM: nothing was built, and if the store could not mark a change on this session
 * (out of memory inside a flush) every later pull fails too: end the stream, the client will
 * reconnect and resynchronise with initial_resource_versions. */
int xds_session_pull(xds_session_t *s, xds_response_t **out);
/* Returns: true when xds_session_pull may return a response now. */
bool xds_session_want_write(const xds_session_t *s);

/* Marks |name| of type |t| dirty, as the store does when it changes (a name the session does not
 * subscribe to is ignored). Borrows name. Returns XDS_OK or XDS_ENOMEM. */
int xds_session_mark(xds_session_t *s, xds_type_t t, const char *name);

/* The response message, borrowed from |r|: resources point into IR objects |r| retains. */
const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *
xds_response_msg(const xds_response_t *r);
xds_type_t xds_response_type(const xds_response_t *r);
/* Returns: the bytes of the encoded message. */
size_t xds_response_size(const xds_response_t *r);
/* Encodes into |buf| (at least xds_response_size bytes). Returns the bytes written. */
size_t xds_response_pack(const xds_response_t *r, uint8_t *buf);
/* Encodes into a new buffer (owned by caller, free()). Returns XDS_OK or XDS_ENOMEM. */
int xds_response_encode(const xds_response_t *r, uint8_t **out, size_t *len);
void xds_response_free(xds_response_t *r); /* NULL is a no-op */

typedef struct xds_session_stats {
    uint64_t requests;       /* requests handled */
    uint64_t ignored;        /* requests for a type URL we do not serve */
    uint64_t responses;      /* responses pulled */
    uint64_t resources_sent; /* resources in those responses */
    uint64_t removals_sent;  /* names in their removed_resources */
    uint64_t acks, nacks;
    uint64_t stale_nonces; /* response_nonce that was not the one in flight */
} xds_session_stats_t;
void xds_session_stats(const xds_session_t *s, xds_session_stats_t *out);

/* Per-type state for tests and the debug view. */
typedef struct xds_session_type_info {
    bool seen; /* a request for the type arrived */
    bool wildcard;
    size_t explicit_names;
    size_t dirty;   /* names waiting to be (re)considered */
    size_t known;   /* names the client is believed to hold */
    bool in_flight; /* a response awaits its ACK/NACK */
    char nonce[24]; /* the nonce in flight, "" if none */
} xds_session_type_info_t;
void xds_session_type_info(const xds_session_t *s, xds_type_t t, xds_session_type_info_t *out);

/* Returns: the Gateway ("ns/name") or NULL, the node id; borrowed from |s|. */
const char *xds_session_gateway(const xds_session_t *s);
const char *xds_session_node_id(const xds_session_t *s);
/* The last NACK: its type (or -1 when there was none), nonce, code and message, borrowed until the
 * next request. */
int xds_session_last_nack(const xds_session_t *s, const char **nonce, int *code,
                          const char **message);

/* Returns: {"node","gateway","types":{url:{"wildcard","subscribed":[...](at most 100),
 * "explicit","dirty","known","in_flight"}}, "stats":{...}, "last_nack":{...}|null} (owned by
 * caller), or NULL on OOM. */
json_t *xds_session_debug(const xds_session_t *s);
/* Checks the session's invariants (session.c). Returns XDS_OK or XDS_ESTATE with |err|. */
int xds_session_check(const xds_session_t *s, xds_err_t *err);

#ifdef __cplusplus
}
#endif
#endif /* XDS_SESSION_H */
