/*
 * Derived collections: transformations, fetch, dependency tracking and the per-input output diff.
 * Also the singleton, many-from-nothing, map and status variants, which are derived collections
 * with a different input or extra checks.
 *
 * Each input remembers the fetches its last run made (dependencies). Each (collection, source)
 * pair keeps reverse indexes from what a source change can name — its key, its index keys, its
 * label pairs, its selector — to the inputs whose dependencies might match; a candidate is then
 * confirmed against the full filter on the old and new object. Only dependencies with nothing
 * indexable (a bare predicate, no filter) sit in the scan set, whose checks are counted. This
 * replaces krt's per-source extractor table, whose fall-back to a full scan was sticky for the
 * life of the collection (krt.md §2.4), with per-dependency anchors that come and go with the
 * dependencies themselves.
 *
 * Dirty inputs are collected in a set during the flush and each is recomputed once, so a burst of
 * changes costs one recomputation per affected input (istio#60366).
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"
#include "krt/json.h"

enum { ANCHOR_KEYS = 1, ANCHOR_INDEX, ANCHOR_LABELS, ANCHOR_SELECTS, ANCHOR_SCAN };
static const char *const anchor_names[] = {"", "keys", "index", "labels", "selects", "scan"};

typedef struct src src_t;

/* The rare parts of a fetch: label and selector filters, a predicate, the partial-fetch
 * callback's user data. One allocation: this header, then the label arrays, then their strings. */
typedef struct dep_ext {
    krt_label_t *labels; /* sorted copies, into this allocation */
    uint32_t nlabels;
    uint32_t nselects;
    krt_label_t *selects;
    bool has_selects, selects_nonempty;
    krt_pred_cb pred;
    void *pred_ud;
    krt_same_cb same; /* when the dependency's same is DEP_SAME_EXT */
    void *same_ud;
} dep_ext_t;

/* One recorded fetch (40 bytes instead of 112: there is one per fetch of every input, 36k at
 * agw-5k). Owns its key array, extension and interner references. Most fetches name one key or
 * one index bucket, often with a partial-fetch callback (`same`) and nothing else: a single key is
 * held inline, `same` by its number in the engine's table of the callbacks fetches use (a
 * controller has a handful), and the rest lives in |ext|, allocated only when the fetch has a
 * label or selector filter, a predicate or user data for `same`. */
typedef struct dep {
    src_t *src;
    krt_index_t *index;
    union {
        uint32_t one;   /* nkeys == 1 */
        uint32_t *many; /* nkeys > 1 */
    } keys;             /* interned, one reference each */
    dep_ext_t *ext;     /* NULL: no labels, selects, pred or same_ud */
    uint32_t nkeys : 21;
    uint32_t anchor : 3;
    uint32_t has_keys : 1;
    uint32_t same : 7; /* 0 none, else e->same_fns[same - 1], or DEP_SAME_EXT: ext->same */
    uint32_t ikey;     /* interned, one reference, when index != NULL */
} dep_t;
#define DEP_MAX_KEYS ((1u << 21) - 1)
#define DEP_SAME_EXT 127u
_Static_assert(sizeof(void *) != 8 || sizeof(dep_t) == 40, "dep_t grew: it is per fetch");

static const dep_ext_t dep_no_ext;

static inline const dep_ext_t *dep_ext(const dep_t *dep)
{
    return dep->ext ? dep->ext : &dep_no_ext;
}
static inline const uint32_t *dep_keys(const dep_t *dep)
{
    return dep->nkeys == 1 ? &dep->keys.one : dep->keys.many;
}

/* The number a dependency stores for |fn| (see dep_t): its place in the engine's table, added
 * on first use. Returns KRT_OK or KRT_ENOMEM. */
static int same_number(krt_engine_t *e, krt_same_cb fn, uint32_t *no)
{
    *no = 0;
    if (!fn)
        return KRT_OK;
    for (uint32_t i = 0; i < e->same_fns.len; i++) {
        if (KRT__VEC_AT(&e->same_fns, krt_same_cb, i) == fn) {
            *no = i + 1;
            return KRT_OK;
        }
    }
    if (e->same_fns.len + 1 >= DEP_SAME_EXT) {
        *no = DEP_SAME_EXT;
        return KRT_OK;
    }
    if (krt__vec_push(&e->same_fns, sizeof(fn), &fn) != KRT_OK)
        return KRT_ENOMEM;
    *no = e->same_fns.len;
    return KRT_OK;
}

/* What one derived collection knows about one collection it fetches from.
 * INVARIANT D2: every set below holds input -> number of dependencies of that input registered
 * under that entry, exactly as recomputed from the inputs' dependency lists. The by_* maps hold
 * reverse-index entries: one input inline, or a set of two or more (D4, see set_add). */
struct src {
    krt_collection_t *c;
    uint32_t ndeps;
    krt__map_t by_key;    /* key id -> set */
    krt__map_t by_index;  /* (index no << 32 | index key id) -> set */
    krt__map_t by_label;  /* label pair hash -> set */
    krt__map_t by_sel;    /* label pair hash -> set (every pair of the fetch's selects map) */
    krt__map_t sel_empty; /* input -> count: matches objects with an empty selector */
    krt__map_t scan;      /* input -> count: checked on every change */
    krt__vec_t indexes;   /* struct { krt_index_t *idx; uint32_t n; } used by index anchors */
    src_t *next;
};

static inline krt_same_cb dep_same(const dep_t *dep)
{
    if (dep->same == 0)
        return NULL;
    if (dep->same == DEP_SAME_EXT)
        return dep->ext->same;
    return KRT__VEC_AT(&dep->src->c->e->same_fns, krt_same_cb, dep->same - 1);
}

typedef struct src_index {
    krt_index_t *idx;
    uint32_t n;
} src_index_t;

typedef struct input {
    uint32_t key;         /* interned, one reference */
    const krt_obj_t *obj; /* the object last computed, one reference */
    union {
        uint32_t one;   /* nouts == 1: most inputs emit one output */
        uint32_t *many; /* nouts > 1 */
    } outs;             /* output key ids claimed, one reference each */
    uint32_t nouts;
    dep_t *deps;
    uint32_t ndeps;
} input_t;

static inline const uint32_t *input_outs(const input_t *in)
{
    return in->nouts > 1 ? in->outs.many : &in->outs.one;
}

typedef struct shadow {
    uint32_t input;
    const krt_obj_t *obj;
} shadow_t;

/* INVARIANTS
 *  D1 owners and objs have the same keys; the owner of k is an input whose outs hold k and
 *     whose key sorts first among all inputs claiming k; the others are in shadows[k]
 *  D2 see struct src
 *  D3 outside a flush, dirty holds only inputs whose last recompute ran out of memory (they are
 *     retried at the next flush)
 *  D4 a reverse-index entry naming one input holds it inline (ENTRY_ONE); a set holds two or
 *     more inputs                                                                              */
typedef struct derived {
    krt_collection_t base;
    krt_collection_t *parent; /* NULL for singleton and many-from-nothing */
    unsigned flags;
    krt_transform_cb fn;
    void *ud;
    krt__imap_t inputs; /* input key id -> input_t* */
    krt__imap_t owners; /* output key id -> owning input key id */
    krt__map_t shadows; /* output key id -> krt__vec_t* of shadow_t */
    krt__map_t dirty;   /* input key id -> 1, one interner reference each */
    src_t *srcs;
    krt_collection_t *status; /* status collection, or NULL */
    const krt_type_t *status_type;
    uint32_t nothing_key; /* input key of from-nothing collections */
    bool nothing;
    bool oom;       /* an allocation failed while recomputing the current input: retry it */
    bool rescan;    /* a change could not be recorded: recompute every input at the next flush */
    bool dirty_hot; /* the last flush had many dirty inputs (krt__scratch_clear) */
    size_t ndeps;
    krt_same_cb input_same; /* partial input: see krt_derive_set_input_same */
    void *input_same_ud;
} derived_t;

/* Fetch results live in blocks that never move while the transformation runs. */
typedef struct arena_block {
    struct arena_block *next;
    size_t cap, used;
    const krt_obj_t *items[];
} arena_block_t;

typedef struct pending_dep {
    bool reused; /* same as the input's previous dependency at this position */
    dep_t dep;
} pending_dep_t;

struct krt_ctx {
    derived_t *d;
    input_t *in; /* NULL for an input seen for the first time */
    uint32_t in_key;
    krt__vec_t outs;     /* const krt_obj_t*, references held */
    krt__vec_t out_keys; /* uint32, references held */
    krt__vec_t deps;     /* pending_dep_t */
    const krt_obj_t *status;
    bool status_set;
    bool discard;
    int err;
    arena_block_t *arena;
};

static const krt__ops_t derived_ops;
static const krt__ops_t status_ops;

/* ---- helpers ------------------------------------------------------------------------------- */

/* Records an allocation failure while recomputing an input: the flush reports KRT_ENOMEM and the
 * input is recomputed again at the next flush, so the collection converges once memory is back. */
static void oom(derived_t *d)
{
    d->oom = true;
    krt__flush_error(d->base.e, KRT_ENOMEM);
}

static void ctx_fail(krt_ctx_t *ctx, int rc, const char *why)
{
    if (ctx->err == KRT_OK) {
        ctx->err = rc;
        krt__log(ctx->d->base.e, KRT_LOG_ERROR, "%s: input %s: %s", ctx->d->base.name,
                 krt__intern_str(&ctx->d->base.e->in, ctx->in_key), why);
    }
}

static const krt_obj_t **arena_alloc(krt_ctx_t *ctx, size_t n)
{
    arena_block_t *b = ctx->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 256 ? n : 256;
        arena_block_t *nb = krt_malloc(sizeof(*nb) + cap * sizeof(const krt_obj_t *));
        if (!nb)
            return NULL;
        nb->cap = cap;
        nb->used = 0;
        nb->next = b;
        ctx->arena = b = nb;
    }
    const krt_obj_t **p = &b->items[b->used];
    b->used += n;
    return p;
}

static void arena_reset(krt_ctx_t *ctx)
{
    /* Keep the newest block (the largest working set seen) for the next transformation. */
    arena_block_t *b = ctx->arena;
    if (!b)
        return;
    arena_block_t *rest = b->next;
    b->next = NULL;
    b->used = 0;
    while (rest) {
        arena_block_t *n = rest->next;
        krt_free(rest);
        rest = n;
    }
}

/* Reverse-index entries. The value of an entry is either one input inline, tagged in bit 0:
 * (input << 32) | (count << 1) | 1, or a pointer to a set (krt__map_t, input -> count) of two
 * inputs or more (INVARIANT D4). Most entries name one input (a key fetched by one route, a
 * namespace read by one collection's inputs is the exception), and a set costs an allocation
 * and a table of at least 8 slots. */
#define ENTRY_ONE(input, count) (((uint64_t)(input) << 32) | ((uint64_t)(count) << 1) | 1)
#define ENTRY_IS_ONE(v)         ((v)&1)
#define ENTRY_INPUT(v)          ((uint32_t)((v) >> 32))
#define ENTRY_COUNT(v)          ((uint32_t)(v) >> 1)
#define ENTRY_MAX_COUNT         (UINT32_MAX >> 1)

