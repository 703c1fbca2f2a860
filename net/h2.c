/*
 * HTTP/2 sessions on nghttp2, sans-IO (see net/h2.h for the contract). This file owns the mapping
 * between nghttp2 streams and our stream objects, the per-stream output queues and their caps, the
 * deferral of data providers, trailers, RST_STREAM after an early response, keepalive PINGs and the
 * two-step graceful GOAWAY.
 *
 * Key decision: every stream has exactly one long-lived data provider attached with its headers;
 * its read callback copies from the stream's queue and returns NGHTTP2_ERR_DEFERRED when the queue
 * is empty; a write resumes it. Rejected: one nghttp2_submit_data per write, which nghttp2 refuses
 * while a DATA item is outstanding (NGHTTP2_ERR_DATA_EXIST) and which would push the unbounded
 * queue into nghttp2 where it cannot be measured.
 *
 * Output is pulled (mem_send) by the adapter, chunk by chunk; the pointer mem_send returns is held
 * in |out| until fully copied, and mem_send is not called again before that (its buffer is only
 * valid until the next call).
 */
#include "net/h2.h"

#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

/* INVARIANTS
 *  H1 s->queued == sum over live streams of st->queued
 *  H2 st->queued == sum of unsent bytes in st's chunk list; 0 after a reset
 *  H3 s->nstreams == length of the stream list; s->nblocked == number of streams with blocked set
 *  H4 st->deferred implies st->has_provider and an empty queue and not eof_sent
 *  H5 out_len > 0 implies out != NULL (mem_send's buffer, not yet fully pulled)
 *  H6 st->end_in_frame only while that stream's on_headers runs (false between calls)          */

typedef struct chunk {
    struct chunk *next;
    size_t len, off;
    uint8_t data[];
} chunk_t;

typedef struct hdrbuf {
    net_h2_header_t *h;
    size_t n, cap, bytes;
} hdrbuf_t;

struct net_h2_stream {
    net_h2_session_t *s;
    int32_t id;
    void *ud;
    net_h2_stream_t *prev, *next;
    chunk_t *head, *tail;
    size_t queued;
    net_h2_header_t *trailers;
    size_t ntrailers;
    hdrbuf_t in; /* header block being received */
    size_t unconsumed;
    bool announced;      /* the user knows the stream (on_close will be called) */
    bool got_headers;    /* the first (non-1xx) header block arrived */
    bool responded;      /* server: response headers submitted */
    bool has_provider;   /* a data provider is attached: write/end allowed */
    bool deferred;       /* provider returned DEFERRED; needs resume_data */
    bool ended;          /* end requested (EOF once the queue drains) */
    bool eof_sent;       /* the provider reported EOF */
    bool reset;          /* RST_STREAM submitted or received */
    bool remote_ended;   /* the peer sent END_STREAM (on_end delivered) */
    bool end_in_frame;   /* the header block being delivered carries END_STREAM */
    bool blocked;        /* a write was refused: on_writable owed */
    bool manual_consume; /* the user acknowledges received bytes itself */
    bool opened;         /* nghttp2 knows the stream (client: HEADERS went out) */
};

struct net_h2_session {
    nghttp2_session *ng;
    bool server;
    net_h2_config_t cfg;
    net_h2_callbacks_t cb;
    void *ud;
    net_h2_stream_t *streams; /* doubly-linked list head */
    size_t nstreams, nblocked;
    size_t queued;
    const uint8_t *out; /* mem_send output not yet copied out */
    size_t out_len;
    int in_io;
    bool want_write_notified;
    bool freeing;
    bool ping_pending;
    uint32_t ping_seq;
    int shutdown; /* 0 none, 1 notice sent, waiting for the PING ack; 2 final GOAWAY submitted */
    bool goaway_recv;
};

static const uint8_t PING_KEEPALIVE = 'K', PING_SHUTDOWN = 'S';

