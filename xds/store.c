/*
 * The xDS resource store: IR objects per type and per scope, fed by krt batches, read by sessions
 * and in-process subscribers.
 *
 * Key decision: a change is applied to the store and turned into dirty names on the sessions that
 * can see it, right away, inside the krt batch handler; no event is queued anywhere. A session
 * reads the store's current state when it builds a response, so a burst of changes to one name
 * costs one mark per session and one resource in one response. The alternative, a per-connection
 * queue of events (or of merged push requests, as istio does), grows with the change rate when a
 * proxy reads slowly.
 *
 * In-process subscribers need "what changed since the last commit": for that the store remembers,
 * per scope and type, the object each changed name had at the last commit (only while a
 * subscriber exists), and forgets it at commit.
 *
 * INVARIANTS
 *  S1 every scope but the unscoped one has objects, "before" records, sessions or subscribers
 *  S2 an object held under (scope, type, name) has that scope's gateway, a kind of that type and
 *     that xDS name
 *  S3 each session is on the store's list once and on its own scope's list once; the counts match
 *  S4 before-records exist only while some in-process subscriber exists
 *  S5 every map satisfies M1..M3 (xds_internal.h)
 *  S6 the objects of every (scope, type) satisfy O1..O3 (xds_internal.h)
 *
 * Ids. Objects are held as name → id → object, with a dense id per (scope, type) and a free list,
 * so that a session can say what its client holds in one bit per id (session.c). That costs the
 * store 8 bytes per id (the id → object array) on top of the name table it had anyway.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ir/names.h"
#include "xds/inproc.h"
#include "xds_internal.h"

typedef struct listener {
    xds_store_change_cb cb;
    void *ud;
} listener_t;

typedef struct watch {
    krt_handler_t *h;
    krt_collection_t *c;
} watch_t;

struct xds_store {
    xds__scope_t *unscoped;
    xds__scope_t *scopes;   /* gateway scopes, list via next */
    xds__map_t scope_index; /* gateway → scope */
    xds_session_t *sessions;
    size_t nsessions;
    watch_t *watches;
    size_t nwatches;
    listener_t *listeners;
    size_t nlisteners;
    xds__inproc_t *inprocs;
    size_t ninproc;
    bool pending;  /* uncommitted changes */
    bool notified; /* listeners told since the last commit */
    bool was_ready;
    uint64_t version, commits;
};

/* ---- objects of one (scope, type): name → id → object ---- */

#define MAX_IDS 0x7fffffffu

static void objs_init(xds__objs_t *o)
{
    memset(o, 0, sizeof *o);
    xds__map_init(&o->index);
}

static bool ent_live(uintptr_t e)
{
    return (e & 1u) == 0;
}

bool xds__objs_live(const xds__objs_t *o, uint32_t id)
{
    return id < o->nids && ent_live(o->ents[id]);
}

static void objs_dispose(xds__objs_t *o)
{
    for (uint32_t i = 0; i < o->nids; i++)
        if (ent_live(o->ents[i]))
            ir_obj_release((const ir_obj_t *)o->ents[i]);
    krt_free(o->ents);
    xds__map_dispose(&o->index, NULL);
    objs_init(o);
}

uint32_t xds__objs_find(const xds__objs_t *o, const char *s, size_t len, uint64_t hash)
{
    const xds__slot_t *sl = xds__map_find(&o->index, s, len, hash);
    return sl ? (uint32_t)sl->val : XDS__NO_ID;
}

const ir_obj_t *xds__objs_get(const xds__objs_t *o, const xds__name_t *n)
{
    uint32_t id = xds__objs_find(o, n->str, n->len, n->hash);
    return id == XDS__NO_ID ? NULL : xds__objs_at(o, id);
}

/* Adds |n| (retained) → |obj| (the caller's reference moves in on success) under a free id.
 * Returns XDS_OK with *id, or XDS_ENOMEM with nothing changed. */