static bool set_add(krt__map_t *m, uint64_t skey, uint32_t input)
{
    bool ins;
    uint64_t *slot = krt__map_upsert(m, skey, ENTRY_ONE(input, 1), &ins);
    if (!slot)
        return false;
    if (ins)
        return true;
    uint64_t v = *slot;
    if (ENTRY_IS_ONE(v) && ENTRY_INPUT(v) == input) {
        if (ENTRY_COUNT(v) == ENTRY_MAX_COUNT)
            return false;
        *slot = ENTRY_ONE(input, ENTRY_COUNT(v) + 1);
        return true;
    }
    krt__map_t *set;
    if (ENTRY_IS_ONE(v)) { /* a second input: promote to a set */
        set = krt_calloc(1, sizeof(*set));
        if (!set || krt__map_put(set, ENTRY_INPUT(v), ENTRY_COUNT(v)) != KRT_OK ||
            krt__map_put(set, input, 1) != KRT_OK) {
            if (set)
                krt__map_dispose(set);
            krt_free(set);
            return false;
        }
        *slot = (uint64_t)(uintptr_t)set;
        return true;
    }
    set = (krt__map_t *)(uintptr_t)v;
    uint64_t *n = krt__map_upsert(set, input, 0, NULL);
    if (!n)
        return false;
    (*n)++;
    return true;
}

static bool set_remove(krt__map_t *m, uint64_t skey, uint32_t input)
{
    uint64_t *slot = krt__map_find(m, skey);
    if (!slot)
        return true;
    uint64_t v = *slot;
    if (ENTRY_IS_ONE(v)) {
        if (ENTRY_INPUT(v) != input)
            return true;
        if (ENTRY_COUNT(v) > 1)
            *slot = ENTRY_ONE(input, ENTRY_COUNT(v) - 1);
        else
            krt__map_del(m, skey, NULL);
        return true;
    }
    krt__map_t *set = (krt__map_t *)(uintptr_t)v;
    uint64_t *n = krt__map_find(set, input);
    if (n && --(*n) == 0)
        krt__map_del(set, input, NULL);
    if (set->len <= 1) { /* back to one input inline (D4) */
        uint64_t k, c;
        uint32_t it = 0;
        if (krt__map_next(set, &it, &k, &c))
            *slot = ENTRY_ONE(k, c);
        else
            krt__map_del(m, skey, NULL);
        krt__map_dispose(set);
        krt_free(set);
    }
    return true;
}

static bool count_add(krt__map_t *m, uint32_t input)
{
    uint64_t *n = krt__map_upsert(m, input, 0, NULL);
    if (!n)
        return false;
    (*n)++;
    return true;
}

static bool count_remove(krt__map_t *m, uint32_t input)
{
    uint64_t *n = krt__map_find(m, input);
    if (n && --(*n) == 0)
        krt__map_del(m, input, NULL);
    return true;
}

static void sets_dispose(krt__map_t *m)
{
    uint64_t v;
    for (uint32_t it = 0; krt__map_next(m, &it, NULL, &v);) {
        if (ENTRY_IS_ONE(v))
            continue;
        krt__map_t *set = (krt__map_t *)(uintptr_t)v;
        krt__map_dispose(set);
        krt_free(set);
    }
    krt__map_dispose(m);
}

/* ---- dependencies -------------------------------------------------------------------------- */

static src_t *src_get(derived_t *d, krt_collection_t *c)
{
    for (src_t *s = d->srcs; s; s = s->next)
        if (s->c == c)
            return s;
    src_t *s = krt_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->c = c;
    s->next = d->srcs;
    d->srcs = s;
    krt__coll_use(c);
    return s;
}

static void src_free(derived_t *d, src_t *s)
{
    krt__coll_unuse(s->c);
    sets_dispose(&s->by_key);
    sets_dispose(&s->by_index);
    sets_dispose(&s->by_label);
    sets_dispose(&s->by_sel);
    krt__map_dispose(&s->sel_empty);
    krt__map_dispose(&s->scan);
    krt__vec_dispose(&s->indexes);
    KRT__UNUSED(d);
    krt_free(s);
}

/* Drops sources no dependency refers to any more, so a source can be freed again. */
static void srcs_prune(derived_t *d)
{
    for (src_t **pp = &d->srcs; *pp;) {
        src_t *s = *pp;
        if (s->ndeps == 0) {
            *pp = s->next;
            src_free(d, s);
        } else {
            pp = &s->next;
        }
    }
}

static void dep_dispose(krt_engine_t *e, dep_t *dep)
{
    const uint32_t *keys = dep_keys(dep);
    for (uint32_t i = 0; i < dep->nkeys; i++)
        krt__intern_unref(&e->in, keys[i]);
    if (dep->nkeys > 1)
        krt_free(dep->keys.many);
    if (dep->index)
        krt__intern_unref(&e->in, dep->ikey);
    krt_free(dep->ext);
    memset(dep, 0, sizeof(*dep));
}

/* Counts the index dependencies on |idx|, so a source change extracts only the index keys some
 * dependency can match. Removal never fails. */
static bool src_index_use(src_t *s, krt_index_t *idx, int delta)
{
    for (uint32_t i = 0; i < s->indexes.len; i++) {
        src_index_t *x = &KRT__VEC_AT(&s->indexes, src_index_t, i);
        if (x->idx == idx) {
            x->n += (uint32_t)delta;
            if (x->n == 0)
                KRT__VEC_AT(&s->indexes, src_index_t, i) =
                    KRT__VEC_AT(&s->indexes, src_index_t, --s->indexes.len);
            return true;
        }
    }
    src_index_t x = {idx, 1};
    return krt__vec_push(&s->indexes, sizeof(x), &x) == KRT_OK;
}

static void dep_unregister(dep_t *dep, uint32_t input)
{
    src_t *s = dep->src;
    const dep_ext_t *x = dep_ext(dep);
    const uint32_t *keys = dep_keys(dep);
    s->ndeps--;
    switch (dep->anchor) {
    case ANCHOR_KEYS:
        for (uint32_t i = 0; i < dep->nkeys; i++)
            set_remove(&s->by_key, keys[i], input);
        break;
    case ANCHOR_INDEX:
        set_remove(&s->by_index, ((uint64_t)dep->index->no << 32) | dep->ikey, input);
        src_index_use(s, dep->index, -1);
        break;
    case ANCHOR_LABELS:
        set_remove(&s->by_label, krt__label_hash(x->labels[0].key, x->labels[0].value), input);
        break;
    case ANCHOR_SELECTS:
        for (uint32_t i = 0; i < x->nselects; i++)
            set_remove(&s->by_sel, krt__label_hash(x->selects[i].key, x->selects[i].value), input);
        if (!x->selects_nonempty)
            count_remove(&s->sel_empty, input);
        break;
    default:
        count_remove(&s->scan, input);
        break;
    }
}

/* Adds this dependency's reverse-index entries for |input|, all or nothing: on an allocation
 * failure the entries already made are removed again and false is returned. */
static bool dep_register(dep_t *dep, uint32_t input)
{
    src_t *s = dep->src;
    const dep_ext_t *x = dep_ext(dep);
    const uint32_t *keys = dep_keys(dep);
    uint32_t i = 0;
    switch (dep->anchor) {
    case ANCHOR_KEYS:
        for (; i < dep->nkeys; i++)
            if (!set_add(&s->by_key, keys[i], input))
                goto undo_keys;
        break;
    case ANCHOR_INDEX: {
        uint64_t skey = ((uint64_t)dep->index->no << 32) | dep->ikey;
        if (!set_add(&s->by_index, skey, input))
            return false;
        if (!src_index_use(s, dep->index, +1)) {
            set_remove(&s->by_index, skey, input);
            return false;
        }
        break;
    }
    case ANCHOR_LABELS:
        if (!set_add(&s->by_label, krt__label_hash(x->labels[0].key, x->labels[0].value), input))
            return false;
        break;
    case ANCHOR_SELECTS:
        for (; i < x->nselects; i++)
            if (!set_add(&s->by_sel, krt__label_hash(x->selects[i].key, x->selects[i].value),
                         input))
                goto undo_sel;
        if (!x->selects_nonempty && !count_add(&s->sel_empty, input))
            goto undo_sel;
        break;
    default:
        if (!count_add(&s->scan, input))
            return false;
        break;
    }
    s->ndeps++;
    return true;
undo_keys:
    while (i-- > 0)
        set_remove(&s->by_key, keys[i], input);
    return false;
undo_sel:
    while (i-- > 0)
        set_remove(&s->by_sel, krt__label_hash(x->selects[i].key, x->selects[i].value), input);
    return false;
}

static size_t labels_bytes(const krt_labels_t *l)
{
    size_t bytes = 0;
    for (size_t i = 0; l && i < l->len; i++)
        bytes += sizeof(krt_label_t) + strlen(l->items[i].key) + strlen(l->items[i].value) + 2;
    return bytes;
}

/* Copies |l| sorted to |out|, its strings to *|p| (advanced past them). */
static void labels_copy(const krt_labels_t *l, krt_label_t *out, char **p)
{
    for (size_t i = 0; i < l->len; i++) {
        size_t kl = strlen(l->items[i].key) + 1, vl = strlen(l->items[i].value) + 1;
        memcpy(*p, l->items[i].key, kl);
        out[i].key = *p;
        *p += kl;
        memcpy(*p, l->items[i].value, vl);
        out[i].value = *p;
        *p += vl;
    }
    krt_labels_sort(out, l->len);
}

/* Builds the extension of a fetch that needs one (NULL otherwise, and on OOM: *rc says);
 * |same_in_ext| when the callback could not be numbered. */
static dep_ext_t *dep_ext_new(const krt_filter_t *f, bool same_in_ext, int *rc)
{
    bool has_labels = f->labels && f->labels->len;
    *rc = KRT_OK;
    if (!has_labels && !f->selects && !f->pred && !f->same_ud && !same_in_ext)
        return NULL;
    const krt_labels_t *labels = has_labels ? f->labels : NULL;
    size_t nl = labels ? labels->len : 0, ns = f->selects ? f->selects->len : 0;
    if (nl > UINT32_MAX || ns > UINT32_MAX) {
        *rc = KRT_EINVAL;
        return NULL;
    }
    dep_ext_t *x = krt_malloc(sizeof(*x) + labels_bytes(labels) + labels_bytes(f->selects));
    if (!x) {
        *rc = KRT_ENOMEM;
        return NULL;
    }
    memset(x, 0, sizeof(*x));
    krt_label_t *arr = (krt_label_t *)(x + 1);
    char *p = (char *)(arr + nl + ns);
    if (nl) {
        x->labels = arr;
        x->nlabels = (uint32_t)nl;
        labels_copy(labels, x->labels, &p);
    }
    if (f->selects) {
        x->has_selects = true;
        x->selects_nonempty = f->selects_nonempty;
        x->nselects = (uint32_t)ns;
        x->selects = ns ? arr + nl : NULL;
        if (ns)
            labels_copy(f->selects, x->selects, &p);
    }
    x->pred = f->pred;
    x->pred_ud = f->pred_ud;
    x->same = same_in_ext ? f->same : NULL;
    x->same_ud = f->same_ud;
    return x;
}

