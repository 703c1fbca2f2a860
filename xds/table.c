/*
 * Refcounted names and the two flat hash tables the store and the sessions are built from
 * (xds_internal.h says why not uthash). Linear probing with backward-shift deletion: no tombstones,
 * so a table that churns forever never degrades and its memory follows its size (it shrinks at 1/8
 * full). The alternative, a chained table, costs a pointer and an allocation per entry.
 */
#include <stdio.h>
#include <string.h>

#include "xds_internal.h"

#define MIN_CAP 8u

uint64_t xds__hash(const char *s, size_t len)
{
    uint64_t h = krt_hash_bytes(s, len, 0x78647321u);
    return h ? h : 1;
}

xds__name_t *xds__name_new(const char *s, size_t len)
{
    if (len > UINT32_MAX - 1)
        return NULL;
    xds__name_t *n = krt_malloc(sizeof *n + len + 1);
    if (!n)
        return NULL;
    n->refs = 1;
    n->len = (uint32_t)len;
    n->hash = xds__hash(s, len);
    memcpy(n->str, s, len);
    n->str[len] = '\0';
    return n;
}

xds__name_t *xds__name_retain(xds__name_t *n)
{
    if (n)
        n->refs++;
    return n;
}

void xds__name_release(xds__name_t *n)
{
    if (n && --n->refs == 0)
        krt_free(n);
}

/* ---------------------------------------------------------------------------------------------
 * xds__map
 * ------------------------------------------------------------------------------------------- */

void xds__map_init(xds__map_t *m)
{
    m->slots = NULL;
    m->cap = m->len = 0;
}

void xds__map_clear(xds__map_t *m, void (*val_free)(uintptr_t val))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].name)
            continue;
        if (val_free)
            val_free(m->slots[i].val);
        xds__name_release(m->slots[i].name);
    }
    krt_free(m->slots);
    xds__map_init(m);
}

void xds__map_dispose(xds__map_t *m, void (*val_free)(uintptr_t val))
{
    xds__map_clear(m, val_free);
}

static bool name_eq(const xds__name_t *n, const char *s, size_t len, uint64_t hash)
{
    return n->hash == hash && n->len == len && memcmp(n->str, s, len) == 0;
}

xds__slot_t *xds__map_find(const xds__map_t *m, const char *s, size_t len, uint64_t hash)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        xds__slot_t *sl = &m->slots[i];
        if (!sl->name)
            return NULL;
        if (name_eq(sl->name, s, len, hash))
            return sl;
    }
}

xds__slot_t *xds__map_find_name(const xds__map_t *m, const xds__name_t *n)
{
    return xds__map_find(m, n->str, n->len, n->hash);
}

static int map_resize(xds__map_t *m, size_t cap)
{
    xds__slot_t *slots = krt_calloc(cap, sizeof *slots);
    if (!slots)
        return XDS_ENOMEM;
    size_t mask = cap - 1;
    for (size_t j = 0; j < m->cap; j++) {
        xds__slot_t *o = &m->slots[j];
        if (!o->name)
            continue;
        size_t i = o->name->hash & mask;
        while (slots[i].name)
            i = (i + 1) & mask;
        slots[i] = *o;
    }
    krt_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return XDS_OK;
}

int xds__map_put(xds__map_t *m, xds__name_t *n, uintptr_t val, xds__slot_t **slot)
{
    xds__slot_t *found = xds__map_find_name(m, n);
    if (found) {
        if (slot)
            *slot = found;
        return 0;
    }
    if ((m->len + 1) * 4 > m->cap * 3) {
        int rc = map_resize(m, m->cap ? m->cap * 2 : MIN_CAP);
        if (rc != XDS_OK)
            return rc;
    }
    size_t mask = m->cap - 1;
    size_t i = n->hash & mask;
    while (m->slots[i].name)
        i = (i + 1) & mask;
    m->slots[i].name = xds__name_retain(n);
    m->slots[i].val = val;
    m->len++;
    if (slot)
        *slot = &m->slots[i];
    return 1;
}

