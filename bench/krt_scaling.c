/*
 * krt_scaling: the cost of one change must not grow with the size of the collections.
 *
 * For n in {10k, 100k, 1M} and three kinds of fetch, two static collections of n objects each feed
 * a derived collection of n outputs (one per object of the parent collection, "Items"):
 *   keyed    item i fetches the object "s-i" of Sources by key (krt_fetch_key): 1 dependant per
 *            source object.
 *   indexed  item i fetches bucket g(i) = i/8 of an index on Sources by group
 *            (krt_fetch_index): buckets of 8 objects, 8 dependants per bucket.
 *   label    item i fetches the Sources whose labels contain grp=g(i) (krt_fetch_labels): 8
 * matches, 8 dependants per label value. After the build and a first flush, K changes each replace
 * one randomly chosen Sources object with a new value and flush; every dependant recomputes and
 * emits one UPDATE (checked: 1 per change for keyed, 8 for indexed and label). The figure is the
 * mean wall time of one change (object creation + put + flush + delivery), with its p99; the ratio
 * of the 1M mean to the 10k mean says whether the engine found the dependants through its reverse
 * indexes (flat) or by scanning (linear).
 *
 * Each (kind, n) case runs in a forked child so that its peak RSS (getrusage) is its own. Heap
 * bytes are the live bytes held through the counting krt_allocator_t after the build (the bench's
 * own objects included, since it allocates them with krt_malloc).
 *
 * Usage: krt_scaling [--smoke] [--kind keyed|indexed|label] [--n N] [--changes K]
 *   --smoke: n in {256, 512, 1024}, 50 changes, invariant checks; the others run one case (for
 *   profiling).
 */
#include "bench_util.h"

#include <jansson.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define GROUP_SIZE 8

typedef enum kind { KIND_KEYED, KIND_INDEXED, KIND_LABEL, KIND_COUNT } kind_t;
static const char *const kind_names[KIND_COUNT] = {"keyed", "indexed", "label"};

/* ---- types ------------------------------------------------------------------------------------
 */

/* One type serves Items and Sources: a key, a reference to another key (keyed kind), a group given
 * as a shared label array (indexed and label kinds) and a value that changes. */
typedef struct item {
    krt_obj_t base;
    const krt_labels_t *labels; /* {grp=g-N}, shared per group, owned by the bench */
    uint64_t value;
    char key[16];
    char ref[16];
} item_t;

/* An output keeps a reference to its item and sums the values it fetched. */
typedef struct out {
    krt_obj_t base;
    const item_t *item;
    uint64_t sum;
    uint32_t count;
} out_t;

static const char *item_key(const krt_obj_t *o)
{
    return ((const item_t *)o)->key;
}
static uint64_t item_hash(const krt_obj_t *o)
{
    const item_t *it = (const item_t *)o;
    return krt_hash_combine(krt_hash_str(it->key, 0), it->value);
}
static bool item_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const item_t *x = (const item_t *)a, *y = (const item_t *)b;
    return x->value == y->value && x->labels == y->labels && strcmp(x->key, y->key) == 0 &&
           strcmp(x->ref, y->ref) == 0;
}
static json_t *item_dump(const krt_obj_t *o)
{
    const item_t *it = (const item_t *)o;
    return json_pack("{s:s, s:I}", "key", it->key, "value", (json_int_t)it->value);
}
static bool item_labels(const krt_obj_t *o, krt_labels_t *out)
{
    *out = *((const item_t *)o)->labels;
    return true;
}

static const krt_type_t item_type = {
    .name = "bench.Item",
    .key = item_key,
    .hash = item_hash,
    .equals = item_equals,
    .free = bench_obj_free,
    .dump = item_dump,
    .labels = item_labels,
};

static const char *out_key(const krt_obj_t *o)
{
    return ((const out_t *)o)->item->key;
}
static uint64_t out_hash(const krt_obj_t *o)
{
    const out_t *x = (const out_t *)o;
    return krt_hash_combine(krt_hash_combine(krt_hash_str(x->item->key, 0), x->sum), x->count);
}
static bool out_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const out_t *x = (const out_t *)a, *y = (const out_t *)b;
    return x->sum == y->sum && x->count == y->count && strcmp(x->item->key, y->item->key) == 0;
}
static void out_free(krt_obj_t *o)
{
    krt_obj_release(&((out_t *)o)->item->base);
    krt_free(o);
}
static json_t *out_dump(const krt_obj_t *o)
{
    const out_t *x = (const out_t *)o;
    return json_pack("{s:s, s:I, s:i}", "key", x->item->key, "sum", (json_int_t)x->sum, "count",
                     (int)x->count);
}

