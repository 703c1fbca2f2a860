/*
 * A connection: the pump between a libuv TCP handle, an optional sans-IO TLS object and a sans-IO
 * HTTP/2 session. Reads go socket → TLS → h2; output is pulled from h2 (→ TLS) into write requests
 * only while the bytes in flight to the socket are under write_queue_cap. When they are over it,
 * reading stops too, and restarts when the queue has drained to half: backpressure reaches the
 * peer as a full TCP window instead of as memory here.
 *
 * Key decisions:
 *  - Output is scheduled, never produced inside someone else's call: when the session gets output
 *    outside recv/pull (a write from a timer, another connection's event), on_want_write starts a
 *    uv_idle handle and the pull happens on the next loop turn. Re-entering nghttp2 from a user
 *    callback is thereby impossible.
 *  - Teardown is deferred while any callback of the connection is on the stack (depth counter), so
 *    net_conn_close can be called from anywhere; the memory goes after every handle's close
 * callback and every pending request's callback have run (libuv's rule).
 *  - Scratch buffers for reading and for pulling are per thread, not per connection: a thousand
 * idle connections cost no read buffers.
 *  - Raw connections (HTTP/1.1, upgrades) skip the h2 session: decrypted bytes go to the owner's
 *    on_read and net_conn_write queues bytes. A plaintext server with raw callbacks looks at the
 *    first 24 bytes: the HTTP/2 client preface means h2c, anything else (a request line differs
 *    at the first byte) means HTTP/1.1. Ending a raw connection is a lingering close (FIN after
 *    the queued writes, then read and drop until the peer closes): closing at once would make
 *    the kernel answer unread input with a reset that can destroy the last response in flight.
 */
#include "conn_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define IO_CHUNK (64u * 1024u)

static _Thread_local uint8_t read_scratch[IO_CHUNK];
static _Thread_local uint8_t plain_scratch[IO_CHUNK];
static _Thread_local uint8_t out_scratch[IO_CHUNK];

typedef struct wreq {
    uv_write_t req;
    net_conn_t *c;
    size_t len;
    uint8_t data[];
} wreq_t;

void net_conn_config_default(net_conn_config_t *c, bool server)
{
    memset(c, 0, sizeof *c);
    net_h2_config_default(&c->h2);
    c->write_queue_cap = 256u * 1024u;
    c->handshake_timeout_ms = 10000;
    c->idle_timeout_ms = server ? 300000 : 0;
    c->keepalive_ms = 0;
    c->keepalive_timeout_ms = 20000;
    c->shutdown_timeout_ms = 30000;
}

static void flush(net_conn_t *c);
static void schedule_flush(net_conn_t *c);
static void teardown(net_conn_t *c);

/* ------------------------------------------------------------------------------------------- */
/* Entry/exit of every callback: teardown waits until the outermost one returns. */

void net__conn_enter(net_conn_t *c)
{
    c->depth++;
}

void net__conn_leave(net_conn_t *c)
{
    if (--c->depth == 0 && c->close_requested && !c->closing)
        teardown(c);
}

void net__conn_abort(net_conn_t *c, int reason)
{
    if (!c->close_requested) {
        c->close_requested = true;
        c->close_reason = reason;
    }
    if (c->depth == 0 && !c->closing)
        teardown(c);
}

/* ------------------------------------------------------------------------------------------- */
/* Session callback trampolines: the session's user data is the connection; the user's callbacks
 * get the user's data. */

static void t_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    net_conn_t *c = ud;
    if (c->ucb.on_headers)
        c->ucb.on_headers(s, st, kind, h, n, c->uud);
}

static void t_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *d, size_t len, void *ud)
{
    net_conn_t *c = ud;
    if (c->ucb.on_data)
        c->ucb.on_data(s, st, d, len, c->uud);
}

static void t_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    net_conn_t *c = ud;
    if (c->ucb.on_end)
        c->ucb.on_end(s, st, c->uud);
}

static void t_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    net_conn_t *c = ud;
    c->last_active = uv_now(c->loop);
    if (c->ucb.on_close)
        c->ucb.on_close(s, st, code, c->uud);
}

static void t_writable(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    net_conn_t *c = ud;
    if (c->ucb.on_writable)
        c->ucb.on_writable(s, st, c->uud);
}

