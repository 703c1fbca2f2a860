/*
 * A heap of its own for jansson's allocations (krt/json.h, krt_json_heap_install).
 *
 * Why: parsed trees are a cache that comes and goes (a cold start makes a tree per object and
 * drops nearly all of them at the next trim), while engine objects made during the same flush
 * live on. In one C heap the two interleave, and the dropped trees leave holes glibc cannot give
 * back: at agw-5k the controller kept ~20 MiB of such holes. Here trees get pages of their own,
 * so dropping them returns whole pages, and the C heap holds long-lived objects side by side.
 *
 * Only trees made inside a scope (krt_json_heap_begin/end: the cache's rebuilds, and the parsers
 * of API objects) come here; everything else jansson allocates (json_dumps text that callers
 * free() themselves, values built by the application) keeps the allocator installed before.
 * jansson's free function is ours for good: it tells heap objects from the others by address.
 *
 * Layout: one reserved span of address space (PROT_NONE until used, so it costs nothing), cut
 * into 64 KiB slabs, each serving one size class from a free list and a bump pointer. A slab
 * whose objects are all free goes to a small cache of empty slabs; past that cache its pages are
 * given back (MADV_DONTNEED) and the slab is kept for reuse. Sizes above the largest class, and
 * everything once the span is used up, go to the outer allocator; the free function tells them
 * apart by address.
 *
 * Threads: krt objects are single-threaded, and so is this heap. The thread that installs it
 * owns it: scopes opened by other threads do nothing, another thread allocating while the owner
 * has a scope open gets the outer allocator, and a heap object freed by another thread
 * is queued under a mutex and freed by the owner at its next allocation.
 *
 * INVARIANTS (krt_json_heap_check)
 *  H1 a slab is on its class's partial list iff it has a class, free room, and used > 0
 *  H2 a slab with used == 0 is on the empty list (nempty of them, at most HEAP_EMPTY_KEEP unless
 *     the released array could not grow) or in the released array (its header all zeroes)
 *  H3 used + (free list length) + (bump room in objects) == objects per slab, per classed slab
 */
#define _GNU_SOURCE 1 /* madvise, MAP_ANONYMOUS, MAP_NORESERVE */
#include "krt/json.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine.h"

#define SLAB_SIZE       ((size_t)64 << 10)
#define RESERVE         ((size_t)64 << 30) /* address space only */
#define MIN_RESERVE     ((size_t)16 << 20)
#define COMMIT_STEP     ((size_t)1 << 20)
#define HEAP_EMPTY_KEEP 16 /* empty slabs kept with their pages (1 MiB) */

static const uint16_t class_size[] = {16,  32,  48,  64,  80,  96,  112, 128,
                                      160, 192, 224, 256, 320, 384, 448, 512};
enum { NCLASS = sizeof class_size / sizeof class_size[0], MAX_SMALL = 512 };

typedef struct slab {
    struct slab *prev, *next; /* partial or empty list (released slabs are in an array) */
    void *free;               /* freed objects, linked through their first word */
    char *bump;               /* objects never handed out start here */
    uint32_t used;            /* objects handed out and not freed */
    uint8_t cls;              /* size class, or NCLASS when unclassed (empty/released) */
    uint8_t list;             /* which list it is on (enum below) */
} slab_t;
enum { L_NONE = 0, L_PARTIAL, L_EMPTY };

/* The header takes the first 64 bytes so objects stay 16-byte aligned. */
#define SLAB_HDR 64
_Static_assert(sizeof(slab_t) <= SLAB_HDR, "slab header");

typedef struct list {
    slab_t *head;
} list_t;

static struct {
    bool installed;
    unsigned depth; /* open scopes */
    json_malloc_t outer_malloc;
    json_free_t outer_free;
    uint64_t allocated; /* bytes handed out since installed */
    pthread_t owner;
    char *base, *top, *committed, *end; /* carved slabs: [base, top); RW up to committed */
    list_t partial[NCLASS];
    list_t empty;
    size_t nempty;
    slab_t **released; /* slabs whose pages were given back, header included; outer malloc */
    size_t nreleased, cap_released;
    uint8_t class_of[MAX_SMALL / 16 + 1]; /* size / 16 (rounded up) -> class */
    size_t in_use, resident;              /* bytes: handed out; slab pages not given back */
    pthread_mutex_t remote_mu;
    void *remote; /* frees from other threads, linked through their first word */
    atomic_bool remote_any;
} heap = {.remote_mu = PTHREAD_MUTEX_INITIALIZER};

static void list_push(list_t *l, slab_t *s, uint8_t which)
{
    s->prev = NULL;
    s->next = l->head;
    if (l->head)
        l->head->prev = s;
    l->head = s;
    s->list = which;
}

static void list_unlink(list_t *l, slab_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        l->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->list = L_NONE;
}

static inline bool in_heap(const void *p)
{
    return heap.base && (const char *)p >= heap.base && (const char *)p < heap.top;
}

