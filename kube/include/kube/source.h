/*
 * The source: where Kubernetes objects enter krt, one static collection per kind.
 *
 * Whatever produces objects — the manifest folder (kube/manifest_dir.h), the informers of the
 * controller, a test — feeds them through ONE function, kube_source_apply(), as a list of changes
 * (put, delete, synced). The translate graph reads the collections (kube_source_collection()) and
 * never learns which feeder filled them. Keeping the feeding interface one function wide is the
 * point: a second way in would be a second set of rules to keep in step.
 *
 * Collections are keyed by kind name alone ("HTTPRoute", "Service"): an object of any version of
 * the kind's API group lands in the same collection (v1 and v1beta1 HTTPRoutes are one kind), and
 * an object whose group is not the kind's (an Istio networking.istio.io Gateway) is not that kind.
 * The kinds krtgate reads are the table kube_kinds; anything else is ignored with one log line per
 * group and kind, however many objects of it arrive.
 *
 * Objects are krt_json_type objects (krt/json.h), keyed "namespace/name" (or "name" when
 * cluster-scoped). As `kubectl apply` would, an object of a namespaced kind without
 * metadata.namespace goes to namespace "default", and a cluster-scoped object loses any
 * metadata.namespace it carries.
 */
#ifndef KUBE_SOURCE_H
#define KUBE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "krt/krt.h"
#include "kube/kube.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Kinds.
 * ------------------------------------------------------------------------------------------- */
typedef struct kube_kind {
    const char *kind;  /* "HTTPRoute" */
    const char *group; /* "gateway.networking.k8s.io"; "" for the core group (apiVersion "v1") */
    bool namespaced;
} kube_kind_t;

/* The kinds krtgate reads, in the order their collections are created. */
extern const kube_kind_t kube_kinds[];
extern const size_t kube_kinds_len;

/* Returns: the registered kind named |kind| (static storage), or NULL. Borrows kind. */
const kube_kind_t *kube_kind_find(const char *kind);

/* Returns: the group of an apiVersion: "apps/v1" → "apps", "v1" → "" (written into |buf| of
 * |cap| bytes, truncated). Borrows api_version. */
const char *kube_api_group(const char *api_version, char *buf, size_t cap);

/* Returns: |obj|'s identity "Kind.group/namespace/name" ("Kind/namespace/name" for the core group,
 * no namespace part for cluster-scoped kinds), with the namespace defaulted as the source defaults
 * it: two feeds of the same object have the same identity. Owned by caller (free()); NULL when
 * |obj| lacks a string apiVersion, kind or metadata.name (*err = KUBE_EOBJECT) or on OOM
 * (*err = KUBE_ENOMEM). Borrows obj. */
char *kube_object_identity(const json_t *obj, int *err);

/* ---------------------------------------------------------------------------------------------
 * Changes.
 * ------------------------------------------------------------------------------------------- */
typedef enum kube_change_op {
    KUBE_CHANGE_PUT = 1,    /* create or replace the object */
    KUBE_CHANGE_DELETE = 2, /* remove it */
    KUBE_CHANGE_SYNCED = 3, /* the feeder's initial load of |kind| (or of every kind) is complete */
} kube_change_op_t;

typedef struct kube_change {
    kube_change_op_t op;
    /* PUT: the object. DELETE: its last state, or a stub with apiVersion, kind and metadata.name
     * (and .namespace). SYNCED: unused. The source keeps a reference (json_incref) to what it
     * stores, so the caller keeps its own and must not modify the value afterwards. */
    json_t *object;
    /* SYNCED: the kind whose collection becomes synced; NULL for every kind. Otherwise unused. */
    const char *kind;
    /* Where the change came from, for log lines ("examples/gw.yaml:12", "watch HTTPRoute");
     * may be NULL. */
    const char *origin;
    /* PUT: true when the source may edit |object| in place to cut what it does not keep (the
     * caller reads nothing of it afterwards and shares no part of it with a reader); false: the
     * source cuts a copy and the caller's value is left as it was. */
    bool edit;
} kube_change_t;

/* ---------------------------------------------------------------------------------------------
 * The source.
 * ------------------------------------------------------------------------------------------- */
typedef struct kube_source kube_source_t;

typedef struct kube_source_options {
    /* Log lines (unknown kinds at KRT_LOG_INFO, rejected objects at KRT_LOG_ERROR). NULL: lines at
     * KRT_LOG_INFO and above go to stderr. Keeps log_ud. */
    krt_log_cb log;
    void *log_ud;
    /* Prefix of the collections' names; NULL means "kube/" (collection "kube/HTTPRoute"). */
    const char *name_prefix;
} kube_source_options_t;

/* Creates one unsynced static collection of krt_json_type per entry of kube_kinds in |e|.
 * Keeps e (must outlive the source). Borrows opts (NULL for defaults).
 * Returns: the source (owned by caller, kube_source_free), or NULL on OOM. */
kube_source_t *kube_source_new(krt_engine_t *e, const kube_source_options_t *opts);
/* Frees the source. Its collections belong to the engine and stay there. NULL is a no-op. */
void kube_source_free(kube_source_t *s);

/* THE way in. Applies |n| changes in order: puts and deletes to the kinds' static collections (a
 * put equal to what is stored announces nothing; see krt_static_put_if_changed), synced marks to
 * them. Changes of unknown kinds are ignored (one log line per kind, ever). A change that cannot be
 * applied (not an object, no name, a '/' in the name, OOM) is logged with its origin and skipped;
 * the others are still applied — a feeder must not lose its valid objects because of one bad one.
 * Nothing reaches subscribers before the caller flushes the engine. Borrows changes and origins;
 * keeps a reference to stored objects (see kube_change_t).
 * Returns: KUBE_OK when every change was applied or deliberately ignored; otherwise the error of
 * the first change that was skipped (KUBE_EOBJECT, KUBE_ENOMEM, KUBE_EINVAL). */
int kube_source_apply(kube_source_t *s, const kube_change_t *changes, size_t n);

/* Returns: the collection of |kind| (e.g. "HTTPRoute"), borrowed until the engine is freed, or
 * NULL for a kind not in kube_kinds. Borrows kind. */
krt_collection_t *kube_source_collection(const kube_source_t *s, const char *kind);

/* Returns: the number of distinct unknown kinds seen so far (each was logged once). */
size_t kube_source_unknown_kinds(const kube_source_t *s);

#ifdef __cplusplus
}
#endif
/* The budget for parsed JSON trees (krt_json_tree_limit) that krtgate's feeders set: every object
 * keeps its canonical bytes, and during a flush the trees of the most recently read ones (about
 * 8 MiB estimated) stay parsed. After each flush feeders call krt_json_trim_to(
 * KUBE_SOURCE_TREE_IDLE): between flushes no tree is kept, so the tree heap gives its pages back
 * (krt/json.h). A tree costs about sixteen times the packed bytes, so at agw-5k scale keeping every
 * tree triples the controller's memory (docs/bench.md). */
#define KUBE_SOURCE_TREE_BUDGET ((size_t)8 << 20)
#define KUBE_SOURCE_TREE_IDLE ((size_t)0)

#endif /* KUBE_SOURCE_H */
