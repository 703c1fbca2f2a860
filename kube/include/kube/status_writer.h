/*
 * The status writer: puts the status the translate graph computes onto the Kubernetes objects, as
 * JSON merge patches of the `/status` subresource, only while this replica leads.
 *
 * Input: krt status collections (tr_graph_status(), and any collection of krt_status_type objects
 * whose input is the Kubernetes object). For every announced status object the writer compares
 * the stanza we want with what the object has and queues a write only when they differ — the
 * engine re-announces an unchanged stanza whenever its input object changes (our own writes
 * included), so this comparison is what stops a write loop. "Differs" means: a field of ours is
 * missing or has another value, or the status holds a top-level field we do not want; fields the
 * API server adds inside list items (defaults) are not a difference, or every write would cause
 * the next. After a successful write the entry is done; the watch's echo re-checks it.
 *
 * What is ours:
 *   - KUBE_STATUS_REPLACE (GatewayClass, Gateway, AgentgatewayBackend): the whole stanza.
 *   - KUBE_STATUS_PARENTS (routes): the `status.parents[]` entries whose controllerName is ours;
 *     other controllers' entries are kept as the object has them.
 *   - KUBE_STATUS_ANCESTORS (AgentgatewayPolicy): the same for `status.ancestors[]`.
 * When an object stops being ours (its status object is deleted) our parents/ancestors entries
 * are removed from it.
 *
 * Conditions: translate leaves lastTransitionTime out; the writer keeps the object's time when a
 * condition's status is unchanged and stamps the current time when it changes or is new.
 *
 * Writes: PATCH .../NAME/status with application/merge-patch+json, carrying
 * metadata.resourceVersion as a precondition. 409 Conflict: re-read (GET) after a backoff and
 * recompute; 404: the object is gone, dropped; 400/422: logged and dropped until the next change;
 * 429, 5xx and transport errors: retried with exponential backoff. One write in flight per object,
 * at most max_in_flight in all, a token bucket across all writes, and the latest stanza per object
 * wins (a burst of changes to one object is one write).
 *
 * Sans-IO core: kube_status_writer_offer() (what the krt handler calls), _next() (the request to
 * make, or how long to wait), _done() (its answer). The libuv adapter (_start/_stop) runs the
 * core on a loop through the kube_api_t; only the leader calls _start.
 */
#ifndef KUBE_STATUS_WRITER_H
#define KUBE_STATUS_WRITER_H

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

typedef enum kube_status_merge {
    KUBE_STATUS_REPLACE = 0,
    KUBE_STATUS_PARENTS = 1,
    KUBE_STATUS_ANCESTORS = 2,
} kube_status_merge_t;

typedef struct kube_status_kind {
    const char *kind;        /* "HTTPRoute" */
    const char *api_version; /* the version we write: "gateway.networking.k8s.io/v1" */
    const char *plural;      /* "httproutes" */
    bool namespaced;
    kube_status_merge_t merge;
} kube_status_kind_t;

/* GatewayClass, Gateway, HTTPRoute, GRPCRoute, TCPRoute, TLSRoute, ListenerSet,
 * AgentgatewayPolicy, AgentgatewayBackend. */
extern const kube_status_kind_t kube_status_kinds[];
extern const size_t kube_status_kinds_len;
/* Returns: the entry of |kind| (static storage) or NULL. */
const kube_status_kind_t *kube_status_kind_find(const char *kind);

typedef struct kube_status_writer kube_status_writer_t;

typedef struct kube_status_writer_options {
    const char *controller_name; /* NULL: "agentgateway.dev/agentgateway" */
    double qps;                  /* 0: 20 writes per second */
    unsigned burst;              /* 0: 50 */
    unsigned max_in_flight;      /* 0: 4 */
    uint64_t backoff_base_ms;    /* 0: 250 */
    uint64_t backoff_max_ms;     /* 0: 30000 */
    /* The stanza a status object holds (borrowed from it). NULL: tr_status_json. */
    json_t *(*stanza)(const krt_obj_t *status_obj);
    /* Wall clock in seconds since the epoch, for lastTransitionTime. NULL: time(). */
    int64_t (*wall_s)(void *ud);
    void *wall_ud;
    krt_log_cb log; /* NULL: silent */
    void *log_ud;
} kube_status_writer_options_t;

