/*
 * The Kubernetes API client: one HTTPS connection pool to one API server (net/: TLS with the
 * config's CA or client certificate, HTTP/2 by ALPN with HTTP/1.1 fallback), bearer token re-read
 * from its file every minute and after a 401. Everything above it (informers, status writer,
 * lease, deployer, TokenReview) speaks only this interface, so each is testable against the test
 * API server (tests/kube/apiserver/) and none touches a socket.
 *
 * Requests are asynchronous and run on the client's libuv loop; callbacks come from that loop.
 * A request whose callback has not run yet can be cancelled; after kube_client_close() every
 * pending callback runs once with err KUBE_ESTATE and no response.
 *
 * This header is the contract between kube/client.c (the transport) and its users; see
 * docs/kube-client.md.
 */
#ifndef KUBE_CLIENT_H
#define KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "krt/krt.h"

#include "kube/kube.h"
#include "kube/kubeconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kube_client kube_client_t;
typedef struct kube_call kube_call_t;

typedef struct kube_response {
    int status;               /* HTTP status */
    const char *body;         /* the whole body (NUL-terminated copy); borrowed for the callback */
    size_t len;
    const char *content_type; /* or NULL */
} kube_response_t;

/* |err| is KUBE_OK when a response arrived (any HTTP status, 4xx/5xx included), else the
 * transport error (KUBE_EIO: connect/TLS/reset/timeout; KUBE_ESTATE: cancelled or client closed),
 * with |resp| NULL. Runs exactly once per request unless kube_call_cancel() came first. */
typedef void (*kube_response_cb)(void *ud, int err, const kube_response_t *resp);

/* Streaming requests (WATCH): |on_data| gets body bytes as they arrive (borrowed for the call),
 * then |on_done| once with the final status (err as above; |http_status| 0 on transport error).
 * A non-2xx answer delivers its whole body through on_data before on_done. */
typedef struct kube_stream_cbs {
    void (*on_headers)(void *ud, int http_status);
    void (*on_data)(void *ud, const char *data, size_t len);
    void (*on_done)(void *ud, int err, int http_status);
} kube_stream_cbs_t;

typedef struct kube_client_options {
    const char *user_agent;      /* NULL: "krtgate/<version>" */
    uint64_t request_timeout_ms; /* non-watch requests; 0 means 30000 */
    uint64_t token_reread_ms;    /* 0 means 60000 */
    double qps;                  /* client-side rate limit for non-watch requests; 0 means 50 */
    unsigned burst;              /* 0 means 100 */
    bool http1_only;             /* never offer h2 in ALPN */
    krt_log_cb log;              /* NULL: stderr, info and above */
    void *log_ud;
} kube_client_options_t;

void kube_client_options_default(kube_client_options_t *o);

/* Creates a client for |cfg| (borrowed: everything needed is copied). Returns KUBE_OK and
 * *out (owned by caller: kube_client_close), KUBE_EINVAL (bad server URL or TLS material; |err|
 * says which), KUBE_ENOMEM. */
int kube_client_new(uv_loop_t *loop, const kube_client_config_t *cfg,
                    const kube_client_options_t *opts, kube_client_t **out, char *err, size_t cap);

/* One request. |path| includes the query ("/api/v1/namespaces/x/pods?limit=500"); the config's
 * base path is prepended. |content_type| and |body| may be NULL (no body). Borrows all arguments.
 * *call (may be NULL) receives a handle valid until the callback runs.
 * Returns KUBE_OK, KUBE_ESTATE (closed), KUBE_ENOMEM. */
int kube_client_request(kube_client_t *c, const char *method, const char *path,
                        const char *content_type, const char *body, size_t len,
                        kube_response_cb cb, void *ud, kube_call_t **call);

/* A streaming GET (no timeout beyond the server's timeoutSeconds; idle connections are detected
 * by HTTP/2 PING or TCP keep-alive). */
int kube_client_stream(kube_client_t *c, const char *path, const kube_stream_cbs_t *cbs, void *ud,
                       kube_call_t **call);

/* Drops the callback(s) of |call| and aborts it. Safe from inside any other callback. */
void kube_call_cancel(kube_call_t *call);

/* Closes connections; pending calls complete with KUBE_ESTATE; |on_closed| runs when all handles
 * are closed (may be NULL). */
void kube_client_close(kube_client_t *c, void (*on_closed)(void *ud), void *ud);

typedef struct kube_client_stats {
    uint64_t requests, responses, errors, retries_401, token_rereads;
    unsigned connections, in_flight;
    bool h2;
} kube_client_stats_t;

void kube_client_stats(const kube_client_t *c, kube_client_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_CLIENT_H */