static bool labels_same(const krt_label_t *a, uint32_t na, const krt_labels_t *b)
{
    if (!b || na != b->len)
        return false;
    krt_labels_t va = {a, na};
    return krt_labels_contain(&va, b) && krt_labels_contain(b, &va);
}

/* Whether |dep| (a previous run's fetch) is the fetch that |f| on |src| describes. */
static bool dep_same_fetch(const krt_engine_t *e, const dep_t *dep, const krt_collection_t *src,
                           const krt_filter_t *f)
{
    if (dep->src->c != src)
        return false;
    krt_filter_t none = {0};
    if (!f)
        f = &none;
    if (dep->has_keys != (f->keys != NULL) || (f->keys && dep->nkeys != f->nkeys))
        return false;
    const uint32_t *keys = dep_keys(dep);
    for (uint32_t i = 0; i < dep->nkeys; i++)
        if (!f->keys[i] || strcmp(krt__intern_str(&e->in, keys[i]), f->keys[i]) != 0)
            return false;
    if (dep->index != f->index)
        return false;
    if (dep->index && (!f->index_key || strcmp(krt__intern_str(&e->in, dep->ikey), f->index_key)))
        return false;
    const dep_ext_t *x = dep_ext(dep);
    bool has_labels = f->labels && f->labels->len;
    if ((x->nlabels > 0) != has_labels ||
        (has_labels && !labels_same(x->labels, x->nlabels, f->labels)))
        return false;
    if (x->has_selects != (f->selects != NULL) ||
        (f->selects && (!labels_same(x->selects, x->nselects, f->selects) ||
                        x->selects_nonempty != f->selects_nonempty)))
        return false;
    return x->pred == f->pred && x->pred_ud == f->pred_ud && dep_same(dep) == f->same &&
           x->same_ud == f->same_ud;
}

static int dep_build(krt_engine_t *e, dep_t *dep, src_t *s, const krt_filter_t *f)
{
    memset(dep, 0, sizeof(*dep));
    dep->src = s;
    krt_filter_t none = {0};
    if (!f)
        f = &none;
    if (f->keys) {
        if (f->nkeys > DEP_MAX_KEYS)
            return KRT_EINVAL;
        dep->has_keys = true;
        /* Interned into place; a failure half-way gives back what it took, so a dependency
         * holds either all its keys or none. */
        uint32_t *keys = f->nkeys > 1 ? krt_malloc(f->nkeys * sizeof(uint32_t)) : &dep->keys.one;
        if (!keys)
            return KRT_ENOMEM;
        for (size_t i = 0; i < f->nkeys; i++) {
            uint32_t id = f->keys[i] ? krt__intern_ref(&e->in, f->keys[i]) : UINT32_MAX;
            if (id == UINT32_MAX) {
                int rc = f->keys[i] ? KRT_ENOMEM : KRT_EINVAL;
                while (i-- > 0)
                    krt__intern_unref(&e->in, keys[i]);
                if (f->nkeys > 1)
                    krt_free(keys);
                return rc;
            }
            keys[i] = id;
        }
        if (f->nkeys > 1)
            dep->keys.many = keys;
        dep->nkeys = (uint32_t)f->nkeys;
    }
    if (f->index) {
        if (!f->index_key)
            return KRT_EINVAL;
        dep->ikey = krt__intern_ref(&e->in, f->index_key);
        if (dep->ikey == UINT32_MAX)
            return KRT_ENOMEM;
        dep->index = f->index;
    }
    uint32_t same;
    int rc = same_number(e, f->same, &same);
    if (rc != KRT_OK)
        return rc;
    dep->same = same & DEP_SAME_EXT;
    dep->ext = dep_ext_new(f, same == DEP_SAME_EXT, &rc);
    if (rc != KRT_OK)
        return rc;
    const dep_ext_t *x = dep_ext(dep);
    dep->anchor = dep->has_keys    ? ANCHOR_KEYS
                  : dep->index     ? ANCHOR_INDEX
                  : x->nlabels     ? ANCHOR_LABELS
                  : x->has_selects ? ANCHOR_SELECTS
                                   : ANCHOR_SCAN;
    return KRT_OK;
}

/* Whether |o| is filed under |ikey| in |idx|. When the extraction runs out of memory the answer
 * is unknown: *oom is set and true is returned (callers either over-approximate or fail). */
static bool index_has_key(krt_engine_t *e, krt_index_t *idx, const krt_obj_t *o, uint32_t ikey,
                          bool *oom)
{
    krt_keys_t keys = {.e = e};
    krt__index_extract(idx, o, &keys, false);
    bool found = keys.err != KRT_OK;
    if (found)
        *oom = true;
    for (uint32_t i = 0; i < keys.ids.len; i++) {
        uint32_t id = (uint32_t)KRT__VEC_AT(&keys.ids, uint64_t, i);
        found = found || id == ikey;
        krt__intern_unref(&e->in, id);
    }
    krt__vec_dispose(&keys.ids);
    return found;
}

static bool selector_within(const krt_obj_t *o, const krt_label_t *map, uint32_t nmap,
                            bool nonempty)
{
    krt_labels_t sel = {0};
    if (o->type->selector && !o->type->selector(o, &sel))
        sel.len = 0;
    if (sel.len == 0)
        return !nonempty;
    krt_labels_t have = {map, nmap};
    return krt_labels_contain(&have, &sel);
}

/* Whether |o| (published under key id |key|) is in the result of |dep|. |skip| names the anchor
 * already known to hold. */
static bool dep_matches(krt_engine_t *e, const dep_t *dep, uint32_t key, const krt_obj_t *o,
                        int skip, bool *oom)
{
    if (!o)
        return false;
    /* Only key and index anchors select exactly; label and selector anchors pick candidates by
     * one pair, so their filters are always checked in full. */
    if (dep->has_keys && skip != ANCHOR_KEYS) {
        const uint32_t *keys = dep_keys(dep);
        bool found = false;
        for (uint32_t i = 0; i < dep->nkeys && !found; i++)
            found = keys[i] == key;
        if (!found)
            return false;
    }
    if (dep->index && skip != ANCHOR_INDEX && !index_has_key(e, dep->index, o, dep->ikey, oom))
        return false;
    if (!dep->ext)
        return true;
    const dep_ext_t *x = dep->ext;
    if (x->nlabels) {
        krt_labels_t have = {0}, want = {x->labels, x->nlabels};
        if (!o->type->labels || !o->type->labels(o, &have) || !krt_labels_contain(&have, &want))
            return false;
    }
    if (x->has_selects && !selector_within(o, x->selects, x->nselects, x->selects_nonempty))
        return false;
    if (x->pred && !x->pred(o, x->pred_ud))
        return false;
    return true;
}

/* ---- fetch --------------------------------------------------------------------------------- */

static int record_dep(krt_ctx_t *ctx, krt_collection_t *src, const krt_filter_t *f)
{
    krt_engine_t *e = ctx->d->base.e;
    uint32_t pos = ctx->deps.len;
    if (krt__vec_reserve(&ctx->deps, sizeof(pending_dep_t), 1) != KRT_OK)
        return KRT_ENOMEM;
    pending_dep_t *p = &KRT__VEC_AT(&ctx->deps, pending_dep_t, pos);
    memset(p, 0, sizeof(*p));
    if (ctx->in && pos < ctx->in->ndeps && dep_same_fetch(e, &ctx->in->deps[pos], src, f)) {
        p->reused = true;
        ctx->deps.len++;
        return KRT_OK;
    }
    src_t *s = src_get(ctx->d, src);
    if (!s)
        return KRT_ENOMEM;
    int rc = dep_build(e, &p->dep, s, f);
    if (rc != KRT_OK) {
        dep_dispose(e, &p->dep); /* a half-built dependency is never recorded */
        return rc;
    }
    ctx->deps.len++;
    return KRT_OK;
}

