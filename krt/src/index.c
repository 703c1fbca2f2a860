/*
 * Indexes: named secondary keys over a collection, the built-in label index, and the index viewed
 * as a collection.
 *
 * A bucket is an array of (key id, object) sorted by key string, not a hash set: fetches must
 * return objects in key order (so a transformation's output does not depend on insertion history),
 * and sorting on every fetch would cost more than keeping buckets sorted on every change.
 */
#include <stdio.h>

#include "engine.h"

/* ---- keys ---------------------------------------------------------------------------------- */

int krt_keys_add(krt_keys_t *keys, const char *key)
{
    if (!key)
        return KRT_EINVAL;
    uint32_t id = krt__intern_ref(&keys->e->in, key);
    if (id == UINT32_MAX) {
        keys->err = KRT_ENOMEM;
        return KRT_ENOMEM;
    }
    for (uint32_t i = 0; i < keys->ids.len; i++) {
        if (KRT__VEC_AT(&keys->ids, uint64_t, i) == id) {
            krt__intern_unref(&keys->e->in, id);
            return KRT_OK;
        }
    }
    uint64_t v = id;
    if (krt__vec_push(&keys->ids, sizeof(v), &v) != KRT_OK) {
        krt__intern_unref(&keys->e->in, id);
        keys->err = KRT_ENOMEM;
        return KRT_ENOMEM;
    }
    return KRT_OK;
}

void krt_keys_fail(krt_keys_t *keys)
{
    keys->err = KRT_ENOMEM;
}

/* Drops the temporary interner references krt_keys_add took (named indexes only). */
static void keys_release(krt_index_t *idx, krt_keys_t *keys)
{
    if (idx->builtin == KRT__INDEX_NAMED)
        for (uint32_t i = 0; i < keys->ids.len; i++)
            krt__intern_unref(&keys->e->in, (uint32_t)KRT__VEC_AT(&keys->ids, uint64_t, i));
    keys->ids.len = 0;
}

void krt__index_extract(krt_index_t *idx, const krt_obj_t *obj, krt_keys_t *keys, bool create)
{
    KRT__UNUSED(create);
    keys->ids.len = 0;
    keys->err = KRT_OK;
    if (idx->builtin == KRT__INDEX_SELECTOR) {
        krt_labels_t l = {0};
        if (obj->type->selector && !obj->type->selector(obj, &l))
            l.len = 0;
        uint64_t h = krt__selector_anchor(&l);
        if (krt__vec_push(&keys->ids, sizeof(h), &h) != KRT_OK)
            keys->err = KRT_ENOMEM;
        return;
    }
    if (idx->builtin == KRT__INDEX_LABELS) {
        krt_labels_t l;
        if (!obj->type->labels || !obj->type->labels(obj, &l))
            return;
        for (size_t i = 0; i < l.len; i++) {
            uint64_t h = krt__label_hash(l.items[i].key, l.items[i].value);
            if (krt__vec_push(&keys->ids, sizeof(h), &h) != KRT_OK)
                keys->err = KRT_ENOMEM;
        }
        return;
    }
    idx->fn(obj, keys, idx->ud);
}

/* ---- buckets ------------------------------------------------------------------------------- */

