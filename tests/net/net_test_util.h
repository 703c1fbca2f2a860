/*
 * The wait of the net tests: run the loop one turn at a time until a condition holds, bounded
 * twice, by a count of turns and by a watchdog timer. The watchdog is unreferenced, so it never
 * keeps a turn waiting on its own: a test whose loop has nothing left to do spins through its
 * turns and fails instead of sleeping until the watchdog fires.
 */
#ifndef NET_TEST_UTIL_H
#define NET_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

static inline void tn_watchdog_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Starts the watchdog |t| on |loop|: |*expired| becomes true after |ms|. Keeps: t, expired. */
static inline void tn_watchdog_start(uv_loop_t *loop, uv_timer_t *t, bool *expired, uint64_t ms)
{
    uv_timer_init(loop, t);
    t->data = expired;
    uv_timer_start(t, tn_watchdog_cb, ms, 0);
    uv_unref((uv_handle_t *)t);
}

/* Runs |loop| until |cond| holds, |turns| turns at the most; fails the test when |expired| (the
 * watchdog's flag) is set first, or when |cond| still does not hold. */
#define TN_RUN_UNTIL(loop, expired, turns, cond)                             \
    do {                                                                     \
        for (long tn_turn_ = 0; tn_turn_ < (turns) && !(cond); tn_turn_++) { \
            if (expired)                                                     \
                fail_msg("watchdog expired while waiting");                  \
            uv_run((loop), UV_RUN_ONCE);                                     \
        }                                                                    \
        assert_true(cond);                                                   \
    } while (0)

#endif
