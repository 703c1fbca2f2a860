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
 * The second decision: the canonical bytes are the value, the jansson tree is a cache. A tree
 * costs about eight times its compact text, and a controller holds every object of the cluster,
 * so an application may set a budget (krt_json_tree_limit) and call krt_json_trim() where no
 * tree is borrowed (after a flush): the least recently read trees are dropped and parsed again
 * when read. Without a budget nothing is ever dropped. Labels, the selector, key, name,
 * namespace and kind are copied into the object, so they never depend on the tree.
 *
 * Memory: the struct, both label arrays and every string above are one krt_malloc block; the
 * canonical bytes are a second krt_malloc block. jansson's own allocator is left alone (it is
 * process-global and belongs to the application), so the tree itself is allocated by jansson.
 */
#include "krt/json.h"

#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct krt_json {
    krt_obj_t base; /* first: the engine sees a krt_obj_t */
    /* The canonical bytes and the trimmable tree. Mutable behind the const object pointer: the
     * tree is a cache, not part of the value. */
    krt_json_lazy_t lz;
    const char *key, *name, *namespace_, *kind; /* point into this block */
    krt_label_t *labels; /* point into this block, strings too; nlabels items */
    size_t nlabels;
    krt_label_t *selector; /* point into this block; nselector items */
    size_t nselector;
    bool has_selector;
} krt_json_t;

/* The tree cache: every lazy value whose tree is parsed, on one of two lists, most recent first:
 *  FRESH  trees not read since their value was made (an object just ingested, a record just
 *         emitted): the flush that follows will read most of them, so the flush never drops them
 *         (that would parse them twice); krt_json_trim() does. An API object's tree read during
 *         the flush stays here too (marked seen) until that trim;
 *  READ   trees read at least once, in least-recently-read order: what the budget drops first.
 * Process-wide like jansson's allocator, and single-threaded like krt objects (their refcounts are
 * not atomic). */
enum { FRESH = 0, READ = 1 };

static struct {
    struct {
        krt_json_lazy_t *head, *tail;
    } list[2];
    size_t n, bytes, limit;
    /* Bumped before every transformation (krt__json_epoch_next). A tree read in the current
     * epoch may be borrowed by the code running now; older ones are borrowed by nobody, because
     * a transformation's borrowed pointers die with it. */
    uint64_t epoch;
    uint64_t parses; /* trees parsed again after a trim */
    size_t seen;     /* FRESH trees marked seen: krt_json_trim() walks FRESH only when nonzero */
} cache = {{{NULL, NULL}, {NULL, NULL}}, 0, 0, SIZE_MAX, 1, 0, 0};

void krt__json_epoch_next(void)
{
    cache.epoch++;
}

/* What a parsed tree costs, estimated from the canonical bytes: jansson allocates every node,
 * member and string separately, about eight times the compact text (measured on Pods and
 * HTTPRoutes with massif). */
static size_t tree_cost(const krt_json_lazy_t *l)
{
    return 8 * (l->len + 1);
}

static void lru_unlink(krt_json_lazy_t *l)
{
    int w = l->list;
    if (l->prev)
        l->prev->next = l->next;
    else
        cache.list[w].head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        cache.list[w].tail = l->prev;
    l->prev = l->next = NULL;
    if (l->seen) {
        l->seen = 0;
        cache.seen--;
    }
    cache.n--;
    cache.bytes -= tree_cost(l);
}

static void lru_push(krt_json_lazy_t *l, int w)
{
    l->list = (uint8_t)w;
    l->epoch = cache.epoch;
    l->prev = NULL;
    l->next = cache.list[w].head;
    if (cache.list[w].head)
        cache.list[w].head->prev = l;
    else
        cache.list[w].tail = l;
    cache.list[w].head = l;
    cache.n++;
    cache.bytes += tree_cost(l);
}

static void drop_tree(krt_json_lazy_t *l)
{
    lru_unlink(l);
    json_decref(l->tree);
    l->tree = NULL;
}

