/*
 * The scenario runner of `krtgate bench`: a synthetic cluster through kube_source_apply and the
 * translate graph, each change measured incrementally and then handled again by a full recompute.
 *
 * One measured change is: kube_source_apply of the change's objects (already built: making JSON is
 * the API server's work, not ours) and krt_engine_flush, timed from the apply call to the end of
 * the flush, when every output collection's subscribers have been told. Around it the runner reads
 * every collection's krt stats (recomputes) and counts the events delivered to subscribers of the
 * graph's outputs (the seven IR kinds and the six status collections).
 *
 * Definitions (docs/bench.md says them again):
 *   recomputed = the sum, over every collection of the engine, of the increase of
 *                krt_collection_stats().recomputes during the change (transformations run, objects
 *                merged by joins);
 *   minimal    = the recomputes that were necessary: per collection, min(its recomputes, the keys
 *                it and its status collection changed in the flush), summed. A recompute whose
 *                result equals the previous one was avoidable in hindsight; one that changed
 *                something was not, and one recompute may change several keys (a 1→N
 *                transformation), hence the min. It is an upper bound of the truly necessary set,
 *                so recomputed / minimal understates the waste, never flatters the engine.
 *   changed outputs = output objects (IR resources and status) that changed: events delivered
 *                at the graph's outputs, what xDS and the status writer get.
 *   full recompute = a fresh engine, source and graph fed the whole current object set and flushed,
 *                timed the same way; after each scenario its outputs must equal the incremental
 *                engine's (same keys, krt_obj_equal), or the scenario fails and prints no figure.
 *
 *   wire latency = with xds/ built (wire.c), from the apply call to the moment every xDS client on
 *                loopback that can see a changed resource holds its new version (or has dropped
 *                it); the machine line's p50_us/p99_us are this figure then, flush_p50_us the
 *                engine's alone. --no-xds (or a build without xds/) stops at the flush.
 *
 * The key decision: the change applied, and the oracle, are the production code paths; nothing in
 * the runner knows how translate works beyond collection names used for reporting and one check
 * (an edited route is recomputed exactly once per flush, however often it was edited, read on
 * "tr/http-routes"). The alternative, an instrumented copy of the graph, would measure a copy.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* malloc_trim */
#endif

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "scale.h"
#include "wire.h"

#include "kube/reflector.h"
#include "kube/source.h"
#include "krt/json.h"
#include "krt/krt.h"
#include "translate/translate.h"

/* ---------------------------------------------------------------------------------------------
 * Counting allocators: bytes requested through krt_allocator and through jansson.
 * ------------------------------------------------------------------------------------------- */
static uint64_t krt_bytes, json_bytes;

static void *count_malloc(size_t size, void *ud)
{
    (void)ud;
    void *p = malloc(size);
    if (p)
        krt_bytes += size;
    return p;
}
static void *count_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    void *p = realloc(ptr, size);
    if (p)
        krt_bytes += size;
    return p;
}
static void count_free(void *ptr, void *ud)
{
    (void)ud;
    free(ptr);
}
static void *json_count_malloc(size_t size)
{
    void *p = malloc(size);
    if (p)
        json_bytes += size;
    return p;
}
static void json_count_free(void *p)
{
    free(p);
}

/* jansson bytes: through the counting functions, plus what trees took from krt's tree heap. */
static uint64_t jansson_bytes(void)
{
    uint64_t heap = 0;
    krt_json_heap_stats(NULL, NULL, &heap);
    return json_bytes + heap;
}

void bs_alloc_install(void)
{
    static const krt_allocator_t a = {count_malloc, count_realloc, count_free, NULL};
    krt_allocator_set(&a);
    json_set_alloc_funcs(json_count_malloc, json_count_free);
    /* The trees' own heap, as krtgate installs it (after the counters: they stay its outer
     * allocator). */
    krt_json_heap_install_default();
}

/* ---------------------------------------------------------------------------------------------
 * Clocks and memory.
 * ------------------------------------------------------------------------------------------- */
static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Process CPU time (user + system), the scheduler's exact runtime: getrusage's ru_utime and
 * ru_stime sum to the same, with microsecond resolution; this clock has nanoseconds. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (double)res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* A progress line on stderr, rewritten in place, only when stderr is a terminal. */