static void t_goaway(net_h2_session_t *s, uint32_t last, uint32_t code, void *ud)
{
    net_conn_t *c = ud;
    if (code != 0)
        net__log(NET_LOG_INFO, "conn %s: peer sent GOAWAY with error %u", c->peer, code);
    if (c->ucb.on_goaway)
        c->ucb.on_goaway(s, last, code, c->uud);
}

static void ka_timer_cb(uv_timer_t *t);

static void t_ping_ack(net_h2_session_t *s, void *ud)
{
    net_conn_t *c = ud;
    if (c->ka_waiting) {
        c->ka_waiting = false;
        uv_timer_start(&c->ka_timer, ka_timer_cb, c->cfg.keepalive_ms, 0);
    }
    if (c->ucb.on_ping_ack)
        c->ucb.on_ping_ack(s, c->uud);
}

static void t_want_write(net_h2_session_t *s, void *ud)
{
    (void)s;
    schedule_flush(ud);
}

static const net_h2_callbacks_t trampolines = {t_headers,  t_data,   t_end,      t_close,
                                               t_writable, t_goaway, t_ping_ack, t_want_write};

/* ------------------------------------------------------------------------------------------- */
/* Timers */

static void timer_cb(uv_timer_t *t)
{
    net_conn_t *c = t->data;
    net__conn_enter(c);
    uint64_t now = uv_now(c->loop);
    if (c->draining) {
        net__log(NET_LOG_INFO, "conn %s: graceful close took over %llu ms: closing", c->peer,
                 (unsigned long long)c->cfg.shutdown_timeout_ms);
        net__conn_abort(c, NET_ETIMEDOUT);
    } else if (c->state != CONN_OPEN) {
        net__log(NET_LOG_INFO, "conn %s: %s took over %llu ms: closing", c->peer,
                 c->state == CONN_CONNECTING ? "connect"
                 : c->sniffing               ? "waiting for the first bytes"
                                             : "TLS handshake",
                 (unsigned long long)c->cfg.handshake_timeout_ms);
        if (c->server)
            c->server->counters.handshake_timeouts++;
        net__conn_abort(c, NET_ETIMEDOUT);
    } else if (c->h2 && c->cfg.idle_timeout_ms) {
        uint64_t idle_for = now - c->last_active;
        if (net_h2_session_streams(c->h2) == 0 && idle_for >= c->cfg.idle_timeout_ms) {
            net__log(NET_LOG_DEBUG, "conn %s: idle: closing gracefully", c->peer);
            if (c->server)
                c->server->counters.idle_closed++;
            net_conn_close(c, true);
        } else {
            uint64_t wait = c->cfg.idle_timeout_ms;
            if (net_h2_session_streams(c->h2) == 0 && idle_for < wait)
                wait -= idle_for;
            uv_timer_start(&c->timer, timer_cb, wait, 0);
        }
    }
    net__conn_leave(c);
}

static void ka_timer_cb(uv_timer_t *t)
{
    net_conn_t *c = t->data;
    if (!c->h2 || c->closing)
        return;
    net__conn_enter(c);
    if (c->ka_waiting) {
        net__log(NET_LOG_INFO, "conn %s: no PING ACK within %llu ms: closing", c->peer,
                 (unsigned long long)c->cfg.keepalive_timeout_ms);
        if (c->server)
            c->server->counters.keepalive_timeouts++;
        net__conn_abort(c, NET_ETIMEDOUT);
    } else if (net_h2_session_ping(c->h2) == NET_OK) {
        c->ka_waiting = true;
        uv_timer_start(&c->ka_timer, ka_timer_cb, c->cfg.keepalive_timeout_ms, 0);
        flush(c);
    }
    net__conn_leave(c);
}

/* max_lifetime_ms: a graceful close, like a server shutting down (the owner of a raw connection
 * finishes its exchange first). */
static void life_timer_cb(uv_timer_t *t)
{
    net_conn_t *c = t->data;
    if (c->closing || c->close_requested || c->draining || c->ending)
        return;
    net__conn_enter(c);
    net__log(NET_LOG_DEBUG, "conn %s: open for %llu ms: closing gracefully", c->peer,
             (unsigned long long)c->cfg.max_lifetime_ms);
    if (c->server)
        c->server->counters.lifetime_closed++;
    net_conn_close(c, true);
    net__conn_leave(c);
}

/* ------------------------------------------------------------------------------------------- */
/* Output */

