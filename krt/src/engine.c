/*
 * The engine: creation order, flush, batches, subscribers, and what every collection kind shares
 * (published state, get/list, sync, teardown, dump, DOT and the debug check).
 *
 * A flush has two phases. PROCESS walks collections in creation order and lets each kind bring
 * its published state up to date from the batches its upstream collections produced earlier in
 * the same walk; each then turns its touched keys into one sorted batch. DELIVER hands the batches
 * to subscribers in creation order, only once every collection is settled, so no subscriber can
 * observe a half-propagated change (glitch freedom) and subscriber code may freely read any
 * collection. The alternative, delivering as each collection settles, would let a subscriber that
 * mutates a source race the rest of the walk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"

/* ---- logging ------------------------------------------------------------------------------- */

static void default_log(int level, const char *msg, void *ud)
{
    KRT__UNUSED(ud);
    if (level >= KRT_LOG_WARN)
        fprintf(stderr, "krt: %s: %s\n", level >= KRT_LOG_ERROR ? "error" : "warning", msg);
}

void krt__log(krt_engine_t *e, int level, const char *fmt, ...)
{
    if (!e->log)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    e->log(level, buf, e->log_ud);
}

void krt__flush_error(krt_engine_t *e, int rc)
{
    if (e->flush_rc == KRT_OK)
        e->flush_rc = rc;
}

/* ---- engine -------------------------------------------------------------------------------- */

krt_engine_t *krt_engine_new(void)
{
    krt_engine_t *e = krt_calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    krt__intern_init(&e->in);
    e->log = default_log;
    return e;
}

void krt_engine_set_log(krt_engine_t *e, krt_log_cb cb, void *ud)
{
    e->log = cb;
    e->log_ud = ud;
}

static void coll_destroy(krt_collection_t *c);

void krt_engine_free(krt_engine_t *e)
{
    if (!e)
        return;
    for (uint32_t i = e->colls.len; i-- > 0;) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (c)
            coll_destroy(c);
    }
    krt__vec_dispose(&e->colls);
    krt__vec_dispose(&e->became_synced);
    krt__vec_dispose(&e->index_keys);
    krt__vec_dispose(&e->same_fns);
    krt__intern_dispose(&e->in);
    krt_free(e);
}

uint64_t krt_engine_flushes(const krt_engine_t *e)
{
    return e->gen;
}

