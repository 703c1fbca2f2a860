/*
 * In-process delivery: a proxy in the same process subscribes to the store and receives, at every
 * commit, the change set its scope sees, as refcounted IR objects. No protobuf envelope is built
 * and nothing is copied: the objects are the ones the translate graph emitted.
 *
 * Same scoping as a remote stream (a role "<ns>~<gateway>" sees that Gateway's objects plus the
 * unscoped ones; NULL sees the unscoped ones only) and the same order: additions in dependency
 * order (Addresses, Backends, Policies, Binds, Listeners, Routes, TCPRoutes), then removals in the
 * reverse order. A change set holds each changed name once, with its state at the commit: a name
 * that changed and changed back within one commit is not in it.
 */
#ifndef XDS_INPROC_H
#define XDS_INPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xds/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xds_change {
    xds_type_t type;
    const char *name;    /* xDS name */
    const ir_obj_t *obj; /* the new state; NULL when the name was removed */
} xds_change_t;

typedef struct xds_changeset {
    const xds_change_t *changes; /* ordered as the file comment says */
    size_t len;
    bool initial;     /* the first delivery: the whole visible state */
    uint64_t version; /* xds_store_version at delivery */
} xds_changeset_t;

/* Called with each change set. |cs|, its names and objects are borrowed for the call (retain an
 * object to keep it). The callback must not mutate the store or commit; it may unsubscribe any
 * subscriber, itself included. */
typedef void (*xds_inproc_cb)(const xds_changeset_t *cs, void *ud);

typedef struct xds_inproc xds_inproc_t;

/* Subscribes to the view of |role| ("ns~gw", or NULL for unscoped objects only). If the store is
 * ready, the current state is delivered at once as an initial change set (possibly empty);
 * otherwise at the commit where it becomes ready. Keeps store and ud; borrows role.
 * Returns: the subscription (owned by caller, xds_inproc_unsubscribe), or NULL with *err
 * (XDS_EROLE, XDS_ENOMEM, XDS_EINVAL). */
xds_inproc_t *xds_inproc_subscribe(xds_store_t *store, const char *role, xds_inproc_cb cb, void *ud,
                                   int *err);
/* Ends the subscription. NULL is a no-op. */
void xds_inproc_unsubscribe(xds_inproc_t *sub);

/* Returns: change sets delivered so far. */
uint64_t xds_inproc_deliveries(const xds_inproc_t *sub);

#ifdef __cplusplus
}
#endif
#endif /* XDS_INPROC_H */