void net_h2_config_default(net_h2_config_t *c)
{
    c->max_concurrent_streams = 100;
    c->initial_window_size = 1u << 20;
    c->connection_window_size = 16u << 20;
    c->max_header_list_size = 16u << 10;
    c->max_frame_size = 0;
    c->stream_output_cap = 256u << 10;
    c->session_output_cap = 4u << 20;
}

net_h2_header_t *net_h2_headers_copy(const net_h2_header_t *h, size_t n)
{
    size_t bytes = n * sizeof *h;
    for (size_t i = 0; i < n; i++)
        bytes += h[i].name_len + h[i].value_len + 2;
    net_h2_header_t *out = malloc(bytes ? bytes : 1);
    if (!out)
        return NULL;
    char *w = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        out[i].name = w;
        out[i].name_len = h[i].name_len;
        memcpy(w, h[i].name, h[i].name_len + 1);
        w += h[i].name_len + 1;
        out[i].value = w;
        out[i].value_len = h[i].value_len;
        memcpy(w, h[i].value, h[i].value_len + 1);
        w += h[i].value_len + 1;
    }
    return out;
}

const net_h2_header_t *net_h2_header_find(const net_h2_header_t *h, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == len && memcmp(h[i].name, name, len) == 0)
            return &h[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* Streams */

static net_h2_stream_t *stream_new(net_h2_session_t *s, int32_t id)
{
    net_h2_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->s = s;
    st->id = id;
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    s->nstreams++;
    return st;
}

static void hdrbuf_clear(hdrbuf_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        free((char *)b->h[i].name); /* name and value share one allocation */
    b->n = 0;
    b->bytes = 0;
}

static void queue_drop(net_h2_stream_t *st)
{
    chunk_t *c = st->head;
    while (c) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    st->head = st->tail = NULL;
    st->s->queued -= st->queued;
    st->queued = 0;
}

static void trailers_free(net_h2_stream_t *st)
{
    free(st->trailers); /* the strings live in the same block */
    st->trailers = NULL;
    st->ntrailers = 0;
}

/* Unlinks, tells the user (if it knows the stream), frees. */
static void stream_finish(net_h2_stream_t *st, uint32_t error_code)
{
    net_h2_session_t *s = st->s;
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    s->nstreams--;
    if (st->blocked)
        s->nblocked--;
    st->blocked = false;
    queue_drop(st);
    if (st->announced && s->cb.on_close)
        s->cb.on_close(s, st, error_code, s->ud);
    hdrbuf_clear(&st->in);
    free(st->in.h);
    trailers_free(st);
    free(st);
}

static net_h2_stream_t *stream_by_id(net_h2_session_t *s, int32_t id)
{
    for (net_h2_stream_t *st = s->streams; st; st = st->next)
        if (st->id == id)
            return st;
    return NULL;
}

static void notify_want_write(net_h2_session_t *s)
{
    if (s->in_io || s->want_write_notified || s->freeing || !s->cb.on_want_write)
        return;
    s->want_write_notified = true;
    s->cb.on_want_write(s, s->ud);
}

/* Copies headers into one nghttp2_nv array; the caller frees it. */
static nghttp2_nv *nv_make(const net_h2_header_t *h, size_t n)
{
    nghttp2_nv *nva = calloc(n ? n : 1, sizeof *nva);
    if (!nva)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        nva[i].name = (uint8_t *)h[i].name;
        nva[i].namelen = h[i].name_len;
        nva[i].value = (uint8_t *)h[i].value;
        nva[i].valuelen = h[i].value_len;
        nva[i].flags = NGHTTP2_NV_FLAG_NONE; /* nghttp2 copies them */
    }
    return nva;
}