/* Keeps the cache within its budget while a flush runs: only trees read before, and last read
 * before the current epoch, can go, so nothing the running transformation holds is freed and
 * nothing waiting for its first reader is parsed twice. */
static void trim_unborrowed(void)
{
    krt_json_lazy_t *t;
    while (cache.bytes > cache.limit && (t = cache.list[READ].tail) && t->epoch < cache.epoch)
        drop_tree(t);
}

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

/* Returns: the bytes the string-valued members of |obj| take as "key\0value\0" copies. */
static size_t strings_bytes(const json_t *obj)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (json_is_string(v))
            n += strlen(k) + 1 + strlen(json_string_value(v)) + 1;
    }
    return n;
}

/* Copies |s| to |*cursor| and advances it. Returns: the copy. */
static const char *copy_str(char **cursor, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = memcpy(*cursor, s, n);
    *cursor += n;
    return d;
}

/* Writes the string-valued members of |obj| into |out| (room for count_strings(obj)), sorted,
 * with copies of their strings at |*cursor|: views must outlive a trimmed tree. Non-string values
 * are skipped: a label can only be a string. Returns the number written. */
static size_t fill_strings(const json_t *obj, krt_label_t *out, char **cursor)
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
        out[n].key = copy_str(cursor, k);
        out[n].value = copy_str(cursor, json_string_value(v));
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
 * Canonical form: exactly the bytes of json_dump_callback(JSON_COMPACT | JSON_SORT_KEYS), written
 * by canon_write into a krt_malloc buffer in one pass. jansson's writer spent most of a cold start's
 * ingest on bookkeeping (a formatted and hashed pointer per container to catch cycles, a key array
 * and a lookup per member); ours sorts members with their values and bounds nesting instead, and
 * leaves reals, escaped strings and anything deeper than CANON_DEPTH to jansson. Debug builds
 * compare every value with jansson's output.
 * ------------------------------------------------------------------------------------------- */
typedef struct canon_buf {
    char *p;
    size_t len, cap;
    bool oom;
} canon_buf_t;

/* jansson calls this once per token (a quote, a colon, a key), so the common case is a few bytes
 * into room that is already there; the NUL is written once, by krt_json_lazy_init. */
static int canon_append(const char *buf, size_t size, void *data)
{
    canon_buf_t *b = data;
    if (size < b->cap - b->len) { /* room for the bytes and the final NUL */
        char *d = b->p + b->len;
        if (size <= 8) {
            for (size_t i = 0; i < size; i++)
                d[i] = buf[i];
        } else {
            memcpy(d, buf, size);
        }
        b->len += size;
        return 0;
    }
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
    return 0;
}

static int canon_bytes(canon_buf_t *b, const char *p, size_t n)
{
    return canon_append(p, n, b);
}

/* Whether jansson would write |s| as is between quotes: printable ASCII but '"' and '\\'.
 * Anything else (escapes, UTF-8) is left to jansson. */
static bool plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static int canon_string(canon_buf_t *b, const char *s, size_t n)
{
    if (plain(s, n))
        return canon_bytes(b, "\"", 1) || canon_bytes(b, s, n) || canon_bytes(b, "\"", 1) ? -1
                                                                                            : 0;
    json_t *tmp = json_stringn(s, n);
    int rc = tmp ? json_dump_callback(tmp, canon_append, b, JSON_COMPACT | JSON_ENCODE_ANY) : -1;
    json_decref(tmp);
    return rc ? -1 : 0;
}

typedef struct canon_member {
    const char *key;
    size_t len;
    json_t *value;
} canon_member_t;