static uint32_t bucket_search(const krt__intern_t *in, const krt__bucket_t *b, uint32_t key,
                              bool *found)
{
    uint32_t lo = 0, hi = b->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = krt__intern_cmp(in, b->items[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

bool krt__bucket_has(krt_engine_t *e, const krt__bucket_t *b, uint32_t key)
{
    bool found;
    bucket_search(&e->in, b, key, &found);
    return found;
}

krt__bucket_t *krt__bucket_new(uint32_t cap)
{
    krt__bucket_t *b = krt_malloc(sizeof(*b) + (size_t)cap * sizeof(krt__entry_t));
    if (b) {
        b->len = 0;
        b->cap = cap;
    }
    return b;
}

int krt__bucket_insert(krt_engine_t *e, krt__bucket_t **bp, uint32_t key, const krt_obj_t *obj)
{
    krt__bucket_t *b = *bp;
    bool found;
    uint32_t at = bucket_search(&e->in, b, key, &found);
    if (found) {
        b->items[at].obj = obj;
        return KRT_OK;
    }
    if (b->len == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 1;
        krt__bucket_t *p = krt_realloc(b, sizeof(*b) + (size_t)cap * sizeof(krt__entry_t));
        if (!p)
            return KRT_ENOMEM;
        *bp = b = p;
        b->cap = cap;
    }
    memmove(&b->items[at + 1], &b->items[at], (size_t)(b->len - at) * sizeof(*b->items));
    b->items[at] = (krt__entry_t){key, obj};
    b->len++;
    return KRT_OK;
}

void krt__bucket_remove(krt_engine_t *e, krt__bucket_t *b, uint32_t key)
{
    bool found;
    uint32_t at = bucket_search(&e->in, b, key, &found);
    if (!found)
        return;
    memmove(&b->items[at], &b->items[at + 1], (size_t)(b->len - at - 1) * sizeof(*b->items));
    b->len--;
}

const krt__bucket_t *krt__index_bucket(const krt_index_t *idx, uint64_t bkey)
{
    uint64_t v;
    return krt__map_get(&idx->buckets, bkey, &v) ? (const krt__bucket_t *)(uintptr_t)v : NULL;
}

static int index_add_one(krt_index_t *idx, krt_keys_t *keys, uint32_t key, const krt_obj_t *obj)
{
    krt_engine_t *e = idx->c->e;
    krt__index_extract(idx, obj, keys, true);
    int rc = keys->err;
    for (uint32_t i = 0; rc == KRT_OK && i < keys->ids.len; i++) {
        uint64_t bkey = KRT__VEC_AT(&keys->ids, uint64_t, i);
        bool inserted;
        uint64_t *slot = krt__map_upsert(&idx->buckets, bkey, 0, &inserted);
        if (!slot) {
            rc = KRT_ENOMEM;
            break;
        }
        if (inserted) {
            /* Room for one: most buckets hold one or two objects (a backend named by one
             * route, a label value carried by a few pods). */
            krt__bucket_t *b = krt__bucket_new(1);
            if (!b) {
                krt__map_del(&idx->buckets, bkey, NULL);
                rc = KRT_ENOMEM;
                break;
            }
            *slot = (uint64_t)(uintptr_t)b;
            if (idx->builtin == KRT__INDEX_NAMED)
                krt__intern_retain(&e->in, (uint32_t)bkey);
        }
        krt__bucket_t *b = (krt__bucket_t *)(uintptr_t)*slot;
        rc = krt__bucket_insert(e, &b, key, obj);
        *slot = (uint64_t)(uintptr_t)b;
    }
    keys_release(idx, keys);
    return rc;
}

static void drop_bucket(krt_index_t *idx, uint64_t bkey, krt__bucket_t *b)
{
    krt__map_del(&idx->buckets, bkey, NULL);
    if (idx->builtin == KRT__INDEX_NAMED)
        krt__intern_unref(&idx->c->e->in, (uint32_t)bkey);
    krt_free(b);
}

static void index_remove_one(krt_index_t *idx, krt_keys_t *keys, uint32_t key,
                             const krt_obj_t *obj)
{
    krt__index_extract(idx, obj, keys, false);
    if (keys->err != KRT_OK) /* cannot tell which buckets hold it: rebuild before next use */
        idx->stale = true;
    for (uint32_t i = 0; i < keys->ids.len; i++) {
        uint64_t bkey = KRT__VEC_AT(&keys->ids, uint64_t, i);
        krt__bucket_t *b = (krt__bucket_t *)krt__index_bucket(idx, bkey);
        if (!b)
            continue;
        krt__bucket_remove(idx->c->e, b, key);
        if (b->len == 0)
            drop_bucket(idx, bkey, b);
    }
    keys_release(idx, keys);
}

void krt__index_add(krt_collection_t *c, uint32_t key, const krt_obj_t *obj)
{
    if (!c->indexes && !c->label_index && !c->selector_index)
        return;
    /* The engine's scratch list keeps its capacity: no allocation per update. */
    krt_keys_t keys = {.e = c->e, .ids = c->e->index_keys};
    krt_index_t *builtins[2] = {c->label_index, c->selector_index};
    for (krt_index_t *x = c->indexes; x; x = x->next)
        if (!x->stale && index_add_one(x, &keys, key, obj) != KRT_OK)
            x->stale = true;
    for (int i = 0; i < 2; i++)
        if (builtins[i] && !builtins[i]->stale &&
            index_add_one(builtins[i], &keys, key, obj) != KRT_OK)
            builtins[i]->stale = true;
    c->e->index_keys = keys.ids;
}

void krt__index_remove(krt_collection_t *c, uint32_t key, const krt_obj_t *obj)
{
    if (!c->indexes && !c->label_index && !c->selector_index)
        return;
    krt_keys_t keys = {.e = c->e, .ids = c->e->index_keys};
    krt_index_t *builtins[2] = {c->label_index, c->selector_index};
    for (krt_index_t *x = c->indexes; x; x = x->next)
        if (!x->stale)
            index_remove_one(x, &keys, key, obj);
    for (int i = 0; i < 2; i++)
        if (builtins[i] && !builtins[i]->stale)
            index_remove_one(builtins[i], &keys, key, obj);
    c->e->index_keys = keys.ids;
}

static void buckets_free(krt_index_t *idx)
{
    uint64_t bkey, v;
    for (uint32_t it = 0; krt__map_next(&idx->buckets, &it, &bkey, &v);) {
        krt__bucket_t *b = (krt__bucket_t *)(uintptr_t)v;
        if (idx->builtin == KRT__INDEX_NAMED)
            krt__intern_unref(&idx->c->e->in, (uint32_t)bkey);
        krt_free(b);
    }
    krt__map_dispose(&idx->buckets);
}

static void index_free(krt_index_t *idx)
{
    buckets_free(idx);
    krt_free(idx->name);
    krt_free(idx);
}

/* (Re)fills the buckets from the collection's objects. Returns KRT_OK or KRT_ENOMEM (then the
 * buckets are empty and the index stale). */
static int index_fill(krt_index_t *idx)
{
    krt_keys_t keys = {.e = idx->c->e};
    uint64_t v;
    uint32_t key;
    int rc = KRT_OK;
    for (uint32_t it = 0; rc == KRT_OK && krt__imap_next(&idx->c->objs, &it, &key, &v);)
        rc = index_add_one(idx, &keys, key, (const krt_obj_t *)(uintptr_t)v);
    krt__vec_dispose(&keys.ids);
    if (rc != KRT_OK) {
        buckets_free(idx);
        idx->stale = true;
        return rc;
    }
    idx->stale = false;
    return KRT_OK;
}

bool krt__index_ready(krt_index_t *idx)
{
    if (!idx->stale)
        return true;
    buckets_free(idx);
    return index_fill(idx) == KRT_OK;
}

void krt__index_free_all(krt_collection_t *c)
{
    for (krt_index_t *x = c->indexes; x;) {
        krt_index_t *next = x->next;
        index_free(x);
        x = next;
    }
    c->indexes = NULL;
    if (c->label_index)
        index_free(c->label_index);
    c->label_index = NULL;
    if (c->selector_index)
        index_free(c->selector_index);
    c->selector_index = NULL;
}

static krt_index_t *index_build(krt_collection_t *c, const char *name, krt_index_extract_cb fn,
                                void *ud, int builtin)
{
    krt_index_t *idx = krt_calloc(1, sizeof(*idx));
    if (!idx)
        return NULL;
    idx->c = c;
    idx->name = krt_strdup(name);
    idx->fn = fn;
    idx->ud = ud;
    idx->builtin = builtin;
    if (!idx->name) {
        krt_free(idx);
        return NULL;
    }
    if (index_fill(idx) != KRT_OK) {
        index_free(idx);
        return NULL;
    }
    return idx;
}

krt_index_t *krt_index_new(krt_collection_t *c, const char *name, krt_index_extract_cb fn,
                           void *ud)
{
    if (!c || !name || !fn)
        return NULL;
    krt_index_t **pp = &c->indexes;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0)
            return *pp;
    krt_index_t *idx = index_build(c, name, fn, ud, KRT__INDEX_NAMED);
    if (!idx)
        return NULL;
    idx->no = c->nindexes++;
    *pp = idx;
    return idx;
}

static void namespace_extract(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    KRT__UNUSED(ud);
    const char *ns = o->type->namespace_(o);
    if (ns)
        krt_keys_add(keys, ns);
}

krt_index_t *krt_index_namespace(krt_collection_t *c)
{
    if (!c || !c->type->namespace_)
        return NULL;
    return krt_index_new(c, "namespace", namespace_extract, NULL);
}

krt_index_t *krt__label_index(krt_collection_t *c)
{
    if (!c->label_index)
        c->label_index = index_build(c, "labels", NULL, NULL, KRT__INDEX_LABELS);
    return c->label_index && krt__index_ready(c->label_index) ? c->label_index : NULL;
}

krt_index_t *krt__selector_index(krt_collection_t *c)
{
    if (!c->selector_index)
        c->selector_index = index_build(c, "selector", NULL, NULL, KRT__INDEX_SELECTOR);
    return c->selector_index && krt__index_ready(c->selector_index) ? c->selector_index : NULL;
}

uint64_t krt__selector_anchor(const krt_labels_t *sel)
{
    if (sel->len == 0)
        return KRT__SEL_EMPTY;
    size_t best = 0;
    for (size_t i = 1; i < sel->len; i++) {
        int c = strcmp(sel->items[i].key, sel->items[best].key);
        if (c < 0 || (c == 0 && strcmp(sel->items[i].value, sel->items[best].value) < 0))
            best = i;
    }
    return krt__label_hash(sel->items[best].key, sel->items[best].value);
}

krt_collection_t *krt_index_source(const krt_index_t *idx)
{
    return idx->c;
}

size_t krt_index_lookup(const krt_index_t *idx, const char *key, const krt_obj_t **out,
                        size_t cap)
{
    if (!krt__index_ready((krt_index_t *)idx))
        return 0;
    uint32_t id = key ? krt__intern_find(&idx->c->e->in, key) : UINT32_MAX;
    const krt__bucket_t *b = id == UINT32_MAX ? NULL : krt__index_bucket(idx, id);
    if (!b)
        return 0;
    for (uint32_t i = 0; i < b->len && i < cap; i++)
        out[i] = b->items[i].obj;
    return b->len;
}

int krt__index_check(const krt_collection_t *c)
{
    krt_keys_t keys = {.e = c->e};
    int rc = KRT_OK;
    krt_index_t *all[3] = {c->indexes, c->label_index, c->selector_index};
    for (int pass = 0; pass < 3; pass++) {
        for (krt_index_t *x = all[pass]; x; x = pass ? NULL : x->next) {
            if (x->stale)
                continue; /* C3 applies once it is rebuilt */
            size_t expected = 0, held = 0;
            uint64_t v;
            uint32_t key;
            for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &key, &v);) {
                const krt_obj_t *o = (const krt_obj_t *)(uintptr_t)v;
                krt__index_extract(x, o, &keys, false);
                for (uint32_t i = 0; i < keys.ids.len; i++) {
                    const krt__bucket_t *b =
                        krt__index_bucket(x, KRT__VEC_AT(&keys.ids, uint64_t, i));
                    bool found = false;
                    uint32_t at = b ? bucket_search(&c->e->in, b, (uint32_t)key, &found) : 0;
                    if (!found || b->items[at].obj != o)
                        rc = KRT_EINVARIANT;
                    expected++;
                }
                keys_release(x, &keys);
            }
            for (uint32_t it = 0; krt__map_next(&x->buckets, &it, NULL, &v);) {
                const krt__bucket_t *b = (const krt__bucket_t *)(uintptr_t)v;
                if (b->len == 0)
                    rc = KRT_EINVARIANT;
                for (uint32_t i = 1; i < b->len; i++)
                    if (krt__intern_cmp(&c->e->in, b->items[i - 1].key, b->items[i].key) >= 0)
                        rc = KRT_EINVARIANT;
                held += b->len;
            }
            if (held != expected)
                rc = KRT_EINVARIANT;
        }
    }
    krt__vec_dispose(&keys.ids);
    return rc;
}

