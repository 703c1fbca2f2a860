/*
 * xDS authentication by Kubernetes TokenReview: an xds_auth_t for the controller's xDS server.
 *
 * A proxy sends `authorization: Bearer <projected service-account token>` and a node role
 * "<ns>~<gateway>". The authenticator asks the API server (POST
 * /apis/authentication.k8s.io/v1/tokenreviews, audience "agentgateway" unless configured) who the
 * token is, and allows the stream only when the token is authenticated as
 * `system:serviceaccount:<ns>:<sa>` and (ns, sa) is the role's Gateway (agentgateway's rule: the
 * deployer names the ServiceAccount after the Gateway).
 *
 * Refusals: no token, or a token the API server does not authenticate → 16 UNAUTHENTICATED; an
 * authenticated identity that is not a service account, or another Gateway's, or a stream without
 * a role → 7 PERMISSION_DENIED "requested gateway X but authenticated as Y"; the API server not
 * answering (transport error, 5xx, 403 on tokenreviews) → 14 UNAVAILABLE (the proxy retries).
 *
 * Review results are cached per token (bounded; positive and negative entries with their own
 * lifetimes), so a reconnect storm costs one review per proxy, not one per stream. Transport
 * failures are never cached.
 */
#ifndef KUBE_TOKENREVIEW_H
#define KUBE_TOKENREVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "krt/krt.h"
#include "kube/api.h"
#include "xds/auth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kube_tokenreview kube_tokenreview_t;

typedef struct kube_tokenreview_options {
    const char *audience;   /* NULL: "agentgateway"; "" sends no audience (the API server's) */
    uint64_t ttl_allow_ms;  /* 0: 60000 — how long an authenticated review is reused */
    uint64_t ttl_deny_ms;   /* 0: 5000 — how long an unauthenticated one is */
    size_t cache_max;       /* 0: 4096 entries; the oldest goes first when full */
    uint64_t (*now_ms)(void *ud); /* NULL: CLOCK_MONOTONIC */
    void *now_ud;
    krt_log_cb log; /* NULL: silent */
    void *log_ud;
} kube_tokenreview_options_t;

typedef struct kube_tokenreview_stats {
    uint64_t requests, allowed, unauthenticated, denied, unavailable;
    uint64_t reviews, cache_hits;
    size_t cached, in_flight;
} kube_tokenreview_stats_t;

/* Creates an authenticator that sends through |api| (kept: must outlive it). Borrows opts (may be
 * NULL; strings copied). Returns: owned by caller (kube_tokenreview_free), or NULL on OOM. */
kube_tokenreview_t *kube_tokenreview_new(kube_api_t api, const kube_tokenreview_options_t *opts);

/* Fills |out| with the xDS hook; out->dispose is NULL: the authenticator stays owned by the
 * caller and must outlive the xDS server using it. */
void kube_tokenreview_auth(kube_tokenreview_t *t, xds_auth_t *out);

/* Cancels the reviews in flight and completes their streams with 14 UNAVAILABLE, then frees.
 * NULL is a no-op. */
void kube_tokenreview_free(kube_tokenreview_t *t);

void kube_tokenreview_stats(const kube_tokenreview_t *t, kube_tokenreview_stats_t *out);

/* The pure parts, exposed for tests and the fuzz target. */

/* Returns: the TokenReview request body for |token| and |audience| (NULL or "": none); owned by
 * caller (free()), NULL on OOM. */
char *kube_tokenreview_body(const char *token, const char *audience);

/* What the API server said about a token. */
typedef struct kube_tokenreview_result {
    bool authenticated;
    char username[256];
    char error[256]; /* status.error, or why the response could not be read */
} kube_tokenreview_result_t;

/* Reads a TokenReview response (HTTP |http_status|, body |body|/|len|) to a review that asked for
 * |audience| (NULL or "": none). An authenticated answer whose status.audiences lacks |audience|
 * counts as not authenticated (the API docs ask clients to check this: a server that ignores
 * audiences would otherwise accept any token). Returns: KUBE_OK (result filled: authenticated or
 * not), or KUBE_EIO (not an answer about the token: a non-2xx status or a body that is not a
 * TokenReview; result->error says which). */
int kube_tokenreview_parse(int http_status, const char *body, size_t len, const char *audience,
                           kube_tokenreview_result_t *out);

/* Applies agentgateway's rule to a result and the stream's role Gateway "ns/name" (or NULL).
 * Returns 0 (allow), 16 or 7 with a sentence in |reason|. */
int kube_tokenreview_decide(const kube_tokenreview_result_t *r, const char *gateway, char *reason,
                            size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_TOKENREVIEW_H */
