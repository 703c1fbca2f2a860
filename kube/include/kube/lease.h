/*
 * Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
 * it, in two parts:
 *
 *   kube_lease_*    the sans-IO state machine: given the time (passed in, never read), says which
 *                   request to make (GET, POST, PUT of the Lease, or WAIT) and learns from the
 *                   answers whether we lead. Tested with a fake clock.
 *   kube_elector_*  the adapter: runs those requests over kube_client and the waits on a libuv
 *                   timer, and calls on_started_leading / on_stopped_leading.
 *
 * The algorithm (client-go tryAcquireOrRenew):
 *  - the Lease is read; absent (404) → created with us as holder;
 *  - held by someone else whose record we have not seen change for leaseDuration (measured on OUR
 *    clock from when we observed the record, never from its renewTime: clocks differ between
 *    nodes) → taken over (PUT with the read resourceVersion, leaseTransitions + 1); otherwise we
 *    wait retryPeriod and read again;
 *  - the leader renews every retryPeriod (PUT of renewTime with the cached resourceVersion; a 409
 *    conflict re-reads first); if no renewal succeeded within renewDeadline of the last good one,
 *    it steps down (on_stopped_leading) and goes back to acquiring;
 *  - release (shutdown): the leader writes an empty holderIdentity with leaseDurationSeconds 1,
 *    so a standby takes over at once instead of after leaseDuration.
 * Defaults: leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s (client-go's).
 */
#ifndef KUBE_LEASE_H
#define KUBE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "kube/client.h"
#include "kube/kube.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kube_lease_options {
    const char *identity;       /* our holderIdentity (the pod name); copied. Required */
    const char *namespace_name; /* copied. Required */
    const char *name;           /* the Lease's name; copied. Required */
    uint64_t lease_duration_ms; /* 0: 15000 */
    uint64_t renew_deadline_ms; /* 0: 10000 */
    uint64_t retry_period_ms;   /* 0: 2000 */
    /* Wall-clock time (microseconds since the epoch) for acquireTime / renewTime; NULL: the
     * system clock. Only written into the Lease, never compared. */
    int64_t (*wall_us)(void *ud);
    void *wall_ud;
} kube_lease_options_t;

typedef enum kube_lease_action_kind {
    KUBE_LEASE_GET = 1, /* GET path */
    KUBE_LEASE_CREATE,  /* POST path body */
    KUBE_LEASE_UPDATE,  /* PUT path body */
    KUBE_LEASE_WAIT,    /* wait wait_ms, then kube_lease_on_waited */
    KUBE_LEASE_DONE,    /* released: nothing more */
} kube_lease_action_kind_t;

typedef struct kube_lease_action {
    kube_lease_action_kind_t kind;
    const char *method; /* "GET", "POST", "PUT"; NULL for WAIT / DONE */
    const char *path;   /* borrowed until the next call on the lease */
    const char *body;   /* JSON; NULL for GET */
    uint64_t wait_ms;
} kube_lease_action_t;

typedef struct kube_lease kube_lease_t;

/* Returns: owned by caller (kube_lease_free), or NULL (OOM, or a required string missing). */
kube_lease_t *kube_lease_new(const kube_lease_options_t *o);
void kube_lease_free(kube_lease_t *l); /* NULL is a no-op */

/* What to do now (|now_ms|: the caller's monotonic clock). Calling again without feeding gives
 * the same action. Borrows out. Returns KUBE_OK or KUBE_ENOMEM. */
int kube_lease_next(kube_lease_t *l, uint64_t now_ms, kube_lease_action_t *out);
/* The answer to the GET / CREATE / UPDATE in flight: HTTP |status| and its body (may be NULL).
 * Returns KUBE_OK or KUBE_ESTATE (no request was due). */
int kube_lease_on_response(kube_lease_t *l, uint64_t now_ms, int status, const json_t *body);
/* The request failed in transport. Returns KUBE_OK or KUBE_ESTATE. */
int kube_lease_on_error(kube_lease_t *l, uint64_t now_ms);
/* The WAIT elapsed. Returns KUBE_OK or KUBE_ESTATE. */
int kube_lease_on_waited(kube_lease_t *l, uint64_t now_ms);
/* A leader whose last renewal is renew_deadline old steps down now (the adapter calls this
 * from a timer, so a hanging request cannot keep us leading). Returns: true when it stepped down
 * (a write in flight is abandoned: the next action is a GET). */
bool kube_lease_tick(kube_lease_t *l, uint64_t now_ms);
/* Shutdown: a leader's next action is the release UPDATE (then DONE); otherwise DONE at once.
 * Leadership ends now (is_leader turns false). */
void kube_lease_release(kube_lease_t *l, uint64_t now_ms);

bool kube_lease_is_leader(const kube_lease_t *l);
/* Returns: the holder last seen ("" when none), borrowed until the next call. */
const char *kube_lease_holder(const kube_lease_t *l);

typedef struct kube_lease_stats {
    uint64_t acquisitions, renewals, losses, failures, conflicts;
} kube_lease_stats_t;
void kube_lease_stats(const kube_lease_t *l, kube_lease_stats_t *out);

/* Debug check of the invariants (lease.c). Returns KUBE_OK or KUBE_EINVAL. */
int kube_lease_check(const kube_lease_t *l);

/* ---------------------------------------------------------------------------------------------
 * The adapter.
 * ------------------------------------------------------------------------------------------- */
typedef struct kube_elector kube_elector_t;

typedef struct kube_elector_callbacks {
    void (*on_started_leading)(void *ud); /* we lead: start the leader-only work */
    void (*on_stopped_leading)(void *ud); /* we lost (or released) the lease: stop it */
    void *ud;
} kube_elector_callbacks_t;

/* Keeps loop and client (both must outlive the elector); borrows o and cbs (copied).
 * Returns KUBE_OK with *out (owned by caller: kube_elector_release then kube_elector_free),
 * KUBE_EINVAL, KUBE_ENOMEM. */
int kube_elector_new(uv_loop_t *loop, kube_client_t *client, const kube_lease_options_t *o,
                     const kube_elector_callbacks_t *cbs, kube_elector_t **out);
/* Starts the acquire loop. */
void kube_elector_start(kube_elector_t *el);
/* Gives the lease up (on_stopped_leading runs now if we led), writes the empty holder if we led,
 * then calls |done| (may be NULL; at once when there is nothing to write). Keeps ud. */
void kube_elector_release(kube_elector_t *el, void (*done)(void *ud), void *ud);
bool kube_elector_is_leader(const kube_elector_t *el);
const kube_lease_t *kube_elector_lease(const kube_elector_t *el);
/* Cancels what is in flight; no callback runs afterwards. NULL is a no-op. */
void kube_elector_free(kube_elector_t *el);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_LEASE_H */