bool xds__map_del(xds__map_t *m, const char *s, size_t len, uint64_t hash, uintptr_t *val)
{
    xds__slot_t *sl = xds__map_find(m, s, len, hash);
    if (!sl)
        return false;
    if (val)
        *val = sl->val;
    xds__name_release(sl->name);
    size_t mask = m->cap - 1;
    size_t hole = (size_t)(sl - m->slots);
    /* Backward shift: move later entries of the cluster into the hole when that does not put them
     * before their home slot. */
    for (size_t i = (hole + 1) & mask; m->slots[i].name; i = (i + 1) & mask) {
        size_t home = m->slots[i].name->hash & mask;
        /* i may move to hole iff home is not in (hole, i] cyclically */
        bool home_between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!home_between) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    m->slots[hole].name = NULL;
    m->slots[hole].val = 0;
    m->len--;
    if (m->len == 0) {
        krt_free(m->slots);
        xds__map_init(m);
    } else if (m->cap > MIN_CAP && m->len * 8 < m->cap) {
        (void)map_resize(m, m->cap / 2); /* on OOM the table simply stays larger */
    }
    return true;
}

bool xds__map_del_name(xds__map_t *m, const xds__name_t *n, uintptr_t *val)
{
    return xds__map_del(m, n->str, n->len, n->hash, val);
}

int xds__map_check(const xds__map_t *m, xds_err_t *err)
{
    if (m->cap == 0)
        return m->len == 0 && !m->slots ? XDS_OK : xds__err(err, XDS_ESTATE, "M1: empty map holds");
    if ((m->cap & (m->cap - 1)) || m->cap < MIN_CAP || m->len >= m->cap)
        return xds__err(err, XDS_ESTATE, "M1: cap %zu len %zu", m->cap, m->len);
    size_t mask = m->cap - 1, count = 0;
    for (size_t i = 0; i < m->cap; i++) {
        const xds__name_t *n = m->slots[i].name;
        if (!n)
            continue;
        count++;
        if (n->hash != xds__hash(n->str, n->len))
            return xds__err(err, XDS_ESTATE, "M2: name \"%s\" has a stale hash", n->str);
        for (size_t j = n->hash & mask; j != i; j = (j + 1) & mask)
            if (!m->slots[j].name)
                return xds__err(err, XDS_ESTATE, "M2: gap before \"%s\"", n->str);
        if (xds__map_find_name(m, n) != &m->slots[i])
            return xds__err(err, XDS_ESTATE, "M3: \"%s\" held twice", n->str);
    }
    if (count != m->len)
        return xds__err(err, XDS_ESTATE, "M1: len %zu but %zu entries", m->len, count);
    return XDS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * xds__vmap
 * ------------------------------------------------------------------------------------------- */

void xds__vmap_init(xds__vmap_t *m)
{
    m->slots = NULL;
    m->cap = m->len = 0;
}

void xds__vmap_dispose(xds__vmap_t *m)
{
    krt_free(m->slots);
    xds__vmap_init(m);
}

static xds__vslot_t *vfind(const xds__vmap_t *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
        if (!m->slots[i].key)
            return NULL;
        if (m->slots[i].key == key)
            return &m->slots[i];
    }
}

bool xds__vmap_get(const xds__vmap_t *m, uint64_t key, uint64_t *val)
{
    xds__vslot_t *s = vfind(m, key);
    if (s && val)
        *val = s->val;
    return s != NULL;
}

static int vresize(xds__vmap_t *m, size_t cap)
{
    xds__vslot_t *slots = krt_calloc(cap, sizeof *slots);
    if (!slots)
        return XDS_ENOMEM;
    size_t mask = cap - 1;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->slots[j].key)
            continue;
        size_t i = m->slots[j].key & mask;
        while (slots[i].key)
            i = (i + 1) & mask;
        slots[i] = m->slots[j];
    }
    krt_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return XDS_OK;
}

