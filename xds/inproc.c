/*
 * In-process subscribers of the store (xds/inproc.h).
 *
 * Key decision: a subscriber keeps no per-name state. At a commit the store knows, per scope and
 * type, the object each changed name had at the previous commit; a subscriber's change set is the
 * names changed in its scope or in the unscoped one, each compared between its visible state then
 * and now. So an in-process proxy costs nothing between commits, and a burst of changes to one name
 * within a commit is one change. The alternative, a session per in-process proxy with dirty sets
 * and ACKs, would re-create the remote protocol for a consumer that applies change sets
 * synchronously.
 */
#include <stdlib.h>
#include <string.h>

#include "xds/inproc.h"
#include "xds_internal.h"

struct xds__inproc {
    xds_store_t *store;
    xds__scope_t *scope;
    xds_inproc_cb cb;
    void *ud;
    bool need_initial;
    bool dead; /* unsubscribed during a delivery: freed after it */
    uint64_t deliveries;
    xds__inproc_t *next;
};

struct xds_inproc {
    xds__inproc_t in;
};

static int delivering; /* nesting depth of deliveries (single-threaded by design) */

typedef struct cbuf {
    xds_change_t *v;
    int *rank;
    size_t len, cap;
    bool oom;
} cbuf_t;

static void cbuf_push(cbuf_t *b, xds_type_t t, const char *name, const ir_obj_t *o, int rank)
{
    if (b->oom)
        return;
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        xds_change_t *v = krt_realloc(b->v, cap * sizeof *v);
        if (v)
            b->v = v;
        int *r = v ? krt_realloc(b->rank, cap * sizeof *r) : NULL;
        if (r)
            b->rank = r;
        if (!v || !r) {
            b->oom = true;
            return;
        }
        b->cap = cap;
    }
    b->rank[b->len] = rank;
    b->v[b->len++] = (xds_change_t){t, name, o};
}

/* qsort has no context argument: the buffer being sorted (deliveries do not nest a sort). */
static const cbuf_t *sort_buf;

static int cmp_idx(const void *a, const void *c)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)c;
    const xds_change_t *x = &sort_buf->v[i], *y = &sort_buf->v[j];
    bool rx = x->obj == NULL, ry = y->obj == NULL;
    if (rx != ry)
        return rx ? 1 : -1; /* additions first */
    return xds__order_cmp(sort_buf->rank[i], x->name, sort_buf->rank[j], y->name, rx);
}

static void deliver(xds__inproc_t *sub, cbuf_t *b, bool initial)
{
    size_t *idx = b->len ? krt_malloc(b->len * sizeof *idx) : NULL;
    xds_change_t *ordered = b->len ? krt_malloc(b->len * sizeof *ordered) : NULL;
    if (b->oom || (b->len && (!idx || !ordered))) {
        xds__log(XDS_LOG_ERROR, "inproc: out of memory building a change set: the subscriber "
                                "will get the whole state at the next commit");
        sub->need_initial = true;
        krt_free(idx);
        krt_free(ordered);
        return;
    }
    for (size_t i = 0; i < b->len; i++)
        idx[i] = i;
    sort_buf = b;
    if (b->len > 1)
        qsort(idx, b->len, sizeof *idx, cmp_idx);
    sort_buf = NULL;
    for (size_t i = 0; i < b->len; i++)
        ordered[i] = b->v[idx[i]];
    xds_changeset_t cs = {ordered, b->len, initial, xds_store_version(sub->store)};
    sub->deliveries++;
    delivering++;
    sub->cb(&cs, sub->ud);
    delivering--;
    krt_free(idx);
    krt_free(ordered);
}

static int rank_of(xds_type_t t, const char *name, const ir_obj_t *o)
{
    if (o)
        return t == XDS_TYPE_ADDRESS ? 0 : xds_kind_rank(ir_obj_kind(o));
    return xds_name_rank(t, name);
}

typedef struct snap {
    cbuf_t *b;
    xds_type_t t;
} snap_t;

static bool snap_cb(xds__name_t *name, const ir_obj_t *o, void *ud)
{
    snap_t *s = ud;
    cbuf_push(s->b, s->t, name->str, o, rank_of(s->t, name->str, o));
    return !s->b->oom;
}

static void deliver_initial(xds__inproc_t *sub)
{
    cbuf_t b = {0};
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        snap_t sn = {&b, (xds_type_t)t};
        xds__store_foreach_visible(sub->store, sub->scope, (xds_type_t)t, snap_cb, &sn);
    }
    sub->need_initial = false;
    deliver(sub, &b, true);
    krt_free(b.v);
    krt_free(b.rank);
}

