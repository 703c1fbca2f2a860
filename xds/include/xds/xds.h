/*
 * xds/ — the delta ADS protocol between krtgate's control plane and its proxies: the resource store
 * fed by the translate graph (store.h), the sans-IO per-stream state machine (session.h), the gRPC
 * server (server.h), the client the proxy uses (client.h), in-process delivery (inproc.h) and the
 * authentication hook (auth.h). This header holds what they share: the error table, the two type
 * URLs, the dependency order of kinds, and the parsing of a proxy's role.
 *
 * The key decision, repeated in every file: pushes are STATE-BASED. A stream remembers which names
 * are dirty for it and what the client holds, never a queue of events; a response is built when the
 * stream may send, from the store's current state. Memory per stream is bounded by the number of
 * names, whatever the change rate or the reader's speed. (istio merges pending pushes per
 * connection; go-control-plane diffs a snapshot per watch; we keep names, which is what both end up
 * computing.)
 *
 * Ownership words: borrows, keeps, takes (see krt/krt.h).
 */
#ifndef XDS_XDS_H
#define XDS_XDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Errors: negative codes from one table; details (what and where) in an xds_err_t.
 * ------------------------------------------------------------------------------------------- */
#define XDS_ERRNO_MAP(XX)                                              \
    XX(OK, 0, "success")                                               \
    XX(ENOMEM, -1, "out of memory")                                    \
    XX(EINVAL, -2, "invalid argument")                                 \
    XX(EDECODE, -3, "malformed request")                               \
    XX(ENODE, -4, "first request carries no node or an empty node id") \
    XX(EROLE, -5, "node role is not \"<namespace>~<gateway>\"")        \
    XX(ETYPEURL, -6, "missing type URL")                               \
    XX(ELIMIT, -7, "a configured limit was reached")                   \
    XX(ESTATE, -8, "not allowed in the current state")                 \
    XX(EIO, -9, "I/O error")                                           \
    XX(EAUTH, -10, "authentication failed")

enum {
#define XDS__ERR_ENUM(name, code, msg) XDS_##name = (code),
    XDS_ERRNO_MAP(XDS__ERR_ENUM)
#undef XDS__ERR_ENUM
};

/* Returns: a static string describing |rc| ("unknown error" outside the table). */
const char *xds_strerror(int rc);
/* Returns: a static string naming |rc|, e.g. "XDS_EROLE". */
const char *xds_err_name(int rc);

/* Where a failing function explains itself: |code| repeats the return value, |msg| names what was
 * wrong and where. Functions take an optional xds_err_t * (NULL: no details). */
typedef struct xds_err {
    int code;
    char msg[256];
} xds_err_t;

/* ---------------------------------------------------------------------------------------------
 * Types. Two type URLs are served; each is an independent sub-stream of the ADS stream. Address
 * comes first: the order in which a pump considers them (Addresses before the Routes that use
 * them).
 * ------------------------------------------------------------------------------------------- */
typedef enum xds_type {
    XDS_TYPE_ADDRESS = 0,  /* type.googleapis.com/istio.workload.Address, never scoped */
    XDS_TYPE_RESOURCE = 1, /* type.googleapis.com/agentgateway.dev.resource.Resource */
} xds_type_t;

#define XDS_TYPE_COUNT 2

/* Returns: the type URL of |t| (static), or NULL outside the enum. */
const char *xds_type_url(xds_type_t t);
/* Returns: the type whose URL is |url|, or -1. Borrows url. */
int xds_type_from_url(const char *url);
/* Returns: the type an IR kind is served under. */
xds_type_t xds_type_of_kind(ir_kind_t k);

/* Dependency rank of a kind for additions (make before break): Address 0, Backend 1, Policy 2,
 * Bind 3, Listener 4, Route 5, TCPRoute 6; anything else 7. Additions go out in increasing rank,
 * removals in decreasing rank, removals after additions. Why Policies before Binds: a Listener or
 * Route must never serve, even briefly, without the policies (authentication, for one) that
 * target it. */
int xds_kind_rank(ir_kind_t k);
/* The rank of the resource an xDS name designates ("route/..." → 5; for the Address type 0;
 * unparsable names 7). Borrows name. */
int xds_name_rank(xds_type_t t, const char *name);

/* ---------------------------------------------------------------------------------------------
 * Proxy identity. agentgateway's proxy names its Gateway in node.metadata["role"] as
 * "<namespace>~<gateway>" (reference agentgateway-xds.md §3.2). krtgate's scope string for a
 * Gateway is "<namespace>/<gateway>" (the ir key prefix).
 * ------------------------------------------------------------------------------------------- */

/* Converts |role| ("ns~gw") to "ns/gw" in |out| (cap bytes). Both parts must be non-empty and
 * contain neither '~' nor '/'. Borrows role. Returns XDS_OK, XDS_EROLE, or XDS_ELIMIT (cap too
 * small). */
int xds_role_to_gateway(const char *role, char *out, size_t cap);
/* Converts a gateway "ns/gw" to a role "ns~gw". Returns as xds_role_to_gateway. */
int xds_gateway_to_role(const char *gateway, char *out, size_t cap);

/* Returns: node.metadata["role"] when it is a string, borrowed from |node|; NULL when absent.
 * Borrows node (may be NULL). */
const char *xds_node_role(const Envoy__Config__Core__V3__Node *node);

/* Log hook of the module (server, client, sessions). NULL restores the default (WARN and ERROR to
 * stderr). Not thread-safe: set it before starting loops. Levels as net/ and krt/. */
enum { XDS_LOG_DEBUG = 0, XDS_LOG_INFO = 1, XDS_LOG_WARN = 2, XDS_LOG_ERROR = 3 };
typedef void (*xds_log_cb)(int level, const char *msg, void *ud);
void xds_log_set(xds_log_cb cb, void *ud, int min_level);

#ifdef __cplusplus
}
#endif
#endif /* XDS_XDS_H */
