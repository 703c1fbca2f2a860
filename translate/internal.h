/*
 * translate/ internals shared across its files (prefix tr__). Nothing here is public.
 *
 * Records. Everything the graph passes between its own collections (a GatewayClass we own, one
 * Gateway listener, one route's parent bindings, a status stanza) is a tr__rec: a key and a JSON
 * value, hashed over the value's canonical text. One generic type instead of a C struct per
 * record keeps the records printable in krt dumps and makes their equality exact and obvious (same
 * key and same canonical JSON); they are small, so the canonical text costs little.
 */
#ifndef TRANSLATE_INTERNAL_H
#define TRANSLATE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ir/address.h"
#include "ir/backend.h"
#include "ir/bind.h"
#include "ir/ir.h"
#include "ir/listener.h"
#include "ir/names.h"
#include "ir/pb.h"
#include "ir/policy.h"
#include "ir/route.h"
#include "ir/tcp_route.h"
#include "krt/json.h"
#include "krt/krt.h"
#include "translate/translate.h"

#include "google/protobuf/duration.pb-c.h"

/* Short names for the generated protobuf-c identifiers. */
#define R_(x)       AGENTGATEWAY__DEV__RESOURCE__##x
#define T_(x)       Agentgateway__Dev__Resource__##x
#define D_(x)       agentgateway__dev__resource__##x##__descriptor
#define WR_(x)      ISTIO__WORKLOAD__##x
#define WT_(x)      Istio__Workload__##x
#define WD_(x)      istio__workload__##x##__descriptor

#define TR_GW_GROUP "gateway.networking.k8s.io"

/* ---------------------------------------------------------------------------------------------
 * The graph.
 * ------------------------------------------------------------------------------------------- */
enum { TR_RK_HTTP = 0, TR_RK_GRPC = 1, TR_RK_TCP = 2, TR_RK_TLS = 3, TR_RK_COUNT = 4 };

/* One route kind's collections. */
typedef struct tr__rk {
    struct tr_graph *g;
    int which;                  /* TR_RK_* */
    const char *kind;           /* "HTTPRoute", ... */
    krt_collection_t *src;      /* input JSON objects */
    krt_collection_t *bindings; /* per route: its parents and the listeners each accepts it on */
    krt_index_t *by_listener;   /* bindings by listener record key ("ns/gw/listener") */
    krt_collection_t *ir;       /* Route or TCPRoute objects, with status */
    krt_collection_t *status;
} tr__rk_t;

struct tr_graph {
    krt_engine_t *e;
    tr_sources_t in;
    char *controller;
    char *domain;
    char *cluster;
    char *network;
    char *prefix;

    krt_index_t *grants; /* on in.reference_grants: by "from group/kind/ns -> to group/kind/ns" */
    krt_collection_t *classes, *class_status;
    krt_collection_t *records;         /* one per listener of a Gateway we own */
    krt_index_t *records_by_gw;        /* by "gwns/gw" */
    krt_collection_t *records_buckets; /* that index as a collection */
    krt_index_t *records_by_ls;        /* records of ListenerSet listeners, by "lsns/ls" */
    krt_index_t *records_own;          /* records of a Gateway's own listeners, by "gwns/gw" */
    krt_index_t *ls_by_parent;         /* on in.listener_sets: by parent Gateway "gwns/gw" */
    krt_collection_t *listener_sets, *ls_status; /* listener_sets emits nothing: status only */
    krt_collection_t *binds, *listeners;
    tr__rk_t rk[TR_RK_COUNT];
    krt_collection_t *gateways, *gateway_status; /* gateways emits nothing: status only */
    krt_collection_t *svc_addr, *pod_addr, *slice_addr;
    krt_collection_t *routes, *tcp_routes, *addresses, *backends, *policies;
    /* agentgateway's own kinds (agw_backend.c, agw_policy.c, agw_params.c) */
    krt_index_t *route_refs;          /* Routes by what they send to (tr__route_refs_index) */
    krt_index_t *services_by_ns;      /* Services by namespace (MCP Service selectors) */
    krt_index_t *policy_refs;         /* Policies by the AgentgatewayBackend they send to */
    krt_collection_t *backend_status; /* AgentgatewayBackend status */
    krt_collection_t *policy_status;  /* AgentgatewayPolicy status */
    krt_collection_t *params;         /* effective AgentgatewayParameters per Gateway */
};

