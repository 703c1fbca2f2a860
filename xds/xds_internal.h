/*
 * Internals shared by the xds sources: refcounted names, the two open-addressing tables every
 * per-stream structure is made of, and the parts of the store a session reads.
 *
 * Why our own tables rather than uthash: a session holds, per type, dirty names and versions the
 * client has. With uthash that is a 56-byte handle plus a copied string per name and per stream;
 * here it is 16 bytes (name hash → version hash) in a flat array, and the dirty set holds pointers
 * to the store's refcounted names instead of copies. (What a client holds in the common case is
 * cheaper still: one bit per object id, session.c.)
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

/* An id no object has. */
#define XDS__NO_ID UINT32_MAX

/* The objects of one type in one scope: name → small dense id → object. The ids are what lets a
 * session record "the client holds the current version of this object" in one bit (session.c).
 * A freed id goes on a free list and is reused by the next new name; the sessions that held the
 * old object hear of the delete first (xds__session_mark_name), before the id can be reused.
 *
 * INVARIANTS (checked by xds_store_check as S6)
 *  O1 nids <= cap; every id < nids is live (ents[id] is an object pointer, low bit 0) or free (low
 *     bit 1, on the free list); nids == 0 when no object is held
 *  O2 index holds index.len distinct live ids, and ents[id] of each is an object with that name;
 *     every live id is in index
 *  O3 the free list, from free_head, visits every free id exactly once
 * ------------------------------------------------------------------------------------------- */
typedef struct xds__objs {
    xds__map_t index; /* name → id */
    uintptr_t *ents;  /* id → const ir_obj_t * (retained), or (next free id + 1) << 1 | 1 */
    uint32_t nids;    /* ids handed out: live + free (< 2^31) */
    uint32_t cap;
    uint32_t free_head; /* first free id + 1, 0 = none */
} xds__objs_t;

/* The object of live id |id|. Borrowed. */
static inline const ir_obj_t *xds__objs_at(const xds__objs_t *o, uint32_t id)
{
    return (const ir_obj_t *)o->ents[id];
}
/* Returns: the id of |name|, or XDS__NO_ID. */
uint32_t xds__objs_find(const xds__objs_t *o, const char *s, size_t len, uint64_t hash);
/* Returns: the object named |n|, or NULL. Borrowed. */
const ir_obj_t *xds__objs_get(const xds__objs_t *o, const xds__name_t *n);
/* True when |id| is a live id of |o|. */
bool xds__objs_live(const xds__objs_t *o, uint32_t id);

/* One Gateway's slice of the store (or the unscoped one, gw == NULL). */
struct xds__scope {
    xds__name_t *gw;                   /* "ns/name", or NULL for the unscoped scope */
    xds__objs_t objs[XDS_TYPE_COUNT];  /* name → id → const ir_obj_t * (retained) */
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
/* Where a name is, seen from a session's scope: side 0 is the unscoped scope, side 1 the session's
 * Gateway scope (always absent for an unscoped session). The visible object is obj[0] if there is
 * one, else obj[1]. */
typedef struct xds__where {
    uint32_t id[2]; /* XDS__NO_ID: absent on that side */
    const ir_obj_t *obj[2];
} xds__where_t;
/* Fills |w| for |name| of type |t| seen from |sc|. With |both| false, side 1 is not looked at when
 * side 0 holds the name (the caller only needs the visible object). */
void xds__store_where(const xds_store_t *s, const xds__scope_t *sc, xds_type_t t, const char *name,
                      size_t len, uint64_t hash, bool both, xds__where_t *w);
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

/* One bit per id of one (scope, type): set = the client holds that object's current version. */
typedef struct xds__held {
    uint64_t *words;
    uint32_t nwords;
    uint32_t count; /* bits set */
} xds__held_t;

typedef struct xds__tstate {
    bool seen; /* a request for this type arrived */
    bool wildcard;
    bool must_reply;      /* the first wildcard request is answered even with nothing */
    xds__map_t explicit_; /* explicitly subscribed names (val unused) */
    xds__map_t dirty;     /* names to reconsider → XDS__DIRTY_* flags */
    xds__held_t held[2];  /* what the client holds, by id: [0] unscoped, [1] own Gateway scope */
    xds__vmap_t known;    /* the rest: name hash → version hash the client holds */
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

/* A name of type |t| changed in scope |sc|, a scope the session sees, where it has id |id|. |old|
 * is the object that id held before when the client's record of it must move to "holds version
 * v" (the object was deleted, or replaced by one of another wire version), else NULL; the id may
 * be reused as soon as this returns. Borrows all. Returns XDS_OK or XDS_ENOMEM. */
int xds__session_mark_name(xds_session_t *se, xds_type_t t, xds__name_t *name,
                           const xds__scope_t *sc, uint32_t id, const ir_obj_t *old);
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
