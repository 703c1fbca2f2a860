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
#include <stdlib.h>
#include <string.h>
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

/* A child process on the loop (curl, nghttp, h2load, python peers): its stdout captured, stdin a
 * pipe the test closes (tn_proc_close_stdin), stderr the test's. */
typedef struct tn_proc {
    uv_process_t p;
    uv_pipe_t out, in;
    char *buf; /* stdout so far, NUL-terminated, NUL bytes shown as '.' (binary gRPC prefixes
                * must not cut the text); owned, freed by tn_proc_dispose */
    size_t len, cap;
    bool exited, eof, in_closed;
    int64_t status;
    int signal;
} tn_proc_t;

/* A libuv read buffer at the end of the growing text buffer (*buf, len, *cap): at least 64 KiB
 * of room, and one byte more kept for the NUL the reader writes after the bytes. */
static inline uv_buf_t tn_text_room(char **buf, size_t len, size_t *cap)
{
    if (*cap - len < 65536) {
        *cap = *cap * 2 + 65536;
        *buf = realloc(*buf, *cap + 1);
        assert_non_null(*buf);
    }
    return uv_buf_init(*buf + len, (unsigned)(*cap - len));
}

static inline void tn_proc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    tn_proc_t *pr = h->data;
    *b = tn_text_room(&pr->buf, pr->len, &pr->cap);
}

static inline void tn_proc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    tn_proc_t *pr = s->data;
    if (n > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (pr->buf[pr->len + (size_t)i] == '\0')
                pr->buf[pr->len + (size_t)i] = '.';
        pr->len += (size_t)n;
        pr->buf[pr->len] = '\0';
    } else if (n < 0) {
        pr->eof = true;
        uv_close((uv_handle_t *)s, NULL);
    }
}

static inline void tn_proc_exit(uv_process_t *p, int64_t status, int sig)
{
    tn_proc_t *pr = p->data;
    pr->exited = true;
    pr->status = status;
    pr->signal = sig;
    uv_close((uv_handle_t *)p, NULL);
}

/* Starts argv[0] (argv NULL-terminated) on |loop|. Keeps: pr until it is done and disposed. */
static inline void tn_proc_start(uv_loop_t *loop, tn_proc_t *pr, char **argv)
{
    memset(pr, 0, sizeof *pr);
    pr->buf = calloc(1, 1);
    assert_non_null(pr->buf);
    uv_pipe_init(loop, &pr->out, 0);
    uv_pipe_init(loop, &pr->in, 0);
    pr->out.data = pr->in.data = pr->p.data = pr;
    uv_stdio_container_t io[3];
    io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    io[0].data.stream = (uv_stream_t *)&pr->in;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&pr->out;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = 2;
    uv_process_options_t o = {
        .file = argv[0], .args = argv, .exit_cb = tn_proc_exit, .stdio = io, .stdio_count = 3};
    int rv = uv_spawn(loop, &pr->p, &o);
    if (rv != 0)
        fail_msg("cannot start %s: %s", argv[0], uv_strerror(rv));
    uv_read_start((uv_stream_t *)&pr->out, tn_proc_alloc, tn_proc_read);
}

static inline void tn_proc_close_stdin(tn_proc_t *pr)
{
    if (!pr->in_closed) {
        pr->in_closed = true;
        uv_close((uv_handle_t *)&pr->in, NULL);
    }
}

/* It has exited and its output is all read. */
static inline bool tn_proc_done(const tn_proc_t *pr)
{
    return pr->exited && pr->eof;
}

/* The exit status of a finished |pr| (minus the signal when a signal ended it); prints the
 * output when it is not 0. */
static inline int64_t tn_proc_result(const tn_proc_t *pr, const char *name)
{
    if (pr->status != 0 || pr->signal)
        print_message("--- %s exited %ld (signal %d); output:\n%s\n", name, (long)pr->status,
                      pr->signal, pr->buf);
    return pr->signal ? -pr->signal : pr->status;
}

/* Runs argv to completion (stdin closed at once, at most |turns| loop turns; |*expired| is the
 * watchdog's flag). Returns tn_proc_result; the output is in pr->buf (tn_proc_dispose). */
static inline int64_t tn_proc_run(uv_loop_t *loop, const bool *expired, long turns, tn_proc_t *pr,
                                  char **argv)
{
    tn_proc_start(loop, pr, argv);
    tn_proc_close_stdin(pr);
    TN_RUN_UNTIL(loop, *expired, turns, tn_proc_done(pr));
    return tn_proc_result(pr, argv[0]);
}

/* Asserts that the output of |pr| contains |needle|; shows the output when it does not. */
static inline void tn_proc_expect(const tn_proc_t *pr, const char *needle)
{
    if (!strstr(pr->buf, needle))
        fail_msg("expected \"%s\" in the output of the child:\n%s", needle, pr->buf);
}

static inline void tn_proc_dispose(tn_proc_t *pr)
{
    free(pr->buf);
    pr->buf = NULL;
}

#endif