krt_collection_t *krt_engine_collection(const krt_engine_t *e, const char *name)
{
    for (uint32_t i = 0; i < e->colls.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (c && strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

bool krt_engine_pending(const krt_engine_t *e)
{
    for (uint32_t i = 0; i < e->colls.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        if (!c->processed || c->touched.len || (c->ops->pending && c->ops->pending(c)))
            return true;
        if (!c->synced && c->ops->synced(c)) /* sync is never taken back */
            return true;
    }
    return false;
}

static void release_batch(krt_collection_t *c)
{
    for (uint32_t i = 0; i < c->batch.len; i++) {
        krt_event_t *ev = &KRT__VEC_AT(&c->batch, krt_event_t, i);
        krt_obj_release(ev->old);
        krt_obj_release(ev->cur);
        krt__intern_unref(&c->e->in, KRT__VEC_AT(&c->batch_keys, uint32_t, i));
    }
    c->batch.len = 0;
    c->batch_keys.len = 0;
}

/* After delivery the batch's room is only needed for keys touched since (C6): handlers may have
 * mutated static collections. A cold start's batches are as large as the collections and would
 * otherwise stay allocated until the next flush as large; small ones are kept to spare every
 * flush a malloc per collection, and so are large ones in a run of large flushes (the touched
 * table's policy, krt__scratch_clear). */
#define BATCH_KEEP 32
static void batch_trim(krt_collection_t *c)
{
    if (c->scratch_keep || (c->batch.cap <= BATCH_KEEP && c->batch_keys.cap <= BATCH_KEEP))
        return;
    uint32_t keep = c->touched.len > BATCH_KEEP ? c->touched.len : BATCH_KEEP;
    krt__vec_shrink(&c->batch, sizeof(krt_event_t), keep);
    krt__vec_shrink(&c->batch_keys, sizeof(uint32_t), keep);
}

static void reap_handlers(krt_collection_t *c)
{
    krt_handler_t **pp = &c->handlers;
    while (*pp) {
        krt_handler_t *h = *pp;
        if (h->dead) {
            *pp = h->next;
            krt_free(h);
        } else {
            pp = &h->next;
        }
    }
}

int krt_engine_flush(krt_engine_t *e)
{
    if (e->phase != KRT__PHASE_IDLE)
        return KRT_EBUSY;
    e->gen++;
    e->flush_rc = KRT_OK;
    e->phase = KRT__PHASE_PROCESS;
    e->became_synced.len = 0;
    /* Collections created during this flush's delivery are processed at the next one. */
    uint32_t n = e->colls.len;
    for (uint32_t i = 0; i < n; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        if (c->ops->process(c))
            c->processed = true;
        if (krt__coll_publish(c) != KRT_OK)
            krt__flush_error(e, KRT_ENOMEM);
        if (!c->synced && c->ops->synced(c)) {
            c->synced = true;
            if (krt__vec_push(&e->became_synced, sizeof(c), &c) != KRT_OK)
                krt__flush_error(e, KRT_ENOMEM);
        }
    }
    e->phase = KRT__PHASE_DELIVER;
    for (uint32_t i = 0; i < n; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        krt_batch_t b = {c, (const krt_event_t *)c->batch.data, c->batch.len};
        for (krt_handler_t *h = c->handlers; h; h = h->next) {
            if (h->dead || h->since_gen == e->gen)
                continue;
            if (b.len)
                h->cb(&b, h->ud);
            if (c->synced)
                h->replayed = true;
        }
    }
    for (uint32_t i = 0; i < e->became_synced.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->became_synced, krt_collection_t *, i);
        /* Callbacks may register more callbacks: those run at once (the collection is synced). */
        for (uint32_t j = 0; j < c->on_synced.len; j++) {
            krt__synced_cb_t s = KRT__VEC_AT(&c->on_synced, krt__synced_cb_t, j);
            s.cb(c, s.ud);
        }
        c->on_synced.len = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        release_batch(c);
        batch_trim(c);
        reap_handlers(c);
    }
    e->phase = KRT__PHASE_IDLE;
    return e->flush_rc;
}

/* ---- collection base ---------------------------------------------------------------------- */

krt_collection_t *krt__coll_new(krt_engine_t *e, const krt__ops_t *ops, size_t size,
                                const krt_type_t *t, const char *name)
{
    if (!e || krt_type_check(t) != KRT_OK || e->phase == KRT__PHASE_PROCESS)
        return NULL;
    krt_collection_t *c = krt_calloc(1, size);
    if (!c)
        return NULL;
    c->name = krt_strdup(name ? name : ops->kind);
    if (!c->name || krt__vec_push(&e->colls, sizeof(c), &c) != KRT_OK) {
        krt_free(c->name);
        krt_free(c);
        return NULL;
    }
    c->e = e;
    c->ops = ops;
    c->type = t;
    c->id = e->colls.len - 1;
    return c;
}

uint32_t krt__obj_key_ref(krt_engine_t *e, const krt_obj_t *o)
{
    const char *k = krt_obj_key(o);
    return k ? krt__intern_ref(&e->in, k) : UINT32_MAX;
}

int krt__coll_set(krt_collection_t *c, uint32_t key, const krt_obj_t *obj, bool forced)
{
    krt_engine_t *e = c->e;
    uint64_t *slot = krt__imap_find(&c->objs, key);
    const krt_obj_t *cur = slot ? (const krt_obj_t *)(uintptr_t)*slot : NULL;
    if (!obj && !cur)
        return KRT_OK;
    if (obj == cur) { /* same pointer: only a forced announcement can change anything */
        krt_obj_release(obj);
        obj = cur;
        if (!forced)
            return KRT_OK;
    }
    bool inserted;
    uint64_t *t = krt__map_upsert(&c->touched, key, 0, &inserted);
    if (!t)
        goto oom;
    if (inserted) {
        /* Room for this key's event is made now, so publishing can never fail: a batch lost to
         * an allocation failure would leave readers with state no event explains. */
        if (krt__vec_reserve(&c->batch, sizeof(krt_event_t), c->touched.len - c->batch.len) !=
                KRT_OK ||
            krt__vec_reserve(&c->batch_keys, sizeof(uint32_t),
                             c->touched.len - c->batch_keys.len) != KRT_OK) {
            krt__map_del(&c->touched, key, NULL);
            goto oom;
        }
        *t = (uint64_t)(uintptr_t)krt_obj_retain(cur);
        krt__intern_retain(&e->in, key);
    }
    if (forced)
        *t |= 1;
    if (obj == cur)
        return KRT_OK;
    if (!slot && obj) { /* reserve the objs entry first so nothing below can fail half-way */
        slot = krt__imap_upsert(&c->objs, key, 0, NULL);
        if (!slot)
            goto oom;
        *slot = 0;
        krt__intern_retain(&e->in, key);
        c->sorted_valid = false;
    }
    /* Index maintenance cannot fail half-way: an index that runs out of memory is marked stale
     * and rebuilt before its next use. */
    if (cur)
        krt__index_remove(c, key, cur);
    if (obj)
        krt__index_add(c, key, obj);
    if (obj) {
        *slot = (uint64_t)(uintptr_t)obj;
    } else {
        krt__imap_del(&c->objs, key, NULL);
        krt__intern_unref(&e->in, key);
        c->sorted_valid = false;
    }
    krt_obj_release(cur);
    return KRT_OK;
oom:
    krt_obj_release(obj);
    return KRT_ENOMEM;
}

int krt__coll_reserve(krt_collection_t *c, uint32_t n)
{
    uint32_t need = c->touched.len + n;
    if (krt__map_reserve(&c->touched, n) != KRT_OK ||
        krt__vec_reserve(&c->batch, sizeof(krt_event_t), need - c->batch.len) != KRT_OK ||
        krt__vec_reserve(&c->batch_keys, sizeof(uint32_t), need - c->batch_keys.len) != KRT_OK)
        return KRT_ENOMEM;
    return KRT_OK;
}

const uint32_t *krt__coll_sorted(krt_collection_t *c, uint32_t *n)
{
    if (!c->sorted_valid) {
        uint32_t *ids = krt_realloc(c->sorted, (size_t)(c->objs.len ? c->objs.len : 1) *
                                                   sizeof(uint32_t));
        if (!ids) {
            *n = 0;
            return NULL;
        }
        c->sorted = ids;
        uint32_t k = 0;
        uint32_t key;
        for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &key, NULL);)
            ids[k++] = key;
        krt__intern_sort(&c->e->in, ids, k);
        c->nsorted = k;
        c->sorted_valid = true;
    }
    *n = c->nsorted;
    return c->sorted;
}