size_t krt_fetch(krt_ctx_t *ctx, krt_collection_t *src, const krt_filter_t *f,
                 const krt_obj_t *const **out)
{
    static const krt_obj_t *const empty[1] = {NULL};
    *out = empty;
    derived_t *d = ctx->d;
    krt_engine_t *e = d->base.e;
    if (d->flags & KRT_DERIVE_MAP) {
        ctx_fail(ctx, KRT_EINVAL, "a map must not fetch");
        return 0;
    }
    if (!src || src->e != e || src->id >= d->base.id) {
        ctx_fail(ctx, KRT_EORDER, "fetched a collection not created before this one");
        return 0;
    }
    if (f && f->index && f->index->c != src) {
        ctx_fail(ctx, KRT_EINVAL, "fetched through an index of another collection");
        return 0;
    }
    int rc = record_dep(ctx, src, f);
    if (rc != KRT_OK) {
        ctx_fail(ctx, rc, "could not record a dependency");
        return 0;
    }
    const pending_dep_t *p = &KRT__VEC_AT(&ctx->deps, pending_dep_t, ctx->deps.len - 1);
    const dep_t *dep = p->reused ? &ctx->in->deps[ctx->deps.len - 1] : &p->dep;
    const dep_ext_t *x = dep_ext(dep);

    /* Candidates from the anchor, in key order. An index fetch that also filters by selector
     * takes its candidates from the selector index instead when that names fewer objects (a
     * pod's namespace holds many services, its labels select few), checking index membership
     * by a search in the index bucket. */
    const krt__entry_t *cand = NULL;
    uint32_t ncand = 0;
    krt__entry_t *owned = NULL; /* candidates assembled here need freeing */
    krt__entry_t one;           /* the single candidate of a one-key fetch */
    int path = dep->anchor;
    const krt__bucket_t *in_bucket = NULL;
    if (path == ANCHOR_INDEX && !krt__index_ready(dep->index))
        goto oom;
    if (path == ANCHOR_INDEX && x->has_selects) {
        const krt__bucket_t *ib = krt__index_bucket(dep->index, dep->ikey);
        krt_index_t *si = ib && ib->len > 8 ? krt__selector_index(src) : NULL;
        if (si) {
            size_t total = 0;
            for (uint32_t i = 0; i <= x->nselects && total < ib->len; i++) {
                if (i == x->nselects && x->selects_nonempty)
                    break;
                const krt__bucket_t *b = krt__index_bucket(
                    si, i < x->nselects ? krt__label_hash(x->selects[i].key, x->selects[i].value)
                                        : KRT__SEL_EMPTY);
                total += b ? b->len : 0;
            }
            if (total < ib->len) {
                path = ANCHOR_SELECTS;
                in_bucket = ib;
            }
        }
    }
    switch (path) {
    case ANCHOR_KEYS: {
        if (dep->nkeys == 1) { /* krt_fetch_key: the common case needs no allocation */
            one.key = dep->keys.one;
            one.obj = krt__coll_get_id(src, one.key);
            cand = &one;
            ncand = one.obj != NULL;
            break;
        }
        owned = krt_malloc((dep->nkeys ? dep->nkeys : 1) * sizeof(*owned));
        if (!owned)
            goto oom;
        uint32_t *ids = krt_malloc((dep->nkeys ? dep->nkeys : 1) * sizeof(uint32_t));
        if (!ids) {
            krt_free(owned);
            goto oom;
        }
        if (dep->nkeys)
            memcpy(ids, dep->keys.many, dep->nkeys * sizeof(uint32_t));
        krt__intern_sort(&e->in, ids, dep->nkeys);
        for (uint32_t i = 0; i < dep->nkeys; i++) {
            if (i && ids[i] == ids[i - 1])
                continue;
            const krt_obj_t *o = krt__coll_get_id(src, ids[i]);
            if (o)
                owned[ncand++] = (krt__entry_t){ids[i], o};
        }
        krt_free(ids);
        cand = owned;
        break;
    }
    case ANCHOR_INDEX: {
        const krt__bucket_t *b = krt__index_bucket(dep->index, dep->ikey);
        if (b) {
            cand = b->items;
            ncand = b->len;
        }
        break;
    }
    case ANCHOR_LABELS: {
        krt_index_t *li = krt__label_index(src);
        if (!li)
            goto oom;
        /* The rarest pair gives the fewest candidates. */
        const krt__bucket_t *best = NULL;
        for (uint32_t i = 0; i < x->nlabels; i++) {
            const krt__bucket_t *b =
                krt__index_bucket(li, krt__label_hash(x->labels[i].key, x->labels[i].value));
            if (!b) {
                best = NULL;
                break;
            }
            if (!best || b->len < best->len)
                best = b;
        }
        if (best) {
            cand = best->items;
            ncand = best->len;
        }
        break;
    }
    case ANCHOR_SELECTS: {
        krt_index_t *si = krt__selector_index(src);
        if (!si)
            goto oom;
        /* An object is filed under one pair of its selector; every such pair is in the map. */
        size_t total = 0;
        const krt__bucket_t *bs[65];
        uint32_t nb = 0;
        for (uint32_t i = 0; i <= x->nselects; i++) {
            uint64_t h = i < x->nselects ? krt__label_hash(x->selects[i].key, x->selects[i].value)
                                         : KRT__SEL_EMPTY;
            if (i == x->nselects && x->selects_nonempty)
                break;
            const krt__bucket_t *b = krt__index_bucket(si, h);
            if (!b)
                continue;
            if (nb == 64) { /* very large maps: fall back to scanning the source */
                nb = UINT32_MAX;
                break;
            }
            bs[nb++] = b;
            total += b->len;
        }
        if (nb == UINT32_MAX) {
            uint32_t n;
            const uint32_t *ids = krt__coll_sorted(src, &n);
            owned = krt_malloc((n ? n : 1) * sizeof(*owned));
            if (!owned || (!ids && n))
                goto oom_owned;
            for (uint32_t i = 0; i < n; i++)
                owned[ncand++] = (krt__entry_t){ids[i], krt__coll_get_id(src, ids[i])};
            d->base.stats.scans += n;
        } else if (nb == 1) {
            cand = bs[0]->items;
            ncand = bs[0]->len;
            break;
        } else if (nb > 1) {
            owned = krt_malloc(total * sizeof(*owned));
            uint32_t *ids = krt_malloc(total * sizeof(uint32_t));
            if (!owned || !ids) {
                krt_free(ids);
                goto oom_owned;
            }
            for (uint32_t j = 0; j < nb; j++)
                for (uint32_t i = 0; i < bs[j]->len; i++)
                    ids[ncand++] = bs[j]->items[i].key;
            krt__intern_sort(&e->in, ids, ncand);
            for (uint32_t i = 0; i < ncand; i++)
                owned[i] = (krt__entry_t){ids[i], krt__coll_get_id(src, ids[i])};
            krt_free(ids);
        }
        cand = owned;
        break;
    }
    default: {
        uint32_t n;
        const uint32_t *ids = krt__coll_sorted(src, &n);
        if (!ids && n)
            goto oom;
        owned = krt_malloc((n ? n : 1) * sizeof(*owned));
        if (!owned)
            goto oom;
        for (uint32_t i = 0; i < n; i++)
            owned[ncand++] = (krt__entry_t){ids[i], krt__coll_get_id(src, ids[i])};
        d->base.stats.scans += n;
        cand = owned;
        break;
    }
    }
    const krt_obj_t **res = arena_alloc(ctx, ncand ? ncand : 1);
    if (!res)
        goto oom_owned;
    size_t n = 0;
    int skip = in_bucket ? ANCHOR_INDEX : path;
    for (uint32_t i = 0; i < ncand; i++) {
        if (in_bucket && !krt__bucket_has(e, in_bucket, cand[i].key))
            continue;
        bool short_of_memory = false;
        if (dep_matches(e, dep, cand[i].key, cand[i].obj, skip, &short_of_memory))
            res[n++] = cand[i].obj;
        if (short_of_memory) {
            krt_free(owned);
            goto oom;
        }
    }
    krt_free(owned);
    *out = res;
    return n;
oom_owned:
    krt_free(owned);
oom:
    ctx_fail(ctx, KRT_ENOMEM, "out of memory in fetch");
    return 0;
}

const krt_obj_t *krt_fetch_key(krt_ctx_t *ctx, krt_collection_t *src, const char *key)
{
    const char *keys[1] = {key};
    krt_filter_t f = {.keys = keys, .nkeys = 1};
    const krt_obj_t *const *out;
    return krt_fetch(ctx, src, &f, &out) ? out[0] : NULL;
}

size_t krt_fetch_index(krt_ctx_t *ctx, krt_index_t *idx, const char *key,
                       const krt_obj_t *const **out)
{
    krt_filter_t f = {.index = idx, .index_key = key};
    return krt_fetch(ctx, idx ? idx->c : NULL, &f, out);
}

size_t krt_fetch_labels(krt_ctx_t *ctx, krt_collection_t *src, const krt_labels_t *labels,
                        const krt_obj_t *const **out)
{
    krt_filter_t f = {.labels = labels};
    return krt_fetch(ctx, src, &f, out);
}

size_t krt_fetch_selects(krt_ctx_t *ctx, krt_collection_t *src, const krt_labels_t *labels,
                         bool nonempty, const krt_obj_t *const **out)
{
    krt_labels_t none = {0};
    krt_filter_t f = {.selects = labels ? labels : &none, .selects_nonempty = nonempty};
    return krt_fetch(ctx, src, &f, out);
}

int krt_fetch_one(krt_ctx_t *ctx, krt_collection_t *src, const krt_filter_t *f,
                  const krt_obj_t **out)
{
    const krt_obj_t *const *res;
    size_t n = krt_fetch(ctx, src, f, &res);
    *out = n == 1 ? res[0] : NULL;
    return n > 1 ? KRT_EMULTIPLE : KRT_OK;
}

/* ---- emit ---------------------------------------------------------------------------------- */

int krt_emit(krt_ctx_t *ctx, const krt_obj_t *obj)
{
    derived_t *d = ctx->d;
    krt_engine_t *e = d->base.e;
    int rc = KRT_OK;
    const char *why = NULL;
    if (!obj)
        return KRT_EINVAL;
    if (obj->type != d->base.type) {
        rc = KRT_ETYPE;
        why = "emitted an object of the wrong type";
    } else if ((d->flags & (KRT_DERIVE_ONE | KRT_DERIVE_MAP)) && ctx->outs.len > 0) {
        rc = KRT_EINVAL;
        why = "emitted a second output from a 1→0..1 collection";
    } else if ((d->flags & KRT_DERIVE_MAP) &&
               strcmp(krt_obj_key(obj), krt__intern_str(&e->in, ctx->in_key)) != 0) {
        rc = KRT_EKEY;
        why = "a map changed the key";
    }
    if (rc != KRT_OK) {
        /* The object is refused and logged; the transformation decides whether that fails it
         * (by returning the error), and only then is it counted in stats.errors. */
        krt__log(e, KRT_LOG_ERROR, "%s: input %s: %s (%s); output dropped", d->base.name,
                 krt__intern_str(&e->in, ctx->in_key), why, krt_obj_key(obj));
        krt_obj_release(obj);
        return rc;
    }
    uint32_t key = krt__obj_key_ref(e, obj);
    if (key == UINT32_MAX) {
        krt_obj_release(obj);
        ctx_fail(ctx, KRT_ENOMEM, "out of memory in emit");
        return KRT_ENOMEM;
    }
    for (uint32_t i = 0; i < ctx->out_keys.len; i++) {
        if (KRT__VEC_AT(&ctx->out_keys, uint32_t, i) == key) {
            d->base.stats.dup_keys++;
            krt__log(e, KRT_LOG_WARN, "%s: input %s emitted output key %s twice; kept the first",
                     d->base.name, krt__intern_str(&e->in, ctx->in_key), krt_obj_key(obj));
            krt__intern_unref(&e->in, key);
            krt_obj_release(obj);
            return KRT_EDUPKEY;
        }
    }
    if (krt__vec_push(&ctx->outs, sizeof(obj), &obj) != KRT_OK ||
        krt__vec_push(&ctx->out_keys, sizeof(key), &key) != KRT_OK) {
        if (ctx->outs.len > ctx->out_keys.len)
            ctx->outs.len--;
        krt__intern_unref(&e->in, key);
        krt_obj_release(obj);
        ctx_fail(ctx, KRT_ENOMEM, "out of memory in emit");
        return KRT_ENOMEM;
    }
    return KRT_OK;
}

void krt_ctx_discard(krt_ctx_t *ctx)
{
    ctx->discard = true;
}

int krt_ctx_set_status(krt_ctx_t *ctx, const krt_obj_t *status)
{
    derived_t *d = ctx->d;
    if (!d->status || (status && status->type != d->status_type)) {
        krt_obj_release(status);
        return d->status ? KRT_ETYPE : KRT_EINVAL;
    }
    krt_obj_release(ctx->status);
    ctx->status = status;
    ctx->status_set = true;
    return KRT_OK;
}

/* ---- status objects ------------------------------------------------------------------------ */

typedef struct status_obj {
    krt_obj_t base;
    const krt_obj_t *input;
    const krt_obj_t *status;
} status_obj_t;

static const char *status_key(const krt_obj_t *o)
{
    return krt_obj_key(((const status_obj_t *)o)->input);
}
static uint64_t status_hash(const krt_obj_t *o)
{
    const status_obj_t *s = (const status_obj_t *)o;
    return krt_hash_combine(s->input->hash, s->status->hash);
}
static bool status_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const status_obj_t *x = (const status_obj_t *)a, *y = (const status_obj_t *)b;
    return krt_obj_equal(x->input, y->input) && krt_obj_equal(x->status, y->status);
}
static void status_free(krt_obj_t *o)
{
    status_obj_t *s = (status_obj_t *)o;
    krt_obj_release(s->input);
    krt_obj_release(s->status);
    krt_free(s);
}
static json_t *status_dump(const krt_obj_t *o)
{
    const status_obj_t *s = (const status_obj_t *)o;
    return json_pack("{ss so}", "key", krt_obj_key(s->input), "status", krt_obj_dump(s->status));
}