static void progress(const char *scale, const char *scenario, const char *what)
{
    static int tty = -1;
    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    if (!tty)
        return;
    if (what)
        fprintf(stderr, "\r\033[K[%s %s] %s", scale, scenario, what);
    else
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* ---------------------------------------------------------------------------------------------
 * One engine: source, graph, every collection, and event counters on the outputs.
 * ------------------------------------------------------------------------------------------- */
#define N_OUTS (IR_KIND_COUNT + TR_STATUS_KIND_COUNT)

typedef struct bs_engine {
    krt_engine_t *e;
    kube_source_t *src;
    tr_graph_t *g;
    krt_collection_t **colls; /* every collection, creation order */
    size_t ncolls;
    uint64_t *events;      /* per collection: events delivered to our subscriber */
    long *status_of;       /* per collection: index of its "<name>/status" collection, or -1 */
    struct coll_sub *subs; /* per collection: our subscriber */
    krt_collection_t *outs[N_OUTS];
    krt_handler_t *handlers[N_OUTS];
    uint64_t out_events;
    uint64_t log_errors;
    bs_wire_t *wire; /* when xDS clients follow the outputs */
    /* One per kind, fed the cold start's list pages as an informer does: what a controller keeps
     * per object outside the engine (keys and resourceVersions) counts in its memory. */
    kube_reflector_t *refl[BS_KIND_COUNT];
} bs_engine_t;

static void engine_log(int level, const char *msg, void *ud)
{
    bs_engine_t *be = ud;
    if (level >= KRT_LOG_WARN) {
        if (be->log_errors < 5)
            fprintf(stderr, "krtgate-bench: engine: %s\n", msg);
        be->log_errors++;
    }
}

static void on_output(const krt_batch_t *batch, void *ud)
{
    bs_engine_t *be = ud;
    be->out_events += batch->len;
}

static void on_ir_output(const krt_batch_t *batch, void *ud)
{
    bs_engine_t *be = ud;
    be->out_events += batch->len;
    if (be->wire)
        bs_wire_expect(be->wire, batch);
}

typedef struct coll_sub {
    bs_engine_t *be;
    size_t idx;
    krt_handler_t *h;
} coll_sub_t;

/* A batch holds one event per key (krt coalesces), so its length is the number of changed keys. */
static void on_collection(const krt_batch_t *batch, void *ud)
{
    coll_sub_t *s = ud;
    s->be->events[s->idx] += batch->len;
}

/* Subscribes to every collection and pairs each with its status collection. */
static int engine_watch_collections(bs_engine_t *be)
{
    be->events = calloc(be->ncolls + 1, sizeof(uint64_t));
    be->status_of = calloc(be->ncolls + 1, sizeof(long));
    be->subs = calloc(be->ncolls + 1, sizeof(coll_sub_t));
    if (!be->events || !be->status_of || !be->subs)
        return -1;
    for (size_t i = 0; i < be->ncolls; i++) {
        be->subs[i].be = be;
        be->subs[i].idx = i;
        be->subs[i].h = krt_collection_subscribe(be->colls[i], on_collection, &be->subs[i], false);
        if (!be->subs[i].h)
            return -1;
        be->status_of[i] = -1;
        char want[600];
        snprintf(want, sizeof(want), "%s/status", krt_collection_name(be->colls[i]));
        for (size_t j = 0; j < be->ncolls; j++)
            if (strcmp(krt_collection_name(be->colls[j]), want) == 0)
                be->status_of[i] = (long)j;
    }
    return 0;
}

/* Collections from the DOT export: node lines are `  cN [label="NAME\n...`. */
static int engine_list_collections(bs_engine_t *be)
{
    char *dot = krt_engine_dot(be->e);
    if (!dot)
        return -1;
    size_t cap = 64;
    be->colls = malloc(cap * sizeof(*be->colls));
    for (char *p = dot; be->colls && (p = strstr(p, " [label=\"")) != NULL;) {
        p += 9;
        char *end = strstr(p, "\\n");
        if (!end)
            break;
        char name[512];
        size_t n = (size_t)(end - p) < sizeof(name) - 1 ? (size_t)(end - p) : sizeof(name) - 1;
        memcpy(name, p, n);
        name[n] = '\0';
        krt_collection_t *c = krt_engine_collection(be->e, name);
        bool seen = false;
        for (size_t i = 0; c && i < be->ncolls; i++)
            seen = seen || be->colls[i] == c;
        if (c && !seen) {
            if (be->ncolls == cap) {
                cap *= 2;
                krt_collection_t **nc = realloc(be->colls, cap * sizeof(*nc));
                if (!nc)
                    break;
                be->colls = nc;
            }
            be->colls[be->ncolls++] = c;
        }
        p = end;
    }
    krt_free(dot);
    return be->colls ? 0 : -1;
}

static void engine_free(bs_engine_t *be)
{
    if (!be)
        return;
    bs_wire_free(be->wire); /* before the engine whose collections the store watches */
    for (size_t i = 0; i < N_OUTS; i++)
        krt_handler_unsubscribe(be->handlers[i]);
    for (size_t i = 0; be->subs && i < be->ncolls; i++)
        krt_handler_unsubscribe(be->subs[i].h);
    for (int k = 0; k < BS_KIND_COUNT; k++)
        kube_reflector_free(be->refl[k]);
    free(be->subs);
    free(be->events);
    free(be->status_of);
    tr_graph_free(be->g);
    kube_source_free(be->src);
    krt_engine_free(be->e);
    free(be->colls);
    free(be);
}

static bs_engine_t *engine_new(void)
{
    bs_engine_t *be = calloc(1, sizeof(*be));
    if (!be)
        return NULL;
    be->e = krt_engine_new();
    if (!be->e)
        goto fail;
    krt_engine_set_log(be->e, engine_log, be);
    kube_source_options_t so = {.log = engine_log, .log_ud = be};
    be->src = kube_source_new(be->e, &so);
    if (!be->src)
        goto fail;
    tr_sources_t in = {0};
    for (size_t i = 0; i < tr_source_kinds_len; i++)
        tr_sources_set(&in, tr_source_kinds[i],
                       kube_source_collection(be->src, tr_source_kinds[i]));
    int err = 0;
    be->g = tr_graph_new(be->e, &in, NULL, &err);
    if (!be->g) {
        fprintf(stderr, "krtgate-bench: tr_graph_new: %s\n", tr_strerror(err));
        goto fail;
    }
    size_t n = 0;
    for (int k = 1; k <= IR_KIND_COUNT; k++)
        be->outs[n++] = tr_graph_output(be->g, (ir_kind_t)k);
    for (int k = 0; k < TR_STATUS_KIND_COUNT; k++)
        be->outs[n++] = tr_graph_status(be->g, (tr_status_kind_t)k);
    for (size_t i = 0; i < N_OUTS; i++) {
        be->handlers[i] = krt_collection_subscribe(
            be->outs[i], i < IR_KIND_COUNT ? on_ir_output : on_output, be, false);
        if (!be->handlers[i])
            goto fail;
    }
    if (engine_list_collections(be) != 0 || engine_watch_collections(be) != 0)
        goto fail;
    return be;
fail:
    engine_free(be);
    return NULL;
}

static uint64_t engine_recomputes(const bs_engine_t *be, uint64_t *per)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < be->ncolls; i++) {
        krt_stats_t st;
        krt_collection_stats(be->colls[i], &st);
        if (per)
            per[i] = st.recomputes;
        sum += st.recomputes;
    }
    return sum;
}

/* The necessary recomputes between two readings: per collection, min(recomputes, keys it and its
 * status collection changed) — a recompute is necessary when it changed something, and one
 * recompute can change several keys. Adds per collection to |nec_per| when not NULL. */
static uint64_t engine_necessary(const bs_engine_t *be, const uint64_t *rec0, const uint64_t *rec1,
                                 const uint64_t *ev0, const uint64_t *ev1, uint64_t *nec_per)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < be->ncolls; i++) {
        uint64_t rec = rec1[i] - rec0[i], ev = ev1[i] - ev0[i];
        if (be->status_of[i] >= 0)
            ev += ev1[be->status_of[i]] - ev0[be->status_of[i]];
        uint64_t nec = rec < ev ? rec : ev;
        sum += nec;
        if (nec_per)
            nec_per[i] += nec;
    }
    return sum;
}