int krt__coll_publish(krt_collection_t *c)
{
    krt_engine_t *e = c->e;
    uint32_t n = c->touched.len;
    if (n == 0) {
        c->scratch_hot = c->scratch_keep = false;
        return KRT_OK;
    }
    /* krt__coll_set reserved room for every touched key (C6). */
    if (c->batch.cap < n || c->batch_keys.cap < n)
        return KRT_EINVARIANT;
    /* batch_keys doubles as the scratch array for sorting the touched keys. */
    uint32_t *ids = (uint32_t *)c->batch_keys.data;
    uint32_t k = 0;
    uint64_t key;
    for (uint32_t it = 0; krt__map_next(&c->touched, &it, &key, NULL);)
        ids[k++] = (uint32_t)key;
    krt__intern_sort(&e->in, ids, k);
    uint32_t out = 0;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t id = ids[i];
        uint64_t t = *krt__map_find(&c->touched, id);
        const krt_obj_t *old = (const krt_obj_t *)(uintptr_t)(t & ~1ULL);
        bool forced = t & 1;
        const krt_obj_t *cur = krt__coll_get_id(c, id);
        krt_op_t op;
        if (!old && !cur)
            op = 0;
        else if (!old)
            op = KRT_ADD;
        else if (!cur)
            op = KRT_DELETE;
        else if (forced || !krt_obj_equal(old, cur))
            op = KRT_UPDATE;
        else
            op = 0;
        if (!op) {
            krt_obj_release(old);
            krt__intern_unref(&e->in, id);
            continue;
        }
        krt_event_t *ev = &KRT__VEC_AT(&c->batch, krt_event_t, out);
        ev->op = op;
        ev->old = old; /* the touched reference moves into the event */
        ev->cur = krt_obj_retain(cur);
        ids[out++] = id; /* so does the key reference */
    }
    c->scratch_keep = krt__scratch_clear(&c->touched, n, &c->scratch_hot);
    c->batch.len = out;
    c->batch_keys.len = out;
    if (out) {
        c->stats.events += out;
        c->stats.batches++;
    }
    return KRT_OK;
}

