/*
 * The JSON object type: a Kubernetes-style API object (a jansson value) wrapped as a krt object, so
 * sources can put API objects straight into static collections (contract in
 * krt/include/krt/json.h).
 *
 * The key decision: each object serializes its value once, at creation, into a canonical form
 * (compact, keys sorted) and keeps it. The hash is XXH3 over those bytes and equality compares them
 * byte for byte, so two documents that differ only in key order or whitespace are equal, and an
 * equal hash is never trusted on its own. The alternative, json_equal() on the trees, walks two
 * hash tables per comparison and has no matching hash; keeping the bytes costs about one copy of
 * the document per object.
 *
 * Labels and the selector are views (krt_label_t arrays) whose strings point into the jansson
 * value, sorted once at creation. The object owns the value, so the views stay valid for its
 * lifetime; the value must therefore never be mutated once the object exists.
 *
 * Memory: the struct, both label arrays and the key are one krt_malloc block; the canonical bytes
 * are a second krt_malloc block. jansson's own allocator is left alone (it is process-global and
 * belongs to the application), so the tree itself is allocated by jansson.
 */
#include "krt/json.h"

#include <string.h>

typedef struct krt_json {
    krt_obj_t base;         /* first: the engine sees a krt_obj_t */
    json_t *value;          /* owned; never mutated after creation */
    const char *name;       /* borrowed from value */
    const char *namespace_; /* borrowed from value; "" when cluster-scoped */
    char *canonical;        /* owned (krt_malloc), canon_len bytes plus a NUL */
    size_t canon_len;
    krt_label_t *labels; /* points into this block; nlabels items */
    size_t nlabels;
    krt_label_t *selector; /* points into this block; nselector items */
    size_t nselector;
    bool has_selector;
    char key[]; /* "ns/name" or "name" */
} krt_json_t;

static const krt_json_t *as_json(const krt_obj_t *o)
{
    return (const krt_json_t *)o;
}

/* ---------------------------------------------------------------------------------------------
 * Reading the value. Everything here tolerates any shape: a field of the wrong type counts as
 * absent.
 * ------------------------------------------------------------------------------------------- */

/* Returns: the object at |key| in |obj|, or NULL when |obj| is not an object or the member is
 * missing or not an object. */
static json_t *get_object(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

/* Counts the string-valued members of |obj| (NULL counts 0). */
static size_t count_strings(const json_t *obj)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (json_is_string(v))
            n++;
    }
    return n;
}

/* Writes the string-valued members of |obj| into |out| (room for count_strings(obj)), sorted.
 * Non-string values are skipped: a label can only be a string. Returns the number written. */
static size_t fill_strings(const json_t *obj, krt_label_t *out)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!json_is_string(v))
            continue;
        out[n].key = k;
        out[n].value = json_string_value(v);
        n++;
    }
    krt_labels_sort(out, n);
    return n;
}

/* Finds the selector map, in the order json.h documents: spec.selector when every member is a
 * string (Service style), else spec.selector.matchLabels, else spec.podSelector.matchLabels.
 * Returns: the map, or NULL when the object has none. */
static json_t *find_selector(const json_t *value)
{
    json_t *spec = get_object(value, "spec");
    json_t *sel = get_object(spec, "selector");
    if (sel) {
        if (count_strings(sel) == json_object_size(sel))
            return sel;
        json_t *ml = get_object(sel, "matchLabels");
        if (ml)
            return ml;
    }
    return get_object(get_object(spec, "podSelector"), "matchLabels");
}

/* ---------------------------------------------------------------------------------------------
 * Canonical form: json_dump_callback into a krt_malloc buffer, one pass, no jansson allocation for
 * the output.
 * ------------------------------------------------------------------------------------------- */
typedef struct canon_buf {
    char *p;
    size_t len, cap;
    bool oom;
} canon_buf_t;

static int canon_append(const char *buf, size_t size, void *data)
{
    canon_buf_t *b = data;
    if (size + 1 > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (size + 1 > cap - b->len) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return -1;
            }
            cap *= 2;
        }
        char *p = krt_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, buf, size);
    b->len += size;
    b->p[b->len] = '\0';
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The type.
 * ------------------------------------------------------------------------------------------- */
static const char *json_key(const krt_obj_t *o)
{
    return as_json(o)->key;
}

