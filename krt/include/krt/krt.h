/*
 * libkrt — reactive collections for controllers, in C.
 *
 * A port of the ideas of Istio's krt: keyed collections of immutable objects, derived collections
 * computed by transformations that record what they read, and subscribers told of every change.
 *
 * The key decision: the engine is sans-IO, single-threaded and glitch-free. Mutations of static
 * collections only mark work; krt_engine_flush() walks every collection in creation order (a
 * topological order, because a collection may only read collections created before it), recomputes
 * each dirty input exactly once against settled upstream state, and hands each subscriber one batch
 * per collection per flush. Istio's krt instead runs one goroutine queue per collection and processes
 * event batches as they arrive, which lets a burst of N changes cost N recomputations (istio#60366).
 *
 * Ownership words used below: "borrows" (valid for the call), "keeps" (must outlive a named object),
 * "takes" (ownership moves to the callee). Returned pointers are "owned by caller" or "borrowed until"
 * a named event.
 */
#ifndef KRT_KRT_H
#define KRT_KRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct json_t json_t; /* jansson's JSON value */

/* ---------------------------------------------------------------------------------------------
 * Errors: negative codes from one table. A function that fails has no side effects to undo.
 * ------------------------------------------------------------------------------------------- */
#define KRT_ERRNO_MAP(XX)                                                                          \
    XX(OK, 0, "success")                                                                           \
    XX(ENOMEM, -1, "out of memory")                                                                \
    XX(EINVAL, -2, "invalid argument")                                                             \
    XX(ETYPE, -3, "type descriptor is incomplete or does not match the collection")                \
    XX(EDUPKEY, -4, "output key produced twice")                                                   \
    XX(ENOTFOUND, -5, "not found")                                                                 \
    XX(EMULTIPLE, -6, "more than one object matched")                                              \
    XX(EORDER, -7, "a collection may only read collections created before it")                     \
    XX(EBUSY, -8, "not allowed now (flush in progress or collection still in use)")                \
    XX(EKEY, -9, "key-preserving transformation changed the key")                                  \
    XX(ETRANSFORM, -10, "transformation failed")                                                   \
    XX(EINVARIANT, -11, "internal invariant violated")

enum {
#define KRT__ERR_ENUM(name, code, msg) KRT_##name = (code),
    KRT_ERRNO_MAP(KRT__ERR_ENUM)
#undef KRT__ERR_ENUM
};

/* Returns: a static string describing |rc| ("unknown error" for codes outside the table). */
const char *krt_strerror(int rc);
/* Returns: a static string naming |rc|, e.g. "KRT_EDUPKEY". */
const char *krt_err_name(int rc);

/* ---------------------------------------------------------------------------------------------
 * Allocation. Every allocation libkrt makes goes through these hooks; benches count bytes with
 * them and tests inject failures. Set them before creating any engine or object.
 * ------------------------------------------------------------------------------------------- */
typedef struct krt_allocator {
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} krt_allocator_t;

/* Borrows: a (copied). NULL restores libc's malloc/realloc/free. */
void krt_allocator_set(const krt_allocator_t *a);
void *krt_malloc(size_t size);
void *krt_calloc(size_t n, size_t size);
void *krt_realloc(void *ptr, size_t size);
void krt_free(void *ptr);
/* Returns: a copy of |s| (owned by caller, release with krt_free), or NULL on OOM or NULL |s|. */
char *krt_strdup(const char *s);

/* ---------------------------------------------------------------------------------------------
 * Hashing (xxHash XXH3, 64 bits).
 * ------------------------------------------------------------------------------------------- */
uint64_t krt_hash_bytes(const void *p, size_t len, uint64_t seed);
/* NULL hashes like "" but differently from it. */
uint64_t krt_hash_str(const char *s, uint64_t seed);
uint64_t krt_hash_combine(uint64_t a, uint64_t b);

/* ---------------------------------------------------------------------------------------------
 * Labels: a view of key/value pairs. Objects expose their labels and label selector as views whose
 * strings are borrowed from the object. Filters passed to fetch need not be sorted: the engine copies
 * and sorts what it keeps.
 * ------------------------------------------------------------------------------------------- */
