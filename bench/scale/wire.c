/*
 * The wire part of `krtgate bench` (see wire.h): xds store + gRPC server on 127.0.0.1 in this
 * process, one xds client per Gateway in a child process, the two talking over a socketpair.
 *
 * Key decision: the clients live in another process so that the controller's resident set
 * (getrusage / /proc/self/statm of this process) is the controller's alone while it serves the
 * proxies: the xDS store, the sessions, nghttp2 and the socket buffers count; the clients' copies
 * of every resource do not. In one process, 50 clients holding the agw-5k view add ~160 MiB that
 * no controller carries. The child is forked after the cold start, runs its own libuv loop, and
 * reports with CLOCK_MONOTONIC timestamps (one clock for both processes).
 *
 * The control channel is lines of text, parent → child:
 *   E <type> <scope> <del> <version> <name>   an expectation of the next wait
 *   W                                         wait until every expectation is met
 *   S <count>...                              wait until every client holds exactly its view
 *                                             ((ngw + 1) counts per type: unscoped, then per
 *                                             Gateway)
 *   Q <count>...                              the same check, answered at once
 * and child → parent: `D <ns>` (done, the monotonic time it was first seen), `Y` / `N` (the
 * answer to Q), `F <why>` (timeout or NACK). The parent keeps serving (runs its loop) while it
 * waits for the answer. EOF on the channel ends the child.
 *
 * Expectations are checked with a cursor: within one change a name has one target version, and a
 * client that reached it keeps it until the next change, so a met expectation stays met and each
 * (expectation, client) pair is checked until it first holds, then never again. That keeps the
 * wait linear in what changed, not in what the clients hold.
 * State-of-the-world comparison: for every client and every type the change touched in its view,
 * SotW would resend the whole view of that type; the bytes are the sum of the resources' wire
 * encodings (ir_obj_wire), kept per (type, scope) from the same events.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "wire.h"

#include "ir/ir.h"
#include "xds/client.h"
#include "xds/server.h"
#include "xds/store.h"

#define WIRE_TIMEOUT_MS 120000
#define LINE_MAX_BYTES  4096

/* ---------------------------------------------------------------------------------------------
 * Shared helpers
 * ------------------------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A growable byte buffer for the channel. */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static int buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Appends one formatted line part (under LINE_MAX_BYTES). Returns 0 or -1. */
static int buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    char tmp[LINE_MAX_BYTES];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -1;
    return buf_add(b, tmp, (size_t)n);
}

static int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Writes all of |p| to the socket |fd| (non-blocking: libuv made it so), waiting for room.
 * Returns 0, or -1 when the other process is gone (no SIGPIPE). */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, WIRE_TIMEOUT_MS) <= 0)
                return -1;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The child: the clients
 * ------------------------------------------------------------------------------------------- */

typedef struct expect {
    xds_type_t type;
    size_t scope; /* 0: unscoped; 1 + g: Gateway g */
    char *name;
    char version[24];
    bool del;
} expect_t;

typedef struct proxy {
    xds_client_t *c;
    size_t gw;
} proxy_t;

typedef struct clients {
    uv_loop_t loop;
    uv_timer_t watchdog;
    uv_pipe_t chan;
    int fd;
    bool expired, eof;
    proxy_t *px;
    size_t npx, ngw;
    expect_t *ex;
    size_t nex, cap, cursor, pcursor;
    size_t *want; /* XDS_TYPE_COUNT * (ngw + 1) view counts of the pending S / Q */
    buf_t in;     /* channel bytes not yet parsed */
    int waiting;  /* 'W' or 'S' while a wait runs, else 0 */
    int closing;
} clients_t;

static bool clients_met(clients_t *cl)
{
    for (; cl->cursor < cl->nex; cl->cursor++, cl->pcursor = 0) {
        const expect_t *e = &cl->ex[cl->cursor];
        for (; cl->pcursor < cl->npx; cl->pcursor++) {
            const proxy_t *p = &cl->px[cl->pcursor];
            if (e->scope != 0 && e->scope != 1 + p->gw)
                continue;
            const char *v = xds_client_held_version(p->c, e->type, e->name);
            bool ok = e->del ? v == NULL : (v && strcmp(v, e->version) == 0);
            if (!ok)
                return false;
        }
    }
    return true;
}