static uint64_t json_hash(const krt_obj_t *o)
{
    const krt_json_t *j = as_json(o);
    return krt_hash_bytes(j->canonical, j->canon_len, 0);
}

static bool json_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const krt_json_t *x = as_json(a), *y = as_json(b);
    return x->canon_len == y->canon_len && memcmp(x->canonical, y->canonical, x->canon_len) == 0;
}

static void json_obj_free(krt_obj_t *o)
{
    krt_json_t *j = (krt_json_t *)o;
    json_decref(j->value);
    krt_free(j->canonical);
    krt_free(j);
}

/* A deep copy, so a caller that edits its dump cannot reach into the object's value. */
static json_t *json_dump_obj(const krt_obj_t *o)
{
    return json_deep_copy(as_json(o)->value);
}

/* The block and the canonical bytes, plus the canonical length again as a floor for jansson's tree
 * (which is larger: every node is a separate allocation). */
static size_t json_size(const krt_obj_t *o)
{
    const krt_json_t *j = as_json(o);
    return sizeof *j + (j->nlabels + j->nselector) * sizeof(krt_label_t) + strlen(j->key) + 1 +
           2 * (j->canon_len + 1);
}

static bool json_labels(const krt_obj_t *o, krt_labels_t *out)
{
    const krt_json_t *j = as_json(o);
    /* Every API object has a label set, possibly empty: an empty view, not "none". */
    out->items = j->labels;
    out->len = j->nlabels;
    return true;
}

static bool json_selector(const krt_obj_t *o, krt_labels_t *out)
{
    const krt_json_t *j = as_json(o);
    if (!j->has_selector) {
        out->items = NULL;
        out->len = 0;
        return false;
    }
    out->items = j->selector;
    out->len = j->nselector;
    return true;
}

static const char *json_namespace(const krt_obj_t *o)
{
    return as_json(o)->namespace_;
}

const krt_type_t krt_json_type = {
    .name = "json",
    .flags = 0, /* equality is a byte compare of canonical forms, not the hash */
    .key = json_key,
    .hash = json_hash,
    .equals = json_equals,
    .free = json_obj_free,
    .dump = json_dump_obj,
    .size = json_size,
    .labels = json_labels,
    .selector = json_selector,
    .namespace_ = json_namespace,
};

/* ---------------------------------------------------------------------------------------------
 * Construction.
 * ------------------------------------------------------------------------------------------- */
static const krt_obj_t *fail(json_t *value, int *err, int rc)
{
    json_decref(value);
    if (err)
        *err = rc;
    return NULL;
}

