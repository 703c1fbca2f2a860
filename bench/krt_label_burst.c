/*
 * krt_label_burst: the shape of istio#60366, where a burst of pod events stalled Istio's krt for
 * more than 30 minutes.
 *
 * 10,000 pods in one namespace carry one of 500 `app` values (20 pods each); 500 policies each
 * select one value (policy i selects app=app-i), so every pod is selected by exactly one policy.
 * PolicyResults is a derived collection over policies: each policy fetches its pods with
 * krt_fetch_labels (pod labels contain the selector) and emits a result (policy key, pod count, a
 * hash of the pods' IPs). A burst replaces all 10,000 pods with copies carrying new IPs (10,000
 * puts) and flushes once.
 *
 * What libkrt promises, and this bench aborts on if broken: each affected policy recomputes exactly
 * once in that flush (recomputes == affected == 500), and the subscriber sees exactly one UPDATE
 * per affected policy. Istio's krt instead reran every dependent policy for each pod event batch.
 *
 * Measured: ms per burst (puts + flush; mean and median), over enough bursts to last >= 1 s (at
 * least 5), plus the first burst and the slowest one, and bytes allocated per burst (counting
 * krt_allocator_t; the bench's own objects are allocated with krt_malloc too).
 *
 * Usage: krt_label_burst [--smoke]   (--smoke: 1,000 pods, 50 policies, 3 bursts, invariant checks)
 */
#include "bench_util.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct config {
    size_t pods;
    size_t apps; /* = policies */
    bool smoke;
} config_t;

/* ---- types ------------------------------------------------------------------------------------
 */

typedef struct pod {
    krt_obj_t base;
    const krt_labels_t *labels; /* shared per app value, owned by the bench */
    uint32_t ip;
    uint32_t app;
    char key[32];
} pod_t;

typedef struct policy {
    krt_obj_t base;
    const krt_labels_t *selector; /* shared per app value, owned by the bench */
    uint32_t app;
    char key[32];
} policy_t;

/* The result holds a reference to its policy (its key is the policy's). */
typedef struct result {
    krt_obj_t base;
    const policy_t *policy;
    uint32_t count;
    uint64_t ip_hash;
} result_t;

static const char *const bench_ns = "default";

static const char *pod_key(const krt_obj_t *o)
{
    return ((const pod_t *)o)->key;
}
static uint64_t pod_hash(const krt_obj_t *o)
{
    const pod_t *p = (const pod_t *)o;
    return krt_hash_combine(krt_hash_combine(krt_hash_str(p->key, 0), p->ip), p->app);
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
static const char *obj_namespace(const krt_obj_t *o)
{
    (void)o;
    return bench_ns;
}

static const krt_type_t pod_type = {
    .name = "bench.Pod",
    .key = pod_key,
    .hash = pod_hash,
    .equals = pod_equals,
    .free = bench_obj_free,
    .dump = pod_dump,
    .labels = pod_labels,
    .namespace_ = obj_namespace,
};

static const char *policy_key(const krt_obj_t *o)
{
    return ((const policy_t *)o)->key;
}
static uint64_t policy_hash(const krt_obj_t *o)
{
    const policy_t *p = (const policy_t *)o;
    return krt_hash_combine(krt_hash_str(p->key, 0), p->app);
}
static bool policy_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const policy_t *x = (const policy_t *)a, *y = (const policy_t *)b;
    return x->app == y->app && strcmp(x->key, y->key) == 0;
}
static json_t *policy_dump(const krt_obj_t *o)
{
    return json_pack("{s:s}", "key", ((const policy_t *)o)->key);
}
static bool policy_selector(const krt_obj_t *o, krt_labels_t *out)
{
    *out = *((const policy_t *)o)->selector;
    return true;
}

static const krt_type_t policy_type = {
    .name = "bench.Policy",
    .key = policy_key,
    .hash = policy_hash,
    .equals = policy_equals,
    .free = bench_obj_free,
    .dump = policy_dump,
    .selector = policy_selector,
    .namespace_ = obj_namespace,
};