void krt__coll_use(krt_collection_t *c)
{
    c->users++;
}

void krt__coll_unuse(krt_collection_t *c)
{
    c->users--;
}

static void coll_destroy(krt_collection_t *c)
{
    krt_engine_t *e = c->e;
    c->ops->dispose(c);
    krt__index_free_all(c);
    uint64_t key, v;
    uint32_t id;
    for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &id, &v);) {
        krt_obj_release((const krt_obj_t *)(uintptr_t)v);
        krt__intern_unref(&e->in, id);
    }
    for (uint32_t it = 0; krt__map_next(&c->touched, &it, &key, &v);) {
        krt_obj_release((const krt_obj_t *)(uintptr_t)(v & ~1ULL));
        krt__intern_unref(&e->in, (uint32_t)key);
    }
    release_batch(c);
    for (krt_handler_t *h = c->handlers; h;) {
        krt_handler_t *next = h->next;
        krt_free(h);
        h = next;
    }
    krt__imap_dispose(&c->objs);
    krt__map_dispose(&c->touched);
    krt__vec_dispose(&c->batch);
    krt__vec_dispose(&c->batch_keys);
    krt__vec_dispose(&c->on_synced);
    krt_free(c->sorted);
    KRT__VEC_AT(&e->colls, krt_collection_t *, c->id) = NULL;
    krt_free(c->name);
    krt_free(c);
}

/* Counts how many of |c|'s users are collections owned by |c| (freed with it). */
static void count_owned_reader(const krt_collection_t *from, const char *label, void *ud)
{
    KRT__UNUSED(label);
    void **a = ud;
    if (from == a[0])
        (*(uint32_t *)a[1])++;
}

int krt_collection_free(krt_collection_t *c)
{
    if (!c)
        return KRT_OK;
    krt_engine_t *e = c->e;
    if (e->phase != KRT__PHASE_IDLE)
        return KRT_EBUSY;
    uint32_t owned_reads = 0;
    for (uint32_t i = c->id + 1; i < e->colls.len; i++) {
        krt_collection_t *o = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!o || o->owner != c)
            continue;
        if (o->users > 0)
            return KRT_EBUSY;
        void *a[2] = {c, &owned_reads};
        o->ops->upstream(o, count_owned_reader, a);
    }
    if (c->users > owned_reads)
        return KRT_EBUSY;
    for (uint32_t i = e->colls.len; i-- > c->id + 1;) {
        krt_collection_t *o = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (o && o->owner == c)
            coll_destroy(o);
    }
    coll_destroy(c);
    return KRT_OK;
}

/* ---- collection API ------------------------------------------------------------------------ */

const char *krt_collection_name(const krt_collection_t *c)
{
    return c->name;
}

const krt_type_t *krt_collection_type(const krt_collection_t *c)
{
    return c->type;
}

krt_engine_t *krt_collection_engine(const krt_collection_t *c)
{
    return c->e;
}