static int objs_add(xds__objs_t *o, xds__name_t *n, const ir_obj_t *obj, uint32_t *id)
{
    uint32_t i;
    if (o->free_head) {
        i = o->free_head - 1;
    } else {
        if (o->nids >= MAX_IDS)
            return XDS_ENOMEM;
        if (o->nids == o->cap) {
            /* 1.5x: this array is per scope and type, and the largest (Addresses) is large */
            uint32_t cap = o->cap ? o->cap + o->cap / 2 : 8;
            if (cap > MAX_IDS)
                cap = MAX_IDS;
            uintptr_t *e = krt_realloc(o->ents, (size_t)cap * sizeof *e);
            if (!e)
                return XDS_ENOMEM;
            o->ents = e;
            o->cap = cap;
        }
        i = o->nids;
    }
    int rc = xds__map_put(&o->index, n, i, NULL);
    if (rc < 0) {
        if (o->index.len == 0) { /* O1: keep no array for no object */
            krt_free(o->ents);
            o->ents = NULL;
            o->cap = 0;
        }
        return rc;
    }
    if (o->free_head)
        o->free_head = (uint32_t)(o->ents[i] >> 1);
    else
        o->nids++;
    o->ents[i] = (uintptr_t)obj;
    *id = i;
    return XDS_OK;
}

/* Removes live |id| named |n|; its object reference moves to the caller. */
static const ir_obj_t *objs_del(xds__objs_t *o, const xds__name_t *n, uint32_t id)
{
    const ir_obj_t *old = xds__objs_at(o, id);
    xds__map_del_name(&o->index, n, NULL);
    o->ents[id] = (uintptr_t)o->free_head << 1 | 1u;
    o->free_head = id + 1;
    if (o->index.len == 0) { /* O1: no object, no ids */
        krt_free(o->ents);
        o->ents = NULL;
        o->nids = o->cap = o->free_head = 0;
    }
    return old;
}

static int objs_check(const xds__objs_t *o, const char *scope, int t, xds_err_t *err)
{
    int rc = xds__map_check(&o->index, err);
    if (rc != XDS_OK)
        return rc;
    if (o->nids > o->cap || (o->index.len == 0 && (o->nids || o->ents)))
        return xds__err(err, XDS_ESTATE, "O1: scope %s type %d: %u ids, cap %u, %zu objects", scope,
                        t, o->nids, o->cap, o->index.len);
    size_t live = 0;
    for (uint32_t i = 0; i < o->nids; i++)
        live += ent_live(o->ents[i]);
    if (live != o->index.len)
        return xds__err(err, XDS_ESTATE, "O2: scope %s type %d: %zu live ids, %zu names", scope, t,
                        live, o->index.len);
    for (size_t i = 0; i < o->index.cap; i++) {
        const xds__slot_t *sl = &o->index.slots[i];
        if (!sl->name)
            continue;
        if (sl->val >= o->nids || !ent_live(o->ents[sl->val]))
            return xds__err(err, XDS_ESTATE, "O2: scope %s: \"%s\" has id %lu, not live", scope,
                            sl->name->str, (unsigned long)sl->val);
        if (strcmp(ir_obj_name(xds__objs_at(o, (uint32_t)sl->val)), sl->name->str))
            return xds__err(err, XDS_ESTATE, "O2: scope %s: id %lu of \"%s\" holds %s", scope,
                            (unsigned long)sl->val, sl->name->str,
                            ir_obj_key(xds__objs_at(o, (uint32_t)sl->val)));
    }
    /* live ids are distinct: index.len names, index.len live ids, each name's id live and, by
     * the name check above, each live id named by one name only (names are distinct, M3) */
    size_t nfree = 0;
    for (uint32_t f = o->free_head; f; nfree++) {
        if (f - 1 >= o->nids || ent_live(o->ents[f - 1]) || nfree > o->nids)
            return xds__err(err, XDS_ESTATE, "O3: scope %s type %d: free list broken at id %u",
                            scope, t, f - 1);
        f = (uint32_t)(o->ents[f - 1] >> 1);
    }
    if (nfree != o->nids - live)
        return xds__err(err, XDS_ESTATE, "O3: scope %s type %d: %zu free ids listed, %zu free",
                        scope, t, nfree, (size_t)(o->nids - live));
    return XDS_OK;
}

