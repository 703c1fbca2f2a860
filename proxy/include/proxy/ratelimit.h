/*
 * Local rate limiting, sans-IO: a token bucket with an injected clock (agentgateway's
 * TrafficPolicySpec.local_rate_limit).
 *
 * A bucket starts full with |max_tokens|; every whole |fill_interval_ms| since the last fill adds
 * |tokens_per_fill|, capped at |max_tokens|. Fills are discrete (whole intervals), as the IR's
 * "tokens per fill interval" says, so a burst drains the bucket and the next tokens come at the
 * next interval boundary. A bucket is shared by every request its policy covers on this proxy
 * (one bucket per policy and rule, per proxy), and survives config changes that keep the policy
 * unchanged (proxy/policy.c carries it over by refcount).
 *
 * Single-threaded (the proxy loop); the reference count is atomic only so that snapshots may be
 * released from any thread.
 */
#ifndef PROXY_RATELIMIT_H
#define PROXY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proxy_ratelimit proxy_ratelimit_t;

/* Creates a full bucket at |now_ms|. |fill_interval_ms| and |max_tokens| must be > 0.
 * Returns: owned by caller (proxy_ratelimit_release), or NULL (invalid arguments or OOM). */
proxy_ratelimit_t *proxy_ratelimit_new(uint64_t max_tokens, uint64_t tokens_per_fill,
                                       uint64_t fill_interval_ms, uint64_t now_ms);
proxy_ratelimit_t *proxy_ratelimit_retain(proxy_ratelimit_t *rl);
void proxy_ratelimit_release(proxy_ratelimit_t *rl); /* NULL is a no-op */

/* Takes |n| tokens at |now_ms| (a monotonic clock; going backwards adds nothing).
 * Returns: true when granted; false when the bucket has fewer than |n| tokens (nothing taken),
 * with |*retry_after_ms| (may be NULL) set to the time until enough tokens will be there (0 when
 * |n| exceeds max_tokens: it never will). */
bool proxy_ratelimit_take(proxy_ratelimit_t *rl, uint64_t n, uint64_t now_ms,
                          uint64_t *retry_after_ms);
/* Returns: the tokens available at |now_ms| (applies due fills). */
uint64_t proxy_ratelimit_available(proxy_ratelimit_t *rl, uint64_t now_ms);
uint64_t proxy_ratelimit_max(const proxy_ratelimit_t *rl);

#ifdef __cplusplus
}
#endif
#endif /* PROXY_RATELIMIT_H */