static int map_ng_error(int rv)
{
    switch (rv) {
    case NGHTTP2_ERR_NOMEM:
        return NET_ENOMEM;
    case NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE:
        return NET_ELIMIT;
    case NGHTTP2_ERR_STREAM_CLOSED:
    case NGHTTP2_ERR_STREAM_CLOSING:
        return NET_ECLOSED;
    case NGHTTP2_ERR_START_STREAM_NOT_ALLOWED:
    case NGHTTP2_ERR_INVALID_STATE:
    case NGHTTP2_ERR_DATA_EXIST:
    case NGHTTP2_ERR_PROTO:
        return NET_ESTATE;
    default:
        return NET_EPROTO;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Data provider */

static ssize_t data_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)ud;
    net_h2_stream_t *st = src->ptr;
    net_h2_session_t *s = st->s;
    size_t n = 0;
    while (n < length && st->head) {
        chunk_t *c = st->head;
        size_t k = c->len - c->off;
        if (k > length - n)
            k = length - n;
        memcpy(buf + n, c->data + c->off, k);
        c->off += k;
        n += k;
        if (c->off == c->len) {
            st->head = c->next;
            if (!st->head)
                st->tail = NULL;
            free(c);
        }
    }
    st->queued -= n;
    s->queued -= n;
    if (!st->head && st->ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st->eof_sent = true;
        if (st->ntrailers) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_nv *nva = nv_make(st->trailers, st->ntrailers);
            int rv = nva ? nghttp2_submit_trailer(ng, id, nva, st->ntrailers) : NGHTTP2_ERR_NOMEM;
            free(nva);
            trailers_free(st);
            if (rv != 0) {
                net__log(NET_LOG_WARN, "h2: stream %d: cannot submit trailers: %s", id,
                         nghttp2_strerror(rv));
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            }
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void resume(net_h2_stream_t *st)
{
    if (!st->deferred)
        return;
    st->deferred = false;
    int rv = nghttp2_session_resume_data(st->s->ng, st->id);
    if (rv != 0)
        net__log(NET_LOG_DEBUG, "h2: stream %d: resume_data: %s", st->id, nghttp2_strerror(rv));
}

/* ------------------------------------------------------------------------------------------- */
/* nghttp2 callbacks */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    net_h2_session_t *s = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
        !s->server)
        return 0;
    net_h2_stream_t *st = stream_new(s, frame->hd.stream_id);
    if (!st)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->opened = true;
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    net_h2_session_t *s = ud;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    net_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!st)
        return 0;
    hdrbuf_t *b = &st->in;
    b->bytes += namelen + valuelen + 32;
    if (b->bytes > s->cfg.max_header_list_size) {
        net__log(NET_LOG_INFO, "h2: stream %d: header list over %u bytes: stream reset",
                 frame->hd.stream_id, s->cfg.max_header_list_size);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        net_h2_header_t *h = realloc(b->h, cap * sizeof *h);
        if (!h)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        b->h = h;
        b->cap = cap;
    }
    char *mem = malloc(namelen + valuelen + 2);
    if (!mem)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(mem, name, namelen);
    mem[namelen] = '\0';
    memcpy(mem + namelen + 1, value, valuelen);
    mem[namelen + 1 + valuelen] = '\0';
    b->h[b->n++] = (net_h2_header_t){mem, namelen, mem + namelen + 1, valuelen};
    return 0;
}

static void deliver_end(net_h2_session_t *s, net_h2_stream_t *st)
{
    if (st->remote_ended)
        return;
    st->remote_ended = true;
    if (st->announced && s->cb.on_end)
        s->cb.on_end(s, st, s->ud);
}

