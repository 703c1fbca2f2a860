/*
 * Engine containers: growable arrays, the uint64 hash map and the key interner (see base.h).
 *
 * The map uses linear probing with backward-shift deletion rather than tombstones: the engine's
 * tables see constant churn (reverse indexes are rewritten on every recompute) and tombstones would
 * force periodic rehashing to keep probe lengths short.
 */
#include "base.h"

#include <stdlib.h>

int krt__vec_reserve(krt__vec_t *v, size_t size, size_t n)
{
    if ((size_t)v->len + n <= v->cap)
        return KRT_OK;
    size_t cap = v->cap ? (size_t)v->cap * 2 : 8;
    while (cap < (size_t)v->len + n)
        cap *= 2;
    if (cap > UINT32_MAX)
        return KRT_ENOMEM;
    void *p = krt_realloc(v->data, cap * size);
    if (!p)
        return KRT_ENOMEM;
    v->data = p;
    v->cap = (uint32_t)cap;
    return KRT_OK;
}

int krt__vec_push(krt__vec_t *v, size_t size, const void *elem)
{
    if (krt__vec_reserve(v, size, 1) != KRT_OK)
        return KRT_ENOMEM;
    memcpy((char *)v->data + (size_t)v->len * size, elem, size);
    v->len++;
    return KRT_OK;
}

void krt__vec_shrink(krt__vec_t *v, size_t size, uint32_t keep)
{
    if (keep < v->len)
        keep = v->len;
    if (keep >= v->cap)
        return;
    if (keep == 0) {
        krt__vec_dispose(v);
        return;
    }
    void *p = krt_realloc(v->data, (size_t)keep * size);
    if (!p)
        return; /* the larger block stays: still correct */
    v->data = p;
    v->cap = keep;
}