const krt_type_t krt_status_type = {
    .name = "krt.status",
    .key = status_key,
    .hash = status_hash,
    .equals = status_equals,
    .free = status_free,
    .dump = status_dump,
};

const krt_obj_t *krt_status_input(const krt_obj_t *o)
{
    return ((const status_obj_t *)o)->input;
}

const krt_obj_t *krt_status_value(const krt_obj_t *o)
{
    return ((const status_obj_t *)o)->status;
}

/* ---- outputs: claims and shadows ----------------------------------------------------------- */

static krt__vec_t *shadows_of(derived_t *d, uint32_t key)
{
    uint64_t v;
    return krt__map_get(&d->shadows, key, &v) ? (krt__vec_t *)(uintptr_t)v : NULL;
}

static int shadow_put(derived_t *d, uint32_t key, uint32_t input, const krt_obj_t *obj)
{
    krt__vec_t *sv = shadows_of(d, key);
    if (!sv) {
        sv = krt_calloc(1, sizeof(*sv));
        if (!sv || krt__map_put(&d->shadows, key, (uint64_t)(uintptr_t)sv) != KRT_OK) {
            krt_free(sv);
            krt_obj_release(obj);
            return KRT_ENOMEM;
        }
    }
    for (uint32_t i = 0; i < sv->len; i++) {
        shadow_t *s = &KRT__VEC_AT(sv, shadow_t, i);
        if (s->input == input) {
            krt_obj_release(s->obj);
            s->obj = obj;
            return KRT_OK;
        }
    }
    shadow_t s = {input, obj};
    if (krt__vec_push(sv, sizeof(s), &s) != KRT_OK) {
        krt_obj_release(obj);
        return KRT_ENOMEM;
    }
    return KRT_OK;
}

/* Removes |input|'s shadow claim on |key|; returns its object (reference moves to the caller)
 * or NULL. With input == UINT32_MAX, removes the claim of the input whose key sorts first. */
static const krt_obj_t *shadow_take(derived_t *d, uint32_t key, uint32_t input, uint32_t *who)
{
    krt__vec_t *sv = shadows_of(d, key);
    if (!sv || sv->len == 0)
        return NULL;
    uint32_t at = UINT32_MAX;
    for (uint32_t i = 0; i < sv->len; i++) {
        uint32_t in = KRT__VEC_AT(sv, shadow_t, i).input;
        if (input == UINT32_MAX
                ? (at == UINT32_MAX ||
                   krt__intern_cmp(&d->base.e->in, in, KRT__VEC_AT(sv, shadow_t, at).input) < 0)
                : in == input)
            at = i;
    }
    if (at == UINT32_MAX)
        return NULL;
    shadow_t s = KRT__VEC_AT(sv, shadow_t, at);
    KRT__VEC_AT(sv, shadow_t, at) = KRT__VEC_AT(sv, shadow_t, sv->len - 1);
    sv->len--;
    if (sv->len == 0) {
        krt__vec_dispose(sv);
        krt_free(sv);
        krt__map_del(&d->shadows, key, NULL);
    }
    if (who)
        *who = s.input;
    return s.obj;
}

static void report_dup(derived_t *d, uint32_t key, uint32_t winner, uint32_t loser)
{
    krt_engine_t *e = d->base.e;
    d->base.stats.dup_keys++;
    krt__log(e, KRT_LOG_WARN,
             "%s: output key %s is produced by inputs %s and %s; %s wins (first by key)",
             d->base.name, krt__intern_str(&e->in, key), krt__intern_str(&e->in, winner),
             krt__intern_str(&e->in, loser), krt__intern_str(&e->in, winner));
}

/* Takes obj. */
static void claim(derived_t *d, uint32_t key, uint32_t input, const krt_obj_t *obj)
{
    krt_collection_t *c = &d->base;
    bool inserted;
    uint64_t *owner = krt__imap_upsert(&d->owners, key, input, &inserted);
    if (!owner) {
        krt_obj_release(obj);
        oom(d);
        return;
    }
    if (inserted || *owner == input) {
        if (krt__coll_set(c, key, obj, false) != KRT_OK)
            oom(d);
        return;
    }
    uint32_t prev = (uint32_t)*owner;
    if (krt__intern_cmp(&c->e->in, input, prev) < 0) {
        report_dup(d, key, input, prev);
        *owner = input;
        if (shadow_put(d, key, prev, krt_obj_retain(krt__coll_get_id(c, key))) != KRT_OK ||
            krt__coll_set(c, key, obj, false) != KRT_OK)
            oom(d);
    } else {
        report_dup(d, key, prev, input);
        if (shadow_put(d, key, input, obj) != KRT_OK)
            oom(d);
    }
}

static void unclaim(derived_t *d, uint32_t key, uint32_t input)
{
    krt_collection_t *c = &d->base;
    uint64_t *owner = krt__imap_find(&d->owners, key);
    if (!owner)
        return;
    if (*owner != input) {
        krt_obj_release(shadow_take(d, key, input, NULL));
        return;
    }
    uint32_t next;
    const krt_obj_t *obj = shadow_take(d, key, UINT32_MAX, &next);
    if (obj) {
        *owner = next;
        if (krt__coll_set(c, key, obj, false) != KRT_OK)
            oom(d);
    } else {
        krt__imap_del(&d->owners, key, NULL);
        krt__coll_set(c, key, NULL, false); /* cannot fail: callers reserved room (input_free) */
    }
}

/* ---- recompute ----------------------------------------------------------------------------- */

static void input_clear_deps(derived_t *d, input_t *in)
{
    for (uint32_t i = 0; i < in->ndeps; i++) {
        dep_unregister(&in->deps[i], in->key);
        dep_dispose(d->base.e, &in->deps[i]);
    }
    d->ndeps -= in->ndeps;
    krt_free(in->deps);
    in->deps = NULL;
    in->ndeps = 0;
}

/* Removes an input whose parent object is gone, with its outputs. Room for the removals is made
 * first: a removal that failed half-way would leave outputs nobody claims, which no later
 * recompute would take back. Out of memory, nothing changes and the input is retried. */
static void input_free(derived_t *d, input_t *in)
{
    krt_engine_t *e = d->base.e;
    if (krt__coll_reserve(&d->base, in->nouts) != KRT_OK ||
        (d->status && krt__coll_reserve(d->status, 1) != KRT_OK)) {
        oom(d);
        return;
    }
    const uint32_t *outs = input_outs(in);
    for (uint32_t i = 0; i < in->nouts; i++) {
        unclaim(d, outs[i], in->key);
        krt__intern_unref(&e->in, outs[i]);
    }
    if (in->nouts > 1)
        krt_free(in->outs.many);
    input_clear_deps(d, in);
    if (d->status)
        krt__coll_set(d->status, in->key, NULL, false);
    krt__imap_del(&d->inputs, in->key, NULL);
    krt_obj_release(in->obj);
    krt__intern_unref(&e->in, in->key);
    krt_free(in);
}

static void ctx_dispose_results(krt_ctx_t *ctx)
{
    krt_engine_t *e = ctx->d->base.e;
    for (uint32_t i = 0; i < ctx->outs.len; i++) {
        krt_obj_release(KRT__VEC_AT(&ctx->outs, const krt_obj_t *, i));
        krt__intern_unref(&e->in, KRT__VEC_AT(&ctx->out_keys, uint32_t, i));
    }
    for (uint32_t i = 0; i < ctx->deps.len; i++) {
        pending_dep_t *p = &KRT__VEC_AT(&ctx->deps, pending_dep_t, i);
        if (!p->reused)
            dep_dispose(e, &p->dep);
    }
    krt_obj_release(ctx->status);
    ctx->outs.len = ctx->out_keys.len = ctx->deps.len = 0;
    ctx->status = NULL;
    ctx->status_set = false;
}

/* Replaces |in|'s dependencies with the pending ones, touching the reverse indexes only when
 * they differ (the common case of a recompute that fetched the same things costs nothing). */
static int commit_deps(derived_t *d, input_t *in, krt_ctx_t *ctx)
{
    uint32_t n = ctx->deps.len;
    bool same = n == in->ndeps;
    for (uint32_t i = 0; same && i < n; i++)
        same = KRT__VEC_AT(&ctx->deps, pending_dep_t, i).reused;
    if (same)
        return KRT_OK;
    dep_t *next = n ? krt_calloc(n, sizeof(dep_t)) : NULL;
    if (n && !next)
        return KRT_ENOMEM;
    for (uint32_t i = 0; i < in->ndeps; i++)
        dep_unregister(&in->deps[i], in->key);
    for (uint32_t i = 0; i < n; i++) {
        pending_dep_t *p = &KRT__VEC_AT(&ctx->deps, pending_dep_t, i);
        if (p->reused) {
            next[i] = in->deps[i];
            memset(&in->deps[i], 0, sizeof(dep_t));
        } else {
            next[i] = p->dep;
            memset(&p->dep, 0, sizeof(dep_t));
            p->reused = true; /* moved: nothing left to dispose */
        }
    }
    for (uint32_t i = 0; i < in->ndeps; i++)
        if (in->deps[i].src)
            dep_dispose(d->base.e, &in->deps[i]);
    krt_free(in->deps);
    d->ndeps = d->ndeps - in->ndeps + n;
    in->deps = next;
    in->ndeps = n;
    for (uint32_t i = 0; i < n; i++) {
        if (!dep_register(&in->deps[i], in->key)) {
            /* Leave the input with no dependencies (so nothing half-registered stays behind);
             * the caller retries it at the next flush. */
            while (i-- > 0)
                dep_unregister(&in->deps[i], in->key);
            for (uint32_t j = 0; j < n; j++)
                dep_dispose(d->base.e, &in->deps[j]);
            krt_free(in->deps);
            in->deps = NULL;
            in->ndeps = 0;
            d->ndeps -= n;
            return KRT_ENOMEM;
        }
    }
    return KRT_OK;
}