static bool clients_in_sync(const clients_t *cl)
{
    for (size_t i = 0; i < cl->npx; i++)
        for (int t = 0; t < XDS_TYPE_COUNT; t++) {
            const size_t *w = cl->want + (size_t)t * (cl->ngw + 1);
            if (xds_client_held(cl->px[i].c, (xds_type_t)t) != w[0] + w[1 + cl->px[i].gw])
                return false;
        }
    return true;
}

static uint64_t clients_nacks(const clients_t *cl)
{
    uint64_t n = 0;
    for (size_t i = 0; i < cl->npx; i++) {
        xds_client_stats_t st;
        xds_client_stats(cl->px[i].c, &st);
        n += st.nacks;
    }
    return n;
}

static void clients_reply(clients_t *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void clients_reply(clients_t *cl, const char *fmt, ...)
{
    buf_t line = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&line, fmt, ap);
    va_end(ap);
    if (rc != 0 || buf_add(&line, "\n", 1) != 0 || write_all(cl->fd, line.p, line.len) != 0)
        cl->eof = true; /* the parent is gone (or this process is out of memory) */
    free(line.p);
}

static void clients_watchdog_cb(uv_timer_t *t)
{
    ((clients_t *)t->data)->expired = true;
}

/* Parses "S|Q <count>..." into cl->want. Returns 0 or -1. */
static int parse_counts(clients_t *cl, const char *p)
{
    size_t n = XDS_TYPE_COUNT * (cl->ngw + 1);
    for (size_t i = 0; i < n; i++) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno)
            return -1;
        cl->want[i] = (size_t)v;
        p = end;
    }
    return 0;
}

static void clients_command(clients_t *cl, char *line)
{
    switch (line[0]) {
    case 'E': {
        unsigned t, del;
        size_t scope;
        char ver[24];
        int off = 0;
        if (sscanf(line, "E %u %zu %u %23s %n", &t, &scope, &del, ver, &off) != 4 || !off ||
            t >= XDS_TYPE_COUNT) {
            clients_reply(cl, "F bad expectation line: %.200s", line);
            return;
        }
        if (cl->nex == cl->cap) {
            size_t cap = cl->cap ? cl->cap * 2 : 64;
            expect_t *n = realloc(cl->ex, cap * sizeof(*n));
            if (!n) {
                clients_reply(cl, "F out of memory");
                return;
            }
            cl->ex = n;
            cl->cap = cap;
        }
        expect_t *e = &cl->ex[cl->nex];
        e->type = (xds_type_t)t;
        e->scope = scope;
        e->del = del != 0;
        snprintf(e->version, sizeof(e->version), "%s", ver);
        if (!(e->name = strdup(line + off))) {
            clients_reply(cl, "F out of memory");
            return;
        }
        cl->nex++;
        return;
    }
    case 'W':
        cl->waiting = 'W';
        break;
    case 'S':
    case 'Q':
        if (parse_counts(cl, line + 1) != 0) {
            clients_reply(cl, "F bad count line");
            return;
        }
        if (line[0] == 'Q') {
            clients_reply(cl, "%c", clients_in_sync(cl) ? 'Y' : 'N');
            return;
        }
        cl->waiting = 'S';
        break;
    default:
        clients_reply(cl, "F unknown command %.40s", line);
        return;
    }
    cl->expired = false;
    uv_timer_start(&cl->watchdog, clients_watchdog_cb, WIRE_TIMEOUT_MS, 0);
}

static void clients_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    static char chunk[65536];
    (void)suggested;
    b->base = chunk;
    b->len = sizeof(chunk);
}

static void clients_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    clients_t *cl = s->data;
    if (n < 0) {
        cl->eof = true;
        return;
    }
    if (n > 0 && buf_add(&cl->in, b->base, (size_t)n) != 0) {
        clients_reply(cl, "F out of memory");
        cl->eof = true;
    }
}

/* Runs every complete line buffered, unless a wait is in progress. */
static void clients_drain(clients_t *cl)
{
    size_t off = 0;
    while (!cl->waiting && !cl->eof && off < cl->in.len) {
        char *nl = memchr(cl->in.p + off, '\n', cl->in.len - off);
        if (!nl)
            break;
        *nl = '\0';
        clients_command(cl, cl->in.p + off);
        off = (size_t)(nl - cl->in.p) + 1;
    }
    if (off) {
        memmove(cl->in.p, cl->in.p + off, cl->in.len - off);
        cl->in.len -= off;
    }
}

