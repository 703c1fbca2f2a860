/*
 * krt_controllers: the shape of Istio krt's BenchmarkControllers, on libkrt.
 *
 * 1,000 pods in 2 namespaces carrying one of 25 `app` label values, and 50 services, each selecting
 * one (namespace, app) pair. Workloads is a derived collection over pods: each pod fetches, through
 * a namespace index on services, the services of its namespace whose non-empty selector is
 * contained in the pod's labels, and emits a workload (pod key, IP, the selecting services). One op
 * replaces every pod with a copy carrying a new IP, flushes, and counts what a subscriber on
 * Workloads received: exactly one UPDATE per pod, or the bench aborts.
 *
 * Objects are compact C structs, not JSON, because that is how an embedder that cares about speed
 * would write them; labels are one shared static array per app value, so creating a pod allocates
 * one struct and nothing else. The workload keeps references to its pod and services instead of
 * copying their strings (objects are immutable and refcounted, so sharing is safe).
 *
 * Measured: ns/op with CLOCK_MONOTONIC around N ops (N grows until a run lasts >= 1 s, then 5 runs
 * of N ops; the median is reported with the range), and bytes/op through a counting
 * krt_allocator_t. The bench allocates its own objects with krt_malloc, so bytes/op covers the pods
 * the op creates as well as everything the engine allocates.
 *
 * Usage: krt_controllers [--smoke]   (--smoke: tiny sizes, 3 ops, invariant checks after each)
 */
#include "bench_util.h"

#include <jansson.h>
#include <stdbool.h>

#define NS_COUNT 2

static const char *const ns_names[NS_COUNT] = {"ns-0", "ns-1"};

typedef struct config {
    size_t pods;
    size_t apps;
    size_t services;
    bool smoke;
} config_t;

/* ---- types ------------------------------------------------------------------------------------
 */

typedef struct pod {
    krt_obj_t base;
    const char *ns;             /* static string */
    const krt_labels_t *labels; /* shared per app value, owned by the bench */
    uint32_t ip;
    uint32_t app;
    char key[24]; /* "ns/name" */
} pod_t;

typedef struct service {
    krt_obj_t base;
    const char *ns;
    const krt_labels_t *selector; /* shared per app value, owned by the bench */
    uint32_t app;
    char key[24];
} service_t;

/* A workload holds a reference to its pod and to each selecting service (in key order). */
typedef struct workload {
    krt_obj_t base;
    const pod_t *pod;
    uint32_t ip;
    uint32_t nsvc;
    const service_t *svc[];
} workload_t;

static const char *pod_key(const krt_obj_t *o)
{
    return ((const pod_t *)o)->key;
}
static uint64_t pod_hash(const krt_obj_t *o)
{
    const pod_t *p = (const pod_t *)o;
    uint64_t h = krt_hash_str(p->key, 0);
    h = krt_hash_combine(h, p->ip);
    return krt_hash_combine(h, p->app);
}
static bool pod_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const pod_t *x = (const pod_t *)a, *y = (const pod_t *)b;
    return x->ip == y->ip && x->app == y->app && strcmp(x->key, y->key) == 0;
}
static json_t *pod_dump(const krt_obj_t *o)
{
    const pod_t *p = (const pod_t *)o;
    return json_pack("{s:s, s:I}", "key", p->key, "ip", (json_int_t)p->ip);
}
static bool pod_labels(const krt_obj_t *o, krt_labels_t *out)
{
    *out = *((const pod_t *)o)->labels;
    return true;
}
static const char *pod_namespace(const krt_obj_t *o)
{
    return ((const pod_t *)o)->ns;
}

static const krt_type_t pod_type = {
    .name = "bench.Pod",
    .key = pod_key,
    .hash = pod_hash,
    .equals = pod_equals,
    .free = bench_obj_free,
    .dump = pod_dump,
    .labels = pod_labels,
    .namespace_ = pod_namespace,
};

