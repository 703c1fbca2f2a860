/*
 * Static collections (the engine's sources) and recompute triggers.
 *
 * A static collection applies mutations to its published state at once, so get/list always show
 * what the source said last; announcements wait for the next flush, where the touched map of the
 * base turns any number of mutations of a key into at most one event. A trigger is a static
 * collection holding one counter object whose every firing is a forced update.
 */
#include <stdio.h>

#include "engine.h"

typedef struct static_coll {
    krt_collection_t base;
    bool synced_wanted;
} static_coll_t;

static bool static_process(krt_collection_t *c)
{
    KRT__UNUSED(c);
    return true;
}

static bool static_synced(const krt_collection_t *c)
{
    return ((const static_coll_t *)c)->synced_wanted;
}

static void static_dispose(krt_collection_t *c)
{
    KRT__UNUSED(c);
}

static void static_upstream(const krt_collection_t *c,
                            void (*fn)(const krt_collection_t *, const char *, void *), void *ud)
{
    KRT__UNUSED(c);
    KRT__UNUSED(fn);
    KRT__UNUSED(ud);
}

static const krt__ops_t static_ops = {
    .kind = "static",
    .process = static_process,
    .synced = static_synced,
    .dispose = static_dispose,
    .upstream = static_upstream,
};

static const krt__ops_t trigger_ops = {
    .kind = "trigger",
    .process = static_process,
    .synced = static_synced,
    .dispose = static_dispose,
    .upstream = static_upstream,
};

bool krt__coll_is_static(const krt_collection_t *c)
{
    return c->ops == &static_ops || c->ops == &trigger_ops;
}

krt_collection_t *krt_static_new(krt_engine_t *e, const krt_type_t *t, const char *name,
                                 bool synced)
{
    static_coll_t *s =
        (static_coll_t *)krt__coll_new(e, &static_ops, sizeof(static_coll_t), t, name);
    if (!s)
        return NULL;
    s->synced_wanted = synced;
    /* A source has nothing to compute: it is current, and synced if it says so, from birth. */
    s->base.synced = synced;
    s->base.processed = true;
    return &s->base;
}

void krt_static_mark_synced(krt_collection_t *c)
{
    if (krt__coll_is_static(c))
        ((static_coll_t *)c)->synced_wanted = true;
}

static int check_mutation(krt_collection_t *c, const krt_obj_t *obj)
{
    if (!krt__coll_is_static(c))
        return KRT_EINVAL;
    if (krt__engine_busy(c->e))
        return KRT_EBUSY;
    if (obj && obj->type != c->type)
        return KRT_ETYPE;
    return KRT_OK;
}

static int put(krt_collection_t *c, const krt_obj_t *obj, bool only_if_changed)
{
    int rc = obj ? check_mutation(c, obj) : KRT_EINVAL;
    if (rc != KRT_OK) {
        krt_obj_release(obj);
        return rc;
    }
    uint32_t key = krt__obj_key_ref(c->e, obj);
    if (key == UINT32_MAX) {
        krt_obj_release(obj);
        return KRT_ENOMEM;
    }
    if (only_if_changed && krt_obj_equal(krt__coll_get_id(c, key), obj)) {
        krt__intern_unref(&c->e->in, key);
        krt_obj_release(obj);
        return 0;
    }
    rc = krt__coll_set(c, key, obj, !only_if_changed);
    krt__intern_unref(&c->e->in, key);
    return rc == KRT_OK ? 1 : rc;
}

int krt_static_put(krt_collection_t *c, const krt_obj_t *obj)
{
    int rc = put(c, obj, false);
    return rc > 0 ? KRT_OK : rc;
}

int krt_static_put_if_changed(krt_collection_t *c, const krt_obj_t *obj)
{
    return put(c, obj, true);
}

int krt_static_delete(krt_collection_t *c, const char *key)
{
    int rc = key ? check_mutation(c, NULL) : KRT_EINVAL;
    if (rc != KRT_OK)
        return rc;
    uint32_t id = krt__intern_find(&c->e->in, key);
    if (id == UINT32_MAX || !krt__coll_get_id(c, id))
        return 0;
    rc = krt__coll_set(c, id, NULL, false);
    return rc == KRT_OK ? 1 : rc;
}

int krt_static_delete_matching(krt_collection_t *c, krt_pred_cb pred, void *ud)
{
    int rc = pred ? check_mutation(c, NULL) : KRT_EINVAL;
    if (rc != KRT_OK)
        return rc;
    /* Collect first: deleting while iterating the map would reorder it under the iterator. */
    krt__vec_t doomed = {0};
    uint64_t v;
    uint32_t id;
    for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &id, &v);) {
        if (pred((const krt_obj_t *)(uintptr_t)v, ud)) {
            if (krt__vec_push(&doomed, sizeof(id), &id) != KRT_OK) {
                krt__vec_dispose(&doomed);
                return KRT_ENOMEM;
            }
        }
    }
    int n = 0;
    for (uint32_t i = 0; i < doomed.len; i++)
        if (krt__coll_set(c, KRT__VEC_AT(&doomed, uint32_t, i), NULL, false) == KRT_OK)
            n++;
    krt__vec_dispose(&doomed);
    return n;
}