const krt_obj_t *krt_json_new(json_t *value, int *err)
{
    json_t *meta = get_object(value, "metadata");
    if (!json_is_object(value) || !meta)
        return fail(value, err, KRT_EINVAL);

    /* Names are C strings from here on: one holding a NUL (json_stringn) would be cut short. */
    json_t *name = json_object_get(meta, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        strlen(json_string_value(name)) != json_string_length(name))
        return fail(value, err, KRT_EINVAL);
    /* Absent and JSON null both mean cluster-scoped (as Kubernetes' own decoder reads null). */
    json_t *ns = json_object_get(meta, "namespace");
    if (ns && !json_is_null(ns) &&
        (!json_is_string(ns) || strlen(json_string_value(ns)) != json_string_length(ns)))
        return fail(value, err, KRT_EINVAL);
    const char *ns_str = json_is_string(ns) ? json_string_value(ns) : "";
    const char *name_str = json_string_value(name);
    /* Kubernetes forbids '/' in both; allowing it would let "a"+"b/c" and "a/b"+"c" share a key. */
    if (strchr(name_str, '/') || strchr(ns_str, '/'))
        return fail(value, err, KRT_EINVAL);

    json_t *labels = get_object(meta, "labels");
    json_t *selector = find_selector(value);
    size_t nlabels = count_strings(labels), nselector = count_strings(selector);
    /* An empty namespace is cluster-scoped too: its key is "name", never "/name". */
    size_t ns_len = strlen(ns_str), name_len = strlen(name_str);
    size_t key_len = ns_len ? ns_len + 1 + name_len : name_len;

    /* Sizes come from the document; guard the sum before allocating. */
    size_t arrays = nlabels + nselector;
    if (arrays > (SIZE_MAX - sizeof(krt_json_t)) / sizeof(krt_label_t) / 2 ||
        key_len > SIZE_MAX / 4)
        return fail(value, err, KRT_ENOMEM);
    size_t arrays_bytes = arrays * sizeof(krt_label_t);
    krt_json_t *j = krt_malloc(sizeof *j + key_len + 1 + arrays_bytes + _Alignof(krt_label_t));
    if (!j)
        return fail(value, err, KRT_ENOMEM);
    memset(j, 0, sizeof *j);

    /* Layout after the struct: key bytes, padding, then labels and selector items. */
    char *keyp = j->key;
    if (ns_len) {
        memcpy(keyp, ns_str, ns_len);
        keyp[ns_len] = '/';
        memcpy(keyp + ns_len + 1, name_str, name_len);
    } else {
        memcpy(keyp, name_str, name_len);
    }
    keyp[key_len] = '\0';
    uintptr_t items = (uintptr_t)(keyp + key_len + 1);
    items = (items + _Alignof(krt_label_t) - 1) & ~(uintptr_t)(_Alignof(krt_label_t) - 1);
    j->labels = (krt_label_t *)items;
    j->selector = j->labels + nlabels;
    j->nlabels = fill_strings(labels, j->labels);
    j->nselector = fill_strings(selector, j->selector);
    j->has_selector = selector != NULL;

    canon_buf_t b = {0};
    if (json_dump_callback(value, canon_append, &b, JSON_COMPACT | JSON_SORT_KEYS) != 0) {
        /* Not out of memory: the tree cannot be serialized (a cycle built by hand, say). */
        int rc = b.oom ? KRT_ENOMEM : KRT_EINVAL;
        krt_free(b.p);
        krt_free(j);
        return fail(value, err, rc);
    }
    if (!b.p) { /* unreachable for an object ("{}" at least), but keep canonical non-NULL */
        krt_free(j);
        return fail(value, err, KRT_EINVAL);
    }
    /* Doubling leaves up to half the buffer unused; objects live long, so give it back. A failed
     * shrink keeps the larger buffer, which is still correct. */
    if (b.cap - b.len > 64) {
        char *p = krt_realloc(b.p, b.len + 1);
        if (p)
            b.p = p;
    }
    j->canonical = b.p;
    j->canon_len = b.len;
    j->value = value;
    j->name = name_str;
    j->namespace_ = ns_str;
    krt_obj_seal(&j->base, &krt_json_type);
    if (err)
        *err = KRT_OK;
    return &j->base;
}

const krt_obj_t *krt_json_parse(const char *text, size_t len, int *err)
{
    if (!text) {
        if (err)
            *err = KRT_EINVAL;
        return NULL;
    }
    json_error_t jerr;
    /* Flags 0: the root must be an array or object and nothing may follow it. Duplicate keys are
     * accepted (the last wins), as Kubernetes' decoder accepts them. */
    json_t *v = json_loadb(text, len, 0, &jerr);
    if (!v) {
        if (err)
            *err = KRT_EINVAL;
        return NULL;
    }
    return krt_json_new(v, err);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors.
 * ------------------------------------------------------------------------------------------- */
/* A NULL object or one of another type reads as empty rather than as a stray struct. */
static const krt_json_t *checked(const krt_obj_t *o)
{
    return o && o->type == &krt_json_type ? as_json(o) : NULL;
}

json_t *krt_json_value(const krt_obj_t *o)
{
    const krt_json_t *j = checked(o);
    return j ? j->value : NULL;
}

const char *krt_json_name(const krt_obj_t *o)
{
    const krt_json_t *j = checked(o);
    return j ? j->name : "";
}

const char *krt_json_namespace(const krt_obj_t *o)
{
    const krt_json_t *j = checked(o);
    return j ? j->namespace_ : "";
}

const char *krt_json_kind(const krt_obj_t *o)
{
    const krt_json_t *j = checked(o);
    const char *s = j ? json_string_value(json_object_get(j->value, "kind")) : NULL;
    return s ? s : "";
}

const char *krt_json_get_string(const krt_obj_t *o, const char *path)
{
    const krt_json_t *j = checked(o);
    if (!j || !path || !*path)
        return NULL;
    const json_t *cur = j->value;
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
        if (n == 0 || !json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, seg, n);
        if (!cur)
            return NULL;
        if (!dot)
            break;
        seg = dot + 1;
    }
    return json_string_value(cur); /* NULL when not a string */
}