/* ---- scopes ---- */

static void release_obj(uintptr_t v)
{
    ir_obj_release((const ir_obj_t *)v);
}

static xds__scope_t *scope_new(const char *gw)
{
    xds__scope_t *sc = krt_calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    if (gw && !(sc->gw = xds__name_new(gw, strlen(gw)))) {
        krt_free(sc);
        return NULL;
    }
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        objs_init(&sc->objs[t]);
        xds__map_init(&sc->before[t]);
    }
    return sc;
}

static void scope_free(xds__scope_t *sc)
{
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        objs_dispose(&sc->objs[t]);
        xds__map_dispose(&sc->before[t], release_obj);
    }
    xds__name_release(sc->gw);
    krt_free(sc);
}

static bool scope_empty(const xds__scope_t *sc)
{
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        if (sc->objs[t].index.len || sc->before[t].len)
            return false;
    return sc->nsessions == 0 && sc->ninproc == 0;
}

xds__scope_t *xds__store_unscoped(const xds_store_t *s)
{
    return s->unscoped;
}

static xds__scope_t *scope_find(const xds_store_t *s, const char *gateway)
{
    if (!gateway)
        return s->unscoped;
    size_t len = strlen(gateway);
    xds__slot_t *sl = xds__map_find(&s->scope_index, gateway, len, xds__hash(gateway, len));
    return sl ? (xds__scope_t *)sl->val : NULL;
}

xds__scope_t *xds__store_scope_ref(xds_store_t *s, const char *gateway)
{
    xds__scope_t *sc = scope_find(s, gateway);
    if (sc)
        return sc;
    if (!ir_gateway_valid(gateway))
        return NULL;
    sc = scope_new(gateway);
    if (!sc)
        return NULL;
    if (xds__map_put(&s->scope_index, sc->gw, (uintptr_t)sc, NULL) < 0) {
        scope_free(sc);
        return NULL;
    }
    sc->next = s->scopes;
    s->scopes = sc;
    return sc;
}

void xds__store_scope_unref(xds_store_t *s, xds__scope_t *sc)
{
    if (!sc || sc == s->unscoped || !scope_empty(sc))
        return;
    xds__map_del_name(&s->scope_index, sc->gw, NULL);
    for (xds__scope_t **p = &s->scopes; *p; p = &(*p)->next)
        if (*p == sc) {
            *p = sc->next;
            break;
        }
    scope_free(sc);
}

/* ---- lifecycle ---- */

xds_store_t *xds_store_new(void)
{
    xds_store_t *s = krt_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    xds__map_init(&s->scope_index);
    s->unscoped = scope_new(NULL);
    if (!s->unscoped) {
        krt_free(s);
        return NULL;
    }
    s->was_ready = true;
    return s;
}

void xds_store_free(xds_store_t *s)
{
    if (!s)
        return;
    if (s->nsessions || s->ninproc) {
        xds__log(XDS_LOG_ERROR,
                 "xds_store_free: %zu sessions and %zu in-process subscribers are "
                 "still attached: store leaked",
                 s->nsessions, s->ninproc);
        return;
    }
    for (size_t i = 0; i < s->nwatches; i++)
        krt_handler_unsubscribe(s->watches[i].h);
    krt_free(s->watches);
    krt_free(s->listeners);
    while (s->scopes) {
        xds__scope_t *n = s->scopes->next;
        scope_free(s->scopes);
        s->scopes = n;
    }
    xds__map_dispose(&s->scope_index, NULL);
    scope_free(s->unscoped);
    krt_free(s);
}