/* Finishes a wait when its condition holds, or fails it. */
static void clients_step(clients_t *cl)
{
    if (!cl->waiting)
        return;
    bool done = cl->waiting == 'W' ? clients_met(cl) : clients_in_sync(cl);
    if (done) {
        uint64_t t = now_ns();
        uv_timer_stop(&cl->watchdog);
        if (cl->waiting == 'W') {
            for (size_t i = 0; i < cl->nex; i++)
                free(cl->ex[i].name);
            cl->nex = cl->cursor = cl->pcursor = 0;
        }
        cl->waiting = 0;
        clients_reply(cl, "D %llu", (unsigned long long)t);
    } else if (clients_nacks(cl)) {
        cl->waiting = 0;
        clients_reply(cl, "F a client rejected a response (NACK)");
    } else if (cl->expired) {
        cl->waiting = 0;
        clients_reply(cl, "F timed out after %d ms", WIRE_TIMEOUT_MS);
    }
}

static int on_update(xds_client_t *c, const xds_update_t *u, char *reason, size_t cap, void *ud)
{
    (void)c;
    (void)u;
    (void)reason;
    (void)cap;
    (void)ud;
    return 0;
}

static void clients_on_closed(void *ud)
{
    ((clients_t *)ud)->closing--;
}

/* The child's whole life. Never returns. */
static void clients_main(int fd, uint16_t port, char **gws, size_t ngw, size_t proxies)
{
    clients_t cl = {.fd = fd, .ngw = ngw};
    int rc = 1;
    cl.want = calloc(XDS_TYPE_COUNT * (ngw + 1), sizeof(size_t));
    cl.px = calloc(proxies ? proxies : 1, sizeof(proxy_t));
    if (!cl.want || !cl.px || uv_loop_init(&cl.loop) != 0) {
        clients_reply(&cl, "F out of memory");
        _exit(1);
    }
    uv_timer_init(&cl.loop, &cl.watchdog);
    cl.watchdog.data = &cl;
    uv_unref((uv_handle_t *)&cl.watchdog);
    uv_pipe_init(&cl.loop, &cl.chan, 0);
    cl.chan.data = &cl;
    if (uv_pipe_open(&cl.chan, fd) != 0 ||
        uv_read_start((uv_stream_t *)&cl.chan, clients_alloc, clients_on_read) != 0) {
        clients_reply(&cl, "F cannot read the control channel");
        _exit(1);
    }
    for (size_t i = 0; i < proxies; i++) {
        proxy_t *p = &cl.px[i];
        p->gw = i % ngw;
        char role[256], id[64];
        if (xds_gateway_to_role(gws[p->gw], role, sizeof(role)) != XDS_OK) {
            clients_reply(&cl, "F bad gateway name %s", gws[p->gw]);
            goto out;
        }
        snprintf(id, sizeof(id), "bench-proxy-%zu", i);
        xds_client_config_t cc;
        xds_client_config_default(&cc);
        cc.host = "127.0.0.1";
        cc.port = port;
        cc.node_id = id;
        cc.role = role;
        cc.on_update = on_update;
        cc.max_response_bytes = 256u * 1024u * 1024u;
        int err = 0;
        p->c = xds_client_new(&cl.loop, &cc, &err);
        if (!p->c) {
            clients_reply(&cl, "F client %zu: %s", i, xds_strerror(err));
            goto out;
        }
        cl.npx++;
    }
    while (!cl.eof) {
        clients_drain(&cl);
        clients_step(&cl);
        if (cl.eof)
            break;
        uv_run(&cl.loop, UV_RUN_ONCE);
    }
    rc = 0;
out:
    for (size_t i = 0; i < cl.npx; i++) {
        cl.closing++;
        xds_client_close(cl.px[i].c, clients_on_closed, &cl);
    }
    for (long i = 0; i < 100000 && cl.closing > 0; i++)
        uv_run(&cl.loop, UV_RUN_NOWAIT);
    _exit(rc); /* the parent's heap was copied into this process: nothing of it is freed here */
}

/* ---------------------------------------------------------------------------------------------
 * The parent: store, server, channel
 * ------------------------------------------------------------------------------------------- */