size_t krt__index_bytes(const krt_collection_t *c)
{
    size_t n = 0;
 krt_index_t *all[3] = {c->indexes, c->label_index, c->selector_index};
    for (int pass = 0; pass < 3; pass++) {
        for (krt_index_t *x = all[pass]; x; x = pass ? NULL : x->next) {
            n += sizeof(*x) + krt__map_bytes(&x->buckets);
            uint64_t v;
            for (uint32_t it = 0; krt__map_next(&x->buckets, &it, NULL, &v);)
                n += sizeof(krt__bucket_t) +
                     (size_t)((const krt__bucket_t *)(uintptr_t)v)->cap * sizeof(krt__entry_t);
        }
    }
    return n;
}

/* ---- index as a collection ---------------------------------------------------------------- */

typedef struct index_obj {
    krt_obj_t base;
    char *key;
    size_t n;
    const krt_obj_t **items;
} index_obj_t;

static const char *index_obj_key(const krt_obj_t *o)
{
    return ((const index_obj_t *)o)->key;
}

static uint64_t index_obj_hash(const krt_obj_t *o)
{
    const index_obj_t *x = (const index_obj_t *)o;
    uint64_t h = krt_hash_str(x->key, x->n);
    for (size_t i = 0; i < x->n; i++)
        h = krt_hash_combine(h, krt_hash_combine(krt_hash_str(krt_obj_key(x->items[i]), 0),
                                                 x->items[i]->hash));
    return h;
}