/* Feeds the whole object set and a synced mark, then flushes. Objects go in as an informer's
 * LIST delivers them: pages of 500 parsed from the cluster's text (parsing is not timed:
 * *copy_ns says how long it took), each applied and released. The trees stay until the flush
 * has read them (krt/json.h); the caller trims after the flush. The time from the first apply on,
 * minus the parsing, is the controller's. */
static double rss_mib(void);

#define FEED_PAGE 500

/* Hands one list page of kind |k| to its reflector (made on first use, from the page's first
 * object) and what it announces to the source. Takes the items' references. */
static int feed_page(bs_engine_t *be, int k, json_t **items, size_t n, bool last)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (!arr || json_array_append_new(arr, items[i]))
            json_decref(items[i]);
    json_t *page = arr ? json_pack("{s:{s:s,s:s},s:o}", "metadata", "resourceVersion", "1",
                                   "continue", last ? "" : "more", "items", arr)
                       : NULL;
    if (!page)
        return -1;
    if (!be->refl[k] && n > 0) {
        static char kinds[BS_KIND_COUNT][64], versions[BS_KIND_COUNT][96];
        snprintf(kinds[k], sizeof kinds[k], "%s",
                 json_string_value(json_object_get(json_array_get(arr, 0), "kind")));
        snprintf(versions[k], sizeof versions[k], "%s",
                 json_string_value(json_object_get(json_array_get(arr, 0), "apiVersion")));
        kube_reflector_options_t o = {
            .kind = kinds[k], .api_version = versions[k], .origin = "bench"};
        be->refl[k] = kube_reflector_new(&o);
    }
    int rc = be->refl[k] && kube_reflector_on_list_page(be->refl[k], page) == KUBE_OK ? 0 : -1;
    json_decref(page);
    size_t nch = 0;
    const kube_change_t *ch = be->refl[k] ? kube_reflector_changes(be->refl[k], &nch) : NULL;
    if (rc == 0 && nch && kube_source_apply(be->src, ch, nch) != KUBE_OK)
        rc = -1;
    if (be->refl[k])
        kube_reflector_changes_clear(be->refl[k]);
    return rc;
}

/* The cold start's ingest: every kind listed in pages of FEED_PAGE through a reflector (as the
 * informers do: objects parsed from the cluster's text, which is not timed), then SYNCED for every
 * kind, then one flush. */
static int engine_feed_all(bs_engine_t *be, const bs_cluster_t *c, uint64_t *copy_ns,
                           uint64_t *apply_ns, double *rss_after_apply)
{
    json_t *items[FEED_PAGE];
    uint64_t parse = 0, apply = 0;
    int rc = 0;
    for (int k = 0; k < BS_KIND_COUNT && rc == 0; k++) {
        size_t j = 0;
        for (size_t i = 0; i <= c->len[k] && rc == 0; i++) {
            bool last = i == c->len[k];
            if (!last && c->objs[k][i]) {
                uint64_t p0 = wall_ns();
                json_t *o = bs_cluster_get(c, (bs_kind_t)k, i);
                parse += wall_ns() - p0;
                if (!o)
                    rc = -1;
                else
                    items[j++] = o;
            }
            if ((j == FEED_PAGE || (last && j > 0)) && rc == 0) {
                uint64_t t0 = wall_ns();
                rc = feed_page(be, k, items, j, last);
                j = 0;
                apply += wall_ns() - t0;
            }
        }
        for (size_t x = 0; x < j; x++)
            json_decref(items[x]);
    }
    kube_change_t synced = {.op = KUBE_CHANGE_SYNCED};
    if (rc == 0 && kube_source_apply(be->src, &synced, 1) != KUBE_OK)
        rc = -1;
    if (copy_ns)
        *copy_ns = parse;
    if (apply_ns)
        *apply_ns = apply;
    if (rss_after_apply)
        *rss_after_apply = rss_mib();
    if (rc != 0)
        return -1;
    return krt_engine_flush(be->e) == KRT_OK ? 0 : -1;
}

/* KRT_BENCH_MEMDBG=1: heap figures and per-collection object bytes after the cold start (a
 * debugging aid for memory work; docs/bench.md, Memory). */
static bool memdbg_one(const krt_obj_t *o, void *ud)
{
    size_t *s = ud;
    s[0]++;
    s[1] += o->type->size ? o->type->size(o) : 0;
    return true;
}
static void memdbg(bs_engine_t *be)
{
    if (!getenv("KRT_BENCH_MEMDBG"))
        return;
    struct mallinfo2 mi = mallinfo2();
    fprintf(stderr, "memdbg heap arena=%.1fMiB inuse=%.1fMiB free=%.1fMiB mmap=%.1fMiB\n",
            mi.arena / 1048576.0, mi.uordblks / 1048576.0, mi.fordblks / 1048576.0,
            mi.hblkhd / 1048576.0);
    for (size_t i = 0; i < be->ncolls; i++) {
        size_t s[2] = {0, 0};
        krt_stats_t kst;
        krt_collection_stats(be->colls[i], &kst);
        krt_collection_foreach(be->colls[i], memdbg_one, s);
        fprintf(stderr, "memdbg %-40s n=%zu objbytes=%.1fMiB coll=%.1fMiB deps=%zu\n",
                krt_collection_name(be->colls[i]), s[0], s[1] / 1048576.0, kst.bytes / 1048576.0,
                kst.deps);
    }
}

typedef struct cmp_ctx {
    krt_collection_t *other;
    const char *first_bad;
    size_t bad;
} cmp_ctx_t;

static bool cmp_one(const krt_obj_t *o, void *ud)
{
    cmp_ctx_t *x = ud;
    const krt_obj_t *p = krt_collection_get(x->other, krt_obj_key(o));
    if (!p || !krt_obj_equal(o, p)) {
        if (!x->first_bad)
            x->first_bad = krt_obj_key(o);
        x->bad++;
    }
    return true;
}

