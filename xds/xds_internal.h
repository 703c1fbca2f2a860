/*
 * Internals shared by the xds sources: refcounted names, the two open-addressing tables every
 * per-stream structure is made of, and the parts of the store a session reads.
 *
 * Why our own tables rather than uthash: a session holds, per type, what the client has for every
 * name it was sent. With uthash that is a 56-byte handle plus a copied string per name and per
 * stream; here it is 16 bytes (name hash → version hash) in a flat array, and the dirty set holds
 * pointers to the store's refcounted names instead of copies.
 */
#ifndef XDS_INTERNAL_H
#define XDS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xds/session.h"
#include "xds/store.h"
#include "xds/xds.h"

/* ---------------------------------------------------------------------------------------------
 * Names: immutable, refcounted strings with their hash.
 * ------------------------------------------------------------------------------------------- */
typedef struct xds__name {
    uint32_t refs;
    uint32_t len;
    uint64_t hash; /* xds__hash(str, len), never 0 */
    char str[];
} xds__name_t;

uint64_t xds__hash(const char *s, size_t len);
/* Returns: a new name (refs 1), or NULL on OOM. Borrows s. */
xds__name_t *xds__name_new(const char *s, size_t len);
xds__name_t *xds__name_retain(xds__name_t *n);
void xds__name_release(xds__name_t *n); /* NULL is a no-op */

/* ---------------------------------------------------------------------------------------------
 * xds__map: name → uintptr_t value, linear probing, backward-shift deletion (no tombstones),
 * grows at 3/4 full, shrinks at 1/8. Holds a reference on each name.
 *
 * INVARIANTS
 *  M1 cap is 0 or a power of two >= 8, and len < cap
 *  M2 every held name sits at or after its home slot (hash & (cap-1)) with no empty slot between
 *  M3 no two slots hold equal names
 * ------------------------------------------------------------------------------------------- */
typedef struct xds__slot {
    xds__name_t *name; /* NULL: empty */
    uintptr_t val;
} xds__slot_t;

typedef struct xds__map {
    xds__slot_t *slots;
    size_t cap, len;
} xds__map_t;

void xds__map_init(xds__map_t *m);
/* Releases every name; |val_free| (may be NULL) is called on each value first. */
void xds__map_dispose(xds__map_t *m, void (*val_free)(uintptr_t val));
xds__slot_t *xds__map_find(const xds__map_t *m, const char *s, size_t len, uint64_t hash);
xds__slot_t *xds__map_find_name(const xds__map_t *m, const xds__name_t *n);
/* Inserts |n| (retained) with |val| unless an equal name is there. Sets *slot to the slot (valid
 * until the next insertion or deletion). Returns 1 inserted, 0 already there, XDS_ENOMEM. */
int xds__map_put(xds__map_t *m, xds__name_t *n, uintptr_t val, xds__slot_t **slot);
/* Removes the entry for the name; *val gets its value. Returns true if it was there. */
bool xds__map_del(xds__map_t *m, const char *s, size_t len, uint64_t hash, uintptr_t *val);
bool xds__map_del_name(xds__map_t *m, const xds__name_t *n, uintptr_t *val);
void xds__map_clear(xds__map_t *m, void (*val_free)(uintptr_t val));
int xds__map_check(const xds__map_t *m, xds_err_t *err);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].name) ... (no mutation inside). */

/* ---------------------------------------------------------------------------------------------
 * xds__vmap: uint64 key (a name hash, never 0) → uint64 value, same scheme.
 *
 * INVARIANTS V1..V3 as M1..M3 with keys for names.
 * ------------------------------------------------------------------------------------------- */
typedef struct xds__vslot {
    uint64_t key; /* 0: empty */
    uint64_t val;
} xds__vslot_t;

typedef struct xds__vmap {
    xds__vslot_t *slots;
    size_t cap, len;
} xds__vmap_t;

void xds__vmap_init(xds__vmap_t *m);
void xds__vmap_dispose(xds__vmap_t *m);
bool xds__vmap_get(const xds__vmap_t *m, uint64_t key, uint64_t *val);
int xds__vmap_set(xds__vmap_t *m, uint64_t key, uint64_t val); /* XDS_OK / XDS_ENOMEM */
bool xds__vmap_del(xds__vmap_t *m, uint64_t key);
/* Keeps only the keys for which |keep| returns true. */
void xds__vmap_filter(xds__vmap_t *m, bool (*keep)(uint64_t key, void *ud), void *ud);
int xds__vmap_check(const xds__vmap_t *m, xds_err_t *err);

/* The version hash of a version string: 16 lowercase hex digits parse to their value (our own
 * versions, ir_obj_version); anything else hashes to a value that matches no object of ours. */
uint64_t xds__version_parse(const char *v);

/* ---------------------------------------------------------------------------------------------
 * Store internals read by sessions and in-process subscribers.
 * ------------------------------------------------------------------------------------------- */
typedef struct xds__scope xds__scope_t;
typedef struct xds__inproc xds__inproc_t;

