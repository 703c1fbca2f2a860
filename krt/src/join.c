/*
 * Joins: the union of same-typed collections, by priority (earlier member wins a key) or through
 * a user merge function.
 *
 * Both recompute per key: a member's batch marks its keys dirty, and each dirty key is resolved
 * against the members' settled state. krt's join event rules (an add that hides a lower member is
 * an update, a delete that uncovers one is an update, hidden changes emit nothing) are then what
 * the base's old-versus-current batch produces; they need no code of their own.
 */
#include "engine.h"

typedef struct join {
    krt_collection_t base;
    krt_collection_t **members;
    size_t n;
    krt_merge_cb merge; /* NULL for a priority join */
    void *ud;
    krt__map_t dirty; /* key id -> 1, one interner reference each */
    bool rescan;      /* a member change could not be recorded: resolve every key next flush */
    bool dirty_hot;   /* the last flush had many dirty keys (krt__scratch_clear) */
} join_t;

static bool mark(join_t *j, uint32_t key)
{
    bool inserted;
    if (!krt__map_upsert(&j->dirty, key, 1, &inserted)) {
        krt__flush_error(j->base.e, KRT_ENOMEM);
        j->rescan = true;
        return false;
    }
    if (inserted)
        krt__intern_retain(&j->base.e->in, key);
    return true;
}

/* Returns false when the key could not be settled for lack of memory (retried next flush). */
static bool resolve(join_t *j, uint32_t key, const krt_obj_t **scratch)
{
    krt_collection_t *c = &j->base;
    size_t n = 0;
    for (size_t i = 0; i < j->n; i++) {
        const krt_obj_t *o = krt__coll_get_id(j->members[i], key);
        if (o) {
            scratch[n++] = o;
            if (!j->merge)
                break;
        }
    }
    const krt_obj_t *next = NULL;
    if (n && !j->merge) {
        next = krt_obj_retain(scratch[0]);
    } else if (n) {
        c->stats.recomputes++;
        next = j->merge(scratch, n, j->ud);
        if (next && (next->type != c->type ||
                     strcmp(krt_obj_key(next), krt__intern_str(&c->e->in, key)) != 0)) {
            krt__log(c->e, KRT_LOG_ERROR, "%s: merge of %s returned a %s", c->name,
                     krt__intern_str(&c->e->in, key),
                     next->type != c->type ? "wrong type" : "different key");
            c->stats.errors++;
            krt__flush_error(c->e, KRT_ETRANSFORM);
            krt_obj_release(next);
            return true; /* keep what was there */
        }
    }
    if (krt__coll_set(c, key, next, false) != KRT_OK) {
        krt__flush_error(c->e, KRT_ENOMEM);
        return false;
    }
    return true;
}

static bool join_process(krt_collection_t *c)
{
    join_t *j = (join_t *)c;
    uint64_t key;
    uint32_t id;
    bool complete = true, full = !c->processed || j->rescan;
    j->rescan = false;
    if (full) /* keys the join holds but no member has any more are removed by resolve */
        for (uint32_t it = 0; krt__imap_next(&c->objs, &it, &id, NULL);)
            complete &= mark(j, id);
    for (size_t i = 0; i < j->n; i++) {
        krt_collection_t *m = j->members[i];
        if (full) {
            for (uint32_t it = 0; krt__imap_next(&m->objs, &it, &id, NULL);)
                complete &= mark(j, id);
        } else {
            for (uint32_t k = 0; k < m->batch.len; k++)
                mark(j, KRT__VEC_AT(&m->batch_keys, uint32_t, k));
        }
    }
    if (c->processed)
        complete = true; /* a failed rescan is redone through j->rescan */
    if (j->dirty.len == 0) {
        j->dirty_hot = false;
        return complete;
    }
    uint32_t used = j->dirty.len;
    const krt_obj_t **scratch = krt_malloc(j->n * sizeof(*scratch));
    if (!scratch) {
        krt__flush_error(c->e, KRT_ENOMEM);
        return complete; /* stays dirty for the next flush */
    }
    /* Keys that could not be settled stay dirty for the next flush. */
    krt__vec_t done = {0};
    for (uint32_t it = 0; krt__map_next(&j->dirty, &it, &key, NULL);) {
        if (resolve(j, (uint32_t)key, scratch) &&
            krt__vec_push(&done, sizeof(uint32_t), &(uint32_t){(uint32_t)key}) != KRT_OK)
            break;
    }
    for (uint32_t i = 0; i < done.len; i++) {
        uint32_t k = KRT__VEC_AT(&done, uint32_t, i);
        krt__map_del(&j->dirty, k, NULL);
        krt__intern_unref(&c->e->in, k);
    }
    krt__vec_dispose(&done);
    krt_free(scratch);
    if (j->dirty.len == 0) /* keys were deleted one by one: the table is still as large */
        krt__scratch_clear(&j->dirty, used, &j->dirty_hot);
    return complete;
}

