/*
 * Who may open an xDS stream, and for which Gateway. The server asks an xds_auth_t once per stream,
 * when the first request has arrived (the node, hence the role, is known only then), with the
 * bearer token of the `authorization: Bearer <token>` request header.
 *
 * The decision may be synchronous (local token file) or asynchronous (a Kubernetes TokenReview,
 * which the controller plugs in): return XDS_AUTH_PENDING and call xds_auth_complete later; the
 * stream's input is paused meanwhile. agentgateway's rule, which a TokenReview implementation
 * should keep: the service account (namespace, name) must equal the Gateway of the role.
 */
#ifndef XDS_AUTH_H
#define XDS_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "xds/xds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xds_auth_request {
    const char *authorization; /* the raw header, or NULL */
    const char *token;         /* the token after "Bearer " (case-insensitive scheme), or NULL */
    const char *peer;          /* "ip:port" */
    const char *node_id;
    const char *role;    /* node.metadata.role as sent, or NULL */
    const char *gateway; /* the role as "ns/name", or NULL */
    bool tls;            /* the connection is TLS */
} xds_auth_request_t;

/* A decision to be made later. */
typedef struct xds_auth_pending xds_auth_pending_t;

#define XDS_AUTH_PENDING (-1)

/* Decides on |req| (borrowed for the call: copy what an asynchronous check needs). Returns 0 (gRPC
 * OK) to allow; a gRPC status code (16 UNAUTHENTICATED, 7 PERMISSION_DENIED, ...) to refuse, with a
 * sentence in |reason| (cap bytes) that the client will see; or XDS_AUTH_PENDING, keeping
 * |pending| until xds_auth_complete. */
typedef int (*xds_auth_cb)(const xds_auth_request_t *req, xds_auth_pending_t *pending, char *reason,
                           size_t cap, void *ud);

/* Completes a pending decision: |status| and |reason| as xds_auth_cb returns them (reason
 * borrowed). Call exactly once per XDS_AUTH_PENDING, from the server's loop thread; it is safe
 * when the stream has gone meanwhile (then it only frees |p|). */
void xds_auth_complete(xds_auth_pending_t *p, int status, const char *reason);

typedef struct xds_auth {
    xds_auth_cb cb;
    void *ud;
    void (*dispose)(void *ud); /* optional: frees ud (xds_auth_dispose) */
} xds_auth_t;

/* Loads a static token file, one grant per line: "<token> <role>" where role is "<ns>~<gateway>"
 * or "*" (any Gateway, and streams without a role); '#' starts a comment; blank lines are skipped.
 * A token may appear on several lines. A stream is allowed when its token has a grant for its
 * role; no token or an unknown one → UNAUTHENTICATED; a known token for another role →
 * PERMISSION_DENIED "token is not granted role X". Borrows path. Fills |out| (dispose with
 * xds_auth_dispose). Returns XDS_OK, XDS_EIO (unreadable file), XDS_EINVAL (a malformed line: |err|
 * says "path:line: ..."), XDS_ENOMEM. */
int xds_auth_static_load(const char *path, xds_auth_t *out, xds_err_t *err);
/* The same from a string (tests, or a token from a flag). */
int xds_auth_static_parse(const char *text, const char *origin, xds_auth_t *out, xds_err_t *err);
/* Frees what |a| holds (calls a->dispose(a->ud)); |a| may be reused. */
void xds_auth_dispose(xds_auth_t *a);

/* Returns: the token of an `authorization` header value ("Bearer <token>", scheme
 * case-insensitive, surrounding spaces ignored) as a pointer into |header|, with *len; NULL when
 * there is none. */
const char *xds_auth_bearer(const char *header, size_t *len);

/* Internal to the server: creates a pending decision that calls |done(ctx, status, reason)| when
 * completed, unless cancelled first. */
xds_auth_pending_t *xds__auth_pending_new(void (*done)(void *ctx, int status, const char *reason),
                                          void *ctx);
/* The stream is gone: completion will only free. Drops the server's reference. */
void xds__auth_pending_cancel(xds_auth_pending_t *p);
/* The callback returned synchronously: drops the server's reference without a completion. */
void xds__auth_pending_drop(xds_auth_pending_t *p);

#ifdef __cplusplus
}
#endif
#endif /* XDS_AUTH_H */
