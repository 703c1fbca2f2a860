/*
 * gRPC client calls (see net/grpc_client.h). The final status is decided once, when the HTTP/2
 * stream closes, from what was seen in this order of precedence: our own deadline or cancel, a
 * local decoding error, grpc-status from trailers (or Trailers-Only headers), a stream reset
 * (RST_STREAM code → status), an HTTP :status other than 200, and finally "no grpc-status" as
 * UNKNOWN. Deciding at close rather than at trailers means a server that sends trailers and then
 * resets still yields the trailers' status, and nothing is reported twice.
 */
#include "conn_internal.h"
#include "net/grpc_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_grpc_client_call {
    net_conn_t *conn;
    net_h2_stream_t *st;
    net_grpc_client_callbacks_t cb;
    void *ud;
    void *user;
    net_grpc_decoder_t dec;
    uv_timer_t *timer;
    size_t max_send;
    int http_status;
    bool got_headers;
    bool have_status;  /* grpc-status seen */
    bool local_status; /* we decided the status (deadline, cancel, decode error) */
    bool cancelled;
    int status;
    char *message;
    net_h2_header_t *trailers;
    size_t ntrailers;
    /* Receive pause, as on the server: unacknowledged bytes wait here, bounded by our window. */
    bool paused;
    bool in_process;
    bool closed;    /* the stream is gone; the status waits for pending messages */
    bool conn_lost; /* it went with its connection */
    uint32_t close_code;
    uint8_t *pend;
    size_t pend_len, pend_cap;
};

static void call_free(net_grpc_client_call_t *call)
{
    net__timer_discard(call->timer);
    net_grpc_decoder_dispose(&call->dec);
    free(call->pend);
    free(call->message);
    free(call->trailers);
    free(call);
}

static void set_local(net_grpc_client_call_t *call, int status, const char *message)
{
    if (call->local_status)
        return;
    call->local_status = true;
    call->status = status;
    free(call->message);
    call->message = strdup(message);
}

/* Reads grpc-status / grpc-message from a header block. */
static void take_status(net_grpc_client_call_t *call, const net_h2_header_t *h, size_t n)
{
    const net_h2_header_t *st = net_h2_header_find(h, n, "grpc-status");
    if (!st)
        return;
    int code;
    if (net_grpc_status_parse(st->value, st->value_len, &code) != NET_OK || code > 16)
        code = NET_GRPC_UNKNOWN;
    call->have_status = true;
    call->status = code;
    const net_h2_header_t *m = net_h2_header_find(h, n, "grpc-message");
    free(call->message);
    call->message = m ? net_grpc_message_decode(m->value, m->value_len, NULL) : NULL;
}

static void c_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_client_call_t *call = net_h2_stream_user(st);
    if (!call)
        return;
    if (kind == NET_H2_RESPONSE) {
        const net_h2_header_t *status = net_h2_header_find(h, n, ":status");
        call->http_status = status ? atoi(status->value) : 0;
        call->got_headers = true;
        if (net_h2_header_find(h, n, "grpc-status")) { /* Trailers-Only */
            take_status(call, h, n);
            free(call->trailers);
            call->trailers = net_h2_headers_copy(h, n);
            call->ntrailers = call->trailers ? n : 0;
            return;
        }
        const net_h2_header_t *ct = net_h2_header_find(h, n, "content-type");
        if (call->http_status == 200 &&
            (!ct || !net_grpc_content_type_ok(ct->value, ct->value_len))) {
            set_local(call, NET_GRPC_UNKNOWN, "response content-type is not application/grpc");
            net_h2_stream_reset(st, 0x8);
            return;
        }
        if (call->http_status == 200 && call->cb.on_headers)
            call->cb.on_headers(call, h, n, call->ud);
    } else if (kind == NET_H2_TRAILERS) {
        take_status(call, h, n);
        free(call->trailers);
        call->trailers = net_h2_headers_copy(h, n);
        call->ntrailers = call->trailers ? n : 0;
    }
}

static void report(net_grpc_client_call_t *call);

static int pend_append(net_grpc_client_call_t *call, const uint8_t *data, size_t len)
{
    return net__bytes_append(&call->pend, &call->pend_len, &call->pend_cap, data, len);
}

/* Decodes and delivers response messages, acknowledging what it decodes; keeps the rest when the
 * application pauses. */