static void headers_received(net_h2_session_t *s, net_h2_stream_t *st, const nghttp2_frame *frame)
{
    hdrbuf_t *b = &st->in;
    int kind;
    if (!st->got_headers) {
        const net_h2_header_t *status = net_h2_header_find(b->h, b->n, ":status");
        if (!s->server && status && status->value_len == 3 && status->value[0] == '1') {
            hdrbuf_clear(b); /* informational: not delivered */
            return;
        }
        kind = s->server ? NET_H2_REQUEST : NET_H2_RESPONSE;
        st->got_headers = true;
        if (s->server)
            st->announced = true;
    } else {
        kind = NET_H2_TRAILERS;
    }
    /* a request or trailers that end the stream say so while on_headers runs (a GET then has
     * no body for its receiver), and on_end follows */
    st->end_in_frame = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (st->announced && s->cb.on_headers)
        s->cb.on_headers(s, st, kind, b->h, b->n, s->ud);
    hdrbuf_clear(b);
    if (st->end_in_frame) {
        st->end_in_frame = false;
        deliver_end(s, st);
    }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    net_h2_session_t *s = ud;
    net_h2_stream_t *st = NULL;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        if (st)
            headers_received(s, st, frame);
        break;
    case NGHTTP2_DATA:
        st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        if (st && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            deliver_end(s, st);
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
            if (frame->ping.opaque_data[0] == PING_SHUTDOWN && s->shutdown == 1) {
                net_h2_session_goaway(s, NGHTTP2_NO_ERROR);
            } else if (frame->ping.opaque_data[0] == PING_KEEPALIVE && s->ping_pending) {
                s->ping_pending = false;
                if (s->cb.on_ping_ack)
                    s->cb.on_ping_ack(s, s->ud);
            }
        }
        break;
    case NGHTTP2_GOAWAY:
        s->goaway_recv = true;
        if (s->cb.on_goaway)
            s->cb.on_goaway(s, (uint32_t)frame->goaway.last_stream_id, frame->goaway.error_code,
                            s->ud);
        break;
    case NGHTTP2_RST_STREAM:
        st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        if (st) {
            st->reset = true;
            queue_drop(st);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    net_h2_session_t *s = ud;
    net_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (!st || !st->announced) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    st->unconsumed += len;
    if (s->cb.on_data)
        s->cb.on_data(s, st, data, len, s->ud);
    if (!st->manual_consume && st->unconsumed) {
        size_t n = st->unconsumed;
        st->unconsumed = 0;
        nghttp2_session_consume(ng, id, n);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
    (void)ud;
    net_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (!st)
        return 0;
    if (st->unconsumed)
        nghttp2_session_consume_connection(ng, st->unconsumed);
    st->unconsumed = 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_finish(st, error_code);
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    net_h2_session_t *s = ud;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        net_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        if (st)
            st->opened = true;
    }
    /* A server that ends its side before the client did follows with RST_STREAM(NO_ERROR), and
     * only now: submitting it earlier would cancel the queued response (nghttp2 frame order). */
    if (s->server && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(ng, frame->hd.stream_id) == 0) {
        net_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        if (st)
            st->reset = true;
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *frame, int lib_error,
                             void *ud)
{
    net_h2_session_t *s = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    /* A request that never went out (GOAWAY received, no ids left): nghttp2 never opened the
     * stream, so on_stream_close will not come. Close it here as refused (retryable). */
    if (nghttp2_session_find_stream(ng, frame->hd.stream_id))
        return 0;
    net_h2_stream_t *st = stream_by_id(s, frame->hd.stream_id);
    if (st) {
        net__log(NET_LOG_DEBUG, "h2: request on stream %d not sent: %s", frame->hd.stream_id,
                 nghttp2_strerror(lib_error));
        stream_finish(st, NGHTTP2_REFUSED_STREAM);
    }
    return 0;
}

static int on_error(nghttp2_session *ng, int lib_error, const char *msg, size_t len, void *ud)
{
    (void)ng;
    (void)ud;
    net__log(NET_LOG_DEBUG, "h2: nghttp2: %.*s (%s)", (int)len, msg, nghttp2_strerror(lib_error));
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Session */

net_h2_session_t *net_h2_session_new(bool server, const net_h2_config_t *cfg,
                                     const net_h2_callbacks_t *cb, void *ud, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    net_h2_session_t *s = calloc(1, sizeof *s);
    if (!s) {
        *err = NET_ENOMEM;
        return NULL;
    }
    s->server = server;
    if (cfg)
        s->cfg = *cfg;
    else
        net_h2_config_default(&s->cfg);
    if (cb)
        s->cb = *cb;
    s->ud = ud;

    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    int rv = nghttp2_session_callbacks_new(&cbs);
    if (rv == 0)
        rv = nghttp2_option_new(&opt);
    if (rv != 0) {
        nghttp2_session_callbacks_del(cbs);
        free(s);
        *err = NET_ENOMEM;
        return NULL;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
    nghttp2_option_set_no_auto_window_update(opt, 1);

    rv = server ? nghttp2_session_server_new2(&s->ng, cbs, s, opt)
                : nghttp2_session_client_new2(&s->ng, cbs, s, opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (rv != 0) {
        free(s);
        *err = NET_ENOMEM;
        return NULL;
    }
    nghttp2_settings_entry iv[5];
    size_t niv = 0;
    iv[niv++] =
        (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s->cfg.initial_window_size};
    iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                                         s->cfg.max_header_list_size};
    if (server)
        iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                             s->cfg.max_concurrent_streams};
    else
        iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    if (s->cfg.max_frame_size > 16384)
        iv[niv++] =
            (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_FRAME_SIZE, s->cfg.max_frame_size};
    rv = nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, niv);
    if (rv == 0 && s->cfg.connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
        rv = nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                                   (int32_t)s->cfg.connection_window_size);
    if (rv != 0) {
        nghttp2_session_del(s->ng);
        free(s);
        *err = map_ng_error(rv);
        return NULL;
    }
    *err = NET_OK;
    return s;
}

void net_h2_session_free(net_h2_session_t *s)
{
    if (!s)
        return;
    s->freeing = true;
    while (s->streams)
        stream_finish(s->streams, NGHTTP2_CANCEL);
    nghttp2_session_del(s->ng);
    free(s);
}

int net_h2_session_recv(net_h2_session_t *s, const uint8_t *data, size_t len)
{
    s->in_io++;
    ssize_t r = nghttp2_session_mem_recv(s->ng, data, len);
    s->in_io--;
    if (r < 0) {
        net__log(NET_LOG_INFO, "h2: %s session: receive failed: %s",
                 s->server ? "server" : "client", nghttp2_strerror((int)r));
        if (r == NGHTTP2_ERR_NOMEM)
            return NET_ENOMEM;
        /* Best effort: tell the peer why before the adapter closes. */
        nghttp2_session_terminate_session(
            s->ng, r == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
        return NET_EPROTO;
    }
    return NET_OK;
}

/* Calls on_writable for blocked streams that have room again. Returns true if any was called. */
static bool deliver_writable(net_h2_session_t *s)
{
    if (!s->nblocked || s->queued > s->cfg.session_output_cap / 2)
        return false;
    bool any = false;
    net_h2_stream_t *st = s->streams;
    while (st) {
        net_h2_stream_t *next = st->next;
        if (st->blocked && st->queued <= s->cfg.stream_output_cap / 2) {
            st->blocked = false;
            s->nblocked--;
            any = true;
            if (s->cb.on_writable)
                s->cb.on_writable(s, st, s->ud);
        }
        st = next; /* callbacks cannot close streams: closing happens in recv/pull only */
    }
    return any;
}

int net_h2_session_pull(net_h2_session_t *s, uint8_t *buf, size_t cap, size_t *n)
{
    size_t got = 0;
    int rc = NET_OK;
    bool delivered = false;
    s->in_io++;
    s->want_write_notified = false;
    while (got < cap) {
        if (s->out_len == 0) {
            const uint8_t *p = NULL;
            ssize_t r = nghttp2_session_mem_send(s->ng, &p);
            if (r < 0) {
                net__log(NET_LOG_WARN, "h2: %s session: send failed: %s",
                         s->server ? "server" : "client", nghttp2_strerror((int)r));
                rc = r == NGHTTP2_ERR_NOMEM ? NET_ENOMEM : NET_EPROTO;
                break;
            }
            if (r == 0) {
                /* One round of on_writable per pull: a handler refused again (window still
                 * closed) must not spin here. */
                if (!delivered && deliver_writable(s)) {
                    delivered = true;
                    continue;
                }
                break;
            }
            s->out = p;
            s->out_len = (size_t)r;
        }
        size_t k = s->out_len < cap - got ? s->out_len : cap - got;
        memcpy(buf + got, s->out, k);
        got += k;
        s->out += k;
        s->out_len -= k;
    }
    if (s->out_len == 0)
        s->out = NULL;
    s->in_io--;
    *n = got;
    return rc;
}

bool net_h2_session_want_read(const net_h2_session_t *s)
{
    return nghttp2_session_want_read(s->ng) != 0;
}

bool net_h2_session_want_write(const net_h2_session_t *s)
{
    return s->out_len > 0 || nghttp2_session_want_write(s->ng) != 0;
}

bool net_h2_session_done(const net_h2_session_t *s)
{
    return s->out_len == 0 && !nghttp2_session_want_read(s->ng) &&
           !nghttp2_session_want_write(s->ng);
}

int net_h2_session_ping(net_h2_session_t *s)
{
    if (s->ping_pending)
        return NET_ESTATE;
    uint8_t opaque[8] = {PING_KEEPALIVE};
    s->ping_seq++;
    memcpy(opaque + 4, &s->ping_seq, 4);
    int rv = nghttp2_submit_ping(s->ng, NGHTTP2_FLAG_NONE, opaque);
    if (rv != 0)
        return map_ng_error(rv);
    s->ping_pending = true;
    notify_want_write(s);
    return NET_OK;
}

bool net_h2_session_ping_pending(const net_h2_session_t *s)
{
    return s->ping_pending;
}

int net_h2_session_goaway(net_h2_session_t *s, uint32_t error_code)
{
    if (s->shutdown == 2)
        return NET_OK;
    int32_t last = nghttp2_session_get_last_proc_stream_id(s->ng);
    int rv = nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, last, error_code, NULL, 0);
    if (rv != 0)
        return map_ng_error(rv);
    s->shutdown = 2;
    notify_want_write(s);
    return NET_OK;
}

int net_h2_session_shutdown(net_h2_session_t *s)
{
    if (s->shutdown)
        return NET_OK;
    if (!s->server)
        return net_h2_session_goaway(s, NGHTTP2_NO_ERROR);
    int rv = nghttp2_submit_shutdown_notice(s->ng);
    if (rv == 0) {
        uint8_t opaque[8] = {PING_SHUTDOWN};
        rv = nghttp2_submit_ping(s->ng, NGHTTP2_FLAG_NONE, opaque);
    }
    if (rv != 0)
        return map_ng_error(rv);
    s->shutdown = 1;
    notify_want_write(s);
    return NET_OK;
}

size_t net_h2_session_queued(const net_h2_session_t *s)
{
    return s->queued + s->out_len;
}

size_t net_h2_session_streams(const net_h2_session_t *s)
{
    return s->nstreams;
}

bool net_h2_session_is_server(const net_h2_session_t *s)
{
    return s->server;
}

void *net_h2_session_user(const net_h2_session_t *s)
{
    return s->ud;
}

uint32_t net_h2_session_peer_max_streams(const net_h2_session_t *s)
{
    return nghttp2_session_get_remote_settings(s->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

const net_h2_config_t *net_h2_session_config(const net_h2_session_t *s)
{
    return &s->cfg;
}

/* ------------------------------------------------------------------------------------------- */
/* Stream operations */

int net_h2_session_request(net_h2_session_t *s, const net_h2_header_t *h, size_t n, bool end_stream,
                           void *stream_ud, net_h2_stream_t **out)
{
    if (s->server || s->goaway_recv || s->shutdown || s->freeing)
        return NET_ESTATE;
    nghttp2_nv *nva = nv_make(h, n);
    net_h2_stream_t *st = nva ? stream_new(s, 0) : NULL;
    if (!st) {
        free(nva);
        return NET_ENOMEM;
    }
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read_cb};
    int32_t id = nghttp2_submit_request(s->ng, NULL, nva, n, end_stream ? NULL : &prd, st);
    free(nva);
    if (id < 0) {
        st->announced = false;
        stream_finish(st, 0);
        return map_ng_error(id);
    }
    st->id = id;
    st->ud = stream_ud;
    st->announced = true;
    st->has_provider = !end_stream;
    st->responded = true;
    if (out)
        *out = st;
    notify_want_write(s);
    return NET_OK;
}

int net_h2_stream_respond(net_h2_stream_t *st, const net_h2_header_t *h, size_t n, bool end_stream)
{
    net_h2_session_t *s = st->s;
    if (s->freeing || st->reset)
        return NET_ECLOSED;
    if (!s->server || st->responded)
        return NET_ESTATE;
    nghttp2_nv *nva = nv_make(h, n);
    if (!nva)
        return NET_ENOMEM;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read_cb};
    int rv = nghttp2_submit_response(s->ng, st->id, nva, n, end_stream ? NULL : &prd);
    free(nva);
    if (rv != 0)
        return map_ng_error(rv);
    st->responded = true;
    st->has_provider = !end_stream;
    if (end_stream)
        st->ended = st->eof_sent = true;
    notify_want_write(s);
    return NET_OK;
}

int net_h2_stream_writev(net_h2_stream_t *st, const net_h2_iov_t *iov, size_t n)
{
    net_h2_session_t *s = st->s;
    if (s->freeing || st->reset)
        return NET_ECLOSED;
    if (!st->has_provider || st->ended)
        return NET_ESTATE;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += iov[i].len;
    if (total == 0)
        return NET_OK;
    if ((st->queued && st->queued + total > s->cfg.stream_output_cap) ||
        (s->queued && s->queued + total > s->cfg.session_output_cap)) {
        if (!st->blocked) {
            st->blocked = true;
            s->nblocked++;
        }
        return NET_EAGAIN;
    }
    chunk_t *c = malloc(sizeof *c + total);
    if (!c)
        return NET_ENOMEM;
    c->next = NULL;
    c->len = total;
    c->off = 0;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len)
            memcpy(c->data + off, iov[i].base, iov[i].len);
        off += iov[i].len;
    }
    if (st->tail)
        st->tail->next = c;
    else
        st->head = c;
    st->tail = c;
    st->queued += total;
    s->queued += total;
    resume(st);
    notify_want_write(s);
    return NET_OK;
}