/* ---- change notification ---- */

static void notify(xds_store_t *s)
{
    s->pending = true;
    if (s->notified)
        return;
    s->notified = true;
    for (size_t i = 0; i < s->nlisteners; i++)
        s->listeners[i].cb(s, s->listeners[i].ud);
}

int xds_store_on_change(xds_store_t *s, xds_store_change_cb cb, void *ud)
{
    if (!s || !cb)
        return XDS_EINVAL;
    listener_t *l = krt_realloc(s->listeners, (s->nlisteners + 1) * sizeof *l);
    if (!l)
        return XDS_ENOMEM;
    s->listeners = l;
    l[s->nlisteners++] = (listener_t){cb, ud};
    return XDS_OK;
}

void xds_store_off_change(xds_store_t *s, xds_store_change_cb cb, void *ud)
{
    for (size_t i = 0; s && i < s->nlisteners; i++)
        if (s->listeners[i].cb == cb && s->listeners[i].ud == ud) {
            memmove(&s->listeners[i], &s->listeners[i + 1],
                    (s->nlisteners - i - 1) * sizeof *s->listeners);
            s->nlisteners--;
            return;
        }
}

/* Marks |name| (id |id| in |sc|) dirty on every session that can see scope |sc|; |old| as for
 * xds__session_mark_name. */
static int mark_sessions(xds_store_t *s, xds__scope_t *sc, xds_type_t t, xds__name_t *name,
                         uint32_t id, const ir_obj_t *old)
{
    int rc = XDS_OK;
    if (sc == s->unscoped) {
        for (xds_session_t *se = s->sessions; se; se = se->store_next)
            if (xds__session_mark_name(se, t, name, sc, id, old) != XDS_OK)
                rc = XDS_ENOMEM;
    } else {
        for (xds_session_t *se = sc->sessions; se; se = se->scope_next)
            if (xds__session_mark_name(se, t, name, sc, id, old) != XDS_OK)
                rc = XDS_ENOMEM;
    }
    if (rc != XDS_OK)
        xds__log(XDS_LOG_ERROR, "store: out of memory marking \"%s\" dirty: a stream may miss it",
                 name->str);
    return rc;
}

/* Records what |name| looked like at the last commit, the first time it changes since. */
static int record_before(xds_store_t *s, xds__scope_t *sc, xds_type_t t, xds__name_t *name,
                         const ir_obj_t *old)
{
    if (!s->ninproc || xds__map_find_name(&sc->before[t], name))
        return XDS_OK;
    int rc = xds__map_put(&sc->before[t], name, (uintptr_t)(old ? ir_obj_retain(old) : NULL), NULL);
    if (rc < 0) {
        if (old)
            ir_obj_release(old);
        return rc;
    }
    return XDS_OK;
}

/* ---- mutations ---- */

