/*
 * Internal structures shared by the collection kinds: the engine, the collection base every kind
 * embeds, handlers, indexes and the flush protocol between them.
 *
 * A collection's published state is one map, key id -> object. Every kind changes it through
 * krt__coll_set(), which is the single place that keeps indexes in step and remembers, per key, the
 * object that was published before the first change since the last batch ("touched"). Building a
 * batch is then the same for every kind: compare touched old against current, per key, in key
 * order. Coalescing (a burst of puts → one event) falls out of this instead of being a feature of
 * each kind.
 */
#ifndef KRT_SRC_ENGINE_H
#define KRT_SRC_ENGINE_H

#include <jansson.h>

#include "base.h"

/* json.c: a transformation starts; trees read before it may be dropped (krt/json.h). */
void krt__json_epoch_next(void);
/* json_heap.c: the tree cache's nodes live in the tree heap when it is installed (else krt's
 * allocator); free only with krt__json_heap_node_free. */
void *krt__json_heap_node_alloc(size_t size);
void krt__json_heap_node_free(void *p);

typedef struct krt__ops {
    const char *kind;
    /* Flush step: bring the published state up to date from upstream batches. Returns false
     * when the collection's first computation could not be completed (out of memory): it is
     * then redone from scratch at the next flush. */
    bool (*process)(krt_collection_t *c);
    /* Whether the collection is synced, evaluated after process (upstream already settled). */
    bool (*synced)(const krt_collection_t *c);
    /* Optional: work left for the next flush (retries after an allocation failure). */
    bool (*pending)(const krt_collection_t *c);
    /* Releases kind-specific state and registrations on other collections. */
    void (*dispose)(krt_collection_t *c);
    /* Adds kind-specific fields to the dump object. */
    void (*dump)(const krt_collection_t *c, json_t *out);
    /* Checks kind-specific invariants; returns KRT_OK or KRT_EINVARIANT (after logging). */
    int (*check)(const krt_collection_t *c);
    /* Calls fn for each collection this one reads, with an edge label. */
    void (*upstream)(const krt_collection_t *c,
                     void (*fn)(const krt_collection_t *from, const char *label, void *ud), void *ud);
    /* Adds kind-specific figures (inputs, deps, bytes) to the base's stats. */
    void (*stats)(const krt_collection_t *c, krt_stats_t *out);
} krt__ops_t;

/* A bucket of an index: (key id, object) pairs sorted by key string. Mirrors the collection's
 * objects, so it holds no references of its own. */
typedef struct krt__entry {
    uint32_t key;
    const krt_obj_t *obj;
} krt__entry_t;

/* One allocation: the header and the entries (most buckets hold one or two objects). */
typedef struct krt__bucket {
    uint32_t len;
    uint32_t cap;
    krt__entry_t items[];
} krt__bucket_t;

struct krt_keys {
    krt_engine_t *e;
    krt__vec_t ids; /* uint64: interned ids (indexes) or label hashes (label index) */
    int err;
};

struct krt_index {
    krt_collection_t *c;
    char *name;
    krt_index_extract_cb fn;
    void *ud;
    uint32_t no;        /* position among the collection's indexes, for reverse-index keys */
    int builtin;        /* KRT__INDEX_*: built-in indexes key buckets by label-pair hashes */
    bool stale;         /* an update ran out of memory: rebuilt from the objects before use */
    krt__map_t buckets; /* bucket key -> krt__bucket_t* (interned id holds a ref for named) */
    krt_collection_t *coll; /* index-as-collection, or NULL */
    krt_index_t *next;
};

enum { KRT__INDEX_NAMED = 0, KRT__INDEX_LABELS = 1, KRT__INDEX_SELECTOR = 2 };
/* Selector-index bucket of objects whose selector is empty (label hashes have bit 0 clear). */
#define KRT__SEL_EMPTY 1ULL

struct krt_handler {
    krt_collection_t *c;
    krt_handler_cb cb;
    void *ud;
    uint64_t since_gen; /* skips the batch of the flush it was subscribed in */
    bool dead;
    bool replayed;
    krt_handler_t *next;
};

typedef struct krt__synced_cb {
    void (*cb)(krt_collection_t *c, void *ud);
    void *ud;
} krt__synced_cb_t;

/* INVARIANTS of every collection (checked by krt__coll_check):
 *  C1 objs maps key id -> object whose key string is the id's string; each entry holds one
 *     reference on the object and one on the key id
 *  C2 touched maps key id -> (object published before the first change since the last batch, or
 *     NULL), holding one reference on each; outside a flush only static collections have entries
 *  C3 every index not marked stale has buckets holding exactly the objects whose extracted keys
 *     include the bucket key
 *  C4 batch is empty outside a flush; inside it, its keys are distinct and sorted
 *  C5 users counts the live collections that read this one
 *  C6 batch and batch_keys have room for one event per touched key, so publishing never
 *     allocates (and never fails); the room is reserved when a key is first touched, and given
 *     back at the end of the flush beyond what keys touched since need (engine.c, batch_trim) */
struct krt_collection {
    krt_engine_t *e;
    const krt__ops_t *ops;
    uint32_t id; /* position in creation order */
    char *name;
    const krt_type_t *type;
    krt__imap_t objs;
    krt__map_t touched;     /* value: old object pointer | 1 when an update must be announced */
    krt__vec_t batch;       /* krt_event_t, references held on old and cur */
    krt__vec_t batch_keys;  /* uint32 key ids, references held */
    krt_handler_t *handlers;
    krt__vec_t on_synced; /* krt__synced_cb_t */
    krt_index_t *indexes;
    uint32_t nindexes;
    krt_index_t *label_index;    /* built on first label fetch */
    krt_index_t *selector_index; /* built on first selector fetch */
    uint32_t *sorted;         /* key ids in key order; valid when sorted_valid */
    uint32_t nsorted;
    bool sorted_valid;
    bool synced;
    bool processed; /* has run process() at least once */
    bool scratch_hot;  /* the last flush touched more keys than a small table holds */
    bool scratch_keep; /* this flush's touched table was kept: keep the batch's room too */
    uint32_t users;
    krt_stats_t stats;
    krt_collection_t *owner; /* a status or index collection freed with its owner */
};