static bool join_pending(const krt_collection_t *c)
{
    const join_t *j = (const join_t *)c;
    return j->dirty.len > 0 || j->rescan;
}

static bool join_synced(const krt_collection_t *c)
{
    const join_t *j = (const join_t *)c;
    for (size_t i = 0; i < j->n; i++)
        if (!j->members[i]->synced)
            return false;
    return c->processed;
}

static void join_dispose(krt_collection_t *c)
{
    join_t *j = (join_t *)c;
    uint64_t key;
    for (uint32_t it = 0; krt__map_next(&j->dirty, &it, &key, NULL);)
        krt__intern_unref(&c->e->in, (uint32_t)key);
    krt__map_dispose(&j->dirty);
    for (size_t i = 0; i < j->n; i++)
        krt__coll_unuse(j->members[i]);
    krt_free(j->members);
}

static void join_upstream(const krt_collection_t *c,
                          void (*fn)(const krt_collection_t *, const char *, void *), void *ud)
{
    const join_t *j = (const join_t *)c;
    for (size_t i = 0; i < j->n; i++)
        fn(j->members[i], "member", ud);
}

static void join_dump(const krt_collection_t *c, json_t *out)
{
    const join_t *j = (const join_t *)c;
    json_t *m = json_array();
    for (size_t i = 0; i < j->n; i++)
        json_array_append_new(m, json_string(j->members[i]->name));
    json_object_set_new(out, "members", m);
}

static int join_check(const krt_collection_t *c)
{
    const join_t *j = (const join_t *)c;
    if (j->merge || c->e->phase != KRT__PHASE_IDLE || krt_engine_pending(c->e))
        return KRT_OK;
    /* J1 (when nothing is pending): a priority join holds, per key, the object of the first
     * member that has the key. */
    uint64_t v;
    uint32_t key;
    size_t expected = 0;
    krt__map_t seen = {0};
    int rc = KRT_OK;
    for (size_t i = 0; i < j->n; i++) {
        for (uint32_t it = 0; krt__imap_next(&j->members[i]->objs, &it, &key, &v);) {
            bool inserted;
            if (!krt__map_upsert(&seen, key, 1, &inserted))
                return KRT_ENOMEM;
            if (!inserted)
                continue;
            expected++;
            if (krt__coll_get_id(c, (uint32_t)key) != (const krt_obj_t *)(uintptr_t)v &&
                !krt_obj_equal(krt__coll_get_id(c, (uint32_t)key),
                               (const krt_obj_t *)(uintptr_t)v))
                rc = KRT_EINVARIANT;
        }
    }
    krt__map_dispose(&seen);
    return expected == c->objs.len ? rc : KRT_EINVARIANT;
}

static const krt__ops_t join_ops = {
    .kind = "join",
    .process = join_process,
    .synced = join_synced,
    .pending = join_pending,
    .dispose = join_dispose,
    .dump = join_dump,
    .check = join_check,
    .upstream = join_upstream,
};

static const krt__ops_t merge_ops = {
    .kind = "merge",
    .process = join_process,
    .synced = join_synced,
    .pending = join_pending,
    .dispose = join_dispose,
    .dump = join_dump,
    .check = join_check,
    .upstream = join_upstream,
};

static krt_collection_t *join_make(krt_engine_t *e, krt_collection_t *const *cols, size_t n,
                                   const char *name, krt_merge_cb merge, void *ud)
{
    if (!e || !cols || n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!cols[i] || cols[i]->e != e || cols[i]->type != cols[0]->type)
            return NULL;
    join_t *j = (join_t *)krt__coll_new(e, merge ? &merge_ops : &join_ops, sizeof(join_t),
                                        cols[0]->type, name);
    if (!j)
        return NULL;
    j->members = krt_malloc(n * sizeof(*j->members));
    if (!j->members) {
        j->n = 0;
        krt_collection_free(&j->base);
        return NULL;
    }
    memcpy(j->members, cols, n * sizeof(*j->members));
    j->n = n;
    j->merge = merge;
    j->ud = ud;
    for (size_t i = 0; i < n; i++)
        krt__coll_use(cols[i]);
    return &j->base;
}

krt_collection_t *krt_join_new(krt_engine_t *e, krt_collection_t *const *cols, size_t n,
                               const char *name)
{
    return join_make(e, cols, n, name, NULL, NULL);
}

krt_collection_t *krt_merge_join_new(krt_engine_t *e, krt_collection_t *const *cols, size_t n,
                                     const char *name, krt_merge_cb merge, void *ud)
{
    return merge ? join_make(e, cols, n, name, merge, ud) : NULL;
}
