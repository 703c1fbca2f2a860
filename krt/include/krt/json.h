/*
 * The JSON object type: Kubernetes-style API objects (jansson values) as krt objects, so sources
 * can feed API objects straight into static collections.
 *
 * Key: "namespace/name", or "name" for a cluster-scoped object (no metadata.namespace).
 * Labels: metadata.labels (string values only; the accessor always succeeds, with an empty view
 * when there are none). Selector: spec.selector when it is a map of strings (Service style), else
 * spec.selector.matchLabels, else spec.podSelector.matchLabels. matchExpressions are not
 * represented: a selector made only of them reads as absent, which selector fetches treat as
 * empty — transformations that must honour expressions should filter with a predicate.
 * Hash: XXH3 over the canonical form (a packed binary encoding with keys sorted, about half the
 * size of compact JSON; krt/src/json.c), so key order in the source document does not matter.
 * Equality: canonical forms compared byte for byte (the type asks for it).
 */
#ifndef KRT_JSON_H
#define KRT_JSON_H

#include <jansson.h>

#include "krt/krt.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const krt_type_t krt_json_type;

/* Makes a JSON object. Takes |value| (also on error).
 * Returns: the sealed object (owned by caller, release with krt_obj_release) or NULL; on NULL,
 * |*err| (if not NULL) receives KRT_EINVAL (not an object, no metadata.name, non-string
 * name/namespace, a '/' in either) or KRT_ENOMEM. */
const krt_obj_t *krt_json_new(json_t *value, int *err);
/* Parses |text| (a JSON document) into an object. Borrows text. Returns as krt_json_new; a
 * parse error sets KRT_EINVAL. */
const krt_obj_t *krt_json_parse(const char *text, size_t len, int *err);

/* The value as a jansson tree: borrowed from |o| until the next krt_json_trim() (or the object's
 * release). It must not be modified: the object's hash, key and label views are computed from
 * it. Rebuilds it from the canonical bytes when the tree was trimmed; NULL when that runs out of
 * memory (or |o| is not a JSON object). */
json_t *krt_json_value(const krt_obj_t *o);
/* Accessors; every result is borrowed from |o| for its lifetime (copies held by the object, not
 * the tree) and never NULL (empty if absent). */
const char *krt_json_name(const krt_obj_t *o);
const char *krt_json_namespace(const krt_obj_t *o);
const char *krt_json_kind(const krt_obj_t *o);
/* Returns: the string at a dotted path such as "status.podIP", or NULL; borrowed like
 * krt_json_value(). */
const char *krt_json_get_string(const krt_obj_t *o, const char *path);

/* The tree cache. Every object keeps its canonical bytes; its jansson tree (about sixteen times
 * larger) is a cache kept within a budget. Process-wide; single-threaded like krt objects.
 *  - During a flush the engine starts a new epoch before every transformation, and creating or
 *    reading a tree drops the least recently read trees of earlier epochs while over budget: a
 *    transformation's borrowed trees are never freed under it, and it must not keep pointers
 *    into its inputs' trees in its outputs (copy or json_incref what it keeps). Trees nobody has
 *    read yet (objects just fed, records just emitted) are not dropped then: the flush is about
 *    to read them, and dropping them would parse them twice. Nor are trees of API objects
 *    (krt_json_new) read during the flush: several collections read the same object, and at a
 *    cold start the trees not yet read exceed any budget, so a read tree would be dropped before
 *    its next reader. A read by the transformation that made the value does not count.
 *  - krt_json_trim() drops trees regardless of epoch: call it only where nothing is borrowed
 *    (between flushes, e.g. after each flush and after feeding a page of objects).
 * So application code must not hold a tree pointer across a flush or a trim.
 *
 * Sets the budget for parsed trees in estimated bytes; SIZE_MAX (the default) keeps every tree
 * and never drops one. */
void krt_json_tree_limit(size_t bytes);
/* Drops the least recently read trees until the estimate is within the budget. Returns: how many
 * trees were dropped. */
