/*
 * The deployer: for every Gateway of our GatewayClass (the class's spec.controllerName is ours), a
 * proxy Deployment running `krtgate proxy` against this controller's xDS service, a Service
 * exposing the Gateway's listener ports, and the ServiceAccount that is the proxy's xDS identity —
 * all named like the Gateway, in its namespace, owned by it (ownerReferences), labelled as
 * agentgateway's deployer labels them.
 *
 * Two halves:
 *   - the desired objects, a krt derived collection (pure): Gateway + GatewayClass +
 *     AgentgatewayParameters (the class's spec.parametersRef, then the Gateway's
 *     spec.infrastructure.parametersRef; class first, Gateway over it) → objects of
 *     kube_desired_type, keyed "Kind/namespace/name";
 *   - the applier (sans-IO core + libuv adapter), leader only: for each desired object GET it;
 *     404 → create (POST); present → merge patch (application/merge-patch+json) of only our fields,
 *     and only when one of them differs; a desired object that goes away is deleted. Conflicts and
 *     server errors retry with backoff; writes share a token bucket.
 *
 * The Service's address (status.loadBalancer.ingress, else spec.clusterIP) is what the Gateway's
 * status.addresses reports: the translate graph reads the Service named like the Gateway for this
 * (translate/gateway.c), so the status writer gets it through the Gateway's status stanza.
 *
 * Parameters (AgentgatewayParameters spec) honoured: image.{registry,repository,tag,digest,
 * pullPolicy}, env (appended after ours; same name replaces), resources, logging.level (RUST_LOG-
 * style, as env LOG_LEVEL), shutdown.max (terminationGracePeriodSeconds), and the overlays
 * deployment / service / serviceAccount {metadata.{labels,annotations}, spec} merged last as JSON
 * merge patches (RFC 7386: lists replace, not strategic merge) — e.g. deployment.spec.replicas,
 * service.spec.type. Service type is LoadBalancer unless an overlay says otherwise.
 */
#ifndef KUBE_DEPLOYER_H
#define KUBE_DEPLOYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "krt/krt.h"
#include "kube/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kube_deployer_options {
    const char *controller_name; /* NULL: "agentgateway.dev/agentgateway" */
    const char *xds_address;     /* host:port the proxies dial. NULL:
                                    "krtgate.krtgate-system.svc:9978" */
    const char *proxy_image;     /* NULL: "ghcr.io/krtgate/krtgate:latest" */
    const char *xds_audience;    /* NULL: "agentgateway" (the projected token's audience) */
    const char *name;            /* collection name; NULL: "deployer/desired" */
} kube_deployer_options_t;

/* A desired object: key "Kind/namespace/name"; the JSON is the whole object to apply. */
extern const krt_type_t kube_desired_type;
/* Returns: the object's JSON, borrowed from |o|; NULL if |o| is not a kube_desired_type object. */
json_t *kube_desired_json(const krt_obj_t *o);
/* Returns: a sealed desired object holding |obj| (taken, also on error), or NULL. */
const krt_obj_t *kube_desired_new(json_t *obj);

/* Pure: renders the objects for |gateway| of class |gclass| with parameters |class_params| and
 * |gw_params| (either may be NULL). Borrows all. Returns: a JSON array of the objects
 * (ServiceAccount, Service, Deployment), owned by caller; NULL with |err| filled when the Gateway
 * is not ours or cannot be rendered. */
json_t *kube_deployer_render(const json_t *gateway, const json_t *gclass,
                             const json_t *class_params, const json_t *gw_params,
                             const kube_deployer_options_t *opts, char *err, size_t cap);

typedef struct kube_deployer kube_deployer_t;

/* Creates the desired-objects collection over |gateways|, |classes| and |params| (krt_json_type
 * collections of |e|, kept: the kube source's "Gateway", "GatewayClass" and
 * "AgentgatewayParameters"). |opts| is copied; it may be NULL. Returns: owned by caller
 * (kube_deployer_free, after the engine's last flush), NULL on error. */
kube_deployer_t *kube_deployer_new(krt_engine_t *e, krt_collection_t *gateways,
                                   krt_collection_t *classes, krt_collection_t *params,
                                   const kube_deployer_options_t *opts);
/* Returns: the collection of kube_desired_type objects (owned by the engine). */
krt_collection_t *kube_deployer_desired(const kube_deployer_t *k);
/* Frees what the collection's transformation reads; the collection stays in the engine, which
 * must not flush again. NULL is a no-op. */
void kube_deployer_free(kube_deployer_t *k);


/* ---- the applier ---- */
typedef struct kube_applier kube_applier_t;

typedef struct kube_applier_options {
    double qps;              /* 0: 10 */
    unsigned burst;          /* 0: 20 */
    uint64_t backoff_base_ms; /* 0: 500 */
    uint64_t backoff_max_ms;  /* 0: 60000 */
    const char *field_manager; /* NULL: "krtgate" (the fieldManager query parameter) */
    krt_log_cb log;
    void *log_ud;
} kube_applier_options_t;

typedef struct kube_applier_stats {
    uint64_t gets, creates, patches, deletes, unchanged, conflicts, errors;
    size_t queued;
    bool active;
} kube_applier_stats_t;

/* Creates an applier sending through |api| (kept). Returns: owned by caller, NULL on OOM. */
kube_applier_t *kube_applier_new(kube_api_t api, const kube_applier_options_t *opts);
void kube_applier_free(kube_applier_t *a);
/* Subscribes to |desired| (kube_desired_type objects, kept), replaying its content. */
int kube_applier_watch(kube_applier_t *a, krt_collection_t *desired);
/* The core's entry point: |obj| (borrowed; copied by reference) should exist, or, with |obj|
 * NULL, the object |key| ("Kind/ns/name") should not. */
int kube_applier_offer(kube_applier_t *a, const char *key, json_t *obj);

typedef enum kube_apply_next {
    KUBE_APPLY_IDLE = KUBE_API_IDLE,
    KUBE_APPLY_SEND = KUBE_API_SEND,
    KUBE_APPLY_WAIT = KUBE_API_WAIT,
} kube_apply_next_t;

/* method GET, POST, PATCH or DELETE; the body is owned by the applier until the next _next. */
typedef kube_api_req_t kube_apply_req_t;

kube_apply_next_t kube_applier_next(kube_applier_t *a, uint64_t now_ms, kube_apply_req_t *req);
void kube_applier_done(kube_applier_t *a, uint64_t id, int err, const kube_response_t *resp,
                       uint64_t now_ms);
void kube_applier_activate(kube_applier_t *a, bool active);
/* libuv adapter; leader only, like the status writer. */
int kube_applier_start(kube_applier_t *a, uv_loop_t *loop);
void kube_applier_stop(kube_applier_t *a);
void kube_applier_stats(const kube_applier_t *a, kube_applier_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_DEPLOYER_H */
