/*
 * Containers the engine is built from: a growable array, an open-addressing hash map from 64-bit
 * keys to 64-bit values, the same map with 32-bit keys, and the key interner.
 *
 * One probing scheme serves every table in the engine (object stores, dependency reverse indexes,
 * sets of input ids), in two key widths: tables keyed by interned ids (the most numerous entries)
 * save 4 bytes a slot, the rest keep 64-bit keys (label hashes, composite index keys). Keys are
 * ids or hashes, never strings: strings are interned once on ingest (DESIGN.md, decision 4).
 */
#ifndef KRT_SRC_BASE_H
#define KRT_SRC_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "krt/krt.h"

#define KRT__UNUSED(x) ((void)(x))

/* ---- growable array of fixed-size elements ---------------------------------------------- */
typedef struct krt__vec {
    void *data;
    uint32_t len;
    uint32_t cap;
} krt__vec_t;

/* Makes room for |n| more elements of |size| bytes. Returns KRT_OK or KRT_ENOMEM. */
int krt__vec_reserve(krt__vec_t *v, size_t size, size_t n);
void krt__vec_dispose(krt__vec_t *v);
/* Gives back capacity beyond max(|keep|, len) elements of |size| bytes; never fails (a failed
 * shrink keeps the larger block). */
void krt__vec_shrink(krt__vec_t *v, size_t size, uint32_t keep);
#define KRT__VEC_AT(v, T, i) (((T *)(v)->data)[i])
/* Appends |*elem|; returns KRT_OK or KRT_ENOMEM. */
int krt__vec_push(krt__vec_t *v, size_t size, const void *elem);

/* ---- hash map: uint64 key -> uint64 value ------------------------------------------------ */
/* Linear probing over a power-of-two table; deletions use backward-shift, so there are no
 * tombstones and a long-lived table never degrades. The all-ones key is reserved. */
typedef struct krt__map {
    uint64_t *keys;
    uint64_t *vals; /* in the same allocation as keys, after them */
    uint32_t cap; /* 0 or a power of two */
    uint32_t len;
} krt__map_t;

#define KRT__MAP_EMPTY UINT64_MAX

static inline uint64_t krt__mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* The inline accessors of one map width (find, get, next, bytes): KRT__MAP_INLINE writes them for
 * both widths, as KRT__MAP_DEFINE in base.c writes the rest, so the probe loop stands once.
 *   PFX_find: a pointer to the value slot of |key| or NULL; valid until the next put/del.
 *   PFX_get:  whether |key| is there (its value in *val when val is not NULL).
 *   PFX_next: iteration, for (uint32_t i = 0; PFX_next(m, &i, &k, &v);) ...; the map must not
 *             change meanwhile.
 *   PFX_bytes: the table's size in bytes. */
#define KRT__MAP_INLINE(PFX, MAP, KEY, EMPTY)                                                    \
    static inline uint64_t *PFX##_find(const MAP *m, KEY key)                                    \
    {                                                                                            \
        if (m->len == 0)                                                                         \
            return NULL;                                                                         \
        uint32_t mask = m->cap - 1;                                                              \
        for (uint32_t i = (uint32_t)krt__mix64(key) & mask;; i = (i + 1) & mask) {               \
            if (m->keys[i] == key)                                                               \
                return &m->vals[i];                                                              \
            if (m->keys[i] == EMPTY)                                                             \
                return NULL;                                                                     \
        }                                                                                        \
    }                                                                                            \
    static inline bool PFX##_get(const MAP *m, KEY key, uint64_t *val)                           \
    {                                                                                            \
        uint64_t *p = PFX##_find(m, key);                                                        \
        if (p && val)                                                                            \
            *val = *p;                                                                           \
        return p != NULL;                                                                        \
    }                                                                                            \
    static inline bool PFX##_next(const MAP *m, uint32_t *it, KEY *key, uint64_t *val)           \
    {                                                                                            \
        for (; *it < m->cap; (*it)++) {                                                          \
            if (m->keys[*it] != EMPTY) {                                                         \
                if (key)                                                                         \
                    *key = m->keys[*it];                                                         \
                if (val)                                                                         \
                    *val = m->vals[*it];                                                         \
                (*it)++;                                                                         \
                return true;                                                                     \
            }                                                                                    \
        }                                                                                        \
        return false;                                                                            \
    }                                                                                            \
    static inline size_t PFX##_bytes(const MAP *m)                                               \
    {                                                                                            \
        return (size_t)m->cap * (sizeof(KEY) + sizeof(uint64_t));                                \
    }

KRT__MAP_INLINE(krt__map, krt__map_t, uint64_t, KRT__MAP_EMPTY)

/* Inserts or replaces. Returns KRT_OK or KRT_ENOMEM (map unchanged). */
int krt__map_put(krt__map_t *m, uint64_t key, uint64_t val);
/* Returns: a pointer to the value of |key|, inserting |init| first if absent; NULL on OOM
 * (only an insertion allocates). *inserted tells which happened (may be NULL). */
uint64_t *krt__map_upsert(krt__map_t *m, uint64_t key, uint64_t init, bool *inserted);
/* Makes room for |n| more keys: the next |n| insertions cannot fail. Returns KRT_OK or
 * KRT_ENOMEM (map unchanged). */