static inline slab_t *slab_of(const void *p)
{
    return (slab_t *)((uintptr_t)p & ~(uintptr_t)(SLAB_SIZE - 1));
}

static uint32_t per_slab(int cls)
{
    return (uint32_t)((SLAB_SIZE - SLAB_HDR) / class_size[cls]);
}

/* Returns: a slab with no class (from the empty cache, the released list, or new), or NULL. */
static slab_t *slab_get(void)
{
    slab_t *s = heap.empty.head;
    if (s) {
        list_unlink(&heap.empty, s);
        heap.nempty--;
        return s;
    }
    if (heap.nreleased) {
        s = heap.released[--heap.nreleased];
        heap.resident += SLAB_SIZE; /* its pages come back on first touch */
        return s;
    }
    if ((size_t)(heap.end - heap.top) < SLAB_SIZE)
        return NULL;
    if (heap.top + SLAB_SIZE > heap.committed) {
        if (mprotect(heap.committed, COMMIT_STEP, PROT_READ | PROT_WRITE) != 0)
            return NULL;
        heap.committed += COMMIT_STEP;
    }
    s = (slab_t *)heap.top;
    heap.top += SLAB_SIZE;
    heap.resident += SLAB_SIZE;
    return s;
}

/* Room for one more released slab; false when even that small array cannot grow. */
static bool released_room(void)
{
    if (heap.nreleased < heap.cap_released)
        return true;
    size_t cap = heap.cap_released ? heap.cap_released * 2 : 256;
    slab_t **r = heap.outer_malloc(cap * sizeof *r);
    if (!r)
        return false;
    if (heap.nreleased)
        memcpy(r, heap.released, heap.nreleased * sizeof *r);
    heap.outer_free(heap.released);
    heap.released = r;
    heap.cap_released = cap;
    return true;
}

static void slab_retire(slab_t *s)
{
    s->cls = NCLASS;
    s->free = NULL;
    if (heap.nempty < HEAP_EMPTY_KEEP || !released_room()) {
        list_push(&heap.empty, s, L_EMPTY);
        heap.nempty++;
        return;
    }
    /* All its pages go back: its header reads as zeroes until it is used again. */
    madvise(s, SLAB_SIZE, MADV_DONTNEED);
    heap.resident -= SLAB_SIZE;
    heap.released[heap.nreleased++] = s;
}

static void slab_free_obj(void *p)
{
    slab_t *s = slab_of(p);
    int cls = s->cls;
    *(void **)p = s->free;
    s->free = p;
    heap.in_use -= class_size[cls];
    if (--s->used == 0) {
        if (s->list == L_PARTIAL)
            list_unlink(&heap.partial[cls], s);
        slab_retire(s);
    } else if (s->list != L_PARTIAL) {
        list_push(&heap.partial[cls], s, L_PARTIAL); /* it was full */
    }
}

static void drain_remote(void)
{
    pthread_mutex_lock(&heap.remote_mu);
    void *p = heap.remote;
    heap.remote = NULL;
    atomic_store(&heap.remote_any, false);
    pthread_mutex_unlock(&heap.remote_mu);
    while (p) {
        void *next = *(void **)p;
        slab_free_obj(p);
        p = next;
    }
}

/* Returns: an object of the class of |size| (<= MAX_SMALL) from a slab, or NULL when no slab is
 * left (the span is used up, or a commit failed). Owner thread only. */
static void *slab_alloc(size_t size)
{
    if (atomic_load_explicit(&heap.remote_any, memory_order_relaxed))
        drain_remote();
    int cls = heap.class_of[(size + 15) / 16];
    slab_t *s = heap.partial[cls].head;
    if (!s) {
        if (!(s = slab_get()))
            return NULL;
        s->cls = (uint8_t)cls;
        s->free = NULL;
        s->bump = (char *)s + SLAB_HDR;
        s->used = 0;
        list_push(&heap.partial[cls], s, L_PARTIAL);
    }
    void *p = s->free;
    if (p) {
        s->free = *(void **)p;
    } else {
        p = s->bump;
        s->bump += class_size[cls];
    }
    s->used++;
    heap.in_use += class_size[cls];
    heap.allocated += class_size[cls];
    if (!s->free && s->bump + class_size[cls] > (char *)s + SLAB_SIZE)
        list_unlink(&heap.partial[cls], s); /* full: found again through its objects */
    return p;
}

/* jansson's allocation function inside a scope. The function is process-wide, so another thread
 * allocating meanwhile gets here too: it is sent to the outer allocator. */
static void *heap_alloc(size_t size)
{
    void *p =
        size <= MAX_SMALL && pthread_equal(pthread_self(), heap.owner) ? slab_alloc(size) : NULL;
    return p ? p : heap.outer_malloc(size);
}

/* The tree cache's nodes (json.c): in the heap when it is installed, else krt's allocator. */
void *krt__json_heap_node_alloc(size_t size)
{
    void *p = NULL;
    if (heap.installed && size <= MAX_SMALL && pthread_equal(pthread_self(), heap.owner))
        p = slab_alloc(size);
    return p ? p : krt_malloc(size);
}

