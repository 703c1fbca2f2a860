/*
 * Manifest parsing (sans-IO): a buffer of multi-document YAML (or JSON, which is YAML) into
 * Kubernetes objects as jansson values, each with the position it came from.
 *
 * The caller reads the file and hands over its bytes with the name to use in messages; nothing
 * here touches the file system, a clock or a log. Scalars are typed as kubectl types them (it reads
 * YAML 1.1 through go-yaml v2): see docs/sources.md for the table; in short, plain true/false,
 * yes/no, on/off, y/n are booleans, null/~/empty are null, integers may be decimal, 0x hex, 0o or
 * leading-0 octal or 0b binary with '_' separators, floats keep JSON's meaning (an integral float
 * such as 80.0 becomes the integer 80, as it does after kubectl's YAML-to-JSON step), quoted and
 * block scalars are always strings. Anchors and aliases are resolved by copying, merge keys
 * ("<<") are applied, duplicate mapping keys are errors, empty documents are skipped, and the
 * items of a `kind: List` (or any `*List` with an `items` sequence) become objects of their own.
 *
 * Errors never stop the rest: the buffer is split into documents at `---` / `...` lines first, so a
 * syntax error costs only its own document. Every error message reads
 *     FILE:LINE:COLUMN: [Kind namespace/name: ]what went wrong
 * with the object's identity whenever the parser got far enough to read it.
 *
 * LIMITS (the defaults; kube_manifest_limits_t lowers or raises them per call):
 *   KUBE_MANIFEST_MAX_INPUT        16 MiB per buffer (one file)
 *   KUBE_MANIFEST_MAX_DOC           3 MiB per document (the API server's request body limit)
 *   KUBE_MANIFEST_MAX_DEPTH           100 nested mappings/sequences
 *   KUBE_MANIFEST_MAX_NODES       262144 nodes per document, alias and merge copies included
 *   KUBE_MANIFEST_MAX_ALIAS_NODES 262144 nodes copied by aliases and merges per buffer, so a
 *                                        "billion laughs" document costs at most that much
 *   KUBE_MANIFEST_MAX_ERRORS          100 error messages kept per buffer (the rest are counted)
 */
#ifndef KUBE_MANIFEST_H
#define KUBE_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

#include "kube/kube.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KUBE_MANIFEST_MAX_INPUT       ((size_t)16 << 20)
#define KUBE_MANIFEST_MAX_DOC         ((size_t)3 << 20)
#define KUBE_MANIFEST_MAX_DEPTH       ((size_t)100)
#define KUBE_MANIFEST_MAX_NODES       ((size_t)262144)
#define KUBE_MANIFEST_MAX_ALIAS_NODES ((size_t)262144)
#define KUBE_MANIFEST_MAX_ERRORS      ((size_t)100)

typedef struct kube_manifest_limits {
    size_t max_input;       /* bytes per buffer */
    size_t max_doc;         /* bytes per document */
    size_t max_depth;       /* nesting depth */
    size_t max_nodes;       /* nodes per document, copies included */
    size_t max_alias_nodes; /* nodes copied by aliases and merges, per buffer */
    size_t max_errors;      /* messages kept per buffer */
} kube_manifest_limits_t;

/* The defaults above. */
extern const kube_manifest_limits_t kube_manifest_default_limits;

/* One object of the buffer. */
typedef struct kube_manifest_item {
    json_t *object;  /* a JSON object with apiVersion, kind and metadata.name (strings); owned by
                        the manifest: json_incref it to keep it longer */
    unsigned line;   /* 1-based position of the object's first node (its document's root node, or
                        its entry in a List's items) */
    unsigned column; /* 1-based */
} kube_manifest_item_t;

typedef struct kube_manifest_error {
    unsigned line;   /* 1-based; 0 when the error is about the whole buffer */
    unsigned column; /* 1-based; 0 with line 0 */
    char *message;   /* "FILE:LINE:COL: ..." (or "FILE: ..." for the whole buffer); owned by the
                        manifest */
} kube_manifest_error_t;

/* The result of parsing one or more buffers: objects and errors in input order.
 * INVARIANTS
 *  M1 nitems <= cap_items, nerrors <= cap_errors, nerrors <= the max_errors of every parse
 *  M2 every items[i].object is a JSON object whose apiVersion and kind are non-empty strings and
 *     whose metadata.name is a non-empty string without '/' or NUL (metadata.namespace, when
 *     present, is too: a null or empty namespace is removed)
 *  M3 no items[i].object is shared with another item (they are independent values)  */
typedef struct kube_manifest {
    kube_manifest_item_t *items;
    size_t nitems;
    kube_manifest_error_t *errors;
    size_t nerrors;
    size_t errors_dropped; /* errors beyond max_errors: counted, not kept */
    size_t documents;      /* non-empty documents read (a List counts once) */
    size_t cap_items;      /* private */
    size_t cap_errors;     /* private */
} kube_manifest_t;

/* Makes |m| empty. */
void kube_manifest_init(kube_manifest_t *m);
/* Releases every object and message of |m| and makes it empty. */
void kube_manifest_dispose(kube_manifest_t *m);

/* Parses |buf| (|len| bytes, need not be NUL-terminated) and appends its objects and errors to |m|.
 * |file| names the buffer in messages. |limits| NULL means kube_manifest_default_limits.
 * Borrows file, buf, limits.
 * Returns: KUBE_OK when the buffer was read, whatever it held (problems with the input are in
 * m->errors: the call added errors iff the count grew); KUBE_EINVAL for NULL arguments;
 * KUBE_ENOMEM, in which case |m| is as it was before the call. */
int kube_manifest_parse(kube_manifest_t *m, const char *file, const void *buf, size_t len,
                        const kube_manifest_limits_t *limits);

/* Debug check of M1-M3. Borrows m. Returns: KUBE_OK, or KUBE_EINVAL when an invariant fails. */
int kube_manifest_check(const kube_manifest_t *m);

/* Writes "Kind namespace/name", "Kind name" or "Kind" (whatever |obj| has: it may be any JSON
 * value) into |buf|, NUL-terminated and truncated to |cap|. Borrows obj.
 * Returns: the length written (0 when |obj| has no string kind). */
size_t kube_object_describe(const json_t *obj, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_MANIFEST_H */