int xds_store_put(xds_store_t *s, const ir_obj_t *o)
{
    if (!s || !o)
        return XDS_EINVAL;
    xds_type_t t = xds_type_of_kind(ir_obj_kind(o));
    xds__scope_t *sc = xds__store_scope_ref(s, ir_obj_gateway(o));
    if (!sc)
        return ir_obj_gateway(o) && !ir_gateway_valid(ir_obj_gateway(o)) ? XDS_EINVAL : XDS_ENOMEM;
    xds__objs_t *os = &sc->objs[t];
    const char *nm = ir_obj_name(o);
    size_t len = strlen(nm);
    uint64_t h = xds__hash(nm, len);
    xds__slot_t *sl = xds__map_find(&os->index, nm, len, h);
    xds__name_t *name;
    uint32_t id;
    const ir_obj_t *old = NULL;
    if (sl) {
        id = (uint32_t)sl->val;
        old = xds__objs_at(os, id);
        if (krt_obj_equal(ir_obj_krt(old), ir_obj_krt(o)))
            return 0;
        name = sl->name;
        if (record_before(s, sc, t, name, old) != XDS_OK)
            return XDS_ENOMEM;
        os->ents[id] = (uintptr_t)ir_obj_retain(o);
    } else {
        name = xds__name_new(nm, len);
        if (!name) {
            xds__store_scope_unref(s, sc);
            return XDS_ENOMEM;
        }
        int rc = record_before(s, sc, t, name, NULL);
        if (rc == XDS_OK)
            rc = objs_add(os, name, o, &id);
        if (rc < 0) {
            xds__map_del_name(&sc->before[t], name, NULL);
            xds__name_release(name);
            xds__store_scope_unref(s, sc);
            return XDS_ENOMEM;
        }
        xds__name_release(name); /* the index holds it now */
        ir_obj_retain(o);
        name = xds__map_find(&os->index, nm, len, h)->name;
    }
    s->version++;
    /* Sessions that hold the old version by id must now say so by version, unless the wire
     * version did not change (krt equality also covers what is not on the wire). */
    bool same_wire = old && ir_obj_wire_hash(old) == ir_obj_wire_hash(o);
    mark_sessions(s, sc, t, name, id, old && !same_wire ? old : NULL);
    if (old)
        ir_obj_release(old);
    notify(s);
    return 1;
}

int xds_store_delete(xds_store_t *s, xds_type_t t, const char *gateway, const char *name)
{
    if (!s || !name || (unsigned)t >= XDS_TYPE_COUNT)
        return XDS_EINVAL;
    xds__scope_t *sc = scope_find(s, gateway);
    if (!sc)
        return 0;
    xds__objs_t *os = &sc->objs[t];
    size_t len = strlen(name);
    xds__slot_t *sl = xds__map_find(&os->index, name, len, xds__hash(name, len));
    if (!sl)
        return 0;
    xds__name_t *n = xds__name_retain(sl->name);
    uint32_t id = (uint32_t)sl->val;
    if (record_before(s, sc, t, n, xds__objs_at(os, id)) != XDS_OK) {
        xds__name_release(n);
        return XDS_ENOMEM;
    }
    const ir_obj_t *old = objs_del(os, n, id);
    s->version++;
    /* before anything can reuse the id: sessions move what they held under it to its name */
    mark_sessions(s, sc, t, n, id, old);
    ir_obj_release(old);
    xds__name_release(n);
    xds__store_scope_unref(s, sc);
    notify(s);
    return 1;
}

/* ---- krt feed ---- */

static void on_batch(const krt_batch_t *b, void *ud)
{
    xds_store_t *s = ud;
    for (size_t i = 0; i < b->len; i++) {
        const krt_event_t *ev = &b->events[i];
        int rc;
        if (ev->op == KRT_DELETE) {
            const ir_obj_t *o = ir_obj_from_krt(ev->old);
            if (!o)
                continue;
            rc = xds_store_delete(s, xds_type_of_kind(ir_obj_kind(o)), ir_obj_gateway(o),
                                  ir_obj_name(o));
        } else {
            const ir_obj_t *o = ir_obj_from_krt(ev->cur);
            if (!o)
                continue;
            rc = xds_store_put(s, o);
        }
        if (rc < 0)
            xds__log(XDS_LOG_ERROR, "store: collection %s, key %s: %s",
                     krt_collection_name(b->collection), krt_obj_key(krt_event_latest(ev)),
                     xds_strerror(rc));
    }
}

int xds_store_watch(xds_store_t *s, krt_collection_t *c)
{
    if (!s || !c)
        return XDS_EINVAL;
    const krt_type_t *ty = krt_collection_type(c);
    bool ok = false;
    for (int k = 1; k <= IR_KIND_COUNT; k++)
        if (ir_kind_type((ir_kind_t)k) == ty)
            ok = true;
    if (!ok)
        return XDS_EINVAL;
    watch_t *w = krt_realloc(s->watches, (s->nwatches + 1) * sizeof *w);
    if (!w)
        return XDS_ENOMEM;
    s->watches = w;
    krt_handler_t *h = krt_collection_subscribe(c, on_batch, s, true);
    if (!h)
        return XDS_ENOMEM;
    w[s->nwatches++] = (watch_t){h, c};
    s->was_ready = xds_store_ready(s);
    return XDS_OK;
}