static const krt_type_t out_type = {
    .name = "bench.Out",
    .key = out_key,
    .hash = out_hash,
    .equals = out_equals,
    .free = out_free,
    .dump = out_dump,
};

/* ---- one case ---------------------------------------------------------------------------------
 */

typedef struct bench {
    kind_t kind;
    size_t n;
    size_t groups;
    bool smoke;
    krt_engine_t *engine;
    krt_collection_t *items;
    krt_collection_t *sources;
    krt_collection_t *outs;
    krt_index_t *by_group;
    krt_handler_t *handler;
    char (*group_values)[16];
    krt_label_t *group_label;
    krt_labels_t *group_labels;
    uint64_t updates, others;
} bench_t;

/* What a case reports back to the parent process (shared memory). */
typedef struct result {
    int done;
    double ns_per_change;
    double p50_ns;
    double p99_ns;
    double max_ns;
    double build_ms;
    double recomputes_per_change;
    double scans_per_change; /* dependants checked one by one (0 when every fetch is indexed) */
    uint64_t heap_bytes;
    uint64_t peak_rss;
} result_t;

static const item_t *item_new(const bench_t *b, char prefix, size_t i, uint64_t value)
{
    item_t *it = bench_xmalloc(sizeof *it);
    memset(it, 0, sizeof *it);
    it->labels = &b->group_labels[i / GROUP_SIZE];
    it->value = value;
    snprintf(it->key, sizeof it->key, "%c-%u", prefix, (unsigned)i);
    snprintf(it->ref, sizeof it->ref, "s-%u", (unsigned)i);
    krt_obj_seal(&it->base, &item_type);
    return it;
}

static int out_build(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    bench_t *b = ud;
    const item_t *it = (const item_t *)in;
    uint64_t sum = 0;
    uint32_t count = 0;
    if (b->kind == KIND_KEYED) {
        const item_t *s = (const item_t *)krt_fetch_key(ctx, b->sources, it->ref);
        if (s) {
            sum = s->value;
            count = 1;
        }
    } else {
        const krt_obj_t *const *got;
        size_t n = b->kind == KIND_INDEXED
                       ? krt_fetch_index(ctx, b->by_group, it->labels->items[0].value, &got)
                       : krt_fetch_labels(ctx, b->sources, it->labels, &got);
        for (size_t i = 0; i < n; i++)
            sum += ((const item_t *)got[i])->value;
        count = (uint32_t)n;
    }
    out_t *o = krt_malloc(sizeof *o);
    if (!o)
        return KRT_ENOMEM;
    memset(&o->base, 0, sizeof o->base);
    o->item = (const item_t *)krt_obj_retain(in);
    o->sum = sum;
    o->count = count;
    krt_obj_seal(&o->base, &out_type);
    return krt_emit(ctx, &o->base);
}

static void group_extract(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    krt_keys_add(keys, ((const item_t *)o)->labels->items[0].value);
}