static void process(net_grpc_client_call_t *call, const uint8_t *data, size_t len)
{
    size_t off = 0;
    call->in_process = true;
    while (!call->local_status && !call->paused && off < len) {
        size_t used;
        int rc = net_grpc_decoder_feed(&call->dec, data + off, len - off, &used);
        off += used;
        if (call->st)
            net_h2_stream_consume(call->st, used);
        if (rc < 0) {
            const char *msg;
            int status = net_grpc_decoder_status(&call->dec, false, &msg);
            set_local(call, status, msg);
            if (call->st)
                net_h2_stream_reset(call->st, 0x8);
            break;
        }
        if (rc == 1 && call->cb.on_message) {
            size_t mlen;
            const uint8_t *m = net_grpc_decoder_message(&call->dec, &mlen);
            call->cb.on_message(call, m, mlen, call->ud);
        }
    }
    call->in_process = false;
    if (call->local_status) {
        if (call->st)
            net_h2_stream_consume(call->st, len - off);
    } else if (off < len && pend_append(call, data + off, len - off) != NET_OK) {
        set_local(call, NET_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        if (call->st)
            net_h2_stream_reset(call->st, 0x8);
    }
}

static void c_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_client_call_t *call = net_h2_stream_user(st);
    if (!call)
        return;
    if (call->local_status) {
        net_h2_stream_consume(st, len);
        return;
    }
    if (call->paused || call->pend_len) {
        if (pend_append(call, data, len) != NET_OK) {
            set_local(call, NET_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            net_h2_stream_reset(st, 0x8);
        }
        return;
    }
    process(call, data, len);
}

void net_grpc_client_call_set_recv_paused(net_grpc_client_call_t *call, bool paused)
{
    call->paused = paused;
    if (paused || call->in_process)
        return;
    while (!call->paused && !call->local_status && call->pend_len) {
        uint8_t *buf = call->pend;
        size_t len = call->pend_len;
        call->pend = NULL;
        call->pend_len = call->pend_cap = 0;
        process(call, buf, len);
        free(buf);
    }
    if (call->closed && (call->local_status || (!call->paused && !call->pend_len))) {
        if (!call->local_status) {
            const char *msg;
            if (net_grpc_decoder_status(&call->dec, true, &msg) != NET_GRPC_OK)
                set_local(call, NET_GRPC_INTERNAL, msg);
        }
        report(call);
    }
}

static void c_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_client_call_t *call = net_h2_stream_user(st);
    if (!call || call->local_status || call->paused || call->pend_len)
        return;
    const char *msg;
    if (net_grpc_decoder_status(&call->dec, true, &msg) != NET_GRPC_OK)
        set_local(call, NET_GRPC_INTERNAL, msg);
}

static void c_writable(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_client_call_t *call = net_h2_stream_user(st);
    if (call && call->cb.on_writable)
        call->cb.on_writable(call, call->ud);
}

/* Decides the final status (see the file comment), reports it and frees the call. */
static void report(net_grpc_client_call_t *call)
{
    int status;
    const char *message = call->message ? call->message : "";
    char buf[96];
    uint32_t code = call->close_code;
    if (call->local_status || call->have_status) {
        status = call->status;
    } else if (code != 0) {
        if (code == 0x8 && call->conn_lost) {
            status = NET_GRPC_UNAVAILABLE;
            message = "connection closed";
        } else {
            status = net_grpc_status_from_h2_error(code);
            snprintf(buf, sizeof buf, "stream reset by peer with HTTP/2 error code %u", code);
            message = buf;
        }
    } else if (call->http_status != 200) {
        status = net_grpc_status_from_http(call->http_status);
        snprintf(buf, sizeof buf, "HTTP status %d", call->http_status);
        message = buf;
    } else {
        status = NET_GRPC_UNKNOWN;
        message = "response ended without grpc-status";
    }
    if (call->cb.on_status)
        call->cb.on_status(call, status, message, call->trailers, call->ntrailers, call->ud);
    call_free(call);
}

static void c_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)ud;
    net_grpc_client_call_t *call = net_h2_stream_user(st);
    if (!call)
        return;
    net_h2_stream_set_user(st, NULL);
    call->st = NULL;
    call->closed = true;
    call->close_code = code;
    call->conn_lost = code == 0x8 && !net_conn_session(net_conn_from_session(s));
    /* Messages that arrived before the end but wait behind a pause are delivered first; the status
     * follows when the application resumes (or cancels). */
    if (call->pend_len && !call->local_status)
        return;
    report(call);
}

const net_h2_callbacks_t net_grpc_client_h2_callbacks = {
    .on_headers = c_headers,
    .on_data = c_data,
    .on_end = c_end,
    .on_close = c_close,
    .on_writable = c_writable,
};

