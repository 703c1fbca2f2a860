/*
 * Failing-allocation sweep (in the manner of SQLite's and libuv's OOM tests): a scenario that
 * touches every collection kind runs once per allocation, with that allocation failing. Each run
 * must not crash or leak (LeakSanitizer / valgrind check the leak part at exit), every API call
 * must return either success or a failure code, and once allocations succeed again the next
 * flush alone must bring every collection to what a fresh engine computes from the same sources
 * (inputs that ran out of memory are retried; lost change records force a rescan).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "krt/json.h"
#include "krt/krt.h"

static long budget = -1; /* allocations left before failing; -1 = never fail */
static bool fail_once;   /* fail only the allocation at which budget reaches 0, then go on */
static long failures;

/* Spends one allocation of the budget. Returns: false when this allocation is the one to fail. */
static bool oom_spend(void)
{
    if (budget == 0) {
        failures++;
        if (fail_once)
            budget = -1;
        return false;
    }
    if (budget > 0)
        budget--;
    return true;
}
static void *oom_malloc(size_t size, void *ud)
{
    (void)ud;
    return oom_spend() ? malloc(size) : NULL;
}
static void *oom_realloc(void *p, size_t size, void *ud)
{
    (void)ud;
    return oom_spend() ? realloc(p, size) : NULL;
}
static void oom_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static const krt_obj_t *obj(const char *text)
{
    int err;
    /* Objects are made with the real allocator: the sweep targets the engine. */
    long saved = budget;
    budget = -1;
    const krt_obj_t *o = krt_json_parse(text, strlen(text), &err);
    budget = saved;
    assert_non_null(o);
    return o;
}

static const krt_obj_t *pod(int i, int ip)
{
    char buf[256];
    snprintf(buf, sizeof(buf),
             "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%d\",\"namespace\":\"ns%d\","
             "\"labels\":{\"app\":\"a%d\"}},\"status\":{\"podIP\":\"10.0.0.%d\"}}",
             i, i % 2, i % 3, ip);
    return obj(buf);
}

static const krt_obj_t *svc(int i)
{
    char buf[256];
    snprintf(buf, sizeof(buf),
             "{\"kind\":\"Service\",\"metadata\":{\"name\":\"s%d\",\"namespace\":\"ns%d\"},"
             "\"spec\":{\"selector\":{\"app\":\"a%d\"}}}",
             i, i % 2, i % 3);
    return obj(buf);
}

/* Service -> endpoints: the service's pods (namespace index + label fetch), emitted as a JSON
 * object listing pod keys; status: the number of endpoints. */
typedef struct graph {
    krt_engine_t *e;
    krt_collection_t *pods, *svcs, *eps, *eps_status, *joined, *by_app, *trigger, *single, *refs;
    krt_index_t *ns_idx;
} graph_t;

static const krt_obj_t *make_obj(const char *name, const char *ns, json_int_t n)
{
    json_t *v = json_pack("{s{ssss}sI}", "metadata", "name", name, "namespace", ns, "n", n);
    if (!v)
        return NULL;
    int err;
    return krt_json_new(v, &err);
}

static int endpoints_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    graph_t *g = ud;
    krt_labels_t sel = {0};
    if (!krt_json_type.selector(in, &sel))
        return KRT_OK;
    krt_filter_t f = {.index = g->ns_idx, .index_key = krt_json_namespace(in), .labels = &sel};
    const krt_obj_t *const *pods;
    size_t n = krt_fetch(ctx, g->pods, &f, &pods);
    krt_trigger_depend(ctx, g->trigger);
    const krt_obj_t *o = make_obj(krt_json_name(in), krt_json_namespace(in), (json_int_t)n);
    if (!o)
        return KRT_ENOMEM;
    const krt_obj_t *st = make_obj(krt_json_name(in), krt_json_namespace(in), (json_int_t)n);
    if (!st) {
        krt_obj_release(o);
        return KRT_ENOMEM;
    }
    krt_ctx_set_status(ctx, st);
    return krt_emit(ctx, o);
}

static int count_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    (void)in;
    graph_t *g = ud;
    const krt_obj_t *const *all;
    size_t n = krt_fetch(ctx, g->eps, NULL, &all);
    const krt_obj_t *o = make_obj("count", "x", (json_int_t)n);
    return o ? krt_emit(ctx, o) : KRT_ENOMEM;
}

static bool same_selector(const krt_obj_t *old, const krt_obj_t *cur, void *ud)
{
    (void)ud;
    krt_labels_t a = {0}, b = {0};
    krt_json_type.selector(old, &a);
    krt_json_type.selector(cur, &b);
    return krt_labels_contain(&a, &b) && krt_labels_contain(&b, &a);
}

/* Pod -> the services it names: one key (a dependency holding its key inline), three keys (a key
 * array), and the services selecting it with a partial-fetch callback (the rare fields). */