static void commit_outputs(derived_t *d, input_t *in, krt_ctx_t *ctx)
{
    krt_engine_t *e = d->base.e;
    uint32_t n = ctx->out_keys.len;
    uint32_t *keys = (uint32_t *)ctx->out_keys.data;
    /* Release claims this run no longer makes. */
    const uint32_t *outs = input_outs(in);
    for (uint32_t i = 0; i < in->nouts; i++) {
        bool kept = false;
        for (uint32_t j = 0; j < n && !kept; j++)
            kept = keys[j] == outs[i];
        if (!kept)
            unclaim(d, outs[i], in->key);
    }
    for (uint32_t i = 0; i < n; i++)
        claim(d, keys[i], in->key, KRT__VEC_AT(&ctx->outs, const krt_obj_t *, i));
    for (uint32_t i = 0; i < in->nouts; i++)
        krt__intern_unref(&e->in, outs[i]);
    /* Storage: one key inline, several in an array that grows as needed (and is kept when a
     * run claims fewer, but more than one). */
    if (n > 1 && n > in->nouts) {
        uint32_t *p = krt_realloc(in->nouts > 1 ? in->outs.many : NULL, n * sizeof(uint32_t));
        if (!p) { /* keep the claims consistent: give back what cannot be recorded */
            for (uint32_t i = in->nouts; i < n; i++) {
                unclaim(d, keys[i], in->key);
                krt__intern_unref(&e->in, keys[i]);
            }
            n = in->nouts;
            oom(d);
        } else {
            in->outs.many = p;
        }
    }
    if (n > 1) {
        memcpy(in->outs.many, keys, n * sizeof(uint32_t));
    } else {
        if (in->nouts > 1)
            krt_free(in->outs.many);
        in->outs.one = n ? keys[0] : 0;
    }
    in->nouts = n;
    ctx->outs.len = ctx->out_keys.len = 0; /* references moved */
}

static void commit_status(derived_t *d, input_t *in, const krt_obj_t *obj, krt_ctx_t *ctx)
{
    if (!d->status)
        return;
    const krt_obj_t *st = ctx->status;
    ctx->status = NULL;
    if (!st) {
        if (krt__coll_set(d->status, in->key, NULL, false) != KRT_OK)
            oom(d);
        return;
    }
    status_obj_t *s = krt_malloc(sizeof(*s));
    if (!s) {
        krt_obj_release(st);
        oom(d);
        return;
    }
    s->input = krt_obj_retain(obj);
    s->status = st;
    krt_obj_seal(&s->base, &krt_status_type);
    if (krt__coll_set(d->status, in->key, &s->base, false) != KRT_OK)
        oom(d);
}

static void recompute(derived_t *d, krt_ctx_t *ctx, uint32_t key)
{
    krt_collection_t *c = &d->base;
    krt_engine_t *e = c->e;
    uint64_t v;
    input_t *in = krt__imap_get(&d->inputs, key, &v) ? (input_t *)(uintptr_t)v : NULL;
    const krt_obj_t *obj = d->parent ? krt__coll_get_id(d->parent, key) : NULL;
    bool exists = d->parent ? obj != NULL : true;
    if (!exists) {
        if (in)
            input_free(d, in);
        return;
    }
    ctx->in = in;
    ctx->in_key = key;
    ctx->err = KRT_OK;
    ctx->discard = false;
    e->ctx = ctx;
    krt__json_epoch_next(); /* trees read before this transformation may be trimmed now */
    krt_json_heap_begin();  /* the JSON it builds (records) lives and dies with the tree cache */
    int rc = d->fn(ctx, obj, d->ud);
    krt_json_heap_end();
    e->ctx = NULL;
    arena_reset(ctx);
    c->stats.recomputes++;
    bool failed = rc < 0 || ctx->err != KRT_OK;
    if (failed) {
        c->stats.errors++;
        if (ctx->err == KRT_OK)
            krt__log(e, KRT_LOG_ERROR, "%s: input %s: transformation returned %s", c->name,
                     krt__intern_str(&e->in, key), krt_err_name(rc));
        krt__flush_error(e, ctx->err != KRT_OK ? ctx->err : rc);
        if (ctx->err == KRT_ENOMEM || rc == KRT_ENOMEM)
            d->oom = true;
        /* The previous outputs stay, but what this run read becomes the dependencies: a failure
         * caused by missing data is retried when that data arrives. */
        for (uint32_t i = 0; i < ctx->outs.len; i++) {
            krt_obj_release(KRT__VEC_AT(&ctx->outs, const krt_obj_t *, i));
            krt__intern_unref(&e->in, KRT__VEC_AT(&ctx->out_keys, uint32_t, i));
        }
        ctx->outs.len = ctx->out_keys.len = 0;
    } else if (ctx->discard && ((in && in->nouts > 0) || ctx->outs.len == 0)) {
        ctx_dispose_results(ctx);
        return;
    }
    if (!in) {
        in = krt_calloc(1, sizeof(*in));
        if (!in || krt__imap_put(&d->inputs, key, (uint64_t)(uintptr_t)in) != KRT_OK) {
            krt_free(in);
            oom(d);
            ctx_dispose_results(ctx);
            return;
        }
        in->key = key;
        krt__intern_retain(&e->in, key);
    }
    if (commit_deps(d, in, ctx) != KRT_OK) {
        oom(d);
        ctx_dispose_results(ctx);
        return;
    }
    if (failed) {
        ctx_dispose_results(ctx);
        return;
    }
    /* Room for every output this run may release or replace (see input_free); claims of new
     * keys that fail are redone by the retry, released ones would not be. */
    if (krt__coll_reserve(c, in->nouts + ctx->outs.len) != KRT_OK) {
        oom(d);
        ctx_dispose_results(ctx);
        return;
    }
    commit_outputs(d, in, ctx);
    commit_status(d, in, obj, ctx);
    if (in->obj != obj) {
        krt_obj_release(in->obj);
        in->obj = krt_obj_retain(obj);
    }
    ctx_dispose_results(ctx);
}

static bool mark_dirty(derived_t *d, uint32_t key)
{
    bool inserted;
    if (!krt__map_upsert(&d->dirty, key, 1, &inserted)) {
        oom(d);
        d->rescan = true;
        return false;
    }
    if (inserted)
        krt__intern_retain(&d->base.e->in, key);
    return true;
}

static bool is_dirty(const derived_t *d, uint32_t key)
{
    return krt__map_find(&d->dirty, key) != NULL;
}

/* Marks input |id| dirty if the change (old → cur) affects one of its dependencies on |s|. */
static void check_input(derived_t *d, src_t *s, uint32_t id, uint32_t key, const krt_obj_t *old,
                        const krt_obj_t *cur, int anchor)
{
    krt_engine_t *e = d->base.e;
    uint64_t v;
    if (is_dirty(d, id) || !krt__imap_get(&d->inputs, id, &v))
        return;
    input_t *in = (input_t *)(uintptr_t)v;
    for (uint32_t i = 0; i < in->ndeps; i++) {
        const dep_t *dep = &in->deps[i];
        if (dep->src != s || (anchor && dep->anchor != anchor))
            continue;
        /* On an allocation failure dep_matches answers true: recomputing too much is safe. */
        bool short_of_memory = false;
        bool mo = dep_matches(e, dep, key, old, 0, &short_of_memory);
        bool mc = dep_matches(e, dep, key, cur, 0, &short_of_memory);
        if (short_of_memory)
            krt__flush_error(e, KRT_ENOMEM);
        if (!mo && !mc)
            continue;
        krt_same_cb same = dep_same(dep);
        if (mo && mc && same && same(old, cur, dep_ext(dep)->same_ud))
            continue;
        mark_dirty(d, id);
        return;
    }
}

/* Checks every input of |set| (input -> count); |count| counts each check as a scan. */
static void check_set(derived_t *d, src_t *s, const krt__map_t *set, uint32_t key,
                      const krt_obj_t *old, const krt_obj_t *cur, int anchor, bool count)
{
    uint64_t id;
    for (uint32_t it = 0; krt__map_next(set, &it, &id, NULL);) {
        if (count)
            d->base.stats.scans++;
        check_input(d, s, (uint32_t)id, key, old, cur, anchor);
    }
}

/* Checks the inputs of the reverse-index entry |skey| of |m|, if there is one. */
static void check_entry(derived_t *d, src_t *s, const krt__map_t *m, uint64_t skey, uint32_t key,
                        const krt_obj_t *old, const krt_obj_t *cur, int anchor)
{
    uint64_t v;
    if (!krt__map_get(m, skey, &v))
        return;
    if (ENTRY_IS_ONE(v))
        check_input(d, s, ENTRY_INPUT(v), key, old, cur, anchor);
    else
        check_set(d, s, (const krt__map_t *)(uintptr_t)v, key, old, cur, anchor, false);
}

static void src_changes(derived_t *d, src_t *s)
{
    krt_collection_t *c = s->c;
    krt_engine_t *e = d->base.e;
    krt_keys_t keys = {.e = e};
    for (uint32_t i = 0; i < c->batch.len; i++) {
        const krt_event_t *ev = &KRT__VEC_AT(&c->batch, krt_event_t, i);
        uint32_t key = KRT__VEC_AT(&c->batch_keys, uint32_t, i);
        const krt_obj_t *objs[2] = {ev->old, ev->cur};
        check_entry(d, s, &s->by_key, key, key, ev->old, ev->cur, ANCHOR_KEYS);
        for (int j = 0; j < 2; j++) {
            const krt_obj_t *o = objs[j];
            if (!o)
                continue;
            for (uint32_t x = 0; x < s->indexes.len; x++) {
                krt_index_t *idx = KRT__VEC_AT(&s->indexes, src_index_t, x).idx;
                krt__index_extract(idx, o, &keys, false);
                if (keys.err != KRT_OK) { /* the change cannot be traced: recompute everything */
                    oom(d);
                    d->rescan = true;
                }
                for (uint32_t k = 0; k < keys.ids.len; k++) {
                    uint32_t ikey = (uint32_t)KRT__VEC_AT(&keys.ids, uint64_t, k);
                    check_entry(d, s, &s->by_index, ((uint64_t)idx->no << 32) | ikey, key, ev->old,
                                ev->cur, ANCHOR_INDEX);
                    krt__intern_unref(&e->in, ikey);
                }
                keys.ids.len = 0;
            }
            krt_labels_t l;
            if (s->by_label.len && o->type->labels && o->type->labels(o, &l)) {
                for (size_t k = 0; k < l.len; k++)
                    check_entry(d, s, &s->by_label,
                                krt__label_hash(l.items[k].key, l.items[k].value), key, ev->old,
                                ev->cur, ANCHOR_LABELS);
            }
            if (s->by_sel.len || s->sel_empty.len) {
                krt_labels_t sel = {0};
                if (o->type->selector && !o->type->selector(o, &sel))
                    sel.len = 0;
                uint64_t h = krt__selector_anchor(&sel);
                if (h == KRT__SEL_EMPTY)
                    check_set(d, s, &s->sel_empty, key, ev->old, ev->cur, ANCHOR_SELECTS, false);
                else
                    check_entry(d, s, &s->by_sel, h, key, ev->old, ev->cur, ANCHOR_SELECTS);
            }
        }
        if (s->scan.len)
            check_set(d, s, &s->scan, key, ev->old, ev->cur, ANCHOR_SCAN, true);
    }
    krt__vec_dispose(&keys.ids);
}

static krt_ctx_t *derived_ctx(derived_t *d);