void krt__json_heap_node_free(void *p)
{
    if (p && in_heap(p))
        slab_free_obj(p);
    else
        krt_free(p);
}

static void heap_free(void *p)
{
    if (!p)
        return;
    if (!in_heap(p)) {
        heap.outer_free(p);
        return;
    }
    if (!pthread_equal(pthread_self(), heap.owner)) {
        pthread_mutex_lock(&heap.remote_mu);
        *(void **)p = heap.remote;
        heap.remote = p;
        atomic_store(&heap.remote_any, true);
        pthread_mutex_unlock(&heap.remote_mu);
        return;
    }
    slab_free_obj(p);
}

int krt_json_heap_install(void)
{
    if (heap.installed)
        return KRT_OK;
    for (size_t u = 0, c = 0; u <= MAX_SMALL / 16; u++) {
        while (class_size[c] < u * 16)
            c++;
        heap.class_of[u] = (uint8_t)c;
    }
    /* Reserve more than needed so the span can start on a slab boundary. Where address space is
     * limited (valgrind, a ulimit -v) a smaller span will do: past it, trees use malloc. */
    char *r = MAP_FAILED;
    size_t span = RESERVE;
    for (; span >= MIN_RESERVE; span /= 4) {
        r = mmap(NULL, span + SLAB_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                 0);
        if (r != MAP_FAILED)
            break;
    }
    if (r == MAP_FAILED)
        return KRT_ENOMEM;
    char *base = (char *)(((uintptr_t)r + SLAB_SIZE - 1) & ~(uintptr_t)(SLAB_SIZE - 1));
    heap.base = heap.top = heap.committed = base;
    heap.end = base + span;
    heap.owner = pthread_self();
    json_get_alloc_funcs(&heap.outer_malloc, &heap.outer_free);
    heap.installed = true;
    json_set_alloc_funcs(heap.outer_malloc, heap_free);
    return KRT_OK;
}

int krt_json_heap_install_default(void)
{
    const char *v = getenv("KRT_JSON_HEAP");
    bool want = true;
#ifdef __SANITIZE_ADDRESS__
    want = false; /* AddressSanitizer must see the trees, unless a test asks for the heap */
#endif
    if (v && strcmp(v, "on") == 0)
        want = true;
    else if (v && strcmp(v, "off") == 0)
        want = false;
    return want ? krt_json_heap_install() : KRT_OK;
}

void krt_json_heap_begin(void)
{
    if (!heap.installed || !pthread_equal(pthread_self(), heap.owner))
        return;
    if (heap.depth++ == 0)
        json_set_alloc_funcs(heap_alloc, heap_free);
}

void krt_json_heap_end(void)
{
    if (!heap.installed || !pthread_equal(pthread_self(), heap.owner) || heap.depth == 0)
        return;
    if (--heap.depth == 0)
        json_set_alloc_funcs(heap.outer_malloc, heap_free);
}

void krt_json_heap_stats(size_t *resident, size_t *in_use, uint64_t *allocated)
{
    if (resident)
        *resident = heap.resident;
    if (in_use)
        *in_use = heap.in_use;
    if (allocated)
        *allocated = heap.allocated;
}

int krt_json_heap_check(void)
{
    if (!heap.installed)
        return KRT_OK;
    size_t nempty = 0, nzero = 0, used_bytes = 0;
    for (slab_t *s = heap.empty.head; s; s = s->next, nempty++)
        if (s->list != L_EMPTY || s->cls != NCLASS || s->used)
            return KRT_EINVARIANT; /* H2 */
    if (nempty != heap.nempty)
        return KRT_EINVARIANT; /* H2 */
    for (char *p = heap.base; p < heap.top; p += SLAB_SIZE) {
        const slab_t *s = (const slab_t *)p; /* a released one reads the zero page: no memory */
        if (s->list == L_EMPTY)
            continue;
        if (s->used == 0) {
            if (s->list != L_NONE || s->free || s->bump)
                return KRT_EINVARIANT; /* H2 */
            nzero++;
            continue;
        }
        int cls = s->cls;
        if (cls >= NCLASS)
            return KRT_EINVARIANT; /* H2 */
        uint32_t nfree = 0;
        for (void *f = s->free; f; f = *(void **)f)
            nfree++;
        uint32_t room = (uint32_t)(((const char *)s + SLAB_SIZE - s->bump) / class_size[cls]);
        if (s->used + nfree + room != per_slab(cls))
            return KRT_EINVARIANT; /* H3 */
        if ((s->list == L_PARTIAL) != (nfree || room))
            return KRT_EINVARIANT; /* H1 */
        used_bytes += (size_t)s->used * class_size[cls];
    }
    if (nzero != heap.nreleased)
        return KRT_EINVARIANT; /* H2 */
    return used_bytes == heap.in_use ? KRT_OK : KRT_EINVARIANT;
}
