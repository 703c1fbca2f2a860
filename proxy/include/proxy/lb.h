/*
 * Load-balancing choices, sans-IO and deterministic: a weighted pick among backendRefs and a
 * round-robin cursor over endpoints. The random source is injectable (tests pass a fixed
 * sequence); the default is a xorshift64* generator seeded by the caller.
 */
#ifndef PROXY_LB_H
#define PROXY_LB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t (*proxy_rng_cb)(void *ud);

typedef struct proxy_lb {
    uint64_t state;   /* xorshift64* state (never 0) */
    proxy_rng_cb rng; /* NULL: the built-in generator */
    void *rng_ud;
    uint64_t cursor; /* round-robin position */
} proxy_lb_t;

/* Initialises with the built-in generator seeded by |seed| (any value). */
void proxy_lb_init(proxy_lb_t *lb, uint64_t seed);
/* Replaces the random source (keeps ud). */
void proxy_lb_set_rng(proxy_lb_t *lb, proxy_rng_cb rng, void *ud);
/* Returns: the next random 64-bit value. */
uint64_t proxy_lb_random(proxy_lb_t *lb);
/* Picks an index in [0, n) with probability weights[i] / sum (negative weights count as 0).
 * Returns: the index, or -1 when n is 0 or every weight is 0. */
long proxy_lb_pick_weighted(proxy_lb_t *lb, const int32_t *weights, size_t n);
/* Returns: the next round-robin index in [0, n) (n > 0). */
size_t proxy_lb_round_robin(proxy_lb_t *lb, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_LB_H */