static bool derived_process(krt_collection_t *c)
{
    derived_t *d = (derived_t *)c;
    krt_engine_t *e = c->e;
    uint64_t key;
    bool complete = true, first = !c->processed;
    if (first || d->rescan) {
        d->rescan = false;
        uint32_t id;
        if (d->nothing) {
            complete = mark_dirty(d, d->nothing_key);
        } else {
            for (uint32_t it = 0; krt__imap_next(&d->parent->objs, &it, &id, NULL);)
                complete &= mark_dirty(d, id);
        }
        /* Inputs whose parent object is gone are removed by their recompute. */
        for (uint32_t it = 0; krt__imap_next(&d->inputs, &it, &id, NULL);)
            complete &= mark_dirty(d, id);
    } else {
        if (d->parent)
            for (uint32_t i = 0; i < d->parent->batch.len; i++) {
                uint32_t k = KRT__VEC_AT(&d->parent->batch_keys, uint32_t, i);
                const krt_event_t *ev = &KRT__VEC_AT(&d->parent->batch, krt_event_t, i);
                uint64_t v;
                if (d->input_same && ev->old && ev->cur && !is_dirty(d, k) &&
                    krt__imap_get(&d->inputs, k, &v) && ((input_t *)(uintptr_t)v)->obj == ev->old &&
                    d->input_same(ev->old, ev->cur, d->input_same_ud)) {
                    /* the part the transformation reads is unchanged: keep its result */
                    input_t *in = (input_t *)(uintptr_t)v;
                    krt_obj_release(in->obj);
                    in->obj = krt_obj_retain(ev->cur);
                    continue;
                }
                mark_dirty(d, k);
            }
        for (src_t *s = d->srcs; s; s = s->next)
            if (s->c->batch.len)
                src_changes(d, s);
    }
    if (!first)
        complete = true; /* a failed rescan is redone through d->rescan */
    if (d->dirty.len == 0) {
        d->dirty_hot = false;
        return complete;
    }
    uint32_t n = 0;
    uint32_t *ids = krt_malloc(d->dirty.len * sizeof(uint32_t));
    if (!ids) {
        krt__flush_error(e, KRT_ENOMEM);
        return complete; /* stays dirty for the next flush */
    }
    for (uint32_t it = 0; krt__map_next(&d->dirty, &it, &key, NULL);)
        ids[n++] = (uint32_t)key;
    krt__scratch_clear(&d->dirty, n, &d->dirty_hot);
    /* Numeric id order is deterministic for a given history and cheap; results do not depend on
     * it (duplicate claims resolve by key string). */
    krt__intern_sort(NULL, ids, n);
    krt_ctx_t *ctx = derived_ctx(d);
    for (uint32_t i = 0; i < n; i++) {
        d->oom = false;
        recompute(d, ctx, ids[i]);
        if (d->oom)
            mark_dirty(d, ids[i]);
        krt__intern_unref(&e->in, ids[i]);
    }
    krt_free(ids);
    srcs_prune(d);
    return complete;
}

/* The transformation context lives right after the collection in the same allocation: each
 * collection keeps scratch sized for its own transformations. */
static krt_ctx_t *derived_ctx(derived_t *d)
{
    krt_ctx_t *ctx = (krt_ctx_t *)((char *)d + sizeof(derived_t));
    ctx->d = d;
    return ctx;
}

static bool derived_pending(const krt_collection_t *c)
{
    const derived_t *d = (const derived_t *)c;
    return d->dirty.len > 0 || d->rescan;
}

static bool derived_synced(const krt_collection_t *c)
{
    const derived_t *d = (const derived_t *)c;
    if (d->parent && !d->parent->synced)
        return false;
    for (const src_t *s = d->srcs; s; s = s->next)
        if (!s->c->synced)
            return false;
    return c->processed;
}

static void derived_dispose(krt_collection_t *c)
{
    derived_t *d = (derived_t *)c;
    krt_engine_t *e = c->e;
    uint64_t v, key;
    for (uint32_t it = 0; krt__imap_next(&d->inputs, &it, NULL, &v);) {
        input_t *in = (input_t *)(uintptr_t)v;
        const uint32_t *outs = input_outs(in);
        for (uint32_t i = 0; i < in->nouts; i++)
            krt__intern_unref(&e->in, outs[i]);
        for (uint32_t i = 0; i < in->ndeps; i++)
            dep_dispose(e, &in->deps[i]);
        if (in->nouts > 1)
            krt_free(in->outs.many);
        krt_free(in->deps);
        krt_obj_release(in->obj);
        krt__intern_unref(&e->in, in->key);
        krt_free(in);
    }
    for (uint32_t it = 0; krt__map_next(&d->shadows, &it, NULL, &v);) {
        krt__vec_t *sv = (krt__vec_t *)(uintptr_t)v;
        for (uint32_t i = 0; i < sv->len; i++)
            krt_obj_release(KRT__VEC_AT(sv, shadow_t, i).obj);
        krt__vec_dispose(sv);
        krt_free(sv);
    }
    for (uint32_t it = 0; krt__map_next(&d->dirty, &it, &key, NULL);)
        krt__intern_unref(&e->in, (uint32_t)key);
    while (d->srcs) {
        src_t *s = d->srcs;
        d->srcs = s->next;
        src_free(d, s);
    }
    krt__imap_dispose(&d->inputs);
    krt__imap_dispose(&d->owners);
    krt__map_dispose(&d->shadows);
    krt__map_dispose(&d->dirty);
    if (d->parent)
        krt__coll_unuse(d->parent);
    if (d->nothing)
        krt__intern_unref(&e->in, d->nothing_key);
    krt_ctx_t *ctx = derived_ctx(d);
    ctx_dispose_results(ctx);
    krt__vec_dispose(&ctx->outs);
    krt__vec_dispose(&ctx->out_keys);
    krt__vec_dispose(&ctx->deps);
    arena_reset(ctx);
    krt_free(ctx->arena);
}

static void derived_upstream(const krt_collection_t *c,
                             void (*fn)(const krt_collection_t *, const char *, void *), void *ud)
{
    const derived_t *d = (const derived_t *)c;
    if (d->parent)
        fn(d->parent, "parent", ud);
    for (const src_t *s = d->srcs; s; s = s->next)
        fn(s->c, "fetch", ud);
}

static json_t *labels_json(const krt_label_t *l, uint32_t n)
{
    json_t *o = json_object();
    for (uint32_t i = 0; i < n; i++)
        json_object_set_new(o, l[i].key, json_string(l[i].value));
    return o;
}

static json_t *dep_json(const krt_engine_t *e, const dep_t *dep)
{
    json_t *j =
        json_pack("{ss ss}", "collection", dep->src->c->name, "anchor", anchor_names[dep->anchor]);
    if (dep->has_keys) {
        json_t *k = json_array();
        const uint32_t *keys = dep_keys(dep);
        for (uint32_t i = 0; i < dep->nkeys; i++)
            json_array_append_new(k, json_string(krt__intern_str(&e->in, keys[i])));
        json_object_set_new(j, "keys", k);
    }
    if (dep->index) {
        json_object_set_new(j, "index", json_string(dep->index->name));
        json_object_set_new(j, "index_key", json_string(krt__intern_str(&e->in, dep->ikey)));
    }
    const dep_ext_t *x = dep_ext(dep);
    if (x->nlabels)
        json_object_set_new(j, "labels", labels_json(x->labels, x->nlabels));
    if (x->has_selects) {
        json_object_set_new(j, "selects", labels_json(x->selects, x->nselects));
        json_object_set_new(j, "selects_nonempty", json_boolean(x->selects_nonempty));
    }
    if (x->pred)
        json_object_set_new(j, "predicate", json_true());
    if (dep->same)
        json_object_set_new(j, "partial", json_true());
    return j;
}

static void derived_dump(const krt_collection_t *c, json_t *out)
{
    const derived_t *d = (const derived_t *)c;
    const krt_engine_t *e = c->e;
    if (d->parent)
        json_object_set_new(out, "parent", json_string(d->parent->name));
    json_t *inputs = json_object();
    uint64_t v;
    for (uint32_t it = 0; krt__imap_next(&d->inputs, &it, NULL, &v);) {
        const input_t *in = (const input_t *)(uintptr_t)v;
        json_t *outs = json_array(), *deps = json_array();
        for (uint32_t i = 0; i < in->nouts; i++)
            json_array_append_new(outs, json_string(krt__intern_str(&e->in, input_outs(in)[i])));
        for (uint32_t i = 0; i < in->ndeps; i++)
            json_array_append_new(deps, dep_json(e, &in->deps[i]));
        json_object_set_new(inputs, krt__intern_str(&e->in, in->key),
                            json_pack("{so so}", "outputs", outs, "dependencies", deps));
    }
    json_object_set_new(out, "inputs", inputs);
    json_t *srcs = json_array();
    for (const src_t *s = d->srcs; s; s = s->next)
        json_array_append_new(
            srcs,
            json_pack("{ss sI sI sI sI sI sI}", "collection", s->c->name, "deps",
                      (json_int_t)s->ndeps, "by_key", (json_int_t)s->by_key.len, "by_index",
                      (json_int_t)s->by_index.len, "by_label", (json_int_t)s->by_label.len,
                      "by_selector", (json_int_t)s->by_sel.len, "scan", (json_int_t)s->scan.len));
    json_object_set_new(out, "sources", srcs);
    if (d->shadows.len)
        json_object_set_new(out, "conflicting_keys", json_integer((json_int_t)d->shadows.len));
}

/* Recomputes D2 from the dependency lists and compares; checks D4 on |have|. */
static bool sets_equal(const krt__map_t *expect, const krt__map_t *have)
{
    if (expect->len != have->len)
        return false;
    uint64_t k, v, w;
    for (uint32_t it = 0; krt__map_next(expect, &it, &k, &v);) {
        if (!krt__map_get(have, k, &w) || ENTRY_IS_ONE(v) != ENTRY_IS_ONE(w))
            return false;
        if (ENTRY_IS_ONE(v)) {
            if (v != w)
                return false;
            continue;
        }
        const krt__map_t *a = (const krt__map_t *)(uintptr_t)v,
                         *b = (const krt__map_t *)(uintptr_t)w;
        if (a->len != b->len || b->len < 2) /* D4 */
            return false;
        uint64_t ik, iv, hv;
        for (uint32_t j = 0; krt__map_next(a, &j, &ik, &iv);)
            if (!krt__map_get(b, ik, &hv) || hv != iv)
                return false;
    }
    return true;
}

static bool counts_equal(const krt__map_t *a, const krt__map_t *b)
{
    if (a->len != b->len)
        return false;
    uint64_t k, v, w;
    for (uint32_t it = 0; krt__map_next(a, &it, &k, &v);)
        if (!krt__map_get(b, k, &w) || v != w)
            return false;
    return true;
}