static void idle_cb(uv_idle_t *h)
{
    net_conn_t *c = h->data;
    uv_idle_stop(h);
    c->flush_scheduled = false;
    net__conn_enter(c);
    flush(c);
    net__conn_leave(c);
}

static void schedule_flush(net_conn_t *c)
{
    if (c->flush_scheduled || c->closing)
        return;
    c->flush_scheduled = true;
    uv_idle_start(&c->flush_idle, idle_cb);
}

static void maybe_resume_reading(net_conn_t *c);

static void write_cb(uv_write_t *req, int status)
{
    wreq_t *w = req->data;
    net_conn_t *c = w->c;
    c->wq_bytes -= w->len;
    c->reqs_pending--;
    free(w);
    net__conn_enter(c);
    if (status < 0) {
        if (status != UV_ECANCELED)
            net__log(NET_LOG_DEBUG, "conn %s: write failed: %s", c->peer, uv_strerror(status));
        net__conn_abort(c, NET_EIO);
    } else {
        flush(c);
        maybe_resume_reading(c);
        if (c->raw && c->want_drain && c->wq_bytes <= c->cfg.write_queue_cap / 2 &&
            !c->close_requested && !c->closing) {
            c->want_drain = false;
            if (c->rcb.on_drain)
                c->rcb.on_drain(c, c->rud);
        }
    }
    net__conn_leave(c);
}

/* Hands |len| bytes to the socket (copied). Returns NET_OK or closes the connection. */
static int send_bytes(net_conn_t *c, const uint8_t *data, size_t len)
{
    /* Nothing queued: write straight away. uv_try_write neither copies nor allocates, and
     * unlike uv_write it leaves the poll watcher alone (a completed uv_write costs an
     * epoll_ctl MOD when libuv stops watching for POLLOUT). What the socket does not take
     * goes through the queue below. */
    if (c->wq_bytes == 0) {
        uv_buf_t direct = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &direct, 1);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            if (len == 0)
                return NET_OK;
        } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            net__log(NET_LOG_DEBUG, "conn %s: write: %s", c->peer, uv_strerror(n));
            net__conn_abort(c, NET_EIO);
            return NET_EIO;
        }
    }
    wreq_t *w = malloc(sizeof *w + len);
    if (!w) {
        net__conn_abort(c, NET_ENOMEM);
        return NET_ENOMEM;
    }
    w->c = c;
    w->len = len;
    memcpy(w->data, data, len);
    w->req.data = w;
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
    if (rv < 0) {
        free(w);
        net__log(NET_LOG_DEBUG, "conn %s: write: %s", c->peer, uv_strerror(rv));
        net__conn_abort(c, NET_EIO);
        return NET_EIO;
    }
    c->reqs_pending++;
    c->wq_bytes += len;
    if (c->wq_bytes > c->wq_max)
        c->wq_max = c->wq_bytes;
    return NET_OK;
}

/* Moves TLS ciphertext to the socket. */
static int send_tls_pending(net_conn_t *c)
{
    while (c->tls && net_tls_pending(c->tls) && !c->closing) {
        size_t n;
        net_tls_pull(c->tls, out_scratch, sizeof out_scratch, &n);
        if (!n)
            break;
        int rc = send_bytes(c, out_scratch, n);
        if (rc != NET_OK)
            return rc;
    }
    return NET_OK;
}

static void flush(net_conn_t *c)
{
    if (c->closing || c->close_requested)
        return;
    if (send_tls_pending(c) != NET_OK)
        return;
    while (c->h2 && c->wq_bytes < c->cfg.write_queue_cap) {
        size_t n = 0;
        int rc = net_h2_session_pull(c->h2, c->tls ? plain_scratch : out_scratch, IO_CHUNK, &n);
        if (rc != NET_OK) {
            net__conn_abort(c, rc);
            return;
        }
        if (n == 0)
            break;
        if (c->tls) {
            rc = net_tls_write(c->tls, plain_scratch, n);
            if (rc != NET_OK) {
                net__log(NET_LOG_INFO, "conn %s: %s", c->peer, net_tls_error(c->tls));
                net__conn_abort(c, NET_ETLS);
                return;
            }
            if (send_tls_pending(c) != NET_OK)
                return;
        } else if (send_bytes(c, out_scratch, n) != NET_OK) {
            return;
        }
    }
    if (c->wq_bytes >= c->cfg.write_queue_cap && c->reading && !c->ending) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        c->read_paused = true;
    }
    if (c->h2 && c->tls && !c->notify_sent && net_h2_session_done(c->h2)) {
        /* HTTP/2 is finished: end TLS politely before the socket closes. */
        c->notify_sent = true;
        net_tls_close_notify(c->tls);
        if (send_tls_pending(c) != NET_OK)
            return;
    }
    if (c->wq_bytes == 0) {
        if (c->close_after_flush)
            net__conn_abort(c, c->close_reason ? c->close_reason : NET_EPROTO);
        else if (c->h2 && net_h2_session_done(c->h2))
            net__conn_abort(c, NET_OK);
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Input */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)read_scratch, sizeof read_scratch);
}