bool xds_store_ready(const xds_store_t *s)
{
    for (size_t i = 0; i < s->nwatches; i++)
        if (!krt_handler_synced(s->watches[i].h))
            return false;
    return true;
}

/* ---- commit ---- */

/* Forgets the before-records: the next commit's baseline is now (S4). */
static void clear_before(xds_store_t *s)
{
    for (xds__scope_t *sc = s->unscoped; sc;) {
        for (int t = 0; t < XDS_TYPE_COUNT; t++)
            xds__map_clear(&sc->before[t], release_obj);
        xds__scope_t *next = sc == s->unscoped ? s->scopes : sc->next;
        xds__store_scope_unref(s, sc);
        sc = next;
    }
}

int xds_store_commit(xds_store_t *s)
{
    if (!s)
        return XDS_EINVAL;
    bool ready = xds_store_ready(s);
    bool became_ready = ready && !s->was_ready;
    s->was_ready = ready;
    if (became_ready)
        for (xds_session_t *se = s->sessions; se; se = se->store_next)
            xds__session_kick(se);
    if (s->pending || became_ready) {
        if (s->pending)
            s->commits++;
        xds__inproc_deliver_all(s);
    }
    clear_before(s);
    s->pending = false;
    s->notified = false;
    if (became_ready) /* e.g. health watchers */
        for (size_t i = 0; i < s->nlisteners; i++)
            s->listeners[i].cb(s, s->listeners[i].ud);
    return XDS_OK;
}

int xds_store_flush(xds_store_t *s, krt_engine_t *e)
{
    int rc = krt_engine_flush(e);
    xds_store_commit(s);
    return rc;
}

/* ---- reads ---- */

const ir_obj_t *xds__store_lookup(const xds_store_t *s, const xds__scope_t *sc, xds_type_t t,
                                  const char *name, size_t len, uint64_t hash)
{
    const xds__objs_t *u = &s->unscoped->objs[t];
    uint32_t id = xds__objs_find(u, name, len, hash);
    if (id != XDS__NO_ID)
        return xds__objs_at(u, id);
    if (sc && sc != s->unscoped) {
        id = xds__objs_find(&sc->objs[t], name, len, hash);
        if (id != XDS__NO_ID)
            return xds__objs_at(&sc->objs[t], id);
    }
    return NULL;
}

void xds__store_where(const xds_store_t *s, const xds__scope_t *sc, xds_type_t t, const char *name,
                      size_t len, uint64_t hash, bool both, xds__where_t *w)
{
    const xds__objs_t *u = &s->unscoped->objs[t];
    w->id[0] = xds__objs_find(u, name, len, hash);
    w->obj[0] = w->id[0] != XDS__NO_ID ? xds__objs_at(u, w->id[0]) : NULL;
    w->id[1] = XDS__NO_ID;
    w->obj[1] = NULL;
    if (sc && sc != s->unscoped && (both || !w->obj[0])) {
        w->id[1] = xds__objs_find(&sc->objs[t], name, len, hash);
        if (w->id[1] != XDS__NO_ID)
            w->obj[1] = xds__objs_at(&sc->objs[t], w->id[1]);
    }
}

