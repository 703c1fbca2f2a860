/*
 * gRPC server calls on the HTTP/2 server (see net/grpc_server.h). One call object per accepted
 * stream; requests refused before routing (bad method, content-type, encoding, unknown path) get a
 * Trailers-Only answer and no call object at all.
 *
 * Key decision: response headers are sent lazily, with the first message or with finish. So an
 * error before any message is always a single Trailers-Only HEADERS frame, as gRPC clients expect,
 * without the handler having to know which form applies. Rejected: sending headers at call start
 * (what some servers do), which turns every early error into headers + trailers.
 *
 * Deadlines: one uv_timer per call with a grpc-timeout, allocated apart from the call because a
 * libuv handle must outlive its close callback while the call is freed at once.
 */
#include "conn_internal.h"
#include "net/grpc_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_grpc_server {
    uv_loop_t *loop;
    net_server_t *http;
    size_t max_recv, max_send;
    net_grpc_method_t *methods;
    size_t nmethods;
    size_t calls;
    void (*on_closed)(net_grpc_server_t *, void *);
    void *closed_ud;
};

struct net_grpc_call {
    net_grpc_server_t *srv;
    const net_grpc_method_t *m;
    net_h2_stream_t *st;
    net_h2_header_t *hdrs; /* request headers, one allocation with their strings */
    size_t nhdrs;
    net_grpc_decoder_t dec;
    uint64_t timeout_ns;
    uv_timer_t *timer;
    bool headers_sent;
    bool finished;
    int status;
    void *user;
    /* Receive pause: bytes that arrived while paused wait here, unacknowledged, so the peer's
     * flow-control window bounds them. */
    bool paused;
    bool in_process;
    bool end_pending; /* END_STREAM arrived while paused or with bytes pending */
    uint8_t *pend;
    size_t pend_len, pend_cap;
};

void net_grpc_server_config_default(net_grpc_server_config_t *c)
{
    memset(c, 0, sizeof *c);
    net_server_config_default(&c->server);
    c->max_recv_message = NET_GRPC_DEFAULT_MAX_MESSAGE;
    c->max_send_message = NET_GRPC_DEFAULT_MAX_MESSAGE;
}

/* ------------------------------------------------------------------------------------------- */

static void call_free(net_grpc_call_t *call)
{
    net__timer_discard(call->timer);
    net_grpc_decoder_dispose(&call->dec);
    free(call->hdrs);
    free(call->pend);
    call->srv->calls--;
    free(call);
}

/* Builds the standard response headers plus |extra| (n2) into |out| (cap entries). */
static size_t status_headers(net_h2_header_t *out, int status, char *status_buf, char *msg_enc,
                             const net_h2_header_t *md, size_t n)
{
    size_t k = 0;
    snprintf(status_buf, 12, "%d", status);
    out[k++] = (net_h2_header_t){"grpc-status", 11, status_buf, strlen(status_buf)};
    if (msg_enc && *msg_enc)
        out[k++] = (net_h2_header_t){"grpc-message", 12, msg_enc, strlen(msg_enc)};
    for (size_t i = 0; i < n; i++)
        out[k++] = md[i];
    return k;
}

/* Answers a stream that never became a call: one HEADERS frame with END_STREAM. */
static void refuse(net_h2_stream_t *st, const char *http_status, int status, const char *message,
                   const net_h2_header_t *extra, size_t n)
{
    char sbuf[12];
    char *enc = net_grpc_message_encode(message, strlen(message));
    net_h2_header_t h[8];
    size_t k = 0;
    h[k++] = (net_h2_header_t){":status", 7, http_status, strlen(http_status)};
    h[k++] = NET_H2_HDR("content-type", "application/grpc");
    k += status_headers(h + k, status, sbuf, enc, extra, n);
    int rc = net_h2_stream_respond(st, h, k, true);
    if (rc != NET_OK)
        net_h2_stream_reset(st, 0x2 /* INTERNAL_ERROR */);
    free(enc);
}

static int send_response_headers(net_grpc_call_t *call)
{
    if (call->headers_sent)
        return NET_OK;
    net_h2_header_t h[] = {NET_H2_HDR(":status", "200"),
                           NET_H2_HDR("content-type", "application/grpc"),
                           NET_H2_HDR("grpc-accept-encoding", "identity")};
    int rc = net_h2_stream_respond(call->st, h, 3, false);
    if (rc == NET_OK)
        call->headers_sent = true;
    return rc;
}