static bool index_obj_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const index_obj_t *x = (const index_obj_t *)a, *y = (const index_obj_t *)b;
    if (x->n != y->n || strcmp(x->key, y->key) != 0)
        return false;
    for (size_t i = 0; i < x->n; i++)
        if (!krt_obj_equal(x->items[i], y->items[i]))
            return false;
    return true;
}

static void index_obj_free(krt_obj_t *o)
{
    index_obj_t *x = (index_obj_t *)o;
    for (size_t i = 0; i < x->n; i++)
        krt_obj_release(x->items[i]);
    krt_free(x->items);
    krt_free(x->key);
    krt_free(x);
}

static json_t *index_obj_dump(const krt_obj_t *o)
{
    const index_obj_t *x = (const index_obj_t *)o;
    json_t *items = json_array();
    for (size_t i = 0; i < x->n; i++)
        json_array_append_new(items, json_string(krt_obj_key(x->items[i])));
    return json_pack("{ss so}", "key", x->key, "objects", items);
}

const krt_type_t krt_index_obj_type = {
    .name = "krt.index",
    .key = index_obj_key,
    .hash = index_obj_hash,
    .equals = index_obj_equals,
    .free = index_obj_free,
    .dump = index_obj_dump,
};

const krt_obj_t *const *krt_index_obj_items(const krt_obj_t *o, size_t *n)
{
    const index_obj_t *x = (const index_obj_t *)o;
    *n = x->n;
    return x->items;
}

