/*
 * translate — Kubernetes objects (Gateway API, Services, Pods, ...) into agentgateway's resources
 * and into status, as a graph of krt collections.
 *
 * The key decision: the whole translation is krt collections, each reading only what it needs
 * through recorded fetches, so an edit recomputes the objects it can affect and nothing else.
 * The graph is fed by input collections of krt_json_type objects, one per kind (tr_sources_t):
 * kube/source.h fills them from manifests or informers, tests fill them directly. It never reads a
 * file, a socket or a clock; status is computed here and written elsewhere (kube/).
 * The alternative, one function that recomputes a Gateway's whole configuration on any change
 * (agentgateway's first design, kgateway-dev/kgateway#12415), was rejected: one route edit would
 * cost the whole Gateway.
 *
 * Outputs (docs/translate.md has the graph):
 *   - one collection per IR kind (ir/ir.h): Bind, Listener, Route, TCPRoute, Backend, Policy,
 *     Address. Gateway-scoped objects carry their Gateway (ir_obj_gateway); Addresses are unscoped.
 *     Backend comes from AgentgatewayBackend, Policy from AgentgatewayPolicy.
 *   - one status collection per kind that gets status: GatewayClass, Gateway, HTTPRoute,
 *     GRPCRoute, TCPRoute, TLSRoute, AgentgatewayBackend, AgentgatewayPolicy, ListenerSet. Each
 * holds krt_status_type objects keyed like the input object ("ns/name", or "name" for a
 * GatewayClass); tr_status_json() reads the stanza, i.e. what Kubernetes would hold under `status`.
 * Conditions carry observedGeneration (the object's metadata.generation, 0 when absent) and no
 * lastTransitionTime: the status writer sets it when a condition's status changes. An object we do
 * not own (another controller's class, a route none of whose parents is one of our Gateways) has no
 * status object.
 *
 * Ownership words: borrows, keeps, takes (see krt/krt.h).
 */
#ifndef TRANSLATE_TRANSLATE_H
#define TRANSLATE_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ir/ir.h"
#include "krt/krt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_DEFAULT_CONTROLLER "agentgateway.dev/agentgateway"
#define TR_DEFAULT_DOMAIN     "cluster.local"
#define TR_DEFAULT_CLUSTER    "Kubernetes"

/* ---------------------------------------------------------------------------------------------
 * Errors: the module's own table (tr_graph_new is the only function that fails).
 * ------------------------------------------------------------------------------------------- */
#define TR_ERRNO_MAP(XX)               \
    XX(OK, 0, "success")               \
    XX(ENOMEM, -1, "out of memory")    \
    XX(EINVAL, -2, "invalid argument") \
    XX(ESOURCE, -3, "an input collection is missing, of the wrong type or from another engine")

enum {
#define TR__ERR_ENUM(name, code, msg) TR_##name = (code),
    TR_ERRNO_MAP(TR__ERR_ENUM)
#undef TR__ERR_ENUM
};

/* Returns: a static string describing |rc| ("unknown error" outside the table). */
const char *tr_strerror(int rc);

/* ---------------------------------------------------------------------------------------------
 * Inputs.
 * ------------------------------------------------------------------------------------------- */
/* One collection of krt_json_type objects per kind. Any member may be NULL: the graph then makes
 * an empty, synced static collection of its own for that kind. Every collection must belong to
 * the engine given to tr_graph_new. */
typedef struct tr_sources {
    krt_collection_t *gateway_classes;
    krt_collection_t *gateways;
    krt_collection_t *http_routes;
    krt_collection_t *grpc_routes;
    krt_collection_t *tcp_routes;
    krt_collection_t *tls_routes;
    krt_collection_t *reference_grants;
    krt_collection_t *services;
    krt_collection_t *endpoint_slices;
    krt_collection_t *pods;
    krt_collection_t *namespaces;
    krt_collection_t *secrets;
    krt_collection_t *config_maps;    /* backend TLS CA certificates */
    krt_collection_t *agw_backends;   /* agentgateway.dev AgentgatewayBackend */
    krt_collection_t *agw_policies;   /* agentgateway.dev AgentgatewayPolicy */
    krt_collection_t *agw_parameters; /* agentgateway.dev AgentgatewayParameters */
    krt_collection_t *listener_sets;  /* gateway.networking.k8s.io ListenerSet */
} tr_sources_t;

/* The kind names tr_sources_set understands ("GatewayClass", ..., "Secret"), in member order;
 * these are also kube_source_collection()'s names. */
extern const char *const tr_source_kinds[];
extern const size_t tr_source_kinds_len;

/* Sets the member of |s| for |kind| to |c|. Borrows kind, keeps c.
 * Returns: TR_OK, or TR_EINVAL when |kind| is not in tr_source_kinds. */
int tr_sources_set(tr_sources_t *s, const char *kind, krt_collection_t *c);

typedef struct tr_options {
    /* GatewayClasses whose spec.controllerName equals this are ours. NULL: TR_DEFAULT_CONTROLLER.
     */
    const char *controller_name;
    /* Cluster DNS domain for Service hostnames (<svc>.<ns>.svc.<domain>). NULL: "cluster.local". */
    const char *domain;
    /* Cluster id in Workload uids and cluster_id. NULL: "Kubernetes". */
    const char *cluster_id;
    /* Network of addresses. NULL: "". */
    const char *network;
    /* Prefix of the names of the graph's collections. NULL: "tr/". */
    const char *name_prefix;
} tr_options_t;