static void session_ready(net_conn_t *c);
static void raw_ready(net_conn_t *c);
static void raw_eof(net_conn_t *c);
static void app_input(net_conn_t *c, const uint8_t *data, size_t len);

static void h2_input(net_conn_t *c, const uint8_t *data, size_t len)
{
    int rc = net_h2_session_recv(c->h2, data, len);
    if (rc != NET_OK) {
        /* Send what the session queued (its GOAWAY), then close. */
        net__log(NET_LOG_INFO, "conn %s: HTTP/2 error: closing", c->peer);
        c->close_after_flush = true;
        c->close_reason = rc;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
    }
}

/* The HTTP/2 client connection preface (RFC 9113 section 3.4). */
static const uint8_t h2_preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Server with raw callbacks: the first bytes decide between h2c and a byte stream. */
static void sniff_input(net_conn_t *c, const uint8_t *data, size_t len)
{
    size_t take = sizeof c->sniff - c->sniff_len;
    if (take > len)
        take = len;
    bool match = memcmp(data, h2_preface + c->sniff_len, take) == 0;
    memcpy(c->sniff + c->sniff_len, data, take);
    c->sniff_len += take;
    if (match && c->sniff_len < sizeof c->sniff)
        return;
    c->sniffing = false;
    if (match) {
        session_ready(c);
        if (c->close_requested || !c->h2)
            return;
        h2_input(c, c->sniff, c->sniff_len);
        if (len > take && !c->close_requested && !c->close_after_flush)
            h2_input(c, data + take, len - take);
        return;
    }
    raw_ready(c);
    if (c->close_requested || !c->raw || c->ending)
        return;
    if (c->rcb.on_read)
        c->rcb.on_read(c, c->sniff, c->sniff_len, c->rud);
    if (len > take && !c->close_requested && !c->ending && c->rcb.on_read)
        c->rcb.on_read(c, data + take, len - take, c->rud);
}

/* Plaintext bytes (after TLS) to whatever the connection carries. */
static void app_input(net_conn_t *c, const uint8_t *data, size_t len)
{
    if (c->ending || c->close_requested)
        return; /* lingering close: read and drop */
    if (c->sniffing)
        sniff_input(c, data, len);
    else if (c->raw)
        c->rcb.on_read(c, data, len, c->rud);
    else if (c->h2)
        h2_input(c, data, len);
}

static void tls_input(net_conn_t *c)
{
    if (!net_tls_handshake_done(c->tls)) {
        int rc = net_tls_handshake(c->tls);
        if (rc == NET_EAGAIN)
            return;
        if (rc != NET_OK) {
            net__log(NET_LOG_INFO, "conn %s: %s", c->peer, net_tls_error(c->tls));
            send_tls_pending(c); /* the alert */
            c->close_after_flush = true;
            c->close_reason = NET_ETLS;
            return;
        }
        const char *alpn = net_tls_alpn(c->tls);
        if (c->raw_only) {
            raw_ready(c);
        } else if (c->raw_enabled && !(alpn && strcmp(alpn, "h2") == 0)) {
            /* HTTP/1.1 (or a client without ALPN): a byte stream. A server that got no ALPN
             * looks at the first bytes like a plaintext one. */
            if (!alpn && c->is_server)
                c->sniffing = true;
            else
                raw_ready(c);
        } else if (alpn ? strcmp(alpn, "h2") != 0 : !c->is_server) {
            net__log(NET_LOG_INFO, "conn %s: ALPN chose %s, not h2: closing", c->peer,
                     alpn ? alpn : "nothing");
            net_tls_close_notify(c->tls);
            send_tls_pending(c);
            c->close_after_flush = true;
            c->close_reason = NET_EALPN;
            return;
        } else {
            session_ready(c);
        }
        if (c->close_requested)
            return;
    }
    while (!c->close_requested && !c->close_after_flush) {
        size_t n;
        int rc = net_tls_read(c->tls, plain_scratch, sizeof plain_scratch, &n);
        if (rc == NET_ECLOSED) {
            if (c->raw || c->ending)
                raw_eof(c);
            else
                net__conn_abort(c, c->h2 && net_h2_session_streams(c->h2) ? NET_EIO : NET_OK);
            return;
        }
        if (rc != NET_OK) {
            net__log(NET_LOG_INFO, "conn %s: %s", c->peer, net_tls_error(c->tls));
            net__conn_abort(c, NET_ETLS);
            return;
        }
        if (n == 0)
            break;
        app_input(c, plain_scratch, n);
    }
}