typedef struct krt_label {
    const char *key;
    const char *value;
} krt_label_t;

typedef struct krt_labels {
    const krt_label_t *items;
    size_t len;
} krt_labels_t;

/* Returns: true when every pair of |want| is in |have| (so an empty |want| matches everything).
 * Neither needs to be sorted. Borrows both. */
bool krt_labels_contain(const krt_labels_t *have, const krt_labels_t *want);
/* Sorts |items| by key then value, in place. */
void krt_labels_sort(krt_label_t *items, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Objects and types.
 *
 * An object is a user struct whose first member is a krt_obj_t. It is filled in, then sealed with
 * krt_obj_seal(), which sets its type, its reference count (1) and its content hash. From then on it
 * is immutable and shared by reference: collections, events and subscribers hold references, never
 * copies. When the last reference goes, type->free releases it.
 * ------------------------------------------------------------------------------------------- */
typedef struct krt_type krt_type_t;

typedef struct krt_obj {
    const krt_type_t *type; /* set by krt_obj_seal */
    uint32_t refs;          /* managed by retain/release */
    uint32_t reserved;
    uint64_t hash;          /* content hash, computed once by krt_obj_seal */
} krt_obj_t;

/* Type flag: equal hashes mean equal objects (the type asks for hash equality; no equals needed). */
#define KRT_TYPE_HASH_IS_EQUALITY 0x1u

struct krt_type {
    const char *name;
    unsigned flags;
    /* Required. Returns: the object's key, borrowed from the object. Must not be NULL. */
    const char *(*key)(const krt_obj_t *o);
    /* Required. Returns: a 64-bit hash of everything equals compares. */
    uint64_t (*hash)(const krt_obj_t *o);
    /* Required unless KRT_TYPE_HASH_IS_EQUALITY: called only when the two hashes are equal. */
    bool (*equals)(const krt_obj_t *a, const krt_obj_t *b);
    /* Required. Releases what the object owns and the object itself (use krt_free when it was
     * allocated with krt_malloc). */
    void (*free)(krt_obj_t *o);
    /* Required. Returns: a JSON rendering (owned by caller). */
    json_t *(*dump)(const krt_obj_t *o);
    /* Optional: bytes the object holds, for memory accounting; 0 when absent. */
    size_t (*size)(const krt_obj_t *o);
    /* Optional accessors used by label and selector fetches and the namespace index. They fill a
     * view borrowed from the object and return false when the object has none. */
    bool (*labels)(const krt_obj_t *o, krt_labels_t *out);
    bool (*selector)(const krt_obj_t *o, krt_labels_t *out);
    const char *(*namespace_)(const krt_obj_t *o);
};

/* Returns: KRT_OK, or KRT_ETYPE when a required member is missing. Borrows t. */
int krt_type_check(const krt_type_t *t);

/* Seals |o| as an object of type |t|: refs = 1, hash = t->hash(o). Keeps t (static storage). */
void krt_obj_seal(krt_obj_t *o, const krt_type_t *t);
/* Returns: |o| with one more reference. */
const krt_obj_t *krt_obj_retain(const krt_obj_t *o);
/* Drops one reference; frees through the type on the last. NULL is a no-op. */
void krt_obj_release(const krt_obj_t *o);
/* Returns: the key, borrowed from |o|. */
const char *krt_obj_key(const krt_obj_t *o);
/* Equal when the same pointer, or the same type with equal hashes and (unless the type has
 * KRT_TYPE_HASH_IS_EQUALITY) type->equals says so. NULLs are equal only to NULL. */
bool krt_obj_equal(const krt_obj_t *a, const krt_obj_t *b);
/* Returns: the dump (owned by caller), or NULL on OOM. */
json_t *krt_obj_dump(const krt_obj_t *o);

/* ---------------------------------------------------------------------------------------------
 * Engine.
 * ------------------------------------------------------------------------------------------- */
typedef struct krt_engine krt_engine_t;
typedef struct krt_collection krt_collection_t;
typedef struct krt_ctx krt_ctx_t;
typedef struct krt_index krt_index_t;
typedef struct krt_handler krt_handler_t;

enum { KRT_LOG_DEBUG = 0, KRT_LOG_INFO = 1, KRT_LOG_WARN = 2, KRT_LOG_ERROR = 3 };
/* Called for engine diagnostics (duplicate keys, failed transformations). Borrows msg. */
typedef void (*krt_log_cb)(int level, const char *msg, void *ud);

/* Returns: a new engine (owned by caller), or NULL on OOM. */
krt_engine_t *krt_engine_new(void);
/* Frees every collection (last created first), handler and index, then the engine. NULL: no-op. */
void krt_engine_free(krt_engine_t *e);
/* Keeps ud. The default logs warnings and errors to stderr; NULL cb silences the engine. */
void krt_engine_set_log(krt_engine_t *e, krt_log_cb cb, void *ud);
/* Propagates every pending change: see the file comment. Subscribers run after all collections are
 * settled, in creation order. Returns: KRT_OK; KRT_EBUSY when called from inside a flush; otherwise
 * the first error a transformation reported in this flush (everything else was still applied). */
int krt_engine_flush(krt_engine_t *e);
/* Returns: true when a static change is waiting for a flush. */
bool krt_engine_pending(const krt_engine_t *e);
/* Returns: the number of completed flushes. */
uint64_t krt_engine_flushes(const krt_engine_t *e);
/* Returns: the first collection named |name| (borrowed until it is freed), or NULL. */
krt_collection_t *krt_engine_collection(const krt_engine_t *e, const char *name);
/* Debug check: verifies the numbered invariants of every structure (see krt/src/engine.h).
 * Returns: KRT_OK, or KRT_EINVARIANT after logging which invariant failed where. */
int krt_engine_check(const krt_engine_t *e);
/* Returns: {"collections":[dump...], "flushes":N} (owned by caller). */
json_t *krt_engine_dump(const krt_engine_t *e);
/* Returns: the collection graph in Graphviz DOT (owned by caller, krt_free), or NULL on OOM. */
char *krt_engine_dot(const krt_engine_t *e);

/* ---------------------------------------------------------------------------------------------
 * Collections: common operations.
 * Objects returned by get/list are borrowed until the next flush or, for a static collection, until
 * the next mutation of it. Retain them to keep them longer.
 * ------------------------------------------------------------------------------------------- */
const char *krt_collection_name(const krt_collection_t *c);
const krt_type_t *krt_collection_type(const krt_collection_t *c);
krt_engine_t *krt_collection_engine(const krt_collection_t *c);
size_t krt_collection_len(const krt_collection_t *c);
/* Returns: the object with |key| (borrowed, see above), or NULL. Borrows key. */
const krt_obj_t *krt_collection_get(const krt_collection_t *c, const char *key);
/* Writes up to |cap| objects into |out| in key order (bytewise), returns how many the collection
 * holds (which may exceed cap). */
size_t krt_collection_list(const krt_collection_t *c, const krt_obj_t **out, size_t cap);
/* Calls |fn| for each object, in unspecified order, until it returns false. */
void krt_collection_foreach(const krt_collection_t *c, bool (*fn)(const krt_obj_t *o, void *ud),
                            void *ud);
/* A collection is synced when its sources are synced and its initial state is processed. Sync is
 * decided once: a synced collection that later starts fetching an unsynced one stays synced. */
bool krt_collection_synced(const krt_collection_t *c);
/* Calls |cb| once, at the end of the flush in which |c| becomes synced (or right away if it is).
 * Keeps ud. Returns KRT_OK or KRT_ENOMEM. */
int krt_collection_on_synced(krt_collection_t *c, void (*cb)(krt_collection_t *c, void *ud),
                             void *ud);
/* Frees |c|, its handlers, indexes and registrations on other collections, and the collections it
 * owns: its status collection and its indexes' index collections (with their handlers), whose
 * pointers die with it. Returns: KRT_OK; KRT_EBUSY (nothing freed) when another collection reads
 * |c| or one it owns, or a flush runs. */
int krt_collection_free(krt_collection_t *c);

typedef struct krt_stats {
    uint64_t recomputes;   /* transformations run (derived) or objects merged (joins) */
    uint64_t scans;        /* dependants checked one by one because a fetch was not indexable */
    uint64_t events;       /* events emitted */
    uint64_t batches;      /* batches emitted */
    uint64_t dup_keys;     /* duplicate output keys reported */
    uint64_t errors;       /* transformations that failed */
    size_t inputs;         /* inputs tracked (derived) */
    size_t outputs;        /* objects held */
    size_t deps;           /* dependency records held */
    size_t bytes;          /* memory held by the collection's own structures */
} krt_stats_t;
void krt_collection_stats(const krt_collection_t *c, krt_stats_t *out);
/* Returns: the collection's debug dump (owned by caller): kind, synced, sizes, counters, and for
 * derived collections each input with its outputs and dependencies. */
json_t *krt_collection_dump(const krt_collection_t *c);

/* ---------------------------------------------------------------------------------------------
 * Events and subscribers.
 * ------------------------------------------------------------------------------------------- */
typedef enum krt_op { KRT_ADD = 1, KRT_UPDATE = 2, KRT_DELETE = 3 } krt_op_t;

typedef struct krt_event {
    krt_op_t op;
    const krt_obj_t *old; /* NULL for KRT_ADD */
    const krt_obj_t *cur; /* NULL for KRT_DELETE */
} krt_event_t;

/* Returns: cur if set, else old (never NULL for a valid event). */
const krt_obj_t *krt_event_latest(const krt_event_t *ev);

/* A batch is read-only and shared by all subscribers; events are in key order (bytewise).
 * Borrowed for the duration of the callback. */
typedef struct krt_batch {
    krt_collection_t *collection;
    const krt_event_t *events;
    size_t len;
} krt_batch_t;

/* May mutate static collections (the change waits for the next flush) and subscribe/unsubscribe;
 * must not flush and must not free collections. */
typedef void (*krt_handler_cb)(const krt_batch_t *batch, void *ud);

/* Subscribes |cb| to |c|. With |replay|, the current state (as of the last flush) is delivered at
 * once as one batch of KRT_ADD events, so each object is seen exactly once: in that batch or as a
 * later event. Keeps ud until unsubscribed. Returns: the handler (borrowed until unsubscribed or the
 * collection is freed), or NULL on OOM. */
krt_handler_t *krt_collection_subscribe(krt_collection_t *c, krt_handler_cb cb, void *ud,
                                        bool replay);
/* Stops deliveries; frees the handler. NULL is a no-op. */
void krt_handler_unsubscribe(krt_handler_t *h);
/* Returns: true when the collection is synced and the handler has been given its initial state. */
bool krt_handler_synced(const krt_handler_t *h);

/* ---------------------------------------------------------------------------------------------
 * Static collections: the engine's sources. Mutations apply at once to get/list and are announced
 * at the next flush as one coalesced event per key (a put then a delete of a new key announces
 * nothing).
 * ------------------------------------------------------------------------------------------- */
/* Returns: a new static collection of type |t| (owned by the engine), or NULL (bad type or OOM).
 * Keeps t. Borrows name. A source that is not |synced| stays unsynced until mark_synced. */
krt_collection_t *krt_static_new(krt_engine_t *e, const krt_type_t *t, const char *name,
                                 bool synced);
/* Inserts or replaces by key; an identical replacement is still announced as an update.
 * Takes obj (also on error). Returns KRT_OK, KRT_ETYPE, KRT_EBUSY (inside a transformation). */
int krt_static_put(krt_collection_t *c, const krt_obj_t *obj);
/* Like put, but does nothing when an equal object is present.
 * Takes obj. Returns 1 if stored, 0 if equal and dropped, or a negative error. */
int krt_static_put_if_changed(krt_collection_t *c, const krt_obj_t *obj);
/* Returns 1 if an object was removed, 0 if absent, or a negative error. Borrows key. */
int krt_static_delete(krt_collection_t *c, const char *key);
typedef bool (*krt_pred_cb)(const krt_obj_t *o, void *ud);
/* Deletes every object for which |pred| is true. Returns: how many, or a negative error. */
int krt_static_delete_matching(krt_collection_t *c, krt_pred_cb pred, void *ud);
/* Replaces the whole content with |objs| (keys must be distinct), announcing only the difference
 * (equal objects are not announced). Takes every object of objs (also on error).
 * Returns KRT_OK, KRT_EDUPKEY (nothing changed), KRT_ETYPE, KRT_EBUSY. */
int krt_static_reset(krt_collection_t *c, const krt_obj_t *const *objs, size_t n);
void krt_static_mark_synced(krt_collection_t *c);

/* ---------------------------------------------------------------------------------------------
 * Derived collections.
 *
 * A transformation reads one input object and emits its outputs with krt_emit(). Every read of
 * another collection goes through krt_fetch*() on |ctx|, which records the dependency. It must not
 * mutate anything: its result may depend only on the input, what it fetched, and |ud|.
 * Returning a negative code marks the transformation failed: the input keeps its previous outputs,
 * its dependencies become what this run fetched (so it is retried when any of that changes), the
 * error is counted and logged, and flush returns it.
 * ------------------------------------------------------------------------------------------- */
typedef int (*krt_transform_cb)(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);

/* Emits |obj| as an output of the current input. Takes obj.
 * Returns KRT_OK, or refuses the object (logged; duplicates also counted in dup_keys) with: KRT_ETYPE (wrong
 * type); KRT_EDUPKEY (this input already emitted the key: the first emission stays); KRT_EINVAL (a
 * second output from a 1→0..1 collection); KRT_EKEY (a map changed the key). A refusal does not
 * fail the transformation by itself: returning the error from it does. */
int krt_emit(krt_ctx_t *ctx, const krt_obj_t *obj);
/* Istio's DiscardResult: keep the input's previous outputs and dependencies instead of this run's
 * result, unless the input had none (then a non-empty new result is still accepted). */
void krt_ctx_discard(krt_ctx_t *ctx);
/* Sets the status reported for the current input (status collections only). Takes status. */
int krt_ctx_set_status(krt_ctx_t *ctx, const krt_obj_t *status);

/* Flags for krt_derive_new. */
/* 1 → 0..N. Output keys should be unique across all inputs. When several inputs produce one key,
 * the input whose key sorts first (bytewise) owns it, whatever order they were computed in (so a
 * restart reaches the same state); each conflict is logged as a warning and counted in dup_keys,
 * and when the owner stops producing the key the next claimant in key order takes over. */
#define KRT_DERIVE_MANY 0x0u
#define KRT_DERIVE_ONE 0x1u  /* 1 → 0..1 */
#define KRT_DERIVE_MAP 0x2u  /* 1 → 0..1, the output keeps the input's key, no fetch allowed */

/* Returns: a collection of type |out| computed from each object of |parent| by |fn| (owned by the
 * engine), or NULL (bad type, parent from another engine, OOM). Keeps parent, out, ud. */
krt_collection_t *krt_derive_new(krt_engine_t *e, krt_collection_t *parent, const krt_type_t *out,
                                 const char *name, unsigned flags, krt_transform_cb fn, void *ud);
/* krt_derive_new with KRT_DERIVE_MAP. */
krt_collection_t *krt_map_new(krt_engine_t *e, krt_collection_t *parent, const krt_type_t *out,
                              const char *name, krt_transform_cb fn, void *ud);
/* A collection of at most one object, computed with in == NULL. Synced once what it fetched is. */
krt_collection_t *krt_singleton_new(krt_engine_t *e, const krt_type_t *out, const char *name,
                                    krt_transform_cb fn, void *ud);
/* Returns: the singleton's object (borrowed until the next flush), or NULL. */
const krt_obj_t *krt_singleton_get(const krt_collection_t *c);
/* Many objects computed from nothing (in == NULL), usually driven by a recompute trigger. */
krt_collection_t *krt_many_from_nothing_new(krt_engine_t *e, const krt_type_t *out,
                                            const char *name, krt_transform_cb fn, void *ud);

/* Status collections: like krt_derive_new, and the transformation may report a status for its
 * input with krt_ctx_set_status(). |*status_out| receives a collection of krt_status_type objects,
 * keyed by the input key, holding the input and its status. It changes only when the status or
 * the input object does: a new output with the same status and input emits nothing. No status
 * (none set, or NULL) means no object. The status collection is freed with its collection. */
krt_collection_t *krt_derive_status_new(krt_engine_t *e, krt_collection_t *parent,
                                        const krt_type_t *out, const krt_type_t *status,
                                        const char *name, unsigned flags, krt_transform_cb fn,
                                        void *ud, krt_collection_t **status_out);
extern const krt_type_t krt_status_type;
/* Accessors of a krt_status_type object; results borrowed from it. */
const krt_obj_t *krt_status_input(const krt_obj_t *status_obj);
const krt_obj_t *krt_status_value(const krt_obj_t *status_obj);

/* ---------------------------------------------------------------------------------------------
 * Joins: all members have the same type and were created before the join.
 * ------------------------------------------------------------------------------------------- */
/* Priority join: on a key held by several members, the earliest member in |cols| wins. Events
 * follow krt's rules: an add hiding a lower member's object is an update; a delete uncovering a
 * lower member's object is an update to it; changes hidden by a higher member emit nothing.
 * Borrows cols (the array), keeps each member. */
krt_collection_t *krt_join_new(krt_engine_t *e, krt_collection_t *const *cols, size_t n,
                               const char *name);
/* Merges the objects that members hold for one key, in member order (n >= 1). Borrows objs.
 * Returns: a new object with the same key (owned by caller), or NULL for "no object". */
typedef const krt_obj_t *(*krt_merge_cb)(const krt_obj_t *const *objs, size_t n, void *ud);
krt_collection_t *krt_merge_join_new(krt_engine_t *e, krt_collection_t *const *cols, size_t n,
                                     const char *name, krt_merge_cb merge, void *ud);

/* ---------------------------------------------------------------------------------------------
 * Indexes: named secondary keys over a collection's objects, kept in step with it.
 * ------------------------------------------------------------------------------------------- */
typedef struct krt_keys krt_keys_t;
/* Adds one index key for the object being indexed (copied). Duplicates are ignored. */
int krt_keys_add(krt_keys_t *keys, const char *key);
/* The extractor could not compute the object's keys (out of memory reading it): the index is
 * rebuilt before its next use rather than left out of step. */
void krt_keys_fail(krt_keys_t *keys);
/* Borrows o. Adds the object's index keys with krt_keys_add (or calls krt_keys_fail). */
typedef void (*krt_index_extract_cb)(const krt_obj_t *o, krt_keys_t *keys, void *ud);

/* Returns: the index named |name| on |c| (owned by the collection), creating it with |fn| if it
 * does not exist yet; an existing index of that name is returned as is. Keeps ud. NULL on OOM. */
krt_index_t *krt_index_new(krt_collection_t *c, const char *name, krt_index_extract_cb fn,
                           void *ud);
/* The index "namespace" built on type->namespace_. NULL if the type has no namespace accessor. */
krt_index_t *krt_index_namespace(krt_collection_t *c);
krt_collection_t *krt_index_source(const krt_index_t *idx);
/* Lookup WITHOUT recording a dependency (not for use inside transformations: use krt_fetch_index).
 * Writes up to cap objects in key order; returns how many the bucket holds. */
size_t krt_index_lookup(const krt_index_t *idx, const char *key, const krt_obj_t **out, size_t cap);
/* The index as a collection of krt_index_obj_type objects, one per non-empty bucket, keyed by the
 * index key (owned by the engine; the same collection on every call; freed with the indexed
 * collection, which is busy while something reads it). Changing a bucket's membership emits an
 * update (Istio's emits an add; we report what happened). */
krt_collection_t *krt_index_collection(krt_index_t *idx);
extern const krt_type_t krt_index_obj_type;
/* Returns: the bucket's objects in key order, borrowed from |o|; *n receives their number. */
const krt_obj_t *const *krt_index_obj_items(const krt_obj_t *o, size_t *n);

/* ---------------------------------------------------------------------------------------------
 * Fetch: reads inside a transformation, recorded as dependencies.
 *
 * Every set member of a filter narrows the result (they combine with AND). A change to an object
 * of |src| recomputes an input when the object matched this fetch's filter before or after the
 * change (so objects leaving a filter count), unless |same| says the change does not matter.
 * Changes find their dependants through reverse indexes on keys, index keys, labels and selectors;
 * only a fetch with nothing indexable (a bare predicate or no filter at all) makes the source's
 * changes check its dependants one by one, and those checks are counted as scans.
 * ------------------------------------------------------------------------------------------- */
typedef bool (*krt_same_cb)(const krt_obj_t *old, const krt_obj_t *cur, void *ud);

/* Partial input (Istio has no equivalent; the input side of a partial fetch): a change of a parent
 * object for which same(old, cur, ud) is true does not recompute its input; the previous outputs
 * and dependencies stay. For a transformation that reads only part of its input. Not for status
 * collections (their objects hold the input), and the transformation must not keep the input
 * object itself (as pred_ud or same_ud). Call before the first flush. Returns: KRT_OK or
 * KRT_EINVAL. */
int krt_derive_set_input_same(krt_collection_t *c, krt_same_cb same, void *ud);

typedef struct krt_filter {
    const char *const *keys;  /* objects with one of these keys */
    size_t nkeys;             /* at most 2,097,151: a larger fetch fails with KRT_EINVAL */
    krt_index_t *index;       /* objects in bucket |index_key| of |index| (an index of src) */
    const char *index_key;
    const krt_labels_t *labels;   /* objects whose labels contain all of these */
    const krt_labels_t *selects;  /* objects whose selector is contained in these labels */
    bool selects_nonempty;        /* with selects: objects with an empty selector do not match */
    krt_pred_cb pred;             /* objects for which pred is true */
    void *pred_ud;
    krt_same_cb same;             /* partial fetch: a change where same(old, cur) is true does not
                                     recompute */
    void *same_ud;
} krt_filter_t;
/* pred, same and their ud pointers are KEPT with the dependency and called again when the source
 * changes, until the input's next recompute: point them at long-lived data (the collection's ud,
 * the input object), never at the transformation's stack. */

/* Fetches the objects of |src| matching |f| (NULL = all) in key order, and records the dependency.
 * Borrows ctx, src, f. Returns: the count; *out is set to an array borrowed until the
 * transformation returns. A fetch the engine refuses (src not created before the fetching
 * collection, a map fetching) returns 0 and fails the transformation. */
size_t krt_fetch(krt_ctx_t *ctx, krt_collection_t *src, const krt_filter_t *f,
                 const krt_obj_t *const **out);
/* Returns: the object of |src| with |key| or NULL; records the dependency. */
const krt_obj_t *krt_fetch_key(krt_ctx_t *ctx, krt_collection_t *src, const char *key);
size_t krt_fetch_index(krt_ctx_t *ctx, krt_index_t *idx, const char *key,
                       const krt_obj_t *const **out);
size_t krt_fetch_labels(krt_ctx_t *ctx, krt_collection_t *src, const krt_labels_t *labels,
                        const krt_obj_t *const **out);
size_t krt_fetch_selects(krt_ctx_t *ctx, krt_collection_t *src, const krt_labels_t *labels,
                         bool nonempty, const krt_obj_t *const **out);
/* Fetches at most one object: *out is the match or NULL. Returns KRT_OK, or KRT_EMULTIPLE (and
 * *out NULL) when more than one object matched; the dependency is recorded either way. */
int krt_fetch_one(krt_ctx_t *ctx, krt_collection_t *src, const krt_filter_t *f,
                  const krt_obj_t **out);

/* ---------------------------------------------------------------------------------------------
 * Recompute trigger: lets state held outside krt drive recomputation.
 * ------------------------------------------------------------------------------------------- */
/* Returns: a trigger (a collection owned by the engine holding one counter object). */
krt_collection_t *krt_trigger_new(krt_engine_t *e, const char *name, bool synced);
/* Records that the current transformation depends on the trigger. */
void krt_trigger_depend(krt_ctx_t *ctx, krt_collection_t *trigger);
/* Makes every dependant recompute at the next flush. */
int krt_trigger_fire(krt_collection_t *trigger);
void krt_trigger_mark_synced(krt_collection_t *trigger);

#ifdef __cplusplus
}
#endif
#endif /* KRT_KRT_H */
