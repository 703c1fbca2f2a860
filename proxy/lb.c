/*
 * Load-balancing choices (proxy/lb.h). Weighted pick: one random draw in [0, total) mapped onto
 * the cumulative weights (O(n); rules have a handful of backendRefs, so no alias table).
 * Round-robin: one cursor per proxy_lb_t; the HTTP layer keeps one per proxy, which spreads
 * load evenly over time without per-backend state that would have to follow config changes.
 */
#include "proxy/lb.h"

void proxy_lb_init(proxy_lb_t *lb, uint64_t seed)
{
    lb->state = seed ? seed : 0x9E3779B97F4A7C15ull;
    lb->rng = NULL;
    lb->rng_ud = NULL;
    lb->cursor = 0;
}

void proxy_lb_set_rng(proxy_lb_t *lb, proxy_rng_cb rng, void *ud)
{
    lb->rng = rng;
    lb->rng_ud = ud;
}

uint64_t proxy_lb_random(proxy_lb_t *lb)
{
    if (lb->rng)
        return lb->rng(lb->rng_ud);
    uint64_t x = lb->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lb->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

long proxy_lb_pick_weighted(proxy_lb_t *lb, const int32_t *weights, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += weights[i] > 0 ? (uint64_t)weights[i] : 0;
    if (total == 0)
        return -1;
    uint64_t r = proxy_lb_random(lb) % total;
    for (size_t i = 0; i < n; i++) {
        uint64_t w = weights[i] > 0 ? (uint64_t)weights[i] : 0;
        if (r < w)
            return (long)i;
        r -= w;
    }
    return -1; /* not reached */
}

size_t proxy_lb_round_robin(proxy_lb_t *lb, size_t n)
{
    return (size_t)(lb->cursor++ % n);
}