_Thread_local uint64_t net__conn_reads;

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    net_conn_t *c = stream->data;
    net__conn_reads++;
    net__conn_enter(c);
    if (nread == UV_EOF && (c->raw || c->ending)) {
        raw_eof(c);
    } else if (nread < 0) {
        bool clean = nread == UV_EOF && (!c->h2 || net_h2_session_streams(c->h2) == 0);
        if (!clean)
            net__log(NET_LOG_DEBUG, "conn %s: read: %s", c->peer, uv_strerror((int)nread));
        net__conn_abort(c, clean ? NET_OK : NET_EIO);
    } else if (nread > 0) {
        c->last_active = uv_now(c->loop);
        if (c->tls) {
            if (net_tls_feed(c->tls, (const uint8_t *)buf->base, (size_t)nread) != NET_OK)
                net__conn_abort(c, NET_ENOMEM);
            else
                tls_input(c);
        } else {
            app_input(c, (const uint8_t *)buf->base, (size_t)nread);
        }
        flush(c);
    }
    net__conn_leave(c);
}

static void start_reading(net_conn_t *c)
{
    if (c->reading || c->closing || c->close_after_flush || c->peer_eof)
        return;
    if (c->user_paused && !c->ending)
        return;
    int rv = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rv < 0) {
        net__log(NET_LOG_INFO, "conn %s: read_start: %s", c->peer, uv_strerror(rv));
        net__conn_abort(c, NET_EIO);
        return;
    }
    c->reading = true;
    c->read_paused = false;
}

static void maybe_resume_reading(net_conn_t *c)
{
    if (c->read_paused && c->wq_bytes <= c->cfg.write_queue_cap / 2)
        start_reading(c);
}

/* ------------------------------------------------------------------------------------------- */
/* Lifecycle */

static void session_ready(net_conn_t *c)
{
    int err;
    c->h2 = net_h2_session_new(c->is_server, &c->cfg.h2, &trampolines, c, &err);
    if (!c->h2) {
        net__conn_abort(c, err);
        return;
    }
    c->state = CONN_OPEN;
    c->last_active = uv_now(c->loop);
    uv_timer_stop(&c->timer);
    if (c->cfg.idle_timeout_ms)
        uv_timer_start(&c->timer, timer_cb, c->cfg.idle_timeout_ms, 0);
    if (c->cfg.keepalive_ms)
        uv_timer_start(&c->ka_timer, ka_timer_cb, c->cfg.keepalive_ms, 0);
    c->opened = true;
    if (c->on_open)
        c->on_open(c, NET_OK, c->uud);
}

/* The connection carries a byte stream from now on. */
static void raw_ready(net_conn_t *c)
{
    c->raw = true;
    c->sniffing = false;
    c->state = CONN_OPEN;
    c->last_active = uv_now(c->loop);
    uv_timer_stop(&c->timer); /* the owner keeps its own request/idle deadlines */
    c->opened = true;
    if (c->on_open)
        c->on_open(c, NET_OK, c->uud);
}

/* The peer will send nothing more (FIN or close_notify). */
static void raw_eof(net_conn_t *c)
{
    c->peer_eof = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->ending) {
        if (c->fin_done)
            net__conn_abort(c, NET_OK);
        return; /* shutdown_cb closes once our writes are out */
    }
    if (c->rcb.on_eof)
        c->rcb.on_eof(c, c->rud);
    else
        net_conn_end(c);
    if (c->fin_requested && c->fin_done && !c->ending && !c->closing)
        net__conn_abort(c, NET_OK); /* half-closed both ways: done */
}

