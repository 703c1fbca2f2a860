/*
 * Busy polling: after socket input, the loop keeps polling without sleeping for a short window
 * before it blocks in the kernel again.
 *
 * A proxy that drains its sockets faster than its peers fill them sleeps between bursts, and
 * every sleep costs a wake-up: the peer that writes pays for it in the network softirq, and in a
 * virtual machine an idle vCPU halts until the hypervisor runs it again (tens to hundreds of
 * microseconds, which lands in the tail latency). Polling for up to |window_us| after the last
 * input keeps the loop awake across the gaps of a busy stream, while an idle loop still sleeps.
 * The price is CPU: under steady load the loop's thread stays at 100% of a core. HAProxy's
 * `busy-polling` makes the same trade without a window. Off unless a caller starts it.
 *
 * Input means a read of a net/ connection on the calling thread (net/conn.c counts them).
 *
 * Threading: everything on the loop's thread.
 */
#ifndef NET_BUSY_POLL_H
#define NET_BUSY_POLL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest window accepted: a longer spin is a busy loop, not a bridge between bursts. */
#define NET_BUSY_POLL_MAX_US 100000u

typedef struct net_busy_poll net_busy_poll_t;

typedef struct net_busy_poll_stats {
    uint64_t windows; /* times a window opened (input after the loop had stopped spinning) */
    uint64_t spins;   /* loop turns polled without sleeping (in a window) */
} net_busy_poll_stats_t;

/* Starts busy polling on |loop| with a window of |window_us| (1 .. NET_BUSY_POLL_MAX_US). Its
 * handles are unreferenced: they never keep the loop alive.
 * Returns: owned by caller (net_busy_poll_stop), or NULL with *err NET_EINVAL (window out of
 * range) or NET_ENOMEM. */
net_busy_poll_t *net_busy_poll_start(uv_loop_t *loop, uint32_t window_us, int *err);

/* Stops: the next poll may block again. Takes |bp| (freed once its handles have closed, which
 * needs one more turn of the loop). NULL is a no-op. */
void net_busy_poll_stop(net_busy_poll_t *bp);

/* True while a window is open (the loop polls without sleeping). */
bool net_busy_poll_spinning(const net_busy_poll_t *bp);

void net_busy_poll_stats(const net_busy_poll_t *bp, net_busy_poll_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