static const char *service_key(const krt_obj_t *o)
{
    return ((const service_t *)o)->key;
}
static uint64_t service_hash(const krt_obj_t *o)
{
    const service_t *s = (const service_t *)o;
    return krt_hash_combine(krt_hash_str(s->key, 0), s->app);
}
static bool service_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const service_t *x = (const service_t *)a, *y = (const service_t *)b;
    return x->app == y->app && strcmp(x->key, y->key) == 0;
}
static json_t *service_dump(const krt_obj_t *o)
{
    return json_pack("{s:s}", "key", ((const service_t *)o)->key);
}
static bool service_selector(const krt_obj_t *o, krt_labels_t *out)
{
    *out = *((const service_t *)o)->selector;
    return true;
}
static const char *service_namespace(const krt_obj_t *o)
{
    return ((const service_t *)o)->ns;
}

static const krt_type_t service_type = {
    .name = "bench.Service",
    .key = service_key,
    .hash = service_hash,
    .equals = service_equals,
    .free = bench_obj_free,
    .dump = service_dump,
    .selector = service_selector,
    .namespace_ = service_namespace,
};

static const char *workload_key(const krt_obj_t *o)
{
    return ((const workload_t *)o)->pod->key;
}
static uint64_t workload_hash(const krt_obj_t *o)
{
    /* The pod's hash already covers its key and IP: combine it instead of rehashing the key. */
    const workload_t *w = (const workload_t *)o;
    uint64_t h = krt_hash_combine(w->pod->base.hash, w->ip);
    for (uint32_t i = 0; i < w->nsvc; i++)
        h = krt_hash_combine(h, w->svc[i]->base.hash);
    return h;
}
static bool workload_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const workload_t *x = (const workload_t *)a, *y = (const workload_t *)b;
    /* Compares what the hash covers: the pod and service objects themselves. */
    if (x->ip != y->ip || x->nsvc != y->nsvc || !krt_obj_equal(&x->pod->base, &y->pod->base))
        return false;
    for (uint32_t i = 0; i < x->nsvc; i++)
        if (!krt_obj_equal(&x->svc[i]->base, &y->svc[i]->base))
            return false;
    return true;
}
static void workload_free(krt_obj_t *o)
{
    workload_t *w = (workload_t *)o;
    krt_obj_release(&w->pod->base);
    for (uint32_t i = 0; i < w->nsvc; i++)
        krt_obj_release(&w->svc[i]->base);
    krt_free(w);
}
static json_t *workload_dump(const krt_obj_t *o)
{
    const workload_t *w = (const workload_t *)o;
    json_t *svcs = json_array();
    for (uint32_t i = 0; i < w->nsvc; i++)
        json_array_append_new(svcs, json_string(w->svc[i]->key));
    return json_pack("{s:s, s:I, s:o}", "key", w->pod->key, "ip", (json_int_t)w->ip, "services",
                     svcs);
}

static const krt_type_t workload_type = {
    .name = "bench.Workload",
    .key = workload_key,
    .hash = workload_hash,
    .equals = workload_equals,
    .free = workload_free,
    .dump = workload_dump,
};

/* ---- the bench --------------------------------------------------------------------------------
 */

typedef struct bench {
    config_t cfg;
    krt_engine_t *engine;
    krt_collection_t *pods;
    krt_collection_t *services;
    krt_collection_t *workloads;
    krt_index_t *svc_by_ns;
    krt_handler_t *handler;
    /* Shared label storage: one {app=app-N} array per app value. */
    bench_apps_t apps;
    /* Pod keys, computed once so an op does no formatting. */
    char (*pod_keys)[24];
    /* What the subscriber saw since the last reset. */
    uint64_t adds, updates, deletes, batches;
} bench_t;