/* TCP keepalive as configured (net_conn_config_t); a refused option is logged, not fatal. */
static void tcp_keepalive_set(net_conn_t *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return;
    int on = 1, idle = (int)c->cfg.tcp_keepalive_idle_s,
        intvl = (int)c->cfg.tcp_keepalive_interval_s, cnt = (int)c->cfg.tcp_keepalive_probes;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) != 0 ||
        (intvl && setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) != 0) ||
        (cnt && setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) != 0))
        net__log(NET_LOG_INFO, "conn %s: TCP keepalive not set: %s", c->peer, strerror(errno));
}

void net__conn_start(net_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        net_addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
    uv_tcp_nodelay(&c->tcp, 1);
    if (c->cfg.tcp_keepalive_idle_s)
        tcp_keepalive_set(c);
    c->last_active = uv_now(c->loop);
    if (c->tls_ctx) {
        int err;
        c->tls = net_tls_new(c->tls_ctx, c->is_server ? NULL : c->server_name, &err);
        if (!c->tls) {
            net__conn_abort(c, err);
            return;
        }
        c->state = CONN_HANDSHAKE;
        uv_timer_start(&c->timer, timer_cb, c->cfg.handshake_timeout_ms, 0);
        if (!c->is_server) {
            net_tls_handshake(c->tls); /* ClientHello */
        }
    } else if (c->raw_enabled && c->is_server && !c->raw_only) {
        c->sniffing = true; /* under the handshake deadline until the first bytes decide */
        c->state = CONN_HANDSHAKE;
        uv_timer_start(&c->timer, timer_cb, c->cfg.handshake_timeout_ms, 0);
    } else if (c->raw_enabled) {
        raw_ready(c);
    } else {
        session_ready(c);
    }
    if (c->cfg.max_lifetime_ms && !c->close_requested)
        uv_timer_start(&c->life_timer, life_timer_cb, c->cfg.max_lifetime_ms, 0);
    start_reading(c);
    flush(c);
}

static void handle_closed(uv_handle_t *h)
{
    net_conn_t *c = h->data;
    c->handles_open--;
    net__conn_maybe_free(c);
}

void net__conn_maybe_free(net_conn_t *c)
{
    if (!c->closing || c->handles_open > 0 || c->reqs_pending > 0)
        return;
    /* Everything libuv knew about is gone. */
    if (c->raw && c->rcb.on_close)
        c->rcb.on_close(c, c->close_reason, c->rud);
    if (c->on_close)
        c->on_close(c, c->close_reason, c->uud);
    if (c->server)
        net__server_conn_gone(c->server, c);
    net_tls_ctx_release(c->tls_ctx);
    free(c->server_name);
    free(c->host);
    free(c);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, handle_closed);
}

static void teardown(net_conn_t *c)
{
    c->closing = true;
    if (c->close_reason != NET_OK && c->close_reason != NET_EIO)
        net__log(NET_LOG_DEBUG, "conn %s: closing: %s", c->peer, net_strerror(c->close_reason));
    if (!c->opened && !c->is_server && c->on_open) {
        /* A client that never connected hears about it before on_close. */
        c->opened = true;
        c->on_open(c, c->close_reason ? c->close_reason : NET_EIO, c->uud);
    }
    c->depth++; /* stream callbacks below may call net_conn_close: already closing */
    net_h2_session_free(c->h2);
    c->h2 = NULL;
    c->depth--;
    net_tls_free(c->tls);
    c->tls = NULL;
    if (c->gai_active)
        uv_cancel((uv_req_t *)&c->gai); /* its callback still runs, with UV_EAI_CANCELED */
    close_handle((uv_handle_t *)&c->tcp);
    close_handle((uv_handle_t *)&c->timer);
    close_handle((uv_handle_t *)&c->ka_timer);
    close_handle((uv_handle_t *)&c->life_timer);
    close_handle((uv_handle_t *)&c->flush_idle);
}