size_t krt_collection_len(const krt_collection_t *c)
{
    return c->objs.len;
}

const krt_obj_t *krt_collection_get(const krt_collection_t *c, const char *key)
{
    if (!key)
        return NULL;
    uint32_t id = krt__intern_find(&c->e->in, key);
    return id == UINT32_MAX ? NULL : krt__coll_get_id(c, id);
}

size_t krt_collection_list(const krt_collection_t *c, const krt_obj_t **out, size_t cap)
{
    uint32_t n;
    const uint32_t *ids = krt__coll_sorted((krt_collection_t *)c, &n);
    if (!ids)
        return 0;
    for (uint32_t i = 0; i < n && i < cap; i++)
        out[i] = krt__coll_get_id(c, ids[i]);
    return n;
}

void krt_collection_foreach(const krt_collection_t *c, bool (*fn)(const krt_obj_t *o, void *ud),
                            void *ud)
{
    uint64_t v;
    for (uint32_t it = 0; krt__imap_next(&c->objs, &it, NULL, &v);)
        if (!fn((const krt_obj_t *)(uintptr_t)v, ud))
            return;
}

bool krt_collection_synced(const krt_collection_t *c)
{
    return c->synced;
}

int krt_collection_on_synced(krt_collection_t *c, void (*cb)(krt_collection_t *c, void *ud),
                             void *ud)
{
    if (c->synced) {
        cb(c, ud);
        return KRT_OK;
    }
    krt__synced_cb_t s = {cb, ud};
    return krt__vec_push(&c->on_synced, sizeof(s), &s);
}

void krt_collection_stats(const krt_collection_t *c, krt_stats_t *out)
{
    *out = c->stats;
    out->outputs = c->objs.len;
    out->bytes = sizeof(*c) + krt__imap_bytes(&c->objs) + krt__map_bytes(&c->touched) +
                 (size_t)c->batch.cap * sizeof(krt_event_t) + (size_t)c->nsorted * 4 +
                 krt__index_bytes(c);
    if (c->ops->stats)
        c->ops->stats(c, out);
}

/* ---- subscribers --------------------------------------------------------------------------- */

/* Delivers the state as of the last flush: current objects, except that keys touched since then
 * show the object they had at the last flush. */
static int replay(krt_handler_t *h)
{
    krt_collection_t *c = h->c;
    krt_engine_t *e = c->e;
    krt__vec_t ids = {0};
    uint64_t key, v;
    int rc = KRT_OK;
    if (krt__vec_reserve(&ids, sizeof(uint32_t), c->objs.len + c->touched.len) != KRT_OK)
        return KRT_ENOMEM;
    uint32_t oid;
    for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &oid, NULL);)
        if (!krt__map_find(&c->touched, oid))
            KRT__VEC_AT(&ids, uint32_t, ids.len++) = oid;
    for (uint32_t it = 0; krt__map_next(&c->touched, &it, &key, &v);)
        if (v & ~1ULL)
            KRT__VEC_AT(&ids, uint32_t, ids.len++) = (uint32_t)key;
    if (ids.len == 0)
        goto out;
    krt__intern_sort(&e->in, (uint32_t *)ids.data, ids.len);
    krt_event_t *evs = krt_malloc((size_t)ids.len * sizeof(krt_event_t));
    if (!evs) {
        rc = KRT_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < ids.len; i++) {
        uint32_t id = KRT__VEC_AT(&ids, uint32_t, i);
        uint64_t *t = krt__map_find(&c->touched, id);
        const krt_obj_t *o =
            t ? (const krt_obj_t *)(uintptr_t)(*t & ~1ULL) : krt__coll_get_id(c, id);
        evs[i] = (krt_event_t){KRT_ADD, NULL, krt_obj_retain(o)};
    }
    krt_batch_t b = {c, evs, ids.len};
    h->cb(&b, h->ud);
    for (uint32_t i = 0; i < ids.len; i++)
        krt_obj_release(evs[i].cur);
    krt_free(evs);
out:
    krt__vec_dispose(&ids);
    return rc;
}

