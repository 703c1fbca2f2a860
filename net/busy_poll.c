/*
 * Busy polling (net/busy_poll.h). libuv polls with a zero timeout while any idle handle is
 * active, so the whole mechanism is one uv_check handle, which runs after every poll, and one
 * uv_idle handle it starts and stops:
 *
 *   input since the last check   → note the time; start the idle handle (window open)
 *   no input for window_us       → stop the idle handle (the next poll may block)
 *
 * INVARIANT: the idle handle is active exactly while spinning is true.
 */
#include "conn_internal.h"
#include "net/busy_poll.h"
#include "net/net.h"

#include <assert.h>
#include <stdlib.h>

struct net_busy_poll {
    uv_check_t check;
    uv_idle_t idle;
    uint64_t window_ns;
    uint64_t seen;    /* net__conn_reads at the last check */
    uint64_t last_ns; /* uv_hrtime() of the last check that saw input */
    bool spinning;
    int open_handles; /* closed on stop; freed at 0 */
    net_busy_poll_stats_t st;
};

static void on_idle(uv_idle_t *h)
{
    (void)h; /* its being active is the point: libuv then polls without a timeout */
}

static void on_check(uv_check_t *h)
{
    net_busy_poll_t *bp = h->data;
    uint64_t reads = net__conn_reads;
    if (reads != bp->seen) {
        bp->seen = reads;
        bp->last_ns = uv_hrtime();
        if (!bp->spinning) {
            uv_idle_start(&bp->idle, on_idle);
            bp->spinning = true;
            bp->st.windows++;
        }
        bp->st.spins++;
        return;
    }
    if (!bp->spinning)
        return;
    if (uv_hrtime() - bp->last_ns >= bp->window_ns) {
        uv_idle_stop(&bp->idle);
        bp->spinning = false;
    } else {
        bp->st.spins++;
    }
    assert(bp->spinning == (uv_is_active((uv_handle_t *)&bp->idle) != 0));
}

net_busy_poll_t *net_busy_poll_start(uv_loop_t *loop, uint32_t window_us, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (!loop || window_us == 0 || window_us > NET_BUSY_POLL_MAX_US) {
        *err = NET_EINVAL;
        return NULL;
    }
    net_busy_poll_t *bp = calloc(1, sizeof *bp);
    if (!bp) {
        *err = NET_ENOMEM;
        return NULL;
    }
    bp->window_ns = (uint64_t)window_us * 1000u;
    bp->seen = net__conn_reads;
    uv_check_init(loop, &bp->check);
    uv_idle_init(loop, &bp->idle);
    bp->check.data = bp->idle.data = bp;
    bp->open_handles = 2;
    uv_check_start(&bp->check, on_check);
    uv_unref((uv_handle_t *)&bp->check);
    uv_unref((uv_handle_t *)&bp->idle);
    *err = NET_OK;
    return bp;
}

static void on_closed(uv_handle_t *h)
{
    net_busy_poll_t *bp = h->data;
    if (--bp->open_handles == 0)
        free(bp);
}

void net_busy_poll_stop(net_busy_poll_t *bp)
{
    if (!bp)
        return;
    bp->spinning = false;
    uv_close((uv_handle_t *)&bp->check, on_closed);
    uv_close((uv_handle_t *)&bp->idle, on_closed);
}

bool net_busy_poll_spinning(const net_busy_poll_t *bp)
{
    return bp && bp->spinning;
}

void net_busy_poll_stats(const net_busy_poll_t *bp, net_busy_poll_stats_t *out)
{
    *out = bp ? bp->st : (net_busy_poll_stats_t){0};
}