/* One Gateway's slice of the store (or the unscoped one, gw == NULL). */
struct xds__scope {
    xds__name_t *gw;                   /* "ns/name", or NULL for the unscoped scope */
    xds__map_t objs[XDS_TYPE_COUNT];   /* name → const ir_obj_t * (retained) */
    xds__map_t before[XDS_TYPE_COUNT]; /* for in-process delivery: name → the object held at
                                          the last commit (retained, 0 = absent) for names
                                          changed since */
    xds_session_t *sessions;           /* sessions scoped here (list via scope_next) */
    size_t nsessions;
    size_t ninproc;     /* in-process subscribers scoped here */
    xds__scope_t *next; /* store's list of scopes */
};

/* Returns: the unscoped scope (never NULL). */
xds__scope_t *xds__store_unscoped(const xds_store_t *s);
/* Returns: the scope of |gateway| creating it if needed (NULL gateway → unscoped), or NULL on OOM.
 * A scope with no object, session or subscriber is freed by xds__store_scope_unref. */
xds__scope_t *xds__store_scope_ref(xds_store_t *s, const char *gateway);
void xds__store_scope_unref(xds_store_t *s, xds__scope_t *sc);
/* Attaches / detaches a session (adds it to its scope's and the store's lists). */
void xds__store_attach(xds_store_t *s, xds_session_t *se, xds__scope_t *sc);
void xds__store_detach(xds_store_t *s, xds_session_t *se, xds__scope_t *sc);
/* The object visible under |name| from scope |sc| (unscoped first). Borrowed. */
const ir_obj_t *xds__store_lookup(const xds_store_t *s, const xds__scope_t *sc, xds_type_t t,
                                  const char *name, size_t len, uint64_t hash);
/* Calls |fn| for every object visible from |sc| (unscoped objects, then |sc|'s objects whose name
 * no unscoped object hides), with the store's name. Stops when fn returns false. */
void xds__store_foreach_visible(const xds_store_t *s, const xds__scope_t *sc, xds_type_t t,
                                bool (*fn)(xds__name_t *name, const ir_obj_t *o, void *ud),
                                void *ud);

/* ---------------------------------------------------------------------------------------------
 * Sessions (session.c). The struct is here because the store links sessions into its lists.
 * ------------------------------------------------------------------------------------------- */
enum {
    XDS__DIRTY_FORCE = 1, /* subscribed explicitly: report "does not exist" when absent */
    XDS__DIRTY_UNSUB = 2, /* unsubscribed while wildcard: send it or report it removed */
};

typedef struct xds__tstate {
    bool seen; /* a request for this type arrived */
    bool wildcard;
    bool must_reply;      /* the first wildcard request is answered even with nothing */
    xds__map_t explicit_; /* explicitly subscribed names (val unused) */
    xds__map_t dirty;     /* names to reconsider → XDS__DIRTY_* flags */
    xds__vmap_t known;    /* name hash → version hash the client holds */
    uint64_t in_flight;   /* nonce of the response awaiting ACK/NACK, 0 = none */
} xds__tstate_t;

struct xds_session {
    xds_store_t *store;
    xds__scope_t *scope;
    char *node_id;
    char *gateway;
    xds_session_config_t cfg;
    xds__tstate_t ts[XDS_TYPE_COUNT];
    uint64_t next_nonce;
    bool signalled; /* on_ready called, no pull since */
    int busy;       /* inside recv or pull: on_ready is not called */
    bool failed;    /* a mark was lost (out of memory): every pull fails from now on */
    xds_session_stats_t stats;
    int nack_type; /* -1: none */
    char nack_nonce[24];
    int nack_code;
    char *nack_message;
    /* store lists */
    xds_session_t *scope_prev, *scope_next;
    xds_session_t *store_prev, *store_next;
};

/* A name of type |t| changed in a scope the session sees. Returns XDS_OK or XDS_ENOMEM. */
int xds__session_mark_name(xds_session_t *se, xds_type_t t, xds__name_t *name);
/* Calls on_ready if the session may have something to send (the store became ready). */
void xds__session_kick(xds_session_t *se);

/* In-process subscribers (inproc.c), driven by the store. */
xds__inproc_t *xds__store_inprocs(const xds_store_t *s);
void xds__store_set_inprocs(xds_store_t *s, xds__inproc_t *head);
/* Delivers pending changes to every subscriber (commit). */
void xds__inproc_deliver_all(xds_store_t *s);
/* True when some subscriber exists (the store then records "before" objects). */
bool xds__store_tracks_before(const xds_store_t *s);
/* Counts a subscriber in or out of the store and scope |sc| (delta +1 / -1). */
void xds__store_inproc_count(xds_store_t *s, xds__scope_t *sc, int delta);
/* Scope iteration: the unscoped scope first, then every gateway scope; NULL at the end. */
xds__scope_t *xds__store_next_scope(const xds_store_t *s, const xds__scope_t *sc);

/* ---------------------------------------------------------------------------------------------
 * Misc
 * ------------------------------------------------------------------------------------------- */
int xds__err(xds_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void xds__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sorting helper: order of two (rank, name) pairs for additions (rank up) or removals (rank
 * down), then by name bytewise. */
int xds__order_cmp(int rank_a, const char *a, int rank_b, const char *b, bool removal);

/* Reads HealthCheckRequest.service (server.c). Returns 0 or -1 (malformed). */
int xds__health_parse(const uint8_t *msg, size_t len, char *out, size_t cap);

#endif /* XDS_INTERNAL_H */
