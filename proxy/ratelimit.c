/*
 * Token buckets for local rate limiting (proxy/ratelimit.h).
 *
 * Key decision: discrete fills computed lazily from the clock on each take (no timer per
 * bucket): the state is two integers and a request pays one division. A continuous refill
 * (fractional tokens) was rejected: the IR states the rate as whole tokens per interval, and
 * agentgateway's behaviour is interval-wise.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "proxy/ratelimit.h"

/* INVARIANTS
 *  R1 tokens <= max
 *  R2 max > 0, interval > 0
 *  R3 last_fill <= the latest now seen */
struct proxy_ratelimit {
    atomic_long refs;
    uint64_t max, per_fill, interval, tokens, last_fill;
};

proxy_ratelimit_t *proxy_ratelimit_new(uint64_t max_tokens, uint64_t tokens_per_fill,
                                       uint64_t fill_interval_ms, uint64_t now_ms)
{
    if (!max_tokens || !fill_interval_ms)
        return NULL;
    proxy_ratelimit_t *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    atomic_init(&rl->refs, 1);
    rl->max = max_tokens;
    rl->per_fill = tokens_per_fill;
    rl->interval = fill_interval_ms;
    rl->tokens = max_tokens;
    rl->last_fill = now_ms;
    return rl;
}

proxy_ratelimit_t *proxy_ratelimit_retain(proxy_ratelimit_t *rl)
{
    atomic_fetch_add(&rl->refs, 1);
    return rl;
}

void proxy_ratelimit_release(proxy_ratelimit_t *rl)
{
    if (rl && atomic_fetch_sub(&rl->refs, 1) == 1)
        free(rl);
}

static void refill(proxy_ratelimit_t *rl, uint64_t now)
{
    if (now <= rl->last_fill)
        return;
    uint64_t k = (now - rl->last_fill) / rl->interval;
    if (!k)
        return;
    rl->last_fill += k * rl->interval;
    uint64_t add = rl->per_fill && k > (rl->max / rl->per_fill) + 1 ? rl->max : k * rl->per_fill;
    rl->tokens = rl->max - rl->tokens < add ? rl->max : rl->tokens + add; /* R1 */
}

bool proxy_ratelimit_take(proxy_ratelimit_t *rl, uint64_t n, uint64_t now_ms,
                          uint64_t *retry_after_ms)
{
    refill(rl, now_ms);
    if (rl->tokens >= n) {
        rl->tokens -= n;
        return true;
    }
    if (retry_after_ms) {
        *retry_after_ms = 0;
        if (n <= rl->max && rl->per_fill) {
            uint64_t missing = n - rl->tokens;
            uint64_t fills = (missing + rl->per_fill - 1) / rl->per_fill;
            uint64_t next = rl->last_fill + fills * rl->interval;
            *retry_after_ms = next > now_ms ? next - now_ms : 1;
        }
    }
    return false;
}

uint64_t proxy_ratelimit_available(proxy_ratelimit_t *rl, uint64_t now_ms)
{
    refill(rl, now_ms);
    return rl->tokens;
}

uint64_t proxy_ratelimit_max(const proxy_ratelimit_t *rl)
{
    return rl->max;
}