/* jansson's order for JSON_SORT_KEYS: bytes, then length. */
static int canon_member_cmp(const void *x, const void *y)
{
    const canon_member_t *a = x, *b = y;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Nesting past this is left to jansson, which also detects a cycle built by hand. */
#define CANON_DEPTH 256

/* Writes |v| in the canonical form, byte for byte what json_dump_callback(JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY) writes, without its per-container cycle bookkeeping (a
 * pointer formatted and hashed for every object and array) and member re-lookup. Reals and
 * strings that need escapes are written by jansson itself. Returns 0, 1 when nesting is too deep
 * (the caller falls back to jansson for the whole value), -1 on error. */
static int canon_write(canon_buf_t *b, json_t *v, unsigned depth)
{
    if (depth > CANON_DEPTH)
        return 1;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return canon_bytes(b, "null", 4);
    case JSON_TRUE:
        return canon_bytes(b, "true", 4);
    case JSON_FALSE:
        return canon_bytes(b, "false", 5);
    case JSON_INTEGER: {
        char d[24];
        size_t i = sizeof d;
        json_int_t x = json_integer_value(v);
        unsigned long long u = x < 0 ? 0ull - (unsigned long long)x : (unsigned long long)x;
        do {
            d[--i] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (x < 0)
            d[--i] = '-';
        return canon_bytes(b, d + i, sizeof d - i);
    }
    case JSON_REAL:
        return json_dump_callback(v, canon_append, b, JSON_COMPACT | JSON_ENCODE_ANY) ? -1 : 0;
    case JSON_STRING:
        return canon_string(b, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        if (canon_bytes(b, "[", 1))
            return -1;
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i && canon_bytes(b, ",", 1))
                return -1;
            int rc = canon_write(b, json_array_get(v, i), depth + 1);
            if (rc)
                return rc;
        }
        return canon_bytes(b, "]", 1);
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        canon_member_t small[16];
        canon_member_t *m = n <= 16 ? small : krt_malloc(n * sizeof *m);
        if (!m) {
            b->oom = true;
            return -1;
        }
        size_t k = 0;
        for (void *it = json_object_iter(v); it && k < n; it = json_object_iter_next(v, it))
            m[k++] = (canon_member_t){json_object_iter_key(it), json_object_iter_key_len(it),
                                      json_object_iter_value(it)};
        qsort(m, k, sizeof *m, canon_member_cmp);
        int rc = canon_bytes(b, "{", 1);
        for (size_t i = 0; i < k && !rc; i++) {
            if (i)
                rc = canon_bytes(b, ",", 1);
            if (!rc)
                rc = canon_string(b, m[i].key, m[i].len);
            if (!rc)
                rc = canon_bytes(b, ":", 1);
            if (!rc)
                rc = canon_write(b, m[i].value, depth + 1);
        }
        if (m != small)
            krt_free(m);
        return rc ? rc : canon_bytes(b, "}", 1);
    }
    }
    return -1;
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
    return krt_hash_bytes(j->lz.canonical, j->lz.len, 0);
}

static bool json_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const krt_json_t *x = as_json(a), *y = as_json(b);
    return krt_json_lazy_equal(&x->lz, &y->lz);
}

static void json_obj_free(krt_obj_t *o)
{
    krt_json_t *j = (krt_json_t *)o;
    krt_json_lazy_dispose(&j->lz);
    krt_free(j);
}

/* A deep copy, so a caller that edits its dump cannot reach into the object's value. */
static json_t *json_dump_obj(const krt_obj_t *o)
{
    return json_deep_copy(krt_json_value(o));
}