typedef struct kube_status_writer_stats {
    uint64_t offers, unchanged, patches, gets, conflicts, not_found, errors, dropped;
    size_t queued, in_flight;
    bool active;
} kube_status_writer_stats_t;

/* Creates a writer sending through |api| (kept). Borrows opts (strings copied). Returns: owned by
 * caller (kube_status_writer_free), or NULL on OOM. */
kube_status_writer_t *kube_status_writer_new(kube_api_t api,
                                             const kube_status_writer_options_t *opts);
/* Unsubscribes, cancels requests in flight, frees. NULL is a no-op. */
void kube_status_writer_free(kube_status_writer_t *w);

/* Subscribes to |status| (krt_status_type objects of |kind|, kept), replaying what it holds.
 * Returns KUBE_OK, KUBE_EINVAL (NULL status or kind), KUBE_ENOMEM. Watching while a follower is fine and cheap: the queue then holds
 * what the leader would write, and is re-checked against every later change of the objects. */
int kube_status_writer_watch(kube_status_writer_t *w, krt_collection_t *status,
                             const kube_status_kind_t *kind);

/* The core's entry point: |object| (the Kubernetes object as last seen, borrowed: the writer keeps
 * a reference) should carry |ours| (borrowed, copied; NULL: nothing of ours any more). Queues a
 * write when the object differs. Returns KUBE_OK, KUBE_EINVAL (object without name), KUBE_ENOMEM. */
int kube_status_writer_offer(kube_status_writer_t *w, const kube_status_kind_t *kind,
                             json_t *object, const json_t *ours);

typedef enum kube_status_next {
    KUBE_STATUS_IDLE = KUBE_API_IDLE, /* nothing to do (or not active) */
    KUBE_STATUS_SEND = KUBE_API_SEND, /* make |req| */
    KUBE_STATUS_WAIT = KUBE_API_WAIT, /* call again after req->wait_ms */
} kube_status_next_t;

/* method "PATCH" or "GET"; the body is owned by the writer until the next call of _next. */
typedef kube_api_req_t kube_status_req_t;

/* Returns what to do at |now_ms|. Only while active. */
kube_status_next_t kube_status_writer_next(kube_status_writer_t *w, uint64_t now_ms,
                                           kube_status_req_t *req);
/* The answer to request |id| (err and resp as kube_response_cb has them). Unknown ids (answers to
 * requests from before a stop) are ignored. */
void kube_status_writer_done(kube_status_writer_t *w, uint64_t id, int err,
                             const kube_response_t *resp, uint64_t now_ms);

/* Sans-IO activation (the adapter below calls these too): while inactive, _next says IDLE. */
void kube_status_writer_activate(kube_status_writer_t *w, bool active);

/* The libuv adapter: runs the core on |loop| (kept) through the api until _stop. For the leader:
 * call _start on becoming leader and _stop on losing the lease (requests in flight are
 * cancelled; the queue stays and is re-checked by the next leader term). Returns KUBE_OK,
 * KUBE_EUV. */
int kube_status_writer_start(kube_status_writer_t *w, uv_loop_t *loop);
void kube_status_writer_stop(kube_status_writer_t *w);

void kube_status_writer_stats(const kube_status_writer_t *w, kube_status_writer_stats_t *out);

/* Pure, for tests: the status |object| should have given |ours| (NULL: ours removed) under
 * |merge| and |controller|, with lastTransitionTime filled from the object or |now_rfc3339|.
 * Returns: the desired stanza (owned by caller) or NULL on OOM. */
json_t *kube_status_desired(const json_t *object, const json_t *ours, kube_status_merge_t merge,
                            const char *controller, const char *now_rfc3339);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_STATUS_WRITER_H */