static const pod_t *pod_new(bench_t *b, size_t i, uint32_t ip)
{
    pod_t *p = bench_xmalloc(sizeof *p);
    memset(&p->base, 0, sizeof p->base);
    p->ns = ns_names[i % NS_COUNT];
    p->app = (uint32_t)(i % b->cfg.apps);
    p->labels = &b->apps.labels[p->app];
    p->ip = ip;
    memcpy(p->key, b->pod_keys[i], sizeof p->key);
    krt_obj_seal(&p->base, &pod_type);
    return p;
}

static const service_t *service_new(bench_t *b, size_t i)
{
    service_t *s = bench_xmalloc(sizeof *s);
    memset(&s->base, 0, sizeof s->base);
    s->ns = ns_names[i % NS_COUNT];
    s->app = (uint32_t)(i % b->cfg.apps);
    s->selector = &b->apps.labels[s->app];
    snprintf(s->key, sizeof s->key, "%s/svc-%u", s->ns, (unsigned)i);
    krt_obj_seal(&s->base, &service_type);
    return s;
}

/* Workloads transformation: the pod's namespace bucket of services, narrowed to the services whose
 * non-empty selector the pod's labels satisfy. */
static int workload_build(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    bench_t *b = ud;
    const pod_t *p = (const pod_t *)in;
    krt_filter_t f = {
        .index = b->svc_by_ns,
        .index_key = p->ns,
        .selects = p->labels,
        .selects_nonempty = true,
    };
    const krt_obj_t *const *svcs;
    size_t n = krt_fetch(ctx, b->services, &f, &svcs);
    workload_t *w = krt_malloc(sizeof *w + n * sizeof w->svc[0]);
    if (!w)
        return KRT_ENOMEM;
    memset(&w->base, 0, sizeof w->base);
    w->pod = (const pod_t *)krt_obj_retain(in);
    w->ip = p->ip;
    w->nsvc = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        w->svc[i] = (const service_t *)krt_obj_retain(svcs[i]);
    krt_obj_seal(&w->base, &workload_type);
    return krt_emit(ctx, &w->base);
}