int krt__map_reserve(krt__map_t *m, uint32_t n);
/* Removes |key|; returns true if it was there (its value in *val when val is not NULL). */
bool krt__map_del(krt__map_t *m, uint64_t key, uint64_t *val);
void krt__map_dispose(krt__map_t *m);
/* Empties |m|; a table of more than KRT__MAP_SCRATCH_KEEP slots is freed rather than kept. */
void krt__map_clear(krt__map_t *m);
#define KRT__MAP_SCRATCH_KEEP 64
/* Empties a scratch map (touched keys, dirty inputs) that just served |used| keys in a flush.
 * Its table is kept only when this flush and the previous one (*hot, updated) both needed more
 * than a small table: a run of large flushes keeps reusing it, while after a single large one (a
 * cold start) it is given back instead of staying allocated until the next large flush.
 * Returns: whether the table was kept. */
bool krt__scratch_clear(krt__map_t *m, uint32_t used, bool *hot);

/* ---- hash map: uint32 id -> uint64 value -------------------------------------------------- */
/* The same table for keys that are interned ids (published objects, inputs, owners): 12 bytes a
 * slot instead of 16. UINT32_MAX, which no id is (it is the interner's error value), is reserved. */
typedef struct krt__imap {
    uint32_t *keys;
    uint64_t *vals; /* in the same allocation as keys, after them */
    uint32_t cap;   /* 0 or a power of two (at least 4, so vals stay 8-byte aligned) */
    uint32_t len;
} krt__imap_t;

#define KRT__IMAP_EMPTY UINT32_MAX

KRT__MAP_INLINE(krt__imap, krt__imap_t, uint32_t, KRT__IMAP_EMPTY)

int krt__imap_put(krt__imap_t *m, uint32_t key, uint64_t val);
uint64_t *krt__imap_upsert(krt__imap_t *m, uint32_t key, uint64_t init, bool *inserted);
bool krt__imap_del(krt__imap_t *m, uint32_t key, uint64_t *val);
void krt__imap_dispose(krt__imap_t *m);

/* ---- interner: key strings <-> dense ids, reference counted ------------------------------ */
/* Strings up to KRT__SLAB_MAX bytes (with their NUL) live in a slab: chunks carved into blocks of
 * multiples of 8 bytes, a free list per block size. A key costs its length rounded up to 8
 * instead of a malloc'd block (at least 32 bytes, 16-byte steps, 8 of header), and nothing is
 * moved, so a string stays put for as long as its id lives. Freed blocks are reused by strings of
 * the same rounded size; chunks are returned when the interner is disposed. */
#define KRT__SLAB_MAX 256
typedef struct krt__slab {
    char *chunks;   /* chunk list, linked through each chunk's first 8 bytes */
    char *pos;      /* next free byte of the newest chunk */
    size_t left;    /* bytes left at pos */
    char *free[KRT__SLAB_MAX / 8 + 1]; /* free blocks by size / 8, linked through their start */
} krt__slab_t;

/* INVARIANTS
 *  N1 id i is live <=> strs[i] != NULL <=> refs[i] > 0, and then table maps strs[i] to i
 *  N2 dead ids are on the free list and are reused before the array grows
 *  N3 order[2i] and order[2i+1] hold bytes 0-7 and 8-15 of strs[i] big-endian (zero padded), so
 *     comparing them, then the rest, orders ids exactly as strcmp orders their strings
 * Hashes are not kept (8 bytes an id): the slot table is rebuilt from the strings, and a lookup
 * compares the order prefix before the string.                                                */
typedef struct krt__intern {
    char **strs;
    uint32_t *refs;
    uint64_t *order;
    uint32_t len; /* ids handed out so far (live or dead) */
    uint32_t cap;
    uint32_t live;
    uint32_t *slots; /* hash table of id+1, 0 = empty */
    uint32_t nslots;
    uint32_t free_head; /* id+1 of the first free id, 0 = none (chained through refs) */
    krt__slab_t slab;
} krt__intern_t;

void krt__intern_init(krt__intern_t *in);
void krt__intern_dispose(krt__intern_t *in);
/* Returns: the id of |s| with one more reference (interning it if new), or UINT32_MAX on OOM. */
uint32_t krt__intern_ref(krt__intern_t *in, const char *s);
/* Returns: the id of |s| without taking a reference, or UINT32_MAX if |s| is not interned. */
uint32_t krt__intern_find(const krt__intern_t *in, const char *s);
void krt__intern_retain(krt__intern_t *in, uint32_t id);
void krt__intern_unref(krt__intern_t *in, uint32_t id);
static inline const char *krt__intern_str(const krt__intern_t *in, uint32_t id)
{
    return in->strs[id];
}
/* strcmp order of two ids' strings, fast on differing prefixes. */
static inline int krt__intern_cmp(const krt__intern_t *in, uint32_t a, uint32_t b)
{
    if (a == b)
        return 0;
    uint64_t oa = in->order[2 * (size_t)a], ob = in->order[2 * (size_t)b];
    if (oa != ob)
        return oa < ob ? -1 : 1;
    oa = in->order[2 * (size_t)a + 1];
    ob = in->order[2 * (size_t)b + 1];
    if (oa != ob)
        return oa < ob ? -1 : 1;
    /* Equal 16-byte prefixes: the tails decide (strings shorter than 16 bytes would be equal,
     * which distinct ids never are). */
    return strcmp(in->strs[a], in->strs[b]);
}
/* Sorts |ids| in string order, or in numeric order when |in| is NULL. */
void krt__intern_sort(const krt__intern_t *in, uint32_t *ids, size_t n);
int krt__intern_check(const krt__intern_t *in);

/* Label-pair hash used by the label and selector reverse indexes. Collisions only cost a check. */
static inline uint64_t krt__label_hash(const char *k, const char *v)
{
    return krt_hash_combine(krt_hash_str(k, 0x6b), krt_hash_str(v, 0x76)) & ~1ULL;
}

/* Logs through the engine's callback (defined in engine.c). */
void krt__log(krt_engine_t *e, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* KRT_SRC_BASE_H */