static const char *result_key(const krt_obj_t *o)
{
    return ((const result_t *)o)->policy->key;
}
static uint64_t result_hash(const krt_obj_t *o)
{
    const result_t *r = (const result_t *)o;
    return krt_hash_combine(krt_hash_combine(krt_hash_str(r->policy->key, 0), r->count),
                            r->ip_hash);
}
static bool result_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const result_t *x = (const result_t *)a, *y = (const result_t *)b;
    return x->count == y->count && x->ip_hash == y->ip_hash &&
           strcmp(x->policy->key, y->policy->key) == 0;
}
static void result_free(krt_obj_t *o)
{
    krt_obj_release(&((result_t *)o)->policy->base);
    krt_free(o);
}
static json_t *result_dump(const krt_obj_t *o)
{
    const result_t *r = (const result_t *)o;
    return json_pack("{s:s, s:I, s:I}", "key", r->policy->key, "pods", (json_int_t)r->count,
                     "ipHash", (json_int_t)(r->ip_hash >> 1));
}

static const krt_type_t result_type = {
    .name = "bench.PolicyResult",
    .key = result_key,
    .hash = result_hash,
    .equals = result_equals,
    .free = result_free,
    .dump = result_dump,
};

/* Order-independent combination of pod IPs, so the brute-force check need not sort. */
static uint64_t ip_mix(uint32_t ip)
{
    return krt_hash_combine(0x9e3779b97f4a7c15ULL, ip);
}

/* ---- the bench --------------------------------------------------------------------------------
 */

typedef struct bench {
    config_t cfg;
    krt_engine_t *engine;
    krt_collection_t *pods;
    krt_collection_t *policies;
    krt_collection_t *results;
    krt_handler_t *handler;
    bench_apps_t apps;
    char (*pod_keys)[32];
    uint32_t *ips;      /* the IP each pod was last given, for the brute-force check */
    uint8_t *app_dirty; /* per app value: a pod with it changed in this burst */
    uint64_t adds, updates, deletes;
} bench_t;

static const pod_t *pod_new(bench_t *b, size_t i, uint32_t ip)
{
    pod_t *p = bench_xmalloc(sizeof *p);
    memset(&p->base, 0, sizeof p->base);
    p->app = (uint32_t)(i % b->cfg.apps);
    p->labels = &b->apps.labels[p->app];
    p->ip = ip;
    memcpy(p->key, b->pod_keys[i], sizeof p->key);
    krt_obj_seal(&p->base, &pod_type);
    b->ips[i] = ip;
    return p;
}

static const policy_t *policy_new(bench_t *b, size_t i)
{
    policy_t *p = bench_xmalloc(sizeof *p);
    memset(&p->base, 0, sizeof p->base);
    p->app = (uint32_t)i;
    p->selector = &b->apps.labels[i];
    snprintf(p->key, sizeof p->key, "%s/policy-%u", bench_ns, (unsigned)i);
    krt_obj_seal(&p->base, &policy_type);
    return p;
}

static int result_build(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    bench_t *b = ud;
    const policy_t *pol = (const policy_t *)in;
    const krt_obj_t *const *pods;
    size_t n = krt_fetch_labels(ctx, b->pods, pol->selector, &pods);
    result_t *r = krt_malloc(sizeof *r);
    if (!r)
        return KRT_ENOMEM;
    memset(&r->base, 0, sizeof r->base);
    r->policy = (const policy_t *)krt_obj_retain(in);
    r->count = (uint32_t)n;
    r->ip_hash = 0;
    for (size_t i = 0; i < n; i++)
        r->ip_hash += ip_mix(((const pod_t *)pods[i])->ip);
    krt_obj_seal(&r->base, &result_type);
    return krt_emit(ctx, &r->base);
}

