/*
 * The wire part of `krtgate bench`: the translate graph's IR outputs served by a real delta xDS
 * server (xds/) to real xDS clients connected over loopback, one per Gateway: the server in this
 * process on its own libuv loop, the clients in a child process (so this process's resident set
 * is the controller's). Internal to bench/scale (run.c is its only user).
 *
 * The key decision: "delivered" is decided by the clients' state, not by counting bytes: after a
 * change, the runner records every IR object that changed (name, scope, version, or its deletion)
 * and serves until every client that can see it holds exactly that version (or no longer
 * holds it). The time at which the last one does is the change's wire latency. Counting responses
 * instead would be fooled by a response that carries something else.
 *
 * wire.c needs krtgate_xds; wire_stub.c (built when it is missing) makes bs_wire_new say so.
 */
#ifndef BENCHSCALE_WIRE_H
#define BENCHSCALE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "krt/krt.h"

typedef struct bs_wire bs_wire_t;

/* Returns: true when this build has xds/ (wire.c), false for wire_stub.c. */
bool bs_wire_available(void);

typedef struct bs_wire_stats {
    uint64_t bytes_sent;     /* server: bytes written to the clients' streams */
    uint64_t resources_sent; /* server: resources in responses */
    uint64_t responses;      /* server: responses */
    uint64_t sotw_bytes;     /* what state-of-the-world pushes of the touched types would send */
    uint64_t sotw_resources;
} bs_wire_stats_t;

/* Serves the IR collections |outs| (n of them; their current state goes out at once) to |proxies|
 * clients, client i taking the role of Gateway gateways[i % ngw] ("ns/name"), and waits until
 * every client holds everything in its view. Borrows outs (kept until bs_wire_free), gateways.
 * Returns: the wire (owned by caller), or NULL after printing why (xds not built, bind failure,
 * timeout). |*initial_ns| receives the time from the first connect to every client synced. */
bs_wire_t *bs_wire_new(krt_collection_t *const *outs, size_t n, size_t proxies,
                       const char *const *gateways, size_t ngw, uint64_t *initial_ns);
/* Records the IR events of |batch| as expectations for the next bs_wire_wait. */
void bs_wire_expect(bs_wire_t *w, const krt_batch_t *batch);
/* Commits the store and runs the loop until every expectation is met by every client that can see
 * it. Returns: 0 with |*done_ns| the monotonic time it was first seen met (0 when there was
 * nothing to wait for), or -1 after printing why (timeout, a client NACKed). */
int bs_wire_wait(bs_wire_t *w, uint64_t *done_ns);
/* Adds the wire counters since creation to |out|. */
void bs_wire_stats(const bs_wire_t *w, bs_wire_stats_t *out);
/* Returns: true when every client holds exactly as many names per type as its view has. */
bool bs_wire_in_sync(bs_wire_t *w);
size_t bs_wire_proxies(const bs_wire_t *w);
/* Closes clients and server, frees the store. Must run before the krt engine is freed. */
void bs_wire_free(bs_wire_t *w);

#endif /* BENCHSCALE_WIRE_H */
