/*
 * The resource view every xDS stream reads: the current IR objects per type and per scope, where a
 * scope is one Gateway ("<ns>/<name>") or the unscoped set (Addresses, and anything translate emits
 * without a Gateway).
 *
 * Fed by libkrt: xds_store_watch subscribes to one of the translate graph's output collections
 * (one per IR kind; every object carries its Gateway in its krt key, ir/ir.h). Each batch updates
 * the store at once and marks the changed names dirty in every session whose scope covers them;
 * nothing else is queued. In-process subscribers (inproc.h) get one change set per commit.
 *
 * Visibility. A stream scoped to Gateway G sees, for a wire name N, the unscoped object named N if
 * there is one, else G's object named N (agentgateway looks up unscoped first, then the proxy's
 * Gateway). A stream without a Gateway sees unscoped objects only.
 *
 * Commit. xds_store_commit ends a "flush" for in-process subscribers: it delivers each of them the
 * difference since the previous commit. Call it after every krt_engine_flush (xds_store_flush does
 * both); a running xds_server also commits on its next loop turn whenever the store changed.
 *
 * Readiness. The store is ready once every watched collection is synced. Until then sessions build
 * no response (agentgateway refuses streams until its collections synced; we accept the stream and
 * hold the answer, which the proxy cannot tell apart from a slow server).
 *
 * Lifetime: free the store before the krt engine whose collections it watches, and after every
 * session, server and in-process subscriber that uses it.
 */
#ifndef XDS_STORE_H
#define XDS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "krt/krt.h"
#include "xds/xds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xds_store xds_store_t;

/* Returns: an empty store (owned by caller, xds_store_free), or NULL on OOM. A store that watches
 * nothing is ready at once. */
xds_store_t *xds_store_new(void);
/* Unsubscribes from every watched collection and frees the store. Every session and in-process
 * subscriber must be gone (XDS_ESTATE is logged and the store leaked otherwise). NULL is a no-op.
 */
void xds_store_free(xds_store_t *s);

/* Subscribes to |c|, whose type must be one of the seven IR types (ir_kind_type), with replay: the
 * collection's current objects enter the store now. Keeps c (until xds_store_free).
 * Returns XDS_OK, XDS_EINVAL (not an IR collection), XDS_ENOMEM. */
int xds_store_watch(xds_store_t *s, krt_collection_t *c);

/* Inserts or replaces the object of (type of |o|, gateway of |o|, name of |o|). Borrows o (the
 * store retains it). An object equal to the one held (same bytes) changes nothing.
 * Returns 1 if the store changed, 0 if not, or XDS_ENOMEM. */
int xds_store_put(xds_store_t *s, const ir_obj_t *o);
/* Removes the object named |name| from scope |gateway| ("ns/name", or NULL for unscoped).
 * Borrows all. Returns 1 if it was there, 0 if not, or XDS_ENOMEM. */
int xds_store_delete(xds_store_t *s, xds_type_t t, const char *gateway, const char *name);

/* Delivers the change set accumulated since the last commit to in-process subscribers, and tells
 * change listeners the store is clean. Returns XDS_OK (also when nothing changed). */
int xds_store_commit(xds_store_t *s);
/* krt_engine_flush(e) then xds_store_commit(s). Returns krt's result of the flush (a negative KRT_*
 * code when a transformation failed; the store is committed in every case). */
int xds_store_flush(xds_store_t *s, krt_engine_t *e);

/* Returns: true when every watched collection is synced. */
bool xds_store_ready(const xds_store_t *s);
/* Returns: the object a stream scoped to |gateway| (NULL: unscoped only) sees under |name|, or
 * NULL. Borrowed until the store next changes. */
const ir_obj_t *xds_store_get(const xds_store_t *s, xds_type_t t, const char *gateway,
                              const char *name);
/* Returns: objects held in scope |gateway| (NULL: the unscoped scope) for type |t|. */
size_t xds_store_count(const xds_store_t *s, xds_type_t t, const char *gateway);
/* Returns: the number of changes (put or delete that changed something) since creation; the
 * system_version_info of responses. */
uint64_t xds_store_version(const xds_store_t *s);
/* Returns: the number of commits that delivered a change. */
uint64_t xds_store_commits(const xds_store_t *s);

/* A listener told, once per commit cycle, that the store has uncommitted changes (or that it just
 * became ready). Called from inside the krt batch handler or put/delete: it must not mutate the
 * store; schedule a commit instead. Keeps ud. Returns XDS_OK or XDS_ENOMEM. */
typedef void (*xds_store_change_cb)(xds_store_t *s, void *ud);
int xds_store_on_change(xds_store_t *s, xds_store_change_cb cb, void *ud);
/* Removes a listener added with the same cb and ud. */
void xds_store_off_change(xds_store_t *s, xds_store_change_cb cb, void *ud);

/* Returns: {"ready", "version", "commits", "sessions", "inproc", "scopes":[{"gateway", "address",
 * "resource"}]} (owned by caller), or NULL on OOM. */
json_t *xds_store_debug(const xds_store_t *s);
/* Checks the store's invariants (store.c) and those of every session attached. Returns XDS_OK, or
 * XDS_ESTATE with |err| naming the broken one. */
int xds_store_check(const xds_store_t *s, xds_err_t *err);

#ifdef __cplusplus
}
#endif
#endif /* XDS_STORE_H */