/* ---------------------------------------------------------------------------------------------
 * Records (util.c).
 * ------------------------------------------------------------------------------------------- */
extern const krt_type_t tr__rec_type;
/* Takes v (also on error). Borrows key. Returns: a sealed record (owned by caller) or NULL on OOM.
 */
const krt_obj_t *tr__rec_new(const char *key, json_t *v);
/* Borrowed from the record; must not be modified. */
json_t *tr__rec_json(const krt_obj_t *o);

/* ---------------------------------------------------------------------------------------------
 * JSON helpers (util.c). Getters never fail: absent or wrongly typed values read as the default.
 * ------------------------------------------------------------------------------------------- */
/* The value at a dotted path ("spec.tls.mode"), or NULL. */
json_t *tr__jpath(json_t *v, const char *path);
/* The string at |path|, or NULL when absent or not a string. */
const char *tr__jstr(json_t *v, const char *path);
/* The string at |path|, or |def| when absent, not a string or empty. */
const char *tr__jstr_or(json_t *v, const char *path, const char *def);
/* The integer at |path| (an integral real counts), or |def|. */
json_int_t tr__jint(json_t *v, const char *path, json_int_t def);
/* The array at |path|, or NULL. */
json_t *tr__jarr(json_t *v, const char *path);
/* The boolean at |path|, or |def|. */
bool tr__jbool(json_t *v, const char *path, bool def);
/* json_string that never fails on bad UTF-8 (returns json_string("") then) and never returns
 * NULL except on OOM. */
json_t *tr__jstring(const char *s);

/* metadata.generation, or 0. */
json_int_t tr__generation(const krt_obj_t *o);
/* metadata.creationTimestamp as Unix seconds, or 0 when absent or malformed. */
int64_t tr__created_unix(const krt_obj_t *o);
/* Parses an RFC 3339 time ("2024-01-02T03:04:05Z", fractions and offsets allowed).
 * Returns: true with |*out| set. */
bool tr__rfc3339(const char *s, int64_t *out);

/* A printf into krt_malloc'd memory (owned by caller, krt_free), or NULL on OOM. */
char *tr__fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------------------------------------
 * Matching rules (util.c).
 * ------------------------------------------------------------------------------------------- */
/* Gateway API hostname intersection: NULL, "" and "*" match anything; "*.x" matches any name
 * ending in ".x" (one or more labels, never "x" itself) and any more specific wildcard; names
 * compare case-insensitively. */
bool tr__hostnames_intersect(const char *a, const char *b);
/* A Kubernetes LabelSelector (matchLabels and matchExpressions with In, NotIn, Exists,
 * DoesNotExist) against a labels object. NULL or {} selects everything; an unknown operator
 * selects nothing. |implicit_key|/|implicit_value| (may be NULL) is one more label the object
 * carries (kubernetes.io/metadata.name on Namespaces). */
bool tr__selector_matches(json_t *selector, json_t *labels, const char *implicit_key,
                          const char *implicit_value);
/* Gateway API Duration ("1h", "10s", "500ms", "1m30s"). Returns: true with the value. */
bool tr__duration_parse(const char *s, int64_t *seconds, int32_t *nanos);
/* Base64 (standard alphabet, padding optional, whitespace ignored). Returns: decoded bytes
 * (krt_malloc, owned by caller, NUL-terminated for convenience) and |*len|, or NULL when |s| is
 * not base64 or on OOM. */
uint8_t *tr__b64_decode(const char *s, size_t *len, bool *oom);
/* A structural PEM check: at least one "-----BEGIN <label>-----" block whose label is
 * CERTIFICATE (|key| false) or ends in "PRIVATE KEY" (|key| true), with a base64 body that decodes
 * to DER (a SEQUENCE). It does not verify signatures or that the key matches the certificate. */