/* ---------------------------------------------------------------------------------------------
 * The graph.
 * ------------------------------------------------------------------------------------------- */
typedef struct tr_graph tr_graph_t;

/* Builds the translation graph in |e|: derived collections, indexes and joins that read |in|.
 * Keeps e and every collection of in. Borrows opt (strings are copied; NULL for defaults).
 * Returns: the graph (owned by caller, tr_graph_free), or NULL with |*err| (if not NULL) set to
 * TR_ESOURCE or TR_ENOMEM. On failure, collections already created stay in the engine (they are
 * freed with it) and nothing else happened. */
tr_graph_t *tr_graph_new(krt_engine_t *e, const tr_sources_t *in, const tr_options_t *opt,
                         int *err);
/* Frees the graph's own memory. Its collections belong to the engine and stay there until
 * krt_engine_free; the graph must not be used afterwards. NULL is a no-op. */
void tr_graph_free(tr_graph_t *g);

krt_engine_t *tr_graph_engine(const tr_graph_t *g);

/* Returns: the output collection of IR objects of |kind| (ir_kind_type(kind) objects), borrowed
 * until the engine is freed, or NULL for a value outside ir_kind_t. */
krt_collection_t *tr_graph_output(const tr_graph_t *g, ir_kind_t kind);

typedef enum tr_status_kind {
    TR_STATUS_GATEWAY_CLASS = 0,
    TR_STATUS_GATEWAY = 1,
    TR_STATUS_HTTP_ROUTE = 2,
    TR_STATUS_GRPC_ROUTE = 3,
    TR_STATUS_TCP_ROUTE = 4,
    TR_STATUS_TLS_ROUTE = 5,
    TR_STATUS_AGW_BACKEND = 6,  /* AgentgatewayBackend: {"conditions":[Accepted]} */
    TR_STATUS_AGW_POLICY = 7,   /* AgentgatewayPolicy: {"ancestors":[...]} (PolicyStatus) */
    TR_STATUS_LISTENER_SET = 8, /* ListenerSet: {"conditions":[...],"listeners":[...]} */
} tr_status_kind_t;
#define TR_STATUS_KIND_COUNT 9

/* Returns: the Kubernetes kind of |k| ("GatewayClass", "Gateway", "HTTPRoute", ...), or NULL. */
const char *tr_status_kind_name(tr_status_kind_t k);
/* Returns: the status collection of |k| (krt_status_type objects), borrowed until the engine is
 * freed, or NULL for a value outside the enum. */
krt_collection_t *tr_graph_status(const tr_graph_t *g, tr_status_kind_t k);

/* ---------------------------------------------------------------------------------------------
 * Effective deployment parameters (for the deployer).
 *
 * One object per Gateway of ours, keyed "ns/name": the GatewayClass's spec.parametersRef and the
 * Gateway's spec.infrastructure.parametersRef (both AgentgatewayParameters, agentgateway.dev)
 * merged class first, then Gateway (objects merge key by key, anything else is replaced).
 * tr_parameters_json(obj) is
 *   {"gateway":"ns/name", "class":"<class>",
 *    "sources":["AgentgatewayParameters ns/name", ...],       (in merge order)
 *    "spec":{...},                                               (the merged spec)
 *    "effective":{"image":"<registry>/<repository>:<tag>[@digest]" or null,
 *                 "imagePullPolicy", "replicas", "resources", "env", "serviceType",
 *                 "workloadKind", "logLevel", "logFormat"},      (null when unset)
 *    "errors":["..."]}                                           (refs that did not resolve)
 * docs/translate.md §9 documents each member.
 * ------------------------------------------------------------------------------------------- */
/* Returns: the collection (borrowed until the engine is freed). */
krt_collection_t *tr_graph_parameters(const tr_graph_t *g);
/* Returns: the JSON of one of its objects (borrowed from it, never to be modified), or NULL. */
json_t *tr_parameters_json(const krt_obj_t *o);

/* Returns: the status stanza held by |status_obj| (an object of a tr_graph_status collection),
 * borrowed from it and never to be modified; NULL if |status_obj| is not one. */
json_t *tr_status_json(const krt_obj_t *status_obj);

/* ---------------------------------------------------------------------------------------------
 * JSON lines: what `krtgate translate` prints and the golden tests compare.
 *   resource: {"kind":"route","key":...,"name":...,"gateway":...,"version":...,"resource":{...}}
 *             (ir_obj_dump; TLS keys redacted)
 *   status:   {"kind":"status","object":"HTTPRoute","key":"ns/name","status":{...}}
 * Keys are sorted; each line is compact JSON.
 * ------------------------------------------------------------------------------------------- */
/* Returns: the line of an output object (owned by caller), or NULL on OOM / not an IR object. */
json_t *tr_line_resource(const krt_obj_t *o);
/* Returns: the line of a status object of kind |k| (owned by caller), or NULL. */
json_t *tr_line_status(tr_status_kind_t k, const krt_obj_t *status_obj);
/* Renders |line| compactly with sorted keys and no trailing newline. Returns: a string (owned by
 * caller, free()), or NULL on OOM. Borrows line. */
char *tr_line_text(const json_t *line);

/* Returns: every output object (IR kinds in ir_kind_t order, keys in order) and then every status
 * object (tr_status_kind_t order, keys in order), one line each, each line ending in '\n'.
 * Owned by caller (free()); NULL on OOM. Reads the collections' state as of the last flush. */
char *tr_graph_dump_lines(const tr_graph_t *g);

#ifdef __cplusplus
}
#endif
#endif /* TRANSLATE_TRANSLATE_H */