krt_handler_t *krt_collection_subscribe(krt_collection_t *c, krt_handler_cb cb, void *ud,
                                        bool replay_state)
{
    krt_engine_t *e = c->e;
    if (!cb || e->phase == KRT__PHASE_PROCESS)
        return NULL;
    krt_handler_t *h = krt_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->c = c;
    h->cb = cb;
    h->ud = ud;
    h->since_gen = e->gen; /* in DELIVER, gen is the running flush: its batch is in the replay */
    h->replayed = c->synced;
    krt_handler_t **pp = &c->handlers;
    while (*pp)
        pp = &(*pp)->next;
    *pp = h;
    if (replay_state && replay(h) != KRT_OK) {
        *pp = NULL;
        krt_free(h);
        return NULL;
    }
    return h;
}

void krt_handler_unsubscribe(krt_handler_t *h)
{
    if (!h)
        return;
    if (h->c->e->phase != KRT__PHASE_IDLE) {
        h->dead = true; /* reaped at the end of the flush */
        return;
    }
    h->dead = true;
    reap_handlers(h->c);
}

bool krt_handler_synced(const krt_handler_t *h)
{
    return h->c->synced && h->replayed;
}

/* ---- dump, DOT, check ---------------------------------------------------------------------- */

json_t *krt_collection_dump(const krt_collection_t *c)
{
    krt_stats_t s;
    krt_collection_stats(c, &s);
    json_t *stats = json_pack("{sI sI sI sI sI sI sI sI sI sI}", "recomputes",
                              (json_int_t)s.recomputes, "scans", (json_int_t)s.scans, "events",
                              (json_int_t)s.events, "batches", (json_int_t)s.batches, "dup_keys",
                              (json_int_t)s.dup_keys, "errors", (json_int_t)s.errors, "inputs",
                              (json_int_t)s.inputs, "outputs", (json_int_t)s.outputs, "deps",
                              (json_int_t)s.deps, "bytes", (json_int_t)s.bytes);
    json_t *d = json_pack("{ss ss ss sI sb so}", "name", c->name, "kind", c->ops->kind, "type",
                          c->type->name ? c->type->name : "", "id", (json_int_t)c->id, "synced",
                          c->synced, "stats", stats);
    if (!d)
        return NULL;
    json_t *outs = json_array();
    uint32_t n;
    const uint32_t *ids = krt__coll_sorted((krt_collection_t *)c, &n);
    for (uint32_t i = 0; ids && i < n; i++)
        json_array_append_new(outs, json_string(krt__intern_str(&c->e->in, ids[i])));
    json_object_set_new(d, "outputs", outs);
    json_t *idx = json_array();
    for (krt_index_t *x = c->indexes; x; x = x->next)
        json_array_append_new(idx, json_pack("{ss sI}", "name", x->name, "buckets",
                                             (json_int_t)x->buckets.len));
    json_object_set_new(d, "indexes", idx);
    size_t nh = 0;
    for (krt_handler_t *h = c->handlers; h; h = h->next)
        nh += !h->dead;
    json_object_set_new(d, "handlers", json_integer((json_int_t)nh));
    if (c->ops->dump)
        c->ops->dump(c, d);
    return d;
}

json_t *krt_engine_dump(const krt_engine_t *e)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; i < e->colls.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (c)
            json_array_append_new(arr, krt_collection_dump(c));
    }
    return json_pack("{so sI sI}", "collections", arr, "flushes", (json_int_t)e->gen, "keys",
                     (json_int_t)e->in.live);
}

typedef struct dot_buf {
    char *p;
    size_t len, cap;
    bool oom;
} dot_buf_t;