static void deadline_cb(uv_timer_t *t)
{
    net_grpc_client_call_t *call = t->data;
    if (!call)
        return;
    set_local(call, NET_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
    if (call->closed)
        report(call);
    else
        net_h2_stream_reset(call->st, 0x8);
}

int net_grpc_client_call_start(net_conn_t *conn, const net_grpc_client_call_config_t *cfg,
                               const net_grpc_client_callbacks_t *cb, void *ud,
                               net_grpc_client_call_t **out)
{
    net_h2_session_t *s = net_conn_session(conn);
    if (!s)
        return NET_ESTATE;
    if (!cfg->path || cfg->path[0] != '/')
        return NET_EINVAL;
    net_grpc_client_call_t *call = calloc(1, sizeof *call);
    size_t n = 0;
    net_h2_header_t *h = call ? malloc((8 + cfg->nmetadata) * sizeof *h) : NULL;
    if (!h) {
        free(call);
        return NET_ENOMEM;
    }
    call->conn = conn;
    if (cb)
        call->cb = *cb;
    call->ud = ud;
    call->max_send = cfg->max_send_message ? cfg->max_send_message : NET_GRPC_DEFAULT_MAX_MESSAGE;
    net_grpc_decoder_init(&call->dec, cfg->max_recv_message);
    const char *authority = cfg->authority ? cfg->authority : "localhost";
    h[n++] = NET_H2_HDR(":method", "POST");
    h[n++] = net_conn_alpn(conn) ? NET_H2_HDR(":scheme", "https") : NET_H2_HDR(":scheme", "http");
    h[n++] = NET_H2_HDR(":path", cfg->path);
    h[n++] = NET_H2_HDR(":authority", authority);
    char tbuf[NET_GRPC_TIMEOUT_BUFLEN];
    if (cfg->timeout_ns) {
        size_t tl = net_grpc_timeout_format(cfg->timeout_ns, tbuf);
        h[n++] = (net_h2_header_t){"grpc-timeout", 12, tbuf, tl};
    }
    h[n++] = NET_H2_HDR("te", "trailers");
    h[n++] = NET_H2_HDR("content-type", "application/grpc");
    h[n++] = NET_H2_HDR("user-agent", "grpc-c-krtgate/0.1");
    for (size_t i = 0; i < cfg->nmetadata; i++)
        h[n++] = cfg->metadata[i];
    int rc = net_h2_session_request(s, h, n, false, call, &call->st);
    free(h);
    if (rc != NET_OK) {
        net_grpc_decoder_dispose(&call->dec);
        free(call);
        return rc;
    }
    net_h2_stream_set_manual_consume(call->st, true);
    if (cfg->timeout_ns) {
        call->timer = malloc(sizeof *call->timer);
        if (call->timer) {
            uv_timer_init(net_conn_loop(conn), call->timer);
            call->timer->data = call;
            uint64_t ms = cfg->timeout_ns / 1000000u + (cfg->timeout_ns % 1000000u != 0);
            uv_timer_start(call->timer, deadline_cb, ms, 0);
        }
    }
    if (out)
        *out = call;
    return NET_OK;
}

int net_grpc_client_call_send(net_grpc_client_call_t *call, const uint8_t *msg, size_t len)
{
    if (call->local_status || call->closed)
        return NET_ECLOSED;
    if (len > call->max_send || len > UINT32_MAX)
        return NET_ETOOBIG;
    uint8_t p[NET_GRPC_PREFIX_LEN];
    net_grpc_prefix_write(p, (uint32_t)len);
    net_h2_iov_t iov[2] = {{p, sizeof p}, {msg, len}};
    return net_h2_stream_writev(call->st, iov, 2);
}

int net_grpc_client_call_close_send(net_grpc_client_call_t *call)
{
    if (call->closed)
        return NET_ECLOSED;
    return net_h2_stream_end(call->st, NULL, 0);
}

void net_grpc_client_call_cancel(net_grpc_client_call_t *call)
{
    set_local(call, NET_GRPC_CANCELLED, "cancelled by the client");
    if (call->closed)
        report(call);
    else
        net_h2_stream_reset(call->st, 0x8);
}

void net_grpc_client_call_set_user(net_grpc_client_call_t *call, void *ud)
{
    call->user = ud;
}

void *net_grpc_client_call_user(const net_grpc_client_call_t *call)
{
    return call->user;
}