bool tr__pem_valid(const uint8_t *p, size_t n, bool key);
/* An IPv4 or IPv6 literal into 4 or 16 raw bytes. Returns: the length, or 0 when not an IP. */
size_t tr__ip_bytes(const char *s, uint8_t out[16]);

/* ---------------------------------------------------------------------------------------------
 * Conditions (util.c).
 * ------------------------------------------------------------------------------------------- */
/* {"type","status":"True"/"False","reason","message"} (owned by caller), or NULL on OOM. */
json_t *tr__cond(const char *type, bool status, const char *reason, const char *message);
/* Appends to |arr| (takes c; a NULL c marks OOM by returning false). */
bool tr__cond_add(json_t *arr, json_t *c);
/* A copy of |conds| sorted by type, each with observedGeneration |gen| (owned by caller). */
json_t *tr__conds_final(json_t *conds, json_int_t gen);

/* ---------------------------------------------------------------------------------------------
 * Protobuf building (util.c). Trees are built as ir/pb.h requires (krt_malloc everywhere).
 * A tr__pb_t collects an OOM flag so builders can be written straight through and checked once.
 * ------------------------------------------------------------------------------------------- */
typedef struct tr__pb {
    bool oom;
} tr__pb_t;
/* A new message of |d| (initialised), or NULL (b->oom set). */
void *tr__pb_new(tr__pb_t *b, const ProtobufCMessageDescriptor *d);
/* A new message of |d| with its oneof member of field number |kc| (a *_KindCase value) set to
 * the message |val|. Takes val: freed when the message cannot be made (b->oom set). A NULL val
 * gives NULL. |kc| must name a message member of a oneof of |d| (asserted). */
void *tr__pb_oneof(tr__pb_t *b, const ProtobufCMessageDescriptor *d, uint32_t kc, void *val);
/* A copy of |s| ("" for NULL), or NULL (b->oom set). */
char *tr__pb_str(tr__pb_t *b, const char *s);
/* Appends |item| to the array *arr of *n pointers. Takes item: on OOM it is freed (ir_pb_free
 * when |msg|, krt_free otherwise) and b->oom set. A NULL item is skipped. */
void tr__pb_push(tr__pb_t *b, void ***arr, size_t *n, void *item, bool msg);
/* A Duration, or NULL. */
Google__Protobuf__Duration *tr__pb_duration(tr__pb_t *b, int64_t s, int32_t nanos);

/* ---------------------------------------------------------------------------------------------
 * ReferenceGrants (backend.c).
 * ------------------------------------------------------------------------------------------- */
/* The index extractor registered on the ReferenceGrant collection. */
void tr__grant_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
/* Whether a ReferenceGrant in |to_ns| lets |from_kind| objects (group gateway.networking.k8s.io)
 * in |from_ns| refer to the |to_group|/|to_kind| object |to_name|. Records the dependency; when it
 * cannot (out of memory) sets *oom and returns false. */
bool tr__grant_allows(krt_ctx_t *ctx, const tr_graph_t *g, const char *from_kind,
                      const char *from_ns, const char *to_group, const char *to_kind,
                      const char *to_ns, const char *to_name, bool *oom);

/* A backendRef resolved (backend.c). */
typedef struct tr__backend {
    T_(RouteBackend) * rb; /* owned; NULL on OOM */
    bool ok;               /* false: |reason|/|message| say why (ResolvedRefs=False) */
    const char *reason;
    char message[256];
} tr__backend_t;
/* Resolves one backendRef of a |rk| route in |ns| (weight, group/kind, grants, Service). */
void tr__backend_resolve(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *ref,
                         tr__pb_t *b, tr__backend_t *out);
/* A BackendReference for a mirror's backendRef, or NULL when it does not resolve (then
 * |*reason| and |msg| are set). */