static void dot_printf(dot_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dot_printf(dot_buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = krt_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* DOT identifiers are quoted; names may hold quotes or backslashes. */
static void dot_quoted(dot_buf_t *b, const char *s)
{
    dot_printf(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            dot_printf(b, "\\%c", *s);
        else if (*s == '\n')
            dot_printf(b, "\\n");
        else if ((unsigned char)*s >= 0x20)
            dot_printf(b, "%c", *s);
    }
    dot_printf(b, "\"");
}

typedef struct dot_edge_ctx {
    dot_buf_t *b;
    const krt_collection_t *to;
} dot_edge_ctx_t;

static void dot_edge(const krt_collection_t *from, const char *label, void *ud)
{
    dot_edge_ctx_t *x = ud;
    dot_printf(x->b, "  c%u -> c%u [label=", from->id, x->to->id);
    dot_quoted(x->b, label);
    dot_printf(x->b, "%s];\n", strcmp(label, "parent") && strcmp(label, "member")
                                   ? ", style=dashed"
                                   : "");
}

char *krt_engine_dot(const krt_engine_t *e)
{
    dot_buf_t b = {0};
    dot_printf(&b, "digraph krt {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (uint32_t i = 0; i < e->colls.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        char label[512];
        snprintf(label, sizeof(label), "%s\n%s, %u objects%s", c->name, c->ops->kind,
                 c->objs.len, c->synced ? "" : ", not synced");
        dot_printf(&b, "  c%u [label=", c->id);
        dot_quoted(&b, label);
        dot_printf(&b, "];\n");
    }
    for (uint32_t i = 0; i < e->colls.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        dot_edge_ctx_t x = {&b, c};
        c->ops->upstream(c, dot_edge, &x);
    }
    dot_printf(&b, "}\n");
    if (b.oom) {
        krt_free(b.p);
        return NULL;
    }
    return b.p;
}

static void count_user(const krt_collection_t *from, const char *label, void *ud)
{
    KRT__UNUSED(label);
    krt__map_t *m = ud;
    uint64_t *p = krt__map_upsert(m, from->id, 0, NULL);
    if (p)
        (*p)++;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            krt__log((krt_engine_t *)e, KRT_LOG_ERROR, __VA_ARGS__);                               \
            rc = KRT_EINVARIANT;                                                                   \
        }                                                                                          \
    } while (0)

int krt_engine_check(const krt_engine_t *e)
{
    int rc = KRT_OK;
    CHECK(krt__intern_check(&e->in) == KRT_OK, "interner: N1-N3 violated");
    krt__map_t users = {0};
    for (uint32_t i = 0; i < e->colls.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        CHECK(c->id == i, "%s: id %u at position %u", c->name, c->id, i);
        uint64_t v;
        uint32_t key;
        for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &key, &v);) {
            const krt_obj_t *o = (const krt_obj_t *)(uintptr_t)v;
            CHECK(o && o->refs > 0 && key < e->in.len && e->in.strs[key] &&
                      strcmp(krt_obj_key(o), e->in.strs[key]) == 0,
                  "%s: C1 object under key id %u does not carry that key", c->name, key);
        }
        if (e->phase == KRT__PHASE_IDLE) {
            CHECK(krt__coll_is_static(c) || c->touched.len == 0,
                  "%s: C2 touched entries outside a flush", c->name);
            CHECK(c->batch.len == 0, "%s: C4 batch not empty outside a flush", c->name);
        }
        CHECK(krt__index_check(c) == KRT_OK, "%s: C3 index out of step", c->name);
        CHECK(c->batch.cap >= c->touched.len && c->batch_keys.cap >= c->touched.len,
              "%s: C6 no room reserved for %u touched keys", c->name, c->touched.len);
        if (c->ops->check)
            CHECK(c->ops->check(c) == KRT_OK, "%s: %s invariant violated", c->name,
                  c->ops->kind);
        c->ops->upstream(c, count_user, &users);
    }
    for (uint32_t i = 0; i < e->colls.len; i++) {
        krt_collection_t *c = KRT__VEC_AT(&e->colls, krt_collection_t *, i);
        if (!c)
            continue;
        uint64_t n = 0;
        krt__map_get(&users, c->id, &n);
        CHECK(n == c->users, "%s: C5 users=%u but %u readers", c->name, c->users, (uint32_t)n);
    }
    krt__map_dispose(&users);
    return rc;
}