/* Returns: true when every output of |a| equals |b|'s; prints the first difference. */
static bool engine_outputs_equal(const bs_engine_t *a, const bs_engine_t *b, size_t *outputs)
{
    bool ok = true;
    *outputs = 0;
    for (size_t i = 0; i < N_OUTS; i++) {
        size_t la = krt_collection_len(a->outs[i]), lb = krt_collection_len(b->outs[i]);
        *outputs += la;
        cmp_ctx_t x = {.other = a->outs[i]};
        krt_collection_foreach(b->outs[i], cmp_one, &x);
        if (la != lb || x.bad) {
            fprintf(stderr,
                    "krtgate-bench: output %s differs from the full recompute: %zu vs %zu "
                    "objects, %zu missing or different (first: %s)\n",
                    krt_collection_name(a->outs[i]), la, lb, x.bad,
                    x.first_bad ? x.first_bad : "-");
            ok = false;
        }
    }
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Scenarios: each step builds a list of changes and updates the cluster to match.
 * ------------------------------------------------------------------------------------------- */
static const char *const scenario_names[BS_SC_COUNT] = {
    "cold",      "route-edit", "listener-edit", "service-port",
    "pod-churn", "ns-relabel", "grant-delete",  "burst",
};

const char *bs_scenario_name(bs_scenario_t s)
{
    return (unsigned)s < BS_SC_COUNT ? scenario_names[s] : NULL;
}

int bs_scenario_find(const char *name)
{
    for (int i = 0; name && i < BS_SC_COUNT; i++)
        if (strcmp(scenario_names[i], name) == 0)
            return i;
    return -1;
}

typedef struct changes {
    kube_change_t *ch; /* each object holds one reference of ours */
    size_t len, cap;
} changes_t;

static int changes_push(changes_t *cs, kube_change_op_t op, json_t *obj)
{
    if (cs->len == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 16;
        kube_change_t *n = realloc(cs->ch, cap * sizeof(*n));
        if (!n)
            return -1;
        cs->ch = n;
        cs->cap = cap;
    }
    cs->ch[cs->len++] = (kube_change_t){.op = op, .object = json_incref(obj), .origin = "bench"};
    return 0;
}

static void changes_clear(changes_t *cs)
{
    for (size_t i = 0; i < cs->len; i++)
        json_decref(cs->ch[i].object);
    cs->len = 0;
}

/* Puts |obj| into slot (k, i) of the cluster and into the change list. Takes obj. */
static int put(bs_cluster_t *c, changes_t *cs, bs_kind_t k, size_t i, json_t *obj)
{
    if (!obj)
        return -1;
    int rc = changes_push(cs, KUBE_CHANGE_PUT, obj);
    return bs_cluster_set(c, k, i, obj) ? -1 : rc;
}

typedef struct run_state {
    bs_cluster_t *c;
    bs_scenario_t sc;
    uint64_t rng;
    bool *ns_exposed; /* per Namespace slot */
    size_t burst;
    size_t burst_distinct; /* routes edited by the last burst */
} run_state_t;

static uint64_t next_rand(run_state_t *st)
{
    st->rng += 0x9e3779b97f4a7c15ull;
    uint64_t x = st->rng;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Builds step |it| of the scenario. Returns 1 when the step is measured, 0 when it only restores
 * state (the re-creation after a grant deletion), -1 on error. */
static int scenario_step(run_state_t *st, size_t it, changes_t *cs)
{
    bs_cluster_t *c = st->c;
    size_t routes = c->len[BS_HTTP_ROUTE], gws = c->len[BS_GATEWAY];
    size_t svcs = c->scale.services, pods = c->len[BS_POD];
    switch (st->sc) {
    case BS_SC_ROUTE_EDIT: {
        size_t r = (size_t)(next_rand(st) % routes);
        return put(c, cs, BS_HTTP_ROUTE, r, bs_gen_route(c, r, (uint32_t)it + 2)) ? -1 : 1;
    }
    case BS_SC_LISTENER_EDIT: {
        size_t g = it % gws;
        return put(c, cs, BS_GATEWAY, g, bs_gen_gateway(c, g, 10000 + (long)it)) ? -1 : 1;
    }
    case BS_SC_SERVICE_PORT: {
        size_t s = (size_t)(next_rand(st) % svcs);
        return put(c, cs, BS_SERVICE, s, bs_gen_service(c, s, 8081 + (long)it)) ? -1 : 1;
    }
    case BS_SC_POD_CHURN: {
        size_t n = pods < 10 ? pods : 10;
        for (size_t j = 0; j < n; j++) {
            size_t p = (size_t)(next_rand(st) % pods);
            if (put(c, cs, BS_POD, p, bs_gen_pod(c, p, (uint32_t)(it * 16 + j + 1))))
                return -1;
        }
        return 1;
    }
    case BS_SC_NS_RELABEL: {
        size_t i = 2 + it % (c->len[BS_NAMESPACE] - 2);
        st->ns_exposed[i] = !st->ns_exposed[i];
        return put(c, cs, BS_NAMESPACE, i, bs_gen_namespace(c, i, st->ns_exposed[i])) ? -1 : 1;
    }
    case BS_SC_GRANT_DELETE: {
        size_t j = (it / 2) % c->len[BS_REFERENCE_GRANT];
        if (it % 2 == 1)
            return put(c, cs, BS_REFERENCE_GRANT, j, bs_gen_grant(c, j)) ? -1 : 0;
        json_t *old = bs_cluster_get(c, BS_REFERENCE_GRANT, j);
        int rc = old ? changes_push(cs, KUBE_CHANGE_DELETE, old) : -1;
        json_decref(old);
        if (rc)
            return -1;
        bs_cluster_set(c, BS_REFERENCE_GRANT, j, NULL);
        return 1;
    }
    case BS_SC_BURST: {
        /* st->burst edits over a stride that visits distinct routes first */
        size_t start = (size_t)(next_rand(st) % routes);
        for (size_t k = 0; k < st->burst; k++) {
            size_t r = (start + k * 7919) % routes;
            if (put(c, cs, BS_HTTP_ROUTE, r,
                    bs_gen_route(c, r, (uint32_t)(it * st->burst + k + 2))))
                return -1;
        }
        /* distinct routes: the stride is prime, so min(burst, routes) unless 7919 divides it */
        size_t distinct = st->burst < routes ? st->burst : routes;
        if (routes % 7919 == 0)
            distinct = routes / 7919 < st->burst ? routes / 7919 : st->burst;
        st->burst_distinct = distinct;
        return 1;
    }
    case BS_SC_COLD:
    case BS_SC_COUNT:
        break;
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Reporting.
 * ------------------------------------------------------------------------------------------- */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted |v|. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return (double)v[rank - 1] / 1000.0;
}

static void print_result(FILE *out, const bs_options_t *opt, const bs_result_t *r,
                         const bs_engine_t *be, const uint64_t *per_coll, const uint64_t *nec)
{
    double sotw_ratio =
        r->sotw_bytes_per_proxy > 0 ? r->bytes_per_proxy / r->sotw_bytes_per_proxy : 0.0;
    if (opt->json) {
        json_t *colls = json_object();
        for (size_t i = 0; be && i < be->ncolls; i++)
            if (per_coll[i])
                json_object_set_new(colls, krt_collection_name(be->colls[i]),
                                    json_pack("{s:f, s:f}", "recomputed",
                                              (double)per_coll[i] / (double)r->changes, "minimal",
                                              (double)nec[i] / (double)r->changes));
        json_t *o = json_object();
        json_object_set_new(o, "scale", json_string(r->scale));
        json_object_set_new(o, "scenario", json_string(r->scenario));
        json_object_set_new(o, "objects", json_integer((json_int_t)r->objects));
        json_object_set_new(o, "changes", json_integer((json_int_t)r->changes));
        json_object_set_new(o, "outputs", json_integer((json_int_t)r->outputs));
        json_object_set_new(o, "outputs_equal", json_boolean(r->outputs_equal));
        json_object_set_new(o, "wire", json_boolean(r->wire));
        json_object_set_new(o, "proxies", json_integer((json_int_t)r->proxies));
        const struct {
            const char *k;
            double v;
        } f[] = {
            {"p50_us", r->p50_us},
            {"p99_us", r->p99_us},
            {"max_us", r->max_us},
            {"mean_us", r->mean_us},
            {"flush_p50_us", r->flush_p50_us},
            {"flush_p99_us", r->flush_p99_us},
            {"flush_max_us", r->flush_max_us},
            {"ingest_us", r->ingest_us},
            {"wall_ms", r->wall_ms},
            {"cpu_ms", r->cpu_ms},
            {"recomputed", r->recomputed},
            {"minimal", r->minimal},
            {"changed_outputs", r->changed_outputs},
            {"full_ms", r->full_ms},
            {"full_recomputed", r->full_recomputed},
            {"full_recompute_ratio", r->full_recompute_ratio},
            {"rss_mib", r->rss_mib},
            {"rss_cold_mib", r->rss_cold_mib},
            {"rss_end_mib", r->rss_end_mib},
            {"cluster_rss_mib", r->cluster_rss_mib},
            {"ingested_rss_mib", r->ingested_rss_mib},
            {"engine_mib", r->engine_mib},
            {"peak_rss_mib", r->peak_rss_mib},
            {"krt_bytes_per_change", r->krt_bytes},
            {"json_bytes_per_change", r->json_bytes},
            {"xds_initial_ms", r->xds_initial_ms},
            {"bytes_per_proxy", r->bytes_per_proxy},
            {"sotw_bytes_per_proxy", r->sotw_bytes_per_proxy},
            {"sotw_ratio", sotw_ratio},
            {"resources_sent", r->resources_sent},
        };
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            json_object_set_new(o, f[i].k, json_real(f[i].v));
        json_object_set_new(o, "per_collection", colls);
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (s)
            fprintf(out, "%s\n", s);
        free(s);
        json_decref(o);
    } else if (opt->markdown) {
        static bool header;
        if (!header) {
            fprintf(out, "| scale | scenario | change→flush p50 / p99 µs | change→xDS p50 / p99 µs "
                         "| recomputed | minimal | outputs changed | full recompute ms | flush p50 "
                         "/ full | xDS B/proxy (SotW ratio) | rss MiB |\n"
                         "|---|---|---|---|---|---|---|---|---|---|---|\n");
            header = true;
        }
        char wire[64] = "—", bytes[64] = "—";
        if (r->wire) {
            snprintf(wire, sizeof(wire), "%.0f / %.0f", r->p50_us, r->p99_us);
            snprintf(bytes, sizeof(bytes), "%.0f (%.3g)", r->bytes_per_proxy, sotw_ratio);
        }
        fprintf(
            out, "| %s | %s | %.0f / %.0f | %s | %.1f | %.1f | %.1f | %.1f | %.3g | %s | %.1f |\n",
            r->scale, r->scenario, r->flush_p50_us, r->flush_p99_us, wire, r->recomputed,
            r->minimal, r->changed_outputs, r->full_ms, r->full_recompute_ratio, bytes, r->rss_mib);
    } else {
        fprintf(out, "== scale=%s scenario=%s: %zu objects, %zu measured change%s\n", r->scale,
                r->scenario, r->objects, r->changes, r->changes == 1 ? "" : "s");
        fprintf(out,
                "  change→flush   p50 %.1f us   p99 %.1f us   max %.1f us   "
                "(kube_source_apply: %.1f us of it, mean)\n",
                r->flush_p50_us, r->flush_p99_us, r->flush_max_us, r->ingest_us);
        if (r->wire)
            fprintf(out,
                    "  change→xDS     p50 %.1f us   p99 %.1f us   max %.1f us   "
                    "(%zu clients on loopback hold it; initial push %.1f ms)\n",
                    r->p50_us, r->p99_us, r->max_us, r->proxies, r->xds_initial_ms);
        fprintf(out, "  time           wall %.2f ms   cpu %.2f ms (whole measured section)\n",
                r->wall_ms, r->cpu_ms);
        fprintf(out,
                "  per change     recomputed %.1f   minimal %.1f   (overhead x%.2f)   "
                "output objects changed %.1f\n",
                r->recomputed, r->minimal, r->minimal > 0 ? r->recomputed / r->minimal : 0.0,
                r->changed_outputs);
        fprintf(out,
                "  full recompute %.2f ms, %.0f recomputes   time ratio flush p50/full %.3g   "
                "recompute ratio %.3g\n",
                r->full_ms, r->full_recomputed, r->full_recompute_ratio,
                r->full_recomputed > 0 ? r->recomputed / r->full_recomputed : 0.0);
        if (r->wire)
            fprintf(out,
                    "  xDS per proxy  %.0f B sent per change; state of the world would send "
                    "%.0f B (ratio %.3g); %.1f resources sent per change in all\n",
                    r->bytes_per_proxy, r->sotw_bytes_per_proxy, sotw_ratio, r->resources_sent);
        if (r->wire)
            fprintf(out,
                    "  memory         controller rss %.1f MiB serving %zu proxies (their clients "
                    "run in another process); %.1f at the end of the scenario\n",
                    r->rss_mib, r->proxies, r->rss_end_mib);
        fprintf(out,
                "                 %.1f MiB after the cold start, before any proxy (%zu JSON trees "
                "kept, %.1f MiB est., %llu parsed again during it; krt structures %.1f); "
                "%.1f right after ingest\n"
                "                 process peak %.1f MiB   (generated cluster, the API server's "
                "side, %.1f MiB: not counted)\n",
                r->rss_cold_mib, r->json_trees, (double)r->json_tree_bytes / 1048576.0,
                (unsigned long long)r->json_parses_cold, r->engine_mib, r->ingested_rss_mib,
                r->peak_rss_mib, r->cluster_rss_mib);
        fprintf(out, "  allocated      per change: krt %.0f B, jansson %.0f B\n", r->krt_bytes,
                r->json_bytes);
        fprintf(out, "  per collection (recomputed/minimal per change):");
        for (size_t i = 0; be && i < be->ncolls; i++)
            if (per_coll[i])
                fprintf(out, " %s=%.1f/%.1f", krt_collection_name(be->colls[i]),
                        (double)per_coll[i] / (double)r->changes,
                        (double)nec[i] / (double)r->changes);
        fprintf(out, "\n  outputs        %zu objects, equal to the full recompute: %s\n",
                r->outputs, r->outputs_equal ? "yes" : "NO");
    }
    fprintf(out,
            "scale=%s scenario=%s p50_us=%.1f p99_us=%.1f max_us=%.1f flush_p50_us=%.1f "
            "flush_p99_us=%.1f rss_mib=%.1f recomputed=%.1f minimal=%.1f changed_outputs=%.1f "
            "full_recompute_ratio=%.3g full_ms=%.2f wall_ms=%.2f cpu_ms=%.2f wire=%d proxies=%zu "
            "bytes_per_proxy=%.0f sotw_ratio=%.3g changes=%zu objects=%zu outputs=%zu "
            "outputs_equal=%d\n",
            r->scale, r->scenario, r->p50_us, r->p99_us, r->max_us, r->flush_p50_us,
            r->flush_p99_us, r->rss_mib, r->recomputed, r->minimal, r->changed_outputs,
            r->full_recompute_ratio, r->full_ms, r->wall_ms, r->cpu_ms, r->wire ? 1 : 0, r->proxies,
            r->bytes_per_proxy, sotw_ratio, r->changes, r->objects, r->outputs,
            r->outputs_equal ? 1 : 0);
    fflush(out);
}

/* ---------------------------------------------------------------------------------------------
 * The run.
 * ------------------------------------------------------------------------------------------- */
#define FAIL(...)                                                                    \
    do {                                                                             \
        fprintf(stderr, "krtgate-bench: FAILED scale=%s scenario=%s: ", scale->name, \
                scenario_names[sc]);                                                 \
        fprintf(stderr, __VA_ARGS__);                                                \
        fputc('\n', stderr);                                                         \
        goto done;                                                                   \
    } while (0)

/* A full recompute of |c|: build, feed, flush. Returns the engine (owned by caller) or NULL. */
static bs_engine_t *full_recompute(const bs_cluster_t *c, double *ms, double *recomputed)
{
    uint64_t t0 = wall_ns(), parse = 0;
    bs_engine_t *be = engine_new();
    if (!be || engine_feed_all(be, c, &parse, NULL, NULL) != 0) {
        engine_free(be);
        return NULL;
    }
    *ms = (double)(wall_ns() - t0 - parse) / 1e6; /* the engine's work, not the parse */
    *recomputed = (double)engine_recomputes(be, NULL);
    return be;
}

int bs_run_scenario(const bs_scale_t *scale, uint64_t seed, bs_scenario_t sc,
                    const bs_options_t *opt, bs_result_t *res)
{
    FILE *out = opt->out ? opt->out : stdout;
    int rc = -1;
    bs_result_t r = {.scale = scale->name, .scenario = bs_scenario_name(sc)};
    krt_json_tree_limit(opt->json_trees_set ? opt->json_trees_mib << 20 : KUBE_SOURCE_TREE_BUDGET);
    bs_cluster_t *c = NULL;
    bs_engine_t *be = NULL, *full = NULL;
    uint64_t *lat = NULL, *flat = NULL, *before = NULL, *after = NULL, *per = NULL, *nec_per = NULL;
    uint64_t *ev_before = NULL, *ev_after = NULL;
    changes_t cs = {0};
    run_state_t st = {.sc = sc, .rng = seed * 0x2545f4914f6cdd1dull + (uint64_t)sc};

    if ((unsigned)sc >= BS_SC_COUNT)
        return -1;
    progress(scale->name, r.scenario, "generating the cluster");
    malloc_trim(0);
    double base_rss = rss_mib();
    c = bs_cluster_new(scale, seed);
    if (!c)
        FAIL("out of memory generating the cluster");
    r.objects = bs_cluster_count(c);
    st.c = c;
    malloc_trim(0);
    r.cluster_rss_mib = rss_mib() - base_rss; /* the API server's side: not the controller's */

    /* Cold start: build, ingest, flush. It is the setup of every other scenario. */
    progress(scale->name, r.scenario, "cold start");
    uint64_t kb0 = krt_bytes, jb0 = jansson_bytes(), w0 = wall_ns(), cpu0 = cpu_ns(), parses0 = 0;
    krt_json_tree_stats(NULL, NULL, &parses0);
    be = engine_new();
    if (!be)
        FAIL("cannot build the engine");
    uint64_t cold_apply = 0, cold_copy = 0;
    if (engine_feed_all(be, c, &cold_copy, &cold_apply, &r.ingested_rss_mib) != 0)
        FAIL("cold start: feeding or flushing failed");
    uint64_t cold_ns = wall_ns() - w0 - cold_copy, cold_cpu = cpu_ns() - cpu0;
    cold_cpu = cold_cpu > cold_copy ? cold_cpu - cold_copy : 0; /* the copy is all CPU */
    /* What the controller keeps between changes: canonical bytes, plus the trees the budget
     * allows (the most recently read). */
    krt_json_trim_to(KUBE_SOURCE_TREE_IDLE);
    if (opt->smoke && krt_engine_check(be->e) != KRT_OK)
        FAIL("engine invariants after the cold start");
    per = calloc(be->ncolls + 1, sizeof(uint64_t));
    nec_per = calloc(be->ncolls + 1, sizeof(uint64_t));
    before = calloc(be->ncolls + 1, sizeof(uint64_t));
    after = calloc(be->ncolls + 1, sizeof(uint64_t));
    ev_before = calloc(be->ncolls + 1, sizeof(uint64_t));
    ev_after = calloc(be->ncolls + 1, sizeof(uint64_t));
    if (!per || !nec_per || !before || !after || !ev_before || !ev_after)
        FAIL("out of memory");

    /* The controller: objects, engine, graph (before any proxy), without the generated cluster
     * (the API server's memory) measured before the cold start. */
    malloc_trim(0);
    r.ingested_rss_mib -= r.cluster_rss_mib;
    r.rss_cold_mib = r.rss_mib = rss_mib() - r.cluster_rss_mib;
    krt_json_tree_stats(&r.json_trees, &r.json_tree_bytes, &r.json_parses_cold);
    r.json_parses_cold -= parses0;
    memdbg(be);
    const char *memdbg_exit = getenv("KRT_BENCH_MEMDBG_EXIT");
    if (memdbg_exit && strcmp(memdbg_exit, "wire") != 0)
        exit(0); /* under heaptrack, what is live now is reported as leaked, with its stacks */

    /* The wire: an xDS server and one client per Gateway on loopback. */
    uint64_t initial_ns = 0;
    if (!opt->no_xds && bs_wire_available()) {
        size_t ngw = c->len[BS_GATEWAY];
        char **gws = calloc(ngw, sizeof(char *));
        for (size_t i = 0; gws && i < ngw; i++) {
            gws[i] = malloc(48);
            if (gws[i])
                snprintf(gws[i], 48, "gateways/gw-%zu", i);
        }
        size_t np = opt->proxies ? opt->proxies : ngw;
        progress(scale->name, r.scenario, "connecting the xDS clients");
        be->wire = gws ? bs_wire_new(be->outs, IR_KIND_COUNT, np, (const char *const *)gws, ngw,
                                     &initial_ns)
                       : NULL;
        for (size_t i = 0; gws && i < ngw; i++)
            free(gws[i]);
        free(gws);
        if (!be->wire)
            FAIL("cannot start the xDS server and clients (--no-xds measures without them)");
        r.wire = true;
        r.proxies = bs_wire_proxies(be->wire);
        r.xds_initial_ms = (double)initial_ns / 1e6;
        /* The controller as it runs: serving every proxy. What the initial push allocated only
         * for its responses is returned first, as between the changes below. */
        malloc_trim(0);
        r.rss_mib = rss_mib() - r.cluster_rss_mib;
    }
    if (memdbg_exit && strcmp(memdbg_exit, "wire") == 0)
        exit(0); /* the same after the initial push: the xDS server's and the clients' state too */
    bs_wire_stats_t ws0 = {0}, ws1 = {0};
    if (be->wire)
        bs_wire_stats(be->wire, &ws0);

    size_t iters = opt->iterations ? opt->iterations : scale->iterations;
    if (sc == BS_SC_COLD) {
        r.changes = 1;
        r.flush_p50_us = r.flush_p99_us = r.flush_max_us = (double)cold_ns / 1000.0;
        /* with proxies: ingest → resources → every proxy holds its initial view */
        r.p50_us = r.p99_us = r.max_us = r.mean_us = (double)(cold_ns + initial_ns) / 1000.0;
        if (be->wire) {
            r.bytes_per_proxy = (double)ws0.bytes_sent / (double)r.proxies;
            r.resources_sent = (double)ws0.resources_sent;
            r.sotw_bytes_per_proxy = r.bytes_per_proxy;
        }
        r.wall_ms = (double)cold_ns / 1e6;
        r.ingest_us = (double)cold_apply / 1000.0;
        r.cpu_ms = (double)cold_cpu / 1e6;
        r.recomputed = (double)engine_recomputes(be, per);
        r.minimal = (double)engine_necessary(be, before, per, ev_before, be->events, nec_per);
        r.changed_outputs = (double)be->out_events;
        r.krt_bytes = (double)(krt_bytes - kb0);
        r.json_bytes = (double)(jansson_bytes() - jb0);
    } else {
        if (sc == BS_SC_BURST)
            iters = opt->smoke ? 2 : 3;
        if (sc == BS_SC_GRANT_DELETE) {
            if (c->len[BS_REFERENCE_GRANT] == 0)
                FAIL("the scale has no ReferenceGrant");
            iters *= 2; /* delete (measured), re-create (not measured) */
        }
        st.burst = opt->burst ? opt->burst : 10000;
        st.ns_exposed = calloc(c->len[BS_NAMESPACE], sizeof(bool));
        lat = calloc(iters, sizeof(uint64_t));
        flat = calloc(iters, sizeof(uint64_t));
        if (!st.ns_exposed || !lat || !flat)
            FAIL("out of memory");
        for (size_t i = 0; i < c->len[BS_NAMESPACE]; i++) {
            json_t *ns = bs_cluster_get(c, BS_NAMESPACE, i);
            json_t *lv = json_object_get(json_object_get(ns, "metadata"), "labels");
            st.ns_exposed[i] = json_object_get(lv, "expose") != NULL;
            json_decref(ns);
        }
        uint64_t sum_rec = 0, sum_min = 0, sum_out = 0, sum_kb = 0, sum_jb = 0, wall = 0, cpu = 0;
        uint64_t ingest = 0;
        size_t n = 0;
        for (size_t it = 0; it < iters; it++) {
            if (it % 16 == 0) {
                char what[64];
                snprintf(what, sizeof(what), "change %zu of %zu", it + 1, iters);
                progress(scale->name, r.scenario, what);
            }
            changes_clear(&cs);
            int measured = scenario_step(&st, it, &cs);
            if (measured < 0)
                FAIL("out of memory building step %zu", it);
            uint64_t ev0 = be->out_events, kb = krt_bytes, jb = jansson_bytes();
            engine_recomputes(be, before);
            memcpy(ev_before, be->events, be->ncolls * sizeof(uint64_t));
            uint64_t t0 = wall_ns(), c0 = cpu_ns();
            if (kube_source_apply(be->src, cs.ch, cs.len) != KUBE_OK)
                FAIL("kube_source_apply refused step %zu", it);
            uint64_t ta = wall_ns();
            int frc = krt_engine_flush(be->e);
            uint64_t t1 = wall_ns(), c1 = cpu_ns();
            if (frc != KRT_OK)
                FAIL("flush of step %zu: %s", it, krt_strerror(frc));
            uint64_t tw = t1;
            if (be->wire) {
                uint64_t done = 0;
                if (bs_wire_wait(be->wire, &done) != 0)
                    FAIL("step %zu did not reach every xDS client", it);
                if (done)
                    tw = done;
                c1 = cpu_ns(); /* the server's work too (the clients are another process) */
            }
            engine_recomputes(be, after);
            memcpy(ev_after, be->events, be->ncolls * sizeof(uint64_t));
            krt_json_trim_to(KUBE_SOURCE_TREE_IDLE); /* between changes, as krtgate does */
            if (opt->smoke && krt_engine_check(be->e) != KRT_OK)
                FAIL("engine invariants after step %zu", it);
            if (!measured)
                continue;
            uint64_t rec = 0;
            for (size_t i = 0; i < be->ncolls; i++) {
                per[i] += after[i] - before[i];
                rec += after[i] - before[i];
            }
            uint64_t minimal = engine_necessary(be, before, after, ev_before, ev_after, nec_per);
            if (rec < minimal)
                FAIL("step %zu: recomputed %llu < minimal %llu", it, (unsigned long long)rec,
                     (unsigned long long)minimal);
            /* Each edited route is recomputed exactly once, however often it was edited. */
            size_t want = sc == BS_SC_BURST ? st.burst_distinct : sc == BS_SC_ROUTE_EDIT ? 1 : 0;
            krt_collection_t *hr = krt_engine_collection(be->e, "tr/http-routes");
            for (size_t i = 0; want && hr && i < be->ncolls; i++)
                if (be->colls[i] == hr && after[i] - before[i] != want)
                    FAIL("step %zu edited %zu routes and recomputed tr/http-routes %llu times "
                         "(each edited route must be recomputed exactly once)",
                         it, want, (unsigned long long)(after[i] - before[i]));
            sum_out += be->out_events - ev0;
            sum_rec += rec;
            sum_min += minimal;
            sum_kb += krt_bytes - kb;
            sum_jb += jansson_bytes() - jb;
            wall += tw - t0;
            ingest += ta - t0;
            flat[n] = t1 - t0;
            cpu += c1 - c0;
            lat[n++] = tw - t0;
        }
        if (n == 0)
            FAIL("no measured change");
        qsort(lat, n, sizeof(*lat), cmp_u64);
        qsort(flat, n, sizeof(*flat), cmp_u64);
        r.flush_p50_us = pct_us(flat, n, 50);
        r.flush_p99_us = pct_us(flat, n, 99);
        r.flush_max_us = (double)flat[n - 1] / 1000.0;
        if (be->wire) {
            bs_wire_stats(be->wire, &ws1);
            /* the re-creations of the grant scenario are included: they are half its steps */
            double steps = sc == BS_SC_GRANT_DELETE ? (double)iters : (double)n;
            r.bytes_per_proxy =
                (double)(ws1.bytes_sent - ws0.bytes_sent) / (double)r.proxies / steps;
            r.resources_sent = (double)(ws1.resources_sent - ws0.resources_sent) / steps;
            r.sotw_bytes_per_proxy =
                (double)(ws1.sotw_bytes - ws0.sotw_bytes) / (double)r.proxies / steps;
            if (!bs_wire_in_sync(be->wire))
                FAIL("an xDS client does not hold exactly its view after the scenario");
        }
        r.changes = n;
        r.p50_us = pct_us(lat, n, 50);
        r.p99_us = pct_us(lat, n, 99);
        r.max_us = (double)lat[n - 1] / 1000.0;
        r.mean_us = (double)wall / (double)n / 1000.0;
        r.ingest_us = (double)ingest / (double)n / 1000.0;
        r.wall_ms = (double)wall / 1e6;
        r.cpu_ms = (double)cpu / 1e6;
        r.recomputed = (double)sum_rec / (double)n;
        r.minimal = (double)sum_min / (double)n;
        r.changed_outputs = (double)sum_out / (double)n;
        r.krt_bytes = (double)sum_kb / (double)n;
        r.json_bytes = (double)sum_jb / (double)n;
    }
    changes_clear(&cs);
    malloc_trim(0);
    r.rss_end_mib = rss_mib() - r.cluster_rss_mib;
    for (size_t i = 0; i < be->ncolls; i++) {
        krt_stats_t kst;
        krt_collection_stats(be->colls[i], &kst);
        r.engine_mib += (double)kst.bytes / (1024.0 * 1024.0);
    }

    /* The same object set, from scratch. */
    progress(scale->name, r.scenario, "full recompute");
    full = full_recompute(c, &r.full_ms, &r.full_recomputed);
    if (!full)
        FAIL("full recompute failed");
    r.peak_rss_mib = peak_rss_mib();
    /* engine against engine: the change's flush p50 against the rebuild (neither includes xDS) */
    r.full_recompute_ratio = r.full_ms > 0 ? (r.flush_p50_us / 1000.0) / r.full_ms : 0;
    r.outputs_equal = engine_outputs_equal(be, full, &r.outputs);
    if (!r.outputs_equal)
        FAIL("incremental outputs differ from the full recompute's");
    if (be->log_errors || full->log_errors)
        FAIL("the engine logged %llu warnings or errors",
             (unsigned long long)(be->log_errors + full->log_errors));
    if (r.recomputed < r.minimal)
        FAIL("recomputed %.1f < minimal %.1f", r.recomputed, r.minimal);
    progress(scale->name, r.scenario, NULL);
    print_result(out, opt, &r, be, per, nec_per);
    rc = 0;
done:
    progress(scale->name, r.scenario, NULL);
    if (res)
        *res = r;
    changes_clear(&cs);
    free(cs.ch);
    engine_free(full);
    engine_free(be);
    bs_cluster_free(c);
    free(st.ns_exposed);
    free(lat);
    free(flat);
    free(before);
    free(after);
    free(per);
    free(nec_per);
    free(ev_before);
    free(ev_after);
    malloc_trim(0);
    return rc;
}