T_(BackendReference) * tr__backend_ref_only(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns,
                                            json_t *ref, tr__pb_t *b, const char **reason,
                                            char *msg, size_t msgcap);

/* ---------------------------------------------------------------------------------------------
 * Rules (rules.c): HTTPRoute/GRPCRoute rule parts as protobuf.
 * ------------------------------------------------------------------------------------------- */
/* The first failure met while translating a route: the reason for ResolvedRefs=False (or
 * Accepted=False when |accepted_false|). */
typedef struct tr__problem {
    const char *reason; /* NULL: none yet */
    bool accepted_false;
    char message[256];
} tr__problem_t;
void tr__problem_set(tr__problem_t *p, bool accepted_false, const char *reason, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* Fills |r| (matches, traffic_policies, backends) from an HTTPRoute rule. */
void tr__rule_http(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *rule, T_(Route) * r,
                   tr__pb_t *b, tr__problem_t *p);
/* The same for a GRPCRoute rule. */
void tr__rule_grpc(krt_ctx_t *ctx, const tr__rk_t *rk, const char *ns, json_t *rule, T_(Route) * r,
                   tr__pb_t *b, tr__problem_t *p);

/* ---------------------------------------------------------------------------------------------
 * Transformations (gateway.c, route.c, address.c).
 * ------------------------------------------------------------------------------------------- */
int tr__class_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
int tr__records_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
void tr__records_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
int tr__binds_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
int tr__listener_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
int tr__gateway_status_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);

/* ListenerSets (listenerset.c). */
void tr__ls_parent_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
void tr__records_ls_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
/* Records of a Gateway's own listeners by Gateway: what Gateway parentRefs and policy targets
 * read, so that a ListenerSet edit does not recompute them. */
void tr__records_own_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
/* Whether Gateway |gw| (JSON) lets ListenerSets of namespace |lsns| attach
 * (spec.allowedListeners.namespaces: None by default, Same, All, Selector). Fetches the
 * Namespace (labels only) for Selector. */
bool tr__ls_allowed(krt_ctx_t *ctx, const tr_graph_t *g, json_t *gw, const char *gwns,
                    const char *lsns);
/* The parent Gateway key "ns/name" of ListenerSet |ls| into |buf|; false when its parentRef is
 * not a Gateway. */
bool tr__ls_parent(json_t *ls, const char *lsns, char *buf, size_t cap);
/* Why Gateway |gw| (JSON) is not Accepted whatever its listeners ("UnsupportedAddress",
 * "InvalidParameters"), or NULL. */
const char *tr__gateway_refusal(json_t *gw);
/* Whether Gateway |gwkey| ("ns/name") exists and is of a class of ours. Records the fetches. */
bool tr__gateway_ours(krt_ctx_t *ctx, const tr_graph_t *g, const char *gwkey);
/* Whether the listener record |rec| (its JSON) says Programmed=True. */
bool tr__rec_programmed(json_t *rec);
/* The number of routes (all kinds) bound to listener record |rec_key|. */
size_t tr__attached_routes(krt_ctx_t *ctx, const tr_graph_t *g, const char *rec_key);
int tr__ls_status_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);

int tr__binding_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
void tr__binding_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
int tr__route_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);

int tr__service_address_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
int tr__pod_address_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
int tr__slice_address_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);

/* ---------------------------------------------------------------------------------------------
 * agentgateway kinds.
 * ------------------------------------------------------------------------------------------- */
#define TR_AGW_GROUP "agentgateway.dev"

/* The index extractor on the Route join: "backend/<ns>/<name>" for every BackendReference to an
 * AgentgatewayBackend (sub-backend suffix dropped) and "service/<ns>/<hostname>" for every one to
 * a Service, so a backend or a policy target finds the Gateways whose routes reach it. */
void tr__route_refs_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
/* The index extractor on the Policy output: "backend/<ns>/<name>" for every AgentgatewayBackend a
 * Policy sends to (extAuth, extProc, remote rate limit, tunnel, tracing). */
