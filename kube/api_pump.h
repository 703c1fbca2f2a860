/*
 * The libuv adapter the controller's writer cores share (internal to kube/, not installed).
 *
 * The status writer and the deployer's applier are sans-IO cores with the same two-call shape:
 * "_next(now)" says what to send (or to wait, or that there is nothing), "_done(id, answer)" takes
 * the answer. The pump is the one thin piece that runs such a core on a loop: a timer that calls
 * _next until it says idle or wait, each request made through the core's kube_api_t, each answer
 * handed back with the loop's clock, and the calls in flight cancelled on stop. What to send, the
 * retries, the backoff and the token bucket stay in the cores; the pump decides nothing.
 *
 * Key decision: the pump, not the core's queue entries, keeps what belongs to a call in flight
 * (the callback's context and the kube_call_t handle), so the cores hold no libuv or transport
 * state at all and their tests need no loop. The alternative rejected: a context pointer in every
 * entry (what each core did before), which made each core free and cancel transport state.
 *
 * INVARIANTS
 *  P1 a call record is on |calls| from just before its request is made until its answer is
 *     handed to the core, or until _stop cancels it; then it is freed
 *  P2 |sending| is the record whose request function is running, else NULL; an answer that
 *     arrives inside the request function clears it (the record is freed then)
 *  P3 |timer| != NULL iff _start succeeded once; |loop| is the loop it runs on
 */
#ifndef KUBE_API_PUMP_H
#define KUBE_API_PUMP_H

#include <uv.h>

#include "kube/api.h"

/* The core's two calls, with the core passed back as |core|. */
typedef kube_api_next_t (*kube__pump_next_fn)(void *core, uint64_t now_ms, kube_api_req_t *req);
typedef void (*kube__pump_done_fn)(void *core, uint64_t id, int err, const kube_response_t *resp,
                                   uint64_t now_ms);

/* One call in flight (P1). */
typedef struct kube__pump_call {
    struct kube__pump *p;
    uint64_t id;       /* the core's */
    kube_call_t *call; /* NULL until the request function has returned */
    struct kube__pump_call *prev, *next;
} kube__pump_call_t;

typedef struct kube__pump {
    kube_api_t api;
    kube__pump_next_fn next;
    kube__pump_done_fn done;
    void *core;
    uv_loop_t *loop;
    uv_timer_t *timer;         /* heap: closed by _dispose, freed by the loop */
    kube__pump_call_t *calls;  /* in flight (P1) */
    kube__pump_call_t *sending; /* P2 */
} kube__pump_t;

/* Embeds a pump for |core| (kept: the pump lives inside it) sending through |api| (kept). Starts
 * nothing; before _start, _kick is a no-op, so a core without a loop (tests) is never driven. */
void kube__pump_init(kube__pump_t *p, kube_api_t api, kube__pump_next_fn next,
                     kube__pump_done_fn done, void *core);

/* Makes the timer on |loop| (kept) the first time; later calls keep the first loop. Does not run
 * the core: call _kick. Returns KUBE_OK, KUBE_EINVAL (no loop), KUBE_ENOMEM, KUBE_EUV (then
 * nothing changed). */
int kube__pump_start(kube__pump_t *p, uv_loop_t *loop);

/* Runs the core from the loop soon (never from inside the caller: a krt handler or an answer may
 * be on the stack). The core's own "active" flag is the caller's to check. */
void kube__pump_kick(kube__pump_t *p);

/* Stops the timer and cancels each call in flight; the core's _done is not called for them, so
 * the core must put its in-flight entries back itself. With an api that cannot cancel, a call's
 * record stays until its answer, which goes to the core's _done (both cores ignore ids no longer
 * in flight). */
void kube__pump_stop(kube__pump_t *p);

/* _stop, then closes the timer (the loop frees it) and frees every record left. */
void kube__pump_dispose(kube__pump_t *p);

#endif /* KUBE_API_PUMP_H */