void xds__store_foreach_visible(const xds_store_t *s, const xds__scope_t *sc, xds_type_t t,
                                bool (*fn)(xds__name_t *name, const ir_obj_t *o, void *ud),
                                void *ud)
{
    const xds__objs_t *u = &s->unscoped->objs[t];
    for (size_t i = 0; i < u->index.cap; i++) {
        const xds__slot_t *sl = &u->index.slots[i];
        if (sl->name && !fn(sl->name, xds__objs_at(u, (uint32_t)sl->val), ud))
            return;
    }
    if (!sc || sc == s->unscoped)
        return;
    const xds__objs_t *g = &sc->objs[t];
    for (size_t i = 0; i < g->index.cap; i++) {
        const xds__slot_t *sl = &g->index.slots[i];
        if (sl->name && !xds__map_find_name(&u->index, sl->name) &&
            !fn(sl->name, xds__objs_at(g, (uint32_t)sl->val), ud))
            return;
    }
}

const ir_obj_t *xds_store_get(const xds_store_t *s, xds_type_t t, const char *gateway,
                              const char *name)
{
    if (!s || !name || (unsigned)t >= XDS_TYPE_COUNT)
        return NULL;
    size_t len = strlen(name);
    return xds__store_lookup(s, scope_find(s, gateway), t, name, len, xds__hash(name, len));
}

size_t xds_store_count(const xds_store_t *s, xds_type_t t, const char *gateway)
{
    if (!s || (unsigned)t >= XDS_TYPE_COUNT)
        return 0;
    const xds__scope_t *sc = scope_find(s, gateway);
    return sc ? sc->objs[t].index.len : 0;
}

uint64_t xds_store_version(const xds_store_t *s)
{
    return s->version;
}

uint64_t xds_store_commits(const xds_store_t *s)
{
    return s->commits;
}

/* ---- sessions ---- */

void xds__store_attach(xds_store_t *s, xds_session_t *se, xds__scope_t *sc)
{
    se->store_prev = NULL;
    se->store_next = s->sessions;
    if (s->sessions)
        s->sessions->store_prev = se;
    s->sessions = se;
    s->nsessions++;
    se->scope_prev = NULL;
    se->scope_next = sc->sessions;
    if (sc->sessions)
        sc->sessions->scope_prev = se;
    sc->sessions = se;
    sc->nsessions++;
}

void xds__store_detach(xds_store_t *s, xds_session_t *se, xds__scope_t *sc)
{
    if (se->store_prev)
        se->store_prev->store_next = se->store_next;
    else
        s->sessions = se->store_next;
    if (se->store_next)
        se->store_next->store_prev = se->store_prev;
    s->nsessions--;
    if (se->scope_prev)
        se->scope_prev->scope_next = se->scope_next;
    else
        sc->sessions = se->scope_next;
    if (se->scope_next)
        se->scope_next->scope_prev = se->scope_prev;
    sc->nsessions--;
    se->store_prev = se->store_next = se->scope_prev = se->scope_next = NULL;
    xds__store_scope_unref(s, sc);
}

/* ---- in-process subscribers ---- */

xds__inproc_t *xds__store_inprocs(const xds_store_t *s)
{
    return s->inprocs;
}

void xds__store_set_inprocs(xds_store_t *s, xds__inproc_t *head)
{
    s->inprocs = head;
}

bool xds__store_tracks_before(const xds_store_t *s)
{
    return s->ninproc > 0;
}

void xds__store_inproc_count(xds_store_t *s, xds__scope_t *sc, int delta)
{
    s->ninproc = (size_t)((long)s->ninproc + delta);
    sc->ninproc = (size_t)((long)sc->ninproc + delta);
    if (delta < 0) {
        xds__store_scope_unref(s, sc);
        if (!s->ninproc)
            clear_before(s);
    }
}

xds__scope_t *xds__store_next_scope(const xds_store_t *s, const xds__scope_t *sc)
{
    return sc == s->unscoped ? s->scopes : sc->next;
}

/* ---- debug ---- */