int net_grpc_call_finish(net_grpc_call_t *call, int status, const char *message,
                         const net_h2_header_t *md, size_t n)
{
    if (call->finished)
        return NET_ESTATE;
    char sbuf[12];
    char *enc = message ? net_grpc_message_encode(message, strlen(message)) : NULL;
    if (message && !enc)
        return NET_ENOMEM;
    net_h2_header_t *h = malloc((n + 4) * sizeof *h);
    if (!h) {
        free(enc);
        return NET_ENOMEM;
    }
    int rc;
    if (!call->headers_sent) {
        size_t k = 0;
        h[k++] = NET_H2_HDR(":status", "200");
        h[k++] = NET_H2_HDR("content-type", "application/grpc");
        k += status_headers(h + k, status, sbuf, enc, md, n);
        rc = net_h2_stream_respond(call->st, h, k, true);
        if (rc == NET_OK)
            call->headers_sent = true;
    } else {
        size_t k = status_headers(h, status, sbuf, enc, md, n);
        rc = net_h2_stream_end(call->st, h, k);
    }
    free(h);
    free(enc);
    if (rc == NET_OK) {
        call->finished = true;
        call->status = status;
        if (call->timer)
            uv_timer_stop(call->timer);
    }
    return rc;
}

int net_grpc_call_send(net_grpc_call_t *call, const uint8_t *msg, size_t len)
{
    if (call->finished)
        return NET_ESTATE;
    if (len > call->srv->max_send || len > UINT32_MAX)
        return NET_ETOOBIG;
    int rc = send_response_headers(call);
    if (rc != NET_OK)
        return rc;
    uint8_t p[NET_GRPC_PREFIX_LEN];
    net_grpc_prefix_write(p, (uint32_t)len);
    net_h2_iov_t iov[2] = {{p, sizeof p}, {msg, len}};
    return net_h2_stream_writev(call->st, iov, 2);
}

/* ------------------------------------------------------------------------------------------- */
/* HTTP/2 stream callbacks */

static void deadline_cb(uv_timer_t *t)
{
    net_grpc_call_t *call = t->data;
    if (!call || call->finished)
        return;
    net_grpc_call_finish(call, NET_GRPC_DEADLINE_EXCEEDED, "deadline exceeded", NULL, 0);
}

static const net_grpc_method_t *find_method(net_grpc_server_t *s, const char *path)
{
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i].path, path) == 0)
            return &s->methods[i];
    return NULL;
}