int krt_static_reset(krt_collection_t *c, const krt_obj_t *const *objs, size_t n)
{
    krt_engine_t *e = c->e;
    int rc = check_mutation(c, NULL);
    /* Validate everything before changing anything: key id -> position in objs. */
    krt__map_t next = {0};
    for (size_t i = 0; rc == KRT_OK && i < n; i++) {
        if (!objs[i] || objs[i]->type != c->type) {
            rc = KRT_ETYPE;
            break;
        }
        uint32_t id = krt__obj_key_ref(e, objs[i]);
        bool inserted = false;
        uint64_t *slot = id == UINT32_MAX ? NULL : krt__map_upsert(&next, id, i, &inserted);
        if (!slot || !inserted) {
            if (id != UINT32_MAX)
                krt__intern_unref(&e->in, id);
            rc = slot ? KRT_EDUPKEY : KRT_ENOMEM;
        }
    }
    krt__vec_t doomed = {0};
    uint64_t key, v;
    if (rc == KRT_OK) {
        uint32_t id;
        for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &id, NULL);)
            if (!krt__map_find(&next, id) && krt__vec_push(&doomed, sizeof(id), &id) != KRT_OK)
                rc = KRT_ENOMEM;
    }
    if (rc != KRT_OK) {
        for (uint32_t it = 0; krt__map_next(&next, &it, &key, NULL);)
            krt__intern_unref(&e->in, (uint32_t)key);
        for (size_t i = 0; i < n; i++)
            krt_obj_release(objs[i]);
        krt__map_dispose(&next);
        krt__vec_dispose(&doomed);
        return rc;
    }
    for (uint32_t i = 0; i < doomed.len; i++)
        krt__coll_set(c, KRT__VEC_AT(&doomed, uint32_t, i), NULL, false);
    krt__vec_dispose(&doomed);
    for (uint32_t it = 0; krt__map_next(&next, &it, &key, &v);) {
        const krt_obj_t *o = objs[v];
        if (krt_obj_equal(krt__coll_get_id(c, (uint32_t)key), o)) {
            krt_obj_release(o);
        } else {
            int r = krt__coll_set(c, (uint32_t)key, o, false);
            if (r != KRT_OK)
                rc = r;
        }
        krt__intern_unref(&e->in, (uint32_t)key);
    }
    krt__map_dispose(&next);
    return rc;
}

/* ---- triggers ------------------------------------------------------------------------------ */

typedef struct counter_obj {
    krt_obj_t base;
    uint64_t n;
} counter_obj_t;

static const char *counter_key(const krt_obj_t *o)
{
    KRT__UNUSED(o);
    return "trigger";
}
static uint64_t counter_hash(const krt_obj_t *o)
{
    return ((const counter_obj_t *)o)->n;
}
static void counter_free(krt_obj_t *o)
{
    krt_free(o);
}
static json_t *counter_dump(const krt_obj_t *o)
{
    return json_pack("{sI}", "fired", (json_int_t)((const counter_obj_t *)o)->n);
}

static const krt_type_t counter_type = {
    .name = "krt.trigger",
    .flags = KRT_TYPE_HASH_IS_EQUALITY,
    .key = counter_key,
    .hash = counter_hash,
    .free = counter_free,
    .dump = counter_dump,
};

static int trigger_set(krt_collection_t *c, uint64_t n)
{
    counter_obj_t *o = krt_malloc(sizeof(*o));
    if (!o)
        return KRT_ENOMEM;
    o->n = n;
    krt_obj_seal(&o->base, &counter_type);
    uint32_t key = krt__obj_key_ref(c->e, &o->base);
    if (key == UINT32_MAX) {
        krt_obj_release(&o->base);
        return KRT_ENOMEM;
    }
    int rc = krt__coll_set(c, key, &o->base, true);
    krt__intern_unref(&c->e->in, key);
    return rc;
}

krt_collection_t *krt_trigger_new(krt_engine_t *e, const char *name, bool synced)
{
    static_coll_t *s =
        (static_coll_t *)krt__coll_new(e, &trigger_ops, sizeof(static_coll_t), &counter_type,
                                       name);
    if (!s)
        return NULL;
    s->synced_wanted = synced;
    s->base.synced = synced;
    s->base.processed = true;
    if (trigger_set(&s->base, 0) != KRT_OK) {
        krt_collection_free(&s->base);
        return NULL;
    }
    return &s->base;
}

int krt_trigger_fire(krt_collection_t *c)
{
    if (c->ops != &trigger_ops)
        return KRT_EINVAL;
    if (krt__engine_busy(c->e))
        return KRT_EBUSY;
    const krt_obj_t *cur = krt_collection_get(c, "trigger");
    return trigger_set(c, cur ? ((const counter_obj_t *)cur)->n + 1 : 1);
}

void krt_trigger_mark_synced(krt_collection_t *c)
{
    if (c->ops == &trigger_ops)
        ((static_coll_t *)c)->synced_wanted = true;
}

void krt_trigger_depend(krt_ctx_t *ctx, krt_collection_t *trigger)
{
    krt_fetch_key(ctx, trigger, "trigger");
}