net_conn_t *net__conn_new(uv_loop_t *loop, bool server, const net_conn_config_t *cfg,
                          net_tls_ctx_t *tls, const char *server_name, const net_h2_callbacks_t *cb,
                          void *ud, net_conn_cb on_open, net_conn_cb on_close, int *err)
{
    net_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        *err = NET_ENOMEM;
        return NULL;
    }
    c->loop = loop;
    c->is_server = server;
    if (cfg)
        c->cfg = *cfg;
    else
        net_conn_config_default(&c->cfg, server);
    if (server_name && !(c->server_name = strdup(server_name))) {
        free(c);
        *err = NET_ENOMEM;
        return NULL;
    }
    c->tls_ctx = net_tls_ctx_retain(tls);
    if (cb)
        c->ucb = *cb;
    c->uud = ud;
    c->on_open = on_open;
    c->on_close = on_close;
    c->state = server ? CONN_HANDSHAKE : CONN_CONNECTING;
    snprintf(c->peer, sizeof c->peer, "(unconnected)");
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->ka_timer);
    uv_timer_init(loop, &c->life_timer);
    uv_idle_init(loop, &c->flush_idle);
    c->tcp.data = c->timer.data = c->ka_timer.data = c->life_timer.data = c->flush_idle.data = c;
    c->handles_open = 5;
    if (!server) /* the connect itself is under the handshake deadline */
        uv_timer_start(&c->timer, timer_cb, c->cfg.handshake_timeout_ms, 0);
    *err = NET_OK;
    return c;
}

/* ------------------------------------------------------------------------------------------- */
/* Public connection API */

net_h2_session_t *net_conn_session(const net_conn_t *c)
{
    return c->closing ? NULL : c->h2;
}

net_conn_t *net_conn_from_session(const net_h2_session_t *s)
{
    return net_h2_session_user(s);
}

void net_conn_close(net_conn_t *c, bool graceful)
{
    if (c->closing || c->close_requested)
        return;
    if (c->raw && graceful) {
        if (c->ending)
            return;
        if (!c->rcb.on_shutdown || c->draining) { /* asked twice: the owner is done */
            net_conn_end(c);
            return;
        }
        c->draining = true;
        uv_timer_start(&c->timer, timer_cb, c->cfg.shutdown_timeout_ms, 0);
        net__conn_enter(c);
        c->rcb.on_shutdown(c, c->rud);
        net__conn_leave(c);
        return;
    }
    if (!graceful || !c->h2) {
        net__conn_abort(c, NET_OK);
        return;
    }
    if (c->draining)
        return;
    c->draining = true;
    net_h2_session_shutdown(c->h2);
    uv_timer_start(&c->timer, timer_cb, c->cfg.shutdown_timeout_ms, 0);
    schedule_flush(c);
}

void net_conn_flush(net_conn_t *c)
{
    schedule_flush(c);
}

void net_conn_set_user(net_conn_t *c, void *ud)
{
    c->user = ud;
}

void *net_conn_user(const net_conn_t *c)
{
    return c->user;
}

const char *net_conn_peer(const net_conn_t *c)
{
    return c->peer;
}

const char *net_conn_server_name(const net_conn_t *c)
{
    return c->tls ? net_tls_server_name(c->tls) : NULL;
}

const char *net_conn_alpn(const net_conn_t *c)
{
    return c->tls ? net_tls_alpn(c->tls) : NULL;
}

size_t net_conn_write_queued(const net_conn_t *c)
{
    return c->wq_bytes;
}

size_t net_conn_write_queued_max(const net_conn_t *c)
{
    return c->wq_max;
}

bool net_conn_read_paused(const net_conn_t *c)
{
    return c->read_paused;
}

uv_loop_t *net_conn_loop(const net_conn_t *c)
{
    return c->loop;
}

net_server_t *net_conn_server(const net_conn_t *c)
{
    return c->server;
}

int net_conn_fileno(const net_conn_t *c)
{
    uv_os_fd_t fd;
    if (c->closing || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        return -1;
    return fd;
}

/* ------------------------------------------------------------------------------------------- */
/* Raw connections */

bool net_conn_is_raw(const net_conn_t *c)
{
    return c->raw;
}

int net_conn_write(net_conn_t *c, const void *data, size_t len)
{
    if (!c->raw)
        return NET_ESTATE;
    if (c->closing || c->close_requested || c->ending || c->close_after_flush || c->fin_requested)
        return NET_ECLOSED;
    if (len == 0)
        return NET_OK;
    net__conn_enter(c);
    int rc;
    if (c->tls) {
        rc = net_tls_write(c->tls, data, len);
        if (rc != NET_OK) {
            net__log(NET_LOG_INFO, "conn %s: %s", c->peer, net_tls_error(c->tls));
            net__conn_abort(c, NET_ETLS);
            rc = NET_ETLS;
        } else {
            rc = send_tls_pending(c);
        }
    } else {
        rc = send_bytes(c, data, len);
    }
    if (rc == NET_OK && c->wq_bytes >= c->cfg.write_queue_cap) {
        c->want_drain = true;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
            c->read_paused = true;
        }
    }
    net__conn_leave(c);
    return rc;
}