static void on_request(net_grpc_server_t *s, net_h2_stream_t *st, const net_h2_header_t *h,
                       size_t n)
{
    const net_h2_header_t *method = net_h2_header_find(h, n, ":method");
    const net_h2_header_t *path = net_h2_header_find(h, n, ":path");
    const net_h2_header_t *ct = net_h2_header_find(h, n, "content-type");
    const net_h2_header_t *enc = net_h2_header_find(h, n, "grpc-encoding");
    const net_h2_header_t *to = net_h2_header_find(h, n, "grpc-timeout");
    char why[160];
    if (!method || strcmp(method->value, "POST") != 0) {
        refuse(st, "405", NET_GRPC_INTERNAL, "gRPC requires POST", NULL, 0);
        return;
    }
    if (!ct || !net_grpc_content_type_ok(ct->value, ct->value_len)) {
        snprintf(why, sizeof why, "invalid gRPC request content-type '%.80s'", ct ? ct->value : "");
        refuse(st, "415", NET_GRPC_INTERNAL, why, NULL, 0);
        return;
    }
    if (enc && strcmp(enc->value, "identity") != 0) {
        net_h2_header_t acc = NET_H2_HDR("grpc-accept-encoding", "identity");
        snprintf(why, sizeof why, "message encoding '%.60s' is not supported (identity only)",
                 enc->value);
        refuse(st, "200", NET_GRPC_UNIMPLEMENTED, why, &acc, 1);
        return;
    }
    const net_grpc_method_t *m = path ? find_method(s, path->value) : NULL;
    if (!m) {
        snprintf(why, sizeof why, "unknown method %.120s", path ? path->value : "(none)");
        refuse(st, "200", NET_GRPC_UNIMPLEMENTED, why, NULL, 0);
        return;
    }
    uint64_t timeout_ns = 0;
    if (to && net_grpc_timeout_parse(to->value, to->value_len, &timeout_ns) != NET_OK) {
        snprintf(why, sizeof why, "malformed grpc-timeout '%.40s'", to->value);
        refuse(st, "200", NET_GRPC_INTERNAL, why, NULL, 0);
        return;
    }
    net_grpc_call_t *call = calloc(1, sizeof *call);
    net_h2_header_t *copy = call ? net_h2_headers_copy(h, n) : NULL;
    if (!copy) {
        free(call);
        refuse(st, "200", NET_GRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
        return;
    }
    call->srv = s;
    call->m = m;
    call->st = st;
    call->hdrs = copy;
    call->nhdrs = n;
    call->timeout_ns = to ? timeout_ns : 0;
    net_grpc_decoder_init(&call->dec, s->max_recv);
    s->calls++;
    net_h2_stream_set_user(st, call);
    net_h2_stream_set_manual_consume(st, true);
    if (to) {
        call->timer = malloc(sizeof *call->timer);
        if (call->timer) {
            uv_timer_init(s->loop, call->timer);
            call->timer->data = call;
            uint64_t ms = timeout_ns / 1000000u + (timeout_ns % 1000000u != 0);
            uv_timer_start(call->timer, deadline_cb, ms, 0);
        }
    }
    if (m->on_start)
        m->on_start(call, m->ud);
}

static void h_headers(net_h2_session_t *s, net_h2_stream_t *st, int kind, const net_h2_header_t *h,
                      size_t n, void *ud)
{
    (void)s;
    if (kind == NET_H2_REQUEST)
        on_request(ud, st, h, n);
    /* Request trailers carry nothing gRPC needs: ignored. */
}

static int pend_append(net_grpc_call_t *call, const uint8_t *data, size_t len)
{
    return net__bytes_append(&call->pend, &call->pend_len, &call->pend_cap, data, len);
}

static void half_close(net_grpc_call_t *call)
{
    const char *msg;
    int status = net_grpc_decoder_status(&call->dec, true, &msg);
    if (status != NET_GRPC_OK) {
        net_grpc_call_finish(call, status, msg, NULL, 0);
        return;
    }
    if (call->m->on_half_close)
        call->m->on_half_close(call, call->m->ud);
}

/* Decodes and delivers messages from |data|; acknowledges (consumes) what it decodes. Stops when
 * the handler pauses; the rest is kept, unacknowledged. */
static void process(net_grpc_call_t *call, const uint8_t *data, size_t len)
{
    size_t off = 0;
    call->in_process = true;
    while (!call->finished && !call->paused && off < len) {
        size_t used;
        int rc = net_grpc_decoder_feed(&call->dec, data + off, len - off, &used);
        off += used;
        net_h2_stream_consume(call->st, used);
        if (rc < 0) {
            const char *msg;
            int status = net_grpc_decoder_status(&call->dec, false, &msg);
            net__log(NET_LOG_INFO, "grpc %s: %s", call->m->path, msg);
            net_grpc_call_finish(call, status, msg, NULL, 0);
            break;
        }
        if (rc == 1) {
            size_t mlen;
            const uint8_t *m = net_grpc_decoder_message(&call->dec, &mlen);
            if (call->m->on_message)
                call->m->on_message(call, m, mlen, call->m->ud);
        }
    }
    call->in_process = false;
    if (call->finished) {
        net_h2_stream_consume(call->st, len - off); /* dropped */
    } else if (off < len && pend_append(call, data + off, len - off) != NET_OK) {
        net_grpc_call_finish(call, NET_GRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
    }
}

static void h_data(net_h2_session_t *s, net_h2_stream_t *st, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_call_t *call = net_h2_stream_user(st);
    if (!call)
        return;
    if (call->finished) {
        net_h2_stream_consume(st, len);
        return;
    }
    if (call->paused || call->pend_len) {
        if (pend_append(call, data, len) != NET_OK)
            net_grpc_call_finish(call, NET_GRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
        return;
    }
    process(call, data, len);
}

static void h_end(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_call_t *call = net_h2_stream_user(st);
    if (!call || call->finished)
        return;
    if (call->paused || call->pend_len) {
        call->end_pending = true;
        return;
    }
    half_close(call);
}

void net_grpc_call_set_recv_paused(net_grpc_call_t *call, bool paused)
{
    call->paused = paused;
    if (paused || call->in_process || call->finished)
        return;
    /* Deliver what waited, in order; process() re-queues whatever a new pause leaves over. */
    while (!call->paused && !call->finished && call->pend_len) {
        uint8_t *buf = call->pend;
        size_t len = call->pend_len;
        call->pend = NULL;
        call->pend_len = call->pend_cap = 0;
        process(call, buf, len);
        free(buf);
    }
    if (!call->paused && !call->finished && !call->pend_len && call->end_pending) {
        call->end_pending = false;
        half_close(call);
    }
}

bool net_grpc_call_recv_paused(const net_grpc_call_t *call)
{
    return call->paused;
}

static void h_writable(net_h2_session_t *s, net_h2_stream_t *st, void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_call_t *call = net_h2_stream_user(st);
    if (call && !call->finished && call->m->on_writable)
        call->m->on_writable(call, call->m->ud);
}

static void h_close(net_h2_session_t *s, net_h2_stream_t *st, uint32_t code, void *ud)
{
    (void)s;
    (void)ud;
    net_grpc_call_t *call = net_h2_stream_user(st);
    if (!call)
        return;
    int status = call->finished ? call->status : NET_GRPC_CANCELLED;
    if (!call->finished)
        net__log(NET_LOG_DEBUG, "grpc %s: cancelled (stream closed with code %u)", call->m->path,
                 code);
    call->finished = true;
    net_h2_stream_set_user(st, NULL);
    if (call->m->on_done)
        call->m->on_done(call, status, call->m->ud);
    call_free(call);
}

/* ------------------------------------------------------------------------------------------- */

net_grpc_server_t *net_grpc_server_new(uv_loop_t *loop, const net_grpc_server_config_t *cfg,
                                       int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    for (size_t i = 0; i < cfg->nmethods; i++) {
        if (!cfg->methods[i].path || cfg->methods[i].path[0] != '/') {
            *err = NET_EINVAL;
            return NULL;
        }
    }
    net_grpc_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        *err = NET_ENOMEM;
        return NULL;
    }
    s->loop = loop;
    s->max_recv = cfg->max_recv_message ? cfg->max_recv_message : NET_GRPC_DEFAULT_MAX_MESSAGE;
    s->max_send = cfg->max_send_message ? cfg->max_send_message : NET_GRPC_DEFAULT_MAX_MESSAGE;
    s->methods = calloc(cfg->nmethods ? cfg->nmethods : 1, sizeof *s->methods);
    bool ok = s->methods != NULL;
    for (size_t i = 0; ok && i < cfg->nmethods; i++) {
        s->methods[i] = cfg->methods[i];
        s->methods[i].path = strdup(cfg->methods[i].path);
        ok = s->methods[i].path != NULL;
        s->nmethods = i + 1;
    }
    if (ok) {
        net_server_config_t sc = cfg->server;
        sc.cb = (net_h2_callbacks_t){.on_headers = h_headers,
                                     .on_data = h_data,
                                     .on_end = h_end,
                                     .on_close = h_close,
                                     .on_writable = h_writable};
        sc.ud = s;
        sc.on_conn_open = NULL;
        sc.on_conn_close = NULL;
        s->http = net_server_new(loop, &sc, err);
    } else {
        *err = NET_ENOMEM;
    }
    if (!s->http) {
        for (size_t i = 0; i < s->nmethods; i++)
            free((char *)s->methods[i].path);
        free(s->methods);
        free(s);
        return NULL;
    }
    *err = NET_OK;
    return s;
}

int net_grpc_server_port(const net_grpc_server_t *s)
{
    return net_server_port(s->http);
}

size_t net_grpc_server_calls(const net_grpc_server_t *s)
{
    return s->calls;
}

net_server_t *net_grpc_server_http(const net_grpc_server_t *s)
{
    return s->http;
}

static void http_closed(net_server_t *http, void *ud)
{
    (void)http;
    net_grpc_server_t *s = ud;
    if (s->on_closed)
        s->on_closed(s, s->closed_ud);
    for (size_t i = 0; i < s->nmethods; i++)
        free((char *)s->methods[i].path);
    free(s->methods);
    free(s);
}

void net_grpc_server_close(net_grpc_server_t *s, bool graceful,
                           void (*on_closed)(net_grpc_server_t *, void *), void *ud)
{
    s->on_closed = on_closed;
    s->closed_ud = ud;
    net_server_close(s->http, graceful, http_closed, s);
}

const char *net_grpc_call_path(const net_grpc_call_t *call)
{
    return call->m->path;
}

const char *net_grpc_call_header(const net_grpc_call_t *call, const char *name)
{
    const net_h2_header_t *h = net_h2_header_find(call->hdrs, call->nhdrs, name);
    return h ? h->value : NULL;
}

uint64_t net_grpc_call_timeout_ns(const net_grpc_call_t *call)
{
    return call->timeout_ns;
}

bool net_grpc_call_finished(const net_grpc_call_t *call)
{
    return call->finished;
}

void net_grpc_call_set_user(net_grpc_call_t *call, void *ud)
{
    call->user = ud;
}

void *net_grpc_call_user(const net_grpc_call_t *call)
{
    return call->user;
}

net_conn_t *net_grpc_call_conn(const net_grpc_call_t *call)
{
    return net_conn_from_session(net_h2_stream_session(call->st));
}

size_t net_grpc_call_queued(const net_grpc_call_t *call)
{
    return net_h2_stream_queued(call->st);
}