struct bs_wire {
    uv_loop_t loop;
    uv_timer_t watchdog;
    uv_poll_t chan_poll;
    bool expired;
    bool loop_ready, poll_ready;
    xds_store_t *store;
    xds_server_t *server;
    size_t npx;
    char **gws;
    size_t ngw;
    int fd;    /* our end of the channel, -1 when none */
    pid_t pid; /* the clients' process, 0 when none */
    buf_t out; /* expectations of the next wait */
    size_t nex;
    buf_t in;                         /* the child's answer being read */
    bool answered;                    /* a full line is in |in| */
    uint64_t *bytes[XDS_TYPE_COUNT];  /* per scope */
    uint64_t *counts[XDS_TYPE_COUNT]; /* per scope */
    bool *touched[XDS_TYPE_COUNT];    /* per scope, this change */
    uint64_t sotw_bytes, sotw_resources;
    int closing;
};

bool bs_wire_available(void)
{
    return true;
}

static size_t scope_of(const bs_wire_t *w, const char *gateway)
{
    if (!gateway)
        return 0;
    for (size_t i = 0; i < w->ngw; i++)
        if (strcmp(w->gws[i], gateway) == 0)
            return 1 + i;
    return 0; /* a Gateway without a proxy slot: counted with the unscoped (never happens here) */
}

static void account(bs_wire_t *w, const krt_obj_t *ko, int sign)
{
    const ir_obj_t *o = ir_obj_from_krt(ko);
    if (!o)
        return;
    xds_type_t t = xds_type_of_kind(ir_obj_kind(o));
    size_t s = scope_of(w, ir_obj_gateway(o)), len = 0;
    ir_obj_wire(o, &len);
    if (sign > 0) {
        w->bytes[t][s] += len;
        w->counts[t][s]++;
    } else {
        w->bytes[t][s] -= len;
        w->counts[t][s]--;
    }
    w->touched[t][s] = true;
}

void bs_wire_expect(bs_wire_t *w, const krt_batch_t *batch)
{
    for (size_t i = 0; w && i < batch->len; i++) {
        const krt_event_t *ev = &batch->events[i];
        if (ev->old)
            account(w, ev->old, -1);
        if (ev->cur)
            account(w, ev->cur, +1);
        const ir_obj_t *o = ir_obj_from_krt(krt_event_latest(ev));
        if (!o)
            continue;
        /* OOM or an overlong name: the wait is then shorter than it should be; the final sync
         * check still catches a missing delivery */
        if (buf_printf(&w->out, "E %d %zu %d %s %s\n", (int)xds_type_of_kind(ir_obj_kind(o)),
                       scope_of(w, ir_obj_gateway(o)), ev->cur == NULL, ir_obj_version(o),
                       ir_obj_name(o)) == 0)
            w->nex++;
    }
}

static void watchdog_cb(uv_timer_t *t)
{
    ((bs_wire_t *)t->data)->expired = true;
}

static void chan_poll_cb(uv_poll_t *h, int status, int events)
{
    bs_wire_t *w = h->data;
    (void)events;
    char tmp[LINE_MAX_BYTES];
    ssize_t n = status < 0 ? -1 : read(w->fd, tmp, sizeof(tmp));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        buf_add(&w->in, "F the clients' process ended\n", 29);
        uv_poll_stop(h);
    } else {
        buf_add(&w->in, tmp, (size_t)n);
    }
    w->answered = w->in.len && memchr(w->in.p, '\n', w->in.len) != NULL;
}

/* Sends |cmd| (plus pending expectations for 'W'), serves until the child answers, and puts the
 * answer line into |ans|. Returns 0 (D or Y/N) or -1 after printing why. */
static int ask(bs_wire_t *w, const buf_t *cmd, char *ans, size_t cap, const char *what)
{
    if (w->fd < 0)
        return -1;
    if (write_all(w->fd, cmd->p, cmd->len) != 0) {
        fprintf(stderr, "krtgate-bench: xds: the clients' process is gone (%s)\n", what);
        return -1;
    }
    w->expired = false;
    uv_timer_start(&w->watchdog, watchdog_cb, WIRE_TIMEOUT_MS + 5000, 0);
    while (!w->answered && !w->expired)
        uv_run(&w->loop, UV_RUN_ONCE);
    uv_timer_stop(&w->watchdog);
    if (!w->answered) {
        fprintf(stderr, "krtgate-bench: xds: no answer from the clients' process for %s\n", what);
        return -1;
    }
    char *nl = memchr(w->in.p, '\n', w->in.len);
    size_t n = (size_t)(nl - w->in.p);
    snprintf(ans, cap, "%.*s", (int)n, w->in.p);
    memmove(w->in.p, nl + 1, w->in.len - n - 1);
    w->in.len -= n + 1;
    w->answered = w->in.len && memchr(w->in.p, '\n', w->in.len) != NULL;
    if (ans[0] == 'F') {
        fprintf(stderr, "krtgate-bench: xds: %s while waiting for %s\n", ans + 2, what);
        return -1;
    }
    return 0;
}