int net_h2_stream_write(net_h2_stream_t *st, const void *data, size_t len)
{
    net_h2_iov_t iov = {data, len};
    return net_h2_stream_writev(st, &iov, 1);
}

int net_h2_stream_end(net_h2_stream_t *st, const net_h2_header_t *trailers, size_t n)
{
    net_h2_session_t *s = st->s;
    if (s->freeing || st->reset)
        return NET_ECLOSED;
    if (!st->has_provider || st->ended)
        return NET_ESTATE;
    if (n) {
        size_t bytes = n * sizeof(net_h2_header_t);
        for (size_t i = 0; i < n; i++)
            bytes += trailers[i].name_len + trailers[i].value_len + 2;
        net_h2_header_t *t = malloc(bytes);
        if (!t)
            return NET_ENOMEM;
        char *w = (char *)(t + n);
        for (size_t i = 0; i < n; i++) {
            t[i].name = w;
            t[i].name_len = trailers[i].name_len;
            memcpy(w, trailers[i].name, trailers[i].name_len);
            w += trailers[i].name_len;
            *w++ = '\0';
            t[i].value = w;
            t[i].value_len = trailers[i].value_len;
            memcpy(w, trailers[i].value, trailers[i].value_len);
            w += trailers[i].value_len;
            *w++ = '\0';
        }
        st->trailers = t;
        st->ntrailers = n;
    }
    st->ended = true;
    resume(st);
    notify_want_write(s);
    return NET_OK;
}

