/*
 * What the controller's writers share: the request function they call (kube_client_request, or a
 * fake in tests), a token bucket, a capped exponential backoff, resource paths and JSON merge
 * patches (RFC 7386) computed from "what the object has" and "what we want".
 *
 * The status writer (status_writer.h), the deployer's applier (deployer.h) and the TokenReview
 * authenticator (tokenreview.h) never call the transport directly: each holds a kube_api_t, so each
 * is driven in tests by a fake that records the request and answers it when the test says so.
 */
#ifndef KUBE_API_H
#define KUBE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kube/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shape of kube_client_request: one non-streaming request; |cb| runs exactly once unless the
 * call is cancelled first — possibly before the function returns (a request that cannot start
 * ends at once), so users must not touch state the callback may free after the call, and must
 * take *call only after checking the request is still in flight. Borrows the strings. Returns
 * KUBE_OK or an error (then |cb| never runs). */
typedef int (*kube_api_request_fn)(void *ud, const char *method, const char *path,
                                   const char *content_type, const char *body, size_t len,
                                   kube_response_cb cb, void *cb_ud, kube_call_t **call);

typedef struct kube_api {
    kube_api_request_fn request;
    void (*cancel)(void *ud, kube_call_t *call); /* may be NULL: then calls are not cancellable */
    void *ud;
} kube_api_t;

/* Returns: an api that sends through |c| (kept: must outlive every user of the api). */
kube_api_t kube_api_client(kube_client_t *c);

/* What a writer core's "_next" says (the status writer and the applier name these values in their
 * own words: KUBE_STATUS_*, KUBE_APPLY_*). */
typedef enum kube_api_next {
    KUBE_API_IDLE = 0, /* nothing to do (or not active) */
    KUBE_API_SEND = 1, /* make the request */
    KUBE_API_WAIT = 2, /* call again after wait_ms */
} kube_api_next_t;

/* The request a writer core's "_next" fills. */
typedef struct kube_api_req {
    uint64_t id;              /* hand it back with the answer */
    const char *method;
    char path[512];
    const char *content_type; /* NULL without a body */
    char *body;               /* owned by the core until its next "_next" */
    size_t len;
    uint64_t wait_ms;         /* with KUBE_API_WAIT */
} kube_api_req_t;

/* A token bucket: |qps| tokens per second up to |burst|; starts full. No clock of its own. */
typedef struct kube_bucket {
    double qps, burst, tokens;
    uint64_t last_ms;
    bool started;
} kube_bucket_t;

void kube_bucket_init(kube_bucket_t *b, double qps, unsigned burst);
/* Takes one token at |now_ms|. Returns: 0 when taken, else the milliseconds until one is there
 * (nothing taken). */
uint64_t kube_bucket_take(kube_bucket_t *b, uint64_t now_ms);

/* Returns: base * 2^attempt, capped at max (attempt 0 → base). */
uint64_t kube_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms);

/* When a queued write may be tried again: the failures so far and the time it waits for. Zero is
 * "due now, no failures". */
typedef struct kube_retry {
    unsigned attempt;
    uint64_t not_before; /* ms, on the caller's clock */
} kube_retry_t;

/* After a failure at |now_ms|: waits kube_backoff_ms(attempt) and counts the failure (the count
 * stops at 30, long past any cap). */
void kube_retry_later(kube_retry_t *r, uint64_t now_ms, uint64_t base_ms, uint64_t max_ms);
/* Returns: true when |r| is due at |now_ms|; else false, with *wait_ms lowered to the time until
 * it is due when that is sooner. */
bool kube_retry_due(const kube_retry_t *r, uint64_t now_ms, uint64_t *wait_ms);
/* Forgets the failures: due at once (a new desired state, or a new leader term). */
void kube_retry_reset(kube_retry_t *r);

/* Writes the path of an object: /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] for the core group
 * ("v1"), /apis/GROUP/VERSION/... otherwise. |ns|, |name| and |sub| may be NULL or "". Returns:
 * the length, or -1 when it does not fit or an argument holds a '/' or '?' where it must not. */
int kube_api_path(char *buf, size_t cap, const char *api_version, const char *plural,
                  const char *ns, const char *name, const char *sub);

/* Returns: the plural resource of |kind| for the kinds the controller writes ("Gateway" →
 * "gateways", "Deployment" → "deployments"), or NULL for a kind it does not know. */
const char *kube_api_plural(const char *kind);

/* The RFC 7386 patch that turns |cur| into |want| (both borrowed), or NULL when they are equal.
 * Objects recurse; any other value that differs is replaced whole (arrays included). With |prune|,
 * members of |cur| absent from |want| become null (removed); without it they are left alone, so
 * the patch touches only the fields |want| has (how an applier owns "its" fields), and an array
 * that kube_json_covers() the wanted one (defaults added inside items) is left alone too.
 * Returns: a new object (owned by caller) or NULL (equal; or OOM, *oom set when oom is given). */
json_t *kube_merge_patch(const json_t *cur, const json_t *want, bool prune, bool *oom);

/* Returns: true when every member that |want| has is equal in |cur|: objects recurse, arrays of the
 * same length compare element by element (so defaults the API server adds inside list items do
 * not count), other values compare whole. */
bool kube_json_covers(const json_t *cur, const json_t *want);

/* Reads a Kubernetes Status body ({"kind":"Status","message":...,"reason":...}) into |buf|:
 * "<reason>: <message>" or the HTTP status alone. Returns buf. */
const char *kube_api_status_message(const kube_response_t *r, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_API_H */