typedef struct index_coll {
    krt_collection_t base;
    krt_index_t *idx;
    krt__map_t dirty; /* bucket key id -> 1 */
    bool rescan;      /* a change could not be recorded: rebuild every bucket next flush */
} index_coll_t;

static void mark_event_keys(index_coll_t *ic, krt_keys_t *keys, const krt_obj_t *o)
{
    if (!o)
        return;
    krt__index_extract(ic->idx, o, keys, false);
    if (keys->err != KRT_OK) {
        krt__flush_error(ic->base.e, KRT_ENOMEM);
        ic->rescan = true;
    }
    for (uint32_t i = 0; i < keys->ids.len; i++) {
        uint64_t id = KRT__VEC_AT(&keys->ids, uint64_t, i);
        bool inserted;
        if (!krt__map_upsert(&ic->dirty, id, 1, &inserted)) {
            krt__flush_error(ic->base.e, KRT_ENOMEM);
            ic->rescan = true;
        } else if (inserted) {
            krt__intern_retain(&ic->base.e->in, (uint32_t)id);
        }
    }
    keys_release(ic->idx, keys);
}

/* Returns false when the bucket could not be rebuilt for lack of memory. */
static bool rebuild_bucket(index_coll_t *ic, uint32_t id)
{
    krt_collection_t *c = &ic->base;
    const krt__bucket_t *b = krt__index_bucket(ic->idx, id);
    if (!b)
        return krt__coll_set(c, id, NULL, false) == KRT_OK;
    index_obj_t *x = krt_calloc(1, sizeof(*x));
    if (x) {
        x->key = krt_strdup(krt__intern_str(&c->e->in, id));
        x->items = krt_malloc(b->len * sizeof(*x->items));
    }
    if (!x || !x->key || !x->items) {
        if (x) {
            krt_free(x->key);
            krt_free(x->items);
            krt_free(x);
        }
        krt__flush_error(c->e, KRT_ENOMEM);
        return false;
    }
    x->n = b->len;
    for (uint32_t i = 0; i < b->len; i++)
        x->items[i] = krt_obj_retain(b->items[i].obj);
    krt_obj_seal(&x->base, &krt_index_obj_type);
    c->stats.recomputes++;
    if (krt__coll_set(c, id, &x->base, false) != KRT_OK) {
        krt__flush_error(c->e, KRT_ENOMEM);
        return false;
    }
    return true;
}

