/*
 * Shared helpers for the libkrt benchmarks: a counting allocator, a monotonic clock, peak RSS, the
 * loud failure every bench uses when a correctness check fails, and the shared app label sets.
 *
 * The counting allocator is installed with krt_allocator_set() before any engine exists, and the
 * benches allocate their own objects with krt_malloc() too, so "bytes per op" covers everything a
 * change costs: the engine's structures and the objects the caller creates. It counts bytes
 * *requested* (malloc sizes, and the full new size of every realloc), like Go's alloc/op counts
 * bytes allocated, not bytes retained. Live bytes are tracked with malloc_usable_size() so the
 * scaling bench can report the engine heap a collection of N inputs holds.
 *
 * Header-only (static inline) because CMake builds every .c file of bench/ as its own executable.
 */
#ifndef KRT_BENCH_UTIL_H
#define KRT_BENCH_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* malloc_usable_size */
#endif

#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "krt/krt.h"

/* Aborts with a message: a bench whose result is wrong must not print a figure. */
#define BENCH_CHECK(cond, ...)                                                       \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "BENCH FAILURE %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

typedef struct bench_alloc_stats {
    uint64_t bytes;  /* bytes requested since start (malloc + realloc new sizes) */
    uint64_t allocs; /* malloc/realloc calls that returned memory */
    int64_t live;    /* usable bytes currently held */
    int64_t peak;    /* highest |live| seen */
} bench_alloc_stats_t;

static bench_alloc_stats_t bench_alloc;
/* Live-byte tracking costs a malloc_usable_size() per call; only benches that report it turn it on.
 */
static int bench_track_live;

static inline void bench_note_live(int64_t delta)
{
    bench_alloc.live += delta;
    if (bench_alloc.live > bench_alloc.peak)
        bench_alloc.peak = bench_alloc.live;
}

static inline void *bench_malloc_cb(size_t size, void *ud)
{
    (void)ud;
    void *p = malloc(size);
    if (p) {
        bench_alloc.bytes += size;
        bench_alloc.allocs++;
        if (bench_track_live)
            bench_note_live((int64_t)malloc_usable_size(p));
    }
    return p;
}

static inline void *bench_realloc_cb(void *ptr, size_t size, void *ud)
{
    (void)ud;
    int64_t before = (ptr && bench_track_live) ? (int64_t)malloc_usable_size(ptr) : 0;
    void *p = realloc(ptr, size);
    if (p) {
        bench_alloc.bytes += size;
        bench_alloc.allocs++;
        if (bench_track_live)
            bench_note_live((int64_t)malloc_usable_size(p) - before);
    } else if (size == 0 && bench_track_live) {
        bench_note_live(-before);
    }
    return p;
}

static inline void bench_free_cb(void *ptr, void *ud)
{
    (void)ud;
    if (!ptr)
        return;
    if (bench_track_live)
        bench_note_live(-(int64_t)malloc_usable_size(ptr));
    free(ptr);
}

/* Installs the counting allocator; call before creating any engine or object. */
static inline void bench_alloc_install(void)
{
    static const krt_allocator_t a = {bench_malloc_cb, bench_realloc_cb, bench_free_cb, NULL};
    krt_allocator_set(&a);
}

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Returns: the process's peak resident set size in bytes (getrusage; Linux reports KiB). */
static inline uint64_t bench_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;
}

/* Returns: true when argv holds |flag|. */
static inline int bench_has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

/* A small deterministic PRNG (xorshift64*), so runs are repeatable. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The engine's log goes to stderr with a prefix; benches keep it on so surprises are visible. */
static inline void bench_log_cb(int level, const char *msg, void *ud)
{
    (void)ud;
    if (level >= KRT_LOG_WARN)
        fprintf(stderr, "krt[%d]: %s\n", level, msg);
}

/* krt_malloc that aborts on failure: a bench has no out-of-memory path to measure. */
static inline void *bench_xmalloc(size_t n)
{
    void *p = krt_malloc(n);
    BENCH_CHECK(p != NULL, "out of memory (%zu bytes)", n);
    return p;
}

/* krt_type_t.free for a bench object that is one krt_malloc block holding no references. */
static inline void bench_obj_free(krt_obj_t *o)
{
    krt_free(o);
}

/* One {app=app-N} label set per app value, shared by every object that carries or selects it, so
 * objects point at it instead of holding a copy. */
typedef struct bench_apps {
    char (*values)[16];
    krt_label_t *label;
    krt_labels_t *labels; /* labels[a] = {&label[a], 1} */
} bench_apps_t;

static inline void bench_apps_init(bench_apps_t *a, size_t n)
{
    a->values = bench_xmalloc(n * sizeof *a->values);
    a->label = bench_xmalloc(n * sizeof *a->label);
    a->labels = bench_xmalloc(n * sizeof *a->labels);
    for (size_t i = 0; i < n; i++) {
        snprintf(a->values[i], sizeof a->values[i], "app-%u", (unsigned)i);
        a->label[i] = (krt_label_t){"app", a->values[i]};
        a->labels[i] = (krt_labels_t){&a->label[i], 1};
    }
}

static inline void bench_apps_dispose(bench_apps_t *a)
{
    krt_free(a->labels);
    krt_free(a->label);
    krt_free(a->values);
}

#endif /* KRT_BENCH_UTIL_H */