static int refs_fn(krt_ctx_t *ctx, const krt_obj_t *in, void *ud)
{
    graph_t *g = ud;
    const krt_obj_t *one = krt_fetch_key(ctx, g->svcs, "ns0/s0");
    const char *keys[] = {"ns1/s1", "ns0/s2", "ns0/s0"};
    krt_filter_t f = {.keys = keys, .nkeys = 3};
    const krt_obj_t *const *many;
    size_t nmany = krt_fetch(ctx, g->svcs, &f, &many);
    krt_labels_t labels = {0};
    krt_json_type.labels(in, &labels);
    krt_filter_t sf = {.selects = &labels, .selects_nonempty = true, .same = same_selector};
    const krt_obj_t *const *sel;
    size_t nsel = krt_fetch(ctx, g->svcs, &sf, &sel);
    const krt_obj_t *o = make_obj(krt_json_name(in), krt_json_namespace(in),
                                  (json_int_t)((one != NULL) + 10 * nmany + 100 * nsel));
    return o ? krt_emit(ctx, o) : KRT_ENOMEM;
}

static void app_extract(const krt_obj_t *o, krt_keys_t *keys, void *ud)
{
    (void)ud;
    const char *app = krt_json_get_string(o, "metadata.labels.app");
    if (app)
        krt_keys_add(keys, app);
}

static void noop_handler(const krt_batch_t *b, void *ud)
{
    (void)b;
    (void)ud;
}

/* Builds the graph; any step may fail under the sweep. Returns false when construction failed
 * (the engine, if any, is still freed by the caller). */
static bool build(graph_t *g)
{
    memset(g, 0, sizeof(*g));
    g->e = krt_engine_new();
    if (!g->e)
        return false;
    krt_engine_set_log(g->e, NULL, NULL);
    g->pods = krt_static_new(g->e, &krt_json_type, "pods", true);
    g->svcs = krt_static_new(g->e, &krt_json_type, "services", true);
    g->trigger = krt_trigger_new(g->e, "trigger", true);
    if (!g->pods || !g->svcs || !g->trigger)
        return false;
    g->ns_idx = krt_index_namespace(g->pods);
    if (!g->ns_idx)
        return false;
    g->eps = krt_derive_status_new(g->e, g->svcs, &krt_json_type, &krt_json_type, "endpoints",
                                   KRT_DERIVE_ONE, endpoints_fn, g, &g->eps_status);
    if (!g->eps)
        return false;
    krt_collection_t *members[] = {g->svcs, g->pods};
    g->joined = krt_join_new(g->e, members, 2, "joined");
    krt_index_t *apps = krt_index_new(g->pods, "app", app_extract, NULL);
    g->by_app = apps ? krt_index_collection(apps) : NULL;
    g->single = krt_singleton_new(g->e, &krt_json_type, "count", count_fn, g);
    g->refs = krt_derive_new(g->e, g->pods, &krt_json_type, "refs", KRT_DERIVE_ONE, refs_fn, g);
    if (!g->joined || !g->by_app || !g->single || !g->refs)
        return false;
    return krt_collection_subscribe(g->eps, noop_handler, NULL, true) != NULL;
}

/* Mutations and flushes; failures are allowed, crashes and leaks are not. */
static void churn(graph_t *g)
{
    for (int i = 0; i < 6; i++) {
        int rc = krt_static_put(g->pods, pod(i, i));
        assert_true(rc == KRT_OK || rc == KRT_ENOMEM);
    }
    for (int i = 0; i < 3; i++) {
        int rc = krt_static_put(g->svcs, svc(i));
        assert_true(rc == KRT_OK || rc == KRT_ENOMEM);
    }
    int rc = krt_engine_flush(g->e);
    assert_true(rc == KRT_OK || rc < 0);
    krt_static_put(g->pods, pod(1, 99));
    krt_static_delete(g->pods, "ns0/p2");
    krt_trigger_fire(g->trigger);
    krt_engine_flush(g->e);
    json_decref(krt_engine_dump(g->e));
    krt_free(krt_engine_dot(g->e));
}

static size_t sizes(const graph_t *g, size_t *out)
{
    krt_collection_t *cs[] = {g->pods, g->svcs, g->eps, g->eps_status, g->joined, g->by_app,
                              g->single, g->refs};
    for (size_t i = 0; i < 8; i++)
        out[i] = krt_collection_len(cs[i]);
    return 8;
}

static void print_log(int level, const char *msg, void *ud)
{
    print_error("after failing allocation %ld: level %d: %s\n", *(long *)ud, level, msg);
}

static void print_objects(const krt_collection_t *c)
{
    const krt_obj_t *os[16];
    size_t k = krt_collection_list(c, os, 16);
    for (size_t i = 0; i < k && i < 16; i++) {
        json_t *d = krt_obj_dump(os[i]);
        char *txt = json_dumps(d, JSON_COMPACT);
        print_error("  %s\n", txt);
        free(txt);
        json_decref(d);
    }
}