int net_h2_stream_reset(net_h2_stream_t *st, uint32_t error_code)
{
    net_h2_session_t *s = st->s;
    if (s->freeing || st->reset)
        return NET_ECLOSED;
    int rv = nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, error_code);
    if (rv != 0)
        return map_ng_error(rv);
    st->reset = true;
    queue_drop(st);
    trailers_free(st);
    notify_want_write(s);
    return NET_OK;
}

void net_h2_stream_set_manual_consume(net_h2_stream_t *st, bool manual)
{
    st->manual_consume = manual;
}

void net_h2_stream_consume(net_h2_stream_t *st, size_t n)
{
    if (n > st->unconsumed)
        n = st->unconsumed;
    if (!n || st->s->freeing)
        return;
    st->unconsumed -= n;
    nghttp2_session_consume(st->s->ng, st->id, n);
    notify_want_write(st->s);
}

int32_t net_h2_stream_id(const net_h2_stream_t *st)
{
    return st->id;
}

net_h2_session_t *net_h2_stream_session(const net_h2_stream_t *st)
{
    return st->s;
}

void net_h2_stream_set_user(net_h2_stream_t *st, void *ud)
{
    st->ud = ud;
}

void *net_h2_stream_user(const net_h2_stream_t *st)
{
    return st->ud;
}