void krt__vec_dispose(krt__vec_t *v)
{
    krt_free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

/* ---- maps ---------------------------------------------------------------------------------- */

/* One algorithm, two key widths (base.h): krt__map_t with 64-bit keys and krt__imap_t with 32-bit
 * keys (interned ids). KRT__MAP_DEFINE writes resize, upsert, put, del and dispose for one of
 * them, so a fix to the probing lands in both.
 *
 * Keys and values share one allocation (values after the keys): one malloc header instead of
 * two, which counts for the many small maps (sets of a few inputs); with at least 4 slots the
 * values stay 8-byte aligned after 32-bit keys too.
 *
 * Growth: the load factor stays under 3/4. Only an insertion grows the table, so finding a key
 * never fails, and room made by krt__map_reserve is not spent on keys already there. The first
 * table has 4 slots: most sets of inputs hold two (one is held inline, see derive.c).
 *
 * Deletion is by backward shift: later members of the probe run move into the hole when their
 * home slot does not lie cyclically in (hole, j], so there are no tombstones. */
#define KRT__MAP_DEFINE(PFX, MAP, KEY, EMPTY)                                                    \
    static int PFX##_resize(MAP *m, uint32_t cap)                                                \
    {                                                                                            \
        KEY *keys = krt_malloc((size_t)cap * (sizeof(KEY) + sizeof(uint64_t)));                  \
        if (!keys)                                                                               \
            return KRT_ENOMEM;                                                                   \
        uint64_t *vals = (uint64_t *)(void *)(keys + cap);                                       \
        memset(keys, 0xff, (size_t)cap * sizeof(KEY));                                           \
        uint32_t mask = cap - 1;                                                                 \
        for (uint32_t i = 0; i < m->cap; i++) {                                                  \
            if (m->keys[i] == EMPTY)                                                             \
                continue;                                                                        \
            uint32_t j = (uint32_t)krt__mix64(m->keys[i]) & mask;                                \
            while (keys[j] != EMPTY)                                                             \
                j = (j + 1) & mask;                                                              \
            keys[j] = m->keys[i];                                                                \
            vals[j] = m->vals[i];                                                                \
        }                                                                                        \
        krt_free(m->keys);                                                                       \
        m->keys = keys;                                                                          \
        m->vals = vals;                                                                          \
        m->cap = cap;                                                                            \
        return KRT_OK;                                                                           \
    }                                                                                            \
                                                                                                 \
    uint64_t *PFX##_upsert(MAP *m, KEY key, uint64_t init, bool *inserted)                       \
    {                                                                                            \
        uint32_t mask = m->cap - 1, i = 0;                                                       \
        if (m->cap) {                                                                            \
            for (i = (uint32_t)krt__mix64(key) & mask;; i = (i + 1) & mask) {                    \
                if (m->keys[i] == key) {                                                         \
                    if (inserted)                                                                \
                        *inserted = false;                                                       \
                    return &m->vals[i];                                                          \
                }                                                                                \
                if (m->keys[i] == EMPTY)                                                         \
                    break;                                                                       \
            }                                                                                    \
        }                                                                                        \
        if ((uint64_t)(m->len + 1) * 4 > (uint64_t)m->cap * 3) {                                 \
            if (PFX##_resize(m, m->cap ? m->cap * 2 : 4) != KRT_OK)                              \
                return NULL;                                                                     \
            mask = m->cap - 1;                                                                   \
            for (i = (uint32_t)krt__mix64(key) & mask; m->keys[i] != EMPTY; i = (i + 1) & mask)  \
                ;                                                                                \
        }                                                                                        \
        m->keys[i] = key;                                                                        \
        m->vals[i] = init;                                                                       \
        m->len++;                                                                                \
        if (inserted)                                                                            \
            *inserted = true;                                                                    \
        return &m->vals[i];                                                                      \
    }                                                                                            \
                                                                                                 \
    int PFX##_put(MAP *m, KEY key, uint64_t val)                                                 \
    {                                                                                            \
        uint64_t *slot = PFX##_upsert(m, key, val, NULL);                                        \
        if (!slot)                                                                               \
            return KRT_ENOMEM;                                                                   \
        *slot = val;                                                                             \
        return KRT_OK;                                                                           \
    }                                                                                            \
                                                                                                 \
    bool PFX##_del(MAP *m, KEY key, uint64_t *val)                                               \
    {                                                                                            \
        if (m->len == 0)                                                                         \
            return false;                                                                        \
        uint32_t mask = m->cap - 1;                                                              \
        uint32_t i = (uint32_t)krt__mix64(key) & mask;                                           \
        for (;; i = (i + 1) & mask) {                                                            \
            if (m->keys[i] == key)                                                               \
                break;                                                                           \
            if (m->keys[i] == EMPTY)                                                             \
                return false;                                                                    \
        }                                                                                        \
        if (val)                                                                                 \
            *val = m->vals[i];                                                                   \
        uint32_t hole = i;                                                                       \
        for (uint32_t j = (i + 1) & mask; m->keys[j] != EMPTY; j = (j + 1) & mask) {             \
            uint32_t home = (uint32_t)krt__mix64(m->keys[j]) & mask;                             \
            bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j); \
            if (!in_range) {                                                                     \
                m->keys[hole] = m->keys[j];                                                      \
                m->vals[hole] = m->vals[j];                                                      \
                hole = j;                                                                        \
            }                                                                                    \
        }                                                                                        \
        m->keys[hole] = EMPTY;                                                                   \
        m->len--;                                                                                \
        return true;                                                                             \
    }                                                                                            \
                                                                                                 \
    void PFX##_dispose(MAP *m)                                                                   \
    {                                                                                            \
        krt_free(m->keys);                                                                       \
        memset(m, 0, sizeof(*m));                                                                \
    }

KRT__MAP_DEFINE(krt__map, krt__map_t, uint64_t, KRT__MAP_EMPTY)
KRT__MAP_DEFINE(krt__imap, krt__imap_t, uint32_t, KRT__IMAP_EMPTY)

int krt__map_reserve(krt__map_t *m, uint32_t n)
{
    uint64_t need = (uint64_t)m->len + n;
    uint64_t cap = m->cap ? m->cap : 4;
    while (need * 4 > cap * 3)
        cap *= 2;
    if (cap > UINT32_MAX)
        return KRT_ENOMEM;
    return cap == m->cap ? KRT_OK : krt__map_resize(m, (uint32_t)cap);
}

bool krt__scratch_clear(krt__map_t *m, uint32_t used, bool *hot)
{
    /* Scratch maps are cleared every flush and walked by capacity: after one large flush, a
     * table sized for it would make every small flush pay for it, and its memory would stay
     * allocated for nothing (a cold start left megabytes behind). A steady stream of large
     * flushes, on the other hand, would regrow it every time. */
    bool big = (uint64_t)used * 4 > (uint64_t)KRT__MAP_SCRATCH_KEEP * 3;
    bool keep = big && *hot;
    *hot = big;
    if (keep) {
        if (m->cap)
            memset(m->keys, 0xff, (size_t)m->cap * sizeof(uint64_t));
        m->len = 0;
    } else {
        krt__map_clear(m);
    }
    return keep;
}

void krt__map_clear(krt__map_t *m)
{
    if (m->cap > KRT__MAP_SCRATCH_KEEP) {
        krt__map_dispose(m);
        return;
    }
    if (m->cap)
        memset(m->keys, 0xff, (size_t)m->cap * sizeof(uint64_t));
    m->len = 0;
}

/* ---- interner ------------------------------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLAB_POISON(p, n)   ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SLAB_CHUNK (32768 - 64) /* a chunk with its malloc header stays under 32 KiB */

static void slab_put(krt__slab_t *sl, char *p, size_t n)
{
    SLAB_UNPOISON(p, n);
    memcpy(p, &sl->free[n / 8], sizeof(char *));
    sl->free[n / 8] = p;
    SLAB_POISON(p + sizeof(char *), n - sizeof(char *)); /* a use after unref is reported */
}

/* Returns: |n| bytes (n a multiple of 8, at most KRT__SLAB_MAX), or NULL on OOM. */
static char *slab_get(krt__slab_t *sl, size_t n)
{
    char *p = sl->free[n / 8];
    if (p) {
        SLAB_UNPOISON(p, n);
        memcpy(&sl->free[n / 8], p, sizeof(char *));
        return p;
    }
    if (sl->left < n) {
        char *chunk = krt_malloc(SLAB_CHUNK);
        if (!chunk)
            return NULL;
        if (sl->left >= 8) /* the old chunk's tail serves a shorter string later */
            slab_put(sl, sl->pos, sl->left & ~(size_t)7);
        memcpy(chunk, &sl->chunks, sizeof(char *));
        sl->chunks = chunk;
        sl->pos = chunk + 8;
        sl->left = SLAB_CHUNK - 8;
    }
    p = sl->pos;
    sl->pos += n;
    sl->left -= n;
    return p;
}

static void slab_dispose(krt__slab_t *sl)
{
    for (char *c = sl->chunks; c;) {
        char *next;
        memcpy(&next, c, sizeof(char *));
        SLAB_UNPOISON(c, SLAB_CHUNK);
        krt_free(c);
        c = next;
    }
    memset(sl, 0, sizeof(*sl));
}

static char *str_copy(krt__intern_t *in, const char *s, size_t len)
{
    char *p = len + 1 <= KRT__SLAB_MAX ? slab_get(&in->slab, (len + 8) & ~(size_t)7)
                                       : krt_malloc(len + 1);
    if (p)
        memcpy(p, s, len + 1);
    return p;
}

static void str_free(krt__intern_t *in, char *s)
{
    size_t len = strlen(s);
    if (len + 1 <= KRT__SLAB_MAX)
        slab_put(&in->slab, s, (len + 8) & ~(size_t)7);
    else
        krt_free(s);
}

void krt__intern_init(krt__intern_t *in)
{
    memset(in, 0, sizeof(*in));
}

void krt__intern_dispose(krt__intern_t *in)
{
    for (uint32_t i = 0; i < in->len; i++)
        if (in->strs[i] && strlen(in->strs[i]) + 1 > KRT__SLAB_MAX)
            krt_free(in->strs[i]);
    slab_dispose(&in->slab);
    krt_free(in->strs);
    krt_free(in->refs);
    krt_free(in->order);
    krt_free(in->slots);
    memset(in, 0, sizeof(*in));
}

/* Bytes [from, from+8) of |s| (|len| bytes) big-endian, zero past its end. */
static uint64_t order_prefix(const char *s, size_t len, size_t from)
{
    uint64_t o = 0;
    for (size_t i = from; i < from + 8; i++)
        o = (o << 8) | (i < len ? (unsigned char)s[i] : 0);
    return o;
}

static inline uint32_t str_home(const char *s, uint32_t mask)
{
    return (uint32_t)krt__mix64(krt_hash_str(s, 0)) & mask;
}

/* Finds |s| (|len| bytes, hash |h|): its id, or UINT32_MAX with *slot the empty slot where it
 * would go (UINT32_MAX when there is no table yet). */
static uint32_t intern_lookup(const krt__intern_t *in, const char *s, size_t len, uint64_t h,
                              uint32_t *slot)
{
    if (in->nslots == 0) {
        *slot = UINT32_MAX;
        return UINT32_MAX;
    }
    uint64_t o0 = order_prefix(s, len, 0), o1 = order_prefix(s, len, 8);
    uint32_t mask = in->nslots - 1;
    for (uint32_t i = (uint32_t)krt__mix64(h) & mask;; i = (i + 1) & mask) {
        uint32_t v = in->slots[i];
        if (v == 0) {
            *slot = i;
            return UINT32_MAX;
        }
        const uint64_t *o = &in->order[2 * (size_t)(v - 1)];
        /* Equal prefixes of a string shorter than 16 bytes include its NUL: the strings are equal.
         * Otherwise both have 16 bytes or more and the tails decide. */
        if (o[0] == o0 && o[1] == o1 && (len < 16 || strcmp(in->strs[v - 1] + 16, s + 16) == 0)) {
            *slot = i;
            return v - 1;
        }
    }
}

static int intern_rehash(krt__intern_t *in, uint32_t nslots)
{
    uint32_t *slots = krt_calloc(nslots, sizeof(uint32_t));
    if (!slots)
        return KRT_ENOMEM;
    uint32_t mask = nslots - 1;
    for (uint32_t id = 0; id < in->len; id++) {
        if (!in->strs[id])
            continue;
        uint32_t i = str_home(in->strs[id], mask);
        while (slots[i])
            i = (i + 1) & mask;
        slots[i] = id + 1;
    }
    krt_free(in->slots);
    in->slots = slots;
    in->nslots = nslots;
    return KRT_OK;
}

uint32_t krt__intern_find(const krt__intern_t *in, const char *s)
{
    uint32_t slot;
    return intern_lookup(in, s, strlen(s), krt_hash_str(s, 0), &slot);
}

uint32_t krt__intern_ref(krt__intern_t *in, const char *s)
{
    size_t len = strlen(s);
    uint64_t h = krt_hash_bytes(s, len, 0); /* = krt_hash_str(s, 0) */
    uint32_t slot;
    uint32_t id = intern_lookup(in, s, len, h, &slot);
    if (id != UINT32_MAX) {
        in->refs[id]++;
        return id;
    }
    /* Keep the slot table under 1/2 full: lookups of absent keys are frequent. */
    if ((uint64_t)(in->live + 1) * 2 > in->nslots) {
        if (intern_rehash(in, in->nslots ? in->nslots * 2 : 64) != KRT_OK)
            return UINT32_MAX;
        intern_lookup(in, s, len, h, &slot);
    }
    if (!in->free_head && in->len == in->cap) {
        uint32_t cap = in->cap ? in->cap * 2 : 64;
        char **strs = krt_realloc(in->strs, cap * sizeof(char *));
        if (strs)
            in->strs = strs;
        uint32_t *refs = krt_realloc(in->refs, cap * sizeof(uint32_t));
        if (refs)
            in->refs = refs;
        uint64_t *order = krt_realloc(in->order, 2 * (size_t)cap * sizeof(uint64_t));
        if (order)
            in->order = order;
        if (!strs || !refs || !order)
            return UINT32_MAX;
        in->cap = cap;
    }
    char *copy = str_copy(in, s, len);
    if (!copy)
        return UINT32_MAX;
    if (in->free_head) {
        id = in->free_head - 1;
        in->free_head = in->refs[id];
    } else {
        id = in->len++;
    }
    in->strs[id] = copy;
    in->refs[id] = 1;
    in->order[2 * (size_t)id] = order_prefix(copy, len, 0);
    in->order[2 * (size_t)id + 1] = order_prefix(copy, len, 8);
    in->slots[slot] = id + 1;
    in->live++;
    return id;
}

void krt__intern_retain(krt__intern_t *in, uint32_t id)
{
    in->refs[id]++;
}

void krt__intern_unref(krt__intern_t *in, uint32_t id)
{
    if (--in->refs[id] > 0)
        return;
    /* Remove from the slot table with backward shift, as in the map; homes are recomputed from
     * the strings (a few per removal at this load). */
    uint32_t mask = in->nslots - 1;
    uint32_t i = str_home(in->strs[id], mask);
    while (in->slots[i] != id + 1)
        i = (i + 1) & mask;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; in->slots[j]; j = (j + 1) & mask) {
        uint32_t home = str_home(in->strs[in->slots[j] - 1], mask);
        bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            in->slots[hole] = in->slots[j];
            hole = j;
        }
    }
    in->slots[hole] = 0;
    str_free(in, in->strs[id]);
    in->strs[id] = NULL;
    in->refs[id] = in->free_head;
    in->free_head = id + 1;
    in->live--;
}

