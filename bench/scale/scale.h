/*
 * bench/scale — `krtgate bench`: translation at cluster scale, incremental against full recompute.
 *
 * Two parts. The generator (gen.c) makes a deterministic synthetic cluster — GatewayClass,
 * Namespaces, Gateways with listeners, HTTPRoutes, Services, Pods, ReferenceGrants — as the
 * Kubernetes JSON objects an API server would send, from a named scale and a seed. The runner
 * (run.c) feeds them through kube_source_apply (the one way objects enter) into the translate graph
 * and measures scenarios: cold start and seven kinds of change, each also handled by a full
 * recompute (a fresh engine and graph over the whole object set), whose outputs must equal the
 * incremental ones.
 *
 * The key decision: the bench measures the controller's real path (JSON objects, kube source,
 * translate graph), not a model of it, and every figure comes with a correctness check against the
 * full recompute, so a fast wrong answer cannot print a figure. The alternative, timing compact C
 * structs as the engine benches in bench/ do, measures krt and not krtgate.
 *
 * Ownership words: borrows, keeps, takes (see krt/krt.h).
 */
#ifndef BENCHSCALE_SCALE_H
#define BENCHSCALE_SCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Scales and the generated cluster.
 * ------------------------------------------------------------------------------------------- */
typedef struct bs_scale {
    const char *name;
    size_t gateways;
    size_t routes; /* HTTPRoutes in all, spread evenly over the Gateways */
    size_t services;
    size_t pods;
    size_t namespaces; /* application namespaces (routes, Services, Pods); plus "gateways", "shared" */
    size_t grants;     /* ReferenceGrants in "shared", one per application namespace up to this */
    size_t iterations; /* measured changes per change scenario */
} bs_scale_t;

/* The named scales ("tiny" is the smoke scale), in size order. */
extern const bs_scale_t bs_scales[];
extern const size_t bs_scales_len;
/* Returns: the scale named |name| (static storage), or NULL. Borrows name. */
const bs_scale_t *bs_scale_find(const char *name);

/* Object kinds of the cluster, in feeding order (a Namespace before what lives in it). */
typedef enum bs_kind {
    BS_GATEWAY_CLASS = 0,
    BS_NAMESPACE,
    BS_GATEWAY,
    BS_SERVICE,
    BS_POD,
    BS_HTTP_ROUTE,
    BS_REFERENCE_GRANT,
    BS_KIND_COUNT
} bs_kind_t;

/* The current object set, held as an API server holds it: slot i of kind k is the object's
 * compact JSON text (NULL once the object is deleted); edits replace slots. Every object is a
 * complete Kubernetes object. Text, not trees: a jansson tree costs eight times its text, and the
 * bench process also holds the controller it measures. */
typedef struct bs_cluster {
    bs_scale_t scale;
    uint64_t seed;
    char **objs[BS_KIND_COUNT];
    size_t len[BS_KIND_COUNT];
    /* Per HTTPRoute: the index of the ReferenceGrant its cross-namespace backend needs, or -1. */
    long *route_grant;
} bs_cluster_t;

/* Generates the cluster of |scale| from |seed|: same inputs, same objects, byte for byte.
 * Borrows scale (copied). Returns: the cluster (owned by caller, bs_cluster_free), NULL on OOM. */
bs_cluster_t *bs_cluster_new(const bs_scale_t *scale, uint64_t seed);
void bs_cluster_free(bs_cluster_t *c);
/* Returns: slot |i| of |k| parsed into a new tree (owned by caller), or NULL when deleted or on OOM. */
json_t *bs_cluster_get(const bs_cluster_t *c, bs_kind_t k, size_t i);
/* Replaces slot |i| of |k| with |obj| (NULL deletes). Takes obj (keeps its text, releases the tree);
 * frees the previous text. Returns 0, or -1 on OOM (the slot is then unchanged). */
int bs_cluster_set(bs_cluster_t *c, bs_kind_t k, size_t i, json_t *obj);
/* Writes every object as a YAML stream of JSON documents ("---" between them), feeding order.
 * Borrows both. Returns: 0, or -1 on a write error. */
int bs_cluster_write(const bs_cluster_t *c, FILE *f);
/* Returns: the number of objects present (non-NULL slots) over all kinds. */
size_t bs_cluster_count(const bs_cluster_t *c);

/* Object builders, also used by scenarios to make edited versions. Each returns a new object
 * (owned by caller) or NULL on OOM. */
json_t *bs_gen_namespace(const bs_cluster_t *c, size_t i, bool exposed);
json_t *bs_gen_gateway(const bs_cluster_t *c, size_t i, long http_port);
json_t *bs_gen_service(const bs_cluster_t *c, size_t i, long port);
json_t *bs_gen_pod(const bs_cluster_t *c, size_t i, uint32_t ip_salt);
json_t *bs_gen_route(const bs_cluster_t *c, size_t i, uint32_t version);
json_t *bs_gen_grant(const bs_cluster_t *c, size_t i);

/* ---------------------------------------------------------------------------------------------
 * Scenarios.
 * ------------------------------------------------------------------------------------------- */