static int derived_check(const krt_collection_t *c)
{
    const derived_t *d = (const derived_t *)c;
    const krt_engine_t *e = c->e;
    int rc = KRT_OK;
    /* D1 */
    if (d->owners.len != c->objs.len)
        rc = KRT_EINVARIANT;
    uint64_t v;
    uint32_t k;
    for (uint32_t it = 0; krt__imap_next(&d->owners, &it, &k, &v);) {
        uint64_t iv;
        if (!krt__coll_get_id(c, k) || !krt__imap_get(&d->inputs, (uint32_t)v, &iv)) {
            rc = KRT_EINVARIANT;
            continue;
        }
        const input_t *in = (const input_t *)(uintptr_t)iv;
        bool has = false;
        for (uint32_t i = 0; i < in->nouts && !has; i++)
            has = input_outs(in)[i] == k;
        if (!has)
            rc = KRT_EINVARIANT;
        krt__vec_t *sv = shadows_of((derived_t *)d, (uint32_t)k);
        for (uint32_t i = 0; sv && i < sv->len; i++)
            if (krt__intern_cmp(&e->in, KRT__VEC_AT(sv, shadow_t, i).input, (uint32_t)v) < 0)
                rc = KRT_EINVARIANT;
    }
    size_t ndeps = 0;
    for (uint32_t it = 0; krt__imap_next(&d->inputs, &it, NULL, &v);) {
        const input_t *in = (const input_t *)(uintptr_t)v;
        ndeps += in->ndeps;
        const uint32_t *outs = input_outs(in);
        for (uint32_t i = 0; i < in->nouts; i++) {
            uint64_t owner;
            if (!krt__imap_get(&d->owners, outs[i], &owner)) {
                rc = KRT_EINVARIANT;
                continue;
            }
            if (owner == in->key)
                continue;
            krt__vec_t *sv = shadows_of((derived_t *)d, outs[i]);
            bool found = false;
            for (uint32_t j = 0; sv && j < sv->len && !found; j++)
                found = KRT__VEC_AT(sv, shadow_t, j).input == in->key;
            if (!found)
                rc = KRT_EINVARIANT;
        }
    }
    if (ndeps != d->ndeps)
        rc = KRT_EINVARIANT;
    /* D2 */
    bool ok_alloc = true;
    for (const src_t *s = d->srcs; s; s = s->next) {
        src_t x = {.c = s->c};
        for (uint32_t it = 0; krt__imap_next(&d->inputs, &it, NULL, &v);) {
            const input_t *in = (const input_t *)(uintptr_t)v;
            for (uint32_t i = 0; i < in->ndeps; i++) {
                if (in->deps[i].src != s)
                    continue;
                dep_t copy = in->deps[i];
                copy.src = &x;
                if (!dep_register(&copy, in->key))
                    ok_alloc = false;
            }
        }
        bool ok = x.ndeps == s->ndeps && sets_equal(&x.by_key, &s->by_key) &&
                  sets_equal(&x.by_index, &s->by_index) && sets_equal(&x.by_label, &s->by_label) &&
                  sets_equal(&x.by_sel, &s->by_sel) && counts_equal(&x.sel_empty, &s->sel_empty) &&
                  counts_equal(&x.scan, &s->scan);
        if (!ok && ok_alloc)
            rc = KRT_EINVARIANT;
        sets_dispose(&x.by_key);
        sets_dispose(&x.by_index);
        sets_dispose(&x.by_label);
        sets_dispose(&x.by_sel);
        krt__map_dispose(&x.sel_empty);
        krt__map_dispose(&x.scan);
        krt__vec_dispose(&x.indexes);
    }
    return rc;
}

static size_t sets_bytes(const krt__map_t *m)
{
    size_t n = krt__map_bytes(m);
    uint64_t v;
    for (uint32_t it = 0; krt__map_next(m, &it, NULL, &v);)
        if (!ENTRY_IS_ONE(v))
            n += sizeof(krt__map_t) + krt__map_bytes((const krt__map_t *)(uintptr_t)v);
    return n;
}

static size_t derived_bytes(const krt_collection_t *c);
static void derived_stats(const krt_collection_t *c, krt_stats_t *out)
{
    const derived_t *d = (const derived_t *)c;
    out->inputs = d->inputs.len;
    out->deps = d->ndeps;
    out->bytes += derived_bytes(c);
}

static size_t derived_bytes(const krt_collection_t *c)
{
    const derived_t *d = (const derived_t *)c;
    size_t n = krt__imap_bytes(&d->inputs) + krt__imap_bytes(&d->owners) +
               krt__map_bytes(&d->shadows) + krt__map_bytes(&d->dirty);
    uint64_t v;
    for (uint32_t it = 0; krt__imap_next(&d->inputs, &it, NULL, &v);) {
        const input_t *in = (const input_t *)(uintptr_t)v;
        n += sizeof(*in) + (in->nouts > 1 ? in->nouts * sizeof(uint32_t) : 0) +
             in->ndeps * sizeof(dep_t);
        for (uint32_t i = 0; i < in->ndeps; i++) {
            const dep_t *dep = &in->deps[i];
            if (dep->nkeys > 1)
                n += dep->nkeys * sizeof(uint32_t);
            if (dep->ext)
                n += sizeof(dep_ext_t) +
                     (dep->ext->nlabels + dep->ext->nselects) * (sizeof(krt_label_t) + 16);
        }
    }
    for (const src_t *s = d->srcs; s; s = s->next)
        n += sizeof(*s) + sets_bytes(&s->by_key) + sets_bytes(&s->by_index) +
             sets_bytes(&s->by_label) + sets_bytes(&s->by_sel) + krt__map_bytes(&s->sel_empty) +
             krt__map_bytes(&s->scan);
    return n;
}

static const krt__ops_t derived_ops = {
    .kind = "derived",
    .process = derived_process,
    .synced = derived_synced,
    .pending = derived_pending,
    .dispose = derived_dispose,
    .dump = derived_dump,
    .check = derived_check,
    .upstream = derived_upstream,
    .stats = derived_stats,
};

/* ---- status collections: written by their derived collection during its process ---------- */

typedef struct status_coll {
    krt_collection_t base;
    derived_t *d;
} status_coll_t;

static bool status_process(krt_collection_t *c)
{
    KRT__UNUSED(c);
    return true;
}
static bool status_synced(const krt_collection_t *c)
{
    const status_coll_t *s = (const status_coll_t *)c;
    return s->d->base.synced;
}
static void status_dispose(krt_collection_t *c)
{
    status_coll_t *s = (status_coll_t *)c;
    s->d->status = NULL;
    krt__coll_unuse(&s->d->base);
}
/* The status collection is written by its derived collection; the edge is drawn from it. */
static void status_upstream(const krt_collection_t *c,
                            void (*fn)(const krt_collection_t *, const char *, void *), void *ud)
{
    fn(&((const status_coll_t *)c)->d->base, "status", ud);
}
static void status_dump_coll(const krt_collection_t *c, json_t *out)
{
    const status_coll_t *s = (const status_coll_t *)c;
    json_object_set_new(out, "status_of", json_string(s->d->base.name));
}

static const krt__ops_t status_ops = {
    .kind = "status",
    .process = status_process,
    .synced = status_synced,
    .dispose = status_dispose,
    .dump = status_dump_coll,
    .upstream = status_upstream,
};

/* ---- constructors -------------------------------------------------------------------------- */

static derived_t *derived_make(krt_engine_t *e, krt_collection_t *parent, const krt_type_t *out,
                               const char *name, unsigned flags, krt_transform_cb fn, void *ud)
{
    if (!e || !fn || (parent && parent->e != e))
        return NULL;
    derived_t *d = (derived_t *)krt__coll_new(e, &derived_ops,
                                              sizeof(derived_t) + sizeof(krt_ctx_t), out, name);
    if (!d)
        return NULL;
    d->parent = parent;
    d->flags = flags;
    d->fn = fn;
    d->ud = ud;
    if (parent)
        krt__coll_use(parent);
    derived_ctx(d);
    return d;
}

krt_collection_t *krt_derive_new(krt_engine_t *e, krt_collection_t *parent, const krt_type_t *out,
                                 const char *name, unsigned flags, krt_transform_cb fn, void *ud)
{
    if (!parent)
        return NULL;
    derived_t *d = derived_make(e, parent, out, name, flags, fn, ud);
    return d ? &d->base : NULL;
}

int krt_derive_set_input_same(krt_collection_t *c, krt_same_cb same, void *ud)
{
    if (!c || c->ops != &derived_ops || c->processed)
        return KRT_EINVAL;
    derived_t *d = (derived_t *)c;
    if (!d->parent || d->status)
        return KRT_EINVAL;
    d->input_same = same;
    d->input_same_ud = ud;
    return KRT_OK;
}

krt_collection_t *krt_map_new(krt_engine_t *e, krt_collection_t *parent, const krt_type_t *out,
                              const char *name, krt_transform_cb fn, void *ud)
{
    return krt_derive_new(e, parent, out, name, KRT_DERIVE_MAP, fn, ud);
}

static krt_collection_t *from_nothing(krt_engine_t *e, const krt_type_t *out, const char *name,
                                      unsigned flags, krt_transform_cb fn, void *ud)
{
    derived_t *d = derived_make(e, NULL, out, name, flags, fn, ud);
    if (!d)
        return NULL;
    d->nothing = true;
    d->nothing_key = krt__intern_ref(&e->in, "");
    if (d->nothing_key == UINT32_MAX) {
        d->nothing = false;
        krt_collection_free(&d->base);
        return NULL;
    }
    return &d->base;
}

krt_collection_t *krt_singleton_new(krt_engine_t *e, const krt_type_t *out, const char *name,
                                    krt_transform_cb fn, void *ud)
{
    return from_nothing(e, out, name, KRT_DERIVE_ONE, fn, ud);
}

krt_collection_t *krt_many_from_nothing_new(krt_engine_t *e, const krt_type_t *out,
                                            const char *name, krt_transform_cb fn, void *ud)
{
    return from_nothing(e, out, name, KRT_DERIVE_MANY, fn, ud);
}

const krt_obj_t *krt_singleton_get(const krt_collection_t *c)
{
    uint64_t v;
    uint32_t it = 0;
    return krt__imap_next(&c->objs, &it, NULL, &v) ? (const krt_obj_t *)(uintptr_t)v : NULL;
}

krt_collection_t *krt_derive_status_new(krt_engine_t *e, krt_collection_t *parent,
                                        const krt_type_t *out, const krt_type_t *status,
                                        const char *name, unsigned flags, krt_transform_cb fn,
                                        void *ud, krt_collection_t **status_out)
{
    if (!status_out || krt_type_check(status) != KRT_OK)
        return NULL;
    *status_out = NULL;
    krt_collection_t *c = krt_derive_new(e, parent, out, name, flags, fn, ud);
    if (!c)
        return NULL;
    char sname[256];
    snprintf(sname, sizeof(sname), "%s/status", c->name);
    status_coll_t *s = (status_coll_t *)krt__coll_new(e, &status_ops, sizeof(status_coll_t),
                                                      &krt_status_type, sname);
    if (!s) {
        krt_collection_free(c);
        return NULL;
    }
    derived_t *d = (derived_t *)c;
    s->d = d;
    s->base.owner = c;
    krt__coll_use(c);
    d->status = &s->base;
    d->status_type = status;
    *status_out = &s->base;
    return c;
}