static bool index_coll_process(krt_collection_t *c)
{
    index_coll_t *ic = (index_coll_t *)c;
    krt_collection_t *src = ic->idx->c;
    krt_keys_t keys = {.e = c->e};
    bool complete = true;
    uint64_t id;
    if (!krt__index_ready(ic->idx)) {
        krt__flush_error(c->e, KRT_ENOMEM);
        ic->rescan = c->processed;
        return c->processed;
    }
    if (!c->processed || ic->rescan) {
        bool first = !c->processed;
        ic->rescan = false;
        /* Objects of buckets that no longer exist go first, then every live bucket. */
        krt__vec_t gone = {0};
        uint32_t oid;
        for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &oid, NULL);)
            if (!krt__index_bucket(ic->idx, oid) &&
                krt__vec_push(&gone, sizeof(uint32_t), &oid) != KRT_OK)
                complete = false;
        for (uint32_t i = 0; i < gone.len; i++)
            complete &= rebuild_bucket(ic, KRT__VEC_AT(&gone, uint32_t, i));
        krt__vec_dispose(&gone);
        for (uint32_t it = 0; krt__map_next(&ic->idx->buckets, &it, &id, NULL);)
            complete &= rebuild_bucket(ic, (uint32_t)id);
        if (!complete && !first)
            ic->rescan = true;
        complete = complete || !first;
    } else {
        for (uint32_t i = 0; i < src->batch.len; i++) {
            const krt_event_t *ev = &KRT__VEC_AT(&src->batch, krt_event_t, i);
            mark_event_keys(ic, &keys, ev->old);
            mark_event_keys(ic, &keys, ev->cur);
        }
        /* Buckets that could not be rebuilt stay dirty for the next flush. */
        krt__vec_t done = {0};
        for (uint32_t it = 0; krt__map_next(&ic->dirty, &it, &id, NULL);)
            if (rebuild_bucket(ic, (uint32_t)id) &&
                krt__vec_push(&done, sizeof(uint32_t), &(uint32_t){(uint32_t)id}) != KRT_OK)
                break;
        for (uint32_t i = 0; i < done.len; i++) {
            uint32_t k = KRT__VEC_AT(&done, uint32_t, i);
            krt__map_del(&ic->dirty, k, NULL);
            krt__intern_unref(&c->e->in, k);
        }
        krt__vec_dispose(&done);
    }
    krt__vec_dispose(&keys.ids);
    return complete;
}

static bool index_coll_pending(const krt_collection_t *c)
{
    const index_coll_t *ic = (const index_coll_t *)c;
    return ic->dirty.len > 0 || ic->rescan;
}

static bool index_coll_synced(const krt_collection_t *c)
{
    return ((const index_coll_t *)c)->idx->c->synced;
}

static void index_coll_dispose(krt_collection_t *c)
{
    index_coll_t *ic = (index_coll_t *)c;
    uint64_t id;
    for (uint32_t it = 0; krt__map_next(&ic->dirty, &it, &id, NULL);)
        krt__intern_unref(&c->e->in, (uint32_t)id);
    krt__map_dispose(&ic->dirty);
    ic->idx->coll = NULL;
    krt__coll_unuse(ic->idx->c);
}

static void index_coll_upstream(const krt_collection_t *c,
                                void (*fn)(const krt_collection_t *, const char *, void *),
                                void *ud)
{
    const index_coll_t *ic = (const index_coll_t *)c;
    fn(ic->idx->c, "parent", ud);
}

static void index_coll_dump(const krt_collection_t *c, json_t *out)
{
    const index_coll_t *ic = (const index_coll_t *)c;
    json_object_set_new(out, "parent", json_string(ic->idx->c->name));
    json_object_set_new(out, "index", json_string(ic->idx->name));
}

static const krt__ops_t index_coll_ops = {
    .kind = "index",
    .process = index_coll_process,
    .synced = index_coll_synced,
    .pending = index_coll_pending,
    .dispose = index_coll_dispose,
    .dump = index_coll_dump,
    .upstream = index_coll_upstream,
};

krt_collection_t *krt_index_collection(krt_index_t *idx)
{
    if (idx->coll)
        return idx->coll;
    char name[256];
    snprintf(name, sizeof(name), "%s/index/%s", idx->c->name, idx->name);
    index_coll_t *ic = (index_coll_t *)krt__coll_new(idx->c->e, &index_coll_ops,
                                                     sizeof(index_coll_t), &krt_index_obj_type,
                                                     name);
    if (!ic)
        return NULL;
    ic->idx = idx;
    ic->base.owner = idx->c;
    krt__coll_use(idx->c);
    idx->coll = &ic->base;
    return idx->coll;
}