/* The block and the canonical bytes, plus the estimated tree while it is parsed. */
static size_t json_size(const krt_obj_t *o)
{
    const krt_json_t *j = as_json(o);
    size_t n = sizeof *j + (j->nlabels + j->nselector) * (sizeof(krt_label_t) + 16) +
               2 * strlen(j->key) + 8;
    return n + krt_json_lazy_size(&j->lz);
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
    const char *kind = json_string_value(json_object_get(value, "kind"));
    if (!kind)
        kind = "";
    size_t nlabels = count_strings(labels), nselector = count_strings(selector);
    /* An empty namespace is cluster-scoped too: its key is "name", never "/name". */
    size_t ns_len = strlen(ns_str), name_len = strlen(name_str), kind_len = strlen(kind);
    size_t key_len = ns_len ? ns_len + 1 + name_len : name_len;
    size_t lstr = strings_bytes(labels), sstr = strings_bytes(selector);

    /* Sizes come from the document; guard the sum before allocating. */
    size_t arrays = nlabels + nselector;
    if (arrays > (SIZE_MAX - sizeof(krt_json_t)) / sizeof(krt_label_t) / 2 ||
        key_len > SIZE_MAX / 8 || kind_len > SIZE_MAX / 8 || lstr > SIZE_MAX / 8 ||
        sstr > SIZE_MAX / 8)
        return fail(value, err, KRT_ENOMEM);
    size_t arrays_bytes = arrays * sizeof(krt_label_t);
    size_t strings = key_len + 1 + ns_len + 1 + name_len + 1 + kind_len + 1 + lstr + sstr;
    /* Layout: the struct, the label and selector items (pointer-aligned after the struct), then
     * every string the views and accessors hand out, so none depends on the tree. */
    krt_json_t *j = krt_malloc(sizeof *j + arrays_bytes + strings);
    if (!j)
        return fail(value, err, KRT_ENOMEM);
    memset(j, 0, sizeof *j);
    j->labels = (krt_label_t *)(j + 1);
    j->selector = j->labels + nlabels;
    char *cur = (char *)(j->labels + arrays);
    char *keyp = cur;
    if (ns_len) {
        memcpy(keyp, ns_str, ns_len);
        keyp[ns_len] = '/';
        memcpy(keyp + ns_len + 1, name_str, name_len);
    } else {
        memcpy(keyp, name_str, name_len);
    }
    keyp[key_len] = '\0';
    cur += key_len + 1;
    j->key = keyp;
    j->namespace_ = copy_str(&cur, ns_str);
    j->name = copy_str(&cur, name_str);
    j->kind = copy_str(&cur, kind);
    j->nlabels = fill_strings(labels, j->labels, &cur);
    j->nselector = fill_strings(selector, j->selector, &cur);
    j->has_selector = selector != NULL;

    int rc = krt_json_lazy_init(&j->lz, value);
    if (rc != KRT_OK) {
        krt_free(j);
        if (err)
            *err = rc;
        return NULL;
    }
    j->lz.input = 1;
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
    krt_json_t *j = (krt_json_t *)checked(o);
    return j ? krt_json_lazy_get(&j->lz) : NULL;
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
    return j ? j->kind : "";
}