static void on_results(const krt_batch_t *batch, void *ud)
{
    bench_t *b = ud;
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

/* Every result must match a brute-force count and IP hash of its pods. */
static void verify_results(bench_t *b)
{
    size_t apps = b->cfg.apps;
    uint32_t *count = bench_xmalloc(apps * sizeof *count);
    uint64_t *hash = bench_xmalloc(apps * sizeof *hash);
    memset(count, 0, apps * sizeof *count);
    memset(hash, 0, apps * sizeof *hash);
    for (size_t i = 0; i < b->cfg.pods; i++) {
        count[i % apps]++;
        hash[i % apps] += ip_mix(b->ips[i]);
    }
    BENCH_CHECK(krt_collection_len(b->results) == apps, "results=%zu, want %zu",
                krt_collection_len(b->results), apps);
    for (size_t a = 0; a < apps; a++) {
        char key[32];
        snprintf(key, sizeof key, "%s/policy-%u", bench_ns, (unsigned)a);
        const result_t *r = (const result_t *)krt_collection_get(b->results, key);
        BENCH_CHECK(r != NULL, "no result for %s", key);
        BENCH_CHECK(r->count == count[a] && r->ip_hash == hash[a],
                    "%s: count=%u (want %u), stale IP hash=%d", key, r->count, count[a],
                    r->ip_hash != hash[a]);
    }
    krt_free(hash);
    krt_free(count);
}

static void bench_setup(bench_t *b)
{
    const config_t *c = &b->cfg;
    bench_apps_init(&b->apps, c->apps);
    b->pod_keys = bench_xmalloc(c->pods * sizeof *b->pod_keys);
    for (size_t i = 0; i < c->pods; i++)
        snprintf(b->pod_keys[i], sizeof b->pod_keys[i], "%s/pod-%u", bench_ns, (unsigned)i);
    b->ips = bench_xmalloc(c->pods * sizeof *b->ips);
    b->app_dirty = bench_xmalloc(c->apps);

    b->engine = krt_engine_new();
    BENCH_CHECK(b->engine != NULL, "krt_engine_new");
    krt_engine_set_log(b->engine, bench_log_cb, NULL);
    b->pods = krt_static_new(b->engine, &pod_type, "Pods", true);
    b->policies = krt_static_new(b->engine, &policy_type, "Policies", true);
    BENCH_CHECK(b->pods && b->policies, "krt_static_new");
    b->results = krt_derive_new(b->engine, b->policies, &result_type, "PolicyResults",
                                KRT_DERIVE_ONE, result_build, b);
    BENCH_CHECK(b->results != NULL, "krt_derive_new");
    for (size_t i = 0; i < c->pods; i++) {
        int rc = krt_static_put(b->pods, &pod_new(b, i, 0x0a000000u + (uint32_t)i)->base);
        BENCH_CHECK(rc == KRT_OK, "put pod: %s", krt_strerror(rc));
    }
    for (size_t a = 0; a < c->apps; a++) {
        int rc = krt_static_put(b->policies, &policy_new(b, a)->base);
        BENCH_CHECK(rc == KRT_OK, "put policy: %s", krt_strerror(rc));
    }
    b->handler = krt_collection_subscribe(b->results, on_results, b, true);
    BENCH_CHECK(b->handler != NULL, "subscribe");
    int rc = krt_engine_flush(b->engine);
    BENCH_CHECK(rc == KRT_OK, "initial flush: %s", krt_strerror(rc));
    BENCH_CHECK(b->adds == c->apps && b->updates == 0 && b->deletes == 0,
                "initial state: adds=%llu, want %zu", (unsigned long long)b->adds, c->apps);
    verify_results(b);
}

static void bench_teardown(bench_t *b)
{
    krt_handler_unsubscribe(b->handler);
    krt_engine_free(b->engine);
    krt_free(b->app_dirty);
    krt_free(b->ips);
    krt_free(b->pod_keys);
    bench_apps_dispose(&b->apps);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct burst {
    uint64_t ns;
    uint64_t recomputes;
    uint64_t affected;
} burst_t;

/* One burst: every pod gets a new IP (one put each), then one flush. */
static burst_t run_burst(bench_t *b, uint32_t round)
{
    krt_stats_t before, after;
    krt_collection_stats(b->results, &before);
    memset(b->app_dirty, 0, b->cfg.apps);
    b->adds = b->updates = b->deletes = 0;

    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < b->cfg.pods; i++) {
        uint32_t ip = 0x0a000000u + round * 0x10000u + (uint32_t)i;
        int rc = krt_static_put(b->pods, &pod_new(b, i, ip)->base);
        BENCH_CHECK(rc == KRT_OK, "put pod: %s", krt_strerror(rc));
    }
    int rc = krt_engine_flush(b->engine);
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(rc == KRT_OK, "flush: %s", krt_strerror(rc));

    /* Affected = policies selecting at least one changed pod (here: every pod changed). */
    burst_t r = {.ns = t1 - t0};
    for (size_t i = 0; i < b->cfg.pods; i++)
        b->app_dirty[i % b->cfg.apps] = 1;
    for (size_t a = 0; a < b->cfg.apps; a++)
        r.affected += b->app_dirty[a];
    krt_collection_stats(b->results, &after);
    r.recomputes = after.recomputes - before.recomputes;
    BENCH_CHECK(r.recomputes <= r.affected, "burst %u: recomputes=%llu > affected=%llu", round,
                (unsigned long long)r.recomputes, (unsigned long long)r.affected);
    BENCH_CHECK(r.recomputes == r.affected,
                "burst %u: recomputes=%llu, affected=%llu "
                "(an affected policy was not recomputed)",
                round, (unsigned long long)r.recomputes, (unsigned long long)r.affected);
    BENCH_CHECK(b->updates == r.affected && b->adds == 0 && b->deletes == 0,
                "burst %u: updates=%llu adds=%llu deletes=%llu, want %llu updates", round,
                (unsigned long long)b->updates, (unsigned long long)b->adds,
                (unsigned long long)b->deletes, (unsigned long long)r.affected);
    if (b->cfg.smoke) {
        verify_results(b);
        BENCH_CHECK(krt_engine_check(b->engine) == KRT_OK, "krt_engine_check after burst %u",
                    round);
    }
    return r;
}

int main(int argc, char **argv)
{
    bench_t b = {0};
    b.cfg = (config_t){.pods = 10000, .apps = 500};
    if (bench_has_flag(argc, argv, "--smoke"))
        b.cfg = (config_t){1000, 50, true};
    bench_alloc_install();

    uint64_t s0 = bench_now_ns();
    bench_setup(&b);
    uint64_t setup_ns = bench_now_ns() - s0;

    enum { MAX_BURSTS = 1000 };
    uint64_t *times = bench_xmalloc(MAX_BURSTS * sizeof *times); /* before the counters start */
    /* At least 5 bursts and 1 s of bursts (3 bursts for --smoke), at most 1,000. */
    uint64_t min_bursts = b.cfg.smoke ? 3 : 5, total_ns = 0, max_ns = 0, min_ns = UINT64_MAX;
    uint64_t first_ns = 0, bursts = 0, bytes0 = bench_alloc.bytes, recomputes = 0, affected = 0;
    uint64_t allocs0 = bench_alloc.allocs;
    while (bursts < min_bursts || (!b.cfg.smoke && total_ns < 1000000000u && bursts < MAX_BURSTS)) {
        burst_t r = run_burst(&b, (uint32_t)bursts + 1);
        if (bursts == 0)
            first_ns = r.ns;
        total_ns += r.ns;
        if (r.ns > max_ns)
            max_ns = r.ns;
        if (r.ns < min_ns)
            min_ns = r.ns;
        recomputes = r.recomputes;
        affected = r.affected;
        times[bursts++] = r.ns;
    }
    uint64_t bytes = bench_alloc.bytes - bytes0, allocs = bench_alloc.allocs - allocs0;
    verify_results(&b);

    double ms = (double)total_ns / (double)bursts / 1e6;
    qsort(times, bursts, sizeof *times, cmp_u64);
    double median_ms = (double)times[bursts / 2] / 1e6;
    krt_free(times);
    printf("krt_label_burst ms_per_burst=%.3f median_ms=%.3f first_ms=%.3f min_ms=%.3f max_ms=%.3f "
           "bytes_per_burst=%.0f allocs_per_burst=%.1f recomputes=%llu affected=%llu bursts=%llu "
           "pods=%zu policies=%zu "
           "setup_ms=%.3f smoke=%d\n",
           ms, median_ms, (double)first_ns / 1e6, (double)min_ns / 1e6, (double)max_ns / 1e6,
           (double)bytes / (double)bursts, (double)allocs / (double)bursts,
           (unsigned long long)recomputes, (unsigned long long)affected, (unsigned long long)bursts,
           b.cfg.pods, b.cfg.apps, (double)setup_ns / 1e6, b.cfg.smoke);
    printf("# label burst: %zu pod updates + 1 flush = %.3f ms (mean of %llu, worst %.3f ms), "
           "%llu policy recomputes for %llu affected (target <= 100 ms; Go krt: > 30 min)\n",
           b.cfg.pods, ms, (unsigned long long)bursts, (double)max_ns / 1e6,
           (unsigned long long)recomputes, (unsigned long long)affected);
    bench_teardown(&b);
    return 0;
}
