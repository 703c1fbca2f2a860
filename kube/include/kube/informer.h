/*
 * Informers: one reflector (kube/reflector.h) per watched kind, driven over the API client
 * (kube/client.h) with libuv timers, feeding the kube source (kube/source.h) through
 * kube_source_apply(). The reflector decides what to ask; this adapter asks it, feeds the answers
 * back (LIST pages, WATCH bytes through the decoder of kube/watch.h, errors, elapsed WAITs) and
 * hands the resulting changes to the source.
 *
 * Batching: changes go to the source as they arrive, and on_batch runs once per loop turn that
 * saw any (after batch_ms), where the owner flushes the engine and commits the xDS store, so a
 * burst of watch events becomes one flush and one xDS push.
 */
#ifndef KUBE_INFORMER_H
#define KUBE_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kube/client.h"
#include "kube/reflector.h"
#include "kube/source.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A watched kind: the kind name of kube_kinds, its apiVersion and its plural resource name. */
typedef struct kube_informer_kind {
    const char *kind;        /* "HTTPRoute" */
    const char *api_version; /* "gateway.networking.k8s.io/v1" */
    const char *resource;    /* "httproutes" */
} kube_informer_kind_t;

/* The kinds the translation reads (translate's tr_source_kinds), with the versions served by
 * current Kubernetes and Gateway API releases. */
extern const kube_informer_kind_t kube_informer_kinds[];
extern const size_t kube_informer_kinds_len;

typedef struct kube_informers kube_informers_t;

typedef struct kube_informers_options {
    const kube_informer_kind_t *kinds; /* NULL: kube_informer_kinds. Kept */
    size_t nkinds;
    const char *namespace_name;         /* NULL: all namespaces. Copied */
    kube_reflector_options_t reflector; /* page size, backoff, missing_retry_ms, watch timeout,
                                           rand; kind / api_version / origin are set per kind */
    uint64_t batch_ms;                  /* delay before on_batch (0: the next loop turn) */
    /* Changes were applied to the source: flush the engine and commit. |n| changes in the
     * batch. Required. */
    void (*on_batch)(void *ud, size_t n);
    void *ud;
    krt_log_cb log; /* NULL: stderr, info and above */
    void *log_ud;
} kube_informers_options_t;

/* Creates the informers (nothing is requested until kube_informers_start). Keeps loop, client,
 * source and the strings of opts->kinds; borrows opts.
 * Returns: KUBE_OK with *out (owned by caller, kube_informers_free), KUBE_EINVAL, KUBE_ENOMEM. */
int kube_informers_new(uv_loop_t *loop, kube_client_t *client, kube_source_t *source,
                       const kube_informers_options_t *opts, kube_informers_t **out);
/* Starts every kind's LIST. Returns KUBE_OK or KUBE_ESTATE (already started). */
int kube_informers_start(kube_informers_t *inf);
/* Returns: true once every kind completed its first LIST (or was found missing). */
bool kube_informers_synced(const kube_informers_t *inf);
/* Returns: the number of kinds; fills |out| with the stats of kind |i| (kind name in *kind,
 * static or kept). */
size_t kube_informers_len(const kube_informers_t *inf);
void kube_informers_kind_stats(const kube_informers_t *inf, size_t i, const char **kind,
                               kube_reflector_stats_t *out);
/* Counters over all kinds: batches delivered and changes applied. */
void kube_informers_counters(const kube_informers_t *inf, uint64_t *batches, uint64_t *changes);
/* How long changes waited between reaching the source and their on_batch (the queue of the
 * batch timer), in milliseconds of the loop's clock: the last batch's and the longest. */
void kube_informers_queue_ms(const kube_informers_t *inf, uint64_t *last, uint64_t *max);
/* Cancels every request and timer; no callback runs afterwards. NULL is a no-op. The client is
 * not closed (it belongs to the caller). */
void kube_informers_free(kube_informers_t *inf);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_INFORMER_H */