void net_conn_set_read_paused(net_conn_t *c, bool paused)
{
    if (c->closing || c->ending)
        return;
    c->user_paused = paused;
    if (paused) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
    } else if (!c->read_paused || c->wq_bytes <= c->cfg.write_queue_cap / 2) {
        start_reading(c);
    }
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    net_conn_t *c = req->data;
    c->reqs_pending--;
    c->fin_done = true;
    net__conn_enter(c);
    if (!c->closing && (status < 0 || c->peer_eof))
        net__conn_abort(c, NET_OK);
    net__conn_leave(c);
    net__conn_maybe_free(c);
}

void net_conn_end(net_conn_t *c)
{
    if (c->closing || c->close_requested)
        return;
    if (!c->raw) {
        net_conn_close(c, true);
        return;
    }
    if (c->ending)
        return;
    net__conn_enter(c);
    c->ending = true;
    c->want_drain = false;
    if (!c->draining) {
        c->draining = true;
        uv_timer_start(&c->timer, timer_cb, c->cfg.shutdown_timeout_ms, 0);
    }
    if (c->tls && !c->notify_sent) {
        c->notify_sent = true;
        net_tls_close_notify(c->tls);
        send_tls_pending(c);
    }
    if (c->fin_requested) {
        /* net_conn_shutdown sent (or is sending) our FIN already. */
        if (c->fin_done && c->peer_eof)
            net__conn_abort(c, NET_OK);
        else if (!c->peer_eof)
            start_reading(c);
    } else if (!c->close_requested) {
        /* uv_shutdown waits for the queued writes, then sends FIN. */
        c->fin_requested = true;
        c->shutdown_req.data = c;
        int rv = uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, shutdown_cb);
        if (rv < 0) {
            net__conn_abort(c, NET_OK);
        } else {
            c->reqs_pending++;
            start_reading(c); /* drop what still comes, see the EOF */
        }
    }
    net__conn_leave(c);
}

/* Our FIN of a half-close went out (net_conn_shutdown). */
static void half_shutdown_cb(uv_shutdown_t *req, int status)
{
    net_conn_t *c = req->data;
    c->reqs_pending--;
    c->fin_done = true;
    net__conn_enter(c);
    /* Both directions done (the peer's EOF was delivered before): the connection is over. */
    if (!c->closing && (status < 0 || c->peer_eof))
        net__conn_abort(c, status < 0 ? NET_EIO : NET_OK);
    net__conn_leave(c);
    net__conn_maybe_free(c);
}

int net_conn_shutdown(net_conn_t *c)
{
    if (!c->raw)
        return NET_ESTATE;
    if (c->closing || c->close_requested || c->ending || c->close_after_flush)
        return NET_ECLOSED;
    if (c->fin_requested)
        return NET_OK;
    net__conn_enter(c);
    int rc = NET_OK;
    if (c->tls && !c->notify_sent) {
        c->notify_sent = true;
        net_tls_close_notify(c->tls);
        rc = send_tls_pending(c);
    }
    if (rc == NET_OK) {
        c->fin_requested = true;
        c->shutdown_req.data = c;
        int rv = uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, half_shutdown_cb);
        if (rv < 0) {
            net__conn_abort(c, NET_EIO);
            rc = NET_EIO;
        } else {
            c->reqs_pending++;
        }
    }
    net__conn_leave(c);
    return rc;
}

int net_conn_set_raw(net_conn_t *c, const net_conn_raw_callbacks_t *cb, void *ud)
{
    if (!cb || !cb->on_read)
        return NET_EINVAL;
    if (!c->raw)
        return NET_ESTATE;
    c->rcb = *cb;
    c->rud = ud;
    return NET_OK;
}