size_t krt_json_trim(void);
/* The same down to min(|bytes|, the budget): between flushes an application may keep fewer
 * trees than a flush needs (krtgate keeps none: with the tree heap installed, a tree kept idle
 * pins pages that would otherwise go back; rebuilding one from the packed bytes is cheap). */
size_t krt_json_trim_to(size_t bytes);
/* The number of parsed trees, their estimated bytes, and how many times a trimmed tree was parsed
 * again since the process started (any pointer may be NULL). */
void krt_json_tree_stats(size_t *trees, size_t *bytes, uint64_t *parses);

/* A JSON value held the same way, for other object types (translate's records): canonical bytes
 * (packed, keys sorted; not text: hash or compare them, never print them) always, the parsed tree in the cache above. Embed it in the object; the
 * object must not move while the value is initialized. */
typedef struct krt_json_lazy {
    char *canonical;            /* owned; len bytes (binary) plus a NUL */
    struct krt_json_node *node; /* json.c: the parsed tree and its place in the cache, or NULL */
    uint32_t len;
    uint8_t input; /* json.c: an API object's value */
} krt_json_lazy_t;

/* Serializes |value| into |l| and keeps the tree in the cache. Takes value (also on error).
 * Returns: KRT_OK, KRT_ENOMEM, or KRT_EINVAL (NULL, or nested deeper than 2048 levels, as
 * jansson's parser refuses, or a cycle). */
int krt_json_lazy_init(krt_json_lazy_t *l, json_t *value);
/* The tree, parsed again if it was trimmed: borrowed until the next krt_json_trim(); NULL on OOM. */
json_t *krt_json_lazy_get(krt_json_lazy_t *l);
/* Returns: whether both canonical forms are the same bytes. */
bool krt_json_lazy_equal(const krt_json_lazy_t *a, const krt_json_lazy_t *b);
/* Returns: the bytes held: canonical form, plus the estimated tree while parsed. */
size_t krt_json_lazy_size(const krt_json_lazy_t *l);
/* Returns: whether the tree is parsed now (held by the cache). */
bool krt_json_lazy_parsed(const krt_json_lazy_t *l);
/* Frees what |l| holds. */
void krt_json_lazy_dispose(krt_json_lazy_t *l);

/* A heap of its own for parsed trees (krt/src/json_heap.c). Trees come and go with the cache
 * while engine objects made in the same flush stay; in one C heap the dropped trees leave holes
 * that cannot be given back. Installed, the trees made inside a scope (the cache's rebuilds, and
 * parsers of API objects wrapped in begin/end) live in pages of their own, returned when their
 * trees are dropped. Everything else jansson allocates keeps the allocator in place at install
 * time (so text from json_dumps is still free()d by its callers).
 *  - krt_json_heap_install(): once, on the thread that uses krt (scopes on other threads do
 *    nothing). Takes over jansson's free function for good (it forwards anything not in the heap
 *    to the previous one), so set any allocator of your own before. KRT_OK or KRT_ENOMEM (no
 *    address space to reserve; nothing changed).
 *  - krt_json_heap_begin()/end(): jansson allocations in between go to the heap; nestable; no-ops
 *    when not installed. Only tree building belongs inside: never hand memory allocated there to
 *    free().
 *  - krt_json_heap_stats(): bytes of slab pages resident, bytes in use, bytes handed out since
 *    install (any pointer may be NULL). krt_json_heap_check(): KRT_OK or KRT_EINVARIANT. */
int krt_json_heap_install(void);
/* krt_json_heap_install() unless the environment says otherwise: KRT_JSON_HEAP=off leaves jansson
 * alone, =on installs even in AddressSanitizer builds (which otherwise leave it out, so that
 * AddressSanitizer sees every tree; a test sets "on" to check that nothing frees heap memory with
 * free()). Returns as krt_json_heap_install (KRT_OK when left out). */
int krt_json_heap_install_default(void);
void krt_json_heap_begin(void);
void krt_json_heap_end(void);
void krt_json_heap_stats(size_t *resident, size_t *in_use, uint64_t *allocated);
int krt_json_heap_check(void);

#ifdef __cplusplus
}
#endif
#endif /* KRT_JSON_H */