static inline bool id_less(const krt__intern_t *in, uint32_t a, uint32_t b)
{
    return in ? krt__intern_cmp(in, a, b) < 0 : a < b;
}

/* Quicksort (median of three, insertion sort below 16) with the comparison inlined: batches of
 * thousands of keys are sorted on every flush, and qsort's indirect calls dominated. */
void krt__intern_sort(const krt__intern_t *in, uint32_t *ids, size_t n)
{
    while (n > 16) {
        size_t mid = n / 2, last = n - 1;
        if (id_less(in, ids[mid], ids[0])) {
            uint32_t t = ids[mid];
            ids[mid] = ids[0];
            ids[0] = t;
        }
        if (id_less(in, ids[last], ids[0])) {
            uint32_t t = ids[last];
            ids[last] = ids[0];
            ids[0] = t;
        }
        if (id_less(in, ids[last], ids[mid])) {
            uint32_t t = ids[last];
            ids[last] = ids[mid];
            ids[mid] = t;
        }
        uint32_t pivot = ids[mid];
        size_t i = 0, j = last;
        for (;;) {
            while (id_less(in, ids[i], pivot))
                i++;
            while (id_less(in, pivot, ids[j]))
                j--;
            if (i >= j)
                break;
            uint32_t t = ids[i];
            ids[i] = ids[j];
            ids[j] = t;
            i++;
            j--;
        }
        /* Recurse into the smaller part, loop on the larger: stack depth stays logarithmic. */
        size_t left = j + 1;
        if (left < n - left) {
            krt__intern_sort(in, ids, left);
            ids += left;
            n -= left;
        } else {
            krt__intern_sort(in, ids + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = ids[i];
        size_t j = i;
        while (j > 0 && id_less(in, x, ids[j - 1])) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = x;
    }
}

int krt__intern_check(const krt__intern_t *in)
{
    uint32_t live = 0;
    for (uint32_t id = 0; id < in->len; id++) {
        if (!in->strs[id])
            continue;
        live++;
        if (in->refs[id] == 0)
            return KRT_EINVARIANT; /* N1 */
        if (krt__intern_find(in, in->strs[id]) != id)
            return KRT_EINVARIANT; /* N1 */
        size_t len = strlen(in->strs[id]);
        if (in->order[2 * (size_t)id] != order_prefix(in->strs[id], len, 0) ||
            in->order[2 * (size_t)id + 1] != order_prefix(in->strs[id], len, 8))
            return KRT_EINVARIANT; /* N3 */
    }
    return live == in->live ? KRT_OK : KRT_EINVARIANT;
}