size_t net_h2_stream_queued(const net_h2_stream_t *st)
{
    return st->queued;
}

bool net_h2_stream_can_write(const net_h2_stream_t *st, size_t len)
{
    const net_h2_session_t *s = st->s;
    if (s->freeing || st->reset || !st->has_provider || st->ended)
        return false;
    return !((st->queued && st->queued + len > s->cfg.stream_output_cap) ||
             (s->queued && s->queued + len > s->cfg.session_output_cap));
}

bool net_h2_stream_remote_ended(const net_h2_stream_t *st)
{
    return st->remote_ended || st->end_in_frame;
}

int net_h2_session_check(const net_h2_session_t *s)
{
    size_t total = 0, count = 0, blocked = 0;
    for (const net_h2_stream_t *st = s->streams; st; st = st->next) {
        size_t q = 0;
        for (const chunk_t *c = st->head; c; c = c->next)
            q += c->len - c->off;
        if (q != st->queued) {
            net__log(NET_LOG_ERROR, "h2 invariant H2: stream %d queue %zu != %zu", st->id, q,
                     st->queued);
            return NET_ESTATE;
        }
        if (st->reset && st->queued) {
            net__log(NET_LOG_ERROR, "h2 invariant H2: reset stream %d holds bytes", st->id);
            return NET_ESTATE;
        }
        if (st->end_in_frame) {
            net__log(NET_LOG_ERROR, "h2 invariant H6: stream %d end_in_frame outside on_headers",
                     st->id);
            return NET_ESTATE;
        }
        if (st->deferred && (!st->has_provider || st->queued || st->eof_sent)) {
            net__log(NET_LOG_ERROR, "h2 invariant H4: stream %d deferred wrongly", st->id);
            return NET_ESTATE;
        }
        total += st->queued;
        count++;
        blocked += st->blocked;
    }
    if (total != s->queued) {
        net__log(NET_LOG_ERROR, "h2 invariant H1: session queued %zu != %zu", s->queued, total);
        return NET_ESTATE;
    }
    if (count != s->nstreams || blocked != s->nblocked) {
        net__log(NET_LOG_ERROR, "h2 invariant H3: streams %zu/%zu blocked %zu/%zu", count,
                 s->nstreams, blocked, s->nblocked);
        return NET_ESTATE;
    }
    if (s->out_len && !s->out) {
        net__log(NET_LOG_ERROR, "h2 invariant H5: pending output without buffer");
        return NET_ESTATE;
    }
    return NET_OK;
}