static bool copy_one(const krt_obj_t *o, void *ud)
{
    krt_static_put(ud, krt_obj_retain(o));
    return true;
}

static void copy_source(krt_collection_t *from, krt_collection_t *to)
{
    krt_collection_foreach(from, copy_one, to);
}

/* Same keys with equal objects (status objects compare their status, not the input pointer). */
static bool same_objects(const krt_collection_t *a, const krt_collection_t *b)
{
    size_t n = krt_collection_len(a);
    if (n != krt_collection_len(b))
        return false;
    const krt_obj_t **xs = calloc(n + 1, sizeof(*xs)), **ys = calloc(n + 1, sizeof(*ys));
    krt_collection_list(a, xs, n);
    krt_collection_list(b, ys, n);
    bool same = true;
    for (size_t i = 0; i < n && same; i++) {
        same = strcmp(krt_obj_key(xs[i]), krt_obj_key(ys[i])) == 0;
        if (same && xs[i]->type == &krt_status_type)
            same = krt_obj_equal(krt_status_value(xs[i]), krt_status_value(ys[i]));
        else if (same && xs[i]->type == &krt_index_obj_type) {
            size_t nx, ny;
            const krt_obj_t *const *ix = krt_index_obj_items(xs[i], &nx);
            const krt_obj_t *const *iy = krt_index_obj_items(ys[i], &ny);
            same = nx == ny;
            for (size_t j = 0; j < nx && same; j++)
                same = krt_obj_equal(ix[j], iy[j]);
        } else if (same)
            same = krt_obj_equal(xs[i], ys[i]);
    }
    free(xs);
    free(ys);
    return same;
}

static void sweep(bool once)
{
    fail_once = once;
    krt_allocator_t a = {oom_malloc, oom_realloc, oom_free, NULL};
    krt_allocator_set(&a);

    /* Reference run: how many allocations the scenario makes, and the sizes it ends with. */
    graph_t g;
    budget = -1;
    assert_true(build(&g));
    churn(&g);
    size_t want[8];
    sizes(&g, want);
    krt_engine_free(g.e);

    long total = 0;
    long first = getenv("KRT_OOM_FROM") ? atol(getenv("KRT_OOM_FROM")) : 0;
    for (long n = first;; n++) {
        budget = n;
        failures = 0;
        bool built = build(&g);
        if (built)
            churn(&g);
        if (failures == 0) {
            total = n;
            if (g.e)
                krt_engine_free(g.e);
            break;
        }
        if (built) {
            /* Allocations work again: without any help, the next flush must bring every derived
             * collection to what a fresh engine computes from the same sources. */
            budget = -1;
            krt_engine_flush(g.e);
            graph_t fresh;
            assert_true(build(&fresh));
            copy_source(g.pods, fresh.pods);
            copy_source(g.svcs, fresh.svcs);
            assert_int_equal(krt_engine_flush(fresh.e), KRT_OK);
            size_t got[8], want_now[8];
            sizes(&g, got);
            sizes(&fresh, want_now);
            if (memcmp(got, want_now, sizeof(got)) != 0)
                print_error("allocation %ld failed: the engine did not converge: sizes "
                            "%zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu\n",
                            n, got[0], want_now[0], got[1], want_now[1], got[2], want_now[2],
                            got[3], want_now[3], got[4], want_now[4], got[5], want_now[5],
                            got[6], want_now[6], got[7], want_now[7]);
            assert_memory_equal(got, want_now, sizeof(got));
            if (!same_objects(g.eps, fresh.eps)) {
                print_error("allocation %ld failed: endpoints differ\n", n);
                print_objects(g.eps);
                print_objects(fresh.eps);
            }
            assert_true(same_objects(g.eps, fresh.eps));
            assert_true(same_objects(g.eps_status, fresh.eps_status));
            assert_true(same_objects(g.by_app, fresh.by_app));
            assert_true(same_objects(g.joined, fresh.joined));
            assert_true(same_objects(g.refs, fresh.refs));
            krt_engine_set_log(g.e, print_log, &n);
            assert_int_equal(krt_engine_check(g.e), KRT_OK);
            krt_engine_free(fresh.e);
        }
        if (g.e)
            krt_engine_free(g.e);
    }
    krt_allocator_set(NULL);
    assert_true(total > 100); /* the sweep covered a real scenario */
}

/* From the Nth allocation on, every allocation fails. */
static void test_oom_sweep_never_crashes_or_leaks_and_recovers(void **state)
{
    (void)state;
    sweep(false);
}

/* Only the Nth allocation fails: the engine must carry on and converge within the same run. */
static void test_oom_single_failures_are_retried_and_converge(void **state)
{
    (void)state;
    sweep(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_sweep_never_crashes_or_leaks_and_recovers),
        cmocka_unit_test(test_oom_single_failures_are_retried_and_converge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