const char *krt_json_get_string(const krt_obj_t *o, const char *path)
{
    if (!checked(o) || !path || !*path)
        return NULL;
    const json_t *cur = krt_json_value(o);
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

/* ---------------------------------------------------------------------------------------------
 * The tree cache.
 * ------------------------------------------------------------------------------------------- */
void krt_json_tree_limit(size_t bytes)
{
    cache.limit = bytes;
}

size_t krt_json_trim(void)
{
    /* FRESH trees read since they were made become the most recently read, oldest first, so
     * the budget keeps the trees the last flush read rather than those it only made. */
    for (krt_json_lazy_t *t = cache.list[FRESH].tail, *prev; t && cache.seen; t = prev) {
        prev = t->prev;
        if (t->seen) {
            uint64_t epoch = t->epoch;
            lru_unlink(t);
            lru_push(t, READ);
            t->epoch = epoch;
        }
    }
    size_t dropped = 0;
    for (int w = READ; w >= FRESH; w--)
        while (cache.bytes > cache.limit && cache.list[w].tail) {
            drop_tree(cache.list[w].tail);
            dropped++;
        }
    return dropped;
}

int krt_json_lazy_init(krt_json_lazy_t *l, json_t *value)
{
    memset(l, 0, sizeof *l);
    canon_buf_t b = {0};
    int wrc = value ? canon_write(&b, value, 0) : -1;
    if (wrc == 1) { /* too deep for our writer: jansson's, which also catches a cycle */
        b.len = 0;
        wrc = json_dump_callback(value, canon_append, &b,
                                 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    }
#ifndef NDEBUG
    if (wrc == 0) { /* debug builds check the writer against jansson's on every value */
        char *want = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (want && (strlen(want) != b.len || memcmp(want, b.p, b.len) != 0)) {
            fprintf(stderr, "krt_json: canonical writer differs from jansson:\n%s\n%.*s\n", want,
                    (int)b.len, b.p);
            abort();
        }
        json_free_t jfree = free;
        json_get_alloc_funcs(NULL, &jfree);
        jfree(want);
    }
#endif
    if (wrc != 0) {
        /* Not out of memory: the tree cannot be serialized (a cycle built by hand, say). */
        int rc = b.oom ? KRT_ENOMEM : KRT_EINVAL;
        krt_free(b.p);
        json_decref(value);
        return rc;
    }
    if (!b.p) { /* unreachable ("null" at least), but keep canonical non-NULL */
        json_decref(value);
        return KRT_EINVAL;
    }
    b.p[b.len] = '\0'; /* canon_append keeps room for it */
    /* Doubling leaves up to half the buffer unused; values live long, so give it back. A failed
     * shrink keeps the larger buffer, which is still correct. */
    if (b.cap - b.len > 64) {
        char *p = krt_realloc(b.p, b.len + 1);
        if (p)
            b.p = p;
    }
    l->canonical = b.p;
    l->len = b.len;
    l->tree = value;
    lru_push(l, FRESH);
    trim_unborrowed();
    return KRT_OK;
}

json_t *krt_json_lazy_get(krt_json_lazy_t *l)
{
    if (l->tree) {
        if (l->list == FRESH && l->epoch == cache.epoch) {
            /* Read by the transformation that made it (an index function, a comparison at
             * emit): not yet by the readers it was made for. */
        } else if (l->list == FRESH && l->input) {
            /* Stays FRESH until the next krt_json_trim(): a big flush (the cold start) holds
             * more FRESH trees than the budget, so moving it to READ would drop it as soon as
             * this transformation ends, and the next collection reading it would parse it
             * again (at agw-5k, 15,609 parses during the cold start). */
            if (!l->seen) {
                l->seen = 1;
                cache.seen++;
            }
        } else if (cache.list[READ].head != l) { /* most recently read first */
            lru_unlink(l);
            lru_push(l, READ);
        }
        l->epoch = cache.epoch;
        return l->tree;
    }
    /* Trimmed: the canonical bytes are the value. NULL only when jansson runs out of memory,
     * which readers already treat as an absent field. NUL is allowed: json_stringn can hold
     * one and the canonical form escapes it. */
    l->tree = json_loadb(l->canonical, l->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (l->tree) {
        cache.parses++;
        lru_push(l, READ);
        trim_unborrowed();
    }
    return l->tree;
}

bool krt_json_lazy_equal(const krt_json_lazy_t *a, const krt_json_lazy_t *b)
{
    return a->len == b->len && memcmp(a->canonical, b->canonical, a->len) == 0;
}

size_t krt_json_lazy_size(const krt_json_lazy_t *l)
{
    return l->len + 1 + (l->tree ? tree_cost(l) : 0);
}

void krt_json_lazy_dispose(krt_json_lazy_t *l)
{
    if (l->tree) {
        lru_unlink(l);
        json_decref(l->tree);
    }
    krt_free(l->canonical);
    memset(l, 0, sizeof *l);
}

void krt_json_tree_stats(size_t *trees, size_t *bytes, uint64_t *parses)
{
    if (parses)
        *parses = cache.parses;
    if (trees)
        *trees = cache.n;
    if (bytes)
        *bytes = cache.bytes;
}