json_t *xds_store_debug(const xds_store_t *s)
{
    json_t *scopes = json_array();
    json_t *j = json_object();
    if (!scopes || !j) {
        json_decref(scopes);
        json_decref(j);
        return NULL;
    }
    for (const xds__scope_t *sc = s->unscoped; sc; sc = xds__store_next_scope(s, sc))
        json_array_append_new(
            scopes, json_pack("{s:s?,s:I,s:I,s:I}", "gateway", sc->gw ? sc->gw->str : NULL,
                              "address", (json_int_t)sc->objs[XDS_TYPE_ADDRESS].index.len,
                              "resource", (json_int_t)sc->objs[XDS_TYPE_RESOURCE].index.len,
                              "sessions", (json_int_t)sc->nsessions));
    json_object_set_new(j, "ready", json_boolean(xds_store_ready(s)));
    json_object_set_new(j, "version", json_integer((json_int_t)s->version));
    json_object_set_new(j, "commits", json_integer((json_int_t)s->commits));
    json_object_set_new(j, "sessions", json_integer((json_int_t)s->nsessions));
    json_object_set_new(j, "inproc", json_integer((json_int_t)s->ninproc));
    json_object_set_new(j, "watched", json_integer((json_int_t)s->nwatches));
    json_object_set_new(j, "scopes", scopes);
    return j;
}

int xds_store_check(const xds_store_t *s, xds_err_t *err)
{
    size_t nsess = 0, ninproc = 0;
    for (const xds__scope_t *sc = s->unscoped; sc; sc = xds__store_next_scope(s, sc)) {
        if (sc != s->unscoped && scope_empty(sc))
            return xds__err(err, XDS_ESTATE, "S1: scope %s is empty but kept", sc->gw->str);
        if (sc != s->unscoped && scope_find(s, sc->gw->str) != sc)
            return xds__err(err, XDS_ESTATE, "S1: scope %s not indexed", sc->gw->str);
        for (int t = 0; t < XDS_TYPE_COUNT; t++) {
            const xds__objs_t *os = &sc->objs[t];
            int rc = objs_check(os, sc->gw ? sc->gw->str : "(unscoped)", t, err);
            if (rc == XDS_OK)
                rc = xds__map_check(&sc->before[t], err);
            if (rc != XDS_OK)
                return rc;
            if (sc->before[t].len && !s->ninproc)
                return xds__err(err, XDS_ESTATE, "S4: before-records without subscribers");
            for (size_t i = 0; i < os->index.cap; i++) {
                const xds__slot_t *sl = &os->index.slots[i];
                if (!sl->name)
                    continue;
                const ir_obj_t *o = xds__objs_at(os, (uint32_t)sl->val);
                const char *gw = ir_obj_gateway(o);
                if ((int)xds_type_of_kind(ir_obj_kind(o)) != t ||
                    strcmp(ir_obj_name(o), sl->name->str) ||
                    (sc->gw ? !gw || strcmp(gw, sc->gw->str) : gw != NULL))
                    return xds__err(err, XDS_ESTATE, "S2: %s held under the wrong scope or name",
                                    ir_obj_key(o));
            }
        }
        size_t n = 0;
        for (const xds_session_t *se = sc->sessions; se; se = se->scope_next) {
            if (se->scope != sc)
                return xds__err(err, XDS_ESTATE, "S3: session on the list of another scope");
            n++;
        }
        if (n != sc->nsessions)
            return xds__err(err, XDS_ESTATE, "S3: scope counts %zu sessions, lists %zu",
                            sc->nsessions, n);
        nsess += n;
        ninproc += sc->ninproc;
    }
    size_t n = 0;
    for (const xds_session_t *se = s->sessions; se; se = se->store_next) {
        n++;
        int rc = xds_session_check(se, err);
        if (rc != XDS_OK)
            return rc;
    }
    if (n != s->nsessions || nsess != n)
        return xds__err(err, XDS_ESTATE, "S3: store counts %zu sessions, lists %zu, scopes %zu",
                        s->nsessions, n, nsess);
    if (ninproc != s->ninproc)
        return xds__err(err, XDS_ESTATE, "S3: %zu subscribers counted, scopes say %zu", s->ninproc,
                        ninproc);
    return XDS_OK;
}
