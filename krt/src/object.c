/*
 * Errors, allocation hooks, hashing, labels and the object model (refcounted immutable objects
 * with a type descriptor).
 *
 * Equality is hash-first and explicit: two objects are equal when their cached XXH3 hashes match
 * and the type's equals agrees, or, for a type that declares KRT_TYPE_HASH_IS_EQUALITY, on the
 * hashes alone. There is no generic deep-compare fallback (agentgateway#2704 shows how a silent
 * fallback hides broken Equals methods).
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "base.h"

/* ---- errors ------------------------------------------------------------------------------- */

const char *krt_strerror(int rc)
{
    switch (rc) {
#define KRT__ERR_STR(name, code, msg)                                                              \
    case code:                                                                                     \
        return msg;
        KRT_ERRNO_MAP(KRT__ERR_STR)
#undef KRT__ERR_STR
    }
    return "unknown error";
}

const char *krt_err_name(int rc)
{
    switch (rc) {
#define KRT__ERR_NAME(name, code, msg)                                                             \
    case code:                                                                                     \
        return "KRT_" #name;
        KRT_ERRNO_MAP(KRT__ERR_NAME)
#undef KRT__ERR_NAME
    }
    return "KRT_UNKNOWN";
}

/* ---- allocation ---------------------------------------------------------------------------- */

static void *libc_malloc(size_t size, void *ud)
{
    KRT__UNUSED(ud);
    return malloc(size);
}
static void *libc_realloc(void *p, size_t size, void *ud)
{
    KRT__UNUSED(ud);
    return realloc(p, size);
}
static void libc_free(void *p, void *ud)
{
    KRT__UNUSED(ud);
    free(p);
}

static krt_allocator_t alloc = {libc_malloc, libc_realloc, libc_free, NULL};

void krt_allocator_set(const krt_allocator_t *a)
{
    if (a)
        alloc = *a;
    else
        alloc = (krt_allocator_t){libc_malloc, libc_realloc, libc_free, NULL};
}

void *krt_malloc(size_t size)
{
    return alloc.malloc(size ? size : 1, alloc.ud);
}

void *krt_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = krt_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *krt_realloc(void *ptr, size_t size)
{
    return alloc.realloc(ptr, size ? size : 1, alloc.ud);
}

void krt_free(void *ptr)
{
    if (ptr)
        alloc.free(ptr, alloc.ud);
}

char *krt_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = krt_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* ---- hashing ------------------------------------------------------------------------------- */

uint64_t krt_hash_bytes(const void *p, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, len, seed);
}

uint64_t krt_hash_str(const char *s, uint64_t seed)
{
    if (!s)
        return krt__mix64(seed ^ 0x9e3779b97f4a7c15ULL);
    return XXH3_64bits_withSeed(s, strlen(s), seed);
}

uint64_t krt_hash_combine(uint64_t a, uint64_t b)
{
    return krt__mix64(a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2)));
}

/* ---- labels -------------------------------------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
    const krt_label_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

void krt_labels_sort(krt_label_t *items, size_t len)
{
    if (len > 1)
        qsort(items, len, sizeof(*items), label_cmp);
}

bool krt_labels_contain(const krt_labels_t *have, const krt_labels_t *want)
{
    if (!want || want->len == 0)
        return true;
    if (!have)
        return false;
    for (size_t i = 0; i < want->len; i++) {
        bool found = false;
        /* Values tell pairs apart more often than keys do ("app" is everywhere): compare them
         * first, and skip strcmp when the strings are shared. */
        for (size_t j = 0; j < have->len && !found; j++) {
            const krt_label_t *h = &have->items[j], *w = &want->items[i];
            found = (h->value == w->value || strcmp(h->value, w->value) == 0) &&
                    (h->key == w->key || strcmp(h->key, w->key) == 0);
        }
        if (!found)
            return false;
    }
    return true;
}

/* ---- objects ------------------------------------------------------------------------------- */

int krt_type_check(const krt_type_t *t)
{
    if (!t || !t->key || !t->hash || !t->free || !t->dump)
        return KRT_ETYPE;
    if (!t->equals && !(t->flags & KRT_TYPE_HASH_IS_EQUALITY))
        return KRT_ETYPE;
    return KRT_OK;
}

void krt_obj_seal(krt_obj_t *o, const krt_type_t *t)
{
    o->type = t;
    o->refs = 1;
    o->reserved = 0;
    o->hash = t->hash(o);
}

const krt_obj_t *krt_obj_retain(const krt_obj_t *o)
{
    if (o)
        ((krt_obj_t *)o)->refs++;
    return o;
}

void krt_obj_release(const krt_obj_t *o)
{
    if (!o)
        return;
    krt_obj_t *m = (krt_obj_t *)o;
    if (--m->refs == 0)
        m->type->free(m);
}

const char *krt_obj_key(const krt_obj_t *o)
{
    return o->type->key(o);
}

bool krt_obj_equal(const krt_obj_t *a, const krt_obj_t *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->type != b->type || a->hash != b->hash)
        return false;
    if (a->type->flags & KRT_TYPE_HASH_IS_EQUALITY)
        return true;
    return a->type->equals(a, b);
}

json_t *krt_obj_dump(const krt_obj_t *o)
{
    return o->type->dump(o);
}

const krt_obj_t *krt_event_latest(const krt_event_t *ev)
{
    return ev->cur ? ev->cur : ev->old;
}