void tr__policy_refs_index(const krt_obj_t *o, krt_keys_t *keys, void *ud);
/* The distinct Gateways ("ns/name", sorted) of the Routes in bucket |key| of g->route_refs and,
 * when |policies|, of the Policies in that bucket of g->policy_refs, as a JSON array (owned by
 * caller; NULL on OOM). Records the dependencies. */
json_t *tr__gateways_reaching(krt_ctx_t *ctx, const tr_graph_t *g, const char *key, bool policies);

/* One translated policy feature: a spec message and the name agentgateway gives it in keys. */
typedef struct tr__feat {
    char *feature;          /* krt_malloc'd */
    int section;            /* 0 traffic, 1 backend, 2 frontend, 3 conditional traffic */
    ProtobufCMessage *spec; /* Traffic/Backend/FrontendPolicySpec or ConditionalPolicies, owned */
} tr__feat_t;
typedef struct tr__feats {
    tr__feat_t *v;
    size_t n, cap;
} tr__feats_t;
void tr__feats_dispose(tr__feats_t *f);

/* What translation of one object found wrong: |invalid| (Accepted=False) and |unsupported|
 * (kept, reported) are arrays of messages naming the field. */
typedef struct tr__notes {
    json_t *invalid;
    json_t *unsupported;
    bool oom; /* a note could not be recorded */
} tr__notes_t;
void tr__note(tr__notes_t *n, bool invalid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Translates an AgentgatewayPolicy-style `backend` section (BackendFull, BackendSimple or
 * BackendWithAI: the same field names) of an object in |ns| into BackendPolicySpecs appended to
 * |out|; |path| names the section in notes ("spec.backend"). Reads Secrets and ConfigMaps. */
void tr__agw_backend_section(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns, const char *path,
                             json_t *sec, tr__pb_t *b, tr__feats_t *out, tr__notes_t *notes);
/* A Gateway API BackendObjectReference to a Service or an AgentgatewayBackend as a
 * BackendReference, or NULL (with a note) for another kind. */
T_(BackendReference) * tr__agw_backend_ref(krt_ctx_t *ctx, const tr_graph_t *g, const char *ns,
                                           const char *path, json_t *ref, tr__pb_t *b,
                                           tr__notes_t *notes);
/* The bytes of |key| of a Secret or ConfigMap (data base64-decoded, then stringData or, for a
 * ConfigMap, data as is). Owned by caller (krt_free), NUL-terminated; NULL when the object or
 * the key is missing (|*found| false when the object is) or on OOM (|*oom| set). Records the
 * dependency. */
uint8_t *tr__object_value(krt_ctx_t *ctx, krt_collection_t *c, const char *ns, const char *name,
                          const char *key, size_t *len, bool *found, bool *oom);

int tr__agw_backend_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
int tr__agw_policy_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);
int tr__agw_params_transform(krt_ctx_t *ctx, const krt_obj_t *in, void *ud);

/* Partial-fetch callbacks (util.c). */
bool tr__same_always(const krt_obj_t *old, const krt_obj_t *cur, void *ud);
/* Records: equal "bind" members. */
bool tr__same_rec_bind(const krt_obj_t *old, const krt_obj_t *cur, void *ud);
/* Records: "bind" members equal but for their "port" (what a parentRef without a port reads). */
bool tr__same_rec_bind_but_port(const krt_obj_t *old, const krt_obj_t *cur, void *ud);
/* Routes: equal spec.parentRefs and spec.hostnames (what a binding reads of its route). */
bool tr__same_binding_input(const krt_obj_t *old, const krt_obj_t *cur, void *ud);
/* JSON objects: equal metadata.labels. */
bool tr__same_labels(const krt_obj_t *old, const krt_obj_t *cur, void *ud);

/* Emits an IR object built by |fn|; returns the krt error to return from the transformation. */
int tr__emit_ir(krt_ctx_t *ctx, const ir_obj_t *o, const ir_err_t *err);

#endif /* TRANSLATE_INTERNAL_H */