static void on_outs(const krt_batch_t *batch, void *ud)
{
    bench_t *b = ud;
    for (size_t i = 0; i < batch->len; i++) {
        if (batch->events[i].op == KRT_UPDATE)
            b->updates++;
        else
            b->others++;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_case(kind_t kind, size_t n, size_t changes, bool smoke, result_t *res)
{
    bench_t b = {.kind = kind, .n = n, .smoke = smoke};
    b.groups = (n + GROUP_SIZE - 1) / GROUP_SIZE;

    bench_track_live = 1;
    bench_alloc_install();
    uint64_t t0 = bench_now_ns();
    b.group_values = bench_xmalloc(b.groups * sizeof *b.group_values);
    b.group_label = bench_xmalloc(b.groups * sizeof *b.group_label);
    b.group_labels = bench_xmalloc(b.groups * sizeof *b.group_labels);
    for (size_t g = 0; g < b.groups; g++) {
        snprintf(b.group_values[g], sizeof b.group_values[g], "g-%u", (unsigned)g);
        b.group_label[g] = (krt_label_t){"grp", b.group_values[g]};
        b.group_labels[g] = (krt_labels_t){&b.group_label[g], 1};
    }
    b.engine = krt_engine_new();
    BENCH_CHECK(b.engine != NULL, "krt_engine_new");
    krt_engine_set_log(b.engine, bench_log_cb, NULL);
    b.sources = krt_static_new(b.engine, &item_type, "Sources", true);
    b.items = krt_static_new(b.engine, &item_type, "Items", true);
    BENCH_CHECK(b.sources && b.items, "krt_static_new");
    if (kind == KIND_INDEXED) {
        b.by_group = krt_index_new(b.sources, "group", group_extract, NULL);
        BENCH_CHECK(b.by_group != NULL, "krt_index_new");
    }
    b.outs = krt_derive_new(b.engine, b.items, &out_type, "Outs", KRT_DERIVE_ONE, out_build, &b);
    BENCH_CHECK(b.outs != NULL, "krt_derive_new");
    for (size_t i = 0; i < n; i++) {
        int rc = krt_static_put(b.sources, &item_new(&b, 's', i, i)->base);
        BENCH_CHECK(rc == KRT_OK, "put source: %s", krt_strerror(rc));
        rc = krt_static_put(b.items, &item_new(&b, 'i', i, 0)->base);
        BENCH_CHECK(rc == KRT_OK, "put item: %s", krt_strerror(rc));
    }
    int rc = krt_engine_flush(b.engine);
    BENCH_CHECK(rc == KRT_OK, "initial flush: %s", krt_strerror(rc));
    res->build_ms = (double)(bench_now_ns() - t0) / 1e6;
    BENCH_CHECK(krt_collection_len(b.outs) == n, "outs=%zu, want %zu", krt_collection_len(b.outs),
                n);
    if (smoke)
        BENCH_CHECK(krt_engine_check(b.engine) == KRT_OK, "krt_engine_check after build");
    res->heap_bytes = (uint64_t)bench_alloc.live;

    b.handler = krt_collection_subscribe(b.outs, on_outs, &b, false);
    BENCH_CHECK(b.handler != NULL, "subscribe");
    krt_stats_t before, after;
    krt_collection_stats(b.outs, &before);

    uint64_t *lat = bench_xmalloc(changes * sizeof *lat);
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ n ^ ((uint64_t)kind << 40);
    for (size_t k = 0; k < changes; k++) {
        size_t j = (size_t)(bench_rand(&rng) % n);
        uint64_t c0 = bench_now_ns();
        /* A value never used before, so every dependant's output really changes. */
        rc = krt_static_put(b.sources, &item_new(&b, 's', j, (uint64_t)n + k)->base);
        BENCH_CHECK(rc == KRT_OK, "put source: %s", krt_strerror(rc));
        b.updates = b.others = 0;
        rc = krt_engine_flush(b.engine);
        lat[k] = bench_now_ns() - c0;
        BENCH_CHECK(rc == KRT_OK, "flush: %s", krt_strerror(rc));
        /* Dependants: the item referring to s-j (keyed), or the items of j's group. */
        uint64_t want = 1;
        if (kind != KIND_KEYED)
            want = (j / GROUP_SIZE + 1) * GROUP_SIZE <= n ? GROUP_SIZE : n % GROUP_SIZE;
        BENCH_CHECK(b.updates == want && b.others == 0,
                    "%s n=%zu change %zu: updates=%llu others=%llu, want %llu updates",
                    kind_names[kind], n, k, (unsigned long long)b.updates,
                    (unsigned long long)b.others, (unsigned long long)want);
        if (smoke && k % 10 == 0)
            BENCH_CHECK(krt_engine_check(b.engine) == KRT_OK, "krt_engine_check after change");
    }
    krt_collection_stats(b.outs, &after);
    res->recomputes_per_change = (double)(after.recomputes - before.recomputes) / (double)changes;
    res->scans_per_change = (double)(after.scans - before.scans) / (double)changes;
    qsort(lat, changes, sizeof *lat, cmp_u64);
    res->p50_ns = (double)lat[changes / 2];
    res->p99_ns = (double)lat[(changes * 99) / 100];
    res->max_ns = (double)lat[changes - 1];
    /* The sum of the per-change times, so the smoke run's invariant checks are not counted. */
    uint64_t total = 0;
    for (size_t k = 0; k < changes; k++)
        total += lat[k];
    res->ns_per_change = (double)total / (double)changes;
    krt_free(lat);

    krt_handler_unsubscribe(b.handler);
    krt_engine_free(b.engine);
    krt_free(b.group_labels);
    krt_free(b.group_label);
    krt_free(b.group_values);
    res->peak_rss = bench_peak_rss();
    res->done = 1;
}

/* Returns: the value following |flag| in argv, or NULL. */
static const char *arg_value(int argc, char **argv, const char *flag)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return argv[i + 1];
    return NULL;
}

int main(int argc, char **argv)
{
    bool smoke = bench_has_flag(argc, argv, "--smoke");
    static const size_t full_sizes[] = {10000, 100000, 1000000};
    static const size_t smoke_sizes[] = {256, 512, 1024};
    size_t sizes[3], nsizes = 3;
    memcpy(sizes, smoke ? smoke_sizes : full_sizes, sizeof sizes);
    size_t changes = smoke ? 50 : 10000;
    int only_kind = -1;

    /* Single-case options, for profiling one case: --kind K, --n N, --changes C. */
    const char *v;
    if ((v = arg_value(argc, argv, "--n")) != NULL) {
        sizes[0] = strtoul(v, NULL, 10);
        nsizes = 1;
        BENCH_CHECK(sizes[0] > 0, "--n must be positive");
    }
    if ((v = arg_value(argc, argv, "--changes")) != NULL) {
        changes = strtoul(v, NULL, 10);
        BENCH_CHECK(changes > 0, "--changes must be positive");
    }
    if ((v = arg_value(argc, argv, "--kind")) != NULL) {
        for (int k = 0; k < KIND_COUNT; k++)
            if (strcmp(v, kind_names[k]) == 0)
                only_kind = k;
        BENCH_CHECK(only_kind >= 0, "--kind must be keyed, indexed or label");
    }

    size_t res_size = sizeof(result_t) * KIND_COUNT * nsizes;
    result_t *res = mmap(NULL, res_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    BENCH_CHECK(res != MAP_FAILED, "mmap");
    memset(res, 0, res_size);

    int failed = 0;
    for (int kind = 0; kind < KIND_COUNT; kind++) {
        if (only_kind >= 0 && kind != only_kind)
            continue;
        for (size_t s = 0; s < nsizes; s++) {
            result_t *r = &res[(size_t)kind * nsizes + s];
            fflush(stdout);
            pid_t pid = fork();
            BENCH_CHECK(pid >= 0, "fork");
            if (pid == 0) {
                run_case((kind_t)kind, sizes[s], changes, smoke, r);
                fflush(stdout);
                exit(0); /* not _exit: LeakSanitizer checks the child at exit */
            }
            int status = 0;
            BENCH_CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !r->done) {
                fprintf(stderr, "krt_scaling: case kind=%s n=%zu failed (status %d)\n",
                        kind_names[kind], sizes[s], status);
                failed = 1;
                continue;
            }
            printf(
                "krt_scaling kind=%s n=%zu ns_per_change=%.0f p50_ns=%.0f p99_ns=%.0f max_ns=%.0f "
                "recomputes_per_change=%.2f scans_per_change=%.2f changes=%zu build_ms=%.1f "
                "heap_bytes=%llu heap_bytes_per_input=%.0f peak_rss_bytes=%llu smoke=%d\n",
                kind_names[kind], sizes[s], r->ns_per_change, r->p50_ns, r->p99_ns, r->max_ns,
                r->recomputes_per_change, r->scans_per_change, changes, r->build_ms,
                (unsigned long long)r->heap_bytes, (double)r->heap_bytes / (double)sizes[s],
                (unsigned long long)r->peak_rss, smoke);
            printf("# scaling %-7s n=%-8zu %8.0f ns/change (p50 %.0f, p99 %.0f ns), build %.0f ms, "
                   "heap "
                   "%.1f MB, peak RSS %.1f MB\n",
                   kind_names[kind], sizes[s], r->ns_per_change, r->p50_ns, r->p99_ns, r->build_ms,
                   (double)r->heap_bytes / 1e6, (double)r->peak_rss / 1e6);
        }
        const result_t *lo = &res[(size_t)kind * nsizes],
                       *mid = &res[(size_t)kind * nsizes + nsizes - 2],
                       *hi = &res[(size_t)kind * nsizes + nsizes - 1];
        if (nsizes > 1 && lo->done && mid->done && hi->done) {
            /* Also the last step alone (100k -> 1M): both sizes are far beyond the CPU caches, so
             * it separates the algorithm from the memory hierarchy. */
            printf("krt_scaling_ratio kind=%s n_small=%zu n_large=%zu ratio=%.2f ratio_p50=%.2f "
                   "n_mid=%zu ratio_p50_mid=%.2f\n",
                   kind_names[kind], sizes[0], sizes[nsizes - 1],
                   hi->ns_per_change / lo->ns_per_change, hi->p50_ns / lo->p50_ns,
                   sizes[nsizes - 2], hi->p50_ns / mid->p50_ns);
            printf("# scaling %-7s cost at n=%zu / cost at n=%zu = %.2f (median %.2f; from n=%zu: "
                   "%.2f; flat is ~1)\n",
                   kind_names[kind], sizes[nsizes - 1], sizes[0],
                   hi->ns_per_change / lo->ns_per_change, hi->p50_ns / lo->p50_ns,
                   sizes[nsizes - 2], hi->p50_ns / mid->p50_ns);
        }
    }
    munmap(res, res_size);
    return failed;
}
