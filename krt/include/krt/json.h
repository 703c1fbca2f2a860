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
 * Hash: XXH3 over the canonical form (compact, keys sorted), so key order in the source document
 * does not matter. Equality: canonical forms compared byte for byte (the type asks for it).
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

/* Accessors; every result is borrowed from |o| and never NULL for a string (empty if absent).
 * The value must not be modified: the object's hash, key and label views are computed from it. */
json_t *krt_json_value(const krt_obj_t *o);
const char *krt_json_name(const krt_obj_t *o);
const char *krt_json_namespace(const krt_obj_t *o);
const char *krt_json_kind(const krt_obj_t *o);
/* Returns: the string at a dotted path such as "status.podIP", or NULL. */
const char *krt_json_get_string(const krt_obj_t *o, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* KRT_JSON_H */