static void on_workloads(const krt_batch_t *batch, void *ud)
{
    bench_t *b = ud;
    b->batches++;
    for (size_t i = 0; i < batch->len; i++) {
        switch (batch->events[i].op) {
        case KRT_ADD:
            b->adds++;
            break;
        case KRT_UPDATE:
            b->updates++;
            break;
        case KRT_DELETE:
            b->deletes++;
            break;
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void reset_counts(bench_t *b)
{
    b->adds = b->updates = b->deletes = b->batches = 0;
}

/* Checks every workload against a brute-force answer: its pod's IP, and exactly the services of its
 * namespace selecting its app. */
static void verify_workloads(bench_t *b)
{
    BENCH_CHECK(krt_collection_len(b->workloads) == b->cfg.pods, "workloads=%zu pods=%zu",
                krt_collection_len(b->workloads), b->cfg.pods);
    for (size_t i = 0; i < b->cfg.pods; i++) {
        const workload_t *w = (const workload_t *)krt_collection_get(b->workloads, b->pod_keys[i]);
        const pod_t *p = (const pod_t *)krt_collection_get(b->pods, b->pod_keys[i]);
        BENCH_CHECK(w != NULL && p != NULL, "missing workload or pod %s", b->pod_keys[i]);
        BENCH_CHECK(w->ip == p->ip, "workload %s has a stale IP", b->pod_keys[i]);
        uint32_t want = 0;
        for (size_t s = 0; s < b->cfg.services; s++)
            if (s % NS_COUNT == i % NS_COUNT && s % b->cfg.apps == i % b->cfg.apps)
                want++;
        BENCH_CHECK(w->nsvc == want, "workload %s has %u services, want %u", b->pod_keys[i],
                    w->nsvc, want);
        for (uint32_t k = 0; k < w->nsvc; k++)
            BENCH_CHECK(w->svc[k]->app == p->app && w->svc[k]->ns == p->ns,
                        "workload %s lists a service that does not select it", b->pod_keys[i]);
    }
}

static void bench_setup(bench_t *b)
{
    const config_t *c = &b->cfg;
    bench_apps_init(&b->apps, c->apps);
    b->pod_keys = bench_xmalloc(c->pods * sizeof *b->pod_keys);
    for (size_t i = 0; i < c->pods; i++)
        snprintf(b->pod_keys[i], sizeof b->pod_keys[i], "%s/pod-%u", ns_names[i % NS_COUNT],
                 (unsigned)i);

    b->engine = krt_engine_new();
    BENCH_CHECK(b->engine != NULL, "krt_engine_new");
    krt_engine_set_log(b->engine, bench_log_cb, NULL);
    b->pods = krt_static_new(b->engine, &pod_type, "Pods", true);
    b->services = krt_static_new(b->engine, &service_type, "Services", true);
    BENCH_CHECK(b->pods && b->services, "krt_static_new");
    b->svc_by_ns = krt_index_namespace(b->services);
    BENCH_CHECK(b->svc_by_ns != NULL, "krt_index_namespace");
    b->workloads = krt_derive_new(b->engine, b->pods, &workload_type, "Workloads", KRT_DERIVE_ONE,
                                  workload_build, b);
    BENCH_CHECK(b->workloads != NULL, "krt_derive_new");

    for (size_t s = 0; s < c->services; s++) {
        int rc = krt_static_put(b->services, &service_new(b, s)->base);
        BENCH_CHECK(rc == KRT_OK, "put service: %s", krt_strerror(rc));
    }
    for (size_t i = 0; i < c->pods; i++) {
        int rc = krt_static_put(b->pods, &pod_new(b, i, 0x0a000000u + (uint32_t)i)->base);
        BENCH_CHECK(rc == KRT_OK, "put pod: %s", krt_strerror(rc));
    }
    b->handler = krt_collection_subscribe(b->workloads, on_workloads, b, true);
    BENCH_CHECK(b->handler != NULL, "subscribe");
    int rc = krt_engine_flush(b->engine);
    BENCH_CHECK(rc == KRT_OK, "initial flush: %s", krt_strerror(rc));
    BENCH_CHECK(b->adds == c->pods && b->updates == 0 && b->deletes == 0,
                "initial state: adds=%llu updates=%llu deletes=%llu, want %zu adds",
                (unsigned long long)b->adds, (unsigned long long)b->updates,
                (unsigned long long)b->deletes, c->pods);
    verify_workloads(b);
}

static void bench_teardown(bench_t *b)
{
    krt_handler_unsubscribe(b->handler);
    krt_engine_free(b->engine);
    krt_free(b->pod_keys);
    bench_apps_dispose(&b->apps);
}

/* One op: every pod gets a new IP, one flush, and the subscriber must have seen one update each. */
static void run_op(bench_t *b, uint32_t round)
{
    krt_stats_t before, after;
    if (b->cfg.smoke)
        krt_collection_stats(b->workloads, &before);
    for (size_t i = 0; i < b->cfg.pods; i++) {
        uint32_t ip = 0x0a000000u + round * 0x10000u + (uint32_t)i;
        int rc = krt_static_put(b->pods, &pod_new(b, i, ip)->base);
        BENCH_CHECK(rc == KRT_OK, "put pod: %s", krt_strerror(rc));
    }
    reset_counts(b);
    int rc = krt_engine_flush(b->engine);
    BENCH_CHECK(rc == KRT_OK, "flush: %s", krt_strerror(rc));
    BENCH_CHECK(b->updates == b->cfg.pods && b->adds == 0 && b->deletes == 0 && b->batches == 1,
                "op %u: updates=%llu adds=%llu deletes=%llu batches=%llu, want %zu updates in 1 "
                "batch",
                round, (unsigned long long)b->updates, (unsigned long long)b->adds,
                (unsigned long long)b->deletes, (unsigned long long)b->batches, b->cfg.pods);
    if (b->cfg.smoke) {
        krt_collection_stats(b->workloads, &after);
        BENCH_CHECK(after.recomputes - before.recomputes == b->cfg.pods,
                    "op %u: %llu recomputes, want %zu", round,
                    (unsigned long long)(after.recomputes - before.recomputes), b->cfg.pods);
        BENCH_CHECK(krt_engine_check(b->engine) == KRT_OK, "krt_engine_check after op %u", round);
    }
}

int main(int argc, char **argv)
{
    bench_t b = {0};
    b.cfg = (config_t){.pods = 1000, .apps = 25, .services = 50};
    if (bench_has_flag(argc, argv, "--smoke"))
        b.cfg = (config_t){100, 5, 10, true};
    bench_alloc_install();
    bench_setup(&b);

    uint32_t round = 1;
    for (int w = 0; w < 3; w++)
        run_op(&b, round++); /* warm-up: let buffers reach steady size */

    /* Go's testing package grows N until one run lasts >= 1 s; benchstat then compares the median
     * of several runs. Same here: N is found once, then RUNS runs of N ops each, median reported.
     */
    enum { RUNS = 5 };
    uint64_t n = b.cfg.smoke ? 3 : 1, elapsed = 0, bytes = 0, allocs = 0;
    for (;;) {
        uint64_t bytes0 = bench_alloc.bytes, allocs0 = bench_alloc.allocs;
        uint64_t t0 = bench_now_ns();
        for (uint64_t k = 0; k < n; k++)
            run_op(&b, round++);
        elapsed = bench_now_ns() - t0;
        bytes = bench_alloc.bytes - bytes0;
        allocs = bench_alloc.allocs - allocs0;
        if (b.cfg.smoke || elapsed >= 1000000000u)
            break;
        /* Aim for 1.2 s next time, growing at most 100x per step. */
        uint64_t next = elapsed ? n * 1200000000u / elapsed : n * 100;
        if (next > n * 100)
            next = n * 100;
        n = next > n ? next : n + 1;
    }
    uint64_t runs_ns[RUNS] = {elapsed};
    size_t runs = b.cfg.smoke ? 1 : RUNS;
    for (size_t r = 1; r < runs; r++) {
        uint64_t t0 = bench_now_ns();
        for (uint64_t k = 0; k < n; k++)
            run_op(&b, round++);
        runs_ns[r] = bench_now_ns() - t0;
    }
    qsort(runs_ns, runs, sizeof runs_ns[0], cmp_u64);
    verify_workloads(&b);

    double ns_per_op = (double)runs_ns[runs / 2] / (double)n;
    double min_ns = (double)runs_ns[0] / (double)n, max_ns = (double)runs_ns[runs - 1] / (double)n;
    double bytes_per_op = (double)bytes / (double)n;
    double allocs_per_op = (double)allocs / (double)n;
    printf("krt_controllers ns_per_op=%.0f min_ns_per_op=%.0f max_ns_per_op=%.0f bytes_per_op=%.0f "
           "allocs_per_op=%.1f ops=%llu runs=%zu pods=%zu services=%zu smoke=%d\n",
           ns_per_op, min_ns, max_ns, bytes_per_op, allocs_per_op, (unsigned long long)n, runs,
           b.cfg.pods, b.cfg.services, b.cfg.smoke);
    printf(
        "# controllers: %.3f ms/op (median of %zu runs of %llu ops, range %.3f-%.3f), %.3f MB/op, "
        "%.0f allocs/op (Go krt: 13.4 ms/op, 15.2 MB/op; targets <= 0.5 ms/op, <= 0.2 MB/op)\n",
        ns_per_op / 1e6, runs, (unsigned long long)n, min_ns / 1e6, max_ns / 1e6,
        bytes_per_op / 1e6, allocs_per_op);
    bench_teardown(&b);
    return 0;
}