static int counts_cmd(const bs_wire_t *w, char c, buf_t *b)
{
    if (buf_printf(b, "%c", c) != 0)
        return -1;
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        if (buf_printf(b, " %zu", xds_store_count(w->store, (xds_type_t)t, NULL)) != 0)
            return -1;
        for (size_t g = 0; g < w->ngw; g++)
            if (buf_printf(b, " %zu", xds_store_count(w->store, (xds_type_t)t, w->gws[g])) != 0)
                return -1;
    }
    return buf_add(b, "\n", 1);
}

bool bs_wire_in_sync(bs_wire_t *w)
{
    buf_t cmd = {0};
    char ans[LINE_MAX_BYTES];
    bool ok = counts_cmd(w, 'Q', &cmd) == 0 &&
              ask(w, &cmd, ans, sizeof(ans), "a sync check") == 0 && ans[0] == 'Y';
    free(cmd.p);
    return ok;
}

int bs_wire_wait(bs_wire_t *w, uint64_t *done_ns)
{
    *done_ns = 0;
    int rc = 0;
    if (w->nex && buf_add(&w->out, "W\n", 2) == 0) {
        /* The expectations go first, then the server starts sending: the child knows what to
         * look for before the first byte can reach it. */
        if (write_all(w->fd, w->out.p, w->out.len) != 0) {
            fprintf(stderr, "krtgate-bench: xds: the clients' process is gone\n");
            rc = -1;
        }
    }
    xds_store_commit(w->store);
    for (size_t i = 0; i < w->npx; i++) /* what SotW would resend */
        for (int t = 0; t < XDS_TYPE_COUNT; t++) {
            size_t g = 1 + i % w->ngw;
            if (w->touched[t][0] || w->touched[t][g]) {
                w->sotw_bytes += w->bytes[t][0] + w->bytes[t][g];
                w->sotw_resources += w->counts[t][0] + w->counts[t][g];
            }
        }
    if (w->nex && rc == 0) {
        buf_t none = {.p = "", .len = 0};
        char ans[LINE_MAX_BYTES];
        rc = ask(w, &none, ans, sizeof(ans), "a change to reach every client");
        if (rc == 0)
            *done_ns = strtoull(ans + 2, NULL, 10);
    }
    w->out.len = 0;
    w->nex = 0;
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        memset(w->touched[t], 0, (w->ngw + 1) * sizeof(bool));
    return rc;
}

void bs_wire_stats(const bs_wire_t *w, bs_wire_stats_t *out)
{
    xds_server_stats_t st;
    xds_server_stats(w->server, &st);
    out->bytes_sent += st.bytes_sent;
    out->resources_sent += st.resources_sent;
    out->responses += st.responses;
    out->sotw_bytes += w->sotw_bytes;
    out->sotw_resources += w->sotw_resources;
}

size_t bs_wire_proxies(const bs_wire_t *w)
{
    return w->npx;
}

static bool count_obj(const krt_obj_t *o, void *ud)
{
    account(ud, o, +1);
    return true;
}