typedef enum bs_scenario {
    BS_SC_COLD = 0,
    BS_SC_ROUTE_EDIT,
    BS_SC_LISTENER_EDIT,
    BS_SC_SERVICE_PORT,
    BS_SC_POD_CHURN,
    BS_SC_NS_RELABEL,
    BS_SC_GRANT_DELETE,
    BS_SC_BURST,
    BS_SC_COUNT
} bs_scenario_t;

/* Returns: the scenario's name ("cold", "route-edit", ...), or NULL. */
const char *bs_scenario_name(bs_scenario_t s);
/* Returns: the scenario named |name|, or -1. */
int bs_scenario_find(const char *name);

typedef struct bs_options {
    bool json;            /* print one JSON object per scenario instead of the human table */
    bool markdown;        /* print one markdown table row per scenario instead */
    bool smoke;           /* tiny iteration counts; check the engine invariants after each step */
    size_t iterations;    /* 0: the scale's default */
    size_t burst;         /* edits in the burst scenario; 0: 10,000 */
    size_t proxies;       /* xDS clients on loopback; 0: one per Gateway (when xds/ is built) */
    bool no_xds;          /* measure up to the translate outputs only */
    size_t json_trees_mib; /* with json_trees_set: the JSON tree budget (KUBE_SOURCE_TREE_BUDGET) */
    bool json_trees_set;
    FILE *out;            /* where results go; NULL: stdout */
} bs_options_t;

/* Result of one scenario (the machine line's fields and a few more). */
typedef struct bs_result {
    const char *scale;
    const char *scenario;
    size_t changes;         /* measured changes (flushes) */
    double p50_us, p99_us, max_us, mean_us;
    double ingest_us;       /* mean time in kube_source_apply (JSON objects into krt), per change */
    double flush_p50_us, flush_p99_us, flush_max_us; /* change → flush done */
    bool wire;              /* p50/p99/max above are change → every xDS client holds the change */
    size_t proxies;         /* xDS clients connected over loopback */
    double xds_initial_ms;  /* first connect → every client holds its whole view */
    double bytes_per_proxy; /* per change: bytes the server wrote, divided by proxies */
    double resources_sent;  /* per change: resources in responses, all proxies */
    double sotw_bytes_per_proxy; /* per change: what state-of-the-world pushes would write */
    double rss_end_mib;     /* the controller at the end of the scenario, still serving */
    double wall_ms, cpu_ms; /* whole measured section */
    double recomputed;      /* per change: sum of recompute deltas over every collection */
    double minimal;         /* per change: necessary recomputes, Σ min(recomputes, keys changed) */
    double changed_outputs; /* per change: output objects (resources + status) that changed */
    double full_ms;         /* a full recompute of the same object set */
    double full_recomputed; /* its recomputes */
    double full_recompute_ratio; /* flush_p50 / full (engine against engine, no xDS) */
    double rss_mib;         /* the controller serving its proxies (after the initial push; the
                               clients run in another process), or rss_cold_mib without xDS */
    double rss_cold_mib;    /* the controller after the cold start, before any proxy: resident
                               set minus the generated cluster (the API server's side), JSON trees
                               trimmed */
    double peak_rss_mib;    /* getrusage high-water mark so far (the whole process) */
    double cluster_rss_mib; /* what generating the cluster added to the resident set */
    double ingested_rss_mib; /* the controller once the objects are in krt, before the flush */
    size_t json_trees;       /* JSON trees kept after the cold start (krt_json_tree_stats) */
    size_t json_tree_bytes;  /* their estimated bytes */
    uint64_t json_parses_cold; /* trimmed trees parsed again during the cold start */
    double engine_mib;      /* Σ krt_collection_stats().bytes: the engine's own structures */
    double krt_bytes;       /* per change: bytes requested from krt_allocator */
    double json_bytes;      /* per change: bytes requested by jansson */
    size_t objects;         /* objects in the cluster */
    size_t outputs;         /* output objects (resources + status) after the scenario */
    bool outputs_equal;     /* incremental outputs == the full recompute's */
} bs_result_t;

/* Installs the counting allocators (krt_allocator_set, json_set_alloc_funcs). Call once, before any
 * engine or JSON value exists. */
void bs_alloc_install(void);

/* Runs |sc| on a copy of a freshly generated cluster of |scale| (the cold start is part of every
 * scenario's setup). Prints the human table (or JSON) and the machine line to opt->out.
 * Borrows everything. Returns: 0, or -1 after printing why (a failed correctness check). */
int bs_run_scenario(const bs_scale_t *scale, uint64_t seed, bs_scenario_t sc,
                    const bs_options_t *opt, bs_result_t *res);

/* The command line of `krtgate bench` (options in cli.c). argv[0] is the program name and is not
 * read. Prints results to stdout and errors to stderr. Borrows argv. It installs the counting
 * allocators (bs_alloc_install), so it must run before the process creates any krt engine or
 * JSON value (first thing in a subcommand).
 * Returns: the exit status: 0, 1 when a scenario failed a correctness check, 2 on bad usage. */
int bs_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* BENCHSCALE_SCALE_H */
