/*
 * The proxy's config store: the IR it serves (Binds, Listeners, Routes, TCPRoutes, Backends,
 * Policies, Addresses) as an immutable, refcounted snapshot.
 *
 * proxy_config_apply builds a new snapshot from the current one plus a change set (additions and
 * updates carry the new object, removals carry NULL), validates the whole result and either swaps
 * it in or rejects it whole with a reason (the xDS client turns that into a NACK; the previous
 * snapshot keeps serving). Everything the router needs is derived once per snapshot: regexes are
 * compiled, routes are grouped per listener, Services are joined with their Workloads. A request
 * holds the snapshot it started with (proxy_snapshot_retain), so a change never alters a request
 * in flight.
 *
 * Validation (any failure rejects the change set):
 *   V1 a Listener's bind_key names a Bind of the snapshot
 *   V2 a Route's listener_key names a Listener (a delegated child with route_group_key is stored
 *      but not served)
 *   V3 a TCPRoute's listener_key names a Listener
 *   V4 every path, header and query regex compiles (PCRE2)
 *   V5 an object's xDS name equals the change's name; no two Binds share a key
 *   P1-P6 every Policy compiles (proxy/policy.h: JWKS, htpasswd, rate limit, backend TLS,
 *         backend TCP/HTTP values, CEL rules)
 *   P7 every frontend tcp / tls / http Policy can be applied (proxy/frontend.h)
 *
 * Single-threaded: the store and snapshots are used on the proxy's loop (references may be
 * dropped from any thread: the count is atomic).
 */
#ifndef PROXY_CONFIG_H
#define PROXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/address.h"
#include "ir/backend.h"
#include "ir/bind.h"
#include "ir/ir.h"
#include "ir/listener.h"
#include "ir/route.h"
#include "ir/tcp_route.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of the proxy module. */
#define PROXY_ERRNO_MAP(XX)                          \
    XX(OK, 0, "success")                             \
    XX(ENOMEM, -1, "out of memory")                  \
    XX(EINVAL, -2, "invalid argument")               \
    XX(ECONFIG, -3, "configuration rejected")        \
    XX(ENOROUTE, -4, "no route matches the request") \
    XX(ENOBACKEND, -5, "no usable backend")          \
    XX(EIO, -6, "listener or connection failure")

enum {
#define PROXY__ERR_ENUM(name, code, msg) PROXY_##name = (code),
    PROXY_ERRNO_MAP(PROXY__ERR_ENUM)
#undef PROXY__ERR_ENUM
};

/* Returns: a static string describing |rc|. */
const char *proxy_strerror(int rc);

/* The two xDS types; same values as xds_type_t (XDS_TYPE_ADDRESS, XDS_TYPE_RESOURCE). */
enum { PROXY_TYPE_ADDRESS = 0, PROXY_TYPE_RESOURCE = 1 };

/* One change. |name| is the xDS name ("route/default/r.00.http", a Workload uid, ...); |obj| the
 * new state, or NULL for a removal (removing a name the snapshot does not hold is not an error).
 * Same layout as xds_change_t, so an in-process change set converts without copying. */
typedef struct proxy_change {
    int type;            /* PROXY_TYPE_* */
    const char *name;    /* xDS name */
    const ir_obj_t *obj; /* borrowed; retained by the snapshot that keeps it */
} proxy_change_t;

/* Fills |c| for adding or updating |o| (borrowed). */
void proxy_change_of_obj(proxy_change_t *c, const ir_obj_t *o);

typedef struct proxy_snapshot proxy_snapshot_t;
typedef struct proxy_config proxy_config_t;

/* Creates an empty store (its first snapshot has no objects). Returns: owned by caller
 * (proxy_config_free), or NULL on OOM. */
proxy_config_t *proxy_config_new(void);
/* Frees the store and drops its reference to the current snapshot. NULL is a no-op. */
void proxy_config_free(proxy_config_t *cfg);

/* Applies |n| changes (borrowed; applied in order, a later change of a name wins). With
 * |replace|, the change set is the whole state (an initial or state-of-the-world delivery):
 * every object it does not mention is removed.
 * Returns: PROXY_OK (the new snapshot is current), PROXY_ECONFIG with |reason| (cap bytes; may be
 * NULL) naming the object and what is wrong (nothing changed), or PROXY_ENOMEM. */
int proxy_config_apply(proxy_config_t *cfg, const proxy_change_t *changes, size_t n, bool replace,
                       char *reason, size_t cap);

/* Returns: the current snapshot with one more reference (owned by caller,
 * proxy_snapshot_release). Never NULL. */
const proxy_snapshot_t *proxy_config_snapshot(const proxy_config_t *cfg);
/* Returns: changes accepted / rejected so far. */
uint64_t proxy_config_accepted(const proxy_config_t *cfg);
uint64_t proxy_config_rejected(const proxy_config_t *cfg);
/* Returns: the reason of the last rejection ("" if none), borrowed until the next apply. */
const char *proxy_config_last_error(const proxy_config_t *cfg);

const proxy_snapshot_t *proxy_snapshot_retain(const proxy_snapshot_t *s);
void proxy_snapshot_release(const proxy_snapshot_t *s); /* NULL is a no-op */
/* Returns: 1 for the empty first snapshot, +1 per accepted apply. */
uint64_t proxy_snapshot_generation(const proxy_snapshot_t *s);
/* Returns: the object of type |type| named |name|, borrowed from |s|, or NULL. */
const ir_obj_t *proxy_snapshot_get(const proxy_snapshot_t *s, int type, const char *name);
/* Returns: the number of objects of |kind| held. */
size_t proxy_snapshot_count(const proxy_snapshot_t *s, ir_kind_t kind);
/* Returns: the Bind whose inner key is |key| (borrowed from |s|), or NULL. */
const ir_bind_t *proxy_snapshot_bind(const proxy_snapshot_t *s, const char *key);
/* Returns: the i-th Bind in key order (i < proxy_snapshot_count(s, IR_KIND_BIND)). */
const ir_bind_t *proxy_snapshot_bind_at(const proxy_snapshot_t *s, size_t i);
/* Returns: the Backend whose inner key is |key|, or NULL. */
const ir_backend_t *proxy_snapshot_backend(const proxy_snapshot_t *s, const char *key);
/* Returns: the JSON dump (owned by caller) {"generation", "objects": [ir_obj_dump...],
 * "not_served": [{"backend", "kind"}...] (Backends the proxy answers 501 for),
 * "policy_warnings": ["..."] (proxy/policy.h)}, or NULL. */
json_t *proxy_snapshot_dump(const proxy_snapshot_t *s);

/* Debug check of the snapshot invariants (see config.c). Returns PROXY_OK or PROXY_EINVAL. */
int proxy_snapshot_check(const proxy_snapshot_t *s);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_CONFIG_H */