bs_wire_t *bs_wire_new(krt_collection_t *const *outs, size_t n, size_t proxies,
                       const char *const *gateways, size_t ngw, uint64_t *initial_ns)
{
    bs_wire_t *w = calloc(1, sizeof(*w));
    if (!w || ngw == 0)
        goto oom;
    w->fd = -1;
    uv_loop_init(&w->loop);
    uv_timer_init(&w->loop, &w->watchdog);
    w->watchdog.data = w;
    uv_unref((uv_handle_t *)&w->watchdog);
    w->loop_ready = true;
    w->ngw = ngw;
    w->gws = calloc(ngw, sizeof(char *));
    if (!w->gws)
        goto oom;
    for (size_t i = 0; i < ngw; i++)
        if (!(w->gws[i] = strdup(gateways[i])))
            goto oom;
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        w->bytes[t] = calloc(ngw + 1, sizeof(uint64_t));
        w->counts[t] = calloc(ngw + 1, sizeof(uint64_t));
        w->touched[t] = calloc(ngw + 1, sizeof(bool));
        if (!w->bytes[t] || !w->counts[t] || !w->touched[t])
            goto oom;
    }
    for (size_t i = 0; i < n; i++)
        krt_collection_foreach(outs[i], count_obj, w);
    for (int t = 0; t < XDS_TYPE_COUNT; t++)
        memset(w->touched[t], 0, (ngw + 1) * sizeof(bool));

    w->store = xds_store_new();
    if (!w->store)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (xds_store_watch(w->store, outs[i]) != XDS_OK) {
            fprintf(stderr, "krtgate-bench: xds: cannot watch %s\n", krt_collection_name(outs[i]));
            goto fail;
        }
    xds_store_commit(w->store);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    xds_server_config_t cfg;
    xds_server_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.max_connections = proxies + 16;
    cfg.max_response_bytes = 64u * 1024u * 1024u; /* the initial push of a large cluster */
    int err = 0;
    w->server = xds_server_new(&w->loop, w->store, &cfg, &err);
    if (!w->server) {
        fprintf(stderr, "krtgate-bench: xds: server on 127.0.0.1: %s\n", xds_strerror(err));
        goto fail;
    }

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        fprintf(stderr, "krtgate-bench: xds: socketpair: %s\n", strerror(errno));
        goto fail;
    }
    uint64_t t0 = now_ns();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "krtgate-bench: xds: fork: %s\n", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        goto fail;
    }
    if (pid == 0) {
        close(sv[0]);
        clients_main(sv[1], (uint16_t)xds_server_port(w->server), w->gws, ngw, proxies);
    }
    close(sv[1]);
    w->fd = sv[0];
    w->pid = pid;
    w->npx = proxies;
    uv_poll_init(&w->loop, &w->chan_poll, w->fd);
    w->chan_poll.data = w;
    w->poll_ready = true;
    uv_poll_start(&w->chan_poll, UV_READABLE, chan_poll_cb);

    buf_t cmd = {0};
    char ans[LINE_MAX_BYTES];
    int rc = counts_cmd(w, 'S', &cmd);
    if (rc == 0)
        rc = ask(w, &cmd, ans, sizeof(ans), "the initial push to every client");
    free(cmd.p);
    if (rc != 0)
        goto fail;
    *initial_ns = strtoull(ans + 2, NULL, 10) - t0;
    return w;
oom:
    fprintf(stderr, "krtgate-bench: xds: out of memory\n");
fail:
    bs_wire_free(w);
    return NULL;
}

static void on_closed(void *ud)
{
    ((bs_wire_t *)ud)->closing--;
}

void bs_wire_free(bs_wire_t *w)
{
    if (!w)
        return;
    if (w->poll_ready) {
        uv_poll_stop(&w->chan_poll);
        uv_close((uv_handle_t *)&w->chan_poll, NULL);
    }
    if (w->fd >= 0)
        close(w->fd); /* EOF: the child closes its clients and exits */
    if (w->server) {
        w->closing++;
        xds_server_close(w->server, on_closed, w);
    }
    for (long i = 0; i < 1000000 && w->closing > 0; i++)
        uv_run(&w->loop, UV_RUN_NOWAIT);
    if (w->pid > 0) {
        int st;
        while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    xds_store_free(w->store);
    if (w->loop_ready) {
        uv_close((uv_handle_t *)&w->watchdog, NULL);
        for (long i = 0; i < 100000 && uv_loop_alive(&w->loop); i++)
            uv_run(&w->loop, UV_RUN_NOWAIT);
        uv_loop_close(&w->loop);
    }
    for (size_t i = 0; w->gws && i < w->ngw; i++)
        free(w->gws[i]);
    free(w->gws);
    free(w->out.p);
    free(w->in.p);
    for (int t = 0; t < XDS_TYPE_COUNT; t++) {
        free(w->bytes[t]);
        free(w->counts[t]);
        free(w->touched[t]);
    }
    free(w);
}