struct krt_engine {
    krt__intern_t in;
    krt__vec_t colls; /* krt_collection_t*, NULL once freed */
    uint64_t gen;     /* completed flushes */
    int phase;        /* 0 idle, 1 processing, 2 delivering */
    int flush_rc;
    krt_log_cb log;
    void *log_ud;
    krt__vec_t became_synced; /* krt_collection_t* that turned synced in this flush */
    struct krt_ctx *ctx;      /* the running transformation, if any */
    krt__vec_t index_keys;    /* scratch for index maintenance (krt__index_add/remove) */
    krt__vec_t same_fns;      /* krt_same_cb: the partial-fetch callbacks dependencies name by
                                 number (derive.c), appended on first use */
};

enum { KRT__PHASE_IDLE = 0, KRT__PHASE_PROCESS = 1, KRT__PHASE_DELIVER = 2 };

/* Creates the base of a collection of |size| bytes (the kind's struct embeds krt_collection_t
 * first) and appends it to the engine's creation order. Returns NULL on OOM or bad type. */
krt_collection_t *krt__coll_new(krt_engine_t *e, const krt__ops_t *ops, size_t size,
                                const krt_type_t *t, const char *name);
/* Sets the published object of |key| (NULL removes it). Takes obj. When |forced|, the key's
 * next batch entry is an update even if old and new are equal. Returns KRT_OK or KRT_ENOMEM
 * (then obj was released and nothing changed). */
int krt__coll_set(krt_collection_t *c, uint32_t key, const krt_obj_t *obj, bool forced);
/* Makes room for |n| more touched keys, so that the next changes of up to |n| keys that are
 * published already (replacing or removing their object) cannot fail. Returns KRT_OK or
 * KRT_ENOMEM (nothing changed but capacity). */
int krt__coll_reserve(krt_collection_t *c, uint32_t n);
static inline const krt_obj_t *krt__coll_get_id(const krt_collection_t *c, uint32_t key)
{
    uint64_t v;
    return krt__imap_get(&c->objs, key, &v) ? (const krt_obj_t *)(uintptr_t)v : NULL;
}
/* Returns: the collection's key ids sorted by key (cached; borrowed until it changes). */
const uint32_t *krt__coll_sorted(krt_collection_t *c, uint32_t *n);
/* Turns touched into this flush's batch. Cannot run out of memory (C6). */
int krt__coll_publish(krt_collection_t *c);
/* Marks that |reader| reads |c|: c cannot be freed before reader. */
void krt__coll_use(krt_collection_t *c);
void krt__coll_unuse(krt_collection_t *c);
/* Interns the key of |o| with a reference, or UINT32_MAX on OOM. */
uint32_t krt__obj_key_ref(krt_engine_t *e, const krt_obj_t *o);
/* Records a flush error (the first one wins). */
void krt__flush_error(krt_engine_t *e, int rc);
/* Returns true when mutations are refused (inside a transformation). */
static inline bool krt__engine_busy(const krt_engine_t *e)
{
    return e->phase == KRT__PHASE_PROCESS;
}

/* Indexes (index.c). */
/* Adds/removes |obj| (published under |key|) to/from every index of |c|. Never fails: an index
 * that cannot be updated is marked stale (see krt__index_ready). */
void krt__index_add(krt_collection_t *c, uint32_t key, const krt_obj_t *obj);
void krt__index_remove(krt_collection_t *c, uint32_t key, const krt_obj_t *obj);
void krt__index_free_all(krt_collection_t *c);
/* Extracts the bucket keys of |obj| for |idx| into |keys| (cleared first). Interned ids hold no
 * reference: they are looked up, not created, so an absent key yields nothing. */
void krt__index_extract(krt_index_t *idx, const krt_obj_t *obj, krt_keys_t *keys, bool create);
/* Rebuilds a stale index; returns false (index still stale) when memory is short. Call before
 * reading buckets. */
bool krt__index_ready(krt_index_t *idx);
const krt__bucket_t *krt__index_bucket(const krt_index_t *idx, uint64_t bkey);
krt_index_t *krt__label_index(krt_collection_t *c);
krt_index_t *krt__selector_index(krt_collection_t *c);
/* The label pair of |sel| that objects with that selector are filed under (the smallest). */
uint64_t krt__selector_anchor(const krt_labels_t *sel);
int krt__index_check(const krt_collection_t *c);
size_t krt__index_bytes(const krt_collection_t *c);

/* Bucket helpers. */
/* Returns: a bucket of |cap| entries (room for |cap|, none used), or NULL on OOM. */
krt__bucket_t *krt__bucket_new(uint32_t cap);
/* Inserts into *bp, which may move (growing reallocates the bucket). */
int krt__bucket_insert(krt_engine_t *e, krt__bucket_t **bp, uint32_t key, const krt_obj_t *obj);
void krt__bucket_remove(krt_engine_t *e, krt__bucket_t *b, uint32_t key);
bool krt__bucket_has(krt_engine_t *e, const krt__bucket_t *b, uint32_t key);

/* Per-kind constructors used across files. */
bool krt__coll_is_static(const krt_collection_t *c);

#endif /* KRT_SRC_ENGINE_H */