/* What scope |sc| saw under |n| at the last commit. */
static const ir_obj_t *before_visible(const xds_store_t *st, const xds__scope_t *sc, xds_type_t t,
                                      const xds__name_t *n)
{
    const xds__scope_t *u = xds__store_unscoped(st);
    xds__slot_t *sl = xds__map_find_name(&u->before[t], n);
    const ir_obj_t *o = sl ? (const ir_obj_t *)sl->val : NULL;
    if (!sl)
        o = xds__objs_get(&u->objs[t], n);
    if (o || !sc || sc == u)
        return o;
    sl = xds__map_find_name(&sc->before[t], n);
    if (sl)
        return (const ir_obj_t *)sl->val;
    return xds__objs_get(&sc->objs[t], n);
}

static void consider(xds__inproc_t *sub, cbuf_t *b, xds_type_t t, const xds__name_t *n)
{
    const ir_obj_t *then = before_visible(sub->store, sub->scope, t, n);
    const ir_obj_t *now = xds__store_lookup(sub->store, sub->scope, t, n->str, n->len, n->hash);
    if (now && (!then || ir_obj_wire_hash(then) != ir_obj_wire_hash(now)))
        cbuf_push(b, t, n->str, now, rank_of(t, n->str, now));
    else if (!now && then)
        cbuf_push(b, t, n->str, NULL, rank_of(t, n->str, NULL));
}

static void deliver_changes(xds__inproc_t *sub)
{
    const xds__scope_t *u = xds__store_unscoped(sub->store);
    cbuf_t b = {0};
    for (int ti = 0; ti < XDS_TYPE_COUNT; ti++) {
        xds_type_t t = (xds_type_t)ti;
        const xds__map_t *ub = &u->before[t];
        for (size_t i = 0; i < ub->cap; i++)
            if (ub->slots[i].name)
                consider(sub, &b, t, ub->slots[i].name);
        if (sub->scope != u) {
            const xds__map_t *gb = &sub->scope->before[t];
            for (size_t i = 0; i < gb->cap; i++) {
                const xds__name_t *n = gb->slots[i].name;
                if (n && !xds__map_find_name(ub, n)) /* not already considered */
                    consider(sub, &b, t, n);
            }
        }
    }
    if (b.len || b.oom)
        deliver(sub, &b, false);
    krt_free(b.v);
    krt_free(b.rank);
}

static void sub_free(xds__inproc_t *sub)
{
    xds__store_inproc_count(sub->store, sub->scope, -1);
    krt_free((xds_inproc_t *)(void *)sub);
}

static void reap(xds_store_t *st)
{
    if (delivering)
        return;
    xds__inproc_t *head = xds__store_inprocs(st), **p = &head;
    while (*p) {
        xds__inproc_t *sub = *p;
        if (sub->dead) {
            *p = sub->next;
            sub_free(sub);
        } else {
            p = &sub->next;
        }
    }
    xds__store_set_inprocs(st, head);
}

void xds__inproc_deliver_all(xds_store_t *st)
{
    bool ready = xds_store_ready(st);
    for (xds__inproc_t *sub = xds__store_inprocs(st); sub; sub = sub->next) {
        if (sub->dead)
            continue;
        if (sub->need_initial) {
            if (ready)
                deliver_initial(sub);
        } else if (ready) {
            deliver_changes(sub);
        }
    }
    reap(st);
}

xds_inproc_t *xds_inproc_subscribe(xds_store_t *store, const char *role, xds_inproc_cb cb, void *ud,
                                   int *err)
{
    int e = XDS_EINVAL;
    char gw[256];
    if (!store || !cb)
        goto fail;
    if (role && (e = xds_role_to_gateway(role, gw, sizeof gw)) != XDS_OK)
        goto fail;
    e = XDS_ENOMEM;
    xds_inproc_t *h = krt_calloc(1, sizeof *h);
    if (!h)
        goto fail;
    xds__inproc_t *sub = &h->in;
    sub->scope = xds__store_scope_ref(store, role ? gw : NULL);
    if (!sub->scope) {
        krt_free(h);
        goto fail;
    }
    sub->store = store;
    sub->cb = cb;
    sub->ud = ud;
    sub->need_initial = true;
    xds__store_inproc_count(store, sub->scope, +1);
    sub->next = xds__store_inprocs(store);
    xds__store_set_inprocs(store, sub);
    if (xds_store_ready(store))
        deliver_initial(sub);
    return h;
fail:
    if (err)
        *err = e;
    return NULL;
}

void xds_inproc_unsubscribe(xds_inproc_t *h)
{
    if (!h)
        return;
    xds__inproc_t *sub = &h->in;
    sub->dead = true;
    reap(sub->store);
}

uint64_t xds_inproc_deliveries(const xds_inproc_t *h)
{
    return h->in.deliveries;
}