int xds__vmap_set(xds__vmap_t *m, uint64_t key, uint64_t val)
{
    if (!key)
        return XDS_EINVAL;
    xds__vslot_t *s = vfind(m, key);
    if (s) {
        s->val = val;
        return XDS_OK;
    }
    if ((m->len + 1) * 4 > m->cap * 3) {
        int rc = vresize(m, m->cap ? m->cap * 2 : MIN_CAP);
        if (rc != XDS_OK)
            return rc;
    }
    size_t mask = m->cap - 1;
    size_t i = key & mask;
    while (m->slots[i].key)
        i = (i + 1) & mask;
    m->slots[i].key = key;
    m->slots[i].val = val;
    m->len++;
    return XDS_OK;
}

static void vdel_slot(xds__vmap_t *m, size_t hole)
{
    size_t mask = m->cap - 1;
    for (size_t i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
        size_t home = m->slots[i].key & mask;
        bool home_between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!home_between) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    m->slots[hole].key = 0;
    m->slots[hole].val = 0;
    m->len--;
}

static void vmaybe_shrink(xds__vmap_t *m)
{
    if (m->len == 0) {
        xds__vmap_dispose(m);
    } else if (m->cap > MIN_CAP && m->len * 8 < m->cap) {
        size_t cap = m->cap;
        while (cap > MIN_CAP && m->len * 8 < cap)
            cap /= 2;
        (void)vresize(m, cap);
    }
}

bool xds__vmap_del(xds__vmap_t *m, uint64_t key)
{
    xds__vslot_t *s = vfind(m, key);
    if (!s)
        return false;
    vdel_slot(m, (size_t)(s - m->slots));
    vmaybe_shrink(m);
    return true;
}

void xds__vmap_filter(xds__vmap_t *m, bool (*keep)(uint64_t key, void *ud), void *ud)
{
    if (!m->cap)
        return;
    /* Deleting while scanning would move entries across the scan point; rebuild instead. */
    xds__vmap_t out;
    xds__vmap_init(&out);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && keep(m->slots[i].key, ud))
            if (xds__vmap_set(&out, m->slots[i].key, m->slots[i].val) != XDS_OK) {
                /* Out of memory: keep everything (forgetting less is always safe: at worst a
                 * removal is sent for a name the client already dropped). */
                xds__vmap_dispose(&out);
                return;
            }
    xds__vmap_dispose(m);
    *m = out;
}

int xds__vmap_check(const xds__vmap_t *m, xds_err_t *err)
{
    if (m->cap == 0)
        return m->len == 0 && !m->slots ? XDS_OK
                                        : xds__err(err, XDS_ESTATE, "V1: empty vmap holds");
    if ((m->cap & (m->cap - 1)) || m->cap < MIN_CAP || m->len >= m->cap)
        return xds__err(err, XDS_ESTATE, "V1: cap %zu len %zu", m->cap, m->len);
    size_t mask = m->cap - 1, count = 0;
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t k = m->slots[i].key;
        if (!k)
            continue;
        count++;
        for (size_t j = k & mask; j != i; j = (j + 1) & mask)
            if (!m->slots[j].key)
                return xds__err(err, XDS_ESTATE, "V2: gap before key %llx", (unsigned long long)k);
        if (vfind(m, k) != &m->slots[i])
            return xds__err(err, XDS_ESTATE, "V3: key %llx held twice", (unsigned long long)k);
    }
    if (count != m->len)
        return xds__err(err, XDS_ESTATE, "V1: len %zu but %zu entries", m->len, count);
    return XDS_OK;
}

uint64_t xds__version_parse(const char *v)
{
    if (!v)
        return 1;
    size_t n = strlen(v);
    if (n == 16) {
        uint64_t x = 0;
        bool ok = true;
        for (size_t i = 0; i < 16 && ok; i++) {
            char c = v[i];
            if (c >= '0' && c <= '9')
                x = x << 4 | (uint64_t)(c - '0');
            else if (c >= 'a' && c <= 'f')
                x = x << 4 | (uint64_t)(c - 'a' + 10);
            else
                ok = false;
        }
        if (ok)
            return x;
    }
    /* A foreign version: a value our objects will not have (XXH3 with another seed; a collision
     * would only skip one resend of an equal-looking version). */
    return krt_hash_bytes(v, n, 0x466f726569676eu);
}
